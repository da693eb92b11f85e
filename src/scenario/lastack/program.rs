//! The `lastack` program: the client closes first; the server's socket drops the client's
//! last ACK (IP_MINTTL), so the server re-sends its FIN to a client in TIME_WAIT.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, Type};

use super::{DROPS, LOSSY_TTL};
use crate::live::event::Event;
use crate::live::tcpstate::{self, TcpState};
use crate::live::tracer::now;
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::retransmit::sys;
use crate::scenario::sockopt::calls::tcp_info;
use crate::scenario::{any_port, bound, Peer};

/// Longest wait for a kernel timer (the FIN is re-sent after ~200 ms).
const WAIT: Duration = Duration::from_secs(3);

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let s = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        tc.connect(&s, server)?;
        let (Some(local), fd) = (s.local(), s.fd()) else {
            return Err(LiveError::Scenario(
                "connect() gave no local address".into(),
            ));
        };
        tc.close(s)?;
        wait_time_wait(tc, fd, local, server)?;
        kernel_row(tc, local, server)?;
        // The server's end is gone: its re-sent FIN was acknowledged again.
        turn.wait()?;
        kernel_row(tc, local, server)
    });

    t.mark(
        "lastack/lost",
        "the client closes first; the server's socket drops the client's last ACK",
    );
    client.go();
    let conn = t.accept(&listener)?;
    let mut buf = [0u8; 16];
    t.read(&conn, &mut buf)?;
    sys::set_min_ttl(t, &conn, LOSSY_TTL)?;
    t.shutdown(&conn, std::net::Shutdown::Write)?;
    sys::wait_drops(t, &conn, DROPS, WAIT)?;
    t.state(&conn)?;
    sys::set_min_ttl(t, &conn, 0)?;
    t.mark(
        "lastack/again",
        "the server re-sends its FIN; the client, in TIME_WAIT, acknowledges it again",
    );
    sys::wait_resent(t, &conn, 1, WAIT)?;
    wait_closed(t, &conn)?;
    client.go();
    t.close(conn)?;
    t.close(listener)?;
    client.join()
}

/// Waits until the client's end (its descriptor closed) is in TIME_WAIT, polling the kernel
/// every millisecond; records a `wait` event.
fn wait_time_wait(
    t: &Tracer,
    fd: i32,
    local: SocketAddr,
    peer: SocketAddr,
) -> Result<(), LiveError> {
    let start = now();
    let deadline = Instant::now() + WAIT;
    let got = loop {
        let st = tcpstate::state_of(local, peer)?;
        if st == Some(TcpState::TimeWait) || Instant::now() >= deadline {
            break st;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let mut e = Event::new(Role::Client, Role::Client.name(), "wait", start);
    e.end = now();
    e.fd = Some(fd);
    e.ret = Some(0);
    e.local = Some(local);
    e.addr = Some(peer);
    e.args = format!("the connection of the closed fd {fd} is TIME_WAIT");
    e.text = Some(got.map_or("gone", TcpState::name).to_owned());
    t.emit(&mut e);
    if got == Some(TcpState::TimeWait) {
        Ok(())
    } else {
        Err(LiveError::Scenario(format!(
            "the client's end {local} did not reach TIME_WAIT within {} s",
            WAIT.as_secs()
        )))
    }
}

/// What sock_diag says of the client's end: its state and the time left on its timer, as a
/// line the client prints (`args` holds the state; the text says where it came from).
fn kernel_row(t: &Tracer, local: SocketAddr, peer: SocketAddr) -> Result<(), LiveError> {
    let start = now();
    let row = tcpstate::diag_lookup(local, peer).map_err(|source| LiveError::Call {
        call: "sock_diag",
        source,
    })?;
    let mut e = Event::new(Role::Client, Role::Client.name(), "print", start);
    e.end = now();
    e.local = Some(local);
    e.addr = Some(peer);
    let mut text = format!("sock_diag: the client's end {local} ⇄ {peer}: ");
    match row {
        Some(r) => {
            e.args = r.state.name().to_owned();
            text.push_str(r.state.name());
            if let Some(s) = r.timer {
                text.push_str(&format!(", {s:.3} s left"));
            }
        }
        None => {
            e.args = "CLOSED".to_owned();
            text.push_str("no entry (CLOSED)");
        }
    }
    e.text = Some(text);
    t.emit(&mut e);
    Ok(())
}

/// Waits until the server's socket is CLOSED (its FIN acknowledged), polling TCP_INFO's
/// `tcpi_state` on its descriptor every millisecond; records a `wait` event.
fn wait_closed(t: &Tracer, s: &Sock) -> Result<(), LiveError> {
    let start = now();
    let deadline = Instant::now() + WAIT;
    let got = loop {
        let i = tcp_info(s.fd()).map_err(|source| LiveError::Call {
            call: "getsockopt",
            source,
        })?;
        let st = TcpState::from_code(i.tcpi_state);
        if st == Some(TcpState::Close) || Instant::now() >= deadline {
            break st;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let args = format!("fd {} is CLOSED (TCP_INFO)", s.fd());
    t.record(s, "wait", args, start, &Ok(got), |st, e| {
        e.text = Some(st.map_or("?", TcpState::name).to_owned());
    });
    if got == Some(TcpState::Close) {
        Ok(())
    } else {
        Err(LiveError::Scenario(format!(
            "the server's socket was not CLOSED within {} s",
            WAIT.as_secs()
        )))
    }
}
