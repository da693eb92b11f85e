//! What an `eintr` run must show: the interrupted accept() and its retry, the restarted one,
//! the read() a SIGALRM ends; that none of it came from the wire; and how the run is read.

use super::{ALARM, NO_RESTART, RESTART, TIMEOUT};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Proto};
use crate::live::{Role, View};

/// alarm() runs on an hrtimer, but allow a jiffy (10 ms at HZ=100) against a ns clock.
const TICK: i128 = 10_000_000;

/// One part of the run: its server calls.
pub(super) struct Part<'v> {
    pub(super) accepts: Vec<&'v Event>,
    /// Handler runs (`handler(SIGCHLD → read_childproc)`).
    pub(super) handlers: Vec<&'v Event>,
    /// The pid the part's fork() returned, and the pids the handler's waitpid reaped.
    pub(super) forked: Option<i64>,
    pub(super) reaped: Vec<i64>,
}

pub(super) fn part<'v>(v: &'v View, key: &str) -> Option<Part<'v>> {
    let span = v.phase(key)?;
    let server = |call: &'v str| v.calls(Role::Server, call, span);
    Some(Part {
        accepts: server("accept").collect(),
        handlers: server("handler").collect(),
        forked: server("fork").find_map(|e| e.ret),
        reaped: server("waitpid")
            .filter_map(|e| e.ret)
            .filter(|&r| r > 0)
            .collect(),
    })
}

/// A handler run within the call `e`, for `sig` (`SIGCHLD`).
pub(super) fn inside<'v>(handlers: &[&'v Event], e: &Event, sig: &str) -> Option<&'v Event> {
    handlers
        .iter()
        .find(|h| h.args.starts_with(sig) && h.start >= e.start && h.end <= e.end)
        .copied()
}

/// Packets captured while `e` was in progress.
pub(super) fn packets_during(v: &View, e: &Event) -> usize {
    v.pkts
        .iter()
        .filter(|p| p.ts > e.start && p.ts < e.end)
        .count()
}

pub(super) fn ms(ns: i128) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

fn result(e: &Event) -> String {
    match (&e.errno, e.ret) {
        (Some(n), _) => format!("-1 {n}"),
        (None, Some(r)) => r.to_string(),
        _ => "?".into(),
    }
}

