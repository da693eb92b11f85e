//! `broadcast`: SO_BROADCAST. sendto() a broadcast address fails with EACCES without it; with
//! it, one datagram leaves and every socket bound to the port gets a copy, where a unicast
//! datagram reaches only one of them. On lo, with lo's own broadcast address 127.255.255.255
//! (the kernel's local routing table has `broadcast 127.255.255.255 dev lo`).
//!
//! ```c
//! /* two receivers on one port */          /* sender */
//! r1 = socket(AF_INET, SOCK_DGRAM, 0);     s = socket(AF_INET, SOCK_DGRAM, 0);
//! setsockopt(r1, SO_REUSEADDR, 1);         sendto(s, "news", 4, 0, 127.255.255.255:P);
//! bind(r1, INADDR_ANY:0);   /* port P */                      /* -1 EACCES */
//! r2: the same, bind(r2, INADDR_ANY:P);    setsockopt(s, SOL_SOCKET, SO_BROADCAST, 1);
//! recvfrom(r1, …); recvfrom(r2, …);        sendto(s, "news", 4, 0, 127.255.255.255:P);
//! /* each gets the one datagram */         sendto(s, "to one", 6, 0, 127.0.0.1:P);
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Type};

use super::{bound, gate, Peer, Scenario};
use crate::live::checks::Check;
use crate::live::model::{Pkt, Proto};
use crate::live::tracer::DgramOpt;
use crate::live::{Event, LiveError, Role, SockOpt, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "broadcast",
    lesson: "lesson 6: datagrams",
    summary:
        "SO_BROADCAST: EACCES without it; with it one datagram, a copy for every socket on the port",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
A broadcast datagram is sent once and delivered to every host of the network, and on each host
to every socket bound to its port. Because one careless sendto() could reach a whole network,
the kernel refuses it unless the program asked: without SO_BROADCAST, sendto() to a broadcast
address fails with EACCES and nothing leaves. setsockopt(SOL_SOCKET, SO_BROADCAST, 1) is the
permission; the same sendto() then succeeds.

The broadcast address here is lo's own: 127.255.255.255, the directed broadcast of 127.0.0.0/8
(the kernel lists it in its local table: broadcast 127.255.255.255 dev lo). So the broadcast
is real, routed as one, and captured on lo, without leaving the machine. (255.255.255.255, the
book's limited broadcast, would leave by the default route's interface, onto a real network.)

Two receivers share the port (each set SO_REUSEADDR before bind(), both on INADDR_ANY, as the
book's news receiver binds). One datagram is on the wire, and each receiver's recvfrom()
returns a copy of it: the kernel delivers a broadcast to every socket bound to the port. A
unicast datagram to 127.0.0.1 on the same port, for contrast, goes to one of the two only; the
other's recvfrom() waits until SO_RCVTIMEO (100 ms) ends it with EAGAIN.";

const NEWS: &[u8] = b"news";
const TO_ONE: &[u8] = b"to one";
const BROADCAST: Ipv4Addr = Ipv4Addr::new(127, 255, 255, 255);
/// How long each receiver waits for the unicast datagram (only one of them gets it).
const TIMEOUT: Duration = Duration::from_millis(100);

fn run(t: &Tracer) -> Result<(), LiveError> {
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let r1 = t.socket(Role::Server, Domain::IPV4, Type::DGRAM)?;
    t.setsockopt(&r1, SockOpt::ReuseAddr(true))?;
    t.bind(&r1, any)?;
    let port = bound(&r1)?.port();
    let r2 = t.socket(Role::Server, Domain::IPV4, Type::DGRAM)?;
    t.setsockopt(&r2, SockOpt::ReuseAddr(true))?;
    t.bind(&r2, SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?;
    t.ready()?;

    let (sent, wait_sent) = gate();
    let sender = Peer::start(t, move |tc| {
        tc.mark(
            "broadcast/refused",
            "sendto() the broadcast address without SO_BROADCAST",
        );
        let s = tc.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
        let to = SocketAddr::from((BROADCAST, port));
        match tc.sendto(&s, NEWS, to) {
            Err(LiveError::Call { .. }) => {}
            Ok(_) => {
                return Err(LiveError::Scenario(
                    "sendto() a broadcast address succeeded without SO_BROADCAST".into(),
                ))
            }
            Err(e) => return Err(e),
        }
        tc.mark(
            "broadcast/allowed",
            "with SO_BROADCAST: one datagram, a copy for each receiver",
        );
        tc.set_dgram(&s, DgramOpt::Broadcast(true))?;
        tc.sendto(&s, NEWS, to)?;
        tc.mark(
            "broadcast/unicast",
            "a unicast datagram to the same port: one receiver only",
        );
        tc.sendto(&s, TO_ONE, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        sent.open();
        tc.close(s)
    });

    let mut buf = [0u8; 64];
    for r in [&r1, &r2] {
        let (n, from) = t.recvfrom(r, &mut buf)?;
        t.print(
            Role::Server,
            &format!(
                "fd {}: {:?} from {from}",
                r.fd(),
                String::from_utf8_lossy(&buf[..n])
            ),
        );
    }
    wait_sent.wait()?;
    for r in [&r1, &r2] {
        t.set_dgram(r, DgramOpt::RcvTimeo(TIMEOUT))?;
    }
    let mut got = 0;
    for r in [&r1, &r2] {
        match t.recvfrom(r, &mut buf) {
            Ok(_) => got += 1,
            Err(LiveError::Call { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    t.print(
        Role::Server,
        &format!("the unicast datagram reached {got} of 2"),
    );
    t.close(r1)?;
    t.close(r2)?;
    sender.join()
}

/// The receivers' successful recvfrom() calls in the phase of mark `key` that returned `data`.
fn copies<'v>(v: &'v View, key: &str, data: &[u8]) -> Vec<&'v Event> {
    let Some(span) = v.phase(key) else {
        return Vec::new();
    };
    v.run
        .events
        .iter()
        .filter(|e| {
            e.role == Role::Server
                && e.call == "recvfrom"
                && e.ok()
                && e.end >= span.0
                && e.data.as_deref() == Some(data)
        })
        .collect()
}

/// The UDP datagrams on the wire to `ip` carrying `data`.
fn on_wire<'v>(v: &'v View, ip: Ipv4Addr, data: &[u8]) -> Vec<&'v Pkt> {
    v.pkts
        .iter()
        .filter(|p| p.proto == Proto::Udp && p.dst.ip() == ip && p.payload == data)
        .collect()
}

fn checks(v: &View) -> Vec<Check> {
    let mut out = Vec::new();
    let refused_phase = v.phase("broadcast/refused");
    let first = refused_phase.and_then(|span| v.calls(Role::Client, "sendto", span).next());
    out.push(match first {
        Some(e) => {
            let during = v
                .pkts
                .iter()
                .filter(|p| p.ts >= e.start && p.ts <= e.end)
                .count();
            let before_option = v
                .run
                .events
                .iter()
                .find(|o| o.call == "setsockopt" && o.args.contains("SO_BROADCAST"))
                .map_or(0, |o| v.pkts.iter().filter(|p| p.ts < o.start).count());
            Check::new(
                e.errno.as_deref() == Some("EACCES") && during == 0 && before_option == 0,
                "without SO_BROADCAST, sendto() the broadcast address failed with EACCES and nothing left",
                format!(
                    "sendto = {} {}; {} packets before SO_BROADCAST was set",
                    e.ret.unwrap_or(0),
                    e.errno.as_deref().unwrap_or(""),
                    before_option
                ),
            )
        }
        None => Check::missing(
            "without SO_BROADCAST, sendto() failed with EACCES",
            "no sendto() before SO_BROADCAST",
        ),
    });
    let wire = on_wire(v, BROADCAST, NEWS);
    let got = copies(v, "broadcast/allowed", NEWS);
    let fds: std::collections::BTreeSet<i32> = got.iter().filter_map(|e| e.fd).collect();
    out.push(Check::new(
        wire.len() == 1,
        "with SO_BROADCAST, one datagram left, to the broadcast address 127.255.255.255",
        format!("{} datagram(s) to {BROADCAST}", wire.len()),
    ));
    out.push(Check::new(
        wire.len() == 1 && got.len() == 2 && fds.len() == 2,
        "every socket bound to the port got a copy: one datagram on the wire, two receives",
        format!(
            "{} on the wire, received on fds {:?}",
            wire.len(),
            fds.iter().collect::<Vec<_>>()
        ),
    ));
    let uni_wire = on_wire(v, Ipv4Addr::LOCALHOST, TO_ONE);
    let uni_got = copies(v, "broadcast/unicast", TO_ONE);
    let timed_out = v
        .run
        .events
        .iter()
        .filter(|e| {
            e.role == Role::Server && e.call == "recvfrom" && e.errno.as_deref() == Some("EAGAIN")
        })
        .count();
    out.push(Check::new(
        uni_wire.len() == 1 && uni_got.len() == 1 && timed_out == 1,
        "a unicast datagram to the same port reached one of the two only; the other timed out",
        format!(
            "{} on the wire, {} received, {timed_out} recvfrom() EAGAIN",
            uni_wire.len(),
            uni_got.len()
        ),
    ));
    out
}

fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    for (what, ip, data, key) in [
        ("broadcast", BROADCAST, NEWS, "broadcast/allowed"),
        ("unicast", Ipv4Addr::LOCALHOST, TO_ONE, "broadcast/unicast"),
    ] {
        let wire = on_wire(v, ip, data);
        let got = copies(v, key, data);
        let fds: Vec<String> = got
            .iter()
            .filter_map(|e| e.fd.map(|f| f.to_string()))
            .collect();
        out.push(format!(
            "{what} to {ip}: {} datagram on the wire, {} delivered (fd {})",
            wire.len(),
            got.len(),
            fds.join(", ")
        ));
    }
    out
}
