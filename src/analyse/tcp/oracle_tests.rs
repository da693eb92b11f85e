//! Agreement with tshark 4.0.
//!
//! * `oracle_corpus_agreement` replays the TCP rows of every oracle TSV in
//!   `tests/fixtures/oracle` (tshark's own reading of each fixture capture, `scripts/oracle`)
//!   and checks stream, relative seq/ack and the five analysis flags the oracle records.
//! * `tshark_corpus_extended` and `tshark_synthetic_differential` need `tshark` (installed
//!   by `scripts/setup --test`): the first asks tshark for every analysis field (and the raw options) of the
//!   fixture captures (`tests/fixtures`), the second writes randomised captures full of losses, retransmissions,
//!   dup ACKs, zero windows, keep-alives, window scaling and port reuse, and compares every
//!   field. Without tshark they fail, saying how to install it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{tshark_retransmission, TcpAnalyser};
use crate::analyse::flags::ACK;
use crate::analyse::{Findings, TcpSegment, TcpVerdict};

/// Minimum share of TCP frames per file on which every compared field must agree.
const MIN_AGREEMENT: f64 = 0.99;

/// Fields asked of tshark for the extended comparisons.
const EXTENDED_FIELDS: &[&str] = &[
    "frame.number",
    "frame.time_epoch",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.len",
    "tcp.hdr_len",
    "tcp.window_size_value",
    "tcp.options",
    "tcp.stream",
    "tcp.seq",
    "tcp.ack",
    "tcp.nxtseq",
    "tcp.window_size",
    "tcp.window_size_scalefactor",
    "tcp.analysis.bytes_in_flight",
    "tcp.analysis.duplicate_ack_num",
    "tcp.analysis.duplicate_ack_frame",
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.out_of_order",
    "tcp.analysis.lost_segment",
    "tcp.analysis.ack_lost_segment",
    "tcp.analysis.duplicate_ack",
    "tcp.analysis.zero_window",
    "tcp.analysis.zero_window_probe",
    "tcp.analysis.zero_window_probe_ack",
    "tcp.analysis.keep_alive",
    "tcp.analysis.keep_alive_ack",
    "tcp.analysis.window_update",
    "tcp.analysis.window_full",
    "tcp.analysis.reused_ports",
];

/// A tshark analysis field and the verdict predicate that must hold exactly when it is shown.
type FlagField = (&'static str, fn(&TcpVerdict) -> bool);

/// tshark analysis fields that are present exactly when a predicate on the verdict holds.
fn flag_fields() -> Vec<FlagField> {
    fn bit(v: &TcpVerdict, b: u32) -> bool {
        v.findings.has(b)
    }
    vec![
        ("tcp.analysis.retransmission", |v| {
            tshark_retransmission(v.findings)
        }),
        ("tcp.analysis.fast_retransmission", |v| {
            bit(v, Findings::FAST_RETRANSMISSION)
        }),
        ("tcp.analysis.spurious_retransmission", |v| {
            bit(v, Findings::SPURIOUS_RETRANSMISSION)
        }),
        ("tcp.analysis.out_of_order", |v| {
            bit(v, Findings::OUT_OF_ORDER)
        }),
        ("tcp.analysis.lost_segment", |v| {
            bit(v, Findings::LOST_SEGMENT)
        }),
        ("tcp.analysis.ack_lost_segment", |v| {
            bit(v, Findings::ACK_LOST_SEGMENT)
        }),
        ("tcp.analysis.duplicate_ack", |v| {
            bit(v, Findings::DUPLICATE_ACK)
        }),
        ("tcp.analysis.zero_window", |v| {
            bit(v, Findings::ZERO_WINDOW)
        }),
        ("tcp.analysis.zero_window_probe", |v| {
            bit(v, Findings::ZERO_WINDOW_PROBE)
        }),
        ("tcp.analysis.zero_window_probe_ack", |v| {
            bit(v, Findings::ZERO_WINDOW_PROBE_ACK)
        }),
        ("tcp.analysis.keep_alive", |v| bit(v, Findings::KEEP_ALIVE)),
        ("tcp.analysis.keep_alive_ack", |v| {
            bit(v, Findings::KEEP_ALIVE_ACK)
        }),
        ("tcp.analysis.window_update", |v| {
            bit(v, Findings::WINDOW_UPDATE)
        }),
        ("tcp.analysis.window_full", |v| {
            bit(v, Findings::WINDOW_FULL)
        }),
        ("tcp.analysis.reused_ports", |v| {
            bit(v, Findings::REUSED_PORTS)
        }),
    ]
}

/// A TSV written by `tshark -T fields -E header=y`.
struct Table {
    cols: HashMap<String, usize>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn parse(text: &str) -> Table {
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let cols = header
            .split('\t')
            .enumerate()
            .map(|(i, c)| (c.to_string(), i))
            .collect();
        let rows = lines
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect();
        Table { cols, rows }
    }

    fn has(&self, col: &str) -> bool {
        self.cols.contains_key(col)
    }

    /// The first occurrence of a field.
    fn get<'a>(&self, row: &'a [String], col: &str) -> &'a str {
        self.nth(row, col, 0)
    }

    /// The n-th occurrence of a field (tshark's `-E occurrence=a` joins them with commas).
    fn nth<'a>(&self, row: &'a [String], col: &str, n: usize) -> &'a str {
        let cell = self
            .cols
            .get(col)
            .and_then(|&i| row.get(i))
            .map(String::as_str)
            .unwrap_or("");
        cell.split(',').nth(n).unwrap_or("")
    }
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.parse().ok()
}

