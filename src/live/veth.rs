//! A veth pair for a scenario whose topic lo cannot show: lo hands back every packet it sends,
//! so an option that keeps a copy from the sending host (IP_MULTICAST_LOOP) changes nothing
//! there. What leaves by one end of a veth pair arrives at the other, as on a cable; the end
//! with the address is where the scenario sends, and where a second capture listens.
//!
//! The pair is made in a private network namespace only ([`create`] refuses the host's: a
//! program must not add interfaces to the machine), by the privileged start of the process,
//! before the capture opens and privileges are dropped: an `RTM_NEWLINK` request over
//! rtnetlink (`ip link add NAME type veth peer name PEER`), then the address, the netmask
//! and the flags by ioctl, as `ifconfig` sets them.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::libc;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};

use super::netns::NetnsError;

/// An interface a scenario needs besides lo: a veth pair, `name` with `addr`/`prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub name: &'static str,
    pub peer: &'static str,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const NLA_F_NESTED: u16 = 1 << 15;
/// `struct ifinfomsg`: family, pad, type, index, flags, change.
const IFINFOMSG: usize = 16;

/// Creates `dev` in this process's network namespace, which must be a private one
/// (`in_private` says so), with its address, both ends up and multicast on.
pub fn create(dev: &Device, in_private: bool) -> Result<(), NetnsError> {
    let step = |step: &'static str| move |source: io::Error| NetnsError::Setup { step, source };
    if !in_private {
        return Err(NetnsError::Setup {
            step: "adding a veth pair",
            source: io::Error::new(
                io::ErrorKind::PermissionDenied,
                "only in a private network namespace, never the host's",
            ),
        });
    }
    new_veth(dev.name, dev.peer).map_err(step("creating the veth pair (RTM_NEWLINK)"))?;
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").map_err(step("a socket for ioctl"))?;
    let mask = u32::MAX
        .checked_shl(32 - u32::from(dev.prefix.min(32)))
        .unwrap_or(0);
    set_addr(&sock, dev.name, libc::SIOCSIFADDR, dev.addr)
        .map_err(step("setting the veth address (SIOCSIFADDR)"))?;
    set_addr(&sock, dev.name, libc::SIOCSIFNETMASK, Ipv4Addr::from(mask))
        .map_err(step("setting the veth netmask (SIOCSIFNETMASK)"))?;
    for name in [dev.peer, dev.name] {
        up(&sock, name).map_err(step("bringing the veth pair up (SIOCSIFFLAGS)"))?;
    }
    Ok(())
}

/// Appends the attribute `kind` with `value`, padded to 4 bytes.
fn attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// A NUL-terminated interface name.
fn cname(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

/// The `RTM_NEWLINK` request for `ip link add NAME type veth peer name PEER`.
fn newlink_request(name: &str, peer: &str) -> Vec<u8> {
    let mut peer_info = vec![0u8; IFINFOMSG];
    attr(&mut peer_info, IFLA_IFNAME, &cname(peer));
    let mut data = Vec::new();
    attr(&mut data, VETH_INFO_PEER | NLA_F_NESTED, &peer_info);
    let mut info = Vec::new();
    attr(&mut info, IFLA_INFO_KIND, b"veth");
    attr(&mut info, IFLA_INFO_DATA | NLA_F_NESTED, &data);
    let mut body = vec![0u8; IFINFOMSG];
    attr(&mut body, IFLA_IFNAME, &cname(name));
    attr(&mut body, IFLA_LINKINFO | NLA_F_NESTED, &info);
    let flags =
        (libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
    let mut msg = Vec::with_capacity(16 + body.len());
    msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // to the kernel
    msg.extend_from_slice(&body);
    msg
}

/// The kernel's answer to a request with NLM_F_ACK: an `NLMSG_ERROR` whose error is 0 on
/// success, else a negated errno.
fn ack(reply: &[u8]) -> io::Result<()> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected rtnetlink reply");
    let kind = reply.get(4..6).ok_or_else(bad)?;
    if u16::from_ne_bytes([kind[0], kind[1]]) != NLMSG_ERROR {
        return Err(bad());
    }
    let e = reply.get(16..20).ok_or_else(bad)?;
    match i32::from_ne_bytes([e[0], e[1], e[2], e[3]]) {
        0 => Ok(()),
        n => Err(io::Error::from_raw_os_error(-n)),
    }
}

fn new_veth(name: &str, peer: &str) -> io::Result<()> {
    let fd: OwnedFd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    let msg = newlink_request(name, peer);
    let sent = nix::unistd::write(&fd, &msg)?;
    if sent != msg.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "rtnetlink took part of the request",
        ));
    }
    let mut reply = [0u8; 4096];
    let n = nix::unistd::read(&fd, &mut reply)?;
    ack(&reply[..n])
}

/// An `ifreq` naming `name` (at most IFNAMSIZ − 1 bytes).
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    // SAFETY: `ifreq` is plain old data, zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

/// SIOCSIFADDR or SIOCSIFNETMASK with an IPv4 address.
fn set_addr(
    sock: &std::net::UdpSocket,
    name: &str,
    request: libc::Ioctl,
    addr: Ipv4Addr,
) -> io::Result<()> {
    let mut req = ifreq(name)?;
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a sockaddr_in fits in the union's sockaddr (16 bytes each); the fd is a live
    // socket and `req` a valid ifreq.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&sin as *const libc::sockaddr_in).cast::<u8>(),
            (&mut req.ifr_ifru.ifru_addr as *mut libc::sockaddr).cast::<u8>(),
            std::mem::size_of::<libc::sockaddr_in>(),
        );
        if libc::ioctl(sock.as_raw_fd(), request, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `ifconfig NAME up multicast`.
fn up(sock: &std::net::UdpSocket, name: &str) -> io::Result<()> {
    let mut req = ifreq(name)?;
    // SAFETY: the fd is a live socket and `req` a valid ifreq for both requests.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_MULTICAST) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_nests_the_peer_under_linkinfo() {
        let m = newlink_request("mc0", "mc1");
        assert_eq!(m.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWLINK);
        let text = String::from_utf8_lossy(&m);
        let (a, b, c) = (text.find("mc0\0"), text.find("veth"), text.find("mc1\0"));
        assert!(a < b && b < c, "{a:?} {b:?} {c:?}");
    }

    #[test]
    fn an_ack_carries_the_errno() {
        let mut r = vec![0u8; 36];
        r[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert!(ack(&r).is_ok());
        r[16..20].copy_from_slice(&(-libc::EEXIST).to_ne_bytes());
        assert_eq!(
            ack(&r).map_err(|e| e.raw_os_error()),
            Err(Some(libc::EEXIST))
        );
        assert!(ack(&r[..8]).is_err());
    }

    #[test]
    fn never_in_the_hosts_namespace() {
        let d = Device {
            name: "mc0",
            peer: "mc1",
            addr: Ipv4Addr::new(10, 99, 0, 1),
            prefix: 24,
        };
        assert!(create(&d, false).is_err());
    }
}
