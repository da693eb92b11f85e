//! `teardown`: the FIN exchange, twice: once in four segments, once (usually) in three.
//!
//! ```c
//! /* client: closes first */           /* server */
//! shutdown(c, SHUT_WR);   // FIN →      n = read(conn, …);   // 0: the client's FIN
//! read(c, …) == 0;        // ← FIN      close(conn);         // FIN →
//! close(c);
//! ```
//! Connection 1: the server closes only once its ACK of the client's FIN has gone out (it waits
//! until the client is in FIN_WAIT2), so the close takes four segments. Connection 2: the server
//! closes at once, and its FIN usually carries that ACK: three segments.

use std::net::Shutdown;
use std::time::Duration;

use socket2::{Domain, Type};

use super::{any_port, bound, Peer, Scenario, Waiter};
use crate::analyse::{flags as f, Findings};
use crate::live::checks::{self, Check};
use crate::live::model::{Dir, Pkt};
use crate::live::tcpstate::TcpState;
use crate::live::{LiveError, Role, Sock, Tracer, View};
use crate::render::run::ladder;

pub const SCENARIO: Scenario = Scenario {
    name: "teardown",
    lesson: "lesson 4: closing",
    summary: "the FIN exchange: who closes first, FIN's one sequence number, 4 or 3 segments",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
The client closes first (shutdown(SHUT_WR) sends its FIN and keeps the socket open for
reading). A FIN carries no data but consumes one sequence number: the ACK of a FIN at seq N is
N + 1, just as for a SYN.

States, as the kernel reports them (the (kernel: …) lines):
  client (active close):  ESTABLISHED → FIN_WAIT1 (FIN sent) → FIN_WAIT2 (FIN acknowledged)
                          → TIME_WAIT (peer's FIN received and acknowledged; lasts 60 s on
                          Linux, so late duplicates of this connection die out)
  server (passive close): ESTABLISHED → CLOSE_WAIT (FIN received: read() returns 0)
                          → LAST_ACK (own FIN sent) → CLOSED (its ACK received)

Connection 1 takes four segments: FIN →, ← ACK, ← FIN, ACK →. Linux delays the ACK of a FIN
(the delayed ACK: from 40 ms up to 200 ms, bounded by the round-trip time, so 40 ms on lo)
hoping the program closes soon; here the server waits until that ACK is out.
Connection 2: the server calls close() as soon as read() returns 0, so its FIN leaves before the
delayed ACK and carries it: FIN →, ← FIN+ACK, ACK →, three segments. (On a loaded machine the
server may be late and the ACK go alone; both are correct TCP.) The checks say which of the
two connection 2 showed.

In the four-segment close the server's ACK and its FIN carry the same ACK number (the book's
\"ACK 5001\" twice), which the book calls a retransmission. It is not: every segment after the
handshake carries the ACK flag and the next byte expected, and as nothing new arrived in
between, the number is the same. Nothing is sent again: the bare ACK took no sequence number,
so the FIN has the same SEQ and is new (it takes that number), and neither the analyser nor
Wireshark marks it as a retransmission (nor as a duplicate ACK, which never carries a FIN).

LAST_ACK rarely shows: on lo the client's final ACK is processed inside the server's close().

On a busy machine lo may deliver a packet queued on one CPU after a later one queued on
another: a delayed ACK sent just before the server's FIN can then arrive after it. The client,
in TIME_WAIT, answers it; the server, already closed, answers that with RST; and Linux ends
TIME_WAIT on a RST (the hazard RFC 1337 describes). Only connection 1's TIME_WAIT is checked.";

fn run(t: &Tracer) -> Result<(), LiveError> {
    let listener = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, 16)?;
    let server = bound(&listener)?;
    t.ready()?;

    let client = Peer::spawn(t, move |tc, turn| {
        tc.mark(
            "teardown/4",
            "connection 1: the server closes after its ACK went out → 4 segments",
        );
        client_close_first(tc, &turn, server)?;
        tc.mark(
            "teardown/3",
            "connection 2: the server closes at once → its FIN carries the ACK (usually 3 segments)",
        );
        client_close_first(tc, &turn, server)
    });

    client.go();
    let first = t.accept(&listener)?;
    server_side(t, first, true)?;
    client.go();
    let second = t.accept(&listener)?;
    server_side(t, second, false)?;
    t.close(listener)?;
    client.join()
}

