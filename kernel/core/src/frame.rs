//! The physical frame allocator: one bit per 4 KiB frame.
//!
//! The pool is every [`RegionKind::Usable`] frame of a normalised [`MemoryMap`] at or above
//! 1 MiB; nothing else (low memory, the kernel, loader structures, ACPI, reserved ranges) is
//! ever handed out. The bitmap covers frames `0..bitmap_words(ram_top) * 64`, one bit each,
//! set while the frame is free.
//!
//! The bitmap lives in memory the kernel provides: it places it with
//! [`MemoryMap::find_free`], reaches it first through the boot identity map, builds the
//! allocator with [`FrameAllocator::from_raw`], marks the bitmap's own frames with
//! [`FrameAllocator::reserve`], and once the direct map is up moves its view with
//! [`FrameAllocator::relocate`] before the identity map goes away.

use crate::bootinfo::{MemoryMap, Region, RegionKind};
use crate::paging::FrameSource;
use crate::{LOW_MEMORY_END, PAGE_SIZE};

/// Frames described by one bitmap word.
const FRAMES_PER_WORD: u64 = u64::BITS as u64;

/// Number of `u64` words of bitmap that cover the physical memory below `ram_top`.
pub fn bitmap_words(ram_top: u64) -> usize {
    (ram_top.div_ceil(PAGE_SIZE).div_ceil(FRAMES_PER_WORD)) as usize
}

/// A bitmap allocator of 4 KiB physical frames.
pub struct FrameAllocator {
    /// `words` words, bit `f % 64` of word `f / 64` set while frame `f` is free.
    bitmap: *mut u64,
    words: usize,
    /// The usable frames at or above 1 MiB the bitmap covers: the only ones ever handed out.
    pool: MemoryMap,
    total: u64,
    free: u64,
    /// Frame number where the next-fit search of [`FrameAllocator::alloc`] starts.
    next_frame: u64,
}

// SAFETY: the allocator is the only user of its bitmap (a requirement of `from_raw`), so moving
// it to another CPU moves that exclusive access along with it.
unsafe impl Send for FrameAllocator {}

impl FrameAllocator {
    /// An allocator of the usable frames of `map` (normalised) at or above 1 MiB, keeping its
    /// bitmap in `bitmap`. Usable frames beyond the bitmap's `bitmap.len() * 64` frames are not
    /// managed; size it with [`bitmap_words`]`(map.ram_top())`.
    pub fn new(bitmap: &'static mut [u64], map: &MemoryMap) -> Self {
        // SAFETY: a `'static` exclusive borrow is valid and unaliased for as long as the
        // allocator can live.
        unsafe { Self::from_raw(bitmap.as_mut_ptr(), bitmap.len(), map) }
    }

    /// Like [`FrameAllocator::new`], over `words` words at `bitmap`.
    ///
    /// # Safety
    /// `bitmap` must be valid for reads and writes of `words` `u64`s, suitably aligned, and
    /// used by nothing else for as long as the allocator uses it (until it is dropped or
    /// relocated). Its previous contents do not matter.
    pub unsafe fn from_raw(bitmap: *mut u64, words: usize, map: &MemoryMap) -> Self {
        let covered_end = (words as u64)
            .saturating_mul(FRAMES_PER_WORD)
            .saturating_mul(PAGE_SIZE);
        let mut pool = MemoryMap::new();
        for region in map
            .regions()
            .iter()
            .filter(|region| region.kind == RegionKind::Usable)
        {
            let start = region.start.max(LOW_MEMORY_END);
            let start = start
                .checked_next_multiple_of(PAGE_SIZE)
                .unwrap_or(u64::MAX);
            let end = region.end.min(covered_end) & !(PAGE_SIZE - 1);
            // `map` holds at most `MAX_REGIONS` regions, so the pool cannot overflow.
            let _ = pool.add(Region {
                start,
                end,
                kind: RegionKind::Usable,
            });
        }
        let mut allocator = FrameAllocator {
            bitmap,
            words,
            pool,
            total: 0,
            free: 0,
            next_frame: 0,
        };
        allocator.bitmap_mut().fill(0);
        for i in 0..allocator.pool.regions().len() {
            let region = allocator.pool.regions()[i];
            let frames =
                allocator.set_range(region.start / PAGE_SIZE, region.end / PAGE_SIZE, true);
            allocator.total += frames;
        }
        allocator.free = allocator.total;
        allocator
    }

