//! `sync`: the synchronous IPI protocol. The initiator notifies every target, each target
//! invalidates and then acknowledges, and the initiator returns once all have (the textbook
//! shootdown; Black et al. 1989, Linux before its lazy-TLB and generation refinements).
//! Invalidation: INVLPG per page; for a full flush, a CR4.PGE toggle in the kernel half (the
//! region's pages are global, which a CR3 reload would keep) or a CR3 reload in the user
//! address space (non-global pages of the current PCID).
//!
//! Contract: once the initiator returns, no named CPU uses an old translation.

use super::{Protocol, Request, Space};
use crate::arch::tlb;

use crate::mm::PAGE_SIZE;

pub struct Sync;

/// Invalidate `req` on this CPU with INVLPG per page, or the whole space's translations.
#[inline(always)]
pub(super) fn invlpg_or_flush(req: &Request) {
    if req.full {
        match req.space {
            Space::Kernel => tlb::flush_global_pge(),
            Space::User => tlb::flush_current_space(),
        }
    } else {
        for i in 0..req.pages {
            tlb::invlpg(req.start + i * PAGE_SIZE);
        }
    }
}

impl Protocol for Sync {
    fn name(&self) -> &'static str {
        "sync"
    }

    fn invalidate(&self, req: &Request) {
        invlpg_or_flush(req);
    }
}
