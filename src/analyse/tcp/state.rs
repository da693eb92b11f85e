//! The TCP state of each endpoint of a conversation (RFC 9293's state diagram), inferred from
//! the segments alone, as a passive observer sees them on the wire.
//!
//! Each segment moves its sender as sending it would (a SYN: SYN_SENT; a FIN: FIN_WAIT_1 or
//! LAST_ACK) and its receiver as receiving it would (an ACK of its FIN: FIN_WAIT_2; a FIN:
//! CLOSE_WAIT or TIME_WAIT), in that order; a RST closes both from any state. The observer sits
//! between the two, so "sent" and "received" are the same moment here (exact on loopback).
//!
//! A capture that starts mid-connection leaves both states [`TcpState::Unknown`] until a
//! segment proves one: a SYN or SYN/ACK; a RST; new data sent each way (no FIN can have been
//! sent before it, so both are ESTABLISHED); a FIN answered by a FIN that acknowledges it
//! (LAST_ACK and TIME_WAIT). A plain ACK proves nothing (ESTABLISHED, CLOSE_WAIT and
//! FIN_WAIT_2 all send them), and neither does a FIN while the peer's state is unknown (its
//! sender may be closing first, FIN_WAIT_1, or last, LAST_ACK).
//!
//! Memory: one byte per endpoint (the state in the low nibble, two flags above).

use crate::analyse::flags::{ACK, FIN, RST, SYN};

/// A TCP endpoint's state. `Unknown`: no segment has shown it yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpState {
    #[default]
    Unknown = 0,
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl TcpState {
    const ALL: [TcpState; 12] = [
        TcpState::Unknown,
        TcpState::Closed,
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::SynReceived,
        TcpState::Established,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::Closing,
        TcpState::LastAck,
        TcpState::TimeWait,
    ];

    /// The RFC's name with underscores (`FIN_WAIT_1`); `?` for unknown.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Unknown => "?",
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynReceived => "SYN_RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait1 => "FIN_WAIT_1",
            TcpState::FinWait2 => "FIN_WAIT_2",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
        }
    }

    /// The state a kernel name stands for (`/proc/net/tcp` and `ss` spell some differently:
    /// `SYN_RECV`, `FIN_WAIT1`, `FIN_WAIT2`).
    pub fn from_kernel_name(name: &str) -> Option<TcpState> {
        let s = match name {
            "SYN_RECV" => TcpState::SynReceived,
            "FIN_WAIT1" => TcpState::FinWait1,
            "FIN_WAIT2" => TcpState::FinWait2,
            _ => return Self::ALL[1..].iter().copied().find(|s| s.name() == name),
        };
        Some(s)
    }

    /// This endpoint has sent its FIN.
    fn fin_sent(self) -> bool {
        matches!(
            self,
            TcpState::FinWait1
                | TcpState::FinWait2
                | TcpState::Closing
                | TcpState::LastAck
                | TcpState::TimeWait
        )
    }
}

/// One endpoint's change of state on a segment. `from` may be [`TcpState::Unknown`] (the
/// first evidence of its state) or [`TcpState::Listen`] (a SYN/ACK answering a SYN was sent
/// by a listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: TcpState,
    pub to: TcpState,
    /// The endpoint is the client (it sent the first SYN); None when no SYN was seen.
    pub client: Option<bool>,
}

/// The transitions a segment caused: of its sender and of its receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transitions {
    pub sender: Option<Transition>,
    pub receiver: Option<Transition>,
}

impl Transitions {
    pub fn is_empty(&self) -> bool {
        self.sender.is_none() && self.receiver.is_none()
    }
}

/// What the state machine needs to know about a segment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SegFacts {
    pub flags: u16,
    /// Payload bytes.
    pub len: u32,
    /// The segment's ACK covers a FIN its receiver sent (the conversation knows the FIN's
    /// sequence number; the state machine does not keep it).
    pub acks_fin: bool,
}

const STATE_MASK: u8 = 0x0F;
/// The endpoint sent the first SYN.
const CLIENT: u8 = 0x80;
/// The endpoint sent new data while its state was unknown.
const SENT_DATA: u8 = 0x40;

/// The states of both endpoints of one conversation, indexed by direction (0: the endpoint
/// that sends direction-0 segments).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStates([u8; 2]);

