//! TLB shootdown: the transport every protocol shares, the benchmark sweep and the oracle.
//!
//! A *protocol* (one file in this directory, registered in [`PROTOCOLS`]) decides how a CPU
//! invalidates what a request names. The *transport* here carries requests: the initiator
//! fills its request slot, sets its bit in each target's pending set, sends the IPIs (one per
//! target, the all-but-self shorthand, or x2APIC cluster multicast), invalidates locally and
//! waits until every target has acknowledged. A target's IPI handler takes the whole pending
//! set, runs the protocol's invalidation for each request, and only then acknowledges. While
//! it waits, an initiator serves requests aimed at itself, so two initiators cannot deadlock
//! even with interrupts off. A pending bit stays set until served: no request is dropped.
//!
//! Adding a protocol: a new file with a type implementing [`Protocol`], and one line in
//! [`PROTOCOLS`].

mod invpcid;
mod ipi;

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use kernel_core::cmdline::ShootdownBreak;
use kernel_core::paging::{PTE_G, PTE_P, PTE_RW, PTE_US, PTE_XD};
use kernel_core::uspace as ul;
use percpu::{MAX_CPUS, layout, percpu, window_base};

use super::{Kind, P, SAMPLES, Settings, check, emit, skip, time};
use crate::arch::user::Exit;
use crate::arch::{apic, idt, tsc};
pub use crate::demand::Space;
use crate::mm::{self, PAGE_SIZE};
use crate::uspace::{self, Program, SHARED};
use crate::{println, smp, work};

/// What to invalidate: `pages` pages from `start`, or everything when `full`, in the kernel
/// half (global translations) or in the user address space (the one loaded on every CPU the
/// request reaches: each initiator and target runs in it; a CPU that loads it later starts
/// from a flushed PCID, see `uspace::activate`).
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub start: u64,
    pub pages: u64,
    pub full: bool,
    pub space: Space,
}

/// A shootdown protocol: how one CPU invalidates a request's translations.
pub trait Protocol: Sync {
    fn name(&self) -> &'static str;
    /// Why it cannot run on this machine; None when it can.
    fn unsupported(&self) -> Option<&'static str> {
        None
    }
    /// Invalidate `req` on the calling CPU (initiator and targets alike).
    fn invalidate(&self, req: &Request);
}

/// Every protocol, by index (a request carries its protocol's index).
pub static PROTOCOLS: &[&dyn Protocol] = &[&ipi::PlainIpi, &invpcid::InvpcidFull];

/// How the IPIs reach the targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// One fixed IPI per target.
    Unicast,
    /// One IPI with the all-excluding-self shorthand (targets = every other online CPU).
    AllButSelf,
    /// x2APIC logical destination: one IPI per cluster of up to 16 CPUs.
    ClusterMulticast,
}

impl Delivery {
    pub fn name(self) -> &'static str {
        match self {
            Delivery::Unicast => "unicast",
            Delivery::AllButSelf => "all_but_self",
            Delivery::ClusterMulticast => "x2apic_cluster",
        }
    }
}

/// Largest number of CPUs the transport addresses (pending sets are bitmaps).
const SET_WORDS: usize = MAX_CPUS / 64;

/// One initiator's current request.
pub struct RequestSlot {
    start: AtomicU64,
    pages: AtomicU64,
    full: AtomicBool,
    user: AtomicBool,
    protocol: AtomicUsize,
    acks_left: AtomicU64,
}

percpu! {
    /// Initiators with a request for this CPU (bit = logical id).
    static PENDING: [AtomicU64; SET_WORDS] = [const { AtomicU64::new(0) }; SET_WORDS];
    /// This CPU's request, when it initiates.
    static REQUEST: RequestSlot = RequestSlot {
        start: AtomicU64::new(0),
        pages: AtomicU64::new(0),
        full: AtomicBool::new(false),
        user: AtomicBool::new(false),
        protocol: AtomicUsize::new(0),
        acks_left: AtomicU64::new(0),
    };
}

/// Failure injection and test knobs, set by the benchmark before a run.
static BREAK_SKIP_INVLPG_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
static NEVER_ACK_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
static ACK_DELAY: AtomicU64 = AtomicU64::new(0);

pub fn init() {
    idt::set_handler(idt::VEC_SHOOTDOWN, on_shootdown_ipi);
}

fn on_shootdown_ipi(_: &mut idt::ExceptionFrame) {
    serve_pending();
}

