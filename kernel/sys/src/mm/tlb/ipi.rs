//! The plain IPI protocol: INVLPG per page; for a full flush, a CR4.PGE toggle in the kernel
//! half (the region's pages are global, which a CR3 reload would keep) or a CR3 reload in the
//! user address space (non-global pages of the current PCID).

use super::{Protocol, Request, Space};
use crate::arch::tlb;

use crate::mm::PAGE_SIZE;

pub struct PlainIpi;

impl Protocol for PlainIpi {
    fn name(&self) -> &'static str {
        "ipi"
    }

    fn invalidate(&self, req: &Request) {
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
}
