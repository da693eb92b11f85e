//! `--save`: the run as pcapng, with the program's events as packet comments, plus the event
//! log as JSON Lines next to it; and the reverse, a saved run loaded back (for the golden tests
//! and for rendering without root).
//!
//! Blocks written (little-endian): a Section Header, one Interface Description (lo, the
//! capture's link type, `if_tsresol` = 9: nanoseconds), one Enhanced Packet Block per packet
//! with an `opt_comment` per event that happened since the previous packet (events after the
//! last packet go on the last one), and an Interface Statistics Block with libpcap's counters.
//! tshark, Wireshark, tcpdump and `sockscope replay` read it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::source::CaptureFile;

use super::capture::{Captured, SNAPLEN};
use super::event::{write_time, Event};
use super::log;
use super::model::RunData;
use super::LiveError;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const ISB: u32 = 0x0000_0005;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const ISB_STARTTIME: u16 = 2;
const ISB_ENDTIME: u16 = 3;
const ISB_IFRECV: u16 = 4;
const ISB_IFDROP: u16 = 5;

/// One block being built: body then options.
struct Block {
    kind: u32,
    body: Vec<u8>,
}

impl Block {
    fn new(kind: u32) -> Block {
        Block {
            kind,
            body: Vec::with_capacity(128),
        }
    }

    fn u16(&mut self, v: u16) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn bytes_padded(&mut self, b: &[u8]) -> &mut Self {
        self.body.extend_from_slice(b);
        while !self.body.len().is_multiple_of(4) {
            self.body.push(0);
        }
        self
    }

    fn option(&mut self, code: u16, value: &[u8]) -> &mut Self {
        // Option values are at most 65535 bytes; longer comments are cut.
        let value = &value[..value.len().min(u16::MAX as usize - 3)];
        self.u16(code).u16(value.len() as u16).bytes_padded(value)
    }

    /// A time as the two 32-bit halves of a ns count.
    fn time(&mut self, ns: i128) -> &mut Self {
        let t = ns.max(0) as u64;
        self.u32((t >> 32) as u32).u32(t as u32)
    }

    fn write(&mut self, out: &mut impl Write, with_options: bool) -> io::Result<()> {
        if with_options {
            self.u16(OPT_END).u16(0);
        }
        let total = (self.body.len() + 12) as u32;
        out.write_all(&self.kind.to_le_bytes())?;
        out.write_all(&total.to_le_bytes())?;
        out.write_all(&self.body)?;
        out.write_all(&total.to_le_bytes())
    }
}

/// The comment an event leaves on a packet.
fn comment(e: &Event, when: &str) -> String {
    let mut t = String::new();
    write_time(&mut t, e.start);
    format!("{when}{}: {} (at {t})", e.role.name(), e.line())
}

/// Writes `run` as pcapng.
pub fn write(out: &mut impl Write, run: &RunData) -> io::Result<()> {
    let mut shb = Block::new(SHB);
    shb.u32(BYTE_ORDER_MAGIC)
        .u16(1)
        .u16(0)
        .u32(u32::MAX)
        .u32(u32::MAX);
    let appl = format!(
        "sockscope {} run {}",
        env!("CARGO_PKG_VERSION"),
        run.scenario
    );
    shb.option(SHB_USERAPPL, appl.as_bytes());
    if run.packets.is_empty() {
        for e in &run.events {
            shb.option(OPT_COMMENT, comment(e, "").as_bytes());
        }
    }
    shb.write(out, true)?;

    let mut idb = Block::new(IDB);
    idb.u16(run.linktype).u16(0).u32(SNAPLEN as u32);
    idb.option(IF_NAME, b"lo").option(IF_TSRESOL, &[9]);
    idb.write(out, true)?;

    let mut events = run.events.iter().peekable();
    let last = run.packets.len().saturating_sub(1);
    for (i, p) in run.packets.iter().enumerate() {
        let mut epb = Block::new(EPB);
        epb.u32(0)
            .time(p.ts)
            .u32(p.data.len() as u32)
            .u32(p.origlen)
            .bytes_padded(&p.data);
        let mut any = false;
        while let Some(e) = events.next_if(|e| e.start <= p.ts) {
            epb.option(OPT_COMMENT, comment(e, "").as_bytes());
            any = true;
        }
        if i == last {
            for e in events.by_ref() {
                epb.option(OPT_COMMENT, comment(e, "after this packet: ").as_bytes());
                any = true;
            }
        }
        epb.write(out, any)?;
    }

    let start = run.t0().unwrap_or(0);
    let end = run
        .packets
        .iter()
        .map(|p| p.ts)
        .chain(run.events.iter().map(|e| e.end))
        .max()
        .unwrap_or(start);
    let mut isb = Block::new(ISB);
    isb.u32(0).time(end);
    let mut t = Block::new(0);
    t.time(start);
    isb.option(ISB_STARTTIME, &t.body);
    let mut t = Block::new(0);
    t.time(end);
    isb.option(ISB_ENDTIME, &t.body);
    isb.option(ISB_IFRECV, &run.stats.received.to_le_bytes());
    isb.option(ISB_IFDROP, &run.stats.dropped.to_le_bytes());
    isb.write(out, true)?;
    out.flush()
}

