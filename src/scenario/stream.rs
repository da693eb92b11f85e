//! `stream`: TCP keeps no message boundaries. Three quick writes come out of one read; one
//! write comes out of several reads.
//!
//! ```c
//! /* server: reads once */                             /* client */
//! clnt_sock = accept(serv_sock, …);                    connect(sock, &serv_addr);
//! /* the book sleeps here so that every write has       write(sock, "Hi, ", 4);
//!    arrived; this waits for exactly that: */           write(sock, "how are ", 8);
//! setsockopt(clnt_sock, SOL_SOCKET, SO_RCVLOWAT, 16);   write(sock, "you?", 4);
//! poll(&(struct pollfd){clnt_sock, POLLIN}, 1, -1);     while ((n = read(sock, buf, 5)) > 0)
//! str_len = read(clnt_sock, message, BUF_SIZE);             … /* the echo, 5 bytes at most */
//! write(clnt_sock, message, str_len);  /* echo */       close(sock);
//! close(clnt_sock);
//! ```

use std::ffi::c_void;
use std::os::fd::BorrowedFd;

use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use socket2::{Domain, Type};

use super::addr::libc::LibCall;
use super::{any_port, bound, Peer, Scenario};
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::tracer::{errno_name, now};
use crate::live::{LiveError, Role, Sock, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "stream",
    lesson: "lesson 3: data transfer",
    summary:
        "no message boundaries: three writes come out of one read, one write out of four reads",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
TCP carries a stream of bytes, not messages. The client writes \"Hi, \", \"how are \" and \"you?\"
(4, 8 and 4 bytes); the server, which reads only once all 16 have arrived, gets
\"Hi, how are you?\" from a single read(): nothing in the bytes says where one write ended.
The echo goes the other way round: one write() of 16 bytes, read by the client 5 bytes at a
time (the book's tcp_client.c reads 1 byte per call to make the same point): 5 + 5 + 5 + 1,
then 0 at the server's FIN. A program that needs messages must mark them itself: a length in
front, or a delimiter (see `sockscope run proto`).

On the wire, each write here usually leaves at once as its own segment (three [P.] segments:
the first small write is sent immediately, and on lo its ACK is back before the next write),
so the boundaries disappear in the receiver's buffer, not on the wire. Under load the kernel
may also merge writes into one segment (Nagle's algorithm holds a small write while an
earlier one is unacknowledged) or, for large writes, split them: the facts show which bytes
went in which segment and which read returned them. Either way read() returns what is there,
up to the size asked for.

The textbook server sleeps a few seconds before its read so that all writes are in. This one
waits for exactly that: SO_RCVLOWAT = 16 makes poll() report the socket readable only once 16
bytes are queued (the wait line on the server's side).

Compare with `sockscope run udp`: there three sendto() calls arrive as three datagrams and
come out of three recvfrom() calls of the same sizes. UDP keeps boundaries; TCP does not.";

const WRITES: [&[u8]; 3] = [b"Hi, ", b"how are ", b"you?"];
/// The client's read buffer for the echo.
const CLIENT_BUF: usize = 5;
/// The server's read buffer (the book's BUF_SIZE).
const BUF_SIZE: usize = 1024;
/// How long the server waits for the client's bytes before giving up.
const WAIT_MS: u16 = 5000;

fn total() -> usize {
    WRITES.iter().map(|w| w.len()).sum()
}

fn run(t: &Tracer) -> Result<(), LiveError> {
    let serv_sock = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&serv_sock, any_port())?;
    t.listen(&serv_sock, 5)?;
    let server = bound(&serv_sock)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let sock = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        tc.connect(&sock, server)?;
        for w in WRITES {
            tc.write(&sock, w)?;
        }
        let mut echo = Vec::new();
        let mut buf = [0u8; CLIENT_BUF];
        loop {
            let n = tc.read(&sock, &mut buf)?;
            if n == 0 {
                break;
            }
            echo.extend_from_slice(&buf[..n]);
        }
        tc.print(
            Role::Client,
            &format!("Message from server: {}", String::from_utf8_lossy(&echo)),
        );
        tc.close(sock)
    });

    client.go();
    let clnt_sock = t.accept(&serv_sock)?;
    set_rcvlowat(t, &clnt_sock, total())?;
    wait_readable(t, &clnt_sock, total())?;
    let mut message = vec![0u8; BUF_SIZE];
    let n = t.read(&clnt_sock, &mut message)?;
    t.write(&clnt_sock, &message[..n])?;
    t.close(clnt_sock)?;
    t.close(serv_sock)?;
    client.join()
}

