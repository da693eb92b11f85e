//! A run as people read it (title, timeline, ladders, facts, checks, capture counters, and the
//! explanation on request) or as scripts read it (JSON Lines). Pure functions of the run data:
//! the golden tests render saved runs with them, without root.

use std::fmt::Write;

use crate::analyse::{Analyser, Record};
use crate::decode::decode;
use crate::render::{jsonl, Palette, TextOptions};
use crate::scenario::Scenario;

use super::checks::Check;
use super::json::{self, CaptureLine, CheckLine, Line, RunLine};
use super::model::{RunData, View};
use super::{ladder, timeline};

/// What to render besides the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions {
    pub text: TextOptions,
    /// Add the scenario's explanation.
    pub explain: bool,
}

/// Runs the scenario's checks on `run` (none for an interrupted run or without a scenario).
pub fn checks(run: &RunData, sc: Option<&Scenario>) -> Vec<Check> {
    if run.interrupted {
        return Vec::new();
    }
    let v = View::new(run);
    sc.map_or_else(Vec::new, |s| (s.checks)(&v))
}

/// The whole text report.
pub fn text(
    run: &RunData,
    sc: Option<&Scenario>,
    checks: &[Check],
    opts: &ReportOptions,
) -> String {
    let pal = Palette {
        on: opts.text.color,
    };
    let v = View::new(run);
    let mut out = String::with_capacity(16 * 1024);
    let title = match sc {
        Some(s) => format!("{} · {} · {}", s.name, s.lesson, s.summary),
        None => run.scenario.clone(),
    };
    pal.paint(&mut out, Palette::BOLD, &title);
    out.push_str("\n\n");
    timeline::render(&mut out, &v, &opts.text);
    if run.interrupted {
        pal.paint(
            &mut out,
            Palette::RED,
            "interrupted: the run was stopped; above is what happened until then",
        );
        out.push('\n');
    }
    out.push('\n');
    ladder::render(&mut out, &v, &opts.text);
    if let Some(s) = sc {
        let facts = (s.facts)(&v);
        if !facts.is_empty() {
            for l in crate::scenario::addr_show::paint_marks(&facts, pal) {
                out.push_str(&l);
                out.push('\n');
            }
            out.push('\n');
        }
    }
    pal.paint(&mut out, Palette::BOLD, "checks");
    out.push('\n');
    for c in checks {
        out.push_str("  ");
        if c.ok {
            pal.paint(&mut out, Palette::GREEN, "✓");
        } else {
            pal.paint(&mut out, Palette::RED, "✗");
        }
        out.push(' ');
        out.push_str(&c.what);
        if !c.detail.is_empty() {
            out.push_str("  ");
            pal.paint(&mut out, Palette::DIM, &format!("({})", c.detail));
        }
        out.push('\n');
    }
    if checks.is_empty() {
        out.push_str(if run.interrupted {
            "  (not checked: the run was interrupted)\n"
        } else {
            "  (none)\n"
        });
    }
    out.push('\n');
    capture_line(&mut out, run);
    if opts.explain {
        if let Some(s) = sc {
            out.push('\n');
            pal.paint(&mut out, Palette::BOLD, "what to look at");
            out.push('\n');
            for l in s.explain.trim().lines() {
                if l.is_empty() {
                    out.push('\n');
                } else {
                    let _ = writeln!(out, "  {l}");
                }
            }
        }
    }
    out
}

fn capture_line(out: &mut String, run: &RunData) {
    let s = run.stats;
    let _ = writeln!(
        out,
        "capture: lo, filter \"{}\", {} packets, {} dropped (libpcap received {}: on lo each packet passes the capture twice)",
        run.filter,
        run.packets.len(),
        s.dropped,
        s.received
    );
}

/// The `run` line that opens a JSON Lines stream and a saved event log.
pub fn run_line(out: &mut String, run: &RunData) {
    let line = RunLine {
        scenario: run.scenario.clone(),
        linktype: Some(run.linktype),
        filter: run.filter.clone(),
        interrupted: run.interrupted,
    };
    json::write_line(out, &line);
}

/// The `capture` line with libpcap's counters.
pub fn capture_json(out: &mut String, run: &RunData) {
    let line = CaptureLine {
        packets: run.packets.len() as u64,
        received: run.stats.received,
        dropped: run.stats.dropped,
        if_dropped: run.stats.if_dropped,
    };
    json::write_line(out, &line);
}

/// A check as a JSON line.
pub fn check_json(out: &mut String, scenario: &str, c: &Check) {
    let line = CheckLine {
        scenario: scenario.to_owned(),
        ok: c.ok,
        what: c.what.clone(),
        detail: c.detail.clone(),
    };
    json::write_line(out, &line);
}

/// The JSON Lines stream: the run line, events and packets in time order (packets as
/// `sockscope replay --format jsonl` writes them), the checks, the capture counters.
pub fn jsonl(run: &RunData, checks: &[Check]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    run_line(&mut out, run);
    let mut analyser = Analyser::new();
    let mut ev = run.events.iter().peekable();
    for i in 0..run.packets.len() {
        let Some(frame) = run.frame(i) else { continue };
        let ts = run.packets[i].ts;
        while let Some(e) = ev.next_if(|e| e.start <= ts) {
            e.to_json(&mut out);
        }
        let pkt = decode(&frame);
        let analysis = analyser.analyse(&frame, &pkt);
        jsonl::line(
            &mut out,
            &Record {
                frame,
                pkt,
                analysis,
            },
        );
    }
    for e in ev {
        e.to_json(&mut out);
    }
    for c in checks {
        check_json(&mut out, &run.scenario, c);
    }
    capture_json(&mut out, run);
    out
}

/// The event log saved next to a capture: the run line, every event, the capture line.
pub fn event_log(run: &RunData) -> String {
    let mut out = String::new();
    run_line(&mut out, run);
    for e in &run.events {
        e.to_json(&mut out);
    }
    capture_json(&mut out, run);
    out
}

/// Reads an event log into `run` (scenario, filter, link type, events, counters).
pub fn read_event_log(text: &str, run: &mut RunData) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match json::parse(line).map_err(|e| format!("line {}: {e}", n + 1))? {
            Line::Run(l) => {
                run.scenario = l.scenario;
                run.filter = l.filter;
                if let Some(t) = l.linktype {
                    run.linktype = t;
                }
                run.interrupted = l.interrupted;
            }
            Line::Event(e) => run.events.push(*e),
            Line::Capture(l) => {
                run.stats.received = l.received;
                run.stats.dropped = l.dropped;
                run.stats.if_dropped = l.if_dropped;
            }
            Line::Check(_) | Line::Other => {}
        }
    }
    Ok(())
}
