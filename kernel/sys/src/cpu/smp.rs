//! Bringing up the application processors: CPU discovery from the MADT, per-CPU windows, the
//! real-mode trampoline, INIT/SIPI/SIPI to each AP (never a broadcast), deadlines.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use kernel_core::bootinfo::{BootInfo, RegionKind};
use kernel_core::cmdline::{Options, WakeStrategy};
use kernel_core::cpuset::CpuSet;
use kernel_core::paging::{CacheMode, Mapper, PageFlags, PageSize, PhysMem};
use percpu::{MAX_CPUS, PERCPU_BASE, WINDOW_SIZE, layout, window_base};
use trampoline::{HEADER_OFFSET, TRAMPOLINE_SIZE, TrampolineHeader};

use crate::arch::{self, apic, cpu, extable, tsc};
use crate::cpu::local::{self, AP_CHECKS, CPU_ID, ID_CHECK};
use crate::mm::{self, FRAMES, KERNEL_PML4, KernelPhysMem, PAGE_SIZE};
use crate::platform::acpi as acpi_glue;
use crate::{println, record};

static TRAMPOLINE_BLOB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ap_trampoline.bin"));

/// The trampoline page when it is free (DESIGN.md, physical layout).
const PREFERRED_TRAMPOLINE_PAGE: u64 = 0x8000;
/// Real mode reaches the first 1 MiB only; the SIPI vector is the page number (8 bits).
const REAL_MODE_LIMIT: u64 = 0x10_0000;
/// INIT to first SIPI, and between SIPIs (Intel MP spec B.4; Linux's defaults).
const INIT_DELAY_US: u64 = 10_000;
const SIPI_DELAY_US: u64 = 200;

const STATE_IDLE: u8 = 0;
const STATE_WAKING: u8 = 1;
const STATE_ARRIVED: u8 = 2;
const STATE_ONLINE: u8 = 3;
const STATE_ABANDONED: u8 = 4;

static STATE: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(STATE_IDLE) }; MAX_CPUS];
static WAKE_TSC: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static ONLINE_TSC: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
static CPU_COUNT: AtomicU32 = AtomicU32::new(1);
static ONLINE_COUNT: AtomicU32 = AtomicU32::new(1);
static FOUND_COUNT: AtomicU32 = AtomicU32::new(1);
/// APIC id of the AP told to check in late (failure injection), u64::MAX for none.
static LATE_APIC: AtomicU64 = AtomicU64::new(u64::MAX);
/// APs that checked in after the BSP gave up on them (they park; reported by the BSP).
static LATE_ARRIVALS: AtomicU32 = AtomicU32::new(0);

/// Self-checks an AP runs on itself (bits of AP_CHECKS).
pub const CHECK_GS_ID: u64 = 1 << 0;
pub const CHECK_WINDOW: u64 = 1 << 1;
pub const CHECK_LOWER_HALF_EMPTY: u64 = 1 << 2;
pub const CHECK_APIC_ID: u64 = 1 << 3;
pub const CHECK_KERNEL_CR3: u64 = 1 << 4;
pub const ALL_CHECKS: u64 = 0x1F;

/// Logical CPUs the kernel knows (online or not), the BSP first.
pub fn cpu_count() -> usize {
    CPU_COUNT.load(Ordering::Acquire) as usize
}
pub fn online_count() -> usize {
    ONLINE_COUNT.load(Ordering::Acquire) as usize
}
pub fn found_count() -> usize {
    FOUND_COUNT.load(Ordering::Acquire) as usize
}
pub fn is_online(cpu: usize) -> bool {
    cpu == 0 || STATE[cpu].load(Ordering::Acquire) == STATE_ONLINE
}
/// The logical CPUs that are online, the BSP included: a set, not `0..online_count()` (an AP
/// that missed its deadline leaves a hole).
pub fn online_set() -> CpuSet {
    (0..cpu_count()).filter(|c| is_online(*c)).collect()
}
pub fn apic_id_of(cpu: usize) -> u32 {
    APIC_IDS[cpu].load(Ordering::Relaxed)
}

fn tsc_to_ns(ticks: u64) -> u64 {
    let hz = tsc::hz().max(1);
    (ticks as u128 * 1_000_000_000 / hz as u128) as u64
}

