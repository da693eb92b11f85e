//! Any program's socket calls, traced cheaply with ptrace and a seccomp-BPF filter (the
//! technique of `strace --seccomp-bpf`), as the same [`Event`]s the in-process
//! [`crate::live::Tracer`] records for the scenarios.
//!
//! ```ignore
//! let traced = Trace::new(&["python3".into(), "client.py".into()]).run()?;
//! for e in &traced.events { println!("{}", e.line()); }
//! std::process::exit(traced.exit.status());
//! ```
//!
//! The child installs a filter that stops it only on the socket calls (and on `read`, `write`,
//! `close`, the waiting calls, which the tracer lets go on unrecorded when their fd is not a
//! socket); every other call runs at full speed. Forks, vforks, threads and execs are followed
//! through ptrace's own events; the program's stdout and stderr are captured line by line.
//!
//! **Events** come in the order the calls returned (as the in-process tracer writes them), with
//! `start`/`end` on the capture's clock ([`crate::live::tracer::now`]), `pid` the process and
//! `tid` the thread, `who` the program name and pid (`python3 4711`), `call` the kernel's name
//! (`accept4`, `sendto`, `pselect6`: what libc really called), `args` as C would show them,
//! `data` the first [`crate::live::event::DATA_MAX`] bytes moved, and `local`/`addr` the
//! socket's own addresses (`getsockname`/`getpeername` on a copy of the tracee's fd, so as
//! the tracee's network namespace sees them; `addr` is the address a call names or returns
//! when it has one, else the peer).
//! **Role**: a call is the server's when its socket was listened on, returned by `accept`, or
//! is a datagram socket given its address with `bind` (and not connected); every other call is
//! the client's. So a forked handler's calls on an accepted socket are the server's, and a
//! process's close of an inherited listening socket too.
//! A call still blocked when its process died has no `ret` and says so in `text`.
//!
//! Nothing here needs privilege: tracing one's own child and a seccomp filter under
//! `PR_SET_NO_NEW_PRIVS` are allowed to every user. x86_64 only ([`arch`]).

mod arch;
pub mod decode;
mod event;
mod procfs;
mod spawn;
mod tracee;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::fd::OwnedFd;

use super::event::Event;
use super::tracer::now;

/// Run in the child after fork and before exec (e.g. to join a network namespace). It must
/// only make async-signal-safe calls, as `std::os::unix::process::CommandExt::pre_exec`.
pub type PreExec = Box<dyn FnMut() -> io::Result<()> + Send>;

/// How the traced program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl Exit {
    /// The status a shell would give: the code, or 128 + the signal.
    pub fn status(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

/// Which of the program's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line the program wrote (without its newline; invalid UTF-8 replaced), and when it was
/// read (the capture's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub ts: i128,
    pub stream: Stream,
    pub text: String,
}

/// What a traced run gives back.
#[derive(Debug)]
pub struct Traced {
    /// The socket calls of the program and of every process and thread it started.
    pub events: Vec<Event>,
    /// How the program (the first process) ended.
    pub exit: Exit,
    /// Its stdout and stderr lines, in time order.
    pub output: Vec<OutputLine>,
    /// The pid of the first process.
    pub pid: u32,
    /// When the first process ended (the capture's clock).
    pub ended: i128,
}

