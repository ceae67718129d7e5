//! The TLB shootdown benchmark and its oracle, over the mechanism in `sys::mm::tlb` (requests,
//! protocols, transport): the sweep measures every protocol of the registry over spaces,
//! target counts, deliveries and page counts; the oracle checks each protocol's contract
//! under a generation check, with the negative controls of the command line.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_core::cmdline::ShootdownBreak;
use kernel_core::paging::{PTE_ADDR_MASK, PTE_G, PTE_P, PTE_RW, PTE_US};
use kernel_core::uspace as ul;
use percpu::{layout, window_base};
use sys::arch::tlb::flush_global_pge;
use sys::arch::user::{Exit, UserAccess};
use sys::arch::{self, apic, tsc};
use sys::cpu::{call as work, smp};
use sys::mm::probe::Word;
use sys::mm::tlb::{
    self, ClusterList, CpuSet, Delivery, Knobs, PROTOCOLS, Request, Space, shootdown,
};
use sys::mm::uspace::{self, Program, SHARED};
use sys::mm::{self, PAGE_SIZE};
use sys::{println, record};

use super::{Kind, P, SAMPLES, Settings, check, emit, skip, time};

// The region: 512 pages, in the kernel half (the BSP's arena, global pages, readers in ring 0)
// or in the user address space (`kernel_core::uspace::REGION`, non-global user pages, readers
// in ring 3 running `uspace::programs` "reader"). Two frame sets alternate: generation g maps
// set g % 2, whose pages hold g (generations start at 1). After each shootdown returns, the
// old set is poisoned (POISON = 0, below every generation), so a read through a translation
// of any age that survived the shootdown is caught. The readers check every value against
// the published generation (`uspace::SHARED`, shared with ring 3), and each reports the
// generation its last complete pass expected, so the initiator knows every target has looked
// after a change. The initiator reads the changed pages itself after each return (its own
// invalidation is checked too). In the writer variant the readers also write the generation
// into each page; the old set must still hold the poison when it is reused.

/// Pages of the test region: the largest shootdown.
const REGION_PAGES: usize = ul::REGION_PAGES as usize;
/// What every word the oracle checks holds once its frame is no longer mapped.
const POISON: u64 = 0;
/// Where the writer variant's readers write in each page (away from the word they read).
const WRITE_OFFSET: u64 = 2048;

/// Leaf flags of the region: in the kernel half global, as any kernel mapping; user pages are
/// never global. No-execute where the CPU has it.
fn region_flags(space: Space) -> u64 {
    match space {
        Space::Kernel => PTE_P | PTE_RW | PTE_G | mm::xd(),
        Space::User => PTE_P | PTE_RW | PTE_US | mm::xd(),
    }
}

/// What a shootdown changes: leaf PTEs (`Pte`), or the user region's page-directory entry,
/// swapped between two page tables (`Pde`: paging-structure caches must go too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Pte,
    Pde,
}

/// The region's two frame sets, and for the PDE variant the user region's two page tables
/// (table s maps frame set s).
struct Frames {
    sets: [[u64; REGION_PAGES]; 2],
    tables: [u64; 2],
}

static FRAMES: spin::Mutex<Frames> = spin::Mutex::new(Frames {
    sets: [[0; REGION_PAGES]; 2],
    tables: [0; 2],
});
static READERS_RUNNING: AtomicU64 = AtomicU64::new(0);
/// A ring-3 reader that ended other than by SYS_EXIT(0) (it was killed).
static READER_FAILED: AtomicBool = AtomicBool::new(false);

fn region(space: Space) -> u64 {
    match space {
        Space::Kernel => window_base(0).expect("window 0") + layout::ARENA_OFFSET,
        Space::User => ul::REGION,
    }
}

fn region_pte(space: Space, page: u64) -> &'static AtomicU64 {
    match space {
        // Inside the timed region (`remap`): the lookups inlined into the loop.
        Space::Kernel => mm::pte_slot_inline(page),
        Space::User => uspace::pte_slot_inline(page),
    }
    .expect("region tables")
}

