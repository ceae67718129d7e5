//! IPI delivery with INVPCID: INVLPG per page (INVPCID's individual-address type leaves global
//! translations alone, SDM vol. 2A "INVPCID"), INVPCID type 2 (all contexts, globals included)
//! for a full flush instead of toggling CR4.PGE.

use super::{Protocol, Request};
use crate::arch::{self, cpu};
use crate::bench::floors::invpcid_all_including_global;
use crate::mm::PAGE_SIZE;

pub struct InvpcidFull;

impl Protocol for InvpcidFull {
    fn name(&self) -> &'static str {
        "ipi_invpcid"
    }

    fn unsupported(&self) -> Option<&'static str> {
        (!cpu::features().invpcid).then_some("the CPU has no INVPCID")
    }

    fn invalidate(&self, req: &Request) {
        if req.full {
            invpcid_all_including_global();
        } else {
            for i in 0..req.pages {
                arch::invlpg(req.start + i * PAGE_SIZE);
            }
        }
    }
}
