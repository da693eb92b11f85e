//! Processes and kernel state: fork()/waitpid() for scenarios with a child process, and the
//! TCP state of a connection as events (`state`, `wait`).

use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use super::{now, Sock, Tracer};
use crate::live::event::{Event, Role};
use crate::live::tcpstate::{self, TcpState};
use crate::live::LiveError;

/// A forked child process; killed if dropped without [`Tracer::waitpid`].
pub struct Child {
    pid: Pid,
    waited: bool,
}

impl Child {
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.waited {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

impl Tracer {
    /// The kernel's state of `s`'s connection (from /proc/net/tcp), recorded as an event.
    pub fn state(&self, s: &Sock) -> Result<Option<TcpState>, LiveError> {
        let start = now();
        let st = match (s.local(), s.peer()) {
            (Some(l), Some(p)) => tcpstate::state_of(l, p)?,
            _ => None,
        };
        let mut e = Event::new(s.role, self.who(s.role), "state", start);
        e.end = now();
        e.fd = Some(s.fd());
        e.args = s.fd().to_string();
        Self::on_sock(&mut e, s);
        e.text = Some(
            st.map_or("unknown to the kernel", TcpState::name)
                .to_owned(),
        );
        self.emit(&mut e);
        Ok(st)
    }

    /// Waits until `s`'s connection reaches `want` (polling /proc/net/tcp every ms).
    pub fn wait_state(&self, s: &Sock, want: TcpState, limit: Duration) -> Result<(), LiveError> {
        let (Some(l), Some(p)) = (s.local(), s.peer()) else {
            return Err(LiveError::Scenario(
                "wait_state: socket not connected".into(),
            ));
        };
        let what = format!("fd {} is {}", s.fd(), want.name());
        self.wait_tuple(s, l, p, what, want, limit)
    }

    /// Waits until the peer's end of `s`'s connection (a socket on this host too) reaches
    /// `want`, e.g. until the client is in FIN_WAIT2 because our ACK of its FIN went out.
    pub fn wait_peer_state(
        &self,
        s: &Sock,
        want: TcpState,
        limit: Duration,
    ) -> Result<(), LiveError> {
        let (Some(l), Some(p)) = (s.local(), s.peer()) else {
            return Err(LiveError::Scenario(
                "wait_peer_state: socket not connected".into(),
            ));
        };
        let what = format!("the peer of fd {} is {}", s.fd(), want.name());
        self.wait_tuple(s, p, l, what, want, limit)
    }

    fn wait_tuple(
        &self,
        s: &Sock,
        local: SocketAddr,
        peer: SocketAddr,
        what: String,
        want: TcpState,
        limit: Duration,
    ) -> Result<(), LiveError> {
        let start = now();
        let deadline = Instant::now() + limit;
        let got = loop {
            let st = tcpstate::state_of(local, peer)?;
            if st == Some(want) || Instant::now() >= deadline {
                break st;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let mut e = Event::new(s.role, self.who(s.role), "wait", start);
        e.end = now();
        e.fd = Some(s.fd());
        e.ret = Some(0);
        Self::on_sock(&mut e, s);
        e.args = what;
        e.text = Some(
            got.map_or("unknown to the kernel", TcpState::name)
                .to_owned(),
        );
        self.emit(&mut e);
        if got == Some(want) {
            Ok(())
        } else {
            Err(LiveError::Scenario(format!(
                "waited {} ms in vain until {}",
                limit.as_millis(),
                e.args
            )))
        }
    }

    /// `fork()`: runs `body` in a child process named `name` (its events carry that name), which
    /// then exits; returns the child to the parent.
    pub fn fork<F>(&self, role: Role, name: &'static str, body: F) -> Result<Child, LiveError>
    where
        F: FnOnce(&Tracer) -> Result<(), LiveError>,
    {
        let start = now();
        // SAFETY: the child runs only `body` (socket calls, formatting, writes to the event pipe)
        // and then `_exit`s; it takes no lock that another thread of the parent may hold.
        let r = unsafe { nix::unistd::fork() }.map_err(io::Error::from);
        if let Ok(ForkResult::Child) = r {
            let t = Tracer {
                shared: self.shared.clone(),
                who: Some(name),
            };
            let code = match catch_unwind(AssertUnwindSafe(|| body(&t))) {
                Ok(Ok(())) => 0,
                Ok(Err(e)) => {
                    t.error_event(role, &e.to_string());
                    1
                }
                Err(_) => 101,
            };
            // SAFETY: ends the child without running the parent's destructors or atexit hooks.
            unsafe { nix::libc::_exit(code) }
        }
        let pid = self.finish(role, "fork", None, String::new(), start, r, |f, e| {
            if let ForkResult::Parent { child } = f {
                e.ret = Some(child.as_raw() as i64);
            }
        })?;
        let ForkResult::Parent { child } = pid else {
            return Err(LiveError::Scenario("fork: unexpected child".into()));
        };
        if let Ok(mut c) = self.shared.children.lock() {
            c.push(child.as_raw());
        }
        Ok(Child {
            pid: child,
            waited: false,
        })
    }

    /// `waitpid(pid)`: waits for a forked child; an exit status other than 0 is an error.
    pub fn waitpid(&self, role: Role, mut child: Child) -> Result<(), LiveError> {
        let start = now();
        let r = waitpid(child.pid, None).map_err(io::Error::from);
        child.waited = true;
        if let Ok(mut c) = self.shared.children.lock() {
            c.retain(|&p| p != child.pid.as_raw());
        }
        let status = self.finish(
            role,
            "waitpid",
            None,
            child.pid().to_string(),
            start,
            r,
            |s, e| {
                e.ret = Some(child.pid() as i64);
                e.text = Some(match s {
                    WaitStatus::Exited(_, c) => format!("(exited {c})"),
                    WaitStatus::Signaled(_, sig, _) => format!("(killed by {sig})"),
                    other => format!("({other:?})"),
                });
            },
        )?;
        match status {
            WaitStatus::Exited(_, 0) => Ok(()),
            other => Err(LiveError::Scenario(format!(
                "child process {} ended badly: {other:?}",
                child.pid()
            ))),
        }
    }

    /// Kills forked children still running (after an interrupt or a failed scenario).
    pub fn kill_children(&self) {
        if !self.in_origin() {
            return;
        }
        if let Ok(mut c) = self.shared.children.lock() {
            for &pid in c.iter() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(pid), None);
            }
            c.clear();
        }
    }
}
