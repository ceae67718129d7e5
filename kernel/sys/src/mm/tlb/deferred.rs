//! `deferred`: LUF-style deferral ("LUF: Lazy Unmap Flush", Byungchul Park et al., the Linux
//! patch series 2024-2025). Unmapping frees nothing at once: the initiator invalidates its
//! own TLB, records the request in its per-CPU batch and returns without notifying anyone.
//! When the unmapped frames are about to be reused ([`reclaim`]), the batch is flushed in one
//! synchronous round of IPIs (its span, or the whole space beyond the ceiling), so many
//! unmaps cost one shootdown.
//!
//! Contract (relaxed): targets may use old translations until the reclaim point; a recycled
//! frame is never read through one. Negative control (`shootdown_break=recycle_early`):
//! recycling the frames before the deferred flush.

use percpu::{CacheAligned, percpu};

use super::batched::Gather;
use super::sync::invlpg_or_flush;
use super::{CpuSet, Mode, Protocol, Request, Space};

pub struct Deferred;

/// Pages above which the deferred flush covers the whole space.
const CEILING: u64 = 32;

/// One initiator's deferred requests: a gather per space and the CPUs they name.
pub(super) struct Batch {
    pub gathers: [Gather; 2],
    pub targets: CpuSet,
}

percpu! {
    static BATCH: CacheAligned<spin::Mutex<Batch>> = CacheAligned(spin::Mutex::new(Batch {
        gathers: [Gather::new(Space::Kernel, CEILING), Gather::new(Space::User, CEILING)],
        targets: CpuSet::new(),
    }));
}

/// Record `req` for `targets` (the initiator's side).
pub(super) fn defer(req: &Request, targets: &CpuSet) {
    let mut b = BATCH.get().lock();
    let i = (req.space == Space::User) as usize;
    b.gathers[i].add(req);
    for t in targets.iter() {
        b.targets.insert(t);
    }
}

/// Take this CPU's batch (empty afterwards).
pub(super) fn take() -> Batch {
    let mut b = BATCH.get().lock();
    let out = Batch {
        gathers: b.gathers,
        targets: b.targets,
    };
    b.gathers = [
        Gather::new(Space::Kernel, CEILING),
        Gather::new(Space::User, CEILING),
    ];
    b.targets = CpuSet::new();
    out
}

impl Protocol for Deferred {
    const MODE: Mode = Mode::Deferred;

    fn name(&self) -> &'static str {
        "deferred"
    }

    fn invalidate(&self, req: &Request) {
        invlpg_or_flush(req);
    }
}
