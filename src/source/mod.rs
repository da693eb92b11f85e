//! Packet sources: saved capture files (pcap, pcapng) and, for live runs, libpcap; and the
//! writers of those files ([`write`]).
//!
//! Every source yields [`Frame`]s: the captured bytes of one record with its timestamp and
//! link type. Nothing here decodes protocols.

pub mod file;
pub mod input;
pub mod linktype;
mod read_error;
pub mod time;
pub mod write;

pub use file::{CaptureFile, Event, FileFormat, FrameMeta, ReadError};
pub use input::Compression;
pub use time::Timestamp;
pub use write::{PcapWriter, PcapngWriter, Resolution, WritePacket};

/// What kind of record a frame is. tshark numbers pcapng Custom Blocks as frames, so we do too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Packet,
    /// A pcapng Custom Block (CB or DCB): no packet, shown as a labelled line.
    CustomBlock,
}

/// One record of a capture, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based record number, as tshark's `frame.number`.
    pub number: u64,
    /// None for records without a timestamp (pcapng Simple Packet Blocks, Custom Blocks).
    pub ts: Option<Timestamp>,
    /// Link-layer header type (LINKTYPE_*), upper bits already masked off.
    pub linktype: u16,
    /// Bytes captured (== data.len()).
    pub caplen: u32,
    /// Length of the packet on the wire.
    pub origlen: u32,
    pub data: &'a [u8],
    /// pcapng interface id (None for classic pcap).
    pub interface: Option<u32>,
    pub kind: FrameKind,
}

impl<'a> Frame<'a> {
    /// A packet that comes from no file (a live capture): frame 0, no timestamp, nothing cut.
    pub fn bare(linktype: u16, data: &'a [u8]) -> Frame<'a> {
        Frame {
            number: 0,
            ts: None,
            linktype,
            caplen: data.len() as u32,
            origlen: data.len() as u32,
            data,
            interface: None,
            kind: FrameKind::Packet,
        }
    }

    /// The packet was cut by the snaplen.
    pub fn is_truncated(&self) -> bool {
        self.caplen < self.origlen
    }
}
