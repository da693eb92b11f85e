//! Multiplexing calls: `select()` with its fd sets before and after, `epoll`, and the `fcntl`
//! and `ioctl` calls a non-blocking reader makes. Each does the real call (libc) and records
//! it as one event, as the calls in `calls.rs` do.
//!
//! A call that waits on several sockets (`select`, `epoll_wait`) names no socket of its own
//! (`fd` is None): the ladder places it on the conversations its thread takes part in.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::libc;

use super::{now, Sock, Tracer};
use crate::live::event::Role;
use crate::live::LiveError;

/// A set of descriptors as the C text writes it: `{3 5 6}`, `{}` when empty.
pub fn set_text(fds: &[RawFd]) -> String {
    let inner: Vec<String> = fds.iter().map(|f| f.to_string()).collect();
    format!("{{{}}}", inner.join(" "))
}

/// A `struct timeval` as `{seconds.microseconds}`: `{0.100000}`.
pub fn timeval_text(d: Duration) -> String {
    format!("{{{}.{:06}}}", d.as_secs(), d.subsec_micros())
}

/// Reads back [`set_text`]: `{3 5}` → `[3, 5]`.
pub fn parse_set(s: &str) -> Option<Vec<RawFd>> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    inner.split_whitespace().map(|f| f.parse().ok()).collect()
}

/// Reads back [`timeval_text`]: `{0.100000}` → 100 ms.
pub fn parse_timeval(s: &str) -> Option<Duration> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let (secs, micros) = inner.split_once('.')?;
    if micros.len() != 6 {
        return None;
    }
    let secs: u64 = secs.parse().ok()?;
    let micros: u64 = micros.parse().ok()?;
    Some(Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// The names of an epoll event mask: `EPOLLIN|EPOLLET`.
pub fn epoll_text(events: u32) -> String {
    const NAMES: [(libc::c_int, &str); 6] = [
        (libc::EPOLLIN, "EPOLLIN"),
        (libc::EPOLLOUT, "EPOLLOUT"),
        (libc::EPOLLRDHUP, "EPOLLRDHUP"),
        (libc::EPOLLERR, "EPOLLERR"),
        (libc::EPOLLHUP, "EPOLLHUP"),
        (libc::EPOLLET, "EPOLLET"),
    ];
    let mut names: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| events & (*bit as u32) != 0)
        .map(|(_, n)| *n)
        .collect();
    let known = NAMES.iter().fold(0u32, |a, (bit, _)| a | *bit as u32);
    let rest = events & !known;
    let extra = format!("{rest:#x}");
    if rest != 0 {
        names.push(&extra);
    }
    if names.is_empty() {
        "0".to_owned()
    } else {
        names.join("|")
    }
}

/// An epoll instance (its descriptor), made by [`Tracer::epoll_create`].
pub struct Epoll {
    fd: OwnedFd,
    role: Role,
}

impl Epoll {
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// One ready descriptor that `epoll_wait` returned: its fd and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub fd: RawFd,
    pub events: u32,
}

