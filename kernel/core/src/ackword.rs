//! The acknowledgement word of a TLB shootdown request (`sys::mm::tlb`), as pure arithmetic so
//! the host tests reach it: `seq << COUNT_BITS | acks still missing`. The sequence number in
//! the high bits makes an acknowledgement that arrives after its request timed out count for
//! nothing: it names a request that is no longer the current one.

/// Bits that count the missing acknowledgements.
pub const COUNT_BITS: u32 = 16;
/// Mask of the count.
pub const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Largest sequence number (it wraps to 0 after this).
pub const SEQ_MAX: u64 = u64::MAX >> COUNT_BITS;

/// The sequence number after `seq` (wrapping inside the high bits).
#[inline]
pub const fn next_seq(seq: u64) -> u64 {
    seq.wrapping_add(1) & SEQ_MAX
}

/// The word of request `seq` waiting for `targets` acknowledgements (`targets` at most
/// [`COUNT_MASK`]: `CAPACITY` CPUs are, as a test checks).
#[inline]
pub const fn arm(seq: u64, targets: usize) -> u64 {
    debug_assert!(targets as u64 <= COUNT_MASK);
    (seq & SEQ_MAX) << COUNT_BITS | targets as u64
}

/// Acknowledgements still missing.
#[inline]
pub const fn missing(word: u64) -> u64 {
    word & COUNT_MASK
}

/// The word after one acknowledgement of request `seq`; None when the word belongs to another
/// request (a late ack) or nothing is missing (an ack too many): the word must not change.
#[inline]
pub const fn ack(word: u64, seq: u64) -> Option<u64> {
    if word >> COUNT_BITS == seq & SEQ_MAX && word & COUNT_MASK != 0 {
        Some(word - 1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_to_zero_and_no_further() {
        let mut w = arm(7, 3);
        for left in (0..3).rev() {
            w = ack(w, 7).unwrap();
            assert_eq!(missing(w), left);
        }
        assert_eq!(
            ack(w, 7),
            None,
            "an ack too many must not borrow from the sequence"
        );
    }

    #[test]
    fn a_late_ack_of_an_older_request_changes_nothing() {
        let w = arm(next_seq(41), 2);
        assert_eq!(ack(w, 41), None);
        assert_eq!(missing(w), 2);
    }

    #[test]
    fn sequence_wraps_inside_its_bits() {
        assert_eq!(next_seq(SEQ_MAX), 0);
        let w = arm(SEQ_MAX, 1);
        assert_eq!(ack(w, SEQ_MAX), Some(arm(SEQ_MAX, 0)));
        assert_eq!(ack(arm(0, 1), SEQ_MAX), None);
    }

    #[test]
    fn capacity_covers_every_cpu() {
        assert!(crate::cpuset::CAPACITY as u64 <= COUNT_MASK);
    }
}
