//! `timewait`: the server closes first, so its end of the connection enters TIME_WAIT and holds
//! the listening port; a new server then tries to bind that port, without and with
//! SO_REUSEADDR.
//!
//! ```c
//! /* server A, as first written */            /* client */
//! int off = 0, on = 1;                        connect(c, server);
//! s = socket(AF_INET, SOCK_STREAM, 0);        read(c, …) == 0;   /* the server's FIN */
//! setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &off, sizeof off);
//! bind(s, 127.0.0.1:0); listen(s, 16);        close(c);
//! conn = accept(s);
//! close(conn);            /* active close: this end will be in TIME_WAIT */
//! close(s);               /* the server stops… and is started again: */
//! s = socket(…); setsockopt(s, …, SO_REUSEADDR, &off, …);
//! bind(s, same port) == -1;   /* EADDRINUSE */
//! s = socket(…); setsockopt(s, …, SO_REUSEADDR, &on, …);
//! bind(s, same port);         /* EADDRINUSE too on Linux: the old socket did not set it */
//!
//! /* server B: the textbook's fix, SO_REUSEADDR on from the start */
//! … the same; the restart with SO_REUSEADDR on succeeds, the one without still fails.
//! ```

use std::fmt::Write;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Type};

use super::{any_port, bound, Peer, Scenario};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::tcpstate::{self, TcpState};
use crate::live::tracer::now;
use crate::live::{LiveError, Role, Sock, SockOpt, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "timewait",
    lesson: "lesson 4: closing",
    summary:
        "the side that closes first keeps TIME_WAIT; rebinding its port: EADDRINUSE, SO_REUSEADDR",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
Here the server closes first (the active close): its FIN is the first one on the wire. The
side that sends the first FIN is the one that ends in TIME_WAIT, whichever side that is. After
the exchange the server asks the kernel's socket table (sock_diag over netlink, what `ss`
uses) about both ends: the server's end is in TIME_WAIT, with the time it has left, and the
client's end is gone. The
server's program has closed both its sockets by then: the TIME_WAIT connection belongs to the
kernel alone, and it keeps the server's port, the one clients connect to.

That is why a server stopped and started again at once fails: bind() returns EADDRINUSE
(\"Address already in use\") for as long as TIME_WAIT lasts, 60 s on Linux (RFC 793's 2 × MSL
would be 4 minutes). The classic fix is to set SO_REUSEADDR before bind(). On Linux the rule
is stricter than most texts say: the bind succeeds only if the new socket AND the socket in
TIME_WAIT both had SO_REUSEADDR set (the accepted connection inherits the option from its
listener). So:

  server A (SO_REUSEADDR off): restarts without the option and with it both fail;
  server B (SO_REUSEADDR on):  the restart without the option fails, with it succeeds.

Setting the option only in the restarted program is not enough: the server must set it
every time, from its first start. (Rust's std::net::TcpListener::bind sets SO_REUSEADDR on
Unix, which is why Rust servers rarely meet this; the scenario uses plain sockets with the
option explicitly off or on.)

TIME_WAIT is not a bug: it keeps the connection's four numbers (addresses and ports) out of
use until old duplicate segments have died, and lets the last ACK be sent again if the
peer's FIN is retransmitted.";

/// How long the TIME_WAIT wait may take.
const SETTLE: Duration = Duration::from_secs(2);

fn run(t: &Tracer) -> Result<(), LiveError> {
    let a = listener(t, false)?;
    let b = listener(t, true)?;
    let (addr_a, addr_b) = (bound(&a)?, bound(&b)?);
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        for server in [addr_a, addr_b] {
            turn.wait()?;
            let s = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
            tc.connect(&s, server)?;
            let mut buf = [0u8; 64];
            tc.read(&s, &mut buf)?;
            tc.close(s)?;
        }
        Ok(())
    });

    for (key, name, reuse, server, addr) in
        [("a", "A", "off", a, addr_a), ("b", "B", "on", b, addr_b)]
    {
        t.mark(
            &format!("timewait/{key}"),
            &format!("server {name} (SO_REUSEADDR {reuse}) closes first: its end of the connection enters TIME_WAIT"),
        );
        close_first(t, &client, server)?;
        t.mark(
            &format!("timewait/{key}-restart"),
            &format!(
                "server {name} starts again on the same port, without SO_REUSEADDR and with it"
            ),
        );
        restart(t, addr, false)?;
        restart(t, addr, true)?;
    }
    client.join()
}

