//! The annotated timeline: one aligned line per packet.
//!
//! ```text
//!  frame  time      stream  conversation                        proto  flags  seq/ack             win/len        details
//!      1  0.000000  tcp 0   127.0.0.1:41234 → 127.0.0.1:9000    TCP    [S]    seq 0               win 65495      <mss 65495,sackOK,...>
//! ```
//! Columns grow as wider values appear and never shrink, so a stream of lines stays aligned
//! without reading ahead.

mod row;

use std::fmt::Write as _;

use self::row::{write_line, Line, Row, DETAILS, NOTES};
use super::describe::app::{app, Whole};
use super::describe::{endpoint, flag_letters, num, other_label, secs_frac, tcp_options, Sink};
use super::payload::{self, PayloadView};
use super::{pad, width, Palette};
use crate::analyse::{flags as f, Findings, Record};
use crate::decode::transport::TcpFixed;
use crate::decode::Transport;
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
    /// Where held lines are built.
    scratch: String,
    pending: Option<Vec<Row>>,
    header: bool,
    /// Payloads under their lines (`-A`, `-X`).
    payload: PayloadView,
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
            scratch: String::new(),
            pending: Some(Vec::new()),
            header: false,
            payload: PayloadView::None,
        }
    }

    /// Shows each packet's payload under its line, as text or hex (tcpdump's `-A`, `-X`).
    pub fn with_payload(mut self, view: PayloadView) -> Timeline {
        self.payload = view;
        self
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
        for r in &pending {
            write_line(&self.widths, self.pal, out, r);
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
        let Some(pending) = self.pending.as_mut() else {
            // Widths are settled: straight into the output, padded as it is built.
            let mut l = Line::direct(out, &mut self.widths, self.pal);
            fill(&mut l, rec, self.opts.time, &mut self.first, &mut self.prev);
            l.finish();
            payload::write(out, self.payload, &rec.pkt);
            return;
        };
        let mut l = Line::held(&mut self.scratch);
        fill(&mut l, rec, self.opts.time, &mut self.first, &mut self.prev);
        let mut row = Row::of(&l);
        payload::write(&mut row.after, self.payload, &rec.pkt);
        for (i, w) in self.widths.iter_mut().enumerate() {
            *w = (*w).max(row.width(i));
        }
        pending.push(row);
        if pending.len() >= LOOKAHEAD {
            self.finish(out);
        }
    }
}

