//! The TLB shootdown benchmark and its oracle, over the mechanism in `sys::mm::tlb` (requests,
//! protocols, transport): the sweep measures every protocol of the registry over spaces,
//! target counts, deliveries and page counts; the oracle checks each protocol's contract
//! under a generation check, with the negative controls of the command line.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_core::cmdline::ShootdownBreak;
use kernel_core::paging::{PTE_ADDR_MASK, PTE_G, PTE_P, PTE_RW, PTE_US};
use kernel_core::uspace as ul;
use kernel_core::{phases, topology};
use percpu::{layout, window_base};
use sys::arch::tlb::flush_global_pge;
use sys::arch::user::{Exit, UserAccess};
use sys::arch::{self, apic, tsc};
use sys::cpu::{call as work, smp};
use sys::mm::probe::Word;
use sys::mm::tlb::{
    self, ClusterList, CpuSet, Delivery, Gather, Knobs, Mode, PROTOCOLS, Request, Space, linux,
    reclaim, shootdown,
};
use sys::mm::uspace::{self, Program, SHARED};
use sys::mm::{self, PAGE_SIZE};
use sys::platform::acpi as numa;
use sys::{println, record};

use super::{Kind, P, SAMPLES, SAMPLES_AUX, SAMPLES_TRAP, Settings, check, emit, skip, time};

mod concurrent;

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

/// The page table mapping `va` in the region of `space` (inlined into the timed `remap`).
#[inline(always)]
fn region_table(space: Space, va: u64) -> &'static [AtomicU64; 512] {
    match space {
        Space::Kernel => mm::pte_table_inline(va),
        Space::User => uspace::pte_table_inline(va),
    }
    .expect("region tables")
}

/// Count one read of `value` by CPU `me` when the pass expected generation `expect`: the
/// poison is a recycled frame read through an old translation, any other older value a
/// stale read of an old frame not yet recycled (allowed for relaxed protocols until their
/// reclaim point; its time is kept to measure how stale).
#[inline(always)]
fn judge_read(me: usize, value: u64, expect: u64) {
    if value >= expect {
        return;
    }
    if value == POISON {
        SHARED.recycled_reads.fetch_add(1, Ordering::Relaxed);
    } else {
        SHARED.stale_reads.fetch_add(1, Ordering::Relaxed);
        SHARED.stale_tsc[me].store(tsc::rdtsc(), Ordering::Relaxed);
    }
}

/// One reader pass over the region at `base` in the current space (user pages inside
/// `UserAccess`): check each read, write in the writer variant; returns the generation the
/// pass expected.
fn read_pass(me: usize, base: u64, reads: &mut u64) -> u64 {
    let expect = SHARED.generation.load(Ordering::Acquire);
    let n = SHARED.read_pages.load(Ordering::Relaxed);
    let stride = SHARED.read_stride.load(Ordering::Relaxed);
    let write = SHARED.write_offset.load(Ordering::Relaxed);
    let mask = SHARED.pause_mask.load(Ordering::Relaxed);
    let per_pass = SHARED.deterministic.load(Ordering::Relaxed) != 0;
    if per_pass {
        *reads = 0;
    }
    for i in 0..n {
        let page = base + i * stride;
        // The region's pages are always mapped (to one set or the other).
        judge_read(me, Word::at(page).read(), expect);
        if write != 0 {
            // The word at WRITE_OFFSET is the writer variant's.
            Word::at(page + write).write(expect);
        }
        // A bounded amount of work between PAUSEs (`uspace::reads_per_pause`, counted
        // across passes): in the deterministic mode a reader adds at most that much to a
        // measurement per turn of QEMU's round robin.
        *reads += 1;
        if *reads & mask == 0 {
            core::hint::spin_loop();
        }
    }
    // The deterministic mode: a turn of the round robin also ends with each pass, so it
    // ends at the same point of every pass (`Shared::deterministic`).
    if per_pass && *reads & mask != 0 {
        core::hint::spin_loop();
    }
    expect
}

/// Run `body` as a target of protocol `proto`: the protocol's `target_start` first, counted in
/// `READERS_RUNNING` while it runs (the initiator waits for that), `target_stop` after.
fn as_target(proto: u64, body: impl FnOnce()) {
    let p = PROTOCOLS[proto as usize];
    p.target_start();
    READERS_RUNNING.fetch_add(1, Ordering::AcqRel);
    body();
    p.target_stop();
    READERS_RUNNING.fetch_sub(1, Ordering::AcqRel);
}

/// A kernel-mode target: keep reading the region's pages (so its TLB holds them) with
/// interrupts on, and check each read against the published generation. `proto`: the
/// protocol measured (its `target_start` runs first).
fn reader(proto: u64) {
    let me = arch::cpu_id() as usize;
    let base = region(Space::Kernel);
    // Start from an empty TLB: the region was remapped to the current generation while no
    // reader ran, without a shootdown.
    flush_global_pge();
    as_target(proto, || {
        arch::interrupts_enable();
        let mut reads = 0;
        while SHARED.stop.load(Ordering::Acquire) == 0 {
            let expect = read_pass(me, base, &mut reads);
            SHARED.checked[me].store(expect, Ordering::Release);
        }
        arch::interrupts_disable();
    });
}

/// The `linux` protocol's lazy target: the user space stays loaded while it runs kernel code
/// that does not touch it (lazy-TLB mode, skipped by user-space requests); each time a new
/// generation is published it leaves lazy mode (catching up), reads the region from the
/// kernel through the user mapping, checks every read, and goes lazy again.
fn lazy_reader(proto: u64) {
    let me = arch::cpu_id() as usize;
    let _space = uspace::activate();
    as_target(proto, || {
        arch::interrupts_enable();
        let mut reads = 0;
        while SHARED.stop.load(Ordering::Acquire) == 0 {
            linux::leave_lazy();
            let expect = {
                let _user = UserAccess::begin();
                read_pass(me, ul::REGION, &mut reads)
            };
            // Lazy again before the pass is announced: the initiator's next shootdown starts
            // only after it sees the pass, and must find this CPU lazy (announcing first left
            // a window in which the next request could still notify it).
            linux::enter_lazy();
            SHARED.checked[me].store(expect, Ordering::Release);
            // Kernel work that leaves the user space alone, until the next change is
            // published.
            while SHARED.generation.load(Ordering::Acquire) == expect
                && SHARED.stop.load(Ordering::Acquire) == 0
            {
                core::hint::spin_loop();
            }
        }
        linux::leave_lazy();
        arch::interrupts_disable();
    });
}

/// A ring-3 target: load the user address space and run the reader program with interrupts
/// on; shootdown IPIs (and epoch ticks) interrupt it in ring 3.
fn user_reader(proto: u64) {
    let me = arch::cpu_id() as usize;
    let _space = uspace::activate();
    let checked = ul::SHARED + (core::mem::offset_of!(uspace::Shared, checked) + me * 8) as u64;
    as_target(proto, || {
        let exit = uspace::run(Program::Reader, [ul::REGION, ul::SHARED, checked, 0], true);
        if exit != Exit::Exited(0) {
            println!("bench: shootdown: the ring-3 reader on cpu {me} ended with {exit:?}");
            READER_FAILED.store(true, Ordering::Release);
        }
    });
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
    remap_in(&RegionTables::of(space), level, frames, g, pages);
}

