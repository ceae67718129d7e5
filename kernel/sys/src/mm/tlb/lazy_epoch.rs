//! `lazy_epoch`: LATR (Kumar et al., "LATR: Lazy Translation Coherence", ASPLOS 2018). No IPI:
//! the initiator invalidates its own TLB, posts the request into each target's queue and
//! returns. Each CPU drains its queue at its next epoch boundary, here the tick of its local
//! APIC timer every [`EPOCH_US`] µs (LATR uses the scheduler tick), which a CPU runs while it
//! may hold the translations (`Protocol::target_start`). A frame unmapped by a request may be
//! reused only after every target passed an epoch boundary after the post ([`reclaim`]): the
//! epoch is a global counter advanced by each post, and each CPU publishes the value it read
//! before its last drain.
//!
//! Contract (relaxed): a target may use an old translation until its next epoch boundary, so
//! stale reads of the *old* frame are allowed until the reclaim point; a recycled frame is
//! never read through an old translation. Negative control (`shootdown_break=recycle_early`):
//! recycling the frames without waiting for the epoch. A full queue falls back to flushing
//! everything at the drain (correct, counted as an overflow).

use core::sync::atomic::{AtomicU64, Ordering};

use percpu::{CacheAligned, percpu};

use super::sync::invlpg_or_flush;
use super::transport::{self, Timeout};
use super::{CpuSet, Mode, Protocol, Request, Space};
use crate::arch::{self, apic, idt, tlb, tsc};

pub struct LazyEpoch;

/// The epoch length: the targets' timer tick.
pub const EPOCH_US: u64 = 1000;
/// Requests a queue holds before it overflows into one full flush.
const QUEUE_LEN: usize = 32;

/// The global epoch: the number of posts so far, plus one.
static EPOCH: AtomicU64 = AtomicU64::new(1);
/// Queues that overflowed (a full flush instead of their requests).
static OVERFLOWS: AtomicU64 = AtomicU64::new(0);

struct Queue {
    n: usize,
    overflow: bool,
    reqs: [Request; QUEUE_LEN],
}

const EMPTY: Request = Request {
    start: 0,
    pages: 0,
    full: false,
    space: Space::Kernel,
    tables_changed: false,
    generation: 0,
};

percpu! {
    /// Requests posted to this CPU (written by initiators, drained by this CPU's tick).
    static QUEUE: CacheAligned<spin::Mutex<Queue>> = CacheAligned(spin::Mutex::new(Queue {
        n: 0,
        overflow: false,
        reqs: [EMPTY; QUEUE_LEN],
    }));
    /// The epoch this CPU read before its last drain (read by initiators in `reclaim`).
    static PASSED: CacheAligned<AtomicU64> = CacheAligned(AtomicU64::new(0));
    /// The epoch of this CPU's last post, as an initiator.
    static LAST_POST: u64 = 0;
}

/// The epoch boundary: take this CPU's queue and apply it (or flush everything after an
/// overflow), then publish the epoch read before the queue was taken.
pub fn drain() {
    let e = EPOCH.load(Ordering::SeqCst);
    let me = arch::cpu_id() as usize;
    let mut batch = [EMPTY; QUEUE_LEN];
    let (n, overflow) = {
        let mut q = QUEUE.get().lock();
        let n = q.n;
        batch[..n].copy_from_slice(&q.reqs[..n]);
        let overflow = q.overflow;
        q.n = 0;
        q.overflow = false;
        (n, overflow)
    };
    if !transport::skips_invalidate(me) {
        if overflow {
            // Every translation of every PCID, globals included (SDM 4.10.4.1).
            tlb::flush_global_pge();
        } else {
            for req in &batch[..n] {
                transport::invalidate_here(&LazyEpoch, req);
            }
        }
    }
    PASSED.get().store(e, Ordering::Release);
}

/// Post `req` to every CPU of `targets` (the initiator's side; no notification).
pub(super) fn post(req: &Request, targets: &CpuSet) {
    for t in targets.iter() {
        let mut q = QUEUE.remote(t).lock();
        if q.n < QUEUE_LEN {
            let n = q.n;
            q.reqs[n] = *req;
            q.n += 1;
        } else {
            q.overflow = true;
            OVERFLOWS.fetch_add(1, Ordering::Relaxed);
        }
    }
    // After the posts: a drain that reads the new epoch sees them.
    let ticket = EPOCH.fetch_add(1, Ordering::SeqCst);
    LAST_POST.write(ticket);
}

/// Wait until every CPU of `targets` passed an epoch boundary after this CPU's last post,
/// draining this CPU's own queue meanwhile.
pub(super) fn reclaim(targets: &CpuSet, timeout_ticks: u64) -> Result<(), Timeout> {
    let ticket = LAST_POST.read();
    let t0 = tsc::rdtsc();
    loop {
        let behind = targets
            .iter()
            .filter(|&t| PASSED.remote(t).load(Ordering::Acquire) <= ticket)
            .count() as u64;
        if behind == 0 {
            return Ok(());
        }
        if tsc::rdtsc() - t0 > timeout_ticks {
            return Err(Timeout {
                acks_missing: behind,
            });
        }
        core::hint::spin_loop();
    }
}

/// Queue overflows since boot.
pub fn overflows() -> u64 {
    OVERFLOWS.load(Ordering::Relaxed)
}

impl Protocol for LazyEpoch {
    const MODE: Mode = Mode::EpochQueue;

    fn name(&self) -> &'static str {
        "lazy_epoch"
    }

    fn unsupported(&self) -> Option<&'static str> {
        (apic::timer_counts_per_ms() == 0)
            .then_some("the local APIC timer does not count: no epoch tick")
    }

    fn target_start(&self) {
        // Apply whatever was posted while this CPU was not a target, then tick.
        drain();
        apic::timer_start_periodic(idt::VEC_EPOCH_TICK, EPOCH_US);
    }

    fn target_stop(&self) {
        apic::timer_stop();
        drain();
    }

    fn invalidate(&self, req: &Request) {
        invlpg_or_flush(req);
    }
}
