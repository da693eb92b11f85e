//! The text ladder read as a person reads it, over every saved run in `captures/` at 60, 80
//! and 120 columns (and without a width), in Unicode and ASCII: every line fits; a space always
//! parts a lifeline from text (`│ SYN_SENT→ESTABLISHED│` is a fault); an arrow's head is one
//! space from a lifeline (an arrow never runs past its lane); a wrapped line is not one short
//! word under a full one; each lane's label stands over its lifeline, two spaces from the next;
//! and the numbered legend's numbers stand over the lifelines.

use std::path::{Path, PathBuf};

use sockscope::live::View;
use sockscope::render::ladder_text::{render_all, Style};
use sockscope::render::{width, TimeMode};

/// Every run saved by sockscope in `captures/` (the event log inside the file, or beside it).
fn saved_runs() -> Vec<(String, sockscope::live::RunData)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcapng"))
        .collect();
    paths.sort();
    let runs: Vec<_> = paths
        .iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let run = sockscope::live::pcapng::load(p, &dir.join(format!("{name}.events.jsonl")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, run)
        })
        .collect();
    assert!(runs.len() >= 20, "{} saved runs", runs.len());
    runs
}

fn draw(run: &sockscope::live::RunData, w: Option<usize>, ascii: bool) -> String {
    let v = View::new(run);
    let mut s = String::new();
    let st = Style {
        time: TimeMode::Rel,
        color: false,
        ascii,
        width: w,
    };
    render_all(&mut s, &v, &st);
    s
}

/// A line as cells of one column (a wide character takes two, the second empty).
fn cells(line: &str) -> Vec<char> {
    let mut v = Vec::new();
    for c in line.chars() {
        match unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) {
            0 => {}
            1 => v.push(c),
            _ => {
                v.push(c);
                v.push('\0');
            }
        }
    }
    v
}