/// The page tables that map the region of a space (512 pages: two tables in the kernel half,
/// where the region starts 1 MiB into a 2 MiB span; one in user space), looked up before a
/// configuration's timed loop: the timed update is the PTE stores themselves, as in a
/// kernel's loop over the entries of one page table, not a page-table walk per page.
struct RegionTables {
    space: Space,
    base: u64,
    /// The first address the second table maps.
    split: u64,
    tables: [&'static [AtomicU64; 512]; 2],
}

impl RegionTables {
    fn of(space: Space) -> RegionTables {
        let base = region(space);
        let split = (base & !(mm::PTE_TABLE_SPAN - 1)) + mm::PTE_TABLE_SPAN;
        let last = base + (REGION_PAGES as u64 - 1) * PAGE_SIZE;
        RegionTables {
            space,
            base,
            split,
            tables: [region_table(space, base), region_table(space, last)],
        }
    }
}

/// [`remap`] with the region's tables looked up already (the timed form).
#[inline(always)]
fn remap_in(t: &RegionTables, level: Level, frames: &Frames, g: u64, pages: usize) {
    let set = (g % 2) as usize;
    match level {
        Level::Pte => {
            let flags = region_flags(t.space);
            for (i, f) in frames.sets[set][..pages].iter().enumerate() {
                let va = t.base + i as u64 * PAGE_SIZE;
                let table = t.tables[usize::from(va >= t.split)];
                table[((va / PAGE_SIZE) % 512) as usize].store(f | flags, Ordering::Release);
            }
        }
        Level::Pde => {
            let pde = uspace::pde_slot(t.base).expect("region PDE");
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
#[derive(Default)]
struct Outcome {
    samples: usize,
    timed_out: bool,
    /// Old values seen by the initiator's own reads, and writes that reached an old frame.
    initiator_stale: u64,
    stale_writes: u64,
    /// Relaxed protocols: the largest time from the initiator's return to a target's stale
    /// read (TSC ticks; 0 when none was seen).
    max_staleness: u64,
    /// Targets notified by IPI over the measured samples (a narrowing protocol notifies
    /// fewer than it was asked to).
    notified: u64,
    /// Phase runs: how far the phases' sum exceeded the total, at most (TSC skew).
    phase_excess: u64,
    /// Deterministic phase runs: samples whose stamps were in the serialized order (their
    /// critical paths are the first ones of the buffer's critical row), and the others.
    serialized: usize,
    not_serialized: usize,
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
    /// A target that runs the `linux` lazy reader instead of a reader.
    lazy: Option<usize>,
    /// Recycle the old frames before the protocol's reclaim point (negative control).
    recycle_early: bool,
}

/// Buffers one configuration fills: the shootdown's samples, and beside them (relaxed
/// protocols) the time the reclaim step took and the staleness of each sample,
/// and (phase runs) each phase of each sample.
struct Buffers<'a> {
    total: &'a mut [u64],
    reclaim: &'a mut [u64],
    staleness: &'a mut [u64],
    phases: Option<&'a mut [[u64; PHASE_SAMPLES]; PHASE_ROWS]>,
}

impl Buffers<'_> {
    /// The same buffers, lent for one measurement.
    fn reborrow(&mut self) -> Buffers<'_> {
        Buffers {
            total: &mut self.total[..],
            reclaim: &mut self.reclaim[..],
            staleness: &mut self.staleness[..],
            phases: self.phases.as_deref_mut(),
        }
    }
}

/// Samples per phase-breakdown configuration.
const PHASE_SAMPLES: usize = 1000;

/// Rows of the phase buffer: the phases, then the critical path (deterministic mode).
const PHASE_ROWS: usize = phases::MAX_PHASES + 1;
/// The row of the critical path in the phase buffer.
const CRITICAL_ROW: usize = phases::MAX_PHASES;

static PHASES: spin::Mutex<[[u64; PHASE_SAMPLES]; PHASE_ROWS]> =
    spin::Mutex::new([[0; PHASE_SAMPLES]; PHASE_ROWS]);

/// The phase stamps of the sample that ran from `t0` (start), `t_pte` (PTE update done) to
/// `t1` (stop), with the initiator's and the asked targets' stamps, in the protocol's order.
fn phase_stamps(
    ack_on_entry: bool,
    asked: &CpuSet,
    t0: u64,
    t_pte: u64,
    t1: u64,
    out: &mut [u64; phases::MAX_PHASES + 1],
) -> usize {
    let tlb::InitiatorStamps { sent, done, .. } = tlb::initiator_stamps();
    let (mut entry, mut inval, mut ack) = (0, 0, 0);
    for t in asked.iter() {
        let st = tlb::target_stamps(t);
        entry = entry.max(st.entry.load(Ordering::Relaxed));
        inval = inval.max(st.invalidated.load(Ordering::Relaxed));
        ack = ack.max(st.acked.load(Ordering::Relaxed));
    }
    let chain: &[u64] = if ack_on_entry {
        &[t0, t_pte, sent, entry, ack, done, t1]
    } else {
        &[t0, t_pte, sent, entry, inval, ack, done, t1]
    };
    out[..chain.len()].copy_from_slice(chain);
    chain.len()
}

/// The critical path of the sample that ran from `t0` to `t1` in the deterministic mode
/// (`kernel_core::phases::critical_path`), from the initiator's and the asked targets' stamps.
fn critical_path(asked: &CpuSet, t0: u64, t1: u64) -> Option<u64> {
    let st = tlb::initiator_stamps();
    let targets = asked.iter().map(|t| {
        let ts = tlb::target_stamps(t);
        (
            ts.entry.load(Ordering::Relaxed),
            ts.acked.load(Ordering::Relaxed),
        )
    });
    let s = phases::Serialized {
        start: t0,
        sent: st.sent,
        waiting: st.waiting,
        done: st.done,
        stop: t1,
    };
    phases::critical_path(&s, targets)
}

/// The shootdown of one sample: one request, or (coalescing protocols) one per page gathered
/// into one flush.
#[inline(always)]
fn issue(
    c: &Config,
    req: &Request,
    asked: &CpuSet,
    timeout_ticks: u64,
) -> Result<(), tlb::Timeout> {
    if PROTOCOLS[c.proto].coalesces() {
        let ceiling = if c.full { 0 } else { REGION_PAGES as u64 };
        let mut gather = Gather::new(req.space, ceiling);
        for i in 0..req.pages {
            gather.add(&Request::new(
                req.space,
                req.start + i * PAGE_SIZE,
                1,
                false,
            ));
        }
        gather.flush(c.proto, asked, c.delivery, timeout_ticks)
    } else {
        shootdown(c.proto, req, asked, c.delivery, timeout_ticks)
    }
}

impl<'a> Config<'a> {
    /// One page of `space` changed, unicast to `targets`, read by the readers; nothing broken.
    fn one_page(space: Space, proto: usize, targets: &'a CpuSet) -> Config<'a> {
        Config {
            space,
            proto,
            delivery: Delivery::Unicast,
            targets,
            pages: 1,
            read: Reads::first(1),
            full: false,
            level: Level::Pte,
            write: false,
            leave_out: None,
            lazy: None,
            recycle_early: false,
        }
    }
}

/// Run `samples + warmup` shootdowns of one configuration; samples go into `buf`. Readers
/// must be running on the targets, and on this CPU the region's space must be loaded.
///
/// Synchronous protocols: after each return the old frames are poisoned (recycled) at once,
/// then the generation is published. Relaxed protocols: the generation is published at
/// return (a target reading the old frame from then on is stale, which is allowed), the
/// initiator waits for the protocol's reclaim point, and only then recycles the frames.
fn measure(s: &Settings, c: &Config, buf: Buffers, frames: &Frames, timeout_ticks: u64) -> Outcome {
    let mut asked = *c.targets;
    if let Some(v) = c.leave_out {
        asked.remove(v);
    }
    let relaxed = PROTOCOLS[c.proto].relaxed();
    let mut req = Request::new(c.space, region(c.space), c.pages as u64, c.full);
    req.tables_changed = c.level == Level::Pde;
    let tables = RegionTables::of(c.space);
    let mut out = Outcome::default();
    let mut buf = buf;
    let ack_on_entry = !PROTOCOLS[c.proto].waits_for_acks();
    let mut notified0 = tlb::notified_count();
    for i in 0..s.warmup + s.samples {
        if i == s.warmup {
            notified0 = tlb::notified_count();
        }
        let g = SHARED.generation.load(Ordering::Relaxed) + 1;
        out.stale_writes += prepare_generation(frames, g, c.pages, c.write);
        let t0 = time::start();
        remap_in(&tables, c.level, frames, g, c.pages);
        let t_pte = tsc::rdtsc();
        let r = issue(c, &req, &asked, timeout_ticks);
        let t1 = time::stop();
        // This CPU's own TLB first, right at the return: a translation that survived reads
        // the old frame's older value, before anything this CPU does next can evict it (a
        // small direct-mapped TLB, as Bochs', loses it to the poisoning's own accesses).
        if r.is_ok() {
            out.initiator_stale += initiator_stale(c.space, g, c.read);
        }
        let mut reclaim_ticks = 0;
        let r = r.and_then(|()| {
            if !relaxed {
                return Ok(());
            }
            SHARED.generation.store(g, Ordering::Release);
            if c.recycle_early {
                poison(frames, g - 1, c.pages);
            }
            let r0 = tsc::rdtsc();
            let r = reclaim(c.proto, &asked, c.delivery, timeout_ticks);
            reclaim_ticks = tsc::rdtsc() - r0;
            r
        });
        if let Err(e) = r {
            println!(
                "bench: shootdown: {} of {} targets never acknowledged (or reached the reclaim \
                 point) within {} ms",
                e.acks_missing,
                asked.len(),
                timeout_ticks / (tsc::hz() / 1000).max(1)
            );
            out.timed_out = true;
            return out;
        }
        // The old frames are unreachable on every CPU now: poison (recycle) them.
        poison(frames, g - 1, c.pages);
        SHARED.generation.store(g, Ordering::Release);
        // Every target completes one check pass against g before the next change, so a stale
        // translation cannot go unnoticed (bounded: a broken target still reads).
        let deadline = tsc::rdtsc() + timeout_ticks;
        let mut staleness = 0;
        for t in c.targets.iter() {
            while SHARED.checked[t].load(Ordering::Acquire) < g && tsc::rdtsc() < deadline {
                core::hint::spin_loop();
            }
            staleness = staleness.max(
                SHARED.stale_tsc[t]
                    .load(Ordering::Relaxed)
                    .saturating_sub(t1),
            );
        }
        if i < s.warmup {
            continue;
        }
        out.max_staleness = out.max_staleness.max(staleness);
        if let Some(ph) = buf.phases.as_mut()
            && out.samples < PHASE_SAMPLES
        {
            let mut stamps = [0; phases::MAX_PHASES + 1];
            let n = phase_stamps(ack_on_entry, &asked, t0, t_pte, t1, &mut stamps);
            let mut each = [0; phases::MAX_PHASES];
            let np = phases::chain(&stamps[..n], &mut each);
            for (k, v) in each[..np].iter().enumerate() {
                ph[k][out.samples] = *v;
            }
            out.phase_excess = out.phase_excess.max(phases::excess(&each[..np], t1 - t0));
            if s.opts.deterministic {
                match critical_path(&asked, t0, t1) {
                    Some(v) => {
                        ph[CRITICAL_ROW][out.serialized] = v;
                        out.serialized += 1;
                    }
                    None => out.not_serialized += 1,
                }
            }
        }
        if out.samples < buf.total.len() {
            buf.total[out.samples] = t1 - t0;
            buf.reclaim[out.samples] = reclaim_ticks;
            buf.staleness[out.samples] = staleness;
            out.samples += 1;
        }
    }
    out.notified = tlb::notified_count() - notified0;
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
        let job = if c.lazy == Some(t) { lazy_reader } else { job };
        match work::post(t, job, c.proto as u64) {
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
    buf: Buffers,
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
        Outcome::default()
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

/// Samples per sweep configuration of a relaxed protocol: each waits for its reclaim point
/// (an epoch tick), untimed but long.
const RELAXED_SWEEP_SAMPLES: usize = 500;

/// The deliveries a protocol is measured with: those it sends IPIs with (unicast always,
/// all-but-self and cluster multicast where the machine allows); one for a protocol that
/// sends none at the request or narrows its targets itself (notified by unicast).
fn protocol_deliveries<'a>(
    proto: &dyn tlb::Registered,
    ntargets: usize,
    all_targets: bool,
    clusters: &'a ClusterList,
) -> [Option<Delivery<'a>>; 3] {
    let mut deliveries = [Some(Delivery::Unicast), None, None];
    let ipis = matches!(proto.mode(), Mode::Ipi | Mode::Deferred) && !proto.narrows_targets();
    if ipis && ntargets > 0 && all_targets {
        deliveries[1] = Some(Delivery::AllButSelf);
    }
    if ipis && ntargets > 0 && apic::cluster_multicast_unusable().is_none() {
        deliveries[2] = Some(Delivery::ClusterMulticast(clusters));
    }
    deliveries
}

/// The delivery as a result names it: "none" for protocols that send no IPI.
fn delivery_name(proto: &dyn tlb::Registered, delivery: &Delivery) -> &'static str {
    match proto.mode() {
        Mode::EpochQueue | Mode::Broadcast => "none",
        Mode::Ipi | Mode::Deferred => delivery.name(),
    }
}

/// The stale reads a configuration's contract forbids: every old value for a synchronous
/// protocol, only recycled frames for a relaxed one.
fn forbidden_reads(relaxed: bool, stale: u64, recycled: u64) -> u64 {
    if relaxed { recycled } else { stale + recycled }
}

/// The sweep: space × protocol × targets × delivery × pages. Targets 0 is the no-IPI control
/// (the initiator's own invalidation and the transport's bookkeeping). Relaxed protocols
/// also give the time their reclaim step takes (`shootdown_reclaim`).
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
    if let Some(why) = apic::cluster_multicast_unusable() {
        skip("shootdown", why);
    }
    let relaxed_settings = Settings {
        samples: s.samples.min(RELAXED_SWEEP_SAMPLES),
        ..*s
    };
    let mut total = SAMPLES.lock();
    let mut reclaim_buf = SAMPLES_AUX.lock();
    let mut staleness_buf = SAMPLES_TRAP.lock();
    let mut ok = true;
    let mut forbidden = 0;
    // `shootdown_ack_delay`: every target waits that many TSC ticks before acknowledging
    // (simulated handler work; recorded as a param): the deterministic mode's check that a
    // delay of D instructions on the critical path moves the figure by D.
    let ack_delay = s.opts.ack_delay.unwrap_or(0);
    tlb::set_knobs(Knobs {
        ack_delay,
        ..Knobs::default()
    });
    for space in [Space::Kernel, Space::User] {
        // The initiator runs in the space whose mappings it changes.
        let _active = (space == Space::User).then(uspace::activate);
        for (pi, proto) in PROTOCOLS.iter().enumerate() {
            if !s.opts.protocol_selected(pi) {
                continue;
            }
            if let Some(why) = proto.unsupported() {
                if space == Space::Kernel {
                    skip(proto.name(), why);
                }
                continue;
            }
            let relaxed = proto.relaxed();
            let s = if relaxed { &relaxed_settings } else { s };
            for &ntargets in &target_counts[..nt] {
                let targets = pool.first(ntargets);
                let clusters = ClusterList::build(&targets, smp::apic_id_of);
                let all = ntargets == pool.len() && everyone;
                for delivery in protocol_deliveries(*proto, ntargets, all, &clusters)
                    .into_iter()
                    .flatten()
                {
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
                            lazy: None,
                            recycle_early: false,
                        };
                        SHARED.stale_reads.store(0, Ordering::Release);
                        SHARED.recycled_reads.store(0, Ordering::Release);
                        let buf = Buffers {
                            total: &mut total[..],
                            reclaim: &mut reclaim_buf[..],
                            staleness: &mut staleness_buf[..],
                            phases: None,
                        };
                        let Ok((out, stopped)) = run_config(s, &c, buf, &frames, "shootdown")
                        else {
                            return false;
                        };
                        ok &= stopped;
                        forbidden += out.initiator_stale
                            + forbidden_reads(
                                relaxed,
                                SHARED.stale_reads.swap(0, Ordering::AcqRel),
                                SHARED.recycled_reads.swap(0, Ordering::AcqRel),
                            );
                        let requests = if proto.coalesces() {
                            if pages == 0 { REGION_PAGES } else { pages }
                        } else {
                            1
                        };
                        let params = [
                            ("protocol", P::S(proto.name())),
                            ("delivery", P::S(delivery_name(*proto, &delivery))),
                            ("space", P::S(space.name())),
                            ("targets", P::U(ntargets as u64)),
                            ("pages", pages_param(pages)),
                            ("flush", P::S(if full { "full" } else { "pages" })),
                            ("requests", P::U(requests as u64)),
                            ("ack_delay", P::U(ack_delay)),
                        ];
                        // The delay's param only where one was asked for.
                        let params = &params[..if ack_delay == 0 { 7 } else { 8 }];
                        let n = out.samples;
                        emit(
                            "shootdown",
                            Kind::Workload,
                            params,
                            "cycles",
                            s.warmup,
                            &mut total[..n],
                        );
                        if relaxed {
                            emit(
                                "shootdown_reclaim",
                                Kind::Workload,
                                params,
                                "cycles",
                                s.warmup,
                                &mut reclaim_buf[..n],
                            );
                        }
                    }
                }
            }
        }
    }
    let mut d = kernel_core::fmtbuf::FmtBuf::<160>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut d,
        format_args!(
            "{forbidden} reads the protocols' contracts forbid over the sweep (synchronous: any \
             old value; relaxed: a recycled frame)"
        ),
    );
    ok &= check("shootdown_sweep_no_stale_reads", forbidden == 0, d.as_str());
    tlb::set_knobs(Knobs::default());
    ok
}

