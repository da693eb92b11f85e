//! The ladder of several conversations on one diagram (`sockscope ladder FILE` of a capture
//! with more than two endpoints, a saved `fork` run): one lane per endpoint addr:port, the
//! clients' lanes on the left in the order they appear, the servers' on the right, and every
//! packet, call, mark and long wait of every conversation in time order. An arrow goes from
//! its sender's lane to its receiver's, across the lanes between; its words sit beside the
//! sender, as on the two-lane ladder ([`crate::render::ladder_text`]).
//!
//! ```text
//!           client            client            server
//!           127.0.0.1:52596   127.0.0.1:52600   127.0.0.1:34649
//!  0.008586 │ [S] seq=0 ─────────────────────────────────▶ │
//!  0.008601 │ ◀──────────────────────────── [S.] seq=0 ack=1 │
//! ```
//!
//! Pure: a [`View`] in, text out. The lanes fit a width when their gaps keep [`MIN_GAP`]
//! columns; [`Fit`] says how many lanes there are and how many fit, for the caller's message.

use crate::live::event::Role;
use crate::live::model::{Dir, Proto, View};
use crate::render::ladder_text::{
    pack, pack_even, plain, wait_name, Style, ASCII, GAP_SHOWN, UNICODE,
};
use crate::render::run::endpoint_lanes::diagram;
pub use crate::render::run::endpoint_lanes::endpoints;
use crate::render::run::ladder::transitions;
use crate::render::run::ladder_rows::{duration, Lane, RowKind};
use crate::render::run::timeline::time_cell;
use crate::render::{fit, states, width, Palette, TimeMode};

/// Columns between two lifelines at the least.
pub const MIN_GAP: usize = 16;
/// Columns between two lifelines at the most (and without a width).
const GAP: usize = 34;
/// Lanes drawn at the most without a width (a pipe keeps whole lines, not endless ones).
pub const MAX_LANES: usize = 8;

/// How many lanes a diagram has and how many fit the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub lanes: usize,
    pub fit: usize,
    /// Columns that draw them all.
    pub need: usize,
}

impl Fit {
    /// The message when they do not all fit: how many endpoints, how many fit, what is drawn
    /// instead and what to do. `what`: `the capture`; `conns`: `15 TCP streams`.
    pub fn message(&self, what: &str, conns: &str, width: Option<usize>, drawn: &str) -> String {
        let at = match width {
            Some(w) => format!("{} fit in {w} columns", self.fit),
            None => format!("at most {MAX_LANES} are drawn without --width"),
        };
        format!(
            "{what} has {} endpoints (addr:port) in {conns} and {at}: {drawn}; --stream N \
             picks one conversation, --width {} draws all of them on one ladder",
            self.lanes, self.need
        )
    }
}

/// One cell of a line: its glyph (empty for the second column of a wide one) and colour.
#[derive(Clone)]
struct Cell {
    s: String,
    style: Option<&'static str>,
}

/// A line of the lanes: `cols` cells, lifelines at multiples of `pitch`.
struct Grid {
    cells: Vec<Cell>,
    pitch: usize,
}

impl Grid {
    fn new(lanes: usize, pitch: usize, life: &str) -> Grid {
        let n = (lanes - 1) * pitch + 1;
        let mut cells = vec![
            Cell {
                s: " ".into(),
                style: None
            };
            n
        ];
        for k in 0..lanes {
            cells[k * pitch].s = life.to_owned();
        }
        Grid { cells, pitch }
    }

    /// Writes `text` from column `col` on (what falls outside the line is dropped). A text
    /// hides the lifelines it crosses, and one it would end or start against: a space always
    /// parts text from a lifeline (`│ CLOSED→SYN_SENT│` is never drawn).
    fn put(&mut self, col: usize, text: &str, style: Option<&'static str>) {
        let end = (col + width(text)).min(self.cells.len());
        for edge in [col.checked_sub(1), Some(end)].into_iter().flatten() {
            self.hide(edge);
        }
        let mut c = col;
        for ch in text.chars() {
            let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
            if w == 0 {
                continue;
            }
            if c + w > self.cells.len() {
                break;
            }
            self.cells[c] = Cell {
                s: ch.to_string(),
                style,
            };
            if w == 2 {
                self.cells[c + 1] = Cell {
                    s: String::new(),
                    style,
                };
            }
            c += w;
        }
    }

