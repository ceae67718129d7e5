//! The user address space the benchmarks run ring-3 code in: one set of page tables that
//! every CPU loads (a process with one thread per CPU). Its kernel half is the kernel's own:
//! the upper 256 PML4 entries point at the kernel's PDPTs, which all exist from boot, so
//! nothing kernel-side ever needs copying again. The lower half follows
//! `kernel_core::uspace` (program text, shared page, stacks, sample buffers, the shootdown
//! region, the demand-zero arenas). User pages are never global; where the CPU has PCIDs the
//! space runs as PCID [`USER_PCID`] and the kernel's tables as PCID 0.
//!
//! The kernel reaches user memory through user addresses only inside
//! [`UserAccess`](crate::arch::user::UserAccess) (STAC/CLAC); the shared page is kernel data
//! (`SHARED`) mapped into the space as well.

pub mod programs;

use core::sync::atomic::{AtomicU64, Ordering};

use kernel_core::paging::{CacheMode, PageFlags, PageSize};
use kernel_core::uspace as ul;
use percpu::MAX_CPUS;

use crate::arch::idt::{ExceptionFrame, VEC_INVALID_OPCODE, VEC_PAGE_FAULT};
use crate::arch::user::{self, Exit, UserCall};
use crate::arch::{self, cpu};
use crate::mm::{self, KERNEL_PML4, PAGE_SIZE};
pub use programs::Program;

/// PCID of the user address space (the kernel's tables run as PCID 0).
pub const USER_PCID: u64 = 1;
/// CR3 bit 63 with CR4.PCIDE: keep the TLB entries of the PCID being loaded (SDM vol. 3A,
/// 4.10.4.1).
const CR3_NOFLUSH: u64 = 1 << 63;

/// State shared between the kernel and ring-3 code (mapped at `kernel_core::uspace::SHARED`):
/// the shootdown oracle's control words and each CPU's last checked generation. The user
/// reader program reads these offsets (see `programs.rs`).
#[repr(C, align(4096))]
pub struct Shared {
    /// Readers stop when non-zero.
    pub stop: AtomicU64,
    /// The generation every reader must see.
    pub generation: AtomicU64,
    /// Pages the readers read each pass.
    pub read_pages: AtomicU64,
    /// Reads that returned an older generation (not the poison): an old frame not yet
    /// recycled, read through an old translation.
    pub stale_reads: AtomicU64,
    /// Non-zero: readers also write the generation they expect at this byte offset of each
    /// page they read (the oracle's writer variant).
    pub write_offset: AtomicU64,
    /// Bytes between two pages a reader reads (4096: consecutive pages).
    pub read_stride: AtomicU64,
    /// Reads that returned the poison: a recycled frame read through an old translation.
    pub recycled_reads: AtomicU64,
    /// A reader executes PAUSE after every `pause_mask + 1` reads (a power of two): see
    /// [`reads_per_pause`].
    pub pause_mask: AtomicU64,
    /// Non-zero in the deterministic mode: readers also execute PAUSE at the end of each
    /// pass, their count of reads restarting with each pass (a turn of QEMU's round robin
    /// then ends at the same point of every pass: exact figures), and the gap reader in every
    /// step (elsewhere a PAUSE is itself a gap under TCG, which leaves its loop for each).
    pub deterministic: AtomicU64,
    _pad: u64,
    /// Per CPU: the generation its last complete pass expected.
    pub checked: [AtomicU64; MAX_CPUS],
    /// Per CPU: the TSC of its last stale read.
    pub stale_tsc: [AtomicU64; MAX_CPUS],
}

const _: () = assert!(core::mem::size_of::<Shared>() as u64 <= ul::SHARED_MAX);

