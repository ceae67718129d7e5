//! In-kernel self-tests, selected with `test=`. Each checks one property of the running
//! machine and prints a `test` record; the run exits with pass only if every selected test
//! passed.

#![allow(clippy::result_large_err, clippy::large_enum_variant)]

use core::fmt::Write;

use kernel_core::bootinfo::RegionKind;
use kernel_core::cmdline::TestSelection;
use kernel_core::fmtbuf::FmtBuf;
use kernel_core::paging::{CacheMode, Mapper};

use crate::BOOT_INFO;
use sys::arch::extable::{self, Fault};
use sys::arch::idt::{PF_INSTRUCTION, PF_PRESENT, PF_WRITE, VEC_PAGE_FAULT};
use sys::arch::{self, cpu};
use sys::cpu::{local as cpu_local, smp};
use sys::mm::{self, FRAMES, KERNEL_PML4, KernelPhysMem, PAGE_SIZE, layout};
use sys::{println, record};

type Msg = FmtBuf<240>;
/// A test's message is a fixed-size buffer (no heap); tests run once, so the large `Err` of
/// `TestResult` costs nothing that matters.
type TestFn = fn() -> TestResult;
type TestResult = Result<(), Failure>;

/// Why a test did not pass: it failed, or the machine lacks what it checks (a `skip` record
/// with the reason; the runner accepts skips only where the hypervisor is known to lack it).
enum Failure {
    Failed(Msg),
    Skipped(&'static str),
}

impl From<Msg> for Failure {
    fn from(m: Msg) -> Self {
        Failure::Failed(m)
    }
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            let mut m = Msg::new();
            let _ = write!(m, $($arg)*);
            return Err(m.into());
        }
    };
}

/// Every self-test, by the name `test=` uses (kernel_core::cmdline::SELFTESTS lists the same
/// names; `registry_matches_cmdline` checks they agree).
const TESTS: &[(&str, TestFn)] = &[
    ("higher_half", higher_half),
    ("identity_gone", identity_gone),
    ("text_readonly", text_readonly),
    ("rodata_nx", rodata_nx),
    ("direct_map_last_frame", direct_map_last_frame),
    ("alloc_unique", alloc_unique),
    ("mmio_uncached", mmio_uncached),
    ("smp_all_online", smp_all_online),
    ("percpu_isolation", percpu_isolation),
    ("ap_self_checks", ap_self_checks),
    ("user_mode", user_mode),
    ("syscall", syscall),
    ("smap_smep", smap_smep),
    ("tsc_calibration", tsc_calibration),
];

pub fn run(sel: &TestSelection) -> bool {
    registry_matches_cmdline();
    let mut failed = 0;
    let mut ran = 0;
    for name in sel.iter() {
        let (_, test) = TESTS
            .iter()
            .find(|(n, _)| *n == name)
            .expect("checked by registry_matches_cmdline");
        ran += 1;
        match test() {
            Ok(()) => {
                println!("selftest: {name}: pass");
                record!("test", |r| r.str("name", name).str("status", "pass"));
            }
            Err(Failure::Skipped(why)) => {
                println!("selftest: {name}: skipped: {why}");
                record!("test", |r| r
                    .str("name", name)
                    .str("status", "skip")
                    .str("message", why));
            }
            Err(Failure::Failed(msg)) => {
                failed += 1;
                println!("selftest: {name}: FAIL: {}", msg.as_str());
                record!("test", |r| r
                    .str("name", name)
                    .str("status", "fail")
                    .str("message", msg.as_str()));
            }
        }
    }
    println!(
        "selftest: {} run, {} passed, {} failed",
        ran,
        ran - failed,
        failed
    );
    failed == 0
}

fn registry_matches_cmdline() {
    for name in kernel_core::cmdline::SELFTESTS {
        assert!(
            TESTS.iter().any(|(n, _)| n == name),
            "self-test '{name}' is selectable but not registered"
        );
    }
    for (name, _) in TESTS {
        assert!(
            kernel_core::cmdline::SELFTESTS.contains(name),
            "self-test '{name}' is not selectable"
        );
    }
}

