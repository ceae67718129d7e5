//! How a run ended: QEMU's exit status (or signal, or our deadline) plus the kernel's `end`
//! record, mapped to one outcome, one message and one exit status of the runner.

use std::fmt;

/// QEMU exit statuses written by the kernel through isa-debug-exit ((v << 1) | 1).
pub const STATUS_PASS: i32 = 33;
pub const STATUS_TEST_FAILED: i32 = 35;
pub const STATUS_PANIC: i32 = 37;
pub const STATUS_EXCEPTION: i32 = 39;
pub const STATUS_BAD_CMDLINE: i32 = 41;
/// With `-no-reboot`, QEMU exits 0 when the guest resets (usually a triple fault).
pub const STATUS_RESET: i32 = 0;

/// Exit statuses of the runner itself.
pub mod exit {
    pub const PASS: i32 = 0;
    /// A test or benchmark check failed (kernel status 35), the `end` record is not `pass`, or
    /// (for `runner test`) a case failed.
    pub const FAILED: i32 = 1;
    /// Bad runner command line.
    pub const USAGE: i32 = 2;
    pub const PANIC: i32 = 3;
    pub const EXCEPTION: i32 = 4;
    pub const BAD_CMDLINE: i32 = 5;
    pub const RESET: i32 = 6;
    pub const TIMEOUT: i32 = 7;
    pub const INCOMPLETE: i32 = 8;
    pub const QEMU_ERROR: i32 = 9;
    pub const QEMU_CRASHED: i32 = 10;
    /// The runner could not start: bad or missing ELF, missing firmware, KVM asked for but not
    /// usable, I/O error on the results folder, results folder in use by another runner.
    pub const SETUP: i32 = 11;
    /// The runner got stop signal `sig` (SIGINT, SIGTERM, SIGHUP): 128 + sig, as a shell shows
    /// a process ended by that signal (the runner ends by the signal itself where it can).
    pub const fn interrupted(sig: i32) -> i32 {
        128 + sig
    }
}

/// How the QEMU process ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProcessEnd {
    Status(i32),
    Signal(i32),
    /// Our deadline passed and we killed QEMU.
    Timeout(f64),
    /// The runner got this stop signal (SIGINT, SIGTERM, SIGHUP) and killed QEMU.
    Interrupted(i32),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pass,
    TestFailed,
    Panic,
    Exception,
    BadCmdline,
    Reset,
    Timeout {
        secs: f64,
    },
    QemuCrashed {
        signal: i32,
    },
    QemuError {
        status: i32,
        stderr: String,
    },
    /// Exit status pass, but no `end` record.
    Incomplete,
    /// Exit status pass, but the `end` record says otherwise.
    EndNotPass {
        status: String,
    },
    /// The runner got a stop signal and killed QEMU.
    Interrupted {
        signal: i32,
    },
    /// An emulator without QEMU's exit device (Bochs): its runner names the kind and the
    /// message itself (the `end` record's status, a triple fault in its log, a timeout, ...).
    Emulator {
        kind: OutcomeKind,
        message: String,
    },
}

/// The outcome without its details: what test cases expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    Pass,
    TestFailed,
    Panic,
    Exception,
    BadCmdline,
    Reset,
    Timeout,
    QemuCrashed,
    QemuError,
    Incomplete,
    EndNotPass,
    Interrupted,
    /// The emulator (other than QEMU) stopped on its own error: a Bochs panic, an early exit.
    EmulatorError,
}

