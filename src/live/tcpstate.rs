//! The kernel's view of TCP connections, from `/proc/net/tcp` and `/proc/net/tcp6`.
//!
//! Used to show the state a connection is in (FIN_WAIT2, CLOSE_WAIT, TIME_WAIT…), including
//! after the program closed its socket, and to wait until a run's connections are settled
//! (closed or in TIME_WAIT) so that every packet they will send is already on the wire.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// TCP states as the kernel numbers them (`include/net/tcp_states.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    NewSynRecv,
}

impl TcpState {
    pub fn from_code(c: u8) -> Option<TcpState> {
        use TcpState::*;
        Some(match c {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            12 => NewSynRecv,
            _ => return None,
        })
    }

    /// The name `ss` and the RFC use.
    pub fn name(self) -> &'static str {
        use TcpState::*;
        match self {
            Established => "ESTABLISHED",
            SynSent => "SYN_SENT",
            SynRecv | NewSynRecv => "SYN_RECV",
            FinWait1 => "FIN_WAIT1",
            FinWait2 => "FIN_WAIT2",
            TimeWait => "TIME_WAIT",
            Close => "CLOSED",
            CloseWait => "CLOSE_WAIT",
            LastAck => "LAST_ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
        }
    }

    /// Nothing more will be sent in this state without a packet arriving first.
    pub fn is_settled(self) -> bool {
        matches!(self, TcpState::TimeWait | TcpState::Close)
    }
}

/// One line of `/proc/net/tcp{,6}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: TcpState,
    /// Clock ticks left on the socket's timer (None: no timer running, or not given).
    pub timer_ticks: Option<u64>,
}

/// Every TCP socket of this network namespace.
pub fn entries() -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match std::fs::read_to_string(path) {
            Ok(text) => out.extend(text.lines().skip(1).filter_map(parse_line)),
            // No IPv6 in this kernel: nothing to list.
            Err(e) if e.kind() == io::ErrorKind::NotFound && path.ends_with('6') => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The kernel's entry for one connection, from sock_diag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KernelRow {
    pub state: TcpState,
    /// Seconds left on the socket's timer (for TIME_WAIT: until the kernel drops it).
    pub timer: Option<f64>,
}

/// The kernel's entry for `local` ⇄ `remote` by an exact NETLINK_SOCK_DIAG query (no dump);
/// None when the kernel has no such connection.
pub fn diag_lookup(local: SocketAddr, remote: SocketAddr) -> io::Result<Option<KernelRow>> {
    diag::lookup(local, remote)
}

/// The kernel's entry for `local` ⇄ `remote` from `/proc/net/tcp{,6}` (for where netlink is
/// refused; reading it walks the whole connection table), its timer in seconds.
pub fn proc_lookup(local: SocketAddr, remote: SocketAddr) -> io::Result<Option<KernelRow>> {
    // SAFETY: sysconf only reads a configuration value.
    let hz = match unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) } {
        n if n > 0 => n as f64,
        _ => 100.0,
    };
    Ok(entries()?
        .into_iter()
        .find(|e| e.local == local && e.remote == remote)
        .map(|e| e.row(hz)))
}

impl Entry {
    /// As a [`KernelRow`], the timer converted at `hz` ticks per second.
    fn row(&self, hz: f64) -> KernelRow {
        KernelRow {
            state: self.state,
            timer: self.timer_ticks.map(|t| t as f64 / hz),
        }
    }
}

/// The state of the connection `local` ⇄ `remote`, if the kernel still knows it: an exact
/// sock_diag query over netlink (microseconds), or `/proc/net/tcp` where netlink is refused
/// (reading it walks the whole connection table: milliseconds).
pub fn state_of(local: SocketAddr, remote: SocketAddr) -> io::Result<Option<TcpState>> {
    match diag::lookup(local, remote) {
        Ok(row) => Ok(row.map(|r| r.state)),
        Err(_) => Ok(entries()?
            .into_iter()
            .find(|e| e.local == local && e.remote == remote)
            .map(|e| e.state)),
    }
}

