//! What a `select` run must show: each returned descriptor follows the segment that made it
//! readable, nothing readable is left out, the sets follow FD_SET/FD_CLR, the timeout is
//! written back, and one thread serves every client.

use std::os::fd::RawFd;
use std::time::Duration;

use super::CLIENTS;
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::tracer::calls_mux::{parse_set, parse_timeval};
use crate::live::{Role, View};

/// One select() call, read back from its event.
pub(super) struct Select<'v> {
    pub(super) e: &'v Event,
    pub(super) given: Vec<RawFd>,
    pub(super) ready: Vec<RawFd>,
    pub(super) timeout: Duration,
    pub(super) left: Duration,
}

/// The select() calls of the run, in order.
pub(super) fn selects<'v>(v: &'v View) -> Vec<Select<'v>> {
    v.run
        .events
        .iter()
        .filter(|e| e.call == "select" && e.ok())
        .filter_map(|e| {
            // "7, {3 5}, 0, 0, {0.100000}" and "{5} timeout left {0.099123}".
            let args: Vec<&str> = e.args.split(", ").collect();
            let text = e.text.as_deref()?;
            let (out, left) = text.split_once(" timeout left ")?;
            Some(Select {
                e,
                given: parse_set(args.get(1)?)?,
                ready: parse_set(out)?,
                timeout: parse_timeval(args.get(4)?)?,
                left: parse_timeval(left)?,
            })
        })
        .collect()
}

/// The listening socket's descriptor.
pub(super) fn listener(v: &View) -> Option<RawFd> {
    v.run
        .events
        .iter()
        .find(|e| e.role == Role::Server && e.call == "listen" && e.ok())
        .and_then(|e| e.fd)
}

/// The server's accepts: (descriptor, connection, when accept() returned).
fn accepts(v: &View) -> Vec<(RawFd, usize, i128)> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "accept" && e.ok())
        .filter_map(|e| Some((e.ret? as RawFd, v.conn_of(e)?, e.end)))
        .collect()
}

/// The connection descriptor `fd` stood for at time `t` (the last accept() returning it
/// before `t`, not closed since).
pub(super) fn conn_at(v: &View, fd: RawFd, t: i128) -> Option<usize> {
    let (_, c, at) = accepts(v)
        .into_iter()
        .filter(|&(f, _, end)| f == fd && end <= t)
        .max_by_key(|a| a.2)?;
    let closed = v.run.events.iter().any(|e| {
        e.role == Role::Server
            && e.call == "close"
            && e.fd == Some(fd)
            && e.start > at
            && e.start < t
    });
    (!closed).then_some(c)
}

/// The connections accepted and not yet closed at time `t`, by descriptor.
fn open_at(v: &View, t: i128) -> Vec<RawFd> {
    let mut fds: Vec<RawFd> = accepts(v)
        .into_iter()
        .filter(|&(fd, _, end)| end <= t && conn_at(v, fd, t).is_some())
        .map(|a| a.0)
        .collect();
    fds.sort_unstable();
    fds.dedup();
    fds
}

/// The handshake's last segment: the client's first ACK without SYN.
fn handshake_ack<'v>(v: &'v View, c: usize) -> Option<&'v Pkt> {
    v.conn_pkts(c).find(|p| {
        p.dir == Dir::ToServer
            && p.tcp
                .as_ref()
                .is_some_and(|t| t.has(f::ACK) && !t.has(f::SYN))
    })
}

/// Whether `p` makes the server's socket readable: data or a FIN toward it.
fn readable(p: &Pkt) -> bool {
    p.dir == Dir::ToServer && (p.len > 0 || p.tcp.as_ref().is_some_and(|t| t.has(f::FIN)))
}

/// What made descriptor `fd` readable for a call that started at `t`: for the listener, the
/// last handshake segment of a connection not yet accepted; for a connection, the first
/// segment with data or a FIN since the server's last read on it ended. None when nothing
/// was pending (as seen up to the end of the capture).
pub(super) fn cause<'v>(v: &'v View, fd: RawFd, t: i128) -> Option<&'v Pkt> {
    if Some(fd) == listener(v) {
        let accepted: Vec<usize> = accepts(v)
            .into_iter()
            .filter(|a| a.2 <= t)
            .map(|a| a.1)
            .collect();
        return (0..v.conns.len())
            .filter(|c| !accepted.contains(c))
            .filter_map(|c| handshake_ack(v, c))
            .min_by_key(|p| p.ts);
    }
    let c = conn_at(v, fd, t)?;
    let since = v
        .run
        .events
        .iter()
        .filter(|e| {
            e.role == Role::Server && e.call == "read" && v.conn_of(e) == Some(c) && e.end <= t
        })
        .map(|e| e.end)
        .max()
        .unwrap_or(i128::MIN);
    v.conn_pkts(c).find(|p| readable(p) && p.ts > since)
}

pub(super) fn us(ns: i128) -> String {
    format!("{:.0} µs", ns as f64 / 1e3)
}

