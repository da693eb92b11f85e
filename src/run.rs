//! `sockscope list` and `sockscope run`: the command that picks scenarios from the catalogue
//! (`crate::scenario`), runs them on the live layer (`crate::live`) and prints their reports
//! (`crate::render::run`). It sits above all three, as `replay` sits above the file pipeline.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Instant;

use crate::cli::{FormatArg, RunArgs};
use crate::exit::{error_chain, Status};
use crate::live::{mountns, netns, veth};
use crate::live::{privilege, runner, Check, LiveCapture, LiveError, Scenario};
use crate::picture::{Pictures, Plans};
use crate::render::run::{report, ReportOptions};
use crate::render::Palette;
use crate::save::{Plan, Target};
use crate::scenario;

/// Set once Ctrl-C (or SIGTERM) arrived.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// The first of SIGINT or SIGTERM that arrived (0: none): the exit status is 128 + it.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The status of a run that a signal stopped: 130 for SIGINT, 143 for SIGTERM.
fn stopped() -> Status {
    Status::stopped_by(SIGNAL.load(Ordering::SeqCst))
}

/// `sockscope list`: the scenarios under their lessons, each with its summary, fitted to
/// COLUMNS or the terminal, else to 80 columns.
pub fn list(out: &mut dyn Write) -> Result<Status, LiveError> {
    let width = crate::cli::out_width(None).unwrap_or(80);
    write_out(out, &list_text(width))?;
    Ok(Status::Success)
}

/// The list at `width` columns: a lesson's title, then `  name  summary` lines, the summary
/// wrapped under itself.
pub fn list_text(width: usize) -> String {
    let name_w = scenario::all()
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    let mut lesson = "";
    for s in scenario::all() {
        if s.lesson != lesson {
            lesson = s.lesson;
            text.push_str(lesson);
            text.push('\n');
        }
        let lead = format!("  {:<name_w$}  ", s.name);
        let hang = name_w + 4;
        for l in crate::render::fit::hanging(&lead, s.summary, hang, width) {
            text.push_str(&l);
            text.push('\n');
        }
    }
    text
}

/// `sockscope run SCENARIO|all`: the report goes to `out`, notes to stderr.
pub fn run(args: &RunArgs, out: &mut dyn Write) -> Result<Status, LiveError> {
    let all = args.scenario.eq_ignore_ascii_case("all");
    let targets: Vec<&'static Scenario> = if all {
        scenario::all().iter().collect()
    } else {
        match scenario::find(&args.scenario) {
            Some(s) => vec![s],
            None => {
                let wanted = &args.scenario;
                return Err(LiveError::Scenario(match scenario::closest(wanted) {
                    Some(near) => format!(
                        "unknown scenario '{wanted}': did you mean '{near}'? (sockscope list shows them all)"
                    ),
                    None => {
                        let names: Vec<&str> = scenario::all().iter().map(|s| s.name).collect();
                        format!(
                            "unknown scenario '{wanted}': choose one of {}, or all (see sockscope list)",
                            names.join(", ")
                        )
                    }
                }));
            }
        }
    };
    if args.ladder && args.format == FormatArg::Jsonl {
        return Err(LiveError::Scenario(
            "--ladder draws text: leave out --format jsonl, or --ladder".into(),
        ));
    }
    if all && args.ladder {
        return Err(LiveError::Scenario(
            "--ladder needs one scenario, not all: sockscope run NAME --ladder".into(),
        ));
    }
    if all && (args.save.is_some() || args.svg.is_some() || args.html.is_some()) {
        return Err(LiveError::Scenario(
            "--save, --svg and --html need one scenario, not all".into(),
        ));
    }
    // The name, the folder and an existing file before anything runs.
    let plan = args
        .save
        .as_deref()
        .map(|p| Plan::check(p, args.force, args.format))
        .transpose()?;
    let pictures = Plans::check(args.svg.as_deref(), args.html.as_deref(), args.force)?;
    // Capabilities belong to a thread, and a user namespace can only be entered by a process
    // with one thread: both happen before any other thread exists.
    let device = targets.iter().find_map(|s| scenario::device(s));
    let mounts = targets.iter().find_map(|s| scenario::mounts(s));
    let own = device.is_some() || mounts.is_some();
    let (cap, private, no_device) =
        match open_capture(args.netns.as_deref(), args.buffer_size, device, own) {
            // `run all` where no private namespace can be made (root without CAP_SYS_ADMIN in a
            // container): the other scenarios still run on lo; the ones needing a device or
            // files of their own say why not.
            Err(e) if all && own && !netns::entered() => {
                let why = error_chain(&e);
                let (cap, private) =
                    open_capture(args.netns.as_deref(), args.buffer_size, None, false)?;
                (cap, private, Some(why))
            }
            r => {
                let (cap, private) = r?;
                (cap, private, None)
            }
        };
    // The files (the resolver's resolv.conf) in a private mount namespace, still single-threaded
    // and privileged; under `run all` a refusal stops only the scenario that needs them.
    let no_mounts = match mounts {
        None => None,
        Some(_) if no_device.is_some() => no_device.clone(),
        Some(m) => match mountns::enter(m, private) {
            Ok(()) => None,
            Err(e) if all => Some(error_chain(&LiveError::from(e))),
            Err(e) => return Err(e.into()),
        },
    };
    let (cap, extra) = cap;
    let how = How {
        private,
        identity: privilege::drop_privileges()?,
    };
    // Created by the user it will belong to, before the scenario starts.
    let target = plan.map(Plan::open).transpose()?;
    let pictures = pictures.open()?;
    catch_signals()?;
    if all {
        run_all(args, &targets, (cap, extra, no_device, no_mounts), how, out)
    } else {
        run_one(args, targets[0], (cap, extra), how, (target, pictures), out)
    }
}

