//! What a `keepalive` run must show: probes after the idle time, SEQ one below, the answer,
//! the unanswered probes an interval apart, the RST and ETIMEDOUT; and how the run is read.

use super::{CNT, IDLE, INTVL};
use crate::analyse::{flags as f, Findings};
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::{Role, View};

/// Timers fire on jiffies: up to one tick (10 ms at HZ=100) early against a ns clock.
const TICK: i128 = 10_000_000;
const SEC: i128 = 1_000_000_000;

/// One keep-alive probe of the client's kernel.
pub(super) struct Probe<'v> {
    pub(super) pkt: &'v Pkt,
    /// The client's next sequence number when it left (relative).
    pub(super) next: u32,
    /// The last segment the client had received before it.
    pub(super) after: Option<&'v Pkt>,
    /// The server's answer: its next segment, when bare and before the client's next.
    pub(super) answer: Option<&'v Pkt>,
    /// Sent once the server had fallen silent.
    pub(super) silent: bool,
}

/// The connection's story, from the raw packets.
pub(super) struct Story<'v> {
    pub(super) probes: Vec<Probe<'v>>,
    /// The client's RST when it gave up.
    pub(super) rst: Option<&'v Pkt>,
    /// The server's FIN at its close(), and the client kernel's RST that answers it.
    pub(super) fin: Option<&'v Pkt>,
    pub(super) reply: Option<&'v Pkt>,
}

/// A segment with nothing but ACK: no data, no SYN, FIN or RST.
fn bare(p: &Pkt) -> bool {
    p.tcp
        .as_ref()
        .is_some_and(|t| t.len == 0 && t.flags & 0xff == f::ACK)
}

fn has(p: &Pkt, flag: u16) -> bool {
    p.tcp.as_ref().is_some_and(|t| t.has(flag))
}

pub(super) fn story<'v>(v: &'v View) -> Option<Story<'v>> {
    let c = checks::first_tcp(v).ok()?;
    let silent_from = v.phase("keepalive/silent").map_or(i128::MAX, |s| s.0);
    let pkts: Vec<&Pkt> = v.conn_pkts(c).collect();
    let mut probes = Vec::new();
    let mut next = 0u32;
    let mut last_ack: Option<u32> = None;
    let mut last_in: Option<&Pkt> = None;
    for (i, &p) in pkts.iter().enumerate() {
        let Some(t) = &p.tcp else { continue };
        if p.dir == Dir::ToClient {
            last_in = Some(p);
            continue;
        }
        // A bare ACK that acknowledges nothing new: the client's kernel speaks unasked.
        if bare(p) && last_ack == Some(t.ack) {
            let answer = pkts
                .get(i + 1)
                .filter(|q| q.dir == Dir::ToClient && bare(q))
                .copied();
            probes.push(Probe {
                pkt: p,
                next,
                after: last_in,
                answer,
                silent: p.ts >= silent_from,
            });
        }
        if t.space() > 0 {
            next = next.max(v.rel_next_seq(p));
        }
        if t.has(f::ACK) {
            last_ack = Some(t.ack);
        }
    }
    let rst = pkts
        .iter()
        .find(|p| p.dir == Dir::ToServer && has(p, f::RST))
        .copied();
    let fin = pkts
        .iter()
        .find(|p| p.dir == Dir::ToClient && has(p, f::FIN))
        .copied();
    let reply = fin.and_then(|fin| {
        pkts.iter()
            .find(|p| p.dir == Dir::ToServer && p.ts >= fin.ts && has(p, f::RST))
            .copied()
    });
    Some(Story {
        probes,
        rst,
        fin,
        reply,
    })
}

/// The client's read() that waited through it all.
pub(super) fn blocked_read<'v>(v: &'v View) -> Option<&'v Event> {
    let span = v.phase("keepalive/idle")?;
    v.calls(Role::Client, "read", (span.0, i128::MAX)).next()
}

/// The drop counts the server's getsockopt(SO_MEMINFO) saw, in order: before it fell silent,
/// then each change.
pub(super) fn drop_counts(v: &View) -> Vec<u32> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.args.ends_with("SO_MEMINFO"))
        .filter_map(|e| {
            e.text
                .as_deref()?
                .strip_prefix("(drops ")?
                .strip_suffix(')')?
                .parse()
                .ok()
        })
        .collect()
}

