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

use core::sync::atomic::{AtomicU64, Ordering};

use kernel_core::paging::{PTE_ADDR_MASK, PTE_G, PTE_P, PTE_RW, PTE_US};
use percpu::{layout, percpu};

use crate::arch;
use crate::arch::idt::{ExceptionFrame, PF_PRESENT, PF_USER, PF_WRITE};
use crate::mm::{self, PAGE_SIZE};

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

/// A variant of the fault path: what a not-present fault in an arena maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Variant {
    /// Every fault, read or write, maps a private zeroed frame from the per-CPU cache.
    DemandZero = 0,
    /// A read fault maps the shared zero frame read-only (Linux's zero page for anonymous
    /// reads); a write fault, or a later write to the zero page, a private zeroed frame.
    ZeroPage = 1,
}

impl Variant {
    /// Every variant, in the order the benchmark runs them.
    pub const ALL: &[Variant] = &[Variant::DemandZero, Variant::ZeroPage];

    /// The `variant` param of the results measured under it.
    pub fn name(self) -> &'static str {
        match self {
            Variant::DemandZero => "demand_zero",
            Variant::ZeroPage => "zero_page",
        }
    }
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
    let virt = mm::phys_to_virt(phys);
    // SAFETY: `phys` is a frame the caller owns, mapped writable by the direct map.
    unsafe {
        core::arch::asm!(
            "rep stosq",
            inout("rdi") virt => _,
            inout("rcx") PAGE_SIZE / 8 => _,
            in("rax") 0u64,
            options(nostack, preserves_flags)
        )
    };
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
        return false;
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
    let Some(slot) = space.pte_slot(page) else {
        return false;
    };
    let (anon_flags, zero_flags) = space.flags();
    let pte = slot.load(Ordering::Relaxed);
    let zero = ZERO_FRAME.load(Ordering::Relaxed);
    let write = frame.error_code & PF_WRITE != 0;
    if frame.error_code & PF_PRESENT == 0 {
        if pte & PTE_P != 0 {
            // Mapped meanwhile (cannot happen on an arena only this CPU touches): retry.
        } else if !write && VARIANT.read() == Variant::ZeroPage as u8 {
            slot.store(zero | zero_flags, Ordering::Relaxed);
        } else {
            let f = cache_pop();
            zero_frame(f);
            slot.store(f | anon_flags, Ordering::Relaxed);
        }
    } else if write && pte & PTE_P != 0 && pte & PTE_ADDR_MASK == zero && pte & PTE_RW == 0 {
        // Write to the shared zero page: give this page its own zeroed frame.
        let f = cache_pop();
        zero_frame(f);
        slot.store(f | anon_flags, Ordering::Relaxed);
        arch::tlb::invlpg(page);
    } else {
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
