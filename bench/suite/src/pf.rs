//! Page-fault latency and throughput in the per-CPU arenas (`sys::mm::fault`): kernel mode in
//! the CPU's window, and ring 3 in its arena of the user address space.
//!
//! Latency: every faulting access is timed on its own (serialised TSC around one store or
//! load to an untouched page), with the handler's own time beside it, so the trap cost
//! (entry, exit, IRET) is the difference. After each round the pages are checked: every
//! written page maps its own frame, no frame twice, zero except the word written; every read
//! page maps the shared zero frame.
//!
//! Throughput: N CPUs fault at once, each in its own arena, starting together; the rate is
//! N × pages / (last finish − first start).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_core::paging::{PTE_ADDR_MASK, PTE_P, PTE_US};
use percpu::layout;

use sys::arch::tsc;
use sys::arch::user::{Exit, UserAccess};
use sys::cpu::{call as work, smp};
use sys::mm::PAGE_SIZE;
use sys::mm::fault::{self as demand, HANDLER_CYCLES, Space, Variant};
use sys::mm::probe::ArenaPages;
use sys::mm::uspace::{self, Program, programs};
use sys::{println, record};

use super::{Kind, P, SAMPLES, SAMPLES_AUX, SAMPLES_TRAP, Settings, check, emit, ring3, time};

/// Pages in one arena (15 MiB).
const ARENA_PAGES: usize = (layout::ARENA_SIZE / PAGE_SIZE) as usize;

/// The value the write faults store into each page (its index is added); the user program
/// stores the same.
const MAGIC: u64 = programs::PF_MAGIC;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Write,
    Read,
}

impl Access {
    fn name(self) -> &'static str {
        match self {
            Access::Write => "write",
            Access::Read => "read",
        }
    }
}

/// The measured configurations: each access with the fault-path variant it is measured
/// under. A new variant (`sys::mm::fault::Variant`) is measured by one more line here.
const CONFIGS: &[(Access, Variant)] = &[
    (Access::Write, Variant::DemandZero),
    (Access::Read, Variant::ZeroPage),
];

/// Fault `count` untouched pages of this CPU's kernel arena, handing each access's time and
/// its handler's time to `sink`. Demand paging is on only for the loop.
fn fault_pages(
    access: Access,
    variant: Variant,
    count: usize,
    mut sink: impl FnMut(usize, u64, u64),
) {
    let arena = ArenaPages::of(Space::Kernel);
    demand::enable(variant);
    for i in 0..count {
        // An arena page of this CPU: the access faults and the handler maps it.
        let p = arena.word(i);
        let v = time::computed(MAGIC + i as u64);
        let t0 = time::start();
        match access {
            Access::Write => p.write(v),
            Access::Read => {
                core::hint::black_box(p.read());
            }
        }
        let t1 = time::stop();
        sink(i, t1 - t0, HANDLER_CYCLES.read());
    }
    demand::disable();
}

/// The handler times of one ring-3 round (logged by the fault handler itself).
static HANDLER_LOG: spin::Mutex<[u64; ARENA_PAGES]> = spin::Mutex::new([0; ARENA_PAGES]);

/// The same from ring 3: the user program touches `count` pages of this CPU's user arena,
/// timing each access itself; the handler logs its own time per fault; the samples are copied
/// out under STAC/CLAC. The user space must be active.
fn fault_pages_user(
    access: Access,
    variant: Variant,
    count: usize,
    mut sink: impl FnMut(usize, u64, u64),
) -> Result<(), Exit> {
    let (start, _) = Space::User.arena();
    let va = ring3::sample_buffer(count as u64 * 8);
    let mut flags = programs::timing_flags();
    if access == Access::Read {
        flags |= programs::FLAG_READ;
    }
    let mut log = HANDLER_LOG.lock();
    demand::enable(variant);
    let (exit, logged) = demand::with_handler_log(&mut log[..count], || {
        uspace::run(Program::PfLoop, [start, count as u64, va, flags], false)
    });
    demand::disable();
    if exit != Exit::Exited(count as u64) {
        return Err(exit);
    }
    assert_eq!(logged, count, "one handler entry per fault");
    let mut total = [0u64; 1];
    for (i, &h) in log[..count].iter().enumerate() {
        ring3::copy_from_user(va + i as u64 * 8, 1, &mut total);
        sink(i, total[0], h);
    }
    Ok(())
}

