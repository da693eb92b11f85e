//! The results: one row per (file, command), the table, the targets and the JSON.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use serde_json::{json, Value};

use crate::files::Capture;
use crate::measure::Stats;

/// Names of the commands the ratios are taken against.
pub const TCPDUMP_UTC: &str = "tcpdump -nn TZ=UTC";
pub const FLOOR: &str = "libpcap floor";
pub const TEXT: &str = "sockscope text";
pub const JSONL: &str = "sockscope jsonl";

/// One command's timings on one file.
#[derive(Debug, Clone)]
pub struct Row {
    pub file: Capture,
    pub command: String,
    pub stats: Stats,
}

impl Row {
    pub fn seconds(&self) -> f64 {
        self.stats.median.as_secs_f64()
    }

    pub fn packets_per_sec(&self) -> f64 {
        self.file.packets as f64 / self.seconds().max(1e-9)
    }

    pub fn us_per_packet(&self) -> f64 {
        self.seconds() * 1e6 / self.file.packets.max(1) as f64
    }
}

/// The row of `command` on the file labelled `file`.
pub fn find<'a>(rows: &'a [Row], file: &str, command: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.file.label == file && r.command == command)
}

/// Time per packet of `a` over that of `b`, twice: from each command's fastest run, and from
/// their median runs. The noise of a shared machine only ever slows a run down, so the
/// fastest of several runs is the least disturbed measure of a command's own cost; the
/// targets are judged on it, and the median ratio is shown beside it.
pub fn time_ratio(a: &Row, b: &Row) -> (f64, f64) {
    let per_packet = b.file.packets.max(1) as f64 / a.file.packets.max(1) as f64;
    let ratio = |x: f64, y: f64| x / y.max(1e-9) * per_packet;
    (
        ratio(a.stats.min.as_secs_f64(), b.stats.min.as_secs_f64()),
        ratio(a.seconds(), b.seconds()),
    )
}

/// Speed relative to tcpdump TZ=UTC on the same file (higher is faster), and time relative to
/// the libpcap floor (lower is better), from the median runs.
fn ratios(rows: &[Row], r: &Row) -> (Option<f64>, Option<f64>) {
    let td = find(rows, &r.file.label, TCPDUMP_UTC).map(|t| time_ratio(t, r).1);
    let fl = find(rows, &r.file.label, FLOOR).map(|f| time_ratio(r, f).1);
    (td, fl)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The results table.
pub fn table(rows: &[Row]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "file",
        "command",
        "runs",
        "median s",
        "spread s",
        "packets/s",
        "µs/packet",
        "× tcpdump TZ=UTC speed",
        "× floor time",
        "peak RSS MB",
    ]);
    for r in rows {
        let (td, fl) = ratios(rows, r);
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        t.add_row(vec![
            r.file.label.clone(),
            r.command.clone(),
            r.stats.runs.to_string(),
            format!("{:.3}", r.seconds()),
            format!(
                "{:.3}–{:.3}",
                r.stats.min.as_secs_f64(),
                r.stats.max.as_secs_f64()
            ),
            format!("{:.0}", r.packets_per_sec()),
            format!("{:.3}", r.us_per_packet()),
            opt(td),
            opt(fl),
            format!("{:.1}", mb(r.stats.max_rss)),
        ]);
    }
    for i in 2..10 {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

/// One target of the issue, checked on the measured rows.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// From the fastest runs (what the verdict is on); see [`time_ratio`].
    pub value: f64,
    /// The same from the median runs.
    pub median: f64,
    pub limit: f64,
    /// The value must be at least (true) or at most (false) the limit.
    pub at_least: bool,
}

impl Target {
    pub fn pass(&self) -> bool {
        if self.at_least {
            self.value >= self.limit
        } else {
            self.value <= self.limit
        }
    }
}

/// The targets table.
pub fn targets_table(targets: &[Target]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec!["target", "fastest runs", "median runs", "limit", ""]);
    for g in targets {
        t.add_row(vec![
            g.name.clone(),
            format!("{:.2}", g.value),
            format!("{:.2}", g.median),
            format!("{} {:.2}", if g.at_least { "≥" } else { "≤" }, g.limit),
            if g.pass() { "ok" } else { "MISSED" }.to_owned(),
        ]);
    }
    t
}

/// Everything as JSON, for later comparison.
pub fn json(rows: &[Row], targets: &[Target], runs: usize) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let (td, fl) = ratios(rows, r);
            json!({
                "file": r.file.label,
                "path": r.file.path.display().to_string(),
                "packets": r.file.packets,
                "bytes": r.file.bytes,
                "command": r.command,
                "runs": r.stats.runs,
                "median_s": r.seconds(),
                "min_s": r.stats.min.as_secs_f64(),
                "max_s": r.stats.max.as_secs_f64(),
                "runs_s": r.stats.walls.iter().map(|w| w.as_secs_f64()).collect::<Vec<_>>(),
                "cpu_median_s": r.stats.cpu.as_secs_f64(),
                "packets_per_s": r.packets_per_sec(),
                "us_per_packet": r.us_per_packet(),
                "speed_vs_tcpdump_utc": td,
                "time_vs_floor": fl,
                "peak_rss_bytes": r.stats.max_rss,
            })
        })
        .collect();
    let targets: Vec<Value> = targets
        .iter()
        .map(|g| {
            json!({
                "target": g.name,
                "value": g.value,
                "value_from_medians": g.median,
                "limit": g.limit,
                "at_least": g.at_least,
                "pass": g.pass(),
            })
        })
        .collect();
    json!({
        "tool": "sockscope bench",
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "runs": runs,
        "rows": rows,
        "targets": targets,
    })
}
