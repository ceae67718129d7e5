//! Interrupt descriptor table and the entry stubs of the 32 architectural exceptions
//! (Intel SDM vol. 3A, chapter 6).
//!
//! Each stub pushes a zero where the CPU pushes no error code, then its vector, and joins a
//! common path that saves every general-purpose register into an [`ExceptionFrame`] and calls
//! `kernel_exception_dispatch`, which hands exceptions to the routing defined above this layer
//! with [`exception_entry!`] (`crate::trap`). The double fault runs on its own IST stack, so a kernel stack
//! overflow (a #PF that cannot push its frame) still produces a report.

use core::arch::global_asm;
use core::mem::size_of;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::gdt::{IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI, KERNEL_CS};

pub const VEC_NMI: u8 = 2;
pub const VEC_INVALID_OPCODE: u8 = 6;
pub const VEC_DOUBLE_FAULT: u8 = 8;
pub const VEC_GENERAL_PROTECTION: u8 = 13;
pub const VEC_PAGE_FAULT: u8 = 14;
pub const VEC_MACHINE_CHECK: u8 = 18;

/// Interrupt vectors the kernel uses (above the 32 exceptions). Their handlers are registered
/// with [`set_handler`]; the dispatcher sends the EOI.
pub const VEC_WORK: u8 = 0xE0;
pub const VEC_PING: u8 = 0xE1;
pub const VEC_SHOOTDOWN: u8 = 0xE2;
/// The local APIC timer's tick while a lazy shootdown protocol runs (its epoch boundary).
pub const VEC_EPOCH_TICK: u8 = 0xE3;
/// Device and IPI vectors with an entry stub (the spurious vector is apic::SPURIOUS_VECTOR).
const IRQ_VECTORS: [u8; 5] = [
    VEC_WORK,
    VEC_PING,
    VEC_SHOOTDOWN,
    VEC_EPOCH_TICK,
    super::apic::SPURIOUS_VECTOR,
];

/// Names of the architectural exceptions, by vector (mnemonic, description).
pub const EXCEPTION_NAMES: [(&str, &str); 32] = [
    ("#DE", "divide error"),
    ("#DB", "debug"),
    ("NMI", "non-maskable interrupt"),
    ("#BP", "breakpoint"),
    ("#OF", "overflow"),
    ("#BR", "bound range exceeded"),
    ("#UD", "invalid opcode"),
    ("#NM", "device not available"),
    ("#DF", "double fault"),
    ("#MF9", "coprocessor segment overrun"),
    ("#TS", "invalid TSS"),
    ("#NP", "segment not present"),
    ("#SS", "stack-segment fault"),
    ("#GP", "general protection fault"),
    ("#PF", "page fault"),
    ("#15", "reserved"),
    ("#MF", "x87 floating-point error"),
    ("#AC", "alignment check"),
    ("#MC", "machine check"),
    ("#XM", "SIMD floating-point exception"),
    ("#VE", "virtualization exception"),
    ("#CP", "control protection exception"),
    ("#22", "reserved"),
    ("#23", "reserved"),
    ("#24", "reserved"),
    ("#25", "reserved"),
    ("#26", "reserved"),
    ("#27", "reserved"),
    ("#HV", "hypervisor injection exception"),
    ("#VC", "VMM communication exception"),
    ("#SX", "security exception"),
    ("#31", "reserved"),
];

/// Page-fault error code bits (Intel SDM vol. 3A, figure 6-11).
pub const PF_PRESENT: u64 = 1 << 0;
pub const PF_WRITE: u64 = 1 << 1;
pub const PF_USER: u64 = 1 << 2;
pub const PF_RESERVED: u64 = 1 << 3;
pub const PF_INSTRUCTION: u64 = 1 << 4;

/// Registers saved by the entry path, lowest address first.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExceptionFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    // Pushed by the CPU.
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(size_of::<ExceptionFrame>() == 22 * 8);

