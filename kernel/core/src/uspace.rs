//! The layout of the user address space the benchmarks run in (lower half, 4-level paging).
//! Everything is below 2^47 and page aligned; the host tests check that no two areas overlap.
//!
//! ```text
//! 0x0000_0000_0040_0000  user program text (read, execute)
//! 0x0000_0000_0060_0000  page shared with the kernel (shootdown oracle state, read-write)
//! 0x0000_0000_0070_0000  the fault probe: never mapped (the user exception floor faults here)
//! 0x0000_0000_1000_0000  user stacks, one page per CPU with an unmapped page below each
//! 0x0000_0000_4000_0000  sample buffers, one slot per CPU
//! 0x0000_0010_0020_0000  shootdown region (512 pages)
//! 0x0000_0020_0000_0000  demand-zero arenas, 16 MiB apart, 15 MiB each
//! 0x0000_7fff_ffff_f000  the last page (the SYSRET self-test's code)
//! ```

/// Number of CPUs the layout has room for (as the per-CPU region).
pub const MAX_CPUS: u64 = 512;
const PAGE: u64 = crate::PAGE_SIZE;

/// User program text.
pub const CODE: u64 = 0x0000_0000_0040_0000;
/// Room for the program text.
pub const CODE_MAX: u64 = 16 * PAGE;
/// The page(s) shared with the kernel.
pub const SHARED: u64 = 0x0000_0000_0060_0000;
/// Room for the shared state.
pub const SHARED_MAX: u64 = 4 * PAGE;
/// Never mapped: a user read here is the fault of the user exception floor.
pub const PROBE: u64 = 0x0000_0000_0070_0000;
/// User stacks: CPU n's stack page is at `STACKS + n * STACK_STRIDE + PAGE`.
pub const STACKS: u64 = 0x0000_0000_1000_0000;
/// One guard page and one stack page per CPU.
pub const STACK_STRIDE: u64 = 2 * PAGE;
/// Sample buffers: CPU n's at `SAMPLES + n * SAMPLES_STRIDE`.
pub const SAMPLES: u64 = 0x0000_0000_4000_0000;
/// Room for one CPU's samples (two u64 per sample).
pub const SAMPLES_STRIDE: u64 = 1 << 20;
/// The user-space shootdown region: 2 MiB aligned (one page table, for the oracle's PDE
/// variant) but not 8 MiB aligned, so its pages do not share the index bits 12-22 of a
/// small direct-mapped TLB (Bochs' DTLB) with the 16 MiB-aligned per-CPU windows the IPI
/// handler touches, which would evict a stale entry before a reader sees it.
pub const REGION: u64 = 0x0000_0010_0020_0000;
/// Pages in the region.
pub const REGION_PAGES: u64 = 512;
/// Demand-zero arenas: CPU n's at `ARENAS + n * ARENA_STRIDE`.
pub const ARENAS: u64 = 0x0000_0020_0000_0000;
/// Distance between two arenas.
pub const ARENA_STRIDE: u64 = 16 << 20;
/// Usable bytes of one arena (the kernel arenas have the same size).
pub const ARENA_SIZE: u64 = 15 << 20;
/// The shared fault region: every CPU faults here at once (the `pf_contention` benchmark),
/// in one address space, on shared page tables.
pub const SHARED_FAULTS: u64 = 0x0000_0030_0000_0000;
/// Pages in the shared fault region (32 MiB: 16 page tables).
pub const SHARED_FAULT_PAGES: u64 = 8192;
/// One past the last user address (canonical lower half, 4-level paging).
pub const USER_END: u64 = 1 << 47;
/// The last page of the lower half: a program whose SYSCALL is its last two bytes returns to
/// `USER_END`, a non-canonical address (the SYSRET self-test).
pub const TOP_PAGE: u64 = USER_END - PAGE;

/// Top of CPU `cpu`'s user stack (one page).
pub const fn stack_top(cpu: u64) -> u64 {
    STACKS + cpu * STACK_STRIDE + 2 * PAGE
}

/// First address of CPU `cpu`'s demand-zero arena.
pub const fn arena(cpu: u64) -> u64 {
    ARENAS + cpu * ARENA_STRIDE
}

/// First address of CPU `cpu`'s sample buffer.
pub const fn samples(cpu: u64) -> u64 {
    SAMPLES + cpu * SAMPLES_STRIDE
}

/// Every area as (name, start, end), in address order.
pub fn areas() -> [(&'static str, u64, u64); 9] {
    [
        ("code", CODE, CODE + CODE_MAX),
        ("shared", SHARED, SHARED + SHARED_MAX),
        ("probe", PROBE, PROBE + PAGE),
        ("stacks", STACKS, STACKS + MAX_CPUS * STACK_STRIDE),
        ("samples", SAMPLES, SAMPLES + MAX_CPUS * SAMPLES_STRIDE),
        ("region", REGION, REGION + REGION_PAGES * PAGE),
        ("arenas", ARENAS, ARENAS + MAX_CPUS * ARENA_STRIDE),
        (
            "shared faults",
            SHARED_FAULTS,
            SHARED_FAULTS + SHARED_FAULT_PAGES * PAGE,
        ),
        ("top page", TOP_PAGE, USER_END),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_are_ordered_disjoint_aligned_and_in_the_lower_half() {
        let a = areas();
        for (name, start, end) in a {
            assert_eq!(start % PAGE, 0, "{name}");
            assert_eq!(end % PAGE, 0, "{name}");
            assert!(start < end && end <= USER_END, "{name}");
        }
        for w in a.windows(2) {
            assert!(w[0].2 <= w[1].1, "{} overlaps {}", w[0].0, w[1].0);
        }
    }

    #[test]
    fn per_cpu_slots_stay_inside_their_areas() {
        let last = MAX_CPUS - 1;
        assert!(stack_top(last) <= STACKS + MAX_CPUS * STACK_STRIDE);
        assert_eq!(stack_top(0), STACKS + 2 * PAGE);
        // The page below each stack page is its guard: not part of the previous CPU's stack.
        assert_eq!(stack_top(1) - 2 * PAGE, stack_top(0));
        assert!(arena(last) + ARENA_SIZE <= ARENAS + MAX_CPUS * ARENA_STRIDE);
        const {
            assert!(
                ARENA_SIZE < ARENA_STRIDE,
                "arenas are separated by an unmapped gap"
            )
        };
        assert!(samples(last) + SAMPLES_STRIDE <= SAMPLES + MAX_CPUS * SAMPLES_STRIDE);
    }

    #[test]
    fn a_latency_round_of_samples_fits_its_buffer() {
        // A round faults at most one arena; each sample is two u64.
        const { assert!(ARENA_SIZE / PAGE * 16 <= SAMPLES_STRIDE) };
    }

    #[test]
    fn the_probe_is_not_inside_any_mapped_area() {
        for (name, start, end) in areas() {
            if name != "probe" {
                assert!(PROBE + PAGE <= start || PROBE >= end, "{name}");
            }
        }
    }
}
