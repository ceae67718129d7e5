//! Several initiators at once (`shootdown_concurrent`): k CPUs each change one page of their
//! own slice of the kernel region and shoot it down to every other CPU of the group, while
//! the rest of the group reads every slice. Per protocol and k: the latency of each
//! initiator's shootdowns (all initiators' samples in one result) and the throughput, the
//! group's shootdowns per second over each round (`shootdown_concurrent_throughput`).
//!
//! Correctness, as in the sweep: each initiator reads its page after each return, readers
//! check every read against the slice's published generation, and an old frame is poisoned
//! once the protocol's contract allows (at return, or after the reclaim point for relaxed
//! protocols). The readers do not hand-shake each change (the oracle does): this is a
//! sanity check of the protocols under contention, not their proof.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use kernel_core::paging::{PTE_G, PTE_P, PTE_RW};
use sys::arch::{self, tsc};
use sys::cpu::call as work;
use sys::mm::probe::Word;
use sys::mm::tlb::{CpuSet, Delivery, PROTOCOLS, Request, Space, reclaim, shootdown};
use sys::mm::{self, PAGE_SIZE};
use sys::{println, record};

use super::super::{Kind, P, Settings, check, emit, skip, time};
use super::{POISON, judge_read, region};

/// Most initiators at once (each owns a 64-page slice of the 512-page region).
const MAX_INITIATORS: usize = 8;
/// Pages between two initiators' pages.
const SLICE: u64 = 64;
/// Rounds per configuration (the first is a warm-up), and shootdowns per initiator per round.
const ROUNDS: usize = 4;

/// Two frames per initiator, allocated once.
static FRAMES: spin::Mutex<[[u64; 2]; MAX_INITIATORS]> = spin::Mutex::new([[0; 2]; MAX_INITIATORS]);
/// Each slice's published generation.
static GEN: [AtomicU64; MAX_INITIATORS] = [const { AtomicU64::new(0) }; MAX_INITIATORS];
/// Each initiator's latency samples of the current round.
static LAT: [spin::Mutex<[u64; PER_ROUND_MAX]>; MAX_INITIATORS] =
    [const { spin::Mutex::new([0; PER_ROUND_MAX]) }; MAX_INITIATORS];
/// Most shootdowns per initiator per round.
const PER_ROUND_MAX: usize = 1000;

/// The round's set-up, read by the jobs.
static PROTO: AtomicUsize = AtomicUsize::new(0);
static PER_ROUND: AtomicUsize = AtomicUsize::new(0);
static INITIATORS: AtomicUsize = AtomicUsize::new(0);
static GROUP: spin::Mutex<CpuSet> = spin::Mutex::new(CpuSet::new());
static READY: AtomicUsize = AtomicUsize::new(0);
static GO: AtomicBool = AtomicBool::new(false);
static DONE: AtomicUsize = AtomicUsize::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
static FAILED: AtomicBool = AtomicBool::new(false);
/// Old values an initiator read after its own shootdown returned.
static OWN_STALE: AtomicU64 = AtomicU64::new(0);

fn page_of(k: usize) -> u64 {
    region(Space::Kernel) + k as u64 * SLICE * PAGE_SIZE
}

