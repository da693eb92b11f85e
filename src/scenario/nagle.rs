//! `nagle`: the same small-write workload with Nagle's algorithm (the default) and with
//! TCP_NODELAY, one after the other.
//!
//! Per connection: the server greets, then 3 requests each sent as write(4) + write(8) and
//! answered with 2 bytes (the write-write-read pattern that meets the peer's delayed ACK), then
//! 16 writes of 1 byte answered with 4 bytes. Only robust inequalities are checked.

use std::fmt::Write;

use socket2::{Domain, Type};

use super::{any_port, bound, read_exactly, Peer, Scenario};
use crate::live::checks::Check;
use crate::live::model::Dir;
use crate::live::{LiveError, Role, Sock, SockOpt, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "nagle",
    lesson: "lesson 5: small writes",
    summary:
        "Nagle's algorithm vs TCP_NODELAY: write-write-read requests and a burst of 1-byte writes",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
Nagle's algorithm (on by default) lets at most one small segment be unacknowledged: a small
write while one is in flight waits in the kernel until the ACK comes, and is then sent with
whatever else was written meanwhile.

Requests: each is write(4 bytes) + write(8 bytes) and then a read of the reply. With Nagle,
the 4 bytes leave at once; the 8 wait for their ACK. But the server will not answer before it
has the whole request, and it delays its ACK hoping to send it with the answer (Linux's
delayed ACK waits from 40 ms up to 200 ms, bounded by the round-trip time; on loopback, whose
RTT is microseconds, that is the 40 ms floor). Both wait: about 40 ms per request, and the
checks find that wait on the wire: write(8) returns at once, its bytes leave only when the
bare ACK of the 4 bytes comes, 40-odd ms after them. With TCP_NODELAY both writes leave at
once, each during its write(), and a request takes well under a millisecond. (The server
sets TCP_QUICKACK=0 before each read, as Linux does by itself once a connection looks
interactive, so every request sees it.)

Burst: 16 writes of 1 byte. With Nagle the first byte leaves and the next 15 gather until its
ACK comes: few segments, many bytes each. With TCP_NODELAY every write is its own 1-byte
segment: 1 byte of data under at least 40 bytes of headers (20 IPv4 + 20 TCP, a 41-byte
packet); these segments also carry the timestamp option (12 bytes), so 52 bytes of headers
in a 53-byte IP packet, 67 bytes with lo's Ethernet header.

Cure the request pattern with one write per request (writev, or building the message first),
not by turning Nagle off; TCP_NODELAY suits programs that must send each small message now.";

const REQUESTS: usize = 3;
const BURST: usize = 16;
const HEAD: &[u8] = b"LEN8";
const BODY: &[u8] = b"request!";
const GREETING: &[u8] = b"hi";
const ANSWER: &[u8] = b"ok";
const DONE: &[u8] = b"done";

/// The two ways the same client runs.
const MODES: [(&str, &str, bool); 2] = [
    ("nagle", "Nagle on (default)", false),
    ("nodelay", "TCP_NODELAY", true),
];

fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        for (key, label, nodelay) in MODES {
            turn.wait()?;
            let s = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
            if nodelay {
                tc.setsockopt(&s, SockOpt::TcpNodelay(true))?;
            }
            tc.connect(&s, server)?;
            read_exactly(tc, &s, GREETING.len())?;
            tc.mark(
                &format!("{key}/requests"),
                &format!(
                    "{label}: {REQUESTS} requests, each write(4) + write(8), then read the answer"
                ),
            );
            for _ in 0..REQUESTS {
                tc.write(&s, HEAD)?;
                tc.write(&s, BODY)?;
                read_exactly(tc, &s, ANSWER.len())?;
            }
            tc.mark(
                &format!("{key}/burst"),
                &format!("{label}: {BURST} writes of 1 byte, then read the answer"),
            );
            for _ in 0..BURST {
                tc.write(&s, b"x")?;
            }
            read_exactly(tc, &s, DONE.len())?;
            tc.close(s)?;
        }
        Ok(())
    });

    for _ in MODES {
        client.go();
        let conn = t.accept(&listener)?;
        serve(t, &conn)?;
        t.close(conn)?;
    }
    t.close(listener)?;
    client.join()
}

