//! JSON Lines: one `packet` record per frame, keys as tshark's fields, and the `meta` record
//! that opens every JSON Lines stream of sockscope. The schema of every record kind is
//! `docs/jsonl.md`, which `tests/jsonl_schema.rs` holds the output to.
//!
//! A packet record has every key, in this order, whatever the frame is; a value that does not
//! apply (no TCP header, no analysis, not a TCP segment) is `null`:
//! `kind, frame, ts, ts_invalid, caplen, origlen, truncated, src, dst, proto, sport, dport,
//! flags, flags_str, seq, ack, seq_raw, ack_raw, len, win, win_scaled, urgent_pointer, stream, analysis,
//! dup_ack, options, label, state_src, state_dst, wait, wait_ns`. `flags` is the whole 12-bit flags field as tshark's `tcp.flags`
//! (AE = 0x100); `flags_str` its letters as tcpdump prints them. On a segment without ACK,
//! `ack` and `ack_raw` are null (tshark prints 0).

use std::fmt::Write;
use std::net::IpAddr;

use super::describe::{self, other_label, secs_frac, tcp_options};
use crate::analyse::{flags as f, Findings, Record};
use crate::decode::Transport;

/// The version of the record schema (`docs/jsonl.md`), in the `meta` record. Raised when a
/// key is removed or changes meaning; adding a key does not raise it.
pub const SCHEMA: u32 = 1;

/// Appends the `meta` record that opens a JSON Lines stream: `source` is the command that
/// wrote the stream (`replay`, `run`, `trace`, `compare`), `file` the capture(s) read (null
/// otherwise).
pub fn meta(out: &mut String, source: &str, file: Option<&str>) {
    out.push_str("{\"kind\":\"meta\",\"schema\":");
    num(out, SCHEMA as u64);
    out.push_str(",\"tool\":\"sockscope\",\"version\":");
    string(out, env!("CARGO_PKG_VERSION"));
    out.push_str(",\"source\":");
    string(out, source);
    out.push_str(",\"file\":");
    match file {
        Some(p) => string(out, p),
        None => out.push_str("null"),
    }
    out.push_str("}\n");
}

/// What the closing `summary` record of a replay says (`docs/jsonl.md`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SummaryRecord {
    /// Frames read (all files; fewer than the capture holds when `-c` stopped early).
    pub frames: u64,
    /// Packet records written (those the filter and `--stream` selected).
    pub shown: u64,
    pub tcp_streams: u64,
    pub udp_streams: u64,
    /// Open TCP and UDP conversations the analyser forgot at its bound: their later packets
    /// may be numbered and analysed as new conversations.
    pub evicted_tcp: u64,
    pub evicted_udp: u64,
    /// `-c` stopped the replay before the end of the input.
    pub stopped: bool,
}

/// Appends the `summary` record that closes a replay's JSON Lines stream.
pub fn summary(out: &mut String, s: &SummaryRecord) {
    out.push_str("{\"kind\":\"summary\",\"frames\":");
    num(out, s.frames);
    out.push_str(",\"shown\":");
    num(out, s.shown);
    out.push_str(",\"tcp_streams\":");
    num(out, s.tcp_streams);
    out.push_str(",\"udp_streams\":");
    num(out, s.udp_streams);
    out.push_str(",\"evicted\":");
    num(out, s.evicted_tcp + s.evicted_udp);
    out.push_str(",\"evicted_tcp\":");
    num(out, s.evicted_tcp);
    out.push_str(",\"evicted_udp\":");
    num(out, s.evicted_udp);
    out.push_str(",\"stopped\":");
    out.push_str(if s.stopped { "true" } else { "false" });
    out.push_str("}\n");
}

/// The keys of a packet record from `proto` on, when the frame is not TCP (UDP writes its own
/// ports, length and stream between them).
const NO_TCP_FIELDS: &str = "\"flags\":null,\"flags_str\":null,\"seq\":null,\"ack\":null,\
                             \"seq_raw\":null,\"ack_raw\":null,";
const NO_TCP_TAIL: &str = "\"win\":null,\"win_scaled\":null,\"urgent_pointer\":null,";
const NO_ANALYSIS: &str = ",\"analysis\":null,\"dup_ack\":null,\"options\":null";

const NO_STATES: &str = ",\"state_src\":null,\"state_dst\":null,\"wait\":null,\"wait_ns\":null";

/// `,"state_src":…,"state_dst":…,"wait":…,"wait_ns":…`: the states this segment moved its
/// sender and receiver to, and the wait named before it.
fn states_and_wait(out: &mut String, v: Option<&crate::analyse::TcpVerdict>) {
    let Some(v) = v else {
        out.push_str(NO_STATES);
        return;
    };
    for (key, t) in [
        ("state_src", v.states.sender),
        ("state_dst", v.states.receiver),
    ] {
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":");
        match t {
            Some(t) => string(out, t.to.name()),
            None => out.push_str("null"),
        }
    }
    out.push_str(",\"wait\":");
    match v.wait {
        Some(w) => string(out, w.kind.key()),
        None => out.push_str("null"),
    }
    out.push_str(",\"wait_ns\":");
    opt(out, v.wait.and_then(|w| w.ns));
}

