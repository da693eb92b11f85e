//! What a `sockopt` run must show: the option table as the kernel answered it, and the TTL and
//! TOS the sockets set in the IP headers of their packets.

use socket2::Type;

use super::calls::{self as so, event_value, opt_args, Opt, Value};
use super::{TABLE, TCP_TOS, TCP_TTL, UDP_TOS, UDP_TTL};
use crate::analyse::flags as f;
use crate::decode::decode;
use crate::decode::options::{options, TcpOption};
use crate::live::checks::Check;
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::{Role, View};

/// TCP_MAXSEG before a connection: TCP_MSS_DEFAULT.
const DEFAULT_MSS: i64 = 536;
/// Bytes of the timestamp option (10, padded to 12) in every segment after the handshake.
const TS_OPTION: i64 = 12;

/// The socket type an fd had in `span`: from the `socket()` event that returned it.
fn kind_of(v: &View, span: (i128, i128), fd: i32) -> Option<Type> {
    v.run
        .events
        .iter()
        .filter(|e| e.call == "socket" && e.start >= span.0 && e.start < span.1)
        .rfind(|e| e.ret == Some(fd as i64))
        .map(|e| {
            if e.args.contains("SOCK_DGRAM") {
                Type::DGRAM
            } else {
                Type::STREAM
            }
        })
}

/// One socket's result for one option: what getsockopt said, and how setting it back went.
#[derive(Debug, Clone, Default)]
pub(super) struct Cell {
    got: Option<Result<Value, String>>,
    set: Option<Result<(), String>>,
}

