//! JSON Lines: one object per frame, keys as tshark's fields (the README's "JSON Lines" section;
//! `tests/oracle_agreement.rs` holds them to tshark's reading of the fixtures).
//!
//! `frame, ts, src, dst, sport, dport, proto, flags, seq, ack, seq_raw, ack_raw, len, win, stream`
//! plus `kind`, `caplen`, `origlen`, `truncated`, `win_scaled`, `analysis` (Wireshark's
//! `tcp.analysis.*` names), `dup_ack`, `options`, `label` and `ts_invalid`.
//! Absent values are `null`. On a SYN without ACK, `ack` and `ack_raw` are null (tshark prints 0).

use std::fmt::Write;
use std::net::IpAddr;

use super::describe::{self, other_label, secs_frac, tcp_options};
use crate::analyse::{flags as f, Findings, Record};
use crate::decode::Transport;

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
    if fr.ts.is_some_and(|t| t.invalid) {
        out.push_str(",\"ts_invalid\":true");
    }
    out.push_str(",\"caplen\":");
    num(out, fr.caplen as u64);
    out.push_str(",\"origlen\":");
    num(out, fr.origlen as u64);
    if rec.pkt.truncated {
        out.push_str(",\"truncated\":true");
    }
    let ip = rec.pkt.ip;
    out.push_str(",\"src\":");
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
            out.push_str(",\"flags\":");
            opt(out, fx.map(|x| (x.flags & 0xFF) as u64));
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
            out.push_str(",\"stream\":");
            opt(out, rec.analysis.stream);
            if let Some(v) = v {
                analysis(out, v.findings, v.dup_ack_num);
            }
            options(out, t.options, t.options_cut);
        }
        (true, Transport::Udp(u)) => {
            out.push_str(",\"proto\":\"udp\",\"sport\":");
            num(out, u.sport as u64);
            out.push_str(",\"dport\":");
            num(out, u.dport as u64);
            out.push_str(",\"len\":");
            opt(out, u.payload_len().map(u64::from));
            out.push_str(",\"stream\":");
            opt(out, rec.analysis.stream);
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
            out.push('"');
            out.push_str(",\"label\":\"");
            let text = out.len();
            other_label(out, fr.kind, fr.linktype, &rec.pkt);
            quote_from(out, text);
        }
    }
    out.push_str("}\n");
}

fn analysis(out: &mut String, fs: Findings, dup_num: u32) {
    if fs.is_empty() {
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
    }
}

/// `,"options":"…"` for a segment with options, written in place (the option text never
/// needs escaping; if it ever did, it is escaped).
fn options(out: &mut String, bytes: &[u8], cut: bool) {
    const KEY: &str = ",\"options\":\"";
    let start = out.len();
    out.push_str(KEY);
    let text = out.len();
    tcp_options(out, bytes, cut, None);
    if out.len() == text {
        out.truncate(start);
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
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A byte that a JSON string must escape (every other char is written as it is).
fn needs_escape(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}
