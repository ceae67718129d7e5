//! Our kernel against the Linux baseline (`bench/linux`, `just bench-linux`) on the same VM:
//! for each metric both measure, the two medians and p99s and the ratio Linux / ours. A
//! results folder is Linux's when its `context` record says `"os":"linux"`.
//!
//! Metrics, and what is paired (the workloads are the same, the mechanisms are each kernel's):
//! - system call round trip: our `syscall_roundtrip` (null call) / Linux `getppid`;
//! - IPI round trip: our `ipi_roundtrip` (fixed IPI, ack in memory) / Linux `membarrier`;
//! - demand-zero write fault and zero-page read fault from user mode: `pf_user_write`,
//!   `pf_user_read_zero` on both;
//! - fault throughput at N CPUs: `pf_throughput cpus=N` (ours in the kernel arenas);
//! - shootdown of P pages with one reading target: ours `protocol=ipi delivery=unicast
//!   space=user targets=1 pages=P`, Linux `mprotect` (write permission taken away) and
//!   `madvise(MADV_DONTNEED)` with one reader, each a row.

use std::fmt::Write;
use std::path::Path;

use crate::Error;
use crate::fmt::short;
use crate::model::{BenchResult, Results, load};

/// Whether the folder holds a Linux baseline run.
pub fn is_linux(r: &Results) -> bool {
    r.context_text("os").as_deref() == Some("linux")
}

fn find<'a>(r: &'a Results, bench: &str, want: &[(&str, &str)]) -> Option<&'a BenchResult> {
    r.results.iter().find(|x| {
        x.bench == bench
            && want
                .iter()
                .all(|(k, v)| x.param_text(k).as_deref() == Some(*v))
    })
}

/// The paired rows: (metric, ours, Linux's).
pub fn pairs<'a>(
    ours: &'a Results,
    linux: &'a Results,
) -> Vec<(String, &'a BenchResult, &'a BenchResult)> {
    let mut v = Vec::new();
    let mut add = |label: String, a: Option<&'a BenchResult>, b: Option<&'a BenchResult>| {
        if let (Some(a), Some(b)) = (a, b) {
            v.push((label, a, b));
        }
    };
    add(
        "system call round trip (null call / getppid)".into(),
        find(ours, "syscall_roundtrip", &[]),
        find(linux, "syscall_roundtrip", &[]),
    );
    add(
        "IPI round trip (fixed IPI / membarrier)".into(),
        find(ours, "ipi_roundtrip", &[]),
        find(linux, "ipi_roundtrip", &[]),
    );
    for b in ["pf_user_write", "pf_user_read_zero"] {
        add(
            format!("{b} (4 KiB, from user mode)"),
            find(ours, b, &[]),
            find(linux, b, &[]),
        );
    }
    for x in linux.results.iter().filter(|x| x.bench == "pf_throughput") {
        if let Some(n) = x.param_text("cpus") {
            add(
                format!("pf_throughput, {n} CPUs"),
                find(ours, "pf_throughput", &[("cpus", &n)]),
                Some(x),
            );
        }
    }
    for x in linux
        .results
        .iter()
        .filter(|x| x.bench == "shootdown" && x.param_text("targets").as_deref() == Some("1"))
    {
        let (Some(pages), Some(proto)) = (x.param_text("pages"), x.param_text("protocol")) else {
            continue;
        };
        let ours_row = find(
            ours,
            "shootdown",
            &[
                ("protocol", "ipi"),
                ("delivery", "unicast"),
                ("space", "user"),
                ("targets", "1"),
                ("pages", &pages),
            ],
        );
        add(
            format!("shootdown, 1 target, {pages} pages (Linux: {proto})"),
            ours_row,
            Some(x),
        );
    }
    v
}

