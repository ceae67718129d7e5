//! Parsing a results folder: `records.jsonl` (the kernel's records) and `host.json`.
//!
//! Malformed input never panics: a record that lacks a field this crate needs is skipped and
//! named in [`Results::warnings`]; a field it can do without (a `_ns` figure, `hist`) is dropped
//! with a warning and the record kept.

use std::fs;
use std::path::Path;

use serde_json::{Map, Value};

use crate::Error;

/// A JSON object, fields in the order they were written.
pub type Object = Map<String, Value>;

/// The `params` of a result, in record order.
pub type Params = Map<String, Value>;

/// Bench names the kernel emits with `"kind":"floor"`; used only to guess a missing `kind`.
pub const KNOWN_FLOORS: [&str; 12] = [
    "tsc_overhead",
    "exception_roundtrip",
    "exception_roundtrip_user",
    "syscall_roundtrip",
    "ipi_roundtrip",
    "invlpg",
    "flush_cr3",
    "flush_global",
    "percpu_read_gs",
    "percpu_read_array",
    "zero_page",
    "pte_write",
];

/// The statistics every result carries, in CSV column order.
pub const STAT_FIELDS: [&str; 8] = ["min", "p50", "p90", "p99", "p999", "max", "mean", "stddev"];

/// The same statistics in ns (`<stat>_ns`), present only where the unit is `cycles`.
pub const NS_FIELDS: [&str; 8] = [
    "min_ns",
    "p50_ns",
    "p90_ns",
    "p99_ns",
    "p999_ns",
    "max_ns",
    "mean_ns",
    "stddev_ns",
];

/// One `result` record.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    /// Benchmark name, e.g. `shootdown`.
    pub bench: String,
    /// `floor` (a hardware floor) or `workload` (anything else is kept as given).
    pub kind: String,
    /// Parameters in record order; `{}` when the record has none.
    pub params: Params,
    /// `cycles`, `instructions` (deterministic mode), `faults_per_s`, ...
    pub unit: String,
    /// Sample count.
    pub n: u64,
    /// Warm-up iterations discarded before sampling.
    pub warmup: u64,
    /// Smallest sample, in `unit`.
    pub min: f64,
    /// Nearest-rank median; `p90`, `p99`, `p999` likewise.
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
    /// Population standard deviation.
    pub stddev: f64,
    /// 5th and 95th percentiles (records written before 2026-12-02 have none).
    pub p5: Option<f64>,
    pub p95: Option<f64>,
    /// The figures above in ns (present only where `unit` is `cycles`).
    pub min_ns: Option<f64>,
    pub p50_ns: Option<f64>,
    pub p90_ns: Option<f64>,
    pub p99_ns: Option<f64>,
    pub p999_ns: Option<f64>,
    pub max_ns: Option<f64>,
    pub mean_ns: Option<f64>,
    pub stddev_ns: Option<f64>,
    /// Log2 histogram: `(lower_bound, count)`, lower bounds 0, 1, 2, 4, ...; only non-empty
    /// buckets. Empty when the record has none.
    pub hist: Vec<(u64, u64)>,
    /// Every sample in measurement order, in `unit`, when the run kept them (`bench_raw`:
    /// a `samples` record before the result, or `samples.csv.gz` in the folder).
    pub samples: Option<Vec<u64>>,
}

impl BenchResult {
    /// A statistic by name: one of [`STAT_FIELDS`] or [`NS_FIELDS`].
    pub fn stat(&self, name: &str) -> Option<f64> {
        Some(match name {
            "min" => self.min,
            "p50" => self.p50,
            "p90" => self.p90,
            "p99" => self.p99,
            "p999" => self.p999,
            "max" => self.max,
            "mean" => self.mean,
            "stddev" => self.stddev,
            "min_ns" => return self.min_ns,
            "p50_ns" => return self.p50_ns,
            "p90_ns" => return self.p90_ns,
            "p99_ns" => return self.p99_ns,
            "p999_ns" => return self.p999_ns,
            "max_ns" => return self.max_ns,
            "mean_ns" => return self.mean_ns,
            "stddev_ns" => return self.stddev_ns,
            _ => return None,
        })
    }

