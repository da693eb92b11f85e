//! The summary printed after a timeline: packets, conversations, per-stream counts, findings.
//!
//! It counts what was selected (by the filter, `--stream`, `-c`), not the whole file: rows are
//! the selected streams, with their file-wide numbers. Per-stream rows are kept for the first
//! [`MAX_ROWS`] selected streams of each protocol; later ones are counted in the totals only
//! (one bit per stream number), so memory stays bounded on files with millions of streams.

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
    /// Some bytes were counted from first IP fragments only: the total is a lower bound
    /// (shown `124+`, as the frame's `len 124+`).
    partial: bool,
}

/// One protocol's streams: the itemised rows and the distinct stream numbers seen.
#[derive(Debug, Default)]
struct Streams {
    /// (stream number, conversation, counts), in the order the streams were first seen.
    rows: Vec<(u64, String, Row)>,
    /// One bit per stream number seen.
    seen: Vec<u64>,
    count: u64,
    /// The largest stream number that has a row.
    last_row: u64,
}

impl Streams {
    /// Marks stream `s` seen; returns its row, when it is itemised.
    fn row(&mut self, s: u64, label: impl FnOnce() -> String) -> Option<&mut Row> {
        let (word, bit) = ((s / 64) as usize, 1u64 << (s % 64));
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & bit == 0 {
            self.seen[word] |= bit;
            self.count += 1;
            if self.rows.len() < MAX_ROWS {
                self.last_row = self.last_row.max(s);
                self.rows.push((s, label(), Row::default()));
                return self.rows.last_mut().map(|r| &mut r.2);
            }
            return None;
        }
        // Without a selection, stream s is row s, and streams past the rows have none.
        let at = match self.rows.get(s as usize) {
            Some(r) if r.0 == s => s as usize,
            _ if s > self.last_row => return None,
            _ => self.rows.iter().position(|r| r.0 == s)?,
        };
        Some(&mut self.rows[at].2)
    }
}

/// What the summary says about the selection as a whole.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Frames read (the whole file, unless `-c` stopped early).
    pub frames: u64,
    /// The selection as typed (`tcp port 80`, `--stream 3`), when there is one.
    pub selection: Option<String>,
    /// `-c N` stopped the replay before the end of the input.
    pub stopped_at: Option<u64>,
    /// Files read (more than one: said in the summary).
    pub files: usize,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub packets: u64,
    pub tcp: u64,
    pub udp: u64,
    pub other: u64,
    pub truncated: u64,
    tcp_streams: Streams,
    udp_streams: Streams,
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
        let (streams, len) = match (rec.pkt.ip, rec.pkt.transport) {
            (Some(_), Transport::Tcp(t)) => {
                self.tcp += 1;
                (&mut self.tcp_streams, t.fixed.and_then(|x| x.len))
            }
            (Some(_), Transport::Udp(u)) => {
                self.udp += 1;
                (&mut self.udp_streams, u.payload_len())
            }
            _ => {
                self.other += 1;
                return;
            }
        };
        if let Some(v) = rec.analysis.tcp.filter(|v| !v.findings.is_empty()) {
            for (i, &(bit, _, _)) in Findings::NAMES.iter().enumerate() {
                if v.findings.has(bit) {
                    self.findings[i] += 1;
                }
            }
        }
        let Some(s) = rec.analysis.stream else {
            return;
        };
        let label = || {
            let mut label = String::new();
            if let Some(ip) = rec.pkt.ip {
                let (sport, dport) = match rec.pkt.transport {
                    Transport::Tcp(t) => (t.sport, t.dport),
                    Transport::Udp(u) => (u.sport, u.dport),
                    _ => (0, 0),
                };
                super::describe::endpoint(&mut label, ip.src, Some(sport));
                label.push_str(" ↔ ");
                super::describe::endpoint(&mut label, ip.dst, Some(dport));
            }
            label
        };
        if let Some(row) = streams.row(s, label) {
            row.segments += 1;
            row.bytes += len.unwrap_or(0) as u64;
            // A TCP segment's first fragment: its length is this fragment's share.
            row.partial |= rec.pkt.ip.is_some_and(|i| i.fragment.is_some())
                && matches!(rec.pkt.transport, Transport::Tcp(_));
        }
    }

    /// The first line of the summary: what was shown, and of how much when that was a
    /// selection (`12 of 150 packets matched` and the selection in backquotes).
    pub fn headline(&self, totals: &Totals) -> String {
        let mut s = String::new();
        let selected = totals.selection.is_some() || totals.stopped_at.is_some();
        if selected && totals.frames != self.packets {
            let _ = write!(s, "{} of {} packets", self.packets, totals.frames);
        } else {
            let _ = write!(s, "{} packets", self.packets);
        }
        if let Some(sel) = &totals.selection {
            let _ = write!(s, " matched `{sel}`");
        }
        if totals.files > 1 {
            let _ = write!(s, " in {} files", totals.files);
        }
        s
    }

    /// Appends the summary as text.
    pub fn render(&self, out: &mut String, totals: &Totals) {
        let _ = writeln!(
            out,
            "\n{}: {} TCP, {} UDP, {} other{}",
            self.headline(totals),
            self.tcp,
            self.udp,
            self.other,
            if self.truncated > 0 {
                format!(" ({} cut by the snaplen)", self.truncated)
            } else {
                String::new()
            }
        );
        for (name, streams) in [("TCP", &self.tcp_streams), ("UDP", &self.udp_streams)] {
            let (rows, total) = (&streams.rows, streams.count);
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
            for (i, label, r) in rows {
                t.add_row(vec![
                    i.to_string(),
                    label.clone(),
                    r.segments.to_string(),
                    if r.partial {
                        format!("{}+", r.bytes)
                    } else {
                        r.bytes.to_string()
                    },
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
            if rows.iter().any(|(_, _, r)| r.partial) {
                let _ = writeln!(
                    out,
                    "(N+: at least N; a segment cut into IP fragments counts the bytes of its \
                     first fragment, as its line's `len N+` does)"
                );
            }
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
        if let Some(n) = totals.stopped_at {
            let _ = writeln!(
                out,
                "(stopped after {n} packets, as -c asked: the rest of the capture was not read)"
            );
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
