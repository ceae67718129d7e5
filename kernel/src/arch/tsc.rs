//! The time-stamp counter: reads and frequency.
//!
//! Frequency, in order of preference: CPUID leaf 0x15 when all three fields are filled
//! (Intel SDM vol. 3B, 18.7.3), the hypervisor leaf 0x40000010 (TSC kHz, offered by KVM with
//! invtsc), else calibration against the PIT's channel 2 (8254, 1.193182 MHz).

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::cpu::features;
use super::port::{inb, outb};

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
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Unknown => "unknown",
            Source::CpuidLeaf15 => "cpuid_0x15",
            Source::HypervisorLeaf => "cpuid_0x40000010",
            Source::Pit => "pit",
        }
    }
}

static HZ: AtomicU64 = AtomicU64::new(0);
static SOURCE: AtomicU8 = AtomicU8::new(0);

pub fn hz() -> u64 {
    HZ.load(Ordering::Relaxed)
}

pub fn source() -> Source {
    match SOURCE.load(Ordering::Relaxed) {
        1 => Source::CpuidLeaf15,
        2 => Source::HypervisorLeaf,
        3 => Source::Pit,
        _ => Source::Unknown,
    }
}

/// Hypervisor CPUID leaf with the TSC frequency in kHz in EAX (VMware/KVM convention).
const CPUID_HV_TIMING: u32 = 0x4000_0010;

/// Determine the TSC frequency once, on the BSP.
pub fn init() {
    let f = features();
    let (den, num, crystal) = f.tsc_leaf_15;
    let (hz, src) = if den != 0 && num != 0 && crystal != 0 {
        (
            crystal as u64 * num as u64 / den as u64,
            Source::CpuidLeaf15,
        )
    } else if f.hypervisor.is_some()
        && f.hypervisor_max_leaf >= CPUID_HV_TIMING
        && raw_cpuid::cpuid!(CPUID_HV_TIMING).eax != 0
    {
        (
            raw_cpuid::cpuid!(CPUID_HV_TIMING).eax as u64 * 1000,
            Source::HypervisorLeaf,
        )
    } else {
        match calibrate_pit() {
            Some(hz) => (hz, Source::Pit),
            None => (0, Source::Unknown),
        }
    };
    HZ.store(hz, Ordering::Relaxed);
    SOURCE.store(src as u8, Ordering::Relaxed);
}

// 8254 PIT (Intel 82C54 datasheet; PC/AT port assignments).
const PIT_FREQUENCY_HZ: u64 = 1_193_182;
const PIT_CH2_DATA: u16 = 0x42;
const PIT_MODE_COMMAND: u16 = 0x43;
/// Channel 2, access lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
const PIT_CH2_MODE0_LOHI: u8 = 0b1011_0000;
/// NMI status and control port: bit 0 gates channel 2, bit 1 enables the speaker,
/// bit 5 reads channel 2's output.
const PORT_NMI_SC: u16 = 0x61;
const NMI_SC_CH2_GATE: u8 = 1 << 0;
const NMI_SC_SPEAKER: u8 = 1 << 1;
const NMI_SC_CH2_OUT: u8 = 1 << 5;
/// Calibration window per attempt.
const PIT_WINDOW_MS: u64 = 10;
const PIT_ATTEMPTS: usize = 5;

/// Count TSC ticks over a PIT channel-2 countdown; the median of a few windows. None when the
/// PIT does not count (absent on some modern machines).
fn calibrate_pit() -> Option<u64> {
    let latch = PIT_FREQUENCY_HZ * PIT_WINDOW_MS / 1000;
    let mut samples = [0u64; PIT_ATTEMPTS];
    for s in samples.iter_mut() {
        let ctl = inb(PORT_NMI_SC);
        outb(PORT_NMI_SC, (ctl & !NMI_SC_SPEAKER) & !NMI_SC_CH2_GATE);
        outb(PIT_MODE_COMMAND, PIT_CH2_MODE0_LOHI);
        outb(PIT_CH2_DATA, latch as u8);
        outb(PIT_CH2_DATA, (latch >> 8) as u8);
        outb(PORT_NMI_SC, (ctl & !NMI_SC_SPEAKER) | NMI_SC_CH2_GATE);
        let t0 = rdtsc();
        // A bound of 5e9 ticks (0.5 s at 10 GHz, 5 s at 1 GHz): a PIT that never fires ends it.
        let limit = t0 + 5_000_000_000;
        loop {
            if inb(PORT_NMI_SC) & NMI_SC_CH2_OUT != 0 {
                break;
            }
            if rdtsc() > limit {
                return None;
            }
        }
        *s = rdtsc() - t0;
    }
    samples.sort_unstable();
    let ticks = samples[PIT_ATTEMPTS / 2];
    Some(ticks * 1000 / PIT_WINDOW_MS)
}

/// Busy-wait for `us` microseconds (needs `init`).
pub fn delay_us(us: u64) {
    let hz = hz().max(1_000_000);
    let end = rdtsc() + hz / 1_000_000 * us;
    while rdtsc() < end {
        core::hint::spin_loop();
    }
}
