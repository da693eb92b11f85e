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

use std::fmt::Write;

use crate::analyse::{flags as f, Findings};
use crate::decode::options::{options, TcpOption};
use crate::render::describe::{flag_letters, option_note};
use crate::render::text::{findings, flag_style};
use crate::render::{pad, width, Palette, TextOptions, TimeMode};

use crate::live::event::{show_bytes, Event, Part, Role};
use crate::live::model::{Dir, Pkt, Proto, View};

/// Payload characters shown on a packet line.
const PAYLOAD_PREVIEW: usize = 12;

enum Item<'a> {
    Call {
        e: &'a Event,
        part: Part,
        repeat: usize,
    },
    Packet(&'a Pkt),
}

impl Item<'_> {
    fn time(&self) -> i128 {
        match self {
            Item::Call { e, part, .. } => match part {
                Part::End => e.end,
                _ => e.start,
            },
            Item::Packet(p) => p.ts,
        }
    }
}

/// One rendered cell: plain text and its style.
struct Cell {
    text: String,
    style: &'static str,
}

/// Compact packet text for the wire lane (no arrow).
pub fn packet_text(v: &View, p: &Pkt) -> (String, &'static str) {
    let mut s = String::new();
    let mut style = "";
    match (&p.tcp, p.proto) {
        (Some(t), _) => {
            s.push('[');
            flag_letters(&mut s, t.flags);
            s.push(']');
            style = flag_style(t.flags);
            let seq = v.rel_seq(p);
            if t.len > 0 {
                let _ = write!(s, " seq {seq}:{}", seq.wrapping_add(t.len));
            } else {
                let _ = write!(s, " seq {seq}");
            }
            if t.has(f::ACK) {
                let _ = write!(s, " ack {}", v.rel_ack(p));
            }
            let _ = write!(s, " win {}", v.window(p));
            if t.len > 0 {
                let _ = write!(s, " len {} ", t.len);
                show_bytes(&mut s, &p.payload, PAYLOAD_PREVIEW);
            }
            if t.has(f::SYN) && !t.options.is_empty() {
                s.push_str(" <");
                compact_options(&mut s, &t.options);
                s.push('>');
            }
            // Wireshark's findings, named as the replay timeline names them.
            if let Some(a) = p.verdict().filter(|a| !a.findings.is_empty()) {
                let mut notes = String::new();
                findings(&mut notes, a.findings, a.dup_ack_num, a.dup_ack_of);
                let _ = write!(s, " ({notes})");
                if a.findings.has(
                    Findings::RETRANSMISSION | Findings::LOST_SEGMENT | Findings::ACK_LOST_SEGMENT,
                ) {
                    style = Palette::RED;
                }
            }
        }
        (None, Proto::Udp) => {
            let _ = write!(s, "UDP len {} ", p.len);
            show_bytes(&mut s, &p.payload, PAYLOAD_PREVIEW);
        }
        (None, Proto::Tcp) => s.push_str("TCP (header cut)"),
    }
    (s, style)
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
fn items<'a>(v: &'a View<'a>) -> Vec<Item<'a>> {
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

/// Renders the timeline (header line included).
pub fn render(out: &mut String, v: &View, opts: &TextOptions) {
    let pal = Palette { on: opts.color };
    let list = items(v);
    let t0 = v.run.t0().unwrap_or(0);
    let mut cells: Vec<(i128, Option<Role>, Cell, Option<Dir>)> = Vec::with_capacity(list.len());
    for it in &list {
        let t = it.time();
        match it {
            Item::Call { e, .. } if e.call == "mark" => {
                let title = e.text.clone().unwrap_or_else(|| e.args.clone());
                cells.push((
                    t,
                    None,
                    Cell {
                        text: title,
                        style: Palette::BOLD,
                    },
                    None,
                ));
            }
            Item::Call { e, part, repeat } => cells.push((
                t,
                Some(e.role),
                Cell {
                    text: e.call_text(*part, *repeat),
                    style: call_style(e),
                },
                None,
            )),
            Item::Packet(p) => {
                let (text, style) = packet_text(v, p);
                cells.push((t, None, Cell { text, style }, Some(p.dir)));
            }
        }
    }
    let client_w = cells
        .iter()
        .filter(|c| c.1 == Some(Role::Client))
        .map(|c| width(&c.2.text))
        .max()
        .unwrap_or(0)
        .clamp(20, 34);
    let wire_w = cells
        .iter()
        .filter(|c| c.3.is_some())
        .map(|c| width(&c.2.text) + 4)
        .max()
        .unwrap_or(0)
        .clamp(30, 60);
    let mut time_w = 0;
    let mut times = Vec::with_capacity(cells.len());
    let mut prev = t0;
    for c in &cells {
        let mut s = String::new();
        time_cell(&mut s, opts.time, c.0, t0, prev);
        prev = c.0;
        time_w = time_w.max(width(&s));
        times.push(s);
    }
    let time_w = time_w.max(4);
    let mut head = String::new();
    for _ in 4..time_w {
        head.push(' ');
    }
    head.push_str("time  ");
    pad(&mut head, "client", client_w);
    head.push_str("  ");
    pad(&mut head, "wire", wire_w);
    head.push_str("  server");
    pal.paint(out, Palette::BOLD, &head);
    out.push('\n');
    for (c, tm) in cells.iter().zip(&times) {
        let mut line = String::new();
        for _ in width(tm)..time_w {
            line.push(' ');
        }
        pal.paint(&mut line, Palette::DIM, tm);
        line.push_str("  ");
        let (text, style) = (&c.2.text, c.2.style);
        match (c.1, c.3) {
            (Some(Role::Client), _) => paint(pal, &mut line, style, text),
            (Some(Role::Server), _) => {
                indent(&mut line, client_w + 2 + wire_w + 2);
                paint(pal, &mut line, style, text);
            }
            (None, Some(dir)) => {
                indent(&mut line, client_w + 2);
                let fill = wire_w.saturating_sub(width(text) + 2).max(2);
                let bar: String = "─".repeat(fill);
                match dir {
                    Dir::ToServer => {
                        paint(pal, &mut line, style, text);
                        line.push(' ');
                        pal.paint(&mut line, Palette::DIM, &bar);
                        line.push('▶');
                    }
                    Dir::ToClient => {
                        line.push('◀');
                        pal.paint(&mut line, Palette::DIM, &bar);
                        line.push(' ');
                        paint(pal, &mut line, style, text);
                    }
                }
            }
            (None, None) => {
                let rule = format!("── {text} ");
                let total = client_w + 2 + wire_w + 2 + 20;
                let tail = "─".repeat(total.saturating_sub(width(&rule)).max(2));
                paint(pal, &mut line, style, &rule);
                pal.paint(&mut line, Palette::DIM, &tail);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
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

fn indent(line: &mut String, n: usize) {
    for _ in 0..n {
        line.push(' ');
    }
}
