//! The TLB shootdown mechanism: requests, protocols and the transport that carries them.
//!
//! A *request* ([`Request`]) names what changed: pages of one address space, or all of it. A
//! *protocol* ([`Protocol`], one file in this directory, one line in [`PROTOCOLS`]) decides,
//! along the axes researchers vary:
//!
//! - which CPUs must act ([`Protocol::narrow_targets`] with `NARROWS_TARGETS`, from the set
//!   the caller names),
//! - how they learn of the request ([`Protocol::notify`]; by default the transport's IPIs,
//!   in the [`Delivery`] the caller chose: unicast, all-but-self, x2APIC cluster multicast),
//! - when a target acknowledges ([`Protocol::ACK_POINT`]: after its invalidation, or on
//!   entry to the handler, before it),
//! - whether the initiator waits for the acknowledgements ([`Protocol::INITIATOR_WAITS`]),
//! - how one CPU invalidates ([`Protocol::invalidate`], with the instructions of
//!   `arch::tlb`).
//!
//! The *transport* (`transport.rs`) is shared: the initiator fills its per-CPU request slot,
//! sets its bit in each target's pending set, notifies, invalidates locally and waits; a
//! target's IPI handler serves every pending request and acknowledges. The acknowledgement
//! word's arithmetic is `kernel_core::ackword` (host-tested); target sets are
//! `kernel_core::cpuset::CpuSet`.
//!
//! Adding a protocol: a file here with a type implementing [`Protocol`] (override only the
//! axes it changes) and one line in [`PROTOCOLS`]; the benchmark sweep and the oracle
//! (`bench/suite/src/shootdown.rs`) pick it up from the registry.
//!
//! Contract of every protocol (what the oracle checks): once [`shootdown`] returns, no CPU in
//! the named set, and not the initiator, uses a translation the request named as it was
//! before the call. A protocol whose initiator does not wait must keep that promise some
//! other way (and must own its request storage: the slot is rewritten by the next request).

mod invpcid;
mod ipi;
pub mod transport;

pub use kernel_core::cpuset::{ClusterList, CpuSet};
pub use transport::{Knobs, Timeout, init, reset_knobs, send_ipis, serve_pending, set_knobs};

pub use crate::mm::Space;

/// What to invalidate: `pages` pages from `start`, or everything when `full`, in the kernel
/// half (global translations) or in the user address space. A target that runs another
/// address space when a user-space request reaches it applies it to the space's PCID
/// without loading it (`uspace::invalidate_inactive`).
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub start: u64,
    pub pages: u64,
    pub full: bool,
    pub space: Space,
}

/// When a target acknowledges a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckPoint {
    /// After its invalidation (the initiator's wait covers the flush).
    AfterInvalidate,
    /// On entry to the handler, before invalidating: safe because the interrupted code cannot
    /// use a translation before the handler returns (Amit et al., EuroSys'20).
    OnEntry,
}

/// A shootdown protocol. Only `name` and `invalidate` are required; every other axis has the
/// synchronous IPI protocol's answer as its default. The axes that are plain choices are
/// associated constants, so the transport is compiled once per protocol (`Registered`) and a
/// protocol pays nothing for the axes it leaves alone.
pub trait Protocol: Sync + 'static {
    /// When a target acknowledges.
    const ACK_POINT: AckPoint = AckPoint::AfterInvalidate;
    /// Whether [`shootdown`] returns only once every target acknowledged.
    const INITIATOR_WAITS: bool = true;
    /// Whether the protocol narrows the targets the caller names ([`Protocol::narrow_targets`]).
    const NARROWS_TARGETS: bool = false;

    fn name(&self) -> &'static str;

    /// Why it cannot run on this machine; None when it can.
    fn unsupported(&self) -> Option<&'static str> {
        None
    }

    /// The CPUs that must act, out of those the caller names (used when
    /// `NARROWS_TARGETS`). A protocol that narrows the set is notified by unicast.
    fn narrow_targets(&self, asked: &CpuSet) -> CpuSet {
        *asked
    }

    /// Tell `targets` that a request is pending for them (default: one IPI on the shootdown
    /// vector per target, per the delivery).
    #[inline(always)]
    fn notify(&self, targets: &CpuSet, delivery: Delivery) {
        send_ipis(targets, delivery);
    }

    /// Invalidate `req` on the calling CPU (initiator and targets alike), which runs the
    /// request's address space.
    fn invalidate(&self, req: &Request);
}

/// A protocol as the registry holds it: its name, and the transport compiled for it (every
/// `Protocol` is one, through the blanket implementation in `transport.rs`).
pub trait Registered: Sync {
    fn name(&self) -> &'static str;
    fn unsupported(&self) -> Option<&'static str>;
    /// The initiator's side of [`shootdown`] with this protocol (`index`: its place in
    /// [`PROTOCOLS`], which the request carries to the targets).
    fn shootdown(
        &self,
        index: usize,
        req: &Request,
        asked: &CpuSet,
        delivery: Delivery,
        timeout_ticks: u64,
    ) -> Result<(), Timeout>;
    /// A target's side: serve one request of this protocol from `slot`.
    fn serve(&self, slot: &transport::RequestSlot, seq: u64, req: &Request, me: usize);
}

/// Every protocol, by index (a request carries its protocol's index).
pub static PROTOCOLS: &[&dyn Registered] = &[&ipi::PlainIpi, &invpcid::InvpcidFull];

/// Invalidate `req` on this CPU and on every CPU of `asked` with protocol `proto` (an index of
/// [`PROTOCOLS`]); returns once all have acknowledged (if the protocol waits), or after
/// `timeout_ticks`. `delivery` must reach exactly `asked` (the caller checks `AllButSelf`
/// against the machine's CPUs, and builds the cluster list from `asked`).
#[inline]
pub fn shootdown(
    proto: usize,
    req: &Request,
    asked: &CpuSet,
    delivery: Delivery,
    timeout_ticks: u64,
) -> Result<(), Timeout> {
    PROTOCOLS[proto].shootdown(proto, req, asked, delivery, timeout_ticks)
}

/// How the IPIs reach the targets.
#[derive(Clone, Copy, Debug)]
pub enum Delivery<'a> {
    /// One fixed IPI per target.
    Unicast,
    /// One IPI with the all-excluding-self shorthand: only when the targets are exactly every
    /// CPU the machine has other than the initiator, all online.
    AllButSelf,
    /// x2APIC logical destination: one IPI per cluster of up to 16 CPUs, the destinations
    /// computed once per target set (outside the timed region).
    ClusterMulticast(&'a ClusterList),
}

impl Delivery<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Delivery::Unicast => "unicast",
            Delivery::AllButSelf => "all_but_self",
            Delivery::ClusterMulticast(_) => "x2apic_cluster",
        }
    }
}
