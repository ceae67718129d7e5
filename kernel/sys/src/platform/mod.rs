//! The machine around the CPUs: ACPI tables, fixed timers and the TSC rate, the loader's
//! information.

pub mod acpi;
pub mod boot;
pub mod clock;
