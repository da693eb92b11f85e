//! Signals and pipes on the live commands (root tests, one at a time): SIGINT or SIGTERM during
//! `run` or `trace` stops the scenario or the program, prints what was seen with a note that the
//! run was interrupted, exits 130 or 143 (128 + the signal, as shells and tcpdump say it) and
//! leaves a `--save` file that tshark and tcpdump read; a reader that goes away (`| head`)
//! leaves `run`, `run all` and `trace` quiet with status 0.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::root;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

fn sockscope() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    cmd.env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits up to 20 s for `ok`; fails with `what` otherwise.
fn wait_for(what: &str, child: &mut Child, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("sockscope ended ({st}) before {what}");
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (up to 20 s) for `child` to end after a signal, and collects its output.
fn finish(mut child: Child) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("sockscope did not end after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` has a thread whose name starts with `name` (at most 15 bytes).
fn has_thread(pid: u32, name: &str) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .any(|c| c.trim().starts_with(name))
}

/// The file is a capture tshark and tcpdump read to the end: each lists `packets` packets
/// (tshark counts the pcapng Custom Block that carries the run too) and exits 0.
fn readable_by_tshark_and_tcpdump(file: &Path, packets: usize) {
    for (tool, args, extra) in [
        ("tcpdump", &["-n", "-r"][..], 0),
        ("tshark", &["-n", "-r"][..], 1),
    ] {
        let out = Command::new(tool)
            .args(args)
            .arg(file)
            .output()
            .unwrap_or_else(|e| {
                panic!("{tool} cannot be run ({e}): `scripts/setup --test` installs it")
            });
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{tool} -r {}: {stderr}",
            file.display()
        );
        let lines = String::from_utf8_lossy(&out.stdout).lines().count();
        assert_eq!(lines, packets + extra, "{tool}: {stderr}");
    }
}

/// Packets in a saved run, as sockscope reads it back; and whether it says it was interrupted.
fn saved(file: &Path) -> (usize, bool) {
    let run = sockscope::live::pcapng::load_saved(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .unwrap_or_else(|| panic!("{} carries no run", file.display()));
    (run.packets.len(), run.interrupted)
}

/// Nothing but the file itself in `dir` (no temporary file left by the save).
fn only(dir: &Path, file: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(names, [file.to_path_buf()]);
}

/// `run retransmit` (its lost segment keeps it running most of a second) stopped by `sig`
/// while the scenario runs.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn a_signal_during_run_stops_it_shows_and_saves_what_was_seen() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("SIGINT and SIGTERM during sockscope run") {
        return;
    }
    for (sig, code) in [(Signal::SIGTERM, 143), (Signal::SIGINT, 130)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let save = dir.path().join("r.pcapng");
        let mut child = sockscope()
            .args(["run", "retransmit", "--color", "never", "--save"])
            .arg(&save)
            .spawn()
            .expect("start sockscope");
        let pid = child.id();
        wait_for("scenario thread", &mut child, || {
            has_thread(pid, "scenario-retran")
        });
        // The first exchange is over by then; the lost segment is still to be re-sent.
        std::thread::sleep(Duration::from_millis(100));
        kill(Pid::from_raw(pid as i32), sig).expect("signal sockscope");
        let out = finish(child);
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{sig}: {text}{err}");
        assert!(
            text.contains("interrupted: the run was stopped; above is what happened until then")
                && text.contains("(not checked: the run was interrupted)"),
            "{sig}: {text}"
        );
        assert!(text.contains("capture: lo, filter"), "{sig}: {text}");
        assert!(err.contains("sockscope: saved "), "{sig}: {err}");
        let (packets, interrupted) = saved(&save);
        assert!(packets >= 3 && interrupted, "{sig}: {packets} packets");
        readable_by_tshark_and_tcpdump(&save, packets);
        only(dir.path(), &save);
    }
}

/// SIGTERM as soon as sockscope catches it, before the scenario (or early in it): the run
/// stops at once and still shows and saves what it has, with status 143.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn a_signal_before_the_scenario_starts_still_ends_with_a_report() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("SIGTERM early in sockscope run") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let save = dir.path().join("early.pcapng");
    let mut child = sockscope()
        .args(["run", "retransmit", "--color", "never", "--save"])
        .arg(&save)
        .spawn()
        .expect("start sockscope");
    let pid = child.id();
    wait_for("signal thread", &mut child, || {
        has_thread(pid, "sockscope-signa")
    });
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("signal sockscope");
    let out = finish(child);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{text}{err}");
    assert!(text.contains("interrupted: the run was stopped"), "{text}");
    let (packets, interrupted) = saved(&save);
    assert!(interrupted);
    readable_by_tshark_and_tcpdump(&save, packets);
}

