//! How a run ends: QEMU's isa-debug-exit device with the codes of DESIGN.md, or a clean halt
//! on bare metal (`exit=halt`).

use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::{self, port};

use kernel_core::qemu_exit;

/// Exit codes (docs/DESIGN.md, "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Status 33.
    Pass = qemu_exit::PASS,
    /// A test or a benchmark check failed: status 35.
    Fail = qemu_exit::FAIL,
    /// Panic: status 37.
    Panic = qemu_exit::PANIC,
    /// Unexpected CPU exception: status 39.
    Exception = qemu_exit::EXCEPTION,
    /// Bad kernel command line: status 41.
    BadCmdline = qemu_exit::BAD_CMDLINE,
}

impl ExitCode {
    /// The `status` word of the `end` record.
    pub fn status(self) -> &'static str {
        match self {
            ExitCode::Pass => "pass",
            ExitCode::Fail => "fail",
            ExitCode::Panic => "panic",
            ExitCode::Exception => "exception",
            ExitCode::BadCmdline => "bad_cmdline",
        }
    }
}

static USE_QEMU_EXIT: AtomicBool = AtomicBool::new(true);

/// Choose how runs end (from `exit=`, or the default: QEMU when a hypervisor is present).
pub fn set_qemu_exit(qemu: bool) {
    USE_QEMU_EXIT.store(qemu, Ordering::Relaxed);
}

/// Print the `end` record and stop the machine.
pub fn finish(code: ExitCode) -> ! {
    crate::record!("end", |r| r.str("status", code.status()));
    exit_without_end(code)
}

/// Stop the machine without printing `end` (used by `crash=no_end`, and after `finish`).
pub fn exit_without_end(code: ExitCode) -> ! {
    let qemu = USE_QEMU_EXIT.load(Ordering::Relaxed);
    crate::println!(
        "kernel: run finished ({}); {}",
        code.status(),
        if qemu {
            "leaving through QEMU's exit device"
        } else {
            "halting"
        }
    );
    if qemu {
        port::outb(qemu_exit::PORT, code as u8);
    }
    // Bare metal (or no exit device): every other CPU stops; the screen keeps what it shows.
    let stopped = crate::cpu::smp::stop_other_cpus();
    crate::println!(
        "kernel: {stopped} other CPUs stopped (INIT); {}",
        kernel_core::screen::HALT_LINE
    );
    arch::halt_forever()
}
