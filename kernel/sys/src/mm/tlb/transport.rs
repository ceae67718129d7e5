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

use super::{
    AckPoint, CpuSet, Delivery, Mode, PROTOCOLS, Protocol, Registered, Request, Space, deferred,
    lazy_epoch, linux,
};
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
    tables_changed: AtomicBool,
    generation: AtomicU64,
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
        tables_changed: AtomicBool::new(false),
        generation: AtomicU64::new(0),
        protocol: AtomicUsize::new(0),
        seq: AtomicU64::new(0),
        acks: AtomicU64::new(0),
    });
    /// Targets this CPU notified by IPI since boot (as an initiator).
    static NOTIFIED: u64 = 0;
    /// Phase timestamps of the last request this CPU served as a target (while stamping).
    static TARGET_STAMPS: CacheAligned<TargetStamps> = CacheAligned(TargetStamps {
        entry: AtomicU64::new(0),
        invalidated: AtomicU64::new(0),
        acked: AtomicU64::new(0),
    });
    /// Phase timestamps of this CPU's last IPI round as an initiator: last notification sent,
    /// last acknowledgement seen, first wait (right before the wait loop's first PAUSE).
    static INITIATOR_STAMPS: CacheAligned<[AtomicU64; 3]> =
        CacheAligned([const { AtomicU64::new(0) }; 3]);
    /// The `early_return` negative control: invalidations this CPU acknowledged and then
    /// put off until its timer fires.
    static PUT_OFF: CacheAligned<spin::Mutex<PutOff>> = CacheAligned(spin::Mutex::new(PutOff {
        n: 0,
        everything: false,
        reqs: [Request::new(Space::Kernel, 0, 0, false); PUT_OFF_MAX],
    }));
}

/// Requests the `early_return` target holds before it owes a flush of everything instead.
const PUT_OFF_MAX: usize = 8;

/// The `early_return` target's owed invalidations.
struct PutOff {
    n: usize,
    /// More than `PUT_OFF_MAX` were owed: flush everything when the timer fires.
    everything: bool,
    reqs: [Request; PUT_OFF_MAX],
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
    /// This CPU acknowledges and returns before invalidating (it invalidates at its next
    /// shootdown interrupt): the `early_ack` negative control.
    pub early_return_cpu: Option<usize>,
    /// Leaving lazy-TLB mode does not catch up (the `linux` negative control).
    pub skip_catchup: bool,
}

/// A target's phase timestamps (TSC, unfenced RDTSC: a few dozen cycles of slack each).
pub struct TargetStamps {
    /// Its shootdown handler started.
    pub entry: AtomicU64,
    /// Its invalidation finished.
    pub invalidated: AtomicU64,
    /// Its acknowledgement was about to be written (the last instruction before it).
    pub acked: AtomicU64,
}

/// Whether targets and initiators take phase timestamps (the phase breakdown's runs only:
/// the stamps cost a few RDTSCs on the measured path).
static STAMPING: AtomicBool = AtomicBool::new(false);

#[inline(always)]
fn stamp(slot: &AtomicU64) {
    if STAMPING.load(Ordering::Relaxed) {
        slot.store(tsc::rdtsc(), Ordering::Relaxed);
    }
}

/// Turn phase timestamps on or off.
pub fn set_stamping(on: bool) {
    STAMPING.store(on, Ordering::Release);
}

/// CPU `cpu`'s stamps of the last request it served (read after its handler finished).
pub fn target_stamps(cpu: usize) -> &'static TargetStamps {
    &TARGET_STAMPS.remote(cpu).0
}

/// The initiator's stamps of its last IPI round.
#[derive(Clone, Copy, Debug, Default)]
pub struct InitiatorStamps {
    /// Its last notification was sent.
    pub sent: u64,
    /// It saw the last acknowledgement.
    pub done: u64,
    /// It began to wait: right before the wait loop's first PAUSE, after its own
    /// invalidation (0: every ack was in before it had to wait).
    pub waiting: u64,
}

/// This CPU's last IPI round's stamps.
pub fn initiator_stamps() -> InitiatorStamps {
    let s = INITIATOR_STAMPS.get();
    InitiatorStamps {
        sent: s[0].load(Ordering::Relaxed),
        done: s[1].load(Ordering::Relaxed),
        waiting: s[2].load(Ordering::Relaxed),
    }
}

/// How late the `early_return` negative control's target invalidates (µs): long enough that
/// the initiator has returned, recycled the old frame and published the new generation on
/// any emulator (Bochs' emulated clock runs fast against its guests' progress).
const EARLY_RETURN_DELAY_US: u64 = 20_000;

static SKIP_INVALIDATE_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
static EARLY_RETURN_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
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
    EARLY_RETURN_CPU.store(k.early_return_cpu.unwrap_or(usize::MAX), Ordering::Release);
    linux::set_skip_catchup(k.skip_catchup);
}

