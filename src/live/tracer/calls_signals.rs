//! Signals as the classic texts use them around blocking socket calls: `sigaction` with or
//! without SA_RESTART, `alarm`, and the texts' two handlers (`read_childproc`, which reaps a
//! child with one `waitpid(-1, &status, WNOHANG)`, and `timeout`, for SIGALRM), whose runs are
//! logged and shown as events at the times they happened.
//!
//! For a single-threaded process (a forked scenario process): a signal for the process then
//! interrupts the one thread, the one blocked in the socket call. The handlers do only
//! async-signal-safe work (clock_gettime, waitpid, stores to atomics); [`Tracer::handled`]
//! turns the log into events afterwards. The handler completes before the code it interrupted
//! goes on, so everything below the published length is whole when that code reads it.

use std::io;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicUsize, Ordering};

use nix::libc;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

use super::{now, Tracer};
use crate::live::event::{Event, Role};
use crate::live::LiveError;

/// The classic texts' handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// For SIGCHLD: `waitpid(-1, &status, WNOHANG)` once, and the pid it reaped.
    ReadChildproc,
    /// For SIGALRM: notes the time out.
    Timeout,
}

impl Handler {
    pub fn signal(self) -> Signal {
        match self {
            Handler::ReadChildproc => Signal::SIGCHLD,
            Handler::Timeout => Signal::SIGALRM,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Handler::ReadChildproc => "read_childproc",
            Handler::Timeout => "timeout",
        }
    }
}

/// One run of a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caught {
    pub signal: Signal,
    pub start: i128,
    pub end: i128,
    /// SIGCHLD: what waitpid returned (the pid reaped, 0, or -1) and the status.
    pub reaped: i32,
    pub status: i32,
}

const SLOTS: usize = 32;

struct Slot {
    signo: AtomicI32,
    start: AtomicI64,
    end: AtomicI64,
    reaped: AtomicI32,
    status: AtomicI32,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            signo: AtomicI32::new(0),
            start: AtomicI64::new(0),
            end: AtomicI64::new(0),
            reaped: AtomicI32::new(0),
            status: AtomicI32::new(0),
        }
    }
}

static LOG: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
static LEN: AtomicUsize = AtomicUsize::new(0);
/// Entries already shown as events.
static SHOWN: AtomicUsize = AtomicUsize::new(0);

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

fn log(signo: i32, start: i64, reaped: i32, status: i32) {
    let i = LEN.load(Ordering::SeqCst);
    if let Some(s) = LOG.get(i) {
        s.signo.store(signo, Ordering::SeqCst);
        s.start.store(start, Ordering::SeqCst);
        s.reaped.store(reaped, Ordering::SeqCst);
        s.status.store(status, Ordering::SeqCst);
        s.end.store(clock(), Ordering::SeqCst);
        LEN.store(i + 1, Ordering::SeqCst);
    }
}

extern "C" fn read_childproc(sig: libc::c_int) {
    // SAFETY: errno is saved and restored around the handler, as a handler must.
    let saved = unsafe { *libc::__errno_location() };
    let start = clock();
    let mut status: libc::c_int = 0;
    // SAFETY: waitpid is async-signal-safe; `status` is a valid int.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    log(sig, start, pid, status);
    // SAFETY: see above.
    unsafe { *libc::__errno_location() = saved };
}

extern "C" fn timeout(sig: libc::c_int) {
    log(sig, clock(), 0, 0);
}

impl Tracer {
    /// `sigaction(sig, {handler, sa_flags})`: the handler for its signal, with SA_RESTART or
    /// without (the classic texts' `sa_flags = 0`: a blocking call the signal interrupts
    /// returns -1 with EINTR).
    pub fn sigaction(&self, role: Role, h: Handler, restart: bool) -> Result<(), LiveError> {
        let start = now();
        LEN.store(0, Ordering::SeqCst);
        SHOWN.store(0, Ordering::SeqCst);
        let f: extern "C" fn(libc::c_int) = match h {
            Handler::ReadChildproc => read_childproc,
            Handler::Timeout => timeout,
        };
        let flags = if restart {
            SaFlags::SA_RESTART
        } else {
            SaFlags::empty()
        };
        let act = SigAction::new(SigHandler::Handler(f), flags, SigSet::empty());
        // SAFETY: both handlers are async-signal-safe (see the module comment).
        let r = unsafe { sigaction(h.signal(), &act) }
            .map(|_| ())
            .map_err(io::Error::from);
        let args = format!(
            "{}, {{{}, sa_flags {}}}",
            h.signal().as_str(),
            h.name(),
            if restart { "SA_RESTART" } else { "0" }
        );
        self.finish(role, "sigaction", None, args, start, r, |_, _| {})
    }

    /// `alarm(secs)`: SIGALRM in `secs` seconds (0 cancels); returns the seconds that were
    /// left of the previous alarm, rounded as the kernel rounds them.
    pub fn alarm(&self, role: Role, secs: u32) -> u32 {
        let start = now();
        // SAFETY: alarm has no memory arguments and cannot fail.
        let left = unsafe { libc::alarm(secs) };
        let r: io::Result<u32> = Ok(left);
        let mut e = self.call_event(role, "alarm", None, secs.to_string(), start, &r, |n, e| {
            e.ret = Some(i64::from(*n));
        });
        self.emit(&mut e);
        left
    }

    /// The handler runs not shown yet, each shown now as a `handler` event at the time it ran
    /// (`handler(SIGCHLD → read_childproc)`), followed for `read_childproc` by its `waitpid`
    /// and the texts' `removed proc id: N`, for `timeout` by `Time out!`.
    pub fn handled(&self, role: Role) -> Vec<Caught> {
        let from = SHOWN.load(Ordering::SeqCst);
        let n = LEN.load(Ordering::SeqCst).min(SLOTS);
        let mut out = Vec::new();
        for s in &LOG[from.min(n)..n] {
            let Ok(signal) = Signal::try_from(s.signo.load(Ordering::SeqCst)) else {
                continue;
            };
            out.push(Caught {
                signal,
                start: i128::from(s.start.load(Ordering::SeqCst)),
                end: i128::from(s.end.load(Ordering::SeqCst)),
                reaped: s.reaped.load(Ordering::SeqCst),
                status: s.status.load(Ordering::SeqCst),
            });
        }
        SHOWN.store(n, Ordering::SeqCst);
        for c in &out {
            let name = match c.signal {
                Signal::SIGCHLD => Handler::ReadChildproc.name(),
                _ => Handler::Timeout.name(),
            };
            let who = self.who(role);
            let mut e = Event::new(role, who, "handler", c.start);
            e.end = c.end;
            e.args = format!("{} → {name}", c.signal.as_str());
            self.emit(&mut e);
            if c.signal == Signal::SIGCHLD {
                let mut w = Event::new(role, who, "waitpid", c.start);
                w.end = c.end;
                w.args = "-1, &status, WNOHANG".into();
                w.ret = Some(i64::from(c.reaped));
                if c.reaped > 0 {
                    w.text = Some(format!("(exited {})", (c.status >> 8) & 0xff));
                }
                self.emit(&mut w);
            }
            let mut p = Event::new(role, who, "print", c.end);
            p.text = Some(if c.signal == Signal::SIGCHLD {
                format!("removed proc id: {}", c.reaped)
            } else {
                "Time out!".to_owned()
            });
            self.emit(&mut p);
        }
        out
    }
}
