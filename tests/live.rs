//! Root tests: every scenario runs live over loopback, captured with libpcap, and must pass
//! its self-checks; the structure of what TCP and UDP put on the wire is asserted here too,
//! from the raw header fields (three handshake segments with the right flags and numbers, FIN
//! arithmetic, UDP boundaries, the Nagle inequalities).
//!
//! Live capture needs root or CAP_NET_RAW. Without it each test prints
//! `SKIPPED (needs root): …` to stderr and returns; with SOCKSCOPE_REQUIRE_ROOT_TESTS=1 set,
//! `root_tests_are_not_skipped` fails instead, so a CI that must run them cannot pass silently.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use sockscope::analyse::flags as f;
use sockscope::live::model::{Dir, Pkt, Proto};
use sockscope::live::{report, runner, LiveCapture, LiveError, RunData, View};
use sockscope::scenario;

/// Says loudly that a test was skipped. Written to stderr directly, not through `eprintln!`,
/// which the test harness captures (and shows only for failing tests).
fn skipped(what: &str) {
    use std::io::Write;
    let line = format!("SKIPPED (needs root): {what}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Whether live capture is possible here (opening lo succeeds).
fn can_capture() -> Result<bool, LiveError> {
    match LiveCapture::open() {
        Ok(_) => Ok(true),
        Err(LiveError::NeedPrivilege { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs scenario `name` live and asserts its self-checks; None (after saying so loudly) when
/// this process may not capture.
fn run(name: &str) -> Option<RunData> {
    let cap = match LiveCapture::open() {
        Ok(c) => c,
        Err(LiveError::NeedPrivilege { .. }) => {
            skipped(&format!(
                "live scenario '{name}': live capture needs root or CAP_NET_RAW; run the tests as root (CI does)"
            ));
            return None;
        }
        Err(e) => panic!("opening the capture on lo failed: {e}"),
    };
    let sc = scenario::find(name).expect("scenario");
    let (_, r) = runner::run_scenario(sc, cap, runner::LIMIT);
    let run = r.unwrap_or_else(|e| panic!("{name}: the live run failed: {e}"));
    assert!(!run.interrupted);
    assert_eq!(run.stats.dropped, 0, "{name}: libpcap dropped packets");
    let checks = report::checks(&run, Some(sc));
    assert!(!checks.is_empty());
    for c in &checks {
        assert!(c.ok, "{name}: ✗ {} ({})", c.what, c.detail);
    }
    Some(run)
}

fn tcp(p: &Pkt) -> (u16, u32, u32, u32) {
    let t = p.tcp.as_ref().expect("a TCP packet");
    (t.flags & 0xff, t.seq, t.ack, t.len)
}

#[test]
fn root_tests_are_not_skipped() {
    let required = std::env::var("SOCKSCOPE_REQUIRE_ROOT_TESTS").as_deref() == Ok("1");
    match can_capture() {
        Ok(true) => {}
        Ok(false) if required => panic!(
            "SOCKSCOPE_REQUIRE_ROOT_TESTS=1 but this process is not root and has no CAP_NET_RAW: the live tests would be skipped"
        ),
        Ok(false) => skipped(
            "the live scenario tests in tests/live.rs; set SOCKSCOPE_REQUIRE_ROOT_TESTS=1 to make this an error",
        ),
        Err(e) => panic!("opening the capture on lo failed: {e}"),
    }
}

#[test]
fn handshake_is_syn_synack_ack() {
    let Some(run) = run("handshake") else { return };
    let v = View::new(&run);
    let c = v
        .conns
        .iter()
        .position(|c| c.proto == Proto::Tcp)
        .expect("a TCP connection");
    let p: Vec<&Pkt> = v.conn_pkts(c).collect();
    assert!(p.len() >= 3, "{} packets", p.len());
    let ((f1, isn_c, _, l1), (f2, isn_s, a2, l2), (f3, s3, a3, l3)) =
        (tcp(p[0]), tcp(p[1]), tcp(p[2]));
    assert_eq!((f1, p[0].dir, l1), (f::SYN, Dir::ToServer, 0));
    assert_eq!((f2, p[1].dir, l2), (f::SYN | f::ACK, Dir::ToClient, 0));
    assert_eq!((f3, p[2].dir, l3), (f::ACK, Dir::ToServer, 0));
    assert_eq!(a2, isn_c.wrapping_add(1), "SYN+ACK acks ISN + 1");
    assert_eq!(s3, isn_c.wrapping_add(1));
    assert_eq!(
        a3,
        isn_s.wrapping_add(1),
        "the ACK acks the server's ISN + 1"
    );
}

#[test]
fn data_seq_advances_by_bytes() {
    let Some(run) = run("data") else { return };
    let v = View::new(&run);
    // In SEQ order: on a busy machine lo may deliver segments out of order.
    let mut segs: Vec<(u32, u32)> = v
        .conn_pkts(0)
        .filter(|p| p.dir == Dir::ToServer && p.len > 0)
        .map(|p| (v.rel_seq(p), p.len))
        .collect();
    segs.sort_unstable();
    assert_eq!(segs.iter().map(|s| s.1).sum::<u32>(), 131);
    for w in segs.windows(2) {
        assert_eq!(
            w[1].0,
            w[0].0.wrapping_add(w[0].1),
            "next SEQ = SEQ + bytes"
        );
    }
    let child = run
        .events
        .iter()
        .find(|e| e.who == "child")
        .expect("events from the forked child");
    assert_ne!(
        child.pid,
        std::process::id(),
        "the child is another process"
    );
    assert!(run
        .events
        .iter()
        .any(|e| e.text.as_deref() == Some("Message from server: Hello world!")));
}

#[test]
fn teardown_fin_takes_one_number() {
    let Some(run) = run("teardown") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 2);
    for c in 0..2 {
        let p: Vec<&Pkt> = v.conn_pkts(c).collect();
        let fins: Vec<usize> = (0..p.len())
            .filter(|&i| tcp(p[i]).0 & f::FIN != 0)
            .collect();
        assert_eq!(fins.len(), 2, "one FIN each way");
        for i in fins {
            let (_, seq, _, len) = tcp(p[i]);
            let ack = p[i + 1..]
                .iter()
                .find(|q| q.dir != p[i].dir)
                .map(|q| tcp(q).2)
                .expect("the FIN is acknowledged");
            assert_eq!(
                ack,
                seq.wrapping_add(len).wrapping_add(1),
                "FIN consumes one"
            );
        }
    }
    let four: Vec<u16> = v
        .conn_pkts(0)
        .map(|p| tcp(p).0)
        .skip_while(|fl| fl & f::FIN == 0)
        .collect();
    assert_eq!(four, [f::FIN | f::ACK, f::ACK, f::FIN | f::ACK, f::ACK]);
}

#[test]
fn nagle_inequalities() {
    let Some(run) = run("nagle") else { return };
    let v = View::new(&run);
    assert_eq!(v.conns.len(), 2);
    // Requests are 4 + 8 bytes: with Nagle the 8 never leave before the 4 are acknowledged;
    // the burst of 16 one-byte writes takes fewer segments with Nagle than with TCP_NODELAY.
    let burst = |c: usize| {
        v.conn_pkts(c)
            .filter(|p| p.dir == Dir::ToServer && p.payload.iter().all(|&b| b == b'x') && p.len > 0)
            .count()
    };
    assert!(burst(0) < burst(1), "{} vs {}", burst(0), burst(1));
    assert!(burst(1) >= 2);
}

#[test]
fn udp_keeps_boundaries() {
    let Some(run) = run("udp") else { return };
    let v = View::new(&run);
    // UDP promises no order (lo may reorder datagrams sent from different CPUs): sizes only.
    let mut sizes: Vec<u32> = v.pkts.iter().map(|p| p.len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [3, 4, 4, 7, 17]);
    assert!(v.pkts.iter().all(|p| p.proto == Proto::Udp));
}

/// A directory any user may enter and write: in /tmp, whatever TMPDIR says (it may be under
/// a home directory that other users cannot enter).
fn world_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir_in("/tmp").expect("a temporary directory in /tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

/// Copies the test binary where an unprivileged user may run it.
fn world_runnable_copy(dir: &Path) -> std::path::PathBuf {
    let exe = dir.join("sockscope");
    std::fs::copy(env!("CARGO_BIN_EXE_sockscope"), &exe).expect("copy the binary");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    exe
}

#[test]
fn cli_run_all_and_list() {
    if !can_capture().unwrap_or(false) {
        skipped("sockscope run all");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["run", "all", "--color", "never"])
        .output()
        .expect("run sockscope");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with('✓')).count(),
        5,
        "{text}"
    );
    let list = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("list")
        .output()
        .expect("run sockscope list");
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 5);
}

/// Under sudo (SUDO_UID/SUDO_GID set) the run drops to that user: the saved files are theirs.
#[test]
fn privileges_are_dropped_and_the_save_belongs_to_the_user() {
    if !nix::unistd::geteuid().is_root() {
        skipped("dropping privileges to SUDO_UID");
        return;
    }
    let dir = world_tempdir();
    let save = dir.path().join("udp.pcapng");
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["run", "udp", "--format", "jsonl", "--save"])
        .arg(&save)
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .output()
        .expect("run sockscope");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::MetadataExt;
    for p in [save.clone(), dir.path().join("udp.events.jsonl")] {
        let m = std::fs::metadata(&p).expect("saved file");
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", p.display());
    }
    let back = sockscope::live::pcapng::load(&save, &dir.path().join("udp.events.jsonl"))
        .expect("the saved run loads");
    assert_eq!(back.packets.len(), 5);
}

/// Without privilege: one line saying how to fix it, a non-zero exit, no backtrace.
#[test]
fn without_privilege_one_clear_line() {
    let dir = world_tempdir();
    let exe = world_runnable_copy(dir.path());
    let mut cmd = Command::new(&exe);
    cmd.args(["run", "handshake"]);
    if nix::unistd::geteuid().is_root() {
        cmd.uid(65534).gid(65534);
    } else if can_capture().unwrap_or(false) {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED: this process can capture, so the refusal cannot be shown\n",
        );
        return;
    }
    let out = match cmd.output() {
        Ok(o) => o,
        // /tmp mounted noexec: the unprivileged copy cannot be run at all.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("SKIPPED: cannot run a copy of sockscope as another user: {e}\n")
                    .as_bytes(),
            );
            return;
        }
        Err(e) => panic!("run sockscope unprivileged: {e}"),
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("needs CAP_NET_RAW") && err.contains("sudo"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
