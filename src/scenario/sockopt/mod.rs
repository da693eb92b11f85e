//! `sockopt`: getsockopt over the option table of the classic texts, on a TCP and a UDP
//! socket; then IP_TTL and IP_TOS set to distinctive values and found again in the captured
//! IP headers.
//!
//! ```c
//! tcp = socket(AF_INET, SOCK_STREAM, 0);    udp = socket(AF_INET, SOCK_DGRAM, 0);
//! for (each option of the table) {          /* SO_TYPE … TCP_KEEPIDLE */
//!     getsockopt(tcp, level, name, &v, &len);
//!     setsockopt(tcp, level, name, &v, len);   /* the same value back: read-only? */
//!     getsockopt(udp, …); setsockopt(udp, …);
//! }
//! /* server */                          /* client */
//! l = socket(SOCK_STREAM); bind; listen c = socket(SOCK_STREAM);
//! u = socket(SOCK_DGRAM); bind          setsockopt(c, IPPROTO_IP, IP_TTL, 42);
//! conn = accept(l);                     setsockopt(c, IPPROTO_IP, IP_TOS, IPTOS_LOWDELAY);
//! read(conn, …);                        connect(c, server); write(c, "ttl 42", 6);
//! getsockopt(conn, IP_TTL), (IP_TOS)    d = socket(SOCK_DGRAM);
//! recvfrom(u, …);                       setsockopt(d, IP_TTL, 3); setsockopt(d, IP_TOS, 0xb8);
//!                                       sendto(d, "ttl 3", 5, 0, server_udp);
//! ```

pub(super) mod calls;
mod checks;
mod facts;
mod program;

use crate::scenario::Scenario;
use calls::{self as so, Opt};

pub const SCENARIO: Scenario = Scenario {
    name: "sockopt",
    lesson: "lesson 7: socket options",
    summary: "getsockopt over the classic option table on TCP and UDP; IP_TTL/IP_TOS found in the IP header",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
The table reads every option of the classic texts' list on a fresh TCP socket and a fresh UDP
socket, then writes the same value back: a refusal shows which options are read-only.
- SO_TYPE says what the socket is (1 = SOCK_STREAM, 2 = SOCK_DGRAM); SO_ERROR returns (and
  clears) the socket's pending error. Both are read-only: setsockopt() fails with ENOPROTOOPT.
- Every flag starts off; the multicast options start at TTL 1, loop on, interface 0.0.0.0
  (any), even on a TCP socket, where setting the multicast TTL or interface fails (EINVAL).
- The IPPROTO_TCP options do not exist on a UDP socket: getsockopt() fails (EOPNOTSUPP on
  Linux; POSIX names ENOPROTOOPT). The buffers differ: a TCP socket starts at tcp_wmem[1] /
  tcp_rmem[1], a UDP socket at wmem_default / rmem_default (see `sockscope run buffers` for
  what setting them does).
- TCP_MAXSEG is 536 (the default MSS of RFC 1122) until the connection exists; afterwards it
  is the segment size the kernel now uses: the MSS the peer announced, minus the 12 bytes of
  the timestamp option each segment carries, and (Linux) never more than half the largest
  window the peer has offered. On lo: 32741, not the textbook MTU − 40.

On the wire: the client's TCP socket sets IP_TTL 42 and IP_TOS 0x10 (IPTOS_LOWDELAY), its UDP
socket IP_TTL 3 and IP_TOS 0xb8 (DSCP EF). Every packet those sockets send carries exactly
these values in its IP header; the server's packets carry the defaults its getsockopt()
reports (TTL 64 from net.ipv4.ip_default_ttl, TOS 0). TTL and TOS belong to a socket, not to
the connection: each end sets its own, and the two directions of one connection differ. (The
TOS byte's low two bits are ECN, which TCP manages itself; the checks compare the upper six,
the DSCP.)";

/// The option table of the classic texts, in their order.
const TABLE: [Opt; 17] = [
    so::SO_TYPE,
    so::SO_SNDBUF,
    so::SO_RCVBUF,
    so::SO_REUSEADDR,
    so::SO_KEEPALIVE,
    so::SO_BROADCAST,
    so::SO_DONTROUTE,
    so::SO_OOBINLINE,
    so::SO_ERROR,
    so::IP_TOS,
    so::IP_TTL,
    so::IP_MULTICAST_TTL,
    so::IP_MULTICAST_LOOP,
    so::IP_MULTICAST_IF,
    so::TCP_NODELAY,
    so::TCP_MAXSEG,
    so::TCP_KEEPIDLE,
];

/// What the client's sockets set, and find again on the wire.
const TCP_TTL: i64 = 42;
const TCP_TOS: i64 = 0x10; // IPTOS_LOWDELAY
const UDP_TTL: i64 = 3;
const UDP_TOS: i64 = 0xb8; // DSCP EF (46) << 2
