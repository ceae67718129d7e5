//! Memory management: the physical frame allocator, the kernel's page tables (direct map,
//! kernel image by section, device and firmware mappings on demand).

pub mod fault;
pub mod layout;
pub mod probe;
pub mod tlb;
pub mod uspace;

use core::sync::atomic::{AtomicU64, Ordering};

use kernel_core::bootinfo::{BootInfo, RegionKind};
use kernel_core::frame::FrameAllocator;
use kernel_core::paging::{
    CacheMode, FrameSource, IA32_PAT, MapStats, Mapper, PAT_VALUE, PTE_P, PTE_RW, PageFlags,
    PageSize, PhysMem,
};
use spin::Mutex;

use crate::arch::{self, cpu};
use crate::println;
use layout::{DIRECT_MAP_BASE, KERNEL_HALF_FIRST_PML4_SLOT, KERNEL_VIRT_OFFSET};

pub const PAGE_SIZE: u64 = 4096;
/// The prekernel tables map the low 4 GiB at their identity address: early page-table
/// frames and the allocator's bitmap must lie below this until the switch.
const EARLY_ACCESS_LIMIT: u64 = 1 << 32;

/// Virtual = physical + PHYS_OFFSET: 0 under the prekernel identity map, DIRECT_MAP_BASE
/// once the kernel's tables are loaded.
static PHYS_OFFSET: AtomicU64 = AtomicU64::new(0);

#[inline]
pub fn phys_to_virt(phys: u64) -> u64 {
    phys + PHYS_OFFSET.load(Ordering::Relaxed)
}

/// Page tables reached through `phys_to_virt`.
pub struct KernelPhysMem;

impl PhysMem for KernelPhysMem {
    fn table(&self, phys: u64) -> *mut [u64; 512] {
        phys_to_virt(phys) as *mut [u64; 512]
    }
}

pub static FRAMES: Mutex<Option<FrameAllocator>> = Mutex::new(None);

/// The kernel's PML4 and the lock that serialises changes to the kernel half.
pub struct KernelSpace {
    pub pml4: u64,
    pub nx: bool,
    pub stats_direct: MapStats,
    pub table_frames: u64,
    pub bitmap_phys: (u64, u64),
}

pub static KERNEL_SPACE: Mutex<Option<KernelSpace>> = Mutex::new(None);
/// Physical address of the kernel PML4 (readable without the lock, e.g. for APs).
pub static KERNEL_PML4: AtomicU64 = AtomicU64::new(0);

/// A frame source that counts, optionally restricted below a limit.
pub struct Frames<'a> {
    alloc: &'a mut FrameAllocator,
    below: Option<u64>,
    taken: u64,
}

impl Frames<'_> {
    /// Give a frame taken from this source back.
    pub fn free(&mut self, frame: u64) {
        self.alloc.free(frame);
        self.taken -= 1;
    }
}

impl FrameSource for Frames<'_> {
    fn alloc_frame(&mut self) -> Option<u64> {
        let f = match self.below {
            Some(limit) => self.alloc.alloc_below(limit),
            None => self.alloc.alloc(),
        };
        self.taken += f.is_some() as u64;
        f
    }
}

const fn kernel_flags(writable: bool, executable: bool, cache: CacheMode) -> PageFlags {
    PageFlags {
        writable,
        user: false,
        executable,
        global: true,
        cache,
    }
}

/// Build the kernel's page tables and switch to them; the identity map is gone afterwards.
/// `smap`: turn SMAP on where the CPU has it (`nosmap` on the command line says no).
pub fn init(info: &BootInfo, f: &cpu::Features, smap: bool) {
    program_pat(f);
    let (mut alloc, bitmap) = early_allocator(info);
    let nx = f.nx;
    let mut src = Frames {
        alloc: &mut alloc,
        below: Some(EARLY_ACCESS_LIMIT),
        taken: 0,
    };
    let pml4 = new_kernel_pml4(&mut src);
    let mem = KernelPhysMem;
    // SAFETY: `pml4` is a zeroed frame of ours and every table the mapper reaches is a frame
    // it allocated, through the identity map; nothing else touches them.
    let mut mapper = unsafe { Mapper::new(&mem, pml4, nx) };
    let direct = map_direct(info, f, &mut mapper, &mut src);
    map_kernel_image(&mut mapper, &mut src);
    let table_frames = src.taken;

    // Switch. Code, stack and statics are at the same higher-half addresses in both tables.
    // SAFETY: the new PML4 maps the kernel image and the boot stack exactly as the prekernel
    // tables did, and the direct map replaces the identity map for every physical access
    // (PHYS_OFFSET changes right after, before any such access).
    unsafe { arch::write_cr3(pml4) };
    PHYS_OFFSET.store(DIRECT_MAP_BASE, Ordering::Relaxed);
    // SAFETY: the bitmap is now reached through the direct map.
    unsafe { alloc.relocate(phys_to_virt(bitmap.0) as *mut u64) };
    enable_protection(f, smap);

    KERNEL_PML4.store(pml4, Ordering::Relaxed);
    *FRAMES.lock() = Some(alloc);
    *KERNEL_SPACE.lock() = Some(KernelSpace {
        pml4,
        nx,
        stats_direct: direct,
        table_frames,
        bitmap_phys: bitmap,
    });
}

