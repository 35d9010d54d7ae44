//! Hyper-parameter search for [`AlsModel`]: grid or seeded random search over
//! a [`ParamSpace`], each candidate trained on a train split and scored on a
//! validation split with [`ranking_metrics_at_k`].
//!
//! ```
//! use sightline::als::AlsConfig;
//! use sightline::data::InteractionsBuilder;
//! use sightline::eval::train_test_split;
//! use sightline::tune::{tune_als, Metric, ParamSpace, Search};
//!
//! let mut b = InteractionsBuilder::new();
//! for u in 0..30u32 {
//!     for j in 0..6u32 {
//!         b.add(&format!("u{u}"), &format!("i{}", (u % 2) * 8 + (u + j) % 8), 1.0)?;
//!     }
//! }
//! let (train, validation) = train_test_split(&b.build()?, 0.2, 1)?;
//! let space = ParamSpace {
//!     factors: vec![4, 8],
//!     regularization: vec![0.1, 1.0],
//!     ..ParamSpace::fixed(&AlsConfig::default())
//! };
//! let base = AlsConfig { iterations: 5, ..Default::default() };
//! let result = tune_als(&train, &validation, &base, &space, &Search::Grid, Metric::Ndcg, 5,
//!                       &mut |_| true)?;
//! assert_eq!(result.trials.len(), 4);
//! assert!(result.trials.iter().all(|t| t.metrics.ndcg <= result.best_metrics.ndcg));
//! # Ok::<(), sightline::Error>(())
//! ```
//!
//! # Semantics
//!
//! * Every candidate is `base` with the searched fields replaced; all other
//!   fields (solver, seed, threads, …) come from `base`. Every candidate uses
//!   the same `base.seed`, so differences between trials come from the
//!   hyper-parameters, not from the initialisation.
//! * [`Search::Grid`] runs the full Cartesian product in lexicographic order
//!   of the fields as declared in [`ParamSpace`] (`factors` slowest,
//!   `iterations` fastest), each list in the order given.
//! * [`Search::Random`] runs `min(trials, grid size)` **distinct** grid
//!   points drawn uniformly without replacement from a ChaCha8 stream seeded
//!   with `seed` (platform-independent), in the order drawn.
//! * The best trial maximises the chosen [`Metric`] on the validation split;
//!   ties go to the earlier trial. The result is deterministic: the same
//!   inputs give the same trials, metrics and best config (only `seconds`
//!   varies).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::als::{AlsConfig, AlsModel};
use crate::data::Interactions;
use crate::error::{Error, Result};
use crate::eval::{ranking_metrics_at_k, RankingMetrics};
use crate::rng::below;

/// The values to try for each searched [`AlsConfig`] field. A list with one
/// value fixes that field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParamSpace {
    /// Latent dimensions.
    pub factors: Vec<usize>,
    /// L2 regularisation `λ`.
    pub regularization: Vec<f32>,
    /// Confidence scale `alpha`.
    pub alpha: Vec<f32>,
    /// Confidence `α₀` of unobserved pairs (Rendle et al. 2022).
    pub unobserved_weight: Vec<f32>,
    /// Frequency scaling `ν` of the regularisation (Rendle et al. 2022).
    pub regularization_exponent: Vec<f32>,
    /// Scale of the initial factors.
    pub init_std: Vec<f32>,
    /// Full alternations.
    pub iterations: Vec<usize>,
}