/// Waits until each connection in `conns` (local, remote) is closed or in TIME_WAIT, polling
/// every millisecond; returns the ones still busy if `limit` passes first.
pub fn settle(
    conns: &[(SocketAddr, SocketAddr)],
    limit: Duration,
) -> io::Result<Result<(), Vec<Entry>>> {
    let deadline = Instant::now() + limit;
    loop {
        let mut busy = Vec::new();
        for &(local, remote) in conns {
            match state_of(local, remote)? {
                Some(state) if !state.is_settled() && state != TcpState::Listen => {
                    busy.push(Entry {
                        local,
                        remote,
                        state,
                        timer_ticks: None,
                    })
                }
                _ => {}
            }
        }
        if busy.is_empty() {
            return Ok(Ok(()));
        }
        if Instant::now() >= deadline {
            return Ok(Err(busy));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// NETLINK_SOCK_DIAG: one exact lookup per query (`inet_diag_req_v2` without NLM_F_DUMP).
mod diag {
    use std::io;
    use std::net::{IpAddr, SocketAddr};

    use nix::sys::socket::{
        recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
        SockType,
    };

    use super::{KernelRow, TcpState};

    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST: u16 = 1;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_HDRLEN: usize = 16;
    const IPPROTO_TCP: u8 = 6;

    fn addr16(ip: IpAddr) -> [u8; 16] {
        let mut b = [0u8; 16];
        match ip {
            IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => b = a.octets(),
        }
        b
    }

    /// The request: nlmsghdr + inet_diag_req_v2 (72 bytes).
    pub fn request(local: SocketAddr, remote: SocketAddr) -> Vec<u8> {
        let mut m = Vec::with_capacity(72);
        m.extend_from_slice(&72u32.to_ne_bytes());
        m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes()); // seq
        m.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel
        let family = if local.is_ipv4() {
            nix::libc::AF_INET
        } else {
            nix::libc::AF_INET6
        };
        m.extend_from_slice(&[family as u8, IPPROTO_TCP, 0, 0]);
        m.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
        m.extend_from_slice(&local.port().to_be_bytes());
        m.extend_from_slice(&remote.port().to_be_bytes());
        m.extend_from_slice(&addr16(local.ip()));
        m.extend_from_slice(&addr16(remote.ip()));
        m.extend_from_slice(&0u32.to_ne_bytes()); // any interface
        m.extend_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
        m
    }

    /// The answer: inet_diag_msg { family, state, timer, retrans, id (48 bytes), expires (ms),
    /// … }, or an NLMSG_ERROR whose ENOENT means there is no such connection.
    pub fn answer(b: &[u8]) -> io::Result<Option<KernelRow>> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "short sock_diag answer");
        let u32_at = |i: usize| -> io::Result<u32> {
            let w: [u8; 4] = b
                .get(i..i + 4)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?;
            Ok(u32::from_ne_bytes(w))
        };
        let ty = u32_at(4)? as u16;
        if ty == NLMSG_ERROR {
            return match -(u32_at(NLMSG_HDRLEN)? as i32) {
                0 | nix::libc::ENOENT => Ok(None),
                e => Err(io::Error::from_raw_os_error(e)),
            };
        }
        let m = NLMSG_HDRLEN;
        let state = *b.get(m + 1).ok_or_else(bad)?;
        let timer = *b.get(m + 2).ok_or_else(bad)?;
        let Some(state) = TcpState::from_code(state) else {
            return Err(bad());
        };
        let timer = if timer != 0 {
            Some(u32_at(m + 52)? as f64 / 1000.0)
        } else {
            None
        };
        Ok(Some(KernelRow { state, timer }))
    }

    pub fn lookup(local: SocketAddr, remote: SocketAddr) -> io::Result<Option<KernelRow>> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkSockDiag,
        )?;
        use std::os::fd::AsRawFd;
        sendto(
            fd.as_raw_fd(),
            &request(local, remote),
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )?;
        let mut buf = [0u8; 8192];
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        answer(&buf[..n])
    }
}

