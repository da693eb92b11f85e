//! `sockscope replay FILE --follow tcp:N` (or `udp:N`): one conversation's bytes in both
//! directions, as `tshark -q -z follow,tcp,ascii,N` prints them: a header naming the two
//! endpoints (node 0 sent the conversation's first packet), then each segment's new bytes as
//! a chunk (its size, node 1's indented by a tab, then the bytes as text), in sequence order.
//!
//! TCP is reassembled per direction: a retransmission gives only the bytes not yet shown,
//! a segment that arrives ahead of a gap waits until the gap is filled (at most
//! [`PENDING_MAX`] bytes and [`PENDING_SEGMENTS`] segments wait). When the peer acknowledges bytes the file does not have, they
//! are written as `[38 bytes missing in capture file].`, as tshark writes them, and what
//! waited follows. What still waits at the end of the file is shown then, in order, after
//! such a line (tshark leaves it out). The text
//! is ASCII with line breaks: every other byte is `.`, a CR before a LF is dropped (tshark
//! keeps it), so nothing in the file can drive the terminal.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use crate::analyse::{flags, Analyser, Record};
use crate::decode::{decode, Transport};
use crate::render::describe::endpoint;
use crate::render::escape;
use crate::replay::{selected, ReplayError, StreamSel};
use crate::source::CaptureFile;

/// Out-of-order bytes held per direction, at most (each waiting segment counts
/// [`PENDING_COST`] more: a file of 1-byte segments cannot hold millions).
pub const PENDING_MAX: usize = 16 << 20;
/// Segments waiting per direction, at most (each new segment looks through them).
pub const PENDING_SEGMENTS: usize = 4096;
/// What a waiting segment costs beside its bytes (map entry and allocation).
const PENDING_COST: usize = 64;
/// Output is written out whenever it passes this size.
const FLUSH_AT: usize = 64 * 1024;

type End = (IpAddr, u16);

/// One direction's reassembly.
#[derive(Default)]
struct Direction {
    /// The next sequence number expected (raw), once known.
    next: Option<u32>,
    /// Segments ahead of `next`, by their (raw) sequence number.
    pending: BTreeMap<u32, Vec<u8>>,
    pending_bytes: usize,
}

/// The chunks of one conversation, in the order they can be shown.
pub struct Follow {
    sel: StreamSel,
    nodes: Option<[End; 2]>,
    dirs: [Direction; 2],
    /// The output so far (the caller takes it as it grows: [`Follow::take`]).
    out: String,
}

impl Follow {
    pub fn new(sel: StreamSel) -> Follow {
        Follow {
            sel,
            nodes: None,
            dirs: Default::default(),
            out: String::new(),
        }
    }

    /// The header: the conversation and its two endpoints.
    fn header(&mut self, nodes: [End; 2]) {
        let (proto, n) = match self.sel {
            StreamSel::Tcp(n) => ("tcp", n),
            StreamSel::Udp(n) => ("udp", n),
        };
        let out = &mut self.out;
        out.push_str("\n===================================================================\n");
        out.push_str(&format!(
            "Follow: {proto},ascii\nFilter: {proto}.stream eq {n}\n"
        ));
        for (i, (a, p)) in nodes.iter().enumerate() {
            out.push_str(&format!("Node {i}: "));
            endpoint(out, *a, Some(*p));
            out.push('\n');
        }
    }

    /// Writes `bytes` from `node` as a chunk: its size (node 1's after a tab), then the text.
    fn chunk(&mut self, node: usize, bytes: &[u8]) {
        if node == 1 {
            self.out.push('\t');
        }
        self.out.push_str(&bytes.len().to_string());
        self.out.push('\n');
        escape::text(&mut self.out, bytes, false);
        self.out.push('\n');
    }