/// A group's set-up: its CPUs (None, after a skip record, without a target), interrupts off
/// on this CPU, the region and the sample buffers, for `body(pool, max_targets, frames, buf)`.
fn with_region<R>(
    s: &Settings,
    bench: &str,
    body: impl FnOnce(&CpuSet, usize, &Frames, Buffers) -> R,
) -> Option<R> {
    let (pool, _, max_targets) = target_limit(s, bench)?;
    let _irq = percpu::IrqGuard::new();
    let frames = setup();
    let mut total = SAMPLES.lock();
    let mut reclaim_buf = SAMPLES_AUX.lock();
    let mut staleness_buf = SAMPLES_TRAP.lock();
    let buf = Buffers {
        total: &mut total[..],
        reclaim: &mut reclaim_buf[..],
        staleness: &mut staleness_buf[..],
        phases: None,
    };
    Some(body(&pool, max_targets, &frames, buf))
}

/// The `shootdown_phases` group: [`run_phases`] over the idle CPUs, then the cost to the
/// interrupted target.
pub fn run_phases_group(s: &Settings) -> bool {
    let Some((phases_ok, pool)) = with_region(s, "shootdown_phases", |pool, max, frames, buf| {
        let mut buf = buf;
        let phases_ok = run_phases(s, pool, max, frames, buf.reborrow()).unwrap_or(false);
        let delay_ok = run_delay_calibration(s, pool, frames, buf).unwrap_or(false);
        (phases_ok & delay_ok, *pool)
    }) else {
        return true;
    };
    let _irq = percpu::IrqGuard::new();
    phases_ok & run_target_cost(s, &pool)
}

