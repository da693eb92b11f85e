//! One synthetic TCP conversation: a queue of segments, refilled phase by phase (handshake,
//! exchanges, teardown), each with the sequence and acknowledgment numbers a real pair of
//! Linux endpoints would use.

use std::collections::VecDeque;

use super::packet::{Host, MAX_PAYLOAD};
use super::Rng;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// Full-size segment payload.
const SEG: u32 = MAX_PAYLOAD as u32;

/// The options a segment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    /// MSS 1460, SACK permitted, timestamps, NOP, window scale 7 (Linux's SYN options).
    Syn,
    /// NOP, NOP, timestamps.
    Ts,
    /// NOP, NOP, timestamps, NOP, NOP, one SACK block.
    Sack(u32, u32),
}

/// What a segment is, for the counts of [`Stats`](super::Stats) (taken as it is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    Plain,
    Retransmission,
    DupAck,
    OutOfOrder,
}

/// One segment to send: direction 0 is client to server.
#[derive(Debug, Clone, Copy)]
pub struct Seg {
    pub dir: usize,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub win: u16,
    pub len: u16,
    pub opt: Opt,
    /// The next segment of this conversation follows at once (a burst).
    pub sticky: bool,
    pub note: Note,
}

/// What conversations look like.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub max_exchanges: u32,
    pub loss: f64,
    pub reorder: f64,
    /// Short streams: handshake, at most one small exchange, teardown.
    pub short: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Exchanges(u32),
    Teardown,
    Done,
}

/// A TCP conversation between a client (index 0) and a server (index 1).
pub struct Conv {
    pub hosts: [Host; 2],
    pub ports: [u16; 2],
    pub v6: bool,
    /// pcapng interface: 1 for loopback conversations, else 0.
    pub iface: u32,
    pub ip_id: [u16; 2],
    /// Next sequence number each side sends.
    seq: [u32; 2],
    /// What each side has received in order (its ACK).
    rcv: [u32; 2],
    ts_off: [u32; 2],
    last_ts: [u32; 2],
    base_win: [u16; 2],
    queue: VecDeque<Seg>,
    phase: Phase,
}

impl Conv {
    pub fn new(rng: &mut Rng, hosts: [Host; 2], ports: [u16; 2], v6: bool, iface: u32) -> Conv {
        Conv {
            hosts,
            ports,
            v6,
            iface,
            ip_id: [rng.next_u64() as u16, rng.next_u64() as u16],
            seq: [rng.next_u64() as u32, rng.next_u64() as u32],
            rcv: [0; 2],
            ts_off: [rng.next_u64() as u32, rng.next_u64() as u32],
            last_ts: [0; 2],
            base_win: [496 + rng.below(16) as u16, 496 + rng.below(16) as u16],
            queue: VecDeque::new(),
            phase: Phase::Handshake,
        }
    }

    /// The next segment, or None once the conversation is over.
    pub fn next(&mut self, rng: &mut Rng, shape: &Shape) -> Option<Seg> {
        while self.queue.is_empty() {
            match self.phase {
                Phase::Handshake => {
                    self.handshake();
                    let n = if shape.short {
                        u32::from(rng.f64() < 0.25)
                    } else {
                        1 + rng.below(shape.max_exchanges as u64) as u32
                    };
                    self.phase = Phase::Exchanges(n);
                }
                Phase::Exchanges(0) => self.phase = Phase::Teardown,
                Phase::Exchanges(n) => {
                    if shape.short {
                        self.small_exchange(rng);
                    } else {
                        self.exchange(rng, shape);
                    }
                    self.phase = Phase::Exchanges(n - 1);
                }
                Phase::Teardown => {
                    self.teardown(rng);
                    self.phase = Phase::Done;
                }
                Phase::Done => return None,
            }
        }
        self.queue.pop_front()
    }

