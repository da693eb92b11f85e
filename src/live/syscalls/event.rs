//! A traced call, finished: its arguments decoded from the tracee's memory, its result, its
//! socket's addresses, as one [`Event`] filled as the in-process tracer fills it.

use std::io;
use std::net::SocketAddr;

use nix::libc;

use super::decode::{self, Addr};
use super::tracee::Session;
use super::{arch, procfs, Exit};
use crate::live::event::{Event, Role, DATA_MAX};
use crate::live::tracer::{errno_name, preview};

/// A call seen at its entry, waiting for its exit.
pub struct Pending {
    pub name: &'static str,
    pub args: [u64; 6],
    pub start: i128,
    /// The socket of the fd in `args[0]`, for calls on one.
    pub inode: Option<u64>,
    /// The socket fds a waiting call (poll, select, epoll_wait) waits on.
    pub fds: Vec<i64>,
    pub tid: i32,
    pub tgid: i32,
}

/// What the tracer learned about one socket (shared by every process that holds it).
#[derive(Debug, Default, Clone)]
pub struct SockInfo {
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    listened: bool,
    accepted: bool,
    dgram: bool,
    bound: bool,
    connected: bool,
    /// The addresses were looked up after a first data call (a UDP socket binds on its first
    /// send).
    seen_data: bool,
    /// The addresses were looked up at least once.
    looked: bool,
}

impl SockInfo {
    /// The server's side: listened on, accepted, or a datagram socket given an address with
    /// `bind` (and not connected).
    pub fn server(&self) -> bool {
        self.listened || self.accepted || (self.dgram && self.bound && !self.connected)
    }
}

fn is_data(name: &str) -> bool {
    matches!(
        name,
        "read"
            | "write"
            | "readv"
            | "writev"
            | "sendto"
            | "recvfrom"
            | "sendmsg"
            | "recvmsg"
            | "sendmmsg"
            | "recvmmsg"
    )
}

impl Session {
    /// Looks the addresses of socket `inode` (the tracee's `fd`) up: once more when `again`,
    /// else only if unknown.
    pub(super) fn addresses(&mut self, tgid: i32, fd: i64, inode: u64, again: bool) {
        let s = self.socks.entry(inode).or_default();
        if !again && s.looked {
            return;
        }
        s.looked = true;
        if let Some((local, peer)) = procfs::sock_names(tgid, fd) {
            s.local = local;
            s.peer = peer;
        } else if let Some((local, peer)) = procfs::inet_addrs(tgid, inode) {
            s.local = (local.port() != 0).then_some(local);
            s.peer = peer;
        }
    }

    fn sock(&mut self, inode: u64) -> &mut SockInfo {
        self.socks.entry(inode).or_default()
    }

    /// A call its process did not live to finish.
    pub(super) fn unfinished(&mut self, p: Pending, how: Exit) {
        let who = self.who(p.tgid);
        let mut e = Event::new(Role::Client, &who, p.name, p.start);
        e.end = crate::live::tracer::now();
        e.pid = p.tgid as u32;
        e.tid = p.tid as u32;
        e.fd = p.inode.map(|_| p.args[0] as i32);
        e.args = p.inode.map(|_| p.args[0].to_string()).unwrap_or_default();
        e.text = Some(match how {
            Exit::Code(c) => format!("(unfinished: the thread exited with {c})"),
            Exit::Signal(s) => format!("(unfinished: the thread was killed by signal {s})"),
        });
        self.events.push((e, p.inode));
    }

