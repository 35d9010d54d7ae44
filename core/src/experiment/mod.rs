//! A/B experiments in one place: deterministic, sticky assignment of
//! visitors to variants (this module), the arm each variant serves
//! (`arms`, compiled by the engine) and the analysis of the outcome
//! ([`analysis`]: the two-proportion z-test).
//!
//! An [`ExperimentConfig`] names a set of placements, an optional time
//! window, a holdout share and weighted variants, each carrying a JSON
//! merge patch ([RFC 7386](https://www.rfc-editor.org/rfc/rfc7386)) that the
//! engine applies to the placement's config with [`merge_patch`].
//! [`Experiments`] holds a validated set of them and answers
//! [`Experiments::assign`].
//!
//! # Assignment
//!
//! Assignment is a pure function of the config and the unit id, so it is
//! sticky without any stored state and identical in every runtime (Rust,
//! Python, Node, WebAssembly) and every version of this library:
//!
//! ```text
//! h      = fnv1a64(salt ‖ 0x00 ‖ unit_id)          // UTF-8 bytes
//! h      = splitmix64_finalize(h)                    // spreads FNV's weak low bits
//! bucket = (h >> 11) / 2^53                          // in [0, 1)
//! bucket <  holdout  → "holdout" (non-experimental default, no overrides)
//! else r = (bucket - holdout) / (1 - holdout), and the first variant i
//!        with r < share_0 + … + share_i wins (config order)
//! ```
//!
//! [`bucket`] exposes the first three steps. Changing the salt reshuffles
//! every unit independently of the previous assignment; changing shares
//! moves only the units between the moved boundaries.

pub mod analysis;
pub(crate) mod arms;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use analysis::{normal_cdf, two_proportion_z_test, Comparison, Metric};

use crate::error::{Error, Result};

/// Variant name reported for held-out units; reserved, so no variant may use it.
pub const HOLDOUT: &str = "holdout";
/// Tolerance of the "shares sum to 1" check.
pub const SHARE_TOLERANCE: f64 = 1e-9;
/// Deepest accepted nesting of a variant's `overrides`; [`merge_patch`]
/// recurses once per level, so this bounds its stack use.
pub const MAX_OVERRIDE_DEPTH: usize = 32;

/// Which id an experiment buckets on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// The customer id; visitors without one are not in the experiment.
    User,
    /// The session / anonymous visitor id; visitors without one are not in
    /// the experiment.
    Session,
    /// The customer id when known, else the session id (default). A visitor
    /// who logs in mid-session may switch variant: that is the price of
    /// covering anonymous traffic.
    #[default]
    UserOrSession,
}

/// One arm of an experiment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VariantConfig {
    /// Name reported in assignments and tracking; unique within the
    /// experiment, not `"holdout"`.
    pub name: String,
    /// Share of the non-held-out units; finite, `>= 0`, all shares sum to 1.
    pub share: f64,
    /// JSON merge patch (RFC 7386) the engine applies to the placement
    /// config for this variant: an object, or `null` (default) for none.
    pub overrides: Value,
}

/// One experiment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExperimentConfig {
    /// Unique, non-empty name.
    pub name: String,
    /// Hash salt; empty (default) means the name. Keep it when renaming an
    /// experiment so its units keep their variants; change it to reshuffle.
    pub salt: String,
    /// Which id buckets a visitor.
    pub unit: Unit,
    /// Placements the experiment runs on; empty (default) means all.
    pub placements: Vec<String>,
    /// Start, Unix seconds, inclusive; `None` = always started.
    pub start: Option<i64>,
    /// End, Unix seconds, exclusive; `None` = never ends.
    pub end: Option<i64>,
    /// Share of units held out, in `[0, 1)`: they get the non-experimental
    /// default and are reported as variant `"holdout"`.
    pub holdout: f64,
    /// The arms, at least one; their shares split the non-held-out units.
    pub variants: Vec<VariantConfig>,
}

impl ExperimentConfig {
    /// The salt actually hashed: [`Self::salt`], or the name when empty.
    pub fn effective_salt(&self) -> &str {
        if self.salt.is_empty() {
            &self.name
        } else {
            &self.salt
        }
    }

    /// Checks every field; [`Error::Config`] names the offending one (e.g.
    /// `variants[1].share`).
    pub fn validate(&self) -> Result<()> {
        self.validate_at("")
    }

