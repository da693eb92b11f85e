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
    Replay(ReplayArgs),
    /// List the scenarios, one line each, with the lesson each belongs to.
    List,
    /// Run a scenario over loopback, capture it live, and show its calls and packets
    /// (no root needed: without CAP_NET_RAW it runs in a private user and network namespace;
    /// under sudo, privileges are dropped once the capture is open).
    Run(RunArgs),
    /// Run any program in a private network namespace and show its packets beside its output,
    /// as `run` shows a scenario (no root needed). Exits with the program's status.
    Trace(TraceArgs),
}

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// Output format: the interleaved timeline for people, or JSON Lines for scripts.
    #[arg(long, value_enum, default_value_t = FormatArg::Text, value_name = "FORMAT")]
    pub format: FormatArg,
    /// Also write the capture to FILE (pcapng, with the program's events as packet comments,
    /// and FILE.events.jsonl). The files belong to the invoking user.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
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
    /// Kill the program after SECS seconds (exit status 124, as timeout(1)).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Time column: relative to the first event, absolute UTC, or delta from the previous line.
    #[arg(short = 't', long = "time", value_enum, default_value_t = TimeArg::Rel, value_name = "MODE")]
    pub time: TimeArg,
    /// Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    pub color: ColorArg,
    /// The program and its arguments (after `--`).
    #[arg(
        value_name = "CMD",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<std::ffi::OsString>,
}

impl TraceArgs {
    pub fn text_options(&self) -> TextOptions {
        TextOptions {
            time: time_mode(self.time),
            color: use_color(self.color),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario name (see `sockscope list`), or `all` to run every one with a one-line verdict.
    #[arg(value_name = "SCENARIO")]
    pub scenario: String,
    /// Output format: the interleaved timeline for people, or JSON Lines (events and packets,
    /// with a `kind` key) for scripts.
    #[arg(long, value_enum, default_value_t = FormatArg::Text, value_name = "FORMAT")]
    pub format: FormatArg,
    /// Also write the capture to FILE (pcapng; the program's events are packet comments that
    /// Wireshark shows). The file belongs to the invoking user.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Add the longer explanation of what to look at.
    #[arg(long)]
    pub explain: bool,
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
}

impl RunArgs {
    pub fn text_options(&self) -> TextOptions {
        TextOptions {
            time: time_mode(self.time),
            color: use_color(self.color),
        }
    }
}

fn time_mode(t: TimeArg) -> TimeMode {
    match t {
        TimeArg::Rel => TimeMode::Rel,
        TimeArg::Abs => TimeMode::Abs,
        TimeArg::Delta => TimeMode::Delta,
    }
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Capture file: pcap (µs or ns, either byte order) or pcapng.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// tcpdump filter expression, e.g. 'tcp port 80' or 'host ::1' (may be given as several words).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
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
    /// tcpdump's -A: printable ASCII and line breaks, every other byte as '.'.
    #[arg(short = 'A', long = "ascii", conflicts_with = "hex")]
    pub ascii: bool,
    /// Print each packet's payload under its line in hex and ASCII, as tcpdump's -X.
    #[arg(short = 'X', long = "hex")]
    pub hex: bool,
    /// Print one conversation's bytes in both directions instead of the timeline, as
    /// `tshark -q -z follow,tcp,ascii,N`: TCP reassembled in order, without retransmitted
    /// bytes.
    #[arg(long, value_name = "tcp:N|udp:N", value_parser = parse_stream,
          conflicts_with_all = ["stream", "ascii", "hex", "filter", "no_summary", "format"])]
    pub follow: Option<StreamSel>,
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
    pub fn options(&self) -> ReplayOptions {
        ReplayOptions {
            format: match self.format {
                FormatArg::Text => Format::Text,
                FormatArg::Jsonl => Format::Jsonl,
            },
            text: TextOptions {
                time: time_mode(self.time),
                color: use_color(self.color),
            },
            filter: (!self.filter.is_empty()).then(|| self.filter.join(" ")),
            stream: self.stream,
            summary: !self.no_summary,
            progress: !self.quiet && std::io::stderr().is_terminal(),
            payload: match (self.ascii, self.hex) {
                (true, _) => PayloadView::Text,
                (_, true) => PayloadView::Hex,
                _ => PayloadView::None,
            },
            follow: self.follow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn filter_words_are_joined() {
        let cli =
            Cli::try_parse_from(["sockscope", "replay", "f.pcap", "tcp", "port", "80"]).unwrap();
        let Command::Replay(r) = cli.command else {
            panic!("not replay")
        };
        assert_eq!(r.options().filter.as_deref(), Some("tcp port 80"));
    }

    #[test]
    fn stream_selector() {
        assert_eq!(parse_stream("3"), Ok(StreamSel::Tcp(3)));
        assert_eq!(parse_stream("udp:2"), Ok(StreamSel::Udp(2)));
        assert!(parse_stream("x").is_err());
    }
}