/// How the runs are made: in a private namespace or not, and what became of the privileges.
#[derive(Clone, Copy)]
struct How {
    private: bool,
    identity: privilege::Identity,
}

impl How {
    fn apply(self, run: &mut crate::live::RunData) {
        run.private_netns = self.private;
        run.identity = Some(self.identity);
    }
}

/// The `meta` record that opens the JSON Lines stream of `sockscope run`.
fn meta() -> String {
    let mut s = String::new();
    crate::render::jsonl::meta(&mut s, "run", None);
    s
}

/// Opens the capture on the host's `lo` when this process may (root, or CAP_NET_RAW); else in a
/// private user and network namespace (true), where it may; in the named one when asked. The
/// ring holds `kib` KiB (`-B`), else the default. When a scenario needs a `device` besides lo,
/// the run is always in a private namespace (a named one, or a new one even for root: no
/// interface is added to the host), the device is made there, and a second capture opens on it.
/// When `own` (a scenario needs a device or files of its own), the run is in a private
/// namespace too.
fn open_capture(
    named: Option<&str>,
    kib: Option<u32>,
    device: Option<&veth::Device>,
    own: bool,
) -> Result<((LiveCapture, Option<LiveCapture>), bool), LiveError> {
    let with_device = |cap: LiveCapture, joined: bool| -> Result<_, LiveError> {
        let Some(dev) = device else {
            return Ok((cap, None));
        };
        match veth::create(dev, true) {
            Ok(()) => {}
            // Another sockscope in the same named namespace made it.
            Err(netns::NetnsError::Setup { source, .. })
                if joined && source.raw_os_error() == Some(nix::libc::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        Ok((cap, Some(LiveCapture::open_device(dev, kib)?)))
    };
    if let Some(name) = named {
        let joined = netns::enter_named(name)?;
        return Ok((with_device(LiveCapture::open_sized(kib)?, joined)?, true));
    }
    if device.is_some() || own {
        netns::enter_private()?;
        return Ok((with_device(LiveCapture::open_sized(kib)?, false)?, true));
    }
    match LiveCapture::open_sized(kib) {
        Ok(cap) => Ok(((cap, None), false)),
        Err(LiveError::NeedPrivilege { .. }) => {
            netns::enter_private()?;
            Ok(((LiveCapture::open_sized(kib)?, None), true))
        }
        Err(e) => Err(e),
    }
}

/// Blocks SIGINT and SIGTERM in every thread and waits for them in one: the first stops the
/// run in progress (which then saves and prints what it has; a run about to start stops at
/// once, one whose program has ended is finished and shown); a second exits at once.
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
            if let Ok(sig) = set.wait() {
                let _ = SIGNAL.compare_exchange(0, sig as i32, Ordering::SeqCst, Ordering::SeqCst);
                let again = STOPPING.swap(true, Ordering::SeqCst);
                if again {
                    crate::save::discard_pending();
                    eprintln!("sockscope: {sig} again: stopping without a report");
                    std::process::exit(Status::stopped_by(sig as i32).code() as i32);
                }
                runner::interrupt();
            }
        })?;
    Ok(())
}

