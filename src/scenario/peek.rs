//! `peek`: `recv(…, MSG_PEEK)` returns the bytes in the receive buffer and leaves them there;
//! `MSG_DONTWAIT` makes a call on an empty buffer fail with EAGAIN instead of waiting.
//!
//! ```c
//! /* peek_send.c */                      /* peek_recv.c */
//! connect(sock, &send_adr, …);           recv_sock = accept(acpt_sock, …);
//! write(sock, "123", strlen("123"));     while (1) {
//! close(sock);                               str_len = recv(recv_sock, buf, sizeof(buf) - 1,
//!                                                           MSG_PEEK | MSG_DONTWAIT);
//!                                            if (str_len > 0) break;
//!                                        }
//!                                        printf("Buffering %d bytes: %s \n", str_len, buf);
//!                                        str_len = recv(recv_sock, buf, sizeof(buf) - 1, 0);
//!                                        printf("Read again: %s \n", buf);
//! ```
//! The book's loop spins until the bytes are there; here its first try is made before the
//! client writes (so it shows the EAGAIN), and it tries again each millisecond after that.
//! After the read, one more `recv(…, MSG_DONTWAIT)` shows the buffer empty again.

use std::time::{Duration, Instant};

use nix::sys::socket::MsgFlags;
use socket2::{Domain, Type};

use super::{any_port, bound, gate, Peer, Scenario};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::Dir;
use crate::live::{LiveError, Role, Sock, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "peek",
    lesson: "lesson 11: more I/O functions",
    summary: "recv(MSG_PEEK) leaves the bytes in the buffer, the next recv() returns them again; MSG_DONTWAIT on an empty buffer gives EAGAIN",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
recv() with MSG_PEEK copies what is in the socket's receive buffer without taking it: the
next recv() returns the same bytes again. MSG_DONTWAIT makes one call non-blocking: where
the buffer is empty, recv() returns -1 with errno EAGAIN at once instead of waiting.

The receiver first calls recv(MSG_PEEK|MSG_DONTWAIT) before the sender has written anything:
-1 EAGAIN. The sender then writes \"123\" (one [P.] segment of 3 bytes). The receiver's kernel
acknowledges the 3 bytes as soon as they arrive: TCP's ACK says the bytes are in the receive
buffer, not that a program has read them, and a peek changes nothing on the wire. The peek
now returns 3 (\"Buffering 3 bytes: 123\"), and the following plain recv() returns the same 3
bytes (\"Read again: 123\"): the peek left them where they were. Only that read empties the
buffer, as the last recv(MSG_DONTWAIT), -1 EAGAIN again, shows.

The book's receiver spins on recv(MSG_PEEK|MSG_DONTWAIT) until it returns more than 0, which
burns a CPU; this one tries again each millisecond (the tries are in the timeline). A program
that peeks usually wants to look at a header before deciding how much to read.

The flags are per call: fcntl(O_NONBLOCK) makes every call on the socket non-blocking, while
MSG_DONTWAIT affects only the call it is given to.";

const MESSAGE: &[u8] = b"123";
const BUF_SIZE: usize = 30;
/// How long the receiver tries before giving up on the sender.
const LIMIT: Duration = Duration::from_secs(5);

fn peek_dontwait() -> MsgFlags {
    MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT
}

fn run(t: &Tracer) -> Result<(), LiveError> {
    let acpt_sock = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&acpt_sock, any_port())?;
    t.listen(&acpt_sock, 5)?;
    let server = bound(&acpt_sock)?;
    t.ready()?;

    let (written, wait_written) = gate();
    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let sock = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        tc.connect(&sock, server)?;
        turn.wait()?;
        tc.write(&sock, MESSAGE)?;
        written.open();
        turn.wait()?;
        tc.close(sock)
    });

    client.go();
    let recv_sock = t.accept(&acpt_sock)?;
    t.mark(
        "peek/empty",
        "nothing sent yet: recv(MSG_PEEK|MSG_DONTWAIT) does not wait",
    );
    let mut buf = [0u8; BUF_SIZE];
    match t.recv_flags(&recv_sock, &mut buf[..BUF_SIZE - 1], peek_dontwait()) {
        Err(LiveError::Call { source, .. }) if would_block(&source) => {}
        Ok(n) => {
            return Err(LiveError::Scenario(format!(
                "{n} bytes were there before the client wrote"
            )))
        }
        Err(e) => return Err(e),
    }
    t.mark(
        "peek/peek",
        "the client writes \"123\"; the receiver peeks, then reads",
    );
    client.go();
    wait_written.wait()?;
    let n = peek_until_data(t, &recv_sock, &mut buf)?;
    t.print(
        Role::Server,
        &format!(
            "Buffering {n} bytes: {}",
            String::from_utf8_lossy(&buf[..n])
        ),
    );
    let n = t.recv_flags(&recv_sock, &mut buf[..BUF_SIZE - 1], MsgFlags::empty())?;
    t.print(
        Role::Server,
        &format!("Read again: {}", String::from_utf8_lossy(&buf[..n])),
    );
    t.mark(
        "peek/after",
        "the read took the bytes: the buffer is empty again",
    );
    match t.recv_flags(&recv_sock, &mut buf[..BUF_SIZE - 1], MsgFlags::MSG_DONTWAIT) {
        Err(LiveError::Call { source, .. }) if would_block(&source) => {}
        Ok(n) => {
            return Err(LiveError::Scenario(format!(
                "{n} bytes were still there after the read"
            )))
        }
        Err(e) => return Err(e),
    }
    client.go();
    t.recv_flags(&recv_sock, &mut buf[..BUF_SIZE - 1], MsgFlags::empty())?;
    t.close(recv_sock)?;
    t.close(acpt_sock)?;
    client.join()
}

