//! Randomised but reproducible captures for the tshark differential test: a few concurrent
//! connections (IPv4 and IPv6) with handshakes (or none), data, cumulative and duplicate
//! ACKs with SACK blocks, losses, retransmissions fast and slow, reordering, keep-alives,
//! zero windows and probes, window updates, window-full sends, FIN/RST, port reuse with new
//! or equal ISNs, sequence wrap and junk segments. Far fewer conversations than expiry
//! needs (see `analyse::tcp`), so tshark's numbering (which never expires) applies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::analyse::flags::{ACK, FIN, PSH, RST, SYN};
use crate::source::{PcapWriter, Resolution};

const LINKTYPE_ETHERNET: u16 = 1;
const SNAPLEN: u32 = 65_535;
const EPOCH_SECS: i128 = 1_700_000_000;
const PACKETS: usize = 400;
const MSS: u32 = 1448;

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

#[derive(Clone, Copy)]
struct Side {
    addr: IpAddr,
    port: u16,
    /// Next sequence number to send.
    nxt: u32,
    /// Last ACK and window this side sent.
    ack: u32,
    win: u16,
    /// The shift this side announced, if any.
    ws: Option<u8>,
    /// Recent data segments sent: (seq, len).
    sent: [(u32, u32); 8],
    nsent: usize,
}

impl Side {
    fn new(addr: IpAddr, port: u16) -> Self {
        Side {
            addr,
            port,
            nxt: 0,
            ack: 0,
            win: 0,
            ws: None,
            sent: [(0, 0); 8],
            nsent: 0,
        }
    }
    fn remember(&mut self, seq: u32, len: u32) {
        self.sent[self.nsent % 8] = (seq, len);
        self.nsent += 1;
    }
    fn recent(&self, rng: &mut Rng) -> Option<(u32, u32)> {
        (self.nsent > 0).then(|| self.sent[rng.below(self.nsent.min(8) as u64) as usize])
    }
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Fresh,
    Open,
    Closed,
}

struct Conn {
    s: [Side; 2],
    state: State,
    /// Carries MPTCP options (MP_CAPABLE v0 handshake, DSS and ADD_ADDR later).
    mptcp: bool,
}

struct Gen {
    rng: Rng,
    time: i128,
    /// Write every timestamp as 0 (tshark then analyses with zero times, as for records
    /// without timestamps).
    zero_clock: bool,
    /// A ns pcap file in memory.
    out: PcapWriter<Vec<u8>>,
    conns: Vec<Conn>,
}

fn pcap_ns() -> PcapWriter<Vec<u8>> {
    PcapWriter::new(Vec::new(), Resolution::Nanos, LINKTYPE_ETHERNET, SNAPLEN)
        .expect("writing to memory")
}

pub fn capture(seed: u64) -> Vec<u8> {
    let mut g = Gen {
        rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
        time: EPOCH_SECS * 1_000_000_000,
        zero_clock: seed.is_multiple_of(8),
        out: pcap_ns(),
        conns: Vec::new(),
    };
    let mut emitted = 0;
    while emitted < PACKETS {
        let before = g.out.bytes_written();
        g.step();
        if g.out.bytes_written() != before {
            emitted += 1;
        }
    }
    g.out.into_inner()
}

/// One direction only: more than Wireshark's 10,000 unacked segments, then FINs (whose
/// extra sequence byte Wireshark stops counting once its list is full), then an ACK.
pub fn one_way_bulk() -> Vec<u8> {
    let mut g = Gen {
        rng: Rng(7),
        time: EPOCH_SECS * 1_000_000_000,
        zero_clock: false,
        out: pcap_ns(),
        conns: Vec::new(),
    };
    let a = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
    let b = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2));
    g.conns.push(Conn {
        s: [Side::new(a, 40_000), Side::new(b, 45_000)],
        state: State::Open,
        mptcp: false,
    });
    let mut seq = u32::MAX - 300_000;
    for _ in 0..10_050 {
        g.send(0, 0, seq, 5, ACK, 1000, 100, &[]);
        seq = seq.wrapping_add(100);
    }
    g.send(0, 0, seq, 5, FIN | ACK, 1000, 0, &[]);
    g.send(0, 0, seq, 5, FIN | ACK, 1000, 0, &[]);
    g.send(0, 0, seq.wrapping_add(1), 5, ACK, 1000, 0, &[]);
    g.send(0, 1, 5, seq.wrapping_add(1), ACK, 1000, 0, &[]);
    g.send(0, 0, seq.wrapping_add(1), 5, ACK | PSH, 1000, 10, &[]);
    g.out.into_inner()
}

