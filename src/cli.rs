//! Command line: what was typed (`Cli`) and the decisions made from it.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::render::payload::PayloadView;
use crate::render::{TextOptions, TimeMode};
use crate::replay::{Format, ReplayOptions, StreamSel};

#[derive(Debug, Parser)]
#[command(
    name = "sockscope",
    version,
    about = "Shows what socket programs put on the wire: annotated SEQ/ACK timelines",
    after_help = crate::exit::TABLE,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the annotated timeline of a saved pcap or pcapng capture (no root needed).
    #[command(after_help = REPLAY_EXAMPLES)]
    Replay(ReplayArgs),
    /// List the scenarios under their lessons, each with its summary (fitted to the terminal,
    /// or to 80 columns).
    #[command(after_help = LIST_EXAMPLES)]
    List,
    /// Run a scenario over loopback, capture it live, and show its calls and packets
    /// (no root needed: without CAP_NET_RAW it runs in a private user and network namespace;
    /// under sudo, privileges are dropped once the capture is open).
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Run any program in a private network namespace and show its packets beside its output,
    /// as `run` shows a scenario (no root needed). Exits with the program's status.
    #[command(after_help = TRACE_EXAMPLES)]
    Trace(TraceArgs),
    /// Print the text ladder of one conversation of a capture (as `replay --ladder`; -A or
    /// --ascii draws it in ASCII).
    #[command(after_help = LADDER_EXAMPLES)]
    Ladder(ReplayArgs),
    /// Compare two captures (or saved runs) side by side: TCP segments by kind, payload bytes,
    /// bytes per data segment, round trips, elapsed time, retransmissions and the named waits,
    /// with B − A and B ÷ A.
    #[command(after_help = COMPARE_EXAMPLES, long_about = COMPARE_ABOUT)]
    Compare(CompareArgs),
    /// Print a shell completion script to stdout.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: sockscope's, or one subcommand's.
    #[command(after_help = MAN_EXAMPLES)]
    Man {
        /// A subcommand (replay, list, run, trace, ...) for its own page, sockscope-SUBCOMMAND(1).
        #[arg(value_name = "SUBCOMMAND")]
        subcommand: Option<String>,
    },
}

