//! sockscope: shows what socket programs put on the wire.
//!
//! Pipeline: `source (file | live) → decode → analyse → render`. Each stage passes plain data
//! to the next. Only the live layer (`live`: capture, tracer, privileges) and the scenarios
//! written against it touch sockets or privileges; `replay` and `run` are the commands on top.

pub mod analyse;
pub mod cli;
pub mod compare;
pub mod decode;
pub mod exit;
pub mod filter;
pub mod follow;
pub mod ladder;
pub mod live;
pub mod picture;
pub mod render;
pub mod replay;
pub mod replay_run;
pub mod run;
pub mod save;
pub mod scenario;
pub mod source;
pub mod synth;
pub mod trace;