/// `run all` stopped by SIGTERM in its seventh scenario: the verdicts before it are printed,
/// stderr names where it stopped, the status is 143.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn sigterm_during_run_all_keeps_the_verdicts_so_far() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("SIGTERM during sockscope run all") {
        return;
    }
    let mut child = sockscope()
        .args(["run", "all", "--color", "never"])
        .spawn()
        .expect("start sockscope");
    let pid = child.id();
    wait_for("the retransmit scenario", &mut child, || {
        has_thread(pid, "scenario-retran")
    });
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("signal sockscope");
    let out = finish(child);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{text}{err}");
    let before = sockscope::scenario::all()
        .iter()
        .position(|s| s.name == "retransmit")
        .expect("retransmit");
    assert_eq!(
        text.lines().filter(|l| l.starts_with('✓')).count(),
        before,
        "{text}"
    );
    assert!(err.contains("interrupted during retransmit"), "{err}");
}

/// Where a test's program writes that it is ready.
const READY: &str = "ready";

/// A Python program that opens a connection on lo, says so in a file, and sleeps.
fn sleeper(dir: &Path) -> String {
    format!(
        "import socket, time\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         c = socket.create_connection(s.getsockname()); a, _ = s.accept()\n\
         c.sendall(b'hello'); a.recv(5)\n\
         print('connected', flush=True)\n\
         open({:?}, 'w').close()\n\
         time.sleep(60)\n",
        dir.join(READY).display().to_string()
    )
}

/// The interpreter itself, not a pyenv shim (which makes socket calls of its own).
fn python3() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `trace` sent SIGTERM, or SIGINT (to sockscope alone, not from a terminal: it passes it on):
/// the program is stopped, the timeline shows what it did, the status is 143 or 130.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn a_signal_to_trace_stops_the_program_and_keeps_the_timeline() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("SIGINT and SIGTERM during sockscope trace") {
        return;
    }
    let py = python3();
    for (sig, code) in [(Signal::SIGTERM, 143), (Signal::SIGINT, 130)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out_dir = tempfile::tempdir().expect("tempdir");
        let save = out_dir.path().join("t.pcapng");
        let mut child = sockscope()
            .args(["trace", "--color", "never", "--save"])
            .arg(&save)
            .args(["--", &py, "-c", &sleeper(dir.path())])
            .spawn()
            .expect("start sockscope");
        let ready = dir.path().join(READY);
        wait_for("ready file", &mut child, || ready.exists());
        kill(Pid::from_raw(child.id() as i32), sig).expect("signal sockscope");
        let out = finish(child);
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{sig}: {text}{err}");
        assert!(text.contains("» connected"), "{sig}: {text}");
        assert!(
            text.contains(&format!("was killed by {}", sig.as_str())),
            "{sig}: {text}"
        );
        assert!(
            text.contains("interrupted: the run was stopped"),
            "{sig}: {text}"
        );
        let (packets, interrupted) = saved(&save);
        // The handshake and the five bytes at least.
        assert!(packets >= 4 && interrupted, "{sig}: {packets} packets");
        readable_by_tshark_and_tcpdump(&save, packets);
        only(out_dir.path(), &save);
    }
}

/// Its reader gone before anything was written (`| head` that has read enough): no error, no
/// note, status 0.
fn quiet_with_a_closed_pipe(args: &[&str]) {
    let mut child = sockscope().args(args).spawn().expect("start sockscope");
    drop(child.stdout.take());
    let mut err = String::new();
    let st = {
        let mut e = child.stderr.take().expect("stderr");
        e.read_to_string(&mut err).expect("read stderr");
        child.wait().expect("wait")
    };
    assert_eq!(st.code(), Some(0), "{args:?}: {err}");
    assert!(err.trim().is_empty(), "{args:?}: {err}");
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn run_and_trace_are_quiet_into_a_closed_pipe() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("sockscope run | head") {
        return;
    }
    let py = python3();
    for format in ["text", "jsonl"] {
        quiet_with_a_closed_pipe(&["run", "nagle", "--format", format]);
        quiet_with_a_closed_pipe(&["run", "all", "--format", format]);
        quiet_with_a_closed_pipe(&[
            "trace",
            "--format",
            format,
            "--",
            &py,
            "-c",
            "import socket; a, b = socket.socketpair(); a.send(b'x'); print(b.recv(1))",
        ]);
    }
}