/// Discover the CPUs, set up every window and bring the APs online.
pub fn init(info: &BootInfo, opts: &Options) {
    apic::init_bsp(|phys| mm::map_device(phys, PAGE_SIZE, CacheMode::Uncacheable));
    let bsp_apic = apic::id();
    let mut ids = [0u32; MAX_CPUS];
    let mut n = 1;
    ids[0] = bsp_apic;
    match acpi_glue::discover_cpus(info, bsp_apic, &mut ids, opts.acpi_corrupt_madt) {
        Ok(d) => {
            n = d.count;
            FOUND_COUNT.store(d.found as u32, Ordering::Relaxed);
            if d.beyond_max > 0 {
                println!(
                    "smp: {} CPUs beyond the {MAX_CPUS} windows are left parked",
                    d.beyond_max
                );
                record!("error", |r| r
                    .str("kind", "smp_too_many_cpus")
                    .u64("parked", d.beyond_max as u64)
                    .str(
                        "message",
                        "more CPUs than per-CPU windows; the extras stay parked"
                    ));
            }
        }
        Err(()) => println!("smp: continuing on the BSP alone"),
    }
    if let Some(fake) = opts.smp_fake_apic
        && n < MAX_CPUS
    {
        match refuse_fake_apic_id(fake, &ids[..n]) {
            Some(why) => {
                println!("smp: error: made-up APIC id {fake} refused: {why}");
                record!("error", |r| r
                    .str("kind", "smp_fake_apic")
                    .u64("apic_id", fake as u64)
                    .str("message", why));
            }
            None => {
                println!("smp: failure injection: adding made-up APIC id {fake}");
                ids[n] = fake;
                n += 1;
            }
        }
    }
    if let Some(late) = opts.smp_late {
        LATE_APIC.store(late as u64, Ordering::Relaxed);
    }
    for (i, id) in ids[..n].iter().enumerate() {
        APIC_IDS[i].store(*id, Ordering::Relaxed);
    }
    CPU_COUNT.store(n as u32, Ordering::Release);

    // Every window exists before any AP runs: logical id n always gets window n.
    for (cpu, id) in ids[..n].iter().enumerate() {
        local::setup_window(cpu, *id);
    }
    // SAFETY: windows 0..n were just mapped and initialised.
    unsafe { percpu::set_windows_ready(n) };
    local::enter_window(window_base(0).unwrap());
    cpu::enable_pcid();
    arch::user::init_this_cpu();
    AP_CHECKS.get().store(ALL_CHECKS, Ordering::Relaxed);
    ID_CHECK.get().store(0, Ordering::Relaxed);
    record_topology();

    if n > 1 {
        match prepare_trampoline(info, &ids[..n], opts.smp_unlisted) {
            Ok(page) => {
                wake_all(page, &ids[..n], opts);
                if let Some(id) = opts.smp_unlisted {
                    nmi_parked_ap(id);
                }
            }
            Err(e) => println!("smp: error: {e}; continuing on the BSP alone"),
        }
    }
    report(opts.smp_wake.unwrap_or(WakeStrategy::Parallel));
}

/// Why a made-up APIC id (failure injection) cannot be woken: it is a CPU that exists (the
/// BSP would be sent INIT) or an id the APIC mode cannot address.
fn refuse_fake_apic_id(fake: u32, ids: &[u32]) -> Option<&'static str> {
    if fake == ids[0] {
        Some("it is the BSP's own APIC id")
    } else if ids.contains(&fake) {
        Some("a CPU with that APIC id exists")
    } else if !apic::x2apic() && fake > apic::XAPIC_MAX_ID {
        Some("xAPIC mode addresses APIC ids up to 254 only")
    } else {
        None
    }
}

