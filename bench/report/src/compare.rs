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

/// Compares two results folders and returns a Markdown report:
///
/// - context differences first (cpu_model, accelerator, deterministic, mitigations (Linux
///   runs), hypervisor, cpus, tsc_hz, git_rev, cmdline), then problems of either side (incomplete, errors);
/// - a table matching results by (bench, params) ([`crate::BenchResult::key`]): unit, OLD p50,
///   NEW p50, NEW/OLD; results on one side only are marked `only in OLD` / `only in NEW`;
///   different units (e.g. cycles vs instructions) are flagged and not compared;
/// - when either folder holds `boot-*` subfolders, its p50 is the median of the per-boot p50s,
///   its range min..max of them (a single run's range is its p50 alone), and the verdict says
///   whether the two ranges are disjoint: `**BEYOND SPREAD ↑**` (NEW above OLD) or `↓`,
///   else `within spread`.
pub fn compare(old_dir: &Path, new_dir: &Path) -> Result<String, Error> {
    let old = load_side("OLD", old_dir)?;
    let new = load_side("NEW", new_dir)?;
    let spread = old.boots > 0 || new.boots > 0;
    let mut s = String::from("# Comparison\n\n");
    for (name, side) in [("OLD", &old), ("NEW", &new)] {
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
    let diffs: Vec<String> = CONTEXT_FIELDS
        .iter()
        .filter_map(|(label, host, key)| {
            let (a, b) = (field(&old.first, *host, key), field(&new.first, *host, key));
            (a != b).then(|| format!("- **{label}**: OLD `{a}` → NEW `{b}`"))
        })
        .collect();
    if diffs.is_empty() {
        let names: Vec<&str> = CONTEXT_FIELDS.iter().map(|f| f.0).collect();
        let _ = writeln!(s, "Context: same {}.\n", names.join(", "));
    } else {
        s.push_str("**Context differences:**\n\n");
        for d in &diffs {
            let _ = writeln!(s, "{d}");
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
    let mut beyond = 0;
    let mut within = 0;
    let mut row = |s: &mut String, o: Option<&Entry>, n: Option<&Entry>| {
        let e = o.or(n).expect("one side");
        let unit = match (o, n) {
            (Some(a), Some(b)) if a.unit != b.unit => format!("{} / {}", a.unit, b.unit),
            _ => e.unit.clone(),
        };
        let p = |x: Option<&Entry>| x.map(|x| short(x.p50)).unwrap_or_else(|| "–".into());
        let (rat, verdict) = match (o, n) {
            (Some(a), None) => ("–".into(), format!("only in OLD ({})", a.unit)),
            (None, Some(b)) => ("–".into(), format!("only in NEW ({})", b.unit)),
            (Some(a), Some(b)) if a.unit != b.unit => (
                "–".into(),
                format!(
                    "**UNIT MISMATCH** (OLD {}, NEW {}): not compared",
                    a.unit, b.unit
                ),
            ),
            (Some(a), Some(b)) => {
                let r = if a.p50 != 0.0 {
                    ratio(b.p50 / a.p50)
                } else {
                    "–".into()
                };
                let v = if spread {
                    let ro = a.range.unwrap_or((a.p50, a.p50));
                    let rn = b.range.unwrap_or((b.p50, b.p50));
                    match beyond_spread(ro, rn) {
                        Some(up) => {
                            beyond += 1;
                            format!("**BEYOND SPREAD {}**", if up { "↑" } else { "↓" })
                        }
                        None => "within spread".into(),
                    }
                } else if a.p50 != b.p50 && within_sample_spread(a, b) {
                    within += 1;
                    "within spread (p5..p95)".into()
                } else {
                    String::new()
                };
                (r, v)
            }
            (None, None) => unreachable!(),
        };
        let _ = write!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            md_cell(&e.bench),
            md_cell(&e.params),
            md_cell(&unit),
            p(o),
            p(n),
            rat
        );
        if spread {
            let r = |x: Option<&Entry>| x.map(range_text).unwrap_or_else(|| "–".into());
            let _ = write!(s, " {} | {} |", r(o), r(n));
        }
        let _ = writeln!(s, " {verdict} |");
    };
    for o in &old.entries {
        let n = new.entries.iter().find(|n| n.key == o.key);
        row(&mut s, Some(o), n);
    }
    for n in new
        .entries
        .iter()
        .filter(|n| !old.entries.iter().any(|o| o.key == n.key))
    {
        row(&mut s, None, Some(n));
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
    fn ranges() {
        assert_eq!(beyond_spread((10.0, 12.0), (12.5, 13.0)), Some(true));
        assert_eq!(beyond_spread((10.0, 12.0), (8.0, 9.9)), Some(false));
        assert_eq!(beyond_spread((10.0, 12.0), (12.0, 13.0)), None);
        assert_eq!(beyond_spread((10.0, 12.0), (11.0, 11.0)), None);
    }
}
