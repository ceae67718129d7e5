//! The shootdown protocols side by side: the summary's "protocol × targets" table, the
//! canonical figure (latency vs targets, one line per protocol), latency vs pages per
//! protocol with the flush ceilings marked, and the phase breakdown as stacked bars.
//!
//! The comparisons use one slice of the sweep so lines are comparable: kernel-half pages, the
//! protocol's own notification (unicast, or `none` for those that send no IPI at the
//! request), 1 page for the targets figure and the most targets for the pages figure.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::fmt::{md_cell, short, unit_label};
use crate::model::BenchResult;
use crate::plots::{SINGLE, Whiskers};
use crate::svg::{
    Anchor, BLACK, COLUMN_WIDTH, Chart, Drawing, FULL_WIDTH, Figure, Font, Item, LABEL_SIZE,
    LegendEntry, LegendPlace, MAX_SERIES, PALETTE, PanelStyle, Point, Rgb, Series, Stroke,
    TEXT_SIZE, VLine, header, legend, measure, nice_ticks, use_log_scale,
};

/// The protocols in the order the kernel registers them (others after, by name).
const ORDER: &[&str] = kernel_core::cmdline::SHOOTDOWN_PROTOCOLS;
/// The protocols that return before every target invalidated.
const RELAXED: &[&str] = kernel_core::cmdline::RELAXED_PROTOCOLS;

fn protocol_rank(p: &str) -> (usize, String) {
    (
        ORDER.iter().position(|o| *o == p).unwrap_or(ORDER.len()),
        p.to_string(),
    )
}

/// Ticks at 1, 2, 4 … up to `hi`, at their log2 positions, and `hi` itself when it is no
/// power of two (the sweep's largest count, e.g. 63 targets of 64 CPUs).
fn pow2_ticks(hi: f64) -> Vec<(f64, String)> {
    let mut t = Vec::new();
    let mut v = 1.0f64;
    while v <= hi * 1.01 {
        t.push((v.log2(), format!("{v}")));
        v *= 2.0;
    }
    // Not when it would crowd the last power of two (within 20 % of it).
    if t.last().is_some_and(|(x, _)| hi.log2() - x > 0.26) {
        t.push((hi.log2(), format!("{hi}")));
    }
    t
}

/// The comparable slice: `shootdown` in the kernel half with the protocol's own notification.
fn comparable(r: &BenchResult) -> bool {
    r.bench == "shootdown"
        && r.param_text("space").as_deref() == Some("kernel")
        && matches!(
            r.param_text("delivery").as_deref(),
            Some("unicast" | "none")
        )
        && r.param_text("protocol").is_some()
}

fn is_full(r: &BenchResult) -> bool {
    r.param_text("pages").as_deref() == Some("full")
        || r.param_text("flush").as_deref() == Some("full")
}

