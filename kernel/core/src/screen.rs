//! What the kernel's screen console and the host's check of the screen agree on.

/// The legacy VGA text buffer (IBM PC): 80 × 25 cells of character and attribute bytes.
pub const VGA_TEXT_PHYS: u64 = 0xB8000;
/// Columns of the VGA text buffer.
pub const VGA_TEXT_COLS: usize = 80;
/// Rows of the VGA text buffer.
pub const VGA_TEXT_ROWS: usize = 25;
/// Level (0..=255) of each colour channel of text drawn on a framebuffer (grey on black).
pub const FG_LEVEL: u8 = 0xCC;
/// The first words of the end-of-run summary the screen keeps.
pub const SUMMARY_START: &str = "== benchmark summary: ";
/// The end of the kernel's last line before it halts without an exit device.
pub const HALT_LINE: &str = "this one halts";
