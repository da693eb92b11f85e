//! One TCP conversation (Wireshark's `struct tcp_analysis`) and the per-segment sequence
//! analysis, ported rule by rule from `tcp_analyze_sequence_number` and `dissect_tcp` in
//! Wireshark 4.0's packet-tcp.c.
//!
//! Sequence state is kept in RAW sequence numbers, as Wireshark keeps it, including its
//! convention that a raw value of 0 means "not known yet" for `nextseq`, `lastack` and
//! `maxseqtobeacked`.

pub mod timing;

use super::options::{Options, MAX_WINDOW_SHIFT};
use super::seq::{ge_seq, gt_seq, le_seq, lt_seq};
use super::state::{SegFacts, TcpStates};
use super::unacked::{Unacked, MAX_UNACKED};
use crate::analyse::flags::{ACK, FIN, RST, SYN};
use crate::analyse::{Findings, TcpSegment, TcpVerdict};

/// A fast retransmission must follow the last dup ACK within this time (Wireshark: 20 ms).
const FAST_RETRANSMISSION_WINDOW_NS: u64 = 20_000_000;
/// Out-of-order threshold when the handshake RTT is unknown (Wireshark: 3 ms).
const DEFAULT_OOO_THRESHOLD_NS: u64 = 3_000_000;
/// Bytes in flight at or above this are not shown (Wireshark: 2,000,000,000).
const MAX_BYTES_IN_FLIGHT: u32 = 2_000_000_000;
/// Wireshark stores at most `MAX_TCP_SACK_RANGES - 1` (= 3) SACK blocks for bytes in flight.
const MAX_STORED_SACK: usize = 3;
/// `dupacknum` after "ACKed unseen segment" (Wireshark stores -1 in a guint32).
const DUPACK_NEUTRALISED: u32 = u32::MAX;
/// MPTCP subtypes with a bit in Wireshark's `mp_operations` (MP_CAPABLE .. MP_FASTCLOSE).
const MPTCP_TRACKED_SUBTYPES: u8 = 8;
/// MPTCP subtypes MP_CAPABLE and MP_JOIN.
const MPTCP_MP_CAPABLE: u8 = 0;
const MPTCP_MP_JOIN: u8 = 1;
/// MP_CAPABLE lengths that carry a key (SYN/SYN-ACK 12, third ACK 20, with data 22/24).
const MPTCP_CAPABLE_KEYED_LENS: [u8; 4] = [12, 20, 22, 24];

const SYN_FIN_RST: u16 = SYN | FIN | RST;

/// Window scaling state of one direction: Wireshark's `win_scale` (-1 unknown, -2 none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WinScale {
    Unknown,
    NotUsed,
    Shift(u8),
}

/// One direction of a conversation (Wireshark's `tcp_flow_t` + `tcp_analyze_seq_flow_info_t`).
#[derive(Debug, Clone)]
pub struct Flow {
    pub base_seq: u32,
    pub base_set: bool,
    /// Last raw window seen (u32::MAX before any segment, as Wireshark initialises it).
    window: u32,
    pub win_scale: WinScale,
    is_first_ack: bool,
    last_findings: Findings,
    nextseq: u32,
    nextseq_time: i128,
    max_seq_to_be_acked: u32,
    lastack: u32,
    lastack_time: i128,
    last_non_dup_ack: u64,
    dupacknum: u32,
    valid_bif: bool,
    sack: [(u32, u32); MAX_STORED_SACK],
    sack_count: u8,
    unacked: Unacked,
    mp_operations: u8,
    /// `nextseq` of the last FIN sent in this direction, and whether the peer acked it.
    fin_next: Option<u32>,
    pub fin_acked: bool,
}

impl Flow {
    fn new() -> Self {
        Flow {
            base_seq: 0,
            base_set: false,
            window: u32::MAX,
            win_scale: WinScale::Unknown,
            is_first_ack: false,
            last_findings: Findings::default(),
            nextseq: 0,
            nextseq_time: 0,
            max_seq_to_be_acked: 0,
            lastack: 0,
            lastack_time: 0,
            last_non_dup_ack: 0,
            dupacknum: 0,
            valid_bif: true,
            sack: [(0, 0); MAX_STORED_SACK],
            sack_count: 0,
            unacked: Unacked::default(),
            mp_operations: 0,
            fin_next: None,
            fin_acked: false,
        }
    }