    /// [`Self::validate`] with field names prefixed by `prefix` (e.g.
    /// `experiments[0].`), so errors point into the enclosing config.
    fn validate_at(&self, prefix: &str) -> Result<()> {
        let f = |name: &str| format!("{prefix}{name}");
        if self.name.trim().is_empty() {
            return Err(Error::config(f("name"), "must not be empty"));
        }
        for (i, p) in self.placements.iter().enumerate() {
            if p.is_empty() {
                return Err(Error::config(
                    f(&format!("placements[{i}]")),
                    "must not be empty",
                ));
            }
            if self.placements[..i].contains(p) {
                return Err(Error::config(
                    f(&format!("placements[{i}]")),
                    format!("duplicate placement {p:?}"),
                ));
            }
        }
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if s >= e {
                return Err(Error::config(
                    f("end"),
                    format!("must be after start ({s}), got {e}"),
                ));
            }
        }
        if !(self.holdout.is_finite() && (0.0..1.0).contains(&self.holdout)) {
            return Err(Error::config(
                f("holdout"),
                format!("must be in [0, 1), got {}", self.holdout),
            ));
        }
        if self.variants.is_empty() {
            return Err(Error::config(f("variants"), "needs at least one variant"));
        }
        let mut sum = 0.0;
        for (i, v) in self.variants.iter().enumerate() {
            let vf = |name: &str| f(&format!("variants[{i}].{name}"));
            if v.name.trim().is_empty() {
                return Err(Error::config(vf("name"), "must not be empty"));
            }
            if v.name == HOLDOUT {
                return Err(Error::config(
                    vf("name"),
                    "\"holdout\" is reserved for held-out units",
                ));
            }
            if self.variants[..i].iter().any(|o| o.name == v.name) {
                return Err(Error::config(
                    vf("name"),
                    format!("duplicate variant name {:?}", v.name),
                ));
            }
            if !(v.share.is_finite() && v.share >= 0.0) {
                return Err(Error::config(
                    vf("share"),
                    format!("must be finite and >= 0, got {}", v.share),
                ));
            }
            sum += v.share;
            match &v.overrides {
                Value::Null | Value::Object(_) => {}
                _ => {
                    return Err(Error::config(
                        vf("overrides"),
                        "must be a JSON object (a merge patch) or null",
                    ))
                }
            }
            if depth(&v.overrides) > MAX_OVERRIDE_DEPTH {
                return Err(Error::config(
                    vf("overrides"),
                    format!("nested deeper than {MAX_OVERRIDE_DEPTH} levels"),
                ));
            }
        }
        if (sum - 1.0).abs() > SHARE_TOLERANCE {
            return Err(Error::config(
                f("variants"),
                format!("shares must sum to 1, got {sum}"),
            ));
        }
        Ok(())
    }

    fn active_at(&self, now: i64) -> bool {
        self.start.is_none_or(|s| now >= s) && self.end.is_none_or(|e| now < e)
    }

    fn runs_on(&self, placement: &str) -> bool {
        self.placements.is_empty() || self.placements.iter().any(|p| p == placement)
    }

    /// Whether two experiments could both claim a request: they share a
    /// placement (empty = all) and their windows intersect.
    fn overlaps(&self, other: &ExperimentConfig) -> bool {
        let placements = self.placements.is_empty()
            || other.placements.is_empty()
            || self.placements.iter().any(|p| other.placements.contains(p));
        // [s, e) windows with None as -inf / +inf intersect iff each starts
        // before the other ends.
        let starts_before = |s: Option<i64>, e: Option<i64>| match (s, e) {
            (Some(s), Some(e)) => s < e,
            _ => true,
        };
        placements && starts_before(self.start, other.end) && starts_before(other.start, self.end)
    }
}

/// Nesting depth of a JSON value (scalars are 0), without recursion so a
/// hostile value cannot exhaust the stack.
fn depth(v: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    max
}

/// The variant a unit is in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment<'a> {
    /// Experiment name.
    pub experiment: &'a str,
    /// Variant name, [`HOLDOUT`] for held-out units.
    pub variant: &'a str,
    /// Whether the unit is held out (then `overrides` is `null`).
    pub holdout: bool,
    /// Merge patch for the placement config; `null` = none.
    pub overrides: &'a Value,
}

