//! `hello`: the first server and client of the classic texts, and the whole life of one
//! connection.
//!
//! ```c
//! /* hello_server.c */                               /* hello_client.c */
//! char message[] = "Hello world!";                   char message[30];
//! serv_sock = socket(PF_INET, SOCK_STREAM, 0);       sock = socket(PF_INET, SOCK_STREAM, 0);
//! bind(serv_sock, 127.0.0.1:0);
//! listen(serv_sock, 5);
//! clnt_sock = accept(serv_sock, …);                  connect(sock, &serv_addr);
//! write(clnt_sock, message, sizeof(message));        str_len = read(sock, message, sizeof(message) - 1);
//! close(clnt_sock);                                  printf("Message from server: %s \n", message);
//! close(serv_sock);                                  close(sock);
//! ```

use socket2::{Domain, Type};

use super::{any_port, bound, Peer, Scenario};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::model::{Dir, Pkt};
use crate::live::{LiveError, Role, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "hello",
    lesson: "lesson 1: connections",
    summary: "the first server and client: \"Hello world!\" and the whole life of one connection",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
The first program of every socket course, and the whole life of one TCP connection, in three
parts (the facts above list which segments belong to which):

open   connect() and accept() meet in the three-way handshake: [S] →, ← [S.], [.] →
       (`sockscope run handshake` looks at it closely).
data   write() hands the message to the kernel, which sends it at once as one segment of
       13 bytes, not 12: sizeof(message) counts the terminating '\\0' (the 00 that ends the
       payload in the facts). The segment carries PSH (the P in [P.]): deliver this to the
       reader now; Linux sets it on the last segment of every write. The client's one read()
       returns all 13 bytes, since they came in one segment; printf() stops at the '\\0'. The
       client's kernel acknowledges them with ack 14 = 1 + 13, the next byte it expects (15 if
       the same ACK also takes in the server's FIN): ACK numbers grow by the bytes received,
       not by one per segment.
close  The server calls close() right after write(), so its FIN follows the message; the
       client reads, prints and closes, so its FIN answers. Each FIN takes one sequence number
       and is acknowledged with its SEQ + 1. Which FIN leaves first depends on which thread
       runs first after write(): usually the server's (the facts say which). The side whose
       FIN is first ends in TIME_WAIT.

That makes 7 to 10 segments: the client's ACK of the message may travel alone or ride on its
FIN, and the ACK of a FIN may ride on the FIN that answers it.";

/// `char message[] = "Hello world!";` sent with `sizeof(message)`: the '\0' goes too.
const MESSAGE: &[u8] = b"Hello world!\0";
/// `char message[30]`, read with `sizeof(message) - 1`.
const CLIENT_BUF: usize = 29;

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
        let mut message = [0u8; CLIENT_BUF];
        let n = tc.read(&sock, &mut message)?;
        // printf("%s") prints up to the '\0'.
        let text = message[..n].split(|&b| b == 0).next().unwrap_or(&[]);
        tc.print(
            Role::Client,
            &format!("Message from server: {}", String::from_utf8_lossy(text)),
        );
        tc.close(sock)
    });

    client.go();
    let clnt_sock = t.accept(&serv_sock)?;
    t.write(&clnt_sock, MESSAGE)?;
    t.close(clnt_sock)?;
    t.close(serv_sock)?;
    client.join()
}

fn flags(p: &Pkt) -> u16 {
    p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)
}

fn has(p: &Pkt, flag: u16) -> bool {
    p.tcp.as_ref().is_some_and(|t| t.has(flag))
}

/// The part of the connection's life a segment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Open,
    Data,
    Close,
}

/// Each segment of connection `c` with its part: the handshake's three, then data and ACKs,
/// then everything from the first FIN on.
fn parts<'v>(v: &'v View, c: usize) -> Vec<(&'v Pkt, Part)> {
    let mut out = Vec::new();
    let mut closing = false;
    for (i, p) in v.conn_pkts(c).enumerate() {
        closing |= has(p, f::FIN) || has(p, f::RST);
        let part = if closing {
            Part::Close
        } else if i < 3 && p.len == 0 {
            Part::Open
        } else {
            Part::Data
        };
        out.push((p, part));
    }
    out
}

