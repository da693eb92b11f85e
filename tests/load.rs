//! Under load (root tests, one at a time): three `run all` at once and several in a row, every
//! check passing with no drops, no port clash and nothing left behind (descriptors, threads,
//! child processes, zombies); and a bulk transfer through a deliberately small capture buffer,
//! whose drops must be reported, never shown as zero, and which `-B` fixes.
//!
//! `cargo test --test load` runs the short form (about half a minute);
//! `cargo test --test load -- --ignored` (or `scripts/load`) the long one: `run all` 30 times
//! in a row (SOCKSCOPE_LOAD_RUNS to change it) and three at once, 5 times.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::root;
use sockscope::live::json::{parse, Line};
use sockscope::live::runner;
use sockscope::render::run::report;
use sockscope::scenario;

/// One test of this file at a time (and so the only one counting this process's resources).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOAD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOAD.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the `run all --format jsonl` runs gave, summed.
#[derive(Debug, Default)]
struct Tally {
    runs: usize,
    /// Runs that did not exit 0.
    failed_runs: Vec<String>,
    scenarios: usize,
    checks: usize,
    failed_checks: Vec<String>,
    dropped: u64,
    /// Errors on stderr (one scenario of `run all` failing with an error, e.g. EADDRINUSE).
    errors: Vec<String>,
}

impl Tally {
    fn add(&mut self, what: &str, out: &Output) {
        self.runs += 1;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(0) {
            self.failed_runs.push(format!("{what}: {:?}", out.status));
        }
        for l in stderr.lines().filter(|l| !l.trim().is_empty()) {
            self.errors.push(format!("{what}: {l}"));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut scenario = String::new();
        for line in text.lines() {
            match parse(line).unwrap_or_else(|e| panic!("{what}: {e}: {line}")) {
                Line::Run(r) => {
                    self.scenarios += 1;
                    scenario = r.scenario;
                }
                Line::Check(c) => {
                    self.checks += 1;
                    if !c.ok {
                        self.failed_checks
                            .push(format!("{what}: {scenario}: ✗ {} ({})", c.what, c.detail));
                    }
                }
                Line::Capture(c) => self.dropped += c.dropped + c.if_dropped,
                _ => {}
            }
        }
    }

    fn line(&self) -> String {
        format!(
            "{} runs of `run all` ({} scenario runs, {} checks): {} runs failed, {} checks failed, \
             {} errors, {} packets dropped",
            self.runs,
            self.scenarios,
            self.checks,
            self.failed_runs.len(),
            self.failed_checks.len(),
            self.errors.len(),
            self.dropped
        )
    }

    fn assert_clean(&self) {
        let n = scenario::all().len();
        assert_eq!(self.scenarios, self.runs * n, "{}", self.line());
        assert!(
            self.failed_runs.is_empty()
                && self.failed_checks.is_empty()
                && self.errors.is_empty()
                && self.dropped == 0,
            "{}\n{:#?}\n{:#?}\n{:#?}",
            self.line(),
            self.failed_runs,
            self.failed_checks,
            self.errors
        );
    }
}

fn run_all() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    cmd.args(["run", "all", "--format", "jsonl"]);
    cmd
}

/// This process's children (pid, state, name): every process the runs left behind comes here,
/// as this process is made their subreaper first.
fn children() -> Vec<(i32, char, String)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces and parentheses.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let name = stat[stat.find('(').map_or(0, |i| i + 1)..close].to_owned();
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let (Some(state), Some(ppid)) = (rest.first(), rest.get(1)) else {
            continue;
        };
        if ppid.parse::<i32>() == Ok(me) {
            out.push((pid, state.chars().next().unwrap_or('?'), name));
        }
    }
    out
}

/// Makes this process the reaper of orphans its children leave (a scenario's forked child
/// whose parent died): they then show in [`children`] instead of vanishing under init.
fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER and an integer flag.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(r, 0, "prctl(PR_SET_CHILD_SUBREAPER)");
}

/// Open descriptors of this process.
fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Threads of this process that the live layer made (it names them `sockscope-…` or
/// `scenario-…`; threads they spawn inherit the name).
fn live_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .filter(|c| c.starts_with("sockscope") || c.starts_with("scenario"))
        .collect()
}

/// Waits (up to 3 s) until `ok` holds, returning whether it did.
fn eventually(mut ok: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ok()
}

