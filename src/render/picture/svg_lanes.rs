//! The SVG ladder of several conversations on one diagram, as the text ladder draws them
//! ([`crate::render::ladder_lanes`]): a lane per endpoint addr:port (the clients on the left in
//! the order they appear, the servers on the right), labelled with its role, address and pids;
//! every conversation's packets in time order, each an arrow from its sender's lane to its
//! receiver's across the lanes between, its label beside the sender; the calls beside their
//! lane; each end's TCP state changes under the arrow that caused them; the run's marks and the
//! long waits across, as on the two-lane ladders ([`super::svg`]).
//!
//! The lanes and rows come from the shared model ([`crate::render::run::endpoint_lanes`]), so
//! the text and the picture place everything alike. The same `data-frame`, `data-conn`,
//! `data-cause` and `data-ev` attributes as the two-lane ladders link it to the HTML page.

use std::fmt::Write;

use crate::live::event::{Event, Part};
use crate::live::model::{Pkt, View};
use crate::render::ladder_lanes::title;
use crate::render::run::endpoint_lanes::{diagram_cut, Diagram};
use crate::render::run::ladder_rows::RowKind;

use super::svg::{
    arrow_colour, arrow_label, call_colour, clip, gap_text, lane_and_lifeline, lane_head, marks,
    state_change, time_label, tw, CALL_MAX, CLIENT, CW, GREY, INK, LABEL_MAX, RED, SERVER,
    STATE_SCALE,
};
use super::xml::esc;
use super::{call_detail, packet_detail, rel_time};

/// Lanes drawn on one diagram at the most: beyond, each conversation has a ladder of its own.
pub const MAX_LANES: usize = 12;
/// Packets drawn before the middle of a long run is cut…
const HEAD: usize = 400;
/// …and after.
const TAIL: usize = 100;
/// Pixels between two lifelines, at the least and at the most (a longer call crosses the next
/// lifeline on a white halo).
const MIN_GAP: f64 = 200.0;
const MAX_GAP: f64 = 560.0;
/// Pixels a call widens the gaps to at the most.
const CALL_GAP: f64 = 260.0;

/// Row heights: a packet's (one more line for its marks and for each line of states).
const PKT_H: f64 = 32.0;
const LINE_H: f64 = 14.0;
const CALL_H: f64 = 22.0;
const MARK_H: f64 = 30.0;
const GAP_H: f64 = 34.0;
const CUT_H: f64 = 30.0;
const HEAD_H: f64 = 96.0;

/// Text drawn over lifelines keeps a white outline under it, to stay readable.
const HALO: &str =
    r##" stroke="#ffffff" stroke-width="4" stroke-linejoin="round" paint-order="stroke""##;

/// Whether `v` is drawn on one diagram: more than one conversation, and lanes that fit.
pub fn fits(v: &View) -> Result<(), usize> {
    let n = crate::render::run::endpoint_lanes::endpoints(v).len();
    if (2..=MAX_LANES).contains(&n) {
        Ok(())
    } else {
        Err(n)
    }
}

/// A call as the diagram shows it: without the `[comm pid]` tag when its lane has one process.
fn call_text(d: &Diagram, ev: usize, e: &Event, part: Part) -> String {
    let text = e.call_text(part, 1);
    let one = d
        .call_lane
        .get(&ev)
        .and_then(|&l| d.lanes.get(l))
        .is_some_and(|l| l.pids.len() <= 1);
    if !one || !text.starts_with('[') {
        return text;
    }
    match text.split_once("] ") {
        Some((_, rest)) => rest.to_owned(),
        None => text,
    }
}

