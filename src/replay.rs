//! `sockscope replay`: a saved capture through decode → analyse → render.
//!
//! Every frame is analysed, so stream numbers and findings are those of the whole file; the
//! BPF filter and `--stream` only choose which lines are shown (as a Wireshark display filter
//! does), and the summary counts what they chose.
//!
//! Output goes out in 64 KiB batches (fast); with `-l` line by line; and from a pipe or FIFO
//! (`tcpdump -U -w - | sockscope replay -`) whenever the input has nothing more for now, so
//! each packet shows as it arrives while a pipe that is full still gets batched output.

mod dump;

use std::io::{self, Write};
use std::path::PathBuf;

use self::dump::Dump;
pub use self::dump::{Container, DumpError};
use crate::analyse::{Analyser, Record};
use crate::decode::{decode, Transport};
use crate::filter::{Filter, FilterError};
use crate::render::payload::PayloadView;
use crate::render::{jsonl, Summary, TextOptions, Timeline, Totals};
use crate::source::input::is_stdin;
use crate::source::{CaptureFile, Event, Frame, ReadError};

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
    /// The captures, read one after another as one capture (`-` is standard input): frame
    /// and stream numbers go on from one file to the next, as if they had been concatenated
    /// (`mergecap -a`), which is what files rotated by `tcpdump -C`/`-G` need.
    pub inputs: Vec<PathBuf>,
    pub format: Format,
    pub text: TextOptions,
    pub filter: Option<String>,
    pub stream: Option<StreamSel>,
    pub summary: bool,
    /// Show progress on stderr (packets, MB/s, percent) once a run takes over a second.
    /// The caller decides: only when stderr is a terminal and `--quiet` is not given.
    pub progress: bool,
    /// `-c N`: stop after N packets shown (after the filter and `--stream`).
    pub count: Option<u64>,
    /// `-l`: hand each line to the output as soon as it is made. Also done, without `-l`,
    /// while the input is a pipe, FIFO or socket.
    pub line_buffered: bool,
    /// `-w FILE`: write the selected packets to a capture file (`-`: standard output).
    pub write: Option<PathBuf>,
    /// With `-w`, print the timeline as well (tcpdump's `--print`).
    pub print: bool,
    /// Each packet's payload under its line (`-A`, `-X`; text timeline only).
    pub payload: PayloadView,
    /// Print one conversation's bytes instead of the timeline (`--follow`).
    pub follow: Option<StreamSel>,
    /// The run view of a saved run: columns to fit (None: whole lines).
    pub width: Option<usize>,
    /// The run view of a saved scenario run: with the scenario's explanation.
    pub explain: bool,
}

