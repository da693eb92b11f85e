//! Exit statuses: one table for every command, shown in `--help` and the README.

use std::process::ExitCode;

/// How a command ended when it did not fail with an error (errors exit with [`ERROR`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything ran; every self-check passed.
    Success,
    /// A self-check of a live run, or of a saved run replayed, failed.
    CheckFailed,
    /// Stopped by Ctrl-C (SIGINT); what was seen until then was shown.
    Interrupted,
    /// Stopped by SIGTERM; what was seen until then was shown.
    Terminated,
    /// Some part failed with an error that was reported (e.g. one scenario of `run all`) while
    /// the rest went on.
    Error,
    /// `trace`: the traced program's own exit status (128 + N for a signal, as a shell gives
    /// it; 127 when it cannot be run; 124 when `--timeout` killed it).
    Exit(u8),
}

pub const SUCCESS: u8 = 0;
pub const CHECK_FAILED: u8 = 1;
/// Bad usage or input, or any other error (clap uses 2 for usage errors too).
pub const ERROR: u8 = 2;
/// As shells report SIGINT (128 + 2).
pub const INTERRUPTED: u8 = 130;
/// As shells report SIGTERM (128 + 15).
pub const TERMINATED: u8 = 143;

/// The table as `--help` shows it.
pub const TABLE: &str = "\
Exit status:
  0    ok
  1    a self-check of a live run (or of a saved one, replayed) failed
  2    bad usage or input, or another error (one line on stderr says which and what to do)
  130  interrupted (Ctrl-C, SIGINT); what was seen until then is shown (and saved)
  143  stopped by SIGTERM; what was seen until then is shown (and saved)
trace exits with the traced program's status (128+N for signal N, 127 when it cannot be run,
124 when --timeout ended it), or 2 for its own errors.";

/// An error and its causes as one line, `a: b: c`, as `main` prints one (`{:#}`).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl Status {
    pub fn code(self) -> u8 {
        match self {
            Status::Success => SUCCESS,
            Status::CheckFailed => CHECK_FAILED,
            Status::Interrupted => INTERRUPTED,
            Status::Terminated => TERMINATED,
            Status::Error => ERROR,
            Status::Exit(c) => c,
        }
    }
}

impl Status {
    /// The status for a run stopped by signal `sig` (SIGTERM: 143; anything else: 130).
    pub fn stopped_by(sig: i32) -> Status {
        if sig == nix::libc::SIGTERM {
            Status::Terminated
        } else {
            Status::Interrupted
        }
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_code() {
        for c in [SUCCESS, CHECK_FAILED, ERROR, INTERRUPTED, TERMINATED] {
            assert!(
                TABLE
                    .lines()
                    .any(|l| l.trim_start().starts_with(&c.to_string())),
                "{c} missing from the table"
            );
        }
        assert_eq!(Status::CheckFailed.code(), 1);
        assert_eq!(Status::Interrupted.code(), 130);
        assert_eq!(Status::stopped_by(nix::libc::SIGTERM).code(), 143);
        assert_eq!(Status::stopped_by(nix::libc::SIGINT).code(), 130);
    }
}
