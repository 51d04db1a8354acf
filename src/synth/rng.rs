//! Seeded pseudo-random numbers for the synthetic capture generator.
//!
//! In: a 64-bit seed (plus optional stream ids that are mixed into it). Out: a small
//! [`Rng`] (SplitMix64) with the handful of draws the planners need. Guarantees: fully
//! deterministic across platforms and Rust versions (no `rand` dependency, no floats in
//! the integer draws), cheap to create, so every planned flow can own an independent
//! stream derived from `(seed, flow id)` and interleaving never changes the output.

/// SplitMix64: tiny, fast, good enough statistical quality for traffic synthesis.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function, usable as a stand-alone 64-bit hash.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng {
            state: mix64(seed ^ 0x5EED_F10E_5E47_0001),
        }
    }

    /// An independent generator for sub-stream `stream` of `seed`.
    pub fn derive(seed: u64, stream: u64) -> Rng {
        Rng {
            state: mix64(seed.wrapping_add(mix64(stream.wrapping_mul(GOLDEN) ^ 0xA5A5_A5A5))),
        }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }

    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    pub fn next_u16(&mut self) -> u16 {
        (self.next_u64() >> 48) as u16
    }

    /// Uniform in `0..n` (`n > 0`), via the multiply-high method (bias < 2^-32 for our n).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    #[inline]
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    #[inline]
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A uniformly chosen element of a non-empty slice.
    #[inline]
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An ephemeral (client) port in the IANA dynamic range 49152..=65535.
    #[inline]
    pub fn ephemeral_port(&mut self) -> u16 {
        self.range(49152, 65535) as u16
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}