/// Reads a shootdown reader (the kernel's and the ring-3 `reader` program) makes between two
/// PAUSEs, counted across its passes: few in the deterministic mode, where each PAUSE is a
/// turn of QEMU's round robin and so bounds what a reader adds to a measurement; more
/// elsewhere: under multi-threaded TCG each PAUSE leaves the vCPU's loop and takes QEMU's
/// global lock, which the initiator's APIC writes need, and on hardware a PAUSE costs up to
/// ~140 cycles that a reader need not pay on every page.
pub const fn reads_per_pause(deterministic: bool) -> u64 {
    if deterministic {
        READS_PER_PAUSE
    } else {
        READS_PER_PAUSE_ELSEWHERE
    }
}

/// [`reads_per_pause`] in the deterministic mode.
pub const READS_PER_PAUSE: u64 = 8;
/// [`reads_per_pause`] elsewhere.
pub const READS_PER_PAUSE_ELSEWHERE: u64 = 64;
const _: () =
    assert!(READS_PER_PAUSE.is_power_of_two() && READS_PER_PAUSE_ELSEWHERE.is_power_of_two());

/// Set the readers' PAUSE cadence ([`reads_per_pause`], [`Shared::deterministic`]).
pub fn set_pause_cadence(deterministic: bool) {
    SHARED
        .pause_mask
        .store(reads_per_pause(deterministic) - 1, Ordering::Release);
    SHARED
        .deterministic
        .store(u64::from(deterministic), Ordering::Release);
}

pub static SHARED: Shared = Shared {
    stop: AtomicU64::new(0),
    generation: AtomicU64::new(0),
    read_pages: AtomicU64::new(0),
    stale_reads: AtomicU64::new(0),
    write_offset: AtomicU64::new(0),
    read_stride: AtomicU64::new(4096),
    recycled_reads: AtomicU64::new(0),
    pause_mask: AtomicU64::new(READS_PER_PAUSE - 1),
    deterministic: AtomicU64::new(0),
    _pad: 0,
    checked: [const { AtomicU64::new(0) }; MAX_CPUS],
    stale_tsc: [const { AtomicU64::new(0) }; MAX_CPUS],
};

/// The space's PML4 (physical), and the lock serialising changes to its tables (the PTEs of
/// an arena or of the shootdown region are written by their one owner without it).
static PML4: spin::Once<u64> = spin::Once::new();
static TABLES: spin::Mutex<()> = spin::Mutex::new(());

const fn user_flags(writable: bool, executable: bool) -> PageFlags {
    PageFlags {
        writable,
        user: true,
        executable,
        global: false,
        cache: CacheMode::WriteBack,
    }
}

/// The space's PML4, built on first use: kernel half shared, program text and the shared
/// page mapped.
pub fn pml4() -> u64 {
    pml4_now()
}

#[inline(always)]
fn pml4_now() -> u64 {
    *PML4.call_once(build)
}