impl TcpStates {
    pub fn state(&self, endpoint: usize) -> TcpState {
        TcpState::ALL[usize::from(self.0[endpoint & 1] & STATE_MASK)]
    }

    fn set(&mut self, endpoint: usize, s: TcpState) {
        let b = &mut self.0[endpoint & 1];
        *b = (*b & !STATE_MASK) | s as u8;
    }

    fn role(&self, endpoint: usize) -> Option<bool> {
        let any = (self.0[0] | self.0[1]) & CLIENT != 0;
        any.then_some(self.0[endpoint & 1] & CLIENT != 0)
    }

    /// Moves both endpoints for a segment sent by endpoint `dir`; returns what changed.
    pub fn on_segment(&mut self, dir: usize, seg: SegFacts) -> Transitions {
        let (tx, rx) = (dir & 1, (dir & 1) ^ 1);
        let before = [self.state(0), self.state(1)];
        // What the sender's state must have been, when it was unknown.
        let mut sender_was = None;
        let has = |f: u16| seg.flags & f != 0;
        if has(RST) {
            // An RST from an endpoint never seen in a state (the answer to a SYN for a port
            // without a listener) says only that it has no connection: it stays unknown.
            if before[tx] != TcpState::Unknown {
                self.set(tx, TcpState::Closed);
            }
            self.set(rx, TcpState::Closed);
        } else if has(SYN) {
            sender_was = self.on_syn(tx, rx, has(ACK));
        } else {
            self.on_other(tx, rx, seg);
        }
        let change = |e: usize, was: Option<TcpState>| {
            let (from, to) = (before[e], self.state(e));
            (from != to).then(|| Transition {
                from: match (from, was) {
                    (TcpState::Unknown, Some(w)) => w,
                    _ => from,
                },
                to,
                client: self.role(e),
            })
        };
        Transitions {
            sender: change(tx, sender_was),
            receiver: change(rx, None),
        }
    }

    /// A SYN or SYN/ACK. Returns what an unknown sender must have been: CLOSED before its SYN,
    /// LISTEN before a SYN/ACK answering a SYN.
    fn on_syn(&mut self, tx: usize, rx: usize, ack: bool) -> Option<TcpState> {
        use TcpState::*;
        let (me, peer) = (self.state(tx), self.state(rx));
        if !ack {
            if matches!(me, Unknown | Closed) {
                self.set(tx, SynSent);
                if peer == Unknown {
                    self.0[tx] |= CLIENT;
                }
            }
            // A SYN reaching an endpoint that sent its own: simultaneous open.
            if peer == SynSent {
                self.set(rx, SynReceived);
            }
            return Some(Closed);
        }
        let listener = matches!(me, Unknown | Closed | Listen) && peer == SynSent;
        if matches!(me, Unknown | Closed | Listen | SynSent) {
            self.set(tx, SynReceived);
        }
        // A SYN/ACK acknowledges the receiver's SYN; one not seen means it was sent all the same.
        if matches!(peer, Unknown | SynSent | SynReceived) {
            self.set(rx, Established);
        }
        listener.then_some(Listen)
    }

    /// A segment without SYN or RST: the sender's FIN, then the receiver taking in the ACK and
    /// the FIN.
    fn on_other(&mut self, tx: usize, rx: usize, seg: SegFacts) {
        use TcpState::*;
        let (fin, ack) = (seg.flags & FIN != 0, seg.flags & ACK != 0);
        let peer = self.state(rx);
        // The sender.
        let me = self.state(tx);
        let sent = match me {
            // It ACKs: so it got the SYN/ACK (not captured).
            SynSent if ack => Established,
            Unknown if fin && seg.acks_fin => LastAck,
            Unknown if fin && peer != Unknown => {
                if peer.fin_sent() {
                    Closing
                } else {
                    FinWait1
                }
            }
            Established | SynReceived if fin => FinWait1,
            // A FIN that does not acknowledge the peer's FIN crossed it (simultaneous close):
            // sent in ESTABLISHED (FIN_WAIT_1), and then the peer's FIN arrived: CLOSING. The
            // observer saw the peer's FIN first and had counted it received (CLOSE_WAIT).
            CloseWait if fin && !seg.acks_fin => Closing,
            CloseWait if fin => LastAck,
            s => s,
        };
        self.set(tx, sent);
        if me == Unknown && sent == Unknown && !fin && seg.len > 1 {
            self.0[tx] |= SENT_DATA;
            if peer == Unknown && self.0[rx] & SENT_DATA != 0 {
                self.set(tx, Established);
                self.set(rx, Established);
                return;
            }
        }
        // The receiver: first the ACK, then the FIN.
        let mut r = peer;
        if ack {
            r = match r {
                SynReceived => Established,
                FinWait1 if seg.acks_fin => FinWait2,
                Closing if seg.acks_fin => TimeWait,
                LastAck if seg.acks_fin => Closed,
                s => s,
            };
        }
        if fin {
            r = match r {
                Established | SynReceived => CloseWait,
                FinWait1 => Closing,
                FinWait2 => TimeWait,
                // Its FIN is acknowledged by this FIN: it was in FIN_WAIT_2.
                Unknown if seg.acks_fin => TimeWait,
                s => s,
            };
        }
        self.set(rx, r);
    }
}

