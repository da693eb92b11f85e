//! The live layer: a program's socket calls and its packets on one clock. A program runs over
//! loopback through a [`Tracer`] (every socket call is an [`Event`]) while libpcap captures
//! ([`capture`]); [`runner`] runs a [`Scenario`] and returns its [`RunData`]; [`model`] decodes
//! a run into conversations and directions with the replay analyser's numbers; [`checks`] are
//! what TCP and UDP must do, asserted on a run. Privileges are handled in one module
//! ([`privilege`]): the capture is opened, then everything else is given up.
//!
//! This layer knows no particular scenario (`crate::scenario` is written against it) and draws
//! nothing (`crate::render::run` renders a run). Saved runs ([`pcapng`], [`log`], [`embed`]) load without
//! root.

pub mod capture;
pub mod checks;
pub mod collect;
pub mod embed;
mod error;
pub mod event;
pub mod json;
pub mod log;
pub mod model;
pub mod mountns;
pub mod netns;
pub mod pcapng;
pub mod privilege;
pub mod runner;
mod spec;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod syscalls;
pub mod tcpstate;
pub mod tracer;
pub mod veth;

pub use capture::{CaptureStats, Captured, LiveCapture};
pub use checks::Check;
pub use error::LiveError;
pub use event::{Event, Role};
pub use model::{RunData, View};
pub use spec::Scenario;
pub use tracer::{GetOpt, Sock, SockOpt, Tracer};
