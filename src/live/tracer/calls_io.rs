//! The traced calls of the book's "more I/O functions": `writev`/`readv` (several buffers in one
//! call), `send`/`recv` with flags (`MSG_OOB`, `MSG_PEEK`, `MSG_DONTWAIT`), and the calls that
//! ask for SIGURG (`fcntl(fd, F_SETOWN, pid)`) or keep urgent data inline (`SO_OOBINLINE`);
//! and standard I/O on a socket (`fdopen`, `fputs`, `fflush`, `fclose`), the C library's own.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use nix::sys::socket::MsgFlags;

use super::{errno_name, now, preview, Sock, Tracer};
use crate::live::event::{Event, Role};
use crate::live::LiveError;

/// The C names of the flags set in `flags` (`MSG_PEEK|MSG_DONTWAIT`), or `0`.
pub fn msg_flags_name(flags: MsgFlags) -> String {
    let names: Vec<&str> = [
        (MsgFlags::MSG_OOB, "MSG_OOB"),
        (MsgFlags::MSG_PEEK, "MSG_PEEK"),
        (MsgFlags::MSG_DONTWAIT, "MSG_DONTWAIT"),
        (MsgFlags::MSG_WAITALL, "MSG_WAITALL"),
    ]
    .into_iter()
    .filter(|(f, _)| flags.contains(*f))
    .map(|(_, n)| n)
    .collect();
    if names.is_empty() {
        "0".to_owned()
    } else {
        names.join(" | ")
    }
}

impl Tracer {
    /// `writev(fd, iov, iovcnt)`: the buffers go to the kernel in one call. The event's bytes
    /// are the buffers one after the other, as the stream carries them.
    pub fn writev(&self, s: &Sock, bufs: &[&[u8]]) -> Result<usize, LiveError> {
        let iov: Vec<IoSlice> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        let start = now();
        let r = nix::sys::uio::writev(s.sock.as_fd(), &iov).map_err(io::Error::from);
        let items: Vec<String> = bufs
            .iter()
            .map(|b| format!("{{{}, {}}}", preview(b), b.len()))
            .collect();
        let args = format!("{}, [{}], {}", s.fd(), items.join(", "), bufs.len());
        let all = bufs.concat();
        self.finish(s.role, "writev", Some(s.fd()), args, start, r, |&n, e| {
            e.ret = Some(n as i64);
            Self::on_sock(e, s);
            Self::with_data(e, &all[..n.min(all.len())]);
        })
    }

    /// `readv(fd, iov, iovcnt)`: one read scattered over the buffers, each filled before the
    /// next. The event's bytes are what the call returned; its text what each buffer got.
    pub fn readv(&self, s: &Sock, bufs: &mut [&mut [u8]]) -> Result<usize, LiveError> {
        let sizes: Vec<usize> = bufs.iter().map(|b| b.len()).collect();
        let start = now();
        let r = {
            let mut iov: Vec<IoSliceMut> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            nix::sys::uio::readv(s.sock.as_fd(), &mut iov).map_err(io::Error::from)
        };
        let items: Vec<String> = sizes.iter().map(|n| format!("{{buf, {n}}}")).collect();
        let args = format!("{}, [{}], {}", s.fd(), items.join(", "), bufs.len());
        let bufs = &*bufs;
        self.finish(s.role, "readv", Some(s.fd()), args, start, r, |&n, e| {
            e.ret = Some(n as i64);
            Self::on_sock(e, s);
            let mut got = Vec::with_capacity(n);
            let mut parts = Vec::new();
            let mut left = n;
            for (i, b) in bufs.iter().enumerate() {
                let k = left.min(b.len());
                got.extend_from_slice(&b[..k]);
                parts.push(format!("iov[{i}] {}", preview(&b[..k])));
                left -= k;
            }
            Self::with_data(e, &got);
            e.text = Some(if n == 0 {
                "(end of stream: the peer's FIN)".to_owned()
            } else {
                parts.join(", ")
            });
        })
    }

