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

use kernel_core::paging::{PTE_ADDR_MASK, PTE_P, PTE_PS, PTE_RW, PTE_US};
use percpu::layout;

use sys::arch::tsc;
use sys::arch::user::{Exit, UserAccess};
use sys::cpu::{call as work, smp};
use sys::mm::fault::{self as demand, FAULTS_SERVED, HANDLER_CYCLES, Space, Variant, ZeroMethod};
use sys::mm::probe::ArenaPages;
use sys::mm::uspace::{self, Program, programs};
use sys::mm::{HUGE_SIZE, PAGE_SIZE};
use sys::{println, record};

use super::{
    Kind, P, SAMPLES, SAMPLES_AUX, SAMPLES_TRAP, Settings, Tally, check, emit, ring3, time,
};

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
/// under, in `Variant::ALL` order. A new variant (`sys::mm::fault::Variant`) is measured by
/// one more line here.
const CONFIGS: &[(Access, Variant)] = &[
    (Access::Write, Variant::DemandZero),
    (Access::Read, Variant::ZeroPage),
    (Access::Write, Variant::PtOnDemand),
    (Access::Write, Variant::Huge2M),
    (Access::Write, Variant::Prezeroed),
    (Access::Write, Variant::FaultAround),
];

/// Which pages of an arena a round touches: `count` accesses at pages `first + i * stride`
/// (every access faults: one per 2 MiB page, one per fault-around window).
#[derive(Clone, Copy, Debug)]
struct Geometry {
    first: usize,
    stride: usize,
    /// Most accesses one round (one arena) holds.
    per_round: usize,
}

impl Geometry {
    fn of(space: Space, variant: Variant, opts: &Options) -> Geometry {
        let (start, end) = space.arena();
        match variant {
            Variant::Huge2M => {
                let first = start.next_multiple_of(HUGE_SIZE);
                Geometry {
                    first: ((first - start) / PAGE_SIZE) as usize,
                    stride: (HUGE_SIZE / PAGE_SIZE) as usize,
                    per_round: ((end - first) / HUGE_SIZE) as usize,
                }
            }
            Variant::FaultAround => {
                let n = opts.around as usize;
                Geometry {
                    first: 0,
                    stride: n,
                    per_round: ARENA_PAGES.div_ceil(n),
                }
            }
            Variant::Prezeroed => Geometry {
                first: 0,
                stride: 1,
                per_round: ARENA_PAGES.min(opts.pool),
            },
            _ => Geometry {
                first: 0,
                stride: 1,
                per_round: ARENA_PAGES,
            },
        }
    }

    fn page(&self, i: usize) -> usize {
        self.first + i * self.stride
    }
}

/// The variant settings of the command line.
#[derive(Clone, Copy, Debug)]
struct Options {
    around: u64,
    pool: usize,
    zero: ZeroMethod,
    poison: bool,
}

impl Options {
    fn of(s: &Settings) -> Options {
        let o = &s.opts;
        Options {
            around: o.pf_fault_around.unwrap_or(16),
            pool: o.pf_pool.unwrap_or(1024) as usize,
            zero: ZeroMethod::ALL[o.pf_zero.unwrap_or(0)],
            poison: kernel_core::cmdline::PF_BREAKS[o.pf_break.unwrap_or(0)] == "poison_pool",
        }
    }
}

/// Fault `count` untouched pages of this CPU's kernel arena (as `g` places them), handing
/// each faulting access's time and its handler's time to `sink`; returns how many accesses
/// did not fault (none should). Demand paging is on only for the loop.
fn fault_pages(
    access: Access,
    variant: Variant,
    g: Geometry,
    count: usize,
    mut sink: impl FnMut(usize, u64, u64),
) -> usize {
    let arena = ArenaPages::of(Space::Kernel);
    let mut quiet = 0;
    demand::enable(variant);
    for i in 0..count {
        // An arena page of this CPU: the access faults and the handler maps it.
        let p = arena.word(g.page(i));
        let v = time::computed(MAGIC + i as u64);
        let served = FAULTS_SERVED.read();
        let t0 = time::start();
        match access {
            Access::Write => p.write(v),
            Access::Read => {
                core::hint::black_box(p.read());
            }
        }
        let t1 = time::stop();
        if FAULTS_SERVED.read() == served + 1 {
            sink(i, t1 - t0, HANDLER_CYCLES.read());
        } else {
            quiet += 1;
        }
    }
    demand::disable();
    quiet
}

