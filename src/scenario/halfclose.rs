//! `halfclose`: a file transfer that ends with shutdown(SHUT_WR): the server's FIN says "end of
//! file", and the client still answers on the same connection.
//!
//! ```c
//! /* server */                                /* client */
//! conn = accept(s);                           connect(c, server);
//! while ((n = fread(buf, 1, 30, fp)) > 0)     while ((n = read(c, buf, 30)) != 0)
//!     write(conn, buf, n);                        fwrite(buf, 1, n, fp);
//! shutdown(conn, SHUT_WR);   /* FIN → */      puts("Received file data");
//! read(conn, buf, 30);       /* ← data */     write(c, "Thank you", 10);
//! printf("Message from client: %s\n", buf);   close(c);
//! close(conn);
//! ```

use std::net::Shutdown;
use std::time::Duration;

use socket2::{Domain, Type};

use super::{any_port, bound, read_exactly, Peer, Scenario};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::model::{Dir, Pkt};
use crate::live::tcpstate::TcpState;
use crate::live::{LiveError, Role, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "halfclose",
    lesson: "lesson 4: closing",
    summary: "shutdown(SHUT_WR) after a file transfer: FIN one way, data still flowing the other",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
The server sends a small file in 30-byte writes, then calls shutdown(SHUT_WR): its FIN tells
the client \"end of file\" (the client's read() returns 0), but unlike close() it keeps the
socket open for reading. The client then writes \"Thank you\" (10 bytes: the C string's
terminating NUL goes too, shown as \\x00) and the server still reads it: data flows towards
the side that has already sent its FIN. That is a half-close.

States, as the kernel reports them:
  server: ESTABLISHED → FIN_WAIT1 (FIN sent) → FIN_WAIT2 (FIN acknowledged: it sends no more
          but still receives) → TIME_WAIT (the client's FIN arrived)
  client: ESTABLISHED → CLOSE_WAIT (FIN received: read() returned 0; it may still write)
          → LAST_ACK (its own FIN sent) → CLOSED
The (kernel) and wait lines show them as they happen: the server just after shutdown()
(usually still FIN_WAIT1, as the ACK of its FIN is delayed), the client in CLOSE_WAIT, and the
server in FIN_WAIT2 once the \"Thank you\" is in, before the client closes.

What the diagrams leave out: Linux delays the ACK of a FIN, so the ACK of the server's FIN
often does not travel alone but rides on the client's \"Thank you\" segment (see the facts).
The server's final close() sends nothing: its FIN is already out. Without the half-close
(a close() after the file), the server could not have read the answer, and data arriving at
a closed socket is answered with RST (see `sockscope run reset`).";

/// The "file", sent in 30-byte pieces as the classic file server does.
const FILE: &[u8] = b"TCP half-close demo file.\nLine 2: shutdown(SHUT_WR) sends FIN.\nLine 3: and the reading goes on.\n";
const BUF_SIZE: usize = 30;
/// `write(c, "Thank you", 10)`: the string and its NUL.
const THANKS: &[u8] = b"Thank you\0";

fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let s = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        tc.connect(&s, server)?;
        let mut file = Vec::new();
        let mut buf = [0u8; BUF_SIZE];
        loop {
            let n = tc.read(&s, &mut buf)?;
            if n == 0 {
                break;
            }
            file.extend_from_slice(&buf[..n]);
        }
        tc.print(
            Role::Client,
            &format!("Received file data ({} bytes)", file.len()),
        );
        tc.state(&s)?;
        tc.write(&s, THANKS)?;
        tc.wait_peer_state(&s, TcpState::FinWait2, Duration::from_secs(2))?;
        tc.close(s)
    });

    client.go();
    let conn = t.accept(&listener)?;
    for piece in FILE.chunks(BUF_SIZE) {
        t.write(&conn, piece)?;
    }
    t.shutdown(&conn, Shutdown::Write)?;
    t.state(&conn)?;
    let got = read_exactly(t, &conn, THANKS.len())?;
    let text = String::from_utf8_lossy(&got);
    t.print(
        Role::Server,
        &format!("Message from client: {}", text.trim_end_matches('\0')),
    );
    t.close(conn)?;
    t.close(listener)?;
    client.join()
}

fn has(p: &Pkt, flag: u16) -> bool {
    p.tcp.as_ref().is_some_and(|t| t.has(flag))
}

/// The server's FIN and the client's first data segment.
fn fin_and_answer<'v>(v: &'v View, c: usize) -> (Option<&'v Pkt>, Option<&'v Pkt>) {
    let fin = v
        .conn_pkts(c)
        .find(|p| p.dir == Dir::ToClient && has(p, f::FIN));
    let answer = v.conn_pkts(c).find(|p| p.dir == Dir::ToServer && p.len > 0);
    (fin, answer)
}

/// The text of the client's first `call` event (a TCP state it read or waited for).
fn client_text(v: &View, call: &str) -> Option<String> {
    v.run
        .events
        .iter()
        .find(|e| e.role == Role::Client && e.call == call)
        .and_then(|e| e.text.clone())
}