/// The delays (TSC ticks) [`run_delay_calibration`] injects.
const CALIBRATION_DELAYS: [u64; 3] = [0, 1_000, 10_000];

/// `shootdown_ack_delay` results: the 1-target, 1-page `sync` shootdown in the kernel half,
/// with its target waiting D ticks (simulated handler work) between its invalidation and its
/// acknowledgement, for each D of [`CALIBRATION_DELAYS`]. The delay is on the critical path,
/// so the figure must move by D: in the deterministic mode by D instructions exactly, give or
/// take the delay loop's step (the runner's icount case checks D ± 2 %), which shows the mode
/// counts the critical path and nothing of a scheduler; on hardware by D plus noise.
fn run_delay_calibration(
    s: &Settings,
    pool: &CpuSet,
    frames: &Frames,
    mut buf: Buffers,
) -> Result<bool, ()> {
    let Some(sync) = PROTOCOLS.iter().position(|p| p.name() == "sync") else {
        return Ok(true);
    };
    if !s.opts.protocol_selected(sync) {
        return Ok(true);
    }
    let s = &Settings {
        samples: s.samples.min(PHASE_SAMPLES),
        ..*s
    };
    let targets = pool.first(1);
    let c = Config::one_page(Space::Kernel, sync, &targets);
    let mut ok = true;
    for delay in CALIBRATION_DELAYS {
        tlb::set_knobs(Knobs {
            ack_delay: delay,
            ..Knobs::default()
        });
        let r = run_config(s, &c, buf.reborrow(), frames, "shootdown_ack_delay");
        tlb::set_knobs(Knobs::default());
        let (out, stopped) = r?;
        ok &= stopped;
        let params = [
            ("protocol", P::S("sync")),
            ("delivery", P::S("unicast")),
            ("space", P::S("kernel")),
            ("targets", P::U(1)),
            ("pages", P::U(1)),
            ("ack_delay", P::U(delay)),
        ];
        emit(
            "shootdown_ack_delay",
            Kind::Workload,
            &params,
            "cycles",
            s.warmup,
            &mut buf.total[..out.samples],
        );
    }
    Ok(ok)
}

