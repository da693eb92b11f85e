//! Threads: `pthread_create` and `pthread_join` as events, and tracers whose events carry a
//! name (`thread 1`, `client A`) instead of the role. Every event carries its thread id
//! (`tid`) already; a thread shares the process's descriptor table, so its socket calls
//! need no copies closed (unlike a forked child).

use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{now, Tracer};
use crate::live::event::{Event, Role};
use crate::live::LiveError;

/// How long a new thread may take to say its id.
const START: Duration = Duration::from_secs(5);

/// A thread made by [`Tracer::pthread_create`].
pub struct Thread {
    tid: u32,
    name: &'static str,
    handle: JoinHandle<Result<(), LiveError>>,
}

impl Thread {
    /// Its kernel thread id, as events carry it.
    pub fn tid(&self) -> u32 {
        self.tid
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Tracer {
    /// A tracer whose events carry `name` (shown as `[name]` in its lane) instead of the role.
    pub fn named(&self, name: &'static str) -> Tracer {
        Tracer {
            shared: self.shared.clone(),
            who: Some(name),
        }
    }

    /// `pthread_create(&t_id, NULL, start, arg)`: runs `body` on a new thread of this process,
    /// its events named `name`. `what` is the C call's last two arguments (`handle_clnt,
    /// &clnt_sock`); the event's result names the thread and its id.
    pub fn pthread_create<F>(
        &self,
        role: Role,
        name: &'static str,
        what: &str,
        body: F,
    ) -> Result<Thread, LiveError>
    where
        F: FnOnce(&Tracer) -> Result<(), LiveError> + Send + 'static,
    {
        let start = now();
        let t = self.named(name);
        let (tx, rx) = mpsc::channel();
        let r = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let _ = tx.send(nix::unistd::gettid().as_raw() as u32);
                let r = body(&t);
                if let Err(e) = &r {
                    t.error_event(role, &e.to_string());
                }
                r
            })
            .and_then(|h| match rx.recv_timeout(START) {
                Ok(tid) => Ok((h, tid)),
                Err(_) => Err(io::Error::other("the new thread did not start")),
            });
        let args = format!("&t_id, NULL, {what}");
        let (handle, tid) = self.finish(role, "pthread_create", None, args, start, r, |h, e| {
            e.text = Some(format!("({name}: tid {})", h.1));
        })?;
        Ok(Thread { tid, name, handle })
    }

    /// `pthread_join(t_id, NULL)`: waits for the thread to end; its error, or a panic, becomes
    /// this program's error.
    pub fn pthread_join(&self, role: Role, th: Thread) -> Result<(), LiveError> {
        let start = now();
        let joined = th.handle.join();
        let mut e = Event::new(role, self.who(role), "pthread_join", start);
        e.end = now();
        e.args = format!("{} ({}), NULL", th.tid, th.name);
        e.ret = Some(0);
        e.text = Some(match &joined {
            Ok(Ok(())) => format!("({} returned)", th.name),
            Ok(Err(_)) => format!("({} failed)", th.name),
            Err(_) => format!("({} panicked)", th.name),
        });
        self.emit(&mut e);
        joined.map_err(|_| LiveError::Scenario(format!("{} panicked", th.name)))?
    }
}
