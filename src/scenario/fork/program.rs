//! The `fork` program: the forking echo server in a process of its own, its clients, and what
//! the server needs besides its socket calls (SIGCHLD blocking, the reaper, the clients' meeting).

use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use socket2::{Domain, Type};

use super::sys::{self, Reap};
use super::{AT_ONCE, CHILDREN, NONE_LEFT, PARENT, ZOMBIE};
use crate::live::event::Event;
use crate::live::tracer::{errno_name, now, Child};
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::{any_port, bound, read_exactly, Meeting, Peer};

/// Longest wait for another process or thread.
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
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;
    t.mark(
        "fork/close",
        "three clients at once: accept, fork, the child serves, the parent closes its copy",
    );
    // The server process tells the runner (one byte down a pipe) when it has closed its copies
    // of part 1's connections, and when it has reaped their children.
    let (from_server, to_runner) = nix::unistd::pipe().map_err(io("pipe"))?;
    let l = &listener;
    // The closure (and with it the runner's copy of the pipe's write end) is dropped here in
    // the runner; the server process runs it.
    let parent = t.fork(Role::Server, PARENT, move |pt| {
        server_program(pt, l, to_runner)
    })?;

    // The clients half-close only once all three have their echo (so that their three
    // children are alive together) and the parent has closed its copies (so that each child's
    // close() is the last one).
    let meeting = Meeting::new(AT_ONCE + 1);
    let results: Vec<Result<(), LiveError>> = thread::scope(|s| {
        let hs: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                let (tc, meet) = (t.clone(), &meeting);
                s.spawn(move || {
                    let r = client(&tc, server, Some(meet));
                    if r.is_err() {
                        meet.fail();
                    }
                    r
                })
            })
            .collect();
        let mut rs = vec![wait_byte(&from_server, b'1').and_then(|()| meeting.arrive())];
        if rs[0].is_err() {
            meeting.fail();
        }
        rs.extend(hs.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(LiveError::Scenario("a client thread panicked".into())))
        }));
        rs
    });
    for r in results {
        r?;
    }
    wait_byte(&from_server, b'2')?;
    t.mark(
        "fork/forgot",
        "the parent forgets close(conn): the child's close() sends no FIN",
    );
    Peer::start(t, move |tc| client(tc, server, None)).join()?;
    t.waitpid(Role::Server, parent)?;
    t.close(listener)
}

/// The client: connect, send one line, read the echo, (in part 1, meet the others), then
/// half-close and read until the end of stream.
fn client(t: &Tracer, server: SocketAddr, meet: Option<&Meeting>) -> Result<(), LiveError> {
    let s = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.connect(&s, server)?;
    // The line names the client's port, so each child's read shows whom it serves.
    let port = s.local().map_or(0, |a| a.port());
    let line = format!("port {port}");
    let msg = line.as_bytes();
    t.write(&s, msg)?;
    let echo = read_exactly(t, &s, msg.len())?;
    t.print(
        Role::Client,
        &format!("echo: {}", String::from_utf8_lossy(&echo)),
    );
    if let Some(m) = meet {
        m.arrive()?;
    }
    t.shutdown(&s, Shutdown::Write)?;
    let mut buf = [0u8; 16];
    if t.read(&s, &mut buf)? != 0 {
        return Err(LiveError::Scenario(
            "the server sent more than the echo".into(),
        ));
    }
    t.close(s)
}