/// Protocols present among `rs`, in registry order.
fn protocols(rs: &[&BenchResult]) -> Vec<String> {
    let mut v: Vec<String> = rs
        .iter()
        .filter_map(|r| r.param_text("protocol"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    v.sort_by_key(|p| protocol_rank(p));
    v
}

fn one_page_rows(results: &[BenchResult]) -> Vec<&BenchResult> {
    results
        .iter()
        .filter(|r| comparable(r) && r.param_f64("pages") == Some(1.0) && !is_full(r))
        .collect()
}

/// The summary's table: p50 of a 1-page kernel-half shootdown per protocol (rows) and target
/// count (columns); None without shootdown results of two protocols or more.
pub fn protocol_table(results: &[BenchResult]) -> Option<String> {
    let rows = one_page_rows(results);
    let protos = protocols(&rows);
    if protos.len() < 2 {
        return None;
    }
    let mut targets: Vec<u64> = rows
        .iter()
        .filter_map(|r| r.param_f64("targets").map(|t| t as u64))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    targets.sort();
    let unit = rows.first().map(|r| r.unit.clone()).unwrap_or_default();
    let mut s = format!(
        "p50 {} of a 1-page shootdown in the kernel half, by protocol and number of targets \
         (unicast, or `none` where the protocol sends no IPI at the request; relaxed protocols \
         return before the targets invalidate).\n\n| protocol |",
        unit_label(&unit)
    );
    for t in &targets {
        let _ = write!(s, " {t} |");
    }
    s.push_str("\n|---|");
    for _ in &targets {
        s.push_str("---:|");
    }
    s.push('\n');
    for p in &protos {
        let _ = write!(s, "| {} |", md_cell(p));
        for t in &targets {
            let cell = rows
                .iter()
                .find(|r| {
                    r.param_text("protocol").as_deref() == Some(p.as_str())
                        && r.param_f64("targets") == Some(*t as f64)
                        && r.unit == unit
                })
                .map(|r| short(r.p50))
                .unwrap_or_default();
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
    Some(s)
}

/// A point at the median with the run's whiskers.
fn point(r: &BenchResult, x: f64, w: &Whiskers) -> Point {
    let (lo, hi) = (w.range)(r).unzip();
    Point {
        x,
        y: r.p50,
        lo,
        hi,
        hollow: false,
    }
}

/// `shootdown_protocols.svg`: p50 vs targets, 1 page, one line per protocol.
pub fn protocols_vs_targets(results: &[BenchResult]) -> Option<String> {
    protocols_targets(results, &SINGLE).map(|d| d.svg())
}

pub(crate) fn protocols_targets(results: &[BenchResult], w: &Whiskers) -> Option<Drawing> {
    let rows: Vec<&BenchResult> = one_page_rows(results)
        .into_iter()
        .filter(|r| r.param_f64("targets").is_some_and(|t| t > 0.0))
        .collect();
    let subtitle = format!(
        "1 page, kernel half, unicast (none: no IPI at the request); {}",
        (w.desc)(&rows)
    );
    let chart = targets_chart(
        &rows,
        |r| r.param_text("protocol").unwrap_or_default(),
        "TLB shootdown latency vs targets, by protocol",
        subtitle,
        "p50 latency",
        w,
    )?;
    Some(by_kind(chart).draw())
}

/// `shootdown_deliveries.svg`: p50 vs targets, 1 page, kernel half, one panel per protocol
/// and one line per delivery (unicast, all-but-self, x2APIC cluster multicast, none) in it,
/// the same delivery in the same colour throughout; only with two protocols or more, one of
/// them measured with more than one delivery.
pub fn deliveries_vs_targets(results: &[BenchResult]) -> Option<String> {
    deliveries(results, &SINGLE).map(|d| d.svg())
}

pub(crate) fn deliveries(results: &[BenchResult], w: &Whiskers) -> Option<Drawing> {
    let rows: Vec<&BenchResult> = results
        .iter()
        .filter(|r| {
            r.bench == "shootdown"
                && r.param_text("space").as_deref() == Some("kernel")
                && r.param_text("protocol").is_some()
                && r.param_f64("pages") == Some(1.0)
                && !is_full(r)
                && r.param_f64("targets").is_some_and(|t| t > 0.0)
                && r.params.get("ack_delay").is_none()
        })
        .collect();
    let label = |r: &BenchResult| {
        format!(
            "{}/{}",
            r.param_text("protocol").unwrap_or_default(),
            r.param_text("delivery").unwrap_or_default()
        )
    };
    let lines: BTreeSet<String> = rows.iter().map(|r| label(r)).collect();
    // One protocol's deliveries are `shootdown_vs_targets.svg` already.
    let protos = protocols(&rows);
    if protos.len() < 2 || lines.len() <= protos.len() {
        return None;
    }
    let subtitle = format!("1 page, kernel half; {}", (w.desc)(&rows));
    let delivery = |r: &BenchResult| r.param_text("delivery").unwrap_or_default();
    // Deliveries in first-seen order: one colour each across the panels.
    let mut deliveries: Vec<String> = Vec::new();
    for r in &rows {
        if !deliveries.contains(&delivery(r)) {
            deliveries.push(delivery(r));
        }
    }
    let mut panels = Vec::new();
    for p in &protos {
        let mine: Vec<&BenchResult> = rows
            .iter()
            .copied()
            .filter(|r| r.param_text("protocol").as_deref() == Some(p.as_str()))
            .collect();
        let Some(mut chart) = targets_chart(&mine, delivery, p, String::new(), "p50", w) else {
            continue;
        };
        for s in &mut chart.series {
            s.color = deliveries.iter().position(|d| *d == s.label).unwrap_or(0);
        }
        panels.push(chart);
    }
    let legend = if deliveries.len() <= PALETTE.len() {
        LegendPlace::Shared
    } else {
        LegendPlace::PerPanel
    };
    let figure = Figure::grid(
        "TLB shootdown latency vs targets, by protocol and delivery",
        &subtitle,
        panels,
        legend,
    );
    Some(figure.draw())
}

/// `shootdown_critical_path.svg`: the deterministic mode's critical path (`shootdown_phases`
/// with `phase=critical_path`, kernel half, 1 page, unicast) vs targets, one line per
/// protocol.
pub fn critical_path_vs_targets(results: &[BenchResult]) -> Option<String> {
    critical_path(results, &SINGLE).map(|d| d.svg())
}

pub(crate) fn critical_path(results: &[BenchResult], w: &Whiskers) -> Option<Drawing> {
    let rows: Vec<&BenchResult> = results
        .iter()
        .filter(|r| {
            r.bench == "shootdown_phases"
                && r.param_text("phase").as_deref() == Some("critical_path")
                && r.param_text("space").as_deref() == Some("kernel")
                && r.param_f64("targets").is_some_and(|t| t > 0.0)
        })
        .collect();
    let subtitle = format!(
        "deterministic mode: the initiator to its last IPI, the longest handler to its ack, the \
         initiator's return; 1 page, kernel half, unicast; {}",
        (w.desc)(&rows)
    );
    let chart = targets_chart(
        &rows,
        |r| r.param_text("protocol").unwrap_or_default(),
        "TLB shootdown critical path vs targets, by protocol",
        subtitle,
        "p50 critical path",
        w,
    )?;
    Some(by_kind(chart).draw())
}

/// A chart of one line per protocol, alone when it has at most [`MAX_SERIES`] lines, else two
/// panels: the protocols that wait for every CPU and the relaxed ones (axes shared).
fn by_kind(chart: Chart) -> Figure {
    if chart.series.len() <= MAX_SERIES {
        return Figure::single(chart);
    }
    let relaxed = |s: &Series| RELAXED.contains(&s.label.split(' ').next().unwrap_or(""));
    let (lax, strict): (Vec<Series>, Vec<Series>) =
        chart.series.iter().cloned().partition(|s| relaxed(s));
    if lax.is_empty() || strict.is_empty() || strict.len() > MAX_SERIES || lax.len() > MAX_SERIES {
        return Figure::split(chart);
    }
    let panel = |title: &str, series: Vec<Series>| Chart {
        title: title.into(),
        subtitle: String::new(),
        series,
        ..chart.clone()
    };
    Figure::grid(
        &chart.title,
        &chart.subtitle,
        vec![
            panel("waits for every target", strict),
            panel("relaxed: returns before the targets invalidate", lax),
        ],
        LegendPlace::Shared,
    )
}

/// p50 vs targets (log2 axis from 8 targets on), one line per `label`, in the registry's
/// order of protocols, each protocol in its registry colour. None without data, or with one
/// line only, except for the critical path (one protocol's curve is still that figure) and
/// one protocol's deliveries.
fn targets_chart(
    rows: &[&BenchResult],
    label: impl Fn(&BenchResult) -> String,
    title: &str,
    subtitle: String,
    y_what: &str,
    w: &Whiskers,
) -> Option<Chart> {
    let mut labels: Vec<String> = rows
        .iter()
        .map(|r| label(r))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    labels.sort_by_key(|l| protocol_rank(l.split('/').next().unwrap_or(l)));
    let single_ok = title.contains("critical path") || subtitle.is_empty();
    if labels.is_empty() || (labels.len() < 2 && !single_ok) {
        return None;
    }
    let unit = rows[0].unit.clone();
    let xs: Vec<f64> = rows.iter().filter_map(|r| r.param_f64("targets")).collect();
    let log_x = use_log_scale(&xs) || xs.iter().any(|x| *x >= 8.0);
    let pos = |t: f64| if log_x { t.log2() } else { t };
    let mut series = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        let mut pts: Vec<Point> = rows
            .iter()
            .filter(|r| label(r) == *l && r.unit == unit)
            .map(|r| point(r, pos(r.param_f64("targets").unwrap_or(1.0)), w))
            .collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        pts.dedup_by(|a, b| a.x == b.x);
        series.push(Series::line(l.clone(), proto_color(l).unwrap_or(i), pts));
    }
    let x_ticks = log_x.then(|| pow2_ticks(xs.iter().copied().fold(1.0f64, f64::max)));
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.y))
        .collect();
    Some(Chart {
        title: title.into(),
        subtitle,
        x_label: if log_x {
            "target CPUs (log2)".into()
        } else {
            "target CPUs".into()
        },
        y_label: format!("{y_what} ({})", unit_label(&unit)),
        x_ticks,
        x_integer: true,
        y_log: use_log_scale(&ys),
        series,
        ..Chart::default()
    })
}

/// A protocol's colour: its place in the registry (so a protocol looks the same in every
/// figure); None for a name the registry does not have.
fn proto_color(label: &str) -> Option<usize> {
    let p = label.split(['/', ' ']).next().unwrap_or(label);
    ORDER.iter().position(|o| *o == p)
}

/// `shootdown_protocols_pages.svg`: p50 vs pages at each protocol's largest target count,
/// one line per protocol; the flush ceilings (32 pages; Linux's 33) marked.
pub fn protocols_vs_pages(results: &[BenchResult]) -> Option<String> {
    protocols_pages(results, &SINGLE).map(|d| d.svg())
}

pub(crate) fn protocols_pages(results: &[BenchResult], w: &Whiskers) -> Option<Drawing> {
    let rows: Vec<&BenchResult> = results
        .iter()
        .filter(|r| {
            comparable(r)
                && r.param_f64("pages").is_some()
                && r.param_f64("targets").is_some_and(|t| t > 0.0)
        })
        .collect();
    let protos = protocols(&rows);
    if protos.len() < 2 {
        return None;
    }
    let unit = rows[0].unit.clone();
    let mut series = Vec::new();
    for (i, p) in protos.iter().enumerate() {
        let mine: Vec<&&BenchResult> = rows
            .iter()
            .filter(|r| r.param_text("protocol").as_deref() == Some(p.as_str()) && r.unit == unit)
            .collect();
        let most = mine
            .iter()
            .filter_map(|r| r.param_f64("targets"))
            .fold(0.0f64, f64::max);
        let mut pts: Vec<Point> = mine
            .iter()
            .filter(|r| r.param_f64("targets") == Some(most))
            .map(|r| {
                let mut pt = point(r, r.param_f64("pages").unwrap_or(1.0).log2(), w);
                pt.hollow = is_full(r);
                pt
            })
            .collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        pts.dedup_by(|a, b| a.x == b.x);
        series.push(Series::line(
            format!("{p} ({most} targets)"),
            proto_color(p).unwrap_or(i),
            pts,
        ));
    }
    let hi = rows
        .iter()
        .filter_map(|r| r.param_f64("pages"))
        .fold(1.0f64, f64::max);
    let x_ticks = pow2_ticks(hi);
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.y))
        .collect();
    // The ceilings: ours at 32 pages (grey), Linux's at 33 in its colour when it was run.
    let mut vlines = vec![VLine {
        label: "ceiling 32".into(),
        x: 32f64.log2(),
        color: 7,
    }];
    let linux = protos.iter().any(|p| p == "linux");
    if linux {
        vlines.push(VLine {
            label: "ceiling 33 (linux)".into(),
            x: 33f64.log2(),
            color: proto_color("linux").unwrap_or(3),
        });
    }
    let chart = Chart {
        title: "TLB shootdown latency vs pages, by protocol".into(),
        subtitle: format!(
            "kernel half, most targets; hollow: a full flush; dashed: {}; {}",
            if linux {
                "ceilings 32 and 33 (linux)"
            } else {
                "ceiling 32"
            },
            (w.desc)(&rows)
        ),
        x_label: "pages (log2)".into(),
        y_label: format!("p50 latency ({})", unit_label(&unit)),
        x_ticks: Some(x_ticks),
        x_integer: false,
        y_log: use_log_scale(&ys),
        series,
        vlines,
        ..Chart::default()
    };
    Some(by_kind(chart).draw())
}

