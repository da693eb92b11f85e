//! Fitting text into a number of terminal columns: display widths (unicode-width), greedy word
//! wrapping with a hanging indent, and blocks of preformatted lines (a scenario's facts, its
//! explanation) made to fit without breaking their tables and hex dumps.
//!
//! Wrapping works on tokens, each with the separator that comes before it: a line break may
//! fall between any two tokens (the separator is then dropped), never inside one unless the
//! token alone is wider than a line. Callers that know their text's structure (a packet's
//! `seq 1:13`, a `[python3 4711]` tag) hand over tokens; [`words`] splits at spaces.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Display width of `s` in terminal columns (no escape sequences expected).
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// A piece of text that stays on one line, and what separates it from the previous piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub sep: String,
    pub text: String,
}

impl Token {
    pub fn new(sep: &str, text: impl Into<String>) -> Token {
        Token {
            sep: sep.to_owned(),
            text: text.into(),
        }
    }
}

/// `text` split at spaces; a run of spaces is one separator (kept when no break falls there).
pub fn words(text: &str) -> Vec<Token> {
    split(text, false)
}

/// `text` split at spaces outside double quotes (`\"` inside them does not end them), so that
/// a quoted string such as `"ping 1"` stays whole when it fits a line.
pub fn words_quoted(text: &str) -> Vec<Token> {
    split(text, true)
}

fn split(text: &str, quotes: bool) -> Vec<Token> {
    let mut out = Vec::new();
    let mut sep = String::new();
    let mut word = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for ch in text.chars() {
        if quotes && !escaped && ch == '"' {
            quoted = !quoted;
        }
        escaped = quoted && !escaped && ch == '\\';
        if ch == ' ' && !quoted {
            if !word.is_empty() {
                out.push(Token {
                    sep: std::mem::take(&mut sep),
                    text: std::mem::take(&mut word),
                });
            }
            sep.push(' ');
        } else {
            word.push(ch);
        }
    }
    if !word.is_empty() {
        out.push(Token { sep, text: word });
    }
    out
}

/// The tokens joined as they would print on one line.
pub fn join(tokens: &[Token]) -> String {
    let mut s = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            s.push_str(&t.sep);
        }
        s.push_str(&t.text);
    }
    s
}

/// Lines of at most `first` columns (the first line) and `rest` (the others), breaking between
/// tokens; a token wider than a whole line is cut where the line ends. Never empty.
pub fn wrap_tokens(tokens: &[Token], first: usize, rest: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    let limit = |n: usize| if n == 0 { first.max(1) } else { rest.max(1) };
    // The width of the line after line `n`.
    let rest_w = |n: usize| limit(n + 1);
    for t in tokens {
        let tw = width(&t.text);
        let sw = width(&t.sep);
        if used > 0 && used + sw + tw <= limit(lines.len()) {
            line.push_str(&t.sep);
            line.push_str(&t.text);
            used += sw + tw;
            continue;
        }
        // A token wider than a whole line starts on this line when there is room left.
        let room = limit(lines.len()).saturating_sub(used + sw);
        let mut rest: &str = &t.text;
        if used > 0 && tw > rest_w(lines.len()) && room >= 6 {
            let at = cut(rest, room);
            line.push_str(&t.sep);
            line.push_str(&rest[..at]);
            rest = &rest[at..];
        }
        if used > 0 {
            lines.push(std::mem::take(&mut line));
        }
        // Cut what is wider than a line, at a soft break if there is one.
        while width(rest) > limit(lines.len()) {
            let at = cut(rest, limit(lines.len()));
            lines.push(rest[..at].to_owned());
            rest = &rest[at..];
        }
        line.push_str(rest);
        used = width(rest);
    }
    lines.push(line);
    lines
}

/// Where to cut `s`, wider than `w`: after the last `,` `(` `{` `|` or before the last `\` that
/// leaves at least half the line filled, else after the last `.` `:` `/` `=` (so calls,
/// addresses and `"\x01\x02"` break between their parts), else at `w` columns. Always cuts
/// at least one char.
fn cut(s: &str, w: usize) -> usize {
    let mut used = 0;
    let mut hard = 0;
    // After `,` `(` `{` `|` or before `\`; else after `.` `:` `/` `=`.
    let (mut strong, mut weak) = (None, None);
    for (i, ch) in s.char_indices() {
        let cw = ch.width().unwrap_or(0);
        if used + cw > w {
            break;
        }
        if ch == '\\' && i > 0 && used >= w / 2 {
            strong = Some(i);
        }
        used += cw;
        hard = i + ch.len_utf8();
        if used >= w / 2 {
            match ch {
                ',' | '(' | '{' | '|' => strong = Some(hard),
                '.' | ':' | '/' | '=' => weak = Some(hard),
                _ => {}
            }
        }
    }
    if hard == 0 {
        // Not even one char fits: take one anyway.
        return s.chars().next().map_or(s.len(), char::len_utf8);
    }
    strong.or(weak).unwrap_or(hard)
}