fn build() -> u64 {
    let root = mm::alloc_frame().expect("out of memory for the user PML4");
    let kernel = KERNEL_PML4.load(Ordering::Relaxed);
    // SAFETY: both PML4s are frames reached through the direct map; the new one is ours.
    unsafe {
        let new = mm::phys_to_virt(root) as *mut u64;
        let old = mm::phys_to_virt(kernel) as *const u64;
        for i in 0..512 {
            let e = if i >= mm::layout::KERNEL_HALF_FIRST_PML4_SLOT {
                old.add(i).read_volatile()
            } else {
                0
            };
            new.add(i).write_volatile(e);
        }
    }
    let code = programs::blob();
    assert!(code.len() as u64 <= ul::CODE_MAX, "user programs too large");
    // The shared state's frames (kernel data), looked up before the mapper holds the frame
    // allocator's lock.
    let shared = &raw const SHARED as u64;
    let shared_pages = (core::mem::size_of::<Shared>() as u64).div_ceil(PAGE_SIZE);
    let mut shared_frames = [0u64; (ul::SHARED_MAX / PAGE_SIZE) as usize];
    for (i, f) in shared_frames[..shared_pages as usize]
        .iter_mut()
        .enumerate()
    {
        *f = mm::virt_to_phys(shared + i as u64 * PAGE_SIZE).expect("SHARED is mapped");
    }
    let _g = TABLES.lock();
    mm::with_mapper(root, |mapper, src| {
        let mut off = 0;
        while off < code.len() {
            let f = kernel_core::paging::FrameSource::alloc_frame(src).expect("out of memory");
            let n = (code.len() - off).min(PAGE_SIZE as usize);
            // SAFETY: a fresh frame through the direct map; the text is copied, the rest of
            // the page is filled with INT3 (0xCC).
            unsafe {
                let dst = mm::phys_to_virt(f) as *mut u8;
                core::ptr::write_bytes(dst, 0xCC, PAGE_SIZE as usize);
                core::ptr::copy_nonoverlapping(code.as_ptr().add(off), dst, n);
            }
            mapper
                .map(
                    ul::CODE + off as u64,
                    f,
                    PageSize::Size4K,
                    user_flags(false, true),
                    src,
                )
                .expect("map user text");
            off += PAGE_SIZE as usize;
        }
        for (i, &phys) in shared_frames[..shared_pages as usize].iter().enumerate() {
            let i = i as u64;
            mapper
                .map(
                    ul::SHARED + i * PAGE_SIZE,
                    phys,
                    PageSize::Size4K,
                    user_flags(true, false),
                    src,
                )
                .expect("map the shared page");
        }
    });
    root
}

/// The value to load into CR3 for this space.
fn cr3_value(flush: bool) -> u64 {
    if cpu::pcid_enabled() {
        pml4() | USER_PCID | if flush { 0 } else { CR3_NOFLUSH }
    } else {
        pml4()
    }
}

/// How the TLB of a CPU that is not running the space learns of changes to it (Linux's
/// `tlb_gen` and `invalidate_user_asid` pattern). With PCIDs, leaving the space keeps its
/// PCID's entries (NOFLUSH), so a change made while a CPU is elsewhere must reach that PCID:
/// - a shootdown request for the space that arrives while the CPU runs another PCID
///   invalidates [`USER_PCID`] explicitly with INVPCID where the CPU has it, else marks the
///   PCID stale (`invalidate_inactive`);
/// - a change made without any shootdown (the benchmark remapping the region while no
///   reader runs) bumps the space's generation (`changed_without_shootdown`);
/// - `activate` loads the space without a flush only when this CPU has seen the current
///   generation and its PCID is not stale, so PCIDs really keep their entries across switches.
static SPACE_GEN: AtomicU64 = AtomicU64::new(1);

percpu::percpu! {
    /// The space generation this CPU's PCID-1 entries reflect (0: never loaded).
    static SEEN_GEN: u64 = 0;
    /// 1 when a request for the space reached this CPU while it ran another PCID and could
    /// not be applied to USER_PCID directly (no INVPCID).
    static USER_PCID_STALE: u8 = 0;
}

/// The space's translations changed without a shootdown reaching every CPU: every CPU
/// flushes its PCID on its next `activate`.
pub fn changed_without_shootdown() {
    SPACE_GEN.fetch_add(1, Ordering::AcqRel);
}

/// Apply an invalidation of the space on a CPU that is not running it: INVPCID on
/// USER_PCID (type 0 per page, type 1 for everything) where the CPU has INVPCID, else mark
/// the PCID stale so the next `activate` flushes it. Without PCIDs the CPU holds none of the
/// space's entries (loading another CR3 flushed them), and marking is harmless.
pub fn invalidate_inactive(start: u64, pages: u64, full: bool) {
    if cpu::pcid_enabled() && cpu::features().invpcid {
        if full {
            arch::tlb::invpcid(arch::tlb::InvpcidType::SingleContext, USER_PCID, 0);
        } else {
            for i in 0..pages {
                arch::tlb::invpcid(
                    arch::tlb::InvpcidType::Address,
                    USER_PCID,
                    start + i * PAGE_SIZE,
                );
            }
        }
    } else {
        USER_PCID_STALE.write(1);
    }
}

