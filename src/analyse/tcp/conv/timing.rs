//! Waits a learner wonders about, named only where the segments show the cause:
//!
//! * **delayed ACK**: a pure ACK of everything the peer sent, 30–500 ms after the peer's data
//!   (or FIN), with nothing in between (Linux waits 40 to 200 ms, bounded by the RTT, so 40 ms
//!   on loopback; RFC 1122: < 500 ms);
//! * **Nagle**: a small new segment (< 536 bytes, less than any MSS) sent within 2 ms of a
//!   pure ACK that acknowledged all the sender's data, ≥ 10 ms after its previous data: it was
//!   held until the data in flight was ACKed. The wait is counted from the previous data;
//! * **retransmission timeout**: a retransmission ≥ 200 ms (Linux's minimum RTO) after the
//!   last segment either way, that follows another re-send or is not of the last segment
//!   sent; a **tail-loss probe**: the first re-send of the sender's last segment, 10–200 ms
//!   after. The first re-send of the last segment ≥ 200 ms after is either (Linux's probe
//!   waits 2·SRTT + 200 ms when one segment is in flight): named as both;
//! * **zero-window probe**: Wireshark's zero-window probe, or Linux's (a keep-alive-shaped
//!   segment, one byte below the next sequence number, while the peer's window is 0); the wait
//!   is the time since the last segment either way;
//! * **TIME_WAIT**: a segment that put an endpoint in TIME_WAIT (no wait measured: its end is
//!   not on the wire).
//!
//! Reads the conversation as it was before the segment (times of each flow's last segment and
//! of its highest data), so it costs no memory of its own.

use super::{Conv, Flow, Seg};
use crate::analyse::flags::{ACK, FIN, RST, SYN};
use crate::analyse::tcp::state::TcpState;
use crate::analyse::{Findings, TcpVerdict};

const MS: i128 = 1_000_000;
const DELAYED_ACK_MIN: i128 = 30 * MS;
const DELAYED_ACK_MAX: i128 = 500 * MS;
/// Linux's minimum retransmission timeout (TCP_RTO_MIN).
const RTO_MIN: i128 = 200 * MS;
/// Linux's minimum tail-loss probe timeout.
const TLP_MIN: i128 = 10 * MS;
/// Below every MSS (RFC 9293's default send MSS for IPv4 is 536).
const SMALL: u32 = 536;
const NAGLE_RELEASE_MAX: i128 = 2 * MS;
const NAGLE_WAIT_MIN: i128 = 10 * MS;
/// Findings that mark a segment as something else than new data or a new ACK.
const NOT_NEW: u32 = Findings::RETRANSMISSION
    | Findings::FAST_RETRANSMISSION
    | Findings::SPURIOUS_RETRANSMISSION
    | Findings::OUT_OF_ORDER
    | Findings::DUPLICATE_ACK
    | Findings::WINDOW_UPDATE
    | Findings::KEEP_ALIVE
    | Findings::KEEP_ALIVE_ACK
    | Findings::ZERO_WINDOW_PROBE
    | Findings::ZERO_WINDOW_PROBE_ACK;

/// What a wait was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitKind {
    DelayedAck,
    Nagle,
    RetransmissionTimeout,
    TailLossProbe,
    /// The first re-send of the last segment, ≥ 200 ms later: Linux's tail-loss probe (2·SRTT
    /// + 200 ms when one segment is in flight) and a retransmission timeout look alike.
    ProbeOrTimeout,
    ZeroWindowProbe,
    TimeWait,
}

