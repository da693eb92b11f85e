//! `sockscope compare A B`: the metrics of two captures side by side.
//!
//! The meaningful comparison is made from two small captures written here: the same
//! request/response, once with the 10-byte request sent a byte at a time (each byte held by
//! Nagle until the peer's delayed ACK), once in one segment. Fixtures and saved runs check that
//! real files go through, the JSON Lines against `docs/jsonl.md`, and bad input its error.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::schema;
use serde_json::Value;
use sockscope::compare::{measure, rows, Metrics};
use sockscope::source::{PcapWriter, Resolution};
use tempfile::TempDir;

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const MS: u64 = 1_000_000;
/// 2026-01-01 00:00:00 UTC.
const T0: u64 = 1_767_225_600 * 1_000_000_000;

/// One segment: time (ns from T0), from the client?, seq, ack, flags, payload length.
type Seg = (u64, bool, u32, u32, u8, usize);

/// A raw-IPv4 frame (LINKTYPE_RAW) of one segment between 10.0.0.1:40000 and 10.0.0.2:80.
fn frame(client: bool, seq: u32, ack: u32, flags: u8, len: usize) -> Vec<u8> {
    let (src, dst, sport, dport) = if client {
        ([10, 0, 0, 1], [10, 0, 0, 2], 40000u16, 80u16)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 80, 40000)
    };
    let mut f = vec![0x45, 0];
    f.extend_from_slice(&((40 + len) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.resize(40 + len, 0);
    f
}

fn write(dir: &Path, name: &str, segs: &[Seg]) -> PathBuf {
    let p = dir.join(name);
    let file = std::fs::File::create(&p).expect("create the capture");
    let mut w = PcapWriter::new(file, Resolution::Nanos, 101, 65535).expect("pcap header");
    for &(t, client, seq, ack, flags, len) in segs {
        let f = frame(client, seq, ack, flags, len);
        w.write_packet(T0 + t, f.len() as u32, &f).expect("write");
    }
    w.finish().expect("finish");
    p
}

const C_ISN: u32 = 1000;
const S_ISN: u32 = 5000;

/// Handshake at 0–2 ms; the request from `request`; then the 100-byte response at `at`, the
/// client's ACK, and both FINs.
fn conversation(request: &[Seg], at: u64, req_len: u32) -> Vec<Seg> {
    let (c, s) = (C_ISN + 1 + req_len, S_ISN + 1);
    let mut v = vec![
        (0, true, C_ISN, 0, SYN, 0),
        (MS, false, S_ISN, C_ISN + 1, SYN | ACK, 0),
        (2 * MS, true, C_ISN + 1, S_ISN + 1, ACK, 0),
    ];
    v.extend_from_slice(request);
    v.extend_from_slice(&[
        (at, false, s, c, PSH | ACK, 100),
        (at + MS, true, c, s + 100, ACK, 0),
        (at + 2 * MS, true, c, s + 100, FIN | ACK, 0),
        (at + 3 * MS, false, s + 100, c + 1, FIN | ACK, 0),
        (at + 4 * MS, true, c + 1, s + 101, ACK, 0),
    ]);
    v
}

/// The request a byte at a time: each byte waits for the ACK of the one before (Nagle), and
/// each ACK comes 40 ms after its byte (delayed ACK).
fn bytewise(dir: &Path) -> PathBuf {
    let mut req = Vec::new();
    let mut t = 10 * MS;
    for i in 0..10u32 {
        let seq = C_ISN + 1 + i;
        req.push((t, true, seq, S_ISN + 1, PSH | ACK, 1));
        req.push((t + 40 * MS, false, S_ISN + 1, seq + 1, ACK, 0));
        t += 40 * MS + MS / 2;
    }
    write(dir, "bytewise.pcap", &conversation(&req, t, 10))
}

/// The same request in one segment, answered at once.
fn whole(dir: &Path) -> PathBuf {
    let req = [(10 * MS, true, C_ISN + 1, S_ISN + 1, PSH | ACK, 10)];
    write(dir, "whole.pcap", &conversation(&req, 11 * MS, 10))
}

fn metrics(p: &Path, stream: Option<u64>) -> Metrics {
    let m = measure(p, stream).expect("a capture");
    assert!(m.fault.is_none(), "{:?}", m.fault);
    m.metrics
}

fn sockscope() -> Command {
    Command::cargo_bin("sockscope").expect("the binary")
}

fn captures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

#[test]
fn one_byte_segments_against_one_segment() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (
        metrics(&bytewise(dir.path()), None),
        metrics(&whole(dir.path()), None),
    );
    assert_eq!((a.segments, b.segments), (28, 9));
    assert_eq!((a.data, b.data), (11, 2));
    assert_eq!((a.pure_acks, b.pure_acks), (13, 3));
    assert_eq!((a.syn, a.fin, a.rst), (2, 2, 0));
    assert_eq!((b.syn, b.fin, b.rst), (2, 2, 0));
    assert_eq!((a.payload, b.payload), (110, 110));
    assert_eq!(a.bytes_per_data_segment(), Some(10.0));
    assert_eq!(b.bytes_per_data_segment(), Some(55.0));
    assert_eq!((a.round_trips, b.round_trips), (1, 1));
    assert_eq!(b.elapsed_ms(), Some(15.0));
    assert_eq!(a.elapsed_ms(), Some(10.0 + 10.0 * 40.5 + 4.0));
    assert_eq!((a.retransmissions, b.retransmissions), (0, 0));
    // Nagle held bytes 2–10, each ~40.5 ms after the byte before; every byte's ACK was a
    // delayed ACK of 40 ms.
    let (nagle, delayed) = (1, 0);
    assert_eq!((a.waits[nagle], b.waits[nagle]), (9, 0));
    assert_eq!(a.wait_ns[nagle], 9 * (40 * MS + MS / 2));
    assert_eq!((a.waits[delayed], b.waits[delayed]), (10, 0));
    assert_eq!(a.wait_ns[delayed], 10 * 40 * MS);

    let r = rows(&a, &b, false);
    let get = |k: &str| {
        r.iter()
            .find(|r| r.key == k)
            .unwrap_or_else(|| panic!("{k}"))
    };
    assert_eq!(get("data_segments").diff(), Some(-9.0));
    assert_eq!(get("bytes_per_data_segment").ratio(), Some(5.5));
    assert!(!get("payload_bytes").differs());
    assert!(!get("round_trips").differs());
    assert_eq!(get("wait_nagle").diff(), Some(-9.0));
    assert_eq!(get("wait_nagle").ratio(), Some(0.0));
    assert!(r.iter().all(|r| !r.key.starts_with("wait_retransmission")));
}

