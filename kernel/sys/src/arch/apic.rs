//! The local APIC, in x2APIC mode where CPUID offers it and xAPIC otherwise; one interface
//! for the rest of the kernel whichever mode is on (Intel SDM vol. 3A, chapter 11).
//! APIC ids are 32-bit throughout (xAPIC ids are the register's top byte).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::cpu::{self, features};
use super::port::outb;

use super::regs::IA32_APIC_BASE;
const APIC_BASE_EXTD: u64 = 1 << 10;
const APIC_BASE_EN: u64 = 1 << 11;
const APIC_BASE_ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// Register offsets in the xAPIC MMIO page; the x2APIC MSR is 0x800 + offset / 16.
const REG_ID: u32 = 0x20;
pub const REG_VERSION: u32 = 0x30;
const REG_TPR: u32 = 0x80;
const REG_EOI: u32 = 0xB0;
const REG_LDR: u32 = 0xD0;
const REG_SVR: u32 = 0xF0;
const REG_ESR: u32 = 0x280;
const REG_ICR_LOW: u32 = 0x300;
const REG_ICR_HIGH: u32 = 0x310;
const REG_LVT_CMCI: u32 = 0x2F0;
const REG_LVT_TIMER: u32 = 0x320;
const REG_LVT_THERMAL: u32 = 0x330;
const REG_LVT_PMC: u32 = 0x340;
const REG_LVT_LINT0: u32 = 0x350;
const REG_LVT_LINT1: u32 = 0x360;
const REG_LVT_ERROR: u32 = 0x370;
/// Timer initial count, current count and divide configuration (SDM vol. 3A, 11.5.4).
const REG_TIMER_INITIAL: u32 = 0x380;
const REG_TIMER_CURRENT: u32 = 0x390;
const REG_TIMER_DIVIDE: u32 = 0x3E0;
/// Divide configuration bits 3, 1, 0 = 0b0_11: divide by 16 (SDM vol. 3A, figure 11-10).
const TIMER_DIVIDE_BY_16: u32 = 0b0011;
/// LVT timer mode bits 18:17 = 01: periodic (SDM vol. 3A, figure 11-8).
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
const X2APIC_MSR_BASE: u32 = 0x800;

const SVR_APIC_ENABLE: u32 = 1 << 8;
/// Spurious-interrupt vector (its low 4 bits must be 1s on old APICs).
pub const SPURIOUS_VECTOR: u8 = 0xFF;
const LVT_MASKED: u32 = 1 << 16;
/// Version register bits 23:16: the index of the last LVT entry (SDM vol. 3A, 11.4.8).
const VERSION_MAX_LVT_SHIFT: u32 = 16;
/// Largest APIC id an xAPIC physical destination can name (0xFF is the broadcast id).
pub const XAPIC_MAX_ID: u32 = 0xFE;

// Interrupt command register (Intel SDM vol. 3A, figure 11-12).
pub const ICR_FIXED: u32 = 0 << 8;
pub const ICR_NMI: u32 = 4 << 8;
pub const ICR_INIT: u32 = 5 << 8;
pub const ICR_STARTUP: u32 = 6 << 8;
const ICR_DELIVERY_PENDING: u32 = 1 << 12;
pub const ICR_LEVEL_ASSERT: u32 = 1 << 14;
pub const ICR_TRIGGER_LEVEL: u32 = 1 << 15;
pub const ICR_DEST_ALL_BUT_SELF: u32 = 3 << 18;
/// Destination shorthand field (bits 19:18): 0 = no shorthand.
const ICR_DEST_SHORTHAND_MASK: u32 = 3 << 18;
/// Destination mode logical (bit 11): the destination is a logical id / cluster mask.
pub const ICR_DEST_LOGICAL: u32 = 1 << 11;

// 8259A PIC data ports (PC/AT).
const PIC1_DATA: u16 = 0x21;
const PIC2_DATA: u16 = 0xA1;

/// Bounded wait for an xAPIC ICR to accept a command.
const ICR_SPIN_LIMIT: u32 = 10_000_000;

