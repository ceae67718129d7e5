//! The ring-3 programs, in assembly: position-independent code assembled into the kernel's
//! read-only data and copied to the user text page (`uspace::CODE`), so the kernel never maps
//! its own text user-accessible. Each program takes its arguments in RDI, RSI, RDX, R10 and
//! ends at the exit trap (`uprog_exit`) with its result in RDI.
//!
//! Timing inside the programs mirrors `bench::time`: start = fence, RDTSC, fence; stop =
//! RDTSCP, fence (or fence, RDTSC, fence without RDTSCP). The fence is LFENCE, or MFENCE when
//! flag bit 0 is set (AMD without DE_CFG[1]); flag bit 1 says RDTSCP exists. RDTSC is allowed
//! in ring 3 (CR4.TSD stays clear).

use core::arch::global_asm;

use crate::arch::user::SYS_NULL;

/// Flag bits of the timing programs (R10).
pub const FLAG_MFENCE: u64 = 1 << 0;
pub const FLAG_RDTSCP: u64 = 1 << 1;
/// `pf_loop`: read instead of write.
pub const FLAG_READ: u64 = 1 << 2;
/// `pf_loop`: the pages between two accesses, in flag bits 8..20 (0 reads as 1).
const STRIDE_SHIFT: u64 = 8;

/// The `pf_loop` flags of a stride of `pages` pages between accesses (1 to 4095).
pub fn stride_flags(pages: u64) -> u64 {
    assert!((1..4096).contains(&pages), "pf_loop stride {pages}");
    pages << STRIDE_SHIFT
}

/// The value `pf_loop` writes into page i is `PF_MAGIC + i` (as the kernel variant).
pub const PF_MAGIC: u64 = 0x5eed_0000_0000_0000;

/// The timing flags for this machine.
pub fn timing_flags() -> u64 {
    let mut f = 0;
    if crate::arch::tsc::fence() == crate::arch::tsc::Fence::Mfence {
        f |= FLAG_MFENCE;
    }
    if crate::arch::tsc::has_rdtscp() {
        f |= FLAG_RDTSCP;
    }
    f
}

