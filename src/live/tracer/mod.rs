//! Traced socket calls: each does the real call (socket2/nix over kernel sockets) and records it
//! as an [`Event`], so a scenario reads like the C of the classic texts:
//!
//! ```ignore
//! let s = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
//! t.bind(&s, "127.0.0.1:0".parse()?)?;
//! t.listen(&s, 16)?;
//! let c = t.accept(&s)?;
//! ```
//!
//! Events go as JSON lines to one pipe shared by every thread and forked process of the run
//! (see [`crate::live::collect`]). A [`Tracer`] is cheap to clone and holds no lock a forked child
//! could need.

mod calls;
mod calls_addr;
mod calls_backlog;
mod calls_close;
mod calls_io;
pub mod calls_mux;
mod calls_opts;
mod calls_resolver;
mod calls_signals;
pub mod calls_threads;
mod calls_udp;
mod process;

use std::cell::Cell;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use socket2::{Domain, Socket, Type};

pub use calls_backlog::{drops_of_text, queue_of_text};
pub use calls_close::Queue;
pub use calls_io::StdFile;
pub use calls_opts::Counts;
pub use calls_resolver::{addrs_text, parse_addrs, Hostent};
pub use calls_signals::{Caught, Handler};
pub use calls_udp::DgramOpt;
pub use process::Child;

use super::event::{show_bytes, Event, Role, DATA_MAX};
use super::LiveError;

/// Called once by [`Tracer::ready`] with the ports bound so far: starts the capture.
pub type ReadyHook = Box<dyn FnOnce(&[u16]) -> Result<(), LiveError> + Send>;

/// Event lines longer than this are shortened (a pipe write up to PIPE_BUF = 4096 is atomic).
const LINE_MAX: usize = 4000;
/// Characters of payload shown in a call's arguments.
const PREVIEW: usize = 12;

/// A kernel socket and the side it belongs to.
pub struct Sock {
    sock: Socket,
    role: Role,
    local: Cell<Option<SocketAddr>>,
    peer: Cell<Option<SocketAddr>>,
}

impl Sock {
    fn new(sock: Socket, role: Role) -> Sock {
        Sock {
            sock,
            role,
            local: Cell::new(None),
            peer: Cell::new(None),
        }
    }

    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The local address, once bound or connected.
    pub fn local(&self) -> Option<SocketAddr> {
        self.local.get()
    }

    /// The peer, once connected or accepted.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer.get()
    }

    fn learn_local(&self) {
        if let Ok(a) = self.sock.local_addr() {
            self.local.set(a.as_socket());
        }
    }
}

/// Socket options the scenarios set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockOpt {
    TcpNodelay(bool),
    TcpQuickack(bool),
    ReuseAddr(bool),
}

/// Socket options the scenarios read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetOpt {
    TcpNodelay,
    ReuseAddr,
}

struct Shared {
    pipe: OwnedFd,
    /// The process that made the tracer; only it records ports and children.
    origin: u32,
    ports: Mutex<Vec<u16>>,
    ready: AtomicBool,
    hook: Mutex<Option<ReadyHook>>,
    children: Mutex<Vec<i32>>,
}

/// Records the calls of one run. Clone it into threads; forked children get their own copy.
#[derive(Clone)]
pub struct Tracer {
    shared: Arc<Shared>,
    /// Name of a forked process (`server child`), shown instead of the role.
    who: Option<&'static str>,
}

/// CLOCK_REALTIME in ns, the clock libpcap stamps packets with.
pub fn now() -> i128 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME) {
        Ok(t) => t.tv_sec() as i128 * 1_000_000_000 + t.tv_nsec() as i128,
        Err(_) => 0,
    }
}

/// The errno name of an I/O error (`ECONNREFUSED`), or its text when it has no errno.
pub fn errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("{:?}", nix::errno::Errno::from_raw(n)),
        None => e.to_string(),
    }
}

/// The C name of a socket domain (`AF_INET`), or `AF_?`.
pub(crate) fn domain_name(d: Domain) -> &'static str {
    if d == Domain::IPV4 {
        "AF_INET"
    } else if d == Domain::IPV6 {
        "AF_INET6"
    } else if d == Domain::UNIX {
        "AF_UNIX"
    } else {
        "AF_?"
    }
}

/// The C name of a socket type (`SOCK_STREAM`), or `SOCK_?`.
pub(crate) fn type_name(t: Type) -> &'static str {
    if t == Type::STREAM {
        "SOCK_STREAM"
    } else if t == Type::DGRAM {
        "SOCK_DGRAM"
    } else if t == Type::SEQPACKET {
        "SOCK_SEQPACKET"
    } else if t == Type::RAW {
        "SOCK_RAW"
    } else {
        "SOCK_?"
    }
}

/// The first bytes of a payload, escaped and quoted.
pub(crate) fn preview(data: &[u8]) -> String {
    let mut s = String::new();
    show_bytes(&mut s, data, PREVIEW);
    s
}

/// Views an initialised buffer as the `MaybeUninit` buffer socket2's receive calls take.
fn uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: MaybeUninit<u8> has the layout of u8, and the receive calls only write bytes.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

impl Tracer {
    /// A tracer writing events to `pipe`; `hook` starts the capture (see [`Tracer::ready`]).
    pub fn new(pipe: OwnedFd, hook: Option<ReadyHook>) -> Tracer {
        Tracer {
            shared: Arc::new(Shared {
                pipe,
                origin: std::process::id(),
                ports: Mutex::new(Vec::new()),
                ready: AtomicBool::new(false),
                hook: Mutex::new(hook),
                children: Mutex::new(Vec::new()),
            }),
            who: None,
        }
    }