fn would_block(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock
}

/// The book's loop: `recv(MSG_PEEK|MSG_DONTWAIT)` until it returns bytes (a try each ms).
fn peek_until_data(t: &Tracer, s: &Sock, buf: &mut [u8]) -> Result<usize, LiveError> {
    let deadline = Instant::now() + LIMIT;
    loop {
        match t.recv_flags(s, &mut buf[..BUF_SIZE - 1], peek_dontwait()) {
            Ok(n) if n > 0 => return Ok(n),
            Ok(_) => {
                return Err(LiveError::Scenario(
                    "the client closed before writing".into(),
                ))
            }
            Err(LiveError::Call { source, .. })
                if would_block(&source) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
}

// ---- reading the run back ----

/// The receiver's recv() calls in the order made, each with its flags.
fn recvs<'v>(v: &'v View) -> Vec<&'v Event> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "recv")
        .collect()
}

fn flags_of(e: &Event) -> &str {
    e.args.rsplit(", ").next().unwrap_or("")
}

fn is_peek(e: &Event) -> bool {
    flags_of(e).contains("MSG_PEEK")
}

fn eagain(e: &Event) -> bool {
    e.errno.as_deref() == Some("EAGAIN")
}

fn bytes(e: &Event) -> &[u8] {
    e.data.as_deref().unwrap_or(&[])
}

fn checks(v: &View) -> Vec<Check> {
    let c = match checks::first_tcp(v) {
        Ok(c) => c,
        Err(missing) => return vec![missing],
    };
    let calls = recvs(v);
    let data: Vec<_> = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .collect();
    let first_data = data.first().map(|p| p.ts);
    let mut out = Vec::new();

    // The first call: a peek on an empty buffer, before any byte was on the wire.
    let first = calls.first().copied();
    out.push(Check::new(
        first.is_some_and(|e| is_peek(e) && eagain(e) && first_data.is_some_and(|t| e.end < t)),
        "recv(MSG_PEEK|MSG_DONTWAIT) on the empty buffer returned -1 EAGAIN at once",
        match first {
            Some(e) => format!(
                "{} took {} µs, before the first data segment",
                e.line(),
                (e.end - e.start) / 1000
            ),
            None => "no recv() call".into(),
        },
    ));

    // The successful peek and the plain read after it.
    let peek = calls.iter().find(|e| is_peek(e) && e.ret.unwrap_or(0) > 0);
    let read = calls
        .iter()
        .find(|e| !is_peek(e) && flags_of(e) == "0" && e.ret.unwrap_or(0) > 0);
    out.push(match (peek, read) {
        (Some(p), Some(r)) => Check::new(
            p.start < r.start && bytes(p) == MESSAGE && bytes(r) == bytes(p),
            "the next recv() after the peek returned the same bytes again: the peek left them in the buffer",
            format!("peek: {} · then: {}", p.line(), r.line()),
        ),
        _ => Check::missing(
            "the next recv() after the peek returned the same bytes again",
            "no peek or no read that returned bytes",
        ),
    });

    // The bytes crossed the wire once, and the kernel acknowledged them before the read.
    let wire = checks::wire_bytes(v, c, Dir::ToServer);
    let acked = data.first().and_then(|d| {
        let end = d.tcp.as_ref()?.next_seq();
        v.conn_pkts(c).find(|p| {
            p.dir == Dir::ToClient
                && p.ts >= d.ts
                && p.tcp
                    .as_ref()
                    .is_some_and(|t| t.has(f::ACK) && t.ack == end)
        })
    });
    out.push(match (acked, read) {
        (Some(a), Some(r)) => Check::new(
            wire == MESSAGE && a.ts < r.start,
            "the receiver's kernel acknowledged the bytes before any read took them",
            format!(
                "\"123\" on the wire once; ACK in frame {} ({} µs before the read)",
                a.index + 1,
                (r.start - a.ts) / 1000
            ),
        ),
        _ => Check::missing(
            "the receiver's kernel acknowledged the bytes before any read took them",
            "no ACK of the data, or no read",
        ),
    });

    // After the read, the buffer is empty again.
    let after = read.and_then(|r| calls.iter().find(|e| e.start > r.start));
    out.push(Check::new(
        after.is_some_and(|e| eagain(e) && flags_of(e) == "MSG_DONTWAIT"),
        "after the read, recv(MSG_DONTWAIT) returned -1 EAGAIN: the read emptied the buffer",
        after.map_or("no recv() after the read".into(), |e| e.line()),
    ));
    out.push(checks::writes_on_wire(v, c, Dir::ToServer));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

fn facts(v: &View) -> Vec<String> {
    let calls = recvs(v);
    let tries = calls.iter().filter(|e| is_peek(e) && eagain(e)).count();
    let peeks = calls
        .iter()
        .filter(|e| is_peek(e) && e.ret.unwrap_or(0) > 0)
        .count();
    let reads: usize = calls
        .iter()
        .filter(|e| !is_peek(e))
        .filter_map(|e| e.ret.filter(|&r| r > 0))
        .map(|r| r as usize)
        .sum();
    vec![
        format!(
            "recv(MSG_PEEK|MSG_DONTWAIT): {tries} × EAGAIN, then {peeks} × the bytes; plain reads took {reads} bytes in all"
        ),
        format!(
            "the stream carried {} bytes: the peek copied them, the read took them",
            checks::first_tcp(v)
                .map(|c| checks::wire_bytes(v, c, Dir::ToServer).len())
                .unwrap_or(0)
        ),
    ]
}