/// The kernel runs at its higher-half link address, on its higher-half stack, on its own PML4.
fn higher_half() -> TestResult {
    let rip = higher_half as *const () as usize as u64;
    ensure!(
        rip >= layout::KERNEL_VIRT_OFFSET,
        "code runs at {rip:#x}, below the kernel base"
    );
    let (lo, hi) = layout::boot_stack();
    let rsp = arch::stack_pointer();
    ensure!(
        (lo..hi).contains(&rsp),
        "stack pointer {rsp:#x} outside the boot stack [{lo:#x}, {hi:#x})"
    );
    let cr3 = arch::read_cr3() & !0xfff;
    ensure!(
        cr3 == KERNEL_PML4.load(core::sync::atomic::Ordering::Relaxed),
        "CR3 {cr3:#x} is not the kernel PML4"
    );
    Ok(())
}

fn expect_fault(
    what: &str,
    addr: u64,
    r: Result<(), Fault>,
    want_set: u64,
    want_clear: u64,
) -> TestResult {
    let Err(f) = r else {
        let mut m = Msg::new();
        let _ = write!(m, "{what} at {addr:#x} did not fault");
        return Err(m.into());
    };
    ensure!(
        f.vector == VEC_PAGE_FAULT,
        "{what} at {addr:#x}: vector {} instead of #PF",
        f.vector
    );
    ensure!(
        f.addr == addr,
        "{what}: CR2 {:#x}, expected {addr:#x}",
        f.addr
    );
    ensure!(
        f.error_code & want_set == want_set && f.error_code & want_clear == 0,
        "{what} at {addr:#x}: error code {:#x}",
        f.error_code
    );
    Ok(())
}

/// After boot the lower half maps nothing: every lower-half PML4 slot is empty, and reads of
/// addresses the prekernel identity map covered fault as not-present.
fn identity_gone() -> TestResult {
    let pml4 = mm::phys_to_virt(arch::read_cr3() & !0xfff) as *const u64;
    for slot in 0..layout::KERNEL_HALF_FIRST_PML4_SLOT {
        // SAFETY: the PML4 is one 4 KiB frame reached through the direct map.
        let e = unsafe { pml4.add(slot).read_volatile() };
        ensure!(e == 0, "lower-half PML4 slot {slot} is {e:#x}");
    }
    let (kernel_phys, _) = layout::kernel_phys_range();
    for addr in [
        0x1000,
        0x8000,
        0xb8000,
        kernel_phys,
        0x4000_0000,
        0xffff_f000,
        0x7fff_ffff_f000,
    ] {
        expect_fault(
            "read",
            addr,
            extable::read_u64(addr).map(|_| ()),
            0,
            PF_PRESENT,
        )?;
    }
    Ok(())
}

/// Kernel text and rodata are read-only even for the kernel (CR0.WP).
fn text_readonly() -> TestResult {
    static RODATA_BYTE: u8 = 0x5a;
    for (what, addr) in [
        ("write to text", text_readonly as *const () as usize as u64),
        ("write to rodata", &RODATA_BYTE as *const u8 as u64),
    ] {
        // SAFETY: a kernel text or rodata byte, mapped and readable.
        let before = unsafe { (addr as *const u8).read_volatile() };
        // SAFETY: a write to these addresses must fault; if it did not, it rewrites the byte
        // with its own value (read just before), which keeps the kernel intact.
        let r = unsafe { extable::write_u8(addr, before) };
        expect_fault(what, addr, r, PF_PRESENT | PF_WRITE, 0)?;
    }
    Ok(())
}

/// Instruction fetches from rodata, data and the direct map fault (XD set on every non-text
/// kernel mapping).
fn rodata_nx() -> TestResult {
    const RET: u8 = 0xC3;
    static RODATA_RET: u8 = RET;
    static mut DATA_RET: u8 = RET;
    if !cpu::features().nx {
        return Err(Failure::Skipped(
            "the CPU has no execute-disable bit (CPUID 0x80000001 EDX bit 20)",
        ));
    }
    let data = &raw const DATA_RET as u64;
    let direct = mm::phys_to_virt(data - layout::KERNEL_VIRT_OFFSET);
    for (what, addr) in [
        ("execute rodata", &RODATA_RET as *const u8 as u64),
        ("execute data", data),
        ("execute direct map", direct),
    ] {
        // SAFETY: each address holds a lone RET; executing it (if the test fails) returns.
        let r = unsafe { extable::exec(addr) };
        expect_fault(what, addr, r, PF_PRESENT | PF_INSTRUCTION, 0)?;
    }
    Ok(())
}

