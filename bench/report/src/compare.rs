//! Comparing two results folders (OLD and NEW), single runs or repeated runs.

use std::fmt::Write;
use std::path::Path;

use crate::Error;
use crate::fmt::{md_cell, ratio, short};
use crate::model::{Results, load, params_label};
use crate::repeat::{find_boots, repeat_rows};
use crate::summary::problems;

/// One (bench, params) on one side.
struct Entry {
    key: String,
    bench: String,
    params: String,
    unit: String,
    /// p50 (single run) or median of the per-boot p50s.
    p50: f64,
    /// min..max of the per-boot p50s (repeated runs only).
    range: Option<(f64, f64)>,
    /// p5..p95 of the run's samples (min..p90 for records without p5/p95; single runs
    /// only).
    samples: Option<(f64, f64)>,
}

/// Whether each run's p50 lies within the other's spread of samples: a difference of two
/// single runs smaller than the noise either saw.
fn within_sample_spread(old: &Entry, new: &Entry) -> bool {
    match (old.samples, new.samples) {
        (Some((olo, ohi)), Some((nlo, nhi))) => {
            (olo..=ohi).contains(&new.p50) && (nlo..=nhi).contains(&old.p50)
        }
        _ => false,
    }
}

struct Side {
    dir: String,
    boots: usize,
    /// The run (or first boot) whose context is shown.
    first: Results,
    notes: Vec<String>,
    entries: Vec<Entry>,
}

fn load_side(name: &str, dir: &Path) -> Result<Side, Error> {
    let boots = find_boots(dir)?;
    let mut notes = Vec::new();
    if boots.is_empty() {
        let r = load(dir)?;
        notes.extend(
            problems(&r, &format!("{name}: "))
                .into_iter()
                .filter(|p| p.starts_with("**")),
        );
        let mut entries: Vec<Entry> = Vec::new();
        for x in &r.results {
            let key = x.key();
            if entries.iter().any(|e| e.key == key) {
                notes.push(format!(
                    "{name}: {} appears twice; the first is used",
                    x.label()
                ));
                continue;
            }
            entries.push(Entry {
                key,
                bench: x.bench.clone(),
                params: params_label(&x.params),
                unit: x.unit.clone(),
                p50: x.p50,
                range: None,
                samples: Some(match (x.p5, x.p95) {
                    (Some(lo), Some(hi)) => (lo, hi),
                    _ => (x.min, x.p90),
                }),
            });
        }
        return Ok(Side {
            dir: dir.display().to_string(),
            boots: 0,
            first: r,
            notes,
            entries,
        });
    }
    let mut loaded = Vec::new();
    for b in &boots {
        let bname = b
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match load(b) {
            Ok(r) => {
                notes.extend(
                    problems(&r, &format!("{name} {bname}: "))
                        .into_iter()
                        .filter(|p| p.starts_with("**")),
                );
                loaded.push(r);
            }
            Err(e) => notes.push(format!("**{name} {bname}: not read: {e}**")),
        }
    }
    if loaded.is_empty() {
        return Err(Error::NoBoots(dir.to_path_buf()));
    }
    let (rows, warnings) = repeat_rows(&loaded);
    notes.extend(warnings.into_iter().map(|w| format!("{name}: {w}")));
    let entries = rows
        .iter()
        .map(|r| Entry {
            key: r.combined.key(),
            bench: r.bench.clone(),
            params: params_label(&r.params),
            unit: r.unit.clone(),
            p50: r.median,
            range: Some((r.min, r.max)),
            samples: None,
        })
        .collect();
    let n = loaded.len();
    Ok(Side {
        dir: dir.display().to_string(),
        boots: n,
        first: loaded.swap_remove(0),
        notes,
        entries,
    })
}

/// (label, where, key): the context fields whose differences are listed.
const CONTEXT_FIELDS: [(&str, bool, &str); 9] = [
    ("cpu_model", false, "cpu_model"),
    ("accelerator", true, "accelerator"),
    ("deterministic", true, "deterministic"),
    // Two Linux baseline runs: default mitigations against `--mitigations off`.
    ("mitigations", true, "mitigations"),
    ("hypervisor", false, "hypervisor"),
    ("cpus", false, "cpus_online"),
    ("tsc_hz", false, "tsc_hz"),
    ("git_rev", false, "git_rev"),
    ("cmdline", false, "cmdline"),
];

fn field(r: &Results, host: bool, key: &str) -> String {
    let v = if host {
        r.host_text(key)
    } else {
        r.context_text(key)
    };
    v.unwrap_or_else(|| "(unknown)".into())
}

