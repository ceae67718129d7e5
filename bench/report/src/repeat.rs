//! Repeated runs (`--repeat K`): `DIR/boot-1/`, `DIR/boot-2/`, ... each a results folder; the
//! aggregate goes into `DIR` itself.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::Error;
use crate::fmt::{csv_field, md_cell, median, num, short};
use crate::goals::{Platform, goals};
use crate::model::{BenchResult, NS_FIELDS, Params, Results, STAT_FIELDS, load, params_label};
use crate::plots::{Whiskers, plots_with};
use crate::summary::{checks_and_skips, context_line, goals_table, problems};
use crate::{Report, write_file, write_plots};

/// The per-boot folders of `dir`: subfolders named `boot-<N>`, sorted by N. Empty when there are
/// none (a single run).
pub fn find_boots(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let rd = fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut v: Vec<(u64, PathBuf)> = rd
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n: u64 = name.strip_prefix("boot-")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    v.sort();
    Ok(v.into_iter().map(|(_, p)| p).collect())
}

/// One (bench, params) across boots.
#[derive(Debug, Clone, PartialEq)]
pub struct RepeatRow {
    pub bench: String,
    pub kind: String,
    /// Params as in the first boot that has this result.
    pub params: Params,
    pub unit: String,
    /// The p50 of each boot, in boot order; `None` where a boot lacks the result.
    pub p50s: Vec<Option<f64>>,
    /// Median of the per-boot p50s (mean of the middle two for an even count).
    pub median: f64,
    /// Smallest and largest per-boot p50.
    pub min: f64,
    pub max: f64,
    /// (max − min) / median; infinite when the median is 0 and max > min.
    pub spread: f64,
    /// A median-of-boots view for the goals and plots: each statistic (and `_ns` figure, when
    /// every boot has it) is the median across boots, except `min`/`max` (the extremes), `n` (the
    /// sum) and `hist` (the buckets summed).
    pub combined: BenchResult,
}

impl RepeatRow {
    /// How many boots have this result.
    pub fn boots_present(&self) -> usize {
        self.p50s.iter().flatten().count()
    }
}

/// Matches results across boots by (bench, params) ([`BenchResult::key`]), rows in first-seen
/// order. Returns the rows and warnings (a key twice in one boot: the first is used; a unit
/// that differs from the first boot's: that boot's result is left out).
pub fn repeat_rows(boots: &[Results]) -> (Vec<RepeatRow>, Vec<String>) {
    let k = boots.len();
    let mut keys: Vec<String> = Vec::new();
    let mut members: Vec<Vec<Option<&BenchResult>>> = Vec::new();
    let mut warnings = Vec::new();
    for (b, boot) in boots.iter().enumerate() {
        for r in &boot.results {
            let key = r.key();
            let i = match keys.iter().position(|x| *x == key) {
                Some(i) => i,
                None => {
                    keys.push(key);
                    members.push(vec![None; k]);
                    keys.len() - 1
                }
            };
            let first_unit = members[i].iter().flatten().next().map(|f| f.unit.clone());
            if members[i][b].is_some() {
                warnings.push(format!(
                    "boot {}: {} appears twice; the first is used",
                    b + 1,
                    r.label()
                ));
            } else if first_unit.as_ref().is_some_and(|u| *u != r.unit) {
                warnings.push(format!(
                    "boot {}: {} is in {}, other boots in {}; left out",
                    b + 1,
                    r.label(),
                    r.unit,
                    first_unit.unwrap_or_default()
                ));
            } else {
                members[i][b] = Some(r);
            }
        }
    }
    let rows = members.into_iter().filter_map(|m| row(&m)).collect();
    (rows, warnings)
}

