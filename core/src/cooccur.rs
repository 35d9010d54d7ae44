//! Item-to-item co-occurrence: "customers who bought this also bought" and
//! "goes well with" placements on product pages and in the cart.
//!
//! Every row of the interaction matrix (a customer's history, or one
//! session/basket when rows are sessions) is a *basket*. Two items
//! co-occur when they share a basket. [`CooccurModel::fit`] counts
//! co-occurrences for every item pair, turns counts into a significance
//! score per [`Weighting`], keeps pairs seen in at least
//! [`CooccurConfig::min_support`] baskets, and stores the best
//! [`CooccurConfig::max_neighbors`] neighbours of each item as a sparse
//! item×item matrix ([`Csr`], row = item, columns = its neighbours).
//!
//! Unlike ALS this needs no training loop and explains itself ("bought
//! together in 37 baskets"), which is what complement placements want:
//! ALS finds *similar* items (other frames), co-occurrence finds
//! *complements* (the lenses and case that go with a frame).
//!
//! # Notation
//!
//! * `N` — number of non-empty baskets (after capping, below).
//! * `n_i` — number of baskets containing item `i`.
//! * `c_ij` — number of baskets containing both `i` and `j`.
//! * `w_ib` — the interaction weight of item `i` in basket `b` (e.g. view 1,
//!   purchase 8 with the default [`KindWeights`](crate::data::KindWeights)).
//!
//! What a basket holds decides what the model finds: fit on purchases only
//! (zero weights for views and clicks in
//! [`KindWeights`](crate::data::KindWeights)) for "bought together"
//! complements; whole browsing histories mostly pair an item with its
//! substitutes (frames with other frames), which ALS already covers.
//!
//! Count, Lift and Cosine use presence only (`c_ij`, `n_i`): "bought
//! together" is about baskets, not about how hard one customer looked.
//! BM25 uses `w_ib` as its term frequency.
//!
//! # Cost bound
//!
//! Counting costs `Σ_b |b|²`. A basket with more than [`MAX_BASKET_ITEMS`]
//! items (a bot, a reseller, a year of heavy browsing) would dominate both
//! the cost and the counts, so it is capped deterministically to its
//! [`MAX_BASKET_ITEMS`] highest-weight items (ties to the lower item index);
//! the rest of that basket is ignored for every weighting.
//!
//! # Determinism
//!
//! Single-threaded, sums in a fixed order in `f64`, ties broken by lower
//! item index: the same data and config give bit-identical models.

use serde::{Deserialize, Serialize};

use crate::data::{Csr, Event, EventKind, Interactions, InteractionsBuilder};
use crate::error::{Error, IdKind, Result};
use crate::ids::IdMap;
use crate::linalg::{partition_best, top_k};
use crate::store::{Component, ModelFile};

/// Baskets with more items than this are cut to their highest-weight
/// `MAX_BASKET_ITEMS` items before counting (see the module docs).
pub const MAX_BASKET_ITEMS: usize = 200;

/// Largest accepted [`CooccurConfig::max_neighbors`] (keeps memory bounded
/// on bad input).
pub const MAX_NEIGHBORS_LIMIT: usize = 100_000;

/// How a co-occurrence count becomes a score (notation in the
/// [module docs](self)). All scores are `>= 0`; higher is better.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Weighting {
    /// `c_ij`: raw number of shared baskets. Favours best-sellers, which is
    /// right for "popular with this" and wrong for "specific to this".
    Count,
    /// `c_ij · N / (n_i · n_j)`: how many times more often the pair shares a
    /// basket than if the two items were independent (1 = chance). Strongly
    /// favours niche complements, so pair it with a `min_support` above 1.
    Lift,
    /// `c_ij / √(n_i · n_j)` (Ochiai / binary cosine): between Count and Lift.
    Cosine,
    /// BM25 as in implicit's `bm25_weight`, applied to the item×basket
    /// matrix (items are the documents, baskets the terms), then cosine
    /// similarity between item rows:
    ///
    /// ```text
    /// idf_b  = max(0, ln D − ln(1 + |b|))          D = items in ≥ 1 basket
    /// L_i    = (1 − b) + b · W_i / mean(W)          W_i = Σ_b w_ib
    /// x_ib   = w_ib · (k1 + 1) / (k1 · L_i + w_ib) · idf_b
    /// s_ij   = Σ_b x_ib x_jb / (‖x_i‖ · ‖x_j‖)
    /// ```
    ///
    /// Large baskets (low idf) count less. Cosine is scale-invariant per
    /// item, so when every weight is the same (binary data) `k1` and `b`
    /// cancel and this is an idf-weighted cosine; they matter when weights
    /// differ (a purchase saturates sooner with a small `k1`).
    Bm25 {
        /// Term-frequency saturation, `>= 0` (implicit uses 100 on counts;
        /// 1.2 suits event weights of 1–8).
        #[serde(default = "default_k1")]
        k1: f32,
        /// Length normalisation in `[0, 1]`.
        #[serde(default = "default_b")]
        b: f32,
    },
}

