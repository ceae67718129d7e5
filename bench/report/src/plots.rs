//! The paper plots, each made only when its data exists, each written as SVG and PDF.
//!
//! | file | what |
//! |---|---|
//! | `shootdown_vs_targets.svg` | `shootdown` p50 vs `targets` at `pages=1`, one line per family (the other params: delivery, space, protocol), floors `ipi_roundtrip` and `ipi_roundtrip + invlpg` dashed |
//! | `shootdown_vs_pages.svg` | `shootdown` p50 vs `pages` (log2 x; `pages="full"` or `flush="full"` at the right end, labelled `full`), each family at its largest `targets`, floors `invlpg`, `flush_cr3`, `flush_global` dashed |
//! | `pf_latency.svg` | each `pf_*` result in cycles or instructions: its ECDF on a log x axis, one panel per fault kind (bench and params but `part`), the total solid and its handler / trap parts dashed / dotted in the same panel; the exact step curve of the raw samples when the run kept them, else the cumulative fraction at each log2 bucket's bounds |
//! | `pf_throughput.svg` | `pf_throughput` p50 vs `cpus`, with the ideal N × rate(1) dashed |
//! | `shootdown_protocols.svg` | `shootdown` p50 vs `targets`, one line per protocol (kernel half, 1 page, unicast or `none`) |
//! | `shootdown_protocols_pages.svg` | `shootdown` p50 vs `pages` per protocol at its most targets, the ceilings marked |
//! | `shootdown_phases.svg` | `shootdown_phases`: a stacked bar of phase p50s per protocol and target count |
//! | `shootdown_deliveries.svg` | `shootdown` p50 vs `targets`, one panel per protocol, one line per delivery |
//! | `shootdown_critical_path.svg` | the deterministic mode's critical path vs `targets`, one line per protocol |
//!
//! The first two plots show the deliveries and spaces of the `sync` protocol (results
//! without a `protocol` param too); the protocol plots compare protocols on one slice.
//!
//! Whiskers: p5–p95 of each result for one run (min–p90 for records that predate p5/p95, and
//! the subtitle says so); min–max of the per-boot p50s for repeats. The y axis is log10 when
//! the plotted values span more than two decades. No panel overlays more than 6 series: a
//! chart with more is split into small multiples. A figure is 3.3 in wide (one paper column),
//! small multiples 7 in.

use crate::fmt::{tick_pow2, unit_label};
use crate::goals::{floor, params_without};
use crate::model::{BenchResult, Params, params_label};
use crate::svg::{
    Chart, Dash, Drawing, Figure, HLine, LegendPlace, MAX_SERIES, PALETTE, Point, Series, Shape,
    log10_ticks, use_log_scale,
};

/// The file names of the plots, in the order [`plots`] returns them; each also has its PDF
/// (`NAME.pdf`) beside it.
pub const PLOT_FILES: [&str; 10] = [
    "shootdown_vs_targets.svg",
    "shootdown_vs_pages.svg",
    "pf_latency.svg",
    "pf_throughput.svg",
    "shootdown_protocols.svg",
    "shootdown_protocols_pages.svg",
    "shootdown_phases.svg",
    "shootdown_deliveries.svg",
    "shootdown_critical_path.svg",
    "pf_contention.svg",
];

/// One figure: its file name (`NAME.svg`, one of [`PLOT_FILES`]) and its drawing, which
/// renders to SVG and to PDF.
#[derive(Debug, Clone)]
pub struct Plot {
    pub name: String,
    pub(crate) drawing: Drawing,
}

impl Plot {
    /// The SVG document.
    pub fn svg(&self) -> String {
        self.drawing.svg()
    }

    /// The PDF file.
    pub fn pdf(&self) -> Vec<u8> {
        self.drawing.pdf()
    }

    /// `NAME.pdf` for `NAME.svg`.
    pub fn pdf_name(&self) -> String {
        pdf_name(&self.name)
    }
}

/// `NAME.pdf` for a plot file `NAME.svg`.
pub fn pdf_name(svg_name: &str) -> String {
    format!("{}.pdf", svg_name.strip_suffix(".svg").unwrap_or(svg_name))
}

/// How whiskers are drawn: `(lo, hi)` of a result, and the words for the subtitle given the
/// results drawn.
pub(crate) struct Whiskers<'a> {
    pub range: &'a dyn Fn(&BenchResult) -> Option<(f64, f64)>,
    pub desc: &'a dyn Fn(&[&BenchResult]) -> String,
}

/// p5..p95, or min..p90 for a record without p5/p95 (written before they existed).
fn p5_p95(r: &BenchResult) -> Option<(f64, f64)> {
    Some(match (r.p5, r.p95) {
        (Some(lo), Some(hi)) => (lo, hi),
        _ => (r.min, r.p90),
    })
}

/// What [`p5_p95`] whiskers show for these results.
fn p5_p95_desc(rows: &[&BenchResult]) -> String {
    let with = rows
        .iter()
        .filter(|r| r.p5.is_some() && r.p95.is_some())
        .count();
    if with == rows.len() {
        "p50, whiskers p5–p95".into()
    } else if with == 0 {
        "p50, whiskers min–p90 (these records have no p5/p95)".into()
    } else {
        "p50, whiskers p5–p95 (min–p90 where a record has no p5/p95)".into()
    }
}

/// One run's whiskers: p5–p95 of each result.
pub(crate) const SINGLE: Whiskers<'static> = Whiskers {
    range: &p5_p95,
    desc: &p5_p95_desc,
};

/// Every plot whose data exists; whiskers p5–p95.
pub fn plots(results: &[BenchResult]) -> Vec<Plot> {
    plots_with(results, &SINGLE)
}

pub(crate) fn plots_with(results: &[BenchResult], w: &Whiskers) -> Vec<Plot> {
    [
        shootdown_targets(results, w),
        shootdown_pages(results, w),
        pf_latency_chart(results),
        throughput(results, w),
        crate::protocols::protocols_targets(results, w),
        crate::protocols::protocols_pages(results, w),
        crate::protocols::phases(results),
        crate::protocols::deliveries(results, w),
        crate::protocols::critical_path(results, w),
        throughput_of(
            results,
            w,
            "pf_contention_rate",
            "Faults in one address space vs CPUs, per concurrency control",
        ),
    ]
    .into_iter()
    .zip(PLOT_FILES)
    .filter_map(|(d, name)| {
        d.map(|drawing| Plot {
            name: name.to_string(),
            drawing,
        })
    })
    .collect()
}