fn row(m: &[Option<&BenchResult>]) -> Option<RepeatRow> {
    let present: Vec<&BenchResult> = m.iter().flatten().copied().collect();
    let first = *present.first()?;
    let p50s: Vec<Option<f64>> = m.iter().map(|r| r.map(|r| r.p50)).collect();
    let vals: Vec<f64> = p50s.iter().flatten().copied().collect();
    let med = median(&vals)?;
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let spread = if max == min {
        0.0
    } else if med != 0.0 {
        (max - min) / med.abs()
    } else {
        f64::INFINITY
    };
    let mut c = first.clone();
    for f in STAT_FIELDS {
        let v: Vec<f64> = present.iter().filter_map(|r| r.stat(f)).collect();
        let x = match f {
            "min" => v.iter().copied().fold(f64::INFINITY, f64::min),
            "max" => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            _ => median(&v).unwrap_or(f64::NAN),
        };
        set_stat(&mut c, f, Some(x));
    }
    for f in NS_FIELDS {
        let v: Vec<f64> = present.iter().filter_map(|r| r.stat(f)).collect();
        let x = (v.len() == present.len()).then(|| match f {
            "min_ns" => v.iter().copied().fold(f64::INFINITY, f64::min),
            "max_ns" => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            _ => median(&v).unwrap_or(f64::NAN),
        });
        set_stat(&mut c, f, x);
    }
    c.n = present.iter().map(|r| r.n).sum();
    let mut h: BTreeMap<u64, u64> = BTreeMap::new();
    for r in &present {
        for (lb, n) in &r.hist {
            *h.entry(*lb).or_default() += n;
        }
    }
    c.hist = h.into_iter().collect();
    Some(RepeatRow {
        bench: first.bench.clone(),
        kind: first.kind.clone(),
        params: first.params.clone(),
        unit: first.unit.clone(),
        p50s,
        median: med,
        min,
        max,
        spread,
        combined: c,
    })
}

fn set_stat(r: &mut BenchResult, f: &str, v: Option<f64>) {
    match f {
        "min" => r.min = v.unwrap_or(r.min),
        "p50" => r.p50 = v.unwrap_or(r.p50),
        "p90" => r.p90 = v.unwrap_or(r.p90),
        "p99" => r.p99 = v.unwrap_or(r.p99),
        "p999" => r.p999 = v.unwrap_or(r.p999),
        "max" => r.max = v.unwrap_or(r.max),
        "mean" => r.mean = v.unwrap_or(r.mean),
        "stddev" => r.stddev = v.unwrap_or(r.stddev),
        "min_ns" => r.min_ns = v,
        "p50_ns" => r.p50_ns = v,
        "p90_ns" => r.p90_ns = v,
        "p99_ns" => r.p99_ns = v,
        "p999_ns" => r.p999_ns = v,
        "max_ns" => r.max_ns = v,
        "mean_ns" => r.mean_ns = v,
        "stddev_ns" => r.stddev_ns = v,
        _ => {}
    }
}

fn json_num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, |n| {
        if x.fract() == 0.0 && x.abs() < 9e15 {
            Value::from(x as i64)
        } else {
            Value::Number(n)
        }
    })
}

/// `repeat.jsonl`: a `repeat` line naming the boots, then one `repeat_result` line per row:
/// bench, kind, params, unit, `p50_per_boot` (null where absent), median, min, max, spread
/// (null if infinite), and `p50_ns_median` when every boot has `p50_ns`.
pub fn repeat_jsonl(boot_names: &[String], rows: &[RepeatRow]) -> String {
    let mut s = json!({"type": "repeat", "boots": boot_names}).to_string();
    s.push('\n');
    for r in rows {
        let mut o = json!({
            "type": "repeat_result",
            "bench": r.bench,
            "kind": r.kind,
            "params": Value::Object(r.params.clone()),
            "unit": r.unit,
            "p50_per_boot": r.p50s.iter().map(|v| v.map_or(Value::Null, json_num)).collect::<Vec<_>>(),
            "median": json_num(r.median),
            "min": json_num(r.min),
            "max": json_num(r.max),
            "spread": json_num(r.spread),
        });
        if let (Some(ns), Some(obj)) = (r.combined.p50_ns, o.as_object_mut()) {
            obj.insert("p50_ns_median".into(), json_num(ns));
        }
        s.push_str(&o.to_string());
        s.push('\n');
    }
    s
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        "∞".into()
    }
}

