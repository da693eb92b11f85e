//! `sockscope replay FILE.pcapng` of a run that `run --save` or `trace --save` wrote: shown
//! again as the run it was (the three-lane timeline with its calls, the ladder, the facts, the
//! scenario's checks run again on the saved data), from the run carried inside the file
//! ([`crate::live::embed`]). Any other capture, and a replay with a filter or `--stream` (which
//! ask for packet lines), go to the packet timeline of [`crate::replay`].

use std::io::Write;
use std::path::Path;

use crate::exit::Status;
use crate::live::{pcapng, LiveError, RunData};
use crate::render::run::{report, ReportOptions};
use crate::replay::{Format, ReplayOptions};
use crate::scenario;

/// What the replay of a file should be.
#[derive(Debug)]
pub enum Outcome {
    /// The file held a run, shown; the status is the run's (a failed check gives
    /// [`Status::CheckFailed`], as `run` does).
    Shown(Status),
    /// Show the packet timeline. `problem`: the file says it holds a run that cannot be read
    /// (why, for stderr; the replay then ends with an error status).
    Packets { problem: Option<String> },
}

/// Shows `path` as a run when it is a saved one; else says to replay its packets.
pub fn replay(
    path: &Path,
    opts: &ReplayOptions,
    out: &mut dyn Write,
) -> Result<Outcome, LiveError> {
    let packets = Outcome::Packets { problem: None };
    if opts.filter.is_some() || opts.stream.is_some() || !pcapng::written_by_sockscope(path) {
        return Ok(packets);
    }
    let run = match pcapng::load_saved(path) {
        Ok(Some(run)) => run,
        Ok(None) => return Ok(packets),
        // A damaged file: the packet replay shows what it can and names the fault.
        Err(LiveError::File { .. }) => return Ok(packets),
        Err(e) => {
            return Ok(Outcome::Packets {
                problem: Some(format!(
                    "{}: {}: its packets are shown without the run",
                    path.display(),
                    crate::exit::error_chain(&e)
                )),
            })
        }
    };
    let (mut text, status) = render(&run, opts);
    if opts.format == Format::Jsonl {
        // The stream opens with its meta record, as every JSON Lines stream does.
        let mut meta = String::new();
        crate::render::jsonl::meta(&mut meta, "replay", Some(&path.to_string_lossy()));
        text.insert_str(0, &meta);
    }
    out.write_all(text.as_bytes()).map_err(LiveError::Write)?;
    out.flush().map_err(LiveError::Write)?;
    Ok(Outcome::Shown(status))
}

/// The scenario a saved run names: None for a traced program (`trace: …`), and for a name
/// this sockscope does not know (said on stderr).
fn scenario_of(run: &RunData) -> Option<&'static crate::live::Scenario> {
    if run.scenario.starts_with("trace:") {
        return None;
    }
    let sc = scenario::find(&run.scenario);
    if sc.is_none() {
        eprintln!(
            "sockscope: the saved run is of scenario '{}', which this sockscope does not have: \
             shown without its checks",
            crate::render::escape::controls(&run.scenario)
        );
    }
    sc
}

/// The run as `sockscope run` (or `trace`) showed it, in the format asked for, and the
/// status its checks give.
pub fn render(run: &RunData, opts: &ReplayOptions) -> (String, Status) {
    let sc = scenario_of(run);
    let checks = report::checks(run, sc);
    let status = if checks.iter().all(|c| c.ok) {
        Status::Success
    } else {
        Status::CheckFailed
    };
    let text = match opts.format {
        Format::Text => {
            let ro = ReportOptions {
                text: opts.text,
                explain: opts.explain,
                width: opts.width,
            };
            report::text(run, sc, &checks, &ro)
        }
        Format::Jsonl => report::jsonl(run, &checks),
    };
    (text, status)
}
