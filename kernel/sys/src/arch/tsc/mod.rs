//! The time-stamp counter: reads and frequency.
//!
//! Frequency, in order of preference: CPUID leaf 0x15 when all three fields are filled
//! (Intel SDM vol. 3B, 18.7.3), the hypervisor leaf 0x40000010 (TSC kHz, offered by KVM with
//! invtsc), else calibration against the PIT's channel 2 (8254, 1.193182 MHz).

pub mod serialized;

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::cpu::features;
use super::port::{inb, outb};
pub use serialized::{Fence, fence, has_rdtscp, init_fence, init_this_cpu, start, stop};

#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects (CR4.TSD is clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Source {
    Unknown = 0,
    CpuidLeaf15 = 1,
    HypervisorLeaf = 2,
    Pit = 3,
    /// CPUID 0x15 ratio with the crystal derived from CPUID 0x16's base frequency.
    CpuidLeaf15And16 = 4,
    AcpiPmTimer = 5,
    Hpet = 6,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Unknown => "unknown",
            Source::CpuidLeaf15 => "cpuid_0x15",
            Source::HypervisorLeaf => "cpuid_0x40000010",
            Source::Pit => "pit",
            Source::CpuidLeaf15And16 => "cpuid_0x15_0x16",
            Source::AcpiPmTimer => "acpi_pm_timer",
            Source::Hpet => "hpet",
        }
    }
}

static HZ: AtomicU64 = AtomicU64::new(0);
static SOURCE: AtomicU8 = AtomicU8::new(0);

pub fn hz() -> u64 {
    HZ.load(Ordering::Relaxed)
}

pub fn source() -> Source {
    source_of(SOURCE.load(Ordering::Relaxed))
}

fn source_of(v: u8) -> Source {
    match v {
        1 => Source::CpuidLeaf15,
        2 => Source::HypervisorLeaf,
        3 => Source::Pit,
        4 => Source::CpuidLeaf15And16,
        5 => Source::AcpiPmTimer,
        6 => Source::Hpet,
        _ => Source::Unknown,
    }
}

/// Hypervisor CPUID leaf with the TSC frequency in kHz in EAX (VMware/KVM convention).
const CPUID_HV_TIMING: u32 = 0x4000_0010;

/// Determine the TSC frequency once, on the BSP.
/// A fixed-rate counter to calibrate the TSC against: its frequency, the counter's width
/// mask, and how to read it.
pub struct RefTimer<'a> {
    pub hz: u64,
    pub mask: u64,
    pub read: &'a dyn Fn() -> u64,
}

/// Which way to get the TSC rate (`tsc_calibration=`): the first that works in order, or one
/// forced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Method {
    Auto,
    Force(Source),
}

