//! Why decoding stopped early: a typed error naming the layer, in the style of etherparse
//! (length problems apart from content problems). Its `Display` is the text the views show.

use std::fmt;

use super::link::linktype_name;

/// A layer of a packet, as errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The link-layer header of a frame of this link type.
    Link(u16),
    /// An 802.1Q VLAN tag.
    Vlan,
    /// An IP header whose version is not known yet.
    Ip,
    Ipv4,
    Ipv6,
    /// An IPv6 extension header.
    Ipv6Extension,
    Tcp,
    /// The TCP header's option area (the bytes its data offset claims after the fixed 20).
    TcpOptions,
    Udp,
    Icmp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Link(lt) => linktype_name(*lt),
            Layer::Vlan => "802.1Q",
            Layer::Ip => "IP",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Ipv6Extension => "IPv6 extension",
            Layer::Tcp => "TCP",
            Layer::TcpOptions => "TCP options",
            Layer::Udp => "UDP",
            Layer::Icmp => "ICMP",
        })
    }
}

/// A header whose content is impossible or not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// A link type sockscope does not decode.
    #[error("link type {0} not decoded")]
    LinkType(u16),
    /// BSD loopback with an address family that is not IP.
    #[error("loopback frame, address family {0} (not IP)")]
    AddressFamily(u32),
    #[error("version is neither 4 nor 6")]
    IpVersion,
    /// An IPv4 header length below 20 or past the bytes.
    #[error("header length out of range")]
    IpHeaderLen,
    #[error("malformed extension header chain")]
    ExtensionChain,
    #[error("header length below 20 bytes")]
    TcpHeaderLen,
    #[error("length field disagrees with the IP length")]
    UdpLength,
}

/// Where and why decoding stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame ends inside a header of `layer`: it needs `need` bytes and has `have`, both
    /// counted from byte `offset` of the frame.
    Len {
        layer: Layer,
        need: usize,
        have: usize,
        offset: usize,
    },
    /// A header's content is impossible (bad version, bad header length, ...) or not decoded.
    Content { layer: Layer, what: ContentError },
}

impl DecodeError {
    /// The layer that stopped decoding.
    pub fn layer(&self) -> Layer {
        match *self {
            DecodeError::Len { layer, .. } | DecodeError::Content { layer, .. } => layer,
        }
    }

    /// The same error with its offset moved `by` bytes further into the frame (for an error
    /// found in a slice that starts there).
    pub(crate) fn shifted(self, by: usize) -> Self {
        match self {
            DecodeError::Len {
                layer,
                need,
                have,
                offset,
            } => DecodeError::Len {
                layer,
                need,
                have,
                offset: offset + by,
            },
            content => content,
        }
    }
}

/// `Ethernet header cut: 10 of 14 bytes`, `bad TCP: header length below 20 bytes`; a link
/// layer's content error is its own sentence (`link type 147 not decoded`).
impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Len {
                layer, need, have, ..
            } => write!(f, "{layer} header cut: {have} of {need} bytes"),
            DecodeError::Content {
                layer: Layer::Link(_),
                what,
            } => write!(f, "{what}"),
            DecodeError::Content { layer, what } => write!(f, "bad {layer}: {what}"),
        }
    }
}

/// The message already says what [`ContentError`] says, so there is no `source`.
impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::linktype;

    #[test]
    fn display_is_the_text_the_views_show() {
        let cases = [
            (
                DecodeError::Len {
                    layer: Layer::Link(linktype::ETHERNET),
                    need: 14,
                    have: 10,
                    offset: 0,
                },
                "Ethernet header cut: 10 of 14 bytes",
            ),
            (
                DecodeError::Len {
                    layer: Layer::Ipv6Extension,
                    need: 8,
                    have: 2,
                    offset: 54,
                },
                "IPv6 extension header cut: 2 of 8 bytes",
            ),
            (
                DecodeError::Content {
                    layer: Layer::Link(147),
                    what: ContentError::LinkType(147),
                },
                "link type 147 not decoded",
            ),
            (
                DecodeError::Content {
                    layer: Layer::Link(linktype::NULL),
                    what: ContentError::AddressFamily(7),
                },
                "loopback frame, address family 7 (not IP)",
            ),
            (
                DecodeError::Content {
                    layer: Layer::Tcp,
                    what: ContentError::TcpHeaderLen,
                },
                "bad TCP: header length below 20 bytes",
            ),
            (
                DecodeError::Content {
                    layer: Layer::Ip,
                    what: ContentError::IpVersion,
                },
                "bad IP: version is neither 4 nor 6",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn shifting_moves_only_the_offset() {
        let e = DecodeError::Len {
            layer: Layer::Tcp,
            need: 20,
            have: 7,
            offset: 14,
        };
        assert_eq!(
            e.shifted(20),
            DecodeError::Len {
                layer: Layer::Tcp,
                need: 20,
                have: 7,
                offset: 34
            }
        );
        assert_eq!(e.shifted(20).layer(), Layer::Tcp);
    }
}
