//! The paper plots (SVG), each made only when its data exists.
//!
//! | file | what |
//! |---|---|
//! | `shootdown_vs_targets.svg` | `shootdown` p50 vs `targets` at `pages=1`, one line per family (the other params: delivery, space, protocol), floors `ipi_roundtrip` and `ipi_roundtrip + invlpg` dashed |
//! | `shootdown_vs_pages.svg` | `shootdown` p50 vs `pages` (log2 x; `pages="full"` or `flush="full"` at the right end, labelled `full`), each family at its largest `targets`, floors `invlpg`, `flush_cr3`, `flush_global` dashed |
//! | `pf_latency.svg` | each `pf_*` result in cycles or instructions with a `hist`: share of samples per log2 bucket as a step histogram, its p50 as a dashed vertical line |
//! | `pf_throughput.svg` | `pf_throughput` p50 vs `cpus`, with the ideal N × rate(1) dashed |
//! | `shootdown_protocols.svg` | `shootdown` p50 vs `targets`, one line per protocol (kernel half, 1 page, unicast or `none`) |
//! | `shootdown_protocols_pages.svg` | `shootdown` p50 vs `pages` per protocol at its most targets, the ceilings marked |
//! | `shootdown_phases.svg` | `shootdown_phases`: a stacked bar of phase p50s per protocol and target count |
//!
//! The first two plots show the deliveries and spaces of the `sync` protocol (results
//! without a `protocol` param too); the protocol plots compare protocols on one slice.
//!
//! Whiskers: min..p90 of each result for one run; min..max of the per-boot p50s for repeats.
//! The y axis is log10 when the plotted values span more than two decades.

use crate::fmt::{tick_pow2, unit_label};
use crate::goals::{floor, params_without};
use crate::model::{BenchResult, Params, params_label};
use crate::svg::{Chart, HLine, Point, Series, Shape, VLine, use_log_scale};

/// The file names of the plots, in the order [`plots`] returns them.
pub const PLOT_FILES: [&str; 9] = [
    "shootdown_vs_targets.svg",
    "shootdown_vs_pages.svg",
    "pf_latency.svg",
    "pf_throughput.svg",
    "shootdown_protocols.svg",
    "shootdown_protocols_pages.svg",
    "shootdown_phases.svg",
    "shootdown_deliveries.svg",
    "shootdown_critical_path.svg",
];

/// How whiskers are drawn: `(lo, hi)` of a result, and the words for the title.
pub(crate) struct Whiskers<'a> {
    pub range: &'a dyn Fn(&BenchResult) -> Option<(f64, f64)>,
    pub desc: &'a str,
}

fn min_p90(r: &BenchResult) -> Option<(f64, f64)> {
    Some((r.min, r.p90))
}

const SINGLE: Whiskers<'static> = Whiskers {
    range: &min_p90,
    desc: "whiskers min..p90",
};

/// Every plot whose data exists, as `(file name, SVG text)`; whiskers min..p90.
pub fn plots(results: &[BenchResult]) -> Vec<(String, String)> {
    plots_with(results, &SINGLE)
}

pub(crate) fn plots_with(results: &[BenchResult], w: &Whiskers) -> Vec<(String, String)> {
    [
        shootdown_targets(results, w),
        shootdown_pages(results, w),
        pf_latency_chart(results),
        throughput(results, w),
        crate::protocols::protocols_vs_targets(results),
        crate::protocols::protocols_vs_pages(results),
        crate::protocols::phases_chart(results),
        crate::protocols::deliveries_vs_targets(results),
        crate::protocols::critical_path_vs_targets(results),
    ]
    .into_iter()
    .zip(PLOT_FILES)
    .filter_map(|(svg, name)| svg.map(|s| (name.to_string(), s)))
    .collect()
}

/// `shootdown_vs_targets.svg`, if there are shootdown results at `pages=1`.
pub fn shootdown_vs_targets(results: &[BenchResult]) -> Option<String> {
    shootdown_targets(results, &SINGLE)
}

/// `shootdown_vs_pages.svg`, if there are shootdown results with numeric or full `pages`.
pub fn shootdown_vs_pages(results: &[BenchResult]) -> Option<String> {
    shootdown_pages(results, &SINGLE)
}

