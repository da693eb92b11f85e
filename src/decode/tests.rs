//! Decoder unit tests: packets written out byte by byte, decoded whole and cut at every length.
//!
//! Checksums in the sample packets are zero: the decoder never checks them.
//!
//! Tests whose name starts with `regression_` pin defects that were found and fixed.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::link::linktype;
use super::options::{options, window_scale, OptionError, TcpOption};
use super::transport::{Tcp, TcpFixed, Udp};
use super::{decode, ContentError, DecodeError, Fragment, Ip, Layer, Packet, Transport};
use crate::source::file::LINKTYPE_UNKNOWN;
use crate::source::{Frame, FrameKind};

// ---------------------------------------------------------------------------------------------
// Sample packets
// ---------------------------------------------------------------------------------------------

/// Ethernet + IPv4 + TCP SYN with mss, sackOK, timestamps, nop, wscale (Linux-style).
#[rustfmt::skip]
static ETH_IPV4_TCP_SYN: [u8; 74] = [
    // Ethernet II
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, // dst
    0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, // src
    0x08, 0x00, // IPv4
    // IPv4
    0x45, 0x00, 0x00, 0x3c, // v4, ihl 5, tos 0, total length 60
    0x12, 0x34, 0x40, 0x00, // id 0x1234, DF
    0x40, 0x06, 0x00, 0x00, // ttl 64, TCP, checksum
    192, 168, 1, 10, // src
    93, 184, 216, 34, // dst
    // TCP
    0xc7, 0x38, 0x01, 0xbb, // 51000 → 443
    0x01, 0x02, 0x03, 0x04, // seq
    0x00, 0x00, 0x00, 0x00, // ack
    0xa0, 0x02, // data offset 10 (40 bytes), SYN
    0xfa, 0xf0, // window 64240
    0x00, 0x00, 0x00, 0x00, // checksum, urgent pointer
    0x02, 0x04, 0x05, 0xb4, // mss 1460
    0x04, 0x02, // sackOK
    0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // TS val 1 ecr 0
    0x01, // nop
    0x03, 0x03, 0x07, // wscale 7
];

/// Ethernet + IPv4 + TCP ACK, no payload, padded by the NIC to the 60-byte Ethernet minimum.
#[rustfmt::skip]
static ETH_IPV4_TCP_ACK_PADDED: [u8; 60] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
    // IPv4: total length 40
    0x45, 0x00, 0x00, 0x28, 0x00, 0x02, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, //
    192, 168, 1, 10, 93, 184, 216, 34, //
    // TCP 51000 → 443, ACK
    0xc7, 0x38, 0x01, 0xbb, 0x01, 0x02, 0x03, 0x05, 0x00, 0x00, 0x10, 0x00, //
    0x50, 0x10, 0x01, 0xf5, 0x00, 0x00, 0x00, 0x00, //
    // Ethernet trailer padding: not part of the IP packet
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Ethernet + IPv4 + TCP with timestamps, cut by a snaplen: the IP header says 1500 bytes,
/// 76 were captured (10 payload bytes of 1448).
#[rustfmt::skip]
static ETH_IPV4_TCP_SNAPPED: [u8; 76] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
    // IPv4: total length 1500
    0x45, 0x00, 0x05, 0xdc, 0x00, 0x03, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, //
    93, 184, 216, 34, 192, 168, 1, 10, //
    // TCP 443 → 51000, PSH|ACK, data offset 8 (32 bytes)
    0x01, 0xbb, 0xc7, 0x38, 0xa0, 0x00, 0x00, 0x01, 0x01, 0x02, 0x03, 0x05, //
    0x80, 0x18, 0x01, 0xf6, 0x00, 0x00, 0x00, 0x00, //
    0x01, 0x01, 0x08, 0x0a, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01, // nop nop TS
    // the first 10 payload bytes
    b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'1', b' ', b'2',
];
const ETH_IPV4_TCP_SNAPPED_ORIGLEN: u32 = 14 + 1500;

/// Linux cooked v1 + IPv4 + UDP (DNS-ish, 5 payload bytes).
#[rustfmt::skip]
static SLL_IPV4_UDP: [u8; 49] = [
    // SLL
    0x00, 0x00, // packet type: to us
    0x00, 0x01, // ARPHRD_ETHER
    0x00, 0x06, // address length
    0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00, 0x00, // address
    0x08, 0x00, // protocol
    // IPv4: total length 33
    0x45, 0x00, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, //
    10, 0, 0, 1, 10, 0, 0, 2, //
    // UDP 53 → 40000, length 13
    0x00, 0x35, 0x9c, 0x40, 0x00, 0x0d, 0x00, 0x00, //
    b'h', b'e', b'l', b'l', b'o',
];

/// Linux cooked v2 + IPv6 (traffic class 0xb8) + TCP PSH|ACK with 3 payload bytes.
#[rustfmt::skip]
static SLL2_IPV6_TCP: [u8; 83] = [
    // SLL2
    0x86, 0xdd, // protocol
    0x00, 0x00, // reserved
    0x00, 0x00, 0x00, 0x02, // ifindex
    0x00, 0x01, // ARPHRD_ETHER
    0x04, // packet type: outgoing
    0x06, // address length
    0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00, 0x00, // address
    // IPv6
    0x6b, 0x80, 0x00, 0x00, // v6, traffic class 0xb8, flow label 0
    0x00, 0x17, 0x06, 0x40, // payload length 23, TCP, hop limit 64
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // 2001:db8::1
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // 2001:db8::2
    // TCP 8080 → 50000
    0x1f, 0x90, 0xc3, 0x50, //
    0xde, 0xad, 0xbe, 0xef, // seq
    0x00, 0x00, 0x00, 0x10, // ack
    0x50, 0x18, 0x02, 0x00, // data offset 5, PSH|ACK, window 512
    0x00, 0x00, 0x00, 0x00, //
    b'a', b'b', b'c',
];

/// BSD NULL loopback (AF_INET6 = 30, macOS, little-endian) + IPv6 + UDP ::1 → ::1.
#[rustfmt::skip]
static NULL_IPV6_UDP: [u8; 56] = [
    0x1e, 0x00, 0x00, 0x00, // family 30 in host (little-endian) order
    // IPv6: payload length 12, UDP, hop limit 255
    0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x11, 0xff, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    // UDP 5353 → 5353, length 12
    0x14, 0xe9, 0x14, 0xe9, 0x00, 0x0c, 0x00, 0x00, //
    0xde, 0xad, 0xbe, 0xef,
];

/// Raw IPv4 (no link header) + TCP RST|ACK, tos 0x10, ttl 128.
#[rustfmt::skip]
static RAW_IPV4_TCP_RST: [u8; 40] = [
    0x45, 0x10, 0x00, 0x28, 0xab, 0xcd, 0x40, 0x00, 0x80, 0x06, 0x00, 0x00, //
    172, 16, 0, 1, 172, 16, 0, 2, //
    // TCP 80 → 33000, RST|ACK, window 0
    0x00, 0x50, 0x80, 0xe8, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0xab, 0xcd, //
    0x50, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Ethernet + 802.1Q (PCP 1, VLAN 100) + IPv4 + UDP (DHCP ports).
#[rustfmt::skip]
static ETH_VLAN_IPV4_UDP: [u8; 50] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, //
    0x81, 0x00, // 802.1Q
    0x20, 0x64, // PCP 1, VLAN 100
    0x08, 0x00, // IPv4
    // IPv4: total length 32
    0x45, 0x00, 0x00, 0x20, 0x00, 0x04, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, //
    10, 1, 1, 1, 10, 1, 1, 2, //
    // UDP 67 → 68, length 12
    0x00, 0x43, 0x00, 0x44, 0x00, 0x0c, 0x00, 0x00, //
    0x01, 0x02, 0x03, 0x04,
];