/// Most interruptions the ring-3 target records (pairs of words: its 1 MiB buffer).
const GAP_MAX: usize = 32 * 1024;
/// Interruptions the ring-3 target saw in its last run (its program's exit value).
static GAPS_FOUND: AtomicU64 = AtomicU64::new(0);

/// The interrupted target: ring 3, reading the TSC back to back (`Program::Gaps`); every
/// step longer than 250 ns is time it lost to an interruption.
fn gap_reader(proto: u64) {
    let me = arch::cpu_id() as usize;
    let _space = uspace::activate();
    let va = super::ring3::sample_buffer((GAP_MAX * 16) as u64);
    let threshold = (tsc::hz() / 4_000_000).max(1);
    as_target(proto, || {
        let exit = uspace::run(
            Program::Gaps,
            [va, GAP_MAX as u64, ul::SHARED, threshold],
            true,
        );
        match exit {
            Exit::Exited(n) => GAPS_FOUND.store(n, Ordering::Release),
            other => {
                println!(
                    "bench: shootdown: the ring-3 gap reader on cpu {me} ended with {other:?}"
                );
                READER_FAILED.store(true, Ordering::Release);
            }
        }
    });
}

/// The cost to the interrupted target (`shootdown_target_cost`): one target runs the ring-3
/// gap reader, which records every step of its TSC stream longer than 250 ns with its end
/// time; the initiator sends it user-space 1-page shootdowns 20 µs apart and keeps each
/// one's start and return times. A shootdown's cost to the target is the longest step of
/// the target's stream that overlaps it (it started before the initiator's return and ended
/// after its start): interrupt entry, the handler and the return to ring 3, as the
/// interrupted program saw them. The emulator's own pauses of the program fall outside the
/// shootdowns and are left out. Needs one clock (synchronised TSCs: else a `skip`). Every
/// protocol that notifies by IPI. Checked: at least half of the shootdowns are matched.
fn run_target_cost(s: &Settings, pool: &CpuSet) -> bool {
    let Some(target) = pool.min() else {
        return true;
    };
    if !sys::cpu::tsc_sync::result().is_some_and(|r| r.synchronised() && r.cpus_checked > 0) {
        skip(
            "shootdown_target_cost",
            "matching the target's timestamps to the initiator's needs synchronised TSCs",
        );
        return true;
    }
    let _active = uspace::activate();
    let mut one = CpuSet::new();
    one.insert(target);
    let n = s.samples.min(PHASE_SAMPLES);
    let mut ok = true;
    let mut buf = SAMPLES.lock();
    let mut when = SAMPLES_AUX.lock();
    for (pi, proto) in PROTOCOLS.iter().enumerate() {
        if !s.opts.protocol_selected(pi)
            || proto.unsupported().is_some()
            || proto.mode() != Mode::Ipi
        {
            continue;
        }
        SHARED.stop.store(0, Ordering::Release);
        let before = READERS_RUNNING.load(Ordering::Acquire);
        if work::post(target, gap_reader, pi as u64).is_err() {
            return false;
        }
        let deadline = tsc::rdtsc() + tsc::hz();
        while READERS_RUNNING.load(Ordering::Acquire) <= before && tsc::rdtsc() < deadline {
            core::hint::spin_loop();
        }
        let pte = region_pte(Space::User, ul::REGION);
        let req = Request::new(Space::User, ul::REGION, 1, false);
        let mut timed_out = false;
        for i in 0..n {
            // The same mapping written again: the point is the interruption.
            pte.store(pte.load(Ordering::Relaxed), Ordering::Release);
            let t0 = tsc::rdtsc();
            if shootdown(pi, &req, &one, Delivery::Unicast, timeout_ticks(s)).is_err() {
                timed_out = true;
                break;
            }
            when[2 * i] = t0;
            when[2 * i + 1] = tsc::rdtsc();
            let until = tsc::rdtsc() + tsc::hz() / 50_000;
            while tsc::rdtsc() < until {
                core::hint::spin_loop();
            }
        }
        SHARED.stop.store(1, Ordering::Release);
        let stopped = work::wait(target, 5000) && !READER_FAILED.swap(false, Ordering::AcqRel);
        if timed_out || !stopped {
            record!("error", |r| r
                .str("kind", "bench")
                .str("bench", "shootdown_target_cost")
                .str(
                    "message",
                    "the target never acknowledged or its gap reader did not stop"
                ));
            return false;
        }
        let pairs = (GAPS_FOUND.load(Ordering::Acquire) as usize).min(GAP_MAX);
        let gaps = &mut buf[..2 * pairs];
        super::ring3::copy_from_user(ul::samples(target as u64), 1, gaps);
        // Match: gaps (end, length) are in time order, shootdowns too.
        let mut matched = 0;
        let mut k = 0;
        for i in 0..n {
            let (start, end) = (when[2 * i], when[2 * i + 1]);
            while k < pairs && gaps[2 * k] < start {
                k += 1;
            }
            let mut best = 0;
            let mut j = k;
            while j < pairs && gaps[2 * j] - gaps[2 * j + 1] <= end {
                best = best.max(gaps[2 * j + 1]);
                j += 1;
            }
            if best > 0 {
                when[matched] = best;
                matched += 1;
            }
        }
        emit(
            "shootdown_target_cost",
            Kind::Workload,
            &[
                ("protocol", P::S(proto.name())),
                ("delivery", P::S("unicast")),
                ("space", P::S("user")),
                ("targets", P::U(1)),
                ("pages", P::U(1)),
            ],
            "cycles",
            0,
            &mut when[..matched],
        );
        let mut name = kernel_core::fmtbuf::FmtBuf::<96>::new();
        let _ = core::fmt::Write::write_fmt(
            &mut name,
            format_args!("shootdown_target_cost_seen/{}", proto.name()),
        );
        let mut d = kernel_core::fmtbuf::FmtBuf::<192>::new();
        let _ = core::fmt::Write::write_fmt(
            &mut d,
            format_args!(
                "{matched} of {n} shootdowns matched an interruption of the ring-3 target's TSC \
                 stream ({pairs} interruptions in all; at least half expected)"
            ),
        );
        ok &= check(name.as_str(), matched * 2 >= n, d.as_str());
    }
    SHARED.stop.store(0, Ordering::Release);
    ok
}

/// The `shootdown_topology` group: [`run_topology`] over the idle CPUs, with its check.
pub fn run_topology_group(s: &Settings) -> bool {
    let Some(r) = with_region(s, "shootdown_topology", |pool, max, frames, buf| {
        run_topology(s, pool, max, frames, buf)
    }) else {
        return true;
    };
    let Ok((ok, forbidden)) = r else {
        return false;
    };
    let mut d = kernel_core::fmtbuf::FmtBuf::<128>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut d,
        format_args!("{forbidden} reads the protocols' contracts forbid over the topology sweep"),
    );
    ok & check(
        "shootdown_topology_no_stale_reads",
        forbidden == 0,
        d.as_str(),
    )
}

