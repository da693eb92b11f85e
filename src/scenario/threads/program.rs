//! The `threads` program: the accepting main thread, a thread per client, and the clients.

use std::net::{Shutdown, SocketAddr};
use std::thread;

use socket2::{Domain, Type};

use super::{CLIENTS, CLIENT_NAMES, THREADS};
use crate::live::{LiveError, Role, Sock, Tracer};
use crate::scenario::{any_port, bound, read_exactly, Meeting};

/// The texts' BUF_SIZE.
const BUF_SIZE: usize = 100;

pub(super) fn run(t: &Tracer) -> Result<(), LiveError> {
    let serv = t.socket(Role::Server, Domain::IPV4, Type::STREAM)?;
    t.bind(&serv, any_port())?;
    t.listen(&serv, 5)?;
    let addr = bound(&serv)?;
    t.ready()?;
    t.mark(
        "threads/serve",
        "three clients at once: accept, pthread_create; each thread serves and closes",
    );
    let meeting = Meeting::new(CLIENTS);
    thread::scope(|s| {
        let clients: Vec<_> = CLIENT_NAMES
            .iter()
            .map(|&name| {
                let (tc, meet) = (t.named(name), &meeting);
                s.spawn(move || {
                    let r = client(&tc, addr, meet);
                    if r.is_err() {
                        meet.fail();
                    }
                    r
                })
            })
            .collect();
        let served = server(t, &serv);
        let mut result = served;
        for h in clients {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(LiveError::Scenario("a client thread panicked".into())));
            result = result.and(r);
        }
        result
    })?;
    t.close(serv)
}

/// The main thread: accept each client and start its thread; then wait for them.
fn server(t: &Tracer, serv: &Sock) -> Result<(), LiveError> {
    let mut threads = Vec::new();
    for name in THREADS {
        let clnt_sock = t.accept(serv)?;
        let th = t.pthread_create(Role::Server, name, "handle_clnt, clnt_sock", move |tt| {
            handle_clnt(tt, clnt_sock)
        })?;
        threads.push(th);
        // No close(clnt_sock): the thread's descriptor is this one.
    }
    let mut result = Ok(());
    for th in threads {
        result = result.and(t.pthread_join(Role::Server, th));
    }
    result
}

/// A client's thread: echo until the client's FIN, then close (the only close).
fn handle_clnt(t: &Tracer, clnt_sock: Sock) -> Result<(), LiveError> {
    let mut msg = [0u8; BUF_SIZE];
    loop {
        let str_len = t.read(&clnt_sock, &mut msg)?;
        if str_len == 0 {
            break;
        }
        t.write(&clnt_sock, &msg[..str_len])?;
    }
    t.close(clnt_sock)
}

/// The client: connect, send one line, read the echo, meet the others, then half-close and
/// read until the end of stream.
fn client(t: &Tracer, server: SocketAddr, meet: &Meeting) -> Result<(), LiveError> {
    let s = t.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
    t.connect(&s, server)?;
    let port = s.local().map_or(0, |a| a.port());
    let line = format!("port {port}");
    t.write(&s, line.as_bytes())?;
    let echo = read_exactly(t, &s, line.len())?;
    t.print(
        Role::Client,
        &format!("echo: {}", String::from_utf8_lossy(&echo)),
    );
    meet.arrive()?;
    t.shutdown(&s, Shutdown::Write)?;
    let mut buf = [0u8; 16];
    if t.read(&s, &mut buf)? != 0 {
        return Err(LiveError::Scenario(
            "the server sent more than the echo".into(),
        ));
    }
    t.close(s)
}
