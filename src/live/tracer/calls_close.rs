//! Traced calls of the closing lessons: `SO_LINGER`, the ioctls that count the bytes still in
//! a socket's buffers (`SIOCOUTQ`, `SIOCOUTQNSD`, `FIONREAD`), and `usleep`.

use std::io;
use std::mem::size_of;
use std::time::Duration;

use nix::libc;

use super::{now, Sock, Tracer};
use crate::live::event::Event;
use crate::live::LiveError;

/// `SIOCOUTQNSD` (linux/sockios.h): bytes in the send queue not yet sent (absent from the
/// libc crate's Linux list on some versions).
const SIOCOUTQNSD: libc::c_ulong = 0x894B;

/// A byte count of a socket's buffers that an ioctl reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// `SIOCOUTQ`: bytes written and not yet acknowledged by the peer (sent or not).
    Unacked,
    /// `SIOCOUTQNSD`: bytes written and not yet sent.
    NotSent,
    /// `FIONREAD`: bytes received and not yet read.
    Unread,
}

impl Queue {
    /// The request's C name.
    pub fn name(self) -> &'static str {
        match self {
            Queue::Unacked => "SIOCOUTQ",
            Queue::NotSent => "SIOCOUTQNSD",
            Queue::Unread => "FIONREAD",
        }
    }

    /// What the count means, as the event's text says it: `(28672 bytes not yet sent)`.
    pub fn text(self, n: i64) -> String {
        let what = match self {
            Queue::Unacked => "not yet acknowledged",
            Queue::NotSent => "not yet sent",
            Queue::Unread => "unread",
        };
        format!("({n} bytes {what})")
    }

    /// The count an event of this request reported (see [`Queue::text`]).
    pub fn count(e: &Event) -> Option<i64> {
        e.text
            .as_deref()?
            .strip_prefix('(')?
            .split(' ')
            .next()?
            .parse()
            .ok()
    }

    fn request(self) -> libc::c_ulong {
        match self {
            Queue::Unacked => libc::TIOCOUTQ as libc::c_ulong,
            Queue::NotSent => SIOCOUTQNSD,
            Queue::Unread => libc::FIONREAD as libc::c_ulong,
        }
    }
}

impl Tracer {
    /// `setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){1, secs})`, or `{0, 0}` for
    /// `None` (the default: close() returns at once and the kernel sends what is left).
    pub fn set_linger(&self, s: &Sock, secs: Option<u16>) -> Result<(), LiveError> {
        let l = libc::linger {
            l_onoff: secs.is_some() as libc::c_int,
            l_linger: secs.map_or(0, libc::c_int::from),
        };
        let start = now();
        // SAFETY: passes one `struct linger` of the size given.
        let r = unsafe {
            libc::setsockopt(
                s.fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&l as *const libc::linger).cast(),
                size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        let r = if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        };
        let args = format!(
            "{}, SOL_SOCKET, SO_LINGER, {{{}, {}}}",
            s.fd(),
            l.l_onoff,
            l.l_linger
        );
        self.finish(
            s.role,
            "setsockopt",
            Some(s.fd()),
            args,
            start,
            r,
            |_, e| Self::on_sock(e, s),
        )
    }

    /// `ioctl(fd, request, &n)`: how many bytes `q` counts in `s`'s buffers.
    pub fn queued(&self, s: &Sock, q: Queue) -> Result<i64, LiveError> {
        let mut n: libc::c_int = 0;
        let start = now();
        // SAFETY: each of these requests writes one int through the pointer, which points at
        // `n`. (The request's type differs between C libraries, hence the cast.)
        let r = unsafe { libc::ioctl(s.fd(), q.request() as _, &mut n as *mut libc::c_int) };
        let r = if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(i64::from(n))
        };
        let args = format!("{}, {}", s.fd(), q.name());
        self.finish(s.role, "ioctl", Some(s.fd()), args, start, r, |&n, e| {
            e.ret = Some(0);
            Self::on_sock(e, s);
            e.text = Some(q.text(n));
        })
    }

    /// `usleep(us)`: the program waits on purpose (a slow reader).
    pub fn usleep(&self, role: crate::live::Role, d: Duration) {
        let start = now();
        std::thread::sleep(d);
        let mut e = Event::new(role, self.who(role), "usleep", start);
        e.end = now();
        e.args = d.as_micros().to_string();
        e.ret = Some(0);
        self.emit(&mut e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_reads_back_from_its_text() {
        for q in [Queue::Unacked, Queue::NotSent, Queue::Unread] {
            let mut e = Event::new(crate::live::Role::Client, "client", "ioctl", 0);
            e.text = Some(q.text(28672));
            assert_eq!(Queue::count(&e), Some(28672), "{}", q.name());
        }
        let mut e = Event::new(crate::live::Role::Client, "client", "ioctl", 0);
        e.text = Some("(value 3)".into());
        assert_eq!(Queue::count(&e), None);
    }
}
