//! TCP options (RFC 9293 §3.2 and the registries): one allocation-free walk, shared by the
//! display and the analysis.
//!
//! The walk follows Wireshark 4.0's `tcp_dissect_options` (packet-tcp.c) and the option
//! dissectors it calls, so what is shown and what the analysis uses agree with tshark:
//!
//! * EOL (0) and NOP (1) are one byte each. EOL does not end the walk: the bytes after it are
//!   padding, and the first non-zero one ends it ([`OptionError::NonZeroPadding`]).
//! * Every other kind has a length byte counting kind and length. A missing length byte, or a
//!   length that runs past the end of the bytes, ends the walk ([`OptionError::Truncated`]); a
//!   length below 2 ends it too ([`OptionError::BadLength`]).
//! * A known option whose length is not the one its RFC fixes (MSS 4, WS 3, SACK_PERM 2,
//!   TS 10; MPTCP at least 3) is skipped as [`OptionError::Malformed`], as Wireshark's
//!   `tcp_option_len_check` does, and the walk goes on.
//! * SACK takes the whole 8-byte blocks of its body (at most [`MAX_SACK_BLOCKS`]); bytes left
//!   over after them follow as [`OptionError::PartialSackBlock`] (Wireshark: "suboption would
//!   go past end of option").
//! * TCP Fast Open and kinds not decoded here take any length.

/// Option kinds this walk decodes.
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

/// Bytes per SACK block (left and right edge).
const SACK_BLOCK_LEN: usize = 8;
/// At most 4 SACK blocks fit in 40 option bytes.
pub const MAX_SACK_BLOCKS: usize = 4;

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of Option List; the walk goes on over the padding after it.
    Eol,
    Nop,
    Mss(u16),
    /// The shift count as sent (may exceed 14).
    WindowScale(u8),
    SackPermitted,
    /// The option's whole blocks (at most [`MAX_SACK_BLOCKS`]).
    Sack(SackBlocks<'a>),
    Timestamps {
        val: u32,
        ecr: u32,
    },
    /// MPTCP (kind 30): the subtype (0 MP_CAPABLE, 1 MP_JOIN, 2 DSS, 3 ADD_ADDR, ...) and the
    /// option's total length.
    Mptcp {
        subtype: u8,
        len: u8,
    },
    /// TCP Fast Open (kind 34): the cookie (empty = a cookie request).
    FastOpen(&'a [u8]),
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

/// The whole blocks of a SACK option, read from its bytes when asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SackBlocks<'a> {
    /// Whole 8-byte blocks only.
    bytes: &'a [u8],
}

impl<'a> SackBlocks<'a> {
    /// The number of blocks.
    pub fn len(&self) -> usize {
        self.bytes.len() / SACK_BLOCK_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The blocks as raw (left, right) sequence numbers.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + 'a {
        self.bytes
            .chunks_exact(SACK_BLOCK_LEN)
            .map(|b| (be32(&b[0..4]), be32(&b[4..8])))
    }
}

/// What is wrong with an option list. `offset` counts from the first option byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// The length byte is missing, or the length runs past the end of the bytes (a header cut
    /// by the snaplen, or a bogus length). The walk ends.
    #[error("option {kind} at byte {offset} runs past the end of the options")]
    Truncated { kind: u8, offset: usize },
    /// A length byte below 2, which cannot cover kind and length. The walk ends.
    #[error("option {kind} at byte {offset} has a length of {len}, below 2")]
    BadLength { kind: u8, len: u8, offset: usize },
    /// A known option whose length is not the one its RFC gives; skipped, the walk goes on.
    #[error("option {kind} has a wrong length of {len} bytes")]
    Malformed { kind: u8, len: u8 },
    /// A SACK option whose body is not whole blocks: `len` bytes are left after the blocks
    /// given with the option just before this error.
    #[error("SACK option ends inside a block ({len} bytes after the whole blocks)")]
    PartialSackBlock { len: u8 },
    /// A non-zero byte in the padding after End of Option List. The walk ends.
    #[error("non-zero byte at byte {offset} after End of Option List")]
    NonZeroPadding { offset: usize },
}

/// The walk over an option list: each option, or what is wrong with the list.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    bytes: &'a [u8],
    pos: usize,
    eol_seen: bool,
    done: bool,
    /// Bytes left after the whole blocks of the SACK option just yielded (0: none).
    partial_sack: u8,
}

