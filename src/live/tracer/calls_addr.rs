//! Traced calls that ask the kernel for a socket's address: `getsockname`, for IPv4 and IPv6.
//! The event carries the address and the bytes of the `sockaddr_in` (16) or `sockaddr_in6`
//! (28) the kernel filled, as they lie in memory.

use std::io;
use std::net::SocketAddr;

use nix::sys::socket::{SockaddrLike, SockaddrStorage};

use super::{now, Sock, Tracer};
use crate::live::LiveError;

/// The bytes of a socket address as the kernel wrote them (the length it reported).
fn raw_bytes(sa: &SockaddrStorage) -> Vec<u8> {
    let len = (sa.len() as usize).min(std::mem::size_of::<nix::libc::sockaddr_storage>());
    // SAFETY: `as_ptr` points to a sockaddr_storage, which holds at least `len` bytes.
    unsafe { std::slice::from_raw_parts(sa.as_ptr().cast::<u8>(), len) }.to_vec()
}

impl Tracer {
    /// `getsockname(fd, &addr, &len)`: the address the kernel gave the socket (after a bind to
    /// port 0 or to INADDR_ANY, the one it really uses). The event's data is the sockaddr's
    /// bytes.
    pub fn getsockname(&self, s: &Sock) -> Result<SocketAddr, LiveError> {
        let start = now();
        let r = nix::sys::socket::getsockname::<SockaddrStorage>(s.fd())
            .map_err(io::Error::from)
            .and_then(|sa| {
                let addr = sa
                    .as_sockaddr_in()
                    .map(|a| SocketAddr::V4((*a).into()))
                    .or_else(|| sa.as_sockaddr_in6().map(|a| SocketAddr::V6((*a).into())))
                    .ok_or_else(|| io::Error::other("not an IP address"))?;
                Ok((addr, raw_bytes(&sa)))
            });
        let args = format!("{}, &addr", s.fd());
        self.finish(
            s.role,
            "getsockname",
            Some(s.fd()),
            args,
            start,
            r,
            |(a, b), e| {
                e.local = Some(*a);
                e.addr = s.peer();
                Self::with_data(e, b);
                e.text = Some(format!("({a})"));
            },
        )
        .map(|(a, _)| a)
    }
}
