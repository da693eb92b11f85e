//! Decoding: from a frame's bytes to borrowed views of its network and transport headers.
//!
//! Damaged packets are data, not errors: a packet is decoded as far as its bytes go and says
//! where and why it stopped ([`DecodeError`]). Lengths follow tshark: TCP's payload length comes from the
//! IP header's length fields even when the snaplen cut the bytes short.
//!
//! IP fragments are shown per packet (no reassembly): the first fragment carries the transport
//! header, later fragments are labelled as fragments. This is tshark's view with
//! `ip.defragment:FALSE`.

pub mod app;
mod error;
pub mod link;
pub mod options;
pub mod transport;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{Ipv6ExtensionSlice, LaxIpSlice};

pub use error::{ContentError, DecodeError, Layer};
pub use link::{linktype, linktype_name};
pub use transport::{Icmp, Tcp, Transport, Udp};

use crate::source::{Frame, FrameKind};

/// The network layer of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ip {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 TOS byte or IPv6 traffic class.
    pub tos: u8,
    /// Transport protocol number (after IPv6 extension headers).
    pub proto: u8,
    /// Set when this packet is a fragment of a larger datagram.
    pub fragment: Option<Fragment>,
    /// Transport bytes the IP header declares (may exceed what was captured).
    pub payload_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset in bytes.
    pub offset: u32,
    pub more: bool,
    pub id: u32,
}

impl Fragment {
    pub fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// A frame decoded as far as it goes.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// EtherType of the network layer, when the link layer says.
    pub ether_type: Option<u16>,
    pub vlans: [u16; 2],
    pub vlan_count: u8,
    pub ip: Option<Ip>,
    pub transport: Transport<'a>,
    /// The snaplen cut this frame (caplen < wire length).
    pub truncated: bool,
    /// Where and why decoding stopped early, if it did.
    pub stop: Option<DecodeError>,
}

impl Packet<'_> {
    fn empty(truncated: bool) -> Self {
        Packet {
            ether_type: None,
            vlans: [0; 2],
            vlan_count: 0,
            ip: None,
            transport: Transport::None,
            truncated,
            stop: None,
        }
    }
}

/// Decodes one frame.
pub fn decode<'a>(frame: &Frame<'a>) -> Packet<'a> {
    let mut pkt = Packet::empty(frame.is_truncated());
    if frame.kind == FrameKind::CustomBlock {
        return pkt;
    }
    let data = frame.data;
    let (start, at) = match link::strip(frame.linktype, data) {
        Ok(v) => v,
        Err(e) => {
            pkt.stop = Some(e);
            return pkt;
        }
    };
    let ip_at = match start {
        link::NetStart::Ip => at,
        link::NetStart::EtherType(et) => {
            let v = link::strip_vlans(et, data, at);
            pkt.ether_type = Some(v.ether_type);
            pkt.vlans = v.ids;
            pkt.vlan_count = v.count;
            if v.cut {
                pkt.stop = Some(DecodeError::Len {
                    layer: Layer::Vlan,
                    need: v.at + 4,
                    have: data.len(),
                    offset: 0,
                });
                return pkt;
            }
            if v.ether_type != 0x0800 && v.ether_type != 0x86dd {
                return pkt;
            }
            v.at
        }
    };
    decode_ip(&mut pkt, data.get(ip_at..).unwrap_or(&[]), ip_at);
    pkt
}

