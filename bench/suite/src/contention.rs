//! Faults of many CPUs in one address space (`pf_contention`): N CPUs fault at once, from
//! ring 3, in the user space's shared fault region, on shared page tables, under one of the
//! concurrency controls of `sys::mm::fault::Control` (`pf_control=`).
//!
//! Layout of a timed round: CPU k of N faults 256 pages of its own page table (table k, from
//! page 512·k), so no two CPUs share a table, four share an 8 MiB region and all share the
//! space: the `table` lock and `cas` are never contended, the `region` lock by fours, the
//! `space` lock by all (at N = 2: table and cas against region and space). The BSP times the round on its own clock, from GO until
//! every CPU has finished (faults per second = N · 256 / that); each CPU times each of its
//! faults itself (per-fault latency, all CPUs' samples together).
//!
//! The check (`pf_contention_mapped_once/<control>`), after every timed round and after race
//! rounds in which every CPU faults the same 256 pages at once: every page mapped exactly
//! once (the kernel counts its mappings), to its own frame, zero but the written word, user;
//! every frame back at the release. The negative control `none` (no lock) maps a page twice
//! when two CPUs fault it at once: its check must fail (TCG with 4 CPUs shows it).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_core::cpuset::CpuSet;
use kernel_core::paging::{PTE_ADDR_MASK, PTE_P, PTE_US};
use kernel_core::uspace as ul;

use sys::arch::tsc;
use sys::arch::user::{Exit, UserAccess};
use sys::cpu::{call as work, smp};
use sys::mm::PAGE_SIZE;
use sys::mm::fault::{self as demand, Control};
use sys::mm::probe::Word;
use sys::mm::uspace::{self, Program, programs};
use sys::{println, record};

use super::{Kind, P, SAMPLES, Settings, Tally, emit, ring3};

/// Pages each CPU faults in a timed round: half of its own page table.
const PAGES_PER_CPU: u64 = 256;
/// Pages one page table maps: CPU k's pages start at `TABLE_PAGES * k`.
const TABLE_PAGES: u64 = 512;
/// The most CPUs a round has room for in the region (one page table each).
const MAX_CPUS: usize = (ul::SHARED_FAULT_PAGES / TABLE_PAGES) as usize;
/// Untimed rounds in which every CPU faults the same pages (per control and CPU count).
const RACE_ROUNDS: usize = 8;
/// The value the user program writes into the i-th page it touches.
const MAGIC: u64 = programs::PF_MAGIC;

static GO: AtomicBool = AtomicBool::new(false);
static READY: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicU64 = AtomicU64::new(0);
/// CPUs whose user program did not end as expected.
static FAILED: AtomicU64 = AtomicU64::new(0);
/// This round: every CPU faults the first 256 pages (race) instead of its own.
static RACE: AtomicBool = AtomicBool::new(false);

/// First page (index in the region) and page count of CPU slot `k`'s faults this round.
fn plan(k: u64) -> (u64, u64) {
    if RACE.load(Ordering::Acquire) {
        (0, PAGES_PER_CPU)
    } else {
        (k * TABLE_PAGES, PAGES_PER_CPU)
    }
}

/// The pages (indices in the region) a round of `cpus` CPUs touches.
fn touched(cpus: usize, race: bool) -> impl Iterator<Item = u64> {
    let tables = if race { 1 } else { cpus as u64 };
    (0..tables).flat_map(|k| (0..PAGES_PER_CPU).map(move |i| k * TABLE_PAGES + i))
}

/// One CPU's share of a round (slot `k`; the BSP is slot 0): load the user space, say ready,
/// wait for GO, run the fault loop, say finished. Its samples stay in its user sample
/// buffer for the BSP to read.
fn share(k: u64) {
    let _irq = percpu::IrqGuard::new();
    let _space = uspace::activate();
    let (first, count) = plan(k);
    let va = ring3::sample_buffer(count * 8);
    let flags = programs::timing_flags() | programs::stride_flags(1);
    READY.fetch_add(1, Ordering::AcqRel);
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let start = ul::SHARED_FAULTS + first * PAGE_SIZE;
    let exit = uspace::run(Program::PfLoop, [start, count, va, flags], false);
    if exit != Exit::Exited(count) {
        FAILED.fetch_add(1, Ordering::AcqRel);
    }
    FINISHED.fetch_add(1, Ordering::AcqRel);
}