/// `pf_latency.svg`, if some `pf_*` result in cycles or instructions has a histogram.
pub fn pf_latency(results: &[BenchResult]) -> Option<String> {
    pf_latency_chart(results)
}

/// `pf_throughput.svg`, if there are `pf_throughput` results with a numeric `cpus`.
pub fn pf_throughput(results: &[BenchResult]) -> Option<String> {
    throughput(results, &SINGLE)
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

fn shootdown_targets(results: &[BenchResult], w: &Whiskers) -> Option<String> {
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
        series.push(Series {
            label,
            shape: Shape::Line,
            color: i,
            points: pts,
        });
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
        subtitle: subtitle(w.desc, &common),
        x_label: if log_x {
            "target CPUs (log2)".into()
        } else {
            "target CPUs".into()
        },
        y_label: format!("p50 latency ({unit})"),
        x_ticks,
        x_integer: true,
        y_log: y_is_log(&series, &hlines),
        series,
        hlines,
        vlines: vec![],
    };
    Some(chart.render())
}

fn shootdown_pages(results: &[BenchResult], w: &Whiskers) -> Option<String> {
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
        series.push(Series {
            label,
            shape: Shape::Line,
            color: i,
            points: pts,
        });
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
                w.desc,
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
        series,
        hlines,
        vlines: vec![],
    };
    Some(chart.render())
}

/// Position of a value on the bucket axis: bucket 0 spans `[0, 1)`, bucket k+1 spans
/// `[2^k, 2^(k+1))`, so a value v ≥ 1 sits at `1 + log2(v)`.
fn bucket_pos(v: f64) -> f64 {
    if v < 1.0 { v.max(0.0) } else { 1.0 + v.log2() }
}

/// The bucket index of a lower bound: 0 → 0, 2^k → k + 1 (other bounds: their log2 floor).
fn bucket_index(lb: u64) -> u32 {
    64 - lb.leading_zeros()
}

fn pf_latency_chart(results: &[BenchResult]) -> Option<String> {
    let cands: Vec<&BenchResult> = results
        .iter()
        .filter(|r| {
            r.bench.starts_with("pf_")
                && (r.unit == "cycles" || r.unit == "instructions")
                && r.hist.iter().any(|(_, c)| *c > 0)
        })
        .collect();
    let (cands, unit) = one_unit(cands);
    if cands.is_empty() {
        return None;
    }
    let (labels, common) = split_common(&cands.iter().map(|r| &r.params).collect::<Vec<_>>(), "");
    let mut series = Vec::new();
    let mut vlines = Vec::new();
    let (mut lo, mut hi) = (u32::MAX, 0u32);
    for (i, r) in cands.iter().enumerate() {
        let total: u64 = r.hist.iter().map(|(_, c)| c).sum();
        let pts: Vec<Point> = r
            .hist
            .iter()
            .filter(|(_, c)| *c > 0)
            .map(|(lb, c)| {
                let k = bucket_index(*lb);
                lo = lo.min(k);
                hi = hi.max(k + 1);
                Point::new(k as f64, 100.0 * *c as f64 / total as f64)
            })
            .collect();
        let own = &labels[i];
        series.push(Series {
            label: format!(
                "{}{}{} (p50 {})",
                r.bench,
                if own.is_empty() { "" } else { " " },
                own,
                crate::fmt::short(r.p50)
            ),
            shape: Shape::Step,
            color: i,
            points: pts,
        });
        vlines.push(VLine {
            x: bucket_pos(r.p50),
            color: i,
        });
    }
    let count = (hi - lo + 1) as usize;
    let step = count.div_ceil(16).max(1);
    let x_ticks: Vec<(f64, String)> = (lo..=hi)
        .filter(|k| ((k - lo) as usize).is_multiple_of(step))
        .map(|k| {
            let label = if k == 0 {
                "0".to_string()
            } else {
                tick_pow2(2f64.powi(k as i32 - 1))
            };
            (k as f64, label)
        })
        .collect();
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.y))
        .collect();
    let chart = Chart {
        title: "Page-fault latency distribution".into(),
        subtitle: subtitle("share of samples per log2 bucket; dashed: p50", &common),
        x_label: format!("latency ({unit}), log2 buckets"),
        y_label: "share of samples (%)".into(),
        x_ticks: Some(x_ticks),
        x_integer: false,
        y_log: use_log_scale(&ys),
        series,
        hlines: vec![],
        vlines,
    };
    Some(chart.render())
}