/// The result of a libc call that returns -1 and sets errno on failure.
fn checked(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Tracer {
    /// `select(nfds, &reads, 0, 0, &timeout)`: waits until a descriptor of `reads` is
    /// readable or the timeout passes. As in C, both are written back: `reads` keeps only the
    /// ready descriptors and `timeout` holds the time left (Linux does this; a loop must set
    /// both again before the next call). The event shows the set and the timeout before (its
    /// arguments) and after (its result).
    pub fn select(
        &self,
        role: Role,
        nfds: i32,
        reads: &mut Vec<RawFd>,
        timeout: &mut Duration,
    ) -> Result<usize, LiveError> {
        if let Some(bad) = reads
            .iter()
            .find(|&&f| f < 0 || f >= nfds || f as usize >= libc::FD_SETSIZE)
        {
            return Err(LiveError::Scenario(format!(
                "select: fd {bad} does not fit an fd_set of {nfds}"
            )));
        }
        // SAFETY: fd_set is plain data; FD_ZERO initialises it.
        let mut set: libc::fd_set = unsafe { std::mem::zeroed() };
        // SAFETY: every fd was checked to lie in 0..FD_SETSIZE above.
        unsafe {
            libc::FD_ZERO(&mut set);
            for &f in reads.iter() {
                libc::FD_SET(f, &mut set);
            }
        }
        let mut tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        let args = format!(
            "{nfds}, {}, 0, 0, {}",
            set_text(reads),
            timeval_text(*timeout)
        );
        let start = now();
        // SAFETY: `set` and `tv` are valid for the call; the other sets are NULL.
        let r = checked(unsafe {
            libc::select(
                nfds,
                &mut set,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut tv,
            )
        });
        if r.is_ok() {
            // SAFETY: as above; FD_ISSET only reads the set.
            reads.retain(|&f| unsafe { libc::FD_ISSET(f, &set) });
            *timeout = Duration::from_secs(tv.tv_sec.max(0) as u64)
                + Duration::from_micros(tv.tv_usec.max(0) as u64);
        }
        let after = format!(
            "{} timeout left {}",
            set_text(reads),
            timeval_text(*timeout)
        );
        self.finish(role, "select", None, args, start, r, |&n, e| {
            e.ret = Some(n as i64);
            e.text = Some(after);
        })
        .map(|n| n as usize)
    }

    /// `epoll_create(size)`: a new epoll instance (the size is a hint the kernel ignores).
    pub fn epoll_create(&self, role: Role, size: i32) -> Result<Epoll, LiveError> {
        let start = now();
        // SAFETY: epoll_create takes no pointer.
        let r = checked(unsafe { libc::epoll_create(size) }).map(|fd| {
            // SAFETY: the kernel has just given us this descriptor; nothing else owns it.
            unsafe { OwnedFd::from_raw_fd(fd) }
        });
        self.finish(
            role,
            "epoll_create",
            None,
            size.to_string(),
            start,
            r,
            |fd, e| {
                e.ret = Some(fd.as_raw_fd() as i64);
            },
        )
        .map(|fd| Epoll { fd, role })
    }

    /// `epoll_ctl(epfd, EPOLL_CTL_ADD, fd, {events, data.fd = fd})`.
    pub fn epoll_add(&self, ep: &Epoll, s: &Sock, events: u32) -> Result<(), LiveError> {
        self.epoll_ctl(ep, s, libc::EPOLL_CTL_ADD, "EPOLL_CTL_ADD", events)
    }

    /// `epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL)`.
    pub fn epoll_del(&self, ep: &Epoll, s: &Sock) -> Result<(), LiveError> {
        self.epoll_ctl(ep, s, libc::EPOLL_CTL_DEL, "EPOLL_CTL_DEL", 0)
    }

    fn epoll_ctl(
        &self,
        ep: &Epoll,
        s: &Sock,
        op: libc::c_int,
        name: &str,
        events: u32,
    ) -> Result<(), LiveError> {
        let mut ev = libc::epoll_event {
            events,
            u64: s.fd() as u64,
        };
        let args = if op == libc::EPOLL_CTL_DEL {
            format!("{}, {name}, {}, NULL", ep.fd(), s.fd())
        } else {
            format!(
                "{}, {name}, {}, {{{}}}",
                ep.fd(),
                s.fd(),
                epoll_text(events)
            )
        };
        let start = now();
        // SAFETY: `ev` is a valid epoll_event for the call.
        let r = checked(unsafe { libc::epoll_ctl(ep.fd(), op, s.fd(), &mut ev) });
        self.finish(s.role, "epoll_ctl", Some(s.fd()), args, start, r, |_, e| {
            Self::on_sock(e, s)
        })
        .map(|_| ())
    }

    /// `epoll_wait(epfd, events, max, timeout_ms)`: the ready descriptors (each registered
    /// with its own fd as data), none when the timeout passed first. The event's result lists
    /// them with their events: `{5 EPOLLIN}`.
    pub fn epoll_wait(
        &self,
        ep: &Epoll,
        max: usize,
        timeout_ms: i32,
    ) -> Result<Vec<Ready>, LiveError> {
        let max = max.clamp(1, 64);
        let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; max];
        let args = format!("{}, events, {max}, {timeout_ms}", ep.fd());
        let start = now();
        // SAFETY: `evs` holds `max` events for the kernel to fill.
        let r = checked(unsafe {
            libc::epoll_wait(ep.fd(), evs.as_mut_ptr(), max as libc::c_int, timeout_ms)
        })
        .map(|n| {
            evs[..(n as usize).min(max)]
                .iter()
                .map(|e| Ready {
                    fd: e.u64 as RawFd,
                    events: e.events,
                })
                .collect::<Vec<Ready>>()
        });
        self.finish(ep.role, "epoll_wait", None, args, start, r, |ready, e| {
            e.ret = Some(ready.len() as i64);
            let list: Vec<String> = ready
                .iter()
                .map(|r| format!("{} {}", r.fd, epoll_text(r.events)))
                .collect();
            e.text = Some(format!("{{{}}}", list.join(", ")));
        })
    }

    /// `close(epfd)`.
    pub fn close_epoll(&self, ep: Epoll) -> Result<(), LiveError> {
        let (fd, role) = (ep.fd(), ep.role);
        let start = now();
        let r = nix::unistd::close(ep.fd).map_err(io::Error::from);
        self.finish(role, "close", Some(fd), fd.to_string(), start, r, |_, _| {})
    }

    /// `flag = fcntl(fd, F_GETFL, 0); fcntl(fd, F_SETFL, flag | O_NONBLOCK)`, as the texts
    /// make a socket non-blocking: two events. A read on an empty socket then fails with
    /// EAGAIN instead of waiting.
    pub fn set_nonblocking(&self, s: &Sock) -> Result<(), LiveError> {
        let start = now();
        // SAFETY: F_GETFL takes no pointer.
        let r = checked(unsafe { libc::fcntl(s.fd(), libc::F_GETFL, 0) });
        let args = format!("{}, F_GETFL, 0", s.fd());
        let flags = self.finish(s.role, "fcntl", Some(s.fd()), args, start, r, |&f, e| {
            e.ret = Some(f as i64);
            e.text = Some(format!("({})", open_flags(f)));
            Self::on_sock(e, s);
        })?;
        let new = flags | libc::O_NONBLOCK;
        let start = now();
        // SAFETY: F_SETFL takes an int.
        let r = checked(unsafe { libc::fcntl(s.fd(), libc::F_SETFL, new) });
        let args = format!("{}, F_SETFL, {}", s.fd(), open_flags(new));
        self.finish(s.role, "fcntl", Some(s.fd()), args, start, r, |_, e| {
            Self::on_sock(e, s)
        })
        .map(|_| ())
    }

    /// `ioctl(fd, FIONREAD, &n)`: how many bytes wait unread in the receive buffer.
    pub fn unread(&self, s: &Sock) -> Result<usize, LiveError> {
        let mut n: libc::c_int = 0;
        let start = now();
        // SAFETY: FIONREAD writes one int to `n`.
        let r = checked(unsafe { libc::ioctl(s.fd(), libc::FIONREAD, &mut n) }).map(|_| n);
        let args = format!("{}, FIONREAD, &n", s.fd());
        self.finish(s.role, "ioctl", Some(s.fd()), args, start, r, |&n, e| {
            e.text = Some(format!("(n = {n}: {n} bytes wait unread)"));
            Self::on_sock(e, s);
        })
        .map(|n| n.max(0) as usize)
    }
}

