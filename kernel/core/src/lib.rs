//! Hardware-independent logic of the kernel.
//!
//! Everything here is pure computation over memory the caller hands in, so it builds for both
//! `x86_64-unknown-none` (used by the kernel) and the host (where `cargo test` runs the unit
//! tests). No allocation, no dependencies.
//!
//! - [`cmdline`]: the kernel command line, parsed into typed options against one table of keys.
//! - [`bootinfo`]: Multiboot1 / Multiboot2 information, normalised into one memory map.
//! - [`frame`]: the physical frame allocator (a bitmap over 4 KiB frames).
//! - [`paging`]: x86-64 4-level page tables: map, unmap, translate, protect.
//! - [`acpi`]: ACPI tables: the RSDP, RSDT / XSDT, the MADT's CPUs and their numbering, the
//!   FADT's PM timer and the HPET's base.
//! - [`ackword`]: the acknowledgement word of a TLB shootdown request (count and sequence).
//! - [`phases`]: a shootdown's phase breakdown from cross-CPU timestamps.
//! - [`topology`]: SMT siblings, last-level caches and packages from CPUID and x2APIC ids.
//! - [`json`]: one-line JSON records for the serial port.
//! - [`fmtbuf`]: a fixed-capacity text buffer for `write!`.
//! - [`hw`]: x86-64 architectural names (MSR numbers, CR / EFER / RFLAGS bits), each once.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

/// Size of a physical frame and of the smallest x86-64 page (Intel SDM Vol. 3A, 4.5).
pub const PAGE_SIZE: u64 = 4096;

/// End of the real-mode low memory (1 MiB): the IVT, BIOS data area, EBDA, video memory and
/// option ROMs live below it, and no frame below it is ever handed out by the frame allocator.
pub const LOW_MEMORY_END: u64 = 0x10_0000;

/// The kernel image's virtual address = physical address + this (PML4[511], PDPT[510]); the
/// linker script and the boot stub get it from here (`hw.inc`, `--defsym`).
pub const KERNEL_VIRT_OFFSET: u64 = 0xffff_ffff_8000_0000;
/// Where the loader puts the kernel image: 2 MiB, above the low 1 MiB (real-mode areas and the
/// AP trampoline page) and 2 MiB-aligned so the virtual base could take a large page.
pub const KERNEL_PHYS_BASE: u64 = 0x20_0000;

pub mod ackword;
pub mod acpi;
pub mod bootinfo;
pub mod cmdline;
pub mod cpuset;
pub mod fmtbuf;
pub mod font;
pub mod frame;
pub mod hw;
pub mod json;
mod le;
pub mod paging;
pub mod phases;
pub mod qemu_exit;
pub mod result;
pub mod screen;
pub mod stats;
pub mod topology;
pub mod uspace;

#[cfg(test)]
mod testutil;
