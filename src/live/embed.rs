//! The run carried inside its own pcapng: the event log (a `run` line, every event, a `capture`
//! line: [`super::log`]) as JSON Lines in copyable pcapng Custom Blocks (type 0x00000BAD), so
//! that `sockscope replay FILE.pcapng` shows the run again with no side file, and Wireshark and
//! editcap keep it when they write the file again.
//!
//! Each block holds sockscope's Private Enterprise Number ([`PEN`]), then UTF-8 text: a header
//! line `{"sockscope_run":1,"part":1,"parts":N}` (the format's version, this block's place among
//! the run's N blocks), then whole lines of the event log. A log longer than [`PART_BYTES`] is
//! split at line ends over several blocks, so that no block grows past what a reader buffers
//! comfortably. The blocks follow the last packet, so the packets keep the frame numbers of
//! the run (tshark numbers a Custom Block as a frame too: it is the last one).

use serde::{Deserialize, Serialize};

/// The Private Enterprise Number in sockscope's Custom Blocks. sockscope has no number of its
/// own registered with IANA; 32473 is the one RFC 5612 sets aside for documentation and
/// examples (Wireshark names it so). A block is read as a run only when its text also opens
/// with the header below, so another user of 32473 is not mistaken for one.
pub const PEN: u32 = 32473;

/// The version of the block format written here (and the highest one read).
pub const VERSION: u32 = 1;

/// Most bytes of the log one block carries (a single longer line goes in a block of its own).
pub const PART_BYTES: usize = 1 << 20;

/// How every block's text opens.
const MAGIC: &[u8] = b"{\"sockscope_run\":";

/// The first line of each block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    sockscope_run: u32,
    part: u32,
    parts: u32,
}

/// The Custom Blocks' data (after the PEN) for an event log.
pub fn blocks(log: &str) -> Vec<Vec<u8>> {
    let mut chunks: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for line in log.split_inclusive('\n') {
        if end > start && end + line.len() - start > PART_BYTES {
            chunks.push(&log[start..end]);
            start = end;
        }
        end += line.len();
    }
    if end > start || chunks.is_empty() {
        chunks.push(&log[start..end]);
    }
    let parts = chunks.len() as u32;
    chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let h = Header {
                sockscope_run: VERSION,
                part: i as u32 + 1,
                parts,
            };
            let mut b = serde_json::to_vec(&h).unwrap_or_default();
            b.push(b'\n');
            b.extend_from_slice(c.as_bytes());
            b
        })
        .collect()
}

/// Whether a Custom Block's data (PEN removed) is one of sockscope's.
pub fn is_run_block(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

/// Puts the event log back together from the run's blocks' data, in file order. Errors name
/// what is wrong (a newer format, a part missing or repeated, text that is not UTF-8).
pub fn join(blocks: &[&[u8]]) -> Result<String, String> {
    let mut log = String::new();
    let mut expected: Option<u32> = None;
    for (i, data) in blocks.iter().enumerate() {
        // The block's room ends in padding to 32 bits; the text never holds a NUL.
        let end = data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        let data = &data[..end];
        let nl = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
        let h: Header = serde_json::from_slice(&data[..nl])
            .map_err(|e| format!("block {} of the saved run has a bad header: {e}", i + 1))?;
        if h.sockscope_run > VERSION {
            return Err(format!(
                "the run was saved in format {} by a newer sockscope (this one reads format \
                 {VERSION}): update sockscope to show it",
                h.sockscope_run
            ));
        }
        let parts = *expected.get_or_insert(h.parts);
        if h.parts != parts || h.part != i as u32 + 1 || h.part > parts {
            return Err(format!(
                "the saved run's blocks are out of order or repeated (block {} says part {} of \
                 {}): the file was merged or edited",
                i + 1,
                h.part,
                h.parts
            ));
        }
        let text = std::str::from_utf8(data.get(nl + 1..).unwrap_or_default())
            .map_err(|e| format!("part {} of the saved run is not UTF-8: {e}", h.part))?;
        log.push_str(text);
    }
    match expected {
        Some(parts) if parts as usize != blocks.len() => Err(format!(
            "the saved run has {} of its {parts} blocks: the file was cut or edited",
            blocks.len()
        )),
        _ => Ok(log),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_log_is_one_block() {
        let log = "{\"kind\":\"run\"}\n{\"kind\":\"capture\"}\n";
        let b = blocks(log);
        assert_eq!(b.len(), 1);
        assert!(is_run_block(&b[0]));
        assert!(b[0].starts_with(b"{\"sockscope_run\":1,\"part\":1,\"parts\":1}\n"));
        assert_eq!(join(&[&b[0]]).unwrap(), log);
        // Padding after the text is ignored.
        let mut padded = b[0].clone();
        padded.extend_from_slice(&[0, 0, 0]);
        assert_eq!(join(&[&padded]).unwrap(), log);
    }

    #[test]
    fn a_long_log_is_split_at_line_ends() {
        let line = format!("{{\"kind\":\"event\",\"x\":\"{}\"}}\n", "a".repeat(1000));
        let log = line.repeat(3000);
        let b = blocks(&log);
        assert_eq!(b.len(), 3);
        for d in &b {
            assert!(d.len() <= PART_BYTES + 64);
            assert!(d.ends_with(b"}\n"));
        }
        let parts: Vec<&[u8]> = b.iter().map(Vec::as_slice).collect();
        assert_eq!(join(&parts).unwrap(), log);
        // Missing, repeated or reordered blocks are errors.
        assert!(join(&parts[..2]).unwrap_err().contains("2 of its 3 blocks"));
        assert!(join(&[parts[0], parts[0], parts[2]])
            .unwrap_err()
            .contains("out of order"));
        assert!(join(&[parts[1], parts[0], parts[2]]).is_err());
    }

    #[test]
    fn a_newer_format_or_a_bad_header_is_an_error() {
        let newer = b"{\"sockscope_run\":2,\"part\":1,\"parts\":1}\n{}\n";
        assert!(join(&[newer]).unwrap_err().contains("newer sockscope"));
        let bad = b"{\"sockscope_run\":1,\"part\":\n";
        assert!(join(&[bad]).unwrap_err().contains("bad header"));
        let not_utf8 = b"{\"sockscope_run\":1,\"part\":1,\"parts\":1}\n\xff\n";
        assert!(join(&[not_utf8]).unwrap_err().contains("UTF-8"));
        assert!(!is_run_block(b"{\"kind\":\"run\"}"));
    }
}
