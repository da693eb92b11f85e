//! `lastack`: why TIME_WAIT exists. The client's last ACK is lost; the server, in LAST_ACK,
//! re-sends its FIN; the client, in TIME_WAIT, acknowledges it again.
//!
//! ```c
//! /* server */                                  /* client */
//! conn = accept(l);                             connect(c, server);
//! read(conn, buf, sizeof buf) == 0;             close(c);            /* FIN → */
//! /* the lossy link, as in `retransmit`: drop every packet with TTL < 255 */
//! int ttl = 255;
//! setsockopt(conn, IPPROTO_IP, IP_MINTTL, &ttl, sizeof ttl);
//! shutdown(conn, SHUT_WR);        /* FIN →; the client's ACK of it is dropped: LAST_ACK */
//! while (drops(conn) < 1) usleep(1000);
//! ttl = 0;
//! setsockopt(conn, IPPROTO_IP, IP_MINTTL, &ttl, sizeof ttl);
//! /* ~200 ms later the kernel re-sends the FIN; the client's end, in TIME_WAIT, ACKs it */
//! close(conn);
//! ```
//! The server closes with shutdown(SHUT_WR) rather than close() only to keep its descriptor,
//! through which it lifts the option again: on the wire both send the same FIN. The client's
//! state and its TIME_WAIT timer are read from the kernel (sock_diag) after its close().

mod checks;
mod facts;
mod program;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "lastack",
    lesson: "lesson 4: closing",
    summary: "why TIME_WAIT: the last ACK is lost, the FIN comes again, TIME_WAIT answers it",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
The textbook's reason for TIME_WAIT: the side that closes first sends the last segment of
the connection, the ACK of the peer's FIN. If that ACK is lost, the peer (in LAST_ACK)
never learns that its FIN arrived and sends it again. The first closer must still be there
to acknowledge it: that is TIME_WAIT. Here it happens on lo.

The client closes first: FIN →. The server's read() returns 0 (CLOSE_WAIT). It then makes
its link lossy, as in `retransmit`: IP_MINTTL 255 tells its kernel to drop every packet for
this socket whose TTL is below 255, and the client sends with TTL 64. The server sends its
FIN (LAST_ACK); the client acknowledges it and enters TIME_WAIT, but that ACK is dropped
after the capture point: it is on the wire, yet the server's kernel counts it as a drop
(getsockopt SO_MEMINFO) and stays in LAST_ACK. The (kernel: …) line says so against the
packets, which alone would put the server in CLOSED. The server lifts the limit at once;
nothing more happens until its retransmission timer fires, ~200 ms later (Linux's minimum
RTO, however short the RTT).

Then the server's FIN comes again, the same segment (same seq; Wireshark's analysis calls it
a retransmission). The client's program closed its socket long ago, but its kernel keeps the
connection in TIME_WAIT and answers with the same ACK again. This one gets through, and the
server's socket is CLOSED (TCP_INFO). Without TIME_WAIT the client's kernel would know no such connection and answer
the FIN with a RST (a segment for no connection gets a reset): the server's orderly close
would end in a reset instead of the ACK it waits for.

What the kernel adds: TIME_WAIT lasts 60 s on Linux (the constant TCP_TIMEWAIT_LEN), and a
FIN received in TIME_WAIT starts the 60 s again (the sock_diag lines: as much time left after
the re-sent FIN as when TIME_WAIT began, ~200 ms earlier). The client is shown as the first
closer, as in the book; a server that closes first keeps TIME_WAIT in the same way (see
`timewait`).";

/// The server's IP_MINTTL while the link is lossy (the client sends with TTL 64).
const LOSSY_TTL: u8 = 255;
/// Segments the link loses: the client's last ACK.
const DROPS: u32 = 1;