/// The `shootdown_concurrent` group: several initiators at once (`concurrent.rs`).
pub fn run_concurrent_group(s: &Settings) -> bool {
    let Some((pool, _, max_targets)) = target_limit(s, "shootdown_concurrent") else {
        return true;
    };
    let _irq = percpu::IrqGuard::new();
    let _frames = setup();
    let mut lat = SAMPLES.lock();
    let mut rates = SAMPLES_AUX.lock();
    concurrent::run(s, &pool, max_targets, &mut lat[..], &mut rates[..]).unwrap_or(false)
}

/// Target sets by NUMA node (ACPI SRAT), beside the CPUID classes.
const NUMA_CLASSES: &[&str] = &["same_node", "other_node"];

/// Targets chosen by topology (`shootdown_topology`, a `target_set` param): for each class of
/// `kernel_core::topology::CLASSES` (the initiator's SMT siblings, the CPUs sharing its
/// last-level cache but not its core, its package but not its cache, other packages, all)
/// and, with an ACPI SRAT, `same_node` / `other_node` (with the SLIT distance to the farthest
/// target in `node_distance`), the idle CPUs of that class, at most `bench_cpus` − 1; every
/// selected protocol, the kernel half, 1 page, unicast. A class with no CPU gets a `skip`
/// record with the reason.
/// Returns whether the readers stopped cleanly and the reads the contracts forbid.
fn run_topology(
    s: &Settings,
    pool: &CpuSet,
    max_targets: usize,
    frames: &Frames,
    buf: Buffers,
) -> Result<(bool, u64), ()> {
    let shifts = sys::arch::cpu::topology();
    let me = smp::apic_id_of(0);
    let my_node = numa::node_of_apic(me);
    let mut ok = true;
    let mut forbidden = 0;
    for class in topology::CLASSES.iter().chain(NUMA_CLASSES) {
        if NUMA_CLASSES.contains(class) && my_node.is_none() {
            skip(
                "shootdown_topology",
                "target sets same_node and other_node: no SRAT lists this machine's CPUs",
            );
            break;
        }
        let in_class = |t: usize| {
            let apic = smp::apic_id_of(t);
            match *class {
                "same_node" => numa::node_of_apic(apic) == my_node,
                "other_node" => numa::node_of_apic(apic).is_some_and(|n| Some(n) != my_node),
                _ => shifts.relation(me, apic).in_class(class),
            }
        };
        let mut targets = CpuSet::new();
        for t in pool.iter() {
            if targets.len() < max_targets && in_class(t) {
                targets.insert(t);
            }
        }
        // The SLIT distance from the initiator's node to the farthest target's (0: unknown).
        let distance = targets
            .iter()
            .filter_map(|t| {
                let n = numa::node_of_apic(smp::apic_id_of(t))?;
                numa::node_distance(my_node?, n)
            })
            .max()
            .unwrap_or(0);
        if targets.is_empty() {
            let mut why = kernel_core::fmtbuf::FmtBuf::<160>::new();
            let _ = core::fmt::Write::write_fmt(
                &mut why,
                format_args!(
                    "target set {class}: no idle CPU of this class (see the context record's topology shifts)"
                ),
            );
            skip("shootdown_topology", why.as_str());
            continue;
        }
        for (pi, proto) in PROTOCOLS.iter().enumerate() {
            if !s.opts.protocol_selected(pi) || proto.unsupported().is_some() {
                continue;
            }
            let relaxed = proto.relaxed();
            let capped = Settings {
                samples: s.samples.min(RELAXED_SWEEP_SAMPLES),
                ..*s
            };
            let s = if relaxed { &capped } else { s };
            let c = Config::one_page(Space::Kernel, pi, &targets);
            SHARED.stale_reads.store(0, Ordering::Release);
            SHARED.recycled_reads.store(0, Ordering::Release);
            let b = Buffers {
                total: &mut buf.total[..],
                reclaim: &mut buf.reclaim[..],
                staleness: &mut buf.staleness[..],
                phases: None,
            };
            let (out, stopped) = run_config(s, &c, b, frames, "shootdown_topology")?;
            ok &= stopped;
            forbidden += out.initiator_stale
                + forbidden_reads(
                    relaxed,
                    SHARED.stale_reads.swap(0, Ordering::AcqRel),
                    SHARED.recycled_reads.swap(0, Ordering::AcqRel),
                );
            emit(
                "shootdown_topology",
                Kind::Workload,
                &[
                    ("protocol", P::S(proto.name())),
                    ("delivery", P::S(delivery_name(*proto, &Delivery::Unicast))),
                    ("space", P::S("kernel")),
                    ("target_set", P::S(class)),
                    ("targets", P::U(targets.len() as u64)),
                    ("node_distance", P::U(distance as u64)),
                    ("pages", P::U(1)),
                ],
                "cycles",
                s.warmup,
                &mut buf.total[..out.samples],
            );
        }
    }
    Ok((ok, forbidden))
}

