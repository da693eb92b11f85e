//! `handshake`: connect() meets accept(); the three segments that open a TCP connection.
//!
//! ```c
//! /* server */                         /* client */
//! s = socket(AF_INET, SOCK_STREAM, 0);  c = socket(AF_INET, SOCK_STREAM, 0);
//! bind(s, 127.0.0.1:0); listen(s, 16);  connect(c, server);   // SYN →, ← SYN+ACK, ACK →
//! conn = accept(s);                     close(c);
//! read(conn) == 0; close(conn);
//! ```

use socket2::{Domain, Type};

use super::{any_port, bound, Peer, Scenario};
use crate::analyse::flags as f;
use crate::live::checks::{self, Check};
use crate::live::model::{Dir, Pkt};
use crate::live::{LiveError, Role, Tracer, View};
use crate::render::run::timeline::compact_options;

pub const SCENARIO: Scenario = Scenario {
    name: "handshake",
    lesson: "lesson 1: connections",
    summary: "connect() meets accept(): SYN, SYN+ACK, ACK",
    explain: EXPLAIN,
    run,
    checks,
    facts,
};

const EXPLAIN: &str = "
The first three packets are the handshake, done by the two kernels.

1. [S] client → server: connect() sends a SYN with the client's initial sequence number (ISN,
   shown as seq 0: numbers are relative to each side's ISN) and its options: MSS, SACK
   permitted, timestamps, window scale.
2. [S.] server → client: the server's kernel answers SYN+ACK with its own ISN, and
   ack = client ISN + 1: a SYN consumes one sequence number although it carries no byte.
3. [.] client → server: a plain ACK, ack = server ISN + 1. It carries no SYN: a popular
   textbook diagram draws the third segment as SYN+ACK, which it is not.

connect() returns as soon as the SYN+ACK has arrived; the client's kernel sends the ACK in the
same instant, so on lo it shows just before connect() returns. accept() cannot return before
the third segment: the connection enters the accept queue only when that ACK arrives. The
server program was blocked in accept() the whole time and learns of the connection last.

The packets after the handshake are the close (FIN, ACK); see `sockscope run teardown`.";

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
        tc.print(Role::Client, &format!("connected to {server}"));
        tc.close(s)?;
        Ok(())
    });

    client.go();
    let conn = t.accept(&listener)?;
    if let Some(peer) = conn.peer() {
        t.print(Role::Server, &format!("accepted a connection from {peer}"));
    }
    let mut buf = [0u8; 64];
    t.read(&conn, &mut buf)?;
    t.close(conn)?;
    t.close(listener)?;
    client.join()
}

/// The first three segments of connection `c`, if they are there.
fn first_three<'v>(v: &'v View, c: usize) -> Option<[&'v Pkt; 3]> {
    let mut it = v.conn_pkts(c);
    Some([it.next()?, it.next()?, it.next()?])
}

fn flags_of(p: &Pkt) -> u16 {
    p.tcp.as_ref().map_or(0, |t| t.flags & 0xff)
}

fn checks(v: &View) -> Vec<Check> {
    let c = match checks::first_tcp(v) {
        Ok(c) => c,
        Err(missing) => return vec![missing],
    };
    let Some([syn, synack, ack]) = first_three(v, c) else {
        return vec![Check::missing(
            "the handshake's three segments were captured",
            "fewer than three TCP packets",
        )];
    };
    let (isn_c, isn_s) = (seq(syn), seq(synack));
    let mut out = vec![Check::new(
        flags_of(syn) == f::SYN
            && syn.dir == Dir::ToServer
            && flags_of(synack) == f::SYN | f::ACK
            && synack.dir == Dir::ToClient
            && flags_of(ack) == f::ACK
            && ack.dir == Dir::ToServer,
        "three segments open the connection: [S] client→server, [S.] server→client, [.] client→server",
        format!(
            "frames {}, {}, {}",
            syn.index + 1,
            synack.index + 1,
            ack.index + 1
        ),
    )];
    out.push(Check::new(
        raw_ack(synack) == isn_c.wrapping_add(1),
        "SYN+ACK acknowledges the client's ISN + 1",
        format!("client ISN {isn_c}, SYN+ACK ack {}", raw_ack(synack)),
    ));
    out.push(Check::new(
        flags_of(ack) & f::SYN == 0
            && raw_ack(ack) == isn_s.wrapping_add(1)
            && seq(ack) == isn_c.wrapping_add(1)
            && ack.len == 0,
        "the third segment is a plain ACK (no SYN) of the server's ISN + 1, carrying no data",
        format!(
            "flags {}, seq {}, ack {} (server ISN {isn_s})",
            crate::render::describe::flags_bracketed(flags_of(ack)),
            seq(ack),
            raw_ack(ack)
        ),
    ));
    let connect = v
        .run
        .events
        .iter()
        .find(|e| e.call == "connect" && e.ok() && v.conn_of(e) == Some(c));
    out.push(match connect {
        Some(e) => Check::new(
            e.start < syn.ts && e.end > synack.ts,
            "connect() sent the SYN and returned after the SYN+ACK arrived",
            format!(
                "connect() returned {} µs after the SYN+ACK",
                (e.end - synack.ts) / 1000
            ),
        ),
        None => Check::missing("connect() returned after the SYN+ACK", "no connect() event"),
    });
    let accept = v
        .run
        .events
        .iter()
        .find(|e| e.call == "accept" && e.ok() && v.conn_of(e) == Some(c));
    out.push(match accept {
        Some(e) => Check::new(
            e.end > ack.ts,
            "accept() returned only after the third segment arrived",
            format!(
                "accept() returned {} µs after the ACK",
                (e.end - ack.ts) / 1000
            ),
        ),
        None => Check::missing("accept() returned after the ACK", "no accept() event"),
    });
    out.push(checks::acks_match_next_seq(v));
    out.push(checks::no_retransmission(v));
    out
}

fn seq(p: &Pkt) -> u32 {
    p.tcp.as_ref().map_or(0, |t| t.seq)
}

fn raw_ack(p: &Pkt) -> u32 {
    p.tcp.as_ref().map_or(0, |t| t.ack)
}

fn facts(v: &View) -> Vec<String> {
    let Ok(c) = checks::first_tcp(v) else {
        return Vec::new();
    };
    let Some([syn, synack, _]) = first_three(v, c) else {
        return Vec::new();
    };
    let opts = |p: &Pkt| {
        let mut s = String::new();
        if let Some(t) = &p.tcp {
            compact_options(&mut s, &t.options);
        }
        s
    };
    vec![
        format!(
            "ISNs (random per connection; seq/ack above count from them): client {}, server {}",
            seq(syn),
            seq(synack)
        ),
        format!(
            "SYN options: client <{}>, server <{}>",
            opts(syn),
            opts(synack)
        ),
    ]
}