fn serve(t: &Tracer, conn: &Sock) -> Result<(), LiveError> {
    t.setsockopt(conn, SockOpt::TcpQuickack(false))?;
    t.write(conn, GREETING)?;
    for _ in 0..REQUESTS {
        t.setsockopt(conn, SockOpt::TcpQuickack(false))?;
        read_exactly(t, conn, HEAD.len() + BODY.len())?;
        t.write(conn, ANSWER)?;
    }
    t.setsockopt(conn, SockOpt::TcpQuickack(false))?;
    read_exactly(t, conn, BURST)?;
    t.write(conn, DONE)?;
    let mut buf = [0u8; 16];
    t.read(conn, &mut buf)?;
    Ok(())
}

/// What one mode's run measured.
struct Measured {
    conn: usize,
    /// First request write to the last answer read.
    requests_ns: i128,
    burst_segments: usize,
    burst_bytes: u64,
    /// First burst write to the answer read.
    burst_ns: i128,
}

fn measure(v: &View, key: &str) -> Option<Measured> {
    let req = v.phase(&format!("{key}/requests"))?;
    let burst = v.phase(&format!("{key}/burst"))?;
    let conn = v
        .run
        .events
        .iter()
        .rfind(|e| e.role == Role::Client && e.call == "connect" && e.start < req.0)
        .and_then(|e| v.conn_of(e))?;
    let first_write = v.calls(Role::Client, "write", req).next()?.start;
    let last_read = v.calls(Role::Client, "read", req).last()?.end;
    let burst_start = v.calls(Role::Client, "write", burst).next()?.start;
    let burst_end = v.calls(Role::Client, "read", burst).last()?.end;
    let segs: Vec<u32> = v
        .conn_pkts(conn)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0 && p.ts >= burst_start && p.ts <= burst_end)
        .map(|p| p.len)
        .collect();
    Some(Measured {
        conn,
        requests_ns: last_read - first_write,
        burst_segments: segs.len(),
        burst_bytes: segs.iter().map(|&l| l as u64).sum(),
        burst_ns: burst_end - burst_start,
    })
}

/// Below Linux's shortest delayed ACK (TCP_DELACK_MIN, 40 ms), with room for timer ticks.
const DELACK_FLOOR: i128 = 30_000_000;

fn ms(ns: i128) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

/// Nagle's rule on connection `c`: no small segment leaves while an earlier one is
/// unacknowledged. Returns the frames that broke it.
fn nagle_violations(v: &View, c: usize) -> Vec<usize> {
    let mut outstanding: Option<u32> = None;
    let mut acked: Option<u32> = None;
    let mut bad = Vec::new();
    for p in v.conn_pkts(c) {
        let Some(t) = &p.tcp else { continue };
        match p.dir {
            Dir::ToClient
                if t.has(crate::analyse::flags::ACK)
                    && acked.is_none_or(|a| (t.ack.wrapping_sub(a) as i32) > 0) =>
            {
                acked = Some(t.ack);
            }
            Dir::ToServer if t.len > 0 => {
                if let Some(end) = outstanding {
                    if acked.is_none_or(|a| (end.wrapping_sub(a) as i32) > 0) {
                        bad.push(p.index + 1);
                    }
                }
                outstanding = Some(t.next_seq());
            }
            _ => {}
        }
    }
    bad
}

/// A small write that may have waited for an ACK: its bytes start at relative SEQ `off`, after
/// bytes of the same connection still unacknowledged when it was called.
struct Round {
    what: String,
    /// When its write() returned.
    write_end: i128,
    /// When the segment with the bytes before it left, and when the segment with its bytes left.
    before_ts: i128,
    seg_ts: i128,
    /// The first ACK from the server of every byte before it: when it came, its payload length.
    ack: Option<(i128, u32)>,
}

impl Round {
    /// Its bytes left at least 10 ms after write() returned: they waited in the kernel.
    fn waited(&self) -> bool {
        self.seg_ts - self.write_end >= 10_000_000
    }

    /// How long after the bytes before it their ACK came.
    fn ack_after(&self) -> Option<i128> {
        self.ack.map(|(t, _)| t - self.before_ts)
    }
}

