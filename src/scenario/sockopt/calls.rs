//! Traced `getsockopt`/`setsockopt` for any integer option (and `IP_MULTICAST_IF`'s
//! `struct in_addr`), called as the C calls them, each recorded as an event: `getsockopt(fd,
//! level, name) = 0 (value N)` or `= -1 ENOPROTOOPT`. Also `TCP_INFO` and reading a sysctl.
//!
//! The tracer's own `setsockopt`/`getsockopt` cover a few booleans; the option tables of the
//! `sockopt` and `buffers` scenarios need every classic option and its error when the kernel
//! refuses it, so these calls return the `io::Error` instead of ending the program.

use std::io;
use std::mem::size_of;
use std::net::Ipv4Addr;

use nix::libc::{self, c_int, c_void, socklen_t};

use crate::live::event::Event;
use crate::live::tracer::now;
use crate::live::{LiveError, Sock, Tracer};

/// How the kernel passes an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An `int`.
    Int,
    /// A `struct in_addr` (IP_MULTICAST_IF).
    InAddr,
}

/// One socket option: its level and name as numbers and as the C spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opt {
    pub(crate) level: c_int,
    pub(crate) name: c_int,
    pub(crate) level_name: &'static str,
    pub(crate) opt_name: &'static str,
    pub(crate) kind: Kind,
}

const fn opt(level: c_int, name: c_int, level_name: &'static str, opt_name: &'static str) -> Opt {
    Opt {
        level,
        name,
        level_name,
        opt_name,
        kind: Kind::Int,
    }
}

pub(super) const SO_TYPE: Opt = opt(libc::SOL_SOCKET, libc::SO_TYPE, "SOL_SOCKET", "SO_TYPE");
pub(crate) const SO_SNDBUF: Opt = opt(libc::SOL_SOCKET, libc::SO_SNDBUF, "SOL_SOCKET", "SO_SNDBUF");
pub(crate) const SO_RCVBUF: Opt = opt(libc::SOL_SOCKET, libc::SO_RCVBUF, "SOL_SOCKET", "SO_RCVBUF");
pub(super) const SO_REUSEADDR: Opt = opt(
    libc::SOL_SOCKET,
    libc::SO_REUSEADDR,
    "SOL_SOCKET",
    "SO_REUSEADDR",
);
pub(super) const SO_KEEPALIVE: Opt = opt(
    libc::SOL_SOCKET,
    libc::SO_KEEPALIVE,
    "SOL_SOCKET",
    "SO_KEEPALIVE",
);
pub(super) const SO_BROADCAST: Opt = opt(
    libc::SOL_SOCKET,
    libc::SO_BROADCAST,
    "SOL_SOCKET",
    "SO_BROADCAST",
);
pub(super) const SO_DONTROUTE: Opt = opt(
    libc::SOL_SOCKET,
    libc::SO_DONTROUTE,
    "SOL_SOCKET",
    "SO_DONTROUTE",
);
pub(super) const SO_OOBINLINE: Opt = opt(
    libc::SOL_SOCKET,
    libc::SO_OOBINLINE,
    "SOL_SOCKET",
    "SO_OOBINLINE",
);
pub(super) const SO_ERROR: Opt = opt(libc::SOL_SOCKET, libc::SO_ERROR, "SOL_SOCKET", "SO_ERROR");
pub(super) const IP_TOS: Opt = opt(libc::IPPROTO_IP, libc::IP_TOS, "IPPROTO_IP", "IP_TOS");
pub(super) const IP_TTL: Opt = opt(libc::IPPROTO_IP, libc::IP_TTL, "IPPROTO_IP", "IP_TTL");
pub(super) const IP_MULTICAST_TTL: Opt = opt(
    libc::IPPROTO_IP,
    libc::IP_MULTICAST_TTL,
    "IPPROTO_IP",
    "IP_MULTICAST_TTL",
);
pub(super) const IP_MULTICAST_LOOP: Opt = opt(
    libc::IPPROTO_IP,
    libc::IP_MULTICAST_LOOP,
    "IPPROTO_IP",
    "IP_MULTICAST_LOOP",
);
pub(super) const IP_MULTICAST_IF: Opt = Opt {
    kind: Kind::InAddr,
    ..opt(
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        "IPPROTO_IP",
        "IP_MULTICAST_IF",
    )
};
pub(super) const TCP_NODELAY: Opt = opt(
    libc::IPPROTO_TCP,
    libc::TCP_NODELAY,
    "IPPROTO_TCP",
    "TCP_NODELAY",
);
pub(super) const TCP_MAXSEG: Opt = opt(
    libc::IPPROTO_TCP,
    libc::TCP_MAXSEG,
    "IPPROTO_TCP",
    "TCP_MAXSEG",
);
pub(super) const TCP_KEEPIDLE: Opt = opt(
    libc::IPPROTO_TCP,
    libc::TCP_KEEPIDLE,
    "IPPROTO_TCP",
    "TCP_KEEPIDLE",
);

