//! The `retransmit` program: a ping-pong over a link made lossy for one segment by the
//! receiver's IP_MINTTL.

use std::time::Duration;

use socket2::{Domain, Type};

use super::sys;
use super::{DROPS, LOSSY_TTL, PING1, PING2};
use crate::live::{LiveError, Role, Tracer};
use crate::scenario::{any_port, bound, gate, read_exactly, Peer};

/// Longest wait for a kernel timer (the third copy comes after ~0.8 s).
const WAIT: Duration = Duration::from_secs(5);

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;
    let (ping1_done, server_next) = gate();
    let (lossy, client_send) = gate();
    let client = Peer::spawn(t, move |tc, client_go| {
        client_go.wait()?;
        let s = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        tc.connect(&s, server)?;
        tc.mark(
            "retransmit/ok",
            "ping 1: delivered and acknowledged within microseconds",
        );
        tc.write(&s, PING1)?;
        let echo = read_exactly(tc, &s, PING1.len())?;
        tc.print(
            Role::Client,
            &format!("echo: {}", String::from_utf8_lossy(&echo)),
        );
        sys::info(tc, &s)?;
        ping1_done.open();
        client_send.wait()?;
        tc.write(&s, PING2)?;
        sys::wait_resent(tc, &s, 1, WAIT)?;
        sys::wait_resent(tc, &s, 2, WAIT)?;
        let echo = read_exactly(tc, &s, PING2.len())?;
        tc.print(
            Role::Client,
            &format!("echo: {}", String::from_utf8_lossy(&echo)),
        );
        sys::info(tc, &s)?;
        tc.close(s)
    });

    client.go();
    let conn = t.accept(&listener)?;
    let got = read_exactly(t, &conn, PING1.len())?;
    t.write(&conn, &got)?;
    server_next.wait()?;
    t.mark(
        "retransmit/lost",
        "ping 2: the server's socket drops it three times; the client's kernel re-sends it",
    );
    sys::set_min_ttl(t, &conn, LOSSY_TTL)?;
    lossy.open();
    sys::wait_drops(t, &conn, DROPS, WAIT)?;
    sys::set_min_ttl(t, &conn, 0)?;
    let got = read_exactly(t, &conn, PING2.len())?;
    t.write(&conn, &got)?;
    let mut buf = [0u8; 16];
    t.read(&conn, &mut buf)?;
    t.close(conn)?;
    t.close(listener)?;
    client.join()
}
