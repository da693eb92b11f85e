//! The interleaved timeline: the program's calls and the packets in time order, one item per
//! line, in three lanes: client calls on the left, packets in the middle (with an arrow showing
//! which way they go), server calls on the right.
//!
//! ```text
//!      time  client                          wire                                              server
//!  0.000000                                                                                    socket(AF_INET, SOCK_STREAM) = 3
//!  0.000061  connect(4, 127.0.0.1:40123) …
//!  0.000081                                  [S] seq 0 win 65495 <mss 65495,sackOK,TS,wscale 7> ──▶
//!  0.000090                                  ◀── [S.] seq 0 ack 1 win 65483 <…>
//! ```
//! A call that can wait (accept, connect, read…) is shown twice when something happens while it
//! waits: `accept(3) …` when it starts and `… accept() = 5` when it returns. Identical calls in
//! a row are shown once with `×N`.
//!
//! Given a width the whole-line layout does not fit, the lanes narrow and each item wraps
//! inside its own lane (`lanes.rs`); without one, every item is one whole line.

use std::fmt::Write;

use crate::analyse::{flags as f, Findings};
use crate::decode::options::{options, TcpOption};
use crate::render::describe::{flag_letters, icmp_v4_name, option_note};
use crate::render::fit::{self, Token};

use super::lanes::{drop_repeated_tags, whole, wrapped, Lane, Layout, Row};
use crate::render::text::{findings, flag_style};
use crate::render::{pad, width, Palette, TextOptions, TimeMode};

use crate::analyse::tcp::state::{TcpState, Transition};
use crate::analyse::tcp::WaitKind;
use crate::live::event::{show_bytes, Event, Part, Role};
use crate::live::model::{Dir, Pkt, Proto, View};
use crate::render::states;

/// Payload characters shown on a packet line.
const PAYLOAD_PREVIEW: usize = 12;

pub(crate) enum Item<'a> {
    Call {
        e: &'a Event,
        part: Part,
        repeat: usize,
    },
    Packet(&'a Pkt),
}

impl Item<'_> {
    pub(crate) fn time(&self) -> i128 {
        match self {
            Item::Call { e, part, .. } => match part {
                Part::End => e.end,
                _ => e.start,
            },
            Item::Packet(p) => p.ts,
        }
    }
}

/// Compact packet text for the wire lane (no arrow).
pub fn packet_text(v: &View, p: &Pkt) -> (String, &'static str) {
    let (tokens, style) = packet_tokens(v, p);
    (fit::join(&tokens), style)
}

/// The packet text as pieces that a narrow wire lane may put on separate lines: the flags,
/// `seq 1:13`, `ack 1`, `win 65536`, `len 12`, the payload, each SYN option, the
/// findings' words.
fn packet_tokens(v: &View, p: &Pkt) -> (Vec<Token>, &'static str) {
    let mut out = Vec::new();
    let mut style = "";
    if let Some(ic) = p.icmp {
        // `ICMP port unreachable`, red: the datagram it quotes was refused.
        return (fit::words(&icmp_v4_name(ic.kind, ic.code)), Palette::RED);
    }
    match (&p.tcp, p.proto) {
        (Some(t), _) => {
            let mut s = String::from("[");
            flag_letters(&mut s, t.flags);
            s.push(']');
            out.push(Token::new("", s));
            style = flag_style(t.flags);
            let seq = v.rel_seq(p);
            if t.len > 0 {
                out.push(Token::new(
                    " ",
                    format!("seq {seq}:{}", seq.wrapping_add(t.len)),
                ));
            } else {
                out.push(Token::new(" ", format!("seq {seq}")));
            }
            if t.has(f::ACK) {
                out.push(Token::new(" ", format!("ack {}", v.rel_ack(p))));
            }
            out.push(Token::new(" ", format!("win {}", v.window(p))));
            if t.has(f::URG) {
                // tcpdump's `urg N`: the urgent data ends N bytes after this SEQ.
                out.push(Token::new(" ", format!("urg {}", t.urgent)));
            }
            if t.len > 0 {
                out.push(Token::new(" ", format!("len {}", t.len)));
                payload_tokens(&mut out, &p.payload);
            }
            if t.has(f::SYN) && !t.options.is_empty() {
                let mut o = String::new();
                compact_options(&mut o, &t.options);
                let parts: Vec<&str> = o.split(',').collect();
                for (i, part) in parts.iter().enumerate() {
                    let mut piece = String::new();
                    if i == 0 {
                        piece.push('<');
                    }
                    piece.push_str(part);
                    piece.push(if i + 1 == parts.len() { '>' } else { ',' });
                    out.push(Token::new(if i == 0 { " " } else { "" }, piece));
                }
            }
            // Wireshark's findings, named as the replay timeline names them.
            if let Some(a) = p.verdict().filter(|a| !a.findings.is_empty()) {
                let mut notes = String::new();
                findings(&mut notes, a.findings, a.dup_ack_num, a.dup_ack_of);
                let mut w = fit::words(&format!("({notes})"));
                if let Some(first) = w.first_mut() {
                    first.sep = " ".into();
                }
                out.extend(w);
                if a.findings.has(
                    Findings::RETRANSMISSION | Findings::LOST_SEGMENT | Findings::ACK_LOST_SEGMENT,
                ) {
                    style = Palette::RED;
                }
            }
        }
        (None, Proto::Udp) => {
            out.push(Token::new("", format!("UDP len {}", p.len)));
            payload_tokens(&mut out, &p.payload);
        }
        (None, Proto::Tcp) => out.push(Token::new("", "TCP (header cut)")),
    }
    (out, style)
}