/// Ethernet + IPv4 first fragment (MF set, offset 0, id 0xbeef): the whole TCP header and 4 of
/// the segment's bytes.
#[rustfmt::skip]
static ETH_IPV4_FRAG_FIRST_TCP: [u8; 58] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
    // IPv4: total length 44, id 0xbeef, MF
    0x45, 0x00, 0x00, 0x2c, 0xbe, 0xef, 0x20, 0x00, 0x40, 0x06, 0x00, 0x00, //
    10, 0, 0, 1, 10, 0, 0, 2, //
    // TCP 40000 → 80, PSH|ACK
    0x9c, 0x40, 0x00, 0x50, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, //
    0x50, 0x18, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, //
    b'G', b'E', b'T', b' ',
];

/// The next fragment of the same datagram: offset 24 bytes, last (MF clear).
#[rustfmt::skip]
static ETH_IPV4_FRAG_LATER: [u8; 50] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
    // IPv4: total length 36, id 0xbeef, offset 3 (× 8 bytes)
    0x45, 0x00, 0x00, 0x24, 0xbe, 0xef, 0x00, 0x03, 0x40, 0x06, 0x00, 0x00, //
    10, 0, 0, 1, 10, 0, 0, 2, //
    b'/', b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'1', b'\r', b'\n', b'H', b'o', b's',
    b't',
];

/// Ethernet + IPv4 first fragment carrying a UDP header whose length (1000) counts the whole
/// datagram, as every first fragment of a large UDP datagram does.
#[rustfmt::skip]
static ETH_IPV4_FRAG_FIRST_UDP: [u8; 50] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
    // IPv4: total length 36, id 0x023d, MF
    0x45, 0x00, 0x00, 0x24, 0x02, 0x3d, 0x20, 0x00, 0x40, 0x11, 0x00, 0x00, //
    10, 0, 0, 1, 10, 0, 0, 2, //
    // UDP 7000 → 7001, length 1000
    0x1b, 0x58, 0x1b, 0x59, 0x03, 0xe8, 0x00, 0x00, //
    0, 1, 2, 3, 4, 5, 6, 7,
];

/// Ethernet + IPv6 + Fragment header (offset 0, M set) + UDP header (length 100: the whole
/// datagram) + 8 bytes.
#[rustfmt::skip]
static ETH_IPV6_FRAG_FIRST_UDP: [u8; 78] = [
    0x33, 0x33, 0x00, 0x00, 0x00, 0xfb, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x86, 0xdd,
    // IPv6: payload length 24, next header Fragment (44), hop limit 255
    0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x2c, 0xff, //
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // fe80::1
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb, // ff02::fb
    // Fragment: next header UDP, offset 0, M, id 0x002c5323
    0x11, 0x00, 0x00, 0x01, 0x00, 0x2c, 0x53, 0x23, //
    // UDP 5353 → 5353, length 100
    0x14, 0xe9, 0x14, 0xe9, 0x00, 0x64, 0x00, 0x00, //
    0, 1, 2, 3, 4, 5, 6, 7,
];

/// The last fragment of that datagram: offset 16 bytes, M clear.
#[rustfmt::skip]
static ETH_IPV6_FRAG_LATER: [u8; 78] = [
    0x33, 0x33, 0x00, 0x00, 0x00, 0xfb, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x86, 0xdd,
    0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x2c, 0xff, //
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfb, //
    // Fragment: next header UDP, offset 2 (× 8 bytes), last, same id
    0x11, 0x00, 0x00, 0x10, 0x00, 0x2c, 0x53, 0x23, //
    8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
];

/// Ethernet + IPv6 jumbogram (BIG TCP): payload length 0, hop-by-hop Jumbo Payload option of
/// 70000 bytes, TCP ACK; only the first 4 of the 69972 payload bytes were captured.
#[rustfmt::skip]
static ETH_IPV6_JUMBO_TCP: [u8; 86] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x86, 0xdd,
    // IPv6: payload length 0, next header Hop-by-Hop (0), hop limit 64
    0x60, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, //
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, //
    // Hop-by-hop: next header TCP, length 0 (8 bytes), Jumbo Payload (0xc2, 4) = 70000
    0x06, 0x00, 0xc2, 0x04, 0x00, 0x01, 0x11, 0x70, //
    // TCP 443 → 55000, ACK
    0x01, 0xbb, 0xd6, 0xd8, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, //
    0x50, 0x10, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, //
    0xaa, 0xbb, 0xcc, 0xdd,
];
const ETH_IPV6_JUMBO_TCP_ORIGLEN: u32 = 14 + 40 + 70000;

/// Ethernet + IPv4 + ICMP port unreachable quoting the IPv4 + UDP header that caused it.
#[rustfmt::skip]
static ETH_IPV4_ICMP_PORT_UNREACH: [u8; 70] = [
    0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x00,
    // IPv4: total length 56, ICMP
    0x45, 0xc0, 0x00, 0x38, 0x00, 0x05, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, //
    10, 0, 0, 2, 10, 0, 0, 1, //
    // ICMP: destination unreachable, port unreachable, checksum, unused
    0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    // quoted IPv4 (total length 29, UDP) 10.0.0.1 → 10.0.0.2
    0x45, 0x00, 0x00, 0x1d, 0x00, 0x06, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, //
    10, 0, 0, 1, 10, 0, 0, 2, //
    // quoted UDP 40001 → 9999, length 9
    0x9c, 0x41, 0x27, 0x0f, 0x00, 0x09, 0x00, 0x00,
];

/// Ethernet + ARP request "who has 10.0.0.2, tell 10.0.0.1".
#[rustfmt::skip]
static ETH_ARP: [u8; 42] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet/IPv4, request
    0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 10, 0, 0, 1, // sender
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 2, // target
];

/// Where each layer of a sample starts, to check what a cut at each length must report.
#[derive(Clone, Copy)]
struct Sample {
    name: &'static str,
    linktype: u16,
    bytes: &'static [u8],
    /// Wire length (bigger than `bytes.len()` for samples captured with a snaplen).
    origlen: u32,
    /// Offset of the transport header (after IP options and IPv6 extension headers).
    l4_at: usize,
    /// End of every header the decoder reads: from here on a cut only loses payload.
    headers_end: usize,
}

const fn sample(
    name: &'static str,
    linktype: u16,
    bytes: &'static [u8],
    l4_at: usize,
    headers_end: usize,
) -> Sample {
    Sample {
        name,
        linktype,
        bytes,
        origlen: bytes.len() as u32,
        l4_at,
        headers_end,
    }
}

/// Samples whose headers end where the decoder can tell a cut (no VLAN tags, no IPv6
/// extension headers: see the `regression_` tests for those).
#[rustfmt::skip]
const PLAIN_SAMPLES: &[Sample] = &[
    //     name                           link type            bytes                        l4_at  headers_end
    sample("eth/ipv4/tcp syn",            linktype::ETHERNET,   &ETH_IPV4_TCP_SYN,           34, 74),
    sample("eth/ipv4/tcp ack padded",     linktype::ETHERNET,   &ETH_IPV4_TCP_ACK_PADDED,    34, 54),
    Sample {
        origlen: ETH_IPV4_TCP_SNAPPED_ORIGLEN,
        ..sample("eth/ipv4/tcp snapped",  linktype::ETHERNET,   &ETH_IPV4_TCP_SNAPPED,       34, 66)
    },
    sample("sll/ipv4/udp",                linktype::LINUX_SLL,  &SLL_IPV4_UDP,               36, 44),
    sample("sll2/ipv6/tcp",               linktype::LINUX_SLL2, &SLL2_IPV6_TCP,              60, 80),
    sample("null/ipv6/udp",               linktype::NULL,       &NULL_IPV6_UDP,              44, 52),
    sample("raw/ipv4/tcp rst",            linktype::RAW,        &RAW_IPV4_TCP_RST,           20, 40),
    sample("eth/ipv4 first fragment/tcp", linktype::ETHERNET,   &ETH_IPV4_FRAG_FIRST_TCP,    34, 54),
    sample("eth/ipv4 later fragment",     linktype::ETHERNET,   &ETH_IPV4_FRAG_LATER,        34, 34),
    sample("eth/ipv4/icmp",               linktype::ETHERNET,   &ETH_IPV4_ICMP_PORT_UNREACH, 34, 38),
    sample("eth/arp",                     linktype::ETHERNET,   &ETH_ARP,                    14, 14),
];