    /// Makes the allocator use the bitmap at `new_ptr` from now on: the same physical words
    /// reached at another virtual address (the direct map).
    ///
    /// # Safety
    /// `new_ptr` must satisfy the requirements of [`FrameAllocator::from_raw`] for the current
    /// number of words, and hold the current bitmap's contents (the same memory, mapped
    /// elsewhere, or a copy).
    pub unsafe fn relocate(&mut self, new_ptr: *mut u64) {
        self.bitmap = new_ptr;
    }

    /// Size of the bitmap in bytes: the kernel reserves `[phys, phys + bitmap_bytes())` of the
    /// memory it placed the bitmap in.
    pub fn bitmap_bytes(&self) -> u64 {
        self.words as u64 * 8
    }

    fn bitmap(&self) -> &[u64] {
        // SAFETY: `from_raw` and `relocate` require `bitmap` to be valid for `words` words and
        // used only by this allocator; `&self` excludes writes for the borrow's duration.
        unsafe { core::slice::from_raw_parts(self.bitmap, self.words) }
    }

    fn bitmap_mut(&mut self) -> &mut [u64] {
        // SAFETY: as in `bitmap`; `&mut self` makes this the only access.
        unsafe { core::slice::from_raw_parts_mut(self.bitmap, self.words) }
    }

    /// Sets (`free`) or clears the bits of frames `first..end`; returns how many changed.
    fn set_range(&mut self, first: u64, end: u64, free: bool) -> u64 {
        let mut changed = 0;
        let mut frame = first;
        while frame < end {
            let word = (frame / FRAMES_PER_WORD) as usize;
            let bit = frame % FRAMES_PER_WORD;
            let count = (FRAMES_PER_WORD - bit).min(end - frame);
            let mask = (u64::MAX >> (FRAMES_PER_WORD - count)) << bit;
            let old = self.bitmap()[word];
            let new = if free { old | mask } else { old & !mask };
            changed += u64::from((old ^ new).count_ones());
            self.bitmap_mut()[word] = new;
            frame += count;
        }
        changed
    }

    /// Marks every pool frame overlapping `[start, end)` as in use (the bitmap itself, ACPI
    /// tables in usable memory, the AP trampoline page, ...); frames outside the pool or
    /// already in use are left alone.
    pub fn reserve(&mut self, start: u64, end: u64) {
        for i in 0..self.pool.regions().len() {
            let region = self.pool.regions()[i];
            let first = start.max(region.start) / PAGE_SIZE;
            let last = end.min(region.end).div_ceil(PAGE_SIZE);
            if first < last {
                self.free -= self.set_range(first, last, false);
            }
        }
    }

    /// Takes frame `frame_number` from word `word` (which must have it free).
    fn take(&mut self, word: usize, frame_number: u64) -> u64 {
        self.bitmap_mut()[word] &= !(1 << (frame_number % FRAMES_PER_WORD));
        self.free -= 1;
        frame_number * PAGE_SIZE
    }

    /// A free frame's physical address, or `None` when none is left. Next-fit: the search
    /// starts after the frame the previous call returned and wraps around.
    pub fn alloc(&mut self) -> Option<u64> {
        if self.free == 0 {
            return None;
        }
        let first_word = (self.next_frame / FRAMES_PER_WORD) as usize;
        // One more word than the bitmap has: the first word is searched again from its start.
        for i in 0..=self.words {
            let word = (first_word + i) % self.words;
            let mut bits = self.bitmap()[word];
            if i == 0 {
                bits &= u64::MAX << (self.next_frame % FRAMES_PER_WORD);
            }
            if bits != 0 {
                let frame_number = word as u64 * FRAMES_PER_WORD + u64::from(bits.trailing_zeros());
                self.next_frame = frame_number + 1;
                return Some(self.take(word, frame_number));
            }
        }
        unreachable!(
            "frame allocator: {} frames counted free but none found",
            self.free
        )
    }

