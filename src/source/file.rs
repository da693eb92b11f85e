//! Streaming reader for classic pcap and pcapng files, built on `pcap-parser`.
//!
//! Memory is bounded: records are read through one circular buffer that starts at
//! [`INITIAL_BUFFER`] and may grow, by doubling, to [`MAX_BUFFER`] for a large record. A length
//! field in the file never sizes an allocation; a record larger than the cap is an error.
//!
//! Unlike libpcap, this reader accepts pcapng files whose interfaces have different link types,
//! several sections of either byte order, Simple Packet Blocks and Custom Blocks.

use std::io::Read;
use std::path::{Path, PathBuf};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{create_reader, PcapBlockOwned, PcapError};

use super::input::{ready, Compression, Input, Slot};
pub use super::read_error::ReadError;
use super::{Frame, FrameKind, Timestamp};

/// Starting size of the read buffer. 256 KiB stays in the L2 cache between the read and the
/// parse (1 MiB measured slower); the buffer grows for larger records.
pub const INITIAL_BUFFER: usize = 256 << 10;
/// Largest record the reader accepts (the buffer never grows past this).
pub const MAX_BUFFER: usize = 32 << 20;
/// Most options one pcapng block may hold. pcap-parser lists a block's options (32 bytes each)
/// beside it: a 32 MiB block of empty 4-byte options would make a 256 MiB list.
pub const MAX_OPTIONS: usize = 1 << 20;
/// Most interfaces a pcapng section may describe (ids are 32 bits; real captures have a
/// few): each one is kept for the section, so a file of nothing but Interface Description
/// Blocks stops here instead of filling memory.
pub const MAX_INTERFACES: usize = 1 << 16;

/// Which container the file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Pcap { nanos: bool, big_endian: bool },
    PcapNg,
}

/// A pcapng interface: link type, timestamp clock and snaplen.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u16,
    units_per_sec: u64,
    offset_secs: i64,
    snaplen: u32,
}

/// An open capture file. Call [`CaptureFile::for_each`] to stream its frames.
pub struct CaptureFile {
    path: PathBuf,
    reader: Box<dyn PcapReaderIterator + Send>,
    format: FileFormat,
    /// Classic pcap: one link type and clock for the whole file.
    legacy: Option<Interface>,
    /// pcapng: the interfaces of the current section.
    interfaces: Vec<Interface>,
    /// pcapng: the current section is big-endian.
    ng_big_endian: bool,
    frames: u64,
    capacity: usize,
    compression: Compression,
    live: bool,
    size: Option<u64>,
    raw_errors: Slot,
    codec_errors: Slot,
    /// A live input's descriptor, polled before a read that may wait.
    poll_fd: Option<std::os::fd::OwnedFd>,
    /// pcapng: Section Header Blocks met so far.
    section: u32,
}

/// What [`CaptureFile::for_each_event`] hands on.
pub enum Event<'f, 'a> {
    /// The next frame, with what its interface says.
    Frame(&'f Frame<'a>, &'f FrameMeta),
    /// A live input has nothing more for now: the next read waits for its writer.
    Waiting,
}

/// What a frame's interface says beyond the frame: what a capture writer needs to keep the
/// packet's link type and clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    /// pcapng: the section (0 for the first, and for classic pcap).
    pub section: u32,
    /// The interface's clock: ticks per second (10^6 for µs pcap, 10^9 for ns).
    pub units_per_sec: u64,
    /// The interface's snaplen (0: none given).
    pub snaplen: u32,
}

impl FrameMeta {
    fn of(iface: Option<&Interface>, section: u32) -> FrameMeta {
        FrameMeta {
            section,
            units_per_sec: iface.map_or(1_000_000, |i| i.units_per_sec),
            snaplen: iface.map_or(0, |i| i.snaplen),
        }
    }
}

impl CaptureFile {
    /// Opens a capture file; `-` and `/dev/stdin` are standard input; gzip and zstd are
    /// decompressed as they are read.
    pub fn open(path: &Path) -> Result<CaptureFile, ReadError> {
        Self::from_input(Input::open(path)?)
    }

    /// Checks that `path` opens (and is not a directory) without reading it, so that a wrong
    /// name among several fails before any output.
    pub fn check(path: &Path) -> Result<(), ReadError> {
        Input::check(path)
    }

