//! Shared by the fuzz targets: the check that output is safe for a terminal.

/// Output meant for a terminal (text with `--color never`, or JSON Lines): valid UTF-8 with no
/// control character but the line feed and the tab (`-A` keeps tabs, as tcpdump does): no
/// ESC, no CSI as U+009B, no CR, no BEL..., and no bidirectional override.
#[allow(dead_code)]
pub fn assert_terminal_safe(out: &[u8], what: &str) {
    let s = std::str::from_utf8(out).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    if let Some((i, c)) = s.char_indices().find(|&(_, c)| {
        (c.is_control() && c != '\n' && c != '\t')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    }) {
        let from = s[..i].rfind('\n').map_or(0, |n| n + 1);
        panic!(
            "{what}: control {c:?} at byte {i} in line {:?}",
            s[from..].chars().take(80).collect::<String>()
        );
    }
}
