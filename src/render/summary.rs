//! The summary printed after a timeline: packets, conversations, per-stream counts, findings.
//!
//! Per-stream rows are kept for the first [`MAX_ROWS`] streams of each protocol; later streams
//! are counted in the totals only, so memory stays bounded on files with millions of streams.

use std::fmt::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use crate::analyse::{Findings, Record};
use crate::decode::Transport;

/// Streams itemised per protocol.
pub const MAX_ROWS: usize = 20;

#[derive(Debug, Clone, Copy, Default)]
struct Row {
    segments: u64,
    bytes: u64,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub packets: u64,
    pub tcp: u64,
    pub udp: u64,
    pub other: u64,
    pub truncated: u64,
    tcp_rows: Vec<(String, Row)>,
    udp_rows: Vec<(String, Row)>,
    tcp_streams: u64,
    udp_streams: u64,
    findings: [u64; 16],
    /// Open conversations the analyser forgot (`Analyser::evicted`), set before rendering.
    pub evicted: u64,
}

impl Summary {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, rec: &Record<'_>) {
        self.packets += 1;
        if rec.pkt.truncated {
            self.truncated += 1;
        }
        let stream = rec.analysis.stream;
        let (rows, count, len) = match (rec.pkt.ip, rec.pkt.transport) {
            (Some(_), Transport::Tcp(t)) => {
                self.tcp += 1;
                (
                    &mut self.tcp_rows,
                    &mut self.tcp_streams,
                    t.fixed.and_then(|x| x.len),
                )
            }
            (Some(_), Transport::Udp(u)) => {
                self.udp += 1;
                (&mut self.udp_rows, &mut self.udp_streams, u.payload_len())
            }
            _ => {
                self.other += 1;
                return;
            }
        };
        if let Some(v) = rec.analysis.tcp {
            for (i, &(bit, _, _)) in Findings::NAMES.iter().enumerate() {
                if v.findings.has(bit) {
                    self.findings[i] += 1;
                }
            }
        }
        let Some(s) = stream else { return };
        *count = (*count).max(s + 1);
        let s = s as usize;
        if s >= MAX_ROWS {
            return;
        }
        if rows.len() <= s {
            let ip = rec.pkt.ip.map(|i| (i.src, i.dst));
            let (sport, dport) = match rec.pkt.transport {
                Transport::Tcp(t) => (t.sport, t.dport),
                Transport::Udp(u) => (u.sport, u.dport),
                _ => (0, 0),
            };
            while rows.len() <= s {
                let mut label = String::new();
                if rows.len() == s {
                    if let Some((a, b)) = ip {
                        super::describe::endpoint(&mut label, a, Some(sport));
                        label.push_str(" ↔ ");
                        super::describe::endpoint(&mut label, b, Some(dport));
                    }
                }
                rows.push((label, Row::default()));
            }
        }
        let row = &mut rows[s].1;
        row.segments += 1;
        row.bytes += len.unwrap_or(0) as u64;
    }

    /// Appends the summary as text.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n{} packets: {} TCP, {} UDP, {} other{}",
            self.packets,
            self.tcp,
            self.udp,
            self.other,
            if self.truncated > 0 {
                format!(" ({} cut by the snaplen)", self.truncated)
            } else {
                String::new()
            }
        );
        for (name, rows, total) in [
            ("TCP", &self.tcp_rows, self.tcp_streams),
            ("UDP", &self.udp_rows, self.udp_streams),
        ] {
            if total == 0 {
                continue;
            }
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED);
            t.set_header(vec![
                format!("{name} stream"),
                "conversation".into(),
                "segments".into(),
                "payload bytes".into(),
            ]);
            for (i, (label, r)) in rows.iter().enumerate() {
                t.add_row(vec![
                    i.to_string(),
                    label.clone(),
                    r.segments.to_string(),
                    r.bytes.to_string(),
                ]);
            }
            for c in [0usize, 2, 3] {
                if let Some(col) = t.column_mut(c) {
                    col.set_cell_alignment(CellAlignment::Right);
                }
            }
            let _ = writeln!(
                out,
                "{total} {name} stream{}",
                if total == 1 { "" } else { "s" }
            );
            let _ = writeln!(out, "{t}");
            if total as usize > rows.len() {
                let _ = writeln!(
                    out,
                    "({} more {name} streams not itemised)",
                    total as usize - rows.len()
                );
            }
        }
        let mut any = false;
        for (i, &(_, _, label)) in Findings::NAMES.iter().enumerate() {
            if self.findings[i] > 0 {
                if !any {
                    out.push_str("analysis: ");
                } else {
                    out.push_str(", ");
                }
                any = true;
                let _ = write!(out, "{} × {label}", self.findings[i]);
            }
        }
        if any {
            out.push('\n');
        }
        if self.evicted > 0 {
            let _ = writeln!(out, "{}", eviction_note(self.evicted));
        }
    }
}

/// What an eviction count means, in one line (the summary's last line, and replay's note on
/// stderr).
pub fn eviction_note(evicted: u64) -> String {
    format!(
        "{evicted} open conversation{} evicted: more than {} TCP or UDP conversations were \
         held at once, so the least recently seen were forgotten; a later packet of one starts \
         a new stream, and stream numbers from there on may differ from tshark's",
        if evicted == 1 { " was" } else { "s were" },
        crate::analyse::bound::MAX_CONVERSATIONS
    )
}
