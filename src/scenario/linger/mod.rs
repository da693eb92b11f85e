//! `linger`: what close() does with the bytes still in the send buffer, by default and with
//! `SO_LINGER`.
//!
//! ```c
//! /* server */                             /* client, three times */
//! int size = 4096;                         c = socket(AF_INET, SOCK_STREAM, 0);
//! setsockopt(l, SOL_SOCKET, SO_RCVBUF,     connect(c, server);
//!            &size, sizeof size);          write(c, buf, 16384);     /* most stays queued */
//! bind(l, 127.0.0.1:0); listen(l, 16);     ioctl(c, SIOCOUTQNSD, &n); /* bytes not yet sent */
//! conn = accept(l);                        struct linger lg = {1, 0}; /* (b); (c): {1, 1} */
//! /* waits until the client is in close() */
//! while (read(conn, buf, 16384) > 0)       setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
//!     ;                                    close(c);
//! close(conn);
//! ```
//! (a) no SO_LINGER: close() returns at once, the kernel sends the rest, then the FIN.
//! (b) `{1, 0}`: close() sends RST and discards the rest; the server's read() gets ECONNRESET.
//! (c) `{1, 1}`: close() blocks until the rest and the FIN are acknowledged (the server reads
//! after 100 ms).

mod checks;
mod facts;
mod program;

use std::time::Duration;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "linger",
    lesson: "lesson 4: closing",
    summary:
        "close() with data unsent: sent then FIN; SO_LINGER {1,0}: RST, data lost; {1,1}: blocks",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
The client writes 16384 bytes and closes, three times. The server set SO_RCVBUF to 4096
before listen(), so its window lets only a few KiB through until it reads: when the client
calls close(), most of the write is still in its send buffer. The ioctl lines say how much:
SIOCOUTQ counts the bytes not yet acknowledged, SIOCOUTQNSD those not yet sent. (The client
sets SO_SNDBUF only so that one write() takes all 16384 bytes.)

(a) close() by default (SO_LINGER off). close() returns at once, and nothing is lost: the
kernel keeps the connection (orphaned: no descriptor refers to it any more) and goes on
sending. The server reads only once the client is in FIN_WAIT1, inside or after close();
the bytes held back then leave after the close() that returned before, and the FIN follows
the last of them: its seq is 1 + 16384, as for any FIN after data.

(b) SO_LINGER {1, 0}: close() aborts the connection. One RST instead of a FIN, its seq the
next byte that was never sent; the bytes still in the send buffer are thrown away. The
server still reads the bytes that had arrived before the RST (Linux keeps them), then read()
fails with ECONNRESET. Neither side passes through FIN_WAIT or TIME_WAIT: that is why some
servers close this way (no TIME_WAIT), and why not to (the peer gets an error, data is lost).

(c) SO_LINGER {1, 1}: close() blocks. The server sleeps 100 ms before it reads; the client's
close() returns only when every byte and its FIN have been acknowledged (Linux waits until
FIN_WAIT2), well within l_linger = 1 s, and returns 0: the data reached the peer's kernel
(which says nothing of whether the peer's program read it). The timeline shows close() where
it starts; the client's next line says when it returned.

Not run here, since it costs the whole second: had the reader slept past 1 s, Linux's
close() would return 0 after 1 s (not EWOULDBLOCK, as some texts say) and the kernel would
go on sending the rest as in (a). On Linux, l_linger bounds the wait; it discards nothing.";

/// The server's receive buffer, asked before listen() (the kernel grants twice as much).
const RCVBUF: i64 = 4096;
/// The client's send buffer, asked so that one write() takes all the data.
const SNDBUF: i64 = 65536;
/// Bytes the client writes on each connection.
const DATA_LEN: usize = 16384;
/// How long the server waits before reading in part (c).
const READER_SLEEP: Duration = Duration::from_millis(100);

/// One connection of the run: how the client closes it.
struct Part {
    /// The mark that opens it.
    key: &'static str,
    title: &'static str,
    /// SO_LINGER's l_linger, or None for the default (l_onoff 0).
    linger: Option<u16>,
}

const PARTS: [Part; 3] = [
    Part {
        key: "linger/default",
        title: "(a) close() by default: returns at once; the kernel sends the rest, then FIN",
        linger: None,
    },
    Part {
        key: "linger/abort",
        title: "(b) SO_LINGER {1, 0}: close() sends RST and discards what was not sent",
        linger: Some(0),
    },
    Part {
        key: "linger/block",
        title: "(c) SO_LINGER {1, 1}: close() blocks until the data and FIN are acknowledged",
        linger: Some(1),
    },
];
