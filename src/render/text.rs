//! The annotated timeline: one aligned line per packet.
//!
//! ```text
//!  frame  time      stream  conversation                        proto  flags  seq/ack             win/len        details
//!      1  0.000000  tcp 0   127.0.0.1:41234 → 127.0.0.1:9000    TCP    [S]    seq 0               win 65495      <mss 65495,sackOK,...>
//! ```
//! Columns grow as wider values appear and never shrink, so a stream of lines stays aligned
//! without reading ahead.

use std::fmt::Write;

use super::describe::{endpoint, flag_letters, other_label, tcp_options};
use super::{pad, width, Palette};
use crate::analyse::{flags as f, Findings, Record};
use crate::decode::Transport;
use crate::source::time::write_secs_frac;
use crate::source::Timestamp;

/// How the time column is shown (tcpdump's -t variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeMode {
    /// Seconds since the first packet.
    #[default]
    Rel,
    /// UTC date and time.
    Abs,
    /// Seconds since the previous packet shown.
    Delta,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    pub time: TimeMode,
    pub color: bool,
}

/// Column indexes.
const FRAME: usize = 0;
const TIME: usize = 1;
const STREAM: usize = 2;
const CONV: usize = 3;
const PROTO: usize = 4;
const FLAGS: usize = 5;
const SEQACK: usize = 6;
const WINLEN: usize = 7;
const NCOLS: usize = 8;

const HEADERS: [&str; NCOLS] = [
    "frame",
    "time",
    "stream",
    "conversation",
    "proto",
    "flags",
    "seq / ack",
    "win / len",
];

/// Lines held back before the first output, so their widths set the columns.
pub const LOOKAHEAD: usize = 256;

/// One rendered line, not yet padded.
#[derive(Default)]
struct Cells {
    cells: [String; NCOLS],
    flags_style: &'static str,
    details: String,
    notes: String,
    notes_style: &'static str,
}

/// Renders records as timeline lines; keeps the state that relative times and alignment need.
///
/// The first [`LOOKAHEAD`] lines (and the header) are held until [`Timeline::finish`] or until
/// the lookahead is full, so short timelines are aligned as a whole; after that, columns only
/// grow.
pub struct Timeline {
    opts: TextOptions,
    pal: Palette,
    widths: [usize; NCOLS],
    first: Option<i128>,
    prev: Option<i128>,
    cur: Cells,
    pending: Option<Vec<Cells>>,
    header: bool,
}

impl Timeline {
    pub fn new(opts: TextOptions) -> Timeline {
        let mut widths = [0; NCOLS];
        for (w, h) in widths.iter_mut().zip(HEADERS) {
            *w = width(h);
        }
        // Typical loopback/IPv4 values, so the first lines already line up.
        widths[FRAME] = widths[FRAME].max(5);
        Timeline {
            opts,
            pal: Palette { on: opts.color },
            widths,
            first: None,
            prev: None,
            cur: Cells::default(),
            pending: Some(Vec::new()),
            header: false,
        }
    }

    pub fn palette(&self) -> Palette {
        self.pal
    }

    /// Makes `ts` the origin of relative times if none is set yet. Replay calls this for every
    /// frame, shown or not, so times are relative to the file's first packet as in Wireshark.
    pub fn origin(&mut self, ts: Option<Timestamp>) {
        if self.first.is_none() {
            self.first = ts.map(|t| t.as_nanos());
        }
    }

    /// Asks for the column header line before the first line.
    pub fn header(&mut self, out: &mut String) {
        if self.pending.is_some() {
            self.header = true;
        } else {
            self.write_header(out);
        }
    }

