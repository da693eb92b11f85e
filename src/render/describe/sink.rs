//! Where rendered text goes. The renderers write through [`Sink`] rather than `core::fmt`:
//! pieces and numbers are appended directly (itoa for numbers), which is what makes a line
//! cheap. `String` is the sink used today; another buffer can be plugged in without touching
//! the renderers.

use std::fmt;

/// Text output for the renderers.
pub trait Sink: fmt::Write {
    /// Appends `s`.
    fn put(&mut self, s: &str);
    /// Appends `n` in decimal.
    fn put_u64(&mut self, n: u64);
    /// Bytes written so far.
    fn len(&self) -> usize;
    /// Nothing written yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Drops everything after the first `len` bytes (a char boundary).
    fn truncate(&mut self, len: usize);
}

impl Sink for String {
    #[inline]
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }

    #[inline]
    fn put_u64(&mut self, n: u64) {
        self.push_str(itoa::Buffer::new().format(n));
    }

    fn len(&self) -> usize {
        String::len(self)
    }

    fn truncate(&mut self, len: usize) {
        String::truncate(self, len);
    }
}