    /// The shift Wireshark applies when this flow's window is used for WINDOW FULL.
    fn full_window(&self) -> u32 {
        let shift = match (self.is_first_ack, self.win_scale) {
            (false, WinScale::Shift(s)) => u32::from(s),
            _ => 0,
        };
        self.window.checked_shl(shift).unwrap_or(0)
    }
}

/// One conversation: both flows plus conversation-wide timing.
#[derive(Debug, Clone)]
pub struct Conv {
    pub stream: u64,
    pub flows: [Flow; 2],
    /// Time of the most recent SYN (0: none; Wireshark treats time 0 as unset too).
    ts_mru_syn: i128,
    /// Handshake RTT: first pure ACK minus the most recent SYN (0: unknown).
    ts_first_rtt: i128,
    /// MPTCP analysis (`tcpd->mptcp_analysis`): the option subtypes seen so far.
    mptcp_ops: Option<u8>,
    pub rst_seen: bool,
    /// Each endpoint's TCP state (two bytes).
    pub states: TcpStates,
    /// Directions (bit 0, bit 1) that have sent a segment other than a pure SYN: both set
    /// once the handshake is through (or when the capture began mid-connection). For
    /// eviction only.
    pub settled: u8,
}

/// What the caller knows about one segment, in Wireshark's terms.
#[derive(Debug, Clone, Copy)]
pub struct Seg {
    pub frame: u64,
    /// Packet time in ns; 0 when the record has none (Wireshark's `abs_ts` is then zero too).
    pub time: i128,
    pub seq: u32,
    pub ack: u32,
    pub flags: u16,
    pub win: u16,
    pub len: u32,
}

impl Seg {
    pub fn of(s: &TcpSegment) -> Self {
        Seg {
            frame: s.frame,
            time: s.time.unwrap_or(0),
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            win: s.win,
            len: s.len,
        }
    }

    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    pub fn is_pure_syn(&self) -> bool {
        self.flags & (SYN | ACK) == SYN
    }

    pub fn is_syn_ack(&self) -> bool {
        self.flags & (SYN | ACK) == SYN | ACK
    }

    fn is_pure_ack(&self) -> bool {
        self.flags & (SYN | ACK) == ACK
    }
}

/// Unsigned nanoseconds from `then` to `now`, wrapping like Wireshark's guint64 arithmetic
/// (a negative delta becomes huge, so "within X" tests fail).
fn elapsed(now: i128, then: i128) -> u64 {
    now.wrapping_sub(then) as u64
}

impl Conv {
    pub fn new(stream: u64) -> Self {
        Conv {
            stream,
            flows: [Flow::new(), Flow::new()],
            ts_mru_syn: 0,
            ts_first_rtt: 0,
            mptcp_ops: None,
            rst_seen: false,
            states: TcpStates::default(),
            settled: 0,
        }
    }

    /// (fwd, rev) for direction index `dir`.
    fn flows_mut(&mut self, dir: usize) -> (&mut Flow, &mut Flow) {
        let [a, b] = &mut self.flows;
        if dir == 0 {
            (a, b)
        } else {
            (b, a)
        }
    }

    pub fn fwd(&self, dir: usize) -> &Flow {
        &self.flows[dir & 1]
    }

    /// A pure SYN whose ISN equals the known base: Wireshark restores `nextseq` from
    /// `maxseqtobeacked` (issue 17616) so the SYN is analysed as a retransmission.
    pub fn restore_for_syn_retransmission(&mut self, dir: usize) {
        let fwd = &mut self.flows[dir & 1];
        fwd.nextseq = fwd.max_seq_to_be_acked;
    }

    /// A SYN/ACK whose ISN differs from the known base: Wireshark rebases the flow
    /// (issue 16944) and flags "TCP port numbers reused".
    pub fn rebase_for_syn_ack(&mut self, dir: usize, seq: u32) {
        self.flows[dir & 1].base_seq = seq;
    }

