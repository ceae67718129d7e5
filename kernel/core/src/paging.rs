//! x86-64 4-level page tables (Intel SDM Vol. 3A, 4.5): map, unmap, translate, protect.
//!
//! A [`Mapper`] edits the tables rooted at one PML4. It reaches table frames through a
//! [`PhysMem`] (the identity map during boot, the direct map later, a simulation in tests) and
//! takes new table frames from a [`FrameSource`]. It never flushes the TLB: after changing or
//! removing a present entry the caller invalidates it (INVLPG, CR3 reload or a shootdown).
//!
//! Intermediate entries are always present and writable, user-accessible when some user page
//! lies below them, and never execute-disable; each leaf carries the page's real permissions.

use core::fmt;

use crate::PAGE_SIZE;

/// P (bit 0): the entry is present.
pub const PTE_P: u64 = 1 << 0;
/// R/W (bit 1): writes allowed (for user accesses, and for supervisor ones while CR0.WP = 1).
pub const PTE_RW: u64 = 1 << 1;
/// U/S (bit 2): user-mode (CPL 3) accesses allowed.
pub const PTE_US: u64 = 1 << 2;
/// PWT (bit 3): page-level write-through; bit 0 of the PAT index.
pub const PTE_PWT: u64 = 1 << 3;
/// PCD (bit 4): page-level cache disable; bit 1 of the PAT index.
pub const PTE_PCD: u64 = 1 << 4;
/// A (bit 5): accessed, set by the CPU.
pub const PTE_A: u64 = 1 << 5;
/// D (bit 6): dirty, set by the CPU on a write to a page (leaf entries only).
pub const PTE_D: u64 = 1 << 6;
/// PS (bit 7) in a PDPTE or PDE: the entry maps a 1 GiB or 2 MiB page instead of a table.
pub const PTE_PS: u64 = 1 << 7;
/// PAT (bit 7) in a PTE: bit 2 of the PAT index of a 4 KiB page (the position of PS).
pub const PTE_PAT_4K: u64 = 1 << 7;
/// G (bit 8): global translation, kept in the TLB across CR3 loads while CR4.PGE = 1.
pub const PTE_G: u64 = 1 << 8;
/// PAT (bit 12) in a PDPTE or PDE mapping a page: bit 2 of the PAT index of a large page.
pub const PTE_PAT_LARGE: u64 = 1 << 12;
/// XD (bit 63): execute-disable; reserved (must be 0) unless IA32_EFER.NXE = 1.
pub const PTE_XD: u64 = 1 << 63;
/// Physical address bits 12..51 of an entry (the architectural maximum MAXPHYADDR of 52).
pub const PTE_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Entries in a table of any level.
pub const ENTRIES_PER_TABLE: usize = 512;

/// IA32_PAT, the MSR holding the eight page attribute table entries (SDM Vol. 3A, 11.12).
pub use crate::hw::IA32_PAT;
/// PAT memory type UC: strong uncacheable (SDM Vol. 3A, Table 11-10).
const PAT_TYPE_UC: u64 = 0x00;
/// PAT memory type WC: write-combining.
const PAT_TYPE_WC: u64 = 0x01;
/// PAT memory type WB: write-back.
const PAT_TYPE_WB: u64 = 0x06;
/// PAT memory type UC-: uncacheable, but overridable by a WC MTRR.
const PAT_TYPE_UC_MINUS: u64 = 0x07;
/// The value the kernel writes to [`IA32_PAT`] on every CPU: entries 0..3 are WB, WC, UC-, UC
/// and entries 4..7 repeat them, so the PAT bit of an entry never changes its memory type.
pub const PAT_VALUE: u64 = {
    let low = PAT_TYPE_WB | PAT_TYPE_WC << 8 | PAT_TYPE_UC_MINUS << 16 | PAT_TYPE_UC << 24;
    low | low << 32
};

/// The size of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PageSize {
    /// 4 KiB, mapped by a PTE.
    Size4K,
    /// 2 MiB, mapped by a PDE with PS set.
    Size2M,
    /// 1 GiB, mapped by a PDPTE with PS set (needs CPUID.80000001H:EDX.Page1GB).
    Size1G,
}

impl PageSize {
    /// The sizes from largest to smallest.
    const DESCENDING: [PageSize; 3] = [PageSize::Size1G, PageSize::Size2M, PageSize::Size4K];

    /// Bytes in a page of this size.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => 1 << 12,
            PageSize::Size2M => 1 << 21,
            PageSize::Size1G => 1 << 30,
        }
    }

    /// Level of the table whose entry maps such a page: 1 (PT), 2 (PD) or 3 (PDPT).
    const fn level(self) -> u32 {
        match self {
            PageSize::Size4K => 1,
            PageSize::Size2M => 2,
            PageSize::Size1G => 3,
        }
    }

    /// The page size a leaf at `level` maps.
    const fn of_level(level: u32) -> Self {
        match level {
            1 => PageSize::Size4K,
            2 => PageSize::Size2M,
            _ => PageSize::Size1G,
        }
    }
}

/// The memory type of a page, selected through the PAT as programmed with [`PAT_VALUE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// WB (PAT entry 0): ordinary memory.
    WriteBack,
    /// WC (PAT entry 1): framebuffers.
    WriteCombining,
    /// UC (PAT entry 3): device registers. Entry 2 (UC-) is never chosen by the mapper and
    /// reads back as `Uncacheable` too.
    Uncacheable,
}

impl CacheMode {
    /// Index of this mode's entry in IA32_PAT.
    pub const fn pat_index(self) -> u64 {
        match self {
            CacheMode::WriteBack => 0,
            CacheMode::WriteCombining => 1,
            CacheMode::Uncacheable => 3,
        }
    }

