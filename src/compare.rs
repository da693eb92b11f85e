//! `sockscope compare A B`: the same metrics of two captures (or saved runs) side by side.
//!
//! Each file is read once, streaming, through decode → analyse; only counters are kept (and
//! per conversation the few bytes round trips need, bounded like the analyser's own state),
//! so memory does not grow with the file. The metrics are of TCP only: every TCP segment of
//! the file, or of one conversation with `--stream N` (tshark's `tcp.stream`), or of
//! conversation N of A and M of B with `--stream N,M` (two parts of one saved run: `compare
//! nagle.pcapng nagle.pcapng --stream 0,1`).
//!
//! Definitions (also in `sockscope compare --help` and the README):
//! * segments by kind: **data** (payload > 0), **pure ACK** (no payload, no SYN, FIN or RST),
//!   **SYN**, **FIN**, **RST** (segments with that flag; a FIN carrying data is also a data
//!   segment);
//! * **payload bytes**: the TCP payload of every segment (`tcp.len`), re-sent bytes included;
//! * **round trips**: per conversation, the times the side that did not send the first data
//!   starts sending data after the other side did (a request and its response make one; a
//!   one-way transfer has none), summed over conversations;
//! * **elapsed**: first to last TCP segment counted;
//! * **retransmissions**: segments the analyser calls a retransmission (fast and spurious
//!   ones included); **duplicate ACKs** likewise;
//! * **waits**: the analyser's named waits (`wait` in the JSON Lines), counted and summed.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::analyse::tcp::WaitKind;
use crate::analyse::{flags, Analyser, Findings};
use crate::decode::{decode, Transport};
use crate::live::model::{Proto, View};
use crate::source::{CaptureFile, ReadError};

/// The waits in the order they are shown, with a short label.
pub const WAITS: [(WaitKind, &str); 7] = [
    (WaitKind::DelayedAck, "delayed ACK"),
    (WaitKind::Nagle, "Nagle"),
    (WaitKind::RetransmissionTimeout, "retransmission timeout"),
    (WaitKind::TailLossProbe, "tail-loss probe"),
    (WaitKind::ProbeOrTimeout, "tail-loss probe or timeout"),
    (WaitKind::ZeroWindowProbe, "zero-window probe"),
    (WaitKind::TimeWait, "TIME_WAIT entries"),
];

fn wait_index(k: WaitKind) -> usize {
    match k {
        WaitKind::DelayedAck => 0,
        WaitKind::Nagle => 1,
        WaitKind::RetransmissionTimeout => 2,
        WaitKind::TailLossProbe => 3,
        WaitKind::ProbeOrTimeout => 4,
        WaitKind::ZeroWindowProbe => 5,
        WaitKind::TimeWait => 6,
    }
}

/// Conversations whose round-trip state is held at once (the analyser's own bound).
const MAX_HELD: usize = crate::analyse::bound::MAX_CONVERSATIONS;

/// The counters of one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Frames read (all of them, TCP or not).
    pub frames: u64,
    /// TCP segments counted (those of the selected conversation with `--stream`).
    pub segments: u64,
    pub data: u64,
    pub pure_acks: u64,
    pub syn: u64,
    pub fin: u64,
    pub rst: u64,
    pub payload: u64,
    pub round_trips: u64,
    pub first_ns: Option<i128>,
    pub last_ns: Option<i128>,
    pub retransmissions: u64,
    pub dup_acks: u64,
    /// Per [`WAITS`]: how many, and their total length in ns (TIME_WAIT has none).
    pub waits: [u64; 7],
    pub wait_ns: [u64; 7],
    /// TCP conversations in the file.
    pub tcp_streams: u64,
}

impl Metrics {
    /// Milliseconds from the first to the last segment counted (None: fewer than one
    /// timestamped segment).
    pub fn elapsed_ms(&self) -> Option<f64> {
        Some((self.last_ns? - self.first_ns?) as f64 / 1e6)
    }