    /// `send(fd, data, len, flags)`, e.g. with `MSG_OOB`.
    pub fn send_flags(&self, s: &Sock, data: &[u8], flags: MsgFlags) -> Result<usize, LiveError> {
        let start = now();
        let r = nix::sys::socket::send(s.fd(), data, flags).map_err(io::Error::from);
        let args = format!(
            "{}, {}, {}, {}",
            s.fd(),
            preview(data),
            data.len(),
            msg_flags_name(flags)
        );
        self.finish(s.role, "send", Some(s.fd()), args, start, r, |&n, e| {
            e.ret = Some(n as i64);
            Self::on_sock(e, s);
            Self::with_data(e, &data[..n.min(data.len())]);
        })
    }

    /// `recv(fd, buf, len, flags)`, e.g. with `MSG_PEEK` (the bytes stay queued) or
    /// `MSG_DONTWAIT` (EAGAIN instead of waiting).
    pub fn recv_flags(
        &self,
        s: &Sock,
        buf: &mut [u8],
        flags: MsgFlags,
    ) -> Result<usize, LiveError> {
        let start = now();
        let r = nix::sys::socket::recv(s.fd(), buf, flags).map_err(io::Error::from);
        let args = format!("{}, buf, {}, {}", s.fd(), buf.len(), msg_flags_name(flags));
        let buf = &*buf;
        // Its addresses even on failure (an EINTR, an EAGAIN), so it is placed on its connection.
        let mut e = self.call_event(s.role, "recv", Some(s.fd()), args, start, &r, |&n, e| {
            let got = &buf[..n.min(buf.len())];
            e.ret = Some(n as i64);
            Self::with_data(e, got);
            e.text = Some(if n == 0 {
                "(end of stream: the peer's FIN)".to_owned()
            } else {
                preview(got)
            });
        });
        Self::on_sock(&mut e, s);
        self.emit(&mut e);
        r.map_err(|source| LiveError::Call {
            call: "recv",
            source,
        })
    }

    /// `fcntl(fd, F_SETOWN, pid)`: SIGURG (and SIGIO) for this socket go to process `pid`.
    pub fn set_owner(&self, s: &Sock, pid: i32) -> Result<(), LiveError> {
        let start = now();
        // SAFETY: F_SETOWN takes an int argument and touches no memory of ours.
        let r = match unsafe { nix::libc::fcntl(s.fd(), nix::libc::F_SETOWN, pid) } {
            -1 => Err(io::Error::last_os_error()),
            v => Ok(v),
        };
        let args = format!("{}, F_SETOWN, {pid}", s.fd());
        self.finish(s.role, "fcntl", Some(s.fd()), args, start, r, |&v, e| {
            e.ret = Some(i64::from(v));
            Self::on_sock(e, s);
        })
        .map(|_| ())
    }

    /// `setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, on)`: urgent bytes stay in the stream.
    pub fn set_oobinline(&self, s: &Sock, on: bool) -> Result<(), LiveError> {
        let start = now();
        let r = s.sock.set_out_of_band_inline(on);
        let args = format!("{}, SOL_SOCKET, SO_OOBINLINE, {}", s.fd(), on as u8);
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
}

/// A standard I/O stream on a socket, from [`Tracer::fdopen`]: the C library's `FILE`, which
/// owns the descriptor from then on (`fclose` closes the socket). Closed by `fclose`, or when
/// dropped.
pub struct StdFile {
    fp: *mut nix::libc::FILE,
    fd: RawFd,
    role: Role,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
}

impl Drop for StdFile {
    fn drop(&mut self) {
        if !self.fp.is_null() {
            // SAFETY: `fp` came from fdopen and has not been closed.
            unsafe { nix::libc::fclose(self.fp) };
        }
    }
}

impl Tracer {
    fn file_event(&self, f: &StdFile, call: &str, args: String, start: i128, ok: bool) -> Event {
        let mut e = Event::new(f.role, self.who(f.role), call, start);
        e.end = now();
        e.fd = Some(f.fd);
        e.local = f.local;
        e.addr = f.peer;
        e.args = args;
        if ok {
            e.ret = Some(0);
        } else {
            e.ret = Some(-1);
            e.errno = Some(errno_name(&io::Error::last_os_error()));
        }
        e
    }

