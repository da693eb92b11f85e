//! The live runner's renderer on saved runs, without root: each scenario's capture in
//! `captures/<name>.pcapng` and its event log `captures/<name>.events.jsonl` (both written by
//! `sockscope run <name> --save captures/<name>.pcapng` before the log went inside the file;
//! runs saved since, such as `linger`'s and `lastack`'s, are the pcapng alone)
//! are rendered as `sockscope run` would render them (colour off, times relative to the first
//! line) and compared with the snapshots in `tests/snapshots/`. The saved runs must pass their
//! scenario's self-checks too. Written again in today's format (the log inside the pcapng),
//! `sockscope replay` shows each as that same report.

use std::path::{Path, PathBuf};

use sockscope::live::{json, pcapng, RunData};
use sockscope::render::run::{report, ReportOptions};
use sockscope::render::{TextOptions, TimeMode};
use sockscope::scenario;

const SCENARIOS: &[&str] = &[
    "hello",
    "handshake",
    "backlog",
    "addr",
    "ipv6",
    "anyaddr",
    "data",
    "stream",
    "proto",
    "retransmit",
    "teardown",
    "halfclose",
    "timewait",
    "reset",
    "linger",
    "lastack",
    "nagle",
    "stdio",
    "udp",
    "udperr",
    "broadcast",
    "multicast",
    "buffers",
    "sockopt",
    "keepalive",
    "fork",
    "iosplit",
    "eintr",
    "dns",
    "resolver",
    "select",
    "epoll",
    "writev",
    "peek",
    "oob",
    "threads",
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
fn ipv6() {
    insta::assert_snapshot!(render("ipv6"));
}

#[test]
fn anyaddr() {
    insta::assert_snapshot!(render("anyaddr"));
}

#[test]
fn backlog() {
    insta::assert_snapshot!(render("backlog"));
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
fn linger() {
    insta::assert_snapshot!(render("linger"));
}

#[test]
fn lastack() {
    insta::assert_snapshot!(render("lastack"));
}

#[test]
fn nagle() {
    insta::assert_snapshot!(render("nagle"));
}

#[test]
fn stdio() {
    insta::assert_snapshot!(render("stdio"));
}

#[test]
fn udp() {
    insta::assert_snapshot!(render("udp"));
}

#[test]
fn udperr() {
    insta::assert_snapshot!(render("udperr"));
}

#[test]
fn broadcast() {
    insta::assert_snapshot!(render("broadcast"));
}

#[test]
fn multicast() {
    insta::assert_snapshot!(render("multicast"));
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

#[test]
fn writev() {
    insta::assert_snapshot!(render("writev"));
}

#[test]
fn peek() {
    insta::assert_snapshot!(render("peek"));
}

#[test]
fn oob() {
    insta::assert_snapshot!(render("oob"));
}

/// The urgent pointer of every TCP frame of the saved `oob` run, as `replay --format jsonl`
/// gives it, is tshark's `tcp.urgent_pointer`; the four URG segments point past "4" and "0".
#[test]
fn oob_urgent_pointer_agrees_with_tshark() {
    let file = captures().join("oob.pcapng");
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-Y", "tcp", "-T", "fields", "-e", "frame.number"])
        .args(["-e", "tcp.urgent_pointer", "-e", "tcp.flags.urg"])
        .output()
        .unwrap_or_else(|e| panic!("tshark is needed (scripts/setup --test installs it): {e}"));
    assert!(out.status.success());
    let tshark: Vec<(u64, u64, bool)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = |s: &str| s.parse::<u64>().unwrap_or_else(|_| panic!("{l}"));
            (n(f[0]), n(f[1]), f[2] == "1" || f[2] == "True")
        })
        .collect();
    let ours = replay(&["--format", "jsonl"], &file);
    let field = |l: &str, key: &str| -> Option<u64> {
        l.split(&format!("\"{key}\":"))
            .nth(1)?
            .split([',', '}'])
            .next()?
            .parse()
            .ok()
    };
    let mine: Vec<(u64, u64, bool)> = String::from_utf8_lossy(&ours.stdout)
        .lines()
        .filter(|l| l.starts_with("{\"kind\":\"packet\"") && l.contains("\"proto\":\"tcp\""))
        .map(|l| {
            let flags = field(l, "flags").expect("flags");
            (
                field(l, "frame").expect("frame"),
                field(l, "urgent_pointer").expect("urgent_pointer"),
                flags & 0x020 != 0,
            )
        })
        .collect();
    assert_eq!(mine, tshark);
    let urg: Vec<u64> = mine.iter().filter(|x| x.2).map(|x| x.1).collect();
    assert_eq!(urg, [1, 3, 1, 3]);
}

#[test]
fn select() {
    insta::assert_snapshot!(render("select"));
    insta::assert_snapshot!("select_w80", render_at("select", 80, false));
}

#[test]
fn epoll() {
    insta::assert_snapshot!(render("epoll"));
    insta::assert_snapshot!("epoll_w80", render_at("epoll", 80, false));
}

#[test]
fn threads() {
    insta::assert_snapshot!(render("threads"));
    insta::assert_snapshot!("threads_w80", render_at("threads", 80, false));
}

#[test]
fn keepalive() {
    insta::assert_snapshot!(render("keepalive"));
}

#[test]
fn eintr() {
    insta::assert_snapshot!(render("eintr"));
}

#[test]
fn resolver() {
    insta::assert_snapshot!(render("resolver"));
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

/// Writes `run` as `--save FILE.pcapng` does, into `path`.
fn save(path: &Path, run: &RunData) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    pcapng::write(&mut f, run).expect("write");
    std::io::Write::flush(&mut f).expect("flush");
}

/// A saved run written again reads back the same, from the pcapng alone.
#[test]
fn save_and_load_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    for n in SCENARIOS {
        let run = load(n);
        let path = dir.path().join(format!("{n}.pcapng"));
        save(&path, &run);
        let back = pcapng::load_saved(&path)
            .expect("load")
            .unwrap_or_else(|| panic!("{n}: no run inside the file"));
        assert_eq!(back.scenario, run.scenario, "{n}");
        assert_eq!(back.packets, run.packets, "{n}");
        assert_eq!(back.events, run.events, "{n}");
        assert_eq!(back.stats, run.stats, "{n}");
        assert_eq!(back.filter, run.filter, "{n}");
        assert_eq!(back.linktype, run.linktype, "{n}");
        assert_eq!(back.private_netns, run.private_netns, "{n}");
        // The side-file loader prefers the run inside the file.
        let again = pcapng::load(&path, &dir.path().join("absent.events.jsonl")).expect("load");
        assert_eq!(again.events, run.events, "{n}");
    }
    // A capture without a run inside is not one.
    let plain = captures().join("hello-tcpdump.pcap");
    assert!(pcapng::load_saved(&plain).expect("a capture").is_none());
}

