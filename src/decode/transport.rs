//! Transport headers: TCP, UDP and ICMP, read as far as the captured bytes go.
//!
//! A header cut short still shows what it has: tshark shows the ports of a TCP header of which
//! only 12 bytes were captured, so do we.

use super::{ContentError, DecodeError, Layer};

mod field {
    use core::ops::Range;
    pub const SPORT: Range<usize> = 0..2;
    pub const DPORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const OFF_FLAGS: Range<usize> = 12..14;
    pub const WIN: Range<usize> = 14..16;
    pub const URG_PTR: Range<usize> = 18..20;
    pub const UDP_LEN: Range<usize> = 4..6;
    pub const TCP_MIN: usize = 20;
    pub const UDP_LEN_END: usize = 8;
}

pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// The fixed part of a TCP header (present when ≥ 20 bytes were captured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFixed {
    pub seq: u32,
    pub ack: u32,
    /// Header length in bytes (data offset × 4).
    pub header_len: u8,
    /// 12 bits: NS/AE and reserved bits above the classic flags byte.
    pub flags: u16,
    pub win: u16,
    /// The urgent pointer (tshark's `tcp.urgent_pointer`): with URG set, the offset from this
    /// segment's SEQ of the byte after the urgent data (Linux, BSD); meaningless without URG.
    pub urgent: u16,
    /// Payload length from the IP lengths (tshark's `tcp.len`), None if the header length is bad.
    pub len: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp<'a> {
    pub sport: u16,
    pub dport: u16,
    /// None when fewer than 20 header bytes were captured.
    pub fixed: Option<TcpFixed>,
    /// Captured option bytes (may be cut short).
    pub options: &'a [u8],
    /// Options run past the captured bytes.
    pub options_cut: bool,
    /// Captured payload bytes.
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp<'a> {
    pub sport: u16,
    pub dport: u16,
    /// The UDP length field (header included), when captured.
    pub length: Option<u16>,
    /// The length field is consistent with the IP payload (tshark gives such datagrams a stream).
    pub length_ok: bool,
    pub payload: &'a [u8],
}

impl Udp<'_> {
    /// Payload bytes per the length field (tshark: `udp.length - 8`).
    pub fn payload_len(&self) -> Option<u32> {
        self.length.map(|l| (l as u32).saturating_sub(8))
    }
}

/// An ICMP or ICMPv6 message; errors quote the start of the packet that caused them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmp<'a> {
    pub v6: bool,
    pub kind: u8,
    pub code: u8,
    /// For error messages: the quoted IP packet (header + at least 8 bytes).
    pub quoted: Option<&'a [u8]>,
    /// Header bytes 4..8, when captured: an echo's identifier and sequence number.
    pub rest: Option<[u8; 4]>,
    /// The bytes after the 8-byte header (an echo's data).
    pub data: &'a [u8],
}

