//! The performance goals, checked against medians (`p50`).
//!
//! - Page fault (`pf_kernel_write`; `pf_user_write` when present): p50 ≤ 1.2 × floor, floor =
//!   the exception round trip + `zero_page` + `pte_write` (p50 each). The exception round trip
//!   is `exception_roundtrip` for the kernel fault and `exception_roundtrip_user` (a fault from
//!   ring 3) for the user fault, falling back to the kernel one with a note. Without
//!   `zero_page` and `pte_write` the floor is the exception round trip alone, and the goal says
//!   so.
//! - Shootdown, one target, one page (`shootdown` with `targets=1 pages=1`, and `delivery`,
//!   `protocol` equal to `unicast`, `ipi` where the record has them): p50 ≤ 1.3 ×
//!   (`ipi_roundtrip` + `invlpg`), for `space=kernel` (or no space) and, when present, for
//!   `space=user` (readers in ring 3) as a second goal.
//! - Fault throughput (`pf_throughput`, a rate, param `cpus`): rate(N) ≥ 0.9 × N × rate(1) for
//!   every N > 1; the ratio reported is rate(N) / (N × rate(1)). Results that differ in params
//!   other than `cpus` are checked as separate families.
//!
//! A floor bench with several results uses the one without params, else the lowest p50.

use crate::fmt::{is_rate, short};
use crate::model::{BenchResult, Params, params_label};

/// Whether a goal holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    /// A result or floor it needs is missing, or units do not match.
    NotMeasured,
}

impl Verdict {
    /// `met`, `NOT MET`, `not measured`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::NotMet => "NOT MET",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One goal checked against one result.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    /// What the goal is about, e.g. `Page fault (kernel)`.
    pub name: String,
    /// The result checked, e.g. `pf_kernel_write` or `pf_throughput cpus=4`; empty when absent.
    pub subject: String,
    /// Its p50, when measured.
    pub measured: Option<f64>,
    /// What it is compared with (floor, or N × rate(1)).
    pub reference: Option<f64>,
    /// How the reference is made, e.g. `exception_roundtrip + zero_page + pte_write`.
    pub reference_desc: String,
    /// measured / reference.
    pub ratio: Option<f64>,
    /// The condition on the ratio, e.g. `≤ 1.20`.
    pub target: String,
    /// The unit of measured and reference.
    pub unit: String,
    pub verdict: Verdict,
    /// Why not measured, or how the reference was simplified; empty otherwise.
    pub note: String,
}

const PF_LIMIT: f64 = 1.2;
const SHOOTDOWN_LIMIT: f64 = 1.3;
const THROUGHPUT_MIN: f64 = 0.9;

/// The floor result of `bench`: the one without params, else the lowest p50.
pub fn floor<'a>(results: &'a [BenchResult], bench: &str) -> Option<&'a BenchResult> {
    let all: Vec<&BenchResult> = results.iter().filter(|r| r.bench == bench).collect();
    all.iter()
        .find(|r| r.params.is_empty())
        .or_else(|| all.iter().min_by(|a, b| a.p50.total_cmp(&b.p50)))
        .copied()
}

fn not_measured(name: &str, subject: String, target: &str, note: String) -> Goal {
    Goal {
        name: name.into(),
        subject,
        measured: None,
        reference: None,
        reference_desc: String::new(),
        ratio: None,
        target: target.into(),
        unit: String::new(),
        verdict: Verdict::NotMeasured,
        note,
    }
}

/// `measured / reference` against `limit` (`upper`: ratio must be ≤ limit, else ≥).
fn judged(
    name: &str,
    subject: &BenchResult,
    reference: f64,
    reference_desc: String,
    limit: f64,
    upper: bool,
    note: String,
) -> Goal {
    let target = if upper {
        format!("≤ {limit:.2}")
    } else {
        format!("≥ {limit:.2}")
    };
    if reference <= 0.0 || !reference.is_finite() {
        return not_measured(
            name,
            subject.label(),
            &target,
            format!("reference {reference_desc} is {}", short(reference)),
        );
    }
    let ratio = subject.p50 / reference;
    let ok = if upper {
        ratio <= limit
    } else {
        ratio >= limit
    };
    Goal {
        name: name.into(),
        subject: subject.label(),
        measured: Some(subject.p50),
        reference: Some(reference),
        reference_desc,
        ratio: Some(ratio),
        target,
        unit: subject.unit.clone(),
        verdict: if ok { Verdict::Met } else { Verdict::NotMet },
        note,
    }
}