const LADDER_EXAMPLES: &str = "\
Examples:
  sockscope ladder capture.pcap                   the first TCP stream, client left, server right
  sockscope ladder capture.pcap --stream 3        TCP stream 3 (tshark's tcp.stream 3)
  sockscope ladder capture.pcap port 6379         the first TCP stream the filter selects
  sockscope ladder capture.pcap --ascii --width 72  ASCII arrows, fitted to 72 columns
  sockscope ladder fork.pcapng --width 120        several clients and their server: a lane each";

const REPLAY_EXAMPLES: &str = "\
Examples:
  sockscope replay capture.pcapng                 the annotated timeline, then a summary
  sockscope replay capture.pcap tcp port 80       only what a tcpdump filter selects
  sockscope replay capture.pcap --stream 3        one TCP conversation (tshark's tcp.stream 3)
  sockscope replay capture.pcap -t abs            absolute UTC times
  sockscope replay capture.pcap --format jsonl    JSON Lines for jq (see docs/jsonl.md)
  sockscope replay -r a.pcap -r b.pcap.gz -c 20   tcpdump's habits: -r, -c, -n, -w, -l
  tcpdump -i lo -U -w - | sockscope replay -      packets as they arrive
  sockscope replay h.pcapng                       a run saved by `run --save`: shown as it ran
  sockscope replay c.pcap --stream 2 --svg c.svg  the ladder of one conversation, as SVG";

const LIST_EXAMPLES: &str = "\
Examples:
  sockscope list                                  the scenarios, by lesson
  sockscope run handshake                         then run one of them";

const RUN_EXAMPLES: &str = "\
Examples:
  sockscope run handshake                         the three-way handshake, live
  sockscope run nagle --explain                   with the longer explanation
  sockscope run fork --save fork.pcapng           also keep the capture (Wireshark shows the calls)
  sockscope run nagle --svg n.svg --html n.html   the ladder as SVG; a page to hand out
  sockscope run all                               every scenario, one verdict each
  sudo sockscope run teardown                     on the host's lo (privileges dropped at once)";

const TRACE_EXAMPLES: &str = "\
Examples:
  sockscope trace -- python3 echo.py              a program's calls beside its packets
  sockscope trace --save t.pcapng -- ./client     also keep the capture
  sockscope trace --html t.html -- ./client       a page of the run (timeline, ladder)
  sockscope trace --format jsonl -- ./server      JSON Lines for scripts
  sockscope trace --netns lab -- python3 -m http.server 8000      (one terminal)
  sockscope trace --netns lab -- curl -s http://127.0.0.1:8000/   (another: same lo)";

const COMPARE_ABOUT: &str = "\
Compare two captures (or saved runs) side by side: each metric of A and of B, B − A and B ÷ A; \
on a terminal the cells that differ are bold.

Metrics (TCP only: all TCP segments of each file, or the conversations --stream selects):
  data segments      segments with payload; pure ACKs: no payload and no SYN, FIN or RST
  SYN, FIN, RST      segments with that flag (a FIN with data is a data segment too)
  payload bytes      all TCP payload, re-sent bytes included (tcp.len)
  round trips        per conversation, each time the side that did not send the first data
                     starts sending data after the other side did (a request and its response
                     make one; a one-way transfer has none); summed over conversations
  elapsed            first to last TCP segment counted
  retransmissions    segments the analyser calls a retransmission (fast, spurious included)
  waits              the analyser's named waits (delayed ACK, Nagle, RTO...): count, total ms";

const COMPARE_EXAMPLES: &str = "\
Examples:
  sockscope compare before.pcap after.pcap        the metrics side by side, differences marked
  sockscope compare a.pcapng b.pcapng --stream 0  one conversation of each
  sockscope compare n.pcapng n.pcapng --stream 0,1  conversation 0 against 1 (run nagle --save)
  sockscope compare nagle.pcapng nodelay.pcapng   two saved runs (run --save)
  sockscope compare a.pcap b.pcap --format jsonl  one record per metric (see docs/jsonl.md)
  sockscope compare a.pcapng b.pcapng --ladder    the two ladders side by side, then the table";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  sockscope completions bash > ~/.local/share/bash-completion/completions/sockscope
  sockscope completions zsh > ~/.zfunc/_sockscope       (with fpath+=~/.zfunc in ~/.zshrc)
  sockscope completions fish > ~/.config/fish/completions/sockscope.fish";

const MAN_EXAMPLES: &str = "\
Examples:
  sockscope man | man -l -                        read it now
  sockscope man > ~/.local/share/man/man1/sockscope.1
  sockscope man replay | man -l -                 the page of one subcommand";

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The first capture (pcap or pcapng, or a run saved by `run --save`): column A.
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// The second capture: column B (differences are B − A).
    #[arg(value_name = "B")]
    pub b: PathBuf,
    /// Compare TCP conversation N of each file (tshark's tcp.stream) instead of all TCP;
    /// N,M: conversation N of A and M of B (two parts of one run: `compare r.pcapng r.pcapng
    /// --stream 0,1`).
    #[arg(long, value_name = "N[,M]", value_parser = parse_stream_pair)]
    pub stream: Option<[u64; 2]>,
    /// Output format: the table for people, or JSON Lines (one record per metric) for scripts.
    #[arg(long, value_enum, default_value_t = FormatArg::Text, value_name = "FORMAT")]
    pub format: FormatArg,
    /// Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,
    /// Fit the text to N columns (0: no limit, whole lines). Default: COLUMNS when set, else
    /// the terminal's width; whole lines when stdout is not a terminal.
    #[arg(long, value_name = "N", value_parser = parse_width)]
    pub width: Option<usize>,
    /// Before the table, draw the text ladders of A and B (those `sockscope ladder` draws, of
    /// the conversations --stream selects) side by side when the width leaves each its
    /// narrowest ladder, else one after the other. Not with --format jsonl.
    #[arg(long)]
    pub ladder: bool,
    /// With --ladder: draw the ladders in ASCII (`-->`, `<--`, `|`) instead of box drawing.
    #[arg(short = 'A', long, requires = "ladder")]
    pub ascii: bool,
}

impl CompareArgs {
    pub fn options(&self) -> crate::compare::CompareOptions {
        crate::compare::CompareOptions {
            a: self.a.clone(),
            b: self.b.clone(),
            stream: self.stream,
            jsonl: matches!(self.format, FormatArg::Jsonl),
            color: use_color(self.color),
            width: out_width(self.width),
            ladder: self.ladder.then_some(self.ascii),
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("outputs").multiple(true)))]
pub struct TraceArgs {
    /// Output format: the interleaved timeline for people, or JSON Lines for scripts.
    #[arg(long, value_enum, default_value_t = FormatArg::Text, value_name = "FORMAT")]
    pub format: FormatArg,
    /// Also write the run to FILE: .pcapng holds the packets, the calls as packet comments
    /// and the whole run (`sockscope replay FILE` shows it again); .pcap the packets only;
    /// `-` writes pcapng to stdout instead of the report. The file belongs to the invoking
    /// user; the folder is checked before the run starts.
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub save: Option<PathBuf>,
    /// Overwrite the --save (--svg, --html) file if it exists.
    #[arg(long, requires = "outputs")]
    pub force: bool,
    /// Run in the private namespace called NAME, shared with other `sockscope trace --netns
    /// NAME` of this user (created by the first, joined by the others): a server traced in one
    /// terminal and its client in another meet on one lo, and each shows the packets of both.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Leave the program's output buffering as it is. By default the program is asked for
    /// line-buffered output (PYTHONUNBUFFERED=1; for C stdio, coreutils' libstdbuf as
    /// `stdbuf -oL` does), so that each line shows when it is written, not when a full
    /// buffer is flushed into the pipe sockscope reads.
    #[arg(long)]
    pub buffered: bool,
    /// Packets and output only: do not trace the program's socket calls.
    #[arg(long)]
    pub no_syscalls: bool,
    /// The capture buffer (the kernel ring libpcap reads), in KiB, as tcpdump's -B. Larger
    /// keeps up with bulk transfers: lo's packets are up to 64 KiB each, so the default
    /// (10240 KiB) holds about 160 of them. Drops are counted and reported.
    #[arg(short = 'B', long = "buffer-size", value_name = "KiB", value_parser = parse_buffer)]
    pub buffer_size: Option<u32>,
    /// Kill the program after SECS seconds (exit status 124, as timeout(1)).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Time column: relative to the first event, absolute UTC, or delta from the previous line.
    #[arg(short = 't', long = "time", value_enum, default_value_t = TimeArg::Rel, value_name = "MODE")]
    pub time: TimeArg,
    /// Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,
    /// Fit the text to N columns, wrapping within each lane (0: no limit, whole lines).
    /// Default: COLUMNS when set, else the terminal's width; whole lines when stdout is not a
    /// terminal (a pipe or file stays grep-friendly, as tcpdump's).
    #[arg(long, value_name = "N", value_parser = parse_width)]
    pub width: Option<usize>,
    /// The program and its arguments (after `--`).
    #[arg(
        value_name = "CMD",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<std::ffi::OsString>,
    /// Also draw the ladder to FILE as a standalone SVG (lanes, arrows with their numbers,
    /// the calls, the time axis), for a slide or a web page. The file belongs to the invoking
    /// user; the folder is checked before the run starts (--force to overwrite).
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub svg: Option<PathBuf>,
    /// Also write one self-contained HTML page to FILE: the timeline, the ladder, the checks
    /// and the explanation; hover a packet or call for its details, click a packet to see the
    /// call that caused it. It loads nothing from the network (a handout that opens offline).
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub html: Option<PathBuf>,
    /// Print the text ladder of each connection instead of the three-lane timeline: client
    /// and server lanes with their pids, the calls on their lanes, arrows with flags,
    /// relative SEQ/ACK, length, window and the analyser's marks, and the state changes.
    /// Fitted to --width. Not with --format jsonl.
    #[arg(long)]
    pub ladder: bool,
    /// With --ladder: draw it in ASCII (`-->`, `<--`, `|`) instead of box drawing.
    #[arg(long, requires = "ladder")]
    pub ascii: bool,
}

impl TraceArgs {
    pub fn text_options(&self) -> TextOptions {
        TextOptions {
            time: time_mode(self.time),
            color: use_color(self.color),
        }
    }

    /// Columns to fit the report into (None: whole lines).
    pub fn width(&self) -> Option<usize> {
        out_width(self.width)
    }
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("outputs").multiple(true)))]
pub struct RunArgs {
    /// Scenario name (see `sockscope list`), or `all` to run every one with a one-line verdict.
    #[arg(value_name = "SCENARIO")]
    pub scenario: String,
    /// Output format: the interleaved timeline for people, or JSON Lines (events and packets,
    /// with a `kind` key) for scripts.
    #[arg(long, value_enum, default_value_t = FormatArg::Text, value_name = "FORMAT")]
    pub format: FormatArg,
    /// Also write the run to FILE: .pcapng holds the packets, the calls as packet comments
    /// and the whole run (`sockscope replay FILE` shows it again); .pcap the packets only;
    /// `-` writes pcapng to stdout instead of the report. The file belongs to the invoking
    /// user; the folder is checked before the run starts.
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub save: Option<PathBuf>,
    /// Overwrite the --save (--svg, --html) file if it exists.
    #[arg(long, requires = "outputs")]
    pub force: bool,
    /// Add the longer explanation of what to look at.
    #[arg(long)]
    pub explain: bool,
    /// The capture buffer (the kernel ring libpcap reads), in KiB, as tcpdump's -B. Larger
    /// keeps up with bulk transfers: lo's packets are up to 64 KiB each, so the default
    /// (10240 KiB) holds about 160 of them. Drops are counted and reported.
    #[arg(short = 'B', long = "buffer-size", value_name = "KiB", value_parser = parse_buffer)]
    pub buffer_size: Option<u32>,
    /// Run in the private network namespace called NAME (created by the first sockscope that
    /// names it, joined by the others of this user, e.g. a `trace --netns NAME`), not on the
    /// host's lo.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Time column: relative to the first event, absolute UTC, or delta from the previous line.
    #[arg(short = 't', long = "time", value_enum, default_value_t = TimeArg::Rel, value_name = "MODE")]
    pub time: TimeArg,
    /// Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,
    /// Fit the text to N columns, wrapping within each lane (0: no limit, whole lines).
    /// Default: COLUMNS when set, else the terminal's width; whole lines when stdout is not a
    /// terminal (a pipe or file stays grep-friendly, as tcpdump's).
    #[arg(long, value_name = "N", value_parser = parse_width)]
    pub width: Option<usize>,
    /// Also draw the ladder to FILE as a standalone SVG (lanes, arrows with their numbers,
    /// the calls, the time axis), for a slide or a web page. The file belongs to the invoking
    /// user; the folder is checked before the run starts (--force to overwrite).
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub svg: Option<PathBuf>,
    /// Also write one self-contained HTML page to FILE: the timeline, the ladder, the checks
    /// and the explanation; hover a packet or call for its details, click a packet to see the
    /// call that caused it. It loads nothing from the network (a handout that opens offline).
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub html: Option<PathBuf>,
    /// Print the text ladder of each connection instead of the three-lane timeline: client
    /// and server lanes with their pids, the calls on their lanes, arrows with flags,
    /// relative SEQ/ACK, length, window and the analyser's marks, and the state changes;
    /// then the checks, which still decide the exit status. Fitted to --width. One scenario
    /// only (not `all`), not with --format jsonl.
    #[arg(long)]
    pub ladder: bool,
    /// With --ladder: draw it in ASCII (`-->`, `<--`, `|`) instead of box drawing.
    #[arg(long, requires = "ladder")]
    pub ascii: bool,
}

