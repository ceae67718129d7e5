//! The transport every protocol shares: per-CPU request slots and pending sets, notification,
//! the IPI handler that serves and acknowledges, the initiator's wait, and the failure
//! injection the oracle's negative controls use.
//!
//! The initiator fills its request slot, sets its bit in each target's pending set, notifies
//! (the protocol's `notify`), invalidates locally and, if the protocol waits, spins until
//! every target acknowledged. A target's handler takes its whole pending set and, for each
//! request, invalidates and acknowledges in the protocol's order. While it waits, an
//! initiator serves requests aimed at itself, so two initiators cannot deadlock even with
//! interrupts off. A pending bit stays set until served: no request is dropped.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use kernel_core::ackword;
use percpu::{CacheAligned, MAX_CPUS, percpu};

use super::{AckPoint, CpuSet, Delivery, PROTOCOLS, Protocol, Registered, Request, Space};
use crate::arch::{self, apic, idt, tsc};
use crate::cpu::smp;
use crate::mm::uspace;

const _: () = assert!(kernel_core::cpuset::CAPACITY == MAX_CPUS);

/// Words of a pending set (one bit per initiator).
const SET_WORDS: usize = MAX_CPUS / 64;

/// One initiator's current request.
pub struct RequestSlot {
    start: AtomicU64,
    pages: AtomicU64,
    full: AtomicBool,
    user: AtomicBool,
    protocol: AtomicUsize,
    /// Sequence number of the current request.
    seq: AtomicU64,
    /// The acknowledgement word (`kernel_core::ackword`): sequence and acks still missing.
    acks: AtomicU64,
}

// Both are written by other CPUs (pending bits, acknowledgements): each alone in its cache
// lines, away from this CPU's hot per-CPU data.
percpu! {
    /// Initiators with a request for this CPU (bit = logical id).
    static PENDING: CacheAligned<[AtomicU64; SET_WORDS]> =
        CacheAligned([const { AtomicU64::new(0) }; SET_WORDS]);
    /// This CPU's request, when it initiates.
    static REQUEST: CacheAligned<RequestSlot> = CacheAligned(RequestSlot {
        start: AtomicU64::new(0),
        pages: AtomicU64::new(0),
        full: AtomicBool::new(false),
        user: AtomicBool::new(false),
        protocol: AtomicUsize::new(0),
        seq: AtomicU64::new(0),
        acks: AtomicU64::new(0),
    });
}

/// Failure injection and test knobs (the oracle's negative controls and the ack delay).
#[derive(Clone, Copy, Debug, Default)]
pub struct Knobs {
    /// This CPU acknowledges without invalidating.
    pub skip_invalidate_cpu: Option<usize>,
    /// The initiator does not invalidate its own TLB.
    pub skip_local: bool,
    /// This CPU never acknowledges.
    pub never_ack_cpu: Option<usize>,
    /// TSC ticks every target waits before acknowledging.
    pub ack_delay: u64,
}

static SKIP_INVALIDATE_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
static SKIP_LOCAL: AtomicBool = AtomicBool::new(false);
static NEVER_ACK_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
static ACK_DELAY: AtomicU64 = AtomicU64::new(0);

pub fn set_knobs(k: Knobs) {
    SKIP_INVALIDATE_CPU.store(
        k.skip_invalidate_cpu.unwrap_or(usize::MAX),
        Ordering::Release,
    );
    SKIP_LOCAL.store(k.skip_local, Ordering::Release);
    NEVER_ACK_CPU.store(k.never_ack_cpu.unwrap_or(usize::MAX), Ordering::Release);
    ACK_DELAY.store(k.ack_delay, Ordering::Release);
}

pub fn reset_knobs() {
    set_knobs(Knobs::default());
}

/// Install the shootdown IPI handler (before any CPU may receive one).
pub fn init() {
    idt::set_handler(idt::VEC_SHOOTDOWN, on_shootdown_ipi);
}

fn on_shootdown_ipi(_: &mut idt::ExceptionFrame) {
    serve_pending();
}

/// Invalidate `req` on this CPU with protocol `p`: directly when this CPU runs the request's
/// space (the kernel half is in every space), else on the space's PCID.
#[inline(always)]
fn invalidate_here<P: Protocol>(p: &P, req: &Request) {
    if req.space == Space::User && !uspace::is_active() {
        uspace::invalidate_inactive(req.start, req.pages, req.full);
    } else {
        p.invalidate(req);
    }
}

/// Count one acknowledgement of request `seq` in `slot` (a late ack changes nothing).
fn acknowledge(slot: &RequestSlot, seq: u64) {
    // Release orders the ack after the invalidation before it (the flush instructions
    // serialise).
    let _ = slot
        .acks
        .fetch_update(Ordering::Release, Ordering::Relaxed, |a| {
            ackword::ack(a, seq)
        });
}

/// Serve every request pending for this CPU, each in its protocol's order.
pub fn serve_pending() {
    let me = arch::cpu_id() as usize;
    let pending = PENDING.get();
    for (w, word) in pending.iter().enumerate() {
        // A plain load first: most words are empty, and an atomic swap costs far more.
        if word.load(Ordering::Relaxed) == 0 {
            continue;
        }
        let mut bits = word.swap(0, Ordering::AcqRel);
        while bits != 0 {
            let initiator = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let slot = REQUEST.remote(initiator);
            let seq = slot.seq.load(Ordering::Acquire);
            let req = Request {
                start: slot.start.load(Ordering::Relaxed),
                pages: slot.pages.load(Ordering::Relaxed),
                full: slot.full.load(Ordering::Relaxed),
                space: if slot.user.load(Ordering::Relaxed) {
                    Space::User
                } else {
                    Space::Kernel
                },
            };
            let proto = slot.protocol.load(Ordering::Relaxed);
            PROTOCOLS[proto].serve(slot, seq, &req, me);
        }
    }
}

