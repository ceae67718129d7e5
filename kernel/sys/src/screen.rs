//! The console on the screen, for machines without a serial port: every byte the console
//! writes to COM1 also lands here. Two surfaces:
//! - VGA text mode (the BIOS's 80×25 buffer at 0xB8000, or the EGA-text framebuffer GRUB
//!   describes): one character and attribute byte per cell;
//! - a linear RGB framebuffer (GRUB's GOP framebuffer under UEFI), drawn with the built-in 8×16
//!   font (`kernel_core::font`, from GRUB's Unifont at build time).
//!
//! The text lives in a grid in RAM; a row is drawn when it is complete. When the last row fills,
//! the grid scrolls by half a screen and is drawn again (a "jump scroll": each character is
//! drawn about twice, which keeps a framebuffer console affordable under emulation). Lines
//! printed before the screen is mapped are kept and drawn when it is.
//!
//! Writes come from the console, whose lock serialises whole lines; the screen's own lock is
//! only tried, so a report printed while the screen is busy (a fault inside it) goes to the
//! serial port alone instead of deadlocking.

use kernel_core::bootinfo::{BootInfo, FramebufferKind, Protocol};
use kernel_core::font::{self, Glyph};
use kernel_core::paging::CacheMode;

use crate::mm;

include!(concat!(env!("OUT_DIR"), "/font.rs"));

const MAX_COLS: usize = 240;
const MAX_ROWS: usize = 100;
use kernel_core::screen::{FG_LEVEL, VGA_TEXT_COLS, VGA_TEXT_PHYS, VGA_TEXT_ROWS};
/// Light grey on black.
const VGA_ATTR: u16 = 0x07 << 8;

#[derive(Clone, Copy)]
enum Surface {
    /// Not drawn (yet): text is only kept.
    None,
    Text {
        base: u64,
        pitch: usize,
    },
    Pixel {
        base: u64,
        pitch: usize,
        bytes_pp: usize,
        fg: u32,
        bg: u32,
    },
}

struct Screen {
    surface: Surface,
    cols: usize,
    rows: usize,
    row: usize,
    col: usize,
    cells: [[u8; MAX_COLS]; MAX_ROWS],
}

static SCREEN: spin::Mutex<Screen> = spin::Mutex::new(Screen {
    surface: Surface::None,
    cols: VGA_TEXT_COLS,
    rows: VGA_TEXT_ROWS,
    row: 0,
    col: 0,
    cells: [[b' '; MAX_COLS]; MAX_ROWS],
});

/// What `init` found, for the boot summary.
pub struct Found {
    pub kind: &'static str,
    pub cols: usize,
    pub rows: usize,
}

/// Start copying the console into the screen's text buffer (drawn once `init` finds a
/// surface; what was printed before is kept and shown then).
pub fn attach() {
    crate::console::set_mirror(put_byte);
}

/// Find and map the screen: the loader's framebuffer (Multiboot2), else the VGA text buffer if
/// one answers (Multiboot1 under a BIOS). Then draw what was printed so far.
pub fn init(info: &BootInfo) -> Option<Found> {
    let (surface, cols, rows, kind) = match info.framebuffer {
        Some(fb) => match fb.kind {
            FramebufferKind::EgaText => {
                let base = mm::map_device(
                    fb.addr,
                    fb.pitch as u64 * fb.height as u64,
                    CacheMode::Uncacheable,
                );
                (
                    Surface::Text {
                        base,
                        pitch: fb.pitch as usize,
                    },
                    fb.width as usize,
                    fb.height as usize,
                    "vga text (multiboot2)",
                )
            }
            FramebufferKind::Rgb {
                red_pos,
                red_size,
                green_pos,
                green_size,
                blue_pos,
                blue_size,
            } if fb.bpp == 32 || fb.bpp == 24 => {
                let base = mm::map_device(
                    fb.addr,
                    fb.pitch as u64 * fb.height as u64,
                    CacheMode::WriteCombining,
                );
                let colour = |level: u32| {
                    let f = |pos: u8, size: u8| (level >> (8 - size.min(8))) << pos;
                    f(red_pos, red_size) | f(green_pos, green_size) | f(blue_pos, blue_size)
                };
                (
                    Surface::Pixel {
                        base,
                        pitch: fb.pitch as usize,
                        bytes_pp: fb.bpp as usize / 8,
                        fg: colour(FG_LEVEL as u32),
                        bg: colour(0),
                    },
                    fb.width as usize / font::WIDTH,
                    fb.height as usize / font::HEIGHT,
                    "framebuffer (multiboot2)",
                )
            }
            _ => return None,
        },
        None if info.protocol == Protocol::Multiboot1 => {
            let base = mm::map_device(
                VGA_TEXT_PHYS,
                (VGA_TEXT_COLS * VGA_TEXT_ROWS * 2) as u64,
                CacheMode::Uncacheable,
            );
            if !vga_answers(base) {
                return None;
            }
            (
                Surface::Text {
                    base,
                    pitch: VGA_TEXT_COLS * 2,
                },
                VGA_TEXT_COLS,
                VGA_TEXT_ROWS,
                "vga text (legacy)",
            )
        }
        None => return None,
    };
    let cols = cols.min(MAX_COLS);
    let rows = rows.min(MAX_ROWS);
    if cols == 0 || rows < 2 {
        return None; // a screen smaller than one glyph wide or two rows high is not used
    }
    let mut s = SCREEN.lock();
    // Text kept so far was laid out for 80×25: keep its rows, in the new size.
    let kept = s.row.min(rows.saturating_sub(1));
    if s.row > kept {
        let drop = s.row - kept;
        s.cells.copy_within(drop..drop + kept + 1, 0);
    }
    s.row = kept;
    s.col = s.col.min(cols - 1);
    s.cols = cols;
    s.rows = rows;
    s.surface = surface;
    s.draw_all();
    Some(Found { kind, cols, rows })
}

