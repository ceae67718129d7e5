//! The plain IPI protocol: INVLPG per page, or a CR4.PGE toggle for a full flush (the region's
//! pages are global kernel mappings, which a CR3 reload would keep).

use super::{Protocol, Request};
use crate::arch;
use crate::bench::floors::flush_global_pge;
use crate::mm::PAGE_SIZE;

pub struct PlainIpi;

impl Protocol for PlainIpi {
    fn name(&self) -> &'static str {
        "ipi"
    }

    fn invalidate(&self, req: &Request) {
        if req.full {
            flush_global_pge();
        } else {
            for i in 0..req.pages {
                arch::invlpg(req.start + i * PAGE_SIZE);
            }
        }
    }
}
