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
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("writing the output failed: {0}")]
    Write(#[from] io::Error),
}

/// What a replay saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayStats {
    pub frames: u64,
    pub shown: u64,
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

    if opts.format == Format::Text {
        timeline.header(&mut buf);
    }
    let read = file.for_each(|frame| {
        stats.frames += 1;
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
    if let Some(e) = failure {
        return Err(e);
    }
    if opts.format == Format::Text {
        timeline.finish(&mut buf);
        if opts.summary {
            summary.render(&mut buf);
        }
    }
    out.write_all(buf.as_bytes())?;
    out.flush()?;
    read?;
    Ok(stats)
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
