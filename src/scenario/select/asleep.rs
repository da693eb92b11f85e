//! Waiting until the server thread sleeps in a given system call, so that a client's step
//! happens while the server waits (a wake-up), not before it called (an immediate return).
//!
//! The server counts its calls ([`Watch::entering`] just before each); a client waits until
//! the count has passed the one it saw when it last acted and the kernel shows the server's
//! thread asleep (`S` in `/proc/self/task/TID/stat`) inside that call (its number first in
//! `/proc/self/task/TID/syscall`). Used by `select` and `epoll`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::libc;

use crate::live::LiveError;

/// The kernel's numbers of `select` and its variants.
#[cfg(target_arch = "x86_64")]
pub(crate) const SELECT: &[i64] = &[libc::SYS_select, libc::SYS_pselect6];
#[cfg(not(target_arch = "x86_64"))]
pub(crate) const SELECT: &[i64] = &[libc::SYS_pselect6];

/// The kernel's numbers of `epoll_wait` and its variants.
#[cfg(target_arch = "x86_64")]
pub(crate) const EPOLL_WAIT: &[i64] = &[libc::SYS_epoll_wait, libc::SYS_epoll_pwait];
#[cfg(not(target_arch = "x86_64"))]
pub(crate) const EPOLL_WAIT: &[i64] = &[libc::SYS_epoll_pwait];

/// Longest wait for the server to fall asleep.
const LIMIT: Duration = Duration::from_secs(5);

/// What the server thread shares with its clients: its id, its calls so far, and whether
/// the clients have gone (so that a server looping on timeouts stops).
pub(crate) struct Watch {
    tid: AtomicUsize,
    calls: AtomicUsize,
    gone: AtomicBool,
    syscalls: &'static [i64],
    /// The server thread's files in `/proc`, opened at the first look.
    files: Mutex<Option<Files>>,
}

impl Watch {
    pub(crate) fn new(syscalls: &'static [i64]) -> Watch {
        Watch {
            tid: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            gone: AtomicBool::new(false),
            syscalls,
            files: Mutex::new(None),
        }
    }

    /// Called by the server thread just before each waiting call.
    pub(crate) fn entering(&self) {
        let tid = nix::unistd::gettid().as_raw() as usize;
        self.tid.store(tid, Ordering::SeqCst);
        self.calls.fetch_add(1, Ordering::SeqCst);
    }

    /// The clients are done (or failed).
    pub(crate) fn leave(&self) {
        self.gone.store(true, Ordering::SeqCst);
    }

    pub(crate) fn gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    /// Waits until the server is asleep in its call number `after + 1` or a later one;
    /// returns that number.
    pub(crate) fn asleep_after(&self, after: usize) -> Result<usize, LiveError> {
        let deadline = Instant::now() + LIMIT;
        let mut files = match self.files.lock() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        loop {
            let n = self.calls.load(Ordering::SeqCst);
            let tid = self.tid.load(Ordering::SeqCst);
            if tid != 0 && files.as_ref().is_none_or(|f| f.tid != tid) {
                *files = Files::open(tid);
            }
            if n > after && files.as_ref().is_some_and(|f| f.asleep_in(self.syscalls)) {
                // Still the same call (the count did not move while we looked).
                if self.calls.load(Ordering::SeqCst) == n {
                    return Ok(n);
                }
            }
            if Instant::now() >= deadline {
                return Err(LiveError::Scenario(format!(
                    "the server did not go back to waiting within {} s",
                    LIMIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// A thread's `stat` and `syscall` files in `/proc`, opened once and read again from the
/// start each time (a seq file is made afresh at offset 0), so that watching opens no
/// descriptor while the server accepts: its accept() gets the lowest free number.
struct Files {
    tid: usize,
    stat: std::fs::File,
    /// None where the kernel does not show it (no CONFIG_HAVE_ARCH_TRACEHOOK): then asleep
    /// anywhere counts.
    syscall: Option<std::fs::File>,
}

impl Files {
    fn open(tid: usize) -> Option<Files> {
        let base = format!("/proc/self/task/{tid}");
        Some(Files {
            tid,
            stat: std::fs::File::open(format!("{base}/stat")).ok()?,
            syscall: std::fs::File::open(format!("{base}/syscall")).ok(),
        })
    }

    /// Whether the thread sleeps inside one of `syscalls`.
    fn asleep_in(&self, syscalls: &[i64]) -> bool {
        let Some(stat) = read_at_0(&self.stat) else {
            return false;
        };
        let sleeping = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            == Some("S");
        let Some(file) = &self.syscall else {
            return sleeping;
        };
        let call: Option<i64> = read_at_0(file)
            .and_then(|sys| sys.split_whitespace().next().and_then(|n| n.parse().ok()));
        sleeping && call.is_some_and(|c| syscalls.contains(&c))
    }
}

fn read_at_0(f: &std::fs::File) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 1024];
    let n = f.read_at(&mut buf, 0).ok()?;
    String::from_utf8(buf[..n].to_vec()).ok()
}

/// Whether thread `tid` of this process sleeps inside one of `syscalls`.
#[cfg(test)]
fn asleep_in(tid: usize, syscalls: &[i64]) -> bool {
    Files::open(tid).is_some_and(|f| f.asleep_in(syscalls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_asleep_in_select_is_seen_and_a_running_one_is_not() {
        let w = std::sync::Arc::new(Watch::new(SELECT));
        let w2 = w.clone();
        let h = std::thread::spawn(move || {
            w2.entering();
            // SAFETY: select with no sets and a timeout only sleeps.
            let mut tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 300_000,
            };
            unsafe {
                libc::select(
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut tv,
                )
            };
        });
        assert_eq!(w.asleep_after(0).unwrap(), 1);
        h.join().unwrap();
        let me = nix::unistd::gettid().as_raw() as usize;
        assert!(!asleep_in(me, SELECT));
    }
}
