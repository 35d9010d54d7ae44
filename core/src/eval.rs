//! Offline evaluation: train/test splits, ranking metrics at `k`, the
//! [`Recommender`] trait that evaluated models implement, and a
//! [`MostPopular`] baseline.
//!
//! # Splits
//!
//! * [`train_test_split`] — per-user random holdout with a seeded,
//!   platform-independent RNG (ChaCha8; identical results on every target,
//!   including wasm32).
//! * [`leave_last_k_out`] — temporal holdout of every user's `k` most recent
//!   items (needs [`Interactions::last_seen`]).
//!
//! Both return `(train, test)` with the same user/item [`IdMap`]s and the same
//! shape as the input; every stored entry of the input lands in exactly one
//! of the two, with its weight and (when present) its `last_seen` time.
//!
//! # Metrics
//!
//! For one user let `R_k` be the first `k` items of their ranked
//! recommendation list (fewer when the list is shorter), `T` the set of their
//! held-out (test) items, and `rel_i = 1` when the item at rank `i` (1-based)
//! is in `T` and has not already appeared at an earlier rank, else `0`
//! (a duplicated item counts once). Then
//!
//! * `precision@k = |R_k ∩ T| / k` — always divided by `k`, even when the
//!   list is shorter than `k`;
//! * `recall@k = |R_k ∩ T| / |T|`;
//! * `nDCG@k = DCG / IDCG` with binary relevance,
//!   `DCG = Σ_{i=1..k} rel_i / log2(i + 1)` and
//!   `IDCG = Σ_{i=1..min(|T|, k)} 1 / log2(i + 1)`;
//! * `MAP@k = (Σ_{i=1..k} P@i · rel_i) / min(|T|, k)`, where
//!   `P@i = (Σ_{j=1..i} rel_j) / i`;
//! * `hit_rate@k = 1` when `|R_k ∩ T| > 0`, else `0`;
//! * `coverage@k = |∪_u R_k(u)| / n_items` over the evaluated users
//!   (distinct items recommended / catalog size).
//!
//! Every metric except coverage is the arithmetic mean over the evaluated
//! users: the users with a non-empty test set.
//!
//! [`IdMap`]: crate::ids::IdMap

use std::collections::HashSet;

use crate::rng::below;
use serde::{Deserialize, Serialize};

use crate::data::{Csr, Interactions};
use crate::error::{Error, Result};

// ---------------------------------------------------------------------------
// Splits
// ---------------------------------------------------------------------------

/// Builds `(train, test)` from `data` and a per-entry mask (`true` = test).
fn split_by_mask(data: &Interactions, is_test: &[bool]) -> Result<(Interactions, Interactions)> {
    let m = data.matrix();
    let (n_rows, n_cols) = (m.n_rows(), m.n_cols());
    let ts = data.last_seen();
    let n_test = is_test.iter().filter(|&&t| t).count();
    let n_train = m.nnz() - n_test;

    struct Part {
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f32>,
        ts: Option<Vec<i64>>,
    }
    let new_part = |nnz: usize| Part {
        indptr: Vec::with_capacity(n_rows + 1),
        indices: Vec::with_capacity(nnz),
        data: Vec::with_capacity(nnz),
        ts: ts.map(|_| Vec::with_capacity(nnz)),
    };
    let mut train = new_part(n_train);
    let mut test = new_part(n_test);
    train.indptr.push(0);
    test.indptr.push(0);

    let (indptr, indices, values) = (m.indptr(), m.indices(), m.data());
    for r in 0..n_rows {
        for e in indptr[r]..indptr[r + 1] {
            let part = if is_test[e] { &mut test } else { &mut train };
            part.indices.push(indices[e]);
            part.data.push(values[e]);
            if let (Some(out), Some(src)) = (part.ts.as_mut(), ts) {
                out.push(src[e]);
            }
        }
        train.indptr.push(train.indices.len());
        test.indptr.push(test.indices.len());
    }

    let finish = |p: Part| -> Result<Interactions> {
        // Rows stay sorted and unique, so `from_parts` takes its fast path.
        let csr = Csr::from_parts(n_rows, n_cols, p.indptr, p.indices, p.data)?;
        let out =
            Interactions::from_csr(csr, Some(data.users().clone()), Some(data.items().clone()))?;
        match p.ts {
            Some(t) => out.with_last_seen(t),
            None => Ok(out),
        }
    };
    Ok((finish(train)?, finish(test)?))
}

/// Per-user random holdout.
///
/// For every user with `n_u >= 2` stored items, `round(test_fraction · n_u)`
/// items (rounded half away from zero, then clamped to `1..=n_u - 1`) are
/// chosen uniformly at random without replacement and moved to the test set;
/// users with 0 or 1 item keep everything in train. Both outputs keep the
/// user/item id maps and the shape of `data`, and carry `last_seen` when
/// `data` has it.
///
/// Randomness: one ChaCha8 stream seeded with
/// `ChaCha8Rng::seed_from_u64(seed)`, consumed user by user in index order by
/// a partial Fisher–Yates shuffle over the positions of the user's row
/// (uniform integers via Lemire's unbiased multiply-and-reject on `u64`
/// draws). The result depends only on `data`, `test_fraction` and `seed` —
/// identical on every platform, wasm32 included.
///
/// Errors: [`Error::InvalidInput`] unless `0 < test_fraction < 1`.
pub fn train_test_split(
    data: &Interactions,
    test_fraction: f64,
    seed: u64,
) -> Result<(Interactions, Interactions)> {
    if !(test_fraction.is_finite() && test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::invalid(format!(
            "test_fraction must be in (0, 1), got {test_fraction}"
        )));
    }
    random_holdout(data, seed, |n| {
        if n < 2 {
            return 0;
        }
        // `n as f64` is exact up to 2^53 entries; the clamp bounds any rounding.
        let want = (test_fraction * n as f64).round();
        if want < 1.0 {
            1
        } else if want >= (n - 1) as f64 {
            n - 1
        } else {
            want as usize
        }
    })
}

/// Random leave-k-out (implicit's `leave_k_out_split`): for every user with
/// more than `k` stored items, `k` of them chosen uniformly at random go to
/// test; users with `k` or fewer keep everything in train. Randomness as in
/// [`train_test_split`]. Errors: [`Error::InvalidInput`] when `k == 0`.
pub fn leave_k_out(
    data: &Interactions,
    k: usize,
    seed: u64,
) -> Result<(Interactions, Interactions)> {
    if k == 0 {
        return Err(Error::invalid("k must be > 0"));
    }
    random_holdout(data, seed, |n| if n > k { k } else { 0 })
}

