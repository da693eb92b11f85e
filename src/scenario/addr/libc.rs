//! The C library's address and byte-order calls, made for real and recorded as events.
//!
//! `inet_addr`, `inet_aton` and `inet_ntoa` are the C library's own (glibc's, declared here;
//! the `libc` crate does not bind them), so their quirks are the real ones: `inet_addr` returns
//! INADDR_NONE both for bad input and for "255.255.255.255", `inet_aton` accepts the short
//! forms ("127.1"), and `inet_ntoa` writes into one static buffer. `htons`/`htonl` are libc's
//! (byte swaps on a little-endian host, nothing on a big-endian one).
//!
//! Library calls are not socket calls, but the lesson is about them, so each is an event like
//! the traced socket calls: `call(args) = result`, with `data` holding the bytes the lesson is
//! about (see each function).

use std::ffi::{c_char, c_int, CStr, CString};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use nix::libc::{self, in_addr, in_addr_t};

use crate::live::event::{Event, Role};
use crate::live::tracer::now;
use crate::live::{LiveError, Sock, Tracer};

mod ffi {
    use std::ffi::{c_char, c_int};

    use nix::libc::{in_addr, in_addr_t};

    extern "C" {
        pub fn inet_addr(cp: *const c_char) -> in_addr_t;
        pub fn inet_aton(cp: *const c_char, inp: *mut in_addr) -> c_int;
        pub fn inet_ntoa(inp: in_addr) -> *mut c_char;
    }
}

/// `(in_addr_t) -1`: what `inet_addr` returns for bad input (and for 255.255.255.255).
pub(super) const INADDR_NONE: u32 = libc::INADDR_NONE;

fn c_string(s: &str) -> Result<CString, LiveError> {
    CString::new(s).map_err(|_| LiveError::Scenario(format!("{s:?} holds a NUL byte")))
}

/// glibc's `inet_addr(cp)`: the address as a number whose bytes in memory are in network order.
pub(super) fn inet_addr(cp: &str) -> Result<u32, LiveError> {
    let c = c_string(cp)?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call; inet_addr only reads it.
    Ok(unsafe { ffi::inet_addr(c.as_ptr()) })
}

/// glibc's `inet_aton(cp, &addr)`: 1 and the address, or 0 (and `addr` untouched).
pub(super) fn inet_aton(cp: &str) -> Result<(c_int, u32), LiveError> {
    let c = c_string(cp)?;
    let mut addr = in_addr { s_addr: 0 };
    // SAFETY: `c` is NUL-terminated and `addr` is a valid in_addr the call may write.
    let r = unsafe { ffi::inet_aton(c.as_ptr(), &mut addr) };
    Ok((r, addr.s_addr))
}

/// The pointer `inet_ntoa` returns: the C library's one static buffer (per thread in glibc),
/// which the next call overwrites. Not `Send`, so it stays in the thread whose buffer it is.
pub(super) struct NtoaBuf(*const c_char);

impl NtoaBuf {
    /// What the buffer holds now (as `printf("%s", ptr)` would print it).
    pub(super) fn read(&self) -> String {
        // SAFETY: the pointer is inet_ntoa's static buffer, valid for the life of this thread
        // (the type is not Send), and always NUL-terminated.
        unsafe { CStr::from_ptr(self.0) }
            .to_string_lossy()
            .into_owned()
    }
}

/// glibc's `inet_ntoa(addr)`.
pub(super) fn inet_ntoa(s_addr: in_addr_t) -> Result<NtoaBuf, LiveError> {
    // SAFETY: inet_ntoa takes the address by value and returns its static buffer.
    let p = unsafe { ffi::inet_ntoa(in_addr { s_addr }) };
    if p.is_null() {
        return Err(LiveError::Scenario("inet_ntoa returned NULL".into()));
    }
    Ok(NtoaBuf(p))
}

