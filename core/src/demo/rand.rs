//! The demo generator's random numbers: ChaCha8 plus the few samplers it
//! needs, all platform-independent (IEEE-exact arithmetic only).

use crate::rng::RngCore;

/// ChaCha8 plus the few samplers we need, all platform-independent.
pub(super) struct Rand(crate::rng::Rng);

impl Rand {
    /// An independent stream for (`seed`, `stream`, `index`); per-customer
    /// streams keep each customer's events independent of the others.
    pub(super) fn new(seed: u64, stream: u64, index: u64) -> Self {
        Rand(crate::rng::stream(seed, stream, index))
    }

    pub(super) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub(super) fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (0 when n = 0); the bias of the multiply-shift
    /// method is below 2^-40 for our n.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    pub(super) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform integer in lo..=hi.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// An index drawn proportionally to `w`; `None` when all weights are 0.
    pub(super) fn weighted(&mut self, w: &[f64]) -> Option<usize> {
        let total: f64 = w.iter().sum();
        if total.is_nan() || total <= 0.0 {
            return None;
        }
        let mut x = self.f64() * total;
        let mut last = None;
        for (i, &wi) in w.iter().enumerate() {
            if wi > 0.0 {
                if x < wi {
                    return Some(i);
                }
                x -= wi;
                last = Some(i);
            }
        }
        last
    }

    /// Number of failures before a success of probability `p`, capped.
    pub(super) fn geometric(&mut self, p: f64, cap: u32) -> u32 {
        let mut k = 0;
        while k < cap && !self.chance(p) {
            k += 1;
        }
        k
    }
}

/// cos(2πx) approximated by two parabolas: smooth enough for seasonality
/// and bit-reproducible (libm `cos` is not).
pub(super) fn cos_turn(x: f64) -> f64 {
    let t = x - x.floor();
    let d = if t > 0.5 { 1.0 - t } else { t };
    if d <= 0.25 {
        1.0 - 8.0 * d * d
    } else {
        let e = 0.5 - d;
        8.0 * e * e - 1.0
    }
}