impl RunArgs {
    pub fn text_options(&self) -> TextOptions {
        TextOptions {
            time: time_mode(self.time),
            color: use_color(self.color),
        }
    }

    /// Columns to fit the report into (None: whole lines).
    pub fn width(&self) -> Option<usize> {
        out_width(self.width)
    }
}

/// The largest `-B` (1 GiB; libpcap takes the size as an int of bytes).
pub const MAX_BUFFER_KIB: u32 = 1 << 20;

/// The smallest `-B`: on lo (MTU 65536) each slot of the ring takes over 64 KiB, and a ring of
/// one slot can miss the end-of-run marker; 256 KiB holds a few.
pub const MIN_BUFFER_KIB: u32 = 256;

fn parse_buffer(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (MIN_BUFFER_KIB..=MAX_BUFFER_KIB).contains(&n) => Ok(n),
        Ok(n) if n < MIN_BUFFER_KIB => Err(format!(
            "{n} KiB is too small: on lo each packet takes a 64 KiB slot of the buffer; give \
             {MIN_BUFFER_KIB} KiB or more (the default is 10240)"
        )),
        _ => Err(format!(
            "'{s}' is not a buffer size: give KiB from {MIN_BUFFER_KIB} to {MAX_BUFFER_KIB} (e.g. -B 65536 for 64 MiB)"
        )),
    }
}

