//! The TLB shootdown mechanism: requests, protocols and the transport that carries them.
//!
//! A *request* ([`Request`]) names what changed: pages of one address space, or all of it. A
//! *protocol* ([`Protocol`], one file in this directory, one line in [`PROTOCOLS`]) decides,
//! along the axes researchers vary:
//!
//! - how the request travels ([`Protocol::MODE`]): IPIs through the shared transport
//!   (`sync`, `sync_invpcid`, `early_ack`, `linux`, `batched`), per-CPU queues drained at
//!   epoch boundaries (`lazy_epoch`), nothing until the frames are reused (`deferred`), or
//!   the hardware's broadcast (`invlpgb`);
//! - which CPUs must act ([`Protocol::narrow_targets`] with `NARROWS_TARGETS`, from the set
//!   the caller names; after [`Protocol::prepare`] stamped the request),
//! - how they learn of it ([`Protocol::notify`]; by default the transport's IPIs, in the
//!   [`Delivery`] the caller chose: unicast, all-but-self, x2APIC cluster multicast),
//! - when a target acknowledges ([`Protocol::ACK_POINT`]: after its invalidation, or on
//!   entry to the handler, before it),
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
//! axes it changes), one line in [`PROTOCOLS`] and its name at the same place in
//! `kernel_core::cmdline::SHOOTDOWN_PROTOCOLS` (checked at boot); the benchmark sweep and the
//! oracle (`bench/suite/src/shootdown.rs`) pick it up from the registry.
//!
//! Contracts (what the oracle checks, per protocol):
//! - *synchronous* protocols: once [`shootdown`] returns, no CPU in the named set, and not the
//!   initiator, uses a translation the request named as it was before the call (`early_ack`:
//!   once the targets return from the handler, which is before anything they interrupted
//!   runs again; `linux`: a CPU skipped as lazy catches up before it touches the space);
//! - *relaxed* protocols ([`Registered::relaxed`]: `lazy_epoch`, `deferred`): the initiator's
//!   own TLB is clean at return, the targets' only after [`reclaim`] returned; frames the
//!   request unmapped may be reused only then.

mod batched;
mod deferred;
mod early_ack;
mod invlpgb;
mod lazy_epoch;
pub mod linux;
mod sync;
mod sync_invpcid;
pub mod transport;

pub use batched::Gather;
pub use kernel_core::cpuset::{ClusterList, CpuSet};
pub use lazy_epoch::{EPOCH_US, drain as epoch_drain, overflows as epoch_overflows};
pub use transport::{
    InitiatorStamps, Knobs, TargetStamps, Timeout, init, initiator_stamps, notified_count,
    reset_knobs, send_ipis, serve_pending, set_knobs, set_stamping, target_stamps,
};

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
    /// Page-table pages changed or were freed (a lazy CPU's page walker may hold them, so
    /// protocols that skip lazy CPUs must not skip them).
    pub tables_changed: bool,
    /// The space's flush generation this request brings (set by protocols that keep one,
    /// `linux`; 0 otherwise).
    pub generation: u64,
}

impl Request {
    /// `pages` pages from `start` in `space` (or all of it, `full`); no table change.
    pub const fn new(space: Space, start: u64, pages: u64, full: bool) -> Request {
        Request {
            start,
            pages,
            full,
            space,
            tables_changed: false,
            generation: 0,
        }
    }
}

/// How a protocol's requests travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// IPIs through the transport (request slot, pending sets, acknowledgements).
    Ipi,
    /// No notification: requests posted to per-CPU queues, drained at each target's epoch
    /// boundary; frames reusable after [`reclaim`].
    EpochQueue,
    /// Nothing sent at the request: the initiator keeps it until [`reclaim`] flushes its
    /// batch in one synchronous round.
    Deferred,
    /// The hardware broadcasts the invalidation (INVLPGB): targets take no part.
    Broadcast,
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
    /// How requests travel.
    const MODE: Mode = Mode::Ipi;
    /// When a target acknowledges (`Mode::Ipi`).
    const ACK_POINT: AckPoint = AckPoint::AfterInvalidate;
    /// Whether the protocol narrows the targets the caller names ([`Protocol::narrow_targets`]).
    const NARROWS_TARGETS: bool = false;
    /// Whether callers coalesce several requests into one ([`Gather`]) for this protocol.
    const COALESCES: bool = false;

    fn name(&self) -> &'static str;

    /// Why it cannot run on this machine; None when it can.
    fn unsupported(&self) -> Option<&'static str> {
        None
    }

    /// Stamp a request before it is published (a flush generation, a ceiling).
    #[inline(always)]
    fn prepare(&self, _req: &mut Request) {}

    /// The CPUs that must act on `req`, out of those the caller names (used when
    /// `NARROWS_TARGETS`). A protocol that narrows the set is notified by unicast.
    fn narrow_targets(&self, asked: &CpuSet, _req: &Request) -> CpuSet {
        *asked
    }

    /// This CPU starts running code that may hold translations requests will name (a
    /// benchmark's reader): a protocol that needs the targets' cooperation sets it up here
    /// (`lazy_epoch`: the epoch tick).
    fn target_start(&self) {}

    /// The reverse of [`Protocol::target_start`].
    fn target_stop(&self) {}

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
    fn mode(&self) -> Mode;
    /// Relaxed contract: the targets' TLBs are clean only after [`reclaim`].
    fn relaxed(&self) -> bool {
        matches!(self.mode(), Mode::EpochQueue | Mode::Deferred)
    }
    /// Whether callers coalesce requests for it ([`Gather`]).
    fn coalesces(&self) -> bool;
    /// Whether it chooses its targets itself (and notifies them by unicast).
    fn narrows_targets(&self) -> bool;
    /// Whether [`shootdown`] returns only after every target invalidated and acknowledged.
    fn waits_for_acks(&self) -> bool;
    fn target_start(&self);
    fn target_stop(&self);
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
    /// The initiator's side of [`reclaim`].
    fn reclaim(
        &self,
        index: usize,
        asked: &CpuSet,
        delivery: Delivery,
        timeout_ticks: u64,
    ) -> Result<(), Timeout>;
}

/// Every protocol, by index (a request carries its protocol's index), in the order of
/// `kernel_core::cmdline::SHOOTDOWN_PROTOCOLS`.
pub static PROTOCOLS: &[&dyn Registered] = &[
    &sync::Sync,
    &sync_invpcid::SyncInvpcid,
    &early_ack::EarlyAck,
    &linux::Linux,
    &batched::Batched,
    &lazy_epoch::LazyEpoch,
    &deferred::Deferred,
    &invlpgb::Invlpgb,
];

/// The index of protocol `name` in [`PROTOCOLS`].
pub fn protocol_index(name: &str) -> Option<usize> {
    PROTOCOLS.iter().position(|p| p.name() == name)
}

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

/// Before reusing frames that requests of protocol `proto` from this CPU unmapped: make sure
/// no CPU of `asked` can still reach them (relaxed protocols: wait for the epoch, flush the
/// deferred batch; synchronous ones: nothing to do). `delivery` as for [`shootdown`].
pub fn reclaim(
    proto: usize,
    asked: &CpuSet,
    delivery: Delivery,
    timeout_ticks: u64,
) -> Result<(), Timeout> {
    PROTOCOLS[proto].reclaim(proto, asked, delivery, timeout_ticks)
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
