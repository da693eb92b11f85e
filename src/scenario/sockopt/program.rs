//! The `sockopt` program: getsockopt and setsockopt over the option table on a new TCP and UDP
//! socket, then a client whose sockets set IP_TTL and IP_TOS.

use socket2::{Domain, Type};

use super::calls::{self as so, Opt};
use super::{TABLE, TCP_TOS, TCP_TTL, UDP_TOS, UDP_TTL};
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::{any_port, bound, read_exactly, Peer};

const TCP_MSG: &[u8] = b"ttl 42";
const UDP_MSG: &[u8] = b"ttl 3";

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    t.mark(
        "sockopt/table",
        "the option table: getsockopt, then setsockopt of the same value, on a TCP and a UDP socket",
    );
    let tcp = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    let udp = t.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
    for s in [&tcp, &udp] {
        for o in &TABLE {
            if let Ok(v) = so::get(t, s, o) {
                let _ = so::set(t, s, o, v);
            }
        }
    }
    t.close(tcp)?;
    t.close(udp)?;

    t.mark(
        "sockopt/wire",
        "IP_TTL and IP_TOS: set on the client's sockets, then found in the IP headers",
    );
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 1)?;
    let server = bound(&listener)?;
    let dgram = t.socket(Role::Server, Domain::IPV4, Type::DGRAM)?;
    t.bind(&dgram, any_port())?;
    let server_udp = bound(&dgram)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let c = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        so::get_ok(tc, &c, &so::TCP_MAXSEG)?;
        set_and_read(tc, &c, &so::IP_TTL, TCP_TTL)?;
        set_and_read(tc, &c, &so::IP_TOS, TCP_TOS)?;
        tc.connect(&c, server)?;
        // Before any data: the peer's largest window so far is the SYN+ACK's.
        so::get_ok(tc, &c, &so::TCP_MAXSEG)?;
        tc.write(&c, TCP_MSG)?;
        tc.close(c)?;
        let d = tc.socket(Role::Client, Domain::IPV4, Type::DGRAM)?;
        set_and_read(tc, &d, &so::IP_TTL, UDP_TTL)?;
        set_and_read(tc, &d, &so::IP_TOS, UDP_TOS)?;
        tc.sendto(&d, UDP_MSG, server_udp)?;
        tc.close(d)?;
        Ok(())
    });

    client.go();
    let conn = t.accept(&listener)?;
    read_exactly(t, &conn, TCP_MSG.len())?;
    so::get_ok(t, &conn, &so::IP_TTL)?;
    so::get_ok(t, &conn, &so::IP_TOS)?;
    let mut buf = [0u8; 16];
    t.read(&conn, &mut buf)?;
    t.close(conn)?;
    t.close(listener)?;
    let mut buf = [0u8; 64];
    t.recvfrom(&dgram, &mut buf)?;
    t.close(dgram)?;
    client.join()
}

fn set_and_read(t: &Tracer, s: &Sock, o: &Opt, v: i64) -> Result<(), LiveError> {
    so::set_ok(t, s, o, v)?;
    let got = so::get_ok(t, s, o)?;
    if got != v {
        return Err(LiveError::Scenario(format!(
            "{} reads back {got} after setting {v}",
            o.opt_name
        )));
    }
    Ok(())
}