/// This CPU runs in the user address space until the guard drops (back to the kernel's
/// tables, PCID 0, keeping the space's entries). Loading it flushes the space's PCID unless
/// this CPU has seen every change since it last ran it (see [`SPACE_GEN`]).
pub struct Active(());

pub fn activate() -> Active {
    let g = SPACE_GEN.load(Ordering::Acquire);
    let flush = SEEN_GEN.read() != g || USER_PCID_STALE.read() != 0;
    // The `linux` protocol's flush generation, read before a load that flushes.
    let tlb_gen = crate::mm::tlb::linux::generation();
    let v = cr3_value(flush);
    // SAFETY: the space's kernel half is the kernel's, so the running code, stack and data
    // stay mapped at the same addresses.
    unsafe { arch::write_cr3(v) };
    SEEN_GEN.write(g);
    USER_PCID_STALE.write(0);
    // Without PCIDs every load flushes the space's entries.
    let flushed = flush || !cpu::pcid_enabled();
    crate::mm::tlb::linux::space_loaded(flushed.then_some(tlb_gen));
    Active(())
}

impl Drop for Active {
    fn drop(&mut self) {
        crate::mm::tlb::linux::space_unloaded();
        let k = KERNEL_PML4.load(Ordering::Relaxed);
        let v = if cpu::pcid_enabled() {
            k | CR3_NOFLUSH
        } else {
            k
        };
        // SAFETY: the kernel's own tables; PCID 0 keeps its entries.
        unsafe { arch::write_cr3(v) };
    }
}

/// Whether this CPU runs in the user address space now.
pub fn is_active() -> bool {
    PML4.get()
        .is_some_and(|&p| arch::read_cr3() & kernel_core::paging::PTE_ADDR_MASK == p)
}

/// Map `[virt, virt + len)` with fresh zeroed frames, user read-write, no-execute; pages
/// already mapped are kept.
pub fn map_fresh(virt: u64, len: u64) {
    let root = pml4();
    let _g = TABLES.lock();
    mm::with_mapper(root, |mapper, src| {
        let mut v = virt;
        while v < virt + len {
            if mapper.translate(v).is_none() {
                let f = kernel_core::paging::FrameSource::alloc_frame(src).expect("out of memory");
                // SAFETY: a fresh frame through the direct map.
                unsafe {
                    core::ptr::write_bytes(mm::phys_to_virt(f) as *mut u8, 0, PAGE_SIZE as usize)
                };
                mapper
                    .map(v, f, PageSize::Size4K, user_flags(true, false), src)
                    .expect("map user memory");
            }
            v += PAGE_SIZE;
        }
    })
}

/// Run `code` in ring 3 so that it ends exactly at the top of the lower half (its last byte
/// is the last user address): with a SYSCALL there, the return address is non-canonical.
/// The page is mapped user read-execute on first use; interrupts stay off.
pub fn run_at_top(code: &[u8]) -> Exit {
    assert!(
        is_active(),
        "the user address space is not loaded on this CPU"
    );
    assert!(code.len() <= PAGE_SIZE as usize);
    let root = pml4();
    let phys = {
        let _g = TABLES.lock();
        mm::with_mapper(root, |mapper, src| match mapper.translate(ul::TOP_PAGE) {
            Some(t) => t.phys,
            None => {
                let f = kernel_core::paging::FrameSource::alloc_frame(src).expect("out of memory");
                mapper
                    .map(
                        ul::TOP_PAGE,
                        f,
                        PageSize::Size4K,
                        user_flags(false, true),
                        src,
                    )
                    .expect("map the top page");
                f
            }
        })
    };
    let at = PAGE_SIZE as usize - code.len();
    // SAFETY: the page's frame, ours, through the direct map; the user space does not run
    // on any CPU now but this one, which is in the kernel.
    unsafe {
        let page = mm::phys_to_virt(phys) as *mut u8;
        core::ptr::write_bytes(page, 0xCC, at);
        core::ptr::copy_nonoverlapping(code.as_ptr(), page.add(at), code.len());
    }
    let me = arch::cpu_id() as usize;
    user::enter(&UserCall {
        rip: ul::TOP_PAGE + at as u64,
        rsp: stack_top(me),
        rflags: user::RFLAGS_RESERVED1,
        args: [0; 4],
    })
}