    /// Blanks the lifeline at column `col`, unless it is the first or the last one.
    fn hide(&mut self, col: usize) {
        if col.is_multiple_of(self.pitch) && col > 0 && col + 1 < self.cells.len() {
            if let Some(cell) = self.cells.get_mut(col) {
                if cell.style.is_none() {
                    cell.s = " ".into();
                }
            }
        }
    }

    /// `text` ending at column `end` (inclusive), hanging from the lifeline after it: one that
    /// it would start one or two spaces after is hidden too, so it cannot be read as that
    /// lane's text (which starts there).
    fn put_before(&mut self, end: usize, text: &str, style: Option<&'static str>) {
        let start = (end + 1).saturating_sub(width(text));
        self.put(start, text, style);
        for back in [2, 3] {
            if let Some(c) = start.checked_sub(back) {
                self.hide(c);
            }
        }
    }

    fn emit(&self, out: &mut String, pal: Palette, time: &str, tw: usize) {
        out.push_str(&" ".repeat(tw.saturating_sub(width(time))));
        pal.paint(out, Palette::DIM, time);
        out.push_str("  ");
        let mut run = String::new();
        let mut style = None;
        for c in &self.cells {
            if c.style != style {
                paint_run(out, pal, style, &run);
                run.clear();
                style = c.style;
            }
            run.push_str(&c.s);
        }
        paint_run(out, pal, style, &run);
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('\n');
    }
}

fn paint_run(out: &mut String, pal: Palette, style: Option<&str>, run: &str) {
    match style {
        Some(s) => pal.paint(out, s, run),
        None => out.push_str(run),
    }
}

/// Whether the lanes of `v` fit `width` (columns between lifelines, when they do).
fn layout(lanes: usize, tw: usize, w: Option<usize>) -> (Option<usize>, Fit) {
    let x0 = tw + 2;
    let need = x0 + 1 + (lanes.saturating_sub(1)) * (MIN_GAP + 1);
    let (gap, fit) = match w {
        Some(w) => {
            let room = w.saturating_sub(x0 + 1);
            let fit = 1 + room / (MIN_GAP + 1);
            let gap = (room / lanes.saturating_sub(1).max(1)).saturating_sub(1);
            ((fit >= lanes).then_some(gap.min(GAP)), fit)
        }
        None => ((lanes <= MAX_LANES).then_some(GAP), MAX_LANES),
    };
    (gap, Fit { lanes, fit, need })
}

