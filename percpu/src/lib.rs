//! The per-CPU region (DESIGN.md, address map): 512 windows of 16 MiB in the shared kernel
//! half, window n at `PERCPU_BASE + n * WINDOW_SIZE`; each CPU's GS base points at its own.
//!
//! - [`layout`]: what lives where inside a window, written once and checked at compile time.
//! - [`PerCpu`] and [`percpu!`]: per-CPU variables, declared once anywhere in the kernel into
//!   the `.percpu` section, which linker.ld links at address 0, so a variable's link address
//!   *is* its offset in every window. Scalars are read, written and added with one
//!   `gs:`-relative instruction; anything else is reached through a guard that keeps
//!   interrupts off; another CPU's copy is reachable only for `Sync` data, through its window.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod layout;
mod var;

pub use var::{IrqGuard, PerCpu, Scalar, self_base, set_windows_ready, windows_ready};

/// The alignment and size granule of [`CacheAligned`]: two 64-byte cache lines, so the
/// adjacent-line prefetcher of Intel parts does not pair a padded variable's line with a
/// neighbour's either (crossbeam's `CachePadded` uses 128 on x86-64 for the same reason).
pub const SHARED_ALIGN: usize = 128;

/// A per-CPU variable other CPUs touch (through [`PerCpu::remote`]), alone in its cache
/// lines: aligned to [`SHARED_ALIGN`] and a multiple of it in size, so nothing else in the
/// window shares a line with it (Linux's `DEFINE_PER_CPU_SHARED_ALIGNED`). The runner's
/// `percpu-shared-lines` check fails the build's tests when a remotely used variable is not.
#[repr(C, align(128))]
pub struct CacheAligned<T>(pub T);

const _: () = assert!(core::mem::align_of::<CacheAligned<u8>>() == SHARED_ALIGN);

impl<T> core::ops::Deref for CacheAligned<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Start of the per-CPU region.
pub const PERCPU_BASE: u64 = 0xffff_ff80_0000_0000;
/// Size of one CPU's window.
pub const WINDOW_SIZE: u64 = 16 << 20;
/// Number of windows, hence the most CPUs the kernel brings online.
pub const MAX_CPUS: usize = 512;
/// End of the region (exclusive): 8 GiB after its start.
pub const PERCPU_END: u64 = PERCPU_BASE + MAX_CPUS as u64 * WINDOW_SIZE;

const _: () = assert!(PERCPU_END - PERCPU_BASE == 8 << 30);

/// Base address of logical CPU `cpu`'s window, or None past the last window.
pub const fn window_base(cpu: usize) -> Option<u64> {
    if cpu < MAX_CPUS {
        Some(PERCPU_BASE + cpu as u64 * WINDOW_SIZE)
    } else {
        None
    }
}

/// The logical CPU whose window holds `addr`, if any.
pub const fn window_of(addr: u64) -> Option<usize> {
    if addr >= PERCPU_BASE && addr < PERCPU_END {
        Some(((addr - PERCPU_BASE) / WINDOW_SIZE) as usize)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_tile_the_region() {
        assert_eq!(window_base(0), Some(0xffff_ff80_0000_0000));
        assert_eq!(window_base(1), Some(0xffff_ff80_0100_0000));
        assert_eq!(window_base(511), Some(0xffff_ff81_ff00_0000));
        assert_eq!(window_base(512), None);
        for cpu in [0, 1, 2, 255, 256, 511] {
            let base = window_base(cpu).unwrap();
            assert_eq!(window_of(base), Some(cpu));
            assert_eq!(window_of(base + WINDOW_SIZE - 1), Some(cpu));
        }
        assert_eq!(window_of(PERCPU_BASE - 1), None);
        assert_eq!(window_of(PERCPU_END), None);
    }
}