global_asm!(
    ".pushsection .rodata.user_programs, \"a\"",
    ".balign 4096",
    ".global uprog_start",
    "uprog_start:",
    // TSTART: RBP = TSC. Flags in RBX. Clobbers RAX, RDX.
    ".macro TSTART",
    " test bl, 1",
    " jz 72f",
    " mfence", " rdtsc", " mfence",
    " jmp 73f",
    "72:",
    " lfence", " rdtsc", " lfence",
    "73:",
    " shl rdx, 32", " or rax, rdx", " mov rbp, rax",
    ".endm",
    // TSTOP: RAX = TSC - RBP. Clobbers RCX, RDX.
    ".macro TSTOP",
    " test bl, 2",
    " jz 74f",
    " rdtscp",
    " test bl, 1",
    " jz 75f",
    " mfence",
    " jmp 77f",
    "75:",
    " lfence",
    " jmp 77f",
    "74:",
    " test bl, 1",
    " jz 76f",
    " mfence", " rdtsc", " mfence",
    " jmp 77f",
    "76:",
    " lfence", " rdtsc", " lfence",
    "77:",
    " shl rdx, 32", " or rax, rdx", " sub rax, rbp",
    ".endm",
    "",
    // check(value): exit with (value << 8) | CPL.
    ".global uprog_check",
    "uprog_check:",
    " mov eax, cs",
    " and eax, 3",
    " shl rdi, 8",
    " or rdi, rax",
    " jmp uprog_exit",
    "",
    // syscall_check(value): SYS_NULL must return 0 (else +0x10000), an unknown number ENOSYS
    // (else +0x20000), and RDI, RSI, RDX, R8, R9, R10 must survive both (else +0x40000); then
    // syscall(SYS_EXIT, value + those bits).
    ".global uprog_syscall_check",
    "uprog_syscall_check:",
    " mov r12, rdi",
    " xor r13d, r13d",
    " mov rsi, 0x5151",
    " mov rdx, 0xd1d1",
    " mov r8, 0x0808",
    " mov r9, 0x0909",
    " mov r10, 0x1010",
    " mov eax, {sys_null}",
    " syscall",
    " test rax, rax",
    " jz 24f",
    " or r13, 0x10000",
    "24:",
    " mov eax, 0x7777",
    " syscall",
    " cmp rax, -1",
    " je 25f",
    " or r13, 0x20000",
    "25:",
    " cmp rdi, r12", " jne 26f",
    " cmp rsi, 0x5151", " jne 26f",
    " cmp rdx, 0xd1d1", " jne 26f",
    " cmp r8, 0x0808", " jne 26f",
    " cmp r9, 0x0909", " jne 26f",
    " cmp r10, 0x1010", " jne 26f",
    " jmp 27f",
    "26:",
    " or r13, 0x40000",
    "27:",
    " lea rdi, [r12 + r13]",
    " mov eax, {sys_exit}",
    " syscall",
    " ud2",
    "",
    // touch(addr, mode): mode 0 read, 1 write, 2 jump there, 3 CLI; then exit(0).
    ".global uprog_touch",
    "uprog_touch:",
    " cmp rsi, 1",
    " je 32f",
    " cmp rsi, 2",
    " je 33f",
    " cmp rsi, 3",
    " je 34f",
    " mov rax, [rdi]",
    " jmp 35f",
    "32:",
    " mov qword ptr [rdi], rsi",
    " jmp 35f",
    "33:",
    " jmp rdi",
    "34:",
    " cli",
    "35:",
    " xor edi, edi",
    " jmp uprog_exit",
    "",
    // pf_loop(first_page, count, out, flags): touch `count` pages `stride` pages apart
    // (flags bits 8..20, 0 meaning 1), each access timed on its own into out[i] (the kernel
    // logs each fault's handler time itself). exit(count).
    ".global uprog_pf_loop",
    "uprog_pf_loop:",
    " mov r13, rdi",
    " mov r15, rsi",
    " mov r14, rdx",
    " mov rbx, r10",
    // R10 = the stride in bytes (RBP belongs to TSTART/TSTOP).
    " shr r10, 8",
    " and r10d, 0xfff",
    " jnz 41f",
    " mov r10d, 1",
    "41:",
    " shl r10, 12",
    " xor r12d, r12d",
    " movabs r9, {magic}",
    "42:",
    " cmp r12, r15",
    " jae 49f",
    " lea r8, [r9 + r12]",
    " TSTART",
    " test bl, 4",
    " jnz 43f",
    " mov [r13], r8",
    " jmp 44f",
    "43:",
    " mov r8, [r13]",
    "44:",
    " TSTOP",
    " mov [r14], rax",
    " add r13, r10",
    " add r14, 8",
    " inc r12",
    " jmp 42b",
    "49:",
    " mov rdi, r12",
    " jmp uprog_exit",
    "",
    // syscall_loop(out, count, flags): out[i] = cycles of one SYS_NULL round trip. exit(count).
    ".global uprog_syscall_loop",
    "uprog_syscall_loop:",
    " mov r14, rdi",
    " mov r15, rsi",
    " mov rbx, rdx",
    " xor r12d, r12d",
    "52:",
    " cmp r12, r15",
    " jae 59f",
    " TSTART",
    " mov eax, {sys_null}",
    " syscall",
    " TSTOP",
    " mov [r14 + r12 * 8], rax",
    " inc r12",
    " jmp 52b",
    "59:",
    " mov rdi, r12",
    " jmp uprog_exit",
    "",
    // fault_loop(out, count, flags, probe): out[i] = cycles of one #PF from ring 3 at the
    // never-mapped probe address, which the kernel resumes after (uprog_probe_resume).
    ".global uprog_fault_loop",
    "uprog_fault_loop:",
    " mov r14, rdi",
    " mov r15, rsi",
    " mov rbx, rdx",
    " mov r13, r10",
    " xor r12d, r12d",
    "62:",
    " cmp r12, r15",
    " jae 69f",
    " TSTART",
    ".global uprog_probe_insn",
    "uprog_probe_insn:",
    " mov rax, [r13]",
    ".global uprog_probe_resume",
    "uprog_probe_resume:",
    " TSTOP",
    " mov [r14 + r12 * 8], rax",
    " inc r12",
    " jmp 62b",
    "69:",
    " mov rdi, r12",
    " jmp uprog_exit",
    "",
    // reader(region, shared, checked): the shootdown target in ring 3. Until shared.stop:
    // read shared.read_pages pages of the region, shared.read_stride bytes apart; count each
    // value below shared.gen in shared.recycled if it is the poison (0), else in
    // shared.stale and store the TSC in this CPU's shared.stale_tsc; write the generation at
    // shared.write_offset of the page when that is non-zero (the writer variant), then store
    // the generation the pass expected at *checked. A PAUSE after every shared.pause_mask + 1
    // reads, counted in r14 (`uspace::reads_per_pause`): bounded work between PAUSEs (in
    // QEMU's round robin each PAUSE hands the host thread on); with shared.deterministic the
    // count restarts with each pass and the pass ends with a PAUSE too.
    ".global uprog_reader",
    "uprog_reader:",
    " xor r14d, r14d",
    "82:",
    " mov rax, [rsi + {off_stop}]",
    " test rax, rax",
    " jnz 89f",
    " mov rbx, [rsi + {off_det}]",
    " test rbx, rbx",
    " jz 88f",
    " xor r14d, r14d",
    "88:",
    " mov r8, [rsi + {off_gen}]",
    " mov r9, [rsi + {off_pages}]",
    " mov r11, [rsi + {off_write}]",
    " mov r12, [rsi + {off_stride}]",
    " mov r15, [rsi + {off_pause_mask}]",
    " xor ecx, ecx",
    " mov r10, rdi",
    "83:",
    " cmp rcx, r9",
    " jae 85f",
    " mov rax, [r10]",
    " cmp rax, r8",
    " jae 84f",
    " test rax, rax",
    " jnz 87f",
    " lock inc qword ptr [rsi + {off_recycled}]",
    " jmp 84f",
    "87:",
    " lock inc qword ptr [rsi + {off_stale}]",
    " mov r13, rdx",
    " rdtsc",
    " shl rdx, 32",
    " or rax, rdx",
    " mov rdx, r13",
    " mov [rdx + {stale_delta}], rax",
    "84:",
    " test r11, r11",
    " jz 86f",
    " mov [r10 + r11], r8",
    "86:",
    " add r10, r12",
    " inc rcx",
    " inc r14",
    " test r14, r15",
    " jnz 83b",
    " pause",
    " jmp 83b",
    "85:",
    " mov [rdx], r8",
    " test rbx, rbx",
    " jz 82b",
    " pause",
    " jmp 82b",
    "89:",
    " xor edi, edi",
    " jmp uprog_exit",
    // gaps(out, max, shared, threshold): the interrupted target's own view. Until
    // shared.stop: read the TSC back to back; a step longer than `threshold` ticks (the
    // program was interrupted, or the emulator paused it) goes into out as the pair (TSC at
    // its end, its length), at most `max` pairs. exit(pairs). A PAUSE in every step when
    // shared.deterministic is set (the deterministic mode: in QEMU's round robin a step then
    // holds at most one round of the other vCPUs' loops, not a time slice).
    ".global uprog_gaps",
    "uprog_gaps:",
    " mov r14, rdi",
    " mov r15, rsi",
    " mov r13, rdx",
    " mov r12, r10",
    " mov r11, [r13 + {off_det}]",
    " xor ebx, ebx",
    " rdtsc",
    " shl rdx, 32",
    " or rax, rdx",
    " mov r9, rax",
    "92:",
    " mov rax, [r13 + {off_stop}]",
    " test rax, rax",
    " jnz 99f",
    " rdtsc",
    " shl rdx, 32",
    " or rax, rdx",
    " mov r8, rax",
    " sub rax, r9",
    " mov r9, r8",
    " test r11, r11",
    " jz 93f",
    " pause",
    "93:",
    " cmp rax, r12",
    " jbe 92b",
    " cmp rbx, r15",
    " jae 92b",
    " mov rcx, rbx",
    " shl rcx, 4",
    " mov [r14 + rcx], r8",
    " mov [r14 + rcx + 8], rax",
    " inc rbx",
    " jmp 92b",
    "99:",
    " mov rdi, rbx",
    " jmp uprog_exit",
    // The exit trap: every program ends here with its result in RDI. The kernel recognises a
    // #UD from ring 3 at this address as the program's end (no system call needed, so the
    // harness also runs where SYSCALL is not virtualised; system calls proper use SYSCALL).
    ".global uprog_exit",
    "uprog_exit:",
    " ud2",
    ".global uprog_end",
    "uprog_end:",
    ".purgem TSTART",
    ".purgem TSTOP",
    ".popsection",
    sys_null = const SYS_NULL,
    sys_exit = const crate::arch::user::SYS_EXIT,
    magic = const PF_MAGIC,
    off_stop = const core::mem::offset_of!(super::Shared, stop),
    off_gen = const core::mem::offset_of!(super::Shared, generation),
    off_pages = const core::mem::offset_of!(super::Shared, read_pages),
    off_stale = const core::mem::offset_of!(super::Shared, stale_reads),
    off_write = const core::mem::offset_of!(super::Shared, write_offset),
    off_stride = const core::mem::offset_of!(super::Shared, read_stride),
    off_recycled = const core::mem::offset_of!(super::Shared, recycled_reads),
    stale_delta = const core::mem::offset_of!(super::Shared, stale_tsc)
        - core::mem::offset_of!(super::Shared, checked),
    off_pause_mask = const core::mem::offset_of!(super::Shared, pause_mask),
    off_det = const core::mem::offset_of!(super::Shared, deterministic),
);