/// Initiator `k`: `PER_ROUND` shootdowns of its page to the rest of the group.
fn initiator(k: u64) {
    let k = k as usize;
    let me = arch::cpu_id() as usize;
    let proto = PROTO.load(Ordering::Acquire);
    let n = PER_ROUND.load(Ordering::Acquire);
    let mut targets = *GROUP.lock();
    targets.remove(me);
    let frames = FRAMES.lock()[k];
    let page = page_of(k);
    let pte = mm::pte_slot_inline(page).expect("region tables");
    let flags = PTE_P | PTE_RW | PTE_G | mm::xd();
    let relaxed = PROTOCOLS[proto].relaxed();
    let timeout = tsc::hz() * 2;
    PROTOCOLS[proto].target_start();
    READY.fetch_add(1, Ordering::AcqRel);
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    arch::interrupts_enable();
    let mut lat = LAT[k].lock();
    for sample in lat.iter_mut().take(n) {
        let g = GEN[k].load(Ordering::Relaxed) + 1;
        let new = frames[(g % 2) as usize];
        let old = frames[((g - 1) % 2) as usize];
        mm::frame_word(new, 0).store(g, Ordering::Release);
        let req = Request::new(Space::Kernel, page, 1, false);
        let t0 = time::start();
        pte.store(new | flags, Ordering::Release);
        let r = shootdown(proto, &req, &targets, Delivery::Unicast, timeout);
        let t1 = time::stop();
        let r = r.and_then(|()| {
            if relaxed {
                GEN[k].store(g, Ordering::Release);
                reclaim(proto, &targets, Delivery::Unicast, timeout)
            } else {
                Ok(())
            }
        });
        if r.is_err() {
            FAILED.store(true, Ordering::Release);
            break;
        }
        mm::frame_word(old, 0).store(POISON, Ordering::Release);
        if Word::at(page).read() != g {
            OWN_STALE.fetch_add(1, Ordering::Relaxed);
        }
        GEN[k].store(g, Ordering::Release);
        *sample = t1 - t0;
    }
    drop(lat);
    // Still a target of the other initiators (and, for `lazy_epoch`, still ticking) until
    // every initiator is done.
    DONE.fetch_add(1, Ordering::AcqRel);
    while !STOP.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    arch::interrupts_disable();
    PROTOCOLS[proto].target_stop();
}

/// A reader of every initiator's page, until told to stop.
fn reader(_: u64) {
    let me = arch::cpu_id() as usize;
    let proto = PROTO.load(Ordering::Acquire);
    let k = INITIATORS.load(Ordering::Acquire);
    PROTOCOLS[proto].target_start();
    READY.fetch_add(1, Ordering::AcqRel);
    arch::interrupts_enable();
    let mask = sys::mm::uspace::SHARED.pause_mask.load(Ordering::Relaxed);
    let mut reads = 0u64;
    while !STOP.load(Ordering::Acquire) {
        for (i, g) in GEN.iter().enumerate().take(k) {
            let expect = g.load(Ordering::Acquire);
            judge_read(me, Word::at(page_of(i)).read(), expect);
            // PAUSE at the readers' cadence (`uspace::reads_per_pause`).
            reads += 1;
            if reads & mask == 0 {
                core::hint::spin_loop();
            }
        }
    }
    arch::interrupts_disable();
    PROTOCOLS[proto].target_stop();
}

