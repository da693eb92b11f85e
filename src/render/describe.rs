//! Words for things: TCP flags in tcpdump's letters, endpoints, option lists, labels for frames
//! that are not TCP or UDP. Shared by the text and JSON Lines views.

use std::fmt::Write;
use std::net::IpAddr;

use crate::analyse::flags as f;
use crate::decode::options::{mptcp_subtype_name, options, TcpOption};
use crate::decode::{linktype_name, Icmp, LinkError, Packet, Stop, Transport};
use crate::source::FrameKind;

/// tcpdump's flag letters: `S` SYN, `F` FIN, `P` PSH, `R` RST, `U` URG, `E` ECE, `W` CWR,
/// `e` AE, `.` ACK; `none` when no flag is set.
pub fn flag_letters(out: &mut String, flags: u16) {
    let start = out.len();
    for (bit, c) in [
        (f::SYN, 'S'),
        (f::FIN, 'F'),
        (f::PSH, 'P'),
        (f::RST, 'R'),
        (f::URG, 'U'),
        (f::ECE, 'E'),
        (f::CWR, 'W'),
        (f::AE, 'e'),
        (f::ACK, '.'),
    ] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    if out.len() == start {
        out.push_str("none");
    }
}

/// `[S.]`-style flags.
pub fn flags_bracketed(flags: u16) -> String {
    let mut s = String::with_capacity(8);
    s.push('[');
    flag_letters(&mut s, flags);
    s.push(']');
    s
}

/// `addr:port`, with IPv6 in brackets.
pub fn endpoint(out: &mut String, ip: IpAddr, port: Option<u16>) {
    match (ip, port) {
        (IpAddr::V6(a), Some(p)) => {
            let _ = write!(out, "[{a}]:{p}");
        }
        (a, Some(p)) => {
            let _ = write!(out, "{a}:{p}");
        }
        (a, None) => {
            let _ = write!(out, "{a}");
        }
    }
}

/// TCP options as tcpdump lists them: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7`.
/// `sack_base`: the peer's initial sequence number, to show SACK edges relative (as the ACK is);
/// None shows them raw.
pub fn tcp_options(out: &mut String, bytes: &[u8], cut: bool, sack_base: Option<u32>) {
    let mut first = true;
    for o in options(bytes) {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = match o {
            Ok(TcpOption::Nop) => write!(out, "nop"),
            Ok(TcpOption::Mss(m)) => write!(out, "mss {m}"),
            Ok(TcpOption::WindowScale(s)) => write!(out, "wscale {s}"),
            Ok(TcpOption::SackPermitted) => write!(out, "sackOK"),
            Ok(TcpOption::Sack { blocks, count }) => {
                let _ = write!(out, "sack {count}");
                let base = sack_base.unwrap_or(0);
                for (l, r) in blocks.iter().take(count as usize) {
                    let _ = write!(
                        out,
                        " {{{}:{}}}",
                        l.wrapping_sub(base),
                        r.wrapping_sub(base)
                    );
                }
                Ok(())
            }
            Ok(TcpOption::Timestamps { val, ecr }) => write!(out, "TS val {val} ecr {ecr}"),
            Ok(TcpOption::Mptcp { subtype }) => {
                write!(out, "mptcp {}", mptcp_subtype_name(subtype))
            }
            Ok(TcpOption::FastOpen(d)) => write!(
                out,
                "tfo{}",
                if d.is_empty() {
                    " cookiereq"
                } else {
                    " cookie"
                }
            ),
            Ok(TcpOption::Unknown { kind, data }) => write!(out, "opt-{kind}:{}", data.len()),
            Err(()) => write!(out, "bad opt"),
        };
    }
    if cut {
        if !first {
            out.push(',');
        }
        out.push_str("options cut by the snaplen");
    }
}

