//! Seeded randomness and the few non-cryptographic hashes sightline uses:
//! one copy of each, identical on every platform (native and wasm32).
//!
//! - [`Rng`] (ChaCha8) for every random draw: ALS initialisation, splits,
//!   tuning, the demo generator. [`stream`] derives independent streams from
//!   a seed, [`below`] draws an unbiased integer.
//! - [`splitmix64`], a bijective 64-bit mixer, and [`fnv1a`], used by the
//!   A/B bucket hash (a stable contract, see [`crate::experiment::bucket`]),
//!   HNSW level draws and small-key hash maps ([`FnvBuild`]).

use std::hash::{BuildHasherDefault, Hasher};

pub use rand_chacha::rand_core::{Rng as RngCore, SeedableRng};

/// The one seeded generator: ChaCha8, the same stream on every target.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator seeded with `seed`.
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// An independent generator for (`seed`, `stream`, `index`): nearby
/// arguments give unrelated streams (e.g. one stream per customer).
pub fn stream(seed: u64, stream: u64, index: u64) -> Rng {
    let x = seed
        ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
    seeded(splitmix64(x))
}

/// A uniform integer in `0..n` (`n > 0`) by Lemire's multiply-and-reject
/// method: unbiased and identical on every platform.
pub fn below(rng: &mut Rng, n: u64) -> u64 {
    debug_assert!(n > 0);
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// SplitMix64's output function (Steele et al.): a bijective avalanche of
/// 64 bits. Part of the A/B bucket contract: never change it.
pub fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a of `bytes`, continuing from `h` ([`FNV_OFFSET`] to start). Part of
/// the A/B bucket contract: never change it.
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// FNV-1a as a [`Hasher`], for maps keyed by a few bytes that come from our
/// own config and catalog (a fast non-keyed hash is safe there).
#[derive(Debug, Clone, Copy)]
pub struct FnvHasher(u64);

impl Default for FnvHasher {
    fn default() -> Self {
        FnvHasher(FNV_OFFSET)
    }
}

impl Hasher for FnvHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(self.0, bytes);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// `BuildHasher` for [`FnvHasher`].
pub type FnvBuild = BuildHasherDefault<FnvHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), FNV_OFFSET);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(splitmix64(0), 0);
        assert_ne!(splitmix64(1), splitmix64(2));
    }

    #[test]
    fn below_is_in_range_and_deterministic() {
        let (mut a, mut b) = (seeded(7), seeded(7));
        for n in [1u64, 2, 3, 10, 1 << 40] {
            let x = below(&mut a, n);
            assert!(x < n);
            assert_eq!(x, below(&mut b, n));
        }
        assert_ne!(stream(1, 2, 3).next_u64(), stream(1, 2, 4).next_u64());
    }
}
