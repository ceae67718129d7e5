//! Floors: the cost of the hardware steps the workloads are built from, measured the same way
//! (serialised TSC, interrupts off), so each workload can be read against what it must pay.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use percpu::percpu;

use sys::arch::tlb::{self, flush_global_pge, invpcid_all_including_global};
use sys::arch::{self, apic, cpu, extable, idt, tsc};
use sys::cpu::{call as work, local as cpu_local, smp};
use sys::mm::{self, fault as demand, probe::Word};
use sys::{println, record};

use super::{Kind, P, SAMPLES, Settings, emit, time};

/// PTE stores per `pte_write` sample (one page table).
const PTE_BATCH: u64 = 512;

/// Accesses per sample of the per-CPU read comparison (one access is below TSC resolution).
const ACCESSES: u64 = 1000;

/// Time `f` `warmup + samples` times; keep the last `samples`.
fn measure(s: &Settings, buf: &mut [u64], mut f: impl FnMut() -> u64) -> usize {
    let n = s.samples.min(buf.len());
    for _ in 0..s.warmup {
        let _ = f();
    }
    for slot in buf[..n].iter_mut() {
        *slot = f();
    }
    n
}

pub fn run(s: &Settings) -> bool {
    let kernel = run_kernel(s);
    let user = super::ring3::run_floors(s);
    kernel && user
}

fn run_kernel(s: &Settings) -> bool {
    let _irq = percpu::IrqGuard::new();
    let mut buf = SAMPLES.lock();
    let buf = &mut buf[..];
    timer_floor(s, buf);
    exception_floor(s, buf);
    let mut frames = [0u64; 64];
    let got = mm::alloc_frames(&mut frames);
    zero_page_floor(s, buf, &frames[..got]);
    tlb_floors(s, buf, frames[0]);
    mm::free_frames(&frames[..got]);
    percpu_reads(s, buf);
    drop(_irq);
    ipi_roundtrip(s, buf);
    true
}

fn timer_floor(s: &Settings, buf: &mut [u64]) {
    let w = s.warmup;
    // The timer's own cost: back-to-back start/stop.
    let n = measure(s, buf, || {
        let t0 = time::start();
        time::stop() - t0
    });
    emit("tsc_overhead", Kind::Floor, &[], "cycles", w, &mut buf[..n]);
}

fn exception_floor(s: &Settings, buf: &mut [u64]) {
    let w = s.warmup;
    // Exception round trip: a not-present #PF in this CPU's arena (demand paging off), taken
    // through the kernel's entry path and resumed at the probe's fixup. No INT3/INT n. The
    // arena's tables exist first (as for the faults it is a floor of), so the walk reaches
    // the PTE level; it omits the fault's retried access and that access's walk.
    demand::prepare(arch::cpu_id() as usize);
    let (_, arena_end) = demand::arena();
    let unmapped = arena_end - mm::PAGE_SIZE;
    let n = measure(s, buf, || {
        let t0 = time::start();
        let r = extable::read_u64(unmapped);
        let t1 = time::stop();
        debug_assert!(r.is_err());
        t1 - t0
    });
    emit(
        "exception_roundtrip",
        Kind::Floor,
        &[("fault", P::S("pf_not_present"))],
        "cycles",
        w,
        &mut buf[..n],
    );
}

fn zero_page_floor(s: &Settings, buf: &mut [u64], frames: &[u64]) {
    let w = s.warmup;
    // Zeroing one 4 KiB frame (REP STOSQ), as the fault path does, cold: the frame's lines
    // are flushed from every cache level first (the fault path zeroes frames it has not
    // touched for a while), over 64 rotating frames.
    let mut i = 0;
    let n = measure(s, buf, || {
        let f = frames[i % frames.len()];
        i += 1;
        arch::flush_page_from_caches(mm::phys_to_virt(f));
        let t0 = time::start();
        demand::zero_frame(f);
        time::stop() - t0
    });
    emit(
        "zero_page",
        Kind::Floor,
        &[("bytes", P::U(4096)), ("cache", P::S("cold"))],
        "cycles",
        w,
        &mut buf[..n],
    );
}