fn throughput(results: &[BenchResult], w: &Whiskers) -> Option<String> {
    let cands: Vec<&BenchResult> = results
        .iter()
        .filter(|r| r.bench == "pf_throughput" && r.param_f64("cpus").is_some_and(|c| c > 0.0))
        .collect();
    let (cands, unit) = one_unit(cands);
    if cands.is_empty() {
        return None;
    }
    let mut series = Vec::new();
    let fams = families(&cands, &["cpus"]);
    let n_fams = fams.len();
    let (labels, common) = split_common(&fams.iter().map(|f| &f.0).collect::<Vec<_>>(), "p50");
    for (i, ((_, rs), label)) in fams.into_iter().zip(labels).enumerate() {
        let pts = by_x(
            rs.iter()
                .map(|r| point(r, r.param_f64("cpus").unwrap_or(0.0), w))
                .collect(),
        );
        let one = rs.iter().find(|r| r.param_f64("cpus") == Some(1.0));
        if let Some(one) = one {
            let ideal: Vec<Point> = pts.iter().map(|p| Point::new(p.x, p.x * one.p50)).collect();
            series.push(Series {
                label: if n_fams == 1 {
                    "ideal: N × rate(1)".into()
                } else {
                    format!("ideal: N × rate(1), {label}")
                },
                shape: Shape::Ideal,
                color: i,
                points: ideal,
            });
        }
        series.push(Series {
            label,
            shape: Shape::Line,
            color: i,
            points: pts,
        });
    }
    let chart = Chart {
        title: "Page-fault throughput vs CPUs".into(),
        subtitle: subtitle(w.desc, &common),
        x_label: "CPUs faulting".into(),
        y_label: format!("{} (p50)", unit_label(&unit)),
        x_ticks: None,
        x_integer: true,
        y_log: y_is_log(&series, &[]),
        series,
        hlines: vec![],
        vlines: vec![],
    };
    Some(chart.render())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
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
        assert!(svg.contains(">whiskers min..p90; all: protocol=sync space=kernel</text>"));
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
        assert!(svg.contains("all: protocol=sync space=kernel targets=3</text>"));
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
        assert!(svg.contains("open circles: flushed in full; all: targets=2</text>"));
        assert_eq!(svg.matches("fill=\"white\" stroke=").count(), 1);
    }

    #[test]
    fn latency_histogram_per_pf_mode() {
        let mut a = res(
            "pf_kernel",
            "workload",
            json!({"access": "write", "part": "total"}),
            "cycles",
            1500.0,
        );
        a.hist = vec![(1024, 10), (2048, 980), (4096, 9), (8192, 1)];
        let mut b = res(
            "pf_user",
            "workload",
            json!({"access": "write", "part": "total"}),
            "cycles",
            3000.0,
        );
        b.hist = vec![(0, 1), (2048, 500), (4096, 499)];
        let mut t = res(
            "pf_throughput",
            "workload",
            json!({"cpus":1}),
            "faults_per_s",
            1e6,
        );
        t.hist = vec![(1 << 19, 5)];
        let svg = pf_latency(&[a, b, t]).unwrap();
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<path class=\"series\"").count(), 2);
        assert_eq!(svg.matches("class=\"marker\"").count(), 2);
        assert!(svg.contains(">1024</text>") && svg.contains(">2048</text>"));
        assert!(svg.contains(">0</text>"));
        assert!(svg.contains("latency (cycles), log2 buckets"));
        assert!(!svg.contains("pf_throughput"));
        // 0.1% .. 98%: log y.
        assert!(svg.contains(">0.1</text>"));
        assert!(pf_latency(&[]).is_none());
    }

    #[test]
    fn bucket_positions() {
        assert_eq!(bucket_index(0), 0);
        assert_eq!(bucket_index(1), 1);
        assert_eq!(bucket_index(1024), 11);
        assert_eq!(bucket_pos(1024.0), 11.0);
        assert_eq!(bucket_pos(1536.0), 1.0 + 1536f64.log2());
        assert_eq!(bucket_pos(0.5), 0.5);
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
            .map(|(n, _)| n)
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
}
