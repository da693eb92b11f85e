//! The traced socket calls: each does the real call and records it as one event.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::MsgFlags;
use socket2::{Domain, SockAddr, Socket, Type};

use super::{domain_name, now, preview, type_name, uninit, GetOpt, Sock, SockOpt, Tracer};
use crate::live::event::Role;
use crate::live::LiveError;

impl Tracer {
    /// `socket(domain, type)`.
    pub fn socket(&self, role: Role, domain: Domain, ty: Type) -> Result<Sock, LiveError> {
        let args = format!("{}, {}", domain_name(domain), type_name(ty));
        let start = now();
        let r = Socket::new(domain, ty, None);
        self.finish(role, "socket", None, args, start, r, |s, e| {
            e.ret = Some(s.as_raw_fd() as i64);
        })
        .map(|s| Sock::new(s, role))
    }

    /// `bind(fd, addr)`; port 0 lets the kernel choose. The port joins the capture filter.
    pub fn bind(&self, s: &Sock, addr: SocketAddr) -> Result<(), LiveError> {
        let start = now();
        let r = s.sock.bind(&SockAddr::from(addr));
        if r.is_ok() {
            s.learn_local();
            if let (Some(l), true) = (s.local(), self.in_origin()) {
                if let Ok(mut p) = self.shared.ports.lock() {
                    p.push(l.port());
                }
            }
        }
        let args = format!("{}, {addr}", s.fd());
        self.finish(s.role, "bind", Some(s.fd()), args, start, r, |_, e| {
            e.local = s.local();
            e.text = s.local().map(|l| format!("(port {})", l.port()));
        })
    }

    /// `listen(fd, backlog)`.
    pub fn listen(&self, s: &Sock, backlog: i32) -> Result<(), LiveError> {
        let start = now();
        let r = s.sock.listen(backlog);
        let args = format!("{}, {backlog}", s.fd());
        self.finish(s.role, "listen", Some(s.fd()), args, start, r, |_, e| {
            e.local = s.local();
        })
    }

    /// `accept(fd)`: waits for a connection whose handshake is complete.
    pub fn accept(&self, s: &Sock) -> Result<Sock, LiveError> {
        let start = now();
        let r = s.sock.accept().map(|(c, peer)| {
            let c = Sock::new(c, s.role);
            c.learn_local();
            c.peer.set(peer.as_socket());
            c
        });
        let args = format!("{}", s.fd());
        self.finish(s.role, "accept", Some(s.fd()), args, start, r, |c, e| {
            e.ret = Some(c.fd() as i64);
            Self::on_sock(e, c);
            e.text = c.peer().map(|p| format!("(from {p})"));
        })
    }

    /// `connect(fd, addr)`: for TCP, returns once the SYN+ACK has arrived.
    pub fn connect(&self, s: &Sock, addr: SocketAddr) -> Result<(), LiveError> {
        let start = now();
        let r = s.sock.connect(&SockAddr::from(addr));
        if r.is_ok() {
            s.learn_local();
            s.peer.set(Some(addr));
        }
        let args = format!("{}, {addr}", s.fd());
        self.finish(s.role, "connect", Some(s.fd()), args, start, r, |_, e| {
            Self::on_sock(e, s);
            e.addr = Some(addr);
        })
    }

    /// `write(fd, data, len)`.
    pub fn write(&self, s: &Sock, data: &[u8]) -> Result<usize, LiveError> {
        let start = now();
        let r = nix::unistd::write(s.sock.as_fd(), data).map_err(io::Error::from);
        self.sent("write", s, data, None, start, r)
    }

    /// `send(fd, data, len, 0)`.
    pub fn send(&self, s: &Sock, data: &[u8]) -> Result<usize, LiveError> {
        let start = now();
        let r = nix::sys::socket::send(s.fd(), data, MsgFlags::empty()).map_err(io::Error::from);
        self.sent("send", s, data, None, start, r)
    }

    /// `sendto(fd, data, len, 0, addr)`.
    pub fn sendto(&self, s: &Sock, data: &[u8], to: SocketAddr) -> Result<usize, LiveError> {
        let start = now();
        let r = s.sock.send_to(data, &SockAddr::from(to));
        if r.is_ok() && s.local().is_none() {
            s.learn_local();
        }
        self.sent("sendto", s, data, Some(to), start, r)
    }

    fn sent(
        &self,
        call: &'static str,
        s: &Sock,
        data: &[u8],
        to: Option<SocketAddr>,
        start: i128,
        r: io::Result<usize>,
    ) -> Result<usize, LiveError> {
        let mut args = format!("{}, {}, {}", s.fd(), preview(data), data.len());
        if let Some(to) = to {
            args.push_str(&format!(", {to}"));
        }
        self.finish(s.role, call, Some(s.fd()), args, start, r, |&n, e| {
            e.ret = Some(n as i64);
            Self::on_sock(e, s);
            if to.is_some() {
                e.addr = to;
            }
            Self::with_data(e, &data[..n.min(data.len())]);
        })
    }

    /// `read(fd, buf, len)`.
    pub fn read(&self, s: &Sock, buf: &mut [u8]) -> Result<usize, LiveError> {
        let start = now();
        let r = nix::unistd::read(s.sock.as_fd(), buf).map_err(io::Error::from);
        self.received("read", s, buf, start, r.map(|n| (n, None)))
            .map(|(n, _)| n)
    }

