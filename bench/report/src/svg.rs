//! Figures, drawn once and rendered twice: a small display list (`Drawing`: lines,
//! polylines, whiskers, rectangles, circles, text) that `Drawing::svg` turns into SVG and
//! `Drawing::pdf` into PDF (see `crate::pdf`), and the line chart built on it
//! (`Chart`: axes with tick labels, linear or log10 y, caller-placed x ticks, series with
//! markers and whiskers, dashed reference lines) laid out alone or as small multiples
//! (`Figure`) with the legend below the plots.
//!
//! Sizes are PostScript points: a figure is `COLUMN_WIDTH` wide (a 3.3 in paper column) or
//! `FULL_WIDTH` (7 in, small multiples); text is 7–9 pt at that size, so it stays legible
//! when the figure is placed at its width. Text is measured with Helvetica's widths (Arial's
//! are the same) to wrap titles and lay the legend out.

use std::fmt::Write;

use crate::fmt::{tick, xml};
use crate::pdf::text_width;

/// Layout slack on text widths: an SVG viewer without Helvetica, Arial or a metric-compatible
/// font (Liberation Sans, Nimbus Sans) sets the text in a wider sans-serif such as DejaVu Sans
/// (about 10 % wider), which must still fit.
const SLACK: f64 = 1.12;

/// The width to lay `text` out with: Helvetica's width and some slack (see [`SLACK`]).
pub(crate) fn measure(text: &str, size: f64, bold: bool) -> f64 {
    text_width(text, size, bold) * SLACK
}

/// A colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb`, or `white`.
    fn svg(self) -> String {
        if self == WHITE {
            "white".into()
        } else {
            format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
        }
    }
}

/// Ten distinguishable colours (the matplotlib "tab10" set).
pub(crate) const PALETTE: [Rgb; 10] = [
    Rgb(0x1f, 0x77, 0xb4),
    Rgb(0xd6, 0x27, 0x28),
    Rgb(0x2c, 0xa0, 0x2c),
    Rgb(0xff, 0x7f, 0x0e),
    Rgb(0x94, 0x67, 0xbd),
    Rgb(0x8c, 0x56, 0x4b),
    Rgb(0xe3, 0x77, 0xc2),
    Rgb(0x7f, 0x7f, 0x7f),
    Rgb(0xbc, 0xbd, 0x22),
    Rgb(0x17, 0xbe, 0xcf),
];
pub(crate) const BLACK: Rgb = Rgb(0, 0, 0);
pub(crate) const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);
const GRID: Rgb = Rgb(0xe4, 0xe4, 0xe4);
const SUBTLE: Rgb = Rgb(0x44, 0x44, 0x44);

/// The most data series one panel overlays: more are split into small multiples.
pub(crate) const MAX_SERIES: usize = 6;

/// A single-column figure's width: 3.3 in.
pub(crate) const COLUMN_WIDTH: f64 = 240.0;
/// A full-width figure's (small multiples): 7 in.
pub(crate) const FULL_WIDTH: f64 = 504.0;
const MARGIN: f64 = 6.0;
pub(crate) const TITLE_SIZE: f64 = 9.0;
/// Subtitles, tick labels, legends.
pub(crate) const TEXT_SIZE: f64 = 7.0;
/// Axis labels and panel titles.
pub(crate) const LABEL_SIZE: f64 = 8.0;
/// The plot area's height, alone and in small multiples.
const PLOT_HEIGHT: f64 = 130.0;
const PANEL_HEIGHT: f64 = 100.0;
/// Inset of the data from the plot area's left and right edges.
const PAD: f64 = 4.0;
const TICK: f64 = 3.0;

/// Axis ticks: position and label.
pub(crate) type Ticks = Vec<(f64, String)>;

/// A line's dash pattern (see [`Dash::pattern`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum Dash {
    #[default]
    Solid,
    Dashed,
    Dotted,
    /// Dash-dot.
    Chain,
    Long,
    /// Dash-dot-dot.
    DoubleChain,
}

impl Dash {
    /// The dash pattern in points (empty: solid).
    pub(crate) fn pattern(self) -> &'static [f64] {
        match self {
            Dash::Solid => &[],
            Dash::Dashed => &[4.0, 2.0],
            Dash::Dotted => &[0.8, 1.6],
            Dash::Chain => &[5.0, 1.5, 1.0, 1.5],
            Dash::Long => &[8.0, 2.5],
            Dash::DoubleChain => &[5.0, 1.5, 1.0, 1.5, 1.0, 1.5],
        }
    }

    fn svg(self) -> String {
        let p = self.pattern();
        if p.is_empty() {
            String::new()
        } else {
            let v: Vec<String> = p.iter().map(|x| format!("{x}")).collect();
            format!(r#" stroke-dasharray="{}""#, v.join(" "))
        }
    }
}

/// Reference lines (floors): colours and dashes distinct from each other.
const REF_STYLES: [(Rgb, Dash); 6] = [
    (Rgb(0x33, 0x33, 0x33), Dash::Long),
    (Rgb(0x77, 0x77, 0x77), Dash::Dotted),
    (Rgb(0xaa, 0x55, 0x00), Dash::Chain),
    (Rgb(0x00, 0x5f, 0x5f), Dash::Dashed),
    (Rgb(0x5f, 0x00, 0x5f), Dash::Long),
    (Rgb(0x33, 0x33, 0x33), Dash::DoubleChain),
];

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stroke {
    pub color: Rgb,
    pub width: f64,
    pub dash: Dash,
}

impl Stroke {
    pub fn new(color: Rgb, width: f64) -> Stroke {
        Stroke {
            color,
            width,
            dash: Dash::Solid,
        }
    }
    pub fn dashed(color: Rgb, width: f64, dash: Dash) -> Stroke {
        Stroke { color, width, dash }
    }
    fn svg(&self) -> String {
        format!(
            r#" stroke="{}" stroke-width="{}"{}"#,
            self.color.svg(),
            self.width,
            self.dash.svg()
        )
    }
}