/// Where a packet's state changes go: (x, anchor, colour, role, text) per line, each end's
/// beside its lifeline towards the other end, both on one line when they fit.
type StateText = (f64, &'static str, &'static str, &'static str, String);

fn state_lines(d: &Diagram, v: &View, p: &Pkt, xs: &[f64]) -> Vec<Vec<StateText>> {
    let Some(c) = v.conns.get(p.conn) else {
        return Vec::new();
    };
    let (Some(&cl), Some(&sl)) = (d.lane_of.get(&c.client), d.lane_of.get(&c.server)) else {
        return Vec::new();
    };
    let (xc, xsv) = (xs[cl], xs[sl]);
    let mut texts: Vec<(StateText, f64)> = Vec::new();
    for (client, me, other, colour, role) in [
        (true, xc, xsv, CLIENT, "client"),
        (false, xsv, xc, SERVER, "server"),
    ] {
        if let Some(s) = state_change(p, client) {
            let (x, anchor) = if me <= other {
                (me + 8.0, "start")
            } else {
                (me - 8.0, "end")
            };
            let w = tw(&s) * STATE_SCALE;
            texts.push(((x, anchor, colour, role, s), w));
        }
    }
    let room = (xc - xsv).abs() - 24.0;
    let total: f64 = texts.iter().map(|(_, w)| w).sum();
    if texts.len() == 2 && total > room {
        texts.into_iter().map(|(t, _)| vec![t]).collect()
    } else if texts.is_empty() {
        Vec::new()
    } else {
        vec![texts.into_iter().map(|(t, _)| t).collect()]
    }
}

/// Draws the diagram of every conversation of `v` with its top at `top`; returns its width and
/// height, or, when its lanes are not between 2 and [`MAX_LANES`], how many there are.
pub fn draw(out: &mut String, v: &View, top: f64) -> Result<(f64, f64), usize> {
    fits(v)?;
    let d = diagram_cut(v, HEAD, TAIL);
    let n = d.lanes.len();
    let last = n - 1;
    let heads: Vec<[String; 3]> = d.lanes.iter().map(lane_head).collect();
    let head_w = |h: &[String; 3]| h.iter().map(|s| tw(s)).fold(0.0, f64::max);
    let times_w = d
        .rows
        .iter()
        .map(|r| tw(&rel_time(v, r.t)))
        .fold(tw("time"), f64::max);
    let mut label_w: f64 = 0.0;
    let mut call_w: f64 = 0.0;
    let mut state_w: f64 = 0.0;
    for r in &d.rows {
        match r.kind {
            RowKind::Packet { p, .. } => {
                label_w = label_w.max(tw(&clip(&arrow_label(v, p), LABEL_MAX)));
                if let Some(m) = marks(p) {
                    label_w = label_w.max(tw(&clip(&m, LABEL_MAX)));
                }
                for client in [true, false] {
                    if let Some(s) = state_change(p, client) {
                        state_w = state_w.max(tw(&s) * STATE_SCALE);
                    }
                }
            }
            RowKind::Call { e, ev, part } => {
                call_w = call_w.max(tw(&clip(&call_text(&d, ev, e, part), CALL_MAX)));
            }
            _ => {}
        }
    }
    let widest_head = heads.iter().map(head_w).fold(0.0, f64::max);
    // Room for the longest arrow label and state beside their lane; a call longer than
    // [`CALL_GAP`] crosses the next lifeline on its halo rather than widening every gap.
    let gap = (label_w + 30.0)
        .max((call_w + 20.0).min(CALL_GAP))
        .max(state_w + 24.0)
        .clamp(MIN_GAP, MAX_GAP)
        .max(widest_head + 16.0);
    let time_x = 12.0 + times_w; // right edge of the time column
    let x0 = (time_x + 30.0).max(time_x + 12.0 + head_w(&heads[0]) / 2.0);
    let xs: Vec<f64> = (0..n).map(|k| x0 + k as f64 * gap).collect();
    let width = xs[last] + (head_w(&heads[last]) / 2.0).max(12.0) + 16.0;
    let mid_all = (xs[0] + xs[last]) / 2.0;

    let _ = writeln!(
        out,
        r#"<g class="ladder lanes" data-lanes="{n}" transform="translate(0,{top:.0})">"#
    );
    let _ = write!(
        out,
        r#"<text class="title" x="12" y="20" font-weight="bold" font-size="14" fill="{INK}">"#
    );
    esc(out, &title(v));
    out.push_str("</text>\n");

    // Rows: positions first, for the lifelines; a packet's state lines with it.
    let mut ys = Vec::with_capacity(d.rows.len());
    let mut states = Vec::with_capacity(d.rows.len());
    let mut y = HEAD_H;
    for r in &d.rows {
        let (h, st) = match r.kind {
            RowKind::Packet { p, .. } => {
                let st = state_lines(&d, v, p, &xs);
                let extra = st.len() + usize::from(marks(p).is_some());
                (PKT_H + LINE_H * extra as f64, st)
            }
            RowKind::Call { .. } => (CALL_H, Vec::new()),
            RowKind::Mark { .. } => (MARK_H, Vec::new()),
            RowKind::Gap { .. } => (GAP_H, Vec::new()),
            RowKind::Cut { .. } => (CUT_H, Vec::new()),
        };
        ys.push((y, h));
        states.push(st);
        y += h;
    }
    let bottom = y + 8.0;

    // The time axis.
    let _ = writeln!(
        out,
        r#"<text x="{time_x:.1}" y="{:.1}" text-anchor="end" fill="{GREY}">time</text><line class="axis" x1="{ax:.1}" y1="{:.1}" x2="{ax:.1}" y2="{bottom:.1}" stroke="{GREY}" stroke-width="1"/>"#,
        HEAD_H - 10.0,
        HEAD_H - 4.0,
        ax = time_x + 6.0,
    );
    // Lanes: heads and lifelines (dashed across a gap or a cut).
    for (k, lane) in d.lanes.iter().enumerate() {
        lane_and_lifeline(out, lane, xs[k], &heads[k], &d.rows, &ys, bottom, true);
    }

    for (k, (r, (ry, rh))) in d.rows.iter().zip(&ys).enumerate() {
        let mid = ry + rh / 2.0;
        match r.kind {
            RowKind::Packet { p, cause } => {
                let (Some(&s), Some(&to)) = (d.lane_of.get(&p.src), d.lane_of.get(&p.dst)) else {
                    continue;
                };
                let (x1, x2) = (xs[s], xs[to]);
                let right = x2 > x1;
                let y = ry + 20.0;
                let colour = arrow_colour(p);
                let _ = write!(
                    out,
                    r#"<g class="pkt" data-frame="{}" data-conn="{}" data-dir="{}""#,
                    p.index + 1,
                    p.conn,
                    if right { "right" } else { "left" }
                );
                if let Some(c) = cause {
                    let _ = write!(out, r#" data-cause="{c}""#);
                }
                let detail = packet_detail(v, p, cause);
                out.push_str(r#" data-detail=""#);
                esc(out, &detail);
                out.push_str("\"><title>");
                esc(out, &detail);
                out.push_str("</title>");
                time_label(out, v, r.t, time_x, y + 4.0);
                let tip = if right { x2 - 1.0 } else { x2 + 1.0 };
                let back = if right { tip - 9.0 } else { tip + 9.0 };
                let _ = write!(
                    out,
                    r#"<line x1="{x1:.1}" y1="{y:.1}" x2="{back:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="1.6"/><polygon points="{tip:.1},{y:.1} {back:.1},{:.1} {back:.1},{:.1}" fill="{colour}"/>"#,
                    y - 4.0,
                    y + 4.0
                );
                // The label beside the sender, over the arrow.
                let (lx, anchor) = if right {
                    (x1 + 10.0, "start")
                } else {
                    (x1 - 10.0, "end")
                };
                let _ = write!(
                    out,
                    r#"<text class="label" x="{lx:.1}" y="{:.1}" text-anchor="{anchor}" fill="{colour}"{HALO}>"#,
                    y - 5.0
                );
                esc(out, &clip(&arrow_label(v, p), LABEL_MAX));
                out.push_str("</text>");
                let mut below = y + 15.0;
                if let Some(m) = marks(p) {
                    let _ = write!(
                        out,
                        r#"<text class="marks" x="{lx:.1}" y="{below:.1}" text-anchor="{anchor}" fill="{RED}" font-style="italic"{HALO}>"#
                    );
                    esc(out, &clip(&m, LABEL_MAX));
                    out.push_str("</text>");
                    below += LINE_H;
                }
                // Each end's state change under the arrow, beside its lifeline.
                for l in &states[k] {
                    for (x, anchor, colour, role, text) in l {
                        let _ = write!(
                            out,
                            r#"<text class="tcpstate" data-role="{role}" x="{x:.1}" y="{below:.1}" text-anchor="{anchor}" font-size="11" font-weight="bold" fill="{colour}">"#
                        );
                        esc(out, text);
                        out.push_str("</text>");
                    }
                    below += LINE_H;
                }
                out.push_str("</g>\n");
            }
            RowKind::Call { e, ev, part } => {
                let Some(&lane) = d.call_lane.get(&ev) else {
                    continue;
                };
                let y = ry + 15.0;
                let dot = xs[lane];
                // Beside its lane, towards the middle: the last lane's calls on its left.
                let (x, anchor, room) = if lane == last {
                    (dot - 10.0, "end", dot - xs[0] - 20.0)
                } else {
                    (dot + 10.0, "start", xs[last] - dot - 20.0)
                };
                let detail = call_detail(v, e);
                let _ = write!(out, r#"<g class="call" data-ev="{ev}""#);
                if let Some(c) = d.conns.get(ev).and_then(|c| c.first()) {
                    let _ = write!(out, r#" data-conn="{c}""#);
                }
                let _ = write!(out, r#" data-role="{}" data-detail=""#, e.role.name());
                esc(out, &detail);
                out.push_str("\"><title>");
                esc(out, &detail);
                out.push_str("</title>");
                time_label(out, v, r.t, time_x, y);
                let colour = call_colour(e);
                if let (Some(state), "state") = (e.text.as_deref(), e.call.as_str()) {
                    // The kernel's TCP state of the socket: a badge on the lifeline.
                    let w = tw(state) + 12.0;
                    let _ = write!(
                        out,
                        r##"<rect class="state" x="{:.1}" y="{:.1}" width="{w:.1}" height="17" rx="8" fill="#ffffff" stroke="{colour}"/><text x="{dot:.1}" y="{y:.1}" text-anchor="middle" font-size="11" fill="{colour}">"##,
                        dot - w / 2.0,
                        y - 12.5
                    );
                    esc(out, state);
                    out.push_str("</text></g>\n");
                    continue;
                }
                let max = ((room / CW) as usize).clamp(8, CALL_MAX);
                let _ = write!(
                    out,
                    r#"<circle cx="{dot:.1}" cy="{:.1}" r="3" fill="{colour}"/><text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" fill="{colour}"{HALO}>"#,
                    y - 4.0
                );
                esc(out, &clip(&call_text(&d, ev, e, part), max));
                out.push_str("</text></g>\n");
            }
            RowKind::Mark { e } => {
                let title = e.text.clone().unwrap_or_else(|| e.args.clone());
                let _ = write!(
                    out,
                    r##"<g class="mark"><line x1="{:.1}" y1="{mid:.1}" x2="{:.1}" y2="{mid:.1}" stroke="#bbbbbb" stroke-dasharray="6,3"/><rect x="{:.1}" y="{:.1}" width="{:.1}" height="16" fill="#ffffff"/><text x="{mid_all:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" fill="{INK}">"##,
                    time_x + 6.0,
                    width - 12.0,
                    mid_all - tw(&title) / 2.0 - 6.0,
                    mid - 9.0,
                    tw(&title) + 12.0,
                    mid + 4.0
                );
                esc(out, &title);
                out.push_str("</text></g>\n");
            }
            RowKind::Gap { ns } => {
                let text = gap_text(ns, d.rows.get(k + 1));
                let _ = write!(
                    out,
                    r##"<g class="gap" data-ns="{ns}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="16" fill="#ffffff"/><text x="{mid_all:.1}" y="{:.1}" text-anchor="middle" font-style="italic" fill="{GREY}">"##,
                    mid_all - tw(&text) / 2.0 - 4.0,
                    mid - 8.0,
                    tw(&text) + 8.0,
                    mid + 4.0
                );
                esc(out, &text);
                let _ = write!(
                    out,
                    r#"</text><text x="{time_x:.1}" y="{:.1}" text-anchor="end" font-style="italic" fill="{GREY}">≈</text></g>"#,
                    mid + 4.0
                );
                out.push('\n');
            }
            RowKind::Cut { packets, calls } => {
                let mut text = format!("… {packets} more packets");
                if calls > 0 {
                    let _ = write!(text, " and {calls} calls");
                }
                text.push_str(" (all in the timeline) …");
                let _ = write!(
                    out,
                    r##"<g class="cut"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="16" fill="#ffffff"/><text x="{mid_all:.1}" y="{:.1}" text-anchor="middle" font-style="italic" fill="{GREY}">"##,
                    mid_all - tw(&text) / 2.0 - 4.0,
                    mid - 8.0,
                    tw(&text) + 8.0,
                    mid + 4.0
                );
                esc(out, &text);
                out.push_str("</text></g>\n");
            }
        }
    }
    out.push_str("</g>\n");
    Ok((width, bottom))
}