/// The rounds of mode `key`: each request's write(8) (after its write(4)), and the burst's
/// second write (after its first byte).
fn rounds(v: &View, key: &str) -> Option<Vec<Round>> {
    let m = measure(v, key)?;
    let req = v.phase(&format!("{key}/requests"))?;
    let burst = v.phase(&format!("{key}/burst"))?;
    // Every client write on the connection, with the relative SEQ of its first byte.
    let mut off = 1u32;
    let mut writes = Vec::new();
    for e in &v.run.events {
        if e.role != Role::Client || e.call != "write" || v.conn_of(e) != Some(m.conn) {
            continue;
        }
        let Some(n) = e.ret.filter(|&r| r > 0) else {
            continue;
        };
        writes.push((e, off));
        off = off.wrapping_add(n as u32);
    }
    let covering = |x: u32| {
        v.conn_pkts(m.conn).find(|p| {
            let s = v.rel_seq(p);
            p.dir == Dir::ToServer && p.len > 0 && s <= x && x < s.wrapping_add(p.len)
        })
    };
    let round = |what: String, e: &crate::live::Event, off: u32| {
        let ack = v
            .conn_pkts(m.conn)
            .find(|p| {
                p.dir == Dir::ToClient
                    && p.tcp
                        .as_ref()
                        .is_some_and(|t| t.has(crate::analyse::flags::ACK))
                    && (v.rel_ack(p).wrapping_sub(off) as i32) >= 0
            })
            .map(|p| (p.ts, p.len));
        Some(Round {
            what,
            write_end: e.end,
            before_ts: covering(off.wrapping_sub(1))?.ts,
            seg_ts: covering(off)?.ts,
            ack,
        })
    };
    let in_span = |e: &crate::live::Event, s: (i128, i128)| e.start >= s.0 && e.start < s.1;
    let mut out = Vec::new();
    let bodies = writes
        .iter()
        .filter(|(e, _)| in_span(e, req) && e.ret == Some(BODY.len() as i64));
    for (i, (e, off)) in bodies.enumerate() {
        out.push(round(format!("request {}", i + 1), e, *off)?);
    }
    let (e, off) = writes.iter().filter(|(e, _)| in_span(e, burst)).nth(1)?;
    out.push(round(format!("burst writes 2–{BURST}"), e, *off)?);
    (out.len() == REQUESTS + 1).then_some(out)
}

fn checks(v: &View) -> Vec<Check> {
    let (Some(n), Some(d)) = (measure(v, "nagle"), measure(v, "nodelay")) else {
        return vec![Check::missing(
            "both runs (Nagle, TCP_NODELAY) were captured",
            "a phase mark, a call or a connection is missing",
        )];
    };
    let bad = nagle_violations(v, n.conn);
    let (Some(nr), Some(dr)) = (rounds(v, "nagle"), rounds(v, "nodelay")) else {
        return vec![Check::missing(
            "each small write and the segment that carried it were captured",
            "a write's segment is missing",
        )];
    };
    let mut out = mechanism(&nr);
    out.push(nodelay_check(&n, &d, &dr));
    out.extend([
        Check::new(
            n.burst_segments < d.burst_segments,
            format!(
                "{BURST} one-byte writes leave in fewer segments with Nagle than with TCP_NODELAY"
            ),
            format!(
                "{} segments with Nagle, {} with TCP_NODELAY",
                n.burst_segments, d.burst_segments
            ),
        ),
        Check::new(
            bad.is_empty(),
            "with Nagle, no small segment left while an earlier one was unacknowledged",
            if bad.is_empty() {
                "every client data segment waited for the ACK of the previous one".to_owned()
            } else {
                format!("frames {bad:?}")
            },
        ),
    ]);
    out
}