/// Moves `test_count(n_u)` random entries of every user's row to test (see
/// [`train_test_split`] for the random stream).
fn random_holdout(
    data: &Interactions,
    seed: u64,
    test_count: impl Fn(usize) -> usize,
) -> Result<(Interactions, Interactions)> {
    let m = data.matrix();
    let indptr = m.indptr();
    let mut rng = crate::rng::seeded(seed);
    let mut is_test = vec![false; m.nnz()];
    let mut pos: Vec<usize> = Vec::new();
    for r in 0..m.n_rows() {
        let (start, end) = (indptr[r], indptr[r + 1]);
        let n_test = test_count(end - start);
        if n_test == 0 {
            continue;
        }
        let n = end - start;
        pos.clear();
        pos.extend(start..end);
        for i in 0..n_test {
            let j = i + below(&mut rng, (n - i) as u64) as usize;
            pos.swap(i, j);
        }
        for &e in &pos[..n_test] {
            is_test[e] = true;
        }
    }
    split_by_mask(data, &is_test)
}

/// Temporal holdout: each user's `k` most recent items go to test.
///
/// "Most recent" orders a user's entries by `last_seen` (descending); among
/// entries with the same `last_seen`, the one with the **higher item
/// (column) index** counts as more recent. Entries recorded without a
/// timestamp carry `i64::MIN` (see
/// [`InteractionsBuilder::add`](crate::data::InteractionsBuilder::add)) and
/// are therefore the oldest. Users with `n_u <= k` items keep everything in
/// train (so every user with test items also has training items). Both
/// outputs keep the id maps, shape and `last_seen` of `data`.
///
/// Errors: [`Error::InvalidInput`] when `k == 0` or `data` has no
/// `last_seen` timestamps.
pub fn leave_last_k_out(data: &Interactions, k: usize) -> Result<(Interactions, Interactions)> {
    if k == 0 {
        return Err(Error::invalid("k must be > 0"));
    }
    let ts = data.last_seen().ok_or_else(|| {
        Error::invalid("leave_last_k_out needs per-entry timestamps (last_seen); data has none")
    })?;
    let m = data.matrix();
    let (indptr, indices) = (m.indptr(), m.indices());
    let mut is_test = vec![false; m.nnz()];
    let mut pos: Vec<usize> = Vec::new();
    for r in 0..m.n_rows() {
        let (start, end) = (indptr[r], indptr[r + 1]);
        let n = end - start;
        if n <= k {
            continue;
        }
        pos.clear();
        pos.extend(start..end);
        // Keys are unique within a row (columns are unique), so the
        // selection is fully deterministic.
        let cut = n - k;
        pos.select_nth_unstable_by_key(cut, |&e| (ts[e], indices[e]));
        for &e in &pos[cut..] {
            is_test[e] = true;
        }
    }
    split_by_mask(data, &is_test)
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/// Ranking metrics at `k`, averaged over the evaluated users (see the
/// [module docs](self) for the exact formulas).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    /// The cut-off `k`.
    pub k: usize,
    /// Mean of `|R_k ∩ T| / k`.
    pub precision: f64,
    /// Mean of `|R_k ∩ T| / |T|`.
    pub recall: f64,
    /// Mean of `DCG@k / IDCG@k` with binary relevance:
    /// `DCG = Σ_{i=1..k} rel_i / log2(i + 1)`,
    /// `IDCG = Σ_{i=1..min(|T|, k)} 1 / log2(i + 1)`.
    pub ndcg: f64,
    /// Mean of `(Σ_{i=1..k} P@i · rel_i) / min(|T|, k)`.
    pub map: f64,
    /// Fraction of evaluated users with at least one hit in `R_k`.
    pub hit_rate: f64,
    /// `|∪_u R_k(u)| / n_items` over the evaluated users.
    pub coverage: f64,
    /// Number of evaluated users (those with a non-empty test set).
    pub users: usize,
}

/// Running sums of per-user metrics; shared by [`metrics_from_lists`] and
/// [`ranking_metrics_at_k`].
struct Accumulator {
    k: usize,
    n_items: usize,
    /// `disc[i] = 1 / log2(i + 2)`: the discount of 0-based rank `i`.
    disc: Vec<f64>,
    /// `idcg[j] = Σ_{i<j} disc[i]`, `j = 0..=k`.
    idcg: Vec<f64>,
    seen: HashSet<u32>,
    covered: HashSet<u32>,
    users: usize,
    precision: f64,
    recall: f64,
    ndcg: f64,
    map: f64,
    hits: usize,
}

impl Accumulator {
    fn new(k: usize, n_items: usize, max_len: usize) -> Result<Self> {
        if k == 0 {
            return Err(Error::invalid("k must be > 0"));
        }
        if n_items == 0 {
            return Err(Error::invalid("n_items must be > 0"));
        }
        // Discounts are only needed up to the longest list that will be seen
        // (a huge `k` must not allocate `k` floats).
        let len = k.min(max_len).max(1);
        let disc: Vec<f64> = (0..len).map(|i| 1.0 / ((i + 2) as f64).log2()).collect();
        let mut idcg = Vec::with_capacity(len + 1);
        idcg.push(0.0);
        let mut acc = 0.0;
        for d in &disc {
            acc += d;
            idcg.push(acc);
        }
        Ok(Accumulator {
            k,
            n_items,
            disc,
            idcg,
            seen: HashSet::new(),
            covered: HashSet::new(),
            users: 0,
            precision: 0.0,
            recall: 0.0,
            ndcg: 0.0,
            map: 0.0,
            hits: 0,
        })
    }

    /// IDCG for `m` ideal hits, `m <= k`.
    fn ideal(&mut self, m: usize) -> f64 {
        if m < self.idcg.len() {
            return self.idcg[m];
        }
        // Only reached when |T| exceeds every list length seen so far.
        while self.idcg.len() <= m {
            let i = self.idcg.len() - 1;
            let d = 1.0 / ((i + 2) as f64).log2();
            self.disc.push(d);
            let last = self.idcg[i];
            self.idcg.push(last + d);
        }
        self.idcg[m]
    }

    /// Adds one user. `truth` must be sorted and unique (callers ensure it);
    /// users with empty truth are skipped.
    fn add(&mut self, user: usize, recs: &[u32], truth: &[u32]) -> Result<()> {
        if truth.is_empty() {
            return Ok(());
        }
        let top = &recs[..recs.len().min(self.k)];
        if let Some(&bad) = top.iter().find(|&&i| i as usize >= self.n_items) {
            return Err(Error::invalid(format!(
                "user {user}: recommended item {bad} out of range for {} items",
                self.n_items
            )));
        }
        self.seen.clear();
        let (mut hits, mut dcg, mut ap) = (0usize, 0.0f64, 0.0f64);
        for (i, &item) in top.iter().enumerate() {
            self.covered.insert(item);
            if self.seen.insert(item) && truth.binary_search(&item).is_ok() {
                hits += 1;
                dcg += self
                    .disc
                    .get(i)
                    .copied()
                    .unwrap_or_else(|| 1.0 / ((i + 2) as f64).log2());
                ap += hits as f64 / (i + 1) as f64;
            }
        }
        let ideal_hits = truth.len().min(self.k);
        let idcg = self.ideal(ideal_hits);
        self.users += 1;
        self.precision += hits as f64 / self.k as f64;
        self.recall += hits as f64 / truth.len() as f64;
        self.ndcg += dcg / idcg;
        self.map += ap / ideal_hits as f64;
        self.hits += usize::from(hits > 0);
        Ok(())
    }