/// The payload preview, one piece after a space.
fn payload_tokens(out: &mut Vec<Token>, payload: &[u8]) {
    let mut shown = String::new();
    show_bytes(&mut shown, payload, PAYLOAD_PREVIEW);
    out.push(Token::new(" ", shown));
}

/// A call's text in pieces: a leading `[comm pid]` tag stays whole, the rest breaks at spaces
/// outside quoted strings, and `=` stays with the result after it (a short one with the word
/// before it too).
fn call_tokens(text: &str) -> Vec<Token> {
    let (mut out, rest) = match text.find("] ") {
        Some(end) if text.starts_with('[') => {
            (vec![Token::new("", &text[..=end])], &text[end + 2..])
        }
        _ => (Vec::new(), text),
    };
    let mut words = fit::words_quoted(rest);
    if let (Some(first), false) = (words.first_mut(), out.is_empty()) {
        first.sep = " ".into();
    }
    // `= 6` stays together, and a short one with the word before it: a result is not left
    // alone at the start of a line.
    let tag = out.len();
    for w in words {
        match out.last_mut() {
            Some(prev) if prev.text == "=" => {
                prev.text.push_str(&w.sep);
                prev.text.push_str(&w.text);
                if width(&prev.text) <= 6 && out.len() > tag + 1 {
                    // The result joins the word before it (there is one: len > tag + 1).
                    if let Some(res) = out.pop() {
                        if let Some(before) = out.last_mut() {
                            before.text.push_str(&res.sep);
                            before.text.push_str(&res.text);
                        }
                    }
                }
            }
            _ => out.push(w),
        }
    }
    out
}

/// SYN options, short: `mss 65495,sackOK,TS,wscale 7`.
pub fn compact_options(out: &mut String, bytes: &[u8]) {
    let mut first = true;
    for o in options(bytes) {
        let word = match o {
            Ok(TcpOption::Eol | TcpOption::Nop) => continue,
            Ok(TcpOption::Mss(m)) => format!("mss {m}"),
            Ok(TcpOption::WindowScale(s)) => format!("wscale {s}"),
            Ok(TcpOption::SackPermitted) => "sackOK".into(),
            Ok(TcpOption::Sack(_)) => "sack".into(),
            Ok(TcpOption::Timestamps { .. }) => "TS".into(),
            Ok(TcpOption::Mptcp { .. }) => "mptcp".into(),
            Ok(TcpOption::FastOpen(_)) => "tfo".into(),
            Ok(TcpOption::Unknown { kind, .. }) => format!("opt-{kind}"),
            Err(e) => option_note(&e).into(),
        };
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&word);
    }
}

fn call_style(e: &Event) -> &'static str {
    match e.call.as_str() {
        "print" => Palette::BOLD,
        "error" => Palette::RED,
        _ if e.errno.is_some() => Palette::RED,
        "state" | "wait" => Palette::DIM,
        _ => match e.role {
            Role::Client => Palette::CYAN,
            Role::Server => Palette::YELLOW,
        },
    }
}