#[rustfmt::skip]
const VLAN_SAMPLES: &[Sample] = &[
    sample("eth/vlan/ipv4/udp",           linktype::ETHERNET,   &ETH_VLAN_IPV4_UDP,          38, 46),
];

#[rustfmt::skip]
const IPV6_EXTENSION_SAMPLES: &[Sample] = &[
    sample("eth/ipv6 first fragment/udp", linktype::ETHERNET,   &ETH_IPV6_FRAG_FIRST_UDP,    62, 70),
    sample("eth/ipv6 later fragment",     linktype::ETHERNET,   &ETH_IPV6_FRAG_LATER,        62, 62),
    Sample {
        origlen: ETH_IPV6_JUMBO_TCP_ORIGLEN,
        ..sample("eth/ipv6 jumbo/tcp",    linktype::ETHERNET,   &ETH_IPV6_JUMBO_TCP,         62, 82)
    },
];

/// Every constant in `decode::linktype`, plus two the decoder does not know.
const ALL_LINKTYPES: &[u16] = &[
    linktype::NULL,
    linktype::ETHERNET,
    linktype::RAW_OPENBSD,
    linktype::RAW_BSD,
    linktype::LOOP,
    linktype::RAW,
    linktype::LINUX_SLL,
    linktype::IPV4,
    linktype::IPV6,
    linktype::LINUX_SLL2,
    147,
    LINKTYPE_UNKNOWN,
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A whole frame as captured: caplen == origlen.
fn frame(linktype: u16, data: &[u8]) -> Frame<'_> {
    snapped(linktype, data, data.len() as u32)
}

/// A frame captured with a snaplen: `data` is what was kept of `origlen` wire bytes.
fn snapped(linktype: u16, data: &[u8], origlen: u32) -> Frame<'_> {
    Frame {
        number: 1,
        ts: None,
        linktype,
        caplen: data.len() as u32,
        origlen,
        data,
        interface: None,
        kind: FrameKind::Packet,
    }
}

/// Decodes `data` as a complete frame.
fn decode_whole(linktype: u16, data: &[u8]) -> Packet<'_> {
    decode(&frame(linktype, data))
}

/// Decodes the first `n` bytes of a sample, as a snaplen of `n` would have captured it.
fn decode_prefix(s: &Sample, n: usize) -> Packet<'static> {
    decode(&snapped(s.linktype, &s.bytes[..n], s.origlen))
}

/// Set in the child process that [`isolated`] starts.
const CHILD_ENV: &str = "SOCKSCOPE_DECODE_TESTS_CHILD";

thread_local! {
    /// The input being decoded, for the panic hook to show: (linktype, bytes, origlen).
    static INPUT: RefCell<(u16, Vec<u8>, u32)> = const { RefCell::new((0, Vec::new(), 0)) };
}

/// Runs the test `name` (this function's caller) in a child process, and `body` in that child.
///
/// Some failures are not unwinding panics: a debug build of a dependency that breaks an
/// `unsafe` precondition aborts the whole process (SIGABRT), which would take every other
/// test of the binary down with it. Run apart, such an abort fails only this test, and the
/// child's panic hook prints the input that caused it.
fn isolated(name: &str, body: fn()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = INPUT.try_with(|input| {
                if let Ok(i) = input.try_borrow() {
                    eprintln!(
                        "decode failed on linktype {}, origlen {}, {} bytes: {:02x?}",
                        i.0,
                        i.2,
                        i.1.len(),
                        i.1
                    );
                }
            });
            default_hook(info);
        }));
        body();
        return;
    }
    // libtest names tests by their path without the crate name.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    let test = format!("{module}::{name}");
    let exe = std::env::current_exe().expect("path of the test binary");
    let out = std::process::Command::new(exe)
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("1 passed"),
        "{test} did not pass in its child process ({}):\n{stderr}",
        out.status
    );
}

/// Decodes one input (in a child process: see [`isolated`]) and checks the invariants.
fn decode_no_panic(linktype: u16, data: &[u8], origlen: u32) {
    INPUT.with(|input| {
        let mut i = input.borrow_mut();
        i.0 = linktype;
        i.1.clear();
        i.1.extend_from_slice(data);
        i.2 = origlen;
    });
    let pkt = decode(&snapped(linktype, data, origlen));
    check_invariants(&pkt, data);
    // The option iterator is what the renderers run on the captured option bytes.
    if let Transport::Tcp(t) = pkt.transport {
        let _ = options(t.options).count();
        let _ = window_scale(t.options);
    }
}

/// What holds for any decoded packet, whatever the input.
fn check_invariants(pkt: &Packet<'_>, data: &[u8]) {
    // A length error points into the frame and counts fewer bytes than it needs.
    if let Some(DecodeError::Len {
        need, have, offset, ..
    }) = pkt.stop
    {
        assert!(have < need, "{:?}", pkt.stop);
        assert!(offset + have <= data.len(), "{:?}", pkt.stop);
    }
    let within = |s: &[u8]| {
        let (start, end) = (data.as_ptr() as usize, data.as_ptr() as usize + data.len());
        let p = s.as_ptr() as usize;
        s.is_empty() || (p >= start && p + s.len() <= end)
    };
    match pkt.transport {
        Transport::Tcp(t) => {
            assert!(pkt.ip.is_some(), "TCP without IP");
            assert!(
                within(t.options) && within(t.payload),
                "TCP slices outside the frame"
            );
            assert!(t.options.len() <= 40, "more than 40 option bytes");
            if t.fixed.is_none() {
                assert!(
                    matches!(
                        pkt.stop,
                        Some(DecodeError::Len {
                            layer: Layer::Tcp,
                            ..
                        })
                    ),
                    "TCP without its fixed header must say it was cut: {:?}",
                    pkt.stop
                );
            }
            if let Some(TcpFixed { len: Some(l), .. }) = t.fixed {
                assert!(
                    t.payload.len() as u64 <= l as u64,
                    "payload longer than tcp.len"
                );
            }
        }
        Transport::Udp(u) => {
            assert!(pkt.ip.is_some(), "UDP without IP");
            assert!(within(u.payload), "UDP payload outside the frame");
            if u.length.is_none() {
                assert!(matches!(
                    pkt.stop,
                    Some(DecodeError::Len {
                        layer: Layer::Udp,
                        ..
                    })
                ));
            }
        }
        Transport::Icmp(i) => {
            assert!(pkt.ip.is_some(), "ICMP without IP");
            assert!(i.quoted.is_none_or(within), "ICMP quote outside the frame");
        }
        Transport::Fragment => {
            assert!(pkt
                .ip
                .and_then(|ip| ip.fragment)
                .is_some_and(|f| f.offset != 0));
        }
        Transport::Other(_) => assert!(pkt.ip.is_some(), "IP protocol without IP"),
        Transport::None => {}
    }
}

fn tcp<'a>(pkt: &Packet<'a>) -> Tcp<'a> {
    match pkt.transport {
        Transport::Tcp(t) => t,
        other => panic!("expected TCP, got {other:?} (stop {:?})", pkt.stop),
    }
}

fn udp<'a>(pkt: &Packet<'a>) -> Udp<'a> {
    match pkt.transport {
        Transport::Udp(u) => u,
        other => panic!("expected UDP, got {other:?} (stop {:?})", pkt.stop),
    }
}

fn fixed(pkt: &Packet<'_>) -> TcpFixed {
    tcp(pkt).fixed.expect("the fixed TCP header was captured")
}

