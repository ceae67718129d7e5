//! Ring 3: entering user mode from a kernel call, SYSCALL/SYSRET, SWAPGS, and the
//! STAC/CLAC discipline of SMAP (Intel SDM vol. 3A, 5.8.8 "Fast system calls in 64-bit mode";
//! 4.6 "Access rights"; vol. 2B "SWAPGS").
//!
//! A user program runs as a call: [`enter`] saves the kernel's callee-saved registers and
//! RFLAGS on the current stack, records that stack pointer as this CPU's return point *and*
//! as TSS.RSP0, swaps GS to the user value and IRETs to ring 3. Every entry from ring 3
//! (interrupt, exception, SYSCALL) therefore runs below the caller's frame. The program ends
//! with `syscall(SYS_EXIT, value)` or at its exit trap (`exit_by_trap`), either of which
//! unwinds to the caller with `value`; a user exception nobody handles ends it too, with
//! [`Exit::Killed`].
//!
//! GS: in the kernel GS base is this CPU's window and IA32_KERNEL_GS_BASE holds the user's
//! (0); every entry from ring 3 and every return to it executes SWAPGS. The entry stubs decide
//! by the saved CS; the paranoid stubs (NMI, #DF, #MC, which can hit between SYSCALL and its
//! SWAPGS) decide by the GS base MSR itself (see `idt.rs`).

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicBool, Ordering};

use percpu::{layout, percpu};

use super::cpu::{self, IA32_EFER};
use super::gdt::{KERNEL_CS, KERNEL_DS, USER_CS, USER_DS};
use super::idt::ExceptionFrame;

pub use super::regs::{
    EFER_SCE, IA32_FMASK, IA32_KERNEL_GS_BASE, IA32_LSTAR, IA32_STAR, RFLAGS_AC, RFLAGS_DF,
    RFLAGS_IF, RFLAGS_NT, RFLAGS_RESERVED1, RFLAGS_TF,
};

/// System call numbers (RAX; the argument in RDI, the result in RAX).
pub const SYS_EXIT: u64 = 0;
/// Does nothing and returns 0: the system-call floor.
pub const SYS_NULL: u64 = 1;
/// Returned in RAX for an unknown system call number.
pub const ENOSYS: u64 = u64::MAX;

percpu! {
    /// The kernel stack pointer `enter` saved: where SYS_EXIT (and a killed program) resume,
    /// and the stack every ring-3 entry runs on (TSS.RSP0 holds the same value).
    static USER_RETURN_RSP: u64 = 0;
    /// The user RSP while a system call runs.
    static USER_SCRATCH_RSP: u64 = 0;
    /// Address of this CPU's TSS.RSP0 field.
    static TSS_RSP0_ADDR: u64 = 0;
    /// Why the last program was killed: vector, RIP, CR2.
    static KILL_INFO: [u64; 3] = [0; 3];
}

/// SMAP is on (CR4.SMAP): kernel accesses to user pages need STAC/CLAC.
static SMAP_ON: AtomicBool = AtomicBool::new(false);
/// SYSCALL is set up (some CPU ran `init_this_cpu`).
static READY: AtomicBool = AtomicBool::new(false);

/// SYSCALL/SYSRET on this CPU. STAR: SYSCALL loads CS = KERNEL_CS, SS = KERNEL_CS + 8;
/// SYSRETQ loads CS = base + 16, SS = base + 8 with base = USER_DS - 8, which the GDT layout
/// (user data right before user code) is made for. FMASK clears IF (no interrupt between
/// SYSCALL and the stack switch), DF, TF, NT and AC (the kernel never runs with user AC).
pub fn init_this_cpu() {
    const _: () = assert!(USER_CS == (((USER_DS & !3) + 8) | 3));
    const _: () = assert!(KERNEL_DS == KERNEL_CS + 8);
    let sysret_base = (USER_DS & !3) as u64 - 8;
    let star = sysret_base << 48 | (KERNEL_CS as u64) << 32;
    let window = percpu::self_base();
    TSS_RSP0_ADDR.write(window + layout::TABLES_OFFSET + super::gdt::TSS_RSP0_OFFSET);
    // SAFETY: architectural MSRs; LSTAR points at the entry stub below, which is mapped
    // kernel text; the kernel GS base MSR holds the user's GS base (0) while in the kernel.
    unsafe {
        cpu::wrmsr(IA32_STAR, star);
        cpu::wrmsr(IA32_LSTAR, syscall_entry as *const () as usize as u64);
        cpu::wrmsr(
            IA32_FMASK,
            RFLAGS_IF | RFLAGS_DF | RFLAGS_TF | RFLAGS_NT | RFLAGS_AC,
        );
        cpu::wrmsr(IA32_KERNEL_GS_BASE, 0);
        cpu::wrmsr(IA32_EFER, cpu::rdmsr(IA32_EFER) | EFER_SCE);
    }
    SMAP_ON.store(cpu::read_cr4() & cpu::CR4_SMAP != 0, Ordering::Relaxed);
    READY.store(true, Ordering::Release);
}

