//! The JSON Lines schema of `docs/jsonl.md` holds for every record sockscope writes: every
//! fixture and every saved run's capture replayed (`packet`), every saved run rendered as
//! `sockscope run --format jsonl` renders it (`run`, `event`, `packet`, `check`, `capture`),
//! every line of the committed event logs, and the `meta` record that opens each stream. The
//! key lists are read from the tables of `docs/jsonl.md` (`tests/common/schema.rs`), so the
//! document and the output cannot drift apart. A live run and a trace are checked the same
//! way in `tests/live.rs` (as root) and `tests/trace.rs`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::schema;
use serde_json::Value;
use sockscope::live::pcapng;
use sockscope::render::run::report;

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

/// The saved runs: (name, pcapng, the event log inside it).
fn saved_runs() -> Vec<(String, PathBuf, String)> {
    let mut v: Vec<(String, PathBuf, String)> = std::fs::read_dir(captures())
        .expect("list captures/")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".pcapng")?.to_owned();
            let path = captures().join(&name);
            let log = pcapng::event_log(&path).ok()??;
            Some((stem, path, log))
        })
        .collect();
    v.sort();
    v
}

/// tcpdump's letters for a flags field, in its order (print-tcp.c's `tcp_flag_values`).
fn tcpdump_letters(flags: u64) -> String {
    let letters: String = [
        (0x001, 'F'),
        (0x002, 'S'),
        (0x004, 'R'),
        (0x008, 'P'),
        (0x010, '.'),
        (0x020, 'U'),
        (0x040, 'E'),
        (0x080, 'W'),
        (0x100, 'e'),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, c)| *c)
    .collect();
    if letters.is_empty() {
        "none".into()
    } else {
        letters
    }
}

/// Checks the packet records of a stream beyond their types: `flags_str` spells `flags`.
fn flags_agree(text: &str, what: &str) {
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("checked JSON");
        if v["kind"] != "packet" {
            continue;
        }
        match (&v["flags"], &v["flags_str"]) {
            (Value::Null, Value::Null) => {}
            (Value::Number(n), Value::String(s)) => {
                let n = n.as_u64().expect("flags is a whole number");
                assert!(n < 0x1000, "{what}: flags {n} wider than 12 bits");
                assert_eq!(*s, tcpdump_letters(n), "{what}: {line}");
            }
            _ => panic!("{what}: flags and flags_str not both set or both null: {line}"),
        }
    }
}

fn add(total: &mut BTreeMap<String, usize>, counts: BTreeMap<String, usize>) {
    for (k, n) in counts {
        *total.entry(k).or_insert(0) += n;
    }
}

#[test]
fn the_document_lists_the_eight_record_kinds() {
    let s = schema::load();
    let kinds: Vec<&str> = s.kinds.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        ["capture", "check", "compare", "event", "meta", "packet", "run", "summary"]
    );
    for (kind, keys) in &s.kinds {
        assert_eq!(
            keys.first().map(|k| k.name.as_str()),
            Some("kind"),
            "{kind}"
        );
        assert!(keys.len() >= 5, "{kind}: {keys:?}");
    }
    let packet: Vec<&str> = s.kinds["packet"].iter().map(|k| k.name.as_str()).collect();
    for tshark in [
        "frame", "ts", "src", "dst", "sport", "dport", "proto", "flags", "seq", "ack", "seq_raw",
        "ack_raw", "len", "win", "stream",
    ] {
        assert!(packet.contains(&tshark), "packet.{tshark} not documented");
    }
}

#[test]
fn every_replayed_record_has_its_kinds_keys() {
    let s = schema::load();
    let mut files: Vec<PathBuf> = common::fixture_captures()
        .iter()
        .map(|n| common::fixture(n))
        .collect();
    // A generated capture full of losses, reordering and duplicate ACKs, IPv4 and IPv6.
    let dir = tempfile::tempdir().expect("tempdir");
    let busy = dir.path().join("busy.pcap");
    let cfg = sockscope::synth::Config {
        packets: 3_000,
        ..sockscope::synth::Config::default()
    };
    let file = std::fs::File::create(&busy).expect("create the capture");
    sockscope::synth::write(&cfg, std::io::BufWriter::new(file)).expect("write the capture");
    files.push(busy);
    let mut total = BTreeMap::new();
    let mut analysed = BTreeMap::<String, usize>::new();
    for f in &files {
        let what = f.display().to_string();
        let out = common::replay_jsonl(f);
        let counts = s
            .check_stream(&out, "replay")
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        // One summary, last, whose counts are the stream's.
        assert_eq!(counts.get("summary"), Some(&1), "{what}");
        let last: Value = serde_json::from_str(out.lines().last().expect("summary")).expect("JSON");
        assert_eq!(last["kind"], "summary", "{what}");
        assert_eq!(
            last["shown"].as_u64(),
            counts.get("packet").map(|n| *n as u64),
            "{what}"
        );
        assert_eq!(
            last["evicted"], 0,
            "{what}: no capture here reaches the bound"
        );
        let first: Value = serde_json::from_str(out.lines().next().expect("meta")).expect("JSON");
        assert_eq!(first["file"], f.to_string_lossy().as_ref(), "{what}");
        assert_eq!(first["schema"], 1, "{what}");
        flags_agree(&out, &what);
        for line in out.lines().skip(1) {
            let v: Value = serde_json::from_str(line).expect("JSON");
            if let Value::Array(a) = &v["analysis"] {
                for name in a {
                    *analysed
                        .entry(name.as_str().unwrap_or("").to_owned())
                        .or_insert(0) += 1;
                }
            }
        }
        add(&mut total, counts);
    }
    assert_eq!(total["meta"], files.len());
    assert!(total["packet"] > 4_000, "{total:?}");
    // The records cover what the schema allows: findings of the analysis among them.
    for finding in ["retransmission", "duplicate_ack"] {
        assert!(
            analysed.contains_key(finding),
            "no {finding} seen: {analysed:?}"
        );
    }
}

