//! Tidy data: the files a researcher loads into pandas, R or pgfplots without joining anything
//! by hand.
//!
//! ```text
//! DIR/results.csv      one row per result: run metadata, bench, kind, unit, every param as a
//!                      column (params.<key>, the union over the run), every statistic, hist
//! DIR/samples.csv.gz   long format, gzip: run, result, bench, i, value — every sample of
//!                      every result in measurement order (runs with `bench_raw`, which the
//!                      runner adds under an emulator)
//! DIR/summary.json     what summary.md says, for programs: outcome, context, goals, checks,
//!                      skips, errors, warnings
//! ```
//!
//! `result` in samples.csv.gz is the 0-based position of the result among the run's `result`
//! records, the `result` column of results.csv: join on (run, result).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde_json::{Map, Value, json};

use crate::csv::line;
use crate::fmt::{csv_field, num};
use crate::goals::{Platform, goals};
use crate::model::{BenchResult, Results, value_text};

/// `DIR/results.csv`.
pub const RESULTS_CSV: &str = "results.csv";
/// `DIR/samples.csv.gz`.
pub const SAMPLES_FILE: &str = "samples.csv.gz";
/// `DIR/summary.json`.
pub const SUMMARY_JSON: &str = "summary.json";

/// The run-metadata columns that open every row of results.csv, in order.
pub const META_COLUMNS: [&str; 12] = [
    "run",
    "boot",
    "accelerator",
    "emulator",
    "cpu_model",
    "vm_cpu",
    "cpus",
    "memory_bytes",
    "git_rev",
    "date",
    "deterministic",
    "result",
];

/// The columns of results.csv after the params, in order: the statistics (`_ns` ones are
/// empty where the unit is not `cycles`), `hist` (the log2 histogram as `lower:count` pairs
/// joined by `;`) and `samples` (how many raw samples samples.csv.gz holds for the result; 0
/// for none).
pub const FIGURE_COLUMNS: [&str; 22] = [
    "n",
    "warmup",
    "min",
    "p5",
    "p50",
    "p90",
    "p95",
    "p99",
    "p999",
    "max",
    "mean",
    "stddev",
    "min_ns",
    "p50_ns",
    "p90_ns",
    "p99_ns",
    "p999_ns",
    "max_ns",
    "mean_ns",
    "stddev_ns",
    "hist",
    "samples",
];

fn figure_columns() -> impl Iterator<Item = &'static str> {
    FIGURE_COLUMNS.iter().copied()
}

/// The run id of a folder: host.json's `run_id`, else its `started_at`, else `fallback` (the
/// folder's name).
pub fn run_id(r: &Results, fallback: &str) -> String {
    r.host_text("run_id")
        .or_else(|| r.host_text("started_at"))
        .unwrap_or_else(|| fallback.to_string())
}

/// The run-metadata cells of a folder, in [`META_COLUMNS`] order without `result`.
fn meta_cells(r: &Results, run: &str) -> Vec<String> {
    let host = |k: &str| r.host_text(k).filter(|v| v != "null");
    let ctx = |k: &str| r.context_text(k).filter(|v| v != "null");
    let emulator = host("emulator").unwrap_or_else(|| match host("qemu_version") {
        Some(v) => format!("qemu {}", v.split_whitespace().next().unwrap_or("")),
        None => String::new(),
    });
    vec![
        run.to_string(),
        host("boot").unwrap_or_default(),
        host("accelerator").unwrap_or_default(),
        emulator,
        ctx("cpu_model").unwrap_or_default(),
        host("cpu_model").unwrap_or_default(),
        ctx("cpus_online")
            .or_else(|| host("smp"))
            .unwrap_or_default(),
        host("memory_bytes")
            .or_else(|| ctx("memory_bytes"))
            .unwrap_or_default(),
        ctx("git_rev").unwrap_or_default(),
        host("started_at").unwrap_or_default(),
        host("deterministic").unwrap_or_default(),
    ]
}