fn hex_u16(s: &str) -> Option<u16> {
    u16::from_str_radix(s.trim_start_matches("0x"), 16).ok()
}

fn hex_bytes(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// `frame.time_epoch` ("secs.nanos", possibly negative) in ns.
fn epoch_ns(s: &str) -> Option<i128> {
    if s.is_empty() {
        return None;
    }
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i128 = int.parse().ok()?;
    let mut ns: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    let digits = frac.len() as u32;
    if digits <= 9 {
        ns *= 10i128.pow(9 - digits);
    } else {
        ns /= 10i128.pow(digits - 9);
    }
    let t = secs * 1_000_000_000 + ns;
    Some(if neg { -t } else { t })
}

/// How a row must be handled.
enum RowKind {
    /// Not a TCP frame the analyser sees (no TCP, or tshark gave up inside the fixed header).
    Skip,
    /// Only the stream is known to tshark: a fragment, or a header quoted in an ICMP error.
    StreamOnly,
    Segment,
}

/// The address fields of the IP header right before the first TCP header, and which
/// occurrence of them it is (an ICMP error's quoted header is the second "ip").
struct AddrFields {
    src: &'static str,
    dst: &'static str,
    occurrence: usize,
}

/// Classifies a row from its protocol chain (`frame.protocols`, from the row or the side
/// `.proto.tsv`) and finds the fields that hold the TCP header's addresses.
fn classify(t: &Table, row: &[String], protocols: &str) -> (RowKind, AddrFields) {
    let chain: Vec<&str> = protocols.split(':').take_while(|p| *p != "tcp").collect();
    let v6 = chain.iter().rev().find(|p| **p == "ip" || **p == "ipv6") == Some(&"ipv6");
    let family = if v6 { "ipv6" } else { "ip" };
    let v6 = AddrFields {
        src: if v6 { "ipv6.src" } else { "ip.src" },
        dst: if v6 { "ipv6.dst" } else { "ip.dst" },
        occurrence: chain
            .iter()
            .filter(|p| **p == family)
            .count()
            .saturating_sub(1),
    };
    // No tcp.stream: tshark gave up inside the fixed header (the decoder reports no header).
    if t.get(row, "tcp.srcport").is_empty() || t.get(row, "tcp.stream").is_empty() {
        return (RowKind::Skip, v6);
    }
    let quoted = chain.iter().any(|p| p.starts_with("icmp"));
    if quoted || t.get(row, "tcp.len").is_empty() {
        return (RowKind::StreamOnly, v6);
    }
    (RowKind::Segment, v6)
}

struct Replay {
    frames: usize,
    agree: usize,
    mismatches: Vec<String>,
}

/// Replays every TCP row of `t` through a fresh analyser, comparing every tshark column the
/// table has. `protocols` maps frame number to `frame.protocols` when the table lacks it.
fn replay(t: &Table, protocols: &HashMap<String, String>) -> Replay {
    let mut a = TcpAnalyser::new();
    let mut out = Replay {
        frames: 0,
        agree: 0,
        mismatches: Vec::new(),
    };
    let flags = flag_fields();
    for row in &t.rows {
        let frame = t.get(row, "frame.number");
        let protos = match t.get(row, "frame.protocols") {
            "" => protocols.get(frame).map(String::as_str).unwrap_or(""),
            p => p,
        };
        let (kind, addr) = classify(t, row, protos);
        if matches!(kind, RowKind::Skip) {
            continue;
        }
        let (Some(src), Some(dst)) = (
            num::<IpAddr>(t.nth(row, addr.src, addr.occurrence)),
            num::<IpAddr>(t.nth(row, addr.dst, addr.occurrence)),
        ) else {
            panic!("frame {frame}: no addresses in {protos}");
        };
        let options = hex_bytes(t.get(row, "tcp.options"));
        let seg = TcpSegment {
            frame: num(frame).unwrap_or(0),
            time: epoch_ns(t.get(row, "frame.time_epoch")),
            src,
            dst,
            sport: num(t.get(row, "tcp.srcport")).unwrap_or(0),
            dport: num(t.get(row, "tcp.dstport")).unwrap_or(0),
            // A header quoted in ICMP has tcp.seq (raw) but no tcp.seq_raw.
            seq: num(t.get(row, "tcp.seq_raw"))
                .or_else(|| num(t.get(row, "tcp.seq")))
                .unwrap_or(0),
            ack: num(t.get(row, "tcp.ack_raw")).unwrap_or(0),
            flags: hex_u16(t.get(row, "tcp.flags")).unwrap_or(0),
            win: num(t.get(row, "tcp.window_size_value")).unwrap_or(0),
            len: num(t.get(row, "tcp.len")).unwrap_or(0),
            options: &options,
        };
        let mut diff = String::new();
        let mut check = |col: &str, want: &str, got: String| {
            if t.has(col) && want != got {
                let _ = write!(diff, " {col}: tshark {want:?} ours {got:?};");
            }
        };
        out.frames += 1;
        match kind {
            RowKind::StreamOnly => {
                let stream = a.stream_for_fragment(&seg);
                check("tcp.stream", t.get(row, "tcp.stream"), stream.to_string());
            }
            _ => {
                let v = match num::<usize>(t.get(row, "tcp.hdr_len")) {
                    Some(hl) => a.observe_with(&seg, hl.saturating_sub(20) > options.len()),
                    None => a.observe(&seg),
                };
                check("tcp.stream", t.get(row, "tcp.stream"), v.stream.to_string());
                check("tcp.seq", t.get(row, "tcp.seq"), v.rel_seq.to_string());
                if seg.flags & ACK != 0 {
                    check("tcp.ack", t.get(row, "tcp.ack"), v.rel_ack.to_string());
                }
                check(
                    "tcp.nxtseq",
                    t.get(row, "tcp.nxtseq"),
                    v.rel_next_seq.to_string(),
                );
                let win = v.win_scaled.unwrap_or(u64::from(seg.win));
                check(
                    "tcp.window_size",
                    t.get(row, "tcp.window_size"),
                    win.to_string(),
                );
                let want_factor = t.get(row, "tcp.window_size_scalefactor");
                let got_factor = match (want_factor, v.win_shift) {
                    ("", _) => String::new(),
                    (_, None) => "-1".into(),
                    ("-2", Some(0)) => "-2".into(),
                    (_, Some(n)) => (1u32 << n).to_string(),
                };
                check("tcp.window_size_scalefactor", want_factor, got_factor);
                let bif = v.bytes_in_flight.map(|b| b.to_string()).unwrap_or_default();
                check(
                    "tcp.analysis.bytes_in_flight",
                    t.get(row, "tcp.analysis.bytes_in_flight"),
                    bif,
                );
                let (num_s, frame_s) = match v.dup_ack_num {
                    0 => (String::new(), String::new()),
                    n => (n.to_string(), v.dup_ack_of.to_string()),
                };
                check(
                    "tcp.analysis.duplicate_ack_num",
                    t.get(row, "tcp.analysis.duplicate_ack_num"),
                    num_s,
                );
                check(
                    "tcp.analysis.duplicate_ack_frame",
                    t.get(row, "tcp.analysis.duplicate_ack_frame"),
                    frame_s,
                );
                for (col, pred) in &flags {
                    let want = !t.get(row, col).is_empty();
                    if t.has(col) && want != pred(&v) {
                        let _ = write!(diff, " {col}: tshark {want} ours {};", pred(&v));
                    }
                }
            }
        }
        if diff.is_empty() {
            out.agree += 1;
        } else if out.mismatches.len() < 8 {
            out.mismatches.push(format!("frame {frame}:{diff}"));
        }
    }
    out
}

fn oracle_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oracle");
    assert!(
        dir.is_dir(),
        "oracle directory {} is missing (tests/fixtures/oracle, written by scripts/oracle)",
        dir.display()
    );
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// frame.number → frame.protocols from a `.proto.tsv` (no header row issue: it has one).
fn protocols_of(path: &Path) -> HashMap<String, String> {
    let t = Table::parse(&read(path));
    t.rows
        .iter()
        .map(|r| {
            (
                t.get(r, "frame.number").to_string(),
                t.get(r, "frame.protocols").to_string(),
            )
        })
        .collect()
}

/// Checks one replay against the threshold; returns a report line and whether it passed.
fn judge(name: &str, r: &Replay) -> (String, bool) {
    let share = if r.frames == 0 {
        1.0
    } else {
        r.agree as f64 / r.frames as f64
    };
    let mut line = format!(
        "{name:48} {:>5}/{:<5} {:>7.3}%",
        r.agree,
        r.frames,
        share * 100.0
    );
    for m in &r.mismatches {
        let _ = write!(line, "\n      {m}");
    }
    (line, share >= MIN_AGREEMENT)
}

#[test]
fn oracle_corpus_agreement() {
    let dir = oracle_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tsv") && !n.ends_with(".proto.tsv"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no oracle TSV in {}", dir.display());
    let mut report = String::new();
    let mut failed = Vec::new();
    for name in &names {
        let proto_name = name.replace(".tsv", ".proto.tsv");
        let protocols = protocols_of(&dir.join(&proto_name));
        let r = replay(&Table::parse(&read(&dir.join(name))), &protocols);
        let (line, ok) = judge(name, &r);
        let _ = writeln!(report, "{line}");
        if !ok {
            failed.push(name.clone());
        }
    }
    println!("TCP agreement with the tshark oracle (frames agreeing / TCP frames):\n{report}");
    assert!(
        failed.is_empty(),
        "below {MIN_AGREEMENT} agreement: {failed:?}\n{report}"
    );
}

