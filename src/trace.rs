//! `sockscope trace -- CMD`: any program, run in a network namespace of its own and captured
//! there, shown as `run` shows a scenario: its output lines on the clock of its packets, the
//! ladder of each connection, the capture counters. The namespace holds only `lo`, so only the
//! program's own traffic is captured, and nothing it does reaches another host.
//!
//! Order: the private namespace (a user namespace too when not root) and the capture are set up
//! while this process has one thread; then privileges are given up; then the capture starts, the
//! program runs with its stdout and stderr read line by line, and once it has ended and its
//! connections have settled, the sentinels stop the capture.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cli::{FormatArg, TraceArgs};
use crate::exit::{error_chain, Status};
use crate::live::event::{Event, Role};
use crate::live::netns;
use crate::live::tracer::now;
use crate::live::{privilege, syscalls, tcpstate, LiveCapture, LiveError, RunData};
use crate::picture::Plans;
use crate::render::run::{report, ReportOptions};
use crate::run::write_out;
use crate::save::Plan;

/// Exit status when the command cannot be found or run, as a shell says it.
pub const NOT_FOUND: u8 = 127;
/// Exit status when the command is there but cannot be run (not executable), as a shell says it.
pub const CANNOT_RUN: u8 = 126;
/// Exit status when `--timeout` ended the program, as timeout(1) says it.
pub const TIMED_OUT: u8 = 124;
/// How long the program's connections may take to settle after it ended.
const SETTLE: Duration = Duration::from_secs(1);

/// The first signal that arrived (SIGINT or SIGTERM), 0 for none.
static SIGNALLED: AtomicI32 = AtomicI32::new(0);

/// How many SIGINT/SIGTERM arrived.
static SIGNALS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The first signal came from the terminal (Ctrl-C), which sent it to the program too.
static FROM_TERMINAL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(
    sig: nix::libc::c_int,
    info: *mut nix::libc::siginfo_t,
    _: *mut nix::libc::c_void,
) {
    if SIGNALLED
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t (or null).
        let code = unsafe { info.as_ref() }.map_or(0, |i| i.si_code);
        FROM_TERMINAL.store(code == nix::libc::SI_KERNEL, Ordering::SeqCst);
    }
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// The signal to pass on to the program, once: SIGTERM, and SIGINT unless the terminal sent
/// it (a Ctrl-C reaches the whole foreground group, the program with it; a `kill -INT` of
/// sockscope alone does not).
fn to_forward(forwarded: &mut bool) -> Option<i32> {
    let sig = SIGNALLED.load(Ordering::SeqCst);
    if sig == 0 || *forwarded {
        return None;
    }
    *forwarded = true;
    (sig == nix::libc::SIGTERM || !FROM_TERMINAL.load(Ordering::SeqCst)).then_some(sig)
}

/// A second SIGINT or SIGTERM: the user wants out now (the traced processes die with us).
fn exit_if_signalled_twice() {
    if SIGNALS.load(Ordering::SeqCst) >= 2 {
        crate::save::discard_pending();
        eprintln!("sockscope: interrupted again: stopping without a timeline");
        let first = SIGNALLED.load(Ordering::SeqCst);
        std::process::exit(Status::stopped_by(first).code() as i32);
    }
}

/// One line the program wrote.
struct OutputLine {
    ts: i128,
    stderr: bool,
    text: String,
}

/// How the program ended.
enum Ending {
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    TimedOut,
}

/// What running the program gave.
struct Ran {
    pid: u32,
    /// Its socket calls (none with `--no-syscalls`).
    calls: Vec<Event>,
    lines: Vec<OutputLine>,
    ending: Ending,
    /// When it ended (the capture's clock).
    ended: i128,
}

/// The program could not be started: the exit status a shell gives for that, and why.
struct Unstarted {
    status: u8,
    why: String,
}