fn client_close_first(
    t: &Tracer,
    turn: &Waiter,
    server: std::net::SocketAddr,
) -> Result<(), LiveError> {
    turn.wait()?;
    let s = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.connect(&s, server)?;
    t.shutdown(&s, Shutdown::Write)?;
    t.state(&s)?;
    let mut buf = [0u8; 16];
    t.read(&s, &mut buf)?;
    t.state(&s)?;
    t.close(s)
}

fn server_side(t: &Tracer, conn: Sock, wait_for_ack: bool) -> Result<(), LiveError> {
    let mut buf = [0u8; 16];
    t.read(&conn, &mut buf)?;
    if wait_for_ack {
        t.state(&conn)?;
        t.wait_peer_state(&conn, TcpState::FinWait2, Duration::from_secs(2))?;
    }
    t.close(conn)
}

/// The segments of connection `c` from the client's FIN on.
fn closing<'v>(v: &'v View, c: usize) -> Vec<&'v Pkt> {
    v.conn_pkts(c)
        .skip_while(|p| !p.tcp.as_ref().is_some_and(|t| t.has(f::FIN)))
        .collect()
}

fn has(p: &Pkt, flag: u16) -> bool {
    p.tcp.as_ref().is_some_and(|t| t.has(flag))
}

/// The connection a client mark's phase used.
fn conn_in(v: &View, key: &str) -> Option<usize> {
    let span = v.phase(key)?;
    v.calls(Role::Client, "connect", span)
        .next()
        .and_then(|e| v.conn_of(e))
}

fn state_after(v: &View, c: usize, role: Role, call: &str) -> Option<String> {
    let mut seen = false;
    for e in &v.run.events {
        if e.role != role || v.conn_of(e) != Some(c) {
            continue;
        }
        if e.call == call {
            seen = true;
        } else if seen && e.call == "state" {
            return e.text.clone();
        }
    }
    None
}

fn checks(v: &View) -> Vec<Check> {
    let (Some(c1), Some(c2)) = (conn_in(v, "teardown/4"), conn_in(v, "teardown/3")) else {
        return vec![Check::missing(
            "both connections were captured",
            "a connect() event or its packets are missing",
        )];
    };
    let mut out = Vec::new();
    let (ok1, s1) = checks::fins_acked(v, c1);
    let (ok2, s2) = checks::fins_acked(v, c2);
    out.push(Check::new(
        ok1 && ok2,
        "FIN consumes one sequence number: each FIN is acknowledged with its SEQ + 1",
        format!("{}; {}", s1.join(", "), s2.join(", ")),
    ));
    for c in [c1, c2] {
        let cl = closing(v, c);
        let first_fin_client = cl.first().is_some_and(|p| p.dir == Dir::ToServer);
        out.push(Check::new(
            first_fin_client,
            format!(
                "connection {}: the client closed first (the first FIN is the client's)",
                1 + (c == c2) as u8
            ),
            cl.first()
                .map_or("no FIN".to_owned(), |p| format!("frame {}", p.index + 1)),
        ));
    }
    let cl = closing(v, c1);
    let shape: Vec<(Dir, u16)> = cl
        .iter()
        .map(|p| (p.dir, p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)))
        .collect();
    let four = [
        (Dir::ToServer, f::FIN | f::ACK),
        (Dir::ToClient, f::ACK),
        (Dir::ToClient, f::FIN | f::ACK),
        (Dir::ToServer, f::ACK),
    ];
    out.push(Check::new(
        shape == four,
        "connection 1 closes in four segments: [F.] →, ← [.], ← [F.], [.] →",
        ladder::shape_text(&shape),
    ));
    out.push(second_close(v, c2));
    out.push(repeated_ack(v, c1));
    let cw = state_after(v, c1, Role::Server, "read");
    out.push(Check::new(
        cw.as_deref() == Some("CLOSE_WAIT"),
        "the server is in CLOSE_WAIT once read() returned 0 (the client's FIN arrived)",
        cw.unwrap_or_else(|| "no state seen".into()),
    ));
    // Only connection 1's TIME_WAIT is certain: on connection 2 a delayed ACK sent just before
    // the server's FIN may arrive after it, and the RST it draws ends TIME_WAIT early.
    let tw = state_after(v, c1, Role::Client, "read");
    out.push(Check::new(
        tw.as_deref() == Some("TIME_WAIT"),
        "connection 1: the client is in TIME_WAIT after the server's FIN",
        tw.unwrap_or_else(|| "no state seen".into()),
    ));
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

