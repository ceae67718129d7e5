//! Our kernel against the Linux baseline (`bench/linux`, `just bench-linux`) on the same VM:
//! for each metric both measure, the two medians and p99s and the ratio Linux / ours. A
//! results folder is Linux's when its `context` record says `"os":"linux"`.
//!
//! Metrics, and what is paired (the workloads are the same, the mechanisms are each kernel's):
//! - system call round trip: our `syscall_roundtrip` (null call) / Linux `getppid`;
//! - IPI round trip: our `ipi_roundtrip` (fixed IPI, ack in memory) / Linux `membarrier`;
//! - demand-zero write fault and zero-page read fault from user mode: `pf_user` with
//!   `access=write` / `access=read` (`part=total`) on both;
//! - fault throughput at N CPUs: `pf_throughput cpus=N` (ours in the kernel arenas);
//! - shootdown of P pages with one reading target: ours `protocol=sync delivery=unicast
//!   space=user targets=1 pages=P`, Linux `mprotect` (write permission taken away) and
//!   `madvise(MADV_DONTNEED)` with one reader, each a row.
//!
//! The table states what differs beside the ratios (its last column, explained under it):
//! Linux's mitigations (host.json `mitigations`), our prepared fault path (page tables built
//! beforehand, per-CPU frame caches), Linux's shootdown being a whole system call that also
//! zaps or rewrites the pages, cycles being TSC ticks. For shootdowns it subtracts each side's
//! no-target control (`targets=0`, no IPI, otherwise the same params) where one exists:
//! N − 0 beside the raw figure, and the ratio of those.

use std::fmt::Write;
use std::path::Path;

