//! Analysis: pure functions over decoded segments. No sockets, files, clocks or privileges.
//!
//! `Analyser` numbers TCP and UDP conversations as tshark numbers `tcp.stream` / `udp.stream`,
//! keeps relative SEQ/ACK per direction, and names what Wireshark's expert analysis names.

pub mod bound;
pub mod tcp;
pub mod udp;

use std::net::IpAddr;

/// Time of a packet in nanoseconds since the Unix epoch (None: the record has no timestamp,
/// e.g. a pcapng Simple Packet Block).
pub type TimeNs = Option<i128>;

/// A TCP segment as the analyser needs it: header fields plus the payload length that the
/// IP header declares (not what was captured), like tshark's `tcp.len`.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    /// 1-based frame number in the file; used to refer back to earlier frames.
    pub frame: u64,
    pub time: TimeNs,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// 12 bits: the classic flags byte plus AE (0x100) and the reserved bits.
    pub flags: u16,
    /// Raw window field.
    pub win: u16,
    /// Payload length from the IP length fields (tshark's `tcp.len`).
    pub len: u32,
    /// Raw option bytes as captured (may be cut short by the snaplen).
    pub options: &'a [u8],
}

pub mod flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const AE: u16 = 0x100;
}

/// Wireshark's `tcp.analysis.*` findings, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Findings(pub u32);

impl Findings {
    pub const RETRANSMISSION: u32 = 1 << 0;
    pub const FAST_RETRANSMISSION: u32 = 1 << 1;
    pub const SPURIOUS_RETRANSMISSION: u32 = 1 << 2;
    pub const OUT_OF_ORDER: u32 = 1 << 3;
    pub const LOST_SEGMENT: u32 = 1 << 4; // "previous segment not captured"
    pub const ACK_LOST_SEGMENT: u32 = 1 << 5; // "ACKed segment that wasn't captured"
    pub const DUPLICATE_ACK: u32 = 1 << 6;
    pub const ZERO_WINDOW: u32 = 1 << 7;
    pub const ZERO_WINDOW_PROBE: u32 = 1 << 8;
    pub const ZERO_WINDOW_PROBE_ACK: u32 = 1 << 9;
    pub const KEEP_ALIVE: u32 = 1 << 10;
    pub const KEEP_ALIVE_ACK: u32 = 1 << 11;
    pub const WINDOW_UPDATE: u32 = 1 << 12;
    pub const WINDOW_FULL: u32 = 1 << 13;
    pub const REUSED_PORTS: u32 = 1 << 14;

    /// (bit, JSON key, human label) in the order they are shown.
    pub const NAMES: &'static [(u32, &'static str, &'static str)] = &[
        (
            Self::REUSED_PORTS,
            "reused_ports",
            "TCP port numbers reused",
        ),
        (
            Self::SPURIOUS_RETRANSMISSION,
            "spurious_retransmission",
            "spurious retransmission",
        ),
        (
            Self::FAST_RETRANSMISSION,
            "fast_retransmission",
            "fast retransmission",
        ),
        (Self::RETRANSMISSION, "retransmission", "retransmission"),
        (Self::OUT_OF_ORDER, "out_of_order", "out-of-order"),
        (
            Self::LOST_SEGMENT,
            "lost_segment",
            "previous segment not captured",
        ),
        (
            Self::ACK_LOST_SEGMENT,
            "ack_lost_segment",
            "ACKed unseen segment",
        ),
        (Self::DUPLICATE_ACK, "duplicate_ack", "dup ACK"),
        (
            Self::ZERO_WINDOW_PROBE,
            "zero_window_probe",
            "zero-window probe",
        ),
        (
            Self::ZERO_WINDOW_PROBE_ACK,
            "zero_window_probe_ack",
            "zero-window probe ACK",
        ),
        (Self::ZERO_WINDOW, "zero_window", "zero window"),
        (Self::KEEP_ALIVE, "keep_alive", "keep-alive"),
        (Self::KEEP_ALIVE_ACK, "keep_alive_ack", "keep-alive ACK"),
        (Self::WINDOW_UPDATE, "window_update", "window update"),
        (Self::WINDOW_FULL, "window_full", "window full"),
    ];

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    pub fn set(&mut self, bit: u32) {
        self.0 |= bit;
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// What the analyser says about one TCP segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpVerdict {
    /// tshark's `tcp.stream`.
    pub stream: u64,
    /// Relative sequence number (tshark's `tcp.seq`).
    pub rel_seq: u32,
    /// Relative acknowledgment number (tshark's `tcp.ack`); 0 when the ACK flag is clear.
    pub rel_ack: u32,
    /// Relative sequence number after this segment (seq + len + SYN + FIN).
    pub rel_next_seq: u32,
    /// Window scale shift in force for this direction, when the handshake was seen
    /// (None: unknown, so `win` is shown raw). SYN segments are never scaled.
    pub win_shift: Option<u8>,
    /// Calculated window (raw << shift) when `win_shift` is known.
    pub win_scaled: Option<u64>,
    pub findings: Findings,
    /// For a duplicate ACK: which one it is (#1, #2, ...) and the frame it duplicates.
    pub dup_ack_num: u32,
    pub dup_ack_of: u64,
    /// Bytes in flight in this direction after this segment, when known.
    pub bytes_in_flight: Option<u32>,
    /// The TCP states this segment changed: its sender's and its receiver's.
    pub states: tcp::state::Transitions,
    /// A wait before this segment whose cause the segments show (delayed ACK, Nagle…).
    pub wait: Option<tcp::Wait>,
}