/// `text` wrapped at spaces into lines of `first` and then `rest` columns.
pub fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    wrap_tokens(&words(text), first, rest)
}

/// `text` as lines of at most `w` columns, the first starting with `lead` and the others with
/// `hang` spaces.
pub fn hanging(lead: &str, text: &str, hang: usize, w: usize) -> Vec<String> {
    let lw = width(lead);
    let pad = " ".repeat(hang);
    wrap(text, w.saturating_sub(lw), w.saturating_sub(hang))
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{lead}{l}")
            } else {
                format!("{pad}{l}")
            }
        })
        .collect()
}

/// Lays a drawn table out for `w` columns (its cells wrap), or leaves it at its natural width.
pub fn table(t: &mut comfy_table::Table, w: Option<usize>) {
    if let Some(w) = w {
        t.set_width(u16::try_from(w).unwrap_or(u16::MAX))
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    }
}

/// A hex dump's label row too wide for `w`: its last label moves left to end at `w`, when it
/// then still clears the label before it; else the row as it was.
fn pull_label(l: &str, w: usize) -> String {
    let t = l.trim_end();
    let Some(gap) = t.rfind("  ").or_else(|| t.rfind(' ')) else {
        return l.to_owned();
    };
    let (head, label) = (t[..gap].trim_end(), t[gap..].trim_start());
    let start = w.saturating_sub(width(label));
    let head_w = width(head);
    if !head.is_empty() && start < head_w + 2 {
        return l.to_owned();
    }
    format!("{head}{}{label}", " ".repeat(start - head_w))
}

/// Leading spaces.
fn indent_of(l: &str) -> usize {
    l.len() - l.trim_start_matches(' ').len()
}

/// Columns taken by a list marker at the start of `s` (`- `, `• `, `1. `, `2) `), else 0.
fn marker(s: &str) -> usize {
    if s.starts_with("- ") || s.starts_with("• ") {
        return 2;
    }
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits <= 2 {
        let rest = &s[digits..];
        if rest.starts_with(". ") || rest.starts_with(") ") {
            return digits + 2;
        }
    }
    0
}

/// Whether `l` marks the columns of the line above it (spaces and `^`).
fn is_caret_line(l: &str) -> bool {
    l.contains('^') && l.chars().all(|c| c == ' ' || c == '^')
}

/// A drawn table's line (comfy-table's frames): never re-wrapped.
fn is_frame(l: &str) -> bool {
    l.trim_start()
        .starts_with(['┌', '│', '╞', '├', '└', '╭', '╰', '+', '|'])
}

/// Whether `l` has a gap of two or more spaces after its indent: a table row or aligned pair,
/// which is never joined with its neighbours.
fn has_gap(l: &str) -> bool {
    l.trim().contains("  ")
}

/// The column where the text of an aligned line's last column starts before `w`, when that
/// leaves room (at least a quarter of the width, and 16 columns) to wrap into.
fn column_hang(l: &str, w: usize) -> Option<usize> {
    let ind = indent_of(l);
    let chars: Vec<char> = l.chars().collect();
    let mut best = None;
    let mut col = 0;
    let mut spaces = 0;
    for (i, ch) in chars.iter().enumerate() {
        if *ch == ' ' {
            spaces += 1;
        } else {
            if spaces >= 2 && i > ind + spaces && col < w && w - col >= (w / 4).max(16) {
                best = Some(col);
            }
            spaces = 0;
        }
        col += ch.width().unwrap_or(0);
    }
    best
}

/// One line, alone, made to fit `w` columns: wrapped at spaces, the continuation lines hanging
/// under the last aligned column, or under a list item's text, or two in from the indent.
pub fn fit_line(l: &str, w: usize) -> Vec<String> {
    if width(l) <= w {
        return vec![l.to_owned()];
    }
    let ind = indent_of(l);
    let body = &l[ind..];
    let hang = column_hang(l, w).unwrap_or_else(|| match marker(body) {
        0 => ind + 2,
        m => ind + m,
    });
    hanging(&" ".repeat(ind), body, hang, w)
}

