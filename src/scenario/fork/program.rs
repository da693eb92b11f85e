//! `fork`: the multiprocess echo server of the classic texts, and the parent that forgets to
//! close its copy of the connection.
//!
//! ```c
//! void read_childproc(int sig) {                 /* SIGCHLD: reap every child that exited */
//!     int status;
//!     while (waitpid(-1, &status, WNOHANG) > 0)
//!         ;
//! }
//! act.sa_handler = read_childproc; sigemptyset(&act.sa_mask); act.sa_flags = 0;
//! sigaction(SIGCHLD, &act, 0);
//! for (;;) {
//!     clnt_sock = accept(serv_sock, …);
//!     if (clnt_sock == -1) continue;             /* EINTR: a SIGCHLD came */
//!     if (fork() == 0) {                         /* the child serves this client */
//!         close(serv_sock);
//!         while ((n = read(clnt_sock, buf, BUF_SIZE)) != 0)
//!             write(clnt_sock, buf, n);
//!         close(clnt_sock);
//!         return 0;
//!     }
//!     close(clnt_sock);                          /* the parent's copy: forget it and the */
//! }                                              /* child's close() sends no FIN        */
//! ```
//! The server program runs in a process of its own (forked by sockscope's runner, which bound
//! the port so that the capture knows it): its SIGCHLD handler and waitpid(-1) then concern
//! only its own children. It waits for them with SIGCHLD blocked and `sigsuspend`, so no
//! signal is lost between the check and the wait. The clients are threads of the runner.

use std::fmt::Write;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use socket2::{Domain, Type};

use super::fork_sys::{self as sys, Reap};
use super::{any_port, bound, read_exactly, Peer, Scenario};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::tracer::{errno_name, now, Child};
use crate::live::{LiveError, Role, Sock, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "fork",
    lesson: "lesson 8: processes",
    summary: "the forking echo server: a child per client, SIGCHLD reaps them; a forgotten close() holds back the FIN",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
The classic concurrent server: the parent only accepts. For each connection it forks a child,
which inherits every descriptor: the child closes the listening socket and serves the client;
the parent closes the connected socket and goes back to accept(). Three clients connect at
once; the process lanes after the ladders show which process (pid) served which connection,
and that the three children ran side by side. In the server column, [parent] is the server
process and [child N] its children; the untagged lines are sockscope's runner, which binds the
port (the capture must know it), starts the server with fork() and reaps it at the end. The
clients are threads of the runner.

A descriptor is a reference to a socket; close() drops one reference. The connection ends
(FIN) only when the last descriptor referring to it is closed. Part 1: the parent closed its
copy right after fork(), so the child's close() is the last one and the FIN leaves at once.
Part 2: the parent \"forgets\" close(conn). The child finishes, calls close(), gets 0, and yet
no FIN goes out: the kernel keeps the connection in CLOSE_WAIT, and the client waits in read()
for an end of stream that does not come. Only when the parent closes its copy (here once it
has reaped the child) does the FIN leave. A real server that forgets this leaks a descriptor
per client and piles up CLOSE_WAIT connections until it runs out of descriptors.

A child that has exited stays in the process table as a zombie (state Z in /proc) until its
parent waits for it. Part 2 shows one: the parent blocks SIGCHLD before forking child 4 and
lets it through (in sigsuspend) only once /proc says Z. The SIGCHLD handler reaps with
waitpid(-1, &status, WNOHANG) in a loop: signals of one kind do not queue, so one SIGCHLD may
stand for several exits (the facts say when it did). A handler that calls waitpid once per
signal, as some textbooks print it, then leaves a zombie. This handler only records what it
reaped (printf in a signal handler is not safe); the parent prints the \"removed proc id\"
lines after it wakes, at the times the handler noted. sa_flags is 0, as in the texts: a
SIGCHLD arriving during accept() makes it fail with EINTR, and the loop accepts again (here
the children end only after the last accept, so it does not happen).

The last lines check /proc: no child of the server is left, no zombie.";

/// The server process's name in the timeline.
const PARENT: &str = "parent";
const CHILDREN: [&str; 4] = ["child 1", "child 2", "child 3", "child 4"];
/// Clients in part 1.
const AT_ONCE: usize = 3;
/// Longest wait for another process or thread.
const WAIT: Duration = Duration::from_secs(5);
const ZOMBIE: &str = "state Z";
const NONE_LEFT: &str = "/proc: no child of mine is left, no zombie";

fn io(call: &'static str) -> impl Fn(nix::errno::Errno) -> LiveError {
    move |e| LiveError::Call {
        call,
        source: e.into(),
    }
}

fn run(t: &Tracer) -> Result<(), LiveError> {
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

/// A rendezvous of the part-1 clients: each waits until all have their echo.
struct Meeting {
    state: Mutex<(usize, bool)>,
    cv: Condvar,
    n: usize,
}

impl Meeting {
    fn new(n: usize) -> Meeting {
        Meeting {
            state: Mutex::new((0, false)),
            cv: Condvar::new(),
            n,
        }
    }

    fn arrive(&self) -> Result<(), LiveError> {
        let gone = || LiveError::Scenario("another client failed".into());
        let mut g = self.state.lock().map_err(|_| gone())?;
        g.0 += 1;
        self.cv.notify_all();
        let deadline = Instant::now() + WAIT;
        while g.0 < self.n && !g.1 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LiveError::Scenario(
                    "the other clients did not get their echo in time".into(),
                ));
            }
            g = self.cv.wait_timeout(g, left).map_err(|_| gone())?.0;
        }
        if g.1 {
            return Err(gone());
        }
        Ok(())
    }

    fn fail(&self) {
        if let Ok(mut g) = self.state.lock() {
            g.1 = true;
            self.cv.notify_all();
        }
    }
}

