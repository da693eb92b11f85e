//! TCP options (RFC 9293 §3.2 and the registries): an allocation-free iterator.

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    Nop,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    /// Up to four (left, right) edges, raw sequence numbers.
    Sack {
        blocks: [(u32, u32); 4],
        count: u8,
    },
    Timestamps {
        val: u32,
        ecr: u32,
    },
    /// MPTCP (kind 30): the subtype (0 MP_CAPABLE, 1 MP_JOIN, 2 DSS, 3 ADD_ADDR, ...).
    Mptcp {
        subtype: u8,
    },
    FastOpen(&'a [u8]),
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

pub mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WSCALE: u8 = 3;
    pub const SACK_PERM: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
    pub const MPTCP: u8 = 30;
    pub const FAST_OPEN: u8 = 34;
}

/// Iterates over the options in `bytes` (the header bytes after the fixed 20).
/// Stops at End of Option List; yields `Err(())` once if an option runs past the bytes or has an
/// impossible length, then stops.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
    done: bool,
}

/// Iterates over TCP options.
pub fn options(bytes: &[u8]) -> Options<'_> {
    Options {
        rest: bytes,
        done: false,
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<TcpOption<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (&k, after) = self.rest.split_first()?;
        match k {
            kind::EOL => {
                self.done = true;
                None
            }
            kind::NOP => {
                self.rest = after;
                Some(Ok(TcpOption::Nop))
            }
            _ => {
                let len = match after.first() {
                    Some(&l) if l >= 2 && l as usize <= self.rest.len() => l as usize,
                    _ => {
                        self.done = true;
                        return Some(Err(()));
                    }
                };
                let data = &self.rest[2..len];
                self.rest = &self.rest[len..];
                Some(parse(k, data))
            }
        }
    }
}

fn parse(k: u8, d: &[u8]) -> Result<TcpOption<'_>, ()> {
    let u32_at = |i: usize| u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
    Ok(match (k, d.len()) {
        (kind::MSS, 2) => TcpOption::Mss(u16::from_be_bytes([d[0], d[1]])),
        (kind::WSCALE, 1) => TcpOption::WindowScale(d[0]),
        (kind::SACK_PERM, 0) => TcpOption::SackPermitted,
        (kind::SACK, n) if n % 8 == 0 && n > 0 => {
            let mut blocks = [(0, 0); 4];
            let count = (n / 8).min(4);
            for (i, b) in blocks.iter_mut().take(count).enumerate() {
                *b = (u32_at(i * 8), u32_at(i * 8 + 4));
            }
            TcpOption::Sack {
                blocks,
                count: count as u8,
            }
        }
        (kind::TIMESTAMPS, 8) => TcpOption::Timestamps {
            val: u32_at(0),
            ecr: u32_at(4),
        },
        (kind::MPTCP, n) if n >= 1 => TcpOption::Mptcp { subtype: d[0] >> 4 },
        (kind::FAST_OPEN, _) => TcpOption::FastOpen(d),
        (kind::MSS | kind::WSCALE | kind::SACK_PERM | kind::SACK | kind::TIMESTAMPS, _) => {
            return Err(())
        }
        _ => TcpOption::Unknown { kind: k, data: d },
    })
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
mod tests {
    use super::*;

    #[test]
    fn linux_syn_options() {
        // mss 65495, sack_perm, TS val 1 ecr 0, nop, wscale 7
        let b = [
            2, 4, 0xff, 0xd7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let v: Vec<_> = options(&b).collect();
        assert_eq!(
            v,
            vec![
                Ok(TcpOption::Mss(65495)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Timestamps { val: 1, ecr: 0 }),
                Ok(TcpOption::Nop),
                Ok(TcpOption::WindowScale(7)),
            ]
        );
        assert_eq!(window_scale(&b), Some(7));
    }

    #[test]
    fn sack_blocks() {
        let b = [5, 10, 0, 0, 0, 10, 0, 0, 0, 20];
        let v: Vec<_> = options(&b).collect();
        let mut blocks = [(0, 0); 4];
        blocks[0] = (10, 20);
        assert_eq!(v, vec![Ok(TcpOption::Sack { blocks, count: 1 })]);
    }

    #[test]
    fn truncated_option_is_reported_once() {
        let b = [1, 8, 10, 0, 0];
        let v: Vec<_> = options(&b).collect();
        assert_eq!(v, vec![Ok(TcpOption::Nop), Err(())]);
    }

    #[test]
    fn zero_length_option_does_not_loop() {
        let b = [30, 0, 1, 1];
        assert_eq!(options(&b).count(), 1);
    }

    #[test]
    fn eol_stops() {
        let b = [0, 2, 4, 5, 180];
        assert_eq!(options(&b).count(), 0);
    }

    #[test]
    fn mptcp_subtype() {
        let b = [30, 4, 0x80, 0];
        let v: Vec<_> = options(&b).collect();
        assert_eq!(v, vec![Ok(TcpOption::Mptcp { subtype: 8 })]);
        assert_eq!(mptcp_subtype_name(8), "MP_TCPRST");
    }
}