/// The blocks of a little-endian pcapng as (type, bytes).
fn blocks(b: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    let mut rest = b;
    while rest.len() >= 12 {
        let kind = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes")) as usize;
        out.push((kind, &rest[..len]));
        rest = &rest[len..];
    }
    assert!(rest.is_empty(), "the file ends inside a block");
    out
}

/// Saving a loaded run gives back the committed files: the pcapng byte for byte after its
/// Section Header Block (which names the sockscope version) apart from the Custom Block that
/// now carries the run, and in that block, the committed event log byte for byte.
#[test]
fn saved_runs_write_back_byte_for_byte() {
    const CUSTOM: u32 = 0x0000_0BAD;
    let dir = tempfile::tempdir().expect("tempdir");
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    for n in SCENARIOS {
        let run = load(n);
        let path = dir.path().join(format!("{n}.pcapng"));
        save(&path, &run);
        let saved = read(&path);
        let committed = read(&captures().join(format!("{n}.pcapng")));
        let (saved, committed) = (blocks(&saved), blocks(&committed));
        let without = |b: &[(u32, &[u8])]| -> Vec<Vec<u8>> {
            b.iter()
                .skip(1)
                .filter(|(k, _)| *k != CUSTOM)
                .map(|(_, b)| b.to_vec())
                .collect()
        };
        assert!(
            without(&saved) == without(&committed),
            "{n}: the pcapng differs"
        );
        let log_of = |blocks: &[(u32, &[u8])]| -> Option<String> {
            let custom: Vec<&[u8]> = blocks
                .iter()
                .filter(|(k, _)| *k == CUSTOM)
                .map(|(_, b)| *b)
                .collect();
            if custom.is_empty() {
                return None;
            }
            assert_eq!(custom.len(), 1, "{n}: one block carries the run");
            let body = &custom[0][8..custom[0].len() - 4];
            assert_eq!(
                u32::from_le_bytes(body[0..4].try_into().expect("a PEN")),
                sockscope::live::embed::PEN
            );
            let text = std::str::from_utf8(&body[4..])
                .expect("UTF-8")
                .trim_end_matches('\0');
            let (header, log) = text.split_once('\n').expect("a header line");
            assert_eq!(header, "{\"sockscope_run\":1,\"part\":1,\"parts\":1}");
            Some(log.to_owned())
        };
        let log = log_of(&saved).unwrap_or_else(|| panic!("{n}: no block carries the run"));
        // Runs saved before the log went inside the file keep it beside the file.
        let committed_log = match log_of(&committed) {
            Some(l) => l.into_bytes(),
            None => read(&captures().join(format!("{n}.events.jsonl"))),
        };
        assert!(
            log.as_bytes() == committed_log,
            "{n}: the event log differs"
        );
    }
}

