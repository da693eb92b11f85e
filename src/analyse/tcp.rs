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
//! # Memory: expiry (a deliberate difference from tshark, which keeps everything)
//! Memory must not grow with the file, so conversations are forgotten:
//! * a finished conversation (an RST was seen, or a FIN was sent each way and each FIN was
//!   acknowledged) is kept, with its spare buffers given back, among the [`FINISHED_KEEP`]
//!   most recently finished ones; when one more finishes, the one that finished longest ago is
//!   forgotten. That is a window of seconds on a busy link (the benchmark's mixed traffic
//!   finishes ~360 conversations per second: ~3 s) and of minutes to hours on a quiet one, far
//!   longer than the late segments a finished connection still sees (a retransmitted FIN and
//!   its ACK, an RTO or two later; segments crossing an RST);
//! * once more than [`EXPIRY_MIN_LIVE`] conversations are held, a sweep drops every
//!   conversation, open or not, that has had no segment for [`IDLE_NS`] (10 minutes) of
//!   capture time. The sweep runs every max([`SWEEP_MIN_PACKETS`], live conversations)
//!   segments, so it costs amortised O(1) per segment. Below the threshold nothing open is
//!   dropped (tcpdump's of13_ericsson capture has a stream idle for 14 minutes).
//!
//! Stream numbers stay tshark's: a new conversation on a forgotten endpoint pair opens with a
//! SYN, which starts a new stream in tshark too (port reuse). What differs is only that such a
//! SYN is not flagged [`Findings::REUSED_PORTS`], and that a stray segment of a forgotten
//! conversation starts a new stream (tshark would put it in the old one) and is analysed as
//! the first of it. A file with at most [`FINISHED_KEEP`] finished conversations, or without
//! late segments on forgotten ones, gets exactly tshark's numbering and analysis.
//!
//! Capture time is the latest timestamp seen, except that a single timestamp more than
//! [`MAX_CLOCK_JUMP_NS`] ahead is taken as bogus until the next segment confirms the jump
//! (pcapng-example has one frame 46 years in the future). Records without timestamps do not
//! move capture time.
//!
//! # Timestamps
//! A segment without a timestamp is analysed at time 0, which is what tshark does
//! (`abs_ts` is zero): the time-based tests (fast retransmission within 20 ms, out-of-order
//! within the handshake RTT or 3 ms) then compare zero times.

mod conv;
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
use super::{Findings, TcpSegment, TcpVerdict};

pub use self::conv::timing::{Wait, WaitKind};
pub use self::options::{kind as option_kind, parse_options, MptcpOption, Options};
pub use self::options::{MAX_MPTCP, MAX_SACK_BLOCKS, MAX_UNKNOWN, MAX_WINDOW_SHIFT};

/// The most finished conversations (RST, or FIN both ways and acked) held at once; the one
/// that finished longest ago goes first.
pub const FINISHED_KEEP: usize = 1024;
/// The idle sweep only runs while more conversations than this are held.
pub const EXPIRY_MIN_LIVE: usize = 16_384;
/// Any conversation is dropped after this much capture time without a segment (once more
/// than [`EXPIRY_MIN_LIVE`] are held).
pub const IDLE_NS: i128 = 10 * 60 * NS_PER_SEC;
/// The expiry sweep runs at most once per this many segments (more when more is held).
pub const SWEEP_MIN_PACKETS: usize = 8192;
/// A forward jump of capture time larger than this needs two segments in a row to count.
pub const MAX_CLOCK_JUMP_NS: i128 = 3600 * NS_PER_SEC;

const NS_PER_SEC: i128 = 1_000_000_000;

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
#[derive(Debug, Default)]
pub struct TcpAnalyser {
    convs: FxHashMap<ConvKey, Conv>,
    next_stream: u64,
    /// Capture time (ns) for expiry: see the module docs.
    now: Option<i128>,
    /// A timestamp that jumped too far ahead, waiting for confirmation.
    pending_jump: Option<i128>,
    since_sweep: usize,
    /// Conversations in the order they finished, as (key, stream); an entry whose key now
    /// holds another stream, or nothing, is stale and skipped. At most [`FINISHED_KEEP`].
    finished: VecDeque<(ConvKey, u64)>,
}

impl TcpAnalyser {
    pub fn new() -> Self {
        Self::default()
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
        let s = Seg::of(seg);
        self.with_conv(seg, &s, |conv, dir, findings| {
            conv.observe(dir, s, opts, findings, options_cut)
        })
    }