/// The frame allocator over the loader's memory map, its bitmap placed in usable memory the
/// prekernel tables reach (and reserved); returns it and the bitmap's physical range.
fn early_allocator(info: &BootInfo) -> (FrameAllocator, (u64, u64)) {
    let top = info.memory.ram_top();
    let words = kernel_core::frame::bitmap_words(top);
    let bytes = (words as u64 * 8).next_multiple_of(PAGE_SIZE);
    let Some(bitmap_phys) = info.memory.find_free(bytes, PAGE_SIZE, EARLY_ACCESS_LIMIT) else {
        panic!("no usable memory below 4 GiB for the frame bitmap ({bytes} bytes)");
    };
    // SAFETY: [bitmap_phys, +bytes) is usable RAM below 4 GiB (identity mapped now), which the
    // allocator reserves for itself right away; nothing else uses it.
    let mut alloc = unsafe {
        FrameAllocator::from_raw(phys_to_virt(bitmap_phys) as *mut u64, words, &info.memory)
    };
    alloc.reserve(bitmap_phys, bitmap_phys + bytes);
    (alloc, (bitmap_phys, bitmap_phys + bytes))
}

/// A zeroed PML4 whose every kernel-half slot already has its PDPT, so later address spaces
/// (user processes, the AP trampoline) can copy the kernel half once and never miss a slot.
fn new_kernel_pml4(src: &mut Frames) -> u64 {
    let pml4 = src.alloc_frame().expect("out of memory for the PML4");
    let mem = KernelPhysMem;
    // SAFETY: the frame is ours and identity mapped.
    unsafe { (*mem.table(pml4)).fill(0) };
    for slot in KERNEL_HALF_FIRST_PML4_SLOT..512 {
        let pdpt = src
            .alloc_frame()
            .expect("out of memory for kernel-half PDPTs");
        // SAFETY: fresh frames below 4 GiB, identity mapped.
        unsafe {
            (*mem.table(pdpt)).fill(0);
            (*mem.table(pml4))[slot] = pdpt | PTE_P | PTE_RW;
        }
    }
    pml4
}

/// The direct map: every run of RAM of the loader's map, largest pages first.
fn map_direct(
    info: &BootInfo,
    f: &cpu::Features,
    mapper: &mut Mapper<KernelPhysMem>,
    src: &mut Frames,
) -> MapStats {
    let max = if f.pages_1g {
        PageSize::Size1G
    } else {
        PageSize::Size2M
    };
    let mut direct = MapStats::default();
    let mut map_run = |run: (u64, u64), mapper: &mut Mapper<KernelPhysMem>, src: &mut Frames| {
        let s = mapper
            .map_range(
                DIRECT_MAP_BASE + run.0,
                run.0,
                run.1 - run.0,
                kernel_flags(true, false, CacheMode::WriteBack),
                max,
                src,
            )
            .expect("cannot build the direct map");
        direct.pages_4k += s.pages_4k;
        direct.pages_2m += s.pages_2m;
        direct.pages_1g += s.pages_1g;
    };
    let ram = |k: RegionKind| {
        matches!(
            k,
            RegionKind::Usable | RegionKind::Kernel | RegionKind::Loader
        )
    };
    let mut run: Option<(u64, u64)> = None;
    for r in info.memory.regions().iter().filter(|r| ram(r.kind)) {
        run = match run {
            Some((s, e)) if e == r.start => Some((s, r.end)),
            Some(prev) => {
                map_run(prev, mapper, src);
                Some((r.start, r.end))
            }
            None => Some((r.start, r.end)),
        };
    }
    if let Some(prev) = run {
        map_run(prev, mapper, src);
    }
    direct
}