/// Serve every request pending for this CPU: invalidate, then acknowledge.
pub fn serve_pending() {
    let me = crate::arch::cpu_id() as usize;
    let pending = PENDING.get();
    for (w, word) in pending.iter().enumerate() {
        // A plain load first: most words are empty, and an atomic swap costs far more.
        if word.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let mut bits = word.swap(0, Ordering::AcqRel);
        while bits != 0 {
            let initiator = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let slot = REQUEST.remote(initiator);
            let req = Request {
                start: slot.start.load(Ordering::Relaxed),
                pages: slot.pages.load(Ordering::Relaxed),
                full: slot.full.load(Ordering::Relaxed),
                space: if slot.user.load(Ordering::Relaxed) {
                    Space::User
                } else {
                    Space::Kernel
                },
            };
            let proto = PROTOCOLS[slot.protocol.load(Ordering::Relaxed)];
            if BREAK_SKIP_INVLPG_CPU.load(Ordering::Relaxed) != me {
                proto.invalidate(&req);
            }
            let delay = ACK_DELAY.load(Ordering::Relaxed);
            if delay != 0 {
                let until = tsc::rdtsc() + delay;
                while tsc::rdtsc() < until {
                    core::hint::spin_loop();
                }
            }
            if NEVER_ACK_CPU.load(Ordering::Relaxed) == me {
                continue;
            }
            // The acknowledgement comes after the invalidation (Release orders it after).
            slot.acks_left.fetch_sub(1, Ordering::Release);
        }
    }
}

/// A set of logical CPUs.
#[derive(Clone, Copy)]
pub struct CpuSet {
    words: [u64; SET_WORDS],
}

impl CpuSet {
    pub const fn new() -> Self {
        CpuSet {
            words: [0; SET_WORDS],
        }
    }
    pub fn insert(&mut self, cpu: usize) {
        self.words[cpu / 64] |= 1 << (cpu % 64);
    }
    pub fn remove(&mut self, cpu: usize) {
        self.words[cpu / 64] &= !(1 << (cpu % 64));
    }
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
    /// Members in increasing order (skips empty words, one step per member).
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mut word = 0;
        let mut bits = self.words[0];
        core::iter::from_fn(move || {
            while bits == 0 {
                word += 1;
                if word == SET_WORDS {
                    return None;
                }
                bits = self.words[word];
            }
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(word * 64 + b)
        })
    }
}

#[derive(Debug)]
pub struct Timeout {
    pub acks_missing: u64,
}

/// Invalidate `req` on this CPU and on every CPU of `targets` with protocol `proto`; returns
/// once all have acknowledged, or after `timeout_ticks`.
pub fn shootdown(
    proto: usize,
    req: &Request,
    targets: &CpuSet,
    delivery: Delivery,
    timeout_ticks: u64,
) -> Result<(), Timeout> {
    let me = crate::arch::cpu_id() as usize;
    let slot = REQUEST.get();
    slot.start.store(req.start, Ordering::Relaxed);
    slot.pages.store(req.pages, Ordering::Relaxed);
    slot.full.store(req.full, Ordering::Relaxed);
    slot.user.store(req.space == Space::User, Ordering::Relaxed);
    slot.protocol.store(proto, Ordering::Relaxed);
    slot.acks_left
        .store(targets.len() as u64, Ordering::Relaxed);
    for t in targets.iter() {
        PENDING.remote(t)[me / 64].fetch_or(1 << (me % 64), Ordering::Release);
    }
    let icr = apic::ICR_FIXED | idt::VEC_SHOOTDOWN as u32;
    match delivery {
        Delivery::Unicast => {
            for t in targets.iter() {
                apic::send_ipi(smp::apic_id_of(t), icr);
            }
        }
        Delivery::AllButSelf => {
            apic::send_ipi(0, icr | apic::ICR_DEST_ALL_BUT_SELF);
        }
        Delivery::ClusterMulticast => {
            // x2APIC logical ids: cluster = id[19:4], bit id[3:0] (SDM vol. 3A, 11.12.10.2).
            let mut sent: [u32; 64] = [u32::MAX; 64];
            let mut nsent = 0;
            for t in targets.iter() {
                let cluster = smp::apic_id_of(t) >> 4;
                if sent[..nsent].contains(&cluster) {
                    continue;
                }
                let mut mask = 0u32;
                for u in targets.iter() {
                    let id = smp::apic_id_of(u);
                    if id >> 4 == cluster {
                        mask |= 1 << (id & 0xF);
                    }
                }
                apic::send_ipi(cluster << 16 | mask, icr | apic::ICR_DEST_LOGICAL);
                if nsent < sent.len() {
                    sent[nsent] = cluster;
                    nsent += 1;
                }
            }
        }
    }
    PROTOCOLS[proto].invalidate(req);
    let t0 = tsc::rdtsc();
    loop {
        let left = slot.acks_left.load(Ordering::Acquire);
        if left == 0 {
            return Ok(());
        }
        // Serve requests aimed at this CPU while waiting (no deadlock between initiators).
        serve_pending();
        if tsc::rdtsc() - t0 > timeout_ticks {
            return Err(Timeout { acks_missing: left });
        }
        core::hint::spin_loop();
    }
}