/// Walks the TCP options in `bytes` (the header bytes after the fixed 20, as captured).
pub fn options(bytes: &[u8]) -> Options<'_> {
    Options {
        bytes,
        pos: 0,
        eol_seen: false,
        done: false,
        partial_sack: 0,
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<TcpOption<'a>, OptionError>;

    // Always inlined: the analysis's fold and the renderers then compile to one loop (as
    // `#[inline]`, `next` stayed a call in the replay build and the analysis ran ~15% slower).
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.partial_sack != 0 {
            let len = std::mem::take(&mut self.partial_sack);
            return Some(Err(OptionError::PartialSackBlock { len }));
        }
        if self.done {
            return None;
        }
        let at = self.pos;
        let &k = self.bytes.get(at)?;
        if k == kind::EOL {
            self.eol_seen = true;
            self.pos += 1;
            return Some(Ok(TcpOption::Eol));
        }
        if self.eol_seen {
            self.done = true;
            return Some(Err(OptionError::NonZeroPadding { offset: at }));
        }
        if k == kind::NOP {
            self.pos += 1;
            return Some(Ok(TcpOption::Nop));
        }
        let Some(&len) = self.bytes.get(at + 1) else {
            self.done = true;
            return Some(Err(OptionError::Truncated {
                kind: k,
                offset: at,
            }));
        };
        if len < 2 {
            self.done = true;
            return Some(Err(OptionError::BadLength {
                kind: k,
                len,
                offset: at,
            }));
        }
        let Some(opt) = self.bytes.get(at..at + usize::from(len)) else {
            self.done = true;
            return Some(Err(OptionError::Truncated {
                kind: k,
                offset: at,
            }));
        };
        self.pos = at + usize::from(len);
        Some(self.one(k, len, opt.get(2..).unwrap_or(&[])))
    }
}

impl<'a> Options<'a> {
    /// Decodes one option with a length byte: kind `k`, total length `len`, `body` after both.
    #[inline(always)]
    fn one(&mut self, k: u8, len: u8, body: &'a [u8]) -> Result<TcpOption<'a>, OptionError> {
        let malformed = Err(OptionError::Malformed { kind: k, len });
        match k {
            kind::MSS => match body {
                &[a, b] => Ok(TcpOption::Mss(u16::from_be_bytes([a, b]))),
                _ => malformed,
            },
            kind::WINDOW_SCALE => match body {
                &[s] => Ok(TcpOption::WindowScale(s)),
                _ => malformed,
            },
            kind::SACK_PERMITTED if body.is_empty() => Ok(TcpOption::SackPermitted),
            kind::SACK_PERMITTED => malformed,
            kind::SACK => {
                let whole = body.len() - body.len() % SACK_BLOCK_LEN;
                // The remainder is below 8: it fits a u8.
                self.partial_sack = (body.len() - whole) as u8;
                let bytes = &body[..whole.min(MAX_SACK_BLOCKS * SACK_BLOCK_LEN)];
                Ok(TcpOption::Sack(SackBlocks { bytes }))
            }
            kind::TIMESTAMPS => match body {
                &[a, b, c, d, e, f, g, h] => Ok(TcpOption::Timestamps {
                    val: u32::from_be_bytes([a, b, c, d]),
                    ecr: u32::from_be_bytes([e, f, g, h]),
                }),
                _ => malformed,
            },
            kind::MPTCP => match body.first() {
                Some(&b) => Ok(TcpOption::Mptcp {
                    subtype: b >> 4,
                    len,
                }),
                None => malformed,
            },
            kind::TFO => Ok(TcpOption::FastOpen(body)),
            other => Ok(TcpOption::Unknown {
                kind: other,
                data: body,
            }),
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    match b {
        &[a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// The MPTCP subtype's name (RFC 8684).
pub fn mptcp_subtype_name(s: u8) -> &'static str {
    match s {
        0 => "MP_CAPABLE",
        1 => "MP_JOIN",
        2 => "DSS",
        3 => "ADD_ADDR",
        4 => "REMOVE_ADDR",
        5 => "MP_PRIO",
        6 => "MP_FAIL",
        7 => "MP_FASTCLOSE",
        8 => "MP_TCPRST",
        _ => "unknown",
    }
}

/// The window-scale shift in `bytes`, if the options carry one.
pub fn window_scale(bytes: &[u8]) -> Option<u8> {
    options(bytes).find_map(|o| match o {
        Ok(TcpOption::WindowScale(s)) => Some(s),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
