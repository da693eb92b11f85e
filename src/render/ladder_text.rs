//! The text ladder of one conversation (`replay --ladder`, `sockscope ladder`): client lane on
//! the left, server lane on the right, one arrow per packet with its flags, relative SEQ range,
//! ACK, length and window, the analyser's marks on the arrow, each end's TCP state changes
//! under it, and long waits compressed into one labelled row.
//!
//! ```text
//!                  client 10.0.0.1:51234          server 10.0.0.2:80
//!  0.000000  │ [S] seq=0 win=64240 ────────────────────▶ │
//!            │ CLOSED→SYN_SENT               LISTEN→SYN_RCVD │
//!            ┆         … 40.1 ms: delayed ACK …          ┆
//! ```
//!
//! Rows come from the shared model ([`ladder_rows`]), as the SVG's do. Pure: a [`View`] in,
//! text out; lines fit `width` columns when one is given.

use crate::analyse::flags as f;
use crate::live::event::Role;
use crate::live::model::{Dir, Pkt, Proto, View};
use crate::render::describe::{flag_letters, icmp_v4_name};
use crate::render::run::ladder::transitions;
use crate::render::run::ladder_rows::{self, duration, RowKind};
use crate::render::run::timeline::time_cell;
use crate::render::{fit, ladder_lanes, states, width, Palette, TimeMode};

/// Columns between the lifelines when the width allows it.
const SPAN: usize = 60;
/// Columns between the lifelines at the least (with `--width 40` and absolute times).
const MIN_SPAN: usize = 16;
/// Shorter waits than this are not compressed into a gap row.
pub(crate) const GAP_SHOWN: i128 = 10_000_000;

/// How to draw.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub time: TimeMode,
    pub color: bool,
    /// `-->`, `<--`, `|` instead of box drawing (and `...`, `->` in the text).
    pub ascii: bool,
    /// Columns to fit (None: as wide as [`SPAN`] and the labels make it).
    pub width: Option<usize>,
}

/// The glyphs of one style.
pub(crate) struct Glyphs {
    pub(crate) life: &'static str,
    pub(crate) gap: &'static str,
    pub(crate) bar: &'static str,
    pub(crate) right: &'static str,
    pub(crate) left: &'static str,
}

pub(crate) const UNICODE: Glyphs = Glyphs {
    life: "│",
    gap: "┆",
    bar: "─",
    right: "▶",
    left: "◀",
};

pub(crate) const ASCII: Glyphs = Glyphs {
    life: "|",
    gap: ":",
    bar: "-",
    right: ">",
    left: "<",
};

/// Text made plain ASCII when the style asks for it (arrows, ellipses, µ, `»`, signs).
pub(crate) fn plain(s: &str, ascii: bool) -> String {
    if !ascii {
        return s.to_owned();
    }
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '→' => o.push_str("->"),
            '←' => o.push_str("<-"),
            '…' => o.push_str("..."),
            'µ' => o.push('u'),
            '‹' => o.push('<'),
            '›' => o.push('>'),
            '»' => o.push_str(">>"),
            '⇄' | '↔' => o.push_str("<->"),
            '×' => o.push('x'),
            '−' | '–' | '—' | '·' => o.push('-'),
            '≥' => o.push_str(">="),
            '≤' => o.push_str("<="),
            '≠' => o.push_str("!="),
            c if c.is_ascii() => o.push(c),
            _ => o.push('?'),
        }
    }
    o
}

