//! Per-CPU variables reached through GS.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

use kernel_core::hw::RFLAGS_IF;

use crate::{MAX_CPUS, window_base};

/// One per-CPU variable. Declare with [`percpu!`](crate::percpu), which puts it in the
/// `.percpu` section; its address is then its offset in every window.
#[repr(transparent)]
pub struct PerCpu<T> {
    initial: UnsafeCell<T>,
}

// SAFETY: the static itself is only an initial image and an offset: no code reads or writes
// it through its address (accessors go through GS or a window), so sharing it is harmless.
unsafe impl<T> Sync for PerCpu<T> {}

/// Declare per-CPU variables: `percpu! { pub static COUNTER: u64 = 0; }`.
#[macro_export]
macro_rules! percpu {
    ($($(#[$attr:meta])* $vis:vis static $name:ident : $ty:ty = $init:expr;)+) => {$(
        $(#[$attr])*
        #[unsafe(link_section = ".percpu")]
        $vis static $name: $crate::PerCpu<$ty> = $crate::PerCpu::new($init);
    )+};
}

/// Window count whose windows are mapped (set by the kernel before any remote access).
static WINDOWS_READY: AtomicUsize = AtomicUsize::new(0);

/// Declare windows `0..n` mapped and initialised.
///
/// # Safety
/// Every window below `n` must be mapped with a full copy of the `.percpu` image.
pub unsafe fn set_windows_ready(n: usize) {
    WINDOWS_READY.store(n.min(MAX_CPUS), Ordering::Release);
}

pub fn windows_ready() -> usize {
    WINDOWS_READY.load(Ordering::Acquire)
}

impl<T> PerCpu<T> {
    pub const fn new(initial: T) -> Self {
        PerCpu {
            initial: UnsafeCell::new(initial),
        }
    }

    /// Offset of this variable in a window (= its link address, `.percpu` is linked at 0).
    #[inline(always)]
    pub fn offset(&'static self) -> u64 {
        self.initial.get() as u64
    }

    /// This CPU's copy, with interrupts off for as long as the closure runs (so an interrupt
    /// handler on this CPU cannot see it half-updated).
    ///
    /// # Safety
    /// The closure must not reach this variable again (a nested `with` on it would make a
    /// second `&mut` to the same copy). Interrupts are off, so no handler on this CPU can.
    #[inline]
    pub unsafe fn with<R>(&'static self, f: impl FnOnce(&mut T) -> R) -> R {
        let _guard = IrqGuard::new();
        // SAFETY: GS:0 holds this CPU's window base (set before the first Rust instruction);
        // the copy at base + offset belongs to this CPU alone, interrupts are off, and the
        // caller guarantees the closure does not reach the variable again.
        unsafe { f(&mut *((self_base() + self.offset()) as *mut T)) }
    }

    /// This CPU's copy, in code that already runs with interrupts off (an exception or
    /// interrupt handler entered through an interrupt gate, or a caller holding an
    /// [`IrqGuard`]): no RFLAGS save, CLI and restore on the way, which a fault path pays
    /// for on every fault.
    ///
    /// # Safety
    /// Interrupts must be off on this CPU for as long as the closure runs, and the closure
    /// must not reach this variable again (as for [`with`](Self::with)).
    #[inline(always)]
    pub unsafe fn with_irqs_off<R>(&'static self, f: impl FnOnce(&mut T) -> R) -> R {
        debug_assert!(!interrupts_on(), "with_irqs_off called with interrupts on");
        // SAFETY: as in `with`; the caller guarantees interrupts are off.
        unsafe { f(&mut *((self_base() + self.offset()) as *mut T)) }
    }
}

/// Whether RFLAGS.IF is set on this CPU.
#[inline(always)]
pub fn interrupts_on() -> bool {
    let flags: u64;
    // SAFETY: reads RFLAGS.
    unsafe { asm!("pushfq", "pop {}", out(reg) flags, options(nomem, preserves_flags)) };
    flags & RFLAGS_IF != 0
}

impl<T: Sync> PerCpu<T> {
    /// This CPU's copy, shared (for atomics and other `Sync` data).
    #[inline]
    pub fn get(&'static self) -> &'static T {
        // SAFETY: the window is mapped for the lifetime of the kernel; T is Sync, so shared
        // references from several CPUs are fine.
        unsafe { &*((self_base() + self.offset()) as *const T) }
    }

    /// CPU `cpu`'s copy, through its window. Panics if that window is not set up.
    pub fn remote(&'static self, cpu: usize) -> &'static T {
        assert!(cpu < windows_ready(), "per-CPU window {cpu} is not mapped");
        let base = window_base(cpu).expect("cpu below MAX_CPUS");
        // SAFETY: window `cpu` is mapped and initialised (set_windows_ready), stays mapped,
        // and T is Sync.
        unsafe { &*((base + self.offset()) as *const T) }
    }
}

/// The current CPU's window base, from the self pointer at GS:0.
#[inline(always)]
pub fn self_base() -> u64 {
    let v: u64;
    // SAFETY: GS:0 is the control block's self pointer in every window.
    unsafe {
        asm!("mov {}, qword ptr gs:[0]", out(reg) v, options(nostack, preserves_flags, readonly))
    };
    v
}

/// Integer types that fit one `gs:` load or store.
pub trait Scalar: Copy {
    fn to_bits(self) -> u64;
    fn from_bits(bits: u64) -> Self;
}

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            #[inline(always)]
            fn to_bits(self) -> u64 { self as u64 }
            #[inline(always)]
            fn from_bits(bits: u64) -> Self { bits as $t }
        }
    )*};
}
scalar!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl<T: Scalar> PerCpu<T> {
    /// Read this CPU's copy: one `gs:`-relative load.
    #[inline(always)]
    pub fn read(&'static self) -> T {
        let off = self.offset();
        let v: u64;
        // SAFETY: GS points at this CPU's mapped window; `off` is inside its variables.
        unsafe {
            match size_of::<T>() {
                1 => {
                    asm!("movzx {v:e}, byte ptr gs:[{o}]", o = in(reg) off, v = out(reg) v, options(nostack, preserves_flags, readonly))
                }
                2 => {
                    asm!("movzx {v:e}, word ptr gs:[{o}]", o = in(reg) off, v = out(reg) v, options(nostack, preserves_flags, readonly))
                }
                4 => {
                    asm!("mov {v:e}, dword ptr gs:[{o}]", o = in(reg) off, v = out(reg) v, options(nostack, preserves_flags, readonly))
                }
                _ => {
                    asm!("mov {v}, qword ptr gs:[{o}]", o = in(reg) off, v = out(reg) v, options(nostack, preserves_flags, readonly))
                }
            }
        }
        T::from_bits(v)
    }

    /// Write this CPU's copy: one `gs:`-relative store.
    #[inline(always)]
    pub fn write(&'static self, val: T) {
        let off = self.offset();
        let v = val.to_bits();
        // SAFETY: as for `read`; a single store cannot be torn by an interrupt.
        unsafe {
            match size_of::<T>() {
                1 => {
                    asm!("mov byte ptr gs:[{o}], {v:l}", o = in(reg) off, v = in(reg) v, options(nostack, preserves_flags))
                }
                2 => {
                    asm!("mov word ptr gs:[{o}], {v:x}", o = in(reg) off, v = in(reg) v, options(nostack, preserves_flags))
                }
                4 => {
                    asm!("mov dword ptr gs:[{o}], {v:e}", o = in(reg) off, v = in(reg) v, options(nostack, preserves_flags))
                }
                _ => {
                    asm!("mov qword ptr gs:[{o}], {v}", o = in(reg) off, v = in(reg) v, options(nostack, preserves_flags))
                }
            }
        }
    }

    /// Add to this CPU's copy (wrapping): one `gs:`-relative read-modify-write, atomic with
    /// respect to interrupts on this CPU.
    #[inline(always)]
    pub fn add(&'static self, val: T) {
        let off = self.offset();
        let v = val.to_bits();
        // SAFETY: as for `write`.
        unsafe {
            match size_of::<T>() {
                1 => {
                    asm!("add byte ptr gs:[{o}], {v:l}", o = in(reg) off, v = in(reg) v, options(nostack))
                }
                2 => {
                    asm!("add word ptr gs:[{o}], {v:x}", o = in(reg) off, v = in(reg) v, options(nostack))
                }
                4 => {
                    asm!("add dword ptr gs:[{o}], {v:e}", o = in(reg) off, v = in(reg) v, options(nostack))
                }
                _ => {
                    asm!("add qword ptr gs:[{o}], {v}", o = in(reg) off, v = in(reg) v, options(nostack))
                }
            }
        }
    }
}

/// Interrupts off while alive; restores the previous state on drop.
pub struct IrqGuard {
    were_on: bool,
}

impl IrqGuard {
    #[inline(always)]
    pub fn new() -> Self {
        let flags: u64;
        // SAFETY: reads RFLAGS and clears IF; no memory effects.
        unsafe { asm!("pushfq", "pop {}", "cli", out(reg) flags, options(nomem, preserves_flags)) };
        IrqGuard {
            were_on: flags & RFLAGS_IF != 0,
        }
    }
}

impl Default for IrqGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for IrqGuard {
    #[inline(always)]
    fn drop(&mut self) {
        if self.were_on {
            // SAFETY: interrupts were on when the guard was made.
            unsafe { asm!("sti", options(nomem, nostack)) };
        }
    }
}
