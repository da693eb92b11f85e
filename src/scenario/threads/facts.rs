//! The facts of a `threads` run: a lane per thread of the server on one time axis, and the
//! wire of each connection.

use super::checks::{main_events, ms, workers};
use crate::live::model::Dir;
use crate::live::View;
use crate::render::run::ladder;

/// Columns of the lanes' time axis.
const COLS: usize = 40;

pub(super) fn facts(v: &View) -> Vec<String> {
    let main = main_events(v);
    let ws = workers(v);
    let mut lanes: Vec<(String, u32, i128, i128, String)> = Vec::new();
    if let (Some(first), Some(last)) = (main.first(), main.last()) {
        let count = |call: &str| main.iter().filter(|e| e.call == call && e.ok()).count();
        lanes.push((
            "main".into(),
            first.tid,
            first.start,
            last.end,
            format!(
                "accept ×{}, pthread_create ×{}, pthread_join ×{}",
                count("accept"),
                count("pthread_create"),
                count("pthread_join")
            ),
        ));
    }
    for w in &ws {
        let (Some((s, e)), Some(tid)) = (w.span(), w.tid()) else {
            continue;
        };
        let fd = w.events.iter().find_map(|e| e.fd);
        let echoed: i64 = w
            .events
            .iter()
            .filter(|e| e.call == "write")
            .filter_map(|e| e.ret)
            .sum();
        lanes.push((
            w.name.into(),
            tid,
            s,
            e,
            format!(
                "fd {}: echoed {echoed} bytes, then close()",
                fd.map_or("?".into(), |f| f.to_string())
            ),
        ));
    }
    if lanes.is_empty() {
        return Vec::new();
    }
    let pid = main.first().map_or(0, |e| e.pid);
    let t0 = lanes.iter().map(|l| l.2).min().unwrap_or(0);
    let t1 = lanes.iter().map(|l| l.3).max().unwrap_or(t0).max(t0 + 1);
    let col = |t: i128| (((t - t0) * COLS as i128) / (t1 - t0)).clamp(0, COLS as i128 - 1) as usize;
    let mut out = vec![format!(
        "the server's threads, one process (pid {pid}), one lane each (█ its calls), {} to {}:",
        ms(0),
        ms(t1 - t0)
    )];
    let label_w = lanes.iter().map(|l| l.0.len()).max().unwrap_or(0);
    let tid_w = lanes
        .iter()
        .map(|l| l.1.to_string().len())
        .max()
        .unwrap_or(0);
    for (label, tid, s, e, note) in &lanes {
        let (a, b) = (col(*s), col(*e));
        let bar: String = (0..COLS)
            .map(|i| if i >= a && i <= b { '█' } else { ' ' })
            .collect();
        out.push(format!(
            "  {label:<label_w$}  tid {tid:<tid_w$}  {bar}  {note}"
        ));
    }
    for c in 0..v.conns.len() {
        let shape: Vec<(Dir, u16)> = v
            .conn_pkts(c)
            .map(|p| (p.dir, p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)))
            .collect();
        out.push(format!(
            "connection :{}: {} segments: {}",
            v.conns[c].client.port(),
            shape.len(),
            ladder::shape_text(&shape)
        ));
    }
    out
}
