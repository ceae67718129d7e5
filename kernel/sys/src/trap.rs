//! Exception routing: where each of the 32 architectural exceptions goes, in order. Handed to
//! `arch::idt` from above, at link time (`exception_entry!` defines the function the entry
//! stubs call, with [`route`] inlined into it), so the architecture layer never calls up into
//! the mechanisms and the fault path pays no indirect call. To change the fault path, read
//! this file top to bottom.
//!
//! 1. A page fault with a reserved bit set in a paging entry (e.g. XD without NX) would fault
//!    again on every retry: always fatal.
//! 2. A page fault the demand-paging mechanism owns (`mm::fault`) is served and retried.
//! 3. From ring 3: the ring-3 harness's probe fault or exit trap (`mm::uspace`), else the
//!    program is killed (`arch::user::kill`, which returns to the kernel's caller).
//! 4. From ring 0: a fault at an instruction with an exception-table entry
//!    (`arch::extable`) resumes at its fixup.
//! 5. Anything else is fatal: a report and exit code 39 (`run::fatal`).

use crate::arch::idt::{ExceptionFrame, PF_RESERVED, VEC_PAGE_FAULT};
use crate::arch::{self, extable, user};
use crate::mm::{fault, uspace};
use crate::run::fatal;

crate::exception_entry!(route);

#[inline(always)]
fn route(frame: &mut ExceptionFrame) {
    let page_fault = frame.vector == VEC_PAGE_FAULT as u64;
    if page_fault && frame.error_code & PF_RESERVED != 0 {
        fatal::unexpected_exception(frame)
    }
    if page_fault && fault::try_handle(frame) {
        return;
    }
    if frame.cs & 3 != 0 {
        let cr2 = if page_fault { arch::read_cr2() } else { 0 };
        if !uspace::try_handle_exception(frame, cr2) {
            user::kill(frame, cr2);
        }
        return;
    }
    if extable::try_fixup(frame) {
        return;
    }
    fatal::unexpected_exception(frame)
}