/// `sockscope replay ARGS FILE` into a pipe, with no COLUMNS from the caller's terminal.
fn replay(args: &[&str], file: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .env_remove("COLUMNS")
        .arg("replay")
        .args(args)
        .arg(file)
        .output()
        .expect("run sockscope replay")
}

/// The round trip without root: each committed run, written in today's format, replays as
/// the report `run` printed (text and JSON Lines: the same calls, packets and checks).
#[test]
fn a_saved_run_replays_as_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    for n in SCENARIOS {
        let run = load(n);
        let path = dir.path().join(format!("{n}.pcapng"));
        save(&path, &run);
        let sc = scenario::find(n);
        let checks = report::checks(&run, sc);
        let out = replay(&["--color", "never"], &path);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = report::text(&run, sc, &checks, &options(TimeMode::Rel, false, false));
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{n}");
        let jsonl = replay(&["--format", "jsonl"], &path);
        let jsonl = String::from_utf8_lossy(&jsonl.stdout);
        let (meta, records) = jsonl.split_once('\n').expect("a meta line first");
        assert!(
            meta.starts_with("{\"kind\":\"meta\",\"schema\":1,")
                && meta.contains("\"source\":\"replay\""),
            "{n}: {meta}"
        );
        assert_eq!(records, report::jsonl(&run, &checks), "{n}");
    }
    // The calls and the checks are there.
    let text = String::from_utf8_lossy(
        &replay(&["--color", "never"], &dir.path().join("handshake.pcapng")).stdout,
    )
    .into_owned();
    for want in [
        "connect(",
        "… connect() = 0",
        "… accept() = ",
        "checks",
        "  ✓ ",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    // A filter asks for packet lines: the timeline of the file's packets (the Custom Block
    // that carries the run is no packet, and matches no filter).
    let filtered = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["replay", "--color", "never", "--no-summary"])
        .arg(dir.path().join("handshake.pcapng"))
        .arg("tcp")
        .output()
        .expect("run");
    let lines = String::from_utf8_lossy(&filtered.stdout).into_owned();
    assert!(
        filtered.status.success(),
        "{}",
        String::from_utf8_lossy(&filtered.stderr)
    );
    assert_eq!(lines.lines().count(), 7, "header and six packets:\n{lines}");
}

/// A saved run replays fitted to `--width`, with `--explain`, as `run` renders it.
#[test]
fn a_saved_run_replays_at_a_width_with_its_explanation() {
    let dir = tempfile::tempdir().expect("tempdir");
    for n in ["handshake", "fork"] {
        let path = dir.path().join(format!("{n}.pcapng"));
        save(&path, &load(n));
        let out = replay(&["--color", "never", "--width", "80", "--explain"], &path);
        assert_eq!(out.status.code(), Some(0), "{n}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text, render_at(n, 80, true), "{n}");
        let widest = text.lines().map(|l| l.chars().count()).max();
        assert!(widest.is_some_and(|w| w <= 80), "{n}: {widest:?}");
        // COLUMNS counts too; a pipe without it keeps whole lines.
        let wide = replay(&["--color", "never"], &path);
        let narrow = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
            .args(["replay", "--color", "never"])
            .arg(&path)
            .env("COLUMNS", "80")
            .output()
            .expect("run");
        assert_eq!(
            String::from_utf8_lossy(&narrow.stdout),
            render_at(n, 80, false)
        );
        assert_ne!(wide.stdout, narrow.stdout, "{n}");
    }
}

/// A saved run whose checks fail replays with them failing, and exit status 1 as `run`'s.
#[test]
fn a_saved_run_with_a_failing_check_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut run = load("handshake");
    // Without its SYN+ACK the handshake is not one.
    run.packets.remove(1);
    let path = dir.path().join("cut.pcapng");
    save(&path, &run);
    let out = replay(&["--color", "never"], &path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("  ✗ "), "{text}");
}