    /// Writes out every held line. Call once after the last record.
    pub fn finish(&mut self, out: &mut String) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        if self.header {
            self.write_header(out);
        }
        for c in &pending {
            self.write_line(out, c);
        }
    }

    fn write_header(&self, out: &mut String) {
        let mut line = String::new();
        for (i, h) in HEADERS.iter().enumerate() {
            if i == FRAME || i == TIME {
                for _ in width(h)..self.widths[i] {
                    line.push(' ');
                }
                line.push_str(h);
            } else {
                pad(&mut line, h, self.widths[i]);
            }
            line.push_str("  ");
        }
        line.push_str("details");
        self.pal.paint(out, Palette::BOLD, line.trim_end());
        out.push('\n');
    }

    /// Appends one line (with its newline) for `rec`.
    pub fn line(&mut self, out: &mut String, rec: &Record<'_>) {
        for c in self.cur.cells.iter_mut() {
            c.clear();
        }
        self.cur.details.clear();
        self.cur.notes.clear();
        let mut details = std::mem::take(&mut self.cur.details);
        let mut notes = std::mem::take(&mut self.cur.notes);
        let mut notes_style = Palette::YELLOW;
        let _ = write!(self.cur.cells[FRAME], "{}", rec.frame.number);
        self.time_cell(rec.frame.ts);
        if let Some(s) = rec.analysis.stream {
            let kind = match rec.pkt.transport {
                Transport::Udp(_) => "udp",
                _ => "tcp",
            };
            let _ = write!(self.cur.cells[STREAM], "{kind} {s}");
        }
        let mut flags_style = "";
        match (rec.pkt.ip, rec.pkt.transport) {
            (Some(ip), Transport::Tcp(t)) => {
                conversation(
                    &mut self.cur.cells[CONV],
                    ip.src,
                    ip.dst,
                    Some((t.sport, t.dport)),
                );
                self.cur.cells[PROTO].push_str("TCP");
                if let Some(fx) = t.fixed {
                    self.cur.cells[FLAGS].push('[');
                    flag_letters(&mut self.cur.cells[FLAGS], fx.flags);
                    self.cur.cells[FLAGS].push(']');
                    flags_style = flag_style(fx.flags);
                    // A first fragment's IP length is the fragment's, not the segment's.
                    let len = if ip.fragment.is_some() { None } else { fx.len };
                    self.tcp_cells(rec, fx.seq, fx.ack, fx.flags, fx.win, len);
                    let before = details.len();
                    details.push('<');
                    // The peer's ISN, from this segment's raw and relative ACK.
                    let sack_base = rec
                        .analysis
                        .tcp
                        .filter(|_| fx.flags & f::ACK != 0)
                        .map(|v| fx.ack.wrapping_sub(v.rel_ack));
                    tcp_options(&mut details, t.options, t.options_cut, sack_base);
                    if details.len() == before + 1 {
                        details.truncate(before);
                    } else {
                        details.push('>');
                    }
                } else {
                    details.push_str("TCP header cut after the ports");
                }
            }
            (Some(ip), Transport::Udp(u)) => {
                conversation(
                    &mut self.cur.cells[CONV],
                    ip.src,
                    ip.dst,
                    Some((u.sport, u.dport)),
                );
                self.cur.cells[PROTO].push_str("UDP");
                match u.payload_len() {
                    Some(l) => {
                        let _ = write!(self.cur.cells[WINLEN], "len {l}");
                    }
                    None => details.push_str("UDP header cut after the ports"),
                }
                if u.length.is_some() && !u.length_ok {
                    details.push_str("bad UDP length field");
                }
            }
            (Some(ip), t) => {
                conversation(&mut self.cur.cells[CONV], ip.src, ip.dst, None);
                self.cur.cells[PROTO].push_str(match t {
                    Transport::Icmp(i) if i.v6 => "ICMPv6",
                    Transport::Icmp(_) => "ICMP",
                    Transport::Fragment => "IP",
                    _ => {
                        if ip.src.is_ipv4() {
                            "IPv4"
                        } else {
                            "IPv6"
                        }
                    }
                });
                other_label(&mut details, rec.frame.kind, rec.frame.linktype, &rec.pkt);
                notes_style = "";
            }
            (None, _) => {
                self.cur.cells[PROTO].push('-');
                other_label(&mut details, rec.frame.kind, rec.frame.linktype, &rec.pkt);
                notes_style = "";
            }
        }
        // Notes: analysis findings, then damage.
        if let Some(v) = rec.analysis.tcp {
            findings(&mut notes, v.findings, v.dup_ack_num, v.dup_ack_of);
            if v.findings
                .has(Findings::RETRANSMISSION | Findings::LOST_SEGMENT | Findings::ACK_LOST_SEGMENT)
            {
                notes_style = Palette::RED;
            }
        } else if rec.pkt.ip.is_some_and(|ip| ip.fragment.is_some())
            && matches!(rec.pkt.transport, Transport::Tcp(_) | Transport::Udp(_))
        {
            push_note(&mut notes, "first IP fragment (not reassembled)");
        }
        if rec.pkt.truncated {
            let _ = write!(
                push_note(&mut notes, ""),
                "cut by snaplen: {} of {} bytes",
                rec.frame.caplen,
                rec.frame.origlen
            );
        }
        if rec.frame.ts.is_some_and(|t| t.invalid) {
            push_note(&mut notes, "invalid timestamp fraction in the file");
        }
        self.cur.flags_style = flags_style;
        self.cur.details = details;
        self.cur.notes = notes;
        self.cur.notes_style = notes_style;
        self.emit(out);
    }

    fn time_cell(&mut self, ts: Option<Timestamp>) {
        let cell = &mut self.cur.cells[TIME];
        let Some(ts) = ts else {
            cell.push('-');
            return;
        };
        let ns = ts.as_nanos();
        let first = *self.first.get_or_insert(ns);
        match self.opts.time {
            TimeMode::Rel => duration(cell, ns - first, ts.digits),
            TimeMode::Delta => duration(cell, ns - self.prev.unwrap_or(ns), ts.digits),
            TimeMode::Abs => utc(cell, ts),
        }
        self.prev = Some(ns);
    }

    fn tcp_cells(
        &mut self,
        rec: &Record<'_>,
        seq: u32,
        ack: u32,
        flags: u16,
        win: u16,
        len: Option<u32>,
    ) {
        let sa = &mut self.cur.cells[SEQACK];
        match rec.analysis.tcp {
            Some(v) => {
                let l = len.unwrap_or(0);
                if l > 0 {
                    let _ = write!(sa, "seq {}:{}", v.rel_seq, v.rel_seq.wrapping_add(l));
                } else {
                    let _ = write!(sa, "seq {}", v.rel_seq);
                }
                if flags & f::ACK != 0 {
                    let _ = write!(sa, " ack {}", v.rel_ack);
                }
            }
            None => {
                let _ = write!(sa, "seq {seq} (raw)");
                if flags & f::ACK != 0 {
                    let _ = write!(sa, " ack {ack}");
                }
            }
        }
        let wl = &mut self.cur.cells[WINLEN];
        match rec.analysis.tcp.and_then(|v| v.win_scaled) {
            Some(w) if flags & f::SYN == 0 => {
                let _ = write!(wl, "win {w}");
            }
            _ if flags & f::SYN != 0 => {
                let _ = write!(wl, "win {win}");
            }
            _ => {
                let _ = write!(wl, "win {win} raw");
            }
        }
        match len {
            Some(l) => {
                let _ = write!(wl, " len {l}");
            }
            None => wl.push_str(" len ?"),
        }
    }

    fn emit(&mut self, out: &mut String) {
        for i in 0..NCOLS {
            self.widths[i] = self.widths[i].max(width(&self.cur.cells[i]));
        }
        if let Some(pending) = self.pending.as_mut() {
            pending.push(std::mem::take(&mut self.cur));
            if pending.len() >= LOOKAHEAD {
                self.finish(out);
            }
            return;
        }
        let cur = std::mem::take(&mut self.cur);
        self.write_line(out, &cur);
        self.cur = cur;
    }

    fn write_line(&self, out: &mut String, c: &Cells) {
        let (details, notes, notes_style) = (&c.details, &c.notes, c.notes_style);
        let pal = self.pal;
        let mut line = String::with_capacity(160);
        // frame number right-aligned
        for _ in width(&c.cells[FRAME])..self.widths[FRAME] {
            line.push(' ');
        }
        pal.paint(&mut line, Palette::DIM, &c.cells[FRAME]);
        line.push_str("  ");
        for i in TIME..NCOLS {
            let cell = &c.cells[i];
            let style = match i {
                TIME => Palette::DIM,
                FLAGS => c.flags_style,
                STREAM => Palette::CYAN,
                _ => "",
            };
            // Times are right-aligned so their decimal points line up.
            let fill = self.widths[i].saturating_sub(width(cell));
            if i == TIME {
                line.extend(std::iter::repeat_n(' ', fill));
            }
            if style.is_empty() {
                line.push_str(cell);
            } else {
                pal.paint(&mut line, style, cell);
            }
            if i != TIME {
                line.extend(std::iter::repeat_n(' ', fill));
            }
            line.push_str("  ");
        }
        line.push_str(details);
        if !notes.is_empty() {
            if !details.is_empty() {
                line.push_str("  ");
            }
            pal.paint(&mut line, notes_style, notes);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// `a:1 → b:2`, or `127.0.0.1:1 → :2` when both ends share the address.
fn conversation(
    out: &mut String,
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    ports: Option<(u16, u16)>,
) {
    endpoint(out, src, ports.map(|p| p.0));
    out.push_str(" → ");
    if src == dst {
        if let Some((_, d)) = ports {
            let _ = write!(out, ":{d}");
            return;
        }
    }
    endpoint(out, dst, ports.map(|p| p.1));
}

fn flag_style(flags: u16) -> &'static str {
    if flags & f::RST != 0 {
        Palette::RED
    } else if flags & f::SYN != 0 {
        Palette::GREEN
    } else if flags & f::FIN != 0 {
        Palette::MAGENTA
    } else if flags & f::PSH != 0 {
        Palette::BLUE
    } else {
        ""
    }
}

fn push_note<'s>(notes: &'s mut String, text: &str) -> &'s mut String {
    if !notes.is_empty() {
        notes.push_str("; ");
    }
    notes.push_str(text);
    notes
}