fn ip(pkt: &Packet<'_>) -> Ip {
    pkt.ip.expect("an IP header was decoded")
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Same variant of `Transport`, ignoring the borrowed contents.
fn same_kind(a: &Transport<'_>, b: &Transport<'_>) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Cuts `s` at every length and checks what each cut reports: a cut inside any header says
/// where decoding stopped; a cut in the payload loses nothing but payload bytes, and the
/// lengths still come from the IP header.
fn check_every_prefix(s: &Sample) {
    let full = decode(&snapped(s.linktype, s.bytes, s.origlen));
    for n in 0..=s.bytes.len() {
        let pkt = decode_prefix(s, n);
        let ctx = format!("{} cut to {n} of {} bytes", s.name, s.bytes.len());
        check_invariants(&pkt, &s.bytes[..n]);
        assert_eq!(
            pkt.truncated,
            (n as u32) < s.origlen,
            "{ctx}: truncated flag"
        );
        if n < s.headers_end {
            assert!(
                pkt.stop.is_some(),
                "{ctx}: cut inside a header but no stop: {pkt:?}"
            );
        } else {
            assert_eq!(pkt.stop, full.stop, "{ctx}: stop");
            assert!(same_kind(&pkt.transport, &full.transport), "{ctx}: {pkt:?}");
        }
        if n >= s.l4_at {
            // The IP header is whole: every IP field, payload_len included, is the same as
            // in the whole packet.
            assert_eq!(pkt.ip, full.ip, "{ctx}: IP fields");
        }
        match (pkt.transport, full.transport) {
            (Transport::Tcp(t), Transport::Tcp(ft)) => {
                assert_eq!((t.sport, t.dport), (ft.sport, ft.dport), "{ctx}: ports");
                if let Some(fx) = t.fixed {
                    assert_eq!(Some(fx), ft.fixed, "{ctx}: TCP fixed header");
                    assert!(t.payload.len() <= ft.payload.len());
                    assert_eq!(t.payload, &ft.payload[..t.payload.len()], "{ctx}: payload");
                }
            }
            (Transport::Udp(u), Transport::Udp(fu)) => {
                assert_eq!((u.sport, u.dport), (fu.sport, fu.dport), "{ctx}: ports");
                if u.length.is_some() {
                    assert_eq!(u.length, fu.length, "{ctx}: UDP length");
                    assert_eq!(u.payload, &fu.payload[..u.payload.len()], "{ctx}: payload");
                }
            }
            _ => {}
        }
    }
}

/// A small xorshift64* generator: reproducible pseudo-random bytes without a crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next() as u8;
        }
    }
}

fn all_samples() -> impl Iterator<Item = &'static Sample> {
    PLAIN_SAMPLES
        .iter()
        .chain(VLAN_SAMPLES)
        .chain(IPV6_EXTENSION_SAMPLES)
}

// ---------------------------------------------------------------------------------------------
// Whole packets, field by field
// ---------------------------------------------------------------------------------------------

#[test]
fn ethernet_ipv4_tcp_syn_fields() {
    let pkt = decode_whole(linktype::ETHERNET, &ETH_IPV4_TCP_SYN);
    assert_eq!(pkt.ether_type, Some(0x0800));
    assert_eq!(pkt.vlan_count, 0);
    assert!(!pkt.truncated);
    assert_eq!(pkt.stop, None);
    assert_eq!(
        ip(&pkt),
        Ip {
            src: v4(192, 168, 1, 10),
            dst: v4(93, 184, 216, 34),
            ttl: 64,
            tos: 0,
            proto: 6,
            fragment: None, // DF alone is not a fragment
            payload_len: 40,
        }
    );
    let t = tcp(&pkt);
    assert_eq!((t.sport, t.dport), (51000, 443));
    assert_eq!(
        t.fixed,
        Some(TcpFixed {
            seq: 0x0102_0304,
            ack: 0,
            header_len: 40,
            flags: 0x002,
            win: 64240,
            urgent: 0,
            len: Some(0),
        })
    );
    assert_eq!(t.options, &ETH_IPV4_TCP_SYN[54..74]);
    assert!(!t.options_cut);
    assert!(t.payload.is_empty());
}

#[test]
fn syn_options_are_read_from_the_decoded_slice() {
    let pkt = decode_whole(linktype::ETHERNET, &ETH_IPV4_TCP_SYN);
    let opts: Vec<_> = options(tcp(&pkt).options).collect();
    assert_eq!(
        opts,
        vec![
            Ok(TcpOption::Mss(1460)),
            Ok(TcpOption::SackPermitted),
            Ok(TcpOption::Timestamps { val: 1, ecr: 0 }),
            Ok(TcpOption::Nop),
            Ok(TcpOption::WindowScale(7)),
        ]
    );
}

#[test]
fn ethernet_padding_is_not_tcp_payload() {
    let pkt = decode_whole(linktype::ETHERNET, &ETH_IPV4_TCP_ACK_PADDED);
    assert_eq!(ip(&pkt).payload_len, 20);
    let t = tcp(&pkt);
    assert_eq!(fixed(&pkt).len, Some(0));
    assert_eq!(fixed(&pkt).flags, 0x010);
    assert!(
        t.payload.is_empty(),
        "the 6 trailer bytes are not TCP payload"
    );
    assert_eq!(pkt.stop, None);
}

#[test]
fn snaplen_cut_keeps_lengths_from_the_ip_header() {
    let f = snapped(
        linktype::ETHERNET,
        &ETH_IPV4_TCP_SNAPPED,
        ETH_IPV4_TCP_SNAPPED_ORIGLEN,
    );
    let pkt = decode(&f);
    assert!(pkt.truncated);
    assert_eq!(
        pkt.stop, None,
        "the headers are whole; only payload is missing"
    );
    assert_eq!(ip(&pkt).payload_len, 1480);
    let t = tcp(&pkt);
    let fx = fixed(&pkt);
    assert_eq!((t.sport, t.dport), (443, 51000));
    assert_eq!(
        (fx.seq, fx.ack, fx.flags, fx.win),
        (0xa000_0001, 0x0102_0305, 0x018, 502)
    );
    assert_eq!(fx.header_len, 32);
    assert_eq!(fx.len, Some(1448), "tcp.len comes from the IP total length");
    assert_eq!(
        t.payload, b"HTTP/1.1 2",
        "the payload slice is what was captured"
    );
    assert_eq!(
        options(t.options).collect::<Vec<_>>(),
        vec![
            Ok(TcpOption::Nop),
            Ok(TcpOption::Nop),
            Ok(TcpOption::Timestamps { val: 4096, ecr: 1 })
        ]
    );
}

#[test]
fn linux_sll_ipv4_udp_fields() {
    let pkt = decode_whole(linktype::LINUX_SLL, &SLL_IPV4_UDP);
    assert_eq!(pkt.ether_type, Some(0x0800));
    let ip = ip(&pkt);
    assert_eq!((ip.src, ip.dst), (v4(10, 0, 0, 1), v4(10, 0, 0, 2)));
    assert_eq!((ip.proto, ip.ttl, ip.payload_len), (17, 64, 13));
    let u = udp(&pkt);
    assert_eq!((u.sport, u.dport), (53, 40000));
    assert_eq!(u.length, Some(13));
    assert!(u.length_ok);
    assert_eq!(u.payload_len(), Some(5));
    assert_eq!(u.payload, b"hello");
    assert_eq!(pkt.stop, None);
}

#[test]
fn linux_sll2_ipv6_tcp_fields() {
    let pkt = decode_whole(linktype::LINUX_SLL2, &SLL2_IPV6_TCP);
    assert_eq!(pkt.ether_type, Some(0x86dd));
    assert_eq!(
        ip(&pkt),
        Ip {
            src: v6("2001:db8::1"),
            dst: v6("2001:db8::2"),
            ttl: 64,
            tos: 0xb8,
            proto: 6,
            fragment: None,
            payload_len: 23,
        }
    );
    let t = tcp(&pkt);
    assert_eq!((t.sport, t.dport), (8080, 50000));
    assert_eq!(
        t.fixed,
        Some(TcpFixed {
            seq: 0xdead_beef,
            ack: 0x10,
            header_len: 20,
            flags: 0x018,
            win: 512,
            urgent: 0,
            len: Some(3),
        })
    );
    assert!(t.options.is_empty());
    assert_eq!(t.payload, b"abc");
}