fn checks(v: &View) -> Vec<Check> {
    let c = match checks::first_tcp(v) {
        Ok(c) => c,
        Err(missing) => return vec![missing],
    };
    let pkts: Vec<&Pkt> = v.conn_pkts(c).collect();
    let mut out = Vec::new();
    let shape: Vec<(u16, Dir)> = pkts.iter().take(3).map(|p| (flags(p), p.dir)).collect();
    out.push(Check::new(
        shape
            == [
                (f::SYN, Dir::ToServer),
                (f::SYN | f::ACK, Dir::ToClient),
                (f::ACK, Dir::ToServer),
            ],
        "the connection opens with [S] →, ← [S.], [.] →",
        format!(
            "frames {}",
            pkts.iter()
                .take(3)
                .map(|p| (p.index + 1).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    let wrote = v
        .run
        .events
        .iter()
        .find(|e| e.call == "write" && e.role == Role::Server && e.ok());
    let data: Vec<&&Pkt> = pkts
        .iter()
        .filter(|p| p.dir == Dir::ToClient && p.len > 0)
        .collect();
    out.push(match (wrote, data.as_slice()) {
        (Some(w), [seg]) => Check::new(
            has(seg, f::PSH) && w.data.as_deref() == Some(seg.payload.as_slice()),
            "the message is one segment with PSH, carrying exactly the bytes write() was given",
            format!(
                "frame {} {}, {} bytes for write() of {}",
                seg.index + 1,
                crate::render::describe::flags_bracketed(flags(seg)),
                seg.len,
                w.ret.unwrap_or(0)
            ),
        ),
        (_, segs) => Check::new(
            false,
            "the message is one segment with PSH",
            format!("{} data segments from the server", segs.len()),
        ),
    });
    let reads: Vec<i64> = v
        .run
        .events
        .iter()
        .filter(|e| e.call == "read" && e.role == Role::Client && e.ok())
        .filter_map(|e| e.ret)
        .collect();
    out.push(Check::new(
        reads.first() == Some(&(MESSAGE.len() as i64)),
        "the client's one read() returned the whole message, '\\0' included",
        format!("read() = {reads:?}, message {} bytes", MESSAGE.len()),
    ));
    let (fins_ok, steps) = checks::fins_acked(v, c);
    out.push(Check::new(
        fins_ok,
        "each side sent one FIN, and each FIN was acknowledged with its SEQ + 1",
        steps.join(", "),
    ));
    let n = pkts.len();
    out.push(Check::new(
        (7..=10).contains(&n),
        "the whole life of the connection takes 7 to 10 segments",
        format!("{n} segments"),
    ));
    out.push(checks::writes_on_wire(v, c, Dir::ToClient));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

fn facts(v: &View) -> Vec<String> {
    let Ok(c) = checks::first_tcp(v) else {
        return Vec::new();
    };
    let ps = parts(v, c);
    let mut out = vec![format!(
        "the life of the connection, {} segments:",
        ps.len()
    )];
    for (part, name, calls) in [
        (Part::Open, "open ", "connect() ↔ accept()"),
        (Part::Data, "data ", "write() → read()"),
        (Part::Close, "close", "close() and close()"),
    ] {
        let segs: Vec<&(&Pkt, Part)> = ps.iter().filter(|x| x.1 == part).collect();
        let (Some(first), Some(last)) = (segs.first(), segs.last()) else {
            continue;
        };
        let shapes: Vec<String> = segs
            .iter()
            .map(|(p, _)| {
                let fl = crate::render::describe::flags_bracketed(flags(p));
                let fl = if p.len > 0 {
                    format!("{fl} {} B", p.len)
                } else {
                    fl
                };
                match p.dir {
                    Dir::ToServer => format!("{fl} →"),
                    Dir::ToClient => format!("← {fl}"),
                }
            })
            .collect();
        let frames = if first.0.index == last.0.index {
            format!("frame {}", first.0.index + 1)
        } else {
            format!("frames {}–{}", first.0.index + 1, last.0.index + 1)
        };
        out.push(format!(
            "  {name}  {:<34} {frames:<12} {calls}",
            shapes.join(", ")
        ));
    }
    if let Some(fin) = v.conn_pkts(c).find(|p| has(p, f::FIN)) {
        out.push(format!(
            "the {} closed first (its FIN is frame {}): it is the side that waits in TIME_WAIT",
            fin.dir.sender().name(),
            fin.index + 1
        ));
    }
    if let Some(seg) = v.conn_pkts(c).find(|p| p.dir == Dir::ToClient && p.len > 0) {
        let mut shown = String::new();
        crate::live::event::show_bytes(&mut shown, &seg.payload, 64);
        out.push(format!(
            "the message (frame {}, {} bytes): {shown} = {}",
            seg.index + 1,
            seg.len,
            super::addr::libc::hex(&seg.payload)
        ));
    }
    let data_end = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToClient && p.len > 0)
        .map(|p| v.rel_seq(p).wrapping_add(p.len))
        .max();
    let first_ack = v
        .conn_pkts(c)
        .find(|p| p.dir == Dir::ToServer && has(p, f::ACK) && v.rel_ack(p) > 1);
    if let (Some(end), Some(ack)) = (data_end, first_ack) {
        let a = v.rel_ack(ack);
        let plus_fin = if a == end.wrapping_add(1) {
            " + 1 for the server's FIN"
        } else {
            ""
        };
        out.push(format!(
            "the client acknowledged the message with ack {a} = 1 + {} bytes{plus_fin} (frame {})",
            end.wrapping_sub(1),
            ack.index + 1
        ));
    }
    out
}