    /// Reads a capture from any byte stream; `path` is only used in messages.
    pub fn from_reader<R: Read + Send + 'static>(
        path: &Path,
        read: R,
    ) -> Result<CaptureFile, ReadError> {
        Self::from_input(Input::from_reader(path, read)?)
    }

    fn from_input(input: Input) -> Result<CaptureFile, ReadError> {
        let path = input.name;
        let reader = match create_reader(INITIAL_BUFFER, input.reader) {
            Ok(r) => r,
            Err(PcapError::Eof) => return Err(ReadError::Empty { path }),
            Err(PcapError::Incomplete(_)) | Err(PcapError::UnexpectedEof) => {
                return Err(ReadError::Truncated {
                    path,
                    what: "file header",
                    offset: 0,
                    packets: 0,
                })
            }
            Err(PcapError::ReadError) => {
                return Err(ReadError::Io {
                    path,
                    offset: 0,
                    cause: input
                        .raw_errors
                        .take()
                        .or_else(|| input.codec_errors.take())
                        .unwrap_or_else(|| std::io::Error::other("the read failed")),
                })
            }
            Err(_) => return Err(ReadError::NotACapture { path }),
        };
        let mut file = CaptureFile {
            path,
            reader,
            format: FileFormat::PcapNg,
            legacy: None,
            interfaces: Vec::new(),
            ng_big_endian: false,
            frames: 0,
            capacity: INITIAL_BUFFER,
            compression: input.compression,
            live: input.live,
            size: input.size,
            raw_errors: input.raw_errors,
            codec_errors: input.codec_errors,
            poll_fd: input.poll_fd,
            section: 0,
        };
        file.read_header()?;
        Ok(file)
    }

    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// The name messages use: the path, `standard input`, and for compressed data
    /// `PATH (gzip data, decompressed)`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The bytes come from a pipe, FIFO, socket or terminal: they arrive over time.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// The length of a regular file as stored (compressed, when it is).
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// Classic pcap: the file header's snaplen and clock.
    pub fn pcap_meta(&self) -> Option<FrameMeta> {
        self.legacy.as_ref().map(|i| FrameMeta::of(Some(i), 0))
    }

    /// Bytes of the file consumed so far.
    pub fn offset(&self) -> u64 {
        self.reader.consumed() as u64
    }

    /// Link type of a classic pcap file, or of the first pcapng interface seen so far.
    pub fn first_linktype(&self) -> Option<u16> {
        self.legacy
            .or_else(|| self.interfaces.first().copied())
            .map(|i| i.linktype)
    }

    /// Peeks the first block so that the format is known before any frame is read.
    fn read_header(&mut self) -> Result<(), ReadError> {
        let mut header = None;
        if let Ok((_, PcapBlockOwned::LegacyHeader(h))) = self.reader.next() {
            header = Some(h);
        }
        if let Some(h) = header {
            let nanos = h.is_nanosecond_precision();
            self.format = FileFormat::Pcap {
                nanos,
                big_endian: h.is_bigendian(),
            };
            self.legacy = Some(Interface {
                linktype: (h.network.0 as u32 & 0xFFFF) as u16,
                units_per_sec: if nanos { 1_000_000_000 } else { 1_000_000 },
                // thiszone is ignored, as libpcap and tshark ignore it (always 0 in practice;
                // fuzzed files carry junk there).
                offset_secs: 0,
                snaplen: h.snaplen,
            });
            self.reader.consume(h.size());
        }
        Ok(())
    }

    /// Streams every frame to `f`, in file order. Stops at the end of the file, at the first
    /// file-level fault (returned as the error, after every frame before it was delivered), or
    /// when `f` returns `false`.
    pub fn for_each<F>(&mut self, mut f: F) -> Result<(), ReadError>
    where
        F: FnMut(&Frame<'_>) -> bool,
    {
        self.for_each_meta(|frame, _| f(frame))
    }

    /// [`CaptureFile::for_each`], with each frame's [`FrameMeta`].
    pub fn for_each_meta<F>(&mut self, mut f: F) -> Result<(), ReadError>
    where
        F: FnMut(&Frame<'_>, &FrameMeta) -> bool,
    {
        self.for_each_event(|e| match e {
            Event::Frame(frame, meta) => f(frame, meta),
            Event::Waiting => true,
        })
    }

    /// [`CaptureFile::for_each_meta`], and on a live input (a pipe, FIFO or socket)
    /// [`Event::Waiting`] whenever the next read would wait for the writer: the moment to hand
    /// on what was made of the frames so far.
    pub fn for_each_event<F>(&mut self, mut f: F) -> Result<(), ReadError>
    where
        F: FnMut(Event<'_, '_>) -> bool,
    {
        loop {
            // pcapng's common case, an Enhanced Packet Block without options, is read in
            // place; anything else goes through pcap-parser.
            if self.format == FileFormat::PcapNg {
                if let Some(epb) = plain_epb(self.reader.data(), self.ng_big_endian) {
                    self.frames += 1;
                    let frame = epb_frame(&epb, &self.interfaces, self.frames);
                    let meta = FrameMeta::of(self.interfaces.get(epb.if_id as usize), self.section);
                    let go_on = f(Event::Frame(&frame, &meta));
                    self.reader.consume(epb.len);
                    if !go_on {
                        return Ok(());
                    }
                    continue;
                }
                if too_many_options(self.reader.data(), self.ng_big_endian) {
                    return Err(self.corrupt("pcapng block (more than 1048576 options)"));
                }
            }
            let step = match self.reader.next() {
                Ok((consumed, block)) => {
                    let mut go_on = true;
                    match block {
                        PcapBlockOwned::Legacy(b) => {
                            let Some(iface) = self.legacy else {
                                return Err(self.corrupt("packet record outside a pcap file"));
                            };
                            self.frames += 1;
                            let units = iface.units_per_sec;
                            let frame = Frame {
                                number: self.frames,
                                ts: Some(Timestamp::from_parts(
                                    b.ts_sec as i64 + iface.offset_secs,
                                    b.ts_usec as u64,
                                    units,
                                )),
                                linktype: iface.linktype,
                                caplen: b.data.len() as u32,
                                origlen: b.origlen,
                                data: b.data,
                                interface: None,
                                kind: FrameKind::Packet,
                            };
                            go_on = f(Event::Frame(&frame, &FrameMeta::of(Some(&iface), 0)));
                        }
                        PcapBlockOwned::LegacyHeader(_) => {}
                        PcapBlockOwned::NG(block) => {
                            if let Block::SectionHeader(shb) = &block {
                                self.ng_big_endian = shb.big_endian();
                                if self.frames > 0 || !self.interfaces.is_empty() {
                                    self.section += 1;
                                }
                            }
                            if matches!(block, Block::InterfaceDescription(_))
                                && self.interfaces.len() >= MAX_INTERFACES
                            {
                                return Err(self.corrupt(
                                    "Interface Description Block (more than 65536 interfaces \
                                     in one section)",
                                ));
                            }
                            if let Some(frame) = ng_frame(&block, &mut self.interfaces, self.frames)
                            {
                                self.frames += 1;
                                let iface = frame
                                    .interface
                                    .and_then(|i| self.interfaces.get(i as usize));
                                go_on =
                                    f(Event::Frame(&frame, &FrameMeta::of(iface, self.section)));
                            }
                        }
                    }
                    Step::Consume(consumed, go_on)
                }
                Err(PcapError::Eof) => return Ok(()),
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => Step::Fail(Fault::Truncated),
                Err(PcapError::ReadError) => Step::Fail(Fault::Io),
                Err(_) => Step::Fail(Fault::Corrupt),
            };
            match step {
                Step::Consume(n, go_on) => {
                    self.reader.consume(n);
                    if !go_on {
                        return Ok(());
                    }
                }
                Step::Refill => {
                    if self.poll_fd.as_ref().is_some_and(|fd| !ready(fd)) && !f(Event::Waiting) {
                        return Ok(());
                    }
                    let before = self.reader.data().len();
                    if self.reader.refill().is_err() {
                        return Err(self.io_error());
                    }
                    if self.reader.data().len() == before && self.reader.reader_exhausted() {
                        if before == 0 {
                            return Ok(());
                        }
                        return Err(self.truncated());
                    }
                }
                Step::Grow => {
                    if self.capacity >= MAX_BUFFER
                        || self
                            .pending_record_len()
                            .is_some_and(|l| l > MAX_BUFFER as u64)
                    {
                        return Err(self.too_large());
                    }
                    self.capacity *= 2;
                    self.reader.grow(self.capacity);
                    if self.poll_fd.as_ref().is_some_and(|fd| !ready(fd)) && !f(Event::Waiting) {
                        return Ok(());
                    }
                    if self.reader.refill().is_err() {
                        return Err(self.io_error());
                    }
                }
                Step::Fail(Fault::Truncated) => return Err(self.truncated()),
                Step::Fail(Fault::Io) => return Err(self.io_error()),
                Step::Fail(Fault::Corrupt) => {
                    let what = self.block_name();
                    return Err(self.corrupt(what));
                }
            }
        }
    }

    fn record_name(&self) -> &'static str {
        match self.format {
            FileFormat::Pcap { .. } => "packet record",
            FileFormat::PcapNg => "pcapng block",
        }
    }

    fn block_name(&self) -> &'static str {
        match self.format {
            FileFormat::Pcap { .. } => "packet record header",
            FileFormat::PcapNg => "pcapng block (bad block type or length)",
        }
    }

    /// The length the next record claims (pcap: its caplen; pcapng: its block length), when
    /// its header is in the buffer.
    fn pending_record_len(&self) -> Option<u64> {
        let d = self.reader.data();
        let (at, be) = match self.format {
            FileFormat::Pcap { big_endian, .. } => (8, big_endian),
            FileFormat::PcapNg => (4, self.ng_big_endian),
        };
        let b: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
        Some(if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        } as u64)
    }

    /// The file ended inside a record: cut short, unless the record's length field is itself
    /// absurd, which is corruption, not a short file.
    fn truncated(&self) -> ReadError {
        if self
            .pending_record_len()
            .is_some_and(|l| l > MAX_BUFFER as u64)
        {
            return self.too_large();
        }
        ReadError::Truncated {
            path: self.path.clone(),
            what: self.record_name(),
            offset: self.offset(),
            packets: self.frames,
        }
    }

    fn too_large(&self) -> ReadError {
        ReadError::RecordTooLarge {
            path: self.path.clone(),
            offset: self.offset(),
            packets: self.frames,
            max: MAX_BUFFER >> 20,
        }
    }

    fn corrupt(&self, what: &'static str) -> ReadError {
        ReadError::Corrupt {
            path: self.path.clone(),
            what,
            offset: self.offset(),
            packets: self.frames,
        }
    }

    /// A read failed: the file's or pipe's own error, else the decompressor's (corrupt data).
    fn io_error(&self) -> ReadError {
        if let Some(cause) = self.raw_errors.take() {
            return ReadError::Io {
                path: self.path.clone(),
                offset: self.offset(),
                cause,
            };
        }
        match self.codec_errors.take() {
            Some(cause) => ReadError::Decompress {
                path: self.path.clone(),
                codec: self.compression.name(),
                check: self.compression.check_command(),
                offset: self.offset(),
                packets: self.frames,
                cause,
            },
            None => ReadError::Io {
                path: self.path.clone(),
                offset: self.offset(),
                cause: std::io::Error::other("the read failed"),
            },
        }
    }
}

