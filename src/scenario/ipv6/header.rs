//! The IP header of a captured packet, read field by field: IPv4's and IPv6's, for the fields
//! the `ipv6` scenario compares (smoltcp's style: byte ranges in a private `field` module, one
//! length check, then accessors that cannot panic).

use crate::decode::link::{self, NetStart};
use crate::live::model::Pkt;
use crate::live::View;

mod field {
    use std::ops::Range;

    /// Both versions: the version in the first nibble.
    pub const VERSION: usize = 0;
    /// IPv4: header length in 32-bit words (low nibble of byte 0).
    pub const V4_IHL: usize = 0;
    /// IPv4: the whole packet's length, its own header included.
    pub const V4_TOS: usize = 1;
    pub const V4_TOTAL_LEN: Range<usize> = 2..4;
    pub const V4_IDENT: Range<usize> = 4..6;
    pub const V4_TTL: usize = 8;
    pub const V4_PROTO: usize = 9;
    pub const V4_CHECKSUM: Range<usize> = 10..12;
    pub const V4_MIN: usize = 20;
    /// IPv6: version (4 bits), traffic class (8), flow label (20).
    pub const V6_VTF: Range<usize> = 0..4;
    /// IPv6: the bytes after the fixed 40-byte header (extension headers and payload).
    pub const V6_PAYLOAD_LEN: Range<usize> = 4..6;
    pub const V6_NEXT_HEADER: usize = 6;
    pub const V6_HOP_LIMIT: usize = 7;
    pub const V6_SRC: Range<usize> = 8..24;
    pub const V6_DST: Range<usize> = 24..40;
    pub const V6_LEN: usize = 40;
}

/// An IP header of 20 (IPv4, no options) or 40 (IPv6) bytes or more, checked once.
pub(super) struct IpHeader<'a> {
    /// From the first byte of the IP header to the end of the capture.
    buf: &'a [u8],
}

/// The length of the fixed IPv6 header.
pub(super) const V6_HEADER: usize = field::V6_LEN;

