//! The `dns` program: the C library's resolver calls, then a DNS client and a small responder
//! over UDP on loopback.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;

use socket2::{Domain, Type};

use super::resolver;
use super::wire::{self, Message};
use super::{ADDRESS, KNOWN, NAMES, TTL};
use crate::live::{LiveError, Role, Tracer};
use crate::scenario::{any_port, bound, Peer};

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    t.mark(
        "dns/resolver",
        "the system resolver: localhost and 127.0.0.1",
    );
    resolve(t);

    t.mark(
        "dns/query",
        "a DNS query over UDP, built by hand, to a responder on 127.0.0.1",
    );
    let s = t.socket(Role::Server, Domain::IPV4, Type::DGRAM)?;
    t.bind(&s, any_port())?;
    let responder = bound(&s)?;
    t.ready()?;

    let client = Peer::start(t, move |tc| {
        let mut socks = Vec::new();
        let mut last_id = None;
        for name in NAMES {
            let id = fresh_id(last_id);
            last_id = Some(id);
            // A new socket per query: a new source port.
            let c = tc.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
            let q = wire::query(id, name, wire::TYPE_A).map_err(LiveError::Scenario)?;
            tc.sendto(&c, &q, responder)?;
            let mut buf = [0u8; 512];
            let (n, from) = tc.recvfrom(&c, &mut buf)?;
            let m = wire::decode(&buf[..n])
                .map_err(|e| LiveError::Scenario(format!("the answer does not decode: {e}")))?;
            if from != responder || m.id != id || !m.is_response() {
                return Err(LiveError::Scenario(format!(
                    "an answer from {from} with id {:#06x} does not match the query (id {id:#06x} to {responder})",
                    m.id
                )));
            }
            tc.print(Role::Client, &client_line(name, &m));
            socks.push(c);
        }
        for c in socks {
            tc.close(c)?;
        }
        Ok(())
    });

    for _ in NAMES {
        let mut buf = [0u8; 512];
        let (n, from) = t.recvfrom(&s, &mut buf)?;
        let q = wire::decode(&buf[..n])
            .map_err(|e| LiveError::Scenario(format!("the query does not decode: {e}")))?;
        let answer = answer_for(&q);
        t.print(
            Role::Server,
            &format!(
                "query id {:#06x} from {from}: {}",
                q.id,
                q.questions
                    .first()
                    .map_or("no question".into(), wire::show_question)
            ),
        );
        t.sendto(&s, &answer, from)?;
    }
    t.close(s)?;
    client.join()
}

/// A random query id (RFC 5452: unpredictable), different from the last one.
fn fresh_id(last: Option<u16>) -> u16 {
    let mut h = RandomState::new().build_hasher();
    let mut salt = 0u64;
    loop {
        h.write_u64(salt);
        let id = h.finish() as u16;
        if Some(id) != last {
            return id;
        }
        salt += 1;
    }
}

/// The responder's answer: an A record for [`KNOWN`], no record for its other types, NXDOMAIN
/// for any other name.
fn answer_for(q: &Message) -> Vec<u8> {
    let r = match q.questions.first() {
        Some(question) if question.name.eq_ignore_ascii_case(KNOWN) => {
            if question.qtype == wire::TYPE_A && question.qclass == wire::CLASS_IN {
                wire::response(q, Some((ADDRESS, TTL)), wire::NOERROR)
            } else {
                wire::response(q, None, wire::NOERROR)
            }
        }
        _ => wire::response(q, None, wire::NXDOMAIN),
    };
    // The names were decoded from the query, so they encode again; FORMERR otherwise.
    r.unwrap_or_else(|_| {
        let mut out = q.id.to_be_bytes().to_vec();
        out.extend_from_slice(&(wire::QR | wire::FORMERR).to_be_bytes());
        out.extend_from_slice(&[0; 8]);
        out
    })
}

fn client_line(name: &str, m: &Message) -> String {
    let aa = if m.flags & wire::AA != 0 {
        "authoritative"
    } else {
        "not authoritative"
    };
    match (
        m.rcode(),
        m.answers.iter().find_map(|r| r.a().map(|a| (a, r.ttl))),
    ) {
        (wire::NOERROR, Some((a, ttl))) => {
            format!("{name} has address {a} (TTL {ttl} s, {aa})")
        }
        (rc, _) => format!("{name}: {} ({aa}, no address)", wire::rcode_name(rc)),
    }
}

/// What /etc/hosts and /etc/nsswitch.conf say about localhost: printed, so a saved run shows
/// (and the checks know) where the answers came from. Then the four lookups, unless they would
/// have to ask a DNS server (no network beyond loopback).
fn resolve(t: &Tracer) {
    let nss = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
    let hosts_line = nss
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("hosts:"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let lines: Vec<Vec<&str>> = hosts
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
        })
        .filter(|w| w.len() >= 2 && (w[0] == "127.0.0.1" || w[1..].contains(&"localhost")))
        .collect();
    match &hosts_line {
        Some(l) => t.print(Role::Client, &format!("/etc/nsswitch.conf: {l}")),
        None => t.print(
            Role::Client,
            "/etc/nsswitch.conf: no hosts line (files, then dns)",
        ),
    }
    for w in &lines {
        t.print(Role::Client, &format!("/etc/hosts: {}", w.join(" ")));
    }
    let files_first = hosts_line
        .as_deref()
        .is_none_or(|l| l.split_whitespace().nth(1) == Some("files"));
    let has = |addr: &str, name: &str| lines.iter().any(|w| w[0] == addr && w[1..].contains(&name));
    if !(files_first && has("127.0.0.1", "localhost")) {
        t.print(
            Role::Client,
            "not calling the resolver: /etc/hosts must map 127.0.0.1 to localhost and be read first, or it would ask a DNS server (this scenario stays on loopback)",
        );
        return;
    }
    let local = Ipv4Addr::LOCALHOST;
    // Failures are events (HOST_NOT_FOUND, EAI_NONAME); the checks judge them.
    let _ = resolver::by_name(t, "localhost");
    let _ = resolver::by_addr(t, local);
    let _ = resolver::addrinfo(t, "localhost");
    let _ = resolver::nameinfo(t, local);
}
