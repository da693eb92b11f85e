//! What a `fork` run must show: a child per client, the FIN held back by the forgotten close,
//! every child reaped.

use super::{AT_ONCE, NONE_LEFT, PARENT, ZOMBIE};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::{Role, View};

/// The connections whose client connected in phase `key`, in connect order.
fn conns_in(v: &View, key: &str) -> Vec<usize> {
    let Some(span) = v.phase(key) else {
        return Vec::new();
    };
    v.calls(Role::Client, "connect", span)
        .filter_map(|e| v.conn_of(e))
        .collect()
}

/// The server-side events of connection `c` made by process `who` (a prefix: `child`).
fn server_calls<'v>(
    v: &'v View,
    c: usize,
    who: &'v str,
    call: &'v str,
) -> impl Iterator<Item = &'v Event> {
    v.run.events.iter().filter(move |e| {
        e.role == Role::Server
            && e.who.starts_with(who)
            && e.call == call
            && v.conn_of(e) == Some(c)
    })
}

/// The child that served connection `c`: its name and pid (None if several or none did).
fn child_of(v: &View, c: usize) -> Option<(String, u32)> {
    let mut served = v.run.events.iter().filter(|e| {
        e.role == Role::Server
            && e.who.starts_with("child")
            && matches!(e.call.as_str(), "read" | "write")
            && v.conn_of(e) == Some(c)
    });
    let first = served.next()?;
    let all_same = served.all(|e| e.pid == first.pid && e.who == first.who);
    all_same.then(|| (first.who.clone(), first.pid))
}

pub(super) fn parent_pid(v: &View) -> Option<u32> {
    v.run.events.iter().find(|e| e.who == PARENT).map(|e| e.pid)
}

/// The first FIN the server side sent on `c`.
fn server_fin<'v>(v: &'v View, c: usize) -> Option<&'v Pkt> {
    v.conn_pkts(c)
        .find(|p| p.dir == Dir::ToClient && p.tcp.as_ref().is_some_and(|t| t.has(f::FIN)))
}

/// Start and end of a process's own events.
pub(super) fn span_of(v: &View, pid: u32) -> Option<(i128, i128)> {
    let mine = v.run.events.iter().filter(|e| e.pid == pid);
    let start = mine.clone().map(|e| e.start).min()?;
    let end = mine.map(|e| e.end).max()?;
    Some((start, end))
}

