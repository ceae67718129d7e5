//! `summary.md`: context line, problems, floors and workloads tables, goals.

use std::fmt::Write;

use crate::fmt::{md_cell, ratio, short};
use crate::goals::{Goal, Platform, Verdict, goals};
use crate::model::{BenchResult, Results, params_label};

/// The one-line context: CPU, hypervisor and accelerator, TSC rate and source, CPUs, memory,
/// git revision, start time (each part only when known).
pub fn context_line(r: &Results) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = r.context_text("cpu_model") {
        match r.context_text("cpu_vendor") {
            Some(v) if !v.is_empty() => parts.push(format!("CPU {m} ({v})")),
            _ => parts.push(format!("CPU {m}")),
        }
    }
    match r.context.as_ref().and_then(|c| c.get("hypervisor")) {
        Some(serde_json::Value::Null) => parts.push("bare metal".into()),
        Some(serde_json::Value::String(s)) if s.is_empty() => parts.push("bare metal".into()),
        Some(v) => parts.push(format!("hypervisor {}", crate::model::value_text(v))),
        None => {}
    }
    if let Some(a) = r.host_text("accelerator").or_else(|| r.host_text("accel")) {
        let mut s = format!("accelerator {a}");
        if r.host.as_ref().and_then(|h| h.get("deterministic"))
            == Some(&serde_json::Value::Bool(true))
        {
            s.push_str(" (deterministic: icount, unit instructions)");
        }
        if let Some(v) = r.host_text("qemu_version") {
            let v = v.split_whitespace().next().unwrap_or("").to_string();
            let _ = write!(s, ", QEMU {v}");
        }
        parts.push(s);
    }
    if let Some(hz) = r
        .context
        .as_ref()
        .and_then(|c| c.get("tsc_hz"))
        .and_then(|v| v.as_f64())
    {
        let mut s = format!("TSC {:.3} MHz", hz / 1e6);
        let src = r.context_text("tsc_source");
        let inv = match r.context.as_ref().and_then(|c| c.get("invariant_tsc")) {
            Some(serde_json::Value::Bool(true)) => Some("invariant"),
            Some(serde_json::Value::Bool(false)) => Some("NOT invariant"),
            _ => None,
        };
        let extra: Vec<&str> = src.as_deref().into_iter().chain(inv).collect();
        if !extra.is_empty() {
            let _ = write!(s, " ({})", extra.join(", "));
        }
        parts.push(s);
    }
    if let Some(on) = r.context_text("cpus_online") {
        let mut s = format!("{on} CPUs online");
        if let Some(f) = r.context_text("cpus_found") {
            let _ = write!(s, " of {f} found");
        }
        parts.push(s);
    }
    if let Some(b) = r
        .context
        .as_ref()
        .and_then(|c| c.get("memory_bytes"))
        .and_then(|v| v.as_f64())
    {
        parts.push(format!("{:.1} GiB RAM", b / (1u64 << 30) as f64));
    }
    if let Some(g) = r.context_text("git_rev") {
        parts.push(format!("git {g}"));
    }
    if let Some(d) = r.host_text("started_at").or_else(|| r.host_text("date")) {
        parts.push(d);
    }
    if parts.is_empty() {
        "**Context:** unknown (no context record, no host.json)".into()
    } else {
        format!("**Context:** {}", parts.join(" · "))
    }
}

