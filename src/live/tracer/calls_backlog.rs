//! Traced looks at a listening socket's queues and at a connection's unacknowledged bytes:
//! `getsockopt(TCP_INFO)` on a listener (its accept queue and backlog), `getsockopt(SO_MEMINFO)`
//! (the SYNs it dropped), and waits on either, each recorded as one event.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::time::{Duration, Instant};

use nix::libc::{self, c_int, c_void, socklen_t};

use super::{now, Sock, Tracer};
use crate::live::event::Event;
use crate::live::LiveError;

/// `SO_MEMINFO` (asm-generic, x86 and ARM; not in the libc crate's top level).
const SO_MEMINFO: c_int = 55;
/// Entries of the `SO_MEMINFO` array (`SK_MEMINFO_VARS`).
const MEMINFO_VARS: usize = 9;

/// `getsockopt(fd, level, name)` into a zeroed `T`.
fn raw_get<T: Copy>(fd: c_int, level: c_int, name: c_int) -> io::Result<T> {
    let mut v = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as socklen_t;
    // SAFETY: `v` has room for `len` bytes; the kernel writes at most `len` and says how many.
    let r = unsafe { libc::getsockopt(fd, level, name, v.as_mut_ptr().cast::<c_void>(), &mut len) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed plain data (integers), possibly partly overwritten by the kernel.
    Ok(unsafe { v.assume_init() })
}

/// A listener's accept queue: connections whose handshake is done and that no accept() has
/// taken yet, and the most it holds before it counts as full (the backlog given to listen()).
fn listen_queue_of(fd: c_int) -> io::Result<(u32, u32)> {
    // On a listening socket the kernel puts sk_ack_backlog in tcpi_unacked and
    // sk_max_ack_backlog in tcpi_sacked.
    let i: libc::tcp_info = raw_get(fd, libc::IPPROTO_TCP, libc::TCP_INFO)?;
    Ok((i.tcpi_unacked, i.tcpi_sacked))
}

/// Packets the socket dropped (SK_MEMINFO_DROPS; on a listener, the SYNs it refused to queue).
fn drops_of(fd: c_int) -> io::Result<u32> {
    let m: [u32; MEMINFO_VARS] = raw_get(fd, libc::SOL_SOCKET, SO_MEMINFO)?;
    Ok(m[libc::SK_MEMINFO_DROPS as usize])
}

/// Segments sent and not yet acknowledged (tcpi_unacked of a connected socket).
fn unacked_of(fd: c_int) -> io::Result<u32> {
    let i: libc::tcp_info = raw_get(fd, libc::IPPROTO_TCP, libc::TCP_INFO)?;
    Ok(i.tcpi_unacked)
}

/// The text of a listener's queue: `(accept queue 2, backlog 1)`.
pub fn queue_text(queued: u32, backlog: u32) -> String {
    format!("(accept queue {queued}, backlog {backlog})")
}

/// The numbers of [`queue_text`] read back from an event.
pub fn queue_of_text(t: &str) -> Option<(u32, u32)> {
    let rest = t.strip_prefix("(accept queue ")?.strip_suffix(')')?;
    let (q, b) = rest.split_once(", backlog ")?;
    Some((q.parse().ok()?, b.parse().ok()?))
}

/// The text of a listener's drop count: `(dropped 1)`.
pub fn drops_text(n: u32) -> String {
    format!("(dropped {n})")
}

/// The number of [`drops_text`] read back from an event.
pub fn drops_of_text(t: &str) -> Option<u32> {
    t.strip_prefix("(dropped ")?.strip_suffix(')')?.parse().ok()
}

impl Tracer {
    /// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)` on a listener: how many connections wait in its
    /// accept queue, and its backlog.
    pub fn listen_queue(&self, s: &Sock) -> Result<(u32, u32), LiveError> {
        let start = now();
        let r = listen_queue_of(s.fd());
        let args = format!("{}, IPPROTO_TCP, TCP_INFO", s.fd());
        self.record(s, "getsockopt", args, start, &r, |&(q, b), e| {
            e.text = Some(queue_text(q, b));
        });
        r.map_err(|source| LiveError::Call {
            call: "getsockopt",
            source,
        })
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_MEMINFO)`: the packets the socket dropped.
    pub fn drops(&self, s: &Sock) -> Result<u32, LiveError> {
        let start = now();
        let r = drops_of(s.fd());
        let args = format!("{}, SOL_SOCKET, SO_MEMINFO", s.fd());
        self.record(s, "getsockopt", args, start, &r, |&n, e| {
            e.text = Some(drops_text(n));
        });
        r.map_err(|source| LiveError::Call {
            call: "getsockopt",
            source,
        })
    }

    /// Waits until the listener `s` has dropped at least `n` packets (polling SO_MEMINFO every
    /// 100 µs), as one `wait` event.
    pub fn wait_drops(&self, s: &Sock, n: u32, limit: Duration) -> Result<(), LiveError> {
        let what = format!("fd {} has dropped {n} SYN(s) (SO_MEMINFO)", s.fd());
        self.poll_until(s, what, limit, || {
            let d = drops_of(s.fd())?;
            Ok((d >= n, drops_text(d)))
        })
    }

    /// Waits until every byte written on `s` is acknowledged (TCP_INFO's tcpi_unacked is 0),
    /// as one `wait` event.
    pub fn wait_acked(&self, s: &Sock, limit: Duration) -> Result<(), LiveError> {
        let what = format!("fd {}: every byte sent is acknowledged (TCP_INFO)", s.fd());
        self.poll_until(s, what, limit, || {
            let u = unacked_of(s.fd())?;
            Ok((u == 0, format!("{u} segment(s) unacknowledged")))
        })
    }

    fn poll_until(
        &self,
        s: &Sock,
        what: String,
        limit: Duration,
        mut done: impl FnMut() -> io::Result<(bool, String)>,
    ) -> Result<(), LiveError> {
        let start = now();
        let deadline = Instant::now() + limit;
        let (ok, text) = loop {
            let (ok, text) = done().map_err(LiveError::Io)?;
            if ok || Instant::now() >= deadline {
                break (ok, text);
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        let mut e = Event::new(s.role(), self.who(s.role()), "wait", start);
        e.end = now();
        e.fd = Some(s.fd());
        e.ret = Some(0);
        Self::on_sock(&mut e, s);
        e.args = what;
        e.text = Some(text);
        self.emit(&mut e);
        if ok {
            Ok(())
        } else {
            Err(LiveError::Scenario(format!(
                "waited {} ms in vain until {}",
                limit.as_millis(),
                e.args
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_read_back() {
        assert_eq!(queue_of_text(&queue_text(2, 1)), Some((2, 1)));
        assert_eq!(drops_of_text(&drops_text(3)), Some(3));
        assert_eq!(queue_of_text("(value 2)"), None);
        assert_eq!(drops_of_text("(dropped x)"), None);
    }

    /// A real listener: nothing queued, its backlog as given, nothing dropped.
    #[test]
    fn a_fresh_listener_has_an_empty_queue() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        use std::os::fd::AsRawFd;
        let (q, b) = listen_queue_of(l.as_raw_fd()).expect("TCP_INFO");
        assert_eq!(q, 0);
        assert!(b > 0, "std's listen() backlog");
        assert_eq!(drops_of(l.as_raw_fd()).expect("SO_MEMINFO"), 0);
    }
}