fn default_k1() -> f32 {
    1.2
}

fn default_b() -> f32 {
    0.75
}

impl Default for Weighting {
    /// BM25 with `k1 = 1.2`, `b = 0.75`: it discounts huge baskets and, unlike
    /// Count, does not recommend the best-seller next to everything.
    fn default() -> Self {
        Weighting::Bm25 {
            k1: default_k1(),
            b: default_b(),
        }
    }
}

/// Settings of [`CooccurModel::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CooccurConfig {
    /// How counts become scores.
    pub weighting: Weighting,
    /// A pair must share at least this many baskets to be kept (`>= 1`);
    /// one shared basket is usually coincidence.
    pub min_support: u32,
    /// Neighbours kept per item (`1..=`[`MAX_NEIGHBORS_LIMIT`]); bounds the
    /// model size at `n_items · max_neighbors` entries.
    pub max_neighbors: usize,
}

impl Default for CooccurConfig {
    fn default() -> Self {
        CooccurConfig {
            weighting: Weighting::default(),
            min_support: 2,
            max_neighbors: 100,
        }
    }
}

impl CooccurConfig {
    /// Checks every field; [`CooccurModel::fit`] calls this first.
    pub fn validate(&self) -> Result<()> {
        if self.min_support == 0 {
            return Err(Error::config("min_support", "must be >= 1, got 0"));
        }
        if self.max_neighbors == 0 || self.max_neighbors > MAX_NEIGHBORS_LIMIT {
            return Err(Error::config(
                "max_neighbors",
                format!(
                    "must be in 1..={MAX_NEIGHBORS_LIMIT}, got {}",
                    self.max_neighbors
                ),
            ));
        }
        if let Weighting::Bm25 { k1, b } = self.weighting {
            if !k1.is_finite() || k1 < 0.0 {
                return Err(Error::config(
                    "weighting.k1",
                    format!("must be finite and >= 0, got {k1}"),
                ));
            }
            if !b.is_finite() || !(0.0..=1.0).contains(&b) {
                return Err(Error::config(
                    "weighting.b",
                    format!("must be in [0, 1], got {b}"),
                ));
            }
        }
        Ok(())
    }
}

/// A fitted co-occurrence model: for every item, its best neighbours and
/// their scores.
#[derive(Debug, Clone, PartialEq)]
pub struct CooccurModel {
    config: CooccurConfig,
    items: IdMap,
    /// item × item; row `i` holds the kept neighbours of `i` (never `i`
    /// itself), columns sorted by index as [`Csr`] requires.
    neighbors: Csr,
}

/// One basket entry: item index and its interaction weight.
type Entry = (u32, f64);

/// "Bought together" baskets from events: the purchases of one visit (an
/// event's `session`, else its user) form a row; columns are `items` (e.g.
/// the catalog's ids), and a purchase of another item is an error. Not
/// "browsed together", nor "bought by the same customer over a year".
pub fn purchase_baskets<'a>(
    items: &IdMap,
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<Interactions> {
    let mut baskets = InteractionsBuilder::new().items(items.clone());
    for e in events.into_iter().filter(|e| e.kind == EventKind::Purchase) {
        baskets.add(e.session.as_deref().unwrap_or(&e.user), &e.item, 1.0)?;
    }
    baskets.build()
}

impl CooccurModel {
    /// Fits on `data`, treating every row as one basket (see the
    /// [module docs](self) for the scores and the basket cap).
    ///
    /// Errors: an invalid config ([`Error::Config`]) or data without any
    /// non-zero interaction ([`Error::InvalidInput`]).
    pub fn fit(config: &CooccurConfig, data: &Interactions) -> Result<Self> {
        config.validate()?;
        let matrix = data.matrix().without_zeros();
        let n_items = data.n_items();
        if matrix.nnz() == 0 || n_items == 0 {
            return Err(Error::invalid("interactions are empty: nothing co-occurs"));
        }
        let baskets = capped_baskets(&matrix);

        // Item → baskets containing it, in basket order (for a fixed sum order).
        let mut item_baskets: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n_items];
        for (b, basket) in baskets.iter().enumerate() {
            for &(i, w) in basket {
                item_baskets[i as usize].push((b as u32, w));
            }
        }
        let n_baskets = baskets.iter().filter(|b| !b.is_empty()).count() as f64;
        let freq: Vec<f64> = item_baskets.iter().map(|v| v.len() as f64).collect();