/// The 16 bytes of a `struct sockaddr_in` as they lie in memory.
pub(crate) fn sockaddr_bytes(sa: &libc::sockaddr_in) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..2].copy_from_slice(&sa.sin_family.to_ne_bytes());
    b[2..4].copy_from_slice(&sa.sin_port.to_ne_bytes());
    b[4..8].copy_from_slice(&sa.sin_addr.s_addr.to_ne_bytes());
    b[8..16].copy_from_slice(&sa.sin_zero);
    b
}

/// A `sockaddr_in` filled field by field, after `memset(&sa, 0, sizeof sa)`.
pub(crate) fn sockaddr_in(port: u16, s_addr: u32) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port,
        sin_addr: in_addr { s_addr },
        sin_zero: [0; 8],
    }
}

/// The address a `sockaddr_in`'s bytes name, read as the kernel reads them (port and address
/// in network order).
pub(crate) fn sockaddr_target(b: &[u8; 16]) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(b[4], b[5], b[6], b[7]),
        u16::from_be_bytes([b[2], b[3]]),
    ))
}

/// Bytes as `02 00 9c bb`.
pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// A sockaddr_in's bytes as the timeline shows them: `= 02 00 | aa 5d | 7f 00 00 01 | 00×8`.
pub(crate) fn sockaddr_text(b: &[u8; 16]) -> String {
    let zero = if b[8..] == [0; 8] {
        "00×8".to_owned()
    } else {
        hex(&b[8..])
    };
    format!(
        "= {} | {} | {} | {zero}",
        hex(&b[..2]),
        hex(&b[2..4]),
        hex(&b[4..8])
    )
}

/// A library call as an event of `role`: `call(args)` then `text` (ret stays empty unless set).
pub(crate) struct LibCall {
    e: Event,
}

impl LibCall {
    pub(crate) fn new(role: Role, call: &str, args: impl Into<String>) -> LibCall {
        let mut e = Event::new(role, role.name(), call, now());
        e.args = args.into();
        LibCall { e }
    }

    pub(crate) fn ret(mut self, r: i64) -> LibCall {
        self.e.ret = Some(r);
        self
    }

    pub(crate) fn text(mut self, t: impl Into<String>) -> LibCall {
        self.e.text = Some(t.into());
        self
    }

    /// The call failed with this errno (name, e.g. `EBADF`).
    pub(crate) fn errno(mut self, name: &str) -> LibCall {
        self.e.errno = Some(name.to_owned());
        self
    }

    /// When the call started, if not when the builder was made.
    pub(crate) fn started(mut self, ns: i128) -> LibCall {
        self.e.start = ns;
        self
    }

    pub(crate) fn data(mut self, d: &[u8]) -> LibCall {
        self.e.data = Some(d.to_vec());
        self
    }

    pub(crate) fn fd(mut self, s: &Sock) -> LibCall {
        self.e.fd = Some(s.fd());
        self
    }

    /// The socket address the call builds or reads (so the capture keeps packets to it).
    pub(crate) fn addr(mut self, a: SocketAddr) -> LibCall {
        self.e.addr = Some(a);
        self
    }

    pub(crate) fn emit(mut self, t: &Tracer) {
        self.e.end = now();
        t.emit(&mut self.e);
    }
}

/// `htons(v)`, recorded: data = `v`'s bytes in memory (host order).
pub(crate) fn htons(t: &Tracer, role: Role, v: u16, shown: &str) -> u16 {
    let r = libc::htons(v);
    LibCall::new(role, "htons", shown)
        .text(format!("= {r:#06x}"))
        .data(&v.to_ne_bytes())
        .emit(t);
    r
}

/// `htonl(v)`, recorded: data = `v`'s bytes in memory (host order).
pub(crate) fn htonl(t: &Tracer, role: Role, v: u32, shown: &str) -> u32 {
    let r = libc::htonl(v);
    LibCall::new(role, "htonl", shown)
        .text(format!("= {r:#010x}"))
        .data(&v.to_ne_bytes())
        .emit(t);
    r
}

