//! Pictures of a run, a traced program or a conversation of a capture: the ladder as a
//! standalone SVG ([`svg`]), and one self-contained HTML page ([`html`]) with the three-lane
//! timeline, the ladder inline, the checks and the explanation. Both are built from the
//! [`View`](crate::live::View) the text report uses, through the ladder rows of
//! [`crate::render::run::ladder_rows`]. Every text that comes from a capture or a program is
//! escaped ([`xml`]): the files are safe to open whatever the packets held.

pub mod html;
pub mod svg;
pub mod svg_lanes;
pub mod xml;

use std::fmt::Write;

use crate::live::event::{Event, Part};
use crate::live::model::{Dir, Pkt, View};
use crate::render::run::timeline::{packet_text, time_cell};
use crate::render::TimeMode;

/// Rows of a conversation drawn before its middle is cut…
pub const HEAD: usize = 150;
/// …and after.
pub const TAIL: usize = 50;

/// Seconds since the run's first packet or call, as the text report's time column shows them.
pub fn rel_time(v: &View, ns: i128) -> String {
    let t0 = v.run.t0().unwrap_or(ns);
    let mut s = String::new();
    time_cell(&mut s, TimeMode::Rel, ns, t0, t0);
    s
}

/// What hovering a packet shows: its frame, time, ends, the timeline's summary and the call
/// that caused it.
pub fn packet_detail(v: &View, p: &Pkt, cause: Option<usize>) -> String {
    let c = v.conns.get(p.conn);
    let (from, to) = match p.dir {
        Dir::ToServer => ("client", "server"),
        Dir::ToClient => ("server", "client"),
    };
    let mut s = format!(
        "frame {} at {} s\n{} → {} ({from} → {to}{})\n{}",
        p.index + 1,
        rel_time(v, p.ts),
        p.src,
        p.dst,
        c.map_or(String::new(), |_| format!(", conversation {}", p.conn)),
        packet_text(v, p).0
    );
    if let Some(a) = p.verdict() {
        if !a.states.is_empty() {
            s.push_str("\nstates: ");
            let mut t = String::new();
            crate::render::states::transitions(&mut t, &a.states, Some(p.dir == Dir::ToServer));
            s.push_str(&t);
        }
        if let Some(w) = &a.wait {
            s.push('\n');
            let mut t = String::new();
            crate::render::states::wait(&mut t, w);
            s.push_str(&t);
        }
    }
    match cause.and_then(|i| v.run.events.get(i)) {
        Some(e) => {
            let _ = write!(s, "\nsent after: {}", e.call_text(Part::Whole, 1));
        }
        None if !v.run.events.is_empty() => s.push_str("\nsent by the kernel on its own"),
        None => {}
    }
    s
}

/// What hovering a call shows: who made it, when, how long it took, and the call.
pub fn call_detail(v: &View, e: &Event) -> String {
    let mut s = format!("{} ({})", e.who, e.role.name());
    if e.pid != 0 {
        let _ = write!(s, ", pid {}", e.pid);
        if e.tid != 0 && e.tid != e.pid {
            let _ = write!(s, " tid {}", e.tid);
        }
    }
    let _ = write!(s, "\nat {} s", rel_time(v, e.start));
    if e.end > e.start {
        let _ = write!(
            s,
            ", returned after {}",
            crate::render::run::ladder_rows::duration(e.end - e.start)
        );
    }
    let _ = write!(s, "\n{}", e.call_text(Part::Whole, 1));
    if let Some(err) = &e.errno {
        let _ = write!(s, "\nfailed: {err}");
    }
    s
}
