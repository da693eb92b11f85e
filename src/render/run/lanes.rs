//! The lanes of the timeline: which lane an item goes in, how wide each lane is (today's
//! whole-line layout, or lanes narrowed to fit a width), and an item laid out as one whole
//! line or wrapped inside its lane.

use crate::live::model::Dir;
use crate::render::fit::{self, Token};
use crate::render::{width, Palette};

use super::timeline::{indent, paint};

/// Where an item goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    Client,
    Server,
    Wire(Dir),
    /// A note in the wire lane, without an arrow (a named wait: `⏱ 40.2 ms: delayed ACK …`).
    Note,
    /// A scenario's section title, a rule across the lanes.
    Rule,
}

/// One item of the timeline, ready to lay out.
pub(super) struct Row {
    pub t: i128,
    pub lane: Lane,
    pub tokens: Vec<Token>,
    pub text: String,
    pub style: &'static str,
    /// Beside a packet: the TCP state change it caused in the client and in the server
    /// (empty: none), shown in their lanes on the packet's line.
    pub sides: [Vec<Token>; 2],
}

/// The style of a state change beside a packet.
const STATE_STYLE: &str = Palette::MAGENTA;

impl Row {
    fn side(&self, i: usize) -> String {
        fit::join(&self.sides[i])
    }
}

/// The columns: the time, then the lanes with two spaces between them. `wrap` means every
/// item is kept inside its lane (the server lane ends at the width); without it items are
/// whole lines and the server lane runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub time: usize,
    pub client: usize,
    pub wire: usize,
    /// What the longest packet line needs (its arrow included), up to [`WIRE_MAX`].
    wire_need: usize,
    server: usize,
    rule: usize,
    pub wrap: bool,
}

/// Lane widths (client, wire, server) a narrow layout never goes below (a lane's text wraps
/// within them).
const MIN_LANES: [usize; 3] = [20, 24, 20];
/// The widest wire lane a narrow layout gives a packet line that wants it.
const WIRE_MAX: usize = 64;
/// Lane widths below which nothing is readable (a line may then pass the width).
const FLOOR_LANES: [usize; 3] = [8, 10, 8];
/// Lane widths a narrow layout keeps while it can: most calls and packets fit on a line or two.
const COMFY_LANES: [usize; 3] = [24, 36, 32];

impl Layout {
    /// Today's whole-line layout: lanes as wide as their usual content.
    pub fn natural(rows: &[Row], time: usize) -> Layout {
        let max = |lane: fn(Lane) -> bool, extra: usize| {
            rows.iter()
                .filter(|r| lane(r.lane))
                .map(|r| width(&r.text) + extra)
                .max()
                .unwrap_or(0)
        };
        let side = |i: usize| rows.iter().map(|r| width(&r.side(i))).max().unwrap_or(0);
        let client = max(|l| l == Lane::Client, 0).max(side(0)).clamp(20, 34);
        let wire_need = max(|l| matches!(l, Lane::Wire(_)), 4).min(WIRE_MAX);
        let wire = wire_need.clamp(30, 60);
        let server = max(|l| l == Lane::Server, 0).max(side(1));
        Layout {
            time,
            client,
            wire,
            wire_need,
            server,
            rule: client + 2 + wire + 2 + 20,
            wrap: false,
        }
    }

    /// The widest line this layout prints for `r`.
    pub fn line_width(&self, r: &Row) -> usize {
        let w = width(&r.text);
        self.time
            + 2
            + match r.lane {
                Lane::Client => w,
                Lane::Server => self.client + 2 + self.wire + 2 + w,
                Lane::Wire(_) => {
                    let server = width(&r.side(1));
                    self.client + 2 + self.wire.max(w + 4) + if server > 0 { 2 + server } else { 0 }
                }
                Lane::Note => self.client + 2 + w,
                Lane::Rule => self.rule.max(w + 6),
            }
    }