    /// Mean payload bytes per data segment (None without data segments).
    pub fn bytes_per_data_segment(&self) -> Option<f64> {
        (self.data > 0).then(|| self.payload as f64 / self.data as f64)
    }
}

/// Per conversation: who sent the first data, and whether the last data was theirs.
#[derive(Debug, Clone, Copy)]
struct Turns {
    first: (IpAddr, u16),
    last_was_first: bool,
}

/// Counts what one file holds, segment by segment.
#[derive(Default)]
pub struct Counter {
    stream: Option<u64>,
    m: Metrics,
    turns: BTreeMap<u64, Turns>,
}

impl Counter {
    /// Counting every TCP segment, or only those of TCP conversation `stream`.
    pub fn new(stream: Option<u64>) -> Counter {
        Counter {
            stream,
            ..Counter::default()
        }
    }

    /// Adds one analysed TCP segment: its conversation, sender, flags, payload length, time,
    /// findings and wait.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        stream: u64,
        from: (IpAddr, u16),
        tcp_flags: u16,
        len: u32,
        time: Option<i128>,
        findings: Findings,
        wait: Option<crate::analyse::tcp::Wait>,
    ) {
        if self.stream.is_some_and(|s| s != stream) {
            return;
        }
        let m = &mut self.m;
        m.segments += 1;
        let (syn, fin, rst) = (
            tcp_flags & flags::SYN != 0,
            tcp_flags & flags::FIN != 0,
            tcp_flags & flags::RST != 0,
        );
        m.syn += syn as u64;
        m.fin += fin as u64;
        m.rst += rst as u64;
        if len > 0 {
            m.data += 1;
            m.payload += len as u64;
        } else if !(syn || fin || rst) {
            m.pure_acks += 1;
        }
        if let Some(t) = time {
            m.first_ns = Some(m.first_ns.map_or(t, |f| f.min(t)));
            m.last_ns = Some(m.last_ns.map_or(t, |l| l.max(t)));
        }
        if findings.has(Findings::RETRANSMISSION)
            || findings.has(Findings::FAST_RETRANSMISSION)
            || findings.has(Findings::SPURIOUS_RETRANSMISSION)
        {
            m.retransmissions += 1;
        }
        if findings.has(Findings::DUPLICATE_ACK) {
            m.dup_acks += 1;
        }
        if let Some(w) = wait {
            let i = wait_index(w.kind);
            m.waits[i] += 1;
            m.wait_ns[i] += w.ns.unwrap_or(0);
        }
        if len > 0 {
            match self.turns.get_mut(&stream) {
                Some(t) => {
                    let is_first = t.first == from;
                    if !is_first && t.last_was_first {
                        m.round_trips += 1;
                    }
                    t.last_was_first = is_first;
                }
                None => {
                    self.turns.insert(
                        stream,
                        Turns {
                            first: from,
                            last_was_first: true,
                        },
                    );
                    if self.turns.len() > MAX_HELD {
                        // Stream numbers rise: the oldest conversation goes first.
                        self.turns.pop_first();
                    }
                }
            }
        }
    }

    pub fn finish(mut self, frames: u64, tcp_streams: u64) -> Metrics {
        self.m.frames = frames;
        self.m.tcp_streams = tcp_streams;
        self.m
    }
}

