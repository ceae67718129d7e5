//! Running a function on another CPU: each AP idles in `sti; hlt` (so an idle vCPU costs no
//! guest instructions, which matters in the deterministic mode) and wakes on the `VEC_WORK`
//! IPI to run the work posted in its per-CPU slot.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use percpu::percpu;

use crate::arch::{self, apic, idt, tsc};
use crate::smp;

/// One CPU's work slot: the BSP posts (`func`, `arg`) and bumps `posted`; the CPU runs it and
/// sets `done` to the same sequence number.
pub struct Slot {
    func: AtomicUsize,
    arg: AtomicU64,
    posted: AtomicU64,
    done: AtomicU64,
}

percpu! {
    static SLOT: Slot = Slot {
        func: AtomicUsize::new(0),
        arg: AtomicU64::new(0),
        posted: AtomicU64::new(0),
        done: AtomicU64::new(0),
    };
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

/// Post `f(arg)` to `cpu` (online, idle: its previous work finished) and wake it.
pub fn post(cpu: usize, f: fn(u64), arg: u64) {
    assert!(
        cpu != 0 && smp::is_online(cpu),
        "cpu {cpu} cannot take work"
    );
    let slot = SLOT.remote(cpu);
    let seq = slot.posted.load(Ordering::Relaxed);
    assert_eq!(
        seq,
        slot.done.load(Ordering::Acquire),
        "cpu {cpu} is still busy"
    );
    slot.func.store(f as usize, Ordering::Relaxed);
    slot.arg.store(arg, Ordering::Relaxed);
    slot.posted.store(seq + 1, Ordering::Release);
    apic::send_ipi(smp::apic_id_of(cpu), apic::ICR_FIXED | idt::VEC_WORK as u32);
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
