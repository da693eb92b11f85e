//! A run as people read it (title, timeline, ladders, facts, checks, capture counters, and the
//! explanation on request) or as scripts read it (JSON Lines). Pure functions of the run data:
//! the golden tests render saved runs with them, without root.

use std::fmt::Write;

use crate::analyse::Record;
use crate::decode::decode;
use crate::live::checks::Check;
use crate::live::json::{self, CheckLine};
use crate::live::log::{capture_json, run_line};
use crate::live::model::{RunData, View};
use crate::live::Scenario;
use crate::render::ladder_text::{self, Style as LadderStyle};
use crate::render::{fit, jsonl, width, Palette, TextOptions};

use super::{facts, ladder, safe, timeline};

/// What to render besides the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions {
    pub text: TextOptions,
    /// Add the scenario's explanation.
    pub explain: bool,
    /// Fit every line into this many columns; None: whole lines (as in a pipe).
    pub width: Option<usize>,
}

/// Runs the scenario's checks on `run` (none for an interrupted run or without a scenario).
pub fn checks(run: &RunData, sc: Option<&Scenario>) -> Vec<Check> {
    if run.interrupted {
        return Vec::new();
    }
    let v = View::new(run);
    sc.map_or_else(Vec::new, |s| (s.checks)(&v))
}

/// The whole text report.
pub fn text(
    run: &RunData,
    sc: Option<&Scenario>,
    checks: &[Check],
    opts: &ReportOptions,
) -> String {
    let pal = Palette {
        on: opts.text.color,
    };
    // Strings from a saved file or a traced program reach the terminal escaped.
    let run = &*safe::run(run);
    let checks = &safe::checks(checks);
    let mut v = View::new(run);
    v.width = opts.width;
    let mut out = String::with_capacity(16 * 1024);
    let title = match sc {
        Some(s) => format!("{} · {} · {}", s.name, s.lesson, s.summary),
        None => run.scenario.clone(),
    };
    for l in fitted(&title, 2, opts.width) {
        pal.paint(&mut out, Palette::BOLD, &l);
        out.push('\n');
    }
    out.push('\n');
    timeline::render(&mut out, &v, &opts.text, opts.width);
    if run.interrupted {
        let note = "interrupted: the run was stopped; above is what happened until then";
        for l in fitted(note, 2, opts.width) {
            pal.paint(&mut out, Palette::RED, &l);
            out.push('\n');
        }
    }
    if let Some(warning) = drop_warning(run) {
        for l in fitted(&warning, 2, opts.width) {
            pal.paint(&mut out, Palette::RED, &l);
            out.push('\n');
        }
    }
    out.push('\n');
    ladder::render(&mut out, &v, &opts.text, opts.width);
    // A scenario's own facts; for a traced program, each conversation's.
    let facts = match sc {
        Some(s) => (s.facts)(&v),
        None => facts::conversations(&v),
    };
    let facts = safe::lines(facts);
    let facts = match opts.width {
        Some(w) => fit::fit_block(&facts, w, false),
        None => facts,
    };
    {
        if !facts.is_empty() {
            for l in crate::render::marks::paint_marks(&facts, pal) {
                out.push_str(&l);
                out.push('\n');
            }
            out.push('\n');
        }
    }
    // A traced program has no self-checks: no section for them.
    if sc.is_some() || !checks.is_empty() {
        checks_section(&mut out, pal, run, checks, opts.width);
    }
    let mut tail = String::new();
    capture_line(&mut tail, run);
    privilege_line(&mut tail, run);
    for l in tail.lines() {
        for f in fitted(l, 2, opts.width) {
            out.push_str(&f);
            out.push('\n');
        }
    }
    comparison(&mut out, &v, sc, opts.text.color, opts.width, false);
    if opts.explain {
        if let Some(s) = sc {
            out.push('\n');
            pal.paint(&mut out, Palette::BOLD, "what to look at");
            out.push('\n');
            let lines: Vec<String> = s
                .explain
                .trim()
                .lines()
                .map(|l| {
                    if l.is_empty() {
                        String::new()
                    } else {
                        format!("  {l}")
                    }
                })
                .collect();
            let lines = match opts.width {
                Some(w) => fit::fit_block(&lines, w, true),
                None => lines,
            };
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
        }
    }
    out
}

