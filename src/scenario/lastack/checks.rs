//! What a `lastack` run must show: the client's last ACK on the wire and dropped, the server
//! still in LAST_ACK, its FIN re-sent on its timer, the same ACK again from TIME_WAIT, and
//! TIME_WAIT's 60 s started again.

use super::{DROPS, LOSSY_TTL};
use crate::analyse::{flags as f, Findings};
use crate::decode::decode;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::{Role, View};

/// Linux's minimum RTO (TCP_RTO_MIN), ns.
const RTO_MIN: i128 = 200_000_000;
/// Timers fire on jiffies: up to one tick (10 ms at HZ=100) early against a ns clock.
const TICK: i128 = 10_000_000;
/// TIME_WAIT on Linux (TCP_TIMEWAIT_LEN), ns.
const TIME_WAIT: i128 = 60_000_000_000;
/// How far a timer read through sock_diag (ms, on jiffies) may be from the packet clock.
const SLACK: i128 = 50_000_000;

/// The closing segments of the connection, as the run shows them.
pub(super) struct Close<'v> {
    pub(super) conn: usize,
    /// The server's FIN and its copies, in time order.
    pub(super) fins: Vec<&'v Pkt>,
    /// The client's bare ACKs of the server's FIN, in time order.
    pub(super) acks: Vec<&'v Pkt>,
}

fn flags(p: &Pkt) -> u16 {
    p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)
}

pub(super) fn close<'v>(v: &'v View) -> Option<Close<'v>> {
    let conn = checks::first_tcp(v).ok()?;
    let fins: Vec<&Pkt> = v
        .conn_pkts(conn)
        .filter(|p| p.dir == Dir::ToClient && flags(p) & f::FIN != 0)
        .collect();
    let want = fins.first()?.tcp.as_ref()?.next_seq();
    let acks = v
        .conn_pkts(conn)
        .filter(|p| p.dir == Dir::ToServer && p.len == 0 && flags(p) == f::ACK)
        .filter(|p| p.tcp.as_ref().is_some_and(|t| t.ack == want))
        .collect();
    Some(Close { conn, fins, acks })
}

/// The IP TTL of a captured packet.
pub(super) fn ttl(v: &View, p: &Pkt) -> Option<u8> {
    let frame = v.run.frame(p.index)?;
    decode(&frame).ip.map(|ip| ip.ttl)
}

/// The last drop count the server's `getsockopt(SO_MEMINFO)` saw.
pub(super) fn drops(v: &View) -> Option<u32> {
    v.run
        .events
        .iter()
        .rev()
        .filter(|e| e.role == Role::Server && e.args.ends_with("SO_MEMINFO"))
        .find_map(|e| {
            e.text
                .as_deref()?
                .strip_prefix("(drops ")?
                .strip_suffix(')')?
                .parse()
                .ok()
        })
}

/// The client's sock_diag lines: (when read, state, seconds left).
pub(super) fn rows<'v>(v: &'v View) -> Vec<(i128, &'v str, Option<f64>)> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && e.call == "print")
        .filter_map(|e| {
            let text = e.text.as_deref()?;
            text.starts_with("sock_diag:").then_some(())?;
            let left = text
                .rsplit(", ")
                .next()
                .and_then(|t| t.strip_suffix(" s left"))
                .and_then(|t| t.parse().ok());
            Some((e.end, e.args.as_str(), left))
        })
        .collect()
}

/// The server's `state` events, as (when, state).
fn server_states<'v>(v: &'v View) -> Vec<(i128, &'v str)> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "state")
        .filter_map(|e| Some((e.end, e.text.as_deref()?)))
        .collect()
}

/// The server's wait for CLOSED.
fn closed_wait<'v>(v: &'v View) -> Option<&'v Event> {
    v.run
        .events
        .iter()
        .find(|e| e.role == Role::Server && e.call == "wait" && e.args.contains("is CLOSED"))
}