fn across_table(names: &[String], rows: &[&RepeatRow]) -> String {
    if rows.is_empty() {
        return "_None._\n".into();
    }
    let ns = rows.iter().any(|r| r.combined.p50_ns.is_some());
    let mut s = String::from("| bench | params | unit |");
    for n in names {
        let _ = write!(s, " {} |", md_cell(n));
    }
    s.push_str(" median | min | max | spread |");
    s.push_str(if ns {
        " median (ns) |\n|---|---|---|"
    } else {
        "\n|---|---|---|"
    });
    s.push_str(&"--:|".repeat(names.len() + 4 + usize::from(ns)));
    s.push('\n');
    for r in rows {
        let _ = write!(
            s,
            "| {} | {} | {} |",
            md_cell(&r.bench),
            md_cell(&params_label(&r.params)),
            md_cell(&r.unit)
        );
        for v in &r.p50s {
            let _ = write!(s, " {} |", v.map(short).unwrap_or_else(|| "–".into()));
        }
        let _ = write!(
            s,
            " {} | {} | {} | {} |",
            short(r.median),
            short(r.min),
            short(r.max),
            pct(r.spread)
        );
        if ns {
            let _ = write!(
                s,
                " {} |",
                r.combined.p50_ns.map(short).unwrap_or_else(|| "–".into())
            );
        }
        s.push('\n');
    }
    s
}

/// The CSV of the across-boots table: bench, params, unit, one column per boot, median, min,
/// max, spread.
pub fn repeat_csv(names: &[String], rows: &[RepeatRow]) -> String {
    let mut head: Vec<String> = vec!["bench".into(), "params".into(), "unit".into()];
    head.extend(names.iter().cloned());
    head.extend(["median", "min", "max", "spread"].map(String::from));
    let mut s = head
        .iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",");
    s.push('\n');
    for r in rows {
        let mut cells = vec![r.bench.clone(), params_label(&r.params), r.unit.clone()];
        cells.extend(r.p50s.iter().map(|v| v.map(num).unwrap_or_default()));
        cells.extend([num(r.median), num(r.min), num(r.max), num(r.spread)]);
        s.push_str(
            &cells
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        s.push('\n');
    }
    s
}

/// The `summary.md` of a repeated run: problems of each boot, the context of the first boot
/// (and which context fields differ between boots), floors and workloads across boots (p50 of
/// each boot, median, min, max, spread), and the goals from the medians.
pub fn repeat_summary(
    names: &[String],
    boots: &[Results],
    rows: &[RepeatRow],
    warnings: &[String],
) -> String {
    let mut s = format!("# Benchmark summary: {} boots\n\n", boots.len());
    let mut warn = warnings.to_vec();
    for (name, b) in names.iter().zip(boots) {
        for p in problems(b, &format!("{name}: ")) {
            if p.starts_with("**") {
                let _ = writeln!(s, "{p}\n");
            } else {
                warn.push(p);
            }
        }
    }
    if let Some(first) = boots.first() {
        let _ = writeln!(s, "{} (from {})\n", context_line(first), names[0]);
        s.push_str(&checks_and_skips(first));
        for key in [
            "git_rev",
            "cpu_model",
            "cpus_online",
            "tsc_hz",
            "hypervisor",
            "cmdline",
        ] {
            let vals: Vec<String> = boots
                .iter()
                .map(|b| b.context_text(key).unwrap_or_default())
                .collect();
            if vals.iter().any(|v| *v != vals[0]) {
                let _ = writeln!(s, "**Boots differ in {key}:** {}\n", vals.join(", "));
            }
        }
    }
    if !warn.is_empty() {
        s.push_str("Skipped or dropped while reading the records:\n\n");
        for w in &warn {
            let _ = writeln!(s, "- {w}");
        }
        s.push('\n');
    }
    s.push_str(
        "p50 of each boot; median, min and max of those; spread = (max − min) / median.\n\n",
    );
    let floors: Vec<&RepeatRow> = rows.iter().filter(|r| r.kind == "floor").collect();
    let work: Vec<&RepeatRow> = rows.iter().filter(|r| r.kind != "floor").collect();
    s.push_str("## Floors across boots\n\n");
    s.push_str(&across_table(names, &floors));
    s.push_str("\n## Workloads across boots\n\n");
    s.push_str(&across_table(names, &work));
    let _ = write!(
        s,
        "\n## Goals\n\nFrom the medians across boots of each result's p50. {}\n\n",
        crate::summary::GOALS_READING
    );
    let combined: Vec<BenchResult> = rows.iter().map(|r| r.combined.clone()).collect();
    let platform = boots.first().map_or_else(
        || Platform::Emulated("no boot read: the platform is unknown".into()),
        Platform::of,
    );
    s.push_str(&goals_table(&goals(&combined, &platform)));
    s
}