/// The faults of one ladder (the lines between two blank lines): for each, the line and why.
fn faults(block: &[&str], life: char, gap: char, heads: [char; 2]) -> Vec<String> {
    let bar = if life == '|' { '-' } else { '─' };
    let rows: Vec<Vec<char>> = block.iter().map(|l| cells(l)).collect();
    // The lines of the lanes: those with a lifeline (or a gap's) where the first lane's is
    // (a mark's text starts there, and ASCII text may have a `|`).
    let count = |c: usize| rows.iter().filter(|r| r.get(c) == Some(&life)).count();
    let widest = rows.iter().map(Vec::len).max().unwrap_or(0);
    let Some(first) = (0..widest).find(|&c| count(c) >= 2) else {
        return Vec::new();
    };
    let body: Vec<usize> = (0..rows.len())
        .filter(|&i| matches!(rows[i].get(first), Some(&c) if c == life || c == gap))
        .collect();
    // Lifeline columns: where lines have one, twice at least (text over a lane hides it, and
    // a lane may have few rows of its own).
    let lifelines: Vec<usize> = (0..widest)
        .filter(|&c| {
            let n = body
                .iter()
                .filter(|&&i| rows[i].get(c) == Some(&life))
                .count();
            n >= 2.min(body.len())
        })
        .collect();
    let mut out = Vec::new();
    if lifelines.len() < 2 {
        out.push(format!("lifelines at {lifelines:?}"));
        return out;
    }
    let is_line = |c: usize| lifelines.contains(&c);
    for &i in &body {
        let r = &rows[i];
        let at = |c: usize| r.get(c).copied().unwrap_or(' ');
        // A gap row's `┆` (`:` in ASCII, which text also has) stands on every lifeline.
        let gap_row = at(lifelines[0]) == gap;
        for &l in &lifelines {
            let ch = at(l);
            if ch == life || (gap_row && ch == gap) {
                for n in [l.checked_sub(1), Some(l + 1)].into_iter().flatten() {
                    if n < r.len() && at(n) != ' ' {
                        out.push(format!("text against the lifeline at {l}: {}", block[i]));
                    }
                }
            }
        }
        // An arrow's head is one space before (after) the lifeline it reaches. (Only after
        // or before a shaft: ASCII text has `->` too.)
        for (c, &ch) in r.iter().enumerate() {
            let ok = if ch == heads[0] && c >= 2 && at(c - 1) == bar && at(c - 2) == bar {
                is_line(c + 2) && at(c + 1) == ' '
            } else if ch == heads[1] && at(c + 1) == bar && at(c + 2) == bar {
                c >= 2 && is_line(c - 2) && at(c - 1) == ' '
            } else {
                true
            };
            if !ok {
                out.push(format!("an arrow's head off its lane at {c}: {}", block[i]));
            }
        }
        // Nothing beyond the last lifeline.
        let last = *lifelines.last().unwrap_or(&0);
        if r.iter().skip(last + 1).any(|&c| c != ' ') {
            out.push(format!("beyond the last lifeline: {}", block[i]));
        }
    }
    // A wrapped line (no time before it) is not one short word left under a full line (`ACK`,
    // `10`, `…`); a result (`= 0`) may stand alone. (In Unicode: ASCII text has `|` and `:`.)
    let x0 = lifelines[0];
    for (i, r) in rows.iter().enumerate() {
        if life == '|' || r.len() <= x0 || r[..x0].iter().any(|&c| c != ' ') {
            continue;
        }
        let text: String = r[x0..].iter().filter(|&&c| c != '\0').collect();
        let pieces: Vec<&str> = text
            .split([life, gap])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        for p in pieces {
            if !p.contains(' ') && p.chars().count() <= 3 {
                out.push(format!("a lone word wrapped: {}", block[i]));
            }
        }
    }
    // The lanes' labels (the lines above the lanes, up to the title or the legend): each over
    // a lifeline, and two apart by two spaces at least (`127.0.0.1:36602 127.0.0.1:36616`
    // reads as one label).
    let top = body.first().copied().unwrap_or(0);
    for i in (1..top).rev() {
        let l = block[i];
        let lead = l.len() - l.trim_start().len();
        let t = l.trim_start();
        // A legend's line (`1  client …`) or its numbers (`1    2    3`).
        let legend = t
            .split(' ')
            .next()
            .is_some_and(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()));
        if legend || lead == 2 {
            break;
        }
        let r = &rows[i];
        let mut c = 0;
        while c < r.len() {
            if r[c] == ' ' {
                c += 1;
                continue;
            }
            let start = c;
            while c < r.len() && !(r[c] == ' ' && r.get(c + 1).is_none_or(|&n| n == ' ')) {
                c += 1;
            }
            let label: String = r[start..c].iter().filter(|&&ch| ch != '\0').collect();
            if !lifelines.iter().any(|&x| start <= x && x < c) {
                out.push(format!("a label over no lifeline ({label}): {l}"));
            }
            let addrs = label
                .split(' ')
                .filter(|w| {
                    w.rsplit_once(':')
                        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                })
                .count();
            if addrs > 1 {
                out.push(format!("two labels one space apart ({label}): {l}"));
            }
        }
    }
    // A numbered legend: its numbers over the lifelines, in order.
    if let Some(&first) = body.first() {
        if let Some(nums) = first.checked_sub(1).map(|k| block[k]) {
            if !nums.trim().is_empty() && nums.chars().all(|c| c.is_ascii_digit() || c == ' ') {
                // Each number starts at its lifeline; the last may end at it instead.
                let b = nums.as_bytes();
                let digit = |c: usize| b.get(c).is_some_and(u8::is_ascii_digit);
                let spans: Vec<(usize, usize)> = (0..b.len())
                    .filter(|&c| digit(c) && (c == 0 || !digit(c - 1)))
                    .map(|c| {
                        (
                            c,
                            (c..b.len()).take_while(|&e| digit(e)).last().unwrap_or(c),
                        )
                    })
                    .collect();
                let over = spans.len() == lifelines.len()
                    && spans
                        .iter()
                        .zip(&lifelines)
                        .enumerate()
                        .all(|(k, (&(s, e), &l))| s == l || (k + 1 == lifelines.len() && e == l));
                if !over {
                    out.push(format!(
                        "legend numbers at {spans:?}, lifelines at {lifelines:?}"
                    ));
                }
                let labels: Vec<String> = nums.split_whitespace().map(str::to_owned).collect();
                let want: Vec<String> = (1..=lifelines.len()).map(|k| k.to_string()).collect();
                if labels != want {
                    out.push(format!("legend numbers {labels:?}"));
                }
            }
        }
    }
    out
}

