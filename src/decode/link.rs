//! Link-layer headers: find where the network layer starts and what it is.
//!
//! etherparse slices Ethernet and 802.1Q; Linux SLL, SLL2 and BSD NULL/LOOP are short fixed
//! headers that etherparse does not cover, so they are read here.

use etherparse::{EtherType, Ethernet2HeaderSlice};

use super::error::{ContentError, DecodeError, Layer};

/// LINKTYPE_* values we decode (https://www.tcpdump.org/linktypes.html).
pub mod linktype {
    pub const NULL: u16 = 0;
    pub const ETHERNET: u16 = 1;
    /// OpenBSD's DLT_RAW value; LINKTYPE_RAW is 101.
    pub const RAW_OPENBSD: u16 = 12;
    pub const RAW_BSD: u16 = 14;
    pub const LOOP: u16 = 108;
    pub const RAW: u16 = 101;
    pub const LINUX_SLL: u16 = 113;
    pub const IPV4: u16 = 228;
    pub const IPV6: u16 = 229;
    pub const LINUX_SLL2: u16 = 276;
}

/// A short name for a link type, as tshark and tcpdump name them.
pub fn linktype_name(lt: u16) -> &'static str {
    match lt {
        linktype::NULL => "NULL/Loopback",
        linktype::ETHERNET => "Ethernet",
        linktype::RAW | linktype::RAW_OPENBSD | linktype::RAW_BSD => "Raw IP",
        linktype::LOOP => "OpenBSD loopback",
        linktype::LINUX_SLL => "Linux cooked v1",
        linktype::LINUX_SLL2 => "Linux cooked v2",
        linktype::IPV4 => "Raw IPv4",
        linktype::IPV6 => "Raw IPv6",
        _ => "unknown link type",
    }
}

/// What follows the link-layer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetStart {
    /// An EtherType (IPv4, IPv6, ARP, VLAN tags still to be stripped, ...).
    EtherType(u16),
    /// Raw IP, version taken from the first nibble.
    Ip,
}

/// Splits the link-layer header off `data`: returns what follows and its offset.
/// The link layer's errors are [`DecodeError`]s of layer [`Layer::Link`]: a frame shorter than
/// the header, a link type not decoded, a loopback address family that is not IP.
pub fn strip(lt: u16, data: &[u8]) -> Result<(NetStart, usize), DecodeError> {
    let short = |n: usize| DecodeError::Len {
        layer: Layer::Link(lt),
        need: n,
        have: data.len(),
        offset: 0,
    };
    let need = |n: usize| {
        if data.len() < n {
            Err(short(n))
        } else {
            Ok(())
        }
    };
    let content = |what| DecodeError::Content {
        layer: Layer::Link(lt),
        what,
    };
    match lt {
        linktype::ETHERNET => {
            let eth = Ethernet2HeaderSlice::from_slice(data).map_err(|_| short(14))?;
            Ok((NetStart::EtherType(eth.ether_type().0), 14))
        }
        linktype::LINUX_SLL => {
            // packet type(2) arphrd(2) addr len(2) addr(8) protocol(2)
            need(16)?;
            Ok((NetStart::EtherType(be16(data, 14)), 16))
        }
        linktype::LINUX_SLL2 => {
            // protocol(2) reserved(2) ifindex(4) arphrd(2) packet type(1) addr len(1) addr(8)
            need(20)?;
            Ok((NetStart::EtherType(be16(data, 0)), 20))
        }
        linktype::NULL | linktype::LOOP => {
            need(4)?;
            // NULL: the writer's byte order; LOOP: network order. As Wireshark does, a value
            // with its upper half set is read the other way round, and a value above 1500 is
            // not an address family but an EtherType in its low 16 bits.
            let raw = [data[0], data[1], data[2], data[3]];
            let mut family = if lt == linktype::LOOP {
                u32::from_be_bytes(raw)
            } else {
                u32::from_le_bytes(raw)
            };
            if family & 0xFFFF_0000 != 0 {
                family = family.swap_bytes();
            }
            match family {
                2 => Ok((NetStart::EtherType(EtherType::IPV4.0), 4)),
                // AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS), 10 (Linux)
                10 | 24 | 28 | 30 => Ok((NetStart::EtherType(EtherType::IPV6.0), 4)),
                f if f > 1500 => Ok((NetStart::EtherType(f as u16), 4)),
                other => Err(content(ContentError::AddressFamily(other))),
            }
        }
        linktype::RAW | linktype::RAW_OPENBSD | linktype::RAW_BSD => Ok((NetStart::Ip, 0)),
        linktype::IPV4 => Ok((NetStart::EtherType(EtherType::IPV4.0), 0)),
        linktype::IPV6 => Ok((NetStart::EtherType(EtherType::IPV6.0), 0)),
        other => Err(content(ContentError::LinkType(other))),
    }
}