    fn stat_mut(&mut self, name: &str) -> Option<&mut f64> {
        Some(match name {
            "min" => &mut self.min,
            "p50" => &mut self.p50,
            "p90" => &mut self.p90,
            "p99" => &mut self.p99,
            "p999" => &mut self.p999,
            "max" => &mut self.max,
            "mean" => &mut self.mean,
            "stddev" => &mut self.stddev,
            _ => return None,
        })
    }

    fn ns_mut(&mut self, name: &str) -> Option<&mut Option<f64>> {
        Some(match name {
            "min_ns" => &mut self.min_ns,
            "p50_ns" => &mut self.p50_ns,
            "p90_ns" => &mut self.p90_ns,
            "p99_ns" => &mut self.p99_ns,
            "p999_ns" => &mut self.p999_ns,
            "max_ns" => &mut self.max_ns,
            "mean_ns" => &mut self.mean_ns,
            "stddev_ns" => &mut self.stddev_ns,
            _ => return None,
        })
    }

    /// Whether any `_ns` figure is present.
    pub fn has_ns(&self) -> bool {
        NS_FIELDS.iter().any(|f| self.stat(f).is_some())
    }

    /// Whether this is a hardware floor (`kind == "floor"`).
    pub fn is_floor(&self) -> bool {
        self.kind == "floor"
    }

    /// A parameter's value as text (see [`value_text`]).
    pub fn param_text(&self, key: &str) -> Option<String> {
        self.params.get(key).map(value_text)
    }

    /// A parameter's value as a number (a JSON number, or a string that parses as one).
    pub fn param_f64(&self, key: &str) -> Option<f64> {
        match self.params.get(key)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// `bench` followed by its params label, e.g. `shootdown targets=1 pages=1`.
    pub fn label(&self) -> String {
        let p = params_label(&self.params);
        if p.is_empty() {
            self.bench.clone()
        } else {
            format!("{} {p}", self.bench)
        }
    }

    /// The key two results are matched by (compare, repeats): the bench and its params, the
    /// params sorted by key so their order in the record does not matter, values as text (so
    /// `1` and `"1"` match).
    pub fn key(&self) -> String {
        let mut kv: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect();
        kv.sort();
        format!("{}\u{1f}{}", self.bench, kv.join("\u{1f}"))
    }
}

/// A `skip` record: a result that could not be measured on this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    pub bench: String,
    pub reason: String,
}

/// A `check` record: a property a benchmark verified on its own results.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    pub pass: bool,
    pub detail: String,
}

/// Everything read from one results folder (one boot).
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// The first `context` record, all its fields as given.
    pub context: Option<Object>,
    /// `host.json`, when present and a JSON object.
    pub host: Option<Object>,
    /// The `result` records that parsed, in file order.
    pub results: Vec<BenchResult>,
    /// The `message` of every `error` record, prefixed with its `bench` when it names one
    /// (`shootdown: a target never acknowledged`).
    pub errors: Vec<String>,
    /// Every `skip` record (`bench`, `reason`).
    pub skips: Vec<Skip>,
    /// Every `check` record (`name`, `pass`, `detail`).
    pub checks: Vec<Check>,
    /// Whether an `end` record was seen (a run without one is incomplete).
    pub complete: bool,
    /// The `status` of the last `end` record.
    pub end_status: Option<String>,
    /// What was skipped or dropped while parsing, one sentence each (with the line number).
    pub warnings: Vec<String>,
    /// For each of `results`, its position among the folder's `result` records (they differ
    /// when a record was skipped): the `result` column of samples.csv.gz.
    pub positions: Vec<usize>,
}

impl Results {
    /// A context field as text (strings unquoted), if the context record has it.
    pub fn context_text(&self, key: &str) -> Option<String> {
        self.context.as_ref()?.get(key).map(value_text)
    }

    /// A host.json field as text (strings unquoted), if present.
    pub fn host_text(&self, key: &str) -> Option<String> {
        self.host.as_ref()?.get(key).map(value_text)
    }

    /// The results of one bench, in file order.
    pub fn of_bench<'a>(&'a self, bench: &'a str) -> impl Iterator<Item = &'a BenchResult> {
        self.results.iter().filter(move |r| r.bench == bench)
    }

    /// Bench names in first-seen order.
    pub fn benches(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        for r in &self.results {
            if !v.contains(&r.bench.as_str()) {
                v.push(&r.bench);
            }
        }
        v
    }
}

