//! The CPUs: per-CPU windows and variables (`local`), bring-up of the application processors
//! (`smp`), running a function on another CPU (`call`), and the TSC synchronisation check.

pub mod call;
pub mod local;
pub mod smp;
pub mod tsc_sync;
