//! `keepalive`: SO_KEEPALIVE with short timers on an idle connection. The client's kernel
//! probes, the server's kernel answers; then the server falls silent and the probes go
//! unanswered until the client's kernel gives up: RST, and the blocked read() fails with
//! ETIMEDOUT.
//!
//! ```c
//! /* server */                                /* client */
//!                                             int on = 1, idle = 1, intvl = 1, cnt = 2;
//!                                             setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &on, …);
//!                                             setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &idle, …);
//!                                             setsockopt(c, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, …);
//!                                             setsockopt(c, IPPROTO_TCP, TCP_KEEPCNT, &cnt, …);
//! conn = accept(l);                           connect(c, server);
//! n = read(conn, buf, sizeof buf);            write(c, "ping", 4);
//! write(conn, buf, n);                        read(c, buf, sizeof buf);   /* "ping" */
//! /* its kernel answers one probe; then the  n = read(c, buf, sizeof buf); /* blocks: nothing
//!    silent peer: drop all the client sends */   comes; -1, errno ETIMEDOUT */
//! int ttl = 255;
//! setsockopt(conn, IPPROTO_IP, IP_MINTTL, &ttl, sizeof ttl);
//! while (drops(conn) < 3) usleep(1000);       /* two probes and the RST */
//! ttl = 0; setsockopt(conn, IPPROTO_IP, IP_MINTTL, &ttl, sizeof ttl);
//! close(conn);                                close(c);
//! ```
//!
//! The silent peer is the `retransmit` scenario's IP_MINTTL trick: the server's kernel drops
//! every packet for that socket whose TTL is below 255 (the client sends with 64), after the
//! capture point. No sysctl, no firewall rule, no network namespace.

mod checks;
mod facts;
mod program;

use nix::libc;

use crate::scenario::sockopt::calls::{Kind, Opt};
use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "keepalive",
    lesson: "lesson 7: socket options",
    summary: "SO_KEEPALIVE on an idle connection: probes one below SEQ, answers, then a silent peer and ETIMEDOUT",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: facts::facts,
};

const EXPLAIN: &str = "
The textbook story: SO_KEEPALIVE makes TCP check now and then that an idle peer is still
there, and a program blocked on a dead connection learns of it. The book sets the option and
moves on; by default nothing happens for two hours (net.ipv4.tcp_keepalive_time = 7200 s),
then 9 probes 75 s apart: a dead peer is found after 2 h 11 min. Here the client shortens the
three timers on its own socket (TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s, TCP_KEEPCNT 2), so the
whole story takes about four seconds.

What to look at:
- The idle connection. After one \"ping\" each way nothing is said, and after TCP_KEEPIDLE of
  silence (counted from the last segment the client received) the client's kernel sends a
  probe. The program did nothing: it is blocked in read().
- The probe is a bare ACK with SEQ one below the client's next sequence number: a byte the
  server has already acknowledged. A receiver must answer an out-of-window segment with an
  ACK of what it expects (RFC 9293), so the server's kernel answers at once, without its
  program. Wireshark calls the pair \"TCP Keep-Alive\" and \"TCP Keep-Alive ACK\".
- The silent peer. The server sets IP_MINTTL 255 on its socket: its kernel now drops everything
  the client sends (TTL 64), after the capture point, so the wire shows the probes arriving and
  nothing coming back. They leave TCP_KEEPINTVL apart; after TCP_KEEPCNT unanswered probes,
  one more interval, and the client's kernel gives up: it sends RST and the blocked read()
  returns -1 with errno ETIMEDOUT (\"Connection timed out\"), TCP_KEEPIDLE + TCP_KEEPCNT ×
  TCP_KEEPINTVL after the last segment received.
- The server's kernel dropped the RST too (SO_MEMINFO counts the two probes and the RST), so
  its socket is still ESTABLISHED: a half-open connection, which is what keep-alive exists to
  find; the server has no keep-alive of its own and would wait forever. The state lane, read
  from the packets, says CLOSED after the RST; the kernel's line says otherwise, because the
  RST was on the wire but never reached TCP. When the server closes, its FIN reaches a client
  kernel that no longer knows the connection, which answers RST.
- The drop counter was already 1 before the silence: the answered probe was counted too. A
  segment outside the window is answered with an ACK and then discarded.

Textbook vs wire: the probe carries no data (some texts say one garbage byte: older BSDs sent
one for broken peers); SEQ is one below, not the next. Keep-alive is off by default, is per
socket, and its default timers make it useless for finding a dead peer quickly: set the three
TCP_ options, or use TCP_USER_TIMEOUT, or let the application send its own heartbeats.";

/// The client's keep-alive timers: TCP_KEEPIDLE and TCP_KEEPINTVL in seconds (1 is the least
/// the kernel takes), TCP_KEEPCNT probes.
const IDLE: i64 = 1;
const INTVL: i64 = 1;
const CNT: i64 = 2;
/// The server's IP_MINTTL while it is silent (the client sends with TTL 64).
const SILENT_TTL: i64 = 255;
const PING: &[u8] = b"ping";

/// The system-wide defaults the client's options override.
const SYSCTLS: [&str; 3] = [
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

const fn opt(
    level: libc::c_int,
    name: libc::c_int,
    level_name: &'static str,
    opt_name: &'static str,
) -> Opt {
    Opt {
        level,
        name,
        level_name,
        opt_name,
        kind: Kind::Int,
    }
}

const SO_KEEPALIVE: Opt = opt(
    libc::SOL_SOCKET,
    libc::SO_KEEPALIVE,
    "SOL_SOCKET",
    "SO_KEEPALIVE",
);
const TCP_KEEPIDLE: Opt = opt(
    libc::IPPROTO_TCP,
    libc::TCP_KEEPIDLE,
    "IPPROTO_TCP",
    "TCP_KEEPIDLE",
);
const TCP_KEEPINTVL: Opt = opt(
    libc::IPPROTO_TCP,
    libc::TCP_KEEPINTVL,
    "IPPROTO_TCP",
    "TCP_KEEPINTVL",
);
const TCP_KEEPCNT: Opt = opt(
    libc::IPPROTO_TCP,
    libc::TCP_KEEPCNT,
    "IPPROTO_TCP",
    "TCP_KEEPCNT",
);
const IP_MINTTL: Opt = opt(libc::IPPROTO_IP, libc::IP_MINTTL, "IPPROTO_IP", "IP_MINTTL");
