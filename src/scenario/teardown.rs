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
use crate::analyse::flags as f;
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
(up to 40 ms) hoping the program closes soon; here the server waits until that ACK is out.
Connection 2: the server calls close() as soon as read() returns 0, so its FIN leaves before the
delayed ACK and carries it: FIN →, ← FIN+ACK, ACK →, three segments. (On a loaded machine the
server may be late and the ACK go alone; both are correct TCP.)

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