pub fn smap_on() -> bool {
    SMAP_ON.load(Ordering::Relaxed)
}

/// CLAC at kernel entry (an interrupt does not clear AC; IRET restores the interrupted one).
#[inline(always)]
pub fn clac_on_entry() {
    if smap_on() {
        // SAFETY: CLAC only clears RFLAGS.AC; the CPU has SMAP (checked above).
        unsafe { asm!("clac", options(nomem, nostack)) };
    }
}

/// Kernel access to user memory: STAC on creation, CLAC on drop. Keep it around the accesses
/// only (SMAP stays on everywhere else).
pub struct UserAccess(());

impl UserAccess {
    #[inline(always)]
    pub fn begin() -> Self {
        if smap_on() {
            // SAFETY: STAC sets RFLAGS.AC, allowing supervisor access to user pages until the
            // matching CLAC in `drop`.
            unsafe { asm!("stac", options(nomem, nostack)) };
        }
        UserAccess(())
    }
}

impl Drop for UserAccess {
    #[inline(always)]
    fn drop(&mut self) {
        if smap_on() {
            // SAFETY: clears RFLAGS.AC again.
            unsafe { asm!("clac", options(nomem, nostack)) };
        }
    }
}

/// What a user program is started with.
#[repr(C)]
pub struct UserCall {
    pub rip: u64,
    pub rsp: u64,
    /// RFLAGS in ring 3 (IF on or off; AC, IOPL and the rest clear).
    pub rflags: u64,
    /// RDI, RSI, RDX, R10.
    pub args: [u64; 4],
}

/// How a user program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// `syscall(SYS_EXIT, value)`.
    Exited(u64),
    /// An exception nobody handles: vector, user RIP, CR2.
    Killed { vector: u64, rip: u64, cr2: u64 },
}

/// Run a user program on this CPU until it exits or is killed. The user address space must
/// be loaded (CR3) and map `call.rip` and `call.rsp`.
pub fn enter(call: &UserCall) -> Exit {
    assert!(READY.load(Ordering::Acquire), "SYSCALL not set up");
    // SAFETY: the closure only stores.
    unsafe { KILL_INFO.with(|k| *k = [u64::MAX; 3]) };
    // SAFETY: `call` is complete; enter_raw saves and restores every callee-saved register and
    // RFLAGS, and comes back on the same stack (SYS_EXIT or the kill path).
    let v = unsafe { enter_raw(call) };
    // The kill path records why; an exit leaves the record as cleared above.
    // SAFETY: the closure only copies.
    let k = unsafe { KILL_INFO.with(|k| *k) };
    if k[0] != u64::MAX {
        Exit::Killed {
            vector: k[0],
            rip: k[1],
            cr2: k[2],
        }
    } else {
        Exit::Exited(v)
    }
}

/// Called by the exception dispatcher for an exception from ring 3 that nobody handled:
/// rewrite the frame so that the IRET resumes the kernel at `user_killed` on the caller's
/// stack (ring 0; the exit path sees a kernel CS and leaves GS alone).
pub fn kill(frame: &mut ExceptionFrame, cr2: u64) {
    // SAFETY: the closure only stores.
    unsafe { KILL_INFO.with(|k| *k = [frame.vector, frame.rip, cr2]) };
    return_to_caller(frame, 0);
}

/// The program reached its exit trap: return `value` to `enter`'s caller.
pub fn exit_by_trap(frame: &mut ExceptionFrame, value: u64) {
    return_to_caller(frame, value);
}

fn return_to_caller(frame: &mut ExceptionFrame, rax: u64) {
    frame.rip = user_killed as *const () as usize as u64;
    frame.cs = KERNEL_CS as u64;
    frame.ss = KERNEL_DS as u64;
    frame.rsp = USER_RETURN_RSP.read();
    frame.rflags = RFLAGS_RESERVED1;
    frame.rax = rax;
}

/// Whether a program was killed because its SYSCALL arrived at the kernel's entry point still
/// in ring 3 (a #PF fetching LSTAR's target from user mode): a hypervisor that does not
/// virtualise SYSCALL for this guest. No real CPU does this.
pub fn syscall_not_virtualised(e: &Exit) -> bool {
    matches!(*e, Exit::Killed { vector, rip, cr2 }
        if vector == super::idt::VEC_PAGE_FAULT as u64
            && rip == syscall_entry as *const () as usize as u64
            && cr2 == rip)
}

unsafe extern "C" {
    fn enter_raw(call: &UserCall) -> u64;
    fn syscall_entry();
    fn user_killed();
}