    fn finish(self) -> Result<RankingMetrics> {
        if self.users == 0 {
            return Err(Error::invalid(
                "no user has test items: nothing to evaluate",
            ));
        }
        let n = self.users as f64;
        Ok(RankingMetrics {
            k: self.k,
            precision: self.precision / n,
            recall: self.recall / n,
            ndcg: self.ndcg / n,
            map: self.map / n,
            hit_rate: self.hits as f64 / n,
            coverage: self.covered.len() as f64 / self.n_items as f64,
            users: self.users,
        })
    }
}

/// Computes [`RankingMetrics`] from explicit lists (pure, no model).
///
/// `recs[u]` is the ranked recommendation list of user `u` (only its first
/// `k` items are used; shorter lists are allowed and still divide precision
/// by `k`), `truth[u]` the user's held-out items (treated as a set:
/// order and duplicates are ignored) and `n_items` the catalog size for
/// coverage. Users with empty `truth[u]` are not evaluated and their lists
/// do not count towards coverage. A duplicated item in a list counts once:
/// its later occurrences are non-relevant (`rel_i = 0`) but still occupy
/// their rank. Formulas: see the [module docs](self).
///
/// Errors: [`Error::InvalidInput`] when `k == 0`, `n_items == 0`, an item in
/// the top `k` of a list or in `truth` is `>= n_items`, or no user has
/// test items; [`Error::ShapeMismatch`] when `recs.len() != truth.len()`.
pub fn metrics_from_lists(
    recs: &[Vec<u32>],
    truth: &[&[u32]],
    k: usize,
    n_items: usize,
) -> Result<RankingMetrics> {
    if recs.len() != truth.len() {
        return Err(Error::shape(format!(
            "{} recommendation lists for {} truth sets",
            recs.len(),
            truth.len()
        )));
    }
    let max_len = recs.iter().map(Vec::len).max().unwrap_or(0);
    let mut acc = Accumulator::new(k, n_items, max_len)?;
    let mut t: Vec<u32> = Vec::new();
    for (u, (r, tr)) in recs.iter().zip(truth).enumerate() {
        if let Some(&bad) = tr.iter().find(|&&i| i as usize >= n_items) {
            return Err(Error::invalid(format!(
                "user {u}: truth item {bad} out of range for {n_items} items"
            )));
        }
        t.clear();
        t.extend_from_slice(tr);
        t.sort_unstable();
        t.dedup();
        acc.add(u, r, &t)?;
    }
    acc.finish()
}

/// The four numbers of the `implicit` library's `ranking_metrics_at_k`
/// (0.7), computed its way — see [`implicit_metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImplicitMetrics {
    /// Hits over `Σ_u min(k, |T_u|)` (pooled over users, not a mean).
    pub precision: f64,
    /// Mean over users of `Σ_{hit at rank i} (hits so far / i) / min(k, |T|)`.
    pub map: f64,
    /// Mean over users of `DCG / IDCG` (binary relevance, log2 discount).
    pub ndcg: f64,
    /// Mean over users of implicit's AUC limited to the top `k`.
    pub auc: f64,
    /// Users evaluated (those with test items).
    pub users: usize,
}

/// implicit's `ranking_metrics_at_k` on explicit lists, with its formulas:
/// `recs[u]` holds the ids at ranks `1..=k` (missing or unknown ids, such
/// as padding, are misses), `truth[u]` user `u`'s test items (a set), and
/// `n_items` the number of columns (AUC's negatives are `n_items − |T|`).
/// Users with empty truth are skipped. For each user, walking ranks
/// `i = 0..k`: a hit adds 1 to `hits` and to the pooled precision
/// numerator, `hits / (i + 1)` to AP and `1 / log2(i + 2) / IDCG` to nDCG; a
/// miss adds 1 to `misses` and `hits` to `auc`; then
/// `auc += (hits + |T|) / 2 · (negatives − misses)` and the user's AUC is
/// `auc / (|T| · negatives)`.
///
/// Errors: [`Error::InvalidInput`] when `k == 0` or no user has test
/// items; [`Error::ShapeMismatch`] when `recs.len() != truth.len()`.
pub fn implicit_metrics(
    recs: &[Vec<i64>],
    truth: &[&[u32]],
    k: usize,
    n_items: usize,
) -> Result<ImplicitMetrics> {
    if recs.len() != truth.len() {
        return Err(Error::shape(format!(
            "{} recommendation lists for {} truth sets",
            recs.len(),
            truth.len()
        )));
    }
    if k == 0 {
        return Err(Error::invalid("k must be >= 1"));
    }
    let cg: Vec<f64> = (0..k).map(|i| 1.0 / ((i + 2) as f64).log2()).collect();
    let cg_sum: Vec<f64> = cg
        .iter()
        .scan(0.0, |acc, &c| {
            *acc += c;
            Some(*acc)
        })
        .collect();
    let (mut relevant, mut pr_div, mut total) = (0.0f64, 0.0f64, 0usize);
    let (mut mean_ap, mut ndcg, mut mean_auc) = (0.0f64, 0.0f64, 0.0f64);
    for (list, t) in recs.iter().zip(truth) {
        let likes: HashSet<u32> = t.iter().copied().collect();
        if likes.is_empty() {
            continue;
        }
        let pos = likes.len() as f64;
        let neg = n_items as f64 - pos;
        let idcg = cg_sum[likes.len().min(k) - 1];
        pr_div += likes.len().min(k) as f64;
        let (mut ap, mut hit, mut miss, mut auc) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (i, &c) in cg.iter().enumerate() {
            let is_hit = list
                .get(i)
                .and_then(|&id| u32::try_from(id).ok())
                .is_some_and(|id| likes.contains(&id));
            if is_hit {
                relevant += 1.0;
                hit += 1.0;
                ap += hit / (i + 1) as f64;
                ndcg += c / idcg;
            } else {
                miss += 1.0;
                auc += hit;
            }
        }
        auc += (hit + pos) / 2.0 * (neg - miss);
        mean_ap += ap / likes.len().min(k) as f64;
        mean_auc += auc / (pos * neg);
        total += 1;
    }
    if total == 0 {
        return Err(Error::invalid(
            "no user has test items: nothing to evaluate",
        ));
    }
    let n = total as f64;
    Ok(ImplicitMetrics {
        precision: relevant / pr_div,
        map: mean_ap / n,
        ndcg: ndcg / n,
        auc: mean_auc / n,
        users: total,
    })
}

// ---------------------------------------------------------------------------
// Models under evaluation
// ---------------------------------------------------------------------------

