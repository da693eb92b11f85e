//! The ladder as SVG: for each conversation, a lane per end (role, address, pids) with its
//! lifeline, one arrow per packet (flags, relative SEQ range, ACK, length, window, and the
//! analyser's marks in red under it), the socket calls beside the lane that made them, the
//! run's marks across, and the time down the left margin with long waits shown as one
//! labelled gap (`… 40.1 ms …`). A TCP state the run read from the kernel (a `state` event)
//! is a badge on its lifeline. Several conversations are one diagram with a lane per endpoint
//! ([`super::svg_lanes`]); beyond its lanes, two-lane ladders stacked one under another.
//!
//! Styles are attributes (no stylesheet), so any SVG viewer shows the same; each packet is a
//! `<g class="pkt" data-frame=… data-dir="right|left">` and each call a `<g class="call"
//! data-ev=…>`, which the HTML page uses to link them.

use std::fmt::Write;

use crate::analyse::flags as f;
use crate::live::event::{Event, Part, Role};
use crate::live::model::{Dir, Pkt, Proto, View};
use crate::render::run::ladder::label;
use crate::render::run::ladder_rows::{self, dir_word, duration, Ladder, Row, RowKind};
use crate::render::text::findings;

use super::svg_lanes;
use super::xml::esc;
use super::{call_detail, packet_detail, rel_time, HEAD, TAIL};

/// Font size and the advance of one character of the monospace font (DejaVu Sans Mono: 0.602
/// em), to lay text out without measuring it.
pub(super) const FONT: f64 = 12.0;
pub(super) const CW: f64 = 7.3;
/// Calls longer than this are cut with `…` (the whole call is in the hover text).
pub(super) const CALL_MAX: usize = 56;
/// Conversations drawn at most (the first ones).
const MAX_LADDERS: usize = 24;
/// Labels longer than this are cut with `…`.
pub(super) const LABEL_MAX: usize = 72;
const FONT_FAMILY: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";

pub(super) const INK: &str = "#222222";
pub(super) const GREY: &str = "#777777";
pub(super) const CLIENT: &str = "#00707a";
pub(super) const SERVER: &str = "#8a5a00";
pub(super) const RED: &str = "#c62828";

