//! Fatal reports: unexpected CPU exceptions and panics. Each prints what happened, where, on
//! which CPU, and a frame-pointer backtrace (the host runner adds symbol names), then an
//! `error` record and the `end` record, and exits with its own code.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::arch::idt::{
    EXCEPTION_NAMES, ExceptionFrame, PF_INSTRUCTION, PF_PRESENT, PF_RESERVED, PF_USER, PF_WRITE,
    VEC_DOUBLE_FAULT, VEC_PAGE_FAULT,
};
use crate::arch::{self, extable};
use crate::console::ConsoleGuard;
use crate::run::exit::{self, ExitCode};

/// Deepest backtrace printed.
const BACKTRACE_MAX_FRAMES: usize = 32;
/// Lowest kernel-half address: a frame pointer below it ends the walk.
const KERNEL_HALF_START: u64 = 0xffff_8000_0000_0000;

/// CPUs that entered a fatal report; a second fault inside a report halts quietly.
static IN_REPORT: AtomicU32 = AtomicU32::new(0);

fn enter_report() {
    if IN_REPORT.fetch_add(1, Ordering::SeqCst) > 4 {
        arch::halt_forever();
    }
}

/// Print `backtrace: #n 0x...` lines, starting at `rip` and following saved frame pointers
/// from `rbp`. Every read goes through a probe, so a corrupt chain ends the walk, not the
/// report.
pub fn backtrace(w: &mut impl Write, rip: u64, mut rbp: u64) {
    let _ = writeln!(w, "backtrace: #0 {rip:#018x}");
    for n in 1..BACKTRACE_MAX_FRAMES {
        if rbp < KERNEL_HALF_START || !rbp.is_multiple_of(8) {
            break;
        }
        let (Ok(next), Ok(ret)) = (extable::read_u64(rbp), extable::read_u64(rbp + 8)) else {
            let _ = writeln!(w, "backtrace: (frame pointer {rbp:#x} unreadable)");
            break;
        };
        if ret == 0 {
            break;
        }
        let _ = writeln!(w, "backtrace: #{n} {ret:#018x}");
        if next <= rbp {
            break;
        }
        rbp = next;
    }
}

fn page_fault_reason(code: u64) -> (&'static str, &'static str, &'static str, &'static str) {
    (
        if code & PF_PRESENT != 0 {
            "protection violation"
        } else {
            "not present"
        },
        if code & PF_INSTRUCTION != 0 {
            "instruction fetch"
        } else if code & PF_WRITE != 0 {
            "write"
        } else {
            "read"
        },
        if code & PF_USER != 0 {
            "user"
        } else {
            "supervisor"
        },
        if code & PF_RESERVED != 0 {
            ", reserved bit set"
        } else {
            ""
        },
    )
}

pub fn unexpected_exception(f: &ExceptionFrame) -> ! {
    enter_report();
    let (mnemonic, name) = EXCEPTION_NAMES
        .get(f.vector as usize)
        .copied()
        .unwrap_or(("?", "unknown"));
    let cr2 = arch::read_cr2();
    {
        let mut g = ConsoleGuard::lock();
        let _ = writeln!(
            g,
            "!!! unexpected CPU exception: {name} ({mnemonic}, vector {}) on cpu {} (APIC id {})",
            f.vector,
            arch::cpu_id(),
            crate::cpu::local::APIC_ID.read()
        );
        let _ = writeln!(g, "    error code: {:#x}", f.error_code);
        if f.vector == VEC_PAGE_FAULT as u64 {
            let (kind, access, mode, rsvd) = page_fault_reason(f.error_code);
            let _ = writeln!(
                g,
                "    page fault: {kind}, {access}, {mode}{rsvd}; cr2: {cr2:#018x}"
            );
        }
        if f.vector == VEC_DOUBLE_FAULT as u64 {
            let _ = writeln!(
                g,
                "    (double fault: ran on its IST stack; a kernel stack overflow into a \
                                 guard page looks like this; saved rip/rsp are the first fault's)"
            );
        }
        let _ = writeln!(
            g,
            "    rip: {:#018x}  rsp: {:#018x}  rflags: {:#x}  cs: {:#x}  ss: {:#x}",
            f.rip, f.rsp, f.rflags, f.cs, f.ss
        );
        let _ = writeln!(
            g,
            "    rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x}",
            f.rax, f.rbx, f.rcx, f.rdx
        );
        let _ = writeln!(
            g,
            "    rsi {:#x} rdi {:#x} rbp {:#x} r8 {:#x}",
            f.rsi, f.rdi, f.rbp, f.r8
        );
        let _ = writeln!(g, "    cr2 {cr2:#x} cr3 {:#x}", arch::read_cr3());
        backtrace(&mut g, f.rip, f.rbp);
    }
    crate::record!("error", |r| {
        r.str("kind", "exception")
            .u64("vector", f.vector)
            .str("name", name)
            .hex("error_code", f.error_code)
            .hex("rip", f.rip)
            .hex("cr2", cr2)
            .u64("cpu", arch::cpu_id() as u64)
            .str("message", "unexpected CPU exception")
    });
    exit::finish(ExitCode::Exception)
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    enter_report();
    {
        let mut g = ConsoleGuard::lock();
        let _ = write!(g, "!!! kernel panicked at ");
        if let Some(loc) = info.location() {
            let _ = write!(g, "{}:{}:{}", loc.file(), loc.line(), loc.column());
        }
        let _ = writeln!(g, " on cpu {}: {}", arch::cpu_id(), info.message());
        backtrace(
            &mut g,
            panic as *const () as usize as u64,
            arch::frame_pointer(),
        );
    }
    crate::record!("error", |r| {
        let mut msg = kernel_core::fmtbuf::FmtBuf::<256>::new();
        let _ = write!(msg, "panic: {}", info.message());
        r.str("kind", "panic")
            .u64("cpu", arch::cpu_id() as u64)
            .str("message", msg.as_str())
    });
    exit::finish(ExitCode::Panic)
}
