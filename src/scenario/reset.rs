//! `reset`: the two everyday RSTs: (a) a SYN to a port nobody listens on, (b) close() on a
//! socket whose receive buffer still holds unread data.
//!
//! ```c
//! /* (a) client */
//! p = socket(AF_INET, SOCK_STREAM, 0); bind(p, 127.0.0.1:0);   /* learn a free port… */
//! close(p);                                                    /* …and free it again */
//! c = socket(AF_INET, SOCK_STREAM, 0); bind(c, 127.0.0.1:0);
//! connect(c, that port) == -1;         /* errno == ECONNREFUSED: the kernel sent RST+ACK */
//!
//! /* (b) server */                          /* client */
//! conn = accept(s);                         write(c, "request 1\nrequest 2\n", 20);
//! read(conn, buf, 10);   /* "request 1\n" */ read(c, buf, …) == -1;  /* ECONNRESET */
//! ioctl(conn, FIONREAD, &n);  /* n == 10 */ write(c, "request 3\n", 10) == -1; /* EPIPE */
//! close(conn);           /* RST, not FIN */  close(c);
//! ```

use std::net::SocketAddr;

use socket2::{Domain, Type};

use super::{any_port, bound, read_exactly, Peer, Scenario};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt, Proto};
use crate::live::tracer::{errno_name, now};
use crate::live::{LiveError, Role, Sock, Tracer, View};
use crate::render::run::ladder;

pub const SCENARIO: Scenario = Scenario {
    name: "reset",
    lesson: "lesson 4: closing",
    summary:
        "RST: connect() to a closed port (ECONNREFUSED); close() with unread data (ECONNRESET)",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
(a) connect() to a port nobody listens on. The client first binds a socket to port 0 to learn
a free port and closes it again, so nothing listens there. Its SYN is answered at once by the
server host's kernel, not by a program: RST+ACK, ack = the SYN's seq + 1, and seq 0 (RFC 793:
a RST answering a segment without ACK takes sequence number zero). The timeline and ladder
show it as seq 1: their numbers are relative, as Wireshark's are, and a side whose SYN was
never sent counts from its first segment (raw 0 shows as 1); the check reads the raw field.
connect() fails with
ECONNREFUSED (\"Connection refused\") on that first answer: no retry, no timeout. (The client
binds 127.0.0.1:0 before connect() only so that the events record its address: a connect()
that fails gives its port back.)

(b) close() with unread data. The client writes two requests in one write (20 bytes); the
server reads only the first 10, and ioctl(FIONREAD) shows 10 bytes still waiting in its
receive buffer when it calls close(). The classic texts say the data in the input buffer is
simply lost. It is, but not silently: Linux sends RST instead of FIN (RFC 1122 4.2.2.13: a
close with received data pending SHOULD send RST, to show that data was lost), so the client
learns that its request was not read. Note the RST's ack: it acknowledges all 20 bytes. The
server's kernel had received (and acknowledged) them; the server program never read them, so
a TCP acknowledgment says nothing about what the application did.

The client's next call after the RST fails with ECONNRESET (\"Connection reset by peer\"):
here read(), blocked waiting for a reply. The error is reported once; the call after that, a
write(), fails with EPIPE and sends nothing. A C program also gets SIGPIPE there, which kills
it unless it ignores the signal or uses send(…, MSG_NOSIGNAL); Rust programs ignore SIGPIPE
from the start, so the write simply returns the error.

The reset connection skips every closing state: no FIN, no TIME_WAIT on either side.";

/// What the client sends in (b): two requests in one write.
const REQUESTS: &[u8] = b"request 1\nrequest 2\n";
/// The part of it the server reads.
const READ: usize = 10;
/// The write after the reset.
const LATE: &[u8] = b"request 3\n";

fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;

    // (a) A port nobody listens on: bind to port 0, note the port, close.
    let probe = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.bind(&probe, any_port())?;
    let closed = bound(&probe)?;
    t.close(probe)?;
    let c = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.bind(&c, any_port())?;
    t.ready()?;

    t.mark(
        "reset/refused",
        "(a) connect() to a port nobody listens on: the kernel answers RST",
    );
    refused(t, c, closed)?;

    t.mark(
        "reset/unread",
        "(b) the server closes with 10 bytes unread: RST instead of FIN",
    );
    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let s = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        tc.connect(&s, server)?;
        tc.write(&s, REQUESTS)?;
        let mut buf = [0u8; 64];
        let first = expect_error(tc.read(&s, &mut buf), "read")?;
        tc.print(Role::Client, &perror("read", &first));
        let second = expect_error(tc.write(&s, LATE), "write")?;
        tc.print(Role::Client, &perror("write", &second));
        tc.close(s)
    });

    client.go();
    let conn = t.accept(&listener)?;
    let got = read_exactly(t, &conn, READ)?;
    t.print(
        Role::Server,
        &format!(
            "read the first request: {:?}; closing without reading the rest",
            String::from_utf8_lossy(&got)
        ),
    );
    fionread(t, &conn)?;
    t.close(conn)?;
    t.close(listener)?;
    client.join()
}

