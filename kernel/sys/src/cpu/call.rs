//! Running a function on another CPU: each AP idles in `sti; hlt` (so an idle vCPU costs no
//! guest instructions, which matters in the deterministic mode) and wakes on the `VEC_WORK`
//! IPI to run the work posted in its per-CPU slot.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kernel_core::cpuset::CpuSet;
use percpu::{CacheAligned, percpu};

use crate::arch::{self, apic, idt, tsc};
use crate::cpu::smp;

/// One CPU's work slot: the BSP posts (`func`, `arg`) and bumps `posted`; the CPU runs it and
/// sets `done` to the same sequence number.
pub struct Slot {
    func: AtomicUsize,
    arg: AtomicU64,
    posted: AtomicU64,
    done: AtomicU64,
}

percpu! {
    /// Written by the posting CPU: alone in its cache lines.
    static SLOT: CacheAligned<Slot> = CacheAligned(Slot {
        func: AtomicUsize::new(0),
        arg: AtomicU64::new(0),
        posted: AtomicU64::new(0),
        done: AtomicU64::new(0),
    });
}

/// The work IPI only wakes the CPU; the idle loop finds the work.
fn on_work_ipi(_: &mut idt::ExceptionFrame) {}

pub fn init() {
    idt::set_handler(idt::VEC_WORK, on_work_ipi);
}

/// An AP's life after bring-up: run posted work, else halt with interrupts on.
pub fn ap_idle() -> ! {
    let slot = SLOT.get();
    loop {
        arch::interrupts_disable();
        let posted = slot.posted.load(Ordering::Acquire);
        if posted != slot.done.load(Ordering::Relaxed) {
            let func = slot.func.load(Ordering::Relaxed);
            let arg = slot.arg.load(Ordering::Relaxed);
            // SAFETY: `post` stores only `fn(u64)` values in `func`.
            let f: fn(u64) = unsafe { core::mem::transmute(func) };
            f(arg);
            slot.done.store(posted, Ordering::Release);
            continue;
        }
        // SAFETY: STI takes effect after the next instruction, so an IPI that arrives between
        // the check above and HLT still wakes the HLT.
        unsafe { core::arch::asm!("sti", "hlt", options(nomem, nostack)) };
    }
}

/// Why work could not be posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostError {
    /// Not an online AP (the BSP posts; an AP that never came up takes nothing).
    NotOnline,
    /// Its previous work has not finished (a timed-out benchmark left it running).
    Busy,
    /// The wake-up IPI could not be sent.
    Ipi(apic::IpiError),
}

impl core::fmt::Display for PostError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PostError::NotOnline => f.write_str("not an online AP"),
            PostError::Busy => f.write_str("still running earlier work"),
            PostError::Ipi(e) => write!(f, "wake-up IPI not sent ({e:?})"),
        }
    }
}

/// Post `f(arg)` to `cpu` (an online AP whose previous work finished) and wake it.
pub fn post(cpu: usize, f: fn(u64), arg: u64) -> Result<(), PostError> {
    if cpu == 0 || cpu >= smp::cpu_count() || !smp::is_online(cpu) {
        return Err(PostError::NotOnline);
    }
    let slot = SLOT.remote(cpu);
    let seq = slot.posted.load(Ordering::Relaxed);
    if seq != slot.done.load(Ordering::Acquire) {
        return Err(PostError::Busy);
    }
    slot.func.store(f as usize, Ordering::Relaxed);
    slot.arg.store(arg, Ordering::Relaxed);
    slot.posted.store(seq + 1, Ordering::Release);
    apic::send_ipi(smp::apic_id_of(cpu), apic::ICR_FIXED | idt::VEC_WORK as u32)
        .map_err(PostError::Ipi)
}

/// The online APs that can take work now (their last work finished): the CPUs a benchmark
/// may use. A CPU left running by a timed-out benchmark is not in it.
pub fn available_aps() -> CpuSet {
    let mut set = smp::online_set();
    set.remove(0);
    let mut out = CpuSet::new();
    for cpu in set.iter() {
        if is_done(cpu) {
            out.insert(cpu);
        }
    }
    out
}

/// Whether `cpu` finished its last posted work.
pub fn is_done(cpu: usize) -> bool {
    let slot = SLOT.remote(cpu);
    slot.done.load(Ordering::Acquire) == slot.posted.load(Ordering::Relaxed)
}

/// Wait until `cpu` finished its work, at most `timeout_ms`; false on timeout.
pub fn wait(cpu: usize, timeout_ms: u64) -> bool {
    let deadline = tsc::rdtsc() + tsc::hz() / 1000 * timeout_ms;
    while !is_done(cpu) {
        if tsc::rdtsc() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}
