//! pcapng: one Section Header Block, Interface Description Blocks, Enhanced Packet Blocks with
//! optional comments, and Interface Statistics Blocks; all little-endian.
//!
//! Every block is `type, total length, body, total length`; the body ends with options
//! (`code: u16, length: u16, value` padded to 32 bits) closed by `opt_endofopt`, or with no
//! options at all (and then no `opt_endofopt` either).

use std::io::{self, Write};

use super::{caplen, invalid, pad_len, Counted, Resolution, WritePacket, PAD};

pub const SHB: u32 = 0x0A0D_0D0A;
pub const IDB: u32 = 1;
pub const ISB: u32 = 5;
pub const EPB: u32 = 6;
/// Custom Block that a tool re-writing the file may copy (Wireshark and editcap keep it).
pub const CB_COPY: u32 = 0x0000_0BAD;
pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const ISB_STARTTIME: u16 = 2;
const ISB_ENDTIME: u16 = 3;
const ISB_IFRECV: u16 = 4;
const ISB_IFDROP: u16 = 5;

/// What the Section Header Block says besides its fixed fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct SectionHeader<'a> {
    /// `shb_userappl`: the program that wrote the file.
    pub user_appl: Option<&'a str>,
    /// `opt_comment`s on the section (after `shb_userappl`).
    pub comments: &'a [&'a str],
}

/// An interface, as its Interface Description Block describes it.
#[derive(Debug, Clone, Copy)]
pub struct InterfaceDescription<'a> {
    /// LINKTYPE_* of its packets.
    pub linktype: u16,
    pub snaplen: u32,
    /// Written as `if_tsresol` (always, 6 included).
    pub resolution: Resolution,
    /// `if_name`, written before `if_tsresol`.
    pub name: Option<&'a str>,
}

/// An Interface Statistics Block: times in ns since the epoch (stored at the interface's
/// resolution), counters as libpcap gives them. Absent options are not written.
#[derive(Debug, Clone, Copy, Default)]
pub struct InterfaceStatistics {
    pub interface: u32,
    pub ts_ns: u64,
    /// `isb_starttime`
    pub start_ns: Option<u64>,
    /// `isb_endtime`
    pub end_ns: Option<u64>,
    /// `isb_ifrecv`
    pub received: Option<u64>,
    /// `isb_ifdrop`
    pub dropped: Option<u64>,
}

/// Writes a pcapng file of one section.
pub struct PcapngWriter<W: Write> {
    out: Counted<W>,
    /// The clocks of the interfaces described so far, by id.
    interfaces: Vec<Resolution>,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the Section Header Block (version 1.0, section length unknown).
    pub fn new(out: W, section: &SectionHeader<'_>) -> io::Result<Self> {
        let mut b = Body::default();
        b.u32(BYTE_ORDER_MAGIC)
            .u16(1)
            .u16(0)
            .u32(u32::MAX)
            .u32(u32::MAX);
        if let Some(appl) = section.user_appl {
            b.option(SHB_USERAPPL, text(appl));
        }
        for c in section.comments {
            b.option(OPT_COMMENT, text(c));
        }
        let mut w = PcapngWriter {
            out: Counted { out, written: 0 },
            interfaces: Vec::new(),
        };
        w.block(SHB, b)?;
        Ok(w)
    }

    /// Writes an Interface Description Block; returns the interface's id (0, 1, ...).
    pub fn add_interface(&mut self, iface: &InterfaceDescription<'_>) -> io::Result<u32> {
        let id = u32::try_from(self.interfaces.len())
            .map_err(|_| invalid("too many interfaces".into()))?;
        let mut b = Body::default();
        b.u16(iface.linktype).u16(0).u32(iface.snaplen);
        if let Some(name) = iface.name {
            b.option(IF_NAME, text(name));
        }
        b.option(IF_TSRESOL, &[iface.resolution.tsresol()]);
        self.block(IDB, b)?;
        self.interfaces.push(iface.resolution);
        Ok(id)
    }