// enter_raw(call): push the callee-saved registers and RFLAGS; record RSP as the return point
// and as TSS.RSP0; build an IRET frame for ring 3; clear every register the program could
// otherwise read kernel values from; SWAPGS; IRETQ.
//
// syscall_entry: SWAPGS; the user RSP goes to a per-CPU scratch slot and the stack becomes
// the return point (IF is off, by FMASK, until SYSRETQ). SYS_EXIT unwinds enter_raw's frame;
// anything else calls `syscall_dispatch` and returns with SYSRETQ (RCX = user RIP, R11 = user
// RFLAGS, as SYSCALL left them; the user RIP is canonical since the program ran there). As on
// Linux, a system call changes only RAX (the result), RCX and R11: the argument and scratch
// registers are saved around the Rust call (which also keeps kernel values out of them).
// Stack alignment: the return point is 16-byte aligned (seven pushes after a call), nine
// pushes here leave RSP at 8 mod 16, as a call site needs.
//
// user_killed: reached by IRET from the exception path with RSP = the return point.
global_asm!(
    ".global enter_raw",
    "enter_raw:",
    " push rbx", " push rbp", " push r12", " push r13", " push r14", " push r15",
    " pushfq",
    " cli",
    " mov gs:[{ret_rsp}], rsp",
    " mov rax, gs:[{rsp0_addr}]",
    " mov [rax], rsp",
    " mov r11, rdi",
    " push {user_ds}",
    " push qword ptr [r11 + {call_rsp}]",
    " push qword ptr [r11 + {call_rflags}]",
    " push {user_cs}",
    " push qword ptr [r11 + {call_rip}]",
    " mov rdi, [r11 + {call_args}]",
    " mov rsi, [r11 + {call_args} + 8]",
    " mov rdx, [r11 + {call_args} + 16]",
    " mov r10, [r11 + {call_args} + 24]",
    " xor eax, eax", " xor ebx, ebx", " xor ecx, ecx", " xor ebp, ebp", " xor r8d, r8d",
    " xor r9d, r9d", " xor r11d, r11d", " xor r12d, r12d", " xor r13d, r13d",
    " xor r14d, r14d", " xor r15d, r15d",
    " swapgs",
    " iretq",
    "",
    ".global syscall_entry",
    "syscall_entry:",
    " swapgs",
    " mov gs:[{scratch}], rsp",
    " mov rsp, gs:[{ret_rsp}]",
    " cmp rax, {sys_exit}",
    " je 2f",
    " push qword ptr gs:[{scratch}]",
    " push rcx",
    " push r11",
    " push rdi", " push rsi", " push rdx", " push r8", " push r9", " push r10",
    " mov rsi, rdi",
    " mov rdi, rax",
    " call {dispatch}",
    " pop r10", " pop r9", " pop r8", " pop rdx", " pop rsi", " pop rdi",
    " pop r11",
    " pop rcx",
    // SYSRETQ with a non-canonical RCX raises #GP in ring 0 on the user's RSP and GS (Intel;
    // the SDM's SYSRET operation): return there only with a canonical lower-half RIP (bits
    // 63:47 clear), else end the program as killed by #GP at that address.
    " push rcx",
    " shr rcx, 47",
    " pop rcx",
    " jnz 3f",
    " pop rsp",
    " swapgs",
    " sysretq",
    "3:",
    " mov rsp, gs:[{ret_rsp}]",
    " mov rdi, rcx",
    " call {refused}",
    " xor eax, eax",
    " jmp user_killed",
    "2:",
    " mov rax, rdi",
    ".global user_killed",
    "user_killed:",
    " popfq",
    " pop r15", " pop r14", " pop r13", " pop r12", " pop rbp", " pop rbx",
    " ret",
    call_rip = const core::mem::offset_of!(UserCall, rip),
    call_rsp = const core::mem::offset_of!(UserCall, rsp),
    call_rflags = const core::mem::offset_of!(UserCall, rflags),
    call_args = const core::mem::offset_of!(UserCall, args),
    ret_rsp = sym USER_RETURN_RSP,
    scratch = sym USER_SCRATCH_RSP,
    rsp0_addr = sym TSS_RSP0_ADDR,
    user_ds = const USER_DS as u64,
    user_cs = const USER_CS as u64,
    sys_exit = const SYS_EXIT,
    dispatch = sym syscall_dispatch,
    refused = sym sysret_refused,
);

/// SYSRETQ would have faulted in ring 0 (non-canonical return RIP): the program ends as if
/// killed by #GP at that RIP (runs on the kernel stack, GS = kernel).
extern "C" fn sysret_refused(rip: u64) {
    // SAFETY: the closure only stores.
    unsafe { KILL_INFO.with(|k| *k = [super::idt::VEC_GENERAL_PROTECTION as u64, rip, 0]) };
}

/// The system calls other than SYS_EXIT (interrupts off, on the kernel stack, GS = kernel).
extern "C" fn syscall_dispatch(nr: u64, _arg: u64) -> u64 {
    match nr {
        SYS_NULL => 0,
        _ => ENOSYS,
    }
}
