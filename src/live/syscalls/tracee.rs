//! The tracer's loop: one `waitpid` over every traced thread, as lurk and strace do.
//!
//! A seccomp stop is a call's entry: the tracer reads it with `PTRACE_GET_SYSCALL_INFO`, looks
//! at its fd, and either lets it go on untraced (`PTRACE_CONT`: not a socket) or asks for its
//! exit (`PTRACE_SYSCALL`) and keeps it pending for that thread. The exit stop finishes the
//! call as an [`Event`] ([`super::event`]). Forks, vforks and clones add tracees (ptrace
//! attaches them itself), exec renames a process, signals are passed on, group-stops are
//! listened through (`PTRACE_LISTEN`), and the loop ends when no tracee is left.
//!
//! The loop waits only for this thread's children and tracees (`__WNOTHREAD`), so traces run
//! in several threads at once (as the tests do) never take each other's stops.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::sys::ptrace::{self, Event as PtEvent, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::event::{Pending, SockInfo};
use super::{arch, decode, procfs, Exit, TraceError};
use crate::live::event::{Event, Role};
use crate::live::tracer::now;

/// Kernel codes (ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND) for a call interrupted by a
/// signal that the kernel runs again through the same entry (the program never sees them).
/// ERESTART_RESTARTBLOCK (516) resumes through `restart_syscall`, which the filter does not
/// stop on: that call is recorded as it was interrupted.
const RESTART: std::ops::RangeInclusive<i32> = 512..=514;

#[derive(Default)]
struct Tid {
    tgid: i32,
    pending: Option<Pending>,
    /// The start of a call the kernel is restarting after a signal.
    restarted: Option<(&'static str, i128)>,
}

/// Everything the tracer knows about the traced processes.
pub struct Session {
    root: i32,
    execed: bool,
    exit: Option<Exit>,
    tids: HashMap<i32, Tid>,
    /// Each process's `who`: its program name and pid.
    procs: HashMap<i32, String>,
    pub(super) socks: HashMap<u64, SockInfo>,
    /// Finished calls and the inode of their socket (which decides their role at the end).
    pub(super) events: Vec<(Event, Option<u64>)>,
    /// When the first process ended: the capture's clock, and this process's.
    ended: i128,
    ended_at: Option<Instant>,
}

/// How long processes the program left behind may go on after it ended.
pub const LEFT_BEHIND_GRACE: Duration = Duration::from_millis(500);

fn setup(what: &'static str) -> impl FnOnce(Errno) -> TraceError {
    move |e| TraceError::Setup {
        what,
        source: e.into(),
    }
}

impl Session {
    pub fn new(root: i32) -> Session {
        let mut tids = HashMap::new();
        tids.insert(
            root,
            Tid {
                tgid: root,
                ..Tid::default()
            },
        );
        Session {
            root,
            execed: false,
            exit: None,
            tids,
            procs: HashMap::new(),
            socks: HashMap::new(),
            events: Vec::new(),
            ended: 0,
            ended_at: None,
        }
    }

    /// When the first process ended (the capture's clock; 0 before).
    pub fn ended(&self) -> i128 {
        self.ended
    }

    /// Whether the first process got as far as running the program.
    pub fn execed(&self) -> bool {
        self.execed
    }

    /// Attaches to the waiting child with the options, then lets it go on (`go`).
    pub fn seize(&mut self, go: OwnedFd) -> Result<(), TraceError> {
        let pid = Pid::from_raw(self.root);
        let opts = Options::PTRACE_O_TRACESYSGOOD
            | Options::PTRACE_O_TRACEFORK
            | Options::PTRACE_O_TRACEVFORK
            | Options::PTRACE_O_TRACECLONE
            | Options::PTRACE_O_TRACEEXEC
            | Options::PTRACE_O_TRACESECCOMP
            | Options::PTRACE_O_EXITKILL;
        if let Err(e) = ptrace::seize(pid, opts) {
            drop(go); // the child reads end of file and exits
            let _ = waitpid(pid, None);
            return Err(setup("PTRACE_SEIZE")(e));
        }
        nix::unistd::write(&go, &[1]).map_err(setup("starting the child"))?;
        Ok(())
    }

