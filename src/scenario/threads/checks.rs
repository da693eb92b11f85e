//! What a `threads` run must show: one process, a thread per connection, the descriptor
//! shared (the worker uses the number accept() returned; nobody closes a copy), one close()
//! per connection and the FIN right after it, the threads alive together.

use super::{CLIENTS, THREADS};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::Dir;
use crate::live::{Role, View};

/// One server thread as the run shows it.
pub(super) struct Worker<'v> {
    pub(super) name: &'static str,
    /// The tid pthread_create() reported.
    pub(super) created: Option<u32>,
    /// Its own events.
    pub(super) events: Vec<&'v Event>,
}

impl Worker<'_> {
    /// The tid its events carry, if they all carry the same.
    pub(super) fn tid(&self) -> Option<u32> {
        let first = self.events.first()?.tid;
        self.events.iter().all(|e| e.tid == first).then_some(first)
    }

    /// The connection it served (all its socket calls on one), if one.
    pub(super) fn conn(&self, v: &View) -> Option<usize> {
        let mut cs = self.events.iter().filter_map(|e| v.conn_of(e));
        let first = cs.next()?;
        cs.all(|c| c == first).then_some(first)
    }

    pub(super) fn span(&self) -> Option<(i128, i128)> {
        let start = self.events.iter().map(|e| e.start).min()?;
        let end = self.events.iter().map(|e| e.end).max()?;
        Some((start, end))
    }
}

pub(super) fn workers<'v>(v: &'v View) -> Vec<Worker<'v>> {
    THREADS
        .iter()
        .map(|&name| Worker {
            name,
            created: v
                .run
                .events
                .iter()
                .find(|e| {
                    e.call == "pthread_create"
                        && e.text
                            .as_deref()
                            .is_some_and(|t| t.starts_with(&format!("({name}:")))
                })
                .and_then(|e| {
                    e.text
                        .as_deref()?
                        .split("tid ")
                        .nth(1)?
                        .trim_end_matches(')')
                        .parse()
                        .ok()
                }),
            events: v.run.events.iter().filter(|e| e.who == name).collect(),
        })
        .collect()
}

/// The main server thread's events (the untagged server lane).
pub(super) fn main_events<'v>(v: &'v View) -> Vec<&'v Event> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.who == Role::Server.name())
        .collect()
}