/// VLAN tags stripped from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vlans {
    /// EtherType after the tags.
    pub ether_type: u16,
    /// Offset of the network layer.
    pub at: usize,
    /// The first two VLAN ids.
    pub ids: [u16; 2],
    pub count: u8,
    /// The frame ends inside a tag.
    pub cut: bool,
}

/// Strips 802.1Q / 802.1ad tags starting at `at`.
pub fn strip_vlans(mut ether_type: u16, data: &[u8], mut at: usize) -> Vlans {
    let mut ids = [0u16; 2];
    let mut n = 0u8;
    let mut cut = false;
    while matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
        let Some(tag) = data.get(at..at + 4) else {
            cut = true;
            break;
        };
        if (n as usize) < ids.len() {
            ids[n as usize] = u16::from_be_bytes([tag[0], tag[1]]) & 0x0FFF;
        }
        n = n.saturating_add(1);
        ether_type = u16::from_be_bytes([tag[2], tag[3]]);
        at += 4;
    }
    Vlans {
        ether_type,
        at,
        ids,
        count: n,
        cut,
    }
}

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sll_gives_protocol_at_14() {
        let mut b = [0u8; 16];
        b[14] = 0x08;
        assert_eq!(
            strip(linktype::LINUX_SLL, &b),
            Ok((NetStart::EtherType(0x0800), 16))
        );
        assert_eq!(
            strip(linktype::LINUX_SLL, &b[..15]),
            Err(DecodeError::Len {
                layer: Layer::Link(linktype::LINUX_SLL),
                need: 16,
                have: 15,
                offset: 0
            })
        );
    }

    #[test]
    fn sll2_gives_protocol_first() {
        let mut b = [0u8; 20];
        b[0] = 0x86;
        b[1] = 0xdd;
        assert_eq!(
            strip(linktype::LINUX_SLL2, &b),
            Ok((NetStart::EtherType(0x86dd), 20))
        );
    }

    #[test]
    fn null_accepts_both_byte_orders_and_bsd_inet6() {
        assert_eq!(
            strip(linktype::NULL, &[2, 0, 0, 0]),
            Ok((NetStart::EtherType(0x0800), 4))
        );
        assert_eq!(
            strip(linktype::NULL, &[0, 0, 0, 30]),
            Ok((NetStart::EtherType(0x86dd), 4))
        );
        assert_eq!(
            strip(linktype::NULL, &[7, 0, 0, 0]),
            Err(DecodeError::Content {
                layer: Layer::Link(linktype::NULL),
                what: ContentError::AddressFamily(7)
            })
        );
    }

    #[test]
    fn vlan_tags_are_stripped() {
        let b = [0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00];
        let v = strip_vlans(0x8100, &b, 0);
        assert_eq!(
            (v.ether_type, v.at, v.ids, v.count, v.cut),
            (0x0800, 8, [100, 200], 2, false)
        );
        assert!(strip_vlans(0x8100, &b[..6], 0).cut);
    }

    #[test]
    fn unknown_linktype_is_an_error() {
        assert_eq!(
            strip(147, &[0; 40]),
            Err(DecodeError::Content {
                layer: Layer::Link(147),
                what: ContentError::LinkType(147)
            })
        );
    }
}
