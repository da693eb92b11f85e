//! The facts of a `retransmit` run: each copy's time, gap and TSval, and TCP_INFO's account.

use std::fmt::Write;

use super::checks::{flagged, infos, lost, ms, tsval, ttl, us, waits};
use super::{DROPS, LOSSY_TTL, PING1};
use crate::live::model::Dir;
use crate::live::View;

pub(super) fn facts(v: &View) -> Vec<String> {
    let Some((c, copies)) = lost(v) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let before = infos(v).first().copied();
    if let Some(b) = before {
        out.push(format!(
            "before the loss: smoothed RTT {:.3} ms, RTO {} ms (TCP_INFO)",
            b.rtt as f64 / 1000.0,
            b.rto / 1000
        ));
    }
    let ping1 = v
        .conn_pkts(c)
        .find(|p| p.dir == Dir::ToServer && p.payload == PING1);
    if let Some(p) = ping1 {
        let end = v.rel_seq(p).wrapping_add(p.len);
        if let Some(a) = v
            .conn_pkts(c)
            .find(|q| q.dir == Dir::ToClient && q.ts >= p.ts && v.rel_ack(q) >= end)
        {
            out.push(format!(
                "ping 1 (frame {}): acknowledged by frame {}, {} later",
                p.index + 1,
                a.index + 1,
                us(a.ts - p.ts)
            ));
        }
    }
    let Some(first) = copies.first() else {
        return out;
    };
    let w = waits(v);
    let mut lines = vec![format!(
        "ping 2 (frame {}): dropped on arrival{}",
        first.index + 1,
        ttl(v, first).map_or(String::new(), |t| format!(
            " (TTL {t} < the server's IP_MINTTL {LOSSY_TTL})"
        ))
    )];
    for (n, p) in copies.iter().enumerate().skip(1) {
        let mut l = format!(
            "  copy {n} (frame {}), {} after the {}",
            p.index + 1,
            ms(p.ts - copies[n - 1].ts),
            if n == 1 { "original" } else { "previous copy" }
        );
        if let (Some(a), Some(b)) = (tsval(first), tsval(p)) {
            let _ = write!(l, ", TSval +{}", b.wrapping_sub(a));
        }
        let why = w
            .iter()
            .find(|(_, i)| i.total_retrans == n as u32)
            .map(|(_, i)| {
                if i.backoff == 0 {
                    "tail-loss probe: no timeout yet".to_owned()
                } else {
                    format!(
                        "timeout: backoff {}, next RTO {} ms",
                        i.backoff,
                        i.rto / 1000
                    )
                }
            });
        let why = why.or_else(|| {
            (n == DROPS as usize).then(|| "timeout again, after the doubled RTO".to_owned())
        });
        if let Some(why) = why {
            let _ = write!(l, " ({why})");
        }
        l.push_str(if n < DROPS as usize {
            ": dropped"
        } else {
            ": delivered"
        });
        lines.push(l);
    }
    out.extend(lines);
    let marked = flagged(v);
    if !marked.is_empty() {
        out.push(format!(
            "Wireshark's analysis: \"TCP Retransmission\" at frames {}",
            marked
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}
