//! What `oob`'s receiver needs beyond the tracer: the book's SIGURG handler, which fetches the
//! urgent byte with `recv(…, MSG_OOB)`, and a log of what it did.
//!
//! The handler runs in the middle of whatever the process was doing, so it does only
//! async-signal-safe work: recv, clock_gettime, write (one byte down a pipe, telling the sender
//! that the signal came) and stores to atomics. The book's handler prints; printf is not safe
//! there, so the receiver turns the log into events (and the book's lines) after its next
//! call returns, at the times the handler recorded.

use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, AtomicUsize, Ordering};

use nix::libc;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// The book's BUF_SIZE: the handler asks for `BUF_SIZE - 1` bytes.
pub(super) const BUF_SIZE: usize = 30;
/// The byte the handler writes to the sender each time it ran.
pub(super) const SIGNALLED: u8 = b'u';
/// Handler runs the log can hold.
const SLOTS: usize = 16;

struct Slot {
    start: AtomicI64,
    end: AtomicI64,
    ret: AtomicI64,
    errno: AtomicI32,
    /// The first bytes received (up to 8), little-endian.
    bytes: AtomicU64,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            start: AtomicI64::new(0),
            end: AtomicI64::new(0),
            ret: AtomicI64::new(0),
            errno: AtomicI32::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

static LOG: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
static LEN: AtomicUsize = AtomicUsize::new(0);
/// The connected socket the handler reads (the book's global `recv_sock`), -1 for none.
static RECV_SOCK: AtomicI32 = AtomicI32::new(-1);
/// The pipe on which the handler tells the sender that it ran, -1 for none.
static TELL: AtomicI32 = AtomicI32::new(-1);

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

/// The book's `urg_handler`: `recv(recv_sock, buf, sizeof(buf) - 1, MSG_OOB)`.
extern "C" fn urg_handler(_sig: libc::c_int) {
    // SAFETY: reading and restoring errno around the handler, as a handler must.
    let saved = unsafe { *libc::__errno_location() };
    let fd = RECV_SOCK.load(Ordering::SeqCst);
    let mut buf = [0u8; BUF_SIZE];
    let start = clock();
    // SAFETY: recv is async-signal-safe; `buf` is valid for BUF_SIZE - 1 bytes.
    let ret = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr() as *mut libc::c_void,
            BUF_SIZE - 1,
            libc::MSG_OOB,
        )
    };
    // SAFETY: as above.
    let errno = if ret < 0 {
        unsafe { *libc::__errno_location() }
    } else {
        0
    };
    let end = clock();
    let i = LEN.load(Ordering::SeqCst);
    if let Some(s) = LOG.get(i) {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[..8]);
        s.start.store(start, Ordering::SeqCst);
        s.end.store(end, Ordering::SeqCst);
        s.ret.store(ret as i64, Ordering::SeqCst);
        s.errno.store(errno, Ordering::SeqCst);
        s.bytes.store(u64::from_le_bytes(b), Ordering::SeqCst);
        LEN.store(i + 1, Ordering::SeqCst);
    }
    let tell = TELL.load(Ordering::SeqCst);
    if tell >= 0 {
        // SAFETY: write is async-signal-safe; one byte from a static.
        let _ = unsafe { libc::write(tell, [SIGNALLED].as_ptr() as *const libc::c_void, 1) };
    }
    // SAFETY: see above.
    unsafe { *libc::__errno_location() = saved };
}

/// `sigaction(SIGURG, {urg_handler, sa_flags 0})`, as the book installs it (no SA_RESTART: a
/// blocking recv() the signal interrupts fails with EINTR). `tell`: the pipe to the sender.
pub(super) fn install(tell: i32) -> nix::Result<()> {
    LEN.store(0, Ordering::SeqCst);
    TELL.store(tell, Ordering::SeqCst);
    let act = SigAction::new(
        SigHandler::Handler(urg_handler),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler is async-signal-safe (see the module comment).
    unsafe { sigaction(Signal::SIGURG, &act) }.map(|_| ())
}

/// The socket the handler reads from now on.
pub(super) fn handle(fd: i32) {
    RECV_SOCK.store(fd, Ordering::SeqCst);
}

/// One run of the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Urg {
    pub(super) start: i128,
    pub(super) end: i128,
    pub(super) ret: i64,
    pub(super) errno: i32,
    /// What it received (at most 8 bytes).
    pub(super) data: Vec<u8>,
}

/// The handler's runs from `from` on. A run that is writing its entry as this reads is left
/// for the next call (LEN is stored last).
pub(super) fn log_from(from: usize) -> Vec<Urg> {
    let n = LEN.load(Ordering::SeqCst).min(SLOTS);
    (from..n)
        .map(|i| {
            let s = &LOG[i];
            let ret = s.ret.load(Ordering::SeqCst);
            let b = s.bytes.load(Ordering::SeqCst).to_le_bytes();
            Urg {
                start: s.start.load(Ordering::SeqCst) as i128,
                end: s.end.load(Ordering::SeqCst) as i128,
                ret,
                errno: s.errno.load(Ordering::SeqCst),
                data: b[..(ret.max(0) as usize).min(8)].to_vec(),
            }
        })
        .collect()
}