fn pf_goals(
    results: &[BenchResult],
    bench: &str,
    exception_floor: &str,
    name: &str,
    always: bool,
    out: &mut Vec<Goal>,
) {
    let target = format!("≤ {PF_LIMIT:.2}");
    let subjects: Vec<&BenchResult> = results.iter().filter(|r| r.bench == bench).collect();
    if subjects.is_empty() {
        if always {
            out.push(not_measured(
                name,
                String::new(),
                &target,
                format!("no {bench} result"),
            ));
        }
        return;
    }
    for s in subjects {
        let (exc_name, exc, fallback) = match floor(results, exception_floor) {
            Some(f) => (exception_floor, f, false),
            None => match floor(results, "exception_roundtrip") {
                Some(f) => (
                    "exception_roundtrip",
                    f,
                    exception_floor != "exception_roundtrip",
                ),
                None => {
                    out.push(not_measured(
                        name,
                        s.label(),
                        &target,
                        format!("no {exception_floor} floor"),
                    ));
                    continue;
                }
            },
        };
        if exc.unit != s.unit {
            out.push(not_measured(
                name,
                s.label(),
                &target,
                format!(
                    "unit mismatch: {} vs exception_roundtrip in {}",
                    s.unit, exc.unit
                ),
            ));
            continue;
        }
        let mut reference = exc.p50;
        let mut parts = vec![exc_name];
        let mut missing = Vec::new();
        for extra in ["zero_page", "pte_write"] {
            match floor(results, extra) {
                Some(f) if f.unit == s.unit => {
                    reference += f.p50;
                    parts.push(extra);
                }
                Some(_) => missing.push(format!("{extra} (other unit)")),
                None => missing.push(extra.to_string()),
            }
        }
        let mut note = match missing.len() {
            0 => String::new(),
            2 => format!(
                "{} not measured: floor is {exc_name} alone",
                missing.join(", ")
            ),
            _ => format!("{} not measured: left out of the floor", missing.join(", ")),
        };
        if fallback {
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str(&format!(
                "no {exception_floor}: the kernel's exception round trip used"
            ));
        }
        out.push(judged(
            name,
            s,
            reference,
            parts.join(" + "),
            PF_LIMIT,
            true,
            note,
        ));
    }
}

fn param_is(r: &BenchResult, key: &str, want: &str) -> bool {
    r.param_text(key).is_none_or(|v| v == want)
}

fn is_full_flush(r: &BenchResult) -> bool {
    r.param_text("pages").as_deref() == Some("full")
        || r.param_text("flush").as_deref() == Some("full")
}

