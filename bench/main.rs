//! sockscope's benchmark, in one run on the same files: `bench/run.sh` (see bench/README.md).
//!
//! 1. Makes synthetic captures with `sockscope::synth` (cached in `target/bench-cache`): 1M
//!    and 5M packets of mixed traffic (~840 bytes/packet), the 1M file again as pcapng (two
//!    interfaces, µs and ns) and as ns pcap, a file of a million short TCP streams, and a 1M
//!    SYN scan and a 1M UDP flood (a new conversation per packet; `--floods`: only these).
//! 2. Times each command to /dev/null, several runs each (median and spread), with its peak
//!    RSS from `wait4`: the libpcap floor (bench/floor.c), `tcpdump -nn -r` as is and with
//!    TZ=UTC, `tshark -n -r -T fields` with the fields of our JSON Lines, and
//!    `sockscope replay` as text and as JSON Lines.
//! 3. Prints a table (packets/s, ratio to tcpdump TZ=UTC, ratio to the floor, peak RSS), checks
//!    the targets of issue 7, and writes everything as JSON with `--json FILE`.
//!
//! Runs are interleaved (run 1 of every command, then run 2, ...) so that a noisy neighbour
//! slows every command alike. Targets are judged on each command's fastest run (noise only
//! slows a run down), with the ratio of the medians shown beside it (`report::time_ratio`).

mod files;
mod measure;
mod report;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use sockscope::synth::{Config, Format};

use files::Capture;
use measure::{Cmd, Runner, Sample, Stats};
use report::{find, time_ratio, Row, Target, FLOOR, JSONL, TCPDUMP_UTC, TEXT};