/// Whether a NEW range lies wholly above (`Some(true)`) or below (`Some(false)`) an OLD range,
/// `None` when they overlap.
pub fn beyond_spread(old: (f64, f64), new: (f64, f64)) -> Option<bool> {
    if new.0 > old.1 {
        Some(true)
    } else if new.1 < old.0 {
        Some(false)
    } else {
        None
    }
}

fn range_text(e: &Entry) -> String {
    match e.range {
        Some((a, b)) => format!("{}..{}", short(a), short(b)),
        // A single run: its p50 is the whole range.
        None => short(e.p50),
    }
}

/// What a comparison found for one (bench, params).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    OnlyOld,
    OnlyNew,
    /// The units differ: not compared.
    UnitMismatch,
    /// Repeated runs: NEW's range of per-boot p50s lies wholly above (`true`) or below OLD's.
    BeyondSpread(bool),
    /// Repeated runs: the ranges overlap.
    WithinSpread,
    /// Single runs: each p50 within the other run's p5..p95 (noise).
    WithinSampleSpread,
    /// Single runs: a difference one boot cannot judge (or none).
    Unjudged,
}

impl Verdict {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::OnlyOld => "only_old",
            Verdict::OnlyNew => "only_new",
            Verdict::UnitMismatch => "unit_mismatch",
            Verdict::BeyondSpread(true) => "beyond_spread_up",
            Verdict::BeyondSpread(false) => "beyond_spread_down",
            Verdict::WithinSpread => "within_spread",
            Verdict::WithinSampleSpread => "within_sample_spread",
            Verdict::Unjudged => "unjudged",
        }
    }
}

/// One row of a comparison.
struct Row<'a> {
    old: Option<&'a Entry>,
    new: Option<&'a Entry>,
    verdict: Verdict,
}

impl Row<'_> {
    fn entry(&self) -> &Entry {
        self.old.or(self.new).expect("one side")
    }
    fn ratio(&self) -> Option<f64> {
        match (self.old, self.new) {
            (Some(a), Some(b)) if a.unit == b.unit && a.p50 != 0.0 => Some(b.p50 / a.p50),
            _ => None,
        }
    }
}

struct Comparison {
    old: Side,
    new: Side,
    /// Context fields that differ: (label, OLD, NEW).
    diffs: Vec<(&'static str, String, String)>,
}

impl Comparison {
    fn load(old_dir: &Path, new_dir: &Path) -> Result<Comparison, Error> {
        let old = load_side("OLD", old_dir)?;
        let new = load_side("NEW", new_dir)?;
        let diffs = CONTEXT_FIELDS
            .iter()
            .filter_map(|(label, host, key)| {
                let (a, b) = (field(&old.first, *host, key), field(&new.first, *host, key));
                (a != b).then_some((*label, a, b))
            })
            .collect();
        Ok(Comparison { old, new, diffs })
    }

    fn spread(&self) -> bool {
        self.old.boots > 0 || self.new.boots > 0
    }

    /// OLD's entries in order (with NEW's match), then NEW's that OLD lacks.
    fn rows(&self) -> Vec<Row<'_>> {
        let spread = self.spread();
        let judge = |o: Option<&Entry>, n: Option<&Entry>| match (o, n) {
            (Some(_), None) => Verdict::OnlyOld,
            (None, Some(_)) => Verdict::OnlyNew,
            (Some(a), Some(b)) if a.unit != b.unit => Verdict::UnitMismatch,
            (Some(a), Some(b)) if spread => {
                let ro = a.range.unwrap_or((a.p50, a.p50));
                let rn = b.range.unwrap_or((b.p50, b.p50));
                match beyond_spread(ro, rn) {
                    Some(up) => Verdict::BeyondSpread(up),
                    None => Verdict::WithinSpread,
                }
            }
            (Some(a), Some(b)) if a.p50 != b.p50 && within_sample_spread(a, b) => {
                Verdict::WithinSampleSpread
            }
            _ => Verdict::Unjudged,
        };
        let mut out = Vec::new();
        for o in &self.old.entries {
            let n = self.new.entries.iter().find(|n| n.key == o.key);
            out.push(Row {
                old: Some(o),
                new: n,
                verdict: judge(Some(o), n),
            });
        }
        for n in self
            .new
            .entries
            .iter()
            .filter(|n| !self.old.entries.iter().any(|o| o.key == n.key))
        {
            out.push(Row {
                old: None,
                new: Some(n),
                verdict: judge(None, Some(n)),
            });
        }
        out
    }
}

