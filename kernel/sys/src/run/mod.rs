//! Run control: how a run ends (`exit`), what a fatal exception or panic reports (`fatal`),
//! and the `context` record (`context_record`).

pub mod context_record;
pub mod exit;
pub mod fatal;
