//! The C library's resolver calls, each recorded as an event: `getaddrinfo`, `gethostbyname`
//! and `gethostbyaddr` with the whole `struct hostent` (`h_name`, `h_aliases`, `h_addr_list`).
//! They ask the server that /etc/resolv.conf names, as any program's do.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nix::libc::{self, c_char, c_int, c_void, socklen_t};

use super::{now, Tracer};
use crate::live::event::{Event, Role};
use crate::live::LiveError;

extern "C" {
    fn gethostbyname(name: *const c_char) -> *mut libc::hostent;
    fn gethostbyaddr(addr: *const c_void, len: socklen_t, ty: c_int) -> *mut libc::hostent;
    fn __h_errno_location() -> *mut c_int;
}

/// A `struct hostent`, copied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hostent {
    pub name: String,
    pub aliases: Vec<String>,
    pub addrs: Vec<Ipv4Addr>,
}

impl Hostent {
    /// `(h_name www.example; h_aliases a.example; h_addr_list 192.0.2.1)`, read back by
    /// [`Hostent::parse`].
    pub fn text(&self) -> String {
        let addrs: Vec<String> = self.addrs.iter().map(Ipv4Addr::to_string).collect();
        format!(
            "(h_name {}; h_aliases {}; h_addr_list {})",
            self.name,
            if self.aliases.is_empty() {
                "none".to_owned()
            } else {
                self.aliases.join(", ")
            },
            if addrs.is_empty() {
                "none".to_owned()
            } else {
                addrs.join(", ")
            }
        )
    }

    pub fn parse(text: &str) -> Option<Hostent> {
        let body = text.strip_prefix('(')?.strip_suffix(')')?;
        let mut parts = body.split("; ");
        let name = parts.next()?.strip_prefix("h_name ")?.to_owned();
        let list = |s: &str| -> Vec<String> {
            if s == "none" {
                Vec::new()
            } else {
                s.split(", ").map(str::to_owned).collect()
            }
        };
        let aliases = list(parts.next()?.strip_prefix("h_aliases ")?);
        let addrs = list(parts.next()?.strip_prefix("h_addr_list ")?)
            .iter()
            .map(|a| a.parse().ok())
            .collect::<Option<Vec<Ipv4Addr>>>()?;
        Some(Hostent {
            name,
            aliases,
            addrs,
        })
    }
}

/// The names of h_errno's values.
fn h_errno_name(n: c_int) -> String {
    match n {
        1 => "HOST_NOT_FOUND".into(),
        2 => "TRY_AGAIN".into(),
        3 => "NO_RECOVERY".into(),
        4 => "NO_DATA".into(),
        n => format!("h_errno {n}"),
    }
}

fn eai_name(n: c_int) -> String {
    match n {
        libc::EAI_NONAME => "EAI_NONAME".into(),
        libc::EAI_AGAIN => "EAI_AGAIN".into(),
        libc::EAI_FAIL => "EAI_FAIL".into(),
        libc::EAI_NODATA => "EAI_NODATA".into(),
        libc::EAI_FAMILY => "EAI_FAMILY".into(),
        libc::EAI_SYSTEM => "EAI_SYSTEM".into(),
        n => format!("EAI {n}"),
    }
}

