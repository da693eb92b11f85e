//! One self-contained HTML page of a run, a traced program or a conversation of a capture:
//! the three-lane timeline (client calls, packets, server calls), the ladder as inline SVG,
//! the facts, the checks with their verdicts and the explanation. Nothing is loaded from
//! anywhere: the styles and the few lines of script are in the page, which opens offline.
//!
//! Hovering a packet or a call shows its details in the box at the bottom; clicking a packet
//! (in the timeline or on the ladder) highlights it, the call that caused it and its
//! conversation; clicking a call highlights the packets it caused.

use std::fmt::Write;

use crate::live::checks::Check;
use crate::live::event::{Event, Role};
use crate::live::model::{Dir, RunData, View};
use crate::live::Scenario;
use crate::render::run::ladder_rows;
use crate::render::run::timeline::{items, packet_text, Item};

use super::xml::{esc, escaped};
use super::{call_detail, packet_detail, rel_time, svg};

/// What the page says besides the view.
#[derive(Debug, Clone, Default)]
pub struct Page<'a> {
    pub title: String,
    /// A line under the title (the lesson and summary of a scenario, the file of a replay).
    pub subtitle: String,
    /// The checks and their verdicts; None: the page has no checks section (a traced program,
    /// a capture file).
    pub checks: Option<&'a [Check]>,
    pub facts: Vec<String>,
    /// `--explain`'s text.
    pub explain: Option<&'a str>,
    /// Lines at the bottom (what was captured, what was left out).
    pub notes: Vec<String>,
}

