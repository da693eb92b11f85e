//! Why reading a capture stopped: one variant per cause, each naming the file, where, and
//! what to do.

use std::path::PathBuf;

/// Why reading stopped before the end of the file. Each variant names the file and where.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot open: {cause} (check the path and that you may read it)")]
    Open {
        path: PathBuf,
        /// Named in the message (not a `source`, so the chain does not say it twice).
        cause: std::io::Error,
    },
    #[error("{path}: the file is empty: not a pcap or pcapng capture")]
    Empty { path: PathBuf },
    #[error("{path}: not a pcap or pcapng capture (bad magic number at byte 0); give a file written by tcpdump, Wireshark or sockscope --save")]
    NotACapture { path: PathBuf },
    #[error("{path}: the file ends inside the {what} at byte {offset} (after packet {packets}): the capture was cut short; packets before it are shown")]
    Truncated {
        path: PathBuf,
        what: &'static str,
        offset: u64,
        packets: u64,
    },
    #[error("{path}: record at byte {offset} (after packet {packets}) is larger than {max} MiB: the length field is corrupt")]
    RecordTooLarge {
        path: PathBuf,
        offset: u64,
        packets: u64,
        max: usize,
    },
    #[error("{path}: corrupt {what} at byte {offset} (after packet {packets}): the file is damaged; packets before it are shown")]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        offset: u64,
        packets: u64,
    },
    #[error("{path}: read error at byte {offset}: {cause}")]
    Io {
        path: PathBuf,
        offset: u64,
        cause: std::io::Error,
    },
    #[error("{path}: the {codec} stream {} after {offset} decompressed bytes (after packet {packets}): {cause}; packets before it are shown (`{check} FILE` checks the file)", if cause.kind() == std::io::ErrorKind::UnexpectedEof { "ends early (the file was cut short)" } else { "is corrupt" })]
    Decompress {
        path: PathBuf,
        codec: &'static str,
        check: &'static str,
        offset: u64,
        packets: u64,
        cause: std::io::Error,
    },
    #[error("{path}: compressed with {what}")]
    Unsupported { path: PathBuf, what: &'static str },
    #[error("standard input is a terminal, not a capture: pipe one in (`tcpdump -U -w - | sockscope replay -`, `zcat f.pcap.gz | sockscope replay -`) or name a file")]
    StdinIsTerminal,
}
