//! `eintr`: a signal that arrives while the server is blocked in accept() or read(). Without
//! SA_RESTART the call returns -1 with EINTR (the classic loop's `if (clnt_sock == -1)
//! continue;`); with SA_RESTART it carries on; alarm() bounds a read().
//!
//! ```c
//! /* server (a process of its own) */                   /* client */
//! act.sa_handler = read_childproc; act.sa_flags = 0;
//! sigaction(SIGCHLD, &act, 0);
//! if (fork() == 0) exit(0);           /* a child whose work is done */
//! while (1) {
//!     clnt_sock = accept(serv_sock, …);  /* -1, EINTR */
//!     if (clnt_sock == -1) continue;                       connect(sock, server);
//!     …                                                    write(sock, "one", 3);
//! }
//! act.sa_flags = SA_RESTART; sigaction(SIGCHLD, &act, 0);
//! if (fork() == 0) exit(0);
//! clnt_sock = accept(serv_sock, …);   /* goes on waiting */  connect(…); write(…, "two", 3);
//! act.sa_handler = timeout; act.sa_flags = 0; sigaction(SIGALRM, &act, 0);
//! clnt_sock = accept(serv_sock, …);                       connect(…); write(…, "three", 5);
//! alarm(1); read(clnt_sock, …); alarm(0);   /* the data */
//! alarm(1); read(clnt_sock, …);         /* nothing comes: -1, EINTR */
//! close(clnt_sock);                                       read(…) == 0; close(sock);
//! ```
//!
//! The signal must come while the server sleeps in accept(): each child exits only once
//! `/proc` shows its parent asleep, and the client connects only once the child has been
//! reaped (by the handler) and the server sleeps again.

mod checks;
mod facts;
mod program;
mod sys;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "eintr",
    lesson: "lesson 8: processes",
    summary: "a signal during accept()/read(): -1 EINTR without SA_RESTART, resumed with it; alarm() as a read timeout",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
The forking server of the classic texts installs its SIGCHLD handler with sigaction() and
sa_flags = 0, and its accept loop reads: clnt_sock = accept(…); if (clnt_sock == -1)
continue; Why would accept() fail? Because a child may exit while the parent is blocked in
accept(): the kernel runs the handler, and then the interrupted call returns -1 with errno
EINTR instead of going on waiting. The server here is a process of its own (so the signal
interrupts the one thread that is in accept()), and it goes through three cases:

1. SIGCHLD without SA_RESTART. A child exits while the server sleeps in accept(). The
   handler runs (its waitpid reaps the child: \"removed proc id\"), and accept() returns -1
   EINTR. Nothing happened on the wire: no packet while accept() waited. The loop calls
   accept() again, which returns the client's connection once its handshake is done.
2. SIGCHLD with SA_RESTART. The same exit, the same handler; this time the kernel restarts
   accept() after the handler, and the program sees one accept() call that returns the
   connection. This is what signal() gives on Linux: glibc's signal() installs its handler
   with SA_RESTART (BSD semantics), so a program written with signal() never sees this EINTR.
3. alarm() as a read timeout. The server calls alarm(1) before read(): the client's data
   comes first, read() returns it, alarm(0) cancels the alarm and returns the seconds that
   were left: 1, although less than a second was (the kernel rounds to the nearest second,
   but never to 0 while an alarm is pending: 0 means none was set).
   Then alarm(1) and read() again, and nothing comes: after one second SIGALRM's handler runs
   (\"Time out!\") and read() returns -1 EINTR. The server gives up and closes: its FIN follows
   the timeout, and the client's read() returns 0.

Textbook vs wire: EINTR is not a network event. No segment arrives, none leaves; the error
comes from the process's own signal. The loop in the texts is needed only because their
sigaction() has no SA_RESTART. And SA_RESTART does not cover every call: select(), poll(),
epoll_wait() and nanosleep() return EINTR whatever the flag, and a socket read or accept
with a timeout (SO_RCVTIMEO) does too (signal(7)).";

/// The three parts' marks.
const NO_RESTART: &str = "eintr/accept";
const RESTART: &str = "eintr/restart";
const ALARM: &str = "eintr/alarm";
/// What each client sends.
const LINES: [&[u8]; 3] = [b"one", b"two", b"three"];
/// The read timeout, s.
const TIMEOUT: u32 = 1;
/// The names of the server's processes.
const SERVER: &str = "server";
const CHILD: &str = "server child";
