//! The kernel calls `retransmit` makes beyond the tracer's: the receiver's minimum TTL
//! (IP_MINTTL: the lossy link), the socket's drop counter (SO_MEMINFO), and the sender's TCP
//! state (TCP_INFO). Each is recorded as an event like the tracer's own calls.

use std::io;
use std::mem::{size_of, MaybeUninit};

use nix::libc;

use crate::live::tracer::now;
use crate::live::{LiveError, Sock, Tracer};

/// `SO_MEMINFO` (absent from the libc crate's Linux list): 55, but 57 on SPARC.
#[cfg(not(target_arch = "sparc64"))]
const SO_MEMINFO: libc::c_int = 55;
#[cfg(target_arch = "sparc64")]
const SO_MEMINFO: libc::c_int = 57;
/// Entries of the SO_MEMINFO array (`SK_MEMINFO_VARS`).
const MEMINFO_VARS: usize = 9;

fn failed<T>(call: &'static str, r: io::Result<T>) -> Result<T, LiveError> {
    r.map_err(|source| LiveError::Call { call, source })
}

/// `setsockopt(fd, IPPROTO_IP, IP_MINTTL, ttl)`: from now on the kernel drops every packet
/// for this socket whose TTL is below `ttl` (RFC 5082's TTL security; no privilege needed).
/// It checks in `tcp_v4_rcv()`, after libpcap saw the packet on lo, and counts each drop in
/// the socket's drop counter.
pub(crate) fn set_min_ttl(t: &Tracer, s: &Sock, ttl: u8) -> Result<(), LiveError> {
    let start = now();
    let v = libc::c_int::from(ttl);
    // SAFETY: passes one int of the size given.
    let r = unsafe {
        libc::setsockopt(
            s.fd(),
            libc::IPPROTO_IP,
            libc::IP_MINTTL,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let r = if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    };
    let args = format!("{}, IPPROTO_IP, IP_MINTTL, {ttl}", s.fd());
    t.record(s, "setsockopt", args, start, &r, |_, _| {});
    failed("setsockopt", r)
}

/// Reads a socket option of type `T` (a plain C struct or array).
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

/// The socket's drop counter (`SK_MEMINFO_DROPS` of SO_MEMINFO), not recorded.
fn drops(s: &Sock) -> io::Result<u32> {
    let m: [u32; MEMINFO_VARS] = getsockopt(s, libc::SOL_SOCKET, SO_MEMINFO)?;
    Ok(m[libc::SK_MEMINFO_DROPS as usize])
}

/// Polls the drop counter of `s` every millisecond until it reaches `want`, recording each
/// `getsockopt(SO_MEMINFO)` that saw it change (the unchanged polls are not shown).
pub(crate) fn wait_drops(
    t: &Tracer,
    s: &Sock,
    want: u32,
    limit: std::time::Duration,
) -> Result<(), LiveError> {
    let deadline = std::time::Instant::now() + limit;
    let mut seen = 0;
    loop {
        let start = now();
        let r = drops(s);
        if !r.as_ref().is_ok_and(|&n| n == seen) {
            t.record(s, "getsockopt", meminfo_args(s), start, &r, |n, e| {
                e.text = Some(format!("(drops {n})"));
            });
        }
        let n = failed("getsockopt", r)?;
        seen = n;
        if n >= want {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(LiveError::Scenario(format!(
                "the server's socket dropped {n} of {want} segments within {} s",
                limit.as_secs()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn meminfo_args(s: &Sock) -> String {
    format!("{}, SOL_SOCKET, SO_MEMINFO", s.fd())
}

/// What TCP_INFO says about a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Info {
    /// Smoothed RTT, µs.
    pub(super) rtt: u32,
    /// Retransmission timeout, µs.
    pub(super) rto: u32,
    /// Segments re-sent over the connection's life.
    pub(super) total_retrans: u32,
    /// Timeouts in a row (the exponent of the RTO's doubling).
    pub(super) backoff: u8,
    /// Congestion state: Open, Disorder, CWR, Recovery, Loss.
    pub(super) ca_state: u8,
}

/// The name of a `tcpi_ca_state`.
pub(super) fn ca_state_name(s: u8) -> &'static str {
    match s {
        0 => "Open",
        1 => "Disorder",
        2 => "CWR",
        3 => "Recovery",
        4 => "Loss",
        _ => "?",
    }
}

fn tcp_info(s: &Sock) -> io::Result<Info> {
    let i: libc::tcp_info = getsockopt(s, libc::IPPROTO_TCP, libc::TCP_INFO)?;
    Ok(Info {
        rtt: i.tcpi_rtt,
        rto: i.tcpi_rto,
        total_retrans: i.tcpi_total_retrans,
        backoff: i.tcpi_backoff,
        ca_state: i.tcpi_ca_state,
    })
}

impl Info {
    /// `total_retrans 1, backoff 0, ca_state Open, rto 204 ms, rtt 0.031 ms`: the form the
    /// events carry and [`Info::parse`] reads back.
    pub(super) fn text(&self) -> String {
        format!(
            "total_retrans {}, backoff {}, ca_state {}, rto {} ms, rtt {:.3} ms",
            self.total_retrans,
            self.backoff,
            ca_state_name(self.ca_state),
            self.rto / 1000,
            self.rtt as f64 / 1000.0
        )
    }

    /// Reads [`Info::text`] back (inside any surrounding text).
    pub(super) fn parse(text: &str) -> Option<Info> {
        let field = |key: &str| -> Option<&str> {
            let at = text.find(&format!("{key} "))? + key.len() + 1;
            text[at..].split([',', ' ', ')']).next()
        };
        let ca = field("ca_state")?;
        let ca_state = (0..=4).find(|&c| ca_state_name(c) == ca)?;
        let rtt_ms: f64 = field("rtt")?.parse().ok()?;
        Some(Info {
            rtt: (rtt_ms * 1000.0).round() as u32,
            rto: field("rto")?.parse::<u32>().ok()? * 1000,
            total_retrans: field("total_retrans")?.parse().ok()?,
            backoff: field("backoff")?.parse().ok()?,
            ca_state,
        })
    }
}

/// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)`, recorded.
pub(super) fn info(t: &Tracer, s: &Sock) -> Result<Info, LiveError> {
    let start = now();
    let r = tcp_info(s);
    let args = format!("{}, IPPROTO_TCP, TCP_INFO", s.fd());
    t.record(s, "getsockopt", args, start, &r, |i, e| {
        e.text = Some(format!("({})", i.text()));
    });
    failed("getsockopt", r)
}

/// Waits (polling TCP_INFO every millisecond) until the sender's kernel has re-sent `n`
/// segments in all; records one `wait` event with what TCP_INFO said then.
pub(crate) fn wait_resent(
    t: &Tracer,
    s: &Sock,
    n: u32,
    limit: std::time::Duration,
) -> Result<Info, LiveError> {
    let start = now();
    let deadline = std::time::Instant::now() + limit;
    let got = loop {
        let i = failed("getsockopt", tcp_info(s))?;
        if i.total_retrans >= n || std::time::Instant::now() >= deadline {
            break i;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let args = format!(
        "fd {}'s kernel has re-sent {n} segment{} (TCP_INFO)",
        s.fd(),
        if n == 1 { "" } else { "s" }
    );
    t.record(s, "wait", args, start, &Ok(got), |i, e| {
        e.text = Some(i.text())
    });
    if got.total_retrans >= n {
        Ok(got)
    } else {
        Err(LiveError::Scenario(format!(
            "the client's kernel re-sent {} of {n} segments within {} s",
            got.total_retrans,
            limit.as_secs()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_text_reads_back() {
        let i = Info {
            rtt: 31,
            rto: 204_000,
            total_retrans: 2,
            backoff: 1,
            ca_state: 4,
        };
        assert_eq!(
            i.text(),
            "total_retrans 2, backoff 1, ca_state Loss, rto 204 ms, rtt 0.031 ms"
        );
        assert_eq!(Info::parse(&format!("({})", i.text())), Some(i));
        assert_eq!(Info::parse("drops 3"), None);
    }
}
