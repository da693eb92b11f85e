//! Frames and records: Ethernet + IPv4/IPv6 + TCP/UDP headers with correct checksums, written
//! as classic pcap (µs or ns) or pcapng records. Payload bytes are zeros, so they add nothing
//! to a checksum.

use std::io::{self, Write};

use super::Format;
use crate::source::write::{InterfaceDescription, SectionHeader};
use crate::source::{PcapWriter, PcapngWriter, Resolution};

/// Largest payload a frame carries (MSS 1460 minus the 12-byte timestamp option).
pub const MAX_PAYLOAD: usize = 1448;

/// One end of a conversation: MAC and IP address (IPv4 in the first 4 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    pub mac: [u8; 6],
    pub addr: [u8; 16],
}

impl Host {
    /// A LAN host `n`: 10.0.x.y or fd00::n, with a locally administered MAC.
    pub fn lan(n: u32, v6: bool) -> Host {
        let mut mac = [2, 0, 0, 0, 0, 0];
        mac[2..].copy_from_slice(&n.to_be_bytes());
        let mut addr = [0u8; 16];
        if v6 {
            addr[0] = 0xfd;
            addr[8..].copy_from_slice(&(n as u64).to_be_bytes());
        } else {
            addr[..4].copy_from_slice(&[10, 0, (n >> 8) as u8, n as u8]);
        }
        Host { mac, addr }
    }

    /// The loopback address (127.0.0.1 or ::1), with the all-zero MAC of a Linux "lo" capture.
    pub fn loopback(v6: bool) -> Host {
        let mut addr = [0u8; 16];
        if v6 {
            addr[15] = 1;
        } else {
            addr[..4].copy_from_slice(&[127, 0, 0, 1]);
        }
        Host { mac: [0; 6], addr }
    }
}

/// The fields of one TCP segment's header.
#[derive(Debug, Clone, Copy)]
pub struct TcpHeader<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub win: u16,
    /// Option bytes (a multiple of 4).
    pub options: &'a [u8],
}