#[cfg(test)]
mod tests {
    use super::TcpState::*;
    use super::*;

    const C: usize = 0;
    const S: usize = 1;
    const A: u16 = ACK;
    const FA: u16 = FIN | ACK;
    const SA: u16 = SYN | ACK;
    const RA: u16 = RST | ACK;

    fn seg(flags: u16) -> SegFacts {
        SegFacts {
            flags,
            ..SegFacts::default()
        }
    }
    fn data(len: u32) -> SegFacts {
        SegFacts {
            flags: A,
            len,
            acks_fin: false,
        }
    }
    fn acking_fin(flags: u16) -> SegFacts {
        SegFacts {
            flags,
            len: 0,
            acks_fin: true,
        }
    }

    /// Feeds (sender, segment) pairs and returns the (client, server) states after each.
    fn run(st: &mut TcpStates, segs: &[(usize, SegFacts)]) -> Vec<(TcpState, TcpState)> {
        segs.iter()
            .map(|&(d, s)| {
                st.on_segment(d, s);
                (st.state(C), st.state(S))
            })
            .collect()
    }

    fn established() -> TcpStates {
        let mut st = TcpStates::default();
        run(&mut st, &[(C, seg(SYN)), (S, seg(SA)), (C, seg(A))]);
        assert_eq!((st.state(C), st.state(S)), (Established, Established));
        st
    }

    #[test]
    fn three_way_handshake_with_transitions() {
        let mut st = TcpStates::default();
        let t = st.on_segment(C, seg(SYN));
        let syn_sent = Transition {
            from: Closed,
            to: SynSent,
            client: Some(true),
        };
        assert_eq!(t.sender, Some(syn_sent));
        assert_eq!(t.receiver, None);
        let t = st.on_segment(S, seg(SA));
        assert_eq!(
            t.sender,
            Some(Transition {
                from: Listen,
                to: SynReceived,
                client: Some(false)
            })
        );
        assert_eq!(
            t.receiver.map(|t| (t.from, t.to)),
            Some((SynSent, Established))
        );
        let t = st.on_segment(C, seg(A));
        assert_eq!(t.sender, None);
        assert_eq!(
            t.receiver.map(|t| (t.from, t.to)),
            Some((SynReceived, Established))
        );
        // Data changes nothing.
        assert!(st.on_segment(C, data(100)).is_empty());
        assert!(st.on_segment(S, data(100)).is_empty());
    }

    #[test]
    fn simultaneous_open() {
        let mut st = TcpStates::default();
        let states = run(
            &mut st,
            &[(C, seg(SYN)), (S, seg(SYN)), (C, seg(SA)), (S, seg(SA))],
        );
        assert_eq!(
            states,
            vec![
                (SynSent, Unknown),
                (SynReceived, SynSent),
                (SynReceived, Established),
                (Established, Established),
            ]
        );
        // The other order of SYN/ACKs: each sends its own after its SYN_SENT got the SYN.
        let mut st = TcpStates::default();
        let states = run(
            &mut st,
            &[(C, seg(SYN)), (S, seg(SYN)), (S, seg(SA)), (C, seg(SA))],
        );
        assert_eq!(states[2], (Established, SynReceived));
        assert_eq!(states[3], (Established, Established));
    }

