//! The facts of a `fork` run: a lane per process on one time axis, and how many children each
//! run of the SIGCHLD handler reaped.

use std::fmt::Write;

use super::checks::{ms, parent_pid, span_of};
use super::{CHILDREN, PARENT};
use crate::live::{Role, View};

/// One process lane of the facts.
struct Lane {
    label: String,
    pid: u32,
    start: i128,
    /// Its last own event.
    end: i128,
    /// When its parent reaped it.
    reaped: Option<i128>,
    note: String,
}

fn lanes(v: &View) -> Vec<Lane> {
    let events = &v.run.events;
    let Some(runner) = events.first().map(|e| e.pid) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let forks = |who: &str, pid: u32| {
        events
            .iter()
            .find(|e| e.who == who && e.call == "fork" && e.ret == Some(pid as i64))
    };
    let reap = |pid: u32| {
        events
            .iter()
            .find(|e| e.call == "waitpid" && e.ret == Some(pid as i64))
            .map(|e| e.end)
    };
    if let Some((s, e)) = span_of(v, runner) {
        let clients = events
            .iter()
            .filter(|e| e.role == Role::Client && e.call == "connect")
            .count();
        out.push(Lane {
            label: "runner".into(),
            pid: runner,
            start: s,
            end: e,
            reaped: None,
            note: format!("binds the port, forks the server, runs the {clients} clients (threads)"),
        });
    }
    let Some(ppid) = parent_pid(v) else {
        return out;
    };
    if let Some((s, e)) = span_of(v, ppid) {
        let count = |call: &str| {
            events
                .iter()
                .filter(|e| e.pid == ppid && e.call == call && e.ok())
                .count()
        };
        let runs = handler_runs(v);
        out.push(Lane {
            label: PARENT.into(),
            pid: ppid,
            start: forks("server", ppid).map_or(s, |f| f.end),
            end: e,
            reaped: reap(ppid),
            note: format!(
                "accept ×{}, fork ×{}, close ×{} (one late); SIGCHLD handler ran {} time{}",
                count("accept"),
                count("fork"),
                events
                    .iter()
                    .filter(|e| e.pid == ppid && e.call == "close" && e.addr.is_some())
                    .count(),
                runs,
                if runs == 1 { "" } else { "s" }
            ),
        });
    }
    for name in CHILDREN {
        let Some(pid) = events.iter().find(|e| e.who == name).map(|e| e.pid) else {
            continue;
        };
        let Some((s, e)) = span_of(v, pid) else {
            continue;
        };
        let conn = events
            .iter()
            .filter(|e| e.pid == pid && e.call == "read")
            .find_map(|e| e.addr);
        let echoed: i64 = events
            .iter()
            .filter(|e| e.pid == pid && e.call == "write")
            .filter_map(|e| e.ret)
            .sum();
        out.push(Lane {
            label: name.into(),
            pid,
            start: forks(PARENT, pid).map_or(s, |f| f.end),
            end: e,
            reaped: reap(pid),
            note: format!(
                "served {}: echoed {echoed} bytes",
                conn.map_or("?".into(), |a| a.to_string())
            ),
        });
    }
    out
}

/// How many times the SIGCHLD handler ran (from its waitpid events' texts).
fn handler_runs(v: &View) -> usize {
    let mut runs: Vec<&str> = v
        .run
        .events
        .iter()
        .filter(|e| e.who == PARENT && e.call == "waitpid")
        .filter_map(|e| {
            e.text
                .as_deref()?
                .split("run ")
                .nth(1)?
                .split([')', ' '])
                .next()
        })
        .collect();
    runs.sort_unstable();
    runs.dedup();
    runs.len()
}

/// Columns of the lanes' time axis.
const COLS: usize = 40;

pub(super) fn facts(v: &View) -> Vec<String> {
    let ls = lanes(v);
    if ls.is_empty() {
        return Vec::new();
    }
    let t0 = ls.iter().map(|l| l.start).min().unwrap_or(0);
    let t1 = ls
        .iter()
        .map(|l| l.reaped.unwrap_or(l.end).max(l.end))
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    let col = |t: i128| (((t - t0) * COLS as i128) / (t1 - t0)).clamp(0, COLS as i128 - 1) as usize;
    let mut out = vec![format!(
        "processes, one lane each (█ running, ░ exited but not yet reaped: a zombie), {} to {}:",
        ms(0),
        ms(t1 - t0)
    )];
    let label_w = ls.iter().map(|l| l.label.len()).max().unwrap_or(0);
    let pid_w = ls
        .iter()
        .map(|l| l.pid.to_string().len())
        .max()
        .unwrap_or(0);
    for l in &ls {
        let (a, b) = (col(l.start), col(l.end));
        let z = l.reaped.map(col);
        let mut bar = String::new();
        for i in 0..COLS {
            bar.push(if i >= a && i <= b {
                '█'
            } else if z.is_some_and(|z| i > b && i <= z) {
                '░'
            } else {
                ' '
            });
        }
        out.push(format!(
            "  {:<label_w$}  pid {:<pid_w$}  {bar}  {}",
            l.label, l.pid, l.note
        ));
    }
    // One SIGCHLD for several exits.
    let mut by_run: Vec<(String, Vec<i64>)> = Vec::new();
    for e in v
        .run
        .events
        .iter()
        .filter(|e| e.who == PARENT && e.call == "waitpid" && e.ret.is_some_and(|r| r > 0))
    {
        let run = e
            .text
            .as_deref()
            .and_then(|t| t.split("run ").nth(1))
            .unwrap_or("?")
            .trim_end_matches(')')
            .to_owned();
        match by_run.iter_mut().find(|(r, _)| *r == run) {
            Some((_, pids)) => pids.extend(e.ret),
            None => by_run.push((run, e.ret.into_iter().collect())),
        }
    }
    for (run, pids) in by_run.iter().filter(|(_, p)| p.len() > 1) {
        let mut l = format!("SIGCHLD handler run {run} reaped {} children:", pids.len());
        for p in pids {
            let _ = write!(l, " {p}");
        }
        l.push_str(
            " (one signal for several exits: a single waitpid per signal would leave a zombie)",
        );
        out.push(l);
    }
    out
}
