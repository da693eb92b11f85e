//! Rendering: one file per view, each writing into a reused `String` or any `Write`.
//! Nothing here reads files, sockets or the clock; colour is decided once by the caller.

pub mod compare;
pub mod describe;
pub mod escape;
pub mod fit;
pub mod jsonl;
pub mod ladder_lanes;
pub mod ladder_text;
pub mod marks;
pub mod payload;
pub mod picture;
pub mod run;
pub mod states;
pub mod summary;
pub mod text;

pub use summary::{Summary, Totals};
pub use text::{TextOptions, TimeMode, Timeline};

/// ANSI styles, or nothing when colour is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub on: bool,
}

impl Palette {
    pub const DIM: &'static str = "\x1b[2m";
    pub const BOLD: &'static str = "\x1b[1m";
    pub const RED: &'static str = "\x1b[31m";
    pub const GREEN: &'static str = "\x1b[32m";
    pub const YELLOW: &'static str = "\x1b[33m";
    pub const BLUE: &'static str = "\x1b[34m";
    pub const MAGENTA: &'static str = "\x1b[35m";
    pub const CYAN: &'static str = "\x1b[36m";
    pub const RESET: &'static str = "\x1b[0m";

    /// Appends `text` in `style` (or plain when colour is off).
    pub fn paint(&self, out: &mut String, style: &str, text: &str) {
        if self.on && !text.is_empty() {
            out.push_str(style);
            out.push_str(text);
            out.push_str(Self::RESET);
        } else {
            out.push_str(text);
        }
    }
}

/// Display width of `s` in terminal columns.
pub fn width(s: &str) -> usize {
    fit::width(s)
}

/// Appends `s` padded with spaces to `w` columns.
pub fn pad(out: &mut String, s: &str, w: usize) {
    out.push_str(s);
    for _ in width(s)..w {
        out.push(' ');
    }
}
