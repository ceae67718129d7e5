//! Demand paging in the per-CPU arenas: the page-fault path the benchmarks measure.
//!
//! While a CPU has demand paging on (`enable`), a not-present fault in one of its own arenas is
//! served in the fault handler: a kernel-mode fault in its kernel arena (window +
//! `ARENA_OFFSET`, 15 MiB, global pages), a ring-3 fault in its arena of the user address space
//! (`kernel_core::uspace::arena`, user pages, not global; see [`Space`]):
//! - a write fault takes a frame from this CPU's frame cache, zeroes it and maps it
//!   read-write (demand-zero);
//! - a read fault, under [`Variant::ZeroPage`], maps the shared zero frame read-only; a later
//!   write there is a protection fault that replaces it with a fresh zeroed frame (copy-on-write
//!   of the zero page) and invalidates the old translation; under [`Variant::DemandZero`] it is
//!   served as a write fault is.
//!
//! A variant of the fault path is one entry of [`Variant`] (its name is the `variant` param of
//! every `pf_kernel` / `pf_user` result); `enable` takes one. Adding a variant: an entry here,
//! its branch in `try_handle`, and the benchmark's loop over [`Variant::ALL`] picks it up.
//!
//! The path takes no lock: the arena belongs to one CPU, its page tables exist beforehand
//! (`prepare`, once per arena) so a mapping is one PTE write, and frames come from a per-CPU
//! cache refilled from the global allocator in batches. The handler's own time (from its first
//! instruction to its return, trap entry and IRET excluded) is kept in `HANDLER_CYCLES`, and
//! appended to a log while `with_handler_log` runs (ring-3 measurements read it afterwards).

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use kernel_core::paging::{PTE_ADDR_MASK, PTE_G, PTE_P, PTE_PS, PTE_RW, PTE_US};
use percpu::{CacheAligned, layout, percpu};

use crate::arch;
use crate::arch::idt::{ExceptionFrame, PF_PRESENT, PF_USER, PF_WRITE};
use crate::mm::{self, HUGE_SIZE, PAGE_SIZE};

/// Frames a CPU keeps at hand, and how many it takes from (or gives back to) the global
/// allocator at once.
const CACHE_CAPACITY: usize = 512;
const CACHE_BATCH: usize = 128;

pub struct FrameCache {
    len: usize,
    frames: [u64; CACHE_CAPACITY],
}

percpu! {
    /// 1 while this CPU serves faults in its arena.
    static DEMAND_ON: u8 = 0;
    /// The enabled variant (`Variant as u8`).
    static VARIANT: u8 = 0;
    /// TSC ticks the handler spent on the last fault it served.
    pub static HANDLER_CYCLES: u64 = 0;
    /// Faults served on this CPU.
    pub static FAULTS_SERVED: u64 = 0;
    static CACHE: FrameCache = FrameCache { len: 0, frames: [0; CACHE_CAPACITY] };
    /// While set (`with_handler_log`): where each fault's handler time is appended, its
    /// capacity and the count so far (ring-3 runs, which cannot read HANDLER_CYCLES).
    static LOG_PTR: u64 = 0;
    static LOG_CAP: u64 = 0;
    static LOG_LEN: u64 = 0;
    /// `Variant::FaultAround`: pages one fault maps.
    static AROUND: u64 = 16;
    /// Page tables the `PtOnDemand` variant allocated in the fault.
    pub static TABLES_MADE: u64 = 0;
    /// The pre-zeroed pool (`with_pool`): where its frames are listed, its capacity, its
    /// count; and the faults it could not serve (zeroed in the fault instead).
    static POOL_PTR: u64 = 0;
    static POOL_CAP: u64 = 0;
    static POOL_LEN: u64 = 0;
    pub static POOL_MISSES: u64 = 0;
    /// 2 MiB runs set aside for `Variant::Huge2M` (`huge_fill`).
    static HUGE: HugeCache = HugeCache { len: 0, frames: [0; HUGE_CACHE] };
    /// `Variant::Huge2M` faults that found no run or a busy table and mapped 4 KiB instead.
    pub static HUGE_FALLBACKS: u64 = 0;
}

/// 2 MiB runs a CPU sets aside before a round of `Huge2M` faults (an arena holds 7).
const HUGE_CACHE: usize = 8;

pub struct HugeCache {
    len: usize,
    frames: [u64; HUGE_CACHE],
}

/// The shared zero frame (physical), set up by `init`.
static ZERO_FRAME: AtomicU64 = AtomicU64::new(0);

/// Leaf flags of a demand-zero page: present, writable, global (the arena is in the shared
/// kernel half); no-execute is added where the CPU has it (`mm::xd`).
const ANON_FLAGS: u64 = PTE_P | PTE_RW | PTE_G;
/// Leaf flags of the shared zero page: read-only.
const ZERO_FLAGS: u64 = PTE_P | PTE_G;
/// The same in a user arena: user-accessible, not global (the space has its own PCID).
const USER_ANON_FLAGS: u64 = PTE_P | PTE_RW | PTE_US;
const USER_ZERO_FLAGS: u64 = PTE_P | PTE_US;

