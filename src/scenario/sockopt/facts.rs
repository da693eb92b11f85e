//! The facts of a `sockopt` run: the option table, and what each side's packets carried.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use super::calls as so;
use super::checks::table;
use super::checks::{cell_text, packets, read_only, reported, ttl_tos};
use crate::live::event::Event;
use crate::live::model::{Dir, Proto};
use crate::live::{Role, View};

pub(super) fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    let rows = table(v);
    if !rows.is_empty() {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header(vec![
            "level",
            "option",
            "TCP socket",
            "UDP socket",
            "read-only",
        ]);
        for (o, cells) in &rows {
            t.add_row(vec![
                o.level_name.to_owned(),
                o.opt_name.to_owned(),
                cell_text(o, &cells[0]),
                cell_text(o, &cells[1]),
                match read_only(cells) {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "-".into(),
                },
            ]);
        }
        for col in [2usize, 3] {
            if let Some(c) = t.column_mut(col) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push("getsockopt on a new socket (and setting the same value back)".into());
        crate::render::fit::table(&mut t, v.width);
        out.extend(t.to_string().lines().map(str::to_owned));
        out.push(String::new());
    }
    if let Some(span) = v.phase("sockopt/wire") {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header(vec![
            "socket",
            "IP_TTL (getsockopt)",
            "TTL on the wire",
            "IP_TOS (getsockopt)",
            "TOS on the wire",
            "packets",
        ]);
        let client_tcp = v.calls(Role::Client, "connect", span).find(|e| e.ok());
        let client_udp = v.calls(Role::Client, "sendto", span).find(|e| e.ok());
        let lines: [(&str, Role, Option<&Event>, Proto, Dir); 3] = [
            (
                "client TCP",
                Role::Client,
                client_tcp,
                Proto::Tcp,
                Dir::ToServer,
            ),
            (
                "server TCP (accepted)",
                Role::Server,
                None,
                Proto::Tcp,
                Dir::ToClient,
            ),
            (
                "client UDP",
                Role::Client,
                client_udp,
                Proto::Udp,
                Dir::ToServer,
            ),
        ];
        for (name, role, fd, proto, dir) in lines {
            let ps = packets(v, proto, dir);
            let mut seen: Vec<(u8, u8)> = ps.iter().filter_map(|p| ttl_tos(v, p)).collect();
            seen.sort_unstable();
            seen.dedup();
            let ttls: Vec<String> = seen.iter().map(|(l, _)| l.to_string()).collect();
            let toss: Vec<String> = seen.iter().map(|(_, s)| format!("{s:#04x}")).collect();
            t.add_row(vec![
                name.to_owned(),
                reported(v, role, &so::IP_TTL, span, fd).map_or("?".into(), |n| n.to_string()),
                dedup(ttls).join(", "),
                reported(v, role, &so::IP_TOS, span, fd)
                    .map_or("?".into(), |n| format!("{n:#04x}")),
                dedup(toss).join(", "),
                ps.len().to_string(),
            ]);
        }
        for col in 1usize..6 {
            if let Some(c) = t.column_mut(col) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push("IP_TTL / IP_TOS: what getsockopt says and what the IP headers carry".into());
        crate::render::fit::table(&mut t, v.width);
        out.extend(t.to_string().lines().map(str::to_owned));
    }
    out
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
