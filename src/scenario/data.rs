//! `data`: writes of different sizes and their ACKs, with a forked server child as in the
//! classic concurrent server.
//!
//! ```c
//! /* server */                                  /* client */
//! listen(s, 16);                                connect(c, server);
//! conn = accept(s);                             write(c, "hello\n", 6);
//! if (fork() == 0) {         /* child */        write(c, "this is the second write\n", 25);
//!     close(s);                                 write(c, "0123456789…", 100);
//!     read(conn, …) until 131 bytes;            n = read(c, buf, 64);   /* "Hello world!" */
//!     write(conn, "Hello world!", 12);          printf("Message from server: %s\n", buf);
//!     close(conn); exit(0);                     read(c, …) == 0; close(c);
//! }
//! close(conn); waitpid(child);
//! ```

use std::fmt::Write;

use socket2::{Domain, Type};

use super::{any_port, bound, read_exactly, Peer, Scenario};
use crate::analyse::flags::FIN;
use crate::live::checks::{self, Check};
use crate::live::model::Dir;
use crate::live::{LiveError, Role, SockOpt, Tracer, View};

pub const SCENARIO: Scenario = Scenario {
    name: "data",
    lesson: "lesson 3: data transfer",
    summary: "three writes of different sizes, their SEQ/ACK arithmetic, and the reply",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
The client writes 6, 25 and 100 bytes (TCP_NODELAY is on so that each write leaves at once as
its own segment; see `sockscope run nagle` for what happens without it). Each data segment
shows seq FIRST:NEXT and len: the next segment starts exactly where the previous one ended,

    next SEQ = SEQ + bytes          1 + 6 = 7,  7 + 25 = 32,  32 + 100 = 132

with no \"+1\": only SYN and FIN consume a number without carrying a byte.

An ACK number is the next byte the receiver expects, so it acknowledges every byte before it:

    ACK = SEQ + bytes               1 + 6 = 7,  7 + 25 = 32,  32 + 100 = 132

The book states \"ACK number = SEQ number + number of bytes transferred + 1\" (a segment with
SEQ 1200 and 100 bytes acknowledged with ACK 1301). The checks compute both from the captured
segments: the book's formula is one too many on every ACK here. Its segment carries bytes
1200 to 1299, so the next byte expected is 1300; the +1 belongs only to a SYN or a FIN, which
carries no byte and takes one number (see `sockscope run handshake` and `teardown`).

ACKs are cumulative, and one ACK may cover several segments. The receiver may also wait before
acknowledging to send the ACK with its reply: a delayed ACK, from 40 ms up to 200 ms on Linux,
bounded by the round-trip time (on loopback the 40 ms floor). At the start of a connection
Linux usually acknowledges at once (quick-ACK mode); the facts above list what each ACK
covered and how long after the data it came.

The server is a child process made by fork() after accept(), as the classic concurrent server
does: its calls are on the server side marked [child] (they carry the child's own pid). The reads
return what arrived, not what was written: TCP keeps no message boundaries (compare the read
sizes with the write sizes). The run has no loss and so no retransmission.";

const MESSAGES: [&[u8]; 3] = [
    b"hello\n",
    b"this is the second write\n",
    b"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789",
];
const REPLY: &[u8] = b"Hello world!";

fn total() -> usize {
    MESSAGES.iter().map(|m| m.len()).sum()
}

fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        turn.wait()?;
        let s = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
        tc.setsockopt(&s, SockOpt::TcpNodelay(true))?;
        tc.connect(&s, server)?;
        for m in MESSAGES {
            tc.write(&s, m)?;
        }
        let reply = read_exactly(tc, &s, REPLY.len())?;
        tc.print(
            Role::Client,
            &format!("Message from server: {}", String::from_utf8_lossy(&reply)),
        );
        let mut buf = [0u8; 64];
        tc.read(&s, &mut buf)?;
        tc.close(s)?;
        Ok(())
    });

    client.go();
    let conn = t.accept(&listener)?;
    let child = t.fork(Role::Server, "child", |ct| {
        ct.close_copy(&listener)?;
        let got = read_exactly(ct, &conn, total())?;
        ct.print(
            Role::Server,
            &format!("received {} bytes; replying", got.len()),
        );
        ct.write(&conn, REPLY)?;
        ct.close_copy(&conn)
    })?;
    t.close(conn)?;
    t.waitpid(Role::Server, child)?;
    t.close(listener)?;
    client.join()
}

