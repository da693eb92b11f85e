//! The facts of a `select` run: every call, the set in and out, and what woke it.

use super::checks::{cause, client_of, conn_at, listener, selects, us};
use crate::live::model::Pkt;
use crate::live::tracer::calls_mux::set_text;
use crate::live::View;

/// What a segment is, in a few words: `A's data`, `B's FIN`, `C's handshake ACK`.
fn what(v: &View, p: &Pkt, is_listener: bool) -> String {
    let who = client_of(v, p.conn)
        .and_then(|n| n.strip_prefix("client "))
        .unwrap_or("?");
    let kind = if is_listener {
        "handshake ACK"
    } else if p.len > 0 {
        "data"
    } else {
        "FIN"
    };
    format!("{who}'s {kind} (frame {})", p.index + 1)
}

pub(super) fn facts(v: &View) -> Vec<String> {
    let sels = selects(v);
    let lfd = listener(v);
    let mut out = vec!["select() calls: the set in → the set out; what made each fd ready:".into()];
    for (n, s) in sels.iter().enumerate() {
        let took = s.e.end - s.e.start;
        let mut l = format!(
            "  #{:<2} {} → {} after {}",
            n + 1,
            set_text(&s.given),
            set_text(&s.ready),
            us(took)
        );
        if s.ready.is_empty() {
            l.push_str(": timed out");
        }
        for &fd in &s.ready {
            let Some(p) = cause(v, fd, s.e.start) else {
                l.push_str(&format!("; fd {fd}: no segment found"));
                continue;
            };
            let is_l = Some(fd) == lfd;
            let when = if p.ts > s.e.start {
                format!("woke it, {} before it returned", us(s.e.end - p.ts))
            } else {
                "already there".to_owned()
            };
            l.push_str(&format!("; fd {fd}: {} {when}", what(v, p, is_l)));
            if !is_l && conn_at(v, fd, s.e.start).is_none() {
                l.push_str(" (no client?)");
            }
        }
        out.push(l);
    }
    out
}
