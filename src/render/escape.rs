//! Bytes from a capture made safe for a terminal. Nothing a file holds reaches the output as a
//! control: no ESC (so no colour, cursor or title sequences), no other C0 or C1 control, no
//! DEL, no bidirectional or invisible formatting character, no invalid UTF-8.
//!
//! Two forms: [`one_line`] for a field in a line (C-style escapes, so what was there can be
//! read back), and [`text`] for payload shown as text (`-A`, `--follow`), where line breaks and
//! tabs stay and every other byte that is not printable ASCII becomes `.`, as tcpdump and
//! tshark print it.

use super::describe::Sink;

/// A character that may not reach the terminal as it is: controls (C0, DEL, C1), and the
/// bidirectional and invisible formatting characters that can make text read differently
/// from what it is.
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}')
}

/// Splits `b` into pieces: `Ok(text)` safe to print, `Err(byte)` one byte to escape.
fn pieces(b: &[u8], mut each: impl FnMut(Result<&str, u8>) -> bool) {
    let mut rest = b;
    while !rest.is_empty() {
        let (good, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, None),
            Err(e) => {
                let n = e.valid_up_to();
                // `from_utf8` said the first `n` bytes are valid.
                let s = std::str::from_utf8(&rest[..n]).unwrap_or_default();
                (s, Some(n))
            }
        };
        let mut start = 0;
        for (i, c) in good.char_indices() {
            if c.is_ascii_graphic() || c == ' ' || (!c.is_ascii() && !unsafe_char(c)) {
                continue;
            }
            if (start < i && !each(Ok(&good[start..i])))
                || c.encode_utf8(&mut [0; 4]).bytes().any(|x| !each(Err(x)))
            {
                return;
            }
            start = i + c.len_utf8();
        }
        if start < good.len() && !each(Ok(&good[start..])) {
            return;
        }
        match bad {
            Some(n) => {
                if !each(Err(rest[n])) {
                    return;
                }
                rest = &rest[n + 1..];
            }
            None => return,
        }
    }
}

/// Appends `b` on one line: printable text as it is, `\` as `\\`, tab, CR and LF as `\t`,
/// `\r`, `\n`, every other unsafe byte as `\xNN`. At most `max` bytes of `b` are shown; more
/// are marked with `…`.
pub fn one_line<S: Sink + ?Sized>(out: &mut S, b: &[u8], max: usize) {
    let shown = &b[..b.len().min(max)];
    pieces(shown, |p| {
        match p {
            Ok(s) if s.contains('\\') => {
                for (i, part) in s.split('\\').enumerate() {
                    if i > 0 {
                        out.put("\\\\");
                    }
                    out.put(part);
                }
            }
            Ok(s) => out.put(s),
            Err(b'\t') => out.put("\\t"),
            Err(b'\r') => out.put("\\r"),
            Err(b'\n') => out.put("\\n"),
            Err(x) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let h = [b'\\', b'x', HEX[(x >> 4) as usize], HEX[(x & 15) as usize]];
                out.put(std::str::from_utf8(&h).unwrap_or_default());
            }
        }
        true
    });
    if b.len() > max {
        out.put("…");
    }
}

/// `s` with every unsafe character (controls, tab and line feed included; bidirectional and
/// invisible formatting) written as `\xNN`, one per byte of its UTF-8 form, and everything
/// else (backslashes too) as it is: for text that sockscope already made readable but that
/// carries what a program or a file put there (a traced call's arguments, a program's output
/// line, the strings of a saved run).
pub fn controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            for b in c.encode_utf8(&mut [0; 4]).bytes() {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\x{b:02x}"));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Appends `b` as text lines, as tcpdump's `-A` and tshark's ASCII follow show payload:
/// printable ASCII as it is, LF kept, tab kept when `tabs` (tcpdump keeps it, tshark does
/// not), a CR before an LF dropped, every other byte (controls, and anything above 0x7e) as
/// `.`.
pub fn text(out: &mut String, b: &[u8], tabs: bool) {
    out.reserve(b.len());
    for (i, &c) in b.iter().enumerate() {
        match c {
            b' '..=b'~' | b'\n' => out.push(c as char),
            b'\t' if tabs => out.push('\t'),
            b'\r' if b.get(i + 1) == Some(&b'\n') => {}
            _ => out.push('.'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(b: &[u8]) -> String {
        let mut s = String::new();
        one_line(&mut s, b, 64);
        s
    }

    fn txt(b: &[u8]) -> String {
        let mut s = String::new();
        text(&mut s, b, true);
        s
    }

    #[test]
    fn controls_never_pass() {
        assert_eq!(line(b"GET /\x1b[31mred"), "GET /\\x1b[31mred");
        assert_eq!(line(b"a\tb\r\n\\"), "a\\tb\\r\\n\\\\");
        // C1 controls (as UTF-8) and a bidi override, byte by byte.
        assert_eq!(line("x\u{9b}y".as_bytes()), "x\\xc2\\x9by");
        assert_eq!(line("a\u{202e}b".as_bytes()), "a\\xe2\\x80\\xaeb");
        // Invalid UTF-8 escaped; valid non-ASCII text kept.
        assert_eq!(line(b"\xff\xfeok"), "\\xff\\xfeok");
        assert_eq!(line("café → ok".as_bytes()), "café → ok");
        assert_eq!(line(b"\xe2\x82"), "\\xe2\\x82");
        let mut s = String::new();
        one_line(&mut s, b"abcdef", 3);
        assert_eq!(s, "abc…");
        // Every byte value: nothing below 0x20, no DEL, no ESC in the output.
        let all: Vec<u8> = (0..=255).collect();
        for out in [line(&all), txt(&all)] {
            assert!(!out
                .chars()
                .any(|c| c != '\n' && c != '\t' && unsafe_char(c)));
        }
    }

    #[test]
    fn controls_escapes_only_what_is_unsafe() {
        assert_eq!(controls("write(3, \"hi\\n\", 3)"), "write(3, \"hi\\n\", 3)");
        assert!(matches!(controls("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(controls("a\x1b[2Jb\tc\n"), "a\\x1b[2Jb\\x09c\\x0a");
        assert_eq!(
            controls("x\u{9b}y\u{202e}z"),
            "x\\xc2\\x9by\\xe2\\x80\\xaez"
        );
        assert_eq!(controls("café → ok"), "café → ok");
    }

    #[test]
    fn text_keeps_lines() {
        assert_eq!(
            txt(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            "GET / HTTP/1.1\nHost: x\n\n"
        );
        assert_eq!(txt(b"a\rb\x00\x1b\tc\r"), "a.b..\tc.");
        assert_eq!(txt("naïve\u{85}".as_bytes()), "na..ve..");
        let mut s = String::new();
        text(&mut s, b"a\tb", false);
        assert_eq!(s, "a.b");
    }
}