/// A JSON value as text for labels and CSV cells: strings without quotes, numbers and booleans
/// as JSON writes them, `null` as `null`, arrays and objects as compact JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Params as `key=value` words in record order, e.g. `delivery=unicast pages=1 targets=3`;
/// empty for no params.
pub fn params_label(params: &Params) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads `dir/records.jsonl` (required) and `dir/host.json` (optional).
pub fn load(dir: &Path) -> Result<Results, Error> {
    let path = dir.join("records.jsonl");
    let text = fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let mut res = parse_records(&text);
    attach_samples(dir, &mut res);
    let host_path = dir.join("host.json");
    match fs::read_to_string(&host_path) {
        Ok(t) => match serde_json::from_str::<Value>(&t) {
            Ok(Value::Object(m)) => res.host = Some(m),
            Ok(_) => res.warnings.push(format!(
                "{}: not a JSON object (ignored)",
                host_path.display()
            )),
            Err(e) => res.warnings.push(format!(
                "{}: invalid JSON (ignored): {e}",
                host_path.display()
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => res.warnings.push(format!(
            "{}: unreadable (ignored): {e}",
            host_path.display()
        )),
    }
    Ok(res)
}

/// Gives each result its raw samples from `dir/samples.csv.gz`, when the folder has one;
/// what does not fit (another bench at that position, another count) is a warning.
fn attach_samples(dir: &Path, res: &mut Results) {
    let path = dir.join(crate::tidy::SAMPLES_FILE);
    let mut samples = match crate::tidy::read_samples(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            res.warnings
                .push(format!("{}: {e} (samples ignored)", path.display()));
            return;
        }
    };
    for (r, pos) in res.results.iter_mut().zip(&res.positions) {
        let Some((bench, values)) = samples.remove(pos) else {
            continue;
        };
        // `renamed` may have changed the bench name since: compare the prefix it keeps.
        let same = bench == r.bench || bench.starts_with(&format!("{}_", r.bench));
        if same && values.len() as u64 == r.n {
            r.samples = Some(values);
        } else {
            res.warnings.push(format!(
                "{}: result {pos} ({bench}, {} samples) does not match {} (n {}): ignored",
                path.display(),
                values.len(),
                r.bench,
                r.n
            ));
        }
    }
}

/// Parses the text of a `records.jsonl` (one JSON object per line). `host` stays `None`.
pub fn parse_records(text: &str) -> Results {
    let mut res = Results::default();
    // A `samples` record waiting for the `result` it precedes: (line, bench, values).
    let mut pending: Option<(usize, String, Vec<u64>)> = None;
    let mut position = 0;
    for (i, line) in text.lines().enumerate() {
        let no = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if !t.starts_with('{') {
            res.warnings
                .push(format!("line {no}: not a JSON record (skipped)"));
            continue;
        }
        let obj = match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                res.warnings
                    .push(format!("line {no}: not a JSON object (skipped)"));
                continue;
            }
            Err(e) => {
                res.warnings
                    .push(format!("line {no}: invalid JSON (skipped): {e}"));
                continue;
            }
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("context") => {
                if res.context.is_none() {
                    res.context = Some(obj);
                } else {
                    res.warnings.push(format!(
                        "line {no}: a second context record (a reboot?); the first one is used"
                    ));
                }
            }
            Some("samples") => {
                if let Some((at, ..)) = pending.take() {
                    res.warnings.push(format!(
                        "line {at}: a samples record not followed by its result (dropped)"
                    ));
                }
                match parse_samples(&obj) {
                    Ok((bench, values)) => pending = Some((no, bench, values)),
                    Err(why) => res.warnings.push(format!("line {no}: {why} (dropped)")),
                }
            }
            Some("result") => match parse_result(&obj, &mut res.warnings, no) {
                Ok(mut r) => {
                    res.positions.push(position);
                    position += 1;
                    if let Some((at, bench, values)) = pending.take() {
                        let raw_bench = obj.get("bench").and_then(Value::as_str);
                        if raw_bench == Some(bench.as_str()) && values.len() as u64 == r.n {
                            r.samples = Some(values);
                        } else {
                            res.warnings.push(format!(
                                "line {at}: samples of {bench} ({} values) do not belong to \
                                 the result on line {no} (dropped)",
                                values.len()
                            ));
                        }
                    }
                    res.results.push(r)
                }
                Err(why) => {
                    position += 1;
                    res.warnings.push(why)
                }
            },
            Some("error") => {
                let msg = match obj.get("message") {
                    Some(Value::String(m)) => m.clone(),
                    _ => format!(
                        "(error record without a message) {}",
                        Value::Object(obj.clone())
                    ),
                };
                res.errors
                    .push(match obj.get("bench").and_then(Value::as_str) {
                        Some(b) => format!("{b}: {msg}"),
                        None => msg,
                    });
            }
            Some("skip") => res.skips.push(Skip {
                bench: obj.get("bench").map(value_text).unwrap_or_default(),
                reason: obj.get("reason").map(value_text).unwrap_or_default(),
            }),
            Some("check") => res.checks.push(Check {
                name: obj.get("name").map(value_text).unwrap_or_default(),
                pass: obj.get("pass") == Some(&Value::Bool(true)),
                detail: obj.get("detail").map(value_text).unwrap_or_default(),
            }),
            Some("end") => {
                res.complete = true;
                res.end_status = Some(match obj.get("status") {
                    Some(v) => value_text(v),
                    None => "(missing status)".into(),
                });
            }
            Some(_) => {}
            None => res.warnings.push(format!(
                "line {no}: record without a string \"type\" (skipped)"
            )),
        }
    }
    res
}