    /// The whole per-segment work of `dissect_tcp` after the conversation is found, for a
    /// segment whose length is known. `findings` may already hold REUSED_PORTS.
    /// `options_cut`: tshark throws inside the options (see `TcpAnalyser::observe_with`).
    pub fn observe(
        &mut self,
        dir: usize,
        s: Seg,
        opts: &Options,
        findings: Findings,
        options_cut: bool,
    ) -> TcpVerdict {
        let mut v = TcpVerdict {
            stream: self.stream,
            findings,
            ..TcpVerdict::default()
        };
        let before = timing::Before::of(self, dir);
        self.flows[dir & 1].sack_count = 0;
        self.init_base_seq(dir, &s);
        self.analyse(dir, &s, &mut v);

        let (fwd, rev) = self.flows_mut(dir);
        v.rel_seq = s.seq.wrapping_sub(fwd.base_seq);
        v.rel_ack = if s.has(ACK) {
            s.ack.wrapping_sub(rev.base_seq)
        } else {
            0
        };
        let syn_fin = u32::from(s.has(SYN | FIN));
        v.rel_next_seq = v.rel_seq.wrapping_add(s.len).wrapping_add(syn_fin);
        let shift = if s.has(SYN) {
            // "SYNs are never scaled".
            Some(0)
        } else {
            match fwd.win_scale {
                WinScale::Unknown => None,
                WinScale::NotUsed => Some(0),
                WinScale::Shift(n) => Some(n),
            }
        };
        v.win_shift = shift;
        v.win_scaled = shift.map(|n| u64::from(s.win) << n);

        self.after_analysis(dir, &s);
        self.apply_options(dir, &s, opts, options_cut);
        let acks_fin = s.has(ACK)
            && self.flows[(dir & 1) ^ 1]
                .fin_next
                .is_some_and(|n| ge_seq(s.ack, n));
        v.states = (self.states).on_segment(
            dir,
            SegFacts {
                flags: s.flags,
                len: s.len,
                acks_fin,
            },
        );
        v.wait = before.wait(&s, &v);
        self.track_close(dir, &s);
        if options_cut {
            // Nothing of tcp.analysis is printed after the exception.
            v.findings = Findings::default();
            v.dup_ack_num = 0;
            v.dup_ack_of = 0;
            v.bytes_in_flight = None;
        }
        v
    }

    /// `dissect_tcp` for a header whose segment length is unknown (a first fragment, or a
    /// header quoted in an ICMP error): no base, no sequence analysis, but the SYN/ACK
    /// bookkeeping and the options still take effect.
    pub fn observe_header_only(&mut self, dir: usize, s: Seg, opts: &Options, options_cut: bool) {
        self.flows[dir & 1].sack_count = 0;
        self.after_analysis(dir, &s);
        self.apply_options(dir, &s, opts, options_cut);
    }

    /// Wireshark: the first segment of a direction fixes `base_seq` (the ISN for a SYN, else
    /// seq - 1 so the first segment shows 1); the first ACK fixes the other direction's base
    /// as ack - 1 if that direction has none yet.
    fn init_base_seq(&mut self, dir: usize, s: &Seg) {
        let (fwd, rev) = self.flows_mut(dir);
        if !fwd.base_set {
            fwd.base_seq = if s.has(SYN) {
                s.seq
            } else {
                s.seq.wrapping_sub(1)
            };
            fwd.base_set = true;
        }
        if !rev.base_set && s.has(ACK) {
            rev.base_seq = s.ack.wrapping_sub(1);
            rev.base_set = true;
        }
    }