    /// Lanes shrunk to fit `total` columns. The server lane gives up room first, then the
    /// wire lane, then the client lane, each down to a comfortable width ([`COMFY_LANES`]);
    /// below that all three shrink in proportion down to [`MIN_LANES`]. The server lane takes
    /// what is left.
    pub fn narrow(&self, total: usize) -> Layout {
        let avail = total.saturating_sub(self.time + 2 + 4);
        let hard = MIN_LANES;
        let mut comfy = COMFY_LANES;
        let mut nat = [self.client, self.wire.max(self.wire_need), self.server];
        for i in 0..3 {
            comfy[i] = comfy[i].min(nat[i]).max(hard[i]);
            nat[i] = nat[i].max(comfy[i]);
        }
        let sum = |l: [usize; 3]| l.iter().sum::<usize>();
        let lanes = if sum(nat) <= avail {
            nat
        } else if sum(comfy) <= avail {
            let mut over = sum(nat) - avail;
            let mut l = nat;
            for i in [2, 1, 0] {
                let give = over.min(nat[i] - comfy[i]);
                l[i] -= give;
                over -= give;
            }
            l
        } else if sum(hard) < avail {
            let (spare, over) = (avail - sum(hard), sum(comfy) - sum(hard));
            let mut l = hard;
            for i in 0..3 {
                l[i] += (comfy[i] - hard[i]) * spare / over;
            }
            l
        } else {
            // Narrower still (a wide time column, a small --width): the minimums in proportion.
            let mut l = hard;
            for (i, x) in l.iter_mut().enumerate() {
                *x = (hard[i] * avail / sum(hard)).max(FLOOR_LANES[i]);
            }
            l
        };
        let [client, wire, _] = lanes;
        let server = avail.saturating_sub(client + wire).max(FLOOR_LANES[2]);
        Layout {
            time: self.time,
            client,
            wire,
            wire_need: self.wire_need,
            server,
            rule: (client + 2 + wire + 2 + server).min(self.rule),
            wrap: true,
        }
    }
}

/// The `[comm pid]` or `[child 1]` tag a call row starts with.
fn tag(r: &Row) -> Option<String> {
    r.tokens
        .first()
        .filter(|t| t.text.starts_with('[') && t.text.ends_with(']') && r.tokens.len() > 1)
        .map(|t| t.text.clone())
}

/// Narrow lanes name a call's process (`[python3 4711]`) only when it differs from the one of
/// the lane's previous call, in a lane where every call is tagged (a trace; the program's
/// output lines aside). Where untagged calls are the scenario's own process (`fork`'s runner
/// beside `[parent]`), every tag stays.
pub(super) fn drop_repeated_tags(rows: &mut [Row]) {
    let lane_of = |r: &Row| match r.lane {
        Lane::Client => Some(0),
        Lane::Server => Some(1),
        _ => None,
    };
    // The program's output lines (`» …`) are not calls: they neither count nor interrupt.
    let output = |r: &Row| r.text.starts_with("» ");
    let mut all_tagged = [true, true];
    for r in rows.iter().filter(|r| !output(r)) {
        if let Some(l) = lane_of(r) {
            all_tagged[l] &= tag(r).is_some();
        }
    }
    let mut last: [Option<String>; 2] = [None, None];
    for r in rows.iter_mut().filter(|r| !output(r)) {
        let Some(lane) = lane_of(r) else { continue };
        let tag = tag(r);
        if all_tagged[lane] && tag.is_some() && tag == last[lane] {
            r.tokens.remove(0);
            if let Some(first) = r.tokens.first_mut() {
                first.sep.clear();
            }
        }
        last[lane] = tag;
    }
}

/// A row as one whole line (after the time column).
pub(super) fn whole(pal: Palette, lay: &Layout, r: &Row) -> String {
    let mut line = String::new();
    let (text, style) = (&r.text, r.style);
    match r.lane {
        Lane::Client => paint(pal, &mut line, style, text),
        Lane::Server => {
            indent(&mut line, lay.client + 2 + lay.wire + 2);
            paint(pal, &mut line, style, text);
        }
        Lane::Wire(dir) => {
            let (client, server) = (r.side(0), r.side(1));
            pal.paint(&mut line, STATE_STYLE, &client);
            indent(&mut line, (lay.client + 2).saturating_sub(width(&client)));
            arrow(pal, &mut line, dir, style, text, lay.wire);
            if !server.is_empty() {
                // The arrow fills the wire lane (or runs past it): the server lane is next.
                indent(&mut line, 2);
                pal.paint(&mut line, STATE_STYLE, &server);
            }
        }
        Lane::Note => {
            indent(&mut line, lay.client + 2);
            paint(pal, &mut line, style, text);
        }
        Lane::Rule => {
            let rule = format!("── {text} ");
            let tail = "─".repeat(lay.rule.saturating_sub(width(&rule)).max(2));
            paint(pal, &mut line, style, &rule);
            pal.paint(&mut line, Palette::DIM, &tail);
        }
    }
    line
}

/// `text ──▶` or `◀── text`, the bar filling `lane` columns (at least two).
fn arrow(pal: Palette, line: &mut String, dir: Dir, style: &str, text: &str, lane: usize) {
    let bar = "─".repeat(lane.saturating_sub(width(text) + 2).max(2));
    match dir {
        Dir::ToServer => {
            paint(pal, line, style, text);
            line.push(' ');
            pal.paint(line, Palette::DIM, &bar);
            line.push('▶');
        }
        Dir::ToClient => {
            line.push('◀');
            pal.paint(line, Palette::DIM, &bar);
            line.push(' ');
            paint(pal, line, style, text);
        }
    }
}

