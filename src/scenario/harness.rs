//! What every scenario program needs besides its socket calls: where to bind, reading a whole
//! message, and a [`Peer`] for the other program (its thread, its turns, its join).

use std::net::SocketAddr;
use std::thread::JoinHandle;

use crate::live::{LiveError, Sock, Tracer, View};

/// Where servers bind: loopback, port 0 (the kernel picks a free port, so runs can go in
/// parallel).
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The address a bound socket got, or an error naming the scenario step.
pub fn bound(s: &Sock) -> Result<SocketAddr, LiveError> {
    s.local()
        .ok_or_else(|| LiveError::Scenario("the kernel did not say which port it bound".into()))
}

/// No facts to show.
pub fn no_facts(_: &View) -> Vec<String> {
    Vec::new()
}

/// Reads from `s` until `want` bytes have arrived (each read is an event); fails on EOF first.
pub fn read_exactly(t: &Tracer, s: &Sock, want: usize) -> Result<Vec<u8>, LiveError> {
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

/// A turn for another thread: opened by the server just before it calls accept(), so that the
/// client connects to a server already waiting in accept(), as the lesson's diagrams show.
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
fn join<T>(h: JoinHandle<Result<T, LiveError>>) -> Result<T, LiveError> {
    h.join()
        .map_err(|_| LiveError::Scenario("a scenario thread panicked".into()))?
}

/// The other program of a scenario (the client, usually) on a thread of its own, with its own
/// handle on the tracer. The scenario's own file still makes every socket call it teaches; the
/// harness owns only the thread, the turns and the join.
///
/// ```text
/// let client = Peer::spawn(t, move |tc, turn| {
///     turn.wait()?;                       // until the server gives it a turn
///     let s = tc.socket(Role::Client, Domain::IPV4, Type::STREAM)?;
///     tc.connect(&s, server)?;
///     tc.close(s)
/// });
/// client.go();                            // just before accept(), as the diagrams show
/// let conn = t.accept(&listener)?;
/// client.join()
/// ```
pub struct Peer {
    turns: Gate,
    handle: JoinHandle<Result<(), LiveError>>,
}

impl Peer {
    /// Starts `body` on its own thread. It takes turns with this one: each `turn.wait()` in it
    /// returns after one [`Peer::go`] here.
    pub fn spawn<F>(t: &Tracer, body: F) -> Peer
    where
        F: FnOnce(&Tracer, Waiter) -> Result<(), LiveError> + Send + 'static,
    {
        let (turns, waiter) = gate();
        let tc = t.clone();
        let handle = std::thread::spawn(move || body(&tc, waiter));
        Peer { turns, handle }
    }

    /// Starts `body` on its own thread at once, taking no turns.
    pub fn start<F>(t: &Tracer, body: F) -> Peer
    where
        F: FnOnce(&Tracer) -> Result<(), LiveError> + Send + 'static,
    {
        Peer::spawn(t, move |tc, _| body(tc))
    }

    /// Gives the peer its next turn.
    pub fn go(&self) {
        self.turns.open();
    }

    /// Waits for the peer to end; its error, or a panic, becomes this program's error.
    pub fn join(self) -> Result<(), LiveError> {
        join(self.handle)
    }
}

/// How long a client waits at a [`Meeting`] for the others.
const MEETING_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A rendezvous of a scenario's clients: each waits until all `n` have their echo, or one
/// fails (`fail`), so their connections stay open at the same time.
pub struct Meeting {
    state: std::sync::Mutex<(usize, bool)>,
    cv: std::sync::Condvar,
    n: usize,
}

impl Meeting {
    pub fn new(n: usize) -> Meeting {
        Meeting {
            state: std::sync::Mutex::new((0, false)),
            cv: std::sync::Condvar::new(),
            n,
        }
    }

    pub fn arrive(&self) -> Result<(), LiveError> {
        let gone = || LiveError::Scenario("another client failed".into());
        let mut g = self.state.lock().map_err(|_| gone())?;
        g.0 += 1;
        self.cv.notify_all();
        let deadline = std::time::Instant::now() + MEETING_WAIT;
        while g.0 < self.n && !g.1 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(LiveError::Scenario(
                    "the other clients did not get their echo in time".into(),
                ));
            }
            g = self.cv.wait_timeout(g, left).map_err(|_| gone())?.0;
        }
        if g.1 {
            return Err(gone());
        }
        Ok(())
    }

    pub fn fail(&self) {
        if let Ok(mut g) = self.state.lock() {
            g.1 = true;
            self.cv.notify_all();
        }
    }
}