/// How long the output of a program that has ended is still read: a process it left behind
/// may keep its pipes open.
const READ_GRACE: std::time::Duration = std::time::Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("no command to trace")]
    Empty,
    /// The program is not there (a shell exits 127 for it).
    #[error("{program}: command not found")]
    NotFound { program: String },
    /// The program is there but could not be run (a shell exits 126 for it).
    #[error("{program}: cannot run it")]
    Exec {
        program: String,
        #[source]
        source: io::Error,
    },
    /// The caller's hook before exec failed.
    #[error("preparing the traced program failed")]
    Hook(#[source] io::Error),
    /// This system refuses the filter (a kernel without seccomp filters).
    #[error("cannot install the seccomp filter that traces the program's socket calls")]
    Seccomp(#[source] io::Error),
    #[error("tracing the program failed: {what}")]
    Setup {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// A program to trace, like `std::process::Command`.
pub struct Trace {
    argv: Vec<OsString>,
    pre_exec: Option<PreExec>,
    null_stdin: bool,
    env: Vec<(OsString, OsString)>,
    on_start: Option<Box<dyn FnOnce(u32) + Send>>,
}

impl Trace {
    /// `argv[0]` is looked up in `PATH` as a shell does.
    pub fn new(argv: &[OsString]) -> Trace {
        Trace {
            argv: argv.to_vec(),
            pre_exec: None,
            null_stdin: false,
            env: Vec::new(),
            on_start: None,
        }
    }

    /// Runs `f` in the child after fork, before the filter and exec. Its error stops the run
    /// ([`TraceError::Hook`]).
    ///
    /// # Safety
    /// As `CommandExt::pre_exec`: `f` runs in a forked copy of a possibly multithreaded
    /// process and may only make async-signal-safe calls.
    pub unsafe fn pre_exec(mut self, f: impl FnMut() -> io::Result<()> + Send + 'static) -> Self {
        self.pre_exec = Some(Box::new(f));
        self
    }

    /// Sets an environment variable for the program (over sockscope's own environment, which
    /// it inherits otherwise).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Gives the program `/dev/null` as its stdin (it inherits sockscope's otherwise).
    pub fn null_stdin(mut self) -> Self {
        self.null_stdin = true;
        self
    }

    /// Called with the program's pid once it is traced (to kill it on Ctrl-C or a timeout:
    /// the run then ends with that signal as its exit).
    pub fn on_start(mut self, f: impl FnOnce(u32) + Send + 'static) -> Self {
        self.on_start = Some(Box::new(f));
        self
    }

    /// Runs the program to its end (and every process it started, to theirs) and returns its
    /// socket calls, exit and output.
    pub fn run(mut self) -> Result<Traced, TraceError> {
        let child = spawn::spawn(
            &self.argv,
            &self.env,
            self.null_stdin,
            self.pre_exec.as_mut(),
        )?;
        let pid = child.pid;
        let readers = match (
            read_lines(child.stdout, Stream::Stdout),
            read_lines(child.stderr, Stream::Stderr),
        ) {
            (Ok(out), Ok(err)) => [out, err],
            (Err(e), _) | (_, Err(e)) => {
                drop(child.go); // the child reads end of file and exits
                let _ = nix::sys::wait::waitpid(pid, None);
                return Err(TraceError::Setup {
                    what: "starting the threads that read the program's output",
                    source: e,
                });
            }
        };
        let mut session = tracee::Session::new(pid.as_raw());
        let started = session.seize(child.go);
        if started.is_err() {
            // The child may have failed (its hook) before it could be seized: say why.
            if let Some(report) = spawn::failure(&child.errors) {
                return Err(self.failure(Some(report)));
            }
        }
        if started.is_ok() {
            if let Some(f) = self.on_start.take() {
                f(pid.as_raw() as u32);
            }
        }
        let traced = started.and_then(|()| session.run());
        let mut output = Vec::new();
        let deadline = std::time::Instant::now() + READ_GRACE;
        for r in readers {
            r.collect_until(deadline, &mut output);
        }
        output.sort_by_key(|l| l.ts);
        let exit = traced?;
        if !session.execed() {
            return Err(self.failure(spawn::failure(&child.errors)));
        }
        Ok(Traced {
            ended: session.ended(),
            events: session.into_events(),
            exit,
            output,
            pid: pid.as_raw() as u32,
        })
    }

    /// The error of a child that ended before its exec.
    fn failure(&self, report: Option<(u8, i32)>) -> TraceError {
        let program = self
            .argv
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        match report {
            Some((spawn::STEP_EXEC, errno)) if errno == nix::libc::ENOENT => {
                TraceError::NotFound { program }
            }
            Some((spawn::STEP_EXEC, errno)) => TraceError::Exec {
                program,
                source: io::Error::from_raw_os_error(errno),
            },
            Some((spawn::STEP_HOOK, errno)) => {
                TraceError::Hook(io::Error::from_raw_os_error(errno))
            }
            Some((spawn::STEP_SECCOMP, errno)) => {
                TraceError::Seccomp(io::Error::from_raw_os_error(errno))
            }
            Some((_, errno)) => TraceError::Setup {
                what: "preparing the child",
                source: io::Error::from_raw_os_error(errno),
            },
            None => TraceError::Setup {
                what: "the child ended before it ran the program",
                source: io::ErrorKind::Other.into(),
            },
        }
    }
}

/// Traces `cmd` with default options: see [`Trace`].
pub fn trace(cmd: &[OsString]) -> Result<Traced, TraceError> {
    Trace::new(cmd).run()
}

/// A thread reading one output pipe line by line, stamping each line as it arrives.
fn read_lines(fd: OwnedFd, stream: Stream) -> io::Result<Lines> {
    let name = format!("sockscope-{stream:?}").to_lowercase();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new().name(name).spawn(move || {
        let mut r = BufReader::new(File::from(fd));
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    let line = OutputLine {
                        ts: now(),
                        stream,
                        text: String::from_utf8_lossy(&buf).into_owned(),
                    };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    })?;
    Ok(Lines(rx))
}

/// The lines a reader thread sends, until its pipe ends.
struct Lines(std::sync::mpsc::Receiver<OutputLine>);

impl Lines {
    /// Everything until end of file, or until `deadline`: a process the program left behind
    /// may hold the pipe open for ever, and is not waited for.
    fn collect_until(self, deadline: std::time::Instant, out: &mut Vec<OutputLine>) {
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.0.recv_timeout(left) {
                Ok(l) => out.push(l),
                Err(_) => return,
            }
        }
    }
}