/// A saved `trace` (no scenario) replays with its conversation facts and no checks section.
#[test]
fn a_saved_trace_replays_with_its_facts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut run = load("handshake");
    run.scenario = "trace: ./client 127.0.0.1".into();
    let path = dir.path().join("trace.pcapng");
    save(&path, &run);
    let out = replay(&["--color", "never"], &path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("trace: ./client 127.0.0.1\n"), "{text}");
    assert!(
        text.contains("ISNs (seq/ack above count from them)"),
        "{text}"
    );
    assert!(!text.contains("checks"), "{text}");
    assert_eq!(
        text,
        report::text(&run, None, &[], &options(TimeMode::Rel, false, false))
    );
}

/// A run saved by a newer sockscope (another block format): its packets are shown, one line
/// says why the run is not, and the status is 2.
#[test]
fn a_run_in_a_newer_format_shows_its_packets_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = load("handshake");
    let mut bytes = Vec::new();
    pcapng::write(&mut bytes, &run).expect("write");
    let at = bytes
        .windows(18)
        .position(|w| w == b"{\"sockscope_run\":1")
        .expect("the header");
    bytes[at + 17] = b'7';
    let path = dir.path().join("newer.pcapng");
    std::fs::write(&path, &bytes).expect("write");
    let out = replay(&["--color", "never", "--no-summary"], &path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("newer sockscope") && err.contains("format 7"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[S.]"), "{text}");
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

/// `sockscope replay --stream N` reads a saved run (the pcapng the runner writes) as packets.
#[test]
fn replay_reads_a_saved_run() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args([
            "replay",
            "--no-summary",
            "--color",
            "never",
            "--stream",
            "0",
        ])
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

/// A saved run read from a pipe (which can be read once only) is shown as its packets.
#[test]
fn a_saved_run_from_a_pipe_shows_its_packets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.pcapng");
    save(&path, &load("handshake"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(["replay", "--color", "never", "--no-summary", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sockscope replay");
    let bytes = std::fs::read(&path).expect("read");
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &bytes));
    let out = child.wait_with_output().expect("wait");
    feeder.join().expect("feeder").expect("write to the pipe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("[S.]"), "{text}");
    assert!(text.contains("pcapng Custom Block (no packet)"), "{text}");
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

/// `run NAME --ladder` on a saved run: the title, every conversation's text ladder (pids and
/// calls on the lanes), then the checks.
fn render_ladder(name: &str, ascii: bool) -> String {
    let run = load(name);
    let sc = scenario::find(name).expect("a scenario of that name");
    let checks = report::checks(&run, Some(sc));
    report::ladder_text(
        &run,
        Some(sc),
        &checks,
        &options(TimeMode::Rel, false, false),
        ascii,
    )
}

#[test]
fn ladders_of_every_scenario_in_unicode_and_ascii() {
    for name in SCENARIOS {
        let uni = render_ladder(name, false);
        let asc = render_ladder(name, true);
        // Arrows both ways in each style where the run has a reply (a broadcast has none),
        // and the checks.
        let run = load(name);
        let back = sockscope::live::View::new(&run)
            .pkts
            .iter()
            .any(|p| p.dir == sockscope::live::model::Dir::ToClient);
        assert!(
            uni.contains('▶') && (uni.contains('◀') || !back),
            "{name}:\n{uni}"
        );
        assert!(
            asc.contains("->") && (asc.contains("<-") || !back),
            "{name}:\n{asc}"
        );
        for text in [&uni, &asc] {
            assert!(text.contains("\nchecks\n  ✓ "), "{name}:\n{text}");
            assert!(!text.contains('✗'), "{name}:\n{text}");
        }
        // Before the checks, ASCII is plain ASCII.
        let lanes = asc.split("\nchecks\n").next().unwrap_or_default();
        if let Some(c) = lanes.chars().find(|c| !c.is_ascii()) {
            panic!("{name}: {c:?} in the ASCII ladder:\n{asc}");
        }
        // At 80 columns (and 60) every line fits, the scenario's marks and checks too.
        for w in [80, 60] {
            let run = load(name);
            let sc = scenario::find(name).expect("a scenario of that name");
            let checks = report::checks(&run, Some(sc));
            let mut opts = options(TimeMode::Rel, false, false);
            opts.width = Some(w);
            for ascii in [false, true] {
                let text = report::ladder_text(&run, Some(sc), &checks, &opts, ascii);
                for l in text.lines() {
                    let n = sockscope::render::width(l);
                    assert!(n <= w, "{name} at {w}: {n} columns: {l}\n{text}");
                }
            }
        }
        insta::assert_snapshot!(format!("ladder_{name}"), uni);
        insta::assert_snapshot!(format!("ladder_{name}_ascii"), asc);
    }
}
