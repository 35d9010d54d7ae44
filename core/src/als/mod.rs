//! Implicit-feedback collaborative filtering by alternating least squares
//! (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback
//! Datasets", ICDM 2008) — "customers like you also bought".
//!
//! Each observed weight `w` of user `u` for item `i` becomes a preference
//! `p = 1` with confidence `c = α₀ + alpha·w`; unobserved pairs (and stored
//! zeros) have `p = 0`, `c = α₀` (`α₀ = unobserved_weight`, 1 by default as
//! in Hu–Koren–Volinsky). ALS alternately solves, for every user then every item,
//! `(α₀YᵀY + λᵤI + Σᵢ alpha·wᵢ yᵢyᵢᵀ) x = Σᵢ (α₀ + alpha·wᵢ) yᵢ`, with `YᵀY`
//! computed once per half-iteration. Two solvers: a few conjugate-gradient
//! steps warm-started from the previous factors (as the `implicit` library
//! does; fast) or an exact Cholesky factorisation (faer).
//!
//! After training, [`AlsModel::partial_fit_users`] and
//! [`AlsModel::partial_fit_items`] (implicit's methods of the same names)
//! re-solve chosen rows exactly against the other side's fixed factors, so
//! changed histories, new users and new products enter the model without a
//! full refit; new indices grow it. [`AlsModel::explain`] (implicit's
//! `explain`, Hu–Koren–Volinsky §5) splits a user's score for item `i` into
//! one term per item `j` of their history: with `A` the user's matrix
//! above, the score is `y_iᵀA⁻¹ Σⱼ (α₀ + alpha·wⱼ) yⱼ`, and item `j`'s term
//! is `(α₀ + alpha·wⱼ)·y_iᵀA⁻¹yⱼ` — "because you bought …".
//!
//! Determinism: the same data, config and seed give bit-identical factors
//! for any thread count — every row is solved by one thread with a fixed
//! operation order and the Gram matrix is computed sequentially.
//!
//! Layout: this file holds the config, the model and its fit / recommend /
//! similarity / persistence API; `solve` the per-row least-squares kernels
//! (CG and Cholesky) and the training loss; `partial` partial fits and
//! `explain`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::rng::{Rng, RngCore};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::content::exact::ExactIndex;
use crate::data::{check_id_shape, Csr, CsrRef, Interactions};
use crate::error::{Error, IdKind, Result};
use crate::ids::IdMap;
use crate::linalg::{
    cholesky_solve_factored, dot, gemm_abt, simd, to_panels, top_k, top_k_scores, PanelScores,
};
use crate::pages::HugeSlice;
use crate::parallel::{check_threads, for_each_chunk, install, resolve_threads};
use crate::store::{Component, ModelFile, TensorData};

mod partial;
mod solve;

use solve::{scaled_gram, solve_side, training_loss, Row, RowScratch};

/// How each row's least-squares problem is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Solver {
    /// `steps` conjugate-gradient steps per row and half-iteration, starting
    /// from the previous factors (Takács et al. 2011; implicit's default).
    Cg {
        /// CG steps per row (implicit uses 3).
        steps: usize,
    },
    /// Exact solve by Cholesky factorisation.
    Cholesky,
}

/// How an observed weight `w` becomes a confidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// `c = α₀ + alpha·w`: observed pairs add `alpha·w` to the unobserved
    /// confidence (Hu, Koren & Volinsky 2008; the default).
    #[default]
    Additive,
    /// `c = alpha·w` replaces the unobserved confidence, so a weight with
    /// `alpha·w < α₀` counts less than an unobserved pair (the `implicit`
    /// library's convention, for answers that match it).
    Scaled,
}

/// The largest latent dimension [`AlsConfig::factors`] accepts: each row
/// solve is `O(k³)` with Cholesky, so beyond this a fit would run for hours.
pub const MAX_FACTORS: usize = 4096;

/// The largest [`AlsConfig::iterations`]: far beyond convergence (15 is the
/// default), it bounds how long one config can keep a fit running.
pub const MAX_ITERATIONS: usize = 100_000;

/// The largest number of CG steps per row: CG solves a `k×k` system
/// exactly in at most `k` steps, so more than [`MAX_FACTORS`] never helps.
pub const MAX_CG_STEPS: usize = MAX_FACTORS;

/// Hyper-parameters of [`AlsModel::fit`]. The defaults (64 factors, λ 1,
/// alpha 4, ν 0.5) were chosen by the MovieLens-100k protocol of
/// `benches/compare/ml100k.py`, where untuned they reach test nDCG@10 0.447.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlsConfig {
    /// Latent dimension `k` (default 64).
    pub factors: usize,
    /// L2 regularisation `λ` (default 1.0, scaled per row by
    /// `regularization_exponent`).
    pub regularization: f32,
    /// Confidence scale: an observed weight `w` gets confidence
    /// `unobserved_weight + alpha·w` (default 4.0).
    pub alpha: f32,
    /// Confidence `α₀` of every unobserved (user, item) pair — Rendle et
    /// al.'s separate weight for the implicit zeros (default 1.0, which
    /// is Hu–Koren–Volinsky's `c = 1 + alpha·w`).
    pub unobserved_weight: f32,
    /// Frequency scaling `ν` of the regularisation: a row with `n` observed
    /// entries gets `λ·(n + α₀·n_other)^ν` (Rendle et al. 2022). 0 is a
    /// plain `λ`; 1 scales it with each user's and item's activity; the
    /// default 0.5 scored best on MovieLens-100k (see benches/README.md).
    pub regularization_exponent: f32,
    /// Full alternations (default 15, at most [`MAX_ITERATIONS`]).
    pub iterations: usize,
    /// Row solver (default CG with 3 steps).
    pub solver: Solver,
    /// Seed of the factor initialisation (default 0).
    pub seed: u64,
    /// Worker threads; 0 = all cores (default), at most
    /// [`MAX_THREADS`](crate::parallel::MAX_THREADS). `SIGHTLINE_NUM_THREADS` caps it.
    pub num_threads: usize,
    /// Compute the training loss after each iteration and report it through
    /// the progress callback (costs about one extra half-iteration).
    pub calculate_training_loss: bool,
    /// Keep the training interactions in the model (and its file) so
    /// `recommend` can leave out items the user already has (default true).
    pub store_interactions: bool,
    /// Initial factors are drawn uniformly with mean 0 and standard
    /// deviation `init_std / √k` (default 0.1).
    pub init_std: f32,
    /// How observed weights become confidences (default
    /// [`Confidence::Additive`]).
    pub confidence: Confidence,
    /// CG reads the other side's factors rounded to bfloat16 (default
    /// true): half the bytes per gathered row, the main memory cost of a
    /// sweep. The rounded halves are made in place (each row split into
    /// upper and lower halves for the sweep, then restored exactly), so they
    /// take no memory. The shared Gram part, the right-hand side's
    /// accumulation and the solution stay `f32`. Measured on a random
    /// 3,000 × 400 set, the factors differ from `f32` gathers' by 0.3 % and
    /// 99.6 % of top 10s agree.
    /// Cholesky and partial fits always gather `f32`.
    pub bf16_gathers: bool,
}

impl Default for AlsConfig {
    fn default() -> Self {
        AlsConfig {
            factors: 64,
            regularization: 1.0,
            alpha: 4.0,
            unobserved_weight: 1.0,
            regularization_exponent: 0.5,
            iterations: 15,
            solver: Solver::Cg { steps: 3 },
            seed: 0,
            num_threads: 0,
            calculate_training_loss: false,
            store_interactions: true,
            init_std: 0.1,
            confidence: Confidence::Additive,
            bf16_gathers: true,
        }
    }
}

impl AlsConfig {
    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.factors == 0 || self.factors > MAX_FACTORS {
            return Err(Error::config(
                "factors",
                format!("must be in 1..={MAX_FACTORS}, got {}", self.factors),
            ));
        }
        if !self.regularization.is_finite() || self.regularization < 0.0 {
            return Err(Error::config(
                "regularization",
                format!("must be finite and >= 0, got {}", self.regularization),
            ));
        }
        if !self.alpha.is_finite() || self.alpha <= 0.0 {
            return Err(Error::config(
                "alpha",
                format!("must be finite and > 0, got {}", self.alpha),
            ));
        }
        if !self.unobserved_weight.is_finite() || self.unobserved_weight <= 0.0 {
            return Err(Error::config(
                "unobserved_weight",
                format!("must be finite and > 0, got {}", self.unobserved_weight),
            ));
        }
        if !self.regularization_exponent.is_finite()
            || !(0.0..=2.0).contains(&self.regularization_exponent)
        {
            return Err(Error::config(
                "regularization_exponent",
                format!("must be in [0, 2], got {}", self.regularization_exponent),
            ));
        }
        if self.iterations == 0 || self.iterations > MAX_ITERATIONS {
            return Err(Error::config(
                "iterations",
                format!("must be in 1..={MAX_ITERATIONS}, got {}", self.iterations),
            ));
        }
        if let Solver::Cg { steps } = self.solver {
            if steps == 0 || steps > MAX_CG_STEPS {
                return Err(Error::config(
                    "solver.steps",
                    format!("must be in 1..={MAX_CG_STEPS}, got {steps}"),
                ));
            }
        }
        check_threads("num_threads", self.num_threads)?;
        if !self.init_std.is_finite() || self.init_std <= 0.0 {
            return Err(Error::config(
                "init_std",
                format!("must be finite and > 0, got {}", self.init_std),
            ));
        }
        Ok(())
    }
}

/// What the progress callback of [`AlsModel::fit_with_progress`] receives
/// after each iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Iterations done (1-based).
    pub iteration: usize,
    /// Iterations requested.
    pub iterations: usize,
    /// Training loss when `calculate_training_loss` is on.
    pub loss: Option<f32>,
    /// Seconds since the fit started.
    pub seconds: f64,
}

/// Filtering options of `recommend*` calls.
#[derive(Debug, Clone, Copy)]
pub struct RecommendOptions<'a> {
    /// Leave out items the user already interacted with (default true).
    pub filter_liked: bool,
    /// The user's items, overriding the stored training row (implicit's
    /// `user_items`).
    pub liked: Option<&'a [u32]>,
    /// Rows of items overriding the stored training rows (batch form of
    /// `liked`).
    pub liked_rows: Option<LikedRows<'a>>,
    /// Items never to return (implicit's `filter_items`).
    pub exclude: &'a [u32],
    /// Only rank these items (implicit's `items`).
    pub allow_only: Option<&'a [u32]>,
    /// Rank liked and excluded items after the eligible ones, with score
    /// `f32::MIN`, instead of leaving them out (implicit's output, which
    /// always fills `n` places).
    pub filtered_last: bool,
}

impl Default for RecommendOptions<'_> {
    fn default() -> Self {
        RecommendOptions {
            filter_liked: true,
            liked: None,
            liked_rows: None,
            exclude: &[],
            allow_only: None,
            filtered_last: false,
        }
    }
}

/// Options of [`AlsModel::similar`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SimilarOptions<'a> {
    /// Keep each query among its own results (implicit returns it first,
    /// with score 1); otherwise it is left out like an excluded entry.
    pub include_self: bool,
    /// Entries never to return (implicit's `filter_items` / `filter_users`).
    pub exclude: &'a [u32],
    /// Only rank these entries (implicit's `items` / `users`).
    pub allow_only: Option<&'a [u32]>,
    /// As [`RecommendOptions::filtered_last`].
    pub filtered_last: bool,
    /// One `k`-vector per query (row-major) replacing the queries' stored
    /// factors (implicit's `recalculate_item`).
    pub vectors: Option<&'a [f32]>,
}