/// Runs the program with its socket calls traced (ptrace and seccomp: `live::syscalls`). The
/// tracing runs on this thread; a watchdog kills the program at the timeout and passes a
/// SIGTERM on.
fn traced(
    command: &[OsString],
    env: &[(OsString, OsString)],
    timeout: Option<Duration>,
) -> Result<Ran, Unstarted> {
    use std::sync::atomic::{AtomicBool, AtomicU32};
    use std::sync::Arc;
    let pid = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (pid, done, killed) = (pid.clone(), done.clone(), killed.clone());
        std::thread::spawn(move || watch(&pid, &done, &killed, timeout))
    };
    let p2 = pid.clone();
    let result = env
        .iter()
        .fold(syscalls::Trace::new(command), |t, (k, v)| t.env(k, v))
        .on_start(move |p| p2.store(p, Ordering::SeqCst))
        .run();
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    let t = match result {
        Ok(t) => t,
        Err(e) => {
            let status = match e {
                syscalls::TraceError::NotFound { .. } => NOT_FOUND,
                syscalls::TraceError::Exec { .. } => CANNOT_RUN,
                _ => crate::exit::ERROR,
            };
            return Err(Unstarted {
                status,
                why: error_chain(&e),
            });
        }
    };
    let lines = t
        .output
        .into_iter()
        .map(|l| OutputLine {
            ts: l.ts,
            stderr: l.stream == syscalls::Stream::Stderr,
            text: l.text,
        })
        .collect();
    let ending = if killed.load(Ordering::SeqCst) {
        Ending::TimedOut
    } else {
        match t.exit {
            syscalls::Exit::Code(c) => Ending::Exited {
                code: Some(c),
                signal: None,
            },
            syscalls::Exit::Signal(s) => Ending::Exited {
                code: None,
                signal: Some(s),
            },
        }
    };
    Ok(Ran {
        pid: t.pid,
        calls: t.events,
        lines,
        ending,
        ended: t.ended,
    })
}

/// Passes a SIGTERM or SIGINT sent to sockscope on to the program (see [`to_forward`]); kills
/// it at the timeout (and says so in `killed`). Ends when `done` is set.
fn watch(
    pid: &std::sync::atomic::AtomicU32,
    done: &std::sync::atomic::AtomicBool,
    killed: &std::sync::atomic::AtomicBool,
    timeout: Option<Duration>,
) {
    let started = Instant::now();
    let mut forwarded = false;
    // A pidfd names the process itself, not its number: a signal can never reach another
    // process that got the number after the program was reaped.
    let mut pidfd: Option<std::os::fd::OwnedFd> = None;
    while !done.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
        exit_if_signalled_twice();
        let p = pid.load(Ordering::SeqCst);
        if p == 0 {
            continue;
        }
        if pidfd.is_none() {
            pidfd = pidfd_open(p);
        }
        let Some(fd) = &pidfd else { continue };
        if let Some(sig) = to_forward(&mut forwarded) {
            let _ = pidfd_kill(fd, sig);
        }
        if !killed.load(Ordering::SeqCst)
            && timeout.is_some_and(|t| started.elapsed() >= t)
            && pidfd_kill(fd, nix::libc::SIGKILL)
        {
            killed.store(true, Ordering::SeqCst);
        }
    }
}

/// A pidfd for process `pid` (None when it is gone already).
fn pidfd_open(pid: u32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid as nix::libc::pid_t, 0) };
    // SAFETY: a non-negative result is a new fd that nothing else owns.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `sig` through a pidfd; false when the process has ended (or it failed).
fn pidfd_kill(fd: &std::os::fd::OwnedFd, sig: i32) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal with a live pidfd, a signal number, no info, no flags.
    let r = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<nix::libc::siginfo_t>(),
            0,
        )
    };
    r == 0
}

/// Runs the program untraced (`--no-syscalls`): its output lines and its end only.
fn plain(
    command: &[OsString],
    env: &[(OsString, OsString)],
    timeout: Option<Duration>,
) -> Result<Ran, Unstarted> {
    let program = command.first().cloned().unwrap_or_default();
    let spawned = Command::new(&program)
        .args(&command[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let status = if e.kind() == std::io::ErrorKind::NotFound {
                NOT_FOUND
            } else {
                CANNOT_RUN
            };
            return Err(Unstarted {
                status,
                why: format!("{}: cannot run it: {e}", program.to_string_lossy()),
            });
        }
    };
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    .filter_map(|(i, s)| Some((i == 1, s?)))
    .map(|(stderr, s)| {
        let tx = tx.clone();
        std::thread::spawn(move || read_lines(s, stderr, &tx))
    })
    .collect();
    drop(tx);
    let (ending, ended) = wait(child, timeout);
    // Until both pipes end, or a moment after the program did: a process it left behind may
    // hold them open.
    drop(readers);
    let deadline = Instant::now() + Duration::from_millis(300);
    let mut lines = Vec::new();
    while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        lines.push(l);
    }
    Ok(Ran {
        pid,
        calls: Vec::new(),
        lines,
        ending,
        ended,
    })
}