/// The narrowest width the three lanes are laid out for.
pub const MIN_WIDTH: usize = 40;

fn parse_width(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| {
        format!("'{s}' is not a number of columns (give N ≥ {MIN_WIDTH}, or 0 for no limit)")
    })?;
    if n != 0 && n < MIN_WIDTH {
        return Err(format!(
            "{n} columns is too narrow for three lanes: give {MIN_WIDTH} or more (0 for no limit)"
        ));
    }
    Ok(n)
}

/// Columns for text on stdout: `--width` (0: no limit), else COLUMNS, else the terminal's
/// width; no limit when stdout is not a terminal. See [`resolve_width`].
pub fn out_width(arg: Option<usize>) -> Option<usize> {
    let term = || terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0));
    resolve_width(arg, std::env::var_os("COLUMNS").as_deref(), term)
}

/// `--width` wins, then COLUMNS (a number > 0; anything else is ignored), then the terminal
/// (asked only when needed). Widths below [`MIN_WIDTH`] count as that.
pub fn resolve_width(
    arg: Option<usize>,
    columns: Option<&std::ffi::OsStr>,
    term: impl FnOnce() -> Option<usize>,
) -> Option<usize> {
    let w = match arg {
        Some(0) => return None,
        Some(n) => Some(n),
        None => columns
            .and_then(|c| c.to_str())
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|&c| c > 0)
            .or_else(term),
    };
    w.map(|w| w.max(MIN_WIDTH))
}