/// Appends the JSON object for `rec` and a newline.
pub fn line(out: &mut String, rec: &Record<'_>) {
    let fr = &rec.frame;
    out.push_str("{\"kind\":\"packet\",\"frame\":");
    num(out, fr.number);
    out.push_str(",\"ts\":");
    match fr.ts {
        Some(ts) => {
            out.push('"');
            secs_frac(out, ts.secs, ts.nanos, ts.digits);
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str(if fr.ts.is_some_and(|t| t.invalid) {
        ",\"ts_invalid\":true,\"caplen\":"
    } else {
        ",\"ts_invalid\":false,\"caplen\":"
    });
    num(out, fr.caplen as u64);
    out.push_str(",\"origlen\":");
    num(out, fr.origlen as u64);
    out.push_str(if rec.pkt.truncated {
        ",\"truncated\":true,\"src\":"
    } else {
        ",\"truncated\":false,\"src\":"
    });
    let ip = rec.pkt.ip;
    addr(out, ip.map(|i| i.src));
    out.push_str(",\"dst\":");
    addr(out, ip.map(|i| i.dst));
    match (ip.is_some(), rec.pkt.transport) {
        (true, Transport::Tcp(t)) => {
            out.push_str(",\"proto\":\"tcp\",\"sport\":");
            num(out, t.sport as u64);
            out.push_str(",\"dport\":");
            num(out, t.dport as u64);
            let fx = t.fixed;
            match fx {
                Some(x) => flags(out, x.flags & 0x0FFF),
                None => out.push_str(",\"flags\":null,\"flags_str\":null"),
            }
            let v = rec.analysis.tcp;
            let acked = fx.is_some_and(|x| x.flags & f::ACK != 0);
            out.push_str(",\"seq\":");
            opt(
                out,
                v.map(|v| v.rel_seq as u64).or(fx.map(|x| x.seq as u64)),
            );
            out.push_str(",\"ack\":");
            opt(
                out,
                v.map(|v| v.rel_ack as u64)
                    .or(fx.map(|x| x.ack as u64))
                    .filter(|_| acked),
            );
            out.push_str(",\"seq_raw\":");
            opt(out, fx.map(|x| x.seq as u64));
            out.push_str(",\"ack_raw\":");
            opt(out, fx.map(|x| x.ack as u64).filter(|_| acked));
            out.push_str(",\"len\":");
            opt(
                out,
                fx.and_then(|x| x.len)
                    .filter(|_| v.is_some())
                    .map(u64::from),
            );
            out.push_str(",\"win\":");
            opt(out, fx.map(|x| x.win as u64));
            out.push_str(",\"win_scaled\":");
            opt(out, v.and_then(|v| v.win_scaled));
            out.push_str(",\"urgent_pointer\":");
            opt(out, fx.map(|x| x.urgent as u64));
            out.push_str(",\"stream\":");
            opt(out, rec.analysis.stream);
            match v {
                Some(v) => analysis(out, v.findings, v.dup_ack_num),
                None => out.push_str(",\"analysis\":null,\"dup_ack\":null"),
            }
            options(out, t.options, t.options_cut);
            out.push_str(",\"label\":null");
            states_and_wait(out, v.as_ref());
            out.push_str("}\n");
        }
        (true, Transport::Udp(u)) => {
            out.push_str(",\"proto\":\"udp\",\"sport\":");
            num(out, u.sport as u64);
            out.push_str(",\"dport\":");
            num(out, u.dport as u64);
            out.push(',');
            out.push_str(NO_TCP_FIELDS);
            out.push_str("\"len\":");
            opt(out, u.payload_len().map(u64::from));
            out.push(',');
            out.push_str(NO_TCP_TAIL);
            out.push_str("\"stream\":");
            opt(out, rec.analysis.stream);
            out.push_str(NO_ANALYSIS);
            out.push_str(",\"label\":null");
            out.push_str(NO_STATES);
            out.push_str("}\n");
        }
        (_, t) => {
            let proto = match t {
                Transport::Icmp(i) if i.v6 => "icmpv6",
                Transport::Icmp(_) => "icmp",
                _ if ip.is_some() => "ip",
                _ => "other",
            };
            out.push_str(",\"proto\":\"");
            out.push_str(proto);
            out.push_str("\",\"sport\":null,\"dport\":null,");
            out.push_str(NO_TCP_FIELDS);
            out.push_str("\"len\":null,");
            out.push_str(NO_TCP_TAIL);
            out.push_str("\"stream\":null");
            out.push_str(NO_ANALYSIS);
            out.push_str(",\"label\":\"");
            let text = out.len();
            other_label(out, fr.kind, fr.linktype, &rec.pkt);
            quote_from(out, text);
            out.push_str(NO_STATES);
            out.push_str("}\n");
        }
    }
}

/// `,"flags":N,"flags_str":"…"`; the common combinations written whole.
fn flags(out: &mut String, flags: u16) {
    out.push_str(match flags {
        0x010 => ",\"flags\":16,\"flags_str\":\".\"",
        0x018 => ",\"flags\":24,\"flags_str\":\"P.\"",
        0x002 => ",\"flags\":2,\"flags_str\":\"S\"",
        0x012 => ",\"flags\":18,\"flags_str\":\"S.\"",
        0x011 => ",\"flags\":17,\"flags_str\":\"F.\"",
        0x019 => ",\"flags\":25,\"flags_str\":\"FP.\"",
        0x014 => ",\"flags\":20,\"flags_str\":\"R.\"",
        0x004 => ",\"flags\":4,\"flags_str\":\"R\"",
        _ => {
            out.push_str(",\"flags\":");
            num(out, flags as u64);
            out.push_str(",\"flags_str\":\"");
            flags_str(out, flags);
            out.push('"');
            return;
        }
    });
}

/// The TCP flags as tcpdump prints them (`print-tcp.c`, `tcp_flag_values`), in its order:
/// `F` FIN, `S` SYN, `R` RST, `P` PSH, `.` ACK, `U` URG, `E` ECE, `W` CWR, `e` AE (tcpdump
/// 4.99 has no letter for AE; later tcpdump prints `e`), or `none`. Reserved bits have no
/// letter (as in tcpdump).
pub fn flags_str(out: &mut String, flags: u16) {
    const LETTERS: [(u16, char); 9] = [
        (f::FIN, 'F'),
        (f::SYN, 'S'),
        (f::RST, 'R'),
        (f::PSH, 'P'),
        (f::ACK, '.'),
        (f::URG, 'U'),
        (f::ECE, 'E'),
        (f::CWR, 'W'),
        (f::AE, 'e'),
    ];
    if flags & 0x01FF == 0 {
        out.push_str("none");
        return;
    }
    for (bit, c) in LETTERS {
        if flags & bit != 0 {
            out.push(c);
        }
    }
}

/// `,"analysis":[…],"dup_ack":N|null`: the analysis of an analysed TCP segment (an empty list
/// when nothing was found).
fn analysis(out: &mut String, fs: Findings, dup_num: u32) {
    if fs.is_empty() {
        out.push_str(",\"analysis\":[],\"dup_ack\":null");
        return;
    }
    out.push_str(",\"analysis\":[");
    let mut first = true;
    for &(bit, key, _) in Findings::NAMES {
        if fs.has(bit) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push('"');
            out.push_str(key);
            out.push('"');
        }
    }
    out.push(']');
    if fs.has(Findings::DUPLICATE_ACK) {
        out.push_str(",\"dup_ack\":");
        num(out, dup_num as u64);
    } else {
        out.push_str(",\"dup_ack\":null");
    }
}

/// `,"options":"…"` for a segment with options (`null` without), written in place (the option
/// text never needs escaping; if it ever did, it is escaped).
fn options(out: &mut String, bytes: &[u8], cut: bool) {
    const KEY: &str = ",\"options\":\"";
    let start = out.len();
    out.push_str(KEY);
    let text = out.len();
    tcp_options(out, bytes, cut, None);
    if out.len() == text {
        out.truncate(start);
        out.push_str(",\"options\":null");
        return;
    }
    quote_from(out, text);
}

/// Ends a JSON string whose text was written raw from byte `text` of `out`, after its opening
/// quote: escapes it if it needs escaping (as [`string`] would), then closes it.
fn quote_from(out: &mut String, text: usize) {
    if out.as_bytes()[text..].iter().any(|&b| needs_escape(b)) {
        let raw = out.split_off(text);
        out.truncate(text - 1);
        string(out, &raw);
        return;
    }
    out.push('"');
}

fn num(out: &mut String, n: u64) {
    describe::num(out, n);
}

fn opt(out: &mut String, n: Option<u64>) {
    match n {
        Some(n) => num(out, n),
        None => out.push_str("null"),
    }
}

fn addr(out: &mut String, a: Option<IpAddr>) {
    match a {
        Some(a) => {
            out.push('"');
            describe::ip(out, a);
            out.push('"');
        }
        None => out.push_str("null"),
    }
}

/// A JSON string with the escapes RFC 8259 requires.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(needs_escape) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // C1 controls and bidirectional or invisible formatting too (a terminal may take
            // U+009B as CSI), as any JSON string may.
            c if (c as u32) < 0x20 || crate::render::escape::unsafe_char(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A byte that a JSON string must escape, or that may start a character escaped for the
/// terminal's sake (non-ASCII: see [`string`]).
fn needs_escape(b: u8) -> bool {
    b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b)
}