// ---- the benchmark ----
//
// The region: 512 pages, in the kernel half (the BSP's arena, global pages, readers in ring 0)
// or in the user address space (`kernel_core::uspace::REGION`, non-global user pages, readers
// in ring 3 running `uspace::programs` "reader"). Two frame sets alternate: generation g maps
// set g % 2, whose pages hold g. The readers check every value against the published
// generation (`uspace::SHARED`, shared with ring 3), and each reports the generation its last
// complete pass expected, so the initiator knows every target has looked after a change.

/// Pages of the test region: the largest shootdown.
const REGION_PAGES: usize = ul::REGION_PAGES as usize;
/// Leaf flags of the kernel region: kernel half, global, as any kernel mapping.
const REGION_FLAGS: u64 = PTE_P | PTE_RW | PTE_XD | PTE_G;
/// Leaf flags of the user region: user pages are never global.
const USER_REGION_FLAGS: u64 = PTE_P | PTE_RW | PTE_US | PTE_XD;

/// The region's two frame sets.
static FRAMES: spin::Mutex<[[u64; REGION_PAGES]; 2]> = spin::Mutex::new([[0; REGION_PAGES]; 2]);
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
        Space::Kernel => mm::pte_slot(page),
        Space::User => uspace::pte_slot(page),
    }
    .expect("region tables")
}

fn space_name(space: Space) -> &'static str {
    match space {
        Space::Kernel => "kernel",
        Space::User => "user",
    }
}

/// A kernel-mode target: keep reading the region's pages (so its TLB holds them) with
/// interrupts on, and check each read against the published generation.
fn reader(_: u64) {
    let me = crate::arch::cpu_id() as usize;
    let base = region(Space::Kernel);
    // Start from an empty TLB: the region was remapped to the current generation while no
    // reader ran, without a shootdown.
    crate::bench::floors::flush_global_pge();
    READERS_RUNNING.fetch_add(1, Ordering::AcqRel);
    crate::arch::interrupts_enable();
    while SHARED.stop.load(Ordering::Acquire) == 0 {
        let expect = SHARED.generation.load(Ordering::Acquire);
        let n = SHARED.read_pages.load(Ordering::Relaxed);
        for i in 0..n {
            // SAFETY: the region's pages are always mapped (to one set or the other).
            let v = unsafe { ((base + i * PAGE_SIZE) as *const u64).read_volatile() };
            if v < expect {
                SHARED.stale_reads.fetch_add(1, Ordering::Relaxed);
            }
        }
        SHARED.checked[me].store(expect, Ordering::Release);
    }
    crate::arch::interrupts_disable();
    READERS_RUNNING.fetch_sub(1, Ordering::AcqRel);
}

/// A ring-3 target: load the user address space (a fresh PCID or a flushed TLB) and run the
/// reader program with interrupts on; shootdown IPIs interrupt it in ring 3.
fn user_reader(_: u64) {
    let me = crate::arch::cpu_id() as usize;
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

/// Write generation `g` into its frame set's first `pages` frames (through the direct map).
fn prepare_generation(frames: &[[u64; REGION_PAGES]; 2], g: u64, pages: usize) {
    for f in &frames[(g % 2) as usize][..pages] {
        // SAFETY: our frame, through the direct map.
        unsafe { (mm::phys_to_virt(*f) as *mut u64).write_volatile(g) };
    }
}

/// Point the region's first `pages` PTEs at generation `g`'s frames: the change a shootdown
/// makes visible.
fn remap(space: Space, frames: &[[u64; REGION_PAGES]; 2], g: u64, pages: usize) {
    let base = region(space);
    let flags = match space {
        Space::Kernel => REGION_FLAGS,
        Space::User => USER_REGION_FLAGS,
    };
    for (i, f) in frames[(g % 2) as usize][..pages].iter().enumerate() {
        region_pte(space, base + i as u64 * PAGE_SIZE).store(f | flags, Ordering::Release);
    }
}

/// One configuration's outcome.
struct Outcome {
    samples: usize,
    timed_out: bool,
}

/// One measured configuration.
struct Config<'a> {
    space: Space,
    proto: usize,
    delivery: Delivery,
    targets: &'a CpuSet,
    /// Pages changed (and read by the targets).
    pages: usize,
    full: bool,
    /// A target not asked (the oracle's `leave_out`).
    leave_out: Option<usize>,
}