    /// For a TCP header whose segment length tshark does not know: the first fragment of a
    /// fragmented datagram (IP reassembly off), or a header quoted in an ICMP error. Such a
    /// header must still be fed, because tshark numbers its conversation like any other
    /// (an ICMP error quoting an unseen connection takes the next `tcp.stream`). tshark shows
    /// the raw seq as `tcp.seq` and no analysis; this returns the stream only. As in tshark,
    /// a pure SYN here can start a new stream (ISN differs), and SYN bookkeeping and the
    /// header's options (window scale, MPTCP) take effect.
    pub fn stream_for_fragment(&mut self, seg: &TcpSegment) -> u64 {
        let s = Seg::of(seg);
        let opts = parse_options(seg.options);
        self.with_conv(seg, &s, |conv, dir, _| {
            conv.observe_header_only(dir, s, &opts, opts.truncated);
            conv.stream
        })
    }

    /// Runs `f` on the conversation of `seg` (with its direction and any REUSED_PORTS
    /// finding), after advancing capture time; then stamps the conversation with that time and
    /// files it as finished if `f` finished it.
    fn with_conv<R>(
        &mut self,
        seg: &TcpSegment,
        s: &Seg,
        f: impl FnOnce(&mut Conv, usize, Findings) -> R,
    ) -> R {
        let now = self.tick(seg);
        let (key, conv, dir, findings) = self.resolve(seg, s);
        let was_closed = conv.is_closed();
        let out = f(conv, dir, findings);
        conv.last_seen = now;
        if !was_closed && conv.is_closed() {
            conv.shrink();
            let stream = conv.stream;
            self.finish(key, stream);
        }
        out
    }

    /// Records that the conversation at `key` (stream `stream`) has just finished, and
    /// forgets the one that finished longest ago when more than [`FINISHED_KEEP`] are held.
    fn finish(&mut self, key: ConvKey, stream: u64) {
        if self.finished.len() == FINISHED_KEEP {
            if let Some((old, old_stream)) = self.finished.pop_front() {
                if let Entry::Occupied(o) = self.convs.entry(old) {
                    if o.get().stream == old_stream && o.get().is_closed() {
                        o.remove();
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

    /// Advances capture time and runs the expiry sweep when it is due; returns capture time.
    fn tick(&mut self, seg: &TcpSegment) -> i128 {
        if let Some(t) = seg.time {
            self.advance_clock(t);
        }
        let now = self.now.unwrap_or(0);
        self.since_sweep += 1;
        let live = self.convs.len();
        if live > EXPIRY_MIN_LIVE && self.since_sweep >= SWEEP_MIN_PACKETS.max(live) {
            self.since_sweep = 0;
            self.convs.retain(|_, c| !is_expired(c, now));
        }
        now
    }

    /// Capture time is the latest timestamp, but a lone far jump ahead is ignored.
    fn advance_clock(&mut self, t: i128) {
        let Some(now) = self.now else {
            self.now = Some(t);
            return;
        };
        if t <= now.saturating_add(MAX_CLOCK_JUMP_NS) {
            self.now = Some(now.max(t));
            self.pending_jump = None;
        } else if let Some(p) = self.pending_jump.take() {
            self.now = Some(p.min(t));
        } else {
            self.pending_jump = Some(t);
        }
    }

    /// Finds the conversation of `seg` or starts one, applying Wireshark's SYN and SYN/ACK
    /// port-reuse rules. Returns it with the segment's direction and any REUSED_PORTS finding.
    fn resolve(&mut self, seg: &TcpSegment, s: &Seg) -> (ConvKey, &mut Conv, usize, Findings) {
        let (key, dir) = ConvKey::of(seg);
        let now = self.now.unwrap_or(0);
        let mut findings = Findings::default();
        let conv = match self.convs.entry(key) {
            Entry::Vacant(v) => v.insert(new_conv(&mut self.next_stream, now)),
            Entry::Occupied(o) => {
                let c = o.into_mut();
                if s.is_pure_syn() && c.fwd(dir).base_set {
                    if s.seq != c.fwd(dir).base_seq {
                        findings.set(Findings::REUSED_PORTS);
                        *c = new_conv(&mut self.next_stream, now);
                    } else {
                        c.restore_for_syn_retransmission(dir);
                    }
                }
                c
            }
        };
        if s.is_syn_ack() && conv.fwd(dir).base_set && s.seq != conv.fwd(dir).base_seq {
            conv.rebase_for_syn_ack(dir, s.seq);
            findings.set(Findings::REUSED_PORTS);
        }
        (key, conv, dir, findings)
    }
}

fn new_conv(next_stream: &mut u64, now: i128) -> Conv {
    let c = Conv::new(*next_stream, now);
    *next_stream += 1;
    c
}

/// The idle rule of the module docs.
fn is_expired(c: &Conv, now: i128) -> bool {
    now.saturating_sub(c.last_seen) > IDLE_NS
}