    /// A free, naturally aligned run of `2^order` frames (order 9: a 2 MiB page), its first
    /// frame's address, or `None` when no such run is free. Orders 6 to 12 (whole bitmap
    /// words); the search is next-fit like [`FrameAllocator::alloc`] and takes every frame of
    /// the run.
    pub fn alloc_aligned_run(&mut self, order: u32) -> Option<u64> {
        assert!(
            (6..=12).contains(&order),
            "alloc_aligned_run: order {order}"
        );
        let run_words = 1usize << (order - 6);
        let runs = self.words / run_words;
        if runs == 0 || self.free < (run_words as u64) * FRAMES_PER_WORD {
            return None;
        }
        let start = (self.next_frame / FRAMES_PER_WORD) as usize / run_words;
        let run = (0..runs).map(|i| (start + i) % runs).find(|&r| {
            self.bitmap()[r * run_words..(r + 1) * run_words]
                .iter()
                .all(|&w| w == u64::MAX)
        })?;
        let first = (run * run_words) as u64 * FRAMES_PER_WORD;
        let end = first + (run_words as u64) * FRAMES_PER_WORD;
        self.free -= self.set_range(first, end, false);
        self.next_frame = end;
        Some(first * PAGE_SIZE)
    }

    /// Returns a run of `2^order` frames from [`FrameAllocator::alloc_aligned_run`].
    pub fn free_run(&mut self, first: u64, order: u32) {
        for i in 0..1u64 << order {
            self.free(first + i * PAGE_SIZE);
        }
    }

    /// The lowest free frame lying entirely below the physical address `limit` (for structures
    /// that 32-bit or 16-bit code must reach), or `None`.
    pub fn alloc_below(&mut self, limit: u64) -> Option<u64> {
        let frames = limit / PAGE_SIZE;
        let words = (frames.div_ceil(FRAMES_PER_WORD) as usize).min(self.words);
        let (word, frame_number) = (0..words).find_map(|word| {
            let bits = self.bitmap()[word];
            let frame_number = word as u64 * FRAMES_PER_WORD + u64::from(bits.trailing_zeros());
            (bits != 0 && frame_number < frames).then_some((word, frame_number))
        })?;
        Some(self.take(word, frame_number))
    }

    /// Whether `frame` (4 KiB-aligned) is a usable frame that is handed out, not free.
    pub fn in_use(&self, frame: u64) -> bool {
        if !frame.is_multiple_of(PAGE_SIZE)
            || !self
                .pool
                .regions()
                .iter()
                .any(|region| region.start <= frame && frame < region.end)
        {
            return false;
        }
        let frame_number = frame / PAGE_SIZE;
        let word = (frame_number / FRAMES_PER_WORD) as usize;
        word < self.words && self.bitmap()[word] & (1 << (frame_number % FRAMES_PER_WORD)) == 0
    }

    /// Returns `frame` to the pool.
    ///
    /// # Panics
    /// If `frame` is not 4 KiB-aligned, was never in the pool, or is already free: each is a
    /// bug that would otherwise corrupt memory later.
    pub fn free(&mut self, frame: u64) {
        assert!(
            frame.is_multiple_of(PAGE_SIZE),
            "frame allocator: free of unaligned address {frame:#x}"
        );
        assert!(
            self.pool
                .regions()
                .iter()
                .any(|region| region.start <= frame && frame < region.end),
            "frame allocator: free of frame {frame:#x}, which was never usable"
        );
        let frame_number = frame / PAGE_SIZE;
        let word = (frame_number / FRAMES_PER_WORD) as usize;
        let bit = 1 << (frame_number % FRAMES_PER_WORD);
        assert!(
            self.bitmap()[word] & bit == 0,
            "frame allocator: double free of frame {frame:#x}"
        );
        self.bitmap_mut()[word] |= bit;
        self.free += 1;
    }

    /// Number of frames in the pool: usable, at or above 1 MiB, covered by the bitmap.
    pub fn total_frames(&self) -> u64 {
        self.total
    }

    /// Number of frames currently free.
    pub fn free_frames(&self) -> u64 {
        self.free
    }
}

