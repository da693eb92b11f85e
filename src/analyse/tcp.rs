//! TCP conversation tracking and sequence analysis, matching tshark 4.0 (packet-tcp.c with
//! `tcp.relative_sequence_numbers` and `tcp.analyze_sequence_numbers` on, all other
//! preferences at their defaults).
//!
//! # Streams (`tcp.stream`)
//! A conversation is the unordered pair of endpoints (address, port). Streams are numbered
//! from 0 in order of first appearance. As in Wireshark's `dissect_tcp`:
//! * a pure SYN whose sequence number differs from the ISN already recorded for its direction
//!   starts a NEW stream, flagged [`Findings::REUSED_PORTS`] ("TCP port numbers reused").
//!   Wireshark 4.0 does not look at whether the old connection was closed: only the ISN
//!   counts. A SYN with the same ISN is a retransmission and stays in the old stream;
//! * a SYN/ACK whose sequence number differs from the recorded ISN of its direction is flagged
//!   REUSED_PORTS too, and rebases that direction, without a new stream.
//!
//! # Relative numbers
//! Each direction's base is its SYN's ISN (relative seq 0 on the SYN), else the first
//! segment's seq - 1 (so the first segment seen shows seq 1). The first segment with the ACK
//! flag sets the other direction's base to ack - 1 if that direction has none yet (so it
//! shows ack 1). All arithmetic is mod 2^32.
//!
//! # Memory: a hard bound (a deliberate difference from tshark, which keeps everything)
//! Memory must not grow with the file, whatever the traffic:
//! * a finished conversation (an RST was seen, or a FIN was sent each way and each FIN was
//!   acknowledged) is kept, with its spare buffers given back, among the [`FINISHED_KEEP`]
//!   most recently finished ones; when one more finishes, the one that finished longest ago is
//!   forgotten. That is a window of seconds on a busy link (the benchmark's mixed traffic
//!   finishes ~360 conversations per second: ~3 s) and of minutes to hours on a quiet one, far
//!   longer than the late segments a finished connection still sees (a retransmitted FIN and
//!   its ACK, an RTO or two later; segments crossing an RST);
//! * at most [`MAX_CONVERSATIONS`] conversations are held. A new one at a full table makes a
//!   quarter go at once ([`super::bound`]): finished ones first, then those that never got
//!   through a handshake (a scan's or a flood's lone SYNs), then established ones, each class
//!   least recently seen first. Each open conversation forgotten so is counted
//!   ([`TcpAnalyser::evicted`]), since its later segments are then numbered and analysed
//!   differently from tshark's;
//! * the lists of segments sent but not yet acknowledged (up to 10,000 a direction, as
//!   Wireshark's) hold at most [`UNACKED_PER_CONVERSATION`] entries per conversation the table
//!   can hold, in all (32 MiB for a full table): past that, the largest lists are emptied
//!   until half is used. They only serve bytes in flight, which then differ from tshark's for
//!   a while; numbering and every other finding are unaffected. Only a capture that misses the
//!   ACKs of many bulk transfers at once gets there;
//! * a conversation of one segment is held as that segment ([`held::Lone`], about 100 bytes
//!   with its table slot), not as the full state (~400 bytes and a list of unacked segments).
//!
//! Stream numbers stay tshark's: a new conversation on a forgotten endpoint pair opens with a
//! SYN, which starts a new stream in tshark too (port reuse). What differs is only that such a
//! SYN is not flagged [`Findings::REUSED_PORTS`], and that a stray segment of a forgotten
//! conversation starts a new stream (tshark would put it in the old one, so every later
//! stream number is one more than tshark's) and is analysed as the first of it. A file with
//! at most [`FINISHED_KEEP`] finished conversations, or without late segments on forgotten
//! ones, and with no eviction, gets exactly tshark's numbering and analysis.
//!
//! # Timestamps
//! A segment without a timestamp is analysed at time 0, which is what tshark does
//! (`abs_ts` is zero): the time-based tests (fast retransmission within 20 ms, out-of-order
//! within the handshake RTT or 3 ms) then compare zero times.

