//! The `select` program: the echo server's select() loop, and its three clients taking turns.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Type};

use super::asleep::{Watch, SELECT};
use super::{BUF_SIZE, CLIENTS};
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::{any_port, bound, read_exactly, Peer};

/// The loop's timeout (the texts' is 5.005 s).
pub(super) const TIMEOUT: Duration = Duration::from_millis(100);

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let serv = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&serv, any_port())?;
    t.listen(&serv, 5)?;
    let addr = bound(&serv)?;
    t.ready()?;
    t.mark(
        "select/timeout",
        "no client yet: select() on the listening socket times out and returns 0",
    );
    let watch = Arc::new(Watch::new(SELECT));
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

/// The select() loop, until the three clients have come and gone.
fn serve(t: &Tracer, serv: &Sock, watch: &Watch) -> Result<(), LiveError> {
    let mut reads: Vec<RawFd> = vec![serv.fd()]; // FD_ZERO; FD_SET(serv_sock)
    let mut fd_max = serv.fd();
    let mut conns: Vec<Sock> = Vec::new();
    let mut accepted = 0;
    let mut buf = [0u8; BUF_SIZE];
    loop {
        let mut cpy_reads = reads.clone();
        let mut timeout = TIMEOUT;
        watch.entering();
        let fd_num = t.select(Role::Server, fd_max + 1, &mut cpy_reads, &mut timeout)?;
        if fd_num == 0 {
            if watch.gone() {
                return Err(LiveError::Scenario(
                    "the clients stopped before they were all served".into(),
                ));
            }
            continue;
        }
        for i in 0..fd_max + 1 {
            if !cpy_reads.contains(&i) {
                continue;
            }
            if i == serv.fd() {
                let c = t.accept(serv)?;
                reads.push(c.fd()); // FD_SET(clnt_sock, &reads)
                reads.sort_unstable();
                fd_max = fd_max.max(c.fd());
                t.print(Role::Server, &format!("connected client: {}", c.fd()));
                conns.push(c);
                accepted += 1;
                continue;
            }
            let Some(k) = conns.iter().position(|c| c.fd() == i) else {
                return Err(LiveError::Scenario(format!(
                    "select() named fd {i}, which is no client of ours"
                )));
            };
            let str_len = t.read(&conns[k], &mut buf)?;
            if str_len == 0 {
                reads.retain(|&f| f != i); // FD_CLR(i, &reads)
                t.close(conns.remove(k))?;
                t.print(Role::Server, &format!("closed client: {i}"));
            } else {
                t.write(&conns[k], &buf[..str_len])?;
            }
        }
        if accepted == CLIENTS.len() && conns.is_empty() {
            return Ok(());
        }
    }
}

/// One client's connection, under its name.
struct Client {
    t: Tracer,
    s: Sock,
}

/// The three clients, one step at a time, each while the server sleeps in select().
fn clients(tc: &Tracer, addr: SocketAddr, w: &Watch) -> Result<(), LiveError> {
    // After the first call (no client yet) has timed out.
    let mut seen = w.asleep_after(1)?;
    tc.mark(
        "select/accept",
        "A and B connect: each handshake's last ACK wakes select() on the listening socket",
    );
    let a = connect(tc, CLIENTS[0], addr)?;
    seen = w.asleep_after(seen)?;
    let b = connect(tc, CLIENTS[1], addr)?;
    seen = w.asleep_after(seen)?;
    tc.mark(
        "select/read",
        "A, then B, writes: each segment wakes select() on that client's socket; read, echo",
    );
    echo(&a, b"Hello from A")?;
    seen = w.asleep_after(seen)?;
    echo(&b, b"Hello from B")?;
    seen = w.asleep_after(seen)?;
    tc.mark(
        "select/close",
        "A closes: its FIN wakes select(); read() returns 0; FD_CLR, close()",
    );
    a.t.close(a.s)?;
    seen = w.asleep_after(seen)?;
    tc.mark(
        "select/reuse",
        "C connects: accept() returns A's old descriptor number",
    );
    let c = connect(tc, CLIENTS[2], addr)?;
    seen = w.asleep_after(seen)?;
    echo(&c, b"Hello from C")?;
    seen = w.asleep_after(seen)?;
    tc.mark("select/end", "B and C close");
    b.t.close(b.s)?;
    w.asleep_after(seen)?;
    c.t.close(c.s)
}

fn connect(tc: &Tracer, name: &'static str, addr: SocketAddr) -> Result<Client, LiveError> {
    let t = tc.named(name);
    let s = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.connect(&s, addr)?;
    Ok(Client { t, s })
}

/// Writes a line and reads its echo.
fn echo(c: &Client, line: &[u8]) -> Result<(), LiveError> {
    c.t.write(&c.s, line)?;
    let back = read_exactly(&c.t, &c.s, line.len())?;
    c.t.print(
        Role::Client,
        &format!("echo: {}", String::from_utf8_lossy(&back)),
    );
    Ok(())
}