    #[test]
    fn active_and_passive_close_in_four_segments() {
        let mut st = established();
        let states = run(
            &mut st,
            &[
                (C, seg(FA)),
                (S, acking_fin(A)),
                (S, acking_fin(FA)),
                (C, acking_fin(A)),
            ],
        );
        assert_eq!(
            states,
            vec![
                (FinWait1, CloseWait),
                (FinWait2, CloseWait),
                (TimeWait, LastAck),
                (TimeWait, Closed),
            ]
        );
    }

    #[test]
    fn close_in_three_segments_fin_carries_the_ack() {
        let mut st = established();
        let t = run(&mut st, &[(C, seg(FA)), (S, acking_fin(FA))]);
        assert_eq!(t[1], (TimeWait, LastAck));
        let tr = st.on_segment(C, acking_fin(A));
        assert_eq!(tr.receiver.map(|t| (t.from, t.to)), Some((LastAck, Closed)));
    }

    #[test]
    fn simultaneous_close() {
        let mut st = established();
        let states = run(
            &mut st,
            &[
                (C, seg(FA)),
                // The server's FIN crosses the client's: it does not ACK it.
                (S, seg(FA)),
                (C, acking_fin(A)),
                (S, acking_fin(A)),
            ],
        );
        assert_eq!(
            states,
            vec![
                (FinWait1, CloseWait),
                // Both FINs were sent before either arrived: both CLOSING.
                (Closing, Closing),
                (Closing, TimeWait),
                (TimeWait, TimeWait),
            ]
        );
    }

    #[test]
    fn half_close_then_data_then_close() {
        let mut st = established();
        let states = run(
            &mut st,
            &[
                (C, seg(FA)),
                (S, acking_fin(A)),
                (S, data(500)),
                (C, acking_fin(A)),
                (S, acking_fin(FA)),
                (C, acking_fin(A)),
            ],
        );
        assert_eq!(states[2], (FinWait2, CloseWait));
        assert_eq!(states[5], (TimeWait, Closed));
    }

    #[test]
    fn rst_closes_both_from_every_state() {
        type Case = (Vec<(usize, SegFacts)>, (TcpState, TcpState));
        let prefixes: Vec<Case> = vec![
            (vec![], (Unknown, Unknown)),
            (vec![(C, seg(SYN))], (SynSent, Unknown)),
            (
                vec![(C, seg(SYN)), (S, seg(SA))],
                (Established, SynReceived),
            ),
            (
                vec![(C, seg(SYN)), (S, seg(SA)), (C, seg(A))],
                (Established, Established),
            ),
            (
                vec![(C, seg(SYN)), (S, seg(SA)), (C, seg(A)), (C, seg(FA))],
                (FinWait1, CloseWait),
            ),
            (
                vec![
                    (C, seg(SYN)),
                    (S, seg(SA)),
                    (C, seg(A)),
                    (C, seg(FA)),
                    (S, acking_fin(A)),
                ],
                (FinWait2, CloseWait),
            ),
            (
                vec![
                    (C, seg(SYN)),
                    (S, seg(SA)),
                    (C, seg(A)),
                    (C, seg(FA)),
                    (S, seg(FA)),
                ],
                (Closing, Closing),
            ),
            (
                vec![
                    (C, seg(SYN)),
                    (S, seg(SA)),
                    (C, seg(A)),
                    (C, seg(FA)),
                    (S, acking_fin(FA)),
                ],
                (TimeWait, LastAck),
            ),
        ];
        for (prefix, want) in prefixes {
            for sender in [C, S] {
                let mut st = TcpStates::default();
                run(&mut st, &prefix);
                assert_eq!((st.state(C), st.state(S)), want, "{prefix:?}");
                let t = st.on_segment(sender, seg(RA));
                let from = |e: usize| if e == C { want.0 } else { want.1 };
                // The receiver is CLOSED whatever it was; so is the sender, when it was known.
                assert_eq!(st.state(sender ^ 1), Closed, "{want:?}");
                assert_eq!(t.receiver.map(|t| t.from), Some(from(sender ^ 1)));
                if from(sender) == Unknown {
                    assert_eq!((st.state(sender), t.sender), (Unknown, None));
                } else {
                    assert_eq!(st.state(sender), Closed, "{want:?}");
                    assert_eq!(t.sender.map(|t| t.from), Some(from(sender)));
                }
            }
        }
        // Refused: SYN, RST/ACK.
        let mut st = TcpStates::default();
        st.on_segment(C, seg(SYN));
        let t = st.on_segment(S, seg(RA));
        assert_eq!(t.receiver.map(|t| (t.from, t.to)), Some((SynSent, Closed)));
        assert_eq!(t.sender, None);
        // A second RST changes nothing.
        assert!(st.on_segment(S, seg(RST)).is_empty());
    }