use crate::Error;
use crate::fmt::short;
use crate::goals::params_without;
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
    // Ours: the demand-zero fault with its page tables built beforehand, and the same with
    // them made in the fault (`pt_on_demand`, as Linux does); the zero page for reads.
    for (access, variant, label) in [
        ("write", "demand_zero", ""),
        (
            "write",
            "pt_on_demand",
            ", ours with page tables made in the fault",
        ),
        ("read", "zero_page", ""),
    ] {
        let want = [("access", access), ("part", "total")];
        let ours_row = ours.results.iter().find(|x| {
            x.bench == "pf_user"
                && want
                    .iter()
                    .all(|(k, v)| x.param_text(k).as_deref() == Some(*v))
                && match x.param_text("variant") {
                    Some(v) => v == variant,
                    // Results from before the variants: demand-zero writes, zero-page reads.
                    None => variant != "pt_on_demand",
                }
        });
        add(
            format!("pf_user access={access} (4 KiB, from user mode{label})"),
            ours_row,
            find(linux, "pf_user", &want),
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
                ("protocol", "sync"),
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
/// `LINUX_DIR/plots/with_ours/`, SVG and PDF (see [`joint_plots`]).
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
        for p in &plots {
            crate::write_file(&dir.join(&p.name), &p.svg())?;
            crate::write_bytes(&dir.join(p.pdf_name()), &p.pdf())?;
        }
        let _ = writeln!(
            t,
            "\nCharts with both kernels: {}",
            plots
                .iter()
                .map(|p| dir.join(&p.name).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(t)
}

/// The report's charts (shootdown versus targets and pages, fault latency distributions,
/// fault throughput) drawn with our results and Linux's on the same axes: Linux's results get
/// `os=linux` in their params, so each is a series of its own.
pub fn joint_plots(ours: &Results, linux: &Results) -> Vec<crate::plots::Plot> {
    let mut all: Vec<BenchResult> = ours.results.clone();
    for r in &linux.results {
        let mut r = r.clone();
        r.params.insert("os".into(), "linux".into());
        all.push(r);
    }
    crate::plots::plots(&all)
}

/// The no-target control of a shootdown result: `shootdown` with `targets=0` and otherwise the
/// same params (the delivery may differ: with no target nothing is delivered), in its unit;
/// the same delivery is preferred.
pub fn control<'a>(results: &'a Results, row: &BenchResult) -> Option<&'a BenchResult> {
    if row.bench != "shootdown" || row.param_f64("targets") == Some(0.0) {
        return None;
    }
    let family = params_without(&row.params, &["targets", "delivery"]);
    let candidates: Vec<&BenchResult> = results
        .results
        .iter()
        .filter(|x| {
            x.bench == "shootdown"
                && x.unit == row.unit
                && x.param_f64("targets") == Some(0.0)
                && params_without(&x.params, &["targets", "delivery"]) == family
        })
        .collect();
    candidates
        .iter()
        .find(|x| x.param_text("delivery") == row.param_text("delivery"))
        .or(candidates.first())
        .copied()
}

/// The differences a row carries (letters explained by [`differences_legend`]): M Linux's
/// mitigations (unless they were off), P our prepared fault path, S Linux's whole system call,
/// T cycles are TSC ticks.
fn differences(label: &str, a: &BenchResult, mitigations_off: bool) -> String {
    let mut d = Vec::new();
    if !mitigations_off {
        d.push("M");
    }
    if a.bench.starts_with("pf_") {
        // With its page tables made in the fault ours still takes frames from its cache.
        d.push(
            if a.param_text("variant").as_deref() == Some("pt_on_demand") {
                "P′"
            } else {
                "P"
            },
        );
    }
    if a.bench == "shootdown" || label.contains("membarrier") {
        d.push("S");
    }
    if a.unit == "cycles" {
        d.push("T");
    }
    d.join(", ")
}

/// What the letters of the last column mean.
fn differences_legend(mitigations: &str) -> String {
    let m = if mitigations == "off" {
        "- **M** does not apply: Linux ran with `mitigations=off` (host.json).\n".to_string()
    } else {
        format!(
            "- **M** mitigations: Linux runs with its speculative-execution mitigations \
             (`{mitigations}`, host.json `mitigations`), our kernel has none, so every Linux \
             entry and exit pays them (`just bench-linux --mitigations off` measures Linux \
             without them).\n"
        )
    };
    format!(
        "Differences (last column): the workloads are the same, the mechanisms each kernel's.\n\n\
         {m}\
         - **P** prepared fault path: our kernel builds the page tables beforehand and takes \
         frames from a per-CPU cache; a Linux fault also looks up and locks the VMA, allocates \
         page tables (every 512th page), and does the memcg, LRU and rmap work.\n\
         - **P′** as P, but our page tables are made in the fault as Linux's are (every 512th \
         fault allocates, zeroes and links one): the remaining difference is the VMA, the \
         per-CPU frame cache against Linux's allocator, and the memcg, LRU and rmap work.\n\
         - **S** whole system call: Linux's figure is one system call (`membarrier` for the IPI; \
         `madvise(MADV_DONTNEED)` or `mprotect` for a shootdown, which also zaps and frees the \
         pages or rewrites the PTEs); ours is the mechanism alone (for a shootdown the remap \
         and the IPIs). The control columns subtract each side's no-target control \
         (`targets=0`: the same call or remap with no IPI), so N − 0 is closer to the \
         cross-CPU part; \"no control\" where that side has none.\n\
         - **T** cycles are TSC ticks on both sides (the TSC rate, not the core clock).\n"
    )
}

/// The side-by-side comparison with its title and the two folders.
pub fn table(ours: &Results, linux: &Results, ours_dir: &Path, linux_dir: &Path) -> String {
    format!(
        "# Our kernel and Linux on the same VM\n\nOURS: {}  \nLINUX: {} ({})\n\n{}",
        ours_dir.display(),
        linux_dir.display(),
        linux
            .context_text("linux_release")
            .unwrap_or_else(|| "?".into()),
        body(ours, linux)
    )
}

/// The comparison without its title: the mitigations line, the notes on TSC rates and timer
/// fences, the table with its differences column, and the legend of that column.
pub fn body(ours: &Results, linux: &Results) -> String {
    let mut s = String::new();
    let mitigations = linux.host_text("mitigations");
    let _ = writeln!(
        s,
        "Linux mitigations: {}; ours: none.\n",
        match mitigations.as_deref() {
            Some(m) => format!("`{m}`"),
            None => "unknown (host.json has no `mitigations`)".into(),
        }
    );
    let mitigations_off = mitigations.as_deref() == Some("off");
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
    if let (Some(a), Some(b)) = (
        ours.context_text("tsc_fence"),
        linux.context_text("tsc_fence"),
    ) && a != b
    {
        let _ = writeln!(
            s,
            "The timers' fences differ: ours `{a}`, Linux `{b}` (each timed sample pays its \
             own).\n"
        );
    }
    s.push_str(
        "| metric | unit | ours p50 | Linux p50 | Linux/ours | ours − control | Linux − control \
         | Linux/ours less controls | ours p99 | Linux p99 | ours p50 (ns) | Linux p50 (ns) \
         | differences |\n",
    );
    s.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
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
        let net = |side: &Results, r: &BenchResult| control(side, r).map(|c| r.p50 - c.p50);
        let (na, nb) = (net(ours, a), net(linux, b));
        let net_text = |n: Option<f64>| match (a.bench.as_str(), n) {
            ("shootdown", Some(v)) => short(v),
            ("shootdown", None) => "no control".into(),
            _ => "–".into(),
        };
        let net_ratio = match (na, nb) {
            (Some(x), Some(y)) if a.unit == b.unit && x > 0.0 => format!("{:.2}", y / x),
            _ => "–".into(),
        };
        let ns = |x: Option<f64>| x.map(short).unwrap_or_else(|| "–".into());
        let _ = writeln!(
            s,
            "| {label} | {unit} | {} | {} | {ratio} | {} | {} | {net_ratio} | {} | {} | {} | {} \
             | {} |",
            short(a.p50),
            short(b.p50),
            net_text(na),
            net_text(nb),
            short(a.p99),
            short(b.p99),
            ns(a.p50_ns),
            ns(b.p50_ns),
            differences(&label, a, mitigations_off)
        );
    }
    s.push('\n');
    s.push_str(&differences_legend(
        mitigations.as_deref().unwrap_or("unknown"),
    ));
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
                res("pf_user", r#"{"mode":"user","page":4096,"access":"write","variant":"demand_zero","part":"total"}"#, 7000.0),
                res("shootdown", r#"{"protocol":"sync","delivery":"unicast","space":"user","targets":1,"pages":1,"flush":"pages"}"#, 5000.0),
                res("shootdown", r#"{"protocol":"sync","delivery":"unicast","space":"kernel","targets":1,"pages":1,"flush":"pages"}"#, 4000.0),
            ]
            .join("\n"),
        );
        let linux = parse_records(
            &[
                r#"{"type":"context","os":"linux","linux_release":"6.1","tsc_hz":2000000000}"#.to_string(),
                res("syscall_roundtrip", r#"{"call":"getppid"}"#, 1500.0),
                res("pf_user", r#"{"mode":"user","page":4096,"access":"write","variant":"demand_zero","part":"total"}"#, 28000.0),
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
            .find(|p| p.name == "shootdown_vs_pages.svg")
            .map(|p| p.svg())
            .unwrap_or_default();
        assert!(
            pages.contains("os=linux") && pages.contains("protocol=sync"),
            "{pages}"
        );
        // Our fault with its page tables made in the fault: its own row against the same
        // Linux fault, marked P′.
        let mut ours2 = ours.clone();
        let extra = parse_records(&res(
            "pf_user",
            r#"{"mode":"user","page":4096,"access":"write","variant":"pt_on_demand","part":"total"}"#,
            7100.0,
        ));
        ours2.results.extend(extra.results);
        let p = pairs(&ours2, &linux);
        let on_demand = p
            .iter()
            .find(|(l, _, _)| l.contains("page tables made in the fault"))
            .unwrap();
        assert_eq!((on_demand.1.p50, on_demand.2.p50), (7100.0, 28000.0));
        let t = table(&ours2, &linux, Path::new("a"), Path::new("b"));
        assert!(t.contains("P′") && t.contains("- **P′** as P"), "{t}");
    }

    #[test]
    fn differences_and_controls_are_stated_beside_the_ratios() {
        let ours = parse_records(
            &[
                r#"{"type":"context","os":"ours","tsc_hz":2000000000,"tsc_fence":"mfence"}"#.to_string(),
                res("syscall_roundtrip", r#"{"call":"null"}"#, 300.0),
                res("pf_user", r#"{"mode":"user","page":4096,"access":"write","variant":"demand_zero","part":"total"}"#, 7000.0),
                res("shootdown", r#"{"protocol":"sync","delivery":"unicast","space":"user","targets":1,"pages":1,"flush":"pages"}"#, 5000.0),
                res("shootdown", r#"{"protocol":"sync","delivery":"unicast","space":"user","targets":1,"pages":8,"flush":"pages"}"#, 6000.0),
                // Our control: the same remap with no target.
                res("shootdown", r#"{"protocol":"sync","delivery":"unicast","space":"user","targets":0,"pages":1,"flush":"pages"}"#, 1000.0),
            ]
            .join("\n"),
        );
        let mut linux = parse_records(
            &[
                r#"{"type":"context","os":"linux","linux_release":"6.1","tsc_hz":2000000000,"tsc_fence":"lfence"}"#.to_string(),
                res("syscall_roundtrip", r#"{"call":"getppid"}"#, 1500.0),
                res("pf_user", r#"{"mode":"user","page":4096,"access":"write","variant":"demand_zero","part":"total"}"#, 28000.0),
                res("shootdown", r#"{"protocol":"linux_mprotect","delivery":"linux","space":"user","targets":1,"pages":1}"#, 50000.0),
                res("shootdown", r#"{"protocol":"linux_mprotect","delivery":"linux","space":"user","targets":0,"pages":1}"#, 30000.0),
                res("shootdown", r#"{"protocol":"linux_mprotect","delivery":"linux","space":"user","targets":1,"pages":8}"#, 52000.0),
            ]
            .join("\n"),
        );
        linux.host = serde_json::from_str(r#"{"mitigations":"default"}"#).unwrap();
        let t = body(&ours, &linux);
        assert!(
            t.contains("Linux mitigations: `default`; ours: none."),
            "{t}"
        );
        assert!(
            t.contains("The timers' fences differ: ours `mfence`, Linux `lfence`"),
            "{t}"
        );
        // N − 0 on both sides and their ratio, beside the raw figures.
        let row = |start: &str| {
            t.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no {start} in {t}"))
                .to_string()
        };
        let sd1 = row("| shootdown, 1 target, 1 pages (Linux: linux_mprotect) |");
        assert!(
            sd1.starts_with(
                "| shootdown, 1 target, 1 pages (Linux: linux_mprotect) | cycles | 5000 | 50000 \
                 | 10.00 | 4000 | 20000 | 5.00 |"
            ) && sd1.ends_with("| M, S, T |"),
            "{sd1}"
        );
        // No control on either side at 8 pages.
        let sd8 = row("| shootdown, 1 target, 8 pages (Linux: linux_mprotect) |");
        assert!(
            sd8.contains("| 8.67 | no control | no control | – |"),
            "{sd8}"
        );
        let pf = row("| pf_user access=write (4 KiB, from user mode) |");
        assert!(
            pf.contains("| 4.00 | – | – | – |") && pf.ends_with("| M, P, T |"),
            "{pf}"
        );
        let sys = row("| system call round trip (null call / getppid) |");
        assert!(sys.ends_with("| M, T |"), "{sys}");
        for legend in [
            "- **M** mitigations: Linux runs with its speculative-execution mitigations (`default`",
            "- **P** prepared fault path: our kernel builds the page tables beforehand and takes \
             frames from a per-CPU cache",
            "- **S** whole system call",
            "zaps and frees the pages",
            "- **T** cycles are TSC ticks",
        ] {
            assert!(t.contains(legend), "{legend}: {t}");
        }
        // Linux without mitigations: M goes from the rows, the legend says so.
        linux.host = serde_json::from_str(r#"{"mitigations":"off"}"#).unwrap();
        let t = body(&ours, &linux);
        assert!(t.contains("Linux mitigations: `off`"), "{t}");
        assert!(t.contains("- **M** does not apply"), "{t}");
        assert!(!t.contains("| M, "), "{t}");
        // No host.json: unknown, and said.
        linux.host = None;
        assert!(body(&ours, &linux).contains("unknown (host.json has no `mitigations`)"));
    }
}