/// An option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    Int(i64),
    Addr(Ipv4Addr),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// The text a `getsockopt` event carries for its value: `(value 8192)`.
pub(super) fn value_text(v: Value) -> String {
    format!("(value {v})")
}

/// The value a successful `getsockopt` event reported (see [`value_text`]).
pub(crate) fn event_value(e: &Event) -> Option<Value> {
    let t = e.text.as_deref()?;
    let v = t.strip_prefix("(value ")?.strip_suffix(')')?;
    if let Ok(n) = v.parse::<i64>() {
        return Some(Value::Int(n));
    }
    v.parse::<Ipv4Addr>().ok().map(Value::Addr)
}

/// The `level, name` part of the arguments, as a check finds them again.
pub(crate) fn opt_args(o: &Opt) -> String {
    format!("{}, {}", o.level_name, o.opt_name)
}

/// `getsockopt(fd, level, name, &value, &len)`, traced. A refusal (ENOPROTOOPT…) is an event
/// and an `Err`, not the end of the program.
pub(super) fn get(t: &Tracer, s: &Sock, o: &Opt) -> io::Result<Value> {
    let start = now();
    let r = match o.kind {
        Kind::Int => raw_get::<c_int>(s.fd(), o).map(|v| Value::Int(v as i64)),
        Kind::InAddr => raw_get::<libc::in_addr>(s.fd(), o)
            .map(|a| Value::Addr(Ipv4Addr::from(u32::from_be(a.s_addr)))),
    };
    let args = format!("{}, {}", s.fd(), opt_args(o));
    t.record(s, "getsockopt", args, start, &r, |v, e| {
        e.text = Some(value_text(*v));
    });
    r
}

