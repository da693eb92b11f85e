//! What a `dns` run must show: the resolver answered from /etc/hosts, and each query and answer
//! is one datagram that decodes as RFC 1035 says.

use std::net::{IpAddr, Ipv4Addr};

use super::resolver::{self, answer_of, Answer};
use super::wire::{self, Message};
use super::{ADDRESS, KNOWN, NAMES};
use crate::live::checks::Check;
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::{Role, View};

/// The /etc/hosts lines the run printed: (address, names).
fn hosts_lines(v: &View) -> Vec<(IpAddr, Vec<String>)> {
    v.run
        .events
        .iter()
        .filter(|e| e.call == "print")
        .filter_map(|e| e.text.as_deref()?.strip_prefix("/etc/hosts: "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let addr = w.next()?.parse().ok()?;
            Some((addr, w.map(str::to_owned).collect()))
        })
        .collect()
}

fn resolver_event<'v>(v: &'v View, call: &str) -> Option<&'v crate::live::Event> {
    v.run.events.iter().find(|e| e.call == call)
}

fn resolver_checks(v: &View) -> Vec<Check> {
    let hosts = hosts_lines(v);
    let forward: Vec<IpAddr> = hosts
        .iter()
        .filter(|(_, names)| names.iter().any(|n| n == "localhost"))
        .map(|(a, _)| *a)
        .collect();
    let reverse: Vec<&String> = hosts
        .iter()
        .filter(|(a, _)| *a == IpAddr::V4(Ipv4Addr::LOCALHOST))
        .flat_map(|(_, names)| names)
        .collect();
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut out = Vec::new();
    let fwd: Vec<(&str, Option<Answer>)> = ["gethostbyname", "getaddrinfo"]
        .iter()
        .map(|c| (*c, resolver_event(v, c).and_then(answer_of)))
        .collect();
    let skipped = "the resolver was not called: /etc/hosts has no \"127.0.0.1 localhost\" line read before DNS (see the printed lines)";
    out.push(Check::new(
        fwd.iter().all(|(_, a)| {
            a.as_ref().is_some_and(|a| {
                a.addrs.contains(&local) && a.addrs.iter().all(|x| forward.contains(x))
            })
        }),
        "gethostbyname and getaddrinfo(\"localhost\") gave 127.0.0.1, the address /etc/hosts gives it: no DNS query needed",
        if fwd.iter().all(|(_, a)| a.is_none()) && resolver_event(v, "gethostbyname").is_none() {
            skipped.to_owned()
        } else {
            fwd.iter()
                .map(|(c, a)| match a {
                    Some(a) => format!("{c} {}", resolver::answer_text(a)),
                    None => format!("{c} failed"),
                })
                .collect::<Vec<_>>()
                .join("; ")
        },
    ));
    let rev: Vec<(&str, Option<Answer>)> = ["gethostbyaddr", "getnameinfo"]
        .iter()
        .map(|c| (*c, resolver_event(v, c).and_then(answer_of)))
        .collect();
    out.push(Check::new(
        rev.iter().all(|(_, a)| {
            a.as_ref()
                .and_then(|a| a.name.as_ref())
                .is_some_and(|n| reverse.contains(&n))
        }),
        "the reverse lookups of 127.0.0.1 (gethostbyaddr, getnameinfo) gave a name /etc/hosts lists for it",
        if resolver_event(v, "gethostbyaddr").is_none() {
            skipped.to_owned()
        } else {
            rev.iter()
                .map(|(c, a)| match a.as_ref().and_then(|a| a.name.as_ref()) {
                    Some(n) => format!("{c} → {n}"),
                    None => format!("{c} failed"),
                })
                .collect::<Vec<_>>()
                .join("; ")
        },
    ));
    out
}

