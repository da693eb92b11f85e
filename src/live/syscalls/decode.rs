//! Pure decoding of a traced call's arguments: socket addresses from the bytes read out of the
//! tracee, and the C names of domains, types, levels, options and flags (as `strace` and the
//! in-process tracer print them).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use nix::libc;
use socket2::{Domain, Type};

use crate::live::tracer::{domain_name, type_name};

/// A socket address as the tracee passed or received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    Inet(SocketAddr),
    /// An `AF_UNIX` path.
    Unix(String),
    /// An abstract `AF_UNIX` name (shown with a leading `@`).
    Abstract(String),
    /// An `AF_UNIX` socket with no name.
    Unnamed,
    /// Another family, by number.
    Other(u16),
}

impl Addr {
    /// The IP address and port, for [`crate::live::Event::addr`].
    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            Addr::Inet(a) => Some(*a),
            _ => None,
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(a) => write!(f, "{a}"),
            Addr::Unix(p) => write!(f, "{p:?}"),
            Addr::Abstract(p) => write!(f, "@{p:?}"),
            Addr::Unnamed => f.write_str("(unnamed)"),
            Addr::Other(fam) => write!(f, "{{family {fam}}}"),
        }
    }
}

/// Decodes a `struct sockaddr` of `b.len()` bytes (the length the call gave or returned).
pub fn sockaddr(b: &[u8]) -> Option<Addr> {
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]);
    let port = |b: &[u8]| Some(u16::from_be_bytes([*b.get(2)?, *b.get(3)?]));
    match i32::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            let a = SocketAddrV4::new(Ipv4Addr::from(ip), port(b)?);
            Some(Addr::Inet(a.into()))
        }
        libc::AF_INET6 => {
            let flow = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let scope = match b.get(24..28) {
                Some(s) => u32::from_ne_bytes(s.try_into().ok()?),
                None => 0,
            };
            let a = SocketAddrV6::new(Ipv6Addr::from(ip), port(b)?, flow, scope);
            Some(Addr::Inet(a.into()))
        }
        libc::AF_UNIX => {
            let path = &b[2..];
            if path.is_empty() {
                return Some(Addr::Unnamed);
            }
            if path[0] == 0 {
                return Some(Addr::Abstract(
                    String::from_utf8_lossy(&path[1..]).into_owned(),
                ));
            }
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            Some(Addr::Unix(
                String::from_utf8_lossy(&path[..end]).into_owned(),
            ))
        }
        _ => Some(Addr::Other(family)),
    }
}

/// `AF_INET`, or the number of a domain the project does not name.
pub fn domain(d: u64) -> String {
    let n = domain_name(Domain::from(d as i32));
    if n == "AF_?" {
        d.to_string()
    } else {
        n.to_owned()
    }
}

