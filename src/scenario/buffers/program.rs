//! The `buffers` program: SO_SNDBUF and SO_RCVBUF asked for and read back, then a writer that
//! fills a sleeping reader's small buffer until the window closes.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Type};

use super::{ASKED, BLOCKED, CHUNK, PROBES, PROBE_LIMIT, RATELIMIT, RCVBUF, SNDBUF, WRITES};
use crate::live::event::Event;
use crate::live::tracer::now;
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::sockopt::calls as so;
use crate::scenario::{any_port, bound, Peer};

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    table(t)?;

    t.mark(
        "buffers/window",
        "a fast sender, a reader that sleeps: the window closes, then reopens",
    );
    so::sysctl(t, Role::Server, RATELIMIT)?;
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    so::set_ok(t, &listener, &so::SO_RCVBUF, RCVBUF)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 1)?;
    let server = bound(&listener)?;
    t.ready()?;
    let (fd_tx, fd_rx) = mpsc::channel();
    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let c = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        so::set_ok(tc, &c, &so::SO_SNDBUF, SNDBUF)?;
        tc.connect(&c, server)?;
        let _ = fd_tx.send(c.fd());
        let buf = [b'x'; CHUNK];
        for i in 1..=WRITES {
            let started = Instant::now();
            let mut done = 0;
            while done < CHUNK {
                done += tc.write(&c, &buf[done..])?;
            }
            let took = started.elapsed();
            if took >= BLOCKED {
                tc.print(
                    Role::Client,
                    &format!(
                        "write #{i} returned after {} ms: it waited for the window",
                        took.as_millis()
                    ),
                );
            }
        }
        tc.close(c)?;
        Ok(())
    });

    client.go();
    let conn = t.accept(&listener)?;
    so::get_ok(t, &conn, &so::SO_RCVBUF)?;
    let sender_fd = fd_rx
        .recv()
        .map_err(|_| LiveError::Scenario("the client stopped before writing".into()))?;
    wait_for_probes(t, &conn, sender_fd)?;
    let mut buf = [0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = t.read(&conn, &mut buf)?;
        if n == 0 {
            break;
        }
        total += n;
    }
    t.print(Role::Server, &format!("read {total} bytes in all"));
    t.close(conn)?;
    t.close(listener)?;
    client.join()
}

/// Part 1: the default, then each size of [`ASKED`] set and read back, for both buffers.
fn table(t: &Tracer) -> Result<(), LiveError> {
    t.mark(
        "buffers/table",
        "SO_SNDBUF and SO_RCVBUF: set, then read back what the kernel granted",
    );
    for name in [
        "net.core.wmem_max",
        "net.core.rmem_max",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_rmem",
    ] {
        so::sysctl(t, Role::Client, name)?;
    }
    let s = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    for o in [&so::SO_SNDBUF, &so::SO_RCVBUF] {
        so::get_ok(t, &s, o)?;
        for asked in ASKED {
            so::set_ok(t, &s, o, asked)?;
            so::get_ok(t, &s, o)?;
        }
    }
    t.close(s)
}

/// How long the reader still sleeps once the kernel has counted the last probe.
const PROBE_SETTLE: Duration = Duration::from_millis(20);

/// The reader's sleep: until the sender's kernel has sent [`PROBES`] zero-window probes.
/// tcpi_backoff counts the persist timer's rounds while the window stays shut.
fn wait_for_probes(t: &Tracer, conn: &Sock, sender_fd: i32) -> Result<(), LiveError> {
    let start = now();
    let deadline = Instant::now() + PROBE_LIMIT;
    let got = loop {
        let backoff = so::tcp_info(sender_fd)
            .map_err(|source| LiveError::Call {
                call: "getsockopt",
                source,
            })?
            .tcpi_backoff;
        if backoff >= PROBES || Instant::now() >= deadline {
            break backoff;
        }
        thread::sleep(Duration::from_millis(1));
    };
    // The kernel counts a probe before it is on the wire: give the last one time to pass the
    // capture before the read opens the window (the next probe is seconds away).
    thread::sleep(PROBE_SETTLE);
    let mut e = Event::new(Role::Server, Role::Server.name(), "wait", start);
    e.end = now();
    e.fd = Some(conn.fd());
    e.ret = Some(0);
    e.local = conn.local();
    e.addr = conn.peer();
    e.args = format!("the sender (fd {sender_fd}) has sent {PROBES} window probes");
    e.text = Some(format!("{got} probes sent"));
    t.emit(&mut e);
    if got >= PROBES {
        Ok(())
    } else {
        Err(LiveError::Scenario(format!(
            "the sender sent {got} zero-window probes in {} s, not {PROBES}",
            PROBE_LIMIT.as_secs()
        )))
    }
}
