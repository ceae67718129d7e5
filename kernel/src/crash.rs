//! Deliberate failures (`crash=`), so the tests can prove that each kind of failure is
//! reported with its own message and exit code and never hangs the harness.

use kernel_core::cmdline::Crash;

use sys::arch;
use sys::cpu::{call, smp};
use sys::run::exit::{self, ExitCode};
use sys::{println, record};

/// An address in the lower half, which maps nothing after boot.
const UNMAPPED_LOW_ADDRESS: u64 = 0x4000_0000;

pub fn inject(crash: Crash) -> ! {
    println!(
        "crash: injecting '{}' as asked on the command line",
        crash.name()
    );
    match crash {
        Crash::Panic => panic!("deliberate panic (crash=panic)"),
        Crash::PageFault => {
            // SAFETY: deliberately faults: the lower half is unmapped.
            let v = unsafe { core::ptr::read_volatile(UNMAPPED_LOW_ADDRESS as *const u64) };
            panic!("read of unmapped address {UNMAPPED_LOW_ADDRESS:#x} returned {v:#x}")
        }
        Crash::StackOverflow => overflow_stack(),
        Crash::ApStackOverflow => ap_stack_overflow(),
        Crash::TripleFault => {
            arch::idt::load_empty();
            // SAFETY: deliberately raises #UD with no IDT: the CPU shuts down (QEMU: reset).
            unsafe { core::arch::asm!("ud2", options(nomem, nostack)) };
            unreachable!()
        }
        Crash::Hang => arch::halt_forever(),
        Crash::NoEnd => exit::exit_without_end(ExitCode::Pass),
    }
}

/// Make logical CPU 1 overflow its stack (posted as a cross-CPU call): it reports its double
/// fault and ends the run; the BSP waits for that (bounded).
fn ap_stack_overflow() -> ! {
    if !smp::is_online(1) || smp::cpu_count() < 2 {
        println!("error: crash=ap_stack_overflow needs 2 CPUs online (logical CPU 1)");
        record!("error", |r| r
            .str("kind", "crash")
            .str("message", "crash=ap_stack_overflow needs 2 CPUs online"));
        exit::finish(ExitCode::Fail);
    }
    if let Err(e) = call::post(1, |_| overflow_stack(), 0) {
        panic!("crash=ap_stack_overflow: cannot post to logical CPU 1: {e}");
    }
    arch::tsc::delay_us(30_000_000);
    panic!("crash=ap_stack_overflow: no AP reported a double fault within 30 s")
}

/// Recurse until this CPU's stack runs into its guard page: a #PF that cannot push its frame
/// becomes a double fault, reported from the IST stack.
pub fn overflow_stack() -> ! {
    let depth = recurse(0);
    panic!("recursion returned at depth {depth} without overflowing the stack")
}

/// Recurse until the boot stack runs into its guard page (each frame holds 512 bytes).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let pad = [depth as u8; 512];
    let pad = core::hint::black_box(pad);
    if depth == u64::MAX {
        return pad[0] as u64;
    }
    core::hint::black_box(recurse(depth + 1)) + pad[1] as u64
}
