//! Escaping for SVG and HTML: text from a capture or a program (untrusted bytes) can never
//! open a tag, end an attribute or hold a character XML forbids.

/// Appends `s` as element text or as a quoted attribute value (both quotes escaped; a newline
/// kept as `&#10;`, which XML and HTML both read back as a newline in an attribute). Control
/// characters XML 1.0 does not allow are written as `\xNN`.
pub fn esc(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\u{0}'..='\u{1f}' | '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// `s` escaped, as a new string.
pub fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    esc(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_control_bytes_are_escaped() {
        assert_eq!(
            escaped("<script>\"a\" & 'b'</script>\u{1b}[31m\u{0}"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;\\x1b[31m\\x00"
        );
        assert_eq!(escaped("a\nb"), "a&#10;b");
    }
}