/// Two folders side by side as a Markdown table (NEW/OLD ratios and, with repeated runs,
/// whether each difference is beyond the spread across boots).
pub fn compare(old_dir: &Path, new_dir: &Path) -> Result<String, Error> {
    let c = Comparison::load(old_dir, new_dir)?;
    let (old, new) = (&c.old, &c.new);
    let spread = c.spread();
    let mut s = String::from("# Comparison\n\n");
    for (name, side) in [("OLD", old), ("NEW", new)] {
        let how = if side.boots > 0 {
            format!(
                "{} boots: p50 = median of the per-boot p50s, range = their min..max",
                side.boots
            )
        } else {
            "one boot".into()
        };
        let _ = writeln!(s, "- {name}: `{}` ({how})", side.dir);
    }
    s.push('\n');
    if c.diffs.is_empty() {
        let names: Vec<&str> = CONTEXT_FIELDS.iter().map(|f| f.0).collect();
        let _ = writeln!(s, "Context: same {}.\n", names.join(", "));
    } else {
        s.push_str("**Context differences:**\n\n");
        for (label, a, b) in &c.diffs {
            let _ = writeln!(s, "- **{label}**: OLD `{a}` → NEW `{b}`");
        }
        s.push('\n');
    }
    for n in old.notes.iter().chain(&new.notes) {
        let _ = writeln!(s, "{n}\n");
    }

    s.push_str("| bench | params | unit | OLD p50 | NEW p50 | NEW/OLD |");
    if spread {
        s.push_str(" OLD range | NEW range |");
    }
    s.push_str(" verdict |\n|---|---|---|--:|--:|--:|");
    if spread {
        s.push_str("--:|--:|");
    }
    s.push_str("---|\n");
    let rows = c.rows();
    let beyond = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::BeyondSpread(_)))
        .count();
    let within = rows
        .iter()
        .filter(|r| r.verdict == Verdict::WithinSampleSpread)
        .count();
    for r in &rows {
        let (o, n) = (r.old, r.new);
        let e = r.entry();
        let unit = match (o, n) {
            (Some(a), Some(b)) if a.unit != b.unit => format!("{} / {}", a.unit, b.unit),
            _ => e.unit.clone(),
        };
        let p = |x: Option<&Entry>| x.map(|x| short(x.p50)).unwrap_or_else(|| "–".into());
        let verdict = match r.verdict {
            Verdict::OnlyOld => format!("only in OLD ({})", e.unit),
            Verdict::OnlyNew => format!("only in NEW ({})", e.unit),
            Verdict::UnitMismatch => format!(
                "**UNIT MISMATCH** (OLD {}, NEW {}): not compared",
                o.map_or("", |a| a.unit.as_str()),
                n.map_or("", |b| b.unit.as_str())
            ),
            Verdict::BeyondSpread(up) => {
                format!("**BEYOND SPREAD {}**", if up { "↑" } else { "↓" })
            }
            Verdict::WithinSpread => "within spread".into(),
            Verdict::WithinSampleSpread => "within spread (p5..p95)".into(),
            Verdict::Unjudged => String::new(),
        };
        let _ = write!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            md_cell(&e.bench),
            md_cell(&e.params),
            md_cell(&unit),
            p(o),
            p(n),
            r.ratio().map(ratio).unwrap_or_else(|| "–".into())
        );
        if spread {
            let rg = |x: Option<&Entry>| x.map(range_text).unwrap_or_else(|| "–".into());
            let _ = write!(s, " {} | {} |", rg(o), rg(n));
        }
        let _ = writeln!(s, " {verdict} |");
    }
    if spread {
        let _ = writeln!(
            s,
            "\n{beyond} result(s) beyond the spread: NEW's range of per-boot p50s does not overlap OLD's \
             (a single run's range is its p50 alone; ↑ NEW higher, ↓ NEW lower; for a rate such as \
             faults_per_s higher is better)."
        );
    } else {
        let _ = writeln!(
            s,
            "\nOne boot on each side: {within} result(s) differ by less than the spread of \
             their own samples (each p50 within the other run's p5..p95: noise, not a change). \
             A larger difference can still be boot-to-boot variation, which one boot cannot \
             show (use --repeat); in the deterministic mode every difference is a change."
        );
    }
    Ok(s)
}

