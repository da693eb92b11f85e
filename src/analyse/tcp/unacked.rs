//! The list of segments sent but not yet acknowledged in one direction (Wireshark's
//! `tcp_analyze_seq_flow_info_t.segments`), used for bytes in flight and capped like
//! Wireshark's at `TCP_MAX_UNACKED_SEGMENTS`.
//!
//! Wireshark walks the whole list for every segment. The outcome of its walk for one entry
//! depends only on that entry and the ACK, so the order of the list does not matter, and
//! this list keeps its entries in sending order and avoids most walks:
//! * while entries were sent in order (`seq` and `nextseq` non-decreasing, each entry
//!   shorter than half the sequence space), the entries an ACK can touch are a prefix, found
//!   by binary search, and min/max offsets come from the two ends;
//! * otherwise min/max offsets are cached, and an ACK that provably touches no entry is
//!   skipped; any other ACK gets Wireshark's full walk.
//!
//! The unit test below checks every path against Wireshark's walk on random input.

use std::collections::VecDeque;

use super::seq::{gt_seq, le_seq};

/// Wireshark's `TCP_MAX_UNACKED_SEGMENTS`.
pub const MAX_UNACKED: usize = 10_000;

/// Half the sequence space: the window inside which seq comparisons agree with offsets.
const HALF: u32 = 1 << 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    seq: u32,
    nextseq: u32,
}

/// Min/max of `seq - base` and `nextseq - base` over all entries.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    min_seq: u32,
    max_seq: u32,
    min_next: u32,
    max_next: u32,
}

impl Bounds {
    fn of(s: u32, n: u32) -> Self {
        Bounds {
            min_seq: s,
            max_seq: s,
            min_next: n,
            max_next: n,
        }
    }

    fn add(&mut self, s: u32, n: u32) {
        self.min_seq = self.min_seq.min(s);
        self.max_seq = self.max_seq.max(s);
        self.min_next = self.min_next.min(n);
        self.max_next = self.max_next.max(n);
    }

    /// True when every entry starts at or after `off` and ends strictly after it, all within
    /// half the sequence space: Wireshark's walk then keeps every entry unchanged.
    fn untouched_by(&self, off: u32) -> bool {
        off <= self.min_seq
            && self.max_seq.wrapping_sub(off) < HALF
            && off < self.min_next
            && self.max_next.wrapping_sub(off) < HALF
    }
}

#[derive(Debug, Clone, Default)]
pub struct Unacked {
    entries: VecDeque<Entry>,
    /// The base the offsets below are taken from (the flow's `base_seq`).
    base: u32,
    /// Entries are in sending order: see the module docs.
    ordered: bool,
    /// Cached bounds when not `ordered` (None: to be computed).
    bounds: Option<Bounds>,
}

impl Unacked {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Gives back spare capacity (for a conversation that has finished).
    pub fn shrink(&mut self) {
        self.entries.shrink_to_fit();
    }

