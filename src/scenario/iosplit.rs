//! `iosplit`: the echo client split in two processes: after fork() the parent only reads and
//! the child only writes, then half-closes with shutdown(SHUT_WR).
//!
//! ```c
//! /* client */                                  /* echo server */
//! connect(sock, server);                        conn = accept(s);
//! pid = fork();                                 while ((n = read(conn, buf, 64)) > 0)
//! if (pid == 0) {            /* write_routine */    write(conn, buf, n);
//!     for each line: write(sock, line, len);    close(conn);
//!     shutdown(sock, SHUT_WR);  /* FIN */
//!     close(sock); exit(0);
//! }
//! while ((n = read(sock, buf, 64)) != 0)        /* read_routine */
//!     printf("Message from server: %s", buf);
//! waitpid(pid, NULL, 0);  close(sock);
//! ```
//! The server is a thread of the scenario's process; it calls accept() only once the client's
//! FIN is in, so every request is in flight before the first echo, and the child (forked
//! before that) inherits no descriptor of the server's connection.

use std::net::Shutdown;

use nix::sys::signal::kill;
use nix::unistd::Pid;
use socket2::{Domain, Type};

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{any_port, bound, Peer, Scenario};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::event::{show_bytes, Event};
use crate::live::model::{Dir, Pkt};
use crate::live::tcpstate::{self, TcpState};
use crate::live::tracer::{errno_name, now};
use crate::live::{LiveError, Role, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "iosplit",
    lesson: "lesson 8: processes",
    summary:
        "echo client split by fork(): the child writes then shutdown(SHUT_WR), the parent reads",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
The client forks right after connect(). The child ([child] on the client side: its own pid)
writes every request without waiting for any answer, then calls shutdown(SHUT_WR) and exits;
the parent only reads and prints the echoes. Writing no longer waits for reading.

To make that plain (and the run the same on a busy machine), this echo server starts serving
only once the client's requests and FIN are all in: it waits until the kernel shows its end
of the connection in CLOSE_WAIT, then calls accept(). The kernel has completed the handshake,
received and acknowledged the requests meanwhile: a connection and its data wait in the
listen queue until the program takes them. A classic echo client that waits for each echo
before writing the next line would wait here forever; the split client has sent everything
before the first echo comes back.

shutdown(SHUT_WR) is what makes the split work. Both processes hold a descriptor of the same
socket: close() in the child only drops the child's descriptor and sends nothing, since the
parent still has one. shutdown() acts on the socket itself: it sends the FIN at once, whoever
else holds it. The server's read() returns 0 once it has echoed everything, it closes, and its
FIN ends the parent's read loop: every echo has arrived, nothing is cut off. The server reads
whatever has arrived, so the three requests usually come back as one echo: TCP keeps no
message boundaries.

No zombie is left: the parent collects the child with waitpid(), after which kill(pid, 0)
fails with ESRCH (a zombie would still answer it).";

/// The lines the user types; the writer sends each as one write().
const REQUESTS: [&[u8]; 3] = [
    b"hello\n",
    b"this is the second line\n",
    b"and a third one\n",
];

/// How long the server may wait for the client's FIN.
const LIMIT: Duration = Duration::from_secs(2);

fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;

    // The echo server: it learns the client's address from the client thread (not an event),
    // waits until the client's FIN is in, then serves.
    let (tx, rx) = mpsc::channel::<SocketAddr>();
    let echo = Peer::start(t, move |ts| {
        let client = rx
            .recv()
            .map_err(|_| LiveError::Scenario("the client stopped before connecting".into()))?;
        wait_close_wait(ts, server, client)?;
        let conn = ts.accept(&listener)?;
        let mut buf = [0u8; 64];
        loop {
            let n = ts.read(&conn, &mut buf)?;
            if n == 0 {
                break;
            }
            ts.write(&conn, &buf[..n])?;
        }
        ts.close(conn)?;
        ts.close(listener)
    });

    let sock = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.connect(&sock, server)?;
    if let Some(me) = sock.local() {
        let _ = tx.send(me);
    }
    drop(tx);
    let writer = t.fork(Role::Client, "child", |wt| {
        for r in REQUESTS {
            wt.write(&sock, r)?;
        }
        wt.shutdown(&sock, Shutdown::Write)?;
        wt.close_copy(&sock)
    })?;
    let mut buf = [0u8; 64];
    loop {
        let n = t.read(&sock, &mut buf)?;
        if n == 0 {
            break;
        }
        let mut text = "Message from server: ".to_owned();
        show_bytes(&mut text, &buf[..n], 64);
        t.print(Role::Client, &text);
    }
    let pid = writer.pid();
    t.waitpid(Role::Client, writer)?;
    kill0(t, Role::Client, pid)?;
    t.close(sock)?;
    echo.join()
}