/// One's-complement sum of big-endian 16-bit words, folded later.
fn sum16(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

/// Writes Ethernet + IP headers for a transport segment of `l4_len` bytes (header and
/// payload), protocol `proto`; returns the pseudo-header sum for the transport checksum.
fn ip_headers(
    buf: &mut Vec<u8>,
    src: &Host,
    dst: &Host,
    v6: bool,
    ip_id: u16,
    proto: u8,
    l4_len: usize,
) -> u32 {
    buf.extend_from_slice(&dst.mac);
    buf.extend_from_slice(&src.mac);
    if v6 {
        buf.extend_from_slice(&[0x86, 0xdd]);
        let flow = (ip_id as u32) << 4;
        buf.extend_from_slice(&(0x6000_0000u32 | flow).to_be_bytes());
        buf.extend_from_slice(&(l4_len as u16).to_be_bytes());
        buf.extend_from_slice(&[proto, 64]);
        buf.extend_from_slice(&src.addr);
        buf.extend_from_slice(&dst.addr);
        let acc = sum16(sum16(0, &src.addr), &dst.addr);
        acc + l4_len as u32 + proto as u32
    } else {
        buf.extend_from_slice(&[0x08, 0x00]);
        let at = buf.len();
        buf.extend_from_slice(&[0x45, 0]);
        buf.extend_from_slice(&((20 + l4_len) as u16).to_be_bytes());
        buf.extend_from_slice(&ip_id.to_be_bytes());
        buf.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
        buf.extend_from_slice(&src.addr[..4]);
        buf.extend_from_slice(&dst.addr[..4]);
        let cs = fold(sum16(0, &buf[at..at + 20]));
        buf[at + 10..at + 12].copy_from_slice(&cs.to_be_bytes());
        let acc = sum16(sum16(0, &src.addr[..4]), &dst.addr[..4]);
        acc + l4_len as u32 + proto as u32
    }
}

/// Clears `buf` and writes the headers of a TCP segment carrying `payload` zero bytes.
#[allow(clippy::too_many_arguments)]
pub fn tcp_frame(
    buf: &mut Vec<u8>,
    src: &Host,
    dst: &Host,
    v6: bool,
    ip_id: u16,
    h: &TcpHeader<'_>,
    payload: usize,
) {
    buf.clear();
    let hl = 20 + h.options.len();
    let pseudo = ip_headers(buf, src, dst, v6, ip_id, 6, hl + payload);
    let at = buf.len();
    buf.extend_from_slice(&h.sport.to_be_bytes());
    buf.extend_from_slice(&h.dport.to_be_bytes());
    buf.extend_from_slice(&h.seq.to_be_bytes());
    buf.extend_from_slice(&h.ack.to_be_bytes());
    buf.extend_from_slice(&[((hl / 4) << 4) as u8, h.flags]);
    buf.extend_from_slice(&h.win.to_be_bytes());
    buf.extend_from_slice(&[0, 0, 0, 0]);
    buf.extend_from_slice(h.options);
    let cs = fold(sum16(pseudo, &buf[at..]));
    buf[at + 16..at + 18].copy_from_slice(&cs.to_be_bytes());
}

/// Clears `buf` and writes the headers of a UDP datagram carrying `payload` zero bytes.
#[allow(clippy::too_many_arguments)]
pub fn udp_frame(
    buf: &mut Vec<u8>,
    src: &Host,
    dst: &Host,
    v6: bool,
    ip_id: u16,
    sport: u16,
    dport: u16,
    payload: usize,
) {
    buf.clear();
    let len = 8 + payload;
    let pseudo = ip_headers(buf, src, dst, v6, ip_id, 17, len);
    let at = buf.len();
    buf.extend_from_slice(&sport.to_be_bytes());
    buf.extend_from_slice(&dport.to_be_bytes());
    buf.extend_from_slice(&(len as u16).to_be_bytes());
    buf.extend_from_slice(&[0, 0]);
    let cs = match fold(sum16(pseudo, &buf[at..])) {
        0 => 0xFFFF,
        c => c,
    };
    buf[at + 6..at + 8].copy_from_slice(&cs.to_be_bytes());
}

/// Writes the file header and then records in one [`Format`], through
/// [`crate::source::write`].
pub struct RecordWriter<W: Write> {
    out: Out<W>,
    /// Zeros, except for the headers while a frame is written: headers + payload.
    frame: Vec<u8>,
}

enum Out<W: Write> {
    Pcap(PcapWriter<W>),
    PcapNg(PcapngWriter<W>),
}

/// Snaplen of every generated file.
const SNAPLEN: u32 = 262_144;
const LINKTYPE_ETHERNET: u16 = 1;

impl<W: Write> RecordWriter<W> {
    /// Writes the file header: pcap (µs or ns, link type Ethernet, snaplen 262144), or a
    /// pcapng section with two Ethernet interfaces, 0 in µs and 1 in ns.
    pub fn new(out: W, format: Format) -> io::Result<Self> {
        let out = match format {
            Format::Pcap | Format::PcapNs => {
                let res = match format {
                    Format::PcapNs => Resolution::Nanos,
                    _ => Resolution::Micros,
                };
                Out::Pcap(PcapWriter::new(out, res, LINKTYPE_ETHERNET, SNAPLEN)?)
            }
            Format::PcapNg => {
                let mut w = PcapngWriter::new(out, &SectionHeader::default())?;
                for resolution in [Resolution::Micros, Resolution::Nanos] {
                    w.add_interface(&InterfaceDescription {
                        linktype: LINKTYPE_ETHERNET,
                        snaplen: SNAPLEN,
                        resolution,
                        name: None,
                    })?;
                }
                Out::PcapNg(w)
            }
        };
        Ok(RecordWriter {
            out,
            frame: vec![0; 2048],
        })
    }

    /// Writes one record: `headers` then `payload` zero bytes, at `ns` since the epoch, on
    /// `iface` (pcapng only: 0 or 1).
    pub fn record(
        &mut self,
        ns: u64,
        iface: u32,
        headers: &[u8],
        payload: usize,
    ) -> io::Result<()> {
        let (h, len) = (headers.len(), headers.len() + payload);
        if self.frame.len() < len {
            self.frame.resize(len, 0);
        }
        self.frame[..h].copy_from_slice(headers);
        let frame = &self.frame[..len];
        let r = match &mut self.out {
            Out::Pcap(w) => w.write_packet(ns, len as u32, frame),
            Out::PcapNg(w) => w.write_enhanced::<&str>(iface, ns, len as u32, frame, &[]),
        };
        // Only the headers' bytes were touched: the buffer is all zeros again.
        self.frame[..h].fill(0);
        r
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        match &self.out {
            Out::Pcap(w) => w.bytes_written(),
            Out::PcapNg(w) => w.bytes_written(),
        }
    }

    /// Flushes and hands back the writer.
    pub fn finish(self) -> io::Result<W> {
        match self.out {
            Out::Pcap(w) => w.finish(),
            Out::PcapNg(w) => w.finish(),
        }
    }
}