/// Names of common EtherTypes.
pub fn ether_type_name(et: u16) -> Option<&'static str> {
    Some(match et {
        0x0806 => "ARP",
        0x8035 => "RARP",
        0x88cc => "LLDP",
        0x8863 | 0x8864 => "PPPoE",
        0x8847 | 0x8848 => "MPLS",
        0x888e => "EAPOL",
        0x88f7 => "PTP",
        0x8809 => "slow protocols (LACP)",
        0x9000 => "loopback test",
        _ => return None,
    })
}

/// Names of IP protocol numbers other than TCP and UDP.
pub fn ip_proto_name(p: u8) -> Option<&'static str> {
    Some(match p {
        2 => "IGMP",
        4 => "IPv4-in-IP",
        41 => "IPv6-in-IP",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        59 => "IPv6 no next header",
        89 => "OSPF",
        103 => "PIM",
        112 => "VRRP",
        132 => "SCTP",
        _ => return None,
    })
}

/// ICMP message names (the common ones), ICMPv4 and ICMPv6.
pub fn icmp_name(i: &Icmp<'_>) -> &'static str {
    match (i.v6, i.kind, i.code) {
        (false, 0, _) => "echo reply",
        (false, 8, _) => "echo request",
        (false, 3, 0) => "net unreachable",
        (false, 3, 1) => "host unreachable",
        (false, 3, 2) => "protocol unreachable",
        (false, 3, 3) => "port unreachable",
        (false, 3, 4) => "fragmentation needed",
        (false, 3, _) => "destination unreachable",
        (false, 4, _) => "source quench",
        (false, 5, _) => "redirect",
        (false, 11, 0) => "TTL exceeded in transit",
        (false, 11, _) => "fragment reassembly time exceeded",
        (false, 12, _) => "parameter problem",
        (true, 1, 4) => "port unreachable",
        (true, 1, _) => "destination unreachable",
        (true, 2, _) => "packet too big",
        (true, 3, _) => "time exceeded",
        (true, 4, _) => "parameter problem",
        (true, 128, _) => "echo request",
        (true, 129, _) => "echo reply",
        (true, 133, _) => "router solicitation",
        (true, 134, _) => "router advertisement",
        (true, 135, _) => "neighbor solicitation",
        (true, 136, _) => "neighbor advertisement",
        _ => "message",
    }
}

/// What an ICMP error quotes: `UDP 10.0.0.1:53 → 10.0.0.2:4000`.
pub fn icmp_quote(out: &mut String, quoted: &[u8]) {
    let frame = crate::source::Frame {
        number: 0,
        ts: None,
        linktype: crate::decode::linktype::RAW,
        caplen: quoted.len() as u32,
        origlen: quoted.len() as u32,
        data: quoted,
        interface: None,
        kind: FrameKind::Packet,
    };
    let p = crate::decode::decode(&frame);
    let Some(ip) = p.ip else {
        out.push_str("a packet cut too short to read");
        return;
    };
    let (name, ports) = match p.transport {
        Transport::Tcp(t) => ("TCP", Some((t.sport, t.dport))),
        Transport::Udp(u) => ("UDP", Some((u.sport, u.dport))),
        Transport::Icmp(_) => ("ICMP", None),
        _ => ("IP", None),
    };
    out.push_str(name);
    out.push(' ');
    endpoint(out, ip.src, ports.map(|p| p.0));
    out.push_str(" → ");
    endpoint(out, ip.dst, ports.map(|p| p.1));
}

/// A short honest label for a frame that is not TCP or UDP (or whose header is cut).
pub fn other_label(out: &mut String, kind: FrameKind, linktype: u16, pkt: &Packet<'_>) {
    if kind == FrameKind::CustomBlock {
        out.push_str("pcapng Custom Block (no packet)");
        return;
    }
    if let Some(Stop::Link(e)) = pkt.stop {
        let _ = match e {
            LinkError::Unsupported(lt) => write!(out, "link type {lt} not decoded"),
            LinkError::Short { need, have } => write!(
                out,
                "{} header cut: {have} of {need} bytes",
                linktype_name(linktype)
            ),
            LinkError::Family(af) => write!(out, "loopback frame, address family {af} (not IP)"),
        };
        return;
    }
    if let Some(ip) = pkt.ip {
        let _ = match pkt.transport {
            Transport::Fragment => {
                let fr = ip.fragment.unwrap_or(crate::decode::Fragment {
                    offset: 0,
                    more: false,
                    id: 0,
                });
                write!(
                    out,
                    "IP fragment of {} (id 0x{:x}, offset {}{})",
                    proto_name(ip.proto),
                    fr.id,
                    fr.offset,
                    if fr.more { ", more follow" } else { ", last" }
                )
            }
            Transport::Icmp(i) => {
                let _ = write!(
                    out,
                    "{} {}",
                    if i.v6 { "ICMPv6" } else { "ICMP" },
                    icmp_name(&i)
                );
                if let Some(q) = i.quoted {
                    out.push_str(", quoting ");
                    icmp_quote(out, q);
                }
                Ok(())
            }
            Transport::Other(p) => write!(out, "IP protocol {p} ({})", proto_name(p)),
            Transport::Tcp(_) => write!(out, "TCP header cut after the ports"),
            Transport::Udp(_) => write!(out, "UDP header cut after the ports"),
            Transport::None => match pkt.stop {
                Some(Stop::Short { layer, need, have }) => {
                    write!(out, "{layer} header cut: {have} of {need} bytes")
                }
                Some(Stop::Bad { layer, what }) => write!(out, "bad {layer}: {what}"),
                _ => write!(out, "IP packet"),
            },
        };
        return;
    }
    let _ = match (pkt.ether_type, pkt.stop) {
        (_, Some(Stop::Short { layer, need, have })) => {
            write!(out, "{layer} header cut: {have} of {need} bytes")
        }
        (_, Some(Stop::Bad { layer, what })) => write!(out, "bad {layer}: {what}"),
        (Some(et), _) if et < 0x0600 => write!(out, "IEEE 802.3 frame (LLC, length {et})"),
        (Some(et), _) => match ether_type_name(et) {
            Some(n) => write!(out, "{n}"),
            None => write!(out, "EtherType 0x{et:04x}"),
        },
        (None, _) => write!(out, "{} frame", linktype_name(linktype)),
    };
}

fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "TCP",
        17 => "UDP",
        1 => "ICMP",
        58 => "ICMPv6",
        _ => ip_proto_name(p).unwrap_or("unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_in_tcpdump_letters() {
        assert_eq!(flags_bracketed(f::SYN), "[S]");
        assert_eq!(flags_bracketed(f::SYN | f::ACK), "[S.]");
        assert_eq!(flags_bracketed(f::PSH | f::ACK), "[P.]");
        assert_eq!(flags_bracketed(f::FIN | f::ACK), "[F.]");
        assert_eq!(flags_bracketed(f::RST | f::ACK), "[R.]");
        assert_eq!(flags_bracketed(f::SYN | f::ECE | f::CWR), "[SEW]");
        assert_eq!(flags_bracketed(0), "[none]");
    }

    #[test]
    fn endpoints_bracket_ipv6() {
        let mut s = String::new();
        endpoint(&mut s, "::1".parse().unwrap(), Some(80));
        assert_eq!(s, "[::1]:80");
    }

    #[test]
    fn options_as_tcpdump() {
        let b = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let mut s = String::new();
        tcp_options(&mut s, &b, false, None);
        assert_eq!(s, "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7");
    }

    #[test]
    fn sack_edges_relative_to_the_peer_isn() {
        let b = [5, 10, 0, 0, 0, 110, 0, 0, 0, 120];
        let mut s = String::new();
        tcp_options(&mut s, &b, false, Some(100));
        assert_eq!(s, "sack 1 {10:20}");
    }
}