/// The access mode and status flags of `fcntl(F_GETFL)`: `O_RDWR|O_NONBLOCK`.
fn open_flags(f: libc::c_int) -> String {
    let mut s = match f & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY".to_owned(),
        libc::O_WRONLY => "O_WRONLY".to_owned(),
        _ => "O_RDWR".to_owned(),
    };
    if f & libc::O_NONBLOCK != 0 {
        s.push_str("|O_NONBLOCK");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_timevals_read_back() {
        assert_eq!(set_text(&[3, 5, 6]), "{3 5 6}");
        assert_eq!(set_text(&[]), "{}");
        assert_eq!(parse_set("{3 5 6}"), Some(vec![3, 5, 6]));
        assert_eq!(parse_set("{}"), Some(vec![]));
        assert_eq!(parse_set("{3 x}"), None);
        assert_eq!(parse_set("3 5"), None);
        let d = Duration::from_micros(4_998_762);
        assert_eq!(timeval_text(d), "{4.998762}");
        assert_eq!(parse_timeval("{4.998762}"), Some(d));
        assert_eq!(parse_timeval("{0.1}"), None);
        assert_eq!(parse_timeval("0.100000"), None);
    }

    #[test]
    fn epoll_masks_are_named() {
        let m = (libc::EPOLLIN | libc::EPOLLET) as u32;
        assert_eq!(epoll_text(m), "EPOLLIN|EPOLLET");
        assert_eq!(epoll_text(0), "0");
        assert_eq!(epoll_text(1 << 20), "0x100000");
        assert_eq!(
            open_flags(libc::O_RDWR | libc::O_NONBLOCK),
            "O_RDWR|O_NONBLOCK"
        );
    }
}