impl Default for ParamSpace {
    /// The default search space (216 grid points; meant for
    /// `Search::Random`, e.g. 40 trials, or for a grid on small data):
    ///
    /// | field | values |
    /// |---|---|
    /// | `factors` | 32, 64, 128 |
    /// | `regularization` | 0.01, 0.1, 1, 10 |
    /// | `alpha` | 1, 4, 16 |
    /// | `unobserved_weight` | 0.1, 1, 3 |
    /// | `regularization_exponent` | 0, 0.5 |
    /// | `init_std` | 0.1 |
    /// | `iterations` | 15 |
    ///
    /// The classic Hu–Koren–Volinsky model is the point
    /// `unobserved_weight = 1, regularization_exponent = 0`; the other
    /// values of those two fields are Rendle et al.'s (RecSys 2022) separate
    /// weight of the implicit zeros and frequency-scaled regularisation.
    fn default() -> Self {
        ParamSpace {
            factors: vec![32, 64, 128],
            regularization: vec![0.01, 0.1, 1.0, 10.0],
            alpha: vec![1.0, 4.0, 16.0],
            unobserved_weight: vec![0.1, 1.0, 3.0],
            regularization_exponent: vec![0.0, 0.5],
            init_std: vec![0.1],
            iterations: vec![15],
        }
    }
}

impl ParamSpace {
    /// The names of the searchable fields, slowest-varying first (grid
    /// order, the order of `dims()`).
    pub const FIELDS: [&'static str; 7] = [
        "factors",
        "regularization",
        "alpha",
        "unobserved_weight",
        "regularization_exponent",
        "init_std",
        "iterations",
    ];

    /// The space a binding's `param_grid` argument describes, over `base`.
    /// `None` is the default space with `init_std` and `iterations` taken
    /// from `base`; a grid (an object of field name → list, or a scalar that
    /// fixes the field) searches the fields it names, the others fixed at
    /// `base`. An unknown name or a bad value is a config error naming
    /// `param_grid.<field>`.
    pub fn from_grid(grid: Option<serde_json::Value>, base: &AlsConfig) -> Result<Self> {
        let Some(grid) = grid else {
            return Ok(ParamSpace {
                init_std: vec![base.init_std],
                iterations: vec![base.iterations],
                ..ParamSpace::default()
            });
        };
        let serde_json::Value::Object(given) = grid else {
            return Err(Error::config(
                "param_grid",
                "must map parameter names to lists",
            ));
        };
        let mut tree = serde_json::to_value(ParamSpace::fixed(base))
            .map_err(|e| Error::config("param_grid", e.to_string()))?;
        for (name, values) in given {
            if !Self::FIELDS.contains(&name.as_str()) {
                return Err(Error::config(
                    format!("param_grid.{name}"),
                    format!(
                        "not a searchable parameter; expected one of {}",
                        Self::FIELDS.join(", ")
                    ),
                ));
            }
            let values = match values {
                list @ serde_json::Value::Array(_) => list,
                scalar => serde_json::Value::Array(vec![scalar]),
            };
            tree[name.as_str()] = values;
        }
        crate::config::from_value(tree).map_err(|e| match e {
            Error::Config { field, message } => Error::Config {
                field: format!("param_grid.{field}"),
                message,
            },
            other => other,
        })
    }

    /// The one-point space of `config` (every list holds its value); use it
    /// with struct-update syntax to search only some fields.
    pub fn fixed(config: &AlsConfig) -> Self {
        ParamSpace {
            factors: vec![config.factors],
            regularization: vec![config.regularization],
            alpha: vec![config.alpha],
            unobserved_weight: vec![config.unobserved_weight],
            regularization_exponent: vec![config.regularization_exponent],
            init_std: vec![config.init_std],
            iterations: vec![config.iterations],
        }
    }

    /// List lengths in declaration order (the mixed radix of the grid).
    fn dims(&self) -> [usize; 7] {
        [
            self.factors.len(),
            self.regularization.len(),
            self.alpha.len(),
            self.unobserved_weight.len(),
            self.regularization_exponent.len(),
            self.init_std.len(),
            self.iterations.len(),
        ]
    }

    /// Number of grid points (the product of the list lengths).
    ///
    /// Errors: [`Error::Config`] naming the first empty list
    /// (`space.<field>`), or `space` when the product overflows `usize`.
    pub fn grid_size(&self) -> Result<usize> {
        let mut n = 1usize;
        for (len, name) in self.dims().into_iter().zip(Self::FIELDS) {
            if len == 0 {
                return Err(Error::config(
                    format!("space.{name}"),
                    "must list at least one value",
                ));
            }
            n = n
                .checked_mul(len)
                .ok_or_else(|| Error::config("space", "too many grid points"))?;
        }
        Ok(n)
    }

