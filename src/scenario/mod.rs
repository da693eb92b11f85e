//! Scenarios: small socket programs written as the classic texts write them, run over loopback
//! with real kernel sockets, each with the self-checks its packets must pass.
//!
//! A scenario is three functions: `run` (the program, through a [`Tracer`] so every call is an
//! event), `checks` (what must hold on the captured packets and events) and `facts` (numbers
//! worth showing that are not pass/fail). `checks` and `facts` are pure, so saved runs are
//! checked and rendered without root.
//!
//! A scenario is one file, or for the larger ones a folder: `mod.rs` (the docs, the
//! [`Scenario`] and its explanation), `program.rs` (`run`: every socket call it teaches),
//! `checks.rs`, `facts.rs`, and helpers under plain names (`fork/sys.rs`, `dns/wire.rs`…).

mod addr;
mod anyaddr;
mod backlog;
mod broadcast;
mod buffers;
mod data;
mod dns;
mod eintr;
mod epoll;
mod fork;
mod halfclose;
mod handshake;
mod hello;
mod iosplit;
mod ipv6;
mod keepalive;
mod lastack;
mod linger;
mod multicast;
mod nagle;
mod oob;
mod peek;
mod proto;
mod reset;
mod resolver;
mod retransmit;
mod select;
mod sockopt;
mod stdio;
mod stream;
mod teardown;
mod threads;
mod timewait;
mod udp;
mod udperr;
mod writev;

mod harness;

pub use crate::live::Scenario;
pub use harness::{any_port, bound, gate, no_facts, read_exactly, Gate, Meeting, Peer, Waiter};

/// Every scenario, in lesson order.
pub fn all() -> &'static [Scenario] {
    &SCENARIOS
}

static SCENARIOS: [Scenario; 36] = [
    hello::SCENARIO,
    handshake::SCENARIO,
    backlog::SCENARIO,
    addr::SCENARIO,
    ipv6::SCENARIO,
    anyaddr::SCENARIO,
    data::SCENARIO,
    stream::SCENARIO,
    proto::SCENARIO,
    retransmit::SCENARIO,
    teardown::SCENARIO,
    halfclose::SCENARIO,
    timewait::SCENARIO,
    reset::SCENARIO,
    linger::SCENARIO,
    lastack::SCENARIO,
    nagle::SCENARIO,
    stdio::SCENARIO,
    udp::SCENARIO,
    udperr::SCENARIO,
    broadcast::SCENARIO,
    multicast::SCENARIO,
    buffers::SCENARIO,
    sockopt::SCENARIO,
    keepalive::SCENARIO,
    fork::SCENARIO,
    iosplit::SCENARIO,
    eintr::SCENARIO,
    dns::SCENARIO,
    resolver::SCENARIO,
    select::SCENARIO,
    epoll::SCENARIO,
    writev::SCENARIO,
    peek::SCENARIO,
    oob::SCENARIO,
    threads::SCENARIO,
];

/// The scenario called `name`, in any case (`Handshake` is `handshake`).
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// The two conversations of a run of `sc` that its report compares as `sockscope compare`
/// does (A, then B: their index in the view and what each is), for a scenario that names two.
pub fn compared(sc: &Scenario, v: &crate::live::View) -> Option<[(usize, &'static str); 2]> {
    match sc.name {
        "nagle" => nagle::compared(v),
        _ => None,
    }
}

/// The interface scenario `sc` needs besides lo, if any: the runner makes it in a private
/// network namespace, before the capture opens, and captures on it too.
pub fn device(sc: &Scenario) -> Option<&'static crate::live::veth::Device> {
    match sc.name {
        "multicast" => Some(&multicast::DEVICE),
        _ => None,
    }
}

/// The files scenario `sc` needs over the system's (and the port setting), if any: the runner
/// makes them in a private mount namespace, inside a private network namespace, before the
/// capture opens.
pub fn mounts(sc: &Scenario) -> Option<&'static crate::live::mountns::Mounts> {
    match sc.name {
        "resolver" => Some(&resolver::MOUNTS),
        _ => None,
    }
}

/// Whether scenario `sc` needs namespaces of its own that `sockscope run` makes (a device, or
/// files), and so cannot run in a process that did not make them.
pub fn private(sc: &Scenario) -> bool {
    device(sc).is_some() || mounts(sc).is_some()
}

/// The scenario name closest to a mistyped one (`handshak` → `handshake`), when one is close
/// enough to be what was meant: as clap and cargo do, by Jaro-Winkler similarity.
pub fn closest(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    SCENARIOS
        .iter()
        .map(|s| (strsim::jaro_winkler(&name, s.name), s.name))
        .filter(|&(score, _)| score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

/// The committed saved run of scenario `name` (`captures/NAME.pcapng`, its calls inside), for
/// the scenarios' unit tests that alter it and see their checks fail.
#[cfg(test)]
pub(crate) fn saved_run(name: &str) -> crate::live::RunData {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(format!("{name}.pcapng"));
    crate::live::pcapng::load_saved(&path)
        .unwrap_or_else(|e| panic!("the saved {name} run: {e}"))
        .unwrap_or_else(|| panic!("no run inside captures/{name}.pcapng"))
}

/// What the failed checks of a list say (their `what`), in order.
#[cfg(test)]
pub(crate) fn failing(checks: Vec<crate::live::checks::Check>) -> Vec<String> {
    checks
        .into_iter()
        .filter(|c| !c.ok)
        .map(|c| c.what)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_in_any_case_and_near_misses_suggested() {
        assert_eq!(find("Handshake").map(|s| s.name), Some("handshake"));
        assert_eq!(find("UDP").map(|s| s.name), Some("udp"));
        assert!(find("handshak").is_none());
        assert_eq!(closest("handshak"), Some("handshake"));
        assert_eq!(closest("timewiat"), Some("timewait"));
        assert_eq!(closest("half-close"), Some("halfclose"));
        assert_eq!(closest("Nagel"), Some("nagle"));
        assert_eq!(closest("zzzzzz"), None);
    }

    #[test]
    fn names_are_unique_and_described() {
        let mut names: Vec<&str> = all().iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all().len());
        for s in all() {
            assert!(!s.summary.is_empty() && !s.explain.is_empty() && !s.lesson.is_empty());
            assert!(find(s.name).is_some());
        }
        assert!(find("nope").is_none());
    }
}
