//! The fixed-rate timers the TSC is calibrated against on machines that do not state its
//! rate: the ACPI PM timer (3.579545 MHz, 24 or 32 bits, in I/O space or memory) and the HPET
//! (its period in femtoseconds in its capabilities register). Both come from ACPI tables.

use kernel_core::acpi::{PmTimer, PmTimerAddress};
use kernel_core::bootinfo::BootInfo;
use kernel_core::cmdline::TscCalibration;
use kernel_core::paging::CacheMode;

use crate::arch::port;
use crate::arch::tsc::{self, Method, RefTimer, Source};
use crate::platform::acpi as acpi_glue;
use crate::{mm, println};

/// ACPI PM timer frequency (ACPI 6.5, 4.8.3.3).
const PM_TIMER_HZ: u64 = 3_579_545;
// HPET registers (IA-PC HPET specification 1.0a, 2.3).
const HPET_GENERAL_CAPABILITIES: u64 = 0x000;
const HPET_GENERAL_CONFIG: u64 = 0x010;
const HPET_MAIN_COUNTER: u64 = 0x0F0;
const HPET_CONFIG_ENABLE: u64 = 1 << 0;
const HPET_CAP_COUNT_SIZE_64: u64 = 1 << 13;
const HPET_REGISTERS_LEN: u64 = 0x400;
const FEMTOSECONDS_PER_SECOND: u128 = 1_000_000_000_000_000;

/// A counter register and how to read it.
#[derive(Clone, Copy)]
enum Counter {
    Port(u16),
    Mmio32(u64),
    Mmio64(u64),
}

impl Counter {
    fn read(self) -> u64 {
        match self {
            Counter::Port(p) => port::inl(p) as u64,
            // SAFETY: the address is a timer's counter register, mapped uncacheable by
            // `pm_counter`/`hpet_counter`.
            Counter::Mmio32(a) => unsafe { (a as *const u32).read_volatile() as u64 },
            // SAFETY: as above.
            Counter::Mmio64(a) => unsafe { (a as *const u64).read_volatile() },
        }
    }
}

/// A reference timer: its counter, its width mask and its rate.
type Timer = (Counter, u64, u64);

/// Set the TSC rate with the method of the command line (see `tsc::init`).
pub fn init(info: &BootInfo, how: TscCalibration) {
    let (pm, hpet) = acpi_glue::fixed_timers(info);
    let timers = (pm.map(pm_counter), hpet.and_then(hpet_counter));
    TIMERS.call_once(|| timers);
    let method = match how {
        TscCalibration::Auto => Method::Auto,
        TscCalibration::Cpuid => Method::Force(Source::CpuidLeaf15),
        TscCalibration::Hypervisor => Method::Force(Source::HypervisorLeaf),
        TscCalibration::PmTimer => Method::Force(Source::AcpiPmTimer),
        TscCalibration::Hpet => Method::Force(Source::Hpet),
        TscCalibration::Pit => Method::Force(Source::Pit),
    };
    with_ref(timers.0, |pm| {
        with_ref(timers.1, |hpet| tsc::init(method, pm, hpet))
    });
    if tsc::hz() == 0 && method != Method::Auto {
        // The machine lacks what the command line asked for: say so, then find the rate the
        // usual way so the run still means something.
        let name = TscCalibration::NAMES[how as usize];
        println!("clock: error: tsc_calibration={name}: this machine has no such source");
        crate::record!("error", |r| r
            .str("kind", "clock")
            .str("message", "the tsc_calibration source is not available")
            .str("source", name));
        with_ref(timers.0, |pm| {
            with_ref(timers.1, |hpet| tsc::init(Method::Auto, pm, hpet))
        });
    }
    if let Some((hz, src)) = tsc::rejected() {
        println!(
            "clock: error: TSC rate {hz} Hz from {} refused (implausible, or contradicted by a \
             fixed timer); using {} Hz from {}",
            src.name(),
            tsc::hz(),
            tsc::source().name()
        );
        crate::record!("error", |r| r
            .str("kind", "clock")
            .str("message", "a TSC rate source was refused")
            .str("source", src.name())
            .u64("refused_hz", hz));
    }
    if tsc::hz() == 0 {
        println!("clock: error: no way to find the TSC rate (no CPUID leaf, timer or PIT)");
        crate::record!("error", |r| r
            .str("kind", "clock")
            .str("message", "TSC rate unknown"));
    }
}

/// Call `f` with the timer as a `RefTimer` (None stays None).
fn with_ref<R>(t: Option<Timer>, f: impl FnOnce(Option<&RefTimer>) -> R) -> R {
    match t {
        Some((c, mask, hz)) => {
            let read = move || c.read();
            f(Some(&RefTimer {
                hz,
                mask,
                read: &read,
            }))
        }
        None => f(None),
    }
}

/// The timers `init` found (PM timer, HPET), for the self-test that compares them.
static TIMERS: spin::Once<(Option<Timer>, Option<Timer>)> = spin::Once::new();

fn pm_counter(t: PmTimer) -> Timer {
    let mask = if t.is_32bit { 0xFFFF_FFFF } else { 0xFF_FFFF };
    let c = match t.address {
        PmTimerAddress::Io(port) => Counter::Port(port),
        PmTimerAddress::Memory(phys) => {
            Counter::Mmio32(mm::map_device(phys, 4, CacheMode::Uncacheable))
        }
    };
    (c, mask, PM_TIMER_HZ)
}

/// The HPET's main counter, its mask and rate; the counter is started if it was not.
fn hpet_counter(phys: u64) -> Option<Timer> {
    let base = mm::map_device(phys, HPET_REGISTERS_LEN, CacheMode::Uncacheable);
    let reg = |off: u64| (base + off) as *mut u64;
    // SAFETY: the HPET's register block, mapped uncacheable; 64-bit accesses are allowed.
    let caps = unsafe { reg(HPET_GENERAL_CAPABILITIES).read_volatile() };
    let period_fs = caps >> 32;
    if period_fs == 0 || period_fs > 100_000_000 {
        println!("clock: HPET at {phys:#x} reports period {period_fs} fs; not used");
        return None;
    }
    // SAFETY: as above; setting ENABLE_CNF only starts the main counter (no timer is armed).
    unsafe {
        let cfg = reg(HPET_GENERAL_CONFIG).read_volatile();
        if cfg & HPET_CONFIG_ENABLE == 0 {
            reg(HPET_GENERAL_CONFIG).write_volatile(cfg | HPET_CONFIG_ENABLE);
        }
    }
    let (counter, mask) = if caps & HPET_CAP_COUNT_SIZE_64 != 0 {
        (Counter::Mmio64(base + HPET_MAIN_COUNTER), u64::MAX)
    } else {
        (Counter::Mmio32(base + HPET_MAIN_COUNTER), 0xFFFF_FFFF)
    };
    let hz = (FEMTOSECONDS_PER_SECOND / period_fs as u128) as u64;
    Some((counter, mask, hz))
}

/// The TSC rate measured against every fixed timer this machine has: (name, Hz).
pub fn measure_all() -> [(&'static str, Option<u64>); 3] {
    let (pm, hpet) = TIMERS.get().copied().unwrap_or((None, None));
    [
        (
            "acpi_pm_timer",
            with_ref(pm, |t| t.and_then(tsc::calibrate_against)),
        ),
        (
            "hpet",
            with_ref(hpet, |t| t.and_then(tsc::calibrate_against)),
        ),
        ("pit", tsc::calibrate_pit()),
    ]
}
