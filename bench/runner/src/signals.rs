//! The runner's own end: a SIGINT, SIGTERM or SIGHUP sent to the runner (a CI job cancelled, a
//! wrapper's `timeout`, a closed terminal) stops the run the way its deadline does (QEMU
//! killed, the records received kept, host.json and the "incomplete" summary written), and then
//! the runner ends by that same signal, so a calling shell sees it. And a QEMU never outlives
//! the runner: each child gets `PR_SET_PDEATHSIG(SIGKILL)` (see [`die_with_parent`]), which
//! also covers a runner killed with SIGKILL.

use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signals that stop a run.
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The first stop signal received (0: none).
static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // An atomic store is all a signal handler may safely do here; the wait loop in
    // `process::run_streaming` polls it every 20 ms. The first signal is the one kept.
    let _ = CAUGHT.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Installs the handler for [`STOP_SIGNALS`] (for the subcommands that run QEMU).
pub fn install() -> io::Result<()> {
    for sig in STOP_SIGNALS {
        // SAFETY: `sa` is fully initialised (zeroed, then the handler, an empty mask and
        // SA_RESTART, so interrupted reads and waits resume); the handler only does an atomic
        // store, which is async-signal-safe.
        let r = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The stop signal received, if any.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// `SIGINT`, `SIGTERM`, ... for messages.
pub fn name(sig: i32) -> String {
    match sig {
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGFPE => "SIGFPE".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGPIPE => "SIGPIPE".into(),
        libc::SIGTERM => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

/// Ends the runner by `sig` with its default action, once the results are written: a shell
/// then sees the signal (`$?` = 128 + sig) and a script running the runner in a loop stops too.
/// Falls back to exit status 128 + sig.
pub fn die_by(sig: i32) -> ! {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: restoring the default action and raising a signal have no memory-safety
    // preconditions; the process ends here.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
    std::process::exit(128 + sig)
}

/// Makes `cmd`'s process get SIGKILL when the runner dies, however it dies (SIGKILL included):
/// `PR_SET_PDEATHSIG`. The signal follows the *thread* that spawned the child; the runner
/// spawns QEMU from the thread that then waits for it (`process::run_streaming`), so that
/// thread outlives the child.
pub fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child between fork and exec, where only
    // async-signal-safe calls are allowed: prctl, getppid and raise are. It touches no memory
    // shared with the parent and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The runner died between fork and prctl: the signal was missed, so die now.
            if libc::getppid() as u32 != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(2), "SIGINT");
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(name(1), "SIGHUP");
        assert_eq!(name(64), "signal 64");
    }

    #[test]
    fn a_child_runs_with_the_parent_death_signal_set() {
        // The hook runs between fork and exec and the child still runs normally; that the
        // child dies with the runner is tested end to end (tests/robust.rs).
        let mut cmd = Command::new("true");
        die_with_parent(&mut cmd);
        assert!(cmd.status().unwrap().success());
    }
}
