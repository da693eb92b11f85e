//! What an `addr` run must show: the conversions' results, and the `sockaddr_in` bytes the
//! program built in the headers of its packets; and how the run is read back.

use std::net::Ipv4Addr;

use super::libc::{hex, INADDR_NONE};
use super::VALUE;
use crate::analyse::flags as f;
use crate::decode::link::{self, NetStart};
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::{Role, View};
use crate::render::marks::class;

/// The run's `sockaddr_in` events of `role` with their 16 bytes.
fn sockaddrs<'v>(v: &'v View, role: Role) -> Vec<(&'v Event, [u8; 16])> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == role && e.call == "sockaddr_in")
        .filter_map(|e| {
            let d: [u8; 16] = e.data.as_deref()?.try_into().ok()?;
            Some((e, d))
        })
        .collect()
}

/// The client's sockaddr for the real connection (port not 0) and the trap's (port 0).
pub(super) fn client_sockaddrs(v: &View) -> (Option<[u8; 16]>, Option<[u8; 16]>) {
    let all = sockaddrs(v, Role::Client);
    let good = all.iter().find(|(_, b)| b[2..4] != [0, 0]).map(|x| x.1);
    let trap = all.iter().find(|(_, b)| b[2..4] == [0, 0]).map(|x| x.1);
    (good, trap)
}

fn getsockname_bytes(v: &View) -> Option<[u8; 16]> {
    v.run
        .events
        .iter()
        .find(|e| e.call == "getsockname" && e.ok())
        .and_then(|e| e.data.as_deref()?.try_into().ok())
}

/// The IP header and what follows it, as captured.
fn ip_bytes<'v>(v: &'v View, p: &Pkt) -> Option<&'v [u8]> {
    let data = &v.run.packets.get(p.index)?.data;
    let (start, at) = link::strip(v.run.linktype, data).ok()?;
    let at = match start {
        NetStart::Ip => at,
        NetStart::EtherType(et) => link::strip_vlans(et, data, at).at,
    };
    data.get(at..)
}

/// The IPv4 header and the TCP header of a captured packet.
pub(super) fn headers<'v>(v: &'v View, p: &Pkt) -> Option<(&'v [u8], &'v [u8])> {
    let ip = ip_bytes(v, p)?;
    if ip.first()? >> 4 != 4 {
        return None;
    }
    let ihl = ((ip[0] & 0x0f) as usize) * 4;
    let tcp_len = ((*ip.get(ihl + 12)? >> 4) as usize) * 4;
    if ihl < 20 || tcp_len < 20 {
        return None;
    }
    Some((ip.get(..ihl)?, ip.get(ihl..ihl + tcp_len)?))
}

/// The connection the client's successful connect() opened.
pub(super) fn main_conn(v: &View) -> Option<usize> {
    v.run
        .events
        .iter()
        .find(|e| e.call == "connect" && e.role == Role::Client && e.ok())
        .and_then(|e| v.conn_of(e))
}

/// The trap's SYN and the answer to it.
pub(super) fn trap_pkts<'v>(v: &'v View) -> (Option<&'v Pkt>, Option<&'v Pkt>) {
    let syn = v
        .pkts
        .iter()
        .find(|p| p.dst.port() == 0 && p.tcp.as_ref().is_some_and(|t| t.has(f::SYN)));
    let answer = syn.and_then(|s| v.conn_pkts(s.conn).find(|p| p.dir == Dir::ToClient));
    (syn, answer)
}

/// A conversion event's value and its text result, e.g. (`8888`, `0xb822`).
pub(super) fn conversion<'v>(v: &'v View, call: &str, args: &str) -> Option<&'v Event> {
    v.run
        .events
        .iter()
        .find(|e| e.call == call && e.args == args)
}

pub(super) fn result_of(e: &Event) -> Option<u32> {
    let t = e.text.as_deref()?.strip_prefix("= 0x")?;
    u32::from_str_radix(t.split_whitespace().next()?, 16).ok()
}

