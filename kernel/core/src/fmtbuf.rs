//! A fixed-capacity text buffer for `write!` without allocation (messages built before they
//! go into a record). Text past the capacity is dropped at a character boundary and the
//! buffer remembers that it was truncated.

use core::fmt;

/// Up to `N` bytes of UTF-8 text.
pub struct FmtBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> FmtBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        FmtBuf {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// The text written so far.
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 characters are ever copied in (see write_str).
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// Whether some text did not fit.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl<const N: usize> Default for FmtBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for FmtBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            self.truncated = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn keeps_what_fits_at_char_boundaries() {
        let mut b = FmtBuf::<8>::new();
        write!(b, "ab{}", 12).unwrap();
        assert_eq!(b.as_str(), "ab12");
        assert!(!b.truncated());
        write!(b, "€€").unwrap(); // 3 bytes each: only one fits
        assert_eq!(b.as_str(), "ab12€");
        assert!(b.truncated());
    }
}
