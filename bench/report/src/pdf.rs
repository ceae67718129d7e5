//! A minimal PDF 1.4 writer for the figures' display list ([`crate::svg::Drawing`]): lines,
//! polylines, dashes, rectangles, circles and text in the base-14 Helvetica fonts, one page,
//! one flate-compressed content stream. No external program, no font embedded: every PDF
//! reader has Helvetica (or a metric-compatible substitute), and the text is placed with
//! Helvetica's standard character widths, so text anchored at its middle or end lands where
//! the SVG puts it.
//!
//! Text is encoded in WinAnsiEncoding: printable ASCII as is (`(`, `)` and `\` escaped), the
//! few other characters the figures use (`–`, `—`, `×`, `…`, `·`, `µ`, `°`, `±`, `•`) as their
//! WinAnsi codes, anything else as `?`.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::svg::{Anchor, Drawing, Item, Rgb, Stroke};

/// Helvetica's advance widths (1/1000 em) of the printable ASCII characters 32..=126, as the
/// Adobe Font Metrics give them, in WinAnsiEncoding (39 is `quotesingle`, 96 `grave`).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0..9
    278, 278, 584, 584, 584, 556, 1015, // :..@
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,
    611, 722, 667, 944, 667, 667, 611, // A..Z
    278, 278, 278, 469, 556, 333, // [..`
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
    278, 556, 500, 722, 500, 500, 500, // a..z
    334, 260, 334, 584, // {..~
];

/// Helvetica-Bold's, likewise.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278,
    278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0..9
    333, 333, 584, 584, 584, 611, 975, // :..@
    722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667,
    611, 722, 667, 944, 667, 667, 611, // A..Z
    333, 278, 333, 584, 556, 333, // [..`
    556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556,
    333, 611, 556, 778, 556, 556, 500, // a..z
    389, 280, 389, 584, // {..~
];

/// The characters beyond ASCII that have a WinAnsi code here: (char, code, width, bold width).
const EXTRA: [(char, u8, u16, u16); 9] = [
    ('–', 0x96, 556, 556),
    ('—', 0x97, 1000, 1000),
    ('×', 0xd7, 584, 584),
    ('…', 0x85, 1000, 1000),
    ('·', 0xb7, 278, 278),
    ('µ', 0xb5, 556, 611),
    ('°', 0xb0, 400, 400),
    ('±', 0xb1, 584, 584),
    ('•', 0x95, 350, 350),
];

/// The WinAnsi byte of a character: printable ASCII, one of [`EXTRA`], else `?`.
fn win_ansi(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        _ => EXTRA.iter().find(|e| e.0 == c).map_or(b'?', |e| e.1),
    }
}

/// The advance width of one WinAnsi byte, in 1/1000 em.
fn byte_width(b: u8, bold: bool) -> u16 {
    match b {
        32..=126 => {
            let t = if bold { &HELVETICA_BOLD } else { &HELVETICA };
            t[(b - 32) as usize]
        }
        _ => EXTRA
            .iter()
            .find(|e| e.1 == b)
            .map_or(556, |e| if bold { e.3 } else { e.2 }),
    }
}

/// The width of `text` in Helvetica (or Helvetica-Bold) at `size` points, as a PDF reader
/// sets it (no kerning); the SVG's Helvetica/Arial has the same widths.
pub(crate) fn text_width(text: &str, size: f64, bold: bool) -> f64 {
    let units: u32 = text
        .chars()
        .map(|c| u32::from(byte_width(win_ansi(c), bold)))
        .sum();
    f64::from(units) * size / 1000.0
}

/// A PDF literal string: `(…)` with `(`, `)` and `\` escaped, bytes outside printable ASCII as
/// octal escapes, characters without a WinAnsi code as `?`.
pub(crate) fn pdf_string(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('(');
    for c in text.chars() {
        match win_ansi(c) {
            b @ (b'(' | b')' | b'\\') => {
                s.push('\\');
                s.push(b as char);
            }
            b @ 32..=126 => s.push(b as char),
            b => s.push_str(&format!("\\{b:03o}")),
        }
    }
    s.push(')');
    s
}

