//! Collects the event lines that a run's threads and processes write to one pipe.
//!
//! A thread reads the pipe and parses each line into an [`Event`]; it stops at the end marker
//! ([`super::Tracer::end`]) or at end of file. Events read so far can be taken at any time, so an
//! interrupted run still has them.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::event::Event;
use super::tracer::{ReadyHook, Tracer};

#[derive(Default)]
struct Collected {
    events: Vec<Event>,
    errors: Vec<String>,
}

/// The reading end of a run's event pipe.
pub struct Collector {
    state: Arc<Mutex<Collected>>,
    done: Receiver<()>,
}

/// A tracer and the collector of its events.
pub fn channel(hook: Option<ReadyHook>) -> io::Result<(Tracer, Collector)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((Tracer::new(w, hook), Collector::spawn(r)?))
}

fn lock(m: &Mutex<Collected>) -> MutexGuard<'_, Collected> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Collector {
    fn spawn(read: OwnedFd) -> io::Result<Collector> {
        let state = Arc::new(Mutex::new(Collected::default()));
        let (tx, done) = mpsc::channel();
        let st = state.clone();
        std::thread::Builder::new()
            .name("sockscope-events".into())
            .spawn(move || {
                read_lines(File::from(read), &st);
                let _ = tx.send(());
            })?;
        Ok(Collector { state, done })
    }

    /// Waits until the end marker (or end of file) has been read, at most `limit`.
    pub fn wait_end(&self, limit: Duration) -> bool {
        match self.done.recv_timeout(limit) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => false,
        }
    }

    /// The events read so far, in arrival order, and the lines that could not be read.
    pub fn take(&self) -> (Vec<Event>, Vec<String>) {
        let mut s = lock(&self.state);
        (std::mem::take(&mut s.events), std::mem::take(&mut s.errors))
    }
}

fn read_lines(mut f: File, st: &Mutex<Collected>) {
    let mut buf = vec![0u8; 1 << 16];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                lock(st).errors.push(format!("reading the event pipe: {e}"));
                return;
            }
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(i) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..i]);
            if text == "{\"kind\":\"end\"}" {
                return;
            }
            let mut s = lock(st);
            match Event::from_json(&text) {
                Ok(e) => s.events.push(e),
                Err(why) => s.errors.push(format!("{why}: {text}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::event::Role;
    use socket2::{Domain, Type};

    #[test]
    fn events_from_threads_and_children_arrive() {
        let (t, c) = channel(None).unwrap();
        let t2 = t.clone();
        std::thread::spawn(move || t2.print(Role::Client, "from a thread"))
            .join()
            .unwrap();
        let s = t.socket(Role::Server, Domain::IPV4, Type::DGRAM).unwrap();
        t.bind(&s, "127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(t.ports().len(), 1);
        let child = t
            .fork(Role::Server, "child", |ct| {
                ct.print(Role::Server, "from a child");
                Ok(())
            })
            .unwrap();
        t.waitpid(Role::Server, child).unwrap();
        t.close(s).unwrap();
        t.end();
        assert!(c.wait_end(Duration::from_secs(5)));
        let (events, errors) = c.take();
        assert!(errors.is_empty(), "{errors:?}");
        let calls: Vec<&str> = events.iter().map(|e| e.call.as_str()).collect();
        for want in ["print", "socket", "bind", "fork", "waitpid", "close"] {
            assert!(calls.contains(&want), "{calls:?}");
        }
        let child_line = events
            .iter()
            .find(|e| e.text.as_deref() == Some("from a child"))
            .unwrap();
        assert_eq!(child_line.who, "child");
        assert_ne!(child_line.pid, std::process::id());
        let bind = events.iter().find(|e| e.call == "bind").unwrap();
        assert!(bind.local.is_some_and(|l| l.port() != 0));
    }

    #[test]
    fn failed_calls_are_events_with_errno() {
        let (t, c) = channel(None).unwrap();
        let s = t.socket(Role::Client, Domain::IPV4, Type::STREAM).unwrap();
        // Port 1 on loopback: nothing listens there in a test environment's namespace, or it is
        // refused for lack of privilege; either way connect() fails.
        let r = t.connect(&s, "127.0.0.1:1".parse().unwrap());
        t.end();
        assert!(c.wait_end(Duration::from_secs(5)));
        let (events, _) = c.take();
        let e = events.iter().find(|e| e.call == "connect").unwrap();
        if r.is_err() {
            assert_eq!(e.ret, Some(-1));
            assert!(e.errno.as_deref().is_some_and(|n| n.starts_with('E')));
        }
    }
}
