//! Helpers shared by the unit tests.

/// xorshift64 (Marsaglia 2003): a tiny deterministic PRNG for randomised tests with fixed seeds.
pub struct XorShift(u64);

impl XorShift {
    /// A generator started from `seed` (zero is replaced, since xorshift would stay at zero).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 pseudo-random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n > 0`; the slight modulo bias does not matter for tests).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A fair coin.
    pub fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}
