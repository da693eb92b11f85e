//! An extra, beside the project's own agreement check (`tests/oracle_agreement.rs`, on the
//! fixtures in the repository): when the reference material `../shared` sits next to the
//! checkout (it does in CI, not in a plain clone), replays all 40 captures of
//! `../shared/corpus` (the fixtures plus `example2.pcap`, 4,709 frames) to JSON Lines and
//! compares each frame with tshark's reading using the reference checker
//! `../shared/tools/check_oracle.py`, IP fragments per packet (nodefrag).
//!
//! The test is `#[ignore]`d, so a plain `cargo test` counts it as ignored, not passed;
//! `scripts/test` (what CI runs) runs it with `--ignored` when `../shared` is there and says
//! `SKIPPED` when it is not. Run by name without `../shared`, it fails and says why.
//!
//! Every field of every frame is checked, `ts` of timestamp_invalid_nano.pcap included: frame 3
//! stores a nanosecond field of 0x80000000, which tshark prints as `-1418145370.2147483648` (a
//! negative epoch); sockscope carries the excess into the seconds and marks the frame
//! `ts_invalid`, and the checker's `ts_invalid` rule accepts that. The exact stamps are
//! asserted in `tests/oracle_agreement.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared`; fails, saying so, when it (or the part used here) is missing.
fn shared() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(
        p.join("corpus/oracle").is_dir() && p.join("tools/check_oracle.py").is_file(),
        "../shared not found ({}: no corpus/oracle and tools/check_oracle.py): this extra \
         needs the reference material beside the checkout (tests/oracle_agreement.rs checks \
         the fixtures in the repository)",
        p.display()
    );
    p
}

fn corpus_files(shared: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(shared.join("corpus"))
        .expect("read ../shared/corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.ends_with(".pcap") || n.ends_with(".pcapng")
        })
        .collect();
    v.sort();
    v
}

fn check(shared: &Path, actual: &Path, files: &[String]) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg(shared.join("tools/check_oracle.py"))
        .arg("--oracle")
        .arg(shared.join("corpus/oracle"))
        .arg("--actual")
        .arg(actual)
        .args(["--variant", "nodefrag", "--min", "1.0", "--files"])
        .arg(files.join(","));
    let out = cmd.output().expect("run python3 check_oracle.py");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "check_oracle.py: some capture is below 100% agreement:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

#[test]
#[ignore = "an extra that needs ../shared beside the checkout; scripts/test runs it when it is there"]
fn every_corpus_capture_matches_tshark_frame_by_frame() {
    let shared = shared();
    let files = corpus_files(&shared);
    assert_eq!(files.len(), 40, "expected the 40 corpus captures");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut names = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        // check_oracle.py reads one object per frame: the `meta` record that opens the
        // stream and the `summary` that closes it are left out.
        let frames: String = common::replay_jsonl(f)
            .lines()
            .filter(|l| l.starts_with("{\"kind\":\"packet\""))
            .flat_map(|l| [l, "\n"])
            .collect();
        std::fs::write(dir.path().join(format!("{name}.jsonl")), frames).unwrap();
        names.push(name);
    }
    let report = check(&shared, dir.path(), &names);
    assert!(report.contains("40/40 captures pass"), "{report}");
}
