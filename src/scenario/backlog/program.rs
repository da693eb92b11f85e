//! The `backlog` program: three connections to a listener with a backlog of 1 that accepts
//! only once the third SYN has been dropped.

use std::time::Duration;

use socket2::{Domain, Type};

use super::{ACCEPT_MARK, BACKLOG, BYTES, FULL_MARK, QUEUE_MARK};
use crate::live::{LiveError, Role, Tracer};
use crate::scenario::{any_port, bound, read_exactly, Peer};

/// How long the server waits for the third SYN to be dropped, and the client for its ACKs.
const LIMIT: Duration = Duration::from_secs(5);

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let s = Role::Server;
    let listener = t.socket(s, Domain::IPV4, Type::STREAM)?;
    t.bind(&listener, any_port())?;
    t.listen(&listener, BACKLOG)?;
    let server = bound(&listener)?;
    t.ready()?;
    t.mark(
        QUEUE_MARK,
        "listen(fd, 1), no accept(): the kernel completes two handshakes and ACKs their data",
    );

    let client = Peer::start(t, move |tc| {
        let c = Role::Client;
        let mut socks = Vec::new();
        for b in &BYTES[..2] {
            let sock = tc.socket(c, Domain::IPV4, Type::STREAM)?;
            tc.connect(&sock, server)?;
            tc.write(&sock, b)?;
            tc.wait_acked(&sock, LIMIT)?;
            socks.push(sock);
        }
        tc.mark(
            FULL_MARK,
            "the accept queue is full: the third SYN is dropped, re-sent after 1 s",
        );
        let sock = tc.socket(c, Domain::IPV4, Type::STREAM)?;
        tc.connect(&sock, server)?;
        tc.write(&sock, BYTES[2])?;
        socks.push(sock);
        for sock in socks {
            tc.close(sock)?;
        }
        Ok(())
    });

    t.wait_drops(&listener, 1, LIMIT)?;
    t.listen_queue(&listener)?;
    t.drops(&listener)?;
    t.mark(
        ACCEPT_MARK,
        "accept() ×3: the queued connections at once, in arrival order; the third after its re-sent SYN",
    );
    for _ in &BYTES {
        let conn = t.accept(&listener)?;
        let b = read_exactly(t, &conn, 1)?;
        t.print(s, &format!("read {:?}", String::from_utf8_lossy(&b)));
        t.close(conn)?;
    }
    t.close(listener)?;
    client.join()
}
