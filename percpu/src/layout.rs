//! The layout of one CPU's 16 MiB window, written once. Offsets are from the window base
//! (= the CPU's GS base). Only pages in use are mapped; every stack has an unmapped guard
//! page right below it, so an overflow faults instead of corrupting its neighbour.
//!
//! ```text
//! 0x000000  per-CPU variables (.percpu image; GS:0 holds the window's own address)
//! 0x010000  GDT and TSS
//! 0x020000  guard, kernel stack, guard, #DF stack, guard, NMI stack, guard, #MC stack
//! 0x100000  arena: free for the benchmarks (15 MiB), mapped by whoever uses it
//! ```

use crate::WINDOW_SIZE;

pub const PAGE_SIZE: u64 = 4096;

/// The per-CPU variables: a copy of the `.percpu` section, control block first.
pub const VARS_OFFSET: u64 = 0;
/// Room for the `.percpu` image (the kernel checks its size against this at boot).
pub const VARS_MAX: u64 = 64 * 1024;
/// One page for this CPU's GDT and TSS.
pub const TABLES_OFFSET: u64 = VARS_OFFSET + VARS_MAX;
pub const TABLES_SIZE: u64 = PAGE_SIZE;

pub const KERNEL_STACK_SIZE: u64 = 64 * 1024;
pub const IST_STACK_SIZE: u64 = 16 * 1024;
const STACKS_START: u64 = 0x20000;

/// A stack inside the window: `[bottom, top)`, with the guard page `[bottom - 4 KiB, bottom)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stack {
    pub bottom: u64,
    pub top: u64,
}

impl Stack {
    /// A stack of `size` bytes placed after a guard page that starts at `after`.
    const fn after(after: u64, size: u64) -> Stack {
        Stack {
            bottom: after + PAGE_SIZE,
            top: after + PAGE_SIZE + size,
        }
    }
    pub const fn guard(&self) -> u64 {
        self.bottom - PAGE_SIZE
    }
}

/// The stack the CPU runs on (the AP enters Rust on it; the BSP moves to it).
pub const KERNEL_STACK: Stack = Stack::after(STACKS_START, KERNEL_STACK_SIZE);
/// IST1: double fault.
pub const DOUBLE_FAULT_STACK: Stack = Stack::after(KERNEL_STACK.top, IST_STACK_SIZE);
/// IST2: NMI.
pub const NMI_STACK: Stack = Stack::after(DOUBLE_FAULT_STACK.top, IST_STACK_SIZE);
/// IST3: machine check.
pub const MACHINE_CHECK_STACK: Stack = Stack::after(NMI_STACK.top, IST_STACK_SIZE);
pub const STACKS: [Stack; 4] = [
    KERNEL_STACK,
    DOUBLE_FAULT_STACK,
    NMI_STACK,
    MACHINE_CHECK_STACK,
];

/// The arena: the rest of the window, for benchmark working sets.
pub const ARENA_OFFSET: u64 = 1 << 20;
pub const ARENA_SIZE: u64 = WINDOW_SIZE - ARENA_OFFSET;

const _: () = {
    assert!(VARS_OFFSET + VARS_MAX <= TABLES_OFFSET);
    assert!(TABLES_OFFSET + TABLES_SIZE <= STACKS_START);
    assert!(MACHINE_CHECK_STACK.top <= ARENA_OFFSET);
    assert!(ARENA_OFFSET + ARENA_SIZE <= WINDOW_SIZE);
    assert!(KERNEL_STACK.top.is_multiple_of(16) && DOUBLE_FAULT_STACK.top.is_multiple_of(16));
};

/// Every page range of the window that is mapped at bring-up, as (offset, length): the
/// variables (`vars_len` bytes, rounded up to pages), tables and the four stacks. (What
/// other CPUs write lives among the variables, each alone in its cache lines:
/// `CacheAligned`.)
/// Guard pages and the arena are left out.
pub fn mapped_ranges(vars_len: u64) -> [(u64, u64); 6] {
    [
        (VARS_OFFSET, vars_len.max(1).next_multiple_of(PAGE_SIZE)),
        (TABLES_OFFSET, TABLES_SIZE),
        (KERNEL_STACK.bottom, KERNEL_STACK_SIZE),
        (DOUBLE_FAULT_STACK.bottom, IST_STACK_SIZE),
        (NMI_STACK.bottom, IST_STACK_SIZE),
        (MACHINE_CHECK_STACK.bottom, IST_STACK_SIZE),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_ranges_are_disjoint_page_aligned_and_leave_guards() {
        let ranges = mapped_ranges(5000);
        assert_eq!(ranges[0], (0, 8192));
        for (i, &(off, len)) in ranges.iter().enumerate() {
            assert_eq!(off % PAGE_SIZE, 0);
            assert_eq!(len % PAGE_SIZE, 0);
            assert!(off + len <= ARENA_OFFSET);
            for &(o2, l2) in &ranges[i + 1..] {
                assert!(off + len <= o2 || o2 + l2 <= off, "overlap");
            }
        }
        for s in STACKS {
            let guard = s.guard();
            assert!(
                ranges
                    .iter()
                    .all(|&(o, l)| guard + PAGE_SIZE <= o || o + l <= guard),
                "guard page of {s:?} is mapped"
            );
        }
    }

    #[test]
    fn stacks_follow_each_other_with_one_guard_page() {
        assert_eq!(KERNEL_STACK.bottom, 0x21000);
        assert_eq!(KERNEL_STACK.top, 0x31000);
        assert_eq!(DOUBLE_FAULT_STACK.guard(), KERNEL_STACK.top);
        assert_eq!(NMI_STACK.guard(), DOUBLE_FAULT_STACK.top);
        assert_eq!(MACHINE_CHECK_STACK.guard(), NMI_STACK.top);
        assert_eq!(ARENA_SIZE, 15 << 20);
    }
}
