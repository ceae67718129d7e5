//! The header of the AP trampoline (trampoline/ap_trampoline.asm), defined once, here.
//!
//! The BSP copies the assembled trampoline to a page below 1 MiB and fills this header; each
//! AP starts at the page in real mode, reads the header to reach long mode, finds its logical
//! id by looking its own APIC id up in `apic_ids`, and jumps to `entry64` with its window's
//! GS base and stack top. The NASM side never types an offset: `nasm_include()` generates the
//! `TH_*` constants it uses from this struct (kernel/build.rs writes them to an include file),
//! and the blob itself stores `TRAMPOLINE_MAGIC` and `size_of::<TrampolineHeader>()` in the
//! header so the BSP can check that blob and struct agree.

#![cfg_attr(not(any(test, feature = "std")), no_std)]

use core::mem::{offset_of, size_of};

/// Where the header starts in the trampoline page (after `cli; jmp near`, 4 bytes).
pub const HEADER_OFFSET: usize = 16;
/// "APTR": marks a blob built from this header definition.
pub const TRAMPOLINE_MAGIC: u32 = 0x5254_5041;
/// The trampoline occupies one 4 KiB page.
pub const TRAMPOLINE_SIZE: usize = 4096;

/// Filled by the BSP before it wakes any AP; read-only for APs.
#[repr(C)]
pub struct TrampolineHeader {
    /// `TRAMPOLINE_MAGIC`, written by the assembler.
    pub magic: u32,
    /// `size_of::<TrampolineHeader>()`, written by the assembler.
    pub header_size: u32,
    /// Physical address (below 4 GiB) of the trampoline PML4: the trampoline page at its
    /// identity address plus the kernel-half entries of the kernel's PML4.
    pub trampoline_pml4: u32,
    /// Number of valid entries in `apic_ids`.
    pub cpu_count: u32,
    /// CR0 to load when turning paging on (PE, PG, WP, and the BSP's other bits).
    pub cr0: u64,
    /// CR4 to load before paging (PAE and the BSP's PGE, SMEP, SMAP, FSGSBASE...).
    pub cr4: u64,
    /// Bits to set in IA32_EFER: LME, and NXE where the BSP has it.
    pub efer: u64,
    /// IA32_PAT, as the BSP programmed it.
    pub pat: u64,
    /// The kernel's own PML4, loaded once the AP runs at its higher-half address.
    pub kernel_cr3: u64,
    /// Higher-half 64-bit entry: called with rdi = logical id, rsi = APIC id, rdx = GS base,
    /// rcx = stack top, r9 = kernel CR3.
    pub entry64: u64,
    /// First per-CPU window.
    pub percpu_base: u64,
    /// Size of one window.
    pub window_size: u64,
    /// Offset of the boot stack's top inside a window.
    pub stack_top_offset: u64,
    /// APIC id of each logical CPU (index = logical id); index 0 is the BSP.
    pub apic_ids: [u32; percpu::MAX_CPUS],
}

const _: () = {
    assert!(offset_of!(TrampolineHeader, magic) == 0);
    assert!(offset_of!(TrampolineHeader, cr0) % 8 == 0);
    assert!(offset_of!(TrampolineHeader, apic_ids) % 4 == 0);
    assert!(size_of::<TrampolineHeader>().is_multiple_of(8));
    // Header plus code must fit in the page; the code takes well under 1 KiB.
    assert!(HEADER_OFFSET + size_of::<TrampolineHeader>() + 1024 <= TRAMPOLINE_SIZE);
};