/// Anything that can produce top-`n` lists for a batch of users.
///
/// Contract: `recommend_rows(users, n, train)` returns one list per entry of
/// `users` (same order), each holding at most `n` item indices, best first,
/// without the items stored in `train`'s row of that user. `users` are row
/// indices of `train`.
pub trait Recommender {
    /// Top-`n` item indices for every user in `users`, leaving out the items
    /// each user already has in `train`.
    fn recommend_rows(
        &self,
        users: &[u32],
        n: usize,
        train: &Interactions,
    ) -> Result<Vec<Vec<u32>>>;
}

impl Recommender for crate::als::AlsModel {
    fn recommend_rows(
        &self,
        users: &[u32],
        n: usize,
        train: &Interactions,
    ) -> Result<Vec<Vec<u32>>> {
        let opts = crate::als::RecommendOptions {
            liked_rows: Some(crate::als::LikedRows::ByUser(train.matrix())),
            ..Default::default()
        };
        let lists = self.recommend_batch(users, n, &opts)?;
        Ok(lists
            .into_iter()
            .map(|l| l.into_iter().map(|(i, _)| i).collect())
            .collect())
    }
}

/// Users are sent to the model in batches of this size, which bounds memory
/// at `BATCH · k` indices and lets the model parallelise within a batch.
const EVAL_BATCH: usize = 4096;

/// Evaluates `model` on every user with at least one test item.
///
/// The users with a non-empty row in `test` are passed (in index order, in
/// batches) to [`Recommender::recommend_rows`] with `n = k` and `train`, so
/// items the user already has in training are excluded; the returned lists
/// are scored against the user's test row (every stored entry is relevant,
/// whatever its weight) with the formulas of [`metrics_from_lists`];
/// coverage uses `n_items = train.n_items()`.
///
/// Errors: [`Error::ShapeMismatch`] when `train` and `test` differ in shape
/// or the model returns the wrong number of lists;
/// [`Error::InvalidInput`] when `k == 0`, their id maps differ, `test` has
/// no entries, or the model returns an out-of-range item; any error of the
/// model is passed through.
pub fn ranking_metrics_at_k<R: Recommender + ?Sized>(
    model: &R,
    train: &Interactions,
    test: &Interactions,
    k: usize,
) -> Result<RankingMetrics> {
    if (train.n_users(), train.n_items()) != (test.n_users(), test.n_items()) {
        return Err(Error::shape(format!(
            "train is {}x{} but test is {}x{}",
            train.n_users(),
            train.n_items(),
            test.n_users(),
            test.n_items()
        )));
    }
    if train.users() != test.users() || train.items() != test.items() {
        return Err(Error::invalid(
            "train and test must share the same user and item ids (use the split functions)",
        ));
    }
    let mut acc = Accumulator::new(k, train.n_items(), k.min(train.n_items()))?;
    let tm = test.matrix();
    let users: Vec<u32> = (0..tm.n_rows())
        .filter(|&u| !tm.row(u).0.is_empty())
        .map(|u| u as u32)
        .collect();
    for batch in users.chunks(EVAL_BATCH) {
        let lists = model.recommend_rows(batch, k, train)?;
        if lists.len() != batch.len() {
            return Err(Error::shape(format!(
                "model returned {} lists for {} users",
                lists.len(),
                batch.len()
            )));
        }
        for (&u, list) in batch.iter().zip(&lists) {
            // CSR rows are sorted and unique: a valid truth set as is.
            acc.add(u as usize, list, tm.row(u as usize).0)?;
        }
    }
    acc.finish()
}

/// Popularity baseline: recommends the most popular items the user does not
/// have yet, to everyone.
///
/// Popularity ([`MostPopular::fit`]) is the **number of distinct users** with
/// a stored entry for the item in `train` (weights ignored);
/// [`MostPopular::fit_weighted`] uses the sum of weights instead. Items are
/// ranked by popularity, descending; ties go to the lower item index. Items
/// nobody has (popularity 0) rank last but can still fill a list.
#[derive(Debug, Clone, PartialEq)]
pub struct MostPopular {
    scores: Vec<f32>,
    /// Item indices, most popular first (ties: lower index first).
    order: Vec<u32>,
}

impl MostPopular {
    /// Fits on `train` with popularity = number of users per item.
    ///
    /// Errors: [`Error::InvalidInput`] when `train` has no items.
    pub fn fit(train: &Interactions) -> Result<Self> {
        let mut counts = vec![0f64; train.n_items()];
        for &c in train.matrix().indices() {
            counts[c as usize] += 1.0;
        }
        Self::from_exact(counts)
    }

    /// Fits on `train` with popularity = sum of weights per item.
    ///
    /// Errors: [`Error::InvalidInput`] when `train` has no items.
    pub fn fit_weighted(train: &Interactions) -> Result<Self> {
        let m = train.matrix();
        let mut sums = vec![0f64; train.n_items()];
        for (&c, &w) in m.indices().iter().zip(m.data()) {
            sums[c as usize] += f64::from(w);
        }
        Self::from_exact(sums)
    }

    /// Ranks on the exact `f64` popularity (so ties beyond `f32` precision
    /// are not invented) and stores the `f32` scores.
    fn from_exact(pop: Vec<f64>) -> Result<Self> {
        if pop.is_empty() {
            return Err(Error::invalid("no items: cannot fit a popularity model"));
        }
        let mut order: Vec<u32> = (0..pop.len() as u32).collect();
        // Popularities are finite and >= 0 (the Csr guarantees it).
        order.sort_by(|&a, &b| pop[b as usize].total_cmp(&pop[a as usize]).then(a.cmp(&b)));
        let scores = pop.iter().map(|&p| p as f32).collect();
        Ok(MostPopular { scores, order })
    }

    /// Popularity of every item (index = item index).
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }

    /// Item indices from most to least popular (ties: lower index first).
    pub fn ranking(&self) -> &[u32] {
        &self.order
    }
}