impl OutcomeKind {
    /// Stable name, used in host.json (`outcome`) and in test-harness messages.
    pub fn name(self) -> &'static str {
        match self {
            OutcomeKind::Pass => "pass",
            OutcomeKind::TestFailed => "test_failed",
            OutcomeKind::Panic => "panic",
            OutcomeKind::Exception => "exception",
            OutcomeKind::BadCmdline => "bad_cmdline",
            OutcomeKind::Reset => "reset",
            OutcomeKind::Timeout => "timeout",
            OutcomeKind::QemuCrashed => "qemu_crashed",
            OutcomeKind::QemuError => "qemu_error",
            OutcomeKind::Incomplete => "incomplete",
            OutcomeKind::EndNotPass => "end_not_pass",
            OutcomeKind::Interrupted => "interrupted",
            OutcomeKind::EmulatorError => "emulator_error",
        }
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Maps how QEMU ended and the status of the kernel's `end` record (None: no `end` record) to
/// an outcome. The exit status decides; the `end` record only matters for a passing status.
pub fn classify(end: ProcessEnd, end_record: Option<&str>, stderr: &str) -> Outcome {
    match end {
        ProcessEnd::Timeout(secs) => Outcome::Timeout { secs },
        ProcessEnd::Interrupted(signal) => Outcome::Interrupted { signal },
        ProcessEnd::Signal(signal) => Outcome::QemuCrashed { signal },
        ProcessEnd::Status(STATUS_PASS) => match end_record {
            None => Outcome::Incomplete,
            Some("pass") => Outcome::Pass,
            Some(other) => Outcome::EndNotPass {
                status: other.to_string(),
            },
        },
        ProcessEnd::Status(STATUS_TEST_FAILED) => Outcome::TestFailed,
        ProcessEnd::Status(STATUS_PANIC) => Outcome::Panic,
        ProcessEnd::Status(STATUS_EXCEPTION) => Outcome::Exception,
        ProcessEnd::Status(STATUS_BAD_CMDLINE) => Outcome::BadCmdline,
        ProcessEnd::Status(STATUS_RESET) => Outcome::Reset,
        ProcessEnd::Status(status) => Outcome::QemuError {
            status,
            stderr: stderr.to_string(),
        },
    }
}

impl Outcome {
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Pass => OutcomeKind::Pass,
            Outcome::TestFailed => OutcomeKind::TestFailed,
            Outcome::Panic => OutcomeKind::Panic,
            Outcome::Exception => OutcomeKind::Exception,
            Outcome::BadCmdline => OutcomeKind::BadCmdline,
            Outcome::Reset => OutcomeKind::Reset,
            Outcome::Timeout { .. } => OutcomeKind::Timeout,
            Outcome::QemuCrashed { .. } => OutcomeKind::QemuCrashed,
            Outcome::QemuError { .. } => OutcomeKind::QemuError,
            Outcome::Incomplete => OutcomeKind::Incomplete,
            Outcome::EndNotPass { .. } => OutcomeKind::EndNotPass,
            Outcome::Interrupted { .. } => OutcomeKind::Interrupted,
            Outcome::Emulator { kind, .. } => *kind,
        }
    }

    /// The runner's exit status for this outcome.
    pub fn exit_code(&self) -> i32 {
        match self {
            Outcome::Interrupted { signal } => exit::interrupted(*signal),
            _ => match self.kind() {
                OutcomeKind::Pass => exit::PASS,
                OutcomeKind::TestFailed | OutcomeKind::EndNotPass => exit::FAILED,
                OutcomeKind::Panic => exit::PANIC,
                OutcomeKind::Exception => exit::EXCEPTION,
                OutcomeKind::BadCmdline => exit::BAD_CMDLINE,
                OutcomeKind::Reset => exit::RESET,
                OutcomeKind::Timeout => exit::TIMEOUT,
                OutcomeKind::Incomplete => exit::INCOMPLETE,
                OutcomeKind::QemuError | OutcomeKind::EmulatorError => exit::QEMU_ERROR,
                OutcomeKind::QemuCrashed => exit::QEMU_CRASHED,
                OutcomeKind::Interrupted => exit::interrupted(0),
            },
        }
    }

    /// One clear sentence (QEMU's stderr appended for a QEMU error).
    pub fn message(&self) -> String {
        match self {
            Outcome::Pass => "pass".into(),
            Outcome::TestFailed => {
                "test failure: a test or benchmark check failed (exit status 35)".into()
            }
            Outcome::Panic => "kernel panic (exit status 37)".into(),
            Outcome::Exception => "unexpected CPU exception (exit status 39)".into(),
            Outcome::BadCmdline => "bad kernel command line (exit status 41)".into(),
            Outcome::Reset => {
                "machine reset: QEMU exited 0 under -no-reboot (usually a triple fault)".into()
            }
            Outcome::Timeout { secs } => format!("timeout after {secs} s: QEMU killed"),
            Outcome::QemuCrashed { signal } => {
                format!(
                    "QEMU crashed: killed by signal {signal} ({})",
                    crate::signals::name(*signal)
                )
            }
            Outcome::QemuError { status, stderr } => {
                let stderr = stderr.trim();
                if stderr.is_empty() {
                    format!("QEMU error: exit status {status} (no stderr output)")
                } else if stderr.contains("Bad icount read") {
                    format!(
                        "QEMU error: exit status {status}; its stderr:\n{stderr}\n(QEMU's \
                         deterministic mode cannot read its clock from an MSR access: an \
                         x2APIC timer register was touched; run icount with a CPU model \
                         without x2APIC, as the default `{}` is)",
                        crate::vm::ICOUNT_CPU
                    )
                } else {
                    format!("QEMU error: exit status {status}; its stderr:\n{stderr}")
                }
            }
            Outcome::Incomplete => {
                "incomplete: the kernel exited with pass but printed no `end` record".into()
            }
            Outcome::EndNotPass { status } => {
                format!("the kernel exited with pass but its `end` record says status '{status}'")
            }
            Outcome::Interrupted { signal } => format!(
                "interrupted: the runner got {}, QEMU killed",
                crate::signals::name(*signal)
            ),
            Outcome::Emulator { message, .. } => message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_mapping() {
        let c = |s| classify(ProcessEnd::Status(s), Some("pass"), "").kind();
        assert_eq!(c(33), OutcomeKind::Pass);
        assert_eq!(c(35), OutcomeKind::TestFailed);
        assert_eq!(c(37), OutcomeKind::Panic);
        assert_eq!(c(39), OutcomeKind::Exception);
        assert_eq!(c(41), OutcomeKind::BadCmdline);
        assert_eq!(c(0), OutcomeKind::Reset);
        assert_eq!(c(1), OutcomeKind::QemuError);
        assert_eq!(c(34), OutcomeKind::QemuError);
    }

    #[test]
    fn end_record_matters_only_for_pass() {
        assert_eq!(
            classify(ProcessEnd::Status(33), None, ""),
            Outcome::Incomplete
        );
        assert_eq!(
            classify(ProcessEnd::Status(33), Some("fail"), ""),
            Outcome::EndNotPass {
                status: "fail".into()
            }
        );
        assert_eq!(classify(ProcessEnd::Status(37), None, ""), Outcome::Panic);
        assert_eq!(
            classify(ProcessEnd::Status(35), Some("fail"), ""),
            Outcome::TestFailed
        );
    }

    #[test]
    fn signals_timeouts_and_qemu_errors() {
        assert_eq!(
            classify(ProcessEnd::Signal(6), None, "").kind(),
            OutcomeKind::QemuCrashed
        );
        let t = classify(ProcessEnd::Timeout(5.0), Some("pass"), "");
        assert_eq!(t.kind(), OutcomeKind::Timeout);
        assert_eq!(t.message(), "timeout after 5 s: QEMU killed");
        let e = classify(ProcessEnd::Status(1), None, "qemu: could not load kernel\n");
        assert!(e.message().contains("exit status 1") && e.message().contains("could not load"));
        assert!(
            classify(ProcessEnd::Signal(6), None, "")
                .message()
                .contains("SIGABRT")
        );
        let i = classify(ProcessEnd::Interrupted(15), Some("pass"), "");
        assert_eq!(i.kind(), OutcomeKind::Interrupted);
        assert_eq!(
            i.message(),
            "interrupted: the runner got SIGTERM, QEMU killed"
        );
        assert_eq!(i.exit_code(), 143);
    }

    #[test]
    fn runner_exit_codes_are_distinct() {
        let all = [
            Outcome::Pass,
            Outcome::TestFailed,
            Outcome::Panic,
            Outcome::Exception,
            Outcome::BadCmdline,
            Outcome::Reset,
            Outcome::Timeout { secs: 1.0 },
            Outcome::Incomplete,
            Outcome::QemuError {
                status: 1,
                stderr: String::new(),
            },
            Outcome::QemuCrashed { signal: 6 },
            Outcome::Interrupted { signal: 2 },
            Outcome::Interrupted { signal: 15 },
        ];
        let mut codes: Vec<i32> = all.iter().map(Outcome::exit_code).collect();
        assert_eq!(codes[0], 0);
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(!codes.contains(&exit::USAGE) && !codes.contains(&exit::SETUP));
        assert_eq!(
            Outcome::EndNotPass { status: "x".into() }.exit_code(),
            exit::FAILED
        );
    }
}