pub(super) fn ms(ns: i128) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let ws = workers(v);
    let main = main_events(v);
    let tcp_conns = v.conns.len();
    if tcp_conns != CLIENTS || ws.iter().any(|w| w.events.is_empty()) || main.is_empty() {
        return vec![Check::missing(
            "every connection and every thread's calls were captured",
            format!(
                "{tcp_conns} connection(s), {} thread(s) with calls",
                ws.iter().filter(|w| !w.events.is_empty()).count()
            ),
        )];
    }
    let mut out = Vec::new();
    let main_tid = main[0].tid;
    let pid = main[0].pid;

    // One process, a thread per connection.
    let all_pid = v
        .run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.pid != 0)
        .all(|e| e.pid == pid);
    let tids: Vec<Option<u32>> = ws.iter().map(Worker::tid).collect();
    let mut distinct: Vec<u32> = tids.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let conns: Vec<Option<usize>> = ws.iter().map(|w| w.conn(v)).collect();
    let mut served: Vec<usize> = conns.iter().flatten().copied().collect();
    served.sort_unstable();
    served.dedup();
    let ok = all_pid
        && main.iter().all(|e| e.tid == main_tid)
        && distinct.len() == CLIENTS
        && !distinct.contains(&main_tid)
        && ws
            .iter()
            .all(|w| w.created.is_some() && w.created == w.tid())
        && served.len() == CLIENTS;
    let detail: Vec<String> = ws
        .iter()
        .zip(&conns)
        .map(|(w, c)| {
            format!(
                "{} (tid {}) → {}",
                w.name,
                w.tid().map_or("?".into(), |t| t.to_string()),
                c.map_or("?".into(), |c| format!(":{}", v.conns[c].client.port()))
            )
        })
        .collect();
    out.push(Check::new(
        ok,
        format!(
            "one process (pid {pid}): the main thread (tid {main_tid}) accepted; a thread of its own \
             (the tid pthread_create() gave) served each connection"
        ),
        detail.join(", "),
    ));

    // The shared table: the worker uses the number accept() returned; no copy is closed.
    let accepted: Vec<(i64, usize)> = main
        .iter()
        .filter(|e| e.call == "accept" && e.ok())
        .filter_map(|e| Some((e.ret?, v.conn_of(e)?)))
        .collect();
    let mut fds: Vec<i64> = accepted.iter().map(|a| a.0).collect();
    fds.sort_unstable();
    fds.dedup();
    let same_fd = ws.iter().all(|w| {
        let Some(c) = w.conn(v) else { return false };
        let fd = accepted.iter().find(|a| a.1 == c).map(|a| a.0);
        w.events
            .iter()
            .filter(|e| matches!(e.call.as_str(), "read" | "write" | "close"))
            .all(|e| e.fd.map(i64::from) == fd)
    });
    let main_closes: Vec<&&Event> = main
        .iter()
        .filter(|e| {
            e.call == "close"
                && e.fd
                    .is_some_and(|fd| accepted.iter().any(|a| a.0 == i64::from(fd)))
        })
        .collect();
    let listener = main.iter().find(|e| e.call == "listen").and_then(|e| e.fd);
    let worker_closes_listener = ws.iter().any(|w| {
        w.events
            .iter()
            .any(|e| e.call == "close" && e.fd == listener)
    });
    out.push(Check::new(
        same_fd && main_closes.is_empty() && !worker_closes_listener && fds.len() == CLIENTS,
        "one descriptor table: each thread used the very number accept() returned, the three \
         open at once had three numbers, and no one closed a copy (the main thread no \
         connection, a thread no listener)",
        format!(
            "accept() returned fds {fds:?}; {} close() by the main thread on them, {} on the \
             listener by a thread",
            main_closes.len(),
            usize::from(worker_closes_listener)
        ),
    ));

    // One close() per connection, and the FIN right after it.
    let mut ok = true;
    let mut detail = Vec::new();
    for c in 0..v.conns.len() {
        let closes: Vec<&Event> = v
            .run
            .events
            .iter()
            .filter(|e| e.role == Role::Server && e.call == "close" && v.conn_of(e) == Some(c))
            .collect();
        let fin = v
            .conn_pkts(c)
            .find(|p| p.dir == Dir::ToClient && p.tcp.as_ref().is_some_and(|t| t.has(f::FIN)));
        match (closes.as_slice(), fin) {
            ([k], Some(fin)) => {
                ok &= fin.ts >= k.start && k.who.starts_with("thread");
                detail.push(format!(
                    "{}: FIN {} after its close()",
                    k.who,
                    ms(fin.ts - k.start)
                ));
            }
            _ => {
                ok = false;
                detail.push(format!(
                    ":{}: {} close() on the server side, FIN {}",
                    v.conns[c].client.port(),
                    closes.len(),
                    if fin.is_some() { "sent" } else { "missing" }
                ));
            }
        }
    }
    out.push(Check::new(
        ok,
        "one close() per connection, by its thread, and the FIN left with it (no other \
         reference held it back)",
        detail.join(", "),
    ));

    // Alive together.
    let spans: Vec<(i128, i128)> = ws.iter().filter_map(Worker::span).collect();
    let latest_start = spans.iter().map(|s| s.0).max();
    let earliest_end = spans.iter().map(|s| s.1).min();
    out.push(match (latest_start, earliest_end) {
        (Some(a), Some(b)) if spans.len() == CLIENTS => Check::new(
            a < b,
            "the three threads served at the same time (their lives overlap)",
            format!("all three at work for {}", ms(b - a)),
        ),
        _ => Check::missing(
            "the three threads served at the same time",
            "a thread's calls are missing",
        ),
    });

    // Joined.
    let joined = main
        .iter()
        .filter(|e| {
            e.call == "pthread_join" && e.text.as_deref().is_some_and(|t| t.ends_with("returned)"))
        })
        .count();
    out.push(Check::new(
        joined == CLIENTS,
        "the main thread joined every thread, each returned (no thread is left)",
        format!("{joined} of {CLIENTS} joined"),
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
        crate::scenario::saved_run("threads")
    }

    fn verdict(run: &RunData, what: &str) -> Vec<bool> {
        checks(&View::new(run))
            .into_iter()
            .filter(|c| c.what.contains(what))
            .map(|c| c.ok)
            .collect()
    }

    #[test]
    fn the_saved_run_passes_and_each_check_can_fail() {
        let run = saved();
        assert!(checks(&View::new(&run)).iter().all(|c| c.ok));

        // The main thread closes a connection's copy, as a forking parent would.
        let mut r = saved();
        let close = r
            .events
            .iter()
            .find(|e| e.who == THREADS[0] && e.call == "close")
            .cloned()
            .expect("thread 1's close()");
        let main = r
            .events
            .iter()
            .find(|e| e.call == "accept")
            .cloned()
            .expect("an accept()");
        let mut copy = close;
        copy.who = main.who.clone();
        copy.tid = main.tid;
        copy.start -= 1;
        copy.end = copy.start;
        r.events.push(copy);
        r.sort();
        assert_eq!(verdict(&r, "one descriptor table"), [false]);
        assert_eq!(verdict(&r, "one close() per connection"), [false]);

        // Two connections served by one thread id.
        let mut r = saved();
        let tid = r
            .events
            .iter()
            .find(|e| e.who == THREADS[0])
            .map(|e| e.tid)
            .expect("thread 1");
        for e in r.events.iter_mut().filter(|e| e.who == THREADS[1]) {
            e.tid = tid;
        }
        assert_eq!(verdict(&r, "one process"), [false]);

        // A thread not joined.
        let mut r = saved();
        r.events.retain(|e| e.call != "pthread_join");
        assert_eq!(verdict(&r, "joined every thread"), [false]);
    }
}