fn hist_cell(h: &[(u64, u64)]) -> String {
    h.iter()
        .map(|(b, c)| format!("{b}:{c}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn parse_hist(cell: &str) -> Option<Vec<(u64, u64)>> {
    if cell.is_empty() {
        return Some(Vec::new());
    }
    cell.split(';')
        .map(|p| {
            let (b, c) = p.split_once(':')?;
            Some((b.parse().ok()?, c.parse().ok()?))
        })
        .collect()
}

/// results.csv of one or more runs (a repeated run passes every boot): `(run id, results)`.
pub fn results_csv(runs: &[(String, &Results)]) -> String {
    let mut keys: Vec<&str> = Vec::new();
    for (_, r) in runs {
        for x in &r.results {
            for k in x.params.keys() {
                if !keys.contains(&k.as_str()) {
                    keys.push(k);
                }
            }
        }
    }
    let mut header: Vec<String> = META_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.extend(["bench", "kind", "unit"].map(String::from));
    header.extend(keys.iter().map(|k| format!("params.{k}")));
    header.extend(figure_columns().map(String::from));
    let mut out = line(&header);
    for (run, r) in runs {
        let meta = meta_cells(r, run);
        for (i, x) in r.results.iter().enumerate() {
            let mut cells = meta.clone();
            cells.push(i.to_string());
            cells.extend([x.bench.clone(), x.kind.clone(), x.unit.clone()]);
            cells.extend(
                keys.iter()
                    .map(|k| x.params.get(*k).map(value_text).unwrap_or_default()),
            );
            for c in figure_columns() {
                cells.push(match c {
                    "n" => x.n.to_string(),
                    "warmup" => x.warmup.to_string(),
                    "p5" => x.p5.map(num).unwrap_or_default(),
                    "p95" => x.p95.map(num).unwrap_or_default(),
                    "hist" => hist_cell(&x.hist),
                    "samples" => x.samples.as_ref().map_or(0, Vec::len).to_string(),
                    stat => x.stat(stat).map(num).unwrap_or_default(),
                });
            }
            out.push_str(&line(&cells));
        }
    }
    out
}

/// Splits one CSV line (RFC 4180 quoting; no newline inside a field, which this crate never
/// writes).
pub(crate) fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// A param cell back into JSON: a number where it reads as one, else a string.
fn param_value(cell: &str) -> Value {
    if let Ok(u) = cell.parse::<u64>() {
        return json!(u);
    }
    if let Ok(f) = cell.parse::<f64>()
        && f.is_finite()
    {
        return json!(f);
    }
    Value::String(cell.to_string())
}

/// The results of a results.csv (all runs in it, in file order), for redrawing figures from
/// the CSV alone (`runner plot`). A row that does not parse is named in the error.
pub fn results_from_csv(text: &str) -> Result<Vec<BenchResult>, String> {
    let mut lines = text.lines();
    let header = split_csv(lines.next().ok_or("results.csv is empty")?);
    let col = |name: &str| header.iter().position(|h| h == name);
    let need = |name: &str| col(name).ok_or(format!("results.csv has no column `{name}`"));
    let (bench, kind, unit) = (need("bench")?, need("kind")?, need("unit")?);
    let params: Vec<(usize, &str)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.strip_prefix("params.").map(|k| (i, k)))
        .collect();
    let mut out = Vec::new();
    for (no, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cells = split_csv(line);
        let bad = |what: &str| format!("results.csv line {}: {what}", no + 2);
        if cells.len() != header.len() {
            return Err(bad(&format!(
                "{} cells, the header has {}",
                cells.len(),
                header.len()
            )));
        }
        let get = |name: &str| col(name).map(|i| cells[i].as_str()).unwrap_or("");
        let f = |name: &str| -> Result<Option<f64>, String> {
            let c = get(name);
            if c.is_empty() {
                return Ok(None);
            }
            c.parse()
                .map(Some)
                .map_err(|_| bad(&format!("`{name}` is not a number: {c}")))
        };
        let req = |name: &str| f(name)?.ok_or_else(|| bad(&format!("no `{name}`")));
        let mut p = Map::new();
        for (i, k) in &params {
            if !cells[*i].is_empty() {
                p.insert(k.to_string(), param_value(&cells[*i]));
            }
        }
        out.push(BenchResult {
            bench: cells[bench].clone(),
            kind: cells[kind].clone(),
            params: p,
            unit: cells[unit].clone(),
            n: req("n")? as u64,
            warmup: f("warmup")?.unwrap_or(0.0) as u64,
            min: req("min")?,
            p50: req("p50")?,
            p90: req("p90")?,
            p99: req("p99")?,
            p999: req("p999")?,
            max: req("max")?,
            mean: req("mean")?,
            stddev: req("stddev")?,
            p5: f("p5")?,
            p95: f("p95")?,
            min_ns: f("min_ns")?,
            p50_ns: f("p50_ns")?,
            p90_ns: f("p90_ns")?,
            p99_ns: f("p99_ns")?,
            p999_ns: f("p999_ns")?,
            max_ns: f("max_ns")?,
            mean_ns: f("mean_ns")?,
            stddev_ns: f("stddev_ns")?,
            hist: parse_hist(get("hist")).ok_or_else(|| bad("`hist` is not lower:count;…"))?,
            samples: None,
        });
    }
    Ok(out)
}

/// samples.csv.gz's header.
pub const SAMPLES_HEADER: &str = "run,result,bench,i,value";

/// Writes samples.csv.gz as the records stream in (the runner): every `samples` record
/// becomes rows of the result that follows it.
pub struct SamplesWriter {
    out: GzEncoder<BufWriter<File>>,
    run: String,
    /// Rows written.
    pub rows: u64,
}

impl SamplesWriter {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path, run: &str) -> io::Result<SamplesWriter> {
        let f = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut out = GzEncoder::new(BufWriter::new(f), Compression::default());
        writeln!(out, "{SAMPLES_HEADER}")?;
        Ok(SamplesWriter {
            out,
            run: csv_field(run),
            rows: 0,
        })
    }

    /// Writes the values of the `samples` record `r` as rows of result number `result` (the
    /// position of the `result` record that follows it among the run's results).
    pub fn samples(&mut self, result: usize, r: &Map<String, Value>) -> io::Result<()> {
        let (bench, values) = crate::model::parse_samples(r).map_err(io::Error::other)?;
        let bench = csv_field(&bench);
        for (i, v) in values.iter().enumerate() {
            writeln!(self.out, "{},{result},{bench},{i},{v}", self.run)?;
        }
        self.rows += values.len() as u64;
        Ok(())
    }

    /// Ends the gzip stream and flushes the file.
    pub fn finish(self) -> io::Result<()> {
        self.out.finish()?.flush()
    }
}

