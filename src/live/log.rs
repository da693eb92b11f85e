//! The event log of a saved run: a `run` line, every event, a `capture` line with libpcap's
//! counters (and who the program ran as). `--save` puts it inside the pcapng
//! ([`super::embed`]); older versions wrote it beside the capture (`FILE.events.jsonl`). The same `run` and `capture` lines open and close the
//! JSON Lines stream of `sockscope run --format jsonl`.

use super::json::{self, CaptureLine, Line, RunLine};
use super::model::RunData;

/// The `run` line that opens a JSON Lines stream and a saved event log.
pub fn run_line(out: &mut String, run: &RunData) {
    let mut line = RunLine {
        scenario: run.scenario.clone(),
        linktype: Some(run.linktype),
        filter: run.filter.clone(),
        interrupted: run.interrupted,
        ..RunLine::default()
    };
    line.set_credentials(run.identity, run.credentials);
    json::write_line(out, &line);
}

/// The `capture` line with libpcap's counters.
pub fn capture_json(out: &mut String, run: &RunData) {
    let line = CaptureLine {
        packets: run.packets.len() as u64,
        received: run.stats.received,
        dropped: run.stats.dropped,
        if_dropped: run.stats.if_dropped,
        buffer_kib: (run.stats.buffer_kib > 0).then_some(run.stats.buffer_kib),
        private_netns: run.private_netns,
    };
    json::write_line(out, &line);
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

/// Reads an event log into `run` (scenario, filter, link type, who the program ran as,
/// events, counters).
pub fn read_event_log(text: &str, run: &mut RunData) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match json::parse(line).map_err(|e| format!("line {}: {e}", n + 1))? {
            Line::Run(l) => {
                (run.identity, run.credentials) = l.credentials();
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
                run.stats.buffer_kib = l.buffer_kib.unwrap_or(0);
                run.private_netns = l.private_netns;
            }
            Line::Check(_) | Line::Other => {}
        }
    }
    Ok(())
}