/// Waits until the server's end of `server ⇄ client` (not accepted yet) is in CLOSE_WAIT: the
/// client's requests and FIN are all in. Recorded as a `wait` event.
fn wait_close_wait(t: &Tracer, server: SocketAddr, client: SocketAddr) -> Result<(), LiveError> {
    let start = now();
    let deadline = Instant::now() + LIMIT;
    let got = loop {
        let st = tcpstate::state_of(server, client)?;
        if st == Some(TcpState::CloseWait) || Instant::now() >= deadline {
            break st;
        }
        thread::sleep(Duration::from_millis(1));
    };
    let mut e = Event::new(Role::Server, Role::Server.name(), "wait", start);
    e.end = now();
    e.ret = Some(0);
    e.local = Some(server);
    e.addr = Some(client);
    e.args = format!("the client's FIN is in ({server} ⇄ {client} is CLOSE_WAIT)");
    e.text = Some(
        got.map_or("unknown to the kernel", TcpState::name)
            .to_owned(),
    );
    t.emit(&mut e);
    if got == Some(TcpState::CloseWait) {
        Ok(())
    } else {
        Err(LiveError::Scenario(format!(
            "the client's FIN did not arrive within {} s",
            LIMIT.as_secs()
        )))
    }
}

/// `kill(pid, 0)`: sends no signal, only asks whether the process still exists. A zombie does;
/// a reaped process fails with ESRCH. Recorded as an event (the checks judge it).
fn kill0(t: &Tracer, role: Role, pid: i32) -> Result<(), LiveError> {
    let start = now();
    let r = kill(Pid::from_raw(pid), None);
    let mut e = Event::new(role, role.name(), "kill", start);
    e.end = now();
    e.args = format!("{pid}, 0");
    match r {
        Ok(()) => {
            e.ret = Some(0);
            e.text = Some("(still there: a zombie or still running)".into());
        }
        Err(nix::errno::Errno::ESRCH) => {
            e.ret = Some(-1);
            e.errno = Some("ESRCH".into());
        }
        Err(err) => {
            let io = std::io::Error::from(err);
            e.ret = Some(-1);
            e.errno = Some(errno_name(&io));
            t.emit(&mut e);
            return Err(LiveError::Call {
                call: "kill",
                source: io,
            });
        }
    }
    t.emit(&mut e);
    Ok(())
}

/// The forked child as the events show it: who forked it, its pid.
struct Forked {
    parent: u32,
    pid: u32,
}

fn forked(v: &View) -> Option<Forked> {
    let e = v
        .run
        .events
        .iter()
        .find(|e| e.call == "fork" && e.role == Role::Client && e.ok())?;
    Some(Forked {
        parent: e.pid,
        pid: u32::try_from(e.ret?).ok()?,
    })
}

fn has(p: &Pkt, flag: u16) -> bool {
    p.tcp.as_ref().is_some_and(|t| t.has(flag))
}

/// The client-side calls of process `pid`, prints left out.
fn calls_of<'v>(v: &'v View, pid: u32) -> Vec<&'v str> {
    v.run
        .events
        .iter()
        .filter(|e| e.pid == pid && e.role == Role::Client && e.call != "print")
        .map(|e| e.call.as_str())
        .collect()
}

/// The bytes process `pid` moved with `call` on the client side.
fn bytes(v: &View, pid: u32, call: &str) -> Vec<u8> {
    v.run
        .events
        .iter()
        .filter(|e| e.pid == pid && e.role == Role::Client && e.call == call && e.ok())
        .filter_map(|e| e.data.as_ref())
        .flatten()
        .copied()
        .collect()
}