fn host(rng: &mut Rng, v6: bool) -> IpAddr {
    let n = 1 + rng.below(3) as u8;
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(n)))
    } else {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }
}

impl Gen {
    fn step(&mut self) {
        if self.conns.len() < 4 && (self.conns.is_empty() || self.rng.chance(3)) {
            let v6 = self.rng.chance(25);
            let a = host(&mut self.rng, v6);
            let mut b = host(&mut self.rng, v6);
            if self.rng.chance(90) && a == b {
                b = match b {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(10, 0, 1, 9)),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 9)),
                };
            }
            let pa = 40_000 + self.rng.below(4) as u16;
            let mut pb = 45_000 + self.rng.below(2) as u16;
            if self.rng.chance(5) {
                // Both ends on one host, sometimes on one port too.
                b = a;
                if self.rng.chance(50) {
                    pb = pa;
                }
            }
            let mptcp = self.rng.chance(15);
            self.conns.push(Conn {
                s: [Side::new(a, pa), Side::new(b, pb)],
                state: State::Fresh,
                mptcp,
            });
        }
        let i = self.rng.below(self.conns.len() as u64) as usize;
        match self.conns[i].state {
            State::Fresh => self.open(i, None),
            State::Open => self.act(i),
            State::Closed => {
                let r = self.rng.below(10);
                if r < 6 {
                    self.open(i, None);
                } else if r < 7 {
                    let isn = self.conns[i].s[0].nxt;
                    self.open(i, Some(isn));
                } else {
                    self.junk(i);
                }
            }
        }
    }

    fn isn(&mut self) -> u32 {
        if self.rng.chance(30) {
            u32::MAX - self.rng.below(20_000) as u32
        } else {
            self.rng.next() as u32
        }
    }

    fn mptcp_key(&mut self, o: &mut Vec<u8>) {
        o.extend_from_slice(&self.rng.next().to_be_bytes());
    }

    fn syn_options(&mut self, ws: Option<u8>, mptcp: bool) -> Vec<u8> {
        let mut o = vec![2, 4, 0x05, 0xb4];
        if mptcp {
            o.extend_from_slice(&[30, 12, 0x00, 0x81]);
            self.mptcp_key(&mut o);
        }
        if let Some(s) = ws {
            o.extend_from_slice(&[1, 3, 3, s]);
        }
        if self.rng.chance(60) {
            o.extend_from_slice(&[1, 1, 4, 2]);
        }
        o
    }

    /// Handshake (or a mid-stream start). `isn`: reuse this client ISN.
    fn open(&mut self, i: usize, isn: Option<u32>) {
        let c_isn = match isn {
            Some(x) => x,
            None => self.isn(),
        };
        let s_isn = self.isn();
        {
            let c = &mut self.conns[i];
            c.s[0].nsent = 0;
            c.s[1].nsent = 0;
            c.state = State::Open;
        }
        if self.rng.chance(12) {
            // Capture starts mid-connection.
            let c = &mut self.conns[i];
            c.s[0].nxt = c_isn;
            c.s[1].nxt = s_isn;
            c.s[0].ack = s_isn;
            c.s[1].ack = c_isn;
            c.s[0].win = 8192;
            c.s[1].win = 8192;
            return;
        }
        let ws_c = self
            .rng
            .chance(70)
            .then(|| self.rng.pick(&[0u8, 2, 7, 14, 15]));
        let ws_s = self.rng.chance(75).then(|| self.rng.pick(&[0u8, 1, 6, 9]));
        let mptcp = self.conns[i].mptcp;
        let syn_opts = self.syn_options(ws_c, mptcp);
        let c_win = self.rng.pick(&[0u16, 512, 29_200, 65_535]);
        for _ in 0..1 + usize::from(self.rng.chance(15)) {
            self.send(i, 0, c_isn, 0, SYN, c_win, 0, &syn_opts);
        }
        if self.rng.chance(8) {
            // No answer: leave it half-open.
            self.conns[i].s[0].nxt = c_isn.wrapping_add(1);
            self.conns[i].s[1].nxt = s_isn;
            return;
        }
        let sa_opts = self.syn_options(ws_s, mptcp);
        let s_win = self.rng.pick(&[1024u16, 28_960, 65_535]);
        let synack_seq = if self.rng.chance(4) {
            s_isn.wrapping_add(77)
        } else {
            s_isn
        };
        for _ in 0..1 + usize::from(self.rng.chance(10)) {
            self.send(
                i,
                1,
                synack_seq,
                c_isn.wrapping_add(1),
                SYN | ACK,
                s_win,
                0,
                &sa_opts,
            );
        }
        let c = &mut self.conns[i];
        c.s[0].ws = ws_c;
        c.s[1].ws = ws_s;
        c.s[0].nxt = c_isn.wrapping_add(1);
        c.s[1].nxt = s_isn.wrapping_add(1);
        let ack_win = self.rng.pick(&[0u16, 229, 502, 4096]);
        if self.rng.chance(90) {
            let mut o = Vec::new();
            if mptcp {
                o.extend_from_slice(&[30, 20, 0x00, 0x81]);
                self.mptcp_key(&mut o);
                self.mptcp_key(&mut o);
            }
            self.send(
                i,
                0,
                c_isn.wrapping_add(1),
                s_isn.wrapping_add(1),
                ACK,
                ack_win,
                0,
                &o,
            );
        }
    }

    fn delay(&mut self) {
        let d: i128 = match self.rng.below(100) {
            0..=14 => 0,
            15..=34 => 1_000,
            35..=54 => 400_000,
            55..=69 => 2_500_000,
            70..=84 => 15_000_000,
            85..=96 => 150_000_000,
            97 => -700_000,
            _ => 2_000_000_000,
        };
        self.time += d;
    }

    /// Sends from side `d` of connection `i` and records what that side last said.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        i: usize,
        d: usize,
        seq: u32,
        ack: u32,
        flags: u16,
        win: u16,
        len: u32,
        opts: &[u8],
    ) {
        self.delay();
        let (from, to) = (self.conns[i].s[d], self.conns[i].s[1 - d]);
        {
            let s = &mut self.conns[i].s[d];
            if flags & ACK != 0 {
                s.ack = ack;
            }
            s.win = win;
        }
        let pkt = packet(&from, &to, seq, ack, flags, win, len, opts);
        self.record(&pkt);
    }

    fn record(&mut self, pkt: &[u8]) {
        let t = if self.zero_clock { 0 } else { self.time.max(0) };
        self.out
            .write_packet(t as u64, pkt.len() as u32, pkt)
            .expect("writing to memory");
    }

    fn act(&mut self, i: usize) {
        let d = self.rng.below(2) as usize;
        match self.rng.below(100) {
            0..=34 => self.data(i, d, None),
            35..=54 => self.ack(i, d, None),
            55..=59 => self.dup_acks(i, d),
            60..=65 => self.retransmit(i, d),
            66..=68 => self.keep_alive(i, d),
            69..=72 => self.zero_window(i, d),
            73..=76 => self.window_update(i, d),
            77..=80 => {
                // Lost: the data is sent but not captured.
                let len = self.len();
                let s = &mut self.conns[i].s[d];
                s.remember(s.nxt, len);
                s.nxt = s.nxt.wrapping_add(len);
            }
            81..=84 => self.reorder(i, d),
            85..=87 => self.fill_window(i, d),
            88..=90 => self.fin(i, d),
            91..=92 => self.rst(i, d),
            93..=94 => self.icmp_error(i, d),
            _ => self.junk(i),
        }
    }

    fn len(&mut self) -> u32 {
        self.rng.pick(&[1, 2, 100, 536, MSS])
    }

    fn data_options(&mut self, i: usize) -> Vec<u8> {
        let mut o = Vec::new();
        if self.rng.chance(30) {
            let v = self.rng.next() as u32;
            o.extend_from_slice(&[1, 1, 8, 10]);
            o.extend_from_slice(&v.to_be_bytes());
            o.extend_from_slice(&(v / 3).to_be_bytes());
        }
        if self.conns[i].mptcp {
            match self.rng.below(4) {
                // DSS with a 4-byte data ACK.
                0 | 1 => {
                    o.extend_from_slice(&[30, 8, 0x20, 0x01]);
                    o.extend_from_slice(&(self.rng.next() as u32).to_be_bytes());
                }
                // ADD_ADDR (v0, IPv4).
                2 => o.extend_from_slice(&[30, 8, 0x34, 1, 10, 0, 0, 9]),
                _ => {}
            }
        }
        o
    }

    fn data(&mut self, i: usize, d: usize, len: Option<u32>) {
        let len = len.unwrap_or_else(|| self.len());
        let s = self.conns[i].s[d];
        let peer_nxt = self.conns[i].s[1 - d].nxt;
        let ack = if self.rng.chance(80) { peer_nxt } else { s.ack };
        let win = if self.rng.chance(85) {
            s.win.max(1)
        } else {
            self.rng.pick(&[0u16, 300, 1000])
        };
        let opts = self.data_options(i);
        self.send(i, d, s.nxt, ack, ACK | PSH, win, len, &opts);
        let s = &mut self.conns[i].s[d];
        s.remember(s.nxt, len);
        s.nxt = s.nxt.wrapping_add(len);
    }

    fn ack(&mut self, i: usize, d: usize, win: Option<u16>) {
        let s = self.conns[i].s[d];
        let peer = self.conns[i].s[1 - d];
        let ack = match self.rng.below(10) {
            0 => peer.recent(&mut self.rng).map_or(peer.nxt, |(q, _)| q),
            1 => s.ack,
            _ => peer.nxt,
        };
        let win = win.unwrap_or_else(|| {
            if self.rng.chance(80) {
                s.win.max(1)
            } else {
                self.rng.pick(&[0u16, 10, 700, 65_535])
            }
        });
        let opts = self.data_options(i);
        self.send(i, d, s.nxt, ack, ACK, win, 0, &opts);
    }

    /// A hole: dup ACKs (with SACK) for an early segment, then its (fast) retransmission.
    fn dup_acks(&mut self, i: usize, d: usize) {
        let peer = self.conns[i].s[1 - d];
        let Some((hole, hole_len)) = peer.recent(&mut self.rng) else {
            return self.data(i, 1 - d, None);
        };
        let s = self.conns[i].s[d];
        let win = s.win.max(1);
        let mut sack = vec![1, 1, 5, 10];
        sack.extend_from_slice(&hole.wrapping_add(hole_len).to_be_bytes());
        sack.extend_from_slice(&peer.nxt.to_be_bytes());
        for _ in 0..1 + self.rng.below(4) {
            let opts = if self.rng.chance(60) {
                sack.clone()
            } else {
                Vec::new()
            };
            self.send(i, d, s.nxt, hole, ACK, win, 0, &opts);
        }
        if self.rng.chance(80) {
            let ack = s.ack;
            self.send(i, 1 - d, hole, ack, ACK, peer.win.max(1), hole_len, &[]);
        }
    }

    fn retransmit(&mut self, i: usize, d: usize) {
        let s = self.conns[i].s[d];
        let Some((seq, len)) = s.recent(&mut self.rng) else {
            return self.data(i, d, None);
        };
        self.send(i, d, seq, s.ack, ACK | PSH, s.win.max(1), len, &[]);
    }

    fn keep_alive(&mut self, i: usize, d: usize) {
        let s = self.conns[i].s[d];
        let len = u32::from(self.rng.chance(40));
        self.send(
            i,
            d,
            s.nxt.wrapping_sub(1),
            s.ack,
            ACK,
            s.win.max(1),
            len,
            &[],
        );
        if self.rng.chance(70) {
            let peer = self.conns[i].s[1 - d];
            self.send(i, 1 - d, peer.nxt, peer.ack, ACK, peer.win.max(1), 0, &[]);
        }
    }

    /// The peer closes its window; this side probes; the peer answers and reopens.
    fn zero_window(&mut self, i: usize, d: usize) {
        self.ack(i, 1 - d, Some(0));
        for _ in 0..1 + self.rng.below(3) {
            let s = self.conns[i].s[d];
            self.send(i, d, s.nxt, s.ack, ACK, s.win.max(1), 1, &[]);
            if self.rng.chance(70) {
                let p = self.conns[i].s[1 - d];
                self.send(i, 1 - d, p.nxt, p.ack, ACK, 0, 0, &[]);
            }
        }
        if self.rng.chance(70) {
            let p = self.conns[i].s[1 - d];
            self.send(i, 1 - d, p.nxt, p.ack, ACK, 4096, 0, &[]);
        }
    }

    fn window_update(&mut self, i: usize, d: usize) {
        let s = self.conns[i].s[d];
        let win = s.win.wrapping_add(self.rng.pick(&[0u16, 1, 1000]));
        self.send(i, d, s.nxt, s.ack, ACK, win, 0, &[]);
    }

    /// Two segments sent in swapped order, close together.
    fn reorder(&mut self, i: usize, d: usize) {
        let s = self.conns[i].s[d];
        let (l1, l2) = (self.len(), self.len());
        let second = s.nxt.wrapping_add(l1);
        self.send(i, d, second, s.ack, ACK, s.win.max(1), l2, &[]);
        self.send(i, d, s.nxt, s.ack, ACK, s.win.max(1), l1, &[]);
        let s = &mut self.conns[i].s[d];
        s.remember(s.nxt, l1);
        s.remember(second, l2);
        s.nxt = second.wrapping_add(l2);
    }

    /// Sends exactly up to the right edge of the peer's advertised window when it fits.
    fn fill_window(&mut self, i: usize, d: usize) {
        let peer = self.conns[i].s[1 - d];
        let shift = match (peer.ws, self.conns[i].s[d].ws) {
            (Some(p), Some(_)) => u32::from(p.min(14)),
            _ => 0,
        };
        let edge = peer.ack.wrapping_add(u32::from(peer.win) << shift);
        let len = edge.wrapping_sub(self.conns[i].s[d].nxt);
        if (1..=4 * MSS).contains(&len) {
            self.data(i, d, Some(len));
        } else {
            self.data(i, d, None);
        }
    }

    fn fin(&mut self, i: usize, d: usize) {
        for side in [d, 1 - d] {
            let s = self.conns[i].s[side];
            let peer_nxt = self.conns[i].s[1 - side].nxt;
            self.send(i, side, s.nxt, peer_nxt, FIN | ACK, s.win.max(1), 0, &[]);
            self.conns[i].s[side].nxt = s.nxt.wrapping_add(1);
            if self.rng.chance(15) {
                break;
            }
        }
        let s = self.conns[i].s[d];
        let peer_nxt = self.conns[i].s[1 - d].nxt;
        if self.rng.chance(85) {
            self.send(i, d, s.nxt, peer_nxt, ACK, s.win.max(1), 0, &[]);
        }
        self.conns[i].state = State::Closed;
    }

    fn rst(&mut self, i: usize, d: usize) {
        let s = self.conns[i].s[d];
        let flags = if self.rng.chance(50) { RST } else { RST | ACK };
        self.send(i, d, s.nxt, s.ack, flags, 0, 0, &[]);
        self.conns[i].state = State::Closed;
    }

    /// An ICMP error quoting a header this side sent (IPv4 only): tshark numbers a stream
    /// for it but does not analyse it. Sometimes the quoted header is a SYN with a new ISN.
    fn icmp_error(&mut self, i: usize, d: usize) {
        let (from, to) = (self.conns[i].s[d], self.conns[i].s[1 - d]);
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (from.addr, to.addr) else {
            return self.junk(i);
        };
        let (seq, flags) = if self.rng.chance(30) {
            (self.rng.next() as u32, SYN)
        } else {
            (from.nxt, ACK)
        };
        let quoted = packet(&from, &to, seq, from.ack, flags, from.win, 0, &[]);
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted[14..]);
        self.delay();
        let mut p = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 3];
        p.extend_from_slice(&0x0800u16.to_be_bytes());
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, 254]);
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&icmp);
        let _ = dst;
        self.record(&p);
    }

    /// Arbitrary header values on an existing conversation.
    fn junk(&mut self, i: usize) {
        let d = self.rng.below(2) as usize;
        let s = self.conns[i].s[d];
        let seq = if self.rng.chance(50) {
            s.nxt.wrapping_add(self.rng.below(3000) as u32)
        } else {
            self.rng.next() as u32
        };
        let ack = if self.rng.chance(50) {
            s.ack
        } else {
            self.rng.next() as u32
        };
        let flags = self.rng.below(0x1000) as u16;
        let len = self.rng.pick(&[0, 1, 10]);
        let win = self.rng.pick(&[0u16, 1, 5000]);
        self.send(i, d, seq, ack, flags, win, len, &[]);
    }
}

