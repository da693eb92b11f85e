//! `epoll`: the epoll echo server of the classic texts, level-triggered and then
//! edge-triggered, with a buffer small enough (4 bytes) that one read leaves bytes behind.
//!
//! ```c
//! epfd = epoll_create(EPOLL_SIZE);
//! event.events = EPOLLIN; event.data.fd = serv_sock;
//! epoll_ctl(epfd, EPOLL_CTL_ADD, serv_sock, &event);
//! while (1) {
//!     event_cnt = epoll_wait(epfd, ep_events, EPOLL_SIZE, -1);
//!     for (i = 0; i < event_cnt; i++) {
//!         if (ep_events[i].data.fd == serv_sock) {
//!             clnt_sock = accept(serv_sock, …);
//!             /* client L: event.events = EPOLLIN (level-triggered)                       */
//!             /* client E: setnonblockingmode(clnt_sock); event.events = EPOLLIN|EPOLLET */
//!             epoll_ctl(epfd, EPOLL_CTL_ADD, clnt_sock, &event);
//!         } else if (level_triggered) {          /* echo_EPLTserv.c: one read per event */
//!             str_len = read(fd, buf, BUF_SIZE);
//!             if (str_len == 0) { epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); close(fd); }
//!             else write(fd, buf, str_len);
//!         } else while (1) {                     /* echo_EPETserv.c: read until EAGAIN */
//!             str_len = read(fd, buf, BUF_SIZE);
//!             if (str_len == 0) { epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); close(fd); break; }
//!             else if (str_len < 0) { if (errno == EAGAIN) break; }
//!             else write(fd, buf, str_len);
//!         }
//!     }
//! }
//! ```
//! One program serves both texts' clients: client L as echo_EPLTserv.c does, client E as
//! echo_EPETserv.c does, except for E's first event, which it handles the level-triggered
//! way (one read) to show what edge-triggering does to a partial read: it then waits 100 ms
//! and asks the kernel how many bytes are left (`ioctl(FIONREAD)`). The texts wait forever
//! (-1); here 1 s, so that a lost client cannot hang the run. The clients take turns on one
//! thread of the runner, each step once the server sleeps in epoll_wait() (see `select`).

mod checks;
mod facts;
mod program;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "epoll",
    lesson: "lesson 10: multiplexing",
    summary: "level- vs edge-triggered epoll: one segment, three events; with EPOLLET none until more data",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
epoll keeps the set of watched descriptors in the kernel (epoll_ctl adds and removes them),
so epoll_wait() needs no set passed in and no set copied back: it returns only the ready
descriptors, each with its events ({13 EPOLLIN}).

Level-triggered (EPOLLIN, the default), client L: one segment brings 10 bytes; the server
reads 4 at a time (BUF_SIZE 4), once per event. epoll_wait() returns three times for that
one segment: as long as bytes wait unread, the descriptor is ready, and every call says so
again at once, with no new segment on the wire.

Edge-triggered (EPOLLIN|EPOLLET), client E: an event is reported when data arrives, once.
The server handles E's first event the level-triggered way, on purpose: one read, 4 of the
10 bytes. Then epoll_wait() (for 100 ms) brings nothing, although ioctl(FIONREAD) says 6
bytes wait. Only the next segment from the client (\"more data\") brings a new event. That
is why the texts make the socket non-blocking (fcntl O_NONBLOCK) and read in a loop until
read() fails with EAGAIN, as the server does from then on: everything that arrived is
taken at each event, and the loop cannot block on an empty socket. Look at the last read
after the new data: -1 EAGAIN.

The FIN is an event like data: read() returns 0, and the server removes the descriptor
(EPOLL_CTL_DEL) and closes it. The wire is the same in both modes; only the calls differ.";

/// The clients' names.
const LEVEL: &str = "client L";
const EDGE: &str = "client E";
/// The texts' BUF_SIZE in echo_EPLTserv.c and echo_EPETserv.c.
const BUF_SIZE: usize = 4;
/// What the clients write.
const L_LINE: &[u8] = b"Hello, LT!";
const E_LINE: &[u8] = b"Hello, ET!";
const E_MORE: &[u8] = b"And more";