        // BM25: the per-entry weights x_ib replace w_ib, plus each item's norm.
        let x = match config.weighting {
            Weighting::Bm25 { k1, b } => Some(bm25(&baskets, &item_baskets, k1.into(), b.into())),
            _ => None,
        };
        let (baskets, norms) = match &x {
            Some((xb, norms)) => (xb, norms.as_slice()),
            None => (&baskets, &[][..]),
        };
        let item_x: Vec<Vec<(u32, f64)>> = match &x {
            Some(_) => {
                let mut v: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n_items];
                for (b, basket) in baskets.iter().enumerate() {
                    for &(i, xv) in basket {
                        v[i as usize].push((b as u32, xv));
                    }
                }
                v
            }
            None => item_baskets,
        };

        // Dense accumulators reused for every item; `touched` lists the
        // columns to read and reset, so each item costs Σ_{b∋i} |b|.
        let mut count = vec![0u32; n_items];
        let mut dot = vec![0f64; n_items];
        let mut touched: Vec<u32> = Vec::new();
        let mut buf = Vec::new();
        let mut indptr = Vec::with_capacity(n_items + 1);
        let mut indices = Vec::new();
        let mut values = Vec::new();
        indptr.push(0);
        for i in 0..n_items {
            for &(b, xi) in &item_x[i] {
                for &(j, xj) in &baskets[b as usize] {
                    if j as usize == i {
                        continue;
                    }
                    if count[j as usize] == 0 {
                        touched.push(j);
                    }
                    count[j as usize] += 1;
                    dot[j as usize] += xi * xj;
                }
            }
            let scored = touched.iter().filter_map(|&j| {
                let ju = j as usize;
                let c = count[ju];
                if c < config.min_support {
                    return None;
                }
                let c = f64::from(c);
                let s = match config.weighting {
                    Weighting::Count => c,
                    Weighting::Lift => c * n_baskets / (freq[i] * freq[ju]),
                    Weighting::Cosine => c / (freq[i] * freq[ju]).sqrt(),
                    Weighting::Bm25 { .. } => {
                        let d = norms[i] * norms[ju];
                        if d > 0.0 {
                            dot[ju] / d
                        } else {
                            0.0
                        }
                    }
                } as f32;
                // Zero means "no evidence" (e.g. only idf-0 baskets shared).
                (s.is_finite() && s > 0.0).then_some((j, s))
            });
            let mut best = top_k(scored, config.max_neighbors, &mut buf);
            best.sort_unstable_by_key(|e| e.0);
            for (j, s) in best {
                indices.push(j);
                values.push(s);
            }
            indptr.push(indices.len());
            for &j in &touched {
                count[j as usize] = 0;
                dot[j as usize] = 0.0;
            }
            touched.clear();
        }
        let neighbors = Csr::from_parts(n_items, n_items, indptr, indices, values)?;
        Ok(CooccurModel {
            config: config.clone(),
            items: data.items().clone(),
            neighbors,
        })
    }

    /// The config the model was fitted with.
    pub fn config(&self) -> &CooccurConfig {
        &self.config
    }

    /// The item id map (index ↔ string id).
    pub fn items(&self) -> &IdMap {
        &self.items
    }

    /// Number of items (rows of [`neighbors`](Self::neighbors)).
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// The item×item neighbour matrix: row `i` holds the kept neighbours of
    /// item `i` and their scores, columns in index order.
    pub fn neighbors(&self) -> &Csr {
        &self.neighbors
    }

    /// The `n` best neighbours of `item`, best first (ties to the lower
    /// index), never `item` itself. An item with no kept pair gives an
    /// empty list.
    pub fn similar_items(&self, item: u32, n: usize) -> Result<Vec<(u32, f32)>> {
        check_n(n)?;
        self.check_index("item", item)?;
        let (cols, vals) = self.neighbors.row(item as usize);
        let mut buf = Vec::new();
        Ok(top_k(
            cols.iter().copied().zip(vals.iter().copied()),
            n,
            &mut buf,
        ))
    }

    /// Items that go with a set of context items (a cart, or the product on
    /// the page): `score_j = Σ_c weights[c] · s(items[c], j)`, best first,
    /// leaving out the context items and `exclude` (e.g. already owned).
    /// Only items with a positive score are returned, so the list can be
    /// shorter than `n`.
    ///
    /// Errors: `n = 0`, empty `items`, `items`/`weights` of different
    /// lengths, a weight that is NaN, infinite or negative, or an index out
    /// of range in `items` or `exclude`.
    pub fn recommend_for_items(
        &self,
        items: &[u32],
        weights: &[f32],
        n: usize,
        exclude: &[u32],
    ) -> Result<Vec<(u32, f32)>> {
        Ok(self
            .recommend_for_items_where(items, weights, n, exclude, &|_| true)?
            .into_iter()
            .map(|(j, s, _)| (j, s))
            .collect())
    }

    /// [`recommend_for_items`](Self::recommend_for_items) restricted to
    /// items `keep` accepts (so `n` results come back whenever that many
    /// qualify), each with the context item that contributed most to its
    /// score (the "goes well with" of an explanation).
    pub fn recommend_for_items_where(
        &self,
        items: &[u32],
        weights: &[f32],
        n: usize,
        exclude: &[u32],
        keep: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<(u32, f32, u32)>> {
        check_n(n)?;
        if items.is_empty() {
            return Err(Error::invalid("items must not be empty"));
        }
        if items.len() != weights.len() {
            return Err(Error::shape(format!(
                "items ({}) and weights ({}) must have equal length",
                items.len(),
                weights.len()
            )));
        }
        if let Some(w) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(Error::invalid(format!(
                "weights must be finite and >= 0, got {w}"
            )));
        }
        for &i in items {
            self.check_index("items", i)?;
        }
        for &i in exclude {
            self.check_index("exclude", i)?;
        }
        // Sparse accumulation: the neighbour lists are short, a dense
        // n_items vector per call would dominate on big catalogs.
        let mut parts: Vec<(u32, f32, u32)> = Vec::new();
        for (&c, &w) in items.iter().zip(weights) {
            let (cols, vals) = self.neighbors.row(c as usize);
            parts.extend(cols.iter().zip(vals).map(|(&j, &s)| (j, w * s, c)));
        }
        // Stable sort keeps the context order within a column: a fixed sum order.
        parts.sort_by_key(|e| e.0);
        let mut skip: Vec<u32> = items.iter().chain(exclude).copied().collect();
        skip.sort_unstable();
        // (item, score, best contributor, its contribution)
        let mut merged: Vec<(u32, f32, u32, f32)> = Vec::new();
        for (j, s, c) in parts {
            match merged.last_mut() {
                Some(last) if last.0 == j => {
                    last.1 += s;
                    if s > last.3 {
                        (last.2, last.3) = (c, s);
                    }
                }
                _ => merged.push((j, s, c, s)),
            }
        }
        let candidates = merged
            .iter()
            .filter(|m| {
                m.1 > 0.0 && m.1.is_finite() && skip.binary_search(&m.0).is_err() && keep(m.0)
            })
            .map(|m| (m.0, m.1));
        let best = top_k(candidates, n, &mut Vec::new());
        Ok(best
            .into_iter()
            .map(|(j, s)| {
                let at = merged.partition_point(|m| m.0 < j);
                (j, s, merged[at].2)
            })
            .collect())
    }

    /// [`similar_items`](Self::similar_items) by string id.
    pub fn similar_items_by_id(&self, item: &str, n: usize) -> Result<Vec<(String, f32)>> {
        let i = self.items.index_of(item, IdKind::Item)?;
        Ok(self.named(self.similar_items(i, n)?))
    }

    /// [`recommend_for_items`](Self::recommend_for_items) by string id.
    /// An unknown context item is an [`Error::UnknownId`]; unknown ids in
    /// `exclude` are ignored (the model cannot recommend them anyway).
    pub fn recommend_for_items_by_id<S: AsRef<str>, T: AsRef<str>>(
        &self,
        items: &[S],
        weights: &[f32],
        n: usize,
        exclude: &[T],
    ) -> Result<Vec<(String, f32)>> {
        let idx = items
            .iter()
            .map(|s| self.items.index_of(s.as_ref(), IdKind::Item))
            .collect::<Result<Vec<_>>>()?;
        let ex: Vec<u32> = exclude
            .iter()
            .filter_map(|s| self.items.get(s.as_ref()))
            .collect();
        Ok(self.named(self.recommend_for_items(&idx, weights, n, &ex)?))
    }

    fn named(&self, recs: Vec<(u32, f32)>) -> Vec<(String, f32)> {
        recs.into_iter()
            .map(|(i, s)| (self.items.id(i).unwrap_or_default().to_owned(), s))
            .collect()
    }

    fn check_index(&self, what: &str, i: u32) -> Result<()> {
        if (i as usize) < self.n_items() {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "{what}: index {i} out of range for {} items",
                self.n_items()
            )))
        }
    }
}