/// (a): connect() must fail with ECONNREFUSED.
fn refused(t: &Tracer, c: Sock, to: SocketAddr) -> Result<(), LiveError> {
    match t.connect(&c, to) {
        Ok(()) => {
            return Err(LiveError::Scenario(format!(
                "connect() to {to} succeeded: another program took the free port; run again"
            )))
        }
        Err(LiveError::Call { source, .. })
            if source.raw_os_error() == Some(nix::libc::ECONNREFUSED) =>
        {
            t.print(Role::Client, &perror("connect", &source));
        }
        Err(e) => return Err(e),
    }
    t.close(c)
}

/// A call that must fail: its errno, or an error if it succeeded.
fn expect_error<T>(r: Result<T, LiveError>, call: &str) -> Result<std::io::Error, LiveError> {
    match r {
        Ok(_) => Err(LiveError::Scenario(format!(
            "{call}() succeeded after the server's close(); a RST was expected"
        ))),
        Err(LiveError::Call { source, .. }) => Ok(source),
        Err(e) => Err(e),
    }
}

/// What C's `perror(call)` prints, e.g. `read: Connection reset by peer`.
fn perror(call: &str, e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    format!("{call}: {text}")
}

/// `ioctl(fd, FIONREAD, &n)`: bytes waiting in the receive buffer, recorded as an event.
fn fionread(t: &Tracer, s: &Sock) -> Result<i32, LiveError> {
    let start = now();
    let mut n: nix::libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points at `n`.
    let r =
        unsafe { nix::libc::ioctl(s.fd(), nix::libc::FIONREAD, &mut n as *mut nix::libc::c_int) };
    let err = (r < 0).then(std::io::Error::last_os_error);
    let mut e = Event::new(s.role(), s.role().name(), "ioctl", start);
    e.end = now();
    e.fd = Some(s.fd());
    e.args = format!("{}, FIONREAD", s.fd());
    e.local = s.local();
    e.addr = s.peer();
    match &err {
        None => {
            e.ret = Some(0);
            e.text = Some(format!("({n} bytes unread)"));
        }
        Some(x) => {
            e.ret = Some(-1);
            e.errno = Some(errno_name(x));
        }
    }
    t.emit(&mut e);
    match err {
        None => Ok(n),
        Some(source) => Err(LiveError::Call {
            call: "ioctl",
            source,
        }),
    }
}

fn flags(p: &Pkt) -> u16 {
    p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)
}

fn has(p: &Pkt, flag: u16) -> bool {
    flags(p) & flag != 0
}