/// A row kept inside its lane: a call wraps with its continuation lines two columns in; a
/// packet keeps its arrow on the first line (flags, seq, ack) and puts what does not fit on
/// the next lines; a section title wraps inside its rule.
pub(super) fn wrapped(pal: Palette, lay: &Layout, r: &Row) -> Vec<String> {
    let style = r.style;
    let mut lines = Vec::new();
    match r.lane {
        Lane::Client | Lane::Server => {
            let (lead, w) = match r.lane {
                Lane::Client => (0, lay.client),
                _ => (lay.client + 2 + lay.wire + 2, lay.server),
            };
            let parts = fit::wrap_tokens(&r.tokens, w, w.saturating_sub(2));
            for (i, p) in parts.iter().enumerate() {
                let mut line = " ".repeat(lead + if i == 0 { 0 } else { 2 });
                paint(pal, &mut line, style, p);
                lines.push(line);
            }
        }
        Lane::Wire(dir) => {
            let w = lay.wire;
            // Continuation lines start two in (to the server) or after the shortest arrow
            // (to the client), so a packet's lines form one block.
            let cont = match dir {
                Dir::ToServer => 2,
                Dir::ToClient => 4,
            };
            let parts = fit::wrap_tokens(&r.tokens, w.saturating_sub(4), w.saturating_sub(cont));
            let client = fit::wrap_tokens(&r.sides[0], lay.client, lay.client);
            let server = fit::wrap_tokens(&r.sides[1], lay.server, lay.server);
            let n = parts.len().max(client.len()).max(server.len());
            for i in 0..n {
                let mut line = String::new();
                let c = client.get(i).map_or("", String::as_str);
                pal.paint(&mut line, STATE_STYLE, c);
                indent(&mut line, (lay.client + 2).saturating_sub(width(c)));
                let used = match parts.get(i) {
                    Some(p) if i == 0 => {
                        arrow(pal, &mut line, dir, style, p, w);
                        w.max(width(p) + 4)
                    }
                    Some(p) => {
                        indent(&mut line, cont);
                        paint(pal, &mut line, style, p);
                        cont + width(p)
                    }
                    None => 0,
                };
                if let Some(sv) = server.get(i) {
                    indent(&mut line, (w + 2).saturating_sub(used));
                    pal.paint(&mut line, STATE_STYLE, sv);
                }
                lines.push(line);
            }
        }
        Lane::Note => {
            for p in fit::wrap_tokens(&r.tokens, lay.wire, lay.wire.saturating_sub(2))
                .iter()
                .enumerate()
            {
                let mut line = " ".repeat(lay.client + 2 + if p.0 == 0 { 0 } else { 2 });
                paint(pal, &mut line, style, p.1);
                lines.push(line);
            }
        }
        Lane::Rule => {
            let w = lay.rule.saturating_sub(6).max(8);
            let parts = fit::wrap_tokens(&r.tokens, w, w);
            let n = parts.len();
            for (i, p) in parts.iter().enumerate() {
                let mut line = String::new();
                let lead = if i == 0 { "── " } else { "   " };
                let text = format!("{lead}{p}");
                let fill = lay.rule.saturating_sub(width(&text) + 1);
                if i + 1 == n && fill >= 2 {
                    paint(pal, &mut line, style, &format!("{text} "));
                    pal.paint(&mut line, Palette::DIM, &"─".repeat(fill));
                } else {
                    paint(pal, &mut line, style, &text);
                }
                lines.push(line);
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn natural(client: usize, wire: usize, server: usize) -> Layout {
        Layout {
            time: 8,
            client,
            wire,
            wire_need: wire,
            server,
            rule: client + 2 + wire + 2 + 20,
            wrap: false,
        }
    }

    fn total(l: &Layout) -> usize {
        l.time + 2 + l.client + 2 + l.wire + 2 + l.server
    }

    #[test]
    fn narrow_lanes_fill_the_width_and_give_up_room_server_first() {
        let nat = natural(33, 59, 47);
        // 150 columns: only the server lane is shorter than it would like.
        let l = nat.narrow(150);
        assert_eq!((l.client, l.wire, total(&l)), (33, 59, 150));
        assert!(l.wrap && l.server < 47);
        // 100: each lane between its minimum and its comfortable width.
        let l = nat.narrow(100);
        assert_eq!(total(&l), 100);
        assert!(l.client >= 20 && l.wire >= 24 && l.server >= 20, "{l:?}");
        // 80: the minimums (with what is left), still inside the width.
        let l = nat.narrow(80);
        assert_eq!(total(&l), 80);
        assert!(l.client >= MIN_LANES[0] && l.wire >= MIN_LANES[1], "{l:?}");
        // 40: scaled below the minimums, never below the floors.
        let l = nat.narrow(40);
        assert!(
            l.client >= FLOOR_LANES[0] && l.wire >= FLOOR_LANES[1],
            "{l:?}"
        );
        assert!(total(&l) <= 40 + FLOOR_LANES.iter().sum::<usize>(), "{l:?}");
    }
}