    /// `recv(fd, buf, len, 0)`.
    pub fn recv(&self, s: &Sock, buf: &mut [u8]) -> Result<usize, LiveError> {
        let start = now();
        let r = s.sock.recv(uninit(buf));
        self.received("recv", s, buf, start, r.map(|n| (n, None)))
            .map(|(n, _)| n)
    }

    /// `recvfrom(fd, buf, len, 0, &from)`: one datagram, and who sent it.
    pub fn recvfrom(&self, s: &Sock, buf: &mut [u8]) -> Result<(usize, SocketAddr), LiveError> {
        let start = now();
        let r = s
            .sock
            .recv_from(uninit(buf))
            .map(|(n, from)| (n, from.as_socket()));
        let (n, from) = self.received("recvfrom", s, buf, start, r)?;
        let from = from.ok_or_else(|| LiveError::Scenario("recvfrom: sender is not IP".into()))?;
        Ok((n, from))
    }

    fn received(
        &self,
        call: &'static str,
        s: &Sock,
        buf: &[u8],
        start: i128,
        r: io::Result<(usize, Option<SocketAddr>)>,
    ) -> Result<(usize, Option<SocketAddr>), LiveError> {
        let args = format!("{}, {}", s.fd(), buf.len());
        self.finish(
            s.role,
            call,
            Some(s.fd()),
            args,
            start,
            r,
            |&(n, from), e| {
                let got = &buf[..n.min(buf.len())];
                e.ret = Some(n as i64);
                Self::on_sock(e, s);
                Self::with_data(e, got);
                let mut text = if n == 0 && from.is_none() {
                    "(end of stream: the peer's FIN)".to_owned()
                } else {
                    preview(got)
                };
                if let Some(f) = from {
                    e.addr = Some(f);
                    text.push_str(&format!(" from {f}"));
                }
                e.text = Some(text);
            },
        )
    }

    /// `shutdown(fd, how)`: SHUT_WR sends a FIN but keeps the socket open for reading.
    pub fn shutdown(&self, s: &Sock, how: Shutdown) -> Result<(), LiveError> {
        let start = now();
        let r = s.sock.shutdown(how);
        let name = match how {
            Shutdown::Read => "SHUT_RD",
            Shutdown::Write => "SHUT_WR",
            Shutdown::Both => "SHUT_RDWR",
        };
        let args = format!("{}, {name}", s.fd());
        self.finish(s.role, "shutdown", Some(s.fd()), args, start, r, |_, e| {
            Self::on_sock(e, s)
        })
    }

    /// `close(fd)`.
    pub fn close(&self, s: Sock) -> Result<(), LiveError> {
        let (fd, role, local, peer) = (s.fd(), s.role, s.local(), s.peer());
        let start = now();
        let r = nix::unistd::close(s.sock).map_err(io::Error::from);
        self.finish(role, "close", Some(fd), fd.to_string(), start, r, |_, e| {
            e.local = local;
            e.addr = peer;
        })
    }

    /// `close(fd)` on a forked child's copy of a socket it inherited (the parent closes its own
    /// copy with [`Tracer::close`]). Only in a child made by [`Tracer::fork`].
    pub fn close_copy(&self, s: &Sock) -> Result<(), LiveError> {
        if self.in_origin() {
            return Err(LiveError::Scenario(
                "close_copy() is for forked children; use close()".into(),
            ));
        }
        let start = now();
        let r = nix::unistd::close(s.fd()).map_err(io::Error::from);
        self.finish(
            s.role,
            "close",
            Some(s.fd()),
            s.fd().to_string(),
            start,
            r,
            |_, e| Self::on_sock(e, s),
        )
    }

    /// `setsockopt(fd, level, option, value)`.
    pub fn setsockopt(&self, s: &Sock, opt: SockOpt) -> Result<(), LiveError> {
        let start = now();
        let (r, name, v) = match opt {
            SockOpt::TcpNodelay(v) => (s.sock.set_tcp_nodelay(v), "IPPROTO_TCP, TCP_NODELAY", v),
            SockOpt::TcpQuickack(v) => (s.sock.set_tcp_quickack(v), "IPPROTO_TCP, TCP_QUICKACK", v),
            SockOpt::ReuseAddr(v) => (s.sock.set_reuse_address(v), "SOL_SOCKET, SO_REUSEADDR", v),
        };
        let args = format!("{}, {name}, {}", s.fd(), v as u8);
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

    /// `getsockopt(fd, level, option)`: returns the option's value.
    pub fn getsockopt(&self, s: &Sock, opt: GetOpt) -> Result<i64, LiveError> {
        let start = now();
        let (r, name) = match opt {
            GetOpt::TcpNodelay => (s.sock.tcp_nodelay(), "IPPROTO_TCP, TCP_NODELAY"),
            GetOpt::ReuseAddr => (s.sock.reuse_address(), "SOL_SOCKET, SO_REUSEADDR"),
        };
        let args = format!("{}, {name}", s.fd());
        self.finish(
            s.role,
            "getsockopt",
            Some(s.fd()),
            args,
            start,
            r,
            |v, e| {
                e.text = Some(format!("(value {})", *v as u8));
            },
        )
        .map(i64::from)
    }
}