/// `run --ladder`, `trace --ladder`: the title, the text ladder of each conversation (pids and
/// calls on the lanes) instead of the timeline, the warnings the report carries, and the checks
/// (a ladder alone would hide a failed one). `ascii`: `-->`, `<--`, `|` instead of box drawing.
pub fn ladder_text(
    run: &RunData,
    sc: Option<&Scenario>,
    checks: &[Check],
    opts: &ReportOptions,
    ascii: bool,
) -> String {
    let pal = Palette {
        on: opts.text.color,
    };
    // Strings from a saved file or a traced program reach the terminal escaped.
    let run = &*safe::run(run);
    let checks = &safe::checks(checks);
    let v = View::new(run);
    let mut out = String::with_capacity(16 * 1024);
    let title = match sc {
        Some(s) => format!("{} · {} · {}", s.name, s.lesson, s.summary),
        None => run.scenario.clone(),
    };
    let title = if ascii {
        ladder_text::plain(&title.replace('·', "-"), true)
    } else {
        title
    };
    for l in fitted(&title, 2, opts.width) {
        pal.paint(&mut out, Palette::BOLD, &l);
        out.push('\n');
    }
    out.push('\n');
    let style = LadderStyle {
        time: opts.text.time,
        color: opts.text.color,
        ascii,
        width: opts.width,
    };
    let before = out.len();
    ladder_text::render_all(&mut out, &v, &style);
    if out.len() == before {
        out.push_str("(no TCP or UDP conversation was captured: no ladder to draw)\n");
    }
    let mut notes = Vec::new();
    if run.interrupted {
        notes
            .push("interrupted: the run was stopped; above is what happened until then".to_owned());
    }
    notes.extend(drop_warning(run));
    for n in notes {
        for l in fitted(&n, 2, opts.width) {
            pal.paint(&mut out, Palette::RED, &l);
            out.push('\n');
        }
    }
    if sc.is_some() || !checks.is_empty() {
        out.push('\n');
        checks_section(&mut out, pal, run, checks, opts.width);
    }
    comparison(&mut out, &v, sc, opts.text.color, opts.width, ascii);
    out
}

