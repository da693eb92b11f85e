//! `replay -w FILE`: the selected packets written to a capture file, as tcpdump's `-w` does.
//!
//! Each packet keeps its link type, its captured and original lengths and its timestamp at
//! the clock it was captured with (µs or ns; a finer pcapng clock is kept to the ns).
//! The container: pcapng for a name ending in `.pcapng` (or `.ntar`), pcap for `.pcap`,
//! `.cap` or `.dmp`, else (`-` for standard output, any other name) the format of the first
//! input. A pcap file holds one link type: a packet of another is an error that says to write
//! pcapng, which holds one interface per input interface.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::source::linktype;
use crate::source::write::{InterfaceDescription, SectionHeader};
use crate::source::{
    CaptureFile, FileFormat, Frame, FrameKind, FrameMeta, PcapWriter, PcapngWriter, Resolution,
};

/// The container a `-w` file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Pcap,
    PcapNg,
}

impl Container {
    /// The container a file name asks for, when it asks for one.
    pub fn from_name(path: &Path) -> Option<Container> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "pcapng" | "ntar" => Some(Container::PcapNg),
            "pcap" | "cap" | "dmp" => Some(Container::Pcap),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The cause is the source (not in the message), so that a closed pipe (`-w - | head`)
    /// is seen as one by `main`.
    #[error("{path}: cannot write the capture")]
    Io {
        path: PathBuf,
        #[source]
        cause: io::Error,
    },
    #[error("{path}: packet {frame} has link type {new}, but a pcap file holds one link type ({first}): write pcapng instead (-w FILE.pcapng)")]
    MixedLinkTypes {
        path: PathBuf,
        frame: u64,
        new: String,
        first: String,
    },
    #[error("{path}: packet {frame} cannot be written as pcap: {msg} (write pcapng instead: -w FILE.pcapng)")]
    Unfit {
        path: PathBuf,
        frame: u64,
        msg: String,
    },
}

/// The interface a pcapng output gave to an input interface: (input file, section,
/// interface id) → output id.
type InterfaceKey = (usize, u32, u32);

enum Writer<'a> {
    Pcap {
        w: PcapWriter<Box<dyn Write + 'a>>,
        linktype: u16,
    },
    Ng {
        w: PcapngWriter<Box<dyn Write + 'a>>,
        interfaces: Vec<(InterfaceKey, u16, u32)>,
    },
}

/// A capture being written.
pub struct Dump<'a> {
    path: PathBuf,
    container: Option<Container>,
    /// The output, until the writer is made (at the first packet, or at the end).
    out: Option<Box<dyn Write + 'a>>,
    writer: Option<Writer<'a>>,
    /// The clock and snaplen of the first classic pcap input (the pcap output's header when no
    /// packet is written).
    first_meta: Option<FrameMeta>,
    first_linktype: Option<u16>,
    written: u64,
}