/// A `samples` record's bench and values (every value a non-negative integer).
pub fn parse_samples(obj: &Object) -> Result<(String, Vec<u64>), String> {
    let bench = obj
        .get("bench")
        .and_then(Value::as_str)
        .ok_or("a samples record without a bench")?;
    let values = obj
        .get("values")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("samples of {bench} without a values array"))?
        .iter()
        .map(as_count)
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(|| format!("samples of {bench}: a value is not a count"))?;
    Ok((bench.to_string(), values))
}

fn as_count(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        let f = v.as_f64()?;
        (f >= 0.0 && f.fract() == 0.0 && f < 1.8e19).then_some(f as u64)
    })
}

/// Results written before the fault results were named by what they measure
/// (`pf_kernel_write`, `pf_user_read_zero_trap`, …) read as today's (`pf_kernel` / `pf_user`
/// with `access`, `variant` and `part` params), and shootdown results of the protocols'
/// old names (`ipi`, `ipi_invpcid`) as `sync` and `sync_invpcid`, so old results folders
/// compare with new ones. Any other result is returned as is.
pub fn renamed(bench: String, mut params: Params) -> (String, Params) {
    // Shootdown protocols before they were experiments: `ipi` is today's `sync`.
    if bench.starts_with("shootdown") {
        let legacy = match params.get("protocol").and_then(Value::as_str) {
            Some("ipi") => Some("sync"),
            Some("ipi_invpcid") => Some("sync_invpcid"),
            _ => None,
        };
        if let Some(now) = legacy {
            params.insert("protocol".into(), Value::String(now.into()));
        }
        return (bench, params);
    }
    let Some((space, what)) = bench
        .strip_prefix("pf_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(s, w)| (s.to_string(), w.to_string()))
    else {
        return (bench, params);
    };
    if space != "kernel" && space != "user" {
        return (bench, params);
    }
    let (access, variant, part) = match what.as_str() {
        "write" => ("write", "demand_zero", "total"),
        "handler" => ("write", "demand_zero", "handler"),
        "trap" => ("write", "demand_zero", "trap"),
        "read_zero" => ("read", "zero_page", "total"),
        "read_zero_handler" => ("read", "zero_page", "handler"),
        "read_zero_trap" => ("read", "zero_page", "trap"),
        _ => return (bench, params),
    };
    for (k, v) in [("access", access), ("variant", variant), ("part", part)] {
        params.insert(k.into(), Value::String(v.into()));
    }
    (format!("pf_{space}"), params)
}

/// One `result` record; `Err` (the warning) when a required field is missing or mistyped.
fn parse_result(
    obj: &Object,
    warnings: &mut Vec<String>,
    no: usize,
) -> Result<BenchResult, String> {
    let bench = match obj.get("bench") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(format!(
                "line {no}: result without a \"bench\" name (skipped)"
            ));
        }
    };
    let skip = |what: String| format!("line {no}: result \"{bench}\" skipped: {what}");
    let unit = match obj.get("unit") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(skip("\"unit\" is not a string".into())),
        None => return Err(skip("no \"unit\"".into())),
    };
    let kind = match obj.get("kind") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            let guess = if KNOWN_FLOORS.contains(&bench.as_str()) {
                "floor"
            } else {
                "workload"
            };
            warnings.push(format!(
                "line {no}: result \"{bench}\" has no \"kind\"; taken as \"{guess}\""
            ));
            guess.into()
        }
    };
    let params = match obj.get("params") {
        Some(Value::Object(p)) => p.clone(),
        None | Some(Value::Null) => Params::new(),
        Some(_) => return Err(skip("\"params\" is not an object".into())),
    };
    let (bench, params) = renamed(bench.clone(), params);
    let count = |key: &str| -> Result<u64, String> {
        match obj.get(key) {
            None => Err(skip(format!("no \"{key}\""))),
            Some(v) => as_count(v).ok_or_else(|| skip(format!("\"{key}\" is not a count: {v}"))),
        }
    };
    let n = count("n")?;
    let warmup = count("warmup")?;
    let mut r = BenchResult {
        bench: bench.clone(),
        kind,
        params,
        unit,
        n,
        warmup,
        min: 0.0,
        p50: 0.0,
        p90: 0.0,
        p99: 0.0,
        p999: 0.0,
        max: 0.0,
        mean: 0.0,
        stddev: 0.0,
        p5: obj.get("p5").and_then(Value::as_f64),
        p95: obj.get("p95").and_then(Value::as_f64),
        min_ns: None,
        p50_ns: None,
        p90_ns: None,
        p99_ns: None,
        p999_ns: None,
        max_ns: None,
        mean_ns: None,
        stddev_ns: None,
        hist: Vec::new(),
        samples: None,
    };
    for f in STAT_FIELDS {
        let v = match obj.get(f) {
            None => return Err(skip(format!("no \"{f}\""))),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| skip(format!("\"{f}\" is not a number: {v}")))?,
        };
        if let Some(slot) = r.stat_mut(f) {
            *slot = v;
        }
    }
    for f in NS_FIELDS {
        let v = match obj.get(f) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(x) => Some(x),
                None => {
                    warnings.push(format!(
                        "line {no}: result \"{bench}\": \"{f}\" is not a number (dropped)"
                    ));
                    None
                }
            },
        };
        if let Some(slot) = r.ns_mut(f) {
            *slot = v;
        }
    }
    match obj.get("hist") {
        None | Some(Value::Null) => {}
        Some(h) => match parse_hist(h) {
            Some(h) => r.hist = h,
            None => warnings.push(format!(
                "line {no}: result \"{bench}\": \"hist\" is not [[lower_bound, count], ...] (dropped)"
            )),
        },
    }
    Ok(r)
}

