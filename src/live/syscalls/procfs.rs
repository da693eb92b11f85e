//! What the tracer learns about a tracee outside its registers: its memory, its fds (which are
//! sockets, by inode), its sockets' addresses (`getsockname`/`getpeername` on a copy of the
//! tracee's fd taken with `pidfd_getfd`, or else `/proc/PID/net/{tcp,tcp6,udp,udp6}`, read in
//! the tracee's own network namespace), its thread group and its name.

use std::fs;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};

use nix::libc;
use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

/// Reads up to `len` bytes at `addr` in the tracee (fewer when part of it is not mapped).
pub fn read_mem(pid: i32, addr: u64, len: usize) -> Vec<u8> {
    if addr == 0 || len == 0 {
        return Vec::new();
    }
    let mut buf = vec![0u8; len];
    let remote = [RemoteIoVec {
        base: addr as usize,
        len,
    }];
    let n = {
        let mut local = [IoSliceMut::new(&mut buf)];
        process_vm_readv(Pid::from_raw(pid), &mut local, &remote).unwrap_or(0)
    };
    buf.truncate(n);
    buf
}

/// The inode of the socket `fd` of `pid` refers to, or None when it is not a socket.
pub fn socket_inode(pid: i32, fd: i64) -> Option<u64> {
    if fd < 0 {
        return None;
    }
    let link = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    parse_socket_link(link.to_str()?)
}

/// `socket:[12345]` → 12345.
pub fn parse_socket_link(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The socket fds an epoll instance watches (its `/proc/PID/fdinfo` lists them as `tfd:`).
pub fn epoll_fds(pid: i32, epfd: i64) -> Vec<i64> {
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}")).unwrap_or_default();
    info.lines()
        .filter_map(|l| l.strip_prefix("tfd:"))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The thread group (process) of a thread.
pub fn tgid(tid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))?
        .trim()
        .parse()
        .ok()
}

/// The program name of a process (`comm`), or "?" when it is gone.
pub fn comm(pid: i32) -> String {
    match fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(s) => s.trim_end().to_owned(),
        Err(_) => "?".into(),
    }
}

/// The local and remote addresses of the IP socket with this inode, as the kernel lists it in
/// the tracee's network namespace; None for other sockets (unix, netlink) and gone ones.
pub fn inet_addrs(pid: i32, inode: u64) -> Option<(SocketAddr, Option<SocketAddr>)> {
    for table in ["tcp", "udp", "tcp6", "udp6"] {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        if let Some(a) = find_inode(&text, inode) {
            return Some(a);
        }
    }
    None
}

/// The local and peer addresses of `fd` in process `pid`, asked of the socket itself through a
/// copy of the fd (`pidfd_getfd`, Linux 5.6; the tracer may take it). None when the copy is
/// refused; an address is None when it is not IP or not set (port 0).
pub fn sock_names(pid: i32, fd: i64) -> Option<(Option<SocketAddr>, Option<SocketAddr>)> {
    // SAFETY: plain system calls; a returned fd is owned here and closed on drop.
    let copy = unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid, 0);
        if pidfd < 0 {
            return None;
        }
        let pidfd = OwnedFd::from_raw_fd(pidfd as i32);
        let copy = libc::syscall(
            libc::SYS_pidfd_getfd,
            std::os::fd::AsRawFd::as_raw_fd(&pidfd),
            fd,
            0,
        );
        if copy < 0 {
            return None;
        }
        OwnedFd::from_raw_fd(copy as i32)
    };
    let sock = socket2::SockRef::from(&copy);
    let set = |a: Option<SocketAddr>| a.filter(|a| a.port() != 0);
    let local = set(sock.local_addr().ok().and_then(|a| a.as_socket()));
    let peer = set(sock.peer_addr().ok().and_then(|a| a.as_socket()));
    Some((local, peer))
}

/// Finds a socket by inode in the text of `/proc/net/tcp` (or udp, tcp6, udp6).
pub fn find_inode(table: &str, inode: u64) -> Option<(SocketAddr, Option<SocketAddr>)> {
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
        if f.get(9).and_then(|i| i.parse::<u64>().ok()) != Some(inode) {
            continue;
        }
        let local = crate::live::tcpstate::parse_addr(f.get(1)?)?;
        let remote = crate::live::tcpstate::parse_addr(f.get(2)?)?;
        let peer = (remote.port() != 0 || !remote.ip().is_unspecified()).then_some(remote);
        return Some((local, peer));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:23E6 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:23E6 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn sockets_are_found_by_inode() {
        let (l, p) = find_inode(TCP, 4242).unwrap();
        assert_eq!(l, "127.0.0.1:9190".parse().unwrap());
        assert_eq!(p, None);
        let (l, p) = find_inode(TCP, 4343).unwrap();
        assert_eq!(l, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(p, Some("127.0.0.1:9190".parse().unwrap()));
        assert_eq!(find_inode(TCP, 1), None);
        assert_eq!(find_inode("header only\n", 1), None);
    }

    #[test]
    fn ipv6_addresses_parse() {
        let a = crate::live::tcpstate::parse_addr("00000000000000000000000001000000:01BB").unwrap();
        assert_eq!(a, "[::1]:443".parse().unwrap());
        assert_eq!(crate::live::tcpstate::parse_addr("0100007F"), None);
        assert_eq!(crate::live::tcpstate::parse_addr("0100007:0050"), None);
        assert_eq!(crate::live::tcpstate::parse_addr("zz00007F:0050"), None);
    }

    #[test]
    fn socket_links_parse() {
        assert_eq!(parse_socket_link("socket:[12345]"), Some(12345));
        assert_eq!(parse_socket_link("pipe:[12345]"), None);
        assert_eq!(parse_socket_link("/dev/pts/0"), None);
    }

    #[test]
    fn own_fds_and_memory() {
        let pid = std::process::id() as i32;
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        let inode = socket_inode(pid, s.as_raw_fd() as i64).unwrap();
        let (l, p) = inet_addrs(pid, inode).unwrap();
        assert_eq!(l, s.local_addr().unwrap());
        assert_eq!(p, None);
        assert_eq!(socket_inode(pid, 0).filter(|_| false), None);
        assert_eq!(socket_inode(pid, -1), None);
        assert_eq!(tgid(pid), Some(pid));
        let data = *b"hello";
        assert_eq!(read_mem(pid, data.as_ptr() as u64, 5), b"hello");
        assert_eq!(read_mem(pid, 0, 5), b"");
    }
}