    /// The PWT, PCD and PAT bits that select this mode in an entry mapping a page of `size`:
    /// the PAT index is PAT·4 + PCD·2 + PWT, and the PAT bit is bit 7 in a PTE, bit 12 in a
    /// PDE or PDPTE.
    pub const fn entry_bits(self, size: PageSize) -> u64 {
        let index = self.pat_index();
        let pat = match size {
            PageSize::Size4K => PTE_PAT_4K,
            PageSize::Size2M | PageSize::Size1G => PTE_PAT_LARGE,
        };
        (if index & 1 != 0 { PTE_PWT } else { 0 })
            | (if index & 2 != 0 { PTE_PCD } else { 0 })
            | (if index & 4 != 0 { pat } else { 0 })
    }

    /// The mode a leaf entry mapping a page of `size` selects.
    fn of_entry(entry: u64, size: PageSize) -> Self {
        let pat = if size == PageSize::Size4K {
            PTE_PAT_4K
        } else {
            PTE_PAT_LARGE
        };
        let index = u64::from(entry & PTE_PWT != 0)
            | u64::from(entry & PTE_PCD != 0) << 1
            | u64::from(entry & pat != 0) << 2;
        // Entries 4..7 repeat entries 0..3 (see `PAT_VALUE`).
        match index & 3 {
            0 => CacheMode::WriteBack,
            1 => CacheMode::WriteCombining,
            _ => CacheMode::Uncacheable,
        }
    }
}

/// The permissions and attributes of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFlags {
    /// Writes allowed.
    pub writable: bool,
    /// User mode may access it.
    pub user: bool,
    /// Instructions may be fetched from it (without NX support every page is executable).
    pub executable: bool,
    /// The translation survives CR3 loads (kernel mappings shared by every address space).
    pub global: bool,
    /// The memory type.
    pub cache: CacheMode,
}

/// A virtual address's mapping, as the CPU would see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// The physical address the virtual address translates to.
    pub phys: u64,
    /// The size of the page containing it.
    pub size: PageSize,
    /// The effective flags: writable and user only if every level allows it, executable only
    /// if no level forbids it.
    pub flags: PageFlags,
}

/// Pages [`Mapper::map_range`] created, by size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapStats {
    /// 4 KiB pages.
    pub pages_4k: u64,
    /// 2 MiB pages.
    pub pages_2m: u64,
    /// 1 GiB pages.
    pub pages_1g: u64,
}

/// Why a page-table operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// An address or length is not a multiple of the page size it needs.
    Misaligned,
    /// A present entry is in the way: a page (possibly a larger one covering the address) or a
    /// table of smaller pages where a large page should go.
    AlreadyMapped,
    /// The frame source ran out while a table was needed.
    OutOfFrames,
    /// The virtual address is not canonical (bits 63..47 differ).
    NonCanonical,
    /// The physical address does not fit in 52 bits.
    PhysOutOfRange,
    /// Nothing is mapped at the address.
    NotMapped,
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapError::Misaligned => "address or length not aligned to the page size",
            MapError::AlreadyMapped => "address already mapped",
            MapError::OutOfFrames => "out of frames for page tables",
            MapError::NonCanonical => "virtual address not canonical",
            MapError::PhysOutOfRange => "physical address beyond 52 bits",
            MapError::NotMapped => "address not mapped",
        })
    }
}

/// Where new page-table frames come from.
pub trait FrameSource {
    /// A free 4 KiB frame, or `None` if there is none. Its contents need not be zero: the
    /// mapper clears every new table.
    fn alloc_frame(&mut self) -> Option<u64>;
}

/// How the mapper reaches a page-table frame.
pub trait PhysMem {
    /// A pointer through which the table in the frame at `phys` can be read and written.
    fn table(&self, phys: u64) -> *mut [u64; ENTRIES_PER_TABLE];
}

/// Index into the PML4 (bits 47..39 of `virt`).
pub const fn pml4_index(virt: u64) -> usize {
    table_index(virt, 4)
}

/// Index into the PDPT (bits 38..30 of `virt`).
pub const fn pdpt_index(virt: u64) -> usize {
    table_index(virt, 3)
}

/// Index into the page directory (bits 29..21 of `virt`).
pub const fn pd_index(virt: u64) -> usize {
    table_index(virt, 2)
}

/// Index into the page table (bits 20..12 of `virt`).
pub const fn pt_index(virt: u64) -> usize {
    table_index(virt, 1)
}

/// Index of `virt` in the table at `level` (4 = PML4 ... 1 = PT).
const fn table_index(virt: u64, level: u32) -> usize {
    ((virt >> (12 + 9 * (level - 1))) & (ENTRIES_PER_TABLE as u64 - 1)) as usize
}

/// Whether `virt` is canonical for 4-level paging: bits 63..48 copy bit 47.
pub const fn canonical(virt: u64) -> bool {
    ((virt << 16) as i64 >> 16) as u64 == virt
}

/// A leaf entry found by a walk, with the permissions accumulated on the way down.
struct Leaf {
    table: u64,
    index: usize,
    entry: u64,
    size: PageSize,
    writable: bool,
    user: bool,
    no_execute: bool,
}

impl Leaf {
    /// Physical address of the page.
    fn frame(&self) -> u64 {
        self.entry & PTE_ADDR_MASK & !(self.size.bytes() - 1)
    }
}

/// Editor of the page tables rooted at one PML4.
pub struct Mapper<'m, M: PhysMem> {
    mem: &'m M,
    pml4: u64,
    nx: bool,
}