/// The same comparison for programs (`runner compare --json`): the two sides, the context
/// differences, the notes, and one object per row with both p50s, the ratio NEW/OLD, the
/// ranges (repeated runs) or p5..p95 (single runs), and the verdict's name ([`Verdict::name`]).
pub fn compare_json(old_dir: &Path, new_dir: &Path) -> Result<serde_json::Value, Error> {
    use serde_json::json;
    let c = Comparison::load(old_dir, new_dir)?;
    let side = |s: &Side| json!({"dir": s.dir, "boots": s.boots});
    let spread_of = |x: Option<&Entry>| x.and_then(|x| x.range.or(x.samples)).map(|(a, b)| [a, b]);
    let rows: Vec<serde_json::Value> = c
        .rows()
        .iter()
        .map(|r| {
            let e = r.entry();
            json!({
                "bench": e.bench,
                "params": e.params,
                "unit": e.unit,
                "old_p50": r.old.map(|x| x.p50),
                "new_p50": r.new.map(|x| x.p50),
                "ratio": r.ratio(),
                "old_spread": spread_of(r.old),
                "new_spread": spread_of(r.new),
                "verdict": r.verdict.name(),
            })
        })
        .collect();
    Ok(json!({
        "old": side(&c.old),
        "new": side(&c.new),
        "spread": if c.spread() { "per-boot p50 min..max" } else { "p5..p95 of each run's samples" },
        "context_differences": c.diffs.iter().map(|(l, a, b)| json!({"field": l, "old": a, "new": b})).collect::<Vec<_>>(),
        "notes": c.old.notes.iter().chain(&c.new.notes).collect::<Vec<_>>(),
        "rows": rows,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_runs_within_each_others_samples_are_noise() {
        let e = |p50: f64, lo: f64, hi: f64| Entry {
            key: String::new(),
            bench: String::new(),
            params: String::new(),
            unit: "cycles".into(),
            p50,
            range: None,
            samples: Some((lo, hi)),
        };
        assert!(within_sample_spread(
            &e(100.0, 90.0, 120.0),
            &e(110.0, 95.0, 130.0)
        ));
        // NEW's median beyond OLD's p95.
        assert!(!within_sample_spread(
            &e(100.0, 90.0, 105.0),
            &e(110.0, 95.0, 130.0)
        ));
        // Exact runs (the deterministic mode): no spread, any difference is a change.
        assert!(!within_sample_spread(
            &e(100.0, 100.0, 100.0),
            &e(101.0, 101.0, 101.0)
        ));
    }

    #[test]
    fn the_json_comparison_has_a_row_and_a_verdict_per_result() {
        let base = std::env::temp_dir().join(format!("compare-json-{}", std::process::id()));
        let rec = |p50: u64, p5: u64, p95: u64, bench: &str| {
            format!(
                r#"{{"type":"result","bench":"{bench}","kind":"floor","params":{{}},"unit":"cycles","n":9,"warmup":1,"min":{p5},"p50":{p50},"p90":{p95},"p99":{p95},"p999":{p95},"max":{p95},"mean":{p50},"stddev":1,"p5":{p5},"p95":{p95}}}"#
            )
        };
        for (side, lines) in [
            ("old", [rec(100, 90, 120, "a"), rec(50, 50, 50, "gone")]),
            ("new", [rec(110, 95, 130, "a"), rec(7, 7, 7, "fresh")]),
        ] {
            std::fs::create_dir_all(base.join(side)).unwrap();
            std::fs::write(base.join(side).join("records.jsonl"), lines.join("\n")).unwrap();
        }
        let j = compare_json(&base.join("old"), &base.join("new")).unwrap();
        let rows = j["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["bench"], "a");
        assert_eq!(rows[0]["verdict"], "within_sample_spread");
        assert!((rows[0]["ratio"].as_f64().unwrap() - 1.1).abs() < 1e-9);
        assert_eq!(rows[0]["old_spread"], serde_json::json!([90.0, 120.0]));
        assert_eq!(rows[1]["verdict"], "only_old");
        assert_eq!(rows[2]["verdict"], "only_new");
        assert!(rows[2]["ratio"].is_null());
        // The Markdown table says the same.
        let md = compare(&base.join("old"), &base.join("new")).unwrap();
        assert!(
            md.contains("within spread (p5..p95)") && md.contains("only in NEW"),
            "{md}"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn ranges() {
        assert_eq!(beyond_spread((10.0, 12.0), (12.5, 13.0)), Some(true));
        assert_eq!(beyond_spread((10.0, 12.0), (8.0, 9.9)), Some(false));
        assert_eq!(beyond_spread((10.0, 12.0), (12.0, 13.0)), None);
        assert_eq!(beyond_spread((10.0, 12.0), (11.0, 11.0)), None);
    }
}
