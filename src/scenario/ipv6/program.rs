//! The `ipv6` program: the same echo exchange over 127.0.0.1 (AF_INET) and over ::1
//! (AF_INET6), the client's `sockaddr_in6` built field by field.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use nix::libc;
use socket2::{Domain, Type};

use super::{sockaddr_in6_bytes, sockaddr_in6_text, IPV6_MTU, IPV6_UNICAST_HOPS, IP_MTU, IP_TTL};
use super::{AUTO_FLOWLABELS, MESSAGE, V4_MARK, V6_MARK};
use crate::live::tracer::now;
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::addr::libc::LibCall;
use crate::scenario::sockopt::calls::{self as so, Opt};
use crate::scenario::{any_port, bound, read_exactly, Peer};

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let s = Role::Server;
    let l4 = t.socket(s, Domain::IPV4, Type::STREAM)?;
    t.bind(&l4, any_port())?;
    t.listen(&l4, 5)?;
    let a4 = bound(&l4)?;

    let l6 = t.socket(s, Domain::IPV6, Type::STREAM)?;
    // serv_adr.sin6_family = AF_INET6; sin6_addr = in6addr_loopback; sin6_port = htons(0);
    let serv = sockaddr_in6_bytes(0, &Ipv6Addr::LOCALHOST.octets());
    LibCall::new(s, "sockaddr_in6", "AF_INET6, htons(0), in6addr_loopback")
        .text(sockaddr_in6_text(&serv))
        .data(&serv)
        .emit(t);
    t.bind(&l6, SocketAddr::from((Ipv6Addr::LOCALHOST, 0)))?;
    t.listen(&l6, 5)?;
    let a6 = t.getsockname(&l6)?;
    // Whether the kernel fills the flow label (1 or 3) or leaves it 0.
    so::sysctl(t, s, AUTO_FLOWLABELS)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        tc.mark(
            V4_MARK,
            "connection 1: AF_INET, sockaddr_in, 127.0.0.1 (to compare)",
        );
        client(tc, Domain::IPV4, a4, [IP_MTU, IP_TTL])?;
        turn.wait()?;
        tc.mark(V6_MARK, "connection 2: AF_INET6, sockaddr_in6, ::1");
        let mut addr = [0u8; 16];
        let start = now();
        let r = inet_pton6("::1", &mut addr);
        LibCall::new(
            Role::Client,
            "inet_pton",
            "AF_INET6, \"::1\", &serv_adr.sin6_addr",
        )
        .started(start)
        .ret(r as i64)
        .data(&addr)
        .emit(tc);
        if r != 1 {
            return Err(LiveError::Scenario("inet_pton(\"::1\") failed".into()));
        }
        let sa = sockaddr_in6_bytes(libc::htons(a6.port()), &addr);
        let target = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(addr), a6.port(), 0, 0));
        LibCall::new(
            Role::Client,
            "sockaddr_in6",
            format!("AF_INET6, htons({}), inet_pton(\"::1\")", a6.port()),
        )
        .text(sockaddr_in6_text(&sa))
        .data(&sa)
        .addr(target)
        .emit(tc);
        client(tc, Domain::IPV6, target, [IPV6_MTU, IPV6_UNICAST_HOPS])
    });

    for listener in [&l4, &l6] {
        client.go();
        let conn = t.accept(listener)?;
        echo(t, conn)?;
    }
    t.close(l4)?;
    t.close(l6)?;
    client.join()
}

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    extern "C" {
        pub fn inet_pton(af: c_int, src: *const c_char, dst: *mut c_void) -> c_int;
    }
}

/// glibc's `inet_pton(AF_INET6, src, dst)`: 1, 0 (not an address) or -1.
fn inet_pton6(src: &str, dst: &mut [u8; 16]) -> i32 {
    let Ok(c) = std::ffi::CString::new(src) else {
        return 0;
    };
    // SAFETY: `c` is NUL-terminated; `dst` has the 16 bytes an in6_addr takes.
    unsafe { ffi::inet_pton(libc::AF_INET6, c.as_ptr(), dst.as_mut_ptr().cast()) }
}

/// connect(), the path MTU and the hop limit the socket will use, the message, its echo.
fn client(t: &Tracer, domain: Domain, server: SocketAddr, opts: [Opt; 2]) -> Result<(), LiveError> {
    let sock = t.socket(Role::Client, domain, Type::STREAM)?;
    t.connect(&sock, server)?;
    for o in &opts {
        so::get_ok(t, &sock, o)?;
    }
    t.write(&sock, MESSAGE)?;
    let back = read_exactly(t, &sock, MESSAGE.len())?;
    t.print(
        Role::Client,
        &format!("echo: {}", String::from_utf8_lossy(&back)),
    );
    t.close(sock)
}

/// The server's side of one connection: read the message, write it back, read the EOF.
fn echo(t: &Tracer, conn: Sock) -> Result<(), LiveError> {
    let msg = read_exactly(t, &conn, MESSAGE.len())?;
    t.write(&conn, &msg)?;
    let mut buf = [0u8; 64];
    t.read(&conn, &mut buf)?;
    t.close(conn)
}