/// The kernel image, section by section, with each section's permissions.
fn map_kernel_image(mapper: &mut Mapper<KernelPhysMem>, src: &mut Frames) {
    for s in layout::kernel_sections() {
        mapper
            .map_range(
                s.start,
                s.start - KERNEL_VIRT_OFFSET,
                s.end - s.start,
                kernel_flags(s.writable, s.executable, CacheMode::WriteBack),
                PageSize::Size4K,
                src,
            )
            .expect("cannot map the kernel image");
    }
}

/// IA32_PAT with WB, WC, UC-, UC in entries 0..3 (the encoding `CacheMode` uses).
fn program_pat(f: &cpu::Features) {
    if f.pat {
        // SAFETY: entry 0 stays WB, the only type the prekernel tables use, so no live
        // mapping changes type; the CR3 switch that follows flushes the TLB.
        unsafe { cpu::wrmsr(IA32_PAT, PAT_VALUE) };
    }
}

/// CR0.WP (the kernel honours read-only pages), CR4.PGE (global kernel pages survive CR3
/// loads), SMEP, SMAP and FSGSBASE where the CPU has them (APs copy the same CR4).
fn enable_protection(f: &cpu::Features, smap: bool) {
    let mut cr4 = cpu::read_cr4();
    if f.pge {
        cr4 |= cpu::CR4_PGE;
    }
    if f.smep {
        cr4 |= cpu::CR4_SMEP;
    }
    if f.smap && smap {
        cr4 |= cpu::CR4_SMAP;
    }
    if f.fsgsbase {
        cr4 |= cpu::CR4_FSGSBASE;
    }
    // SAFETY: each bit is set only when CPUID reports the feature; the kernel maps nothing
    // user-accessible that it would execute or touch outside STAC/CLAC.
    unsafe {
        cpu::write_cr4(cr4);
        cpu::write_cr0(cpu::read_cr0() | cpu::CR0_WP);
    }
}

/// Map `len` bytes of device memory (registers, framebuffers) at its direct-map address with
/// the given caching; returns the virtual address of `phys`.
pub fn map_device(phys: u64, len: u64, cache: CacheMode) -> u64 {
    map_on_demand(phys, len, kernel_flags(true, false, cache))
}

/// Back `[virt, virt + len)` (page aligned, kernel half) with fresh zeroed frames, read-write,
/// no-execute, global (per-CPU windows, arenas).
pub fn map_fresh(virt: u64, len: u64) {
    with_kernel_mapper(|mapper, src| {
        let mut off = 0;
        while off < len {
            let frame = src.alloc.alloc().expect("out of memory");
            // SAFETY: a frame we own, reached through the direct map.
            unsafe {
                core::ptr::write_bytes(phys_to_virt(frame) as *mut u8, 0, PAGE_SIZE as usize)
            };
            mapper
                .map(
                    virt + off,
                    frame,
                    PageSize::Size4K,
                    kernel_flags(true, false, CacheMode::WriteBack),
                    src,
                )
                .expect("cannot map a fresh page");
            off += PAGE_SIZE;
        }
    })
}

/// Run `f` with a mapper over the kernel's tables and a frame source, under the locks that
/// serialise every change to the kernel half; counts the page-table frames it takes.
fn with_kernel_mapper<R>(f: impl FnOnce(&mut Mapper<KernelPhysMem>, &mut Frames) -> R) -> R {
    let mut space = KERNEL_SPACE.lock();
    let space = space.as_mut().expect("paging not initialised");
    let mut frames = FRAMES.lock();
    let alloc = frames.as_mut().expect("frame allocator not initialised");
    let mem = KernelPhysMem;
    // SAFETY: the kernel PML4 and its tables are reached through the direct map, and the
    // KERNEL_SPACE lock held here serialises every change to them.
    let mut mapper = unsafe { Mapper::new(&mem, space.pml4, space.nx) };
    let mut src = Frames {
        alloc,
        below: None,
        taken: 0,
    };
    let r = f(&mut mapper, &mut src);
    space.table_frames += src.taken;
    r
}

