//! Word access to the memory the benchmarks and self-tests probe: the per-CPU arenas (any
//! CPU's, in the kernel half) and the user test areas (`kernel_core::uspace`: the shootdown
//! region, the per-CPU user arenas and sample buffers, the shared fault region). A [`Word`] is checked once, when it
//! is made (outside any timed region), and then read or written with one volatile access.
//!
//! Why this is sound: no Rust reference ever covers these ranges (the arenas and the user
//! areas are reached only through `Word`s and the page-table code's own atomics), every
//! access is one aligned 8-byte word, and an access to a page that is not present or not
//! allowed is a page fault the demand handler serves or the fatal report ends: never
//! undefined behaviour. A user word is read with SMAP's window open (`arch::user::UserAccess`)
//! by the caller; without it SMAP faults (a fatal report).

use core::marker::PhantomData;

use kernel_core::uspace as ul;
use percpu::{layout, window_base, window_of};

use super::{PAGE_SIZE, Space};

/// A word address in probed memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word(u64);

/// Whether `va` lies in a CPU's arena (the part of its window from `ARENA_OFFSET` on).
fn in_kernel_arena(va: u64) -> bool {
    window_of(va).is_some_and(|cpu| {
        va - window_base(cpu).expect("a window's CPU has a window") >= layout::ARENA_OFFSET
    })
}

/// Whether `va` lies in one of the user areas the benchmarks probe.
fn in_user_test_area(va: u64) -> bool {
    let region = ul::REGION..ul::REGION + ul::REGION_PAGES * PAGE_SIZE;
    let arenas = ul::ARENAS..ul::ARENAS + ul::MAX_CPUS * ul::ARENA_STRIDE;
    let samples = ul::SAMPLES..ul::SAMPLES + ul::MAX_CPUS * ul::SAMPLES_STRIDE;
    let shared = ul::SHARED_FAULTS..ul::SHARED_FAULTS + ul::SHARED_FAULT_PAGES * PAGE_SIZE;
    region.contains(&va) || arenas.contains(&va) || samples.contains(&va) || shared.contains(&va)
}

impl Word {
    /// The word at `va`, which must be 8-byte aligned and lie in a per-CPU arena or a user
    /// test area.
    ///
    /// # Panics
    /// On any other address: a bug in the caller, reported before anything is touched.
    #[inline]
    pub fn at(va: u64) -> Word {
        assert!(
            va.is_multiple_of(8) && (in_kernel_arena(va) || in_user_test_area(va)),
            "probe: {va:#x} is not an aligned word of an arena or a user test area"
        );
        Word(va)
    }

    #[inline(always)]
    pub fn read(self) -> u64 {
        // SAFETY: see the module comment: probed memory, an aligned word, checked in `at`.
        unsafe { (self.0 as *const u64).read_volatile() }
    }

    #[inline(always)]
    pub fn write(self, v: u64) {
        // SAFETY: as in `read`.
        unsafe { (self.0 as *mut u64).write_volatile(v) }
    }
}

/// The pages of one of the calling CPU's own arenas (its kernel arena, or its user arena),
/// checked once when made: only this CPU accesses them, so the page-fault benchmark reaches
/// them through this without a check per access (a bounds check the loops' own bound
/// removes).
#[derive(Clone, Copy, Debug)]
pub struct ArenaPages {
    start: u64,
    pages: usize,
    /// Not `Send`: the pages are the calling CPU's.
    _here: PhantomData<*const ()>,
}

/// One page of an [`ArenaPages`], from [`ArenaPages::first`] (checked there, once for all).
#[derive(Clone, Copy, Debug)]
pub struct ArenaPage {
    addr: u64,
    _here: PhantomData<*const ()>,
}

impl ArenaPage {
    pub fn addr(self) -> u64 {
        self.addr
    }

    /// Its first word.
    #[inline(always)]
    pub fn word(self) -> Word {
        Word(self.addr)
    }

    /// Whether it holds `first` in its first word and zero in every other (a user page is read
    /// inside `UserAccess`): the page-fault benchmark's content check.
    #[inline]
    pub fn holds(self, first: u64) -> bool {
        // SAFETY: a page of this CPU's own arena (an `ArenaPage` is made only by
        // `ArenaPages::first`, and neither type leaves the CPU: not `Send`): only this CPU
        // writes it, and it writes nothing while this shared view lives (no code but the
        // comparison below runs); a page that is not mapped faults (the demand handler's zero
        // page, or a fatal report).
        let words = unsafe { core::slice::from_raw_parts(self.addr as *const u64, 512) };
        words[0] == first && words[1..].iter().all(|&w| w == 0)
    }
}

impl ArenaPages {
    /// This CPU's arena in `space`.
    pub fn of(space: Space) -> ArenaPages {
        let (start, end) = space.arena();
        ArenaPages {
            start,
            pages: ((end - start) / PAGE_SIZE) as usize,
            _here: PhantomData,
        }
    }

    /// Address of page `i`.
    #[inline(always)]
    pub fn page(&self, i: usize) -> u64 {
        assert!(
            i < self.pages,
            "probe: page {i} of an arena of {}",
            self.pages
        );
        self.start + i as u64 * PAGE_SIZE
    }

    /// The first word of page `i`.
    #[inline(always)]
    pub fn word(&self, i: usize) -> Word {
        Word(self.page(i))
    }

    /// Page `i` (checked: `i` must lie in the arena).
    #[inline]
    pub fn at(&self, i: usize) -> ArenaPage {
        ArenaPage {
            addr: self.page(i),
            _here: PhantomData,
        }
    }

    /// How many pages the arena has.
    pub fn len(&self) -> usize {
        self.pages
    }

    /// Whether the arena has no page (never: an arena is 15 MiB).
    pub fn is_empty(&self) -> bool {
        self.pages == 0
    }

    /// The first `count` pages, in order (checked once: `count` must not exceed the arena).
    #[inline]
    pub fn first(&self, count: usize) -> impl Iterator<Item = ArenaPage> + use<> {
        assert!(
            count <= self.pages,
            "probe: {count} pages of an arena of {}",
            self.pages
        );
        let start = self.start;
        (0..count as u64).map(move |i| ArenaPage {
            addr: start + i * PAGE_SIZE,
            _here: PhantomData,
        })
    }
}
