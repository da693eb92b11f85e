//! The `epoll` program: the echo server's epoll loop, and clients L and E taking turns.

use std::net::SocketAddr;
use std::sync::Arc;

use nix::libc;
use socket2::{Domain, Type};

use super::{BUF_SIZE, EDGE, E_LINE, E_MORE, LEVEL, L_LINE};
use crate::live::tracer::calls_mux::Epoll;
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::select::asleep::{Watch, EPOLL_WAIT};
use crate::scenario::{any_port, bound, read_exactly, Peer};

/// The texts' EPOLL_SIZE.
const EPOLL_SIZE: usize = 50;
/// The loop's timeout in ms (the texts': -1, forever).
const WAIT_MS: i32 = 1000;
/// The wait after E's partial read, in ms.
pub(super) const PARTIAL_MS: i32 = 100;

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let serv = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&serv, any_port())?;
    t.listen(&serv, 5)?;
    let addr = bound(&serv)?;
    t.ready()?;
    let watch = Arc::new(Watch::new(EPOLL_WAIT));
    let w = watch.clone();
    let clients = Peer::start(t, move |tc| {
        let r = clients(tc, addr, &w);
        w.leave();
        r
    });
    let served = serve(t, &serv, &watch);
    if served.is_err() {
        watch.leave();
    }
    let joined = clients.join();
    served?;
    joined?;
    t.close(serv)
}

/// A client connection and how it was registered.
struct Conn {
    s: Sock,
    edge: bool,
    /// Events handled so far.
    events: usize,
}

fn serve(t: &Tracer, serv: &Sock, watch: &Watch) -> Result<(), LiveError> {
    let epfd = t.epoll_create(Role::Server, EPOLL_SIZE as i32)?;
    t.epoll_add(&epfd, serv, libc::EPOLLIN as u32)?;
    let mut conns: Vec<Conn> = Vec::new();
    let mut accepted = 0;
    // E's partial read happened: the next call waits only PARTIAL_MS.
    let mut after_partial = false;
    loop {
        let timeout = if after_partial { PARTIAL_MS } else { WAIT_MS };
        watch.entering();
        let events = t.epoll_wait(&epfd, EPOLL_SIZE, timeout)?;
        if after_partial && events.is_empty() {
            // No event came: what the partial read left behind.
            if let Some(c) = conns.iter().find(|c| c.edge) {
                t.unread(&c.s)?;
            }
        }
        after_partial = false;
        if events.is_empty() && watch.gone() {
            return Err(LiveError::Scenario(
                "the clients stopped before they were all served".into(),
            ));
        }
        for ev in events {
            if ev.fd == serv.fd() {
                let c = t.accept(serv)?;
                // The first client is served level-triggered, the second edge-triggered.
                let edge = accepted == 1;
                let mut mask = libc::EPOLLIN as u32;
                if edge {
                    t.set_nonblocking(&c)?;
                    mask |= libc::EPOLLET as u32;
                }
                t.epoll_add(&epfd, &c, mask)?;
                t.print(Role::Server, &format!("connected client: {}", c.fd()));
                conns.push(Conn {
                    s: c,
                    edge,
                    events: 0,
                });
                accepted += 1;
                continue;
            }
            let Some(k) = conns.iter().position(|c| c.s.fd() == ev.fd) else {
                return Err(LiveError::Scenario(format!(
                    "epoll_wait() named fd {}, which is no client of ours",
                    ev.fd
                )));
            };
            conns[k].events += 1;
            let c = &conns[k];
            // E's first event is handled the level-triggered way: one read.
            let partial = c.edge && c.events == 1;
            let open = if c.edge && !partial {
                read_until_eagain(t, &epfd, &c.s)?
            } else {
                read_once(t, &epfd, &c.s)?
            };
            if !open {
                t.close(conns.remove(k).s)?;
                t.print(Role::Server, &format!("closed client: {}", ev.fd));
            } else if partial {
                t.print(
                    Role::Server,
                    "one read of 4 bytes on an edge-triggered socket: will another event come?",
                );
                after_partial = true;
            }
        }
        if accepted == 2 && conns.is_empty() {
            return t.close_epoll(epfd);
        }
    }
}

/// One read per event (echo_EPLTserv.c); false once the client's FIN was read.
fn read_once(t: &Tracer, epfd: &Epoll, s: &Sock) -> Result<bool, LiveError> {
    let mut buf = [0u8; BUF_SIZE];
    let n = t.read(s, &mut buf)?;
    if n == 0 {
        t.epoll_del(epfd, s)?;
        return Ok(false);
    }
    t.write(s, &buf[..n])?;
    Ok(true)
}

/// Reads until EAGAIN (echo_EPETserv.c); false once the client's FIN was read.
fn read_until_eagain(t: &Tracer, epfd: &Epoll, s: &Sock) -> Result<bool, LiveError> {
    let mut buf = [0u8; BUF_SIZE];
    loop {
        match t.read(s, &mut buf) {
            Ok(0) => {
                t.epoll_del(epfd, s)?;
                return Ok(false);
            }
            Ok(n) => {
                t.write(s, &buf[..n])?;
            }
            Err(LiveError::Call { source, .. }) if source.raw_os_error() == Some(libc::EAGAIN) => {
                return Ok(true);
            }
            Err(e) => return Err(e),
        }
    }
}

/// A client's connection, under its name.
struct Client {
    t: Tracer,
    s: Sock,
}

fn connect(tc: &Tracer, name: &'static str, addr: SocketAddr) -> Result<Client, LiveError> {
    let t = tc.named(name);
    let s = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.connect(&s, addr)?;
    Ok(Client { t, s })
}

/// Clients L and E, one step at a time, each while the server sleeps in epoll_wait().
fn clients(tc: &Tracer, addr: SocketAddr, w: &Watch) -> Result<(), LiveError> {
    let mut seen = w.asleep_after(0)?;
    tc.mark(
        "epoll/level",
        "level-triggered (EPOLLIN), 4-byte reads: one segment of 10 bytes, three events",
    );
    let l = connect(tc, LEVEL, addr)?;
    seen = w.asleep_after(seen)?;
    l.t.write(&l.s, L_LINE)?;
    echo(&l, L_LINE.len())?;
    seen = w.asleep_after(seen)?;
    l.t.close(l.s)?;
    seen = w.asleep_after(seen)?;
    tc.mark(
        "epoll/edge",
        "edge-triggered (EPOLLIN|EPOLLET): one read of 4, then no event though 6 bytes wait",
    );
    let e = connect(tc, EDGE, addr)?;
    seen = w.asleep_after(seen)?;
    e.t.write(&e.s, E_LINE)?;
    echo(&e, BUF_SIZE)?;
    // Past the server's 100 ms wait (which must end with nothing), asleep in the next.
    seen = w.asleep_after(seen + 1)?;
    tc.mark(
        "epoll/more",
        "more data: a new segment, a new event; now read until EAGAIN",
    );
    e.t.write(&e.s, E_MORE)?;
    echo(&e, E_LINE.len() - BUF_SIZE + E_MORE.len())?;
    w.asleep_after(seen)?;
    e.t.close(e.s)
}

/// Reads `n` bytes of echo.
fn echo(c: &Client, n: usize) -> Result<(), LiveError> {
    let back = read_exactly(&c.t, &c.s, n)?;
    c.t.print(
        Role::Client,
        &format!("echo: {}", String::from_utf8_lossy(&back)),
    );
    Ok(())
}
