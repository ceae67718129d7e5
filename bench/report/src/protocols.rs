//! The shootdown protocols side by side: the summary's "protocol × targets" table, the
//! canonical figure (latency vs targets, one line per protocol), latency vs pages per
//! protocol with the flush ceilings marked, and the phase breakdown as stacked bars.
//!
//! The comparisons use one slice of the sweep so lines are comparable: kernel-half pages, the
//! protocol's own notification (unicast, or `none` for those that send no IPI at the
//! request), 1 page for the targets figure and the most targets for the pages figure.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::fmt::{md_cell, short, unit_label, xml};
use crate::model::BenchResult;
use crate::svg::{Chart, PALETTE, Point, Series, Shape, VLine, use_log_scale};

/// The protocols in the order the kernel registers them (others after, by name).
const ORDER: &[&str] = kernel_core::cmdline::SHOOTDOWN_PROTOCOLS;

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

/// A point at the median with whiskers p5..p95 (min..p90 for records that predate p5/p95).
fn point(r: &BenchResult, x: f64) -> Point {
    let (lo, hi) = match (r.p5, r.p95) {
        (Some(lo), Some(hi)) => (lo, hi),
        _ => (r.min, r.p90),
    };
    Point {
        x,
        y: r.p50,
        lo: Some(lo),
        hi: Some(hi),
        hollow: false,
    }
}

/// What the whiskers of `rows` show.
fn whiskers(rows: &[&BenchResult]) -> &'static str {
    if rows.iter().all(|r| r.p5.is_some() && r.p95.is_some()) {
        "p50, whiskers p5..p95"
    } else {
        "p50, whiskers p5..p95 (min..p90 where a record has no p5/p95)"
    }
}

/// `shootdown_protocols.svg`: p50 vs targets, 1 page, one line per protocol.
pub fn protocols_vs_targets(results: &[BenchResult]) -> Option<String> {
    let rows: Vec<&BenchResult> = one_page_rows(results)
        .into_iter()
        .filter(|r| r.param_f64("targets").is_some_and(|t| t > 0.0))
        .collect();
    let subtitle = format!(
        "1 page, kernel half, unicast (none: no IPI at the request); {}",
        whiskers(&rows)
    );
    targets_chart(
        &rows,
        |r| r.param_text("protocol").unwrap_or_default(),
        "TLB shootdown latency vs targets, by protocol",
        subtitle,
        "p50 latency",
    )
}

/// `shootdown_deliveries.svg`: p50 vs targets, 1 page, kernel half, one line per protocol and
/// delivery (unicast, all-but-self, x2APIC cluster multicast, none); only with two protocols
/// or more, one of them measured with more than one delivery.
pub fn deliveries_vs_targets(results: &[BenchResult]) -> Option<String> {
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
    let subtitle = format!("1 page, kernel half; {}", whiskers(&rows));
    targets_chart(
        &rows,
        label,
        "TLB shootdown latency vs targets, by protocol and delivery",
        subtitle,
        "p50 latency",
    )
}

/// `shootdown_critical_path.svg`: the deterministic mode's critical path (`shootdown_phases`
/// with `phase=critical_path`, kernel half, 1 page, unicast) vs targets, one line per
/// protocol.
pub fn critical_path_vs_targets(results: &[BenchResult]) -> Option<String> {
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
        whiskers(&rows)
    );
    targets_chart(
        &rows,
        |r| r.param_text("protocol").unwrap_or_default(),
        "TLB shootdown critical path vs targets, by protocol",
        subtitle,
        "p50 critical path",
    )
}

/// p50 vs targets (log2 axis from 8 targets on), one line per `label`, in the registry's
/// order of protocols. None without data, or with one line only, except for the critical
/// path (one protocol's curve is still that figure).
fn targets_chart(
    rows: &[&BenchResult],
    label: impl Fn(&BenchResult) -> String,
    title: &str,
    subtitle: String,
    y_what: &str,
) -> Option<String> {
    let mut labels: Vec<String> = rows
        .iter()
        .map(|r| label(r))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    labels.sort_by_key(|l| protocol_rank(l.split('/').next().unwrap_or(l)));
    let single_ok = title.contains("critical path");
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
            .map(|r| point(r, pos(r.param_f64("targets").unwrap_or(1.0))))
            .collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        pts.dedup_by(|a, b| a.x == b.x);
        series.push(Series {
            label: l.clone(),
            shape: Shape::Line,
            color: i,
            points: pts,
        });
    }
    let x_ticks = log_x.then(|| pow2_ticks(xs.iter().copied().fold(1.0f64, f64::max)));
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.y))
        .collect();
    let chart = Chart {
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
        hlines: vec![],
        vlines: vec![],
    };
    Some(chart.render())
}

