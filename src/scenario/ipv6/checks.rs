//! What an `ipv6` run must show, on the IPv6 connection's real headers beside the IPv4 one's,
//! and the facts: the two headers field by field.

use std::net::IpAddr;

use super::header::{IpHeader, V6_HEADER};
use super::{
    AUTO_FLOWLABELS, IPV6_MTU, IPV6_UNICAST_HOPS, IP_MTU, IP_TTL, MESSAGE, V4_MARK, V6_MARK,
};
use crate::analyse::flags as f;
use crate::decode::options::{options, TcpOption};
use crate::live::checks::{self, Check};
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::{Role, View};
use crate::scenario::addr::libc::hex;
use crate::scenario::sockopt::calls::{event_value, opt_args, Opt, Value};

/// The bytes of IPv4's and IPv6's fixed TCP and IP headers: the MSS leaves room for both.
const TCP_HEADER: i64 = 20;
/// IPv4's total length is 16 bits and counts the header: no packet exceeds this.
const IPV4_MAX_PACKET: i64 = 65535;

/// The connection the client's connect() opened in the phase `key`.
fn conn_in(v: &View, key: &str) -> Option<usize> {
    let span = v.phase(key)?;
    v.calls(Role::Client, "connect", span)
        .find(|e| e.ok())
        .and_then(|e| v.conn_of(e))
}

/// The value the client's getsockopt(`o`) returned in phase `key`.
fn opt_value(v: &View, key: &str, o: &Opt) -> Option<i64> {
    let span = v.phase(key)?;
    let args = opt_args(o);
    v.calls(Role::Client, "getsockopt", span)
        .find(|e| e.ok() && e.args.ends_with(&args))
        .and_then(event_value)
        .and_then(|x| match x {
            Value::Int(n) => Some(n),
            Value::Addr(_) => None,
        })
}

fn mss(p: &Pkt) -> Option<u16> {
    options(&p.tcp.as_ref()?.options).find_map(|o| match o {
        Ok(TcpOption::Mss(m)) => Some(m),
        _ => None,
    })
}

fn flags(p: &Pkt) -> u16 {
    p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)
}

/// The SYN and the SYN+ACK of connection `c`.
fn syns<'v>(v: &'v View, c: usize) -> (Option<&'v Pkt>, Option<&'v Pkt>) {
    let syn = v.conn_pkts(c).find(|p| flags(p) == f::SYN);
    let synack = v.conn_pkts(c).find(|p| flags(p) == f::SYN | f::ACK);
    (syn, synack)
}

/// The first segment of connection `c` going `dir` that carries data.
fn data_segment<'v>(v: &'v View, c: usize, dir: Dir) -> Option<&'v Pkt> {
    v.conn_pkts(c).find(|p| p.dir == dir && p.len > 0)
}

/// The client's sockaddr_in6 (28 bytes) for the connection.
fn client_sockaddr(v: &View) -> Option<[u8; 28]> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && e.call == "sockaddr_in6")
        .find_map(|e| e.data.as_deref()?.try_into().ok())
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let (Some(c4), Some(c6)) = (conn_in(v, V4_MARK), conn_in(v, V6_MARK)) else {
        return vec![Check::missing(
            "both connections were captured",
            "a connect() event or its packets are missing",
        )];
    };
    vec![
        versions(v, c4, c6),
        lengths(v, c4, c6),
        hop_limit(v, c4, c6),
        flow_labels(v, c6),
        mss_check(v, c4, c6),
        sockaddr_in_headers(v, c6),
        handshake(v, c6),
        checks::writes_on_wire(v, c6, Dir::ToServer),
        checks::reads_match_writes(v, c6, Dir::ToServer),
        checks::reads_match_writes(v, c6, Dir::ToClient),
        checks::acks_match_next_seq(v),
        checks::no_retransmission(v),
    ]
}

/// Every packet of connection 1 is IPv4 between 127.0.0.1s, of connection 2 IPv6 between ::1s,
/// with next header 6 (TCP) right after the fixed 40 bytes.
fn versions(v: &View, c4: usize, c6: usize) -> Check {
    let what = "connection 2 is IPv6 between ::1 and ::1: version 6, 40-byte header, next header 6 (TCP); connection 1 is IPv4";
    let mut bad = Vec::new();
    let mut n = [0usize; 2];
    for (c, want) in [(c4, 4u8), (c6, 6u8)] {
        for p in v.conn_pkts(c) {
            let h = IpHeader::of(v, p);
            let loopback = p.src.ip().is_loopback() && p.dst.ip().is_loopback();
            let v6 = matches!(p.src.ip(), IpAddr::V6(_));
            let ok = h.as_ref().is_some_and(|h| {
                h.version() == want
                    && h.next_header() == 6
                    && (want == 4 || h.header_len() == V6_HEADER)
            }) && loopback
                && v6 == (want == 6);
            n[(want == 6) as usize] += 1;
            if !ok {
                bad.push(p.index + 1);
            }
        }
    }
    Check::new(
        bad.is_empty() && n[0] > 0 && n[1] > 0,
        what,
        if bad.is_empty() {
            format!("{} IPv4 packets, {} IPv6 packets", n[0], n[1])
        } else {
            format!("frames {bad:?} are not what their connection is")
        },
    )
}