#[test]
fn null_loopback_af_inet6_30_is_ipv6() {
    let pkt = decode_whole(linktype::NULL, &NULL_IPV6_UDP);
    assert_eq!(pkt.ether_type, Some(0x86dd));
    let ip = ip(&pkt);
    assert_eq!((ip.src, ip.dst, ip.ttl), (v6("::1"), v6("::1"), 255));
    let u = udp(&pkt);
    assert_eq!((u.sport, u.dport, u.length), (5353, 5353, Some(12)));
    assert_eq!(u.payload, &[0xde, 0xad, 0xbe, 0xef]);
}

#[test]
fn null_loopback_other_af_inet6_values_and_byte_orders() {
    let ipv6 = &NULL_IPV6_UDP[4..];
    for header in [
        [10, 0, 0, 0], // Linux, little-endian writer
        [24, 0, 0, 0], // NetBSD/OpenBSD
        [28, 0, 0, 0], // FreeBSD
        [0, 0, 0, 30], // macOS, big-endian writer
    ] {
        let data = concat(&[&header, ipv6]);
        let pkt = decode_whole(linktype::NULL, &data);
        assert_eq!(pkt.ether_type, Some(0x86dd), "family bytes {header:?}");
        assert_eq!(udp(&pkt).sport, 5353);
    }
}

#[test]
fn null_loopback_non_ip_family_stops_at_the_link() {
    let data = concat(&[&[7, 0, 0, 0], &NULL_IPV6_UDP[4..]]);
    let pkt = decode_whole(linktype::NULL, &data);
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Content {
            layer: Layer::Link(linktype::NULL),
            what: ContentError::AddressFamily(7)
        })
    );
    assert_eq!(pkt.ip, None);
    assert_eq!(pkt.transport, Transport::None);
}

#[test]
fn loop_linktype_reads_the_family_in_network_order() {
    let data = concat(&[&[0, 0, 0, 2], &RAW_IPV4_TCP_RST]);
    let pkt = decode_whole(linktype::LOOP, &data);
    assert_eq!(pkt.ether_type, Some(0x0800));
    assert_eq!(ip(&pkt).src, v4(172, 16, 0, 1));
}

#[test]
fn raw_ipv4_tcp_rst_fields() {
    let pkt = decode_whole(linktype::RAW, &RAW_IPV4_TCP_RST);
    assert_eq!(pkt.ether_type, None, "raw IP has no EtherType");
    let ip = ip(&pkt);
    assert_eq!((ip.src, ip.dst), (v4(172, 16, 0, 1), v4(172, 16, 0, 2)));
    assert_eq!(
        (ip.tos, ip.ttl, ip.proto, ip.payload_len),
        (0x10, 128, 6, 20)
    );
    let t = tcp(&pkt);
    assert_eq!((t.sport, t.dport), (80, 33000));
    let fx = fixed(&pkt);
    assert_eq!(
        (fx.seq, fx.ack, fx.flags, fx.win, fx.len),
        (1, 0xabcd, 0x014, 0, Some(0))
    );
}

#[test]
fn every_raw_ip_linktype_decodes_the_same() {
    let raw = decode_whole(linktype::RAW, &RAW_IPV4_TCP_RST);
    for lt in [linktype::RAW_BSD, linktype::RAW_OPENBSD, linktype::IPV4] {
        let pkt = decode_whole(lt, &RAW_IPV4_TCP_RST);
        assert_eq!(pkt.ip, raw.ip, "linktype {lt}");
        assert_eq!(pkt.transport, raw.transport, "linktype {lt}");
    }
    let v6 = decode_whole(linktype::IPV6, &SLL2_IPV6_TCP[20..]);
    assert_eq!(tcp(&v6).sport, 8080);
}

#[test]
fn vlan_tag_is_stripped() {
    let pkt = decode_whole(linktype::ETHERNET, &ETH_VLAN_IPV4_UDP);
    assert_eq!(pkt.ether_type, Some(0x0800));
    assert_eq!(pkt.vlan_count, 1);
    assert_eq!(pkt.vlans[0], 100, "PCP bits are not part of the VLAN id");
    let ip = ip(&pkt);
    assert_eq!((ip.src, ip.dst), (v4(10, 1, 1, 1), v4(10, 1, 1, 2)));
    let u = udp(&pkt);
    assert_eq!((u.sport, u.dport, u.payload_len()), (67, 68, Some(4)));
    assert_eq!(pkt.stop, None);
}

#[test]
fn qinq_tags_are_both_stripped() {
    // 802.1ad outer tag (VLAN 10) + 802.1Q inner tag (VLAN 20), then the same IPv4/UDP.
    let data = concat(&[
        &ETH_VLAN_IPV4_UDP[..12],
        &[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00],
        &ETH_VLAN_IPV4_UDP[18..],
    ]);
    let pkt = decode_whole(linktype::ETHERNET, &data);
    assert_eq!((pkt.vlan_count, pkt.vlans), (2, [10, 20]));
    assert_eq!(udp(&pkt).dport, 68);
}

#[test]
fn ipv4_first_fragment_carries_the_tcp_header() {
    let pkt = decode_whole(linktype::ETHERNET, &ETH_IPV4_FRAG_FIRST_TCP);
    let ip = ip(&pkt);
    assert_eq!(
        ip.fragment,
        Some(Fragment {
            offset: 0,
            more: true,
            id: 0xbeef
        })
    );
    assert!(ip.fragment.unwrap().is_first());
    assert_eq!(ip.payload_len, 24, "this fragment's transport bytes");
    let t = tcp(&pkt);
    assert_eq!((t.sport, t.dport), (40000, 80));
    let fx = fixed(&pkt);
    assert_eq!(
        (fx.seq, fx.ack, fx.flags),
        (0x1122_3344, 0x5566_7788, 0x018)
    );
    assert_eq!(t.payload, b"GET ");
    assert_eq!(pkt.stop, None);
}

#[test]
fn ipv4_later_fragment_is_a_transport_fragment() {
    let pkt = decode_whole(linktype::ETHERNET, &ETH_IPV4_FRAG_LATER);
    assert_eq!(pkt.transport, Transport::Fragment);
    let ip = ip(&pkt);
    assert_eq!(ip.proto, 6);
    assert_eq!(ip.payload_len, 16);
    assert_eq!(
        ip.fragment,
        Some(Fragment {
            offset: 24,
            more: false,
            id: 0xbeef
        })
    );
    assert_eq!(pkt.stop, None);
}

