//! End-to-end: hand-built results folders in the system temp dir, reports written and read
//! back, comparisons of single and repeated runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bench_report::{Error, aggregate_repeats, compare, find_boots, load, write_report};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty folder under the system temp dir; removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!(
            "bench-report-test-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const CONTEXT: &str = r#"{"type":"context","git_rev":"5dd648ba3eba","cpu_vendor":"AuthenticAMD","cpu_model":"AMD EPYC","tsc_hz":2500000000,"tsc_source":"cpuid_0x40000010","invariant_tsc":true,"hypervisor":"KVMKVMKVM","cpus_found":4,"cpus_possible":4,"cpus_online":4,"memory_bytes":1073741824,"cmdline":""}"#;
const HOST: &str = r#"{"accelerator":"kvm","deterministic":false,"qemu_version":"10.0.2 (Debian)","started_at":"2026-11-22T05:04:25Z","kvm_backend":"kvm_intel"}"#;

/// A result record in cycles with ns figures (tsc 2.5 GHz) and a histogram around p50.
fn result(bench: &str, kind: &str, params: &str, p50: f64) -> String {
    let ns = |c: f64| c / 2.5;
    let b = 1u64 << (p50 as u64).max(1).ilog2();
    format!(
        r#"{{"type":"result","bench":"{bench}","kind":"{kind}","params":{params},"unit":"cycles","n":1000,"warmup":100,"min":{min},"p50":{p50},"p90":{p90},"p99":{p99},"p999":{p999},"max":{max},"mean":{mean},"stddev":12.5,"min_ns":{min_ns},"p50_ns":{p50_ns},"p90_ns":{p90_ns},"p99_ns":1,"p999_ns":1,"max_ns":1,"mean_ns":1,"stddev_ns":5,"hist":[[{b2},10],[{b},980],[{b4},10]]}}"#,
        min = p50 * 0.8,
        p90 = p50 * 1.1,
        p99 = p50 * 1.5,
        p999 = p50 * 2.0,
        max = p50 * 5.0,
        mean = p50 * 1.05,
        min_ns = ns(p50 * 0.8),
        p50_ns = ns(p50),
        p90_ns = ns(p50 * 1.1),
        b2 = b / 2,
        b4 = b * 2,
    )
}

fn rate(cpus: u32, r: f64) -> String {
    format!(
        r#"{{"type":"result","bench":"pf_throughput","kind":"workload","params":{{"cpus":{cpus}}},"unit":"faults_per_s","n":5,"warmup":1,"min":{},"p50":{r},"p90":{},"p99":{},"p999":{},"max":{},"mean":{r},"stddev":1000}}"#,
        r * 0.95,
        r * 1.02,
        r * 1.03,
        r * 1.03,
        r * 1.03
    )
}

