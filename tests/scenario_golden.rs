//! The live runner's renderer on saved runs, without root: each scenario's capture in
//! `captures/<name>.pcapng` and its event log `captures/<name>.events.jsonl` (both written by
//! `sockscope run <name> --save captures/<name>.pcapng`) are rendered as `sockscope run` would
//! render them (colour off, times relative to the first line) and compared with the snapshots
//! in `tests/snapshots/`. The saved runs must pass their scenario's self-checks too.

use std::path::{Path, PathBuf};

use sockscope::live::{json, pcapng, RunData};
use sockscope::render::run::{report, ReportOptions};
use sockscope::render::{TextOptions, TimeMode};
use sockscope::scenario;

const SCENARIOS: [&str; 18] = [
    "hello",
    "handshake",
    "addr",
    "data",
    "stream",
    "proto",
    "retransmit",
    "teardown",
    "halfclose",
    "timewait",
    "reset",
    "nagle",
    "udp",
    "buffers",
    "sockopt",
    "fork",
    "iosplit",
    "dns",
];

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

fn load(name: &str) -> RunData {
    let dir = captures();
    pcapng::load(
        &dir.join(format!("{name}.pcapng")),
        &dir.join(format!("{name}.events.jsonl")),
    )
    .unwrap_or_else(|e| panic!("loading the saved {name} run: {e}"))
}

fn options(time: TimeMode, color: bool, explain: bool) -> ReportOptions {
    ReportOptions {
        text: TextOptions { time, color },
        explain,
        width: None,
    }
}

/// The text report of a saved run, asserting that its self-checks pass.
fn render(name: &str) -> String {
    let run = load(name);
    let sc = scenario::find(name).expect("a scenario of that name");
    assert_eq!(run.scenario, name, "the event log names another scenario");
    let checks = report::checks(&run, Some(sc));
    assert!(!checks.is_empty(), "{name}: no checks");
    for c in &checks {
        assert!(c.ok, "{name}: ✗ {} ({})", c.what, c.detail);
    }
    report::text(
        &run,
        Some(sc),
        &checks,
        &options(TimeMode::Rel, false, true),
    )
}

#[test]
fn hello() {
    insta::assert_snapshot!(render("hello"));
}

#[test]
fn addr() {
    insta::assert_snapshot!(render("addr"));
}

#[test]
fn handshake() {
    insta::assert_snapshot!(render("handshake"));
}

#[test]
fn data() {
    insta::assert_snapshot!(render("data"));
}

#[test]
fn stream() {
    insta::assert_snapshot!(render("stream"));
}

#[test]
fn proto() {
    insta::assert_snapshot!(render("proto"));
}

#[test]
fn retransmit() {
    insta::assert_snapshot!(render("retransmit"));
}

#[test]
fn teardown() {
    insta::assert_snapshot!(render("teardown"));
}

#[test]
fn halfclose() {
    insta::assert_snapshot!(render("halfclose"));
}

#[test]
fn timewait() {
    insta::assert_snapshot!(render("timewait"));
}

#[test]
fn reset() {
    insta::assert_snapshot!(render("reset"));
}

#[test]
fn nagle() {
    insta::assert_snapshot!(render("nagle"));
}

#[test]
fn udp() {
    insta::assert_snapshot!(render("udp"));
}

#[test]
fn fork() {
    insta::assert_snapshot!(render("fork"));
}

#[test]
fn iosplit() {
    insta::assert_snapshot!(render("iosplit"));
}

#[test]
fn buffers() {
    insta::assert_snapshot!(render("buffers"));
}

#[test]
fn sockopt() {
    insta::assert_snapshot!(render("sockopt"));
}

#[test]
fn dns() {
    insta::assert_snapshot!(render("dns"));
}

/// The report as `sockscope run NAME --width W` prints it (no explanation).
fn render_at(name: &str, width: usize, explain: bool) -> String {
    render_with(name, width, TimeMode::Rel, explain)
}

fn render_with(name: &str, width: usize, time: TimeMode, explain: bool) -> String {
    let run = load(name);
    let sc = scenario::find(name).expect("a scenario of that name");
    let checks = report::checks(&run, Some(sc));
    let opts = ReportOptions {
        width: Some(width),
        ..options(time, false, explain)
    };
    report::text(&run, Some(sc), &checks, &opts)
}

