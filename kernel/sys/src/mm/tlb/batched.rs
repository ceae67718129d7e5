//! `batched`: several requests coalesced into one round of IPIs (Linux's `mmu_gather`, which
//! widens one range over every unmap of a `munmap`/`zap` and flushes once, and the batching of
//! Amit et al., EuroSys'20). Requests go into a [`Gather`]; [`Gather::flush`] sends one
//! request covering them all (their span, or the whole space beyond the ceiling) through the
//! synchronous transport. The benchmark submits a `pages`-page change as `pages` one-page
//! requests, as a munmap of scattered pages would.
//!
//! Contract: as `sync`, from the flush on: once `flush` returns, no named CPU uses an old
//! translation of any gathered request.

use super::sync::invlpg_or_flush;
use super::{CpuSet, Delivery, Protocol, Request, Space, Timeout, shootdown};
use crate::mm::PAGE_SIZE;

pub struct Batched;

impl Protocol for Batched {
    const COALESCES: bool = true;

    fn name(&self) -> &'static str {
        "batched"
    }

    fn invalidate(&self, req: &Request) {
        invlpg_or_flush(req);
    }
}

/// Requests gathered for one flush (one space).
#[derive(Clone, Copy, Debug)]
pub struct Gather {
    space: Space,
    start: u64,
    end: u64,
    full: bool,
    tables_changed: bool,
    requests: u64,
    /// Pages above which the flush covers the whole space.
    ceiling: u64,
}

impl Gather {
    pub const fn new(space: Space, ceiling: u64) -> Gather {
        Gather {
            space,
            start: u64::MAX,
            end: 0,
            full: false,
            tables_changed: false,
            requests: 0,
            ceiling,
        }
    }

    /// Add one request (of this gather's space).
    #[inline]
    pub fn add(&mut self, req: &Request) {
        debug_assert!(req.space == self.space);
        self.start = self.start.min(req.start);
        self.end = self.end.max(req.start + req.pages * PAGE_SIZE);
        self.full |= req.full;
        self.tables_changed |= req.tables_changed;
        self.requests += 1;
    }

    /// Requests gathered since the last flush.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The one request that covers everything gathered.
    pub fn request(&self) -> Request {
        let pages = self.end.saturating_sub(self.start) / PAGE_SIZE;
        Request {
            start: if self.requests == 0 { 0 } else { self.start },
            pages,
            full: self.full || pages > self.ceiling,
            space: self.space,
            tables_changed: self.tables_changed,
            generation: 0,
        }
    }

    /// One shootdown with protocol `proto` for everything gathered (none if nothing was),
    /// then empty.
    pub fn flush(
        &mut self,
        proto: usize,
        asked: &CpuSet,
        delivery: Delivery,
        timeout_ticks: u64,
    ) -> Result<(), Timeout> {
        if self.requests == 0 {
            return Ok(());
        }
        let req = self.request();
        *self = Gather::new(self.space, self.ceiling);
        shootdown(proto, &req, asked, delivery, timeout_ticks)
    }
}
