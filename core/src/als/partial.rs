//! Incremental updates and explanations on a trained [`AlsModel`]: exact
//! re-solves of listed users or items on new histories (`partial_fit_*`), and
//! the per-liked-item split of a score (`explain`, `user_weights`).

use super::solve::{scaled_gram, solve_rows, Row, RowScratch, Weighting};
use super::{check_indices, check_n, AlsConfig, AlsModel, Explanation, Solver, UserWeights};
use crate::data::{Csr, CsrRef, Interactions};
use crate::error::{Error, IdKind, Result};
use crate::ids::IdMap;
use crate::linalg::{cholesky_factor, dot, top_k};
use crate::parallel::{install, resolve_threads};

impl AlsModel {
    /// Re-solves the factors of users `users` exactly (Cholesky) on their
    /// new histories `rows` — one row per listed user, one column per item —
    /// against the fixed item factors (implicit's `partial_fit_users`): to
    /// take in changed or new users without a full refit. Indices at or past
    /// [`n_users`](Self::n_users) grow the model to `max + 1` users; rows in
    /// between get zero factors, and every new row the id `"<index>"`. Kept
    /// training interactions get the listed rows replaced, so `recommend`
    /// filtering and saved files see the new histories.
    ///
    /// Errors (and changes nothing) on a shape mismatch, a repeated or
    /// forgotten ([`forget_user`](Self::forget_user)) user, or a new row
    /// whose decimal id is already taken. No users is a no-op.
    pub fn partial_fit_users(&mut self, users: &[u32], rows: CsrRef<'_>) -> Result<()> {
        self.partial_fit_indices(IdKind::User, users, rows)
    }

    /// [`partial_fit_users`](Self::partial_fit_users) by string ids: known
    /// users are refit, unknown ones appended in order. Returns the users'
    /// indices.
    pub fn partial_fit_users_by_id<S: AsRef<str>>(
        &mut self,
        ids: &[S],
        rows: CsrRef<'_>,
    ) -> Result<Vec<u32>> {
        self.partial_fit_ids(IdKind::User, ids, rows)
    }

    /// Re-solves the factors of items `items` exactly on `rows` — one row
    /// per listed item, one column per user — against the fixed user
    /// factors (implicit's `partial_fit_items`): to add new products or
    /// refresh changed ones without a full refit. Growth, ids, errors and
    /// kept interactions (here: the listed columns) as in
    /// [`partial_fit_users`](Self::partial_fit_users).
    pub fn partial_fit_items(&mut self, items: &[u32], rows: CsrRef<'_>) -> Result<()> {
        self.partial_fit_indices(IdKind::Item, items, rows)
    }

    /// [`partial_fit_items`](Self::partial_fit_items) by string ids: known
    /// items are refit, unknown ones appended in order. Returns the items'
    /// indices.
    pub fn partial_fit_items_by_id<S: AsRef<str>>(
        &mut self,
        ids: &[S],
        rows: CsrRef<'_>,
    ) -> Result<Vec<u32>> {
        self.partial_fit_ids(IdKind::Item, ids, rows)
    }

    /// [`partial_fit_users_by_id`](Self::partial_fit_users_by_id) for every
    /// user of `data` (e.g. the day's events built into [`Interactions`]),
    /// its columns matched to this model's items by id: an item the model
    /// does not know is [`Error::UnknownId`] and changes nothing.
    pub fn partial_fit_users_from(&mut self, data: &Interactions) -> Result<Vec<u32>> {
        let m = data.matrix();
        let columns = data
            .items()
            .ids()
            .iter()
            .map(|id| self.items.index_of(id, IdKind::Item))
            .collect::<Result<Vec<u32>>>()?;
        let mut rows = Vec::with_capacity(m.nnz());
        let mut cols = Vec::with_capacity(m.nnz());
        let mut vals = Vec::with_capacity(m.nnz());
        for r in 0..m.n_rows() {
            let (cs, vs) = m.row(r);
            rows.extend(std::iter::repeat_n(r as u32, cs.len()));
            cols.extend(cs.iter().map(|&c| columns[c as usize]));
            vals.extend_from_slice(vs);
        }
        let matrix = Csr::from_triplets(m.n_rows(), self.n_items(), &rows, &cols, &vals)?;
        self.partial_fit_users_by_id(data.users().ids(), matrix.view())
    }