impl WaitKind {
    /// JSON name.
    pub fn key(self) -> &'static str {
        match self {
            WaitKind::DelayedAck => "delayed_ack",
            WaitKind::Nagle => "nagle",
            WaitKind::RetransmissionTimeout => "retransmission_timeout",
            WaitKind::TailLossProbe => "tail_loss_probe",
            WaitKind::ProbeOrTimeout => "tail_loss_probe_or_timeout",
            WaitKind::ZeroWindowProbe => "zero_window_probe",
            WaitKind::TimeWait => "time_wait",
        }
    }

    /// What it means, for a learner.
    pub fn explain(self) -> &'static str {
        match self {
            WaitKind::DelayedAck => {
                "delayed ACK (the receiver waited for more data before acknowledging)"
            }
            WaitKind::Nagle => {
                "Nagle (this small segment was held until the data in flight was ACKed)"
            }
            WaitKind::RetransmissionTimeout => {
                "retransmission timeout (no ACK came, so the sender sent it again)"
            }
            WaitKind::TailLossProbe => {
                "tail-loss probe (the last segment sent again to draw an ACK, before the timeout)"
            }
            WaitKind::ProbeOrTimeout => {
                "tail-loss probe or retransmission timeout (the last segment sent again; Linux probes first, ~200 ms after it when it is the only one in flight)"
            }
            WaitKind::ZeroWindowProbe => {
                "zero-window probe (the sender asks whether the receiver's window has opened)"
            }
            WaitKind::TimeWait => {
                "TIME_WAIT: 60 s on Linux (a constant; RFC 793's 2 × MSL would be 4 min) before the connection is forgotten"
            }
        }
    }
}

/// A named wait before a segment: `ns` is how long (None for TIME_WAIT, whose length is not
/// on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub kind: WaitKind,
    pub ns: Option<u64>,
}

/// The conversation as it was before a segment: what the rules read.
pub(super) struct Before {
    fwd: Last,
    rev: Last,
}

#[derive(Clone, Copy)]
struct Last {
    /// A segment was seen in this direction.
    seen: bool,
    /// Time of its last segment, and of the last one that advanced `nextseq`.
    time: i128,
    data_time: i128,
    nextseq: u32,
    /// The ACK number and findings of its last segment; the last window it advertised.
    lastack: u32,
    findings: Findings,
    window: u32,
}

impl Last {
    fn of(f: &Flow) -> Last {
        Last {
            seen: f.window != u32::MAX,
            time: f.lastack_time,
            data_time: f.nextseq_time,
            nextseq: f.nextseq,
            lastack: f.lastack,
            findings: f.last_findings,
            window: f.window,
        }
    }

    /// Its last segment advanced its sequence numbers (data, SYN or FIN).
    fn carried_data(&self) -> bool {
        self.nextseq != 0 && self.data_time == self.time
    }

    /// Its last segment was a new ACK without data: it did not advance the sequence numbers,
    /// and was not a retransmission, probe or duplicate.
    fn new_pure_ack(&self) -> bool {
        !self.carried_data() && !self.findings.has(NOT_NEW)
    }
}

impl Before {
    pub(super) fn of(c: &Conv, dir: usize) -> Before {
        Before {
            fwd: Last::of(&c.flows[dir & 1]),
            rev: Last::of(&c.flows[(dir & 1) ^ 1]),
        }
    }

    /// The wait before `s`, given the verdict (findings, state transitions) on it.
    pub(super) fn wait(&self, s: &Seg, v: &TcpVerdict) -> Option<Wait> {
        let f = v.findings;
        let into_time_wait = [v.states.sender, v.states.receiver]
            .iter()
            .flatten()
            .any(|t| t.to == TcpState::TimeWait);
        let measured = self.measured(s, f);
        match measured {
            Some((kind, ns)) => Some(Wait {
                kind,
                ns: u64::try_from(ns).ok(),
            }),
            None if into_time_wait => Some(Wait {
                kind: WaitKind::TimeWait,
                ns: None,
            }),
            None => None,
        }
    }