/// Set the TSC rate: CPUID 0x15 when all its fields are filled (or with the crystal derived
/// from CPUID 0x16, as on Intel parts whose 0x15 leaves it out), else the hypervisor's timing
/// leaf 0x40000010, else a calibration against the ACPI PM timer, the HPET, or the PIT (which
/// a modern machine may lack). `pm`/`hpet`: the fixed timers ACPI describes.
pub fn init(method: Method, pm: Option<&RefTimer>, hpet: Option<&RefTimer>) {
    let f = features();
    let (den, num, crystal) = f.tsc_leaf_15;
    let leaf15 = (den != 0 && num != 0 && crystal != 0).then(|| {
        (
            crystal as u64 * num as u64 / den as u64,
            Source::CpuidLeaf15,
        )
    });
    // SDM vol. 3B 19.7.3 / Linux's native_calibrate_tsc: crystal = base MHz × den / num.
    let leaf15_16 = (den != 0 && num != 0 && crystal == 0 && raw_cpuid::cpuid!(0).eax >= 0x16)
        .then(|| raw_cpuid::cpuid!(0x16).eax as u64)
        .filter(|&mhz| mhz != 0)
        .map(|mhz| {
            let crystal = mhz * 1_000_000 * den as u64 / num as u64;
            (crystal * num as u64 / den as u64, Source::CpuidLeaf15And16)
        });
    let hv = (f.hypervisor.is_some()
        && f.hypervisor_max_leaf >= CPUID_HV_TIMING
        && raw_cpuid::cpuid!(CPUID_HV_TIMING).eax != 0)
        .then(|| {
            (
                raw_cpuid::cpuid!(CPUID_HV_TIMING).eax as u64 * 1000,
                Source::HypervisorLeaf,
            )
        });
    let pm_cal = || {
        pm.and_then(calibrate_against)
            .map(|hz| (hz, Source::AcpiPmTimer))
    };
    let hpet_cal = || {
        hpet.and_then(calibrate_against)
            .map(|hz| (hz, Source::Hpet))
    };
    let pit_cal = || calibrate_pit().map(|hz| (hz, Source::Pit));
    let chosen = match method {
        Method::Auto => leaf15
            .or(leaf15_16)
            .or(hv)
            .or_else(pm_cal)
            .or_else(hpet_cal)
            .or_else(pit_cal),
        Method::Force(Source::AcpiPmTimer) => pm_cal(),
        Method::Force(Source::Hpet) => hpet_cal(),
        Method::Force(Source::Pit) => pit_cal(),
        Method::Force(Source::CpuidLeaf15) => leaf15.or(leaf15_16),
        Method::Force(_) => hv,
    };
    let chosen = chosen.filter(|(hz, src)| {
        let ok = PLAUSIBLE_HZ.contains(hz);
        if !ok {
            REJECTED.store(*hz, Ordering::Relaxed);
            REJECTED_SOURCE.store(*src as u8, Ordering::Relaxed);
        }
        ok
    });
    // A rate stated by CPUID (leaf 0x15/0x16 or a hypervisor's leaf) is checked against a
    // fixed timer where there is one: an emulator may copy a real part's leaves while its
    // TSC ticks at another rate (Bochs), and a wrong rate would scale every figure.
    let chosen = match chosen {
        Some((hz, src))
            if method == Method::Auto
                && matches!(
                    src,
                    Source::CpuidLeaf15 | Source::CpuidLeaf15And16 | Source::HypervisorLeaf
                ) =>
        {
            match pm_cal().or_else(hpet_cal) {
                Some((m, msrc))
                    if PLAUSIBLE_HZ.contains(&m)
                        && m.abs_diff(hz) * 100 > hz * CPUID_TOLERANCE_PCT =>
                {
                    REJECTED.store(hz, Ordering::Relaxed);
                    REJECTED_SOURCE.store(src as u8, Ordering::Relaxed);
                    Some((m, msrc))
                }
                _ => Some((hz, src)),
            }
        }
        other => other,
    };
    let (hz, src) = chosen.unwrap_or((0, Source::Unknown));
    HZ.store(hz, Ordering::Relaxed);
    SOURCE.store(src as u8, Ordering::Relaxed);
}

/// How far (percent) a CPUID-stated rate may be from a fixed timer's before the timer wins.
const CPUID_TOLERANCE_PCT: u64 = 5;

/// A rate `init` found and refused (implausible, or a CPUID rate the fixed timers
/// contradict), and its source; 0 when none was refused.
static REJECTED: AtomicU64 = AtomicU64::new(0);
static REJECTED_SOURCE: AtomicU8 = AtomicU8::new(0);

/// The rate `init` refused and where it came from, if any.
pub fn rejected() -> Option<(u64, Source)> {
    let hz = REJECTED.load(Ordering::Relaxed);
    (hz != 0).then(|| (hz, source_of(REJECTED_SOURCE.load(Ordering::Relaxed))))
}

/// Window of one calibration against a fixed timer.
const REF_WINDOW_MS: u64 = 10;
const REF_ATTEMPTS: usize = 5;