/// `setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, n)`, recorded.
fn set_rcvlowat(t: &Tracer, s: &Sock, n: usize) -> Result<(), LiveError> {
    let v = n as libc::c_int;
    let call = LibCall::new(
        s.role(),
        "setsockopt",
        format!("{}, SOL_SOCKET, SO_RCVLOWAT, {n}", s.fd()),
    )
    .fd(s);
    // SAFETY: `v` is a c_int that outlives the call, and the length says so.
    let r = unsafe {
        libc::setsockopt(
            s.fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            &v as *const libc::c_int as *const c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        call.ret(0).emit(t);
        Ok(())
    } else {
        let err = std::io::Error::last_os_error();
        call.ret(-1).errno(&errno_name(&err)).emit(t);
        Err(LiveError::Call {
            call: "setsockopt",
            source: err,
        })
    }
}

/// `poll({fd, POLLIN})` until the socket is readable (with SO_RCVLOWAT set: until that many
/// bytes are queued), recorded as a wait.
fn wait_readable(t: &Tracer, s: &Sock, n: usize) -> Result<(), LiveError> {
    let start = now();
    // SAFETY: `s` owns the descriptor and outlives this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(s.fd()) };
    let r = loop {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(WAIT_MS)) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other,
        }
    };
    let mut e = Event::new(s.role(), s.role().name(), "wait", start);
    e.end = now();
    e.fd = Some(s.fd());
    e.args = format!(
        "fd {} holds {n} bytes (poll POLLIN with SO_RCVLOWAT {n})",
        s.fd()
    );
    match r {
        Ok(1) => {
            e.ret = Some(1);
            e.text = Some(format!("readable: {n} bytes queued"));
            t.emit(&mut e);
            Ok(())
        }
        Ok(_) => {
            e.ret = Some(0);
            e.text = Some("timed out".into());
            t.emit(&mut e);
            Err(LiveError::Scenario(format!(
                "the client's {n} bytes did not arrive within {WAIT_MS} ms"
            )))
        }
        Err(err) => {
            e.ret = Some(-1);
            e.errno = Some(format!("{err:?}"));
            t.emit(&mut e);
            Err(LiveError::Call {
                call: "poll",
                source: err.into(),
            })
        }
    }
}

// ---- reading the run back ----

/// Successful calls `call` of `role` returning data, in order: (event, bytes).
fn transfers<'v>(v: &'v View, role: Role, call: &str) -> Vec<(&'v Event, &'v [u8])> {
    v.run
        .events
        .iter()
        .filter(|e| e.role == role && e.call == call && e.ok() && e.ret.unwrap_or(0) > 0)
        .filter_map(|e| Some((e, e.data.as_deref()?)))
        .collect()
}

/// The data segments going `dir` on connection `c`, in SEQ order.
fn data_segments<'v>(v: &'v View, c: usize, dir: Dir) -> Vec<&'v Pkt> {
    let mut s: Vec<&Pkt> = v
        .conn_pkts(c)
        .filter(|p| p.dir == dir && p.len > 0)
        .collect();
    s.sort_by_key(|p| v.rel_seq(p));
    s
}

/// Stream offsets (from 0) where each of `chunks` ends.
fn ends(chunks: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut at = 0;
    chunks
        .map(|n| {
            at += n;
            at
        })
        .collect()
}