    /// `tcp_analyze_sequence_number`, in Wireshark's order, on raw numbers.
    fn analyse(&mut self, dir: usize, s: &Seg, v: &mut TcpVerdict) {
        let first_rtt = self.ts_first_rtt;
        let mptcp_ops = self.mptcp_ops;
        let (fwd, rev) = self.flows_mut(dir);
        let f = &mut v.findings;
        let (seq, ack, len, window) = (s.seq, s.ack, s.len, u32::from(s.win));
        let no_sfr = s.flags & SYN_FIN_RST == 0;

        if s.has(ACK) {
            rev.valid_bif = true;
        }

        'fwd: {
            // ZERO WINDOW PROBE: 1 byte at the next expected seq while the peer's window is 0.
            if len == 1 && seq == fwd.nextseq && rev.window == 0 {
                f.set(Findings::ZERO_WINDOW_PROBE);
                break 'fwd;
            }
            // ZERO WINDOW: window 0 on a segment without SYN/FIN/RST.
            if window == 0 && no_sfr {
                f.set(Findings::ZERO_WINDOW);
            }
            // LOST SEGMENT: seq beyond the next expected one (RST never).
            if fwd.nextseq != 0 && gt_seq(seq, fwd.nextseq) && !s.has(RST) {
                f.set(Findings::LOST_SEGMENT);
                fwd.valid_bif = false;
            }
            // KEEP ALIVE: 0 or 1 byte starting one byte before the next expected seq.
            if len <= 1 && seq == fwd.nextseq.wrapping_sub(1) && no_sfr {
                f.set(Findings::KEEP_ALIVE);
            }
            let same_seq_ack = len == 0 && seq == fwd.nextseq && ack == fwd.lastack && no_sfr;
            // WINDOW UPDATE: no data, same seq/ack, a new non-zero window.
            if same_seq_ack && window != 0 && window != fwd.window {
                f.set(Findings::WINDOW_UPDATE);
            }
            // WINDOW FULL: data reaching exactly the right edge of the peer's window.
            if len > 0
                && rev.win_scale != WinScale::Unknown
                && seq.wrapping_add(len) == rev.lastack.wrapping_add(rev.full_window())
                && no_sfr
            {
                f.set(Findings::WINDOW_FULL);
            }
            // KEEP ALIVE ACK: repeats the previous ACK right after a keep-alive.
            if same_seq_ack
                && window != 0
                && window == fwd.window
                && rev.last_findings.has(Findings::KEEP_ALIVE)
            {
                f.set(Findings::KEEP_ALIVE_ACK);
                break 'fwd;
            }
            // ZERO WINDOW PROBE ACK: repeats the previous zero-window ACK after a probe.
            if same_seq_ack
                && window == 0
                && window == fwd.window
                && rev.last_findings.has(Findings::ZERO_WINDOW_PROBE)
            {
                f.set(Findings::ZERO_WINDOW_PROBE_ACK);
                break 'fwd;
            }
            // DUPLICATE ACK: no data, same window/seq/ack as before.
            if same_seq_ack && window != 0 && window == fwd.window {
                // MPTCP tolerates duplicate ACKs when the MPTCP operations changed (RFC 8684 4).
                let mptcp_excused = matches!(mptcp_ops, Some(ops) if ops != fwd.mp_operations);
                if !mptcp_excused {
                    fwd.dupacknum = match fwd.dupacknum {
                        DUPACK_NEUTRALISED => 1,
                        n => n.wrapping_add(1),
                    };
                    f.set(Findings::DUPLICATE_ACK);
                    v.dup_ack_num = fwd.dupacknum;
                    v.dup_ack_of = fwd.last_non_dup_ack;
                }
            }
        }

        // finished_fwd: a new ACK value resets the dup-ACK counter.
        if ack != fwd.lastack {
            fwd.last_non_dup_ack = s.frame;
            fwd.dupacknum = 0;
        }

        // ACKED LOST PACKET: an ACK beyond everything the peer sent contiguously.
        if rev.max_seq_to_be_acked != 0 && gt_seq(ack, rev.max_seq_to_be_acked) && s.has(ACK) {
            if lt_seq(rev.max_seq_to_be_acked, rev.nextseq) {
                rev.max_seq_to_be_acked = rev.nextseq;
                f.set(Findings::ACK_LOST_SEGMENT);
            } else {
                // Wireshark reads and writes the *reverse* flow's dupacknum here.
                if rev.dupacknum == 0 {
                    f.set(Findings::ACK_LOST_SEGMENT);
                }
                rev.dupacknum = DUPACK_NEUTRALISED;
            }
        }

        if len > 0 || s.has(SYN | FIN) {
            classify_retransmission(fwd, rev, s, first_rtt, f);
        }

        // Record the segment and advance nextseq / maxseqtobeacked.
        let mut nextseq = seq.wrapping_add(len);
        if (len > 0 || s.has(SYN | FIN)) && fwd.unacked.len() < MAX_UNACKED {
            // The SYN/FIN byte is only counted here, inside the cap (as in Wireshark).
            if s.has(SYN | FIN) {
                nextseq = nextseq.wrapping_add(1);
            }
            fwd.unacked.push(seq, nextseq, fwd.base_seq);
        }
        let is_zwp = f.has(Findings::ZERO_WINDOW_PROBE);
        if (gt_seq(nextseq, fwd.nextseq) || fwd.nextseq == 0) && !is_zwp {
            fwd.nextseq = nextseq;
            fwd.nextseq_time = s.time;
        }
        if (seq == fwd.max_seq_to_be_acked || fwd.max_seq_to_be_acked == 0) && !is_zwp {
            fwd.max_seq_to_be_acked = fwd.nextseq;
        }