/// TSC ticks per second measured against `t`: TSC and reference over about 10 ms, five
/// times, the median. None if the reference does not move.
pub fn calibrate_against(t: &RefTimer) -> Option<u64> {
    let window = (t.hz * REF_WINDOW_MS / 1000).min(t.mask / 2);
    let mut samples = [0u64; REF_ATTEMPTS];
    for s in samples.iter_mut() {
        let r0 = (t.read)() & t.mask;
        let c0 = rdtsc();
        // Bounded: a reference that never advances gives up after about 2^32 TSC ticks.
        let mut elapsed = 0;
        while elapsed < window {
            elapsed = ((t.read)().wrapping_sub(r0)) & t.mask;
            if rdtsc().wrapping_sub(c0) > 1 << 32 {
                return None;
            }
        }
        let c1 = rdtsc();
        *s = ((c1 - c0) as u128 * t.hz as u128 / elapsed as u128) as u64;
    }
    samples.sort_unstable();
    Some(samples[REF_ATTEMPTS / 2])
}

const PIT_FREQUENCY_HZ: u64 = 1_193_182;
const PIT_CH2_DATA: u16 = 0x42;
const PIT_MODE_COMMAND: u16 = 0x43;
/// Channel 2, access lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
const PIT_CH2_MODE0_LOHI: u8 = 0b1011_0000;
/// Channel 2, counter latch command (the count is frozen until both bytes are read).
const PIT_CH2_LATCH: u8 = 0b1000_0000;
/// NMI status and control port: bit 0 gates channel 2, bit 1 enables the speaker.
const PORT_NMI_SC: u16 = 0x61;
const NMI_SC_CH2_GATE: u8 = 1 << 0;
const NMI_SC_SPEAKER: u8 = 1 << 1;

/// Plausible TSC rates: anything outside is a broken source (an unbacked port reads 0xFF, a
/// CPUID leaf copied from another part), never a real clock. The lower bound admits
/// emulators that tick the TSC per instruction (Bochs at 50 MIPS).
pub const PLAUSIBLE_HZ: core::ops::RangeInclusive<u64> = 10_000_000..=20_000_000_000;

/// Calibrate against the PIT's channel 2, read as a counter: started at 0xFFFF in mode 0,
/// it counts down at 1.193182 MHz and wraps, and each read latches the count. The TSC and the
/// count are read together at both ends of each window, like the other fixed timers, so a
/// window that is observed late (a preempted vCPU, an SMI) is measured, not assumed: the
/// method corrects itself. None when the PIT does not count (absent, or an unbacked port
/// that reads 0xFF).
pub fn calibrate_pit() -> Option<u64> {
    let ctl = inb(PORT_NMI_SC);
    outb(PORT_NMI_SC, (ctl & !NMI_SC_SPEAKER) & !NMI_SC_CH2_GATE);
    outb(PIT_MODE_COMMAND, PIT_CH2_MODE0_LOHI);
    outb(PIT_CH2_DATA, 0xFF);
    outb(PIT_CH2_DATA, 0xFF);
    outb(PORT_NMI_SC, (ctl & !NMI_SC_SPEAKER) | NMI_SC_CH2_GATE);
    let read = || {
        outb(PIT_MODE_COMMAND, PIT_CH2_LATCH);
        let lo = inb(PIT_CH2_DATA) as u64;
        let hi = inb(PIT_CH2_DATA) as u64;
        // Counts down: turn it into a counter that goes up.
        0xFFFF - (hi << 8 | lo)
    };
    let t = RefTimer {
        hz: PIT_FREQUENCY_HZ,
        mask: 0xFFFF,
        read: &read,
    };
    let hz = calibrate_against(&t);
    outb(PORT_NMI_SC, ctl);
    hz
}

/// Busy-wait for `us` microseconds (needs `init`).
pub fn delay_us(us: u64) {
    let hz = hz().max(1_000_000);
    let end = rdtsc() + hz / 1_000_000 * us;
    while rdtsc() < end {
        core::hint::spin_loop();
    }
}
