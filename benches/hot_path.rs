//! Micro-benchmarks of replay's hot path, per packet: read, decode, analyse, render a text
//! line, render a JSON line. Run with `cargo bench --bench hot_path`; each reports the time
//! per packet over a batch of a synthetic capture (`sockscope::synth`, mixed traffic).
//! `cargo test` does not run them (`cargo bench --no-run` and clippy build them).

use std::io::Cursor;
use std::path::Path;

use divan::counter::ItemsCount;
use divan::{black_box, Bencher};
use sockscope::analyse::{Analyser, Record};
use sockscope::decode::decode;
use sockscope::render::{jsonl, TextOptions, Timeline};
use sockscope::source::{CaptureFile, Frame, FrameKind, Timestamp};
use sockscope::synth::{self, Config};

/// Packets per batch: small enough (~3 MB) that the packets stay in cache, as they are in a
/// replay, which renders a packet right after reading it.
const BATCH: usize = 4_000;

fn main() {
    divan::main();
}

/// A synthetic capture of `BATCH` packets, in memory.
fn capture() -> Vec<u8> {
    let cfg = Config {
        packets: BATCH as u64,
        ..Config::default()
    };
    let mut out = Vec::new();
    synth::write(&cfg, &mut out).expect("writing to memory");
    out
}

/// A frame with its own copy of the data.
struct OwnedFrame {
    number: u64,
    ts: Option<Timestamp>,
    linktype: u16,
    origlen: u32,
    data: Vec<u8>,
}

/// The frames of a capture.
struct Owned {
    frames: Vec<OwnedFrame>,
}

impl Owned {
    fn load(bytes: Vec<u8>) -> Owned {
        let mut file = CaptureFile::from_reader(Path::new("synthetic"), Cursor::new(bytes))
            .expect("a synthetic capture opens");
        let mut frames = Vec::new();
        file.for_each(|f| {
            frames.push(OwnedFrame {
                number: f.number,
                ts: f.ts,
                linktype: f.linktype,
                origlen: f.origlen,
                data: f.data.to_vec(),
            });
            true
        })
        .expect("a synthetic capture reads to the end");
        Owned { frames }
    }

    fn frames(&self) -> Vec<Frame<'_>> {
        self.frames
            .iter()
            .map(|f| Frame {
                number: f.number,
                ts: f.ts,
                linktype: f.linktype,
                caplen: f.data.len() as u32,
                origlen: f.origlen,
                data: &f.data,
                interface: None,
                kind: FrameKind::Packet,
            })
            .collect()
    }
}

#[divan::bench]
fn read(b: Bencher) {
    let bytes = capture();
    b.counter(ItemsCount::new(BATCH))
        .with_inputs(|| Cursor::new(bytes.clone()))
        .bench_local_values(|cur| {
            let mut file = CaptureFile::from_reader(Path::new("synthetic"), cur).expect("opens");
            let mut n = 0u64;
            let _ = file.for_each(|f| {
                n += f.data.len() as u64;
                true
            });
            black_box(n)
        });
}

#[divan::bench]
fn decode_packet(b: Bencher) {
    let owned = Owned::load(capture());
    let frames = owned.frames();
    b.counter(ItemsCount::new(frames.len())).bench_local(|| {
        for f in &frames {
            black_box(decode(black_box(f)));
        }
    });
}

#[divan::bench]
fn analyse_segment(b: Bencher) {
    let owned = Owned::load(capture());
    let frames = owned.frames();
    let pkts: Vec<_> = frames.iter().map(decode).collect();
    b.counter(ItemsCount::new(frames.len()))
        .with_inputs(Analyser::new)
        .bench_local_values(|mut a| {
            for (f, p) in frames.iter().zip(&pkts) {
                black_box(a.analyse(f, p));
            }
            a
        });
}

/// Decoded and analysed records, ready to render.
fn records<'a>(frames: &'a [Frame<'a>]) -> Vec<Record<'a>> {
    let mut a = Analyser::new();
    frames
        .iter()
        .map(|f| {
            let pkt = decode(f);
            let analysis = a.analyse(f, &pkt);
            Record {
                frame: *f,
                pkt,
                analysis,
            }
        })
        .collect()
}

#[divan::bench]
fn render_text_line(b: Bencher) {
    let owned = Owned::load(capture());
    let frames = owned.frames();
    let recs = records(&frames);
    let mut out = String::with_capacity(1 << 20);
    let mut t = Timeline::new(TextOptions::default());
    // Past the lookahead, as in a long replay.
    for r in recs.iter().take(sockscope::render::text::LOOKAHEAD) {
        t.line(&mut out, r);
    }
    b.counter(ItemsCount::new(recs.len())).bench_local(|| {
        for r in &recs {
            out.clear();
            t.line(&mut out, black_box(r));
        }
        black_box(out.len())
    });
}

#[divan::bench]
fn render_jsonl_line(b: Bencher) {
    let owned = Owned::load(capture());
    let frames = owned.frames();
    let recs = records(&frames);
    let mut out = String::with_capacity(1 << 20);
    b.counter(ItemsCount::new(recs.len())).bench_local(|| {
        for r in &recs {
            out.clear();
            jsonl::line(&mut out, black_box(r));
        }
        black_box(out.len())
    });
}