/// `SOCK_STREAM|SOCK_CLOEXEC`.
pub fn sock_type(t: u64) -> String {
    let flags = (libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u64;
    let base = t & !flags;
    let n = type_name(Type::from(base as i32));
    let mut s = if n == "SOCK_?" {
        base.to_string()
    } else {
        n.to_owned()
    };
    if t & libc::SOCK_NONBLOCK as u64 != 0 {
        s.push_str("|SOCK_NONBLOCK");
    }
    if t & libc::SOCK_CLOEXEC as u64 != 0 {
        s.push_str("|SOCK_CLOEXEC");
    }
    s
}

/// accept4's flags: `SOCK_CLOEXEC|SOCK_NONBLOCK`, or `0`.
pub fn sock_flags(f: u64) -> String {
    flags(
        f,
        &[
            (libc::SOCK_NONBLOCK, "SOCK_NONBLOCK"),
            (libc::SOCK_CLOEXEC, "SOCK_CLOEXEC"),
        ],
    )
}

/// `IPPROTO_TCP`, `0`, or the number.
pub fn protocol(p: u64) -> String {
    match p as i32 {
        libc::IPPROTO_TCP => "IPPROTO_TCP".into(),
        libc::IPPROTO_UDP => "IPPROTO_UDP".into(),
        libc::IPPROTO_ICMP => "IPPROTO_ICMP".into(),
        libc::IPPROTO_ICMPV6 => "IPPROTO_ICMPV6".into(),
        _ => p.to_string(),
    }
}

/// A `setsockopt` level and option: `SOL_SOCKET, SO_REUSEADDR`.
pub fn sockopt(level: u64, name: u64) -> String {
    let (l, opts): (&str, &[(i32, &str)]) = match level as i32 {
        libc::SOL_SOCKET => (
            "SOL_SOCKET",
            &[
                (libc::SO_REUSEADDR, "SO_REUSEADDR"),
                (libc::SO_REUSEPORT, "SO_REUSEPORT"),
                (libc::SO_KEEPALIVE, "SO_KEEPALIVE"),
                (libc::SO_BROADCAST, "SO_BROADCAST"),
                (libc::SO_LINGER, "SO_LINGER"),
                (libc::SO_RCVBUF, "SO_RCVBUF"),
                (libc::SO_SNDBUF, "SO_SNDBUF"),
                (libc::SO_RCVTIMEO, "SO_RCVTIMEO"),
                (libc::SO_SNDTIMEO, "SO_SNDTIMEO"),
                (libc::SO_ERROR, "SO_ERROR"),
                (libc::SO_TYPE, "SO_TYPE"),
                (libc::SO_RCVLOWAT, "SO_RCVLOWAT"),
            ],
        ),
        libc::IPPROTO_TCP => (
            "IPPROTO_TCP",
            &[
                (libc::TCP_NODELAY, "TCP_NODELAY"),
                (libc::TCP_MAXSEG, "TCP_MAXSEG"),
                (libc::TCP_CORK, "TCP_CORK"),
                (libc::TCP_KEEPIDLE, "TCP_KEEPIDLE"),
                (libc::TCP_KEEPINTVL, "TCP_KEEPINTVL"),
                (libc::TCP_KEEPCNT, "TCP_KEEPCNT"),
                (libc::TCP_QUICKACK, "TCP_QUICKACK"),
                (libc::TCP_INFO, "TCP_INFO"),
                (libc::TCP_CONGESTION, "TCP_CONGESTION"),
                (libc::TCP_FASTOPEN, "TCP_FASTOPEN"),
            ],
        ),
        libc::IPPROTO_IP => (
            "IPPROTO_IP",
            &[
                (libc::IP_TOS, "IP_TOS"),
                (libc::IP_TTL, "IP_TTL"),
                (libc::IP_RECVERR, "IP_RECVERR"),
                (libc::IP_MTU_DISCOVER, "IP_MTU_DISCOVER"),
            ],
        ),
        libc::IPPROTO_IPV6 => (
            "IPPROTO_IPV6",
            &[
                (libc::IPV6_V6ONLY, "IPV6_V6ONLY"),
                (libc::IPV6_RECVERR, "IPV6_RECVERR"),
            ],
        ),
        _ => return format!("{level}, {name}"),
    };
    match opts.iter().find(|&&(n, _)| n as u64 == name) {
        Some((_, o)) => format!("{l}, {o}"),
        None => format!("{l}, {name}"),
    }
}

/// `SHUT_WR`.
pub fn how(h: u64) -> String {
    match h as i32 {
        libc::SHUT_RD => "SHUT_RD".into(),
        libc::SHUT_WR => "SHUT_WR".into(),
        libc::SHUT_RDWR => "SHUT_RDWR".into(),
        _ => h.to_string(),
    }
}

/// `MSG_NOSIGNAL|MSG_DONTWAIT`, or `0`.
pub fn msg_flags(f: u64) -> String {
    const NAMES: &[(i32, &str)] = &[
        (libc::MSG_OOB, "MSG_OOB"),
        (libc::MSG_PEEK, "MSG_PEEK"),
        (libc::MSG_DONTROUTE, "MSG_DONTROUTE"),
        (libc::MSG_TRUNC, "MSG_TRUNC"),
        (libc::MSG_DONTWAIT, "MSG_DONTWAIT"),
        (libc::MSG_EOR, "MSG_EOR"),
        (libc::MSG_WAITALL, "MSG_WAITALL"),
        (libc::MSG_CONFIRM, "MSG_CONFIRM"),
        (libc::MSG_NOSIGNAL, "MSG_NOSIGNAL"),
        (libc::MSG_MORE, "MSG_MORE"),
        (libc::MSG_CMSG_CLOEXEC, "MSG_CMSG_CLOEXEC"),
    ];
    flags(f, NAMES)
}

/// `POLLIN|POLLOUT`, or `0`.
pub fn poll_events(e: u64) -> String {
    const NAMES: &[(i32, &str)] = &[
        (libc::POLLIN as i32, "POLLIN"),
        (libc::POLLPRI as i32, "POLLPRI"),
        (libc::POLLOUT as i32, "POLLOUT"),
        (libc::POLLERR as i32, "POLLERR"),
        (libc::POLLHUP as i32, "POLLHUP"),
        (libc::POLLNVAL as i32, "POLLNVAL"),
        (libc::POLLRDHUP as i32, "POLLRDHUP"),
    ];
    flags(e, NAMES)
}

fn flags(mut f: u64, names: &[(i32, &str)]) -> String {
    if f == 0 {
        return "0".into();
    }
    let mut parts = Vec::new();
    for &(bit, name) in names {
        let bit = bit as u32 as u64;
        if f & bit != 0 {
            parts.push(name.to_owned());
            f &= !bit;
        }
    }
    if f != 0 {
        parts.push(format!("{f:#x}"));
    }
    parts.join("|")
}

/// A socket option's value: an `int` (or the first 4 bytes), else the byte count.
pub fn opt_value(b: &[u8]) -> String {
    match b.get(..4) {
        Some(v) if b.len() == 4 => i32::from_ne_bytes([v[0], v[1], v[2], v[3]]).to_string(),
        _ => format!("<{} bytes>", b.len()),
    }
}

/// `(u32 little-endian)` words read out of the tracee, e.g. a `pollfd` array or a length.
pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A pointer or 64-bit word at `at`.
pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend(ip);
        b.extend([0; 8]);
        b
    }

    #[test]
    fn inet_addresses_decode() {
        let a = sockaddr(&v4([127, 0, 0, 1], 9190)).unwrap();
        assert_eq!(a.inet(), Some("127.0.0.1:9190".parse().unwrap()));
        assert_eq!(a.to_string(), "127.0.0.1:9190");
        let mut b = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        b.extend(443u16.to_be_bytes());
        b.extend([0; 4]);
        b.extend(Ipv6Addr::LOCALHOST.octets());
        b.extend([0; 4]);
        assert_eq!(sockaddr(&b).unwrap().to_string(), "[::1]:443");
        // Too short for its family: nothing, not a panic.
        assert_eq!(sockaddr(&v4([1, 2, 3, 4], 5)[..6]), None);
        assert_eq!(sockaddr(&b[..20]), None);
        assert_eq!(sockaddr(&[2]), None);
        assert_eq!(sockaddr(&[]), None);
    }

    #[test]
    fn unix_addresses_decode() {
        let mut b = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        b.extend(b"/tmp/s\0\0\0");
        assert_eq!(sockaddr(&b), Some(Addr::Unix("/tmp/s".into())));
        assert_eq!(sockaddr(&b).unwrap().to_string(), "\"/tmp/s\"");
        let mut ab = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        ab.extend(b"\0name");
        assert_eq!(sockaddr(&ab).unwrap().to_string(), "@\"name\"");
        assert_eq!(sockaddr(&ab[..2]), Some(Addr::Unnamed));
        assert_eq!(sockaddr(&[16, 0, 1, 2]), Some(Addr::Other(16)));
        assert_eq!(Addr::Unnamed.inet(), None);
    }

    #[test]
    fn names_as_c_writes_them() {
        assert_eq!(domain(2), "AF_INET");
        assert_eq!(domain(10), "AF_INET6");
        assert_eq!(domain(1), "AF_UNIX");
        assert_eq!(domain(16), "16");
        assert_eq!(sock_type(1), "SOCK_STREAM");
        assert_eq!(sock_type(2 | 0o2000000), "SOCK_DGRAM|SOCK_CLOEXEC");
        assert_eq!(sock_type(1 | 0o4000), "SOCK_STREAM|SOCK_NONBLOCK");
        assert_eq!(sock_type(9), "9");
        assert_eq!(sock_flags(0), "0");
        assert_eq!(sock_flags(0o2000000), "SOCK_CLOEXEC");
        assert_eq!(protocol(0), "0");
        assert_eq!(protocol(6), "IPPROTO_TCP");
        assert_eq!(sockopt(1, 2), "SOL_SOCKET, SO_REUSEADDR");
        assert_eq!(sockopt(6, 1), "IPPROTO_TCP, TCP_NODELAY");
        assert_eq!(sockopt(6, 999), "IPPROTO_TCP, 999");
        assert_eq!(sockopt(77, 3), "77, 3");
        assert_eq!(how(1), "SHUT_WR");
        assert_eq!(how(7), "7");
        assert_eq!(msg_flags(0), "0");
        assert_eq!(msg_flags(0x4000 | 0x40), "MSG_DONTWAIT|MSG_NOSIGNAL");
        assert_eq!(msg_flags(0x10_0000_0000), "0x1000000000");
        assert_eq!(poll_events(1 | 4), "POLLIN|POLLOUT");
    }

    #[test]
    fn option_values() {
        assert_eq!(opt_value(&1i32.to_ne_bytes()), "1");
        assert_eq!(opt_value(&[0; 8]), "<8 bytes>");
        assert_eq!(opt_value(&[1]), "<1 bytes>");
        assert_eq!(u32_at(&[1, 0, 0, 0, 9], 0), Some(1));
        assert_eq!(u32_at(&[1, 0, 0], 0), None);
        assert_eq!(u64_at(&[0; 7], 0), None);
    }
}
