//! This kernel's per-CPU variables and the windows that hold them (percpu/ gives the layout
//! and the accessor). GS:0 holds each window's own address; the BSP runs on the `.percpu`
//! image itself until its window exists, so per-CPU access works from the first instruction.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use percpu::{CacheAligned, layout, percpu, window_base};

pub use crate::arch::CPU_ID;

use crate::arch::cpu;
use crate::arch::gdt::{CpuTables, IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI};
use crate::mm;
use crate::mm::layout::linker_symbol;

pub use crate::arch::regs::IA32_GS_BASE;

// The control block's first word: the window's own address, at GS:0 (.percpu.head is linked
// first, at offset 0; no Rust static sits at address 0).
global_asm!(
    ".pushsection .percpu.head, \"aw\"",
    ".balign 8",
    "percpu_self:",
    ".quad 0",
    ".popsection"
);

percpu! {
    /// APIC id of this CPU.
    pub static APIC_ID: u32 = 0;
    /// Written by each CPU with its own logical id when it comes online; read remotely by
    /// the BSP to prove that every window is this CPU's alone.
    pub static ID_CHECK: CacheAligned<AtomicU64> = CacheAligned(AtomicU64::new(u64::MAX));
    /// Bring-up self-checks an AP ran on itself (bit set = passed), read remotely.
    pub static AP_CHECKS: CacheAligned<AtomicU64> = CacheAligned(AtomicU64::new(0));
    /// Package, core and thread of this CPU from the CPUID topology leaf, read remotely.
    pub static TOPOLOGY: CacheAligned<AtomicU64> = CacheAligned(AtomicU64::new(0));
}

fn set_gs_base(v: u64) {
    // SAFETY: GS base only affects gs:-relative accesses, which all go to per-CPU data; the
    // new base is a mapped copy of the .percpu image.
    unsafe { cpu::wrmsr(IA32_GS_BASE, v) };
}

/// Virtual address and length of the `.percpu` image inside the kernel image.
pub fn image() -> (u64, u64) {
    let (load, start, end) = (
        linker_symbol!(__percpu_load),
        linker_symbol!(__percpu_start),
        linker_symbol!(__percpu_end),
    );
    (load, end - start)
}

/// First thing on the BSP: GS points at the image itself, with its self pointer filled.
pub fn bsp_early() {
    let (img, _) = image();
    // SAFETY: the image lies in the kernel's data (writable, mapped by the prekernel tables
    // and later the kernel's); its first word is the self pointer.
    unsafe { (img as *mut u64).write(img) };
    set_gs_base(img);
}

/// Map CPU `cpu`'s window (variables, tables, stacks; guard pages and the arena left
/// unmapped), copy the `.percpu` image into it with the CPU's ids filled in, and prepare its
/// GDT and TSS (with IST stacks in the window). Returns the window base.
pub fn setup_window(cpu: usize, apic_id: u32) -> u64 {
    let base = window_base(cpu).expect("logical id below MAX_CPUS");
    let (img, len) = image();
    assert!(
        len <= layout::VARS_MAX,
        ".percpu image ({len} bytes) larger than its window slot"
    );
    for (off, size) in layout::mapped_ranges(len) {
        mm::map_fresh(base + off, size);
    }
    // SAFETY: [base, base + len) was just mapped for this window only; the image is kernel data.
    unsafe {
        core::ptr::copy_nonoverlapping(img as *const u8, base as *mut u8, len as usize);
        (base as *mut u64).write(base);
        ((base + CPU_ID.offset()) as *mut u32).write(cpu as u32);
        ((base + APIC_ID.offset()) as *mut u32).write(apic_id);
        let tables = (base + layout::TABLES_OFFSET) as *mut CpuTables;
        tables.write(CpuTables::new());
        let t = &mut *tables;
        t.tss.ist[IST_DOUBLE_FAULT as usize - 1] = base + layout::DOUBLE_FAULT_STACK.top;
        t.tss.ist[IST_NMI as usize - 1] = base + layout::NMI_STACK.top;
        t.tss.ist[IST_MACHINE_CHECK as usize - 1] = base + layout::MACHINE_CHECK_STACK.top;
        t.tss.rsp[0] = base + layout::KERNEL_STACK.top;
    }
    base
}

/// On the CPU that owns window `base`: GS base to the window, its GDT and TSS loaded.
pub fn enter_window(base: u64) {
    set_gs_base(base);
    // SAFETY: the tables live in this CPU's window, mapped for the whole run.
    unsafe { (&mut *((base + layout::TABLES_OFFSET) as *mut CpuTables)).load() };
}

/// This CPU's window base (GS:0).
pub fn this_window() -> u64 {
    percpu::self_base()
}

pub fn store_topology(package: u32, core: u32, thread: u32) {
    TOPOLOGY.get().store(
        (package as u64) << 40 | (core as u64) << 20 | thread as u64,
        Ordering::Relaxed,
    );
}

pub fn topology_of(cpu: usize) -> (u32, u32, u32) {
    let v = TOPOLOGY.remote(cpu).load(Ordering::Relaxed);
    (
        (v >> 40) as u32,
        ((v >> 20) & 0xFFFFF) as u32,
        (v & 0xFFFFF) as u32,
    )
}

/// Accessor probes: one out-of-line function per scalar accessor and width, kept in the ELF
/// under a fixed name so that `runner test` can disassemble them and check that each compiled
/// to exactly one `%gs:`-relative instruction (the per-CPU accessor's contract). Never called.
pub mod accessor_probes {
    use percpu::percpu;

    percpu! {
        static P8: u8 = 0;
        static P16: u16 = 0;
        static P32: u32 = 0;
        static P64: u64 = 0;
    }

    macro_rules! probes {
        ($($var:ident: $t:ty => $read:ident, $write:ident, $add:ident;)*) => {$(
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $read() -> $t { $var.read() }
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $write(v: $t) { $var.write(v) }
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub extern "C" fn $add(v: $t) { $var.add(v) }
        )*};
    }

    /// Keeps the probes through the linker's section GC (nothing calls them).
    #[allow(dead_code)] // read by no one: the table exists to be kept
    struct Keep([*const (); 12]);
    // SAFETY: function addresses only; never dereferenced as data.
    unsafe impl Sync for Keep {}
    #[used]
    static KEEP: Keep = Keep([
        percpu_probe_read_u8 as *const (),
        percpu_probe_write_u8 as *const (),
        percpu_probe_add_u8 as *const (),
        percpu_probe_read_u16 as *const (),
        percpu_probe_write_u16 as *const (),
        percpu_probe_add_u16 as *const (),
        percpu_probe_read_u32 as *const (),
        percpu_probe_write_u32 as *const (),
        percpu_probe_add_u32 as *const (),
        percpu_probe_read_u64 as *const (),
        percpu_probe_write_u64 as *const (),
        percpu_probe_add_u64 as *const (),
    ]);

    probes! {
        P8: u8 => percpu_probe_read_u8, percpu_probe_write_u8, percpu_probe_add_u8;
        P16: u16 => percpu_probe_read_u16, percpu_probe_write_u16, percpu_probe_add_u16;
        P32: u32 => percpu_probe_read_u32, percpu_probe_write_u32, percpu_probe_add_u32;
        P64: u64 => percpu_probe_read_u64, percpu_probe_write_u64, percpu_probe_add_u64;
    }
}