/// The third segment of the connection `e` (an accept) returned: the handshake's ACK.
fn handshake_done(v: &View, e: &Event) -> Option<i128> {
    let c = v.conn_of(e)?;
    v.conn_pkts(c).nth(2).map(|p| p.ts)
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let mut out = Vec::new();
    out.extend(no_restart(v));
    out.push(restart(v));
    out.extend(alarm(v));
    for (c, conn) in v.conns.iter().enumerate() {
        if conn.proto == Proto::Tcp {
            out.push(checks::reads_match_writes(v, c, Dir::ToServer));
        }
    }
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

fn no_restart(v: &View) -> Vec<Check> {
    let Some(p) = part(v, NO_RESTART) else {
        return vec![Check::missing("the part without SA_RESTART ran", "no mark")];
    };
    let Some(first) = p.accepts.first() else {
        return vec![Check::missing(
            "accept() was called without SA_RESTART",
            "no accept()",
        )];
    };
    let h = inside(&p.handlers, first, "SIGCHLD");
    let reaped = p.forked.is_some_and(|pid| p.reaped.contains(&pid));
    let mut out = vec![Check::new(
        first.errno.as_deref() == Some("EINTR") && h.is_some() && reaped,
        "without SA_RESTART, a child's exit interrupts the blocked accept(): the handler reaps it, accept() returns -1 EINTR",
        format!(
            "accept() = {} after {}; SIGCHLD handler {}; child {} reaped: {}",
            result(first),
            ms(first.end - first.start),
            if h.is_some() { "ran inside it" } else { "not inside it" },
            p.forked.map_or("?".into(), |n| n.to_string()),
            if reaped { "yes" } else { "no" }
        ),
    )];
    let during = packets_during(v, first);
    out.push(Check::new(
        during == 0,
        "EINTR is no network event: no packet while that accept() waited",
        format!("{during} packet(s) meanwhile"),
    ));
    out.push(match p.accepts.get(1) {
        Some(second) => {
            let done = handshake_done(v, second);
            Check::new(
                p.accepts.len() == 2 && second.ok() && done.is_some_and(|t| t <= second.end),
                "the loop's next accept() (if (clnt_sock == -1) continue;) returns the connection once its handshake is done",
                format!(
                    "{} accept() calls; the second = {}{}",
                    p.accepts.len(),
                    result(second),
                    done.map_or(String::new(), |t| format!(
                        ", {} after the handshake's ACK",
                        ms(second.end - t)
                    ))
                ),
            )
        }
        None => Check::missing(
            "the loop calls accept() again",
            "one accept() only",
        ),
    });
    out
}

fn restart(v: &View) -> Check {
    let what = "with SA_RESTART the handler runs and accept() goes on waiting: one call, which returns the connection";
    let Some(p) = part(v, RESTART) else {
        return Check::missing(what, "no mark for the SA_RESTART part");
    };
    let Some(a) = p.accepts.first() else {
        return Check::missing(what, "no accept()");
    };
    let h = inside(&p.handlers, a, "SIGCHLD");
    let reaped = p.forked.is_some_and(|pid| p.reaped.contains(&pid));
    let syn = v
        .conn_of(a)
        .and_then(|c| v.conn_pkts(c).next())
        .map(|s| s.ts);
    let before = h.zip(syn).is_some_and(|(h, s)| h.end < s);
    Check::new(
        p.accepts.len() == 1 && a.ok() && h.is_some() && reaped && before,
        what,
        format!(
            "{} accept() call(s), = {} after {}; the handler ran {} inside it, before the SYN: {}",
            p.accepts.len(),
            result(a),
            ms(a.end - a.start),
            h.map_or("never".into(), |h| ms(h.start - a.start)),
            if before { "yes" } else { "no" }
        ),
    )
}

fn alarm(v: &View) -> Vec<Check> {
    let Some(span) = v.phase(ALARM) else {
        return vec![Check::missing("the alarm part ran", "no mark")];
    };
    let alarms: Vec<&Event> = v.calls(Role::Server, "alarm", span).collect();
    let reads: Vec<&Event> = v.calls(Role::Server, "read", span).collect();
    let handlers: Vec<&Event> = v.calls(Role::Server, "handler", span).collect();
    let mut out = Vec::new();
    let args: Vec<&str> = alarms.iter().map(|e| e.args.as_str()).collect();
    let timeout = TIMEOUT.to_string();
    let cancel = alarms.get(1).copied();
    let first = reads.first().copied();
    out.push(match (first, cancel) {
        (Some(r), Some(c)) => Check::new(
            args == [timeout.as_str(), "0", timeout.as_str()]
                && r.ok()
                && r.ret.is_some_and(|n| n > 0)
                && r.end <= c.start
                && c.ret.is_some_and(|left| left >= 1),
            format!("alarm({TIMEOUT}) then read(): the data comes in time, and alarm(0) cancels the alarm"),
            format!(
                "alarm({}); read() = {}; alarm(0) = {} (seconds that were left)",
                args.join("), alarm("),
                result(r),
                result(c)
            ),
        ),
        _ => Check::missing(
            "the data comes before the alarm",
            "no read() or no alarm(0)",
        ),
    });
    let armed = alarms.get(2).copied();
    let timed = reads.get(1).copied();
    out.push(match (armed, timed) {
        (Some(a), Some(r)) => {
            let waited = r.end - a.start;
            let h = inside(&handlers, r, "SIGALRM");
            let during = packets_during(v, r);
            Check::new(
                r.errno.as_deref() == Some("EINTR")
                    && waited >= TIMEOUT as i128 * 1_000_000_000 - TICK
                    && h.is_some()
                    && during == 0,
                format!("nothing comes: {TIMEOUT} s after alarm({TIMEOUT}) the SIGALRM handler runs and read() returns -1 EINTR"),
                format!(
                    "read() = {} {} after alarm(); handler {}; {during} packet(s) meanwhile",
                    result(r),
                    ms(waited),
                    if h.is_some() { "inside it" } else { "not inside it" }
                ),
            )
        }
        _ => Check::missing(
            "the timed-out read() returns -1 EINTR",
            "no second alarm() or read()",
        ),
    });
    let fin = v.pkts.iter().find(|p| {
        p.ts >= span.0 && p.dir == Dir::ToClient && p.tcp.as_ref().is_some_and(|t| t.has(f::FIN))
    });
    let eof = fin.and_then(|fin| {
        v.calls(Role::Client, "read", span)
            .find(|e| e.ret == Some(0) && v.conn_of(e) == Some(fin.conn))
    });
    out.push(match (timed, fin, eof) {
        (Some(r), Some(fin), Some(eof)) => Check::new(
            fin.ts > r.end && eof.end >= fin.ts,
            "the server gives up and closes: its FIN follows the timeout, and the client's read() returns 0",
            format!(
                "FIN in frame {}, {} after read() returned; the client's read() = 0",
                fin.index + 1,
                ms(fin.ts - r.end)
            ),
        ),
        _ => Check::missing(
            "the server's FIN follows the timeout",
            "no timed-out read(), no FIN, or no end of stream for the client",
        ),
    });
    out
}