fn worker(k: u64) {
    share(k);
}

/// Run one round on `cpus` CPUs (the BSP and `cpus - 1` helpers): the BSP's wall time of the
/// faults, or None when a CPU did not take part or finish (an error record says which).
fn round(helpers: &CpuSet, cpus: usize) -> Option<u64> {
    GO.store(false, Ordering::Release);
    READY.store(0, Ordering::Release);
    FINISHED.store(0, Ordering::Release);
    for (k, cpu) in helpers.iter().enumerate() {
        if let Err(e) = work::post(cpu, worker, k as u64 + 1) {
            println!("bench: pf_contention: cpu {cpu}: {e}");
            error("a CPU could not take its share of the faults");
            return None;
        }
    }
    let timeout = tsc::hz() * 60;
    let t_ready = tsc::rdtsc();
    while READY.load(Ordering::Acquire) < helpers.len() as u64 {
        if tsc::rdtsc() - t_ready > timeout {
            error("a CPU did not get ready within 60 s");
            return None;
        }
        core::hint::spin_loop();
    }
    // The BSP's own share, timed on its clock from GO until every CPU has finished.
    let (wall, late) = {
        let _irq = percpu::IrqGuard::new();
        let _space = uspace::activate();
        let (first, count) = plan(0);
        let va = ring3::sample_buffer(count * 8);
        let flags = programs::timing_flags() | programs::stride_flags(1);
        READY.fetch_add(1, Ordering::AcqRel);
        let t0 = tsc::rdtsc();
        GO.store(true, Ordering::Release);
        let exit = uspace::run(
            Program::PfLoop,
            [ul::SHARED_FAULTS + first * PAGE_SIZE, count, va, flags],
            false,
        );
        if exit != Exit::Exited(count) {
            FAILED.fetch_add(1, Ordering::AcqRel);
        }
        FINISHED.fetch_add(1, Ordering::AcqRel);
        let mut late = false;
        while FINISHED.load(Ordering::Acquire) < cpus as u64 {
            if tsc::rdtsc() - t0 > timeout {
                late = true;
                break;
            }
            core::hint::spin_loop();
        }
        (tsc::rdtsc() - t0, late)
    };
    for cpu in helpers.iter() {
        if late || !work::wait(cpu, 60_000) {
            error("a CPU did not finish its faults within 60 s");
            return None;
        }
    }
    Some(wall)
}

fn error(message: &'static str) {
    record!("error", |r| r
        .str("kind", "bench")
        .str("bench", "pf_contention")
        .str("message", message));
}

/// Check the region after a round of `cpus` CPUs and release it (no CPU has the user space
/// loaded any more: every share has returned).
fn verify_and_release(cpus: usize, race: bool, t: &mut Tally) {
    let pages = if race {
        PAGES_PER_CPU
    } else {
        cpus as u64 * PAGES_PER_CPU
    };
    if demand::SHARED_MAPS.swap(0, Ordering::AcqRel) != pages {
        t.fail("a page was mapped more or less than once");
    }
    demand::SHARED_RETRIES.store(0, Ordering::Relaxed);
    {
        let _irq = percpu::IrqGuard::new();
        let _space = uspace::activate();
        let _ua = UserAccess::begin();
        let zero = demand::zero_frame_phys();
        for p in touched(cpus, race) {
            let va = ul::SHARED_FAULTS + p * PAGE_SIZE;
            let pte = demand::shared_pte(va);
            if pte & (PTE_P | PTE_US) != PTE_P | PTE_US || pte & PTE_ADDR_MASK == zero {
                t.fail("a touched page is not mapped to a private user frame");
                continue;
            }
            // Page p is the (p mod 512)-th page its CPU touched; the rest of it is zero.
            let want = MAGIC + p % TABLE_PAGES;
            if Word::at(va).read() != want || Word::at(va + 8).read() != 0 {
                t.fail("a page does not hold what its CPU wrote");
            }
        }
    }
    if demand::shared_release() != pages {
        t.fail("the release found a different number of mapped pages");
    }
}

