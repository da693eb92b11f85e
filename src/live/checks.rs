//! Self-checks: what TCP and UDP must do, asserted on a run's real packets and events.
//!
//! Only what is certain on a loss-free loopback run is asserted; timing-dependent details
//! (how many segments a write became, whether an ACK was delayed) are shown, not checked.
//! Relative numbers and findings are the analyser's (see [`View`]); where a check compares two
//! numbers of the same header space (an ACK against a next SEQ), it may use the raw fields.

use crate::analyse::{flags as f, Findings};

use super::event::Role;
use super::model::{Dir, Pkt, Proto, View};

/// One self-check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    /// What must hold, e.g. `SYN+ACK acknowledges the client's ISN + 1`.
    pub what: String,
    /// The numbers behind the verdict.
    pub detail: String,
}

impl Check {
    pub fn new(ok: bool, what: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            ok,
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// A check that could not be evaluated because something it needs is missing.
    pub fn missing(what: impl Into<String>, why: impl Into<String>) -> Check {
        Check::new(false, what, why)
    }
}

/// No segment re-sends sequence space already on the wire (SEQ ranges, relative to each side's
/// ISN as the analyser numbers them, never overlap).
///
/// Delivery order is not checked: on a busy machine lo may deliver a packet queued on one CPU
/// after a later one queued on another, which is reordering, not retransmission. Wireshark's
/// analysis (which may call such a late original a retransmission) is shown, not asserted.
pub fn no_retransmission(v: &View) -> Check {
    let what = "no retransmission: no segment re-sends sequence numbers already sent";
    let mut repeats = Vec::new();
    let mut segments = 0;
    for (ci, c) in v.conns.iter().enumerate() {
        if c.proto != Proto::Tcp {
            continue;
        }
        // Sequence ranges seen each way, relative to the ISN: [client, server].
        let mut seen: [Vec<(u32, u32)>; 2] = [Vec::new(), Vec::new()];
        for p in v.conn_pkts(ci) {
            let Some(t) = &p.tcp else { continue };
            if t.space() == 0 {
                continue;
            }
            segments += 1;
            let start = v.rel_seq(p);
            let end = start.wrapping_add(t.space());
            let ranges = &mut seen[(p.dir == Dir::ToClient) as usize];
            if ranges.iter().any(|&(a, b)| start < b && a < end) {
                repeats.push(p.index + 1);
            }
            ranges.push((start, end));
        }
    }
    let flagged_bits = Findings::RETRANSMISSION
        | Findings::FAST_RETRANSMISSION
        | Findings::SPURIOUS_RETRANSMISSION
        | Findings::OUT_OF_ORDER;
    let flagged: Vec<usize> = v
        .pkts
        .iter()
        .filter(|p| p.findings().has(flagged_bits))
        .map(|p| p.index + 1)
        .collect();
    let mut detail = if repeats.is_empty() {
        format!("{segments} segments carry data, SYN or FIN; no two cover the same numbers")
    } else {
        format!("frames {repeats:?} re-send numbers already sent")
    };
    if !flagged.is_empty() {
        detail.push_str(&format!(
            "; Wireshark's analysis flags frames {flagged:?} (delivered out of order)"
        ));
    }
    Check::new(repeats.is_empty(), what, detail)
}

/// Every ACK number equals the next SEQ after some segment the peer had sent before it (ACKs
/// are cumulative and never acknowledge unsent bytes).
pub fn acks_match_next_seq(v: &View) -> Check {
    let what = "every ACK = the peer's next SEQ after a segment it sent";
    let mut acks = 0;
    let mut bad = Vec::new();
    for (ci, c) in v.conns.iter().enumerate() {
        if c.proto != Proto::Tcp {
            continue;
        }
        // Next-SEQ values each side has reached: [client, server].
        let mut ends: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        for p in v.conn_pkts(ci) {
            let Some(t) = &p.tcp else { continue };
            let me = (p.dir == Dir::ToClient) as usize;
            if t.has(f::ACK) {
                acks += 1;
                if !ends[1 - me].contains(&t.ack) {
                    bad.push(p.index + 1);
                }
            }
            if t.space() > 0 {
                ends[me].push(t.next_seq());
            }
        }
    }
    if bad.is_empty() {
        Check::new(true, what, format!("{acks} segments with ACK checked"))
    } else {
        Check::new(
            false,
            what,
            format!("ACK of no sent segment in frames {bad:?}"),
        )
    }
}

/// The bytes of connection `c` in direction `dir`, in SEQ order, each byte once.
pub fn wire_bytes(v: &View, c: usize, dir: Dir) -> Vec<u8> {
    let mut segs: Vec<(u32, &[u8])> = v
        .conn_pkts(c)
        .filter(|p| p.dir == dir && p.len > 0)
        .map(|p| (v.rel_seq(p), p.payload.as_slice()))
        .collect();
    segs.sort_by_key(|s| s.0);
    let mut out: Vec<u8> = Vec::new();
    let mut next: Option<u32> = None;
    for (seq, data) in segs {
        let n = next.unwrap_or(seq);
        let skip = n.saturating_sub(seq) as usize;
        if let Some(rest) = data.get(skip..) {
            out.extend_from_slice(rest);
        }
        next = Some(n.max(seq.saturating_add(data.len() as u32)));
    }
    out
}

/// The calls `calls` of `role` on connection `c` that moved bytes: how many bytes in all (from
/// their return values) and how many calls, and whether each call's recorded bytes (possibly a
/// cut copy of a long buffer) stand at its place in `stream`.
fn calls_against(
    v: &View,
    c: usize,
    role: Role,
    calls: &[&str],
    stream: &[u8],
) -> (usize, usize, bool) {
    let (mut total, mut n, mut ok) = (0usize, 0usize, true);
    for e in &v.run.events {
        if e.role != role || !calls.contains(&e.call.as_str()) || v.conn_of(e) != Some(c) {
            continue;
        }
        let Some(r) = e.ret.filter(|&r| r > 0) else {
            continue;
        };
        let d = e.data.as_deref().unwrap_or(&[]);
        ok &= stream.get(total..total + d.len()) == Some(d);
        n += 1;
        total += r as usize;
    }
    (total, n, ok)
}

/// What the sender wrote on connection `c` is exactly what the wire carried, in order.
pub fn writes_on_wire(v: &View, c: usize, dir: Dir) -> Check {
    let role = dir.sender();
    let what = format!(
        "every byte the {} wrote is on the wire once, in order",
        role.name()
    );
    let wire = wire_bytes(v, c, dir);
    let (wrote, n, in_place) = calls_against(v, c, role, &["write", "send", "writev"], &wire);
    let segs = v.conn_pkts(c).filter(|p| p.dir == dir && p.len > 0).count();
    Check::new(
        in_place && wire.len() == wrote,
        what,
        format!(
            "{wrote} bytes in {n} write(s) → {} bytes in {segs} segment(s)",
            wire.len()
        ),
    )
}

/// What the receiver read on connection `c` is what the sender wrote (boundaries may differ).
pub fn reads_match_writes(v: &View, c: usize, dir: Dir) -> Check {
    let (sender, receiver) = match dir {
        Dir::ToServer => (Role::Client, Role::Server),
        Dir::ToClient => (Role::Server, Role::Client),
    };
    let what = format!(
        "the {} read exactly the bytes the {} wrote",
        receiver.name(),
        sender.name()
    );
    let wire = wire_bytes(v, c, dir);
    let (wrote, nw, w_ok) = calls_against(v, c, sender, &["write", "send", "writev"], &wire);
    let (read, nr, r_ok) = calls_against(v, c, receiver, &["read", "recv", "readv"], &wire);
    Check::new(
        w_ok && r_ok && wrote == read,
        what,
        format!("{wrote} bytes in {nw} write(s), {read} bytes in {nr} read(s) returning data"),
    )
}

/// Every FIN of connection `c` is acknowledged with its SEQ + 1: a later ACK from the other side
/// carries exactly that number, and none goes beyond it. Whether both sides' FINs (two, no
/// more) passed, and the arithmetic: `server FIN seq 14 → ack 15`.
pub fn fins_acked(v: &View, c: usize) -> (bool, Vec<String>) {
    let pkts: Vec<&Pkt> = v.conn_pkts(c).collect();
    let mut ok = true;
    let mut steps = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        let Some(t) = p.tcp.as_ref().filter(|t| t.has(f::FIN)) else {
            continue;
        };
        let want = t.seq.wrapping_add(t.len).wrapping_add(1);
        let acks: Vec<u32> = pkts[i + 1..]
            .iter()
            .filter(|q| q.dir != p.dir)
            .filter_map(|q| q.tcp.as_ref().filter(|x| x.has(f::ACK)).map(|x| x.ack))
            .collect();
        let beyond = acks.iter().any(|&a| (a.wrapping_sub(want) as i32) > 0);
        let rel = v.rel_seq(p).wrapping_add(t.len);
        let who = p.dir.sender().name();
        if acks.contains(&want) && !beyond {
            steps.push(format!("{who} FIN seq {rel} → ack {}", rel.wrapping_add(1)));
        } else {
            ok = false;
            steps.push(format!(
                "{who} FIN seq {rel} not acked with {}",
                rel.wrapping_add(1)
            ));
        }
    }
    (ok && steps.len() == 2, steps)
}

/// The checks of a request/answer connection `c`: what each side wrote is on the wire once, in
/// order, and is what the other side read; every ACK is a next SEQ; nothing was re-sent.
pub fn both_ways(v: &View, c: usize) -> [Check; 6] {
    [
        writes_on_wire(v, c, Dir::ToServer),
        writes_on_wire(v, c, Dir::ToClient),
        reads_match_writes(v, c, Dir::ToServer),
        reads_match_writes(v, c, Dir::ToClient),
        acks_match_next_seq(v),
        no_retransmission(v),
    ]
}

/// The index of the first TCP connection, or a failed check saying there is none.
pub fn first_tcp(v: &View) -> Result<usize, Check> {
    v.conns
        .iter()
        .position(|c| c.proto == Proto::Tcp)
        .ok_or_else(|| Check::missing("a TCP connection was captured", "no TCP packets"))
}
