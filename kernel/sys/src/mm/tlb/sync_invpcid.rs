//! `sync_invpcid`: the synchronous protocol of `sync` with INVPCID for full flushes (SDM
//! vol. 2A "INVPCID"): type 2 (all contexts, globals included) in the kernel half instead of
//! toggling CR4.PGE; type 1 (single context: the user PCID's non-global translations, named
//! explicitly) in the user address space, which leaves the kernel's global entries and other
//! PCIDs alone, unlike a CR3 reload without PCIDs. Single pages use INVLPG (INVPCID's
//! individual-address type leaves global translations alone). Contract: as `sync`.

use super::{Protocol, Request, Space};
use crate::arch::cpu;
use crate::arch::tlb::{self, InvpcidType};

use crate::mm::PAGE_SIZE;
use crate::mm::uspace::USER_PCID;

pub struct SyncInvpcid;

impl Protocol for SyncInvpcid {
    fn name(&self) -> &'static str {
        "sync_invpcid"
    }

    fn unsupported(&self) -> Option<&'static str> {
        (!cpu::features().invpcid).then_some("the CPU has no INVPCID")
    }

    fn invalidate(&self, req: &Request) {
        // User-space requests name the space's PCID explicitly (not "the current one"), so
        // the flush is right whichever PCID this CPU runs. With PCIDs off the only PCID is 0.
        let user_pcid = if cpu::pcid_enabled() { USER_PCID } else { 0 };
        match (req.space, req.full) {
            (Space::Kernel, true) => tlb::invpcid_all_including_global(),
            (Space::User, true) => tlb::invpcid(InvpcidType::SingleContext, user_pcid, 0),
            // INVPCID's address type leaves global translations alone: INVLPG for the kernel
            // half (it drops global entries in every PCID).
            (Space::Kernel, false) => {
                for i in 0..req.pages {
                    tlb::invlpg(req.start + i * PAGE_SIZE);
                }
            }
            (Space::User, false) => {
                for i in 0..req.pages {
                    tlb::invpcid(InvpcidType::Address, user_pcid, req.start + i * PAGE_SIZE);
                }
            }
        }
    }
}