use crate::decode::{Packet, Transport};
use crate::source::Frame;

/// What the analyser adds to one decoded frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Analysis {
    /// tshark's `tcp.stream` or `udp.stream`.
    pub stream: Option<u64>,
    /// Sequence analysis of a TCP segment (None for fragments and cut headers).
    pub tcp: Option<TcpVerdict>,
}

/// Runs TCP and UDP analysis over frames in file order.
#[derive(Default)]
pub struct Analyser {
    tcp: tcp::TcpAnalyser,
    udp: udp::UdpStreams,
}

impl Analyser {
    pub fn new() -> Self {
        Analyser {
            tcp: tcp::TcpAnalyser::new(),
            udp: udp::UdpStreams::new(),
        }
    }

    /// Holding at most `limit` TCP and `limit` UDP conversations instead of
    /// [`bound::MAX_CONVERSATIONS`] (for tests and measurements of the eviction policy).
    pub fn with_limit(limit: usize) -> Self {
        Analyser {
            tcp: tcp::TcpAnalyser::with_limit(limit),
            udp: udp::UdpStreams::with_limit(limit),
        }
    }

    pub fn analyse(&mut self, frame: &Frame<'_>, pkt: &Packet<'_>) -> Analysis {
        let Some(ip) = pkt.ip else {
            return Analysis::default();
        };
        let time = frame.ts.map(|t| t.as_nanos());
        match pkt.transport {
            Transport::Tcp(t) => {
                let Some(seg) = tcp_segment(frame.number, time, &ip, &t) else {
                    return Analysis::default();
                };
                let fixed_len = t.fixed.and_then(|x| x.len);
                if ip.fragment.is_some() || fixed_len.is_none() {
                    let stream = self.tcp.stream_for_fragment(&seg);
                    return Analysis {
                        stream: Some(stream),
                        tcp: None,
                    };
                }
                let v = self.tcp.observe_with(&seg, t.options_cut);
                Analysis {
                    stream: Some(v.stream),
                    tcp: Some(v),
                }
            }
            Transport::Udp(u) if u.length.is_some() => {
                let key = udp::ConvKey::new(ip.src, u.sport, ip.dst, u.dport);
                Analysis {
                    stream: Some(self.udp.stream(key)),
                    tcp: None,
                }
            }
            Transport::Icmp(i) => {
                // tshark gives a TCP header quoted in an ICMP error a tcp.stream of its own
                // conversation (a new one if unseen), so later numbers depend on it.
                if let Some(q) = i.quoted {
                    self.quoted_tcp(frame, time, q);
                }
                Analysis::default()
            }
            _ => Analysis::default(),
        }
    }

    fn quoted_tcp(&mut self, frame: &Frame<'_>, time: TimeNs, quoted: &[u8]) {
        let inner = Frame {
            linktype: crate::decode::linktype::RAW,
            caplen: quoted.len() as u32,
            origlen: quoted.len() as u32,
            data: quoted,
            ..*frame
        };
        let p = crate::decode::decode(&inner);
        if let (Some(ip), Transport::Tcp(t)) = (p.ip, p.transport) {
            if let Some(seg) = tcp_segment(frame.number, time, &ip, &t) {
                self.tcp.stream_for_fragment(&seg);
            }
        }
    }

    pub fn tcp_streams(&self) -> u64 {
        self.tcp.stream_count()
    }

    pub fn udp_streams(&self) -> u64 {
        self.udp.count()
    }

    /// Conversations currently held in memory (TCP + UDP).
    pub fn live_streams(&self) -> usize {
        self.tcp.live_streams() + self.udp.live()
    }

    /// Open conversations (TCP + UDP) forgotten because the bound on held state was reached
    /// (see [`bound`]): later packets of one of them are numbered as a new stream, where
    /// tshark would continue the old one, so stream numbers after such a packet may differ
    /// from tshark's. 0 on the corpus and on ordinary captures.
    pub fn evicted(&self) -> u64 {
        self.tcp.evicted() + self.udp.evicted()
    }

    /// TCP and UDP conversations evicted, separately.
    pub fn evicted_by_protocol(&self) -> (u64, u64) {
        (self.tcp.evicted(), self.udp.evicted())
    }
}

/// The analyser's view of a TCP header that has its fixed 20 bytes.
fn tcp_segment<'a>(
    frame: u64,
    time: TimeNs,
    ip: &crate::decode::Ip,
    t: &crate::decode::Tcp<'a>,
) -> Option<TcpSegment<'a>> {
    let fx = t.fixed?;
    Some(TcpSegment {
        frame,
        time,
        src: ip.src,
        dst: ip.dst,
        sport: t.sport,
        dport: t.dport,
        seq: fx.seq,
        ack: fx.ack,
        flags: fx.flags,
        win: fx.win,
        len: fx.len.unwrap_or(0),
        options: t.options,
    })
}

/// Everything known about one frame: what the renderers print.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub frame: Frame<'a>,
    pub pkt: Packet<'a>,
    pub analysis: Analysis,
}