/// `shootdown_vs_targets.svg`, if there are shootdown results at `pages=1`.
pub fn shootdown_vs_targets(results: &[BenchResult]) -> Option<String> {
    shootdown_targets(results, &SINGLE).map(|d| d.svg())
}

/// `shootdown_vs_pages.svg`, if there are shootdown results with numeric or full `pages`.
pub fn shootdown_vs_pages(results: &[BenchResult]) -> Option<String> {
    shootdown_pages(results, &SINGLE).map(|d| d.svg())
}

/// `pf_latency.svg`, if some `pf_*` result in cycles or instructions has a histogram or raw
/// samples.
pub fn pf_latency(results: &[BenchResult]) -> Option<String> {
    pf_latency_chart(results).map(|d| d.svg())
}

/// `pf_throughput.svg`, if there are `pf_throughput` results with a numeric `cpus`.
pub fn pf_throughput(results: &[BenchResult]) -> Option<String> {
    throughput(results, &SINGLE).map(|d| d.svg())
}

/// Keeps only the results in the unit of the first one.
fn one_unit(mut v: Vec<&BenchResult>) -> (Vec<&BenchResult>, String) {
    let unit = v.first().map(|r| r.unit.clone()).unwrap_or_default();
    v.retain(|r| r.unit == unit);
    (v, unit)
}

/// Groups results by their params without `keys`, families in first-seen order.
fn families<'a>(v: &[&'a BenchResult], keys: &[&str]) -> Vec<(Params, Vec<&'a BenchResult>)> {
    let mut out: Vec<(Params, Vec<&BenchResult>)> = Vec::new();
    for r in v {
        let fam = params_without(&r.params, keys);
        match out
            .iter_mut()
            .find(|(f, _)| params_label(f) == params_label(&fam))
        {
            Some((_, rs)) => rs.push(r),
            None => out.push((fam, vec![r])),
        }
    }
    out
}

/// Sorts points by x and keeps the first of any points sharing an x (a result repeated with
/// the same params).
fn by_x(mut pts: Vec<Point>) -> Vec<Point> {
    let mut out: Vec<Point> = Vec::with_capacity(pts.len());
    for p in pts.drain(..) {
        if !out.iter().any(|q| q.x == p.x) {
            out.push(p);
        }
    }
    out.sort_by(|a, b| a.x.total_cmp(&b.x));
    out
}

fn point(r: &BenchResult, x: f64, w: &Whiskers) -> Point {
    let (lo, hi) = match (w.range)(r) {
        Some((lo, hi)) => (Some(lo), Some(hi)),
        None => (None, None),
    };
    Point {
        x,
        y: r.p50,
        lo,
        hi,
        hollow: false,
    }
}

/// One dashed line for the floor made of `benches` (each as chosen by [`floor`], summed by
/// [`crate::goals::floor_sum`]); `None` when one is missing or in another unit.
fn floor_sum_line(results: &[BenchResult], benches: &[&str], unit: &str) -> Option<HLine> {
    let mut parts = Vec::new();
    for b in benches {
        parts.push((*b, floor(results, b).filter(|f| f.unit == unit)?));
    }
    // The timer's overhead counted once, as in the goals.
    let sum = crate::goals::floor_sum(results, &parts, unit);
    Some(HLine {
        label: format!("{} p50 = {} {unit}", sum.desc, crate::fmt::short(sum.value)),
        y: sum.value,
    })
}

/// One dashed line per result of a floor bench in `unit` (e.g. `flush_global` by CR4.PGE and
/// by INVPCID), labelled with its params when there are several.
fn floor_lines(results: &[BenchResult], bench: &str, unit: &str) -> Vec<HLine> {
    let all: Vec<&BenchResult> = results
        .iter()
        .filter(|r| r.bench == bench && r.unit == unit)
        .collect();
    all.iter()
        .map(|r| HLine {
            label: format!(
                "{} p50 = {} {unit}",
                if all.len() > 1 {
                    r.label()
                } else {
                    r.bench.clone()
                },
                crate::fmt::short(r.p50)
            ),
            y: r.p50,
        })
        .collect()
}

fn y_is_log(series: &[Series], hlines: &[HLine]) -> bool {
    let mut v: Vec<f64> = hlines.iter().map(|h| h.y).collect();
    for s in series {
        for p in &s.points {
            v.push(p.y);
            v.extend(p.lo);
            v.extend(p.hi);
        }
    }
    use_log_scale(&v)
}

/// Log2 ticks at whole positions `lo..=hi` (labels 2^k), at most about 14 of them.
fn log2_ticks(lo: f64, hi: f64) -> Vec<(f64, String)> {
    let (a, b) = (lo.floor() as i64, hi.ceil() as i64);
    let count = (b - a + 1).max(1);
    let step = ((count + 13) / 14).max(1);
    (a..=b)
        .filter(|k| (k - a) % step == 0)
        .map(|k| (k as f64, tick_pow2(2f64.powi(k as i32))))
        .collect()
}

/// A numeric page count, if `pages` has one (not `"full"`).
fn pages_of(r: &BenchResult) -> Option<f64> {
    r.param_f64("pages").filter(|p| *p > 0.0)
}

fn is_full(r: &BenchResult) -> bool {
    r.param_text("pages").as_deref() == Some("full")
        || r.param_text("flush").as_deref() == Some("full")
}