// ---- checks and facts --------------------------------------------------------------------

/// The connections whose client connected in phase `key`, in connect order.
fn conns_in(v: &View, key: &str) -> Vec<usize> {
    let Some(span) = v.phase(key) else {
        return Vec::new();
    };
    v.calls(Role::Client, "connect", span)
        .filter_map(|e| v.conn_of(e))
        .collect()
}

/// The server-side events of connection `c` made by process `who` (a prefix: `child`).
fn server_calls<'v>(
    v: &'v View,
    c: usize,
    who: &'v str,
    call: &'v str,
) -> impl Iterator<Item = &'v Event> {
    v.run.events.iter().filter(move |e| {
        e.role == Role::Server
            && e.who.starts_with(who)
            && e.call == call
            && v.conn_of(e) == Some(c)
    })
}

/// The child that served connection `c`: its name and pid (None if several or none did).
fn child_of(v: &View, c: usize) -> Option<(String, u32)> {
    let mut served = v.run.events.iter().filter(|e| {
        e.role == Role::Server
            && e.who.starts_with("child")
            && matches!(e.call.as_str(), "read" | "write")
            && v.conn_of(e) == Some(c)
    });
    let first = served.next()?;
    let all_same = served.all(|e| e.pid == first.pid && e.who == first.who);
    all_same.then(|| (first.who.clone(), first.pid))
}

fn parent_pid(v: &View) -> Option<u32> {
    v.run.events.iter().find(|e| e.who == PARENT).map(|e| e.pid)
}

/// The first FIN the server side sent on `c`.
fn server_fin<'v>(v: &'v View, c: usize) -> Option<&'v Pkt> {
    v.conn_pkts(c)
        .find(|p| p.dir == Dir::ToClient && p.tcp.as_ref().is_some_and(|t| t.has(f::FIN)))
}

/// Start and end of a process's own events.
fn span_of(v: &View, pid: u32) -> Option<(i128, i128)> {
    let mine = v.run.events.iter().filter(|e| e.pid == pid);
    let start = mine.clone().map(|e| e.start).min()?;
    let end = mine.map(|e| e.end).max()?;
    Some((start, end))
}

fn ms(ns: i128) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