impl<'a> IpHeader<'a> {
    /// The header at the start of `buf`, if it is whole.
    pub(super) fn new_checked(buf: &'a [u8]) -> Option<IpHeader<'a>> {
        let need = match buf.get(field::VERSION)? >> 4 {
            4 => ((buf[field::V4_IHL] & 0x0f) as usize * 4).max(field::V4_MIN),
            6 => field::V6_LEN,
            _ => return None,
        };
        (buf.len() >= need).then_some(IpHeader { buf })
    }

    /// The header of captured packet `p`.
    pub(super) fn of(v: &'a View, p: &Pkt) -> Option<IpHeader<'a>> {
        let data = &v.run.packets.get(p.index)?.data;
        let (start, at) = link::strip(v.run.linktype, data).ok()?;
        let at = match start {
            NetStart::Ip => at,
            NetStart::EtherType(et) => link::strip_vlans(et, data, at).at,
        };
        IpHeader::new_checked(data.get(at..)?)
    }

    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        u16::from_be_bytes([self.buf[r.start], self.buf[r.start + 1]])
    }

    pub(super) fn version(&self) -> u8 {
        self.buf[field::VERSION] >> 4
    }

    /// Bytes of the IP header (IPv4: IHL × 4; IPv6: the fixed 40).
    pub(super) fn header_len(&self) -> usize {
        if self.version() == 4 {
            (self.buf[field::V4_IHL] & 0x0f) as usize * 4
        } else {
            field::V6_LEN
        }
    }

    /// Bytes captured from the IP header on (the whole packet, as lo's snap length keeps all).
    pub(super) fn captured_len(&self) -> usize {
        self.buf.len()
    }

    /// The length field: IPv4's total length (header included), IPv6's payload length (the
    /// 40-byte header not counted).
    pub(super) fn length_field(&self) -> u16 {
        if self.version() == 4 {
            self.u16_at(field::V4_TOTAL_LEN)
        } else {
            self.u16_at(field::V6_PAYLOAD_LEN)
        }
    }

    /// TTL (IPv4) or hop limit (IPv6).
    pub(super) fn hops(&self) -> u8 {
        if self.version() == 4 {
            self.buf[field::V4_TTL]
        } else {
            self.buf[field::V6_HOP_LIMIT]
        }
    }

    /// Protocol (IPv4) or next header (IPv6): 6 for TCP.
    pub(super) fn next_header(&self) -> u8 {
        if self.version() == 4 {
            self.buf[field::V4_PROTO]
        } else {
            self.buf[field::V6_NEXT_HEADER]
        }
    }

    fn vtf(&self) -> u32 {
        let b = &self.buf[field::V6_VTF];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// IPv6's 20-bit flow label (None for IPv4, which has none).
    pub(super) fn flow_label(&self) -> Option<u32> {
        (self.version() == 6).then(|| self.vtf() & 0x000f_ffff)
    }

    /// IPv4's TOS byte, or IPv6's traffic class (its successor, between version and label).
    pub(super) fn traffic_class(&self) -> u8 {
        if self.version() == 4 {
            self.buf[field::V4_TOS]
        } else {
            ((self.vtf() >> 20) & 0xff) as u8
        }
    }

    /// IPv4's identification and header checksum (IPv6 has neither).
    pub(super) fn v4_ident_checksum(&self) -> Option<(u16, u16)> {
        (self.version() == 4).then(|| {
            (
                self.u16_at(field::V4_IDENT),
                self.u16_at(field::V4_CHECKSUM),
            )
        })
    }

    /// IPv6's source and destination address bytes.
    pub(super) fn v6_addrs(&self) -> Option<(&'a [u8], &'a [u8])> {
        (self.version() == 6).then(|| (&self.buf[field::V6_SRC], &self.buf[field::V6_DST]))
    }

    /// The bytes after the IP header (the TCP header first).
    pub(super) fn payload(&self) -> &'a [u8] {
        &self.buf[self.header_len().min(self.buf.len())..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv6 header: flow label 0x12345, payload 32 bytes of TCP, hop limit 64, ::1 → ::1.
    static V6: [u8; 40] = [
        0x60, 0x01, 0x23, 0x45, 0x00, 0x20, 0x06, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ];
    /// An IPv4 header: total length 52, ident 0x1c46, TTL 64, TCP, 127.0.0.1 → 127.0.0.1.
    static V4: [u8; 20] = [
        0x45, 0x00, 0x00, 0x34, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x20, 0x7c, 127, 0, 0, 1, 127,
        0, 0, 1,
    ];

    #[test]
    fn ipv6_fields() {
        let h = IpHeader::new_checked(&V6).expect("whole");
        assert_eq!(h.version(), 6);
        assert_eq!(h.header_len(), 40);
        assert_eq!(h.flow_label(), Some(0x12345));
        assert_eq!(h.traffic_class(), 0);
        assert_eq!(h.length_field(), 32);
        assert_eq!((h.next_header(), h.hops()), (6, 64));
        assert_eq!(h.v6_addrs().map(|(_, d)| d[15]), Some(1));
        assert_eq!(h.v4_ident_checksum(), None);
        assert!(h.payload().is_empty());
    }

    #[test]
    fn ipv4_fields() {
        let h = IpHeader::new_checked(&V4).expect("whole");
        assert_eq!((h.version(), h.header_len()), (4, 20));
        assert_eq!(h.length_field(), 52);
        assert_eq!(h.flow_label(), None);
        assert_eq!(h.v4_ident_checksum(), Some((0x1c46, 0x207c)));
        assert_eq!((h.next_header(), h.hops()), (6, 64));
    }

    #[test]
    fn truncated_headers_are_refused() {
        assert!(IpHeader::new_checked(&V6[..39]).is_none());
        assert!(IpHeader::new_checked(&V4[..19]).is_none());
        assert!(IpHeader::new_checked(&[]).is_none());
        assert!(IpHeader::new_checked(&[0x55; 40]).is_none(), "version 5");
    }
}
