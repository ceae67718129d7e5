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

#[cfg(test)]
mod tests {
    use super::*;

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