    /// Grid point `index` (`< grid_size()`): `base` with the searched fields
    /// set; the last field varies fastest.
    pub fn config_at(&self, base: &AlsConfig, mut index: usize) -> AlsConfig {
        let mut pick = |len: usize| {
            let i = index % len;
            index /= len;
            i
        };
        // Decode from the fastest-varying (last) field backwards.
        let it = pick(self.iterations.len());
        let std = pick(self.init_std.len());
        let nu = pick(self.regularization_exponent.len());
        let a0 = pick(self.unobserved_weight.len());
        let alpha = pick(self.alpha.len());
        let reg = pick(self.regularization.len());
        let k = pick(self.factors.len());
        AlsConfig {
            factors: self.factors[k],
            regularization: self.regularization[reg],
            alpha: self.alpha[alpha],
            unobserved_weight: self.unobserved_weight[a0],
            regularization_exponent: self.regularization_exponent[nu],
            init_std: self.init_std[std],
            iterations: self.iterations[it],
            ..base.clone()
        }
    }

    /// Checks every list: non-empty, and each value valid for
    /// [`AlsConfig::validate`] on top of `base`. Errors name the field as
    /// `space.<field>`.
    pub fn validate(&self, base: &AlsConfig) -> Result<()> {
        self.grid_size()?;
        let dims = self.dims();
        for (axis, name) in Self::FIELDS.iter().enumerate() {
            // Grid points varying only this axis (all others at their first value).
            let stride: usize = dims[axis + 1..].iter().product();
            for entry in 0..dims[axis] {
                self.config_at(base, entry * stride)
                    .validate()
                    .map_err(|e| match e {
                        Error::Config { field, message } if field == *name => Error::config(
                            format!("space.{name}"),
                            format!("entry {entry}: {message}"),
                        ),
                        other => other,
                    })?;
            }
        }
        Ok(())
    }
}

/// How the candidates are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Search {
    /// Every grid point, in lexicographic order.
    Grid,
    /// `min(trials, grid size)` distinct grid points drawn uniformly at
    /// random (ChaCha8 seeded with `seed`).
    Random {
        /// Number of candidates (>= 1).
        trials: usize,
        /// Seed of the sampling.
        seed: u64,
    },
}

impl Search {
    /// A search by name, as bindings take it: `"grid"`, or `"random"` with
    /// `trials` candidates (default 20) drawn with `seed`.
    pub fn from_name(name: &str, trials: Option<usize>, seed: u64) -> Result<Self> {
        match name {
            "grid" => Ok(Search::Grid),
            "random" => Ok(Search::Random {
                trials: trials.unwrap_or(20),
                seed,
            }),
            other => Err(Error::config(
                "search",
                format!("expected \"grid\" or \"random\", got {other:?}"),
            )),
        }
    }
}

/// The validation metric that is maximised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `RankingMetrics::ndcg`.
    Ndcg,
    /// `RankingMetrics::precision`.
    Precision,
    /// `RankingMetrics::recall`.
    Recall,
    /// `RankingMetrics::map`.
    Map,
    /// `RankingMetrics::hit_rate`.
    HitRate,
}

impl Metric {
    /// Every metric, in declaration order.
    pub const ALL: [Metric; 5] = [
        Metric::Ndcg,
        Metric::Precision,
        Metric::Recall,
        Metric::Map,
        Metric::HitRate,
    ];

    /// The metric's value in `m`.
    pub fn value(self, m: &RankingMetrics) -> f64 {
        match self {
            Metric::Ndcg => m.ndcg,
            Metric::Precision => m.precision,
            Metric::Recall => m.recall,
            Metric::Map => m.map,
            Metric::HitRate => m.hit_rate,
        }
    }