    /// The timestamp option of a segment sent now (`now_ms`) by `dir`: (TSval, TSecr).
    pub fn timestamps(&mut self, dir: usize, now_ms: u64, flags: u8) -> (u32, u32) {
        let val = (now_ms as u32).wrapping_add(self.ts_off[dir]);
        let ecr = if flags == SYN {
            0
        } else {
            self.last_ts[1 - dir]
        };
        self.last_ts[dir] = val;
        (val, ecr)
    }

    fn push(&mut self, dir: usize, seq: u32, flags: u8, len: u32, sticky: bool) {
        let ack = self.rcv[dir];
        self.queue.push_back(Seg {
            dir,
            seq,
            ack,
            flags,
            win: self.base_win[dir] + ((ack >> 13) & 15) as u16,
            len: len as u16,
            opt: Opt::Ts,
            sticky,
            note: Note::Plain,
        });
    }

    /// Marks the segment queued last.
    fn note(&mut self, note: Note) {
        if let Some(s) = self.queue.back_mut() {
            s.note = note;
        }
    }

    /// A pure ACK from `dir`.
    fn ack(&mut self, dir: usize) {
        self.push(dir, self.seq[dir], ACK, 0, false);
    }

    fn handshake(&mut self) {
        let (c, s) = (self.seq[0], self.seq[1]);
        self.queue.push_back(Seg {
            dir: 0,
            seq: c,
            ack: 0,
            flags: SYN,
            win: 64240,
            len: 0,
            opt: Opt::Syn,
            sticky: false,
            note: Note::Plain,
        });
        self.seq[0] = c.wrapping_add(1);
        self.rcv[1] = self.seq[0];
        self.queue.push_back(Seg {
            dir: 1,
            seq: s,
            ack: self.rcv[1],
            flags: SYN | ACK,
            win: 65160,
            len: 0,
            opt: Opt::Syn,
            sticky: false,
            note: Note::Plain,
        });
        self.seq[1] = s.wrapping_add(1);
        self.rcv[0] = self.seq[1];
        self.ack(0);
    }

    /// Side `i` sends `n` bytes in one segment with PSH.
    fn send(&mut self, i: usize, n: u32) {
        self.push(i, self.seq[i], PSH | ACK, n, false);
        self.seq[i] = self.seq[i].wrapping_add(n);
        self.rcv[1 - i] = self.seq[i];
    }

    /// Short streams: a small request and its response.
    fn small_exchange(&mut self, rng: &mut Rng) {
        self.send(0, 20 + rng.below(180) as u32);
        self.send(1, 50 + rng.below(1350) as u32);
    }

    /// Request/response (65 %), an upload (15 %) or interactive chatter (20 %).
    fn exchange(&mut self, rng: &mut Rng, shape: &Shape) {
        let r = rng.f64();
        if r < 0.65 {
            let q = 16 + rng.below(600) as u32;
            self.push(0, self.seq[0], PSH | ACK, q, false);
            if rng.f64() < shape.loss {
                // Timeout retransmission of the request.
                self.push(0, self.seq[0], PSH | ACK, q, false);
                self.note(Note::Retransmission);
            }
            self.seq[0] = self.seq[0].wrapping_add(q);
            self.rcv[1] = self.seq[0];
            let r2 = rng.f64();
            let resp = if r2 < 0.5 {
                1 + rng.below(SEG as u64) as u32
            } else if r2 < 0.9 {
                SEG + 1 + rng.below(20_000) as u32
            } else {
                20_000 + rng.below(200_000) as u32
            };
            if resp > SEG || rng.f64() < 0.3 {
                self.ack(1);
            }
            self.transfer(rng, shape, 1, resp);
        } else if r < 0.8 {
            let n = 1 + rng.below(60_000) as u32;
            self.transfer(rng, shape, 0, n);
        } else {
            for _ in 0..1 + rng.below(5) {
                self.send(0, 1 + rng.below(64) as u32);
                self.send(1, 1 + rng.below(256) as u32);
            }
            self.ack(0);
        }
    }

