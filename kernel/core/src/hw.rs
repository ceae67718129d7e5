//! x86-64 architectural names, each defined once: model-specific register numbers and the
//! control-register, EFER and RFLAGS bits the kernel reads or sets. The assembly (`boot/`,
//! the AP trampoline) gets the ones it needs from `hw.inc`, generated from this file by
//! `kernel/sys/build.rs`, so an assembler constant can never drift from its Rust twin.
//!
//! Sources: Intel SDM vol. 4, table 2-2 (MSRs); vol. 3A, 2.5 (CR0, CR4) and 2.2.1 (EFER);
//! vol. 1, 3.4.3 (RFLAGS); AMD APM vol. 2, A.7 (AMD MSRs).

/// IA32_TSC_ADJUST: the per-CPU offset added to the TSC (Intel SDM vol. 4, table 2-2).
pub const IA32_TSC_ADJUST: u32 = 0x3B;
/// IA32_APIC_BASE: local APIC base address and the xAPIC / x2APIC enable bits.
pub const IA32_APIC_BASE: u32 = 0x1B;
/// IA32_PAT: the eight page attribute table entries (Intel SDM vol. 3A, 11.12).
pub const IA32_PAT: u32 = 0x277;
/// IA32_EFER: extended feature enables (SCE, LME, NXE).
pub const IA32_EFER: u32 = 0xC000_0080;
/// IA32_STAR: SYSCALL / SYSRET segment selectors.
pub const IA32_STAR: u32 = 0xC000_0081;
/// IA32_LSTAR: the 64-bit SYSCALL entry point.
pub const IA32_LSTAR: u32 = 0xC000_0082;
/// IA32_FMASK: RFLAGS bits SYSCALL clears.
pub const IA32_FMASK: u32 = 0xC000_0084;
/// IA32_GS_BASE: the GS segment base (the per-CPU window's address in this kernel).
pub const IA32_GS_BASE: u32 = 0xC000_0101;
/// IA32_KERNEL_GS_BASE: the value SWAPGS exchanges with IA32_GS_BASE.
pub const IA32_KERNEL_GS_BASE: u32 = 0xC000_0102;
/// MSR_AMD64_DE_CFG (AMD family 10h and later): bit 1 makes LFENCE dispatch-serializing.
pub const MSR_AMD64_DE_CFG: u32 = 0xC001_1029;

/// CR0.PE: protected mode enable.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.WP: supervisor writes honour read-only pages.
pub const CR0_WP: u64 = 1 << 16;
/// CR0.PG: paging enable.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PAE: physical address extension (required by long mode).
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.PGE: global pages; toggling it flushes every TLB entry, global ones included.
pub const CR4_PGE: u64 = 1 << 7;
/// CR4.FSGSBASE: RDGSBASE / WRGSBASE and friends allowed.
pub const CR4_FSGSBASE: u64 = 1 << 16;
/// CR4.PCIDE: process-context identifiers in CR3 bits 0..11.
pub const CR4_PCIDE: u64 = 1 << 17;
/// CR4.SMEP: supervisor-mode execution prevention.
pub const CR4_SMEP: u64 = 1 << 20;
/// CR4.SMAP: supervisor-mode access prevention.
pub const CR4_SMAP: u64 = 1 << 21;

/// EFER.SCE: SYSCALL / SYSRET enable.
pub const EFER_SCE: u64 = 1 << 0;
/// EFER.LME: long mode enable.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.NXE: the XD bit of page-table entries is honoured.
pub const EFER_NXE: u64 = 1 << 11;

/// RFLAGS bit 1: reserved, always 1.
pub const RFLAGS_RESERVED1: u64 = 1 << 1;
/// RFLAGS.TF: single-step trap.
pub const RFLAGS_TF: u64 = 1 << 8;
/// RFLAGS.IF: maskable interrupts enabled.
pub const RFLAGS_IF: u64 = 1 << 9;
/// RFLAGS.DF: string instructions count down.
pub const RFLAGS_DF: u64 = 1 << 10;
/// RFLAGS.NT: nested task.
pub const RFLAGS_NT: u64 = 1 << 14;
/// RFLAGS.AC: alignment check / SMAP override.
pub const RFLAGS_AC: u64 = 1 << 18;

/// The constants the assembly needs, by their names here.
pub const ASM_EXPORTS: &[(&str, u64)] = &[
    ("IA32_EFER", IA32_EFER as u64),
    ("IA32_PAT", IA32_PAT as u64),
    ("CR0_PE", CR0_PE),
    ("CR0_PG", CR0_PG),
    ("CR4_PAE", CR4_PAE),
    ("EFER_LME", EFER_LME),
    ("EFER_NXE", EFER_NXE),
    ("PTE_P", crate::paging::PTE_P),
    ("PTE_RW", crate::paging::PTE_RW),
    ("PTE_PS", crate::paging::PTE_PS),
    ("KERNEL_VIRT_OFFSET", crate::KERNEL_VIRT_OFFSET),
    ("KERNEL_PHYS_BASE", crate::KERNEL_PHYS_BASE),
];

/// Write [`ASM_EXPORTS`] as NASM `equ` lines (the build scripts' `hw.inc`).
pub fn write_nasm(out: &mut impl core::fmt::Write) -> core::fmt::Result {
    writeln!(
        out,
        "; Generated from kernel/core/src/hw.rs by the build: do not edit."
    )?;
    for (name, value) in ASM_EXPORTS {
        writeln!(out, "{name:<24} equ {value:#x}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nasm_lines_name_every_export_once() {
        let mut text = String::new();
        write_nasm(&mut text).unwrap();
        for (name, value) in ASM_EXPORTS {
            let line = format!("{name:<24} equ {value:#x}");
            assert_eq!(text.matches(&line).count(), 1, "{line}");
        }
        assert!(text.contains("KERNEL_VIRT_OFFSET       equ 0xffffffff80000000"));
    }

    #[test]
    fn bits_are_single_and_distinct_per_register() {
        let cr4 = [
            CR4_PAE,
            CR4_PGE,
            CR4_FSGSBASE,
            CR4_PCIDE,
            CR4_SMEP,
            CR4_SMAP,
        ];
        let rflags = [
            RFLAGS_RESERVED1,
            RFLAGS_TF,
            RFLAGS_IF,
            RFLAGS_DF,
            RFLAGS_NT,
            RFLAGS_AC,
        ];
        for set in [
            &cr4[..],
            &rflags[..],
            &[CR0_PE, CR0_WP, CR0_PG],
            &[EFER_SCE, EFER_LME, EFER_NXE],
        ] {
            assert_eq!(
                set.iter().fold(0, |a, b| a | b).count_ones() as usize,
                set.len()
            );
            assert!(set.iter().all(|b| b.count_ones() == 1));
        }
    }
}
