//! What a TCP option list carries, for the analysis: a fixed-size summary folded from the one
//! option walk in [`crate::decode::options`] (Wireshark 4.0's `tcp_dissect_options` rules;
//! see there), so the analysis and the display read the same options. Allocation-free.

pub use crate::decode::options::{kind, MAX_SACK_BLOCKS};
use crate::decode::options::{options, OptionError, TcpOption};

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
    /// An option length below 2, a known option with the wrong length, or a SACK option that
    /// ends inside a block (its whole blocks are still taken).
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

/// Parses a TCP option list (the bytes after the fixed 20-byte header, as captured): a fold
/// over [`crate::decode::options::options`], the walk the display reads too.
pub fn parse_options(bytes: &[u8]) -> Options {
    let mut out = Options::default();
    for item in options(bytes) {
        match item {
            Ok(o) => out.add(o),
            Err(e) => out.note(e),
        }
    }
    out
}

impl Options {
    #[inline]
    fn add(&mut self, o: TcpOption<'_>) {
        match o {
            TcpOption::Eol | TcpOption::Nop => {}
            TcpOption::Mss(m) => self.mss = Some(m),
            TcpOption::WindowScale(s) => self.wscale = Some(s),
            TcpOption::SackPermitted => self.sack_perm = true,
            TcpOption::Sack(blocks) => {
                for block in blocks.iter() {
                    let i = usize::from(self.sack_count);
                    if i >= MAX_SACK_BLOCKS {
                        break;
                    }
                    self.sack[i] = block;
                    self.sack_count += 1;
                }
            }
            TcpOption::Timestamps { val, ecr } => self.timestamps = Some((val, ecr)),
            TcpOption::Mptcp { subtype, len } => {
                let i = usize::from(self.mptcp_count);
                if i < MAX_MPTCP {
                    self.mptcp[i] = MptcpOption { subtype, len };
                    self.mptcp_count += 1;
                }
            }
            TcpOption::FastOpen(cookie) => {
                self.tfo_cookie_len = Some(u8::try_from(cookie.len()).unwrap_or(u8::MAX))
            }
            TcpOption::Unknown { kind, .. } => {
                let i = usize::from(self.unknown_count);
                if i < MAX_UNKNOWN {
                    self.unknown[i] = kind;
                    self.unknown_count += 1;
                }
            }
        }
    }

    #[inline]
    fn note(&mut self, e: OptionError) {
        match e {
            OptionError::Truncated { .. } => self.truncated = true,
            OptionError::BadLength { .. }
            | OptionError::Malformed { .. }
            | OptionError::PartialSackBlock { .. } => self.malformed = true,
            // Wireshark ends the walk there and flags nothing the analysis uses.
            OptionError::NonZeroPadding { .. } => {}
        }
    }
}
