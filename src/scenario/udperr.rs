//! `udperr`: a datagram to a port where nothing listens. The kernel answers with ICMP port
//! unreachable; an unconnected UDP socket is never told, a connect()ed one gets ECONNREFUSED
//! on its next call.
//!
//! ```c
//! /* the server is gone */               /* client */
//! s = socket(AF_INET, SOCK_DGRAM, 0);    u = socket(AF_INET, SOCK_DGRAM, 0);
//! bind(s, 127.0.0.1:0);  /* port P */    setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, 100 ms);
//! close(s);                              sendto(u, "hello?", 6, 0, P);   /* ← ICMP */
//!                                        recvfrom(u, …);     /* -1 EAGAIN: never told */
//!                                        getsockopt(u, SOL_SOCKET, SO_ERROR);  /* 0 */
//!                                        k = socket(AF_INET, SOCK_DGRAM, 0);
//!                                        connect(k, P);      /* nothing on the wire */
//!                                        send(k, "anyone?", 7, 0);       /* ← ICMP */
//!                                        recv(k, …);         /* -1 ECONNREFUSED */
//! ```

use std::time::Duration;

use socket2::{Domain, Type};

use super::{any_port, bound, Scenario};
use crate::decode::{decode, linktype, Transport};
use crate::live::checks::Check;
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::tracer::DgramOpt;
use crate::live::{Event, LiveError, Role, Tracer, View};
use crate::source::Frame;

pub const SCENARIO: Scenario = Scenario {
    name: "udperr",
    lesson: "lesson 6: datagrams",
    summary: "a datagram to a closed port: ICMP port unreachable; ECONNREFUSED only if connect()ed",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
UDP has no handshake, so sendto() to a port where nothing listens succeeds: the datagram
leaves. The receiving kernel finds no socket for the port and answers with an ICMP message,
destination unreachable, code 3: port unreachable. The ICMP error quotes the datagram it
refuses (its IP and UDP headers and, on Linux, its payload), so the sender's kernel can tell
which socket sent it. Both are on the wire: the datagram, then the ICMP error going back.

What the sender's program learns depends on the socket. An unconnected socket (sendto() names
the peer each time) is never told: it may send to anyone, and an error from one of them says
nothing about the others, so Linux drops it (unless the socket set IP_RECVERR). Its recvfrom()
just waits (the book's client would wait for ever; here SO_RCVTIMEO ends the wait after 100 ms
with EAGAIN), and SO_ERROR stays 0.

A connect()ed socket has one peer, so the kernel keeps the error for it: the next call on the
socket (here the recv() waiting for an answer) fails with ECONNREFUSED, the same error as a TCP
connect() refused by RST. send() itself succeeded: the error comes back later, with the ICMP,
and is reported on whichever call comes next (and cleared by it).

connect() on a UDP socket still sends nothing; the port is just as closed either way. What
differs is only whether the program hears about it.";

const HELLO: &[u8] = b"hello?";
const ANYONE: &[u8] = b"anyone?";
/// How long the unconnected socket's recvfrom() waits (the ICMP error takes microseconds).
const TIMEOUT: Duration = Duration::from_millis(100);

/// Turns the expected failure of a traced call into its errno name; a success is an error of
/// the program.
fn refused<T>(r: Result<T, LiveError>, call: &str) -> Result<String, LiveError> {
    match r {
        Ok(_) => Err(LiveError::Scenario(format!(
            "{call}() succeeded where the closed port should have made it fail"
        ))),
        Err(LiveError::Call { source, .. }) => Ok(crate::live::tracer::errno_name(&source)),
        Err(e) => Err(e),
    }
}

