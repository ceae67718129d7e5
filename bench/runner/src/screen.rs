//! Checking what the kernel left on the screen, from the host (never by the kernel reading its
//! own writes): QEMU's monitor saves the VGA text buffer (`pmemsave` of 0xB8000) or a picture
//! of the framebuffer (`screendump`, PPM), and these functions compare it with what the serial
//! console says the screen must show: every line from the end-of-run summary on, wrapped at
//! the screen's width, drawn (for a framebuffer) with the kernel's own font and colours.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use kernel_core::font;

use kernel_core::screen::{
    FG_LEVEL, VGA_TEXT_COLS as VGA_COLS, VGA_TEXT_PHYS, VGA_TEXT_ROWS as VGA_ROWS,
};
pub use kernel_core::screen::{HALT_LINE, SUMMARY_START};

/// The font file the kernel is built with (kernel/build.rs).
pub use kernel_core::font::DEFAULT_PF2 as FONT_PF2;
/// The kernel's framebuffer colours: grey on black (`kernel/src/screen.rs`).
pub const FG: [u8; 3] = [FG_LEVEL; 3];
pub const BG: [u8; 3] = [0, 0, 0];

/// Which screen a run is checked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// VGA text mode (BIOS).
    VgaText,
    /// A linear framebuffer (UEFI).
    Framebuffer,
}

/// The monitor command that saves the screen into `file`.
pub fn capture_command(kind: Kind, file: &Path) -> String {
    match kind {
        // Quoted: unquoted, `4000 /path` would parse as the expression 4000 / path.
        Kind::VgaText => format!(
            "pmemsave {VGA_TEXT_PHYS:#x} {} \"{}\"",
            VGA_COLS * VGA_ROWS * 2,
            file.display()
        ),
        Kind::Framebuffer => format!("screendump \"{}\"", file.display()),
    }
}

