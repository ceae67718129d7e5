//! `invlpgb`: AMD's broadcast invalidation (AMD64 APM vol. 3, "INVLPGB", "TLBSYNC"; Zen 3 and
//! later, CPUID 0x8000_0008 EBX bit 3). The initiator issues INVLPGB for the range, which
//! every CPU of the system applies without an interrupt, then TLBSYNC, which waits until all
//! have; targets take no part (no IPI, no acknowledgement). Written from the manual and
//! checked against Linux's `arch/x86/include/asm/tlb.h` (`__invlpgb`, which also always
//! names ASID 0 valid so a hypervisor's guests keep their entries); no emulator here has
//! INVLPGB, so it runs only on real Zen 3+ hardware (elsewhere: a `skip` record).
//!
//! Operands: RAX = page-aligned address | flags (VA valid, PCID valid, ASID valid, include
//! global); ECX = extra pages (at most CPUID 0x8000_0008 EDX[15:0]); EDX = PCID << 16 | ASID.
//! Kernel-half pages are global: the request includes globals. User pages are named by the
//! space's PCID (with PCIDs on) so the other PCIDs stay.
//!
//! Contract: as `sync` (TLBSYNC makes it synchronous).

use super::{Mode, Protocol, Request, Space};
use crate::arch::cpu;
use crate::arch::tlb::{
    self, INVLPGB_INCLUDE_GLOBAL, INVLPGB_VALID_ASID, INVLPGB_VALID_PCID, INVLPGB_VALID_VA,
};
use crate::mm::PAGE_SIZE;
use crate::mm::uspace::USER_PCID;

pub struct Invlpgb;

impl Protocol for Invlpgb {
    const MODE: Mode = Mode::Broadcast;

    fn name(&self) -> &'static str {
        "invlpgb"
    }

    fn unsupported(&self) -> Option<&'static str> {
        (!cpu::features().invlpgb)
            .then_some("the CPU has no INVLPGB (CPUID 0x8000_0008 EBX bit 3; AMD Zen 3 and later)")
    }

    fn invalidate(&self, req: &Request) {
        // The context: ASID 0 (this kernel runs as the host or as a guest whose ASID the
        // hypervisor substitutes), and for user pages the space's PCID.
        let (ctx, pcid) = match req.space {
            Space::Kernel => (INVLPGB_VALID_ASID | INVLPGB_INCLUDE_GLOBAL, 0),
            Space::User if cpu::pcid_enabled() => {
                (INVLPGB_VALID_ASID | INVLPGB_VALID_PCID, USER_PCID)
            }
            // Without PCIDs the user pages are PCID 0's non-global entries.
            Space::User => (INVLPGB_VALID_ASID | INVLPGB_VALID_PCID, 0),
        };
        if req.full {
            // No VA valid: every translation of the context (globals too in the kernel half).
            tlb::invlpgb(ctx, 0, pcid, 0);
        } else {
            let max = cpu::features().invlpgb_count_max as u64 + 1;
            let mut done = 0;
            while done < req.pages {
                let n = (req.pages - done).min(max);
                let va = req.start + done * PAGE_SIZE;
                tlb::invlpgb(va | ctx | INVLPGB_VALID_VA, (n - 1) as u16, pcid, 0);
                done += n;
            }
        }
        tlb::tlbsync();
    }
}