        fwd.window = window;
        fwd.lastack = ack;
        fwd.lastack_time = s.time;
        if let Some(ops) = mptcp_ops {
            fwd.mp_operations = ops;
        }
        fwd.last_findings = *f;

        rev.unacked.acknowledge(ack, rev.base_seq);
        v.bytes_in_flight = bytes_in_flight(fwd, rev, s);
    }

    /// The parts of `dissect_tcp` that follow the analysis: SYN bookkeeping, the handshake
    /// RTT, and the first-ACK marker used by WINDOW FULL (issue 14690).
    fn after_analysis(&mut self, dir: usize, s: &Seg) {
        if s.has(SYN) {
            if !s.has(ACK) {
                self.ts_mru_syn = s.time;
            }
            self.flows[dir & 1].is_first_ack = true;
        }
        if s.is_pure_ack() {
            if self.ts_mru_syn != 0 && self.ts_first_rtt == 0 {
                self.ts_first_rtt = s.time.wrapping_sub(self.ts_mru_syn);
            }
            self.flows[dir & 1].is_first_ack = false;
        }
    }

    /// Option side effects, applied after the analysis as Wireshark dissects options after
    /// it: window scale, SACK blocks (for bytes in flight), MPTCP state, and on a SYN the
    /// window-scaling check (`verify_tcp_window_scaling`). When the option area is cut, the
    /// options before the cut take effect and the rest of `dissect_tcp` does not run.
    fn apply_options(&mut self, dir: usize, s: &Seg, opts: &Options, options_cut: bool) {
        let fwd = &mut self.flows[dir & 1];
        if let Some(shift) = opts.wscale {
            fwd.win_scale = WinScale::Shift(shift.min(MAX_WINDOW_SHIFT));
        }
        for (i, &block) in opts.sack_blocks().iter().take(MAX_STORED_SACK).enumerate() {
            fwd.sack[i] = block;
            fwd.sack_count = (i + 1) as u8;
        }
        self.apply_mptcp(opts, options_cut);
        if s.has(SYN) && !options_cut {
            self.verify_window_scaling(dir, s.has(ACK));
        }
    }

    /// `dissect_tcpopt_mptcp` allocates the MPTCP analysis for keyed MP_CAPABLE, for MP_JOIN
    /// and for any later subtype; `mptcp_add_analysis_subtree` then ORs the subtypes of this
    /// segment into `mp_operations`. (Subflows of one MPTCP connection share this state in
    /// Wireshark; here each TCP conversation has its own.)
    fn apply_mptcp(&mut self, opts: &Options, options_cut: bool) {
        let list = opts.mptcp_options();
        if list.is_empty() {
            return;
        }
        let starts = list.iter().any(|o| {
            o.subtype >= MPTCP_MP_JOIN
                || (o.subtype == MPTCP_MP_CAPABLE && MPTCP_CAPABLE_KEYED_LENS.contains(&o.len))
        });
        if starts && self.mptcp_ops.is_none() {
            self.mptcp_ops = Some(0);
        }
        if options_cut {
            return;
        }
        if let Some(ops) = &mut self.mptcp_ops {
            for o in list.iter().filter(|o| o.subtype < MPTCP_TRACKED_SUBTYPES) {
                *ops |= 1 << o.subtype;
            }
        }
    }

    /// `verify_tcp_window_scaling`: a SYN without WS means no scaling both ways; a SYN/ACK
    /// with WS answering a SYN without it means no scaling either.
    fn verify_window_scaling(&mut self, dir: usize, is_syn_ack: bool) {
        let (fwd, rev) = self.flows_mut(dir);
        if fwd.win_scale == WinScale::Unknown {
            fwd.win_scale = WinScale::NotUsed;
            rev.win_scale = WinScale::NotUsed;
        } else if is_syn_ack && rev.win_scale == WinScale::NotUsed {
            fwd.win_scale = WinScale::NotUsed;
        }
    }

    /// Our own bookkeeping for expiry: RST, FINs and whether each FIN was acknowledged.
    fn track_close(&mut self, dir: usize, s: &Seg) {
        if s.has(RST) {
            self.rst_seen = true;
        }
        let (fwd, rev) = self.flows_mut(dir);
        if s.has(FIN) {
            fwd.fin_next = Some(s.seq.wrapping_add(s.len).wrapping_add(1));
            fwd.fin_acked = false;
        }
        if s.has(ACK) {
            if let Some(n) = rev.fin_next {
                rev.fin_acked |= ge_seq(s.ack, n);
            }
        }
    }

    /// Finished: RST seen, or a FIN each way and both acknowledged.
    pub fn is_closed(&self) -> bool {
        self.rst_seen || self.flows.iter().all(|f| f.fin_acked)
    }

    /// Gives back the spare capacity of the unacked lists (a finished conversation).
    pub fn shrink(&mut self) {
        for f in &mut self.flows {
            f.unacked.shrink();
        }
    }

    /// Room of both unacked lists, in entries.
    pub fn unacked_capacity(&self) -> usize {
        self.flows.iter().map(|f| f.unacked.capacity()).sum()
    }

    /// Empties both unacked lists (see `Unacked::release`). They only serve bytes in flight.
    pub fn release_unacked(&mut self) {
        for f in &mut self.flows {
            f.unacked.release();
        }
    }
}

