//! A small hand-written SVG line/step chart: axes with tick labels, linear or log10 y, optional
//! caller-placed x ticks (for log2 axes), series with whiskers, dashed reference lines, legend.

use std::fmt::Write;

use crate::fmt::{tick, xml};

/// Ten distinguishable colours (the matplotlib "tab10" set).
pub(crate) const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
/// Axis ticks: position and label.
type Ticks = Vec<(f64, String)>;

const REF_STYLES: [(&str, &str); 4] = [
    ("#333333", "8 4"),
    ("#777777", "3 3"),
    ("#aa5500", "10 3 2 3"),
    ("#005f5f", "6 2"),
];

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
    /// Step histogram: each point is a bucket `[x, x + 1)` of height y.
    Step,
    /// Dashed polyline without markers (an ideal or model line).
    Ideal,
}

#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub label: String,
    pub shape: Shape,
    pub color: usize,
    pub points: Vec<Point>,
}

/// A horizontal dashed reference line (a floor).
#[derive(Debug, Clone)]
pub(crate) struct HLine {
    pub label: String,
    pub y: f64,
}

/// A vertical dashed marker (a p50) in a series' colour.
#[derive(Debug, Clone)]
pub(crate) struct VLine {
    pub x: f64,
    pub color: usize,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Chart {
    pub title: String,
    /// A smaller second line under the title (what whiskers mean, params shared by all).
    pub subtitle: String,
    pub x_label: String,
    pub y_label: String,
    /// Tick positions and labels chosen by the caller (x values are then positions, e.g.
    /// log2 of the data); `None`: linear ticks chosen here.
    pub x_ticks: Option<Vec<(f64, String)>>,
    /// Linear x ticks at whole numbers only.
    pub x_integer: bool,
    pub y_log: bool,
    pub series: Vec<Series>,
    pub hlines: Vec<HLine>,
    pub vlines: Vec<VLine>,
}

const LEFT: f64 = 80.0;
const TOP: f64 = 60.0;
const PW: f64 = 560.0;
const PH: f64 = 340.0;
const PAD: f64 = 12.0;

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

struct Map {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    y_log: bool,
}

impl Map {
    fn x(&self, v: f64) -> f64 {
        LEFT + PAD + (v - self.x0) / (self.x1 - self.x0) * (PW - 2.0 * PAD)
    }
    fn y(&self, v: f64) -> f64 {
        let t = if self.y_log {
            if v <= 0.0 {
                return TOP + PH;
            }
            (v.log10() - self.y0) / (self.y1 - self.y0)
        } else {
            (v - self.y0) / (self.y1 - self.y0)
        };
        TOP + PH - t.clamp(0.0, 1.0) * PH
    }
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
        let mut v = Vec::new();
        for s in &self.series {
            for p in &s.points {
                v.push(p.x);
                if s.shape == Shape::Step {
                    v.push(p.x + 1.0);
                }
            }
        }
        v.extend(self.vlines.iter().map(|l| l.x));
        v.retain(|x| x.is_finite());
        v
    }