/// Decodes an IP packet, which starts at byte `at` of the frame, and its transport header
/// into `pkt`.
fn decode_ip<'a>(pkt: &mut Packet<'a>, bytes: &'a [u8], at: usize) {
    let Some(&first) = bytes.first() else {
        pkt.stop = Some(DecodeError::Len {
            layer: Layer::Ip,
            need: 1,
            have: 0,
            offset: at,
        });
        return;
    };
    let version = first >> 4;
    let min = match version {
        4 => 20,
        6 => 40,
        _ => {
            pkt.stop = Some(DecodeError::Content {
                layer: Layer::Ip,
                what: ContentError::IpVersion,
            });
            return;
        }
    };
    let layer = if version == 4 {
        Layer::Ipv4
    } else {
        Layer::Ipv6
    };
    if bytes.len() < min {
        pkt.stop = Some(DecodeError::Len {
            layer,
            need: min,
            have: bytes.len(),
            offset: at,
        });
        return;
    }
    let Ok((slice, ext_err)) = LaxIpSlice::from_slice(bytes) else {
        pkt.stop = Some(DecodeError::Content {
            layer,
            what: ContentError::IpHeaderLen,
        });
        return;
    };
    let payload = slice.payload();
    let payload_at = offset_in(bytes, payload.payload);
    let ip = match &slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            // A total length of 0 is what TSO / IPv4 BIG TCP senders capture: the frame
            // gives the length (tshark's ip.tso_support).
            let declared_end = match h.total_len() {
                0 => bytes.len(),
                n => (n as usize).max(h.ihl() as usize * 4),
            };
            Ip {
                src: IpAddr::V4(Ipv4Addr::from(h.source())),
                dst: IpAddr::V4(Ipv4Addr::from(h.destination())),
                ttl: h.ttl(),
                tos: bytes[1],
                proto: payload.ip_number.0,
                fragment: v4.is_payload_fragmented().then(|| Fragment {
                    offset: h.fragments_offset().value() as u32 * 8,
                    more: h.more_fragments(),
                    id: h.identification() as u32,
                }),
                payload_len: declared_end.saturating_sub(payload_at) as u32,
            }
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            let mut fragment = None;
            let mut jumbo = None;
            if let Some((e, _)) = &ext_err {
                pkt.stop = Some(match e {
                    // etherparse counts `required_len` and `len` from the extension header,
                    // which starts `layer_start_offset` bytes into the IPv6 packet.
                    etherparse::err::ipv6_exts::HeaderSliceError::Len(l) => DecodeError::Len {
                        layer: Layer::Ipv6Extension,
                        need: l.required_len,
                        have: l.len,
                        offset: at + l.layer_start_offset,
                    },
                    etherparse::err::ipv6_exts::HeaderSliceError::Content(_) => {
                        DecodeError::Content {
                            layer: Layer::Ipv6Extension,
                            what: ContentError::ExtensionChain,
                        }
                    }
                });
            }
            // Walk the chain only when etherparse read it whole (its iterator trusts the chain).
            let exts = if ext_err.is_none() {
                Some(v6.extensions().clone())
            } else {
                None
            };
            for ext in exts.into_iter().flatten() {
                match ext {
                    Ipv6ExtensionSlice::Fragment(f) => {
                        fragment = Some(Fragment {
                            offset: f.fragment_offset().value() as u32 * 8,
                            more: f.more_fragments(),
                            id: f.identification(),
                        });
                    }
                    Ipv6ExtensionSlice::HopByHop(hbh) => jumbo = jumbo_len(hbh.payload()),
                    _ => {}
                }
            }
            let declared_end = match (h.payload_length(), jumbo) {
                (0, Some(j)) => 40 + j as usize,
                (0, None) => bytes.len(),
                (n, _) => 40 + n as usize,
            };
            Ip {
                src: IpAddr::V6(Ipv6Addr::from(h.source())),
                dst: IpAddr::V6(Ipv6Addr::from(h.destination())),
                ttl: h.hop_limit(),
                tos: h.traffic_class(),
                proto: payload.ip_number.0,
                fragment: fragment.filter(|f| f.more || f.offset != 0),
                payload_len: declared_end.saturating_sub(payload_at) as u32,
            }
        }
    };
    pkt.ip = Some(ip);
    if pkt.stop.is_some() {
        return;
    }
    if ip.fragment.is_some_and(|f| !f.is_first()) {
        pkt.transport = Transport::Fragment;
        return;
    }
    let (t, stop) = transport::decode(
        ip.proto,
        payload.payload,
        ip.payload_len,
        ip.fragment.is_some(),
    );
    pkt.transport = t;
    if pkt.stop.is_none() {
        pkt.stop = stop.map(|e| e.shifted(at + payload_at));
    }
}

/// The IPv6 Jumbo Payload option (type 0xC2) in hop-by-hop options, if present.
fn jumbo_len(opts: &[u8]) -> Option<u32> {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => i += 1,
            t => {
                let len = *opts.get(i + 1)? as usize;
                if t == 0xC2 && len == 4 {
                    let v = opts.get(i + 2..i + 6)?;
                    return Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
                }
                i += 2 + len;
            }
        }
    }
    None
}

/// Byte offset of `inner` within `outer` (both from the same buffer).
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize)
        .saturating_sub(outer.as_ptr() as usize)
        .min(outer.len())
}

#[cfg(test)]
mod tests;