/// Where a text's anchor point is along it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// One drawing primitive. `class` and `label` only mark the SVG (for readers and tests).
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Line {
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
        stroke: Stroke,
        class: &'static str,
        label: String,
    },
    Polyline {
        points: Vec<(f64, f64)>,
        stroke: Stroke,
        class: &'static str,
        label: String,
    },
    /// Separate straight segments `[x1, y1, x2, y2]` in one stroke (whiskers and their caps).
    Segments {
        segs: Vec<[f64; 4]>,
        stroke: Stroke,
        class: &'static str,
    },
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Option<Rgb>,
        stroke: Option<Stroke>,
        /// A tooltip (SVG `<title>`).
        tip: String,
    },
    Circle {
        cx: f64,
        cy: f64,
        r: f64,
        fill: Rgb,
        stroke: Stroke,
    },
    Text {
        x: f64,
        y: f64,
        text: String,
        size: f64,
        anchor: Anchor,
        bold: bool,
        color: Rgb,
        /// Degrees, clockwise on the page (SVG's `rotate`).
        angle: f64,
        class: &'static str,
    },
}

/// How a text is set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Font {
    pub size: f64,
    pub anchor: Anchor,
    pub bold: bool,
    pub color: Rgb,
    pub angle: f64,
}

impl Font {
    pub fn new(size: f64) -> Font {
        Font {
            size,
            anchor: Anchor::Start,
            bold: false,
            color: BLACK,
            angle: 0.0,
        }
    }
    pub fn anchor(self, anchor: Anchor) -> Font {
        Font { anchor, ..self }
    }
    pub fn bold(self) -> Font {
        Font { bold: true, ..self }
    }
    pub fn color(self, color: Rgb) -> Font {
        Font { color, ..self }
    }
    pub fn angle(self, angle: f64) -> Font {
        Font { angle, ..self }
    }
}

/// What one panel of a figure overlays, for checking the figures (at most [`MAX_SERIES`]
/// series, no colour and dash twice).
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct PanelStyle {
    /// Stacked bars (segments side by side, not overlaid).
    pub stacked: bool,
    /// The data series: label, colour, dash.
    pub series: Vec<(String, Rgb, Dash)>,
    /// Reference lines and markers: label, colour, dash.
    pub refs: Vec<(String, Rgb, Dash)>,
}

/// A figure as a display list, in points, origin at the top left.
#[derive(Debug, Clone)]
pub(crate) struct Drawing {
    pub width: f64,
    pub height: f64,
    /// The document title (SVG `<title>`, PDF `/Title`).
    pub title: String,
    pub items: Vec<Item>,
    pub panels: Vec<PanelStyle>,
}

fn f1(v: f64) -> String {
    let s = format!("{v:.1}");
    if s == "-0.0" { "0.0".into() } else { s }
}

impl Drawing {
    pub fn new(width: f64, title: &str) -> Drawing {
        Drawing {
            width,
            height: 0.0,
            title: title.to_string(),
            items: Vec::new(),
            panels: Vec::new(),
        }
    }

    pub fn line(&mut self, p: [f64; 4], stroke: Stroke, class: &'static str, label: &str) {
        self.items.push(Item::Line {
            x1: p[0],
            y1: p[1],
            x2: p[2],
            y2: p[3],
            stroke,
            class,
            label: label.to_string(),
        });
    }

    pub fn text(&mut self, x: f64, y: f64, text: &str, font: Font, class: &'static str) {
        self.items.push(Item::Text {
            x,
            y,
            text: text.to_string(),
            size: font.size,
            anchor: font.anchor,
            bold: font.bold,
            color: font.color,
            angle: font.angle,
            class,
        });
    }

    /// The drawing as an SVG document (starts with `<svg`); its user unit is the point.
    pub fn svg(&self) -> String {
        let (w, h) = (self.width.ceil(), self.height.ceil());
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}pt" height="{h}pt" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, 'Liberation Sans', 'Nimbus Sans', sans-serif">"#
        );
        let _ = writeln!(s, "<title>{}</title>", xml(&self.title));
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        for item in &self.items {
            item_svg(&mut s, item);
        }
        s.push_str("</svg>\n");
        s
    }

    /// The drawing as a one-page PDF.
    pub fn pdf(&self) -> Vec<u8> {
        crate::pdf::render(self)
    }
}

