//! Printing that survives a closed pipe: `runner ... | head -1` closes stdout early, and
//! `println!` would then panic (the runner is built with `panic = "abort"`). [`outln!`] and
//! [`errln!`] write to stdout and stderr; once a write fails (EPIPE, or any other error) that
//! stream is marked closed and later writes are skipped, so a run goes on and still writes its
//! results folder. [`stdout_closed`] lets a caller that only prints (a listing, the test
//! matrix) stop early.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a write to stdout has failed (its reader went away).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

fn write_to(mut w: impl Write, closed: &AtomicBool, args: fmt::Arguments, newline: bool) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let r = w
        .write_fmt(args)
        .and_then(|()| if newline { w.write_all(b"\n") } else { Ok(()) })
        .and_then(|()| w.flush());
    if r.is_err() {
        closed.store(true, Ordering::Relaxed);
    }
}

/// Writes to stdout (see the module documentation); `newline` appends `\n`.
pub fn stdout(args: fmt::Arguments, newline: bool) {
    write_to(io::stdout().lock(), &STDOUT_CLOSED, args, newline);
}

/// Writes to stderr (see the module documentation); `newline` appends `\n`.
pub fn stderr(args: fmt::Arguments, newline: bool) {
    write_to(io::stderr().lock(), &STDERR_CLOSED, args, newline);
}

/// `println!` that never panics: see [`crate::out`].
#[macro_export]
macro_rules! outln {
    () => { $crate::out::stdout(format_args!(""), true) };
    ($($t:tt)*) => { $crate::out::stdout(format_args!($($t)*), true) };
}

/// `print!` that never panics: see [`crate::out`].
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::out::stdout(format_args!($($t)*), false) };
}

/// `eprintln!` that never panics: see [`crate::out`].
#[macro_export]
macro_rules! errln {
    () => { $crate::out::stderr(format_args!(""), true) };
    ($($t:tt)*) => { $crate::out::stderr(format_args!($($t)*), true) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader is gone.
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_broken_pipe_marks_the_stream_closed_and_never_panics() {
        let closed = AtomicBool::new(false);
        write_to(Broken, &closed, format_args!("x"), true);
        assert!(closed.load(Ordering::Relaxed));
        // Later writes are skipped.
        write_to(Broken, &closed, format_args!("y"), false);
        let mut v = Vec::new();
        let open = AtomicBool::new(false);
        write_to(&mut v, &open, format_args!("a{}", 1), true);
        write_to(&mut v, &open, format_args!("b"), false);
        assert_eq!(v, b"a1\nb");
        assert!(!open.load(Ordering::Relaxed));
    }
}