    #[test]
    fn mid_connection_capture_waits_for_evidence() {
        let mut st = TcpStates::default();
        // ACKs and one-way data: no evidence.
        assert!(st.on_segment(C, data(100)).is_empty());
        assert!(st.on_segment(S, seg(A)).is_empty());
        assert!(st.on_segment(C, data(100)).is_empty());
        assert_eq!((st.state(C), st.state(S)), (Unknown, Unknown));
        // Data the other way: neither can have sent a FIN, both ESTABLISHED.
        let t = st.on_segment(S, data(50));
        assert_eq!(
            t.sender.map(|t| (t.from, t.to)),
            Some((Unknown, Established))
        );
        assert_eq!(t.receiver.map(|t| t.to), Some(Established));
        assert_eq!(t.sender.unwrap().client, None);
        // From there on, the usual close.
        st.on_segment(S, seg(FA));
        assert_eq!((st.state(C), st.state(S)), (CloseWait, FinWait1));
    }

    #[test]
    fn mid_connection_close_is_known_once_a_fin_acks_a_fin() {
        let mut st = TcpStates::default();
        // A FIN while the peer is unknown: FIN_WAIT_1 or LAST_ACK, so still unknown.
        assert!(st.on_segment(C, seg(FA)).is_empty());
        assert!(st.on_segment(S, acking_fin(A)).is_empty());
        // The server's FIN acknowledges the client's: it was in CLOSE_WAIT, the client in
        // FIN_WAIT_2.
        let t = st.on_segment(S, acking_fin(FA));
        assert_eq!(t.sender.map(|t| (t.from, t.to)), Some((Unknown, LastAck)));
        assert_eq!(
            t.receiver.map(|t| (t.from, t.to)),
            Some((Unknown, TimeWait))
        );
        st.on_segment(C, acking_fin(A));
        assert_eq!((st.state(C), st.state(S)), (TimeWait, Closed));
    }

    #[test]
    fn syn_ack_first_seen_without_its_syn() {
        let mut st = TcpStates::default();
        let t = st.on_segment(S, seg(SA));
        assert_eq!(
            t.sender.map(|t| (t.from, t.to)),
            Some((Unknown, SynReceived))
        );
        assert_eq!(
            t.receiver.map(|t| (t.from, t.to)),
            Some((Unknown, Established))
        );
        st.on_segment(C, seg(A));
        assert_eq!((st.state(C), st.state(S)), (Established, Established));
    }

    #[test]
    fn retransmissions_change_nothing() {
        let mut st = TcpStates::default();
        st.on_segment(C, seg(SYN));
        assert!(st.on_segment(C, seg(SYN)).is_empty());
        let mut st = established();
        st.on_segment(C, seg(FA));
        assert!(st.on_segment(C, seg(FA)).is_empty());
        st.on_segment(S, acking_fin(FA));
        // TIME_WAIT answers a retransmitted FIN with an ACK and stays.
        assert!(st.on_segment(S, acking_fin(FA)).is_empty());
        st.on_segment(C, acking_fin(A));
        assert!(st.on_segment(C, acking_fin(A)).is_empty());
        assert_eq!((st.state(C), st.state(S)), (TimeWait, Closed));
    }

    #[test]
    fn names_and_kernel_names() {
        assert_eq!(FinWait1.name(), "FIN_WAIT_1");
        assert_eq!(TcpState::from_kernel_name("FIN_WAIT2"), Some(FinWait2));
        assert_eq!(TcpState::from_kernel_name("SYN_RECV"), Some(SynReceived));
        assert_eq!(TcpState::from_kernel_name("TIME_WAIT"), Some(TimeWait));
        assert_eq!(TcpState::from_kernel_name("?"), None);
        assert_eq!(std::mem::size_of::<TcpStates>(), 2);
    }
}