/// Bold lines for what went wrong (incomplete run, end status, error records, no context),
/// each prefixed with `prefix` (e.g. `boot-2: `), then a list of parse warnings.
pub(crate) fn problems(r: &Results, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !r.complete {
        // host.json says how the run ended when the kernel could not (e.g. QEMU killed at its
        // timeout); the results above are what arrived before that.
        let why = match (r.host_text("outcome"), r.host_text("outcome_message")) {
            (Some(o), Some(m)) if o != "pass" => {
                format!(
                    " (runner: {})",
                    m.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            }
            _ => String::new(),
        };
        out.push(format!(
            "**{prefix}Incomplete run: no `end` record{why}; the results shown are those \
             received before it stopped.**"
        ));
    } else if let Some(s) = r.end_status.as_deref().filter(|s| *s != "pass") {
        out.push(format!("**{prefix}Run ended with status `{s}`.**"));
    }
    for e in &r.errors {
        out.push(format!(
            "**{prefix}Error record:** {}",
            e.replace('\n', " ")
        ));
    }
    for c in r.checks.iter().filter(|c| !c.pass) {
        out.push(format!(
            "**{prefix}Check failed:** {}: {}",
            c.name, c.detail
        ));
    }
    if r.context.is_none() {
        out.push(format!("**{prefix}No context record.**"));
    }
    for w in &r.warnings {
        out.push(format!("{prefix}Warning: {w}"));
    }
    out
}

/// The passed checks on one line, and the skipped benches as a list (empty when none).
pub(crate) fn checks_and_skips(r: &Results) -> String {
    let mut s = String::new();
    let passed: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.pass)
        .map(|c| c.name.as_str())
        .collect();
    if !passed.is_empty() {
        let _ = writeln!(s, "Checks passed: {}.\n", passed.join(", "));
    }
    if !r.skips.is_empty() {
        s.push_str("Not measured on this machine:\n\n");
        for k in &r.skips {
            let _ = writeln!(s, "- {}: {}", k.bench, k.reason);
        }
        s.push('\n');
    }
    s
}

/// A Markdown table of results: bench, params, unit, n, p50, p90, p99, min, max, and p50 in ns
/// when any row has it.
pub fn results_table(rows: &[&BenchResult]) -> String {
    if rows.is_empty() {
        return "_None._\n".into();
    }
    let ns = rows.iter().any(|r| r.p50_ns.is_some());
    let mut s = String::from("| bench | params | unit | n | p50 | p90 | p99 | min | max |");
    s.push_str(if ns { " p50 (ns) |\n" } else { "\n" });
    s.push_str("|---|---|---|--:|--:|--:|--:|--:|--:|");
    s.push_str(if ns { "--:|\n" } else { "\n" });
    for r in rows {
        let _ = write!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md_cell(&r.bench),
            md_cell(&params_label(&r.params)),
            md_cell(&r.unit),
            r.n,
            short(r.p50),
            short(r.p90),
            short(r.p99),
            short(r.min),
            short(r.max)
        );
        if ns {
            let _ = write!(
                s,
                " {} |",
                r.p50_ns.map(short).unwrap_or_else(|| "–".into())
            );
        }
        s.push('\n');
    }
    s
}

/// What the goals tables say about how a goal is judged.
pub const GOALS_READING: &str = "A floor made of several measured floors counts the timer's \
    own overhead (`tsc_overhead`) once, as the workload's one timed sample does; a result below \
    its floor marks the floor invalid, not the goal met; the cross-CPU goals (shootdowns, fault \
    throughput) are judged only on bare metal or hardware KVM.";