/// Run `samples + warmup` shootdowns of one configuration; samples go into `buf`. Readers
/// must be running on the targets, and on this CPU the region's space must be loaded.
fn measure(
    s: &Settings,
    c: &Config,
    buf: &mut [u64],
    frames: &[[u64; REGION_PAGES]; 2],
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
    let mut kept = 0;
    for i in 0..s.warmup + s.samples {
        let g = SHARED.generation.load(Ordering::Relaxed) + 1;
        prepare_generation(frames, g, c.pages);
        let t0 = time::start();
        remap(c.space, frames, g, c.pages);
        let r = shootdown(c.proto, &req, &asked, c.delivery, timeout_ticks);
        let t1 = time::stop();
        if let Err(e) = r {
            println!(
                "bench: shootdown: {} of {} targets never acknowledged within {} ms",
                e.acks_missing,
                asked.len(),
                timeout_ticks / (tsc::hz() / 1000).max(1)
            );
            return Outcome {
                samples: kept,
                timed_out: true,
            };
        }
        SHARED.generation.store(g, Ordering::Release);
        // Every target completes one check pass against g before the next change, so a stale
        // translation cannot go unnoticed (bounded: a broken target still reads).
        let deadline = tsc::rdtsc() + timeout_ticks;
        for t in c.targets.iter() {
            while SHARED.checked[t].load(Ordering::Acquire) < g && tsc::rdtsc() < deadline {
                core::hint::spin_loop();
            }
        }
        if i >= s.warmup && kept < buf.len() {
            buf[kept] = t1 - t0;
            kept += 1;
        }
    }
    Outcome {
        samples: kept,
        timed_out: false,
    }
}

/// Bring every page of the region to the current generation (no reader runs), then start
/// the readers of `space` on `targets`, reading `pages` pages.
fn start_readers(space: Space, frames: &[[u64; REGION_PAGES]; 2], targets: &CpuSet, pages: usize) {
    let g = SHARED.generation.load(Ordering::Relaxed);
    prepare_generation(frames, g, REGION_PAGES);
    remap(space, frames, g, REGION_PAGES);
    crate::bench::floors::flush_global_pge();
    SHARED.stop.store(0, Ordering::Release);
    SHARED
        .read_pages
        .store(pages.max(1) as u64, Ordering::Release);
    let before = READERS_RUNNING.load(Ordering::Acquire);
    let job = match space {
        Space::Kernel => reader as fn(u64),
        Space::User => user_reader,
    };
    for t in targets.iter() {
        work::post(t, job, 0);
    }
    let want = before + targets.len() as u64;
    let deadline = tsc::rdtsc() + tsc::hz();
    while READERS_RUNNING.load(Ordering::Acquire) < want && tsc::rdtsc() < deadline {
        core::hint::spin_loop();
    }
}

/// Stop the readers; false if one did not finish in 5 s or a ring-3 reader was killed.
fn stop_readers(targets: &CpuSet) -> bool {
    SHARED.stop.store(1, Ordering::Release);
    let finished = targets.iter().all(|t| work::wait(t, 5000));
    finished && !READER_FAILED.swap(false, Ordering::AcqRel)
}

/// Allocate the frame sets, build the region's tables in both spaces and map generation 0.
fn setup() -> spin::MutexGuard<'static, [[u64; REGION_PAGES]; 2]> {
    crate::demand::prepare(0);
    uspace::prepare_tables(ul::REGION, ul::REGION_PAGES * PAGE_SIZE);
    let mut frames = FRAMES.lock();
    if frames[0][0] == 0 {
        for set in frames.iter_mut() {
            let got = mm::alloc_frames(set);
            assert_eq!(got, REGION_PAGES, "out of memory for the shootdown region");
        }
    }
    SHARED.generation.store(0, Ordering::Release);
    for t in SHARED.checked.iter() {
        t.store(0, Ordering::Relaxed);
    }
    prepare_generation(&frames, 0, REGION_PAGES);
    for space in [Space::Kernel, Space::User] {
        remap(space, &frames, 0, REGION_PAGES);
    }
    crate::bench::floors::flush_global_pge();
    frames
}