/// A number for the content stream: at most two decimals, no trailing zeros.
fn n(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

fn rgb(c: Rgb) -> String {
    format!(
        "{} {} {}",
        n(f64::from(c.0) / 255.0),
        n(f64::from(c.1) / 255.0),
        n(f64::from(c.2) / 255.0)
    )
}

/// Sets the stroke colour, width and dash.
fn stroke(out: &mut String, s: &Stroke) {
    let dash: Vec<String> = s.dash.pattern().iter().map(|v| n(*v)).collect();
    out.push_str(&format!(
        "{} RG {} w [{}] 0 d\n",
        rgb(s.color),
        n(s.width),
        dash.join(" ")
    ));
}

/// The page's content stream: the drawing's items in order, y flipped (PDF's origin is at the
/// bottom left, the drawing's at the top left).
fn content(d: &Drawing) -> String {
    let h = d.height;
    let y = |v: f64| n(h - v);
    let mut o = String::from("1 J 1 j\n");
    for item in &d.items {
        match item {
            Item::Line {
                x1,
                y1,
                x2,
                y2,
                stroke: s,
                ..
            } => {
                stroke(&mut o, s);
                o.push_str(&format!(
                    "{} {} m {} {} l S\n",
                    n(*x1),
                    y(*y1),
                    n(*x2),
                    y(*y2)
                ));
            }
            Item::Polyline {
                points, stroke: s, ..
            } => {
                if points.len() < 2 {
                    continue;
                }
                stroke(&mut o, s);
                for (i, (px, py)) in points.iter().enumerate() {
                    let op = if i == 0 { "m" } else { "l" };
                    o.push_str(&format!("{} {} {op}\n", n(*px), y(*py)));
                }
                o.push_str("S\n");
            }
            Item::Segments {
                segs, stroke: s, ..
            } => {
                stroke(&mut o, s);
                for [x1, y1, x2, y2] in segs {
                    o.push_str(&format!(
                        "{} {} m {} {} l\n",
                        n(*x1),
                        y(*y1),
                        n(*x2),
                        y(*y2)
                    ));
                }
                o.push_str("S\n");
            }
            Item::Rect {
                x,
                y: ry,
                w,
                h: rh,
                fill,
                stroke: s,
                ..
            } => {
                if let Some(f) = fill {
                    o.push_str(&format!("{} rg\n", rgb(*f)));
                }
                if let Some(s) = s {
                    stroke(&mut o, s);
                }
                let op = match (fill.is_some(), s.is_some()) {
                    (true, true) => "B",
                    (true, false) => "f",
                    (false, true) => "S",
                    (false, false) => "n",
                };
                o.push_str(&format!(
                    "{} {} {} {} re {op}\n",
                    n(*x),
                    y(*ry + *rh),
                    n(*w),
                    n(*rh)
                ));
            }
            Item::Circle {
                cx,
                cy,
                r,
                fill,
                stroke: s,
            } => {
                o.push_str(&format!("{} rg\n", rgb(*fill)));
                stroke(&mut o, s);
                // Four Bézier quarter arcs.
                let k = 0.552_284_75 * r;
                let (cx, cy) = (*cx, h - *cy);
                o.push_str(&format!("{} {} m\n", n(cx + r), n(cy)));
                for (x1, y1, x2, y2, x3, y3) in [
                    (cx + r, cy + k, cx + k, cy + r, cx, cy + r),
                    (cx - k, cy + r, cx - r, cy + k, cx - r, cy),
                    (cx - r, cy - k, cx - k, cy - r, cx, cy - r),
                    (cx + k, cy - r, cx + r, cy - k, cx + r, cy),
                ] {
                    o.push_str(&format!(
                        "{} {} {} {} {} {} c\n",
                        n(x1),
                        n(y1),
                        n(x2),
                        n(y2),
                        n(x3),
                        n(y3)
                    ));
                }
                o.push_str("b\n");
            }
            Item::Text {
                x,
                y: ty,
                text,
                size,
                anchor,
                bold,
                color,
                angle,
                ..
            } => {
                let w = text_width(text, *size, *bold);
                let shift = match anchor {
                    Anchor::Start => 0.0,
                    Anchor::Middle => -w / 2.0,
                    Anchor::End => -w,
                };
                // The drawing's angle turns clockwise on the page (y down); PDF's y is up.
                let (s, c) = angle.to_radians().sin_cos();
                o.push_str(&format!(
                    "BT /{} {} Tf {} rg {} {} {} {} {} {} Tm {} 0 Td {} Tj ET\n",
                    if *bold { "F2" } else { "F1" },
                    n(*size),
                    rgb(*color),
                    n(c),
                    n(-s),
                    n(s),
                    n(c),
                    n(*x),
                    y(*ty),
                    n(shift),
                    pdf_string(text)
                ));
            }
        }
    }
    o
}

/// The drawing as a one-page PDF 1.4 file (page size = the drawing's size in points).
pub(crate) fn render(d: &Drawing) -> Vec<u8> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(content(d).as_bytes())
        .expect("writing to memory");
    let stream = z.finish().expect("writing to memory");

    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
            n(d.width),
            n(d.height)
        )
        .into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    ];
    let mut s = format!(
        "<< /Length {} /Filter /FlateDecode >>\nstream\n",
        stream.len()
    )
    .into_bytes();
    s.extend_from_slice(&stream);
    s.extend_from_slice(b"\nendstream");
    objects.push(s);
    objects.push(
        format!(
            "<< /Title {} /Producer (bench-report) >>",
            pdf_string(&d.title)
        )
        .into_bytes(),
    );

    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let size = objects.len() + 1;
    out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {size} /Root 1 0 R /Info {} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            size - 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Read;

    /// Checks the file's structure: header, every xref offset pointing at its object, startxref
    /// pointing at the xref table, `%%EOF` last. Returns the inflated content stream.
    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).rposition(|w| w == needle)
    }

    /// The decimal number at `at` (up to the next whitespace).
    fn number_at(pdf: &[u8], at: usize) -> usize {
        let end = at
            + pdf[at..]
                .iter()
                .position(|b| b.is_ascii_whitespace())
                .unwrap();
        std::str::from_utf8(&pdf[at..end]).unwrap().parse().unwrap()
    }

    /// Checks the file's structure: header, every xref offset pointing at its object, startxref
    /// pointing at the xref table, `%%EOF` last, the stream's /Length right. Returns the
    /// inflated content stream.
    pub(crate) fn check_structure(pdf: &[u8]) -> String {
        assert!(pdf.starts_with(b"%PDF-1.4\n"), "header");
        assert!(pdf.ends_with(b"%%EOF\n"), "trailer");
        let sx = rfind(pdf, b"startxref\n").expect("startxref");
        let xref = number_at(pdf, sx + 10);
        assert_eq!(
            &pdf[xref..xref + 5],
            b"xref\n",
            "startxref points at the xref table"
        );
        assert_eq!(&pdf[xref + 5..xref + 7], b"0 ");
        let count = number_at(pdf, xref + 7);
        // Each entry is exactly 20 bytes, so the table can be indexed.
        let entries = xref + 5 + format!("0 {count}\n").len();
        let mut max_end = 0;
        for i in 0..count {
            let e = &pdf[entries + i * 20..entries + (i + 1) * 20];
            let off = number_at(e, 0);
            if i == 0 {
                assert_eq!(&e[10..], b" 65535 f \n");
                continue;
            }
            assert_eq!(&e[10..], b" 00000 n \n");
            let want = format!("{i} 0 obj\n");
            assert_eq!(
                &pdf[off..off + want.len()],
                want.as_bytes(),
                "object {i} at offset {off}"
            );
            let end = off + find(&pdf[off..], b"\nendobj\n").unwrap();
            max_end = max_end.max(end);
        }
        assert!(max_end < xref, "the objects come before the xref table");
        let trailer = &pdf[entries + count * 20..];
        assert!(trailer.starts_with(format!("trailer\n<< /Size {count} ").as_bytes()));
        // The content stream: /Length bytes after `stream\n`, then `\nendstream`.
        let marker = b"/FlateDecode >>\nstream\n";
        let at = find(pdf, marker).expect("a content stream");
        let len_at = rfind(&pdf[..at], b"/Length ").unwrap() + 8;
        let len = number_at(pdf, len_at);
        let start = at + marker.len();
        assert_eq!(&pdf[start + len..start + len + 10], b"\nendstream");
        let mut s = String::new();
        flate2::read::ZlibDecoder::new(&pdf[start..start + len])
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn every_primitive_renders_and_text_is_escaped() {
        use crate::svg::{Anchor, BLACK, Dash, Font, PALETTE, WHITE};
        let mut d = Drawing::new(240.0, "a (title) \\ with → arrow");
        d.height = 100.0;
        d.line(
            [0.0, 0.0, 10.0, 10.0],
            Stroke::dashed(BLACK, 1.0, Dash::Dashed),
            "",
            "",
        );
        d.items.push(Item::Polyline {
            points: vec![(0.0, 0.0), (5.0, 5.0), (10.0, 0.0)],
            stroke: Stroke::new(PALETTE[1], 1.0),
            class: "",
            label: String::new(),
        });
        d.items.push(Item::Segments {
            segs: vec![[1.0, 1.0, 1.0, 9.0]],
            stroke: Stroke::new(PALETTE[2], 0.5),
            class: "",
        });
        d.items.push(Item::Rect {
            x: 10.0,
            y: 20.0,
            w: 5.0,
            h: 10.0,
            fill: Some(PALETTE[3]),
            stroke: None,
            tip: String::new(),
        });
        d.items.push(Item::Circle {
            cx: 50.0,
            cy: 50.0,
            r: 2.0,
            fill: WHITE,
            stroke: Stroke::new(BLACK, 1.0),
        });
        d.text(
            120.0,
            40.0,
            "p(5)\\95 – µs é",
            Font::new(8.0).anchor(Anchor::End),
            "",
        );
        d.text(20.0, 60.0, "up", Font::new(8.0).angle(-90.0).bold(), "");
        let pdf = render(&d);
        let content = check_structure(&pdf);
        assert!(content.contains("[4 2] 0 d"), "{content}");
        assert!(
            content.contains("0 100 m 10 90 l S"),
            "y flipped: {content}"
        );
        assert!(content.contains("10 70 5 10 re f"), "{content}");
        assert!(content.contains(" c\nb\n"), "{content}");
        // Anchored at its end: moved left by its width.
        let w = text_width("p(5)\\95 – µs é", 8.0, false);
        assert!(
            content.contains(&format!(
                "1 0 0 1 120 60 Tm {} 0 Td (p\\(5\\)\\\\95 \\226 \\265s ?) Tj",
                n(-w)
            )),
            "{content}"
        );
        // Turned a quarter counterclockwise, in the bold font.
        assert!(
            content.contains("BT /F2 8 Tf 0 0 0 rg 0 1 -1 0 20 40 Tm 0 0 Td (up) Tj ET"),
            "{content}"
        );
        let text = String::from_utf8_lossy(&pdf);
        assert!(
            text.contains("/Title (a \\(title\\) \\\\ with ? arrow)"),
            "{text}"
        );
        assert!(text.contains("/MediaBox [0 0 240 100]"));
    }

    #[test]
    fn widths_and_encoding() {
        // "Hi" = H 722 + i 222.
        assert!((text_width("Hi", 10.0, false) - 9.44).abs() < 1e-9);
        assert!((text_width("Hi", 10.0, true) - 10.0).abs() < 1e-9);
        assert_eq!(text_width("", 8.0, false), 0.0);
        assert!((text_width("×", 1000.0, false) - 584.0).abs() < 1e-9);
        assert_eq!(pdf_string("a(b)c\\d"), "(a\\(b\\)c\\\\d)");
        assert_eq!(pdf_string("p5–p95 ×2"), "(p5\\226p95 \\3272)");
        assert_eq!(pdf_string("→é\u{1F600}"), "(???)");
        assert_eq!(n(1.0), "1");
        assert_eq!(n(-0.001), "0");
        assert_eq!(n(2.346), "2.35");
    }
}
