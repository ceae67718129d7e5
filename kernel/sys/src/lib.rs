//! Everything below the benchmark suite and the self-tests, in layers (docs/DESIGN.md,
//! "Layers"); a module never imports one of a higher layer (checked by the host test
//! `layers` in bench/runner/tests/layers.rs):
//!
//! 1. `arch`: the x86-64 primitives (every asm, MSR, control register, descriptor table).
//! 2. `console`, `screen`: text output (serial and screen), the records' sink. A leaf service
//!    every layer above may print through, as Linux's printk.
//! 3. `platform` (ACPI, clock, boot information), then `mm` and `cpu` (memory and page
//!    tables, per-CPU windows, SMP bring-up, cross-CPU calls), then the mechanisms researchers
//!    vary: `mm::fault` (page faults), `mm::tlb` (TLB shootdown), and the user address space
//!    `mm::uspace`.
//! 4. `run` (exit, fatal reports, the context record) and `trap` (exception routing, installed
//!    into `arch::idt` as a hook).

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub use kernel_core;

pub mod arch;
pub mod console;
pub mod cpu;
pub mod mm;
pub mod platform;
pub mod run;
pub mod screen;
pub mod trap;

pub use console::record_with;