/// Check the first `count` pages of this CPU's arena in `space` after a round; returns the
/// number of bad pages and the first problem. A frame mapped at two written pages shows up as
/// a wrong first word (each page got its own value), so the content check also proves every
/// frame is mapped once. User pages are read through their user addresses under STAC/CLAC.
fn verify(
    space: Space,
    access: Access,
    variant: Variant,
    count: usize,
) -> (usize, Option<&'static str>) {
    let arena = ArenaPages::of(space);
    let zero = demand::zero_frame_phys();
    let mut bad = 0;
    let mut first = None;
    let mut fail = |why: &'static str| {
        bad += 1;
        first.get_or_insert(why);
    };
    let _ua = (space == Space::User).then(UserAccess::begin);
    for (i, p) in arena.first(count).enumerate() {
        let page = p.addr();
        let pte = space
            .pte_slot(page)
            .map_or(0, |s| s.load(Ordering::Relaxed));
        if pte & PTE_P == 0 {
            fail("a touched page is not mapped");
            continue;
        }
        if (space == Space::User) != (pte & PTE_US != 0) {
            fail("a page's user bit does not match its space");
        }
        let frame = pte & PTE_ADDR_MASK;
        // Mapped (checked above) and ours; a user page is read with SMAP's access window
        // open (`_ua`).
        match (access, variant) {
            (Access::Write, _) => {
                if frame == zero {
                    fail("a written page maps the zero frame");
                }
                if !p.holds(MAGIC + i as u64) {
                    fail("a written page is not zero apart from the written word");
                }
            }
            (Access::Read, Variant::ZeroPage) => {
                if frame != zero {
                    fail("a read page does not map the zero frame");
                }
                if !p.holds(0) {
                    fail("the zero page is not zero");
                }
            }
            (Access::Read, Variant::DemandZero) => {
                if frame == zero {
                    fail("a read page maps the zero frame");
                }
                if !p.holds(0) {
                    fail("a read page's private frame is not zero");
                }
            }
        }
    }
    (bad, first)
}

/// Latency of `warmup + samples` faults of one kind, in rounds of at most one arena.
fn latency(s: &Settings, space: Space, access: Access, variant: Variant) -> bool {
    let name = match space {
        Space::Kernel => "pf_kernel",
        Space::User => "pf_user",
    };
    let mut buf = SAMPLES.lock();
    let mut aux = SAMPLES_AUX.lock();
    let mut trap = SAMPLES_TRAP.lock();
    let want = s.warmup + s.samples;
    let _irq = percpu::IrqGuard::new();
    let _active = (space == Space::User).then(uspace::activate);
    let (mut done, mut kept) = (0, 0);
    let (mut bad, mut first_bad) = (0, None);
    let mut pages_checked = 0;
    while done < want {
        let count = (want - done).min(ARENA_PAGES);
        let sink = |i: usize, t: u64, h: u64| {
            if done + i >= s.warmup && kept < buf.len() {
                buf[kept] = t;
                aux[kept] = h;
                trap[kept] = t.saturating_sub(h);
                kept += 1;
            }
        };
        match space {
            Space::Kernel => fault_pages(access, variant, count, sink),
            Space::User => {
                if let Err(e) = fault_pages_user(access, variant, count, sink) {
                    demand::release(space, count);
                    return ring3::failed(name, e);
                }
            }
        }
        let (b, why) = verify(space, access, variant, count);
        bad += b;
        first_bad = first_bad.or(why);
        pages_checked += count;
        let released = demand::release(space, count);
        let expect = match (access, variant) {
            (Access::Read, Variant::ZeroPage) => (0, count),
            _ => (count, 0),
        };
        if (released.mapped, released.zero_page) != expect {
            bad += 1;
            first_bad = first_bad.or(Some("unmapping found a different number of pages"));
        }
        done += count;
    }
    drop(_active);
    drop(_irq);
    // One result per part of the fault: the whole access (`total`), the handler's own time
    // (`handler`), and the trap's share, total minus handler (`trap`).
    for (part, samples) in [
        ("total", &mut buf[..kept]),
        ("handler", &mut aux[..kept]),
        ("trap", &mut trap[..kept]),
    ] {
        emit(
            name,
            Kind::Workload,
            &[
                ("mode", P::S(space.name())),
                ("page", P::U(4096)),
                ("access", P::S(access.name())),
                ("variant", P::S(variant.name())),
                ("part", P::S(part)),
            ],
            "cycles",
            s.warmup,
            samples,
        );
    }
    let mut detail = kernel_core::fmtbuf::FmtBuf::<160>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut detail,
        format_args!(
            "{pages_checked} pages checked, {bad} bad{}{}",
            if first_bad.is_some() { ": " } else { "" },
            first_bad.unwrap_or("")
        ),
    );
    let mut check_name = kernel_core::fmtbuf::FmtBuf::<96>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut check_name,
        format_args!(
            "pf_pages_checked/{}/{}/{}",
            space.name(),
            access.name(),
            variant.name()
        ),
    );
    check(check_name.as_str(), bad == 0, detail.as_str())
}

pub fn run_latency(s: &Settings) -> bool {
    let me = sys::arch::cpu_id() as usize;
    demand::prepare(me);
    demand::prepare_user(me);
    let mut ok = true;
    for space in [Space::Kernel, Space::User] {
        for &(access, variant) in CONFIGS {
            ok &= latency(s, space, access, variant);
        }
    }
    ok
}

// ---- throughput ----

static GO: AtomicBool = AtomicBool::new(false);
static READY: AtomicU64 = AtomicU64::new(0);
/// CPUs (the BSP's helpers) whose faults of this round are done.
static FINISHED: AtomicU64 = AtomicU64::new(0);
static BAD_PAGES: AtomicU64 = AtomicU64::new(0);

