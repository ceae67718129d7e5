//! The phase breakdown of a TLB shootdown: from timestamps taken on several CPUs to phases
//! that sum to the total.
//!
//! A sample's stamps are, in protocol order: the start, PTE update done, last notification
//! sent, the last target's handler entry, its invalidation done, its acknowledgement written
//! (or, for an early acknowledgement, entry then ack with the invalidation off the critical
//! path), the initiator seeing the last acknowledgement, and the stop. Target stamps are the
//! latest over the targets. Each stamp is clamped to at least the one before it (a target may
//! enter before the last IPI to another target is sent), so the phases are never negative and
//! sum exactly to the last stamp minus the first. With synchronised TSCs the last stamp is
//! the stop; a target stamp after the stop can only come from TSC skew, and [`excess`] is that
//! skew, which the benchmark checks against a stated tolerance.

/// The phases of a shootdown with acknowledgement after invalidation, in order.
pub const AFTER_INVALIDATE: &[&str] = &[
    "pte",
    "notify",
    "deliver",
    "invalidate",
    "ack",
    "observe",
    "return",
];
/// The phases with acknowledgement on entry (the invalidation is off the critical path).
pub const ON_ENTRY: &[&str] = &["pte", "notify", "deliver", "ack", "observe", "return"];

/// The most phases a chain has.
pub const MAX_PHASES: usize = 7;

/// Phases from `stamps` (one more stamp than phases): `out[i]` = clamped `stamps[i + 1]` −
/// clamped `stamps[i]`. Returns the number of phases.
pub fn chain(stamps: &[u64], out: &mut [u64; MAX_PHASES]) -> usize {
    let n = stamps.len().saturating_sub(1).min(MAX_PHASES);
    let mut prev = stamps.first().copied().unwrap_or(0);
    for i in 0..n {
        let at = stamps[i + 1].max(prev);
        out[i] = at - prev;
        prev = at;
    }
    n
}

/// How far the phases' sum exceeds the measured total (`stop − start`): 0 with synchronised
/// TSCs, else the largest skew of a target stamp past the stop.
pub fn excess(phases: &[u64], total: u64) -> u64 {
    phases.iter().sum::<u64>().saturating_sub(total)
}

/// A shootdown's stamps for [`critical_path`] (TSC values; 0 where absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Serialized {
    /// The sample's start.
    pub start: u64,
    /// The initiator's last notification sent.
    pub sent: u64,
    /// The initiator began to wait (right before its wait loop's first PAUSE).
    pub waiting: u64,
    /// The initiator saw the last acknowledgement.
    pub done: u64,
    /// The sample's stop.
    pub stop: u64,
}

/// The critical path of a shootdown whose CPUs ran one after another, each until it waited:
/// the deterministic mode (QEMU icount in round robin; the TSC counts every CPU's
/// instructions in turn, and every wait in the kernel executes PAUSE, which hands over to the
/// next CPU). Each CPU's stretch between two waits is then its own instruction count, and
/// the chain a parallel machine would run is:
/// - the initiator up to its last notification: `sent − start`;
/// - a target's interrupt entry up to its handler's first stamp: `first entry − waiting` (the
///   first target to run starts right after the initiator's first PAUSE);
/// - the longest handler from its first stamp to its acknowledgement: max(`ack − entry`);
/// - the initiator from seeing the last acknowledgement to its return: `stop − done`.
///
/// Left out, as work that runs beside the chain on parallel hardware: the initiator's own
/// invalidation and wait set-up after notifying (`waiting − sent`), each target's return from
/// its interrupt after acknowledging, and the shorter handlers. Not modelled: delivery
/// latency and cache-line transfers (an instruction count has neither). `targets`: each
/// notified target's (entry, ack) stamps of this sample; stamps from before `start` (a target
/// the protocol did not notify this time) are ignored. None when the stamps do not follow the
/// serialized order (no target ran, or one ran before the initiator waited: not a
/// deterministic run).
pub fn critical_path(s: &Serialized, targets: impl IntoIterator<Item = (u64, u64)>) -> Option<u64> {
    let mut first_entry = None::<u64>;
    let mut longest = 0;
    for (entry, ack) in targets.into_iter().filter(|(entry, _)| *entry >= s.start) {
        first_entry = Some(first_entry.map_or(entry, |f| f.min(entry)));
        longest = longest.max(ack.checked_sub(entry)?);
    }
    let first_entry = first_entry?;
    let ordered =
        s.start <= s.sent && s.sent <= s.waiting && s.waiting <= first_entry && s.done <= s.stop;
    if !ordered {
        return None;
    }
    Some((s.sent - s.start) + (first_entry - s.waiting) + longest + (s.stop - s.done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_critical_path_leaves_out_the_work_beside_it() {
        // Initiator 0..100 (sent at 80, waits at 100); target A 100..300 (entry 130, ack
        // 250); target B 300..450 (entry 320, ack 400); initiator sees the acks at 460,
        // returns at 470.
        let s = Serialized {
            start: 0,
            sent: 80,
            waiting: 100,
            done: 460,
            stop: 470,
        };
        // 80 + (130 - 100) + max(120, 80) + 10.
        assert_eq!(critical_path(&s, [(130, 250), (320, 400)]), Some(240));
        // A target not notified this time (stale stamps) does not count.
        assert_eq!(
            critical_path(&Serialized { start: 10, ..s }, [(130, 250), (2, 9)]),
            Some(230)
        );
        // Not serialized: a target entered before the initiator waited (parallel hardware).
        assert_eq!(critical_path(&s, [(90, 250)]), None);
        // No target ran; an ack before its entry.
        assert_eq!(critical_path(&s, []), None);
        assert_eq!(critical_path(&s, [(130, 120)]), None);
    }

    #[test]
    fn phases_sum_to_the_total() {
        let stamps = [100, 130, 180, 400, 450, 470, 520, 530];
        let mut out = [0; MAX_PHASES];
        let n = chain(&stamps, &mut out);
        assert_eq!(n, AFTER_INVALIDATE.len());
        assert_eq!(&out[..n], &[30, 50, 220, 50, 20, 50, 10]);
        assert_eq!(out[..n].iter().sum::<u64>(), 530 - 100);
        assert_eq!(excess(&out[..n], 430), 0);
    }

    #[test]
    fn an_early_stamp_is_clamped_not_negative() {
        // The last target entered before the last IPI was sent (unicast to several).
        let stamps = [100, 130, 180, 170, 200, 260, 270];
        let mut out = [0; MAX_PHASES];
        let n = chain(&stamps, &mut out);
        assert_eq!(n, ON_ENTRY.len());
        assert_eq!(&out[..n], &[30, 50, 0, 20, 60, 10]);
        assert_eq!(out[..n].iter().sum::<u64>(), 170);
    }

    #[test]
    fn skew_shows_as_excess() {
        // A target's ack stamped after the initiator's stop: its TSC runs ahead by 40.
        let stamps = [100, 130, 180, 400, 450, 570, 520, 530];
        let mut out = [0; MAX_PHASES];
        let n = chain(&stamps, &mut out);
        assert_eq!(excess(&out[..n], 430), 40);
    }

    #[test]
    fn degenerate_inputs() {
        let mut out = [7; MAX_PHASES];
        assert_eq!(chain(&[], &mut out), 0);
        assert_eq!(chain(&[5], &mut out), 0);
        assert_eq!(excess(&[], 0), 0);
    }
}