/// The goals as a Markdown table, then a bold line for each floor found invalid.
pub fn goals_table(goals: &[Goal]) -> String {
    let mut s = String::from(
        "| goal | result | p50 | reference | ratio | target | verdict | note |\n|---|---|--:|---|--:|---|---|---|\n",
    );
    for g in goals {
        let measured = g
            .measured
            .map(|m| format!("{} {}", short(m), g.unit))
            .unwrap_or_else(|| "–".into());
        let reference = g
            .reference
            .map(|v| format!("{} ({})", short(v), g.reference_desc))
            .unwrap_or_else(|| "–".into());
        let verdict = match g.verdict {
            Verdict::NotMet | Verdict::FloorInvalid => format!("**{}**", g.verdict.as_str()),
            v => v.as_str().to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            md_cell(&g.name),
            md_cell(&g.subject),
            md_cell(&measured),
            md_cell(&reference),
            g.ratio.map(ratio).unwrap_or_else(|| "–".into()),
            md_cell(&g.target),
            verdict,
            md_cell(&g.note)
        );
    }
    for g in goals.iter().filter(|g| g.verdict == Verdict::FloorInvalid) {
        let _ = write!(
            s,
            "\n**Floor invalid:** {} ({}): p50 {} {} is below its floor {} ({}), ratio {}. The \
             floor is wrong: it holds work or overhead this workload does not have, so the goal \
             cannot be judged against it.\n",
            g.name,
            g.subject,
            g.measured.map(short).unwrap_or_default(),
            g.unit,
            g.reference.map(short).unwrap_or_default(),
            g.reference_desc,
            g.ratio.map(ratio).unwrap_or_default(),
        );
    }
    s
}

/// The Markdown summary of one results folder (the text of `summary.md`).
/// Whether a run's cross-CPU figures wait for the host's scheduler: TCG (multi-threaded,
/// one host thread per vCPU) with more vCPUs than host cores. The runner's warning and the
/// summary's mark both ask this.
pub fn is_scheduler_bound(accelerator: &str, smp: f64, host_cores: f64) -> bool {
    accelerator == "tcg" && smp > host_cores
}

/// The mark for a run [`is_scheduler_bound`] (host.json's `accelerator`, `smp` and
/// `host_cores`).
pub fn scheduler_bound(r: &Results) -> Option<String> {
    let num = |k: &str| r.host.as_ref()?.get(k)?.as_f64();
    let accel = r.host_text("accelerator")?;
    let (smp, cores) = (num("smp")?, num("host_cores")?);
    is_scheduler_bound(&accel, smp, cores).then(|| {
        format!(
            "**Cross-CPU figures are scheduler-bound:** {smp} vCPUs ran on {cores} host cores \
             under TCG, so the IPI round trip, the shootdowns with targets and the fault \
             throughput measure the host's scheduler as much as the kernel. Compare them only \
             with runs on at least as many host cores as vCPUs, or use the deterministic mode \
             (`--accel icount`)."
        )
    })
}