#[test]
fn ipv6_fragment_header_first_fragment() {
    let pkt = decode_whole(linktype::ETHERNET, &ETH_IPV6_FRAG_FIRST_UDP);
    let ip = ip(&pkt);
    assert_eq!(
        (ip.src, ip.dst, ip.ttl),
        (v6("fe80::1"), v6("ff02::fb"), 255)
    );
    assert_eq!(ip.proto, 17, "the protocol after the extension headers");
    assert_eq!(
        ip.fragment,
        Some(Fragment {
            offset: 0,
            more: true,
            id: 0x002c_5323
        })
    );
    assert_eq!(
        ip.payload_len, 16,
        "24 bytes of payload minus the 8-byte fragment header"
    );
    let u = udp(&pkt);
    assert_eq!((u.sport, u.dport, u.length), (5353, 5353, Some(100)));
    assert_eq!(u.payload, &[0, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn ipv6_fragment_header_later_fragment() {
    let pkt = decode_whole(linktype::ETHERNET, &ETH_IPV6_FRAG_LATER);
    assert_eq!(pkt.transport, Transport::Fragment);
    let ip = ip(&pkt);
    assert_eq!(
        ip.fragment,
        Some(Fragment {
            offset: 16,
            more: false,
            id: 0x002c_5323
        })
    );
    assert_eq!(ip.payload_len, 16);
    assert_eq!(pkt.stop, None);
}

#[test]
fn ipv6_atomic_fragment_is_not_a_fragment() {
    // Fragment header with offset 0 and M clear (RFC 6946): the whole datagram.
    let mut data = ETH_IPV6_FRAG_FIRST_UDP;
    data[14 + 40 + 3] = 0x00;
    data[14 + 40 + 8 + 5] = 16; // UDP length 16: header + the 8 bytes
    let pkt = decode_whole(linktype::ETHERNET, &data);
    assert_eq!(ip(&pkt).fragment, None);
    assert!(udp(&pkt).length_ok);
    assert_eq!(pkt.stop, None);
}

/// The first fragment's UDP length counts the whole datagram, not this fragment: not an error
/// (tshark skips the check on fragments; afs.pcap frame 125, ip6_fragments.pcap frame 1).
#[test]
fn first_udp_fragment_length_is_not_an_error() {
    for data in [&ETH_IPV4_FRAG_FIRST_UDP[..], &ETH_IPV6_FRAG_FIRST_UDP[..]] {
        let pkt = decode_whole(linktype::ETHERNET, data);
        assert!(ip(&pkt).fragment.is_some_and(|f| f.is_first() && f.more));
        let u = udp(&pkt);
        assert!(u.length.is_some_and(|l| l as u32 > ip(&pkt).payload_len));
        assert_eq!(
            pkt.stop, None,
            "a first fragment's UDP length is not an error"
        );
    }
    let pkt = decode_whole(linktype::ETHERNET, &ETH_IPV4_FRAG_FIRST_UDP);
    assert_eq!(udp(&pkt).payload, &[0, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn ipv6_jumbogram_length_comes_from_the_hop_by_hop_option() {
    let f = snapped(
        linktype::ETHERNET,
        &ETH_IPV6_JUMBO_TCP,
        ETH_IPV6_JUMBO_TCP_ORIGLEN,
    );
    let pkt = decode(&f);
    assert!(pkt.truncated);
    let ip = ip(&pkt);
    assert_eq!(ip.proto, 6);
    assert_eq!(
        ip.payload_len,
        70000 - 8,
        "jumbo length minus the hop-by-hop header"
    );
    let t = tcp(&pkt);
    assert_eq!((t.sport, t.dport), (443, 55000));
    assert_eq!(fixed(&pkt).len, Some(69972));
    assert_eq!(t.payload, &[0xaa, 0xbb, 0xcc, 0xdd]);
    assert_eq!(pkt.stop, None);
}

#[test]
fn icmp_port_unreachable_quotes_the_udp_header() {
    let pkt = decode_whole(linktype::ETHERNET, &ETH_IPV4_ICMP_PORT_UNREACH);
    let ip = ip(&pkt);
    assert_eq!((ip.proto, ip.tos, ip.payload_len), (1, 0xc0, 36));
    let Transport::Icmp(icmp) = pkt.transport else {
        panic!("expected ICMP, got {:?}", pkt.transport);
    };
    assert_eq!((icmp.v6, icmp.kind, icmp.code), (false, 3, 3));
    let quoted = icmp.quoted.expect("an error message quotes the packet");
    assert_eq!(quoted, &ETH_IPV4_ICMP_PORT_UNREACH[42..]);
    // The quote is itself a raw IP packet whose UDP header names the socket that was refused.
    let inner = decode_whole(linktype::RAW, quoted);
    let inner_ip = inner.ip.expect("quoted IP header");
    assert_eq!(
        (inner_ip.src, inner_ip.dst),
        (v4(10, 0, 0, 1), v4(10, 0, 0, 2))
    );
    let u = udp(&inner);
    assert_eq!((u.sport, u.dport), (40001, 9999));
}

#[test]
fn icmp_echo_is_not_an_error_and_quotes_nothing() {
    let mut data = ETH_IPV4_ICMP_PORT_UNREACH;
    data[34] = 8; // echo request
    data[35] = 0;
    let pkt = decode_whole(linktype::ETHERNET, &data);
    let Transport::Icmp(icmp) = pkt.transport else {
        panic!("expected ICMP");
    };
    assert_eq!((icmp.kind, icmp.quoted), (8, None));
}

#[test]
fn ipv4_options_move_the_transport_header() {
    // IHL 6: a 4-byte Router Alert option before the TCP header.
    let mut header = RAW_IPV4_TCP_RST[..20].to_vec();
    header[0] = 0x46;
    header[3] = 44; // total length 24 + 20
    let data = concat(&[&header, &[0x94, 0x04, 0x00, 0x00], &RAW_IPV4_TCP_RST[20..]]);
    let pkt = decode_whole(linktype::RAW, &data);
    assert_eq!(ip(&pkt).payload_len, 20);
    let t = tcp(&pkt);
    assert_eq!((t.sport, t.dport), (80, 33000));
    assert_eq!(fixed(&pkt).len, Some(0));
    assert_eq!(pkt.stop, None);
}

#[test]
fn icmpv6_errors_quote_and_informational_messages_do_not() {
    // Raw IPv6 + ICMPv6 port unreachable (type 1 code 4) quoting IPv6 + UDP ::1.5353 → ::1.53.
    let quoted_ip6 = [
        &[0x60, 0, 0, 0, 0x00, 0x08, 0x11, 0x40][..],
        &NULL_IPV6_UDP[12..44],
        &[0x14, 0xe9, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00],
    ]
    .concat();
    let icmp6 = concat(&[&[1, 4, 0, 0, 0, 0, 0, 0], &quoted_ip6]);
    let mut outer = vec![0x60, 0, 0, 0, 0, icmp6.len() as u8, 58, 64];
    outer.extend_from_slice(&NULL_IPV6_UDP[12..44]);
    let data = concat(&[&outer, &icmp6]);
    let pkt = decode_whole(linktype::RAW, &data);
    let Transport::Icmp(icmp) = pkt.transport else {
        panic!("expected ICMPv6, got {:?}", pkt.transport);
    };
    assert_eq!((icmp.v6, icmp.kind, icmp.code), (true, 1, 4));
    let inner = decode_whole(linktype::RAW, icmp.quoted.expect("quoted packet"));
    assert_eq!((udp(&inner).sport, udp(&inner).dport), (5353, 53));

    // Echo request (128) is informational: nothing quoted.
    let mut echo = data.clone();
    echo[40] = 128;
    echo[41] = 0;
    let pkt = decode_whole(linktype::RAW, &echo);
    assert!(matches!(pkt.transport, Transport::Icmp(i) if i.kind == 128 && i.quoted.is_none()));
}

#[test]
fn other_ip_protocols_are_named_by_number() {
    let mut data = RAW_IPV4_TCP_RST;
    data[9] = 47; // GRE
    let pkt = decode_whole(linktype::RAW, &data);
    assert_eq!(pkt.transport, Transport::Other(47));
    assert_eq!(pkt.stop, None);
}

#[test]
fn arp_is_not_ip() {
    let pkt = decode_whole(linktype::ETHERNET, &ETH_ARP);
    assert_eq!(pkt.ether_type, Some(0x0806));
    assert_eq!(pkt.ip, None);
    assert_eq!(pkt.transport, Transport::None);
    assert_eq!(pkt.stop, None, "ARP is not damaged, just not decoded");
}

#[test]
fn unknown_linktype_stops_at_the_link() {
    let pkt = decode_whole(147, &ETH_IPV4_TCP_SYN);
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Content {
            layer: Layer::Link(147),
            what: ContentError::LinkType(147)
        })
    );
    assert_eq!(pkt.ip, None);
    let pkt = decode_whole(LINKTYPE_UNKNOWN, &ETH_IPV4_TCP_SYN);
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Content {
            layer: Layer::Link(LINKTYPE_UNKNOWN),
            what: ContentError::LinkType(LINKTYPE_UNKNOWN)
        })
    );
}

#[test]
fn custom_block_decodes_to_nothing() {
    let f = Frame {
        kind: FrameKind::CustomBlock,
        ..frame(LINKTYPE_UNKNOWN, &ETH_IPV4_TCP_SYN)
    };
    let pkt = decode(&f);
    assert_eq!(
        (pkt.ip, pkt.transport, pkt.stop),
        (None, Transport::None, None)
    );
}

// ---------------------------------------------------------------------------------------------
// Damaged headers
// ---------------------------------------------------------------------------------------------

#[test]
fn tcp_header_cut_to_12_bytes_keeps_the_ports() {
    let pkt = decode_prefix(&PLAIN_SAMPLES[0], 34 + 12);
    let t = tcp(&pkt);
    assert_eq!((t.sport, t.dport), (51000, 443));
    assert_eq!(t.fixed, None);
    assert!(t.payload.is_empty() && t.options.is_empty());
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Len {
            layer: Layer::Tcp,
            need: 20,
            have: 12,
            offset: 34
        })
    );
    assert!(pkt.truncated);
    assert_eq!(
        ip(&pkt).payload_len,
        40,
        "the IP header still says 40 transport bytes"
    );
}