/// Run `f` with a mapper over the tables rooted at `root` (not the kernel's: a user address
/// space, whose owner serialises changes to it) and a frame source from the global allocator.
pub fn with_mapper<R>(
    root: u64,
    f: impl FnOnce(&mut Mapper<KernelPhysMem>, &mut Frames) -> R,
) -> R {
    let nx = cpu::features().nx;
    let mut frames = FRAMES.lock();
    let alloc = frames.as_mut().expect("frame allocator not initialised");
    let mem = KernelPhysMem;
    // SAFETY: `root` and its tables are frames reached through the direct map; the caller
    // serialises changes to them (see the contract above).
    let mut mapper = unsafe { Mapper::new(&mem, root, nx) };
    let mut src = Frames {
        alloc,
        below: None,
        taken: 0,
    };
    f(&mut mapper, &mut src)
}

/// Physical address of a kernel virtual address (None when unmapped).
pub fn virt_to_phys(virt: u64) -> Option<u64> {
    with_kernel_mapper(|mapper, _| mapper.translate(virt).map(|t| t.phys))
}

/// Map firmware tables (ACPI, the BIOS area) read-only at their direct-map address.
pub fn map_firmware(phys: u64, len: u64) -> u64 {
    map_on_demand(phys, len, kernel_flags(false, false, CacheMode::WriteBack))
}

fn map_on_demand(phys: u64, len: u64, flags: PageFlags) -> u64 {
    let start = phys & !(PAGE_SIZE - 1);
    let end = (phys + len).next_multiple_of(PAGE_SIZE);
    with_kernel_mapper(|mapper, src| {
        let mut p = start;
        while p < end {
            let virt = DIRECT_MAP_BASE + p;
            match mapper.translate(virt) {
                // Already reachable (RAM, or mapped before): keep the existing mapping.
                Some(t) if t.phys == p => {}
                Some(t) => panic!(
                    "direct-map address {virt:#x} maps {:#x}, not {p:#x}",
                    t.phys
                ),
                None => {
                    mapper
                        .map(virt, p, PageSize::Size4K, flags, src)
                        .expect("cannot map device memory");
                    arch::tlb::invlpg(virt);
                }
            }
            p += PAGE_SIZE;
        }
    });
    DIRECT_MAP_BASE + phys
}

pub fn print_summary() {
    let space = KERNEL_SPACE.lock();
    let Some(s) = space.as_ref() else { return };
    let d = &s.stats_direct;
    println!(
        "paging: kernel PML4 at {:#x}; direct map at {:#x}: {} x 1 GiB, {} x 2 MiB, {} x 4 KiB pages",
        s.pml4, DIRECT_MAP_BASE, d.pages_1g, d.pages_2m, d.pages_4k
    );
    for sec in layout::kernel_sections() {
        println!(
            "paging: kernel {:<10} [{:#x} - {:#x}) {:>5} pages {}{}",
            sec.name,
            sec.start,
            sec.end,
            (sec.end - sec.start) / PAGE_SIZE,
            if sec.writable { "RW" } else { "R-" },
            if sec.executable { "X" } else { "-" }
        );
    }
    println!(
        "paging: {} page-table frames; lower half (user space) maps nothing",
        s.table_frames
    );
    let frames = FRAMES.lock();
    if let Some(a) = frames.as_ref() {
        println!(
            "frames: {} total, {} free ({} MiB free); bitmap at [{:#x} - {:#x})",
            a.total_frames(),
            a.free_frames(),
            a.free_frames() * PAGE_SIZE / (1 << 20),
            s.bitmap_phys.0,
            s.bitmap_phys.1
        );
    }
}

/// Make the page tables down to the 4 KiB level exist for `[virt, virt + len)` (kernel half),
/// so that later mappings there are a single PTE write (the demand-paging fast path takes no
/// lock). Nothing new stays mapped.
pub fn prepare_tables(virt: u64, len: u64) {
    const SPAN: u64 = 2 << 20; // one page table covers 2 MiB
    with_kernel_mapper(|mapper, src| {
        let flags = kernel_flags(true, false, CacheMode::WriteBack);
        let mut v = virt;
        while v < virt + len {
            if pte_slot(v).is_none() {
                let dummy = src.alloc.alloc().expect("out of memory");
                mapper
                    .map(v, dummy, PageSize::Size4K, flags, src)
                    .expect("cannot build page tables");
                mapper.unmap(v).expect("just mapped");
                arch::tlb::invlpg(v);
                src.alloc.free(dummy);
            }
            v = (v / SPAN + 1) * SPAN;
        }
    })
}