#[test]
fn the_table_of_the_two_transfers() {
    let dir = TempDir::new().unwrap();
    bytewise(dir.path());
    whole(dir.path());
    let out = sockscope()
        .current_dir(dir.path())
        .args(["compare", "bytewise.pcap", "whole.pcap"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'));
    insta::assert_snapshot!("compare_bytewise_whole", text);
    // --color always marks the cells that differ (and only colour adds escapes).
    let out = sockscope()
        .current_dir(dir.path())
        .args([
            "compare",
            "bytewise.pcap",
            "whole.pcap",
            "--color",
            "always",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("\x1b[1m"));
}

#[test]
fn the_json_lines_follow_the_schema() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (bytewise(dir.path()), whole(dir.path()));
    let s = schema::load();
    let out = sockscope()
        .arg("compare")
        .args([&a, &b])
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let counts = s
        .check_stream(&text, "compare")
        .unwrap_or_else(|e| panic!("{e}"));
    // 12 metrics, then count and total for 6 wait kinds and the TIME_WAIT count.
    assert_eq!(counts["compare"], 12 + 13);
    let nagle: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["metric"] == "wait_nagle_ms")
        .expect("the Nagle wait time");
    assert_eq!(nagle["a"], 364.5);
    assert_eq!(nagle["b"], 0);
    assert_eq!(nagle["ratio"], 0.0);
    let elapsed: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["metric"] == "bytes_per_data_segment")
        .expect("bytes per data segment");
    assert_eq!(
        (&elapsed["a"], &elapsed["b"]),
        (&Value::from(10), &Value::from(55))
    );
    assert_eq!(nagle["differs"], true);
    let meta: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        meta["file"],
        format!("{}, {}", a.display(), b.display()).as_str()
    );
}