static X2APIC: AtomicBool = AtomicBool::new(false);
/// Every CPU's x2APIC logical id is the architectural one (cluster multicast reaches it).
static LOGICAL_IDS_OK: AtomicBool = AtomicBool::new(true);
/// The BSP's APIC is set up (`init_bsp` ran): IPIs can be sent.
static READY: AtomicBool = AtomicBool::new(false);
/// Virtual address of the xAPIC register page (direct map, uncacheable).
static MMIO: AtomicU64 = AtomicU64::new(0);

pub fn x2apic() -> bool {
    X2APIC.load(Ordering::Relaxed)
}

/// Mask both legacy 8259 PICs: every interrupt comes through the APIC.
pub fn mask_legacy_pics() {
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
}

/// Choose the mode (on the BSP, before any AP starts) and map the xAPIC page if needed.
pub fn init_bsp(map_device_uc: impl FnOnce(u64) -> u64) {
    mask_legacy_pics();
    let use_x2 = features().x2apic;
    X2APIC.store(use_x2, Ordering::Relaxed);
    if !use_x2 {
        let base = cpu::rdmsr(IA32_APIC_BASE) & APIC_BASE_ADDR_MASK;
        MMIO.store(map_device_uc(base), Ordering::Relaxed);
    }
    enable_this_cpu();
    READY.store(true, Ordering::Release);
}

pub fn ready() -> bool {
    READY.load(Ordering::Acquire)
}

/// Enable this CPU's APIC in the chosen mode, masked LVTs, TPR 0, ESR cleared.
pub fn enable_this_cpu() {
    let mut base = cpu::rdmsr(IA32_APIC_BASE) | APIC_BASE_EN;
    // SAFETY: EN (then EXTD) is the architectural sequence to reach x2APIC mode (SDM 11.12.1);
    // the base address is unchanged.
    unsafe {
        cpu::wrmsr(IA32_APIC_BASE, base);
        if x2apic() {
            base |= APIC_BASE_EXTD;
            cpu::wrmsr(IA32_APIC_BASE, base);
        }
    }
    for lvt in [REG_LVT_TIMER, REG_LVT_LINT0, REG_LVT_LINT1, REG_LVT_ERROR] {
        write(lvt, LVT_MASKED);
    }
    // Entries firmware may have programmed (thermal, performance counters, CMCI) would fire
    // into empty gates: mask those the APIC has, as Linux's `clear_local_APIC` does. Their
    // existence follows the version register's last-LVT index (PMC 4, thermal 5, CMCI 6); an
    // x2APIC MSR that does not exist would #GP.
    let max_lvt = (version() >> VERSION_MAX_LVT_SHIFT) & 0xFF;
    for (lvt, index) in [(REG_LVT_PMC, 4), (REG_LVT_THERMAL, 5), (REG_LVT_CMCI, 6)] {
        if max_lvt >= index {
            write(lvt, LVT_MASKED);
        }
    }
    write(REG_TPR, 0);
    write(REG_SVR, SVR_APIC_ENABLE | SPURIOUS_VECTOR as u32);
    clear_esr();
    if x2apic() && !logical_id_is_architectural() {
        // The LDR is read-only in x2APIC mode and derived from the id by the hardware.
        // Bochs 2.7 derives it only on an APIC-base write made while already in x2APIC
        // mode: write the same value again (architecturally no change), then check again.
        // SAFETY: the value IA32_APIC_BASE already holds.
        unsafe { cpu::wrmsr(IA32_APIC_BASE, base) };
        if !logical_id_is_architectural() {
            LOGICAL_IDS_OK.store(false, Ordering::Release);
        }
    }
}

/// Whether this CPU's x2APIC logical id (LDR) is the architectural function of its id:
/// cluster id[19:4] in bits 31:16, bit id[3:0] set (SDM vol. 3A, 11.12.10.2).
fn logical_id_is_architectural() -> bool {
    let id = id();
    read(REG_LDR) == ((id >> 4) << 16 | 1 << (id & 0xF))
}