fn timeout_ticks(s: &Settings) -> u64 {
    tsc::hz() / 1000 * s.opts.timeout_ms.unwrap_or(1000)
}

fn others(n: usize) -> CpuSet {
    let mut set = CpuSet::new();
    for cpu in 1..=n {
        set.insert(cpu);
    }
    set
}

/// Start readers, measure one configuration, stop the readers. Err: an error record was
/// written (a target never acknowledged).
fn run_config(
    s: &Settings,
    c: &Config,
    buf: &mut [u64],
    frames: &[[u64; REGION_PAGES]; 2],
    bench: &str,
) -> Result<(usize, bool), ()> {
    let touched = if c.pages == 0 { REGION_PAGES } else { c.pages };
    let c = Config {
        pages: touched,
        ..*c
    };
    start_readers(c.space, frames, c.targets, touched);
    let out = measure(s, &c, buf, frames, timeout_ticks(s));
    let stopped = stop_readers(c.targets);
    if out.timed_out {
        crate::record!("error", |r| r
            .str("kind", "bench")
            .str("bench", bench)
            .str("message", "a target never acknowledged a shootdown"));
        return Err(());
    }
    Ok((out.samples, stopped))
}

/// The sweep: space × protocol × targets × delivery × pages.
pub fn run_sweep(s: &Settings) -> bool {
    let online = smp::online_count();
    let max = s.opts.cpus.map_or(online, |c| (c as usize).min(online));
    if max < 2 {
        skip("shootdown", "needs 2 CPUs online");
        return true;
    }
    let _irq = percpu::IrqGuard::new();
    let frames = setup();
    let ceiling = s.opts.flush_ceiling.unwrap_or(32) as usize;
    let mut target_counts = [0usize; 12];
    let mut nt = 0;
    let mut t = 1;
    while t < max - 1 && !s.quick {
        target_counts[nt] = t;
        nt += 1;
        t *= 2;
    }
    if s.quick && max - 1 > 1 {
        target_counts[nt] = 1;
        nt += 1;
    }
    target_counts[nt] = max - 1;
    nt += 1;
    let page_counts: &[usize] = if s.quick {
        &[1, 8, 64, 0]
    } else {
        &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 0]
    };
    if !apic::x2apic() {
        skip(
            "shootdown",
            "x2apic_cluster delivery needs x2APIC mode; refused in xAPIC mode",
        );
    }
    let mut buf = SAMPLES.lock();
    let mut ok = true;
    SHARED.stale_reads.store(0, Ordering::Release);
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
                let targets = others(ntargets);
                for delivery in [
                    Delivery::Unicast,
                    Delivery::AllButSelf,
                    Delivery::ClusterMulticast,
                ] {
                    if delivery == Delivery::AllButSelf && ntargets != online - 1 {
                        continue; // the shorthand reaches every other CPU: only for the full set
                    }
                    if delivery == Delivery::ClusterMulticast && !apic::x2apic() {
                        continue; // refused above, with a skip record
                    }
                    for &pages in page_counts {
                        let full = pages == 0 || pages > ceiling;
                        let c = Config {
                            space,
                            proto: pi,
                            delivery,
                            targets: &targets,
                            pages,
                            full,
                            leave_out: None,
                        };
                        let Ok((n, stopped)) =
                            run_config(s, &c, &mut buf[..], &frames, "shootdown")
                        else {
                            return false;
                        };
                        ok &= stopped;
                        let pages_p = if pages == 0 {
                            P::S("full")
                        } else {
                            P::U(pages as u64)
                        };
                        emit(
                            "shootdown",
                            Kind::Workload,
                            &[
                                ("protocol", P::S(proto.name())),
                                ("delivery", P::S(delivery.name())),
                                ("space", P::S(space_name(space))),
                                ("targets", P::U(ntargets as u64)),
                                ("pages", pages_p),
                                ("flush", P::S(if full { "full" } else { "pages" })),
                            ],
                            "cycles",
                            s.warmup,
                            &mut buf[..n],
                        );
                    }
                }
            }
        }
    }
    let stale = SHARED.stale_reads.swap(0, Ordering::AcqRel);
    let mut d = kernel_core::fmtbuf::FmtBuf::<96>::new();
    let _ = core::fmt::Write::write_fmt(&mut d, format_args!("{stale} stale reads over the sweep"));
    ok &= check("shootdown_sweep_no_stale_reads", stale == 0, d.as_str());
    ok
}