/// Every datagram of the run decoded as DNS: (packet, message).
pub(super) fn messages<'v>(v: &'v View) -> Vec<(&'v Pkt, Result<Message, String>)> {
    v.pkts
        .iter()
        .filter(|p| p.proto == Proto::Udp)
        .map(|p| (p, wire::decode(&p.payload)))
        .collect()
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let mut out = resolver_checks(v);
    let msgs = messages(v);
    let bad: Vec<usize> = msgs
        .iter()
        .filter(|(_, m)| m.is_err())
        .map(|(p, _)| p.index + 1)
        .collect();
    let queries: Vec<(&Pkt, &Message)> = msgs
        .iter()
        .filter_map(|(p, m)| m.as_ref().ok().map(|m| (*p, m)))
        .filter(|(p, m)| p.dir == Dir::ToServer && !m.is_response())
        .collect();
    let answers: Vec<(&Pkt, &Message)> = msgs
        .iter()
        .filter_map(|(p, m)| m.as_ref().ok().map(|m| (*p, m)))
        .filter(|(p, m)| p.dir == Dir::ToClient && m.is_response())
        .collect();
    let sends = v
        .run
        .events
        .iter()
        .filter(|e| e.call == "sendto" && e.ok())
        .count();
    // Each datagram carries exactly what its sendto() sent.
    let same_bytes = v
        .run
        .events
        .iter()
        .filter(|e| e.call == "sendto" && e.ok())
        .all(|e| {
            v.pkts.iter().any(|p| {
                // An unbound socket's local address is 0.0.0.0:port: compare the port.
                e.local.map(|l| l.port()) == Some(p.src.port())
                    && Some(p.dst) == e.addr
                    && Some(&p.payload) == e.data.as_ref()
            })
        });
    out.push(Check::new(
        bad.is_empty()
            && v.others.is_empty()
            && v.pkts.iter().all(|p| p.proto == Proto::Udp)
            && queries.len() == NAMES.len()
            && answers.len() == NAMES.len()
            && v.pkts.len() == sends
            && same_bytes,
        "DNS is UDP datagrams: each query and each answer is one datagram (the bytes sendto() gave), nothing else on the wire",
        format!(
            "{} datagrams: {} queries, {} answers{}",
            v.pkts.len(),
            queries.len(),
            answers.len(),
            if bad.is_empty() {
                String::new()
            } else {
                format!("; frames {bad:?} are not DNS")
            }
        ),
    ));
    for name in NAMES {
        out.extend(exchange_checks(v, name, &queries, &answers));
    }
    let ports: Vec<u16> = queries.iter().map(|(p, _)| p.src.port()).collect();
    let ids: Vec<u16> = queries.iter().map(|(_, m)| m.id).collect();
    out.push(Check::new(
        ports.len() == NAMES.len() && ports[0] != ports[1] && ids[0] != ids[1],
        "each query came from a new socket (a new source port) with a new random id",
        format!(
            "source ports {}, ids {}",
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            ids.iter()
                .map(|i| format!("{i:#06x}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    out
}

fn exchange_checks(
    v: &View,
    name: &str,
    queries: &[(&Pkt, &Message)],
    answers: &[(&Pkt, &Message)],
) -> Vec<Check> {
    let asks = |m: &Message| {
        m.questions
            .iter()
            .any(|q| q.name.eq_ignore_ascii_case(name))
    };
    let Some(&(qp, q)) = queries.iter().find(|(_, m)| asks(m)) else {
        return vec![Check::missing(
            format!("a query for {name} was captured"),
            "no such datagram",
        )];
    };
    let mut out = Vec::new();
    let question = q.questions.first();
    out.push(Check::new(
        q.flags & wire::RD != 0
            && q.questions.len() == 1
            && q.answers.is_empty()
            && question.is_some_and(|x| x.qtype == wire::TYPE_A && x.qclass == wire::CLASS_IN),
        format!(
            "the query on the wire: id {:#06x}, flags rd, one question {name} IN A, no answer",
            q.id
        ),
        format!(
            "frame {}: {} bytes, flags {:#06x}, {}",
            qp.index + 1,
            qp.len,
            q.flags,
            question.map_or("no question".into(), wire::show_question)
        ),
    ));
    let Some(&(ap, a)) = answers
        .iter()
        .find(|(p, m)| m.id == q.id && p.dst == qp.src)
    else {
        out.push(Check::missing(
            format!("the answer to the {name} query was captured"),
            format!("no response with id {:#06x} to {}", q.id, qp.src),
        ));
        return out;
    };
    out.push(Check::new(
        ap.src == qp.dst && ap.dst == qp.src && a.questions == q.questions && ap.ts > qp.ts,
        format!("the answer carries the query's id {:#06x} and question, from the responder's port back to the query's source port", q.id),
        format!("frame {}: {} → {}", ap.index + 1, ap.src, ap.dst),
    ));
    // What the client printed about this name.
    let printed = v
        .run
        .events
        .iter()
        .filter(|e| e.call == "print" && e.role == Role::Client)
        .filter_map(|e| e.text.as_deref())
        .find(|t| t.starts_with(&format!("{name} ")) || t.starts_with(&format!("{name}:")));
    if name == KNOWN {
        let rec = a.answers.first();
        out.push(Check::new(
            a.rcode() == wire::NOERROR
                && a.flags & wire::AA != 0
                && a.answers.len() == 1
                && rec.is_some_and(|r| r.name.eq_ignore_ascii_case(name))
                && a.address() == Some(ADDRESS)
                && printed.is_some_and(|t| t.contains(&format!("has address {ADDRESS} "))),
            format!("the answer: NOERROR, authoritative, one A record {name} → {ADDRESS}, and the client printed that address"),
            format!(
                "{} {}; client: {}",
                wire::rcode_name(a.rcode()),
                rec.map_or("no record".into(), wire::show_record),
                printed.unwrap_or("nothing")
            ),
        ));
    } else {
        out.push(Check::new(
            a.rcode() == wire::NXDOMAIN
                && a.answers.is_empty()
                && printed.is_some_and(|t| t.contains("NXDOMAIN")),
            format!("the unknown name {name} got NXDOMAIN (RCODE 3) and no record"),
            format!(
                "RCODE {} ({}), {} record(s); client: {}",
                a.rcode(),
                wire::rcode_name(a.rcode()),
                a.answers.len(),
                printed.unwrap_or("nothing")
            ),
        ));
    }
    out
}
