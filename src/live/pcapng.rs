//! `--save`: the run as pcapng, with the program's events as packet comments, plus the event
//! log as JSON Lines next to it; and the reverse, a saved run loaded back (for the golden tests
//! and for rendering without root).
//!
//! Blocks written (by [`PcapngWriter`], little-endian): a Section Header, one Interface
//! Description (lo, the capture's link type, `if_tsresol` = 9: nanoseconds), one Enhanced
//! Packet Block per packet with an `opt_comment` per event that happened since the previous
//! packet (events after the last packet go on the last one; without packets they go on the
//! section), and an Interface Statistics Block with libpcap's counters.
//! tshark, Wireshark, tcpdump and `sockscope replay` read it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::source::write::{InterfaceDescription, InterfaceStatistics, SectionHeader};
use crate::source::{CaptureFile, PcapngWriter, Resolution};

use super::capture::{Captured, SNAPLEN};
use super::event::{write_time, Event};
use super::log;
use super::model::RunData;
use super::LiveError;

/// The comment an event leaves on a packet.
fn comment(e: &Event, when: &str) -> String {
    let mut t = String::new();
    write_time(&mut t, e.start);
    format!("{when}{}: {} (at {t})", e.role.name(), e.line())
}

/// A run's time (ns since the epoch) as pcapng stores it: unsigned.
fn ns(t: i128) -> u64 {
    t.clamp(0, u64::MAX as i128) as u64
}

/// Writes `run` as pcapng.
pub fn write(out: &mut impl Write, run: &RunData) -> io::Result<()> {
    let appl = format!(
        "sockscope {} run {}",
        env!("CARGO_PKG_VERSION"),
        run.scenario
    );
    // Without packets, the events are comments on the section.
    let section_comments: Vec<String> = if run.packets.is_empty() {
        run.events.iter().map(|e| comment(e, "")).collect()
    } else {
        Vec::new()
    };
    let section_comments: Vec<&str> = section_comments.iter().map(String::as_str).collect();
    let section = SectionHeader {
        user_appl: Some(&appl),
        comments: &section_comments,
    };
    let mut w = PcapngWriter::new(out, &section)?;
    let lo = w.add_interface(&InterfaceDescription {
        linktype: run.linktype,
        snaplen: SNAPLEN as u32,
        resolution: Resolution::Nanos,
        name: Some("lo"),
    })?;

    let mut events = run.events.iter().peekable();
    let last = run.packets.len().saturating_sub(1);
    let mut comments = Vec::new();
    for (i, p) in run.packets.iter().enumerate() {
        comments.clear();
        while let Some(e) = events.next_if(|e| e.start <= p.ts) {
            comments.push(comment(e, ""));
        }
        if i == last {
            comments.extend(events.by_ref().map(|e| comment(e, "after this packet: ")));
        }
        w.write_enhanced(lo, ns(p.ts), p.origlen, &p.data, &comments)?;
    }

    let start = run.t0().unwrap_or(0);
    let end = run
        .packets
        .iter()
        .map(|p| p.ts)
        .chain(run.events.iter().map(|e| e.end))
        .max()
        .unwrap_or(start);
    w.write_statistics(&InterfaceStatistics {
        interface: lo,
        ts_ns: ns(end),
        start_ns: Some(ns(start)),
        end_ns: Some(ns(end)),
        received: Some(run.stats.received),
        dropped: Some(run.stats.dropped),
    })?;
    w.finish()?;
    Ok(())
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
        assert_eq!(&buf[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
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
