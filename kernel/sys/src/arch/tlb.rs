//! The TLB instructions (Intel SDM vol. 3A, 4.10.4 "Invalidation of TLBs and Paging-Structure
//! Caches"; vol. 2A "INVLPG", "INVPCID"): the only place they are written. The shootdown
//! protocols (`mm::tlb`), the fault path and the floors all call these.

use core::arch::asm;

use super::cpu::{self, CR4_PGE};
use super::{read_cr3, write_cr3};

/// Reload CR3 with its own value: drops every non-global translation of the current address
/// space (with PCIDs: of the current PCID only; bit 63 clear asks for the flush).
pub fn flush_current_space() {
    // SAFETY: the same tables, so everything stays mapped.
    unsafe { write_cr3(read_cr3() & !(1 << 63)) };
}

/// Invalidate the TLB entry for one page on this CPU (INVLPG).
#[inline]
pub fn invlpg(virt: u64) {
    // SAFETY: INVLPG only drops a cached translation.
    unsafe { asm!("invlpg [{}]", in(reg) virt, options(nostack, preserves_flags)) };
}

/// INVPCID invalidation types (Intel SDM vol. 2A, "INVPCID").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum InvpcidType {
    /// One linear address in one PCID (non-global translations only).
    Address = 0,
    /// Every non-global translation of one PCID.
    SingleContext = 1,
    /// Every translation of every PCID, global ones included.
    AllIncludingGlobal = 2,
}

/// INVPCID of `kind` for `pcid` (12 bits) and `addr`. The caller checks that the CPU has
/// INVPCID; with CR4.PCIDE off, `pcid` must be 0 for the first two types.
pub fn invpcid(kind: InvpcidType, pcid: u64, addr: u64) {
    let desc = [pcid & 0xFFF, addr];
    // SAFETY: INVPCID only drops cached translations; the descriptor's reserved bits 63:12 of
    // the first word are zero, and the type is one of the architectural ones.
    unsafe {
        asm!("invpcid {}, [{}]", in(reg) kind as u64, in(reg) &desc, options(nostack, preserves_flags))
    };
}

/// Reload CR3 with the value it holds: drops the non-global translations of the current
/// address space (the `flush_cr3` floor: exactly a CR3 read and write).
#[inline]
pub fn reload_cr3() {
    // SAFETY: the same tables, so everything stays mapped.
    unsafe { write_cr3(read_cr3()) };
}

/// Toggle CR4.PGE off and on: invalidates every TLB entry, global ones included (SDM vol. 3A,
/// 4.10.4.1).
pub fn flush_global_pge() {
    let cr4 = cpu::read_cr4();
    // SAFETY: clearing then restoring PGE changes no translation, only flushes the TLB.
    unsafe {
        cpu::write_cr4(cr4 & !CR4_PGE);
        cpu::write_cr4(cr4);
    }
}

/// INVPCID type 2: all contexts, global entries included (SDM vol. 2A "INVPCID"). The caller
/// checks that the CPU has INVPCID.
pub fn invpcid_all_including_global() {
    invpcid(InvpcidType::AllIncludingGlobal, 0, 0);
}

/// INVLPGB flags in RAX bits 5:0 (AMD APM vol. 3, "INVLPGB"): which fields of the operands
/// are valid, and whether global translations are included.
pub const INVLPGB_VALID_VA: u64 = 1 << 0;
pub const INVLPGB_VALID_PCID: u64 = 1 << 1;
pub const INVLPGB_VALID_ASID: u64 = 1 << 2;
pub const INVLPGB_INCLUDE_GLOBAL: u64 = 1 << 3;

/// INVLPGB (AMD APM vol. 3): broadcast an invalidation to every CPU of the system, without
/// waiting for it. `rax` is the page-aligned address ORed with the flags above; `extra`
/// counts the pages after the first (at most the CPU's `invlpgb_count_max`); `pcid` and
/// `asid` name the context (ASID 0: the host, always named valid so guests' entries stay, as
/// Linux does). The caller checks CPUID 0x8000_0008 EBX bit 3. Weakly ordered: only
/// [`tlbsync`] waits for completion.
pub fn invlpgb(rax: u64, extra: u16, pcid: u64, asid: u16) {
    let edx = ((pcid & 0xFFF) << 16) as u32 | asid as u32;
    // SAFETY: INVLPGB only drops cached translations (on every CPU); the reserved bits of
    // the operands are zero. Encoded as bytes (0F 01 FE) for assemblers that lack it.
    unsafe {
        asm!(".byte 0x0f, 0x01, 0xfe", in("rax") rax, in("ecx") extra as u32, in("edx") edx,
            options(nostack, preserves_flags))
    };
}

/// TLBSYNC (AMD APM vol. 3): wait until every INVLPGB this CPU issued has completed on every
/// CPU.
pub fn tlbsync() {
    // SAFETY: TLBSYNC only waits. Encoded as bytes (0F 01 FF).
    unsafe { asm!(".byte 0x0f, 0x01, 0xff", options(nostack, preserves_flags)) };
}