/// A full single run: floors, page faults, shootdowns, throughput. `scale` multiplies every
/// shootdown figure (to make NEW differ from OLD).
fn run_records(scale: f64, end: bool) -> Vec<String> {
    let mut v = vec![
        r#"{"type":"cpu","id":0,"apic_id":0}"#.to_string(),
        CONTEXT.to_string(),
        result("tsc_overhead", "floor", "{}", 40.0),
        result("exception_roundtrip", "floor", "{}", 1000.0),
        result("zero_page", "floor", "{}", 150.0),
        result("pte_write", "floor", "{}", 50.0),
        result("ipi_roundtrip", "floor", "{}", 2000.0),
        result("invlpg", "floor", "{}", 200.0),
        result("flush_cr3", "floor", "{}", 500.0),
        result("flush_global", "floor", "{}", 900.0),
        result("pf_kernel_write", "workload", "{}", 1300.0),
        result("pf_user_write", "workload", "{}", 1600.0),
    ];
    for delivery in ["unicast", "multicast"] {
        for t in 1..=3 {
            let p50 = scale
                * (2500.0 + 600.0 * (t - 1) as f64)
                * if delivery == "unicast" { 1.0 } else { 0.9 };
            v.push(result(
                "shootdown",
                "workload",
                &format!(r#"{{"protocol":"sync","delivery":"{delivery}","space":"kernel","targets":{t},"pages":1}}"#),
                p50,
            ));
        }
        for p in [8, 64] {
            v.push(result(
                "shootdown",
                "workload",
                &format!(r#"{{"protocol":"sync","delivery":"{delivery}","space":"kernel","targets":3,"pages":{p}}}"#),
                scale * (4000.0 + 50.0 * p as f64),
            ));
        }
        v.push(result(
            "shootdown",
            "workload",
            &format!(r#"{{"protocol":"sync","delivery":"{delivery}","space":"kernel","targets":3,"pages":"full"}}"#),
            scale * 9000.0,
        ));
    }
    v.push(rate(1, 1.0e6));
    v.push(rate(2, 1.9e6));
    v.push(rate(4, 3.0e6));
    if end {
        v.push(r#"{"type":"end","status":"pass"}"#.into());
    }
    v
}

fn write_run(dir: &Path, lines: &[String], host: Option<&str>) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("records.jsonl"), lines.join("\n") + "\n").unwrap();
    if let Some(h) = host {
        fs::write(dir.join("host.json"), h).unwrap();
    }
}

fn table_row<'a>(text: &'a str, starts: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no row starting {starts:?} in\n{text}"))
}

#[test]
fn single_run_report() {
    let t = TempDir::new("single");
    write_run(t.path(), &run_records(1.0, true), Some(HOST));
    let rep = write_report(t.path()).unwrap();
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    let s = &rep.summary;
    assert_eq!(fs::read_to_string(t.path().join("summary.md")).unwrap(), *s);

    // Header line and no problems.
    assert!(s.contains(
        "**Context:** CPU AMD EPYC (AuthenticAMD) · hypervisor KVMKVMKVM · accelerator kvm, QEMU 10.0.2 · \
         TSC 2500.000 MHz (cpuid_0x40000010, invariant) · 4 CPUs online of 4 found · 1.0 GiB RAM · \
         git 5dd648ba3eba · 2026-11-22T05:04:25Z"
    ));
    assert!(!s.contains("Incomplete"));

    // Tables: floors before workloads, p50 and p50 in ns.
    let floors_at = s.find("## Floors").unwrap();
    let work_at = s.find("## Workloads").unwrap();
    let goals_at = s.find("## Goals").unwrap();
    assert!(floors_at < work_at && work_at < goals_at);
    let row = table_row(s, "| exception_roundtrip |");
    assert_eq!(
        row,
        "| exception_roundtrip | – | cycles | 1000 | 1000 | 1100 | 1500 | 800 | 5000 | 400 |"
    );
    assert!(s.find("| exception_roundtrip |").unwrap() < work_at);
    let row = table_row(
        s,
        "| shootdown | protocol=sync delivery=unicast space=kernel targets=3 pages=1 |",
    );
    assert!(row.contains("| cycles | 1000 | 3700 |"), "{row}");
    assert!(s.find("| shootdown |").unwrap() > work_at);
    let row = table_row(s, "| pf_throughput | cpus=2 |");
    assert!(row.contains("| faults_per_s | 5 | 1900000 |"), "{row}");

    // Goals, the timer's overhead (40) counted once: kernel fault 1300 / (1000 + 150 + 50 −
    // 2 × 40) = 1.16 met; user 1600 / 1120 = 1.43 not met; shootdown 2500 / (2000 + 200 − 40)
    // = 1.16 met (hardware KVM: judged); throughput 0.95 met, 0.75 not met.
    assert!(s.contains("counts the timer's own overhead (`tsc_overhead`) once"));
    let g = table_row(s, "| Page fault (kernel) |");
    assert!(g.contains("| 1300 cycles | 1120 (exception_roundtrip + zero_page + pte_write − 2 × tsc_overhead) | 1.16 | ≤ 1.20 | met |"), "{g}");
    let g = table_row(s, "| Page fault (user) |");
    assert!(g.contains("| 1.43 | ≤ 1.20 | **NOT MET** |"), "{g}");
    let g = table_row(s, "| Shootdown, 1 target, 1 page |");
    assert!(
        g.contains(
            "| 2500 cycles | 2160 (ipi_roundtrip + invlpg − tsc_overhead) | 1.16 | ≤ 1.30 | met |"
        ),
        "{g}"
    );
    let g = table_row(s, "| Fault throughput scaling | pf_throughput cpus=2 |");
    assert!(g.contains("| 0.95 | ≥ 0.90 | met |"), "{g}");
    let g = table_row(s, "| Fault throughput scaling | pf_throughput cpus=4 |");
    assert!(g.contains("| 0.75 | ≥ 0.90 | **NOT MET** |"), "{g}");

    // Files.
    for f in [
        "csv/shootdown.csv",
        "csv/exception_roundtrip.csv",
        "csv/pf_throughput.csv",
        "plots/shootdown_vs_targets.svg",
        "plots/shootdown_vs_pages.svg",
        "plots/pf_latency.svg",
        "plots/pf_throughput.svg",
        "plots/shootdown_vs_targets.pdf",
        "plots/pf_latency.pdf",
        "plots/pf_throughput.pdf",
        "summary.md",
    ] {
        assert!(t.path().join(f).is_file(), "{f} missing");
        assert!(rep.files.contains(&t.path().join(f)), "{f} not reported");
    }
    let csv = fs::read_to_string(t.path().join("csv/shootdown.csv")).unwrap();
    let head = csv.lines().next().unwrap();
    assert!(head.starts_with(
        "params.protocol,params.delivery,params.space,params.targets,params.pages,unit,n,warmup,min,p50,"
    ));
    assert!(head.ends_with(",stddev,min_ns,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,mean_ns,stddev_ns"));
    assert_eq!(csv.lines().count(), 1 + 12);
    let tp = fs::read_to_string(t.path().join("csv/pf_throughput.csv")).unwrap();
    assert_eq!(
        tp.lines().next().unwrap(),
        "params.cpus,unit,n,warmup,min,p50,p90,p99,p999,max,mean,stddev"
    );
    for f in [
        "shootdown_vs_targets",
        "shootdown_vs_pages",
        "pf_latency",
        "pf_throughput",
    ] {
        let svg = fs::read_to_string(t.path().join(format!("plots/{f}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{f}");
        let pdf = fs::read(t.path().join(format!("plots/{f}.pdf"))).unwrap();
        assert!(
            pdf.starts_with(b"%PDF-1.4\n") && pdf.ends_with(b"%%EOF\n"),
            "{f}"
        );
        assert!(
            svg.contains("class=\"xlabel\"") && svg.contains("class=\"ylabel\""),
            "{f}"
        );
        assert!(svg.contains("class=\"series\""), "{f}");
    }

    // A second report over a smaller run leaves no stale files behind.
    write_run(t.path(), &run_records(1.0, true)[..6], None);
    let rep = write_report(t.path()).unwrap();
    assert!(!t.path().join("csv/shootdown.csv").exists());
    assert!(!t.path().join("plots/pf_throughput.svg").exists());
    assert!(!t.path().join("plots/pf_throughput.pdf").exists());
    assert!(t.path().join("csv/exception_roundtrip.csv").exists());
    assert!(rep.summary.contains("| Page fault (kernel) | – | – | – | – | ≤ 1.20 | not measured | no pf_kernel result with access=write part=total variant=demand_zero |"));
}

#[test]
fn incomplete_run_with_errors_and_bad_lines() {
    let t = TempDir::new("incomplete");
    let mut lines = run_records(1.0, false);
    lines.insert(
        3,
        r#"{"type":"error","message":"AP 2 did not arrive"}"#.into(),
    );
    lines.insert(
        4,
        r#"{"type":"result","bench":"invlpg","kind":"floor","unit":"cycles"}"#.into(),
    );
    lines.insert(5, "{truncated".into());
    write_run(t.path(), &lines, Some("not json"));
    let rep = write_report(t.path()).unwrap();
    let s = &rep.summary;
    let top: String = s.lines().take(8).collect::<Vec<_>>().join("\n");
    assert!(
        top.contains("**Incomplete run: no `end` record; the results shown are"),
        "{top}"
    );
    assert!(
        top.contains("**Error record:** AP 2 did not arrive"),
        "{top}"
    );
    assert!(s.contains("- line 5: result \"invlpg\" skipped: no \"n\""));
    assert!(s.contains("- line 6: invalid JSON"));
    assert!(s.contains("host.json: invalid JSON (ignored)"));
    assert_eq!(rep.warnings.len(), 3, "{:?}", rep.warnings);
    let r = load(t.path()).unwrap();
    assert!(!r.complete);
    assert!(r.host.is_none());
}

#[test]
fn missing_folder_is_an_error() {
    let t = TempDir::new("missing");
    match load(&t.path().join("nope")) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("nope/records.jsonl")),
        other => panic!("{other:?}"),
    }
    let err = write_report(t.path()).unwrap_err().to_string();
    assert!(err.contains("records.jsonl"), "{err}");
    assert!(matches!(
        aggregate_repeats(t.path(), &[]),
        Err(Error::NoBoots(_))
    ));
}

#[test]
fn compare_single_runs() {
    let old = TempDir::new("old");
    let new = TempDir::new("new");
    write_run(old.path(), &run_records(1.0, true), Some(HOST));
    let mut lines = run_records(1.1, true);
    lines[1] = CONTEXT.replace("5dd648ba3eba", "0123456789ab");
    // Only in NEW, only in OLD, and a unit mismatch.
    lines.push(result("percpu_read_gs", "floor", "{}", 3.0));
    lines.retain(|l| !l.contains("\"flush_global\""));
    let i = lines
        .iter()
        .position(|l| l.contains("\"tsc_overhead\""))
        .unwrap();
    lines[i] = lines[i].replace("\"cycles\"", "\"instructions\"");
    write_run(
        new.path(),
        &lines,
        Some(&HOST.replace("\"kvm\"", "\"tcg\"")),
    );
    let s = compare(old.path(), new.path()).unwrap();
    assert!(
        s.contains("- **accelerator**: OLD `kvm` → NEW `tcg`"),
        "{s}"
    );
    assert!(s.contains("- **git_rev**: OLD `5dd648ba3eba` → NEW `0123456789ab`"));
    assert!(!s.contains("**mitigations**"), "neither side records them");
    assert!(!s.contains("**cpu_model**"));
    let r = table_row(
        &s,
        "| shootdown | protocol=sync delivery=unicast space=kernel targets=1 pages=1 |",
    );
    assert_eq!(
        r,
        "| shootdown | protocol=sync delivery=unicast space=kernel targets=1 pages=1 | cycles | 2500 | 2750 | 1.10 | within spread (p5..p95) |"
    );
    let r = table_row(&s, "| exception_roundtrip |");
    assert!(r.contains("| 1000 | 1000 | 1.00 |"), "{r}");
    let r = table_row(&s, "| flush_global |");
    assert!(r.contains("only in OLD"), "{r}");
    let r = table_row(&s, "| percpu_read_gs |");
    assert!(r.contains("only in NEW"), "{r}");
    let r = table_row(&s, "| tsc_overhead |");
    assert!(
        r.contains("| cycles / instructions |") && r.contains("**UNIT MISMATCH**"),
        "{r}"
    );
    assert!(r.contains("| – |"), "no ratio for a unit mismatch: {r}");
    assert!(
        s.contains("differ by less than the spread of their own samples"),
        "{s}"
    );
    assert!(s.contains("use --repeat"));
}

/// Writes boots with shootdown scaled by each factor; returns the boot folders.
fn write_boots(dir: &Path, scales: &[f64]) -> Vec<PathBuf> {
    scales
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let b = dir.join(format!("boot-{}", i + 1));
            write_run(&b, &run_records(*k, true), Some(HOST));
            b
        })
        .collect()
}

