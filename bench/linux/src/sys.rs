//! The few Linux system calls and instructions the program needs, without a libc binding:
//! raw `syscall` with the x86-64 numbers (arch/x86/entry/syscalls/syscall_64.tbl).

use core::arch::asm;

pub const SYS_MMAP: usize = 9;
pub const SYS_MPROTECT: usize = 10;
pub const SYS_MUNMAP: usize = 11;
pub const SYS_MADVISE: usize = 28;
pub const SYS_GETPPID: usize = 110;
pub const SYS_MOUNT: usize = 165;
pub const SYS_REBOOT: usize = 169;
pub const SYS_IOPL: usize = 172;
pub const SYS_SCHED_SETAFFINITY: usize = 203;
pub const SYS_MEMBARRIER: usize = 324;
pub const SYS_IOCTL: usize = 16;
/// TCSBRK with a non-zero argument: wait until the terminal's output has been sent (tcdrain).
const TCSBRK: usize = 0x5409;

pub const PROT_READ: usize = 1;
pub const PROT_WRITE: usize = 2;
const MAP_PRIVATE: usize = 0x02;
const MAP_SHARED: usize = 0x01;
const MAP_ANONYMOUS: usize = 0x20;
const MAP_NORESERVE: usize = 0x4000;
pub const MADV_DONTNEED: usize = 4;
pub const MADV_NOHUGEPAGE: usize = 15;
pub const MEMBARRIER_CMD_PRIVATE_EXPEDITED: usize = 1 << 3;
pub const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: usize = 1 << 4;
const LINUX_REBOOT_MAGIC1: usize = 0xfee1_dead;
const LINUX_REBOOT_MAGIC2: usize = 672_274_793;
const LINUX_REBOOT_CMD_POWER_OFF: usize = 0x4321_fedc;

/// # Safety
/// The call's arguments must be valid for system call `n`.
pub unsafe fn syscall(n: usize, a: [usize; 6]) -> isize {
    let r: isize;
    // SAFETY: see the function's contract; the kernel clobbers RCX and R11 only.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => r, in("rdi") a[0], in("rsi") a[1],
             in("rdx") a[2], in("r10") a[3], in("r8") a[4], in("r9") a[5],
             lateout("rcx") _, lateout("r11") _, options(nostack))
    };
    r
}

#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is allowed in user mode (CR4.TSD clear under Linux).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The kernel's timed-region start: LFENCE, RDTSC, LFENCE.
#[inline(always)]
pub fn start() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: fences and RDTSC only.
    unsafe {
        asm!("lfence", "rdtsc", "lfence", out("eax") lo, out("edx") hi, options(nostack, preserves_flags))
    };
    (hi as u64) << 32 | lo as u64
}

/// The kernel's timed-region end: RDTSCP, LFENCE.
#[inline(always)]
pub fn stop() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSCP (writes ECX) and a fence.
    unsafe {
        asm!("rdtscp", "lfence", out("eax") lo, out("edx") hi, out("ecx") _, options(nostack, preserves_flags))
    };
    (hi as u64) << 32 | lo as u64
}

/// Pin the calling thread to `cpu`.
pub fn pin(cpu: usize) -> bool {
    let mut mask = [0u64; 16];
    mask[cpu / 64] |= 1 << (cpu % 64);
    // SAFETY: pid 0 = this thread; the mask is 1024 bits.
    unsafe {
        syscall(
            SYS_SCHED_SETAFFINITY,
            [0, 128, mask.as_ptr() as usize, 0, 0, 0],
        ) == 0
    }
}

/// Fresh anonymous memory (`shared`: MAP_SHARED, for threads of one process either works).
pub fn map_anon(len: usize, shared: bool) -> *mut u8 {
    let flags = MAP_ANONYMOUS | MAP_NORESERVE | if shared { MAP_SHARED } else { MAP_PRIVATE };
    // SAFETY: an anonymous mapping; the kernel picks the address.
    let r = unsafe {
        syscall(
            SYS_MMAP,
            [0, len, PROT_READ | PROT_WRITE, flags, usize::MAX, 0],
        )
    };
    assert!(!(-4096..=0).contains(&r), "mmap failed: {r}");
    r as *mut u8
}

