//! What a `backlog` run must show: two connections established and their bytes acknowledged
//! before any accept(); the third SYN dropped and re-sent after the initial RTO; accept() in
//! arrival order.

use super::{BACKLOG, BYTES};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::tracer::{drops_of_text, queue_of_text};
use crate::live::{Role, View};

/// The initial retransmission timeout (RFC 6298, Linux's TCP_TIMEOUT_INIT), ns.
const RTO_INIT: i128 = 1_000_000_000;
/// Timers fire on jiffies: up to one tick (10 ms at HZ=100) early against a ns clock.
const TICK: i128 = 10_000_000;

fn flags(p: &Pkt) -> u16 {
    p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)
}

fn seq(p: &Pkt) -> u32 {
    p.tcp.as_ref().map_or(0, |t| t.seq)
}

/// The client's three connections, in the order it connected: (connect event, connection).
fn conns<'v>(v: &'v View) -> Vec<(&'v Event, usize)> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && e.call == "connect" && e.ok())
        .filter_map(|e| Some((e, v.conn_of(e)?)))
        .collect()
}

/// The segment that completed connection `c`'s handshake: the client's first ACK after the
/// SYN+ACK.
fn handshake_done<'v>(v: &'v View, c: usize) -> Option<&'v Pkt> {
    v.conn_pkts(c)
        .skip_while(|p| flags(p) != f::SYN | f::ACK)
        .find(|p| p.dir == Dir::ToServer && flags(p) & (f::ACK | f::SYN) == f::ACK)
}

/// The server's acknowledgment of connection `c`'s first byte of data.
fn data_acked<'v>(v: &'v View, c: usize) -> Option<(&'v Pkt, &'v Pkt)> {
    let data = v
        .conn_pkts(c)
        .find(|p| p.dir == Dir::ToServer && p.len > 0)?;
    let next = data.tcp.as_ref()?.next_seq();
    let ack = v.conn_pkts(c).find(|p| {
        p.dir == Dir::ToClient
            && p.ts >= data.ts
            && p.tcp
                .as_ref()
                .is_some_and(|t| t.has(f::ACK) && t.ack == next)
    })?;
    Some((data, ack))
}

/// The client's SYNs on connection `c` (first and re-sent).
fn syns<'v>(v: &'v View, c: usize) -> Vec<&'v Pkt> {
    v.conn_pkts(c).filter(|p| flags(p) == f::SYN).collect()
}

fn accepts<'v>(v: &'v View) -> Vec<&'v Event> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "accept" && e.ok())
        .collect()
}

/// The text of the server's last `getsockopt` whose text `parse` reads.
fn reading<T>(v: &View, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "getsockopt" && e.ok())
        .filter_map(|e| parse(e.text.as_deref()?))
        .last()
}

fn ms(ns: i128) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let cs = conns(v);
    let first = accepts(v).first().map(|e| e.start);
    let (3, Some(first)) = (cs.len(), first) else {
        return vec![Check::missing(
            "three connections and an accept() were captured",
            format!(
                "{} connect() events, accept() {}",
                cs.len(),
                if first.is_some() { "seen" } else { "missing" }
            ),
        )];
    };
    let (a, b, c) = (cs[0].1, cs[1].1, cs[2].1);
    vec![
        queued_before_accept(v, [a, b], first),
        acked_before_accept(v, [a, b], first),
        syn_dropped(v, c),
        syn_resent(v, c),
        answered_after_room(v, c, first),
        arrival_order(v, &cs),
        checks::acks_match_next_seq(v),
        nothing_else_resent(v),
    ]
}

/// Both handshakes completed before the first accept(), and the listener's queue then held
/// backlog + 1 connections.
fn queued_before_accept(v: &View, two: [usize; 2], first: i128) -> Check {
    let what = format!(
        "listen(fd, {BACKLOG}): the kernel completed {} handshakes before any accept(); TCP_INFO then showed accept queue {}, backlog {BACKLOG}",
        BACKLOG + 1,
        BACKLOG + 1
    );
    let done: Vec<Option<i128>> = two
        .iter()
        .map(|&c| handshake_done(v, c).map(|p| first - p.ts))
        .collect();
    let queue = reading(v, queue_of_text);
    Check::new(
        done.iter().all(|d| d.is_some_and(|d| d > 0))
            && queue == Some((BACKLOG as u32 + 1, BACKLOG as u32)),
        what,
        format!(
            "handshakes done {} before the first accept(); {}",
            done.iter()
                .map(|d| d.map_or("never".into(), ms))
                .collect::<Vec<_>>()
                .join(" and "),
            queue.map_or("no TCP_INFO reading".into(), |(q, b)| format!(
                "accept queue {q}, backlog {b}"
            ))
        ),
    )
}

