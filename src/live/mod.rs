//! Live runs: capture on loopback with libpcap while a scenario's socket program runs.
//! (Being built: see issue 5.)

use std::process::ExitCode;

use crate::cli::RunArgs;

/// `sockscope list`.
pub fn list() -> ExitCode {
    eprintln!("sockscope: no scenarios are built yet");
    ExitCode::from(2)
}

/// `sockscope run SCENARIO`.
pub fn run(args: &RunArgs) -> ExitCode {
    eprintln!(
        "sockscope: unknown scenario '{}' (no scenarios are built yet)",
        args.scenario
    );
    ExitCode::from(2)
}
