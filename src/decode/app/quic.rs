//! QUIC long-header packets (RFC 9000, 17.2; RFC 9369 for version 2): packet type, version,
//! connection IDs, and the packets coalesced after the first in one datagram. The payloads are
//! encrypted and not read. Short-header (1-RTT) packets carry no marker to recognise them by.

/// Coalesced packets listed at most.
const PACKETS_MAX: usize = 4;
/// Longest connection ID (RFC 9000, 17.2).
const CID_MAX: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
    VersionNegotiation,
}

impl PacketType {
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Initial => "Initial",
            PacketType::ZeroRtt => "0-RTT",
            PacketType::Handshake => "Handshake",
            PacketType::Retry => "Retry",
            PacketType::VersionNegotiation => "Version Negotiation",
        }
    }
}

/// The first long-header packet of a datagram, and the types of those coalesced after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quic<'a> {
    pub version: u32,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    pub packets: Vec<PacketType>,
}

/// A variable-length integer (RFC 9000, 16) at the start of `b`, and its length.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let n = 1usize << (first >> 6);
    let bytes = b.get(..n)?;
    let mut v = (first & 0x3f) as u64;
    for &x in &bytes[1..] {
        v = v << 8 | x as u64;
    }
    Some((v, n))
}

/// One long header at the start of `b`: (type, version, dcid, scid, packet length in bytes,
/// when the header gives it).
#[allow(clippy::type_complexity)]
fn long_header(b: &[u8]) -> Option<(PacketType, u32, &[u8], &[u8], Option<usize>)> {
    let first = *b.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let version = u32::from_be_bytes(b.get(1..5)?.try_into().ok()?);
    let dlen = *b.get(5)? as usize;
    if dlen > CID_MAX {
        return None;
    }
    let dcid = b.get(6..6 + dlen)?;
    let slen = *b.get(6 + dlen)? as usize;
    if slen > CID_MAX {
        return None;
    }
    let at = 7 + dlen;
    let scid = b.get(at..at + slen)?;
    let mut at = at + slen;
    if version == 0 {
        return Some((PacketType::VersionNegotiation, 0, dcid, scid, None));
    }
    // The fixed bit must be set in every other long header.
    if first & 0x40 == 0 {
        return None;
    }
    let bits = (first >> 4) & 3;
    let ty = match (version == 0x6b33_43cf, bits) {
        (false, 0) | (true, 1) => PacketType::Initial,
        (false, 1) | (true, 2) => PacketType::ZeroRtt,
        (false, 2) | (true, 3) => PacketType::Handshake,
        _ => PacketType::Retry,
    };
    if ty == PacketType::Retry {
        return Some((ty, version, dcid, scid, None));
    }
    if ty == PacketType::Initial {
        let (tlen, n) = varint(b.get(at..)?)?;
        at += n + usize::try_from(tlen).ok()?;
    }
    let (len, n) = b.get(at..).and_then(varint)?;
    let total = (at + n).checked_add(usize::try_from(len).ok()?)?;
    Some((ty, version, dcid, scid, Some(total)))
}

/// A version this reads: 1, 2, or a draft (0xff0000xx).
fn known_version(v: u32) -> bool {
    matches!(v, 0 | 1 | 0x6b33_43cf) || v >> 8 == 0xff_0000
}

impl<'a> Quic<'a> {
    pub fn parse(datagram: &'a [u8]) -> Option<Quic<'a>> {
        let (ty, version, dcid, scid, len) = long_header(datagram)?;
        if !known_version(version) {
            return None;
        }
        let mut q = Quic {
            version,
            dcid,
            scid,
            packets: vec![ty],
        };
        let mut at = len;
        while let Some(a) = at.filter(|&a| a < datagram.len()) {
            if q.packets.len() >= PACKETS_MAX {
                break;
            }
            match long_header(&datagram[a..]) {
                Some((ty, v, _, _, len)) if v == version => {
                    q.packets.push(ty);
                    at = len.and_then(|l| a.checked_add(l));
                }
                _ => break,
            }
        }
        Some(q)
    }
}

/// `v1`, `v2`, `draft-29`, or the number in hex.
pub fn version_name(v: u32) -> String {
    match v {
        1 => "v1".into(),
        0x6b33_43cf => "v2".into(),
        v if v >> 8 == 0xff_0000 => format!("draft-{}", v & 0xff),
        v => format!("0x{v:08x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_then_handshake_coalesced() {
        // Initial v1: dcid 2 bytes, scid 1 byte, token 0, length 2; then a Handshake packet.
        let mut b = vec![0xc3, 0, 0, 0, 1, 2, 0xab, 0xcd, 1, 0xef, 0, 2, 0x11, 0x22];
        b.extend_from_slice(&[0xe1, 0, 0, 0, 1, 0, 0, 1, 0x33]);
        let q = Quic::parse(&b).unwrap();
        assert_eq!(q.version, 1);
        assert_eq!((q.dcid, q.scid), (&[0xab, 0xcd][..], &[0xef][..]));
        assert_eq!(q.packets, [PacketType::Initial, PacketType::Handshake]);
        for n in 0..b.len() {
            let _ = Quic::parse(&b[..n]);
        }
        assert_eq!(version_name(0xff00_001d), "draft-29");
    }

    #[test]
    fn short_headers_and_odd_bytes_are_not_read() {
        assert_eq!(Quic::parse(&[0x43, 1, 2, 3]), None);
        assert_eq!(Quic::parse(&[0xc0, 0, 0, 0, 1, 21]), None);
        assert_eq!(Quic::parse(&[0xc0, 0x12, 0x34, 0, 1, 0, 0, 0]), None);
    }
}