/// RETRANSMISSION / FAST RETRANSMISSION / SPURIOUS / OUT-OF-ORDER for a segment that carries
/// data or SYN/FIN (Wireshark's block under "RETRANSMISSION/FAST RETRANSMISSION/OUT-OF-ORDER",
/// with the default `tcp_fastrt_precedence`: fast retransmission is tested before
/// out-of-order).
fn classify_retransmission(fwd: &Flow, rev: &Flow, s: &Seg, first_rtt: i128, f: &mut Findings) {
    let (seq, len) = (s.seq, s.len);
    // A keep-alive is never a retransmission.
    if f.has(Findings::KEEP_ALIVE) {
        return;
    }
    let mut seq_not_advanced = fwd.nextseq != 0 && lt_seq(seq, fwd.nextseq);
    // More than one byte starting one before nextseq adds new data (after a probe).
    if len > 1 && fwd.nextseq.wrapping_sub(1) == seq {
        seq_not_advanced = false;
    }
    // SPURIOUS: all of the data was already acknowledged by the peer.
    if len > 0 && rev.lastack != 0 && le_seq(seq.wrapping_add(len), rev.lastack) {
        f.set(Findings::SPURIOUS_RETRANSMISSION);
        return;
    }
    // FAST: ≥2 dup ACKs for this seq from the peer, the last one within 20 ms.
    if seq_not_advanced
        && rev.dupacknum >= 2
        && rev.lastack == seq
        && elapsed(s.time, rev.lastack_time) < FAST_RETRANSMISSION_WINDOW_NS
    {
        f.set(Findings::FAST_RETRANSMISSION);
        return;
    }
    // OUT-OF-ORDER: arrived within the handshake RTT (or 3 ms) of the highest segment.
    let threshold = if first_rtt == 0 {
        DEFAULT_OOO_THRESHOLD_NS
    } else {
        first_rtt as u64
    };
    let syn_fin = u32::from(s.has(SYN | FIN));
    if seq_not_advanced
        && elapsed(s.time, fwd.nextseq_time) < threshold
        && fwd.nextseq != seq.wrapping_add(len).wrapping_add(syn_fin)
    {
        f.set(Findings::OUT_OF_ORDER);
        return;
    }
    if seq_not_advanced {
        f.set(Findings::RETRANSMISSION);
    }
}

/// Wireshark's default (payload-based) bytes in flight: the unacked span of this direction,
/// less the SACKed bytes the peer last reported; shown when 0 < n < 2e9, one less for SYN/FIN.
fn bytes_in_flight(fwd: &mut Flow, rev: &Flow, s: &Seg) -> Option<u32> {
    if s.len == 0 || !fwd.valid_bif {
        return None;
    }
    let span = fwd.unacked.span(fwd.base_seq)?;
    let sacked = rev.sack[..usize::from(rev.sack_count)]
        .iter()
        .fold(0u32, |acc, &(l, r)| acc.wrapping_add(r.wrapping_sub(l)));
    let in_flight = span.wrapping_sub(sacked);
    if in_flight == 0 || in_flight >= MAX_BYTES_IN_FLIGHT {
        return None;
    }
    let shown = in_flight - u32::from(s.has(SYN | FIN));
    (shown != 0).then_some(shown)
}