/// The TLB floors on one page of the arena mapped to `frame`: PTE writes, INVLPG, the full
/// flushes.
fn tlb_floors(s: &Settings, buf: &mut [u64], frame: u64) {
    let w = s.warmup;
    // PTE writes: the stores that map pages, 512 of them (one page table of the arena) and an
    // SFENCE, so the stores are drained rather than parked in the store buffer; a sample is
    // the batch's time divided by 512, the per-store cost without a timer overhead each.
    let (arena_start, _) = demand::arena();
    let page = arena_start;
    let slot = mm::pte_slot(page).expect("arena tables exist");
    let entry = frame | kernel_core::paging::PTE_P | mm::xd();
    // The first whole 2 MiB span inside the arena: its page table maps nothing else (the
    // window's first span holds the per-CPU variables and stacks).
    const SPAN: u64 = 1 << 21;
    let span = (arena_start + SPAN - 1) & !(SPAN - 1);
    assert!(
        span + SPAN <= demand::arena().1,
        "the arena holds a whole 2 MiB span"
    );
    // The page table that maps a 2 MiB span inside this CPU's arena (unmapped: demand paging
    // is off).
    let table = mm::page_table_of(span).expect("arena page table");
    let pte = |k: u64| &table[k as usize];
    let n = measure(s, buf, || {
        let t0 = time::start();
        for k in 0..PTE_BATCH {
            pte(k).store(entry, Ordering::Relaxed);
        }
        arch::store_fence();
        let t1 = time::stop();
        for k in 0..PTE_BATCH {
            pte(k).store(0, Ordering::Relaxed);
        }
        (t1 - t0) / PTE_BATCH
    });
    // Nothing was accessed through those entries, but a speculative walk may have cached one.
    flush_global_pge();
    emit(
        "pte_write",
        Kind::Floor,
        &[("batch", P::U(PTE_BATCH))],
        "cycles",
        w,
        &mut buf[..n],
    );

    // INVLPG of one page whose translation is in the TLB (read just before).
    slot.store(entry, Ordering::Relaxed);
    tlb::invlpg(page);
    // `page` maps frames[0], ours.
    let word = Word::at(page);
    let n = measure(s, buf, || {
        word.read();
        let t0 = time::start();
        tlb::invlpg(page);
        time::stop() - t0
    });
    emit("invlpg", Kind::Floor, &[], "cycles", w, &mut buf[..n]);

    // Full flushes with the TLB refilled before each: CR3 reload (non-global entries only)
    // and a CR4.PGE toggle (global entries too); INVPCID all-contexts where the CPU has it.
    let touch = || {
        word.read();
    };
    let n = measure(s, buf, || {
        touch();
        let t0 = time::start();
        tlb::reload_cr3();
        time::stop() - t0
    });
    emit("flush_cr3", Kind::Floor, &[], "cycles", w, &mut buf[..n]);
    let n = measure(s, buf, || {
        touch();
        let t0 = time::start();
        flush_global_pge();
        time::stop() - t0
    });
    emit(
        "flush_global",
        Kind::Floor,
        &[("method", P::S("cr4_pge"))],
        "cycles",
        w,
        &mut buf[..n],
    );
    if cpu::features().invpcid {
        let n = measure(s, buf, || {
            touch();
            let t0 = time::start();
            invpcid_all_including_global();
            time::stop() - t0
        });
        emit(
            "flush_global",
            Kind::Floor,
            &[("method", P::S("invpcid"))],
            "cycles",
            w,
            &mut buf[..n],
        );
    }
    slot.store(0, Ordering::Relaxed);
    tlb::invlpg(page);
}

percpu! {
    static GS_PROBE: u64 = 1;
}

/// One slot per CPU, the alternative to a per-CPU variable.
static BY_CPU_ID: [AtomicU64; percpu::MAX_CPUS] = [const { AtomicU64::new(1) }; percpu::MAX_CPUS];

/// Time `ACCESSES` calls of `read` per sample.
fn time_accesses(s: &Settings, buf: &mut [u64], read: impl Fn() -> u64) -> usize {
    measure(s, buf, || {
        let t0 = time::start();
        let mut acc = 0u64;
        for _ in 0..ACCESSES {
            acc = acc.wrapping_add(read());
        }
        let t1 = time::stop();
        core::hint::black_box(acc);
        t1 - t0
    })
}

fn percpu_reads(s: &Settings, buf: &mut [u64]) {
    let w = s.warmup;
    let n = time_accesses(s, buf, || GS_PROBE.read());
    emit(
        "percpu_read_gs",
        Kind::Floor,
        &[("accesses", P::U(ACCESSES))],
        "cycles",
        w,
        &mut buf[..n],
    );
    // The array, with the CPU id already in a register (the cheapest it can be) ...
    let id = cpu_local::CPU_ID.read() as usize;
    let n = time_accesses(s, buf, || {
        BY_CPU_ID[core::hint::black_box(id)].load(Ordering::Relaxed)
    });
    emit(
        "percpu_read_array",
        Kind::Floor,
        &[("accesses", P::U(ACCESSES)), ("id_from", P::S("register"))],
        "cycles",
        w,
        &mut buf[..n],
    );
    // ... and with the id read each time (through GS, as a kernel without a per-CPU base
    // register would still need some per-CPU lookup).
    let n = time_accesses(s, buf, || {
        BY_CPU_ID[cpu_local::CPU_ID.read() as usize].load(Ordering::Relaxed)
    });
    emit(
        "percpu_read_array",
        Kind::Floor,
        &[("accesses", P::U(ACCESSES)), ("id_from", P::S("gs_cpu_id"))],
        "cycles",
        w,
        &mut buf[..n],
    );
}