/// Where each user's items to leave out come from, as a matrix with one row
/// per user (columns = items).
#[derive(Debug, Clone, Copy)]
pub enum LikedRows<'a> {
    /// Row `u` belongs to user index `u` (e.g. a train split).
    ByUser(&'a Csr),
    /// Row `p` belongs to the `p`-th requested user (implicit's
    /// `user_items[userids]`); a single `recommend` uses row 0.
    ByPosition(&'a Csr),
}

/// The Cholesky factor of one user's system matrix
/// `A = α₀YᵀY + λᵤI + Σⱼ alpha·wⱼ yⱼyⱼᵀ` (implicit's `user_weights`):
/// what [`AlsModel::explain`] needs for every item it explains for that
/// user, so it can be computed once and handed back.
#[derive(Debug, Clone, PartialEq)]
pub struct UserWeights {
    k: usize,
    /// `L` with `A = LLᵀ`, row-major, zeros above the diagonal.
    lower: Vec<f32>,
}

impl UserWeights {
    /// The factor `L` (`A = LLᵀ`): `k×k` lower-triangular, row-major, zeros
    /// above the diagonal (numpy's `cholesky` layout).
    pub fn factor(&self) -> &[f32] {
        &self.lower
    }

    /// The latent dimension `k` (the factor is `k×k`).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Takes back a factor from [`factor`](Self::factor), e.g. one a
    /// binding returned to its caller. Checks the size, that the lower
    /// triangle is finite and the diagonal positive; entries above the
    /// diagonal are ignored (stored as zero), as in scipy's `cho_solve`.
    pub fn from_factor(k: usize, mut factor: Vec<f32>) -> Result<Self> {
        if k == 0 || k.checked_mul(k) != Some(factor.len()) {
            return Err(Error::shape(format!(
                "user weights must be k x k for k >= 1, got {} values for k = {k}",
                factor.len()
            )));
        }
        for (i, row) in factor.chunks_exact_mut(k).enumerate() {
            if row[..=i].iter().any(|v| !v.is_finite()) {
                return Err(Error::invalid("user weights contain NaN or infinity"));
            }
            if row[i] <= 0.0 {
                return Err(Error::invalid(format!(
                    "user weights need a positive diagonal, got {} at {i}",
                    row[i]
                )));
            }
            row[i + 1..].fill(0.0);
        }
        Ok(UserWeights { k, lower: factor })
    }

    /// From the row-major upper factor `U = Lᵀ` of [`cholesky_factor`].
    fn from_upper(k: usize, upper: &[f32]) -> Self {
        let mut lower = vec![0f32; k * k];
        for i in 0..k {
            for j in 0..=i {
                lower[i * k + j] = upper[j * k + i];
            }
        }
        UserWeights { k, lower }
    }

    /// `A⁻¹ b`, in place.
    fn solve(&self, b: &mut [f32]) {
        let k = self.k;
        // The shared solver reads U = Lᵀ row-major.
        let mut upper = vec![0f32; k * k];
        for i in 0..k {
            for j in 0..=i {
                upper[j * k + i] = self.lower[i * k + j];
            }
        }
        cholesky_solve_factored(&upper, b);
    }
}

/// Why a user would get an item: [`AlsModel::explain`]'s answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The user's score for the item, `y_iᵀA⁻¹b`: what
    /// [`AlsModel::fold_in`] of the same history dotted with the item's
    /// factors gives (up to rounding), and the sum of all contributions.
    pub score: f32,
    /// The `n` largest `(liked item, contribution)` pairs, largest first;
    /// item `j` contributes `(α₀ + alpha·wⱼ)·y_iᵀA⁻¹yⱼ` (can be negative).
    pub contributions: Vec<(u32, f32)>,
    /// The factor of the user's `A`, to pass back when explaining more
    /// items for the same history (saves a factorisation per item).
    pub user_weights: UserWeights,
}

/// A trained ALS model: factors, id maps and (optionally) the training
/// interactions. `Send + Sync`; all queries take `&self`.
#[derive(Debug, Clone)]
pub struct AlsModel {
    config: AlsConfig,
    users: IdMap,
    items: IdMap,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    user_items: Option<Csr>,
    /// `α₀·YᵀY`, for fold-in.
    item_gram: OnceLock<Vec<f32>>,
    /// Unit-length item factors, for cosine similarity, with their exact
    /// search index.
    unit_items: OnceLock<UnitItems>,
    /// Item factors in panel layout, for scoring one vector fast.
    item_panels: OnceLock<Vec<f32>>,
    /// Exact inner-product index of the item factors, for recommend (None
    /// where there is none: the browser, non-finite factors).
    item_index: OnceLock<Option<Arc<ExactIndex>>>,
    /// Unit item factors in panel layout.
    unit_item_panels: OnceLock<Vec<f32>>,
}

/// Unit-length item factors (zero rows stay zero). Indexed for exact
/// search, which finds one item's neighbours reading a quarter of the bytes
/// (int8 codes, most rows ruled out in bulk) that scoring every item does;
/// plain rows when they cannot be indexed (non-finite factors), scored in
/// full then.
#[derive(Debug, Clone)]
enum UnitItems {
    Indexed(Arc<ExactIndex>),
    Plain(Vec<f32>),
}

/// Whether item similarity goes through an exact index. Not in the browser:
/// the index's f64 eigendecomposition and int8 scan would add ~60 KB
/// (gzipped) to a module whose budget is 250 KB, for the small catalogs a
/// page holds. A constant, so the whole path is compiled out there.
const INDEXED: bool = !cfg!(target_arch = "wasm32");

/// `items` sorted and deduplicated, for membership tests by binary search.
fn sorted_set(items: &[u32]) -> Vec<u32> {
    let mut set = items.to_vec();
    set.sort_unstable();
    set.dedup();
    set
}

/// The `n` rows of `index` scoring highest against `query`, leaving out
/// `liked` and `exclude` (sorted and deduplicated) — what
/// [`AlsModel::rank`] makes of every row's score. With `filtered_last`,
/// places the eligible rows cannot fill go to the left-out rows, lowest
/// index first, with score `f32::MIN`, as there.
fn top_indexed(
    index: &ExactIndex,
    query: &[f32],
    liked: &[u32],
    exclude: &[u32],
    n: usize,
    filtered_last: bool,
) -> Vec<(u32, f32)> {
    let owned;
    let liked = if liked.is_sorted() {
        liked
    } else {
        owned = sorted_set(liked);
        &owned
    };
    let left_out = |j: u32| liked.binary_search(&j).is_ok() || exclude.binary_search(&j).is_ok();
    let mut top = index.search(query, n, Some(&|j| !left_out(j)));
    let wanted = n.min(index.len());
    if filtered_last && top.len() < wanted {
        let mut rest = [liked, exclude].concat();
        rest.sort_unstable();
        rest.dedup();
        top.extend(
            rest.into_iter()
                .take(wanted - top.len())
                .map(|i| (i, f32::MIN)),
        );
    }
    top
}

/// Fills `out` (rows of `k`) with initial factors drawn from `rng`'s
/// stream where it stands, and moves `rng` past them. Blocks of rows draw
/// in parallel inside [`install`], each from its own place in the one
/// stream, so the values are those of drawing in order at any thread count.
fn random_factors(rng: &mut Rng, out: &mut [f32], k: usize, std: f32) {
    // Uniform on [-a, a] has standard deviation a/√3. Only exact integer
    // and IEEE arithmetic (no libm), so every platform draws the same factors.
    let a = std as f64 / (k as f64).sqrt() * 3f64.sqrt();
    let start = rng.get_word_pos();
    let base = rng.clone();
    // Each draw takes two 32-bit words of the stream (`next_u64`).
    let words = |values: usize| start + 2 * values as u128;
    for_each_chunk(
        out,
        k.max(1),
        INIT_ROWS_PER_TASK,
        || (),
        |_, first, block| {
            let mut rng = base.clone();
            rng.set_word_pos(words(first * k));
            for v in block {
                let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                *v = ((2.0 * u - 1.0) * a) as f32;
            }
        },
    );
    rng.set_word_pos(words(out.len()));
}

/// Rows of initial factors drawn per parallel task.
const INIT_ROWS_PER_TASK: usize = 4096;

/// A history of `items` (indices below `n_rows`) as one canonical row
/// (duplicates summed, zeros dropped).
fn history(items: &[u32], weights: &[f32], n_rows: usize) -> Result<Csr> {
    if items.len() != weights.len() {
        return Err(Error::shape(format!(
            "{} items but {} weights",
            items.len(),
            weights.len()
        )));
    }
    check_indices("items", items, n_rows)?;
    let row = Csr::from_triplets(1, n_rows, &vec![0; items.len()], items, weights)?;
    Ok(row.without_zeros().into_owned())
}

/// What a fold-in solves against: some rows of a model's item factors
/// (all of them, or a slice's), with the whole model's config, item count
/// and scaled Gram matrix, so a fold-in over a slice gives the same vector
/// as over the model.
pub(crate) struct FoldInBasis<'a> {
    /// The model's config (`factors` = `k`).
    pub config: &'a AlsConfig,
    /// Item factor rows, `rows.len() / k` of them, row-major.
    pub rows: &'a [f32],
    /// Items of the whole model (the regularisation scales with it).
    pub model_items: usize,
    /// `α₀·YᵀY` of the whole model, `k×k`.
    pub gram: &'a [f32],
}

impl FoldInBasis<'_> {
    /// [`AlsModel::fold_in`] with `items` indexing [`rows`](Self::rows).
    pub fn fold_in(&self, items: &[u32], weights: &[f32]) -> Result<Vec<f32>> {
        let k = self.config.factors;
        let row = history(items, weights, self.rows.len() / k)?;
        let (cols, ws) = row.row(0);
        let mut x = vec![0f32; k];
        Row::new(self.config, self.rows, self.model_items, cols, ws).solve_exact(
            self.gram,
            &mut x,
            &mut RowScratch::new(k),
        );
        Ok(x)
    }
}

fn check_indices(what: &str, idx: &[u32], n: usize) -> Result<()> {
    match idx.iter().find(|&&i| i as usize >= n) {
        Some(i) => Err(Error::invalid(format!(
            "{what}: item index {i} out of range for {n} items"
        ))),
        None => Ok(()),
    }
}

/// `k`-wide rows scaled to unit length (zero rows stay zero), so cosine
/// similarity is a dot product.
fn unit_rows(factors: &[f32], k: usize) -> Vec<f32> {
    let mut unit = factors.to_vec();
    for y in unit.chunks_exact_mut(k.max(1)) {
        let norm = dot(y, y).sqrt();
        if norm > 0.0 {
            y.iter_mut().for_each(|v| *v /= norm);
        }
    }
    unit
}

/// Factors given by a caller: `n × k` finite values.
fn check_factors(side: &str, factors: &[f32], n: usize, k: usize) -> Result<()> {
    if Some(factors.len()) != n.checked_mul(k) {
        return Err(Error::shape(format!(
            "{side} factors have {} values, expected {n} x {k}",
            factors.len()
        )));
    }
    if factors.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(format!(
            "{side} factors contain NaN or infinity"
        )));
    }
    Ok(())
}

fn check_n(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("n must be >= 1"));
    }
    Ok(())
}

