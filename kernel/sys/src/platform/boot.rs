//! Reading the loader's information through the prekernel identity map, and the boot summary.

use kernel_core::bootinfo::{self, BootInfo, BootInfoError, PhysRead, RegionKind};

use crate::mm::layout;
use crate::println;

/// The prekernel tables identity-map the low 4 GiB: loader structures live there (multiboot
/// passes 32-bit pointers).
const IDENTITY_LIMIT: u64 = 1 << 32;

struct IdentityMap;

impl PhysRead for IdentityMap {
    fn read(&self, phys: u64, buf: &mut [u8]) -> bool {
        let Some(end) = phys.checked_add(buf.len() as u64) else {
            return false;
        };
        if end > IDENTITY_LIMIT {
            return false;
        }
        // SAFETY: [phys, end) lies in the low 4 GiB, which the prekernel tables map at its
        // identity address; the loader's structures are plain memory that nothing writes now.
        unsafe { core::ptr::copy_nonoverlapping(phys as *const u8, buf.as_mut_ptr(), buf.len()) };
        true
    }
}

pub fn read_boot_info(magic: u32, info: u32) -> Result<BootInfo, BootInfoError> {
    bootinfo::parse(
        magic,
        info as u64,
        &IdentityMap,
        layout::kernel_phys_range(),
    )
}

fn kind_name(k: RegionKind) -> &'static str {
    match k {
        RegionKind::Usable => "usable",
        RegionKind::Reserved => "reserved",
        RegionKind::AcpiReclaimable => "acpi-reclaimable",
        RegionKind::AcpiNvs => "acpi-nvs",
        RegionKind::BadMemory => "bad",
        RegionKind::Kernel => "kernel",
        RegionKind::Loader => "loader",
    }
}

/// Print the memory map and the page-table summary.
pub fn print_summary(info: &BootInfo) {
    println!(
        "boot: protocol {:?}, loader '{}', cmdline '{}'",
        info.protocol,
        info.loader_name(),
        info.cmdline()
    );
    match &info.framebuffer {
        Some(fb) => println!(
            "boot: framebuffer at {:#x}: {} x {}, {} bits per pixel, pitch {}, {:?}",
            fb.addr, fb.width, fb.height, fb.bpp, fb.pitch, fb.kind
        ),
        None => println!("boot: no framebuffer from the loader"),
    }
    if info.memory_map_truncated {
        println!(
            "boot: warning: the loader's memory map has more than {} regions; the rest are \
                  left out (never counted as usable)",
            kernel_core::bootinfo::MAX_REGIONS
        );
    }
    println!(
        "memory map ({} regions, normalised):",
        info.memory.regions().len()
    );
    for r in info.memory.regions() {
        println!(
            "  [{:#014x} - {:#014x}) {:>10} KiB  {}",
            r.start,
            r.end,
            (r.end - r.start) / 1024,
            kind_name(r.kind)
        );
    }
    crate::mm::print_summary();
}
