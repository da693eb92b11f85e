//! What a `retransmit` run must show: the lost segment's copies, each on the sender's timers,
//! and what the kernels said about them; and how the run is read back.

use super::sys::{ca_state_name, Info};
use super::{DROPS, PING2};
use crate::analyse::Findings;
use crate::decode::decode;
use crate::decode::options::{options, TcpOption};
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::{Role, View};

/// Linux's minimum RTO (TCP_RTO_MIN), ns.
const RTO_MIN: i128 = 200_000_000;
/// Timers fire on jiffies: up to one tick (10 ms at HZ=100) early against a ns clock.
const TICK: i128 = 10_000_000;

/// The connection, and the copies of "ping 2" on it (client → server, in time order).
pub(super) fn lost<'v>(v: &'v View) -> Option<(usize, Vec<&'v Pkt>)> {
    let c = checks::first_tcp(v).ok()?;
    let copies = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.payload == PING2)
        .collect();
    Some((c, copies))
}

/// The client's `wait` events (one per awaited re-send), with what TCP_INFO said.
pub(super) fn waits<'v>(v: &'v View) -> Vec<(&'v Event, Info)> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && e.call == "wait")
        .filter_map(|e| Some((e, Info::parse(e.text.as_deref()?)?)))
        .collect()
}

/// What the client's `getsockopt(TCP_INFO)` calls returned, in order.
pub(super) fn infos(v: &View) -> Vec<Info> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && e.args.ends_with("TCP_INFO"))
        .filter_map(|e| Info::parse(e.text.as_deref()?))
        .collect()
}

/// The last drop count the server's `getsockopt(SO_MEMINFO)` saw.
fn drops_seen(v: &View) -> Option<u32> {
    v.run
        .events
        .iter()
        .rev()
        .filter(|e| e.role == Role::Server && e.args.ends_with("SO_MEMINFO"))
        .find_map(|e| {
            e.text
                .as_deref()?
                .trim_start_matches("(drops ")
                .trim_end_matches(')')
                .parse()
                .ok()
        })
}

/// Frames (1-based) Wireshark's analysis calls a retransmission.
pub(super) fn flagged(v: &View) -> Vec<usize> {
    v.pkts
        .iter()
        .filter(|p| p.findings().has(Findings::RETRANSMISSION))
        .map(|p| p.index + 1)
        .collect()
}

/// The IP TTL of a captured packet.
pub(super) fn ttl(v: &View, p: &Pkt) -> Option<u8> {
    let frame = v.run.frame(p.index)?;
    decode(&frame).ip.map(|ip| ip.ttl)
}

/// The TCP timestamp (TSval) a segment carries.
pub(super) fn tsval(p: &Pkt) -> Option<u32> {
    options(&p.tcp.as_ref()?.options).find_map(|o| match o {
        Ok(TcpOption::Timestamps { val, .. }) => Some(val),
        _ => None,
    })
}

