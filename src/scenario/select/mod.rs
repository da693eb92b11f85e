//! `select`: the select() echo server of the classic texts, one thread serving several
//! clients, each wake-up next to the segment that caused it.
//!
//! ```c
//! FD_ZERO(&reads); FD_SET(serv_sock, &reads); fd_max = serv_sock;
//! while (1) {
//!     cpy_reads = reads;                         /* select() overwrites the set ... */
//!     timeout.tv_sec = 0; timeout.tv_usec = 100000;   /* ... and the timeout */
//!     if ((fd_num = select(fd_max + 1, &cpy_reads, 0, 0, &timeout)) == -1) break;
//!     if (fd_num == 0) continue;                 /* timed out */
//!     for (i = 0; i < fd_max + 1; i++) {
//!         if (!FD_ISSET(i, &cpy_reads)) continue;
//!         if (i == serv_sock) {                  /* a connection is waiting */
//!             clnt_sock = accept(serv_sock, …);
//!             FD_SET(clnt_sock, &reads);
//!             if (fd_max < clnt_sock) fd_max = clnt_sock;
//!         } else if ((str_len = read(i, buf, BUF_SIZE)) == 0) {   /* the client's FIN */
//!             FD_CLR(i, &reads); close(i);
//!         } else {
//!             write(i, buf, str_len);            /* echo */
//!         }
//!     }
//! }
//! ```
//! The texts wait 5.005 s; here 100 ms, so that the first call's timeout costs little. The
//! texts' loop never ends; here it ends when its three clients have come and gone. The
//! clients (A, B, C) are driven in turns by one thread of the runner: each step waits until
//! the server thread sleeps in select() (`asleep.rs`), so each wake-up is caused by the
//! step's segment.

pub(crate) mod asleep;
mod checks;
mod facts;
mod program;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "select",
    lesson: "lesson 10: multiplexing",
    summary: "a select() echo server: one thread, three clients, each wake-up beside its segment",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
One thread serves every client: it sleeps in select() until one of its sockets is readable,
then makes the one call that will not block on it. The listening socket is readable when a
connection has finished its handshake (the client's ACK, the third segment: accept() will
return at once); a connected socket is readable when data or a FIN has arrived (read() will
return the bytes, or 0 for the FIN). Each select() line shows the set passed in (the
arguments) and the set that came back (the result): the kernel overwrites the set with the
ready descriptors only, which is why the loop passes a copy (cpy_reads) and keeps `reads`.

Follow the wake-ups: each `… select() = 1 {N}` comes right after the segment on the wire that
made descriptor N readable, tens to hundreds of microseconds later (the facts list each). The first call has no client yet and
returns 0 after its timeout, with an empty set. Linux writes the time left back into the
timeout (other systems leave it), so the loop sets it again before every call.

The set passed in is the listening socket plus every connected socket not yet closed:
FD_SET after accept(), FD_CLR before close(). When client A leaves, its descriptor number is
free again and the next accept() (client C's) returns the same number: a descriptor is the
lowest free number of the process's table (the clients, threads of the same runner, draw
from it too). fd_max is not lowered, so select() still scans up to the highest number used.

All of this runs in one process and one thread (the pid and tid of every server call are
the same), where the fork server needs a process per client and the threads server a thread
per client. The price: while the loop serves one socket it serves no other.";

/// The clients' names, in the order they connect.
const CLIENTS: [&str; 3] = ["client A", "client B", "client C"];
/// The texts' BUF_SIZE.
const BUF_SIZE: usize = 100;