macro_rules! stub {
    ($v:literal) => {
        concat!(
            "exc_stub_",
            $v,
            ":\n push 0\n push ",
            $v,
            "\n jmp exception_common\n"
        )
    };
    ($v:literal, error_code) => {
        concat!(
            "exc_stub_",
            $v,
            ":\n push ",
            $v,
            "\n jmp exception_common\n"
        )
    };
    ($v:literal, paranoid) => {
        concat!(
            "exc_stub_",
            $v,
            ":\n push 0\n push ",
            $v,
            "\n jmp paranoid_common\n"
        )
    };
    ($v:literal, error_code, paranoid) => {
        concat!("exc_stub_", $v, ":\n push ", $v, "\n jmp paranoid_common\n")
    };
}

global_asm!(
    ".section .text.exceptions, \"ax\"",
    stub!(0), stub!(1), stub!(2, paranoid), stub!(3), stub!(4), stub!(5), stub!(6), stub!(7),
    stub!(8, error_code, paranoid), stub!(9), stub!(10, error_code), stub!(11, error_code),
    stub!(12, error_code), stub!(13, error_code), stub!(14, error_code), stub!(15),
    stub!(16), stub!(17, error_code), stub!(18, paranoid), stub!(19), stub!(20),
    stub!(21, error_code), stub!(22), stub!(23), stub!(24), stub!(25), stub!(26), stub!(27),
    stub!(28), stub!(29, error_code), stub!(30, error_code), stub!(31),
    // The interrupt stubs, one per IRQ_VECTORS entry (vectors from their constants).
    "irq_stub_0:\n push 0\n push {irq0}\n jmp exception_common",
    "irq_stub_1:\n push 0\n push {irq1}\n jmp exception_common",
    "irq_stub_2:\n push 0\n push {irq2}\n jmp exception_common",
    "irq_stub_3:\n push 0\n push {irq3}\n jmp exception_common",
    "irq_stub_4:\n push 0\n push {irq4}\n jmp exception_common",
    // Every general-purpose register, in ExceptionFrame order (r15 at the lowest address).
    ".macro PUSH_GPRS",
    " push rax", " push rbx", " push rcx", " push rdx", " push rsi", " push rdi", " push rbp",
    " push r8", " push r9", " push r10", " push r11", " push r12", " push r13", " push r14",
    " push r15",
    ".endm",
    ".macro POP_GPRS",
    " pop r15", " pop r14", " pop r13", " pop r12", " pop r11", " pop r10", " pop r9",
    " pop r8", " pop rbp", " pop rdi", " pop rsi", " pop rdx", " pop rcx", " pop rbx",
    " pop rax",
    ".endm",
    // From ring 3 (saved CS has RPL 3): SWAPGS in, and SWAPGS out when the frame still
    // returns to ring 3 (the kill path rewrites it to return to the kernel).
    "exception_common:",
    " test byte ptr [rsp + 24], 3",
    " jz 2f",
    " swapgs",
    "2:",
    " PUSH_GPRS",
    " cld",
    " mov rdi, rsp",
    " call kernel_exception_dispatch",
    " POP_GPRS",
    " add rsp, 16",
    " test byte ptr [rsp + 8], 3",
    " jz 3f",
    " swapgs",
    "3:",
    " iretq",
    // NMI, #DF, #MC may arrive anywhere: between SYSCALL and its SWAPGS (or SWAPGS and
    // SYSRETQ), where CS says kernel but GS is the user's, or in ring 3 after the program
    // set its own GS base with WRGSBASE (CR4.FSGSBASE is on), so neither CS nor the GS
    // base's value can be trusted. The paranoid entry therefore never SWAPGSes: it saves the
    // GS base it finds, loads this CPU's own window (the IST stack it runs on lies inside
    // that window, whose 16 MiB alignment gives its base), and restores the saved base on
    // the way out (Linux's FSGSBASE paranoid path, with the window found from the stack
    // instead of a per-CPU offset table). Early on the BSP, before the windows exist, its
    // IST stacks are outside the per-CPU region and the GS base is left as it is. WRMSR is
    // serialising, so no speculative GS use passes it (SWAPGS speculation does not apply).
    "paranoid_common:",
    " PUSH_GPRS",
    " cld",
    " mov ecx, {gs_base_msr}",
    " rdmsr",
    " mov r12d, eax",
    " mov r13d, edx",
    " mov rax, rsp",
    " movabs rbx, {percpu_base}",
    " cmp rax, rbx",
    " jb 4f",
    " movabs rbx, {percpu_end}",
    " cmp rax, rbx",
    " jae 4f",
    " and rax, {window_mask}",
    " mov rdx, rax",
    " shr rdx, 32",
    " wrmsr",
    "4:",
    " mov rdi, rsp",
    " call kernel_exception_dispatch",
    " mov ecx, {gs_base_msr}",
    " mov eax, r12d",
    " mov edx, r13d",
    " wrmsr",
    " POP_GPRS",
    " add rsp, 16",
    " iretq",
    ".purgem PUSH_GPRS",
    ".purgem POP_GPRS",
    ".section .rodata.exceptions, \"a\"",
    ".balign 8",
    ".global exc_stub_table",
    "exc_stub_table:",
    ".quad exc_stub_0, exc_stub_1, exc_stub_2, exc_stub_3, exc_stub_4, exc_stub_5",
    ".quad exc_stub_6, exc_stub_7, exc_stub_8, exc_stub_9, exc_stub_10, exc_stub_11",
    ".quad exc_stub_12, exc_stub_13, exc_stub_14, exc_stub_15, exc_stub_16, exc_stub_17",
    ".quad exc_stub_18, exc_stub_19, exc_stub_20, exc_stub_21, exc_stub_22, exc_stub_23",
    ".quad exc_stub_24, exc_stub_25, exc_stub_26, exc_stub_27, exc_stub_28, exc_stub_29",
    ".quad exc_stub_30, exc_stub_31",
    ".global irq_stub_table",
    "irq_stub_table:",
    ".quad irq_stub_0, irq_stub_1, irq_stub_2, irq_stub_3, irq_stub_4",
    ".text",
    gs_base_msr = const super::regs::IA32_GS_BASE,
    irq0 = const IRQ_VECTORS[0],
    irq1 = const IRQ_VECTORS[1],
    irq2 = const IRQ_VECTORS[2],
    irq3 = const IRQ_VECTORS[3],
    irq4 = const IRQ_VECTORS[4],
    percpu_base = const percpu::PERCPU_BASE,
    percpu_end = const percpu::PERCPU_END,
    window_mask = const -(percpu::WINDOW_SIZE as i64),
);