/// Reads samples.csv.gz: `result` position → (bench, values in `i` order). Rows of runs other
/// than the first are ignored (a folder holds one run). A truncated file (a killed runner)
/// gives what it holds up to the break.
pub fn read_samples(path: &Path) -> io::Result<BTreeMap<usize, (String, Vec<u64>)>> {
    let f = File::open(path)?;
    read_samples_from(MultiGzDecoder::new(f))
}

fn read_samples_from(r: impl Read) -> io::Result<BTreeMap<usize, (String, Vec<u64>)>> {
    let mut out: BTreeMap<usize, (String, Vec<u64>)> = BTreeMap::new();
    let mut first_run: Option<String> = None;
    let bad = |no: usize, what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{SAMPLES_FILE} line {no}: {what}"),
        )
    };
    for (no, line) in BufReader::new(r).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            // A stream cut short (killed runner): keep what was read.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        };
        if no == 0 {
            if line != SAMPLES_HEADER {
                return Err(bad(1, &format!("header is not `{SAMPLES_HEADER}`")));
            }
            continue;
        }
        let c = split_csv(&line);
        if c.len() != 5 {
            // The last line of a truncated stream can be cut.
            continue;
        }
        match &first_run {
            None => first_run = Some(c[0].clone()),
            Some(r) if *r != c[0] => continue,
            Some(_) => {}
        }
        let (Ok(result), Ok(i), Ok(v)) = (
            c[1].parse::<usize>(),
            c[3].parse::<usize>(),
            c[4].parse::<u64>(),
        ) else {
            return Err(bad(no + 1, "result, i and value must be integers"));
        };
        let e = out
            .entry(result)
            .or_insert_with(|| (c[2].clone(), Vec::new()));
        if i != e.1.len() {
            return Err(bad(no + 1, &format!("sample {i} out of order")));
        }
        e.1.push(v);
    }
    Ok(out)
}

