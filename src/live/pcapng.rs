//! `--save`: the run as pcapng, with the program's events as packet comments and the whole
//! run (its event log) inside the file; and the reverse, a saved run loaded back (for
//! `sockscope replay`, the golden tests, and rendering without root).
//!
//! Blocks written (by [`PcapngWriter`], little-endian): a Section Header, one Interface
//! Description (lo, the capture's link type, `if_tsresol` = 9: nanoseconds), one Enhanced
//! Packet Block per packet with an `opt_comment` per event that happened since the previous
//! packet, a waiting call's start and return apart (see `placed_comments`; events after the
//! last packet go on the last one; without packets they go on the section), the run's event
//! log in Custom Blocks ([`super::embed`]), and an Interface Statistics Block with libpcap's
//! counters. tshark, Wireshark, tcpdump and `sockscope replay` read it.
//!
//! Runs saved before the log went inside the file kept it beside it, in `FILE.events.jsonl`
//! ([`event_log_path`]); [`load`] still reads those.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::source::write::{InterfaceDescription, InterfaceStatistics, SectionHeader};
use crate::source::{CaptureFile, FrameKind, PcapWriter, PcapngWriter, Resolution};

use super::capture::{Captured, SNAPLEN};
use super::embed;
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
    // A scenario with a device besides lo was captured on both, into one list of packets.
    let name = match crate::scenario::find(&run.scenario).and_then(crate::scenario::device) {
        Some(d) => format!("lo,{}", d.name),
        None => "lo".to_owned(),
    };
    let lo = w.add_interface(&InterfaceDescription {
        linktype: run.linktype,
        snaplen: SNAPLEN as u32,
        resolution: Resolution::Nanos,
        name: Some(&name),
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
    for data in embed::blocks(&log::event_log(run)) {
        w.write_custom(embed::PEN, &data)?;
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

/// Writes the packets of `run` as a classic pcap (ns timestamps): no comments, no events.
pub fn write_pcap(out: &mut impl Write, run: &RunData) -> io::Result<()> {
    let mut w = PcapWriter::new(out, Resolution::Nanos, run.linktype, SNAPLEN as u32)?;
    for p in &run.packets {
        w.write_packet(ns(p.ts), p.origlen, &p.data)?;
    }
    w.finish()?;
    Ok(())
}

/// Whether `path` is a pcapng file that sockscope wrote (its section header's `shb_userappl`
/// opens with `sockscope `): only such files are searched for a saved run. Only a regular
/// file can be: anything else, and any failure to read, is a no (the replay that follows
/// reports the failure).
pub fn written_by_sockscope(path: &Path) -> bool {
    use std::io::Read;
    // A pipe (`/dev/stdin`) can be read once only, and a FIFO must not even be opened here:
    // the open would pair with the writer's, and closing it again would leave the writer with
    // a broken pipe before the replay opens it. Both are left to the packet replay.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = vec![0u8; 12];
    if f.read_exact(&mut head).is_err() || head[..4] != [0x0a, 0x0d, 0x0d, 0x0a] {
        return false;
    }
    let big = match head[8..12] {
        [0x4d, 0x3c, 0x2b, 0x1a] => false,
        [0x1a, 0x2b, 0x3c, 0x4d] => true,
        _ => return false,
    };
    let len = head[4..8].try_into().map_or(0, |b| {
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }) as usize;
    // The section header alone (with a run of no packets, its comments hold the events).
    if !(12..=16 << 20).contains(&len) {
        return false;
    }
    head.resize(len, 0);
    if f.read_exact(&mut head[12..]).is_err() {
        return false;
    }
    let block = if big {
        pcap_parser::pcapng::parse_block_be(&head)
    } else {
        pcap_parser::pcapng::parse_block_le(&head)
    };
    let Ok((_, pcap_parser::pcapng::Block::SectionHeader(shb))) = block else {
        return false;
    };
    shb.options.iter().any(|o| {
        o.code == pcap_parser::pcapng::OptionCode::ShbUserAppl
            && o.as_bytes().is_ok_and(|b| b.starts_with(b"sockscope "))
    })
}

/// Most bytes of packets and event log a saved run may hold: the run view keeps them all in
/// memory (a file that says sockscope wrote it can be any size). A larger one is shown as
/// packets, which stream.
pub const MAX_RUN_BYTES: usize = 256 << 20;

/// What a pcapng holds: its packets, and the run's event log when it carries one.
fn read_capture(path: &Path) -> Result<(RunData, Option<String>), LiveError> {
    let mut run = RunData::default();
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut file = CaptureFile::open(path)
        .map_err(|e| LiveError::file(path, io::Error::other(e.to_string())))?;
    let mut held = 0usize;
    let mut too_large = false;
    file.for_each(|fr| {
        held += fr.data.len() + 64;
        if held > MAX_RUN_BYTES {
            too_large = true;
            return false;
        }
        match fr.kind {
            FrameKind::Packet => {
                run.linktype = fr.linktype;
                run.packets.push(Captured {
                    ts: fr.ts.map_or(0, |t| t.as_nanos()),
                    origlen: fr.origlen,
                    data: fr.data.to_vec(),
                });
            }
            FrameKind::CustomBlock if embed::is_run_block(fr.data) => {
                blocks.push(fr.data.to_vec());
            }
            FrameKind::CustomBlock => {}
        }
        true
    })
    .map_err(|e| LiveError::file(path, io::Error::other(e.to_string())))?;
    if too_large {
        return Err(LiveError::Events(format!(
            "the saved run holds more than {} MiB, more than sockscope shows as a run",
            MAX_RUN_BYTES >> 20
        )));
    }
    if blocks.is_empty() {
        return Ok((run, None));
    }
    let parts: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
    let log = embed::join(&parts).map_err(LiveError::Events)?;
    Ok((run, Some(log)))
}

/// Fills `run` (its packets read) from an event log: scenario, events, counters. The link
/// type stays the packets' when there are any.
fn apply_log(run: &mut RunData, text: &str) -> Result<(), String> {
    let linktype = run.linktype;
    log::read_event_log(text, run)?;
    if !run.packets.is_empty() {
        run.linktype = linktype;
    }
    run.sort();
    Ok(())
}

/// The event log a saved run carries inside `path` (None for a capture without one).
pub fn event_log(path: &Path) -> Result<Option<String>, LiveError> {
    Ok(read_capture(path)?.1)
}

/// Loads the run saved inside a pcapng (`sockscope run|trace --save FILE.pcapng`); None when
/// the file carries no run (any other capture, or one saved with its log beside it).
pub fn load_saved(path: &Path) -> Result<Option<RunData>, LiveError> {
    let (mut run, log) = read_capture(path)?;
    let Some(log) = log else { return Ok(None) };
    apply_log(&mut run, &log).map_err(|e| LiveError::Events(format!("the saved run: {e}")))?;
    Ok(Some(run))
}

/// Loads a saved run: packets from the pcapng, events from inside it, or else from the event
/// log `events` beside it (runs saved before the log went inside the file).
pub fn load(pcapng: &Path, events: &Path) -> Result<RunData, LiveError> {
    let (mut run, log) = read_capture(pcapng)?;
    let (text, from) = match log {
        Some(log) => (log, pcapng),
        None => (
            std::fs::read_to_string(events).map_err(|e| LiveError::file(events, e))?,
            events,
        ),
    };
    apply_log(&mut run, &text)
        .map_err(|e| LiveError::file(from, io::Error::new(io::ErrorKind::InvalidData, e)))?;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::event::Role;

    /// A FIFO is not opened to look for a saved run: the open would wait for a writer (here
    /// none comes) or pair with the writer's and leave it a broken pipe when closed again.
    #[test]
    fn a_fifo_is_not_opened_to_look_for_a_saved_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("capture.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(written_by_sockscope(&path));
        });
        let answer = rx.recv_timeout(std::time::Duration::from_secs(5));
        if answer.is_err() {
            // Unblock the stuck open so the thread ends, then fail.
            let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
        }
        assert_eq!(answer.ok(), Some(false), "the FIFO was opened");
    }

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
        let mut custom = Vec::new();
        f.for_each(|fr| {
            if fr.kind == FrameKind::CustomBlock {
                custom.push((fr.number, fr.data.to_vec()));
            } else {
                frames.push((
                    fr.ts.map(|t| t.as_nanos()),
                    fr.linktype,
                    fr.data.to_vec(),
                    fr.origlen,
                ));
            }
            true
        })
        .unwrap();
        assert_eq!(
            frames,
            vec![(Some(1_000_000_000_000_000_200), 1, vec![1, 2, 3], 3)]
        );
        // The run follows the packets, in one Custom Block: frame 2 for tshark.
        assert_eq!(custom.len(), 1);
        assert_eq!(custom[0].0, 2);
        assert!(embed::is_run_block(&custom[0].1));
        let text = embed::join(&[&custom[0].1]).unwrap();
        assert_eq!(text, log::event_log(&run));
    }

    #[test]
    fn a_run_without_packets_is_carried_too() {
        // Its events are comments on the section too: 3,000 of them make a header of ~200 KB.
        let one = sample().events[0].clone();
        let run = RunData {
            packets: Vec::new(),
            events: vec![one; 3000],
            ..sample()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pcapng");
        let mut buf = Vec::new();
        write(&mut buf, &run).unwrap();
        std::fs::write(&path, &buf).unwrap();
        assert!(written_by_sockscope(&path));
        let back = load_saved(&path).unwrap().expect("a run");
        assert_eq!(back.events, run.events);
        assert_eq!(back.linktype, 1);
        assert!(back.packets.is_empty());
    }

    #[test]
    fn a_pcap_holds_the_packets_only() {
        let mut buf = Vec::new();
        write_pcap(&mut buf, &sample()).unwrap();
        // ns magic, then one 16-byte record header and the 3 bytes.
        assert_eq!(&buf[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(buf.len(), 24 + 16 + 3);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");
        std::fs::write(&path, &buf).unwrap();
        assert!(!written_by_sockscope(&path));
        assert!(load_saved(&path).unwrap().is_none());
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