/// One stacked bar: its label, its segments (phase index, p50) and the total's p50.
type Bar = (String, Vec<(usize, f64)>, f64);

/// `shootdown_phases.svg`: one stacked bar per protocol and target count (kernel half), each
/// segment a phase's p50, the total's p50 as a tick; medians of parts need not add up to the
/// median of the whole exactly, so the tick shows how close they come.
pub fn phases_chart(results: &[BenchResult]) -> Option<String> {
    phases(results).map(|d| d.svg())
}

pub(crate) fn phases(results: &[BenchResult]) -> Option<Drawing> {
    let rows: Vec<&BenchResult> = results
        .iter()
        .filter(|r| {
            r.bench == "shootdown_phases" && r.param_text("space").as_deref() == Some("kernel")
        })
        .collect();
    let protos = protocols(&rows);
    if protos.is_empty() {
        return None;
    }
    let unit = rows[0].unit.clone();
    // Every phase a chain can have, in order (`ON_ENTRY` is this without `invalidate`).
    let phase_names = kernel_core::phases::AFTER_INVALIDATE;
    let mut bars: Vec<Bar> = Vec::new();
    for p in &protos {
        let mut counts: Vec<u64> = rows
            .iter()
            .filter(|r| r.param_text("protocol").as_deref() == Some(p.as_str()))
            .filter_map(|r| r.param_f64("targets").map(|t| t as u64))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        counts.sort();
        for t in counts {
            let of = |phase: &str| {
                rows.iter().find(|r| {
                    r.param_text("protocol").as_deref() == Some(p.as_str())
                        && r.param_f64("targets") == Some(t as f64)
                        && r.param_text("phase").as_deref() == Some(phase)
                        && r.unit == unit
                })
            };
            let segs: Vec<(usize, f64)> = phase_names
                .iter()
                .enumerate()
                .filter_map(|(i, ph)| of(ph).map(|r| (i, r.p50)))
                .collect();
            let total = of("total").map_or(0.0, |r| r.p50);
            bars.push((format!("{p} ×{t}"), segs, total));
        }
    }
    let top = bars
        .iter()
        .map(|(_, segs, total)| segs.iter().map(|s| s.1).sum::<f64>().max(*total))
        .fold(0.0f64, f64::max)
        .max(1.0);
    let ticks = nice_ticks(0.0, top, 4, false);
    let top = ticks.last().copied().unwrap_or(top);

    let title = "Where a shootdown's time goes: phases by protocol";
    let tick_font = Font::new(TEXT_SIZE);
    let tick_w = ticks
        .iter()
        .map(|v| measure(&short(*v), TEXT_SIZE, false))
        .fold(0.0f64, f64::max);
    let left = 6.0 + LABEL_SIZE + 2.0 + tick_w + 5.0;
    // A column when the bars fit at 12 pt each, else the full width.
    let width = if left + 12.0 * bars.len() as f64 + 8.0 <= COLUMN_WIDTH {
        COLUMN_WIDTH
    } else {
        FULL_WIDTH
    };
    let mut d = Drawing::new(width, title);
    let y0 = header(
        &mut d,
        title,
        "kernel half, 1 page, unicast; segments: each phase's p50 stacked; black tick: the \
         total's p50",
    );
    let (pw, ph) = (width - left - 8.0, 130.0);
    let bottom = y0 + ph;
    let y = |v: f64| bottom - v / top * ph;
    let axis = Stroke::new(BLACK, 0.6);
    for v in &ticks {
        d.line(
            [left, y(*v), left + pw, y(*v)],
            Stroke::new(Rgb(0xdd, 0xdd, 0xdd), 0.4),
            "grid",
            "",
        );
        d.line([left - 3.0, y(*v), left, y(*v)], axis, "", "");
        d.text(
            left - 4.5,
            y(*v) + TEXT_SIZE * 0.35,
            &short(*v),
            tick_font.anchor(Anchor::End),
            "ytick",
        );
    }
    d.line([left, bottom, left + pw, bottom], axis, "axis", "");
    d.line([left, y0, left, bottom], axis, "axis", "");
    d.text(
        6.0 + LABEL_SIZE * 0.8,
        y0 + ph / 2.0,
        &format!("p50 ({})", unit_label(&unit)),
        Font::new(LABEL_SIZE).anchor(Anchor::Middle).angle(-90.0),
        "ylabel",
    );
    let slot = pw / bars.len() as f64;
    let bw = (slot * 0.7).min(24.0);
    let mut used = vec![false; phase_names.len()];
    let mut label_h: f64 = 0.0;
    for (i, (label, segs, total)) in bars.iter().enumerate() {
        let cx = left + (i as f64 + 0.5) * slot;
        let x = cx - bw / 2.0;
        let mut acc = 0.0;
        for (phase, v) in segs {
            used[*phase] = true;
            d.items.push(Item::Rect {
                x,
                y: y(acc + v),
                w: bw,
                h: (y(acc) - y(acc + v)).max(0.0),
                fill: Some(PALETTE[phase % PALETTE.len()]),
                stroke: None,
                tip: format!("{}: {}", phase_names[*phase], short(*v)),
            });
            acc += v;
        }
        if *total > 0.0 {
            d.line(
                [x - 1.5, y(*total), x + bw + 1.5, y(*total)],
                Stroke::new(BLACK, 1.2),
                "total",
                "",
            );
        }
        // Labels turned 45° and ending under their bar.
        d.text(
            cx + 2.0,
            bottom + 5.0,
            label,
            tick_font.anchor(Anchor::End).angle(-45.0),
            "xtick",
        );
        label_h = label_h.max(measure(label, TEXT_SIZE, false) * 0.71 + TEXT_SIZE);
    }
    let mut entries: Vec<LegendEntry> = phase_names
        .iter()
        .enumerate()
        .filter(|(i, _)| used[*i])
        .map(|(i, name)| LegendEntry {
            label: name.to_string(),
            stroke: Stroke::new(PALETTE[i % PALETTE.len()], 1.0),
            marker: false,
            swatch: true,
        })
        .collect();
    let total_entry = LegendEntry {
        label: "total p50".into(),
        stroke: Stroke::new(BLACK, 1.2),
        marker: false,
        swatch: false,
    };
    d.panels.push(PanelStyle {
        stacked: true,
        series: entries
            .iter()
            .map(|e| (e.label.clone(), e.stroke.color, e.stroke.dash))
            .collect(),
        refs: vec![(total_entry.label.clone(), BLACK, total_entry.stroke.dash)],
    });
    entries.push(total_entry);
    let end = legend(
        &mut d,
        &entries,
        left,
        width - 6.0,
        bottom + 5.0 + label_h + 4.0,
    );
    d.height = (end + 6.0).ceil();
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::res;

    fn sd(proto: &str, delivery: &str, targets: u64, pages: u64, p50: f64) -> BenchResult {
        res(
            "shootdown",
            "workload",
            serde_json::json!({"protocol":proto,"delivery":delivery,"space":"kernel","targets":targets,"pages":pages}),
            "cycles",
            p50,
        )
    }

    #[test]
    fn the_table_has_a_row_per_protocol_and_a_column_per_target_count() {
        let rs = vec![
            sd("sync", "unicast", 1, 1, 5000.0),
            sd("sync", "unicast", 2, 1, 7000.0),
            sd("sync", "all_but_self", 2, 1, 1.0), // another delivery: not in the table
            sd("lazy_epoch", "none", 1, 1, 800.0),
            sd("lazy_epoch", "none", 2, 1, 900.0),
            sd("early_ack", "unicast", 1, 8, 9.0), // 8 pages: not in the table
        ];
        let t = protocol_table(&rs).unwrap();
        assert!(t.contains("| protocol | 1 | 2 |"), "{t}");
        assert!(t.contains("| sync | 5000 | 7000 |"), "{t}");
        assert!(t.contains("| lazy_epoch | 800 | 900 |"), "{t}");
        assert!(!t.contains("early_ack"), "{t}");
        assert!(protocol_table(&rs[..2]).is_none(), "one protocol: no table");
        let svg = protocols_vs_targets(&rs).unwrap();
        assert!(
            svg.contains(">sync</text>") && svg.contains(">lazy_epoch</text>"),
            "{svg}"
        );
    }

    #[test]
    fn the_largest_count_gets_a_tick() {
        let labels = |hi: f64| {
            pow2_ticks(hi)
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(63.0), ["1", "2", "4", "8", "16", "32", "63"]);
        assert_eq!(labels(64.0), ["1", "2", "4", "8", "16", "32", "64"]);
        // 35 would crowd 32.
        assert_eq!(labels(35.0), ["1", "2", "4", "8", "16", "32"]);
    }

    #[test]
    fn deliveries_and_critical_path_curves() {
        let mut rs = vec![];
        for t in [1, 2, 4, 8] {
            rs.push(sd("sync", "unicast", t, 1, 100.0 * t as f64));
            rs.push(sd("sync", "all_but_self", t, 1, 90.0 * t as f64));
            rs.push(sd("linux", "unicast", t, 1, 110.0 * t as f64));
        }
        let d = deliveries(&rs, &SINGLE).unwrap();
        // A panel per protocol, a line per delivery, the same delivery in the same colour.
        assert_eq!(d.panels.len(), 2);
        let lines = |i: usize| {
            d.panels[i]
                .series
                .iter()
                .map(|s| s.0.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(0), ["all_but_self", "unicast"]);
        assert_eq!(lines(1), ["unicast"]);
        assert_eq!(d.panels[0].series[1].1, d.panels[1].series[0].1);
        let svg = d.svg();
        assert!(
            svg.contains(">sync</text>") && svg.contains(">linux</text>"),
            "{svg}"
        );
        // One protocol: its deliveries are the older figure's.
        let sync_only: Vec<_> = rs
            .iter()
            .filter(|r| r.param_text("protocol").as_deref() == Some("sync"))
            .cloned()
            .collect();
        assert!(deliveries_vs_targets(&sync_only).is_none());
        // The critical path: one protocol is enough; nothing without the phase.
        assert!(critical_path_vs_targets(&rs).is_none());
        let cp: Vec<_> = [1, 2, 4]
            .into_iter()
            .map(|t| {
                res(
                    "shootdown_phases",
                    "workload",
                    serde_json::json!({"protocol":"sync","delivery":"unicast","space":"kernel",
                                       "targets":t,"pages":1,"phase":"critical_path"}),
                    "instructions",
                    400.0 + 70.0 * t as f64,
                )
            })
            .collect();
        let svg = critical_path_vs_targets(&cp).unwrap();
        assert!(
            svg.contains("critical path") && svg.contains(">sync</text>"),
            "{svg}"
        );
    }

    #[test]
    fn phases_stack_per_protocol() {
        let ph = |proto: &str, phase: &str, v: f64| {
            res(
                "shootdown_phases",
                "workload",
                serde_json::json!({"protocol":proto,"space":"kernel","targets":1,"pages":1,"phase":phase}),
                "cycles",
                v,
            )
        };
        let rs = vec![
            ph("sync", "pte", 100.0),
            ph("sync", "deliver", 2000.0),
            ph("sync", "total", 2100.0),
            ph("early_ack", "ack", 50.0),
            ph("early_ack", "total", 60.0),
        ];
        let svg = phases_chart(&rs).unwrap();
        assert!(
            svg.contains("sync ×1") && svg.contains("early_ack ×1"),
            "{svg}"
        );
        assert!(svg.contains("<title>deliver: 2000</title>"), "{svg}");
        assert!(phases_chart(&rs[..0]).is_none());
    }
}