fn checks(v: &View) -> Vec<Check> {
    let c = match checks::first_tcp(v) {
        Ok(c) => c,
        Err(missing) => return vec![missing],
    };
    let mut out = Vec::new();
    let (fin, answer) = fin_and_answer(v, c);
    out.push(match (fin, answer) {
        (Some(fin), Some(a)) => Check::new(
            fin.ts < a.ts && !has(a, f::FIN),
            "the server's FIN comes first, then the client's data: data still flows towards the side that sent FIN",
            format!(
                "server FIN frame {}, client's {} bytes frame {}",
                fin.index + 1,
                a.len,
                a.index + 1
            ),
        ),
        _ => Check::missing(
            "the server's FIN and the client's answer were captured",
            "a FIN from the server or data from the client is missing",
        ),
    });
    if let Some(a) = answer {
        let end = v.rel_seq(a).wrapping_add(a.len);
        let acked = v
            .conn_pkts(c)
            .filter(|p| p.dir == Dir::ToClient && p.ts > a.ts && has(p, f::ACK))
            .map(|p| v.rel_ack(p))
            .find(|&ack| ack >= end);
        out.push(Check::new(
            acked.is_some(),
            "the server, half-closed, still acknowledges the client's data",
            acked.map_or(format!("no ACK of byte {end}"), |ack| {
                format!("ack {ack} ≥ {end}")
            }),
        ));
    }
    let shutdown = v
        .run
        .events
        .iter()
        .find(|e| e.role == Role::Server && e.call == "shutdown");
    let read_after = shutdown.and_then(|s| {
        v.run
            .events
            .iter()
            .filter(|e| e.role == Role::Server && e.call == "read" && e.start > s.end)
            .filter_map(|e| e.data.as_ref())
            .fold(None, |acc: Option<Vec<u8>>, d| {
                let mut a = acc.unwrap_or_default();
                a.extend_from_slice(d);
                Some(a)
            })
    });
    out.push(Check::new(
        read_after.as_deref() == Some(THANKS),
        "after shutdown(SHUT_WR) the server still reads: the client's 10 bytes",
        read_after.map_or("nothing read after shutdown()".to_owned(), |d| {
            let mut s = format!("{} bytes ", d.len());
            crate::live::event::show_bytes(&mut s, &d, 16);
            s
        }),
    ));
    let client_state = client_text(v, "state");
    out.push(Check::new(
        client_state.as_deref() == Some("CLOSE_WAIT"),
        "the client is in CLOSE_WAIT once read() returned 0, and still writes",
        client_state.unwrap_or_else(|| "no state seen".into()),
    ));
    let server_state = client_text(v, "wait");
    out.push(Check::new(
        server_state.as_deref() == Some("FIN_WAIT2"),
        "the server is in FIN_WAIT2 with the client's data in: its FIN acknowledged, still receiving",
        server_state.unwrap_or_else(|| "no state seen".into()),
    ));
    // FINs by sequence number: a retransmitted FIN is the same FIN (the retransmission check
    // flags it).
    let fins = |d: Dir| {
        let mut seqs: Vec<u32> = v
            .conn_pkts(c)
            .filter(|p| p.dir == d && has(p, f::FIN))
            .filter_map(|p| p.tcp.as_ref().map(|t| t.seq))
            .collect();
        seqs.dedup();
        seqs.len()
    };
    out.push(Check::new(
        fins(Dir::ToClient) == 1 && fins(Dir::ToServer) == 1,
        "one FIN each way: the server's close() after shutdown() sends no second FIN",
        format!(
            "server FINs {}, client FINs {}",
            fins(Dir::ToClient),
            fins(Dir::ToServer)
        ),
    ));
    out.push(checks::writes_on_wire(v, c, Dir::ToClient));
    out.push(checks::reads_match_writes(v, c, Dir::ToClient));
    out.push(checks::reads_match_writes(v, c, Dir::ToServer));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

fn facts(v: &View) -> Vec<String> {
    let Ok(c) = checks::first_tcp(v) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let data: Vec<&Pkt> = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToClient && p.len > 0)
        .collect();
    let writes = v
        .run
        .events
        .iter()
        .filter(|e| e.role == Role::Server && e.call == "write" && e.ok())
        .count();
    out.push(format!(
        "the file: {} bytes in {writes} writes of at most {BUF_SIZE}, {} data segments",
        data.iter().map(|p| p.len).sum::<u32>(),
        data.len()
    ));
    let (Some(fin), answer) = fin_and_answer(v, c) else {
        return out;
    };
    let fin_end = v.rel_seq(fin).wrapping_add(fin.len).wrapping_add(1);
    let first_ack = v
        .conn_pkts(c)
        .find(|p| p.dir == Dir::ToServer && p.ts > fin.ts && v.rel_ack(p) >= fin_end);
    if let Some(p) = first_ack {
        let ms = (p.ts - fin.ts) as f64 / 1e6;
        let how = if answer.is_some_and(|a| std::ptr::eq(a, p)) {
            "rode on the client's \"Thank you\" segment".to_owned()
        } else if has(p, f::FIN) {
            "rode on the client's FIN".to_owned()
        } else {
            "came alone (a delayed ACK)".to_owned()
        };
        out.push(format!(
            "the ACK of the server's FIN (ack {fin_end}) {how}, {ms:.3} ms after the FIN"
        ));
    }
    out
}