/// Appends the diagram of every conversation of `v` under `title`; or, when its lanes do not
/// fit `st.width`, nothing, and how many there are and fit.
pub fn render(out: &mut String, v: &View, title: &str, st: &Style) -> Result<(), Fit> {
    let d = diagram(v);
    let pal = Palette { on: st.color };
    let g = if st.ascii { &ASCII } else { &UNICODE };
    let a = st.ascii;
    let t0 = v.run.t0().unwrap_or(0);
    let mut prev = t0;
    let times: Vec<String> = d
        .rows
        .iter()
        .map(|r| {
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
            s
        })
        .collect();
    let tw = times.iter().map(|s| width(s)).max().unwrap_or(8).max(1);
    let n = d.lanes.len();
    let (gap, fits) = layout(n, tw, st.width);
    let Some(gap) = gap.filter(|_| n >= 2) else {
        return Err(fits);
    };
    let pitch = gap + 1;
    let col = |k: usize| k * pitch;
    let span = gap - 2;
    let last = n - 1;

    for l in fitted(&plain(title, a), st.width) {
        pal.paint(out, Palette::BOLD, &l);
        out.push('\n');
    }
    header(out, pal, &d.lanes, tw, pitch, st);

    for (k, r) in d.rows.iter().enumerate() {
        match r.kind {
            RowKind::Packet { p, .. } => {
                let (Some(&s), Some(&to)) = (d.lane_of.get(&p.src), d.lane_of.get(&p.dst)) else {
                    continue;
                };
                let style = Some(match p.dir {
                    Dir::ToServer => Palette::CYAN,
                    Dir::ToClient => Palette::YELLOW,
                });
                let words: Vec<String> = ladder_text::words(v, p)
                    .iter()
                    .map(|w| plain(w, a))
                    .collect();
                let (lo, hi) = (s.min(to), s.max(to));
                let inner = col(hi) - col(lo) - 3;
                // As many words as the arrow holds on it, the rest beside the sender.
                let mut on = 0;
                let mut used = 0;
                for w in &words {
                    let add = width(w) + usize::from(on > 0);
                    if used + add > inner - 3 {
                        break;
                    }
                    used += add;
                    on += 1;
                }
                // Beside the sender towards the receiver, in a gap; or, when they take more
                // than a line there, on its other side when that has more room (the lane
                // next to the server's has one gap towards it and the others' on its left).
                let outward = match s.cmp(&to) {
                    std::cmp::Ordering::Less => col(s).saturating_sub(3),
                    _ if s < last => col(last) - col(s) - 3,
                    _ => 0,
                };
                let mut flip = false;
                let parts = if on == 0 {
                    pack(&words, span - 3)
                } else {
                    let mut more = pack_even(&words[on..], span - 3);
                    if more.len() > 1 && outward > span - 3 {
                        flip = true;
                        more = pack_even(&words[on..], outward);
                    }
                    let mut p = vec![words[..on].join(" ")];
                    p.extend(more);
                    p
                };
                let first = parts.first().map_or("", String::as_str);
                let bar = g.bar.repeat(inner.saturating_sub(width(first) + 2));
                let mut line = Grid::new(n, pitch, g.life);
                let arrow = if s < to {
                    format!("{first} {bar}{}", g.right)
                } else {
                    format!("{}{bar} {first}", g.left)
                };
                line.put(col(lo) + 2, &arrow, style);
                line.emit(out, pal, &times[k], tw);
                // The words that did not fit on the arrow, beside the sender.
                for more in parts.iter().skip(1) {
                    let mut line = Grid::new(n, pitch, g.life);
                    if (s < to) != flip {
                        line.put(col(s) + 2, more, style);
                    } else {
                        line.put_before(col(s) - 2, more, style);
                    }
                    line.emit(out, pal, "", tw);
                }
                // The state changes it caused, beside each end's lifeline.
                let conn = &v.conns[p.conn];
                let ends = [conn.client, conn.server].map(|e| d.lane_of.get(&e).copied());
                let texts = transitions(p).map(|t| {
                    let mut s = String::new();
                    if let Some(t) = t {
                        states::change(&mut s, &t);
                    }
                    plain(&s, a)
                });
                state_lines(out, pal, &texts, ends, (n, pitch), g.life, a, tw);
            }
            RowKind::Call { e, ev, part } => {
                let Some(&lane) = d.call_lane.get(&ev) else {
                    continue;
                };
                // Over the lanes towards the far end when longer than a gap (the lifelines it
                // crosses are left out of its rows).
                // A client's call goes on the left of its lifeline when it takes more than a
                // line on the right and the left has more room (the lane next to the server's).
                let text = plain(&e.call_text(part, 1), a);
                let right = (col(last) - col(lane)).saturating_sub(3);
                let left_side = lane == last || (width(&text) > right && col(lane) > right + 3);
                let room = if left_side { col(lane) - 3 } else { right };
                for (i, t) in ladder_text::call_lines(&text, room).iter().enumerate() {
                    let mut line = Grid::new(n, pitch, g.life);
                    if left_side {
                        line.put_before(col(lane) - 2, t, Some(Palette::GREEN));
                    } else {
                        line.put(col(lane) + 2, t, Some(Palette::GREEN));
                    }
                    let tm = if i == 0 { times[k].as_str() } else { "" };
                    line.emit(out, pal, tm, tw);
                }
            }
            RowKind::Gap { ns } if ns >= GAP_SHOWN => {
                let why = match d.rows.get(k + 1).map(|r| r.kind) {
                    Some(RowKind::Packet { p, .. }) => wait_name(p),
                    _ => None,
                };
                let long = match why {
                    Some(w) => format!("… {}: {w} …", duration(ns)),
                    None => format!("… {} …", duration(ns)),
                };
                let all = col(last) - 3;
                let mut text = plain(&long, a);
                if width(&text) > all {
                    text = plain(&format!("… {} …", duration(ns)), a);
                }
                let mut line = Grid::new(n, pitch, g.gap);
                let start = 2 + all.saturating_sub(width(&text)) / 2;
                line.put(start, &text, Some(Palette::DIM));
                line.emit(out, pal, "", tw);
            }
            RowKind::Mark { e } => {
                let text = plain(&e.text.clone().unwrap_or_else(|| e.args.clone()), a);
                let room = st.width.map(|w| w.saturating_sub(tw + 2).max(MIN_GAP));
                let lines = match room {
                    Some(r) if width(&text) > r => ladder_text::balanced(&text, r),
                    _ => vec![text],
                };
                for t in lines {
                    out.push_str(&" ".repeat(tw + 2));
                    pal.paint(out, Palette::BOLD, &t);
                    out.push('\n');
                }
            }
            RowKind::Gap { .. } | RowKind::Cut { .. } => {}
        }
    }
    Ok(())
}