/// `tshark` on PATH. The test suite's set-up (`scripts/setup --test`) installs it; without it
/// these tests fail rather than pass unseen.
fn tshark() -> &'static str {
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "tshark is not installed: run scripts/setup --test (apt-get install tshark) to run the tshark comparisons"
    );
    "tshark"
}

/// tshark's reading of `capture` with every extended field.
fn tshark_fields(tshark: &str, capture: &Path) -> Table {
    let mut cmd = Command::new(tshark);
    cmd.arg("-r").arg(capture);
    for o in [
        "tcp.relative_sequence_numbers:TRUE",
        "tcp.analyze_sequence_numbers:TRUE",
    ] {
        cmd.args(["-o", o]);
    }
    // All occurrences: a header quoted in an ICMP error has its addresses in the second one.
    cmd.args([
        "-T",
        "fields",
        "-E",
        "header=y",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
    ]);
    for f in EXTENDED_FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run tshark: {e}"));
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Table::parse(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn tshark_corpus_extended() {
    let tshark = tshark();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", corpus.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    names.sort();
    let mut report = String::new();
    let mut failed = Vec::new();
    for name in &names {
        let r = replay(&tshark_fields(tshark, &corpus.join(name)), &HashMap::new());
        let (line, ok) = judge(name, &r);
        let _ = writeln!(report, "{line}");
        if !ok {
            failed.push(name.clone());
        }
    }
    println!("TCP agreement with tshark, all analysis fields:\n{report}");
    assert!(
        failed.is_empty(),
        "below {MIN_AGREEMENT} agreement: {failed:?}\n{report}"
    );
}

#[test]
fn tshark_synthetic_differential() {
    let tshark = tshark();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut report = String::new();
    let mut failed = Vec::new();
    let (mut frames, mut agree) = (0, 0);
    let mut tally: std::collections::BTreeMap<&str, usize> = Default::default();
    let seeds = std::env::var("SOCKSCOPE_SYNTHETIC_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SYNTHETIC_SEEDS);
    for seed in 1..=seeds {
        let path = dir.path().join(format!("synthetic-{seed}.pcap"));
        std::fs::write(&path, super::tests::synthetic::capture(seed)).expect("write capture");
        let table = tshark_fields(tshark, &path);
        for (col, _) in flag_fields() {
            let n = table
                .rows
                .iter()
                .filter(|row| !table.get(row, col).is_empty())
                .count();
            *tally.entry(col).or_insert(0) += n;
        }
        let r = replay(&table, &HashMap::new());
        frames += r.frames;
        agree += r.agree;
        if r.agree != r.frames {
            let (line, _) = judge(&format!("seed {seed}"), &r);
            let _ = writeln!(report, "{line}");
            failed.push(seed);
        }
    }
    let path = dir.path().join("one-way-bulk.pcap");
    std::fs::write(&path, super::tests::synthetic::one_way_bulk()).expect("write capture");
    let r = replay(&tshark_fields(tshark, &path), &HashMap::new());
    if r.agree != r.frames {
        let (line, _) = judge("one-way bulk", &r);
        let _ = writeln!(report, "{line}");
        failed.push(0);
    }
    frames += r.frames;
    agree += r.agree;
    println!("synthetic captures: {agree}/{frames} frames agree with tshark\n{report}");
    println!("tshark findings exercised: {tally:?}");
    for (col, n) in &tally {
        assert!(
            *n > 0,
            "the synthetic captures never make tshark show {col}"
        );
    }
    assert!(
        failed.is_empty(),
        "seeds disagreeing with tshark: {failed:?}\n{report}"
    );
}

/// Number of randomised captures the differential test writes.
const SYNTHETIC_SEEDS: u64 = 40;