pub(super) fn ms(ns: i128) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let part1 = conns_in(v, "fork/close");
    let part2 = conns_in(v, "fork/forgot");
    if part1.len() != AT_ONCE || part2.len() != 1 {
        return vec![Check::missing(
            "every connection was captured",
            format!(
                "{} connection(s) in part 1, {} in part 2",
                part1.len(),
                part2.len()
            ),
        )];
    }
    let all: Vec<usize> = part1.iter().chain(&part2).copied().collect();
    let ppid = parent_pid(v);
    let mut out = Vec::new();

    // Who accepted and who served.
    let accepted: Vec<usize> = v
        .run
        .events
        .iter()
        .filter(|e| e.who == PARENT && e.call == "accept" && e.ok())
        .filter_map(|e| v.conn_of(e))
        .collect();
    let servers: Vec<Option<(String, u32)>> = all.iter().map(|&c| child_of(v, c)).collect();
    let mut pids: Vec<u32> = servers.iter().flatten().map(|s| s.1).collect();
    pids.sort_unstable();
    pids.dedup();
    let ok = all.iter().all(|c| accepted.contains(c))
        && servers.iter().all(Option::is_some)
        && pids.len() == all.len()
        && ppid.is_some_and(|p| !pids.contains(&p));
    let detail: Vec<String> = all
        .iter()
        .zip(&servers)
        .map(|(&c, s)| match s {
            Some((who, pid)) => format!(":{} → {who} (pid {pid})", v.conns[c].client.port()),
            None => format!(":{} → ?", v.conns[c].client.port()),
        })
        .collect();
    out.push(Check::new(
        ok,
        format!(
            "the parent (pid {}) accepted each connection; a child of its own served each",
            ppid.map_or("?".into(), |p| p.to_string())
        ),
        detail.join(", "),
    ));

    // The three children of part 1 at work together.
    let spans: Vec<(i128, i128)> = part1
        .iter()
        .filter_map(|&c| child_of(v, c).and_then(|(_, pid)| span_of(v, pid)))
        .collect();
    let latest_start = spans.iter().map(|s| s.0).max();
    let earliest_end = spans.iter().map(|s| s.1).min();
    out.push(match (latest_start, earliest_end) {
        (Some(a), Some(b)) if spans.len() == AT_ONCE => Check::new(
            a < b,
            "the three children of part 1 served at the same time (their lives overlap)",
            format!("all three alive for {}", ms(b - a)),
        ),
        _ => Check::missing(
            "the three children of part 1 served at the same time",
            "a child's events are missing",
        ),
    });

    // Part 1: the parent's close came first; the FIN left at the child's close.
    let mut ok = true;
    let mut detail = Vec::new();
    for &c in &part1 {
        let pclose = server_calls(v, c, PARENT, "close").next();
        let cclose = server_calls(v, c, "child", "close").next();
        let fin = server_fin(v, c);
        match (pclose, cclose, fin) {
            (Some(p), Some(k), Some(fin)) => {
                ok &= p.end < k.start && fin.ts >= k.start;
                detail.push(format!(
                    "{}: FIN {} after its close()",
                    k.who,
                    ms(fin.ts - k.start)
                ));
            }
            _ => {
                ok = false;
                detail.push(format!(
                    ":{}: a close() or the FIN is missing",
                    v.conns[c].client.port()
                ));
            }
        }
    }
    out.push(Check::new(
        ok,
        "part 1: the parent closed its copy first, so each child's close() sent the FIN",
        detail.join(", "),
    ));

    // Part 2: the forgotten copy.
    let c = part2[0];
    let cclose = server_calls(v, c, "child", "close").next();
    let pclose = server_calls(v, c, PARENT, "close").next();
    let state = server_calls(v, c, "child", "state").next();
    out.push(Check::new(
        state.and_then(|e| e.text.as_deref()) == Some("CLOSE_WAIT"),
        "part 2: after the child's close() the kernel still holds the connection (CLOSE_WAIT)",
        state
            .and_then(|e| e.text.clone())
            .unwrap_or_else(|| "no state seen".into()),
    ));
    let fin = server_fin(v, c);
    out.push(match (cclose, pclose, fin) {
        (Some(k), Some(p), Some(fin)) => Check::new(
            k.end < p.start && fin.ts > k.end && fin.ts >= p.start,
            "part 2: the child's close() sent no FIN; it left at the parent's close() of its copy",
            format!(
                "FIN {} after the child's close(), {} after the parent's",
                ms(fin.ts - k.start),
                ms(fin.ts - p.start)
            ),
        ),
        _ => Check::missing(
            "part 2: the FIN left at the parent's close()",
            "a close() or the FIN is missing",
        ),
    });

    // Reaping.
    let mut forked: Vec<i64> = v
        .run
        .events
        .iter()
        .filter(|e| e.who == PARENT && e.call == "fork")
        .filter_map(|e| e.ret)
        .collect();
    forked.sort_unstable();
    let reaped: Vec<&Event> = v
        .run
        .events
        .iter()
        .filter(|e| e.who == PARENT && e.call == "waitpid" && e.ret.is_some_and(|r| r > 0))
        .collect();
    let mut reaped_pids: Vec<i64> = reaped.iter().filter_map(|e| e.ret).collect();
    reaped_pids.sort_unstable();
    let all_zero = reaped.iter().all(|e| {
        e.text
            .as_deref()
            .is_some_and(|t| t.starts_with("(exited 0"))
    });
    out.push(Check::new(
        !forked.is_empty() && forked == reaped_pids && all_zero,
        "the SIGCHLD handler reaped every child (waitpid(-1, WNOHANG)), each exited 0",
        format!("forked {forked:?}, reaped {reaped_pids:?}"),
    ));
    let printed = |pat: &str| {
        v.run.events.iter().any(|e| {
            e.who == PARENT
                && e.call == "print"
                && e.text.as_deref().is_some_and(|t| t.contains(pat))
        })
    };
    out.push(Check::new(
        printed(ZOMBIE) && printed(NONE_LEFT),
        "/proc showed the exited, unreaped child as a zombie (Z); at the end no child is left",
        if printed(NONE_LEFT) {
            "no child of the server in /proc".to_owned()
        } else {
            "children left in /proc (see the last lines)".to_owned()
        },
    ));

    // The echo.
    let mut ok = true;
    let mut bytes = 0;
    for &c in &all {
        for d in [Dir::ToServer, Dir::ToClient] {
            let ch = checks::reads_match_writes(v, c, d);
            ok &= ch.ok;
        }
        bytes += checks::wire_bytes(v, c, Dir::ToServer).len();
    }
    out.push(Check::new(
        ok,
        "every client read back exactly what it wrote (the echo)",
        format!("{} connections, {bytes} bytes each way", all.len()),
    ));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}