/// The metrics of conversation `conn` of a run (as [`measure`] counts that TCP stream of the
/// run's file); `frames` and `tcp_streams` are the run's.
pub fn of_conversation(v: &View, conn: usize) -> Metrics {
    let mut c = Counter::new(None);
    for p in v.conn_pkts(conn) {
        let (Some(t), Some(verdict)) = (&p.tcp, p.verdict()) else {
            continue;
        };
        let from = (p.src.ip(), p.src.port());
        c.segment(
            0,
            from,
            t.flags,
            t.len,
            Some(p.ts),
            verdict.findings,
            verdict.wait,
        );
    }
    let tcp = v.conns.iter().filter(|c| c.proto == Proto::Tcp).count();
    c.finish(v.run.packets.len() as u64, tcp as u64)
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: has no TCP stream {stream} (it has {streams}: give --stream 0 to {last})", path = path.display(), last = streams.saturating_sub(1))]
    NoStream {
        path: PathBuf,
        stream: u64,
        streams: u64,
    },
    #[error("{path}: has no TCP stream {stream} (it has no TCP at all: leave out --stream)", path = path.display())]
    NoTcp { path: PathBuf, stream: u64 },
    #[error("writing the output failed")]
    Write(#[from] io::Error),
}

/// What one file gave: its metrics, and the fault that ended the reading early, if any
/// (the metrics then count what came before it).
#[derive(Debug)]
pub struct Measured {
    pub metrics: Metrics,
    pub fault: Option<ReadError>,
}

/// Reads `path` once and counts its TCP segments (all, or those of `stream`). Errors when the
/// file does not open or is not a capture; a damaged file ends early with `fault` set.
pub fn measure(path: &Path, stream: Option<u64>) -> Result<Measured, ReadError> {
    let mut file = CaptureFile::open(path)?;
    let mut analyser = Analyser::new();
    let mut counter = Counter::new(stream);
    let mut frames = 0u64;
    let read = file.for_each(|frame| {
        frames += 1;
        let pkt = decode(frame);
        let analysis = analyser.analyse(frame, &pkt);
        if let (Some(ip), Transport::Tcp(t), Some(v)) = (pkt.ip, pkt.transport, analysis.tcp) {
            if let Some(fx) = t.fixed {
                counter.segment(
                    v.stream,
                    (ip.src, t.sport),
                    fx.flags,
                    fx.len.unwrap_or(0),
                    frame.ts.map(|ts| ts.as_nanos()),
                    v.findings,
                    v.wait,
                );
            }
        }
        true
    });
    Ok(Measured {
        metrics: counter.finish(frames, analyser.tcp_streams()),
        fault: read.err(),
    })
}

/// How a metric's numbers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Ms,
}

impl Unit {
    pub fn key(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Bytes => "bytes",
            Unit::Ms => "ms",
        }
    }
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// JSON name (`data_segments`, `wait_nagle_ms`).
    pub key: String,
    /// What the text table calls it.
    pub label: String,
    pub unit: Unit,
    pub a: Option<f64>,
    pub b: Option<f64>,
}

impl Row {
    /// B − A, when both are known.
    pub fn diff(&self) -> Option<f64> {
        Some(self.b? - self.a?)
    }
    /// B ÷ A, when both are known and A is not 0.
    pub fn ratio(&self) -> Option<f64> {
        let (a, b) = (self.a?, self.b?);
        (a != 0.0).then(|| b / a)
    }
    pub fn differs(&self) -> bool {
        self.a != self.b
    }
}