/// Build the page tables (user-accessible) down to the 4 KiB level for `[virt, virt + len)`
/// so that mapping a page there is one PTE write; nothing stays mapped.
pub fn prepare_tables(virt: u64, len: u64) {
    const SPAN: u64 = 2 << 20;
    let root = pml4();
    let _g = TABLES.lock();
    mm::with_mapper(root, |mapper, src| {
        let mut v = virt;
        while v < virt + len {
            if mm::pte_slot_in(root, v).is_none() {
                let dummy =
                    kernel_core::paging::FrameSource::alloc_frame(src).expect("out of memory");
                mapper
                    .map(v, dummy, PageSize::Size4K, user_flags(true, false), src)
                    .expect("build user page tables");
                mapper.unmap(v).expect("just mapped");
                arch::tlb::invlpg(v);
                src.free(dummy);
            }
            v = (v / SPAN + 1) * SPAN;
        }
    })
}

/// The 4 KiB PTE of `virt` in this space (None when a table on the way is missing).
pub fn pte_slot(virt: u64) -> Option<&'static AtomicU64> {
    mm::pte_slot_in(pml4(), virt)
}

/// [`pte_slot`] inlined into a caller in another crate (`mm::pte_slot_in_inline`).
#[inline]
pub fn pte_slot_inline(virt: u64) -> Option<&'static AtomicU64> {
    mm::pte_slot_in_inline(pml4_now(), virt)
}

/// The page table mapping `virt` in the space, inlined (`mm::pte_table_in_inline`).
#[inline]
pub fn pte_table_inline(virt: u64) -> Option<&'static [AtomicU64; 512]> {
    mm::pte_table_in_inline(pml4_now(), virt)
}

/// The page-directory entry of `virt` in the space (its 2 MiB span's page table).
pub fn pde_slot(virt: u64) -> Option<&'static AtomicU64> {
    mm::entry_slot_in(pml4(), virt, 2)
}

/// Top of CPU `cpu`'s user stack, mapped on first use (`map_fresh` keeps a mapped page).
fn stack_top(cpu: usize) -> u64 {
    let top = ul::stack_top(cpu as u64);
    map_fresh(top - PAGE_SIZE, PAGE_SIZE);
    top
}

/// Run `program` in ring 3 on this CPU (the space must be active), with interrupts on or off
/// while it runs.
pub fn run(program: Program, args: [u64; 4], interrupts: bool) -> Exit {
    assert!(
        is_active(),
        "the user address space is not loaded on this CPU"
    );
    let me = arch::cpu_id() as usize;
    let call = UserCall {
        rip: ul::CODE + programs::entry(program),
        rsp: stack_top(me),
        rflags: user::RFLAGS_RESERVED1 | if interrupts { user::RFLAGS_IF } else { 0 },
        args,
    };
    user::enter(&call)
}

/// An exception from ring 3 the harness expects: the #PF of `fault_loop`'s probe (resume
/// after the probing load) or the #UD of the exit trap (the program ends with RDI). False for
/// anything else (the caller kills the program).
pub fn try_handle_exception(frame: &mut ExceptionFrame, cr2: u64) -> bool {
    let (insn, resume) = programs::probe();
    if frame.vector == VEC_PAGE_FAULT as u64 && cr2 == ul::PROBE && frame.rip == ul::CODE + insn {
        frame.rip = ul::CODE + resume;
        return true;
    }
    if frame.vector == VEC_INVALID_OPCODE as u64 && frame.rip == ul::CODE + programs::exit_trap() {
        user::exit_by_trap(frame, frame.rdi);
        return true;
    }
    false
}