/// Legend labels for families: only the params that differ between them; the params they
/// all share go to the subtitle (returned second, empty when none). A family left with no
/// label is called `fallback`.
fn split_common(fams: &[&Params], fallback: &str) -> (Vec<String>, String) {
    let Some(first) = fams.first() else {
        return (Vec::new(), String::new());
    };
    let common: Vec<&String> = first
        .iter()
        .filter(|(k, v)| fams.iter().all(|f| f.get(*k) == Some(*v)))
        .map(|(k, _)| k)
        .collect();
    let labels = fams
        .iter()
        .map(|f| {
            let own: Params = f
                .iter()
                .filter(|(k, _)| !common.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let l = params_label(&own);
            if l.is_empty() {
                fallback.to_string()
            } else {
                l
            }
        })
        .collect();
    let shared: Params = first
        .iter()
        .filter(|(k, _)| common.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (labels, params_label(&shared))
}

fn subtitle(desc: &str, common: &str) -> String {
    if common.is_empty() {
        desc.to_string()
    } else {
        format!("{desc}; all: {common}")
    }
}

/// A result of the `sync` protocol (or from before protocols were named), or the Linux
/// baseline's shootdown (`linux_mprotect`) drawn beside it.
fn is_sync(r: &BenchResult) -> bool {
    r.param_text("protocol")
        .is_none_or(|p| p == "sync" || p == "linux_mprotect")
}

fn shootdown_targets(results: &[BenchResult], w: &Whiskers) -> Option<Drawing> {
    let cands: Vec<&BenchResult> = results
        .iter()
        .filter(|r| {
            r.bench == "shootdown"
                && is_sync(r)
                && r.param_f64("pages") == Some(1.0)
                && !is_full(r)
                && r.param_f64("targets").is_some_and(|t| t > 0.0)
        })
        .collect();
    let (cands, unit) = one_unit(cands);
    if cands.is_empty() {
        return None;
    }
    let xs: Vec<f64> = cands
        .iter()
        .filter_map(|r| r.param_f64("targets"))
        .collect();
    let log_x = use_log_scale(&xs);
    let pos = |t: f64| if log_x { t.log2() } else { t };
    let fams = families(&cands, &["targets", "pages", "flush"]);
    let (labels, common) =
        split_common(&fams.iter().map(|f| &f.0).collect::<Vec<_>>(), "shootdown");
    let mut series = Vec::new();
    for (i, ((_, rs), label)) in fams.into_iter().zip(labels).enumerate() {
        let pts = by_x(
            rs.iter()
                .map(|r| point(r, pos(r.param_f64("targets").unwrap_or(0.0)), w))
                .collect(),
        );
        series.push(Series::line(label, i, pts));
    }
    let mut hlines: Vec<HLine> = floor_lines(results, "ipi_roundtrip", &unit);
    hlines.extend(floor_sum_line(results, &["ipi_roundtrip", "invlpg"], &unit));
    let x_ticks = log_x.then(|| {
        let (lo, hi) = xs
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(*x), b.max(*x)));
        log2_ticks(lo.log2(), hi.log2())
    });
    let chart = Chart {
        title: "TLB shootdown latency vs target CPUs, 1 page".into(),
        subtitle: subtitle(&(w.desc)(&cands), &common),
        x_label: if log_x {
            "target CPUs (log2)".into()
        } else {
            "target CPUs".into()
        },
        y_label: format!("p50 latency ({unit})"),
        x_ticks,
        x_integer: true,
        y_log: y_is_log(&series, &hlines),
        y_ticks: None,
        x_range: None,
        series,
        hlines,
        vlines: vec![],
    };
    Some(Figure::split(chart).draw())
}

fn shootdown_pages(results: &[BenchResult], w: &Whiskers) -> Option<Drawing> {
    let cands: Vec<&BenchResult> = results
        .iter()
        .filter(|r| r.bench == "shootdown" && is_sync(r) && (is_full(r) || pages_of(r).is_some()))
        .collect();
    let (cands, unit) = one_unit(cands);
    if cands.is_empty() {
        return None;
    }
    // Each family at its largest target count; `targets` then joins the family's params (and
    // moves to the subtitle when all share it).
    let mut chosen: Vec<(Params, Vec<&BenchResult>)> = Vec::new();
    for (mut fam, rs) in families(&cands, &["targets", "pages", "flush"]) {
        let max_t = rs
            .iter()
            .filter_map(|r| r.param_f64("targets"))
            .reduce(f64::max);
        let rs: Vec<&BenchResult> = rs
            .into_iter()
            .filter(|r| r.param_f64("targets") == max_t)
            .collect();
        if let Some(t) = rs.first().and_then(|r| r.params.get("targets")) {
            fam.insert("targets".into(), t.clone());
        }
        chosen.push((fam, rs));
    }
    let (labels, common) = split_common(
        &chosen.iter().map(|f| &f.0).collect::<Vec<_>>(),
        "shootdown",
    );
    let numeric: Vec<f64> = chosen
        .iter()
        .flat_map(|(_, rs)| rs.iter())
        .filter_map(|r| pages_of(r))
        .map(f64::log2)
        .collect();
    let lo = numeric.iter().copied().reduce(f64::min).unwrap_or(0.0);
    let hi = numeric.iter().copied().reduce(f64::max).unwrap_or(0.0);
    let full_x = hi.ceil() + 1.0;
    let (mut any_full, mut any_hollow) = (false, false);
    let mut series = Vec::new();
    for (i, ((_, rs), label)) in chosen.into_iter().zip(labels).enumerate() {
        let pts = by_x(
            rs.iter()
                .map(|r| {
                    // A page count stays at its x; only `pages="full"` goes to the right end.
                    // A point flushed in full despite a page count is drawn open.
                    let (x, hollow) = match pages_of(r) {
                        Some(p) => (p.log2(), is_full(r)),
                        None => {
                            any_full = true;
                            (full_x, false)
                        }
                    };
                    any_hollow |= hollow;
                    Point {
                        hollow,
                        ..point(r, x, w)
                    }
                })
                .collect(),
        );
        series.push(Series::line(label, i, pts));
    }
    let mut x_ticks = if numeric.is_empty() {
        Vec::new()
    } else {
        log2_ticks(lo, hi)
    };
    if any_full {
        x_ticks.push((full_x, "full".into()));
    }
    let hlines: Vec<HLine> = ["invlpg", "flush_cr3", "flush_global"]
        .iter()
        .flat_map(|b| floor_lines(results, b, &unit))
        .collect();
    let chart = Chart {
        title: "TLB shootdown latency vs pages, most target CPUs".into(),
        subtitle: subtitle(
            &format!(
                "{}{}",
                (w.desc)(&cands),
                if any_hollow {
                    "; open circles: flushed in full"
                } else {
                    ""
                }
            ),
            &common,
        ),
        x_label: "pages flushed (log2; full = whole-TLB flush)".into(),
        y_label: format!("p50 latency ({unit})"),
        x_ticks: Some(x_ticks),
        x_integer: false,
        y_log: y_is_log(&series, &hlines),
        y_ticks: None,
        x_range: None,
        series,
        hlines,
        vlines: vec![],
    };
    Some(Figure::split(chart).draw())
}

/// The part of a fault a `pf_*` result times (`part`: total, handler, trap); `total` when it
/// has no `part`.
fn pf_part(r: &BenchResult) -> String {
    r.param_text("part").unwrap_or_else(|| "total".into())
}

/// The dash of a part: the total solid, its parts dashed and dotted.
fn part_dash(part: &str) -> Dash {
    match part {
        "total" => Dash::Solid,
        "handler" => Dash::Dashed,
        "trap" => Dash::Dotted,
        _ => Dash::Chain,
    }
}