impl<'m, M: PhysMem> Mapper<'m, M> {
    /// A mapper for the tables rooted at the PML4 in frame `pml4` (which must already be a
    /// valid table, for instance a zeroed frame). `nx`: the CPU supports execute-disable and
    /// IA32_EFER.NXE is set; only then is XD ever written.
    ///
    /// # Safety
    /// - `mem.table(phys)` must return a pointer valid for reads and writes of the table in
    ///   frame `phys` for `pml4`, every table reachable from it, and every frame the
    ///   [`FrameSource`]s given to this mapper hand out; those must be unused frames.
    /// - Nothing else may modify these tables while the mapper exists.
    /// - The caller answers for what the mappings mean: creating, changing or removing them
    ///   in an address space in use must not break memory the program relies on (the kernel's
    ///   own code, stacks, live references), and stale TLB entries must be invalidated.
    pub unsafe fn new(mem: &'m M, pml4: u64, nx: bool) -> Self {
        Mapper { mem, pml4, nx }
    }

    /// Physical address of the PML4 (the value for CR3).
    pub fn pml4(&self) -> u64 {
        self.pml4
    }

    fn entry_ptr(&self, table: u64, index: usize) -> *mut u64 {
        self.mem.table(table).cast::<u64>().wrapping_add(index)
    }

    fn read(&self, table: u64, index: usize) -> u64 {
        // SAFETY: `table` is a table frame reachable from the PML4 or handed out by a frame
        // source, which `new` requires `mem` to make accessible; `index` < 512. Volatile: the
        // CPU reads and updates (A, D) these entries behind the compiler's back.
        unsafe { self.entry_ptr(table, index).read_volatile() }
    }

    fn write(&mut self, table: u64, index: usize, entry: u64) {
        // SAFETY: as in `read`; `&mut self` and `new`'s contract make this the only writer.
        unsafe { self.entry_ptr(table, index).write_volatile(entry) }
    }

    /// The leaf bits for a page of `size` with `flags` (without the address).
    fn leaf_bits(&self, flags: PageFlags, size: PageSize) -> u64 {
        let mut bits = PTE_P | flags.cache.entry_bits(size);
        if flags.writable {
            bits |= PTE_RW;
        }
        if flags.user {
            bits |= PTE_US;
        }
        if flags.global {
            bits |= PTE_G;
        }
        if size != PageSize::Size4K {
            bits |= PTE_PS;
        }
        if self.nx && !flags.executable {
            bits |= PTE_XD;
        }
        bits
    }

    /// The table entry `index` of `table` points to, created (zeroed) if absent; gains U/S if
    /// `user`. A large page there is `AlreadyMapped`.
    fn next_table(
        &mut self,
        table: u64,
        index: usize,
        user: bool,
        frames: &mut impl FrameSource,
    ) -> Result<u64, MapError> {
        let entry = self.read(table, index);
        if entry & PTE_P == 0 {
            let frame = frames.alloc_frame().ok_or(MapError::OutOfFrames)?;
            assert!(
                frame.is_multiple_of(PAGE_SIZE) && frame & !PTE_ADDR_MASK == 0,
                "page tables: frame source returned bad frame {frame:#x}"
            );
            // Zero the table before it becomes reachable: the CPU may walk it speculatively.
            for i in 0..ENTRIES_PER_TABLE {
                self.write(frame, i, 0);
            }
            let user_bit = if user { PTE_US } else { 0 };
            self.write(table, index, frame | PTE_P | PTE_RW | user_bit);
            return Ok(frame);
        }
        if entry & PTE_PS != 0 {
            return Err(MapError::AlreadyMapped);
        }
        if user && entry & PTE_US == 0 {
            self.write(table, index, entry | PTE_US);
        }
        Ok(entry & PTE_ADDR_MASK)
    }

    /// Maps the page of `size` at `virt` to the frame at `phys`, creating tables as needed.
    pub fn map(
        &mut self,
        virt: u64,
        phys: u64,
        size: PageSize,
        flags: PageFlags,
        frames: &mut impl FrameSource,
    ) -> Result<(), MapError> {
        if !canonical(virt) {
            return Err(MapError::NonCanonical);
        }
        if !(virt | phys).is_multiple_of(size.bytes()) {
            return Err(MapError::Misaligned);
        }
        if phys & !PTE_ADDR_MASK != 0 {
            return Err(MapError::PhysOutOfRange);
        }
        let mut table = self.pml4;
        for level in (size.level() + 1..=4).rev() {
            table = self.next_table(table, table_index(virt, level), flags.user, frames)?;
        }
        let index = table_index(virt, size.level());
        if self.read(table, index) & PTE_P != 0 {
            return Err(MapError::AlreadyMapped);
        }
        self.write(table, index, phys | self.leaf_bits(flags, size));
        Ok(())
    }