enum Fault {
    Truncated,
    Io,
    Corrupt,
}

enum Step {
    Consume(usize, bool),
    Refill,
    Grow,
    Fail(Fault),
}

/// Turns a pcapng block into a frame (packets and Custom Blocks), or updates the section's
/// interface table (SHB, IDB) and returns None.
fn ng_frame<'a>(
    block: &'a Block<'a>,
    ifaces: &mut Vec<Interface>,
    frames: u64,
) -> Option<Frame<'a>> {
    let number = frames + 1;
    match block {
        Block::SectionHeader(_) => {
            ifaces.clear();
            None
        }
        Block::InterfaceDescription(idb) => {
            ifaces.push(Interface {
                linktype: (idb.linktype.0 as u32 & 0xFFFF) as u16,
                units_per_sec: idb.ts_resolution().unwrap_or(1_000_000),
                offset_secs: idb.if_tsoffset,
                snaplen: idb.snaplen,
            });
            None
        }
        Block::EnhancedPacket(epb) => Some(epb_frame(
            &Epb {
                len: 0,
                if_id: epb.if_id,
                ts_high: epb.ts_high,
                ts_low: epb.ts_low,
                origlen: epb.origlen,
                data: epb.packet_data(),
            },
            ifaces,
            number,
        )),
        Block::SimplePacket(spb) => {
            // An SPB belongs to interface 0; its captured length is the smaller of the
            // original length, the interface's snaplen and the block's room.
            let iface = ifaces.first().copied();
            let mut data = spb.packet_data();
            if let Some(i) = iface {
                if i.snaplen > 0 && data.len() > i.snaplen as usize {
                    data = &data[..i.snaplen as usize];
                }
            }
            Some(Frame {
                number,
                ts: None,
                linktype: iface.map_or(LINKTYPE_UNKNOWN, |i| i.linktype),
                caplen: data.len() as u32,
                origlen: spb.origlen,
                data,
                interface: Some(0),
                kind: FrameKind::Packet,
            })
        }
        Block::Custom(cb) => Some(Frame {
            number,
            ts: None,
            linktype: LINKTYPE_UNKNOWN,
            caplen: cb.data.len() as u32,
            origlen: cb.data.len() as u32,
            data: cb.data,
            interface: None,
            kind: FrameKind::CustomBlock,
        }),
        _ => None,
    }
}