/// The side-by-side table, Markdown; the charts with both kernels on each are written into
/// `LINUX_DIR/plots/with_ours/` (see [`joint_plots`]).
pub fn compare_with_linux(ours_dir: &Path, linux_dir: &Path) -> Result<String, Error> {
    let ours = load(ours_dir)?;
    let linux = load(linux_dir)?;
    let mut t = table(&ours, &linux, ours_dir, linux_dir);
    let dir = linux_dir.join("plots").join("with_ours");
    let plots = joint_plots(&ours, &linux);
    if !plots.is_empty() {
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        for (name, svg) in &plots {
            crate::write_file(&dir.join(name), svg)?;
        }
        let _ = writeln!(
            t,
            "\nCharts with both kernels: {}",
            plots
                .iter()
                .map(|(n, _)| dir.join(n).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(t)
}

/// The report's charts (shootdown versus targets and pages, fault latency distributions,
/// fault throughput) drawn with our results and Linux's on the same axes: Linux's results get
/// `os=linux` in their params, so each is a series of its own.
pub fn joint_plots(ours: &Results, linux: &Results) -> Vec<(String, String)> {
    let mut all: Vec<BenchResult> = ours.results.clone();
    for r in &linux.results {
        let mut r = r.clone();
        r.params.insert("os".into(), "linux".into());
        all.push(r);
    }
    crate::plots::plots(&all)
}

pub fn table(ours: &Results, linux: &Results, ours_dir: &Path, linux_dir: &Path) -> String {
    let mut s = format!(
        "# Our kernel and Linux on the same VM\n\nOURS: {}  \nLINUX: {} ({})\n\n",
        ours_dir.display(),
        linux_dir.display(),
        linux
            .context_text("linux_release")
            .unwrap_or_else(|| "?".into())
    );
    let (ua, ub) = (
        ours.results.first().map(|r| r.unit.as_str()).unwrap_or(""),
        linux.results.first().map(|r| r.unit.as_str()).unwrap_or(""),
    );
    let in_cycles = ua == "cycles" && ub == "cycles";
    if in_cycles && ours.context_text("tsc_hz") != linux.context_text("tsc_hz") {
        let _ = writeln!(
            s,
            "TSC rates differ (ours {} Hz, Linux {} Hz); the ns columns are comparable.\n",
            ours.context_text("tsc_hz").unwrap_or_default(),
            linux.context_text("tsc_hz").unwrap_or_default()
        );
    }
    s.push_str("| metric | unit | ours p50 | Linux p50 | Linux/ours | ours p99 | Linux p99 | ours p50 (ns) | Linux p50 (ns) |\n");
    s.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
    for (label, a, b) in pairs(ours, linux) {
        let unit = if a.unit == b.unit {
            a.unit.clone()
        } else {
            format!("{} / {}", a.unit, b.unit)
        };
        let ratio = if a.unit == b.unit && a.p50 > 0.0 {
            format!("{:.2}", b.p50 / a.p50)
        } else {
            "–".into()
        };
        let ns = |x: Option<f64>| x.map(short).unwrap_or_else(|| "–".into());
        let _ = writeln!(
            s,
            "| {label} | {unit} | {} | {} | {ratio} | {} | {} | {} | {} |",
            short(a.p50),
            short(b.p50),
            short(a.p99),
            short(b.p99),
            ns(a.p50_ns),
            ns(b.p50_ns)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_records;

    fn res(bench: &str, params: &str, p50: f64) -> String {
        format!(
            r#"{{"type":"result","bench":"{bench}","kind":"workload","params":{params},"unit":"cycles","n":1,"warmup":0,"min":1,"p50":{p50},"p90":1,"p99":{p50},"p999":1,"max":1,"mean":1,"stddev":0,"p50_ns":{},"hist":[]}}"#,
            p50 / 2.0
        )
    }

    #[test]
    fn shared_metrics_are_paired() {
        let ours = parse_records(
            &[
                r#"{"type":"context","os":"ours","tsc_hz":2000000000}"#.to_string(),
                res("syscall_roundtrip", r#"{"call":"null"}"#, 300.0),
                res("pf_user_write", r#"{"mode":"user","page":4096}"#, 7000.0),
                res("shootdown", r#"{"protocol":"ipi","delivery":"unicast","space":"user","targets":1,"pages":1,"flush":"pages"}"#, 5000.0),
                res("shootdown", r#"{"protocol":"ipi","delivery":"unicast","space":"kernel","targets":1,"pages":1,"flush":"pages"}"#, 4000.0),
            ]
            .join("\n"),
        );
        let linux = parse_records(
            &[
                r#"{"type":"context","os":"linux","linux_release":"6.1","tsc_hz":2000000000}"#.to_string(),
                res("syscall_roundtrip", r#"{"call":"getppid"}"#, 1500.0),
                res("pf_user_write", r#"{"mode":"user","page":4096}"#, 28000.0),
                res("shootdown", r#"{"protocol":"linux_mprotect","delivery":"linux","space":"user","targets":1,"pages":1}"#, 50000.0),
                res("shootdown", r#"{"protocol":"linux_mprotect","delivery":"linux","space":"user","targets":0,"pages":1}"#, 30000.0),
            ]
            .join("\n"),
        );
        assert!(is_linux(&linux) && !is_linux(&ours));
        let p = pairs(&ours, &linux);
        let labels: Vec<&str> = p.iter().map(|(l, _, _)| l.as_str()).collect();
        assert_eq!(labels.len(), 3, "{labels:?}");
        let sd = p
            .iter()
            .find(|(l, _, _)| l.starts_with("shootdown"))
            .unwrap();
        assert_eq!(sd.1.p50, 5000.0, "ours: the user-space row");
        let t = table(&ours, &linux, Path::new("a"), Path::new("b"));
        assert!(
            t.contains(
                "| system call round trip (null call / getppid) | cycles | 300 | 1500 | 5.00 |"
            ),
            "{t}"
        );
        assert!(t.contains("| 4.00 |"), "pf ratio: {t}");
        // One chart holds both kernels' shootdowns as separate series.
        let plots = joint_plots(&ours, &linux);
        let pages = plots
            .iter()
            .find(|(n, _)| n == "shootdown_vs_pages.svg")
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        assert!(
            pages.contains("os=linux") && pages.contains("protocol=ipi"),
            "{pages}"
        );
    }
}