/// Checks the raw samples against the results they belong to: every result has them, and
/// the figures computed from them (the kernel's nearest-rank statistics) are the record's.
/// Returns how many samples were checked.
pub fn verify_samples(r: &Results) -> Result<u64, String> {
    let mut checked = 0;
    for x in &r.results {
        let Some(v) = &x.samples else {
            return Err(format!("{}: no raw samples", x.label()));
        };
        let mut sorted = v.clone();
        let s = kernel_core::stats::Summary::of(&mut sorted)
            .ok_or_else(|| format!("{}: an empty samples record", x.label()))?;
        let got = [s.min, s.p50, s.p90, s.p99, s.max].map(|v| v as f64);
        let want = [x.min, x.p50, x.p90, x.p99, x.max];
        if got != want {
            return Err(format!(
                "{}: the samples give min/p50/p90/p99/max {got:?}, the record {want:?}",
                x.label()
            ));
        }
        checked += v.len() as u64;
    }
    Ok(checked)
}

/// summary.json: what summary.md says, for programs.
pub fn summary_json(r: &Results) -> Value {
    let outcome = match (&r.end_status, r.complete) {
        (Some(s), true) => s.clone(),
        _ => "incomplete".into(),
    };
    let goals: Vec<Value> = goals(&r.results, &Platform::of(r))
        .iter()
        .map(|g| {
            json!({
                "name": g.name,
                "subject": g.subject,
                "measured": g.measured,
                "reference": g.reference,
                "reference_desc": g.reference_desc,
                "ratio": g.ratio,
                "target": g.target,
                "unit": g.unit,
                "verdict": g.verdict.as_str(),
                "note": g.note,
            })
        })
        .collect();
    json!({
        "outcome": outcome,
        "complete": r.complete,
        "run": run_id(r, ""),
        "context": r.context,
        "host": r.host.as_ref().map(|h| {
            let keep = ["accelerator", "deterministic", "qemu_version", "machine", "cpu_model",
                        "smp", "memory_bytes", "boot", "host_cpu", "host_cores", "started_at",
                        "duration_s", "outcome", "outcome_message", "run_id"];
            h.iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<String, Value>>()
        }),
        "results": r.results.len(),
        "goals": goals,
        "checks": r.checks.iter().map(|c| json!({"name": c.name, "pass": c.pass, "detail": c.detail})).collect::<Vec<_>>(),
        "checks_failed": r.checks.iter().filter(|c| !c.pass).count(),
        "skips": r.skips.iter().map(|s| json!({"bench": s.bench, "reason": s.reason})).collect::<Vec<_>>(),
        "errors": r.errors,
        "warnings": r.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_records;

    const RECS: &str = concat!(
        r#"{"type":"context","git_rev":"abc","cpu_model":"QEMU TCG CPU","cpus_online":2,"memory_bytes":1000}"#,
        "\n",
        r#"{"type":"samples","bench":"ipi_roundtrip","params":{},"unit":"cycles","n":3,"values":[30,10,20]}"#,
        "\n",
        r#"{"type":"result","bench":"ipi_roundtrip","kind":"floor","params":{},"unit":"cycles","n":3,"warmup":1,"min":10,"p50":20,"p90":30,"p99":30,"p999":30,"max":30,"mean":20,"stddev":8.16,"p5":10,"p95":30,"hist":[[8,1],[16,2]]}"#,
        "\n",
        r#"{"type":"result","bench":"shootdown","kind":"workload","params":{"targets":2,"protocol":"sync, fast"},"unit":"cycles","n":1,"warmup":0,"min":5,"p50":5,"p90":5,"p99":5,"p999":5,"max":5,"mean":5,"stddev":0,"hist":[[4,1]]}"#,
        "\n",
        r#"{"type":"check","name":"c","pass":false,"detail":"d"}"#,
        "\n",
        r#"{"type":"end","status":"fail"}"#,
        "\n"
    );

    fn run() -> Results {
        let mut r = parse_records(RECS);
        r.host = json!({"accelerator":"tcg","qemu_version":"10.0.2 (Debian)","cpu_model":"max",
                        "smp":2,"memory_bytes":1073741824,"boot":"kernel",
                        "started_at":"2026-12-02T10:00:00Z","run_id":"R1","deterministic":false})
        .as_object()
        .cloned();
        r
    }

    #[test]
    fn a_samples_record_belongs_to_the_next_result() {
        let r = run();
        assert_eq!(r.results[0].samples, Some(vec![30, 10, 20]));
        assert_eq!(r.results[1].samples, None);
        // A count that does not match its result: dropped with a warning.
        let bad = RECS.replace(
            "\"n\":3,\"values\":[30,10,20]",
            "\"n\":2,\"values\":[30,10]",
        );
        let r = parse_records(&bad);
        assert_eq!(r.results[0].samples, None);
        assert!(
            r.warnings.iter().any(|w| w.contains("do not belong")),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn results_csv_has_run_metadata_every_param_and_round_trips() {
        let r = run();
        let csv = results_csv(&[("R1".into(), &r)]);
        let mut lines = csv.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with(
            "run,boot,accelerator,emulator,cpu_model,vm_cpu,cpus,memory_bytes,git_rev,date,deterministic,result,bench,kind,unit,params.targets,params.protocol,n,warmup,min,p5,p50"
        ), "{header}");
        assert!(header.ends_with(",hist,samples"), "{header}");
        let first = lines.next().unwrap();
        assert!(first.starts_with(
            "R1,kernel,tcg,qemu 10.0.2,QEMU TCG CPU,max,2,1073741824,abc,2026-12-02T10:00:00Z,false,0,ipi_roundtrip,floor,cycles,,,3,1,10,10,20"
        ), "{first}");
        assert!(first.ends_with(",8:1;16:2,3"), "{first}");
        let second = lines.next().unwrap();
        assert!(
            second.contains(",1,shootdown,workload,cycles,2,\"sync, fast\","),
            "{second}"
        );
        let back = results_from_csv(&csv).unwrap();
        assert_eq!(back.len(), 2);
        let mut want = r.results.clone();
        want[0].samples = None;
        assert_eq!(back, want);
        assert!(
            results_from_csv("bench,kind\nx,y\n")
                .unwrap_err()
                .contains("`unit`")
        );
        assert!(results_from_csv(&csv.replace(",8:1;16:2,", ",8-1,")).is_err());
    }

    #[test]
    fn samples_stream_in_and_read_back_in_order() {
        let dir = std::env::temp_dir().join(format!("tidy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(SAMPLES_FILE);
        let mut w = SamplesWriter::create(&path, "R1").unwrap();
        let mut results = 0;
        for line in RECS.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let r = v.as_object().unwrap();
            match r["type"].as_str() {
                Some("samples") => w.samples(results, r).unwrap(),
                Some("result") => results += 1,
                _ => {}
            }
        }
        assert_eq!(w.rows, 3);
        w.finish().unwrap();
        let s = read_samples(&path).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[&0], ("ipi_roundtrip".to_string(), vec![30, 10, 20]));
        // The samples agree with their result; a result without samples is named.
        let mut r = run();
        r.results.truncate(1);
        assert_eq!(verify_samples(&r), Ok(3));
        r.results[0].samples = Some(vec![30, 10, 21]);
        assert!(verify_samples(&r).unwrap_err().contains("the record"));
        assert!(
            verify_samples(&super::tests::run())
                .unwrap_err()
                .contains("shootdown")
        );
        // Out of order or a wrong header: an error naming the line.
        let e = read_samples_from("run,result,bench,i,value\nR,0,b,1,5\n".as_bytes()).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(read_samples_from("x\n".as_bytes()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn summary_json_carries_the_verdicts() {
        let j = summary_json(&run());
        assert_eq!(j["outcome"], "fail");
        assert_eq!(j["run"], "R1");
        assert_eq!(j["checks_failed"], 1);
        assert_eq!(j["results"], 2);
        assert!(j["goals"].as_array().is_some_and(|g| !g.is_empty()));
        assert_eq!(j["host"]["accelerator"], "tcg");
        let bare = summary_json(&parse_records(""));
        assert_eq!(bare["outcome"], "incomplete");
    }
}