/// The rows for `a` and `b`: every metric, and each wait kind (count and total). With
/// `all_waits` false, the waits neither file has are left out (the text table).
pub fn rows(a: &Metrics, b: &Metrics, all_waits: bool) -> Vec<Row> {
    let n = |x: u64| Some(x as f64);
    let mut v = Vec::new();
    let mut add = |key: &str, label: &str, unit: Unit, f: &dyn Fn(&Metrics) -> Option<f64>| {
        v.push(Row {
            key: key.to_owned(),
            label: label.to_owned(),
            unit,
            a: f(a),
            b: f(b),
        })
    };
    add("segments", "TCP segments", Unit::Count, &|m| n(m.segments));
    add(
        "data_segments",
        "data segments",
        Unit::Count,
        &|m| n(m.data),
    );
    add("pure_acks", "pure ACKs", Unit::Count, &|m| n(m.pure_acks));
    add("syn", "SYN", Unit::Count, &|m| n(m.syn));
    add("fin", "FIN", Unit::Count, &|m| n(m.fin));
    add("rst", "RST", Unit::Count, &|m| n(m.rst));
    add("payload_bytes", "payload bytes", Unit::Bytes, &|m| {
        n(m.payload)
    });
    add(
        "bytes_per_data_segment",
        "bytes per data segment",
        Unit::Bytes,
        &|m| m.bytes_per_data_segment(),
    );
    add("round_trips", "round trips", Unit::Count, &|m| {
        n(m.round_trips)
    });
    add("elapsed_ms", "elapsed", Unit::Ms, &|m| m.elapsed_ms());
    add("retransmissions", "retransmissions", Unit::Count, &|m| {
        n(m.retransmissions)
    });
    add("duplicate_acks", "duplicate ACKs", Unit::Count, &|m| {
        n(m.dup_acks)
    });
    for (i, (kind, label)) in WAITS.iter().enumerate() {
        if !all_waits && a.waits[i] == 0 && b.waits[i] == 0 {
            continue;
        }
        let key = kind.key();
        let count = if *kind == WaitKind::TimeWait {
            label.to_string()
        } else {
            format!("{label} waits")
        };
        add(&format!("wait_{key}"), &count, Unit::Count, &|m| {
            n(m.waits[i])
        });
        if *kind != WaitKind::TimeWait {
            add(
                &format!("wait_{key}_ms"),
                &format!("{label} wait time"),
                Unit::Ms,
                &|m| Some(m.wait_ns[i] as f64 / 1e6),
            );
        }
    }
    v
}

/// What `sockscope compare` is asked.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    pub a: PathBuf,
    pub b: PathBuf,
    /// `--stream N` (the same N in both) or `--stream N,M` (N of A, M of B); None: all TCP.
    pub stream: Option<[u64; 2]>,
    pub jsonl: bool,
    pub color: bool,
    /// Columns to fit (`--width`, COLUMNS or the terminal); None: whole lines.
    pub width: Option<usize>,
    /// `--ladder`: draw the two ladders before the table (true: in ASCII).
    pub ladder: Option<bool>,
}