/// The fields of an Enhanced Packet Block that make a frame.
struct Epb<'a> {
    /// Block length (bytes to consume).
    len: usize,
    if_id: u32,
    ts_high: u32,
    ts_low: u32,
    origlen: u32,
    /// The captured bytes (caplen of them, without padding).
    data: &'a [u8],
}

/// The frame of an Enhanced Packet Block.
fn epb_frame<'a>(epb: &Epb<'a>, ifaces: &[Interface], number: u64) -> Frame<'a> {
    let iface = ifaces.get(epb.if_id as usize).copied();
    let ts = iface.map(|i| {
        let ticks = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
        Timestamp::from_ticks(ticks, i.units_per_sec, i.offset_secs)
    });
    Frame {
        number,
        ts,
        linktype: iface.map_or(LINKTYPE_UNKNOWN, |i| i.linktype),
        caplen: epb.data.len() as u32,
        origlen: epb.origlen,
        data: epb.data,
        interface: Some(epb.if_id),
        kind: FrameKind::Packet,
    }
}

/// The Enhanced Packet Block at the start of `d` when it is whole, well formed and has no
/// options: exactly the blocks pcap-parser would parse to the same fields (its checks: the
/// block type, a caplen below 2^32 - 4, a length of 32 bytes plus the padded data, the same
/// length at both ends). Anything else is left to pcap-parser, which also names its faults.
fn plain_epb(d: &[u8], big_endian: bool) -> Option<Epb<'_>> {
    const EPB: u32 = 6;
    let word = |at: usize| -> Option<u32> {
        let b: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    if word(0)? != EPB {
        return None;
    }
    let len = word(4)? as usize;
    let caplen = word(20)?;
    if caplen >= u32::MAX - 4 {
        return None;
    }
    let padded = (caplen as usize + 3) & !3;
    if len != 32 + padded || word(len - 4)? as usize != len {
        return None;
    }
    Some(Epb {
        len,
        if_id: word(8)?,
        ts_high: word(12)?,
        ts_low: word(16)?,
        origlen: word(24)?,
        data: d.get(28..28 + caplen as usize)?,
    })
}

