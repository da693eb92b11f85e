//! `oob`: urgent data. `send(…, MSG_OOB)` sets URG and the urgent pointer on the segment, the
//! receiving process gets SIGURG (it asked for it with `fcntl(fd, F_SETOWN, getpid())`), and
//! `recv(…, MSG_OOB)` returns one byte: only the last byte of what was sent with MSG_OOB is
//! urgent. With SO_OOBINLINE the urgent byte stays in the stream.
//!
//! ```c
//! /* oob_send.c */                        /* oob_recv.c */
//! connect(sock, &recv_adr, …);            act.sa_handler = urg_handler; act.sa_flags = 0;
//! write(sock, "123", strlen("123"));      recv_sock = accept(acpt_sock, …);
//! send(sock, "4", strlen("4"), MSG_OOB);  fcntl(recv_sock, F_SETOWN, getpid());
//! write(sock, "567", strlen("567"));      sigaction(SIGURG, &act, 0);
//! send(sock, "890", strlen("890"),        while ((str_len = recv(recv_sock, buf,
//!      MSG_OOB);                                  sizeof(buf), 0)) != 0) {
//! close(sock);                                if (str_len == -1) continue;
//!                                             puts(buf);
//! void urg_handler(int signo) {           }
//!     str_len = recv(recv_sock, buf, sizeof(buf) - 1, MSG_OOB);
//!     printf("Urgent message: %s \n", buf);
//! }
//! ```
//! The receiver runs in a process of its own, forked by sockscope's runner (which binds the
//! port, so that the capture knows it): F_SETOWN with its pid sends SIGURG to that process,
//! whose one thread is the receiver, as in the book. The sender starts once the receiver has
//! called F_SETOWN, sends "4" once the receiver waits in recv() (`/proc/PID/syscall`), and
//! waits after each urgent send until the handler has run (one byte on a pipe each), so that
//! each urgent byte is taken before the next arrives. Part 2 is the same with SO_OOBINLINE set on the accepted socket.

mod checks;
mod program;
mod sys;

use crate::scenario::Scenario;

pub const SCENARIO: Scenario = Scenario {
    name: "oob",
    lesson: "lesson 11: more I/O functions",
    summary: "send(MSG_OOB): URG and the urgent pointer on the wire, SIGURG, only the last byte is urgent; SO_OOBINLINE",
    explain: EXPLAIN,
    run: program::run,
    checks: checks::checks,
    facts: checks::facts,
};

const EXPLAIN: &str = "
\"Out-of-band\" data in TCP is not a second channel: it is one marked place in the same byte
stream. send(sock, \"890\", 3, MSG_OOB) sends the three bytes in sequence like any others,
with the URG flag set ([P.U]) and the urgent pointer in the header saying where the urgent
data ends: urg 3 on a segment of 3 bytes points just past its last byte, so only \"0\" is
urgent; \"89\" is ordinary data. (RFC 1122 wanted the pointer on the last urgent byte itself;
Linux and the BSDs point one past it, and RFC 6093 accepts that.) The segment is sent at once,
even where Nagle's algorithm would hold a small write back.

The receiving kernel takes the urgent byte out of the stream and signals the socket's owner:
the book's receiver made itself the owner with fcntl(recv_sock, F_SETOWN, getpid()), so its
process gets SIGURG (nobody does without an owner). Its handler calls recv(…, MSG_OOB) and
gets exactly one byte, \"4\" and then \"0\"; the ordinary reads return the rest, \"123\", \"567\"
and \"89\", never the urgent bytes. The handler was installed with sa_flags 0, as in the book,
so a recv() waiting when SIGURG comes fails with EINTR and the loop calls it again (`if
(str_len == -1) continue;`). The [handler] lines are the handler's, recorded inside it and
shown when the receiver's next call returns (printing in a handler is not safe).

Part 2 sets SO_OOBINLINE on the accepted socket: the wire is the same and SIGURG still comes,
but the urgent bytes stay in the stream, so the reads return all of \"1234567890\", and the
handler's recv(…, MSG_OOB) fails with EINVAL. A read never runs past the urgent mark: it
stops before the urgent byte, which begins the next read (\"123\" then \"4…\"); that is how a
program finds the mark (sockatmark() says whether the next read starts there).

Urgent data is rarely used (telnet and rlogin used it for interrupts); since only one byte is
urgent and a later urgent byte replaces an unread one, it cannot carry messages. Here the
sender waits after each urgent send until the receiver's handler has run, and sends \"4\" only
once the receiver waits in recv() (as /proc/PID/syscall shows), so that SIGURG interrupts it.";

/// The receiver process's name in the timeline.
const RECEIVER: &str = "receiver";
/// The SIGURG handler's lines.
const HANDLER: &str = "handler";
/// The two parts: mark key, title, SO_OOBINLINE.
const PARTS: [(&str, &str, bool); 2] = [
    (
        "oob/plain",
        "write \"123\", send \"4\" MSG_OOB, write \"567\", send \"890\" MSG_OOB",
        false,
    ),
    (
        "oob/inline",
        "the same again; the receiver sets SO_OOBINLINE",
        true,
    ),
];
