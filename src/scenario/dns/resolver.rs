//! The system resolver (glibc, through NSS: /etc/nsswitch.conf, /etc/hosts, DNS), called as the
//! C does, each call recorded as an event: `gethostbyname`, `gethostbyaddr` (the classic
//! texts' calls) and `getaddrinfo`, `getnameinfo` (their modern replacements).
//!
//! An event's text holds the answer in a form [`answer_of`] reads back:
//! `→ localhost [127.0.0.1, ::1]` (the name, then the addresses).

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nix::libc::{self, c_char, c_int, c_void, socklen_t};

use crate::live::event::Event;
use crate::live::tracer::now;
use crate::live::{Role, Tracer};

extern "C" {
    // Not in the libc crate: obsolete, but they are what the classic texts call.
    fn gethostbyname(name: *const c_char) -> *mut libc::hostent;
    fn gethostbyaddr(addr: *const c_void, len: socklen_t, ty: c_int) -> *mut libc::hostent;
    fn __h_errno_location() -> *mut c_int;
}

/// What a lookup answered: a name and addresses (either may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Answer {
    pub(super) name: Option<String>,
    pub(super) addrs: Vec<IpAddr>,
}

/// The event text for an answer: `→ localhost [127.0.0.1]`.
pub(super) fn answer_text(a: &Answer) -> String {
    let addrs: Vec<String> = a.addrs.iter().map(IpAddr::to_string).collect();
    match (&a.name, addrs.is_empty()) {
        (Some(n), true) => format!("→ {n}"),
        (Some(n), false) => format!("→ {n} [{}]", addrs.join(", ")),
        (None, _) => format!("→ [{}]", addrs.join(", ")),
    }
}

/// The answer a resolver event recorded (see [`answer_text`]).
pub(super) fn answer_of(e: &Event) -> Option<Answer> {
    if !e.ok() {
        return None;
    }
    let t = e.text.as_deref()?.strip_prefix("→ ")?;
    let (name, list) = match t.split_once('[') {
        Some((n, rest)) => (n.trim(), rest.strip_suffix(']')?),
        None => (t.trim(), ""),
    };
    let addrs = list
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<IpAddr>().ok())
        .collect::<Option<Vec<_>>>()?;
    Some(Answer {
        name: (!name.is_empty()).then(|| name.to_owned()),
        addrs,
    })
}

/// Records one resolver call; `r` is the answer or the error's name (`HOST_NOT_FOUND`,
/// `EAI_NONAME`).
fn record(t: &Tracer, call: &str, args: String, start: i128, r: &Result<Answer, String>) {
    let mut e = Event::new(Role::Client, Role::Client.name(), call, start);
    e.end = now();
    e.args = args;
    match r {
        Ok(a) => {
            e.ret = Some(0);
            e.text = Some(answer_text(a));
        }
        Err(name) => {
            e.ret = Some(-1);
            e.errno = Some(name.clone());
        }
    }
    t.emit(&mut e);
}

fn h_errno_name() -> String {
    // SAFETY: glibc's thread-local h_errno.
    let n = unsafe { *__h_errno_location() };
    match n {
        1 => "HOST_NOT_FOUND".into(),
        2 => "TRY_AGAIN".into(),
        3 => "NO_RECOVERY".into(),
        4 => "NO_DATA".into(),
        n => format!("h_errno {n}"),
    }
}

/// Copies a `struct hostent` (static storage of the resolver) into an [`Answer`].
///
/// # Safety
/// `h` must be null or what gethostbyname/gethostbyaddr just returned.
unsafe fn hostent(h: *const libc::hostent) -> Option<Answer> {
    let h = h.as_ref()?;
    let name =
        (!h.h_name.is_null()).then(|| CStr::from_ptr(h.h_name).to_string_lossy().into_owned());
    let mut addrs = Vec::new();
    let mut p = h.h_addr_list;
    while !p.is_null() && !(*p).is_null() {
        let a = *p as *const u8;
        match (h.h_addrtype, h.h_length) {
            (libc::AF_INET, 4) => {
                let b = std::slice::from_raw_parts(a, 4);
                addrs.push(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])));
            }
            (libc::AF_INET6, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(std::slice::from_raw_parts(a, 16));
                addrs.push(IpAddr::V6(Ipv6Addr::from(b)));
            }
            _ => {}
        }
        p = p.add(1);
    }
    Some(Answer { name, addrs })
}

/// `gethostbyname(name)`: the classic forward lookup (IPv4 only).
pub(super) fn by_name(t: &Tracer, name: &str) -> Result<Answer, String> {
    let start = now();
    let r = match CString::new(name) {
        // SAFETY: a NUL-terminated name; the result is copied before any other resolver call.
        Ok(c) => unsafe { hostent(gethostbyname(c.as_ptr())) }.ok_or_else(h_errno_name),
        Err(_) => Err("EINVAL".into()),
    };
    record(t, "gethostbyname", format!("{name:?}"), start, &r);
    r
}

