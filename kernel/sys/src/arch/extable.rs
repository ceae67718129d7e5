//! Memory probes that survive a fault, through an exception table (as Linux's `_ASM_EXTABLE`).
//!
//! A probe is a tiny assembly routine whose one faulting instruction is listed in the
//! `.extable` section with the address to resume at. When #PF or #GP hits a listed
//! instruction, the handler returns `1 + vector` in RAX and the error code in RDX and resumes
//! there, so the probe returns an error instead of crashing. The self-tests use this to prove
//! that a page is unmapped, read-only or not executable, and the backtrace walker uses it to
//! follow frame pointers without risking a second fault.

use core::arch::naked_asm;

use super::idt::{ExceptionFrame, PF_INSTRUCTION, VEC_GENERAL_PROTECTION, VEC_PAGE_FAULT};

/// One `.extable` entry: the instruction that may fault and where to resume.
#[repr(C)]
struct Entry {
    insn: u64,
    fixup: u64,
}

unsafe extern "C" {
    static __extable_start: Entry;
    static __extable_end: Entry;
    static __probe_exec_ret: u8;
}

/// A fault caught by a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u8,
    pub error_code: u64,
    /// CR2 for a page fault, 0 otherwise.
    pub addr: u64,
}

#[repr(C)]
struct ProbeRet {
    status: u64,
    error_code: u64,
}

impl ProbeRet {
    fn into_result(self) -> Result<(), Fault> {
        if self.status == 0 {
            return Ok(());
        }
        let vector = (self.status - 1) as u8;
        let addr = if vector == VEC_PAGE_FAULT {
            super::read_cr2()
        } else {
            0
        };
        Err(Fault {
            vector,
            error_code: self.error_code,
            addr,
        })
    }
}

fn entries() -> &'static [Entry] {
    // SAFETY: the linker script brackets `.extable` with these symbols; it holds only
    // 16-byte entries emitted by the probes below.
    unsafe {
        let start = &raw const __extable_start;
        let end = &raw const __extable_end;
        core::slice::from_raw_parts(start, (end as usize - start as usize) / size_of::<Entry>())
    }
}

/// Called for every exception before it is treated as fatal: true when the faulting
/// instruction belongs to a probe and the frame now resumes at its fixup.
pub fn try_fixup(f: &mut ExceptionFrame) -> bool {
    let vector = f.vector as u8;
    if vector != VEC_PAGE_FAULT && vector != VEC_GENERAL_PROTECTION {
        return false;
    }
    if let Some(e) = entries().iter().find(|e| e.insn == f.rip) {
        f.rip = e.fixup;
        f.rax = 1 + f.vector;
        f.rdx = f.error_code;
        return true;
    }
    // An instruction fetch from a non-executable page, reached by `probe_exec`'s CALL: the
    // return address on the stack identifies the probe.
    let ret = &raw const __probe_exec_ret as u64;
    if vector == VEC_PAGE_FAULT && f.error_code & PF_INSTRUCTION != 0 && f.rip == super::read_cr2()
    {
        // SAFETY: RSP is the kernel stack that CALL just pushed to (the fetch faulted after
        // the push), so the top word is readable.
        let top = unsafe { (f.rsp as *const u64).read() };
        if top == ret {
            f.rip = ret;
            f.rsp += 8;
            f.rax = 1 + f.vector;
            f.rdx = f.error_code;
            return true;
        }
    }
    false
}

#[unsafe(naked)]
extern "C" fn raw_read_u64(addr: u64, out: *mut u64) -> ProbeRet {
    naked_asm!(
        "xor eax, eax",
        "xor edx, edx",
        "1: mov rcx, [rdi]",
        "mov [rsi], rcx",
        "2: ret",
        ".pushsection .extable, \"a\"",
        ".balign 8",
        ".quad 1b, 2b",
        ".popsection",
    )
}

#[unsafe(naked)]
extern "C" fn raw_write_u8(addr: u64, val: u8) -> ProbeRet {
    naked_asm!(
        "xor eax, eax",
        "xor edx, edx",
        "1: mov [rdi], sil",
        "2: ret",
        ".pushsection .extable, \"a\"",
        ".balign 8",
        ".quad 1b, 2b",
        ".popsection",
    )
}

#[unsafe(naked)]
extern "C" fn raw_exec(addr: u64) -> ProbeRet {
    naked_asm!(
        "xor eax, eax",
        "xor edx, edx",
        "call rdi",
        ".global __probe_exec_ret",
        "__probe_exec_ret:",
        "ret",
    )
}

/// Read 8 bytes at `addr`, or report the fault.
pub fn read_u64(addr: u64) -> Result<u64, Fault> {
    let mut v = 0;
    raw_read_u64(addr, &mut v).into_result().map(|()| v)
}

/// Write one byte at `addr`, or report the fault.
///
/// # Safety
/// If the write succeeds it changes memory: `addr` must be memory the caller may write.
pub unsafe fn write_u8(addr: u64, val: u8) -> Result<(), Fault> {
    raw_write_u8(addr, val).into_result()
}

/// Call `addr`, which must hold a `ret` instruction, or report the fault (for instance an
/// instruction fetch from a no-execute page).
///
/// # Safety
/// If the fetch succeeds the code at `addr` runs: it must be a lone `ret`.
pub unsafe fn exec(addr: u64) -> Result<(), Fault> {
    raw_exec(addr).into_result()
}

#[unsafe(naked)]
extern "C" fn raw_rdmsr(msr: u32, out: *mut u64) -> ProbeRet {
    naked_asm!(
        "mov ecx, edi",
        "xor eax, eax",
        "xor edx, edx",
        "1: rdmsr",
        "shl rdx, 32",
        "or rax, rdx",
        "mov [rsi], rax",
        "xor eax, eax",
        "xor edx, edx",
        "2: ret",
        ".pushsection .extable, \"a\"",
        ".balign 8",
        ".quad 1b, 2b",
        ".popsection",
    )
}

#[unsafe(naked)]
extern "C" fn raw_wrmsr(msr: u32, val: u64) -> ProbeRet {
    naked_asm!(
        "mov ecx, edi",
        "mov rax, rsi",
        "mov rdx, rsi",
        "shr rdx, 32",
        "1: wrmsr",
        "xor eax, eax",
        "xor edx, edx",
        "2: ret",
        ".pushsection .extable, \"a\"",
        ".balign 8",
        ".quad 1b, 2b",
        ".popsection",
    )
}

/// Read an MSR that may not exist (a #GP is reported, not fatal).
pub fn rdmsr(msr: u32) -> Result<u64, Fault> {
    let mut v = 0;
    raw_rdmsr(msr, &mut v).into_result().map(|()| v)
}

/// Write an MSR that may not exist or may refuse the value (#GP reported).
///
/// # Safety
/// As `cpu::wrmsr`: if the write succeeds it changes how the CPU behaves.
pub unsafe fn wrmsr(msr: u32, val: u64) -> Result<(), Fault> {
    raw_wrmsr(msr, val).into_result()
}
