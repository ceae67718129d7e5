//! The Linux baseline's benchmark program. It runs as `/init` (PID 1) in the tiny initramfs the
//! runner builds, measures the workloads our kernel measures where Linux has the same thing,
//! prints the same records (the `result` record is written by `kernel_core::result`, the code
//! the kernel uses), and ends the VM through QEMU's exit device (or powers it off).
//!
//! Timing is the kernel's: LFENCE, RDTSC, LFENCE to start; RDTSCP, LFENCE to stop (Linux sets
//! AMD's DE_CFG[1], so LFENCE serialises there too). The TSC rate is measured against
//! CLOCK_MONOTONIC over 200 ms.

mod sys;
mod work;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use kernel_core::json::Record;
use kernel_core::result::{Kind, P, write_result};
use kernel_core::stats::Summary;

/// What the kernel command line asks for (other words, Linux's own, are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opts {
    pub samples: usize,
    pub warmup: usize,
    pub quick: bool,
    /// Groups to run (`bench=`); empty: all.
    pub groups: Vec<String>,
}

pub const GROUPS: &[&str] = &["floors", "pf", "pf_throughput", "shootdown"];

impl Opts {
    pub fn parse(cmdline: &str) -> Result<Opts, String> {
        let mut o = Opts {
            samples: 0,
            warmup: 0,
            quick: false,
            groups: Vec::new(),
        };
        let (mut samples, mut warmup) = (None, None);
        for w in cmdline.split_whitespace() {
            let num = |v: &str| {
                v.parse::<usize>()
                    .map_err(|_| format!("bad number in '{w}'"))
            };
            match w.split_once('=') {
                Some(("bench_samples", v)) => samples = Some(num(v)?.clamp(1, 100_000)),
                Some(("bench_warmup", v)) => warmup = Some(num(v)?.min(100_000)),
                Some(("bench", v)) if v != "all" => {
                    for g in v.split(',') {
                        if !GROUPS.contains(&g) {
                            return Err(format!(
                                "unknown benchmark group '{g}' (valid: {})",
                                GROUPS.join(", ")
                            ));
                        }
                        o.groups.push(g.to_string());
                    }
                }
                None if w == "bench_quick" => o.quick = true,
                _ => {}
            }
        }
        o.samples = samples.unwrap_or(if o.quick { 200 } else { 2000 });
        o.warmup = warmup.unwrap_or(if o.quick { 20 } else { 200 });
        Ok(o)
    }

    pub fn selected(&self, g: &str) -> bool {
        self.groups.is_empty() || self.groups.iter().any(|x| x == g)
    }
}

/// Print one record line built by `f`.
pub fn record(kind: &str, f: impl FnOnce(&mut Record<'_, String>)) {
    let mut s = String::new();
    {
        let mut r = Record::begin(&mut s, kind);
        f(&mut r);
        let _ = r.finish();
    }
    println!("{s}");
}

/// Summarise `samples` (sorted in place) and print its `result` record.
pub fn emit(
    hz: u64,
    bench: &str,
    kind: Kind,
    params: &[(&str, P)],
    unit: &str,
    warmup: usize,
    samples: &mut [u64],
) {
    let Some(s) = Summary::of(samples) else {
        record("error", |r| {
            r.str("kind", "bench")
                .str("bench", bench)
                .str("message", "no samples");
        });
        return;
    };
    let mut line = String::new();
    let _ = write_result(&mut line, bench, kind, params, unit, warmup, &s, hz);
    println!("{line}");
    println!(
        "linux-bench: {bench} {} {unit}: p50 {} p99 {} (n {})",
        kernel_core::result::ParamsJson(params),
        s.p50,
        s.p99,
        s.n
    );
}

/// TSC ticks per second, against CLOCK_MONOTONIC.
fn tsc_hz() -> u64 {
    let t0 = Instant::now();
    let c0 = sys::rdtsc();
    std::thread::sleep(Duration::from_millis(200));
    let c1 = sys::rdtsc();
    let ns = t0.elapsed().as_nanos().max(1);
    ((c1 - c0) as u128 * 1_000_000_000 / ns) as u64
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn cpu_model() -> String {
    read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default()
}

fn main() {
    let pid1 = std::process::id() == 1;
    if pid1 {
        sys::mount_proc();
    }
    let cmdline = read("/proc/cmdline");
    let opts = match Opts::parse(&cmdline) {
        Ok(o) => o,
        Err(e) => {
            println!("linux-bench: bad command line: {e}");
            record("error", |r| {
                r.str("kind", "cmdline").str("message", &e);
            });
            record("end", |r| {
                r.str("status", "bad_cmdline");
            });
            sys::finish(kernel_core::qemu_exit::BAD_CMDLINE);
        }
    };
    let hz = tsc_hz();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut uname = String::new();
    let _ = write!(uname, "{}", read("/proc/sys/kernel/osrelease").trim());
    let mem_kb: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    record("context", |r| {
        r.str("os", "linux")
            .str("linux_release", &uname)
            .str("git_rev", env!("LINUX_BENCH_GIT_REV"))
            .str("cpu_vendor", &sys::cpu_vendor())
            .str("cpu_model", &cpu_model())
            .u64("tsc_hz", hz)
            .str("tsc_source", "linux_clock_monotonic")
            .str("tsc_fence", "lfence")
            .bool("invariant_tsc", sys::invariant_tsc())
            .str("hypervisor", &sys::hypervisor())
            .u64("cpus_found", cpus as u64)
            .u64("cpus_possible", cpus as u64)
            .u64("cpus_online", cpus as u64)
            .u64("memory_bytes", mem_kb * 1024)
            .str("cmdline", cmdline.trim());
    });
    println!(
        "linux-bench: {} samples, {} warm-up{}; TSC {hz} Hz; {cpus} CPUs; Linux {uname}",
        opts.samples,
        opts.warmup,
        if opts.quick { ", quick" } else { "" }
    );
    let mut ok = true;
    for g in GROUPS {
        if !opts.selected(g) {
            continue;
        }
        record("progress", |r| {
            r.str("group", g);
        });
        ok &= match *g {
            "floors" => work::floors(&opts, hz, cpus),
            "pf" => work::page_faults(&opts, hz),
            "pf_throughput" => work::throughput(&opts, hz, cpus),
            _ => work::shootdown(&opts, hz, cpus),
        };
    }
    record("end", |r| {
        r.str("status", if ok { "pass" } else { "fail" });
    });
    if pid1 {
        sys::finish(if ok {
            kernel_core::qemu_exit::PASS
        } else {
            kernel_core::qemu_exit::FAIL
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_the_linux_command_line() {
        let o = Opts::parse("console=ttyS0 quiet bench_quick bench=pf,floors nokaslr").unwrap();
        assert!(o.quick);
        assert_eq!((o.samples, o.warmup), (200, 20));
        assert!(o.selected("pf") && o.selected("floors") && !o.selected("shootdown"));
        let o = Opts::parse("bench_samples=50 bench_warmup=0").unwrap();
        assert_eq!((o.samples, o.warmup), (50, 0));
        assert!(o.selected("shootdown"));
        assert!(Opts::parse("bench=nosuch").unwrap_err().contains("nosuch"));
        assert!(Opts::parse("bench_samples=x").is_err());
    }
}