/// The page of a run (or a traced program: no scenario) with its checks.
pub fn run_page(run: &RunData, sc: Option<&Scenario>, checks: &[Check]) -> String {
    let v = View::new(run);
    let (title, subtitle) = match sc {
        Some(s) => (
            format!("sockscope run {}", s.name),
            format!("{} · {}", s.lesson, s.summary),
        ),
        None => (run.scenario.clone(), String::new()),
    };
    let facts = match sc {
        Some(s) => (s.facts)(&v),
        None => crate::render::run::facts::conversations(&v),
    };
    let mut notes = Vec::new();
    if run.interrupted {
        notes.push("interrupted: the run was stopped; above is what happened until then".into());
    }
    notes.push(format!(
        "capture: {} packets, {} dropped{}",
        run.packets.len(),
        run.stats.dropped,
        if run.private_netns {
            ", on the lo of a private network namespace"
        } else {
            ", on lo"
        }
    ));
    let page = Page {
        title,
        subtitle,
        checks: (sc.is_some() || !checks.is_empty()).then_some(checks),
        facts,
        explain: sc.map(|s| s.explain.trim()),
        notes,
    };
    render(&v, &page)
}

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 1.2em 1.6em 9em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.6em 0 .5em; border-bottom: 1px solid #ddd; }
.sub { color: #555; margin: 0 0 1em; }
.hint { color: #666; font-size: .9em; }
table.tl { border-collapse: collapse; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
table.tl th { text-align: left; color: #555; border-bottom: 1px solid #ccc; padding: 2px 8px; }
table.tl td { padding: 1px 8px; vertical-align: top; white-space: pre-wrap; }
table.tl td.t { color: #777; text-align: right; white-space: nowrap; }
table.tl td.client { color: #00707a; max-width: 34em; }
table.tl td.server { color: #8a5a00; max-width: 34em; }
table.tl td.wire { color: #333; max-width: 46em; }
table.tl td.err { color: #c62828; }
table.tl tr.gap td { color: #777; font-style: italic; text-align: center; }
table.tl tr.gap td.t { text-align: right; }
table.tl tr.mark td { font-weight: bold; padding-top: .6em; border-bottom: 1px dashed #bbb; }
table.tl tr.pkt, table.tl tr.call { cursor: pointer; }
table.tl tr:hover { background: #f4f4f4; }
tr.conv { background: #eef4ff; }
tr.hl { background: #ffe9a8 !important; }
tr.cause { background: #ffd2d2 !important; }
g.pkt, g.call { cursor: pointer; }
g.conv line { stroke-width: 2; }
g.hl line { stroke-width: 3.5; }
g.hl text.label { font-weight: bold; }
g.cause text { font-weight: bold; fill: #c62828; }
g.cause circle { r: 6; fill: #c62828; }
.ladder-box { overflow-x: auto; border: 1px solid #eee; }
pre { background: #f8f8f8; padding: .6em .8em; overflow-x: auto; font-size: 12px; }
h3 { font-size: 1em; margin: .8em 0 .2em; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
p.states { margin: .2em 0 .2em 1em; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
p.states .st { cursor: pointer; }
p.states .st.hl { background: #ffe9a8; }
p.states .kernel { color: #666; }
ul.checks { list-style: none; padding-left: .4em; }
ul.checks li { margin: .2em 0; }
ul.checks .ok { color: #2e7d32; font-weight: bold; }
ul.checks .fail { color: #c62828; font-weight: bold; }
ul.checks .detail { color: #666; }
.explain { white-space: pre-wrap; max-width: 100ch; line-height: 1.35; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; }
#detail { position: fixed; left: 0; right: 0; bottom: 0; min-height: 4.6em; margin: 0; padding: .5em 1.6em;
  background: #fffbe6; border-top: 1px solid #e0d8a8; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-size: 12px; white-space: pre-wrap; }
footer { color: #666; font-size: .9em; margin-top: 2em; }
@media print {
  body { margin: 0; }
  #detail { display: none; }
  .ladder-box { overflow: visible; border: none; }
  tr.conv, tr.hl, tr.cause { background: none !important; }
}
"#;

const SCRIPT: &str = r#"
(function () {
  var box = document.getElementById('detail');
  var first = box.textContent;
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  function clear() { all('.hl, .cause, .conv').forEach(function (x) { x.classList.remove('hl', 'cause', 'conv'); }); }
  document.addEventListener('mouseover', function (ev) {
    var el = ev.target.closest ? ev.target.closest('[data-detail]') : null;
    if (el) { box.textContent = el.getAttribute('data-detail'); }
  });
  document.addEventListener('click', function (ev) {
    var el = ev.target.closest ? ev.target.closest('[data-frame], [data-ev]') : null;
    clear();
    if (!el) { box.textContent = first; return; }
    var conn = el.getAttribute('data-conn');
    if (conn !== null) { all('[data-conn="' + conn + '"]').forEach(function (x) { x.classList.add('conv'); }); }
    var frame = el.getAttribute('data-frame');
    if (frame !== null) {
      all('[data-frame="' + frame + '"]').forEach(function (x) { x.classList.add('hl'); });
      var cause = el.getAttribute('data-cause');
      if (cause !== null) { all('[data-ev="' + cause + '"]').forEach(function (x) { x.classList.add('cause'); }); }
    } else {
      var ev2 = el.getAttribute('data-ev');
      all('[data-ev="' + ev2 + '"]').forEach(function (x) { x.classList.add('cause'); });
      all('[data-cause="' + ev2 + '"]').forEach(function (x) { x.classList.add('hl'); });
    }
  });
})();
"#;

/// The page.
pub fn render(v: &View, page: &Page) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"sockscope ");
    esc(&mut out, env!("CARGO_PKG_VERSION"));
    out.push_str("\">\n<title>");
    esc(&mut out, &page.title);
    out.push_str("</title>\n<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n<h1>");
    esc(&mut out, &page.title);
    out.push_str("</h1>\n");
    if !page.subtitle.is_empty() {
        out.push_str("<p class=\"sub\">");
        esc(&mut out, &page.subtitle);
        out.push_str("</p>\n");
    }

    out.push_str(if v.run.events.is_empty() {
        "<h2>Timeline</h2>\n<p class=\"hint\">The packets in time order: ──▶ from the client (who sent the SYN) to the server, ◀── back. Hover a line for its details; click a packet to highlight it on the ladder.</p>\n"
    } else {
        "<h2>Timeline</h2>\n<p class=\"hint\">The program's calls and the packets in time order: client calls on the left, packets in the middle, server calls on the right. Hover a line for its details; click a packet to see the call that caused it and its conversation, or a call to see the packets it caused.</p>\n"
    });
    timeline(&mut out, v);

    out.push_str("<h2>Ladder</h2>\n<div class=\"ladder-box\">\n");
    out.push_str(&svg::render(v, false));
    out.push_str("</div>\n");

    states(&mut out, v);

    if !page.facts.is_empty() {
        out.push_str("<h2>Facts</h2>\n<pre class=\"facts\">");
        for l in &page.facts {
            esc(&mut out, l);
            out.push('\n');
        }
        out.push_str("</pre>\n");
    }
    if let Some(checks) = page.checks {
        out.push_str("<h2>Checks</h2>\n<ul class=\"checks\">\n");
        for c in checks {
            let (class, sign) = if c.ok { ("ok", "✓") } else { ("fail", "✗") };
            let _ = write!(
                out,
                "<li class=\"check\" data-ok=\"{}\"><span class=\"{class}\">{sign}</span> ",
                c.ok
            );
            esc(&mut out, &c.what);
            if !c.detail.is_empty() {
                out.push_str(" <span class=\"detail\">(");
                esc(&mut out, &c.detail);
                out.push_str(")</span>");
            }
            out.push_str("</li>\n");
        }
        if checks.is_empty() {
            out.push_str("<li>(none)</li>\n");
        }
        out.push_str("</ul>\n");
    }
    if let Some(text) = page.explain.filter(|t| !t.is_empty()) {
        out.push_str("<h2>What to look at</h2>\n<div class=\"explain\">");
        esc(&mut out, text);
        out.push_str("</div>\n");
    }
    out.push_str("<footer>\n");
    for n in &page.notes {
        out.push_str("<p>");
        esc(&mut out, n);
        out.push_str("</p>\n");
    }
    out.push_str("<p>Made by sockscope ");
    esc(&mut out, env!("CARGO_PKG_VERSION"));
    out.push_str(": this page loads nothing from the network.</p>\n</footer>\n");
    out.push_str("<pre id=\"detail\">Hover a packet or a call to see its details here.</pre>\n");
    out.push_str("<script>");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body>\n</html>\n");
    out
}

/// The three-lane timeline as a table: one row per call (a call that waited while something
/// happened: one row when it starts, one when it returns) or packet.
fn timeline(out: &mut String, v: &View) {
    let conns = ladder_rows::event_conns(v);
    let causes = ladder_rows::Causes::new(v, &conns);
    // Items borrow the run's events: their index from their address.
    let indexes: std::collections::HashMap<*const Event, usize> = v
        .run
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| (e as *const Event, i))
        .collect();
    let index = |e: &Event| indexes.get(&(e as *const Event)).copied().unwrap_or(0);
    // Without calls (a capture file), the packets alone: no empty call lanes.
    let calls = !v.run.events.is_empty();
    out.push_str(if calls {
        "<table class=\"tl\">\n<thead><tr><th>time</th><th>client</th><th>wire</th><th>server</th></tr></thead>\n<tbody>\n"
    } else {
        "<table class=\"tl\">\n<thead><tr><th>time</th><th>packet</th></tr></thead>\n<tbody>\n"
    });
    let list = items(v);
    let times: Vec<i128> = list.iter().map(Item::time).collect();
    let limit = ladder_rows::gap_limit(&times);
    let span = if calls { 3 } else { 1 };
    let mut prev: Option<i128> = None;
    for it in list {
        // A long wait, as on the ladder: one row that says how long.
        if let Some(p) = prev.filter(|&p| it.time() - p >= limit) {
            let _ = writeln!(
                out,
                "<tr class=\"gap\"><td class=\"t\">≈</td><td colspan=\"{span}\">… {} …</td></tr>",
                escaped(&ladder_rows::duration(it.time() - p))
            );
        }
        prev = Some(it.time());
        let t = rel_time(v, it.time());
        match it {
            Item::Call { e, .. } if e.call == "mark" => {
                out.push_str("<tr class=\"mark\"><td colspan=\"4\">");
                esc(out, e.text.as_deref().unwrap_or(&e.args));
                out.push_str("</td></tr>\n");
            }
            Item::Call { e, part, repeat } => {
                let i = index(e);
                let conn = conns.get(i).and_then(|c| c.first());
                let _ = write!(out, "<tr class=\"call\" data-ev=\"{i}\"");
                if let Some(c) = conn {
                    let _ = write!(out, " data-conn=\"{c}\"");
                }
                let _ = write!(
                    out,
                    " data-detail=\"{}\"><td class=\"t\">",
                    escaped(&call_detail(v, e))
                );
                esc(out, &t);
                out.push_str("</td>");
                let err = if e.errno.is_some() || e.call == "error" {
                    " err"
                } else {
                    ""
                };
                let cell = |out: &mut String| {
                    esc(out, &e.call_text(part, repeat));
                };
                match e.role {
                    Role::Client => {
                        let _ = write!(out, "<td class=\"client{err}\">");
                        cell(out);
                        out.push_str("</td><td></td><td></td>");
                    }
                    Role::Server => {
                        let _ = write!(out, "<td></td><td></td><td class=\"server{err}\">");
                        cell(out);
                        out.push_str("</td>");
                    }
                }
                out.push_str("</tr>\n");
            }
            Item::Packet(p) => {
                let cause = causes.of(p);
                let _ = write!(
                    out,
                    "<tr class=\"pkt\" data-frame=\"{}\" data-conn=\"{}\" data-dir=\"{}\"",
                    p.index + 1,
                    p.conn,
                    ladder_rows::dir_word(p.dir)
                );
                if let Some(c) = cause {
                    let _ = write!(out, " data-cause=\"{c}\"");
                }
                let _ = write!(
                    out,
                    " data-detail=\"{}\"><td class=\"t\">",
                    escaped(&packet_detail(v, p, cause))
                );
                esc(out, &t);
                out.push_str(if calls {
                    "</td><td></td><td class=\"wire\">"
                } else {
                    "</td><td class=\"wire\">"
                });
                let text = packet_text(v, p).0;
                match p.dir {
                    Dir::ToServer => {
                        esc(out, &text);
                        out.push_str(" ──▶");
                    }
                    Dir::ToClient => {
                        out.push_str("◀── ");
                        esc(out, &text);
                    }
                }
                out.push_str(if calls {
                    "</td><td></td></tr>\n"
                } else {
                    "</td></tr>\n"
                });
            }
        }
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Each TCP conversation's states, per end, in order: those the analyser infers from the
/// segments (`CLOSED → SYN_SENT → ESTABLISHED …`, each with its time and the frame that caused
/// it), and those the run read from the kernel (`state` events).
fn states(out: &mut String, v: &View) {
    let mut body = String::new();
    let conns = ladder_rows::event_conns(v);
    for (ci, c) in v.conns.iter().enumerate() {
        if c.proto != crate::live::model::Proto::Tcp {
            continue;
        }
        let _ = write!(body, "<div class=\"tcpconv\" data-conn=\"{ci}\"><h3>TCP ");
        esc(&mut body, &c.label());
        body.push_str("</h3>\n");
        for client in [true, false] {
            let (role, addr) = if client {
                ("client", c.client)
            } else {
                ("server", c.server)
            };
            let mut chain = String::new();
            for p in v.conn_pkts(ci) {
                let Some(t) = p.verdict().and_then(|a| {
                    crate::render::states::side(&a.states, client, p.dir == Dir::ToServer)
                }) else {
                    continue;
                };
                if chain.is_empty() {
                    let _ = write!(
                        chain,
                        "<span class=\"st\">{}</span>",
                        escaped(t.from.name())
                    );
                }
                let _ = write!(
                    chain,
                    " → <span class=\"st\" data-frame=\"{}\" data-conn=\"{ci}\" title=\"frame {} at {} s\">{}</span>",
                    p.index + 1,
                    p.index + 1,
                    escaped(&rel_time(v, p.ts)),
                    escaped(t.to.name())
                );
            }
            let want = if client { Role::Client } else { Role::Server };
            let kernel: Vec<String> = v
                .run
                .events
                .iter()
                .enumerate()
                .filter(|(i, e)| {
                    e.call == "state"
                        && e.role == want
                        && conns.get(*i).is_some_and(|cs| cs.contains(&ci))
                })
                .filter_map(|(_, e)| {
                    e.text
                        .as_deref()
                        .map(|t| format!("{} at {} s", escaped(t), escaped(&rel_time(v, e.start))))
                })
                .collect();
            if chain.is_empty() && kernel.is_empty() {
                continue;
            }
            let _ = write!(body, "<p class=\"states\"><b>{role}</b> ");
            esc(&mut body, &addr.to_string());
            body.push_str(": ");
            if chain.is_empty() {
                body.push_str("(no change seen on the wire)");
            } else {
                body.push_str(&chain);
            }
            if !kernel.is_empty() {
                let _ = write!(
                    body,
                    "<br><span class=\"kernel\">read from the kernel: {}</span>",
                    kernel.join(", ")
                );
            }
            body.push_str("</p>\n");
        }
        body.push_str("</div>\n");
    }
    if body.is_empty() {
        return;
    }
    out.push_str("<h2>States</h2>\n<p class=\"hint\">Each end's TCP state, as the segments show it (click a state for the packet that changed it).</p>\n");
    out.push_str(&body);
}