fn listener(t: &Tracer, reuse: bool) -> Result<Sock, LiveError> {
    let s = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.setsockopt(&s, SockOpt::ReuseAddr(reuse))?;
    t.bind(&s, any_port())?;
    t.listen(&s, 16)?;
    Ok(s)
}

/// Accepts one connection and closes it first; waits until its end is in TIME_WAIT; stops
/// listening; shows the kernel's table for the port.
fn close_first(t: &Tracer, client: &Peer, listener: Sock) -> Result<(), LiveError> {
    client.go();
    let conn = t.accept(&listener)?;
    let (Some(local), Some(peer)) = (conn.local(), conn.peer()) else {
        return Err(LiveError::Scenario(
            "accept() gave no addresses for the connection".into(),
        ));
    };
    let fd = conn.fd();
    t.close(conn)?;
    wait_time_wait(t, fd, local, peer)?;
    t.close(listener)?;
    kernel_table(t, local, peer)
}

/// Waits until the server's end `local ⇄ peer` is in TIME_WAIT and the client's end is gone
/// (its last ACK arrived), polling the kernel every millisecond; records a `wait` event.
fn wait_time_wait(
    t: &Tracer,
    fd: i32,
    local: SocketAddr,
    peer: SocketAddr,
) -> Result<(), LiveError> {
    let start = now();
    let deadline = Instant::now() + SETTLE;
    let got = loop {
        let mine = tcpstate::state_of(local, peer)?;
        let theirs = tcpstate::state_of(peer, local)?;
        if (mine == Some(TcpState::TimeWait) && theirs.is_none()) || Instant::now() >= deadline {
            break mine;
        }
        thread::sleep(Duration::from_millis(1));
    };
    let mut e = Event::new(Role::Server, Role::Server.name(), "wait", start);
    e.end = now();
    e.fd = Some(fd);
    e.ret = Some(0);
    e.local = Some(local);
    e.addr = Some(peer);
    e.args = format!("the connection of the closed fd {fd} is in TIME_WAIT");
    e.text = Some(got.map_or("gone", TcpState::name).to_owned());
    t.emit(&mut e);
    if got == Some(TcpState::TimeWait) {
        Ok(())
    } else {
        Err(LiveError::Scenario(format!(
            "the server's end {local} ⇄ {peer} did not reach TIME_WAIT within {} s",
            SETTLE.as_secs()
        )))
    }
}

/// The kernel's entry for a connection: its state and the time left on its timer.
type Row = tcpstate::KernelRow;

/// The kernel's entry for `local ⇄ remote`: an exact NETLINK_SOCK_DIAG query, or
/// `/proc/net/tcp{,6}` where netlink is refused (slower: reading it walks the whole table).
/// Returns the entry and where it came from.
fn lookup(local: SocketAddr, remote: SocketAddr) -> Result<(Option<Row>, &'static str), LiveError> {
    if let Ok(row) = tcpstate::diag_lookup(local, remote) {
        return Ok((row, "sock_diag"));
    }
    let path = "/proc/net/tcp";
    let row = tcpstate::proc_lookup(local, remote)
        .map_err(|e| LiveError::file(std::path::Path::new(path), e))?;
    Ok((row, path))
}

/// Prints what the kernel's socket table says about the connection `server ⇄ client`, one
/// line per end: `args` holds the state (`TIME_WAIT`, or `CLOSED` when the end has no entry).
fn kernel_table(t: &Tracer, server: SocketAddr, client: SocketAddr) -> Result<(), LiveError> {
    for (local, remote, whose) in [(server, client, "server"), (client, server, "client")] {
        let start = now();
        let (row, source) = lookup(local, remote)?;
        let mut e = Event::new(Role::Server, Role::Server.name(), "print", start);
        e.local = Some(local);
        e.addr = Some(remote);
        let mut text = format!("{source}: the {whose}'s end {local} ⇄ {remote}: ");
        match row {
            Some(r) => {
                e.args = r.state.name().to_owned();
                text.push_str(r.state.name());
                if let Some(s) = r.timer {
                    let _ = write!(text, ", {s:.3} s left");
                }
            }
            None => {
                e.args = "CLOSED".to_owned();
                text.push_str("no entry (CLOSED)");
            }
        }
        e.text = Some(text);
        t.emit(&mut e);
    }
    Ok(())
}

/// A new server socket on `addr`'s port with SO_REUSEADDR `reuse`: bind, and listen if the
/// bind succeeded.
fn restart(t: &Tracer, addr: SocketAddr, reuse: bool) -> Result<(), LiveError> {
    let s = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.setsockopt(&s, SockOpt::ReuseAddr(reuse))?;
    match t.bind(&s, addr) {
        Ok(()) => {
            t.listen(&s, 16)?;
            t.print(
                Role::Server,
                &format!("listening on port {} again", addr.port()),
            );
        }
        Err(LiveError::Call { source, .. })
            if source.raw_os_error() == Some(nix::libc::EADDRINUSE) =>
        {
            t.print(Role::Server, "bind() error: Address already in use");
        }
        Err(e) => return Err(e),
    }
    t.close(s)
}