/// IPv6's payload length leaves out its 40-byte header; IPv4's total length counts its 20; so
/// the same segment is 20 bytes longer over IPv6.
fn lengths(v: &View, c4: usize, c6: usize) -> Check {
    let what = "IPv6's payload length = the bytes after its 40-byte header; IPv4's total length counts its own header: the message's segment is 20 bytes longer over IPv6";
    let mut bad = Vec::new();
    for c in [c4, c6] {
        for p in v.conn_pkts(c) {
            let ok = IpHeader::of(v, p).is_some_and(|h| {
                let counted = if h.version() == 4 {
                    h.captured_len()
                } else {
                    h.captured_len() - V6_HEADER
                };
                h.length_field() as usize == counted
            });
            if !ok {
                bad.push(p.index + 1);
            }
        }
    }
    let pair = (
        data_segment(v, c4, Dir::ToServer).and_then(|p| IpHeader::of(v, p)),
        data_segment(v, c6, Dir::ToServer).and_then(|p| IpHeader::of(v, p)),
    );
    let (Some(h4), Some(h6)) = pair else {
        return Check::missing(what, "the message's segment is missing on one connection");
    };
    let tcp = |h: &IpHeader| h.captured_len() - h.header_len() - MESSAGE.len();
    Check::new(
        bad.is_empty()
            && h6.captured_len() == h4.captured_len() + 20
            && h6.length_field() as usize == tcp(&h6) + MESSAGE.len()
            && tcp(&h4) == tcp(&h6),
        what,
        if bad.is_empty() {
            format!(
                "{}-byte message: IPv4 total length {} = 20 + {} (TCP) + {}; IPv6 payload length {} = {} + {}, packet {} = 40 + {}",
                MESSAGE.len(),
                h4.length_field(),
                tcp(&h4),
                MESSAGE.len(),
                h6.length_field(),
                tcp(&h6),
                MESSAGE.len(),
                h6.captured_len(),
                h6.length_field()
            )
        } else {
            format!("frames {bad:?}: the length field disagrees with the packet")
        },
    )
}

