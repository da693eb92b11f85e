//! Runs one scenario live: its program in a thread (which may fork), the capture started when
//! the program has bound its ports, the stop once every connection has settled.
//!
//! Order of a run:
//! 1. the program runs; its first [`Tracer::ready`] sets the BPF filter to the bound ports and
//!    starts the capture thread;
//! 2. when the program returns, wait until its connections are closed or in TIME_WAIT (so the
//!    last ACK has been sent), then stop the capture with the sentinels (see `capture`);
//! 3. collect the events, keep the packets between the program's own endpoints, sort by time.
//!
//! Ctrl-C or a time limit ends step 1 early; the run then holds what was seen until then.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::capture::{CaptureStats, Captured, LiveCapture, Running};
use super::collect;
use super::model::RunData;
use super::privilege::Credentials;
use super::spec::Scenario;
use super::tcpstate;
use super::tracer::ReadyHook;
use super::LiveError;

/// How long a scenario may run.
pub const LIMIT: Duration = Duration::from_secs(20);
/// How long its connections may take to close after it returns.
const SETTLE: Duration = Duration::from_secs(3);

/// What the runner waits for.
pub enum Msg {
    Done(Result<(), LiveError>),
    Interrupted,
}

/// Where Ctrl-C is reported while a run is in progress.
static CURRENT: Mutex<Option<Sender<Msg>>> = Mutex::new(None);

fn current() -> MutexGuard<'static, Option<Sender<Msg>>> {
    match CURRENT.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// An interruption that came while no program ran: the next run stops as soon as it starts.
static PENDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Tells the run in progress that it is interrupted; false when no program is running (then
/// the next run to start is interrupted at once, and one that is ending finishes).
pub fn interrupt() -> bool {
    match current().as_ref() {
        Some(tx) => tx.send(Msg::Interrupted).is_ok(),
        None => {
            PENDING.store(true, std::sync::atomic::Ordering::SeqCst);
            false
        }
    }
}

enum Slot {
    Idle(LiveCapture),
    Running(Running),
    Empty,
}

fn lock(s: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    match s.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// What a stopped capture yields: packets, counters, the filter's port part.
type Stopped = (Vec<Captured>, CaptureStats, String);

/// Stops whatever the slot holds; returns the handle (when it survived) and what it captured.
fn stop(slot: &Mutex<Slot>) -> (Option<LiveCapture>, Result<Stopped, LiveError>) {
    match std::mem::replace(&mut *lock(slot), Slot::Empty) {
        Slot::Idle(cap) => (
            Some(cap),
            Ok((Vec::new(), CaptureStats::default(), String::new())),
        ),
        Slot::Running(r) => {
            let filter = r.filter().to_owned();
            match r.stop() {
                Ok((cap, packets, stats)) => (Some(cap), Ok((packets, stats, filter))),
                Err(e) => (None, Err(e)),
            }
        }
        Slot::Empty => (None, Err(LiveError::Capture("the capture was lost".into()))),
    }
}

/// Runs `sc` with the open capture `cap`. Returns the capture for the next run (None if it
/// failed) and the run, or why it failed.
pub fn run_scenario(
    sc: &Scenario,
    cap: LiveCapture,
    limit: Duration,
) -> (Option<LiveCapture>, Result<RunData, LiveError>) {
    let (cap, _, run) = run_scenario_on(sc, cap, None, limit);
    (cap, run)
}

/// Runs `sc` as [`run_scenario`] does, capturing on `extra` too (the device a scenario needs
/// besides lo, see `veth`), with the same filter: the run holds the packets of both, in time
/// order. Returns both captures for the next run.
pub fn run_scenario_on(
    sc: &Scenario,
    cap: LiveCapture,
    extra: Option<LiveCapture>,
    limit: Duration,
) -> (
    Option<LiveCapture>,
    Option<LiveCapture>,
    Result<RunData, LiveError>,
) {
    let linktype = cap.linktype();
    if let Some(x) = extra.as_ref().filter(|x| x.linktype() != linktype) {
        let why = format!(
            "the extra device's link type ({}) is not lo's ({linktype})",
            x.linktype()
        );
        return (Some(cap), extra, Err(LiveError::Capture(why)));
    }
    let slot = Arc::new(Mutex::new(Slot::Idle(cap)));
    let extra_slot = Arc::new(Mutex::new(match extra {
        Some(x) => Slot::Idle(x),
        None => Slot::Empty,
    }));
    let (s2, x2) = (slot.clone(), extra_slot.clone());
    let hook: ReadyHook = Box::new(move |ports: &[u16]| {
        let mut g = lock(&s2);
        match std::mem::replace(&mut *g, Slot::Empty) {
            Slot::Idle(cap) => {
                *g = Slot::Running(cap.start(ports)?);
            }
            other => {
                *g = other;
                return Err(LiveError::Scenario("ready() called twice".into()));
            }
        }
        let mut x = lock(&x2);
        if let Slot::Idle(cap) = std::mem::replace(&mut *x, Slot::Empty) {
            *x = Slot::Running(cap.start(ports)?);
        }
        Ok(())
    });
    let run = run_inner(sc, hook, &slot, &extra_slot, limit);
    (take(&slot), take(&extra_slot), run)
}

/// The capture a slot holds when it is idle again (after [`stop_all`]).
fn take(slot: &Mutex<Slot>) -> Option<LiveCapture> {
    match std::mem::replace(&mut *lock(slot), Slot::Empty) {
        Slot::Idle(cap) => Some(cap),
        _ => None,
    }
}

/// Stops both captures (the extra one may be absent), leaves each handle that survived idle in
/// its slot, and returns their packets and counters together.
fn stop_all(slot: &Mutex<Slot>, extra: &Mutex<Slot>) -> Result<Stopped, LiveError> {
    let (cap, main) = stop(slot);
    if let Some(c) = cap {
        *lock(slot) = Slot::Idle(c);
    }
    if matches!(*lock(extra), Slot::Empty) {
        return main;
    }
    let (xcap, more) = stop(extra);
    if let Some(c) = xcap {
        *lock(extra) = Slot::Idle(c);
    }
    let (mut packets, mut stats, filter) = main?;
    let (xpackets, xstats, _) = more?;
    packets.extend(xpackets);
    stats.received += xstats.received;
    stats.dropped += xstats.dropped;
    stats.if_dropped += xstats.if_dropped;
    Ok((packets, stats, filter))
}

fn run_inner(
    sc: &Scenario,
    hook: ReadyHook,
    slot: &Mutex<Slot>,
    extra: &Mutex<Slot>,
    limit: Duration,
) -> Result<RunData, LiveError> {
    let linktype = match &*lock(slot) {
        Slot::Idle(cap) => cap.linktype(),
        _ => return Err(LiveError::Capture("the capture was lost".into())),
    };
    let (tracer, collector) = match collect::channel(Some(hook)) {
        Ok(x) => x,
        Err(e) => {
            let _ = stop_all(slot, extra);
            return Err(e.into());
        }
    };
    let (tx, rx) = mpsc::channel();
    let (ctx, crx) = mpsc::channel();
    *current() = Some(tx.clone());
    if PENDING.swap(false, std::sync::atomic::Ordering::SeqCst) {
        let _ = tx.send(Msg::Interrupted);
    }
    let t2 = tracer.clone();
    let program = sc.run;
    let spawned = std::thread::Builder::new()
        .name(format!("scenario-{}", sc.name))
        .spawn(move || {
            let _ = ctx.send(Credentials::of_this_thread().ok());
            let r = program(&t2);
            let _ = tx.send(Msg::Done(r));
        });
    let outcome = match spawned {
        Err(e) => Err(LiveError::Io(e)),
        Ok(_) => match rx.recv_timeout(limit) {
            Ok(Msg::Done(r)) => r.map(|()| false),
            Ok(Msg::Interrupted) => Ok(true),
            Err(RecvTimeoutError::Timeout) => Err(LiveError::Timeout {
                secs: limit.as_secs(),
                why: String::new(),
            }),
            Err(RecvTimeoutError::Disconnected) => {
                Err(LiveError::Scenario("the scenario thread vanished".into()))
            }
        },
    };
    *current() = None;
    tracer.kill_children();
    tracer.end();
    drop(tracer);
    let ended = collector.wait_end(Duration::from_secs(2));
    let (events, errors) = collector.take();
    let interrupted = match outcome {
        Ok(i) => i,
        Err(LiveError::Timeout { secs, .. }) => {
            // A thread is stuck, most likely waiting for a peer whose call failed: say which.
            let failed: Vec<String> = events
                .iter()
                .filter(|e| !e.ok() || e.call == "error")
                .map(|e| format!("{} {}", e.who, e.line()))
                .collect();
            let why = if failed.is_empty() {
                String::new()
            } else {
                format!(" (failed: {})", failed.join("; "))
            };
            let _ = stop_all(slot, extra);
            return Err(LiveError::Timeout { secs, why });
        }
        Err(e) => {
            let _ = stop_all(slot, extra);
            return Err(e);
        }
    };
    let settled = if interrupted { Ok(()) } else { settle(&events) };
    let stopped = stop_all(slot, extra);
    settled?;
    let (packets, stats, filter) = stopped?;
    if !errors.is_empty() || (!ended && !interrupted) {
        let why = if errors.is_empty() {
            "the end of the event log was not seen".to_owned()
        } else {
            errors.join("; ")
        };
        return Err(LiveError::Events(why));
    }
    let mut run = RunData {
        scenario: sc.name.to_owned(),
        linktype,
        filter,
        packets: own_packets(linktype, packets, &events),
        events,
        stats,
        interrupted,
        credentials: crx.try_recv().ok().flatten(),
        identity: None,
        private_netns: false,
    };
    run.sort();
    Ok(run)
}

/// Waits until every TCP connection the events name is closed or in TIME_WAIT: its last
/// packet has then been sent (and, on lo, received).
fn settle(events: &[super::Event]) -> Result<(), LiveError> {
    let conns: HashSet<(SocketAddr, SocketAddr)> = events
        .iter()
        .filter_map(|e| Some((e.local?, e.addr?)))
        .flat_map(|(l, a)| [(l, a), (a, l)])
        .collect();
    let conns: Vec<_> = conns.into_iter().collect();
    match tcpstate::settle(&conns, SETTLE)? {
        Ok(()) => Ok(()),
        Err(busy) => {
            let list: Vec<String> = busy
                .iter()
                .map(|e| format!("{} → {} {}", e.local, e.remote, e.state.name()))
                .collect();
            Err(LiveError::Scenario(format!(
                "connections still open {} s after the program ended: {}",
                SETTLE.as_secs(),
                list.join(", ")
            )))
        }
    }
}

/// Keeps the packets whose both ends are addresses the program's sockets used (the BPF filter
/// names ports only; another program could reuse one of them after this one closed it). A
/// socket on a wildcard address (`0.0.0.0:53452`: an unconnected UDP socket that never bound,
/// a receiver bound to INADDR_ANY) owns its port on every address.
fn own_packets(linktype: u16, packets: Vec<Captured>, events: &[super::Event]) -> Vec<Captured> {
    let ends: HashSet<SocketAddr> = events
        .iter()
        .flat_map(|e| [e.local, e.addr])
        .flatten()
        .collect();
    if ends.is_empty() {
        return packets;
    }
    let wild: HashSet<u16> = ends
        .iter()
        .filter(|a| a.ip().is_unspecified())
        .map(SocketAddr::port)
        .collect();
    let known = |a: &SocketAddr| ends.contains(a) || wild.contains(&a.port());
    packets
        .into_iter()
        .filter(|p| {
            super::model::endpoints(linktype, &p.data)
                .is_none_or(|(src, dst)| known(&src) && known(&dst))
        })
        .collect()
}