mod conv;
mod held;
mod options;
mod seq;
pub mod state;
mod unacked;

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod tests;

use std::collections::hash_map::Entry;
use std::collections::VecDeque;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use self::conv::{Conv, Seg};
use self::held::{Held, Input, Lone, State};
use super::bound;
pub use super::bound::MAX_CONVERSATIONS;
use super::{Findings, TcpSegment, TcpVerdict};

pub use self::conv::timing::{Wait, WaitKind};
pub use self::options::{kind as option_kind, parse_options, MptcpOption, Options};
pub use self::options::{MAX_MPTCP, MAX_SACK_BLOCKS, MAX_UNKNOWN, MAX_WINDOW_SHIFT};

/// The most finished conversations (RST, or FIN both ways and acked) held at once; the one
/// that finished longest ago goes first.
pub const FINISHED_KEEP: usize = 1024;
/// Unacked-list entries (8 bytes each) held in all, per conversation the table holds: 64, so
/// 4,194,304 entries (32 MiB) for a full table. See the module docs.
pub const UNACKED_PER_CONVERSATION: usize = 64;
/// tshark prints `tcp.analysis.retransmission` for plain, fast and spurious retransmissions
/// alike; this tells whether a verdict would carry that field.
pub fn tshark_retransmission(f: Findings) -> bool {
    f.has(Findings::RETRANSMISSION)
        || f.has(Findings::FAST_RETRANSMISSION)
        || f.has(Findings::SPURIOUS_RETRANSMISSION)
}

/// One endpoint address as Wireshark orders them in `cmp_address`: type first, then bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Addr {
    v6: bool,
    bytes: [u8; 16],
}

impl Addr {
    fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => {
                let mut bytes = [0u8; 16];
                bytes[..4].copy_from_slice(&a.octets());
                Addr { v6: false, bytes }
            }
            IpAddr::V6(a) => Addr {
                v6: true,
                bytes: a.octets(),
            },
        }
    }
}

/// The unordered endpoint pair, stored as (flow-1 endpoint, flow-2 endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ConvKey {
    addr1: Addr,
    addr2: Addr,
    port1: u16,
    port2: u16,
}

impl ConvKey {
    /// The key and the direction index of `seg` (0: sent by the flow-1 endpoint).
    /// Wireshark (`get_tcp_conversation_data`): flow 1 is the sender when the source address
    /// compares >= the destination; equal addresses compare ports (sport > dport).
    fn of(seg: &TcpSegment) -> (Self, usize) {
        let (src, dst) = (Addr::of(seg.src), Addr::of(seg.dst));
        let sender_is_flow1 = match src.cmp(&dst) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => seg.sport > seg.dport,
        };
        if sender_is_flow1 {
            (
                ConvKey {
                    addr1: src,
                    addr2: dst,
                    port1: seg.sport,
                    port2: seg.dport,
                },
                0,
            )
        } else {
            (
                ConvKey {
                    addr1: dst,
                    addr2: src,
                    port1: seg.dport,
                    port2: seg.sport,
                },
                1,
            )
        }
    }
}

/// Numbers TCP streams and analyses every segment as tshark does. See the module docs.
#[derive(Debug)]
pub struct TcpAnalyser {
    convs: FxHashMap<ConvKey, Held>,
    next_stream: u64,
    /// Segments seen: the recency stamp of the conversations.
    clock: u64,
    /// The most conversations held ([`MAX_CONVERSATIONS`]).
    limit: usize,
    /// Open conversations forgotten because the table was full.
    evicted: u64,
    /// Scratch space of the eviction pass.
    scratch: Vec<u64>,
    /// Room of every unacked list held, in entries, and the most allowed.
    unacked: usize,
    unacked_budget: usize,
    /// Conversations whose unacked lists were emptied to stay within the budget.
    released: u64,
    /// Conversations of one segment are held as that segment (off only in a test).
    compact: bool,
    /// Conversations in the order they finished, as (key, stream); an entry whose key now
    /// holds another stream, or nothing, is stale and skipped. At most [`FINISHED_KEEP`].
    finished: VecDeque<(ConvKey, u64)>,
}