/// An AP's share of a throughput round: count itself ready, wait for GO, then fault, then
/// check its pages (after it has said it finished: the check is not part of the round).
fn throughput_worker(pages: u64) {
    let _irq = percpu::IrqGuard::new();
    READY.fetch_add(1, Ordering::AcqRel);
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    fault_round(pages as usize);
    check_round(pages as usize);
}

/// Fault `pages` pages of this CPU's arena (interrupts off), then say so in FINISHED. The
/// round is timed on the BSP alone (one clock): TSCs of different CPUs are never subtracted.
fn fault_round(pages: usize) {
    let arena = ArenaPages::of(Space::Kernel);
    demand::enable(Variant::DemandZero);
    for (i, p) in arena.first(pages).enumerate() {
        // An arena page of this CPU: the write faults and is served.
        p.word().write(MAGIC + i as u64);
    }
    demand::disable();
    FINISHED.fetch_add(1, Ordering::AcqRel);
}

/// Check and release the pages of this CPU's round (outside the timed round).
fn check_round(pages: usize) {
    let (bad, _) = verify(Space::Kernel, Access::Write, Variant::DemandZero, pages);
    let rel = demand::release(Space::Kernel, pages);
    BAD_PAGES.fetch_add(bad as u64 + (rel.mapped != pages) as u64, Ordering::AcqRel);
}

pub fn run_throughput(s: &Settings) -> bool {
    let aps = work::available_aps();
    let avail = aps.len() + 1;
    let max = s.opts.cpus.map_or(avail, |c| (c as usize).min(avail));
    if avail < smp::online_count() {
        super::skip_busy("pf_throughput", smp::online_count() - avail);
    }
    let pages: u64 = if s.quick { 256 } else { 2048 };
    let rounds = if s.quick { 5 } else { 20 };
    demand::prepare(0);
    for cpu in aps.iter() {
        demand::prepare(cpu);
    }
    let mut counts = [0usize; 16];
    let mut k = 0;
    let mut n = 1;
    while n < max && k < counts.len() - 1 {
        counts[k] = n;
        k += 1;
        n *= 2;
    }
    counts[k] = max;
    k += 1;
    let mut ok = true;
    let mut buf = SAMPLES.lock();
    let timeout = tsc::hz() * 60;
    for &cpus in &counts[..k] {
        let helpers = aps.first(cpus - 1);
        let mut kept = 0;
        for round in 0..rounds + 1 {
            GO.store(false, Ordering::Release);
            READY.store(0, Ordering::Release);
            FINISHED.store(0, Ordering::Release);
            for cpu in helpers.iter() {
                if let Err(e) = work::post(cpu, throughput_worker, pages) {
                    println!("bench: pf_throughput: cpu {cpu}: {e}");
                    record!("error", |r| r
                        .str("kind", "bench")
                        .str("bench", "pf_throughput")
                        .u64("cpu", cpu as u64)
                        .str("message", "a CPU could not take its share of the faults"));
                    return false;
                }
            }
            while READY.load(Ordering::Acquire) < helpers.len() as u64 {
                core::hint::spin_loop();
            }
            // The BSP joins and times the round on its own clock: from GO until it has seen
            // every CPU (itself included) finish faulting; the page checks come after.
            let t0 = tsc::rdtsc();
            GO.store(true, Ordering::Release);
            let _irq = percpu::IrqGuard::new();
            fault_round(pages as usize);
            let mut late = false;
            while FINISHED.load(Ordering::Acquire) < cpus as u64 {
                if tsc::rdtsc() - t0 > timeout {
                    late = true;
                    break;
                }
                core::hint::spin_loop();
            }
            let wall = tsc::rdtsc() - t0;
            check_round(pages as usize);
            drop(_irq);
            for cpu in helpers.iter() {
                if late || !work::wait(cpu, 60_000) {
                    println!("bench: pf_throughput: cpu {cpu} did not finish within 60 s");
                    record!("error", |r| r
                        .str("kind", "bench")
                        .str("bench", "pf_throughput")
                        .str("message", "a CPU did not finish its faults within 60 s"));
                    return false;
                }
            }
            if round == 0 {
                continue; // warm-up: fills the frame caches
            }
            let rate =
                (cpus as u128 * pages as u128 * tsc::hz() as u128 / wall.max(1) as u128) as u64;
            buf[kept] = rate;
            kept += 1;
        }
        emit(
            "pf_throughput",
            Kind::Workload,
            &[
                ("mode", P::S("kernel")),
                ("cpus", P::U(cpus as u64)),
                ("pages_per_cpu", P::U(pages)),
            ],
            "faults_per_s",
            1,
            &mut buf[..kept],
        );
    }
    let bad = BAD_PAGES.load(Ordering::Acquire);
    let mut detail = kernel_core::fmtbuf::FmtBuf::<96>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut detail,
        format_args!("{bad} bad pages over all rounds and CPUs"),
    );
    ok &= check("pf_throughput_pages_zeroed_once", bad == 0, detail.as_str());
    ok
}