/// A kernel-mode target: keep reading the region's pages (so its TLB holds them) with
/// interrupts on, and check each read against the published generation.
fn reader(_: u64) {
    let me = arch::cpu_id() as usize;
    let base = region(Space::Kernel);
    // Start from an empty TLB: the region was remapped to the current generation while no
    // reader ran, without a shootdown.
    flush_global_pge();
    READERS_RUNNING.fetch_add(1, Ordering::AcqRel);
    arch::interrupts_enable();
    while SHARED.stop.load(Ordering::Acquire) == 0 {
        let expect = SHARED.generation.load(Ordering::Acquire);
        let n = SHARED.read_pages.load(Ordering::Relaxed);
        let stride = SHARED.read_stride.load(Ordering::Relaxed);
        let write = SHARED.write_offset.load(Ordering::Relaxed);
        for i in 0..n {
            let page = base + i * stride;
            // The region's pages are always mapped (to one set or the other).
            if Word::at(page).read() < expect {
                SHARED.stale_reads.fetch_add(1, Ordering::Relaxed);
            }
            if write != 0 {
                // The word at WRITE_OFFSET is the writer variant's.
                Word::at(page + write).write(expect);
            }
        }
        SHARED.checked[me].store(expect, Ordering::Release);
    }
    arch::interrupts_disable();
    READERS_RUNNING.fetch_sub(1, Ordering::AcqRel);
}

/// A ring-3 target: load the user address space and run the reader program with interrupts
/// on; shootdown IPIs interrupt it in ring 3.
fn user_reader(_: u64) {
    let me = arch::cpu_id() as usize;
    let _space = uspace::activate();
    READERS_RUNNING.fetch_add(1, Ordering::AcqRel);
    let checked = ul::SHARED + (core::mem::offset_of!(uspace::Shared, checked) + me * 8) as u64;
    let exit = uspace::run(Program::Reader, [ul::REGION, ul::SHARED, checked, 0], true);
    if exit != Exit::Exited(0) {
        println!("bench: shootdown: the ring-3 reader on cpu {me} ended with {exit:?}");
        READER_FAILED.store(true, Ordering::Release);
    }
    READERS_RUNNING.fetch_sub(1, Ordering::AcqRel);
}

/// Write generation `g` into its frame set's first `pages` frames; with `check_writes`, first
/// count the frames whose writer word is no longer the poison (a write through a translation
/// that survived the shootdown that unmapped the set).
fn prepare_generation(frames: &Frames, g: u64, pages: usize, check_writes: bool) -> u64 {
    let mut stale_writes = 0;
    for &f in &frames.sets[(g % 2) as usize][..pages] {
        if check_writes && mm::frame_word(f, WRITE_OFFSET).load(Ordering::Relaxed) != POISON {
            stale_writes += 1;
        }
        mm::frame_word(f, 0).store(g, Ordering::Relaxed);
        mm::frame_word(f, WRITE_OFFSET).store(POISON, Ordering::Relaxed);
    }
    stale_writes
}

/// Poison the first `pages` frames of the set generation `g` used: it is no longer mapped.
fn poison(frames: &Frames, g: u64, pages: usize) {
    for &f in &frames.sets[(g % 2) as usize][..pages] {
        mm::frame_word(f, 0).store(POISON, Ordering::Relaxed);
        mm::frame_word(f, WRITE_OFFSET).store(POISON, Ordering::Relaxed);
    }
}

/// Point the region's first `pages` PTEs at generation `g`'s frames (or, at `Level::Pde`,
/// the region's PDE at generation `g`'s page table): the change a shootdown makes visible.
fn remap(space: Space, level: Level, frames: &Frames, g: u64, pages: usize) {
    let base = region(space);
    let set = (g % 2) as usize;
    match level {
        Level::Pte => {
            let flags = region_flags(space);
            for (i, f) in frames.sets[set][..pages].iter().enumerate() {
                region_pte(space, base + i as u64 * PAGE_SIZE).store(f | flags, Ordering::Release);
            }
        }
        Level::Pde => {
            let pde = uspace::pde_slot(base).expect("region PDE");
            let e = pde.load(Ordering::Relaxed);
            pde.store((e & !PTE_ADDR_MASK) | frames.tables[set], Ordering::Release);
        }
    }
}