    /// [`explain`](Self::explain) of `item` for `user` by ids, on the
    /// training interactions the model keeps for the user
    /// ([`AlsConfig::store_interactions`]; [`Error::InvalidInput`] without).
    pub fn explain_by_id(&self, user: &str, item: &str, n: usize) -> Result<Explanation> {
        let u = self.users.index_of(user, IdKind::User)?;
        let i = self.items.index_of(item, IdKind::Item)?;
        let stored = self.user_items().ok_or_else(|| {
            Error::invalid("the model keeps no training interactions to explain from")
        })?;
        let (items, weights) = stored.row(u as usize);
        self.explain(items, weights, i, n, None)
    }

    fn side_ids(&self, side: IdKind) -> &IdMap {
        match side {
            IdKind::User => &self.users,
            IdKind::Item => &self.items,
        }
    }

    /// Index form: new rows are named by their decimal index.
    fn partial_fit_indices(
        &mut self,
        side: IdKind,
        targets: &[u32],
        rows: CsrRef<'_>,
    ) -> Result<()> {
        self.partial_fit(side, targets, &|i| i.to_string(), rows)
    }

    /// Id form: unknown ids get the next indices, in order of appearance.
    fn partial_fit_ids<S: AsRef<str>>(
        &mut self,
        side: IdKind,
        ids: &[S],
        rows: CsrRef<'_>,
    ) -> Result<Vec<u32>> {
        let known = self.side_ids(side);
        let n = known.len();
        let mut fresh = IdMap::new();
        let targets = ids
            .iter()
            .map(|id| match known.get(id.as_ref()) {
                Some(i) => Ok(i),
                None => {
                    let i = n + fresh.get_or_insert(id.as_ref())? as usize;
                    u32::try_from(i)
                        .map_err(|_| Error::invalid(format!("more than u32::MAX {side}s")))
                }
            })
            .collect::<Result<Vec<u32>>>()?;
        self.partial_fit(side, &targets, &|i| fresh.ids()[i - n].clone(), rows)?;
        Ok(targets)
    }