#[test]
fn repeats_aggregate_and_compare_beyond_spread() {
    let old = TempDir::new("rep-old");
    let new = TempDir::new("rep-new");
    let ob = write_boots(old.path(), &[1.0, 1.02, 0.98]);
    write_boots(new.path(), &[1.2, 1.22, 1.18, 1.21]);
    // boot-10 sorts after boot-2 (numeric order).
    let extra = new.path().join("boot-10");
    write_run(&extra, &run_records(1.19, true), Some(HOST));
    let boots = find_boots(new.path()).unwrap();
    let names: Vec<String> = boots
        .iter()
        .map(|b| b.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["boot-1", "boot-2", "boot-3", "boot-4", "boot-10"]);

    let before: Vec<(PathBuf, Vec<u8>)> = ob
        .iter()
        .flat_map(|b| fs::read_dir(b).unwrap().flatten().map(|e| e.path()))
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect();
    let rep = aggregate_repeats(old.path(), &ob).unwrap();
    // Boot folders untouched.
    let after: Vec<PathBuf> = ob
        .iter()
        .flat_map(|b| fs::read_dir(b).unwrap().flatten().map(|e| e.path()))
        .collect();
    assert_eq!(after.len(), before.len());
    for (p, bytes) in &before {
        assert_eq!(&fs::read(p).unwrap(), bytes);
    }
    for f in [
        "repeat.jsonl",
        "summary.md",
        "csv/repeat.csv",
        "plots/shootdown_vs_targets.svg",
    ] {
        assert!(old.path().join(f).is_file(), "{f}");
    }
    let s = &rep.summary;
    assert!(s.starts_with("# Benchmark summary: 3 boots"));
    let r = table_row(
        s,
        "| shootdown | protocol=sync delivery=unicast space=kernel targets=1 pages=1 |",
    );
    assert_eq!(
        r,
        "| shootdown | protocol=sync delivery=unicast space=kernel targets=1 pages=1 | cycles | 2500 | 2550 | 2450 | 2500 | 2450 | 2550 | 4.0% | 1000 |"
    );
    assert!(s.contains("| Shootdown, 1 target, 1 page |"));
    let jsonl = fs::read_to_string(old.path().join("repeat.jsonl")).unwrap();
    assert!(jsonl.starts_with(r#"{"type":"repeat","boots":["boot-1","boot-2","boot-3"]}"#));
    assert!(jsonl.contains(
        r#""p50_per_boot":[2500,2550,2450],"median":2500,"min":2450,"max":2550,"spread":0.04"#
    ));
    // write_report on the top folder aggregates too.
    let again = write_report(old.path()).unwrap();
    assert_eq!(again.summary, rep.summary);

    let s = compare(old.path(), new.path()).unwrap();
    assert!(s.contains("3 boots: p50 = median"));
    assert!(s.contains("5 boots"));
    let r = table_row(
        &s,
        "| shootdown | protocol=sync delivery=unicast space=kernel targets=1 pages=1 |",
    );
    assert!(
        r.contains("| 2500 | 3000 | 1.20 | 2450..2550 | 2950..3050 | **BEYOND SPREAD ↑** |"),
        "{r}"
    );
    // Floors do not change between the boots: equal ranges overlap.
    let r = table_row(&s, "| exception_roundtrip |");
    assert!(
        r.contains("| 1000 | 1000 | 1.00 | 1000..1000 | 1000..1000 | within spread |"),
        "{r}"
    );
    // Reversed: NEW lower.
    let s = compare(new.path(), old.path()).unwrap();
    let r = table_row(
        &s,
        "| shootdown | protocol=sync delivery=unicast space=kernel targets=1 pages=1 |",
    );
    assert!(r.contains("**BEYOND SPREAD ↓**"), "{r}");
}

#[test]
fn repeat_vs_single_uses_the_single_p50_as_a_point() {
    let old = TempDir::new("rs-old");
    let new = TempDir::new("rs-new");
    write_boots(old.path(), &[1.0, 1.1, 0.9]);
    write_run(new.path(), &run_records(1.05, true), Some(HOST));
    let s = compare(old.path(), new.path()).unwrap();
    let r = table_row(
        &s,
        "| shootdown | protocol=sync delivery=unicast space=kernel targets=1 pages=1 |",
    );
    // OLD 2250..2750 holds NEW 2625.
    assert!(
        r.contains("| 2500 | 2625 | 1.05 | 2250..2750 | 2625 | within spread |"),
        "{r}"
    );
}

#[test]
fn deterministic_mode_instructions_without_ns() {
    // What the runner writes in icount mode: cycles relabelled instructions, `_ns` dropped.
    let t = TempDir::new("icount");
    let lines: Vec<String> = run_records(1.0, true)
        .into_iter()
        .map(|l| match serde_json::from_str::<serde_json::Value>(&l) {
            Ok(serde_json::Value::Object(mut m)) if m.get("unit") == Some(&"cycles".into()) => {
                m.insert("unit".into(), "instructions".into());
                m.retain(|k, _| !k.ends_with("_ns"));
                serde_json::Value::Object(m).to_string()
            }
            _ => l,
        })
        .collect();
    write_run(t.path(), &lines, Some(&HOST.replace("false", "true")));
    let rep = write_report(t.path()).unwrap();
    let s = &rep.summary;
    assert!(s.contains("(deterministic: icount, unit instructions)"));
    assert!(!s.contains("p50 (ns)"));
    let g = table_row(s, "| Page fault (kernel) |");
    assert!(
        g.contains("| 1300 instructions |") && g.contains("| met |"),
        "{g}"
    );
    // Deterministic mode: the cross-CPU goals are not judged, with the reason.
    let g = table_row(s, "| Shootdown, 1 target, 1 page |");
    assert!(
        g.contains("| not judged | not judged: icount: one guest clock counts"),
        "{g}"
    );
    let csv = fs::read_to_string(t.path().join("csv/invlpg.csv")).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "unit,n,warmup,min,p50,p90,p99,p999,max,mean,stddev"
    );
    assert!(csv.contains("\ninstructions,1000,100,"));
    let svg = fs::read_to_string(t.path().join("plots/shootdown_vs_targets.svg")).unwrap();
    assert!(svg.contains("p50 latency (instructions)"));
    let svg = fs::read_to_string(t.path().join("plots/pf_latency.svg")).unwrap();
    assert!(svg.contains("latency (instructions), log scale"));
    assert!(svg.contains("ECDF from log2 buckets"));
}

#[test]
fn floors_that_cannot_hold_and_platforms_that_cannot_judge() {
    // A shootdown at half the floor (1250 against 2160): the floor is invalid, never "met",
    // and the summary says so below the table.
    let t = TempDir::new("invalid");
    write_run(t.path(), &run_records(0.5, true), Some(HOST));
    let s = write_report(t.path()).unwrap().summary;
    let g = table_row(&s, "| Shootdown, 1 target, 1 page |");
    assert!(g.contains("| 0.58 | ≤ 1.30 | **floor invalid** |"), "{g}");
    assert!(
        s.contains(
            "**Floor invalid:** Shootdown, 1 target, 1 page (shootdown protocol=sync \
             delivery=unicast space=kernel targets=1 pages=1): p50 1250 cycles is below its \
             floor 2160 (ipi_roundtrip + invlpg − tsc_overhead), ratio 0.58. The floor is wrong"
        ),
        "{s}"
    );
    // The same run under TCG: cross-CPU goals not judged; the page faults still are.
    let tcg = TempDir::new("tcg");
    let lines: Vec<String> = run_records(0.5, true)
        .into_iter()
        .map(|l| l.replace("KVMKVMKVM", "TCGTCGTCGTCG"))
        .collect();
    write_run(
        tcg.path(),
        &lines,
        Some(&HOST.replace("\"kvm\"", "\"tcg\"")),
    );
    let s = write_report(tcg.path()).unwrap().summary;
    let g = table_row(&s, "| Shootdown, 1 target, 1 page |");
    assert!(g.contains("| not judged | not judged: TCG"), "{g}");
    let g = table_row(&s, "| Fault throughput scaling | pf_throughput cpus=2 |");
    assert!(g.contains("| not judged |"), "{g}");
    assert!(!s.contains("**Floor invalid:**"), "{s}");
    let g = table_row(&s, "| Page fault (kernel) |");
    assert!(g.contains("| met |"), "{g}");
}

#[test]
fn two_linux_runs_differ_in_their_mitigations() {
    let old = TempDir::new("mit-default");
    let new = TempDir::new("mit-off");
    write_run(
        old.path(),
        &run_records(1.0, true),
        Some(r#"{"mitigations":"default"}"#),
    );
    write_run(
        new.path(),
        &run_records(1.0, true),
        Some(r#"{"mitigations":"off"}"#),
    );
    let s = compare(old.path(), new.path()).unwrap();
    assert!(
        s.contains("- **mitigations**: OLD `default` → NEW `off`"),
        "{s}"
    );
}
