//! Showing bytes: hex dumps whose interesting bytes are marked with carets on the line below
//! (readable without colour), a painter that colours the marked bytes when colour is on, and
//! the table of historic address classes.
//!
//! A marked dump is three kinds of lines:
//!
//! ```text
//!   45 00 00 3c 4d 2a 40 00 40 06 ef 8f 7f 00 00 01 7f 00 00 01
//!                                       ^^^^^^^^^^^ ^^^^^^^^^^^
//!                                       source      destination
//! ```
//!
//! A line made only of spaces and `^` marks the columns of the line above it; [`paint_marks`]
//! turns such pairs into coloured bytes (and keeps the carets, so colour is never the only cue).

use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::render::Palette;

/// A byte range to mark, and its label.
pub struct Mark<'a> {
    pub from: usize,
    pub to: usize,
    pub label: &'a str,
}

/// Bytes in groups (e.g. IP header, TCP header) as one hex line, a caret line under the marked
/// bytes and label lines, each prefixed with `indent`.
pub fn dump(indent: &str, groups: &[&[u8]], marks: &[Mark]) -> Vec<String> {
    let mut hex = String::new();
    // Column of each byte (counted over all groups).
    let mut cols = Vec::new();
    for (g, bytes) in groups.iter().enumerate() {
        if g > 0 {
            hex.push_str("   ");
        }
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 {
                hex.push(' ');
            }
            cols.push(hex.chars().count());
            let _ = write!(hex, "{b:02x}");
        }
    }
    let width = hex.chars().count();
    let mut carets = vec![' '; width];
    for m in marks {
        for i in m.from..m.to.min(cols.len()) {
            let c = cols[i];
            carets[c] = '^';
            carets[c + 1] = '^';
            if i + 1 < m.to && i + 1 < cols.len() && cols[i + 1] == c + 3 {
                carets[c + 2] = '^';
            }
        }
    }
    let mut out = vec![format!("{indent}{hex}")];
    if marks.is_empty() {
        return out;
    }
    let caret_line: String = carets.into_iter().collect();
    out.push(format!("{indent}{}", caret_line.trim_end()));
    // Labels at the first column of their range; one that would touch the previous label
    // goes to the next line.
    let mut rows: Vec<Vec<char>> = Vec::new();
    for m in marks.iter().filter(|m| m.from < cols.len()) {
        let at = cols[m.from];
        let len = m.label.chars().count();
        let row = rows.iter().position(|r| r.len() <= at);
        let r = match row {
            Some(r) => r,
            None => {
                rows.push(Vec::new());
                rows.len() - 1
            }
        };
        let line = &mut rows[r];
        if line.len() < at + len + 1 {
            line.resize(at + len + 1, ' ');
        }
        for (k, ch) in m.label.chars().enumerate() {
            line[at + k] = ch;
        }
    }
    for r in rows {
        let s: String = r.into_iter().collect();
        out.push(format!("{indent}{}", s.trim_end()));
    }
    out
}

/// Whether `line` marks the line above it: spaces and at least one `^`, nothing else.
fn is_caret_line(line: &str) -> bool {
    line.contains('^') && line.chars().all(|c| c == ' ' || c == '^')
}

/// The lines with every byte above a caret line painted (carets too); without colour, the
/// lines as they are. Meant for the report's facts: a scenario's `facts` returns plain text
/// (it does not know whether colour is on), so the report paints them with its palette:
/// `for l in render::marks::paint_marks(&facts, pal) { … }`.
pub fn paint_marks(lines: &[String], pal: Palette) -> Vec<String> {
    if !pal.on {
        return lines.to_vec();
    }
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let next = lines.get(i + 1).filter(|n| is_caret_line(n));
        if is_caret_line(l) {
            let mut s = String::new();
            pal.paint(&mut s, Palette::YELLOW, l);
            out.push(s);
            continue;
        }
        let Some(marks) = next else {
            out.push(l.clone());
            continue;
        };
        let marked: Vec<bool> = marks.chars().map(|c| c == '^').collect();
        let mut s = String::new();
        let mut run = String::new();
        let mut in_mark = false;
        for (k, ch) in l.chars().enumerate() {
            let m = marked.get(k).copied().unwrap_or(false);
            if m != in_mark && !run.is_empty() {
                if in_mark {
                    pal.paint(&mut s, Palette::YELLOW, &run);
                } else {
                    s.push_str(&run);
                }
                run.clear();
            }
            in_mark = m;
            run.push(ch);
        }
        if in_mark {
            pal.paint(&mut s, Palette::YELLOW, &run);
        } else {
            s.push_str(&run);
        }
        out.push(s);
    }
    out
}

