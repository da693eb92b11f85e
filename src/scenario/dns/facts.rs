//! The facts of a `dns` run: each message decoded, field by field.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use super::checks::messages;
use super::wire;
use crate::live::model::Dir;
use crate::live::View;
use crate::render::run::timeline::time_cell;
use crate::render::TimeMode;

pub(super) fn facts(v: &View) -> Vec<String> {
    let msgs = messages(v);
    if msgs.is_empty() {
        return Vec::new();
    }
    let t0 = v.run.t0().unwrap_or(0);
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "time", "frame", "datagram", "id", "flags", "rcode", "question", "answer",
    ]);
    for (p, m) in &msgs {
        let mut time = String::new();
        time_cell(&mut time, TimeMode::Rel, p.ts, t0, t0);
        let way = match p.dir {
            Dir::ToServer => format!("{} → {}", p.src.port(), p.dst.port()),
            Dir::ToClient => format!("{} ← {}", p.dst.port(), p.src.port()),
        };
        match m {
            Ok(m) => t.add_row(vec![
                time,
                (p.index + 1).to_string(),
                way,
                format!("{:#06x}", m.id),
                wire::flag_names(m.flags),
                if m.is_response() {
                    wire::rcode_name(m.rcode())
                } else {
                    String::new()
                },
                m.questions
                    .iter()
                    .map(wire::show_question)
                    .collect::<Vec<_>>()
                    .join("; "),
                m.answers
                    .iter()
                    .map(wire::show_record)
                    .collect::<Vec<_>>()
                    .join("; "),
            ]),
            Err(e) => t.add_row(vec![
                time,
                (p.index + 1).to_string(),
                way,
                String::new(),
                String::new(),
                String::new(),
                format!("not DNS: {e}"),
                String::new(),
            ]),
        };
    }
    for col in [0usize, 1] {
        if let Some(c) = t.column_mut(col) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = vec!["the datagrams decoded as DNS (ports: client ⇄ responder)".to_owned()];
    crate::render::fit::table(&mut t, v.width);
    out.extend(t.to_string().lines().map(str::to_owned));
    // The first exchange byte by byte.
    let first_q = msgs
        .iter()
        .find(|(p, m)| p.dir == Dir::ToServer && m.is_ok());
    if let Some((qp, Ok(q))) = first_q {
        out.push(String::new());
        out.push(format!(
            "the {} query, {} bytes: header | name | type class",
            q.questions.first().map_or("?", |x| x.name.as_str()),
            qp.len
        ));
        out.push(format!("  {}", wire::show_bytes(&qp.payload)));
        let answer = msgs.iter().find(|(p, m)| {
            p.dir == Dir::ToClient && p.dst == qp.src && m.as_ref().is_ok_and(|m| m.id == q.id)
        });
        if let Some((ap, _)) = answer {
            out.push(format!(
                "its answer, {} bytes: header | name | type class | name (pointer) type class TTL length address",
                ap.len
            ));
            out.push(format!("  {}", wire::show_bytes(&ap.payload)));
        }
    }
    out
}
