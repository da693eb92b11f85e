//! The `oob` programs: the book's oob_send.c in sockscope's runner, oob_recv.c in a process of
//! its own (so that `fcntl(F_SETOWN, getpid())` names a process whose one thread is the
//! receiver, as in the book), once as printed and once with SO_OOBINLINE.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::MsgFlags;
use socket2::{Domain, Type};

use super::sys::{self, Urg, BUF_SIZE};
use super::{HANDLER, PARTS, RECEIVER};
use crate::live::event::Event;
use crate::live::tracer::{errno_name, now, preview};
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::{any_port, bound};

/// Longest wait for the other process.
const WAIT: Duration = Duration::from_secs(5);

fn io(call: &'static str) -> impl Fn(nix::errno::Errno) -> LiveError {
    move |e| LiveError::Call {
        call,
        source: e.into(),
    }
}

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 5)?;
    let server = bound(&listener)?;
    t.ready()?;
    // The receiver's handler writes one byte here each time SIGURG came, so the sender sends
    // the next urgent byte only once the last one was taken.
    let (from_receiver, to_sender) = nix::unistd::pipe().map_err(io("pipe"))?;
    let l = &listener;
    let receiver = t.fork(Role::Server, RECEIVER, move |rt| {
        receiver_program(rt, l, to_sender)
    })?;
    for (key, title, _) in PARTS {
        t.mark(key, title);
        let sock = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        t.connect(&sock, server)?;
        wait_byte(&from_receiver, READY)?;
        t.write(&sock, b"123")?;
        // "4" arrives while the receiver waits in recv() with "123" read: SIGURG interrupts it.
        // (Waiting only for recvfrom in /proc could catch the recv() still waiting for "123".)
        wait_byte(&from_receiver, READ)?;
        wait_in_recv(receiver.pid())?;
        t.send_flags(&sock, b"4", MsgFlags::MSG_OOB)?;
        wait_byte(&from_receiver, sys::SIGNALLED)?;
        t.write(&sock, b"567")?;
        t.send_flags(&sock, b"890", MsgFlags::MSG_OOB)?;
        wait_byte(&from_receiver, sys::SIGNALLED)?;
        t.close(sock)?;
    }
    t.waitpid(Role::Server, receiver)?;
    t.close(listener)
}

/// Waits until process `pid` is blocked in recv() (recvfrom(2), which glibc's recv() calls),
/// as `/proc/PID/syscall` shows (its first field is the number of the call it waits in).
fn wait_in_recv(pid: i32) -> Result<(), LiveError> {
    let path = format!("/proc/{pid}/syscall");
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(&path).map_err(|e| LiveError::Call {
            call: "read /proc/PID/syscall",
            source: e,
        })?;
        let nr = text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<i64>().ok());
        if nr == Some(nix::libc::SYS_recvfrom) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LiveError::Scenario(format!(
                "the receiver did not wait in recv() within {} s ({path}: {})",
                WAIT.as_secs(),
                text.trim()
            )));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// The receiver's byte on the pipe once it owns the connection (F_SETOWN done).
const READY: u8 = b'r';
/// The receiver's byte on the pipe once its first recv() of a connection has returned.
const READ: u8 = b'd';

/// What a byte from the receiver says.
fn step(b: u8) -> &'static str {
    if b == READY {
        "its F_SETOWN"
    } else if b == READ {
        "its first read"
    } else {
        "its SIGURG handler's run"
    }
}

/// Waits for byte `want` from the receiver: it is ready, or its handler has run once more.
fn wait_byte(fd: &OwnedFd, want: u8) -> Result<(), LiveError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => {
                return Err(LiveError::Scenario(format!(
                    "the receiver did not report {} within {} s",
                    step(want),
                    WAIT.as_secs()
                )))
            }
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io("poll")(e)),
        }
    }
    let mut b = [0u8; 1];
    match nix::unistd::read(fd.as_fd(), &mut b) {
        Ok(1) if b[0] == want => Ok(()),
        Ok(1) => Err(LiveError::Scenario(format!(
            "the receiver reported {} where {} was due",
            step(b[0]),
            step(want)
        ))),
        Ok(_) => Err(LiveError::Scenario(format!(
            "the receiver ended before {}",
            step(want)
        ))),
        Err(e) => Err(io("read")(e)),
    }
}