impl Component for CooccurModel {
    /// Writes the component into `file` under the `cooccur.` prefix: meta
    /// `"cooccur": {"config": …}`, its own id map `cooccur.items` (so it
    /// never depends on, or clashes with, the ALS `ids.items`) and the
    /// neighbour matrix `cooccur.neighbors.{indptr,indices,data}`.
    fn write_to(&self, file: &mut ModelFile) -> Result<()> {
        file.set_meta("cooccur", serde_json::json!({ "config": self.config }));
        file.put_ids("cooccur.items", &self.items)?;
        file.put_csr("cooccur.neighbors", &self.neighbors)
    }

    /// Reads the component written by [`write_to`](Self::write_to),
    /// validating config, shapes and values ([`Error::ModelFormat`] when
    /// anything is off).
    fn read_from(file: &ModelFile) -> Result<Self> {
        let config: CooccurConfig = file.component_config("cooccur", CooccurConfig::validate)?;
        let items = file.ids("cooccur.items")?;
        let neighbors = file.csr("cooccur.neighbors", items.len())?;
        if neighbors.n_rows() != items.len() {
            return Err(Error::format(format!(
                "cooccur.neighbors has {} rows for {} items",
                neighbors.n_rows(),
                items.len()
            )));
        }
        for r in 0..neighbors.n_rows() {
            let (cols, _) = neighbors.row(r);
            if cols.binary_search(&(r as u32)).is_ok() {
                return Err(Error::format(format!(
                    "cooccur.neighbors: item {r} lists itself"
                )));
            }
        }
        Ok(CooccurModel {
            config,
            items,
            neighbors,
        })
    }
}

fn check_n(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("n must be >= 1"));
    }
    Ok(())
}