/// A result's ECDF as points (x: log10 of the value, y: the fraction of samples at or below
/// it) and whether it comes from the raw samples: their exact step curve, else from the log2
/// histogram the cumulative fraction at each bucket's bounds (exact there; a bucket's inside
/// is unknown and drawn straight). None without samples or histogram.
pub(crate) fn ecdf(r: &BenchResult) -> Option<(Vec<Point>, bool)> {
    let lx = |v: u64| (v.max(1) as f64).log10();
    if let Some(s) = r.samples.as_ref().filter(|s| !s.is_empty()) {
        let mut v = s.clone();
        v.sort_unstable();
        let n = v.len() as f64;
        let mut pts = Vec::new();
        let mut i = 0;
        while i < v.len() {
            let j = i + v[i..].iter().take_while(|x| **x == v[i]).count();
            let x = lx(v[i]);
            pts.push(Point::new(x, i as f64 / n));
            pts.push(Point::new(x, j as f64 / n));
            i = j;
        }
        return Some((pts, true));
    }
    let mut h: Vec<(u64, u64)> = r.hist.iter().copied().filter(|(_, c)| *c > 0).collect();
    h.sort_unstable();
    let total: u64 = h.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return None;
    }
    // Bucket [lb, 2·lb); bucket 0 is [0, 1).
    let upper = |lb: u64| if lb == 0 { 1 } else { lb.saturating_mul(2) };
    let mut pts = vec![Point::new(lx(h[0].0), 0.0)];
    let mut cum = 0u64;
    let mut prev_upper: Option<u64> = None;
    for (lb, c) in h {
        if prev_upper.is_some_and(|u| u < lb) {
            // Empty buckets between: nothing below `lb` but what came before.
            pts.push(Point::new(lx(lb), cum as f64 / total as f64));
        }
        cum += c;
        pts.push(Point::new(lx(upper(lb)), cum as f64 / total as f64));
        prev_upper = Some(upper(lb));
    }
    Some((pts, false))
}

