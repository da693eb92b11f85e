//! The facts of an `addr` run: each value's bytes before and after conversion, the
//! `sockaddr_in` bytes beside the header bytes, and the address classes.

use std::net::Ipv4Addr;

use super::checks::{client_sockaddrs, conversion, headers, main_conn, result_of, trap_pkts};
use super::libc::hex;
use super::VALUE;
use crate::live::model::Dir;
use crate::live::View;
use crate::render::marks::{class, class_table, dump, Mark};

pub(super) fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    byte_order_facts(v, &mut out);
    sockaddr_facts(v, &mut out);
    class_facts(v, &mut out);
    out
}

/// Whether the run's host was little-endian, from the bytes htonl(0x12345678) started from.
fn little_endian(v: &View) -> Option<bool> {
    let e = conversion(v, "htonl", "0x12345678")?;
    Some(e.data.as_deref()? == VALUE.to_le_bytes())
}

fn byte_order_facts(v: &View, out: &mut Vec<String>) {
    let Some(le) = little_endian(v) else { return };
    out.push(format!(
        "byte order: this host is {}; network order is big-endian (high byte first)",
        if le {
            "little-endian (low byte first in memory)"
        } else {
            "big-endian: htons()/htonl() change nothing"
        }
    ));
    out.push(format!(
        "  {:<20}{:<18}{:<19}{}",
        "call", "value in memory", "result in memory", "result as a number"
    ));
    let span = v.phase("addr/order").unwrap_or((i128::MIN, i128::MAX));
    for e in &v.run.events {
        if !matches!(e.call.as_str(), "htons" | "htonl") || e.start < span.0 || e.start >= span.1 {
            continue;
        }
        let key = format!("{}({})", e.call, e.args);
        let (Some(d), Some(r)) = (e.data.as_deref(), result_of(e)) else {
            continue;
        };
        let after: Vec<u8> = if d.len() == 2 {
            (r as u16).to_ne_bytes().to_vec()
        } else {
            r.to_ne_bytes().to_vec()
        };
        let after = if le {
            after
        } else {
            after.into_iter().rev().collect()
        };
        let shown = if d.len() == 2 {
            format!("{:#06x}", r as u16)
        } else {
            format!("{r:#010x}")
        };
        out.push(format!(
            "  {key:<20}{:<18}{:<19}{shown}",
            hex(d),
            hex(&after)
        ));
    }
    if let Some(l) = conversion(v, "htonl", "8888").and_then(result_of) {
        out.push(format!(
            "  sin_port = htonl(8888) keeps the low 16 bits, {:#06x}: port {}, not 8888",
            l as u16, l as u16
        ));
    }
    out.push(String::new());
}

fn sockaddr_facts(v: &View, out: &mut Vec<String>) {
    let (good, trap_sa) = client_sockaddrs(v);
    let conn = main_conn(v);
    if let (Some(sa), Some(c)) = (good, conn) {
        let port = u16::from_be_bytes([sa[2], sa[3]]);
        out.push(format!(
            "the client's sockaddr_in for 127.0.0.1:{port} (16 bytes, as connect() hands them to the kernel):"
        ));
        out.extend(dump(
            "  ",
            &[&sa[..2], &sa[2..4], &sa[4..8], &sa[8..]],
            &[
                Mark {
                    from: 0,
                    to: 2,
                    label: "family",
                },
                Mark {
                    from: 2,
                    to: 4,
                    label: "port",
                },
                Mark {
                    from: 4,
                    to: 8,
                    label: "address",
                },
            ],
        ));
        out.push(
            "  port and address in network order: the kernel copies them into the headers as they are;"
                .into(),
        );
        out.push(
            "  family in host order: it only tells the kernel how to read the rest; then 8 zero bytes"
                .into(),
        );
        let mut pk = v.conn_pkts(c);
        if let (Some(syn), Some(synack)) = (pk.next(), pk.next()) {
            for (p, what, src) in [
                (syn, "SYN's destination", false),
                (synack, "SYN+ACK's source", true),
            ] {
                let Some((ip, tcp)) = headers(v, p) else {
                    continue;
                };
                out.push(format!(
                    "the {what} address and port (frame {}: the IPv4 header, then the TCP header's ports):",
                    p.index + 1
                ));
                let marks = if src {
                    [
                        Mark {
                            from: 12,
                            to: 16,
                            label: "= the server's sin_addr",
                        },
                        Mark {
                            from: 20,
                            to: 22,
                            label: "= its sin_port",
                        },
                    ]
                } else {
                    [
                        Mark {
                            from: 16,
                            to: 20,
                            label: "= sin_addr",
                        },
                        Mark {
                            from: 22,
                            to: 24,
                            label: "= sin_port",
                        },
                    ]
                };
                out.extend(dump("  ", &[ip, &tcp[..4]], &marks));
            }
        }
        if let Some(d) = v
            .conn_pkts(c)
            .find(|p| p.dir == Dir::ToServer && p.len == 8)
        {
            out.push(format!(
                "the data (frame {}): 0x12345678 as is, then htonl(0x12345678)",
                d.index + 1
            ));
            out.extend(dump(
                "  ",
                &[&d.payload[..4], &d.payload[4..]],
                &[
                    Mark {
                        from: 0,
                        to: 4,
                        label: "host order",
                    },
                    Mark {
                        from: 4,
                        to: 8,
                        label: "network order",
                    },
                ],
            ));
        }
        out.push(String::new());
    }
    let (tsyn, answer) = trap_pkts(v);
    if let (Some(sa), Some(p)) = (trap_sa, tsyn) {
        out.push(
            "the trap's sockaddr_in, with sin_port = htonl(port) and sin_addr from inet_aton():"
                .into(),
        );
        out.extend(dump(
            "  ",
            &[&sa[..2], &sa[2..4], &sa[4..8], &sa[8..]],
            &[
                Mark {
                    from: 2,
                    to: 4,
                    label: "port 0",
                },
                Mark {
                    from: 4,
                    to: 8,
                    label: "inet_aton()'s bytes",
                },
            ],
        ));
        if let Some((ip, tcp)) = headers(v, p) {
            out.push(format!(
                "its SYN (frame {}){}:",
                p.index + 1,
                answer.map_or(String::new(), |a| format!(
                    ", answered by {} (frame {})",
                    crate::render::describe::flags_bracketed(a.tcp.as_ref().map_or(0, |t| t.flags)),
                    a.index + 1
                ))
            ));
            out.extend(dump(
                "  ",
                &[ip, &tcp[..4]],
                &[
                    Mark {
                        from: 16,
                        to: 20,
                        label: "= sin_addr",
                    },
                    Mark {
                        from: 22,
                        to: 24,
                        label: "destination port 0",
                    },
                ],
            ));
        }
        out.push(String::new());
    }
}

fn class_facts(v: &View, out: &mut Vec<String>) {
    let mut addrs: Vec<(Ipv4Addr, &str)> = Vec::new();
    for e in &v.run.events {
        let Some(q) = e.args.split('"').nth(1) else {
            continue;
        };
        if !e.call.starts_with("inet_") {
            continue;
        }
        if let Ok(a) = q.parse::<Ipv4Addr>() {
            if !addrs.iter().any(|x| x.0 == a) {
                addrs.push((a, ""));
            }
        }
    }
    addrs.sort_by_key(|(a, _)| (class(*a).0, a.octets()));
    out.push(
        "address classes from the first bits, historic: since CIDR (1993) a prefix length says where the network part ends"
            .into(),
    );
    out.extend(class_table(&addrs));
}