#[test]
fn handshake_at_80_and_100_columns() {
    insta::assert_snapshot!("handshake_w80", render_at("handshake", 80, false));
    insta::assert_snapshot!("handshake_w100", render_at("handshake", 100, false));
}

#[test]
fn nagle_at_80_and_100_columns() {
    insta::assert_snapshot!("nagle_w80", render_at("nagle", 80, false));
    insta::assert_snapshot!("nagle_w100", render_at("nagle", 100, false));
}

#[test]
fn fork_at_80_and_100_columns() {
    insta::assert_snapshot!("fork_w80", render_at("fork", 80, false));
    insta::assert_snapshot!("fork_w100", render_at("fork", 100, false));
}

#[test]
fn dns_at_80_and_100_columns() {
    insta::assert_snapshot!("dns_w80", render_at("dns", 80, false));
    insta::assert_snapshot!("dns_w100", render_at("dns", 100, false));
}

/// Every line of every saved run's report, explanation included, fits the width asked for
/// (counted in display columns), at 80 and 100 columns, and at 80 with the widest time
/// column (absolute times).
#[test]
fn every_line_fits_the_width() {
    use unicode_width::UnicodeWidthStr;
    let mut wide = Vec::new();
    for n in SCENARIOS {
        for (w, time) in [
            (80, TimeMode::Rel),
            (100, TimeMode::Rel),
            (80, TimeMode::Abs),
        ] {
            let text = render_with(n, w, time, true);
            for (i, l) in text.lines().enumerate() {
                if l.width() > w {
                    wide.push(format!(
                        "{n} at {w}, line {}, {} columns: {l}",
                        i + 1,
                        l.width()
                    ));
                }
            }
        }
    }
    assert!(
        wide.is_empty(),
        "lines wider than asked:\n{}",
        wide.join("\n")
    );
}

#[test]
fn every_scenario_has_a_saved_run() {
    let names: Vec<&str> = scenario::all().iter().map(|s| s.name).collect();
    assert_eq!(names, SCENARIOS);
    for n in SCENARIOS {
        let run = load(n);
        assert!(!run.packets.is_empty() && !run.events.is_empty(), "{n}");
        assert_eq!(run.stats.dropped, 0, "{n}: the saved run dropped packets");
        assert!(!run.interrupted, "{n}");
    }
}

/// `--format jsonl`: one stream, `run` first, then events and packets in time order, then the
/// checks, then the capture counters; every line a JSON object with a `kind`.
#[test]
fn jsonl_stream_interleaves_events_and_packets() {
    for n in SCENARIOS {
        let run = load(n);
        let sc = scenario::find(n).expect("scenario");
        let checks = report::checks(&run, Some(sc));
        let out = report::jsonl(&run, &checks);
        let lines: Vec<&str> = out.lines().collect();
        let kind = |l: &str| -> String {
            // Packet lines may carry arrays (analysis findings); read just the leading kind.
            let head = l.split(',').next().unwrap_or("");
            head.trim_start_matches("{\"kind\":\"")
                .trim_end_matches('"')
                .to_owned()
        };
        let kinds: Vec<String> = lines.iter().map(|l| kind(l)).collect();
        assert_eq!(kinds.first().map(String::as_str), Some("run"), "{n}");
        assert_eq!(kinds.last().map(String::as_str), Some("capture"), "{n}");
        let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
        assert_eq!(count("packet"), run.packets.len(), "{n}");
        assert_eq!(count("event"), run.events.len(), "{n}");
        assert_eq!(count("check"), checks.len(), "{n}");
        let first_check = kinds.iter().position(|k| k == "check").expect("checks");
        assert!(kinds[..first_check]
            .iter()
            .skip(1)
            .all(|k| k == "event" || k == "packet"));
        let mut last = i128::MIN;
        for l in &lines[1..first_check] {
            let ts = l
                .split("\"ts\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(sockscope::live::event::parse_time)
                .unwrap_or_else(|| panic!("{n}: no ts in {l}"));
            assert!(ts >= last, "{n}: out of time order: {l}");
            last = ts;
        }
        for l in lines.iter().filter(|l| kind(l) != "packet") {
            json::parse(l).unwrap_or_else(|e| panic!("{n}: {e}: {l}"));
        }
    }
}

/// A saved run written again reads back the same.
#[test]
fn save_and_load_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    for n in SCENARIOS {
        let run = load(n);
        let path = dir.path().join(format!("{n}.pcapng"));
        let log = pcapng::save(&path, &run).expect("save");
        assert_eq!(log, dir.path().join(format!("{n}.events.jsonl")));
        let back = pcapng::load(&path, &log).expect("load");
        assert_eq!(back.packets, run.packets, "{n}");
        assert_eq!(back.events, run.events, "{n}");
        assert_eq!(back.stats, run.stats, "{n}");
        assert_eq!(back.filter, run.filter, "{n}");
        assert_eq!(back.linktype, run.linktype, "{n}");
    }
}

