//! The virtual address map (DESIGN.md) and the kernel image's sections from linker.ld.

/// Direct map of all physical memory: virtual = DIRECT_MAP_BASE + physical.
pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;
/// 64 TiB.
pub const DIRECT_MAP_SIZE: u64 = 64 << 40;
/// Kernel image: virtual = KERNEL_VIRT_OFFSET + physical (one definition in `kernel_core`,
/// given to the linker script with `--defsym` and to the boot stub in `hw.inc`).
pub use kernel_core::KERNEL_VIRT_OFFSET;
/// First kernel-half PML4 slot.
pub const KERNEL_HALF_FIRST_PML4_SLOT: usize = 256;

/// The address of a linker-script symbol, as a 64-bit absolute value (no RIP-relative
/// addressing, so symbols at physical addresses work from the higher half too).
macro_rules! linker_symbol {
    ($name:ident) => {{
        let v: u64;
        // SAFETY: only loads the symbol's link-time address into a register.
        unsafe {
            core::arch::asm!(concat!("movabs {}, offset ", stringify!($name)), out(reg) v,
                             options(nomem, nostack, preserves_flags))
        };
        v
    }};
}

pub(crate) use linker_symbol;

/// A part of the kernel image with its own permissions.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    pub name: &'static str,
    pub start: u64,
    pub end: u64,
    pub writable: bool,
    pub executable: bool,
}

/// Text (read + execute), rodata (read-only), data+bss and the boot stack (read + write);
/// the guard page between data and the boot stack is left out.
pub fn kernel_sections() -> [Section; 4] {
    [
        Section {
            name: "text",
            start: linker_symbol!(__text_start),
            end: linker_symbol!(__text_end),
            writable: false,
            executable: true,
        },
        Section {
            name: "rodata",
            start: linker_symbol!(__rodata_start),
            end: linker_symbol!(__rodata_end),
            writable: false,
            executable: false,
        },
        Section {
            name: "data+bss",
            start: linker_symbol!(__data_start),
            end: linker_symbol!(__data_end),
            writable: true,
            executable: false,
        },
        Section {
            name: "boot stack",
            start: linker_symbol!(__boot_stack_bottom),
            end: linker_symbol!(__boot_stack_top),
            writable: true,
            executable: false,
        },
    ]
}

/// Physical extent of the whole image, including the prekernel tables after the bss.
pub fn kernel_phys_range() -> (u64, u64) {
    (
        linker_symbol!(__kernel_phys_start),
        linker_symbol!(__kernel_phys_end),
    )
}

pub fn boot_stack() -> (u64, u64) {
    (
        linker_symbol!(__boot_stack_bottom),
        linker_symbol!(__boot_stack_top),
    )
}