/// The handler times of one ring-3 round (logged by the fault handler itself).
static HANDLER_LOG: spin::Mutex<[u64; ARENA_PAGES]> = spin::Mutex::new([0; ARENA_PAGES]);

/// The same from ring 3: the user program touches `count` pages of this CPU's user arena (as
/// `g` places them), timing each access itself; the handler logs its own time per fault; the
/// samples are copied out under STAC/CLAC. The user space must be active.
fn fault_pages_user(
    access: Access,
    variant: Variant,
    g: Geometry,
    count: usize,
    mut sink: impl FnMut(usize, u64, u64),
) -> Result<usize, Exit> {
    let (start, _) = Space::User.arena();
    let va = ring3::sample_buffer(count as u64 * 8);
    let mut flags = programs::timing_flags() | programs::stride_flags(g.stride as u64);
    if access == Access::Read {
        flags |= programs::FLAG_READ;
    }
    let first = start + g.first as u64 * PAGE_SIZE;
    let mut log = HANDLER_LOG.lock();
    demand::enable(variant);
    let (exit, logged) = demand::with_handler_log(&mut log[..count], || {
        uspace::run(Program::PfLoop, [first, count as u64, va, flags], false)
    });
    demand::disable();
    if exit != Exit::Exited(count as u64) {
        return Err(exit);
    }
    let mut total = [0u64; 1];
    for (i, &h) in log[..logged].iter().enumerate() {
        ring3::copy_from_user(va + i as u64 * 8, 1, &mut total);
        sink(i, total[0], h);
    }
    Ok(count - logged)
}