#[derive(Parser, Debug)]
#[command(about = "sockscope's benchmark against libpcap, tcpdump and tshark")]
struct Args {
    /// A fast check: 100k and 500k packets, 3 runs, tshark once.
    #[arg(long)]
    quick: bool,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Runs per command (default 7, quick 3; sockscope on the small file's three formats
    /// makes twice as many, tcpdump without TZ at most 3, tshark at most 2, 1 on the largest
    /// file).
    #[arg(long)]
    runs: Option<usize>,
    /// Where the generated captures and the floor program are kept.
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Leave tshark out (it takes minutes on the large files).
    #[arg(long)]
    no_tshark: bool,
    /// Only the SYN scan and the UDP flood (the memory bound of issue 14).
    #[arg(long)]
    floods: bool,
}

/// The tshark fields that match our JSON Lines keys (as in shared/corpus/README.md).
const TSHARK_FIELDS: &[&str] = &[
    "frame.number",
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "tcp.flags",
    "tcp.seq",
    "tcp.ack",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.len",
    "udp.length",
    "tcp.window_size_value",
    "tcp.stream",
    "udp.stream",
    "tcp.analysis.flags",
];

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = args
        .cache
        .clone()
        .unwrap_or_else(|| root.join("target/bench-cache"));
    let runs = args.runs.unwrap_or(if args.quick { 3 } else { 7 }).max(1);
    let sockscope = sockscope_binary()?;
    let (small, large) = if args.quick {
        (100_000, 500_000)
    } else {
        (1_000_000, 5_000_000)
    };
    let label = |n: u64| format!("{}{}", human(n), " pcap");
    let mixed = |packets: u64, format: Format| Config {
        packets,
        format,
        ..Config::default()
    };
    let flood_files = [
        files::synth_file(
            &cache,
            &format!("{} SYN scan", human(small)),
            &Config::syn_scan(small),
        )?,
        files::synth_file(
            &cache,
            &format!("{} UDP flood", human(small)),
            &Config::udp_flood(small),
        )?,
    ];
    let runner = Runner {
        spawn: match files::compile(&cache, &root.join("bench/spawn.c"), &[]) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("bench: {e}; peak RSS will include the bench tool's own");
                None
            }
        },
        result: cache.join("spawn.result"),
    };
    let floor = match files::compile(&cache, &root.join("bench/floor.c"), &["-lpcap"]) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("bench: no libpcap floor: {e}");
            None
        }
    };
    let tcpdump = files::which("tcpdump");
    if tcpdump.is_none() {
        eprintln!("bench: tcpdump not found on PATH: its rows are left out");
    }
    let text = |f: &Capture, n| cmd(TEXT, &sockscope, &["replay"], f, n);
    let jsonl = |f: &Capture, n| cmd(JSONL, &sockscope, &["replay", "--format", "jsonl"], f, n);
    // tcpdump once on the scan, only with --floods or on the quick files; never on the UDP
    // flood, where its DNS printing takes time growing with the square of the datagrams
    // (3.2 s for 100k, minutes for 1M).
    let tcpdump_floods = args.floods || args.quick;
    let flood_cmds = |f: &Capture, tcp: bool| {
        let mut cmds = Vec::new();
        if let Some(p) = &floor {
            cmds.push(cmd(FLOOR, p, &[], f, runs));
        }
        cmds.push(text(f, runs));
        cmds.push(jsonl(f, runs));
        if let (Some(p), true) = (&tcpdump, tcpdump_floods && tcp) {
            let mut utc = cmd(TCPDUMP_UTC, p, &["-nn", "-r"], f, 1);
            utc.env.push(("TZ".into(), Some("UTC".into())));
            cmds.push(utc);
        }
        cmds
    };
    if args.floods {
        let mut rows = Vec::new();
        for (i, f) in flood_files.iter().enumerate() {
            rows.extend(measure(&runner, &flood_cmds(f, i == 0))?);
        }
        return finish(args, &rows, flood_targets(&rows, &flood_files), runs);
    }
    let main_files = [
        files::synth_file(&cache, &label(small), &mixed(small, Format::Pcap))?,
        files::synth_file(&cache, &label(large), &mixed(large, Format::Pcap))?,
    ];
    let ns = files::synth_file(
        &cache,
        &format!("{} ns pcap", human(small)),
        &mixed(small, Format::PcapNs),
    )?;
    let ng = files::synth_file(
        &cache,
        &format!("{} pcapng", human(small)),
        &mixed(small, Format::PcapNg),
    )?;
    let conversations = if args.quick { 50_000 } else { 1_000_000 };
    let short = files::synth_file(
        &cache,
        &format!("{} short streams", human(conversations)),
        &Config::short_streams(conversations, 4),
    )?;

    let tshark = if args.no_tshark {
        None
    } else {
        files::which("tshark")
    };
    if tshark.is_none() && !args.no_tshark {
        eprintln!("bench: tshark not found on PATH: its rows are left out");
    }

    let mut rows = Vec::new();
    for (i, f) in main_files.iter().enumerate() {
        // One round runs these back to back, in this order: the commands a target compares
        // sit close together.
        let mut cmds = Vec::new();
        if let Some(p) = &floor {
            cmds.push(cmd(FLOOR, p, &[], f, runs));
        }
        // The ns pcap and pcapng variants sit next to the pcap run they are compared with.
        // That comparison looks for a few percent, so these cheap commands run twice as often.
        let n = if i == 0 { runs * 2 } else { runs };
        cmds.push(text(f, n));
        if i == 0 {
            cmds.extend([text(&ns, n), text(&ng, n)]);
        }
        cmds.push(jsonl(f, n));
        if i == 0 {
            cmds.extend([jsonl(&ns, n), jsonl(&ng, n)]);
        }
        if let Some(p) = &tcpdump {
            let mut utc = cmd(TCPDUMP_UTC, p, &["-nn", "-r"], f, runs);
            utc.env.push(("TZ".into(), Some("UTC".into())));
            cmds.push(utc);
            // No target uses it, and it is the slowest: fewer runs.
            let mut as_is = cmd("tcpdump -nn (TZ as is)", p, &["-nn", "-r"], f, runs.min(3));
            as_is.env.push(("TZ".into(), None));
            cmds.push(as_is);
        }
        if let Some(p) = &tshark {
            let mut a: Vec<&str> = vec!["-n", "-T", "fields"];
            for field in TSHARK_FIELDS {
                a.extend(["-e", field]);
            }
            a.push("-r");
            let n = if i == 0 { runs.min(2) } else { 1 };
            cmds.push(cmd("tshark -T fields", p, &a, f, n));
        }
        rows.extend(measure(&runner, &cmds)?);
    }
    rows.extend(measure(&runner, &[text(&short, runs.min(3))])?);
    for (i, f) in flood_files.iter().enumerate() {
        rows.extend(measure(&runner, &flood_cmds(f, i == 0))?);
    }
    let mut targets = targets(&rows, &main_files, &ns, &ng, &short);
    targets.extend(flood_targets(&rows, &flood_files));
    finish(args, &rows, targets, runs)
}

/// Prints the tables and writes the JSON.
fn finish(args: &Args, rows: &[Row], targets: Vec<Target>, runs: usize) -> Result<(), String> {
    println!("{}", report::table(rows));
    println!("{}", report::targets_table(&targets));
    if let Some(path) = &args.json {
        let v = report::json(rows, &targets, runs);
        let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("bench: results written to {}", path.display());
    }
    Ok(())
}

/// Issue 14's targets on the SYN scan and the UDP flood: peak RSS under 64 MB, time within
/// 10× the libpcap floor.
fn flood_targets(rows: &[Row], floods: &[Capture]) -> Vec<Target> {
    let mut t = Vec::new();
    for f in floods {
        let l = &f.label;
        for c in [TEXT, JSONL] {
            let Some(r) = find(rows, l, c) else { continue };
            let mb = r.stats.max_rss as f64 / 1048576.0;
            t.push(Target {
                name: format!("{l}: {c} peak RSS MB"),
                value: mb,
                median: mb,
                limit: 64.0,
                at_least: false,
            });
            if let Some(floor) = find(rows, l, FLOOR) {
                let (value, median) = time_ratio(r, floor);
                t.push(Target {
                    name: format!("{l}: {c} time / libpcap floor"),
                    value,
                    median,
                    limit: 10.0,
                    at_least: false,
                });
            }
        }
    }
    t
}

