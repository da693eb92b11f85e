//! The `resolver` program: a DNS server on 127.0.0.1:53, and a client whose resolver asks it
//! because the resolv.conf it reads says so.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use nix::libc;
use socket2::{Domain, Type};

use super::responder::{answer, ptr_name};
use super::{ALIAS, BYADDR, CNAME, DNS_PORT, GAI, HOSTS, NAMESERVER, V4, WWW};
use crate::decode::app::dns::{Message, TYPE_A, TYPE_AAAA, TYPE_PTR};
use crate::live::tracer::now;
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::Peer;

/// How long the server waits for a query before it gives up (a resolver that did not ask).
const QUIET: Duration = Duration::from_secs(5);

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    // What the resolver will read: the files the runner mounted over the system's.
    let mut lines = Vec::new();
    for (path, key) in [
        ("/etc/resolv.conf", "nameserver"),
        ("/etc/nsswitch.conf", "hosts:"),
    ] {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(key))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| format!("no {key} line"));
        t.print(Role::Client, &format!("{path}: {line}"));
        lines.push(line);
    }
    // Anywhere else the queries would go to the system's DNS server.
    if lines != [NAMESERVER, HOSTS] {
        return Err(LiveError::Scenario(format!(
            "/etc/resolv.conf and /etc/nsswitch.conf are the system's ({}; {}), not the ones `sockscope run resolver` mounts in a private namespace: run it that way",
            lines[0], lines[1]
        )));
    }
    let s = t.socket(Role::Server, Domain::IPV4, Type::DGRAM)?;
    t.bind(&s, SocketAddr::from((Ipv4Addr::LOCALHOST, DNS_PORT)))?;
    rcvtimeo(t, &s, QUIET)?;
    t.ready()?;
    let client = Peer::start(t, move |tc| {
        tc.mark(GAI, "getaddrinfo(AF_UNSPEC): an A and an AAAA query");
        tc.getaddrinfo(Role::Client, WWW)?;
        tc.mark(
            BYADDR,
            "gethostbyaddr: a PTR query for the address, its bytes reversed",
        );
        tc.gethostbyaddr(Role::Client, V4)?;
        tc.mark(
            CNAME,
            "gethostbyname of an alias: the answer's CNAME becomes h_aliases",
        );
        tc.gethostbyname(Role::Client, ALIAS)?;
        Ok(())
    });

    // The questions the three calls must ask; the server answers until all have come.
    let mut want = vec![
        (WWW.to_owned(), TYPE_A),
        (WWW.to_owned(), TYPE_AAAA),
        (ptr_name(V4), TYPE_PTR),
        (ALIAS.to_owned(), TYPE_A),
    ];
    let mut buf = [0u8; 512];
    let served = (|| {
        while !want.is_empty() {
            let (n, from) = t.recvfrom(&s, &mut buf)?;
            let q = Message::parse(&buf[..n])
                .map_err(|e| LiveError::Scenario(format!("a query that does not decode: {e}")))?;
            if let Some(question) = q.questions.first() {
                let name = question.name.trim_end_matches('.').to_ascii_lowercase();
                want.retain(|(n, ty)| !(*n == name && *ty == question.qtype));
            }
            t.sendto(&s, &answer(&q), from)?;
        }
        Ok(())
    })();
    let asked = client.join();
    t.close(s)?;
    served.and(asked)
}

/// `setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, {secs})`, recorded.
fn rcvtimeo(t: &Tracer, s: &Sock, d: Duration) -> Result<(), LiveError> {
    let start = now();
    let tv = libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: passes one timeval of the size given.
    let r = unsafe {
        libc::setsockopt(
            s.fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let r = if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    };
    let args = format!("{}, SOL_SOCKET, SO_RCVTIMEO, {{{} s}}", s.fd(), d.as_secs());
    t.record(s, "setsockopt", args, start, &r, |_, _| {});
    r.map_err(|source| LiveError::Call {
        call: "setsockopt",
        source,
    })
}