/// The two conversations a scenario compares (nagle: Nagle against TCP_NODELAY), when the run
/// has both: their index in the view, names and TCP stream numbers.
fn compared(v: &View, sc: Option<&Scenario>) -> Option<([usize; 2], [&'static str; 2], [u64; 2])> {
    let [(a, a_name), (b, b_name)] = crate::scenario::compared(sc?, v)?;
    let stream = |c: usize| {
        v.conn_pkts(c)
            .find_map(|p| p.tcp.as_ref().and(p.analysis.stream))
    };
    Some(([a, b], [a_name, b_name], [stream(a)?, stream(b)?]))
}

/// The table `sockscope compare` prints of the two conversations the scenario compares, after
/// a line for each naming it: as `sockscope compare RUN.pcapng RUN.pcapng --stream N,M`.
fn comparison(
    out: &mut String,
    v: &View,
    sc: Option<&Scenario>,
    color: bool,
    w: Option<usize>,
    ascii: bool,
) {
    let Some((conns, names, streams)) = compared(v, sc) else {
        return;
    };
    let pal = Palette { on: color };
    let head = format!(
        "compare: the two conversations, as `sockscope compare` of the saved run with --stream \
         {},{} prints them",
        streams[0], streams[1]
    );
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    for l in fitted(&head, 2, w) {
        pal.paint(out, Palette::BOLD, &l);
        out.push('\n');
    }
    let name_w = names.iter().map(|n| width(n)).max().unwrap_or(0);
    for (i, letter) in ["A", "B"].iter().enumerate() {
        let mut l = format!("{letter}  ");
        crate::render::pad(&mut l, names[i], name_w);
        let _ = write!(
            l,
            "  TCP stream {}: {}",
            streams[i],
            v.conns[conns[i]].label()
        );
        let l = ladder_text::plain(&l, ascii);
        for f in fitted(&l, name_w + 5, w) {
            out.push_str(&f);
            out.push('\n');
        }
    }
    let a = crate::compare::of_conversation(v, conns[0]);
    let b = crate::compare::of_conversation(v, conns[1]);
    crate::render::compare::table(out, [&a, &b], color, w, ascii);
}

/// `text` as one line, or wrapped into `w` columns with continuation lines `hang` in.
fn fitted(text: &str, hang: usize, w: Option<usize>) -> Vec<String> {
    match w {
        Some(w) if width(text) > w => fit::hanging("", text, hang, w),
        _ => vec![text.to_owned()],
    }
}

/// One line per check: `  ✓ what  (detail)`. When that is too wide, the text wraps under
/// itself and the detail follows on lines of its own.
fn checks_section(
    out: &mut String,
    pal: Palette,
    run: &RunData,
    checks: &[Check],
    w: Option<usize>,
) {
    pal.paint(out, Palette::BOLD, "checks");
    out.push('\n');
    for c in checks {
        out.push_str("  ");
        if c.ok {
            pal.paint(out, Palette::GREEN, "✓");
        } else {
            pal.paint(out, Palette::RED, "✗");
        }
        out.push(' ');
        let detail = (!c.detail.is_empty()).then(|| format!("({})", c.detail));
        let one = 4 + width(&c.what) + detail.as_ref().map_or(0, |d| 2 + width(d));
        match w {
            Some(w) if one > w => {
                for (i, l) in fit::wrap(&c.what, w - 4, w - 4).iter().enumerate() {
                    if i > 0 {
                        out.push_str("\n    ");
                    }
                    out.push_str(l);
                }
                if let Some(d) = &detail {
                    for l in fit::wrap(d, w - 4, w - 4) {
                        out.push_str("\n    ");
                        pal.paint(out, Palette::DIM, &l);
                    }
                }
            }
            _ => {
                out.push_str(&c.what);
                if let Some(d) = &detail {
                    out.push_str("  ");
                    pal.paint(out, Palette::DIM, d);
                }
            }
        }
        out.push('\n');
    }
    if run.stats.dropped > 0 && !checks.is_empty() {
        let note = format!(
            "  (the capture dropped {} packets: a check that counts or orders packets may be wrong)",
            run.stats.dropped
        );
        pal.paint(out, Palette::RED, &note);
        out.push('\n');
    }
    if checks.is_empty() {
        out.push_str(if run.interrupted {
            "  (not checked: the run was interrupted)\n"
        } else {
            "  (none)\n"
        });
    }
    out.push('\n');
}

/// Who the program ran as, when the run recorded it (older saved runs did not).
fn privilege_line(out: &mut String, run: &RunData) {
    let Some(c) = run.credentials else { return };
    if c.uid.1 == 0 {
        out.push_str("privileges: the program ran as root (started as root without SUDO_UID: no user to drop to)\n");
    } else {
        let _ = writeln!(out, "privileges: the program ran as {c}");
    }
}

fn capture_line(out: &mut String, run: &RunData) {
    let s = run.stats;
    // A scenario that needs a device besides lo always runs in a private namespace made for it.
    let device = crate::scenario::find(&run.scenario).and_then(crate::scenario::device);
    let lo = match device {
        Some(d) if run.private_netns => format!(
            "lo and {} (a veth pair with {}, {}/{}) of a private network namespace made for the \
             run (no interface is added to the host)",
            d.name, d.peer, d.addr, d.prefix
        ),
        _ if run.private_netns => {
            "lo of a private network namespace (the run's own: no root needed, no other traffic)"
                .to_owned()
        }
        _ => "lo".to_owned(),
    };
    let passes = match device {
        Some(d) => format!(
            "on lo each packet passes the capture twice, on {} once",
            d.name
        ),
        None => "on lo each packet passes the capture twice".to_owned(),
    };
    let filter = if run.filter.is_empty() {
        "every packet".to_owned()
    } else {
        format!("filter \"{}\"", run.filter)
    };
    let buffer = if s.buffer_kib > 0 {
        format!(", buffer {} KiB", s.buffer_kib)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "capture: {lo}, {filter}, {} packets, {} dropped{buffer} (libpcap received {}: {passes})",
        run.packets.len(),
        s.dropped,
        s.received
    );
}

/// The warning a run with dropped packets carries under its timeline (None without drops):
/// what is missing and the option that fixes it.
pub fn drop_warning(run: &RunData) -> Option<String> {
    let s = run.stats;
    if s.dropped == 0 {
        return None;
    }
    let now = if s.buffer_kib > 0 {
        format!(" (it was {} KiB)", s.buffer_kib)
    } else {
        String::new()
    };
    Some(format!(
        "warning: the capture dropped {} packets (its buffer was full; on lo both copies of a \
         packet count): the timeline and ladders miss them; run again with a larger \
         -B/--buffer-size KiB{now}",
        s.dropped
    ))
}

/// A check as a JSON line.
pub fn check_json(out: &mut String, scenario: &str, c: &Check) {
    let line = CheckLine {
        scenario: scenario.to_owned(),
        ok: c.ok,
        what: c.what.clone(),
        detail: c.detail.clone(),
    };
    json::write_line(out, &line);
}

/// The JSON Lines stream: the run line, events and packets in time order (packets as
/// `sockscope replay --format jsonl` writes them), the checks, the capture counters.
pub fn jsonl(run: &RunData, checks: &[Check]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    run_line(&mut out, run);
    let v = View::new(run);
    let mut ev = run.events.iter().peekable();
    for i in 0..run.packets.len() {
        let Some(frame) = run.frame(i) else { continue };
        let ts = run.packets[i].ts;
        while let Some(e) = ev.next_if(|e| e.start <= ts) {
            e.to_json(&mut out);
        }
        let pkt = decode(&frame);
        let analysis = v.analyses.get(i).copied().unwrap_or_default();
        jsonl::line(
            &mut out,
            &Record {
                frame,
                pkt,
                analysis,
            },
        );
    }
    for e in ev {
        e.to_json(&mut out);
    }
    for c in checks {
        check_json(&mut out, &run.scenario, c);
    }
    // The compare records of the conversations the scenario compares, as `sockscope compare
    // --format jsonl` writes them.
    let sc = crate::scenario::find(&run.scenario).filter(|_| !run.scenario.starts_with("trace:"));
    if let Some((conns, _, streams)) = compared(&v, sc) {
        let a = crate::compare::of_conversation(&v, conns[0]);
        let b = crate::compare::of_conversation(&v, conns[1]);
        for r in crate::compare::rows(&a, &b, true) {
            crate::render::compare::jsonl(&mut out, &r, Some(streams));
        }
    }
    capture_json(&mut out, run);
    out
}