/// With Nagle: the bytes of a small write wait in the kernel for the ACK of the bytes before
/// them, and that ACK comes from the peer's delayed-ACK timer. A round whose ACK had come
/// before its write (a slow client) did not wait and is not counted; one round must wait.
fn mechanism(rounds: &[Round]) -> Vec<Check> {
    let ms1 = |ns: i128| format!("{:.1} ms", ns as f64 / 1e6);
    let waited: Vec<&Round> = rounds.iter().filter(|r| r.waited()).collect();
    let held = rounds
        .iter()
        .all(|r| r.ack.is_some_and(|(t, _)| r.seg_ts >= t) || !r.waited());
    let detail = rounds
        .iter()
        .map(|r| match (r.waited(), r.ack) {
            (true, Some((t, _))) => format!(
                "{}: left {} after write() returned, {:.3} ms after the ACK",
                r.what,
                ms1(r.seg_ts - r.write_end),
                (r.seg_ts - t) as f64 / 1e6
            ),
            _ => format!("{}: no wait (the ACK had come)", r.what),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let timer: Vec<i128> = waited.iter().filter_map(|r| r.ack_after()).collect();
    let by_timer = waited.iter().all(|r| {
        r.ack
            .is_some_and(|(_, len)| len == 0 && r.ack_after().is_some_and(|a| a >= DELACK_FLOOR))
    });
    vec![
        Check::new(
            !waited.is_empty() && held,
            "with Nagle, a small write returns at once and its bytes wait in the kernel until \
             the ACK of the bytes before them comes",
            detail,
        ),
        Check::new(
            !waited.is_empty() && by_timer,
            "the wait is the server's delayed-ACK timer: each such ACK came alone, at least \
             30 ms after the bytes it acknowledged (Linux: 40 ms up to 200 ms, bounded by the \
             RTT; 40 ms on lo)",
            format!(
                "ACK {} after the data",
                timer.iter().map(|&a| ms1(a)).collect::<Vec<_>>().join(", ")
            ),
        ),
    ]
}

/// With TCP_NODELAY no write waits: each request's second write is on the wire before the
/// write() returns, and the requests take less time than one delayed ACK with Nagle.
fn nodelay_check(n: &Measured, d: &Measured, rounds: &[Round]) -> Check {
    let req: Vec<&Round> = rounds.iter().take(REQUESTS).collect();
    let at_once = req.iter().all(|r| r.seg_ts <= r.write_end);
    Check::new(
        at_once && d.requests_ns < n.requests_ns,
        format!(
            "with TCP_NODELAY each request's write(8) is on the wire before write() returns, \
             and the {REQUESTS} requests take less time than with Nagle"
        ),
        format!(
            "{} of {} write(8) segments left during the call; {} with TCP_NODELAY, {} with Nagle",
            req.iter().filter(|r| r.seg_ts <= r.write_end).count(),
            req.len(),
            ms(d.requests_ns),
            ms(n.requests_ns)
        ),
    )
}

fn facts(v: &View) -> Vec<String> {
    let (Some(n), Some(d)) = (measure(v, "nagle"), measure(v, "nodelay")) else {
        return Vec::new();
    };
    let per = |b: u64, s: usize| {
        if s == 0 {
            "-".to_owned()
        } else {
            format!("{:.1}", b as f64 / s as f64)
        }
    };
    let rows: [(String, String, String); 6] = [
        (
            format!("{REQUESTS} requests"),
            ms(n.requests_ns),
            ms(d.requests_ns),
        ),
        (
            "  per request".into(),
            ms(n.requests_ns / REQUESTS as i128),
            ms(d.requests_ns / REQUESTS as i128),
        ),
        (
            format!("{BURST} one-byte writes"),
            String::new(),
            String::new(),
        ),
        (
            "  segments".into(),
            n.burst_segments.to_string(),
            d.burst_segments.to_string(),
        ),
        (
            "  bytes per segment".into(),
            per(n.burst_bytes, n.burst_segments),
            per(d.burst_bytes, d.burst_segments),
        ),
        ("  until the answer".into(), ms(n.burst_ns), ms(d.burst_ns)),
    ];
    let mut out = vec![format!(
        "{:<22}{:>16}{:>16}",
        "", "Nagle (default)", "TCP_NODELAY"
    )];
    for (a, b, c) in rows {
        let mut l = String::new();
        let _ = write!(l, "{a:<22}{b:>16}{c:>16}");
        out.push(l.trim_end().to_owned());
    }
    out
}

/// The two conversations the report compares (`sockscope compare`'s table at its end): A the
/// one with Nagle's algorithm, B the one with TCP_NODELAY, each with its name.
pub fn compared(v: &View) -> Option<[(usize, &'static str); 2]> {
    let [(a, a_name, _), (b, b_name, _)] = MODES;
    Some([(measure(v, a)?.conn, a_name), (measure(v, b)?.conn, b_name)])
}