/// `rounds` times three `run all` at once, then `in_a_row` `run all` one after the other: the
/// figures, printed, then asserted; then no process may be left behind.
fn runs_under_load(rounds: usize, in_a_row: usize) {
    become_subreaper();
    let started = Instant::now();
    let mut at_once = Tally::default();
    for round in 0..rounds {
        let kids: Vec<_> = (0..3)
            .map(|_| {
                run_all()
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("start sockscope")
            })
            .collect();
        for (i, k) in kids.into_iter().enumerate() {
            let out = k.wait_with_output().expect("wait for sockscope");
            at_once.add(&format!("round {} copy {}", round + 1, i + 1), &out);
        }
    }
    let mut row = Tally::default();
    for i in 0..in_a_row {
        let out = run_all().output().expect("run sockscope");
        row.add(&format!("run {}", i + 1), &out);
    }
    let left = children();
    let zombies = left.iter().filter(|c| c.1 == 'Z').count();
    eprintln!(
        "load: three at once: {}\nload: in a row: {}\nload: left behind: {} processes ({} zombies) after {:.1} s",
        at_once.line(),
        row.line(),
        left.len(),
        zombies,
        started.elapsed().as_secs_f64()
    );
    at_once.assert_clean();
    row.assert_clean();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// Every scenario `rounds` times in this process, one capture handle for all (as `run all`
/// does): afterwards as many descriptors and live-layer threads as before, and no child.
fn runs_in_process(rounds: usize) {
    become_subreaper();
    // Before the capture opens: afterwards it is closed too.
    let (fds0, threads0) = (fds(), live_threads());
    let Some(mut cap) = root::capture_or_skip("scenarios in a loop, counting descriptors") else {
        return;
    };
    let mut failed = Vec::new();
    let mut dropped = 0;
    let mut runs = 0;
    for _ in 0..rounds {
        // A scenario with a device or files of its own (multicast's veth pair, resolver's
        // resolv.conf) needs the private namespaces `sockscope run` makes for it: the `run all`
        // processes above run it.
        for sc in scenario::all().iter().filter(|s| !scenario::private(s)) {
            let (c, r) = runner::run_scenario(sc, cap, runner::LIMIT);
            cap = c.unwrap_or_else(|| panic!("{}: the capture handle was lost", sc.name));
            let run = r.unwrap_or_else(|e| panic!("{}: {e}", sc.name));
            runs += 1;
            dropped += run.stats.dropped;
            for c in report::checks(&run, Some(sc)) {
                if !c.ok {
                    failed.push(format!("{}: ✗ {} ({})", sc.name, c.what, c.detail));
                }
            }
        }
    }
    drop(cap);
    let settled = eventually(|| fds() == fds0 && live_threads().len() == threads0.len());
    let (fds1, threads1, left) = (fds(), live_threads(), children());
    eprintln!(
        "load: in one process: {runs} scenario runs, {} checks failed, {dropped} dropped; \
         descriptors {fds0} → {fds1}, live threads {} → {}, children left {}",
        failed.len(),
        threads0.len(),
        threads1.len(),
        left.len()
    );
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(dropped, 0);
    assert!(
        settled,
        "leaked: descriptors {fds0} → {fds1}, threads {threads0:?} → {threads1:?}"
    );
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn three_at_once_and_five_in_a_row_all_pass_and_leave_nothing() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("run all under load") {
        return;
    }
    runs_under_load(1, 5);
}

#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn every_scenario_in_a_loop_leaks_no_descriptor_thread_or_child() {
    let _one_at_a_time = serial();
    runs_in_process(3);
}

/// The long form (`scripts/load`): `run all` 30 times in a row (SOCKSCOPE_LOAD_RUNS), three at
/// once 5 times, every scenario 10 times in one process.
#[test]
#[ignore = "long (a few minutes): scripts/load runs it"]
fn long_load() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("run all under long load") {
        return;
    }
    let n = std::env::var("SOCKSCOPE_LOAD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    runs_under_load(5, n);
    runs_in_process(10);
}

// ---------------------------------------------------------------------------------------------
// A bulk transfer through a small capture buffer
// ---------------------------------------------------------------------------------------------

/// The interpreter itself, not a pyenv shim (which makes socket calls of its own).
fn python3() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Sends MIB MiB over one TCP connection on lo and prints how many bytes arrived.
const BULK: &str = r#"
import socket, sys, threading
n = int(sys.argv[1]) << 20
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
def sink():
    c, _ = srv.accept(); got = 0
    while True:
        b = c.recv(1 << 20)
        if not b: break
        got += len(b)
    c.close(); print("received", got, flush=True)
t = threading.Thread(target=sink); t.start()
s = socket.create_connection(srv.getsockname())
chunk = b"x" * (1 << 20)
for _ in range(n >> 20): s.sendall(chunk)
s.close(); t.join()
"#;

/// What a traced bulk transfer reported.
struct Bulk {
    /// TCP payload bytes in the captured packets.
    captured: u64,
    dropped: u64,
    buffer_kib: Option<u64>,
    text: String,
    stderr: String,
}

/// Traces the bulk transfer of `mib` MiB with `-B kib`, in JSON Lines, and again as text.
fn bulk(dir: &Path, mib: u64, kib: u32) -> Bulk {
    let script = dir.join("bulk.py");
    std::fs::write(&script, BULK).expect("write the script");
    let py = python3();
    let trace = |format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
            .args([
                "trace",
                "--no-syscalls",
                "--color",
                "never",
                "--format",
                format,
            ])
            .args(["-B", &kib.to_string(), "--", &py])
            .arg(&script)
            .arg(mib.to_string())
            .output()
            .expect("run sockscope trace");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "-B {kib} {format}: {stderr}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    };
    let (jsonl, stderr) = trace("jsonl");
    let sent = format!("received {}", mib << 20);
    assert!(jsonl.contains(&sent), "the transfer did not complete");
    let mut b = Bulk {
        captured: 0,
        dropped: 0,
        buffer_kib: None,
        text: String::new(),
        stderr,
    };
    let mut records = 0;
    for line in jsonl.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        match v["kind"].as_str() {
            Some("packet") if v["proto"] == "tcp" => b.captured += v["len"].as_u64().unwrap_or(0),
            Some("capture") => {
                records += 1;
                b.dropped = v["dropped"].as_u64().expect("dropped");
                b.buffer_kib = v["buffer_kib"].as_u64();
            }
            _ => {}
        }
    }
    assert_eq!(records, 1, "one capture record");
    (b.text, _) = trace("text");
    b
}