fn time_mode(t: TimeArg) -> TimeMode {
    match t {
        TimeArg::Rel => TimeMode::Rel,
        TimeArg::Abs => TimeMode::Abs,
        TimeArg::Delta => TimeMode::Delta,
    }
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("outputs").multiple(true)))]
#[command(
    override_usage = "sockscope replay [OPTIONS] FILE... [FILTER...]\n       \
                      sockscope replay [OPTIONS] -r FILE [-r FILE]... [FILE...] [FILTER...]",
    after_help = REPLAY_HELP
)]
pub struct ReplayArgs {
    /// Capture files (pcap, µs or ns, either byte order, or pcapng; gzip and zstd are
    /// decompressed; `-` is standard input), then the tcpdump filter, e.g. 'tcp port 80' or
    /// 'host ::1' (one word or several). Which words are files: see below.
    #[arg(value_name = "FILE|FILTER")]
    pub args: Vec<std::ffi::OsString>,
    /// Read FILE (as tcpdump -r; may be repeated: the files are read one after another).
    #[arg(short = 'r', value_name = "FILE", action = clap::ArgAction::Append)]
    pub read: Vec<PathBuf>,
    /// Stop after N packets shown (counted after the filter and --stream), as tcpdump -c.
    #[arg(short = 'c', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Write the selected packets to FILE (`-`: standard output) instead of printing them,
    /// as tcpdump -w: pcapng for *.pcapng, pcap for *.pcap, else the input's format.
    #[arg(short = 'w', value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// With -w FILE, print the timeline too (tcpdump's --print).
    #[arg(long, requires = "write")]
    pub print: bool,
    /// Hand each line to the output at once (as tcpdump -l). Without -l, output goes out in
    /// 64 KiB batches, and from a pipe or FIFO also whenever the input has nothing more for
    /// now, so each packet shows as it arrives.
    #[arg(short = 'l')]
    pub line_buffered: bool,
    /// Accepted as tcpdump takes -n and -nn: sockscope never resolves addresses or ports.
    #[arg(short = 'n', action = clap::ArgAction::Count)]
    pub no_resolve: u8,
    /// Output format: an aligned timeline for people, or JSON Lines for scripts.
    #[arg(long, value_enum, default_value_t = FormatArg::Text, value_name = "FORMAT")]
    pub format: FormatArg,
    /// Time column: relative to the first packet, absolute UTC, or delta from the previous line.
    #[arg(short = 't', long = "time", value_enum, default_value_t = TimeArg::Rel, value_name = "MODE")]
    pub time: TimeArg,
    /// Show one conversation: a TCP stream index (tshark's tcp.stream), or udp:N for a UDP one.
    #[arg(long, value_name = "N|tcp:N|udp:N", value_parser = parse_stream)]
    pub stream: Option<StreamSel>,
    /// Do not print the summary after the timeline.
    #[arg(long)]
    pub no_summary: bool,
    /// No progress display on stderr (it only appears on a terminal, for runs over a second).
    #[arg(short, long)]
    pub quiet: bool,
    /// Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,
    /// Print each packet's payload (TCP/UDP data, ICMP data) under its line as text, as
    /// tcpdump's -A: printable ASCII and line breaks, every other byte as '.'. With --ladder
    /// (or `sockscope ladder`): draw the ladder in ASCII.
    #[arg(short = 'A', long = "ascii", conflicts_with = "hex")]
    pub ascii: bool,
    /// Print each packet's payload under its line in hex and ASCII, as tcpdump's -X.
    #[arg(short = 'X', long = "hex")]
    pub hex: bool,
    /// Print one conversation's bytes in both directions instead of the timeline, as
    /// `tshark -q -z follow,tcp,ascii,N`: TCP reassembled in order, without retransmitted
    /// bytes.
    #[arg(long, value_name = "tcp:N|udp:N", value_parser = parse_stream,
          conflicts_with_all = ["stream", "ascii", "hex", "no_summary", "format", "count", "write"])]
    pub follow: Option<StreamSel>,
    /// A saved run (`run --save`, `trace --save`) is shown as the run it was: fit that view to
    /// N columns as `run --width` does (0: whole lines; default: COLUMNS, else the terminal's
    /// width, whole lines in a pipe). The packet timeline keeps whole lines.
    #[arg(long, value_name = "N", value_parser = parse_width)]
    pub width: Option<usize>,
    /// A saved scenario run: add the scenario's longer explanation, as `run --explain`.
    #[arg(long)]
    pub explain: bool,
    /// Draw the ladder of one conversation (--stream N, by default the first TCP stream; of a
    /// run saved by sockscope, the run's) to FILE as a standalone SVG. The timeline is printed
    /// as well.
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub svg: Option<PathBuf>,
    /// Write one self-contained HTML page of that conversation (or saved run) to FILE: its
    /// timeline, its ladder, and for a saved run its calls and checks. It loads nothing from
    /// the network.
    #[arg(long, value_name = "FILE", group = "outputs")]
    pub html: Option<PathBuf>,
    /// Overwrite the --svg or --html file if it exists.
    #[arg(long, requires = "outputs")]
    pub force: bool,
    /// Print the text ladder of one conversation instead of the timeline (--stream N, by
    /// default the first TCP stream matching the filter): client and server lanes, arrows
    /// with flags, relative SEQ/ACK, length, window and the analyser's marks, state changes,
    /// and waits of 10 ms or more as one labelled row. Without --stream, conversations between
    /// more than two endpoints are drawn on one ladder of a lane per addr:port when the lanes
    /// fit. Fitted to --width; with -A/--ascii, drawn in ASCII (`-->`, `<--`, `|`).
    #[arg(long, conflicts_with_all = ["follow", "write", "count", "hex", "outputs"])]
    pub ladder: bool,
}

/// How `replay` tells files from filter words, shown after its options.
const REPLAY_HELP: &str = "\
Files and filter: `replay a.pcap b.pcap.gz tcp port 80` reads a.pcap, then b.pcap.gz, and shows
what matches `tcp port 80`. The leading words that are files are read: a word is a file when it
is `-` or /dev/stdin, ends in .pcap, .pcapng, .cap, .ntar or .dmp (optionally followed by .gz or
.zst), or names an existing file and is not a filter keyword (a file called `tcp` is written
./tcp). Without -r the first word is always a file. The first word that is not a file starts the
filter; the filter is everything after it. Files are read as one capture: frame and stream
numbers go on from one file to the next (as for files rotated by tcpdump -C or -G).

tcpdump's habits: -r FILE, -c N, -w FILE, -n/-nn, -l, and `-` for standard input
(`tcpdump -U -w - | sockscope replay -` shows each packet as it arrives).";

