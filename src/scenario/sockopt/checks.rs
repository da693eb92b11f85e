//! `sockopt`: getsockopt over the option table of the classic texts, on a TCP and a UDP
//! socket; then IP_TTL and IP_TOS set to distinctive values and found again in the captured
//! IP headers.
//!
//! ```c
//! tcp = socket(AF_INET, SOCK_STREAM, 0);    udp = socket(AF_INET, SOCK_DGRAM, 0);
//! for (each option of the table) {          /* SO_TYPE … TCP_KEEPIDLE */
//!     getsockopt(tcp, level, name, &v, &len);
//!     setsockopt(tcp, level, name, &v, len);   /* the same value back: read-only? */
//!     getsockopt(udp, …); setsockopt(udp, …);
//! }
//! /* server */                          /* client */
//! l = socket(SOCK_STREAM); bind; listen c = socket(SOCK_STREAM);
//! u = socket(SOCK_DGRAM); bind          setsockopt(c, IPPROTO_IP, IP_TTL, 42);
//! conn = accept(l);                     setsockopt(c, IPPROTO_IP, IP_TOS, IPTOS_LOWDELAY);
//! read(conn, …);                        connect(c, server); write(c, "ttl 42", 6);
//! getsockopt(conn, IP_TTL), (IP_TOS)    d = socket(SOCK_DGRAM);
//! recvfrom(u, …);                       setsockopt(d, IP_TTL, 3); setsockopt(d, IP_TOS, 0xb8);
//!                                       sendto(d, "ttl 3", 5, 0, server_udp);
//! ```

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use socket2::{Domain, Type};