    /// Follows every tracee until none is left; returns how the first process ended. Once
    /// the first process has ended, the others get [`LEFT_BEHIND_GRACE`] to end too; then
    /// they are killed (a daemon the program left behind would keep the trace open for ever,
    /// and its network namespace ends with the trace anyway).
    pub fn run(&mut self) -> Result<Exit, TraceError> {
        let mut killed_rest = false;
        loop {
            let mut flags = WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD;
            if self.exit.is_some() && !killed_rest {
                flags |= WaitPidFlag::WNOHANG;
            }
            let status = match waitpid(None, Some(flags)) {
                Ok(WaitStatus::StillAlive) => {
                    let waited = self.ended_at.map_or(Duration::ZERO, |t| t.elapsed());
                    if waited >= LEFT_BEHIND_GRACE {
                        killed_rest = true;
                        for &tid in self.tids.keys() {
                            let _ = nix::sys::signal::kill(Pid::from_raw(tid), Signal::SIGKILL);
                        }
                    } else {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    continue;
                }
                Ok(s) => s,
                Err(Errno::ECHILD) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(setup("waitpid")(e)),
            };
            match status {
                WaitStatus::Exited(pid, code) => self.gone(pid.as_raw(), Exit::Code(code)),
                WaitStatus::Signaled(pid, sig, _) => {
                    self.gone(pid.as_raw(), Exit::Signal(sig as i32))
                }
                WaitStatus::PtraceEvent(pid, _, e) if e == PtEvent::PTRACE_EVENT_SECCOMP as i32 => {
                    self.entry(pid.as_raw())
                }
                WaitStatus::PtraceSyscall(pid) => self.exit(pid.as_raw()),
                WaitStatus::PtraceEvent(pid, sig, e) if e == PtEvent::PTRACE_EVENT_STOP as i32 => {
                    use Signal::*;
                    if matches!(sig, SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU) {
                        // A group-stop: stay stopped until SIGCONT, still reporting events.
                        listen(pid);
                    } else {
                        resume(pid, None);
                    }
                }
                WaitStatus::PtraceEvent(pid, _, e) if e == PtEvent::PTRACE_EVENT_EXEC as i32 => {
                    self.exec(pid);
                    resume(pid, None);
                }
                // Fork, vfork, clone: the new tracee reports its own first stop.
                WaitStatus::PtraceEvent(pid, _, _) => resume(pid, None),
                // A signal on its way to the tracee: deliver it.
                WaitStatus::Stopped(pid, sig) => resume(pid, Some(sig)),
                WaitStatus::Continued(_) | WaitStatus::StillAlive => {}
            }
        }
        Ok(self.exit.unwrap_or(Exit::Code(0)))
    }

    fn tid(&mut self, tid: i32) -> &mut Tid {
        self.tids.entry(tid).or_insert_with(|| Tid {
            tgid: procfs::tgid(tid).unwrap_or(tid),
            ..Tid::default()
        })
    }

    /// A thread exited or was killed.
    fn gone(&mut self, tid: i32, how: Exit) {
        if let Some(t) = self.tids.remove(&tid) {
            if let Some(p) = t.pending {
                // Still in the call (blocked in accept or read) when the process died.
                self.unfinished(p, how);
            }
        }
        if tid == self.root {
            self.exit = Some(how);
            self.ended = now();
            self.ended_at = Some(Instant::now());
        }
    }

    fn exec(&mut self, pid: Pid) {
        let pid = pid.as_raw();
        // A thread other than the leader ran exec: it takes over the leader's pid.
        if let Ok(former) = ptrace::getevent(Pid::from_raw(pid)) {
            let former = former as i32;
            if former != pid {
                self.tids.remove(&former);
            }
        }
        self.tids.insert(
            pid,
            Tid {
                tgid: pid,
                ..Tid::default()
            },
        );
        self.procs.insert(pid, who(pid));
        if pid == self.root {
            self.execed = true;
        }
    }

    /// The `who` of a process.
    pub(super) fn who(&mut self, tgid: i32) -> String {
        self.procs.entry(tgid).or_insert_with(|| who(tgid)).clone()
    }

    /// A seccomp stop: a traced call is starting.
    fn entry(&mut self, tid: i32) {
        let pid = Pid::from_raw(tid);
        let Some((nr, args)) = seccomp_info(pid) else {
            resume(pid, None);
            return;
        };
        let Some(name) = arch::name(nr) else {
            resume(pid, None);
            return;
        };
        let start = now();
        let (inode, fds) = match name {
            "socket" | "socketpair" => (None, Vec::new()),
            "poll" | "ppoll" => (None, poll_sockets(tid, args[0], args[1])),
            "select" | "pselect6" => (None, select_sockets(tid, &args)),
            "epoll_wait" | "epoll_pwait" => {
                let fds = procfs::epoll_fds(tid, args[0] as i64);
                let socks = fds
                    .into_iter()
                    .filter(|&fd| procfs::socket_inode(tid, fd).is_some())
                    .collect();
                (None, socks)
            }
            _ => match procfs::socket_inode(tid, args[0] as i64) {
                Some(i) => (Some(i), Vec::new()),
                None => {
                    // A file, a pipe, a terminal: not ours.
                    resume(pid, None);
                    return;
                }
            },
        };
        let waits = matches!(
            name,
            "poll" | "ppoll" | "select" | "pselect6" | "epoll_wait" | "epoll_pwait"
        );
        if waits && fds.is_empty() {
            resume(pid, None);
            return;
        }
        // close: the socket's addresses now, while it still has them.
        let t = self.tid(tid);
        let tgid = t.tgid;
        if let (Some(i), "close") = (inode, name) {
            self.addresses(tgid, args[0] as i64, i, false);
        }
        let t = self.tid(tid);
        let start = match t.restarted.take() {
            Some((call, first)) if call == name => first,
            _ => start,
        };
        t.pending = Some(Pending {
            name,
            args,
            start,
            inode,
            fds,
            tid,
            tgid,
        });
        if let Err(e) = ptrace::syscall(pid, None) {
            if e != Errno::ESRCH {
                resume(pid, None);
            }
        }
    }

    /// A syscall-exit stop: the pending call has returned.
    fn exit(&mut self, tid: i32) {
        let pid = Pid::from_raw(tid);
        let result = exit_info(pid);
        let t = self.tid(tid);
        let pending = t.pending.take();
        if let (Some(p), Some(r)) = (pending, result) {
            if r.is_err_and(|errno| RESTART.contains(&errno)) {
                // Interrupted by a signal; the kernel runs it again and it stops again.
                self.tid(tid).restarted = Some((p.name, p.start));
            } else {
                self.finish(p, r, now());
            }
        }
        resume(pid, None);
    }

    /// The calls, their roles decided by their sockets (see the module docs).
    pub fn into_events(self) -> Vec<Event> {
        let socks = self.socks;
        self.events
            .into_iter()
            .map(|(mut e, inode)| {
                let server = inode
                    .and_then(|i| socks.get(&i))
                    .is_some_and(|s| s.server());
                e.role = if server { Role::Server } else { Role::Client };
                e
            })
            .collect()
    }
}

fn who(pid: i32) -> String {
    format!("{} {pid}", procfs::comm(pid))
}

fn resume(pid: Pid, sig: Option<Signal>) {
    // ESRCH: the tracee was killed meanwhile; its exit is reported next.
    let _ = ptrace::cont(pid, sig);
}

fn listen(pid: Pid) {
    // SAFETY: PTRACE_LISTEN takes no pointers.
    unsafe {
        libc::ptrace(libc::PTRACE_LISTEN, pid.as_raw(), 0usize, 0usize);
    }
}

/// The call number and arguments at a seccomp stop.
fn seccomp_info(pid: Pid) -> Option<(u64, [u64; 6])> {
    let info = ptrace::syscall_info(pid).ok()?;
    if info.op != libc::PTRACE_SYSCALL_INFO_SECCOMP {
        return None;
    }
    // SAFETY: `op` says the seccomp member is the one the kernel filled (all plain integers).
    let s = unsafe { info.u.seccomp };
    Some((s.nr, s.args))
}

/// The result at a syscall-exit stop: the value, or the errno.
fn exit_info(pid: Pid) -> Option<Result<i64, i32>> {
    let info = ptrace::syscall_info(pid).ok()?;
    if info.op != libc::PTRACE_SYSCALL_INFO_EXIT {
        return None;
    }
    // SAFETY: `op` says the exit member is the one the kernel filled (all plain integers).
    let x = unsafe { info.u.exit };
    Some(if x.is_error != 0 {
        Err((-x.sval) as i32)
    } else {
        Ok(x.sval)
    })
}

/// The socket fds in a `pollfd` array.
fn poll_sockets(tid: i32, fds: u64, n: u64) -> Vec<i64> {
    let b = procfs::read_mem(tid, fds, (n.min(1024) * 8) as usize);
    b.chunks_exact(8)
        .filter_map(|c| decode::u32_at(c, 0))
        .map(|fd| fd as i32 as i64)
        .filter(|&fd| procfs::socket_inode(tid, fd).is_some())
        .collect()
}

/// The socket fds in a `select`'s three sets.
fn select_sockets(tid: i32, args: &[u64; 6]) -> Vec<i64> {
    let n = args[0].min(1024) as usize;
    let mut fds = Vec::new();
    for &set in &args[1..4] {
        let b = procfs::read_mem(tid, set, n.div_ceil(8));
        for fd in 0..n.min(b.len() * 8) {
            if b[fd / 8] & (1 << (fd % 8)) != 0 && !fds.contains(&(fd as i64)) {
                fds.push(fd as i64);
            }
        }
    }
    fds.retain(|&fd| procfs::socket_inode(tid, fd).is_some());
    fds
}
