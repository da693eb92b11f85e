//! Live runs: a scenario's socket program runs over loopback while libpcap captures it; its
//! calls (events) and the packets are shown as one timeline, a ladder, and self-checks.
//!
//! Capturing ([`capture`], [`runner`], [`tracer`], [`privilege`]) is apart from rendering
//! ([`report`], [`timeline`], [`ladder`], [`checks`]), which are pure functions of a
//! [`RunData`]: a saved run ([`pcapng::load`]) renders the same without root.

pub mod capture;
pub mod checks;
pub mod collect;
mod error;
pub mod event;
pub mod json;
pub mod ladder;
pub mod model;
pub mod pcapng;
pub mod privilege;
pub mod report;
pub mod runner;
pub mod tcpstate;
pub mod timeline;
pub mod tracer;

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub use capture::{CaptureStats, Captured, LiveCapture};
pub use checks::Check;
pub use error::LiveError;
pub use event::{Event, Role};
pub use model::{RunData, View};
pub use report::ReportOptions;
pub use tracer::{GetOpt, Sock, SockOpt, Tracer};

use crate::cli::{FormatArg, RunArgs};
use crate::render::Palette;
use crate::scenario::{self, Scenario};

/// Exit status when a self-check failed.
const CHECK_FAILED: u8 = 1;
/// Exit status for errors (bad scenario name, no privilege, capture or scenario failure).
const ERROR: u8 = 2;
/// Exit status after Ctrl-C, as shells report SIGINT.
const INTERRUPTED: u8 = 130;

/// Set once Ctrl-C (or SIGTERM) arrived.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// `sockscope list`: one line per scenario.
pub fn list() -> ExitCode {
    let mut out = String::new();
    for s in scenario::all() {
        out.push_str(&format!("{:<10} {:<24} {}\n", s.name, s.lesson, s.summary));
    }
    print_out(&out);
    ExitCode::SUCCESS
}

/// `sockscope run SCENARIO|all`.
pub fn run(args: &RunArgs) -> ExitCode {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sockscope: {e}");
            ExitCode::from(ERROR)
        }
    }
}

fn run_inner(args: &RunArgs) -> Result<ExitCode, LiveError> {
    let all = args.scenario == "all";
    let targets: Vec<&'static Scenario> = if all {
        scenario::all().iter().collect()
    } else {
        match scenario::find(&args.scenario) {
            Some(s) => vec![s],
            None => {
                let names: Vec<&str> = scenario::all().iter().map(|s| s.name).collect();
                return Err(LiveError::Scenario(format!(
                    "unknown scenario '{}': choose one of {}, or all (see sockscope list)",
                    args.scenario,
                    names.join(", ")
                )));
            }
        }
    };
    if all && args.save.is_some() {
        return Err(LiveError::Scenario(
            "--save needs one scenario, not all".into(),
        ));
    }
    catch_signals()?;
    let cap = LiveCapture::open()?;
    privilege::drop_to_invoking_user()?;
    if all {
        run_all(args, &targets, cap)
    } else {
        run_one(args, targets[0], cap)
    }
}

/// Blocks SIGINT and SIGTERM in every thread and waits for them in one: the first stops the
/// run in progress (which then saves and prints what it has); a second, or one outside a run,
/// exits at once.
fn catch_signals() -> Result<(), LiveError> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()
        .map_err(|e| LiveError::Scenario(format!("blocking SIGINT: {e}")))?;
    std::thread::Builder::new()
        .name("sockscope-signals".into())
        .spawn(move || loop {
            if set.wait().is_ok() {
                let again = STOPPING.swap(true, Ordering::SeqCst);
                if again || !runner::interrupt() {
                    eprintln!("sockscope: interrupted");
                    std::process::exit(INTERRUPTED as i32);
                }
            }
        })?;
    Ok(())
}

fn report_options(args: &RunArgs) -> ReportOptions {
    ReportOptions {
        text: args.text_options(),
        explain: args.explain,
    }
}

fn run_one(args: &RunArgs, sc: &'static Scenario, cap: LiveCapture) -> Result<ExitCode, LiveError> {
    let (cap, r) = runner::run_scenario(sc, cap, runner::LIMIT);
    // Closing the capture takes a while on lo; let it happen while we print.
    let closer = std::thread::spawn(move || drop(cap));
    let run = r?;
    let checks = report::checks(&run, Some(sc));
    let out = match args.format {
        FormatArg::Text => report::text(&run, Some(sc), &checks, &report_options(args)),
        FormatArg::Jsonl => report::jsonl(&run, &checks),
    };
    print_out(&out);
    if let Some(path) = &args.save {
        let log = pcapng::save(path, &run)?;
        eprintln!(
            "sockscope: saved {} packets to {} and {} events to {}",
            run.packets.len(),
            path.display(),
            run.events.len(),
            log.display()
        );
    }
    let _ = closer.join();
    Ok(if run.interrupted {
        ExitCode::from(INTERRUPTED)
    } else if checks.iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(CHECK_FAILED)
    })
}

fn run_all(
    args: &RunArgs,
    targets: &[&'static Scenario],
    cap: LiveCapture,
) -> Result<ExitCode, LiveError> {
    let pal = Palette {
        on: args.text_options().color,
    };
    let mut cap = Some(cap);
    let mut failed = false;
    for sc in targets {
        let Some(c) = cap.take() else {
            return Err(LiveError::Capture(
                "the capture failed in an earlier scenario".into(),
            ));
        };
        let started = Instant::now();
        let (c, r) = runner::run_scenario(sc, c, runner::LIMIT);
        cap = c;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut line = String::new();
        match r {
            Ok(run) => {
                if run.interrupted {
                    eprintln!("sockscope: interrupted during {}", sc.name);
                    return Ok(ExitCode::from(INTERRUPTED));
                }
                let checks = report::checks(&run, Some(sc));
                let bad: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
                if args.format == FormatArg::Jsonl {
                    print_out(&report::jsonl(&run, &checks));
                    failed |= !bad.is_empty();
                    continue;
                }
                if bad.is_empty() {
                    pal.paint(&mut line, Palette::GREEN, "✓");
                } else {
                    pal.paint(&mut line, Palette::RED, "✗");
                    failed = true;
                }
                line.push_str(&format!(
                    " {:<10} {:>4} packets  {:>2} of {} checks passed  {:>6.1} ms",
                    sc.name,
                    run.packets.len(),
                    checks.len() - bad.len(),
                    checks.len(),
                    ms
                ));
                if run.stats.dropped > 0 {
                    pal.paint(
                        &mut line,
                        Palette::RED,
                        &format!("  ({} packets dropped by the capture)", run.stats.dropped),
                    );
                }
                for c in bad {
                    line.push_str(&format!("\n    ✗ {} ({})", c.what, c.detail));
                }
            }
            Err(e) => {
                failed = true;
                pal.paint(&mut line, Palette::RED, "✗");
                line.push_str(&format!(" {:<10} error: {e}", sc.name));
            }
        }
        line.push('\n');
        print_out(&line);
    }
    Ok(if failed {
        ExitCode::from(CHECK_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn print_out(s: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(s.as_bytes()).and_then(|()| out.flush());
}