/// Wait until `counter` reaches `want` or `ms` pass.
fn wait_for(counter: &AtomicUsize, want: usize, ms: u64) -> bool {
    let deadline = tsc::rdtsc() + tsc::hz() / 1000 * ms;
    while counter.load(Ordering::Acquire) < want {
        if tsc::rdtsc() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Point every initiator's page at its current generation's frame (no reader runs).
fn prepare(k: usize) {
    let frames = FRAMES.lock();
    let flags = PTE_P | PTE_RW | PTE_G | mm::xd();
    for (i, f) in frames.iter().enumerate().take(k) {
        let g = GEN[i].load(Ordering::Relaxed);
        mm::frame_word(f[(g % 2) as usize], 0).store(g, Ordering::Relaxed);
        mm::frame_word(f[((g + 1) % 2) as usize], 0).store(POISON, Ordering::Relaxed);
        mm::pte_slot(page_of(i))
            .expect("region tables")
            .store(f[(g % 2) as usize] | flags, Ordering::Release);
    }
    sys::arch::tlb::flush_global_pge();
}

/// The concurrent-initiator runs: k = 1, 2, 4 … initiators (at most `MAX_INITIATORS`, and
/// at least one other CPU in the group), the rest of the idle CPUs reading; every selected
/// protocol. Needs the region set up (`super::setup`) and the caller's IRQ guard.
pub(super) fn run(
    s: &Settings,
    pool: &CpuSet,
    max_targets: usize,
    lat: &mut [u64],
    rates: &mut [u64],
) -> Result<bool, ()> {
    let group_size = max_targets.min(pool.len());
    if group_size < 2 {
        skip(
            "shootdown_concurrent",
            "needs 3 CPUs (2 initiators or an initiator and a target besides the BSP)",
        );
        return Ok(true);
    }
    {
        let mut frames = FRAMES.lock();
        if frames[0][0] == 0 {
            for f in frames.iter_mut() {
                assert_eq!(
                    mm::alloc_frames(f),
                    2,
                    "out of memory for the concurrent initiators"
                );
            }
        }
    }
    for g in &GEN {
        g.store(1, Ordering::Relaxed);
    }
    let per_round = if s.quick { 100 } else { PER_ROUND_MAX };
    let group = pool.first(group_size);
    let mut ok = true;
    let mut bad = 0;
    for (pi, proto) in PROTOCOLS.iter().enumerate() {
        if !s.opts.protocol_selected(pi) || proto.unsupported().is_some() {
            continue;
        }
        let mut k = 1;
        while k < group_size && k <= MAX_INITIATORS {
            let (mut n, mut kept) = (0, 0);
            for round in 0..ROUNDS {
                prepare(k);
                PROTO.store(pi, Ordering::Release);
                PER_ROUND.store(per_round, Ordering::Release);
                INITIATORS.store(k, Ordering::Release);
                *GROUP.lock() = group;
                for c in [&READY, &DONE] {
                    c.store(0, Ordering::Release);
                }
                GO.store(false, Ordering::Release);
                STOP.store(false, Ordering::Release);
                sys::mm::uspace::SHARED
                    .stale_reads
                    .store(0, Ordering::Release);
                sys::mm::uspace::SHARED
                    .recycled_reads
                    .store(0, Ordering::Release);
                for (i, cpu) in group.iter().enumerate() {
                    let job = if i < k { initiator as fn(u64) } else { reader };
                    if let Err(e) = work::post(cpu, job, i as u64) {
                        println!("bench: shootdown_concurrent: cpu {cpu}: {e}");
                        return Err(());
                    }
                }
                if !wait_for(&READY, group_size, 1000) {
                    record!("error", |r| r
                        .str("kind", "bench")
                        .str("bench", "shootdown_concurrent")
                        .str("message", "a CPU of the group did not start within 1 s"));
                    return Err(());
                }
                let t0 = tsc::rdtsc();
                GO.store(true, Ordering::Release);
                let finished = wait_for(&DONE, k, 60_000);
                let wall = tsc::rdtsc() - t0;
                STOP.store(true, Ordering::Release);
                let all = group.iter().all(|c| work::wait(c, 5000));
                if !finished || !all || FAILED.swap(false, Ordering::AcqRel) {
                    record!("error", |r| r
                        .str("kind", "bench")
                        .str("bench", "shootdown_concurrent")
                        .str(
                            "message",
                            "an initiator timed out or did not finish within 60 s"
                        ));
                    return Err(());
                }
                bad += OWN_STALE.swap(0, Ordering::AcqRel)
                    + super::forbidden_reads(
                        proto.relaxed(),
                        sys::mm::uspace::SHARED
                            .stale_reads
                            .swap(0, Ordering::AcqRel),
                        sys::mm::uspace::SHARED
                            .recycled_reads
                            .swap(0, Ordering::AcqRel),
                    );
                if round == 0 {
                    continue; // warm-up
                }
                for l in LAT.iter().take(k) {
                    let l = l.lock();
                    for &v in &l[..per_round] {
                        if n < lat.len() {
                            lat[n] = v;
                            n += 1;
                        }
                    }
                }
                rates[kept] = (k as u128 * per_round as u128 * tsc::hz() as u128
                    / wall.max(1) as u128) as u64;
                kept += 1;
            }
            let params = [
                ("protocol", P::S(proto.name())),
                (
                    "delivery",
                    P::S(super::delivery_name(*proto, &Delivery::Unicast)),
                ),
                ("space", P::S("kernel")),
                ("initiators", P::U(k as u64)),
                ("cpus", P::U(group_size as u64 + 1)),
                ("pages", P::U(1)),
            ];
            emit(
                "shootdown_concurrent",
                Kind::Workload,
                &params,
                "cycles",
                0,
                &mut lat[..n],
            );
            emit(
                "shootdown_concurrent_throughput",
                Kind::Workload,
                &params,
                "shootdowns_per_s",
                1,
                &mut rates[..kept],
            );
            k *= 2;
        }
    }
    let mut d = kernel_core::fmtbuf::FmtBuf::<160>::new();
    let _ = core::fmt::Write::write_fmt(
        &mut d,
        format_args!("{bad} reads the protocols' contracts forbid, over every concurrent run"),
    );
    ok &= check("shootdown_concurrent_no_stale_reads", bad == 0, d.as_str());
    Ok(ok)
}