fn shootdown_goal(results: &[BenchResult], space: &str, out: &mut Vec<Goal>) {
    let name = if space == "kernel" {
        "Shootdown, 1 target, 1 page"
    } else {
        "Shootdown, 1 target, 1 page (user space, ring-3 readers)"
    };
    let target = format!("≤ {SHOOTDOWN_LIMIT:.2}");
    let subjects: Vec<&BenchResult> = results
        .iter()
        .filter(|r| {
            r.bench == "shootdown"
                && r.param_f64("targets") == Some(1.0)
                && r.param_f64("pages") == Some(1.0)
                && !is_full_flush(r)
                && param_is(r, "delivery", "unicast")
                && param_is(r, "protocol", "ipi")
                && if space == "kernel" {
                    param_is(r, "space", "kernel")
                } else {
                    r.param_text("space").as_deref() == Some(space)
                }
        })
        .collect();
    if subjects.is_empty() && space != "kernel" {
        return;
    }
    if subjects.is_empty() {
        out.push(not_measured(
            name,
            String::new(),
            &target,
            "no shootdown result with targets=1 pages=1 delivery=unicast space=kernel protocol=ipi"
                .into(),
        ));
    }
    for s in subjects {
        let ipi = floor(results, "ipi_roundtrip");
        let inv = floor(results, "invlpg");
        let (Some(ipi), Some(inv)) = (ipi, inv) else {
            let mut miss = Vec::new();
            if ipi.is_none() {
                miss.push("ipi_roundtrip");
            }
            if inv.is_none() {
                miss.push("invlpg");
            }
            out.push(not_measured(
                name,
                s.label(),
                &target,
                format!("no {} floor", miss.join(", ")),
            ));
            continue;
        };
        if ipi.unit != s.unit || inv.unit != s.unit {
            out.push(not_measured(
                name,
                s.label(),
                &target,
                format!(
                    "unit mismatch: {} vs floors in {} and {}",
                    s.unit, ipi.unit, inv.unit
                ),
            ));
            continue;
        }
        out.push(judged(
            name,
            s,
            ipi.p50 + inv.p50,
            "ipi_roundtrip + invlpg".into(),
            SHOOTDOWN_LIMIT,
            true,
            String::new(),
        ));
    }
}

