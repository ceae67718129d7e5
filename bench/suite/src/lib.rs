//! The benchmark suite: hardware floors, page-fault latency and throughput, TLB shootdown
//! latency, each printed as a `result` record (DESIGN.md) with its statistics and histogram.
//!
//! A benchmark group is one entry of [`GROUPS`], selected with `bench=` on the command line
//! (names shared with `kernel_core::cmdline::BENCHES`). Every timed region runs with
//! interrupts off on the CPU that times it; samples are TSC ticks from `time::start`/`stop` (`sys::arch::tsc::serialized`).
//!
//! Safe code only (`forbid(unsafe_code)`): every instruction and memory access a benchmark
//! needs is a safe function of `sys` (`arch::tlb`, `arch::tsc`, `mm::probe`, `mm::tlb`).

#![no_std]
#![forbid(unsafe_code)]

pub mod contention;
pub mod floors;
mod onscreen;
pub mod pf;
pub mod ring3;
pub mod shootdown;

use core::sync::atomic::{AtomicBool, Ordering};

use kernel_core::cmdline::{BenchOptions, Options};
use kernel_core::stats::Summary;
use spin::Mutex;
use sys::arch::tsc::{self, serialized as time};
use sys::{println, record};

pub use kernel_core::result::{Kind, P, ParamsJson};

/// The largest sample count of one result.
pub const MAX_SAMPLES: usize = 100_000;

/// Sample storage for the result being measured (the BSP measures one result at a time).
pub static SAMPLES: Mutex<[u64; MAX_SAMPLES]> = Mutex::new([0; MAX_SAMPLES]);
/// A second buffer, for results measured alongside (handler time beside the fault time).
pub static SAMPLES_AUX: Mutex<[u64; MAX_SAMPLES]> = Mutex::new([0; MAX_SAMPLES]);
/// A third buffer (the trap share of each fault).
pub static SAMPLES_TRAP: Mutex<[u64; MAX_SAMPLES]> = Mutex::new([0; MAX_SAMPLES]);

/// The suite's settings, from the command line.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub samples: usize,
    pub warmup: usize,
    pub quick: bool,
    pub opts: BenchOptions,
}

impl Settings {
    pub fn from(o: &Options) -> Settings {
        let quick = o.bench.quick;
        let samples = o
            .bench
            .samples
            .map(|s| s as usize)
            .unwrap_or(if quick { 200 } else { 2000 })
            .min(MAX_SAMPLES);
        let warmup = o
            .bench
            .warmup
            .map(|w| w as usize)
            .unwrap_or(if quick { 20 } else { 200 });
        Settings {
            samples,
            warmup,
            quick,
            opts: o.bench,
        }
    }
}

/// `bench_raw`: [`emit`] prints every sample before its result.
static RAW: AtomicBool = AtomicBool::new(false);

/// Print one `result` record for `samples` (sorted in place). `unit` is `cycles` for TSC
/// ticks (then the `_ns` figures are added) or a rate such as `faults_per_s`.
pub fn emit(
    bench: &str,
    kind: Kind,
    params: &[(&str, P)],
    unit: &str,
    warmup: usize,
    samples: &mut [u64],
) {
    if RAW.load(Ordering::Relaxed) && !samples.is_empty() {
        // Before the summary sorts them: measurement order is kept.
        sys::record_with(|w| kernel_core::result::write_samples(w, bench, params, unit, samples));
    }
    let Some(s) = Summary::of(samples) else {
        record!("error", |r| r
            .str("kind", "bench")
            .str("bench", bench)
            .str("message", "no samples"));
        return;
    };
    sys::record_with(|w| {
        kernel_core::result::write_result(w, bench, kind, params, unit, warmup, &s, tsc::hz())
    });
    onscreen::note_result(bench, kind, params, unit, s.p50);
    println!(
        "bench: {bench} {} {unit}: p50 {} p99 {} min {} (n {})",
        ParamsJson(params),
        s.p50,
        s.p99,
        s.min,
        s.n
    );
}

/// The CPU counts a scaling sweep runs: 1, 2, 4, … below `max`, then `max` itself.
pub(crate) fn cpu_counts(max: usize) -> impl Iterator<Item = usize> {
    let max = max.max(1);
    (0..usize::BITS)
        .map(|i| 1usize << i)
        .take_while(move |&n| n < max)
        .chain(core::iter::once(max))
}

/// What a benchmark's own page or mapping checks found: how many problems, and the first.
#[derive(Default)]
pub(crate) struct Tally {
    pub bad: usize,
    pub first_bad: Option<&'static str>,
}

impl Tally {
    pub fn fail(&mut self, why: &'static str) {
        self.bad += 1;
        self.first_bad = self.first_bad.or(Some(why));
    }