/// The items in time order, blocking calls split, identical neighbours merged.
pub(crate) fn items<'a>(v: &'a View<'a>) -> Vec<Item<'a>> {
    let events = &v.run.events;
    let busy = |e: &Event| {
        v.pkts.iter().any(|p| p.ts > e.start && p.ts < e.end)
            || events
                .iter()
                .any(|o| !std::ptr::eq(o, e) && o.start > e.start && o.start < e.end)
    };
    let mut list: Vec<Item<'a>> = Vec::new();
    for e in events {
        if e.can_block() && busy(e) {
            list.push(Item::Call {
                e,
                part: Part::Begin,
                repeat: 1,
            });
            list.push(Item::Call {
                e,
                part: Part::End,
                repeat: 1,
            });
        } else {
            list.push(Item::Call {
                e,
                part: Part::Whole,
                repeat: 1,
            });
        }
    }
    list.extend(v.pkts.iter().map(Item::Packet));
    list.sort_by_key(Item::time);
    let mut merged: Vec<Item<'a>> = Vec::with_capacity(list.len());
    for it in list {
        if let (
            Some(Item::Call {
                e: prev,
                part: Part::Whole,
                repeat,
            }),
            Item::Call {
                e,
                part: Part::Whole,
                ..
            },
        ) = (merged.last_mut(), &it)
        {
            if same_call(prev, e) {
                *repeat += 1;
                continue;
            }
        }
        merged.push(it);
    }
    merged
}

fn same_call(a: &Event, b: &Event) -> bool {
    a.call != "mark"
        && a.call != "print"
        && a.who == b.who
        && a.role == b.role
        && a.call == b.call
        && a.args == b.args
        && a.ret == b.ret
        && a.errno == b.errno
        && a.text == b.text
        && a.tid == b.tid
}

/// The time column for an item at `ns`.
pub fn time_cell(out: &mut String, mode: TimeMode, ns: i128, t0: i128, prev: i128) {
    match mode {
        TimeMode::Rel => secs(out, ns - t0),
        TimeMode::Delta => secs(out, ns - prev),
        TimeMode::Abs => {
            let mut full = String::new();
            crate::render::text::utc(&mut full, crate::source::Timestamp::from_nanos(ns, 6));
            // The date is the same on every line of a run: keep the time of day.
            out.push_str(full.split_once(' ').map_or(full.as_str(), |(_, t)| t));
        }
    }
}

/// Seconds with microseconds, e.g. `0.000081`.
fn secs(out: &mut String, ns: i128) {
    if ns < 0 {
        out.push('-');
    }
    let a = ns.unsigned_abs();
    let _ = write!(out, "{}.{:06}", a / 1_000_000_000, a % 1_000_000_000 / 1000);
}

/// The timeline's items as rows.
fn rows(v: &View) -> Vec<Row> {
    let list = items(v);
    let mut rows = Vec::with_capacity(list.len());
    for it in &list {
        let t = it.time();
        let mut sides = [Vec::new(), Vec::new()];
        // A wait goes on the line before its packet; TIME_WAIT, which begins with it, after.
        let mut after = None;
        if let Item::Packet(p) = it {
            if let Some(a) = p.verdict() {
                if let Some(w) = &a.wait {
                    let mut text = String::new();
                    states::wait(&mut text, w);
                    let tokens = fit::words(&text);
                    let note = Row {
                        t,
                        lane: Lane::Note,
                        text: fit::join(&tokens),
                        tokens,
                        style: Palette::DIM,
                        sides: [Vec::new(), Vec::new()],
                    };
                    if w.kind == WaitKind::TimeWait {
                        after = Some(note);
                    } else {
                        rows.push(note);
                    }
                }
                let by_client = p.dir == Dir::ToServer;
                for (i, side) in sides.iter_mut().enumerate() {
                    if let Some(tr) = states::side(&a.states, i == 0, by_client) {
                        *side = state_tokens(&tr);
                    }
                }
            }
        }
        let (lane, tokens, style) = match it {
            Item::Call { e, .. } if e.call == "mark" => {
                let title = e.text.clone().unwrap_or_else(|| e.args.clone());
                (Lane::Rule, fit::words(&title), Palette::BOLD)
            }
            Item::Call { e, part, repeat } => {
                let lane = match e.role {
                    Role::Client => Lane::Client,
                    Role::Server => Lane::Server,
                };
                let mut text = e.call_text(*part, *repeat);
                if e.call == "state" {
                    kernel_vs_packets(&mut text, v, e);
                }
                (lane, call_tokens(&text), call_style(e))
            }
            Item::Packet(p) => {
                let (tokens, style) = packet_tokens(v, p);
                (Lane::Wire(p.dir), tokens, style)
            }
        };
        let text = fit::join(&tokens);
        rows.push(Row {
            t,
            lane,
            tokens,
            text,
            style,
            sides,
        });
        rows.extend(after);
    }
    rows
}

