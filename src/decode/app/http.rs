//! HTTP/1.x start lines (RFC 9112, 3 and 4): `GET /index.html HTTP/1.1` and
//! `HTTP/1.1 200 OK`. Only the first line of a segment is read, and only when the segment
//! starts one: the rest of a message (headers, body, continuation segments) is not named.

/// Longest start line looked for (longer ones are not taken for HTTP).
const LINE_MAX: usize = 8192;

/// A start line; every field borrows the payload (unescaped: escape before printing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http<'a> {
    Request {
        method: &'a [u8],
        target: &'a [u8],
        /// Empty when the line goes on past the segment.
        version: &'a [u8],
    },
    Status {
        version: &'a [u8],
        code: u16,
        reason: &'a [u8],
    },
}

impl<'a> Http<'a> {
    /// Reads the start line at the beginning of `payload`, if it is one. A line cut short is
    /// read as far as it goes; its version must be there, except in a request line of a known
    /// method whose target fills the segment (a long URL, continued in the next segment).
    pub fn parse(payload: &'a [u8]) -> Option<Http<'a>> {
        let head = &payload[..payload.len().min(LINE_MAX)];
        let (line, ended) = match head.iter().position(|&b| b == b'\n') {
            Some(n) => (&head[..n], true),
            None => (head, false),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"HTTP/") {
            let (version, rest) = split_sp(line)?;
            if !is_version(version) {
                return None;
            }
            let (code, reason) = split_sp(rest).unwrap_or((rest, &[]));
            if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let code = code.iter().fold(0u16, |n, &d| n * 10 + (d - b'0') as u16);
            return Some(Http::Status {
                version,
                code,
                reason,
            });
        }
        let (method, rest) = split_sp(line)?;
        if method.is_empty()
            || method.len() > 20
            || !method.iter().all(|&b| b.is_ascii_uppercase() || b == b'-')
        {
            return None;
        }
        let (target, version) = match rest.iter().rposition(|&b| b == b' ') {
            Some(at) if is_version(&rest[at + 1..]) => (&rest[..at], &rest[at + 1..]),
            // A request line longer than the segment (a long URL): a known method and a
            // target that looks like one, the version still to come.
            _ if !ended && METHODS.contains(&method) && target_like(rest) => (rest, &[][..]),
            _ => return None,
        };
        if target.is_empty() {
            return None;
        }
        Some(Http::Request {
            method,
            target,
            version,
        })
    }
}

/// Methods a request line cut before its version is taken for (RFC 9110, 9.1; PATCH).
const METHODS: [&[u8]; 9] = [
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH",
];

/// A request target's start: `/path`, `*`, or `scheme://` (and no space).
fn target_like(t: &[u8]) -> bool {
    (t.starts_with(b"/") || t == b"*" || t.starts_with(b"http://") || t.starts_with(b"https://"))
        && !t.contains(&b' ')
}

/// `HTTP/d.d`.
fn is_version(v: &[u8]) -> bool {
    matches!(v, [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit())
}

/// Splits at the first space.
fn split_sp(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = s.iter().position(|&b| b == b' ')?;
    Some((&s[..at], &s[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    static REQUEST: &[u8] = b"GET /convert_data.js?partner_id=29 HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn request_and_status_lines() {
        assert_eq!(
            Http::parse(REQUEST),
            Some(Http::Request {
                method: b"GET",
                target: b"/convert_data.js?partner_id=29",
                version: b"HTTP/1.1"
            })
        );
        assert_eq!(
            Http::parse(b"HTTP/1.0 404 Not Found\r\n"),
            Some(Http::Status {
                version: b"HTTP/1.0",
                code: 404,
                reason: b"Not Found"
            })
        );
        assert_eq!(
            Http::parse(b"HTTP/1.1 204\r\n"),
            Some(Http::Status {
                version: b"HTTP/1.1",
                code: 204,
                reason: b""
            })
        );
    }

    #[test]
    fn other_bytes_are_not_http() {
        for b in [
            &b""[..],
            b"get / HTTP/1.1\r\n",
            b"GET / HTTQ/1.1\r\n",
            b"GET  HTTP/1.1",
            b"HTTP/1.1 20 OK\r\n",
            b"HTTP/x.1 200 OK\r\n",
            b"\x16\x03\x01\x02\x00",
            b"SSH-2.0-OpenSSH_9.6\r\n",
        ] {
            assert_eq!(Http::parse(b), None, "{b:?}");
        }
        // Cut inside the line: the method and the start of the target, or the whole line.
        for n in 0..REQUEST.len() {
            let got = Http::parse(&REQUEST[..n]);
            let cut_target = (5..=34).contains(&n);
            assert_eq!(got.is_some(), cut_target || n >= 43, "cut at {n}: {got:?}");
            if let (
                true,
                Some(Http::Request {
                    target, version, ..
                }),
            ) = (cut_target, got)
            {
                assert_eq!((target, version), (&REQUEST[4..n], &b""[..]));
            }
        }
        assert_eq!(Http::parse(b"FOO /x"), None);
        assert_eq!(Http::parse(b"GET x y"), None);
    }
}