    /// `fdopen(fd, mode)`: a `FILE` on the socket; the socket is the stream's from now on.
    pub fn fdopen(&self, s: Sock, mode: &'static str) -> Result<StdFile, LiveError> {
        let (role, local, peer) = (s.role, s.local(), s.peer());
        let cmode = std::ffi::CString::new(mode)
            .map_err(|_| LiveError::Scenario(format!("fdopen mode {mode:?}")))?;
        let fd = s.sock.into_raw_fd();
        let start = now();
        // SAFETY: `fd` is an open socket we own; `cmode` is NUL-terminated.
        let fp = unsafe { nix::libc::fdopen(fd, cmode.as_ptr()) };
        let f = StdFile {
            fp,
            fd,
            role,
            local,
            peer,
        };
        let mut e = self.file_event(
            &f,
            "fdopen",
            format!("{fd}, \"{mode}\""),
            start,
            !fp.is_null(),
        );
        if !fp.is_null() {
            e.ret = None;
            e.text = Some("= fp".into());
        }
        self.emit(&mut e);
        if fp.is_null() {
            let source = io::Error::last_os_error();
            // SAFETY: fdopen failed, so the descriptor is still ours alone.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            return Err(LiveError::Call {
                call: "fdopen",
                source,
            });
        }
        Ok(f)
    }

    /// `fputs(s, fp)`: the line goes into the stream's buffer (nothing is sent yet, until the
    /// buffer is full or flushed).
    pub fn fputs(&self, f: &StdFile, line: &str) -> Result<(), LiveError> {
        let c = std::ffi::CString::new(line)
            .map_err(|_| LiveError::Scenario(format!("{line:?} holds a NUL byte")))?;
        let start = now();
        // SAFETY: `c` is NUL-terminated and `fp` an open stream.
        let r = unsafe { nix::libc::fputs(c.as_ptr(), f.fp) };
        let mut e = self.file_event(
            f,
            "fputs",
            format!("{}, fp", preview(line.as_bytes())),
            start,
            r >= 0,
        );
        if r >= 0 {
            e.ret = Some(i64::from(r));
            Self::with_data(&mut e, line.as_bytes());
        }
        self.emit(&mut e);
        if r < 0 {
            return Err(LiveError::Call {
                call: "fputs",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// `fflush(fp)`: the C library writes what its buffer holds.
    pub fn fflush(&self, f: &StdFile) -> Result<(), LiveError> {
        let start = now();
        // SAFETY: `fp` is an open stream.
        let r = unsafe { nix::libc::fflush(f.fp) };
        let mut e = self.file_event(f, "fflush", "fp".into(), start, r == 0);
        self.emit(&mut e);
        if r != 0 {
            return Err(LiveError::Call {
                call: "fflush",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// `fclose(fp)`: flushes, then closes the descriptor, the socket with it.
    pub fn fclose(&self, mut f: StdFile) -> Result<(), LiveError> {
        let start = now();
        // SAFETY: `fp` is an open stream; it is not used again (set to null below).
        let r = unsafe { nix::libc::fclose(f.fp) };
        f.fp = std::ptr::null_mut();
        let mut e = self.file_event(&f, "fclose", "fp".into(), start, r == 0);
        self.emit(&mut e);
        if r != 0 {
            return Err(LiveError::Call {
                call: "fclose",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_are_the_c_names() {
        assert_eq!(msg_flags_name(MsgFlags::empty()), "0");
        assert_eq!(msg_flags_name(MsgFlags::MSG_OOB), "MSG_OOB");
        assert_eq!(
            msg_flags_name(MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT),
            "MSG_PEEK | MSG_DONTWAIT"
        );
    }
}