/// The 4 KiB page-table entry of `virt` in the kernel's tables, reached through the direct
/// map; None when a table on the way is missing or a large page maps it. Whoever writes it
/// must own the address range (a per-CPU arena is written only by its CPU).
pub fn pte_slot(virt: u64) -> Option<&'static AtomicU64> {
    pte_slot_in(KERNEL_PML4.load(Ordering::Relaxed), virt)
}

/// The page-directory entry of `virt` in the kernel's tables (the entry of its 2 MiB span:
/// a page table, a 2 MiB page, or not present); None when a table above it is missing.
pub fn pde_slot(virt: u64) -> Option<&'static AtomicU64> {
    entry_slot_in(KERNEL_PML4.load(Ordering::Relaxed), virt, 2)
}

/// The 4 KiB page-table entry of `virt` in the tables rooted at `root` (see `pte_slot`).
pub fn pte_slot_in(root: u64, virt: u64) -> Option<&'static AtomicU64> {
    entry_slot_in(root, virt, 1)
}

/// The paging entry of `virt` at `level` (1: PTE, 2: PDE, 3: PDPTE, 4: PML4E) in the tables
/// rooted at `root`; None when a table above it is missing or a large page ends the walk.
pub fn entry_slot_in(root: u64, virt: u64, level: u32) -> Option<&'static AtomicU64> {
    walk(root, virt, level)
}

/// [`pte_slot_in`] for callers in other crates that look up one entry per page inside a
/// timed region (the shootdown benchmark's remap): the walk inlined into their loop, as it
/// is inside this crate.
#[inline]
pub fn pte_slot_in_inline(root: u64, virt: u64) -> Option<&'static AtomicU64> {
    walk(root, virt, 1)
}

/// [`pte_slot`] inlined (see [`pte_slot_in_inline`]).
#[inline]
pub fn pte_slot_inline(virt: u64) -> Option<&'static AtomicU64> {
    walk(KERNEL_PML4.load(Ordering::Relaxed), virt, 1)
}

/// Bytes one page table maps (512 entries of 4 KiB: 2 MiB).
pub const PTE_TABLE_SPAN: u64 = 512 * PAGE_SIZE;

/// The page table (all 512 entries) that maps `virt`, in the tables at `root`, inlined: a
/// caller changing many pages of one 2 MiB span walks once and indexes, as a kernel's
/// unmap or protect loop does per page table.
#[inline]
pub fn pte_table_in_inline(root: u64, virt: u64) -> Option<&'static [AtomicU64; 512]> {
    let first = walk(root, virt & !(PTE_TABLE_SPAN - 1), 1)?;
    // SAFETY: `first` is entry 0 of a page-table frame (index 0 of the span's first page), so
    // the frame's 512 entries follow it; they live as long as the tables (never freed).
    Some(unsafe { &*(first as *const AtomicU64 as *const [AtomicU64; 512]) })
}

/// [`pte_table_in_inline`] in the kernel's tables.
#[inline]
pub fn pte_table_inline(virt: u64) -> Option<&'static [AtomicU64; 512]> {
    pte_table_in_inline(KERNEL_PML4.load(Ordering::Relaxed), virt)
}

/// The walk behind the slot lookups: one body, inlined into each.
#[inline(always)]
fn walk(root: u64, virt: u64, level: u32) -> Option<&'static AtomicU64> {
    use kernel_core::paging::{PTE_ADDR_MASK, PTE_PS};
    let mut table = root;
    for l in (level..=4).rev() {
        let index = (virt >> (12 + 9 * (l - 1))) & 0x1FF;
        // SAFETY: `table` is a page-table frame of the kernel's tables (reached through the
        // direct map, which maps all RAM); entries are 8-byte aligned and accessed atomically.
        let slot = unsafe { &*((phys_to_virt(table) + index * 8) as *const AtomicU64) };
        if l == level {
            return Some(slot);
        }
        let e = slot.load(Ordering::Relaxed);
        if e & PTE_P == 0 || e & PTE_PS != 0 {
            return None;
        }
        table = e & PTE_ADDR_MASK;
    }
    None
}