pub fn unmap(p: *mut u8, len: usize) {
    // SAFETY: a mapping `map_anon` made, no longer used.
    unsafe { syscall(SYS_MUNMAP, [p as usize, len, 0, 0, 0, 0]) };
}

pub fn madvise(p: *mut u8, len: usize, advice: usize) -> isize {
    // SAFETY: advice on our own mapping.
    unsafe { syscall(SYS_MADVISE, [p as usize, len, advice, 0, 0, 0]) }
}

pub fn mprotect(p: *mut u8, len: usize, prot: usize) -> isize {
    // SAFETY: our own mapping; readers only read it.
    unsafe { syscall(SYS_MPROTECT, [p as usize, len, prot, 0, 0, 0]) }
}

pub fn getppid() -> isize {
    // SAFETY: no arguments.
    unsafe { syscall(SYS_GETPPID, [0; 6]) }
}

pub fn membarrier(cmd: usize) -> isize {
    // SAFETY: flags 0, cpu_id 0.
    unsafe { syscall(SYS_MEMBARRIER, [cmd, 0, 0, 0, 0, 0]) }
}

/// Mount /proc (PID 1 starts with an empty root).
pub fn mount_proc() {
    let _ = std::fs::create_dir_all("/proc");
    // SAFETY: NUL-terminated strings that live across the call.
    unsafe {
        syscall(
            SYS_MOUNT,
            [
                c"proc".as_ptr() as usize,
                c"/proc".as_ptr() as usize,
                c"proc".as_ptr() as usize,
                0,
                0,
                0,
            ],
        )
    };
}

fn cpuid(leaf: u32) -> (u32, u32, u32, u32) {
    // SAFETY: CPUID is always available in 64-bit mode.
    let r = core::arch::x86_64::__cpuid(leaf);
    (r.eax, r.ebx, r.ecx, r.edx)
}

fn text(words: &[u32]) -> String {
    let b: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    String::from_utf8_lossy(&b)
        .trim_end_matches('\0')
        .to_string()
}

pub fn cpu_vendor() -> String {
    let (_, b, c, d) = cpuid(0);
    text(&[b, d, c])
}

pub fn hypervisor() -> String {
    if cpuid(1).2 & (1 << 31) == 0 {
        return "bare metal".into();
    }
    let (_, b, c, d) = cpuid(0x4000_0000);
    text(&[b, c, d])
}

pub fn invariant_tsc() -> bool {
    cpuid(0x8000_0000).0 >= 0x8000_0007 && cpuid(0x8000_0007).3 & (1 << 8) != 0
}

/// End the VM: QEMU's exit device with `code` (as the kernel does), else power off.
pub fn finish(code: u8) -> ! {
    // The last records must leave the serial port before the VM ends: Linux sends console
    // output asynchronously, so flush and wait for the line to drain (tcdrain).
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: ioctl on our own stdout; TCSBRK with 1 only waits.
    unsafe { syscall(SYS_IOCTL, [1, TCSBRK, 1, 0, 0, 0]) };
    std::thread::sleep(std::time::Duration::from_millis(100));
    // SAFETY: iopl(3) lets PID 1 (root) reach the exit device's port; OUT to it ends QEMU.
    unsafe {
        if syscall(SYS_IOPL, [3, 0, 0, 0, 0, 0]) == 0 {
            asm!("out dx, al", in("dx") kernel_core::qemu_exit::PORT, in("al") code, options(nomem, nostack));
        }
        syscall(
            SYS_REBOOT,
            [
                LINUX_REBOOT_MAGIC1,
                LINUX_REBOOT_MAGIC2,
                LINUX_REBOOT_CMD_POWER_OFF,
                0,
                0,
                0,
            ],
        );
    }
    loop {
        std::thread::park();
    }
}