/// After a `(kernel: fd 11 is FIN_WAIT2)` line, what the packets said of that end at that
/// moment, when it differs: `≠ packets: FIN_WAIT_1`.
fn kernel_vs_packets(text: &mut String, v: &View, e: &Event) {
    let (Some(c), Some(local)) = (v.conn_of(e), e.local) else {
        return;
    };
    let Some(kernel) = e.text.as_deref().and_then(TcpState::from_kernel_name) else {
        return;
    };
    let client = v.conns[c].client == local;
    let mut seen = TcpState::Unknown;
    for p in v.conn_pkts(c).filter(|p| p.ts <= e.start) {
        if let Some(a) = p.verdict() {
            if let Some(t) = states::side(&a.states, client, p.dir == Dir::ToServer) {
                seen = t.to;
            }
        }
    }
    if seen != TcpState::Unknown && seen != kernel {
        let _ = write!(text, " ≠ packets: {}", seen.name());
    }
}

/// `SYN_SENT→ESTABLISHED` in two pieces, so that a narrow lane breaks after the arrow.
fn state_tokens(t: &Transition) -> Vec<Token> {
    vec![
        Token::new("", format!("{}→", t.from.name())),
        Token::new("", t.to.name()),
    ]
}

/// Renders the timeline (header line included), fitted into `fit_to` columns when given.
pub fn render(out: &mut String, v: &View, opts: &TextOptions, fit_to: Option<usize>) {
    let pal = Palette { on: opts.color };
    let rows = rows(v);
    let t0 = v.run.t0().unwrap_or(0);
    let mut time_w = 0;
    let mut times = Vec::with_capacity(rows.len());
    let mut prev = t0;
    for r in &rows {
        let mut s = String::new();
        time_cell(&mut s, opts.time, r.t, t0, prev);
        prev = r.t;
        time_w = time_w.max(width(&s));
        times.push(s);
    }
    let natural = Layout::natural(&rows, time_w.max(4));
    let lay = match fit_to {
        Some(w) if rows.iter().any(|r| natural.line_width(r) > w) => natural.narrow(w),
        _ => natural,
    };
    let mut rows = rows;
    if lay.wrap {
        drop_repeated_tags(&mut rows);
    }
    let mut head = " ".repeat(lay.time - 4);
    head.push_str("time  ");
    pad(&mut head, "client", lay.client);
    head.push_str("  ");
    pad(&mut head, "wire", lay.wire);
    head.push_str("  server");
    pal.paint(out, Palette::BOLD, &head);
    out.push('\n');
    for (r, tm) in rows.iter().zip(&times) {
        let lines = if lay.wrap {
            wrapped(pal, &lay, r)
        } else {
            vec![whole(pal, &lay, r)]
        };
        for (i, l) in lines.iter().enumerate() {
            let mut line = String::new();
            // A note before a packet goes without a time: the packet's is on the next line.
            if i == 0 && r.lane != Lane::Note {
                line.push_str(&" ".repeat(lay.time - width(tm)));
                pal.paint(&mut line, Palette::DIM, tm);
            } else {
                line.push_str(&" ".repeat(lay.time));
            }
            line.push_str("  ");
            line.push_str(l);
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// Paints `text` in `style`; plain when the style is empty or colour is off.
pub fn paint(pal: Palette, out: &mut String, style: &str, text: &str) {
    if style.is_empty() {
        out.push_str(text);
    } else {
        pal.paint(out, style, text);
    }
}

pub(super) fn indent(line: &mut String, n: usize) {
    for _ in 0..n {
        line.push(' ');
    }
}
