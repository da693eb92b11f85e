//! The `linger` program: three connections to one server whose small receive buffer keeps
//! most of each write in the client's send buffer; the client closes with the default, with
//! `SO_LINGER {1, 0}` and with `SO_LINGER {1, 1}`.

use std::time::{Duration, Instant};

use socket2::{Domain, Type};

use super::{DATA_LEN, PARTS, RCVBUF, READER_SLEEP, SNDBUF};
use crate::live::event::Event;
use crate::live::tcpstate::{self, TcpState};
use crate::live::tracer::{now, Queue};
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::sockopt::calls as so;
use crate::scenario::{any_port, bound, Peer};

/// Longest wait for the other side's kernel.
const WAIT: Duration = Duration::from_secs(2);

/// What the client writes: the alphabet over and over, so that order on the wire shows.
pub(super) fn data() -> Vec<u8> {
    (0..DATA_LEN).map(|i| b'a' + (i % 26) as u8).collect()
}

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    so::set_ok(t, &listener, &so::SO_RCVBUF, RCVBUF)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        for part in PARTS {
            turn.wait()?;
            let s = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
            so::set_ok(tc, &s, &so::SO_SNDBUF, SNDBUF)?;
            tc.connect(&s, server)?;
            let data = data();
            let n = tc.write(&s, &data)?;
            if n != data.len() {
                return Err(LiveError::Scenario(format!(
                    "write() took {n} of {} bytes: the send buffer is too small",
                    data.len()
                )));
            }
            tc.queued(&s, Queue::Unacked)?;
            tc.queued(&s, Queue::NotSent)?;
            if let Some(secs) = part.linger {
                tc.set_linger(&s, Some(secs))?;
            }
            let start = Instant::now();
            tc.close(s)?;
            tc.print(
                Role::Client,
                &format!("close() returned after {}", took(start.elapsed())),
            );
        }
        Ok(())
    });

    for part in PARTS {
        t.mark(part.key, part.title);
        client.go();
        let conn = t.accept(&listener)?;
        match part.linger {
            // The client is in close() once its end is FIN_WAIT1 (its FIN queued behind the
            // data the closed window holds back).
            None => {
                t.wait_peer_state(&conn, TcpState::FinWait1, WAIT)?;
            }
            Some(0) => wait_reset(t, &conn)?,
            Some(_) => {
                t.wait_peer_state(&conn, TcpState::FinWait1, WAIT)?;
                t.usleep(Role::Server, READER_SLEEP);
            }
        }
        drain(t, &conn)?;
        t.close(conn)?;
    }
    t.close(listener)?;
    client.join()
}

/// Reads until end of stream or an error (ECONNRESET after a RST), then says how much came.
fn drain(t: &Tracer, conn: &Sock) -> Result<(), LiveError> {
    let mut buf = vec![0u8; 16384];
    let mut total = 0;
    loop {
        match t.read(conn, &mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(LiveError::Call { source, .. })
                if source.raw_os_error() == Some(nix::libc::ECONNRESET) =>
            {
                t.print(
                    Role::Server,
                    &format!("read {total} bytes, then: Connection reset by peer"),
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    t.print(
        Role::Server,
        &format!("read {total} bytes, then end of stream"),
    );
    Ok(())
}

/// Waits until the server's end of `conn` has left ESTABLISHED (the client's RST arrived: the
/// kernel closed it), polling every millisecond; records a `wait` event.
fn wait_reset(t: &Tracer, conn: &Sock) -> Result<(), LiveError> {
    let (Some(local), Some(peer)) = (conn.local(), conn.peer()) else {
        return Err(LiveError::Scenario(
            "accept() gave no addresses for the connection".into(),
        ));
    };
    let start = now();
    let deadline = Instant::now() + WAIT;
    let got = loop {
        // A connection the kernel dropped is found no more; an exact lookup may then find
        // the listener on the same port instead.
        let st = tcpstate::state_of(local, peer)?.filter(|&s| s != TcpState::Listen);
        if st != Some(TcpState::Established) || Instant::now() >= deadline {
            break st;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let mut e = Event::new(Role::Server, Role::Server.name(), "wait", start);
    e.end = now();
    e.fd = Some(conn.fd());
    e.ret = Some(0);
    e.local = Some(local);
    e.addr = Some(peer);
    e.args = format!("fd {} is no longer ESTABLISHED", conn.fd());
    e.text = Some(
        got.map_or("CLOSED (the kernel dropped it)", TcpState::name)
            .to_owned(),
    );
    t.emit(&mut e);
    if got == Some(TcpState::Established) {
        Err(LiveError::Scenario(format!(
            "no RST reached the server within {} s",
            WAIT.as_secs()
        )))
    } else {
        Ok(())
    }
}

/// A duration as the client prints it: `24 µs`, `101.8 ms`.
fn took(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}