/// Whether CPU `me` is the one the `skip_invlpg` negative control breaks.
pub(super) fn skips_invalidate(me: usize) -> bool {
    SKIP_INVALIDATE_CPU.load(Ordering::Relaxed) == me
}

/// Targets this CPU has notified by IPI since boot (a protocol that narrows its targets
/// notifies fewer).
pub fn notified_count() -> u64 {
    NOTIFIED.read()
}

pub fn reset_knobs() {
    set_knobs(Knobs::default());
}

/// Install the shootdown IPI handler and the epoch tick's (before any CPU may receive one),
/// and check the registry against the command line's protocol names.
pub fn init() {
    let names = kernel_core::cmdline::SHOOTDOWN_PROTOCOLS;
    assert!(
        PROTOCOLS.len() == names.len() && PROTOCOLS.iter().zip(names).all(|(p, n)| p.name() == *n),
        "the shootdown protocol registry and kernel_core::cmdline::SHOOTDOWN_PROTOCOLS differ"
    );
    idt::set_handler(idt::VEC_SHOOTDOWN, on_shootdown_ipi);
    idt::set_handler(idt::VEC_EPOCH_TICK, on_timer_tick);
}

/// This CPU's APIC timer: the epoch boundary of `lazy_epoch`, and the late invalidation of
/// the `early_return` negative control.
fn on_timer_tick(_: &mut idt::ExceptionFrame) {
    apply_put_off();
    lazy_epoch::drain();
}

/// The `early_return` negative control's late invalidations, when its timer fires. Never at
/// the next shootdown: a request names the same pages as the one before it, so applying the
/// old one there would remove the new stale entry too and hide the bug.
fn apply_put_off() {
    let mut p = PUT_OFF.get().lock();
    if p.everything {
        // Every translation of every PCID, globals included (SDM 4.10.4.1).
        crate::arch::tlb::flush_global_pge();
    } else {
        for req in &p.reqs[..p.n] {
            invalidate_here(&super::early_ack::EarlyAck, req);
        }
    }
    p.n = 0;
    p.everything = false;
}

fn on_shootdown_ipi(_: &mut idt::ExceptionFrame) {
    stamp(&TARGET_STAMPS.get().entry);
    serve_pending();
}

/// Invalidate `req` on this CPU with protocol `p`: directly when this CPU runs the request's
/// space (the kernel half is in every space), else on the space's PCID.
#[inline(always)]
pub(super) fn invalidate_here<P: Protocol>(p: &P, req: &Request) {
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
        // A plain load first: most words are empty, and an atomic swap costs far more. Each
        // word is served as soon as it is found (the low initiator ids first), so the
        // acknowledgement does not wait for the scan of the rest.
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
                tables_changed: slot.tables_changed.load(Ordering::Relaxed),
                generation: slot.generation.load(Ordering::Relaxed),
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
    let notified = match delivery {
        Delivery::Unicast => {
            let mut n = 0;
            for t in targets.iter() {
                let _ = apic::send_ipi(smp::apic_id_of(t), icr);
                n += 1;
            }
            n
        }
        Delivery::AllButSelf => {
            let _ = apic::send_ipi(0, icr | apic::ICR_DEST_ALL_BUT_SELF);
            targets.len()
        }
        Delivery::ClusterMulticast(list) => {
            for &dest in list.destinations() {
                let _ = apic::send_ipi(dest, icr | apic::ICR_DEST_LOGICAL);
            }
            targets.len()
        }
    };
    NOTIFIED.add(notified as u64);
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
    let stamps = &TARGET_STAMPS.get().0;
    // The ack stamp is taken just before the ack is written: after the write, the initiator
    // may already have returned, and a stamp taken then could land after its stop.
    if ack && early {
        stamp(&stamps.acked);
        acknowledge(slot, seq);
        if EARLY_RETURN_CPU.load(Ordering::Relaxed) == me {
            // Broken on purpose: back to the interrupted code with the old translation; the
            // invalidation follows in a later interrupt, the timer, armed by the first owed
            // request, well after the initiator has returned and recycled the old frame.
            let mut p = PUT_OFF.get().lock();
            if p.n == 0 && !p.everything {
                apic::timer_oneshot(idt::VEC_EPOCH_TICK, EARLY_RETURN_DELAY_US);
            }
            if p.n < PUT_OFF_MAX {
                let n = p.n;
                p.reqs[n] = *req;
                p.n += 1;
            } else {
                p.everything = true;
            }
            return;
        }
    }
    if !skips_invalidate(me) {
        invalidate_here(p, req);
    }
    stamp(&stamps.invalidated);
    let delay = ACK_DELAY.load(Ordering::Relaxed);
    if delay != 0 {
        // Simulated handler work, not a wait on another CPU: no PAUSE, so in the
        // deterministic mode the delay is this CPU's own instructions, not a round of the
        // other vCPUs' loops (each PAUSE hands QEMU's round robin to the next vCPU).
        let until = tsc::rdtsc() + delay;
        while tsc::rdtsc() < until {}
    }
    if ack && !early {
        stamp(&stamps.acked);
        acknowledge(slot, seq);
    }
}