/// What was wrong with a `replay` command line that clap could not see.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("no capture given: name one (`sockscope replay FILE`, `-r FILE`, or `-` for standard input)")]
    NoInput,
    #[error("'{0}' after `--` is read as a file or filter word, not an option: put options before `--` or leave `--` out (`sockscope replay -c 3 FILE`); a file called '{0}' is written ./{0}")]
    OptionAfterDashes(String),
    #[error("--follow shows one whole conversation: leave out the filter `{0}` (or, if it is a file, write it ./{0})")]
    FollowWithFilter(String),
    #[error("standard input is named twice: it can be read once")]
    StdinTwice,
    #[error("the filter word {0:?} is not UTF-8")]
    NotUtf8(std::ffi::OsString),
    #[error(
        "-w {0}: sockscope writes uncompressed captures; pipe `-w -` into gzip or zstd instead"
    )]
    CompressedOutput(PathBuf),
    #[error("-w {0}: that is an input of this replay; write to another file")]
    OutputIsInput(PathBuf),
    #[error("-w -: standard output is a terminal and the capture is binary; redirect it (`-w - > out.pcap`) or pipe it")]
    CaptureToTerminal,
    #[error("--print with -w -: the timeline would be mixed into the capture on standard output; write the capture to a file")]
    PrintWithStdout,
}

/// Words that start a tcpdump filter: never taken for a file, even when a file of that name
/// exists.
const FILTER_KEYWORDS: &[&str] = &[
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "ip",
    "ip6",
    "arp",
    "rarp",
    "sctp",
    "igmp",
    "pim",
    "vrrp",
    "port",
    "portrange",
    "host",
    "net",
    "src",
    "dst",
    "ether",
    "vlan",
    "mpls",
    "pppoed",
    "pppoes",
    "not",
    "and",
    "or",
    "less",
    "greater",
    "len",
    "proto",
    "gateway",
    "broadcast",
    "multicast",
    "inbound",
    "outbound",
    "ifname",
    "wlan",
    "link",
    "fddi",
    "tr",
    "atalk",
    "decnet",
    "iso",
    "stp",
    "ipx",
    "netbeui",
    "geneve",
];

/// Whether a positional word names a capture file (see [`REPLAY_HELP`]).
fn is_file_word(w: &std::ffi::OsStr) -> bool {
    let p = std::path::Path::new(w);
    if crate::source::input::is_stdin(p) {
        return true;
    }
    let name = w.to_string_lossy().to_ascii_lowercase();
    let base = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .or_else(|| name.strip_suffix(".zstd"))
        .unwrap_or(&name);
    if [".pcap", ".pcapng", ".cap", ".ntar", ".dmp"]
        .iter()
        .any(|e| base.ends_with(e))
    {
        return true;
    }
    !FILTER_KEYWORDS.contains(&name.as_str()) && std::fs::metadata(p).is_ok_and(|m| !m.is_dir())
}

/// A word that can only be an option given after `--` (`-c`, `-nn`, `--stream`).
fn looks_like_option(w: &str) -> bool {
    let mut c = w.chars();
    c.next() == Some('-')
        && c.next()
            .is_some_and(|x| x.is_ascii_alphabetic() || x == '-')
        && !std::path::Path::new(w).exists()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Jsonl,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TimeArg {
    Rel,
    Abs,
    Delta,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// `--stream` of compare: `N` (both files) or `N,M` (N of A, M of B).
fn parse_stream_pair(s: &str) -> Result<[u64; 2], String> {
    let n = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|_| format!("'{s}' is not a stream number (give N, or N,M: N of A, M of B)"))
    };
    match s.split_once(',') {
        Some((a, b)) => Ok([n(a)?, n(b)?]),
        None => {
            let a = n(s)?;
            Ok([a, a])
        }
    }
}