    /// The event of a call that returned `r` (its value, or its errno) at `end`.
    pub(super) fn finish(&mut self, p: Pending, r: Result<i64, i32>, end: i128) {
        let who = self.who(p.tgid);
        let (tid, a) = (p.tid, p.args);
        let mut e = Event::new(Role::Client, &who, p.name, p.start);
        e.end = end;
        e.pid = p.tgid as u32;
        e.tid = tid as u32;
        match r {
            Ok(v) => e.ret = Some(v),
            Err(errno) => {
                e.ret = Some(-1);
                e.errno = Some(match errno {
                    516 => "ERESTART_RESTARTBLOCK".to_owned(),
                    _ => errno_name(&io::Error::from_raw_os_error(errno)),
                });
            }
        }
        let n = r.ok();
        let mut inode = p.inode;
        if inode.is_some() {
            e.fd = Some(a[0] as i32);
        }
        let fd = a[0] as i32;
        let sockaddr = |ptr: u64, len: u64| -> Option<Addr> {
            decode::sockaddr(&procfs::read_mem(tid, ptr, len.min(128) as usize))
        };
        // A sockaddr the kernel wrote back, with its length at `lenp`.
        let returned = |ptr: u64, lenp: u64| -> Option<Addr> {
            let len = decode::u32_at(&procfs::read_mem(tid, lenp, 4), 0)?;
            sockaddr(ptr, len as u64)
        };
        let mut again = false;
        match p.name {
            "socket" => {
                e.args = format!(
                    "{}, {}, {}",
                    decode::domain(a[0]),
                    decode::sock_type(a[1]),
                    decode::protocol(a[2])
                );
                if let Some(fd) = n {
                    inode = procfs::socket_inode(tid, fd);
                    if let Some(i) = inode {
                        self.sock(i).dgram = a[1] & 0xf == libc::SOCK_DGRAM as u64;
                    }
                }
            }
            "socketpair" => {
                let sv = procfs::read_mem(tid, a[3], 8);
                let pair = match (decode::u32_at(&sv, 0), decode::u32_at(&sv, 4), n) {
                    (Some(x), Some(y), Some(_)) => format!("[{x}, {y}]"),
                    _ => "?".into(),
                };
                e.args = format!(
                    "{}, {}, {}, {pair}",
                    decode::domain(a[0]),
                    decode::sock_type(a[1]),
                    decode::protocol(a[2])
                );
            }
            "bind" | "connect" => {
                let to = sockaddr(a[1], a[2]);
                e.args = format!("{fd}, {}", show(&to));
                again = true;
                if p.name == "connect" {
                    e.addr = to.as_ref().and_then(Addr::inet);
                    if let Some(i) = inode.filter(|_| n.is_some()) {
                        self.sock(i).connected = true;
                    }
                } else if let Some(i) = inode.filter(|_| n.is_some()) {
                    self.sock(i).bound = true;
                }
            }
            "listen" => {
                e.args = format!("{fd}, {}", a[1] as i32);
                if let Some(i) = inode.filter(|_| n.is_some()) {
                    self.sock(i).listened = true;
                    again = true;
                }
            }
            "accept" | "accept4" => {
                e.args = fd.to_string();
                if p.name == "accept4" {
                    e.args.push_str(&format!(", {}", decode::sock_flags(a[3])));
                }
                if let Some(i) = inode {
                    self.sock(i).listened = true;
                }
                if let Some(new) = n {
                    let peer = returned(a[1], a[2]);
                    e.text = peer.as_ref().map(|p| format!("(from {p})"));
                    e.addr = peer.as_ref().and_then(Addr::inet);
                    // The event belongs to the new socket from here on.
                    inode = procfs::socket_inode(tid, new);
                    if let Some(i) = inode {
                        self.sock(i).accepted = true;
                        self.addresses(p.tgid, new, i, true);
                    }
                }
            }
            "write" | "sendto" | "writev" | "sendmsg" | "sendmmsg" => {
                let (data, len, flags, to) = Self::sent(tid, p.name, &a, n);
                e.args = format!("{fd}, {}, {len}", preview(&data));
                if let Some(f) = flags {
                    e.args.push_str(&format!(", {}", decode::msg_flags(f)));
                }
                if let Some(to) = &to {
                    e.args.push_str(&format!(", {to}"));
                    e.addr = to.inet();
                }
                if p.name == "sendmmsg" {
                    e.text = n.map(|m| format!("({m} messages; the first shown)"));
                }
                with_data(&mut e, data, n);
            }
            "read" | "recvfrom" | "readv" | "recvmsg" | "recvmmsg" => {
                let (data, len, flags, from) = Self::received(tid, p.name, &a, n);
                e.args = format!("{fd}, {len}");
                if let Some(f) = flags {
                    e.args.push_str(&format!(", {}", decode::msg_flags(f)));
                }
                if n.is_some() {
                    let mut text = if n == Some(0) && from.is_none() {
                        "(end of stream: the peer's FIN)".to_owned()
                    } else {
                        preview(&data)
                    };
                    if let Some(f) = &from {
                        text.push_str(&format!(" from {f}"));
                        e.addr = f.inet();
                    }
                    e.text = Some(text);
                }
                with_data(&mut e, data, n);
            }
            "shutdown" => e.args = format!("{fd}, {}", decode::how(a[1])),
            "setsockopt" => {
                let v = procfs::read_mem(tid, a[3], a[4].min(64) as usize);
                e.args = format!(
                    "{fd}, {}, {}",
                    decode::sockopt(a[1], a[2]),
                    decode::opt_value(&v)
                );
            }
            "getsockopt" => {
                e.args = format!("{fd}, {}", decode::sockopt(a[1], a[2]));
                if n.is_some() {
                    let len = decode::u32_at(&procfs::read_mem(tid, a[4], 4), 0).unwrap_or(0);
                    let v = procfs::read_mem(tid, a[3], len.min(64) as usize);
                    e.text = Some(format!("(value {})", decode::opt_value(&v)));
                }
            }
            "getsockname" | "getpeername" => {
                e.args = fd.to_string();
                if n.is_some() {
                    let got = returned(a[1], a[2]);
                    e.text = got.as_ref().map(|g| match g {
                        Addr::Unnamed => g.to_string(),
                        _ => format!("({g})"),
                    });
                    again = true;
                }
            }
            "close" => e.args = fd.to_string(),
            "poll" | "ppoll" => {
                let b = procfs::read_mem(tid, a[0], (a[1].min(1024) * 8) as usize);
                let entries = |field: usize| -> String {
                    b.chunks_exact(8)
                        .filter_map(|c| {
                            let fd = decode::u32_at(c, 0)? as i32;
                            let ev = u16::from_ne_bytes([c[field], c[field + 1]]);
                            (field == 4 || ev != 0)
                                .then(|| format!("{fd} {}", decode::poll_events(ev.into())))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                e.args = format!("[{}], {}", entries(4), a[1]);
                if p.name == "poll" {
                    e.args.push_str(&format!(", {}", a[2] as i32));
                }
                if n.is_some_and(|k| k > 0) {
                    e.text = Some(format!("([{}])", entries(6)));
                }
            }
            _ => {
                // select, pselect6, epoll_wait, epoll_pwait: what they wait on.
                let fds: Vec<String> = p.fds.iter().map(|f| f.to_string()).collect();
                e.args = format!("{}, sockets [{}]", a[0] as i32, fds.join(", "));
            }
        }
        if let Some(i) = inode {
            let first_data = is_data(p.name) && !self.sock(i).seen_data;
            if first_data {
                self.sock(i).seen_data = true;
            }
            if p.name != "close" {
                self.addresses(p.tgid, a[0] as i64, i, again || first_data);
            }
            let s = self.sock(i);
            e.local = s.local;
            if e.addr.is_none() {
                e.addr = s.peer;
            }
            if p.name == "bind" {
                e.local = s.local;
                e.text = s.local.map(|l| format!("(port {})", l.port()));
            }
        }
        self.events.push((e, inode));
    }

    /// A send's first bytes, its length, its flags and where to (for sendto and sendmsg).
    fn sent(
        tid: i32,
        name: &str,
        a: &[u64; 6],
        n: Option<i64>,
    ) -> (Vec<u8>, u64, Option<u64>, Option<Addr>) {
        // A failed send shows the start of what it tried to send.
        let take = n.map_or(16, |n| n.clamp(0, DATA_MAX as i64 + 1)) as usize;
        let buf = |ptr: u64, len: u64| procfs::read_mem(tid, ptr, take.min(len as usize));
        match name {
            "write" => (buf(a[1], a[2]), a[2], None, None),
            "sendto" => {
                let to = (a[4] != 0)
                    .then(|| decode::sockaddr(&procfs::read_mem(tid, a[4], a[5].min(128) as usize)))
                    .flatten();
                (buf(a[1], a[2]), a[2], Some(a[3]), to)
            }
            "writev" => {
                let (d, len) = gather(tid, a[1], a[2], take);
                (d, len, None, None)
            }
            _ => {
                let (d, len, to) = message(tid, a[1], take);
                (
                    d,
                    len,
                    Some(if name == "sendmsg" { a[2] } else { a[3] }),
                    to,
                )
            }
        }
    }

    /// A receive's first bytes, the buffer's length, its flags and where from.
    fn received(
        tid: i32,
        name: &str,
        a: &[u64; 6],
        n: Option<i64>,
    ) -> (Vec<u8>, u64, Option<u64>, Option<Addr>) {
        let take = n.unwrap_or(0).clamp(0, DATA_MAX as i64 + 1) as usize;
        match name {
            "read" => (procfs::read_mem(tid, a[1], take), a[2], None, None),
            "recvfrom" => {
                let from = (a[4] != 0 && n.is_some())
                    .then(|| {
                        let len = decode::u32_at(&procfs::read_mem(tid, a[5], 4), 0)?;
                        decode::sockaddr(&procfs::read_mem(tid, a[4], len.min(128) as usize))
                    })
                    .flatten();
                (procfs::read_mem(tid, a[1], take), a[2], Some(a[3]), from)
            }
            "readv" => {
                let (d, len) = gather(tid, a[1], a[2], take);
                (d, len, None, None)
            }
            _ => {
                let (d, len, from) = message(tid, a[1], take);
                let from = from.filter(|_| n.is_some());
                (
                    d,
                    len,
                    Some(if name == "recvmsg" { a[2] } else { a[3] }),
                    from,
                )
            }
        }
    }
}

/// `"data"`-style rendering of an optional address.
fn show(a: &Option<Addr>) -> String {
    a.as_ref().map_or_else(|| "?".into(), |a| a.to_string())
}

/// Keeps the first [`DATA_MAX`] bytes of what a call moved (`n`).
fn with_data(e: &mut Event, mut data: Vec<u8>, n: Option<i64>) {
    if n.is_none() {
        return;
    }
    e.data_cut = data.len() > DATA_MAX;
    data.truncate(DATA_MAX);
    e.data = Some(data);
}

/// The first `take` bytes of an iovec array, and the total length it describes.
fn gather(tid: i32, iov: u64, count: u64, take: usize) -> (Vec<u8>, u64) {
    let b = procfs::read_mem(tid, iov, count.min(64) as usize * arch::IOVEC_SIZE);
    let mut data = Vec::new();
    let mut total = 0u64;
    for v in b.chunks_exact(arch::IOVEC_SIZE) {
        let (Some(base), Some(len)) = (decode::u64_at(v, 0), decode::u64_at(v, 8)) else {
            break;
        };
        total = total.saturating_add(len);
        let want = take.saturating_sub(data.len()).min(len as usize);
        if want > 0 {
            data.extend(procfs::read_mem(tid, base, want));
        }
    }
    (data, total)
}

/// A `msghdr`'s (or the first `mmsghdr`'s) bytes, length and address.
fn message(tid: i32, msg: u64, take: usize) -> (Vec<u8>, u64, Option<Addr>) {
    let h = procfs::read_mem(tid, msg, arch::MSGHDR_SIZE);
    let name = decode::u64_at(&h, arch::MSG_NAME).unwrap_or(0);
    let namelen = decode::u32_at(&h, arch::MSG_NAMELEN).unwrap_or(0);
    let iov = decode::u64_at(&h, arch::MSG_IOV).unwrap_or(0);
    let iovlen = decode::u64_at(&h, arch::MSG_IOVLEN).unwrap_or(0);
    let (data, len) = gather(tid, iov, iovlen, take);
    let addr = (name != 0 && namelen > 0)
        .then(|| decode::sockaddr(&procfs::read_mem(tid, name, namelen.min(128) as usize)))
        .flatten();
    (data, len, addr)
}
