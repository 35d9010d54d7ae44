//! Analysis: is one variant's rate really different from another's? A
//! pooled two-proportion z-test over the counts the
//! [`Tracker`](crate::tracking::Tracker) keeps per `(placement, variant)`
//! ([`Tracker::compare`](crate::tracking::Tracker::compare) feeds it).

use serde::{Deserialize, Serialize};

/// Which proportion a comparison tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Clicked impressions / impressions.
    Ctr,
    /// Conversions / clicks.
    Cvr,
}

/// Result of a pooled two-proportion z-test of variant `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `rate(a) - rate(b)`.
    pub diff: f64,
    /// z statistic (0 when both rates are 0 or both 1).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// `(successes, trials)` of `a`.
    pub a: (u64, u64),
    /// `(successes, trials)` of `b`.
    pub b: (u64, u64),
}

/// Standard normal CDF Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Pooled two-proportion z-test; `None` when either side has no trials or
/// more successes than trials.
pub fn two_proportion_z_test(a: (u64, u64), b: (u64, u64)) -> Option<Comparison> {
    if a.1 == 0 || b.1 == 0 || a.0 > a.1 || b.0 > b.1 {
        return None;
    }
    let (na, nb) = (a.1 as f64, b.1 as f64);
    let (pa, pb) = (a.0 as f64 / na, b.0 as f64 / nb);
    let pooled = (a.0 + b.0) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    // se = 0 only when both rates are 0 or both 1: no difference at all.
    let z = if se > 0.0 { (pa - pb) / se } else { 0.0 };
    Some(Comparison {
        diff: pa - pb,
        z,
        p_value: libm::erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0),
        a,
        b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn erfc_and_normal_cdf_match_known_values() {
        // Reference values from a correctly rounded libm (Python math.erfc).
        let known = [
            (0.0, 1.0),
            (0.1, 0.8875370839817152),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028513),
            (2.0, 0.004677734981047265),
            (2.5, 0.0004069520174449589),
            (3.0, 2.2090496998585438e-05),
            (5.0, 1.5374597944280351e-12),
            (-1.0, 1.8427007929497148),
        ];
        for (x, want) in known {
            let got = libm::erfc(x);
            assert!((got - want).abs() < 1e-13, "erfc({x}) = {got}, want {want}");
        }
        assert!(close(normal_cdf(1.959963984540054), 0.975, 1e-12));
        assert!(close(normal_cdf(-1.0), 0.15865525393145707, 1e-12));
        assert!(close(normal_cdf(0.0), 0.5, 1e-15));
        assert_eq!(libm::erfc(40.0), 0.0);
        assert_eq!(libm::erfc(-40.0), 2.0);
        assert!(libm::erfc(f64::NAN).is_nan());
    }

    #[test]
    fn z_test_known_example() {
        let c = two_proportion_z_test((200, 1000), (250, 1000)).unwrap();
        assert!(close(c.diff, -0.05, 1e-12));
        assert!(close(c.z, -2.6774, 1e-3), "{c:?}");
        assert!(close(c.p_value, 0.0074, 1e-4), "{c:?}");
        let same = two_proportion_z_test((0, 10), (0, 20)).unwrap();
        assert_eq!((same.z, same.p_value), (0.0, 1.0));
        assert!(two_proportion_z_test((0, 0), (1, 2)).is_none());
        assert!(two_proportion_z_test((3, 2), (1, 2)).is_none());
    }
}