/// The initiator's side of a shootdown with protocol `p` (index `proto` in `PROTOCOLS`), by
/// the protocol's mode.
#[inline(always)]
fn shootdown_with<P: Protocol>(
    p: &P,
    proto: usize,
    req: &Request,
    asked: &CpuSet,
    delivery: Delivery,
    timeout_ticks: u64,
) -> Result<(), Timeout> {
    let mut req = *req;
    p.prepare(&mut req);
    let local = !SKIP_LOCAL.load(Ordering::Relaxed);
    match P::MODE {
        Mode::Ipi => ipi_round(p, proto, &req, asked, delivery, timeout_ticks),
        Mode::Broadcast => {
            // INVLPGB reaches every CPU, this one included; the targets do nothing.
            if local {
                p.invalidate(&req);
            }
            Ok(())
        }
        Mode::EpochQueue => {
            if local {
                invalidate_here(p, &req);
            }
            lazy_epoch::post(&req, asked);
            Ok(())
        }
        Mode::Deferred => {
            if local {
                invalidate_here(p, &req);
            }
            deferred::defer(&req, asked);
            Ok(())
        }
    }
}

/// One synchronous round of IPIs with protocol `p`: fill the request slot, mark the targets'
/// pending sets, notify, invalidate here, and wait for the acknowledgements, serving
/// requests aimed at this CPU meanwhile.
#[inline(always)]
fn ipi_round<P: Protocol>(
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
        narrowed = p.narrow_targets(asked, req);
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
    slot.tables_changed
        .store(req.tables_changed, Ordering::Relaxed);
    slot.generation.store(req.generation, Ordering::Relaxed);
    slot.protocol.store(proto, Ordering::Relaxed);
    slot.acks
        .store(ackword::arm(seq, targets.len()), Ordering::Relaxed);
    slot.seq.store(seq, Ordering::Release);
    for t in targets.iter() {
        PENDING.remote(t)[me / 64].fetch_or(1 << (me % 64), Ordering::Release);
    }
    p.notify(targets, delivery);
    let stamps = INITIATOR_STAMPS.get();
    stamp(&stamps[0]);
    if !SKIP_LOCAL.load(Ordering::Relaxed) {
        invalidate_here(p, req);
    }
    let t0 = tsc::rdtsc();
    let mut waited = false;
    if STAMPING.load(Ordering::Relaxed) {
        stamps[2].store(0, Ordering::Relaxed);
    }
    loop {
        let left = ackword::missing(slot.acks.load(Ordering::Acquire));
        if left == 0 {
            stamp(&stamps[1]);
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
        if !waited {
            // The deterministic mode's split point: what this CPU did after its last
            // notification ran beside the targets' work on real hardware.
            stamp(&stamps[2]);
            waited = true;
        }
        core::hint::spin_loop();
    }
}

/// The initiator's side of `reclaim` for protocol `p`.
fn reclaim_with<P: Protocol>(
    p: &P,
    proto: usize,
    asked: &CpuSet,
    delivery: Delivery,
    timeout_ticks: u64,
) -> Result<(), Timeout> {
    match P::MODE {
        Mode::Ipi | Mode::Broadcast => Ok(()),
        Mode::EpochQueue => lazy_epoch::reclaim(asked, timeout_ticks),
        Mode::Deferred => {
            let batch = deferred::take();
            // The caller's delivery reaches `asked`; the batch's CPUs may differ.
            let delivery = if batch.targets == *asked {
                delivery
            } else {
                Delivery::Unicast
            };
            for g in &batch.gathers {
                if g.requests() > 0 {
                    ipi_round(
                        p,
                        proto,
                        &g.request(),
                        &batch.targets,
                        delivery,
                        timeout_ticks,
                    )?;
                }
            }
            Ok(())
        }
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

    fn mode(&self) -> Mode {
        P::MODE
    }

    fn coalesces(&self) -> bool {
        P::COALESCES
    }

    fn narrows_targets(&self) -> bool {
        P::NARROWS_TARGETS
    }

    fn waits_for_acks(&self) -> bool {
        P::MODE == Mode::Ipi && P::ACK_POINT == AckPoint::AfterInvalidate
    }

    fn target_start(&self) {
        Protocol::target_start(self)
    }

    fn target_stop(&self) {
        Protocol::target_stop(self)
    }

    fn reclaim(
        &self,
        index: usize,
        asked: &CpuSet,
        delivery: Delivery,
        timeout_ticks: u64,
    ) -> Result<(), Timeout> {
        reclaim_with(self, index, asked, delivery, timeout_ticks)
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