/// Copies a hostent. SAFETY: `h` is a valid hostent from the resolver, not yet overwritten.
unsafe fn copy(h: *const libc::hostent) -> Hostent {
    let h = &*h;
    let mut out = Hostent::default();
    if !h.h_name.is_null() {
        out.name = CStr::from_ptr(h.h_name).to_string_lossy().into_owned();
    }
    let mut p = h.h_aliases;
    while !p.is_null() && !(*p).is_null() {
        out.aliases
            .push(CStr::from_ptr(*p).to_string_lossy().into_owned());
        p = p.add(1);
    }
    let mut p = h.h_addr_list;
    if h.h_addrtype == libc::AF_INET && h.h_length == 4 {
        while !p.is_null() && !(*p).is_null() {
            let b = std::slice::from_raw_parts((*p).cast::<u8>(), 4);
            out.addrs.push(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
            p = p.add(1);
        }
    }
    out
}

impl Tracer {
    fn resolver_event(
        &self,
        role: Role,
        call: &str,
        args: String,
        start: i128,
        r: &Result<String, String>,
    ) {
        let mut e = Event::new(role, self.who(role), call, start);
        e.end = now();
        e.args = args;
        match r {
            Ok(text) => {
                e.ret = Some(0);
                e.text = Some(text.clone());
            }
            Err(name) => {
                e.ret = Some(-1);
                e.errno = Some(name.clone());
            }
        }
        self.emit(&mut e);
    }

    /// `gethostbyname(name)`: the whole hostent, or h_errno's name.
    pub fn gethostbyname(&self, role: Role, name: &str) -> Result<Hostent, LiveError> {
        let start = now();
        let c = CString::new(name).map_err(|_| LiveError::Scenario("a NUL in a name".into()))?;
        // SAFETY: a NUL-terminated name; the result is copied before any other resolver call.
        let r = unsafe {
            let h = gethostbyname(c.as_ptr());
            if h.is_null() {
                Err(h_errno_name(*__h_errno_location()))
            } else {
                Ok(copy(h))
            }
        };
        let text = r.as_ref().map(Hostent::text).map_err(Clone::clone);
        self.resolver_event(role, "gethostbyname", format!("\"{name}\""), start, &text);
        r.map_err(|e| LiveError::Scenario(format!("gethostbyname(\"{name}\"): {e}")))
    }

    /// `gethostbyaddr(&addr, 4, AF_INET)`.
    pub fn gethostbyaddr(&self, role: Role, addr: Ipv4Addr) -> Result<Hostent, LiveError> {
        let start = now();
        let bytes = addr.octets();
        // SAFETY: 4 bytes of address; the result is copied before any other resolver call.
        let r = unsafe {
            let h = gethostbyaddr(bytes.as_ptr().cast(), 4, libc::AF_INET);
            if h.is_null() {
                Err(h_errno_name(*__h_errno_location()))
            } else {
                Ok(copy(h))
            }
        };
        let text = r.as_ref().map(Hostent::text).map_err(Clone::clone);
        let args = format!("{addr}, 4, AF_INET");
        self.resolver_event(role, "gethostbyaddr", args, start, &text);
        r.map_err(|e| LiveError::Scenario(format!("gethostbyaddr({addr}): {e}")))
    }

    /// `getaddrinfo(name, NULL, {AF_UNSPEC, SOCK_STREAM}, &res)`: the addresses, in order.
    pub fn getaddrinfo(&self, role: Role, name: &str) -> Result<Vec<IpAddr>, LiveError> {
        let start = now();
        let c = CString::new(name).map_err(|_| LiveError::Scenario("a NUL in a name".into()))?;
        // SAFETY: zeroed hints with the fields set that getaddrinfo reads; `res` is freed.
        let r = unsafe {
            let mut hints: libc::addrinfo = std::mem::zeroed();
            hints.ai_family = libc::AF_UNSPEC;
            hints.ai_socktype = libc::SOCK_STREAM;
            let mut res: *mut libc::addrinfo = std::ptr::null_mut();
            let n = libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res);
            if n != 0 {
                Err(eai_name(n))
            } else {
                let mut out = Vec::new();
                let mut p = res;
                while !p.is_null() {
                    let a = &*p;
                    if a.ai_family == libc::AF_INET && !a.ai_addr.is_null() {
                        let s = &*(a.ai_addr as *const libc::sockaddr_in);
                        out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(s.sin_addr.s_addr))));
                    } else if a.ai_family == libc::AF_INET6 && !a.ai_addr.is_null() {
                        let s = &*(a.ai_addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::V6(Ipv6Addr::from(s.sin6_addr.s6_addr)));
                    }
                    p = a.ai_next;
                }
                libc::freeaddrinfo(res);
                Ok(out)
            }
        };
        let text = r.as_ref().map(|v| addrs_text(v)).map_err(Clone::clone);
        let args = format!("\"{name}\", NULL, {{AF_UNSPEC, SOCK_STREAM}}");
        self.resolver_event(role, "getaddrinfo", args, start, &text);
        r.map_err(|e| LiveError::Scenario(format!("getaddrinfo(\"{name}\"): {e}")))
    }
}

/// `(192.0.2.1, 2001:db8::1)`.
pub fn addrs_text(v: &[IpAddr]) -> String {
    let a: Vec<String> = v.iter().map(IpAddr::to_string).collect();
    format!("({})", a.join(", "))
}

/// Reads [`addrs_text`] back.
pub fn parse_addrs(text: &str) -> Option<Vec<IpAddr>> {
    let body = text.strip_prefix('(')?.strip_suffix(')')?;
    if body.is_empty() {
        return Some(Vec::new());
    }
    body.split(", ").map(|a| a.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostent_text_reads_back() {
        let h = Hostent {
            name: "www.sockscope.test".into(),
            aliases: vec!["alias.sockscope.test".into()],
            addrs: vec![Ipv4Addr::new(192, 0, 2, 1)],
        };
        assert_eq!(Hostent::parse(&h.text()), Some(h.clone()));
        let bare = Hostent {
            name: "x".into(),
            ..Hostent::default()
        };
        assert_eq!(Hostent::parse(&bare.text()), Some(bare));
        assert_eq!(Hostent::parse("(nothing)"), None);
        let v = vec![
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            "2001:db8::1".parse().unwrap(),
        ];
        assert_eq!(parse_addrs(&addrs_text(&v)), Some(v));
    }
}