fn parse_stream(s: &str) -> Result<StreamSel, String> {
    let (kind, n) = match s.split_once(':') {
        Some((k, n)) => (k, n),
        None => ("tcp", s),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'{s}' is not a stream number (give N, tcp:N or udp:N)"))?;
    match kind {
        "tcp" => Ok(StreamSel::Tcp(n)),
        "udp" => Ok(StreamSel::Udp(n)),
        _ => Err(format!("'{kind}' is not tcp or udp")),
    }
}

/// Whether to colour stdout: `auto` means a terminal, and NO_COLOR unset or empty, and TERM
/// not `dumb`.
pub fn use_color(arg: ColorArg) -> bool {
    match arg {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

impl ReplayArgs {
    /// The capture files and the filter words, by the rule in [`REPLAY_HELP`].
    pub fn inputs_and_filter(&self) -> Result<(Vec<PathBuf>, Option<String>), UsageError> {
        let mut inputs = self.read.clone();
        let mut words = self.args.iter().peekable();
        if inputs.is_empty() {
            let first = words.next().ok_or(UsageError::NoInput)?;
            // `replay tcp port 80`: a filter with no file before it.
            let keyword = first
                .to_str()
                .is_some_and(|w| FILTER_KEYWORDS.contains(&w.to_ascii_lowercase().as_str()));
            if keyword && !std::path::Path::new(first).exists() {
                return Err(UsageError::NoInput);
            }
            inputs.push(PathBuf::from(first));
        }
        while let Some(w) = words.next_if(|w| is_file_word(w)) {
            inputs.push(PathBuf::from(w));
        }
        let mut filter = Vec::new();
        for w in words {
            filter.push(
                w.to_str()
                    .ok_or_else(|| UsageError::NotUtf8(w.clone()))?
                    .to_owned(),
            );
        }
        if let Some(w) = self
            .args
            .iter()
            .filter_map(|w| w.to_str())
            .find(|w| looks_like_option(w))
        {
            return Err(UsageError::OptionAfterDashes(w.to_owned()));
        }
        let stdin = inputs
            .iter()
            .filter(|p| crate::source::input::is_stdin(p))
            .count();
        if stdin > 1 {
            return Err(UsageError::StdinTwice);
        }
        Ok((inputs, (!filter.is_empty()).then(|| filter.join(" "))))
    }

    pub fn options(&self) -> Result<ReplayOptions, UsageError> {
        let (inputs, filter) = self.inputs_and_filter()?;
        if let (Some(_), Some(f)) = (self.follow, &filter) {
            return Err(UsageError::FollowWithFilter(f.clone()));
        }
        if let Some(w) = &self.write {
            let name = w.to_string_lossy().to_ascii_lowercase();
            if [".gz", ".zst", ".zstd"].iter().any(|e| name.ends_with(e)) {
                return Err(UsageError::CompressedOutput(w.clone()));
            }
            if w.as_os_str() == "-" {
                if self.print {
                    return Err(UsageError::PrintWithStdout);
                }
                if std::io::stdout().is_terminal() {
                    return Err(UsageError::CaptureToTerminal);
                }
            } else if let Ok(out) = w.canonicalize() {
                if inputs
                    .iter()
                    .any(|i| i.canonicalize().is_ok_and(|i| i == out))
                {
                    return Err(UsageError::OutputIsInput(w.clone()));
                }
            }
        }
        Ok(ReplayOptions {
            inputs,
            format: match self.format {
                FormatArg::Text => Format::Text,
                FormatArg::Jsonl => Format::Jsonl,
            },
            text: TextOptions {
                time: time_mode(self.time),
                color: use_color(self.color),
            },
            filter,
            stream: self.stream,
            summary: !self.no_summary,
            progress: !self.quiet && std::io::stderr().is_terminal(),
            count: self.count,
            line_buffered: self.line_buffered,
            write: self.write.clone(),
            print: self.print,
            payload: match (self.ascii, self.hex) {
                (true, _) => PayloadView::Text,
                (_, true) => PayloadView::Hex,
                _ => PayloadView::None,
            },
            follow: self.follow,
            width: out_width(self.width),
            explain: self.explain,
        })
    }
}

/// `sockscope completions SHELL`: the completion script for SHELL.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "sockscope", out);
}

/// `sockscope man [SUBCOMMAND]`: sockscope(1), or sockscope-SUBCOMMAND(1).
pub fn man(subcommand: Option<&str>, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    cmd.build();
    let page = match subcommand {
        None => cmd,
        Some(name) => {
            let names: Vec<String> = cmd
                .get_subcommands()
                .map(|c| c.get_name().to_owned())
                .collect();
            let sub = cmd.find_subcommand(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "no subcommand '{name}': man takes one of {}",
                    names.join(", ")
                )
            })?;
            let title = format!("sockscope-{}", sub.get_name());
            sub.clone().name(title)
        }
    };
    clap_mangen::Man::new(page).render(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn replay_args(args: &[&str]) -> ReplayArgs {
        let mut all = vec!["sockscope", "replay"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).map(|c| c.command) {
            Ok(Command::Replay(r)) => r,
            other => panic!("not a replay command line: {other:?}"),
        }
    }

    fn split(args: &[&str]) -> (Vec<String>, Option<String>) {
        let (files, filter) = replay_args(args).inputs_and_filter().expect("usage");
        let files = files.iter().map(|p| p.display().to_string()).collect();
        (files, filter)
    }

    #[test]
    fn filter_words_are_joined() {
        let r = replay_args(&["f.pcap", "tcp", "port", "80"]);
        assert_eq!(
            r.options().expect("usage").filter.as_deref(),
            Some("tcp port 80")
        );
    }

    #[test]
    fn leading_capture_names_are_files_and_the_rest_is_the_filter() {
        assert_eq!(
            split(&["a.pcap", "b.pcapng.gz", "-", "udp", "port", "53"]),
            (
                vec!["a.pcap".into(), "b.pcapng.gz".into(), "-".into()],
                Some("udp port 53".into())
            )
        );
        // Without -r the first word is a file whatever its name.
        assert_eq!(split(&["trace"]), (vec!["trace".into()], None));
        // With -r, words go to the filter unless they name captures.
        assert_eq!(
            split(&["-r", "trace", "-r", "trace2", "c.cap", "tcp"]),
            (
                vec!["trace".into(), "trace2".into(), "c.cap".into()],
                Some("tcp".into())
            )
        );
        // Once the filter has started, a capture-like word belongs to it.
        assert_eq!(
            split(&["a.pcap", "host", "x.pcap"]),
            (vec!["a.pcap".into()], Some("host x.pcap".into()))
        );
    }

    #[test]
    fn an_existing_file_is_a_file_unless_it_is_a_filter_keyword() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rotated = dir.path().join("trace1");
        std::fs::write(&rotated, b"").expect("write");
        let r = rotated.to_str().expect("utf-8");
        assert_eq!(
            split(&["a.pcap", r, "tcp"]),
            (vec!["a.pcap".into(), r.into()], Some("tcp".into()))
        );
        assert!(!is_file_word(std::ffi::OsStr::new("tcp")));
        // A filter with no file before it.
        assert!(matches!(
            replay_args(&["tcp", "port", "80"]).options().err(),
            Some(UsageError::NoInput)
        ));
    }

    #[test]
    fn tcpdump_options_parse() {
        let r = replay_args(&["-nn", "-r", "a.pcap", "-c", "3", "-l", "-w", "out.pcapng"]);
        assert_eq!(r.no_resolve, 2);
        let o = r.options().expect("usage");
        assert_eq!(o.count, Some(3));
        assert!(o.line_buffered);
        assert_eq!(o.write.as_deref(), Some(std::path::Path::new("out.pcapng")));
        assert!(Cli::try_parse_from(["sockscope", "replay", "-c", "0", "a.pcap"]).is_err());
    }

    #[test]
    fn options_after_dashes_are_a_usage_error_not_a_filter() {
        let e = replay_args(&["--", "-c", "3"]).options().err();
        assert!(
            matches!(&e, Some(UsageError::OptionAfterDashes(w)) if w == "-c"),
            "{e:?}"
        );
        let e = replay_args(&["a.pcap", "--", "-nn"]).options().err();
        assert!(matches!(e, Some(UsageError::OptionAfterDashes(_))));
        // `-` alone is standard input; in a filter it is arithmetic.
        assert_eq!(
            split(&["-", "len", "-", "14", ">", "100"]),
            (vec!["-".into()], Some("len - 14 > 100".into()))
        );
        assert!(matches!(
            replay_args(&["-", "-r", "/dev/stdin"]).options().err(),
            Some(UsageError::StdinTwice)
        ));
    }

    #[test]
    fn every_subcommand_has_examples() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let after = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                after.starts_with("Examples:\n  sockscope "),
                "{}: {after:?}",
                sub.get_name()
            );
        }
    }

    #[test]
    fn completions_and_man_pages() {
        let mut bash = Vec::new();
        completions(clap_complete::Shell::Bash, &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        assert!(bash.contains("_sockscope()"), "{bash}");
        for word in ["replay", "trace", "--stream", "--netns"] {
            assert!(bash.contains(word), "bash completion lacks {word}");
        }
        let mut page = Vec::new();
        man(None, &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{}", &page[..80]);
        assert!(page.contains(".TH sockscope 1"), "{page}");
        let mut replay = Vec::new();
        man(Some("replay"), &mut replay).unwrap();
        let replay = String::from_utf8(replay).unwrap();
        assert!(replay.contains(".TH sockscope-replay 1"), "{replay}");
        assert!(replay.contains("\\-\\-stream"), "{replay}");
        let err = man(Some("nope"), &mut Vec::new()).unwrap_err().to_string();
        assert!(
            err.starts_with("no subcommand 'nope': man takes one of replay, list, run"),
            "{err}"
        );
    }

    #[test]
    fn width_from_the_flag_then_columns_then_the_terminal() {
        use std::ffi::OsStr;
        let term = || Some(120);
        let none = || None;
        assert_eq!(
            resolve_width(Some(90), Some(OsStr::new("60")), term),
            Some(90)
        );
        assert_eq!(resolve_width(Some(0), Some(OsStr::new("60")), term), None);
        assert_eq!(resolve_width(None, Some(OsStr::new("60")), term), Some(60));
        assert_eq!(
            resolve_width(None, Some(OsStr::new("wide")), term),
            Some(120)
        );
        assert_eq!(resolve_width(None, Some(OsStr::new("0")), none), None);
        assert_eq!(resolve_width(None, None, none), None);
        assert_eq!(
            resolve_width(None, Some(OsStr::new("20")), none),
            Some(MIN_WIDTH)
        );
        assert_eq!(parse_width("80"), Ok(80));
        assert_eq!(parse_width("0"), Ok(0));
        assert!(parse_width("39").is_err() && parse_width("x").is_err());
        let cli = Cli::try_parse_from(["sockscope", "run", "fork", "--width", "80"]).unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert_eq!(r.width(), Some(80));
        assert!(
            Cli::try_parse_from(["sockscope", "trace", "--width", "20", "--", "true"]).is_err()
        );
    }

    #[test]
    fn buffer_size_is_in_kib_within_bounds() {
        assert_eq!(parse_buffer("256"), Ok(256));
        assert_eq!(parse_buffer("1048576"), Ok(MAX_BUFFER_KIB));
        assert!(parse_buffer("64").is_err_and(|e| e.contains("256 KiB or more")));
        assert!(parse_buffer("1048577").is_err() && parse_buffer("x").is_err());
        let cli = Cli::try_parse_from(["sockscope", "run", "udp", "-B", "4096"]).unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert_eq!(r.buffer_size, Some(4096));
        let cli = Cli::try_parse_from(["sockscope", "trace", "--buffer-size", "512", "--", "true"])
            .unwrap();
        let Command::Trace(t) = cli.command else {
            panic!("not trace")
        };
        assert_eq!(t.buffer_size, Some(512));
    }

    #[test]
    fn stream_selector() {
        assert_eq!(parse_stream("3"), Ok(StreamSel::Tcp(3)));
        assert_eq!(parse_stream("udp:2"), Ok(StreamSel::Udp(2)));
        assert!(parse_stream("x").is_err());
    }
}