/// Why x2APIC cluster multicast cannot be used, if it cannot: not in x2APIC mode, or a CPU
/// whose logical id is not the architectural one (an emulator's).
pub fn cluster_multicast_unusable() -> Option<&'static str> {
    if !x2apic() {
        Some("x2apic_cluster delivery needs x2APIC mode; refused in xAPIC mode")
    } else if !LOGICAL_IDS_OK.load(Ordering::Acquire) {
        Some(
            "x2apic_cluster delivery refused: a CPU's x2APIC logical id (LDR) is not the architectural function of its APIC id",
        )
    } else {
        None
    }
}

fn read(reg: u32) -> u32 {
    if x2apic() {
        cpu::rdmsr(X2APIC_MSR_BASE + reg / 16) as u32
    } else {
        // SAFETY: MMIO maps the APIC page uncacheable; reg is a register offset in it.
        unsafe { ((MMIO.load(Ordering::Relaxed) + reg as u64) as *const u32).read_volatile() }
    }
}

fn write(reg: u32, val: u32) {
    if x2apic() {
        // SAFETY: an architectural x2APIC register MSR.
        unsafe { cpu::wrmsr(X2APIC_MSR_BASE + reg / 16, val as u64) };
    } else {
        xapic_write(reg, val);
    }
}

/// Write an xAPIC register (MMIO; xAPIC mode only).
fn xapic_write(reg: u32, val: u32) {
    // SAFETY: MMIO maps the APIC page uncacheable; reg is a register offset in it.
    unsafe { ((MMIO.load(Ordering::Relaxed) + reg as u64) as *mut u32).write_volatile(val) };
}

/// This CPU's APIC id (32 bits in x2APIC mode, 8 in xAPIC mode).
pub fn id() -> u32 {
    if x2apic() {
        read(REG_ID)
    } else {
        read(REG_ID) >> 24
    }
}

pub fn version() -> u32 {
    read(REG_VERSION)
}

pub fn eoi() {
    write(REG_EOI, 0);
}

/// Clear the error status register (write, then the read latches the new state).
pub fn clear_esr() {
    write(REG_ESR, 0);
    let _ = read(REG_ESR);
}

/// Errors latched since the last `clear_esr` (send/receive accept and illegal vector bits).
pub fn read_esr() -> u32 {
    write(REG_ESR, 0);
    read(REG_ESR)
}

/// APIC timer counts (divided by 16) per millisecond, measured once against the TSC.
static TIMER_COUNTS_PER_MS: AtomicU64 = AtomicU64::new(0);

/// The APIC timer's rate in counts per millisecond (divide-by-16 input), measured on the
/// first call against the TSC over 1 ms with the timer masked; 0 if it never counted.
pub fn timer_counts_per_ms() -> u64 {
    let known = TIMER_COUNTS_PER_MS.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
    write(REG_TIMER_INITIAL, u32::MAX);
    let t0 = super::tsc::rdtsc();
    let window = super::tsc::hz() / 1000;
    while super::tsc::rdtsc() - t0 < window {
        core::hint::spin_loop();
    }
    let counted = u32::MAX - read(REG_TIMER_CURRENT);
    write(REG_TIMER_INITIAL, 0);
    TIMER_COUNTS_PER_MS.store(counted as u64, Ordering::Relaxed);
    counted as u64
}