    /// The chart as an SVG document (starts with `<svg`).
    pub fn render(&self) -> String {
        let (y_ticks, y0, y1) = self.y_axis();
        let (x_ticks, x0, x1) = self.x_axis();
        let m = Map {
            x0,
            x1,
            y0,
            y1,
            y_log: self.y_log,
        };

        let longest = self
            .series
            .iter()
            .map(|s| s.label.chars().count())
            .chain(self.hlines.iter().map(|h| h.label.chars().count()))
            .max()
            .unwrap_or(0);
        let legend_w = (longest as f64 * 6.8 + 50.0).max(120.0);
        let width = (LEFT + PW + 24.0 + legend_w).ceil();
        let legend_h = 20.0 * (self.series.len() + self.hlines.len()) as f64;
        let height = (TOP + PH + 64.0).max(TOP + legend_h + 20.0).ceil();

        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, "<title>{}</title>", xml(&self.title));
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text class="title" x="12" y="22" font-size="15" font-weight="bold">{}</text>"#,
            xml(&self.title)
        );
        if !self.subtitle.is_empty() {
            let _ = writeln!(
                s,
                r##"<text class="subtitle" x="12" y="40" font-size="12" fill="#444">{}</text>"##,
                xml(&self.subtitle)
            );
        }
        self.write_grid(&mut s, &m, &y_ticks, &x_ticks);
        self.write_reference_lines(&mut s, &m);
        self.write_series(&mut s, &m);
        self.write_legend(&mut s);
        s.push_str("</g>\n</svg>\n");
        s
    }

    /// The y axis: its ticks and range (decades on a log axis).
    fn y_axis(&self) -> (Ticks, f64, f64) {
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
            let t = nice_ticks(lo, hi, 6, false);
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
                let t = nice_ticks(lo, hi, 8, self.x_integer);
                let (a, b) = (t[0], t[t.len() - 1]);
                (t.into_iter().map(|v| (v, tick(v))).collect(), a, b)
            }
        }
    }

    /// Grid, axes, ticks and axis labels.
    fn write_grid(&self, s: &mut String, m: &Map, y_ticks: &Ticks, x_ticks: &Ticks) {
        s.push_str("<g class=\"grid\" stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
        for (v, _) in y_ticks {
            let y = m.y(*v);
            let _ = writeln!(
                s,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
                LEFT + PW
            );
        }
        for (v, _) in x_ticks {
            let x = m.x(*v);
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}"/>"#,
                TOP + PH
            );
        }
        s.push_str("</g>\n");
        let _ = writeln!(
            s,
            r##"<g class="axes" stroke="#000" stroke-width="1"><line x1="{LEFT}" y1="{b:.1}" x2="{r:.1}" y2="{b:.1}"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b:.1}"/></g>"##,
            b = TOP + PH,
            r = LEFT + PW
        );
        s.push_str("<g class=\"yticks\" text-anchor=\"end\">\n");
        for (v, label) in y_ticks {
            let y = m.y(*v);
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{LEFT}" y2="{y:.1}" stroke="#000"/><text x="{:.1}" y="{:.1}">{}</text>"##,
                LEFT - 5.0,
                LEFT - 8.0,
                y + 4.0,
                xml(label)
            );
        }
        s.push_str("</g>\n<g class=\"xticks\" text-anchor=\"middle\">\n");
        for (v, label) in x_ticks {
            let x = m.x(*v);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{b:.1}" x2="{x:.1}" y2="{:.1}" stroke="#000"/><text x="{x:.1}" y="{:.1}">{}</text>"##,
                TOP + PH + 5.0,
                TOP + PH + 19.0,
                xml(label),
                b = TOP + PH
            );
        }
        s.push_str("</g>\n");
        let _ = writeln!(
            s,
            r#"<text class="xlabel" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + PW / 2.0,
            TOP + PH + 44.0,
            xml(&self.x_label)
        );
        let (lx, ly) = (20.0, TOP + PH / 2.0);
        let _ = writeln!(
            s,
            r#"<text class="ylabel" x="{lx}" y="{ly:.1}" text-anchor="middle" transform="rotate(-90 {lx} {ly:.1})">{}</text>"#,
            xml(&self.y_label)
        );
    }

    /// The horizontal reference lines (floors) and vertical markers.
    fn write_reference_lines(&self, s: &mut String, m: &Map) {
        for (i, h) in self.hlines.iter().enumerate() {
            let (c, dash) = REF_STYLES[i % REF_STYLES.len()];
            let y = m.y(h.y);
            let _ = writeln!(
                s,
                r#"<line class="floor" data-label="{}" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{c}" stroke-width="1.5" stroke-dasharray="{dash}"/>"#,
                xml(&h.label),
                LEFT + PW
            );
        }
        for v in &self.vlines {
            let c = PALETTE[v.color % PALETTE.len()];
            let x = m.x(v.x);
            let _ = writeln!(
                s,
                r#"<line class="marker" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="{c}" stroke-width="1.5" stroke-dasharray="4 3"/>"#,
                TOP + PH,
            );
        }
    }

    /// The series; markers of several line series are spread 3 px apart so whiskers do not
    /// hide each other.
    fn write_series(&self, s: &mut String, m: &Map) {
        let n_lines = self
            .series
            .iter()
            .filter(|s| s.shape == Shape::Line)
            .count();
        let mut line_no = 0usize;
        for se in &self.series {
            let dodge = if se.shape == Shape::Line && n_lines > 1 {
                line_no += 1;
                (line_no as f64 - 1.0 - (n_lines as f64 - 1.0) / 2.0) * 3.0
            } else {
                0.0
            };
            let c = PALETTE[se.color % PALETTE.len()];
            match se.shape {
                Shape::Line | Shape::Ideal => {
                    let pts: Vec<String> = se
                        .points
                        .iter()
                        .map(|p| format!("{:.1},{:.1}", m.x(p.x) + dodge, m.y(p.y)))
                        .collect();
                    let (class, extra) = if se.shape == Shape::Ideal {
                        ("ideal", r#" stroke-dasharray="7 4""#)
                    } else {
                        ("series", "")
                    };
                    let _ = writeln!(
                        s,
                        r#"<polyline class="{class}" data-label="{}" fill="none" stroke="{c}" stroke-width="2"{extra} points="{}"/>"#,
                        xml(&se.label),
                        pts.join(" ")
                    );
                    if se.shape == Shape::Line {
                        for p in &se.points {
                            let x = m.x(p.x) + dodge;
                            if let (Some(lo), Some(hi)) = (p.lo, p.hi) {
                                let (a, b) = (m.y(lo), m.y(hi));
                                let _ = writeln!(
                                    s,
                                    r#"<path class="whisker" d="M{x:.1},{a:.1}V{b:.1}M{:.1},{a:.1}h8M{:.1},{b:.1}h8" stroke="{c}" stroke-width="1"/>"#,
                                    x - 4.0,
                                    x - 4.0
                                );
                            }
                            let fill = if p.hollow { "white" } else { c };
                            let _ = writeln!(
                                s,
                                r#"<circle cx="{x:.1}" cy="{:.1}" r="3.5" fill="{fill}" stroke="{c}" stroke-width="1.5"/>"#,
                                m.y(p.y)
                            );
                        }
                    }
                }
                Shape::Step => {
                    let base = TOP + PH;
                    let mut pts: Vec<Point> = se.points.clone();
                    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
                    let mut d = String::new();
                    let mut last_end: Option<f64> = None;
                    for p in &pts {
                        let (xa, xb, y) = (m.x(p.x), m.x(p.x + 1.0), m.y(p.y));
                        match last_end {
                            Some(e) if (e - p.x).abs() < 1e-9 => {}
                            Some(_) => {
                                let _ = write!(d, "V{base:.1}M{xa:.1},{base:.1}");
                            }
                            None => {
                                let _ = write!(d, "M{xa:.1},{base:.1}");
                            }
                        }
                        let _ = write!(d, "V{y:.1}H{xb:.1}");
                        last_end = Some(p.x + 1.0);
                    }
                    if last_end.is_some() {
                        let _ = write!(d, "V{base:.1}");
                    }
                    let _ = writeln!(
                        s,
                        r#"<path class="series" data-label="{}" fill="{c}" fill-opacity="0.10" stroke="{c}" stroke-width="1.8" d="{d}"/>"#,
                        xml(&se.label)
                    );
                }
            }
        }
    }

    /// The legend: one entry per series, then one per reference line (`render` closes its
    /// group).
    fn write_legend(&self, s: &mut String) {
        let lx = LEFT + PW + 24.0;
        let mut ly = TOP + 6.0;
        s.push_str("<g class=\"legend\">\n");
        for se in &self.series {
            let c = PALETTE[se.color % PALETTE.len()];
            let dash = if se.shape == Shape::Ideal {
                r#" stroke-dasharray="7 4""#
            } else {
                ""
            };
            let _ = write!(
                s,
                r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{c}" stroke-width="2"{dash}/>"#,
                lx + 26.0
            );
            if se.shape == Shape::Line {
                let _ = write!(
                    s,
                    r#"<circle cx="{:.1}" cy="{ly:.1}" r="3.5" fill="{c}"/>"#,
                    lx + 13.0
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                lx + 32.0,
                ly + 4.0,
                xml(&se.label)
            );
            ly += 20.0;
        }
        for (i, h) in self.hlines.iter().enumerate() {
            let (c, dash) = REF_STYLES[i % REF_STYLES.len()];
            let _ = writeln!(
                s,
                r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{c}" stroke-width="1.5" stroke-dasharray="{dash}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                lx + 26.0,
                lx + 32.0,
                ly + 4.0,
                xml(&h.label)
            );
            ly += 20.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn renders_axes_series_and_legend() {
        let c = Chart {
            title: "T <1>".into(),
            x_label: "targets".into(),
            y_label: "p50 (cycles)".into(),
            x_integer: true,
            series: vec![Series {
                label: "a".into(),
                shape: Shape::Line,
                color: 0,
                points: vec![
                    Point {
                        x: 1.0,
                        y: 10.0,
                        lo: Some(8.0),
                        hi: Some(12.0),
                        hollow: false,
                    },
                    Point::new(2.0, 20.0),
                ],
            }],
            hlines: vec![HLine {
                label: "floor".into(),
                y: 5.0,
            }],
            ..Chart::default()
        };
        let s = c.render();
        assert!(s.starts_with("<svg"));
        assert!(s.trim_end().ends_with("</svg>"));
        assert!(s.contains("T &lt;1&gt;"));
        assert!(s.contains("class=\"xlabel\""));
        assert!(s.contains(">p50 (cycles)</text>"));
        assert_eq!(s.matches("class=\"series\"").count(), 1);
        assert_eq!(s.matches("class=\"whisker\"").count(), 1);
        assert_eq!(s.matches("class=\"floor\"").count(), 1);
        assert_eq!(s.matches("<svg").count(), 1);
    }
}