pub fn summary(r: &Results) -> String {
    let mut s = String::from("# Benchmark summary\n\n");
    let probs = problems(r, "");
    let (bold, warn): (Vec<&String>, Vec<&String>) =
        probs.iter().partition(|p| p.starts_with("**"));
    for p in &bold {
        let _ = writeln!(s, "{p}\n");
    }
    let _ = writeln!(s, "{}\n", context_line(r));
    if let Some(w) = scheduler_bound(r) {
        let _ = writeln!(s, "{w}\n");
    }
    s.push_str(&checks_and_skips(r));
    if !warn.is_empty() {
        s.push_str("Skipped or dropped while reading the records:\n\n");
        for w in &warn {
            let _ = writeln!(s, "- {}", w.trim_start_matches("Warning: "));
        }
        s.push('\n');
    }
    let floors: Vec<&BenchResult> = r.results.iter().filter(|x| x.is_floor()).collect();
    let work: Vec<&BenchResult> = r.results.iter().filter(|x| !x.is_floor()).collect();
    s.push_str("## Floors\n\n");
    s.push_str(&results_table(&floors));
    s.push_str("\n## Workloads\n\n");
    s.push_str(&results_table(&work));
    if let Some(t) = crate::protocols::protocol_table(&r.results) {
        s.push_str("\n## Shootdown protocols\n\n");
        s.push_str(&t);
    }
    let _ = write!(s, "\n## Goals\n\nFrom medians (p50). {GOALS_READING}\n\n");
    s.push_str(&goals_table(&goals(&r.results, &Platform::of(r))));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_records;

    #[test]
    fn context_line_parts() {
        let mut r = parse_records(
            r#"{"type":"context","git_rev":"5dd648ba3eba","cpu_vendor":"AuthenticAMD","cpu_model":"AMD EPYC","tsc_hz":2596096000,"tsc_source":"cpuid_0x40000010","invariant_tsc":true,"hypervisor":"KVMKVMKVM","cpus_found":2,"cpus_possible":2,"cpus_online":2,"memory_bytes":1073344512,"cmdline":""}"#,
        );
        r.host = serde_json::from_str(
            r#"{"accelerator":"kvm","deterministic":false,"qemu_version":"10.0.2 (Debian)","started_at":"2026-11-22T05:04:25Z"}"#,
        )
        .unwrap();
        let l = context_line(&r);
        assert_eq!(
            l,
            "**Context:** CPU AMD EPYC (AuthenticAMD) · hypervisor KVMKVMKVM · accelerator kvm, QEMU 10.0.2 · \
             TSC 2596.096 MHz (cpuid_0x40000010, invariant) · 2 CPUs online of 2 found · 1.0 GiB RAM · \
             git 5dd648ba3eba · 2026-11-22T05:04:25Z"
        );
        let bare = parse_records(r#"{"type":"context","hypervisor":""}"#);
        assert_eq!(context_line(&bare), "**Context:** bare metal");
        assert!(context_line(&Results::default()).contains("unknown"));
    }

    #[test]
    fn more_vcpus_than_host_cores_under_tcg_is_flagged() {
        let with = |accel: &str, smp: u64, cores: u64| Results {
            host: Some(
                serde_json::json!({"accelerator": accel, "smp": smp, "host_cores": cores})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            ..Results::default()
        };
        let w = scheduler_bound(&with("tcg", 8, 2)).unwrap();
        assert!(w.contains("8 vCPUs ran on 2 host cores"), "{w}");
        assert!(summary(&with("tcg", 8, 2)).contains("scheduler-bound"));
        assert_eq!(scheduler_bound(&with("tcg", 2, 2)), None);
        assert_eq!(scheduler_bound(&with("icount", 64, 2)), None);
        assert_eq!(scheduler_bound(&Results::default()), None);
    }

    #[test]
    fn problems_are_bold() {
        let r = parse_records(
            "{\"type\":\"error\",\"message\":\"ap 3 missing\"}\n{bad\n\
             {\"type\":\"check\",\"name\":\"waits\",\"pass\":false,\"detail\":\"0 of 3\"}\n\
             {\"type\":\"check\",\"name\":\"zeroed\",\"pass\":true,\"detail\":\"\"}\n\
             {\"type\":\"skip\",\"bench\":\"ipi_roundtrip\",\"reason\":\"needs 2 CPUs online\"}",
        );
        let s = summary(&r);
        assert!(s.contains("**Check failed:** waits: 0 of 3"));
        assert!(s.contains("Checks passed: zeroed."));
        assert!(s.contains("- ipi_roundtrip: needs 2 CPUs online"));
        assert!(s.contains("**Incomplete run: no `end` record; the results shown are"));
        assert!(s.contains("**Error record:** ap 3 missing"));
        let mut killed = r.clone();
        killed.host = serde_json::from_str(
            r#"{"outcome":"timeout","outcome_message":"timeout after 10 s: QEMU killed"}"#,
        )
        .unwrap();
        assert!(
            summary(&killed).contains(
                "no `end` record (runner: timeout after 10 s: QEMU killed); the results shown"
            ),
            "{}",
            summary(&killed)
        );
        assert!(s.contains("- line 2: invalid JSON"));
        let failed = parse_records("{\"type\":\"end\",\"status\":\"fail\"}");
        assert!(summary(&failed).contains("**Run ended with status `fail`.**"));
        let ok = parse_records("{\"type\":\"context\"}\n{\"type\":\"end\",\"status\":\"pass\"}");
        assert!(!summary(&ok).contains("**I"));
        assert!(!summary(&ok).contains("**R"));
    }
}