/// `pf_latency.svg`: one panel per kind of fault (bench and params but `part`, and `os` for
/// the Linux baseline drawn beside ours), each the ECDF of the total on a log x axis with the
/// handler and trap parts (and Linux's total) as extra lines; the same part has the same
/// colour and dash in every panel.
fn pf_latency_chart(results: &[BenchResult]) -> Option<Drawing> {
    let cands: Vec<&BenchResult> = results
        .iter()
        .filter(|r| {
            r.bench.starts_with("pf_")
                && (r.unit == "cycles" || r.unit == "instructions")
                && ecdf(r).is_some()
        })
        .collect();
    let (cands, unit) = one_unit(cands);
    if cands.is_empty() {
        return None;
    }
    // Panels in first-seen order.
    let mut panels: Vec<(String, Params, Vec<&BenchResult>)> = Vec::new();
    for r in &cands {
        let p = params_without(&r.params, &["part", "os"]);
        let key = format!("{}\u{1f}{}", r.bench, params_label(&p));
        match panels.iter_mut().find(|(k, _, _)| *k == key) {
            Some((_, _, rs)) => rs.push(r),
            None => panels.push((key, p, vec![r])),
        }
    }
    // The lines: (os, part) in first-seen order, one colour each.
    let ident = |r: &BenchResult| match r.param_text("os") {
        Some(os) => format!("{os} {}", pf_part(r)),
        None => pf_part(r),
    };
    let mut idents: Vec<String> = Vec::new();
    for r in &cands {
        if !idents.contains(&ident(r)) {
            idents.push(ident(r));
        }
    }
    // Panel titles: the values of the params that differ between panels, with the bench
    // when its name is not `pf_<mode>`.
    let common: Vec<String> = panels[0]
        .1
        .iter()
        .filter(|(k, v)| panels.iter().all(|(_, p, _)| p.get(*k) == Some(*v)))
        .map(|(k, _)| k.clone())
        .collect();
    let shared: Params = panels[0]
        .1
        .iter()
        .filter(|(k, _)| common.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    let (mut from_samples, mut from_hist) = (false, false);
    let mut charts = Vec::new();
    for (_, p, rs) in &panels {
        let bench = &rs[0].bench;
        let implied = rs[0]
            .param_text("mode")
            .is_some_and(|m| *bench == format!("pf_{m}"));
        let own: Vec<String> = p
            .iter()
            .filter(|(k, _)| !common.contains(k))
            .map(|(_, v)| crate::model::value_text(v))
            .collect();
        let title = match (implied, own.is_empty()) {
            (_, true) => bench.clone(),
            (true, false) => own.join(", "),
            (false, false) => format!("{bench}: {}", own.join(", ")),
        };
        let mut series = Vec::new();
        for (i, r) in rs.iter().enumerate() {
            let Some((pts, exact)) = ecdf(r) else {
                continue;
            };
            from_samples |= exact;
            from_hist |= !exact;
            for q in &pts {
                lo = lo.min(q.x);
                hi = hi.max(q.x);
            }
            let id = ident(r);
            let color = if idents.len() <= PALETTE.len() {
                idents.iter().position(|x| *x == id).unwrap_or(i)
            } else {
                i
            };
            series.push(Series {
                label: id,
                shape: Shape::Curve,
                color,
                dash: part_dash(&pf_part(r)),
                points: pts,
            });
        }
        // More lines than a panel holds (many parts or systems): panels of their own.
        let k = series.len().div_ceil(MAX_SERIES).max(1);
        for (j, chunk) in series.chunks(MAX_SERIES).enumerate() {
            charts.push(Chart {
                title: if k > 1 {
                    format!("{title} ({}/{k})", j + 1)
                } else {
                    title.clone()
                },
                x_label: format!("latency ({unit}), log scale"),
                y_label: "cumulative fraction".into(),
                y_ticks: Some(
                    [0.0, 0.25, 0.5, 0.75, 1.0]
                        .iter()
                        .map(|v| (*v, crate::fmt::tick(*v)))
                        .collect(),
                ),
                series: chunk.to_vec(),
                ..Chart::default()
            });
        }
    }
    let (ticks, a, b) = log10_ticks(lo, hi);
    for c in &mut charts {
        c.x_ticks = Some(ticks.clone());
        c.x_range = Some((a, b));
    }
    let source = match (from_samples, from_hist) {
        (true, false) => "ECDF of every raw sample".to_string(),
        (false, _) => {
            "ECDF from log2 buckets: the cumulative fraction at each bucket's upper bound (the \
             raw samples were not kept)"
                .to_string()
        }
        (true, true) => "ECDF of the raw samples; from log2 buckets (the cumulative fraction at \
                         each bucket's upper bound) where a result has none"
            .to_string(),
    };
    let legend = if idents.len() <= PALETTE.len() {
        LegendPlace::Shared
    } else {
        LegendPlace::PerPanel
    };
    Some(
        Figure::grid(
            "Page-fault latency distributions",
            &subtitle(&source, &params_label(&shared)),
            charts,
            legend,
        )
        .draw(),
    )
}

fn throughput(results: &[BenchResult], w: &Whiskers) -> Option<Drawing> {
    throughput_of(results, w, "pf_throughput", "Page-fault throughput vs CPUs")
}

/// A rate against CPUs (`bench`'s results with a `cpus` param), one line per family of the
/// other params, each with its ideal N × rate(1).
fn throughput_of(
    results: &[BenchResult],
    w: &Whiskers,
    bench: &str,
    title: &str,
) -> Option<Drawing> {
    let cands: Vec<&BenchResult> = results
        .iter()
        .filter(|r| r.bench == bench && r.param_f64("cpus").is_some_and(|c| c > 0.0))
        .collect();
    let (cands, unit) = one_unit(cands);
    if cands.is_empty() {
        return None;
    }
    // Each family: its data line and, when it has cpus=1, its ideal line.
    let mut groups: Vec<Vec<Series>> = Vec::new();
    let fams = families(&cands, &["cpus"]);
    let n_fams = fams.len();
    let (labels, common) = split_common(&fams.iter().map(|f| &f.0).collect::<Vec<_>>(), "p50");
    for (i, ((_, rs), label)) in fams.into_iter().zip(labels).enumerate() {
        let mut group = Vec::new();
        let pts = by_x(
            rs.iter()
                .map(|r| point(r, r.param_f64("cpus").unwrap_or(0.0), w))
                .collect(),
        );
        let one = rs.iter().find(|r| r.param_f64("cpus") == Some(1.0));
        if let Some(one) = one {
            let ideal: Vec<Point> = pts.iter().map(|p| Point::new(p.x, p.x * one.p50)).collect();
            group.push(Series {
                label: if n_fams == 1 {
                    "ideal: N × rate(1)".into()
                } else {
                    format!("ideal: N × rate(1), {label}")
                },
                shape: Shape::Ideal,
                color: i,
                dash: Dash::Dashed,
                points: ideal,
            });
        }
        group.push(Series::line(label, i, pts));
        groups.push(group);
    }
    let all: Vec<Series> = groups.iter().flatten().cloned().collect();
    let chart = Chart {
        title: title.into(),
        subtitle: subtitle(&(w.desc)(&cands), &common),
        x_label: "CPUs faulting".into(),
        y_label: format!("{} (p50)", unit_label(&unit)),
        x_integer: true,
        y_log: y_is_log(&all, &[]),
        series: all,
        ..Chart::default()
    };
    if chart.series.len() <= MAX_SERIES {
        return Some(chart.draw());
    }
    // Small multiples of at most three families each, a family's lines kept together.
    let panels: Vec<Chart> = groups
        .chunks(MAX_SERIES / 2)
        .map(|g| Chart {
            title: String::new(),
            subtitle: String::new(),
            series: g.iter().flatten().cloned().collect(),
            ..chart.clone()
        })
        .collect();
    let legend = if n_fams <= PALETTE.len() {
        LegendPlace::Shared
    } else {
        LegendPlace::PerPanel
    };
    Some(Figure::grid(&chart.title, &chart.subtitle, panels, legend).draw())
}
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::svg::tests::texts;
    use crate::testutil::res;
    use serde_json::json;

    /// The `points` of every `<polyline class="...">` of that class, as (x, y) pixel pairs.
    pub(crate) fn polylines(svg: &str, class: &str) -> Vec<Vec<(f64, f64)>> {
        let tag = format!("<polyline class=\"{class}\"");
        svg.match_indices(&tag)
            .map(|(i, _)| {
                let rest = &svg[i..];
                let start = rest.find("points=\"").unwrap() + 8;
                let end = start + rest[start..].find('"').unwrap();
                rest[start..end]
                    .split_whitespace()
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    fn increasing(v: &[f64]) -> bool {
        v.windows(2).all(|w| w[0] < w[1])
    }

    fn sd(params: serde_json::Value, p50: f64) -> BenchResult {
        res("shootdown", "workload", params, "cycles", p50)
    }

    fn shootdown_set() -> Vec<BenchResult> {
        let mut v = vec![
            res("ipi_roundtrip", "floor", json!({}), "cycles", 1500.0),
            res("invlpg", "floor", json!({}), "cycles", 150.0),
            res("flush_cr3", "floor", json!({}), "cycles", 400.0),
            res("flush_global", "floor", json!({}), "cycles", 900.0),
        ];
        for (delivery, k) in [("unicast", 1.0), ("multicast", 0.6)] {
            for t in [3, 1, 2] {
                v.push(sd(
                    json!({"protocol":"sync","delivery":delivery,"space":"kernel","targets":t,"pages":1}),
                    2000.0 + k * 700.0 * t as f64,
                ));
            }
            for p in [1, 8, 64] {
                v.push(sd(
                    json!({"protocol":"sync","delivery":delivery,"space":"kernel","targets":3,"pages":p}),
                    3000.0 + k * 100.0 * p as f64,
                ));
            }
            v.push(sd(
                json!({"protocol":"sync","delivery":delivery,"space":"kernel","targets":3,"pages":"full"}),
                20000.0,
            ));
        }
        v
    }

    #[test]
    fn targets_plot_has_one_monotone_line_per_family_and_floors() {
        let svg = shootdown_vs_targets(&shootdown_set()).unwrap();
        assert!(svg.starts_with("<svg"));
        let lines = polylines(&svg, "series");
        assert_eq!(lines.len(), 2);
        for l in &lines {
            assert_eq!(l.len(), 3);
            let xs: Vec<f64> = l.iter().map(|p| p.0).collect();
            let ys: Vec<f64> = l.iter().map(|p| -p.1).collect();
            assert!(increasing(&xs), "{xs:?}");
            assert!(increasing(&ys), "latency grows with targets: {ys:?}");
        }
        assert!(svg.contains("data-label=\"delivery=unicast\""));
        assert!(svg.contains("data-label=\"delivery=multicast\""));
        assert!(
            texts(&svg).contains("p50, whiskers p5–p95; all: protocol=sync space=kernel"),
            "{}",
            texts(&svg)
        );
        assert!(svg.contains("ipi_roundtrip p50 = 1500 cycles"));
        assert!(svg.contains("ipi_roundtrip + invlpg p50 = 1650 cycles"));
        assert_eq!(svg.matches("class=\"floor\"").count(), 2);
        assert!(svg.contains("p50 latency (cycles)"));
        assert!(svg.contains(">target CPUs</text>"));
    }

    #[test]
    fn pages_plot_puts_full_at_the_right_end() {
        let svg = shootdown_vs_pages(&shootdown_set()).unwrap();
        let lines = polylines(&svg, "series");
        assert_eq!(lines.len(), 2);
        for l in &lines {
            assert_eq!(l.len(), 4, "1, 8, 64 pages and full");
            let xs: Vec<f64> = l.iter().map(|p| p.0).collect();
            assert!(increasing(&xs), "{xs:?}");
        }
        assert!(svg.contains(">full</text>"));
        assert!(svg.contains(">64</text>"));
        assert!(texts(&svg).contains("all: protocol=sync space=kernel targets=3"));
        assert_eq!(svg.matches("class=\"floor\"").count(), 3);
        // 150 .. 20000: more than two decades, so a log y axis with decade ticks.
        assert!(svg.contains(">10k</text>"));
        assert!(svg.contains(">100</text>"));
    }

    #[test]
    fn pages_flushed_in_full_keep_their_count() {
        // As the kernel writes them: flush=pages below its ceiling, flush=full above it, and
        // pages="full" for a whole-TLB flush.
        let v = vec![
            sd(json!({"targets":2,"pages":4,"flush":"pages"}), 100.0),
            sd(json!({"targets":2,"pages":512,"flush":"full"}), 200.0),
            sd(json!({"targets":2,"pages":"full","flush":"full"}), 210.0),
            sd(json!({"targets":1,"pages":4,"flush":"pages"}), 50.0),
        ];
        let svg = shootdown_vs_pages(&v).unwrap();
        let lines = polylines(&svg, "series");
        assert_eq!(lines.len(), 1, "one family: flush is not a family key");
        let l = &lines[0];
        assert_eq!(l.len(), 3, "targets=1 left out (not the most targets)");
        assert!(l[0].0 < l[1].0 && l[1].0 < l[2].0);
        assert!(svg.contains(">512</text>"));
        assert!(svg.contains(">full</text>"));
        assert!(
            texts(&svg).contains("open circles: flushed in full; all: targets=2"),
            "{}",
            texts(&svg)
        );
        assert_eq!(svg.matches("fill=\"white\" stroke=").count(), 1);
    }

    fn pf(bench: &str, access: &str, part: &str, p50: f64, hist: Vec<(u64, u64)>) -> BenchResult {
        let mut r = res(
            bench,
            "workload",
            json!({"mode": bench.trim_start_matches("pf_"), "page": 4096, "access": access, "part": part}),
            "cycles",
            p50,
        );
        r.hist = hist;
        r
    }

    #[test]
    fn latency_ecdf_small_multiples_from_buckets() {
        let mut v = Vec::new();
        for bench in ["pf_kernel", "pf_user"] {
            for access in ["write", "read"] {
                v.push(pf(
                    bench,
                    access,
                    "total",
                    1500.0,
                    vec![(1024, 10), (2048, 980), (8192, 10)],
                ));
                v.push(pf(
                    bench,
                    access,
                    "handler",
                    900.0,
                    vec![(512, 500), (1024, 500)],
                ));
                v.push(pf(bench, access, "trap", 300.0, vec![(0, 1), (256, 999)]));
            }
        }
        let mut t = res(
            "pf_throughput",
            "workload",
            json!({"cpus":1}),
            "faults_per_s",
            1e6,
        );
        t.hist = vec![(1 << 19, 5)];
        v.push(t);
        let d = pf_latency_chart(&v).unwrap();
        assert_eq!(d.width, crate::svg::FULL_WIDTH);
        assert_eq!(d.panels.len(), 4, "kernel/user × write/read");
        for p in &d.panels {
            let labels: Vec<&str> = p.series.iter().map(|s| s.0.as_str()).collect();
            assert_eq!(labels, ["total", "handler", "trap"]);
            assert_eq!(p.series[0].2, Dash::Solid);
            assert_eq!(p.series[1].2, Dash::Dashed);
            assert_eq!(p.series[2].2, Dash::Dotted);
        }
        // The same part has the same colour in every panel.
        assert!(d.panels.iter().all(|p| p.series == d.panels[0].series));
        let svg = d.svg();
        let text = texts(&svg);
        for title in ["kernel, write", "kernel, read", "user, write", "user, read"] {
            assert!(text.contains(title), "{title}: {text}");
        }
        assert!(text.contains("from log2 buckets"), "{text}");
        assert!(text.contains("all: page=4096"), "{text}");
        assert!(text.contains("latency (cycles), log scale"), "{text}");
        assert!(!text.contains("pf_throughput"));
        // Decade or 1-2-5 ticks covering 0 .. 16384 cycles; y from 0 to 1.
        assert!(
            svg.contains(">1k</text>") && svg.contains(">10k</text>"),
            "{text}"
        );
        assert!(svg.contains(">0.5</text>") && svg.contains(">1</text>"));
        // 4 panels × 3 curves, each ending at the top (y = 1).
        let curves = polylines(&svg, "series");
        assert_eq!(curves.len(), 12);
        for c in &curves {
            let ys: Vec<f64> = c.iter().map(|p| -p.1).collect();
            assert!(
                ys.windows(2).all(|w| w[0] <= w[1]),
                "an ECDF never falls: {ys:?}"
            );
        }
        assert!(pf_latency(&[]).is_none());
    }

    #[test]
    fn ecdf_points() {
        // Buckets [1024, 2048) ×1 and [4096, 8192) ×3: the empty bucket between is flat.
        let mut r = pf(
            "pf_kernel",
            "write",
            "total",
            5000.0,
            vec![(4096, 3), (1024, 1)],
        );
        let (pts, exact) = ecdf(&r).unwrap();
        assert!(!exact);
        let xy: Vec<(f64, f64)> = pts.iter().map(|p| (10f64.powf(p.x).round(), p.y)).collect();
        assert_eq!(
            xy,
            [(1024.0, 0.0), (2048.0, 0.25), (4096.0, 0.25), (8192.0, 1.0)]
        );
        // Raw samples: the exact step curve at each distinct value.
        r.samples = Some(vec![30, 10, 20, 20]);
        let (pts, exact) = ecdf(&r).unwrap();
        assert!(exact);
        let xy: Vec<(f64, f64)> = pts.iter().map(|p| (10f64.powf(p.x).round(), p.y)).collect();
        assert_eq!(
            xy,
            [
                (10.0, 0.0),
                (10.0, 0.25),
                (20.0, 0.25),
                (20.0, 0.75),
                (30.0, 0.75),
                (30.0, 1.0)
            ]
        );
        r.samples = None;
        r.hist.clear();
        assert!(ecdf(&r).is_none());
    }

    #[test]
    fn latency_from_samples_says_so_and_linux_joins_the_panel() {
        let mut ours = pf("pf_user", "write", "total", 20.0, vec![(16, 4)]);
        ours.samples = Some(vec![18, 20, 22, 25]);
        let mut linux = pf("pf_user", "write", "total", 60.0, vec![(32, 2), (64, 2)]);
        linux.params.insert("os".into(), "linux".into());
        let d = pf_latency_chart(&[ours.clone(), linux]).unwrap();
        assert_eq!(d.panels.len(), 1, "one kind of fault, two systems");
        assert_eq!(d.width, crate::svg::COLUMN_WIDTH);
        let labels: Vec<&str> = d.panels[0].series.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(labels, ["total", "linux total"]);
        let text = texts(&d.svg());
        assert!(
            text.contains("ECDF of the raw samples; from log2 buckets"),
            "{text}"
        );
        let text = texts(&pf_latency_chart(&[ours]).unwrap().svg());
        assert!(text.contains("ECDF of every raw sample"), "{text}");
        assert!(!text.contains("buckets"), "{text}");
    }

    #[test]
    fn whiskers_fall_back_to_min_p90_and_say_so() {
        let mut v = shootdown_set();
        let svg = shootdown_vs_targets(&v).unwrap();
        assert!(texts(&svg).contains("whiskers p5–p95"));
        for r in &mut v {
            r.p5 = None;
            r.p95 = None;
        }
        let svg = shootdown_vs_targets(&v).unwrap();
        assert!(
            texts(&svg).contains("whiskers min–p90 (these records have no p5/p95)"),
            "{}",
            texts(&svg)
        );
        v[4].p5 = Some(1.0);
        v[4].p95 = Some(2.0);
        let svg = shootdown_vs_targets(&v).unwrap();
        assert!(texts(&svg).contains("whiskers p5–p95 (min–p90 where a record has no p5/p95)"));
        // The whisker runs p5..p95 where a record has them.
        let r = &shootdown_set()[4];
        assert_eq!(p5_p95(r), Some((r.p5.unwrap(), r.p95.unwrap())));
    }

    #[test]
    fn throughput_plot_with_ideal_line() {
        let v: Vec<BenchResult> = [(1, 1e6), (2, 1.9e6), (4, 3.2e6)]
            .iter()
            .map(|(n, r)| {
                res(
                    "pf_throughput",
                    "workload",
                    json!({"cpus":n}),
                    "faults_per_s",
                    *r,
                )
            })
            .collect();
        let svg = pf_throughput(&v).unwrap();
        let data = polylines(&svg, "series");
        let ideal = polylines(&svg, "ideal");
        assert_eq!((data.len(), ideal.len()), (1, 1));
        let xs: Vec<f64> = data[0].iter().map(|p| p.0).collect();
        assert!(increasing(&xs));
        // Ideal is above the data at 4 CPUs (smaller pixel y), equal at 1.
        assert!((ideal[0][0].1 - data[0][0].1).abs() < 0.11);
        assert!(ideal[0][2].1 < data[0][2].1);
        assert!(svg.contains("faults/s (p50)"));
        assert!(svg.contains("ideal: N × rate(1)"));
        assert!(svg.contains("stroke-dasharray"));
    }

    #[test]
    fn no_data_no_plots() {
        let v = vec![res("invlpg", "floor", json!({}), "cycles", 100.0)];
        assert!(plots(&v).is_empty());
        let names: Vec<String> = plots(&shootdown_set())
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(
            names,
            vec!["shootdown_vs_targets.svg", "shootdown_vs_pages.svg"]
        );
    }

    #[test]
    fn log2_x_for_many_targets() {
        let v: Vec<BenchResult> = [1, 2, 4, 16, 64, 255]
            .iter()
            .map(|t| sd(json!({"targets":t,"pages":1}), 1000.0 + *t as f64))
            .collect();
        let svg = shootdown_vs_targets(&v).unwrap();
        assert!(svg.contains("target CPUs (log2)"));
        let l = &polylines(&svg, "series")[0];
        let xs: Vec<f64> = l.iter().map(|p| p.0).collect();
        assert!(increasing(&xs));
        assert!(svg.contains(">256</text>"));
    }

    /// Checks a figure as a paper would use it: column or full width, no panel overlaying more
    /// than [`MAX_SERIES`] series or one colour and dash twice, text of 7 pt or more inside
    /// the page, and a PDF that parses.
    pub(crate) fn check_figure(what: &str, d: &crate::svg::Drawing) {
        use crate::svg::{Anchor, COLUMN_WIDTH, FULL_WIDTH, Item, TEXT_SIZE};
        assert!(
            d.width == COLUMN_WIDTH || d.width == FULL_WIDTH,
            "{what}: width {}",
            d.width
        );
        assert!(!d.panels.is_empty(), "{what}: no panel");
        for (i, p) in d.panels.iter().enumerate() {
            if !p.stacked {
                assert!(
                    p.series.len() <= MAX_SERIES,
                    "{what} panel {i}: {} series: {:?}",
                    p.series.len(),
                    p.series
                );
            }
            let styles: Vec<_> = p
                .series
                .iter()
                .chain(&p.refs)
                .map(|(_, c, dash)| (*c, *dash))
                .collect();
            for (j, s) in styles.iter().enumerate() {
                assert!(
                    !styles[..j].contains(s),
                    "{what} panel {i}: colour and dash {s:?} twice: {:?} {:?}",
                    p.series,
                    p.refs
                );
            }
        }
        for item in &d.items {
            if let Item::Text {
                x,
                y,
                text,
                size,
                anchor,
                bold,
                angle,
                ..
            } = item
            {
                assert!(*size >= TEXT_SIZE, "{what}: {text} at {size} pt");
                assert!(*y > 0.0 && *y <= d.height, "{what}: {text} at y {y}");
                if *angle == 0.0 {
                    let w = crate::pdf::text_width(text, *size, *bold);
                    let x0 = match anchor {
                        Anchor::Start => *x,
                        Anchor::Middle => x - w / 2.0,
                        Anchor::End => x - w,
                    };
                    assert!(
                        x0 >= -0.5 && x0 + w <= d.width + 0.5,
                        "{what}: `{text}` runs off the page ({x0:.1}..{:.1} of {})",
                        x0 + w,
                        d.width
                    );
                }
            }
        }
        let content = crate::pdf::tests::check_structure(&d.pdf());
        assert!(content.contains(" Tj ET"), "{what}: no text in the PDF");
    }

    fn results_dir(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../results")
            .join(name)
    }

    #[test]
    fn every_committed_figure_is_uncrowded_and_sized_for_a_paper() {
        let mut seen = 0;
        let mut dirs: Vec<_> = std::fs::read_dir(results_dir(""))
            .unwrap()
            .flatten()
            .filter(|e| e.path().join("records.jsonl").is_file())
            .map(|e| e.path())
            .collect();
        dirs.sort();
        assert!(dirs.len() >= 7, "{dirs:?}");
        for dir in &dirs {
            let r = crate::model::load(dir).unwrap();
            for p in plots(&r.results) {
                check_figure(&format!("{}/{}", dir.display(), p.name), &p.drawing);
                seen += 1;
            }
        }
        // Both kernels on one chart.
        for (ours, linux) in [("tcg", "linux-tcg"), ("icount", "linux-icount")] {
            let ours = crate::model::load(&results_dir(ours)).unwrap();
            let linux = crate::model::load(&results_dir(linux)).unwrap();
            for p in crate::linux::joint_plots(&ours, &linux) {
                check_figure(&format!("with_ours/{}", p.name), &p.drawing);
                seen += 1;
            }
        }
        assert!(seen >= 40, "{seen}");
    }

    /// Every protocol, delivery and phase the kernel has, many targets, many families.
    fn worst_case() -> Vec<BenchResult> {
        let mut v = Vec::new();
        for f in ["ipi_roundtrip", "invlpg", "flush_cr3"] {
            v.push(res(f, "floor", json!({}), "cycles", 500.0));
        }
        for how in ["cr4_pge", "invpcid", "cr3_reload"] {
            v.push(res(
                "flush_global",
                "floor",
                json!({"how": how}),
                "cycles",
                900.0,
            ));
        }
        let deliveries = ["unicast", "all_but_self", "x2apic_cluster", "none"];
        for (pi, proto) in kernel_core::cmdline::SHOOTDOWN_PROTOCOLS.iter().enumerate() {
            for (di, delivery) in deliveries.iter().enumerate() {
                for space in ["kernel", "user"] {
                    for t in [1, 2, 4, 8, 16, 32, 63] {
                        for pages in [json!(1), json!(8), json!(64), json!("full")] {
                            v.push(sd(
                                json!({"protocol":proto,"delivery":delivery,"space":space,
                                       "targets":t,"pages":pages}),
                                1000.0 + (pi * 100 + di * 10 + t) as f64,
                            ));
                        }
                    }
                }
            }
            for t in [1, 2, 4, 8, 16, 32, 63] {
                for phase in kernel_core::phases::AFTER_INVALIDATE
                    .iter()
                    .chain(&["total", "critical_path"])
                {
                    v.push(res(
                        "shootdown_phases",
                        "workload",
                        json!({"protocol":proto,"delivery":"unicast","space":"kernel",
                               "targets":t,"pages":1,"phase":phase}),
                        "cycles",
                        100.0 + t as f64,
                    ));
                }
            }
        }
        for mode in ["kernel", "user"] {
            for access in ["write", "read", "exec"] {
                for part in ["total", "handler", "trap", "entry"] {
                    for os in [None, Some("linux"), Some("freebsd")] {
                        let mut r = pf(
                            &format!("pf_{mode}"),
                            access,
                            part,
                            2000.0,
                            vec![(1024, 5), (2048, 5)],
                        );
                        if let Some(os) = os {
                            r.params.insert("os".into(), os.into());
                        }
                        v.push(r);
                    }
                }
            }
        }
        for mode in ["kernel", "user", "huge", "shared", "cow"] {
            for cpus in [1, 2, 4] {
                v.push(res(
                    "pf_throughput",
                    "workload",
                    json!({"mode": mode, "cpus": cpus}),
                    "faults_per_s",
                    1e6 * cpus as f64,
                ));
            }
        }
        for control in kernel_core::cmdline::PF_CONTROLS {
            for cpus in [1, 2, 4] {
                v.push(res(
                    "pf_contention_rate",
                    "workload",
                    json!({"control": control, "cpus": cpus, "pages_per_cpu": 256}),
                    "faults_per_s",
                    1e6 * cpus as f64,
                ));
            }
        }
        v
    }

    #[test]
    fn worst_cases_split_into_small_multiples() {
        let v = worst_case();
        let all = plots(&v);
        assert_eq!(all.len(), PLOT_FILES.len(), "every plot has data");
        for p in &all {
            check_figure(&p.name, &p.drawing);
        }
        let panels = |name: &str| {
            all.iter()
                .find(|p| p.name == name)
                .map(|p| p.drawing.panels.len())
                .unwrap()
        };
        assert_eq!(panels("shootdown_deliveries.svg"), 8, "one per protocol");
        assert_eq!(panels("shootdown_protocols.svg"), 2, "strict and relaxed");
        assert_eq!(
            panels("pf_latency.svg"),
            6 * 2,
            "4 parts × 3 systems: two panels each"
        );
        assert!(panels("shootdown_vs_targets.svg") >= 2);
        assert!(panels("pf_throughput.svg") >= 2);
        // A repeated run's whiskers say so.
        let w = Whiskers {
            range: &|r: &BenchResult| Some((r.min, r.max)),
            desc: &|_: &[&BenchResult]| "median of boots, whiskers min–max of boots".into(),
        };
        for p in plots_with(&v, &w) {
            check_figure(&p.name, &p.drawing);
        }
    }

    #[test]
    fn figures_render_to_pdf_with_their_text() {
        let p = plots(&shootdown_set());
        let pdf = p[0].pdf();
        let content = crate::pdf::tests::check_structure(&pdf);
        assert!(
            content.contains("(TLB shootdown latency vs target CPUs, 1 page) Tj"),
            "{content}"
        );
        // The en dash in WinAnsi, the legend text, a line and a circle.
        assert!(
            content.contains("(p50, whiskers p5\\226p95; all: protocol=sync space=kernel) Tj"),
            "{content}"
        );
        assert!(content.contains("(delivery=unicast) Tj"));
        assert!(content.contains(" l S\n") || content.contains(" l\nS\n"));
        assert!(content.contains(" c\nb\n"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/BaseFont /Helvetica "));
        assert!(text.contains("/Title (TLB shootdown latency vs target CPUs, 1 page)"));
        assert_eq!(p[0].pdf_name(), "shootdown_vs_targets.pdf");
    }
}