fn run(t: &Tracer) -> Result<(), LiveError> {
    // The server binds a port and closes it: the port is known and nothing listens on it.
    let s = t.socket(Role::Server, Domain::IPV4, Type::DGRAM)?;
    t.bind(&s, any_port())?;
    let closed = bound(&s)?;
    t.close(s)?;
    t.ready()?;

    t.mark(
        "udperr/unconnected",
        "unconnected socket: sendto() a closed port; the ICMP error is not told",
    );
    let u = t.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
    t.set_dgram(&u, DgramOpt::RcvTimeo(TIMEOUT))?;
    t.sendto(&u, HELLO, closed)?;
    let mut buf = [0u8; 64];
    let e = refused(t.recvfrom(&u, &mut buf), "recvfrom")?;
    t.print(
        Role::Client,
        &format!("recvfrom: {e}, no answer and no error"),
    );
    t.so_error(&u)?;
    t.close(u)?;

    t.mark(
        "udperr/connected",
        "connect()ed socket: the ICMP error comes back as ECONNREFUSED",
    );
    let k = t.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
    t.connect(&k, closed)?;
    t.send(&k, ANYONE)?;
    let e = refused(t.recv(&k, &mut buf), "recv")?;
    t.print(Role::Client, &format!("recv: {e}"));
    t.close(k)
}

/// The client's call `call` in the phase of mark `key`.
fn call_in<'v>(v: &'v View, key: &str, call: &'v str) -> Option<&'v Event> {
    let span = v.phase(key)?;
    v.calls(Role::Client, call, span).next()
}

/// The datagram a send event put on the wire (to the closed port, from the event's socket)
/// and the ICMP error that came back for it.
fn datagram_and_error<'v>(v: &'v View, send: &Event) -> (Option<&'v Pkt>, Option<&'v Pkt>) {
    let port = send.local.map(|l| l.port());
    let to = send.addr;
    let datagram = v.pkts.iter().find(|p| {
        p.icmp.is_none()
            && p.proto == Proto::Udp
            && Some(p.src.port()) == port
            && Some(p.dst) == to
            && p.ts >= send.start
    });
    let error = datagram.and_then(|d| {
        v.pkts
            .iter()
            .find(|p| p.icmp.is_some() && p.conn == d.conn && p.ts >= d.ts)
    });
    (datagram, error)
}

/// What an ICMP error quotes: its length in bytes, and the payload of the datagram in it (as
/// much as it quotes).
fn quoted(v: &View, p: &Pkt) -> Option<(usize, Vec<u8>)> {
    let frame = v.run.frame(p.index)?;
    let Transport::Icmp(i) = decode(&frame).transport else {
        return None;
    };
    let quoted = i.quoted?;
    let inner = Frame::bare(linktype::RAW, quoted);
    match decode(&inner).transport {
        Transport::Udp(u) => Some((quoted.len(), u.payload.to_vec())),
        _ => None,
    }
}

/// A duration as µs, or ms from 10 ms up.
fn us(ns: i128) -> String {
    if ns >= 10_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.0} µs", ns as f64 / 1e3)
    }
}

