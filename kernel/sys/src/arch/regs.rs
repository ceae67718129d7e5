//! The architectural names (MSR numbers, CR / EFER / RFLAGS bits), defined once in
//! `kernel_core::hw` so host tests and the generated assembly header see the same values.

pub use kernel_core::hw::*;