pub use crate::mm::Space;

impl Space {
    /// First and one-past-last address of this CPU's arena in this space.
    #[inline]
    pub fn arena(self) -> (u64, u64) {
        match self {
            Space::Kernel => arena(),
            Space::User => {
                let base = kernel_core::uspace::arena(crate::arch::cpu_id() as u64);
                (base, base + kernel_core::uspace::ARENA_SIZE)
            }
        }
    }

    #[inline]
    pub fn pte_slot(self, page: u64) -> Option<&'static AtomicU64> {
        match self {
            Space::Kernel => mm::pte_slot(page),
            Space::User => crate::mm::uspace::pte_slot(page),
        }
    }

    /// The page-directory entry of `virt` in this space (its 2 MiB span).
    #[inline]
    pub fn pde_slot(self, virt: u64) -> Option<&'static AtomicU64> {
        match self {
            Space::Kernel => mm::pde_slot(virt),
            Space::User => crate::mm::uspace::pde_slot(virt),
        }
    }

    /// Flags of a page-directory entry that points to a page table in this space (as the
    /// mapper writes them: present, writable, user where the space is the user's).
    #[inline]
    fn table_flags(self) -> u64 {
        match self {
            Space::Kernel => PTE_P | PTE_RW,
            Space::User => PTE_P | PTE_RW | PTE_US,
        }
    }

    /// Flags of a private zeroed 2 MiB page.
    #[inline]
    fn huge_flags(self) -> u64 {
        self.flags().0 | PTE_PS
    }

    /// Leaf flags of (a private zeroed page, the shared zero page).
    #[inline]
    fn flags(self) -> (u64, u64) {
        let xd = mm::xd();
        match self {
            Space::Kernel => (ANON_FLAGS | xd, ZERO_FLAGS | xd),
            Space::User => (USER_ANON_FLAGS | xd, USER_ZERO_FLAGS | xd),
        }
    }
}

/// Allocate the zero frame (once).
pub fn init() {
    if ZERO_FRAME.load(Ordering::Acquire) != 0 {
        return;
    }
    let f = mm::alloc_frame().expect("out of memory for the zero frame");
    zero_frame(f);
    ZERO_FRAME.store(f, Ordering::Release);
}

pub fn zero_frame_phys() -> u64 {
    ZERO_FRAME.load(Ordering::Acquire)
}

/// First and one-past-last address of this CPU's arena.
#[inline]
pub fn arena() -> (u64, u64) {
    let base = percpu::self_base() + layout::ARENA_OFFSET;
    (base, base + layout::ARENA_SIZE)
}

/// Build the page tables of `cpu`'s arena (any CPU may call it; takes the kernel-space lock).
pub fn prepare(cpu: usize) {
    let base = percpu::window_base(cpu).expect("cpu below MAX_CPUS") + layout::ARENA_OFFSET;
    mm::prepare_tables(base, layout::ARENA_SIZE);
}

/// Build the page tables of `cpu`'s arena in the user address space.
pub fn prepare_user(cpu: usize) {
    let base = kernel_core::uspace::arena(cpu as u64);
    crate::mm::uspace::prepare_tables(base, kernel_core::uspace::ARENA_SIZE);
}

/// A variant of the fault path: what a not-present fault in an arena maps. The names (and
/// their order) are `kernel_core::cmdline::PF_VARIANTS`, the `variant` param of the results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Variant {
    /// Every fault, read or write, maps a private zeroed frame from the per-CPU cache; the
    /// page tables exist beforehand (`prepare`).
    DemandZero = 0,
    /// A read fault maps the shared zero frame read-only (Linux's zero page for anonymous
    /// reads); a write fault, or a later write to the zero page, a private zeroed frame.
    ZeroPage = 1,
    /// As `DemandZero`, but a fault in a 2 MiB span without a page table first allocates and
    /// zeroes the table and links it (Linux's `__pte_alloc`): the tables do not exist
    /// beforehand (`drop_tables`).
    PtOnDemand = 2,
    /// A fault in a whole 2 MiB span of the arena maps a zeroed 2 MiB page (PS bit) from the
    /// CPU's set-aside runs (`huge_fill`), replacing an empty page table if one is there
    /// (Linux's THP fault, `do_huge_pmd_anonymous_page`).
    Huge2M = 3,
    /// Frames come from a per-CPU pool zeroed beforehand (`with_pool`, `pool_fill`): the
    /// fault is trap + bookkeeping + PTE.
    Prezeroed = 4,
    /// One fault maps the aligned window of `AROUND` pages around the faulting page, each a
    /// private zeroed frame (Linux's fault-around, which it applies to file pages only).
    FaultAround = 5,
}