/// The server program, in its own process.
fn server_program(pt: &Tracer, listener: &Sock, runner: OwnedFd) -> Result<(), LiveError> {
    let start = now();
    let r = sys::install();
    let mut e = Event::new(Role::Server, PARENT, "sigaction", start);
    e.end = now();
    e.args = "SIGCHLD, {read_childproc, sa_flags 0}".into();
    outcome(&mut e, &r);
    pt.emit(&mut e);
    r.map_err(io("sigaction"))?;

    let mut st = Reaper::default();
    for &name in &CHILDREN[..AT_ONCE] {
        let conn = accept(pt, listener)?;
        let c = &conn;
        st.kids
            .push(pt.fork(Role::Server, name, move |ct| serve(ct, listener, c, false))?);
        pt.close(conn)?;
    }
    // SIGCHLD is blocked from here until sigsuspend() (so none is lost between the check and
    // the wait); the children end only after the runner has heard this byte.
    let mask = block_sigchld()?;
    tell(&runner, b'1')?;
    st.reap_until(pt, AT_ONCE, &mask)?;
    unblock(&mask)?;
    tell(&runner, b'2')?;
    drop(runner);
    let conn = accept(pt, listener)?;
    // Blocked before fork(): the child cannot be reaped before /proc has shown it a zombie.
    let mask = block_sigchld()?;
    let c = &conn;
    let child = pt.fork(Role::Server, CHILDREN[AT_ONCE], move |ct| {
        serve(ct, listener, c, true)
    })?;
    let pid = child.pid();
    st.kids.push(child);
    // close(conn) forgotten here.
    wait_zombie(pt, pid)?;
    st.reap_until(pt, AT_ONCE + 1, &mask)?;
    unblock(&mask)?;
    pt.print(
        Role::Server,
        &format!(
            "closing fd {} at last, the copy I forgot: now the FIN can leave",
            conn.fd()
        ),
    );
    pt.close(conn)?;
    let left = sys::children_of(std::process::id() as i32)?;
    let text = if left.is_empty() {
        NONE_LEFT.to_owned()
    } else {
        let l: Vec<String> = left
            .iter()
            .map(|p| format!("{} ({})", p.pid, p.state))
            .collect();
        format!("/proc: children left: {}", l.join(", "))
    };
    pt.print(Role::Server, &text);
    pt.close_copy(listener)
}

/// Writes one byte to the runner (an untraced signal between the programs' processes).
fn tell(fd: &OwnedFd, b: u8) -> Result<(), LiveError> {
    loop {
        match nix::unistd::write(fd.as_fd(), &[b]) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(io("write")(e)),
        }
    }
}

/// The child: serve one client until it half-closes, then close.
fn serve(ct: &Tracer, listener: &Sock, conn: &Sock, forgotten: bool) -> Result<(), LiveError> {
    ct.close_copy(listener)?;
    let mut buf = [0u8; 64];
    loop {
        let n = ct.read(conn, &mut buf)?;
        if n == 0 {
            break;
        }
        ct.write(conn, &buf[..n])?;
    }
    ct.close_copy(conn)?;
    if forgotten {
        // The parent's copy keeps the connection open: CLOSE_WAIT, no FIN.
        ct.state(conn)?;
    }
    Ok(())
}

/// accept(), again after EINTR, as the classic loop does.
fn accept(pt: &Tracer, listener: &Sock) -> Result<Sock, LiveError> {
    loop {
        match pt.accept(listener) {
            Err(LiveError::Call { source, .. })
                if source.raw_os_error() == Some(nix::libc::EINTR) => {}
            r => return r,
        }
    }
}

/// Sets a custom event's result from `r`.
fn outcome<T>(e: &mut Event, r: &nix::Result<T>) {
    match r {
        Ok(_) => e.ret = Some(0),
        Err(err) => {
            e.ret = Some(-1);
            e.errno = Some(format!("{err:?}"));
        }
    }
}

/// Blocks SIGCHLD; returns the mask as it was.
fn block_sigchld() -> Result<SigSet, LiveError> {
    let mut one = SigSet::empty();
    one.add(Signal::SIGCHLD);
    one.thread_swap_mask(SigmaskHow::SIG_BLOCK)
        .map_err(io("sigprocmask"))
}

fn unblock(old: &SigSet) -> Result<(), LiveError> {
    old.thread_set_mask().map_err(io("sigprocmask"))
}

/// What the server knows about its children.
#[derive(Default)]
struct Reaper {
    /// Children not yet reaped (a [`Child`] kills its process if dropped unreaped).
    kids: Vec<Child>,
    reaped: Vec<i32>,
    /// Handler log entries already shown.
    shown: usize,
}