fn checks(v: &View) -> Vec<Check> {
    let c = match checks::first_tcp(v) {
        Ok(c) => c,
        Err(missing) => return vec![missing],
    };
    let Some(child) = forked(v) else {
        return vec![Check::missing("the client forked", "no fork() event")];
    };
    let mut out = Vec::new();
    let child_calls = calls_of(v, child.pid);
    let parent_calls = calls_of(v, child.parent);
    let child_ok = child_calls.contains(&"write")
        && child_calls
            .iter()
            .all(|c| matches!(*c, "write" | "shutdown" | "close"));
    let parent_ok = parent_calls.contains(&"read")
        && !parent_calls.iter().any(|c| matches!(*c, "write" | "send"));
    out.push(Check::new(
        child_ok && parent_ok && child.pid != child.parent,
        "the I/O is split: the child process (its own pid) only writes, the parent only reads",
        format!(
            "child pid {}: {}; parent pid {}: {} reads, no write",
            child.pid,
            summary(&child_calls),
            child.parent,
            parent_calls.iter().filter(|c| **c == "read").count()
        ),
    ));
    let shutdown = v
        .run
        .events
        .iter()
        .find(|e| e.pid == child.pid && e.call == "shutdown");
    let parent_close = v
        .run
        .events
        .iter()
        .rfind(|e| e.pid == child.parent && e.role == Role::Client && e.call == "close");
    // FINs by sequence number: a retransmitted FIN would be the same FIN (and flagged by the
    // retransmission check).
    let mut fins: Vec<&Pkt> = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && has(p, f::FIN))
        .collect();
    fins.dedup_by_key(|p| p.tcp.as_ref().map(|t| t.seq));
    out.push(match (shutdown, parent_close, fins.as_slice()) {
        (Some(s), Some(pc), [fin]) => Check::new(
            fin.ts > s.start && fin.ts < pc.start,
            "the child's shutdown(SHUT_WR) sent the FIN while the parent still held the socket",
            format!(
                "one client FIN, {:.0} µs after shutdown() began, {:.3} ms before the parent's close()",
                (fin.ts - s.start) as f64 / 1e3,
                (pc.start - fin.ts) as f64 / 1e6
            ),
        ),
        _ => Check::missing(
            "the child's shutdown(SHUT_WR) sent the one client FIN",
            format!(
                "{} client FINs; shutdown() or the parent's close() missing",
                fins.len()
            ),
        ),
    });
    let last_request = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && (p.len > 0 || has(p, f::FIN)))
        .map(|p| p.ts)
        .max();
    let first_echo = v.conn_pkts(c).find(|p| p.dir == Dir::ToClient && p.len > 0);
    let requests = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .count();
    out.push(match (last_request, first_echo) {
        (Some(last), Some(echo)) => Check::new(
            last < echo.ts,
            "the writer never waited for an echo: every request and its FIN were on the wire before the first echo",
            format!(
                "{requests} request segment(s) and the FIN, then the first echo (frame {}) {:.3} ms later",
                echo.index + 1,
                (echo.ts - last) as f64 / 1e6
            ),
        ),
        _ => Check::missing(
            "requests and echoes were captured",
            "no client data or no echo",
        ),
    });
    let (sent, echoed) = (bytes(v, child.pid, "write"), bytes(v, child.parent, "read"));
    let eof = v
        .run
        .events
        .iter()
        .rfind(|e| e.pid == child.parent && e.role == Role::Client && e.call == "read")
        .is_some_and(|e| e.ret == Some(0));
    let server_fin = v
        .conn_pkts(c)
        .any(|p| p.dir == Dir::ToClient && has(p, f::FIN));
    out.push(Check::new(
        sent == echoed && !sent.is_empty() && eof && server_fin,
        "the stream ends cleanly: the parent read back every byte the child wrote, then 0 (the server's FIN)",
        format!(
            "child wrote {} bytes, parent read {} bytes{}",
            sent.len(),
            echoed.len(),
            if eof { ", then end of stream" } else { "" }
        ),
    ));
    out.push(checks::reads_match_writes(v, c, Dir::ToServer));
    out.push(checks::writes_on_wire(v, c, Dir::ToClient));
    let waited =
        v.run.events.iter().find(|e| {
            e.call == "waitpid" && e.pid == child.parent && e.ret == Some(child.pid as i64)
        });
    let gone = waited.and_then(|w| {
        v.run.events.iter().find(|e| {
            e.call == "kill"
                && e.pid == child.parent
                && e.start >= w.end
                && e.args == format!("{}, 0", child.pid)
        })
    });
    let exited = waited.and_then(|w| w.text.as_deref()) == Some("(exited 0)");
    let esrch = gone.and_then(|k| k.errno.as_deref());
    out.push(Check::new(
        exited && esrch == Some("ESRCH"),
        "no zombie left: waitpid() reaped the child (exit 0), then kill(pid, 0) fails with ESRCH",
        format!(
            "child {}: {}, kill({}, 0) {}",
            child.pid,
            if exited { "exited 0" } else { "not reaped" },
            child.pid,
            match (gone, esrch) {
                (None, _) => "not tried".to_owned(),
                (Some(_), Some(e)) => format!("= -1 {e}"),
                (Some(_), None) => "= 0: the process is still there".to_owned(),
            }
        ),
    ));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

/// `write ×3, shutdown, close`.
fn summary(calls: &[&str]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < calls.len() {
        let n = calls[i..].iter().take_while(|c| **c == calls[i]).count();
        out.push(if n > 1 {
            format!("{} ×{n}", calls[i])
        } else {
            calls[i].to_owned()
        });
        i += n;
    }
    out.join(", ")
}

fn facts(v: &View) -> Vec<String> {
    let Ok(c) = checks::first_tcp(v) else {
        return Vec::new();
    };
    let segs = |d: Dir| v.conn_pkts(c).filter(|p| p.dir == d && p.len > 0).count();
    let reads = v
        .run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "read" && e.ret.is_some_and(|n| n > 0))
        .count();
    let total: usize = REQUESTS.iter().map(|r| r.len()).sum();
    vec![format!(
        "{} requests ({total} bytes) went in {} segment(s); the server read them with {reads} read(s) and the echo came back in {} segment(s): TCP keeps no message boundaries",
        REQUESTS.len(),
        segs(Dir::ToServer),
        segs(Dir::ToClient)
    )]
}
