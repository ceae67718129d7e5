//! The screen font: printable ASCII (0x20..=0x7E) as 8×16 bitmaps, one byte per row, bit 7 the
//! leftmost pixel. Taken at build time from a GRUB PF2 font file (GRUB's `ascii.pf2`, GNU
//! Unifont, installed with grub-common), so the kernel's framebuffer console and the host's
//! check of a screenshot draw the same pixels.
//!
//! PF2 (GRUB's font format): a sequence of sections `name[4] length:u32be data[length]`;
//! `ASCE` holds the ascent (u16be), `CHIX` the index (9 bytes per glyph: code point u32be,
//! flags u8, offset of its glyph in the file u32be), `DATA` runs to the end of the file. A glyph
//! is `width u16be, height u16be, x_offset i16be, y_offset i16be, device_width i16be`, then
//! its bitmap, `width × height` bits row by row, most significant bit first, not padded.

/// GRUB's ASCII font (GNU Unifont, 8x16), installed with grub-common: the font the kernel is
/// built with unless `KERNEL_FONT_PF2` names another, and the one the host draws with.
pub const DEFAULT_PF2: &str = "/usr/share/grub/ascii.pf2";

/// Cell size of the console font.
pub const WIDTH: usize = 8;
/// Cell height.
pub const HEIGHT: usize = 16;
/// First and last character in the table.
pub const FIRST: u8 = 0x20;
/// Last character.
pub const LAST: u8 = 0x7E;
/// Glyphs in the table.
pub const COUNT: usize = (LAST - FIRST + 1) as usize;

/// One 8×16 glyph.
pub type Glyph = [u8; HEIGHT];

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *d.get(at)?,
        *d.get(at + 1)?,
        *d.get(at + 2)?,
        *d.get(at + 3)?,
    ]))
}

/// The glyphs of 0x20..=0x7E from a PF2 file, placed in 8×16 cells on the font's baseline.
/// A character the font lacks stays blank.
pub fn from_pf2(d: &[u8]) -> Result<[Glyph; COUNT], &'static str> {
    if d.get(0..12) != Some(b"FILE\0\0\0\x04PFF2".as_slice()) {
        return Err("not a PF2 font (no FILE/PFF2 header)");
    }
    let mut at = 12;
    let mut ascent = None;
    let mut chix: Option<&[u8]> = None;
    while at + 8 <= d.len() {
        let name = &d[at..at + 4];
        let len = be32(d, at + 4).ok_or("truncated section header")? as usize;
        if name == b"DATA" {
            break;
        }
        let body = d
            .get(at + 8..at + 8 + len)
            .ok_or("a section runs past the end")?;
        match name {
            b"ASCE" => ascent = Some(be16(body, 0).ok_or("short ASCE")? as i32),
            b"CHIX" => chix = Some(body),
            _ => {}
        }
        at += 8 + len;
    }
    let ascent = ascent.ok_or("no ASCE section")?;
    let chix = chix.ok_or("no CHIX section")?;
    let mut out = [[0u8; HEIGHT]; COUNT];
    for entry in chix.chunks_exact(9) {
        let cp = be32(entry, 0).ok_or("short index")?;
        if cp < FIRST as u32 || cp > LAST as u32 {
            continue;
        }
        let off = be32(entry, 5).ok_or("short index")? as usize;
        let w = be16(d, off).ok_or("glyph past the end")? as i32;
        let h = be16(d, off + 2).ok_or("glyph past the end")? as i32;
        let xo = be16(d, off + 4).ok_or("glyph past the end")? as i16 as i32;
        let yo = be16(d, off + 6).ok_or("glyph past the end")? as i16 as i32;
        let bits = d
            .get(off + 10..off + 10 + ((w * h + 7) / 8) as usize)
            .ok_or("glyph bitmap past the end")?;
        let glyph = &mut out[(cp - FIRST as u32) as usize];
        let top = ascent - (yo + h);
        for y in 0..h {
            for x in 0..w {
                let bit = (y * w + x) as usize;
                if bits[bit / 8] & (0x80 >> (bit % 8)) == 0 {
                    continue;
                }
                let (cx, cy) = (xo + x, top + y);
                if (0..WIDTH as i32).contains(&cx) && (0..HEIGHT as i32).contains(&cy) {
                    glyph[cy as usize] |= 0x80 >> cx;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(name: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = name.to_vec();
        v.extend((body.len() as u32).to_be_bytes());
        v.extend(body);
        v
    }

    /// A font with one glyph: 'A' as a 2×3 block whose bottom sits 1 row above the baseline,
    /// 3 pixels from the left.
    fn font() -> Vec<u8> {
        let mut d = section(b"FILE", b"PFF2");
        d.extend(section(b"ASCE", &14u16.to_be_bytes()));
        let data_at = d.len() + 8 + 9 + 8;
        let mut chix = b'A'.to_be_bytes().to_vec();
        chix = [0, 0, 0, chix[0]].to_vec();
        chix.push(0);
        chix.extend((data_at as u32).to_be_bytes());
        d.extend(section(b"CHIX", &chix));
        d.extend(b"DATA\xff\xff\xff\xff");
        assert_eq!(d.len(), data_at);
        for v in [2u16, 3, 3, 1, 8] {
            d.extend(v.to_be_bytes());
        }
        d.push(0b1111_1100); // 6 bits: three rows of "11"
        d
    }

    #[test]
    fn a_glyph_lands_on_the_baseline() {
        let g = from_pf2(&font()).unwrap();
        let a = &g[(b'A' - FIRST) as usize];
        // top = ascent - (y_offset + height) = 14 - 4 = 10: rows 10, 11, 12.
        for (row, bits) in a.iter().enumerate() {
            let want = if (10..13).contains(&row) {
                0b0001_1000
            } else {
                0
            };
            assert_eq!(*bits, want, "row {row}");
        }
        assert!(
            g[(b'B' - FIRST) as usize].iter().all(|&r| r == 0),
            "missing: blank"
        );
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(from_pf2(b"nonsense").is_err());
        let mut f = font();
        f.truncate(40);
        assert!(from_pf2(&f).is_err());
    }

    #[test]
    fn grubs_ascii_font_when_installed() {
        let Ok(d) = std::fs::read("/usr/share/grub/ascii.pf2") else {
            return;
        };
        let g = from_pf2(&d).unwrap();
        // 'H': two vertical strokes; ' ' blank; every printable but space has pixels.
        assert!(g[0].iter().all(|&r| r == 0));
        for (i, glyph) in g.iter().enumerate().skip(1) {
            assert!(
                glyph.iter().any(|&r| r != 0),
                "char {:#x}",
                i + FIRST as usize
            );
        }
        let h = &g[(b'H' - FIRST) as usize];
        assert!(
            h.iter().filter(|&&r| r == 0b0100_0010).count() >= 4,
            "{h:?}"
        );
    }
}