/// Copy the trampoline to its low page and fill its header; returns the page's address.
fn prepare_trampoline(
    info: &BootInfo,
    ids: &[u32],
    unlisted: Option<u32>,
) -> Result<u64, &'static str> {
    let usable = |p: u64| {
        info.memory
            .regions()
            .iter()
            .any(|r| r.kind == RegionKind::Usable && r.start <= p && p + PAGE_SIZE <= r.end)
    };
    let page = if usable(PREFERRED_TRAMPOLINE_PAGE) {
        PREFERRED_TRAMPOLINE_PAGE
    } else {
        (1..REAL_MODE_LIMIT / PAGE_SIZE)
            .map(|i| i * PAGE_SIZE)
            .find(|p| usable(*p))
            .ok_or("no usable 4 KiB page below 1 MiB for the AP trampoline")?
    };
    let f = cpu::features();
    // The trampoline PML4: the trampoline page at its identity address (executable, writable
    // for its three fix-up words) plus the kernel half, shared with the kernel's PML4.
    let mut frames = FRAMES.lock();
    let alloc = frames.as_mut().expect("allocator");
    let pml4 = alloc
        .alloc_below(1 << 32)
        .ok_or("no frame below 4 GiB for the trampoline PML4")?;
    let mem = KernelPhysMem;
    let kernel_pml4 = KERNEL_PML4.load(Ordering::Relaxed);
    // SAFETY: both PML4s are frames reached through the direct map; the new one is ours.
    unsafe {
        let new = &mut *mem.table(pml4);
        let kernel = &*mem.table(kernel_pml4);
        new[..256].fill(0);
        new[256..].copy_from_slice(&kernel[256..]);
    }
    {
        struct Below4G<'a>(&'a mut kernel_core::frame::FrameAllocator);
        impl kernel_core::paging::FrameSource for Below4G<'_> {
            fn alloc_frame(&mut self) -> Option<u64> {
                self.0.alloc_below(1 << 32)
            }
        }
        // SAFETY: a private PML4 being built; only its lower half changes.
        let mut m = unsafe { Mapper::new(&mem, pml4, f.nx) };
        let flags = PageFlags {
            writable: true,
            user: false,
            executable: true,
            global: false,
            cache: CacheMode::WriteBack,
        };
        m.map(page, page, PageSize::Size4K, flags, &mut Below4G(alloc))
            .map_err(|_| "cannot map the trampoline page")?;
    }
    drop(frames);

    let dst = mm::phys_to_virt(page);
    // SAFETY: the page is usable RAM below 1 MiB, which the frame allocator never hands out,
    // reached through the direct map; no AP runs yet.
    unsafe {
        core::ptr::write_bytes(dst as *mut u8, 0, TRAMPOLINE_SIZE);
        core::ptr::copy_nonoverlapping(
            TRAMPOLINE_BLOB.as_ptr(),
            dst as *mut u8,
            TRAMPOLINE_BLOB.len(),
        );
        let h = &mut *((dst + HEADER_OFFSET as u64) as *mut TrampolineHeader);
        h.trampoline_pml4 = pml4 as u32;
        h.cpu_count = ids.len() as u32;
        h.cr0 = cpu::read_cr0();
        // CR4.PCIDE can only be set in long mode; everything else the BSP has is set before
        // paging (PAE, PGE, SMEP, SMAP, ...).
        h.cr4 = cpu::read_cr4() & !cpu::CR4_PCIDE;
        h.efer = cpu::rdmsr(cpu::IA32_EFER) & (cpu::EFER_LME | cpu::EFER_NXE);
        h.pat = cpu::rdmsr(kernel_core::paging::IA32_PAT);
        h.kernel_cr3 = kernel_pml4;
        h.entry64 = ap_entry64 as *const () as usize as u64;
        h.percpu_base = PERCPU_BASE;
        h.window_size = WINDOW_SIZE;
        h.stack_top_offset = layout::KERNEL_STACK.top;
        for (i, id) in ids.iter().enumerate() {
            // Failure injection: an id no CPU has (the x2APIC broadcast id), so that AP finds
            // itself unlisted and parks in the trampoline.
            h.apic_ids[i] = if unlisted == Some(*id) { u32::MAX } else { *id };
        }
    }
    println!(
        "smp: trampoline at {page:#x} (SIPI vector {:#x}), trampoline PML4 at {pml4:#x}",
        page >> 12
    );
    Ok(page)
}

unsafe extern "C" {
    fn ap_entry64();
}

// Higher-half AP entry, reached from the trampoline in long mode at a low address: load the
// kernel's own CR3 (the lower half is empty from here on), the stack and GS base of this CPU's
// window, and call ap_main(logical id, APIC id).
global_asm!(
    ".global ap_entry64",
    "ap_entry64:",
    "mov cr3, r9",
    "mov rsp, rcx",
    "mov r10, rdx",
    "mov ecx, {gs_base_msr}",
    "mov eax, r10d",
    "shr r10, 32",
    "mov edx, r10d",
    "wrmsr",
    "xor ebp, ebp",
    "push 0",
    "jmp {main}",
    gs_base_msr = const local::IA32_GS_BASE,
    main = sym ap_main,
);

fn wake(apic_id: u32, cpu: usize, skip: Option<u32>) -> bool {
    WAKE_TSC[cpu].store(tsc::rdtsc(), Ordering::Relaxed);
    STATE[cpu].store(STATE_WAKING, Ordering::Release);
    if skip == Some(apic_id) {
        println!("smp: failure injection: not waking APIC id {apic_id}");
        return false;
    }
    true
}