/// The phase breakdown (`shootdown_phases`, a `phase` param beside `total`): every selected
/// protocol that notifies by IPI, both spaces, unicast, 1 and the most targets, 1 page, with
/// the targets' and the initiator's timestamps on (their RDTSCs are on the measured path, so
/// these runs have their own `total`). Cross-CPU phases need one clock: refused with a
/// `skip` record unless the TSC check found the CPUs synchronised. Checked: the phases of
/// every sample sum to its total, exceeding it by at most the TSC check's largest warp.
fn run_phases(
    s: &Settings,
    pool: &CpuSet,
    max_targets: usize,
    frames: &Frames,
    buf: Buffers,
) -> Result<bool, ()> {
    let sync = sys::cpu::tsc_sync::result();
    let Some(sync) = sync.filter(|r| r.synchronised() && r.cpus_checked > 0) else {
        skip(
            "shootdown_phases",
            "cross-CPU phases need synchronised TSCs: the TSC check did not find them so (or \
             did not run)",
        );
        return Ok(true);
    };
    let tolerance = sync.max_warp;
    let s = &Settings {
        samples: s.samples.min(PHASE_SAMPLES),
        ..*s
    };
    let mut ph = PHASES.lock();
    let mut ok = true;
    // The deterministic mode: every target count of the full sweep (the critical path's
    // curve); elsewhere 1 and the most.
    let (sweep, nsweep) = sweep_target_counts(max_targets, false);
    let ends = [1, max_targets];
    let counts = if s.opts.deterministic {
        &sweep[1..nsweep]
    } else if max_targets == 1 {
        &ends[..1]
    } else {
        &ends[..]
    };
    tlb::set_stamping(true);
    for space in [Space::Kernel, Space::User] {
        let _active = (space == Space::User).then(uspace::activate);
        for (pi, proto) in PROTOCOLS.iter().enumerate() {
            if !s.opts.protocol_selected(pi)
                || proto.unsupported().is_some()
                || proto.mode() != Mode::Ipi
            {
                continue;
            }
            for &ntargets in counts {
                let targets = pool.first(ntargets);
                let c = Config::one_page(space, pi, &targets);
                let b = Buffers {
                    total: &mut buf.total[..],
                    reclaim: &mut buf.reclaim[..],
                    staleness: &mut buf.staleness[..],
                    phases: Some(&mut ph),
                };
                let r = run_config(s, &c, b, frames, "shootdown_phases");
                let Ok((out, stopped)) = r else {
                    tlb::set_stamping(false);
                    return Err(());
                };
                ok &= stopped;
                let n = out.samples.min(PHASE_SAMPLES);
                let names = if proto.waits_for_acks() {
                    phases::AFTER_INVALIDATE
                } else {
                    phases::ON_ENTRY
                };
                let base = |phase: &'static str| {
                    [
                        ("protocol", P::S(proto.name())),
                        ("delivery", P::S("unicast")),
                        ("space", P::S(space.name())),
                        ("targets", P::U(ntargets as u64)),
                        ("pages", P::U(1)),
                        ("phase", P::S(phase)),
                        ("tsc_sync", P::S("synchronised")),
                    ]
                };
                for (k, name) in names.iter().enumerate() {
                    emit(
                        "shootdown_phases",
                        Kind::Workload,
                        &base(name),
                        "cycles",
                        s.warmup,
                        &mut ph[k][..n],
                    );
                }
                emit(
                    "shootdown_phases",
                    Kind::Workload,
                    &base("total"),
                    "cycles",
                    s.warmup,
                    &mut buf.total[..n],
                );
                let mut name = kernel_core::fmtbuf::FmtBuf::<96>::new();
                let _ = core::fmt::Write::write_fmt(
                    &mut name,
                    format_args!(
                        "shootdown_phases_sum/{}/{}/{ntargets}",
                        space.name(),
                        proto.name()
                    ),
                );
                let mut d = kernel_core::fmtbuf::FmtBuf::<192>::new();
                let _ = core::fmt::Write::write_fmt(
                    &mut d,
                    format_args!(
                        "the phases of each of {n} samples sum to its total, exceeding it by at \
                         most {} ticks (tolerance: the TSC check's largest warp, {tolerance})",
                        out.phase_excess
                    ),
                );
                ok &= check(name.as_str(), out.phase_excess <= tolerance, d.as_str());
                if s.opts.deterministic {
                    let label = (space.name(), proto.name(), ntargets);
                    ok &= emit_critical_path(&base("critical_path"), label, s, &mut ph, &out, n);
                }
            }
        }
    }
    tlb::set_stamping(false);
    Ok(ok)
}

/// The deterministic mode's `phase=critical_path` result of one phase configuration
/// (`kernel_core::phases::critical_path`) over its serialized samples, and its check: most
/// samples (at least half) were in the serialized order. QEMU's round robin ends a vCPU's
/// time slice at a timer deadline (its budget is the time to the next one divided by the
/// vCPU count, so with 64 vCPUs a slice can be shorter than a 16-target shootdown's
/// serialized work), which can fall inside a measurement: the initiator stops before it
/// waits, the targets run early, and that sample's stamps say so; it is left out. A run that
/// is not serialized at all (hardware, or TCG told `bench_deterministic` by mistake) fails.
fn emit_critical_path(
    params: &[(&str, P)],
    (space, proto, ntargets): (&str, &str, usize),
    s: &Settings,
    ph: &mut [[u64; PHASE_SAMPLES]; PHASE_ROWS],
    out: &Outcome,
    n: usize,
) -> bool {
    let serialized = out.serialized > 0 && out.serialized >= out.not_serialized;
    if out.serialized > 0 {
        emit(
            "shootdown_phases",
            Kind::Workload,
            params,
            "cycles",
            s.warmup,
            &mut ph[CRITICAL_ROW][..out.serialized],
        );
    }
    let mut name = kernel_core::fmtbuf::FmtBuf::<96>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut name,
        format_args!("shootdown_phases_serialized/{space}/{proto}/{ntargets}"),
    );
    let mut d = kernel_core::fmtbuf::FmtBuf::<192>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut d,
        format_args!(
            "{} of {n} samples ran the CPUs one after another, as bench_deterministic says, \
             and give the critical path (the others: a time slice ended inside the \
             measurement; fewer than half: not a deterministic run)",
            out.serialized
        ),
    );
    check(name.as_str(), serialized, d.as_str())
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
/// delay of the command line, for every selected protocol the CPU has (and the broken
/// variant applies to), in both spaces (ring-0 and ring-3 readers), every delivery the
/// protocol and the machine allow, 1 and 8 pages and a full flush, plus the writer and the
/// page-directory variants. One check per configuration, by the protocol's contract:
/// synchronous protocols: no target and not the initiator ever read an old frame after a
/// shootdown returned, and no write reached one (with an ack delay D, also: every sample of
/// a protocol that waits for its acks is at least D); relaxed protocols: no recycled frame
/// was read (stale reads before the reclaim point are counted and their largest age
/// reported, `shootdown_staleness`). For `linux` in the user space, the first target is lazy
/// (`lazy_reader`) and must be skipped. A broken variant must fail every configuration's
/// check: one with no detection power shows as a passing check.
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
    if breakage == ShootdownBreak::SkipCatchup && ntargets < 2 {
        skip(
            "shootdown_oracle",
            "skip_catchup: the lazy CPU must be another target than the victim: needs 3 CPUs",
        );
        return true;
    }
    let delay = s.opts.ack_delay.unwrap_or(0);
    tlb::set_knobs(Knobs {
        skip_invalidate_cpu: (breakage == ShootdownBreak::SkipInvlpg).then_some(victim),
        skip_local: breakage == ShootdownBreak::SkipLocal,
        never_ack_cpu: s.opts.never_ack.then_some(victim),
        ack_delay: delay,
        early_return_cpu: (breakage == ShootdownBreak::EarlyReturn).then_some(victim),
        skip_catchup: breakage == ShootdownBreak::SkipCatchup,
    });
    let leave_out = (breakage == ShootdownBreak::LeaveOut).then_some(victim);
    println!(
        "bench: shootdown oracle: {ntargets} targets, break={}, ack_delay={delay}, never_ack={}",
        breakage.name(),
        s.opts.never_ack
    );
    if breakage == ShootdownBreak::SkipCatchup {
        skip(
            "shootdown_oracle",
            "skip_catchup: kernel-half requests and page-table changes reach lazy CPUs too \
             (as in Linux); only user-space leaf changes can be broken this way",
        );
    }
    let _irq = percpu::IrqGuard::new();
    let frames = setup();
    let clusters = ClusterList::build(&targets, smp::apic_id_of);
    let all_targets = everyone && ntargets == pool.len();
    if everyone && !all_targets {
        skip(
            "shootdown_oracle",
            "all_but_self delivery: the oracle's targets are not every other CPU",
        );
    }
    if let Some(why) = apic::cluster_multicast_unusable() {
        skip("shootdown_oracle", why);
    }
    let mut total = SAMPLES.lock();
    let mut reclaim_buf = SAMPLES_AUX.lock();
    let mut staleness_buf = SAMPLES_TRAP.lock();
    let mut ok = true;
    let mut min_sample = u64::MAX;
    let mut configs = 0;
    for space in [Space::Kernel, Space::User] {
        if breakage == ShootdownBreak::SkipCatchup && space == Space::Kernel {
            continue;
        }
        let _active = (space == Space::User).then(uspace::activate);
        for (pi, proto) in PROTOCOLS.iter().enumerate() {
            if !s.opts.protocol_selected(pi) || !breakage.applies_to(proto.name()) {
                continue;
            }
            if let Some(why) = proto.unsupported() {
                if space == Space::Kernel {
                    skip(proto.name(), why);
                }
                continue;
            }
            let lazy = (proto.name() == "linux" && space == Space::User && ntargets >= 2)
                .then(|| targets.min().expect("a target"));
            let deliveries = protocol_deliveries(*proto, ntargets, all_targets, &clusters);
            let (plan, np) = oracle_plan(space, &deliveries);
            for (delivery, pages, variant) in plan[..np].iter().flatten().copied() {
                if breakage == ShootdownBreak::SkipCatchup && variant == Variant::Pde {
                    continue; // page-table changes reach lazy CPUs
                }
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
                    lazy,
                    recycle_early: breakage == ShootdownBreak::RecycleEarly,
                };
                SHARED.stale_reads.store(0, Ordering::Release);
                SHARED.recycled_reads.store(0, Ordering::Release);
                let buf = Buffers {
                    total: &mut total[..],
                    reclaim: &mut reclaim_buf[..],
                    staleness: &mut staleness_buf[..],
                    phases: None,
                };
                let Ok((out, stopped)) = run_config(s, &c, buf, &frames, "shootdown_oracle") else {
                    tlb::reset_knobs();
                    return false;
                };
                ok &= stopped;
                configs += 1;
                let reads = Reads2 {
                    stale: SHARED.stale_reads.swap(0, Ordering::AcqRel),
                    recycled: SHARED.recycled_reads.swap(0, Ordering::AcqRel),
                };
                let n = out.samples;
                if proto.waits_for_acks()
                    && let Some(m) = total[..n].iter().min()
                {
                    min_sample = min_sample.min(*m);
                }
                let name = proto.name();
                emit_oracle_result(s, &c, name, variant, breakage, delay, &mut total[..n]);
                if proto.relaxed() {
                    emit_oracle_extra(
                        s,
                        &c,
                        name,
                        variant,
                        "shootdown_reclaim",
                        &mut reclaim_buf[..n],
                    );
                    emit_oracle_extra(
                        s,
                        &c,
                        name,
                        variant,
                        "shootdown_staleness",
                        &mut staleness_buf[..n],
                    );
                }
                ok &= oracle_check(&c, *proto, variant, reads, &out, breakage, victim);
                if let Some(l) = lazy
                    && variant != Variant::Pde
                {
                    ok &= lazy_skipped_check(&c, variant, &out, l, n);
                }
            }
        }
    }
    tlb::reset_knobs();
    println!("bench: shootdown oracle: {configs} configurations checked");
    if delay > 0 && min_sample != u64::MAX {
        let mut d = kernel_core::fmtbuf::FmtBuf::<160>::new();
        let _ = core::fmt::Write::write_fmt(
            &mut d,
            format_args!(
                "shortest sample {min_sample} cycles of the protocols that wait for their acks, \
                 ack delay {delay}"
            ),
        );
        ok &= check("shootdown_waits_for_acks", min_sample >= delay, d.as_str());
    }
    ok
}