/// Talk to QEMU's human monitor on a Unix socket: run `command`, wait for its prompt, then
/// `quit`.
pub fn monitor_capture_and_quit(socket: &Path, command: &str) -> Result<(), String> {
    let s =
        UnixStream::connect(socket).map_err(|e| format!("monitor {}: {e}", socket.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let wait_prompt = |r: &mut BufReader<UnixStream>| -> Result<Vec<u8>, String> {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"(qemu) ") {
            match r.read(&mut byte) {
                Ok(1) => seen.push(byte[0]),
                Ok(_) => return Err("monitor closed".into()),
                Err(e) => return Err(format!("monitor: {e}")),
            }
        }
        Ok(seen)
    };
    wait_prompt(&mut r)?;
    writeln!(w, "{command}").map_err(|e| e.to_string())?;
    let reply = wait_prompt(&mut r)?;
    // The monitor echoes the command; anything else before the prompt is an error message.
    let reply = String::from_utf8_lossy(&reply);
    let errors: Vec<&str> = reply
        .lines()
        .map(|l| l.trim_matches(|c: char| c.is_control() || c == ' '))
        .filter(|l| !l.is_empty() && !l.contains(command) && *l != "(qemu)")
        .collect();
    writeln!(w, "quit").map_err(|e| e.to_string())?;
    if !errors.is_empty() {
        return Err(format!("monitor: {command}: {}", errors.join(" | ")));
    }
    let mut rest = String::new();
    let _ = r.read_line(&mut rest);
    Ok(())
}

/// The rows a screen of `cols` × `rows` shows after the console lines: from the last summary
/// header on, each line wrapped at `cols`, as the kernel's console lays them out (no scrolling
/// happens: the summary is short). None without a summary.
pub fn expected_rows(console: &[String], cols: usize, rows: usize) -> Option<Vec<String>> {
    let start = console.iter().rposition(|l| l.starts_with(SUMMARY_START))?;
    let mut out = Vec::new();
    for line in &console[start..] {
        let line = line.trim_end_matches('\r');
        let chars: Vec<char> = line
            .chars()
            .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
            .collect();
        if chars.is_empty() {
            out.push(String::new());
        }
        for chunk in chars.chunks(cols) {
            out.push(chunk.iter().collect());
        }
    }
    out.truncate(rows);
    Some(out)
}

/// The text of a VGA text buffer dump (character bytes of each cell), one string per row,
/// trailing blanks removed.
pub fn vga_rows(dump: &[u8], cols: usize) -> Vec<String> {
    dump.chunks(cols * 2)
        .map(|row| {
            let s: String = row.chunks(2).map(|c| c[0] as char).collect();
            s.trim_end().to_string()
        })
        .collect()
}

/// A binary PPM (P6, maxval 255): width, height, RGB bytes.
pub fn parse_ppm(d: &[u8]) -> Result<(usize, usize, &[u8]), String> {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while i < d.len() && d[i].is_ascii_whitespace() {
            i += 1;
        }
        if d.get(i) == Some(&b'#') {
            while i < d.len() && d[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while i < d.len() && !d[i].is_ascii_whitespace() {
            i += 1;
        }
        if start == i {
            return Err("truncated PPM header".into());
        }
        fields.push(String::from_utf8_lossy(&d[start..i]).to_string());
    }
    i += 1; // the single whitespace after maxval
    if fields[0] != "P6" || fields[3] != "255" {
        return Err(format!("not a P6/255 PPM: {} {}", fields[0], fields[3]));
    }
    let w: usize = fields[1].parse().map_err(|_| "bad PPM width")?;
    let h: usize = fields[2].parse().map_err(|_| "bad PPM height")?;
    let px = d.get(i..i + w * h * 3).ok_or("PPM pixels truncated")?;
    Ok((w, h, px))
}

/// Draw `rows` with the font into an RGB picture of `width` × `height` (cells of 8 × 16 from
/// the top left; the rest background), as the kernel draws them.
pub fn render(rows: &[String], glyphs: &[font::Glyph], width: usize, height: usize) -> Vec<u8> {
    let mut px = Vec::with_capacity(width * height * 3);
    for _ in 0..width * height {
        px.extend(BG);
    }
    for (r, text) in rows.iter().enumerate() {
        for (c, ch) in text.bytes().enumerate() {
            let g = &glyphs[(ch.clamp(font::FIRST, font::LAST) - font::FIRST) as usize];
            for (y, bits) in g.iter().enumerate() {
                for x in 0..font::WIDTH {
                    let (px_x, px_y) = (c * font::WIDTH + x, r * font::HEIGHT + y);
                    if px_x >= width || px_y >= height || bits & (0x80 >> x) == 0 {
                        continue;
                    }
                    let at = (px_y * width + px_x) * 3;
                    px[at..at + 3].copy_from_slice(&FG);
                }
            }
        }
    }
    px
}

/// Compare a framebuffer picture with the expected rows drawn with the font, over the
/// character cells the kernel uses (whole 8 × 16 cells from the top left). Err: how many
/// pixels differ and where the first is.
pub fn check_framebuffer(
    ppm: &[u8],
    console: &[String],
    glyphs: &[font::Glyph],
) -> Result<(), String> {
    let (w, h, px) = parse_ppm(ppm)?;
    let (cols, rows) = (w / font::WIDTH, h / font::HEIGHT);
    let want_rows =
        expected_rows(console, cols, rows).ok_or("the console has no end-of-run summary")?;
    let want = render(&want_rows, glyphs, w, h);
    let used_h = rows * font::HEIGHT;
    let used_w = cols * font::WIDTH;
    let mut bad = 0;
    let mut first = None;
    for y in 0..used_h {
        for x in 0..used_w {
            let at = (y * w + x) * 3;
            if px[at..at + 3] != want[at..at + 3] {
                bad += 1;
                first.get_or_insert((x, y));
            }
        }
    }
    match first {
        None => Ok(()),
        Some((x, y)) => Err(format!(
            "{bad} of {} pixels differ from the summary drawn on the host (first at x {x}, y \
             {y}: character row {}, column {})",
            used_w * used_h,
            y / font::HEIGHT,
            x / font::WIDTH
        )),
    }
}

/// Compare a VGA text dump with the expected rows.
pub fn check_vga_text(dump: &[u8], console: &[String]) -> Result<(), String> {
    let got = vga_rows(dump, VGA_COLS);
    let want = expected_rows(console, VGA_COLS, VGA_ROWS)
        .ok_or("the console has no end-of-run summary")?;
    for (i, w) in want.iter().enumerate() {
        let g = got.get(i).map(String::as_str).unwrap_or("");
        if g != w.trim_end() {
            return Err(format!(
                "VGA text row {i} reads {g:?}, the console says {:?}",
                w.trim_end()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rows_start_at_the_last_summary_and_wrap() {
        let c = lines(&[
            "boot",
            "== benchmark summary: FAIL == old",
            "x",
            "== benchmark summary: PASS ==",
            "abcdefghij",
            "",
            "é",
        ]);
        let r = expected_rows(&c, 4, 10).unwrap();
        assert_eq!(
            r,
            [
                "== b", "ench", "mark", " sum", "mary", ": PA", "SS =", "=", "abcd", "efgh"
            ]
        );
        let r = expected_rows(&c, 80, 25).unwrap();
        assert_eq!(r, ["== benchmark summary: PASS ==", "abcdefghij", "", "?"]);
        assert!(expected_rows(&lines(&["none"]), 80, 25).is_none());
    }

    #[test]
    fn vga_dump_to_rows() {
        let mut dump = vec![0u8; 80 * 25 * 2];
        for (i, b) in b"hi".iter().enumerate() {
            dump[i * 2] = *b;
            dump[i * 2 + 1] = 7;
        }
        for cell in dump.chunks_mut(2).skip(2) {
            cell[0] = b' ';
        }
        let rows = vga_rows(&dump, 80);
        assert_eq!(rows.len(), 25);
        assert_eq!(rows[0], "hi");
        let console = lines(&["== benchmark summary: PASS =="]);
        assert!(
            check_vga_text(&dump, &console)
                .unwrap_err()
                .contains("row 0")
        );
    }

    #[test]
    fn a_picture_drawn_like_the_kernel_passes_and_one_pixel_off_fails() {
        let mut glyphs = [[0u8; 16]; font::COUNT];
        glyphs[(b'=' - font::FIRST) as usize][8] = 0xFF;
        glyphs[(b'P' - font::FIRST) as usize][3] = 0x81;
        let console = lines(&["== benchmark summary: PASS =="]);
        let (w, h) = (80, 48);
        let rows = expected_rows(&console, w / 8, h / 16).unwrap();
        let px = render(&rows, &glyphs, w, h);
        let mut ppm = format!("P6\n# QEMU\n{w} {h}\n255\n").into_bytes();
        ppm.extend(&px);
        assert_eq!(check_framebuffer(&ppm, &console, &glyphs), Ok(()));
        let off = ppm.len() - px.len() + 8 * w * 3; // row 8, column 0
        ppm[off] ^= 0x10;
        let e = check_framebuffer(&ppm, &console, &glyphs).unwrap_err();
        assert!(e.contains("1 of") && e.contains("row 0, column 0"), "{e}");
        assert!(parse_ppm(b"P3\n1 1\n255\n").is_err());
    }

    #[test]
    fn capture_commands() {
        assert_eq!(
            capture_command(Kind::VgaText, Path::new("/t/v.bin")),
            "pmemsave 0xb8000 4000 \"/t/v.bin\""
        );
        assert_eq!(
            capture_command(Kind::Framebuffer, Path::new("/t/s.ppm")),
            "screendump \"/t/s.ppm\""
        );
    }
}
