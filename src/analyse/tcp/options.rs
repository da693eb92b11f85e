//! TCP option list parsing, allocation-free, walking the list the way Wireshark's
//! `tcp_dissect_options` (packet-tcp.c, 4.0) does:
//!
//! * EOL (0) and NOP (1) are one byte each; EOL does not end the walk, but any non-zero byte
//!   after an EOL does ("non-zero header padding").
//! * Every other kind has a length byte counting kind and length. A missing length byte, or a
//!   length that runs past the end of the bytes, ends the walk (`truncated`); a length below 2
//!   ends it too (`malformed`).
//! * A known option whose length is not the one its RFC fixes (MSS 4, WS 3, SACK_PERM 2,
//!   TS 10) is skipped and counted as `malformed`, as Wireshark's `tcp_option_len_check` does.

/// Option kinds this parser knows.
pub mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
    pub const MPTCP: u8 = 30;
    pub const TFO: u8 = 34;
}

const LEN_MSS: usize = 4;
const LEN_WINDOW_SCALE: usize = 3;
const LEN_SACK_PERMITTED: usize = 2;
const LEN_TIMESTAMPS: usize = 10;
/// Bytes per SACK block (left and right edge).
const SACK_BLOCK_LEN: usize = 8;
/// At most 4 SACK blocks fit in 40 option bytes.
pub const MAX_SACK_BLOCKS: usize = 4;
/// Each MPTCP option takes at least 3 bytes; 40 option bytes hold at most 13.
pub const MAX_MPTCP: usize = 13;
/// Each unknown option takes at least 2 bytes; 40 option bytes hold at most 20.
pub const MAX_UNKNOWN: usize = 20;
/// The largest shift RFC 7323 allows; larger values are used as 14 (Wireshark does the same).
pub const MAX_WINDOW_SHIFT: u8 = 14;

/// One MPTCP option (kind 30): its subtype (high nibble of the third byte: 0 MP_CAPABLE,
/// 1 MP_JOIN, 2 DSS, 3 ADD_ADDR, 4 REMOVE_ADDR, 5 MP_PRIO, 6 MP_FAIL, 7 MP_FASTCLOSE,
/// 8 MP_TCPRST) and its total length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MptcpOption {
    pub subtype: u8,
    pub len: u8,
}

/// What a TCP option list carries. Every field is a plain value or a fixed array, so parsing
/// never allocates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub mss: Option<u16>,
    /// The shift count as sent (may exceed 14; see [`Options::window_shift`]).
    pub wscale: Option<u8>,
    pub sack_perm: bool,
    /// SACK blocks as raw (left, right) sequence numbers; `sack_count` of them are valid.
    pub sack: [(u32, u32); MAX_SACK_BLOCKS],
    pub sack_count: u8,
    /// Timestamps option: (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
    /// MPTCP options in order; `mptcp_count` of them are valid.
    pub mptcp: [MptcpOption; MAX_MPTCP],
    pub mptcp_count: u8,
    /// TCP Fast Open (kind 34): the cookie length (0 = a cookie request).
    pub tfo_cookie_len: Option<u8>,
    /// Kinds this parser does not decode, in order; `unknown_count` of them are valid.
    pub unknown: [u8; MAX_UNKNOWN],
    pub unknown_count: u8,
    /// The list runs past the bytes given: a length byte is missing or an option's length
    /// reaches past the end (header cut by the snaplen, or a bogus length).
    pub truncated: bool,
    /// An option length below 2, or a known option with the wrong length.
    pub malformed: bool,
}

impl Options {
    /// The valid SACK blocks.
    pub fn sack_blocks(&self) -> &[(u32, u32)] {
        &self.sack[..usize::from(self.sack_count).min(MAX_SACK_BLOCKS)]
    }

    /// The valid MPTCP options.
    pub fn mptcp_options(&self) -> &[MptcpOption] {
        &self.mptcp[..usize::from(self.mptcp_count).min(MAX_MPTCP)]
    }

    /// The unknown option kinds.
    pub fn unknown_kinds(&self) -> &[u8] {
        &self.unknown[..usize::from(self.unknown_count).min(MAX_UNKNOWN)]
    }

    /// The window shift to use: the WS option's count, capped at 14 (RFC 7323 §2.3).
    pub fn window_shift(&self) -> Option<u8> {
        self.wscale.map(|s| s.min(MAX_WINDOW_SHIFT))
    }
}

/// Parses a TCP option list (the bytes after the fixed 20-byte header, as captured).
pub fn parse_options(bytes: &[u8]) -> Options {
    let mut out = Options::default();
    let mut pos = 0usize;
    let mut eol_seen = false;
    while let Some(&k) = bytes.get(pos) {
        if eol_seen && k != kind::EOL {
            // Wireshark: "Non-zero header padding" ends the walk.
            break;
        }
        if k == kind::EOL || k == kind::NOP {
            eol_seen |= k == kind::EOL;
            pos += 1;
            continue;
        }
        let Some(&len) = bytes.get(pos + 1) else {
            out.truncated = true;
            break;
        };
        let len = usize::from(len);
        if len < 2 {
            out.malformed = true;
            break;
        }
        let Some(opt) = bytes.get(pos..pos + len) else {
            out.truncated = true;
            break;
        };
        parse_one(k, opt, &mut out);
        pos += len;
    }
    out
}

/// Decodes one option with a length byte; `opt` spans kind, length and body.
fn parse_one(k: u8, opt: &[u8], out: &mut Options) {
    let body = opt.get(2..).unwrap_or(&[]);
    match k {
        kind::MSS => match (opt.len() == LEN_MSS, body) {
            (true, &[a, b]) => out.mss = Some(u16::from_be_bytes([a, b])),
            _ => out.malformed = true,
        },
        kind::WINDOW_SCALE => match (opt.len() == LEN_WINDOW_SCALE, body) {
            (true, &[s]) => out.wscale = Some(s),
            _ => out.malformed = true,
        },
        kind::SACK_PERMITTED => {
            if opt.len() == LEN_SACK_PERMITTED {
                out.sack_perm = true;
            } else {
                out.malformed = true;
            }
        }
        kind::SACK => {
            if body.len() % SACK_BLOCK_LEN != 0 {
                out.malformed = true;
            }
            for block in body.chunks_exact(SACK_BLOCK_LEN) {
                let i = usize::from(out.sack_count);
                if i >= MAX_SACK_BLOCKS {
                    break;
                }
                out.sack[i] = (be32(&block[0..4]), be32(&block[4..8]));
                out.sack_count += 1;
            }
        }
        kind::TIMESTAMPS => {
            if opt.len() == LEN_TIMESTAMPS && body.len() == 8 {
                out.timestamps = Some((be32(&body[0..4]), be32(&body[4..8])));
            } else {
                out.malformed = true;
            }
        }
        kind::MPTCP => {
            let i = usize::from(out.mptcp_count);
            match body.first() {
                Some(&b) if i < MAX_MPTCP => {
                    out.mptcp[i] = MptcpOption {
                        subtype: b >> 4,
                        len: u8::try_from(opt.len()).unwrap_or(u8::MAX),
                    };
                    out.mptcp_count += 1;
                }
                Some(_) => {}
                None => out.malformed = true,
            }
        }
        kind::TFO => out.tfo_cookie_len = Some(u8::try_from(body.len()).unwrap_or(u8::MAX)),
        other => {
            let i = usize::from(out.unknown_count);
            if i < MAX_UNKNOWN {
                out.unknown[i] = other;
                out.unknown_count += 1;
            }
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    match b {
        &[a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}