    fn in_origin(&self) -> bool {
        std::process::id() == self.shared.origin
    }

    fn who(&self, role: Role) -> &'static str {
        self.who.unwrap_or(role.name())
    }

    /// Ports bound so far by the run's sockets.
    pub fn ports(&self) -> Vec<u16> {
        match self.shared.ports.lock() {
            Ok(p) => p.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Starts capturing the ports bound so far (the BPF filter names them). Call it once the
    /// servers are bound and before the first packet.
    pub fn ready(&self) -> Result<(), LiveError> {
        if !self.in_origin() {
            return Err(LiveError::Scenario(
                "ready() must be called before fork()".into(),
            ));
        }
        let hook = match self.shared.hook.lock() {
            Ok(mut h) => h.take(),
            Err(_) => None,
        };
        if let Some(hook) = hook {
            hook(&self.ports())?;
        }
        self.shared.ready.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Writes one event line to the pipe (one `write`, so lines from threads and processes
    /// never interleave).
    pub fn emit(&self, e: &mut Event) {
        e.pid = std::process::id();
        e.tid = nix::unistd::gettid().as_raw() as u32;
        let mut line = String::with_capacity(256);
        e.to_json(&mut line);
        if line.len() > LINE_MAX {
            if let Some(d) = e.data.as_mut() {
                d.truncate(16);
                e.data_cut = true;
            }
            if let Some(t) = e.text.as_mut() {
                let cut: String = t.chars().take(256).collect();
                *t = cut;
            }
            line.clear();
            e.to_json(&mut line);
        }
        if let Err(e) = write_all(&self.shared.pipe, line.as_bytes()) {
            // The collector is gone or the pipe broke: the timeline would miss this call.
            eprintln!("sockscope: an event could not be recorded ({e}): {line}");
        }
    }

    /// Writes the marker that tells the collector the run is over (the runner reports a run
    /// whose marker never arrived).
    pub fn end(&self) {
        if let Err(e) = write_all(&self.shared.pipe, b"{\"kind\":\"end\"}\n") {
            eprintln!("sockscope: the end of the event log could not be written: {e}");
        }
    }

    /// The event of a call that started at `start` and has just returned `r`: its return value
    /// (0) or errno; `fill` adds what a successful result says.
    #[allow(clippy::too_many_arguments)]
    fn call_event<T>(
        &self,
        role: Role,
        call: &str,
        fd: Option<RawFd>,
        args: String,
        start: i128,
        r: &io::Result<T>,
        fill: impl FnOnce(&T, &mut Event),
    ) -> Event {
        let end = now();
        let mut e = Event::new(role, self.who(role), call, start);
        e.end = end;
        e.fd = fd;
        e.args = args;
        match r {
            Ok(v) => {
                e.ret = Some(0);
                fill(v, &mut e);
            }
            Err(err) => {
                e.ret = Some(-1);
                e.errno = Some(errno_name(err));
            }
        }
        e
    }

    /// Records a finished call and turns its error into a [`LiveError`].
    #[allow(clippy::too_many_arguments)]
    fn finish<T>(
        &self,
        role: Role,
        call: &'static str,
        fd: Option<RawFd>,
        args: String,
        start: i128,
        r: io::Result<T>,
        fill: impl FnOnce(&T, &mut Event),
    ) -> Result<T, LiveError> {
        let mut e = self.call_event(role, call, fd, args, start, &r, fill);
        self.emit(&mut e);
        r.map_err(|source| LiveError::Call { call, source })
    }

    /// Records a call on `s` that a scenario makes itself, beyond the tracer's own calls (a raw
    /// `setsockopt`, a poll of `TCP_INFO`): one event like theirs, from `start` to now, with the
    /// socket's addresses and `r`'s return value (0) or errno; `fill` adds what a successful
    /// result says (its text). The caller keeps `r` and its error.
    pub fn record<T>(
        &self,
        s: &Sock,
        call: &str,
        args: String,
        start: i128,
        r: &io::Result<T>,
        fill: impl FnOnce(&T, &mut Event),
    ) {
        let mut e = self.call_event(s.role, call, Some(s.fd()), args, start, r, fill);
        Self::on_sock(&mut e, s);
        self.emit(&mut e);
    }

    fn on_sock(e: &mut Event, s: &Sock) {
        e.local = s.local();
        e.addr = s.peer();
    }

    fn with_data(e: &mut Event, data: &[u8]) {
        e.data = Some(data[..data.len().min(DATA_MAX)].to_vec());
        e.data_cut = data.len() > DATA_MAX;
    }

    /// What the program prints, e.g. `Message from server: Hello world!`.
    pub fn print(&self, role: Role, text: &str) {
        let mut e = Event::new(role, self.who(role), "print", now());
        e.text = Some(text.to_owned());
        self.emit(&mut e);
    }

    /// A section title in the timeline; `key` names the phase for the checks.
    pub fn mark(&self, key: &str, title: &str) {
        let mut e = Event::new(Role::Client, "", "mark", now());
        e.args = key.to_owned();
        e.text = Some(title.to_owned());
        self.emit(&mut e);
    }

    fn error_event(&self, role: Role, msg: &str) {
        let mut e = Event::new(role, self.who(role), "error", now());
        e.text = Some(msg.to_owned());
        self.emit(&mut e);
    }
}

fn write_all(fd: &OwnedFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match nix::unistd::write(fd.as_fd(), buf) {
            Ok(n) => buf = &buf[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
