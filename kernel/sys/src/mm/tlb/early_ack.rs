//! `early_ack`: a target acknowledges on entry to its shootdown handler and invalidates
//! afterwards, before it returns to the interrupted code (Amit, Tai, Tsafrir, "Don't shoot
//! down TLB shootdowns!", EuroSys 2020, section 4.2). Safe because the interrupted code
//! cannot use a translation until the handler returns; the initiator's wait no longer covers
//! the targets' INVLPGs.
//!
//! Contract: once the initiator returns, every named CPU is inside (or past) its handler, and
//! no code it returns to uses an old translation; a ring-3 reader never sees an old frame
//! after its CPU returns to ring 3. Negative control (`shootdown_break=early_return`): one
//! target acknowledges and returns to the interrupted code before invalidating.

use super::sync::invlpg_or_flush;
use super::{AckPoint, Protocol, Request};

pub(super) struct EarlyAck;

impl Protocol for EarlyAck {
    const ACK_POINT: AckPoint = AckPoint::OnEntry;

    fn name(&self) -> &'static str {
        "early_ack"
    }

    fn invalidate(&self, req: &Request) {
        invlpg_or_flush(req);
    }
}