static NULL: Value = Value::Null;

/// A validated set of experiments.
#[derive(Debug, Clone, Default)]
pub struct Experiments {
    experiments: Vec<ExperimentConfig>,
}

impl Experiments {
    /// Validates each experiment (errors name e.g.
    /// `experiments[0].variants[1].share`), that names are unique and that
    /// no two experiments share a placement at overlapping times, which
    /// would make assignment ambiguous.
    pub fn new(experiments: Vec<ExperimentConfig>) -> Result<Self> {
        for (i, e) in experiments.iter().enumerate() {
            e.validate_at(&format!("experiments[{i}]."))?;
            for (j, o) in experiments[..i].iter().enumerate() {
                if o.name == e.name {
                    return Err(Error::config(
                        format!("experiments[{i}].name"),
                        format!("duplicate experiment name {:?} (experiments[{j}])", e.name),
                    ));
                }
                if o.overlaps(e) {
                    return Err(Error::config(
                        format!("experiments[{i}].placements"),
                        format!(
                            "overlaps experiments[{j}] ({:?}) on a placement at the same time",
                            o.name
                        ),
                    ));
                }
            }
        }
        Ok(Experiments { experiments })
    }

    /// The experiments, in config order.
    pub fn configs(&self) -> &[ExperimentConfig] {
        &self.experiments
    }

    /// The variant of a visitor on `placement` at `now` (Unix seconds), or
    /// `None` when no experiment is active there or the visitor lacks the id
    /// the experiment buckets on (empty ids count as missing).
    pub fn assign(
        &self,
        placement: &str,
        user: Option<&str>,
        session: Option<&str>,
        now: i64,
    ) -> Option<Assignment<'_>> {
        // Validation guarantees at most one experiment matches.
        let e = self
            .experiments
            .iter()
            .find(|e| e.active_at(now) && e.runs_on(placement))?;
        let user = user.filter(|u| !u.is_empty());
        let session = session.filter(|s| !s.is_empty());
        let unit = match e.unit {
            Unit::User => user,
            Unit::Session => session,
            Unit::UserOrSession => user.or(session),
        }?;
        let b = bucket(e.effective_salt(), unit);
        if b < e.holdout {
            return Some(Assignment {
                experiment: &e.name,
                variant: HOLDOUT,
                holdout: true,
                overrides: &NULL,
            });
        }
        let r = (b - e.holdout) / (1.0 - e.holdout);
        let mut cum = 0.0;
        let mut chosen = None;
        for v in &e.variants {
            if v.share > 0.0 {
                chosen = Some(v);
                cum += v.share;
                if r < cum {
                    break;
                }
            }
        }
        // Shares sum to 1 ± 1e-9, so r past the last boundary (rounding)
        // falls to the last variant with a positive share.
        let v = chosen?;
        Some(Assignment {
            experiment: &e.name,
            variant: &v.name,
            holdout: false,
            overrides: &v.overrides,
        })
    }
}