/// Read the first `pages` pages of the region on this CPU (which runs its space) and count
/// those that do not hold generation `g`: the initiator's own check after a shootdown.
fn initiator_stale(space: Space, g: u64, read: Reads) -> u64 {
    let base = region(space);
    let _user = (space == Space::User).then(UserAccess::begin);
    (0..read.count as u64)
        .filter(|i| {
            let page = base + i * read.stride as u64 * PAGE_SIZE;
            // The region's pages are always mapped; user pages inside UserAccess.
            Word::at(page).read() != g
        })
        .count() as u64
}

/// One configuration's outcome.
struct Outcome {
    samples: usize,
    timed_out: bool,
    /// Old values seen by the initiator's own reads, and writes that reached an old frame.
    initiator_stale: u64,
    stale_writes: u64,
}

/// Which of the changed pages are read: `count` pages, `stride` pages apart from the
/// region's first. Few pages spread over the region keep a reader's TLB footprint small, so
/// an emulator's small or direct-mapped TLB does not evict a stale entry before it is read.
#[derive(Clone, Copy, Debug)]
struct Reads {
    count: usize,
    stride: usize,
}

impl Reads {
    const fn first(count: usize) -> Reads {
        Reads { count, stride: 1 }
    }
}

/// One measured configuration.
struct Config<'a> {
    space: Space,
    proto: usize,
    delivery: Delivery<'a>,
    targets: &'a CpuSet,
    /// Pages changed (0: the whole region, with a full flush).
    pages: usize,
    /// The pages the readers (and the initiator, after each shootdown) read.
    read: Reads,
    full: bool,
    level: Level,
    /// The readers also write (the writer variant).
    write: bool,
    /// A target not asked (the oracle's `leave_out`).
    leave_out: Option<usize>,
}

/// Run `samples + warmup` shootdowns of one configuration; samples go into `buf`. Readers
/// must be running on the targets, and on this CPU the region's space must be loaded.
fn measure(
    s: &Settings,
    c: &Config,
    buf: &mut [u64],
    frames: &Frames,
    timeout_ticks: u64,
) -> Outcome {
    let mut asked = *c.targets;
    if let Some(v) = c.leave_out {
        asked.remove(v);
    }
    let req = Request {
        start: region(c.space),
        pages: c.pages as u64,
        full: c.full,
        space: c.space,
    };
    let mut out = Outcome {
        samples: 0,
        timed_out: false,
        initiator_stale: 0,
        stale_writes: 0,
    };
    for i in 0..s.warmup + s.samples {
        let g = SHARED.generation.load(Ordering::Relaxed) + 1;
        out.stale_writes += prepare_generation(frames, g, c.pages, c.write);
        let t0 = time::start();
        remap(c.space, c.level, frames, g, c.pages);
        let r = shootdown(c.proto, &req, &asked, c.delivery, timeout_ticks);
        let t1 = time::stop();
        if let Err(e) = r {
            println!(
                "bench: shootdown: {} of {} targets never acknowledged within {} ms",
                e.acks_missing,
                asked.len(),
                timeout_ticks / (tsc::hz() / 1000).max(1)
            );
            out.timed_out = true;
            return out;
        }
        // The old frames are unmapped on every CPU now: poison them, then check this CPU.
        poison(frames, g - 1, c.pages);
        out.initiator_stale += initiator_stale(c.space, g, c.read);
        SHARED.generation.store(g, Ordering::Release);
        // Every target completes one check pass against g before the next change, so a stale
        // translation cannot go unnoticed (bounded: a broken target still reads).
        let deadline = tsc::rdtsc() + timeout_ticks;
        for t in c.targets.iter() {
            while SHARED.checked[t].load(Ordering::Acquire) < g && tsc::rdtsc() < deadline {
                core::hint::spin_loop();
            }
        }
        if i >= s.warmup && out.samples < buf.len() {
            buf[out.samples] = t1 - t0;
            out.samples += 1;
        }
    }
    out
}

