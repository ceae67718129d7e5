//! Summary statistics of benchmark samples: nearest-rank percentiles, mean, standard deviation
//! and a log2 histogram, computed without allocation (the samples are sorted in place).
//!
//! Percentiles use the nearest-rank definition: the p-th percentile of n sorted samples is the
//! sample at rank ceil(p/100 × n) (1-based), so it is always one of the samples.

/// Number of log2 buckets: bucket 0 holds 0, bucket b ≥ 1 holds [2^(b-1), 2^b).
pub const HIST_BUCKETS: usize = 65;

/// The figures every `result` record carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Sample count.
    pub n: usize,
    /// Smallest sample.
    pub min: u64,
    /// 5th percentile (the low whisker of the plots).
    pub p5: u64,
    /// Median (nearest rank).
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile (the high whisker of the plots).
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Population standard deviation.
    pub stddev: f64,
    /// Count per log2 bucket (see [`bucket_of`]).
    pub hist: [u64; HIST_BUCKETS],
}

/// Sample at nearest rank ceil(per_mille / 1000 × n) of sorted, non-empty `sorted`.
pub fn nearest_rank(sorted: &[u64], per_mille: u64) -> u64 {
    let n = sorted.len() as u64;
    let rank = (per_mille * n).div_ceil(1000).max(1);
    sorted[(rank - 1) as usize]
}

/// Log2 bucket of `v`: 0 for 0, else 1 + floor(log2 v).
pub fn bucket_of(v: u64) -> usize {
    (u64::BITS - v.leading_zeros()) as usize
}

/// Lower bound of bucket `b` (0, 1, 2, 4, 8, ...).
pub fn bucket_lower_bound(b: usize) -> u64 {
    if b == 0 { 0 } else { 1u64 << (b - 1) }
}

fn sqrt(x: f64) -> f64 {
    // Newton's method (core has no sqrt without std); converges in a few dozen steps.
    if x <= 0.0 {
        return 0.0;
    }
    let mut r = if x > 1.0 { x / 2.0 } else { 1.0 };
    for _ in 0..200 {
        let next = 0.5 * (r + x / r);
        if (next - r).abs() <= r * 1e-15 {
            return next;
        }
        r = next;
    }
    r
}

impl Summary {
    /// Summarise `samples` (sorted in place). None when empty.
    pub fn of(samples: &mut [u64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let n = samples.len();
        let mut hist = [0u64; HIST_BUCKETS];
        let mut sum: u128 = 0;
        for &s in samples.iter() {
            hist[bucket_of(s)] += 1;
            sum += s as u128;
        }
        let mean = sum as f64 / n as f64;
        // Two-pass variance: exact enough for cycle counts, no catastrophic cancellation.
        let mut sq = 0.0;
        for &s in samples.iter() {
            let d = s as f64 - mean;
            sq += d * d;
        }
        Some(Summary {
            n,
            min: samples[0],
            p5: nearest_rank(samples, 50),
            p50: nearest_rank(samples, 500),
            p90: nearest_rank(samples, 900),
            p95: nearest_rank(samples, 950),
            p99: nearest_rank(samples, 990),
            p999: nearest_rank(samples, 999),
            max: samples[n - 1],
            mean,
            stddev: sqrt(sq / n as f64),
            hist,
        })
    }

    /// The histogram as JSON: `[[lower_bound, count], ...]`, non-empty buckets only.
    pub fn hist_json(&self) -> HistJson<'_> {
        HistJson(&self.hist)
    }
}

/// `Display` adaptor writing a histogram as a JSON array without a buffer.
pub struct HistJson<'a>(&'a [u64; HIST_BUCKETS]);

impl core::fmt::Display for HistJson<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("[")?;
        let mut first = true;
        for (b, &c) in self.0.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "[{},{}]", bucket_lower_bound(b), c)?;
        }
        f.write_str("]")
    }
}

/// Ticks of a clock at `hz` converted to nanoseconds.
pub fn ticks_to_ns(ticks: f64, hz: u64) -> f64 {
    if hz == 0 {
        return 0.0;
    }
    ticks * 1e9 / hz as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = Summary::of(&mut v).unwrap();
        assert_eq!(
            (s.min, s.p50, s.p90, s.p99, s.p999, s.max),
            (1, 50, 90, 99, 100, 100)
        );
        assert_eq!(s.n, 100);
        assert!((s.mean - 50.5).abs() < 1e-12);
        // Population stddev of 1..=100 is sqrt((100^2 - 1) / 12).
        assert!((s.stddev - (9999.0f64 / 12.0).sqrt()).abs() < 1e-9);
    }

    #[test]
    fn small_sets() {
        let mut one = [7u64];
        let s = Summary::of(&mut one).unwrap();
        assert_eq!((s.min, s.p50, s.p999, s.max), (7, 7, 7, 7));
        assert_eq!(s.stddev, 0.0);
        let mut two = [10u64, 20];
        let s = Summary::of(&mut two).unwrap();
        // ceil(0.5 * 2) = rank 1; ceil(0.9 * 2) = rank 2.
        assert_eq!((s.p50, s.p90), (10, 20));
        assert!(Summary::of(&mut []).is_none());
    }

    #[test]
    fn thousand_samples_p999() {
        let mut v: Vec<u64> = (1..=1000).collect();
        let s = Summary::of(&mut v).unwrap();
        assert_eq!((s.p99, s.p999), (990, 999));
        let mut v: Vec<u64> = (1..=2000).collect();
        assert_eq!(Summary::of(&mut v).unwrap().p999, 1998);
        let s = Summary::of(&mut v).unwrap();
        assert!(s.p5 <= s.p50 && s.p50 <= s.p95 && s.p95 <= s.p99);
    }

    #[test]
    fn histogram_buckets() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 2);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(4), 3);
        assert_eq!(bucket_of(u64::MAX), 64);
        for b in 0..HIST_BUCKETS {
            assert_eq!(bucket_of(bucket_lower_bound(b)), b);
        }
        let mut v = [0u64, 1, 2, 3, 1000, 1023, 1024];
        let s = Summary::of(&mut v).unwrap();
        assert_eq!(s.hist.iter().sum::<u64>(), 7);
        assert_eq!(
            s.hist_json().to_string(),
            "[[0,1],[1,1],[2,2],[512,2],[1024,1]]"
        );
    }

    #[test]
    fn sqrt_matches_std() {
        for x in [0.0, 1e-6, 0.25, 1.0, 2.0, 12345.678, 1e18] {
            assert!((sqrt(x) - x.sqrt()).abs() <= x.sqrt() * 1e-12, "{x}");
        }
    }

    #[test]
    fn ns_conversion() {
        assert_eq!(ticks_to_ns(2500.0, 2_500_000_000), 1000.0);
        assert_eq!(ticks_to_ns(5.0, 0), 0.0);
    }
}
