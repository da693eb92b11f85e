//! The SSH protocol version exchange (RFC 4253, 4.2): `SSH-protoversion-softwareversion`,
//! the first line each side sends.

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

#[cfg(test)]
mod tests {
    use super::*;

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