/// Bring the region to the current generation (no reader runs; the old set poisoned), then
/// start the readers of `space` on `targets`, reading `pages` pages.
fn start_readers(c: &Config, frames: &Frames) -> bool {
    let (space, targets, write) = (c.space, c.targets, c.write);
    let g = SHARED.generation.load(Ordering::Relaxed);
    prepare_generation(frames, g, REGION_PAGES, false);
    poison(frames, g + 1, REGION_PAGES);
    if c.level == Level::Pde {
        fill_pde_tables(frames);
    }
    remap(space, c.level, frames, g, REGION_PAGES);
    if space == Space::User {
        uspace::changed_without_shootdown();
    }
    flush_global_pge();
    SHARED.stop.store(0, Ordering::Release);
    SHARED
        .read_pages
        .store(c.read.count.max(1) as u64, Ordering::Release);
    SHARED
        .read_stride
        .store(c.read.stride as u64 * PAGE_SIZE, Ordering::Release);
    SHARED
        .write_offset
        .store(if write { WRITE_OFFSET } else { 0 }, Ordering::Release);
    let before = READERS_RUNNING.load(Ordering::Acquire);
    let job = match space {
        Space::Kernel => reader as fn(u64),
        Space::User => user_reader,
    };
    let mut posted = 0;
    for t in targets.iter() {
        match work::post(t, job, 0) {
            Ok(()) => posted += 1,
            Err(e) => println!("bench: shootdown: cpu {t} cannot run a reader: {e}"),
        }
    }
    let want = before + posted;
    let deadline = tsc::rdtsc() + tsc::hz();
    while READERS_RUNNING.load(Ordering::Acquire) < want && tsc::rdtsc() < deadline {
        core::hint::spin_loop();
    }
    posted == targets.len() as u64 && READERS_RUNNING.load(Ordering::Acquire) >= want
}

/// Stop the readers; false if one did not finish in 5 s or a ring-3 reader was killed.
fn stop_readers(targets: &CpuSet) -> bool {
    SHARED.stop.store(1, Ordering::Release);
    let finished = targets.iter().all(|t| work::wait(t, 5000));
    finished && !READER_FAILED.swap(false, Ordering::AcqRel)
}

/// Allocate the frame sets and the PDE variant's second page table, build the region's
/// tables in both spaces and map generation 1.
fn setup() -> spin::MutexGuard<'static, Frames> {
    sys::mm::fault::prepare(0);
    uspace::prepare_tables(ul::REGION, ul::REGION_PAGES * PAGE_SIZE);
    let mut frames = FRAMES.lock();
    if frames.sets[0][0] == 0 {
        for set in frames.sets.iter_mut() {
            let got = mm::alloc_frames(set);
            assert_eq!(got, REGION_PAGES, "out of memory for the shootdown region");
        }
        let pde = uspace::pde_slot(ul::REGION).expect("region PDE");
        frames.tables[0] = pde.load(Ordering::Relaxed) & PTE_ADDR_MASK;
        frames.tables[1] = mm::alloc_frame().expect("out of memory for the region's table");
    }
    SHARED.generation.store(1, Ordering::Release);
    for t in SHARED.checked.iter() {
        t.store(0, Ordering::Relaxed);
    }
    prepare_generation(&frames, 1, REGION_PAGES, false);
    for space in [Space::Kernel, Space::User] {
        remap(space, Level::Pte, &frames, 1, REGION_PAGES);
    }
    uspace::changed_without_shootdown();
    flush_global_pge();
    frames
}

/// Before a PDE configuration: table s maps frame set s, all 512 pages (table 0 is the one
/// the region's PTEs live in, so PTE-level configurations rewrite it as they go).
fn fill_pde_tables(frames: &Frames) {
    let flags = region_flags(Space::User);
    for s in 0..2 {
        // A page-table frame of ours (the region's); no CPU walks it while no reader runs,
        // and it is not loaded or it maps the same frames.
        let table = mm::table_at(frames.tables[s]);
        for (e, f) in table.iter().zip(frames.sets[s].iter()) {
            e.store(f | flags, Ordering::Relaxed);
        }
    }
}

/// Undo a PDE configuration: the region's PDE back to table 0 (whose PTEs the next
/// configuration rewrites), every CPU's PCID flushed on its next load.
fn restore_pde(frames: &Frames) {
    let pde = uspace::pde_slot(ul::REGION).expect("region PDE");
    let e = pde.load(Ordering::Relaxed);
    pde.store((e & !PTE_ADDR_MASK) | frames.tables[0], Ordering::Release);
    uspace::changed_without_shootdown();
    flush_global_pge();
}