/// A duration: `24 µs` below a millisecond, `207.1 ms` above.
pub(super) fn ms(ns: i128) -> String {
    if ns.abs() < 1_000_000 {
        format!("{} µs", ns / 1000)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let Some(c) = close(v) else {
        return vec![Check::missing(
            "the connection and the server's FIN were captured",
            "no TCP connection, or no FIN from the server",
        )];
    };
    let mut out = Vec::new();
    let first_fin = v
        .conn_pkts(c.conn)
        .find(|p| flags(p) & f::FIN != 0)
        .map(|p| p.dir);
    out.push(Check::new(
        first_fin == Some(Dir::ToServer),
        "the client closes first: the first FIN is the client's",
        match first_fin {
            Some(d) => format!("the first FIN is the {}'s", d.sender().name()),
            None => "no FIN".into(),
        },
    ));
    let (fin1, ack1) = (c.fins[0], c.acks.first().copied());
    let fin_seq = v.rel_seq(fin1);
    out.push(match ack1 {
        Some(a) => Check::new(
            a.ts > fin1.ts,
            "the client acknowledges the server's FIN: ack = its seq + 1",
            format!(
                "FIN seq {fin_seq} in frame {}; ACK {} in frame {}",
                fin1.index + 1,
                v.rel_ack(a),
                a.index + 1
            ),
        ),
        None => Check::missing(
            "the client acknowledges the server's FIN",
            format!("no ACK {}", fin_seq.wrapping_add(1)),
        ),
    });
    let dropped = drops(v);
    let after_drop = server_states(v)
        .into_iter()
        .find(|&(t, _)| ack1.is_some_and(|a| t > a.ts))
        .map(|(_, s)| s);
    let t1 = ack1.and_then(|a| ttl(v, a));
    out.push(Check::new(
        t1.is_some_and(|t| t < LOSSY_TTL)
            && dropped == Some(DROPS)
            && after_drop == Some("LAST_ACK"),
        format!(
            "that ACK is lost: its TTL is below the server's IP_MINTTL {LOSSY_TTL}, the server's \
             kernel drops it and stays in LAST_ACK"
        ),
        format!(
            "TTL {}; SO_MEMINFO drops {}; then the server is {}",
            t1.map_or("?".into(), |t| t.to_string()),
            dropped.map_or("?".into(), |n| n.to_string()),
            after_drop.unwrap_or("not sampled")
        ),
    ));
    let fin2 = c.fins.get(1).copied();
    out.push(match fin2 {
        Some(p) => {
            let gap = p.ts - fin1.ts;
            let same = p.tcp.as_ref().map(|t| (t.seq, t.flags))
                == fin1.tcp.as_ref().map(|t| (t.seq, t.flags));
            Check::new(
                same && c.fins.len() == 2
                    && gap >= RTO_MIN - TICK
                    && p.findings().has(Findings::RETRANSMISSION),
                "the server re-sends its FIN once, unchanged, on its retransmission timer \
                 (≥ 200 ms), and Wireshark's analysis marks it",
                format!(
                    "{} FIN(s); frame {} {} after frame {}, same seq {fin_seq}",
                    c.fins.len(),
                    p.index + 1,
                    ms(gap),
                    fin1.index + 1
                ),
            )
        }
        None => Check::missing(
            "the server re-sends its FIN",
            "only one FIN from the server",
        ),
    });
    let ack2 = fin2.and_then(|f2| c.acks.iter().find(|a| a.ts > f2.ts).copied());
    let rows = rows(v);
    let in_tw = |before: bool| {
        rows.iter().any(|&(t, s, _)| {
            s == "TIME_WAIT" && fin2.is_some_and(|f2| if before { t < f2.ts } else { t > f2.ts })
        })
    };
    let rst = v.conn_pkts(c.conn).any(|p| flags(p) & f::RST != 0);
    out.push(match (ack1, ack2) {
        (Some(a1), Some(a2)) => {
            let same =
                a1.tcp.as_ref().map(|t| (t.seq, t.ack)) == a2.tcp.as_ref().map(|t| (t.seq, t.ack));
            Check::new(
                same && in_tw(true) && in_tw(false) && !rst,
                "the client's end, in TIME_WAIT before and after, answers the re-sent FIN with \
                 the same ACK (not a RST)",
                format!(
                    "ACK {} again in frame {}, {} after the FIN; {}",
                    v.rel_ack(a2),
                    a2.index + 1,
                    ms(a2.ts - fin2.map_or(a2.ts, |p| p.ts)),
                    if rst { "a RST was sent" } else { "no RST" }
                ),
            )
        }
        _ => Check::missing(
            "the client's end in TIME_WAIT acknowledges the re-sent FIN",
            "no second ACK after the second FIN",
        ),
    });
    let closed = closed_wait(v);
    out.push(Check::new(
        closed.is_some_and(|e| e.text.as_deref() == Some("CLOSED"))
            && ack2.is_some_and(|a| closed.is_some_and(|e| e.end >= a.ts)),
        "that ACK gets through: the server's socket is CLOSED after it",
        closed.map_or("no wait for CLOSED".into(), |e| {
            format!("TCP_INFO: {}", e.text.as_deref().unwrap_or("?"))
        }),
    ));
    out.push(restart_check(&rows, ack1, ack2));
    out.push(checks::acks_match_next_seq(v));
    out
}

/// When TIME_WAIT ends by each of two sock_diag readings: the first before the re-sent FIN,
/// the second after.
pub(super) fn deadlines(
    rows: &[(i128, &str, Option<f64>)],
    fin2_ack: i128,
) -> Option<(i128, i128)> {
    let at = |r: &(i128, &str, Option<f64>)| Some(r.0 + (r.2? * 1e9) as i128);
    let before = rows
        .iter()
        .rfind(|r| r.0 < fin2_ack && r.1 == "TIME_WAIT")?;
    let after = rows.iter().find(|r| r.0 > fin2_ack && r.1 == "TIME_WAIT")?;
    Some((at(before)?, at(after)?))
}

fn restart_check(
    rows: &[(i128, &str, Option<f64>)],
    ack1: Option<&Pkt>,
    ack2: Option<&Pkt>,
) -> Check {
    let what = "TIME_WAIT starts its 60 s again at the re-sent FIN: its end moves by the time \
                between the two ACKs";
    let (Some(a1), Some(a2)) = (ack1, ack2) else {
        return Check::missing(what, "no two ACKs");
    };
    let Some((d1, d2)) = deadlines(rows, a2.ts) else {
        return Check::missing(
            what,
            "no sock_diag reading before and after the re-sent FIN",
        );
    };
    let moved = d2 - d1;
    let gap = a2.ts - a1.ts;
    Check::new(
        (moved - gap).abs() <= SLACK && (d2 - a2.ts - TIME_WAIT).abs() <= SLACK,
        what,
        format!(
            "the end moved {} later; the ACKs are {} apart; it now ends {:.3} s after the second",
            ms(moved),
            ms(gap),
            (d2 - a2.ts) as f64 / 1e9
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::RunData;

    fn saved() -> RunData {
        crate::scenario::saved_run("lastack")
    }

    fn failed(run: &RunData, start: &str) -> bool {
        checks(&View::new(run))
            .iter()
            .any(|c| !c.ok && c.what.starts_with(start))
    }

    /// The run without the `n`th (0-based) of the client's ACKs of the server's FIN.
    fn without_ack(run: &RunData, n: usize) -> RunData {
        let v = View::new(run);
        let i = close(&v).expect("the close").acks[n].index;
        drop(v);
        let mut r = run.clone();
        r.packets.remove(i);
        r
    }

    #[test]
    fn the_saved_run_passes_and_each_claim_can_fail() {
        let run = saved();
        assert!(checks(&View::new(&run)).iter().all(|c| c.ok));

        // Without the second ACK, TIME_WAIT did not answer.
        assert!(failed(&without_ack(&run, 1), "the client's end"));

        // A kernel that counted no drop did not lose the ACK.
        let mut kept = run.clone();
        for e in kept
            .events
            .iter_mut()
            .filter(|e| e.args.ends_with("SO_MEMINFO"))
        {
            e.text = Some("(drops 0)".into());
        }
        assert!(failed(&kept, "that ACK is lost"));

        // A timer that ran on through the FIN was not restarted.
        let mut ran_on = run.clone();
        let rows: Vec<usize> = ran_on
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.text
                    .as_deref()
                    .is_some_and(|t| t.starts_with("sock_diag:"))
            })
            .map(|(i, _)| i)
            .collect();
        let last = ran_on.events[rows[1]].text.clone().unwrap_or_default();
        let cut = last.rfind(", ").expect("a timer");
        ran_on.events[rows[1]].text = Some(format!("{}, 59.790 s left", &last[..cut]));
        assert!(failed(&ran_on, "TIME_WAIT starts its 60 s again"));

        // Without the second FIN nothing was re-sent.
        let v = View::new(&run);
        let fin2 = close(&v).expect("the close").fins[1].index;
        drop(v);
        let mut once = run.clone();
        once.packets.remove(fin2);
        assert!(failed(&once, "the server re-sends its FIN"));
    }
}
