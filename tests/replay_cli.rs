//! `sockscope replay` as a user runs it: filters, stream selection, time modes, colour, JSON.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

mod common;

fn corpus(name: &str) -> PathBuf {
    common::fixture(name)
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn sockscope() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    c.env_remove("NO_COLOR")
        .timeout(std::time::Duration::from_secs(30));
    c
}

fn stdout_of(args: &[&str], file: &Path) -> String {
    let out = sockscope()
        .arg("replay")
        .arg(file)
        .args(args)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The packet records of `replay --format jsonl`, after the `meta` record that must open it.
fn jsonl(args: &[&str], file: &Path) -> Vec<serde_json::Value> {
    let mut a = vec!["--format", "jsonl"];
    a.extend_from_slice(args);
    let mut rows: Vec<serde_json::Value> = stdout_of(&a, file)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(rows.first().map(|m| &m["kind"]), Some(&"meta".into()));
    let meta = rows.remove(0);
    assert_eq!(meta["source"], "replay");
    assert_eq!(meta["file"], file.to_string_lossy().as_ref());
    let summary = rows.pop().expect("a summary record last");
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["shown"].as_u64(), Some(rows.len() as u64));
    rows
}

#[test]
fn every_jsonl_line_is_an_object_with_the_documented_keys() {
    // Every fixture, and a generated capture of many interleaved TCP conversations (IPv4 and
    // IPv6, LAN and loopback, losses and reordering) with UDP flows.
    let dir = tempfile::tempdir().expect("tempdir");
    let busy = dir.path().join("busy.pcapng");
    let cfg = sockscope::synth::Config {
        packets: 3_000,
        format: sockscope::synth::Format::PcapNg,
        ..sockscope::synth::Config::default()
    };
    let file = std::fs::File::create(&busy).expect("create the capture");
    sockscope::synth::write(&cfg, std::io::BufWriter::new(file)).expect("write the capture");
    let mut files: Vec<PathBuf> = common::fixture_captures()
        .iter()
        .map(|n| corpus(n))
        .collect();
    files.push(busy);
    for path in &files {
        let f = path.file_name().unwrap().to_string_lossy();
        let rows = jsonl(&[], path);
        assert!(!rows.is_empty());
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(
                r["frame"].as_u64(),
                Some(i as u64 + 1),
                "{f}: frames numbered in order"
            );
            assert_eq!(r["kind"], "packet");
            for k in ["ts", "src", "dst", "proto"] {
                assert!(r.get(k).is_some(), "{f} frame {}: key {k} missing", i + 1);
            }
            if r["proto"] == "tcp" {
                for k in [
                    "sport", "dport", "flags", "seq", "ack", "seq_raw", "ack_raw", "len", "win",
                    "stream",
                ] {
                    assert!(r.get(k).is_some(), "{f} frame {}: key {k} missing", i + 1);
                }
            }
        }
    }
}

#[test]
fn filter_selects_like_tcpdump_and_keeps_file_frame_numbers() {
    let all = jsonl(&[], &corpus("ldp-common-session.pcap"));
    let want: Vec<_> = all
        .iter()
        .filter(|r| r["proto"] == "udp")
        .map(|r| r["frame"].clone())
        .collect();
    assert!(!want.is_empty());
    // As in tcpdump, `udp` alone does not look inside 802.1Q tags; `vlan and udp` does.
    let plain = jsonl(&["udp"], &corpus("ldp-common-session.pcap"));
    assert!(!plain.is_empty() && plain.len() < want.len());
    let both = jsonl(
        &["udp", "or", "(vlan", "and", "udp)"],
        &corpus("ldp-common-session.pcap"),
    );
    let got: Vec<_> = both.iter().map(|r| r["frame"].clone()).collect();
    assert_eq!(
        got, want,
        "tagged and untagged UDP frames, with their file numbers"
    );
    let port = jsonl(&["tcp", "port", "646"], &corpus("ldp-common-session.pcap"));
    assert!(!port.is_empty());
    assert!(port
        .iter()
        .all(|r| r["proto"] == "tcp" && (r["sport"] == 646 || r["dport"] == 646)));
}

