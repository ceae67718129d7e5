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
use kernel_core::paging::{PTE_G, PTE_P, PTE_RW, PTE_XD};
use percpu::{MAX_CPUS, layout, percpu, window_base};

use super::{Kind, P, SAMPLES, Settings, check, emit, skip, time};
use crate::arch::{apic, idt, tsc};
use crate::mm::{self, PAGE_SIZE};
use crate::{println, smp, work};

/// What to invalidate: `pages` pages from `start`, or everything when `full`.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub start: u64,
    pub pages: u64,
    pub full: bool,
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

/// Pages of the test region (in the BSP's arena): the largest shootdown.
const REGION_PAGES: usize = 512;
/// Leaf flags of the region: kernel half, global, as any kernel mapping.
const REGION_FLAGS: u64 = PTE_P | PTE_RW | PTE_XD | PTE_G;

/// The region's two frame sets: generation g maps set g % 2, whose page i holds g in word 0.
static FRAMES: spin::Mutex<[[u64; REGION_PAGES]; 2]> = spin::Mutex::new([[0; REGION_PAGES]; 2]);
/// The generation every target must see once a shootdown returned.
static GEN: AtomicU64 = AtomicU64::new(0);
/// Pages the readers read (and check) each pass.
static READ_PAGES: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
static READERS_RUNNING: AtomicU64 = AtomicU64::new(0);
/// Reads that returned a generation older than the one published.
static STALE_READS: AtomicU64 = AtomicU64::new(0);
/// Per CPU: the generation its last complete check pass expected.
static CHECKED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn region() -> u64 {
    window_base(0).expect("window 0") + layout::ARENA_OFFSET
}

/// A target: keep reading the region's pages (so its TLB holds them) with interrupts on, and
/// check each read against the published generation.
fn reader(_: u64) {
    let me = crate::arch::cpu_id() as usize;
    let base = region();
    // Start from an empty TLB: the region was remapped to the current generation while no
    // reader ran, without a shootdown.
    crate::bench::floors::flush_global_pge();
    READERS_RUNNING.fetch_add(1, Ordering::AcqRel);
    crate::arch::interrupts_enable();
    while !STOP.load(Ordering::Acquire) {
        let expect = GEN.load(Ordering::Acquire);
        let n = READ_PAGES.load(Ordering::Relaxed);
        for i in 0..n {
            // SAFETY: the region's pages are always mapped (to one set or the other).
            let v = unsafe { ((base + i * PAGE_SIZE) as *const u64).read_volatile() };
            if v < expect {
                STALE_READS.fetch_add(1, Ordering::Relaxed);
            }
        }
        CHECKED[me].store(expect, Ordering::Release);
    }
    crate::arch::interrupts_disable();
    READERS_RUNNING.fetch_sub(1, Ordering::AcqRel);
}

/// Map the region to generation `g`'s frames: writes g into them, then the PTEs.
fn prepare_generation(frames: &[[u64; REGION_PAGES]; 2], g: u64, pages: usize) {
    for f in &frames[(g % 2) as usize][..pages] {
        // SAFETY: our frame, through the direct map.
        unsafe { (mm::phys_to_virt(*f) as *mut u64).write_volatile(g) };
    }
}

fn remap(frames: &[[u64; REGION_PAGES]; 2], g: u64, pages: usize) {
    let base = region();
    for (i, f) in frames[(g % 2) as usize][..pages].iter().enumerate() {
        let slot = mm::pte_slot(base + i as u64 * PAGE_SIZE).expect("region tables");
        slot.store(f | REGION_FLAGS, Ordering::Release);
    }
}

/// One configuration's outcome.
struct Outcome {
    samples: usize,
    timed_out: bool,
}