impl Recommender for MostPopular {
    /// The `n` most popular items not in the user's `train` row.
    ///
    /// Errors: [`Error::InvalidInput`] when `n == 0` or a user index is out
    /// of range; [`Error::ShapeMismatch`] when `train` has a different
    /// number of items than the model was fitted on.
    fn recommend_rows(
        &self,
        users: &[u32],
        n: usize,
        train: &Interactions,
    ) -> Result<Vec<Vec<u32>>> {
        if n == 0 {
            return Err(Error::invalid("n must be > 0"));
        }
        if train.n_items() != self.scores.len() {
            return Err(Error::shape(format!(
                "model fitted on {} items, train has {}",
                self.scores.len(),
                train.n_items()
            )));
        }
        if let Some(&u) = users.iter().find(|&&u| u as usize >= train.n_users()) {
            return Err(Error::invalid(format!(
                "user index {u} out of range for {} users",
                train.n_users()
            )));
        }
        let m = train.matrix();
        Ok(users
            .iter()
            .map(|&u| {
                let have = m.row(u as usize).0;
                self.order
                    .iter()
                    .copied()
                    .filter(|i| have.binary_search(i).is_err())
                    .take(n)
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdMap;

    #[test]
    fn implicit_metrics_by_hand() {
        // 10 items, k = 3. User 0: test {1, 5}, list [1, 2, 5] → hits at
        // ranks 1 and 3. User 1: no test items (skipped). User 2: test {7},
        // list [0, -1, 3] → no hit (padding -1 is a miss).
        let recs = vec![vec![1, 2, 5], vec![4, 4, 4], vec![0, -1, 3]];
        let truth: Vec<&[u32]> = vec![&[1, 5], &[], &[7]];
        let m = implicit_metrics(&recs, &truth, 3, 10).unwrap();
        assert_eq!(m.users, 2);
        assert!(close(m.precision, 2.0 / 3.0));
        let ap0 = (1.0 + 2.0 / 3.0) / 2.0;
        assert!(close(m.map, ap0 / 2.0));
        let ndcg0 = (1.0 + 1.0 / lg(4.0)) / (1.0 + 1.0 / lg(3.0));
        assert!(close(m.ndcg, ndcg0 / 2.0));
        // user 0: hit, miss (auc += 1), hit; then (2 + 2) / 2 · (8 − 1) = 14
        // → 15 / (2 · 8). User 2: three misses, then (0 + 1) / 2 · (9 − 3).
        let auc = (15.0 / 16.0 + 3.0 / 9.0) / 2.0;
        assert!(close(m.auc, auc));
        assert!(implicit_metrics(&recs, &[&[], &[], &[]], 3, 10).is_err());
        assert!(implicit_metrics(&recs, &truth[..2], 3, 10).is_err());
    }

    const EPS: f64 = 1e-12;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    fn lg(x: f64) -> f64 {
        x.log2()
    }

    /// (user, item, weight, ts) entries of an `Interactions`, row-major.
    fn entries(x: &Interactions) -> Vec<(usize, u32, f32, Option<i64>)> {
        let m = x.matrix();
        let mut out = Vec::new();
        for r in 0..m.n_rows() {
            for e in m.indptr()[r]..m.indptr()[r + 1] {
                out.push((r, m.indices()[e], m.data()[e], x.last_seen().map(|t| t[e])));
            }
        }
        out
    }

    /// Deterministic pseudo-random test data: user `u` has `u % 13` items
    /// (so users with 0 and 1 items exist), with timestamps.
    fn sample(n_users: usize, n_items: usize) -> Interactions {
        let (mut rs, mut cs, mut ws) = (Vec::new(), Vec::new(), Vec::new());
        for u in 0..n_users {
            let n = u % 13;
            for j in 0..n {
                rs.push(u as u32);
                cs.push(((u * 7 + j * 11) % n_items) as u32);
                ws.push(1.0 + (j % 3) as f32);
            }
        }
        let x = Interactions::from_coo(n_users, n_items, &rs, &cs, &ws).unwrap();
        let ts = (0..x.matrix().nnz() as i64)
            .map(|e| (e * 7919) % 1000)
            .collect();
        x.with_last_seen(ts).unwrap()
    }

    // ---- metrics --------------------------------------------------------

    #[test]
    fn single_user_hand_computed() {
        // recs [3,1,7,9], T = {1,9,4}, k = 4: hits at ranks 2 and 4.
        // P = 2/4 = 0.5; R = 2/3
        // DCG = 1/log2(3) + 1/log2(5); IDCG (min(3,4)=3) = 1 + 1/log2(3) + 1/log2(4)
        // AP = (P@2 + P@4) / min(3,4) = (1/2 + 2/4) / 3 = 1/3; HR = 1
        // coverage = 4 distinct / 10 items = 0.4
        let m = metrics_from_lists(&[vec![3, 1, 7, 9]], &[&[1, 9, 4]], 4, 10).unwrap();
        let dcg = 1.0 / lg(3.0) + 1.0 / lg(5.0);
        let idcg = 1.0 + 1.0 / lg(3.0) + 1.0 / lg(4.0);
        assert_eq!(m.k, 4);
        assert_eq!(m.users, 1);
        assert!(close(m.precision, 0.5));
        assert!(close(m.recall, 2.0 / 3.0));
        assert!(close(m.ndcg, dcg / idcg));
        assert!((m.ndcg - 0.498_19).abs() < 1e-5); // 1.06161 / 2.13093
        assert!(close(m.map, 1.0 / 3.0));
        assert!(close(m.hit_rate, 1.0));
        assert!(close(m.coverage, 0.4));
    }

    #[test]
    fn averages_over_users_with_truth() {
        // u0: recs [3,1,7,9], T={1,9,4}: P .5, R 2/3, nDCG (1/lg3+1/lg5)/(1+1/lg3+1/2), AP 1/3, hit
        // u1: recs [5,6] (short), T={6}: P = 1/4 (still / k), R = 1,
        //     nDCG = (1/lg3)/1, AP = P@2/min(1,4) = 1/2, hit
        // u2: recs [2], T={8}: all 0
        // u3: recs [0], T={}: skipped, item 0 not in coverage
        // coverage = |{3,1,7,9,5,6,2}| / 10 = 0.7
        let recs = vec![vec![3, 1, 7, 9], vec![5, 6], vec![2], vec![0]];
        let truth: Vec<&[u32]> = vec![&[1, 9, 4], &[6], &[8], &[]];
        let m = metrics_from_lists(&recs, &truth, 4, 10).unwrap();
        let n0 = (1.0 / lg(3.0) + 1.0 / lg(5.0)) / (1.0 + 1.0 / lg(3.0) + 0.5);
        let n1 = 1.0 / lg(3.0);
        assert_eq!(m.users, 3);
        assert!(close(m.precision, (0.5 + 0.25 + 0.0) / 3.0)); // 0.25
        assert!(close(m.recall, (2.0 / 3.0 + 1.0) / 3.0)); // 5/9
        assert!(close(m.ndcg, (n0 + n1) / 3.0));
        assert!(close(m.map, (1.0 / 3.0 + 0.5) / 3.0)); // 5/18
        assert!(close(m.hit_rate, 2.0 / 3.0));
        assert!(close(m.coverage, 0.7));
    }

    #[test]
    fn cutoff_truncates_lists() {
        // recs [1,2,3], T={3}: k=2 sees [1,2] → no hit, coverage 2/5.
        let m = metrics_from_lists(&[vec![1, 2, 3]], &[&[3]], 2, 5).unwrap();
        assert_eq!(
            (m.precision, m.recall, m.ndcg, m.map, m.hit_rate),
            (0.0, 0.0, 0.0, 0.0, 0.0)
        );
        assert!(close(m.coverage, 0.4));
        // k=3: P = 1/3, R = 1, DCG = 1/log2(4) = 0.5, IDCG = 1 → nDCG 0.5, AP = (1/3)/1.
        let m = metrics_from_lists(&[vec![1, 2, 3]], &[&[3]], 3, 5).unwrap();
        assert!(close(m.precision, 1.0 / 3.0));
        assert!(close(m.recall, 1.0));
        assert!(close(m.ndcg, 0.5));
        assert!(close(m.map, 1.0 / 3.0));
    }

    #[test]
    fn truth_larger_than_k() {
        // recs [1,2], T={1..5}, k=2: P = 1, R = 2/5,
        // DCG = IDCG = 1 + 1/log2(3) (min(5,2)=2 ideal hits) → nDCG 1, AP = (1 + 1)/2 = 1.
        let m = metrics_from_lists(&[vec![1, 2]], &[&[1, 2, 3, 4, 5]], 2, 6).unwrap();
        assert!(close(m.precision, 1.0));
        assert!(close(m.recall, 0.4));
        assert!(close(m.ndcg, 1.0));
        assert!(close(m.map, 1.0));
        // Huge k with short lists: P = 2/1000, R = 2/5, IDCG over min(5,1000) = 5 hits.
        let m = metrics_from_lists(&[vec![1, 2]], &[&[1, 2, 3, 4, 5]], 1000, 6).unwrap();
        let idcg: f64 = (1..=5).map(|i| 1.0 / lg(i as f64 + 1.0)).sum();
        assert!(close(m.precision, 0.002));
        assert!(close(m.ndcg, (1.0 + 1.0 / lg(3.0)) / idcg));
        assert!(close(m.map, 2.0 / 5.0)); // (1/1 + 2/2) / min(5,1000)
    }

    #[test]
    fn duplicates_count_once() {
        // recs [1,1,2], T={1,2}, k=3: rel = [1,0,1], hits 2.
        // P = 2/3, R = 1, DCG = 1 + 1/log2(4) = 1.5, IDCG = 1 + 1/log2(3),
        // AP = (P@1 + P@3)/2 = (1 + 2/3)/2 = 5/6. Coverage 2/4.
        // Truth duplicates [2,1,1] are the set {1,2}.
        let m = metrics_from_lists(&[vec![1, 1, 2]], &[&[2, 1, 1]], 3, 4).unwrap();
        assert!(close(m.precision, 2.0 / 3.0));
        assert!(close(m.recall, 1.0));
        assert!(close(m.ndcg, 1.5 / (1.0 + 1.0 / lg(3.0))));
        assert!(close(m.map, 5.0 / 6.0));
        assert!(close(m.coverage, 0.5));
    }

    #[test]
    fn metric_bad_inputs() {
        let ok = [vec![1u32]];
        assert!(matches!(
            metrics_from_lists(&ok, &[&[1]], 0, 5),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            metrics_from_lists(&ok, &[&[1]], 1, 0),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            metrics_from_lists(&ok, &[&[1], &[2]], 1, 5),
            Err(Error::ShapeMismatch(_))
        ));
        assert!(matches!(
            metrics_from_lists(&[vec![7]], &[&[1]], 1, 5),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            metrics_from_lists(&ok, &[&[9]], 1, 5),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            metrics_from_lists(&ok, &[&[]], 1, 5),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            metrics_from_lists(&[], &[], 3, 5),
            Err(Error::InvalidInput(_))
        ));
        // Out-of-range items beyond the cut-off are ignored; usize::MAX k is fine.
        assert!(metrics_from_lists(&[vec![1, 99]], &[&[1]], 1, 5).is_ok());
        assert!(metrics_from_lists(&[vec![1, 2]], &[&[1]], usize::MAX, 5).is_ok());
    }

    #[test]
    fn serde_roundtrip() {
        let m = metrics_from_lists(&[vec![3, 1, 7, 9]], &[&[1, 9, 4]], 4, 10).unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert!(
            json.contains("\"precision\":0.5") && json.contains("\"users\":1"),
            "{json}"
        );
        let back: RankingMetrics = serde_json::from_str(&json).unwrap();
        // serde_json's default float parser may differ in the last ulp.
        assert_eq!(
            (back.k, back.users, back.precision, back.map),
            (m.k, m.users, m.precision, m.map)
        );
        assert!(close(back.ndcg, m.ndcg) && close(back.recall, m.recall));
    }

    // ---- splits ---------------------------------------------------------

    fn check_partition(data: &Interactions, train: &Interactions, test: &Interactions) {
        assert_eq!(
            (train.n_users(), train.n_items()),
            (data.n_users(), data.n_items())
        );
        assert_eq!(
            (test.n_users(), test.n_items()),
            (data.n_users(), data.n_items())
        );
        assert!(train.users() == data.users() && test.items() == data.items());
        assert_eq!(train.last_seen().is_some(), data.last_seen().is_some());
        assert_eq!(test.last_seen().is_some(), data.last_seen().is_some());
        let mut all = entries(train);
        all.extend(entries(test));
        all.sort_by_key(|e| (e.0, e.1));
        // Disjoint + union == original (weights and timestamps kept).
        assert_eq!(all, entries(data));
    }

    #[test]
    fn random_split_invariants() {
        let data = sample(300, 50);
        let (train, test) = train_test_split(&data, 0.25, 42).unwrap();
        check_partition(&data, &train, &test);
        for u in 0..data.n_users() {
            let n = data.matrix().row(u).0.len();
            let t = test.matrix().row(u).0.len();
            let expect = if n < 2 {
                0
            } else {
                ((0.25 * n as f64).round() as usize).clamp(1, n - 1)
            };
            assert_eq!(t, expect, "user {u} with {n} items");
            assert_eq!(train.matrix().row(u).0.len(), n - t);
        }
        // Determinism; a different seed gives a different split.
        assert_eq!(
            train_test_split(&data, 0.25, 42).unwrap(),
            (train.clone(), test.clone())
        );
        let (_, other) = train_test_split(&data, 0.25, 43).unwrap();
        assert_ne!(other, test);
    }

    #[test]
    fn random_split_rounding_and_clamp() {
        // One user with 3 items: f=0.5 → round(1.5) = 2; f=0.9 → round(2.7)=3 → clamp 2;
        // f=0.01 → round(0.03)=0 → clamp 1. A user with one item stays in train.
        let data = Interactions::from_coo(2, 4, &[0, 0, 0, 1], &[0, 1, 3, 2], &[1.0; 4]).unwrap();
        for (f, want) in [(0.5, 2), (0.9, 2), (0.01, 1)] {
            let (train, test) = train_test_split(&data, f, 7).unwrap();
            check_partition(&data, &train, &test);
            assert_eq!(test.matrix().row(0).0.len(), want);
            assert!(test.matrix().row(1).0.is_empty());
            assert_eq!(train.matrix().row(1).0, &[2]);
            assert!(test.last_seen().is_none());
        }
    }

    #[test]
    fn random_split_is_roughly_uniform() {
        // One user with 4 items, hold out 1: each item ~25% over many seeds.
        let data = Interactions::from_coo(1, 4, &[0; 4], &[0, 1, 2, 3], &[1.0; 4]).unwrap();
        let mut counts = [0usize; 4];
        for seed in 0..4000 {
            let (_, test) = train_test_split(&data, 0.25, seed).unwrap();
            counts[test.matrix().row(0).0[0] as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn random_split_known_values() {
        // Pins the platform-independent stream: if this changes, splits
        // computed by older versions / other runtimes no longer match.
        let data =
            Interactions::from_coo(1, 10, &[0; 10], &(0..10).collect::<Vec<_>>(), &[1.0; 10])
                .unwrap();
        let (_, test) = train_test_split(&data, 0.3, 2024).unwrap();
        let got = test.matrix().row(0).0.to_vec();
        assert_eq!(got.len(), 3);
        assert_eq!(got, PINNED_2024);
    }

    const PINNED_2024: [u32; 3] = [1, 7, 9];

    #[test]
    fn random_split_bad_inputs() {
        let data = sample(10, 5);
        for f in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(train_test_split(&data, f, 1), Err(Error::InvalidInput(_))),
                "{f}"
            );
        }
    }

    #[test]
    fn leave_k_out_takes_exactly_k_from_users_with_more() {
        let data = sample(300, 50);
        let (train, test) = leave_k_out(&data, 2, 7).unwrap();
        check_partition(&data, &train, &test);
        for u in 0..data.n_users() {
            let n = data.matrix().row(u).0.len();
            let t = test.matrix().row(u).0.len();
            assert_eq!(t, if n > 2 { 2 } else { 0 }, "user {u} with {n} items");
        }
        assert_eq!(leave_k_out(&data, 2, 7).unwrap(), (train, test));
        assert!(matches!(
            leave_k_out(&data, 0, 7),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn empty_data_splits_to_empty() {
        let data = Interactions::from_coo(3, 2, &[], &[], &[]).unwrap();
        let (train, test) = train_test_split(&data, 0.5, 1).unwrap();
        assert_eq!((train.matrix().nnz(), test.matrix().nnz()), (0, 0));
        assert_eq!(test.n_users(), 3);
    }

    #[test]
    fn leave_last_k_out_picks_latest() {
        // u0: items 0..4 at t = [5, 40, 10, 40, 30]; k = 2 → the two latest are
        //     t=40 (items 1 and 3), item 4 (t=30) stays.
        // u1: items 0,1 at t=[1,2] with k=2 → n <= k, all train.
        // u2: items 1,2,3 all at t=7 → tie: higher column (3, 2) is newer.
        let users = [0, 0, 0, 0, 0, 1, 1, 2, 2, 2];
        let items = [0, 1, 2, 3, 4, 0, 1, 1, 2, 3];
        let data = Interactions::from_coo(3, 5, &users, &items, &[1.0; 10])
            .unwrap()
            .with_last_seen(vec![5, 40, 10, 40, 30, 1, 2, 7, 7, 7])
            .unwrap();
        let (train, test) = leave_last_k_out(&data, 2).unwrap();
        check_partition(&data, &train, &test);
        assert_eq!(test.matrix().row(0).0, &[1, 3]);
        assert_eq!(train.matrix().row(0).0, &[0, 2, 4]);
        assert_eq!(test.last_seen().unwrap()[..2], [40, 40]);
        assert!(test.matrix().row(1).0.is_empty());
        assert_eq!(train.matrix().row(1).0, &[0, 1]);
        assert_eq!(test.matrix().row(2).0, &[2, 3]);
        // k = 1 on u0: a single t=40 item, the higher column (3).
        let (_, test) = leave_last_k_out(&data, 1).unwrap();
        assert_eq!(test.matrix().row(0).0, &[3]);
    }

    #[test]
    fn leave_last_k_out_on_sample() {
        let data = sample(200, 40);
        let (train, test) = leave_last_k_out(&data, 3).unwrap();
        check_partition(&data, &train, &test);
        let (trs, tes) = (train.last_seen().unwrap(), test.last_seen().unwrap());
        for u in 0..data.n_users() {
            let n = data.matrix().row(u).0.len();
            let (a, b) = (train.matrix().indptr(), test.matrix().indptr());
            assert_eq!(b[u + 1] - b[u], if n > 3 { 3 } else { 0 });
            let newest_train = (a[u]..a[u + 1])
                .map(|e| (trs[e], train.matrix().indices()[e]))
                .max();
            let oldest_test = (b[u]..b[u + 1])
                .map(|e| (tes[e], test.matrix().indices()[e]))
                .min();
            if let (Some(x), Some(y)) = (newest_train, oldest_test) {
                assert!(x < y, "user {u}");
            }
        }
    }

    #[test]
    fn leave_last_k_out_bad_inputs() {
        let no_ts = Interactions::from_coo(1, 3, &[0, 0], &[0, 1], &[1.0, 1.0]).unwrap();
        assert!(matches!(
            leave_last_k_out(&no_ts, 1),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            leave_last_k_out(&sample(5, 5), 0),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    #[ignore = "timing; run with --release -- --ignored"]
    fn splits_are_fast() {
        let (n_users, per) = (100_000usize, 10usize);
        let rs: Vec<u32> = (0..n_users * per).map(|e| (e / per) as u32).collect();
        let cs: Vec<u32> = (0..n_users * per)
            .map(|e| ((e * 7_919) % 50_000) as u32)
            .collect();
        let data = Interactions::from_coo(n_users, 50_000, &rs, &cs, &vec![1.0; rs.len()]).unwrap();
        let nnz = data.matrix().nnz();
        let data = data.with_last_seen((0..nnz as i64).collect()).unwrap();
        let t = std::time::Instant::now();
        train_test_split(&data, 0.2, 1).unwrap();
        let a = t.elapsed();
        let t = std::time::Instant::now();
        leave_last_k_out(&data, 2).unwrap();
        let b = t.elapsed();
        eprintln!("{nnz} entries: random {a:?}, temporal {b:?}");
        assert!(a.as_secs_f64() < 0.5 && b.as_secs_f64() < 0.5);
    }

    // ---- recommenders ---------------------------------------------------

    #[test]
    fn most_popular_ranks_and_excludes() {
        // Users × items (weights):
        //   u0: i0(1) i1(1)
        //   u1: i1(1) i2(10)
        //   u2: i1(1) i3(1)
        //   u3: —
        // user counts: i0 1, i1 3, i2 1, i3 1, i4 0 → order 1, 0, 2, 3, 4 (ties: lower index)
        // weight sums: i0 1, i1 3, i2 10, i3 1, i4 0 → order 2, 1, 0, 3, 4
        let train = Interactions::from_coo(
            4,
            5,
            &[0, 0, 1, 1, 2, 2],
            &[0, 1, 1, 2, 1, 3],
            &[1.0, 1.0, 1.0, 10.0, 1.0, 1.0],
        )
        .unwrap();
        let pop = MostPopular::fit(&train).unwrap();
        assert_eq!(pop.scores(), &[1.0, 3.0, 1.0, 1.0, 0.0]);
        assert_eq!(pop.ranking(), &[1, 0, 2, 3, 4]);
        let recs = pop.recommend_rows(&[0, 1, 3, 2], 2, &train).unwrap();
        assert_eq!(recs, vec![vec![2, 3], vec![0, 3], vec![1, 0], vec![0, 2]]);
        // Asking for more than remain returns what is left.
        assert_eq!(
            pop.recommend_rows(&[0], 10, &train).unwrap(),
            vec![vec![2, 3, 4]]
        );
        let w = MostPopular::fit_weighted(&train).unwrap();
        assert_eq!(w.ranking(), &[2, 1, 0, 3, 4]);
        assert_eq!(w.recommend_rows(&[1], 1, &train).unwrap(), vec![vec![0]]);
        // Bad inputs.
        assert!(matches!(
            pop.recommend_rows(&[0], 0, &train),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            pop.recommend_rows(&[4], 1, &train),
            Err(Error::InvalidInput(_))
        ));
        let wider = Interactions::from_coo(4, 6, &[0], &[0], &[1.0]).unwrap();
        assert!(matches!(
            pop.recommend_rows(&[0], 1, &wider),
            Err(Error::ShapeMismatch(_))
        ));
        let none = Interactions::from_coo(1, 0, &[], &[], &[]).unwrap();
        assert!(matches!(
            MostPopular::fit(&none),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn ranking_metrics_with_most_popular() {
        // train as in most_popular_ranks_and_excludes; order 1, 0, 2, 3, 4.
        // test: u0 {3}, u3 {1, 4}; u1, u2 have no test items.
        // k = 2: u0 gets [2, 3] → hit at rank 2: P .5, R 1, nDCG 1/log2(3), AP 1/2
        //        u3 gets [1, 0] → hit at rank 1: P .5, R 1/2, nDCG 1/(1+1/log2(3)), AP (1/1)/2
        // coverage = |{2,3,1,0}| / 5 = 0.8
        let train = Interactions::from_coo(
            4,
            5,
            &[0, 0, 1, 1, 2, 2],
            &[0, 1, 1, 2, 1, 3],
            &[1.0, 1.0, 1.0, 10.0, 1.0, 1.0],
        )
        .unwrap();
        let test = Interactions::from_coo(4, 5, &[0, 3, 3], &[3, 1, 4], &[1.0; 3]).unwrap();
        let pop = MostPopular::fit(&train).unwrap();
        let m = ranking_metrics_at_k(&pop, &train, &test, 2).unwrap();
        assert_eq!(m.users, 2);
        assert!(close(m.precision, 0.5));
        assert!(close(m.recall, 0.75));
        assert!(close(
            m.ndcg,
            (1.0 / lg(3.0) + 1.0 / (1.0 + 1.0 / lg(3.0))) / 2.0
        ));
        assert!(close(m.map, 0.5));
        assert!(close(m.hit_rate, 1.0));
        assert!(close(m.coverage, 0.8));
        // Same as the pure computation on the same lists.
        let lists = pop.recommend_rows(&[0, 3], 2, &train).unwrap();
        assert_eq!(
            metrics_from_lists(&lists, &[&[3], &[1, 4]], 2, 5).unwrap(),
            m
        );
        // Works through a trait object too.
        let dynm: &dyn Recommender = &pop;
        assert_eq!(ranking_metrics_at_k(dynm, &train, &test, 2).unwrap(), m);
    }

    struct Fixed(Vec<Vec<u32>>);

    impl Recommender for Fixed {
        fn recommend_rows(
            &self,
            users: &[u32],
            _n: usize,
            _train: &Interactions,
        ) -> Result<Vec<Vec<u32>>> {
            Ok(users
                .iter()
                .filter_map(|&u| self.0.get(u as usize).cloned())
                .collect())
        }
    }

    #[test]
    fn ranking_metrics_bad_inputs() {
        let train = Interactions::from_coo(2, 3, &[0, 1], &[0, 1], &[1.0; 2]).unwrap();
        let test = Interactions::from_coo(2, 3, &[0, 1], &[2, 2], &[1.0; 2]).unwrap();
        let good = Fixed(vec![vec![2], vec![0]]);
        assert!(ranking_metrics_at_k(&good, &train, &test, 1).is_ok());
        assert!(matches!(
            ranking_metrics_at_k(&good, &train, &test, 0),
            Err(Error::InvalidInput(_))
        ));
        // Wrong number of lists; out-of-range item.
        let short = Fixed(vec![vec![2]]);
        assert!(matches!(
            ranking_metrics_at_k(&short, &train, &test, 1),
            Err(Error::ShapeMismatch(_))
        ));
        let wild = Fixed(vec![vec![2], vec![3]]);
        assert!(matches!(
            ranking_metrics_at_k(&wild, &train, &test, 1),
            Err(Error::InvalidInput(_))
        ));
        // Shape and id mismatches; empty test.
        let wide = Interactions::from_coo(2, 4, &[0], &[2], &[1.0]).unwrap();
        assert!(matches!(
            ranking_metrics_at_k(&good, &train, &wide, 1),
            Err(Error::ShapeMismatch(_))
        ));
        let renamed = Interactions::from_csr(
            test.matrix().clone(),
            Some(IdMap::from_ids(["b", "a"]).unwrap()),
            None,
        )
        .unwrap();
        assert!(matches!(
            ranking_metrics_at_k(&good, &train, &renamed, 1),
            Err(Error::InvalidInput(_))
        ));
        let empty = Interactions::from_coo(2, 3, &[], &[], &[]).unwrap();
        assert!(matches!(
            ranking_metrics_at_k(&good, &train, &empty, 1),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn end_to_end_split_and_evaluate() {
        let data = sample(300, 50);
        let (train, test) = train_test_split(&data, 0.2, 9).unwrap();
        let pop = MostPopular::fit(&train).unwrap();
        let m = ranking_metrics_at_k(&pop, &train, &test, 5).unwrap();
        let expected_users = (0..300).filter(|u| u % 13 >= 2).count();
        assert_eq!(m.users, expected_users);
        for v in [m.precision, m.recall, m.ndcg, m.map, m.hit_rate, m.coverage] {
            assert!((0.0..=1.0).contains(&v), "{m:?}");
        }
        // No recommended item may be in the user's train row.
        let recs = pop
            .recommend_rows(&(0..300).collect::<Vec<_>>(), 5, &train)
            .unwrap();
        for (u, list) in recs.iter().enumerate() {
            let have = train.matrix().row(u).0;
            assert!(list.iter().all(|i| have.binary_search(i).is_err()));
        }
    }
}
