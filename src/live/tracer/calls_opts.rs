//! Waits on what a socket's kernel counts, for the socket-option scenarios (`keepalive`): its
//! TCP_INFO (segments in and out, keep-alive probes) and its drop counter (SO_MEMINFO), each
//! polled every millisecond and recorded as events like the other calls.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::time::{Duration, Instant};

use nix::libc;

use super::{now, Sock, Tracer};
use crate::live::LiveError;

/// `SO_MEMINFO` (absent from the libc crate's Linux list): 55, but 57 on SPARC.
#[cfg(not(target_arch = "sparc64"))]
const SO_MEMINFO: libc::c_int = 55;
#[cfg(target_arch = "sparc64")]
const SO_MEMINFO: libc::c_int = 57;
/// Entries of the SO_MEMINFO array (`SK_MEMINFO_VARS`).
const MEMINFO_VARS: usize = 9;

/// What TCP_INFO counts for a connection, the part the waits show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Segments received (`tcpi_segs_in`), every one, bare ACKs included.
    pub segs_in: u32,
    /// Segments sent (`tcpi_segs_out`), bare ACKs included.
    pub segs_out: u32,
    /// Keep-alive or window probes sent and not answered yet (`tcpi_probes`).
    pub probes: u8,
}

impl Counts {
    /// `segs_in 5, segs_out 4, probes 0`: the form the events carry, read back by
    /// [`Counts::parse`].
    pub fn text(&self) -> String {
        format!(
            "segs_in {}, segs_out {}, probes {}",
            self.segs_in, self.segs_out, self.probes
        )
    }

    /// Reads [`Counts::text`] back (inside any surrounding text).
    pub fn parse(text: &str) -> Option<Counts> {
        let field = |key: &str| -> Option<&str> {
            let at = text.find(&format!("{key} "))? + key.len() + 1;
            text[at..].split([',', ' ', ')']).next()
        };
        Some(Counts {
            segs_in: field("segs_in")?.parse().ok()?,
            segs_out: field("segs_out")?.parse().ok()?,
            probes: field("probes")?.parse().ok()?,
        })
    }
}

/// Reads a socket option of type `T` (a plain C struct or array of integers).
fn getsockopt<T: Copy>(s: &Sock, level: libc::c_int, name: libc::c_int) -> io::Result<T> {
    let mut v = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` is a writable buffer of `len` bytes; the kernel writes at most that much.
    let r = unsafe { libc::getsockopt(s.fd(), level, name, v.as_mut_ptr().cast(), &mut len) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised, and every field of the C structs read here is an integer.
    Ok(unsafe { v.assume_init() })
}

fn counts(s: &Sock) -> io::Result<Counts> {
    let i: libc::tcp_info = getsockopt(s, libc::IPPROTO_TCP, libc::TCP_INFO)?;
    Ok(Counts {
        segs_in: i.tcpi_segs_in,
        segs_out: i.tcpi_segs_out,
        probes: i.tcpi_probes,
    })
}

/// The socket's drop counter (`SK_MEMINFO_DROPS` of SO_MEMINFO).
fn drops(s: &Sock) -> io::Result<u32> {
    let m: [u32; MEMINFO_VARS] = getsockopt(s, libc::SOL_SOCKET, SO_MEMINFO)?;
    Ok(m[libc::SK_MEMINFO_DROPS as usize])
}

fn failed<T>(call: &'static str, r: io::Result<T>) -> Result<T, LiveError> {
    r.map_err(|source| LiveError::Call { call, source })
}

impl Tracer {
    /// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)`: the connection's counters, recorded.
    pub fn tcp_counts(&self, s: &Sock) -> Result<Counts, LiveError> {
        let start = now();
        let r = counts(s);
        let args = format!("{}, IPPROTO_TCP, TCP_INFO", s.fd());
        self.record(s, "getsockopt", args, start, &r, |c, e| {
            e.text = Some(format!("({})", c.text()));
        });
        failed("getsockopt", r)
    }

    /// Polls TCP_INFO every millisecond until `done` holds for the counters (at most `limit`);
    /// records one `wait` event named `what` with the counters it ended on.
    pub fn wait_counts(
        &self,
        s: &Sock,
        what: &str,
        limit: Duration,
        done: impl Fn(&Counts) -> bool,
    ) -> Result<Counts, LiveError> {
        let start = now();
        let deadline = Instant::now() + limit;
        let got = loop {
            let c = failed("getsockopt", counts(s))?;
            if done(&c) || Instant::now() >= deadline {
                break c;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        self.record(s, "wait", what.to_owned(), start, &Ok(got), |c, e| {
            e.text = Some(c.text());
        });
        if done(&got) {
            Ok(got)
        } else {
            Err(LiveError::Scenario(format!(
                "not within {} s: {what} ({})",
                limit.as_secs(),
                got.text()
            )))
        }
    }

    /// `getsockopt(fd, SOL_SOCKET, SO_MEMINFO)`: the socket's drop counter, recorded as
    /// `(drops N)`. The kernel counts every segment it discards for the socket, those it
    /// answered first (an out-of-window segment gets an ACK, then is dropped) included.
    pub fn drop_count(&self, s: &Sock) -> Result<u32, LiveError> {
        let start = now();
        let r = drops(s);
        self.record_drops(s, start, &r);
        failed("getsockopt", r)
    }

    fn record_drops(&self, s: &Sock, start: i128, r: &io::Result<u32>) {
        let args = format!("{}, SOL_SOCKET, SO_MEMINFO", s.fd());
        self.record(s, "getsockopt", args, start, r, |n, e| {
            e.text = Some(format!("(drops {n})"));
        });
    }

    /// Polls the drop counter of `s` (SO_MEMINFO) every millisecond until it reaches `want`,
    /// recording the first `getsockopt(SO_MEMINFO)` and each that saw it change.
    pub fn wait_drop_count(&self, s: &Sock, want: u32, limit: Duration) -> Result<u32, LiveError> {
        let deadline = Instant::now() + limit;
        let mut seen = None;
        loop {
            let start = now();
            let r = drops(s);
            if r.as_ref().ok() != seen.as_ref() {
                self.record_drops(s, start, &r);
            }
            let n = failed("getsockopt", r)?;
            seen = Some(n);
            if n >= want {
                return Ok(n);
            }
            if Instant::now() >= deadline {
                return Err(LiveError::Scenario(format!(
                    "the socket dropped {n} of {want} segments within {} s",
                    limit.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_text_reads_back() {
        let c = Counts {
            segs_in: 7,
            segs_out: 5,
            probes: 1,
        };
        assert_eq!(c.text(), "segs_in 7, segs_out 5, probes 1");
        assert_eq!(Counts::parse(&format!("({})", c.text())), Some(c));
        assert_eq!(Counts::parse("drops 3"), None);
    }
}
