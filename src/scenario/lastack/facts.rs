//! The facts of a `lastack` run: the lost ACK, the re-sent FIN and its delay, and TIME_WAIT's
//! timer before and after it.

use super::checks::{close, ms, rows, ttl};
use super::LOSSY_TTL;
use crate::live::View;

pub(super) fn facts(v: &View) -> Vec<String> {
    let Some(c) = close(v) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(a) = c.acks.first() {
        out.push(format!(
            "the client's last ACK (frame {}): TTL {}, dropped by the server's socket \
             (IP_MINTTL {LOSSY_TTL})",
            a.index + 1,
            ttl(v, a).map_or("?".into(), |t| t.to_string())
        ));
    }
    if let (Some(f1), Some(f2)) = (c.fins.first(), c.fins.get(1)) {
        out.push(format!(
            "the server's FIN re-sent {} after the first (frame {} → frame {})",
            ms(f2.ts - f1.ts),
            f1.index + 1,
            f2.index + 1
        ));
    }
    if let Some(a2) = c.acks.get(1) {
        out.push(format!(
            "the same ACK again from TIME_WAIT (frame {}), {} after the re-sent FIN",
            a2.index + 1,
            ms(a2.ts - c.fins.get(1).map_or(a2.ts, |p| p.ts))
        ));
    }
    let rows = rows(v);
    let tw: Vec<(i128, f64)> = rows
        .iter()
        .filter(|r| r.1 == "TIME_WAIT")
        .filter_map(|&(t, _, l)| Some((t, l?)))
        .collect();
    if let [(t1, l1), (t2, l2)] = tw[..] {
        out.push(format!(
            "the client's TIME_WAIT (sock_diag): {l1:.3} s left as it began; {l2:.3} s left after \
             the re-sent FIN, where {:.3} s would be if nothing had restarted it",
            l1 - (t2 - t1) as f64 / 1e9
        ));
    }
    out
}