/// The word at `offset` of frame `frame` (through the direct map), for frames a caller
/// allocated and shares only through atomics (the shootdown benchmark's frame sets).
///
/// # Panics
/// When the frame is not handed out by the allocator, or the offset is not an aligned word of
/// the page.
pub fn frame_word(frame: u64, offset: u64) -> &'static AtomicU64 {
    assert!(
        offset.is_multiple_of(8) && offset < PAGE_SIZE,
        "frame_word: offset {offset:#x} is not a word of a page"
    );
    assert!(
        FRAMES.lock().as_ref().is_some_and(|a| a.in_use(frame)),
        "frame_word: frame {frame:#x} is not allocated"
    );
    // SAFETY: an allocated RAM frame, mapped by the direct map; the word is aligned and
    // inside the page; the kernel reaches such frames only through atomics like this one.
    unsafe { &*((phys_to_virt(frame) + offset) as *const AtomicU64) }
}

/// The 512 entries of the page table in frame `table`, as atomics (the same view `pte_slot`
/// gives of one entry), checked like `frame_word`.
pub fn table_at(table: u64) -> &'static [AtomicU64; 512] {
    let first = frame_word(table, 0);
    // SAFETY: the whole frame is ours to view (checked by `frame_word`), 4 KiB = 512 aligned
    // 8-byte atomics.
    unsafe { &*(first as *const AtomicU64 as *const [AtomicU64; 512]) }
}

/// The page table (the 512 PTEs) that maps `virt` in the kernel's tables; None when a table
/// above it is missing or a large page maps it.
pub fn page_table_of(virt: u64) -> Option<&'static [AtomicU64; 512]> {
    let pde = entry_slot_in(KERNEL_PML4.load(Ordering::Relaxed), virt, 2)?.load(Ordering::Relaxed);
    (pde & PTE_P != 0 && pde & kernel_core::paging::PTE_PS == 0)
        .then(|| table_at(pde & kernel_core::paging::PTE_ADDR_MASK))
}

/// An address space as the mechanisms see it: the kernel half (in every space, global
/// translations) or the user address space (`mm::uspace`, its own PCID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    Kernel,
    User,
}

impl Space {
    pub fn name(self) -> &'static str {
        match self {
            Space::Kernel => "kernel",
            Space::User => "user",
        }
    }
}

/// The execute-disable bit for a leaf the kernel writes by hand: PTE_XD where the CPU has NX
/// (and EFER.NXE is on), 0 elsewhere, where bit 63 is reserved and would make every access
/// through the entry fault with the RSVD bit (Intel SDM vol. 3A, 4.5 and table 4-19).
pub fn xd() -> u64 {
    if cpu::features().nx {
        kernel_core::paging::PTE_XD
    } else {
        0
    }
}

/// Take one frame from the global allocator (not zeroed).
pub fn alloc_frame() -> Option<u64> {
    FRAMES.lock().as_mut().and_then(|a| a.alloc())
}

/// Take up to `out.len()` frames from the global allocator under one lock; returns how many.
pub fn alloc_frames(out: &mut [u64]) -> usize {
    let mut g = FRAMES.lock();
    let a = g.as_mut().expect("frame allocator not initialised");
    for (i, slot) in out.iter_mut().enumerate() {
        match a.alloc() {
            Some(f) => *slot = f,
            None => return i,
        }
    }
    out.len()
}

/// Take a free, 2 MiB-aligned run of 512 frames (a 2 MiB page; not zeroed), or None.
pub fn alloc_huge() -> Option<u64> {
    FRAMES
        .lock()
        .as_mut()
        .and_then(|a| a.alloc_aligned_run(HUGE_ORDER))
}

/// Give back a run from [`alloc_huge`].
pub fn free_huge(first: u64) {
    let mut g = FRAMES.lock();
    g.as_mut()
        .expect("frame allocator not initialised")
        .free_run(first, HUGE_ORDER);
}

/// A 2 MiB page is 2^9 frames.
const HUGE_ORDER: u32 = 9;
/// Bytes of a 2 MiB page.
pub const HUGE_SIZE: u64 = 2 << 20;

/// Give frames back to the global allocator under one lock.
pub fn free_frames(frames: &[u64]) {
    let mut g = FRAMES.lock();
    let a = g.as_mut().expect("frame allocator not initialised");
    for &f in frames {
        a.free(f);
    }
}