/// `ntohl(v)`, recorded: data = `v`'s bytes in memory (as they came off the wire).
pub(super) fn ntohl(t: &Tracer, role: Role, v: u32, shown: &str) -> u32 {
    let r = u32::from_be(v);
    LibCall::new(role, "ntohl", shown)
        .text(format!("= {r:#010x}"))
        .data(&v.to_ne_bytes())
        .emit(t);
    r
}

/// `getsockname(fd, &sa)`, recorded: data = the 16 bytes of the sockaddr_in the kernel filled.
pub(super) fn getsockname(t: &Tracer, s: &Sock) -> Result<libc::sockaddr_in, LiveError> {
    let start = now();
    let r = nix::sys::socket::getsockname::<nix::sys::socket::SockaddrIn>(s.fd());
    let call = LibCall::new(s.role(), "getsockname", format!("{}, &serv_addr", s.fd()))
        .fd(s)
        .started(start);
    match r {
        Ok(sa) => {
            let sa = *sa.as_ref();
            let b = sockaddr_bytes(&sa);
            call.ret(0)
                .text(format!(
                    "(sin_port = {:#06x}, ntohs(sin_port) = {})",
                    sa.sin_port,
                    u16::from_be(sa.sin_port)
                ))
                .data(&b)
                .emit(t);
            Ok(sa)
        }
        Err(e) => {
            call.ret(-1).errno(&format!("{e:?}")).emit(t);
            Err(LiveError::Call {
                call: "getsockname",
                source: e.into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_reads_a_sockaddr_as_network_order() {
        let sa = sockaddr_bytes(&sockaddr_in(libc::htons(40123), libc::htonl(0x7f00_0001)));
        assert_eq!(
            sockaddr_target(&sa),
            std::net::SocketAddr::from(([127, 0, 0, 1], 40123))
        );
    }

    #[test]
    fn the_c_library_behaves_as_the_lesson_says() {
        assert_eq!(
            inet_addr("1.2.3.4").unwrap().to_ne_bytes(),
            [1, 2, 3, 4],
            "network order in memory"
        );
        assert_eq!(inet_addr("1.2.3.256").unwrap(), INADDR_NONE);
        assert_eq!(inet_addr("255.255.255.255").unwrap(), INADDR_NONE);
        assert_eq!(inet_aton("255.255.255.255").unwrap(), (1, INADDR_NONE));
        assert_eq!(inet_aton("1.2.3.256").unwrap().0, 0);
        assert_eq!(
            inet_aton("127.1").unwrap().1.to_ne_bytes(),
            [127, 0, 0, 1],
            "the short form a.b means a.0.0.b"
        );
        let first = inet_ntoa(u32::from_ne_bytes([1, 2, 3, 4])).unwrap();
        assert_eq!(first.read(), "1.2.3.4");
        let _second = inet_ntoa(u32::from_ne_bytes([1, 1, 1, 1])).unwrap();
        assert_eq!(first.read(), "1.1.1.1", "one static buffer");
        assert_eq!(libc::htons(0x1234).to_ne_bytes(), [0x12, 0x34]);
        assert_eq!(libc::htonl(8888).to_ne_bytes(), [0, 0, 0x22, 0xb8]);
    }

    #[test]
    fn sockaddr_bytes_are_the_memory_layout() {
        let sa = sockaddr_in(libc::htons(0x9cbb), u32::from_ne_bytes([127, 0, 0, 1]));
        let b = sockaddr_bytes(&sa);
        assert_eq!(&b[2..8], &[0x9c, 0xbb, 127, 0, 0, 1]);
        assert_eq!(&b[0..2], &(libc::AF_INET as u16).to_ne_bytes());
        assert_eq!(sockaddr_target(&b), "127.0.0.1:40123".parse().unwrap());
        assert_eq!(hex(&b[..4]), format!("{} 9c bb", hex(&b[..2])));
    }
}
