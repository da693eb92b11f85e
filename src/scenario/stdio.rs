//! `stdio`: standard I/O on a socket. The same three lines sent with one `write()` each, then
//! through a `FILE` from `fdopen()`: `fputs()` only fills the C library's buffer, `fflush()`
//! writes it in one go, and `fclose()` closes the socket.
//!
//! ```c
//! /* client, part 1 */                         /* client, part 2 */
//! setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, 1); setsockopt(sock, … TCP_NODELAY, 1);
//! connect(sock, &serv_addr, …);                connect(sock, &serv_addr, …);
//! write(sock, line[0], strlen(line[0]));       FILE *fp = fdopen(sock, "w");
//! write(sock, line[1], strlen(line[1]));       fputs(line[0], fp);  /* buffered */
//! write(sock, line[2], strlen(line[2]));       fputs(line[1], fp);
//! close(sock);                                 fputs(line[2], fp);
//!                                              fflush(fp);          /* one write() */
//! /* server: read() until the end of stream */ fclose(fp);          /* closes sock */
//! ```
//! The calls are the C library's own (glibc's `fdopen`, `fputs`, `fflush`, `fclose`), so the
//! buffering is the real one. TCP_NODELAY keeps Nagle's algorithm out of the comparison.

use socket2::{Domain, Type};

use super::{any_port, bound, Peer, Scenario};
use crate::live::checks::{self, Check};
use crate::live::event::Event;
use crate::live::model::{Dir, Pkt};
use crate::live::{LiveError, Role, SockOpt, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "stdio",
    lesson: "lesson 5: small writes",
    summary: "fdopen + fputs: the C library buffers the lines and fflush sends them in one segment, where a write per line sends one each",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
A socket is a file descriptor, so the C library's standard I/O works on it: fdopen(sock, \"w\")
gives a FILE *, and fputs(), fprintf() and fgets() then read and write it as they would a
file. The difference on the wire is the buffer. write() is a system call: each one hands its
bytes to the kernel, and with TCP_NODELAY set each leaves at once as its own segment. The
first connection sends the three lines of a small HTTP request with one write() each: three
[P.] segments, each with 66 bytes of headers here (link, IP, TCP with timestamps).

fputs() is not a system call: it copies the line into the FILE's buffer (4096 bytes or more,
full buffering for a socket) and returns. On the second connection nothing goes on the wire
during the three fputs() calls; fflush() then writes the whole buffer with one write(), and
the three lines leave together in one segment. Without fflush() they would leave when the
buffer fills, or at fclose(). fclose() closes the descriptor too, so the FIN leaves during
fclose(): the socket must not be closed again with close().

The book uses standard I/O for its convenience (fgets reads a line) and for this buffering,
which saves system calls and segments; it warns that a stream needs fflush() before the peer
can see the data, and that reading and writing need two FILEs (fdopen twice, on the same
descriptor or a dup()). The same effect without stdio: build the message first, or writev().";

const LINES: [&str; 3] = [
    "GET /index.html HTTP/1.0\r\n",
    "Host: 127.0.0.1\r\n",
    "\r\n",
];
/// The two ways the client sends: mark key, title.
const PARTS: [(&str, &str); 2] = [
    ("stdio/write", "one write() per line (TCP_NODELAY)"),
    (
        "stdio/fputs",
        "fdopen(sock, \"w\"), one fputs() per line, fflush(), fclose()",
    ),
];

fn run(t: &Tracer) -> Result<(), LiveError> {
    let serv_sock = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&serv_sock, any_port())?;
    t.listen(&serv_sock, 5)?;
    let server = bound(&serv_sock)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        for (i, (key, title)) in PARTS.iter().enumerate() {
            turn.wait()?;
            tc.mark(key, title);
            let sock = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
            tc.setsockopt(&sock, SockOpt::TcpNodelay(true))?;
            tc.connect(&sock, server)?;
            if i == 0 {
                for l in LINES {
                    tc.write(&sock, l.as_bytes())?;
                }
                tc.close(sock)?;
            } else {
                let fp = tc.fdopen(sock, "w")?;
                for l in LINES {
                    tc.fputs(&fp, l)?;
                }
                tc.fflush(&fp)?;
                tc.fclose(fp)?;
            }
        }
        Ok(())
    });

    for _ in PARTS {
        client.go();
        let clnt_sock = t.accept(&serv_sock)?;
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        loop {
            let n = t.read(&clnt_sock, &mut buf)?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let first = String::from_utf8_lossy(&got);
        t.print(
            Role::Server,
            &format!(
                "request line: {}",
                first.lines().next().unwrap_or("").trim_end()
            ),
        );
        t.close(clnt_sock)?;
    }
    t.close(serv_sock)?;
    client.join()
}

// ---- reading the run back ----

/// One connection: its client calls and the client's segments.
struct Part<'v> {
    c: usize,
    calls: Vec<&'v Event>,
    data: Vec<&'v Pkt>,
    fin: Option<&'v Pkt>,
}