fn checks(v: &View) -> Vec<Check> {
    let c = match checks::first_tcp(v) {
        Ok(c) => c,
        Err(missing) => return vec![missing],
    };
    let writes = transfers(v, Role::Client, "write");
    let reads = transfers(v, Role::Server, "read");
    let segs = data_segments(v, c, Dir::ToServer);
    let written: Vec<u8> = writes.iter().flat_map(|w| w.1.iter().copied()).collect();
    let mut out = vec![Check::new(
        writes.len() == WRITES.len() && reads.len() == 1 && reads[0].1 == written.as_slice(),
        "one read() returned the bytes of all three write()s: nothing marks where each write ended",
        format!(
            "write() sizes {:?} → {} segment(s) of {:?} → read() sizes {:?}",
            writes.iter().map(|w| w.1.len()).collect::<Vec<_>>(),
            segs.len(),
            segs.iter().map(|p| p.len).collect::<Vec<_>>(),
            reads.iter().map(|r| r.1.len()).collect::<Vec<_>>()
        ),
    )];
    let echo = transfers(v, Role::Server, "write");
    let got = transfers(v, Role::Client, "read");
    let echo_segs = data_segments(v, c, Dir::ToClient);
    out.push(Check::new(
        echo.len() == 1 && got.len() > 1 && got.iter().all(|g| g.1.len() <= CLIENT_BUF),
        format!(
            "one write() came back in several read()s of at most {CLIENT_BUF} bytes (the size asked for)"
        ),
        format!(
            "write() of {:?} → {} segment(s) → read() sizes {:?}",
            echo.iter().map(|w| w.1.len()).collect::<Vec<_>>(),
            echo_segs.len(),
            got.iter().map(|g| g.1.len()).collect::<Vec<_>>()
        ),
    ));
    let w_ends = ends(writes.iter().map(|w| w.1.len()));
    let r_ends = ends(reads.iter().map(|r| r.1.len()));
    let lost: Vec<usize> = w_ends
        .iter()
        .filter(|e| !r_ends.contains(e))
        .copied()
        .collect();
    out.push(Check::new(
        !lost.is_empty(),
        "the reads' boundaries are not the writes': bytes that were written apart were read together",
        format!(
            "writes end at bytes {w_ends:?}, the read at {r_ends:?}: the ends at {lost:?} are gone"
        ),
    ));
    out.extend(checks::both_ways(v, c));
    out
}

/// A chunk of `n` bytes drawn one column per byte: `├──┤` (or `│` for one byte).
fn span(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "│".to_owned(),
        _ => format!("├{}┤", "─".repeat(n - 2)),
    }
}

/// The stream's bytes, one column each (`.` for what does not print).
pub fn stream_text(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '.'
            }
        })
        .collect()
}

/// One row of the boundary diagram: `  3 write()s    4 + 8 + 4      ├──┤├──────┤├──┤   note`.
pub fn boundary_row(what: &str, sizes: &[usize], note: &str) -> String {
    let sums: Vec<String> = sizes.iter().map(usize::to_string).collect();
    let mut sum = sums.join(" + ");
    if sum.chars().count() > 15 {
        sum = sums.join("+");
    }
    let bars: String = sizes.iter().map(|&n| span(n)).collect();
    format!("  {what:<13}{sum:<17}{bars}   {note}")
        .trim_end()
        .to_owned()
}

/// The line above the diagram's rows: `text` in the bars' columns.
pub fn boundary_head(what: &str, text: &str) -> String {
    format!("  {what:<30}{text}")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn facts(v: &View) -> Vec<String> {
    let Ok(c) = checks::first_tcp(v) else {
        return Vec::new();
    };
    let mut out = vec![
        "where the bytes were cut: by the writes, on the wire, by the reads (one column per byte)"
            .to_owned(),
    ];
    for (title, sender, receiver, dir) in [
        ("client → server", Role::Client, Role::Server, Dir::ToServer),
        ("server → client", Role::Server, Role::Client, Dir::ToClient),
    ] {
        let w: Vec<&[u8]> = transfers(v, sender, "write").iter().map(|x| x.1).collect();
        let segs = data_segments(v, c, dir);
        let r: Vec<usize> = transfers(v, receiver, "read")
            .iter()
            .map(|x| x.1.len())
            .collect();
        let bytes: Vec<u8> = w.concat();
        out.push(boundary_head(title, &stream_text(&bytes)));
        let frames: Vec<String> = segs.iter().map(|p| (p.index + 1).to_string()).collect();
        out.push(boundary_row(
            &plural(w.len(), "write()", "write()s"),
            &w.iter().map(|x| x.len()).collect::<Vec<_>>(),
            "",
        ));
        out.push(boundary_row(
            &plural(segs.len(), "segment", "segments"),
            &segs.iter().map(|p| p.len as usize).collect::<Vec<_>>(),
            &format!(
                "{} {}",
                if frames.len() == 1 { "frame" } else { "frames" },
                frames.join(", ")
            ),
        ));
        out.push(boundary_row(&plural(r.len(), "read()", "read()s"), &r, ""));
    }
    out
}