/// The words of a packet's arrow: `[P.]`, `seq=1:13`, `ack=1`, `len=12`, `win=502`, then the
/// analyser's marks (`retransmission`, `dup ACK #1 of frame 7`, `zero window`…), each one word.
pub fn words(v: &View, p: &Pkt) -> Vec<String> {
    let mut w = Vec::new();
    match &p.tcp {
        Some(t) => {
            let mut fl = String::from("[");
            flag_letters(&mut fl, t.flags);
            fl.push(']');
            w.push(fl);
            let seq = v.rel_seq(p);
            if t.len > 0 {
                w.push(format!("seq={seq}:{}", seq.wrapping_add(t.len)));
            } else {
                w.push(format!("seq={seq}"));
            }
            if t.has(f::ACK) {
                w.push(format!("ack={}", v.rel_ack(p)));
            }
            if t.len > 0 {
                w.push(format!("len={}", t.len));
            }
            w.push(format!("win={}", v.window(p)));
            if t.has(f::URG) {
                w.push(format!("urg={}", t.urgent));
            }
            let fs = p.findings();
            if !fs.is_empty() {
                let (num, of) = p
                    .verdict()
                    .map_or((0, 0), |a| (a.dup_ack_num, a.dup_ack_of));
                let mut s = String::new();
                crate::render::text::findings(&mut s, fs, num, of);
                for m in s.split("; ") {
                    w.push(format!("‹{m}›"));
                }
            }
        }
        None => match p.icmp {
            Some(ic) => w.extend(icmp_v4_name(ic.kind, ic.code).split(' ').map(str::to_owned)),
            None => w.push(format!("UDP len={}", p.len)),
        },
    }
    w
}

/// Words packed greedily into lines of at most `max` columns (a longer word is wrapped).
pub(crate) fn pack(words: &[String], max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let pieces = words.iter().flat_map(|w| {
        if width(w) > max {
            fit::wrap(w, max, max)
        } else {
            vec![w.clone()]
        }
    });
    for w in pieces {
        let w = &w;
        match lines.last_mut() {
            Some(l) if width(l) + 1 + width(w) <= max => {
                l.push(' ');
                l.push_str(w);
            }
            _ => lines.push(w.clone()),
        }
    }
    lines
}

/// A call's text as lines of at most `room` columns, broken before its result when that takes
/// no more lines (`socket(AF_INET, SOCK_STREAM)` then `= 11`, not a lone `11`), and a quoted
/// string kept whole when it fits a line (`= 4 "d mo"`, not `"d` then `mo"`).
pub(crate) fn call_lines(text: &str, room: usize) -> Vec<String> {
    if width(text) <= room {
        return vec![text.to_owned()];
    }
    let wrap = |t: &str| balanced(t, room);
    let plain_wrap = wrap(text);
    if let Some((call, result)) = text.rsplit_once(" = ") {
        let mut lines = wrap(call);
        lines.extend(wrap(&format!("= {result}")));
        if lines.len() <= plain_wrap.len() {
            return lines;
        }
    }
    plain_wrap
}

/// `text` wrapped in lines of at most `room` columns, as many as the widest lines need but as
/// even as they go (no last line of one word under a full one); a quoted string stays whole
/// when it fits a line.
pub(crate) fn balanced(text: &str, room: usize) -> Vec<String> {
    let tokens = fit::words_quoted(text);
    let wrap = |w: usize| fit::wrap_tokens(&tokens, w, w);
    let full = wrap(room);
    let n = full.len();
    let longest = tokens.iter().map(|t| width(&t.text)).max().unwrap_or(0);
    if n < 2 || longest > room {
        return full;
    }
    let from = width(text).div_ceil(n).max(longest);
    (from..room)
        .map(wrap)
        .find(|t| t.len() <= n)
        .unwrap_or(full)
}

/// Words packed into as many lines of at most `max` columns as [`pack`] makes, but as even as
/// they go (no last line of one word under a full one).
pub(crate) fn pack_even(words: &[String], max: usize) -> Vec<String> {
    let full = pack(words, max);
    let n = full.len();
    let longest = words.iter().map(|w| width(w)).max().unwrap_or(0);
    if n < 2 || longest > max {
        return full;
    }
    let total: usize = words.iter().map(|w| width(w) + 1).sum();
    let from = (total / n).max(longest);
    (from..max)
        .map(|m| pack(words, m))
        .find(|p| p.len() <= n)
        .unwrap_or(full)
}

