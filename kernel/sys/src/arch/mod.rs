//! The x86-64 layer: everything that touches registers, ports and descriptor tables lives
//! below this module, each `unsafe` block with the reason it holds.

pub mod apic;
pub mod cpu;
pub mod extable;
pub mod gdt;
pub mod idt;
pub mod port;
pub mod regs;
pub mod tlb;
pub mod tsc;
pub mod user;

use core::arch::asm;

percpu::percpu! {
    /// Logical id of this CPU (0 = the BSP), written into each window by `cpu::local` before
    /// the CPU enters it.
    pub static CPU_ID: u32 = 0;
}

/// Logical id of the CPU running this code (0 = the bootstrap processor).
#[inline]
pub fn cpu_id() -> u32 {
    CPU_ID.read()
}

/// Disable maskable interrupts; returns whether they were enabled.
#[inline]
pub fn interrupts_disable() -> bool {
    let flags: u64;
    // SAFETY: reading RFLAGS and clearing IF has no memory effects.
    unsafe { asm!("pushfq", "pop {}", "cli", out(reg) flags, options(nomem, preserves_flags)) };
    flags & RFLAGS_IF != 0
}

#[inline]
pub fn interrupts_enable() {
    // SAFETY: the IDT is loaded before anything enables interrupts.
    unsafe { asm!("sti", options(nomem, nostack)) };
}

pub use regs::RFLAGS_IF;

/// Stop this CPU for good: interrupts off, HLT in a loop (an NMI returns to the loop).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: cli; hlt only stops this CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Current frame pointer (the kernel is built with frame pointers).
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let rbp: u64;
    // SAFETY: reads a register.
    unsafe { asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags)) };
    rbp
}

#[inline(always)]
pub fn stack_pointer() -> u64 {
    let rsp: u64;
    // SAFETY: reads a register.
    unsafe { asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags)) };
    rsp
}

pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reads a control register.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: reads a control register.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Load CR3 (flushes every non-global TLB entry).
///
/// # Safety
/// `pml4` must be a complete PML4 that maps the running code, stack and data at the same
/// virtual addresses as the current one.
pub unsafe fn write_cr3(pml4: u64) {
    // SAFETY: the caller guarantees the new tables map everything in use.
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) };
}

/// Bytes of a cache line as CLFLUSH works on them (CPUID.1:EBX[15:8] × 8 on every x86-64 part
/// so far; 64 is the architectural minimum the kernel relies on).
pub const CACHE_LINE: u64 = 64;

/// Write back and invalidate every cache line of the 4 KiB page at `virt` from every cache
/// level (CLFLUSH, SDM vol. 2A), then MFENCE so later accesses miss.
pub fn flush_page_from_caches(virt: u64) {
    let mut a = virt & !0xFFF;
    while a < (virt & !0xFFF) + 4096 {
        // SAFETY: CLFLUSH of a mapped kernel address only moves data out of the caches.
        unsafe { asm!("clflush [{}]", in(reg) a, options(nostack, preserves_flags)) };
        a += CACHE_LINE;
    }
    // SAFETY: a fence only.
    unsafe { asm!("mfence", options(nostack, preserves_flags)) };
}

/// SFENCE: every earlier store is globally visible before any later one.
pub fn store_fence() {
    // SAFETY: a fence only.
    unsafe { asm!("sfence", options(nostack, preserves_flags)) };
}