/// `capture.pcapng` → `capture.events.jsonl` (any other name gets `.events.jsonl` appended).
pub fn event_log_path(pcapng: &Path) -> PathBuf {
    let s = pcapng.as_os_str().to_string_lossy();
    match s.strip_suffix(".pcapng") {
        Some(stem) => PathBuf::from(format!("{stem}.events.jsonl")),
        None => PathBuf::from(format!("{s}.events.jsonl")),
    }
}

/// Saves `run` to `path` (pcapng) and its event log next to it; returns the log's path.
pub fn save(path: &Path, run: &RunData) -> Result<PathBuf, LiveError> {
    let f = File::create(path).map_err(|e| LiveError::file(path, e))?;
    let mut w = BufWriter::new(f);
    write(&mut w, run).map_err(|e| LiveError::file(path, e))?;
    let log = event_log_path(path);
    std::fs::write(&log, log::event_log(run)).map_err(|e| LiveError::file(&log, e))?;
    Ok(log)
}

/// Loads a saved run: packets from the pcapng, events from its event log.
pub fn load(pcapng: &Path, events: &Path) -> Result<RunData, LiveError> {
    let mut run = RunData::default();
    let mut file = CaptureFile::open(pcapng)
        .map_err(|e| LiveError::file(pcapng, io::Error::other(e.to_string())))?;
    file.for_each(|fr| {
        run.linktype = fr.linktype;
        run.packets.push(Captured {
            ts: fr.ts.map_or(0, |t| t.as_nanos()),
            origlen: fr.origlen,
            data: fr.data.to_vec(),
        });
        true
    })
    .map_err(|e| LiveError::file(pcapng, io::Error::other(e.to_string())))?;
    let text = std::fs::read_to_string(events).map_err(|e| LiveError::file(events, e))?;
    let linktype = run.linktype;
    log::read_event_log(&text, &mut run)
        .map_err(|e| LiveError::file(events, io::Error::new(io::ErrorKind::InvalidData, e)))?;
    if !run.packets.is_empty() {
        run.linktype = linktype;
    }
    run.sort();
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::event::Role;

    fn sample() -> RunData {
        let mut e = Event::new(Role::Client, "client", "write", 1_000_000_000_000_000_100);
        e.args = "3, \"hi\", 2".into();
        e.ret = Some(2);
        RunData {
            scenario: "t".into(),
            linktype: 1,
            filter: "port 9".into(),
            packets: vec![Captured {
                ts: 1_000_000_000_000_000_200,
                origlen: 3,
                data: vec![1, 2, 3],
            }],
            events: vec![e],
            ..RunData::default()
        }
    }

    #[test]
    fn blocks_are_aligned_and_read_back() {
        let run = sample();
        let mut buf = Vec::new();
        write(&mut buf, &run).unwrap();
        assert_eq!(buf.len() % 4, 0);
        assert_eq!(&buf[..4], &SHB.to_le_bytes());
        let mut f =
            CaptureFile::from_reader(Path::new("mem.pcapng"), io::Cursor::new(buf)).unwrap();
        let mut frames = Vec::new();
        f.for_each(|fr| {
            frames.push((
                fr.ts.map(|t| t.as_nanos()),
                fr.linktype,
                fr.data.to_vec(),
                fr.origlen,
            ));
            true
        })
        .unwrap();
        assert_eq!(
            frames,
            vec![(Some(1_000_000_000_000_000_200), 1, vec![1, 2, 3], 3)]
        );
    }

    #[test]
    fn comments_carry_the_events() {
        let mut buf = Vec::new();
        write(&mut buf, &sample()).unwrap();
        let text = String::from_utf8_lossy(&buf);
        assert!(text.contains("client: write(3, \"hi\", 2) = 2"), "{text}");
    }

    #[test]
    fn event_log_sits_next_to_the_capture() {
        assert_eq!(
            event_log_path(Path::new("captures/x.pcapng")),
            PathBuf::from("captures/x.events.jsonl")
        );
        assert_eq!(
            event_log_path(Path::new("x.cap")),
            PathBuf::from("x.cap.events.jsonl")
        );
    }
}