/// `gethostbyaddr(&addr, 4, AF_INET)`: the classic reverse lookup.
pub(super) fn by_addr(t: &Tracer, addr: Ipv4Addr) -> Result<Answer, String> {
    let start = now();
    let raw = libc::in_addr {
        s_addr: u32::from(addr).to_be(),
    };
    // SAFETY: a 4-byte in_addr; the result is copied before any other resolver call.
    let r = unsafe {
        hostent(gethostbyaddr(
            (&raw as *const libc::in_addr).cast::<c_void>(),
            4,
            libc::AF_INET,
        ))
    }
    .ok_or_else(h_errno_name);
    record(t, "gethostbyaddr", format!("{addr}, 4, AF_INET"), start, &r);
    r
}

fn gai_name(code: c_int) -> String {
    match code {
        libc::EAI_AGAIN => "EAI_AGAIN".into(),
        libc::EAI_BADFLAGS => "EAI_BADFLAGS".into(),
        libc::EAI_FAIL => "EAI_FAIL".into(),
        libc::EAI_FAMILY => "EAI_FAMILY".into(),
        libc::EAI_MEMORY => "EAI_MEMORY".into(),
        libc::EAI_NONAME => "EAI_NONAME".into(),
        libc::EAI_SERVICE => "EAI_SERVICE".into(),
        libc::EAI_SOCKTYPE => "EAI_SOCKTYPE".into(),
        libc::EAI_SYSTEM => format!("EAI_SYSTEM ({})", io::Error::last_os_error()),
        n => format!("EAI {n}"),
    }
}

/// `getaddrinfo(name, NULL, {AF_UNSPEC, SOCK_STREAM}, &res)`: every address, IPv4 and IPv6.
pub(super) fn addrinfo(t: &Tracer, name: &str) -> Result<Answer, String> {
    let start = now();
    let r = match CString::new(name) {
        Ok(c) => lookup(&c),
        Err(_) => Err("EINVAL".into()),
    };
    record(
        t,
        "getaddrinfo",
        format!("{name:?}, NULL, {{AF_UNSPEC, SOCK_STREAM}}"),
        start,
        &r,
    );
    r
}

fn lookup(name: &CStr) -> Result<Answer, String> {
    // SAFETY: an all-zero addrinfo is the "no hints" value; the fields set are plain ints.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid name and hints; `res` is freed below with freeaddrinfo.
    let code = unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if code != 0 {
        return Err(gai_name(code));
    }
    let mut addrs = Vec::new();
    let mut p = res;
    // SAFETY: walks the list getaddrinfo returned; each ai_addr is as long as ai_addrlen says.
    unsafe {
        while let Some(ai) = p.as_ref() {
            if !ai.ai_addr.is_null() {
                match ai.ai_family {
                    libc::AF_INET
                        if ai.ai_addrlen as usize >= std::mem::size_of::<libc::sockaddr_in>() =>
                    {
                        let sa = &*(ai.ai_addr as *const libc::sockaddr_in);
                        addrs.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))));
                    }
                    libc::AF_INET6
                        if ai.ai_addrlen as usize >= std::mem::size_of::<libc::sockaddr_in6>() =>
                    {
                        let sa = &*(ai.ai_addr as *const libc::sockaddr_in6);
                        addrs.push(IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            p = ai.ai_next;
        }
        libc::freeaddrinfo(res);
    }
    Ok(Answer { name: None, addrs })
}

/// `getnameinfo(&sa, sizeof sa, host, …, NULL, 0, NI_NAMEREQD)`: the modern reverse lookup.
pub(super) fn nameinfo(t: &Tracer, addr: Ipv4Addr) -> Result<Answer, String> {
    let start = now();
    // SAFETY: an all-zero sockaddr_in, then its family and address set.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from(addr).to_be();
    let mut host = [0 as c_char; libc::NI_MAXHOST as usize];
    // SAFETY: a valid sockaddr_in and a host buffer of the length passed; no service buffer.
    let code = unsafe {
        libc::getnameinfo(
            (&sa as *const libc::sockaddr_in).cast::<libc::sockaddr>(),
            std::mem::size_of::<libc::sockaddr_in>() as socklen_t,
            host.as_mut_ptr(),
            host.len() as socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    let r = if code == 0 {
        // SAFETY: getnameinfo wrote a NUL-terminated name into `host`.
        let name = unsafe { CStr::from_ptr(host.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Ok(Answer {
            name: Some(name),
            addrs: Vec::new(),
        })
    } else {
        Err(gai_name(code))
    };
    record(t, "getnameinfo", format!("{addr}, NI_NAMEREQD"), start, &r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_through_event_text() {
        for a in [
            Answer {
                name: Some("localhost".into()),
                addrs: vec![
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(Ipv6Addr::LOCALHOST),
                ],
            },
            Answer {
                name: None,
                addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            },
            Answer {
                name: Some("localhost".into()),
                addrs: vec![],
            },
        ] {
            let mut e = Event::new(Role::Client, "client", "getaddrinfo", 0);
            e.ret = Some(0);
            e.text = Some(answer_text(&a));
            assert_eq!(answer_of(&e), Some(a));
        }
        let mut e = Event::new(Role::Client, "client", "getaddrinfo", 0);
        e.errno = Some("EAI_NONAME".into());
        assert_eq!(answer_of(&e), None);
    }
}