/// The historic class of an IPv4 address, from its first bits, and how many bits say so.
pub fn class(a: Ipv4Addr) -> (char, usize) {
    let b = a.octets()[0];
    match b.leading_ones() {
        0 => ('A', 1),
        1 => ('B', 2),
        2 => ('C', 3),
        3 => ('D', 4),
        _ => ('E', 4),
    }
}

/// The network a class implied (`127.0.0.0/8`), or what the class was for.
fn classful_network(a: Ipv4Addr) -> String {
    let o = a.octets();
    match class(a).0 {
        'A' => format!("{}.0.0.0/8", o[0]),
        'B' => format!("{}.{}.0.0/16", o[0], o[1]),
        'C' => format!("{}.{}.{}.0/24", o[0], o[1], o[2]),
        'D' => "(multicast)".into(),
        _ => "(reserved)".into(),
    }
}

/// What the address is under today's (CIDR) rules.
fn today(a: Ipv4Addr) -> &'static str {
    let o = a.octets();
    if a.is_broadcast() {
        "limited broadcast"
    } else if a.is_loopback() {
        "loopback 127.0.0.0/8"
    } else if o[0] == 10 {
        "private 10.0.0.0/8"
    } else if o[0] == 172 && (16..32).contains(&o[1]) {
        "private 172.16.0.0/12: not a class boundary"
    } else if o[0] == 192 && o[1] == 168 {
        "private 192.168.0.0/16: 256 class-C networks"
    } else if a.is_multicast() {
        "multicast 224.0.0.0/4"
    } else if o[0] >= 240 {
        "reserved 240.0.0.0/4"
    } else {
        "public, routed by prefix"
    }
}

/// The class table: the first byte's bits (the class bits set apart), the class, the network
/// the class implied and what the address is today.
pub fn class_table(addrs: &[(Ipv4Addr, &str)]) -> Vec<String> {
    let mut out = vec![format!(
        "  {:<17}{:<13}{:<7}{:<18}{}",
        "address", "first byte", "class", "classful network", "today (CIDR)"
    )];
    for (a, note) in addrs {
        let (c, n) = class(*a);
        let bits = format!("{:08b}", a.octets()[0]);
        let shown = format!("{} {}", &bits[..n], &bits[n..]);
        let mut today = today(*a).to_owned();
        if !note.is_empty() {
            let _ = write!(today, " ({note})");
        }
        out.push(
            format!(
                "  {:<17}{:<13}{:<7}{:<18}{}",
                a.to_string(),
                shown,
                c,
                classful_network(*a),
                today
            )
            .trim_end()
            .to_owned(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_marks_bytes_and_labels() {
        let lines = dump(
            "  ",
            &[&[0x45, 0, 0, 0x3c], &[0xd2, 0xe4, 0x9c, 0xbb]],
            &[
                Mark {
                    from: 1,
                    to: 3,
                    label: "len",
                },
                Mark {
                    from: 6,
                    to: 8,
                    label: "port",
                },
            ],
        );
        assert_eq!(lines[0], "  45 00 00 3c   d2 e4 9c bb");
        assert_eq!(lines[1], "     ^^^^^            ^^^^^");
        assert_eq!(lines[2], "     len              port");
        assert!(is_caret_line(&lines[1]) && !is_caret_line(&lines[2]));
    }

    #[test]
    fn labels_that_collide_go_below() {
        let lines = dump(
            "",
            &[&[1, 2, 3]],
            &[
                Mark {
                    from: 0,
                    to: 1,
                    label: "first",
                },
                Mark {
                    from: 1,
                    to: 2,
                    label: "second",
                },
            ],
        );
        assert_eq!(lines[2], "first");
        assert_eq!(lines[3], "   second");
    }

    #[test]
    fn painting_colours_only_marked_columns() {
        let lines = vec!["ab cd ef".to_owned(), "   ^^".to_owned()];
        let plain = paint_marks(&lines, Palette { on: false });
        assert_eq!(plain, lines);
        let col = paint_marks(&lines, Palette { on: true });
        assert_eq!(
            col[0],
            format!("ab {}cd{} ef", Palette::YELLOW, Palette::RESET)
        );
    }

    #[test]
    fn classes_from_the_first_bits() {
        assert_eq!(class(Ipv4Addr::new(127, 0, 0, 1)), ('A', 1));
        assert_eq!(class(Ipv4Addr::new(172, 16, 0, 1)), ('B', 2));
        assert_eq!(class(Ipv4Addr::new(192, 168, 1, 1)), ('C', 3));
        assert_eq!(class(Ipv4Addr::new(224, 0, 0, 1)), ('D', 4));
        assert_eq!(class(Ipv4Addr::new(255, 255, 255, 255)), ('E', 4));
        let t = class_table(&[(Ipv4Addr::new(192, 168, 1, 20), "")]);
        assert!(
            t[1].contains("110 00000") && t[1].contains("192.168.1.0/24"),
            "{t:?}"
        );
    }
}