/// The per-fault samples of every CPU of the last round into `out` from `at`; returns the
/// new end.
fn collect(cpus: &[usize], out: &mut [u64], mut at: usize) -> usize {
    let _irq = percpu::IrqGuard::new();
    let _space = uspace::activate();
    let mut one = [0u64; 1];
    for &cpu in cpus {
        let va = ul::samples(cpu as u64);
        for i in 0..PAGES_PER_CPU as usize {
            if at == out.len() {
                return at;
            }
            ring3::copy_from_user(va + i as u64 * 8, 1, &mut one);
            out[at] = one[0];
            at += 1;
        }
    }
    at
}

pub fn run(s: &Settings) -> bool {
    let aps = work::available_aps();
    let avail = (aps.len() + 1).min(MAX_CPUS);
    let max = s.opts.cpus.map_or(avail, |c| (c as usize).min(avail));
    if aps.len() + 1 < smp::online_count() {
        super::skip_busy("pf_contention", smp::online_count() - aps.len() - 1);
    }
    let rounds = if s.quick { 3 } else { 10 };
    let me = sys::arch::cpu_id() as usize;
    let mut ok = true;
    let mut buf = SAMPLES.lock();
    let mut rates = [0u64; 16];
    for control in Control::ALL {
        if !s.opts.pf_control_selected(control as usize) {
            continue;
        }
        demand::shared_enable(control);
        let mut t = Tally::default();
        for cpus in super::cpu_counts(max) {
            let helpers = aps.first(cpus - 1);
            let mut ids = [0usize; MAX_CPUS];
            ids[0] = me;
            for (i, c) in helpers.iter().enumerate() {
                ids[i + 1] = c;
            }
            let (mut kept, mut nrates) = (0, 0);
            // Race rounds first (untimed): every CPU faults the same pages at once.
            if cpus > 1 {
                RACE.store(true, Ordering::Release);
                for _ in 0..RACE_ROUNDS {
                    if round(&helpers, cpus).is_none() {
                        demand::shared_disable();
                        return false;
                    }
                    verify_and_release(cpus, true, &mut t);
                }
                RACE.store(false, Ordering::Release);
            }
            for r in 0..rounds + 1 {
                let Some(wall) = round(&helpers, cpus) else {
                    demand::shared_disable();
                    return false;
                };
                if r > 0 {
                    // Round 0 warms the frame caches and the code.
                    kept = collect(&ids[..cpus], &mut buf[..], kept);
                    rates[nrates] = (cpus as u128 * PAGES_PER_CPU as u128 * tsc::hz() as u128
                        / wall.max(1) as u128) as u64;
                    nrates += 1;
                }
                verify_and_release(cpus, false, &mut t);
            }
            if FAILED.swap(0, Ordering::AcqRel) != 0 {
                t.fail("a CPU's user program did not end as expected");
            }
            let params = [
                ("control", P::S(control.name())),
                ("cpus", P::U(cpus as u64)),
                ("pages_per_cpu", P::U(PAGES_PER_CPU)),
            ];
            emit(
                "pf_contention",
                Kind::Workload,
                &params,
                "cycles",
                0,
                &mut buf[..kept],
            );
            emit(
                "pf_contention_rate",
                Kind::Workload,
                &params,
                "faults_per_s",
                1,
                &mut rates[..nrates],
            );
        }
        demand::shared_disable();
        ok &= t.check(
            format_args!("pf_contention_mapped_once/{}", control.name()),
            format_args!(""),
        );
    }
    ok
}