/// 300 MiB through a 256 KiB buffer loses packets: the drops are counted in the JSON Lines,
/// warned about in the text (naming -B) and on stderr beside the JSON Lines; a 1 GiB buffer
/// holds every packet of a 100 MiB transfer even if the reader never ran, and reports 0.
/// Whatever the buffer, lost bytes never come with `dropped: 0`.
#[test]
#[cfg_attr(
    sockscope_unprivileged,
    ignore = "needs root (built as an ordinary user)"
)]
fn bulk_transfer_drops_are_reported_and_b_fixes_them() {
    let _one_at_a_time = serial();
    if !root::capture_allowed("a bulk transfer through a small capture buffer") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut figures = BTreeMap::new();
    let small = bulk(dir.path(), 300, 256);
    figures.insert("300 MiB, -B 256", (small.captured, small.dropped));
    assert_eq!(small.buffer_kib, Some(256));
    assert!(
        small.captured < 300 << 20,
        "a 256 KiB buffer kept everything"
    );
    assert!(small.dropped > 0, "bytes were lost, yet dropped is 0");
    assert!(
        small.stderr.contains("warning: the capture dropped")
            && small.stderr.contains("-B/--buffer-size"),
        "{}",
        small.stderr
    );
    let warning = small
        .text
        .lines()
        .find(|l| l.starts_with("warning: the capture dropped"))
        .unwrap_or_else(|| panic!("no warning line:\n{}", small.text));
    assert!(
        warning.contains("-B/--buffer-size") && warning.contains("(it was 256 KiB)"),
        "{warning}"
    );
    assert!(
        small.text.contains(" dropped, buffer 256 KiB ") && !small.text.contains(" 0 dropped"),
        "{}",
        small.text
    );
    let large = bulk(dir.path(), 100, 1 << 20);
    figures.insert("100 MiB, -B 1048576", (large.captured, large.dropped));
    eprintln!("load: bulk (payload bytes captured, dropped): {figures:?}");
    // At least every byte (a segment lo re-sent would count twice).
    assert!(
        large.captured >= 100 << 20 && large.dropped == 0,
        "a 1 GiB buffer holds every packet: {} bytes captured, {} dropped",
        large.captured,
        large.dropped
    );
    assert!(!large.text.contains("warning: the capture dropped"));
    assert!(large.text.contains(" 0 dropped, buffer 1048576 KiB "));
}

/// The report of a run that lost packets (a saved run, its counters set as a small buffer
/// leaves them): a warning under the timeline naming -B and the buffer, a note in the checks,
/// the counts in the JSON Lines `capture` record; none of it without drops.
#[test]
fn a_run_that_dropped_packets_says_so_everywhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut run =
        sockscope::live::pcapng::load(&root.join("udp.pcapng"), &root.join("udp.events.jsonl"))
            .expect("the saved udp run");
    let sc = scenario::find("udp").expect("udp");
    let opts = report::ReportOptions::default();
    let clean = report::text(&run, Some(sc), &report::checks(&run, Some(sc)), &opts);
    assert!(!clean.contains("warning") && !clean.contains("the capture dropped"));
    assert!(report::drop_warning(&run).is_none());
    run.stats.dropped = 7;
    run.stats.buffer_kib = 256;
    let checks = report::checks(&run, Some(sc));
    let text = report::text(&run, Some(sc), &checks, &opts);
    let lines: Vec<&str> = text.lines().collect();
    let warning = lines
        .iter()
        .position(|l| l.starts_with("warning: the capture dropped 7 packets"))
        .unwrap_or_else(|| panic!("no warning:\n{text}"));
    assert!(
        lines[warning].contains("-B/--buffer-size") && lines[warning].contains("(it was 256 KiB)"),
        "{text}"
    );
    // Under the timeline, before the ladders and the checks.
    let checks_at = lines.iter().position(|l| *l == "checks").expect("checks");
    assert!(warning < checks_at, "{text}");
    assert!(
        lines[checks_at..]
            .iter()
            .any(|l| l.contains("the capture dropped 7 packets: a check")),
        "{text}"
    );
    assert!(text.contains(" 7 dropped, buffer 256 KiB "), "{text}");
    let jsonl = report::jsonl(&run, &checks);
    let cap = jsonl
        .lines()
        .find_map(|l| match parse(l) {
            Ok(Line::Capture(c)) => Some(c),
            _ => None,
        })
        .expect("a capture record");
    assert_eq!((cap.dropped, cap.buffer_kib), (7, Some(256)));
}