fn report_options(args: &RunArgs) -> ReportOptions {
    ReportOptions {
        text: args.text_options(),
        explain: args.explain,
        width: args.width(),
    }
}

fn run_one(
    args: &RunArgs,
    sc: &'static Scenario,
    (cap, extra): (LiveCapture, Option<LiveCapture>),
    how: How,
    (target, pictures): (Option<Target>, Pictures),
    out: &mut dyn Write,
) -> Result<Status, LiveError> {
    let (cap, extra, r) = runner::run_scenario_on(sc, cap, extra, runner::LIMIT);
    // Closing the capture takes a while on lo; let it happen while we print.
    let closer = std::thread::spawn(move || drop((cap, extra)));
    let mut run = r?;
    how.apply(&mut run);
    let checks = report::checks(&run, Some(sc));
    let text = match args.format {
        FormatArg::Text if args.ladder => {
            report::ladder_text(&run, Some(sc), &checks, &report_options(args), args.ascii)
        }
        FormatArg::Text => report::text(&run, Some(sc), &checks, &report_options(args)),
        FormatArg::Jsonl => meta() + &report::jsonl(&run, &checks),
    };
    // The capture is saved even when the report cannot be written; a closed pipe (`| head`)
    // keeps the run's status. With `--save -` stdout carries the capture, not the report.
    let written = match &target {
        Some(t) if t.to_stdout() => {
            eprintln!("sockscope: {}", verdict(sc, &run, &checks));
            Ok(())
        }
        _ => write_out(out, &text),
    };
    // The text report carries the warning; other outputs get it on stderr.
    let shown = args.format == FormatArg::Text && !target.as_ref().is_some_and(|t| t.to_stdout());
    if let Some(w) = report::drop_warning(&run).filter(|_| !shown) {
        eprintln!("sockscope: {w}");
    }
    if let Some(t) = target {
        t.finish(&run, out)?;
    }
    pictures.finish(&run, Some(sc), &checks)?;
    let _ = closer.join();
    written?;
    // A signal after the program ended: the run was shown whole, the status still says it.
    Ok(if run.interrupted || STOPPING.load(Ordering::SeqCst) {
        stopped()
    } else if checks.iter().all(|c| c.ok) {
        Status::Success
    } else {
        Status::CheckFailed
    })
}