fn reset_knobs() {
    BREAK_SKIP_INVLPG_CPU.store(usize::MAX, Ordering::Release);
    NEVER_ACK_CPU.store(usize::MAX, Ordering::Release);
    ACK_DELAY.store(0, Ordering::Release);
}

/// The oracle: shootdowns under the generation check, with the broken variants and the
/// ack delay of the command line, for every protocol the CPU has, in both spaces (ring-0 and
/// ring-3 readers), for 1 and 8 pages and a full flush. Passes when no target ever read an old
/// frame after a shootdown returned (and, with an ack delay D, when every sample is at least D).
pub fn run_oracle(s: &Settings) -> bool {
    let online = smp::online_count();
    let max = s.opts.cpus.map_or(online, |c| (c as usize).min(online));
    if max < 2 {
        skip("shootdown_oracle", "needs 2 CPUs online");
        return true;
    }
    let ntargets = (max - 1).min(3);
    let targets = others(ntargets);
    let victim = ntargets; // the last target
    let breakage = s.opts.breakage.unwrap_or(ShootdownBreak::None);
    BREAK_SKIP_INVLPG_CPU.store(
        if breakage == ShootdownBreak::SkipInvlpg {
            victim
        } else {
            usize::MAX
        },
        Ordering::Release,
    );
    NEVER_ACK_CPU.store(
        if s.opts.never_ack { victim } else { usize::MAX },
        Ordering::Release,
    );
    let delay = s.opts.ack_delay.unwrap_or(0);
    ACK_DELAY.store(delay, Ordering::Release);
    let leave_out = (breakage == ShootdownBreak::LeaveOut).then_some(victim);
    println!(
        "bench: shootdown oracle: {ntargets} targets, break={}, ack_delay={delay}, never_ack={}",
        breakage.name(),
        s.opts.never_ack
    );
    let _irq = percpu::IrqGuard::new();
    let frames = setup();
    let mut buf = SAMPLES.lock();
    let mut ok = true;
    let mut min_sample = u64::MAX;
    let mut stale = [0u64; 2];
    for space in [Space::Kernel, Space::User] {
        SHARED.stale_reads.store(0, Ordering::Release);
        let _active = (space == Space::User).then(uspace::activate);
        for (pi, proto) in PROTOCOLS.iter().enumerate() {
            if proto.unsupported().is_some() {
                continue;
            }
            for pages in [1usize, 8, 0] {
                let c = Config {
                    space,
                    proto: pi,
                    delivery: Delivery::Unicast,
                    targets: &targets,
                    pages,
                    full: pages == 0,
                    leave_out,
                };
                let Ok((n, stopped)) = run_config(s, &c, &mut buf[..], &frames, "shootdown_oracle")
                else {
                    reset_knobs();
                    return false;
                };
                ok &= stopped;
                if let Some(m) = buf[..n].iter().min() {
                    min_sample = min_sample.min(*m);
                }
                emit(
                    "shootdown_oracle",
                    Kind::Workload,
                    &[
                        ("protocol", P::S(proto.name())),
                        ("space", P::S(space_name(space))),
                        ("targets", P::U(ntargets as u64)),
                        (
                            "pages",
                            if pages == 0 {
                                P::S("full")
                            } else {
                                P::U(pages as u64)
                            },
                        ),
                        ("break", P::S(breakage.name())),
                        ("ack_delay", P::U(delay)),
                    ],
                    "cycles",
                    s.warmup,
                    &mut buf[..n],
                );
            }
        }
        stale[space as usize] = SHARED.stale_reads.swap(0, Ordering::AcqRel);
    }
    reset_knobs();
    // One check per space, so a broken variant must be caught by the ring-0 readers and by
    // the ring-3 readers alike.
    for (space, name) in [
        (Space::Kernel, "shootdown_oracle_no_stale_reads"),
        (Space::User, "shootdown_oracle_no_stale_reads_user"),
    ] {
        let n = stale[space as usize];
        let mut d = kernel_core::fmtbuf::FmtBuf::<160>::new();
        let _ = core::fmt::Write::write_fmt(
            &mut d,
            format_args!(
                "{n} reads of an old frame by {} readers after a shootdown returned (break={})",
                if space == Space::User {
                    "ring-3"
                } else {
                    "kernel"
                },
                breakage.name()
            ),
        );
        ok &= check(name, n == 0, d.as_str());
    }
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