/// The direct map reaches the last frame of RAM (and the first above 4 GiB, if any): write a
/// pattern through it, read it back, restore the contents.
fn direct_map_last_frame() -> TestResult {
    let info = BOOT_INFO.get().expect("boot info");
    let usable = || {
        info.memory
            .regions()
            .iter()
            .filter(|r| r.kind == RegionKind::Usable)
    };
    let last = usable().map(|r| r.end).max().unwrap_or(0) - PAGE_SIZE;
    let above_4g = usable()
        .find(|r| r.end > 1 << 32)
        .map(|r| r.start.max(1 << 32));
    for frame in core::iter::once(last).chain(above_4g) {
        let p = mm::phys_to_virt(frame) as *mut u64;
        for i in [0usize, 511] {
            // SAFETY: the frame is RAM mapped by the direct map; the test restores the word,
            // and no other CPU runs.
            unsafe {
                let slot = p.add(i);
                let old = slot.read_volatile();
                let pattern = 0xA5A5_0000_0000_0000 | frame | i as u64;
                slot.write_volatile(pattern);
                let back = slot.read_volatile();
                slot.write_volatile(old);
                ensure!(
                    back == pattern,
                    "frame {frame:#x} word {i}: wrote {pattern:#x}, read {back:#x}"
                );
            }
        }
    }
    println!(
        "selftest: direct map reached the last frame {last:#x}{}",
        if above_4g.is_some() {
            " and RAM above 4 GiB"
        } else {
            ""
        }
    );
    Ok(())
}

/// The seen map of `alloc_unique` covers 128 MiB of RAM per page: up to 128 GiB.
const SEEN_MAP_MAX_PAGES: usize = 1024;

/// Allocate every free frame: none twice, none outside usable RAM or inside the kernel; then
/// free them all and find the free count restored.
fn alloc_unique() -> TestResult {
    let info = BOOT_INFO.get().expect("boot info");
    let mut frames = FRAMES.lock();
    let a = frames.as_mut().expect("allocator");
    let free_before = a.free_frames();
    let top = info.memory.ram_top();
    // A "seen" bitmap, itself made of allocated frames.
    let seen_words = kernel_core::frame::bitmap_words(top);
    let seen_frames = (seen_words as u64 * 8).div_ceil(PAGE_SIZE);
    let first = a.alloc().expect("a first frame");
    let mut seen_pages = [first; SEEN_MAP_MAX_PAGES];
    ensure!(
        seen_frames as usize <= seen_pages.len(),
        "RAM too large for the test's seen map"
    );
    for p in seen_pages.iter_mut().take(seen_frames as usize).skip(1) {
        *p = a.alloc().expect("frames for the seen map");
    }
    let word = |i: usize| -> *mut u64 {
        let page = seen_pages[i * 8 / PAGE_SIZE as usize];
        (mm::phys_to_virt(page) + (i * 8) as u64 % PAGE_SIZE) as *mut u64
    };
    for i in 0..seen_words {
        // SAFETY: the seen pages are frames we just allocated, mapped by the direct map.
        unsafe { word(i).write(0) };
    }
    for p in &seen_pages[..seen_frames as usize] {
        let (i, bit) = ((p / PAGE_SIZE) as usize / 64, (p / PAGE_SIZE) % 64);
        // SAFETY: as above.
        unsafe { word(i).write(word(i).read() | 1 << bit) };
    }
    let is_usable = |f: u64| {
        info.memory
            .regions()
            .iter()
            .any(|r| r.kind == RegionKind::Usable && r.start <= f && f + PAGE_SIZE <= r.end)
    };
    let mut count = 0u64;
    let mut error: Option<Msg> = None;
    while let Some(f) = a.alloc() {
        count += 1;
        let (i, bit) = ((f / PAGE_SIZE) as usize / 64, (f / PAGE_SIZE) % 64);
        // SAFETY: i < seen_words because every frame lies below ram_top.
        let w = unsafe { word(i).read() };
        if error.is_none() {
            if f < 1 << 20 || !is_usable(f) || f % PAGE_SIZE != 0 {
                let mut m = Msg::new();
                let _ = write!(m, "frame {f:#x} is not usable RAM above 1 MiB");
                error = Some(m);
            } else if w & (1 << bit) != 0 {
                let mut m = Msg::new();
                let _ = write!(m, "frame {f:#x} returned twice");
                error = Some(m);
            }
        }
        // SAFETY: as above.
        unsafe { word(i).write(w | 1 << bit) };
    }
    ensure!(
        a.free_frames() == 0,
        "alloc() returned None with {} frames free",
        a.free_frames()
    );
    // Free everything again, the seen map's own pages included (walk the seen map; freeing
    // a frame does not change its contents).
    for i in 0..seen_words {
        // SAFETY: as above.
        let mut w = unsafe { word(i).read() };
        while w != 0 {
            let bit = w.trailing_zeros() as u64;
            w &= w - 1;
            a.free((i as u64 * 64 + bit) * PAGE_SIZE);
        }
    }
    if let Some(m) = error {
        return Err(m.into());
    }
    ensure!(
        count + seen_frames == free_before,
        "allocated {count} + {seen_frames} frames, {free_before} were free"
    );
    ensure!(
        a.free_frames() == free_before,
        "free count {} after freeing all, was {free_before}",
        a.free_frames()
    );
    println!(
        "selftest: allocated and freed all {} free frames, each once",
        free_before
    );
    Ok(())
}