impl Variant {
    /// Every variant, in the order the benchmark runs them (`PF_VARIANTS`).
    pub const ALL: &[Variant] = &[
        Variant::DemandZero,
        Variant::ZeroPage,
        Variant::PtOnDemand,
        Variant::Huge2M,
        Variant::Prezeroed,
        Variant::FaultAround,
    ];

    /// The `variant` param of the results measured under it.
    pub fn name(self) -> &'static str {
        kernel_core::cmdline::PF_VARIANTS[self as usize]
    }
}

const _: () = assert!(Variant::ALL.len() == kernel_core::cmdline::PF_VARIANTS.len());

/// How a frame is zeroed (`kernel_core::cmdline::PF_ZERO_METHODS`, same order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroMethod {
    /// REP STOSQ: 512 eight-byte stores (what the fault path itself uses).
    Stosq,
    /// REP STOSB: 4096 one-byte iterations; fast-string microcode where ERMS is present.
    Stosb,
    /// MOVNTI: 512 non-temporal eight-byte stores and an SFENCE (the lines are not pulled
    /// into the cache).
    Movnti,
    /// CLZERO (AMD): 64 cache-line zeroings and an SFENCE.
    Clzero,
}

impl ZeroMethod {
    pub const ALL: [ZeroMethod; 4] = [
        ZeroMethod::Stosq,
        ZeroMethod::Stosb,
        ZeroMethod::Movnti,
        ZeroMethod::Clzero,
    ];

    pub fn name(self) -> &'static str {
        kernel_core::cmdline::PF_ZERO_METHODS[self as usize]
    }

    /// Whether this CPU has the instruction (CLZERO: CPUID 0x8000_0008 EBX bit 0).
    pub fn available(self) -> bool {
        self != ZeroMethod::Clzero || crate::arch::cpu::features().clzero
    }
}

const _: () = assert!(ZeroMethod::ALL.len() == kernel_core::cmdline::PF_ZERO_METHODS.len());

/// Zero one 4 KiB frame through the direct map with `method`.
///
/// # Panics
/// If the CPU lacks the method's instruction (`ZeroMethod::available`).
pub fn zero_frame_with(method: ZeroMethod, phys: u64) {
    let virt = mm::phys_to_virt(phys);
    match method {
        ZeroMethod::Stosq => zero_frame(phys),
        // SAFETY: `phys` is a frame the caller owns, mapped writable by the direct map; the
        // loop writes exactly its 4 KiB.
        ZeroMethod::Stosb => unsafe {
            core::arch::asm!(
                "rep stosb",
                inout("rdi") virt => _,
                inout("rcx") PAGE_SIZE => _,
                in("al") 0u8,
                options(nostack, preserves_flags)
            )
        },
        // SAFETY: as for Stosb: 128 iterations of 32 bytes, exactly the frame.
        ZeroMethod::Movnti => unsafe {
            core::arch::asm!(
                "2:",
                "movnti [{p}], {z}",
                "movnti [{p} + 8], {z}",
                "movnti [{p} + 16], {z}",
                "movnti [{p} + 24], {z}",
                "add {p}, 32",
                "dec {n:e}",
                "jnz 2b",
                "sfence",
                p = inout(reg) virt => _,
                n = inout(reg) (PAGE_SIZE / 32) as u32 => _,
                z = in(reg) 0u64,
                options(nostack)
            )
        },
        ZeroMethod::Clzero => {
            assert!(method.available(), "CLZERO on a CPU without it");
            // SAFETY: as above; CLZERO zeroes the 64-byte line holding RAX, and the CPU has
            // it (checked above).
            unsafe {
                core::arch::asm!(
                    "2:",
                    "clzero",
                    "add rax, 64",
                    "dec {n:e}",
                    "jnz 2b",
                    "sfence",
                    inout("rax") virt => _,
                    n = inout(reg) (PAGE_SIZE / 64) as u32 => _,
                    options(nostack)
                )
            }
        }
    }
}

/// `Variant::FaultAround`: how many pages one fault maps on this CPU (1..=512).
pub fn set_fault_around(pages: u64) {
    AROUND.write(pages.clamp(1, 512));
}

/// Serve faults in this CPU's arena from now on, as `variant` says.
pub fn enable(variant: Variant) {
    VARIANT.write(variant as u8);
    DEMAND_ON.write(1);
}

pub fn disable() {
    DEMAND_ON.write(0);
}

/// Zero one 4 KiB frame through the direct map (REP STOSQ, the measured zeroing).
#[inline(always)]
pub fn zero_frame(phys: u64) {
    zero_range(phys, PAGE_SIZE);
}

/// Take a frame from this CPU's cache (interrupts off: the fault handler, or a caller holding
/// an IrqGuard).
fn cache_pop() -> u64 {
    // SAFETY: every caller runs with interrupts off (see above), and the closure does not
    // touch CACHE again.
    unsafe {
        CACHE.with_irqs_off(|c| {
            if c.len == 0 {
                c.len = mm::alloc_frames(&mut c.frames[..CACHE_BATCH]);
                assert!(c.len > 0, "out of memory in a demand-zero fault");
            }
            c.len -= 1;
            c.frames[c.len]
        })
    }
}