fn checks(v: &View) -> Vec<Check> {
    let part1 = conns_in(v, "fork/close");
    let part2 = conns_in(v, "fork/forgot");
    if part1.len() != AT_ONCE || part2.len() != 1 {
        return vec![Check::missing(
            "every connection was captured",
            format!(
                "{} connection(s) in part 1, {} in part 2",
                part1.len(),
                part2.len()
            ),
        )];
    }
    let all: Vec<usize> = part1.iter().chain(&part2).copied().collect();
    let ppid = parent_pid(v);
    let mut out = Vec::new();

    // Who accepted and who served.
    let accepted: Vec<usize> = v
        .run
        .events
        .iter()
        .filter(|e| e.who == PARENT && e.call == "accept" && e.ok())
        .filter_map(|e| v.conn_of(e))
        .collect();
    let servers: Vec<Option<(String, u32)>> = all.iter().map(|&c| child_of(v, c)).collect();
    let mut pids: Vec<u32> = servers.iter().flatten().map(|s| s.1).collect();
    pids.sort_unstable();
    pids.dedup();
    let ok = all.iter().all(|c| accepted.contains(c))
        && servers.iter().all(Option::is_some)
        && pids.len() == all.len()
        && ppid.is_some_and(|p| !pids.contains(&p));
    let detail: Vec<String> = all
        .iter()
        .zip(&servers)
        .map(|(&c, s)| match s {
            Some((who, pid)) => format!(":{} → {who} (pid {pid})", v.conns[c].client.port()),
            None => format!(":{} → ?", v.conns[c].client.port()),
        })
        .collect();
    out.push(Check::new(
        ok,
        format!(
            "the parent (pid {}) accepted each connection; a child of its own served each",
            ppid.map_or("?".into(), |p| p.to_string())
        ),
        detail.join(", "),
    ));

    // The three children of part 1 at work together.
    let spans: Vec<(i128, i128)> = part1
        .iter()
        .filter_map(|&c| child_of(v, c).and_then(|(_, pid)| span_of(v, pid)))
        .collect();
    let latest_start = spans.iter().map(|s| s.0).max();
    let earliest_end = spans.iter().map(|s| s.1).min();
    out.push(match (latest_start, earliest_end) {
        (Some(a), Some(b)) if spans.len() == AT_ONCE => Check::new(
            a < b,
            "the three children of part 1 served at the same time (their lives overlap)",
            format!("all three alive for {}", ms(b - a)),
        ),
        _ => Check::missing(
            "the three children of part 1 served at the same time",
            "a child's events are missing",
        ),
    });

    // Part 1: the parent's close came first; the FIN left at the child's close.
    let mut ok = true;
    let mut detail = Vec::new();
    for &c in &part1 {
        let pclose = server_calls(v, c, PARENT, "close").next();
        let cclose = server_calls(v, c, "child", "close").next();
        let fin = server_fin(v, c);
        match (pclose, cclose, fin) {
            (Some(p), Some(k), Some(fin)) => {
                ok &= p.end < k.start && fin.ts >= k.start;
                detail.push(format!(
                    "{}: FIN {} after its close()",
                    k.who,
                    ms(fin.ts - k.start)
                ));
            }
            _ => {
                ok = false;
                detail.push(format!(
                    ":{}: a close() or the FIN is missing",
                    v.conns[c].client.port()
                ));
            }
        }
    }
    out.push(Check::new(
        ok,
        "part 1: the parent closed its copy first, so each child's close() sent the FIN",
        detail.join(", "),
    ));

    // Part 2: the forgotten copy.
    let c = part2[0];
    let cclose = server_calls(v, c, "child", "close").next();
    let pclose = server_calls(v, c, PARENT, "close").next();
    let state = server_calls(v, c, "child", "state").next();
    out.push(Check::new(
        state.and_then(|e| e.text.as_deref()) == Some("CLOSE_WAIT"),
        "part 2: after the child's close() the kernel still holds the connection (CLOSE_WAIT)",
        state
            .and_then(|e| e.text.clone())
            .unwrap_or_else(|| "no state seen".into()),
    ));
    let fin = server_fin(v, c);
    out.push(match (cclose, pclose, fin) {
        (Some(k), Some(p), Some(fin)) => Check::new(
            k.end < p.start && fin.ts > k.end && fin.ts >= p.start,
            "part 2: the child's close() sent no FIN; it left at the parent's close() of its copy",
            format!(
                "FIN {} after the child's close(), {} after the parent's",
                ms(fin.ts - k.start),
                ms(fin.ts - p.start)
            ),
        ),
        _ => Check::missing(
            "part 2: the FIN left at the parent's close()",
            "a close() or the FIN is missing",
        ),
    });

    // Reaping.
    let mut forked: Vec<i64> = v
        .run
        .events
        .iter()
        .filter(|e| e.who == PARENT && e.call == "fork")
        .filter_map(|e| e.ret)
        .collect();
    forked.sort_unstable();
    let reaped: Vec<&Event> = v
        .run
        .events
        .iter()
        .filter(|e| e.who == PARENT && e.call == "waitpid" && e.ret.is_some_and(|r| r > 0))
        .collect();
    let mut reaped_pids: Vec<i64> = reaped.iter().filter_map(|e| e.ret).collect();
    reaped_pids.sort_unstable();
    let all_zero = reaped.iter().all(|e| {
        e.text
            .as_deref()
            .is_some_and(|t| t.starts_with("(exited 0"))
    });
    out.push(Check::new(
        !forked.is_empty() && forked == reaped_pids && all_zero,
        "the SIGCHLD handler reaped every child (waitpid(-1, WNOHANG)), each exited 0",
        format!("forked {forked:?}, reaped {reaped_pids:?}"),
    ));
    let printed = |pat: &str| {
        v.run.events.iter().any(|e| {
            e.who == PARENT
                && e.call == "print"
                && e.text.as_deref().is_some_and(|t| t.contains(pat))
        })
    };
    out.push(Check::new(
        printed(ZOMBIE) && printed(NONE_LEFT),
        "/proc showed the exited, unreaped child as a zombie (Z); at the end no child is left",
        if printed(NONE_LEFT) {
            "no child of the server in /proc".to_owned()
        } else {
            "children left in /proc (see the last lines)".to_owned()
        },
    ));

    // The echo.
    let mut ok = true;
    let mut bytes = 0;
    for &c in &all {
        for d in [Dir::ToServer, Dir::ToClient] {
            let ch = checks::reads_match_writes(v, c, d);
            ok &= ch.ok;
        }
        bytes += checks::wire_bytes(v, c, Dir::ToServer).len();
    }
    out.push(Check::new(
        ok,
        "every client read back exactly what it wrote (the echo)",
        format!("{} connections, {bytes} bytes each way", all.len()),
    ));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

/// One process lane of the facts.
struct Lane {
    label: String,
    pid: u32,
    start: i128,
    /// Its last own event.
    end: i128,
    /// When its parent reaped it.
    reaped: Option<i128>,
    note: String,
}

fn lanes(v: &View) -> Vec<Lane> {
    let events = &v.run.events;
    let Some(runner) = events.first().map(|e| e.pid) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let forks = |who: &str, pid: u32| {
        events
            .iter()
            .find(|e| e.who == who && e.call == "fork" && e.ret == Some(pid as i64))
    };
    let reap = |pid: u32| {
        events
            .iter()
            .find(|e| e.call == "waitpid" && e.ret == Some(pid as i64))
            .map(|e| e.end)
    };
    if let Some((s, e)) = span_of(v, runner) {
        let clients = events
            .iter()
            .filter(|e| e.role == Role::Client && e.call == "connect")
            .count();
        out.push(Lane {
            label: "runner".into(),
            pid: runner,
            start: s,
            end: e,
            reaped: None,
            note: format!("binds the port, forks the server, runs the {clients} clients (threads)"),
        });
    }
    let Some(ppid) = parent_pid(v) else {
        return out;
    };
    if let Some((s, e)) = span_of(v, ppid) {
        let count = |call: &str| {
            events
                .iter()
                .filter(|e| e.pid == ppid && e.call == call && e.ok())
                .count()
        };
        let runs = handler_runs(v);
        out.push(Lane {
            label: PARENT.into(),
            pid: ppid,
            start: forks("server", ppid).map_or(s, |f| f.end),
            end: e,
            reaped: reap(ppid),
            note: format!(
                "accept ×{}, fork ×{}, close ×{} (one late); SIGCHLD handler ran {} time{}",
                count("accept"),
                count("fork"),
                events
                    .iter()
                    .filter(|e| e.pid == ppid && e.call == "close" && e.addr.is_some())
                    .count(),
                runs,
                if runs == 1 { "" } else { "s" }
            ),
        });
    }
    for name in CHILDREN {
        let Some(pid) = events.iter().find(|e| e.who == name).map(|e| e.pid) else {
            continue;
        };
        let Some((s, e)) = span_of(v, pid) else {
            continue;
        };
        let conn = events
            .iter()
            .filter(|e| e.pid == pid && e.call == "read")
            .find_map(|e| e.addr);
        let echoed: i64 = events
            .iter()
            .filter(|e| e.pid == pid && e.call == "write")
            .filter_map(|e| e.ret)
            .sum();
        out.push(Lane {
            label: name.into(),
            pid,
            start: forks(PARENT, pid).map_or(s, |f| f.end),
            end: e,
            reaped: reap(pid),
            note: format!(
                "served {}: echoed {echoed} bytes",
                conn.map_or("?".into(), |a| a.to_string())
            ),
        });
    }
    out
}

/// How many times the SIGCHLD handler ran (from its waitpid events' texts).
fn handler_runs(v: &View) -> usize {
    let mut runs: Vec<&str> = v
        .run
        .events
        .iter()
        .filter(|e| e.who == PARENT && e.call == "waitpid")
        .filter_map(|e| {
            e.text
                .as_deref()?
                .split("run ")
                .nth(1)?
                .split([')', ' '])
                .next()
        })
        .collect();
    runs.sort_unstable();
    runs.dedup();
    runs.len()
}

/// Columns of the lanes' time axis.
const COLS: usize = 40;

fn facts(v: &View) -> Vec<String> {
    let ls = lanes(v);
    if ls.is_empty() {
        return Vec::new();
    }
    let t0 = ls.iter().map(|l| l.start).min().unwrap_or(0);
    let t1 = ls
        .iter()
        .map(|l| l.reaped.unwrap_or(l.end).max(l.end))
        .max()
        .unwrap_or(t0)
        .max(t0 + 1);
    let col = |t: i128| (((t - t0) * COLS as i128) / (t1 - t0)).clamp(0, COLS as i128 - 1) as usize;
    let mut out = vec![format!(
        "processes, one lane each (█ running, ░ exited but not yet reaped: a zombie), {} to {}:",
        ms(0),
        ms(t1 - t0)
    )];
    let label_w = ls.iter().map(|l| l.label.len()).max().unwrap_or(0);
    let pid_w = ls
        .iter()
        .map(|l| l.pid.to_string().len())
        .max()
        .unwrap_or(0);
    for l in &ls {
        let (a, b) = (col(l.start), col(l.end));
        let z = l.reaped.map(col);
        let mut bar = String::new();
        for i in 0..COLS {
            bar.push(if i >= a && i <= b {
                '█'
            } else if z.is_some_and(|z| i > b && i <= z) {
                '░'
            } else {
                ' '
            });
        }
        out.push(format!(
            "  {:<label_w$}  pid {:<pid_w$}  {bar}  {}",
            l.label, l.pid, l.note
        ));
    }
    // One SIGCHLD for several exits.
    let mut by_run: Vec<(String, Vec<i64>)> = Vec::new();
    for e in v
        .run
        .events
        .iter()
        .filter(|e| e.who == PARENT && e.call == "waitpid" && e.ret.is_some_and(|r| r > 0))
    {
        let run = e
            .text
            .as_deref()
            .and_then(|t| t.split("run ").nth(1))
            .unwrap_or("?")
            .trim_end_matches(')')
            .to_owned();
        match by_run.iter_mut().find(|(r, _)| *r == run) {
            Some((_, pids)) => pids.extend(e.ret),
            None => by_run.push((run, e.ret.into_iter().collect())),
        }
    }
    for (run, pids) in by_run.iter().filter(|(_, p)| p.len() > 1) {
        let mut l = format!("SIGCHLD handler run {run} reaped {} children:", pids.len());
        for p in pids {
            let _ = write!(l, " {p}");
        }
        l.push_str(
            " (one signal for several exits: a single waitpid per signal would leave a zombie)",
        );
        out.push(l);
    }
    out
}