/// Analysis findings as Wireshark names them.
pub fn findings(out: &mut String, fs: Findings, dup_num: u32, dup_of: u64) {
    for &(bit, _, label) in Findings::NAMES {
        if !fs.has(bit) {
            continue;
        }
        if bit == Findings::DUPLICATE_ACK {
            let _ = write!(push_note(out, ""), "dup ACK #{dup_num} of frame {dup_of}");
        } else {
            push_note(out, label);
        }
    }
}

/// A signed duration in ns as `s.frac`.
fn duration(out: &mut String, ns: i128, digits: u8) {
    let neg = ns < 0;
    let a = ns.unsigned_abs();
    if neg {
        out.push('-');
    }
    let _ = write_secs_frac(
        out,
        (a / 1_000_000_000) as i64,
        (a % 1_000_000_000) as u32,
        digits,
    );
}

/// `YYYY-MM-DD HH:MM:SS.frac` in UTC, computed without the time zone database.
pub fn utc(out: &mut String, ts: Timestamp) {
    let days = ts.secs.div_euclid(86_400);
    let sod = ts.secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:",
        sod / 3600,
        sod / 60 % 60
    );
    let mut tail = String::new();
    let _ = write_secs_frac(&mut tail, sod % 60, ts.nanos, ts.digits);
    if sod % 60 < 10 {
        out.push('0');
    }
    out.push_str(&tail);
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        let mut s = String::new();
        utc(
            &mut s,
            Timestamp::from_parts(1_418_145_369, 924_505_488, 1_000_000_000),
        );
        assert_eq!(s, "2014-12-09 17:16:09.924505488");
        let mut s = String::new();
        utc(&mut s, Timestamp::from_parts(4_294_967_296, 0, 1_000_000));
        assert_eq!(s, "2106-02-07 06:28:16.000000");
    }

    #[test]
    fn durations_keep_file_digits() {
        let mut s = String::new();
        duration(&mut s, 1_500_000, 6);
        assert_eq!(s, "0.001500");
        s.clear();
        duration(&mut s, -2, 9);
        assert_eq!(s, "-0.000000002");
    }
}
