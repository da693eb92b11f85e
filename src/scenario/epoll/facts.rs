//! The facts of an `epoll` run: every epoll_wait() call and what made each descriptor ready.

use super::checks::{arrives, client, events_of, waits, Side};
use super::{EDGE, LEVEL};
use crate::live::View;

pub(super) fn facts(v: &View) -> Vec<String> {
    let ws = waits(v);
    let sides: Vec<(char, Side)> = [(LEVEL, 'L'), (EDGE, 'E')]
        .iter()
        .filter_map(|&(n, l)| client(v, n).map(|s| (l, s)))
        .collect();
    let mut out = vec!["epoll_wait() calls (timeout in ms) → ready descriptors:".to_owned()];
    let mut prev_end = i128::MIN;
    for (n, w) in ws.iter().enumerate() {
        let took = (w.e.end - w.e.start) as f64 / 1e3;
        let mut l = format!("  #{:<2} ({}) after {took:.0} µs:", n + 1, w.timeout_ms);
        if w.ready.is_empty() {
            l.push_str(" nothing");
        }
        for &fd in &w.ready {
            let who = sides.iter().find(|(_, s)| {
                events_of(std::slice::from_ref(w), *s)
                    .iter()
                    .any(|x| x.ready.contains(&fd))
                    && s.fd == fd
            });
            let why = match who {
                Some(&(name, s)) => {
                    let c = s.c;
                    let new = v
                        .conn_pkts(c)
                        .filter(|p| arrives(p) && p.ts > prev_end && p.ts <= w.e.end)
                        .last();
                    match new {
                        Some(p) if p.ts > w.e.start => format!(
                            "{name}, woken by frame {} ({})",
                            p.index + 1,
                            if p.len > 0 { "data" } else { "FIN" }
                        ),
                        Some(p) => format!("{name}, frame {} was there", p.index + 1),
                        None => format!("{name}, no new segment: bytes still unread"),
                    }
                }
                None => "the listener: a connection waits".to_owned(),
            };
            l.push_str(&format!(" fd {fd} ({why})"));
        }
        out.push(l);
        prev_end = w.e.end;
    }
    out
}
