//! `fork`: the multiprocess echo server of the classic texts, and the parent that forgets to
//! close its copy of the connection.
//!
//! ```c
//! void read_childproc(int sig) {                 /* SIGCHLD: reap every child that exited */
//!     int status;
//!     while (waitpid(-1, &status, WNOHANG) > 0)
//!         ;
//! }
//! act.sa_handler = read_childproc; sigemptyset(&act.sa_mask); act.sa_flags = 0;
//! sigaction(SIGCHLD, &act, 0);
//! for (;;) {
//!     clnt_sock = accept(serv_sock, …);
//!     if (clnt_sock == -1) continue;             /* EINTR: a SIGCHLD came */
//!     if (fork() == 0) {                         /* the child serves this client */
//!         close(serv_sock);
//!         while ((n = read(clnt_sock, buf, BUF_SIZE)) != 0)
//!             write(clnt_sock, buf, n);
//!         close(clnt_sock);
//!         return 0;
//!     }
//!     close(clnt_sock);                          /* the parent's copy: forget it and the */
//! }                                              /* child's close() sends no FIN        */
//! ```
//! The server program runs in a process of its own (forked by sockscope's runner, which bound
//! the port so that the capture knows it): its SIGCHLD handler and waitpid(-1) then concern
//! only its own children. It waits for them with SIGCHLD blocked and `sigsuspend`, so no
//! signal is lost between the check and the wait. The clients are threads of the runner.

mod checks;
mod facts;
mod program;
mod sys;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "fork",
    lesson: "lesson 8: processes",
    summary: "the forking echo server: a child per client, SIGCHLD reaps them; a forgotten close() holds back the FIN",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
The classic concurrent server: the parent only accepts. For each connection it forks a child,
which inherits every descriptor: the child closes the listening socket and serves the client;
the parent closes the connected socket and goes back to accept(). Three clients connect at
once; the process lanes after the ladders show which process (pid) served which connection,
and that the three children ran side by side. In the server column, [parent] is the server
process and [child N] its children; the untagged lines are sockscope's runner, which binds the
port (the capture must know it), starts the server with fork() and reaps it at the end. The
clients are threads of the runner.

A descriptor is a reference to a socket; close() drops one reference. The connection ends
(FIN) only when the last descriptor referring to it is closed. Part 1: the parent closed its
copy right after fork(), so the child's close() is the last one and the FIN leaves at once.
Part 2: the parent \"forgets\" close(conn). The child finishes, calls close(), gets 0, and yet
no FIN goes out: the kernel keeps the connection in CLOSE_WAIT, and the client waits in read()
for an end of stream that does not come. Only when the parent closes its copy (here once it
has reaped the child) does the FIN leave. A real server that forgets this leaks a descriptor
per client and piles up CLOSE_WAIT connections until it runs out of descriptors.

A child that has exited stays in the process table as a zombie (state Z in /proc) until its
parent waits for it. Part 2 shows one: the parent blocks SIGCHLD before forking child 4 and
lets it through (in sigsuspend) only once /proc says Z. The SIGCHLD handler reaps with
waitpid(-1, &status, WNOHANG) in a loop: signals of one kind do not queue, so one SIGCHLD may
stand for several exits (the facts say when it did). A handler that calls waitpid once per
signal, as some textbooks print it, then leaves a zombie. This handler only records what it
reaped (printf in a signal handler is not safe); the parent prints the \"removed proc id\"
lines after it wakes, at the times the handler noted. sa_flags is 0, as in the texts: a
SIGCHLD arriving during accept() makes it fail with EINTR, and the loop accepts again (here
the children end only after the last accept, so it does not happen).

The last lines check /proc: no child of the server is left, no zombie.";

/// The server process's name in the timeline.
const PARENT: &str = "parent";
const CHILDREN: [&str; 4] = ["child 1", "child 2", "child 3", "child 4"];
/// Clients in part 1.
const AT_ONCE: usize = 3;
const ZOMBIE: &str = "state Z";
const NONE_LEFT: &str = "/proc: no child of mine is left, no zombie";