/// The name of the wait before a packet, when the analyser names one (`delayed ACK`…).
pub(crate) fn wait_name(p: &Pkt) -> Option<&'static str> {
    let w = p.verdict()?.wait?;
    let text = w.kind.explain();
    let short = text.split(" (").next().unwrap_or(text);
    Some(short.split(':').next().unwrap_or(short))
}

/// Appends the ladder of conversation `ci` of `v` (every packet; nothing when there is no such
/// conversation).
pub fn render(out: &mut String, v: &View, ci: usize, title: &str, st: &Style) {
    let conns = ladder_rows::event_conns(v);
    let Some(l) = ladder_rows::ladder(v, ci, &conns, usize::MAX / 4, 0) else {
        return;
    };
    let pal = Palette { on: st.color };
    let g = if st.ascii { &ASCII } else { &UNICODE };
    let a = st.ascii;
    let t0 = v.run.t0().unwrap_or(0);

    // Time cells of the packet rows, and the margin they need.
    let mut prev = t0;
    let mut times: Vec<String> = Vec::with_capacity(l.rows.len());
    for r in &l.rows {
        let mut s = String::new();
        match r.kind {
            RowKind::Packet { p, .. } => {
                time_cell(&mut s, st.time, p.ts, t0, prev);
                prev = p.ts;
            }
            RowKind::Call { .. } if st.time != TimeMode::Delta => {
                time_cell(&mut s, st.time, r.t, t0, r.t);
            }
            _ => {}
        }
        times.push(s);
    }
    let tw = times.iter().map(|s| width(s)).max().unwrap_or(8).max(1);
    // A line: time (tw) + 2 spaces + lifeline + space + span + space + lifeline.
    let fixed = tw + 6;
    let all_words: Vec<Vec<String>> = l
        .rows
        .iter()
        .map(|r| match r.kind {
            RowKind::Packet { p, .. } => words(v, p).iter().map(|w| plain(w, a)).collect(),
            _ => Vec::new(),
        })
        .collect();
    let longest_word = all_words
        .iter()
        .flatten()
        .map(|w| width(w))
        .max()
        .unwrap_or(0);
    let span = match st.width {
        // Longer words are wrapped; an arrow keeps at least a few columns of shaft.
        Some(w) => w.saturating_sub(fixed).clamp(MIN_SPAN, SPAN),
        // An arrow needs its longest word, a space and two columns of shaft.
        None => SPAN.max(longest_word + 3),
    };

    // Title and lanes.
    let title = plain(title, a);
    let lines = match st.width {
        Some(w) if width(&title) > w => fit::hanging("", &title, 2, w),
        _ => vec![title],
    };
    for t in lines {
        pal.paint(out, Palette::BOLD, &t);
        out.push('\n');
    }
    let proto = match l.proto {
        Proto::Tcp => "",
        Proto::Udp => " (first sender)",
    };
    let pids = |lane: &ladder_rows::Lane| match lane.pids.as_slice() {
        [] => String::new(),
        [one] => format!(" pid {one}"),
        many => format!(
            " pids {}",
            many.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let left = plain(
        &format!("client {}{proto}{}", l.lanes[0].addr, pids(&l.lanes[0])),
        a,
    );
    let right = plain(
        &format!("server {}{}", l.lanes[1].addr, pids(&l.lanes[1])),
        a,
    );
    let lcol = tw + 2;
    let rcol = tw + span + 5;
    if lcol + width(&left) + 2 + width(&right) <= rcol + 1 {
        let mut head = " ".repeat(lcol);
        head.push_str(&left);
        head.push_str(&" ".repeat(rcol + 1 - lcol - width(&left) - width(&right)));
        head.push_str(&right);
        pal.paint(out, Palette::DIM, &head);
        out.push('\n');
    } else {
        let line_w = rcol + 1;
        for (s, right_aligned) in [(&left, false), (&right, true)] {
            let lines = if lcol + width(s) <= line_w {
                vec![s.clone()]
            } else {
                fit::wrap(s, line_w - lcol, line_w - lcol)
            };
            for s in lines {
                let pad = if right_aligned {
                    line_w.saturating_sub(width(&s))
                } else {
                    lcol
                };
                let mut head = " ".repeat(pad);
                head.push_str(&s);
                pal.paint(out, Palette::DIM, &head);
                out.push('\n');
            }
        }
    }

    // A line between the lifelines: `inner` is `span` columns wide.
    let framed = |out: &mut String, tm: &str, side: &str, inner: &str| {
        let mut line = " ".repeat(tw - width(tm));
        pal.paint(&mut line, Palette::DIM, tm);
        line.push_str("  ");
        line.push_str(side);
        line.push(' ');
        line.push_str(inner);
        line.push(' ');
        line.push_str(side);
        out.push_str(&line);
        out.push('\n');
    };

    for (k, r) in l.rows.iter().enumerate() {
        match r.kind {
            RowKind::Packet { p, .. } => {
                let colour = match p.dir {
                    Dir::ToServer => Palette::CYAN,
                    Dir::ToClient => Palette::YELLOW,
                };
                let parts = pack(&all_words[k], span - 3);
                let first = parts.first().map_or("", String::as_str);
                let fill = span - 2 - width(first);
                let bar = g.bar.repeat(fill);
                let mut inner = String::new();
                match p.dir {
                    Dir::ToServer => {
                        pal.paint(&mut inner, colour, &format!("{first} {bar}{}", g.right))
                    }
                    Dir::ToClient => {
                        pal.paint(&mut inner, colour, &format!("{}{bar} {first}", g.left))
                    }
                }
                framed(out, &times[k], g.life, &inner);
                // The words that did not fit on the arrow, on the sender's side.
                for more in parts.iter().skip(1) {
                    let pad = " ".repeat(span - width(more));
                    let mut inner = String::new();
                    match p.dir {
                        Dir::ToServer => {
                            pal.paint(&mut inner, colour, more);
                            inner.push_str(&pad);
                        }
                        Dir::ToClient => {
                            inner.push_str(&pad);
                            pal.paint(&mut inner, colour, more);
                        }
                    }
                    framed(out, "", g.life, &inner);
                }
                state_lines(out, pal, p, span, a, &framed, g.life);
            }
            RowKind::Gap { ns } if ns >= GAP_SHOWN => {
                let why = match l.rows.get(k + 1).map(|r| r.kind) {
                    Some(RowKind::Packet { p, .. }) => wait_name(p),
                    _ => None,
                };
                let long = match why {
                    Some(w) => format!("… {}: {w} …", duration(ns)),
                    None => format!("… {} …", duration(ns)),
                };
                let mut text = plain(&long, a);
                if width(&text) > span {
                    text = plain(&format!("… {} …", duration(ns)), a);
                }
                let left = span.saturating_sub(width(&text)) / 2;
                let right = span.saturating_sub(width(&text) + left);
                let mut inner = " ".repeat(left);
                pal.paint(&mut inner, Palette::DIM, &text);
                inner.push_str(&" ".repeat(right));
                framed(out, "", g.gap, &inner);
            }
            RowKind::Cut { packets, .. } => {
                let text = plain(&format!("… {packets} packets left out …"), a);
                let pad = span.saturating_sub(width(&text));
                let mut inner = String::new();
                pal.paint(&mut inner, Palette::DIM, &text);
                inner.push_str(&" ".repeat(pad));
                framed(out, "", g.gap, &inner);
            }
            RowKind::Mark { e } => {
                let text = plain(&e.text.clone().unwrap_or_else(|| e.args.clone()), a);
                // Wrapped under itself when wider than the lines.
                let lines = match st.width {
                    Some(w) if tw + 2 + width(&text) > w => {
                        balanced(&text, w.saturating_sub(tw + 2).max(MIN_SPAN))
                    }
                    _ => vec![text],
                };
                for t in lines {
                    let mut line = " ".repeat(tw + 2);
                    pal.paint(&mut line, Palette::BOLD, &t);
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            RowKind::Call { e, part, .. } => {
                // On the caller's lane: the client's calls against the left lifeline, the
                // server's against the right one (wrapped when longer than the lanes).
                let text = plain(&e.call_text(part, 1), a);
                let lines = call_lines(&text, span);
                for (i, t) in lines.iter().enumerate() {
                    let pad = " ".repeat(span - width(t));
                    let mut inner = String::new();
                    if e.role == Role::Server {
                        inner.push_str(&pad);
                        pal.paint(&mut inner, Palette::GREEN, t);
                    } else {
                        pal.paint(&mut inner, Palette::GREEN, t);
                        inner.push_str(&pad);
                    }
                    let tm = if i == 0 { times[k].as_str() } else { "" };
                    framed(out, tm, g.life, &inner);
                }
            }
            RowKind::Gap { .. } => {}
        }
    }
}

/// The ladders of every conversation of a run (a saved `run --save`/`trace --save`), one after
/// another, each with the calls placed on it.
///
/// With more than two endpoints (`fork`'s clients and their server), all conversations on one
/// ladder of a lane per endpoint ([`ladder_lanes`]) when the lanes fit the width; else each on
/// its own, under a line saying why.
pub fn render_all(out: &mut String, v: &View, st: &Style) {
    if v.conns.len() > 1 && ladder_lanes::endpoints(v).len() > 2 {
        let mut s = String::new();
        match ladder_lanes::render(&mut s, v, &ladder_lanes::title(v), st) {
            Ok(()) => {
                out.push_str(&s);
                return;
            }
            Err(f) => {
                let conns = format!("{} conversations", v.conns.len());
                let drawn = "each conversation is drawn on a ladder of its own";
                let note = plain(&f.message("the run", &conns, st.width, drawn), st.ascii);
                let lines = match st.width {
                    Some(w) => fit::hanging("", &note, 2, w),
                    None => vec![note],
                };
                for l in lines {
                    out.push_str(&l);
                    out.push('\n');
                }
                out.push('\n');
            }
        }
    }
    for (ci, c) in v.conns.iter().enumerate() {
        if ci > 0 {
            out.push('\n');
        }
        let proto = match c.proto {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        };
        render(out, v, ci, &format!("{proto} {}", c.label()), st);
    }
}

/// Under an arrow, the state changes it caused: the client's against the client's lifeline,
/// the server's against the server's (on two lines when both do not fit on one).
fn state_lines(
    out: &mut String,
    pal: Palette,
    p: &Pkt,
    span: usize,
    ascii: bool,
    framed: &dyn Fn(&mut String, &str, &str, &str),
    life: &str,
) {
    let [c, s] = transitions(p).map(|t| {
        let mut s = String::new();
        if let Some(t) = t {
            states::change(&mut s, &t);
        }
        plain(&s, ascii)
    });
    if c.is_empty() && s.is_empty() {
        return;
    }
    let (cw, sw) = (width(&c), width(&s));
    let pairs: Vec<(String, String)> = if cw + sw + 2 <= span {
        vec![(c, s)]
    } else {
        // One side at a time, each wrapped (after its arrow) when wider than the lanes.
        let side = |t: &str| -> Vec<String> {
            if t.is_empty() {
                Vec::new()
            } else if width(t) <= span {
                vec![t.to_owned()]
            } else {
                // After the arrow: `SYN_SENT→` then `ESTABLISHED`.
                let arrow = if ascii { "->" } else { "→" };
                match t.split_once(arrow) {
                    Some((from, to)) => [format!("{from}{arrow}"), to.to_owned()]
                        .iter()
                        .flat_map(|p| fit::wrap(p, span, span))
                        .collect(),
                    None => fit::wrap(t, span, span),
                }
            }
        };
        let mut v: Vec<(String, String)> =
            side(&c).into_iter().map(|l| (l, String::new())).collect();
        v.extend(side(&s).into_iter().map(|r| (String::new(), r)));
        v
    };
    for (left, right) in &pairs {
        let mut inner = String::new();
        pal.paint(&mut inner, Palette::MAGENTA, left);
        let gap = span.saturating_sub(width(left) + width(right));
        inner.push_str(&" ".repeat(gap));
        pal.paint(&mut inner, Palette::MAGENTA, right);
        framed(out, "", life, &inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_pack_into_lines_that_fit() {
        let w: Vec<String> = ["[P.]", "seq=1:13", "ack=1", "len=12", "win=502"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pack(&w, 80), vec!["[P.] seq=1:13 ack=1 len=12 win=502"]);
        assert_eq!(pack(&w, 20), vec!["[P.] seq=1:13 ack=1", "len=12 win=502"]);
        let w: Vec<String> = ["ack=1", "len=1", "win=65536", "urg=1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pack(&w, 21), vec!["ack=1 len=1 win=65536", "urg=1"]);
        assert_eq!(pack_even(&w, 21), vec!["ack=1 len=1", "win=65536 urg=1"]);
        assert_eq!(pack_even(&w, 40), vec!["ack=1 len=1 win=65536 urg=1"]);
    }

    #[test]
    fn wrapped_lines_are_even() {
        let t = "the client closes first; the server's socket drops the client's last ACK";
        assert_eq!(fit::wrap(t, 70, 70).last().map(String::as_str), Some("ACK"));
        let b = balanced(t, 70);
        assert_eq!(b.len(), 2);
        assert!(b.iter().all(|l| width(l) <= 70 && width(l) >= 30), "{b:?}");
        assert_eq!(b.join(" "), t);
        // One line, or a word longer than the lines: as wrapping gives them.
        assert_eq!(balanced("a b", 70), vec!["a b"]);
        assert_eq!(balanced("abcdefgh ij", 5), fit::wrap("abcdefgh ij", 5, 5));
    }

    #[test]
    fn a_call_breaks_before_its_result() {
        let t = "socket(AF_INET, SOCK_STREAM) = 11";
        assert_eq!(call_lines(t, 40), vec![t]);
        assert_eq!(
            call_lines(t, 31),
            vec!["socket(AF_INET, SOCK_STREAM)", "= 11"]
        );
        // Not when that takes more lines than wrapping at the width.
        assert_eq!(
            call_lines("[client E] read(14, 6) = 4 \"d mo\" and", 26),
            vec!["[client E] read(14, 6)", "= 4 \"d mo\" and"]
        );
        assert_eq!(
            call_lines("f(1) = 4 \"d mo\" ab", 12),
            vec!["f(1) = 4", "\"d mo\" ab"]
        );
        let long = "f(aaaa) = 1 bbbbbbbbbb cccc";
        assert_eq!(call_lines(long, 16), vec!["f(aaaa) = 1", "bbbbbbbbbb cccc"]);
    }

    #[test]
    fn ascii_text_has_no_wide_glyphs() {
        assert_eq!(
            plain("… 40.1 ms: delayed ACK …", true),
            "... 40.1 ms: delayed ACK ..."
        );
        assert_eq!(plain("SYN_SENT→ESTABLISHED", true), "SYN_SENT->ESTABLISHED");
        assert_eq!(plain("812 µs", true), "812 us");
        // A program's output and the signs in notes, not `?`.
        assert_eq!(
            plain("» echo: a ⇄ b, 2 × 3 − 1 ≥ 4", true),
            ">> echo: a <-> b, 2 x 3 - 1 >= 4"
        );
    }
}