/// Aggregates the boots of a repeated run into `dir`: writes `dir/repeat.jsonl`,
/// `dir/summary.md`, `dir/csv/repeat.csv` and the plots in `dir/plots/` (median of the per-boot
/// p50s, whiskers min..max of them). The boot folders are only read. A boot that cannot be
/// read is named in the summary and left out; an error only when none can be read.
pub fn aggregate_repeats(dir: &Path, boots: &[PathBuf]) -> Result<Report, Error> {
    if boots.is_empty() {
        return Err(Error::NoBoots(dir.to_path_buf()));
    }
    let mut loaded = Vec::new();
    let mut names = Vec::new();
    let mut failed = Vec::new();
    let mut last_err = None;
    for b in boots {
        let name = b
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| b.display().to_string());
        match load(b) {
            Ok(r) => {
                loaded.push(r);
                names.push(name);
            }
            Err(e) => {
                failed.push(format!("**{name}: not read: {e}**"));
                last_err = Some(e);
            }
        }
    }
    if loaded.is_empty() {
        return Err(last_err.unwrap_or_else(|| Error::NoBoots(dir.to_path_buf())));
    }
    let (rows, warnings) = repeat_rows(&loaded);
    let mut summary = repeat_summary(&names, &loaded, &rows, &warnings);
    if !failed.is_empty() {
        let at = summary.find('\n').map_or(0, |i| i + 2);
        summary.insert_str(at, &format!("{}\n\n", failed.join("\n\n")));
    }
    let mut files = Vec::new();
    files.push(write_file(
        &dir.join("repeat.jsonl"),
        &repeat_jsonl(&names, &rows),
    )?);
    files.push(write_file(
        &dir.join("csv").join("repeat.csv"),
        &repeat_csv(&names, &rows),
    )?);
    // Every boot's results, one run id per boot (the boot folder's name where host.json has
    // none).
    let runs: Vec<(String, &crate::model::Results)> = names
        .iter()
        .zip(&loaded)
        .map(|(n, r)| (crate::tidy::run_id(r, n), r))
        .collect();
    files.push(write_file(
        &dir.join(crate::tidy::RESULTS_CSV),
        &crate::tidy::results_csv(&runs),
    )?);
    let combined: Vec<BenchResult> = rows.iter().map(|r| r.combined.clone()).collect();
    let spread = |r: &BenchResult| -> Option<(f64, f64)> {
        let key = r.key();
        rows.iter()
            .find(|x| x.combined.key() == key)
            .map(|x| (x.min, x.max))
    };
    let desc = |_: &[&BenchResult]| "median of boots, whiskers min–max of boots".to_string();
    let w = Whiskers {
        range: &spread,
        desc: &desc,
    };
    files.extend(write_plots(dir, &plots_with(&combined, &w))?);
    files.push(write_file(&dir.join("summary.md"), &summary)?);
    let mut all_warnings = warnings;
    for (n, b) in names.iter().zip(&loaded) {
        all_warnings.extend(b.warnings.iter().map(|w| format!("{n}: {w}")));
    }
    Ok(Report {
        summary,
        files,
        warnings: all_warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::res;
    use serde_json::json;

    fn boot(p50s: &[(&str, f64)]) -> Results {
        Results {
            results: p50s
                .iter()
                .map(|(b, v)| res(b, "workload", json!({"targets":1}), "cycles", *v))
                .collect(),
            complete: true,
            end_status: Some("pass".into()),
            ..Results::default()
        }
    }

    #[test]
    fn rows_across_boots() {
        let boots = vec![
            boot(&[("a", 100.0), ("b", 10.0)]),
            boot(&[("a", 110.0)]),
            boot(&[("a", 90.0), ("b", 12.0), ("a", 5.0)]),
        ];
        let (rows, warnings) = repeat_rows(&boots);
        assert_eq!(rows.len(), 2);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let a = &rows[0];
        assert_eq!(a.p50s, vec![Some(100.0), Some(110.0), Some(90.0)]);
        assert_eq!((a.median, a.min, a.max), (100.0, 90.0, 110.0));
        assert!((a.spread - 0.2).abs() < 1e-12);
        assert_eq!(a.combined.p50, 100.0);
        assert_eq!(a.combined.min, 72.0);
        assert_eq!(a.combined.n, 300);
        let b = &rows[1];
        assert_eq!(b.p50s, vec![Some(10.0), None, Some(12.0)]);
        assert_eq!(b.median, 11.0);
        assert_eq!(b.boots_present(), 2);
    }

    #[test]
    fn hist_is_summed_and_ns_needs_every_boot() {
        let mut b1 = boot(&[("a", 100.0)]);
        let mut b2 = boot(&[("a", 200.0)]);
        b1.results[0].hist = vec![(64, 3), (128, 1)];
        b2.results[0].hist = vec![(128, 2)];
        b1.results[0].p50_ns = Some(40.0);
        let (rows, _) = repeat_rows(&[b1.clone(), b2.clone()]);
        assert_eq!(rows[0].combined.hist, vec![(64, 3), (128, 3)]);
        assert_eq!(rows[0].combined.p50_ns, None);
        b2.results[0].p50_ns = Some(80.0);
        let (rows, _) = repeat_rows(&[b1, b2]);
        assert_eq!(rows[0].combined.p50_ns, Some(60.0));
    }

    #[test]
    fn unit_mismatch_across_boots_is_left_out() {
        let b1 = boot(&[("a", 100.0)]);
        let mut b2 = boot(&[("a", 50.0)]);
        b2.results[0].unit = "instructions".into();
        let (rows, w) = repeat_rows(&[b1, b2]);
        assert_eq!(rows[0].p50s, vec![Some(100.0), None]);
        assert!(w[0].contains("instructions"), "{w:?}");
    }

    #[test]
    fn jsonl_lines() {
        let (rows, _) = repeat_rows(&[boot(&[("a", 100.0)]), boot(&[("a", 101.5)])]);
        let text = repeat_jsonl(&["boot-1".into(), "boot-2".into()], &rows);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            json!({"type":"repeat","boots":["boot-1","boot-2"]})
        );
        assert_eq!(lines[1]["type"], "repeat_result");
        assert_eq!(lines[1]["p50_per_boot"], json!([100, 101.5]));
        assert_eq!(lines[1]["median"], json!(100.75));
        assert_eq!(lines[1]["params"], json!({"targets":1}));
    }
}
