//! The `anyaddr` program: a server on INADDR_ANY reached at two addresses, a UDP socket on the
//! TCP listener's port number, and the same server with `sin_port = htonl(port)`.

use std::net::{Ipv4Addr, SocketAddr};

use nix::libc;
use socket2::{Domain, Type};

use super::{ANY_MARK, HTONL_MARK, SECOND, UDP_MARK, UDP_REQUEST};
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::addr::libc::{
    htonl, htons, sockaddr_bytes, sockaddr_in, sockaddr_target, sockaddr_text, LibCall,
};
use crate::scenario::{any_port, bound, Peer};

/// Binding the UDP socket to the listener's number fails only if another program holds that
/// UDP port; the server then starts over with another number (each try is in the timeline).
const TRIES: usize = 3;

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let s = Role::Server;
    let (listener, udp, port) = tcp_and_udp(t)?;
    // The port a second server means to use: held by a socket that never listens, so that no
    // other program takes it while the run goes on, and the capture (whose filter names the
    // run's ports) sees the SYN sent to it.
    let meant = t.socket(s, Domain::IPV4, Type::STREAM)?;
    t.bind(&meant, any_port())?;
    let meant_port = bound(&meant)?.port();
    let wrong = t.socket(s, Domain::IPV4, Type::STREAM)?;
    let net = htonl(t, s, u32::from(meant_port), &meant_port.to_string());
    // `serv_adr.sin_port = htonl(port)`: C keeps the low 16 bits of the number, 0.
    let sa = sockaddr_bytes(&sockaddr_in(net as u16, libc::htonl(libc::INADDR_ANY)));
    LibCall::new(
        s,
        "sockaddr_in",
        format!("AF_INET, htonl({meant_port}), htonl(INADDR_ANY)"),
    )
    .text(sockaddr_text(&sa))
    .data(&sa)
    .emit(t);
    t.bind(&wrong, sockaddr_target(&sa))?;
    t.listen(&wrong, 5)?;
    let landed = t.getsockname(&wrong)?.port();
    // The client's socket for the refused connection, bound now so its port is known.
    let refused = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.bind(&refused, any_port())?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        let c = Role::Client;
        for ip in [Ipv4Addr::LOCALHOST, SECOND] {
            turn.wait()?;
            fetch(tc, SocketAddr::from((ip, port)))?;
        }
        turn.wait()?;
        let u = tc.socket(c, Domain::IPV4, Type::DGRAM)?;
        tc.sendto(&u, UDP_REQUEST, SocketAddr::from((SECOND, port)))?;
        let mut buf = [0u8; 64];
        let (n, from) = tc.recvfrom(&u, &mut buf)?;
        tc.print(
            c,
            &format!("{:?} from {from}", String::from_utf8_lossy(&buf[..n])),
        );
        tc.close(u)?;
        turn.wait()?;
        match tc.connect(
            &refused,
            SocketAddr::from((Ipv4Addr::LOCALHOST, meant_port)),
        ) {
            Err(LiveError::Call { .. }) => {}
            Ok(()) => {
                return Err(LiveError::Scenario(format!(
                    "something listens on port {meant_port}: the connection was accepted"
                )))
            }
            Err(e) => return Err(e),
        }
        tc.close(refused)?;
        fetch(tc, SocketAddr::from((Ipv4Addr::LOCALHOST, landed)))
    });

    t.mark(
        ANY_MARK,
        "one listener on INADDR_ANY: a connection to 127.0.0.1, one to 127.0.0.2",
    );
    for _ in 0..2 {
        client.go();
        serve(t, &listener)?;
    }
    t.mark(
        UDP_MARK,
        "UDP on the same port number: a datagram to 127.0.0.2, and the answer",
    );
    client.go();
    let mut buf = [0u8; 64];
    let (_, from) = t.recvfrom(&udp, &mut buf)?;
    t.sendto(&udp, format!("udp port {port} here").as_bytes(), from)?;
    t.mark(
        HTONL_MARK,
        "the same server with sin_port = htonl(port): bound to another port",
    );
    client.go();
    serve(t, &wrong)?;
    for sock in [listener, udp, wrong, meant] {
        t.close(sock)?;
    }
    client.join()
}

/// The listener on INADDR_ANY, port 0 (the kernel picks the number), and a UDP socket bound to
/// the same number: TCP's and UDP's ports are two separate spaces.
fn tcp_and_udp(t: &Tracer) -> Result<(Sock, Sock, u16), LiveError> {
    let s = Role::Server;
    let mut last = None;
    for _ in 0..TRIES {
        let listener = t.socket(s, Domain::IPV4, Type::STREAM)?;
        let any = htonl(t, s, libc::INADDR_ANY, "INADDR_ANY");
        let sa = sockaddr_bytes(&sockaddr_in(htons(t, s, 0, "0"), any));
        LibCall::new(s, "sockaddr_in", "AF_INET, htons(0), htonl(INADDR_ANY)")
            .text(sockaddr_text(&sa))
            .data(&sa)
            .emit(t);
        t.bind(&listener, sockaddr_target(&sa))?;
        t.listen(&listener, 5)?;
        let port = t.getsockname(&listener)?.port();
        let udp = t.socket(s, Domain::IPV4, Type::DGRAM)?;
        match t.bind(&udp, SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))) {
            Ok(()) => return Ok((listener, udp, port)),
            Err(e) => {
                last = Some(e);
                t.close(udp)?;
                t.close(listener)?;
            }
        }
    }
    Err(last.unwrap_or_else(|| LiveError::Scenario("no port for TCP and UDP".into())))
}

/// accept(), then getsockname() on the new socket says which address the client reached; the
/// server writes it back and closes.
fn serve(t: &Tracer, listener: &Sock) -> Result<(), LiveError> {
    let conn = t.accept(listener)?;
    let here = t.getsockname(&conn)?;
    t.write(&conn, format!("you reached {here}").as_bytes())?;
    t.close(conn)
}

/// connect(), then read until the server closes.
fn fetch(t: &Tracer, to: SocketAddr) -> Result<(), LiveError> {
    let sock = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.connect(&sock, to)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let n = t.read(&sock, &mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    t.print(Role::Client, &String::from_utf8_lossy(&got));
    t.close(sock)
}