/// The connection to the closed port: the one whose server end is the probe's address.
fn refused_conn(v: &View) -> Option<(usize, SocketAddr)> {
    let span = v.phase("reset/refused")?;
    let e = v.calls(Role::Client, "connect", span).next()?;
    let to = e.addr.or_else(|| e.args.split(", ").nth(1)?.parse().ok())?;
    let c = v
        .conns
        .iter()
        .position(|c| c.proto == Proto::Tcp && c.server == to)?;
    Some((c, to))
}

/// The connection of part (b): the one the client's connect() made.
fn unread_conn(v: &View) -> Option<usize> {
    let span = v.phase("reset/unread")?;
    v.calls(Role::Client, "connect", span)
        .find(|e| e.ok())
        .and_then(|e| v.conn_of(e))
}

fn errno_of<'v>(v: &'v View, role: Role, call: &'v str, span: (i128, i128)) -> Vec<&'v str> {
    v.calls(role, call, span)
        .filter_map(|e| e.errno.as_deref())
        .collect()
}

fn checks(v: &View) -> Vec<Check> {
    let mut out = Vec::new();
    out.extend(checks_refused(v));
    out.extend(checks_unread(v));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

fn checks_refused(v: &View) -> Vec<Check> {
    let Some(span) = v.phase("reset/refused") else {
        return vec![Check::missing("part (a) ran", "no reset/refused mark")];
    };
    let errs = errno_of(v, Role::Client, "connect", span);
    let mut out = vec![Check::new(
        errs == ["ECONNREFUSED"],
        "(a) connect() to a port nobody listens on fails with ECONNREFUSED",
        if errs.is_empty() {
            "connect() did not fail".to_owned()
        } else {
            format!("connect() = -1 {}", errs.join(", "))
        },
    )];
    let Some((c, to)) = refused_conn(v) else {
        out.push(Check::missing(
            "(a) the SYN and its answer were captured",
            "no packets to the closed port",
        ));
        return out;
    };
    let pkts: Vec<&Pkt> = v.conn_pkts(c).collect();
    let shape: Vec<(Dir, u16)> = pkts.iter().map(|p| (p.dir, flags(p))).collect();
    out.push(Check::new(
        shape == [(Dir::ToServer, f::SYN), (Dir::ToClient, f::RST | f::ACK)],
        format!(
            "(a) port {}: the SYN is answered by RST+ACK, and nothing else is sent",
            to.port()
        ),
        ladder::shape_text(&shape),
    ));
    if let [syn, rst] = pkts[..] {
        let (s, r) = (syn.tcp.as_ref(), rst.tcp.as_ref());
        let (isn, seq, ack) = (
            s.map_or(0, |t| t.seq),
            r.map_or(1, |t| t.seq),
            r.map_or(0, |t| t.ack),
        );
        out.push(Check::new(
            seq == 0 && ack == isn.wrapping_add(1),
            "(a) the RST has seq 0 and acknowledges the SYN: ack = ISN + 1",
            format!("SYN seq {isn}; RST seq {seq} ack {ack}"),
        ));
    }
    out
}

fn checks_unread(v: &View) -> Vec<Check> {
    let (Some(span), Some(c)) = (v.phase("reset/unread"), unread_conn(v)) else {
        return vec![Check::missing(
            "part (b) ran and its connection was captured",
            "no reset/unread mark or no connect() event",
        )];
    };
    let mut out = Vec::new();
    let read: i64 = v
        .calls(Role::Server, "read", span)
        .filter_map(|e| e.ret)
        .filter(|&n| n > 0)
        .sum();
    let wrote: i64 = v
        .calls(Role::Client, "write", span)
        .filter(|e| e.ok())
        .filter_map(|e| e.ret)
        .sum();
    let unread = v.calls(Role::Server, "ioctl", span).find_map(|e| {
        e.text
            .as_deref()?
            .trim_start_matches('(')
            .split(' ')
            .next()?
            .parse::<i64>()
            .ok()
    });
    out.push(Check::new(
        unread.is_some_and(|u| u > 0 && u == wrote - read),
        "(b) the server closed with unread data: it read part of what the client wrote",
        format!(
            "client wrote {wrote} bytes, server read {read}, ioctl(FIONREAD) said {} unread",
            unread.map_or("?".to_owned(), |u| u.to_string())
        ),
    ));
    let from_server: Vec<&Pkt> = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToClient && (has(p, f::FIN) || has(p, f::RST)))
        .collect();
    let closing: Vec<u16> = from_server.iter().map(|p| flags(p)).collect();
    out.push(Check::new(
        closing == [f::RST | f::ACK],
        "(b) close() with unread data sends RST, not FIN: the server's only closing segment is [R.]",
        if closing.is_empty() {
            "no FIN or RST from the server".to_owned()
        } else {
            closing
                .iter()
                .map(|&fl| crate::render::describe::flags_bracketed(fl))
                .collect::<Vec<_>>()
                .join(", ")
        },
    ));
    if let Some(rst) = from_server.first().filter(|p| has(p, f::RST)) {
        let client_next = v
            .conn_pkts(c)
            .filter(|p| p.dir == Dir::ToServer && p.tcp.is_some())
            .map(|p| v.rel_next_seq(p))
            .max();
        let ack = v.rel_ack(rst);
        out.push(Check::new(
            client_next == Some(ack),
            "(b) the RST acknowledges every byte the client sent: the kernel had them, the program never read them",
            format!(
                "RST ack {ack}; the client's bytes end at {}",
                client_next.unwrap_or(0)
            ),
        ));
        let after: Vec<&Pkt> = v
            .conn_pkts(c)
            .filter(|p| p.ts > rst.ts && p.dir == Dir::ToServer)
            .collect();
        let late_write = v
            .calls(Role::Client, "write", span)
            .find(|e| e.errno.is_some());
        out.push(Check::new(
            after.is_empty() && late_write.is_some(),
            "(b) after the RST the client sends nothing: its failed write() and its close() put no packet on the wire",
            format!("{} client packets after the RST", after.len()),
        ));
    }
    let first = v
        .run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && e.start >= span.0 && e.start < span.1)
        .filter(|e| matches!(e.call.as_str(), "read" | "write"))
        .filter(|e| e.errno.is_some())
        .map(|e| format!("{}() = -1 {}", e.call, e.errno.as_deref().unwrap_or("")))
        .collect::<Vec<_>>();
    out.push(Check::new(
        first.first().is_some_and(|s| s.ends_with("ECONNRESET"))
            && first.get(1).is_some_and(|s| s.ends_with("EPIPE")),
        "(b) the client's next call fails with ECONNRESET, the one after with EPIPE",
        first.join(", "),
    ));
    out
}

fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((c, to)) = refused_conn(v) {
        let pkts: Vec<&Pkt> = v.conn_pkts(c).collect();
        if let [syn, rst] = pkts[..] {
            out.push(format!(
                "(a) the RST came {:.0} µs after the SYN: the kernel of the host answers for the closed port {}",
                (rst.ts - syn.ts) as f64 / 1e3,
                to.port()
            ));
        }
    }
    if let (Some(span), Some(c)) = (v.phase("reset/unread"), unread_conn(v)) {
        let close = v
            .calls(Role::Server, "close", span)
            .find(|e| v.conn_of(e) == Some(c));
        let rst = v
            .conn_pkts(c)
            .find(|p| p.dir == Dir::ToClient && has(p, f::RST));
        if let (Some(e), Some(r)) = (close, rst) {
            out.push(format!(
                "(b) the RST left {:.0} µs after the server called close(){}",
                (r.ts - e.start).max(0) as f64 / 1e3,
                if r.ts <= e.end {
                    ", before the call returned"
                } else {
                    ""
                }
            ));
        }
    }
    out
}
