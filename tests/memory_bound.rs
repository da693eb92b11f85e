//! The bound on held conversations as a user meets it: a SYN scan and a UDP flood larger than
//! the bound make `sockscope replay` say, in the summary and on stderr, how many open
//! conversations were forgotten; an ordinary capture says nothing of the kind.

use std::path::Path;

use assert_cmd::Command;
use sockscope::analyse::bound::{EVICT_DIVISOR, MAX_CONVERSATIONS};
use sockscope::synth::{self, Config};

mod common;

fn replay(file: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .arg("replay")
        .arg(file)
        .args(args)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

#[test]
fn a_scan_and_a_flood_past_the_bound_report_their_evictions() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One more than the bound: the first new conversation at the full table makes an eighth
    // of it go.
    let packets = MAX_CONVERSATIONS as u64 + 1;
    let evicted = (MAX_CONVERSATIONS / EVICT_DIVISOR) as u64;
    for (name, cfg) in [
        ("scan.pcap", Config::syn_scan(packets)),
        ("flood.pcap", Config::udp_flood(packets)),
    ] {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).expect("create");
        synth::write(&cfg, std::io::BufWriter::new(file)).expect("write");
        let (out, err) = replay(&path, &[]);
        let line =
            format!("{evicted} open conversations were evicted: more than {MAX_CONVERSATIONS}");
        let last = out.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&line),
            "{name}: summary ends with {last:?}"
        );
        assert_eq!(err.trim_end(), format!("note: {last}"), "{name}: stderr");
        let (json, err) = replay(&path, &["--format", "jsonl"]);
        assert!(
            err.starts_with("note: "),
            "{name}: the note comes with JSON Lines too"
        );
        // And the closing summary record counts them, by protocol.
        let summary: serde_json::Value =
            serde_json::from_str(json.lines().last().expect("a last line")).expect("JSON");
        assert_eq!(summary["kind"], "summary", "{name}");
        assert_eq!(summary["evicted"], evicted, "{name}");
        let (tcp, udp) = if name == "scan.pcap" {
            (evicted, 0)
        } else {
            (0, evicted)
        };
        assert_eq!(
            (&summary["evicted_tcp"], &summary["evicted_udp"]),
            (&tcp.into(), &udp.into()),
            "{name}"
        );
    }
}

#[test]
fn an_ordinary_capture_evicts_nothing() {
    let (out, err) = replay(&common::fixture("ssh.pcap"), &[]);
    assert!(!out.contains("evicted"), "{out}");
    assert_eq!(err, "");
}
