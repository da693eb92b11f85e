//! The ladder diagram: one per conversation, client on the left, server on the right, one
//! arrow per packet with its flags and relative numbers.
//!
//! ```text
//! TCP 127.0.0.1:53422 → 127.0.0.1:40123
//!              client                                              server
//!  0.000081      │ [S] seq=0 ────────────────────────────────────────▶ │
//!  0.000090      │ ◀──────────────────────────────── [S.] seq=0 ack=1 │
//! ```
//! Long conversations keep their first and last arrows; the middle is counted.

use std::fmt::Write;

use crate::analyse::flags as f;
use crate::analyse::tcp::state::Transition;
use crate::render::describe::{flag_letters, icmp_v4_name};
use crate::render::{fit, states, width, Palette, TextOptions};

use super::timeline::{paint, time_cell};
use crate::live::model::{Dir, Pkt, Proto, View};
use crate::render::text::flag_style;

/// Columns between the two lifelines (fewer when the width asks for it).
const SPAN: usize = 52;
/// Conversations longer than HEAD + TAIL + 1 arrows are cut in the middle.
const HEAD: usize = 14;
const TAIL: usize = 8;

/// `[S.] seq=0 ack=1`, `[P.] seq=1:13 ack=1`, `UDP 12 bytes`.
pub fn label(v: &View, p: &Pkt) -> String {
    let mut s = String::new();
    match &p.tcp {
        Some(t) => {
            s.push('[');
            flag_letters(&mut s, t.flags);
            s.push(']');
            let seq = v.rel_seq(p);
            if t.len > 0 {
                let _ = write!(s, " seq={seq}:{}", seq.wrapping_add(t.len));
            } else {
                let _ = write!(s, " seq={seq}");
            }
            if t.has(f::ACK) {
                let _ = write!(s, " ack={}", v.rel_ack(p));
            }
            if t.len > 0 {
                let _ = write!(s, " ({} B)", t.len);
            }
        }
        None => match p.icmp {
            Some(ic) => s.push_str(&icmp_v4_name(ic.kind, ic.code)),
            None => {
                let _ = write!(s, "UDP {} B", p.len);
            }
        },
    }
    s
}

/// Appends the ladders of every conversation, fitted into `fit_to` columns when given: the
/// lifelines come closer (never closer than the longest arrow label needs).
pub fn render(out: &mut String, v: &View, opts: &TextOptions, fit_to: Option<usize>) {
    let pal = Palette { on: opts.color };
    let t0 = v.run.t0().unwrap_or(0);
    for (ci, c) in v.conns.iter().enumerate() {
        let proto = match c.proto {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        };
        let title = format!("{proto} {}", c.label());
        let title = match fit_to {
            Some(w) if width(&title) > w => fit::hanging("", &title, 2, w),
            _ => vec![title],
        };
        for l in title {
            pal.paint(out, Palette::BOLD, &l);
            out.push('\n');
        }
        let pkts: Vec<&Pkt> = v.conn_pkts(ci).collect();
        let mut times = Vec::with_capacity(pkts.len());
        let mut prev = t0;
        for p in &pkts {
            let mut s = String::new();
            time_cell(&mut s, opts.time, p.ts, t0, prev);
            prev = p.ts;
            times.push(s);
        }
        let tw = times.iter().map(|s| width(s)).max().unwrap_or(8);
        let left = format!("client :{}", c.client.port());
        let right = format!("server :{}", c.server.port());
        let span = match fit_to {
            // The right-hand label, centred on the right lifeline, is the widest line.
            Some(w) => {
                let need = pkts
                    .iter()
                    .map(|p| {
                        let [c, s] = state_texts(p);
                        (width(&label(v, p)) + 5).max(width(&c).max(width(&s)) + 3)
                    })
                    .max()
                    .unwrap_or(0);
                w.saturating_sub(tw + 8 + width(&right).div_ceil(2))
                    .min(SPAN)
                    .max(need)
            }
            None => SPAN,
        };
        // Each label centred over its lifeline (columns tw + 6 and tw + span + 8).
        let l_start = (tw + 6).saturating_sub(width(&left) / 2);
        let r_start = (tw + span + 8).saturating_sub(width(&right) / 2);
        let mut head = " ".repeat(l_start);
        head.push_str(&left);
        head.push_str(&" ".repeat(r_start.saturating_sub(l_start + width(&left)).max(2)));
        head.push_str(&right);
        pal.paint(out, Palette::DIM, &head);
        out.push('\n');
        let cut = pkts.len() > HEAD + TAIL + 1;
        for (i, (p, tm)) in pkts.iter().zip(&times).enumerate() {
            if cut && i == HEAD {
                let hidden = pkts.len() - HEAD - TAIL;
                let mut line = String::new();
                for _ in 0..tw + 2 + 6 {
                    line.push(' ');
                }
                let mut note = format!("┆ … {hidden} more packets (all in the timeline above) …");
                if fit_to.is_some_and(|w| tw + 8 + width(&note) > w) {
                    note = format!("┆ … {hidden} more packets …");
                }
                pal.paint(&mut line, Palette::DIM, &note);
                out.push_str(&line);
                out.push('\n');
            }
            if cut && i >= HEAD && i < pkts.len() - TAIL {
                continue;
            }
            arrow(out, pal, v, p, tm, tw, span);
            state_lines(out, pal, p, tw, span);
        }
        out.push('\n');
    }
}