/// Give a frame back to this CPU's cache (interrupts off, as for `cache_pop`).
fn cache_push(frame: u64) {
    // SAFETY: as in `cache_pop`.
    unsafe {
        CACHE.with_irqs_off(|c| {
            if c.len == CACHE_CAPACITY {
                mm::free_frames(&c.frames[CACHE_CAPACITY - CACHE_BATCH..]);
                c.len -= CACHE_BATCH;
            }
            c.frames[c.len] = frame;
            c.len += 1;
        })
    }
}

/// Called first for every page fault: true when it was a demand fault in this CPU's arena and
/// the faulting access can now be retried.
pub fn try_handle(frame: &mut ExceptionFrame) -> bool {
    if DEMAND_ON.read() == 0 {
        // Not serving this CPU's arenas: perhaps the shared region (`pf_contention`).
        return SHARED_ON.load(Ordering::Relaxed) && try_shared(frame);
    }
    // Fenced timestamps, as every other figure (an unfenced RDTSC may execute before the
    // work it is meant to follow, or after the work it should precede).
    let t0 = crate::arch::tsc::start();
    let addr = arch::read_cr2();
    // A fault from ring 3 is served in the user arena only, a kernel one in the kernel arena.
    let space = if frame.error_code & PF_USER != 0 {
        Space::User
    } else {
        Space::Kernel
    };
    let (start, end) = space.arena();
    if addr < start || addr >= end {
        return false;
    }
    let page = addr & !(PAGE_SIZE - 1);
    let write = frame.error_code & PF_WRITE != 0;
    let served = if frame.error_code & PF_PRESENT == 0 {
        map_not_present(space, page, write, (start, end))
    } else {
        write && unshare_zero_page(space, page)
    };
    if !served {
        return false;
    }
    FAULTS_SERVED.add(1);
    let cycles = crate::arch::tsc::stop().wrapping_sub(t0);
    HANDLER_CYCLES.write(cycles);
    let log = LOG_PTR.read();
    if log != 0 {
        let n = LOG_LEN.read();
        if n < LOG_CAP.read() {
            // SAFETY: `with_handler_log` set the pointer to a live `&mut [u64]` of LOG_CAP
            // elements that nothing else touches until it clears the pointer.
            unsafe { ((log + n * 8) as *mut u64).write(cycles) };
            LOG_LEN.write(n + 1);
        }
    }
    true
}

/// A not-present fault at `page` of the arena `[start, end)`: map it as the variant says.
/// One `match` on the variant first, so each variant pays only its own steps.
#[inline]
fn map_not_present(space: Space, page: u64, write: bool, (start, end): (u64, u64)) -> bool {
    const DEMAND_ZERO: u8 = Variant::DemandZero as u8;
    const ZERO_PAGE: u8 = Variant::ZeroPage as u8;
    const PT_ON_DEMAND: u8 = Variant::PtOnDemand as u8;
    const HUGE_2M: u8 = Variant::Huge2M as u8;
    const PREZEROED: u8 = Variant::Prezeroed as u8;
    const FAULT_AROUND: u8 = Variant::FaultAround as u8;
    match VARIANT.read() {
        DEMAND_ZERO => map_page(space, page, space.flags().0, fresh_zeroed),
        ZERO_PAGE if !write => map_page(space, page, space.flags().1, || {
            ZERO_FRAME.load(Ordering::Relaxed)
        }),
        ZERO_PAGE => map_page(space, page, space.flags().0, fresh_zeroed),
        // No page table yet (the first fault of its 2 MiB span): make it, then map.
        PT_ON_DEMAND => {
            map_page(space, page, space.flags().0, fresh_zeroed)
                || (make_table(space, page) && map_page(space, page, space.flags().0, fresh_zeroed))
        }
        HUGE_2M => match map_huge(space, page, start, end) {
            Some(done) => done,
            None => {
                HUGE_FALLBACKS.add(1);
                map_page(space, page, space.flags().0, fresh_zeroed)
            }
        },
        PREZEROED => map_page(space, page, space.flags().0, || {
            pool_pop().unwrap_or_else(|| {
                POOL_MISSES.add(1);
                fresh_zeroed()
            })
        }),
        FAULT_AROUND => {
            map_around(space, page, start, end, space.flags().0);
            true
        }
        _ => false,
    }
}

/// Map `page` to the frame `frame()` gives, with `flags`, unless it is mapped already (then
/// the access is retried as it is).
#[inline(always)]
fn map_page(space: Space, page: u64, flags: u64, frame: impl FnOnce() -> u64) -> bool {
    // The walk inlined here, the common step of every variant (a call would add its frame
    // to every fault).
    let slot = match space {
        Space::Kernel => mm::pte_slot_inline(page),
        Space::User => crate::mm::uspace::pte_slot_inline(page),
    };
    let Some(slot) = slot else {
        return false;
    };
    if slot.load(Ordering::Relaxed) & PTE_P == 0 {
        slot.store(frame() | flags, Ordering::Relaxed);
    }
    true
}