/// oob_recv.c, in its own process: the handler, then for each part accept(), F_SETOWN and
/// the read loop.
fn receiver_program(rt: &Tracer, listener: &Sock, tell: OwnedFd) -> Result<(), LiveError> {
    let start = now();
    let r = sys::install(tell.as_raw_fd());
    let mut e = Event::new(Role::Server, RECEIVER, "sigaction", start);
    e.end = now();
    e.args = "SIGURG, {urg_handler, sa_flags 0}".into();
    match &r {
        Ok(()) => e.ret = Some(0),
        Err(err) => {
            e.ret = Some(-1);
            e.errno = Some(format!("{err:?}"));
        }
    }
    rt.emit(&mut e);
    r.map_err(io("sigaction"))?;

    let mut shown = 0;
    for (_, _, inline) in PARTS {
        let recv_sock = accept(rt, listener)?;
        if inline {
            rt.set_oobinline(&recv_sock, true)?;
        }
        sys::handle(recv_sock.fd());
        rt.set_owner(&recv_sock, nix::unistd::getpid().as_raw())?;
        tell_byte(&tell, READY)?;
        let mut buf = [0u8; BUF_SIZE];
        let mut first = true;
        loop {
            let r = rt.recv_flags(&recv_sock, &mut buf[..BUF_SIZE - 1], MsgFlags::empty());
            show(rt, &recv_sock, &mut shown);
            match r {
                Ok(0) => break,
                Ok(n) => {
                    rt.print(Role::Server, &String::from_utf8_lossy(&buf[..n]));
                    if std::mem::take(&mut first) {
                        tell_byte(&tell, READ)?;
                    }
                }
                // The book's `if (str_len == -1) continue;`: EINTR, a SIGURG came.
                Err(LiveError::Call { source, .. })
                    if source.raw_os_error() == Some(nix::libc::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
        show(rt, &recv_sock, &mut shown);
        sys::handle(-1);
        rt.close(recv_sock)?;
    }
    rt.close_copy(listener)?;
    drop(tell);
    Ok(())
}

/// Writes one byte to the sender (an untraced signal between the programs' processes).
fn tell_byte(fd: &OwnedFd, b: u8) -> Result<(), LiveError> {
    loop {
        match nix::unistd::write(fd.as_fd(), &[b]) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io("write")(e)),
        }
    }
}

/// accept(), again after EINTR.
fn accept(rt: &Tracer, listener: &Sock) -> Result<Sock, LiveError> {
    loop {
        match rt.accept(listener) {
            Err(LiveError::Call { source, .. })
                if source.raw_os_error() == Some(nix::libc::EINTR) => {}
            r => return r,
        }
    }
}

/// Turns the handler's new runs into events at the times it recorded: its recv(MSG_OOB) and
/// the book's `printf("Urgent message: %s \n", buf)`.
fn show(rt: &Tracer, s: &Sock, shown: &mut usize) {
    for u in sys::log_from(*shown) {
        *shown += 1;
        rt.emit(&mut handler_recv(s, &u));
        if u.ret > 0 {
            let mut p = Event::new(Role::Server, HANDLER, "print", u.end);
            p.text = Some(format!(
                "Urgent message: {}",
                String::from_utf8_lossy(&u.data)
            ));
            rt.emit(&mut p);
        }
    }
}

/// The event of the handler's recv(MSG_OOB).
fn handler_recv(s: &Sock, u: &Urg) -> Event {
    let mut e = Event::new(Role::Server, HANDLER, "recv", u.start);
    e.end = u.end;
    e.fd = Some(s.fd());
    e.local = s.local();
    e.addr = s.peer();
    e.args = format!("{}, buf, {}, MSG_OOB", s.fd(), BUF_SIZE - 1);
    e.ret = Some(u.ret);
    if u.ret < 0 {
        e.errno = Some(errno_name(&std::io::Error::from_raw_os_error(u.errno)));
    } else {
        e.data = Some(u.data.clone());
        e.text = Some(format!("{} (SIGURG)", preview(&u.data)));
    }
    e
}