    /// The snake_case name (`"ndcg"`, `"hit_rate"`, …), as in serde.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Ndcg => "ndcg",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::Map => "map",
            Metric::HitRate => "hit_rate",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;

    /// Parses a snake_case name; errors ([`Error::Config`] on `metric`)
    /// list the accepted names.
    fn from_str(s: &str) -> Result<Self> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::config(
                    "metric",
                    format!(
                        "unknown metric {s:?}; expected one of ndcg, precision, recall, map, hit_rate"
                    ),
                )
            })
    }
}

/// One evaluated candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The full configuration that was trained.
    pub config: AlsConfig,
    /// Its metrics on the validation split.
    pub metrics: RankingMetrics,
    /// Wall-clock seconds for training plus evaluation.
    pub seconds: f64,
}

/// The outcome of [`tune_als`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneResult {
    /// The configuration of the best trial.
    pub best: AlsConfig,
    /// Validation metrics of the best trial.
    pub best_metrics: RankingMetrics,
    /// Every trial, in the order run.
    pub trials: Vec<Trial>,
}

/// The grid indices `search` visits, in order.
fn candidates(search: &Search, n: usize) -> Result<Vec<usize>> {
    match *search {
        Search::Grid => Ok((0..n).collect()),
        Search::Random { trials, seed } => {
            if trials == 0 {
                return Err(Error::config("search.trials", "must be >= 1"));
            }
            let m = trials.min(n);
            let mut rng = crate::rng::seeded(seed);
            if m.saturating_mul(2) > n {
                // Dense: partial Fisher–Yates over all indices.
                let mut all: Vec<usize> = (0..n).collect();
                for i in 0..m {
                    let j = i + below(&mut rng, (n - i) as u64) as usize;
                    all.swap(i, j);
                }
                all.truncate(m);
                Ok(all)
            } else {
                // Sparse: rejection of repeats (expected < 2 draws each).
                let mut seen = HashSet::with_capacity(m);
                let mut out = Vec::with_capacity(m);
                while out.len() < m {
                    let i = below(&mut rng, n as u64) as usize;
                    if seen.insert(i) {
                        out.push(i);
                    }
                }
                Ok(out)
            }
        }
    }
}

