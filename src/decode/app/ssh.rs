//! SSH (RFC 4253): the version exchange, `SSH-protoversion-softwareversion`, the first line
//! each side sends; then the binary packets of the key exchange, which are in the clear until
//! NEWKEYS. A segment whose bytes are exactly whole plaintext packets is read as such; later
//! packets are encrypted and only called so.

/// Packets listed at most per segment.
const PACKETS_MAX: usize = 8;

/// Longest identification line (RFC 4253: 255 bytes with CR LF).
const LINE_MAX: usize = 255;

/// The identification line, without CR LF (unescaped: escape before printing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Banner<'a> {
    pub line: &'a [u8],
}

impl<'a> Banner<'a> {
    /// Reads the line at the start of `payload`: `SSH-` then a version with a dash, ended by
    /// LF (or by the captured bytes).
    pub fn parse(payload: &'a [u8]) -> Option<Banner<'a>> {
        if !payload.starts_with(b"SSH-") {
            return None;
        }
        let head = &payload[..payload.len().min(LINE_MAX)];
        let line = match head.iter().position(|&b| b == b'\n') {
            Some(n) => &head[..n],
            None if payload.len() <= LINE_MAX => head,
            None => return None,
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // `SSH-2.0-…`: a protocol version, then a dash.
        line[4..].contains(&b'-').then_some(Banner { line })
    }
}

/// Plaintext binary packets at the start of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packets {
    /// Their message numbers.
    pub msgs: Vec<u8>,
    /// Encrypted bytes follow a NEWKEYS in the same segment.
    pub encrypted_after: bool,
}

/// NEWKEYS: what follows it is encrypted.
const NEWKEYS: u8 = 21;

/// The plaintext packets that fill `payload` exactly (RFC 4253, 6: a length, a padding length
/// of at least 4, the whole a multiple of 8 bytes), or up to a NEWKEYS after which the bytes
/// are encrypted; `None` when the bytes are not that (encrypted packets, the middle of a
/// packet).
pub fn packets(payload: &[u8]) -> Option<Packets> {
    let mut msgs = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        if msgs.last() == Some(&NEWKEYS) {
            break;
        }
        let head = payload.get(at..at + 6)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let padding = head[4] as usize;
        let total = len.checked_add(4)?;
        if padding < 4 || padding + 1 >= len || total % 8 != 0 || at + total > payload.len() {
            return None;
        }
        msgs.push(head[5]);
        at += total;
        if msgs.len() == PACKETS_MAX && at < payload.len() {
            break;
        }
    }
    let known = !msgs.is_empty() && msgs.iter().all(|&m| message_name(m).is_some());
    known.then_some(Packets {
        msgs,
        encrypted_after: at < payload.len(),
    })
}

/// RFC 4253's and RFC 4419's names, without `SSH_MSG_`, of the messages sent in the clear.
pub fn message_name(m: u8) -> Option<&'static str> {
    Some(match m {
        1 => "DISCONNECT",
        2 => "IGNORE",
        3 => "UNIMPLEMENTED",
        4 => "DEBUG",
        20 => "KEXINIT",
        21 => "NEWKEYS",
        30 => "KEXDH_INIT",
        31 => "KEXDH_REPLY",
        32 => "KEX_DH_GEX_INIT",
        33 => "KEX_DH_GEX_REPLY",
        34 => "KEX_DH_GEX_REQUEST",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_packets_tile_the_segment() {
        // NEWKEYS: length 12, padding 10, message 21, 10 bytes of padding.
        let mut newkeys = vec![0, 0, 0, 12, 10, 21];
        newkeys.extend_from_slice(&[0; 10]);
        let p = |msgs: Vec<u8>, encrypted_after| {
            Some(Packets {
                msgs,
                encrypted_after,
            })
        };
        assert_eq!(packets(&newkeys), p(vec![21], false));
        let mut two = vec![0, 0, 0, 12, 6, 31];
        two.extend_from_slice(&[0; 10]);
        two.extend_from_slice(&newkeys);
        assert_eq!(packets(&two), p(vec![31, 21], false));
        // After NEWKEYS, encrypted bytes (as in ssh.pcap's frame 14).
        two.extend_from_slice(&[0x5a; 27]);
        assert_eq!(packets(&two), p(vec![31, 21], true));
        for n in 0..newkeys.len() {
            assert_eq!(packets(&newkeys[..n]), None, "cut at {n}");
        }
        // Not a multiple of 8, padding under 4, an unknown message: not plaintext packets.
        assert_eq!(
            packets(&[0, 0, 0, 11, 10, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        let mut low = newkeys.clone();
        low[4] = 3;
        assert_eq!(packets(&low), None);
        let mut odd = newkeys.clone();
        odd[5] = 94;
        assert_eq!(packets(&odd), None);
    }

    #[test]
    fn banners() {
        let b = Banner::parse(b"SSH-2.0-OpenSSH_7.8\r\n").unwrap();
        assert_eq!(b.line, b"SSH-2.0-OpenSSH_7.8");
        let b = Banner::parse(b"SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u3\r\n\0\0").unwrap();
        assert_eq!(b.line, b"SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u3");
        assert_eq!(Banner::parse(b"SSH-2.0"), None);
        assert_eq!(Banner::parse(b"ssh-2.0-x\r\n"), None);
        assert_eq!(
            Banner::parse(&[b'S', b'S', b'H', b'-', b'x', 0, 1, 2]),
            None
        );
        let long = [&b"SSH-2.0-"[..], &[b'a'; 300]].concat();
        assert_eq!(Banner::parse(&long), None);
    }
}