use super::sockopt_calls::{self as so, event_value, opt_args, Opt, Value};
use super::{any_port, bound, read_exactly, Peer, Scenario};
use crate::analyse::flags as f;
use crate::decode::decode;
use crate::decode::options::{options, TcpOption};
use crate::live::checks::Check;
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::{LiveError, Role, Sock, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "sockopt",
    lesson: "lesson 7: socket options",
    summary: "getsockopt over the classic option table on TCP and UDP; IP_TTL/IP_TOS found in the IP header",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
The table reads every option of the classic texts' list on a fresh TCP socket and a fresh UDP
socket, then writes the same value back: a refusal shows which options are read-only.
- SO_TYPE says what the socket is (1 = SOCK_STREAM, 2 = SOCK_DGRAM); SO_ERROR returns (and
  clears) the socket's pending error. Both are read-only: setsockopt() fails with ENOPROTOOPT.
- Every flag starts off; the multicast options start at TTL 1, loop on, interface 0.0.0.0
  (any), even on a TCP socket, where setting the multicast TTL or interface fails (EINVAL).
- The IPPROTO_TCP options do not exist on a UDP socket: getsockopt() fails (EOPNOTSUPP on
  Linux; POSIX names ENOPROTOOPT). The buffers differ: a TCP socket starts at tcp_wmem[1] /
  tcp_rmem[1], a UDP socket at wmem_default / rmem_default (see `sockscope run buffers` for
  what setting them does).
- TCP_MAXSEG is 536 (the default MSS of RFC 1122) until the connection exists; afterwards it
  is the segment size the kernel now uses: the MSS the peer announced, minus the 12 bytes of
  the timestamp option each segment carries, and (Linux) never more than half the largest
  window the peer has offered. On lo: 32741, not the textbook MTU − 40.

On the wire: the client's TCP socket sets IP_TTL 42 and IP_TOS 0x10 (IPTOS_LOWDELAY), its UDP
socket IP_TTL 3 and IP_TOS 0xb8 (DSCP EF). Every packet those sockets send carries exactly
these values in its IP header; the server's packets carry the defaults its getsockopt()
reports (TTL 64 from net.ipv4.ip_default_ttl, TOS 0). TTL and TOS belong to a socket, not to
the connection: each end sets its own, and the two directions of one connection differ. (The
TOS byte's low two bits are ECN, which TCP manages itself; the checks compare the upper six,
the DSCP.)";

/// The option table of the classic texts, in their order.
const TABLE: [Opt; 17] = [
    so::SO_TYPE,
    so::SO_SNDBUF,
    so::SO_RCVBUF,
    so::SO_REUSEADDR,
    so::SO_KEEPALIVE,
    so::SO_BROADCAST,
    so::SO_DONTROUTE,
    so::SO_OOBINLINE,
    so::SO_ERROR,
    so::IP_TOS,
    so::IP_TTL,
    so::IP_MULTICAST_TTL,
    so::IP_MULTICAST_LOOP,
    so::IP_MULTICAST_IF,
    so::TCP_NODELAY,
    so::TCP_MAXSEG,
    so::TCP_KEEPIDLE,
];

/// What the client's sockets set, and find again on the wire.
const TCP_TTL: i64 = 42;
const TCP_TOS: i64 = 0x10; // IPTOS_LOWDELAY
const UDP_TTL: i64 = 3;
const UDP_TOS: i64 = 0xb8; // DSCP EF (46) << 2
const TCP_MSG: &[u8] = b"ttl 42";
const UDP_MSG: &[u8] = b"ttl 3";
/// TCP_MAXSEG before a connection: TCP_MSS_DEFAULT.
const DEFAULT_MSS: i64 = 536;
/// Bytes of the timestamp option (10, padded to 12) in every segment after the handshake.
const TS_OPTION: i64 = 12;

fn run(t: &Tracer) -> Result<(), LiveError> {
    t.mark(
        "sockopt/table",
        "the option table: getsockopt, then setsockopt of the same value, on a TCP and a UDP socket",
    );
    let tcp = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    let udp = t.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
    for s in [&tcp, &udp] {
        for o in &TABLE {
            if let Ok(v) = so::get(t, s, o) {
                let _ = so::set(t, s, o, v);
            }
        }
    }
    t.close(tcp)?;
    t.close(udp)?;

    t.mark(
        "sockopt/wire",
        "IP_TTL and IP_TOS: set on the client's sockets, then found in the IP headers",
    );
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 1)?;
    let server = bound(&listener)?;
    let dgram = t.socket(Role::Server, Domain::IPV4, Type::DGRAM)?;
    t.bind(&dgram, any_port())?;
    let server_udp = bound(&dgram)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let c = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        so::get_ok(tc, &c, &so::TCP_MAXSEG)?;
        set_and_read(tc, &c, &so::IP_TTL, TCP_TTL)?;
        set_and_read(tc, &c, &so::IP_TOS, TCP_TOS)?;
        tc.connect(&c, server)?;
        // Before any data: the peer's largest window so far is the SYN+ACK's.
        so::get_ok(tc, &c, &so::TCP_MAXSEG)?;
        tc.write(&c, TCP_MSG)?;
        tc.close(c)?;
        let d = tc.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
        set_and_read(tc, &d, &so::IP_TTL, UDP_TTL)?;
        set_and_read(tc, &d, &so::IP_TOS, UDP_TOS)?;
        tc.sendto(&d, UDP_MSG, server_udp)?;
        tc.close(d)?;
        Ok(())
    });

    client.go();
    let conn = t.accept(&listener)?;
    read_exactly(t, &conn, TCP_MSG.len())?;
    so::get_ok(t, &conn, &so::IP_TTL)?;
    so::get_ok(t, &conn, &so::IP_TOS)?;
    let mut buf = [0u8; 16];
    t.read(&conn, &mut buf)?;
    t.close(conn)?;
    t.close(listener)?;
    let mut buf = [0u8; 64];
    t.recvfrom(&dgram, &mut buf)?;
    t.close(dgram)?;
    client.join()
}

fn set_and_read(t: &Tracer, s: &Sock, o: &Opt, v: i64) -> Result<(), LiveError> {
    so::set_ok(t, s, o, v)?;
    let got = so::get_ok(t, s, o)?;
    if got != v {
        return Err(LiveError::Scenario(format!(
            "{} reads back {got} after setting {v}",
            o.opt_name
        )));
    }
    Ok(())
}

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
struct Cell {
    got: Option<Result<Value, String>>,
    set: Option<Result<(), String>>,
}