fn send_init(apic_id: u32) -> Result<(), apic::IpiError> {
    apic::clear_esr();
    apic::send_ipi(
        apic_id,
        apic::ICR_INIT | apic::ICR_TRIGGER_LEVEL | apic::ICR_LEVEL_ASSERT,
    )?;
    // INIT level de-assert exists only in xAPIC mode (not supported in x2APIC mode, SDM 11.12.10).
    if !apic::x2apic() {
        apic::send_ipi(apic_id, apic::ICR_INIT | apic::ICR_TRIGGER_LEVEL)?;
    }
    apic::wait_sent()
}

/// Failure injection (`smp_unlisted`): the AP left out of the trampoline's table has parked
/// there; send it an NMI, which it must survive (its park loop has an IDT). Without one it
/// would triple-fault, and QEMU (`-no-reboot`) would end the run as a reset.
fn nmi_parked_ap(apic_id: u32) {
    const NMI_GRACE_US: u64 = 100_000;
    match apic::send_ipi(apic_id, apic::ICR_NMI).and_then(|()| apic::wait_sent()) {
        Ok(()) => {
            tsc::delay_us(NMI_GRACE_US);
            println!(
                "smp: failure injection: the AP parked in the trampoline (APIC id {apic_id}) took an NMI"
            );
        }
        Err(e) => {
            println!("smp: failure injection: the NMI to APIC id {apic_id} was not sent: {e:?}")
        }
    }
}

/// Stop every other online CPU at the end of a run on bare metal: an INIT IPI puts a CPU in
/// wait-for-SIPI, where it executes nothing until a new start-up (SDM vol. 3A, 9.4). Each CPU
/// is addressed by its APIC id, never by a broadcast that would also reach parked CPUs.
pub fn stop_other_cpus() -> usize {
    if !apic::ready() {
        return 0;
    }
    let me = arch::cpu_id() as usize;
    let mut stopped = 0;
    for cpu in 0..cpu_count() {
        if cpu != me && is_online(cpu) && send_init(apic_id_of(cpu)).is_ok() {
            stopped += 1;
        }
    }
    stopped
}

fn send_sipi(apic_id: u32, page: u64) {
    apic::clear_esr();
    if let Err(e) = apic::send_ipi(apic_id, apic::ICR_STARTUP | (page >> 12) as u32)
        .and_then(|()| apic::wait_sent())
    {
        println!("smp: the SIPI to APIC id {apic_id} was not sent: {e:?}");
        return;
    }
    let esr = apic::read_esr();
    if esr != 0 {
        println!("smp: APIC error status {esr:#x} after the SIPI to APIC id {apic_id}");
    }
}

/// INIT to one AP; false (with a message) when it could not be sent.
fn init_ap(apic_id: u32) -> bool {
    match send_init(apic_id) {
        Ok(()) => true,
        Err(e) => {
            println!("smp: error: the INIT IPI to APIC id {apic_id} was not sent: {e:?}");
            false
        }
    }
}

fn deadline_ticks(opts: &Options, aps: usize) -> u64 {
    let ms =
        opts.smp_deadline_ms
            .unwrap_or(match opts.smp_wake.unwrap_or(WakeStrategy::Parallel) {
                WakeStrategy::Parallel => 2000 + 100 * aps as u64,
                WakeStrategy::Serial => 2000,
            });
    tsc::hz().max(1_000_000) / 1000 * ms
}

/// Time an AP that checked in (ARRIVED) gets to finish coming online before it is given up.
const ARRIVED_GRACE_MS: u64 = 1000;

