//! The event log saved next to a capture (`FILE.events.jsonl`): a `run` line, every event, a
//! `capture` line with libpcap's counters. The same `run` and `capture` lines open and close the
//! JSON Lines stream of `sockscope run --format jsonl`.

use super::event::Event;
use super::json::{int_field, key, str_field};
use super::model::RunData;

/// The `run` line that opens a JSON Lines stream and a saved event log.
pub fn run_line(out: &mut String, run: &RunData) {
    out.push('{');
    str_field(out, "kind", "run");
    str_field(out, "scenario", &run.scenario);
    int_field(out, "linktype", run.linktype as i64);
    str_field(out, "filter", &run.filter);
    if run.interrupted {
        key(out, "interrupted");
        out.push_str("true");
    }
    out.push_str("}\n");
}

/// The `capture` line with libpcap's counters.
pub fn capture_json(out: &mut String, run: &RunData) {
    out.push('{');
    str_field(out, "kind", "capture");
    int_field(out, "packets", run.packets.len() as i64);
    int_field(out, "received", run.stats.received as i64);
    int_field(out, "dropped", run.stats.dropped as i64);
    int_field(out, "if_dropped", run.stats.if_dropped as i64);
    out.push_str("}\n");
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
        let o = super::json::parse(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        match o.str("kind") {
            Some("run") => {
                run.scenario = o.str("scenario").unwrap_or("").to_owned();
                run.filter = o.str("filter").unwrap_or("").to_owned();
                if let Some(l) = o.int("linktype") {
                    run.linktype = l as u16;
                }
                run.interrupted = o.bool("interrupted").unwrap_or(false);
            }
            Some("event") => run
                .events
                .push(Event::from_object(&o).map_err(|e| format!("line {}: {e}", n + 1))?),
            Some("capture") => {
                run.stats.received = o.int("received").unwrap_or(0) as u64;
                run.stats.dropped = o.int("dropped").unwrap_or(0) as u64;
                run.stats.if_dropped = o.int("if_dropped").unwrap_or(0) as u64;
            }
            _ => {}
        }
    }
    Ok(())
}