/// `setsockopt(fd, level, name, &value, sizeof value)`, traced; a refusal is an event and an
/// `Err`.
pub(super) fn set(t: &Tracer, s: &Sock, o: &Opt, v: Value) -> io::Result<()> {
    let start = now();
    let r = match (o.kind, v) {
        (Kind::Int, Value::Int(n)) => {
            let n = c_int::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            raw_set(s.fd(), o, &n)
        }
        (Kind::InAddr, Value::Addr(a)) => raw_set(
            s.fd(),
            o,
            &libc::in_addr {
                s_addr: u32::from(a).to_be(),
            },
        ),
        _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    let args = format!("{}, {}, {v}", s.fd(), opt_args(o));
    t.record(s, "setsockopt", args, start, &r, |_, _| {});
    r
}

/// [`get`] for a scenario step that must succeed.
pub(crate) fn get_ok(t: &Tracer, s: &Sock, o: &Opt) -> Result<i64, LiveError> {
    match get(t, s, o) {
        Ok(Value::Int(n)) => Ok(n),
        Ok(Value::Addr(_)) => Err(LiveError::Scenario(format!(
            "getsockopt({}) gave an address, not a number",
            o.opt_name
        ))),
        Err(source) => Err(LiveError::Call {
            call: "getsockopt",
            source,
        }),
    }
}

/// [`set`] for a scenario step that must succeed.
pub(crate) fn set_ok(t: &Tracer, s: &Sock, o: &Opt, n: i64) -> Result<(), LiveError> {
    set(t, s, o, Value::Int(n)).map_err(|source| LiveError::Call {
        call: "setsockopt",
        source,
    })
}

fn raw_get<T: Copy>(fd: c_int, o: &Opt) -> io::Result<T> {
    let mut v = std::mem::MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as socklen_t;
    // SAFETY: `v` has room for `len` bytes; the kernel writes at most `len` and says how many.
    let r = unsafe {
        libc::getsockopt(
            fd,
            o.level,
            o.name,
            v.as_mut_ptr().cast::<c_void>(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised plain data (c_int or in_addr), possibly partly overwritten.
    Ok(unsafe { v.assume_init() })
}

fn raw_set<T>(fd: c_int, o: &Opt, v: &T) -> io::Result<()> {
    // SAFETY: `v` points to a live `T` of `size_of::<T>()` bytes.
    let r = unsafe {
        libc::setsockopt(
            fd,
            o.level,
            o.name,
            (v as *const T).cast::<c_void>(),
            size_of::<T>() as socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt(fd, IPPROTO_TCP, TCP_INFO)` on a raw descriptor, untraced (used to poll).
pub(crate) fn tcp_info(fd: c_int) -> io::Result<libc::tcp_info> {
    raw_get::<libc::tcp_info>(
        fd,
        &opt(libc::IPPROTO_TCP, libc::TCP_INFO, "IPPROTO_TCP", "TCP_INFO"),
    )
}

/// Reads `/proc/sys/<name with dots as slashes>` and records it as a `sysctl` event whose
/// `ret` is the first number and whose text is the whole value (`4096 131072 33554432`).
pub(crate) fn sysctl(
    t: &Tracer,
    role: crate::live::Role,
    name: &str,
) -> Result<Vec<i64>, LiveError> {
    let start = now();
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| LiveError::file(std::path::Path::new(&path), e))?;
    let nums: Vec<i64> = text
        .split_whitespace()
        .map(|w| w.parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| LiveError::Scenario(format!("{path}: not numbers: {text:?}")))?;
    let mut e = Event::new(role, role.name(), "sysctl", start);
    e.end = now();
    e.args = name.to_owned();
    e.ret = nums.first().copied();
    if nums.len() > 1 {
        e.text = Some(format!(
            "({})",
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    t.emit(&mut e);
    Ok(nums)
}

/// The numbers a `sysctl` event read.
pub(crate) fn sysctl_values(e: &Event) -> Vec<i64> {
    match e.text.as_deref() {
        Some(t) => t
            .trim_matches(|c| c == '(' || c == ')')
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect(),
        None => e.ret.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_event_text() {
        for v in [
            Value::Int(0),
            Value::Int(-3),
            Value::Int(212_992),
            Value::Addr(Ipv4Addr::new(0, 0, 0, 0)),
            Value::Addr(Ipv4Addr::new(192, 0, 2, 1)),
        ] {
            let mut e = Event::new(crate::live::Role::Client, "client", "getsockopt", 0);
            e.text = Some(value_text(v));
            assert_eq!(event_value(&e), Some(v));
        }
        let mut e = Event::new(crate::live::Role::Client, "client", "getsockopt", 0);
        assert_eq!(event_value(&e), None);
        e.text = Some("(value x)".into());
        assert_eq!(event_value(&e), None);
    }

    #[test]
    fn sysctl_numbers_come_back() {
        let mut e = Event::new(crate::live::Role::Client, "client", "sysctl", 0);
        e.ret = Some(4096);
        assert_eq!(sysctl_values(&e), [4096]);
        e.text = Some("(4096 131072 33554432)".into());
        assert_eq!(sysctl_values(&e), [4096, 131_072, 33_554_432]);
    }
}