/// Iterations between two PAUSEs of the IPI floor's busy target outside the deterministic
/// mode (see [`spin_with_interrupts`]).
const SPIN_PAUSE_EVERY: u64 = 64;

static PINGS: AtomicU64 = AtomicU64::new(0);
/// Iterations of the ping target's loop (shows it is running, outside the handler).
static LOOPS: AtomicU64 = AtomicU64::new(0);
static SPIN_STOP: AtomicBool = AtomicBool::new(false);
static SPINNING: AtomicBool = AtomicBool::new(false);

fn on_ping(_: &mut idt::ExceptionFrame) {
    PINGS.fetch_add(1, Ordering::Release);
}

/// Work for a target: loop on a load with interrupts on until told to stop, with a PAUSE
/// every `every` iterations (a power of two), as every loop that runs while another CPU
/// waits: 1 in the deterministic mode, where a PAUSE hands QEMU's round robin on and so the
/// figure counts one iteration of this loop, not a time slice; more elsewhere (a busy CPU
/// is mostly not executing PAUSE, and under multi-threaded TCG each one takes QEMU's global
/// lock, which the sender's APIC write needs).
fn spin_with_interrupts(every: u64) {
    SPINNING.store(true, Ordering::Release);
    arch::interrupts_enable();
    let mut i = 0u64;
    while !SPIN_STOP.load(Ordering::Acquire) {
        i += 1;
        LOOPS.store(i, Ordering::Relaxed);
        if i & (every - 1) == 0 {
            core::hint::spin_loop();
        }
    }
    arch::interrupts_disable();
    SPINNING.store(false, Ordering::Release);
}

/// IPI round trip: CPU 0 sends a fixed IPI to the first online idle AP, which is running (not halted) with
/// interrupts on; its handler writes an acknowledgement that CPU 0 spins on.
fn ipi_roundtrip(s: &Settings, buf: &mut [u64]) {
    let Some(cpu) = work::available_aps().min() else {
        super::skip("ipi_roundtrip", "needs 2 CPUs online and idle");
        return;
    };
    idt::set_handler(idt::VEC_PING, on_ping);
    SPIN_STOP.store(false, Ordering::Release);
    let every = if s.opts.deterministic {
        1
    } else {
        SPIN_PAUSE_EVERY
    };
    if let Err(e) = work::post(cpu, spin_with_interrupts, every) {
        println!("bench: ipi_roundtrip: cpu {cpu}: {e}");
        super::skip("ipi_roundtrip", "its target CPU cannot take work");
        return;
    }
    let spin_deadline = tsc::rdtsc() + tsc::hz();
    while !SPINNING.load(Ordering::Acquire) {
        if tsc::rdtsc() > spin_deadline {
            super::skip("ipi_roundtrip", "its target did not start within 1 s");
            SPIN_STOP.store(true, Ordering::Release);
            return;
        }
        core::hint::spin_loop();
    }
    let target = smp::apic_id_of(cpu);
    let _irq = percpu::IrqGuard::new();
    let deadline_ticks = tsc::hz(); // one second per ping at most
    let mut lost = false;
    let n = measure(s, buf, || {
        // Untimed: the target is back in its loop (out of the previous ping's handler).
        let l = LOOPS.load(Ordering::Relaxed);
        let wait = tsc::rdtsc();
        while LOOPS.load(Ordering::Relaxed) == l && tsc::rdtsc().wrapping_sub(wait) < deadline_ticks
        {
            core::hint::spin_loop();
        }
        let before = PINGS.load(Ordering::Acquire);
        let t0 = time::start();
        let _ = apic::send_ipi(target, apic::ICR_FIXED | idt::VEC_PING as u32);
        while PINGS.load(Ordering::Acquire) == before {
            if tsc::rdtsc().wrapping_sub(t0) > deadline_ticks {
                lost = true;
                break;
            }
            core::hint::spin_loop();
        }
        time::stop() - t0
    });
    drop(_irq);
    SPIN_STOP.store(true, Ordering::Release);
    work::wait(cpu, 1000);
    if lost {
        record!("error", |r| r
            .str("kind", "bench")
            .str("bench", "ipi_roundtrip")
            .str("message", "an IPI went unanswered for 1 s"));
    }
    emit(
        "ipi_roundtrip",
        Kind::Floor,
        &[("ack", P::S("memory"))],
        "cycles",
        s.warmup,
        &mut buf[..n],
    );
}