/// A frame from this CPU's cache, zeroed.
#[inline(always)]
fn fresh_zeroed() -> u64 {
    let f = cache_pop();
    zero_frame(f);
    f
}

/// A write to the shared zero page: give this page its own zeroed frame.
#[inline]
fn unshare_zero_page(space: Space, page: u64) -> bool {
    let Some(slot) = space.pte_slot(page) else {
        return false;
    };
    let pte = slot.load(Ordering::Relaxed);
    let zero = ZERO_FRAME.load(Ordering::Relaxed);
    if pte & PTE_P == 0 || pte & PTE_ADDR_MASK != zero || pte & PTE_RW != 0 {
        return false;
    }
    slot.store(fresh_zeroed() | space.flags().0, Ordering::Relaxed);
    arch::tlb::invlpg(page);
    true
}

/// `PtOnDemand`: allocate, zero and link the page table of `page`'s 2 MiB span.
fn make_table(space: Space, page: u64) -> bool {
    let Some(pde) = space.pde_slot(page) else {
        return false;
    };
    if pde.load(Ordering::Relaxed) & PTE_P != 0 {
        return true;
    }
    // Not-present entries are never cached (SDM 4.10.2.3): no invalidation needed.
    pde.store(fresh_zeroed() | space.table_flags(), Ordering::Relaxed);
    TABLES_MADE.add(1);
    true
}

/// `FaultAround`: map every unmapped page of the aligned window of `AROUND` pages (counted
/// from the arena's start) that holds `page`.
fn map_around(space: Space, page: u64, start: u64, end: u64, flags: u64) {
    let n = AROUND.read().max(1);
    let first = start + (page - start) / PAGE_SIZE / n * n * PAGE_SIZE;
    for i in 0..n {
        let p = first + i * PAGE_SIZE;
        if p >= end {
            break;
        }
        let Some(slot) = space.pte_slot(p) else {
            continue;
        };
        if slot.load(Ordering::Relaxed) & PTE_P == 0 {
            slot.store(fresh_zeroed() | flags, Ordering::Relaxed);
        }
    }
}

/// Whether the page table at `table` (physical) maps nothing.
fn table_empty(table: u64) -> bool {
    mm::table_at(table)
        .iter()
        .all(|e| e.load(Ordering::Relaxed) & PTE_P == 0)
}

/// `Huge2M`: map the whole 2 MiB span of `page` with a zeroed 2 MiB page. None when it
/// cannot (the span is not wholly in the arena, no run set aside, a page table there maps
/// something): the caller maps 4 KiB instead.
fn map_huge(space: Space, page: u64, start: u64, end: u64) -> Option<bool> {
    let region = page & !(HUGE_SIZE - 1);
    if region < start || region + HUGE_SIZE > end {
        return None;
    }
    let pde = space.pde_slot(region)?;
    let old = pde.load(Ordering::Relaxed);
    if old & (PTE_P | PTE_PS) == PTE_P | PTE_PS {
        return Some(true);
    }
    let table = (old & PTE_P != 0).then_some(old & PTE_ADDR_MASK);
    if table.is_some_and(|t| !table_empty(t)) {
        return None;
    }
    let f = huge_pop()?;
    zero_range(f, HUGE_SIZE);
    pde.store(f | space.huge_flags(), Ordering::Relaxed);
    if let Some(t) = table {
        // The span's old page table may sit in the paging-structure caches: INVLPG drops
        // every such entry of the current PCID (SDM 4.10.4.1) before the frame is reused.
        arch::tlb::invlpg(region);
        cache_push(t);
    }
    Some(true)
}

/// Zero `len` bytes (a multiple of 8) from `phys` with REP STOSQ through the direct map.
#[inline(always)]
fn zero_range(phys: u64, len: u64) {
    let virt = mm::phys_to_virt(phys);
    // SAFETY: `[phys, phys + len)` is memory the caller owns (a frame, or a run from
    // `alloc_huge`), mapped writable by the direct map.
    unsafe {
        core::arch::asm!(
            "rep stosq",
            inout("rdi") virt => _,
            inout("rcx") len / 8 => _,
            in("rax") 0u64,
            options(nostack, preserves_flags)
        )
    };
}

fn huge_pop() -> Option<u64> {
    // SAFETY: the fault handler runs with interrupts off and the closure does not touch
    // HUGE again.
    unsafe {
        HUGE.with_irqs_off(|c| {
            (c.len > 0).then(|| {
                c.len -= 1;
                c.frames[c.len]
            })
        })
    }
}