/// A VGA text buffer is there if a cell keeps what is written into it (without a VGA device
/// the address is unassigned and reads back all ones). The cell is restored.
fn vga_answers(base: u64) -> bool {
    let cell = base as *mut u16;
    // SAFETY: `base` maps the 4000-byte VGA text window (uncached); a write there is either
    // seen by a VGA device or dropped.
    unsafe {
        let old = cell.read_volatile();
        cell.write_volatile(0x0720 ^ 0x5A00);
        let back = cell.read_volatile();
        cell.write_volatile(old);
        back == 0x0720 ^ 0x5A00
    }
}

/// One byte from the console.
pub fn put_byte(b: u8) {
    let Some(mut s) = SCREEN.try_lock() else {
        return;
    };
    s.put(b);
}

/// Clear the screen (the end-of-run summary starts on an empty screen).
pub fn clear() {
    let Some(mut s) = SCREEN.try_lock() else {
        return;
    };
    for r in s.cells.iter_mut() {
        r.fill(b' ');
    }
    s.row = 0;
    s.col = 0;
    s.draw_all();
}

impl Screen {
    fn put(&mut self, b: u8) {
        match b {
            b'\r' => {}
            b'\n' => self.newline(),
            _ => {
                let c = if (font::FIRST..=font::LAST).contains(&b) {
                    b
                } else {
                    b'?'
                };
                let (r, col) = (self.row, self.col);
                self.cells[r][col] = c;
                self.col += 1;
                if self.col == self.cols {
                    self.newline();
                }
            }
        }
    }

    fn newline(&mut self) {
        self.draw_row(self.row);
        self.col = 0;
        self.row += 1;
        if self.row == self.rows {
            let shift = (self.rows / 2).max(1);
            self.cells.copy_within(shift..self.rows, 0);
            for r in self.rows - shift..self.rows {
                self.cells[r].fill(b' ');
            }
            self.row -= shift;
            self.draw_all();
        }
    }

    fn draw_all(&mut self) {
        for r in 0..self.rows {
            self.draw_row(r);
        }
    }

    fn draw_row(&self, r: usize) {
        match self.surface {
            Surface::None => {}
            Surface::Text { base, pitch } => {
                for c in 0..self.cols {
                    let v = self.cells[r][c] as u16 | VGA_ATTR;
                    // SAFETY: r < rows and c < cols of the mapped text buffer (pitch × rows
                    // bytes, mapped by `init`).
                    unsafe { ((base + (r * pitch + c * 2) as u64) as *mut u16).write_volatile(v) };
                }
            }
            Surface::Pixel {
                base,
                pitch,
                bytes_pp,
                fg,
                bg,
            } => {
                for c in 0..self.cols {
                    let g: &Glyph = &GLYPHS[(self.cells[r][c] - font::FIRST) as usize];
                    for (y, bits) in g.iter().enumerate() {
                        let line = base
                            + ((r * font::HEIGHT + y) * pitch + c * font::WIDTH * bytes_pp) as u64;
                        for x in 0..font::WIDTH {
                            let v = if bits & (0x80 >> x) != 0 { fg } else { bg };
                            let p = line + (x * bytes_pp) as u64;
                            // SAFETY: the pixel lies inside the mapped framebuffer: rows and
                            // cols were cut to whole glyph cells of its width and height.
                            unsafe {
                                if bytes_pp == 4 {
                                    (p as *mut u32).write_volatile(v);
                                } else {
                                    for (i, byte) in v.to_le_bytes()[..3].iter().enumerate() {
                                        ((p + i as u64) as *mut u8).write_volatile(*byte);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