/// `shootdown_protocols_pages.svg`: p50 vs pages at each protocol's largest target count,
/// one line per protocol; the flush ceilings (32 pages; Linux's 33) marked.
pub fn protocols_vs_pages(results: &[BenchResult]) -> Option<String> {
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
                let mut pt = point(r, r.param_f64("pages").unwrap_or(1.0).log2());
                pt.hollow = is_full(r);
                pt
            })
            .collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        pts.dedup_by(|a, b| a.x == b.x);
        series.push(Series {
            label: format!("{p} ({most} targets)"),
            shape: Shape::Line,
            color: i,
            points: pts,
        });
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
    let chart = Chart {
        title: "TLB shootdown latency vs pages, by protocol".into(),
        subtitle: format!(
            "kernel half, most targets; hollow: a full flush; dashed: ceilings 32 and 33 (linux); {}",
            whiskers(&rows)
        ),
        x_label: "pages (log2)".into(),
        y_label: format!("p50 latency ({})", unit_label(&unit)),
        x_ticks: Some(x_ticks),
        x_integer: false,
        y_log: use_log_scale(&ys),
        series,
        hlines: vec![],
        vlines: vec![
            VLine {
                x: 32f64.log2(),
                color: 7,
            },
            VLine {
                x: 33f64.log2(),
                color: protos.iter().position(|p| p == "linux").unwrap_or(7),
            },
        ],
    };
    Some(chart.render())
}

/// One stacked bar: its label, its segments (phase index, p50) and the total's p50.
type Bar = (String, Vec<(usize, f64)>, f64);

/// `shootdown_phases.svg`: one stacked bar per protocol and target count (kernel half), each
/// segment a phase's p50, the total's p50 as a tick; medians of parts need not add up to the
/// median of the whole exactly, so the tick shows how close they come.
pub fn phases_chart(results: &[BenchResult]) -> Option<String> {
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
    let (left, top_margin, pw, ph) = (90.0, 60.0, 620.0, 300.0);
    let bw = (pw / bars.len() as f64).min(60.0);
    let width = left + pw + 150.0;
    let height = top_margin + ph + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let title = "Where a shootdown's time goes: phases by protocol";
    let _ = writeln!(s, "<title>{}</title>", xml(title));
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="12" y="22" font-size="15" font-weight="bold">{}</text>"#,
        xml(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="12" y="40" font-size="12" fill="#444">{}</text>"##,
        xml(
            "kernel half, 1 page, unicast; segments: each phase's p50 stacked; black tick: the total's p50"
        )
    );
    let y = |v: f64| top_margin + ph - v / top * ph;
    for k in 0..=4 {
        let v = top * k as f64 / 4.0;
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + pw,
            left - 6.0,
            y(v) + 4.0,
            short(v),
            y = y(v)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">{}</text>"#,
        top_margin + ph / 2.0,
        top_margin + ph / 2.0,
        xml(&format!("p50 ({})", unit_label(&unit)))
    );
    for (i, (label, segs, total)) in bars.iter().enumerate() {
        let x = left + i as f64 * (pw / bars.len() as f64) + 4.0;
        let mut acc = 0.0;
        for (phase, v) in segs {
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                y(acc + v),
                bw - 8.0,
                (y(acc) - y(acc + v)).max(0.0),
                PALETTE[phase % PALETTE.len()],
                xml(phase_names[*phase]),
                short(*v)
            );
            acc += v;
        }
        if *total > 0.0 {
            let _ = writeln!(
                s,
                r#"<line x1="{:.1}" x2="{:.1}" y1="{yt:.1}" y2="{yt:.1}" stroke="black" stroke-width="2"/>"#,
                x - 2.0,
                x + bw - 6.0,
                yt = y(*total)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" transform="rotate(40 {:.1} {:.1})" font-size="11">{}</text>"#,
            x,
            top_margin + ph + 14.0,
            x,
            top_margin + ph + 14.0,
            xml(label)
        );
    }
    for (i, name) in phase_names.iter().enumerate() {
        let ly = top_margin + 10.0 + i as f64 * 18.0;
        let lx = left + pw + 20.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{}" y="{:.1}">{}</text>"#,
            ly - 10.0,
            PALETTE[i % PALETTE.len()],
            lx + 18.0,
            ly,
            xml(name)
        );
    }
    s.push_str("</svg>\n");
    Some(s)
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
        let svg = deliveries_vs_targets(&rs).unwrap();
        assert!(
            svg.contains(">sync/all_but_self</text>") && svg.contains(">linux/unicast</text>"),
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