impl AlsModel {
    /// Trains on `data` (see the module docs for the objective).
    pub fn fit(config: &AlsConfig, data: &Interactions) -> Result<Self> {
        Self::fit_with_progress(config, data, &mut |_| true)
    }

    /// Trains, calling `progress` after each iteration on the caller's
    /// thread; returning `false` stops with [`Error::Interrupted`].
    pub fn fit_with_progress(
        config: &AlsConfig,
        data: &Interactions,
        progress: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<Self> {
        Self::fit_csr(
            config,
            data.matrix().view(),
            data.users().clone(),
            data.items().clone(),
            progress,
        )
    }

    /// Trains on a borrowed user×item matrix (e.g. a caller's numpy
    /// buffers, never copied during training) with its id maps.
    pub fn fit_csr(
        config: &AlsConfig,
        matrix: CsrRef<'_>,
        users: IdMap,
        items: IdMap,
        progress: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<Self> {
        config.validate()?;
        Self::train(config, matrix, users, items, None, progress)
    }

    /// [`fit_csr`](Self::fit_csr) starting from the given factors
    /// (`n_users × k` and `n_items × k`, row-major) instead of random ones:
    /// implicit's `fit` on a model whose factors are already set, which
    /// continues training them. `config.iterations` may be 0 here: the model
    /// then holds the given factors. They are borrowed (copied once, onto
    /// the pages training uses), so a binding can pass its caller's arrays.
    pub fn fit_warm(
        config: &AlsConfig,
        matrix: CsrRef<'_>,
        users: IdMap,
        items: IdMap,
        factors: (&[f32], &[f32]),
        progress: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<Self> {
        AlsConfig {
            iterations: config.iterations.max(1),
            ..config.clone()
        }
        .validate()?;
        check_factors("user", factors.0, matrix.n_rows(), config.factors)?;
        check_factors("item", factors.1, matrix.n_cols(), config.factors)?;
        Self::train(config, matrix, users, items, Some(factors), progress)
    }

    /// A model from given factors (`n_users × k` and `n_items × k`,
    /// row-major, `k = config.factors`), without training interactions: to
    /// serve factors trained elsewhere (implicit's settable `user_factors` /
    /// `item_factors`).
    pub fn from_factors(
        config: AlsConfig,
        users: IdMap,
        items: IdMap,
        user_factors: Vec<f32>,
        item_factors: Vec<f32>,
    ) -> Result<Self> {
        config.validate()?;
        check_factors("user", &user_factors, users.len(), config.factors)?;
        check_factors("item", &item_factors, items.len(), config.factors)?;
        Ok(Self::assemble(
            config,
            users,
            items,
            user_factors,
            item_factors,
            None,
        ))
    }

    /// The training loop of every fit; `init` None draws random factors.
    fn train(
        config: &AlsConfig,
        matrix: CsrRef<'_>,
        users: IdMap,
        items: IdMap,
        init: Option<(&[f32], &[f32])>,
        progress: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<Self> {
        check_id_shape(&users, &items, matrix.n_rows(), matrix.n_cols())?;
        let nonzero = matrix.without_zeros();
        let cui = nonzero.as_ref().map_or(matrix, Csr::view);
        if cui.nnz() == 0 {
            return Err(Error::invalid("no interactions: cannot fit on empty data"));
        }
        let (n_users, n_items, k) = (cui.n_rows(), cui.n_cols(), config.factors);
        let start = Instant::now();
        let threads = resolve_threads(config.num_threads);
        // Training gathers each side's rows in random order: huge pages.
        let (mut x, mut y, ciu) = install(threads, || {
            let (x, y) = match init {
                Some((x, y)) => (HugeSlice::map(x, |v| v), HugeSlice::map(y, |v| v)),
                None => {
                    let mut rng = crate::rng::seeded(config.seed);
                    let mut x = HugeSlice::filled(n_users * k, 0.0);
                    let mut y = HugeSlice::filled(n_items * k, 0.0);
                    random_factors(&mut rng, &mut x, k, config.init_std);
                    random_factors(&mut rng, &mut y, k, config.init_std);
                    (x, y)
                }
            };
            (x, y, cui.transpose())
        });
        for it in 1..=config.iterations {
            let loss = install(threads, || {
                solve_side(&mut x, &mut y, cui, config);
                solve_side(&mut y, &mut x, ciu.view(), config);
                config
                    .calculate_training_loss
                    .then(|| training_loss(&x, &y, cui, ciu.view(), config))
            });
            let p = Progress {
                iteration: it,
                iterations: config.iterations,
                loss,
                seconds: start.elapsed().as_secs_f64(),
            };
            if !progress(&p) {
                return Err(Error::Interrupted);
            }
        }
        // The transpose goes before the factors and the stored matrix are
        // copied out: peak memory is one matrix-sized buffer beside the
        // caller's.
        drop(ciu);
        let (x, y) = (x.into_vec(), y.into_vec());
        let user_items = config.store_interactions.then(|| cui.to_owned());
        Ok(Self::assemble(
            config.clone(),
            users,
            items,
            x,
            y,
            user_items,
        ))
    }

    fn assemble(
        config: AlsConfig,
        users: IdMap,
        items: IdMap,
        uf: Vec<f32>,
        itf: Vec<f32>,
        ui: Option<Csr>,
    ) -> Self {
        AlsModel {
            config,
            users,
            items,
            user_factors: uf,
            item_factors: itf,
            user_items: ui,
            item_gram: OnceLock::new(),
            unit_items: OnceLock::new(),
            item_panels: OnceLock::new(),
            item_index: OnceLock::new(),
            unit_item_panels: OnceLock::new(),
        }
    }

    /// The configuration it was trained with.
    pub fn config(&self) -> &AlsConfig {
        &self.config
    }

    /// User ids (rows of `user_factors`).
    pub fn users(&self) -> &IdMap {
        &self.users
    }

    /// Item ids (rows of `item_factors`).
    pub fn items(&self) -> &IdMap {
        &self.items
    }

    /// Number of users.
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Latent dimension `k`.
    pub fn factors(&self) -> usize {
        self.config.factors
    }

    /// User factors, `n_users × k`.
    pub fn user_factors(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((self.n_users(), self.factors()), &self.user_factors)
            .expect("factor buffer matches its shape")
    }

    /// Item factors, `n_items × k`.
    pub fn item_factors(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape((self.n_items(), self.factors()), &self.item_factors)
            .expect("factor buffer matches its shape")
    }

    /// The stored training interactions (user×item), if kept.
    pub fn user_items(&self) -> Option<&Csr> {
        self.user_items.as_ref()
    }

    /// Erases a user (GDPR): their factors become zero, their training row
    /// empty and their id an anonymous tombstone, so neither answers nor a
    /// saved file keep anything about them. Returns whether the user was
    /// known. Item factors, which aggregate everyone, are kept.
    pub fn forget_user(&mut self, id: &str) -> bool {
        let Some(u) = self.users.get(id) else {
            return false;
        };
        let k = self.factors();
        self.user_factors[u as usize * k..(u as usize + 1) * k].fill(0.0);
        if let Some(m) = &self.user_items {
            self.user_items = Some(m.without_row(u as usize));
        }
        self.users.tombstone(u)
    }

    /// The trained vector of user index `user`.
    pub fn user_vector(&self, user: u32) -> Result<&[f32]> {
        let k = self.factors();
        let u = user as usize;
        if u >= self.n_users() {
            return Err(Error::invalid(format!(
                "user index {user} out of range for {} users",
                self.n_users()
            )));
        }
        Ok(&self.user_factors[u * k..(u + 1) * k])
    }

    fn check_options(&self, n: usize, opts: &RecommendOptions) -> Result<()> {
        check_n(n)?;
        check_indices("exclude", opts.exclude, self.n_items())?;
        check_indices("liked", opts.liked.unwrap_or(&[]), self.n_items())?;
        if let Some(LikedRows::ByUser(m) | LikedRows::ByPosition(m)) = opts.liked_rows {
            if m.n_cols() != self.n_items() {
                return Err(Error::shape(format!(
                    "liked_rows has {} columns, model has {} items",
                    m.n_cols(),
                    self.n_items()
                )));
            }
        }
        check_indices("allow_only", opts.allow_only.unwrap_or(&[]), self.n_items())
    }

    /// The items to leave out for `user`, the `position`-th user of the
    /// request (`user` None = a vector without a row).
    fn liked<'a>(
        &'a self,
        user: Option<u32>,
        position: usize,
        opts: &RecommendOptions<'a>,
    ) -> &'a [u32] {
        if !opts.filter_liked {
            return &[];
        }
        match (opts.liked, opts.liked_rows, user) {
            (Some(l), _, _) => l,
            (None, Some(LikedRows::ByPosition(m)), _) => m.row(position).0,
            (None, Some(LikedRows::ByUser(m)), Some(u)) => m.row(u as usize).0,
            (None, None, Some(u)) => self
                .user_items
                .as_ref()
                .map_or(&[], |m| m.row(u as usize).0),
            _ => &[],
        }
    }

    /// Ranks `scores` (one per item) after removing liked/excluded items and
    /// restricting to `allow_only`; `scores` is clobbered.
    fn rank(
        &self,
        scores: &mut [f32],
        liked: &[u32],
        n: usize,
        opts: &RecommendOptions,
        buf: &mut Vec<(u32, f32)>,
    ) -> Vec<(u32, f32)> {
        // -inf marks "not eligible"; real scores are finite, and f32::MIN
        // sorts filtered items after all of them.
        let mark = if opts.filtered_last {
            f32::MIN
        } else {
            f32::NEG_INFINITY
        };
        for &i in liked.iter().chain(opts.exclude) {
            scores[i as usize] = mark;
        }
        match opts.allow_only {
            Some(allowed) => {
                let mut seen = allowed.to_vec();
                seen.sort_unstable();
                seen.dedup();
                top_k(
                    seen.into_iter()
                        .map(|i| (i, scores[i as usize]))
                        .filter(|c| c.1 != f32::NEG_INFINITY),
                    n,
                    buf,
                )
            }
            None => top_k_scores(scores, n, buf),
        }
    }

    /// Scores every item for `user_vector` (`out[i]` = dot with item `i`'s
    /// factors, `out.len()` = number of items), for callers that rank with
    /// their own eligibility rules.
    pub fn score_items(&self, user_vector: &[f32], out: &mut [f32]) -> Result<()> {
        if user_vector.len() != self.factors() || out.len() != self.n_items() {
            return Err(Error::shape(format!(
                "user vector has {} values and out {} (model: {} factors, {} items)",
                user_vector.len(),
                out.len(),
                self.factors(),
                self.n_items()
            )));
        }
        if user_vector.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid("user vector contains NaN or infinity"));
        }
        self.score_all(user_vector, out);
        Ok(())
    }

    fn score_all(&self, v: &[f32], out: &mut [f32]) {
        let panels = self
            .item_panels
            .get_or_init(|| to_panels(&self.item_factors, self.factors()));
        simd(PanelScores { panels, v, out });
    }

    /// Top-`n` items for user index `user`: `min(n, eligible)` pairs of
    /// (item index, score), best first.
    pub fn recommend(
        &self,
        user: u32,
        n: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<(u32, f32)>> {
        let v = self.user_vector(user)?;
        self.check_options(n, opts)?;
        Ok(self.top_for(v, self.liked(Some(user), 0, opts), n, opts))
    }

    /// Top-`n` for any user vector (e.g. from [`fold_in`](Self::fold_in));
    /// `opts.liked` is the only source of items to leave out.
    pub fn recommend_vector(
        &self,
        user_vector: &[f32],
        n: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<(u32, f32)>> {
        if user_vector.len() != self.factors() {
            return Err(Error::shape(format!(
                "user vector has {} values, model has {} factors",
                user_vector.len(),
                self.factors()
            )));
        }
        if user_vector.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid("user vector contains NaN or infinity"));
        }
        self.check_options(n, opts)?;
        Ok(self.top_for(user_vector, self.liked(None, 0, opts), n, opts))
    }