/// NASM `equ` lines for every header field offset and the constants the blob needs.
#[cfg(any(test, feature = "std"))]
pub fn nasm_include() -> String {
    let mut s =
        String::from("; Generated from trampoline/src/lib.rs by kernel/build.rs. Do not edit.\n");
    let mut def = |name: &str, value: usize| s.push_str(&format!("{name} equ {value}\n"));
    def("TRAMPOLINE_HEADER_OFFSET", HEADER_OFFSET);
    def("TRAMPOLINE_MAGIC", TRAMPOLINE_MAGIC as usize);
    def("TRAMPOLINE_SIZE", TRAMPOLINE_SIZE);
    def("TH_SIZE", size_of::<TrampolineHeader>());
    def("TH_MAGIC", offset_of!(TrampolineHeader, magic));
    def("TH_HEADER_SIZE", offset_of!(TrampolineHeader, header_size));
    def(
        "TH_TRAMPOLINE_PML4",
        offset_of!(TrampolineHeader, trampoline_pml4),
    );
    def("TH_CPU_COUNT", offset_of!(TrampolineHeader, cpu_count));
    def("TH_CR0", offset_of!(TrampolineHeader, cr0));
    def("TH_CR4", offset_of!(TrampolineHeader, cr4));
    def("TH_EFER", offset_of!(TrampolineHeader, efer));
    def("TH_PAT", offset_of!(TrampolineHeader, pat));
    def("TH_KERNEL_CR3", offset_of!(TrampolineHeader, kernel_cr3));
    def("TH_ENTRY64", offset_of!(TrampolineHeader, entry64));
    def("TH_PERCPU_BASE", offset_of!(TrampolineHeader, percpu_base));
    def("TH_WINDOW_SIZE", offset_of!(TrampolineHeader, window_size));
    def(
        "TH_STACK_TOP_OFFSET",
        offset_of!(TrampolineHeader, stack_top_offset),
    );
    def("TH_APIC_IDS", offset_of!(TrampolineHeader, apic_ids));
    s
}

/// Checks an assembled blob against this definition: size, magic and header size in place.
pub fn check_blob(blob: &[u8]) -> Result<(), &'static str> {
    if blob.len() > TRAMPOLINE_SIZE {
        return Err("trampoline blob is larger than its page");
    }
    let at = |off: usize| -> Option<u32> {
        let b = blob.get(HEADER_OFFSET + off..HEADER_OFFSET + off + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if at(offset_of!(TrampolineHeader, magic)) != Some(TRAMPOLINE_MAGIC) {
        return Err("trampoline blob has no magic at the header offset");
    }
    if at(offset_of!(TrampolineHeader, header_size)) != Some(size_of::<TrampolineHeader>() as u32) {
        return Err("trampoline blob was assembled for another header size");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_names_every_field_once() {
        let inc = nasm_include();
        for name in [
            "TH_MAGIC",
            "TH_CR0",
            "TH_CR4",
            "TH_EFER",
            "TH_PAT",
            "TH_KERNEL_CR3",
            "TH_ENTRY64",
            "TH_PERCPU_BASE",
            "TH_WINDOW_SIZE",
            "TH_STACK_TOP_OFFSET",
            "TH_APIC_IDS",
            "TH_CPU_COUNT",
            "TH_TRAMPOLINE_PML4",
            "TH_HEADER_SIZE",
        ] {
            assert_eq!(inc.matches(&format!("{name} equ ")).count(), 1, "{name}");
        }
        assert!(inc.contains(&format!(
            "TH_APIC_IDS equ {}\n",
            offset_of!(TrampolineHeader, apic_ids)
        )));
    }

    #[test]
    fn layout_is_what_the_assembly_assumes() {
        // The 64-bit loads in the NASM code need 8-byte aligned quadword fields.
        for off in [
            offset_of!(TrampolineHeader, cr0),
            offset_of!(TrampolineHeader, kernel_cr3),
            offset_of!(TrampolineHeader, entry64),
            offset_of!(TrampolineHeader, stack_top_offset),
        ] {
            assert_eq!(off % 8, 0);
        }
        assert_eq!(
            size_of::<TrampolineHeader>(),
            4 * 4 + 9 * 8 + 4 * percpu::MAX_CPUS
        );
    }

    #[test]
    fn blob_check_catches_mismatches() {
        let mut blob = vec![0u8; 1024];
        assert!(check_blob(&blob).is_err());
        blob[HEADER_OFFSET..HEADER_OFFSET + 4].copy_from_slice(&TRAMPOLINE_MAGIC.to_le_bytes());
        assert_eq!(
            check_blob(&blob),
            Err("trampoline blob was assembled for another header size")
        );
        blob[HEADER_OFFSET + 4..HEADER_OFFSET + 8]
            .copy_from_slice(&(size_of::<TrampolineHeader>() as u32).to_le_bytes());
        assert_eq!(check_blob(&blob), Ok(()));
        assert!(check_blob(&vec![0u8; TRAMPOLINE_SIZE + 1]).is_err());
    }
}
