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