/// Run `samples + warmup` shootdowns of `pages` pages (0 = full) to `targets`; samples go
/// into `buf`. Readers must be running on the targets.
fn measure(
    s: &Settings,
    proto: usize,
    delivery: Delivery,
    targets: &CpuSet,
    pages: usize,
    full: bool,
    buf: &mut [u64],
    frames: &[[u64; REGION_PAGES]; 2],
    timeout_ticks: u64,
    leave_out: Option<usize>,
) -> Outcome {
    let mut asked = *targets;
    if let Some(v) = leave_out {
        asked.remove(v);
    }
    let base = region();
    let mut kept = 0;
    for i in 0..s.warmup + s.samples {
        let g = GEN.load(Ordering::Relaxed) + 1;
        prepare_generation(frames, g, pages);
        let req = Request {
            start: base,
            pages: pages as u64,
            full,
        };
        let t0 = time::start();
        remap(frames, g, pages);
        let r = shootdown(proto, &req, &asked, delivery, timeout_ticks);
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
        GEN.store(g, Ordering::Release);
        // Every target completes one check pass against g before the next change, so a stale
        // translation cannot go unnoticed (bounded: a broken target still reads).
        let deadline = tsc::rdtsc() + timeout_ticks;
        for t in targets.iter() {
            while CHECKED[t].load(Ordering::Acquire) < g && tsc::rdtsc() < deadline {
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
/// the readers on `targets`.
fn start_readers(frames: &[[u64; REGION_PAGES]; 2], targets: &CpuSet, pages: usize) {
    let g = GEN.load(Ordering::Relaxed);
    prepare_generation(frames, g, REGION_PAGES);
    remap(frames, g, REGION_PAGES);
    crate::bench::floors::flush_global_pge();
    STOP.store(false, Ordering::Release);
    READ_PAGES.store(pages.max(1) as u64, Ordering::Release);
    let before = READERS_RUNNING.load(Ordering::Acquire);
    for t in targets.iter() {
        work::post(t, reader, 0);
    }
    let want = before + targets.len() as u64;
    let deadline = tsc::rdtsc() + tsc::hz();
    while READERS_RUNNING.load(Ordering::Acquire) < want && tsc::rdtsc() < deadline {
        core::hint::spin_loop();
    }
}

fn stop_readers(targets: &CpuSet) -> bool {
    STOP.store(true, Ordering::Release);
    targets.iter().all(|t| work::wait(t, 5000))
}

/// Allocate the frame sets and map generation 0 on the whole region.
fn setup() -> spin::MutexGuard<'static, [[u64; REGION_PAGES]; 2]> {
    crate::demand::prepare(0);
    let mut frames = FRAMES.lock();
    if frames[0][0] == 0 {
        for set in frames.iter_mut() {
            let got = mm::alloc_frames(set);
            assert_eq!(got, REGION_PAGES, "out of memory for the shootdown region");
        }
    }
    GEN.store(0, Ordering::Release);
    prepare_generation(&frames, 0, REGION_PAGES);
    remap(&frames, 0, REGION_PAGES);
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

/// The sweep: targets × pages × delivery × protocol.
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
    let mut buf = SAMPLES.lock();
    let mut ok = true;
    for (pi, proto) in PROTOCOLS.iter().enumerate() {
        if let Some(why) = proto.unsupported() {
            skip(proto.name(), why);
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
                    if ntargets == max - 1 && pi == 0 {
                        skip(
                            "shootdown",
                            "x2apic_cluster delivery needs x2APIC mode; refused in xAPIC mode",
                        );
                    }
                    continue;
                }
                for &pages in page_counts {
                    let full = pages == 0 || pages > ceiling;
                    let touched = if pages == 0 { REGION_PAGES } else { pages };
                    start_readers(&frames, &targets, touched);
                    let out = measure(
                        s,
                        pi,
                        delivery,
                        &targets,
                        touched,
                        full,
                        &mut buf[..],
                        &frames,
                        timeout_ticks(s),
                        None,
                    );
                    ok &= stop_readers(&targets);
                    if out.timed_out {
                        crate::record!("error", |r| r
                            .str("kind", "bench")
                            .str("bench", "shootdown")
                            .str("message", "a target never acknowledged a shootdown"));
                        return false;
                    }
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
                            ("space", P::S("kernel")),
                            ("targets", P::U(ntargets as u64)),
                            ("pages", pages_p),
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
    let stale = STALE_READS.swap(0, Ordering::AcqRel);
    let mut d = kernel_core::fmtbuf::FmtBuf::<96>::new();
    let _ = core::fmt::Write::write_fmt(&mut d, format_args!("{stale} stale reads over the sweep"));
    ok &= check("shootdown_sweep_no_stale_reads", stale == 0, d.as_str());
    ok
}

/// The oracle: shootdowns under the generation check, with the broken variants and the
/// ack delay of the command line. Passes when no target ever read an old frame after a
/// shootdown returned (and, with an ack delay D, when every sample is at least D).
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
    STALE_READS.store(0, Ordering::Release);
    for pages in [1usize, 8] {
        start_readers(&frames, &targets, pages);
        let out = measure(
            s,
            0,
            Delivery::Unicast,
            &targets,
            pages,
            false,
            &mut buf[..],
            &frames,
            timeout_ticks(s),
            leave_out,
        );
        let stopped = stop_readers(&targets);
        if out.timed_out {
            crate::record!("error", |r| r
                .str("kind", "bench")
                .str("bench", "shootdown_oracle")
                .str("message", "a target never acknowledged a shootdown"));
            ACK_DELAY.store(0, Ordering::Release);
            NEVER_ACK_CPU.store(usize::MAX, Ordering::Release);
            return false;
        }
        ok &= stopped;
        if let Some(m) = buf[..out.samples].iter().min() {
            min_sample = min_sample.min(*m);
        }
        emit(
            "shootdown_oracle",
            Kind::Workload,
            &[
                ("protocol", P::S(PROTOCOLS[0].name())),
                ("targets", P::U(ntargets as u64)),
                ("pages", P::U(pages as u64)),
                ("break", P::S(breakage.name())),
                ("ack_delay", P::U(delay)),
            ],
            "cycles",
            s.warmup,
            &mut buf[..out.samples],
        );
    }
    BREAK_SKIP_INVLPG_CPU.store(usize::MAX, Ordering::Release);
    NEVER_ACK_CPU.store(usize::MAX, Ordering::Release);
    ACK_DELAY.store(0, Ordering::Release);
    let stale = STALE_READS.swap(0, Ordering::AcqRel);
    let mut d = kernel_core::fmtbuf::FmtBuf::<128>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut d,
        format_args!(
            "{stale} reads of an old frame after a shootdown returned (break={})",
            breakage.name()
        ),
    );
    ok &= check("shootdown_oracle_no_stale_reads", stale == 0, d.as_str());
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
