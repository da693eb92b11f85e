//! Lines of the timeline as they are built: held as a [`Row`] (cells not yet padded) while the
//! first lines set the column widths, or written straight into the output, padded as each
//! column closes, once the widths are known.
//!
//! Both ways give byte-identical lines: [`write_line`] pads a held row exactly as
//! [`Line::close`] pads a direct one. Every cell is ASCII except the conversation's arrow
//! (`→`: three bytes, one column), so widths are lengths.

use super::{CONV, FLAGS, FRAME, NCOLS, STREAM, TIME};
use crate::render::describe::Sink;
use crate::render::{width, Palette};

/// Index of the details in [`Row::ends`], after the columns.
pub(super) const DETAILS: usize = NCOLS;
/// Index of the notes, after the details.
pub(super) const NOTES: usize = NCOLS + 1;
/// Parts of a line: the columns, the details, the notes.
const PARTS: usize = NCOLS + 2;

/// A held line: every part's text one after another in `text`.
#[derive(Default)]
pub(super) struct Row {
    text: String,
    /// Where each part's text ends.
    ends: [usize; PARTS],
    flags_style: &'static str,
    notes_style: &'static str,
    /// Lines written after this one (a payload dump).
    pub(super) after: String,
}

impl Row {
    fn part(&self, part: usize) -> &str {
        let start = if part == 0 { 0 } else { self.ends[part - 1] };
        self.text.get(start..self.ends[part]).unwrap_or_default()
    }

    /// Display width of column `col`.
    pub(super) fn width(&self, col: usize) -> usize {
        display_width(col, self.part(col))
    }

    /// Keeps the line `l` built over `scratch` (held: nothing padded).
    pub(super) fn of(l: &Line<'_>) -> Row {
        Row {
            text: l.text.clone(),
            ends: l.ends,
            flags_style: l.flags_style,
            notes_style: l.notes_style,
            after: String::new(),
        }
    }
}

/// Builds one line part by part: the caller writes a part's text into [`Line::text`], then
/// [`Line::close`]s it. Held (over a scratch buffer, to become a [`Row`]), it only records
/// where parts end; direct (over the output), it pads each column as it closes and grows the
/// widths.
pub(super) struct Line<'t> {
    pub(super) text: &'t mut String,
    /// Where the line starts in `text`.
    start: usize,
    /// Direct: the column widths to pad to (and grow), and the palette.
    direct: Option<(&'t mut [usize; NCOLS], Palette)>,
    /// Where each part's text starts and ends in `text`.
    starts: [usize; PARTS],
    ends: [usize; PARTS],
    /// Parts closed so far.
    closed: usize,
    pub(super) flags_style: &'static str,
    pub(super) notes_style: &'static str,
}