/// Searches `space` (on top of `base`) for the ALS configuration with the
/// highest `metric`@`k` on `validation`, training each candidate on `train`.
///
/// `train` and `validation` are a split of one data set (same shape and id
/// maps, e.g. from [`train_test_split`](crate::eval::train_test_split));
/// items a user has in `train` are excluded from their validation ranking.
/// `progress` is called on the caller's thread after every trial; returning
/// `false` stops the search with [`Error::Interrupted`].
///
/// Errors: [`Error::Config`] for an invalid `base`, an empty or invalid list
/// in `space` (field `space.<name>`) or `Random { trials: 0 }`
/// (`search.trials`); [`Error::ShapeMismatch`] when `train` and
/// `validation` differ in shape; [`Error::InvalidInput`] when `k == 0`, the
/// id maps differ or `validation` is empty; any error of fitting.
#[allow(clippy::too_many_arguments)]
pub fn tune_als(
    train: &Interactions,
    validation: &Interactions,
    base: &AlsConfig,
    space: &ParamSpace,
    search: &Search,
    metric: Metric,
    k: usize,
    progress: &mut dyn FnMut(&Trial) -> bool,
) -> Result<TuneResult> {
    base.validate()?;
    space.validate(base)?;
    if (train.n_users(), train.n_items()) != (validation.n_users(), validation.n_items()) {
        return Err(Error::shape(format!(
            "train is {}x{} but validation is {}x{}",
            train.n_users(),
            train.n_items(),
            validation.n_users(),
            validation.n_items()
        )));
    }
    if train.users() != validation.users() || train.items() != validation.items() {
        return Err(Error::invalid(
            "train and validation must share the same user and item ids (use the split functions)",
        ));
    }
    if k == 0 {
        return Err(Error::invalid("k must be > 0"));
    }
    if validation.matrix().nnz() == 0 {
        return Err(Error::invalid("validation has no interactions"));
    }
    let order = candidates(search, space.grid_size()?)?;
    let mut trials: Vec<Trial> = Vec::with_capacity(order.len());
    let mut best: Option<usize> = None;
    for index in order {
        let config = space.config_at(base, index);
        let start = Instant::now();
        // Evaluation filters with `train` itself: no need to keep a copy.
        let fit_config = AlsConfig {
            store_interactions: false,
            ..config.clone()
        };
        let model = AlsModel::fit(&fit_config, train)?;
        let metrics = ranking_metrics_at_k(&model, train, validation, k)?;
        let trial = Trial {
            config,
            metrics,
            seconds: start.elapsed().as_secs_f64(),
        };
        let keep_going = progress(&trial);
        let better =
            best.is_none_or(|b| metric.value(&trial.metrics) > metric.value(&trials[b].metrics));
        if better {
            best = Some(trials.len());
        }
        trials.push(trial);
        if !keep_going {
            return Err(Error::Interrupted);
        }
    }
    // `candidates` returns at least one index (grid size >= 1, trials >= 1).
    let b = best.ok_or_else(|| Error::invalid("no trials were run"))?;
    Ok(TuneResult {
        best: trials[b].config.clone(),
        best_metrics: trials[b].metrics,
        trials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::InteractionsBuilder;
    use crate::eval::train_test_split;

    #[test]
    fn a_grid_names_the_searched_fields_and_fixes_the_rest_at_base() {
        let base = AlsConfig {
            factors: 8,
            iterations: 3,
            ..AlsConfig::default()
        };
        let grid = serde_json::json!({"factors": [4, 16], "alpha": 2.0});
        let s = ParamSpace::from_grid(Some(grid), &base).unwrap();
        assert_eq!(
            (s.factors.clone(), s.alpha.clone()),
            (vec![4, 16], vec![2.0])
        );
        assert_eq!(
            (s.iterations.clone(), s.regularization.clone()),
            (vec![3], vec![base.regularization])
        );
        let d = ParamSpace::from_grid(None, &base).unwrap();
        assert_eq!(
            (d.factors, d.iterations),
            (ParamSpace::default().factors, vec![3])
        );
        for (grid, field) in [
            (serde_json::json!({"magic": [1]}), "param_grid.magic"),
            (
                serde_json::json!({"factors": [-1]}),
                "param_grid.factors[0]",
            ),
            (serde_json::json!([1]), "param_grid"),
        ] {
            let e = ParamSpace::from_grid(Some(grid), &base).unwrap_err();
            assert!(
                matches!(&e, Error::Config { field: f, .. } if f == field),
                "{e}"
            );
        }
        assert_eq!(
            Search::from_name("random", None, 7).unwrap(),
            Search::Random {
                trials: 20,
                seed: 7
            }
        );
        assert!(matches!(
            Search::from_name("annealing", None, 0),
            Err(Error::Config { .. })
        ));
    }

    /// Two taste groups of 40 users over 2×12 items; each user has 8 of
    /// their group's items plus one random-ish item of the other group.
    fn planted() -> (Interactions, Interactions) {
        let mut b = InteractionsBuilder::new();
        for u in 0..80u32 {
            let base = if u < 40 { 0 } else { 12 };
            for j in 0..8 {
                let item = base + (u * 5 + j * 7) % 12;
                b.add(&format!("u{u}"), &format!("i{item}"), 1.0).unwrap();
            }
            let other = (base + 12 + u % 12) % 24;
            b.add(&format!("u{u}"), &format!("i{other}"), 1.0).unwrap();
        }
        train_test_split(&b.build().unwrap(), 0.25, 7).unwrap()
    }

    fn base() -> AlsConfig {
        AlsConfig {
            factors: 2,
            regularization: 100.0,
            alpha: 1.0,
            regularization_exponent: 0.0,
            iterations: 5,
            num_threads: 1,
            ..Default::default()
        }
    }

    fn small_space() -> ParamSpace {
        ParamSpace {
            factors: vec![2, 8],
            regularization: vec![100.0, 0.1],
            alpha: vec![1.0, 10.0],
            unobserved_weight: vec![1.0, 0.3],
            ..ParamSpace::fixed(&base())
        }
    }

    fn run(space: &ParamSpace, search: &Search, metric: Metric) -> Result<TuneResult> {
        let (train, valid) = planted();
        tune_als(
            &train,
            &valid,
            &base(),
            space,
            search,
            metric,
            5,
            &mut |_| true,
        )
    }

    #[test]
    fn grid_runs_product_in_order_and_beats_base() {
        let space = small_space();
        assert_eq!(space.grid_size().unwrap(), 16);
        let r = run(&space, &Search::Grid, Metric::Ndcg).unwrap();
        assert_eq!(r.trials.len(), 16);
        // Lexicographic: factors slowest, unobserved_weight fastest here.
        assert_eq!(r.trials[0].config, base());
        assert_eq!(r.trials[1].config.unobserved_weight, 0.3);
        assert_eq!(r.trials[2].config.alpha, 10.0);
        assert_eq!(r.trials[8].config.factors, 8);
        let best = r.best_metrics.ndcg;
        assert!(r.trials.iter().all(|t| t.metrics.ndcg <= best));
        // The first trial is the base config; tuning never does worse.
        assert!(best >= r.trials[0].metrics.ndcg);
        assert!(best > 0.5, "planted groups should be found: {best}");
        // Every trial differs from the base only in searched fields.
        for t in &r.trials {
            assert_eq!(t.config.seed, base().seed);
            assert_eq!(t.config.num_threads, 1);
            assert!(t.seconds >= 0.0);
        }
        // The best is the earliest trial with the maximum.
        let first_max = r
            .trials
            .iter()
            .position(|t| t.metrics.ndcg == best)
            .unwrap();
        assert_eq!(r.best, r.trials[first_max].config);
    }

    #[test]
    fn ties_go_to_the_earlier_trial() {
        // Identical candidates give identical metrics.
        let space = ParamSpace {
            alpha: vec![2.0, 2.0, 2.0],
            ..ParamSpace::fixed(&base())
        };
        let (train, valid) = planted();
        let mut n = 0;
        let r = tune_als(
            &train,
            &valid,
            &base(),
            &space,
            &Search::Grid,
            Metric::Map,
            5,
            &mut |_| {
                n += 1;
                true
            },
        )
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(r.trials[0].metrics, r.trials[2].metrics);
        assert_eq!(r.best, r.trials[0].config);
    }

    #[test]
    fn random_search_counts_distinct_and_deterministic() {
        let space = small_space();
        let search = Search::Random { trials: 5, seed: 3 };
        let a = run(&space, &search, Metric::Recall).unwrap();
        let b = run(&space, &search, Metric::Recall).unwrap();
        assert_eq!(a.trials.len(), 5);
        let strip = |r: &TuneResult| -> Vec<(AlsConfig, RankingMetrics)> {
            r.trials
                .iter()
                .map(|t| (t.config.clone(), t.metrics))
                .collect()
        };
        assert_eq!(strip(&a), strip(&b));
        assert_eq!(a.best, b.best);
        for (i, x) in a.trials.iter().enumerate() {
            for y in &a.trials[i + 1..] {
                assert_ne!(x.config, y.config, "random search repeated a point");
            }
        }
        // Another seed, another sample; more trials than points → whole grid.
        let c = candidates(&Search::Random { trials: 5, seed: 4 }, 16).unwrap();
        assert_ne!(c, candidates(&search, 16).unwrap());
        let mut all = candidates(
            &Search::Random {
                trials: 100,
                seed: 4,
            },
            16,
        )
        .unwrap();
        all.sort_unstable();
        assert_eq!(all, (0..16).collect::<Vec<_>>());
        let dense = candidates(
            &Search::Random {
                trials: 12,
                seed: 1,
            },
            16,
        )
        .unwrap();
        assert_eq!(dense.len(), 12);
        assert_eq!(dense.iter().collect::<HashSet<_>>().len(), 12);
    }

    #[test]
    fn grid_is_deterministic() {
        let space = small_space();
        let a = run(&space, &Search::Grid, Metric::HitRate).unwrap();
        let b = run(&space, &Search::Grid, Metric::HitRate).unwrap();
        assert_eq!(a.best, b.best);
        assert_eq!(a.best_metrics, b.best_metrics);
    }

    #[test]
    fn bad_input() {
        let (train, valid) = planted();
        let go = |space: &ParamSpace, search: &Search, k: usize| {
            tune_als(
                &train,
                &valid,
                &base(),
                space,
                search,
                Metric::Ndcg,
                k,
                &mut |_| true,
            )
        };
        let field = |r: Result<TuneResult>| match r {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        let empty = ParamSpace {
            alpha: vec![],
            ..small_space()
        };
        assert_eq!(field(go(&empty, &Search::Grid, 5)), "space.alpha");
        let empty = ParamSpace {
            iterations: vec![],
            ..small_space()
        };
        assert_eq!(field(go(&empty, &Search::Grid, 5)), "space.iterations");
        let bad = ParamSpace {
            regularization: vec![1.0, -1.0],
            ..small_space()
        };
        assert_eq!(field(go(&bad, &Search::Grid, 5)), "space.regularization");
        let bad = ParamSpace {
            factors: vec![0],
            ..small_space()
        };
        assert_eq!(field(go(&bad, &Search::Grid, 5)), "space.factors");
        let zero = Search::Random { trials: 0, seed: 0 };
        assert_eq!(field(go(&small_space(), &zero, 5)), "search.trials");
        assert!(matches!(
            go(&small_space(), &Search::Grid, 0),
            Err(Error::InvalidInput(_))
        ));
        let bad_base = AlsConfig {
            alpha: 0.0,
            ..base()
        };
        let r = tune_als(
            &train,
            &valid,
            &bad_base,
            &small_space(),
            &Search::Grid,
            Metric::Ndcg,
            5,
            &mut |_| true,
        );
        assert_eq!(field(r), "alpha");

        // Shapes: validation with one more item.
        let m = valid
            .matrix()
            .clone()
            .resized(valid.n_users(), valid.n_items() + 1)
            .unwrap();
        let wide = Interactions::from_csr(m, None, None).unwrap();
        assert!(matches!(
            tune_als(
                &train,
                &wide,
                &base(),
                &small_space(),
                &Search::Grid,
                Metric::Ndcg,
                5,
                &mut |_| true
            ),
            Err(Error::ShapeMismatch(_))
        ));

        // Interrupt after the second trial: nothing more runs.
        let mut n = 0;
        let r = tune_als(
            &train,
            &valid,
            &base(),
            &small_space(),
            &Search::Grid,
            Metric::Ndcg,
            5,
            &mut |_| {
                n += 1;
                n < 2
            },
        );
        assert!(matches!(r, Err(Error::Interrupted)));
        assert_eq!(n, 2);
    }

    #[test]
    fn metric_names_and_serde() {
        for m in Metric::ALL {
            assert_eq!(m.name().parse::<Metric>().unwrap(), m);
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.name())
            );
        }
        assert!(matches!(
            "auc".parse::<Metric>(),
            Err(Error::Config { ref field, .. }) if field == "metric"
        ));
        let s = serde_json::to_string(&Search::Random { trials: 3, seed: 9 }).unwrap();
        assert_eq!(s, r#"{"type":"random","trials":3,"seed":9}"#);
        let space: ParamSpace = serde_json::from_str(r#"{"factors":[8]}"#).unwrap();
        assert_eq!(space.factors, vec![8]);
        assert_eq!(space.alpha, ParamSpace::default().alpha);
        assert_eq!(ParamSpace::default().grid_size().unwrap(), 216);
    }
}
