//! The `keepalive` program: a ping each way, then an idle connection with short keep-alive
//! timers on the client, and a server that falls silent after its kernel answered one probe.

use std::time::Duration;

use nix::libc;
use socket2::{Domain, Type};

use super::{
    CNT, IDLE, INTVL, IP_MINTTL, PING, SILENT_TTL, SO_KEEPALIVE, SYSCTLS, TCP_KEEPCNT,
    TCP_KEEPIDLE, TCP_KEEPINTVL,
};
use crate::live::{LiveError, Role, Tracer};
use crate::scenario::sockopt::calls as so;
use crate::scenario::{any_port, bound, gate, read_exactly, Peer};

/// Longest wait for a kernel timer (the whole story takes about 4 s).
const WAIT: Duration = Duration::from_secs(10);

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    for name in SYSCTLS {
        so::sysctl(t, Role::Client, name)?;
    }
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;
    let (idle, server_next) = gate();
    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let c = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        so::set_ok(tc, &c, &SO_KEEPALIVE, 1)?;
        so::set_ok(tc, &c, &TCP_KEEPIDLE, IDLE)?;
        so::set_ok(tc, &c, &TCP_KEEPINTVL, INTVL)?;
        so::set_ok(tc, &c, &TCP_KEEPCNT, CNT)?;
        tc.connect(&c, server)?;
        tc.write(&c, PING)?;
        let echo = read_exactly(tc, &c, PING.len())?;
        tc.print(
            Role::Client,
            &format!("echo: {}", String::from_utf8_lossy(&echo)),
        );
        tc.mark(
            "keepalive/idle",
            "the connection idles: the client's kernel probes, the server's kernel answers",
        );
        idle.open();
        let mut buf = [0u8; 64];
        match tc.read(&c, &mut buf) {
            Err(LiveError::Call { source, .. })
                if source.raw_os_error() == Some(libc::ETIMEDOUT) =>
            {
                tc.print(Role::Client, "read: Connection timed out");
            }
            Ok(n) => {
                return Err(LiveError::Scenario(format!(
                    "read() returned {n}, not -1 ETIMEDOUT"
                )))
            }
            Err(e) => return Err(e),
        }
        tc.close(c)
    });

    client.go();
    let conn = t.accept(&listener)?;
    let got = read_exactly(t, &conn, PING.len())?;
    t.write(&conn, &got)?;
    server_next.wait()?;
    // The server's kernel sends nothing more unless it answers a probe.
    let before = t.tcp_counts(&conn)?;
    t.wait_counts(
        &conn,
        &format!(
            "fd {}'s kernel has answered a segment (TCP_INFO)",
            conn.fd()
        ),
        WAIT,
        |c| c.segs_out > before.segs_out,
    )?;
    t.mark(
        "keepalive/silent",
        "the server falls silent (IP_MINTTL drops what the client sends): the client's kernel gives up",
    );
    // Its kernel dropped the answered probe too, after answering it.
    let before = t.drop_count(&conn)?;
    so::set_ok(t, &conn, &IP_MINTTL, SILENT_TTL)?;
    // CNT probes, then the RST.
    t.wait_drop_count(&conn, before + CNT as u32 + 1, WAIT)?;
    t.state(&conn)?;
    so::set_ok(t, &conn, &IP_MINTTL, 0)?;
    t.close(conn)?;
    t.close(listener)?;
    client.join()
}