/// One server of the run, as its events show it.
struct Part {
    /// `a` or `b`.
    name: &'static str,
    /// SO_REUSEADDR of the first listener (inherited by the connection in TIME_WAIT).
    old_reuse: Option<bool>,
    conn: Option<usize>,
    /// The restarts: SO_REUSEADDR of the new socket, and bind()'s errno (None: success).
    binds: Vec<(Option<bool>, Option<String>)>,
    /// listen() after a successful restart bind.
    listened: bool,
    /// What /proc/net/tcp said: (server end, client end).
    table: (Option<String>, Option<String>),
    /// Seconds left on the TIME_WAIT timer.
    timer: Option<f64>,
}

impl Part {
    /// The errnos of the restart binds whose new socket had SO_REUSEADDR `reuse`.
    fn binds_with(&self, reuse: bool) -> Vec<&Option<String>> {
        self.binds
            .iter()
            .filter(|(r, _)| *r == Some(reuse))
            .map(|(_, e)| e)
            .collect()
    }
}

/// SO_REUSEADDR as set by the last setsockopt on `fd` before `before`.
fn reuse_of(v: &View, role: Role, fd: Option<i32>, before: i128) -> Option<bool> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == role && e.call == "setsockopt" && e.fd == fd && e.start < before)
        .rfind(|e| e.args.contains("SO_REUSEADDR"))
        .and_then(|e| match e.args.rsplit(", ").next() {
            Some("0") => Some(false),
            Some("1") => Some(true),
            _ => None,
        })
}

fn part(v: &View, name: &'static str) -> Option<Part> {
    let span = v.phase(&format!("timewait/{name}"))?;
    let restart = v.phase(&format!("timewait/{name}-restart"))?;
    let accept = v.calls(Role::Server, "accept", span).find(|e| e.ok())?;
    let conn = v.conn_of(accept);
    // The listener: the server socket bound to the address the connection came to.
    let bind = v.run.events.iter().find(|e| {
        e.role == Role::Server && e.call == "bind" && e.ok() && e.local == accept.local
    })?;
    let old_reuse = reuse_of(v, Role::Server, bind.fd, bind.start);
    let binds = v
        .calls(Role::Server, "bind", restart)
        .map(|e| (reuse_of(v, Role::Server, e.fd, e.start), e.errno.clone()))
        .collect();
    let listened = v.calls(Role::Server, "listen", restart).any(|e| e.ok());
    let print_of = |l: Option<SocketAddr>, a: Option<SocketAddr>| {
        v.calls(Role::Server, "print", span)
            .find(|e| e.local.is_some() && e.local == l && e.addr == a)
    };
    let mine = print_of(accept.local, accept.addr);
    let theirs = print_of(accept.addr, accept.local);
    let timer = mine
        .and_then(|e| e.text.as_deref())
        .and_then(|t| t.rsplit(", ").next())
        .and_then(|t| t.strip_suffix(" s left"))
        .and_then(|t| t.parse().ok());
    Some(Part {
        name,
        old_reuse,
        conn,
        binds,
        listened,
        table: (mine.map(|e| e.args.clone()), theirs.map(|e| e.args.clone())),
        timer,
    })
}

fn first_fin<'v>(v: &'v View, c: usize) -> Option<&'v Pkt> {
    v.conn_pkts(c)
        .find(|p| p.tcp.as_ref().is_some_and(|t| t.has(f::FIN)))
}

fn on_off(r: Option<bool>) -> &'static str {
    match r {
        Some(true) => "on",
        Some(false) => "off",
        None => "?",
    }
}

fn result(errno: &Option<String>) -> &str {
    errno.as_deref().unwrap_or("ok")
}