/// The ladder of the view as one SVG document: several conversations on one diagram of a lane
/// per endpoint ([`super::svg_lanes`]) when they have at most [`svg_lanes::MAX_LANES`]
/// endpoints, else one two-lane ladder per conversation, stacked. `standalone`: with the XML
/// declaration (a file of its own); without it, for inline use in a page.
pub fn render(v: &View, standalone: bool) -> String {
    let mut body = String::new();
    let mut lanes = false;
    let (width, y) = if v.conns.len() > 1 {
        match svg_lanes::draw(&mut body, v, 0.0) {
            Ok((w, h)) => {
                lanes = true;
                (w, h + 16.0)
            }
            Err(n) if n > svg_lanes::MAX_LANES => {
                let note = format!(
                    "{n} endpoints (addr:port) in {} conversations: more than {} lanes, so each \
                     conversation is drawn on a ladder of its own",
                    v.conns.len(),
                    svg_lanes::MAX_LANES
                );
                let _ = write!(
                    body,
                    r#"<text class="note" x="12" y="20" font-style="italic" fill="{GREY}">"#
                );
                esc(&mut body, &note);
                body.push_str("</text>\n");
                let (w, h) = stacked(&mut body, v, 36.0);
                (w.max(tw(&note) + 24.0), h)
            }
            Err(_) => stacked(&mut body, v, 0.0),
        }
    } else {
        stacked(&mut body, v, 0.0)
    };

    let mut out = String::with_capacity(body.len() + 512);
    if standalone {
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    // Inline in HTML, the parser gives the SVG its namespace: the page names no address.
    let ns = if standalone {
        r#" xmlns="http://www.w3.org/2000/svg""#
    } else {
        ""
    };
    let _ = writeln!(
        out,
        r#"<svg{ns} class="ladders" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="{FONT_FAMILY}" font-size="{FONT}">"#,
        w = width.ceil(),
        h = y.ceil()
    );
    // What the picture is, for screen readers and as the file's title.
    out.push_str("<title>");
    let names: Vec<String> = v
        .conns
        .iter()
        .take(MAX_LADDERS)
        .map(|c| c.label())
        .collect();
    let what = if lanes {
        format!("{}: ", crate::render::ladder_lanes::title(v))
    } else {
        String::new()
    };
    esc(
        &mut out,
        &if names.is_empty() {
            "sockscope ladder".to_owned()
        } else {
            format!("sockscope ladder: {what}{}", names.join("; "))
        },
    );
    out.push_str("</title>\n");
    let _ = writeln!(
        out,
        r##"<rect class="paper" x="0" y="0" width="100%" height="100%" fill="#ffffff"/>"##
    );
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// The two-lane ladders of the view's conversations one under another from `top`; their width
/// and the bottom.
fn stacked(body: &mut String, v: &View, top: f64) -> (f64, f64) {
    let conns = ladder_rows::event_conns(v);
    let ladders: Vec<Ladder> = (0..v.conns.len().min(MAX_LADDERS))
        .filter_map(|c| ladder_rows::ladder(v, c, &conns, HEAD, TAIL))
        .collect();
    let mut y = top;
    let mut width: f64 = 320.0;
    for l in &ladders {
        let (w, h) = one(body, v, l, y);
        width = width.max(w);
        y += h + 24.0;
    }
    if v.conns.len() > MAX_LADDERS {
        let _ = write!(
            body,
            r#"<text class="more" x="12" y="{:.1}" font-style="italic" fill="{GREY}">"#,
            y + 8.0
        );
        let more = v.conns.len() - MAX_LADDERS;
        esc(
            body,
            &format!(
                "… {more} more conversations, not drawn (`replay --stream N --svg` draws one)"
            ),
        );
        body.push_str("</text>\n");
        y += 28.0;
    }
    if ladders.is_empty() {
        let _ = write!(
            body,
            r#"<text x="16" y="28" font-size="{FONT}" fill="{GREY}">no TCP or UDP conversation: nothing to draw</text>"#
        );
        y = 48.0;
    }
    (width, y)
}

/// Text width in pixels.
pub(super) fn tw(s: &str) -> f64 {
    s.chars().count() as f64 * CW
}

/// `s` cut to `max` characters with `…`.
pub(super) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A call as the ladder shows it: without the `[comm pid]` tag when its lane has one process
/// (the lane's head names it).
fn call_text(l: &Ladder, e: &Event, part: Part) -> String {
    let text = e.call_text(part, 1);
    let lane = &l.lanes[usize::from(e.role == Role::Server)];
    if lane.pids.len() > 1 || !text.starts_with('[') {
        return text;
    }
    match text.split_once("] ") {
        Some((_, rest)) => rest.to_owned(),
        None => text,
    }
}

/// The arrow's label: the text ladder's (`[P.] seq=1:13 ack=1 (12 B)`) and the window.
pub(super) fn arrow_label(v: &View, p: &Pkt) -> String {
    let mut s = label(v, p);
    if p.tcp.is_some() {
        let _ = write!(s, " win={}", v.window(p));
    }
    s
}

/// The analyser's marks on a packet: `retransmission`, `dup ACK #1 of frame 5`, `zero window`….
pub(super) fn marks(p: &Pkt) -> Option<String> {
    let a = p.verdict().filter(|a| !a.findings.is_empty())?;
    let mut s = String::new();
    findings(&mut s, a.findings, a.dup_ack_num, a.dup_ack_of);
    Some(s)
}

/// The TCP state change a packet caused at one end (`client`: the client's), as the analyser
/// infers it from the segments: `SYN_SENT→ESTABLISHED`.
pub(super) fn state_change(p: &Pkt, client: bool) -> Option<String> {
    let trs = p.verdict()?.states;
    let t = crate::render::states::side(&trs, client, p.dir == Dir::ToServer)?;
    let mut s = String::new();
    crate::render::states::change(&mut s, &t);
    Some(s)
}

/// The name of the wait before a packet, when the analyser names one: `delayed ACK`,
/// `Nagle`, `retransmission timeout`….
fn wait_name(p: &Pkt) -> Option<&'static str> {
    let w = p.verdict()?.wait?;
    let text = w.kind.explain();
    let short = text.split(" (").next().unwrap_or(text);
    Some(short.split(':').next().unwrap_or(short))
}

/// A gap's label: `… 40.1 ms …`, with the wait's name when the packet after it has one.
pub(super) fn gap_text(ns: i128, next: Option<&Row>) -> String {
    let why = match next.map(|r| r.kind) {
        Some(RowKind::Packet { p, .. }) => wait_name(p),
        _ => None,
    };
    match why {
        Some(w) => format!("… {}: {w} …", duration(ns)),
        None => format!("… {} …", duration(ns)),
    }
}

pub(super) fn arrow_colour(p: &Pkt) -> &'static str {
    match &p.tcp {
        Some(t) if t.has(f::RST) => RED,
        Some(t) if t.has(f::SYN) => "#2e7d32",
        Some(t) if t.has(f::FIN) => "#1565c0",
        Some(t) if t.len > 0 => INK,
        Some(_) => "#666666",
        None => "#6a1b9a",
    }
}