/// Device memory is mapped on demand, uncacheable: the local APIC's registers through the
/// direct map, with PCD|PWT, reading a plausible APIC version.
fn mmio_uncached() -> TestResult {
    /// Architectural default local APIC base (Intel SDM vol. 3A, 11.4).
    const LAPIC_DEFAULT_BASE: u64 = 0xFEE0_0000;
    let virt = mm::map_device(LAPIC_DEFAULT_BASE, PAGE_SIZE, CacheMode::Uncacheable);
    let mem = KernelPhysMem;
    // SAFETY: read-only use (translate) of the kernel's tables through the direct map.
    let m = unsafe {
        Mapper::new(
            &mem,
            KERNEL_PML4.load(core::sync::atomic::Ordering::Relaxed),
            cpu::features().nx,
        )
    };
    let t = m.translate(virt);
    ensure!(
        t.is_some_and(|t| t.phys == LAPIC_DEFAULT_BASE
            && t.flags.cache == CacheMode::Uncacheable
            && t.flags.writable),
        "the APIC page is not mapped uncacheable and writable at {virt:#x}: {t:?}"
    );
    // Not executable, where the CPU can say so (without NX every page is executable).
    ensure!(
        !cpu::features().nx || t.is_some_and(|t| !t.flags.executable),
        "the APIC page is mapped executable at {virt:#x}: {t:?}"
    );
    // In x2APIC mode the MMIO page is switched off (reads return all ones): the version is
    // then read through its MSR, and the mapping check above is what this test proves.
    let version = if sys::arch::apic::x2apic() {
        sys::arch::apic::version()
    } else {
        // SAFETY: an uncacheable mapping of the local APIC's register page; the version
        // register is read-only and reading it has no side effect.
        unsafe { ((virt + sys::arch::apic::REG_VERSION as u64) as *const u32).read_volatile() }
    };
    ensure!(
        (0x10..=0x15).contains(&(version & 0xff)),
        "local APIC version register reads {version:#x}"
    );
    Ok(())
}

/// Every CPU the MADT lists (up to the window count) is online, each with its window at the
/// address map's place.
fn smp_all_online() -> TestResult {
    let n = smp::cpu_count();
    ensure!(
        n == smp::found_count().min(percpu::MAX_CPUS),
        "{n} CPUs numbered, the MADT lists {}",
        smp::found_count()
    );
    for cpu in 0..n {
        ensure!(
            smp::is_online(cpu),
            "CPU {cpu} (APIC id {}) is not online",
            smp::apic_id_of(cpu)
        );
    }
    ensure!(
        smp::online_count() == n,
        "{} of {n} CPUs online",
        smp::online_count()
    );
    ensure!(
        percpu::windows_ready() == n,
        "{} windows ready for {n} CPUs",
        percpu::windows_ready()
    );
    Ok(())
}

/// Every CPU wrote its own id into its copy of a per-CPU variable; the BSP reads every copy
/// through the other CPU's window and finds each right (and its own through GS).
fn percpu_isolation() -> TestResult {
    use core::sync::atomic::Ordering;
    ensure!(
        cpu_local::CPU_ID.read() == 0,
        "the BSP reads CPU id {} through GS",
        cpu_local::CPU_ID.read()
    );
    ensure!(
        cpu_local::this_window() == percpu::window_base(0).unwrap(),
        "the BSP's GS base is not window 0"
    );
    for cpu in 0..smp::cpu_count() {
        if !smp::is_online(cpu) {
            continue;
        }
        let id = cpu_local::ID_CHECK.remote(cpu).load(Ordering::Relaxed);
        ensure!(id == cpu as u64, "window {cpu} holds id {id}");
    }
    Ok(())
}