fn checks(v: &View) -> Vec<Check> {
    let (Some(a), Some(b)) = (part(v, "a"), part(v, "b")) else {
        return vec![Check::missing(
            "both servers ran and were restarted",
            "a mark, accept() or bind() event is missing",
        )];
    };
    let mut out = Vec::new();
    for p in [&a, &b] {
        let upper = p.name.to_uppercase();
        let fin = p.conn.and_then(|c| first_fin(v, c));
        out.push(Check::new(
            fin.is_some_and(|x| x.dir == Dir::ToClient),
            format!("server {upper} closed first: the first FIN of its connection is the server's"),
            fin.map_or("no FIN captured".to_owned(), |x| {
                format!("frame {}, {}", x.index + 1, x.dir.sender().name())
            }),
        ));
        let (mine, theirs) = (&p.table.0, &p.table.1);
        out.push(Check::new(
            fin.is_some_and(|x| x.dir == Dir::ToClient)
                && mine.as_deref() == Some("TIME_WAIT")
                && theirs.as_deref() == Some("CLOSED"),
            format!(
                "server {upper}: the side that sent the first FIN is the one in TIME_WAIT (kernel table: server's end TIME_WAIT, client's end gone)"
            ),
            format!(
                "kernel table: server's end {}, client's end {}",
                mine.as_deref().unwrap_or("not looked up"),
                theirs.as_deref().unwrap_or("not looked up")
            ),
        ));
    }
    let restarts = |p: &Part| -> String {
        p.binds
            .iter()
            .map(|(r, e)| format!("SO_REUSEADDR {} → {}", on_off(*r), result(e)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let without: Vec<&Option<String>> = [&a, &b].iter().flat_map(|p| p.binds_with(false)).collect();
    out.push(Check::new(
        without.len() == 2
            && without
                .iter()
                .all(|e| e.as_deref() == Some("EADDRINUSE")),
        "without SO_REUSEADDR, bind() to the port a TIME_WAIT connection holds fails with EADDRINUSE",
        format!("server A: {}; server B: {}", restarts(&a), restarts(&b)),
    ));
    let b_on = b.binds_with(true);
    out.push(Check::new(
        b.old_reuse == Some(true) && b_on.len() == 1 && b_on[0].is_none() && b.listened,
        "with SO_REUSEADDR on the old socket and the new one (server B), bind() succeeds and the server listens again",
        format!(
            "old socket SO_REUSEADDR {}; new socket: {}{}",
            on_off(b.old_reuse),
            restarts(&b),
            if b.listened { ", listen() = 0" } else { "" }
        ),
    ));
    let a_on = a.binds_with(true);
    out.push(Check::new(
        a.old_reuse == Some(false)
            && a_on.len() == 1
            && a_on[0].as_deref() == Some("EADDRINUSE"),
        "Linux: SO_REUSEADDR on the new socket alone is not enough: server A's TIME_WAIT connection came from a listener without it, so bind() still fails",
        format!(
            "old socket SO_REUSEADDR {}; new socket: {}",
            on_off(a.old_reuse),
            restarts(&a)
        ),
    ));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

fn facts(v: &View) -> Vec<String> {
    let parts: Vec<Part> = ["a", "b"].iter().filter_map(|n| part(v, n)).collect();
    let mut out = Vec::new();
    if parts.len() == 2 {
        out.push(
            "bind() to a port held by a TIME_WAIT connection, in this run (rows: the old server; columns: the new socket):"
                .to_owned(),
        );
        out.push(format!(
            "  {:<33} {:<23} {}",
            "", "new: SO_REUSEADDR off", "new: SO_REUSEADDR on"
        ));
        for p in &parts {
            let cell = |want: bool| {
                p.binds
                    .iter()
                    .find(|(r, _)| *r == Some(want))
                    .map_or("—", |(_, e)| result(e))
            };
            out.push(format!(
                "  {:<33} {:<23} {}",
                format!(
                    "server {} (old: SO_REUSEADDR {})",
                    p.name.to_uppercase(),
                    on_off(p.old_reuse)
                ),
                cell(false),
                cell(true)
            ));
        }
    }
    for p in &parts {
        if let Some(s) = p.timer {
            out.push(format!(
                "server {}: TIME_WAIT had {s:.3} s left when the table was read (Linux: 60 s; 2 × MSL would be 240 s)",
                p.name.to_uppercase()
            ));
        }
        if let Some(c) = p.conn {
            let closing: Vec<String> = v
                .conn_pkts(c)
                .skip_while(|x| !x.tcp.as_ref().is_some_and(|t| t.has(f::FIN)))
                .map(|x| {
                    let fs = crate::render::describe::flags_bracketed(
                        x.tcp.as_ref().map_or(0, |t| t.flags & 0xff),
                    );
                    match x.dir {
                        Dir::ToServer => format!("{fs} →"),
                        Dir::ToClient => format!("← {fs}"),
                    }
                })
                .collect();
            out.push(format!(
                "server {}: {} segments to close: {}",
                p.name.to_uppercase(),
                closing.len(),
                closing.join(", ")
            ));
        }
    }
    out
}