fn run_all(
    args: &RunArgs,
    targets: &[&'static Scenario],
    (cap, mut extra, no_device, no_mounts): (
        LiveCapture,
        Option<LiveCapture>,
        Option<String>,
        Option<String>,
    ),
    how: How,
    out: &mut dyn Write,
) -> Result<Status, LiveError> {
    let pal = Palette {
        on: args.text_options().color,
    };
    let mut cap = Some(cap);
    let mut failed = false;
    let mut errors = false;
    if args.format == FormatArg::Jsonl {
        write_out(out, &meta())?;
    }
    for sc in targets {
        if PIPE_CLOSED.load(Ordering::Relaxed) {
            break;
        }
        if STOPPING.load(Ordering::SeqCst) {
            eprintln!("sockscope: interrupted before {}", sc.name);
            return Ok(stopped());
        }
        let Some(c) = cap.take() else {
            return Err(LiveError::Capture(
                "the capture failed in an earlier scenario".into(),
            ));
        };
        let started = Instant::now();
        // The extra device's capture goes only to the scenario that needs it.
        let x = scenario::device(sc).and_then(|_| extra.take());
        if let (Some(d), None) = (scenario::device(sc), &x) {
            cap = Some(c);
            errors = true;
            let why = format!(
                "needs its {} (a veth pair) in a private network namespace, which could not be made{}",
                d.name,
                no_device.as_deref().map(|w| format!(": {w}")).unwrap_or_default()
            );
            if args.format == FormatArg::Jsonl {
                eprintln!("sockscope: {}: {why}", sc.name);
            } else {
                let mut line = String::new();
                pal.paint(&mut line, Palette::RED, "✗");
                line.push_str(&format!(" {:<10} error: {why}\n", sc.name));
                write_out(out, &line)?;
            }
            continue;
        }
        if let (Some(_), Some(w)) = (scenario::mounts(sc), &no_mounts) {
            cap = Some(c);
            errors = true;
            let why = format!(
                "needs files of its own (resolv.conf) in a private mount and network namespace, which could not be made: {w}"
            );
            if args.format == FormatArg::Jsonl {
                eprintln!("sockscope: {}: {why}", sc.name);
            } else {
                let mut line = String::new();
                pal.paint(&mut line, Palette::RED, "✗");
                line.push_str(&format!(" {:<10} error: {why}\n", sc.name));
                write_out(out, &line)?;
            }
            continue;
        }
        let (c, x, r) = runner::run_scenario_on(sc, c, x, runner::LIMIT);
        cap = c;
        extra = extra.or(x);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut line = String::new();
        match r {
            Ok(mut run) => {
                how.apply(&mut run);
                if run.interrupted {
                    eprintln!("sockscope: interrupted during {}", sc.name);
                    return Ok(stopped());
                }
                let checks = report::checks(&run, Some(sc));
                let bad: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
                if args.format == FormatArg::Jsonl {
                    write_out(out, &report::jsonl(&run, &checks))?;
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
                        &format!(
                            "  ({} packets dropped by the capture: a larger -B/--buffer-size keeps them)",
                            run.stats.dropped
                        ),
                    );
                }
                for c in bad {
                    let text = format!("{} ({})", c.what, c.detail);
                    let lines = match args.width() {
                        Some(w) => crate::render::fit::hanging("    ✗ ", &text, 6, w),
                        None => vec![format!("    ✗ {text}")],
                    };
                    for l in lines {
                        line.push('\n');
                        line.push_str(&l);
                    }
                }
            }
            Err(e) => {
                errors = true;
                if args.format == FormatArg::Jsonl {
                    // Not a line of the JSON stream: the error goes to stderr.
                    eprintln!("sockscope: {}: {}", sc.name, error_chain(&e));
                    continue;
                }
                pal.paint(&mut line, Palette::RED, "✗");
                line.push_str(&format!(" {:<10} error: {}", sc.name, error_chain(&e)));
            }
        }
        line.push('\n');
        write_out(out, &line)?;
    }
    Ok(if STOPPING.load(Ordering::SeqCst) {
        stopped()
    } else if errors {
        Status::Error
    } else if failed {
        Status::CheckFailed
    } else {
        Status::Success
    })
}

/// One line for a run whose report is not shown: its checks, counted.
fn verdict(sc: &Scenario, run: &crate::live::RunData, checks: &[Check]) -> String {
    if run.interrupted {
        return format!("{}: interrupted, not checked", sc.name);
    }
    let bad: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("; ✗ {} ({})", c.what, c.detail))
        .collect();
    format!(
        "{}: {} of {} checks passed{}",
        sc.name,
        checks.len() - bad.len(),
        checks.len(),
        bad.concat()
    )
}

/// Writes `text` to `out` and flushes it, so the report appears before notes on stderr. A
/// closed pipe (`| head`) is not an error: the reader has what it wanted, and the run's status
/// stands. Nothing more is written after it.
pub(crate) fn write_out(out: &mut dyn Write, text: &str) -> Result<(), LiveError> {
    if PIPE_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            PIPE_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        r => r.map_err(LiveError::Write),
    }
}

/// Set once stdout's reader has gone.
static PIPE_CLOSED: AtomicBool = AtomicBool::new(false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_fits_80_columns_and_names_every_scenario() {
        let text = list_text(80);
        for l in text.lines() {
            assert!(crate::render::width(l) <= 80, "{l}");
        }
        for s in scenario::all() {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("  {} ", s.name))),
                "{}",
                s.name
            );
            assert!(text.lines().any(|l| l == s.lesson), "{}", s.lesson);
        }
        // Wider, each scenario is one line.
        let wide = list_text(200);
        let lessons: std::collections::BTreeSet<&str> =
            scenario::all().iter().map(|s| s.lesson).collect();
        assert_eq!(wide.lines().count(), scenario::all().len() + lessons.len());
    }
}