/// Preformatted lines made to fit `w` columns. Lines that already fit stay as they are. With
/// `reflow`, a paragraph (lines of prose at one indent, or a list item and its continuation
/// lines) with a line too wide is wrapped again as a whole; otherwise, and for a table row or
/// aligned line, a line is wrapped alone. Hex dumps with their caret lines and drawn tables
/// are left alone.
pub fn fit_block(lines: &[String], w: usize, reflow: bool) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    let fixed = |i: usize| {
        let l: &str = &lines[i];
        is_caret_line(l) || is_frame(l) || lines.get(i + 1).is_some_and(|n| is_caret_line(n))
    };
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        if l.trim().is_empty() || fixed(i) {
            out.push(l.clone());
            i += 1;
            continue;
        }
        if i > 0 && is_caret_line(&lines[i - 1]) && width(l) > w {
            out.push(pull_label(l, w));
            i += 1;
            continue;
        }
        if has_gap(l) || !reflow {
            out.extend(fit_line(l, w));
            i += 1;
            continue;
        }
        let ind = indent_of(l);
        let hang = ind + marker(&l[ind..]);
        let mut j = i + 1;
        while j < lines.len() {
            let n = &lines[j];
            if n.trim().is_empty()
                || fixed(j)
                || has_gap(n)
                || indent_of(n) != hang
                || marker(n.trim_start()) > 0
            {
                break;
            }
            j += 1;
        }
        if lines[i..j].iter().all(|x| width(x) <= w) {
            out.extend(lines[i..j].iter().cloned());
        } else {
            let text: Vec<&str> = lines[i..j].iter().map(|x| x.trim()).collect();
            out.extend(hanging(&" ".repeat(ind), &text.join(" "), hang, w));
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn widths_count_columns_not_bytes() {
        assert_eq!(width("◀──▶ …"), 6);
        assert_eq!(width("日本"), 4);
    }

    #[test]
    fn wrapping_breaks_between_words_and_cuts_long_ones() {
        assert_eq!(wrap("aa bb cc", 5, 5), s(&["aa bb", "cc"]));
        assert_eq!(wrap("abcdefgh", 3, 3), s(&["abc", "def", "gh"]));
        // Long words break after punctuation, or before an escape, when they can.
        assert_eq!(wrap("ab,cdefgh", 5, 5), s(&["ab,", "cdefg", "h"]));
        assert_eq!(wrap("abc,defgh", 5, 5), s(&["abc,", "defgh"]));
        assert_eq!(
            wrap(r#""\x01\x02\x03""#, 10, 10),
            s(&[r#""\x01\x02"#, r#"\x03""#])
        );
        assert_eq!(wrap("", 3, 3), s(&[""]));
        assert_eq!(wrap("aa bb", 2, 10), s(&["aa", "bb"]));
        // A token keeps its inner space; the separator before it may be empty.
        let t = vec![
            Token::new("", "<mss 65495,"),
            Token::new("", "sackOK>"),
            Token::new(" ", "x"),
        ];
        assert_eq!(join(&t), "<mss 65495,sackOK> x");
        assert_eq!(wrap_tokens(&t, 12, 12), s(&["<mss 65495,", "sackOK> x"]));
    }

    #[test]
    fn quoted_strings_stay_whole() {
        let t = words_quoted(r#"write(3, "a \" b", 4) = 4"#);
        let texts: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, [r#"write(3,"#, r#""a \" b","#, "4)", "=", "4"]);
        assert_eq!(join(&t), r#"write(3, "a \" b", 4) = 4"#);
    }

    #[test]
    fn hanging_indent_after_a_lead() {
        let l = hanging("  ✓ ", "one two three four", 4, 12);
        assert_eq!(l, s(&["  ✓ one two", "    three", "    four"]));
        assert!(l.iter().all(|x| width(x) <= 12));
    }

    #[test]
    fn a_table_row_wraps_under_its_last_column() {
        let row = "  172.16.0.1   B   private 172.16.0.0/12: not a class boundary";
        let l = fit_line(row, 50);
        assert_eq!(l[0], "  172.16.0.1   B   private 172.16.0.0/12: not a");
        assert_eq!(l[1], "                   class boundary");
    }

    #[test]
    fn a_dump_label_past_the_width_moves_left() {
        let lines = s(&[
            "  01 02 03 04 05 06",
            "        ^^      ^^",
            "        a       the last",
        ]);
        let out = fit_block(&lines, 20, false);
        assert_eq!(out[2], "        a   the last");
        assert_eq!(&out[..2], &lines[..2]);
    }

    #[test]
    fn paragraphs_reflow_as_a_whole_and_dumps_stay() {
        let lines = s(&[
            "  - one two three four five six",
            "    seven eight",
            "  45 00 00 3c 00 00 40 00 40 06 3c ba",
            "        ^^^^^",
            "        len",
            "  short",
        ]);
        let out = fit_block(&lines, 20, true);
        assert_eq!(
            out,
            s(&[
                "  - one two three",
                "    four five six",
                "    seven eight",
                "  45 00 00 3c 00 00 40 00 40 06 3c ba",
                "        ^^^^^",
                "        len",
                "  short",
            ])
        );
        // Lines that fit are left exactly as they were.
        assert_eq!(fit_block(&lines, 100, true), lines);
        // Without reflow each line wraps on its own.
        let alone = fit_block(&lines[..2], 20, false);
        assert_eq!(
            alone[..3],
            s(&["  - one two three", "    four five six", "    seven eight"])
        );
    }
}