fn timeout_ticks(s: &Settings) -> u64 {
    tsc::hz() / 1000 * s.opts.timeout_ms.unwrap_or(1000)
}

/// The CPUs a shootdown benchmark may use as targets: the online APs that are idle, in
/// increasing order, and whether they are every other CPU the machine has. That is the
/// condition for the all-but-self shorthand, which the APIC delivers to every other CPU, online
/// or not: an enabled CPU that was never woken (or missed its deadline) would take the IPI in
/// whatever state the firmware left it, and may triple-fault the platform. Busy CPUs (left
/// running by a timed-out group) are reported.
fn target_pool(bench: &str) -> (CpuSet, bool) {
    let aps = work::available_aps();
    let others = smp::online_count() - 1;
    if aps.len() < others {
        super::skip_busy(bench, others - aps.len());
    }
    let everyone = aps.len() == others && smp::found_count() == smp::online_count();
    if !everyone {
        skip(
            bench,
            "all_but_self delivery: the shorthand reaches every CPU the machine has, and not \
             all of them are online and idle",
        );
    }
    (aps, everyone)
}

/// [`target_pool`] and the most targets the benchmark uses (`bench_cpus` minus the
/// initiator, at most the pool); None, after a skip record, when there is no target at all.
fn target_limit(s: &Settings, bench: &str) -> Option<(CpuSet, bool, usize)> {
    let (pool, everyone) = target_pool(bench);
    let max_targets = s.opts.cpus.map_or(pool.len(), |c| {
        (c as usize).saturating_sub(1).min(pool.len())
    });
    if max_targets < 1 {
        skip(bench, "needs 2 CPUs online and idle");
        return None;
    }
    Some((pool, everyone, max_targets))
}

/// Start readers, measure one configuration, stop the readers. Err: an error record was
/// written (a target never acknowledged, or a reader could not start).
fn run_config(
    s: &Settings,
    c: &Config,
    buf: &mut [u64],
    frames: &Frames,
    bench: &str,
) -> Result<(Outcome, bool), ()> {
    let touched = if c.pages == 0 { REGION_PAGES } else { c.pages };
    let c = Config {
        pages: touched,
        ..*c
    };
    let started = start_readers(&c, frames);
    let out = if started {
        measure(s, &c, buf, frames, timeout_ticks(s))
    } else {
        Outcome {
            samples: 0,
            timed_out: false,
            initiator_stale: 0,
            stale_writes: 0,
        }
    };
    let stopped = stop_readers(c.targets);
    if c.level == Level::Pde {
        restore_pde(frames);
    }
    SHARED.write_offset.store(0, Ordering::Release);
    if !started {
        record!("error", |r| r
            .str("kind", "bench")
            .str("bench", bench)
            .str("message", "a reader did not start within 1 s"));
        return Err(());
    }
    if out.timed_out {
        record!("error", |r| r
            .str("kind", "bench")
            .str("bench", bench)
            .str("message", "a target never acknowledged a shootdown"));
        return Err(());
    }
    Ok((out, stopped))
}

fn pages_param(pages: usize) -> P {
    if pages == 0 {
        P::S("full")
    } else {
        P::U(pages as u64)
    }
}

/// The sweep's target counts: 0 (the no-IPI control), then powers of two below the largest,
/// then the largest (the quick suite: 0, 1 and the largest).
fn sweep_target_counts(max_targets: usize, quick: bool) -> ([usize; 14], usize) {
    let mut counts = [0usize; 14];
    let mut n = 1; // counts[0] = 0: the control
    let mut t = 1;
    while t < max_targets && !quick {
        counts[n] = t;
        n += 1;
        t *= 2;
    }
    if quick && max_targets > 1 {
        counts[n] = 1;
        n += 1;
    }
    counts[n] = max_targets;
    n += 1;
    (counts, n)
}

