//! `buffers`: SO_SNDBUF/SO_RCVBUF set and read back, then a fast sender against a reader that
//! sleeps: the window closes, the sender probes, the window reopens.
//!
//! ```c
//! /* asked vs got */
//! s = socket(AF_INET, SOCK_STREAM, 0);
//! getsockopt(s, SOL_SOCKET, SO_SNDBUF, &got, &len);            /* the default */
//! setsockopt(s, SOL_SOCKET, SO_SNDBUF, &asked, sizeof asked);  /* 1, 4096, 64 MiB */
//! getsockopt(s, SOL_SOCKET, SO_SNDBUF, &got, &len);            /* … and SO_RCVBUF */
//!
//! /* server */                              /* client */
//! l = socket(AF_INET, SOCK_STREAM, 0);      c = socket(AF_INET, SOCK_STREAM, 0);
//! setsockopt(l, SO_RCVBUF, 4096);           setsockopt(c, SO_SNDBUF, 4096);
//! bind(l, 127.0.0.1:0); listen(l, 1);       connect(c, server);
//! conn = accept(l);                         for (i = 0; i < 5; i++)
//! sleep(…);      /* does not read */            write(c, buf, 4096);   /* blocks */
//! while ((n = read(conn, buf, 4096)) > 0);  close(c);
//! close(conn);
//! ```
//!
//! The reader's `sleep` is not a fixed time: it waits until the sender's kernel has sent two
//! zero-window probes (tcpi_backoff in the sender's TCP_INFO), about 0.6 s.

mod checks;
mod facts;
mod program;

use std::time::Duration;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "buffers",
    lesson: "lesson 7: socket options",
    summary:
        "SO_SNDBUF/SO_RCVBUF asked vs got; a sleeping reader: zero window, probes, window update",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
Asked vs got. setsockopt(SO_SNDBUF or SO_RCVBUF, n) does not give n bytes. Linux caps n at
net.core.wmem_max / rmem_max, doubles it (the other half pays for the kernel's bookkeeping:
every packet's struct sk_buff counts against the buffer) and never goes below its minimum
(asking for 1 byte shows it). getsockopt() returns the doubled number (man 7 socket). A new
TCP socket starts at tcp_wmem[1] / tcp_rmem[1] and the kernel grows it as needed; setting the
option turns that growth off for the socket.

Flow control. The server sets SO_RCVBUF before listen(), so its SYN+ACK already offers a small
window (and window scale 0); the accepted socket inherits the buffer. Then it does not read.
The client writes 5 × 4096 bytes as fast as it can.
- The receiver's window shrinks as its buffer fills, to 0. The program did nothing: its kernel
  announces what it can still take (about half the free buffer: the rest is overhead).
- The sender stops at the window's right edge; its own buffer fills and write() blocks. That
  is all a program sees of flow control.
- With data waiting and a zero window, the sender's persist timer sends a probe after about
  200 ms (at least TCP_RTO_MIN), then after twice as long (exponential backoff). The receiver's
  kernel answers the first at once, window still 0: the program is asleep.
- The reader wakes (here: once the sender's kernel has sent two probes), reads, and its kernel
  sends a window update: same SEQ and ACK, window 0 → open. Data flows; write() returns.

Textbook vs wire:
- The textbooks' zero-window probe (RFC 9293, 3.8.6.1) carries one byte of new data past the
  window. Linux sends no data: a bare ACK with SEQ = last acknowledged − 1, an old number the
  receiver must answer with an ACK showing its window. Wireshark (and sockscope's analysis,
  which follows Wireshark's rules) knows probes only as 1-byte segments, so it labels Linux's
  probes \"keep-alive\" and their answers \"zero window\".
- The textbooks have every probe answered. Linux answers segments outside the window at most
  once per net.ipv4.tcp_invalid_ratelimit (500 ms; a defence against ACK storms), so the second
  probe, about 400 ms after the first, gets no answer: here the window update answers it.";

/// The sizes asked for in the table: below the minimum, a small buffer, above the maximum.
const ASKED: [i64; 3] = [1, 4096, 1 << 26];
/// The receiver's SO_RCVBUF and the sender's SO_SNDBUF (each doubled by the kernel).
const RCVBUF: i64 = 4096;
const SNDBUF: i64 = 4096;
/// The sender writes WRITES × CHUNK bytes: more than both buffers hold, so write() blocks.
const CHUNK: usize = 4096;
const WRITES: usize = 5;
/// Zero-window probes the reader sleeps through.
const PROBES: u8 = 2;
/// How long the reader waits for them at most.
const PROBE_LIMIT: Duration = Duration::from_secs(10);
/// A write that took this long was blocked (the persist timer alone takes 200 ms).
const BLOCKED: Duration = Duration::from_millis(50);
/// The sysctl that rate-limits the answers to out-of-window segments (ms).
const RATELIMIT: &str = "net.ipv4.tcp_invalid_ratelimit";
