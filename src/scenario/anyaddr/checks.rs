//! What an `anyaddr` run must show: which address each accepted connection really uses, the
//! two protocols' separate port numbers, and where `htonl(port)` put the last server.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{ANY_MARK, HTONL_MARK, SECOND};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::{Role, View};
use crate::scenario::addr::libc::hex;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn span(v: &View, key: &str) -> (i128, i128) {
    v.phase(key).unwrap_or((i128::MAX, i128::MAX))
}

/// The address the server's getsockname() calls returned in `span`, in order.
fn names(v: &View, span: (i128, i128)) -> Vec<SocketAddr> {
    v.calls(Role::Server, "getsockname", span)
        .filter(|e| e.ok())
        .filter_map(|e| e.local)
        .collect()
}

/// The UDP socket's address: where its recvfrom() listened (0.0.0.0:P).
fn udp_local(v: &View) -> Option<SocketAddr> {
    v.run
        .events
        .iter()
        .find(|e| e.role == Role::Server && e.call == "recvfrom" && e.ok())
        .and_then(|e| e.local)
}

/// The listener's own getsockname(): 0.0.0.0 and the port the UDP socket also bound.
fn listener_name(v: &View) -> Option<SocketAddr> {
    let p = udp_local(v)?.port();
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "getsockname" && e.ok())
        .filter_map(|e| e.local)
        .find(|a| a.port() == p && a.ip().is_unspecified())
}

/// The TCP connection whose server end is `a`.
fn conn_at(v: &View, a: SocketAddr) -> Option<usize> {
    v.conns
        .iter()
        .position(|c| c.proto == Proto::Tcp && c.server == a)
}

fn flags(p: &Pkt) -> u16 {
    p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)
}

/// The `sockaddr_in` the last server built with htonl(port), and its bytes.
fn htonl_sockaddr<'v>(v: &'v View) -> Option<(&'v Event, [u8; 16])> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "sockaddr_in" && e.args.contains("htonl("))
        .filter(|e| !e.args.contains("htons("))
        .find_map(|e| Some((e, e.data.as_deref()?.try_into().ok()?)))
}

/// The client's refused connect() (to the port the last server meant).
fn refused<'v>(v: &'v View) -> Option<&'v Event> {
    v.calls(Role::Client, "connect", span(v, HTONL_MARK))
        .find(|e| !e.ok())
}

/// The port the last server meant: the number it gave htonl() (`htonl(54983)` in its
/// sockaddr_in's arguments).
fn meant_port(v: &View) -> Option<u16> {
    let (e, _) = htonl_sockaddr(v)?;
    let rest = e.args.split("htonl(").nth(1)?;
    rest.split(')').next()?.parse().ok()
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let Some(any) = listener_name(v) else {
        return vec![Check::missing(
            "the INADDR_ANY listener and the UDP socket were seen",
            "no getsockname() of 0.0.0.0 with the UDP socket's port",
        )];
    };
    vec![
        Check::new(
            any.ip().is_unspecified(),
            "the listener is bound to INADDR_ANY: getsockname() says 0.0.0.0",
            format!("getsockname() = {any}"),
        ),
        two_addresses(v, any),
        replies_from_the_dialled_address(v, any),
        same_port_number(v, any),
        udp_answer_source(v, any),
        htonl_port(v),
        meant_port_refused(v),
        checks::acks_match_next_seq(v),
        checks::no_retransmission(v),
    ]
}