/// The byte each queued connection carried was acknowledged before the first accept().
fn acked_before_accept(v: &View, two: [usize; 2], first: i128) -> Check {
    let what = "the server's kernel acknowledged each queued connection's byte before any accept() or read()";
    let got: Vec<Option<(&Pkt, &Pkt)>> = two.iter().map(|&c| data_acked(v, c)).collect();
    Check::new(
        got.iter().all(|x| x.is_some_and(|(_, a)| a.ts < first)),
        what,
        got.iter()
            .map(|x| match x {
                Some((d, a)) => format!(
                    "frame {} acked by frame {}, {} before accept()",
                    d.index + 1,
                    a.index + 1,
                    ms(first - a.ts)
                ),
                None => "a byte never acked".into(),
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// The third connection's first SYN got no answer at all (no SYN+ACK, no RST), and the
/// listener counted a drop.
fn syn_dropped(v: &View, c: usize) -> Check {
    let what = "with the accept queue full, the third SYN got no answer (no SYN+ACK, no RST): the listener dropped it (SO_MEMINFO)";
    let s = syns(v, c);
    let drops = reading(v, drops_of_text);
    let Some(&syn) = s.first() else {
        return Check::missing(what, "no SYN on the third connection");
    };
    let until = s.get(1).map_or(i128::MAX, |p| p.ts);
    let answers = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToClient && p.ts > syn.ts && p.ts < until)
        .count();
    Check::new(
        s.len() >= 2 && answers == 0 && drops.is_some_and(|d| d >= 1),
        what,
        format!(
            "{} SYN(s); {answers} answer(s) before the re-send; dropped {}",
            s.len(),
            drops.map_or("?".into(), |d| d.to_string())
        ),
    )
}

/// The re-sent SYN is the same SYN (same ISN), after the initial RTO.
fn syn_resent(v: &View, c: usize) -> Check {
    let what =
        "the client's kernel re-sent the same SYN (same ISN) after the initial RTO of 1 s, once";
    let s = syns(v, c);
    let [one, two] = s[..] else {
        return Check::missing(what, format!("{} SYN(s), not 2", s.len()));
    };
    let gap = two.ts - one.ts;
    Check::new(
        seq(one) == seq(two) && gap >= RTO_INIT - TICK,
        what,
        format!("ISN {} then {}, {} apart", seq(one), seq(two), ms(gap)),
    )
}

/// Once accept() had made room, the re-sent SYN was answered and the handshake completed.
fn answered_after_room(v: &View, c: usize, first: i128) -> Check {
    let what = "accept() made room before the re-send, which got SYN+ACK: connect() returned about 1 s late";
    let s = syns(v, c);
    let Some(&last) = s.last() else {
        return Check::missing(what, "no SYN on the third connection");
    };
    let synack = v
        .conn_pkts(c)
        .find(|p| flags(p) == f::SYN | f::ACK && p.ts > last.ts);
    let connect = conns(v).get(2).map(|(e, _)| e.end - e.start);
    Check::new(
        first < last.ts && synack.is_some() && handshake_done(v, c).is_some(),
        what,
        format!(
            "first accept() {} before the re-send; SYN+ACK {}; connect() took {}",
            ms(last.ts - first),
            synack.map_or("none".into(), |p| format!("frame {}", p.index + 1)),
            connect.map_or("?".into(), ms)
        ),
    )
}

/// accept() returned the connections in the order their handshakes completed, and each read
/// the byte its connection carried.
fn arrival_order(v: &View, cs: &[(&Event, usize)]) -> Check {
    let what = "accept() returned the connections in the order their handshakes completed; each read() got its connection's byte";
    let mut by_arrival: Vec<(i128, usize)> = cs
        .iter()
        .filter_map(|&(_, c)| Some((handshake_done(v, c)?.ts, c)))
        .collect();
    by_arrival.sort_unstable();
    let arrived: Vec<usize> = by_arrival.iter().map(|x| x.1).collect();
    let taken: Vec<usize> = accepts(v).iter().filter_map(|e| v.conn_of(e)).collect();
    let reads: Vec<Vec<u8>> = v
        .run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "read" && e.ret.is_some_and(|n| n > 0))
        .filter_map(|e| e.data.clone())
        .collect();
    let name = |c: usize| -> String {
        cs.iter()
            .position(|x| x.1 == c)
            .and_then(|i| BYTES.get(i))
            .map_or("?".into(), |b| String::from_utf8_lossy(b).into_owned())
    };
    let show = |l: &[usize]| l.iter().map(|&c| name(c)).collect::<Vec<_>>().join(", ");
    let want: Vec<usize> = cs.iter().map(|x| x.1).collect();
    Check::new(
        taken == arrived && arrived == want && reads == BYTES.map(<[u8]>::to_vec),
        what,
        format!(
            "handshakes done: {}; accepted: {}; read: {}",
            show(&arrived),
            show(&taken),
            reads
                .iter()
                .map(|r| String::from_utf8_lossy(r).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// Apart from the dropped SYN, no segment re-sends sequence numbers already sent.
fn nothing_else_resent(v: &View) -> Check {
    let what = "apart from the dropped SYN, no segment re-sends sequence numbers already sent";
    let mut repeats = Vec::new();
    let mut n = 0;
    for (ci, c) in v.conns.iter().enumerate() {
        if c.proto != Proto::Tcp {
            continue;
        }
        let mut seen: [Vec<(u32, u32)>; 2] = [Vec::new(), Vec::new()];
        for p in v.conn_pkts(ci) {
            let Some(t) = &p.tcp else { continue };
            if t.space() == 0 || flags(p) == f::SYN {
                continue;
            }
            n += 1;
            let start = v.rel_seq(p);
            let end = start.wrapping_add(t.space());
            let ranges = &mut seen[(p.dir == Dir::ToClient) as usize];
            if ranges.iter().any(|&(a, b)| start < b && a < end) {
                repeats.push(p.index + 1);
            }
            ranges.push((start, end));
        }
    }
    Check::new(
        repeats.is_empty(),
        what,
        if repeats.is_empty() {
            format!("{n} other segments carry data, SYN+ACK or FIN; no two cover the same numbers")
        } else {
            format!("frames {repeats:?} re-send numbers already sent")
        },
    )
}

/// When each connection was established, acknowledged and accepted.
pub(super) fn facts(v: &View) -> Vec<String> {
    let cs = conns(v);
    let acc = accepts(v);
    let mut out = Vec::new();
    if let Some((q, b)) = reading(v, queue_of_text) {
        out.push(format!(
            "the listener before accept(): accept queue {q}, backlog {b}; SYNs dropped: {}",
            reading(v, drops_of_text).map_or("?".into(), |d| d.to_string())
        ));
    }
    for (i, &(e, c)) in cs.iter().enumerate() {
        let name = BYTES
            .get(i)
            .map_or("?".into(), |b| String::from_utf8_lossy(b).into_owned());
        let done = handshake_done(v, c).map(|p| p.ts);
        let taken = acc.iter().find(|a| v.conn_of(a) == Some(c)).map(|a| a.end);
        let s = syns(v, c);
        let resend = if s.len() > 1 {
            format!(", SYN sent {} times", s.len())
        } else {
            String::new()
        };
        out.push(format!(
            "connection {name}: connect() took {}{resend}; accept() returned {} after the handshake",
            ms(e.end - e.start),
            match (done, taken) {
                (Some(d), Some(t)) => ms(t - d),
                _ => "?".into(),
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::RunData;

    fn saved() -> RunData {
        crate::scenario::saved_run("backlog")
    }

    fn failing(run: &RunData) -> Vec<String> {
        crate::scenario::failing(checks(&View::new(run)))
    }

    /// The saved run passes; moved or reordered, the same packets and calls fail the checks
    /// about the dropped SYN's timer and the accept order.
    #[test]
    fn the_timer_and_order_checks_can_fail() {
        let run = saved();
        assert_eq!(failing(&run), Vec::<String>::new());
        let v = View::new(&run);
        let c = conns(&v)[2].1;
        let copy = syns(&v, c)[1].index;
        // The copy of the SYN half a second earlier: not the initial RTO.
        let mut early = run.clone();
        early.packets[copy].ts -= 500_000_000;
        early.sort();
        assert!(failing(&early).iter().any(|w| w.contains("initial RTO")));
        // The first two accept() results swapped.
        let mut swapped = run.clone();
        let idx: Vec<usize> = swapped
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.call == "accept" && e.ok())
            .map(|(i, _)| i)
            .collect();
        let (a, b) = (swapped.events[idx[0]].addr, swapped.events[idx[1]].addr);
        swapped.events[idx[0]].addr = b;
        swapped.events[idx[1]].addr = a;
        assert!(failing(&swapped).iter().any(|w| w.contains("order")));
    }
}