/// Each AP checked itself when it came online: its id through GS, its GS base = its window,
/// the lower half empty (a low read faults), its APIC id, and the kernel's CR3.
fn ap_self_checks() -> TestResult {
    use core::sync::atomic::Ordering;
    for cpu in 1..smp::cpu_count() {
        if !smp::is_online(cpu) {
            continue;
        }
        let got = cpu_local::AP_CHECKS.remote(cpu).load(Ordering::Relaxed);
        ensure!(
            got == smp::ALL_CHECKS,
            "CPU {cpu} (APIC id {}) self-checks {got:#x}, expected {:#x} \
                 (bits: GS id, window, lower half empty, APIC id, kernel CR3)",
            smp::apic_id_of(cpu),
            smp::ALL_CHECKS
        );
    }
    Ok(())
}

/// Ring 3 through IRETQ and back: a program runs at CPL 3 with its arguments and ends at its
/// exit trap with a value; reading kernel memory, writing its read-only text and executing a
/// privileged instruction each end it as killed with the right vector; afterwards GS, the
/// CPU's identity and the interrupt flag are the kernel's again.
fn user_mode() -> TestResult {
    use kernel_core::uspace as ul;
    use sys::arch::user::Exit;
    use sys::mm::uspace::{self, Program};
    let id = arch::cpu_id();
    let window = cpu_local::this_window();
    let was_on = arch::interrupts_disable();
    let _space = uspace::activate();
    let r = uspace::run(Program::Check, [0x1234, 0, 0, 0], false);
    ensure!(
        r == Exit::Exited(0x1234 << 8 | 3),
        "check program: {r:?}, expected exit {:#x} (value << 8 | CPL 3)",
        0x1234 << 8 | 3
    );
    let kernel_addr = &raw const uspace::SHARED as u64;
    for (what, addr, mode, vector, cr2) in [
        (
            "read of kernel memory",
            kernel_addr,
            0,
            VEC_PAGE_FAULT as u64,
            kernel_addr,
        ),
        (
            "write to user text",
            ul::CODE,
            1,
            VEC_PAGE_FAULT as u64,
            ul::CODE,
        ),
        ("CLI", 0, 3, arch::idt::VEC_GENERAL_PROTECTION as u64, 0),
    ] {
        let r = uspace::run(Program::Touch, [addr, mode, 0, 0], true);
        let ok = matches!(r, Exit::Killed { vector: v, cr2: c, .. } if v == vector && c == cr2);
        ensure!(
            ok,
            "{what} from ring 3: {r:?}, expected a kill by vector {vector}"
        );
    }
    let r = uspace::run(Program::Touch, [ul::CODE, 0, 0, 0], true);
    ensure!(r == Exit::Exited(0), "a user read of its own text: {r:?}");
    drop(_space);
    let still_off = !arch::interrupts_disable();
    if was_on {
        arch::interrupts_enable();
    }
    ensure!(
        still_off,
        "a user program left interrupts enabled in the kernel"
    );
    ensure!(
        arch::cpu_id() == id && cpu_local::this_window() == window,
        "GS after ring 3 is not this CPU's window"
    );
    Ok(())
}