/// ` class="…"` and ` data-label="…"` where set.
fn marks(class: &str, label: &str) -> String {
    let mut s = String::new();
    if !class.is_empty() {
        let _ = write!(s, r#" class="{class}""#);
    }
    if !label.is_empty() {
        let _ = write!(s, r#" data-label="{}""#, xml(label));
    }
    s
}

fn item_svg(s: &mut String, item: &Item) {
    match item {
        Item::Line {
            x1,
            y1,
            x2,
            y2,
            stroke,
            class,
            label,
        } => {
            let _ = writeln!(
                s,
                r#"<line{} x1="{}" y1="{}" x2="{}" y2="{}"{}/>"#,
                marks(class, label),
                f1(*x1),
                f1(*y1),
                f1(*x2),
                f1(*y2),
                stroke.svg()
            );
        }
        Item::Polyline {
            points,
            stroke,
            class,
            label,
        } => {
            let pts: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{},{}", f1(*x), f1(*y)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline{} fill="none"{} stroke-linejoin="round" points="{}"/>"#,
                marks(class, label),
                stroke.svg(),
                pts.join(" ")
            );
        }
        Item::Segments {
            segs,
            stroke,
            class,
        } => {
            let mut d = String::new();
            for [a, b, c, e] in segs {
                let _ = write!(d, "M{},{}L{},{}", f1(*a), f1(*b), f1(*c), f1(*e));
            }
            let _ = writeln!(
                s,
                r#"<path{} d="{d}" fill="none"{}/>"#,
                marks(class, ""),
                stroke.svg()
            );
        }
        Item::Rect {
            x,
            y,
            w,
            h,
            fill,
            stroke,
            tip,
        } => {
            let fill = fill.map_or("none".to_string(), Rgb::svg);
            let stroke = stroke.as_ref().map(Stroke::svg).unwrap_or_default();
            let body = if tip.is_empty() {
                "/>".to_string()
            } else {
                format!("><title>{}</title></rect>", xml(tip))
            };
            let _ = writeln!(
                s,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}"{stroke}{body}"#,
                f1(*x),
                f1(*y),
                f1(*w),
                f1(*h)
            );
        }
        Item::Circle {
            cx,
            cy,
            r,
            fill,
            stroke,
        } => {
            let _ = writeln!(
                s,
                r#"<circle cx="{}" cy="{}" r="{r}" fill="{}"{}/>"#,
                f1(*cx),
                f1(*cy),
                fill.svg(),
                stroke.svg()
            );
        }
        Item::Text {
            x,
            y,
            text,
            size,
            anchor,
            bold,
            color,
            angle,
            class,
        } => {
            let mut a = marks(class, "");
            let _ = write!(a, r#" x="{}" y="{}" font-size="{size}""#, f1(*x), f1(*y));
            match anchor {
                Anchor::Start => {}
                Anchor::Middle => a.push_str(r#" text-anchor="middle""#),
                Anchor::End => a.push_str(r#" text-anchor="end""#),
            }
            if *bold {
                a.push_str(r#" font-weight="bold""#);
            }
            if *color != BLACK {
                let _ = write!(a, r#" fill="{}""#, color.svg());
            }
            if *angle != 0.0 {
                let _ = write!(a, r#" transform="rotate({angle} {} {})""#, f1(*x), f1(*y));
            }
            let _ = writeln!(s, "<text{a}>{}</text>", xml(text));
        }
    }
}

/// Splits `text` at spaces into lines no wider than `width` (a word wider than that gets a
/// line of its own).
pub(crate) fn wrap(text: &str, font: Font, width: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let cand = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if !cur.is_empty() && measure(&cand, font.size, font.bold) > width {
            lines.push(std::mem::replace(&mut cur, word.to_string()));
        } else {
            cur = cand;
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Writes wrapped text from `top` down; returns the y below it.
fn paragraph(
    d: &mut Drawing,
    text: &str,
    font: Font,
    x: f64,
    top: f64,
    width: f64,
    class: &'static str,
) -> f64 {
    let mut y = top;
    for line in wrap(text, font, width) {
        d.text(x, y + font.size * 0.85, &line, font, class);
        y += font.size * 1.2;
    }
    y
}

/// The figure's title and subtitle at the top; returns the y below them.
pub(crate) fn header(d: &mut Drawing, title: &str, subtitle: &str) -> f64 {
    let w = d.width - 2.0 * MARGIN;
    let mut y = paragraph(
        d,
        title,
        Font::new(TITLE_SIZE).bold(),
        MARGIN,
        MARGIN,
        w,
        "title",
    );
    if !subtitle.is_empty() {
        y = paragraph(
            d,
            subtitle,
            Font::new(TEXT_SIZE).color(SUBTLE),
            MARGIN,
            y + 1.0,
            w,
            "subtitle",
        );
    }
    y + 4.0
}

/// One legend entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LegendEntry {
    pub label: String,
    pub stroke: Stroke,
    /// A marker on the sample line (a series drawn with markers).
    pub marker: bool,
    /// A filled square instead of a line (a bar segment).
    pub swatch: bool,
}

const LEGEND_SAMPLE: f64 = 14.0;
const LEGEND_ROW: f64 = TEXT_SIZE * 1.3;

/// Draws the legend, its entries flowed into rows across `x0..x1` from `top` (a label too
/// long for the width wrapped); returns the y below it.
pub(crate) fn legend(d: &mut Drawing, entries: &[LegendEntry], x0: f64, x1: f64, top: f64) -> f64 {
    let font = Font::new(TEXT_SIZE);
    let (mut x, mut y) = (x0, top);
    // Lines in the current row.
    let mut row_lines = 0usize;
    for e in entries {
        let lines = wrap(&e.label, font, (x1 - x0 - LEGEND_SAMPLE - 3.0).max(20.0));
        let text_w = lines
            .iter()
            .map(|l| measure(l, TEXT_SIZE, false))
            .fold(0.0f64, f64::max);
        let w = LEGEND_SAMPLE + 3.0 + text_w + 8.0;
        if x > x0 && x + w - 8.0 > x1 {
            x = x0;
            y += LEGEND_ROW * row_lines as f64;
            row_lines = 0;
        }
        row_lines = row_lines.max(lines.len());
        let mid = y + LEGEND_ROW / 2.0;
        if e.swatch {
            d.items.push(Item::Rect {
                x: x + LEGEND_SAMPLE - 7.0,
                y: mid - 3.5,
                w: 7.0,
                h: 7.0,
                fill: Some(e.stroke.color),
                stroke: None,
                tip: String::new(),
            });
        } else {
            d.line([x, mid, x + LEGEND_SAMPLE, mid], e.stroke, "", "");
            if e.marker {
                d.items.push(Item::Circle {
                    cx: x + LEGEND_SAMPLE / 2.0,
                    cy: mid,
                    r: 1.8,
                    fill: e.stroke.color,
                    stroke: Stroke::new(e.stroke.color, 0.8),
                });
            }
        }
        for (k, line) in lines.iter().enumerate() {
            d.text(
                x + LEGEND_SAMPLE + 3.0,
                mid + TEXT_SIZE * 0.35 + k as f64 * LEGEND_ROW,
                line,
                font,
                "legend",
            );
        }
        x += w;
    }
    y + LEGEND_ROW * row_lines as f64
}

/// Whether values spanning this range call for a log axis: the positive values span more than
/// two decades (max / min > 100).
pub fn use_log_scale(values: &[f64]) -> bool {
    let pos: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    let (Some(lo), Some(hi)) = (
        pos.iter().copied().reduce(f64::min),
        pos.iter().copied().reduce(f64::max),
    ) else {
        return false;
    };
    hi / lo > 100.0
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Point {
    pub x: f64,
    pub y: f64,
    /// Whisker from `lo` to `hi` (both in y units).
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// Drawn as an open circle (a point measured differently, e.g. by a full flush).
    pub hollow: bool,
}

impl Point {
    pub fn new(x: f64, y: f64) -> Point {
        Point {
            x,
            y,
            lo: None,
            hi: None,
            hollow: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Polyline with markers and whiskers.
    Line,
    /// Polyline without markers: an ideal or model line (SVG class `ideal`).
    Ideal,
    /// Polyline without markers: a data curve such as an ECDF.
    Curve,
}

#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub label: String,
    pub shape: Shape,
    /// Index into [`PALETTE`].
    pub color: usize,
    pub dash: Dash,
    pub points: Vec<Point>,
}

impl Series {
    /// A solid line with markers and whiskers.
    pub fn line(label: String, color: usize, points: Vec<Point>) -> Series {
        Series {
            label,
            shape: Shape::Line,
            color,
            dash: Dash::Solid,
            points,
        }
    }

    fn stroke(&self) -> Stroke {
        Stroke::dashed(PALETTE[self.color % PALETTE.len()], 1.0, self.dash)
    }

    fn legend(&self) -> LegendEntry {
        LegendEntry {
            label: self.label.clone(),
            stroke: self.stroke(),
            marker: self.shape == Shape::Line,
            swatch: false,
        }
    }
}

/// A horizontal dashed reference line (a floor).
#[derive(Debug, Clone)]
pub(crate) struct HLine {
    pub label: String,
    pub y: f64,
}

/// A vertical dashed marker (a ceiling) in a palette colour.
#[derive(Debug, Clone)]
pub(crate) struct VLine {
    pub label: String,
    pub x: f64,
    pub color: usize,
}

fn ref_stroke(i: usize) -> Stroke {
    let (c, dash) = REF_STYLES[i % REF_STYLES.len()];
    Stroke::dashed(c, 0.8, dash)
}

fn vline_stroke(v: &VLine) -> Stroke {
    Stroke::dashed(PALETTE[v.color % PALETTE.len()], 0.8, Dash::Dashed)
}

/// One plot area's content: axes, series, reference lines.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chart {
    /// The figure's title for a chart drawn alone; the panel's in small multiples.
    pub title: String,
    /// A smaller second line under the title (what whiskers mean, params shared by all).
    pub subtitle: String,
    pub x_label: String,
    pub y_label: String,
    /// Tick positions and labels chosen by the caller (x values are then positions, e.g.
    /// log2 of the data); `None`: linear ticks chosen here.
    pub x_ticks: Option<Ticks>,
    /// Linear x ticks at whole numbers only.
    pub x_integer: bool,
    /// The x axis' ends (with caller-placed ticks); `None`: the ticks' and data's extent.
    pub x_range: Option<(f64, f64)>,
    pub y_log: bool,
    /// Fixed y ticks, the first and last the axis' ends (linear axes); `None`: chosen here.
    pub y_ticks: Option<Ticks>,
    pub series: Vec<Series>,
    pub hlines: Vec<HLine>,
    pub vlines: Vec<VLine>,
}

/// Linear "nice" ticks covering `lo..hi`: step 1, 2 or 5 × 10^k, about `target` of them.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize, integer: bool) -> Vec<f64> {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.5 };
        (lo - d, hi + d)
    };
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let mut step = if norm <= 1.0 {
        mag
    } else if norm <= 2.0 {
        2.0 * mag
    } else if norm <= 5.0 {
        5.0 * mag
    } else {
        10.0 * mag
    };
    if integer && step < 1.0 {
        step = 1.0;
    }
    let first = (lo / step).floor() as i64;
    let last = (hi / step).ceil() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Ticks for a log10 axis over `lo..hi` (log10 of the data) and the axis' ends: decades when
/// two or more fall inside the data, else 1-2-5 steps, else finer ones; the axis runs from the
/// 1-2-5 step (or the finer one) at or below `lo` to the one at or above `hi`. Positions are
/// log10 values, labels the values.
pub(crate) fn log10_ticks(lo: f64, hi: f64) -> (Ticks, f64, f64) {
    const STEPS: [&[f64]; 4] = [
        &[1.0],
        &[1.0, 2.0, 5.0],
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0],
        &[1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    ];
    let hi = if hi > lo { hi } else { lo + 0.01 };
    let cands = |m: &[f64]| -> Vec<f64> {
        ((lo.floor() as i32 - 1)..=(hi.ceil() as i32 + 1))
            .flat_map(|k| m.iter().map(move |m| (m * 10f64.powi(k)).log10()))
            .collect()
    };
    let inside = |c: &[f64]| {
        c.iter()
            .filter(|t| **t >= lo - 1e-9 && **t <= hi + 1e-9)
            .count()
    };
    let pick = STEPS
        .iter()
        .position(|m| inside(&cands(m)) >= 2)
        .unwrap_or(STEPS.len() - 1);
    let ends = cands(STEPS[pick.max(1)]);
    let a = ends
        .iter()
        .copied()
        .filter(|t| *t <= lo + 1e-9)
        .reduce(f64::max)
        .unwrap_or(lo);
    let b = ends
        .iter()
        .copied()
        .filter(|t| *t >= hi - 1e-9)
        .reduce(f64::min)
        .unwrap_or(hi);
    let ticks = cands(STEPS[pick])
        .into_iter()
        .filter(|t| *t >= a - 1e-9 && *t <= b + 1e-9)
        .map(|t| (t, tick(10f64.powf(t))))
        .collect();
    (ticks, a, b)
}

/// A chart's axes: ticks and ranges (y in decades on a log axis).
#[derive(Debug, Clone)]
struct Axes {
    xt: Ticks,
    x0: f64,
    x1: f64,
    yt: Ticks,
    y0: f64,
    y1: f64,
    y_log: bool,
}

/// Data to page coordinates inside one plot area.
struct Map {
    px: f64,
    py: f64,
    pw: f64,
    ph: f64,
    ax: Axes,
}

impl Map {
    fn x(&self, v: f64) -> f64 {
        self.px + PAD + (v - self.ax.x0) / (self.ax.x1 - self.ax.x0) * (self.pw - 2.0 * PAD)
    }
    fn y(&self, v: f64) -> f64 {
        let a = &self.ax;
        let t = if a.y_log {
            if v <= 0.0 {
                return self.py + self.ph;
            }
            (v.log10() - a.y0) / (a.y1 - a.y0)
        } else {
            (v - a.y0) / (a.y1 - a.y0)
        };
        self.py + self.ph - t.clamp(0.0, 1.0) * self.ph
    }
}

/// Rounds to 0.1 pt and drops points that add nothing: repeats, and the middle of three on one
/// horizontal or vertical line (a step curve of thousands of samples stays small).
fn simplify(pts: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let r = |v: f64| (v * 10.0).round() / 10.0;
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
    for (x, y) in pts {
        let p = (r(x), r(y));
        if out.last() == Some(&p) {
            continue;
        }
        if out.len() >= 2 {
            let (a, b) = (out[out.len() - 2], out[out.len() - 1]);
            if (a.0 == b.0 && b.0 == p.0) || (a.1 == b.1 && b.1 == p.1) {
                out.pop();
            }
        }
        out.push(p);
    }
    out
}

impl Chart {
    fn y_values(&self) -> Vec<f64> {
        let mut v = Vec::new();
        for s in &self.series {
            for p in &s.points {
                v.push(p.y);
                v.extend(p.lo);
                v.extend(p.hi);
            }
        }
        v.extend(self.hlines.iter().map(|h| h.y));
        v.retain(|x| x.is_finite());
        v
    }

    fn x_values(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.x))
            .collect();
        v.extend(self.vlines.iter().map(|l| l.x));
        v.retain(|x| x.is_finite());
        v
    }

    /// The chart as an SVG document, drawn alone at column width.
    #[cfg(test)]
    pub fn render(&self) -> String {
        self.draw().svg()
    }

    /// The chart drawn alone at column width.
    pub fn draw(&self) -> Drawing {
        Figure::single(self.clone()).draw()
    }

    fn axes(&self) -> Axes {
        let (yt, y0, y1) = self.y_axis();
        let (xt, x0, x1) = self.x_axis();
        Axes {
            xt,
            x0,
            x1,
            yt,
            y0,
            y1,
            y_log: self.y_log,
        }
    }

    /// The y axis: its ticks and range (decades on a log axis).
    fn y_axis(&self) -> (Ticks, f64, f64) {
        if let Some(t) = self.y_ticks.as_ref().filter(|t| t.len() >= 2) {
            return (t.clone(), t[0].0, t[t.len() - 1].0);
        }
        let ys = self.y_values();
        if self.y_log {
            let pos: Vec<f64> = ys.iter().copied().filter(|v| *v > 0.0).collect();
            let lo = pos.iter().copied().reduce(f64::min).unwrap_or(1.0);
            let hi = pos.iter().copied().reduce(f64::max).unwrap_or(10.0);
            // A minimum right on a decade gets the decade below, so it is not on the axis.
            let d0 = (lo * 0.999).log10().floor();
            let mut d1 = hi.log10().ceil();
            if d1 <= d0 {
                d1 = d0 + 1.0;
            }
            let ticks = (d0 as i32..=d1 as i32)
                .map(|d| (10f64.powi(d), tick(10f64.powi(d))))
                .collect();
            (ticks, d0, d1)
        } else {
            let lo = ys.iter().copied().reduce(f64::min).unwrap_or(0.0).min(0.0);
            let hi = ys.iter().copied().reduce(f64::max).unwrap_or(1.0);
            let t = nice_ticks(lo, hi, 5, false);
            let (a, b) = (t[0], t[t.len() - 1]);
            (t.into_iter().map(|v| (v, tick(v))).collect(), a, b)
        }
    }

    /// The x axis: its ticks (given, or chosen) and range.
    fn x_axis(&self) -> (Ticks, f64, f64) {
        let xs = self.x_values();
        match &self.x_ticks {
            Some(t) => {
                let all: Vec<f64> = t
                    .iter()
                    .map(|(p, _)| *p)
                    .chain(xs.iter().copied())
                    .chain(self.x_range.iter().flat_map(|(a, b)| [*a, *b]))
                    .collect();
                let lo = all.iter().copied().reduce(f64::min).unwrap_or(0.0);
                let mut hi = all.iter().copied().reduce(f64::max).unwrap_or(1.0);
                if hi <= lo {
                    hi = lo + 1.0;
                }
                (t.clone(), lo, hi)
            }
            None => {
                let lo = xs.iter().copied().reduce(f64::min).unwrap_or(0.0);
                let hi = xs.iter().copied().reduce(f64::max).unwrap_or(1.0);
                let t = nice_ticks(lo, hi, 6, self.x_integer);
                let (a, b) = (t[0], t[t.len() - 1]);
                (t.into_iter().map(|v| (v, tick(v))).collect(), a, b)
            }
        }
    }

    fn legend_entries(&self) -> Vec<LegendEntry> {
        let mut v: Vec<LegendEntry> = self.series.iter().map(Series::legend).collect();
        v.extend(self.hlines.iter().enumerate().map(|(i, h)| LegendEntry {
            label: h.label.clone(),
            stroke: ref_stroke(i),
            marker: false,
            swatch: false,
        }));
        v
    }

    fn style(&self) -> PanelStyle {
        let series = self
            .series
            .iter()
            .map(|s| (s.label.clone(), s.stroke().color, s.dash))
            .collect();
        let mut refs: Vec<(String, Rgb, Dash)> = self
            .hlines
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let s = ref_stroke(i);
                (h.label.clone(), s.color, s.dash)
            })
            .collect();
        refs.extend(self.vlines.iter().map(|v| {
            let s = vline_stroke(v);
            (v.label.clone(), s.color, s.dash)
        }));
        PanelStyle {
            stacked: false,
            series,
            refs,
        }
    }

    /// Grid, axes, ticks, labels, reference lines and series inside `m`'s plot area; the y
    /// label at `label_x`.
    fn draw_into(&self, d: &mut Drawing, m: &Map, x_label: bool, y_label: Option<f64>) {
        let (px, py, pw, ph) = (m.px, m.py, m.pw, m.ph);
        let bottom = py + ph;
        let grid = Stroke::new(GRID, 0.4);
        for (v, _) in &m.ax.yt {
            let y = m.y(*v);
            d.line([px, y, px + pw, y], grid, "grid", "");
        }
        for (v, _) in &m.ax.xt {
            let x = m.x(*v);
            d.line([x, py, x, bottom], grid, "grid", "");
        }
        let axis = Stroke::new(BLACK, 0.6);
        d.line([px, bottom, px + pw, bottom], axis, "axis", "");
        d.line([px, py, px, bottom], axis, "axis", "");
        let tick_font = Font::new(TEXT_SIZE);
        for (v, label) in &m.ax.yt {
            let y = m.y(*v);
            d.line([px - TICK, y, px, y], axis, "", "");
            d.text(
                px - TICK - 1.5,
                y + TEXT_SIZE * 0.35,
                label,
                tick_font.anchor(Anchor::End),
                "ytick",
            );
        }
        for (v, label) in &m.ax.xt {
            let x = m.x(*v);
            d.line([x, bottom, x, bottom + TICK], axis, "", "");
            d.text(
                x,
                bottom + TICK + TEXT_SIZE,
                label,
                tick_font.anchor(Anchor::Middle),
                "xtick",
            );
        }
        let label_font = Font::new(LABEL_SIZE).anchor(Anchor::Middle);
        if x_label && !self.x_label.is_empty() {
            d.text(
                px + pw / 2.0,
                bottom + TICK + TEXT_SIZE + 2.0 + LABEL_SIZE,
                &self.x_label,
                label_font,
                "xlabel",
            );
        }
        if let Some(lx) = y_label.filter(|_| !self.y_label.is_empty()) {
            // Shrunk to fit the plot's height when long.
            let w = measure(&self.y_label, LABEL_SIZE, false);
            let size = if w > ph {
                (LABEL_SIZE * ph / w).max(TEXT_SIZE)
            } else {
                LABEL_SIZE
            };
            d.text(
                lx + size * 0.8,
                py + ph / 2.0,
                &self.y_label,
                Font::new(size).anchor(Anchor::Middle).angle(-90.0),
                "ylabel",
            );
        }
        for (i, h) in self.hlines.iter().enumerate() {
            let y = m.y(h.y);
            d.line([px, y, px + pw, y], ref_stroke(i), "floor", &h.label);
        }
        for v in &self.vlines {
            let x = m.x(v.x);
            d.line([x, py, x, bottom], vline_stroke(v), "marker", &v.label);
        }
        self.draw_series(d, m);
    }

    /// The series; markers of several line series are spread 1.5 pt apart so whiskers do not
    /// hide each other.
    fn draw_series(&self, d: &mut Drawing, m: &Map) {
        let n_lines = self
            .series
            .iter()
            .filter(|s| s.shape == Shape::Line)
            .count();
        let mut line_no = 0usize;
        for se in &self.series {
            let dodge = if se.shape == Shape::Line && n_lines > 1 {
                line_no += 1;
                (line_no as f64 - 1.0 - (n_lines as f64 - 1.0) / 2.0) * 1.5
            } else {
                0.0
            };
            let stroke = se.stroke();
            let pts: Vec<(f64, f64)> = se
                .points
                .iter()
                .map(|p| (m.x(p.x) + dodge, m.y(p.y)))
                .collect();
            let class = if se.shape == Shape::Ideal {
                "ideal"
            } else {
                "series"
            };
            let pts = if se.shape == Shape::Curve {
                simplify(pts)
            } else {
                pts
            };
            d.items.push(Item::Polyline {
                points: pts,
                stroke,
                class,
                label: se.label.clone(),
            });
            if se.shape != Shape::Line {
                continue;
            }
            let whisker = Stroke::new(stroke.color, 0.6);
            for p in &se.points {
                let x = m.x(p.x) + dodge;
                if let (Some(lo), Some(hi)) = (p.lo, p.hi) {
                    let (a, b) = (m.y(lo), m.y(hi));
                    d.items.push(Item::Segments {
                        segs: vec![
                            [x, a, x, b],
                            [x - 2.0, a, x + 2.0, a],
                            [x - 2.0, b, x + 2.0, b],
                        ],
                        stroke: whisker,
                        class: "whisker",
                    });
                }
                d.items.push(Item::Circle {
                    cx: x,
                    cy: m.y(p.y),
                    r: 1.8,
                    fill: if p.hollow { WHITE } else { stroke.color },
                    stroke: Stroke::new(stroke.color, 0.8),
                });
            }
        }
    }
}

/// Where the legend goes in a figure of several panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LegendPlace {
    /// One legend below all panels: the series are the same in every panel (or have distinct
    /// styles across the figure).
    Shared,
    /// One below each panel.
    PerPanel,
}

/// One chart alone, or small multiples: panels in a grid, their axes shared or not.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub title: String,
    pub subtitle: String,
    pub panels: Vec<Chart>,
    pub width: f64,
    pub cols: usize,
    pub panel_height: f64,
    pub share_x: bool,
    pub share_y: bool,
    pub legend: LegendPlace,
}

impl Figure {
    /// One chart at column width; its title and subtitle are the figure's.
    pub fn single(mut c: Chart) -> Figure {
        let title = std::mem::take(&mut c.title);
        let subtitle = std::mem::take(&mut c.subtitle);
        Figure {
            title,
            subtitle,
            panels: vec![c],
            width: COLUMN_WIDTH,
            cols: 1,
            panel_height: PLOT_HEIGHT,
            share_x: false,
            share_y: false,
            legend: LegendPlace::Shared,
        }
    }

    /// Small multiples at full width (column width for one panel), axes shared; 2 columns for
    /// 2 or 4 panels, else 3.
    pub fn grid(title: &str, subtitle: &str, panels: Vec<Chart>, legend: LegendPlace) -> Figure {
        let n = panels.len();
        let cols = match n {
            0 | 1 => 1,
            2 | 4 => 2,
            _ => 3,
        };
        Figure {
            title: title.into(),
            subtitle: subtitle.into(),
            panels,
            width: if n <= 1 { COLUMN_WIDTH } else { FULL_WIDTH },
            cols,
            panel_height: if n <= 1 { PLOT_HEIGHT } else { PANEL_HEIGHT },
            share_x: true,
            share_y: true,
            legend,
        }
    }

    /// The chart alone if it has at most [`MAX_SERIES`] series, else small multiples of at
    /// most that many each (as even as can be), axes shared, every panel keeping the chart's
    /// reference lines.
    pub fn split(chart: Chart) -> Figure {
        let n = chart.series.len();
        if n <= MAX_SERIES {
            return Figure::single(chart);
        }
        let k = n.div_ceil(MAX_SERIES);
        let per = n.div_ceil(k);
        let mut c = chart;
        let series = std::mem::take(&mut c.series);
        let panels: Vec<Chart> = series
            .chunks(per)
            .map(|s| Chart {
                title: String::new(),
                subtitle: String::new(),
                series: s.to_vec(),
                ..c.clone()
            })
            .collect();
        let legend = if n <= PALETTE.len() {
            LegendPlace::Shared
        } else {
            LegendPlace::PerPanel
        };
        Figure::grid(&c.title, &c.subtitle, panels, legend)
    }

    fn axes(&self) -> Vec<Axes> {
        let own: Vec<Axes> = self.panels.iter().map(Chart::axes).collect();
        if self.panels.len() < 2 || !(self.share_x || self.share_y) {
            return own;
        }
        let mut all = self.panels[0].clone();
        for p in &self.panels[1..] {
            all.series.extend(p.series.iter().cloned());
            all.hlines.extend(p.hlines.iter().cloned());
            all.vlines.extend(p.vlines.iter().cloned());
            all.y_log |= p.y_log;
            if let (Some(a), Some(b)) = (&mut all.x_ticks, &p.x_ticks) {
                for t in b {
                    if !a.iter().any(|x| x.0 == t.0) {
                        a.push(t.clone());
                    }
                }
                a.sort_by(|x, y| x.0.total_cmp(&y.0));
            }
        }
        let shared = all.axes();
        own.into_iter()
            .map(|mut a| {
                if self.share_x {
                    (a.xt, a.x0, a.x1) = (shared.xt.clone(), shared.x0, shared.x1);
                }
                if self.share_y {
                    (a.yt, a.y0, a.y1, a.y_log) =
                        (shared.yt.clone(), shared.y0, shared.y1, shared.y_log);
                }
                a
            })
            .collect()
    }

    /// The figure as a display list.
    pub fn draw(&self) -> Drawing {
        let mut d = Drawing::new(self.width, &self.title);
        let mut y = header(&mut d, &self.title, &self.subtitle);
        let axes = self.axes();
        let n = self.panels.len();
        let cols = self.cols.clamp(1, n.max(1));
        let has_y_label = self.panels.iter().any(|p| !p.y_label.is_empty());
        let tick_w = axes
            .iter()
            .flat_map(|a| a.yt.iter())
            .map(|(_, l)| measure(l, TEXT_SIZE, false))
            .fold(0.0f64, f64::max);
        let label_w = if has_y_label { LABEL_SIZE + 2.0 } else { 0.0 };
        let left = label_w + tick_w + TICK + 3.0;
        let cell_w = (self.width - 2.0 * MARGIN) / cols as f64;
        let right = if cols > 1 { 10.0 } else { 6.0 };
        let title_font = Font::new(LABEL_SIZE).bold();
        for (r, row) in self.panels.chunks(cols).enumerate() {
            let title_h = row
                .iter()
                .map(|p| wrap(&p.title, title_font, cell_w - left).len())
                .max()
                .unwrap_or(0) as f64
                * LABEL_SIZE
                * 1.2;
            let shows_x = |i: usize| !self.share_x || i + cols >= n;
            let row_has_x =
                (0..row.len()).any(|j| shows_x(r * cols + j) && !row[j].x_label.is_empty());
            let py = y + title_h + if title_h > 0.0 { 2.0 } else { 3.0 };
            let below = TICK + TEXT_SIZE * 1.2 + if row_has_x { LABEL_SIZE + 3.0 } else { 0.0 };
            let mut legend_bottom = py + self.panel_height + below;
            for (j, p) in row.iter().enumerate() {
                let i = r * cols + j;
                let cx = MARGIN + j as f64 * cell_w;
                let m = Map {
                    px: cx + left,
                    py,
                    pw: cell_w - left - right,
                    ph: self.panel_height,
                    ax: axes[i].clone(),
                };
                paragraph(
                    &mut d,
                    &p.title,
                    title_font,
                    cx + left,
                    y,
                    cell_w - left,
                    "panel-title",
                );
                let y_label = (!self.share_y || j == 0).then_some(cx);
                p.draw_into(&mut d, &m, shows_x(i), y_label);
                d.panels.push(p.style());
                if self.legend == LegendPlace::PerPanel {
                    let b = legend(
                        &mut d,
                        &p.legend_entries(),
                        cx + left,
                        cx + cell_w - right,
                        py + self.panel_height + below + 1.0,
                    );
                    legend_bottom = legend_bottom.max(b);
                }
            }
            y = legend_bottom + 5.0;
        }
        if self.legend == LegendPlace::Shared {
            let mut entries: Vec<LegendEntry> = Vec::new();
            for p in &self.panels {
                for e in p.legend_entries() {
                    if !entries
                        .iter()
                        .any(|x| x.label == e.label && x.stroke == e.stroke)
                    {
                        entries.push(e);
                    }
                }
            }
            // Under the plot when the entries fit there, else from the margin.
            let widest = entries
                .iter()
                .map(|e| LEGEND_SAMPLE + 3.0 + measure(&e.label, TEXT_SIZE, false))
                .fold(0.0f64, f64::max);
            let x0 = if n == 1 && widest <= self.width - MARGIN - (MARGIN + left) {
                MARGIN + left
            } else {
                MARGIN
            };
            y = legend(&mut d, &entries, x0, self.width - MARGIN, y - 2.0);
        }
        d.height = (y + MARGIN).ceil();
        d
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every text of an SVG in document order, joined by spaces (wrapped lines read as one).
    pub(crate) fn texts(svg: &str) -> String {
        let mut out = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find("<text") {
            let s = &rest[i..];
            let a = s.find('>').unwrap() + 1;
            let b = s.find("</text>").unwrap();
            out.push(
                s[a..b]
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&amp;", "&"),
            );
            rest = &s[b..];
        }
        out.join(" ")
    }

    #[test]
    fn log_scale_choice() {
        assert!(!use_log_scale(&[]));
        assert!(!use_log_scale(&[5.0]));
        assert!(!use_log_scale(&[100.0, 10_000.0]));
        assert!(use_log_scale(&[100.0, 10_001.0]));
        assert!(!use_log_scale(&[0.0, 50.0, 100.0]));
        assert!(use_log_scale(&[0.0, 1.0, 1000.0]));
    }

    #[test]
    fn nice_tick_steps() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5, false),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(nice_ticks(1.0, 3.0, 8, true), vec![1.0, 2.0, 3.0]);
        assert_eq!(
            nice_ticks(0.0, 2700.0, 6, false),
            vec![0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0]
        );
        assert_eq!(nice_ticks(5.0, 5.0, 4, true), vec![2.0, 4.0, 6.0, 8.0]);
    }

    #[test]
    fn log10_tick_choice() {
        let labels = |lo: f64, hi: f64| {
            log10_ticks(lo.log10(), hi.log10())
                .0
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
        };
        // Two decades: decades, the ends at 1-2-5 steps.
        assert_eq!(labels(150.0, 20000.0), ["100", "1k", "10k"]);
        let (_, a, b) = log10_ticks(150f64.log10(), 20000f64.log10());
        assert!((10f64.powf(a) - 100.0).abs() < 1e-6 && (10f64.powf(b) - 20000.0).abs() < 1e-6);
        // Within a decade and a bit: 1-2-5.
        assert_eq!(labels(900.0, 4000.0), ["500", "1k", "2k", "5k"]);
        // Narrow: finer steps, at least 3 ticks.
        let narrow = labels(1500.0, 2900.0);
        assert!(narrow.len() >= 3, "{narrow:?}");
        assert_eq!(narrow.first().map(String::as_str), Some("1.5k"));
        assert_eq!(narrow.last().map(String::as_str), Some("3k"));
    }

    #[test]
    fn wrapping_and_widths() {
        let f = Font::new(10.0);
        let lines = wrap("aaa bbb ccc", f, measure("aaa bbb", 10.0, false) + 0.1);
        assert_eq!(lines, ["aaa bbb", "ccc"]);
        assert_eq!(wrap("", f, 10.0), Vec::<String>::new());
        assert_eq!(wrap("long", f, 1.0), ["long"]);
    }

    #[test]
    fn step_curves_are_simplified() {
        let pts = vec![
            (0.0, 0.0),
            (0.0, 1.0),
            (0.0, 2.0),
            (1.0, 2.0),
            (2.0, 2.0),
            (2.0, 2.0),
            (2.0, 3.0),
        ];
        assert_eq!(
            simplify(pts),
            vec![(0.0, 0.0), (0.0, 2.0), (2.0, 2.0), (2.0, 3.0)]
        );
    }

    #[test]
    fn renders_axes_series_and_legend() {
        let c = Chart {
            title: "T <1>".into(),
            x_label: "targets".into(),
            y_label: "p50 (cycles)".into(),
            x_integer: true,
            series: vec![Series::line(
                "a".into(),
                0,
                vec![
                    Point {
                        x: 1.0,
                        y: 10.0,
                        lo: Some(8.0),
                        hi: Some(12.0),
                        hollow: false,
                    },
                    Point::new(2.0, 20.0),
                ],
            )],
            hlines: vec![HLine {
                label: "floor".into(),
                y: 5.0,
            }],
            ..Chart::default()
        };
        let s = c.render();
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert!(s.contains("width=\"240pt\""), "column width");
        assert!(s.contains("T &lt;1&gt;"));
        assert!(s.contains("class=\"xlabel\""));
        assert!(s.contains(">p50 (cycles)</text>"));
        assert_eq!(s.matches("class=\"series\"").count(), 1);
        assert_eq!(s.matches("class=\"whisker\"").count(), 1);
        assert_eq!(s.matches("class=\"floor\"").count(), 1);
        assert_eq!(s.matches("<svg").count(), 1);
        // No text smaller than 7 pt.
        for size in s.split("font-size=\"").skip(1) {
            let v: f64 = size[..size.find('"').unwrap()].parse().unwrap();
            assert!(v >= TEXT_SIZE, "{v}");
        }
        // The legend is below the plot, inside the column.
        let d = c.draw();
        assert_eq!(d.width, COLUMN_WIDTH);
        let legend_y: Vec<f64> = d
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Text { y, class, .. } if *class == "legend" => Some(*y),
                _ => None,
            })
            .collect();
        let xlabel_y = d
            .items
            .iter()
            .find_map(|i| match i {
                Item::Text { y, class, .. } if *class == "xlabel" => Some(*y),
                _ => None,
            })
            .unwrap();
        assert_eq!(legend_y.len(), 2);
        assert!(legend_y.iter().all(|y| *y > xlabel_y && *y < d.height));
        assert_eq!(d.panels.len(), 1);
        assert_eq!(d.panels[0].series.len(), 1);
        assert_eq!(d.panels[0].refs.len(), 1);
    }

    #[test]
    fn crowded_charts_split_into_panels() {
        let chart = |n: usize| Chart {
            title: "t".into(),
            series: (0..n)
                .map(|i| Series::line(format!("s{i}"), i, vec![Point::new(1.0, i as f64)]))
                .collect(),
            ..Chart::default()
        };
        assert_eq!(Figure::split(chart(6)).panels.len(), 1);
        let f = Figure::split(chart(8));
        assert_eq!(f.panels.len(), 2);
        assert_eq!(f.panels[0].series.len(), 4);
        assert_eq!(f.width, FULL_WIDTH);
        assert_eq!(f.legend, LegendPlace::Shared);
        let f = Figure::split(chart(13));
        assert_eq!(f.panels.len(), 3);
        assert!(f.panels.iter().all(|p| p.series.len() <= MAX_SERIES));
        assert_eq!(f.legend, LegendPlace::PerPanel);
        let d = f.draw();
        assert_eq!(d.panels.len(), 3);
        // Shared y axis: every panel has the same tick labels.
        let svg = d.svg();
        assert_eq!(svg.matches("class=\"ytick\"").count() % 3, 0);
    }
}
