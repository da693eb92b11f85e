//! The `eintr` program: the server in a process of its own, blocked in accept() or read()
//! when its signals come; the clients in the runner, each connecting once the server sleeps
//! again.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::libc;
use socket2::{Domain, Type};

use super::{sys, ALARM, CHILD, LINES, NO_RESTART, RESTART, SERVER, TIMEOUT};
use crate::live::event::Event;
use crate::live::tracer::{now, Handler};
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::{any_port, bound, read_exactly};

/// Longest wait for another process.
const WAIT: Duration = Duration::from_secs(5);

fn io(call: &'static str) -> impl Fn(nix::errno::Errno) -> LiveError {
    move |e| LiveError::Call {
        call,
        source: e.into(),
    }
}

fn is_eintr(e: &LiveError) -> bool {
    matches!(e, LiveError::Call { source, .. } if source.raw_os_error() == Some(libc::EINTR))
}

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;
    // Before each accept() the server says which child will interrupt it (0: none).
    let (from_server, to_runner) = nix::unistd::pipe().map_err(io("pipe"))?;
    let l = &listener;
    let proc = t.fork(Role::Server, SERVER, move |pt| {
        server_program(pt, l, to_runner)
    })?;
    let server_pid = proc.pid();
    for line in LINES {
        let child = read_pid(&from_server)?;
        wait_turn(t, child, server_pid)?;
        client(t, server, line)?;
    }
    t.waitpid(Role::Server, proc)?;
    t.close(listener)
}

/// The client's turn: once the server's child (if any) has been reaped and the server sleeps
/// in accept() again. Recorded as a `wait` event.
fn wait_turn(t: &Tracer, child: i32, server: i32) -> Result<(), LiveError> {
    let start = now();
    let what = if child > 0 {
        sys::wait_gone(child, WAIT)?;
        format!("the server's child {child} is reaped and the server sleeps again")
    } else {
        "the server sleeps in accept()".to_owned()
    };
    sys::wait_asleep(server, WAIT)?;
    let mut e = Event::new(Role::Client, Role::Client.name(), "wait", start);
    e.end = now();
    e.ret = Some(0);
    e.args = what;
    e.text = Some("(/proc)".into());
    t.emit(&mut e);
    Ok(())
}

fn client(t: &Tracer, server: SocketAddr, line: &[u8]) -> Result<(), LiveError> {
    let s = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.connect(&s, server)?;
    t.write(&s, line)?;
    let mut buf = [0u8; 16];
    if t.read(&s, &mut buf)? != 0 {
        return Err(LiveError::Scenario("the server sent data".into()));
    }
    t.close(s)
}

fn read_pid(fd: &OwnedFd) -> Result<i32, LiveError> {
    let mut b = [0u8; 4];
    let mut got = 0;
    while got < b.len() {
        match nix::unistd::read(fd.as_fd(), &mut b[got..]) {
            Ok(0) => return Err(LiveError::Scenario("the server process ended early".into())),
            Ok(n) => got += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io("read")(e)),
        }
    }
    Ok(i32::from_le_bytes(b))
}

fn tell(fd: &OwnedFd, pid: i32) -> Result<(), LiveError> {
    let b = pid.to_le_bytes();
    let mut done = 0;
    while done < b.len() {
        match nix::unistd::write(fd.as_fd(), &b[done..]) {
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io("write")(e)),
        }
    }
    Ok(())
}

/// The server process.
fn server_program(pt: &Tracer, listener: &Sock, runner: OwnedFd) -> Result<(), LiveError> {
    pt.mark(
        NO_RESTART,
        "SIGCHLD without SA_RESTART: accept() returns -1 EINTR, the loop calls it again",
    );
    pt.sigaction(Role::Server, Handler::ReadChildproc, false)?;
    let child = child_that_exits(pt)?;
    tell(&runner, child.pid())?;
    let conn = loop {
        match pt.accept(listener) {
            Err(e) if is_eintr(&e) => {
                reaped(pt, &child)?;
                pt.print(Role::Server, "accept() error: continue");
            }
            r => break r?,
        }
    };
    std::mem::forget(child);
    serve(pt, conn)?;

    pt.mark(
        RESTART,
        "SIGCHLD with SA_RESTART: the handler runs, accept() goes on waiting",
    );
    pt.sigaction(Role::Server, Handler::ReadChildproc, true)?;
    let child = child_that_exits(pt)?;
    tell(&runner, child.pid())?;
    let conn = pt.accept(listener)?;
    reaped(pt, &child)?;
    std::mem::forget(child);
    serve(pt, conn)?;

    pt.mark(
        ALARM,
        "alarm(1) as a read timeout: the data in time, then SIGALRM and -1 EINTR",
    );
    pt.sigaction(Role::Server, Handler::Timeout, false)?;
    tell(&runner, 0)?;
    let conn = pt.accept(listener)?;
    pt.alarm(Role::Server, TIMEOUT);
    read_exactly(pt, &conn, LINES[2].len())?;
    pt.alarm(Role::Server, 0);
    pt.alarm(Role::Server, TIMEOUT);
    let mut buf = [0u8; 16];
    match pt.read(&conn, &mut buf) {
        Err(e) if is_eintr(&e) => {
            pt.handled(Role::Server);
            pt.print(Role::Server, "no data for 1 s: closing");
        }
        Ok(n) => {
            return Err(LiveError::Scenario(format!(
                "read() returned {n}, not -1 EINTR"
            )))
        }
        Err(e) => return Err(e),
    }
    pt.close(conn)?;
    pt.close_copy(listener)
}

/// A child whose work is done: it exits once its parent sleeps (in accept()).
fn child_that_exits(pt: &Tracer) -> Result<crate::live::tracer::Child, LiveError> {
    let parent = std::process::id() as i32;
    pt.fork(Role::Server, CHILD, move |ct| {
        sys::wait_asleep(parent, WAIT)?;
        ct.print(Role::Server, "my work is done: exit(0)");
        Ok(())
    })
}

/// Shows the handler's runs; the child must be among those it reaped.
fn reaped(pt: &Tracer, child: &crate::live::tracer::Child) -> Result<(), LiveError> {
    let runs = pt.handled(Role::Server);
    if runs.iter().any(|c| c.reaped == child.pid()) {
        Ok(())
    } else {
        Err(LiveError::Scenario(format!(
            "the SIGCHLD handler did not reap child {}",
            child.pid()
        )))
    }
}

/// Reads the client's line and closes.
fn serve(pt: &Tracer, conn: Sock) -> Result<(), LiveError> {
    let mut buf = [0u8; 16];
    pt.read(&conn, &mut buf)?;
    pt.close(conn)
}