/// The bucket of `unit` under `salt`, in `[0, 1)`: the stable hash
/// described in the [module docs](self). Part of the compatibility
/// contract: it never changes between versions or platforms.
pub fn bucket(salt: &str, unit: &str) -> f64 {
    use crate::rng::{fnv1a, splitmix64, FNV_OFFSET};
    let h = fnv1a(FNV_OFFSET, salt.as_bytes());
    let h = fnv1a(h, &[0]);
    let h = splitmix64(fnv1a(h, unit.as_bytes()));
    // 53 bits fill an f64 mantissa exactly, so the result is < 1.
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Applies a JSON merge patch ([RFC 7386](https://www.rfc-editor.org/rfc/rfc7386))
/// to `base` in place: object members merge recursively, `null` members
/// delete, anything else replaces. Recursion depth is the patch's nesting
/// depth (bounded by [`MAX_OVERRIDE_DEPTH`] for validated overrides).
pub fn merge_patch(base: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *base = patch.clone();
        return;
    };
    if !base.is_object() {
        *base = Value::Object(Map::new());
    }
    if let Value::Object(b) = base {
        for (k, v) in p {
            if v.is_null() {
                b.remove(k);
            } else {
                merge_patch(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn variant(name: &str, share: f64) -> VariantConfig {
        VariantConfig {
            name: name.into(),
            share,
            overrides: json!({ "blend": { "name": name } }),
        }
    }

    fn exp(name: &str, variants: &[(&str, f64)]) -> ExperimentConfig {
        ExperimentConfig {
            name: name.into(),
            variants: variants.iter().map(|&(n, s)| variant(n, s)).collect(),
            ..Default::default()
        }
    }

    fn field_of(r: Result<Experiments>) -> String {
        match r {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn bucket_is_stable_across_versions() {
        // Pinned values: changing them re-assigns every live experiment.
        let b = bucket("exp", "user-1");
        assert!((0.0..1.0).contains(&b));
        assert_eq!(bucket("exp", "user-1"), b);
        let pinned = [bucket("", ""), bucket("s", "u"), bucket("exp", "user-1")];
        let expected = PINNED;
        for (p, e) in pinned.iter().zip(expected) {
            assert_eq!(p.to_bits(), e.to_bits(), "{p} vs {e}");
        }
    }

    const PINNED: [f64; 3] = [0.14838301097631856, 0.6182773554365523, 0.292358374136913];

    #[test]
    fn sticky_and_deterministic() {
        let x = Experiments::new(vec![exp("e", &[("a", 0.5), ("b", 0.5)])]).unwrap();
        for i in 0..1000 {
            let id = format!("u{i}");
            let first = x.assign("home", Some(&id), None, 0).unwrap();
            for _ in 0..3 {
                assert_eq!(x.assign("home", Some(&id), None, 0), Some(first));
            }
            // Rebuilding from the same config gives the same answer.
            let y = Experiments::new(x.configs().to_vec()).unwrap();
            assert_eq!(y.assign("home", Some(&id), None, 0), Some(first));
        }
    }

    #[test]
    fn split_matches_shares() {
        let mut e = exp("split", &[("a", 0.5), ("b", 0.3), ("c", 0.0), ("d", 0.2)]);
        e.holdout = 0.1;
        let x = Experiments::new(vec![e]).unwrap();
        let n = 100_000;
        let mut counts = std::collections::HashMap::new();
        for i in 0..n {
            let a = x
                .assign("p", Some(&format!("user{i:06}")), None, 0)
                .unwrap();
            assert_eq!(a.holdout, a.variant == HOLDOUT);
            if a.holdout {
                assert!(a.overrides.is_null());
            } else {
                assert_eq!(a.overrides["blend"]["name"], a.variant);
            }
            *counts.entry(a.variant.to_string()).or_insert(0usize) += 1;
        }
        let expected = [
            ("holdout", 0.1),
            ("a", 0.45),
            ("b", 0.27),
            ("c", 0.0),
            ("d", 0.18),
        ];
        for (name, share) in expected {
            let got = *counts.get(name).unwrap_or(&0) as f64 / n as f64;
            assert!((got - share).abs() < 0.01, "{name}: {got} vs {share}");
        }
        assert!(!counts.contains_key("c"), "zero share is never assigned");
    }

    #[test]
    fn salts_are_independent() {
        let n = 100_000;
        let ids: Vec<String> = (0..n).map(|i| format!("r{i:06}")).collect();
        let xs: Vec<f64> = ids.iter().map(|id| bucket("salt-one", id)).collect();
        let ys: Vec<f64> = ids.iter().map(|id| bucket("salt-two", id)).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (mx, my) = (mean(&xs), mean(&ys));
        let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
        let r = cov / (vx * vy).sqrt();
        assert!(r.abs() < 0.015, "correlation {r}");
        // Cross-tab of two 50/50 experiments: each cell ~25%.
        let mut cells = [0usize; 4];
        for (x, y) in xs.iter().zip(&ys) {
            cells[usize::from(*x < 0.5) * 2 + usize::from(*y < 0.5)] += 1;
        }
        for c in cells {
            assert!((c as f64 / n as f64 - 0.25).abs() < 0.01, "{cells:?}");
        }
        // An explicit salt replaces the name; an empty one falls back to it.
        let mut a = exp("x", &[("a", 1.0)]);
        assert_eq!(a.effective_salt(), "x");
        a.salt = "y".into();
        assert_eq!(a.effective_salt(), "y");
    }

    #[test]
    fn unit_semantics() {
        let mut e = exp("u", &[("a", 0.5), ("b", 0.5)]);
        let mk = |e: &ExperimentConfig| Experiments::new(vec![e.clone()]).unwrap();
        // user_or_session (default): user wins, session is the fallback.
        let x = mk(&e);
        let by_user = x.assign("p", Some("alice"), Some("s1"), 0).unwrap();
        assert_eq!(
            by_user.variant,
            x.assign("p", Some("alice"), None, 0).unwrap().variant
        );
        let by_sess = x.assign("p", None, Some("s1"), 0).unwrap();
        assert_eq!(
            by_sess.variant,
            x.assign("p", Some(""), Some("s1"), 0).unwrap().variant
        );
        assert!(x.assign("p", None, None, 0).is_none());
        assert!(x.assign("p", Some(""), Some(""), 0).is_none());
        // user: no user id, no experiment; the session is ignored.
        e.unit = Unit::User;
        let x = mk(&e);
        assert!(x.assign("p", None, Some("s1"), 0).is_none());
        for i in 0..200 {
            let u = format!("u{i}");
            assert_eq!(
                x.assign("p", Some(&u), Some("s1"), 0),
                x.assign("p", Some(&u), Some(&format!("s{i}")), 0)
            );
        }
        // session: buckets on the session id only.
        e.unit = Unit::Session;
        let x = mk(&e);
        assert!(x.assign("p", Some("alice"), None, 0).is_none());
        for i in 0..200 {
            let s = format!("s{i}");
            let a = x.assign("p", Some("alice"), Some(&s), 0).unwrap();
            assert_eq!(Some(a), x.assign("p", Some("bob"), Some(&s), 0));
            assert_eq!(a.variant == "a", bucket("u", &s) < 0.5);
        }
        // serde spelling
        let u: Unit = serde_json::from_str("\"user_or_session\"").unwrap();
        assert_eq!(u, Unit::UserOrSession);
    }

    #[test]
    fn time_window_is_half_open() {
        let mut e = exp("t", &[("a", 1.0)]);
        e.start = Some(100);
        e.end = Some(200);
        let x = Experiments::new(vec![e]).unwrap();
        assert!(x.assign("p", Some("u"), None, 99).is_none());
        assert!(x.assign("p", Some("u"), None, 100).is_some());
        assert!(x.assign("p", Some("u"), None, 199).is_some());
        assert!(x.assign("p", Some("u"), None, 200).is_none());
    }

    #[test]
    fn placement_scoping_and_sequential_experiments() {
        let mut a = exp("a", &[("x", 1.0)]);
        a.placements = vec!["home".into(), "cart".into()];
        a.end = Some(100);
        let mut b = exp("b", &[("y", 1.0)]);
        b.placements = vec!["home".into()];
        b.start = Some(100);
        let mut c = exp("c", &[("z", 1.0)]);
        c.placements = vec!["pdp".into()];
        let x = Experiments::new(vec![a, b, c]).unwrap();
        let at = |p: &str, t| x.assign(p, Some("u"), None, t).map(|a| a.experiment);
        assert_eq!(at("home", 50), Some("a"));
        assert_eq!(at("cart", 50), Some("a"));
        assert_eq!(at("home", 100), Some("b"));
        assert_eq!(at("cart", 100), None);
        assert_eq!(at("pdp", 0), Some("c"));
        assert_eq!(at("search", 0), None);
    }

    #[test]
    fn validation_names_fields() {
        let ok = || exp("e", &[("a", 0.5), ("b", 0.5)]);
        let mut e = ok();
        e.variants[1].share = 0.6;
        assert_eq!(
            field_of(Experiments::new(vec![ok(), e])),
            "experiments[1].variants"
        );
        let mut e = ok();
        e.variants[1].share = f64::NAN;
        assert_eq!(
            field_of(Experiments::new(vec![e])),
            "experiments[0].variants[1].share"
        );
        let mut e = ok();
        e.variants[0].share = -0.5;
        e.variants[1].share = 1.5;
        assert_eq!(
            field_of(Experiments::new(vec![e])),
            "experiments[0].variants[0].share"
        );
        let mut e = ok();
        e.variants[1].name = "a".into();
        assert_eq!(
            field_of(Experiments::new(vec![e])),
            "experiments[0].variants[1].name"
        );
        let mut e = ok();
        e.variants[0].name = "holdout".into();
        assert_eq!(
            field_of(Experiments::new(vec![e])),
            "experiments[0].variants[0].name"
        );
        let mut e = ok();
        e.variants[0].name = String::new();
        assert_eq!(
            field_of(Experiments::new(vec![e])),
            "experiments[0].variants[0].name"
        );
        let mut e = ok();
        e.variants[0].overrides = json!(3);
        assert_eq!(
            field_of(Experiments::new(vec![e])),
            "experiments[0].variants[0].overrides"
        );
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({ "k": deep });
        }
        let mut e = ok();
        e.variants[0].overrides = deep;
        assert_eq!(
            field_of(Experiments::new(vec![e])),
            "experiments[0].variants[0].overrides"
        );
        let mut e = ok();
        e.name = String::new();
        assert_eq!(field_of(Experiments::new(vec![e])), "experiments[0].name");
        assert_eq!(
            field_of(Experiments::new(vec![ok(), ok()])),
            "experiments[1].name"
        );
        let mut e = ok();
        e.holdout = 1.0;
        assert_eq!(
            field_of(Experiments::new(vec![e])),
            "experiments[0].holdout"
        );
        let mut e = ok();
        e.variants.clear();
        assert_eq!(
            field_of(Experiments::new(vec![e])),
            "experiments[0].variants"
        );
        let mut e = ok();
        e.start = Some(10);
        e.end = Some(10);
        assert_eq!(field_of(Experiments::new(vec![e])), "experiments[0].end");
        let mut e = ok();
        e.placements = vec!["p".into(), "p".into()];
        assert_eq!(
            field_of(Experiments::new(vec![e])),
            "experiments[0].placements[1]"
        );
        // Overlap: an all-placements experiment collides with any other
        // running at the same time; disjoint windows are fine.
        let mut other = ok();
        other.name = "f".into();
        other.placements = vec!["home".into()];
        assert_eq!(
            field_of(Experiments::new(vec![ok(), other.clone()])),
            "experiments[1].placements"
        );
        let mut first = ok();
        first.end = Some(50);
        other.start = Some(50);
        assert!(Experiments::new(vec![first.clone(), other.clone()]).is_ok());
        other.start = Some(49);
        assert_eq!(
            field_of(Experiments::new(vec![first, other])),
            "experiments[1].placements"
        );
        // validate() alone uses bare field names.
        let mut e = ok();
        e.variants[1].share = f64::INFINITY;
        assert!(
            matches!(e.validate(), Err(Error::Config { field, .. }) if field == "variants[1].share")
        );
    }

    #[test]
    fn config_from_json_with_defaults() {
        let e: ExperimentConfig = serde_json::from_value(json!({
            "name": "blend-test",
            "placements": ["home"],
            "variants": [
                { "name": "control", "share": 0.5 },
                { "name": "more-trending", "share": 0.5, "overrides": { "weights": { "trending": 0.4 } } }
            ]
        }))
        .unwrap();
        assert_eq!(e.unit, Unit::UserOrSession);
        assert_eq!(e.holdout, 0.0);
        assert!(e.variants[0].overrides.is_null());
        let x = Experiments::new(vec![e]).unwrap();
        assert!(x.assign("home", Some("u"), None, 0).is_some());
    }

    #[test]
    fn merge_patch_rfc7386_appendix() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut base, patch, want) in cases {
            merge_patch(&mut base, &patch);
            assert_eq!(base, want, "patch {patch}");
        }
        // The RFC's section 3 example.
        let mut doc = json!({
            "title": "Goodbye!",
            "author": { "givenName": "John", "familyName": "Doe" },
            "tags": ["example", "sample"],
            "content": "This will be unchanged"
        });
        merge_patch(
            &mut doc,
            &json!({
                "title": "Hello!",
                "phoneNumber": "+01-123-456-7890",
                "author": { "familyName": null },
                "tags": ["example"]
            }),
        );
        assert_eq!(
            doc,
            json!({
                "title": "Hello!",
                "author": { "givenName": "John" },
                "tags": ["example"],
                "content": "This will be unchanged",
                "phoneNumber": "+01-123-456-7890"
            })
        );
    }
}