/// `  3: 0100007F:9C40 0100007F:D3A2 06 00000000:00000000 03:00001770 00000000 …`: local,
/// remote, state, queues, timer kind and the clock ticks it has left.
fn parse_line(line: &str) -> Option<Entry> {
    let mut f = line.split_whitespace();
    f.next()?;
    let local = parse_addr(f.next()?)?;
    let remote = parse_addr(f.next()?)?;
    let state = TcpState::from_code(u8::from_str_radix(f.next()?, 16).ok()?)?;
    let timer_ticks = f.nth(1).and_then(|t| {
        let (kind, when) = t.split_once(':')?;
        match u8::from_str_radix(kind, 16).ok()? {
            0 => None,
            _ => u64::from_str_radix(when, 16).ok(),
        }
    });
    Some(Entry {
        local,
        remote,
        state,
        timer_ticks,
    })
}

/// An address of `/proc/net/{tcp,udp}{,6}` (`0100007F:1F90`, or 32 hex digits and a port):
/// the kernel prints each 32-bit word of the address in host byte order, then the port.
pub(crate) fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_lines() {
        let lo = u32::from_ne_bytes([127, 0, 0, 1]);
        let line = format!(
            "   1: {lo:08X}:9C40 {lo:08X}:D3A2 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000"
        );
        let e = parse_line(&line).unwrap();
        assert_eq!(e.local, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(e.remote, "127.0.0.1:54178".parse().unwrap());
        assert_eq!(e.state, TcpState::TimeWait);
        assert!(e.state.is_settled());
        assert_eq!(e.row(100.0).timer, Some(60.0));
    }

    #[test]
    fn reads_ipv6_loopback() {
        let w3 = u32::from_ne_bytes([0, 0, 0, 1]);
        let s = format!("{:08X}{:08X}{:08X}{w3:08X}:0050", 0, 0, 0);
        assert_eq!(parse_addr(&s), Some("[::1]:80".parse().unwrap()));
    }

    #[test]
    fn bad_lines_are_skipped() {
        assert_eq!(parse_line("  sl  local_address rem_address   st"), None);
        assert_eq!(parse_line("0: zz:1 00000000:0 01"), None);
    }

    #[test]
    fn sock_diag_request_layout() {
        let r = diag::request(
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
        );
        assert_eq!(r.len(), 72);
        assert_eq!(&r[24..26], &40000u16.to_be_bytes());
        assert_eq!(&r[26..28], &80u16.to_be_bytes());
        assert_eq!(&r[28..32], &[127, 0, 0, 1]);
    }

    #[test]
    fn sock_diag_answers() {
        let mut err = vec![0u8; 36];
        err[4..6].copy_from_slice(&2u16.to_ne_bytes());
        err[16..20].copy_from_slice(&(-nix::libc::ENOENT).to_ne_bytes());
        assert_eq!(diag::answer(&err).unwrap(), None);
        let mut msg = vec![0u8; 88];
        msg[4..6].copy_from_slice(&20u16.to_ne_bytes());
        msg[17] = 6;
        assert_eq!(
            diag::answer(&msg).unwrap().map(|r| r.state),
            Some(TcpState::TimeWait)
        );
        assert!(diag::answer(&[1, 2]).is_err());
    }

    #[test]
    fn sock_diag_answer_carries_the_timer() {
        let mut msg = vec![0u8; 88];
        msg[4..6].copy_from_slice(&20u16.to_ne_bytes());
        msg[17] = 6;
        msg[18] = 3;
        msg[68..72].copy_from_slice(&59_990u32.to_ne_bytes());
        let row = diag::answer(&msg).unwrap().unwrap();
        assert_eq!(row.state, TcpState::TimeWait);
        assert_eq!(row.timer, Some(59.99));
    }

    #[test]
    fn a_live_connection_is_seen_over_netlink() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (local, peer) = (c.local_addr().unwrap(), c.peer_addr().unwrap());
        assert_eq!(
            diag::lookup(local, peer).unwrap().map(|r| r.state),
            Some(TcpState::Established)
        );
        assert_eq!(state_of(local, peer).unwrap(), Some(TcpState::Established));
    }

    #[test]
    fn an_unknown_connection_has_no_state() {
        // Port 0 to port 0 on loopback: no connection (nor listener) can have it.
        let a: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(state_of(a, a).unwrap(), None);
    }
}