#[test]
fn stream_option_shows_one_conversation_with_its_file_numbering() {
    let all = jsonl(&[], &corpus("resp_1_benchmark.pcap"));
    let one = jsonl(&["--stream", "3"], &corpus("resp_1_benchmark.pcap"));
    let want: Vec<_> = all
        .iter()
        .filter(|r| r["stream"] == 3 && r["proto"] == "tcp")
        .collect();
    assert!(!want.is_empty());
    assert_eq!(one.len(), want.len());
    assert!(one.iter().all(|r| r["stream"] == 3));
}

#[test]
fn time_modes() {
    let f = corpus("tcp-handshake-nano.pcap");
    let abs = stdout_of(&["-t", "abs", "--no-summary"], &f);
    assert!(abs.contains("2014-12-09 17:16:09.924505488"), "{abs}");
    let rel = stdout_of(&["--no-summary"], &f);
    assert!(rel.contains("0.127521774"), "{rel}");
    let delta = stdout_of(&["-t", "delta", "--no-summary"], &f);
    assert!(delta.contains("0.000087895"), "{delta}");
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let f = corpus("tcp-handshake-nano.pcap");
    let piped = stdout_of(&[], &f);
    assert!(!piped.contains('\x1b'), "no escapes in a pipe");
    let forced = stdout_of(&["--color", "always"], &f);
    assert!(forced.contains("\x1b["), "escapes with --color always");
}

#[test]
fn summary_counts_and_can_be_suppressed() {
    let f = corpus("resp_1_benchmark.pcap");
    let s = stdout_of(&[], &f);
    assert!(s.contains("150 packets: 150 TCP, 0 UDP, 0 other"), "{s}");
    assert!(s.contains("15 TCP streams"), "{s}");
    let quiet = stdout_of(&["--no-summary"], &f);
    assert!(!quiet.contains("packets:"));
    assert_eq!(quiet.lines().count(), 151, "header + one line per packet");
}

#[test]
fn saved_loopback_capture_replays() {
    let s = stdout_of(&["--no-summary"], &capture("hello-tcpdump.pcap"));
    assert_eq!(s.lines().count(), 10);
    assert!(s.contains("[S]") && s.contains("[S.]") && s.contains("[P.]") && s.contains("[F.]"));
}

/// `--help` carries the exit-status table, and each documented status is what the binary
/// returns: 0 ok, 2 bad usage, 2 bad input, 2 when the output cannot be written (a full disk is
/// an error; only a closed pipe is not, see bad_input's pipe test).
#[test]
fn exit_statuses_are_the_documented_ones() {
    let help = sockscope().arg("--help").output().expect("run");
    let text = String::from_utf8_lossy(&help.stdout);
    for line in [
        "0    ok",
        "1    a self-check",
        "2    bad usage",
        "130  interrupted",
    ] {
        assert!(text.contains(line), "--help lacks {line:?}:\n{text}");
    }
    let ok = sockscope()
        .args(["replay", "--no-summary"])
        .arg(corpus("ssh.pcap"))
        .output()
        .expect("run");
    assert_eq!(ok.status.code(), Some(0));
    let usage = sockscope()
        .args(["replay", "--time", "never"])
        .output()
        .expect("run");
    assert_eq!(usage.status.code(), Some(2));
    let missing = sockscope()
        .args(["replay", "/nonexistent/x.pcap"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("replay")
        .arg(corpus("ssh.pcap"))
        .stdout(full)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim(),
        "sockscope: writing the output failed: No space left on device (os error 28)",
        "one line with the cause"
    );
    // `list` too (its output used to be written with errors ignored).
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("list")
        .stdout(full)
        .output()
        .expect("run");
    assert_eq!(list.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&list.stderr).contains("writing the output failed"));
}