impl Default for TcpAnalyser {
    fn default() -> Self {
        Self::with_limit(MAX_CONVERSATIONS)
    }
}

impl TcpAnalyser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Holding at most `limit` conversations (at least 1) instead of [`MAX_CONVERSATIONS`].
    pub fn with_limit(limit: usize) -> Self {
        TcpAnalyser {
            convs: FxHashMap::default(),
            next_stream: 0,
            clock: 0,
            limit: limit.max(1),
            evicted: 0,
            scratch: Vec::new(),
            unacked: 0,
            released: 0,
            unacked_budget: limit.max(1).saturating_mul(UNACKED_PER_CONVERSATION),
            compact: true,
            finished: VecDeque::new(),
        }
    }

    /// An analyser that holds every conversation in full, to check that holding one segment
    /// instead changes nothing.
    #[cfg(test)]
    fn without_compaction() -> Self {
        TcpAnalyser {
            compact: false,
            ..Self::new()
        }
    }

    /// Analyses one TCP segment whose length is known; call once per segment in file order.
    /// Whether the option area was cut by the snaplen is guessed from the option walk
    /// running off the end of `seg.options`; [`TcpAnalyser::observe_with`] takes it exactly.
    pub fn observe(&mut self, seg: &TcpSegment) -> TcpVerdict {
        let opts = parse_options(seg.options);
        self.observe_parsed(seg, &opts, opts.truncated)
    }

    /// As [`TcpAnalyser::observe`], told whether the header's option area (data offset) runs
    /// past the captured bytes. tshark then throws while dissecting the options: the
    /// sequence analysis has updated its state, but nothing of `tcp.analysis` is shown and
    /// the window-scaling check of a SYN does not run. The verdict follows: no findings,
    /// dup-ACK number or bytes in flight.
    pub fn observe_with(&mut self, seg: &TcpSegment, options_cut: bool) -> TcpVerdict {
        self.observe_parsed(seg, &parse_options(seg.options), options_cut)
    }

    fn observe_parsed(
        &mut self,
        seg: &TcpSegment,
        opts: &Options,
        options_cut: bool,
    ) -> TcpVerdict {
        self.feed(seg, opts, options_cut, false)
    }

    /// For a TCP header whose segment length tshark does not know: the first fragment of a
    /// fragmented datagram (IP reassembly off), or a header quoted in an ICMP error. Such a
    /// header must still be fed, because tshark numbers its conversation like any other
    /// (an ICMP error quoting an unseen connection takes the next `tcp.stream`). tshark shows
    /// the raw seq as `tcp.seq` and no analysis; this returns the stream only. As in tshark,
    /// a pure SYN here can start a new stream (ISN differs), and SYN bookkeeping and the
    /// header's options (window scale, MPTCP) take effect.
    pub fn stream_for_fragment(&mut self, seg: &TcpSegment) -> u64 {
        let opts = parse_options(seg.options);
        self.feed(seg, &opts, opts.truncated, true).stream
    }

    /// Finds the conversation of `seg` or starts one (making room if the table is full),
    /// applying Wireshark's SYN and SYN/ACK port-reuse rules, feeds it the segment, and files
    /// it as finished if the segment finished it.
    fn feed(
        &mut self,
        seg: &TcpSegment,
        opts: &Options,
        cut: bool,
        header_only: bool,
    ) -> TcpVerdict {
        self.clock += 1;
        let (key, dir) = ConvKey::of(seg);
        let inp = Input {
            s: Seg::of(seg),
            dir,
            opts,
            cut,
            header_only,
        };
        let s = &inp.s;
        if self.convs.len() >= self.limit && !self.convs.contains_key(&key) {
            self.evicted += bound::evict(
                &mut self.convs,
                &mut self.scratch,
                |h| bound::rank(h.class(), h.touch),
                |h| !h.is_closed(),
            );
            self.unacked = self.convs.values().map(Held::unacked_capacity).sum();
        }
        let (v, finished_now) = match self.convs.entry(key) {
            Entry::Occupied(o) => {
                let held = o.into_mut();
                held.touch = self.clock;
                let before = held.unacked_capacity();
                let c = held.conv();
                let mut findings = Findings::default();
                if s.is_pure_syn() && c.fwd(dir).base_set {
                    if s.seq != c.fwd(dir).base_seq {
                        findings.set(Findings::REUSED_PORTS);
                        *c = Conv::new(self.next_stream);
                        self.next_stream += 1;
                    } else {
                        c.restore_for_syn_retransmission(dir);
                    }
                }
                if s.is_syn_ack() && c.fwd(dir).base_set && s.seq != c.fwd(dir).base_seq {
                    c.rebase_for_syn_ack(dir, s.seq);
                    findings.set(Findings::REUSED_PORTS);
                }
                let was_closed = c.is_closed();
                let v = inp.apply(c, findings);
                let now_closed = !was_closed && c.is_closed();
                if now_closed {
                    c.shrink();
                }
                self.unacked = self.unacked.saturating_sub(before) + c.unacked_capacity();
                (v, now_closed)
            }
            Entry::Vacant(slot) => {
                let mut c = Conv::new(self.next_stream);
                self.next_stream += 1;
                let v = inp.apply(&mut c, Findings::default());
                let closed = c.is_closed();
                let state = match Lone::of(&inp, &c).filter(|_| self.compact) {
                    Some(l) => State::Lone(l),
                    None => {
                        self.unacked += c.unacked_capacity();
                        State::Full(Box::new(c))
                    }
                };
                slot.insert(Held {
                    touch: self.clock,
                    state,
                });
                (v, closed)
            }
        };
        if finished_now {
            self.finish(key, v.stream);
        }
        if self.unacked > self.unacked_budget {
            self.release_unacked();
        }
        v
    }

    /// Over the budget of unacked-list entries: empties the largest lists until half the
    /// budget is used. They only serve bytes in flight (see the module docs).
    fn release_unacked(&mut self) {
        let mut sizes: Vec<(usize, ConvKey)> = self
            .convs
            .iter()
            .map(|(k, h)| (h.unacked_capacity(), *k))
            .filter(|&(n, _)| n > 0)
            .collect();
        sizes.sort_unstable_by_key(|&(n, _)| std::cmp::Reverse(n));
        for (n, key) in sizes {
            if self.unacked <= self.unacked_budget / 2 {
                break;
            }
            if let Some(State::Full(c)) = self.convs.get_mut(&key).map(|h| &mut h.state) {
                c.release_unacked();
                self.unacked = self.unacked.saturating_sub(n) + c.unacked_capacity();
                self.released += 1;
            }
        }
    }

    /// Records that the conversation at `key` (stream `stream`) has just finished, and
    /// forgets the one that finished longest ago when more than [`FINISHED_KEEP`] are held.
    fn finish(&mut self, key: ConvKey, stream: u64) {
        if self.finished.len() == FINISHED_KEEP {
            if let Some((old, old_stream)) = self.finished.pop_front() {
                if let Entry::Occupied(o) = self.convs.entry(old) {
                    if o.get().stream() == old_stream && o.get().is_closed() {
                        let gone = o.remove();
                        self.unacked = self.unacked.saturating_sub(gone.unacked_capacity());
                    }
                }
            }
        }
        self.finished.push_back((key, stream));
    }

    /// Streams numbered so far (the next `tcp.stream` index).
    pub fn stream_count(&self) -> u64 {
        self.next_stream
    }

    /// Conversations currently held in memory.
    pub fn live_streams(&self) -> usize {
        self.convs.len()
    }

    /// Open conversations forgotten because the table was full (see the module docs).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Room of all unacked lists held, in entries of 8 bytes.
    pub fn unacked_entries(&self) -> usize {
        self.unacked
    }

    /// Times a conversation's unacked lists were emptied to stay within the budget (bytes in
    /// flight, which nothing shows yet, then differ from tshark's for a while).
    pub fn unacked_released(&self) -> u64 {
        self.released
    }
}