/// IPIs on the shootdown vector to `targets`, as `delivery` says (the default notification).
#[inline]
pub fn send_ipis(targets: &CpuSet, delivery: Delivery) {
    let icr = apic::ICR_FIXED | idt::VEC_SHOOTDOWN as u32;
    // `send_ipi` fences each x2APIC ICR write after the stores before it (see its comment).
    match delivery {
        Delivery::Unicast => {
            for t in targets.iter() {
                let _ = apic::send_ipi(smp::apic_id_of(t), icr);
            }
        }
        Delivery::AllButSelf => {
            let _ = apic::send_ipi(0, icr | apic::ICR_DEST_ALL_BUT_SELF);
        }
        Delivery::ClusterMulticast(list) => {
            for &dest in list.destinations() {
                let _ = apic::send_ipi(dest, icr | apic::ICR_DEST_LOGICAL);
            }
        }
    }
}

#[derive(Debug)]
pub struct Timeout {
    pub acks_missing: u64,
}

/// A target's side of one request of protocol `p`: acknowledge and invalidate in the
/// protocol's order, with the failure injection of the knobs.
#[inline(always)]
fn serve_one<P: Protocol>(p: &P, slot: &RequestSlot, seq: u64, req: &Request, me: usize) {
    let ack = NEVER_ACK_CPU.load(Ordering::Relaxed) != me;
    let early = P::ACK_POINT == AckPoint::OnEntry;
    if ack && early {
        acknowledge(slot, seq);
    }
    if SKIP_INVALIDATE_CPU.load(Ordering::Relaxed) != me {
        invalidate_here(p, req);
    }
    let delay = ACK_DELAY.load(Ordering::Relaxed);
    if delay != 0 {
        let until = tsc::rdtsc() + delay;
        while tsc::rdtsc() < until {
            core::hint::spin_loop();
        }
    }
    if ack && !early {
        acknowledge(slot, seq);
    }
}

/// The initiator's side of a shootdown with protocol `p` (index `proto` in `PROTOCOLS`):
/// fill the request slot, mark the targets' pending sets, notify, invalidate here, and (if
/// the protocol waits) wait for the acknowledgements, serving requests aimed at this CPU
/// meanwhile.
#[inline(always)]
fn shootdown_with<P: Protocol>(
    p: &P,
    proto: usize,
    req: &Request,
    asked: &CpuSet,
    delivery: Delivery,
    timeout_ticks: u64,
) -> Result<(), Timeout> {
    let me = arch::cpu_id() as usize;
    let narrowed;
    let (targets, delivery) = if P::NARROWS_TARGETS {
        narrowed = p.narrow_targets(asked);
        (&narrowed, Delivery::Unicast)
    } else {
        (asked, delivery)
    };
    let slot = REQUEST.get();
    let seq = ackword::next_seq(slot.seq.load(Ordering::Relaxed));
    slot.start.store(req.start, Ordering::Relaxed);
    slot.pages.store(req.pages, Ordering::Relaxed);
    slot.full.store(req.full, Ordering::Relaxed);
    slot.user.store(req.space == Space::User, Ordering::Relaxed);
    slot.protocol.store(proto, Ordering::Relaxed);
    slot.acks
        .store(ackword::arm(seq, targets.len()), Ordering::Relaxed);
    slot.seq.store(seq, Ordering::Release);
    for t in targets.iter() {
        PENDING.remote(t)[me / 64].fetch_or(1 << (me % 64), Ordering::Release);
    }
    p.notify(targets, delivery);
    if !SKIP_LOCAL.load(Ordering::Relaxed) {
        invalidate_here(p, req);
    }
    if !P::INITIATOR_WAITS {
        return Ok(());
    }
    let t0 = tsc::rdtsc();
    loop {
        let left = ackword::missing(slot.acks.load(Ordering::Acquire));
        if left == 0 {
            return Ok(());
        }
        // Serve requests aimed at this CPU while waiting (no deadlock between initiators).
        serve_pending();
        if tsc::rdtsc() - t0 > timeout_ticks {
            // Withdraw the request from targets that have not taken it yet.
            for t in targets.iter() {
                PENDING.remote(t)[me / 64].fetch_and(!(1 << (me % 64)), Ordering::AcqRel);
            }
            return Err(Timeout { acks_missing: left });
        }
        core::hint::spin_loop();
    }
}

/// Every protocol is a registered one: the transport above, compiled for it.
impl<P: Protocol> Registered for P {
    fn name(&self) -> &'static str {
        Protocol::name(self)
    }

    fn unsupported(&self) -> Option<&'static str> {
        Protocol::unsupported(self)
    }

    fn shootdown(
        &self,
        index: usize,
        req: &Request,
        asked: &CpuSet,
        delivery: Delivery,
        timeout_ticks: u64,
    ) -> Result<(), Timeout> {
        shootdown_with(self, index, req, asked, delivery, timeout_ticks)
    }

    fn serve(&self, slot: &RequestSlot, seq: u64, req: &Request, me: usize) {
        serve_one(self, slot, seq, req, me)
    }
}