/// `sockscope replay --format jsonl` of a saved run writes the run's stream (as `run NAME
/// --format jsonl` did), every record on the schema, every packet of the file in it.
#[test]
fn a_replayed_saved_run_is_a_run_stream() {
    let s = schema::load();
    let mut analysed = std::collections::BTreeSet::new();
    for (name, path, _) in saved_runs() {
        let out = common::replay_jsonl(&path);
        let counts = s
            .check_stream(&out, "replay")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for line in out.lines() {
            let v: Value = serde_json::from_str(line).expect("JSON");
            if let Value::Array(a) = &v["analysis"] {
                analysed.extend(a.iter().filter_map(|n| n.as_str().map(str::to_owned)));
            }
        }
        let run = pcapng::load(&path, Path::new("/nonexistent")).expect("load");
        assert_eq!(counts.get("packet"), Some(&run.packets.len()), "{name}");
        assert_eq!(counts["run"], 1, "{name}");
        flags_agree(&out, &name);
    }
    // The saved runs show the analysis too: buffers' zero window among it.
    for finding in ["zero_window", "retransmission"] {
        assert!(analysed.contains(finding), "no {finding}: {analysed:?}");
    }
}

#[test]
fn every_record_of_a_saved_run_has_its_kinds_keys() {
    let s = schema::load();
    let runs = saved_runs();
    assert_eq!(runs.len(), sockscope::scenario::all().len(), "{runs:?}");
    let mut total = BTreeMap::new();
    for (name, pcapng, log) in &runs {
        let run = pcapng::load(pcapng, Path::new("/nonexistent"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let sc = sockscope::scenario::find(name);
        let checks = report::checks(&run, sc);
        // The stream `sockscope run NAME --format jsonl` writes: meta, then the run.
        let mut out = String::new();
        sockscope::render::jsonl::meta(&mut out, "run", None);
        out.push_str(&report::jsonl(&run, &checks));
        let counts = s
            .check_stream(&out, "run")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        flags_agree(&out, name);
        assert_eq!(counts["run"], 1, "{name}");
        assert_eq!(counts["capture"], 1, "{name}");
        assert_eq!(
            counts.get("check").copied().unwrap_or(0),
            checks.len(),
            "{name}"
        );
        add(&mut total, counts);
        // The committed event log: run, events, capture, each with every key.
        for (i, line) in log.lines().enumerate() {
            let kind = s
                .check_record(line)
                .unwrap_or_else(|e| panic!("{name}'s log line {}: {e}: {line}", i + 1));
            assert!(
                ["run", "event", "capture"].contains(&kind.as_str()),
                "{name}: a {kind} line"
            );
        }
    }
    for kind in ["meta", "run", "event", "packet", "check", "capture"] {
        assert!(
            total.get(kind).is_some_and(|n| *n > 0),
            "no {kind}: {total:?}"
        );
    }
}

/// The check itself can fail: a key missing, added, moved or of the wrong type is caught.
#[test]
fn a_record_off_the_schema_is_refused() {
    let s = schema::load();
    let out = common::replay_jsonl(&common::fixture("ssh.pcap"));
    let good = out.lines().nth(1).expect("a packet record");
    assert_eq!(s.check_record(good).as_deref(), Ok("packet"));
    let bad = [
        good.replace(",\"dup_ack\":null", ""),
        good.replace("\"label\":null", "\"label\":null,\"extra\":1"),
        good.replace("\"win\":", "\"win\":\"")
            .replace(",\"win_scaled\"", "\",\"win_scaled\""),
        good.replace("\"ts_invalid\":false", "\"ts_invalid\":null"),
        good.replace(
            "{\"kind\":\"packet\",\"frame\":1,",
            "{\"frame\":1,\"kind\":\"packet\",",
        ),
        good.replace("\"kind\":\"packet\"", "\"kind\":\"frame\""),
        good.replace("\"analysis\":[]", "\"analysis\":[1]"),
    ];
    for b in &bad {
        assert_ne!(b, good);
        assert!(s.check_record(b).is_err(), "accepted: {b}");
    }
    // A stream must open with its meta record, once.
    let packets: String = out.lines().skip(1).flat_map(|l| [l, "\n"]).collect();
    assert!(s.check_stream(&packets, "replay").is_err());
    assert!(s.check_stream(&out, "run").is_err());
    assert!(s
        .check_stream(&format!("{out}{}\n", out.lines().next().unwrap()), "replay")
        .is_err());
    assert!(s.check_stream(&out, "replay").is_ok());
}

/// A table row the checker cannot read is an error, not a key silently lost.
#[test]
fn a_malformed_table_row_is_refused() {
    let doc = "### `x`\n\n| key | type | meaning |\n|---|---|---|\n| `kind` | string | x |\n";
    assert_eq!(schema::parse(doc).kinds["x"].len(), 1);
    for bad in [
        "### `x`\n| `kind` | text | x |\n",
        "### `x`\n| `kind` | string | a | b |\n",
        "### `x`\n| `kind` | string | x |\n| `kind` | string | x |\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| schema::parse(bad)).is_err(),
            "{bad}"
        );
    }
}