/// Set aside up to `n` 2 MiB runs for `Huge2M` faults on this CPU; returns how many it holds.
pub fn huge_fill(n: usize) -> usize {
    let _irq = percpu::IrqGuard::new();
    // SAFETY: interrupts are off (`_irq`); the closure does not touch HUGE again.
    unsafe {
        HUGE.with_irqs_off(|c| {
            while c.len < n.min(HUGE_CACHE) {
                match mm::alloc_huge() {
                    Some(f) => {
                        c.frames[c.len] = f;
                        c.len += 1;
                    }
                    None => break,
                }
            }
            c.len
        })
    }
}

/// Give back the runs `huge_fill` set aside and no fault used.
pub fn huge_drain() {
    let _irq = percpu::IrqGuard::new();
    // SAFETY: as in `huge_fill`.
    unsafe {
        HUGE.with_irqs_off(|c| {
            while c.len > 0 {
                c.len -= 1;
                mm::free_huge(c.frames[c.len]);
            }
        })
    }
}

/// Unmap every 2 MiB page of this CPU's arena in `space`, free its run and invalidate its
/// translation (only this CPU used it); returns how many. The span keeps no table: `prepare`
/// rebuilds them.
pub fn release_huge(space: Space) -> usize {
    let _irq = percpu::IrqGuard::new();
    let (start, end) = space.arena();
    let mut n = 0;
    let mut region = start.next_multiple_of(HUGE_SIZE);
    while region + HUGE_SIZE <= end {
        if let Some(pde) = space.pde_slot(region) {
            let e = pde.load(Ordering::Relaxed);
            if e & (PTE_P | PTE_PS) == PTE_P | PTE_PS {
                pde.store(0, Ordering::Relaxed);
                arch::tlb::invlpg(region);
                mm::free_huge(e & PTE_ADDR_MASK);
                n += 1;
            }
        }
        region += HUGE_SIZE;
    }
    n
}

/// `PtOnDemand`: remove the (empty) page tables of every 2 MiB span wholly inside this CPU's
/// arena in `space`, so the next faults there allocate them; returns how many it removed. A
/// table that still maps a page stays.
pub fn drop_tables(space: Space) -> usize {
    let _irq = percpu::IrqGuard::new();
    let (start, end) = space.arena();
    let mut n = 0;
    let mut span = start.next_multiple_of(HUGE_SIZE);
    while span + HUGE_SIZE <= end {
        if let Some(pde) = space.pde_slot(span) {
            let e = pde.load(Ordering::Relaxed);
            if e & PTE_P != 0 && e & PTE_PS == 0 && table_empty(e & PTE_ADDR_MASK) {
                pde.store(0, Ordering::Relaxed);
                // The table may be in the paging-structure caches (SDM 4.10.4.1).
                arch::tlb::invlpg(span);
                cache_push(e & PTE_ADDR_MASK);
                n += 1;
            }
        }
        span += HUGE_SIZE;
    }
    n
}

/// The page-directory entry of the 2 MiB span at `span` in `space` (for the checks).
pub fn pde_of(space: Space, span: u64) -> u64 {
    space
        .pde_slot(span)
        .map_or(0, |e| e.load(Ordering::Relaxed))
}

// ---- faults of every CPU in one shared region ----

/// The shared fault region of the user address space (`kernel_core::uspace::SHARED_FAULTS`).
const SHARED_START: u64 = kernel_core::uspace::SHARED_FAULTS;
const SHARED_END: u64 = SHARED_START + kernel_core::uspace::SHARED_FAULT_PAGES * PAGE_SIZE;
/// Bytes one region lock covers (the `Region` control): 8 MiB, four page tables.
pub const SHARED_REGION: u64 = 8 << 20;
const REGIONS: usize = ((SHARED_END - SHARED_START) / SHARED_REGION) as usize;
const TABLES: usize = ((SHARED_END - SHARED_START) / HUGE_SIZE) as usize;

/// How faults in the shared region are serialised (`kernel_core::cmdline::PF_CONTROLS`,
/// same order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Control {
    /// One lock for the whole space (a `mmap_lock` taken for writing).
    Space = 0,
    /// One lock per 8 MiB region (a lock per VMA).
    Region = 1,
    /// One lock per page-table page (Linux's split PTE lock).
    Table = 2,
    /// No lock: the frame is zeroed first and installed with one compare-and-swap on the PTE;
    /// a CPU that loses gives its frame back.
    Cas = 3,
    /// The negative control: check, zero, store, with no lock; two CPUs faulting one page at
    /// once both map it (the check counts mappings and must fail).
    None = 4,
}

impl Control {
    pub const ALL: [Control; 5] = [
        Control::Space,
        Control::Region,
        Control::Table,
        Control::Cas,
        Control::None,
    ];

    pub fn name(self) -> &'static str {
        kernel_core::cmdline::PF_CONTROLS[self as usize]
    }
}

const _: () = assert!(Control::ALL.len() == kernel_core::cmdline::PF_CONTROLS.len());

