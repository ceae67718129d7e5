//! One CSV file per bench: `csv/<bench>.csv`.

use crate::fmt::{csv_field, num};
use crate::model::{BenchResult, NS_FIELDS, STAT_FIELDS, value_text};

/// The CSV of one bench's results (those of `results` whose `bench` matches), in file order.
///
/// Columns: `params.<key>` for the union of the param keys (first-seen order), then `unit`, `n`,
/// `warmup`, `min`, `p50`, `p90`, `p99`, `p999`, `max`, `mean`, `stddev`, then `p5` and `p95`
/// when any of these results has them, then the `_ns` columns (`min_ns` ... `stddev_ns`) when
/// any has one. A param a result lacks, or an ns
/// figure it lacks, is an empty cell. Fields are quoted per RFC 4180; lines end in `\n`.
pub fn bench_csv(results: &[BenchResult], bench: &str) -> String {
    let rows: Vec<&BenchResult> = results.iter().filter(|r| r.bench == bench).collect();
    let mut keys: Vec<&str> = Vec::new();
    for r in &rows {
        for k in r.params.keys() {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
    }
    let with_ns = rows.iter().any(|r| r.has_ns());
    let with_tails = rows.iter().any(|r| r.p5.is_some() || r.p95.is_some());
    let mut header: Vec<String> = keys.iter().map(|k| format!("params.{k}")).collect();
    header.extend(["unit", "n", "warmup"].map(String::from));
    header.extend(STAT_FIELDS.map(String::from));
    if with_tails {
        header.extend(["p5", "p95"].map(String::from));
    }
    if with_ns {
        header.extend(NS_FIELDS.map(String::from));
    }
    let mut out = line(&header);
    for r in rows {
        let mut cells: Vec<String> = keys
            .iter()
            .map(|k| r.params.get(*k).map(value_text).unwrap_or_default())
            .collect();
        cells.push(r.unit.clone());
        cells.push(r.n.to_string());
        cells.push(r.warmup.to_string());
        for f in STAT_FIELDS {
            cells.push(r.stat(f).map(num).unwrap_or_default());
        }
        if with_tails {
            cells.push(r.p5.map(num).unwrap_or_default());
            cells.push(r.p95.map(num).unwrap_or_default());
        }
        if with_ns {
            for f in NS_FIELDS {
                cells.push(r.stat(f).map(num).unwrap_or_default());
            }
        }
        out.push_str(&line(&cells));
    }
    out
}

/// One CSV line: the cells quoted per RFC 4180, joined, `\n`-terminated.
pub(crate) fn line(cells: &[String]) -> String {
    let mut s = cells
        .iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",");
    s.push('\n');
    s
}

/// A bench name made safe as a file name: anything but ASCII letters, digits, `_` and `-`
/// becomes `_`.
pub fn file_stem(bench: &str) -> String {
    let s: String = bench
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

/// Every bench's CSV as `(file name, text)`, benches in first-seen order. File names are
/// `<bench>.csv` ([`file_stem`]), with `-2`, `-3`, ... appended should two names collide.
pub fn csv_files(results: &[BenchResult]) -> Vec<(String, String)> {
    let mut benches: Vec<&str> = Vec::new();
    for r in results {
        if !benches.contains(&r.bench.as_str()) {
            benches.push(&r.bench);
        }
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for b in benches {
        let stem = file_stem(b);
        let mut name = format!("{stem}.csv");
        let mut i = 2;
        while out.iter().any(|(n, _)| *n == name) {
            name = format!("{stem}-{i}.csv");
            i += 1;
        }
        out.push((name, bench_csv(results, b)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_records;

    fn rec(bench: &str, params: &str, unit: &str, p50: u32, ns: bool) -> String {
        let ns = if ns {
            format!(",\"p50_ns\":{}.5,\"min_ns\":1", p50 / 2)
        } else {
            String::new()
        };
        format!(
            "{{\"type\":\"result\",\"bench\":\"{bench}\",\"kind\":\"workload\",\"params\":{params},\"unit\":\"{unit}\",\"n\":10,\"warmup\":2,\"min\":1,\"p50\":{p50},\"p90\":3,\"p99\":4,\"p999\":5,\"max\":6,\"mean\":2.25,\"stddev\":0.5{ns}}}"
        )
    }

    #[test]
    fn columns_union_and_ns() {
        let text = [
            rec("a", r#"{"targets":1,"mode":"x"}"#, "cycles", 100, true),
            rec("b", r#"{}"#, "cycles", 7, false),
            rec("a", r#"{"pages":"full","targets":2}"#, "cycles", 200, false),
        ]
        .join("\n");
        let r = parse_records(&text);
        let csv = bench_csv(&r.results, "a");
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "params.targets,params.mode,params.pages,unit,n,warmup,min,p50,p90,p99,p999,max,mean,stddev,\
             min_ns,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,mean_ns,stddev_ns"
        );
        assert_eq!(
            lines[1],
            "1,x,,cycles,10,2,1,100,3,4,5,6,2.25,0.5,1,50.5,,,,,,"
        );
        assert_eq!(
            lines[2],
            "2,,full,cycles,10,2,1,200,3,4,5,6,2.25,0.5,,,,,,,,"
        );
        assert_eq!(lines.len(), 3);
        let b = bench_csv(&r.results, "b");
        assert_eq!(
            b,
            "unit,n,warmup,min,p50,p90,p99,p999,max,mean,stddev\ncycles,10,2,1,7,3,4,5,6,2.25,0.5\n"
        );
    }

    #[test]
    fn quoting_of_param_values() {
        let text = rec(
            "q",
            r#"{"name":"a,b","say":"he said \"hi\"","list":[1,2],"flag":true}"#,
            "faults_per_s",
            5,
            false,
        );
        let r = parse_records(&text);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let csv = bench_csv(&r.results, "q");
        let row = csv.lines().nth(1).unwrap();
        assert!(
            row.starts_with("\"a,b\",\"he said \"\"hi\"\"\",\"[1,2]\",true,faults_per_s,"),
            "{row}"
        );
    }

    #[test]
    fn file_names() {
        assert_eq!(file_stem("pf_kernel_write"), "pf_kernel_write");
        assert_eq!(file_stem("../etc/passwd"), "___etc_passwd");
        let text = [
            rec("a/b", "{}", "cycles", 1, false),
            rec("a b", "{}", "cycles", 1, false),
        ]
        .join("\n");
        let names: Vec<String> = csv_files(&parse_records(&text).results)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["a_b.csv", "a_b-2.csv"]);
    }
}