#[test]
fn tcp_header_cut_before_the_ports_has_no_tcp() {
    let pkt = decode_prefix(&PLAIN_SAMPLES[0], 34 + 3);
    assert_eq!(pkt.transport, Transport::None);
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Len {
            layer: Layer::Tcp,
            need: 20,
            have: 3,
            offset: 34
        })
    );
    assert!(pkt.ip.is_some());
}

#[test]
fn tcp_options_cut_are_flagged() {
    let pkt = decode_prefix(&PLAIN_SAMPLES[0], 34 + 20 + 7);
    let t = tcp(&pkt);
    assert!(t.options_cut);
    assert_eq!(t.options, &ETH_IPV4_TCP_SYN[54..61]);
    assert_eq!(
        fixed(&pkt).len,
        Some(0),
        "tcp.len does not depend on the cut"
    );
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Len {
            layer: Layer::TcpOptions,
            need: 40,
            have: 27,
            offset: 34
        })
    );
    // mss and sackOK were captured whole; the timestamps option runs past the end.
    let opts: Vec<_> = options(t.options).collect();
    assert_eq!(
        opts,
        vec![
            Ok(TcpOption::Mss(1460)),
            Ok(TcpOption::SackPermitted),
            Err(OptionError::Truncated { kind: 8, offset: 6 })
        ]
    );
}

#[test]
fn tcp_data_offset_below_five_is_bad() {
    let mut data = RAW_IPV4_TCP_RST;
    data[20 + 12] = 0x40; // data offset 4 (16 bytes)
    let pkt = decode_whole(linktype::RAW, &data);
    let t = tcp(&pkt);
    let fx = fixed(&pkt);
    assert_eq!(fx.header_len, 16);
    assert_eq!(fx.len, None, "no tcp.len without a valid header length");
    assert!(t.payload.is_empty() && t.options.is_empty());
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Content {
            layer: Layer::Tcp,
            what: ContentError::TcpHeaderLen
        })
    );
}

#[test]
fn tcp_data_offset_beyond_the_ip_payload_has_no_len() {
    let mut data = RAW_IPV4_TCP_RST;
    data[20 + 12] = 0xf0; // data offset 15 (60 bytes) in a 20-byte IP payload
    let pkt = decode_whole(linktype::RAW, &data);
    assert_eq!(fixed(&pkt).header_len, 60);
    assert_eq!(fixed(&pkt).len, None);
    assert!(tcp(&pkt).options_cut);
    assert!(matches!(
        pkt.stop,
        Some(DecodeError::Len {
            layer: Layer::TcpOptions,
            offset: 20,
            ..
        })
    ));
}

#[test]
fn udp_header_cut_after_the_ports() {
    let s = &PLAIN_SAMPLES[3];
    let pkt = decode_prefix(s, s.l4_at + 6);
    let u = udp(&pkt);
    assert_eq!((u.sport, u.dport, u.length), (53, 40000, None));
    assert_eq!(u.payload_len(), None);
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Len {
            layer: Layer::Udp,
            need: 8,
            have: 6,
            offset: s.l4_at
        })
    );
}

#[test]
fn udp_length_larger_than_the_ip_payload_is_flagged() {
    let mut data = SLL_IPV4_UDP;
    data[16 + 20 + 4..16 + 20 + 6].copy_from_slice(&12336u16.to_be_bytes());
    let pkt = decode_whole(linktype::LINUX_SLL, &data);
    let u = udp(&pkt);
    assert_eq!(u.length, Some(12336));
    assert!(!u.length_ok);
    assert_eq!(
        u.payload, b"hello",
        "the payload never runs past the captured bytes"
    );
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Content {
            layer: Layer::Udp,
            what: ContentError::UdpLength
        })
    );
}

#[test]
fn udp_length_below_eight_is_flagged() {
    let mut data = SLL_IPV4_UDP;
    data[16 + 20 + 5] = 3;
    let pkt = decode_whole(linktype::LINUX_SLL, &data);
    let u = udp(&pkt);
    assert!(!u.length_ok);
    assert!(u.payload.is_empty());
    assert_eq!(u.payload_len(), Some(0));
}

#[test]
fn ip_version_neither_4_nor_6_is_bad() {
    let mut data = RAW_IPV4_TCP_RST;
    data[0] = 0x55;
    let pkt = decode_whole(linktype::RAW, &data);
    assert_eq!(pkt.ip, None);
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Content {
            layer: Layer::Ip,
            what: ContentError::IpVersion
        })
    );
}

#[test]
fn ipv4_header_length_below_20_is_bad() {
    let mut data = RAW_IPV4_TCP_RST;
    data[0] = 0x44;
    let pkt = decode_whole(linktype::RAW, &data);
    assert_eq!(pkt.ip, None);
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Content {
            layer: Layer::Ipv4,
            what: ContentError::IpHeaderLen
        })
    );
}

#[test]
fn ipv4_header_length_past_the_capture_is_bad() {
    let mut data = RAW_IPV4_TCP_RST;
    data[0] = 0x4f; // 60-byte header in 40 bytes
    let pkt = decode_whole(linktype::RAW, &data);
    assert_eq!(pkt.ip, None);
    assert!(pkt.stop.is_some());
}

#[test]
fn ipv4_total_length_shorter_than_the_capture_trims_the_ip_payload() {
    // The frame carries 40 bytes but the IP header says 36: the last 4 are not IP payload, so
    // the TCP header is cut to 16 bytes by the IP length itself.
    let mut data = RAW_IPV4_TCP_RST;
    data[3] = 0x24;
    let pkt = decode_whole(linktype::RAW, &data);
    assert_eq!(ip(&pkt).payload_len, 16);
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Len {
            layer: Layer::Tcp,
            need: 20,
            have: 16,
            offset: 20
        })
    );
}

#[test]
fn link_headers_cut_short() {
    for (lt, need) in [
        (linktype::ETHERNET, 14),
        (linktype::LINUX_SLL, 16),
        (linktype::LINUX_SLL2, 20),
        (linktype::NULL, 4),
        (linktype::LOOP, 4),
    ] {
        for have in 0..need {
            let data = vec![0u8; have];
            let pkt = decode_whole(lt, &data);
            assert_eq!(
                pkt.stop,
                Some(DecodeError::Len {
                    layer: Layer::Link(lt),
                    need,
                    have,
                    offset: 0
                }),
                "linktype {lt} with {have} bytes"
            );
        }
    }
}