/// SYSCALL/SYSRETQ: SYS_NULL returns 0, an unknown number ENOSYS, the argument registers come
/// back unchanged, and SYS_EXIT through SYSCALL ends the program with its value.
fn syscall() -> TestResult {
    use sys::arch::user::{self, Exit};
    use sys::mm::uspace::{self, Program};
    let r = {
        let _irq = percpu::IrqGuard::new();
        let _space = uspace::activate();
        uspace::run(Program::SyscallCheck, [0xabcd, 0, 0, 0], false)
    };
    if user::syscall_not_virtualised(&r) {
        return Err(Failure::Skipped(
            "SYSCALL from ring 3 reached the kernel's entry point still in ring 3: this \
             hypervisor does not virtualise SYSCALL for this guest",
        ));
    }
    ensure!(
        r == Exit::Exited(0xabcd),
        "syscall check program: {r:?} (0x1xxxx: SYS_NULL did not return 0; 0x2xxxx: an \
         unknown call did not return ENOSYS; 0x4xxxx: a register changed)"
    );
    // `mov eax, SYS_NULL; syscall` as the last bytes of the lower half: the return address is
    // 2^47, non-canonical. SYSRETQ there would #GP in ring 0 on the user's stack; the kernel
    // must end the program as killed by #GP at that address instead.
    let n = user::SYS_NULL as u32;
    let [b0, b1, b2, b3] = n.to_le_bytes();
    let code = [0xB8, b0, b1, b2, b3, 0x0F, 0x05];
    let r = {
        let _irq = percpu::IrqGuard::new();
        let _space = uspace::activate();
        uspace::run_at_top(&code)
    };
    let top = kernel_core::uspace::USER_END;
    ensure!(
        matches!(r, Exit::Killed { vector, rip, .. }
            if vector == sys::arch::idt::VEC_GENERAL_PROTECTION as u64 && rip == top),
        "SYSCALL returning to the non-canonical {top:#x}: {r:?}, expected killed by #GP there"
    );
    Ok(())
}

/// SMEP: the kernel cannot execute a user page. SMAP: the kernel cannot read a user page
/// outside STAC/CLAC, and can inside.
fn smap_smep() -> TestResult {
    use kernel_core::uspace as ul;
    use sys::arch::user::UserAccess;
    use sys::mm::uspace;
    let cr4 = cpu::read_cr4();
    ensure!(
        !cpu::features().smep || cr4 & cpu::CR4_SMEP != 0,
        "the CPU has SMEP but CR4.SMEP is clear"
    );
    {
        let _irq = percpu::IrqGuard::new();
        let _space = uspace::activate();
        if cr4 & cpu::CR4_SMEP != 0 {
            // SAFETY: must fault (SMEP); were it to run, the user text page holds the
            // programs, whose first bytes are no valid kernel routine: the exec probe catches
            // the fault and returns.
            let r = unsafe { extable::exec(ul::CODE) };
            expect_fault(
                "kernel execution of user text",
                ul::CODE,
                r,
                PF_INSTRUCTION | PF_PRESENT,
                0,
            )?;
        }
        if cr4 & cpu::CR4_SMAP != 0 {
            let r = extable::read_u64(ul::SHARED).map(|_| ());
            expect_fault(
                "kernel read of a user page without STAC",
                ul::SHARED,
                r,
                PF_PRESENT,
                PF_WRITE,
            )?;
            let v = {
                let _ua = UserAccess::begin();
                extable::read_u64(ul::SHARED)
            };
            ensure!(
                v.is_ok(),
                "a kernel read of a user page inside STAC/CLAC faulted: {v:?}"
            );
        }
    }
    if cr4 & cpu::CR4_SMAP == 0 {
        return Err(Failure::Skipped(if cpu::features().smap {
            "SMEP checked; SMAP is off (nosmap on the command line)"
        } else {
            "SMEP checked; the CPU has no SMAP"
        }));
    }
    if cr4 & cpu::CR4_SMEP == 0 {
        return Err(Failure::Skipped("the CPU has no SMEP"));
    }
    Ok(())
}

/// The TSC rate in use agrees, within 2 %, with a calibration against every fixed timer the
/// machine has (ACPI PM timer, HPET, PIT), and at least one of them exists or the rate came
/// from CPUID.
fn tsc_calibration() -> TestResult {
    let hz = sys::arch::tsc::hz();
    let used = sys::arch::tsc::source();
    ensure!(hz > 0, "the TSC rate is unknown");
    let mut checked = 0;
    for (name, measured) in sys::platform::clock::measure_all() {
        // Against a source other than the one in use: a source never disagrees with itself.
        if name == used.name() {
            continue;
        }
        let Some(m) = measured else { continue };
        checked += 1;
        let diff = m.abs_diff(hz) as f64 / hz as f64;
        println!(
            "selftest: tsc against {name}: {m} Hz ({:+.3} %)",
            (m as f64 / hz as f64 - 1.0) * 100.0
        );
        ensure!(
            diff.lt(&0.02),
            "TSC rate {hz} Hz ({}) but {m} Hz against the {name}",
            used.name()
        );
    }
    if checked == 0 {
        return Err(Failure::Skipped(
            "no fixed timer other than the source in use to check the TSC rate against",
        ));
    }
    Ok(())
}
