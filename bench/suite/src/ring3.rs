//! Ring-3 floors: a system call round trip and an exception round trip from user mode, each
//! timed inside the user program (see `uspace::programs`) and copied out of its sample buffer
//! under STAC/CLAC.

use kernel_core::uspace as ul;

use sys::arch::user::{self, Exit, UserAccess};
use sys::mm::probe::Word;
use sys::mm::uspace::{self, Program, programs};
use sys::record;

use super::{Kind, SAMPLES, Settings, check, emit};

/// Most samples one program run records (its buffer is `SAMPLES_STRIDE` bytes).
const CHUNK: usize = (ul::SAMPLES_STRIDE / 8) as usize;

/// This CPU's user sample buffer, mapped (at least `bytes`).
pub fn sample_buffer(bytes: u64) -> u64 {
    let va = ul::samples(sys::arch::cpu_id() as u64);
    uspace::map_fresh(va, bytes.next_multiple_of(sys::mm::PAGE_SIZE));
    va
}

/// Copy `out.len()` u64 from user address `va`, `stride` u64 apart (copy_from_user).
pub fn copy_from_user(va: u64, stride: usize, out: &mut [u64]) {
    let _ua = UserAccess::begin();
    for (i, o) in out.iter_mut().enumerate() {
        // `va` is this CPU's sample buffer, mapped user read-write for `out.len()` samples
        // by the caller; SMAP allows the read between STAC and CLAC.
        *o = Word::at(va + (i * stride * 8) as u64).read();
    }
}

/// Run a one-sample-per-iteration timing program for `warmup + samples` iterations, in
/// chunks; the last `samples` land in `buf`. Err: how the program ended instead.
fn timed_loop(
    s: &Settings,
    buf: &mut [u64],
    args: impl Fn(u64, u64) -> (Program, [u64; 4]),
) -> Result<usize, Exit> {
    let want = s.warmup + s.samples.min(buf.len());
    let va = sample_buffer((CHUNK * 8) as u64);
    let mut done = 0;
    let mut kept = 0;
    while done < want {
        let n = (want - done).min(CHUNK);
        let (prog, a) = args(va, n as u64);
        match uspace::run(prog, a, false) {
            Exit::Exited(v) if v == n as u64 => {}
            other => return Err(other),
        }
        let skip = s.warmup.saturating_sub(done).min(n);
        copy_from_user(va + skip as u64 * 8, 1, &mut buf[kept..kept + n - skip]);
        kept += n - skip;
        done += n;
    }
    Ok(kept)
}

pub fn run_floors(s: &Settings) -> bool {
    let _irq = percpu::IrqGuard::new();
    let _space = uspace::activate();
    let mut buf = SAMPLES.lock();
    let flags = programs::timing_flags();
    let mut ok = true;

    // SYSCALL, the kernel's dispatch of SYS_NULL, SYSRETQ: what every system call pays.
    match timed_loop(s, &mut buf[..], |va, n| {
        (Program::SyscallLoop, [va, n, flags, 0])
    }) {
        Ok(n) => emit(
            "syscall_roundtrip",
            Kind::Floor,
            &[("call", super::P::S("null"))],
            "cycles",
            s.warmup,
            &mut buf[..n],
        ),
        Err(e) if user::syscall_not_virtualised(&e) => super::skip(
            "syscall_roundtrip",
            "SYSCALL from ring 3 reached the kernel's entry point still in ring 3: this \
             hypervisor does not virtualise SYSCALL for this guest",
        ),
        Err(e) => ok &= failed("syscall_roundtrip", e),
    }

    // A not-present #PF from ring 3 (the never-mapped probe page), through the kernel's
    // entry path with SWAPGS and back by IRETQ: the floor of a user page fault.
    match timed_loop(s, &mut buf[..], |va, n| {
        (Program::FaultLoop, [va, n, flags, ul::PROBE])
    }) {
        Ok(n) => emit(
            "exception_roundtrip_user",
            Kind::Floor,
            &[("fault", super::P::S("pf_not_present"))],
            "cycles",
            s.warmup,
            &mut buf[..n],
        ),
        Err(e) => ok &= failed("exception_roundtrip_user", e),
    }
    ok
}

/// A ring-3 program that did not end as expected: an error record and a failed check.
pub fn failed(bench: &str, e: Exit) -> bool {
    let mut d = kernel_core::fmtbuf::FmtBuf::<160>::new();
    let _ = core::fmt::Write::write_fmt(&mut d, format_args!("user program ended with {e:?}"));
    record!("error", |r| r
        .str("kind", "bench")
        .str("bench", bench)
        .str("message", d.as_str()));
    check(bench, false, d.as_str())
}