/// The sweep: space × protocol × targets × delivery × pages. Targets 0 is the no-IPI control
/// (the initiator's own invalidation and the transport's bookkeeping).
pub fn run_sweep(s: &Settings) -> bool {
    let Some((pool, everyone, max_targets)) = target_limit(s, "shootdown") else {
        return true;
    };
    let _irq = percpu::IrqGuard::new();
    let frames = setup();
    let ceiling = s.opts.flush_ceiling.unwrap_or(32) as usize;
    let (target_counts, nt) = sweep_target_counts(max_targets, s.quick);
    let page_counts: &[usize] = if s.quick {
        &[1, 8, 64, 0]
    } else {
        &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 0]
    };
    let cluster_unusable = apic::cluster_multicast_unusable();
    if let Some(why) = cluster_unusable {
        skip("shootdown", why);
    }
    let mut buf = SAMPLES.lock();
    let mut ok = true;
    SHARED.stale_reads.store(0, Ordering::Release);
    let mut initiator = 0;
    for space in [Space::Kernel, Space::User] {
        // The initiator runs in the space whose mappings it changes.
        let _active = (space == Space::User).then(uspace::activate);
        for (pi, proto) in PROTOCOLS.iter().enumerate() {
            if let Some(why) = proto.unsupported() {
                if space == Space::Kernel {
                    skip(proto.name(), why);
                }
                continue;
            }
            for &ntargets in &target_counts[..nt] {
                let targets = pool.first(ntargets);
                let clusters = ClusterList::build(&targets, smp::apic_id_of);
                let mut deliveries = [Some(Delivery::Unicast), None, None];
                if ntargets > 0 && ntargets == pool.len() && everyone {
                    deliveries[1] = Some(Delivery::AllButSelf);
                }
                if ntargets > 0 && cluster_unusable.is_none() {
                    deliveries[2] = Some(Delivery::ClusterMulticast(&clusters));
                }
                for delivery in deliveries.into_iter().flatten() {
                    for &pages in page_counts {
                        let full = pages == 0 || pages > ceiling;
                        let c = Config {
                            space,
                            proto: pi,
                            delivery,
                            targets: &targets,
                            pages,
                            // The sweep's readers read every changed page.
                            read: Reads::first(if pages == 0 { REGION_PAGES } else { pages }),
                            full,
                            level: Level::Pte,
                            write: false,
                            leave_out: None,
                        };
                        let Ok((out, stopped)) =
                            run_config(s, &c, &mut buf[..], &frames, "shootdown")
                        else {
                            return false;
                        };
                        ok &= stopped;
                        initiator += out.initiator_stale;
                        emit(
                            "shootdown",
                            Kind::Workload,
                            &[
                                ("protocol", P::S(proto.name())),
                                ("delivery", P::S(delivery.name())),
                                ("space", P::S(space.name())),
                                ("targets", P::U(ntargets as u64)),
                                ("pages", pages_param(pages)),
                                ("flush", P::S(if full { "full" } else { "pages" })),
                            ],
                            "cycles",
                            s.warmup,
                            &mut buf[..out.samples],
                        );
                    }
                }
            }
        }
    }
    let stale = SHARED.stale_reads.swap(0, Ordering::AcqRel) + initiator;
    let mut d = kernel_core::fmtbuf::FmtBuf::<96>::new();
    let _ = core::fmt::Write::write_fmt(&mut d, format_args!("{stale} stale reads over the sweep"));
    ok &= check("shootdown_sweep_no_stale_reads", stale == 0, d.as_str());
    ok
}

/// Samples per oracle configuration in the quick suite.
const ORACLE_QUICK_SAMPLES: usize = 50;

/// The oracle's variants of a configuration: what changes and what the readers do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// Leaf PTEs change; readers read.
    Read,
    /// Leaf PTEs change; readers also write (the old frame must stay untouched).
    Write,
    /// The user region's PDE swaps page tables (paging-structure caches); readers read.
    Pde,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Read => "read",
            Variant::Write => "write",
            Variant::Pde => "pde",
        }
    }
}