fn checks(v: &View) -> Vec<Check> {
    let c = match checks::first_tcp(v) {
        Ok(c) => c,
        Err(missing) => return vec![missing],
    };
    // In SEQ order: on a busy machine lo may deliver segments out of order.
    let mut segs: Vec<(u32, u32)> = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .map(|p| (v.rel_seq(p), p.len))
        .collect();
    segs.sort_unstable();
    segs.dedup();
    let mut steps = Vec::new();
    let mut ok = true;
    let mut prev: Option<(u32, u32)> = None;
    for &(seq, len) in &segs {
        if let Some((s, l)) = prev {
            ok &= s.wrapping_add(l) == seq;
        }
        steps.push(format!("{seq} + {len} = {}", seq.wrapping_add(len)));
        prev = Some((seq, len));
    }
    let mut out = vec![Check::new(
        ok && !steps.is_empty(),
        "next SEQ = SEQ + bytes: each data segment starts where the previous one ended",
        steps.join(", "),
    )];
    out.push(ack_formula(v, c, &segs));
    out.extend(checks::both_ways(v, c));
    out
}

/// Each ACK of the client's data against the book's formula: on the wire an ACK is SEQ + bytes
/// of the last segment it covers, where the book says SEQ + bytes + 1. An ACK of the client's
/// FIN (SEQ + 1, the FIN's own number) is not one of them.
fn ack_formula(v: &View, c: usize, segs: &[(u32, u32)]) -> Check {
    let what = "ACK = SEQ + bytes (the next byte expected), not the book's \
                ACK = SEQ + bytes + 1 (1200 + 100 + 1 = 1301)";
    let fin_next: Option<u32> = v
        .conn_pkts(c)
        .find(|q| q.dir == Dir::ToServer && q.tcp.as_ref().is_some_and(|t| t.has(FIN)))
        .map(|q| v.rel_next_seq(q));
    let mut acked = 1u32;
    let mut steps = Vec::new();
    let mut ok = true;
    let mut data_acks = 0;
    for p in v.conn_pkts(c).filter(|p| p.dir == Dir::ToClient) {
        let ack = v.rel_ack(p);
        if ack <= acked || Some(ack) == fin_next {
            continue;
        }
        acked = ack;
        let wire = segs.iter().find(|&&(s, l)| s.wrapping_add(l) == ack);
        let book = segs
            .iter()
            .find(|&&(s, l)| s.wrapping_add(l).wrapping_add(1) == ack);
        match (wire, book) {
            (Some(&(s, l)), _) => {
                data_acks += 1;
                steps.push(format!(
                    "ack {ack} = {s} + {l} (book: {s} + {l} + 1 = {})",
                    ack.wrapping_add(1)
                ));
            }
            (None, Some(&(s, l))) => {
                ok = false;
                steps.push(format!("ack {ack} = {s} + {l} + 1: the book's formula"));
            }
            (None, None) => {
                ok = false;
                steps.push(format!("ack {ack}: no segment ends there"));
            }
        }
    }
    Check::new(ok && data_acks > 0, what, steps.join(", "))
}

