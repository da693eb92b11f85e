//! `backlog`: `listen(fd, 1)` and no accept() yet. The kernel completes the handshakes and
//! acknowledges the data of the connections it queues; with the accept queue full it drops the
//! next SYN, which the client re-sends on its timer; accept() then takes the connections in the
//! order they arrived.
//!
//! ```c
//! /* server */                              /* client */
//! serv_sock = socket(…); bind(…);           for (i = 0; i < 2; i++) {
//! listen(serv_sock, 1);                         sock[i] = socket(…); connect(sock[i], …);
//! /* no accept() yet */                         write(sock[i], "A" + i, 1);   /* ACKed */
//!                                           }
//!                                           sock[2] = socket(…);
//!                                           connect(sock[2], …);   /* SYN dropped; re-sent 1 s later */
//! for (i = 0; i < 3; i++) {                 write(sock[2], "C", 1);
//!     clnt_sock = accept(serv_sock, …);     close(sock[0]); close(sock[1]); close(sock[2]);
//!     read(clnt_sock, buf, 1); close(clnt_sock);
//! }
//! ```
//! The server waits until its listener has dropped a SYN (SO_MEMINFO) before its first
//! accept(), and reads its accept queue (TCP_INFO) then; the client waits until each byte is
//! acknowledged (TCP_INFO) before the next connection. The run lasts about 1 s: the client's
//! initial retransmission timeout.

mod checks;
mod program;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "backlog",
    lesson: "lesson 1: connections",
    summary: "listen(fd, 1): handshakes and ACKs before accept(); a full queue drops the SYN, re-sent 1 s later",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: checks::facts,
};

const EXPLAIN: &str = "
listen(serv_sock, 1) turns the socket into a listener with a backlog of 1, and the server
does not call accept() yet. The client connects anyway, and connect() returns: the server's
kernel answers the SYN with SYN+ACK and completes the handshake on its own. accept() does not
make a connection; it takes one that is already established off the accept queue. The client
then writes one byte, and the server's kernel acknowledges it at once, into the connection's
receive buffer: no program has read it, or even accepted the connection.

The backlog is the length of that queue of finished connections. Linux counts it as full only
when it holds more than the backlog, so listen(fd, 1) queues two (TCP_INFO on the listener
says so: accept queue 2, backlog 1). The third client's SYN then gets no answer at all: the
kernel drops it (the listener's drop counter, SO_MEMINFO, goes to 1), and does not send RST,
so that the client tries again instead of giving up. The client's connect() keeps waiting; its
kernel re-sends the same SYN (same ISN, same port) after the initial retransmission timeout,
1 s (RFC 6298), then 2 s later, 4 s… (net.ipv4.tcp_syn_retries, 6 by default: about 2 min in
all). Here the server starts accepting as soon as the SYN was dropped, so the first re-send
finds room: SYN+ACK, and connect() returns about 1 s late. A full queue costs the client a
second, not an error.

accept() returns the connections in the order their handshakes completed: A, B, then C, and
each read() returns at once the byte that arrived before the connection was even accepted.

(The SYN queue, of half-open connections, is another queue, bounded by
net.ipv4.tcp_max_syn_backlog and handled with SYN cookies under a flood; with the accept
queue full, Linux drops the SYN before either matters.)";

/// The backlog given to listen().
const BACKLOG: i32 = 1;
/// What each client connection sends.
const BYTES: [&[u8]; 3] = [b"A", b"B", b"C"];

const QUEUE_MARK: &str = "backlog/queue";
const FULL_MARK: &str = "backlog/full";
const ACCEPT_MARK: &str = "backlog/accept";