fn printed<'v>(v: &'v View, prefix: &str) -> Option<&'v str> {
    v.run
        .events
        .iter()
        .filter(|e| e.call == "print")
        .find_map(|e| e.text.as_deref()?.strip_prefix(prefix))
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let mut out = Vec::new();
    let (good, trap_sa) = client_sockaddrs(v);
    let conn = main_conn(v);
    let syn = conn.and_then(|c| v.conn_pkts(c).next());
    let synack = conn.and_then(|c| v.conn_pkts(c).nth(1));
    let syn_h = syn.and_then(|p| headers(v, p));
    match (good, syn_h) {
        (Some(sa), Some((ip, tcp))) => {
            out.push(Check::new(
                ip[16..20] == sa[4..8],
                "the SYN's destination address is the client's sin_addr, byte for byte",
                format!(
                    "IP header bytes 16–19: {}; sin_addr: {}",
                    hex(&ip[16..20]),
                    hex(&sa[4..8])
                ),
            ));
            out.push(Check::new(
                tcp[2..4] == sa[2..4],
                "the SYN's destination port is the client's sin_port, byte for byte (network order)",
                format!(
                    "TCP header bytes 2–3: {}; sin_port: {} = port {}",
                    hex(&tcp[2..4]),
                    hex(&sa[2..4]),
                    u16::from_be_bytes([sa[2], sa[3]])
                ),
            ));
        }
        _ => out.push(Check::missing(
            "the SYN carries the client's sin_addr and sin_port",
            "no client sockaddr_in event or no SYN captured",
        )),
    }
    match (
        getsockname_bytes(v),
        synack.and_then(|p| headers(v, p)),
        synack,
    ) {
        (Some(g), Some((ip, tcp)), Some(p)) => out.push(Check::new(
            ip[12..16] == g[4..8]
                && tcp[0..2] == g[2..4]
                && p.tcp.as_ref().is_some_and(|t| t.has(f::SYN | f::ACK)),
            "the SYN+ACK's source is the server's address as getsockname() returned it",
            format!(
                "source {} port {}; getsockname(): sin_addr {} sin_port {}",
                hex(&ip[12..16]),
                hex(&tcp[0..2]),
                hex(&g[4..8]),
                hex(&g[2..4])
            ),
        )),
        _ => out.push(Check::missing(
            "the SYN+ACK's source is the server's getsockname() address",
            "no getsockname() event or no SYN+ACK captured",
        )),
    }
    out.push(data_check(v, conn));
    out.push(trap_numbers_check(v));
    let (tsyn, answer) = trap_pkts(v);
    let refused = v.run.events.iter().find(|e| e.call == "connect" && !e.ok());
    match (trap_sa, tsyn.and_then(|p| headers(v, p)), answer, refused) {
        (Some(sa), Some((_, tcp)), Some(a), Some(e)) => {
            let rst = a
                .tcp
                .as_ref()
                .is_some_and(|t| t.has(f::RST) && t.has(f::ACK));
            out.push(Check::new(
                tcp[2..4] == [0, 0]
                    && sa[2..4] == [0, 0]
                    && rst
                    && e.errno.as_deref() == Some("ECONNREFUSED"),
                "the trap: sin_port = htonl(port) sent the SYN to port 0; RST+ACK came back and connect() failed with ECONNREFUSED",
                format!(
                    "sin_port {}, SYN frame {} destination port bytes {}, answer frame {} {}, connect() = -1 {}",
                    hex(&sa[2..4]),
                    tsyn.map_or(0, |p| p.index + 1),
                    hex(&tcp[2..4]),
                    a.index + 1,
                    crate::render::describe::flags_bracketed(a.tcp.as_ref().map_or(0, |t| t.flags)),
                    e.errno.as_deref().unwrap_or("?")
                ),
            ));
        }
        _ => out.push(Check::missing(
            "the trap's SYN went to port 0 and was refused",
            "the trap's sockaddr, SYN, answer or failed connect() is missing",
        )),
    }
    out.push(aton_on_wire_check(v, trap_sa, tsyn));
    out.push(inet_addr_check(v));
    out.push(class_check(v));
    let n1 = printed(v, "Dotted-Decimal notation1: ");
    let n2 = printed(v, "Dotted-Decimal notation2: ");
    let n3 = printed(v, "Dotted-Decimal notation3: ");
    out.push(Check::new(
        n1 == Some("1.2.3.4") && n2 == Some("1.1.1.1") && n3 == Some("1.2.3.4"),
        "inet_ntoa() returns one static buffer: after the second call the first pointer shows the second address",
        format!(
            "notation1 {}, notation2 (same pointer) {}, notation3 (strcpy'd copy) {}",
            n1.unwrap_or("?"),
            n2.unwrap_or("?"),
            n3.unwrap_or("?")
        ),
    ));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