impl Icmp<'_> {
    /// An echo request or reply (ICMP 8/0, ICMPv6 128/129).
    pub fn is_echo(&self) -> bool {
        matches!((self.v6, self.kind), (false, 0 | 8) | (true, 128 | 129))
    }

    /// An echo's identifier and sequence number.
    pub fn echo_id_seq(&self) -> Option<(u16, u16)> {
        let r = self.rest.filter(|_| self.is_echo())?;
        Some((
            u16::from_be_bytes([r[0], r[1]]),
            u16::from_be_bytes([r[2], r[3]]),
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    /// No transport layer (not IP, or decoding stopped before it).
    None,
    Tcp(Tcp<'a>),
    Udp(Udp<'a>),
    Icmp(Icmp<'a>),
    /// A non-first IP fragment: its bytes continue an earlier transport header.
    Fragment,
    /// Another IP protocol, by number.
    Other(u8),
}

fn be16(b: &[u8], r: core::ops::Range<usize>) -> u16 {
    u16::from_be_bytes([b[r.start], b[r.start + 1]])
}

fn be32(b: &[u8], r: core::ops::Range<usize>) -> u32 {
    u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
}

/// Decodes the transport header of protocol `proto` from the captured `bytes`; `declared` is the
/// transport length the IP header gives. `first_fragment`: the bytes start a fragmented
/// datagram, so a UDP length field describes the whole datagram, not these bytes. A
/// [`DecodeError::Len`] counts from the first of `bytes` (offset 0).
pub fn decode(
    proto: u8,
    bytes: &[u8],
    declared: u32,
    first_fragment: bool,
) -> (Transport<'_>, Option<DecodeError>) {
    match proto {
        ipproto::TCP => tcp(bytes, declared),
        ipproto::UDP => udp(bytes, if first_fragment { u32::MAX } else { declared }),
        ipproto::ICMP | ipproto::ICMPV6 => icmp(bytes, proto == ipproto::ICMPV6),
        other => (Transport::Other(other), None),
    }
}

/// The bytes end inside `layer`'s header; offsets count from the transport header.
fn short(layer: Layer, need: usize, have: usize) -> Option<DecodeError> {
    Some(DecodeError::Len {
        layer,
        need,
        have,
        offset: 0,
    })
}

fn tcp(b: &[u8], declared: u32) -> (Transport<'_>, Option<DecodeError>) {
    if b.len() < 4 {
        return (Transport::None, short(Layer::Tcp, field::TCP_MIN, b.len()));
    }
    let mut t = Tcp {
        sport: be16(b, field::SPORT),
        dport: be16(b, field::DPORT),
        fixed: None,
        options: &[],
        options_cut: false,
        payload: &[],
    };
    if b.len() < field::TCP_MIN {
        return (
            Transport::Tcp(t),
            short(Layer::Tcp, field::TCP_MIN, b.len()),
        );
    }
    let off_flags = be16(b, field::OFF_FLAGS);
    let header_len = ((off_flags >> 12) * 4) as u8;
    let hl = header_len as usize;
    let len = (hl >= field::TCP_MIN && hl as u32 <= declared).then(|| declared - hl as u32);
    t.fixed = Some(TcpFixed {
        seq: be32(b, field::SEQ),
        ack: be32(b, field::ACK),
        header_len,
        flags: off_flags & 0x0FFF,
        win: be16(b, field::WIN),
        urgent: be16(b, field::URG_PTR),
        len,
    });
    let mut stop = None;
    if hl < field::TCP_MIN {
        stop = Some(DecodeError::Content {
            layer: Layer::Tcp,
            what: ContentError::TcpHeaderLen,
        });
    } else {
        let opt_end = hl.min(b.len());
        t.options = &b[field::TCP_MIN..opt_end];
        t.options_cut = hl > b.len();
        if t.options_cut {
            stop = short(Layer::TcpOptions, hl, b.len());
        }
        t.payload = b.get(hl..).unwrap_or(&[]);
        if let Some(l) = len {
            t.payload = &t.payload[..t.payload.len().min(l as usize)];
        }
    }
    (Transport::Tcp(t), stop)
}

fn udp(b: &[u8], declared: u32) -> (Transport<'_>, Option<DecodeError>) {
    if b.len() < 4 {
        return (
            Transport::None,
            short(Layer::Udp, field::UDP_LEN_END, b.len()),
        );
    }
    let mut u = Udp {
        sport: be16(b, field::SPORT),
        dport: be16(b, field::DPORT),
        length: None,
        length_ok: false,
        payload: &[],
    };
    if b.len() < field::UDP_LEN_END {
        return (
            Transport::Udp(u),
            short(Layer::Udp, field::UDP_LEN_END, b.len()),
        );
    }
    let length = be16(b, field::UDP_LEN);
    u.length = Some(length);
    u.length_ok = length >= 8 && length as u32 <= declared;
    let end = (length as usize).clamp(8, b.len());
    u.payload = &b[8..end];
    let stop = (!u.length_ok).then_some(DecodeError::Content {
        layer: Layer::Udp,
        what: ContentError::UdpLength,
    });
    (Transport::Udp(u), stop)
}

fn icmp(b: &[u8], v6: bool) -> (Transport<'_>, Option<DecodeError>) {
    if b.len() < 4 {
        return (Transport::None, short(Layer::Icmp, 4, b.len()));
    }
    let (kind, code) = (b[0], b[1]);
    let is_error = if v6 {
        kind < 128
    } else {
        matches!(kind, 3 | 4 | 5 | 11 | 12)
    };
    let quoted = (is_error && b.len() > 8).then(|| &b[8..]);
    (
        Transport::Icmp(Icmp {
            v6,
            kind,
            code,
            quoted,
            rest: b.get(4..8).and_then(|r| r.try_into().ok()),
            data: b.get(8..).unwrap_or(&[]),
        }),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_id_and_seq() {
        static ECHO_V6: [u8; 12] = [129, 0, 0x12, 0x34, 0, 7, 0, 42, b'p', b'i', b'n', b'g'];
        let (Transport::Icmp(i), None) = icmp(&ECHO_V6, true) else {
            panic!("not ICMP");
        };
        assert_eq!(i.echo_id_seq(), Some((7, 42)));
        assert_eq!(i.data, b"ping");
        // An unreachable is not an echo; an echo cut inside its header has no id.
        let (Transport::Icmp(u), _) = icmp(&[3, 3, 0, 0, 0, 7, 0, 42], false) else {
            panic!("not ICMP");
        };
        assert_eq!(u.echo_id_seq(), None);
        let (Transport::Icmp(cut), _) = icmp(&[8, 0, 0, 0, 0, 7], false) else {
            panic!("not ICMP");
        };
        assert_eq!((cut.echo_id_seq(), cut.data), (None, &[][..]));
    }
}
