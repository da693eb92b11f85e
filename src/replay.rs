//! `sockscope replay`: a saved capture through decode → analyse → render.
//!
//! Every frame is analysed, so stream numbers and findings are those of the whole file; the
//! BPF filter and `--stream` only choose which lines are shown (as a Wireshark display filter
//! does).

use std::io::{self, Write};
use std::path::Path;

use crate::analyse::{Analyser, Record};
use crate::decode::{decode, Transport};
use crate::filter::{Filter, FilterError};
use crate::render::{jsonl, Summary, TextOptions, Timeline};
use crate::source::{CaptureFile, ReadError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Jsonl,
}

/// Which conversation `--stream` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamSel {
    Tcp(u64),
    Udp(u64),
}

#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    pub format: Format,
    pub text: TextOptions,
    pub filter: Option<String>,
    pub stream: Option<StreamSel>,
    pub summary: bool,
    /// Show progress on stderr (packets, MB/s, percent) once a run takes over a second.
    /// The caller decides: only when stderr is a terminal and `--quiet` is not given.
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("writing the output failed")]
    Write(#[from] io::Error),
}

/// What a replay saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayStats {
    pub frames: u64,
    pub shown: u64,
    /// Open conversations the analyser forgot because its bound was reached
    /// ([`Analyser::evicted`]).
    pub evicted: u64,
}

/// Output is flushed to the writer whenever the buffer passes this size.
const FLUSH_AT: usize = 64 * 1024;

/// Replays `path` to `out`. On a file-level fault, everything before it is written (and the
/// summary), then the error is returned.
pub fn replay(
    path: &Path,
    opts: &ReplayOptions,
    out: &mut dyn Write,
) -> Result<ReplayStats, ReplayError> {
    let mut filter = opts.filter.as_deref().map(Filter::new).transpose()?;
    let mut file = CaptureFile::open(path)?;
    let mut analyser = Analyser::new();
    let mut timeline = Timeline::new(opts.text);
    let mut summary = Summary::new();
    let mut buf = String::with_capacity(FLUSH_AT + 4096);
    let mut stats = ReplayStats::default();
    let mut failure: Option<ReplayError> = None;
    let mut progress = opts.progress.then(|| Progress::new(path));
    let mut read_bytes = 24u64;

    if opts.format == Format::Text {
        timeline.header(&mut buf);
    }
    let read = file.for_each(|frame| {
        stats.frames += 1;
        // Record bytes read so far: the data plus a pcap record header (close enough for
        // a progress bar on pcapng too).
        read_bytes += frame.caplen as u64 + 16;
        if stats.frames % PROGRESS_EVERY == 0 {
            if let Some(p) = progress.as_mut() {
                p.update(stats.frames, read_bytes);
            }
        }
        timeline.origin(frame.ts);
        let pkt = decode(frame);
        let analysis = analyser.analyse(frame, &pkt);
        let rec = Record {
            frame: *frame,
            pkt,
            analysis,
        };
        if !selected(opts.stream, &rec) {
            return true;
        }
        if let Some(f) = filter.as_mut() {
            match f.matches(frame.linktype, frame.data) {
                Ok(true) => {}
                Ok(false) => return true,
                Err(e) => {
                    failure = Some(e.into());
                    return false;
                }
            }
        }
        stats.shown += 1;
        match opts.format {
            Format::Text => timeline.line(&mut buf, &rec),
            Format::Jsonl => jsonl::line(&mut buf, &rec),
        }
        if opts.summary {
            summary.add(&rec);
        }
        if buf.len() >= FLUSH_AT {
            if let Err(e) = out.write_all(buf.as_bytes()) {
                failure = Some(e.into());
                return false;
            }
            buf.clear();
        }
        true
    });
    if let Some(p) = progress {
        p.finish();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    stats.evicted = analyser.evicted();
    if opts.format == Format::Text {
        timeline.finish(&mut buf);
        if opts.summary {
            summary.evicted = stats.evicted;
            summary.render(&mut buf);
        }
    }
    out.write_all(buf.as_bytes())?;
    out.flush()?;
    read?;
    Ok(stats)
}

/// Frames between two progress updates.
const PROGRESS_EVERY: u64 = 1 << 16;

/// A progress bar on stderr that appears only once a replay has run for a second.
struct Progress {
    bar: indicatif::ProgressBar,
    start: std::time::Instant,
    shown: bool,
}

impl Progress {
    fn new(path: &Path) -> Progress {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(len),
            indicatif::ProgressDrawTarget::hidden(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{percent:>3}% {bytes}/{total_bytes} ({binary_bytes_per_sec}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress {
            bar,
            start: std::time::Instant::now(),
            shown: false,
        }
    }

    fn update(&mut self, frames: u64, offset: u64) {
        if !self.shown && self.start.elapsed() >= std::time::Duration::from_secs(1) {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(offset);
        self.bar.set_message(format!("{frames} packets"));
    }

    fn finish(self) {
        self.bar.finish_and_clear();
    }
}

fn selected(sel: Option<StreamSel>, rec: &Record<'_>) -> bool {
    let Some(sel) = sel else { return true };
    let s = rec.analysis.stream;
    match (sel, rec.pkt.transport) {
        (StreamSel::Tcp(n), Transport::Tcp(_)) => s == Some(n),
        (StreamSel::Udp(n), Transport::Udp(_)) => s == Some(n),
        _ => false,
    }
}