/// The client name of connection `c` (from its connect()).
pub(super) fn client_of<'v>(v: &'v View, c: usize) -> Option<&'v str> {
    v.run
        .events
        .iter()
        .find(|e| e.role == Role::Client && e.call == "connect" && v.conn_of(e) == Some(c))
        .map(|e| e.who.as_str())
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let sels = selects(v);
    let Some(lfd) = listener(v) else {
        return vec![Check::missing("the server listened", "no listen() event")];
    };
    if sels.is_empty() || v.conns.len() != CLIENTS.len() {
        return vec![Check::missing(
            "every select() call and connection was captured",
            format!(
                "{} select() calls, {} connections",
                sels.len(),
                v.conns.len()
            ),
        )];
    }
    let mut out = Vec::new();

    // Each returned descriptor follows the segment that made it readable.
    let (mut wakes, mut slept, mut bad) = (0, 0, Vec::new());
    for (n, s) in sels.iter().enumerate() {
        for &fd in &s.ready {
            wakes += 1;
            match cause(v, fd, s.e.start) {
                Some(p) if p.ts <= s.e.end => slept += usize::from(p.ts > s.e.start),
                _ => bad.push(format!("call {} fd {fd}", n + 1)),
            }
        }
    }
    out.push(Check::new(
        wakes > 0 && bad.is_empty(),
        "each descriptor select() returned had its segment on the wire first (the handshake's \
         ACK for the listener, data or FIN for a client)",
        if bad.is_empty() {
            format!("{wakes} ready descriptors; {slept} woke select() while it slept")
        } else {
            format!("no segment before: {}", bad.join(", "))
        },
    ));

    // Nothing readable left out; nothing returned that was not asked for.
    let mut bad = Vec::new();
    for (n, s) in sels.iter().enumerate() {
        for &fd in &s.given {
            let pending = cause(v, fd, s.e.start).is_some_and(|p| p.ts < s.e.start);
            if (pending && !s.ready.contains(&fd)) || s.ready.iter().any(|r| !s.given.contains(r)) {
                bad.push(format!("call {}", n + 1));
                break;
            }
        }
    }
    out.push(Check::new(
        bad.is_empty(),
        "select() returned every descriptor of the set that was readable when it was called, \
         and only those of the set",
        if bad.is_empty() {
            format!("{} calls", sels.len())
        } else {
            format!("wrong set in {}", bad.join(", "))
        },
    ));

    // The set passed in: the listener and every client not yet closed.
    let bad: Vec<String> = sels
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            let mut want = open_at(v, s.e.start);
            want.push(lfd);
            want.sort_unstable();
            s.given != want
        })
        .map(|(n, _)| format!("call {}", n + 1))
        .collect();
    out.push(Check::new(
        bad.is_empty(),
        "each call's set is the listening socket plus every client not yet closed (FD_SET \
         after accept(), FD_CLR before close())",
        if bad.is_empty() {
            let widest = sels.iter().map(|s| s.given.len()).max().unwrap_or(0);
            format!("{} calls, up to {widest} descriptors", sels.len())
        } else {
            format!("other sets in {}", bad.join(", "))
        },
    ));

    // The timeout.
    let timed_out: Vec<&Select> = sels.iter().filter(|s| s.e.ret == Some(0)).collect();
    let waited = timed_out.iter().all(|s| {
        s.ready.is_empty()
            && s.left.is_zero()
            && s.e.end - s.e.start >= s.timeout.as_nanos() as i128
    });
    let woke: Vec<&Select> = sels.iter().filter(|s| s.e.ret > Some(0)).collect();
    // A call woken just as its timeout ran out (a late wake-up on a busy machine) has 0 left:
    // still written back, since it was the whole timeout before the call.
    let written_back =
        woke.iter().all(|s| s.left < s.timeout) && woke.iter().any(|s| !s.left.is_zero());
    out.push(Check::new(
        !timed_out.is_empty() && waited && written_back,
        "a call with nothing readable returned 0 with an empty set after its whole timeout; \
         after a wake-up Linux wrote the time left back into the timeout",
        format!(
            "{} timed out; {} woke with time left ({})",
            timed_out.len(),
            woke.len(),
            woke.first().map_or("-".into(), |s| format!(
                "e.g. {:?} of {:?}",
                s.left, s.timeout
            ))
        ),
    ));

    // The call made on a ready descriptor found its segment there already.
    let mut bad = Vec::new();
    let mut n = 0;
    for e in v
        .run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.ok())
    {
        let ok = match e.call.as_str() {
            "accept" => v
                .conn_of(e)
                .and_then(|c| handshake_ack(v, c))
                .map(|p| p.ts < e.start),
            "read" => v.conn_of(e).map(|c| {
                let read: i64 = v
                    .run
                    .events
                    .iter()
                    .filter(|r| {
                        r.role == Role::Server
                            && r.call == "read"
                            && v.conn_of(r) == Some(c)
                            && r.start <= e.start
                    })
                    .filter_map(|r| r.ret)
                    .sum();
                let on_wire: i64 = v
                    .conn_pkts(c)
                    .filter(|p| p.dir == Dir::ToServer && p.ts < e.start)
                    .map(|p| i64::from(p.len))
                    .sum();
                let fin = v
                    .conn_pkts(c)
                    .any(|p| readable(p) && p.len == 0 && p.ts < e.start);
                read <= on_wire && (e.ret != Some(0) || fin)
            }),
            _ => continue,
        };
        n += 1;
        if ok != Some(true) {
            bad.push(format!("{}({})", e.call, e.args));
        }
    }
    out.push(Check::new(
        n > 0 && bad.is_empty(),
        "every accept() and read() after select() found its segment already there: none waited",
        if bad.is_empty() {
            format!("{n} calls")
        } else {
            format!("waited: {}", bad.join(", "))
        },
    ));

    // Descriptor numbers are reused: C gets A's.
    let by_client = |name: &str| {
        v.run
            .events
            .iter()
            .filter(|e| e.role == Role::Server && e.call == "accept" && e.ok())
            .find(|e| v.conn_of(e).and_then(|c| client_of(v, c)) == Some(name))
            .and_then(|e| e.ret)
    };
    let (a, c) = (by_client(CLIENTS[0]), by_client(CLIENTS[2]));
    out.push(Check::new(
        a.is_some() && a == c,
        "after A's close() the next accept() (C's) returned A's old descriptor number",
        format!(
            "A: fd {}, C: fd {}",
            a.map_or("?".into(), |x| x.to_string()),
            c.map_or("?".into(), |x| x.to_string())
        ),
    ));

    // One thread.
    let server: Vec<&Event> = v
        .run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call != "mark" && e.pid != 0)
        .collect();
    let first = server.first().map(|e| (e.pid, e.tid));
    out.push(Check::new(
        first.is_some() && server.iter().all(|e| Some((e.pid, e.tid)) == first),
        "one process and one thread served every client (same pid and tid for every server call)",
        first.map_or("no server call".into(), |(p, t)| {
            format!("{} calls, pid {p}, tid {t}", server.len())
        }),
    ));

    // The echo.
    let mut ok = true;
    let mut bytes = 0;
    for c in 0..v.conns.len() {
        for d in [Dir::ToServer, Dir::ToClient] {
            ok &= checks::reads_match_writes(v, c, d).ok;
        }
        bytes += checks::wire_bytes(v, c, Dir::ToServer).len();
    }
    out.push(Check::new(
        ok,
        "every client read back exactly what it wrote (the echo)",
        format!("{} connections, {bytes} bytes each way", v.conns.len()),
    ));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::RunData;

    fn saved() -> RunData {
        crate::scenario::saved_run("select")
    }

    /// The verdicts of the checks whose claim contains `what`.
    fn verdict(run: &RunData, what: &str) -> Vec<bool> {
        checks(&View::new(run))
            .into_iter()
            .filter(|c| c.what.contains(what))
            .map(|c| c.ok)
            .collect()
    }

    fn nth_select(run: &mut RunData, ret: i64) -> &mut Event {
        run.events
            .iter_mut()
            .find(|e| e.call == "select" && e.ret == Some(ret))
            .expect("such a select() call")
    }

    #[test]
    fn the_saved_run_passes_and_each_check_can_fail() {
        let run = saved();
        assert!(checks(&View::new(&run)).iter().all(|c| c.ok));

        // A call made once the segment was there, which left its descriptor out: the
        // completeness check fails.
        let mut r = saved();
        let e = nth_select(&mut r, 1);
        e.start = e.end - 1;
        e.text = Some("{} timeout left {0.099000}".into());
        e.ret = Some(0);
        assert_eq!(verdict(&r, "returned every descriptor"), [false]);

        // A descriptor returned with no segment before it.
        let mut r = saved();
        let first = nth_select(&mut r, 0);
        let given = first.args.clone();
        first.ret = Some(1);
        first.text = Some(format!(
            "{} timeout left {{0.050000}}",
            given.split(", ").nth(1).unwrap_or("{}")
        ));
        assert_eq!(verdict(&r, "had its segment on the wire first"), [false]);

        // The timeout not written back.
        let mut r = saved();
        let e = nth_select(&mut r, 1);
        let text = e.text.clone().unwrap_or_default();
        let (set, _) = text.split_once(" timeout left ").expect("the result");
        e.text = Some(format!("{set} timeout left {{0.100000}}"));
        assert_eq!(verdict(&r, "wrote the time left back"), [false]);

        // A server call on another thread.
        let mut r = saved();
        if let Some(e) = r
            .events
            .iter_mut()
            .find(|e| e.role == Role::Server && e.call == "read")
        {
            e.tid += 1;
        }
        assert_eq!(verdict(&r, "one process and one thread"), [false]);

        // A set passed in without a client still open.
        let mut r = saved();
        let e = r
            .events
            .iter_mut()
            .rfind(|e| e.call == "select")
            .expect("a select() call");
        e.args = e.args.replacen(", {", ", {99 ", 1);
        assert_eq!(
            verdict(&r, "each call's set is the listening socket"),
            [false]
        );
    }
}