    /// Writes an Enhanced Packet Block on `interface`, with one `opt_comment` per entry of
    /// `comments` (none: a block without options). See [`WritePacket::write_packet`].
    pub fn write_enhanced<S: AsRef<str>>(
        &mut self,
        interface: u32,
        ts_ns: u64,
        origlen: u32,
        data: &[u8],
        comments: &[S],
    ) -> io::Result<()> {
        let caplen = caplen(data)?;
        let ticks = self.resolution(interface)?.ticks(ts_ns);
        let pad = pad_len(data.len());
        let mut opts = 0;
        for c in comments {
            let n = text(c.as_ref()).len();
            opts += 4 + n + pad_len(n);
        }
        if !comments.is_empty() {
            opts += 4;
        }
        let total = u32::try_from(32 + data.len() + pad + opts)
            .map_err(|_| invalid("a packet block of 4 GiB or more".into()))?;
        let mut head = [0u8; 28];
        for (i, v) in [
            EPB,
            total,
            interface,
            (ticks >> 32) as u32,
            ticks as u32,
            caplen,
            origlen,
        ]
        .into_iter()
        .enumerate()
        {
            head[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        self.out.all(&head)?;
        self.out.all(data)?;
        self.out.all(&PAD[..pad])?;
        for c in comments {
            let v = text(c.as_ref());
            let mut h = [0u8; 4];
            h[0..2].copy_from_slice(&OPT_COMMENT.to_le_bytes());
            h[2..4].copy_from_slice(&(v.len() as u16).to_le_bytes());
            self.out.all(&h)?;
            self.out.all(v)?;
            self.out.all(&PAD[..pad_len(v.len())])?;
        }
        if !comments.is_empty() {
            self.out.all(&[0; 4])?;
        }
        self.out.all(&total.to_le_bytes())
    }

    /// Writes an Interface Statistics Block.
    pub fn write_statistics(&mut self, s: &InterfaceStatistics) -> io::Result<()> {
        let res = self.resolution(s.interface)?;
        let mut b = Body::default();
        b.u32(s.interface).time(res.ticks(s.ts_ns));
        for (code, t) in [(ISB_STARTTIME, s.start_ns), (ISB_ENDTIME, s.end_ns)] {
            if let Some(t) = t {
                let mut v = Body::default();
                v.time(res.ticks(t));
                b.option(code, &v.0);
            }
        }
        for (code, n) in [(ISB_IFRECV, s.received), (ISB_IFDROP, s.dropped)] {
            if let Some(n) = n {
                b.option(code, &n.to_le_bytes());
            }
        }
        self.block(ISB, b)
    }

    /// Writes a copyable Custom Block (type 0x00000BAD): the Private Enterprise Number of the
    /// organisation that defines `data`, then `data` padded to 32 bits; no options.
    pub fn write_custom(&mut self, pen: u32, data: &[u8]) -> io::Result<()> {
        let mut b = Body::default();
        b.u32(pen);
        b.0.extend_from_slice(data);
        b.0.extend_from_slice(&PAD[..pad_len(data.len())]);
        self.block(CB_COPY, b)
    }

    /// Bytes written so far.
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

    fn resolution(&self, interface: u32) -> io::Result<Resolution> {
        self.interfaces
            .get(interface as usize)
            .copied()
            .ok_or_else(|| invalid(format!("interface {interface} was never described")))
    }

    /// Writes a block of `kind` around `body`, closing its options if it has any.
    fn block(&mut self, kind: u32, mut body: Body) -> io::Result<()> {
        if body.1 {
            body.u16(OPT_END).u16(0);
        }
        let total = u32::try_from(body.0.len() + 12)
            .map_err(|_| invalid("a block of 4 GiB or more".into()))?;
        let mut head = [0u8; 8];
        head[0..4].copy_from_slice(&kind.to_le_bytes());
        head[4..8].copy_from_slice(&total.to_le_bytes());
        self.out.all(&head)?;
        self.out.all(&body.0)?;
        self.out.all(&total.to_le_bytes())
    }
}

impl<W: Write> WritePacket for PcapngWriter<W> {
    fn write_packet(&mut self, ts_ns: u64, origlen: u32, data: &[u8]) -> io::Result<()> {
        self.write_enhanced::<&str>(0, ts_ns, origlen, data, &[])
    }
}

/// A text option's value: its UTF-8 bytes, cut at a character boundary to the 65,535 bytes an
/// option can hold.
fn text(s: &str) -> &[u8] {
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s.as_bytes()[..end]
}

/// A block body being built, and whether it has options yet.
#[derive(Default)]
struct Body(Vec<u8>, bool);

impl Body {
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A 64-bit tick count as pcapng stores it: the high 32 bits, then the low.
    fn time(&mut self, ticks: u64) -> &mut Self {
        self.u32((ticks >> 32) as u32).u32(ticks as u32)
    }

    /// An option; `value` is at most 65,535 bytes (see [`text`]).
    fn option(&mut self, code: u16, value: &[u8]) -> &mut Self {
        let value = &value[..value.len().min(u16::MAX as usize)];
        self.u16(code).u16(value.len() as u16);
        self.0.extend_from_slice(value);
        self.0.extend_from_slice(&PAD[..pad_len(value.len())]);
        self.1 = true;
        self
    }
}