#[test]
fn raw_ip_empty_frame_is_short() {
    let pkt = decode_whole(linktype::RAW, &[]);
    assert_eq!(
        pkt.stop,
        Some(DecodeError::Len {
            layer: Layer::Ip,
            need: 1,
            have: 0,
            offset: 0
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Every cut, every byte string
// ---------------------------------------------------------------------------------------------

#[test]
fn every_prefix_reports_where_decoding_stopped() {
    for s in PLAIN_SAMPLES {
        check_every_prefix(s);
    }
}

/// Every cut of every sample, read as every link type (so an Ethernet frame is also read as
/// raw IP, SLL, ...). Fails today on the ICMP sample read as raw IP (its first byte is 0x66):
/// see `regression_ipv6_extension_error_after_a_good_header_reads_out_of_bounds`.
#[test]
fn every_prefix_of_every_sample_as_every_linktype_does_not_panic() {
    isolated(
        "every_prefix_of_every_sample_as_every_linktype_does_not_panic",
        every_prefix_of_every_sample_as_every_linktype,
    );
}

fn every_prefix_of_every_sample_as_every_linktype() {
    for s in all_samples() {
        for &lt in ALL_LINKTYPES {
            for n in 0..=s.bytes.len() {
                decode_no_panic(lt, &s.bytes[..n], s.origlen);
            }
        }
    }
}

#[test]
fn random_bytes_do_not_panic_for_any_linktype() {
    isolated(
        "random_bytes_do_not_panic_for_any_linktype",
        random_bytes_for_any_linktype,
    );
}

fn random_bytes_for_any_linktype() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut buf = [0u8; 160];
    for _ in 0..3000 {
        let len = rng.below(buf.len() + 1);
        rng.fill(&mut buf[..len]);
        // Steer the first bytes toward IP versions 4 and 6 half of the time, so the fuzzing
        // reaches the IP and transport decoders on raw-IP link types.
        if len > 0 && rng.below(2) == 0 {
            buf[0] = if rng.below(2) == 0 { 0x45 } else { 0x60 };
        }
        let origlen = (len + rng.below(3) * rng.below(2000)) as u32;
        for &lt in ALL_LINKTYPES {
            decode_no_panic(lt, &buf[..len], origlen);
        }
    }
}

#[test]
fn mutated_samples_do_not_panic() {
    isolated("mutated_samples_do_not_panic", mutated_samples);
}

fn mutated_samples() {
    // Flip a few bytes of each well-formed packet: reaches deep into the decoders with
    // header fields (lengths, offsets, protocol numbers) that disagree with each other.
    let mut rng = XorShift(0x0123_4567_89ab_cdef);
    for s in all_samples() {
        for _ in 0..1000 {
            let mut data = s.bytes.to_vec();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            let n = rng.below(data.len() + 1);
            decode_no_panic(s.linktype, &data[..n], s.origlen.max(n as u32));
        }
    }
}

#[test]
fn xorshift_is_reproducible() {
    let (mut a, mut b) = (XorShift(42), XorShift(42));
    let va: Vec<u64> = (0..8).map(|_| a.next()).collect();
    let vb: Vec<u64> = (0..8).map(|_| b.next()).collect();
    assert_eq!(va, vb);
    assert!(va.windows(2).all(|w| w[0] != w[1]));
}

// ---------------------------------------------------------------------------------------------
// Regressions: defects found and fixed; these keep them fixed.
// ---------------------------------------------------------------------------------------------

/// Regression (fixed): a frame cut inside an 802.1Q tag reports no stop. `link::strip_vlans` breaks out of
/// its loop when the tag is cut and returns EtherType 0x8100 as if it were the payload's type,
/// so `decode` returns early with `stop: None` and the frame is labelled "EtherType 0x8100".
/// Fix: have `strip_vlans` report the cut (e.g. return a flag), and set
/// `DecodeError::Len { layer: Layer::Vlan, need: at + 4, have: data.len(), .. }` in `decode`.
#[test]
fn regression_cut_inside_vlan_tag_reports_no_stop() {
    for s in VLAN_SAMPLES {
        check_every_prefix(s);
    }
}

/// Regression (fixed): a frame cut inside an IPv6 extension header reports no stop. `decode_ip` ignores the
/// extension-header error that `LaxIpSlice::from_slice` returns (`_ext_err`), so the packet
/// shows IP protocol 44 (Fragment) or 0 (Hop-by-Hop) as its transport, with `stop: None`.
/// Fix: when `_ext_err` is `Some`, set `pkt.stop = Some(DecodeError::Len { layer: Layer::Ipv6Extension,
/// .. })` (or `DecodeError::Content` for a content error) and leave `transport` as `None`.
#[test]
fn regression_cut_inside_ipv6_extension_header_reports_no_stop() {
    for s in IPV6_EXTENSION_SAMPLES {
        check_every_prefix(s);
    }
}

/// Regression (fixed): an IPv4 total length of 0 (TSO / IPv4 BIG TCP captures on the sending host) gives
/// `payload_len` 0 and `tcp.len` None. tshark (`ip.tso_support`, on by default) takes the
/// length from the frame in that case, and the decoder already does so for IPv6 payload
/// length 0. Fix: in `decode_ip`, when `total_len == 0`, use the captured (or wire) length as
/// `declared_end`, as the IPv6 branch does.
#[test]
fn regression_ipv4_total_length_zero_loses_tcp_len() {
    let mut data = ETH_IPV4_TCP_SNAPPED;
    data[16] = 0;
    data[17] = 0;
    let pkt = decode_whole(linktype::ETHERNET, &data);
    assert_eq!(
        ip(&pkt).payload_len,
        42,
        "32-byte TCP header + 10 bytes captured"
    );
    assert_eq!(fixed(&pkt).len, Some(10));
}

/// Raw IPv6 whose hop-by-hop header is followed by a second hop-by-hop header (only allowed
/// first): etherparse parses the first, then stops with `HopByHopNotAtStart`.
#[rustfmt::skip]
static RAW_IPV6_HBH_THEN_HBH: [u8; 56] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x40, // payload length 16, Hop-by-Hop
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // HBH → HBH, PadN
    0x06, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // HBH → TCP, PadN
];

/// Raw IPv6: a whole hop-by-hop header, then a Destination Options header cut after 4 bytes.
#[rustfmt::skip]
static RAW_IPV6_HBH_THEN_CUT_DSTOPTS: [u8; 52] = [
    0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x40, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
    0x3c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, // HBH → Destination Options
    0x06, 0x00, 0x01, 0x04, // Destination Options, cut
];

/// Regression (fixed; memory safety): an IPv6 extension chain that etherparse stops parsing after at least
/// one good header makes `decode_ip` read out of bounds. `decode_ip` iterates
/// `v6.extensions().clone().into_iter()`; etherparse 0.21's `Ipv6ExtensionSliceIter` then
/// calls `Ipv6RawExtHeaderSlice::from_slice_unchecked` on the empty rest of the slice (the
/// header that failed). Debug builds abort the whole process ("unsafe precondition(s)
/// violated", SIGABRT: `sockscope replay` dies on such a packet); release builds read past
/// the slice (undefined behaviour). Found by the prefix loop below (the ICMP sample read as
/// raw IP: its bytes start with 0x66).
/// Fix: only iterate the extensions when `_ext_err` is `None`, or walk the chain with the
/// checked `Ipv6RawExtHeaderSlice::from_slice` / `Ipv6FragmentHeaderSlice::from_slice` over
/// `bytes[40..payload_at]`; report the error as a `DecodeError` (see the test above).
#[test]
fn regression_ipv6_extension_error_after_a_good_header_reads_out_of_bounds() {
    isolated(
        "regression_ipv6_extension_error_after_a_good_header_reads_out_of_bounds",
        ipv6_extension_error_after_a_good_header,
    );
}

fn ipv6_extension_error_after_a_good_header() {
    for data in [
        &RAW_IPV6_HBH_THEN_HBH[..],
        &RAW_IPV6_HBH_THEN_CUT_DSTOPTS[..],
    ] {
        decode_no_panic(linktype::RAW, data, data.len() as u32);
        let pkt = decode_whole(linktype::RAW, data);
        assert!(pkt.ip.is_some());
        assert!(
            pkt.stop.is_some(),
            "a broken extension chain is reported: {pkt:?}"
        );
    }
}

#[test]
fn the_urgent_pointer_is_read_with_urg_and_without() {
    // The SLL2 segment with PSH|ACK|URG and urgent pointer 3 (bytes 18..20 of the header).
    let mut b = SLL2_IPV6_TCP;
    let tcp_at = b.len() - 23;
    b[tcp_at + 13] = 0x38;
    b[tcp_at + 18..tcp_at + 20].copy_from_slice(&3u16.to_be_bytes());
    let pkt = decode_whole(linktype::LINUX_SLL2, &b);
    let fx = fixed(&pkt);
    assert_eq!((fx.flags, fx.urgent, fx.len), (0x038, 3, Some(3)));
    // Without URG the field is read as it is (0 here), as tshark reads it.
    let pkt = decode_whole(linktype::LINUX_SLL2, &SLL2_IPV6_TCP);
    assert_eq!(fixed(&pkt).urgent, 0);
}
