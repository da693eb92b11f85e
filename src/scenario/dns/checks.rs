//! `dns`: the system resolver (gethostbyname, gethostbyaddr, getaddrinfo, getnameinfo) on
//! localhost and 127.0.0.1, then a DNS query built by hand and sent over UDP to a small
//! responder the scenario runs on 127.0.0.1.
//!
//! ```c
//! /* the resolver */
//! h = gethostbyname("localhost");                 /* h->h_addr_list */
//! h = gethostbyaddr(&addr, 4, AF_INET);           /* 127.0.0.1 → h->h_name */
//! getaddrinfo("localhost", NULL, &hints, &res);   /* hints: AF_UNSPEC, SOCK_STREAM */
//! getnameinfo(&sa, sizeof sa, host, sizeof host, NULL, 0, NI_NAMEREQD);
//!
//! /* responder */                          /* client */
//! s = socket(AF_INET, SOCK_DGRAM, 0);      c = socket(AF_INET, SOCK_DGRAM, 0);
//! bind(s, 127.0.0.1:0);                    n = make_query(buf, id, "hello.sockscope.test", A);
//! n = recvfrom(s, buf, …, &from);          sendto(c, buf, n, 0, responder);
//! m = make_answer(buf, answer);            n = recvfrom(c, buf, …, &from);  /* same id? */
//! sendto(s, answer, m, 0, from);           … and again for a name it does not know
//! ```

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use socket2::{Domain, Type};

use super::dns_resolver::{self as resolver, answer_of, Answer};
use super::dns_wire::{self as wire, Message};
use super::{any_port, bound, Peer, Scenario};
use crate::live::checks::Check;
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::{LiveError, Role, Tracer, View};
use crate::render::run::timeline::time_cell;
use crate::render::TimeMode;

pub const SCENARIO: Scenario = Scenario {
    name: "dns",
    lesson: "lesson 9: domain names",
    summary: "the resolver on localhost (no packet: /etc/hosts), then a DNS query and answer over UDP, decoded",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
The resolver. gethostbyname() and gethostbyaddr() are the classic texts' calls (IPv4 only,
and not thread-safe: they return static storage); getaddrinfo() and getnameinfo() replace
them. The textbooks say these calls ask a DNS server. They need not: glibc follows
/etc/nsswitch.conf (\"hosts: files dns\"), and files, /etc/hosts, knows localhost and
127.0.0.1, so every answer here came without a single packet.

A query on the wire. The client builds a DNS message by hand (RFC 1035, 4.1) and sends it as
one UDP datagram to a small responder on 127.0.0.1 (on a port the kernel picked, not 53):
- the header, 12 bytes: a random 16-bit id, the flags (rd: recursion desired), four counts
  (1 question);
- the question: the name as length-prefixed labels (05 hello 09 sockscope 04 test 00), the
  type (A = 1) and the class (IN = 1).
The answer is one datagram too: the same id, flags qr (a response), aa (authoritative), rd
copied, RCODE 0 (NOERROR); the question repeated; one A record whose name is a compression
pointer (c00c: \"the name at byte 12\"), a TTL (300 s) and 4 bytes of address: 192.0.2.1 (a
documentation address, RFC 5737). A name the responder does not know gets RCODE 3, NXDOMAIN,
and no record.

The client believes an answer only if it comes from the address it asked and carries the id
it chose; with a fresh socket (so a fresh source port) and a random id per query, that is what
keeps forged answers out (RFC 5452).

DNS is UDP datagrams: no handshake, no ACK, nothing else on the wire; a lost query is the
client's to send again. (Answers too long for one datagram set TC and are asked again over
TCP; not here.)";

/// The one name the responder knows, and its answer.
const KNOWN: &str = "hello.sockscope.test";
const ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const TTL: u32 = 300;
/// A name it does not know.
const UNKNOWN: &str = "nowhere.sockscope.test";
const NAMES: [&str; 2] = [KNOWN, UNKNOWN];

fn run(t: &Tracer) -> Result<(), LiveError> {
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
fn messages<'v>(v: &'v View) -> Vec<(&'v Pkt, Result<Message, String>)> {
    v.pkts
        .iter()
        .filter(|p| p.proto == Proto::Udp)
        .map(|p| (p, wire::decode(&p.payload)))
        .collect()
}

fn checks(v: &View) -> Vec<Check> {
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

fn facts(v: &View) -> Vec<String> {
    let msgs = messages(v);
    if msgs.is_empty() {
        return Vec::new();
    }
    let t0 = v.run.t0().unwrap_or(0);
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "time", "frame", "datagram", "id", "flags", "rcode", "question", "answer",
    ]);
    for (p, m) in &msgs {
        let mut time = String::new();
        time_cell(&mut time, TimeMode::Rel, p.ts, t0, t0);
        let way = match p.dir {
            Dir::ToServer => format!("{} → {}", p.src.port(), p.dst.port()),
            Dir::ToClient => format!("{} ← {}", p.dst.port(), p.src.port()),
        };
        match m {
            Ok(m) => t.add_row(vec![
                time,
                (p.index + 1).to_string(),
                way,
                format!("{:#06x}", m.id),
                wire::flag_names(m.flags),
                if m.is_response() {
                    wire::rcode_name(m.rcode())
                } else {
                    String::new()
                },
                m.questions
                    .iter()
                    .map(wire::show_question)
                    .collect::<Vec<_>>()
                    .join("; "),
                m.answers
                    .iter()
                    .map(wire::show_record)
                    .collect::<Vec<_>>()
                    .join("; "),
            ]),
            Err(e) => t.add_row(vec![
                time,
                (p.index + 1).to_string(),
                way,
                String::new(),
                String::new(),
                String::new(),
                format!("not DNS: {e}"),
                String::new(),
            ]),
        };
    }
    for col in [0usize, 1] {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = vec!["the datagrams decoded as DNS (ports: client ⇄ responder)".to_owned()];
    out.extend(t.to_string().lines().map(str::to_owned));
    // The first exchange byte by byte.
    let first_q = msgs
        .iter()
        .find(|(p, m)| p.dir == Dir::ToServer && m.is_ok());
    if let Some((qp, Ok(q))) = first_q {
        out.push(String::new());
        out.push(format!(
            "the {} query, {} bytes: header | name | type class",
            q.questions.first().map_or("?", |x| x.name.as_str()),
            qp.len
        ));
        out.push(format!("  {}", wire::show_bytes(&qp.payload)));
        let answer = msgs.iter().find(|(p, m)| {
            p.dir == Dir::ToClient && p.dst == qp.src && m.as_ref().is_ok_and(|m| m.id == q.id)
        });
        if let Some((ap, _)) = answer {
            out.push(format!(
                "its answer, {} bytes: header | name | type class | name (pointer) type class TTL length address",
                ap.len
            ));
            out.push(format!("  {}", wire::show_bytes(&ap.payload)));
        }
    }
    out
}