fn checks(v: &View) -> Vec<Check> {
    let mut out = Vec::new();
    let datagrams: Vec<&Pkt> = v
        .pkts
        .iter()
        .filter(|p| p.icmp.is_none() && p.proto == Proto::Udp)
        .collect();
    let errors: Vec<&Pkt> = v.pkts.iter().filter(|p| p.icmp.is_some()).collect();
    let answered = datagrams
        .iter()
        .filter(|d| {
            d.dir == Dir::ToServer
                && errors.iter().any(|e| {
                    e.conn == d.conn
                        && e.dir == Dir::ToClient
                        && e.ts >= d.ts
                        && e.icmp.is_some_and(|i| i.port_unreachable())
                })
        })
        .count();
    out.push(Check::new(
        datagrams.len() == 2 && answered == 2 && errors.len() == 2,
        "each datagram to the closed port brought back an ICMP port unreachable (type 3, code 3)",
        format!(
            "{} datagrams, {answered} answered by port unreachable, {} ICMP errors",
            datagrams.len(),
            errors.len()
        ),
    ));
    let other = v.pkts.len() - datagrams.len() - errors.len() + v.others.len();
    out.push(Check::new(
        other == 0 && v.pkts.iter().all(|p| p.tcp.is_none()),
        "nothing else on the wire: no handshake, and connect() sent nothing",
        format!("{other} other packets"),
    ));

    // The unconnected socket.
    let send = call_in(v, "udperr/unconnected", "sendto");
    let recv = call_in(v, "udperr/unconnected", "recvfrom");
    let so_error = call_in(v, "udperr/unconnected", "getsockopt");
    match (send, recv, so_error) {
        (Some(s), Some(r), Some(g)) => {
            let (d, e) = datagram_and_error(v, s);
            let quoted = e.and_then(|e| quoted(v, e)).map(|q| q.1);
            out.push(Check::new(
                d.is_some() && quoted.as_deref() == Some(HELLO),
                "the ICMP error quotes the datagram it refuses, payload included",
                match &quoted {
                    Some(q) => format!("quoted payload {:?}", String::from_utf8_lossy(q)),
                    None => "no ICMP error quoting the datagram".into(),
                },
            ));
            let arrived = e.is_some_and(|e| e.ts < r.end);
            let value = g.text.as_deref().unwrap_or("");
            out.push(Check::new(
                s.ok() && arrived && r.errno.as_deref() == Some("EAGAIN") && value == "(value 0)",
                "the unconnected socket learned nothing: sendto() succeeded, recvfrom() timed out after the ICMP error had arrived, SO_ERROR 0",
                format!(
                    "sendto {}; ICMP {}; recvfrom {} after {}; SO_ERROR {value}",
                    s.ret.unwrap_or(-1),
                    if arrived { "before the timeout" } else { "not before the timeout" },
                    r.errno.as_deref().unwrap_or("returned data"),
                    us(r.end - r.start)
                ),
            ));
        }
        _ => out.push(Check::missing(
            "the unconnected socket learned nothing",
            "no sendto, recvfrom and getsockopt in the unconnected phase",
        )),
    }

    // The connect()ed socket.
    let connect = call_in(v, "udperr/connected", "connect");
    let send = call_in(v, "udperr/connected", "send");
    let recv = call_in(v, "udperr/connected", "recv");
    match (connect, send, recv) {
        (Some(c), Some(s), Some(r)) => {
            let during = v
                .pkts
                .iter()
                .filter(|p| p.ts >= c.start && p.ts <= c.end)
                .count();
            out.push(Check::new(
                c.ok() && during == 0,
                "connect() on a UDP socket put nothing on the wire, though nothing listens",
                format!(
                    "connect = {}, {during} packets during it",
                    c.ret.unwrap_or(-1)
                ),
            ));
            let (d, e) = datagram_and_error(v, s);
            let ordered = e.is_some_and(|e| e.ts >= s.start && e.ts <= r.end);
            out.push(Check::new(
                s.ok() && d.is_some() && ordered && r.errno.as_deref() == Some("ECONNREFUSED"),
                "the connect()ed socket was told: send() succeeded, the ICMP error came back, the next call (recv) failed with ECONNREFUSED",
                format!(
                    "send {}; ICMP {}; recv {}",
                    s.ret.unwrap_or(-1),
                    if ordered { "between send and the end of recv" } else { "not seen in time" },
                    r.errno.as_deref().unwrap_or("returned data")
                ),
            ));
        }
        _ => out.push(Check::missing(
            "the connect()ed socket got ECONNREFUSED",
            "no connect, send and recv in the connected phase",
        )),
    }
    out
}

fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    for (key, call) in [
        ("udperr/unconnected", "sendto"),
        ("udperr/connected", "send"),
    ] {
        let Some(s) = call_in(v, key, call) else {
            continue;
        };
        if let (Some(d), Some(e)) = datagram_and_error(v, s) {
            let quoted = quoted(v, e).map_or(0, |q| q.0);
            out.push(format!(
                "{call}() {} B to port {}: ICMP port unreachable {} later, quoting {quoted} B (IP + UDP headers + payload)",
                d.len,
                d.dst.port(),
                us(e.ts - d.ts)
            ));
        }
    }
    out
}