/// Where Debian (and most distributions) keep coreutils' `stdbuf` helper library.
const LIBSTDBUF: [&str; 3] = [
    "/usr/libexec/coreutils/libstdbuf.so",
    "/usr/lib/coreutils/libstdbuf.so",
    "/usr/lib64/coreutils/libstdbuf.so",
];

/// The environment that asks a program for line-buffered stdout: Python's switch, and for C
/// stdio what `stdbuf -oL` sets (its library preloaded, `_STDBUF_O=L`), kept after any
/// LD_PRELOAD already set. A program that sets its own buffering keeps it.
fn line_buffering(preload: Option<OsString>) -> Vec<(OsString, OsString)> {
    let mut env = vec![("PYTHONUNBUFFERED".into(), "1".into())];
    if let Some(lib) = LIBSTDBUF.iter().find(|p| std::path::Path::new(p).is_file()) {
        let mut value = OsString::from(*lib);
        if let Some(old) = preload.filter(|p| !p.is_empty()) {
            value.push(":");
            value.push(old);
        }
        env.push(("LD_PRELOAD".into(), value));
        env.push(("_STDBUF_O".into(), "L".into()));
    }
    env
}

pub fn trace(args: &TraceArgs, out: &mut dyn Write) -> Result<Status, LiveError> {
    let Some(program) = args.command.first() else {
        return Err(LiveError::Scenario(
            "trace needs a command: sockscope trace -- CMD ARGS…".into(),
        ));
    };
    if args.ladder && args.format == FormatArg::Jsonl {
        return Err(LiveError::Scenario(
            "--ladder draws text: leave out --format jsonl, or --ladder".into(),
        ));
    }
    // The name, the folder and an existing file before anything runs.
    let plan = args
        .save
        .as_deref()
        .map(|p| Plan::check(p, args.force, args.format))
        .transpose()?;
    let pictures = Plans::check(args.svg.as_deref(), args.html.as_deref(), args.force)?;
    // One thread so far: the namespace, the capture and the privileges first.
    let entered = match &args.netns {
        Some(name) => netns::enter_named(name).map(|_| ()),
        None => netns::enter_private(),
    };
    entered?;
    let cap = LiveCapture::open_sized(args.buffer_size)?;
    let linktype = cap.linktype();
    let identity = privilege::drop_privileges()?;
    // Created by the user it will belong to, before the program starts.
    let target = plan.map(Plan::open).transpose()?;
    let pictures = pictures.open()?;
    catch_signals()?;

    let running = cap.start_all()?;
    let started = now();
    let timeout = args.timeout.map(Duration::from_secs);
    let env = if args.buffered {
        Vec::new()
    } else {
        line_buffering(std::env::var_os("LD_PRELOAD"))
    };
    let ran = if args.no_syscalls {
        plain(&args.command, &env, timeout)
    } else {
        traced(&args.command, &env, timeout)
    };
    let ran = match ran {
        Ok(r) => r,
        Err(Unstarted { status, why }) => {
            let _ = running.stop();
            eprintln!("sockscope: {why}");
            return Ok(Status::Exit(status));
        }
    };
    settle();
    let (_cap, packets, stats) = running.stop()?;
    if ran
        .calls
        .iter()
        .any(|e| e.errno.as_deref() == Some("ENETUNREACH"))
    {
        eprintln!(
            "sockscope: the program tried to reach another host (ENETUNREACH): trace runs it in \
             a network namespace with only lo, so that only its own traffic is captured and \
             nothing leaves this machine"
        );
    }
    let (pid, ending, ended) = (ran.pid, ran.ending, ran.ended);
    let mut calls = ran.calls;

    let mut run = RunData {
        scenario: format!("trace: {}", command_line(&args.command)),
        linktype,
        filter: String::new(),
        packets,
        events: events(pid, started, &ran.lines),
        stats,
        interrupted: SIGNALLED.load(Ordering::SeqCst) != 0,
        credentials: privilege::Credentials::of_this_thread().ok(),
        identity: Some(identity),
        private_netns: true,
    };
    let (status, note) = match ending {
        Ending::Exited { code, signal } => exit_note(code, signal),
        Ending::TimedOut => (
            TIMED_OUT,
            format!(
                "killed after --timeout {} s",
                args.timeout.unwrap_or_default()
            ),
        ),
    };
    let mut end = Event::new(Role::Client, "", "mark", ended);
    end.pid = pid;
    end.args = "trace/end".into();
    end.text = Some(format!("{} {note}", program.to_string_lossy()));
    run.events.push(end);
    run.events.append(&mut calls);
    run.sort();

    let opts = ReportOptions {
        text: args.text_options(),
        explain: false,
        width: args.width(),
    };
    let text = match args.format {
        FormatArg::Text if args.ladder => report::ladder_text(&run, None, &[], &opts, args.ascii),
        FormatArg::Text => report::text(&run, None, &[], &opts),
        FormatArg::Jsonl => {
            let mut s = String::new();
            crate::render::jsonl::meta(&mut s, "trace", None);
            s + &report::jsonl(&run, &[])
        }
    };
    // Saved even when the report cannot be written. With `--save -` stdout carries the
    // capture, not the report.
    let written = match &target {
        Some(t) if t.to_stdout() => Ok(()),
        _ => write_out(out, &text),
    };
    // The text report carries the warning; other outputs get it on stderr.
    let shown = args.format == FormatArg::Text && !target.as_ref().is_some_and(|t| t.to_stdout());
    if let Some(w) = report::drop_warning(&run).filter(|_| !shown) {
        eprintln!("sockscope: {w}");
    }
    if let Some(t) = target {
        t.finish(&run, out)?;
    }
    pictures.finish(&run, None, &[])?;
    written?;
    // Stopped by a signal: 130 or 143, as a shell reports it, whatever the program said.
    Ok(match SIGNALLED.load(Ordering::SeqCst) {
        0 => Status::Exit(status),
        sig => Status::stopped_by(sig),
    })
}