/// The table from the events: one row per option, a cell per socket (TCP, UDP).
pub(super) fn table(v: &View) -> Vec<(&'static Opt, [Cell; 2])> {
    let Some(span) = v.phase("sockopt/table") else {
        return Vec::new();
    };
    let mut rows: Vec<(&'static Opt, [Cell; 2])> = TABLE
        .iter()
        .map(|o| (o, [Cell::default(), Cell::default()]))
        .collect();
    for e in v.run.events.iter().filter(|e| {
        e.start >= span.0 && e.start < span.1 && (e.call == "getsockopt" || e.call == "setsockopt")
    }) {
        let Some(fd) = e.fd else { continue };
        let col = match kind_of(v, span, fd) {
            Some(t) if t == Type::DGRAM => 1,
            Some(_) => 0,
            None => continue,
        };
        let parts: Vec<&str> = e.args.split(", ").collect();
        let Some(row) = rows.iter_mut().find(|(o, _)| {
            parts.get(1) == Some(&o.level_name) && parts.get(2) == Some(&o.opt_name)
        }) else {
            continue;
        };
        let cell = &mut row.1[col];
        let err = || e.errno.clone().unwrap_or_else(|| "?".into());
        if e.call == "getsockopt" {
            cell.got = Some(if e.ok() {
                event_value(e).ok_or_else(|| "?".to_owned())
            } else {
                Err(err())
            });
        } else {
            cell.set = Some(if e.ok() { Ok(()) } else { Err(err()) });
        }
    }
    rows
}

fn show_value(o: &Opt, v: Value) -> String {
    match (o.opt_name, v) {
        ("SO_TYPE", Value::Int(1)) => "1 (SOCK_STREAM)".into(),
        ("SO_TYPE", Value::Int(2)) => "2 (SOCK_DGRAM)".into(),
        ("IP_TOS", Value::Int(n)) => format!("{n:#04x}"),
        _ => v.to_string(),
    }
}

pub(super) fn cell_text(o: &Opt, c: &Cell) -> String {
    match (&c.got, &c.set) {
        (None, _) => "-".into(),
        (Some(Err(e)), _) => e.clone(),
        (Some(Ok(v)), Some(Err(e))) => format!("{} (set: {e})", show_value(o, *v)),
        (Some(Ok(v)), _) => show_value(o, *v),
    }
}

/// Read-only: every attempt to set it back failed.
pub(super) fn read_only(cells: &[Cell; 2]) -> Option<bool> {
    let sets: Vec<&Result<(), String>> = cells.iter().filter_map(|c| c.set.as_ref()).collect();
    if sets.is_empty() {
        None
    } else {
        Some(sets.iter().all(|r| r.is_err()))
    }
}

fn get_of(
    rows: &[(&'static Opt, [Cell; 2])],
    name: &str,
    col: usize,
) -> Option<Result<Value, String>> {
    rows.iter()
        .find(|(o, _)| o.opt_name == name)
        .and_then(|(_, c)| c[col].got.clone())
}

fn cell(rows: &[(&'static Opt, [Cell; 2])], name: &str, col: usize) -> Cell {
    rows.iter()
        .find(|(o, _)| o.opt_name == name)
        .map(|(_, c)| c[col].clone())
        .unwrap_or_default()
}

fn set_of(
    rows: &[(&'static Opt, [Cell; 2])],
    name: &str,
    col: usize,
) -> Option<Result<(), String>> {
    rows.iter()
        .find(|(o, _)| o.opt_name == name)
        .and_then(|(_, c)| c[col].set.clone())
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let mut out = table_checks(v);
    out.extend(wire_checks(v));
    out
}

fn table_checks(v: &View) -> Vec<Check> {
    let rows = table(v);
    if rows.iter().all(|(_, c)| c[0].got.is_none()) {
        return vec![Check::missing(
            "the option table was read",
            "no getsockopt events in the table phase",
        )];
    }
    let mut out = Vec::new();
    let tcp_ok = rows
        .iter()
        .filter(|(_, c)| matches!(c[0].got, Some(Ok(_))))
        .count();
    out.push(Check::new(
        tcp_ok == TABLE.len(),
        format!(
            "getsockopt() reads all {} options of the table on a TCP socket",
            TABLE.len()
        ),
        format!("{tcp_ok} read"),
    ));
    let (t, u) = (get_of(&rows, "SO_TYPE", 0), get_of(&rows, "SO_TYPE", 1));
    out.push(Check::new(
        t == Some(Ok(Value::Int(1))) && u == Some(Ok(Value::Int(2))),
        "SO_TYPE says SOCK_STREAM (1) on the TCP socket, SOCK_DGRAM (2) on the UDP socket",
        format!(
            "TCP {}, UDP {}",
            cell_text(&so::SO_TYPE, &cell(&rows, "SO_TYPE", 0)),
            cell_text(&so::SO_TYPE, &cell(&rows, "SO_TYPE", 1))
        ),
    ));
    let enoprotoopt =
        |r: &Option<Result<(), String>>| matches!(r, Some(Err(e)) if e == "ENOPROTOOPT");
    let ro: Vec<String> = ["SO_TYPE", "SO_ERROR"]
        .iter()
        .flat_map(|n| (0..2).map(move |col| (n, col)))
        .map(|(n, col)| {
            let r = match set_of(&rows, n, col) {
                Some(Ok(())) => "set".to_owned(),
                Some(Err(e)) => e,
                None => "not tried".into(),
            };
            format!("{n} on {}: {r}", ["TCP", "UDP"][col])
        })
        .collect();
    out.push(Check::new(
        ["SO_TYPE", "SO_ERROR"]
            .iter()
            .all(|n| (0..2).all(|col| enoprotoopt(&set_of(&rows, n, col)))),
        "SO_TYPE and SO_ERROR are read-only: setsockopt() fails with ENOPROTOOPT",
        ro.join(", "),
    ));
    let writable: Vec<&str> = rows
        .iter()
        .filter(|(o, c)| {
            !matches!(o.opt_name, "SO_TYPE" | "SO_ERROR") && read_only(c) == Some(true)
        })
        .map(|(o, _)| o.opt_name)
        .collect();
    out.push(Check::new(
        writable.is_empty(),
        "every other option can be set (on at least one of the two sockets)",
        if writable.is_empty() {
            format!("{} options set back to their value", TABLE.len() - 2)
        } else {
            format!("refused everywhere: {}", writable.join(", "))
        },
    ));
    let tcp_on_udp: Vec<String> = rows
        .iter()
        .filter(|(o, _)| o.level_name == "IPPROTO_TCP")
        .map(|(o, c)| format!("{} {}", o.opt_name, cell_text(o, &c[1])))
        .collect();
    out.push(Check::new(
        rows.iter()
            .filter(|(o, _)| o.level_name == "IPPROTO_TCP")
            .all(|(_, c)| matches!(&c[1].got, Some(Err(e)) if e == "ENOPROTOOPT" || e == "EOPNOTSUPP")),
        "the IPPROTO_TCP options do not exist on a UDP socket: getsockopt() fails (ENOPROTOOPT or EOPNOTSUPP)",
        tcp_on_udp.join(", "),
    ));
    let flags: Vec<(&str, usize)> = [
        "SO_REUSEADDR",
        "SO_KEEPALIVE",
        "SO_BROADCAST",
        "SO_DONTROUTE",
        "SO_OOBINLINE",
        "SO_ERROR",
    ]
    .iter()
    .flat_map(|n| [(*n, 0), (*n, 1)])
    .chain([("TCP_NODELAY", 0)])
    .collect();
    let on: Vec<String> = flags
        .iter()
        .filter(|&&(n, col)| get_of(&rows, n, col) != Some(Ok(Value::Int(0))))
        .map(|(n, col)| format!("{n} on {}", ["TCP", "UDP"][*col]))
        .collect();
    out.push(Check::new(
        on.is_empty(),
        "a new socket has every flag off and no pending error (SO_REUSEADDR … TCP_NODELAY, SO_ERROR = 0)",
        if on.is_empty() {
            format!("{} values read, all 0", flags.len())
        } else {
            format!("not 0: {}", on.join(", "))
        },
    ));
    let mc = |n: &str, col: usize| get_of(&rows, n, col);
    let mcast_ok = (0..2).all(|col| {
        mc("IP_MULTICAST_TTL", col) == Some(Ok(Value::Int(1)))
            && mc("IP_MULTICAST_LOOP", col) == Some(Ok(Value::Int(1)))
            && mc("IP_MULTICAST_IF", col) == Some(Ok(Value::Addr(std::net::Ipv4Addr::UNSPECIFIED)))
    });
    let einval = |n: &str| matches!(set_of(&rows, n, 0), Some(Err(e)) if e == "EINVAL");
    out.push(Check::new(
        mcast_ok && einval("IP_MULTICAST_TTL") && einval("IP_MULTICAST_IF"),
        "multicast defaults (TTL 1, loop on, interface 0.0.0.0) read on both sockets; a TCP socket refuses to set the multicast TTL and interface (EINVAL)",
        format!(
            "TCP: TTL {}, IF {}; UDP: TTL {}, IF {}",
            rows.iter().find(|(o, _)| o.opt_name == "IP_MULTICAST_TTL").map_or("?".into(), |(o, c)| cell_text(o, &c[0])),
            rows.iter().find(|(o, _)| o.opt_name == "IP_MULTICAST_IF").map_or("?".into(), |(o, c)| cell_text(o, &c[0])),
            rows.iter().find(|(o, _)| o.opt_name == "IP_MULTICAST_TTL").map_or("?".into(), |(o, c)| cell_text(o, &c[1])),
            rows.iter().find(|(o, _)| o.opt_name == "IP_MULTICAST_IF").map_or("?".into(), |(o, c)| cell_text(o, &c[1])),
        ),
    ));
    out
}

/// TTL and TOS of a captured packet.
pub(super) fn ttl_tos(v: &View, p: &Pkt) -> Option<(u8, u8)> {
    let frame = v.run.frame(p.index)?;
    decode(&frame).ip.map(|ip| (ip.ttl, ip.tos))
}

/// The life of `role`'s descriptor `fd` around time `at`: from the `socket()` that returned
/// it to its `close()` (descriptor numbers are reused).
fn life(v: &View, role: Role, fd: i32, at: i128) -> (i128, i128) {
    let mine = |e: &&Event| e.role == role && e.start <= at;
    let start = v
        .run
        .events
        .iter()
        .filter(mine)
        .filter(|e| e.call == "socket" && e.ret == Some(fd as i64))
        .map(|e| e.start)
        .next_back()
        .unwrap_or(i128::MIN);
    let end = v
        .run
        .events
        .iter()
        .filter(|e| e.role == role && e.start >= at && e.call == "close" && e.fd == Some(fd))
        .map(|e| e.start)
        .next()
        .unwrap_or(i128::MAX);
    (start, end.saturating_add(1))
}

/// The value the last `getsockopt` of `o` on the socket of event `on` reported (or, without
/// `on`, on any socket of `role` in `span`).
pub(super) fn reported(
    v: &View,
    role: Role,
    o: &Opt,
    span: (i128, i128),
    on: Option<&Event>,
) -> Option<i64> {
    let (span, fd) = match on.and_then(|e| e.fd.map(|fd| (e, fd))) {
        Some((e, fd)) => (life(v, role, fd, e.start), Some(fd)),
        None => (span, None),
    };
    v.calls(role, "getsockopt", span)
        .filter(|e| e.args.ends_with(&opt_args(o)) && e.ok() && (fd.is_none() || e.fd == fd))
        .filter_map(event_value)
        .filter_map(|v| match v {
            Value::Int(n) => Some(n),
            Value::Addr(_) => None,
        })
        .last()
}

/// Packets of `proto` going `dir`.
pub(super) fn packets<'v>(v: &'v View, proto: Proto, dir: Dir) -> Vec<&'v Pkt> {
    v.pkts
        .iter()
        .filter(|p| p.proto == proto && p.dir == dir)
        .collect()
}

/// Checks that every packet in `ps` carries `ttl` and the DSCP of `tos`.
fn carries(v: &View, ps: &[&Pkt], ttl: i64, tos: i64, what: String) -> Check {
    let seen: Vec<(u8, u8)> = ps.iter().filter_map(|p| ttl_tos(v, p)).collect();
    let mut distinct = seen.clone();
    distinct.sort_unstable();
    distinct.dedup();
    Check::new(
        !seen.is_empty()
            && seen.len() == ps.len()
            && seen
                .iter()
                .all(|&(l, s)| l as i64 == ttl && (s & 0xfc) as i64 == tos & 0xfc),
        what,
        format!(
            "{} packet(s), IP header TTL/TOS: {}",
            ps.len(),
            distinct
                .iter()
                .map(|(l, s)| format!("{l}/{s:#04x}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

fn wire_checks(v: &View) -> Vec<Check> {
    let Some(span) = v.phase("sockopt/wire") else {
        return vec![Check::missing("the wire phase ran", "no sockopt/wire mark")];
    };
    let mut out = Vec::new();
    let client_tcp = v.calls(Role::Client, "connect", span).find(|e| e.ok());
    let client_udp = v.calls(Role::Client, "sendto", span).find(|e| e.ok());
    // The client's packets of `proto` carry the TTL and TOS its socket set, and getsockopt read
    // them back.
    let sent_as_set = |on: Option<&Event>, proto, ttl: i64, tos: i64, lead: &str, setter: &str| {
        let got_ttl = reported(v, Role::Client, &so::IP_TTL, span, on);
        let got_tos = reported(v, Role::Client, &so::IP_TOS, span, on);
        let mut check = carries(
            v,
            &packets(v, proto, Dir::ToServer),
            ttl,
            tos,
            format!(
                "{lead} carries the IP_TTL {ttl} and IP_TOS {tos:#04x} {setter} set (getsockopt read back {} and {})",
                got_ttl.map_or("?".into(), |n| n.to_string()),
                got_tos.map_or("?".into(), |n| format!("{n:#04x}"))
            ),
        );
        check.ok &= got_ttl == Some(ttl) && got_tos == Some(tos);
        check
    };
    out.push(sent_as_set(
        client_tcp,
        Proto::Tcp,
        TCP_TTL,
        TCP_TOS,
        "every TCP packet of the client",
        "it",
    ));
    out.push(sent_as_set(
        client_udp,
        Proto::Udp,
        UDP_TTL,
        UDP_TOS,
        "the UDP datagram",
        "its socket",
    ));
    let (s_ttl, s_tos) = (
        reported(v, Role::Server, &so::IP_TTL, span, None),
        reported(v, Role::Server, &so::IP_TOS, span, None),
    );
    out.push(match (s_ttl, s_tos) {
        (Some(ttl), Some(tos)) => carries(
            v,
            &packets(v, Proto::Tcp, Dir::ToClient),
            ttl,
            tos,
            format!("the server's packets carry the defaults its accepted socket reports (IP_TTL {ttl}, IP_TOS {tos:#04x}): each socket sets its own"),
        ),
        _ => Check::missing(
            "the server's packets carry its defaults",
            "no getsockopt(IP_TTL/IP_TOS) by the server",
        ),
    });
    out.push(maxseg_check(v, span, client_tcp));
    out
}

/// The MSS option of a SYN segment.
fn mss_option(p: &Pkt) -> Option<u16> {
    options(&p.tcp.as_ref()?.options).find_map(|o| match o {
        Ok(TcpOption::Mss(m)) => Some(m),
        _ => None,
    })
}

/// TCP_MAXSEG before and after connect(): 536, then min(peer MSS − timestamps, half the peer's
/// window).
fn maxseg_check(v: &View, span: (i128, i128), connect: Option<&Event>) -> Check {
    let what = format!("TCP_MAXSEG: {DEFAULT_MSS} before connect(); after, the peer's MSS option − {TS_OPTION} (timestamps), at most half the peer's SYN+ACK window");
    let Some(connect) = connect else {
        return Check::missing(what, "no connect() by the client");
    };
    let life = life(v, Role::Client, connect.fd.unwrap_or(-1), connect.start);
    let reads: Vec<&Event> = v
        .calls(
            Role::Client,
            "getsockopt",
            (life.0.max(span.0), life.1.min(span.1)),
        )
        .filter(|e| e.args.ends_with(&opt_args(&so::TCP_MAXSEG)) && e.ok() && e.fd == connect.fd)
        .collect();
    let synack = v.pkts.iter().find(|p| {
        p.dir == Dir::ToClient
            && p.tcp
                .as_ref()
                .is_some_and(|t| t.has(f::SYN) && t.has(f::ACK))
    });
    let (Some(before), Some(after), Some(sa)) = (
        reads.first().and_then(|e| event_value(e)),
        reads.get(1).and_then(|e| event_value(e)),
        synack,
    ) else {
        return Check::missing(
            what,
            "the two getsockopt(TCP_MAXSEG) or the SYN+ACK are missing",
        );
    };
    let (Some(mss), Some(win)) = (mss_option(sa), sa.tcp.as_ref().map(|t| t.win)) else {
        return Check::missing(what, "the SYN+ACK has no MSS option");
    };
    let expect = (mss as i64 - TS_OPTION).min(win as i64 / 2);
    Check::new(
        before == Value::Int(DEFAULT_MSS) && after == Value::Int(expect),
        what,
        format!(
            "{before} → {after}; SYN+ACK: MSS {mss}, window {win} → min({}, {}) = {expect}",
            mss as i64 - TS_OPTION,
            win / 2
        ),
    )
}
