//! Whether the online CPUs' TSCs agree: a cross-CPU timestamp is meaningful only then.
//!
//! The check is Linux's warp test (`check_tsc_warp`): two CPUs take turns, under a lock,
//! reading the TSC and comparing it with the last value either read; a value below the
//! previous one is a warp, and its size bounds the skew. The BSP runs it with a sample of the
//! APs (every AP up to [`MAX_CHECKED`], else ones spread over the logical ids, the last
//! included). IA32_TSC_ADJUST, where the CPU has it, is read on the same CPUs: firmware that
//! writes different values skews the TSCs on purpose. The `context` record carries both.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_core::cpuset::CpuSet;

use crate::arch::{cpu, tsc};
use crate::cpu::{call as work, smp};

/// APs checked against the BSP at most (each check is a few thousand lock hand-offs).
const MAX_CHECKED: usize = 8;
/// Lock hand-offs per CPU and check.
const ROUNDS: u64 = 1000;
/// IA32_TSC_ADJUST (Intel SDM vol. 4, MSR 3BH), present when CPUID.(EAX=7,ECX=0):EBX[1].
use crate::arch::regs::IA32_TSC_ADJUST;

static LOCK: AtomicBool = AtomicBool::new(false);
static LAST: AtomicU64 = AtomicU64::new(0);
static WARPS: AtomicU64 = AtomicU64::new(0);
static MAX_WARP: AtomicU64 = AtomicU64::new(0);
static GO: AtomicBool = AtomicBool::new(false);
static READY: AtomicBool = AtomicBool::new(false);
static AP_ADJUST: AtomicU64 = AtomicU64::new(0);

/// What the check found.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sync {
    /// APs checked against the BSP (0: nothing to compare, one CPU online).
    pub cpus_checked: u64,
    /// Backward steps seen, and the largest (TSC ticks).
    pub warps: u64,
    pub max_warp: u64,
    /// IA32_TSC_ADJUST: None when the CPU has no such MSR; else whether every checked CPU
    /// had the BSP's value, and that value.
    pub adjust: Option<(bool, u64)>,
}

impl Sync {
    pub fn synchronised(&self) -> bool {
        self.warps == 0 && self.adjust.is_none_or(|(same, _)| same)
    }
}

static RESULT: spin::Once<Sync> = spin::Once::new();

fn has_tsc_adjust() -> bool {
    raw_cpuid::cpuid!(0).eax >= 7 && raw_cpuid::cpuid!(7, 0).ebx & (1 << 1) != 0
}

fn warp_loop() {
    for _ in 0..ROUNDS {
        while LOCK
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let now = crate::arch::tsc::start();
        let prev = LAST.load(Ordering::Relaxed);
        if now < prev {
            WARPS.fetch_add(1, Ordering::Relaxed);
            MAX_WARP.fetch_max(prev - now, Ordering::Relaxed);
        }
        LAST.store(now, Ordering::Relaxed);
        LOCK.store(false, Ordering::Release);
        // Let the other CPU take the lock (PAUSE also hands over the vCPU under TCG).
        core::hint::spin_loop();
    }
}

fn ap_side(_: u64) {
    if has_tsc_adjust() {
        AP_ADJUST.store(cpu::rdmsr(IA32_TSC_ADJUST), Ordering::Relaxed);
    }
    READY.store(true, Ordering::Release);
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    warp_loop();
}

/// The APs to check: all of them up to MAX_CHECKED, else a spread including the last.
fn sample(aps: &CpuSet) -> CpuSet {
    let n = aps.len();
    if n <= MAX_CHECKED {
        return *aps;
    }
    aps.iter()
        .enumerate()
        .filter(|(i, _)| i * (MAX_CHECKED - 1) % (n - 1) < MAX_CHECKED - 1 || *i == n - 1)
        .map(|(_, c)| c)
        .take(MAX_CHECKED)
        .collect()
}

/// Run the check once (BSP, after bring-up); later calls return the first result.
pub fn check() -> Sync {
    *RESULT.call_once(|| {
        let _irq = percpu::IrqGuard::new();
        let adjust_bsp = has_tsc_adjust().then(|| cpu::rdmsr(IA32_TSC_ADJUST));
        let mut same_adjust = true;
        let mut checked = 0;
        let mut aps = smp::online_set();
        aps.remove(0);
        for ap in sample(&aps).iter() {
            READY.store(false, Ordering::Release);
            GO.store(false, Ordering::Release);
            if work::post(ap, ap_side, 0).is_err() {
                continue;
            }
            let deadline = tsc::rdtsc() + tsc::hz().max(1_000_000);
            while !READY.load(Ordering::Acquire) && tsc::rdtsc() < deadline {
                core::hint::spin_loop();
            }
            if !READY.load(Ordering::Acquire) {
                continue;
            }
            LAST.store(0, Ordering::Relaxed);
            GO.store(true, Ordering::Release);
            warp_loop();
            if !work::wait(ap, 1000) {
                continue;
            }
            checked += 1;
            if let Some(b) = adjust_bsp {
                same_adjust &= AP_ADJUST.load(Ordering::Relaxed) == b;
            }
        }
        Sync {
            cpus_checked: checked,
            warps: WARPS.load(Ordering::Relaxed),
            max_warp: MAX_WARP.load(Ordering::Relaxed),
            adjust: adjust_bsp.map(|b| (same_adjust, b)),
        }
    })
}

/// The result of `check`, if it ran.
pub fn result() -> Option<Sync> {
    RESULT.get().copied()
}