    /// Side `i` sends `n` bytes in bursts of 2..10 full segments; the receiver ACKs every
    /// second one. A segment may be lost after the capture point (dup ACKs with SACK, then a
    /// fast retransmission) or swapped with the next one (out of order).
    fn transfer(&mut self, rng: &mut Rng, shape: &Shape, i: usize, n: u32) {
        let j = 1 - i;
        let ns = n.div_ceil(SEG);
        let last = n - (ns - 1) * SEG;
        let len_of = |k: u32| if k < ns - 1 { SEG } else { last };
        let flags_of = |k: u32| if k == ns { PSH | ACK } else { ACK };
        let mut bounds: Vec<u32> = Vec::with_capacity(10);
        let mut k = 0;
        while k < ns {
            let end = ns.min(k + 2 + rng.below(9) as u32);
            bounds.clear();
            while k < end {
                let r = rng.f64();
                if r < shape.loss + shape.reorder && k + 1 < ns {
                    if !bounds.is_empty() {
                        // The receiver ACKs what it has before the event.
                        self.rcv[j] = self.seq[i];
                        bounds.clear();
                        self.ack(j);
                    }
                    self.rcv[j] = self.seq[i];
                    if r < shape.loss {
                        let lost = self.seq[i];
                        k += 1;
                        self.push(i, lost, ACK, SEG, false);
                        self.seq[i] = lost.wrapping_add(SEG);
                        for _ in 0..3.min(ns - k) {
                            let ln = len_of(k);
                            k += 1;
                            self.push(i, self.seq[i], flags_of(k), ln, false);
                            self.seq[i] = self.seq[i].wrapping_add(ln);
                            self.sack(j, lost.wrapping_add(SEG), self.seq[i]);
                        }
                        self.push(i, lost, ACK, SEG, false);
                        self.note(Note::Retransmission);
                    } else {
                        let s0 = self.seq[i];
                        let ln = len_of(k + 1);
                        k += 2;
                        self.push(i, s0.wrapping_add(SEG), flags_of(k), ln, true);
                        self.push(i, s0, ACK, SEG, false);
                        self.note(Note::OutOfOrder);
                        self.seq[i] = s0.wrapping_add(SEG + ln);
                    }
                    self.rcv[j] = self.seq[i];
                    self.ack(j);
                    continue;
                }
                let ln = len_of(k);
                k += 1;
                self.push(i, self.seq[i], flags_of(k), ln, k < end);
                self.seq[i] = self.seq[i].wrapping_add(ln);
                bounds.push(self.seq[i]);
            }
            for pair in bounds.chunks(2) {
                self.rcv[j] = pair[pair.len() - 1];
                self.ack(j);
            }
        }
    }

    /// A duplicate ACK from `dir` with one SACK block.
    fn sack(&mut self, dir: usize, left: u32, right: u32) {
        self.push(dir, self.seq[dir], ACK, 0, false);
        self.note(Note::DupAck);
        if let Some(s) = self.queue.back_mut() {
            s.opt = Opt::Sack(left, right);
        }
    }

    /// FIN/ACK each way (3 % of conversations end with RST/ACK instead).
    fn teardown(&mut self, rng: &mut Rng) {
        let r = rng.f64();
        if r < 0.03 {
            self.push(0, self.seq[0], RST | ACK, 0, false);
            return;
        }
        let (a, b) = if r < 0.9 { (0, 1) } else { (1, 0) };
        self.push(a, self.seq[a], FIN | ACK, 0, false);
        self.seq[a] = self.seq[a].wrapping_add(1);
        self.rcv[b] = self.seq[a];
        if rng.f64() < 0.3 {
            self.ack(b);
        }
        self.push(b, self.seq[b], FIN | ACK, 0, false);
        self.seq[b] = self.seq[b].wrapping_add(1);
        self.rcv[a] = self.seq[b];
        self.ack(a);
    }
}
