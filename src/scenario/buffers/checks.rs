//! What a `buffers` run must show: the sizes the kernel granted, and the window that closes, is
//! probed and opens again; and how the run is read back.

use super::{ASKED, CHUNK, PROBES, RATELIMIT, RCVBUF, WRITES};
use crate::analyse::{flags as f, Findings};
use crate::live::checks::{self, Check};
use crate::live::model::{Dir, Pkt};
use crate::live::{Role, View};
use crate::scenario::sockopt::calls::{self as so, event_value, opt_args, sysctl_values, Value};

/// One row of the asked-vs-got table.
pub(super) struct Row {
    pub(super) opt: &'static str,
    /// None: the socket's default.
    pub(super) asked: Option<i64>,
    pub(super) got: i64,
}

/// The table phase's rows, read from the events: each getsockopt after the setsockopt it
/// follows.
pub(super) fn rows(v: &View) -> Vec<Row> {
    let Some(span) = v.phase("buffers/table") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for o in [&so::SO_SNDBUF, &so::SO_RCVBUF] {
        let args = opt_args(o);
        let mut asked = None;
        for e in
            v.run.events.iter().filter(|e| {
                e.start >= span.0 && e.start < span.1 && e.ok() && e.args.contains(&args)
            })
        {
            match e.call.as_str() {
                "setsockopt" => {
                    asked = e.args.rsplit(", ").next().and_then(|n| n.parse().ok());
                }
                "getsockopt" => {
                    if let Some(Value::Int(got)) = event_value(e) {
                        out.push(Row {
                            opt: o.opt_name,
                            asked: asked.take(),
                            got,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The numbers a `sysctl` event of the run read.
fn sysctl(v: &View, name: &str) -> Vec<i64> {
    v.run
        .events
        .iter()
        .find(|e| e.call == "sysctl" && e.args == name)
        .map(sysctl_values)
        .unwrap_or_default()
}

/// The cap (wmem_max or rmem_max) and the default (tcp_wmem[1] or tcp_rmem[1]) for `opt`.
fn limits(v: &View, opt: &str) -> (Option<i64>, Option<i64>) {
    let (max, tcp) = if opt == "SO_SNDBUF" {
        ("net.core.wmem_max", "net.ipv4.tcp_wmem")
    } else {
        ("net.core.rmem_max", "net.ipv4.tcp_rmem")
    };
    (
        sysctl(v, max).first().copied(),
        sysctl(v, tcp).get(1).copied(),
    )
}

/// What Linux grants for `asked`: max(2 × min(asked, cap), minimum).
fn granted(asked: i64, cap: i64, minimum: i64) -> i64 {
    (2 * asked.min(cap)).max(minimum)
}

/// The kernel's minimum for `opt`: what asking for 1 byte got.
fn minimum(rows: &[Row], opt: &str) -> Option<i64> {
    rows.iter()
        .find(|r| r.opt == opt && r.asked == Some(1))
        .map(|r| r.got)
}

pub(super) fn why(v: &View, rows: &[Row], r: &Row) -> String {
    let (cap, default) = limits(v, r.opt);
    let max_name = if r.opt == "SO_SNDBUF" {
        "wmem_max"
    } else {
        "rmem_max"
    };
    match (r.asked, cap) {
        (None, _) => match default {
            Some(d) if d == r.got => format!(
                "a new TCP socket: tcp_{}[1]",
                if r.opt == "SO_SNDBUF" { "wmem" } else { "rmem" }
            ),
            _ => "a new TCP socket".into(),
        },
        (Some(a), Some(cap)) => {
            let min = minimum(rows, r.opt).unwrap_or(0);
            if a > cap {
                format!("capped at {max_name} = {cap}, then doubled")
            } else if 2 * a <= min {
                "the kernel's minimum".into()
            } else {
                "doubled".into()
            }
        }
        _ => String::new(),
    }
}

/// The window phase's TCP connection.
pub(super) fn window_conn(v: &View) -> Option<usize> {
    let span = v.phase("buffers/window")?;
    let e = v.calls(Role::Client, "connect", span).find(|e| e.ok())?;
    v.conn_of(e)
}

/// What happened to the window on connection `c`, from the raw packets.
pub(super) struct Story<'v> {
    /// The receiver's first segment announcing window 0.
    pub(super) zero: &'v Pkt,
    /// The receiver's first segment after it with an open window.
    pub(super) reopen: Option<&'v Pkt>,
    /// The sender's segments while the window was 0.
    pub(super) probes: Vec<&'v Pkt>,
}

pub(super) fn story<'v>(v: &'v View, c: usize) -> Option<Story<'v>> {
    let pkts: Vec<&Pkt> = v.conn_pkts(c).collect();
    let zi = pkts.iter().position(|p| {
        p.dir == Dir::ToClient && p.tcp.as_ref().is_some_and(|t| !t.has(f::SYN) && t.win == 0)
    })?;
    let mut probes = Vec::new();
    let mut reopen = None;
    for p in &pkts[zi + 1..] {
        match p.dir {
            Dir::ToServer => probes.push(*p),
            Dir::ToClient if v.window(p) > 0 => {
                reopen = Some(*p);
                break;
            }
            Dir::ToClient => {}
        }
    }
    Some(Story {
        zero: pkts[zi],
        reopen,
        probes,
    })
}

/// The analyser's findings for every packet, by index (as Wireshark would label them).
pub(super) fn findings(v: &View) -> Vec<Findings> {
    let mut out = vec![Findings::default(); v.run.packets.len()];
    for p in &v.pkts {
        out[p.index] = p.findings();
    }
    out
}

pub(super) fn labels(fs: Findings) -> String {
    Findings::NAMES
        .iter()
        .filter(|(bit, _, _)| fs.has(*bit))
        .map(|(_, _, label)| *label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a` is after `b` in sequence space.
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

fn ms(ns: i128) -> String {
    format!("{:.0} ms", ns as f64 / 1e6)
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let mut out = table_checks(v);
    let Some(c) = window_conn(v) else {
        out.push(Check::missing(
            "the window phase's connection was captured",
            "no connect() or no packets",
        ));
        return out;
    };
    out.extend(window_checks(v, c));
    out.push(bytes_arrived(v, c));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

fn table_checks(v: &View) -> Vec<Check> {
    let rows = rows(v);
    let mut out = Vec::new();
    for opt in ["SO_SNDBUF", "SO_RCVBUF"] {
        let (cap, _) = limits(v, opt);
        let set: Vec<&Row> = rows
            .iter()
            .filter(|r| r.opt == opt && r.asked.is_some())
            .collect();
        let (Some(cap), Some(min), false) = (cap, minimum(&rows, opt), set.is_empty()) else {
            out.push(Check::missing(
                format!("{opt}: the kernel granted max(2 × min(asked, cap), minimum)"),
                "the table's events or the sysctl values are missing",
            ));
            continue;
        };
        let ok = set.len() == ASKED.len()
            && set
                .iter()
                .all(|r| r.asked.is_some_and(|a| r.got == granted(a, cap, min)));
        let pairs: Vec<String> = set
            .iter()
            .map(|r| format!("{} → {}", r.asked.unwrap_or(0), r.got))
            .collect();
        out.push(Check::new(
            ok && set.iter().any(|r| r.asked.is_some_and(|a| r.got != a)),
            format!("{opt}: getsockopt() returns not what was asked but max(2 × min(asked, cap), minimum)"),
            format!("asked → got: {}; cap {cap}, minimum {min}", pairs.join(", ")),
        ));
    }
    let defaults: Vec<(i64, Option<i64>)> = ["SO_SNDBUF", "SO_RCVBUF"]
        .iter()
        .map(|opt| {
            let got = rows
                .iter()
                .find(|r| r.opt == *opt && r.asked.is_none())
                .map_or(-1, |r| r.got);
            (got, limits(v, opt).1)
        })
        .collect();
    let show = |n: Option<i64>| n.map_or("?".to_owned(), |n| n.to_string());
    out.push(Check::new(
        defaults.iter().all(|&(got, d)| Some(got) == d),
        "a new TCP socket starts with tcp_wmem[1] / tcp_rmem[1] (not doubled)",
        format!(
            "SO_SNDBUF {} (tcp_wmem[1] {}), SO_RCVBUF {} (tcp_rmem[1] {})",
            defaults[0].0,
            show(defaults[0].1),
            defaults[1].0,
            show(defaults[1].1)
        ),
    ));
    out
}

fn window_checks(v: &View, c: usize) -> Vec<Check> {
    let mut out = Vec::new();
    let span = v.phase("buffers/window").unwrap_or((i128::MIN, i128::MAX));
    let first_read = v.calls(Role::Server, "read", span).next().map(|e| e.start);
    // The receiver's buffer as the accepted socket reported it.
    let rcvbuf = v
        .calls(Role::Server, "getsockopt", span)
        .find(|e| e.args.contains(&opt_args(&so::SO_RCVBUF)))
        .and_then(event_value);
    let wins: Vec<u64> = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToClient)
        .map(|p| v.window(p))
        .collect();
    out.push(match rcvbuf {
        Some(Value::Int(b)) => Check::new(
            b == 2 * RCVBUF && wins.iter().all(|&w| w <= b as u64),
            format!("the accepted socket inherited the listener's SO_RCVBUF ({RCVBUF} asked, {} granted); no window offered exceeded it", 2 * RCVBUF),
            format!("getsockopt: {b}; largest window {}", wins.iter().max().unwrap_or(&0)),
        ),
        _ => Check::missing("the accepted socket's SO_RCVBUF was read", "no getsockopt event"),
    });

    // The sender never sends past the right edge the receiver announced.
    let mut edge: Option<u32> = None;
    let mut past = Vec::new();
    let mut data = 0;
    for p in v.conn_pkts(c) {
        let Some(t) = &p.tcp else { continue };
        match p.dir {
            Dir::ToClient if t.has(f::ACK) => {
                let e = t.ack.wrapping_add(v.window(p) as u32);
                if edge.is_none_or(|x| after(e, x)) {
                    edge = Some(e);
                }
            }
            Dir::ToServer if t.len > 0 => {
                data += 1;
                if edge.is_none_or(|x| after(t.seq.wrapping_add(t.len), x)) {
                    past.push(p.index + 1);
                }
            }
            _ => {}
        }
    }
    out.push(Check::new(
        past.is_empty() && data > 0,
        "the sender never sent past the right edge of the window the receiver announced",
        if past.is_empty() {
            format!("{data} data segments, all inside the window")
        } else {
            format!("frames {past:?} go past the edge")
        },
    ));

    let Some(s) = story(v, c) else {
        out.push(Check::missing(
            "the receiver's window fell to 0",
            "no segment from the receiver with window 0",
        ));
        return out;
    };
    out.push(Check::new(
        first_read.is_some_and(|r| s.zero.ts < r),
        "the receiver's window fell to 0 before its program read anything: the kernel did it",
        format!(
            "window 0 in frame {}, {} before the first read()",
            s.zero.index + 1,
            first_read.map_or("?".into(), |r| ms(r - s.zero.ts))
        ),
    ));

    // While the window was 0: only probes, each a bare ACK with SEQ = acked − 1.
    let acked = s.zero.tcp.as_ref().map_or(0, |t| t.ack);
    let bare = s.probes.iter().all(|p| {
        p.tcp.as_ref().is_some_and(|t| {
            t.len == 0
                && t.seq == acked.wrapping_sub(1)
                && t.flags & (f::SYN | f::FIN | f::RST) == 0
        })
    });
    out.push(Check::new(
        s.probes.len() >= PROBES as usize && bare,
        format!("while the window was 0 the sender sent only probes (≥ {PROBES}): Linux's probe carries no data, SEQ = last acked − 1, not the textbooks' 1 byte"),
        format!(
            "{} probe(s): {}",
            s.probes.len(),
            s.probes
                .iter()
                .map(|p| format!(
                    "frame {} seq {} len {}",
                    p.index + 1,
                    v.rel_seq(p),
                    p.len
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));

    // The first probe is answered at once, window still 0. A later one within
    // tcp_invalid_ratelimit of that answer gets none: Linux answers out-of-window segments at
    // most once per that time.
    out.extend(answer_checks(v, c, &s, acked));

    // The persist timer backs off: the second wait is longer than the first.
    if let [p1, p2, ..] = s.probes[..] {
        let (w1, w2) = (p1.ts - s.zero.ts, p2.ts - p1.ts);
        out.push(Check::new(
            w2 > w1,
            "the persist timer backs off: the second probe waited longer than the first",
            format!(
                "first probe {} after the zero window, second {} after the first",
                ms(w1),
                ms(w2)
            ),
        ));
    }

    let fs = findings(v);
    out.push(match s.reopen {
        Some(u) => {
            let t = u.tcp.as_ref();
            let label = labels(fs.get(u.index).copied().unwrap_or_default());
            Check::new(
                first_read.is_some_and(|r| u.ts > r)
                    && t.is_some_and(|t| t.len == 0 && t.ack == acked),
                "the reader's first read() reopened the window: a window update (no data, same ACK, window 0 → open)",
                format!(
                    "frame {}: win {}{}",
                    u.index + 1,
                    v.window(u),
                    if label.is_empty() { String::new() } else { format!(" (analysis: {label})") }
                ),
            )
        }
        None => Check::missing(
            "the window reopened",
            "no segment from the receiver with an open window after the zero window",
        ),
    });

    // write() blocked through the zero window.
    let reopened = s.reopen.map_or(i128::MAX, |u| u.ts);
    let blocked = v
        .calls(Role::Client, "write", span)
        .find(|e| e.start < reopened && e.end > reopened);
    out.push(Check::new(
        blocked.is_some(),
        "a write() was blocked while the window was 0 and returned only after it reopened",
        match blocked {
            Some(e) => format!("write() took {}", ms(e.end - e.start)),
            None => "no write() spans the window update".into(),
        },
    ));
    out
}

/// The receiver's segments after `p` and before the sender's next one.
fn replies<'v>(v: &'v View, c: usize, p: &Pkt) -> Vec<&'v Pkt> {
    v.conn_pkts(c)
        .skip_while(|q| q.index != p.index)
        .skip(1)
        .take_while(|q| q.dir == Dir::ToClient)
        .collect()
}

fn answer_checks(v: &View, c: usize, s: &Story, acked: u32) -> Vec<Check> {
    let mut out = Vec::new();
    let Some(first) = s.probes.first() else {
        return out;
    };
    let answer = replies(v, c, first)
        .into_iter()
        .find(|a| a.tcp.as_ref().is_some_and(|t| t.ack == acked && t.len == 0));
    out.push(Check::new(
        answer.is_some_and(|a| v.window(a) == 0),
        "the receiver's kernel answered the first probe at once: an ACK of the same byte, window still 0",
        match answer {
            Some(a) => format!(
                "frame {} answers frame {} after {} µs: win {}",
                a.index + 1,
                first.index + 1,
                (a.ts - first.ts) / 1000,
                v.window(a)
            ),
            None => format!("frame {} got no answer", first.index + 1),
        },
    ));
    let Some(answered) = answer else {
        return out;
    };
    let limit_ms = sysctl(v, RATELIMIT).first().copied();
    let Some(limit_ms) = limit_ms else {
        out.push(Check::missing(
            "later probes: answered, or within tcp_invalid_ratelimit of the last answer",
            format!("{RATELIMIT} was not recorded"),
        ));
        return out;
    };
    // A window-0 answer to a later probe; the reopening segment is the reader's doing.
    let end = s.reopen.map_or(i128::MAX, |u| u.ts);
    for p in &s.probes[1..] {
        let gap = p.ts - answered.ts;
        let zero_answers = v
            .conn_pkts(c)
            .filter(|q| q.dir == Dir::ToClient && q.ts > p.ts && q.ts < end)
            .count();
        // Jiffies round the limit; assert only well inside it.
        let inside = gap < (limit_ms as i128 - 20) * 1_000_000;
        out.push(if inside {
            Check::new(
                zero_answers == 0,
                format!("the probe in frame {} got no answer: Linux answers out-of-window segments at most once per {RATELIMIT} ({limit_ms} ms)", p.index + 1),
                format!(
                    "it came {} after the last answer; {zero_answers} answer(s) with window 0 followed",
                    ms(gap)
                ),
            )
        } else {
            Check::new(
                true,
                format!("the probe in frame {} came after {RATELIMIT} ({limit_ms} ms): it may be answered", p.index + 1),
                format!("it came {} after the last answer", ms(gap)),
            )
        });
    }
    out
}

/// Every byte written crossed the wire once and was read: counts from the calls' return values
/// (an event keeps only the first bytes of a long write).
fn bytes_arrived(v: &View, c: usize) -> Check {
    let sum = |role: Role, call: &str| -> (i64, usize) {
        let rets: Vec<i64> = v
            .run
            .events
            .iter()
            .filter(|e| e.role == role && e.call == call && e.ok() && v.conn_of(e) == Some(c))
            .filter_map(|e| e.ret)
            .filter(|&n| n > 0)
            .collect();
        (rets.iter().sum(), rets.len())
    };
    let (wrote, writes) = sum(Role::Client, "write");
    let (read, reads) = sum(Role::Server, "read");
    let wire = checks::wire_bytes(v, c, Dir::ToServer);
    let segs = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .count();
    Check::new(
        wrote == (WRITES * CHUNK) as i64
            && wire.len() as i64 == wrote
            && wire.iter().all(|&b| b == b'x')
            && read == wrote,
        "every byte written crossed the wire once and was read",
        format!("{wrote} bytes in {writes} write(s) → {} in {segs} segment(s) → {read} in {reads} read(s)", wire.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_grants_twice_within_limits() {
        assert_eq!(granted(1, 4_194_304, 4608), 4608);
        assert_eq!(granted(4096, 4_194_304, 4608), 8192);
        assert_eq!(granted(1 << 26, 4_194_304, 4608), 8_388_608);
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(after(5, 3));
        assert!(!after(3, 5));
        assert!(after(2, u32::MAX - 1));
        assert!(!after(7, 7));
    }
}
