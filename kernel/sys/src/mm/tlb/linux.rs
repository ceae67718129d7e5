//! `linux`: Linux's x86 shootdown design (`arch/x86/mm/tlb.c`, v6.x), rewritten for this
//! kernel's one user address space:
//!
//! - a per-address-space flush generation (`mm->context.tlb_gen`, here [`TLB_GEN`]): every
//!   user-space request takes a new generation; each CPU remembers the generation its TLB
//!   reflects (`cpu_tlbstate.ctxs[].tlb_gen`, here `LOCAL_GEN`). A CPU already caught up
//!   skips the work; one exactly one generation behind flushes only the pages named; any
//!   other flushes the whole space (`flush_tlb_func`);
//! - the targets are the CPUs where the space is loaded (`mm_cpumask`, here `LOADED`), minus
//!   those in lazy-TLB mode (running kernel code with the space still loaded but not in
//!   use, `cpu_tlbstate_shared.is_lazy`), unless page tables were changed or freed (a lazy
//!   CPU's page walker may still use them: `flush_tlb_mm_range` with `freed_tables`); a
//!   skipped CPU catches up when it leaves lazy mode ([`leave_lazy`], as `switch_mm_irqs_off`
//!   compares generations) or loads the space again ([`space_loaded`]);
//! - the single-page ceiling: more than 33 pages (`tlb_single_page_flush_ceiling`) flush
//!   the whole space; kernel-half requests go to every CPU named (`flush_tlb_kernel_range`
//!   IPIs all), with the same ceiling.
//!
//! Contract: as `sync` for every CPU not lazy; a CPU skipped as lazy never reads a stale
//! entry after it switches back. Negative control (`shootdown_break=skip_catchup`): leaving
//! lazy mode without comparing generations.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use percpu::{CacheAligned, percpu};

use super::sync::invlpg_or_flush;
use super::{CpuSet, Protocol, Request, Space};
use crate::arch::tlb;

pub struct Linux;

/// Pages above which a request flushes everything (Linux's `tlb_single_page_flush_ceiling`).
pub const FLUSH_CEILING: u64 = 33;

/// The user address space's flush generation (starts at 1; `LOCAL_GEN` 0 = never caught up).
static TLB_GEN: AtomicU64 = AtomicU64::new(1);
/// Failure injection: leaving lazy mode does not catch up.
static SKIP_CATCHUP: AtomicBool = AtomicBool::new(false);

percpu! {
    /// Per CPU, read by initiators: the space is loaded here, and whether lazily.
    static STATE: CacheAligned<CpuState> = CacheAligned(CpuState {
        loaded: AtomicBool::new(false),
        lazy: AtomicBool::new(false),
    });
    /// The generation of the user space this CPU's TLB reflects (only this CPU writes it).
    static LOCAL_GEN: AtomicU64 = AtomicU64::new(0);
}

struct CpuState {
    loaded: AtomicBool,
    lazy: AtomicBool,
}

pub(super) fn set_skip_catchup(on: bool) {
    SKIP_CATCHUP.store(on, Ordering::Release);
}

/// Flush this CPU's user-space translations if it is behind the space's generation, and
/// record the generation it reflects. Called with the space loaded.
fn catch_up() {
    let g = TLB_GEN.load(Ordering::SeqCst);
    let local = LOCAL_GEN.get();
    if local.load(Ordering::Relaxed) < g {
        tlb::flush_current_space();
        local.store(g, Ordering::Relaxed);
    }
}

/// This CPU just loaded the user space (`uspace::activate`): it is in the mask from now on,
/// and catches up (`flushed_at`: the load itself flushed the space's PCID, and the generation
/// read before the load). A handler that runs in between may leave `LOCAL_GEN` lower than
/// what the TLB reflects, never higher: at worst a later request flushes everything.
pub fn space_loaded(flushed_at: Option<u64>) {
    let s = STATE.get();
    s.lazy.store(false, Ordering::Relaxed);
    s.loaded.store(true, Ordering::SeqCst);
    if let Some(g) = flushed_at {
        LOCAL_GEN.get().store(g, Ordering::Relaxed);
    }
    // After `loaded` is visible: an initiator that bumps the generation later sees us in the
    // mask; one that bumped it earlier is caught here.
    catch_up();
}

/// The generation to read before a load that flushes (see [`space_loaded`]).
pub fn generation() -> u64 {
    TLB_GEN.load(Ordering::SeqCst)
}

/// This CPU left the user space (its PCID keeps the entries; the next load catches up).
pub fn space_unloaded() {
    let s = STATE.get();
    s.loaded.store(false, Ordering::SeqCst);
    s.lazy.store(false, Ordering::Relaxed);
}

/// Enter lazy-TLB mode: the space stays loaded, but this CPU runs kernel code that does not
/// touch it; user-space requests skip it (unless page tables change).
pub fn enter_lazy() {
    STATE.get().lazy.store(true, Ordering::SeqCst);
}

/// Leave lazy-TLB mode before touching the space again: catch up with every request that
/// skipped this CPU (`switch_mm_irqs_off` comparing `tlb_gen`).
pub fn leave_lazy() {
    STATE.get().lazy.store(false, Ordering::SeqCst);
    if !SKIP_CATCHUP.load(Ordering::Relaxed) {
        catch_up();
    }
}

impl Protocol for Linux {
    const NARROWS_TARGETS: bool = true;

    fn name(&self) -> &'static str {
        "linux"
    }

    fn prepare(&self, req: &mut Request) {
        if req.space == Space::User {
            // `inc_mm_tlb_gen`: a full barrier, ordered after the PTE changes and before the
            // mask is read (SeqCst against `space_loaded` and `leave_lazy`).
            req.generation = TLB_GEN.fetch_add(1, Ordering::SeqCst) + 1;
        }
        if req.pages > FLUSH_CEILING {
            req.full = true;
        }
    }

    fn narrow_targets(&self, asked: &CpuSet, req: &Request) -> CpuSet {
        if req.space == Space::Kernel {
            return *asked;
        }
        // Called after `prepare`: the mask is read after the generation moved.
        let mut t = CpuSet::new();
        for cpu in asked.iter() {
            let s = STATE.remote(cpu);
            if s.loaded.load(Ordering::SeqCst)
                && (req.tables_changed || !s.lazy.load(Ordering::SeqCst))
            {
                t.insert(cpu);
            }
        }
        t
    }

    fn invalidate(&self, req: &Request) {
        if req.space == Space::Kernel {
            invlpg_or_flush(req);
            return;
        }
        // `flush_tlb_func`: compare this CPU's generation with the request's and the space's.
        let mm_gen = TLB_GEN.load(Ordering::Acquire);
        let local = LOCAL_GEN.get();
        let have = local.load(Ordering::Relaxed);
        if have >= mm_gen {
            return; // caught up already (a later full flush covered this request)
        }
        if !req.full && req.generation == have + 1 && req.generation == mm_gen {
            invlpg_or_flush(req);
        } else {
            tlb::flush_current_space();
        }
        local.store(mm_gen, Ordering::Relaxed);
    }
}