impl<'a> Dump<'a> {
    /// Writes to `out`; `path` names it in messages (`-` is standard output).
    pub fn new(path: &Path, out: Box<dyn Write + 'a>) -> Dump<'a> {
        Dump {
            path: if path == Path::new("-") {
                PathBuf::from("standard output")
            } else {
                path.to_owned()
            },
            container: Container::from_name(path),
            out: Some(out),
            writer: None,
            first_meta: None,
            first_linktype: None,
            written: 0,
        }
    }

    /// Called as each input is opened: the first decides the container when the name did not.
    pub fn start_file(&mut self, file: &CaptureFile) {
        if self.container.is_none() {
            self.container = Some(match file.format() {
                FileFormat::Pcap { .. } => Container::Pcap,
                FileFormat::PcapNg => Container::PcapNg,
            });
        }
        if self.first_meta.is_none() {
            self.first_meta = file.pcap_meta();
            self.first_linktype = file.first_linktype();
        }
    }

    /// Writes one packet of input file `input` (0, 1, …). pcapng Custom Blocks are not
    /// packets and are left out.
    pub fn packet(
        &mut self,
        input: usize,
        frame: &Frame<'_>,
        meta: &FrameMeta,
    ) -> Result<(), DumpError> {
        if frame.kind != FrameKind::Packet {
            return Ok(());
        }
        let ts_ns = match frame.ts.map(|t| t.as_nanos()) {
            None => 0,
            Some(ns) => u64::try_from(ns).map_err(|_| DumpError::Unfit {
                path: self.path.clone(),
                frame: frame.number,
                msg: "its timestamp is before 1970".into(),
            })?,
        };
        if self.writer.is_none() {
            self.writer = Some(self.make(Some((frame.linktype, meta)))?);
        }
        let path = &self.path;
        let io_err = |cause: io::Error| -> DumpError {
            if cause.kind() == io::ErrorKind::InvalidInput {
                DumpError::Unfit {
                    path: path.clone(),
                    frame: frame.number,
                    msg: cause.to_string(),
                }
            } else {
                DumpError::Io {
                    path: path.clone(),
                    cause,
                }
            }
        };
        match self.writer.as_mut() {
            Some(Writer::Pcap { w, linktype }) => {
                if *linktype != frame.linktype {
                    return Err(DumpError::MixedLinkTypes {
                        path: path.clone(),
                        frame: frame.number,
                        new: linktype::name(frame.linktype).into_owned(),
                        first: linktype::name(*linktype).into_owned(),
                    });
                }
                w.write_packet(ts_ns, frame.origlen, frame.data)
                    .map_err(io_err)?;
            }
            Some(Writer::Ng { w, interfaces }) => {
                let key = (input, meta.section, frame.interface.unwrap_or(0));
                let id = match interfaces.iter().find(|(k, _, _)| *k == key) {
                    Some(&(_, _, id)) => id,
                    None => {
                        let id = w
                            .add_interface(&InterfaceDescription {
                                linktype: frame.linktype,
                                snaplen: meta.snaplen,
                                resolution: resolution(meta.units_per_sec),
                                name: None,
                            })
                            .map_err(io_err)?;
                        interfaces.push((key, frame.linktype, id));
                        id
                    }
                };
                w.write_enhanced::<&str>(id, ts_ns, frame.origlen, frame.data, &[])
                    .map_err(io_err)?;
            }
            None => {}
        }
        self.written += 1;
        Ok(())
    }

    /// Hands what was written so far to the output (`-U`'s packet-buffered writing).
    pub fn flush(&mut self) -> Result<(), DumpError> {
        let r = match self.writer.as_mut() {
            Some(Writer::Pcap { w, .. }) => w.get_mut().flush(),
            Some(Writer::Ng { w, .. }) => w.get_mut().flush(),
            None => Ok(()),
        };
        r.map_err(|cause| DumpError::Io {
            path: self.path.clone(),
            cause,
        })
    }

    /// Writes the file header when no packet was written (a valid empty capture, as tcpdump
    /// leaves), and flushes. Returns the packets written.
    pub fn finish(mut self) -> Result<u64, DumpError> {
        if self.writer.is_none() {
            self.writer = Some(self.make(None)?);
        }
        self.flush()?;
        Ok(self.written)
    }

    /// Makes the writer: pcap with the first packet's link type and clock (or the first
    /// input's), pcapng with its section header.
    fn make(&mut self, first: Option<(u16, &FrameMeta)>) -> Result<Writer<'a>, DumpError> {
        let out = self.out.take().ok_or_else(|| DumpError::Io {
            path: self.path.clone(),
            cause: io::Error::other("the output is gone"),
        })?;
        let io_err = |cause| DumpError::Io {
            path: self.path.clone(),
            cause,
        };
        Ok(match self.container.unwrap_or(Container::Pcap) {
            Container::Pcap => {
                let (linktype, meta) = match first {
                    Some((lt, m)) => (lt, Some(*m)),
                    None => (self.first_linktype.unwrap_or(1), self.first_meta),
                };
                let res = meta.map_or(Resolution::Micros, |m| resolution(m.units_per_sec));
                let snaplen = meta.map_or(0, |m| m.snaplen);
                let snaplen = if snaplen == 0 { 262_144 } else { snaplen };
                Writer::Pcap {
                    w: PcapWriter::new(out, res, linktype, snaplen).map_err(io_err)?,
                    linktype,
                }
            }
            Container::PcapNg => Writer::Ng {
                w: PcapngWriter::new(
                    out,
                    &SectionHeader {
                        user_appl: Some("sockscope replay -w"),
                        comments: &[],
                    },
                )
                .map_err(io_err)?,
                interfaces: Vec::new(),
            },
        })
    }
}

/// The writer's clock that holds `units_per_sec` ticks exactly: µs for µs and coarser
/// (10^6 divisible by it), else ns.
fn resolution(units_per_sec: u64) -> Resolution {
    if units_per_sec > 0 && 1_000_000 % units_per_sec == 0 {
        Resolution::Micros
    } else {
        Resolution::Nanos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_follows_the_name() {
        assert_eq!(
            Container::from_name(Path::new("a.pcapng")),
            Some(Container::PcapNg)
        );
        assert_eq!(
            Container::from_name(Path::new("a.PCAP")),
            Some(Container::Pcap)
        );
        assert_eq!(Container::from_name(Path::new("-")), None);
        assert_eq!(Container::from_name(Path::new("out")), None);
    }

    #[test]
    fn clocks_are_kept_exactly() {
        assert_eq!(resolution(1_000_000), Resolution::Micros);
        assert_eq!(resolution(1_000), Resolution::Micros);
        assert_eq!(resolution(1_000_000_000), Resolution::Nanos);
        assert_eq!(resolution(1 << 20), Resolution::Nanos);
    }
}