impl Reaper {
    /// Shows what the handler did, until `n` children have been reaped; sleeps in
    /// `sigsuspend` (SIGCHLD unblocked only there) while fewer have. Call with SIGCHLD blocked;
    /// `mask` is the mask from before.
    fn reap_until(&mut self, pt: &Tracer, n: usize, mask: &SigSet) -> Result<(), LiveError> {
        let mut wait_mask = *mask;
        wait_mask.remove(Signal::SIGCHLD);
        let deadline = Instant::now() + WAIT;
        loop {
            self.show(pt);
            if self.reaped.len() >= n {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LiveError::Scenario(format!(
                    "only {} of {n} children were reaped within {} s",
                    self.reaped.len(),
                    WAIT.as_secs()
                )));
            }
            let start = now();
            // nix reports the usual EINTR (a handler ran) as Ok; sigsuspend() itself returns
            // -1 with EINTR.
            let r = wait_mask.suspend();
            let mut e = Event::new(Role::Server, PARENT, "sigsuspend", start);
            e.end = now();
            e.args = "&orig_mask".into();
            e.ret = Some(-1);
            e.errno = Some(match r {
                Ok(()) => "EINTR".to_owned(),
                Err(err) => format!("{err:?}"),
            });
            pt.emit(&mut e);
        }
    }

    /// Turns the handler's new log entries into events, at the times it recorded.
    fn show(&mut self, pt: &Tracer) {
        for r in sys::log_from(self.shown) {
            self.shown += 1;
            pt.emit(&mut waitpid_event(&r));
            if r.ret > 0 {
                self.reaped.push(r.ret);
                let mut p = Event::new(Role::Server, PARENT, "print", r.end);
                p.text = Some(format!("removed proc id: {}", r.ret));
                pt.emit(&mut p);
                if let Some(i) = self.kids.iter().position(|k| k.pid() == r.ret) {
                    // Reaped by the handler: nothing left to kill or wait for.
                    std::mem::forget(self.kids.swap_remove(i));
                }
            }
        }
    }
}

/// The event of one waitpid call the handler made.
fn waitpid_event(r: &Reap) -> Event {
    let mut e = Event::new(Role::Server, PARENT, "waitpid", r.start);
    e.end = r.end;
    e.args = "-1, &status, WNOHANG".into();
    e.ret = Some(r.ret as i64);
    if r.ret < 0 {
        e.errno = Some(errno_name(&std::io::Error::from_raw_os_error(r.errno)));
    }
    e.text = Some(if r.ret > 0 {
        format!("({}; SIGCHLD handler, run {})", r.status_text(), r.call)
    } else {
        format!("(no other child has exited; handler run {} ends)", r.call)
    });
    e
}

/// Waits until `/proc` shows `pid` as a zombie (SIGCHLD blocked: nobody reaps it meanwhile).
fn wait_zombie(pt: &Tracer, pid: i32) -> Result<(), LiveError> {
    let deadline = Instant::now() + WAIT;
    loop {
        match sys::state_of(pid)? {
            Some('Z') => break,
            Some(_) if Instant::now() < deadline => {}
            other => {
                return Err(LiveError::Scenario(format!(
                    "child {pid} did not become a zombie within {} s ({other:?})",
                    WAIT.as_secs()
                )))
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    pt.print(
        Role::Server,
        &format!(
            "/proc/{pid}/stat: {ZOMBIE} (zombie): {} exited, and I have not waited for it yet",
            CHILDREN[AT_ONCE]
        ),
    );
    Ok(())
}

/// Waits for byte `want` from the server process (EOF: it ended first).
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
                    "the server process did not reach step {} in time",
                    want as char
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
        Ok(_) => Err(LiveError::Scenario(format!(
            "the server process ended before step {}",
            want as char
        ))),
        Err(e) => Err(io("read")(e)),
    }
}
