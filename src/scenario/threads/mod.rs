//! `threads`: the thread-per-client echo server of the classic texts: the wire of `fork`,
//! served by threads of one process sharing one descriptor table.
//!
//! ```c
//! void *handle_clnt(void *arg) {
//!     int clnt_sock = *((int *)arg);
//!     while ((str_len = read(clnt_sock, msg, BUF_SIZE)) != 0)
//!         write(clnt_sock, msg, str_len);
//!     close(clnt_sock);                          /* the only close of this connection */
//!     return NULL;
//! }
//! for (i = 0; i < 3; i++) {
//!     clnt_sock = accept(serv_sock, …);
//!     pthread_create(&t_id[i], NULL, handle_clnt, (void *)&clnt_sock);
//! }                                              /* no close(clnt_sock) here, and the */
//! for (i = 0; i < 3; i++)                        /* thread closes no serv_sock        */
//!     pthread_join(t_id[i], NULL);
//! close(serv_sock);
//! ```
//! The texts detach each thread and loop forever; here the server serves three clients and
//! joins their threads. The texts pass `&clnt_sock`, which the next accept() may overwrite
//! before the thread has read it; here each thread is handed its own socket. The clients
//! are threads of the runner, as in `fork`, and meet once all three have their echo, so that
//! the three server threads are alive together.

mod checks;
mod facts;
mod program;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "threads",
    lesson: "lesson 12: threads",
    summary: "a thread per client: the wire of fork, one process, one shared fd table, one close() per connection",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
The same echo service as `fork`, and the same wire: three clients connect at once, each
sends a line, reads its echo and half-closes; the server echoes and closes. Compare the
ladders with fork's part 1: handshake, line, echo, FIN, FIN, segment for segment.

What differs is inside the server. The main thread only accepts; for each connection it
starts a thread (pthread_create) that serves it. All of them belong to one process: every
server call has the same pid, and the tid tells the threads apart (the lanes in the
facts: main, thread 1, 2, 3). Threads share the process's descriptor table. accept()
returns fd N, and the thread reads and writes fd N: the same entry, not a copy. So there is
nothing to close on either side after pthread_create(): the main thread must NOT close the
connection (it would close it for the thread), and the thread must NOT close the listening
socket (it would close it for the server). With fork() both closes are needed, because each
process has its own table with its own reference to every socket.

One reference per connection means one close(): each thread's close() sends the FIN at once
(in fork's part 2 the parent's forgotten copy held it back). And the three connections are
open at the same time in one table, so they have three different numbers, where each forked
child could use the same number in its own table.

Threads cost less than processes (no copy of the address space, no SIGCHLD, no zombies: a
joined thread is gone) but share everything: a thread that writes to a wrong descriptor or
crashes takes the others with it. The texts pass &clnt_sock to the thread, the address of a
variable the next accept() overwrites: a race. Here each thread gets its socket by value.";

/// Clients at once.
const CLIENTS: usize = 3;
/// The server threads' names.
const THREADS: [&str; CLIENTS] = ["thread 1", "thread 2", "thread 3"];
/// The clients' names.
const CLIENT_NAMES: [&str; CLIENTS] = ["client 1", "client 2", "client 3"];
