//! Classic pcap: a 24-byte file header, then a 16-byte record header before each packet.

use std::io::{self, Write};

use super::{caplen, invalid, Counted, Resolution, WritePacket};

/// The magic number of a µs file (written little-endian: `d4 c3 b2 a1`).
pub const MAGIC_MICROS: u32 = 0xA1B2_C3D4;
/// The magic number of a ns file (written little-endian: `4d 3c b2 a1`).
pub const MAGIC_NANOS: u32 = 0xA1B2_3C4D;

/// Writes a classic pcap file, version 2.4, little-endian.
pub struct PcapWriter<W: Write> {
    out: Counted<W>,
    resolution: Resolution,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header: the magic of `resolution`, `snaplen` and `linktype`
    /// (LINKTYPE_*; thiszone and sigfigs are 0).
    pub fn new(out: W, resolution: Resolution, linktype: u16, snaplen: u32) -> io::Result<Self> {
        let magic = match resolution {
            Resolution::Micros => MAGIC_MICROS,
            Resolution::Nanos => MAGIC_NANOS,
        };
        let mut head = [0u8; 24];
        head[0..4].copy_from_slice(&magic.to_le_bytes());
        head[4..6].copy_from_slice(&2u16.to_le_bytes());
        head[6..8].copy_from_slice(&4u16.to_le_bytes());
        // 8..16: thiszone and sigfigs, 0.
        head[16..20].copy_from_slice(&snaplen.to_le_bytes());
        head[20..24].copy_from_slice(&u32::from(linktype).to_le_bytes());
        let mut out = Counted { out, written: 0 };
        out.all(&head)?;
        Ok(PcapWriter { out, resolution })
    }

    /// Writes one record (see [`WritePacket::write_packet`]).
    pub fn write_packet(&mut self, ts_ns: u64, origlen: u32, data: &[u8]) -> io::Result<()> {
        let caplen = caplen(data)?;
        let secs = u32::try_from(ts_ns / 1_000_000_000).map_err(|_| {
            invalid(format!(
                "{ts_ns} ns is past what pcap's 32-bit seconds hold"
            ))
        })?;
        let frac = self.resolution.ticks(ts_ns % 1_000_000_000) as u32;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&frac.to_le_bytes());
        rec[8..12].copy_from_slice(&caplen.to_le_bytes());
        rec[12..16].copy_from_slice(&origlen.to_le_bytes());
        self.out.all(&rec)?;
        self.out.all(data)
    }

    /// Bytes written so far, the file header included.
    pub fn bytes_written(&self) -> u64 {
        self.out.written
    }

    pub fn get_ref(&self) -> &W {
        &self.out.out
    }

    /// The output, e.g. to flush it between packets.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out.out
    }

    /// Hands back the writer without flushing it.
    pub fn into_inner(self) -> W {
        self.out.out
    }

    /// Flushes and hands back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.out.flush()?;
        Ok(self.out.out)
    }
}

impl<W: Write> WritePacket for PcapWriter<W> {
    fn write_packet(&mut self, ts_ns: u64, origlen: u32, data: &[u8]) -> io::Result<()> {
        PcapWriter::write_packet(self, ts_ns, origlen, data)
    }
}