/// Reads the readers counted in one configuration: old values of frames not yet recycled,
/// and the poison of recycled ones.
#[derive(Clone, Copy)]
struct Reads2 {
    stale: u64,
    recycled: u64,
}

/// `linux` with a lazy target: the lazy CPU was skipped (fewer targets notified than asked,
/// every shootdown), a check beside the oracle's.
fn lazy_skipped_check(c: &Config, variant: Variant, out: &Outcome, lazy: usize, n: usize) -> bool {
    let mut asked = c.targets.len() as u64;
    if c.leave_out.is_some() {
        asked -= 1;
    }
    let most = (asked - 1) * n as u64;
    let mut name = kernel_core::fmtbuf::FmtBuf::<128>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut name,
        format_args!(
            "shootdown_linux_skips_lazy/{}/{}/{}",
            c.delivery.name(),
            PagesName(c.pages),
            variant.name()
        ),
    );
    let mut d = kernel_core::fmtbuf::FmtBuf::<160>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut d,
        format_args!(
            "{} targets notified over {n} shootdowns asking {asked} CPUs with cpu {lazy} lazy \
             (at most {most})",
            out.notified
        ),
    );
    check(name.as_str(), out.notified <= most, d.as_str())
}

/// A result beside an oracle configuration's (relaxed protocols: reclaim time, staleness).
fn emit_oracle_extra(
    s: &Settings,
    c: &Config,
    protocol: &'static str,
    variant: Variant,
    bench: &str,
    samples: &mut [u64],
) {
    emit(
        bench,
        Kind::Workload,
        &[
            ("protocol", P::S(protocol)),
            (
                "delivery",
                P::S(delivery_name(PROTOCOLS[c.proto], &c.delivery)),
            ),
            ("space", P::S(c.space.name())),
            ("targets", P::U(c.targets.len() as u64)),
            ("pages", pages_param(c.pages)),
            ("variant", P::S(variant.name())),
            ("epoch_us", P::U(tlb::EPOCH_US)),
        ],
        "cycles",
        s.warmup,
        samples,
    );
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
            (
                "delivery",
                P::S(delivery_name(PROTOCOLS[c.proto], &c.delivery)),
            ),
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

/// The check of one oracle configuration, by the protocol's contract: no old frame read or
/// written after a return (synchronous), no recycled frame read or written (relaxed).
fn oracle_check(
    c: &Config,
    proto: &dyn tlb::Registered,
    variant: Variant,
    reads: Reads2,
    out: &Outcome,
    breakage: ShootdownBreak,
    victim: usize,
) -> bool {
    let relaxed = proto.relaxed();
    let mut name = kernel_core::fmtbuf::FmtBuf::<128>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut name,
        format_args!(
            "shootdown_oracle_no_stale_reads/{}/{}/{}/{}/{}",
            c.space.name(),
            proto.name(),
            delivery_name(proto, &c.delivery),
            PagesName(c.pages),
            variant.name()
        ),
    );
    let mut d = kernel_core::fmtbuf::FmtBuf::<320>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut d,
        format_args!(
            "{}: {} reads of a recycled frame and {} of an old one by {} readers{}, {} old \
             reads by the initiator, {} writes into a recycled frame (break={}, victim cpu \
             {victim}{})",
            if relaxed {
                "relaxed contract (old frames may be read until the reclaim point)"
            } else {
                "after a shootdown returned"
            },
            reads.recycled,
            reads.stale,
            if c.space == Space::User {
                "ring-3"
            } else {
                "kernel"
            },
            if c.lazy.is_some() { " (one lazy)" } else { "" },
            out.initiator_stale,
            out.stale_writes,
            breakage.name(),
            if relaxed && out.max_staleness > 0 {
                " ; largest staleness seen in ticks: see shootdown_staleness"
            } else {
                ""
            },
        ),
    );
    let bad = forbidden_reads(relaxed, reads.stale, reads.recycled)
        + out.initiator_stale
        + out.stale_writes;
    check(name.as_str(), bad == 0, d.as_str())
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