/// The table from the events: one row per option, a cell per socket (TCP, UDP).
fn table(v: &View) -> Vec<(&'static Opt, [Cell; 2])> {
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

fn cell_text(o: &Opt, c: &Cell) -> String {
    match (&c.got, &c.set) {
        (None, _) => "-".into(),
        (Some(Err(e)), _) => e.clone(),
        (Some(Ok(v)), Some(Err(e))) => format!("{} (set: {e})", show_value(o, *v)),
        (Some(Ok(v)), _) => show_value(o, *v),
    }
}

/// Read-only: every attempt to set it back failed.
fn read_only(cells: &[Cell; 2]) -> Option<bool> {
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

fn checks(v: &View) -> Vec<Check> {
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
fn ttl_tos(v: &View, p: &Pkt) -> Option<(u8, u8)> {
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
fn reported(v: &View, role: Role, o: &Opt, span: (i128, i128), on: Option<&Event>) -> Option<i64> {
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
fn packets<'v>(v: &'v View, proto: Proto, dir: Dir) -> Vec<&'v Pkt> {
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
    let tcp_ttl = reported(v, Role::Client, &so::IP_TTL, span, client_tcp);
    let tcp_tos = reported(v, Role::Client, &so::IP_TOS, span, client_tcp);
    let mut tcp_check = carries(
        v,
        &packets(v, Proto::Tcp, Dir::ToServer),
        TCP_TTL,
        TCP_TOS,
        format!(
            "every TCP packet of the client carries the IP_TTL {TCP_TTL} and IP_TOS {TCP_TOS:#04x} it set (getsockopt read back {} and {})",
            tcp_ttl.map_or("?".into(), |n| n.to_string()),
            tcp_tos.map_or("?".into(), |n| format!("{n:#04x}"))
        ),
    );
    tcp_check.ok &= tcp_ttl == Some(TCP_TTL) && tcp_tos == Some(TCP_TOS);
    out.push(tcp_check);
    let udp_ttl = reported(v, Role::Client, &so::IP_TTL, span, client_udp);
    let udp_tos = reported(v, Role::Client, &so::IP_TOS, span, client_udp);
    let mut udp_check = carries(
        v,
        &packets(v, Proto::Udp, Dir::ToServer),
        UDP_TTL,
        UDP_TOS,
        format!(
            "the UDP datagram carries the IP_TTL {UDP_TTL} and IP_TOS {UDP_TOS:#04x} its socket set (getsockopt read back {} and {})",
            udp_ttl.map_or("?".into(), |n| n.to_string()),
            udp_tos.map_or("?".into(), |n| format!("{n:#04x}"))
        ),
    );
    udp_check.ok &= udp_ttl == Some(UDP_TTL) && udp_tos == Some(UDP_TOS);
    out.push(udp_check);
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

fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    let rows = table(v);
    if !rows.is_empty() {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header(vec![
            "level",
            "option",
            "TCP socket",
            "UDP socket",
            "read-only",
        ]);
        for (o, cells) in &rows {
            t.add_row(vec![
                o.level_name.to_owned(),
                o.opt_name.to_owned(),
                cell_text(o, &cells[0]),
                cell_text(o, &cells[1]),
                match read_only(cells) {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "-".into(),
                },
            ]);
        }
        for col in [2usize, 3] {
            if let Some(c) = t.column_mut(col) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push("getsockopt on a new socket (and setting the same value back)".into());
        out.extend(t.to_string().lines().map(str::to_owned));
        out.push(String::new());
    }
    if let Some(span) = v.phase("sockopt/wire") {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header(vec![
            "socket",
            "IP_TTL (getsockopt)",
            "TTL on the wire",
            "IP_TOS (getsockopt)",
            "TOS on the wire",
            "packets",
        ]);
        let client_tcp = v.calls(Role::Client, "connect", span).find(|e| e.ok());
        let client_udp = v.calls(Role::Client, "sendto", span).find(|e| e.ok());
        let lines: [(&str, Role, Option<&Event>, Proto, Dir); 3] = [
            (
                "client TCP",
                Role::Client,
                client_tcp,
                Proto::Tcp,
                Dir::ToServer,
            ),
            (
                "server TCP (accepted)",
                Role::Server,
                None,
                Proto::Tcp,
                Dir::ToClient,
            ),
            (
                "client UDP",
                Role::Client,
                client_udp,
                Proto::Udp,
                Dir::ToServer,
            ),
        ];
        for (name, role, fd, proto, dir) in lines {
            let ps = packets(v, proto, dir);
            let mut seen: Vec<(u8, u8)> = ps.iter().filter_map(|p| ttl_tos(v, p)).collect();
            seen.sort_unstable();
            seen.dedup();
            let ttls: Vec<String> = seen.iter().map(|(l, _)| l.to_string()).collect();
            let toss: Vec<String> = seen.iter().map(|(_, s)| format!("{s:#04x}")).collect();
            t.add_row(vec![
                name.to_owned(),
                reported(v, role, &so::IP_TTL, span, fd).map_or("?".into(), |n| n.to_string()),
                dedup(ttls).join(", "),
                reported(v, role, &so::IP_TOS, span, fd)
                    .map_or("?".into(), |n| format!("{n:#04x}")),
                dedup(toss).join(", "),
                ps.len().to_string(),
            ]);
        }
        for col in 1usize..6 {
            if let Some(c) = t.column_mut(col) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push("IP_TTL / IP_TOS: what getsockopt says and what the IP headers carry".into());
        out.extend(t.to_string().lines().map(str::to_owned));
    }
    out
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