/// The oracle: shootdowns under the generation check, with the broken variant and the ack
/// delay of the command line, for every protocol the CPU has, in both spaces (ring-0 and
/// ring-3 readers), every delivery the machine allows, 1 and 8 pages and a full flush, plus
/// the writer and the page-directory variants. One check per configuration: no target and
/// not the initiator ever read an old frame after a shootdown returned, and no write reached
/// one (with an ack delay D, also: every sample is at least D). A broken variant must fail
/// every configuration's check: one with no detection power shows as a passing check.
pub fn run_oracle(s: &Settings) -> bool {
    // The quick suite checks; it does not measure: fewer samples per configuration (every
    // broken variant is caught within a few dozen), so 20-odd configurations stay quick even
    // where each shootdown costs a host scheduler slice (more vCPUs than host cores).
    let quick = Settings {
        samples: s.samples.min(ORACLE_QUICK_SAMPLES),
        warmup: s.warmup.min(ORACLE_QUICK_SAMPLES / 10),
        ..*s
    };
    let s = if s.quick { &quick } else { s };
    let Some((pool, everyone, max_targets)) = target_limit(s, "shootdown_oracle") else {
        return true;
    };
    let targets = pool.first(max_targets.min(3));
    let ntargets = targets.len();
    let victim = targets.max().expect("a target"); // the last target
    let breakage = s.opts.breakage.unwrap_or(ShootdownBreak::None);
    let delay = s.opts.ack_delay.unwrap_or(0);
    tlb::set_knobs(Knobs {
        skip_invalidate_cpu: (breakage == ShootdownBreak::SkipInvlpg).then_some(victim),
        skip_local: breakage == ShootdownBreak::SkipLocal,
        never_ack_cpu: s.opts.never_ack.then_some(victim),
        ack_delay: delay,
    });
    let leave_out = (breakage == ShootdownBreak::LeaveOut).then_some(victim);
    println!(
        "bench: shootdown oracle: {ntargets} targets, break={}, ack_delay={delay}, never_ack={}",
        breakage.name(),
        s.opts.never_ack
    );
    let _irq = percpu::IrqGuard::new();
    let frames = setup();
    let clusters = ClusterList::build(&targets, smp::apic_id_of);
    let deliveries = oracle_deliveries(everyone, ntargets == pool.len(), &clusters);
    let mut buf = SAMPLES.lock();
    let mut ok = true;
    let mut min_sample = u64::MAX;
    let mut configs = 0;
    for space in [Space::Kernel, Space::User] {
        let _active = (space == Space::User).then(uspace::activate);
        for (pi, proto) in PROTOCOLS.iter().enumerate() {
            if proto.unsupported().is_some() {
                continue;
            }
            let (plan, np) = oracle_plan(space, &deliveries);
            for (delivery, pages, variant) in plan[..np].iter().flatten().copied() {
                let c = Config {
                    space,
                    proto: pi,
                    delivery,
                    targets: &targets,
                    pages,
                    read: oracle_reads(pages),
                    full: pages == 0,
                    level: if variant == Variant::Pde {
                        Level::Pde
                    } else {
                        Level::Pte
                    },
                    write: variant == Variant::Write,
                    leave_out,
                };
                SHARED.stale_reads.store(0, Ordering::Release);
                let Ok((out, stopped)) =
                    run_config(s, &c, &mut buf[..], &frames, "shootdown_oracle")
                else {
                    tlb::reset_knobs();
                    return false;
                };
                ok &= stopped;
                configs += 1;
                let readers = SHARED.stale_reads.swap(0, Ordering::AcqRel);
                if let Some(m) = buf[..out.samples].iter().min() {
                    min_sample = min_sample.min(*m);
                }
                emit_oracle_result(
                    s,
                    &c,
                    proto.name(),
                    variant,
                    breakage,
                    delay,
                    &mut buf[..out.samples],
                );
                ok &= oracle_check(&c, proto.name(), variant, readers, &out, breakage, victim);
            }
        }
    }
    tlb::reset_knobs();
    println!("bench: shootdown oracle: {configs} configurations checked");
    if delay > 0 {
        let mut d = kernel_core::fmtbuf::FmtBuf::<128>::new();
        let _ = core::fmt::Write::write_fmt(
            &mut d,
            format_args!("shortest sample {min_sample} cycles, ack delay {delay}"),
        );
        ok &= check("shootdown_waits_for_acks", min_sample >= delay, d.as_str());
    }
    ok
}