/// Whether the pcapng block at the start of `d`, when it is whole, holds more than
/// [`MAX_OPTIONS`] options (Section Header, Interface Description, Enhanced Packet and
/// Interface Statistics Blocks: the ones whose options pcap-parser lists). Checked before
/// pcap-parser parses the block; anything malformed is left to it.
fn too_many_options(d: &[u8], big_endian: bool) -> bool {
    let Some(head) = d.get(..12) else {
        return false;
    };
    // A Section Header says its own byte order.
    let be = if head[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        head[8..12] == [0x1a, 0x2b, 0x3c, 0x4d]
    } else {
        big_endian
    };
    let word = |at: usize| -> Option<u32> {
        let b: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
        Some(if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let half = |at: usize| -> Option<usize> {
        let b: [u8; 2] = d.get(at..at + 2)?.try_into().ok()?;
        Some(if be {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        } as usize)
    };
    let (Some(kind), Some(len)) = (word(0), word(4)) else {
        return false;
    };
    let len = len as usize;
    // Fewer bytes than that many 4-byte options need: nothing to count.
    if len < MAX_OPTIONS * 4 || len > d.len() {
        return false;
    }
    let start = match kind {
        0x0a0d_0d0a => 24,
        1 => 16,
        5 => 20,
        6 => match word(20) {
            Some(caplen) => 28 + ((caplen as usize).saturating_add(3) & !3),
            None => return false,
        },
        _ => return false,
    };
    let (mut at, end, mut n) = (start, len - 4, 0usize);
    while at + 4 <= end {
        let (Some(code), Some(olen)) = (half(at), half(at + 2)) else {
            return false;
        };
        if code == 0 {
            break;
        }
        n += 1;
        if n > MAX_OPTIONS {
            return true;
        }
        at += 4 + ((olen + 3) & !3);
    }
    false
}

/// Used for packets whose interface is not described (no IDB with that id).
pub const LINKTYPE_UNKNOWN: u16 = 0xFFFF;
