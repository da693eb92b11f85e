//! What `fork`'s server process needs beyond the tracer: the SIGCHLD handler of the classic
//! texts (waitpid(-1, WNOHANG) in a loop), a log of what it reaped, and the kernel's process
//! table (`/proc`) to show zombies and prove none is left.
//!
//! The handler runs in the middle of whatever the process was doing, so it does only
//! async-signal-safe work: waitpid, clock_gettime and stores to atomics (no allocation, no
//! lock, no printing; the classic texts' printf in a handler is itself unsafe). The process
//! turns the log into events later, with SIGCHLD blocked, at the times the handler recorded.

use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicUsize, Ordering};

use nix::libc;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// Entries the handler can record (each waitpid call is one).
const SLOTS: usize = 64;

struct Slot {
    start: AtomicI64,
    end: AtomicI64,
    ret: AtomicI32,
    status: AtomicI32,
    errno: AtomicI32,
    call: AtomicU32,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            start: AtomicI64::new(0),
            end: AtomicI64::new(0),
            ret: AtomicI32::new(0),
            status: AtomicI32::new(0),
            errno: AtomicI32::new(0),
            call: AtomicU32::new(0),
        }
    }
}

static LOG: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
/// Entries written so far.
static LEN: AtomicUsize = AtomicUsize::new(0);
/// Times the handler ran.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// CLOCK_REALTIME in ns, async-signal-safe.
fn clock() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec; it is async-signal-safe.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// The SIGCHLD handler: reap every child that has exited (signals do not queue: one SIGCHLD
/// may stand for several exits), recording each waitpid call.
extern "C" fn read_childproc(_sig: libc::c_int) {
    // SAFETY: reading and restoring errno around the handler, as a handler must.
    let saved = unsafe { *libc::__errno_location() };
    let call = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    loop {
        let start = clock();
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid is async-signal-safe; `status` is a valid int.
        let ret = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        // SAFETY: as above.
        let errno = if ret < 0 {
            unsafe { *libc::__errno_location() }
        } else {
            0
        };
        let end = clock();
        let i = LEN.load(Ordering::SeqCst);
        if let Some(s) = LOG.get(i) {
            s.start.store(start, Ordering::SeqCst);
            s.end.store(end, Ordering::SeqCst);
            s.ret.store(ret, Ordering::SeqCst);
            s.status.store(status, Ordering::SeqCst);
            s.errno.store(errno, Ordering::SeqCst);
            s.call.store(call, Ordering::SeqCst);
            LEN.store(i + 1, Ordering::SeqCst);
        }
        if ret <= 0 {
            break;
        }
    }
    // SAFETY: see above.
    unsafe { *libc::__errno_location() = saved };
}

/// `sigaction(SIGCHLD, {read_childproc, flags 0})`, as the classic texts install it (no
/// SA_RESTART: a blocking call the signal interrupts fails with EINTR). Clears the log.
pub(super) fn install() -> nix::Result<()> {
    LEN.store(0, Ordering::SeqCst);
    CALLS.store(0, Ordering::SeqCst);
    let act = SigAction::new(
        SigHandler::Handler(read_childproc),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler is async-signal-safe (see the module comment).
    unsafe { sigaction(Signal::SIGCHLD, &act) }.map(|_| ())
}

/// One waitpid call the handler made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reap {
    pub(super) start: i128,
    pub(super) end: i128,
    /// The pid reaped, 0 (children left, none exited) or -1 (see `errno`).
    pub(super) ret: i32,
    pub(super) status: i32,
    pub(super) errno: i32,
    /// Which run of the handler (1, 2, …).
    pub(super) call: u32,
}

impl Reap {
    /// `(exited 0)` or `(killed by signal 9)`.
    pub(super) fn status_text(&self) -> String {
        let s = self.status;
        if s & 0x7f == 0 {
            format!("exited {}", (s >> 8) & 0xff)
        } else {
            format!("killed by signal {}", s & 0x7f)
        }
    }
}

/// The handler's entries from `from` on. Call with SIGCHLD blocked, so the handler cannot
/// write while they are read.
pub(super) fn log_from(from: usize) -> Vec<Reap> {
    let n = LEN.load(Ordering::SeqCst).min(SLOTS);
    (from..n)
        .map(|i| {
            let s = &LOG[i];
            Reap {
                start: s.start.load(Ordering::SeqCst) as i128,
                end: s.end.load(Ordering::SeqCst) as i128,
                ret: s.ret.load(Ordering::SeqCst),
                status: s.status.load(Ordering::SeqCst),
                errno: s.errno.load(Ordering::SeqCst),
                call: s.call.load(Ordering::SeqCst),
            }
        })
        .collect()
}

/// One process in `/proc`: its pid and state letter (R, S, Z…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Proc {
    pub(super) pid: i32,
    pub(super) state: char,
}

/// Parses `/proc/PID/stat`: `pid (comm) S ppid …`; the command may hold spaces and parentheses,
/// so the fields are read after the last `)`. Returns (state, ppid).
pub(super) fn parse_stat(text: &str) -> Option<(char, i32)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

/// The state letter of process `pid`, None once it is gone (reaped).
pub(super) fn state_of(pid: i32) -> std::io::Result<Option<char>> {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(t) => Ok(parse_stat(&t).map(|(s, _)| s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The children of `parent` (a single-threaded process) in the kernel's process table, with
/// their states, zombies included: from `/proc/PID/task/PID/children` (one read), or by
/// walking `/proc` where the kernel lacks that file (CONFIG_PROC_CHILDREN off).
pub(super) fn children_of(parent: i32) -> std::io::Result<Vec<Proc>> {
    let list = format!("/proc/{parent}/task/{parent}/children");
    match std::fs::read_to_string(list) {
        Ok(text) => {
            let mut out = Vec::new();
            for pid in text.split_whitespace().filter_map(|p| p.parse().ok()) {
                if let Some(state) = state_of(pid)? {
                    out.push(Proc { pid, state });
                }
            }
            out.sort_by_key(|p| p.pid);
            Ok(out)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => scan_children(parent),
        Err(e) => Err(e),
    }
}

/// [`children_of`] the slow way: every process's parent, from its `stat`.
fn scan_children(parent: i32) -> std::io::Result<Vec<Proc>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // A process may end between the listing and the read: skip it.
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((state, ppid)) = parse_stat(&text) {
            if ppid == parent {
                out.push(Proc { pid, state });
            }
        }
    }
    out.sort_by_key(|p| p.pid);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_names() {
        assert_eq!(
            parse_stat("4242 (sockscope) S 4200 4242 0 0"),
            Some(('S', 4200))
        );
        assert_eq!(parse_stat("7 (a) b (c)) Z 1 7 7"), Some(('Z', 1)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_words() {
        let r = |status| Reap {
            start: 0,
            end: 0,
            ret: 1,
            status,
            errno: 0,
            call: 1,
        };
        assert_eq!(r(0).status_text(), "exited 0");
        assert_eq!(r(3 << 8).status_text(), "exited 3");
        assert_eq!(r(9).status_text(), "killed by signal 9");
    }

    #[test]
    fn a_child_is_listed_until_reaped() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("run true");
        let pid = child.id() as i32;
        // The test harness runs threads: the scan finds children of any of them.
        let found = scan_children(me).unwrap();
        assert!(found.iter().any(|p| p.pid == pid), "{found:?}");
        child.wait().expect("wait");
        assert!(scan_children(me).unwrap().iter().all(|p| p.pid != pid));
        assert_eq!(state_of(pid).unwrap(), None);
        assert!(state_of(me).unwrap().is_some());
    }
}