impl FrameSource for FrameAllocator {
    fn alloc_frame(&mut self) -> Option<u64> {
        self.alloc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;
    use RegionKind::*;
    use std::collections::HashSet;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn map_of(regions: &[(u64, u64, RegionKind)]) -> MemoryMap {
        let mut map = MemoryMap::new();
        for &(start, end, kind) in regions {
            map.add(Region { start, end, kind }).unwrap();
        }
        map.normalize().unwrap();
        map
    }

    fn allocator(map: &MemoryMap) -> FrameAllocator {
        let words = bitmap_words(map.ram_top());
        // Garbage in the bitmap memory must not matter.
        FrameAllocator::new(vec![0xa5a5_a5a5_a5a5_a5a5; words].leak(), map)
    }

    /// A small machine: low memory, the kernel, a loader page, ACPI tables, reserved holes.
    fn small_map() -> MemoryMap {
        map_of(&[
            (0, 0x9_fc00, Usable),
            (0x9_fc00, 0xa_0000, Reserved),
            (0xf_0000, 0x10_0000, Reserved),
            (0x10_0000, 0x400_0000, Usable),
            (0x20_0000, 0x30_0000, Kernel),
            (0x30_0000, 0x30_1000, Loader),
            (0x100_0000, 0x100_8000, AcpiReclaimable),
            (0x200_0000, 0x200_1000, AcpiNvs),
            (0x300_0000, 0x300_0800, Reserved),
        ])
    }

    fn usable_at_or_above_1mib(map: &MemoryMap, frame: u64) -> bool {
        frame >= LOW_MEMORY_END
            && map
                .regions()
                .iter()
                .any(|r| r.kind == Usable && r.start <= frame && frame + PAGE_SIZE <= r.end)
    }

    #[test]
    fn in_use_follows_alloc_and_free() {
        let map = small_map();
        let mut frames = allocator(&map);
        let f = frames.alloc().unwrap();
        assert!(frames.in_use(f));
        assert!(!frames.in_use(f + 1), "unaligned");
        assert!(
            !frames.in_use(0x20_0000 + 0x10_0000 * 64),
            "outside the pool"
        );
        let next = frames.alloc().unwrap();
        frames.free(f);
        assert!(!frames.in_use(f));
        assert!(frames.in_use(next));
    }

    #[test]
    fn an_aligned_run_is_wholly_free_aligned_and_taken() {
        let map = small_map();
        let mut frames = allocator(&map);
        let before = frames.free_frames();
        let a = frames.alloc_aligned_run(9).unwrap();
        assert_eq!(a % (2 * MIB), 0, "{a:#x} is 2 MiB-aligned");
        assert!(
            usable_at_or_above_1mib(&map, a)
                && usable_at_or_above_1mib(&map, a + 2 * MIB - PAGE_SIZE)
        );
        // The kernel (2..3 MiB) and the loader page are in use: never inside a run.
        assert!(!(a..a + 2 * MIB).contains(&0x20_0000) && !(a..a + 2 * MIB).contains(&0x30_0000));
        assert_eq!(frames.free_frames(), before - 512);
        for i in 0..512 {
            assert!(frames.in_use(a + i * PAGE_SIZE));
        }
        let b = frames.alloc_aligned_run(9).unwrap();
        assert_ne!(a, b);
        frames.free_run(a, 9);
        frames.free_run(b, 9);
        assert_eq!(frames.free_frames(), before);
        // A run broken by one used frame is skipped; none left: None, nothing taken.
        let mut n = 0;
        while frames.alloc_aligned_run(9).is_some() {
            n += 1;
        }
        // 64 MiB of RAM: 2..4 MiB holds the kernel, 16..18 MiB ACPI, 32..34 MiB NVS,
        // 48..50 MiB a reserved hole, 0..2 MiB low memory.
        assert_eq!(n, 32 - 5);
        let left = frames.free_frames();
        assert_eq!(frames.alloc_aligned_run(9), None);
        assert_eq!(frames.free_frames(), left);
    }

    #[test]
    fn bitmap_size() {
        assert_eq!(bitmap_words(0), 0);
        assert_eq!(bitmap_words(1), 1);
        assert_eq!(bitmap_words(64 * PAGE_SIZE), 1);
        assert_eq!(bitmap_words(64 * PAGE_SIZE + 1), 2);
        assert_eq!(bitmap_words(5 * GIB), 5 * GIB as usize / 4096 / 64);
    }

    #[test]
    fn exhausting_the_pool_hands_out_each_usable_frame_once() {
        let map = small_map();
        let mut frames = allocator(&map);
        let expected = (0x400_0000 - 0x10_0000) / PAGE_SIZE - 0x100 - 1 - 8 - 1 - 1;
        assert_eq!(frames.total_frames(), expected);
        assert_eq!(frames.free_frames(), expected);
        let mut seen = HashSet::new();
        while let Some(frame) = frames.alloc() {
            assert!(
                usable_at_or_above_1mib(&map, frame),
                "{frame:#x} is not usable"
            );
            assert!(seen.insert(frame), "{frame:#x} handed out twice");
        }
        assert_eq!(seen.len() as u64, expected);
        assert_eq!(frames.free_frames(), 0);
        assert_eq!(frames.alloc_below(u64::MAX), None);
    }

    #[test]
    fn free_and_reallocate() {
        let map = small_map();
        let mut frames = allocator(&map);
        let all: Vec<u64> = std::iter::from_fn(|| frames.alloc()).collect();
        let mut rng = XorShift::new(7);
        let mut returned: Vec<u64> = all.iter().copied().filter(|_| rng.below(4) == 0).collect();
        for &frame in &returned {
            frames.free(frame);
        }
        assert_eq!(frames.free_frames(), returned.len() as u64);
        let mut again: Vec<u64> = std::iter::from_fn(|| frames.alloc()).collect();
        again.sort_unstable();
        returned.sort_unstable();
        assert_eq!(again, returned);
    }

    #[test]
    fn alloc_below_respects_the_limit() {
        let map = map_of(&[
            (0, 0x9_f000, Usable),
            (MIB, 3 * GIB, Usable),
            (4 * GIB, 6 * GIB, Usable),
        ]);
        let mut frames = allocator(&map);
        assert_eq!(
            frames.alloc_below(MIB),
            None,
            "low memory is never handed out"
        );
        assert_eq!(
            frames.alloc_below(MIB + PAGE_SIZE - 1),
            None,
            "the frame must lie below the limit"
        );
        assert_eq!(frames.alloc_below(MIB + PAGE_SIZE), Some(MIB));
        assert_eq!(frames.alloc_below(MIB + PAGE_SIZE), None);
        for _ in 0..1000 {
            let frame = frames.alloc_below(4 * GIB).unwrap();
            assert!(frame + PAGE_SIZE <= 4 * GIB);
        }
        let limit = MIB + 200 * PAGE_SIZE + 123;
        let below: Vec<u64> = std::iter::from_fn(|| frames.alloc_below(limit)).collect();
        assert!(below.iter().all(|&frame| frame + PAGE_SIZE <= limit));
        assert_eq!(frames.alloc_below(limit), None);
        assert_eq!(
            frames.free_frames(),
            frames.total_frames() - 1001 - below.len() as u64
        );
    }

    #[test]
    fn memory_above_the_4_gib_hole() {
        let map = map_of(&[
            (0, 0x9_fc00, Usable),
            (MIB, 0x7ffd_f000, Usable),
            (0x7ffd_f000, 0x8000_0000, Reserved),
            (0xfffc_0000, 4 * GIB, Reserved),
            (4 * GIB, 5 * GIB, Usable),
        ]);
        let mut frames = allocator(&map);
        assert_eq!(
            frames.total_frames(),
            (0x7ffd_f000 - MIB) / PAGE_SIZE + GIB / PAGE_SIZE
        );
        frames.reserve(MIB, 0x7ffd_f000);
        assert_eq!(frames.free_frames(), GIB / PAGE_SIZE);
        let frame = frames.alloc().unwrap();
        assert!((4 * GIB..5 * GIB).contains(&frame));
        assert_eq!(frames.alloc_below(4 * GIB), None);
        let mut count = 1;
        while let Some(frame) = frames.alloc() {
            assert!((4 * GIB..5 * GIB).contains(&frame), "{frame:#x}");
            count += 1;
        }
        assert_eq!(count, GIB / PAGE_SIZE);
    }

    #[test]
    fn reserve_counts_only_free_pool_frames() {
        let map = small_map();
        let mut frames = allocator(&map);
        let total = frames.total_frames();
        // Partly outside the pool (the kernel) and unaligned at both ends.
        // Frames 0x1ff000, 0x301000 and 0x302000 are in the pool.
        frames.reserve(0x1f_f800, 0x30_2001);
        assert_eq!(frames.free_frames(), total - 3);
        frames.reserve(0x1f_f000, 0x30_3000);
        assert_eq!(frames.free_frames(), total - 3);
        frames.reserve(0, MIB);
        assert_eq!(frames.free_frames(), total - 3);
        assert_eq!(frames.total_frames(), total);
        while let Some(frame) = frames.alloc() {
            assert!(
                !(0x1f_f000..0x30_3000).contains(&frame),
                "{frame:#x} was reserved"
            );
        }
        frames.free(0x1f_f000);
        assert_eq!(frames.alloc(), Some(0x1f_f000));
    }

    #[test]
    fn next_fit_moves_on_from_the_last_allocation() {
        let map = map_of(&[(MIB, MIB + 256 * PAGE_SIZE, Usable)]);
        let mut frames = allocator(&map);
        let first = frames.alloc().unwrap();
        let second = frames.alloc().unwrap();
        assert_eq!((first, second), (MIB, MIB + PAGE_SIZE));
        frames.free(first);
        assert_eq!(frames.alloc(), Some(MIB + 2 * PAGE_SIZE));
    }

    #[test]
    fn a_short_bitmap_manages_only_what_it_covers() {
        let map = map_of(&[(MIB, 64 * MIB, Usable)]);
        let mut frames = FrameAllocator::new(vec![0; bitmap_words(2 * MIB)].leak(), &map);
        assert_eq!(frames.total_frames(), MIB / PAGE_SIZE);
        assert!(std::iter::from_fn(|| frames.alloc()).all(|frame| frame < 2 * MIB));
    }

    #[test]
    fn relocate_keeps_the_state() {
        let map = small_map();
        let words = bitmap_words(map.ram_top());
        let first: &'static mut [u64] = vec![0; words].leak();
        let first_ptr = first.as_mut_ptr();
        let mut frames = FrameAllocator::new(first, &map);
        let a = frames.alloc().unwrap();
        let second: &'static mut [u64] = vec![0; words].leak();
        // SAFETY: `first` is valid for `words` words and only the allocator uses it.
        second.copy_from_slice(unsafe { std::slice::from_raw_parts(first_ptr, words) });
        // SAFETY: `second` is a leaked, unaliased buffer of `words` words holding a copy of the
        // bitmap.
        unsafe { frames.relocate(second.as_mut_ptr()) };
        assert_ne!(frames.alloc(), Some(a));
        frames.free(a);
        assert_eq!(
            second.iter().map(|w| w.count_ones() as u64).sum::<u64>(),
            frames.free_frames()
        );
    }

    #[test]
    #[should_panic(expected = "double free of frame 0x100000")]
    fn double_free_panics() {
        let mut frames = allocator(&small_map());
        let frame = frames.alloc().unwrap();
        frames.free(frame);
        frames.free(frame);
    }

    #[test]
    #[should_panic(expected = "free of unaligned address 0x100800")]
    fn unaligned_free_panics() {
        let mut frames = allocator(&small_map());
        frames.free(0x10_0800);
    }

    #[test]
    fn freeing_a_frame_that_was_never_usable_panics() {
        for frame in [
            0x1000,
            0x20_0000,
            0x30_0000,
            0x100_0000,
            0x200_0000,
            0x300_0000,
            0x400_0000,
            64 * GIB,
        ] {
            let result = std::panic::catch_unwind(|| allocator(&small_map()).free(frame));
            let message = *result.unwrap_err().downcast::<String>().unwrap();
            assert!(
                message.contains("which was never usable"),
                "{frame:#x}: {message}"
            );
        }
    }
}