    /// One list: the top `n` items for vector `v`, `liked` left out, through
    /// the item index when there is one, else by scoring every item.
    fn top_for(
        &self,
        v: &[f32],
        liked: &[u32],
        n: usize,
        opts: &RecommendOptions,
    ) -> Vec<(u32, f32)> {
        if let Some(index) = self.recommend_index(opts) {
            let exclude = sorted_set(opts.exclude);
            return top_indexed(index, v, liked, &exclude, n, opts.filtered_last);
        }
        let mut scores = vec![0f32; self.n_items()];
        self.score_all(v, &mut scores);
        self.rank(&mut scores, liked, n, opts, &mut Vec::new())
    }

    /// [`recommend`](Self::recommend) for many users at once, in parallel:
    /// each through the exact index of the item factors (as one call is),
    /// or, when `opts.allow_only` restricts the ranking, in blocks of one
    /// matrix product each. Liked items come from `opts.liked_rows` or the
    /// stored interactions (`opts.liked` must be None).
    pub fn recommend_batch(
        &self,
        users: &[u32],
        n: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<Vec<(u32, f32)>>> {
        if opts.liked.is_some() {
            return Err(Error::invalid("recommend_batch takes liked items from the stored interactions; opts.liked must be None"));
        }
        self.check_options(n, opts)?;
        for &u in users {
            self.user_vector(u)?;
        }
        if let Some(LikedRows::ByPosition(m)) = opts.liked_rows {
            if m.n_rows() != users.len() {
                return Err(Error::shape(format!(
                    "{} liked rows for {} users",
                    m.n_rows(),
                    users.len()
                )));
            }
        }
        if let Some(index) = self.recommend_index(opts) {
            let exclude = sorted_set(opts.exclude);
            let threads = crate::parallel::threads_for(self.config.num_threads, users.len());
            let positions: Vec<usize> = (0..users.len()).collect();
            return Ok(crate::parallel::install(threads, || {
                crate::parallel::map(&positions, |&pos| {
                    let u = users[pos];
                    let liked = self.liked(Some(u), pos, opts);
                    let k = self.factors();
                    let v = &self.user_factors[u as usize * k..(u as usize + 1) * k];
                    top_indexed(index, v, liked, &exclude, n, opts.filtered_last)
                })
            }));
        }
        let lists = self.blocked_top(
            users,
            &self.user_factors,
            &self.item_factors,
            |pos, scores, buf| {
                self.rank(
                    scores,
                    self.liked(Some(users[pos]), pos, opts),
                    n,
                    opts,
                    buf,
                )
            },
        );
        Ok(lists)
    }

    /// Scores rows `queries` of `query_factors` against every row of
    /// `targets` (both `k` wide) in blocks of one matrix product each, in
    /// parallel, and lets `select(position, scores, scratch)` pick each
    /// query's list.
    fn blocked_top<F>(
        &self,
        queries: &[u32],
        query_factors: &[f32],
        targets: &[f32],
        select: F,
    ) -> Vec<Vec<(u32, f32)>>
    where
        F: Fn(usize, &mut [f32], &mut Vec<(u32, f32)>) -> Vec<(u32, f32)> + Sync,
    {
        const BLOCK: usize = 128;
        // A few queries (one user's recommend) get buffers their size, not
        // BLOCK rows of scores.
        let block_rows = BLOCK.min(queries.len()).max(1);
        let k = self.factors();
        let n_targets = targets.len() / k;
        let mut out = vec![Vec::new(); queries.len()];
        install(resolve_threads(self.config.num_threads), || {
            for_each_chunk(
                &mut out,
                1,
                block_rows,
                || {
                    (
                        vec![0f32; block_rows * k],
                        vec![0f32; block_rows * n_targets],
                        Vec::new(),
                    )
                },
                |(qblock, scores, buf), first, block| {
                    let m = block.len();
                    for (r, &q) in queries[first..first + m].iter().enumerate() {
                        let q = q as usize;
                        qblock[r * k..(r + 1) * k]
                            .copy_from_slice(&query_factors[q * k..(q + 1) * k]);
                    }
                    gemm_abt(qblock, m, targets, n_targets, k, scores);
                    for (r, slot) in block.iter_mut().enumerate() {
                        *slot = select(
                            first + r,
                            &mut scores[r * n_targets..(r + 1) * n_targets],
                            buf,
                        );
                    }
                },
            )
        });
        out
    }

    /// Solves a user vector for `items` with `weights` against the trained
    /// item factors (implicit's `recalculate_user`): for new or anonymous
    /// users, or after their history changed. Duplicate items are summed,
    /// zero weights ignored; no items gives the zero vector.
    pub fn fold_in(&self, items: &[u32], weights: &[f32]) -> Result<Vec<f32>> {
        let basis = FoldInBasis {
            config: &self.config,
            rows: &self.item_factors,
            model_items: self.n_items(),
            gram: self.item_gram(),
        };
        basis.fold_in(items, weights)
    }

    /// The scaled item Gram matrix `α₀·YᵀY` (`k×k`, row-major) fold-ins
    /// solve against: what a [`crate::slice::ModelSlice`] carries so its
    /// fold-in equals this model's.
    pub(crate) fn scaled_item_gram(&self) -> &[f32] {
        self.item_gram()
    }

    /// A user's history as one canonical row (duplicates summed, zeros
    /// dropped): what fold-ins and explanations solve for.
    fn history(&self, items: &[u32], weights: &[f32]) -> Result<Csr> {
        history(items, weights, self.n_items())
    }

    /// `α₀·YᵀY`, computed on first use.
    fn item_gram(&self) -> &[f32] {
        self.item_gram
            .get_or_init(|| scaled_gram(&self.item_factors, self.n_items(), &self.config))
    }

    /// The exact index of the item factors, for `recommend` when nothing
    /// restricts the ranking to a subset (`allow_only` ranks its few items
    /// directly). None in the browser and for non-finite factors.
    fn recommend_index(&self, opts: &RecommendOptions) -> Option<&ExactIndex> {
        if !INDEXED || opts.allow_only.is_some() {
            return None;
        }
        // `ExactIndex::new` rejects non-finite rows itself.
        self.item_index
            .get_or_init(|| {
                let rows = self.item_factors.clone();
                let index = ExactIndex::new(rows, self.factors(), self.config.num_threads);
                index.ok().map(Arc::new)
            })
            .as_deref()
    }

    /// Drops everything derived from the item factors (after they change).
    fn reset_item_caches(&mut self) {
        self.item_gram.take();
        self.unit_items.take();
        self.item_panels.take();
        self.item_index.take();
        self.unit_item_panels.take();
    }

    /// The `n` items most similar to `item` by cosine similarity of item
    /// factors, best first. The item itself is left out (unlike implicit,
    /// which returns it first).
    pub fn similar_items(&self, item: u32, n: usize) -> Result<Vec<(u32, f32)>> {
        check_n(n)?;
        check_indices("item", &[item], self.n_items())?;
        if let Some(index) = self.unit_index() {
            return Ok(top_indexed(
                index,
                index.vector(item),
                &[item],
                &[],
                n,
                false,
            ));
        }
        let unit = self.unit_items();
        let k = self.factors();
        let i = item as usize;
        let mut scores = vec![0f32; self.n_items()];
        let panels = self.unit_item_panels.get_or_init(|| to_panels(unit, k));
        simd(PanelScores {
            panels,
            v: &unit[i * k..(i + 1) * k],
            out: &mut scores,
        });
        Ok(self.rank_similar(item, &mut scores, n, &mut Vec::new()))
    }

    /// The `n` users most similar to user index `user` by cosine similarity
    /// of user factors, best first; the user itself is left out (implicit's
    /// `similar_users` returns it first). Forgotten users (zero factors)
    /// score 0.
    pub fn similar_users(&self, user: u32, n: usize) -> Result<Vec<(u32, f32)>> {
        check_n(n)?;
        let u = self.user_vector(user)?;
        let k = self.factors();
        let norm_u = dot(u, u).sqrt();
        let cosine = |v: &[f32]| {
            let norm_v = dot(v, v).sqrt();
            if norm_u > 0.0 && norm_v > 0.0 {
                dot(u, v) / (norm_u * norm_v)
            } else {
                0.0
            }
        };
        let candidates = self
            .user_factors
            .chunks_exact(k.max(1))
            .enumerate()
            .filter(|&(i, _)| i as u32 != user)
            .map(|(i, v)| (i as u32, cosine(v)));
        Ok(top_k(candidates, n, &mut Vec::new()))
    }

    /// [`similar_items`](Self::similar_items) for many items at once, in
    /// parallel ([`similar`](Self::similar) with the default options).
    pub fn similar_items_batch(&self, items: &[u32], n: usize) -> Result<Vec<Vec<(u32, f32)>>> {
        check_indices("items", items, self.n_items())?;
        self.similar(IdKind::Item, items, n, &SimilarOptions::default())
    }

    /// The `n` most similar entries of `side` (cosine of factors) to each
    /// of `queries` (indices of that side), best first — the general form of
    /// [`similar_items`](Self::similar_items) and
    /// [`similar_users`](Self::similar_users) with implicit's options
    /// (`opts`): the query itself kept, filters, a subset to rank, query
    /// vectors recomputed by the caller. Zero vectors score 0. In parallel
    /// blocks of one matrix product each.
    pub fn similar(
        &self,
        side: IdKind,
        queries: &[u32],
        n: usize,
        opts: &SimilarOptions,
    ) -> Result<Vec<Vec<(u32, f32)>>> {
        check_n(n)?;
        let k = self.factors();
        let (factors, count) = match side {
            IdKind::User => (&self.user_factors, self.n_users()),
            IdKind::Item => (&self.item_factors, self.n_items()),
        };
        let listed = queries
            .iter()
            .chain(opts.exclude)
            .chain(opts.allow_only.unwrap_or(&[]));
        if let Some(i) = listed.into_iter().find(|&&i| i as usize >= count) {
            return Err(Error::invalid(format!(
                "{side} index {i} out of range for {count} {side}s"
            )));
        }
        if side == IdKind::Item {
            if let Some(found) = self.similar_indexed(queries, n, opts) {
                return Ok(found);
            }
        }
        let owned;
        let targets: &[f32] = match side {
            IdKind::Item => self.unit_items(),
            IdKind::User => {
                owned = unit_rows(factors, k);
                &owned
            }
        };
        let query_rows = match opts.vectors {
            Some(v) => {
                check_factors("query", v, queries.len(), k)?;
                unit_rows(v, k)
            }
            None => queries
                .iter()
                .flat_map(|&q| &targets[q as usize * k..(q as usize + 1) * k])
                .copied()
                .collect(),
        };
        let positions: Vec<u32> = (0..queries.len() as u32).collect();
        let ranking = RecommendOptions {
            filter_liked: false,
            exclude: opts.exclude,
            allow_only: opts.allow_only,
            filtered_last: opts.filtered_last,
            ..Default::default()
        };
        Ok(
            self.blocked_top(&positions, &query_rows, targets, |pos, scores, buf| {
                let own = [queries[pos]];
                let left_out: &[u32] = if opts.include_self { &[] } else { &own };
                self.rank(scores, left_out, n, &ranking, buf)
            }),
        )
    }

    /// [`similar`](Self::similar) over items through the exact index of
    /// the unit item factors (an int8 first pass, the same top lists): when
    /// there is one, the queries are stored items and nothing restricts the
    /// ranking to a subset. `None` otherwise.
    fn similar_indexed(
        &self,
        queries: &[u32],
        n: usize,
        opts: &SimilarOptions,
    ) -> Option<Vec<Vec<(u32, f32)>>> {
        if opts.vectors.is_some() || opts.allow_only.is_some() {
            return None;
        }
        let index = self.unit_index()?;
        let exclude = sorted_set(opts.exclude);
        let search = |&q: &u32| {
            let own = [q];
            let left_out: &[u32] = if opts.include_self { &[] } else { &own };
            top_indexed(
                index,
                index.vector(q),
                left_out,
                &exclude,
                n,
                opts.filtered_last,
            )
        };
        let threads = crate::parallel::threads_for(self.config.num_threads, queries.len());
        Some(crate::parallel::install(threads, || {
            crate::parallel::map(queries, search)
        }))
    }

    /// Factors for histories without storing them (implicit's
    /// `recalculate_user` / `recalculate_item` for a batch): one exact
    /// solve per row of `rows` against the other side's factors — `rows` is
    /// users × items for `side` user, items × users for `side` item.
    /// Returns `rows.n_rows() × k` values, row-major.
    pub fn recalculate(&self, side: IdKind, rows: CsrRef<'_>) -> Result<Vec<f32>> {
        let (other_side, n_other) = match side {
            IdKind::User => (IdKind::Item, self.n_items()),
            IdKind::Item => (IdKind::User, self.n_users()),
        };
        if rows.n_cols() != n_other {
            return Err(Error::shape(format!(
                "rows must have one column per {other_side} ({n_other}), got {}",
                rows.n_cols()
            )));
        }
        Ok(self.solve_exactly(side, rows))
    }

    /// Item factors scaled to unit length (zero rows stay zero), so cosine
    /// similarity is a dot product.
    fn unit_items(&self) -> &[f32] {
        match self.unit_items_indexed() {
            UnitItems::Indexed(index) => index.vectors(),
            UnitItems::Plain(rows) => rows,
        }
    }

    /// The exact index of the unit item factors, when there is one.
    fn unit_index(&self) -> Option<&ExactIndex> {
        match self.unit_items_indexed() {
            UnitItems::Indexed(index) if INDEXED => Some(index),
            _ => None,
        }
    }

    /// The unit item factors, indexed on first use.
    fn unit_items_indexed(&self) -> &UnitItems {
        self.unit_items.get_or_init(|| {
            let k = self.factors();
            let unit = unit_rows(&self.item_factors, k);
            if INDEXED && unit.iter().all(|v| v.is_finite()) {
                if let Ok(index) = ExactIndex::new(unit, k, self.config.num_threads) {
                    return UnitItems::Indexed(Arc::new(index));
                }
                return UnitItems::Plain(unit_rows(&self.item_factors, k));
            }
            UnitItems::Plain(unit)
        })
    }

    fn rank_similar(
        &self,
        item: u32,
        scores: &mut [f32],
        n: usize,
        buf: &mut Vec<(u32, f32)>,
    ) -> Vec<(u32, f32)> {
        let opts = RecommendOptions {
            filter_liked: false,
            ..Default::default()
        };
        self.rank(scores, &[item], n, &opts, buf)
    }

    fn named(&self, v: Vec<(u32, f32)>) -> Vec<(String, f32)> {
        v.into_iter()
            .map(|(i, s)| (self.items.ids()[i as usize].clone(), s))
            .collect()
    }

    /// [`recommend`](Self::recommend) by string ids.
    pub fn recommend_by_id(
        &self,
        user: &str,
        n: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<(String, f32)>> {
        let u = self.users.index_of(user, IdKind::User)?;
        Ok(self.named(self.recommend(u, n, opts)?))
    }

    /// [`similar_items`](Self::similar_items) by string ids.
    pub fn similar_items_by_id(&self, item: &str, n: usize) -> Result<Vec<(String, f32)>> {
        let i = self.items.index_of(item, IdKind::Item)?;
        Ok(self.named(self.similar_items(i, n)?))
    }
}

impl Component for AlsModel {
    /// Writes the `als` component, the id maps and (if kept) the training
    /// interactions into `file`.
    fn write_to(&self, file: &mut ModelFile) -> Result<()> {
        let k = self.factors();
        file.set_meta("als", serde_json::json!({ "config": self.config }));
        file.put_ids("ids.users", &self.users)?;
        file.put_ids("ids.items", &self.items)?;
        file.put(
            "als.user_factors",
            vec![self.n_users(), k],
            TensorData::F32(self.user_factors.clone()),
        )?;
        file.put(
            "als.item_factors",
            vec![self.n_items(), k],
            TensorData::F32(self.item_factors.clone()),
        )?;
        if let Some(ui) = &self.user_items {
            file.put_csr("interactions", ui)?;
        }
        Ok(())
    }

    /// Reads the component written by [`write_to`](Self::write_to),
    /// validating config, shapes and values.
    fn read_from(file: &ModelFile) -> Result<Self> {
        let config: AlsConfig = file.component_config("als", AlsConfig::validate)?;
        let users = file.ids("ids.users")?;
        let items = file.ids("ids.items")?;
        let k = config.factors;
        let (nu, uf) = file.f32_matrix("als.user_factors", Some(k))?;
        let (ni, itf) = file.f32_matrix("als.item_factors", Some(k))?;
        if nu != users.len() || ni != items.len() {
            return Err(Error::format(format!(
                "factor rows ({nu} users, {ni} items) do not match id maps ({}, {})",
                users.len(),
                items.len()
            )));
        }
        if uf.iter().chain(itf).any(|v| !v.is_finite()) {
            return Err(Error::format("factors contain NaN or infinity"));
        }
        let ui = if file.has("interactions.indptr") {
            let m = file.csr("interactions", ni)?;
            if m.n_rows() != nu {
                return Err(Error::format(format!(
                    "interactions have {} rows for {nu} users",
                    m.n_rows()
                )));
            }
            Some(m)
        } else {
            None
        };
        Ok(Self::assemble(
            config,
            users,
            items,
            uf.to_vec(),
            itf.to_vec(),
            ui,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::InteractionsBuilder;

    /// Two taste groups: users 0..20 like items 0..10, users 20..40 like
    /// items 10..20; each user has 6 of their group's 10 items.
    pub(super) fn planted() -> Interactions {
        let mut b = InteractionsBuilder::new();
        for i in 0..20 {
            b.add("seed-user", &format!("i{i}"), 0.0).unwrap();
        }
        for u in 0..40u32 {
            let base = if u < 20 { 0 } else { 10 };
            for j in 0..6 {
                let item = base + (u * 7 + j * 3) % 10;
                b.add(&format!("u{u}"), &format!("i{item}"), 1.0 + (j % 3) as f32)
                    .unwrap();
            }
        }
        b.build().unwrap()
    }

    #[test]
    fn forget_user_leaves_no_trace_in_answers_or_file() {
        let mut m = AlsModel::fit(&cfg(Solver::Cholesky), &planted()).unwrap();
        let bytes_before = m.to_bytes().unwrap();
        let needle = b"u7";
        let holds = |b: &[u8]| b.windows(needle.len()).any(|w| w == needle);
        assert!(holds(&bytes_before));
        let u = m.users().get("u7").unwrap();
        assert!(m.forget_user("u7"));
        assert!(!m.forget_user("u7"));
        assert!(matches!(
            m.recommend_by_id("u7", 3, &RecommendOptions::default()),
            Err(Error::UnknownId { .. })
        ));
        assert_eq!(m.users().id(u), Some(format!("\0forgotten:{u}").as_str()));
        assert!(m.user_vector(u).unwrap().iter().all(|&v| v == 0.0));
        assert_eq!(m.user_items().unwrap().row(u as usize).0.len(), 0);
        let after = m.to_bytes().unwrap();
        assert!(!holds(&after));
        let back = AlsModel::from_bytes(&after).unwrap();
        assert_eq!(back.n_users(), m.n_users());
        assert!(back.users().get("u7").is_none());
        // Everyone else is untouched.
        assert!(back
            .recommend_by_id("u8", 3, &RecommendOptions::default())
            .is_ok());
    }

    #[test]
    fn similar_users_share_a_taste_group() {
        let m = AlsModel::fit(&cfg(Solver::Cholesky), &planted()).unwrap();
        let u3 = m.users().get("u3").unwrap();
        let got = m.similar_users(u3, 5).unwrap();
        assert_eq!(got.len(), 5);
        for (v, s) in &got {
            assert_ne!(*v, u3);
            let id: usize = m.users().id(*v).unwrap()[1..].parse().unwrap_or(99);
            assert!(
                id < 20,
                "u3 likes items 0..10, so do u0..u19, got u{id} ({s})"
            );
        }
        assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(m.similar_users(9999, 3).is_err());
        assert!(m.similar_users(u3, 0).is_err());
    }

    pub(super) fn cfg(solver: Solver) -> AlsConfig {
        // Low rank and firm regularisation: the two groups, not individual
        // users, are what the model can represent.
        AlsConfig {
            factors: 4,
            regularization: 2.0,
            alpha: 1.0,
            regularization_exponent: 0.0,
            iterations: 10,
            solver,
            seed: 7,
            ..Default::default()
        }
    }

    #[test]
    fn recovers_planted_groups_with_both_solvers() {
        let data = planted();
        for solver in [Solver::Cg { steps: 3 }, Solver::Cholesky] {
            let m = AlsModel::fit(&cfg(solver), &data).unwrap();
            for u in ["u3", "u25"] {
                let recs = m
                    .recommend_by_id(u, 4, &RecommendOptions::default())
                    .unwrap();
                let group = if u == "u3" { 0..10 } else { 10..20 };
                let liked = m
                    .user_items()
                    .unwrap()
                    .row(data.users().get(u).unwrap() as usize)
                    .0
                    .to_vec();
                assert_eq!(recs.len(), 4);
                for (id, _) in &recs {
                    let idx: u32 = id[1..].parse().unwrap();
                    assert!(
                        group.contains(&idx),
                        "{solver:?} {u}: {id} outside its group"
                    );
                    assert!(
                        !liked.contains(&data.items().get(id).unwrap()),
                        "liked item returned"
                    );
                }
                assert!(recs.windows(2).all(|w| w[0].1 >= w[1].1));
            }
        }
    }

    #[test]
    fn exact_fold_in_solves_the_normal_equations() {
        let data = planted();
        let plain = cfg(Solver::Cg { steps: 3 });
        let rendle = AlsConfig {
            unobserved_weight: 0.3,
            regularization_exponent: 0.5,
            ..plain.clone()
        };
        for config in [plain, rendle] {
            let m = AlsModel::fit(&config, &data).unwrap();
            let (items, ws) = ([1u32, 4, 4, 9], [1.0f32, 2.0, 0.5, 3.0]);
            let x = m.fold_in(&items, &ws).unwrap();
            let (k, (a, b)) = (m.factors(), naive_system(&m, &[1, 4, 9], &[1.0, 2.5, 3.0]));
            for r in 0..k {
                let ax: f64 = (0..k).map(|s| a[r * k + s] * x[s] as f64).sum();
                assert!(
                    (ax - b[r]).abs() < 1e-3 * (1.0 + b[r].abs()),
                    "row {r}: {ax} vs {}",
                    b[r]
                );
            }
            assert_eq!(m.fold_in(&[], &[]).unwrap(), vec![0.0; k]);
            assert!(m.fold_in(&[1], &[]).is_err());
            assert!(m.fold_in(&[99], &[1.0]).is_err());
            assert!(m.fold_in(&[1], &[f32::NAN]).is_err());
        }
    }

    #[test]
    fn deterministic_across_thread_counts() {
        let data = planted();
        for solver in [Solver::Cg { steps: 3 }, Solver::Cholesky] {
            let a = AlsModel::fit(
                &AlsConfig {
                    num_threads: 1,
                    ..cfg(solver)
                },
                &data,
            )
            .unwrap();
            let b = AlsModel::fit(
                &AlsConfig {
                    num_threads: 2,
                    ..cfg(solver)
                },
                &data,
            )
            .unwrap();
            assert_eq!(a.user_factors, b.user_factors);
            assert_eq!(a.item_factors, b.item_factors);
            let c = AlsModel::fit(
                &AlsConfig {
                    seed: 8,
                    ..cfg(solver)
                },
                &data,
            )
            .unwrap();
            assert_ne!(a.item_factors, c.item_factors);
        }
    }

    #[test]
    fn filters_and_counts() {
        let data = planted();
        let m = AlsModel::fit(&cfg(Solver::Cg { steps: 3 }), &data).unwrap();
        let u = data.users().get("u3").unwrap();
        let liked = m.user_items().unwrap().row(u as usize).0.len();
        // Always min(n, eligible).
        let all = m.recommend(u, 1000, &RecommendOptions::default()).unwrap();
        assert_eq!(all.len(), 20 - liked);
        let unfiltered = m
            .recommend(
                u,
                1000,
                &RecommendOptions {
                    filter_liked: false,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(unfiltered.len(), 20);
        let ex = [all[0].0, all[1].0];
        let r = m
            .recommend(
                u,
                3,
                &RecommendOptions {
                    exclude: &ex,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(r[0], all[2]);
        let allow = [
            all[5].0,
            all[3].0,
            all[3].0,
            m.user_items().unwrap().row(u as usize).0[0],
        ];
        let r = m
            .recommend(
                u,
                10,
                &RecommendOptions {
                    allow_only: Some(&allow),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(r, vec![all[3], all[5]]);
        let mine = [all[0].0];
        let r = m
            .recommend(
                u,
                1,
                &RecommendOptions {
                    liked: Some(&mine),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_ne!(r[0].0, all[0].0);
        // Batch equals single, in order.
        let users: Vec<u32> = (0..m.n_users() as u32).rev().collect();
        let batch = m
            .recommend_batch(&users, 5, &RecommendOptions::default())
            .unwrap();
        for (&u, got) in users.iter().zip(&batch) {
            let single = m.recommend(u, 5, &RecommendOptions::default()).unwrap();
            assert_eq!(
                got.iter().map(|p| p.0).collect::<Vec<_>>(),
                single.iter().map(|p| p.0).collect::<Vec<_>>()
            );
            for (a, b) in got.iter().zip(&single) {
                assert!((a.1 - b.1).abs() < 1e-4);
            }
        }
        // Rows by position (implicit's user_items[userids]) and by user agree.
        let ui = m.user_items().unwrap();
        let picked = [u, 0, u];
        let (mut r, mut c) = (Vec::new(), Vec::new());
        for (p, &pu) in picked.iter().enumerate() {
            for &i in ui.row(pu as usize).0 {
                r.push(p as u32);
                c.push(i);
            }
        }
        let by_pos = Csr::from_triplets(3, m.n_items(), &r, &c, &vec![1.0; r.len()]).unwrap();
        let o = RecommendOptions {
            liked_rows: Some(LikedRows::ByPosition(&by_pos)),
            ..Default::default()
        };
        let got = m.recommend_batch(&picked, 4, &o).unwrap();
        let want = m
            .recommend_batch(&picked, 4, &RecommendOptions::default())
            .unwrap();
        assert_eq!(got, want);
        assert_eq!(
            m.recommend(u, 4, &o)
                .unwrap()
                .iter()
                .map(|p| p.0)
                .collect::<Vec<_>>(),
            want[0].iter().map(|p| p.0).collect::<Vec<_>>()
        );
        assert!(matches!(
            m.recommend_batch(&[u], 4, &o),
            Err(Error::ShapeMismatch(_))
        ));
        // Vector recommend with a fold-in of the user's own row ranks like the user.
        let (cols, ws) = m.user_items().unwrap().row(u as usize);
        let v = m.fold_in(cols, ws).unwrap();
        let via_vec = m
            .recommend_vector(
                &v,
                3,
                &RecommendOptions {
                    liked: Some(cols),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(via_vec.len(), 3);
    }

    /// Initial factors drawn in parallel blocks are the draws in order,
    /// at any thread count, and the stream goes on after them.
    #[test]
    fn random_factors_in_blocks_equal_one_draw_in_order() {
        let (n, k) = (3 * INIT_ROWS_PER_TASK + 5, 3);
        let a = 0.5f64 / (k as f64).sqrt() * 3f64.sqrt();
        let mut rng = crate::rng::seeded(9);
        let want: Vec<f32> = (0..2 * n * k)
            .map(|_| {
                let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
                ((2.0 * u - 1.0) * a) as f32
            })
            .collect();
        let after = rng.next_u64();
        for threads in [1, 2, 3] {
            let mut rng = crate::rng::seeded(9);
            let mut got = vec![0.0; 2 * n * k];
            let (x, y) = got.split_at_mut(n * k);
            install(threads, || {
                random_factors(&mut rng, x, k, 0.5);
                random_factors(&mut rng, y, k, 0.5);
            });
            assert_eq!(got, want, "{threads} threads");
            assert_eq!(rng.next_u64(), after);
        }
    }

    #[test]
    fn recommend_through_the_index_equals_the_full_scan() {
        // 1,000 items (the index's quantised scan) with norms spread over
        // two orders of magnitude, as popularity spreads them (the scan
        // stops early on them), a zero row and a duplicated row.
        let (n_users, n, k) = (40usize, 1000usize, 16usize);
        let mut rng = crate::rng::seeded(5);
        let mut x = vec![0.0; n_users * k];
        random_factors(&mut rng, &mut x, k, 1.0);
        let mut y = vec![0.0; n * k];
        random_factors(&mut rng, &mut y, k, 1.0);
        for (i, row) in y.chunks_exact_mut(k).enumerate() {
            let scale = 100f32.powf(((i * 7919) % n) as f32 / n as f32);
            row.iter_mut().for_each(|v| *v *= scale);
        }
        y[5 * k..6 * k].fill(0.0);
        let dup = y[7 * k..8 * k].to_vec();
        y[9 * k..10 * k].copy_from_slice(&dup);
        // Liked rows in no particular order; user 1 likes all but 4 items.
        let mut indptr = vec![0usize];
        let mut indices = Vec::new();
        for u in 0..n_users {
            match u {
                1 => indices.extend((0..n as u32).rev().filter(|i| i % 250 != 3)),
                _ => indices.extend((0..u as u32 * 3).map(|j| (j * 389 + u as u32) % n as u32)),
            }
            indptr.push(indices.len());
        }
        let data = vec![1.0; indices.len()];
        let liked = Csr::from_parts(n_users, n, indptr, indices, data).unwrap();
        let model = || {
            AlsModel::assemble(
                AlsConfig {
                    factors: k,
                    ..Default::default()
                },
                IdMap::range(n_users).unwrap(),
                IdMap::range(n).unwrap(),
                x.clone(),
                y.clone(),
                Some(liked.clone()),
            )
        };
        let (indexed, scanned) = (model(), model());
        scanned.item_index.set(None).unwrap();
        let same = |got: &[(u32, f32)], want: &[(u32, f32)], what: &str| {
            let ids = |v: &[(u32, f32)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
            assert_eq!(ids(got), ids(want), "{what}");
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g.1 - w.1).abs() <= 1e-5 * w.1.abs().max(1.0),
                    "{what}: {g:?} {w:?}"
                );
            }
        };
        let exclude = [7u32, 3, 7, 500];
        let users: Vec<u32> = (0..n_users as u32).collect();
        for filtered_last in [false, true] {
            let opts = RecommendOptions {
                exclude: &exclude,
                filtered_last,
                ..Default::default()
            };
            let batch = indexed.recommend_batch(&users, 10, &opts).unwrap();
            let full = scanned.recommend_batch(&users, 10, &opts).unwrap();
            for ((&u, got), want) in users.iter().zip(&batch).zip(&full) {
                let what = format!("user {u}, filtered_last {filtered_last}");
                same(got, want, &what);
                same(got, &scanned.recommend(u, 10, &opts).unwrap(), &what);
                assert_eq!(got, &indexed.recommend(u, 10, &opts).unwrap());
            }
            // Three eligible items (item 3 is excluded): the rest of the
            // list, when asked for, is the left-out items, lowest index
            // first, at f32::MIN.
            let short = &batch[1];
            assert!(short.iter().take(3).all(|p| p.0 % 250 == 3 && p.0 != 3));
            if filtered_last {
                assert_eq!(short.len(), 10);
                assert!(short[3..].iter().all(|p| p.1 == f32::MIN));
                assert_eq!(short[3].0, 0);
            } else {
                assert_eq!(short.len(), 3);
            }
            // A caller's own (unsorted, repeated) liked items and a vector.
            let own = [900u32, 12, 900, 450];
            let opts = RecommendOptions {
                liked: Some(&own),
                ..opts
            };
            let v = &x[2 * k..3 * k];
            same(
                &indexed.recommend_vector(v, 25, &opts).unwrap(),
                &scanned.recommend_vector(v, 25, &opts).unwrap(),
                "vector",
            );
        }
        // Factors that cannot be indexed are served by the full scan.
        y[3] = f32::NAN;
        let bad = AlsModel::assemble(
            indexed.config.clone(),
            IdMap::range(n_users).unwrap(),
            IdMap::range(n).unwrap(),
            x,
            y,
            None,
        );
        assert_eq!(
            bad.recommend(0, 10, &RecommendOptions::default())
                .unwrap()
                .len(),
            10
        );
        assert!(bad.item_index.get().is_some_and(|i| i.is_none()));
    }

    #[test]
    fn similar_items_on_a_large_catalog_equal_brute_force_and_batch() {
        // 1,000 items: the exact index's quantised scan (≥ 256 rows), with
        // zero rows and a duplicated row (tied scores) among them.
        let (n, k) = (1000usize, 16usize);
        let mut rng = crate::rng::seeded(11);
        let mut y = vec![0.0; n * k];
        random_factors(&mut rng, &mut y, k, 1.0);
        y[5 * k..6 * k].fill(0.0);
        let dup = y[7 * k..8 * k].to_vec();
        y[9 * k..10 * k].copy_from_slice(&dup);
        let config = AlsConfig {
            factors: k,
            ..Default::default()
        };
        // `assemble`: a fit that overflowed could hold non-finite factors,
        // which `from_factors` would reject.
        let model = |y: Vec<f32>| {
            AlsModel::assemble(
                config.clone(),
                IdMap::range(1).unwrap(),
                IdMap::range(n).unwrap(),
                vec![0.0; k],
                y,
                None,
            )
        };
        let m = model(y.clone());
        let unit = unit_rows(&y, k);
        let items: Vec<u32> = (0..n as u32).step_by(37).chain([5, 7, 9]).collect();
        let batch = m.similar_items_batch(&items, 10).unwrap();
        for (&q, got) in items.iter().zip(&batch) {
            let row = |i: usize| &unit[i * k..(i + 1) * k];
            let mut want: Vec<(u32, f32)> = (0..n)
                .filter(|&j| j != q as usize)
                .map(|j| (j as u32, dot(row(j), row(q as usize))))
                .collect();
            want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            assert_eq!(got.len(), 10);
            for (g, w) in got.iter().zip(&want) {
                assert!((g.1 - w.1).abs() < 1e-5, "item {q}: {g:?} vs {w:?}");
            }
            assert!(got.iter().all(|p| p.0 != q));
            assert_eq!(got, &m.similar_items(q, 10).unwrap());
        }
        // The duplicate first.
        assert_eq!(batch[items.len() - 2][0].0, 9);
        // implicit's options through the index: the query kept (first,
        // score 1), excluded items never listed; the same lists as the
        // full scan of a model whose index is off.
        let exclude = [3u32, 7, 74, 111];
        let opts = SimilarOptions {
            include_self: true,
            exclude: &exclude,
            filtered_last: true,
            ..Default::default()
        };
        let indexed = m.similar(IdKind::Item, &items, 10, &opts).unwrap();
        let scanned = model(y.clone());
        scanned
            .unit_items
            .set(UnitItems::Plain(unit.clone()))
            .unwrap();
        let full = scanned.similar(IdKind::Item, &items, 10, &opts).unwrap();
        for ((&q, got), want) in items.iter().zip(&indexed).zip(&full) {
            let ids = |v: &[(u32, f32)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
            assert_eq!(ids(got), ids(want), "item {q}");
            assert!(got.iter().zip(want).all(|(g, w)| (g.1 - w.1).abs() < 1e-5));
            assert!(got.iter().all(|p| !exclude.contains(&p.0)));
            if q != 5 && !exclude.contains(&q) {
                assert_eq!(got[0].0, q);
            }
        }
        // Factors that cannot be indexed are still served, by a full scan.
        let mut bad = y;
        bad[3] = f32::NAN;
        let m = model(bad);
        let got = m.similar_items(100, 5).unwrap();
        assert!(matches!(m.unit_items_indexed(), UnitItems::Plain(_)));
        let batch = &m.similar_items_batch(&[100], 5).unwrap()[0];
        assert!(got
            .iter()
            .zip(batch)
            .all(|(a, b)| a.0 == b.0 && (a.1 - b.1).abs() < 1e-6));
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|p| p.0 != 100 && p.1.is_finite()));
    }

    #[test]
    fn similar_items_match_brute_force_cosine() {
        let m = AlsModel::fit(&cfg(Solver::Cholesky), &planted()).unwrap();
        let y = m.item_factors();
        let q = 3usize;
        let cos = |a: usize, b: usize| {
            let d: f32 = (0..m.factors()).map(|r| y[[a, r]] * y[[b, r]]).sum();
            let n = |i: usize| {
                (0..m.factors())
                    .map(|r| y[[i, r]] * y[[i, r]])
                    .sum::<f32>()
                    .sqrt()
            };
            d / (n(a) * n(b))
        };
        let mut want: Vec<(u32, f32)> = (0..m.n_items())
            .filter(|&j| j != q)
            .map(|j| (j as u32, cos(q, j)))
            .collect();
        want.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
        let got = m.similar_items(q as u32, 5).unwrap();
        assert_eq!(
            got.iter().map(|p| p.0).collect::<Vec<_>>(),
            want[..5].iter().map(|p| p.0).collect::<Vec<_>>()
        );
        assert!(got.iter().zip(&want).all(|(a, b)| (a.1 - b.1).abs() < 1e-5));
        assert!(got.iter().all(|p| p.0 != q as u32));
        let batch = m.similar_items_batch(&[q as u32, 0, 19], 5).unwrap();
        for (&qi, list) in [q as u32, 0, 19].iter().zip(&batch) {
            let single = m.similar_items(qi, 5).unwrap();
            assert_eq!(
                list.iter().map(|p| p.0).collect::<Vec<_>>(),
                single.iter().map(|p| p.0).collect::<Vec<_>>()
            );
            assert!(list
                .iter()
                .zip(&single)
                .all(|(a, b)| (a.1 - b.1).abs() < 1e-5));
        }
        let sims = m.similar_items_by_id("i3", 3).unwrap();
        assert!(sims
            .iter()
            .all(|(id, _)| id.trim_start_matches('i').parse::<u32>().unwrap() < 10));
    }

    #[test]
    fn bad_input_is_typed() {
        let data = planted();
        for (c, field) in [
            (
                AlsConfig {
                    factors: 0,
                    ..Default::default()
                },
                "factors",
            ),
            (
                AlsConfig {
                    regularization: f32::NAN,
                    ..Default::default()
                },
                "regularization",
            ),
            (
                AlsConfig {
                    alpha: 0.0,
                    ..Default::default()
                },
                "alpha",
            ),
            (
                AlsConfig {
                    iterations: 0,
                    ..Default::default()
                },
                "iterations",
            ),
            (
                AlsConfig {
                    solver: Solver::Cg { steps: 0 },
                    ..Default::default()
                },
                "solver.steps",
            ),
        ] {
            assert!(
                matches!(AlsModel::fit(&c, &data), Err(Error::Config { field: f, .. }) if f == field)
            );
        }
        let empty =
            Interactions::from_csr(Csr::from_triplets(2, 2, &[], &[], &[]).unwrap(), None, None)
                .unwrap();
        assert!(matches!(
            AlsModel::fit(&AlsConfig::default(), &empty),
            Err(Error::InvalidInput(_))
        ));
        let m = AlsModel::fit(&cfg(Solver::Cg { steps: 3 }), &data).unwrap();
        let o = RecommendOptions::default();
        assert!(matches!(m.recommend(0, 0, &o), Err(Error::InvalidInput(_))));
        assert!(matches!(
            m.recommend(999, 3, &o),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            m.recommend_by_id("nobody", 3, &o),
            Err(Error::UnknownId {
                kind: IdKind::User,
                ..
            })
        ));
        assert!(matches!(
            m.similar_items_by_id("nothing", 3),
            Err(Error::UnknownId {
                kind: IdKind::Item,
                ..
            })
        ));
        assert!(m
            .recommend(
                0,
                3,
                &RecommendOptions {
                    exclude: &[500],
                    ..o
                }
            )
            .is_err());
        assert!(matches!(
            m.recommend_vector(&[1.0], 3, &o),
            Err(Error::ShapeMismatch(_))
        ));
        assert!(m.recommend_batch(&[0, 999], 3, &o).is_err());
        assert!(m.similar_items(999, 3).is_err());
        assert!(m.similar_items(0, 0).is_err());
    }

    #[test]
    fn progress_loss_and_interrupt() {
        let data = planted();
        let mut losses = Vec::new();
        let c = AlsConfig {
            calculate_training_loss: true,
            unobserved_weight: 0.5,
            regularization_exponent: 0.3,
            ..cfg(Solver::Cholesky)
        };
        AlsModel::fit_with_progress(&c, &data, &mut |p| {
            losses.push(p.loss.unwrap());
            true
        })
        .unwrap();
        assert_eq!(losses.len(), 10);
        assert!(losses.last().unwrap() < &losses[0], "loss went {losses:?}");
        assert!(
            losses.windows(2).all(|w| w[1] <= w[0] * 1.0001),
            "exact ALS never increases the loss: {losses:?}"
        );
        let mut calls = 0;
        let r = AlsModel::fit_with_progress(&c, &data, &mut |_| {
            calls += 1;
            calls < 3
        });
        assert!(matches!(r, Err(Error::Interrupted)));
        assert_eq!(calls, 3);
    }

    #[test]
    fn persistence_round_trip() {
        let data = planted();
        let m = AlsModel::fit(&cfg(Solver::Cg { steps: 3 }), &data).unwrap();
        let bytes = m.to_bytes().unwrap();
        let back = AlsModel::from_bytes(&bytes).unwrap();
        assert_eq!(back.user_factors, m.user_factors);
        assert_eq!(back.item_factors, m.item_factors);
        assert_eq!(back.users(), m.users());
        assert_eq!(back.config(), m.config());
        assert_eq!(back.user_items(), m.user_items());
        let o = RecommendOptions::default();
        assert_eq!(
            back.recommend_by_id("u7", 5, &o).unwrap(),
            m.recommend_by_id("u7", 5, &o).unwrap()
        );
        assert_eq!(back.to_bytes().unwrap(), bytes);
        let lean = AlsModel::fit(
            &AlsConfig {
                store_interactions: false,
                ..cfg(Solver::Cg { steps: 3 })
            },
            &data,
        )
        .unwrap();
        let lean = AlsModel::from_bytes(&lean.to_bytes().unwrap()).unwrap();
        assert!(lean.user_items().is_none());
        // A file without the als component is a format error.
        let other = ModelFile::new().to_bytes().unwrap();
        assert!(matches!(
            AlsModel::from_bytes(&other),
            Err(Error::ModelFormat(_))
        ));
    }

    /// Naive f64 normal equations of a canonical history (duplicates
    /// summed, no zeros): `A = α₀YᵀY + λᵤI + Σ αw yyᵀ`, `b = Σ (α₀+αw) y`,
    /// `λᵤ = λ(n + α₀·n_items)^ν`.
    pub(super) fn naive_system(m: &AlsModel, cols: &[u32], ws: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let (k, c, y) = (m.factors(), m.config(), m.item_factors());
        let a0 = c.unobserved_weight as f64;
        let reg = c.regularization as f64
            * (cols.len() as f64 + a0 * m.n_items() as f64).powf(c.regularization_exponent as f64);
        let mut a = vec![0f64; k * k];
        let mut b = vec![0f64; k];
        for r in 0..k {
            for s in 0..k {
                a[r * k + s] = a0
                    * (0..m.n_items())
                        .map(|i| (y[[i, r]] * y[[i, s]]) as f64)
                        .sum::<f64>();
            }
            a[r * k + r] += reg;
        }
        for (&i, &w) in cols.iter().zip(ws) {
            let (i, cw) = (i as usize, c.alpha as f64 * w as f64);
            for r in 0..k {
                b[r] += (a0 + cw) * y[[i, r]] as f64;
                for s in 0..k {
                    a[r * k + s] += cw * (y[[i, r]] * y[[i, s]]) as f64;
                }
            }
        }
        (a, b)
    }

    /// Gaussian elimination in f64 (test reference).
    fn solve_dense(mut a: Vec<f64>, mut b: Vec<f64>) -> Vec<f64> {
        let k = b.len();
        for c in 0..k {
            for r in c + 1..k {
                let f = a[r * k + c] / a[c * k + c];
                for s in c..k {
                    a[r * k + s] -= f * a[c * k + s];
                }
                b[r] -= f * b[c];
            }
        }
        let mut x = vec![0f64; k];
        for c in (0..k).rev() {
            let t: f64 = (c + 1..k).map(|s| a[c * k + s] * x[s]).sum();
            x[c] = (b[c] - t) / a[c * k + c];
        }
        x
    }

    #[test]
    fn scaled_confidence_solves_implicits_system() {
        // implicit: A = YᵀY + λI + Σ (αw − 1)·yyᵀ, b = Σ αw·y — weights with
        // αw < 1 make a negative term, which the Cholesky path must subtract.
        let config = AlsConfig {
            confidence: Confidence::Scaled,
            alpha: 2.0,
            ..cfg(Solver::Cholesky)
        };
        let m = AlsModel::fit(&config, &planted()).unwrap();
        let (cols, ws) = ([1u32, 4, 9], [0.25f32, 1.0, 3.0]);
        let y = m.item_factors();
        let k = m.factors();
        let mut a = vec![0f64; k * k];
        let mut b = vec![0f64; k];
        for r in 0..k {
            for s in 0..k {
                a[r * k + s] = (0..m.n_items())
                    .map(|i| (y[[i, r]] * y[[i, s]]) as f64)
                    .sum::<f64>();
            }
            a[r * k + r] += 2.0;
        }
        for (&i, &w) in cols.iter().zip(&ws) {
            let (i, c) = (i as usize, 2.0 * w as f64);
            for r in 0..k {
                b[r] += c * y[[i, r]] as f64;
                for s in 0..k {
                    a[r * k + s] += (c - 1.0) * (y[[i, r]] * y[[i, s]]) as f64;
                }
            }
        }
        let want = solve_dense(a, b);
        let got = m.fold_in(&cols, &ws).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((*g as f64 - w).abs() < 1e-4, "{got:?} vs {want:?}");
        }
        // The additive model answers differently on the same data.
        let additive = AlsModel::fit(&cfg(Solver::Cholesky), &planted()).unwrap();
        assert_ne!(additive.item_factors, m.item_factors);
    }

    #[test]
    fn scaled_confidence_cg_converges_to_the_exact_solution() {
        let config = |solver| AlsConfig {
            confidence: Confidence::Scaled,
            alpha: 3.0,
            iterations: 30,
            ..cfg(solver)
        };
        let cg = AlsModel::fit(&config(Solver::Cg { steps: 3 }), &planted()).unwrap();
        let exact = AlsModel::fit(&config(Solver::Cholesky), &planted()).unwrap();
        let score = |m: &AlsModel| m.recommend(0, 3, &RecommendOptions::default()).unwrap();
        let (a, b) = (score(&cg), score(&exact));
        assert_eq!(
            a.iter().map(|r| r.0).collect::<Vec<_>>(),
            b.iter().map(|r| r.0).collect::<Vec<_>>()
        );
    }

    /// bfloat16 gathers change CG's factors only by rounding noise: on a
    /// random 3,000 × 400 matrix (k = 32, 5 iterations) the factors differ
    /// by well under 1 % (Frobenius) and the top 10s barely move.
    #[test]
    fn bf16_gathers_stay_close_to_f32_gathers() {
        let mut rng = crate::rng::seeded(3);
        let (n_users, n_items) = (3000usize, 400usize);
        let (mut rows, mut cols) = (Vec::new(), Vec::new());
        for u in 0..n_users {
            let taste = crate::rng::below(&mut rng, 4) as usize * 100;
            for _ in 0..1 + crate::rng::below(&mut rng, 40) {
                let near = crate::rng::below(&mut rng, 4) > 0;
                let i = if near {
                    taste + crate::rng::below(&mut rng, 100) as usize
                } else {
                    crate::rng::below(&mut rng, n_items as u64) as usize
                };
                rows.push(u as u32);
                cols.push(i as u32);
            }
        }
        let vals = vec![1.0; rows.len()];
        let m = Csr::from_triplets(n_users, n_items, &rows, &cols, &vals).unwrap();
        let fit = |bf16_gathers| {
            let config = AlsConfig {
                factors: 32,
                iterations: 5,
                bf16_gathers,
                num_threads: 2,
                ..AlsConfig::default()
            };
            let ids = |n| IdMap::range(n).unwrap();
            AlsModel::fit_csr(&config, m.view(), ids(n_users), ids(n_items), &mut |_| true).unwrap()
        };
        let (half, full) = (fit(true), fit(false));
        let diff = |a: &[f32], b: &[f32]| {
            let d: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
            (d / b.iter().map(|y| y * y).sum::<f32>()).sqrt()
        };
        let (du, di) = (
            diff(&half.user_factors, &full.user_factors),
            diff(&half.item_factors, &full.item_factors),
        );
        assert!(du < 0.01 && di < 0.01, "relative difference {du} / {di}");
        let mut shared = 0;
        for u in (0..n_users as u32).step_by(10) {
            let top = |m: &AlsModel| -> Vec<u32> {
                let r = m.recommend(u, 10, &RecommendOptions::default()).unwrap();
                r.into_iter().map(|(i, _)| i).collect()
            };
            let a = top(&half);
            shared += top(&full).iter().filter(|i| a.contains(i)).count();
        }
        let overlap = shared as f64 / (10 * n_users / 10) as f64;
        assert!(overlap > 0.9, "top-10 overlap {overlap}");
        eprintln!("bf16 vs f32 gathers: factors {du:.5} / {di:.5}, top-10 overlap {overlap:.3}");
    }

    #[test]
    fn fit_warm_starts_from_the_given_factors() {
        let data = planted();
        let config = cfg(Solver::Cg { steps: 3 });
        let (nu, ni, k) = (data.n_users(), data.n_items(), config.factors);
        let init = (vec![0.01f32; nu * k], vec![0.02f32; ni * k]);
        let warm = |iterations| {
            AlsModel::fit_warm(
                &AlsConfig {
                    iterations,
                    ..config.clone()
                },
                data.matrix().view(),
                data.users().clone(),
                data.items().clone(),
                (&init.0, &init.1),
                &mut |_| true,
            )
            .unwrap()
        };
        let zero = warm(0);
        assert_eq!(zero.user_factors, init.0);
        assert_eq!(zero.item_factors, init.1);
        // Two warm iterations = one, then one more from its factors.
        let one = warm(1);
        let two = warm(2);
        let again = AlsModel::fit_warm(
            &AlsConfig {
                iterations: 1,
                ..config.clone()
            },
            data.matrix().view(),
            data.users().clone(),
            data.items().clone(),
            (&one.user_factors, &one.item_factors),
            &mut |_| true,
        )
        .unwrap();
        assert_eq!(again.user_factors, two.user_factors);
        let bad = AlsModel::fit_warm(
            &config,
            data.matrix().view(),
            data.users().clone(),
            data.items().clone(),
            (&[0.0; 3], &init.1),
            &mut |_| true,
        );
        assert!(matches!(bad, Err(Error::ShapeMismatch(_))));
    }

    #[test]
    fn from_factors_serves_given_factors() {
        let config = AlsConfig {
            factors: 2,
            ..Default::default()
        };
        let m = AlsModel::from_factors(
            config.clone(),
            IdMap::range(2).unwrap(),
            IdMap::range(3).unwrap(),
            vec![1.0, 0.0, 0.0, 1.0],
            vec![0.5, 0.0, 0.0, 2.0, 1.0, 1.0],
        )
        .unwrap();
        let recs = m.recommend(1, 3, &RecommendOptions::default()).unwrap();
        assert_eq!(recs, vec![(1, 2.0), (2, 1.0), (0, 0.0)]);
        let bad = AlsModel::from_factors(
            config.clone(),
            IdMap::range(2).unwrap(),
            IdMap::range(3).unwrap(),
            vec![1.0; 4],
            vec![f32::NAN; 6],
        );
        assert!(matches!(bad, Err(Error::InvalidInput(_))));
        let short = AlsModel::from_factors(
            config,
            IdMap::range(2).unwrap(),
            IdMap::range(3).unwrap(),
            vec![1.0; 3],
            vec![1.0; 6],
        );
        assert!(matches!(short, Err(Error::ShapeMismatch(_))));
    }

    #[test]
    fn filtered_last_ranks_filtered_items_after_the_rest() {
        let m = AlsModel::from_factors(
            AlsConfig {
                factors: 1,
                ..Default::default()
            },
            IdMap::range(1).unwrap(),
            IdMap::range(4).unwrap(),
            vec![1.0],
            vec![4.0, 3.0, 2.0, 1.0],
        )
        .unwrap();
        let opts = RecommendOptions {
            liked: Some(&[0]),
            exclude: &[2],
            filtered_last: true,
            ..Default::default()
        };
        let recs = m.recommend(0, 4, &opts).unwrap();
        assert_eq!(recs, vec![(1, 3.0), (3, 1.0), (0, f32::MIN), (2, f32::MIN)]);
        let only = RecommendOptions {
            allow_only: Some(&[0, 3]),
            ..opts
        };
        assert_eq!(
            m.recommend(0, 4, &only).unwrap(),
            vec![(3, 1.0), (0, f32::MIN)]
        );
    }

    #[test]
    fn similar_keeps_the_query_and_applies_filters() {
        let m = AlsModel::from_factors(
            AlsConfig {
                factors: 2,
                ..Default::default()
            },
            IdMap::range(3).unwrap(),
            IdMap::range(4).unwrap(),
            vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0],
            vec![1.0, 0.0, 2.0, 0.2, 0.0, 1.0, 0.0, 0.0],
        )
        .unwrap();
        let opts = SimilarOptions {
            include_self: true,
            ..Default::default()
        };
        let items = m.similar(IdKind::Item, &[0, 2], 4, &opts).unwrap();
        assert_eq!(items[0][0].0, 0);
        assert!((items[0][0].1 - 1.0).abs() < 1e-6);
        assert_eq!(
            items[0].iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert_eq!(items[0][3].1, 0.0); // a zero vector scores 0
        assert_eq!(items[1][0].0, 2);
        let users = m
            .similar(
                IdKind::User,
                &[0],
                3,
                &SimilarOptions {
                    allow_only: Some(&[2, 1]),
                    ..opts
                },
            )
            .unwrap();
        assert_eq!(users[0].iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
        let left_out = m
            .similar(IdKind::User, &[0], 3, &SimilarOptions::default())
            .unwrap();
        assert_eq!(
            left_out[0].iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![1, 2]
        );
        // A recomputed query vector replaces the stored one.
        let v = [0.0f32, 3.0];
        let swapped = m
            .similar(
                IdKind::Item,
                &[0],
                1,
                &SimilarOptions {
                    vectors: Some(&v),
                    ..opts
                },
            )
            .unwrap();
        assert_eq!(swapped[0][0].0, 2);
        assert!(m.similar(IdKind::User, &[3], 1, &opts).is_err());
    }

    #[test]
    fn recalculate_matches_fold_in_and_partial_fit() {
        let mut m = AlsModel::fit(&cfg(Solver::Cholesky), &planted()).unwrap();
        let rows =
            Csr::from_triplets(2, m.n_items(), &[0, 0, 1], &[1, 3, 12], &[1.0, 2.0, 1.0]).unwrap();
        let solved = m.recalculate(IdKind::User, rows.view()).unwrap();
        let k = m.factors();
        assert_eq!(&solved[..k], &m.fold_in(&[1, 3], &[1.0, 2.0]).unwrap()[..]);
        let item_rows = Csr::from_triplets(1, m.n_users(), &[0, 0], &[2, 5], &[1.0, 1.0]).unwrap();
        let item = m.recalculate(IdKind::Item, item_rows.view()).unwrap();
        m.partial_fit_items(&[0], item_rows.view()).unwrap();
        assert_eq!(&item[..], &m.item_factors[..k]);
        assert!(m.recalculate(IdKind::Item, rows.view()).is_err());
    }
}