/// One listener accepted the connections to 127.0.0.1:P and 127.0.0.2:P, and getsockname() on
/// each accepted socket is its SYN's destination.
fn two_addresses(v: &View, any: SocketAddr) -> Check {
    let what = "one listener accepted connections to 127.0.0.1 and 127.0.0.2; getsockname() on each accepted socket = its SYN's destination";
    let sp = span(v, ANY_MARK);
    let accepts: Vec<&Event> = v
        .calls(Role::Server, "accept", sp)
        .filter(|e| e.ok())
        .collect();
    let got = names(v, sp);
    let want = [
        SocketAddr::new(LOOPBACK, any.port()),
        SocketAddr::new(IpAddr::V4(SECOND), any.port()),
    ];
    let syn_to = |a: SocketAddr| {
        conn_at(v, a).and_then(|c| v.conn_pkts(c).find(|p| flags(p) == f::SYN).map(|p| p.dst))
    };
    let one_listener = accepts.len() == 2 && accepts.iter().all(|e| e.fd == accepts[0].fd);
    Check::new(
        one_listener && got == want && got.iter().all(|&a| syn_to(a) == Some(a)),
        what,
        format!(
            "accept() on fd {}: getsockname() {}; SYNs to {}",
            accepts.first().and_then(|e| e.fd).unwrap_or(-1),
            got.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            got.iter()
                .map(|&a| syn_to(a).map_or("none".into(), |d| d.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// The server's packets on each of the two connections leave from the address the client
/// dialled.
fn replies_from_the_dialled_address(v: &View, any: SocketAddr) -> Check {
    let what = "the server's segments on each connection come from the address the client dialled, not 0.0.0.0";
    let mut detail = Vec::new();
    let mut ok = true;
    for ip in [LOOPBACK, IpAddr::V4(SECOND)] {
        let a = SocketAddr::new(ip, any.port());
        let Some(c) = conn_at(v, a) else {
            ok = false;
            detail.push(format!("no connection to {a}"));
            continue;
        };
        let srcs: Vec<SocketAddr> = v
            .conn_pkts(c)
            .filter(|p| p.dir == Dir::ToClient)
            .map(|p| p.src)
            .collect();
        ok &= !srcs.is_empty() && srcs.iter().all(|&s| s == a);
        detail.push(format!("{} segments from {a}", srcs.len()));
    }
    Check::new(ok, what, detail.join("; "))
}

/// The UDP socket bound the listener's number while the listener held it, and its datagram
/// went to that port.
fn same_port_number(v: &View, any: SocketAddr) -> Check {
    let what = "TCP and UDP on one port number: the UDP socket bound the listener's port, and the datagram went to it (IP protocol 17, not 6)";
    let udp_bind = v.run.events.iter().find(|e| {
        e.role == Role::Server
            && e.call == "bind"
            && e.ok()
            && e.local == Some(SocketAddr::new(any.ip(), any.port()))
            && e.args.ends_with(&format!(":{}", any.port()))
    });
    let to_udp: Vec<&Pkt> = v
        .pkts
        .iter()
        .filter(|p| p.proto == Proto::Udp && p.dir == Dir::ToServer)
        .collect();
    let listener_open = udp_bind.is_some_and(|b| {
        !v.run.events.iter().any(|e| {
            e.role == Role::Server
                && e.call == "close"
                && e.local == Some(any)
                && e.start < b.start
                && e.addr.is_none()
        })
    });
    Check::new(
        listener_open
            && to_udp.len() == 1
            && to_udp[0].dst == SocketAddr::new(IpAddr::V4(SECOND), any.port()),
        what,
        format!(
            "bind(0.0.0.0:{}) {} while the listener held it; {} datagram(s) to {}",
            any.port(),
            if udp_bind.is_some() {
                "= 0"
            } else {
                "not seen"
            },
            to_udp.len(),
            to_udp
                .first()
                .map_or("nowhere".into(), |p| p.dst.to_string())
        ),
    )
}

/// The answer of the UDP socket on INADDR_ANY leaves from the address routing picks for the
/// client (127.0.0.1), not the one the datagram was sent to (127.0.0.2).
fn udp_answer_source(v: &View, any: SocketAddr) -> Check {
    let what = "UDP on INADDR_ANY: the answer leaves from the routing's source (127.0.0.1), not the address the datagram went to (127.0.0.2)";
    let ask = v
        .pkts
        .iter()
        .find(|p| p.proto == Proto::Udp && p.dir == Dir::ToServer);
    let answer = v.pkts.iter().find(|p| {
        p.proto == Proto::Udp && p.src.port() == any.port() && Some(p.dst) == ask.map(|a| a.src)
    });
    // The client's only recvfrom() (it may start after the next mark, once the answer is in).
    let told = v
        .run
        .events
        .iter()
        .find(|e| e.role == Role::Client && e.call == "recvfrom" && e.ok())
        .and_then(|e| e.addr);
    let (Some(ask), Some(answer)) = (ask, answer) else {
        return Check::missing(what, "the datagram or its answer is missing");
    };
    Check::new(
        ask.dst.ip() == IpAddr::V4(SECOND)
            && answer.src == SocketAddr::new(LOOPBACK, any.port())
            && told == Some(answer.src),
        what,
        format!(
            "to {}, answer from {} (recvfrom() says {})",
            ask.dst,
            answer.src,
            told.map_or("nothing".into(), |a| a.to_string())
        ),
    )
}

/// `sin_port = htonl(port)` put 0 in the port field; bind() took another port, which
/// getsockname() reports.
fn htonl_port(v: &View) -> Check {
    let what = "sin_port = htonl(port) leaves 00 00 in the port field: bind() took a port the kernel chose, which getsockname() reports";
    let (Some((e, sa)), Some(meant)) = (htonl_sockaddr(v), meant_port(v)) else {
        return Check::missing(what, "the htonl(port) sockaddr_in is missing");
    };
    let landed = v
        .run
        .events
        .iter()
        .filter(|x| {
            x.role == Role::Server && x.call == "getsockname" && x.ok() && x.start > e.start
        })
        .filter_map(|x| x.local)
        .next();
    Check::new(
        sa[2..4] == [0, 0] && landed.is_some_and(|l| l.port() != meant && l.port() != 0),
        what,
        format!(
            "meant port {meant}, sin_port bytes {} → getsockname() {}",
            hex(&sa[2..4]),
            landed.map_or("none".into(), |l| l.to_string())
        ),
    )
}

/// A SYN to the meant port is answered with RST (connect(): ECONNREFUSED); a client told the
/// port the server really has is accepted.
fn meant_port_refused(v: &View) -> Check {
    let what = "a SYN to the meant port gets RST and ECONNREFUSED; the connection to the port getsockname() gave is accepted";
    let (Some(e), Some(meant)) = (refused(v), meant_port(v)) else {
        return Check::missing(what, "no refused connect(), or no htonl(port) sockaddr_in");
    };
    let pkts: Vec<&Pkt> = v
        .pkts
        .iter()
        .filter(|p| p.proto == Proto::Tcp && (p.dst.port() == meant || p.src.port() == meant))
        .collect();
    let shape: Vec<u16> = pkts.iter().map(|p| flags(p)).collect();
    let sp = span(v, HTONL_MARK);
    let accepted = v
        .calls(Role::Server, "accept", sp)
        .find(|x| x.ok())
        .and_then(|x| x.local);
    Check::new(
        e.errno.as_deref() == Some("ECONNREFUSED")
            && shape == [f::SYN, f::RST | f::ACK]
            && e.args.ends_with(&format!(":{meant}"))
            && accepted.is_some_and(|a| a.port() != meant),
        what,
        format!(
            "connect() {}: {}; accepted at {}",
            e.errno.as_deref().unwrap_or("= 0"),
            pkts.iter()
                .map(|p| crate::render::describe::flags_bracketed(flags(p)))
                .collect::<Vec<_>>()
                .join(" ← "),
            accepted.map_or("nothing".into(), |a| a.to_string())
        ),
    )
}

/// Which address each socket reported, and where the UDP answer came from.
pub(super) fn facts(v: &View) -> Vec<String> {
    let Some(any) = listener_name(v) else {
        return Vec::new();
    };
    let mut out = vec![format!("getsockname() on the listener: {any}")];
    for a in names(v, span(v, ANY_MARK)) {
        let client = conn_at(v, a).and_then(|c| v.conns.get(c)).map(|c| c.client);
        out.push(format!(
            "  accepted from {}: getsockname() {a}",
            client.map_or("?".into(), |c| c.to_string())
        ));
    }
    let udp: Vec<String> = v
        .pkts
        .iter()
        .filter(|p| p.proto == Proto::Udp)
        .map(|p| format!("{} → {}", p.src, p.dst))
        .collect();
    if !udp.is_empty() {
        out.push(format!(
            "UDP on port {}: {}",
            any.port(),
            udp.join(", then ")
        ));
    }
    if let Some((_, sa)) = htonl_sockaddr(v) {
        let meant = meant_port(v).unwrap_or(0);
        let h = u32::from(meant).to_be();
        out.push(format!(
            "htonl({meant}) = {h:#010x}; as a 16-bit sin_port: {:#06x} (bytes {}), so port {}",
            h as u16,
            hex(&sa[2..4]),
            u16::from_be_bytes([sa[2], sa[3]])
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::RunData;

    fn saved() -> RunData {
        crate::scenario::saved_run("anyaddr")
    }

    fn failing(run: &RunData) -> Vec<String> {
        crate::scenario::failing(checks(&View::new(run)))
    }

    /// The saved run passes; with the second accepted socket's name, or the htonl() server's
    /// sin_port bytes, changed, the check about it fails.
    #[test]
    fn the_address_checks_can_fail() {
        let run = saved();
        assert_eq!(failing(&run), Vec::<String>::new());
        let mut bad = run.clone();
        let e = bad
            .events
            .iter_mut()
            .filter(|e| e.call == "getsockname")
            .nth(3)
            .expect("the second accepted socket's getsockname()");
        e.local = e.local.map(|a| SocketAddr::new(LOOPBACK, a.port()));
        assert!(failing(&bad).iter().any(|w| w.starts_with("one listener")));
        let mut bad = run.clone();
        let e = bad
            .events
            .iter_mut()
            .find(|e| {
                e.call == "sockaddr_in" && e.args.contains("htonl(") && !e.args.contains("htons(")
            })
            .expect("the htonl sockaddr_in");
        if let Some(d) = e.data.as_mut() {
            d[3] = 1;
        }
        assert!(failing(&bad)
            .iter()
            .any(|w| w.starts_with("sin_port = htonl")));
    }
}
