//! Traced datagram options: `SO_BROADCAST`, `SO_RCVTIMEO`, the multicast options
//! (`IP_ADD_MEMBERSHIP`, `IP_MULTICAST_TTL`, `IP_MULTICAST_LOOP`, `IP_MULTICAST_IF`) and
//! `getsockopt(SO_ERROR)`, each recorded as the C calls it:
//! `setsockopt(5, IPPROTO_IP, IP_ADD_MEMBERSHIP, {239.1.2.3, 127.0.0.1}) = 0`.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::{errno_name, now, Sock, Tracer};
use crate::live::LiveError;

/// Options of datagram sockets the scenarios set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DgramOpt {
    /// `SOL_SOCKET, SO_BROADCAST`: without it, sendto() to a broadcast address fails (EACCES).
    Broadcast(bool),
    /// `SOL_SOCKET, SO_RCVTIMEO`: a blocking receive gives up after this long (EAGAIN).
    RcvTimeo(Duration),
    /// `IPPROTO_IP, IP_ADD_MEMBERSHIP`: join `group` on the interface that has address `iface`.
    AddMembership { group: Ipv4Addr, iface: Ipv4Addr },
    /// `IPPROTO_IP, IP_MULTICAST_TTL`: the TTL of the datagrams sent to a group.
    MulticastTtl(u32),
    /// `IPPROTO_IP, IP_MULTICAST_LOOP`: whether this host's own members get a copy.
    MulticastLoop(bool),
    /// `IPPROTO_IP, IP_MULTICAST_IF`: the interface (by its address) datagrams to a group leave by.
    MulticastIf(Ipv4Addr),
}

impl DgramOpt {
    /// `LEVEL, NAME, value` as the C writes them.
    fn args(self) -> String {
        match self {
            DgramOpt::Broadcast(v) => format!("SOL_SOCKET, SO_BROADCAST, {}", v as u8),
            DgramOpt::RcvTimeo(d) => format!(
                "SOL_SOCKET, SO_RCVTIMEO, {{{} s, {} µs}}",
                d.as_secs(),
                d.subsec_micros()
            ),
            DgramOpt::AddMembership { group, iface } => {
                format!("IPPROTO_IP, IP_ADD_MEMBERSHIP, {{{group}, {iface}}}")
            }
            DgramOpt::MulticastTtl(t) => format!("IPPROTO_IP, IP_MULTICAST_TTL, {t}"),
            DgramOpt::MulticastLoop(v) => format!("IPPROTO_IP, IP_MULTICAST_LOOP, {}", v as u8),
            DgramOpt::MulticastIf(a) => format!("IPPROTO_IP, IP_MULTICAST_IF, {a}"),
        }
    }
}

impl Tracer {
    /// `setsockopt(fd, level, name, value)` for a datagram option.
    pub fn set_dgram(&self, s: &Sock, opt: DgramOpt) -> Result<(), LiveError> {
        let start = now();
        let r = match opt {
            DgramOpt::Broadcast(v) => s.sock.set_broadcast(v),
            DgramOpt::RcvTimeo(d) => s.sock.set_read_timeout(Some(d)),
            DgramOpt::AddMembership { group, iface } => s.sock.join_multicast_v4(&group, &iface),
            DgramOpt::MulticastTtl(t) => s.sock.set_multicast_ttl_v4(t),
            DgramOpt::MulticastLoop(v) => s.sock.set_multicast_loop_v4(v),
            DgramOpt::MulticastIf(a) => s.sock.set_multicast_if_v4(&a),
        };
        let args = format!("{}, {}", s.fd(), opt.args());
        self.finish(
            s.role,
            "setsockopt",
            Some(s.fd()),
            args,
            start,
            r,
            |_, e| Self::on_sock(e, s),
        )
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_ERROR)`: the error the kernel kept for the socket (and
    /// cleared by reading it), as its errno name; None when there is none (value 0).
    pub fn so_error(&self, s: &Sock) -> Result<Option<String>, LiveError> {
        let start = now();
        let r = s.sock.take_error();
        let args = format!("{}, SOL_SOCKET, SO_ERROR", s.fd());
        self.finish(
            s.role,
            "getsockopt",
            Some(s.fd()),
            args,
            start,
            r,
            |v, e| {
                Self::on_sock(e, s);
                e.text = Some(match v {
                    None => "(value 0)".to_owned(),
                    Some(err) => format!(
                        "(value {} {})",
                        err.raw_os_error().unwrap_or(0),
                        errno_name(err)
                    ),
                });
            },
        )
        .map(|v| v.map(|err| errno_name(&err)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_the_c_writes_them() {
        assert_eq!(
            DgramOpt::Broadcast(true).args(),
            "SOL_SOCKET, SO_BROADCAST, 1"
        );
        assert_eq!(
            DgramOpt::RcvTimeo(Duration::from_millis(100)).args(),
            "SOL_SOCKET, SO_RCVTIMEO, {0 s, 100000 µs}"
        );
        assert_eq!(
            DgramOpt::AddMembership {
                group: Ipv4Addr::new(239, 1, 2, 3),
                iface: Ipv4Addr::LOCALHOST
            }
            .args(),
            "IPPROTO_IP, IP_ADD_MEMBERSHIP, {239.1.2.3, 127.0.0.1}"
        );
        assert_eq!(
            DgramOpt::MulticastLoop(false).args(),
            "IPPROTO_IP, IP_MULTICAST_LOOP, 0"
        );
    }
}