#[test]
fn two_fixtures_and_one_stream_of_each() {
    let (a, b) = (
        common::fixture("ssh.pcap"),
        common::fixture("resp_1_benchmark.pcap"),
    );
    let (ma, mb) = (metrics(&a, None), metrics(&b, None));
    assert_eq!((ma.tcp_streams, mb.tcp_streams), (1, 15));
    let m = &ma;
    // tshark agrees (tests/fixtures/oracle/ssh.pcap.tsv): 54 segments, 26 with payload,
    // 8688 bytes of it, 1 retransmission.
    let kinds = (
        m.segments,
        m.data,
        m.pure_acks,
        m.syn,
        m.fin,
        m.rst,
        m.payload,
    );
    assert_eq!(kinds, (54, 26, 24, 2, 3, 0, 8688), "{ma:?}");
    assert_eq!(ma.retransmissions, 1);
    assert!(mb.round_trips >= 15, "{mb:?}");
    // One conversation is a part of the whole.
    let one = metrics(&b, Some(3));
    assert!(one.segments > 0 && one.segments < mb.segments, "{one:?}");
    assert_eq!(one.syn, 2);
    let out = sockscope()
        .arg("compare")
        .args([&a, &b])
        .args(["--stream", "0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("TCP stream 0 of each file"), "{text}");
}

#[test]
fn two_saved_runs() {
    let (a, b) = (captures("nagle.pcapng"), captures("data.pcapng"));
    let (ma, mb) = (metrics(&a, None), metrics(&b, None));
    // The nagle run sends many small writes, once with Nagle and once without.
    assert!(ma.data > mb.data, "{ma:?} {mb:?}");
    assert!(ma.waits[1] > 0, "the nagle run names Nagle waits: {ma:?}");
    let out = sockscope().arg("compare").args([&a, &b]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Nagle waits"), "{text}");
}

/// The nagle run's two parts: conversation 0 writes with Nagle, conversation 1 with
/// TCP_NODELAY, the same 64 bytes in the same four exchanges.
#[test]
fn the_nagle_run_against_its_nodelay_part() {
    let n = captures("nagle.pcapng");
    let out = sockscope()
        .arg("compare")
        .args([&n, &n])
        .args(["--stream", "0,1", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    schema::load()
        .check_stream(&text, "compare")
        .unwrap_or_else(|e| panic!("{e}"));
    let get = |k: &str| -> (Value, Value) {
        let v: Value = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["metric"] == k)
            .unwrap_or_else(|| panic!("{k}"));
        (v["a"].clone(), v["b"].clone())
    };
    let n = |a: u64, b: u64| (Value::from(a), Value::from(b));
    assert_eq!(get("data_segments"), n(13, 27));
    assert_eq!(get("payload_bytes"), n(64, 64));
    assert_eq!(get("round_trips"), n(4, 4));
    assert_eq!(get("wait_nagle"), n(4, 0));
    assert_eq!(get("wait_delayed_ack"), n(4, 0));
    let (a, b) = get("elapsed_ms");
    assert!(
        a.as_f64().unwrap() > 100.0 && b.as_f64().unwrap() < 10.0,
        "{a} {b}"
    );
}

#[test]
fn a_damaged_file_is_compared_up_to_the_damage_then_exit_2() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (whole(dir.path()), bytewise(dir.path()));
    let bytes = std::fs::read(&b).unwrap();
    std::fs::write(&b, &bytes[..bytes.len() - 10]).unwrap();
    let out = sockscope().arg("compare").args([&a, &b]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // The last frame (the client's final ACK) is cut: 27 of 28 are counted.
    assert!(text.contains("(27 frames, 1 TCP conversation)"), "{text}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bytewise.pcap") && err.contains("cut short"),
        "{err}"
    );
}

#[test]
fn a_missing_file_or_a_non_capture_is_one_line_and_exit_2() {
    let dir = TempDir::new().unwrap();
    let good = whole(dir.path());
    let missing = dir.path().join("missing.pcap");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a capture at all\n").unwrap();
    for (bad, says) in [(&missing, "cannot open"), (&text, "not a pcap or pcapng")] {
        for args in [[&good, bad], [bad, &good]] {
            let out = sockscope().arg("compare").args(args).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{out:?}");
            assert!(out.stdout.is_empty(), "nothing before the error: {out:?}");
            let err = String::from_utf8(out.stderr).unwrap();
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains(&*bad.to_string_lossy()), "{err}");
            assert!(err.contains(says), "{err}");
        }
    }
    let out = sockscope()
        .arg("compare")
        .args([&good, &good])
        .args(["--stream", "4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("has no TCP stream 4 (it has 1"), "{err}");
}

/// `run nagle` (and its saved run replayed) ends with the table `compare` prints of the run's
/// two conversations, and its JSON Lines carry the same `compare` records.
#[test]
fn the_nagle_report_ends_with_the_comparison_of_its_two_conversations() {
    use sockscope::render::run::{report, ReportOptions};
    let dir = captures("");
    let run =
        sockscope::live::pcapng::load(&dir.join("nagle.pcapng"), &dir.join("nagle.events.jsonl"))
            .unwrap();
    let tmp = TempDir::new().unwrap();
    let saved = tmp.path().join("nagle.pcapng");
    let mut f = std::fs::File::create(&saved).unwrap();
    sockscope::live::pcapng::write(&mut f, &run).unwrap();
    drop(f);
    let cli = |extra: &[&str]| {
        let out = sockscope()
            .arg("compare")
            .args([&saved, &saved])
            .args(["--stream", "0,1"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let sc = sockscope::scenario::find("nagle").unwrap();
    let checks = report::checks(&run, Some(sc));
    let text = report::text(&run, Some(sc), &checks, &ReportOptions::default());
    // The table of `compare` (after its three lines naming the files) is the report's end.
    let whole = cli(&[]);
    let table = whole.lines().skip(3).collect::<Vec<_>>().join("\n");
    assert!(text.ends_with(&format!("{table}\n")), "{text}");
    assert!(
        text.contains("A  Nagle on (default)  TCP stream 0: "),
        "{text}"
    );
    assert!(
        text.contains("B  TCP_NODELAY         TCP stream 1: "),
        "{text}"
    );
    // The replay of the saved file shows the same end.
    let out = sockscope().arg("replay").arg(&saved).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .ends_with(&format!("{table}\n")));
    // JSON Lines: the records of `compare --format jsonl`, between the checks and `capture`.
    let want: Vec<String> = cli(&["--format", "jsonl"])
        .lines()
        .filter(|l| l.contains("\"kind\":\"compare\""))
        .map(str::to_owned)
        .collect();
    assert_eq!(want.len(), 25);
    let jsonl = report::jsonl(&run, &checks);
    let got: Vec<&str> = jsonl
        .lines()
        .filter(|l| l.contains("\"kind\":\"compare\""))
        .collect();
    assert_eq!(got, want);
    assert!(
        want[0].ends_with("\"a_stream\":0,\"b_stream\":1}"),
        "{}",
        want[0]
    );
    let kinds: Vec<String> = jsonl
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["kind"].to_string())
        .collect();
    let first = kinds.iter().position(|k| k == "\"compare\"").unwrap();
    assert_eq!(kinds[first - 1], "\"check\"");
    assert_eq!(kinds.last().map(String::as_str), Some("\"capture\""));
    // A scenario that compares nothing has no table.
    let hello =
        sockscope::live::pcapng::load(&dir.join("hello.pcapng"), &dir.join("hello.events.jsonl"))
            .unwrap();
    let sc = sockscope::scenario::find("hello").unwrap();
    let t = report::text(&hello, Some(sc), &[], &ReportOptions::default());
    assert!(!t.contains("compare:"), "{t}");
}

/// A saved scenario run written in today's format (its events inside the pcapng).
fn saved_run(dir: &Path, name: &str) -> PathBuf {
    let c = captures("");
    let run = sockscope::live::pcapng::load(
        &c.join(format!("{name}.pcapng")),
        &c.join(format!("{name}.events.jsonl")),
    )
    .unwrap();
    let p = dir.join(format!("{name}.pcapng"));
    let mut f = std::fs::File::create(&p).unwrap();
    sockscope::live::pcapng::write(&mut f, &run).unwrap();
    p
}

/// `compare A B --ladder`: the two ladders side by side when each half holds one, else one
/// after the other under a line saying why; then the table. Every line within --width.
#[test]
fn ladders_side_by_side_or_one_after_the_other() {
    let dir = TempDir::new().unwrap();
    let (a, b) = (
        saved_run(dir.path(), "handshake"),
        saved_run(dir.path(), "teardown"),
    );
    let run = |extra: &[&str]| {
        let out = sockscope()
            .arg("compare")
            .args([&a, &b])
            .arg("--ladder")
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let ladder_of = |p: &Path, w: &str| {
        let out = sockscope()
            .arg("ladder")
            .arg(p)
            .args(["--width", w])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let arrows = |t: &str| t.matches('▶').count() + t.matches('◀').count();
    for w in [160usize, 80] {
        let text = run(&["--width", &w.to_string()]);
        for l in text.lines() {
            assert!(sockscope::render::width(l) <= w, "{w}: {l}\n{text}");
        }
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("A  ") && first.contains("   B  "),
            "{first}"
        );
        // Each half is the ladder `sockscope ladder` draws at half the width: one arrow per
        // packet of each, the rows of A on the left.
        let (la, lb) = (ladder_of(&a, "80"), ladder_of(&b, "80"));
        assert_eq!(arrows(&text), arrows(&la) + arrows(&lb), "{text}");
        if w == 160 {
            let la = ladder_of(&a, "78");
            let row = la.lines().nth(3).unwrap();
            assert!(text.lines().nth(4).unwrap().starts_with(row), "{text}");
        }
        assert!(text.contains("│ TCP segments "), "{text}");
    }
    // Too narrow for two: one after the other, and why.
    let text = run(&["--width", "60"]);
    let note = text.lines().next().unwrap();
    assert!(
        note.starts_with("the ladders are drawn one after the other"),
        "{text}"
    );
    assert!(
        text.contains("(--width 6") || text.contains("--width\n"),
        "{text}"
    );
    for l in text.lines() {
        assert!(sockscope::render::width(l) <= 60, "{l}\n{text}");
    }
    let (la, lb) = (ladder_of(&a, "60"), ladder_of(&b, "60"));
    assert!(text.contains(&la) && text.contains(&lb), "{text}");
    // ASCII: the ladders and the table.
    let text = run(&["--width", "160", "--ascii"]);
    assert!(text.is_ascii(), "{text}");
    assert!(text.contains("-> |") && text.contains("| <-"), "{text}");
    // Not with JSON Lines.
    let out = sockscope()
        .arg("compare")
        .args([&a, &b])
        .args(["--ladder", "--format", "jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