/// Saving a loaded run gives back the committed files: the event log byte for byte, the
/// pcapng byte for byte after its Section Header Block (which names the sockscope version).
#[test]
fn saved_runs_write_back_byte_for_byte() {
    fn after_shb(b: &[u8]) -> &[u8] {
        let len = u32::from_le_bytes(b[4..8].try_into().expect("an SHB")) as usize;
        &b[len..]
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for n in SCENARIOS {
        let run = load(n);
        let path = dir.path().join(format!("{n}.pcapng"));
        let log = pcapng::save(&path, &run).expect("save");
        let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let committed = captures().join(format!("{n}.events.jsonl"));
        assert!(read(&log) == read(&committed), "{n}: the event log differs");
        let (saved, committed) = (read(&path), read(&captures().join(format!("{n}.pcapng"))));
        assert!(
            after_shb(&saved) == after_shb(&committed),
            "{n}: the pcapng differs"
        );
    }
}

/// The other time modes and colour render without trouble.
#[test]
fn time_modes_and_colour() {
    let run = load("handshake");
    let sc = scenario::find("handshake");
    let checks = report::checks(&run, sc);
    let plain = report::text(&run, sc, &checks, &options(TimeMode::Delta, false, false));
    assert!(!plain.contains('\u{1b}'));
    assert!(!plain.contains("what to look at"));
    let abs = report::text(&run, sc, &checks, &options(TimeMode::Abs, false, false));
    assert!(abs.lines().nth(3).is_some_and(|l| l.contains(':')), "{abs}");
    let colour = report::text(&run, sc, &checks, &options(TimeMode::Rel, true, false));
    assert!(colour.contains("\u{1b}[32m✓"));
}

/// `sockscope replay` reads a saved run (the pcapng the runner writes).
#[test]
fn replay_reads_a_saved_run() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["replay", "--no-summary", "--color", "never"])
        .arg(captures().join("handshake.pcapng"))
        .output()
        .expect("run sockscope replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 7, "{text}");
    assert!(text.contains("[S.]"), "{text}");
}

/// In colour, the same text fits: the escapes are added around the fitted pieces.
#[test]
fn colour_at_80_columns_fits_and_reads_the_same() {
    use unicode_width::UnicodeWidthStr;
    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut esc = false;
        for ch in s.chars() {
            match (esc, ch) {
                (false, '\u{1b}') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                (false, c) => out.push(c),
            }
        }
        out
    }
    for n in ["handshake", "fork", "buffers"] {
        let run = load(n);
        let sc = scenario::find(n);
        let checks = report::checks(&run, sc);
        let opts = ReportOptions {
            width: Some(80),
            ..options(TimeMode::Rel, true, true)
        };
        let colour = report::text(&run, sc, &checks, &opts);
        assert!(colour.contains('\u{1b}'));
        let plain = strip(&colour);
        let want = render_at(n, 80, true);
        for (a, b) in plain.lines().zip(want.lines()) {
            assert_eq!(a, b, "{n}");
        }
        assert_eq!(plain, want, "{n}");
        assert!(plain.lines().all(|l| l.width() <= 80), "{n}");
    }
}

/// Narrower widths down to the smallest `--width` takes render without trouble.
#[test]
fn narrow_widths_render() {
    for n in SCENARIOS {
        for w in [40, 50, 60] {
            let text = render_at(n, w, true);
            assert!(text.contains("checks"), "{n} at {w}");
        }
    }
}
