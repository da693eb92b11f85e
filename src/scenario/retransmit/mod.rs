//! `retransmit`: a data segment lost on its way and re-sent by the sender's timers.
//!
//! ```c
//! /* server */                                   /* client */
//! conn = accept(s);                              connect(c, server);
//! n = read(conn, buf, sizeof buf);               write(c, "ping 1", 6);
//! write(conn, buf, n);                           read(c, buf, sizeof buf);    /* "ping 1" */
//! /* the lossy link: accept only packets with TTL >= 255; the client sends with TTL 64 */
//! int ttl = 255;
//! setsockopt(conn, IPPROTO_IP, IP_MINTTL, &ttl, sizeof ttl);
//!                                                write(c, "ping 2", 6);       /* lost */
//! while (drops(conn) < 3) usleep(1000);          /* the client's kernel re-sends it on its timers */
//! ttl = 0;
//! setsockopt(conn, IPPROTO_IP, IP_MINTTL, &ttl, sizeof ttl);
//! n = read(conn, buf, sizeof buf);               /* "ping 2", once: the 4th copy got through */
//! write(conn, buf, n);                           read(c, buf, sizeof buf);    /* "ping 2" */
//! read(conn, buf, sizeof buf) == 0; close(conn); close(c);
//! ```
//! The kernel drops the copies after the capture point, so every copy is on the wire; the
//! dropped ones never reach TCP. The option belongs to one socket and needs no privilege: no
//! firewall rule, no network namespace. (A classic BPF socket filter would do too, but recent
//! kernels (commit 5d39580f68e6) want CAP_NET_ADMIN to attach one to a TCP socket, and a run
//! under sudo has given that up.)

mod checks;
mod facts;
mod program;
pub(super) mod sys;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "retransmit",
    lesson: "lesson 3: data transfer",
    summary: "a lost segment re-sent by the sender's timers: probe, RTO, doubled RTO, then the ACK",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
The textbook story: the sender keeps each segment until it is acknowledged and starts a timer;
if no ACK comes before the timer expires, it sends the segment again. Here it happens on lo.

\"ping 1\" goes the normal way and is acknowledged within microseconds. Then the server makes
the link lossy: IP_MINTTL 255 tells its kernel to drop every packet for that socket whose TTL
is below 255 (RFC 5082's TTL security, meant against forged packets from afar), and the client
sends with TTL 64. The drop happens after the capture point, so the wire shows each copy of
\"ping 2\" arriving, but TCP never gets it and nothing acknowledges it. The server lifts the
limit once its kernel has counted three drops (the getsockopt(SO_MEMINFO) lines), so the fourth
copy gets through. The client's wait lines show what its kernel says (TCP_INFO) after each copy:

  ~200 ms  1st copy: Linux's tail-loss probe (RFC 8985). When the last segment sent is the one
           unacknowledged, Linux arms a probe timer (2·SRTT + 200 ms, at most the RTO: ~200 ms
           here) and re-sends that segment when it fires; backoff 0, state Open: no timeout
           has happened yet.
  ~400 ms  2nd copy: the retransmission timeout proper. State Loss, backoff 1, and the next
           timeout doubled (exponential backoff): the RTO went from ~200 to ~400 ms.
  ~800 ms  3rd copy, one doubled RTO later: delivered. The ACK follows at once and the
           server's read() returns \"ping 2\" once: the program never sees the loss.

Textbook vs wire: the timeout is not \"a little more than the round-trip time\". On lo the RTT is
tens of microseconds, yet Linux never waits less than 200 ms (its minimum RTO; RFC 6298 even
asks for 1 s), and each timeout doubles the next. And on Linux a lost last segment is first
re-sent by the probe, not by the RTO: lose it only once and no timeout ever happens. (With
net.ipv4.tcp_early_retrans=0 there is no probe, and every copy is a timeout's.)

Wireshark's analysis calls each copy a \"TCP Retransmission\" (a segment whose sequence numbers
were already seen); the facts list them. Each copy carries a fresh TCP timestamp (TSval, in ms
on Linux; the facts show it advance), which is how the sender can tell which copy an ACK
answers. The lossy link needs no system-wide change (no firewall rule, no network namespace,
no privilege): the option belongs to that one socket and goes with it.";

const PING1: &[u8] = b"ping 1";
const PING2: &[u8] = b"ping 2";
/// The server's IP_MINTTL while the link is lossy (the client sends with TTL 64).
const LOSSY_TTL: u8 = 255;
/// Copies of "ping 2" the link loses: the original, the probe and the first RTO's.
const DROPS: u32 = 3;