/// Wait until `cpu` is online or the deadline passes; on expiry the slot is abandoned, so a
/// late arrival parks itself instead of joining. An AP that arrived but never finishes (it
/// faulted or hangs in its set-up) is abandoned after a second deadline.
fn wait_for(cpu: usize, deadline: u64) -> bool {
    let mut arrived_deadline = None;
    loop {
        match STATE[cpu].load(Ordering::Acquire) {
            STATE_ONLINE => return true,
            STATE_ARRIVED => {
                let end = *arrived_deadline.get_or_insert_with(|| {
                    tsc::rdtsc().max(deadline) + tsc::hz().max(1_000_000) / 1000 * ARRIVED_GRACE_MS
                });
                if tsc::rdtsc() > end
                    && STATE[cpu]
                        .compare_exchange(
                            STATE_ARRIVED,
                            STATE_ABANDONED,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .is_ok()
                {
                    println!(
                        "smp: error: logical CPU {cpu} checked in but did not finish coming \
                         online within {ARRIVED_GRACE_MS} ms more"
                    );
                    return false;
                }
                core::hint::spin_loop();
            }
            _ if tsc::rdtsc() > deadline => {
                if STATE[cpu]
                    .compare_exchange(
                        STATE_WAKING,
                        STATE_ABANDONED,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok()
                {
                    return false;
                }
                // It arrived at the last moment: the arrived deadline applies.
            }
            _ => core::hint::spin_loop(),
        }
    }
}

static TOTAL_NS: AtomicU64 = AtomicU64::new(0);

fn wake_all(page: u64, ids: &[u32], opts: &Options) {
    let strategy = opts.smp_wake.unwrap_or(WakeStrategy::Parallel);
    let deadline = deadline_ticks(opts, ids.len() - 1);
    let start = tsc::rdtsc();
    let mut missing = 0;
    match strategy {
        WakeStrategy::Serial => {
            for (cpu, &id) in ids.iter().enumerate().skip(1) {
                if wake(id, cpu, opts.smp_skip) && init_ap(id) {
                    tsc::delay_us(INIT_DELAY_US);
                    send_sipi(id, page);
                    tsc::delay_us(SIPI_DELAY_US);
                    if STATE[cpu].load(Ordering::Acquire) == STATE_WAKING {
                        send_sipi(id, page);
                    }
                }
                if !wait_for(cpu, tsc::rdtsc() + deadline) {
                    missing += 1;
                    report_missing(cpu, id, deadline);
                }
            }
        }
        WakeStrategy::Parallel => {
            let mut woken: [bool; MAX_CPUS] = core::array::from_fn(|cpu| {
                cpu > 0 && cpu < ids.len() && wake(ids[cpu], cpu, opts.smp_skip)
            });
            for cpu in 1..ids.len() {
                if woken[cpu] {
                    woken[cpu] = init_ap(ids[cpu]);
                }
            }
            tsc::delay_us(INIT_DELAY_US);
            for round in 0..2 {
                for cpu in 1..ids.len() {
                    if woken[cpu]
                        && (round == 0 || STATE[cpu].load(Ordering::Acquire) == STATE_WAKING)
                    {
                        send_sipi(ids[cpu], page);
                    }
                }
                tsc::delay_us(SIPI_DELAY_US);
            }
            let end = tsc::rdtsc() + deadline;
            for (cpu, &id) in ids.iter().enumerate().skip(1) {
                if !wait_for(cpu, end) {
                    missing += 1;
                    report_missing(cpu, id, deadline);
                }
            }
        }
    }
    TOTAL_NS.store(tsc_to_ns(tsc::rdtsc() - start), Ordering::Relaxed);
    ONLINE_COUNT.store((ids.len() - missing) as u32, Ordering::Release);
}

fn report_missing(cpu: usize, apic_id: u32, deadline: u64) {
    let ms = tsc_to_ns(deadline) / 1_000_000;
    println!(
        "smp: error: the AP with APIC id {apic_id} (logical {cpu}) did not check in within {ms} ms; \
              booting on without it"
    );
    record!("error", |r| r
        .str("kind", "ap_timeout")
        .u64("apic_id", apic_id as u64)
        .u64("cpu", cpu as u64)
        .u64("deadline_ms", ms)
        .str("message", "AP did not check in before its deadline"));
}

fn report(strategy: WakeStrategy) {
    let late = LATE_ARRIVALS.load(Ordering::Acquire);
    if late > 0 {
        println!("smp: {late} AP(s) arrived after their deadline and are parked");
    }
    for cpu in 0..cpu_count() {
        if !is_online(cpu) {
            continue;
        }
        let online_ns = if cpu == 0 {
            0
        } else {
            tsc_to_ns(
                ONLINE_TSC[cpu]
                    .load(Ordering::Relaxed)
                    .saturating_sub(WAKE_TSC[cpu].load(Ordering::Relaxed)),
            )
        };
        let (package, core, thread) = local::topology_of(cpu);
        record!("cpu", |r| r
            .u64("id", cpu as u64)
            .u64("apic_id", apic_id_of(cpu) as u64)
            .hex("window", window_base(cpu).unwrap())
            .u64("online_ns", online_ns)
            .u64("package", package as u64)
            .u64("core", core as u64)
            .u64("thread", thread as u64));
    }
    println!(
        "smp: {} of {} CPUs online ({} wake-up, {} mode), bring-up took {} us",
        online_count(),
        cpu_count(),
        strategy.name(),
        if apic::x2apic() { "x2APIC" } else { "xAPIC" },
        TOTAL_NS.load(Ordering::Relaxed) / 1000
    );
    record!("smp", |r| r
        .str("strategy", strategy.name())
        .str("apic_mode", if apic::x2apic() { "x2apic" } else { "xapic" })
        .u64("cpus_found", found_count() as u64)
        .u64("cpus_possible", cpu_count() as u64)
        .u64("cpus_online", online_count() as u64)
        .u64("total_ns", TOTAL_NS.load(Ordering::Relaxed)));
}

/// Package, core and thread of the running CPU from CPUID leaf 0x0B (x2APIC topology).
fn record_topology() {
    const CPUID_TOPOLOGY: u32 = 0x0B;
    let max = raw_cpuid::cpuid!(0).eax;
    let id = apic::id();
    let (mut smt_shift, mut core_shift) = (0, 0);
    if max >= CPUID_TOPOLOGY && raw_cpuid::cpuid!(CPUID_TOPOLOGY, 0).ebx & 0xFFFF != 0 {
        for sub in 0..8 {
            let r = raw_cpuid::cpuid!(CPUID_TOPOLOGY, sub);
            let level_type = (r.ecx >> 8) & 0xFF;
            match level_type {
                1 => smt_shift = r.eax & 0x1F,
                2 => core_shift = r.eax & 0x1F,
                0 => break,
                _ => {}
            }
        }
    }
    core_shift = core_shift.max(smt_shift);
    let thread = id & ((1u32 << smt_shift) - 1);
    let core = (id >> smt_shift) & ((1u32 << (core_shift - smt_shift)).wrapping_sub(1));
    let package = id.checked_shr(core_shift).unwrap_or(0);
    local::store_topology(package, core, thread);
}

extern "C" fn ap_main(cpu: u64, apic_id: u64) -> ! {
    let cpu = cpu as usize;
    if LATE_APIC.load(Ordering::Relaxed) == apic_id {
        // Failure injection: stay away until the BSP gave up on this CPU (bounded).
        let give_up = tsc::rdtsc() + tsc::hz().max(1_000_000) * 600;
        while STATE[cpu].load(Ordering::Acquire) == STATE_WAKING && tsc::rdtsc() < give_up {
            core::hint::spin_loop();
        }
    }
    // The IDT first: a CPU that parks below must survive an NMI (with no IDT it would
    // triple-fault, which on real chipsets can reset the whole platform). The IDT is shared
    // and read-only; GS already points at this CPU's window.
    arch::idt::load();
    if STATE[cpu]
        .compare_exchange(
            STATE_WAKING,
            STATE_ARRIVED,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        // Too late (or twice): this CPU's slot is no longer waiting. Touch nothing shared
        // (not even the console): count itself and park.
        LATE_ARRIVALS.fetch_add(1, Ordering::AcqRel);
        arch::halt_forever();
    }
    local::enter_window(window_base(cpu).unwrap());
    cpu::enable_pcid();
    arch::user::init_this_cpu();
    apic::enable_this_cpu();
    crate::arch::tsc::init_this_cpu();

    let mut checks = 0;
    if CPU_ID.read() as usize == cpu {
        checks |= CHECK_GS_ID;
    }
    if local::this_window() == window_base(cpu).unwrap() {
        checks |= CHECK_WINDOW;
    }
    if matches!(extable::read_u64(0x1000), Err(f) if f.vector == arch::idt::VEC_PAGE_FAULT)
        && extable::read_u64(0x8000).is_err()
    {
        checks |= CHECK_LOWER_HALF_EMPTY;
    }
    if apic::id() as u64 == apic_id {
        checks |= CHECK_APIC_ID;
    }
    if arch::read_cr3() & !0xFFF == KERNEL_PML4.load(Ordering::Relaxed) {
        checks |= CHECK_KERNEL_CR3;
    }
    AP_CHECKS.get().store(checks, Ordering::Relaxed);
    ID_CHECK.get().store(cpu as u64, Ordering::Relaxed);
    record_topology();
    ONLINE_TSC[cpu].store(tsc::rdtsc(), Ordering::Relaxed);
    if STATE[cpu]
        .compare_exchange(
            STATE_ARRIVED,
            STATE_ONLINE,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        // The BSP gave up on this CPU while it set itself up: park.
        LATE_ARRIVALS.fetch_add(1, Ordering::AcqRel);
        arch::halt_forever();
    }

    crate::cpu::call::ap_idle()
}