/// SIGINT and SIGTERM are noted, not fatal, so that a Ctrl-C (which the program receives too,
/// from the terminal) still ends with the timeline of what happened; the program is stopped
/// (see [`to_forward`]). A handler, not an ignored disposition: the program starts with the
/// default again. SA_SIGINFO tells a terminal's SIGINT from a `kill`.
fn catch_signals() -> Result<(), LiveError> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::SigAction(on_signal),
        SaFlags::SA_RESTART | SaFlags::SA_SIGINFO,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &action) }
            .map_err(|e| LiveError::Scenario(format!("catching {sig}: {e}")))?;
    }
    Ok(())
}

/// Waits for the program (on a thread of its own, which notes the moment it ended); passes a
/// SIGTERM or SIGINT sent to sockscope on to it; kills it at the timeout.
fn wait(child: Child, timeout: Option<Duration>) -> (Ending, i128) {
    use nix::sys::signal::{kill, Signal};
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    let mut child = child;
    std::thread::spawn(move || {
        let r = child.wait();
        let _ = tx.send((r, now()));
    });
    let started = Instant::now();
    let (mut forwarded, mut killed) = (false, false);
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok((Ok(st), at)) if !killed => {
                use std::os::unix::process::ExitStatusExt;
                let ending = Ending::Exited {
                    code: st.code(),
                    signal: st.signal(),
                };
                return (ending, at);
            }
            Ok((_, at)) => return (Ending::TimedOut, at),
            Err(mpsc::RecvTimeoutError::Disconnected) => return (Ending::TimedOut, now()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        exit_if_signalled_twice();
        if let Some(sig) = to_forward(&mut forwarded).and_then(|s| Signal::try_from(s).ok()) {
            let _ = kill(pid, sig);
        }
        if !killed && timeout.is_some_and(|t| started.elapsed() >= t) {
            killed = true;
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// Reads `s` line by line, stamping each line when it arrives.
fn read_lines(s: Box<dyn Read + Send>, stderr: bool, tx: &mpsc::Sender<OutputLine>) {
    let mut r = BufReader::new(s);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let ts = now();
                let text = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_owned();
                if tx.send(OutputLine { ts, stderr, text }).is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits (a bounded time) until no TCP socket of the namespace can still send: after the
/// program's end only sockets in TIME_WAIT or closed should be left.
fn settle() {
    let deadline = Instant::now() + SETTLE;
    while Instant::now() < deadline {
        match tcpstate::entries() {
            Ok(es)
                if es
                    .iter()
                    .all(|e| e.state.is_settled() || e.state == tcpstate::TcpState::Listen) =>
            {
                return
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(1)),
            Err(_) => return,
        }
    }
}

/// The program's output lines as events on the left lane (`print`), stderr marked.
fn events(pid: u32, started: i128, lines: &[OutputLine]) -> Vec<Event> {
    let mut out = Vec::with_capacity(lines.len() + 1);
    let mut start = Event::new(Role::Client, "", "mark", started);
    start.pid = pid;
    start.args = "trace/start".into();
    start.text = Some(format!("started, pid {pid}"));
    out.push(start);
    for l in lines {
        let who = if l.stderr { "stderr" } else { "client" };
        let mut e = Event::new(Role::Client, who, "print", l.ts);
        e.pid = pid;
        e.text = Some(l.text.clone());
        out.push(e);
    }
    out
}

/// The exit status a shell would give, and how to say it.
fn exit_note(code: Option<i32>, signal: Option<i32>) -> (u8, String) {
    match (code, signal) {
        (Some(c), _) => (c as u8, format!("exited with status {c}")),
        (None, Some(s)) => {
            let name = nix::sys::signal::Signal::try_from(s)
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|_| format!("signal {s}"));
            ((128 + s) as u8, format!("was killed by {name}"))
        }
        (None, None) => (1, "ended".into()),
    }
}

/// `CMD ARGS…` as one line, arguments with spaces quoted.
fn command_line(cmd: &[OsString]) -> String {
    cmd.iter()
        .map(|a| {
            // One line: control characters (a script's newlines) written as escapes.
            let a: String = a
                .to_string_lossy()
                .chars()
                .flat_map(|c| match c {
                    '\n' => vec!['\\', 'n'],
                    '\t' => vec!['\\', 't'],
                    c if c.is_control() => c.escape_default().collect(),
                    c => vec![c],
                })
                .collect();
            if a.is_empty() || a.contains(char::is_whitespace) {
                format!("'{a}'")
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::ExitStatus;

    #[test]
    fn exit_statuses_as_a_shell_gives_them() {
        use std::os::unix::process::ExitStatusExt;
        let of = |st: ExitStatus| exit_note(st.code(), st.signal());
        assert_eq!(of(ExitStatus::from_raw(3 << 8)).0, 3);
        let (code, note) = of(ExitStatus::from_raw(9));
        assert_eq!((code, note.as_str()), (137, "was killed by SIGKILL"));
    }

    #[test]
    fn line_buffering_keeps_a_preload_already_set() {
        let env = line_buffering(Some("/opt/mine.so".into()));
        assert!(env.contains(&("PYTHONUNBUFFERED".into(), "1".into())));
        if let Some((_, v)) = env.iter().find(|(k, _)| k == "LD_PRELOAD") {
            let v = v.to_string_lossy();
            assert!(v.ends_with("libstdbuf.so:/opt/mine.so"), "{v}");
            assert!(env.contains(&("_STDBUF_O".into(), "L".into())));
        }
        let none = line_buffering(Some("".into()));
        if let Some((_, v)) = none.iter().find(|(k, _)| k == "LD_PRELOAD") {
            assert!(!v.to_string_lossy().contains(':'));
        }
    }

    #[test]
    fn command_lines_quote_what_has_spaces() {
        let cmd: Vec<OsString> = ["python3", "-c", "print(1); x = 2", ""]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(command_line(&cmd), "python3 -c 'print(1); x = 2' ''");
        let script: Vec<OsString> = ["sh", "-c", "a\nb\tc"].iter().map(OsString::from).collect();
        assert_eq!(command_line(&script), "sh -c a\\nb\\tc");
    }
}