/// The server's segments of connection `c` that acknowledge the client's FIN and carry no
/// data or RST (its FIN, and a bare ACK if it sent one), and the number they acknowledge.
fn acks_of_fin<'v>(v: &'v View, c: usize) -> Option<(u32, Vec<&'v Pkt>)> {
    let cl = closing(v, c);
    let fin = cl
        .first()
        .filter(|p| p.dir == Dir::ToServer)?
        .tcp
        .as_ref()?;
    let want = fin.next_seq();
    let acks = cl
        .iter()
        .copied()
        .filter(|p| p.dir == Dir::ToClient && p.len == 0 && !has(p, f::RST))
        .filter(|p| {
            p.tcp
                .as_ref()
                .is_some_and(|t| t.has(f::ACK) && t.ack == want)
        })
        .collect();
    Some((want, acks))
}

/// Connection 2 closes in three segments (the server's FIN carries the ACK of the client's) or
/// in four (the ACK went alone first): either is correct; the check says which it saw.
fn second_close(v: &View, c: usize) -> Check {
    let Some((_, acks)) = acks_of_fin(v, c) else {
        return Check::missing(
            "connection 2 closed in three or four segments",
            "no client FIN",
        );
    };
    let kinds: Vec<bool> = acks.iter().map(|p| has(p, f::FIN)).collect();
    let shape: Vec<(Dir, u16)> = closing(v, c)
        .iter()
        .map(|p| (p.dir, p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)))
        .collect();
    let (ok, what) = match kinds.as_slice() {
        [true] => (
            true,
            "connection 2 closed in three segments: the server's FIN carried the ACK of the \
             client's FIN",
        ),
        [false, true] => (
            true,
            "connection 2 closed in four segments: the server's ACK went alone before its FIN \
             (the server was late to close)",
        ),
        [true, false] => (
            true,
            "connection 2 closed in four segments: the server's ACK went before its FIN but \
             was delivered after it (lo reordered them)",
        ),
        _ => (
            false,
            "connection 2 closed in three or four segments: the server acknowledged the \
             client's FIN once on its FIN, or once alone and again on its FIN",
        ),
    };
    Check::new(ok, what, ladder::shape_text(&shape))
}

/// The book calls the second "ACK 5001" of the four-segment close a retransmission: on the
/// wire the server's FIN repeats its bare ACK's ACK number and SEQ, and is new.
fn repeated_ack(v: &View, c: usize) -> Check {
    let what = "connection 1: the ACK number repeated on the server's FIN (the book's \"ACK \
                5001\" twice) is no retransmission: the FIN has the bare ACK's SEQ and ACK (an \
                ACK takes no number, nothing new arrived) and sends nothing again";
    let Some((_, acks)) = acks_of_fin(v, c) else {
        return Check::missing(what, "no client FIN");
    };
    let bare = acks.iter().find(|p| !has(p, f::FIN));
    let fin = acks.iter().find(|p| has(p, f::FIN));
    let (Some(b), Some(fp)) = (bare, fin) else {
        return Check::missing(what, "no bare ACK and FIN from the server");
    };
    let (Some(bt), Some(ft)) = (b.tcp.as_ref(), fp.tcp.as_ref()) else {
        return Check::missing(what, "a cut header");
    };
    let again = Findings::RETRANSMISSION
        | Findings::FAST_RETRANSMISSION
        | Findings::SPURIOUS_RETRANSMISSION
        | Findings::DUPLICATE_ACK;
    let marked = fp.findings().has(again) || b.findings().has(again);
    Check::new(
        ft.ack == bt.ack && ft.seq == bt.seq && !marked,
        what,
        format!(
            "frame {} [.] seq {} ack {}, frame {} [F.] seq {} ack {}; analyser: {}",
            b.index + 1,
            v.rel_seq(b),
            v.rel_ack(b),
            fp.index + 1,
            v.rel_seq(fp),
            v.rel_ack(fp),
            if marked {
                "marked as sent again"
            } else {
                "neither is a retransmission or duplicate ACK"
            }
        ),
    )
}