fn parse_hist(v: &Value) -> Option<Vec<(u64, u64)>> {
    v.as_array()?
        .iter()
        .map(|b| match b.as_array()?.as_slice() {
            [lb, c] => Some((as_count(lb)?, as_count(c)?)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_fault_result_names_read_as_today_s() {
        let r = parse_records(concat!(
            r#"{"type":"result","bench":"pf_user_read_zero_trap","kind":"workload","params":{"mode":"user","page":4096},"unit":"cycles","n":1,"warmup":0,"min":1,"p50":1,"p90":1,"p99":1,"p999":1,"max":1,"mean":1,"stddev":0}"#,
            "\n",
            r#"{"type":"result","bench":"pf_throughput","kind":"workload","params":{"cpus":1},"unit":"faults_per_s","n":1,"warmup":0,"min":1,"p50":1,"p90":1,"p99":1,"p999":1,"max":1,"mean":1,"stddev":0}"#,
        ));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let a = &r.results[0];
        assert_eq!(a.bench, "pf_user");
        assert_eq!(a.param_text("access").as_deref(), Some("read"));
        assert_eq!(a.param_text("variant").as_deref(), Some("zero_page"));
        assert_eq!(a.param_text("part").as_deref(), Some("trap"));
        assert_eq!(a.param_text("page").as_deref(), Some("4096"));
        assert_eq!(r.results[1].bench, "pf_throughput", "not a renamed result");
        let (b, p) = renamed("pf_kernel_write".into(), Params::new());
        assert_eq!(b, "pf_kernel");
        assert_eq!(p.get("part").and_then(Value::as_str), Some("total"));
        let (b, _) = renamed("pf_kernel_bogus".into(), Params::new());
        assert_eq!(b, "pf_kernel_bogus");
        let mut old = Params::new();
        old.insert("protocol".into(), Value::String("ipi".into()));
        let (b, p) = renamed("shootdown".into(), old);
        assert_eq!(b, "shootdown");
        assert_eq!(p.get("protocol").and_then(Value::as_str), Some("sync"));
    }

    const GOOD: &str = r#"{"type":"result","bench":"shootdown","kind":"workload","params":{"protocol":"sync","delivery":"unicast","space":"kernel","targets":3,"pages":1},"unit":"cycles","n":1000,"warmup":100,"min":1200,"p50":1500,"p90":1700,"p99":2500,"p999":4000,"max":9000,"mean":1550.3,"stddev":210.7,"min_ns":480.0,"p50_ns":600.0,"p90_ns":680.0,"p99_ns":1000.0,"p999_ns":1600.0,"max_ns":3600.0,"mean_ns":620.1,"stddev_ns":84.3,"hist":[[1024,10],[2048,980],[4096,9],[8192,1]]}"#;

    #[test]
    fn parses_a_good_result() {
        let r = parse_records(GOOD);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(!r.complete);
        let b = &r.results[0];
        assert_eq!(b.bench, "shootdown");
        assert_eq!(b.kind, "workload");
        assert_eq!(b.unit, "cycles");
        assert_eq!((b.n, b.warmup), (1000, 100));
        assert_eq!(
            (b.min, b.p50, b.p999, b.max),
            (1200.0, 1500.0, 4000.0, 9000.0)
        );
        assert_eq!(b.mean, 1550.3);
        assert_eq!(b.p50_ns, Some(600.0));
        assert_eq!(b.stddev_ns, Some(84.3));
        assert_eq!(b.hist, vec![(1024, 10), (2048, 980), (4096, 9), (8192, 1)]);
        assert_eq!(
            params_label(&b.params),
            "protocol=sync delivery=unicast space=kernel targets=3 pages=1"
        );
        assert_eq!(b.param_f64("targets"), Some(3.0));
        assert_eq!(b.param_text("space").as_deref(), Some("kernel"));
        assert!(b.has_ns());
    }

    #[test]
    fn context_error_end() {
        let text = "{\"type\":\"context\",\"git_rev\":\"abc\",\"cpu_model\":\"X\",\"tsc_hz\":2000000000}\n\
                    {\"type\":\"cpu\",\"id\":0}\n\
                    {\"type\":\"error\",\"message\":\"boom\"}\n\
                    {\"type\":\"error\"}\n\
                    {\"type\":\"error\",\"kind\":\"bench\",\"bench\":\"shootdown\",\"message\":\"no ack\"}\n\
                    {\"type\":\"skip\",\"bench\":\"ipi_roundtrip\",\"reason\":\"needs 2 CPUs online\"}\n\
                    {\"type\":\"check\",\"name\":\"waits\",\"pass\":false,\"detail\":\"0 of 3\"}\n\
                    {\"type\":\"context\",\"git_rev\":\"other\"}\n\
                    {\"type\":\"end\",\"status\":\"fail\"}\n";
        let r = parse_records(text);
        assert_eq!(r.context_text("git_rev").as_deref(), Some("abc"));
        assert_eq!(r.context_text("tsc_hz").as_deref(), Some("2000000000"));
        assert_eq!(r.errors.len(), 3);
        assert_eq!(r.errors[0], "boom");
        assert!(r.errors[1].contains("without a message"));
        assert_eq!(r.errors[2], "shootdown: no ack");
        assert_eq!(r.skips[0].bench, "ipi_roundtrip");
        assert_eq!(r.skips[0].reason, "needs 2 CPUs online");
        assert_eq!(r.checks[0].name, "waits");
        assert!(!r.checks[0].pass);
        assert!(r.complete);
        assert_eq!(r.end_status.as_deref(), Some("fail"));
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("line 8"));
    }

    #[test]
    fn malformed_records_are_skipped_with_warnings() {
        let mut lines = vec![
            "not json at all".to_string(),
            "{broken".into(),
            "[1,2]".into(),
            "{\"no_type\":1}".into(),
            "{\"type\":\"result\"}".into(),
            GOOD.replace("\"p99\":2500,", ""),
            GOOD.replace("\"n\":1000", "\"n\":\"many\""),
            GOOD.replace("\"unit\":\"cycles\",", ""),
            GOOD.replace("\"params\":{", "\"params\":[1],\"x\":{"),
            GOOD.replace("\"p50\":1500", "\"p50\":null"),
        ];
        // Kept with a warning: a bad ns figure, a bad hist, a missing kind.
        lines.push(GOOD.replace("\"p50_ns\":600.0", "\"p50_ns\":\"fast\""));
        lines.push(GOOD.replace("[[1024,10]", "[[1024]"));
        lines.push(GOOD.replace("\"kind\":\"workload\",", ""));
        // Kept silently: params missing, n given as 1000.0.
        lines.push(GOOD.replace(
            "\"params\":{\"protocol\":\"sync\",\"delivery\":\"unicast\",\"space\":\"kernel\",\"targets\":3,\"pages\":1},",
            "",
        ));
        lines.push(GOOD.replace("\"n\":1000", "\"n\":1000.0"));
        let r = parse_records(&lines.join("\n"));
        assert_eq!(r.results.len(), 5, "{:?}", r.warnings);
        assert_eq!(r.warnings.len(), 13, "{:#?}", r.warnings);
        let all = r.warnings.join("\n");
        for needle in [
            "line 1: not a JSON record",
            "line 2: invalid JSON",
            "line 3: not a JSON record",
            "line 4: record without a string \"type\"",
            "line 5: result without a \"bench\"",
            "line 6: result \"shootdown\" skipped: no \"p99\"",
            "line 7: result \"shootdown\" skipped: \"n\" is not a count",
            "line 8: result \"shootdown\" skipped: no \"unit\"",
            "line 9: result \"shootdown\" skipped: \"params\" is not an object",
            "line 10: result \"shootdown\" skipped: \"p50\" is not a number",
            "line 11: result \"shootdown\": \"p50_ns\" is not a number (dropped)",
            "line 12: result \"shootdown\": \"hist\"",
            "line 13: result \"shootdown\" has no \"kind\"; taken as \"workload\"",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in\n{all}");
        }
        assert_eq!(r.results[0].p50_ns, None);
        assert_eq!(r.results[0].p90_ns, Some(680.0));
        assert!(r.results[1].hist.is_empty());
        assert!(r.results[3].params.is_empty());
        assert_eq!(r.results[4].n, 1000);
    }

    #[test]
    fn missing_kind_of_a_known_floor_is_floor() {
        let r = parse_records(
            r#"{"type":"result","bench":"invlpg","unit":"cycles","n":1,"warmup":0,"min":1,"p50":1,"p90":1,"p99":1,"p999":1,"max":1,"mean":1,"stddev":0}"#,
        );
        assert_eq!(r.results[0].kind, "floor");
        assert!(r.results[0].is_floor());
    }

    #[test]
    fn key_ignores_param_order_and_number_vs_string() {
        let a = parse_records(GOOD).results.remove(0);
        let mut b = a.clone();
        b.params = serde_json::from_str(
            r#"{"pages":"1","targets":3,"space":"kernel","delivery":"unicast","protocol":"sync"}"#,
        )
        .unwrap();
        assert_eq!(a.key(), b.key());
        b.params.insert("targets".into(), 4.into());
        assert_ne!(a.key(), b.key());
        assert_eq!(
            b.label(),
            "shootdown pages=1 targets=4 space=kernel delivery=unicast protocol=sync"
        );
    }

    #[test]
    fn value_text_forms() {
        assert_eq!(value_text(&Value::from("a b")), "a b");
        assert_eq!(value_text(&Value::from(3)), "3");
        assert_eq!(value_text(&Value::from(2.5)), "2.5");
        assert_eq!(value_text(&Value::Bool(true)), "true");
        assert_eq!(value_text(&serde_json::json!([1, 2])), "[1,2]");
    }
}