    fn measured(&self, s: &Seg, f: Findings) -> Option<(WaitKind, i128)> {
        let (fwd, rev) = (&self.fwd, &self.rev);
        if s.time == 0 || !(fwd.seen || rev.seen) {
            return None;
        }
        let prev = match (fwd.seen, rev.seen) {
            (true, true) => fwd.time.max(rev.time),
            (true, false) => fwd.time,
            _ => rev.time,
        };
        if prev == 0 {
            // The earlier segments had no timestamps: nothing to measure from.
            return None;
        }
        let since = s.time - prev;
        // The previous segment of the conversation came from the peer.
        let prev_is_rev = rev.seen && (!fwd.seen || rev.time > fwd.time);
        if f.has(Findings::ZERO_WINDOW_PROBE) || (f.has(Findings::KEEP_ALIVE) && rev.window == 0) {
            return Some((WaitKind::ZeroWindowProbe, since));
        }
        if f.has(Findings::RETRANSMISSION) || f.has(Findings::SPURIOUS_RETRANSMISSION) {
            let end = s
                .seq
                .wrapping_add(s.len)
                .wrapping_add(u32::from(s.has(SYN | FIN)));
            // A probe re-sends the last segment, once, on an open connection.
            let last = end == fwd.nextseq && !s.has(SYN);
            let again = fwd
                .findings
                .has(Findings::RETRANSMISSION | Findings::SPURIOUS_RETRANSMISSION);
            let kind = if since >= RTO_MIN {
                if last && !again {
                    WaitKind::ProbeOrTimeout
                } else {
                    WaitKind::RetransmissionTimeout
                }
            } else if since >= TLP_MIN && last && !again {
                WaitKind::TailLossProbe
            } else {
                return None;
            };
            return Some((kind, since));
        }
        let plain = s.flags & (SYN | FIN | RST) == 0 && s.has(ACK);
        if plain
            && s.len == 0
            && prev_is_rev
            && rev.carried_data()
            && s.ack == rev.nextseq
            && (DELAYED_ACK_MIN..=DELAYED_ACK_MAX).contains(&since)
        {
            return Some((WaitKind::DelayedAck, since));
        }
        let held = s.time - fwd.data_time;
        if plain
            && s.len > 0
            && s.len < SMALL
            && fwd.seen
            && prev_is_rev
            && rev.new_pure_ack()
            && rev.lastack == fwd.nextseq
            && s.seq == fwd.nextseq
            && since <= NAGLE_RELEASE_MAX
            && fwd.data_time < rev.time
            && held >= NAGLE_WAIT_MIN
        {
            return Some((WaitKind::Nagle, held));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::{Wait, WaitKind};
    use crate::analyse::flags::{ACK, FIN, PSH, SYN};
    use crate::analyse::tcp::TcpAnalyser;
    use crate::analyse::TcpSegment;

    const US: i128 = 1_000;
    const T0: i128 = 1_700_000_000 * 1_000_000_000;
    const C: bool = true;
    const S: bool = false;
    const C_ISN: u32 = 1000;
    const S_ISN: u32 = 5000;

    /// A connection whose segments are given by relative seq/ack and a time in µs.
    struct Conn(TcpAnalyser);

    impl Conn {
        /// Handshake at t = 0, 10, 20 µs.
        fn open() -> Conn {
            let mut c = Conn(TcpAnalyser::new());
            c.send(0, C, 0, 0, SYN, 0);
            c.send(10, S, 0, 1, SYN | ACK, 0);
            c.send(20, C, 1, 1, ACK, 0);
            c
        }

        fn send(
            &mut self,
            t_us: i128,
            client: bool,
            seq: u32,
            ack: u32,
            flags: u16,
            len: u32,
        ) -> Option<Wait> {
            let (c, s) = (
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            );
            let (src, dst, sport, dport, isn, peer) = if client {
                (c, s, 40000, 80, C_ISN, S_ISN)
            } else {
                (s, c, 80, 40000, S_ISN, C_ISN)
            };
            let v = self.0.observe(&TcpSegment {
                frame: 0,
                time: Some(T0 + t_us * US),
                src,
                dst,
                sport,
                dport,
                seq: isn.wrapping_add(seq),
                ack: if flags & ACK != 0 {
                    peer.wrapping_add(ack)
                } else {
                    0
                },
                flags,
                win: 65535,
                len,
                options: &[],
            });
            v.wait
        }
    }

    fn kind(w: Option<Wait>) -> Option<(WaitKind, Option<u64>)> {
        w.map(|w| (w.kind, w.ns.map(|n| n / 100_000)))
    }

    #[test]
    fn delayed_ack_then_nagle() {
        let mut c = Conn::open();
        // 4 bytes, ACKed 40.2 ms later with nothing between: a delayed ACK.
        assert_eq!(c.send(100, C, 1, 1, PSH | ACK, 4), None);
        let w = c.send(40_300, S, 1, 5, ACK, 0);
        assert_eq!(kind(w), Some((WaitKind::DelayedAck, Some(402))));
        // The next small write leaves 30 µs after that ACK: Nagle held it 40.23 ms.
        let w = c.send(40_330, C, 5, 1, PSH | ACK, 8);
        assert_eq!(kind(w), Some((WaitKind::Nagle, Some(402))));
        // An ACK 1 ms later is not delayed; a reply after the ACK is not Nagle's doing.
        assert_eq!(c.send(41_330, S, 1, 13, ACK, 0), None);
        assert_eq!(c.send(41_400, S, 1, 13, PSH | ACK, 2), None);
        assert_eq!(c.send(41_450, C, 13, 3, PSH | ACK, 4), None);
    }

    #[test]
    fn no_names_without_the_evidence() {
        let mut c = Conn::open();
        c.send(100, C, 1, 1, PSH | ACK, 4);
        // Something else in between: the server's data; its ACK later is not a delayed ACK.
        c.send(200, S, 1, 1, PSH | ACK, 4);
        assert_eq!(c.send(40_300, S, 5, 5, ACK, 0), None);
        // Too long for a delayed ACK (a second: the program was busy, or something else).
        c.send(40_400, C, 5, 5, PSH | ACK, 4);
        assert_eq!(c.send(1_040_400, S, 5, 9, ACK, 0), None);
        // A big segment after an ACK is not Nagle's (≥ 536 bytes).
        c.send(1_040_500, C, 9, 5, PSH | ACK, 4);
        c.send(1_080_500, S, 5, 13, ACK, 0);
        assert_eq!(c.send(1_080_520, C, 13, 5, ACK, 1000), None);
    }

    #[test]
    fn retransmission_timeout_and_tail_loss_probe() {
        let mut c = Conn::open();
        c.send(100, C, 1, 1, PSH | ACK, 6);
        // Re-sent 20 ms later, the last segment: a tail-loss probe.
        let w = c.send(20_100, C, 1, 1, PSH | ACK, 6);
        assert_eq!(kind(w), Some((WaitKind::TailLossProbe, Some(200))));
        // Then 210 ms of silence: the retransmission timeout.
        let w = c.send(230_100, C, 1, 1, PSH | ACK, 6);
        assert_eq!(kind(w), Some((WaitKind::RetransmissionTimeout, Some(2100))));
        // Linux on lo: the first copy after ~200 ms could be the probe or the timeout.
        let mut c = Conn::open();
        c.send(100, C, 1, 1, PSH | ACK, 6);
        let w = c.send(208_900, C, 1, 1, PSH | ACK, 6);
        assert_eq!(kind(w), Some((WaitKind::ProbeOrTimeout, Some(2088))));
        let w = c.send(416_900, C, 1, 1, PSH | ACK, 6);
        assert_eq!(kind(w), Some((WaitKind::RetransmissionTimeout, Some(2080))));
        // A SYN sent again after 1 s.
        let mut c = Conn(TcpAnalyser::new());
        c.send(0, C, 0, 0, SYN, 0);
        let w = c.send(1_000_000, C, 0, 0, SYN, 0);
        assert_eq!(
            kind(w),
            Some((WaitKind::RetransmissionTimeout, Some(10_000)))
        );
    }

    #[test]
    fn linux_zero_window_probe_and_time_wait() {
        let mut c = Conn::open();
        c.send(100, C, 1, 1, PSH | ACK, 100);
        // The server's window closes.
        let mut a = c;
        let zero = TcpSegment {
            frame: 0,
            time: Some(T0 + 200 * US),
            src: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            dst: IpAddr::V4(Ipv4Addr::LOCALHOST),
            sport: 80,
            dport: 40000,
            seq: S_ISN + 1,
            ack: C_ISN + 101,
            flags: ACK,
            win: 0,
            len: 0,
            options: &[],
        };
        a.0.observe(&zero);
        // Linux probes with seq = next − 1 and no data (Wireshark: keep-alive).
        let w = a.send(216_200, C, 100, 1, ACK, 0);
        assert_eq!(kind(w), Some((WaitKind::ZeroWindowProbe, Some(2160))));
        // A close: the FIN that puts the client in TIME_WAIT carries the note, unmeasured.
        let mut c = Conn::open();
        c.send(100, C, 1, 1, FIN | ACK, 0);
        let w = c.send(200, S, 1, 2, FIN | ACK, 0);
        assert_eq!(kind(w), Some((WaitKind::TimeWait, None)));
    }
}