    /// Takes the output written so far.
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    /// Takes a record of the followed conversation.
    pub fn add(&mut self, rec: &Record<'_>) {
        let Some(ip) = rec.pkt.ip else { return };
        let (sport, dport) = match rec.pkt.transport {
            Transport::Tcp(t) => (t.sport, t.dport),
            Transport::Udp(u) => (u.sport, u.dport),
            _ => return,
        };
        let src = (ip.src, sport);
        let nodes = match self.nodes {
            Some(n) => n,
            None => {
                let n = [src, (ip.dst, dport)];
                self.nodes = Some(n);
                self.header(n);
                n
            }
        };
        let node = usize::from(src != nodes[0]);
        match rec.pkt.transport {
            Transport::Udp(u) if !u.payload.is_empty() => self.chunk(node, u.payload),
            Transport::Tcp(t) => {
                let Some(fx) = t.fixed else { return };
                if fx.flags & flags::ACK != 0 {
                    self.acked(1 - node, fx.ack);
                }
                let d = &mut self.dirs[node];
                let syn = fx.flags & flags::SYN != 0;
                if syn {
                    d.next = Some(fx.seq.wrapping_add(1));
                }
                if t.payload.is_empty() {
                    return;
                }
                let seq = fx.seq.wrapping_add(u32::from(syn));
                // The bytes the segment carries (its declared length when it was cut short).
                let captured = t.payload.len() as u32;
                let len = fx.len.unwrap_or(captured).max(captured);
                self.tcp_data(node, seq, len, t.payload);
            }
            _ => {}
        }
    }

    /// Takes `len` bytes at `seq` from `node`, of which `payload` was captured.
    fn tcp_data(&mut self, node: usize, seq: u32, len: u32, payload: &[u8]) {
        let d = &mut self.dirs[node];
        let next = *d.next.get_or_insert(seq);
        let ahead = seq.wrapping_sub(next) as i32;
        if ahead > 0 {
            let cost = payload.len() + PENDING_COST;
            if d.pending_bytes + cost <= PENDING_MAX
                && d.pending.len() < PENDING_SEGMENTS
                && !d.pending.contains_key(&seq)
            {
                d.pending_bytes += cost;
                d.pending.insert(seq, payload.to_vec());
            }
            return;
        }
        let skip = ahead.unsigned_abs();
        if skip < len {
            d.next = Some(seq.wrapping_add(len));
            let new = payload.get(skip as usize..).unwrap_or(&[]);
            if !new.is_empty() {
                self.chunk(node, new);
            }
        }
        self.drain(node, false);
    }

    /// The peer acknowledged `node`'s bytes up to `ack`: bytes before it that were never
    /// captured are written as missing (as tshark does), so the segments waiting after them
    /// can be shown.
    fn acked(&mut self, node: usize, ack: u32) {
        let d = &mut self.dirs[node];
        let Some(next) = d.next else { return };
        if d.pending.is_empty() || ack.wrapping_sub(next) as i32 <= 0 {
            return;
        }
        // Up to the first waiting segment, or the ACK if that comes first.
        let first = d
            .pending
            .keys()
            .copied()
            .min_by_key(|&s| s.wrapping_sub(next) as i32)
            .unwrap_or(ack);
        let upto = if first.wrapping_sub(ack) as i32 <= 0 {
            first
        } else {
            ack
        };
        let gap = upto.wrapping_sub(next);
        self.missing(node, gap);
        self.dirs[node].next = Some(upto);
        self.drain(node, false);
    }

    /// A chunk saying `n` bytes of `node` are not in the file (tshark's words).
    fn missing(&mut self, node: usize, n: u32) {
        if n > 0 {
            let text = format!("[{n} bytes missing in capture file].");
            self.chunk(node, text.as_bytes());
        }
    }

    /// Shows the segments of `node` that the bytes so far reach (all of them, in order, when
    /// `all`: the end of the file).
    fn drain(&mut self, node: usize, all: bool) {
        loop {
            let d = &mut self.dirs[node];
            let Some(next) = d.next else { return };
            // The pending segment nearest `next` (sequence numbers wrap: compare by offset).
            let Some((&seq, _)) = d
                .pending
                .iter()
                .min_by_key(|(&s, _)| s.wrapping_sub(next) as i32)
            else {
                return;
            };
            let ahead = seq.wrapping_sub(next) as i32;
            if ahead > 0 && !all {
                return;
            }
            let bytes = d.pending.remove(&seq).unwrap_or_default();
            d.pending_bytes -= bytes.len() + PENDING_COST;
            if ahead > 0 {
                // The end of the file, and a gap no ACK explained.
                self.missing(node, ahead as u32);
            }
            let d = &mut self.dirs[node];
            let skip = if ahead < 0 {
                ahead.unsigned_abs() as usize
            } else {
                0
            };
            if skip < bytes.len() {
                d.next = Some(seq.wrapping_add(bytes.len() as u32));
                self.chunk(node, &bytes[skip..]);
            }
        }
    }