/// The sockscope binary built beside this tool (target/release/sockscope).
fn sockscope_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot tell where the bench tool is")?;
    let p = dir.join("sockscope");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} is missing: run bench/run.sh (it builds it)",
            p.display()
        ))
    }
}

/// `program ARGS FILE`.
fn cmd(name: &str, program: &Path, args: &[&str], file: &Capture, runs: usize) -> Cmd {
    let mut a: Vec<OsString> = args.iter().map(OsString::from).collect();
    a.push(file.path.clone().into_os_string());
    Cmd {
        file: file.clone(),
        name: name.to_owned(),
        program: program.to_owned(),
        args: a,
        env: Vec::new(),
        runs,
    }
}

/// Times `cmds`, runs interleaved.
fn measure(runner: &Runner, cmds: &[Cmd]) -> Result<Vec<Row>, String> {
    let mut warmed: Vec<&Path> = Vec::new();
    for c in cmds {
        if !warmed.contains(&c.file.path.as_path()) {
            files::warm(&c.file.path);
            warmed.push(&c.file.path);
        }
    }
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cmds.len()];
    let most = cmds.iter().map(|c| c.runs).max().unwrap_or(0);
    for r in 0..most {
        for (c, s) in cmds.iter().zip(samples.iter_mut()) {
            if r < c.runs {
                let x = runner.run_once(c)?;
                eprintln!(
                    "bench: {:<16} {:<24} run {}: {:.3} s, {:.1} MB",
                    c.file.label,
                    c.name,
                    r + 1,
                    x.wall.as_secs_f64(),
                    x.max_rss as f64 / 1048576.0
                );
                s.push(x);
            }
        }
    }
    Ok(cmds
        .iter()
        .zip(samples)
        .filter_map(|(c, s)| {
            Stats::of(&s).map(|stats| Row {
                file: c.file.clone(),
                command: c.name.clone(),
                stats,
            })
        })
        .collect())
}

/// Issue 7's targets, on what was measured.
fn targets(
    rows: &[Row],
    main: &[Capture; 2],
    ns: &Capture,
    ng: &Capture,
    short: &Capture,
) -> Vec<Target> {
    let mut t = Vec::new();
    // A value from the fastest runs and from the median runs (see report::time_ratio).
    let mut add = |name: String, value: Option<(f64, f64)>, limit: f64, at_least: bool| {
        if let Some((value, median)) = value {
            t.push(Target {
                name,
                value,
                median,
                limit,
                at_least,
            });
        }
    };
    let mb = |bytes: u64| {
        let v = bytes as f64 / 1048576.0;
        Some((v, v))
    };
    const MB64: f64 = 64.0;
    for f in main {
        let l = &f.label;
        let text = find(rows, l, TEXT);
        let jsonl = find(rows, l, JSONL);
        let speed = |a: Option<&Row>, b: Option<&Row>| Some(time_ratio(b?, a?));
        let time = |a: Option<&Row>, b: Option<&Row>| Some(time_ratio(a?, b?));
        add(
            format!("{l}: text speed / tcpdump TZ=UTC"),
            speed(text, find(rows, l, TCPDUMP_UTC)),
            1.5,
            true,
        );
        add(
            format!("{l}: text time / libpcap floor"),
            time(text, find(rows, l, FLOOR)),
            3.0,
            false,
        );
        add(
            format!("{l}: jsonl time / text time"),
            time(jsonl, text),
            1.2,
            false,
        );
        add(
            format!("{l}: tshark time / text time"),
            time(find(rows, l, "tshark -T fields"), text),
            20.0,
            true,
        );
        for r in [text, jsonl].into_iter().flatten() {
            add(
                format!("{l}: {} peak RSS MB", r.command),
                mb(r.stats.max_rss),
                MB64,
                false,
            );
        }
    }
    for c in [TEXT, JSONL] {
        let rss = |f: &Capture| find(rows, &f.label, c).map(|r| r.stats.max_rss as f64);
        if let (Some(a), Some(b)) = (rss(&main[1]), rss(&main[0])) {
            add(
                format!("{c}: peak RSS {} / {}", main[1].label, main[0].label),
                Some((a / b, a / b)),
                1.10,
                false,
            );
        }
    }
    for v in [ns, ng] {
        for c in [TEXT, JSONL] {
            let row = |f: &Capture| find(rows, &f.label, c);
            if let (Some(a), Some(b)) = (row(v), row(&main[0])) {
                add(
                    format!(
                        "{c}: µs/packet {} / {} (5 % noise margin)",
                        v.label, main[0].label
                    ),
                    Some(time_ratio(a, b)),
                    1.05,
                    false,
                );
            }
        }
    }
    if let Some(r) = find(rows, &short.label, TEXT) {
        add(
            format!("{}: text peak RSS MB", short.label),
            mb(r.stats.max_rss),
            MB64,
            false,
        );
    }
    t
}

/// 1000000 → "1M", 500000 → "500k".
fn human(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}