/// The deliveries the oracle checks: unicast always; all-but-self when the targets are every
/// other CPU the machine has; x2APIC cluster multicast where it works (else a skip record).
fn oracle_deliveries(
    everyone: bool,
    all_targets: bool,
    clusters: &ClusterList,
) -> [Option<Delivery<'_>>; 3] {
    let mut deliveries = [Some(Delivery::Unicast), None, None];
    if everyone && all_targets {
        deliveries[1] = Some(Delivery::AllButSelf);
    } else if everyone {
        skip(
            "shootdown_oracle",
            "all_but_self delivery: the oracle's targets are not every other CPU",
        );
    }
    match apic::cluster_multicast_unusable() {
        None => deliveries[2] = Some(Delivery::ClusterMulticast(clusters)),
        Some(why) => skip("shootdown_oracle", why),
    }
    deliveries
}

/// The `result` record of one oracle configuration.
fn emit_oracle_result(
    s: &Settings,
    c: &Config,
    protocol: &'static str,
    variant: Variant,
    breakage: ShootdownBreak,
    delay: u64,
    samples: &mut [u64],
) {
    emit(
        "shootdown_oracle",
        Kind::Workload,
        &[
            ("protocol", P::S(protocol)),
            ("delivery", P::S(c.delivery.name())),
            ("space", P::S(c.space.name())),
            ("targets", P::U(c.targets.len() as u64)),
            ("pages", pages_param(c.pages)),
            ("variant", P::S(variant.name())),
            ("break", P::S(breakage.name())),
            ("ack_delay", P::U(delay)),
        ],
        "cycles",
        s.warmup,
        samples,
    );
}

/// One oracle configuration: delivery, pages changed (0: all, with a full flush), variant.
type PlanEntry<'a> = (Delivery<'a>, usize, Variant);
/// The configurations of one protocol in one space (at most 3 deliveries × 3 page counts, the
/// writer and the PDE variants).
type Plan<'a> = [Option<PlanEntry<'a>>; 12];

/// The oracle's configurations in `space` for one protocol: every delivery at 1 and 8 pages
/// and a full flush (readers read), the writer variant, and in the user space the PDE swap.
fn oracle_plan<'a>(space: Space, deliveries: &[Option<Delivery<'a>>; 3]) -> (Plan<'a>, usize) {
    let mut plan = [None; 12];
    let mut np = 0;
    for delivery in deliveries.iter().flatten() {
        for pages in [1usize, 8, 0] {
            plan[np] = Some((*delivery, pages, Variant::Read));
            np += 1;
        }
    }
    plan[np] = Some((Delivery::Unicast, 8, Variant::Write));
    np += 1;
    if space == Space::User {
        // The whole 2 MiB span changes at once: only a full flush covers it.
        plan[np] = Some((Delivery::Unicast, 0, Variant::Pde));
        np += 1;
    }
    (plan, np)
}

/// What the readers read after a change of `pages` pages: all of them, or for a full flush
/// (all 512 change) 8 spread over the region (see `Reads`).
fn oracle_reads(pages: usize) -> Reads {
    if pages == 0 {
        Reads {
            count: 8,
            stride: REGION_PAGES / 8,
        }
    } else {
        Reads::first(pages)
    }
}

/// The check of one oracle configuration: no old frame read or written after a return.
fn oracle_check(
    c: &Config,
    protocol: &str,
    variant: Variant,
    readers: u64,
    out: &Outcome,
    breakage: ShootdownBreak,
    victim: usize,
) -> bool {
    let mut name = kernel_core::fmtbuf::FmtBuf::<128>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut name,
        format_args!(
            "shootdown_oracle_no_stale_reads/{}/{}/{}/{}/{}",
            c.space.name(),
            protocol,
            c.delivery.name(),
            PagesName(c.pages),
            variant.name()
        ),
    );
    let mut d = kernel_core::fmtbuf::FmtBuf::<224>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut d,
        format_args!(
            "after a shootdown returned: {readers} reads of an old frame by {} readers, {} by \
             the initiator, {} writes into an old frame (break={}, victim cpu {victim})",
            if c.space == Space::User {
                "ring-3"
            } else {
                "kernel"
            },
            out.initiator_stale,
            out.stale_writes,
            breakage.name()
        ),
    );
    let stale = readers + out.initiator_stale + out.stale_writes;
    check(name.as_str(), stale == 0, d.as_str())
}

/// A page count as a check name shows it.
struct PagesName(usize);

impl core::fmt::Display for PagesName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 == 0 {
            f.write_str("full")
        } else {
            write!(f, "{}", self.0)
        }
    }
}