/// Start this CPU's APIC timer in periodic mode on `vector`, every `period_us`
/// microseconds; false when the timer's rate is unknown (it never counted).
pub fn timer_start_periodic(vector: u8, period_us: u64) -> bool {
    let per_ms = timer_counts_per_ms();
    if per_ms == 0 {
        return false;
    }
    let count = (per_ms * period_us / 1000).clamp(1, u32::MAX as u64) as u32;
    write(REG_TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
    write(REG_LVT_TIMER, LVT_TIMER_PERIODIC | vector as u32);
    write(REG_TIMER_INITIAL, count);
    true
}

/// Arm this CPU's APIC timer once, on `vector`, `delay_us` microseconds from now; false when
/// the timer's rate is unknown.
pub fn timer_oneshot(vector: u8, delay_us: u64) -> bool {
    let per_ms = timer_counts_per_ms();
    if per_ms == 0 {
        return false;
    }
    let count = (per_ms * delay_us / 1000).clamp(1, u32::MAX as u64) as u32;
    write(REG_TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
    write(REG_LVT_TIMER, vector as u32);
    write(REG_TIMER_INITIAL, count);
    true
}

/// Stop this CPU's APIC timer (masked, count 0).
pub fn timer_stop() {
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_TIMER_INITIAL, 0);
}

/// Why an IPI was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiError {
    /// The destination is beyond what the APIC mode can address (xAPIC: 8-bit ids, 0xFF is
    /// the broadcast id); the IPI would silently reach another CPU.
    Unaddressable(u32),
    /// An xAPIC never accepted the command (delivery status stayed pending).
    NotAccepted,
}

/// Send one IPI: `icr` holds the vector, delivery mode and flags; `dest` is the APIC id in
/// physical mode, or the logical id (x2APIC: cluster << 16 | mask) in logical mode, ignored
/// with a shorthand.
///
/// Ordering: the IPI must not overtake the stores it announces (a request slot, a pending
/// bit, a work slot). An xAPIC ICR write is an uncacheable store, ordered after earlier
/// stores. A WRMSR to the x2APIC ICR is *not* serialising, and MFENCE alone does not order
/// it (it is neither a load nor a store): Intel SDM vol. 3A 11.12.3 and the note on x2APIC
/// MSR accesses; Linux issues `mfence; lfence` before it (`weak_wrmsr_fence`, commit
/// "x86/apic: Add extra serialization for non-serializing MSRs"). The fence is here, once,
/// for every x2APIC IPI, inside any timed region as it is in Linux.
/// Out of line, so the runner's `x2apic-ipi-fence-disasm` check finds it in the kernel's code.
#[inline(never)]
pub fn send_ipi(dest: u32, icr: u32) -> Result<(), IpiError> {
    let shorthand = icr & ICR_DEST_SHORTHAND_MASK != 0;
    if x2apic() {
        // SAFETY: MFENCE drains earlier stores to memory; LFENCE then keeps the WRMSR from
        // executing before the MFENCE completed. No memory is touched (not `nomem`, so the
        // compiler keeps earlier stores before it too).
        unsafe { core::arch::asm!("mfence", "lfence", options(nostack, preserves_flags)) };
        // SAFETY: writing the x2APIC ICR MSR sends the IPI; the fence above orders it.
        unsafe {
            cpu::wrmsr(
                X2APIC_MSR_BASE + REG_ICR_LOW / 16,
                (dest as u64) << 32 | icr as u64,
            )
        };
        Ok(())
    } else {
        if !shorthand && icr & ICR_DEST_LOGICAL == 0 && dest > XAPIC_MAX_ID {
            return Err(IpiError::Unaddressable(dest));
        }
        // Wait until the previous command was accepted before writing the next (as Linux's
        // `__xapic_wait_icr_idle`), so a fan-out of IPIs is not serialised on each delivery.
        wait_icr_idle()?;
        // MMIO directly: the only WRMSR in this function is the fenced one above.
        xapic_write(REG_ICR_HIGH, dest << 24);
        xapic_write(REG_ICR_LOW, icr);
        Ok(())
    }
}

/// Bounded wait for the xAPIC's delivery status to leave "send pending".
fn wait_icr_idle() -> Result<(), IpiError> {
    let mut spins = 0;
    while read(REG_ICR_LOW) & ICR_DELIVERY_PENDING != 0 {
        spins += 1;
        if spins > ICR_SPIN_LIMIT {
            return Err(IpiError::NotAccepted);
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// Wait until the last IPI sent from this CPU was accepted (xAPIC; immediate in x2APIC
/// mode, which has no delivery status). The INIT/SIPI sequence uses it before its delays.
pub fn wait_sent() -> Result<(), IpiError> {
    if x2apic() { Ok(()) } else { wait_icr_idle() }
}