pub(super) fn call_colour(e: &Event) -> &'static str {
    if e.errno.is_some() || e.call == "error" {
        return RED;
    }
    match e.role {
        Role::Client => CLIENT,
        Role::Server => SERVER,
    }
}

/// State labels are drawn smaller than the rest.
pub(super) const STATE_SCALE: f64 = 11.0 / 12.0;

/// Row heights.
const PKT_H: f64 = 32.0;
const PKT_MARK_H: f64 = 44.0;
const CALL_H: f64 = 22.0;
const MARK_H: f64 = 30.0;
const GAP_H: f64 = 34.0;
const CUT_H: f64 = 30.0;
const HEAD_H: f64 = 96.0;

/// Draws one ladder with its top at `top`; returns its width and height.
fn one(out: &mut String, v: &View, l: &Ladder, top: f64) -> (f64, f64) {
    let calls_of = |role: Role| {
        l.rows
            .iter()
            .filter_map(|r| match r.kind {
                RowKind::Call { e, part, .. } if e.role == role => {
                    Some(tw(&clip(&call_text(l, e, part), CALL_MAX)))
                }
                RowKind::Packet { p, .. } => {
                    state_change(p, role == Role::Client).map(|s| tw(&s) * STATE_SCALE + 12.0)
                }
                _ => None,
            })
            .fold(0.0, f64::max)
    };
    let times_w = l
        .rows
        .iter()
        .map(|r| tw(&rel_time(v, r.t)))
        .fold(tw("time"), f64::max);
    let heads = [lane_head(&l.lanes[0]), lane_head(&l.lanes[1])];
    let head_w = |h: &[String; 3]| h.iter().map(|s| tw(s)).fold(0.0, f64::max);
    let label_w = l
        .rows
        .iter()
        .enumerate()
        .filter_map(|(k, r)| match r.kind {
            RowKind::Packet { p, .. } => Some(
                tw(&clip(&arrow_label(v, p), LABEL_MAX))
                    .max(marks(p).map_or(0.0, |m| tw(&clip(&m, LABEL_MAX)))),
            ),
            RowKind::Gap { ns } => Some(tw(&gap_text(ns, l.rows.get(k + 1)))),
            _ => None,
        })
        .fold(0.0, f64::max);
    let time_x = 12.0 + times_w; // right edge of the time column
    let cx = time_x + 18.0 + calls_of(Role::Client).max(head_w(&heads[0]) / 2.0) + 12.0;
    let span = (label_w + 48.0).max(360.0);
    let sx = cx + span;
    let width = sx + 12.0 + calls_of(Role::Server).max(head_w(&heads[1]) / 2.0) + 16.0;

    let _ = writeln!(
        out,
        r#"<g class="ladder" data-conn="{}" transform="translate(0,{top:.0})">"#,
        l.conn
    );
    let proto = match l.proto {
        Proto::Tcp => "TCP",
        Proto::Udp => "UDP",
    };
    let _ = write!(
        out,
        r#"<text class="title" x="12" y="20" font-weight="bold" font-size="14" fill="{INK}">"#
    );
    esc(
        out,
        &format!("{proto} {} → {}", l.lanes[0].addr, l.lanes[1].addr),
    );
    out.push_str("</text>\n");

    // Rows: positions first, for the lifelines.
    let mut ys = Vec::with_capacity(l.rows.len());
    let mut y = HEAD_H;
    for r in &l.rows {
        let h = match r.kind {
            RowKind::Packet { p, .. } if marks(p).is_some() => PKT_MARK_H,
            RowKind::Packet { .. } => PKT_H,
            RowKind::Call { .. } => CALL_H,
            RowKind::Mark { .. } => MARK_H,
            RowKind::Gap { .. } => GAP_H,
            RowKind::Cut { .. } => CUT_H,
        };
        ys.push((y, h));
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
    for (i, (lane, x)) in l.lanes.iter().zip([cx, sx]).enumerate() {
        lane_and_lifeline(out, lane, x, &heads[i], &l.rows, &ys, bottom, false);
    }

    for (k, (r, (ry, rh))) in l.rows.iter().zip(&ys).enumerate() {
        let mid = ry + rh / 2.0;
        match r.kind {
            RowKind::Packet { p, cause } => {
                let y = ry + 20.0;
                let (x1, x2) = match p.dir {
                    Dir::ToServer => (cx, sx),
                    Dir::ToClient => (sx, cx),
                };
                let colour = arrow_colour(p);
                let _ = write!(
                    out,
                    r#"<g class="pkt" data-frame="{}" data-conn="{}" data-dir="{}""#,
                    p.index + 1,
                    p.conn,
                    dir_word(p.dir)
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
                let tip = if x2 > x1 { x2 - 1.0 } else { x2 + 1.0 };
                let back = if x2 > x1 { tip - 9.0 } else { tip + 9.0 };
                let _ = write!(
                    out,
                    r#"<line x1="{x1:.1}" y1="{y:.1}" x2="{back:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="1.6"/><polygon points="{tip:.1},{y:.1} {back:.1},{:.1} {back:.1},{:.1}" fill="{colour}"/>"#,
                    y - 4.0,
                    y + 4.0
                );
                let _ = write!(
                    out,
                    r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle" fill="{colour}">"#,
                    (cx + sx) / 2.0,
                    y - 5.0
                );
                esc(out, &clip(&arrow_label(v, p), LABEL_MAX));
                out.push_str("</text>");
                if let Some(m) = marks(p) {
                    let _ = write!(
                        out,
                        r#"<text class="marks" x="{:.1}" y="{:.1}" text-anchor="middle" fill="{RED}" font-style="italic">"#,
                        (cx + sx) / 2.0,
                        y + 15.0
                    );
                    esc(out, &clip(&m, LABEL_MAX));
                    out.push_str("</text>");
                }
                // The state each end entered with this segment, beside its lifeline.
                for (client, x, anchor, colour) in [
                    (true, cx - 8.0, "end", CLIENT),
                    (false, sx + 8.0, "start", SERVER),
                ] {
                    if let Some(change) = state_change(p, client) {
                        let _ = write!(
                            out,
                            r#"<text class="tcpstate" data-role="{}" x="{x:.1}" y="{:.1}" text-anchor="{anchor}" font-size="11" font-weight="bold" fill="{colour}">"#,
                            if client { "client" } else { "server" },
                            y + 4.0
                        );
                        esc(out, &change);
                        out.push_str("</text>");
                    }
                }
                out.push_str("</g>\n");
            }
            RowKind::Call { e, ev, part } => {
                let y = ry + 15.0;
                let (x, anchor, dot) = match e.role {
                    Role::Client => (cx - 10.0, "end", cx),
                    Role::Server => (sx + 10.0, "start", sx),
                };
                let detail = call_detail(v, e);
                let _ = write!(
                    out,
                    r#"<g class="call" data-ev="{ev}" data-conn="{}" data-role="{}" data-detail=""#,
                    l.conn,
                    e.role.name()
                );
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
                let _ = write!(
                    out,
                    r#"<circle cx="{dot:.1}" cy="{:.1}" r="3" fill="{colour}"/><text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" fill="{colour}">"#,
                    y - 4.0
                );
                esc(out, &clip(&call_text(l, e, part), CALL_MAX));
                out.push_str("</text></g>\n");
            }
            RowKind::Mark { e } => {
                let title = e.text.clone().unwrap_or_else(|| e.args.clone());
                let _ = write!(
                    out,
                    r##"<g class="mark"><line x1="{:.1}" y1="{mid:.1}" x2="{:.1}" y2="{mid:.1}" stroke="#bbbbbb" stroke-dasharray="6,3"/><rect x="{:.1}" y="{:.1}" width="{:.1}" height="16" fill="#ffffff"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" fill="{INK}">"##,
                    time_x + 6.0,
                    width - 12.0,
                    (cx + sx) / 2.0 - tw(&title) / 2.0 - 6.0,
                    mid - 9.0,
                    tw(&title) + 12.0,
                    (cx + sx) / 2.0,
                    mid + 4.0
                );
                esc(out, &title);
                out.push_str("</text></g>\n");
            }
            RowKind::Gap { ns } => {
                // Named when the analyser knows why (a delayed ACK, Nagle, a timeout).
                let text = gap_text(ns, l.rows.get(k + 1));
                let _ = write!(
                    out,
                    r##"<g class="gap" data-ns="{ns}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="16" fill="#ffffff"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-style="italic" fill="{GREY}">"##,
                    (cx + sx) / 2.0 - tw(&text) / 2.0 - 4.0,
                    mid - 8.0,
                    tw(&text) + 8.0,
                    (cx + sx) / 2.0,
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
                    r#"<g class="cut"><text x="{:.1}" y="{:.1}" text-anchor="middle" font-style="italic" fill="{GREY}">"#,
                    (cx + sx) / 2.0,
                    mid + 4.0
                );
                esc(out, &text);
                out.push_str("</text></g>\n");
            }
        }
    }
    out.push_str("</g>\n");
    (width, bottom)
}

/// A lane's three head lines: role, address, pids.
pub(super) fn lane_head(l: &ladder_rows::Lane) -> [String; 3] {
    let pids = match l.pids.as_slice() {
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
    [l.role.name().to_owned(), l.addr.to_string(), pids]
}

/// A lane at `x`: its head (the role bold in the lane's colour, the rest grey) and its
/// lifeline down to `bottom`, dashed across each gap or cut row (`rows` at heights `ys`);
/// `data_x` also writes `x` as an attribute (the many-lane picture's tests read it).
#[allow(clippy::too_many_arguments)]
pub(super) fn lane_and_lifeline(
    out: &mut String,
    lane: &ladder_rows::Lane,
    x: f64,
    head: &[String; 3],
    rows: &[Row],
    ys: &[(f64, f64)],
    bottom: f64,
    data_x: bool,
) {
    let colour = match lane.role {
        Role::Client => CLIENT,
        Role::Server => SERVER,
    };
    let _ = write!(out, r#"<g class="lane" data-role="{}""#, lane.role.name());
    if data_x {
        let _ = write!(out, r#" data-x="{x:.1}""#);
    }
    out.push_str(" data-addr=\"");
    esc(out, &lane.addr.to_string());
    out.push_str("\">");
    for (k, t) in head.iter().enumerate() {
        if t.is_empty() {
            continue;
        }
        let (weight, fill) = if k == 0 {
            ("bold", colour)
        } else {
            ("normal", GREY)
        };
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-weight="{weight}" fill="{fill}">"#,
            38.0 + 16.0 * k as f64
        );
        esc(out, t);
        out.push_str("</text>");
    }
    let mut seg_top = HEAD_H - 8.0;
    for (r, (ry, rh)) in rows.iter().zip(ys) {
        if matches!(r.kind, RowKind::Gap { .. } | RowKind::Cut { .. }) {
            line(out, x, seg_top, x, *ry, colour, "");
            line(
                out,
                x,
                *ry,
                x,
                ry + rh,
                colour,
                r#" stroke-dasharray="3,4""#,
            );
            seg_top = ry + rh;
        }
    }
    line(out, x, seg_top, x, bottom, colour, "");
    out.push_str("</g>\n");
}

pub(super) fn line(
    out: &mut String,
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
    colour: &str,
    extra: &str,
) {
    if y2 <= y1 && x1 == x2 {
        return;
    }
    let _ = write!(
        out,
        r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{colour}" stroke-width="1.2" stroke-opacity="0.6"{extra}/>"#
    );
}

pub(super) fn time_label(out: &mut String, v: &View, t: i128, x: f64, y: f64) {
    let _ = write!(
        out,
        r#"<text class="time" x="{x:.1}" y="{y:.1}" text-anchor="end" fill="{GREY}">"#
    );
    esc(out, &rel_time(v, t));
    out.push_str("</text>");
}
