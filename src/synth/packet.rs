//! Frames and records: Ethernet + IPv4/IPv6 + TCP/UDP headers with correct checksums, written
//! as classic pcap (µs or ns) or pcapng records. Payload bytes are zeros, so they add nothing
//! to a checksum and are written from a static buffer.

use std::io::{self, Write};

use super::Format;

/// Largest payload a frame carries (MSS 1460 minus the 12-byte timestamp option).
pub const MAX_PAYLOAD: usize = 1448;

static ZEROS: [u8; 2048] = [0; 2048];

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

/// Writes the file header and then records in one [`Format`].
pub struct RecordWriter<W: Write> {
    out: W,
    format: Format,
    /// Bytes written so far.
    pub bytes: u64,
}

/// pcapng block types and options used here.
const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const IF_TSRESOL: u16 = 9;

impl<W: Write> RecordWriter<W> {
    /// Writes the file header: pcap (µs or ns, link type Ethernet, snaplen 262144), or a
    /// pcapng section with two Ethernet interfaces, 0 in µs and 1 in ns.
    pub fn new(mut out: W, format: Format) -> io::Result<Self> {
        let mut head = Vec::with_capacity(128);
        match format {
            Format::Pcap | Format::PcapNs => {
                let magic: u32 = if format == Format::PcapNs {
                    0xA1B2_3C4D
                } else {
                    0xA1B2_C3D4
                };
                head.extend_from_slice(&magic.to_le_bytes());
                head.extend_from_slice(&2u16.to_le_bytes());
                head.extend_from_slice(&4u16.to_le_bytes());
                head.extend_from_slice(&[0; 8]);
                head.extend_from_slice(&262_144u32.to_le_bytes());
                head.extend_from_slice(&1u32.to_le_bytes());
            }
            Format::PcapNg => {
                let mut shb = Vec::new();
                shb.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
                shb.extend_from_slice(&1u16.to_le_bytes());
                shb.extend_from_slice(&0u16.to_le_bytes());
                shb.extend_from_slice(&(-1i64).to_le_bytes());
                block(&mut head, SHB, &shb);
                for resol in [6u8, 9] {
                    let mut idb = Vec::new();
                    idb.extend_from_slice(&1u16.to_le_bytes());
                    idb.extend_from_slice(&0u16.to_le_bytes());
                    idb.extend_from_slice(&262_144u32.to_le_bytes());
                    idb.extend_from_slice(&IF_TSRESOL.to_le_bytes());
                    idb.extend_from_slice(&1u16.to_le_bytes());
                    idb.extend_from_slice(&[resol, 0, 0, 0]);
                    idb.extend_from_slice(&[0; 4]); // opt_endofopt
                    block(&mut head, IDB, &idb);
                }
            }
        }
        out.write_all(&head)?;
        Ok(RecordWriter {
            out,
            format,
            bytes: head.len() as u64,
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
        let len = headers.len() + payload;
        let mut rec = [0u8; 28];
        let head: &[u8] = match self.format {
            Format::Pcap | Format::PcapNs => {
                let (secs, frac) = (ns / 1_000_000_000, ns % 1_000_000_000);
                let frac = if self.format == Format::Pcap {
                    frac / 1000
                } else {
                    frac
                };
                rec[0..4].copy_from_slice(&(secs as u32).to_le_bytes());
                rec[4..8].copy_from_slice(&(frac as u32).to_le_bytes());
                rec[8..12].copy_from_slice(&(len as u32).to_le_bytes());
                rec[12..16].copy_from_slice(&(len as u32).to_le_bytes());
                &rec[..16]
            }
            Format::PcapNg => {
                let padded = (len + 3) & !3;
                let total = 32 + padded;
                let ts = if iface == 0 { ns / 1000 } else { ns };
                rec[0..4].copy_from_slice(&EPB.to_le_bytes());
                rec[4..8].copy_from_slice(&(total as u32).to_le_bytes());
                rec[8..12].copy_from_slice(&iface.to_le_bytes());
                rec[12..16].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
                rec[16..20].copy_from_slice(&(ts as u32).to_le_bytes());
                rec[20..24].copy_from_slice(&(len as u32).to_le_bytes());
                rec[24..28].copy_from_slice(&(len as u32).to_le_bytes());
                &rec[..28]
            }
        };
        self.out.write_all(head)?;
        self.out.write_all(headers)?;
        self.out.write_all(&ZEROS[..payload])?;
        let mut n = head.len() + len;
        if self.format == Format::PcapNg {
            let pad = ((len + 3) & !3) - len;
            self.out.write_all(&ZEROS[..pad])?;
            let total = (32 + len + pad) as u32;
            self.out.write_all(&total.to_le_bytes())?;
            n += pad + 4;
        }
        self.bytes += n as u64;
        Ok(())
    }

    /// Flushes and hands back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Appends a pcapng block of `kind` with `body` (a multiple of 4 bytes).
fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let total = (12 + body.len()) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&total.to_le_bytes());
}

// Every payload (and pcapng padding) fits in `ZEROS`.
const _: () = assert!(MAX_PAYLOAD + 3 <= ZEROS.len());