unsafe extern "C" {
    static exc_stub_table: [u64; 32];
    static irq_stub_table: [u64; IRQ_VECTORS.len()];
}

/// Interrupt handlers by vector (0: none). A handler runs with interrupts off, on the
/// interrupted stack.
static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];

/// Install `handler` for an interrupt vector (one of the kernel's IPI vectors).
pub fn set_handler(vector: u8, handler: fn(&mut ExceptionFrame)) {
    assert!(
        IRQ_VECTORS.contains(&vector),
        "vector {vector:#x} has no entry stub"
    );
    HANDLERS[vector as usize].store(handler as usize, Ordering::Release);
}

/// The common dispatch: interrupts go to their handler (then EOI), exceptions to `route`.
/// The entry stubs call `kernel_exception_dispatch`, which [`exception_entry!`] defines
/// above this layer with the kernel's routing (`crate::trap`): this layer names nothing above
/// it, and the routing is inlined here as if written in place (no indirect call on the fault
/// path). A kernel that defines no routing does not link.
#[inline(always)]
pub fn dispatch(frame: &mut ExceptionFrame, route: impl FnOnce(&mut ExceptionFrame)) {
    super::user::clac_on_entry();
    let vector = frame.vector;
    if vector >= 32 {
        if vector == super::apic::SPURIOUS_VECTOR as u64 {
            return; // no EOI for a spurious interrupt (SDM 11.9)
        }
        let h = HANDLERS[vector as usize].load(Ordering::Acquire);
        if h != 0 {
            // SAFETY: only `set_handler` stores here, always a `fn(&mut ExceptionFrame)`.
            let f: fn(&mut ExceptionFrame) = unsafe { core::mem::transmute(h) };
            f(frame);
        }
        super::apic::eoi();
        return;
    }
    route(frame)
}