/// Every row as a basket of `(item, weight)` in item order, cut to its
/// [`MAX_BASKET_ITEMS`] highest-weight items.
fn capped_baskets(m: &Csr) -> Vec<Vec<Entry>> {
    (0..m.n_rows())
        .map(|r| {
            let (cols, vals) = m.row(r);
            let mut basket: Vec<Entry> = cols
                .iter()
                .zip(vals)
                .map(|(&c, &v)| (c, f64::from(v)))
                .collect();
            if basket.len() > MAX_BASKET_ITEMS {
                // Weights are finite (checked by Csr), so total_cmp is a plain order.
                partition_best(&mut basket, MAX_BASKET_ITEMS, |a, b| {
                    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
                });
                basket.truncate(MAX_BASKET_ITEMS);
                basket.sort_by_key(|e| e.0);
            }
            basket
        })
        .collect()
}

/// BM25 weights `x_ib` per basket (same layout as `baskets`) and the norm
/// `‖x_i‖` of every item (formulas on [`Weighting::Bm25`]).
fn bm25(
    baskets: &[Vec<Entry>],
    item_baskets: &[Vec<Entry>],
    k1: f64,
    b: f64,
) -> (Vec<Vec<Entry>>, Vec<f64>) {
    let totals: Vec<f64> = item_baskets
        .iter()
        .map(|v| v.iter().map(|e| e.1).sum())
        .collect();
    let docs = item_baskets.iter().filter(|v| !v.is_empty()).count();
    let mean = if docs > 0 {
        totals.iter().sum::<f64>() / docs as f64
    } else {
        0.0
    };
    let ln_docs = (docs.max(1) as f64).ln();
    let mut norms = vec![0f64; item_baskets.len()];
    let x: Vec<Vec<Entry>> = baskets
        .iter()
        .map(|basket| {
            let idf = (ln_docs - (1.0 + basket.len() as f64).ln()).max(0.0);
            basket
                .iter()
                .map(|&(i, w)| {
                    let len = if mean > 0.0 {
                        (1.0 - b) + b * totals[i as usize] / mean
                    } else {
                        1.0
                    };
                    let denom = k1 * len + w;
                    let tf = if denom > 0.0 {
                        w * (k1 + 1.0) / denom
                    } else {
                        0.0
                    };
                    let xv = tf * idf;
                    norms[i as usize] += xv * xv;
                    (i, xv)
                })
                .collect()
        })
        .collect();
    for n in &mut norms {
        *n = n.sqrt();
    }
    (x, norms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchase_baskets_are_visits() {
        let items = IdMap::from_ids(["frame", "lens", "case"]).unwrap();
        let ev = |user: &str, session: Option<&str>, item: &str, kind| Event {
            session: session.map(str::to_owned),
            ..Event::new(user, item, kind, 1)
        };
        let events = [
            ev("ann", Some("v1"), "frame", EventKind::Purchase),
            ev("ann", Some("v1"), "lens", EventKind::Purchase),
            ev("ann", Some("v2"), "case", EventKind::Purchase),
            ev("bob", None, "lens", EventKind::Purchase),
            ev("bob", None, "frame", EventKind::View),
        ];
        let b = purchase_baskets(&items, &events).unwrap();
        assert_eq!(b.users().ids(), ["v1", "v2", "bob"]);
        assert_eq!(b.matrix().row(0).0, [0, 1]);
        assert_eq!(b.matrix().row(2).0, [1]); // the view is not a purchase
        let other = [ev("cy", None, "hat", EventKind::Purchase)];
        assert!(matches!(
            purchase_baskets(&items, &other),
            Err(Error::UnknownId { .. })
        ));
    }

    /// frame=0, lens=1, case=2, cloth=3, contacts=4, solution=5.
    const BASKETS: &[&[&str]] = &[
        &["frame", "lens", "case"],
        &["frame", "lens"],
        &["frame", "lens", "cloth"],
        &["contacts", "solution"],
        &["contacts", "solution", "case"],
        &["frame", "case"],
        &["contacts", "solution"],
    ];

    fn shop() -> Interactions {
        let mut b = InteractionsBuilder::new();
        for (u, basket) in BASKETS.iter().enumerate() {
            for item in *basket {
                b.add(&format!("u{u}"), item, 1.0).unwrap();
            }
        }
        b.build().unwrap()
    }

    fn cfg(weighting: Weighting, min_support: u32) -> CooccurConfig {
        CooccurConfig {
            weighting,
            min_support,
            max_neighbors: 100,
        }
    }

    fn score(m: &CooccurModel, a: &str, b: &str) -> Option<f32> {
        let (i, j) = (m.items().get(a).unwrap(), m.items().get(b).unwrap());
        let (cols, vals) = m.neighbors().row(i as usize);
        cols.iter().position(|&c| c == j).map(|p| vals[p])
    }

    fn close(a: f32, b: f64) -> bool {
        (f64::from(a) - b).abs() < 1e-5 * b.abs().max(1.0)
    }

    #[test]
    fn counts_match_brute_force() {
        let data = shop();
        let m = CooccurModel::fit(&cfg(Weighting::Count, 1), &data).unwrap();
        let ids = data.items().ids();
        for a in ids {
            for b in ids {
                let want = BASKETS
                    .iter()
                    .filter(|bk| bk.contains(&a.as_str()) && bk.contains(&b.as_str()))
                    .count();
                let got = if a == b { None } else { score(&m, a, b) };
                match (a == b, want) {
                    (true, _) => assert_eq!(got, None, "no self pair"),
                    (false, 0) => assert_eq!(got, None, "{a}-{b}"),
                    (false, w) => assert_eq!(got, Some(w as f32), "{a}-{b}"),
                }
            }
        }
        assert_eq!(m.similar_items_by_id("frame", 1).unwrap()[0].0, "lens");
        assert_eq!(
            m.similar_items_by_id("contacts", 1).unwrap()[0].0,
            "solution"
        );
    }

    #[test]
    fn min_support_and_max_neighbors_prune() {
        let data = shop();
        let m = CooccurModel::fit(&cfg(Weighting::Count, 2), &data).unwrap();
        assert_eq!(
            m.similar_items_by_id("frame", 10).unwrap(),
            [("lens".to_owned(), 3.0), ("case".to_owned(), 2.0)]
        );
        assert!(m.similar_items_by_id("cloth", 10).unwrap().is_empty());
        let one = CooccurConfig {
            max_neighbors: 1,
            ..cfg(Weighting::Count, 1)
        };
        let m = CooccurModel::fit(&one, &data).unwrap();
        assert_eq!(m.neighbors().row(0).0, &[1]); // frame keeps only lens
        assert!((0..m.n_items()).all(|r| m.neighbors().row(r).0.len() <= 1));
    }

    #[test]
    fn weightings_match_hand_computed_values() {
        let data = shop();
        // N = 7 baskets; n_frame = 4, n_lens = 3, n_case = 3, n_contacts = n_solution = 3.
        let lift = CooccurModel::fit(&cfg(Weighting::Lift, 2), &data).unwrap();
        assert!(close(
            score(&lift, "frame", "lens").unwrap(),
            3.0 * 7.0 / 12.0
        ));
        assert!(close(
            score(&lift, "frame", "case").unwrap(),
            2.0 * 7.0 / 12.0
        ));
        assert!(close(
            score(&lift, "contacts", "solution").unwrap(),
            3.0 * 7.0 / 9.0
        ));

        let cos = CooccurModel::fit(&cfg(Weighting::Cosine, 2), &data).unwrap();
        assert!(close(
            score(&cos, "frame", "lens").unwrap(),
            3.0 / 12f64.sqrt()
        ));
        assert!(close(score(&cos, "contacts", "solution").unwrap(), 1.0));

        // BM25: D = 6 items; idf of a 2-item basket = ln 6 − ln 3 = ln 2, of a
        // 3-item basket ln 6 − ln 4 = ln 1.5. Binary weights: tf cancels.
        let bm = CooccurModel::fit(&cfg(Weighting::default(), 2), &data).unwrap();
        let (a, c) = (1.5f64.ln().powi(2), 2f64.ln().powi(2));
        // frame ∈ {3,2,3,2}-baskets, lens ∈ {3,2,3}, all of lens's baskets shared.
        let fl = (2.0 * a + c) / ((2.0 * a + 2.0 * c) * (2.0 * a + c)).sqrt();
        assert!(close(score(&bm, "frame", "lens").unwrap(), fl));
        // frame & case share u0 (3 items) and u5 (2); case ∈ {3,3,2}.
        let fc = (a + c) / ((2.0 * a + 2.0 * c) * (2.0 * a + c)).sqrt();
        assert!(close(score(&bm, "frame", "case").unwrap(), fc));
        // contacts & solution share all their baskets: cosine 1.
        assert!(close(score(&bm, "contacts", "solution").unwrap(), 1.0));
        assert_eq!(bm.similar_items_by_id("frame", 1).unwrap()[0].0, "lens");
    }

    #[test]
    fn bm25_k1_matters_with_uneven_weights() {
        let mut b = InteractionsBuilder::new();
        for (u, rows) in [
            [("a", 8.0), ("b", 1.0), ("x", 1.0)],
            [("a", 1.0), ("b", 8.0), ("y", 1.0)],
            [("a", 1.0), ("b", 1.0), ("z", 1.0)],
            [("a", 2.0), ("c", 1.0), ("w", 1.0)],
        ]
        .iter()
        .enumerate()
        {
            for (i, w) in rows {
                b.add(&format!("u{u}"), i, *w).unwrap();
            }
        }
        let data = b.build().unwrap();
        let s = |k1| {
            let m = CooccurModel::fit(&cfg(Weighting::Bm25 { k1, b: 0.75 }, 2), &data).unwrap();
            score(&m, "a", "b").unwrap()
        };
        let (lo, hi) = (s(0.1), s(5.0));
        assert!(lo > 0.0 && hi > 0.0 && lo <= 1.0 && hi <= 1.0);
        assert_ne!(lo, hi);
    }

    #[test]
    fn recommend_for_items_sums_and_excludes() {
        let data = shop();
        let m = CooccurModel::fit(&cfg(Weighting::Count, 1), &data).unwrap();
        // Cart {frame, contacts}: case = 2·1 (frame) + 1·1 (contacts) = 3,
        // lens = 3, solution = 3, cloth = 1. Ties go to the lower index.
        let recs = m
            .recommend_for_items_by_id(&["frame", "contacts"], &[1.0, 1.0], 10, &["nope"])
            .unwrap();
        let names: Vec<_> = recs.iter().map(|r| (r.0.as_str(), r.1)).collect();
        assert_eq!(
            names,
            [
                ("lens", 3.0),
                ("case", 3.0),
                ("solution", 3.0),
                ("cloth", 1.0)
            ]
        );
        let recs = m
            .recommend_for_items_by_id(&["frame", "contacts"], &[1.0, 2.0], 2, &["lens"])
            .unwrap();
        assert_eq!(
            recs,
            [("solution".to_owned(), 6.0), ("case".to_owned(), 4.0)]
        );
        // All-zero weights: nothing has evidence.
        assert!(m
            .recommend_for_items(&[0], &[0.0], 5, &[])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn deterministic() {
        let data = shop();
        for w in [
            Weighting::Count,
            Weighting::Lift,
            Weighting::Cosine,
            Weighting::default(),
        ] {
            let a = CooccurModel::fit(&cfg(w, 1), &data).unwrap();
            let b = CooccurModel::fit(&cfg(w, 1), &data).unwrap();
            assert_eq!(a, b);
            assert_eq!(a.to_bytes().unwrap(), b.to_bytes().unwrap());
        }
    }

    #[test]
    fn big_baskets_are_capped_to_highest_weights() {
        let mut b = InteractionsBuilder::new();
        for k in 0..250 {
            b.add("bot", &format!("i{k}"), 1.0 + k as f32).unwrap();
        }
        let data = b.build().unwrap();
        let big = CooccurConfig {
            max_neighbors: 1000,
            ..cfg(Weighting::Count, 1)
        };
        let m = CooccurModel::fit(&big, &data).unwrap();
        // The 50 lightest items (i0..i49) are dropped from the basket.
        assert!(m.similar_items_by_id("i0", 5).unwrap().is_empty());
        assert!(m.similar_items_by_id("i49", 5).unwrap().is_empty());
        assert_eq!(m.neighbors().row(50).0.len(), MAX_BASKET_ITEMS - 1);
        assert_eq!(
            m.similar_items(249, 500).unwrap().len(),
            MAX_BASKET_ITEMS - 1
        );
    }

    #[test]
    fn persistence_round_trip_alone_and_with_als() {
        use crate::als::{AlsConfig, AlsModel};
        let data = shop();
        let m = CooccurModel::fit(&cfg(Weighting::Lift, 1), &data).unwrap();
        let back = CooccurModel::from_bytes(&m.to_bytes().unwrap()).unwrap();
        assert_eq!(back, m);

        let als = AlsModel::fit(
            &AlsConfig {
                factors: 2,
                iterations: 3,
                ..Default::default()
            },
            &data,
        )
        .unwrap();
        let mut f = ModelFile::new();
        als.write_to(&mut f).unwrap();
        m.write_to(&mut f).unwrap();
        let f = ModelFile::from_bytes(&f.to_bytes().unwrap()).unwrap();
        let als_back = AlsModel::read_from(&f).unwrap();
        let co_back = CooccurModel::read_from(&f).unwrap();
        assert_eq!(co_back, m);
        assert_eq!(
            als_back.similar_items(0, 3).unwrap(),
            als.similar_items(0, 3).unwrap()
        );
        assert_eq!(
            co_back.similar_items_by_id("frame", 3).unwrap(),
            m.similar_items_by_id("frame", 3).unwrap()
        );

        // A file without the component, and one with a corrupt config.
        let mut only_als = ModelFile::new();
        als.write_to(&mut only_als).unwrap();
        assert!(matches!(
            CooccurModel::read_from(&only_als),
            Err(Error::ModelFormat(_))
        ));
        let mut bad = f.clone();
        bad.set_meta(
            "cooccur",
            serde_json::json!({"config": {"max_neighbors": 0}}),
        );
        assert!(matches!(
            CooccurModel::read_from(&bad),
            Err(Error::ModelFormat(_))
        ));
    }

    #[test]
    fn config_serde_shape() {
        let c = CooccurConfig::default();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "weighting": {"kind": "bm25", "k1": 1.2f32, "b": 0.75},
                "min_support": 2,
                "max_neighbors": 100
            })
        );
        let back: CooccurConfig =
            serde_json::from_value(serde_json::json!({"weighting": {"kind": "lift"}})).unwrap();
        assert_eq!(back.weighting, Weighting::Lift);
        assert_eq!(back.min_support, 2);
        let bm: Weighting = serde_json::from_value(serde_json::json!({"kind": "bm25"})).unwrap();
        assert_eq!(bm, Weighting::default());
    }

    #[test]
    fn bad_input_gives_typed_errors() {
        let data = shop();
        let bad_cfgs = [
            (cfg(Weighting::Count, 0), "min_support"),
            (
                CooccurConfig {
                    max_neighbors: 0,
                    ..Default::default()
                },
                "max_neighbors",
            ),
            (
                cfg(
                    Weighting::Bm25 {
                        k1: f32::NAN,
                        b: 0.5,
                    },
                    2,
                ),
                "weighting.k1",
            ),
            (cfg(Weighting::Bm25 { k1: 1.0, b: 1.5 }, 2), "weighting.b"),
        ];
        for (c, field) in bad_cfgs {
            match CooccurModel::fit(&c, &data) {
                Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let empty =
            Interactions::from_csr(Csr::from_triplets(2, 3, &[], &[], &[]).unwrap(), None, None)
                .unwrap();
        assert!(matches!(
            CooccurModel::fit(&CooccurConfig::default(), &empty),
            Err(Error::InvalidInput(_))
        ));

        let m = CooccurModel::fit(&cfg(Weighting::Count, 1), &data).unwrap();
        let inv = |r: Result<Vec<(u32, f32)>>| matches!(r, Err(Error::InvalidInput(_)));
        assert!(inv(m.similar_items(0, 0)));
        assert!(inv(m.similar_items(6, 3)));
        assert!(inv(m.recommend_for_items(&[0], &[1.0], 0, &[])));
        assert!(inv(m.recommend_for_items(&[], &[], 3, &[])));
        assert!(inv(m.recommend_for_items(&[0], &[f32::NAN], 3, &[])));
        assert!(inv(m.recommend_for_items(&[0], &[f32::INFINITY], 3, &[])));
        assert!(inv(m.recommend_for_items(&[0], &[-1.0], 3, &[])));
        assert!(inv(m.recommend_for_items(&[99], &[1.0], 3, &[])));
        assert!(inv(m.recommend_for_items(&[0], &[1.0], 3, &[99])));
        assert!(matches!(
            m.recommend_for_items(&[0, 1], &[1.0], 3, &[]),
            Err(Error::ShapeMismatch(_))
        ));
        assert!(matches!(
            m.similar_items_by_id("monocle", 3),
            Err(Error::UnknownId {
                kind: IdKind::Item,
                ..
            })
        ));
        assert!(matches!(
            m.recommend_for_items_by_id(&["frame", "monocle"], &[1.0, 1.0], 3, &[] as &[&str]),
            Err(Error::UnknownId { .. })
        ));
        assert!(matches!(
            CooccurModel::from_bytes(b"not a model"),
            Err(Error::ModelFormat(_))
        ));
    }

    #[test]
    fn demo_data_shows_planted_complements() {
        use crate::data::{AttrValue, KindWeights};
        use crate::demo::{generate, DemoConfig};
        let demo = generate(&DemoConfig::small()).unwrap();
        // Purchases only: "bought together". With views in, a year of
        // browsing makes frames co-occur mostly with other frames (substitutes).
        let purchases = KindWeights {
            view: 0.0,
            click: 0.0,
            add_to_cart: 0.0,
            purchase: 1.0,
            ..Default::default()
        };
        let data = demo.interactions(&purchases).unwrap();
        // Only reusable (monthly) contact lenses need a solution; dailies don't.
        let monthly = |id: &str| {
            demo.catalog.get(id).is_some_and(|it| {
                it.attributes.get("replacement") == Some(&AttrValue::Text("monthly".into()))
            })
        };
        let share = |m: &CooccurModel, keep: &dyn Fn(&str) -> bool, wanted: &[&str]| {
            let (mut hit, mut total) = (0, 0);
            for id in m.items().ids().iter().filter(|id| keep(id)) {
                let top = m.similar_items_by_id(id, 10).unwrap();
                if top.is_empty() {
                    continue;
                }
                total += 1;
                if top
                    .iter()
                    .any(|(j, _)| wanted.iter().any(|w| j.starts_with(w)))
                {
                    hit += 1;
                }
            }
            (hit, total)
        };
        for w in [
            Weighting::Count,
            Weighting::Lift,
            Weighting::Cosine,
            Weighting::default(),
        ] {
            let m = CooccurModel::fit(&cfg(w, 2), &data).unwrap();
            let (cl_hit, cl_total) =
                share(&m, &|id| id.starts_with("CL-") && monthly(id), &["CS-"]);
            let (fr_hit, fr_total) = share(&m, &|id| id.starts_with("FR-"), &["LN-", "CT-"]);
            eprintln!(
                "{w:?}: monthly lenses with a solution in top 10 {cl_hit}/{cl_total}, \
                 frames with a lens or coating {fr_hit}/{fr_total}"
            );
            assert!(
                cl_total > 0 && cl_hit * 5 >= cl_total * 4,
                "{w:?}: {cl_hit}/{cl_total}"
            );
            assert!(
                fr_total > 0 && fr_hit * 4 >= fr_total * 3,
                "{w:?}: {fr_hit}/{fr_total}"
            );
        }
    }
}