/// Whether faults in the shared region are served, and under which control.
static SHARED_ON: AtomicBool = AtomicBool::new(false);
static SHARED_CONTROL: AtomicU8 = AtomicU8::new(0);
/// Mappings the shared path made (each page exactly once when the control is right) and the
/// faults that found their page already mapped by another CPU.
pub static SHARED_MAPS: AtomicU64 = AtomicU64::new(0);
pub static SHARED_RETRIES: AtomicU64 = AtomicU64::new(0);
/// The locks, each on its own pair of cache lines (written by every faulting CPU).
static SPACE_LOCK: CacheAligned<AtomicBool> = CacheAligned(AtomicBool::new(false));
static REGION_LOCKS: [CacheAligned<AtomicBool>; REGIONS] =
    [const { CacheAligned(AtomicBool::new(false)) }; REGIONS];
static TABLE_LOCKS: [CacheAligned<AtomicBool>; TABLES] =
    [const { CacheAligned(AtomicBool::new(false)) }; TABLES];

/// A test-and-test-and-set lock; the wait yields (PAUSE), as every wait does.
struct SpinGuard(&'static AtomicBool);

impl SpinGuard {
    #[inline]
    fn lock(l: &'static AtomicBool) -> SpinGuard {
        while l
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while l.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
        SpinGuard(l)
    }
}

impl Drop for SpinGuard {
    #[inline]
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Build the shared region's page tables (once; then a mapping is one PTE write) and serve
/// its faults under `control` from now on, counting from zero.
pub fn shared_enable(control: Control) {
    crate::mm::uspace::prepare_tables(SHARED_START, SHARED_END - SHARED_START);
    SHARED_MAPS.store(0, Ordering::Relaxed);
    SHARED_RETRIES.store(0, Ordering::Relaxed);
    SHARED_CONTROL.store(control as u8, Ordering::Relaxed);
    SHARED_ON.store(true, Ordering::Release);
}

pub fn shared_disable() {
    SHARED_ON.store(false, Ordering::Release);
}

/// A not-present user fault in the shared region, from any CPU: served under the control.
#[inline(never)]
fn try_shared(frame: &ExceptionFrame) -> bool {
    let addr = arch::read_cr2();
    if frame.error_code & (PF_USER | PF_PRESENT) != PF_USER
        || !(SHARED_START..SHARED_END).contains(&addr)
    {
        return false;
    }
    let t0 = crate::arch::tsc::start();
    let served = shared_fault(addr & !(PAGE_SIZE - 1));
    HANDLER_CYCLES.write(crate::arch::tsc::stop().wrapping_sub(t0));
    served
}

/// A not-present user fault at `page` of the shared region, from any CPU.
fn shared_fault(page: u64) -> bool {
    let Some(slot) = crate::mm::uspace::pte_slot_inline(page) else {
        return false;
    };
    let flags = Space::User.flags().0;
    let map_if_none = || {
        if slot.load(Ordering::Relaxed) & PTE_P != 0 {
            SHARED_RETRIES.fetch_add(1, Ordering::Relaxed);
        } else {
            slot.store(fresh_zeroed() | flags, Ordering::Relaxed);
            SHARED_MAPS.fetch_add(1, Ordering::Relaxed);
        }
    };
    let offset = page - SHARED_START;
    const SPACE: u8 = Control::Space as u8;
    const REGION: u8 = Control::Region as u8;
    const TABLE: u8 = Control::Table as u8;
    const CAS: u8 = Control::Cas as u8;
    const NONE: u8 = Control::None as u8;
    match SHARED_CONTROL.load(Ordering::Relaxed) {
        SPACE => {
            let _g = SpinGuard::lock(&SPACE_LOCK);
            map_if_none();
        }
        REGION => {
            let _g = SpinGuard::lock(&REGION_LOCKS[(offset / SHARED_REGION) as usize]);
            map_if_none();
        }
        TABLE => {
            let _g = SpinGuard::lock(&TABLE_LOCKS[(offset / HUGE_SIZE) as usize]);
            map_if_none();
        }
        CAS => {
            let f = fresh_zeroed();
            match slot.compare_exchange(0, f | flags, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    SHARED_MAPS.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    cache_push(f);
                    SHARED_RETRIES.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        NONE => map_if_none(),
        _ => return false,
    }
    true
}

/// Unmap every page of the shared region and give its frames to this CPU's cache; returns
/// how many were mapped. Only while no CPU has the user space loaded: each CPU's next load
/// of it flushes its PCID (`uspace::activate`), so no translation of a freed frame survives.
pub fn shared_release() -> u64 {
    let _irq = percpu::IrqGuard::new();
    let mut n = 0;
    let mut page = SHARED_START;
    while page < SHARED_END {
        if let Some(slot) = crate::mm::uspace::pte_slot_inline(page) {
            let e = slot.swap(0, Ordering::Relaxed);
            if e & PTE_P != 0 {
                cache_push(e & PTE_ADDR_MASK);
                n += 1;
            }
        }
        page += PAGE_SIZE;
    }
    n
}

/// The PTE of `page` in the shared region (for the checks).
pub fn shared_pte(page: u64) -> u64 {
    crate::mm::uspace::pte_slot(page).map_or(0, |s| s.load(Ordering::Relaxed))
}

// ---- the pre-zeroed pool ----

fn pool_pop() -> Option<u64> {
    let n = POOL_LEN.read();
    if n == 0 {
        return None;
    }
    POOL_LEN.write(n - 1);
    // SAFETY: `with_pool` set POOL_PTR to a live `&mut [u64]` of POOL_CAP elements that only
    // this CPU's pool functions touch until it clears it; `n - 1 < POOL_LEN <= POOL_CAP`.
    Some(unsafe { ((POOL_PTR.read() + (n - 1) * 8) as *const u64).read() })
}

/// Run `f` with `buf` as this CPU's pre-zeroed pool (empty at first: `pool_fill`); the
/// frames left in it at the end go back to the frame cache.
pub fn with_pool<R>(buf: &mut [u64], f: impl FnOnce() -> R) -> R {
    POOL_LEN.write(0);
    POOL_CAP.write(buf.len() as u64);
    POOL_PTR.write(buf.as_mut_ptr() as u64);
    let r = f();
    let _irq = percpu::IrqGuard::new();
    while let Some(frame) = pool_pop() {
        cache_push(frame);
    }
    POOL_PTR.write(0);
    POOL_CAP.write(0);
    r
}

/// Fill this CPU's pool to its capacity with frames zeroed by `method` (outside any timed
/// region: the work an idle CPU would do); returns the TSC ticks spent per frame.
pub fn pool_fill(method: ZeroMethod) -> u64 {
    let _irq = percpu::IrqGuard::new();
    let (cap, ptr) = (POOL_CAP.read(), POOL_PTR.read());
    let mut n = POOL_LEN.read();
    let first = n;
    let t0 = crate::arch::tsc::start();
    while n < cap {
        let f = cache_pop();
        zero_frame_with(method, f);
        // SAFETY: as in `pool_pop`; `n < POOL_CAP`.
        unsafe { ((ptr + n * 8) as *mut u64).write(f) };
        n += 1;
    }
    let t = crate::arch::tsc::stop().wrapping_sub(t0);
    POOL_LEN.write(n);
    t / (n - first).max(1)
}

/// Audit every frame in this CPU's pool: (frames checked, frames not wholly zero).
pub fn pool_audit() -> (u64, u64) {
    let n = POOL_LEN.read();
    let mut bad = 0;
    for i in 0..n {
        // SAFETY: as in `pool_pop`; `i < POOL_LEN`.
        let f = unsafe { ((POOL_PTR.read() + i * 8) as *const u64).read() };
        // The frame as 512 words (one allocator check per frame).
        if mm::table_at(f)
            .iter()
            .any(|w| w.load(Ordering::Relaxed) != 0)
        {
            bad += 1;
        }
    }
    (n, bad)
}

/// The negative control of the pool audit (`pf_break=poison_pool`): one word of the pool's
/// last frame (the next one a fault takes) becomes nonzero.
pub fn pool_poison() {
    let n = POOL_LEN.read();
    if n > 0 {
        // SAFETY: as in `pool_pop`; `n - 1 < POOL_LEN`.
        let f = unsafe { ((POOL_PTR.read() + (n - 1) * 8) as *const u64).read() };
        mm::frame_word(f, 8).store(0xbad, Ordering::Relaxed);
    }
}

/// Run `f` while this CPU's fault handler appends its time for each fault it serves to `log`;
/// returns `f`'s result and the number of entries written.
pub fn with_handler_log<R>(log: &mut [u64], f: impl FnOnce() -> R) -> (R, usize) {
    LOG_LEN.write(0);
    LOG_CAP.write(log.len() as u64);
    LOG_PTR.write(log.as_mut_ptr() as u64);
    let r = f();
    LOG_PTR.write(0);
    (r, LOG_LEN.read() as usize)
}

/// What `release` found in the pages it unmapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Released {
    pub mapped: usize,
    pub zero_page: usize,
}

/// Unmap `pages` pages of this CPU's arena in `space` from its start, return their frames to
/// the cache and invalidate this CPU's translations (only this CPU used them; for the user
/// arena the space must be loaded).
pub fn release(space: Space, pages: usize) -> Released {
    let _irq = percpu::IrqGuard::new();
    let (start, _) = space.arena();
    let zero = ZERO_FRAME.load(Ordering::Relaxed);
    let mut r = Released::default();
    for i in 0..pages {
        let page = start + i as u64 * PAGE_SIZE;
        let Some(slot) = space.pte_slot(page) else {
            continue;
        };
        let pte = slot.swap(0, Ordering::Relaxed);
        if pte & PTE_P == 0 {
            continue;
        }
        arch::tlb::invlpg(page);
        let f = pte & PTE_ADDR_MASK;
        if f == zero {
            r.zero_page += 1;
        } else {
            r.mapped += 1;
            cache_push(f);
        }
    }
    r
}
