//! Scenarios: small socket programs written as the classic texts write them, run over loopback
//! with real kernel sockets, each with the self-checks its packets must pass.
//!
//! A scenario is three functions: `run` (the program, through a [`Tracer`] so every call is an
//! event), `checks` (what must hold on the captured packets and events) and `facts` (numbers
//! worth showing that are not pass/fail). `checks` and `facts` are pure, so saved runs are
//! checked and rendered without root.

mod addr;
mod addr_libc;
mod buffers;
mod data;
mod dns;
mod dns_resolver;
mod dns_wire;
mod fork;
mod fork_sys;
mod halfclose;
mod handshake;
mod hello;
mod iosplit;
mod nagle;
mod proto;
mod reset;
mod retransmit;
mod retransmit_sys;
mod sockopt;
mod sockopt_calls;
mod stream;
mod teardown;
mod timewait;
mod udp;

use std::net::SocketAddr;

pub use crate::live::Scenario;
use crate::live::{LiveError, Tracer, View};

/// Every scenario, in lesson order.
pub fn all() -> &'static [Scenario] {
    &SCENARIOS
}

static SCENARIOS: [Scenario; 18] = [
    hello::SCENARIO,
    handshake::SCENARIO,
    addr::SCENARIO,
    data::SCENARIO,
    stream::SCENARIO,
    proto::SCENARIO,
    retransmit::SCENARIO,
    teardown::SCENARIO,
    halfclose::SCENARIO,
    timewait::SCENARIO,
    reset::SCENARIO,
    nagle::SCENARIO,
    udp::SCENARIO,
    buffers::SCENARIO,
    sockopt::SCENARIO,
    fork::SCENARIO,
    iosplit::SCENARIO,
    dns::SCENARIO,
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// Where servers bind: loopback, port 0 (the kernel picks a free port, so runs can go in
/// parallel).
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The address a bound socket got, or an error naming the scenario step.
pub fn bound(s: &crate::live::Sock) -> Result<SocketAddr, LiveError> {
    s.local()
        .ok_or_else(|| LiveError::Scenario("the kernel did not say which port it bound".into()))
}

/// No facts to show.
pub fn no_facts(_: &View) -> Vec<String> {
    Vec::new()
}

/// Reads from `s` until `want` bytes have arrived (each read is an event); fails on EOF first.
pub fn read_exactly(t: &Tracer, s: &crate::live::Sock, want: usize) -> Result<Vec<u8>, LiveError> {
    let mut got = Vec::with_capacity(want);
    let mut buf = vec![0u8; want.max(1)];
    while got.len() < want {
        let n = t.read(s, &mut buf[..want - got.len()])?;
        if n == 0 {
            return Err(LiveError::Scenario(format!(
                "the peer closed after {} of {want} bytes",
                got.len()
            )));
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(got)
}

/// Opened by the server just before it calls accept(), so that the client connects to a
/// server already waiting in accept(), as the lesson's diagrams show.
pub struct Gate(std::sync::mpsc::Sender<()>);

/// The client's side of a [`Gate`].
pub struct Waiter(std::sync::mpsc::Receiver<()>);

/// A gate and its waiter.
pub fn gate() -> (Gate, Waiter) {
    let (tx, rx) = std::sync::mpsc::channel();
    (Gate(tx), Waiter(rx))
}

impl Gate {
    pub fn open(&self) {
        let _ = self.0.send(());
    }
}

impl Waiter {
    /// Waits until the gate opens; fails if the server went away first.
    pub fn wait(&self) -> Result<(), LiveError> {
        self.0
            .recv()
            .map_err(|_| LiveError::Scenario("the server stopped before accepting".into()))
    }
}

/// Joins a scenario thread, turning a panic into an error.
pub fn join<T>(h: std::thread::JoinHandle<Result<T, LiveError>>) -> Result<T, LiveError> {
    h.join()
        .map_err(|_| LiveError::Scenario("a scenario thread panicked".into()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_described() {
        let mut names: Vec<&str> = all().iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all().len());
        for s in all() {
            assert!(!s.summary.is_empty() && !s.explain.is_empty() && !s.lesson.is_empty());
            assert!(find(s.name).is_some());
        }
        assert!(find("nope").is_none());
    }
}