    /// The one body of the partial fits: re-solves rows `targets` of `side`
    /// exactly on `rows`, growing `side` to cover every target with new rows
    /// named `name(index)`. Validates and solves everything before changing
    /// anything.
    fn partial_fit(
        &mut self,
        side: IdKind,
        targets: &[u32],
        name: &dyn Fn(usize) -> String,
        rows: CsrRef<'_>,
    ) -> Result<()> {
        let (other_side, n_other) = match side {
            IdKind::User => (IdKind::Item, self.n_items()),
            IdKind::Item => (IdKind::User, self.n_users()),
        };
        if rows.n_rows() != targets.len() || rows.n_cols() != n_other {
            return Err(Error::shape(format!(
                "rows must be {} x {n_other} (one row per {side}, one column per {other_side}), got {} x {}",
                targets.len(),
                rows.n_rows(),
                rows.n_cols()
            )));
        }
        let ids = self.side_ids(side);
        let (n, k) = (ids.len(), self.factors());
        let grown = targets.iter().max().map_or(n, |&m| n.max(m as usize + 1));
        let mut sorted = targets.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            let id = ids
                .id(w[0])
                .map_or_else(|| name(w[0] as usize), str::to_owned);
            return Err(Error::invalid(format!(
                "{side} {id:?} (index {}) listed twice",
                w[0]
            )));
        }
        if let Some(&t) = targets.iter().find(|&&t| ids.is_tombstone(t)) {
            return Err(Error::invalid(format!(
                "{side} index {t} was forgotten and cannot be refit"
            )));
        }
        if targets.is_empty() {
            return Ok(());
        }
        // A wild index must be an error, not an abort (only capacity grows).
        let factors = match side {
            IdKind::User => &mut self.user_factors,
            IdKind::Item => &mut self.item_factors,
        };
        (grown - n)
            .checked_mul(k)
            .and_then(|extra| factors.try_reserve_exact(extra).ok())
            .ok_or_else(|| Error::invalid(format!("not enough memory for {grown} {side}s")))?;
        let names: Vec<String> = (n..grown).map(name).collect();
        if let Some(id) = self.side_ids(side).first_conflict(&names) {
            return Err(Error::invalid(format!(
                "cannot add {side} {id:?}: that id is already taken"
            )));
        }
        // Zeros are "no preference", as in fit: neither solved on nor stored.
        let nonzero = rows.without_zeros();
        let rows = nonzero.as_ref().map_or(rows, Csr::view);
        let solved = self.solve_exactly(side, rows);
        let stored = match (&self.user_items, side) {
            (None, _) => None,
            (Some(ui), IdKind::User) => Some(ui.with_rows(grown, targets, rows)?),
            (Some(ui), IdKind::Item) => {
                Some(ui.transpose().with_rows(grown, targets, rows)?.transpose())
            }
        };
        let (ids, factors) = match side {
            IdKind::User => (&mut self.users, &mut self.user_factors),
            IdKind::Item => (&mut self.items, &mut self.item_factors),
        };
        // Cannot fail (the names were checked above); nothing after it can.
        ids.append(&names)?;
        factors.resize(grown * k, 0.0);
        for (&t, x) in targets.iter().zip(solved.chunks_exact(k)) {
            factors[t as usize * k..(t as usize + 1) * k].copy_from_slice(x);
        }
        if stored.is_some() {
            self.user_items = stored;
        }
        if side == IdKind::Item {
            self.reset_item_caches();
        }
        Ok(())
    }

    /// Exact solves of `rows` (shape already checked) against the other
    /// side's fixed factors; zero weights are ignored.
    pub(super) fn solve_exactly(&self, side: IdKind, rows: CsrRef<'_>) -> Vec<f32> {
        let nonzero = rows.without_zeros();
        let rows = nonzero.as_ref().map_or(rows, Csr::view);
        let mut solved = vec![0f32; rows.n_rows() * self.factors()];
        let exact = AlsConfig {
            solver: Solver::Cholesky,
            ..self.config.clone()
        };
        let user_gram;
        let (other, gram) = match side {
            IdKind::User => (&self.item_factors[..], self.item_gram()),
            IdKind::Item => {
                user_gram = scaled_gram(&self.user_factors, self.n_users(), &self.config);
                (&self.user_factors[..], &user_gram[..])
            }
        };
        install(resolve_threads(self.config.num_threads), || {
            solve_rows(&mut solved, other, rows, gram, &exact)
        });
        solved
    }

    /// The factor of the system matrix `A` of a user with `items` and
    /// `weights` (implicit's `user_weights`), for
    /// [`explain`](Self::explain) calls on several items of one user.
    /// Duplicates are summed and zero weights ignored, as in
    /// [`fold_in`](Self::fold_in).
    pub fn user_weights(&self, items: &[u32], weights: &[f32]) -> Result<UserWeights> {
        self.factor_history(&self.history(items, weights)?)
    }

    fn factor_history(&self, row: &Csr) -> Result<UserWeights> {
        let k = self.factors();
        let (cols, ws) = row.row(0);
        let mut s = RowScratch::new(k);
        Row::new(&self.config, &self.item_factors, self.n_items(), cols, ws)
            .system(self.item_gram(), &mut s);
        if !cholesky_factor(&mut s.a, k) {
            return Err(Error::invalid(
                "the user's system is not positive definite (regularization 0?)",
            ));
        }
        Ok(UserWeights::from_upper(k, &s.a))
    }

    /// Explains the score of `item` for a user with `items` and `weights`
    /// (implicit's `explain`, Hu–Koren–Volinsky §5): the score is a sum of
    /// one term per liked item, and the `n` largest terms say which of the
    /// user's items led to the recommendation. `user_weights` from an
    /// earlier call for the same history (and model) skips the
    /// factorisation; another history's would explain the wrong system.
    /// Duplicates are summed and zero weights ignored, as in
    /// [`fold_in`](Self::fold_in).
    pub fn explain(
        &self,
        items: &[u32],
        weights: &[f32],
        item: u32,
        n: usize,
        user_weights: Option<&UserWeights>,
    ) -> Result<Explanation> {
        check_n(n)?;
        check_indices("item", &[item], self.n_items())?;
        let row = self.history(items, weights)?;
        let k = self.factors();
        let user_weights = match user_weights {
            Some(w) if w.k != k => {
                return Err(Error::shape(format!(
                    "user weights are for {} factors, model has {k}",
                    w.k
                )))
            }
            Some(w) => w.clone(),
            None => self.factor_history(&row)?,
        };
        let y = |j: u32| &self.item_factors[j as usize * k..(j as usize + 1) * k];
        // score = y_iᵀA⁻¹b with b = Σ_j c_j y_j, so with z = A⁻¹y_i (A is
        // symmetric) item j's share is c_j·z·y_j.
        let mut z = y(item).to_vec();
        user_weights.solve(&mut z);
        let (cols, ws) = row.row(0);
        let conf = Weighting::new(&self.config);
        let terms: Vec<f64> = cols
            .iter()
            .zip(ws)
            .map(|(&j, &w)| conf.target(w) as f64 * dot(&z, y(j)) as f64)
            .collect();
        let score = terms.iter().sum::<f64>() as f32;
        if !score.is_finite() {
            return Err(Error::invalid("user weights give a non-finite score"));
        }
        let contributions = top_k(
            cols.iter().zip(&terms).map(|(&j, &t)| (j, t as f32)),
            n,
            &mut Vec::new(),
        );
        Ok(Explanation {
            score,
            contributions,
            user_weights,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cfg, naive_system, planted};
    use super::super::RecommendOptions;
    use super::*;
    use crate::store::Component;
    use std::sync::OnceLock;
    /// A matrix with one row per history and `n_cols` columns.
    fn rows_of(n_cols: usize, histories: &[(&[u32], &[f32])]) -> Csr {
        let (mut r, mut c, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for (p, (cols, ws)) in histories.iter().enumerate() {
            for (&j, &x) in cols.iter().zip(*ws) {
                r.push(p as u32);
                c.push(j);
                w.push(x);
            }
        }
        Csr::from_triplets(histories.len(), n_cols, &r, &c, &w).unwrap()
    }

    /// Everything a failed call must leave as it was.
    fn state(m: &AlsModel) -> (Vec<f32>, Vec<f32>, IdMap, IdMap, Option<Csr>) {
        (
            m.user_factors.clone(),
            m.item_factors.clone(),
            m.users.clone(),
            m.items.clone(),
            m.user_items.clone(),
        )
    }

    /// Rendle et al.'s variant: α₀ ≠ 1 and a per-row regularisation.
    fn rendle(solver: Solver) -> AlsConfig {
        AlsConfig {
            unobserved_weight: 0.3,
            regularization_exponent: 0.5,
            ..cfg(solver)
        }
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn partial_fit_users_solves_like_fold_in() {
        let data = planted();
        for config in [
            cfg(Solver::Cg { steps: 3 }),
            rendle(Solver::Cg { steps: 3 }),
        ] {
            let mut m = AlsModel::fit(&config, &data).unwrap();
            let before = m.clone();
            let u = m.users().get("u3").unwrap();
            let (cols, ws) = m.user_items().unwrap().row(u as usize);
            let (cols, ws) = (cols.to_vec(), ws.to_vec());
            let x = m.fold_in(&cols, &ws).unwrap();
            assert!(
                !close(m.user_vector(u).unwrap(), &x, 1e-5),
                "CG left the user inexact, so the refit is seen"
            );
            m.partial_fit_users(&[u], rows_of(m.n_items(), &[(&cols, &ws)]).view())
                .unwrap();
            assert!(close(m.user_vector(u).unwrap(), &x, 1e-5));
            let o = RecommendOptions::default();
            let got = m.recommend(u, 5, &o).unwrap();
            let want = m
                .recommend_vector(
                    &x,
                    5,
                    &RecommendOptions {
                        liked: Some(&cols),
                        ..o
                    },
                )
                .unwrap();
            assert_eq!(
                got.iter().map(|p| p.0).collect::<Vec<_>>(),
                want.iter().map(|p| p.0).collect::<Vec<_>>()
            );
            assert!(got.iter().zip(&want).all(|(a, b)| (a.1 - b.1).abs() < 1e-5));
            for v in (0..m.n_users() as u32).filter(|&v| v != u) {
                assert_eq!(m.user_vector(v).unwrap(), before.user_vector(v).unwrap());
            }
            assert_eq!(m.item_factors, before.item_factors);
            assert_eq!(m.user_items(), before.user_items());
            assert_eq!(m.users(), before.users());
        }
    }

    #[test]
    fn partial_fit_users_grows_the_model() {
        let mut m = AlsModel::fit(&cfg(Solver::Cholesky), &planted()).unwrap();
        let n = m.n_users() as u32;
        let new = n + 2;
        let (cols, ws) = ([0u32, 2, 4, 6], [1.0f32, 2.0, 1.0, 3.0]);
        let x = m.fold_in(&cols, &ws).unwrap();
        // An explicit zero is "no preference": neither solved on nor stored.
        let row = rows_of(
            m.n_items(),
            &[(&[0, 2, 4, 6, 9], &[1.0, 2.0, 1.0, 3.0, 0.0])],
        );
        m.partial_fit_users(&[new], row.view()).unwrap();
        assert_eq!(m.n_users(), n as usize + 3);
        assert_eq!(m.user_factors().nrows(), m.n_users());
        let ui = m.user_items().unwrap();
        assert_eq!(ui.n_rows(), m.n_users());
        for gap in [n, n + 1] {
            assert!(m.user_vector(gap).unwrap().iter().all(|&v| v == 0.0));
            assert_eq!(m.users().id(gap), Some(gap.to_string().as_str()));
            assert_eq!(ui.row(gap as usize).0.len(), 0);
        }
        assert_eq!(m.users().get(&new.to_string()), Some(new));
        assert_eq!(ui.row(new as usize), (&cols[..], &ws[..]));
        assert!(close(m.user_vector(new).unwrap(), &x, 1e-5));
        let o = RecommendOptions::default();
        let recs = m.recommend(new, 4, &o).unwrap();
        assert_eq!(recs.len(), 4);
        for (i, _) in &recs {
            assert!(!cols.contains(i), "liked item {i} returned");
            assert!(*i < 10, "item {i} outside the new user's group");
        }
        let named = m.recommend_by_id(&new.to_string(), 4, &o).unwrap();
        assert_eq!(named, m.named(recs.clone()));
        let back = AlsModel::from_bytes(&m.to_bytes().unwrap()).unwrap();
        assert_eq!(state(&back), state(&m));
        assert_eq!(back.recommend(new, 4, &o).unwrap(), recs);
        // A lean model (no stored interactions) grows too.
        let mut lean = AlsModel::fit(
            &AlsConfig {
                store_interactions: false,
                ..cfg(Solver::Cholesky)
            },
            &planted(),
        )
        .unwrap();
        lean.partial_fit_users(&[new], row.view()).unwrap();
        assert!(lean.user_items().is_none());
        assert_eq!(lean.user_vector(new).unwrap(), m.user_vector(new).unwrap());
    }

    #[test]
    fn partial_fit_by_id_refits_known_and_appends_unknown() {
        let mut m = AlsModel::fit(&cfg(Solver::Cholesky), &planted()).unwrap();
        let n = m.n_users() as u32;
        let idx = |m: &AlsModel, id: &str| m.users().get(id).unwrap();
        let (u5, u7) = (idx(&m, "u5"), idx(&m, "u7"));
        let hist: [(&[u32], &[f32]); 4] = [
            (&[1, 2], &[1.0, 1.0]),
            (&[11, 12, 13], &[2.0, 1.0, 1.0]),
            (&[3], &[4.0]),
            (&[], &[]),
        ];
        let got = m
            .partial_fit_users_by_id(
                &["u5", "newbie", "u7", "later"],
                rows_of(m.n_items(), &hist).view(),
            )
            .unwrap();
        assert_eq!(got, vec![u5, n, u7, n + 1]);
        assert_eq!(m.n_users(), n as usize + 2);
        assert_eq!(m.users().id(n), Some("newbie"));
        assert_eq!(m.users().id(n + 1), Some("later"));
        for (&u, (cols, ws)) in got.iter().zip(hist) {
            assert!(close(
                m.user_vector(u).unwrap(),
                &m.fold_in(cols, ws).unwrap(),
                1e-5
            ));
            assert_eq!(m.user_items().unwrap().row(u as usize), (cols, ws));
        }
        // Known now: refit in place.
        let again = m
            .partial_fit_users_by_id(&["newbie"], rows_of(m.n_items(), &hist[2..3]).view())
            .unwrap();
        assert_eq!((again, m.n_users()), (vec![n], n as usize + 2));
        // Items by id: a known and a new product.
        let fans = [idx(&m, "u1"), idx(&m, "u2")];
        let cols = rows_of(m.n_users(), &[(&fans, &[1.0, 1.0]), (&fans, &[2.0, 1.0])]);
        let got = m
            .partial_fit_items_by_id(&["i3", "fresh"], cols.view())
            .unwrap();
        assert_eq!(got, vec![3, 20]);
        assert_eq!(m.items().id(20), Some("fresh"));
        assert_eq!(m.user_items().unwrap().n_cols(), 21);
    }

    #[test]
    fn partial_fit_items_adds_a_product_for_one_group() {
        let mut m = AlsModel::fit(&cfg(Solver::Cholesky), &planted()).unwrap();
        // Fill every item cache; the growth must reset them all.
        let (u3, u25) = (m.users().get("u3").unwrap(), m.users().get("u25").unwrap());
        m.fold_in(&[1], &[1.0]).unwrap();
        m.similar_items(0, 3).unwrap();
        m.recommend(u3, 3, &RecommendOptions::default()).unwrap();
        let before = m.clone();
        let new = m.n_items() as u32;
        let fans: Vec<u32> = (0..20)
            .map(|u| m.users().get(&format!("u{u}")).unwrap())
            .collect();
        let row = rows_of(m.n_users(), &[(&fans, &[1.0; 20])]);
        m.partial_fit_items(&[new], row.view()).unwrap();
        assert_eq!(m.n_items(), new as usize + 1);
        assert_eq!(m.items().id(new), Some(new.to_string().as_str()));
        assert_eq!(m.user_factors, before.user_factors);
        let k = m.factors();
        assert_eq!(m.item_factors[..new as usize * k], before.item_factors[..]);
        let scores = |u: u32| {
            let mut s = vec![0f32; m.n_items()];
            m.score_items(m.user_vector(u).unwrap(), &mut s).unwrap();
            s
        };
        let s3 = scores(u3);
        assert!(
            s3[10..20].iter().all(|&s| s < s3[new as usize]),
            "group 0 ranks it above all group-1 items: {s3:?}"
        );
        let s25 = scores(u25);
        assert!(
            s25[10..20].iter().all(|&s| s > s25[new as usize]),
            "group 1 ranks it below all its own items: {s25:?}"
        );
        let ui = m.user_items().unwrap();
        assert_eq!((ui.n_rows(), ui.n_cols()), (m.n_users(), m.n_items()));
        assert!(ui.row(u3 as usize).0.contains(&new));
        assert!(!ui.row(u25 as usize).0.contains(&new));
        assert_eq!(ui.nnz(), before.user_items().unwrap().nnz() + 20);
        let sims = m.similar_items(new, 5).unwrap();
        assert!(sims.iter().all(|&(i, _)| i < 10), "{sims:?}");
        // Nothing stale: a freshly loaded copy answers the same.
        let fresh = AlsModel::from_bytes(&m.to_bytes().unwrap()).unwrap();
        assert_eq!(
            m.fold_in(&[1, 4], &[1.0, 2.0]).unwrap(),
            fresh.fold_in(&[1, 4], &[1.0, 2.0]).unwrap()
        );
        assert_eq!(sims, fresh.similar_items(new, 5).unwrap());
        let o = RecommendOptions::default();
        assert_eq!(
            m.recommend(u25, 5, &o).unwrap(),
            fresh.recommend(u25, 5, &o).unwrap()
        );
        assert_eq!(
            m.similar_items_batch(&[new, 0], 3).unwrap(),
            fresh.similar_items_batch(&[new, 0], 3).unwrap()
        );
        // Refitting an existing item on its own column keeps the stored
        // column and every other item.
        let ciu = m.user_items().unwrap().transpose();
        let (cols, ws) = ciu.row(3);
        m.partial_fit_items(&[3], rows_of(m.n_users(), &[(cols, ws)]).view())
            .unwrap();
        assert_eq!(m.user_items(), fresh.user_items());
        let (y, y0) = (m.item_factors(), fresh.item_factors());
        assert!((0..m.n_items()).all(|i| i == 3 || y.row(i) == y0.row(i)));
        // Trained exactly, item 3 already solved this system.
        let (y3, y03) = (y.row(3).to_vec(), y0.row(3).to_vec());
        assert!(close(&y3, &y03, 1e-6));
    }

    #[test]
    fn failed_partial_fits_change_nothing() {
        let mut m = AlsModel::fit(&cfg(Solver::Cholesky), &planted()).unwrap();
        let one: [(&[u32], &[f32]); 1] = [(&[1], &[1.0])];
        // Index 41 gets the custom id "43", which index 43 would need.
        m.partial_fit_users_by_id(&["43"], rows_of(m.n_items(), &one).view())
            .unwrap();
        let u7 = m.users().get("u7").unwrap();
        assert!(m.forget_user("u7"));
        let before = state(&m);
        let (ni, nu) = (m.n_items(), m.n_users());
        let u3 = m.users().get("u3").unwrap();
        let two = rows_of(ni, &[one[0], one[0]]);
        let err = m
            .partial_fit_users(&[u3, 5, 6], rows_of(ni + 1, &[one[0]; 3]).view())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("shape mismatch: rows must be 3 x {ni} (one row per user, one column per item), got 3 x {}", ni + 1)
        );
        let cases: Vec<(Result<()>, &str)> = vec![
            (m.partial_fit_users(&[u3], two.view()), "got 2 x 20"),
            (m.partial_fit_users(&[u3, u3], two.view()), "\"u3\""),
            (m.partial_fit_users(&[50, 50], two.view()), "\"50\""),
            (
                m.partial_fit_users(&[43], rows_of(ni, &one).view()),
                "\"43\"",
            ),
            (
                m.partial_fit_users(&[u7], rows_of(ni, &one).view()),
                "forgotten",
            ),
            (
                m.partial_fit_users_by_id(&["x", "x"], two.view()).map(drop),
                "\"x\"",
            ),
            (
                m.partial_fit_items(&[2], rows_of(nu + 1, &one).view()),
                "one row per item, one column per user",
            ),
            (
                m.partial_fit_items(&[25, 25], rows_of(nu, &[one[0], one[0]]).view()),
                "\"25\"",
            ),
            (
                m.partial_fit_items_by_id(&["i1", "i1"], rows_of(nu, &[one[0], one[0]]).view())
                    .map(drop),
                "\"i1\"",
            ),
        ];
        for (i, (r, needle)) in cases.into_iter().enumerate() {
            let e = r.expect_err("must fail").to_string();
            assert!(e.contains(needle), "case {i}: {e}");
        }
        assert_eq!(state(&m), before);
        // NaN or negative weights cannot even be put in a CsrRef.
        assert!(CsrRef::new(1, ni, &[0, 1], &[1], &[f32::NAN]).is_err());
        assert!(CsrRef::new(1, ni, &[0, 1], &[1], &[-1.0]).is_err());
        // No users is a no-op.
        m.partial_fit_users(&[], rows_of(ni, &[]).view()).unwrap();
        m.partial_fit_items_by_id::<&str>(&[], rows_of(nu, &[]).view())
            .unwrap();
        assert_eq!(state(&m), before);
    }

    #[test]
    fn explain_splits_the_score_by_liked_item() {
        let data = planted();
        for config in [cfg(Solver::Cholesky), rendle(Solver::Cholesky)] {
            let m = AlsModel::fit(&config, &data).unwrap();
            let k = m.factors();
            // Two liked items per group; a duplicate and a zero weight.
            let (items, ws) = ([0u32, 3, 3, 12, 15, 7], [1.0f32, 0.5, 0.5, 2.0, 1.0, 0.0]);
            let x = m.fold_in(&items, &ws).unwrap();
            let uw = m.user_weights(&items, &ws).unwrap();
            for i in 0..m.n_items() as u32 {
                let e = m.explain(&items, &ws, i, 10, None).unwrap();
                let want = dot(&x, m.item_factors().row(i as usize).as_slice().unwrap());
                let mass: f32 = e.contributions.iter().map(|c| c.1.abs()).sum();
                assert!(
                    (e.score - want).abs() <= 1e-4 * want.abs().max(mass),
                    "item {i}: {} vs {want}",
                    e.score
                );
                assert_eq!(
                    e.contributions
                        .iter()
                        .map(|c| c.0)
                        .collect::<std::collections::BTreeSet<_>>(),
                    [0, 3, 12, 15].into()
                );
                let sum: f32 = e.contributions.iter().map(|c| c.1).sum();
                assert!((sum - e.score).abs() <= 1e-6 * mass.max(1.0));
                assert!(e.contributions.windows(2).all(|w| w[0].1 >= w[1].1));
                assert_eq!(e.user_weights, uw);
                assert_eq!(m.explain(&items, &ws, i, 10, Some(&uw)).unwrap(), e);
            }
            // The factor is L (row-major, lower) with LLᵀ = A.
            let l = uw.factor();
            assert!((0..k).all(|r| (r + 1..k).all(|c| l[r * k + c] == 0.0)));
            let row = m.history(&items, &ws).unwrap();
            let (a, _) = naive_system(&m, row.row(0).0, row.row(0).1);
            for r in 0..k {
                for c in 0..k {
                    let llt: f64 = (0..k)
                        .map(|t| l[r * k + t] as f64 * l[c * k + t] as f64)
                        .sum();
                    let want = a[r * k + c];
                    assert!(
                        (llt - want).abs() < 1e-4 * (1.0 + want.abs()),
                        "{llt} vs {want}"
                    );
                }
            }
            // Handing the factor back (e.g. through a binding).
            assert_eq!(UserWeights::from_factor(k, l.to_vec()).unwrap(), uw);
            let mut upper_junk = l.to_vec();
            upper_junk[1] = f32::NAN;
            assert_eq!(UserWeights::from_factor(k, upper_junk).unwrap(), uw);
            let mut nan = l.to_vec();
            nan[k] = f32::NAN;
            let mut flat = l.to_vec();
            flat[k + 1] = 0.0;
            for (bad, shape) in [
                (UserWeights::from_factor(k, l[1..].to_vec()), true),
                (UserWeights::from_factor(0, Vec::new()), true),
                (UserWeights::from_factor(k, nan), false),
                (UserWeights::from_factor(k, flat), false),
            ] {
                match bad {
                    Err(Error::ShapeMismatch(_)) => assert!(shape),
                    Err(Error::InvalidInput(_)) => assert!(!shape),
                    other => panic!("{other:?}"),
                }
            }
            let small = UserWeights::from_factor(1, vec![1.0]).unwrap();
            assert!(matches!(
                m.explain(&items, &ws, 0, 3, Some(&small)),
                Err(Error::ShapeMismatch(_))
            ));
            assert!(m.explain(&items, &ws, 99, 3, None).is_err());
            assert!(m.explain(&items, &ws, 0, 0, None).is_err());
            assert!(m.explain(&items, &ws[1..], 0, 3, None).is_err());
            assert!(m.user_weights(&[99], &[1.0]).is_err());
            let none = m.explain(&[], &[], 4, 3, None).unwrap();
            assert_eq!((none.score, none.contributions.len()), (0.0, 0));
        }
        // Each group's items are explained by the liked items of that group.
        // (Only with the Rendle config do the groups collapse to one direction
        // each: with cfg's k = 4 and α₀ = 1, item 5 shares a factor with 12.)
        let m = AlsModel::fit(&rendle(Solver::Cholesky), &data).unwrap();
        let (items, ws) = ([0u32, 3, 12, 15], [1.0f32; 4]);
        for (item, group) in [
            (5u32, [0u32, 3]),
            (1, [0, 3]),
            (17, [12, 15]),
            (10, [12, 15]),
        ] {
            let e = m.explain(&items, &ws, item, 2, None).unwrap();
            let mut top: Vec<u32> = e.contributions.iter().map(|c| c.0).collect();
            top.sort_unstable();
            assert_eq!(top, group, "{item}: {e:?}");
        }
    }

    fn rendle_model() -> &'static AlsModel {
        static M: OnceLock<AlsModel> = OnceLock::new();
        M.get_or_init(|| AlsModel::fit(&rendle(Solver::Cg { steps: 3 }), &planted()).unwrap())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn explain_sums_to_the_fold_in_score(
            history in proptest::collection::vec(
                (0u32..20, proptest::prop_oneof![proptest::strategy::Just(0.0f32), 0.0f32..5.0]),
                0..10,
            ),
            item in 0u32..20,
        ) {
            let m = rendle_model();
            let (items, ws): (Vec<u32>, Vec<f32>) = history.into_iter().unzip();
            let x = m.fold_in(&items, &ws).unwrap();
            let want = dot(&x, m.item_factors().row(item as usize).as_slice().unwrap());
            let n = items.len().max(1);
            let e = m.explain(&items, &ws, item, n, None).unwrap();
            let mass: f32 = e.contributions.iter().map(|c| c.1.abs()).sum();
            proptest::prop_assert!(
                (e.score - want).abs() <= 1e-4 * want.abs().max(mass) + 1e-7,
                "{} vs {}", e.score, want
            );
            let sum: f32 = e.contributions.iter().map(|c| c.1).sum();
            proptest::prop_assert!((sum - e.score).abs() <= 1e-6 * mass.max(1.0));
            let distinct: std::collections::BTreeSet<_> =
                items.iter().zip(&ws).filter(|p| *p.1 > 0.0).map(|p| *p.0).collect();
            proptest::prop_assert_eq!(e.contributions.len(), distinct.len());
        }
    }
}
