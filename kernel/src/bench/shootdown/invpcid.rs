//! IPI delivery with INVPCID for full flushes (SDM vol. 2A "INVPCID"): type 2 (all contexts,
//! globals included) in the kernel half instead of toggling CR4.PGE; type 1 (single context:
//! the current PCID's non-global translations) in the user address space, which leaves the
//! kernel's global entries and other PCIDs alone, unlike a CR3 reload without PCIDs. Single
//! pages use INVLPG (INVPCID's individual-address type leaves global translations alone).

use super::{Protocol, Request, Space};
use crate::arch::{self, cpu};
use crate::bench::floors::{invpcid_all_including_global, invpcid_single_context};
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
            match req.space {
                Space::Kernel => invpcid_all_including_global(),
                Space::User => invpcid_single_context(arch::read_cr3() & 0xFFF),
            }
        } else {
            for i in 0..req.pages {
                arch::invlpg(req.start + i * PAGE_SIZE);
            }
        }
    }
}