    /// Entries the list has room for (its memory, in entries of 8 bytes).
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Forgets every entry and gives the memory back (the analyser's memory bound): bytes in
    /// flight are then counted from the segments sent after this.
    pub fn release(&mut self) {
        *self = Unacked {
            base: self.base,
            ..Unacked::default()
        };
    }

    fn offsets(&self, e: Entry) -> (u32, u32) {
        (
            e.seq.wrapping_sub(self.base),
            e.nextseq.wrapping_sub(self.base),
        )
    }

    /// An entry whose offsets are increasing and shorter than half the space.
    fn sane(&self, e: Entry) -> bool {
        let (s, n) = self.offsets(e);
        n > s && n - s < HALF
    }

    /// Adds a segment at the back; the caller checks the cap first (as Wireshark does).
    pub fn push(&mut self, seq: u32, nextseq: u32, base: u32) {
        self.rebase(base);
        let e = Entry { seq, nextseq };
        let (s, n) = self.offsets(e);
        let (was_empty, was_ordered) = (self.entries.is_empty(), self.ordered);
        self.ordered = match self.entries.back() {
            None => self.sane(e),
            Some(&last) => {
                let (ls, ln) = self.offsets(last);
                self.ordered && self.sane(e) && s >= ls && n >= ln
            }
        };
        // The cache is only kept up to date while the list is out of order.
        match &mut self.bounds {
            Some(b) if !was_empty && !was_ordered && !self.ordered => b.add(s, n),
            b => *b = None,
        }
        self.entries.push_back(e);
    }

    /// Recomputes order and bounds for another base (rare: a SYN/ACK rebase).
    fn rebase(&mut self, base: u32) {
        if base != self.base {
            self.base = base;
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        let mut ordered = true;
        let mut bounds: Option<Bounds> = None;
        let mut prev: Option<(u32, u32)> = None;
        for &e in &self.entries {
            let (s, n) = self.offsets(e);
            ordered &= self.sane(e) && prev.is_none_or(|(ps, pn)| s >= ps && n >= pn);
            prev = Some((s, n));
            match &mut bounds {
                None => bounds = Some(Bounds::of(s, n)),
                Some(b) => b.add(s, n),
            }
        }
        self.ordered = ordered;
        self.bounds = bounds;
    }

    fn current_bounds(&mut self, base: u32) -> Option<Bounds> {
        self.rebase(base);
        if self.ordered {
            let (front, back) = (*self.entries.front()?, *self.entries.back()?);
            let (fs, fnx) = self.offsets(front);
            let (bs, bn) = self.offsets(back);
            return Some(Bounds {
                min_seq: fs,
                max_seq: bs,
                min_next: fnx,
                max_next: bn,
            });
        }
        if self.bounds.is_none() {
            self.reindex();
        }
        self.bounds
    }

    /// Wireshark's historical bytes-in-flight: the span from the lowest unacked `seq` to the
    /// highest unacked `nextseq`, both taken relative to `base` (unsigned).
    pub fn span(&mut self, base: u32) -> Option<u32> {
        self.current_bounds(base)
            .map(|b| b.max_next.wrapping_sub(b.min_seq))
    }

    /// Wireshark's removal loop for an ACK of `ack` from the other side: entries whose
    /// `nextseq` is at or below `ack` go; an entry that `ack` falls inside is trimmed to start
    /// at `ack`; the rest stay.
    pub fn acknowledge(&mut self, ack: u32, base: u32) {
        let Some(b) = self.current_bounds(base) else {
            return;
        };
        let off = ack.wrapping_sub(self.base);
        if b.untouched_by(off) {
            return;
        }
        let in_window =
            b.max_next.wrapping_sub(b.min_seq) < HALF && off.wrapping_sub(b.min_seq) < HALF;
        if self.ordered && in_window {
            self.acknowledge_prefix(ack, off.wrapping_sub(b.min_seq), b.min_seq);
            self.bounds = None;
        } else {
            self.entries.retain_mut(|e| wireshark_keeps(e, ack));
            self.reindex();
        }
    }

    /// In order and inside one half-window (offsets measured from the lowest `seq`, `min`),
    /// the entries starting before the ACK (at `rel_ack` from `min`) are a prefix and every
    /// later entry is untouched; apply Wireshark's rule to the prefix only. Trimmed entries
    /// start at the ACK, so the list stays in order.
    fn acknowledge_prefix(&mut self, ack: u32, rel_ack: u32, min: u32) {
        let base = self.base;
        let k = self
            .entries
            .partition_point(|e| e.seq.wrapping_sub(base).wrapping_sub(min) < rel_ack);
        let mut kept = 0;
        for r in 0..k {
            let mut e = self.entries[r];
            if wireshark_keeps(&mut e, ack) {
                self.entries[kept] = e;
                kept += 1;
            }
        }
        self.entries.drain(kept..k);
    }
}

/// One step of Wireshark's loop for entry `e`: false to delete it; may trim it.
fn wireshark_keeps(e: &mut Entry, ack: u32) -> bool {
    if ack == e.nextseq {
        false
    } else if gt_seq(ack, e.seq) && le_seq(ack, e.nextseq) {
        e.seq = ack;
        true
    } else {
        gt_seq(e.nextseq, ack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wireshark's loop, verbatim, on a plain list.
    fn reference(entries: &mut Vec<Entry>, ack: u32) {
        entries.retain_mut(|e| wireshark_keeps(e, ack));
    }

    #[test]
    fn every_path_matches_wiresharks_walk() {
        let mut x: u64 = 0x1234_5678_9abc_def0;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..4000u32 {
            let mut base = [0, u32::MAX - 5000, 1 << 31, 77][(round % 4) as usize];
            let mut u = Unacked::default();
            let mut r: Vec<Entry> = Vec::new();
            let mut nxt = base.wrapping_add(1);
            let mut acked = nxt;
            for _ in 0..60 {
                let v = next();
                match v % 16 {
                    // In-order send (the common case).
                    0..=5 => {
                        let len = 1 + (next() % 1500) as u32;
                        u.push(nxt, nxt.wrapping_add(len), base);
                        r.push(Entry {
                            seq: nxt,
                            nextseq: nxt.wrapping_add(len),
                        });
                        nxt = nxt.wrapping_add(len);
                    }
                    // Retransmission / overlap / odd lengths, including insane ones.
                    6 | 7 => {
                        let s = acked
                            .wrapping_add((next() % 4000) as u32)
                            .wrapping_sub(1000);
                        let len = [0u32, 1, 700, u32::MAX, 1 << 31][(next() % 5) as usize];
                        u.push(s, s.wrapping_add(len), base);
                        r.push(Entry {
                            seq: s,
                            nextseq: s.wrapping_add(len),
                        });
                    }
                    // Cumulative ACK somewhere around what was sent.
                    8..=12 => {
                        let ack = acked.wrapping_add((next() % 3000) as u32);
                        acked = ack;
                        u.acknowledge(ack, base);
                        reference(&mut r, ack);
                    }
                    // Wild ACK.
                    13 => {
                        let ack = next() as u32;
                        u.acknowledge(ack, base);
                        reference(&mut r, ack);
                    }
                    // Rebase (a SYN/ACK with another ISN).
                    14 => base = base.wrapping_add((next() % 100) as u32),
                    _ => {}
                }
                let got: Vec<Entry> = u.entries.iter().copied().collect();
                let (mut g, mut w) = (got.clone(), r.clone());
                g.sort_unstable_by_key(|e| (e.seq, e.nextseq));
                w.sort_unstable_by_key(|e| (e.seq, e.nextseq));
                assert_eq!(g, w, "round {round}");
                let span = r.iter().fold(None, |acc: Option<(u32, u32)>, e| {
                    let (s, n) = (e.seq.wrapping_sub(base), e.nextseq.wrapping_sub(base));
                    Some(acc.map_or((s, n), |(lo, hi)| (lo.min(s), hi.max(n))))
                });
                assert_eq!(
                    u.span(base),
                    span.map(|(lo, hi)| hi.wrapping_sub(lo)),
                    "round {round}"
                );
            }
        }
    }
}