/// Check the pages a round touched in this CPU's arena in `space`; returns the number of bad
/// pages and the first problem. A frame mapped at two written pages shows up as a wrong first
/// word (each page got its own value), so the content check also proves every frame is
/// mapped once. User pages are read through their user addresses under STAC/CLAC.
fn verify(
    space: Space,
    access: Access,
    variant: Variant,
    g: Geometry,
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
    for i in 0..count {
        let index = g.page(i);
        let p = arena.at(index);
        let page = p.addr();
        if variant == Variant::Huge2M {
            let pde = demand::pde_of(space, page);
            if pde & (PTE_P | PTE_PS | PTE_RW) != PTE_P | PTE_PS | PTE_RW {
                fail("a 2 MiB fault did not leave one writable 2 MiB mapping");
                continue;
            }
            if (space == Space::User) != (pde & PTE_US != 0) {
                fail("a 2 MiB page's user bit does not match its space");
            }
            if !(pde & PTE_ADDR_MASK).is_multiple_of(HUGE_SIZE) {
                fail("a 2 MiB page's frame is not 2 MiB-aligned");
            }
            if space.pte_slot(page).is_some() {
                fail("a 4 KiB page table is left under a 2 MiB page");
            }
            if !p.holds(MAGIC + i as u64) {
                fail("a 2 MiB page's first 4 KiB are not zero apart from the written word");
            }
            for k in 1..g.stride {
                if !arena.at(index + k).holds(0) {
                    fail("a 2 MiB page is not zero");
                    break;
                }
            }
            continue;
        }
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
            (Access::Read, Variant::ZeroPage) => {
                if frame != zero {
                    fail("a read page does not map the zero frame");
                }
                if !p.holds(0) {
                    fail("the zero page is not zero");
                }
            }
            (Access::Read, _) => {
                if frame == zero {
                    fail("a read page maps the zero frame");
                }
                if !p.holds(0) {
                    fail("a read page's private frame is not zero");
                }
            }
            (Access::Write, _) => {
                if frame == zero {
                    fail("a written page maps the zero frame");
                }
                if !p.holds(MAGIC + i as u64) {
                    fail("a written page is not zero apart from the written word");
                }
            }
        }
        if variant == Variant::FaultAround {
            // The rest of the window: mapped by the same fault, each its own zeroed frame.
            for k in 1..g.stride.min(arena.len() - index) {
                let q = arena.at(index + k);
                let e = space
                    .pte_slot(q.addr())
                    .map_or(0, |s| s.load(Ordering::Relaxed));
                if e & PTE_P == 0 || e & PTE_ADDR_MASK == zero {
                    fail("fault-around left a page of the window unmapped");
                } else if !q.holds(0) {
                    fail("fault-around mapped a page that is not zero");
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
    let o = Options::of(s);
    if variant == Variant::Prezeroed && !o.zero.available() {
        super::skip(
            name,
            "prezeroed with pf_zero=clzero: this CPU has no CLZERO (CPUID 0x8000_0008 EBX bit 0)",
        );
        return true;
    }
    let g = Geometry::of(space, variant, &o);
    if variant == Variant::Huge2M {
        let got = demand::huge_fill(g.per_round);
        demand::huge_drain();
        if got < g.per_round {
            super::skip(
                name,
                "huge_2m: the frame allocator has no free, aligned 2 MiB runs for a round",
            );
            return true;
        }
    }
    if variant == Variant::FaultAround {
        demand::set_fault_around(o.around);
    }
    let mut pool = POOL.lock();
    let pool = &mut pool[..o.pool];
    demand::with_pool(pool, || {
        latency_rounds(s, name, space, access, variant, g, &o)
    })
}

/// The pre-zeroed pools' storage (the BSP measures one configuration at a time).
static POOL: spin::Mutex<[u64; 8192]> = spin::Mutex::new([0; 8192]);

fn latency_rounds(
    s: &Settings,
    name: &str,
    space: Space,
    access: Access,
    variant: Variant,
    g: Geometry,
    o: &Options,
) -> bool {
    let mut buf = SAMPLES.lock();
    let mut aux = SAMPLES_AUX.lock();
    let mut trap = SAMPLES_TRAP.lock();
    let want = s.warmup + s.samples;
    let _irq = percpu::IrqGuard::new();
    let _active = (space == Space::User).then(uspace::activate);
    let (mut done, mut kept) = (0, 0);
    let mut t = Tally::default();
    // Pages checked, and accesses that did not fault (each should).
    let (mut pages, mut quiet_total) = (0usize, 0usize);
    let (mut audited, mut poisoned_seen) = (0u64, 0u64);
    let misses0 = demand::POOL_MISSES.read();
    let fallbacks0 = demand::HUGE_FALLBACKS.read();
    while done < want {
        let count = (want - done).min(g.per_round);
        let tables0 = demand::TABLES_MADE.read();
        let dropped = if variant == Variant::PtOnDemand {
            demand::drop_tables(space)
        } else {
            0
        };
        if variant == Variant::Huge2M && demand::huge_fill(count) < count {
            t.fail("no free 2 MiB run for a round");
            break;
        }
        if variant == Variant::Prezeroed {
            // Refilled between rounds, outside the timed accesses: the work an idle CPU
            // does; then every frame is audited zero (the negative control poisons one).
            demand::pool_fill(o.zero);
            if o.poison {
                demand::pool_poison();
            }
            let (n, bad) = demand::pool_audit();
            audited += n;
            poisoned_seen += bad;
        }
        let sink = |i: usize, t: u64, h: u64| {
            if done + i >= s.warmup && kept < buf.len() {
                buf[kept] = t;
                aux[kept] = h;
                trap[kept] = t.saturating_sub(h);
                kept += 1;
            }
        };
        let quiet = match space {
            Space::Kernel => fault_pages(access, variant, g, count, sink),
            Space::User => match fault_pages_user(access, variant, g, count, sink) {
                Ok(q) => q,
                Err(e) => {
                    release_round(space, variant, g, count);
                    demand::huge_drain();
                    return ring3::failed(name, e);
                }
            },
        };
        quiet_total += quiet;
        let (b, why) = verify(space, access, variant, g, count);
        t.add(b, why);
        pages += count;
        if variant == Variant::PtOnDemand {
            // Every whole 2 MiB span the round touched got its table in a fault.
            let spans = touched_spans(space, g, count);
            if demand::TABLES_MADE.read() - tables0 != spans as u64 || spans > dropped {
                t.fail("the faults did not allocate one page table per touched 2 MiB span");
            }
        }
        let (mapped, zero_page) = release_round(space, variant, g, count);
        let expect = match (access, variant) {
            (Access::Read, Variant::ZeroPage) => (0, count),
            (_, Variant::FaultAround) => ((count * g.stride).min(ARENA_PAGES), 0),
            _ => (count, 0),
        };
        if (mapped, zero_page) != expect {
            t.fail("unmapping found a different number of pages");
        }
        done += count;
    }
    demand::huge_drain();
    if matches!(variant, Variant::PtOnDemand | Variant::Huge2M) {
        // The next configurations find the tables built again.
        let me = sys::arch::cpu_id() as usize;
        match space {
            Space::Kernel => demand::prepare(me),
            Space::User => demand::prepare_user(me),
        }
    }
    if quiet_total > 0 {
        t.fail("an access did not fault");
    }
    if demand::POOL_MISSES.read() != misses0 {
        t.fail("a fault found the pre-zeroed pool empty");
    }
    if demand::HUGE_FALLBACKS.read() != fallbacks0 {
        t.fail("a 2 MiB fault mapped 4 KiB instead");
    }
    drop(_active);
    drop(_irq);
    let page = if variant == Variant::Huge2M {
        HUGE_SIZE
    } else {
        PAGE_SIZE
    };
    // One result per part of the fault: the whole access (`total`), the handler's own time
    // (`handler`), and the trap's share, total minus handler (`trap`).
    for (part, samples) in [
        ("total", &mut buf[..kept]),
        ("handler", &mut aux[..kept]),
        ("trap", &mut trap[..kept]),
    ] {
        let base = [
            ("mode", P::S(space.name())),
            ("page", P::U(page)),
            ("access", P::S(access.name())),
            ("variant", P::S(variant.name())),
            ("part", P::S(part)),
        ];
        let extra = match variant {
            Variant::FaultAround => Some(("around", P::U(o.around))),
            Variant::Prezeroed => Some(("zero", P::S(o.zero.name()))),
            _ => None,
        };
        let mut params = [("", P::U(0)); 6];
        params[..5].copy_from_slice(&base);
        let n = match extra {
            Some(e) => {
                params[5] = e;
                6
            }
            None => 5,
        };
        emit(
            name,
            Kind::Workload,
            &params[..n],
            "cycles",
            s.warmup,
            samples,
        );
    }
    let mut ok = true;
    if variant == Variant::Prezeroed {
        let mut detail = kernel_core::fmtbuf::FmtBuf::<96>::new();
        let _ = core::fmt::Write::write_fmt(
            &mut detail,
            format_args!(
                "{audited} pool frames audited, {poisoned_seen} not zero ({})",
                o.zero.name()
            ),
        );
        let mut check_name = kernel_core::fmtbuf::FmtBuf::<64>::new();
        let _ = core::fmt::Write::write_fmt(
            &mut check_name,
            format_args!("pf_pool_audit/{}", space.name()),
        );
        ok &= check(
            check_name.as_str(),
            poisoned_seen == 0 && audited > 0,
            detail.as_str(),
        );
    }
    ok & t.check(
        format_args!(
            "pf_pages_checked/{}/{}/{}",
            space.name(),
            access.name(),
            variant.name()
        ),
        format_args!("{pages} pages checked, "),
    )
}

/// The whole 2 MiB spans of the arena that the round's pages fall in.
fn touched_spans(space: Space, g: Geometry, count: usize) -> usize {
    let (start, end) = space.arena();
    let first_span = start.next_multiple_of(HUGE_SIZE);
    let mut spans = 0;
    let mut last = u64::MAX;
    for i in 0..count {
        let page = start + g.page(i) as u64 * PAGE_SIZE;
        let span = page & !(HUGE_SIZE - 1);
        if span >= first_span && span + HUGE_SIZE <= end && span != last {
            spans += 1;
            last = span;
        }
    }
    spans
}

/// Unmap what a round mapped: (4 KiB pages or 2 MiB pages with their own frames, pages that
/// mapped the zero page).
fn release_round(space: Space, variant: Variant, g: Geometry, count: usize) -> (usize, usize) {
    match variant {
        Variant::Huge2M => (demand::release_huge(space), 0),
        Variant::FaultAround => {
            let r = demand::release(space, (count * g.stride).min(ARENA_PAGES));
            (r.mapped, r.zero_page)
        }
        _ => {
            let r = demand::release(space, count);
            (r.mapped, r.zero_page)
        }
    }
}

pub fn run_latency(s: &Settings) -> bool {
    let me = sys::arch::cpu_id() as usize;
    demand::prepare(me);
    demand::prepare_user(me);
    let mut ok = true;
    for space in [Space::Kernel, Space::User] {
        for &(access, variant) in CONFIGS {
            if s.opts.pf_variant_selected(variant as usize) {
                ok &= latency(s, space, access, variant);
            }
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
    let g = Geometry {
        first: 0,
        stride: 1,
        per_round: ARENA_PAGES,
    };
    let (bad, _) = verify(Space::Kernel, Access::Write, Variant::DemandZero, g, pages);
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
    let mut ok = true;
    let mut buf = SAMPLES.lock();
    let timeout = tsc::hz() * 60;
    for cpus in super::cpu_counts(max) {
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