fn facts(v: &View) -> Vec<String> {
    let mut out = Vec::new();
    for (n, key) in [(1, "teardown/4"), (2, "teardown/3")] {
        let Some(c) = conn_in(v, key) else { continue };
        let cl = closing(v, c);
        let shape: Vec<(Dir, u16)> = cl
            .iter()
            .map(|p| (p.dir, p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)))
            .collect();
        let merged = cl
            .iter()
            .any(|p| p.dir == Dir::ToClient && has(p, f::FIN) && has(p, f::ACK) && cl.len() == 3);
        out.push(format!(
            "connection {n}: {} segments to close: {}{}",
            cl.len(),
            ladder::shape_text(&shape),
            if merged {
                " (the server's FIN carried the ACK of the client's FIN)"
            } else {
                ""
            }
        ));
        if cl.iter().any(|p| has(p, f::RST)) {
            out.push(format!(
                "connection {n}: a late ACK reached the client in TIME_WAIT; its reply drew a RST \
                 from the closed server, which ended TIME_WAIT early (RFC 1337's hazard)"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{Captured, RunData};

    const C: u16 = 40000;
    const S: u16 = 50000;

    /// An Ethernet frame from lo: IPv4 127.0.0.1 both ways, a TCP header without options.
    fn frame(to_server: bool, flags: u16, seq: u32, ack: u32) -> Vec<u8> {
        let (sp, dp) = if to_server { (C, S) } else { (S, C) };
        let mut b = vec![0u8; 12];
        b.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        b.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        b.extend_from_slice(&sp.to_be_bytes());
        b.extend_from_slice(&dp.to_be_bytes());
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&ack.to_be_bytes());
        b.extend_from_slice(&[0x50, flags as u8, 0xff, 0xff, 0, 0, 0, 0]);
        b
    }

    /// A handshake (client ISN 100, server ISN 500), the client's FIN, then `close`.
    fn run(close: &[(bool, u16, u32, u32)]) -> RunData {
        let mut segs = vec![
            (true, f::SYN, 100, 0),
            (false, f::SYN | f::ACK, 500, 101),
            (true, f::ACK, 101, 501),
            (true, f::FIN | f::ACK, 101, 501),
        ];
        segs.extend_from_slice(close);
        let packets = segs
            .iter()
            .enumerate()
            .map(|(i, &(d, fl, s, a))| Captured {
                ts: 1_000_000_000 + i as i128 * 1000,
                origlen: 54,
                data: frame(d, fl, s, a),
            })
            .collect();
        RunData {
            scenario: "teardown".into(),
            linktype: 1,
            packets,
            ..RunData::default()
        }
    }

    const FA: u16 = f::FIN | f::ACK;

    #[test]
    fn the_second_close_says_which_it_was() {
        let three = run(&[(false, FA, 501, 102), (true, f::ACK, 102, 502)]);
        let v = View::new(&three);
        let c = second_close(&v, 0);
        assert!(c.ok && c.what.contains("three segments"), "{c:?}");

        let four = [
            (false, f::ACK, 501, 102),
            (false, FA, 501, 102),
            (true, f::ACK, 102, 502),
        ];
        let r = run(&four);
        let v = View::new(&r);
        let c = second_close(&v, 0);
        assert!(c.ok && c.what.contains("went alone before"), "{c:?}");
        let rep = repeated_ack(&v, 0);
        assert!(rep.ok, "{rep:?}");

        // Delivered after the FIN: still the four-segment close.
        let late = run(&[
            (false, FA, 501, 102),
            (true, f::ACK, 102, 502),
            (false, f::ACK, 501, 102),
        ]);
        let v = View::new(&late);
        let c = second_close(&v, 0);
        assert!(c.ok && c.what.contains("delivered after it"), "{c:?}");
    }

    #[test]
    fn a_close_that_never_acks_the_fin_or_renumbers_fails() {
        // The server's FIN acknowledges nothing new: the client's FIN is never acknowledged.
        let none = run(&[(false, FA, 501, 101), (true, f::ACK, 102, 502)]);
        let v = View::new(&none);
        assert!(!second_close(&v, 0).ok);
        // A FIN numbered one past the bare ACK, as if the ACK had taken a number.
        let book = run(&[
            (false, f::ACK, 501, 102),
            (false, FA, 502, 102),
            (true, f::ACK, 102, 503),
        ]);
        let v = View::new(&book);
        assert!(!repeated_ack(&v, 0).ok);
    }
}