    /// Shows what still waits and ends the output.
    pub fn finish(mut self) -> String {
        self.drain(0, true);
        self.drain(1, true);
        self.out
            .push_str("===================================================================\n");
        self.out
    }
}

/// Follows conversation `sel` of `path` into `out`.
pub fn follow(path: &Path, sel: StreamSel, out: &mut dyn Write) -> Result<(), ReplayError> {
    let mut file = CaptureFile::open(path)?;
    let mut analyser = Analyser::new();
    let mut f = Follow::new(sel);
    let mut seen = 0u64;
    let mut failure = None;
    let read = file.for_each(|frame| {
        let pkt = decode(frame);
        let analysis = analyser.analyse(frame, &pkt);
        let rec = Record {
            frame: *frame,
            pkt,
            analysis,
        };
        if selected(Some(sel), &rec) {
            seen += 1;
            f.add(&rec);
            // Written as it comes: a long conversation is not held in memory.
            if f.out.len() >= FLUSH_AT {
                if let Err(e) = out.write_all(f.take().as_bytes()) {
                    failure = Some(e);
                    return false;
                }
            }
        }
        true
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    if seen == 0 && read.is_ok() {
        let (proto, n) = match sel {
            StreamSel::Tcp(n) => ("TCP", n),
            StreamSel::Udp(n) => ("UDP", n),
        };
        return Err(ReplayError::Usage(format!(
            "{} has no {proto} stream {n} (streams count from 0; `sockscope replay FILE` lists them in its summary)",
            path.display()
        )));
    }
    out.write_all(f.finish().as_bytes())?;
    out.flush()?;
    read?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds TCP segments (seq, payload) of node 0 to a follower: its chunks, as written.
    fn chunks(segs: &[(u32, &[u8])]) -> String {
        let mut f = Follow::new(StreamSel::Tcp(0));
        for &(seq, p) in segs {
            f.tcp_data(0, seq, p.len() as u32, p);
        }
        f.drain(0, true);
        f.take()
    }

    #[test]
    fn retransmissions_and_reordering() {
        let got = chunks(&[
            (u32::MAX - 2, b"abc"),
            (u32::MAX - 2, b"abc"),
            (3, b"ghi"),
            (0, b"def"),
            (1, b"efgh"),
            (6, b"jk"),
        ]);
        assert_eq!(got, "3\nabc\n3\ndef\n3\nghi\n2\njk\n");
        // Gaps never filled: what waits is shown at the end, in order, after the gap.
        let got = chunks(&[(10, b"x"), (20, b"z"), (15, b"y")]);
        let gap = "34\n[4 bytes missing in capture file].\n";
        assert_eq!(got, format!("1\nx\n{gap}1\ny\n{gap}1\nz\n"));
    }

    #[test]
    fn an_ack_past_a_gap_writes_it_as_missing() {
        let mut f = Follow::new(StreamSel::Tcp(0));
        f.tcp_data(0, 1, 3, b"abc");
        f.tcp_data(0, 42, 2, b"de");
        assert_eq!(f.take(), "3\nabc\n");
        f.acked(0, 44);
        assert_eq!(f.take(), "35\n[38 bytes missing in capture file].\n2\nde\n");
        // Node 1's sizes are indented; bytes that are not printable ASCII are dots.
        f.tcp_data(1, 7, 4, b"\x1b[H\n");
        assert_eq!(f.take(), "\t4\n.[H\n\n");
    }

    /// A gap that is never filled, then a million 1-byte segments after it: at most
    /// [`PENDING_SEGMENTS`] wait, and their bytes and entries stay under [`PENDING_MAX`].
    #[test]
    fn waiting_segments_are_bounded() {
        let mut f = Follow::new(StreamSel::Tcp(0));
        f.tcp_data(0, 1, 1, b"a");
        for i in 0..1_000_000u32 {
            f.tcp_data(0, 10 + i, 1, b"z");
        }
        let d = &f.dirs[0];
        assert_eq!(d.pending.len(), PENDING_SEGMENTS);
        assert!(d.pending_bytes <= PENDING_MAX);
        f.drain(0, true);
        assert_eq!(f.dirs[0].pending_bytes, 0);
        assert!(f.dirs[0].pending.is_empty());
    }
}