/// Measures both files and writes the comparison. Both files are opened before any output;
/// a file damaged part way is compared on what came before the damage, and its error
/// returned after the output.
pub fn compare(opts: &CompareOptions, out: &mut dyn Write) -> Result<(), CompareError> {
    CaptureFile::check(&opts.a)?;
    CaptureFile::check(&opts.b)?;
    let a = measure(&opts.a, opts.stream.map(|s| s[0]))?;
    let b = measure(&opts.b, opts.stream.map(|s| s[1]))?;
    if let Some([sa, sb]) = opts.stream {
        for (path, m, s) in [(&opts.a, &a, sa), (&opts.b, &b, sb)] {
            if m.fault.is_none() && s >= m.metrics.tcp_streams {
                return Err(match m.metrics.tcp_streams {
                    0 => CompareError::NoTcp {
                        path: path.clone(),
                        stream: s,
                    },
                    n => CompareError::NoStream {
                        path: path.clone(),
                        stream: s,
                        streams: n,
                    },
                });
            }
        }
    }
    let mut buf = String::new();
    let names = [
        opts.a.to_string_lossy().into_owned(),
        opts.b.to_string_lossy().into_owned(),
    ];
    if opts.jsonl {
        crate::render::jsonl::meta(&mut buf, "compare", Some(&names.join(", ")));
        for r in rows(&a.metrics, &b.metrics, true) {
            crate::render::compare::jsonl(&mut buf, &r, opts.stream);
        }
    } else {
        let view = crate::render::compare::View {
            names: [&names[0], &names[1]],
            metrics: [&a.metrics, &b.metrics],
            stream: opts.stream,
            color: opts.color,
            width: opts.width,
            ascii: opts.ladder == Some(true),
        };
        crate::render::compare::text(&mut buf, &view);
    }
    out.write_all(buf.as_bytes())?;
    out.flush()?;
    if let Some(e) = a.fault.or(b.fault) {
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const C: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000);
    const S: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80);

    fn data(c: &mut Counter, stream: u64, from: (IpAddr, u16), len: u32, t: i128) {
        let f = flags::ACK | flags::PSH;
        c.segment(stream, from, f, len, Some(t), Findings::default(), None);
    }

    #[test]
    fn a_request_and_its_response_make_one_round_trip() {
        let mut c = Counter::new(None);
        data(&mut c, 0, C, 10, 0);
        data(&mut c, 0, C, 10, 1);
        data(&mut c, 0, S, 100, 2);
        data(&mut c, 0, C, 10, 3);
        data(&mut c, 0, S, 100, 4);
        data(&mut c, 0, S, 100, 5_000_000);
        // A second conversation whose first data comes from the server: its client's answer
        // is the turn.
        data(&mut c, 1, S, 5, 6);
        data(&mut c, 1, C, 5, 7);
        let m = c.finish(8, 2);
        assert_eq!(m.round_trips, 3);
        assert_eq!((m.data, m.payload), (8, 340));
        assert_eq!(m.elapsed_ms(), Some(5.0));
        assert_eq!(m.bytes_per_data_segment(), Some(42.5));
    }

    #[test]
    fn a_one_way_transfer_has_no_round_trip_and_kinds_are_counted_by_flag() {
        let mut c = Counter::new(None);
        c.segment(0, C, flags::SYN, 0, None, Findings::default(), None);
        c.segment(
            0,
            S,
            flags::SYN | flags::ACK,
            0,
            None,
            Findings::default(),
            None,
        );
        c.segment(0, C, flags::ACK, 0, None, Findings::default(), None);
        data(&mut c, 0, C, 1000, 0);
        c.segment(
            0,
            C,
            flags::FIN | flags::ACK,
            7,
            None,
            Findings::default(),
            None,
        );
        c.segment(0, S, flags::RST, 0, None, Findings::default(), None);
        let m = c.finish(6, 1);
        assert_eq!(m.round_trips, 0);
        assert_eq!((m.syn, m.fin, m.rst), (2, 1, 1));
        assert_eq!((m.data, m.pure_acks, m.payload), (2, 1, 1007));
        assert_eq!(m.elapsed_ms(), Some(0.0));
    }

    #[test]
    fn stream_selects_one_conversation_and_waits_are_summed() {
        let mut c = Counter::new(Some(1));
        data(&mut c, 0, C, 10, 0);
        let w = crate::analyse::tcp::Wait {
            kind: WaitKind::DelayedAck,
            ns: Some(40_000_000),
        };
        let mut f = Findings::default();
        f.set(Findings::RETRANSMISSION);
        c.segment(1, S, flags::ACK, 0, Some(10), f, Some(w));
        c.segment(1, S, flags::ACK, 0, Some(20), Findings::default(), Some(w));
        let m = c.finish(3, 2);
        assert_eq!(m.segments, 2);
        assert_eq!((m.waits[0], m.wait_ns[0]), (2, 80_000_000));
        assert_eq!(m.retransmissions, 1);
    }

    #[test]
    fn rows_give_difference_and_ratio_and_leave_out_waits_neither_has() {
        let a = Metrics {
            data: 4,
            payload: 400,
            ..Metrics::default()
        };
        let b = Metrics {
            data: 1,
            payload: 400,
            ..Metrics::default()
        };
        let r = rows(&a, &b, false);
        let d = r.iter().find(|r| r.key == "data_segments").unwrap();
        assert_eq!(
            (d.diff(), d.ratio(), d.differs()),
            (Some(-3.0), Some(0.25), true)
        );
        let p = r.iter().find(|r| r.key == "payload_bytes").unwrap();
        assert!(!p.differs());
        let m = r
            .iter()
            .find(|r| r.key == "bytes_per_data_segment")
            .unwrap();
        assert_eq!((m.a, m.b, m.ratio()), (Some(100.0), Some(400.0), Some(4.0)));
        assert!(r.iter().all(|r| !r.key.starts_with("wait_")));
        assert_eq!(rows(&a, &b, true).len(), r.len() + 13);
    }
}