/// Writes the parts of `rec`'s line into `l`.
fn fill(
    l: &mut Line<'_>,
    rec: &Record<'_>,
    mode: TimeMode,
    first: &mut Option<i128>,
    prev: &mut Option<i128>,
) {
    num(l.text, rec.frame.number);
    l.close(FRAME);
    time_text(l.text, rec.frame.ts, mode, first, prev);
    l.close(TIME);
    if let Some(s) = rec.analysis.stream {
        l.text.put(match rec.pkt.transport {
            Transport::Udp(_) => "udp ",
            _ => "tcp ",
        });
        num(l.text, s);
    }
    l.close(STREAM);
    match (rec.pkt.ip, rec.pkt.transport) {
        (Some(ip), Transport::Tcp(t)) => {
            conversation(l.text, ip.src, ip.dst, Some((t.sport, t.dport)));
            l.close(CONV);
            l.text.put("TCP");
            l.close(PROTO);
            if let Some(fx) = t.fixed {
                l.text.put("[");
                flag_letters(l.text, fx.flags);
                l.text.put("]");
                l.flags_style = flag_style(fx.flags);
                l.close(FLAGS);
                // A first fragment's IP length is the fragment's: the segment has more.
                let more = ip.fragment.is_some();
                tcp_cells(l, rec, &fx, more);
                app_message(l.text, rec);
                let before = l.text.len();
                let sep = if before > l.open_part_start() {
                    "  "
                } else {
                    ""
                };
                l.text.put(sep);
                l.text.put("<");
                // The peer's ISN, from this segment's raw and relative ACK.
                let sack_base = rec
                    .analysis
                    .tcp
                    .filter(|_| fx.flags & f::ACK != 0)
                    .map(|v| fx.ack.wrapping_sub(v.rel_ack));
                tcp_options(l.text, t.options, t.options_cut, sack_base);
                if l.text.len() == before + sep.len() + 1 {
                    l.text.truncate(before);
                } else {
                    l.text.put(">");
                }
            } else {
                l.close(WINLEN);
                l.text.put("TCP header cut after the ports");
            }
        }
        (Some(ip), Transport::Udp(u)) => {
            conversation(l.text, ip.src, ip.dst, Some((u.sport, u.dport)));
            l.close(CONV);
            l.text.put("UDP");
            l.close(SEQACK);
            let len = u.payload_len();
            if let Some(n) = len {
                l.text.put("len ");
                num(l.text, n);
            }
            l.close(WINLEN);
            app_message(l.text, rec);
            if len.is_none() {
                l.text.put("UDP header cut after the ports");
            }
            if u.length.is_some() && !u.length_ok {
                if l.text.len() > l.open_part_start() {
                    l.text.put("  ");
                }
                l.text.put("bad UDP length field");
            }
        }
        (Some(ip), t) => {
            conversation(l.text, ip.src, ip.dst, None);
            l.close(CONV);
            l.text.put(match t {
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
            l.close(WINLEN);
            other_label(l.text, rec.frame.kind, rec.frame.linktype, &rec.pkt);
            if let Transport::Icmp(i) = t {
                if let Some((id, seq)) = i.echo_id_seq() {
                    let _ = write!(l.text, " id 0x{id:x} seq {seq}");
                }
            }
            l.notes_style = "";
        }
        (None, _) => {
            l.close(CONV);
            l.text.put("-");
            l.close(WINLEN);
            other_label(l.text, rec.frame.kind, rec.frame.linktype, &rec.pkt);
            l.notes_style = "";
        }
    }
    l.close(DETAILS);
    // Notes: analysis findings, then damage.
    if let Some(v) = rec.analysis.tcp {
        let start = l.text.len();
        findings_from(l.text, start, v.findings, v.dup_ack_num, v.dup_ack_of);
        if v.findings
            .has(Findings::RETRANSMISSION | Findings::LOST_SEGMENT | Findings::ACK_LOST_SEGMENT)
        {
            l.notes_style = Palette::RED;
        }
        if !v.states.is_empty() {
            super::states::transitions(l.note(), &v.states, None);
        }
        if let Some(w) = &v.wait {
            super::states::wait(l.note(), w);
        }
    } else if rec.pkt.ip.is_some_and(|ip| ip.fragment.is_some())
        && matches!(rec.pkt.transport, Transport::Tcp(_) | Transport::Udp(_))
    {
        l.note().put("first IP fragment (not reassembled)");
    }
    if rec.pkt.truncated {
        let n = l.note();
        n.put("cut by snaplen: ");
        num(n, rec.frame.caplen);
        n.put(" of ");
        num(n, rec.frame.origlen);
        n.put(" bytes");
    }
    if rec.frame.ts.is_some_and(|t| t.invalid) {
        l.note().put("invalid timestamp fraction in the file");
    }
    l.close(NOTES);
}

/// The application message the payload starts, if one is recognised.
fn app_message<S: Sink + ?Sized>(out: &mut S, rec: &Record<'_>) {
    if let Some(a) = crate::decode::app::parse(&rec.pkt.transport) {
        let whole = if rec.pkt.ip.is_some_and(|ip| ip.fragment.is_some()) {
            Whole::FirstFragment
        } else if rec.pkt.truncated {
            Whole::Cut
        } else {
            Whole::Yes
        };
        app(out, &a, whole);
    }
}

/// The time cell: relative, delta or absolute, at the file's precision; `-` without a time.
fn time_text<S: Sink + ?Sized>(
    out: &mut S,
    ts: Option<Timestamp>,
    mode: TimeMode,
    first: &mut Option<i128>,
    prev: &mut Option<i128>,
) {
    let Some(ts) = ts else {
        out.put("-");
        return;
    };
    let ns = ts.as_nanos();
    let first = *first.get_or_insert(ns);
    match mode {
        TimeMode::Rel => duration(out, ns - first, ts.digits),
        TimeMode::Delta => duration(out, ns - prev.unwrap_or(ns), ts.digits),
        TimeMode::Abs => utc(out, ts),
    }
    *prev = Some(ns);
}

/// The `seq / ack` and `win / len` cells of a TCP segment; `more`: `len` counts the bytes of
/// a first IP fragment (`len 124+`), the rest of the segment being in later fragments.
/// A segment with URG shows tcpdump's `urg N` after its length.
fn tcp_cells(r: &mut Line<'_>, rec: &Record<'_>, fx: &TcpFixed, more: bool) {
    let (seq, ack, flags, win, len) = (fx.seq, fx.ack, fx.flags, fx.win, fx.len);
    let sa = &mut *r.text;
    match rec.analysis.tcp {
        Some(v) => {
            let l = len.unwrap_or(0);
            sa.put("seq ");
            num(sa, v.rel_seq);
            if l > 0 {
                sa.put(":");
                num(sa, v.rel_seq.wrapping_add(l));
            }
            if flags & f::ACK != 0 {
                sa.put(" ack ");
                num(sa, v.rel_ack);
            }
        }
        None => {
            sa.put("seq ");
            num(sa, seq);
            sa.put(" (raw)");
            if flags & f::ACK != 0 {
                sa.put(" ack ");
                num(sa, ack);
            }
        }
    }
    r.close(SEQACK);
    let wl = &mut *r.text;
    wl.put("win ");
    match rec.analysis.tcp.and_then(|v| v.win_scaled) {
        Some(w) if flags & f::SYN == 0 => num(wl, w),
        _ if flags & f::SYN != 0 => num(wl, win),
        _ => {
            num(wl, win);
            wl.put(" raw");
        }
    }
    match len {
        Some(l) => {
            wl.put(" len ");
            num(wl, l);
            if more {
                // The bytes in this fragment; the rest of the segment is in later ones.
                wl.put("+");
            }
        }
        None => wl.put(" len ?"),
    }
    if flags & f::URG != 0 {
        wl.put(" urg ");
        num(wl, fx.urgent);
    }
    r.close(WINLEN);
}

/// `a:1 → b:2`, or `127.0.0.1:1 → :2` when both ends share the address.
fn conversation<S: Sink + ?Sized>(
    out: &mut S,
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    ports: Option<(u16, u16)>,
) {
    endpoint(out, src, ports.map(|p| p.0));
    out.put(" → ");
    if src == dst {
        if let Some((_, d)) = ports {
            out.put(":");
            num(out, d);
            return;
        }
    }
    endpoint(out, dst, ports.map(|p| p.1));
}

/// The flags' colour: RST red, SYN green, FIN magenta, PSH blue (the live views use it too).
pub fn flag_style(flags: u16) -> &'static str {
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

/// Analysis findings as Wireshark names them, `; `-separated, appended to `out`.
pub fn findings<S: Sink + ?Sized>(out: &mut S, fs: Findings, dup_num: u32, dup_of: u64) {
    findings_from(out, 0, fs, dup_num, dup_of);
}

/// [`findings`] into notes that start at byte `start` of `out`.
fn findings_from<S: Sink + ?Sized>(
    out: &mut S,
    start: usize,
    fs: Findings,
    dup_num: u32,
    dup_of: u64,
) {
    if fs.is_empty() {
        return;
    }
    for &(bit, _, label) in Findings::NAMES {
        if !fs.has(bit) {
            continue;
        }
        if out.len() > start {
            out.put("; ");
        }
        if bit == Findings::DUPLICATE_ACK {
            out.put("dup ACK #");
            num(out, dup_num);
            out.put(" of frame ");
            num(out, dup_of);
        } else {
            out.put(label);
        }
    }
}

/// A signed duration in ns as `s.frac`.
fn duration<S: Sink + ?Sized>(out: &mut S, ns: i128, digits: u8) {
    let neg = ns < 0;
    let a = ns.unsigned_abs();
    if neg {
        out.put("-");
    }
    // 64-bit division when it fits (always, for captures): 128-bit division is a library call.
    let (secs, nanos) = match u64::try_from(a) {
        Ok(a) => ((a / 1_000_000_000) as i64, (a % 1_000_000_000) as u32),
        Err(_) => ((a / 1_000_000_000) as i64, (a % 1_000_000_000) as u32),
    };
    secs_frac(out, secs, nanos, digits);
}

/// `YYYY-MM-DD HH:MM:SS.frac` in UTC, computed without the time zone database.
pub fn utc<S: Sink + ?Sized>(out: &mut S, ts: Timestamp) {
    let days = ts.secs.div_euclid(86_400);
    let sod = ts.secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if (0..10_000).contains(&y) {
        zero_padded(out, y as u64, 4);
    } else {
        let _ = write!(out, "{y:04}");
    }
    out.put("-");
    zero_padded(out, m as u64, 2);
    out.put("-");
    zero_padded(out, d as u64, 2);
    out.put(" ");
    zero_padded(out, (sod / 3600) as u64, 2);
    out.put(":");
    zero_padded(out, (sod / 60 % 60) as u64, 2);
    out.put(":");
    if sod % 60 < 10 {
        out.put("0");
    }
    secs_frac(out, sod % 60, ts.nanos, ts.digits);
}

/// `n` with leading zeros to at least `w` digits.
fn zero_padded<S: Sink + ?Sized>(out: &mut S, n: u64, w: usize) {
    let mut b = itoa::Buffer::new();
    let s = b.format(n);
    for _ in s.len()..w {
        out.put("0");
    }
    out.put(s);
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