impl ReplayOptions {
    /// The selection as a person typed it, for the summary and notes (`tcp port 80`,
    /// `--stream udp:2`).
    pub fn selection(&self) -> Option<String> {
        let stream = self.stream.map(|s| match s {
            StreamSel::Tcp(n) => format!("--stream tcp:{n}"),
            StreamSel::Udp(n) => format!("--stream udp:{n}"),
        });
        match (self.filter.as_deref(), stream) {
            (Some(f), Some(s)) => Some(format!("{f}` and `{s}")),
            (Some(f), None) => Some(f.to_owned()),
            (None, s) => s,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error("writing the output failed")]
    Write(#[from] io::Error),
    /// Options that do not go together, or a conversation the file does not have.
    #[error("{0}")]
    Usage(String),
}

/// What a replay saw.
#[derive(Debug, Clone, Default)]
pub struct ReplayStats {
    /// Frames read, in all files.
    pub frames: u64,
    /// Frames selected (shown, or written with `-w`).
    pub shown: u64,
    /// A line for stderr: a selection that matched nothing, or what `-w` wrote when the
    /// timeline was not printed.
    pub note: Option<String>,
    /// Open conversations the analyser forgot because its bound was reached
    /// ([`Analyser::evicted`]).
    pub evicted: u64,
}

/// Output is handed to the writer whenever the buffer passes this size (unless each line is
/// handed on at once: `-l`, or input from a pipe).
const FLUSH_AT: usize = 64 * 1024;

/// Replays `opts.inputs` to `out`. On a file-level fault, everything before it is written (and
/// the summary), then the error is returned.
pub fn replay(opts: &ReplayOptions, out: &mut dyn Write) -> Result<ReplayStats, ReplayError> {
    if let Some(sel) = opts.follow {
        let [path] = opts.inputs.as_slice() else {
            return Err(ReplayError::Usage(
                "--follow reads one capture: name one file".into(),
            ));
        };
        crate::follow::follow(path, sel, out)?;
        return Ok(ReplayStats::default());
    }
    if opts.format == Format::Jsonl && opts.payload != PayloadView::None {
        return Err(ReplayError::Usage(
            "-A and -X print payloads under the text timeline: leave out --format jsonl".into(),
        ));
    }
    // Every named file is opened once first, so that a wrong name fails before any output.
    for p in opts.inputs.iter().filter(|p| !is_stdin(p)) {
        CaptureFile::check(p)?;
    }
    let (mut text_out, mut dump): (Option<&mut dyn Write>, Option<Dump<'_>>) = match &opts.write {
        None => (Some(out), None),
        Some(p) if p.as_os_str() == "-" => (None, Some(Dump::new(p, Box::new(out)))),
        Some(p) => {
            let file = std::fs::File::create(p).map_err(|cause| DumpError::Io {
                path: p.clone(),
                cause,
            })?;
            let file = Box::new(io::BufWriter::with_capacity(FLUSH_AT, file));
            (opts.print.then_some(out), Some(Dump::new(p, file)))
        }
    };
    let text = text_out.is_some();
    let mut filter: Option<Filter> = None;
    let mut analyser = Analyser::new();
    let mut timeline = Timeline::new(opts.text).with_payload(opts.payload);
    let mut summary = Summary::new();
    let mut buf = String::with_capacity(FLUSH_AT + 4096);
    let mut stats = ReplayStats::default();
    let mut failure: Option<ReplayError> = None;
    let mut read_error: Option<ReadError> = None;
    let mut progress = opts
        .progress
        .then(|| Progress::new(total_size(&opts.inputs)));
    let mut read_bytes = 0u64;
    let mut header = opts.format == Format::Text;
    let mut stopped = false;

    for (input, path) in opts.inputs.iter().enumerate() {
        let mut file = match CaptureFile::open(path) {
            Ok(f) => f,
            Err(e) => {
                read_error = Some(e);
                break;
            }
        };
        if input == 0 && opts.format == Format::Jsonl && text {
            // The stream opens with its meta record (once the first file is known to be a
            // capture), whatever is selected.
            let files: Vec<String> = opts
                .inputs
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            jsonl::meta(&mut buf, "replay", Some(&files.join(", ")));
        }
        if let (None, Some(expr)) = (&filter, opts.filter.as_deref()) {
            filter = Some(Filter::for_linktype(
                expr,
                file.first_linktype().unwrap_or(1),
            )?);
        }
        if let Some(d) = dump.as_mut() {
            d.start_file(&file);
        }
        // `-l`: each line out at once. A live input (pipe, FIFO) without -l: everything made
        // so far goes out whenever the input has nothing more for now (Event::Waiting), so a
        // packet shows as it arrives and a fast pipe still gets batched output.
        let each_line = opts.line_buffered;
        let base = stats.frames;
        let read = file.for_each_event(|event| {
            let (frame, meta) = match event {
                Event::Frame(frame, meta) => (frame, meta),
                Event::Waiting => {
                    if text && opts.format == Format::Text && stats.shown > 0 {
                        timeline.finish(&mut buf);
                    }
                    let mut handed = Ok(());
                    if let Some(o) = text_out.as_mut() {
                        handed = o.write_all(buf.as_bytes()).and_then(|_| o.flush());
                        buf.clear();
                    }
                    let dumped = dump.as_mut().map_or(Ok(()), |d| d.flush());
                    if let Err(e) = handed {
                        failure = Some(e.into());
                        return false;
                    }
                    if let Err(e) = dumped {
                        failure = Some(e.into());
                        return false;
                    }
                    return true;
                }
            };
            stats.frames += 1;
            // Record bytes read so far: the data plus a pcap record header (close enough for
            // a progress bar on pcapng too).
            read_bytes += frame.caplen as u64 + 16;
            if stats.frames % PROGRESS_EVERY == 0 {
                if let Some(p) = progress.as_mut() {
                    p.update(stats.frames, read_bytes);
                }
            }
            // Frame numbers go on from the files before (the first file's need no change).
            let renumbered;
            let frame = if base == 0 {
                frame
            } else {
                renumbered = Frame {
                    number: base + frame.number,
                    ..*frame
                };
                &renumbered
            };
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
            if let Some(d) = dump.as_mut() {
                let written = d.packet(input, frame, meta);
                let flushed = if each_line { d.flush() } else { Ok(()) };
                if let Err(e) = written.and(flushed) {
                    failure = Some(e.into());
                    return false;
                }
            }
            if text {
                if header {
                    timeline.header(&mut buf);
                    header = false;
                }
                if each_line && opts.format == Format::Text {
                    // No lookahead for alignment: each line goes out as it comes.
                    timeline.finish(&mut buf);
                }
                match opts.format {
                    Format::Text => timeline.line(&mut buf, &rec),
                    Format::Jsonl => jsonl::line(&mut buf, &rec),
                }
            }
            if opts.summary {
                summary.add(&rec);
            }
            if buf.len() >= FLUSH_AT || (each_line && !buf.is_empty()) {
                if let Some(o) = text_out.as_mut() {
                    let w = o.write_all(buf.as_bytes());
                    let w = if each_line {
                        w.and_then(|_| o.flush())
                    } else {
                        w
                    };
                    if let Err(e) = w {
                        failure = Some(e.into());
                        return false;
                    }
                }
                buf.clear();
            }
            if opts.count.is_some_and(|n| stats.shown >= n) {
                stopped = true;
                return false;
            }
            true
        });
        if let Err(e) = read {
            read_error = Some(e);
        }
        if failure.is_some() || read_error.is_some() || stopped {
            break;
        }
    }
    if let Some(p) = progress {
        p.finish();
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let totals = Totals {
        frames: stats.frames,
        selection: opts.selection(),
        stopped_at: stopped.then_some(stats.shown),
        files: opts.inputs.len(),
    };
    if let Some(d) = dump {
        let written = d.finish()?;
        if !text {
            let to = match opts.write.as_deref() {
                Some(p) if p.as_os_str() != "-" => p.display().to_string(),
                _ => "standard output".into(),
            };
            let of = match &totals.selection {
                Some(sel) => format!(" ({} of {} matched `{sel}`)", stats.shown, stats.frames),
                None => String::new(),
            };
            stats.note = Some(format!("wrote {written} packets to {to}{of}"));
        }
    }
    if stats.shown == 0 && read_error.is_none() {
        if let Some(sel) = &totals.selection {
            stats.note = Some(format!(
                "0 of {} packets matched `{sel}` (the capture has {} TCP and {} UDP streams)",
                stats.frames,
                analyser.tcp_streams(),
                analyser.udp_streams()
            ));
        }
    }
    stats.evicted = analyser.evicted();
    summary.evicted = stats.evicted;
    if opts.format == Format::Jsonl && text && read_error.is_none() {
        let (evicted_tcp, evicted_udp) = analyser.evicted_by_protocol();
        jsonl::summary(
            &mut buf,
            &jsonl::SummaryRecord {
                frames: stats.frames,
                shown: stats.shown,
                tcp_streams: analyser.tcp_streams(),
                udp_streams: analyser.udp_streams(),
                evicted_tcp,
                evicted_udp,
                stopped,
            },
        );
    }
    if let Some(o) = text_out {
        if opts.format == Format::Text && stats.shown > 0 {
            timeline.finish(&mut buf);
            if opts.summary {
                summary.render(&mut buf, &totals);
            }
        }
        o.write_all(buf.as_bytes())?;
        o.flush()?;
    }
    if let Some(e) = read_error {
        return Err(e.into());
    }
    Ok(stats)
}

/// The size of all inputs, when each is a regular uncompressed-looking file (progress only).
fn total_size(inputs: &[PathBuf]) -> Option<u64> {
    let mut total = 0;
    for p in inputs {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if is_stdin(p) || matches!(ext, "gz" | "zst" | "zstd") {
            return None;
        }
        total += std::fs::metadata(p).ok().filter(|m| m.is_file())?.len();
    }
    Some(total)
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
    fn new(len: Option<u64>) -> Progress {
        let bar =
            indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::hidden());
        let template = if len.is_some() {
            "{percent:>3}% {bytes}/{total_bytes} ({binary_bytes_per_sec}) {msg}"
        } else {
            "{bytes} ({binary_bytes_per_sec}) {msg}"
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
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

pub(crate) fn selected(sel: Option<StreamSel>, rec: &Record<'_>) -> bool {
    let Some(sel) = sel else { return true };
    let s = rec.analysis.stream;
    match (sel, rec.pkt.transport) {
        (StreamSel::Tcp(n), Transport::Tcp(_)) => s == Some(n),
        (StreamSel::Udp(n), Transport::Udp(_)) => s == Some(n),
        _ => false,
    }
}