pub(super) fn ms(ns: i128) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// Gaps between consecutive copies, ns.
fn gaps(copies: &[&Pkt]) -> Vec<i128> {
    copies.windows(2).map(|w| w[1].ts - w[0].ts).collect()
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let Some((c, copies)) = lost(v) else {
        return vec![Check::missing(
            "a TCP connection was captured",
            "no TCP packets",
        )];
    };
    let Some(first) = copies.first() else {
        return vec![Check::missing(
            "\"ping 2\" is on the wire",
            "no segment carries it",
        )];
    };
    let mut out = Vec::new();
    let seq = v.rel_seq(first);
    let want = DROPS as usize + 1;
    out.push(Check::new(
        copies.len() == want && copies.iter().all(|p| v.rel_seq(p) == seq),
        format!(
            "\"ping 2\" is on the wire {want} times: the original and {DROPS} copies, same SEQ, same bytes"
        ),
        format!(
            "{} segment(s) carry it at seq {seq}: frames {}",
            copies.len(),
            frames(&copies)
        ),
    ));

    let end = seq.wrapping_add(first.len);
    let last = copies[copies.len() - 1];
    let acks: Vec<&Pkt> = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToClient && p.tcp.is_some() && v.rel_ack(p) >= end)
        .collect();
    let early: Vec<&&Pkt> = acks.iter().filter(|p| p.ts < last.ts).collect();
    out.push(Check::new(
        early.is_empty() && !acks.is_empty(),
        "nothing acknowledged it until its last copy arrived; then the ACK followed",
        match (early.first(), acks.first()) {
            (Some(p), _) => format!("frame {} acknowledges it earlier", p.index + 1),
            (None, Some(a)) => format!(
                "ack {end} in frame {}, {} after the last copy",
                a.index + 1,
                us(a.ts - last.ts)
            ),
            (None, None) => "no ACK of it was captured".into(),
        },
    ));

    let marked = flagged(v);
    let copy_frames: Vec<usize> = copies.iter().skip(1).map(|p| p.index + 1).collect();
    out.push(Check::new(
        copy_frames.len() == DROPS as usize
            && copy_frames.iter().all(|f| marked.contains(f))
            && !marked.contains(&(first.index + 1)),
        "Wireshark's analysis marks each copy, and not the original, a retransmission",
        format!("retransmissions: frames {marked:?}"),
    ));

    let g = gaps(&copies);
    let before = infos(v).first().copied();
    let w = waits(v);
    out.push(match g.first() {
        Some(&g1) => Check::new(
            g1 >= RTO_MIN - TICK,
            "the first re-send waited at least Linux's minimum RTO (200 ms), whatever the RTT",
            format!(
                "{} after the original; smoothed RTT {}",
                ms(g1),
                before.map_or("unknown".into(), |i| format!(
                    "{:.3} ms",
                    i.rtt as f64 / 1000.0
                ))
            ),
        ),
        None => Check::missing("the first re-send waited ≥ 200 ms", "no copy"),
    });
    let second = w.iter().find(|(_, i)| i.total_retrans >= 2).map(|x| x.1);
    out.push(match (g.get(1), second) {
        (Some(&g2), Some(i)) => Check::new(
            g2 >= RTO_MIN - TICK && i.backoff >= 1 && i.ca_state == 4,
            "the second re-send is a retransmission timeout: ≥ 200 ms later, and the kernel then \
             reports backoff 1 and state Loss",
            format!(
                "{} after the first; backoff {}, ca_state {}",
                ms(g2),
                i.backoff,
                ca_state_name(i.ca_state)
            ),
        ),
        _ => Check::missing(
            "the second re-send is a retransmission timeout",
            "no second copy, or no TCP_INFO after it",
        ),
    });
    out.push(match (g.get(2), second, before) {
        (Some(&g3), Some(i), Some(b)) => {
            // Each timeout doubles the RTO: after `backoff` of them it is RTO << backoff.
            let want = (b.rto as i128) << i.backoff.min(16);
            let doubled = i.backoff >= 1 && (i.rto as i128 - want).abs() * 1000 <= TICK;
            Check::new(
                doubled && g3 >= i.rto as i128 * 1000 - TICK,
                "each timeout doubles the RTO, and the third re-send waited the doubled RTO",
                format!(
                    "RTO {} ms → {} ms after {} timeout(s); {} after the second",
                    b.rto / 1000,
                    i.rto / 1000,
                    i.backoff,
                    ms(g3)
                ),
            )
        }
        _ => Check::missing(
            "each timeout doubles the RTO",
            "no third copy, or no TCP_INFO before and after",
        ),
    });
    out.push(checks::reads_match_writes(v, c, Dir::ToServer));
    out.push(checks::reads_match_writes(v, c, Dir::ToClient));
    let resent = infos(v).last().map(|i| i.total_retrans);
    let dropped = drops_seen(v);
    out.push(Check::new(
        resent == Some(DROPS) && dropped == Some(DROPS),
        format!(
            "the kernels agree: the server's socket dropped {DROPS} segments, the client re-sent {DROPS}"
        ),
        format!(
            "SO_MEMINFO drops {}, tcpi_total_retrans {}",
            dropped.map_or("?".into(), |n| n.to_string()),
            resent.map_or("?".into(), |n| n.to_string())
        ),
    ));
    out.push(checks::acks_match_next_seq(v));
    out
}

fn frames(ps: &[&Pkt]) -> String {
    ps.iter()
        .map(|p| (p.index + 1).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn us(ns: i128) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}