/// Ethernet + IPv4/IPv6 + TCP (+ zero payload) with checksums left at 0.
#[allow(clippy::too_many_arguments)]
fn packet(
    from: &Side,
    to: &Side,
    seq: u32,
    ack: u32,
    flags: u16,
    win: u16,
    len: u32,
    opts: &[u8],
) -> Vec<u8> {
    let mut opts = opts.to_vec();
    while !opts.len().is_multiple_of(4) {
        opts.push(0);
    }
    let tcp_len = 20 + opts.len();
    let mut p = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    match (from.addr, to.addr) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&0x0800u16.to_be_bytes());
            let total = (20 + tcp_len) as u32 + len;
            p.extend_from_slice(&[0x45, 0]);
            p.extend_from_slice(&(total as u16).to_be_bytes());
            p.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&0x86ddu16.to_be_bytes());
            p.extend_from_slice(&[0x60, 0, 0, 0]);
            p.extend_from_slice(&((tcp_len as u32 + len) as u16).to_be_bytes());
            p.extend_from_slice(&[6, 64]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
        }
        _ => unreachable!("one family per connection"),
    }
    p.extend_from_slice(&from.port.to_be_bytes());
    p.extend_from_slice(&to.port.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.push(((tcp_len / 4) as u8) << 4 | ((flags >> 8) & 0x0f) as u8);
    p.push((flags & 0xff) as u8);
    p.extend_from_slice(&win.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]);
    p.extend_from_slice(&opts);
    p.resize(p.len() + len as usize, 0);
    p
}
