//! The facts of a `buffers` run: the asked-vs-got table and the window's story.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use super::checks::{findings, labels, rows, story, why, window_conn};
use crate::live::model::Dir;
use crate::live::View;
use crate::render::TimeMode;

pub(super) fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    let rows = rows(v);
    if !rows.is_empty() {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header(vec!["option", "asked", "got (getsockopt)", "why"]);
        for r in &rows {
            t.add_row(vec![
                r.opt.to_owned(),
                r.asked.map_or("(not set)".into(), |a| a.to_string()),
                r.got.to_string(),
                why(v, &rows, r),
            ]);
        }
        for col in [1usize, 2] {
            if let Some(c) = t.column_mut(col) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push("SO_SNDBUF / SO_RCVBUF: asked vs got".into());
        crate::render::fit::table(&mut t, v.width);
        out.extend(t.to_string().lines().map(str::to_owned));
        out.push(String::new());
    }
    if let Some(c) = window_conn(v) {
        out.extend(window_table(v, c));
    }
    if out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// The window closing and reopening, packet by packet, with the analysis' labels.
fn window_table(v: &View, c: usize) -> Vec<String> {
    let Some(s) = story(v, c) else {
        return Vec::new();
    };
    let fs = findings(v);
    let t0 = v.run.t0().unwrap_or(0);
    let end = s.reopen.map_or(i128::MAX, |u| u.ts);
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "time",
        "frame",
        "segment",
        "window",
        "analysis (Wireshark's rules)",
    ]);
    for p in v.conn_pkts(c) {
        if p.tcp.is_none() {
            continue;
        }
        if p.ts > end {
            break;
        }
        let win = v.window(p);
        let mut time = String::new();
        crate::render::run::timeline::time_cell(&mut time, TimeMode::Rel, p.ts, t0, t0);
        let arrow = match p.dir {
            Dir::ToServer => "client → server",
            Dir::ToClient => "server → client",
        };
        let window = match p.dir {
            Dir::ToClient => win.to_string(),
            Dir::ToServer => String::new(),
        };
        t.add_row(vec![
            time,
            (p.index + 1).to_string(),
            format!("{arrow} {}", crate::render::run::ladder::label(v, p)),
            window,
            labels(fs.get(p.index).copied().unwrap_or_default()),
        ]);
    }
    for col in [0usize, 1, 3] {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = vec![format!(
        "the receiver's window, from the handshake to the window update; {} probe(s) while it was 0",
        s.probes.len()
    )];
    crate::render::fit::table(&mut t, v.width);
    out.extend(t.to_string().lines().map(str::to_owned));
    out
}