impl<'t> Line<'t> {
    fn new(text: &'t mut String, direct: Option<(&'t mut [usize; NCOLS], Palette)>) -> Self {
        let start = text.len();
        Line {
            text,
            start,
            direct,
            starts: [start; PARTS],
            ends: [start; PARTS],
            closed: 0,
            flags_style: "",
            notes_style: Palette::YELLOW,
        }
    }

    /// A builder that writes straight into `out`, padding to `widths` (which it grows).
    pub(super) fn direct(
        out: &'t mut String,
        widths: &'t mut [usize; NCOLS],
        pal: Palette,
    ) -> Self {
        out.reserve(256);
        Line::new(out, Some((widths, pal)))
    }

    /// A builder over `scratch` (cleared) for a line to hold.
    pub(super) fn held(scratch: &'t mut String) -> Self {
        scratch.clear();
        Line::new(scratch, None)
    }

    /// Ends every part up to and including `part`: the text written since the previous one
    /// closed is this part's; the parts skipped are empty.
    #[inline]
    pub(super) fn close(&mut self, part: usize) {
        while self.closed <= part {
            let i = self.closed;
            self.ends[i] = self.text.len();
            if self.direct.is_some() {
                self.pad(i);
            }
            self.closed += 1;
            if self.closed < PARTS {
                self.starts[self.closed] = self.text.len();
            }
        }
    }

    /// Where the part being written (the first not closed) starts in `text`.
    pub(super) fn open_part_start(&self) -> usize {
        self.starts[self.closed.min(PARTS - 1)]
    }

    /// Starts a note: `; ` after an earlier one. Call once the details are closed.
    pub(super) fn note(&mut self) -> &mut String {
        if self.text.len() > self.starts[NOTES] {
            self.text.put("; ");
        }
        self.text
    }

    /// Direct: ends the line (no trailing whitespace, a newline).
    pub(super) fn finish(self) {
        let end = self.start + self.text[self.start..].trim_end().len();
        self.text.truncate(end);
        self.text.push('\n');
    }

    /// Direct: lays out part `i`, just closed, as [`write_line`] does.
    fn pad(&mut self, i: usize) {
        let Some((widths, pal)) = self.direct.as_mut() else {
            return;
        };
        let (s, e) = (self.starts[i], self.ends[i]);
        let text = &mut *self.text;
        if i == DETAILS {
            return;
        }
        if i == NOTES {
            if e > s {
                let details = self.ends[DETAILS] > self.starts[DETAILS];
                if pal.on {
                    text.push_str(Palette::RESET);
                    text.insert_str(s, self.notes_style);
                }
                if details {
                    text.insert_str(s, "  ");
                }
            }
            return;
        }
        let w = if i == CONV {
            (e - s).saturating_sub(2)
        } else {
            e - s
        };
        debug_assert_eq!(w, width(&text[s..e]), "{}", &text[s..e]);
        widths[i] = widths[i].max(w);
        let fill = widths[i] - w;
        let style = style_of(i, self.flags_style);
        let painted = pal.on && !style.is_empty() && e > s;
        if painted {
            text.push_str(Palette::RESET);
            text.insert_str(s, style);
        }
        if i == FRAME || i == TIME {
            // Right-aligned.
            insert_spaces(text, s, fill);
            text.push_str("  ");
        } else {
            spaces(text, fill + 2);
        }
    }
}

/// The style of column `i`.
fn style_of(i: usize, flags_style: &'static str) -> &'static str {
    match i {
        FRAME | TIME => Palette::DIM,
        FLAGS => flags_style,
        STREAM => Palette::CYAN,
        _ => "",
    }
}

/// Display width of the text of column `col`.
fn display_width(col: usize, cell: &str) -> usize {
    let w = if col == CONV {
        cell.len().saturating_sub(2)
    } else {
        cell.len()
    };
    debug_assert_eq!(w, width(cell), "{cell}");
    w
}

/// Writes a held row, padded to the column widths `widths`, without trailing whitespace.
pub(super) fn write_line(widths: &[usize; NCOLS], pal: Palette, out: &mut String, r: &Row) {
    let (details, notes) = (r.part(DETAILS), r.part(NOTES));
    let start = out.len();
    out.reserve(r.text.len() + 64);
    for (i, &w) in widths.iter().enumerate() {
        let fill = w.saturating_sub(r.width(i));
        let cell = r.part(i);
        let style = style_of(i, r.flags_style);
        // The frame number and time are right-aligned, so decimal points line up.
        if i == FRAME || i == TIME {
            spaces(out, fill);
        }
        if pal.on && !style.is_empty() {
            pal.paint(out, style, cell);
        } else {
            out.push_str(cell);
        }
        if i != FRAME && i != TIME {
            spaces(out, fill);
        }
        out.push_str("  ");
    }
    out.push_str(details);
    if !notes.is_empty() {
        if !details.is_empty() {
            out.push_str("  ");
        }
        pal.paint(out, r.notes_style, notes);
    }
    let end = start + out[start..].trim_end().len();
    out.truncate(end);
    out.push('\n');
    out.push_str(&r.after);
}

const SPACES: &str = "                                                                ";

/// Appends `n` spaces.
#[inline]
fn spaces(out: &mut String, mut n: usize) {
    while n > SPACES.len() {
        out.push_str(SPACES);
        n -= SPACES.len();
    }
    out.push_str(&SPACES[..n]);
}

/// Inserts `n` spaces at byte `at`.
fn insert_spaces(out: &mut String, at: usize, mut n: usize) {
    while n > 0 {
        let k = n.min(SPACES.len());
        out.insert_str(at, &SPACES[..k]);
        n -= k;
    }
}
