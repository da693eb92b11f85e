//! Application messages in a TCP or UDP payload, named as tcpdump's and tshark's summaries
//! name them: DNS, HTTP/1.x start lines, TLS records (ClientHello SNI and version), the SSH
//! banner, QUIC long headers.
//!
//! Pure, checked parsing of the payload slice, one protocol per file: each `parse` returns
//! `None` for bytes that are not its protocol and never panics on any input. DNS and QUIC are
//! recognised by port (53, 5353, 5355; 443; SSDP's 1900), the TCP ones by their first bytes
//! (and SSH's binary packets on port 22); on other UDP
//! ports, a datagram that is exactly one plain DNS query or response is DNS too. Only a payload
//! that starts a message is read: segments are not reassembled. The views borrow the payload;
//! their byte fields are unescaped (render escapes them).

pub mod dns;
pub mod http;
pub mod quic;
pub mod ssh;
pub mod tls;

use super::Transport;

pub use dns::{DnsError, Message};
pub use http::Http;
pub use quic::Quic;
pub use ssh::Banner;
pub use tls::Tls;

/// A DNS payload: a message, or the header of one that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dns {
    Message(Message),
    Damaged {
        /// The id and flags, when the 4 bytes are there.
        header: Option<(u16, u16)>,
        error: DnsError,
    },
}

/// An application message at the start of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum App<'a> {
    Dns(Dns),
    Http(Http<'a>),
    /// HTTP over UDP on port 1900: SSDP (UPnP discovery).
    Ssdp(Http<'a>),
    Tls(Tls<'a>),
    Ssh(Banner<'a>),
    /// SSH binary packets in the clear (the key exchange), by message number.
    SshPackets(ssh::Packets),
    /// Bytes on port 22 after the key exchange.
    SshEncrypted,
    Quic(Quic<'a>),
}

/// Ports DNS is carried on: DNS, mDNS, LLMNR.
fn dns_port(p: u16) -> bool {
    matches!(p, 53 | 5353 | 5355)
}

fn dns(b: &[u8]) -> Dns {
    match Message::parse(b) {
        Ok(m) => Dns::Message(m),
        Err(error) => Dns::Damaged {
            header: dns::header(b),
            error,
        },
    }
}

/// The application message that starts the transport payload of `t`, if one is recognised.
pub fn parse<'a>(t: &Transport<'a>) -> Option<App<'a>> {
    match *t {
        Transport::Tcp(t) if !t.payload.is_empty() => {
            let p = t.payload;
            if dns_port(t.sport) || dns_port(t.dport) {
                // DNS over TCP: a two-byte length, then the message (RFC 1035, 4.2.2). A
                // segment that is not one (the rest of a long message) is not named.
                return Message::parse(p.get(2..)?)
                    .ok()
                    .map(|m| App::Dns(Dns::Message(m)));
            }
            if t.sport == 22 || t.dport == 22 {
                return Some(match Banner::parse(p) {
                    Some(b) => App::Ssh(b),
                    None => ssh::packets(p).map_or(App::SshEncrypted, App::SshPackets),
                });
            }
            match p[0] {
                b'S' if p.starts_with(b"SSH-") => Banner::parse(p).map(App::Ssh),
                b'A'..=b'Z' => Http::parse(p).map(App::Http),
                20..=24 => Tls::parse(p).map(App::Tls),
                _ => None,
            }
        }
        Transport::Udp(u) if !u.payload.is_empty() => {
            if dns_port(u.sport) || dns_port(u.dport) {
                Some(App::Dns(dns(u.payload)))
            } else if u.sport == 1900 || u.dport == 1900 {
                Http::parse(u.payload).map(App::Ssdp)
            } else if u.sport == 443 || u.dport == 443 {
                Quic::parse(u.payload).map(App::Quic)
            } else {
                Message::parse_strict(u.payload).map(|m| App::Dns(Dns::Message(m)))
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Tcp, Udp};

    fn tcp(port: u16, payload: &[u8]) -> Transport<'_> {
        Transport::Tcp(Tcp {
            sport: 50000,
            dport: port,
            fixed: None,
            options: &[],
            options_cut: false,
            payload,
        })
    }

    fn udp(port: u16, payload: &[u8]) -> Transport<'_> {
        Transport::Udp(Udp {
            sport: port,
            dport: 50000,
            length: None,
            length_ok: true,
            payload,
        })
    }

    /// A query for `x.` type A, id 7.
    const QUERY: [u8; 19] = [0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'x', 0, 0, 1, 0, 1];

    #[test]
    fn which_parser_by_port_and_first_bytes() {
        let dns = |a: Option<App<'_>>| matches!(a, Some(App::Dns(Dns::Message(m))) if m.id == 7);
        assert!(dns(parse(&udp(53, &QUERY))));
        // Over TCP, after a two-byte length.
        let mut framed = vec![0, QUERY.len() as u8];
        framed.extend_from_slice(&QUERY);
        assert!(dns(parse(&tcp(53, &framed))));
        assert_eq!(parse(&tcp(53, &framed[..12])), None);
        // On another UDP port only when the datagram is exactly the message.
        assert!(dns(parse(&udp(40000, &QUERY))));
        assert_eq!(parse(&udp(40000, &[&QUERY[..], &[0]].concat())), None);
        // On port 53, a datagram that does not decode is still DNS, marked damaged.
        assert!(matches!(
            parse(&udp(53, &QUERY[..15])),
            Some(App::Dns(Dns::Damaged {
                header: Some((7, 0x0100)),
                ..
            }))
        ));
        let ssdp = b"M-SEARCH * HTTP/1.1\r\n";
        assert!(matches!(parse(&udp(1900, ssdp)), Some(App::Ssdp(_))));
        assert!(matches!(parse(&tcp(8080, ssdp)), Some(App::Http(_))));
        assert!(matches!(parse(&tcp(22, &[7; 48])), Some(App::SshEncrypted)));
        assert_eq!(parse(&tcp(8080, &[7; 48])), None);
        assert_eq!(parse(&tcp(80, b"")), None);
        assert_eq!(parse(&Transport::Fragment), None);
    }
}