/// The connection opened by the client's connect() in phase `key`.
fn part<'v>(v: &'v View, key: &str) -> Option<Part<'v>> {
    let span = v.phase(key)?;
    let connect = v.calls(Role::Client, "connect", span).next()?;
    let c = v.conn_of(connect)?;
    let calls = v
        .run
        .events
        .iter()
        .filter(|e| e.role == Role::Client && e.start >= span.0 && e.start < span.1)
        .collect();
    let data = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .collect();
    let fin = v.conn_pkts(c).find(|p| {
        p.dir == Dir::ToServer
            && p.tcp
                .as_ref()
                .is_some_and(|t| t.has(crate::analyse::flags::FIN))
    });
    Some(Part {
        c,
        calls,
        data,
        fin,
    })
}

fn call<'v>(p: &Part<'v>, name: &str) -> Vec<&'v Event> {
    p.calls.iter().filter(|e| e.call == name).copied().collect()
}

fn lens(segs: &[&Pkt]) -> Vec<u32> {
    segs.iter().map(|p| p.len).collect()
}

fn frames(segs: &[&Pkt]) -> String {
    let f: Vec<String> = segs.iter().map(|p| (p.index + 1).to_string()).collect();
    f.join(", ")
}

fn checks(v: &View) -> Vec<Check> {
    let (Some(w), Some(s)) = (part(v, PARTS[0].0), part(v, PARTS[1].0)) else {
        return vec![Check::missing(
            "both connections (write, fputs) were captured",
            "a phase mark, a connect() or a connection is missing",
        )];
    };
    let sizes: Vec<u32> = LINES.iter().map(|l| l.len() as u32).collect();
    let all: Vec<u8> = LINES.concat().into_bytes();
    let mut out = vec![Check::new(
        call(&w, "write").len() == LINES.len() && lens(&w.data) == sizes,
        "one write() per line (TCP_NODELAY): three segments, one per line",
        format!(
            "write() sizes {sizes:?} → segments of {:?} (frames {})",
            lens(&w.data),
            frames(&w.data)
        ),
    )];

    let puts = call(&s, "fputs");
    let flush = call(&s, "fflush");
    let close = call(&s, "fclose");
    let (Some(first), Some(f), Some(c)) = (puts.first(), flush.first(), close.first()) else {
        out.push(Check::missing(
            "fputs(), fflush() and fclose() were called",
            "a call is missing",
        ));
        return out;
    };
    let early: Vec<&&Pkt> = s.data.iter().filter(|p| p.ts < f.start).collect();
    out.push(Check::new(
        puts.len() == LINES.len() && puts.iter().all(|e| e.ok()) && early.is_empty(),
        "nothing left during the three fputs(): the lines stayed in the C library's buffer",
        format!(
            "{} fputs() returned; {:.0} µs until fflush() without a data segment",
            puts.len(),
            (f.start - first.start) as f64 / 1e3
        ),
    ));
    out.push(Check::new(
        s.data.len() == 1
            && s.data[0].payload == all
            && f.start <= s.data[0].ts
            && s.data[0].ts <= f.end,
        "fflush() sent the three lines together: one segment, during the fflush() call",
        format!(
            "segments of {:?} (frames {})",
            lens(&s.data),
            frames(&s.data)
        ),
    ));
    out.push(match s.fin {
        Some(fin) => Check::new(
            c.start <= fin.ts && fin.ts <= c.end && c.ok(),
            "fclose() closed the socket: the client's FIN left during fclose()",
            format!(
                "FIN in frame {}, {:.0} µs into fclose()",
                fin.index + 1,
                (fin.ts - c.start) as f64 / 1e3
            ),
        ),
        None => Check::missing(
            "fclose() closed the socket: the client's FIN left during fclose()",
            "no FIN from the client",
        ),
    });
    let wire: Vec<usize> = [&w, &s]
        .iter()
        .map(|p| checks::wire_bytes(v, p.c, Dir::ToServer).len())
        .collect();
    out.push(Check::new(
        [&w, &s]
            .iter()
            .all(|p| checks::wire_bytes(v, p.c, Dir::ToServer) == all),
        "each connection carried the request once, in order",
        format!("{} and {} bytes of {}", wire[0], wire[1], all.len()),
    ));
    out.push(checks::reads_match_writes(v, w.c, Dir::ToServer));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

fn facts(v: &View) -> Vec<String> {
    let (Some(w), Some(s)) = (part(v, PARTS[0].0), part(v, PARTS[1].0)) else {
        return Vec::new();
    };
    let row = |what: &str, p: &Part| {
        let l: Vec<String> = lens(&p.data).iter().map(u32::to_string).collect();
        let headers: u32 = p
            .data
            .iter()
            .map(|x| (v.run.packets[x.index].data.len() as u32).saturating_sub(x.len))
            .sum();
        format!(
            "{what}: {} segment{} ({} bytes), {headers} bytes of headers, frame{} {}",
            p.data.len(),
            if p.data.len() == 1 { "" } else { "s" },
            l.join(" + "),
            if p.data.len() == 1 { "" } else { "s" },
            frames(&p.data)
        )
    };
    vec![row("3 write()s", &w), row("3 fputs() + fflush()", &s)]
}