/// What the kernel said of the server's socket once the client had given up.
pub(super) fn server_state<'v>(v: &'v View) -> Option<&'v str> {
    let span = v.phase("keepalive/silent")?;
    v.calls(Role::Server, "state", span)
        .next()
        .and_then(|e| e.text.as_deref())
}

pub(super) fn secs(ns: i128) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

pub(super) fn checks(v: &View) -> Vec<Check> {
    let Some(s) = story(v) else {
        return vec![Check::missing(
            "a TCP connection was captured",
            "no TCP packets",
        )];
    };
    let mut out = Vec::new();
    let answered: Vec<&Probe> = s.probes.iter().filter(|p| !p.silent).collect();
    let silent: Vec<&Probe> = s.probes.iter().filter(|p| p.silent).collect();

    out.push(match s.probes.first() {
        Some(p) => {
            let quiet = p.after.map(|a| p.pkt.ts - a.ts);
            Check::new(
                quiet.is_some_and(|q| q >= IDLE as i128 * SEC - TICK),
                format!(
                    "the first probe leaves after TCP_KEEPIDLE ({IDLE} s) without a segment received"
                ),
                format!(
                    "frame {}, {} after frame {}",
                    p.pkt.index + 1,
                    quiet.map_or("?".into(), secs),
                    p.after.map_or(0, |a| a.index + 1)
                ),
            )
        }
        None => Check::missing(
            "the client's kernel sends keep-alive probes",
            "no bare ACK of nothing new from the client",
        ),
    });
    let below: Vec<String> = s
        .probes
        .iter()
        .filter(|p| v.rel_seq(p.pkt) != p.next.wrapping_sub(1))
        .map(|p| format!("frame {} has seq {}", p.pkt.index + 1, v.rel_seq(p.pkt)))
        .collect();
    out.push(Check::new(
        !s.probes.is_empty() && below.is_empty(),
        "each probe is a bare ACK with SEQ one below the client's next (a byte already acknowledged)",
        if below.is_empty() {
            format!(
                "{} probes, seq {} each, next {}",
                s.probes.len(),
                s.probes.first().map_or(0, |p| v.rel_seq(p.pkt)),
                s.probes.first().map_or(0, |p| p.next)
            )
        } else {
            below.join("; ")
        },
    ));
    out.push(match answered.first() {
        Some(p) => {
            let ok = p.answer.is_some_and(|a| v.rel_ack(a) == p.next);
            let calls = p.answer.map_or(0, |a| {
                v.run
                    .events
                    .iter()
                    .filter(|e| e.role == Role::Server && e.start < a.ts && e.end > p.pkt.ts)
                    .filter(|e| matches!(e.call.as_str(), "read" | "write" | "send" | "recv"))
                    .count()
            });
            Check::new(
                ok && calls == 0,
                "the server's kernel answers the probe with an ACK of the client's next SEQ; its program does no I/O",
                match p.answer {
                    Some(a) => format!(
                        "frame {} answers frame {} with ack {}; {calls} read/write calls meanwhile",
                        a.index + 1,
                        p.pkt.index + 1,
                        v.rel_ack(a)
                    ),
                    None => format!("frame {} got no answer", p.pkt.index + 1),
                },
            )
        }
        None => Check::missing(
            "the server's kernel answers a probe",
            "no probe before the server fell silent",
        ),
    });

    let gaps: Vec<i128> = s
        .probes
        .windows(2)
        .filter(|w| w[1].silent)
        .map(|w| w[1].pkt.ts - w[0].pkt.ts)
        .collect();
    let unanswered = silent.iter().all(|p| p.answer.is_none());
    out.push(Check::new(
        silent.len() == CNT as usize
            && unanswered
            && gaps.iter().all(|&g| g >= INTVL as i128 * SEC - TICK),
        format!(
            "to the silent server, TCP_KEEPCNT ({CNT}) probes TCP_KEEPINTVL ({INTVL} s) apart, none answered"
        ),
        format!(
            "{} unanswered probe(s) of {}: frames {}; gaps {}",
            silent.iter().filter(|p| p.answer.is_none()).count(),
            silent.len(),
            silent
                .iter()
                .map(|p| (p.pkt.index + 1).to_string())
                .collect::<Vec<_>>()
                .join(", "),
            gaps.iter().map(|&g| secs(g)).collect::<Vec<_>>().join(", ")
        ),
    ));

    let read = blocked_read(v);
    out.push(match (s.rst, silent.last(), read) {
        (Some(r), Some(last), Some(e)) => {
            let gap = r.ts - last.pkt.ts;
            // The RST and the error leave together, but the capture stamps the RST on lo's
            // receive path, which may run after the woken read() has returned: no order.
            let ok = gap >= INTVL as i128 * SEC - TICK
                && v.rel_seq(r) == last.next
                && e.errno.as_deref() == Some("ETIMEDOUT");
            Check::new(
                ok,
                "one interval after the last probe the client's kernel gives up: RST at its next SEQ, and the blocked read() returns -1 ETIMEDOUT",
                format!(
                    "RST in frame {} ({} after frame {}, seq {}); read() = {}",
                    r.index + 1,
                    secs(gap),
                    last.pkt.index + 1,
                    v.rel_seq(r),
                    e.errno.as_deref().map_or_else(
                        || e.ret.unwrap_or(0).to_string(),
                        |n| format!("-1 {n}")
                    )
                ),
            )
        }
        _ => Check::missing(
            "the client's kernel gives up: RST, and read() fails with ETIMEDOUT",
            "no RST, no unanswered probe, or no blocked read()",
        ),
    });
    let counts = drop_counts(v);
    let (before, after) = (counts.first().copied(), counts.last().copied());
    let state = server_state(v);
    out.push(Check::new(
        before.zip(after).is_some_and(|(b, a)| a.wrapping_sub(b) == CNT as u32 + 1)
            && state == Some("ESTABLISHED"),
        "the server's kernel dropped the probes and the RST, so its socket is still ESTABLISHED (half-open)",
        format!(
            "SO_MEMINFO drops {} → {}; the kernel says {}",
            before.map_or("?".into(), |n| n.to_string()),
            after.map_or("?".into(), |n| n.to_string()),
            state.unwrap_or("nothing")
        ),
    ));
    out.push(match (s.fin, s.reply) {
        (Some(fin), Some(r)) => {
            let t = r.tcp.as_ref();
            let ok = t.is_some_and(|t| !t.has(f::ACK))
                && fin.tcp.as_ref().map(|x| x.ack) == t.map(|t| t.seq);
            Check::new(
                ok,
                "the server's FIN reaches a connection the client's kernel has forgotten: it answers RST (SEQ = the FIN's ACK)",
                format!("FIN in frame {}, RST in frame {}", fin.index + 1, r.index + 1),
            )
        }
        (fin, _) => Check::missing(
            "the server's FIN is answered by RST",
            if fin.is_some() { "no RST after the FIN" } else { "no FIN from the server" },
        ),
    });
    let mut unlabelled: Vec<usize> = s
        .probes
        .iter()
        .filter(|p| !p.pkt.findings().has(Findings::KEEP_ALIVE))
        .map(|p| p.pkt.index + 1)
        .collect();
    let answers: Vec<&Pkt> = s.probes.iter().filter_map(|p| p.answer).collect();
    unlabelled.extend(
        answers
            .iter()
            .filter(|a| !a.findings().has(Findings::KEEP_ALIVE_ACK))
            .map(|a| a.index + 1),
    );
    out.push(Check::new(
        !s.probes.is_empty() && unlabelled.is_empty(),
        "Wireshark's analysis calls each probe \"TCP Keep-Alive\" and the answer \"TCP Keep-Alive ACK\"",
        if unlabelled.is_empty() {
            format!("{} probes, {} answer(s)", s.probes.len(), answers.len())
        } else {
            format!("not labelled so: frames {unlabelled:?}")
        },
    ));
    if let Ok(c) = checks::first_tcp(v) {
        out.push(checks::reads_match_writes(v, c, Dir::ToServer));
        out.push(checks::reads_match_writes(v, c, Dir::ToClient));
    }
    out.push(checks::acks_match_next_seq(v));
    out
}
