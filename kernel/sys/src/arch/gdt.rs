//! Global descriptor table and task-state segment (Intel SDM vol. 3A, 3.4.5 and 8.7).
//!
//! Layout, fixed for SYSCALL/SYSRET later: null, kernel code, kernel data, user data, user
//! code, TSS (two slots). Each CPU has its own GDT and TSS (the TSS holds its IST stacks).

use core::arch::asm;
use core::mem::size_of;

pub const KERNEL_CS: u16 = 0x08;
pub const KERNEL_DS: u16 = 0x10;
pub const USER_DS: u16 = 0x18 | 3;
pub const USER_CS: u16 = 0x20 | 3;
pub const TSS_SEL: u16 = 0x28;

/// IST slots (1-based, as written in an IDT gate).
pub const IST_DOUBLE_FAULT: u8 = 1;
pub const IST_NMI: u8 = 2;
pub const IST_MACHINE_CHECK: u8 = 3;

// Segment descriptor bits (Intel SDM vol. 3A, 3.4.5).
const DESC_ACCESSED: u64 = 1 << 40;
const DESC_RW: u64 = 1 << 41;
const DESC_EXEC: u64 = 1 << 43;
const DESC_CODE_DATA: u64 = 1 << 44;
const DESC_DPL3: u64 = 3 << 45;
const DESC_PRESENT: u64 = 1 << 47;
const DESC_LONG: u64 = 1 << 53;
const DESC_DB: u64 = 1 << 54;
const DESC_GRAN_4K: u64 = 1 << 55;
const DESC_LIMIT_MAX: u64 = 0x000F_0000_0000_FFFF;
const TSS_TYPE_AVAILABLE_64: u64 = 0x9 << 40;

const KERNEL_CODE: u64 = DESC_LIMIT_MAX
    | DESC_ACCESSED
    | DESC_RW
    | DESC_EXEC
    | DESC_CODE_DATA
    | DESC_PRESENT
    | DESC_LONG
    | DESC_GRAN_4K;
const KERNEL_DATA: u64 = DESC_LIMIT_MAX
    | DESC_ACCESSED
    | DESC_RW
    | DESC_CODE_DATA
    | DESC_PRESENT
    | DESC_DB
    | DESC_GRAN_4K;
const USER_CODE: u64 = KERNEL_CODE | DESC_DPL3;
const USER_DATA: u64 = KERNEL_DATA | DESC_DPL3;

/// 64-bit TSS (Intel SDM vol. 3A, figure 8-11).
#[repr(C, packed(4))]
#[derive(Clone, Copy)]
pub struct Tss {
    _reserved0: u32,
    /// Stack pointers loaded on a privilege change to ring 0..2.
    pub rsp: [u64; 3],
    _reserved1: u64,
    /// Interrupt stack table, IST1..IST7.
    pub ist: [u64; 7],
    _reserved2: u64,
    _reserved3: u16,
    pub iomap_base: u16,
}

const _: () = assert!(size_of::<Tss>() == 104);

impl Tss {
    pub const fn new() -> Self {
        Tss {
            _reserved0: 0,
            rsp: [0; 3],
            _reserved1: 0,
            ist: [0; 7],
            _reserved2: 0,
            _reserved3: 0,
            iomap_base: size_of::<Tss>() as u16,
        }
    }
}

impl Default for Tss {
    fn default() -> Self {
        Self::new()
    }
}

/// One CPU's GDT and TSS.
#[repr(C, align(64))]
pub struct CpuTables {
    pub gdt: [u64; 7],
    pub tss: Tss,
}

/// Offset of TSS.RSP0 inside [`CpuTables`] (the ring-3 entry code writes it).
pub const TSS_RSP0_OFFSET: u64 =
    (core::mem::offset_of!(CpuTables, tss) + core::mem::offset_of!(Tss, rsp)) as u64;

impl CpuTables {
    pub const fn new() -> Self {
        CpuTables {
            gdt: [0, KERNEL_CODE, KERNEL_DATA, USER_DATA, USER_CODE, 0, 0],
            tss: Tss::new(),
        }
    }

    /// Point the TSS descriptor at this table's TSS, load GDTR, reload every segment
    /// register and the task register.
    ///
    /// # Safety
    /// `self` must stay at this address for as long as the CPU runs (the CPU reads the GDT and
    /// TSS through their linear addresses), and the IST/RSP0 stacks must be valid.
    pub unsafe fn load(&'static mut self) {
        let base = &raw const self.tss as u64;
        let limit = (size_of::<Tss>() - 1) as u64;
        self.gdt[5] = (limit & 0xFFFF)
            | (base & 0xFF_FFFF) << 16
            | TSS_TYPE_AVAILABLE_64
            | DESC_PRESENT
            | ((base >> 24) & 0xFF) << 56;
        self.gdt[6] = base >> 32;
        #[repr(C, packed)]
        struct Pointer {
            limit: u16,
            base: u64,
        }
        let ptr = Pointer {
            limit: (size_of::<[u64; 7]>() - 1) as u16,
            base: self.gdt.as_ptr() as u64,
        };
        // SAFETY: the GDT is complete and 'static; the far return reloads CS with the kernel
        // code selector of the same GDT; data selectors follow; LTR marks the TSS busy,
        // which is fine because each CPU has its own.
        unsafe {
            asm!(
                "lgdt [{ptr}]",
                "push {cs}",
                "lea {tmp}, [rip + 2f]",
                "push {tmp}",
                "retfq",
                "2:",
                "mov {tmp:e}, {ds}",
                "mov ds, {tmp:e}",
                "mov es, {tmp:e}",
                "mov ss, {tmp:e}",
                "xor {tmp:e}, {tmp:e}",
                "mov fs, {tmp:e}",
                "ltr {tss:x}",
                ptr = in(reg) &ptr,
                cs = const KERNEL_CS as u64,
                ds = const KERNEL_DS as u32,
                tss = in(reg) TSS_SEL,
                tmp = out(reg) _,
            );
        }
    }
}

impl Default for CpuTables {
    fn default() -> Self {
        Self::new()
    }
}

/// Size of each of the BSP's early IST stacks (they move into the per-CPU window with SMP).
const BSP_IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct IstStack([u8; BSP_IST_STACK_SIZE]);

static mut BSP_TABLES: CpuTables = CpuTables::new();
static mut BSP_IST_STACKS: [IstStack; 3] = [const { IstStack([0; BSP_IST_STACK_SIZE]) }; 3];

/// Load the bootstrap processor's GDT and TSS, with its double-fault, NMI and machine-check
/// stacks in the IST.
pub fn init_bsp() {
    // SAFETY: runs once, on the BSP, before any other CPU exists; the tables and stacks are
    // statics that live for the whole run.
    unsafe {
        #[allow(clippy::deref_addrof)] // the way to reach a `static mut` without a reference
        let tables = &mut *&raw mut BSP_TABLES;
        let stacks = &raw mut BSP_IST_STACKS;
        for (slot, ist) in [IST_DOUBLE_FAULT, IST_NMI, IST_MACHINE_CHECK]
            .into_iter()
            .enumerate()
        {
            let top = (&raw mut (*stacks)[slot]) as u64 + BSP_IST_STACK_SIZE as u64;
            tables.tss.ist[ist as usize - 1] = top;
        }
        tables.load();
    }
}