/// Define `kernel_exception_dispatch`, the function every entry stub calls with the saved
/// registers (returning resumes them), as [`dispatch`] with `$route` for the 32
/// architectural exceptions. Used once, by the layer that owns the routing.
#[macro_export]
macro_rules! exception_entry {
    ($route:path) => {
        #[unsafe(no_mangle)]
        extern "C" fn kernel_exception_dispatch(frame: &mut $crate::arch::idt::ExceptionFrame) {
            $crate::arch::idt::dispatch(frame, $route)
        }
    };
}

/// One 16-byte gate descriptor (Intel SDM vol. 3A, figure 6-8).
#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    low: u64,
    high: u64,
}

/// 64-bit interrupt gate, present, DPL 0.
const GATE_INTERRUPT_PRESENT: u64 = 0x8E << 40;

impl Gate {
    const EMPTY: Gate = Gate { low: 0, high: 0 };

    fn interrupt(handler: u64, ist: u8) -> Gate {
        Gate {
            low: (handler & 0xFFFF)
                | (KERNEL_CS as u64) << 16
                | (ist as u64 & 0x7) << 32
                | GATE_INTERRUPT_PRESENT
                | ((handler >> 16) & 0xFFFF) << 48,
            high: handler >> 32,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

/// One IDT shared by every CPU (its gates name IST slots, and each CPU's TSS holds its own
/// stacks for those slots).
static mut IDT: Idt = Idt([Gate::EMPTY; 256]);

/// Fill the exception gates. Call once, on the BSP, before `load`.
#[allow(clippy::deref_addrof)] // `(*&raw mut IDT)`: a `static mut` without a reference
pub fn init() {
    for v in 0..32u8 {
        let ist = match v {
            VEC_DOUBLE_FAULT => IST_DOUBLE_FAULT,
            VEC_NMI => IST_NMI,
            VEC_MACHINE_CHECK => IST_MACHINE_CHECK,
            _ => 0,
        };
        // SAFETY: exc_stub_table is a constant table emitted above; IDT is written only here,
        // before any CPU loads it.
        unsafe {
            let handler = exc_stub_table[v as usize];
            (*&raw mut IDT).0[v as usize] = Gate::interrupt(handler, ist);
        }
    }
    for (i, &v) in IRQ_VECTORS.iter().enumerate() {
        // SAFETY: as above, for the interrupt stubs.
        unsafe {
            let handler = irq_stub_table[i];
            (*&raw mut IDT).0[v as usize] = Gate::interrupt(handler, 0);
        }
    }
}

/// Load the shared IDT on this CPU.
pub fn load() {
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let ptr = Pointer {
        limit: (size_of::<Idt>() - 1) as u16,
        base: &raw const IDT as u64,
    };
    // SAFETY: the IDT is static and its exception gates are filled by `init`.
    unsafe {
        core::arch::asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack, preserves_flags))
    };
}

/// Load an empty IDT: the next exception becomes a triple fault (used by `crash=triple_fault`).
pub fn load_empty() {
    let ptr: [u16; 5] = [0; 5];
    // SAFETY: deliberately makes every exception unrecoverable; only the crash injector calls it.
    unsafe {
        core::arch::asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack, preserves_flags))
    };
}