unsafe extern "C" {
    static uprog_start: u8;
    static uprog_end: u8;
    static uprog_check: u8;
    static uprog_syscall_check: u8;
    static uprog_touch: u8;
    static uprog_pf_loop: u8;
    static uprog_syscall_loop: u8;
    static uprog_fault_loop: u8;
    static uprog_probe_insn: u8;
    static uprog_probe_resume: u8;
    static uprog_reader: u8;
    static uprog_gaps: u8;
    static uprog_exit: u8;
}

/// A program (its entry's offset in the blob).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Check,
    SyscallCheck,
    Touch,
    PfLoop,
    SyscallLoop,
    FaultLoop,
    Reader,
    Gaps,
}

fn start() -> u64 {
    &raw const uprog_start as u64
}

/// The programs' machine code.
pub fn blob() -> &'static [u8] {
    let len = &raw const uprog_end as u64 - start();
    // SAFETY: [uprog_start, uprog_end) is the assembled block above, in read-only data.
    unsafe { core::slice::from_raw_parts(start() as *const u8, len as usize) }
}

/// Offset of a program's entry in the blob.
pub fn entry(p: Program) -> u64 {
    let sym = match p {
        Program::Check => &raw const uprog_check,
        Program::SyscallCheck => &raw const uprog_syscall_check,
        Program::Touch => &raw const uprog_touch,
        Program::PfLoop => &raw const uprog_pf_loop,
        Program::SyscallLoop => &raw const uprog_syscall_loop,
        Program::FaultLoop => &raw const uprog_fault_loop,
        Program::Reader => &raw const uprog_reader,
        Program::Gaps => &raw const uprog_gaps,
    };
    sym as u64 - start()
}

/// Offset of the exit trap.
pub fn exit_trap() -> u64 {
    &raw const uprog_exit as u64 - start()
}

/// Offsets of the fault probe's instruction and of where it resumes.
pub fn probe() -> (u64, u64) {
    (
        &raw const uprog_probe_insn as u64 - start(),
        &raw const uprog_probe_resume as u64 - start(),
    )
}
