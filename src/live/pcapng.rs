//! `--save`: the run as pcapng, with the program's events as packet comments, plus the event
//! log as JSON Lines next to it; and the reverse, a saved run loaded back (for the golden tests
//! and for rendering without root).
//!
//! Blocks written (by [`PcapngWriter`], little-endian): a Section Header, one Interface
//! Description (lo, the capture's link type, `if_tsresol` = 9: nanoseconds), one Enhanced
//! Packet Block per packet with an `opt_comment` per event that happened since the previous
//! packet, a waiting call's start and return apart (see `placed_comments`; events after the
//! last packet go on the last one; without packets they go on the section), and an Interface
//! Statistics Block with libpcap's counters.
//! tshark, Wireshark, tcpdump and `sockscope replay` read it.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::source::write::{InterfaceDescription, InterfaceStatistics, SectionHeader};
use crate::source::{CaptureFile, PcapngWriter, Resolution};

use super::capture::{Captured, SNAPLEN};
use super::event::{write_time, Event, Part};
use super::log;
use super::model::RunData;
use super::LiveError;

/// The comment an event (or the start or end of one) leaves on a packet.
fn comment(e: &Event, part: Part, when: &str) -> String {
    let mut t = String::new();
    write_time(&mut t, if part == Part::End { e.end } else { e.start });
    format!("{when}{}: {} (at {t})", e.role.name(), e.call_text(part, 1))
}

/// Where each event's comments go: (time, comment) in time order. A call that was waiting
/// while packets passed (connect, accept, read…) leaves two: `connect(…) …` at its start and
/// `… connect() = 0` at its return, so each lands on the first packet after the moment it
/// names (`connect() = 0` after the SYN+ACK, not on the SYN); any other event leaves one.
fn placed_comments(run: &RunData) -> Vec<(i128, String)> {
    let mut out = Vec::with_capacity(run.events.len());
    for e in &run.events {
        let waited_across_a_packet =
            e.end > e.start && run.packets.iter().any(|p| p.ts > e.start && p.ts <= e.end);
        if waited_across_a_packet {
            out.push((e.start, comment(e, Part::Begin, "")));
            out.push((e.end, comment(e, Part::End, "")));
        } else {
            out.push((e.start, comment(e, Part::Whole, "")));
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
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
        run.events
            .iter()
            .map(|e| comment(e, Part::Whole, ""))
            .collect()
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

    let placed = placed_comments(run);
    let mut notes = placed.into_iter().peekable();
    let last = run.packets.len().saturating_sub(1);
    let mut comments = Vec::new();
    for (i, p) in run.packets.iter().enumerate() {
        comments.clear();
        while let Some((_, c)) = notes.next_if(|(t, _)| *t <= p.ts) {
            comments.push(c);
        }
        if i == last {
            comments.extend(
                notes
                    .by_ref()
                    .map(|(_, c)| format!("after this packet: {c}")),
            );
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

    /// connect() waits across the SYN and the SYN+ACK: its start goes on the SYN, its return on
    /// the first packet after it returned, not on the SYN.
    #[test]
    fn a_waiting_call_leaves_its_start_and_its_return_apart() {
        let mut connect = Event::new(Role::Client, "client", "connect", 100);
        connect.end = 250;
        connect.args = "3, 127.0.0.1:9".into();
        connect.ret = Some(0);
        let mut w = Event::new(Role::Client, "client", "write", 260);
        w.end = 261;
        w.args = "3, \"x\", 1".into();
        w.ret = Some(1);
        let packet = |ts| Captured {
            ts,
            origlen: 3,
            data: vec![1, 2, 3],
        };
        let run = RunData {
            packets: vec![packet(150), packet(200), packet(270)],
            events: vec![connect, w],
            ..RunData::default()
        };
        let placed = placed_comments(&run);
        let texts: Vec<&str> = placed.iter().map(|(_, c)| c.as_str()).collect();
        assert_eq!(placed.len(), 3, "{texts:?}");
        assert!(
            texts[0].starts_with("client: connect(3, 127.0.0.1:9) …"),
            "{texts:?}"
        );
        assert!(texts[1].starts_with("client: … connect() = 0"), "{texts:?}");
        assert!(
            texts[2].starts_with("client: write(3, \"x\", 1) = 1"),
            "{texts:?}"
        );
        // On the wire: the start on the first packet (150), the return and the write on the
        // first packet after 250 (270), nothing on 200.
        let mut buf = Vec::new();
        write(&mut buf, &run).unwrap();
        // Each Enhanced Packet Block's comments (option code 1), in order.
        let mut blocks: Vec<Vec<String>> = Vec::new();
        let mut rest: &[u8] = &buf;
        while !rest.is_empty() {
            let (r, block) = pcap_parser::pcapng::parse_block_le(rest).unwrap();
            if let pcap_parser::pcapng::Block::EnhancedPacket(epb) = block {
                blocks.push(
                    epb.options
                        .iter()
                        .filter(|o| o.code.0 == 1)
                        .map(|o| String::from_utf8_lossy(o.as_bytes().unwrap()).into_owned())
                        .collect(),
                );
            }
            rest = r;
        }
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0].len(), 1);
        assert!(blocks[1].is_empty());
        assert_eq!(blocks[2].len(), 2);
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