/// Every ladder of `text`, split at blank lines.
fn blocks(text: &str) -> Vec<Vec<&str>> {
    let mut out = vec![Vec::new()];
    for l in text.lines() {
        if l.trim().is_empty() {
            out.push(Vec::new());
        } else if let Some(b) = out.last_mut() {
            b.push(l);
        }
    }
    out.retain(|b| !b.is_empty());
    out
}

#[test]
fn every_saved_run_reads_well_at_60_80_and_120_columns() {
    let mut bad = Vec::new();
    for (name, run) in saved_runs() {
        for w in [Some(60), Some(80), Some(120), None] {
            for ascii in [false, true] {
                let text = draw(&run, w, ascii);
                assert!(text.lines().count() > 3, "{name} at {w:?}:\n{text}");
                let (life, gap, heads) = if ascii {
                    ('|', ':', ['>', '<'])
                } else {
                    ('│', '┆', ['▶', '◀'])
                };
                for l in text.lines() {
                    if let Some(w) = w {
                        if width(l) > w {
                            bad.push(format!("{name} at {w}: {} columns: {l}", width(l)));
                        }
                    }
                }
                for b in blocks(&text) {
                    for f in faults(&b, life, gap, heads) {
                        bad.push(format!("{name} at {w:?} (ascii {ascii}): {f}"));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "{} faults:\n{}", bad.len(), bad.join("\n"));
}

/// The checker finds what it looks for: a label against a lifeline, an arrow running into
/// one, and a legend number off its lifeline.
#[test]
fn the_checker_sees_each_fault() {
    let check = |lines: &[&str]| faults(lines, '│', '┆', ['▶', '◀']);
    let good = [
        "          1              2",
        "0.000001  │ [S] ───────▶ │",
        "          │ CLOSED→SYN   │",
        "0.000002  │ ◀─────── [S.] │",
    ];
    assert_eq!(check(&good[..3]), Vec::<String>::new());
    let touching = ["0.000001  │ [S] ───────▶ │", "          │ CLOSED→SYN_SE│"];
    let f = check(&touching);
    assert!(f.iter().any(|f| f.contains("against")), "{f:?}");
    let long = ["0.000001  │ [S] ────────▶│", "          │              │"];
    let f = check(&long);
    assert!(f.iter().any(|f| f.contains("head")), "{f:?}");
    let legend = ["           1             2", good[1], good[2]];
    let f = check(&legend);
    assert!(f.iter().any(|f| f.contains("legend")), "{f:?}");
    let lone = [good[1], good[2], "          │ ACK          │"];
    let f = check(&lone);
    assert!(f.iter().any(|f| f.contains("lone")), "{f:?}");
    let labels = [
        "title",
        "          client          server",
        "          127.0.0.1:1 127.0.0.1:2",
        good[1],
        good[2],
    ];
    let f = check(&labels);
    assert!(f.iter().any(|f| f.contains("one space apart")), "{f:?}");
    assert!(f.iter().any(|f| f.contains("over no lifeline")), "{f:?}");
    let wide = [good[1], good[2], good[3]];
    let f = check(&wide);
    assert!(f.iter().any(|f| f.contains("beyond")), "{f:?}");
}