/// The client's packets carry the hop limit (TTL) its socket reported.
fn hop_limit(v: &View, c4: usize, c6: usize) -> Check {
    let what = "the client's hop limit on the wire is getsockopt(IPV6_UNICAST_HOPS), as its IPv4 TTL is getsockopt(IP_TTL)";
    let (Some(h6), Some(ttl)) = (
        opt_value(v, V6_MARK, &IPV6_UNICAST_HOPS),
        opt_value(v, V4_MARK, &IP_TTL),
    ) else {
        return Check::missing(
            what,
            "no getsockopt(IPV6_UNICAST_HOPS / IP_TTL) by the client",
        );
    };
    let seen = |c: usize| -> Vec<i64> {
        let mut s: Vec<i64> = v
            .conn_pkts(c)
            .filter(|p| p.dir == Dir::ToServer)
            .filter_map(|p| IpHeader::of(v, p).map(|h| h.hops() as i64))
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let (w6, w4) = (seen(c6), seen(c4));
    Check::new(
        w6 == [h6] && w4 == [ttl],
        what,
        format!("IPV6_UNICAST_HOPS {h6}, hop limits {w6:?}; IP_TTL {ttl}, TTLs {w4:?}"),
    )
}

/// The flow labels each side of connection `c` used, in order of first use.
pub(super) fn labels(v: &View, c: usize, dir: Dir) -> Vec<u32> {
    let mut out = Vec::new();
    for p in v.conn_pkts(c).filter(|p| p.dir == dir) {
        if let Some(l) = IpHeader::of(v, p).and_then(|h| h.flow_label()) {
            if !out.contains(&l) {
                out.push(l);
            }
        }
    }
    out
}

/// Each side labels all its packets of the connection with one flow label of its own (0 where
/// the sysctl leaves labels off).
fn flow_labels(v: &View, c6: usize) -> Check {
    let auto = v
        .run
        .events
        .iter()
        .find(|e| e.call == "sysctl" && e.args == AUTO_FLOWLABELS)
        .and_then(|e| e.ret);
    let Some(auto) = auto else {
        return Check::missing(
            "each side keeps one flow label for the whole connection",
            "net.ipv6.auto_flowlabels was not read",
        );
    };
    let on = matches!(auto, 1 | 3);
    let what = if on {
        format!("each side keeps one non-zero flow label for the whole connection, its own (auto_flowlabels = {auto})")
    } else {
        format!("every flow label is 0 (auto_flowlabels = {auto})")
    };
    let (cl, sv) = (labels(v, c6, Dir::ToServer), labels(v, c6, Dir::ToClient));
    let show = |l: &[u32]| {
        l.iter()
            .map(|x| format!("{x:#07x}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Check::new(
        cl.len() == 1
            && sv.len() == 1
            && ((on && cl[0] != 0 && sv[0] != 0 && cl != sv) || (!on && cl[0] == 0 && sv[0] == 0)),
        what,
        format!("client {}; server {}", show(&cl), show(&sv)),
    )
}

/// The MSS each SYN offers is the path MTU less the IP and TCP headers; IPv4's capped by its
/// 16-bit total length.
fn mss_check(v: &View, c4: usize, c6: usize) -> Check {
    let what = "each SYN's MSS = the MTU − IP header − 20: over IPv6 MTU − 60; over IPv4 min(MTU, 65535) − 40 (the total length is 16 bits)";
    let (Some(m6), Some(m4)) = (
        opt_value(v, V6_MARK, &IPV6_MTU),
        opt_value(v, V4_MARK, &IP_MTU),
    ) else {
        return Check::missing(what, "no getsockopt(IPV6_MTU / IP_MTU) by the client");
    };
    let want6 = m6 - V6_HEADER as i64 - TCP_HEADER;
    let want4 = m4.min(IPV4_MAX_PACKET) - 20 - TCP_HEADER;
    let got = |c: usize| {
        let (a, b) = syns(v, c);
        (a.and_then(mss), b.and_then(mss))
    };
    let (g6, g4) = (got(c6), got(c4));
    let show = |g: (Option<u16>, Option<u16>)| {
        let s = |x: Option<u16>| x.map_or("none".to_owned(), |m| m.to_string());
        format!("SYN {}, SYN+ACK {}", s(g.0), s(g.1))
    };
    Check::new(
        g6 == (Some(want6 as u16), Some(want6 as u16))
            && g4 == (Some(want4 as u16), Some(want4 as u16))
            && want6 > 0
            && want4 > 0,
        what,
        format!(
            "IPV6_MTU {m6} → {want6}: {}; IP_MTU {m4} → {want4}: {}",
            show(g6),
            show(g4)
        ),
    )
}

/// The client's sin6_addr and sin6_port are the SYN's destination address and port, byte for
/// byte.
fn sockaddr_in_headers(v: &View, c6: usize) -> Check {
    let what = "the SYN's destination address and port are the client's sin6_addr and sin6_port, byte for byte";
    let Some(sa) = client_sockaddr(v) else {
        return Check::missing(what, "no sockaddr_in6 by the client");
    };
    let Some((h, syn)) = syns(v, c6).0.and_then(|p| Some((IpHeader::of(v, p)?, p))) else {
        return Check::missing(what, "no SYN on the IPv6 connection");
    };
    let (dst, port) = (h.v6_addrs().map(|(_, d)| d), h.payload().get(2..4));
    Check::new(
        dst == Some(&sa[8..24])
            && port == Some(&sa[2..4])
            && syn.dst.port().to_be_bytes() == sa[2..4],
        what,
        format!(
            "sin6_port {} sin6_addr {} → header port {} address {}",
            hex(&sa[2..4]),
            super::runs(&sa[8..24]),
            port.map_or("?".into(), hex),
            dst.map_or("?".into(), super::runs)
        ),
    )
}

/// SYN, SYN+ACK, ACK, as over IPv4.
fn handshake(v: &View, c6: usize) -> Check {
    let first: Vec<&Pkt> = v.conn_pkts(c6).take(3).collect();
    let shape: Vec<(Dir, u16)> = first.iter().map(|p| (p.dir, flags(p))).collect();
    let ok = shape
        == [
            (Dir::ToServer, f::SYN),
            (Dir::ToClient, f::SYN | f::ACK),
            (Dir::ToServer, f::ACK),
        ]
        && first.iter().all(|p| p.proto == Proto::Tcp);
    let seq = |p: &Pkt| p.tcp.as_ref().map_or(0, |t| t.seq);
    let ack = |p: &Pkt| p.tcp.as_ref().map_or(0, |t| t.ack);
    let nums = ok
        && ack(first[1]) == seq(first[0]).wrapping_add(1)
        && ack(first[2]) == seq(first[1]).wrapping_add(1);
    Check::new(
        nums,
        "the same three-way handshake over IPv6: [S] →, ← [S.] ack ISN+1, [.] → ack ISN+1",
        crate::render::run::ladder::shape_text(&shape),
    )
}

/// The two headers of the message's segment, field by field.
pub(super) fn facts(v: &View) -> Vec<String> {
    let (Some(c4), Some(c6)) = (conn_in(v, V4_MARK), conn_in(v, V6_MARK)) else {
        return Vec::new();
    };
    let (Some(p4), Some(p6)) = (
        data_segment(v, c4, Dir::ToServer),
        data_segment(v, c6, Dir::ToServer),
    ) else {
        return Vec::new();
    };
    let (Some(h4), Some(h6)) = (IpHeader::of(v, p4), IpHeader::of(v, p6)) else {
        return Vec::new();
    };
    let mut out = vec![format!(
        "the {}-byte message's segment, client → server (frames {} and {}):",
        MESSAGE.len(),
        p4.index + 1,
        p6.index + 1
    )];
    let row = |k: &str, a: String, b: String| format!("  {k:<16}{a:<22}{b}");
    out.push(row("", "IPv4".into(), "IPv6".into()));
    out.push(row(
        "IP header",
        format!("{} bytes", h4.header_len()),
        format!("{} bytes", h6.header_len()),
    ));
    out.push(row(
        "length field",
        format!("total {}", h4.length_field()),
        format!("payload {}", h6.length_field()),
    ));
    out.push(row(
        "TTL / hop limit",
        h4.hops().to_string(),
        h6.hops().to_string(),
    ));
    let (ident, sum) = h4.v4_ident_checksum().unwrap_or((0, 0));
    out.push(row(
        "checksum",
        format!("{sum:#06x}"),
        "none (TCP's covers it)".into(),
    ));
    out.push(row(
        "ident / flow",
        format!("id {ident:#06x}"),
        format!("flow label {:#07x}", h6.flow_label().unwrap_or(0)),
    ));
    out.push(row(
        "TOS / class",
        format!("{:#04x}", h4.traffic_class()),
        format!("{:#04x}", h6.traffic_class()),
    ));
    out.push(row(
        "packet",
        format!("{} bytes", h4.captured_len()),
        format!("{} bytes", h6.captured_len()),
    ));
    let m = |c: usize| {
        let (a, _) = syns(v, c);
        a.and_then(mss).map_or("?".to_owned(), |m| m.to_string())
    };
    out.push(row("SYN's MSS", m(c4), m(c6)));
    let show = |l: Vec<u32>| {
        l.iter()
            .map(|x| format!("{x:#07x}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push(format!(
        "flow labels of connection 2: client → server {}, server → client {}",
        show(labels(v, c6, Dir::ToServer)),
        show(labels(v, c6, Dir::ToClient))
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::RunData;

    fn saved() -> RunData {
        crate::scenario::saved_run("ipv6")
    }

    fn failing(run: &RunData) -> Vec<String> {
        crate::scenario::failing(checks(&View::new(run)))
    }

    /// The saved run passes; the same run with one header field changed fails the check about
    /// that field.
    #[test]
    fn each_header_check_fails_when_its_field_is_wrong() {
        let run = saved();
        assert_eq!(failing(&run), Vec::<String>::new());
        let v = View::new(&run);
        let c6 = conn_in(&v, V6_MARK).expect("the IPv6 connection");
        let last = v
            .conn_pkts(c6)
            .filter(|p| p.dir == Dir::ToServer)
            .last()
            .expect("a client packet")
            .index;
        let syn = syns(&v, c6).0.expect("a SYN").index;
        // The Ethernet header is 14 bytes; the IPv6 header follows.
        let cases: [(usize, usize, u8, &str); 4] = [
            (last, 14 + 3, 0x01, "flow label"),
            (last, 14 + 7, 0x3f, "hop limit"),
            (last, 14 + 5, 0x01, "payload length"),
            (syn, 14 + 40 + 20 + 3, 0x01, "MSS"),
        ];
        for (i, at, x, what) in cases {
            let mut bad = run.clone();
            bad.packets[i].data[at] ^= x;
            let f = failing(&bad);
            assert!(
                f.iter().any(|c| c.contains(what)),
                "a wrong {what} passed; failing: {f:?}"
            );
        }
    }
}