    /// Adds another tally's findings (`bad` problems, the first `why`).
    pub fn add(&mut self, bad: usize, why: Option<&'static str>) {
        self.bad += bad;
        self.first_bad = self.first_bad.or(why);
    }

    /// A `check` record named `name` that passes when nothing was found; its detail is
    /// `what` (e.g. how much was checked), the count and the first problem.
    pub fn check(&self, name: core::fmt::Arguments, what: core::fmt::Arguments) -> bool {
        let mut n = kernel_core::fmtbuf::FmtBuf::<96>::new();
        let _ = core::fmt::Write::write_fmt(&mut n, name);
        let mut d = kernel_core::fmtbuf::FmtBuf::<160>::new();
        let _ = core::fmt::Write::write_fmt(
            &mut d,
            format_args!(
                "{what}{} bad{}{}",
                self.bad,
                if self.first_bad.is_some() { ": " } else { "" },
                self.first_bad.unwrap_or("")
            ),
        );
        check(n.as_str(), self.bad == 0, d.as_str())
    }
}

/// A `check` record: a property the benchmark verified on its own results.
pub fn check(name: &str, pass: bool, detail: &str) -> bool {
    onscreen::note_check(pass);
    record!("check", |r| r
        .str("name", name)
        .bool("pass", pass)
        .str("detail", detail));
    if !pass {
        println!("bench: check {name} FAILED: {detail}");
    }
    pass
}

/// One benchmark group: its `bench=` name and what it runs. Returns false when a check failed.
pub struct Group {
    pub name: &'static str,
    pub run: fn(&Settings) -> bool,
}

/// Every group, in the order the suite runs them.
pub const GROUPS: &[Group] = &[
    Group {
        name: "floors",
        run: floors::run,
    },
    Group {
        name: "pf",
        run: pf::run_latency,
    },
    Group {
        name: "pf_throughput",
        run: pf::run_throughput,
    },
    Group {
        name: "pf_contention",
        run: contention::run,
    },
    Group {
        name: "shootdown",
        run: shootdown::run_sweep,
    },
    Group {
        name: "shootdown_phases",
        run: shootdown::run_phases_group,
    },
    Group {
        name: "shootdown_topology",
        run: shootdown::run_topology_group,
    },
    Group {
        name: "shootdown_concurrent",
        run: shootdown::run_concurrent_group,
    },
    Group {
        name: "shootdown_oracle",
        run: shootdown::run_oracle,
    },
];

const _: () = {
    // The command line's list of names must be exactly this table's.
    let names = kernel_core::cmdline::BENCHES;
    assert!(names.len() == GROUPS.len());
};

/// Run the selected groups; false if any check failed.
pub fn run(o: &Options) -> bool {
    let settings = Settings::from(o);
    RAW.store(o.bench.raw, Ordering::Relaxed);
    if tsc::hz() == 0 {
        // Every figure in ns, every timeout and delay needs the rate: refuse, never guess.
        println!("bench: error: the TSC rate is unknown; refusing to benchmark");
        record!("error", |r| r.str("kind", "bench").str(
            "message",
            "TSC rate unknown: no trustworthy clock, no benchmark"
        ));
        return false;
    }
    sys::mm::fault::init();
    sys::cpu::call::init();
    // The spinning loops' PAUSE cadence: each PAUSE is a turn of QEMU's round robin in the
    // deterministic mode (see `uspace::reads_per_pause`).
    sys::mm::uspace::set_pause_cadence(o.bench.deterministic);
    sys::mm::tlb::init();
    println!(
        "bench: {} samples, {} warm-up{}; TSC {} Hz ({}), fence {}",
        settings.samples,
        settings.warmup,
        if settings.quick { ", quick" } else { "" },
        tsc::hz(),
        tsc::source().name(),
        time::fence().name()
    );
    let mut ok = true;
    for (i, g) in GROUPS.iter().enumerate() {
        debug_assert_eq!(g.name, kernel_core::cmdline::BENCHES[i]);
        if !o.bench.selected(i) {
            continue;
        }
        println!("bench: group {}", g.name);
        record!("progress", |r| r.str("group", g.name));
        ok &= (g.run)(&settings);
    }
    onscreen::show(ok);
    ok
}

/// A `skip` record: a result that cannot be measured on this machine, and why.
pub fn skip(bench: &str, reason: &str) {
    record!("skip", |r| r.str("bench", bench).str("reason", reason));
    println!("bench: {bench} skipped: {reason}");
}

/// An error record for CPUs a benchmark leaves out because earlier work still runs on them.
pub(crate) fn skip_busy(bench: &str, busy: usize) {
    println!("bench: {bench}: {busy} CPU(s) still run earlier work (a timed-out group); left out");
    record!("error", |r| r
        .str("kind", "bench")
        .str("bench", bench)
        .u64("busy_cpus", busy as u64)
        .str(
            "message",
            "CPUs still running a timed-out group's work are left out"
        ));
}
