//! Errors of live runs. Each says what failed and, where there is one, what to do about it;
//! the cause, where there is one, is the error's `source()` (`main` prints the whole chain).

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Opening the capture was refused: no root and no CAP_NET_RAW.
    #[error("live capture needs CAP_NET_RAW: run with sudo, or grant it once with: sudo setcap cap_net_raw,cap_net_admin+eip {exe}")]
    NeedPrivilege { exe: String },
    /// No privilege, and no private namespace either: `why` says what refused it.
    #[error("{why}: run with sudo, or grant the capability once with: sudo setcap cap_net_raw,cap_net_admin+eip {exe}")]
    NoNamespace { why: String, exe: String },
    #[error(transparent)]
    Netns(super::netns::NetnsError),
    #[error("cannot capture on lo: {0}")]
    Capture(String),
    #[error(
        "giving up privileges (to run as uid {uid}, gid {gid}, no capabilities) failed: {what}; the scenario was not run"
    )]
    Privilege { uid: u32, gid: u32, what: String },
    /// SUDO_UID/SUDO_GID are half set or not numbers: no telling whom to drop to.
    #[error("{0}: cannot tell which user to run the scenario as, so it was not run (sudo sets SUDO_UID and SUDO_GID both)")]
    SudoUser(String),
    /// A traced socket call failed (the failure is also an event).
    #[error("{call}() failed")]
    Call {
        call: &'static str,
        source: io::Error,
    },
    /// The scenario's program went wrong in a way that is not one failed call.
    #[error("{0}")]
    Scenario(String),
    #[error("the scenario did not finish within {secs} s{why}")]
    Timeout { secs: u64, why: String },
    #[error("event log: {0}")]
    Events(String),
    #[error("{}", path.display())]
    File { path: PathBuf, source: io::Error },
    /// `--save FILE` (or `--svg`, `--html`: `flag`) cannot be honoured: `why` says why and
    /// what to do (checked before the run).
    #[error("{flag} {}: {why}", path.display())]
    Save {
        flag: &'static str,
        path: PathBuf,
        why: String,
    },
    /// Writing the report to standard output failed (a closed pipe is not an error: `main`
    /// exits 0 for it, as `| head` expects).
    #[error("writing the output failed")]
    Write(#[source] io::Error),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<super::netns::NetnsError> for LiveError {
    /// A refused namespace names the ways out (sudo, setcap on this binary); a failed setup
    /// keeps its cause.
    fn from(e: super::netns::NetnsError) -> LiveError {
        match e {
            super::netns::NetnsError::Refused { why } => LiveError::NoNamespace {
                why,
                exe: std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| "sockscope".into()),
            },
            e => LiveError::Netns(e),
        }
    }
}

impl LiveError {
    /// Wraps an I/O error with the file it concerns.
    pub fn file(path: &std::path::Path, source: io::Error) -> LiveError {
        LiveError::File {
            path: path.to_owned(),
            source,
        }
    }
}
