//! Helpers shared by the integration tests; each test file that needs them says `mod common;`.
//! * the fixtures in `tests/fixtures/` (captures with their provenance, and tshark's reading
//!   of each in `tests/fixtures/oracle/`);
//! * [`oracle`]: the comparison of sockscope's JSON Lines with that reading;
//! * [`root`]: the one place that decides what a test that needs root does without it;
//! * [`schema`]: the JSON Lines schema of `docs/jsonl.md` and the check of records against it.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

pub mod oracle;
pub mod root;
pub mod schema;

use std::path::{Path, PathBuf};

/// `tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `tests/fixtures/oracle`: tshark's reading of each fixture (`scripts/oracle`).
pub fn oracle_dir() -> PathBuf {
    fixtures_dir().join("oracle")
}

/// The path of fixture capture `name`, which must exist.
pub fn fixture(name: &str) -> PathBuf {
    let p = fixtures_dir().join(name);
    assert!(p.is_file(), "fixture missing: {}", p.display());
    p
}

/// The bytes of fixture capture `name`.
pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
}

/// Names of every fixture capture (`*.pcap`, `*.pcapng`), sorted.
pub fn fixture_captures() -> Vec<String> {
    let dir = fixtures_dir();
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    v.sort();
    v
}

/// Says loudly that a test was skipped: written to stderr directly, not through `eprintln!`,
/// which the test harness captures (and shows only for failing tests).
pub fn skipped(line: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("SKIPPED: {line}\n").as_bytes());
}

/// `cmd.output()`, tried again while exec fails with ETXTBSY. A test that copies the binary
/// and runs the copy races other test threads: a child forked by another test between their
/// fork and exec briefly holds the copy open for writing (the copy's fd is close-on-exec, not
/// close-on-fork), and exec refuses a file open for writing.
pub fn output_of_copy(cmd: &mut std::process::Command) -> std::process::Output {
    let mut tries = 0;
    loop {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && tries < 200 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("running {:?}: {e}", cmd.get_program()),
            Ok(o) => return o,
        }
    }
}

/// `sockscope replay --format jsonl FILE`, which must succeed: its output.
pub fn replay_jsonl(file: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["replay", "--format", "jsonl"])
        .arg(file)
        .output()
        .expect("run sockscope");
    assert!(
        out.status.success(),
        "sockscope replay {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}