/// What each ACK from the server covered, and how long after the data it came.
fn facts(v: &View) -> Vec<String> {
    let Ok(c) = checks::first_tcp(v) else {
        return Vec::new();
    };
    let mut out =
        vec!["ACKs of the client's bytes (an ACK names the next byte expected):".to_owned()];
    let data: Vec<_> = v
        .conn_pkts(c)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .collect();
    let mut acked = 1u32;
    for p in v.conn_pkts(c).filter(|p| p.dir == Dir::ToClient) {
        let ack = v.rel_ack(p);
        if ack <= acked || data.is_empty() {
            continue;
        }
        let covered: Vec<_> = data
            .iter()
            .filter(|d| {
                let end = v.rel_seq(d).wrapping_add(d.len);
                end > acked && end <= ack
            })
            .collect();
        let Some(last) = covered.last() else { continue };
        let mut line = format!(
            "  ack {ack:<5} covers bytes {acked}–{}  ({} segment{}",
            ack - 1,
            covered.len(),
            if covered.len() == 1 {
                ""
            } else {
                "s: cumulative"
            }
        );
        let gap = p.ts - last.ts;
        let _ = write!(line, ", {:.3} ms after the data", gap as f64 / 1e6);
        if gap > 10_000_000 {
            line.push_str(": delayed");
        }
        if p.len > 0 {
            line.push_str(", riding on the reply");
        }
        line.push(')');
        out.push(line);
        acked = ack;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::flags as f;
    use crate::live::{Captured, RunData};

    /// An Ethernet frame from lo (127.0.0.1 both ways) with `len` zero bytes of payload.
    fn frame(to_server: bool, flags: u16, seq: u32, ack: u32, len: u16) -> Vec<u8> {
        let (sp, dp) = if to_server {
            (40000u16, 50000u16)
        } else {
            (50000, 40000)
        };
        let mut b = vec![0u8; 12];
        b.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        b.extend_from_slice(&(40 + len).to_be_bytes());
        b.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        b.extend_from_slice(&sp.to_be_bytes());
        b.extend_from_slice(&dp.to_be_bytes());
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&ack.to_be_bytes());
        b.extend_from_slice(&[0x50, flags as u8, 0xff, 0xff, 0, 0, 0, 0]);
        b.resize(b.len() + len as usize, 0);
        b
    }

    /// The client sends 6 and 25 bytes (ISN 100); the server acknowledges with `acks`.
    fn check(acks: [u32; 2]) -> Check {
        let segs = [
            (true, f::SYN, 100, 0, 0),
            (false, f::SYN | f::ACK, 500, 101, 0),
            (true, f::ACK, 101, 501, 0),
            (true, f::PSH | f::ACK, 101, 501, 6),
            (false, f::ACK, 501, 100 + acks[0], 0),
            (true, f::PSH | f::ACK, 107, 501, 25),
            (false, f::ACK, 501, 100 + acks[1], 0),
        ];
        let run = RunData {
            linktype: 1,
            packets: segs
                .iter()
                .enumerate()
                .map(|(i, &(d, fl, s, a, l))| Captured {
                    ts: 1_000_000_000 + i as i128 * 1000,
                    origlen: 54 + l as u32,
                    data: frame(d, fl, s, a, l),
                })
                .collect(),
            ..RunData::default()
        };
        let v = View::new(&run);
        let mut segs: Vec<(u32, u32)> = v
            .conn_pkts(0)
            .filter(|p| p.dir == Dir::ToServer && p.len > 0)
            .map(|p| (v.rel_seq(p), p.len))
            .collect();
        segs.sort_unstable();
        ack_formula(&v, 0, &segs)
    }

    #[test]
    fn acks_are_seq_plus_bytes_and_the_books_plus_one_fails() {
        let wire = check([7, 32]);
        assert!(wire.ok, "{wire:?}");
        assert_eq!(
            wire.detail,
            "ack 7 = 1 + 6 (book: 1 + 6 + 1 = 8), ack 32 = 7 + 25 (book: 7 + 25 + 1 = 33)"
        );
        let book = check([8, 33]);
        assert!(!book.ok, "{book:?}");
        assert!(book
            .detail
            .contains("ack 8 = 1 + 6 + 1: the book's formula"));
    }
}