/// Params without `key`: the family a result belongs to when `key` varies.
pub(crate) fn params_without(p: &Params, keys: &[&str]) -> Params {
    p.iter()
        .filter(|(k, _)| !keys.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn throughput_goals(results: &[BenchResult], out: &mut Vec<Goal>) {
    let name = "Fault throughput scaling";
    let target = format!("≥ {THROUGHPUT_MIN:.2}");
    let all: Vec<&BenchResult> = results
        .iter()
        .filter(|r| r.bench == "pf_throughput")
        .collect();
    if all.is_empty() {
        out.push(not_measured(
            name,
            String::new(),
            &target,
            "no pf_throughput result".into(),
        ));
        return;
    }
    // Families: same params apart from cpus, in first-seen order.
    let mut families: Vec<(String, Vec<&BenchResult>)> = Vec::new();
    for r in all {
        let fam = params_label(&params_without(&r.params, &["cpus"]));
        match families.iter_mut().find(|(f, _)| *f == fam) {
            Some((_, v)) => v.push(r),
            None => families.push((fam, vec![r])),
        }
    }
    for (_, rs) in families {
        let mut rs: Vec<&BenchResult> = rs;
        rs.retain(|r| r.param_f64("cpus").is_some());
        rs.sort_by(|a, b| {
            a.param_f64("cpus")
                .unwrap_or(0.0)
                .total_cmp(&b.param_f64("cpus").unwrap_or(0.0))
        });
        let one = rs
            .iter()
            .find(|r| r.param_f64("cpus") == Some(1.0))
            .copied();
        let many: Vec<&BenchResult> = rs
            .iter()
            .filter(|r| r.param_f64("cpus") != Some(1.0))
            .copied()
            .collect();
        if many.is_empty() {
            let subject = one.map(BenchResult::label).unwrap_or_default();
            out.push(not_measured(
                name,
                subject,
                &target,
                "no result with cpus > 1".into(),
            ));
            continue;
        }
        for r in many {
            let n = r.param_f64("cpus").unwrap_or(0.0);
            let Some(one) = one else {
                out.push(not_measured(
                    name,
                    r.label(),
                    &target,
                    "no cpus=1 result".into(),
                ));
                continue;
            };
            if !is_rate(&r.unit) || r.unit != one.unit {
                out.push(not_measured(
                    name,
                    r.label(),
                    &target,
                    format!("not a rate in one unit: {} and {}", r.unit, one.unit),
                ));
                continue;
            }
            out.push(judged(
                name,
                r,
                n * one.p50,
                format!("{} × rate(1)", short(n)),
                THROUGHPUT_MIN,
                false,
                String::new(),
            ));
        }
    }
}

/// Every goal, in order: kernel page fault, user page fault (only when `pf_user_write` exists),
/// shootdown (kernel; user space only when measured), throughput. A goal whose results are missing is reported as not measured.
pub fn goals(results: &[BenchResult]) -> Vec<Goal> {
    let mut out = Vec::new();
    pf_goals(
        results,
        "pf_kernel_write",
        "exception_roundtrip",
        "Page fault (kernel)",
        true,
        &mut out,
    );
    pf_goals(
        results,
        "pf_user_write",
        "exception_roundtrip_user",
        "Page fault (user)",
        false,
        &mut out,
    );
    shootdown_goal(results, "kernel", &mut out);
    shootdown_goal(results, "user", &mut out);
    throughput_goals(results, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::res;
    use serde_json::json;

    #[test]
    fn nothing_measured() {
        let g = goals(&[]);
        assert_eq!(g.len(), 3);
        assert!(g.iter().all(|g| g.verdict == Verdict::NotMeasured));
        assert_eq!(g[0].note, "no pf_kernel_write result");
    }

    #[test]
    fn user_fault_uses_the_ring3_exception_floor() {
        let mut rs = vec![
            res("exception_roundtrip", "floor", json!({}), "cycles", 1000.0),
            res("zero_page", "floor", json!({}), "cycles", 200.0),
            res("pte_write", "floor", json!({}), "cycles", 50.0),
            res("pf_kernel_write", "workload", json!({}), "cycles", 1500.0),
            res("pf_user_write", "workload", json!({}), "cycles", 2000.0),
        ];
        // No user floor yet: the kernel's round trip, with a note saying so.
        let g = goals(&rs);
        assert_eq!(g[1].reference, Some(1250.0));
        assert!(
            g[1].note.contains("no exception_roundtrip_user"),
            "{}",
            g[1].note
        );
        rs.push(res(
            "exception_roundtrip_user",
            "floor",
            json!({}),
            "cycles",
            1500.0,
        ));
        let g = goals(&rs);
        assert_eq!(
            g[0].reference,
            Some(1250.0),
            "the kernel goal keeps its floor"
        );
        assert_eq!(g[1].reference, Some(1750.0));
        assert_eq!(
            g[1].reference_desc,
            "exception_roundtrip_user + zero_page + pte_write"
        );
        assert!(g[1].note.is_empty(), "{}", g[1].note);
    }

    #[test]
    fn user_space_shootdown_goal_only_when_measured() {
        let sd = |space: &str, p50: f64| {
            res(
                "shootdown",
                "workload",
                json!({"protocol":"ipi","delivery":"unicast","space":space,"targets":1,"pages":1,"flush":"pages"}),
                "cycles",
                p50,
            )
        };
        let mut rs = vec![
            res("ipi_roundtrip", "floor", json!({}), "cycles", 1000.0),
            res("invlpg", "floor", json!({}), "cycles", 100.0),
            sd("kernel", 1210.0),
        ];
        let names =
            |rs: &[BenchResult]| -> Vec<String> { goals(rs).into_iter().map(|g| g.name).collect() };
        assert!(!names(&rs).iter().any(|n| n.contains("ring-3")));
        rs.push(sd("user", 1650.0));
        let g = goals(&rs);
        let user = g
            .iter()
            .find(|g| g.name.contains("ring-3"))
            .expect("user goal");
        assert_eq!(user.ratio, Some(1.5));
        assert_eq!(user.verdict, Verdict::NotMet);
        let kernel = g
            .iter()
            .find(|g| g.name == "Shootdown, 1 target, 1 page")
            .unwrap();
        assert_eq!(kernel.ratio, Some(1.1));
        assert_eq!(kernel.verdict, Verdict::Met);
    }

    #[test]
    fn page_fault_with_and_without_the_full_floor() {
        let mut rs = vec![
            res("exception_roundtrip", "floor", json!({}), "cycles", 1000.0),
            res("pf_kernel_write", "workload", json!({}), "cycles", 1500.0),
            res("pf_user_write", "workload", json!({}), "cycles", 2000.0),
        ];
        let g = goals(&rs);
        assert_eq!(g[0].ratio, Some(1.5));
        assert_eq!(g[0].verdict, Verdict::NotMet);
        assert!(
            g[0].note.contains("floor is exception_roundtrip alone"),
            "{}",
            g[0].note
        );
        assert_eq!(g[1].name, "Page fault (user)");
        rs.push(res("zero_page", "floor", json!({}), "cycles", 200.0));
        rs.push(res("pte_write", "floor", json!({}), "cycles", 50.0));
        let g = goals(&rs);
        assert_eq!(g[0].reference, Some(1250.0));
        assert_eq!(g[0].ratio, Some(1.2));
        assert_eq!(g[0].verdict, Verdict::Met);
        assert_eq!(
            g[0].reference_desc,
            "exception_roundtrip + zero_page + pte_write"
        );
        assert!(g[0].note.is_empty());
        assert_eq!(g[1].ratio, Some(1.6));
        assert_eq!(g[1].verdict, Verdict::NotMet);
    }

    #[test]
    fn page_fault_unit_mismatch_is_not_measured() {
        let rs = vec![
            res("exception_roundtrip", "floor", json!({}), "cycles", 1000.0),
            res(
                "pf_kernel_write",
                "workload",
                json!({}),
                "instructions",
                1500.0,
            ),
        ];
        let g = goals(&rs);
        assert_eq!(g[0].verdict, Verdict::NotMeasured);
        assert!(g[0].note.contains("unit mismatch"));
    }

    #[test]
    fn shootdown_one_target_one_page() {
        let rs = vec![
            res("ipi_roundtrip", "floor", json!({}), "cycles", 2000.0),
            res("invlpg", "floor", json!({"x":1}), "cycles", 300.0),
            res("invlpg", "floor", json!({"x":2}), "cycles", 200.0),
            res(
                "shootdown",
                "workload",
                json!({"protocol":"ipi","delivery":"unicast","space":"kernel","targets":1,"pages":1}),
                "cycles",
                2860.0,
            ),
            res(
                "shootdown",
                "workload",
                json!({"protocol":"ipi","delivery":"broadcast","space":"kernel","targets":1,"pages":1}),
                "cycles",
                9000.0,
            ),
            res(
                "shootdown",
                "workload",
                json!({"targets":2,"pages":1}),
                "cycles",
                9000.0,
            ),
        ];
        let g = goals(&rs);
        let s: Vec<&Goal> = g
            .iter()
            .filter(|g| g.name.starts_with("Shootdown"))
            .collect();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].reference, Some(2200.0));
        assert_eq!(s[0].ratio, Some(1.3));
        assert_eq!(s[0].verdict, Verdict::Met);
    }

    #[test]
    fn throughput_scaling() {
        let rs = vec![
            res(
                "pf_throughput",
                "workload",
                json!({"cpus":1}),
                "faults_per_s",
                1e6,
            ),
            res(
                "pf_throughput",
                "workload",
                json!({"cpus":2}),
                "faults_per_s",
                1.9e6,
            ),
            res(
                "pf_throughput",
                "workload",
                json!({"cpus":4}),
                "faults_per_s",
                3.0e6,
            ),
        ];
        let g = goals(&rs);
        let t: Vec<&Goal> = g.iter().filter(|g| g.name.starts_with("Fault")).collect();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].subject, "pf_throughput cpus=2");
        assert!((t[0].ratio.unwrap() - 0.95).abs() < 1e-12);
        assert_eq!(t[0].verdict, Verdict::Met);
        assert!((t[1].ratio.unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(t[1].verdict, Verdict::NotMet);
        assert_eq!(t[1].reference_desc, "4 × rate(1)");
    }

    #[test]
    fn throughput_without_one_cpu() {
        let rs = vec![res(
            "pf_throughput",
            "workload",
            json!({"cpus":2}),
            "faults_per_s",
            1e6,
        )];
        let g = goals(&rs);
        assert_eq!(g.last().unwrap().verdict, Verdict::NotMeasured);
        assert_eq!(g.last().unwrap().note, "no cpus=1 result");
    }
}