    /// Maps `len` bytes at `virt` to `phys` (all three 4 KiB-aligned) with the largest pages
    /// that fit: at each step the largest size up to `max_size` to which both addresses are
    /// aligned and which the remaining length holds. On an error, the pages mapped so far stay.
    pub fn map_range(
        &mut self,
        virt: u64,
        phys: u64,
        len: u64,
        flags: PageFlags,
        max_size: PageSize,
        frames: &mut impl FrameSource,
    ) -> Result<MapStats, MapError> {
        if !(virt | phys | len).is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Misaligned);
        }
        let mut stats = MapStats::default();
        if len == 0 {
            return Ok(stats);
        }
        if virt.checked_add(len - 1).is_none() {
            return Err(MapError::NonCanonical);
        }
        if phys
            .checked_add(len - 1)
            .is_none_or(|last| last > PTE_ADDR_MASK | (PAGE_SIZE - 1))
        {
            return Err(MapError::PhysOutOfRange);
        }
        let mut offset = 0;
        while offset < len {
            let (virt, phys, remaining) = (virt + offset, phys + offset, len - offset);
            let size = PageSize::DESCENDING
                .into_iter()
                .find(|&size| {
                    size <= max_size
                        && (virt | phys).is_multiple_of(size.bytes())
                        && size.bytes() <= remaining
                })
                .unwrap_or(PageSize::Size4K);
            self.map(virt, phys, size, flags, frames)?;
            match size {
                PageSize::Size4K => stats.pages_4k += 1,
                PageSize::Size2M => stats.pages_2m += 1,
                PageSize::Size1G => stats.pages_1g += 1,
            }
            offset += size.bytes();
        }
        Ok(stats)
    }

    /// Finds the leaf entry mapping `virt`, if any.
    fn walk(&self, virt: u64) -> Option<Leaf> {
        if !canonical(virt) {
            return None;
        }
        let (mut writable, mut user, mut no_execute) = (true, true, false);
        let mut table = self.pml4;
        let mut level = 4;
        loop {
            let index = table_index(virt, level);
            let entry = self.read(table, index);
            if entry & PTE_P == 0 {
                return None;
            }
            writable &= entry & PTE_RW != 0;
            user &= entry & PTE_US != 0;
            no_execute |= entry & PTE_XD != 0;
            if level == 1 || (level <= 3 && entry & PTE_PS != 0) {
                let size = PageSize::of_level(level);
                return Some(Leaf {
                    table,
                    index,
                    entry,
                    size,
                    writable,
                    user,
                    no_execute,
                });
            }
            table = entry & PTE_ADDR_MASK;
            level -= 1;
        }
    }

    /// Where `virt` leads, with the effective permissions; `None` if it is not mapped.
    pub fn translate(&self, virt: u64) -> Option<Translation> {
        let leaf = self.walk(virt)?;
        Some(Translation {
            phys: leaf.frame() + (virt & (leaf.size.bytes() - 1)),
            size: leaf.size,
            flags: PageFlags {
                writable: leaf.writable,
                user: leaf.user,
                executable: !leaf.no_execute,
                global: leaf.entry & PTE_G != 0,
                cache: CacheMode::of_entry(leaf.entry, leaf.size),
            },
        })
    }

    /// The leaf of the page starting at `virt`.
    fn page_at(&self, virt: u64) -> Result<Leaf, MapError> {
        if !canonical(virt) {
            return Err(MapError::NonCanonical);
        }
        let leaf = self.walk(virt).ok_or(MapError::NotMapped)?;
        if !virt.is_multiple_of(leaf.size.bytes()) {
            return Err(MapError::Misaligned);
        }
        Ok(leaf)
    }

    /// Removes the page starting at `virt`; returns its frame and size. Tables left empty are
    /// kept (so a large page cannot later go where smaller ones were). The caller flushes the
    /// TLB.
    pub fn unmap(&mut self, virt: u64) -> Result<(u64, PageSize), MapError> {
        let leaf = self.page_at(virt)?;
        self.write(leaf.table, leaf.index, 0);
        Ok((leaf.frame(), leaf.size))
    }

    /// Gives the page starting at `virt` (of any size) new flags, keeping its frame and its
    /// accessed and dirty bits; returns its size. The caller flushes the TLB.
    pub fn protect(&mut self, virt: u64, flags: PageFlags) -> Result<PageSize, MapError> {
        let leaf = self.page_at(virt)?;
        if flags.user {
            let mut table = self.pml4;
            for level in (leaf.size.level() + 1..=4).rev() {
                let index = table_index(virt, level);
                let entry = self.read(table, index);
                self.write(table, index, entry | PTE_US);
                table = entry & PTE_ADDR_MASK;
            }
        }
        let kept = leaf.frame() | (leaf.entry & (PTE_A | PTE_D));
        self.write(
            leaf.table,
            leaf.index,
            kept | self.leaf_bits(flags, leaf.size),
        );
        Ok(leaf.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;
    use std::cell::RefCell;
    use std::collections::HashMap;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    const KIB: u64 = 1 << 10;

    /// Simulated physical memory holding only page-table frames.
    #[derive(Default)]
    struct SimMem {
        frames: RefCell<HashMap<u64, Box<[u64; 512]>>>,
    }

    impl PhysMem for SimMem {
        fn table(&self, phys: u64) -> *mut [u64; 512] {
            let mut frames = self.frames.borrow_mut();
            let frame = frames
                .get_mut(&phys)
                .unwrap_or_else(|| panic!("{phys:#x} is not a frame"));
            &mut **frame
        }
    }

    /// Hands out fake frames filled with garbage, at most `left` of them.
    struct SimFrames<'a> {
        mem: &'a SimMem,
        next: u64,
        left: usize,
    }

    impl<'a> SimFrames<'a> {
        fn new(mem: &'a SimMem) -> Self {
            SimFrames {
                mem,
                next: 0x7_0000_0000,
                left: usize::MAX,
            }
        }
    }

    impl FrameSource for SimFrames<'_> {
        fn alloc_frame(&mut self) -> Option<u64> {
            self.left = self.left.checked_sub(1)?;
            let phys = self.next;
            self.next += PAGE_SIZE;
            self.mem
                .frames
                .borrow_mut()
                .insert(phys, Box::new([0xffff_ffff_ffff_ffff; 512]));
            Some(phys)
        }
    }

    /// A simulated memory with a zeroed PML4 at `PML4`.
    const PML4: u64 = 0x1000;

    fn sim() -> SimMem {
        let mem = SimMem::default();
        mem.frames.borrow_mut().insert(PML4, Box::new([0; 512]));
        mem
    }

    fn mapper(mem: &SimMem, nx: bool) -> Mapper<'_, SimMem> {
        // SAFETY: `SimMem` hands out pointers into boxes it owns for every frame it holds, the
        // PML4 and every frame `SimFrames` creates; nothing else touches them.
        unsafe { Mapper::new(mem, PML4, nx) }
    }

    const KERNEL_RW: PageFlags = PageFlags {
        writable: true,
        user: false,
        executable: false,
        global: true,
        cache: CacheMode::WriteBack,
    };

    /// What the CPU would find for `virt`, decoded here independently of the mapper.
    #[derive(Debug, PartialEq, Eq)]
    struct Walked {
        phys: u64,
        page_bytes: u64,
        writable: bool,
        user: bool,
        execute_disable: bool,
        global: bool,
        pat_index: u64,
    }

    fn reference_walk(mem: &SimMem, virt: u64) -> Option<Walked> {
        let frames = mem.frames.borrow();
        let address_bits = 0x000f_ffff_ffff_f000u64;
        let (mut writable, mut user, mut execute_disable) = (true, true, false);
        let mut table = PML4;
        for (level, shift) in [(4, 39), (3, 30), (2, 21), (1, 12)] {
            let entry = frames[&table][((virt >> shift) & 0x1ff) as usize];
            if entry & 1 == 0 {
                return None;
            }
            writable &= entry & 2 != 0;
            user &= entry & 4 != 0;
            execute_disable |= entry >> 63 != 0;
            if level == 1 || (level < 4 && entry & 0x80 != 0) {
                let page_bytes = 1u64 << shift;
                let pat = if level == 1 {
                    (entry >> 7) & 1
                } else {
                    (entry >> 12) & 1
                };
                let base = entry & address_bits & !(page_bytes - 1);
                return Some(Walked {
                    phys: base + (virt & (page_bytes - 1)),
                    page_bytes,
                    writable,
                    user,
                    execute_disable,
                    global: entry & 0x100 != 0,
                    pat_index: ((entry >> 3) & 1) | ((entry >> 4) & 1) << 1 | pat << 2,
                });
            }
            table = entry & address_bits;
        }
        unreachable!()
    }

    /// Every present entry: `(level, entry, is_leaf, whether a user leaf lies at or below it)`.
    fn all_entries(mem: &SimMem) -> Vec<(u32, u64, bool, bool)> {
        fn visit(
            frames: &HashMap<u64, Box<[u64; 512]>>,
            table: u64,
            level: u32,
            out: &mut Vec<(u32, u64, bool, bool)>,
        ) -> bool {
            let mut any_user = false;
            for &entry in frames[&table].iter().filter(|&&e| e & 1 != 0) {
                let leaf = level == 1 || (level < 4 && entry & 0x80 != 0);
                let user_below = if leaf {
                    entry & 4 != 0
                } else {
                    visit(frames, entry & 0x000f_ffff_ffff_f000, level - 1, out)
                };
                out.push((level, entry, leaf, user_below));
                any_user |= user_below;
            }
            any_user
        }
        let mut out = Vec::new();
        visit(&mem.frames.borrow(), PML4, 4, &mut out);
        out
    }

    fn random_flags(rng: &mut XorShift) -> PageFlags {
        PageFlags {
            writable: rng.coin(),
            user: rng.below(4) == 0,
            executable: rng.coin(),
            global: rng.coin(),
            cache: [
                CacheMode::WriteBack,
                CacheMode::WriteCombining,
                CacheMode::Uncacheable,
            ][rng.below(3) as usize],
        }
    }

    struct Mapping {
        virt: u64,
        phys: u64,
        size: PageSize,
        flags: PageFlags,
    }

    impl Mapping {
        fn contains(&self, virt: u64) -> bool {
            virt >= self.virt && virt - self.virt < self.size.bytes()
        }

        fn overlaps(&self, other: &Mapping) -> bool {
            self.virt <= other.virt + (other.size.bytes() - 1)
                && other.virt <= self.virt + (self.size.bytes() - 1)
        }
    }

    /// Windows of 8 GiB the random mappings fall into: both ends of both canonical halves.
    const WINDOWS: [u64; 4] = [
        0,
        0x0000_7ffe_0000_0000,
        0xffff_8000_0000_0000,
        0xffff_fffe_0000_0000,
    ];
    const WINDOW_BYTES: u64 = 8 * GIB;

    fn random_virt(rng: &mut XorShift, alignment: u64) -> u64 {
        WINDOWS[rng.below(4) as usize] + (rng.below(WINDOW_BYTES) & !(alignment - 1))
    }

    fn check_mapping(mem: &SimMem, mapper: &Mapper<'_, SimMem>, nx: bool, m: &Mapping, virt: u64) {
        let walked = reference_walk(mem, virt).unwrap_or_else(|| panic!("{virt:#x} not mapped"));
        let expected = Walked {
            phys: m.phys + (virt - m.virt),
            page_bytes: m.size.bytes(),
            writable: m.flags.writable,
            user: m.flags.user,
            execute_disable: nx && !m.flags.executable,
            global: m.flags.global,
            pat_index: m.flags.cache.pat_index(),
        };
        assert_eq!(walked, expected, "virt {virt:#x}");
        let translation = mapper.translate(virt).unwrap();
        assert_eq!(translation.phys, expected.phys);
        assert_eq!(translation.size, m.size);
        let effective = PageFlags {
            executable: m.flags.executable || !nx,
            ..m.flags
        };
        assert_eq!(translation.flags, effective, "virt {virt:#x}");
    }

    fn random_mappings(seed: u64, nx: bool) {
        let mem = sim();
        let mut frames = SimFrames::new(&mem);
        let mut mapper = mapper(&mem, nx);
        let mut rng = XorShift::new(seed);
        let mut mappings: Vec<Mapping> = Vec::new();
        let (mut collisions, mut misaligned) = (0, 0);
        while mappings.len() < 300 {
            let size = match rng.below(10) {
                0 => PageSize::Size1G,
                1..=3 => PageSize::Size2M,
                _ => PageSize::Size4K,
            };
            let m = Mapping {
                virt: random_virt(&mut rng, size.bytes()),
                phys: rng.below(1 << 52) & !(size.bytes() - 1),
                size,
                flags: random_flags(&mut rng),
            };
            if size != PageSize::Size4K && rng.below(8) == 0 {
                let result = if rng.coin() {
                    mapper.map(m.virt + PAGE_SIZE, m.phys, size, m.flags, &mut frames)
                } else {
                    mapper.map(m.virt, m.phys + PAGE_SIZE, size, m.flags, &mut frames)
                };
                assert_eq!(result, Err(MapError::Misaligned));
                misaligned += 1;
            }
            let result = mapper.map(m.virt, m.phys, m.size, m.flags, &mut frames);
            if mappings.iter().any(|other| other.overlaps(&m)) {
                assert_eq!(
                    result,
                    Err(MapError::AlreadyMapped),
                    "{:#x} {size:?}",
                    m.virt
                );
                collisions += 1;
            } else {
                assert_eq!(result, Ok(()), "{:#x} {size:?}", m.virt);
                mappings.push(m);
            }
        }
        assert!(
            collisions > 10 && misaligned > 10,
            "seed {seed}: {collisions} collisions, {misaligned} misaligned"
        );

        for m in &mappings {
            let last = m.virt + (m.size.bytes() - 1);
            for virt in [m.virt, last, m.virt + rng.below(m.size.bytes())] {
                check_mapping(&mem, &mapper, nx, m, virt);
            }
        }
        let mut unmapped_probes = 0;
        for _ in 0..3000 {
            let virt = random_virt(&mut rng, 1);
            if !mappings.iter().any(|m| m.contains(virt)) {
                assert_eq!(reference_walk(&mem, virt), None, "{virt:#x}");
                assert_eq!(mapper.translate(virt), None, "{virt:#x}");
                unmapped_probes += 1;
            }
        }
        assert!(unmapped_probes > 1000);

        for (level, entry, leaf, user_below) in all_entries(&mem) {
            assert!(
                nx || entry & PTE_XD == 0,
                "XD set without NX support: {entry:#x}"
            );
            if !leaf {
                assert_eq!(
                    entry & (PTE_P | PTE_RW | PTE_XD),
                    PTE_P | PTE_RW,
                    "level {level} {entry:#x}"
                );
                assert_eq!(entry & PTE_US != 0, user_below, "level {level} {entry:#x}");
            }
        }

        // Unmap half; the rest must be untouched.
        let (gone, kept): (Vec<Mapping>, Vec<Mapping>) =
            mappings.into_iter().partition(|_| rng.coin());
        for m in &gone {
            assert_eq!(mapper.unmap(m.virt), Ok((m.phys, m.size)));
            assert_eq!(mapper.unmap(m.virt), Err(MapError::NotMapped));
        }
        for m in &gone {
            for virt in [m.virt, m.virt + (m.size.bytes() - 1)] {
                assert_eq!(reference_walk(&mem, virt), None);
                assert_eq!(mapper.translate(virt), None);
            }
        }
        for m in &kept {
            check_mapping(&mem, &mapper, nx, m, m.virt + rng.below(m.size.bytes()));
        }
    }

    #[test]
    fn random_mappings_with_nx() {
        for seed in [1, 2, 3] {
            random_mappings(seed, true);
        }
    }

    #[test]
    fn random_mappings_without_nx() {
        for seed in [4, 5] {
            random_mappings(seed, false);
        }
    }

    #[test]
    fn map_range_uses_large_pages_inside_and_small_ones_at_the_edges() {
        let mem = sim();
        let mut frames = SimFrames::new(&mem);
        let mut mapper = mapper(&mem, true);
        // 12 KiB up to a 1 GiB boundary, 1 GiB, two 2 MiB pages, 8 KiB.
        let virt = 0xffff_8000_0000_0000 + GIB - 12 * KIB;
        let phys = GIB - 12 * KIB;
        let len = 12 * KIB + GIB + 4 * MIB + 8 * KIB;
        let stats = mapper
            .map_range(virt, phys, len, KERNEL_RW, PageSize::Size1G, &mut frames)
            .unwrap();
        assert_eq!(
            stats,
            MapStats {
                pages_4k: 5,
                pages_2m: 2,
                pages_1g: 1
            }
        );
        for offset in [
            0,
            12 * KIB - 1,
            12 * KIB,
            GIB + 12 * KIB - 1,
            GIB + 12 * KIB,
            len - 1,
        ] {
            let walked = reference_walk(&mem, virt + offset).unwrap();
            assert_eq!(walked.phys, phys + offset);
        }
        assert_eq!(reference_walk(&mem, virt + GIB).unwrap().page_bytes, GIB);
        assert_eq!(
            reference_walk(&mem, virt + 12 * KIB + GIB)
                .unwrap()
                .page_bytes,
            2 * MIB
        );
        assert_eq!(
            reference_walk(&mem, virt + len - 1).unwrap().page_bytes,
            4 * KIB
        );
        assert_eq!(reference_walk(&mem, virt + len), None);
        assert_eq!(reference_walk(&mem, virt - 1), None);

        // Capped at 2 MiB.
        let virt = 0xffff_8000_0000_0000 + 8 * GIB;
        let stats = mapper
            .map_range(
                virt,
                0,
                GIB + 4 * KIB,
                KERNEL_RW,
                PageSize::Size2M,
                &mut frames,
            )
            .unwrap();
        assert_eq!(
            stats,
            MapStats {
                pages_4k: 1,
                pages_2m: 512,
                pages_1g: 0
            }
        );

        // Virtual and physical addresses aligned differently: only 4 KiB pages fit.
        let virt = 0xffff_8000_0000_0000 + 16 * GIB;
        let stats = mapper
            .map_range(
                virt,
                2 * MIB + 4 * KIB,
                4 * MIB,
                KERNEL_RW,
                PageSize::Size1G,
                &mut frames,
            )
            .unwrap();
        assert_eq!(
            stats,
            MapStats {
                pages_4k: 1024,
                pages_2m: 0,
                pages_1g: 0
            }
        );

        assert_eq!(
            mapper.map_range(virt, 0, 100, KERNEL_RW, PageSize::Size4K, &mut frames),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            mapper.map_range(virt, 0, 0, KERNEL_RW, PageSize::Size1G, &mut frames),
            Ok(MapStats::default())
        );
        assert_eq!(
            mapper.map_range(
                0xffff_ffff_ffff_f000,
                0,
                2 * PAGE_SIZE,
                KERNEL_RW,
                PageSize::Size4K,
                &mut frames
            ),
            Err(MapError::NonCanonical)
        );
        assert_eq!(
            mapper.map_range(
                0,
                PTE_ADDR_MASK,
                2 * PAGE_SIZE,
                KERNEL_RW,
                PageSize::Size4K,
                &mut frames
            ),
            Err(MapError::PhysOutOfRange)
        );
    }

    #[test]
    fn map_range_up_to_the_top_of_the_address_space() {
        let mem = sim();
        let mut frames = SimFrames::new(&mem);
        let mut mapper = mapper(&mem, true);
        let stats = mapper
            .map_range(
                0xffff_ffff_8000_0000,
                0x20_0000,
                2 * GIB,
                KERNEL_RW,
                PageSize::Size2M,
                &mut frames,
            )
            .unwrap();
        assert_eq!(stats.pages_2m, 1024);
        assert_eq!(
            mapper.translate(u64::MAX).unwrap().phys,
            0x20_0000 + 2 * GIB - 1
        );
    }

    #[test]
    fn misaligned_and_non_canonical_addresses() {
        let mem = sim();
        let mut frames = SimFrames::new(&mem);
        let mut mapper = mapper(&mem, true);
        let map =
            |mapper: &mut Mapper<'_, SimMem>, frames: &mut SimFrames<'_>, virt, phys, size| {
                mapper.map(virt, phys, size, KERNEL_RW, frames)
            };
        assert_eq!(
            map(&mut mapper, &mut frames, 0x1800, 0, PageSize::Size4K),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            map(
                &mut mapper,
                &mut frames,
                0x20_0000,
                0x1000,
                PageSize::Size2M
            ),
            Err(MapError::Misaligned)
        );
        assert_eq!(
            map(
                &mut mapper,
                &mut frames,
                0x2000_0000,
                0x20_0000,
                PageSize::Size1G
            ),
            Err(MapError::Misaligned)
        );
        for virt in [
            0x0000_8000_0000_0000,
            0xffff_7fff_ffff_f000,
            0x0001_0000_0000_0000,
        ] {
            assert!(!canonical(virt));
            assert_eq!(
                map(&mut mapper, &mut frames, virt, 0, PageSize::Size4K),
                Err(MapError::NonCanonical)
            );
            assert_eq!(mapper.translate(virt), None);
            assert_eq!(mapper.unmap(virt), Err(MapError::NonCanonical));
        }
        assert_eq!(
            map(&mut mapper, &mut frames, 0, 1 << 52, PageSize::Size4K),
            Err(MapError::PhysOutOfRange)
        );
        assert_eq!(
            map(&mut mapper, &mut frames, 0, PTE_ADDR_MASK, PageSize::Size4K),
            Ok(())
        );
        assert_eq!(mapper.translate(0x123).unwrap().phys, PTE_ADDR_MASK + 0x123);
    }

    #[test]
    fn running_out_of_frames() {
        let mem = sim();
        let mut frames = SimFrames {
            left: 2,
            ..SimFrames::new(&mem)
        };
        let mut mapper = mapper(&mem, true);
        // A 4 KiB page needs a PDPT, a PD and a PT.
        assert_eq!(
            mapper.map(0x40_0000, 0, PageSize::Size4K, KERNEL_RW, &mut frames),
            Err(MapError::OutOfFrames)
        );
        assert_eq!(mapper.translate(0x40_0000), None);
        frames.left = 1;
        assert_eq!(
            mapper.map(0x40_0000, 0, PageSize::Size4K, KERNEL_RW, &mut frames),
            Ok(())
        );
        // The neighbouring page shares every table.
        assert_eq!(
            mapper.map(0x40_1000, 0, PageSize::Size4K, KERNEL_RW, &mut frames),
            Ok(())
        );
    }

    #[test]
    fn unmap_and_protect() {
        let mem = sim();
        let mut frames = SimFrames::new(&mem);
        let mut mapper = mapper(&mem, true);
        let base = 0xffff_8000_0000_0000;
        mapper
            .map(base, 0x20_0000, PageSize::Size2M, KERNEL_RW, &mut frames)
            .unwrap();
        mapper
            .map(
                base + 2 * MIB,
                0x5000,
                PageSize::Size4K,
                KERNEL_RW,
                &mut frames,
            )
            .unwrap();
        assert_eq!(mapper.unmap(base + PAGE_SIZE), Err(MapError::Misaligned));
        assert_eq!(
            mapper.unmap(base + 2 * MIB + PAGE_SIZE),
            Err(MapError::NotMapped)
        );
        assert_eq!(
            mapper.map(
                base + PAGE_SIZE,
                0,
                PageSize::Size4K,
                KERNEL_RW,
                &mut frames
            ),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            mapper.map(base, 0, PageSize::Size1G, KERNEL_RW, &mut frames),
            Err(MapError::AlreadyMapped)
        );

        // Make the 4 KiB page user-readable, executable and uncached: the intermediate entries
        // gain U/S, the accessed and dirty bits survive.
        let page = base + 2 * MIB;
        let (table, index) = {
            let leaf = mapper.walk(page).unwrap();
            (leaf.table, leaf.index)
        };
        let entry = mapper.read(table, index);
        mapper.write(table, index, entry | PTE_A | PTE_D);
        let user_code = PageFlags {
            writable: false,
            user: true,
            executable: true,
            global: false,
            cache: CacheMode::Uncacheable,
        };
        assert_eq!(mapper.protect(page, user_code), Ok(PageSize::Size4K));
        assert_eq!(
            mapper.translate(page + 8),
            Some(Translation {
                phys: 0x5008,
                size: PageSize::Size4K,
                flags: user_code
            })
        );
        assert_eq!(mapper.read(table, index) & (PTE_A | PTE_D), PTE_A | PTE_D);
        let walked = reference_walk(&mem, page).unwrap();
        assert!(
            walked.user && !walked.writable && !walked.execute_disable && walked.pat_index == 3
        );
        // The 2 MiB page beside it stays supervisor-only despite the shared PDPT entry.
        assert!(!reference_walk(&mem, base).unwrap().user);

        // Write-combining on the large page puts its PAT index in PWT.
        let wc = PageFlags {
            cache: CacheMode::WriteCombining,
            ..KERNEL_RW
        };
        assert_eq!(mapper.protect(base, wc), Ok(PageSize::Size2M));
        assert_eq!(
            mapper.translate(base + 5).unwrap(),
            Translation {
                phys: 0x20_0005,
                size: PageSize::Size2M,
                flags: wc
            }
        );
        assert_eq!(
            mapper.protect(base + PAGE_SIZE, wc),
            Err(MapError::Misaligned)
        );
        assert_eq!(mapper.protect(base + 4 * MIB, wc), Err(MapError::NotMapped));

        assert_eq!(mapper.unmap(base), Ok((0x20_0000, PageSize::Size2M)));
        assert_eq!(mapper.translate(base), None);
        assert_eq!(mapper.translate(page).unwrap().phys, 0x5000);
        // Tables stay after their last page goes: a large page cannot replace them.
        assert_eq!(mapper.unmap(page), Ok((0x5000, PageSize::Size4K)));
        assert_eq!(
            mapper.map(page, 0, PageSize::Size2M, KERNEL_RW, &mut frames),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            mapper.map(base, 0, PageSize::Size2M, KERNEL_RW, &mut frames),
            Ok(())
        );
    }

    #[test]
    fn pat_programming_and_entry_bits() {
        assert_eq!(
            PAT_VALUE.to_le_bytes(),
            [0x06, 0x01, 0x07, 0x00, 0x06, 0x01, 0x07, 0x00]
        );
        for size in [PageSize::Size4K, PageSize::Size2M, PageSize::Size1G] {
            assert_eq!(CacheMode::WriteBack.entry_bits(size), 0);
            assert_eq!(CacheMode::WriteCombining.entry_bits(size), PTE_PWT);
            assert_eq!(CacheMode::Uncacheable.entry_bits(size), PTE_PWT | PTE_PCD);
            for mode in [
                CacheMode::WriteBack,
                CacheMode::WriteCombining,
                CacheMode::Uncacheable,
            ] {
                let pat_entry = (PAT_VALUE >> (8 * mode.pat_index())) & 0xff;
                let expected = match mode {
                    CacheMode::WriteBack => PAT_TYPE_WB,
                    CacheMode::WriteCombining => PAT_TYPE_WC,
                    CacheMode::Uncacheable => PAT_TYPE_UC,
                };
                assert_eq!(pat_entry, expected);
                assert_eq!(CacheMode::of_entry(mode.entry_bits(size), size), mode);
                // The PAT bit selects the upper half, which repeats the lower one.
                let pat = if size == PageSize::Size4K {
                    PTE_PAT_4K
                } else {
                    PTE_PAT_LARGE
                };
                assert_eq!(CacheMode::of_entry(mode.entry_bits(size) | pat, size), mode);
            }
        }
    }

    #[test]
    fn indices_and_canonical_form() {
        let virt = 0xffff_ff80_0120_3456u64;
        assert_eq!(
            (
                pml4_index(virt),
                pdpt_index(virt),
                pd_index(virt),
                pt_index(virt)
            ),
            (511, 0, 9, 3)
        );
        assert_eq!(pml4_index(0xffff_8000_0000_0000), 256);
        assert_eq!(pml4_index(0x0000_7fff_ffff_ffff), 255);
        for virt in [0, 0x0000_7fff_ffff_ffff, 0xffff_8000_0000_0000, u64::MAX] {
            assert!(canonical(virt), "{virt:#x}");
        }
    }
}