/// The 8 data bytes: the value as is (host order) and after htonl() (network order).
fn data_check(v: &View, conn: Option<usize>) -> Check {
    let what = "0x12345678 goes on the wire as its bytes in memory: as is in host order, after htonl() as 12 34 56 78; only ntohl() of the second gives it back";
    let host = conversion(v, "htonl", "0x12345678").and_then(|e| e.data.clone());
    let data = conn.and_then(|c| {
        v.conn_pkts(c)
            .find(|p| p.dir == Dir::ToServer && p.len > 0)
            .map(|p| p.payload.clone())
    });
    let ntohl: Vec<u32> = v
        .run
        .events
        .iter()
        .filter(|e| e.call == "ntohl")
        .filter_map(result_of)
        .collect();
    match (host, data) {
        (Some(h), Some(d)) if d.len() == 8 => {
            let back_ok = ntohl.len() == 2
                && ntohl[1] == VALUE
                && (ntohl[0] == VALUE) == (h == VALUE.to_be_bytes());
            Check::new(
                d[..4] == h[..] && d[4..] == VALUE.to_be_bytes() && back_ok,
                what,
                format!(
                    "payload {} | {}; ntohl() gave {}",
                    hex(&d[..4]),
                    hex(&d[4..]),
                    ntohl
                        .iter()
                        .map(|n| format!("{n:#010x}"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            )
        }
        _ => Check::missing(what, "no htonl(0x12345678) event or no 8-byte data segment"),
    }
}

/// htons(8888) and htonl(8888) differ, and htonl's result cut to 16 bits is 0.
fn trap_numbers_check(v: &View) -> Check {
    let what = "htonl(8888) ≠ htons(8888): cut to the 16 bits of sin_port, htonl(8888) is port 0";
    let s = conversion(v, "htons", "8888").and_then(result_of);
    let l = conversion(v, "htonl", "8888").and_then(result_of);
    match (s, l) {
        (Some(s), Some(l)) => Check::new(
            s as u16 == 8888u16.to_be() && l as u16 == 0 && l != s,
            what,
            format!(
                "htons(8888) = {s:#06x} (bytes {}), htonl(8888) = {l:#010x} (bytes {}), (unsigned short) {:#06x}",
                hex(&(s as u16).to_ne_bytes()),
                hex(&l.to_ne_bytes()),
                l as u16
            ),
        ),
        _ => Check::missing(what, "no htons(8888) or htonl(8888) event"),
    }
}

/// The trap's sin_addr came from inet_aton(): its bytes are the SYN's destination address.
fn aton_on_wire_check(v: &View, sa: Option<[u8; 16]>, syn: Option<&Pkt>) -> Check {
    let what = "inet_aton()'s bytes reach the wire as inet_addr()'s do: the trap's SYN goes to \
                the address inet_aton() wrote into sin_addr, byte for byte";
    let aton = v
        .run
        .events
        .iter()
        .find(|e| e.call == "inet_aton" && e.args.ends_with("&serv_addr.sin_addr"))
        .and_then(|e| Some((e.args.split('"').nth(1)?, e.data.as_deref()?)));
    match (aton, sa, syn.and_then(|p| headers(v, p).map(|h| (p, h)))) {
        (Some((cp, d)), Some(sa), Some((p, (ip, _)))) => Check::new(
            d == &sa[4..8] && ip[16..20] == sa[4..8],
            what,
            format!(
                "inet_aton(\"{cp}\") wrote {}; sin_addr {}; SYN frame {} IP header bytes 16–19: {}",
                hex(d),
                hex(&sa[4..8]),
                p.index + 1,
                hex(&ip[16..20])
            ),
        ),
        _ => Check::missing(
            what,
            "no inet_aton() into sin_addr, trap sockaddr_in or SYN",
        ),
    }
}

/// Every address the run converted has the class of its first byte in network order, as
/// inet_addr()/inet_aton() store it; the number's top byte (s_addr >> 24) is that byte only on
/// a big-endian host.
fn class_check(v: &View) -> Check {
    let what = "address classes (historic: CIDR replaced them in 1993) come from the first bits \
                of the address's first byte in network order, as inet_addr() stores it: \
                A 0, B 10, C 110, D 1110";
    let mut seen: Vec<(Ipv4Addr, [u8; 4])> = Vec::new();
    for e in &v.run.events {
        if !matches!(e.call.as_str(), "inet_addr" | "inet_aton") {
            continue;
        }
        let (Some(a), Some(d)) = (
            e.args
                .split('"')
                .nth(1)
                .and_then(|q| q.parse::<Ipv4Addr>().ok()),
            e.data.as_deref().and_then(|d| <[u8; 4]>::try_from(d).ok()),
        ) else {
            continue;
        };
        if !seen.iter().any(|x| x.0 == a) {
            seen.push((a, d));
        }
    }
    let ok_each = seen
        .iter()
        .all(|(a, d)| class(Ipv4Addr::from(*d)).0 == class(*a).0);
    let classes: Vec<char> = seen.iter().map(|(a, _)| class(*a).0).collect();
    let all = ['A', 'B', 'C'].iter().all(|c| classes.contains(c));
    let top_wrong: Vec<String> = seen
        .iter()
        .filter_map(|(a, d)| {
            let top = (u32::from_ne_bytes(*d) >> 24) as u8;
            let c = class(Ipv4Addr::new(top, 0, 0, 0)).0;
            (c != class(*a).0).then(|| format!("{a} {c}"))
        })
        .collect();
    let list = seen
        .iter()
        .map(|(a, d)| {
            let (c, n) = class(Ipv4Addr::from(*d));
            let bits = format!("{:08b}", d[0]);
            format!("{a} {:02x} = {}|{} {c}", d[0], &bits[..n], &bits[n..])
        })
        .collect::<Vec<_>>()
        .join(", ");
    let top = if top_wrong.is_empty() {
        "s_addr >> 24 gives the same classes (a big-endian host)".to_owned()
    } else {
        format!(
            "s_addr >> 24 on this host would say {}",
            top_wrong.join(", ")
        )
    };
    Check::new(ok_each && all, what, format!("{list}; {top}"))
}

/// INADDR_NONE is both the error and 255.255.255.255; inet_aton tells them apart.
fn inet_addr_check(v: &View) -> Check {
    let what = "inet_addr() returns INADDR_NONE for the bad 1.2.3.256 and for the valid 255.255.255.255; inet_aton() tells them apart";
    let a = |cp: &str| conversion(v, "inet_addr", &format!("{cp:?}")).and_then(result_of);
    let n = |cp: &str| conversion(v, "inet_aton", &format!("{cp:?}, &addr")).and_then(|e| e.ret);
    let (bad, bcast) = (a("1.2.3.256"), a("255.255.255.255"));
    let (nbad, nbcast) = (n("1.2.3.256"), n("255.255.255.255"));
    Check::new(
        bad == Some(INADDR_NONE)
            && bcast == Some(INADDR_NONE)
            && nbad == Some(0)
            && nbcast == Some(1),
        what,
        format!(
            "inet_addr: {} and {}; inet_aton: {} and {}",
            bad.map_or("?".into(), |x| format!("{x:#010x}")),
            bcast.map_or("?".into(), |x| format!("{x:#010x}")),
            nbad.map_or("?".into(), |x| x.to_string()),
            nbcast.map_or("?".into(), |x| x.to_string())
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_read_back_from_the_event_text() {
        let mut e = Event::new(Role::Client, "client", "htonl", 0);
        e.text = Some("= 0xb8220000".into());
        assert_eq!(result_of(&e), Some(0xb822_0000));
        e.text = Some("= 0xffffffff (INADDR_NONE)".into());
        assert_eq!(result_of(&e), Some(INADDR_NONE));
        e.text = Some("(addr.s_addr = 0x1)".into());
        assert_eq!(result_of(&e), None);
        assert_eq!(hex(&[1, 0xab]), "01 ab");
    }

    /// A run whose only events are inet_addr() calls returning `bytes` for each address.
    fn conversions(addrs: &[(&str, [u8; 4])]) -> crate::live::RunData {
        let events = addrs
            .iter()
            .map(|(cp, b)| {
                let mut e = Event::new(Role::Client, "client", "inet_addr", 0);
                e.args = format!("{cp:?}");
                e.data = Some(b.to_vec());
                e
            })
            .collect();
        crate::live::RunData {
            events,
            ..Default::default()
        }
    }

    #[test]
    fn classes_come_from_the_first_byte_in_network_order() {
        let net = conversions(&[
            ("127.0.0.1", [127, 0, 0, 1]),
            ("172.16.0.1", [172, 16, 0, 1]),
            ("192.168.1.20", [192, 168, 1, 20]),
        ]);
        let c = class_check(&View::new(&net));
        assert!(c.ok, "{c:?}");
        assert!(c.detail.contains("192.168.1.20 c0 = 110|00000 C"), "{c:?}");
        // The same numbers stored in host order (as htonl() forgotten would leave them).
        let host = conversions(&[
            ("127.0.0.1", [1, 0, 0, 127]),
            ("172.16.0.1", [1, 0, 16, 172]),
            ("192.168.1.20", [20, 1, 168, 192]),
        ]);
        assert!(!class_check(&View::new(&host)).ok);
        // Without a class C address the check has nothing to show.
        let few = conversions(&[
            ("127.0.0.1", [127, 0, 0, 1]),
            ("172.16.0.1", [172, 16, 0, 1]),
        ]);
        assert!(!class_check(&View::new(&few)).ok);
    }
}