use crate::render::ladder_text;

fn fitted(text: &str, w: Option<usize>) -> Vec<String> {
    match w {
        Some(w) if width(text) > w => fit::hanging("", text, 2, w),
        _ => vec![text.to_owned()],
    }
}

/// The lanes' labels: role, addr:port and pids, each over its lifeline (the first starting at
/// it, the last ending at it). When they would run into each other: numbers over the lifelines
/// and a line per lane above them.
fn header(out: &mut String, pal: Palette, lanes: &[Lane], tw: usize, pitch: usize, st: &Style) {
    let x0 = tw + 2;
    let total = x0 + (lanes.len() - 1) * pitch + 1;
    let pids = |l: &Lane| match l.pids.as_slice() {
        [] => String::new(),
        [one] => format!("pid {one}"),
        many => format!(
            "pids {}",
            many.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let role = |l: &Lane| match l.role {
        Role::Client => "client",
        Role::Server => "server",
    };
    let rows: Vec<Vec<String>> = vec![
        lanes.iter().map(|l| role(l).to_owned()).collect(),
        lanes.iter().map(|l| l.addr.to_string()).collect(),
        lanes.iter().map(pids).collect(),
    ];
    // Where each label starts on the line, or None when two would come closer than two spaces
    // (`127.0.0.1:36602 127.0.0.1:36616` reads as one): the first starting at its lifeline, the
    // last ending at its own, the others centred on theirs.
    let place = |labels: &[String]| -> Option<Vec<usize>> {
        let mut at = Vec::with_capacity(labels.len());
        let mut free = 0usize;
        for (k, l) in labels.iter().enumerate() {
            let w = width(l);
            let lifeline = x0 + k * pitch;
            let start = if k == 0 {
                lifeline
            } else if k + 1 == labels.len() {
                (lifeline + 1).saturating_sub(w)
            } else {
                lifeline.saturating_sub(w / 2)
            };
            if start < free || start + w > total {
                return None;
            }
            at.push(start);
            free = start + w + 2;
        }
        Some(at)
    };
    // Else each over its lifeline, two spaces apart, moved left from the centre as little as
    // the next one needs (the first may reach into the time column).
    let packed = |labels: &[String]| -> Option<Vec<usize>> {
        let mut at: Vec<usize> = Vec::with_capacity(labels.len());
        let mut limit = total; // the column the label must end before
        for (k, l) in labels.iter().enumerate().rev() {
            let w = width(l);
            let lifeline = x0 + k * pitch;
            if w == 0 {
                at.push(lifeline);
                continue;
            }
            let start = lifeline.saturating_sub(w / 2).min(limit.checked_sub(w)?);
            if start + w <= lifeline {
                return None;
            }
            at.push(start);
            limit = start.checked_sub(2)?;
        }
        at.reverse();
        Some(at)
    };
    let placed: Option<Vec<Vec<usize>>> = rows
        .iter()
        .map(|r| place(r))
        .collect::<Option<_>>()
        .or_else(|| rows.iter().map(|r| packed(r)).collect());
    let line = |out: &mut String, labels: &[String], at: &[usize]| {
        let mut s = String::new();
        for (l, &c) in labels.iter().zip(at) {
            s.push_str(&" ".repeat(c.saturating_sub(width(&s))));
            s.push_str(l);
        }
        let s = s.trim_end().to_owned();
        if !s.is_empty() {
            pal.paint(out, Palette::DIM, &s);
            out.push('\n');
        }
    };
    match placed {
        Some(at) => {
            for (labels, at) in rows.iter().zip(&at) {
                line(out, labels, at);
            }
        }
        None => {
            // ` 9  client 127.0.0.1:52596 pid 8560`: the numbers right-aligned, a longer line
            // wrapped under its text.
            let nw = lanes.len().to_string().len();
            for (k, l) in lanes.iter().enumerate() {
                let p = pids(l);
                let text = plain(
                    &format!(
                        "{} {}{}",
                        role(l),
                        l.addr,
                        if p.is_empty() {
                            String::new()
                        } else {
                            format!(" {p}")
                        }
                    ),
                    st.ascii,
                );
                let lead = format!("{:>nw$}  ", k + 1);
                let lines = match st.width {
                    Some(w) if width(&lead) + width(&text) > w => {
                        fit::hanging(&lead, &text, width(&lead), w)
                    }
                    _ => vec![format!("{lead}{text}")],
                };
                for f in lines {
                    pal.paint(out, Palette::DIM, &f);
                    out.push('\n');
                }
            }
            // Each number over its lifeline (the last one's ending there, to stay in the lines).
            let nums: Vec<String> = (1..=lanes.len()).map(|k| k.to_string()).collect();
            let at: Vec<usize> = (0..lanes.len())
                .map(|k| {
                    let c = x0 + k * pitch;
                    if k + 1 == lanes.len() {
                        (c + 1).saturating_sub(width(&nums[k]))
                    } else {
                        c
                    }
                })
                .collect();
            line(out, &nums, &at);
        }
    }
}

/// Under an arrow, the state changes it caused: each end's against its lifeline, on the side
/// towards the other end, within the arrow (on one line when both fit without touching).
#[allow(clippy::too_many_arguments)]
fn state_lines(
    out: &mut String,
    pal: Palette,
    texts: &[String; 2],
    ends: [Option<usize>; 2],
    (n, pitch): (usize, usize),
    life: &str,
    ascii: bool,
    tw: usize,
) {
    let [Some(c), Some(s)] = ends else { return };
    let arrow = if ascii { "->" } else { "→" };
    // Each side's pieces and where each piece goes: (start column, text).
    let side = |t: &str, me: usize, other: usize| -> Vec<(usize, String)> {
        if t.is_empty() {
            return Vec::new();
        }
        // Within the arrow, between the two ends' lifelines.
        let span = (me.abs_diff(other) * pitch).saturating_sub(3).max(1);
        let pieces: Vec<String> = if width(t) <= span {
            vec![t.to_owned()]
        } else {
            match t.split_once(arrow) {
                Some((from, to)) => [format!("{from}{arrow}"), to.to_owned()]
                    .iter()
                    .flat_map(|p| fit::wrap(p, span, span))
                    .collect(),
                None => fit::wrap(t, span, span),
            }
        };
        pieces
            .into_iter()
            .map(|p| {
                let at = if me < other {
                    me * pitch + 2
                } else {
                    (me * pitch - 1).saturating_sub(width(&p))
                };
                (at, p)
            })
            .collect()
    };
    let left = side(&texts[0], c, s);
    let right = side(&texts[1], s, c);
    let together = match (left.as_slice(), right.as_slice()) {
        ([(a, x)], [(b, y)]) => {
            let (first, second) = if a <= b {
                ((*a, x), (*b, y))
            } else {
                ((*b, y), (*a, x))
            };
            first.0 + width(first.1) < second.0
        }
        _ => false,
    };
    let mut lines: Vec<Vec<(usize, String)>> = Vec::new();
    if together {
        lines.push(left.into_iter().chain(right).collect());
    } else {
        lines.extend(left.into_iter().map(|p| vec![p]));
        lines.extend(right.into_iter().map(|p| vec![p]));
    }
    for pieces in lines {
        let mut g = Grid::new(n, pitch, life);
        for (at, p) in pieces {
            g.put(at, &p, Some(Palette::MAGENTA));
        }
        g.emit(out, pal, "", tw);
    }
}

/// A title for the diagram of `v`: `3 TCP conversations, 4 endpoints`.
pub fn title(v: &View) -> String {
    let count = |p: Proto| v.conns.iter().filter(|c| c.proto == p).count();
    let mut parts = Vec::new();
    for (p, name) in [(Proto::Tcp, "TCP"), (Proto::Udp, "UDP")] {
        match count(p) {
            0 => {}
            1 => parts.push(format!("1 {name} conversation")),
            k => parts.push(format!("{k} {name} conversations")),
        }
    }
    format!(
        "{} on one ladder, {} endpoints",
        parts.join(" and "),
        endpoints(v).len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_fit_while_their_gaps_keep_the_least_columns() {
        // 8 columns of time, 2 of margin: 4 lanes need 11 + 3 × 17 = 62 columns.
        let (gap, f) = layout(4, 8, Some(62));
        assert_eq!((gap, f.fit, f.need), (Some(MIN_GAP), 4, 62));
        let (gap, f) = layout(4, 8, Some(61));
        assert_eq!((gap, f.fit), (None, 3));
        assert_eq!(layout(3, 8, Some(200)).0, Some(GAP));
        assert_eq!(layout(MAX_LANES + 1, 8, None).0, None);
        let m = f.message(
            "the capture",
            "3 TCP streams",
            Some(61),
            "the first is drawn",
        );
        assert!(
            m.contains("4 endpoints") && m.contains("3 fit in 61 columns"),
            "{m}"
        );
        assert!(m.contains("--stream N") && m.contains("--width 62"), "{m}");
    }

    #[test]
    fn a_grid_puts_text_over_the_lifelines_and_trims_the_end() {
        let line = |f: &dyn Fn(&mut Grid)| {
            let mut g = Grid::new(3, 6, "|");
            f(&mut g);
            let mut s = String::new();
            g.emit(&mut s, Palette { on: false }, "1.0", 3);
            s
        };
        assert_eq!(
            line(&|g| {
                g.put(2, "ab", None);
                g.put_before(10, "x", None);
            }),
            "1.0  | ab  |   x |\n"
        );
        // Text never ends against a lifeline (one it would touch is hidden), nor on one.
        assert_eq!(line(&|g| g.put(2, "abcd", None)), "1.0  | abcd      |\n");
        assert_eq!(line(&|g| g.put(2, "abcde", None)), "1.0  | abcde     |\n");
        assert_eq!(line(&|g| g.put(2, "abc", None)), "1.0  | abc |     |\n");
        // Nor does it start one or two spaces after one, where that lane's own text starts.
        assert_eq!(
            line(&|g| g.put_before(10, "xyz", None)),
            "1.0  |       xyz |\n"
        );
        assert_eq!(
            line(&|g| g.put_before(10, "wxyz", None)),
            "1.0  |      wxyz |\n"
        );
        // The first and the last lifelines always stay.
        assert_eq!(
            line(&|g| g.put_before(10, "uvwxyzuv", None)),
            "1.0  |  uvwxyzuv |\n"
        );
    }
}
