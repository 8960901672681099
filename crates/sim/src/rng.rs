//! Small, fast, portable pseudo-random generator (xoshiro256++ seeded via SplitMix64).
//!
//! The simulator owns its generator so the output never changes with a dependency upgrade:
//! the same seed gives the same bytes on every platform and every build.

/// SplitMix64 step: used to expand seeds and to hash small tuples into seeds.
#[inline]
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes a list of words into one 64-bit seed (order-sensitive).
pub(crate) fn mix(parts: &[u64]) -> u64 {
    let mut s = 0x6A09_E667_F3BC_C908u64;
    let mut out = 0u64;
    for &p in parts {
        s ^= p;
        out = splitmix(&mut s);
        s = out;
    }
    out
}

/// xoshiro256++ generator.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Creates a generator from a 64-bit seed.
    pub(crate) fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix(&mut sm),
            splitmix(&mut sm),
            splitmix(&mut sm),
            splitmix(&mut sm),
        ];
        Rng { s }
    }

    /// Creates a generator from several words (e.g. seed, day, user).
    pub(crate) fn from_parts(parts: &[u64]) -> Rng {
        Rng::new(mix(parts))
    }

    /// Next 64 random bits.
    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// 128 random bits.
    #[inline]
    pub(crate) fn next_u128(&mut self) -> u128 {
        ((self.next_u64() as u128) << 64) | self.next_u64() as u128
    }

    /// Uniform in `0..n` (n > 0; returns 0 for n == 0).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform index into a slice of length `n`.
    #[inline]
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `lo..=hi` (inclusive).
    #[inline]
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform float in `[0, 1)`.
    #[inline]
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform float in `[lo, hi)`.
    #[inline]
    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// True with probability `p`.
    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Picks an element of a non-empty slice.
    #[inline]
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// Picks an index according to integer weights (falls back to 0 when all are zero).
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| w as u64).sum();
        if total == 0 {
            return 0;
        }
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < w as u64 {
                return i;
            }
            r -= w as u64;
        }
        weights.len() - 1
    }

    /// Approximately normal sample (sum of uniforms), mean `mu`, std-dev `sigma`.
    pub(crate) fn normal(&mut self, mu: f64, sigma: f64) -> f64 {
        let s: f64 = (0..4).map(|_| self.f64()).sum::<f64>() - 2.0;
        mu + sigma * s * 1.732_050_8
    }

    /// Random version-4 GUID shaped like an Entra request id (last byte usually `00`).
    pub(crate) fn request_guid(&mut self) -> u128 {
        let g = self.guid();
        let tail = match self.below(10) {
            0 => 1,
            1 => 2,
            _ => 0,
        };
        (g & !0xFFu128) | tail
    }

    /// Random version-4 GUID.
    pub(crate) fn guid(&mut self) -> u128 {
        let mut g = self.next_u128();
        g &= !(0xF000u128 << 64);
        g |= 0x4000u128 << 64;
        g &= !(0xC000_0000_0000_0000u128);
        g |= 0x8000_0000_0000_0000u128;
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_spread() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut hits = [0u32; 4];
        for _ in 0..4000 {
            hits[a.index(4)] += 1;
        }
        assert!(hits.iter().all(|&h| h > 800));
        assert_ne!(mix(&[1, 2]), mix(&[2, 1]));
    }
}
