//! Writing capture files: classic pcap ([`PcapWriter`]) and pcapng ([`PcapngWriter`]), the
//! formats [`super::file`] reads. Everything sockscope writes goes through here: `run --save`,
//! the synthetic generator of the benchmark, and the captures tests make.
//!
//! Both writers are little-endian, take timestamps as nanoseconds since the Unix epoch (stored
//! at the file's or interface's resolution, µs by truncation) and write to any [`Write`]; a
//! caller that wants buffering hands them a `BufWriter`. Errors are the writer's `io::Error`s,
//! and `InvalidInput` for what the format cannot hold (a packet of 4 GiB or more, a pcap
//! timestamp past 2106, a pcapng packet on an interface never described).

mod pcap;
mod pcapng;

#[cfg(test)]
mod tests;

use std::io::{self, Write};

pub use self::pcap::PcapWriter;
pub use self::pcapng::{InterfaceDescription, InterfaceStatistics, PcapngWriter, SectionHeader};

/// The clock a file (pcap) or an interface (pcapng) stores timestamps in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    /// Microseconds: pcap magic `a1b2c3d4`, pcapng `if_tsresol` 6.
    #[default]
    Micros,
    /// Nanoseconds: pcap magic `a1b23c4d`, pcapng `if_tsresol` 9.
    Nanos,
}

impl Resolution {
    /// A time in ns since the epoch as a count of this clock's ticks (µs are truncated).
    pub fn ticks(self, ts_ns: u64) -> u64 {
        match self {
            Resolution::Micros => ts_ns / 1000,
            Resolution::Nanos => ts_ns,
        }
    }

    /// The value of pcapng's `if_tsresol` option: the power of ten.
    fn tsresol(self) -> u8 {
        match self {
            Resolution::Micros => 6,
            Resolution::Nanos => 9,
        }
    }
}

/// What every capture writer does: append one packet.
pub trait WritePacket {
    /// Writes a packet seen at `ts_ns` (ns since the epoch) that was `origlen` bytes long on
    /// the wire, of which `data` was captured (its captured length is `data.len()`).
    /// A pcapng writer puts it on interface 0.
    fn write_packet(&mut self, ts_ns: u64, origlen: u32, data: &[u8]) -> io::Result<()>;
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// The captured length of `data` as the 32-bit field both formats have.
fn caplen(data: &[u8]) -> io::Result<u32> {
    u32::try_from(data.len())
        .ok()
        .filter(|&n| n <= u32::MAX - 4)
        .ok_or_else(|| invalid(format!("a packet of {} bytes is too long", data.len())))
}

/// Zeros for padding to 32 bits.
const PAD: [u8; 3] = [0; 3];

/// Bytes that bring `len` up to a multiple of 4.
fn pad_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// A `Write` that counts what went through it.
struct Counted<W> {
    out: W,
    written: u64,
}

impl<W: Write> Counted<W> {
    fn all(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }
}