fn arrow(out: &mut String, pal: Palette, v: &View, p: &Pkt, tm: &str, tw: usize, span: usize) {
    let text = label(v, p);
    let style = p.tcp.as_ref().map_or("", |t| flag_style(t.flags));
    let mut line = String::new();
    for _ in width(tm)..tw {
        line.push(' ');
    }
    pal.paint(&mut line, Palette::DIM, tm);
    line.push_str("      │ ");
    let fill = span.saturating_sub(width(&text) + 3).max(2);
    let bar = "─".repeat(fill);
    match p.dir {
        Dir::ToServer => {
            paint(pal, &mut line, style, &text);
            line.push(' ');
            line.push_str(&bar);
            line.push('▶');
        }
        Dir::ToClient => {
            line.push('◀');
            line.push_str(&bar);
            line.push(' ');
            paint(pal, &mut line, style, &text);
        }
    }
    line.push_str(" │");
    out.push_str(&line);
    out.push('\n');
}

/// The TCP state changes packet `p` caused in the client and in the server.
pub fn transitions(p: &Pkt) -> [Option<Transition>; 2] {
    let Some(a) = p.verdict() else {
        return [None, None];
    };
    let by_client = p.dir == Dir::ToServer;
    [
        states::side(&a.states, true, by_client),
        states::side(&a.states, false, by_client),
    ]
}

/// [`transitions`] as text: `SYN_SENT→ESTABLISHED` (empty: no change).
fn state_texts(p: &Pkt) -> [String; 2] {
    transitions(p).map(|t| {
        let mut s = String::new();
        if let Some(t) = t {
            states::change(&mut s, &t);
        }
        s
    })
}

/// Under an arrow, the state changes it caused: the client's against the client's lifeline,
/// the server's against the server's (on two lines when both do not fit on one).
fn state_lines(out: &mut String, pal: Palette, p: &Pkt, tw: usize, span: usize) {
    let [c, s] = state_texts(p);
    if c.is_empty() && s.is_empty() {
        return;
    }
    // Between the lifelines: `│ ` + span - 1 columns + ` │`.
    let inner = span.saturating_sub(1);
    let (cw, sw) = (width(&c), width(&s));
    let pairs: Vec<(&str, &str)> = if cw + sw + 2 <= inner || c.is_empty() || s.is_empty() {
        vec![(&c, &s)]
    } else {
        vec![(&c, ""), ("", &s)]
    };
    for (left, right) in pairs {
        let mut line = " ".repeat(tw + 6);
        line.push_str("│ ");
        pal.paint(&mut line, Palette::MAGENTA, left);
        let gap = inner.saturating_sub(width(left) + width(right));
        line.push_str(&" ".repeat(gap));
        pal.paint(&mut line, Palette::MAGENTA, right);
        line.push_str(" │");
        out.push_str(&line);
        out.push('\n');
    }
}

/// A closing or opening sequence in one line: `[F.] →, ← [F.], [.] →`.
pub fn shape_text(shape: &[(Dir, u16)]) -> String {
    shape
        .iter()
        .map(|(d, fl)| {
            let fs = crate::render::describe::flags_bracketed(*fl);
            match d {
                Dir::ToServer => format!("{fs} →"),
                Dir::ToClient => format!("← {fs}"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
