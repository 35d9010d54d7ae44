//! One interface over every candidate generator, so a ranking pipeline can
//! ask ALS, content similarity, co-occurrence, trending and the live session
//! the same question and blend the answers.
//!
//! Each generator keeps its own item indices (its own [`IdMap`]); a source
//! answers in the indices of a shared *universe* (normally the catalog), so
//! lists from different generators can be merged without string lookups.
//! [`Remap`] translates between the two and is built once per source.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::als::AlsModel;
use crate::cooccur::CooccurModel;
use crate::data::Channel;
use crate::error::{Error, Result};
use crate::ids::IdMap;
use crate::linalg::{dot, top_k_by, top_k_scores_where};
use crate::trending::{TrendingQuery, TrendingStore};

/// Which generator proposed a candidate (the template of its explanation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Collaborative filtering: the user's factors, or a fold-in of the
    /// context items ("customers like you").
    Als,
    /// Attribute / embedding similarity to a context item ("similar frames").
    Content,
    /// Bought or browsed together with a context item ("goes well with").
    Cooccur,
    /// Decayed popularity in the visitor's segment ("popular in your area").
    Popular,
    /// Rising fastest against its own baseline ("trending now").
    TrendingNow,
    /// The visitor's recent browsing ("based on your recent browsing").
    Session,
    /// A marketing promotion or campaign item.
    Promotion,
    /// Pinned to a position by a business rule.
    Pinned,
    /// Filled from the catalog when no popularity data is eligible (the
    /// last resort that keeps lists full).
    Catalog,
    /// A user-supplied source (e.g. an external inventory or CMS lookup).
    External,
}

/// What a source is asked: who, where, in which context, how many.
///
/// Item indices (`context`, `exclude` and those `filter` receives) are in
/// the universe the source was built for.
#[derive(Clone, Copy)]
pub struct Query<'a> {
    /// Known customer id, if any.
    pub user: Option<&'a str>,
    /// Anonymous or browsing-session id, if any.
    pub session: Option<&'a str>,
    /// Context items with weights: the product on the page, the cart, the
    /// recent browsing. Never returned themselves.
    pub context: &'a [(u32, f32)],
    /// Region code of the visitor.
    pub region: Option<&'a str>,
    /// Sales channel.
    pub channel: Option<Channel>,
    /// Restrict popularity to one category.
    pub category: Option<&'a str>,
    /// Current time, Unix seconds (decay and session TTL use it).
    pub now: i64,
    /// Number of candidates wanted (`>= 1`).
    pub n: usize,
    /// Items never to return (owned, in the cart, …).
    pub exclude: &'a [u32],
    /// Only items for which this returns `true` may be returned. Sources
    /// apply it while searching, so `n` results come back whenever `n`
    /// eligible items exist that the source can score.
    pub filter: Option<&'a (dyn Fn(u32) -> bool + Sync)>,
}

impl<'a> Query<'a> {
    /// A query for `n` candidates at time `now` with nothing else set.
    pub fn new(n: usize, now: i64) -> Self {
        Query {
            user: None,
            session: None,
            context: &[],
            region: None,
            channel: None,
            category: None,
            now,
            n,
            exclude: &[],
            filter: None,
        }
    }

    /// Checks what every source relies on: `n >= 1`, finite non-negative
    /// context weights.
    pub fn validate(&self) -> Result<()> {
        if self.n == 0 {
            return Err(Error::invalid("n must be >= 1"));
        }
        if let Some((_, w)) = self
            .context
            .iter()
            .find(|(_, w)| !w.is_finite() || *w < 0.0)
        {
            return Err(Error::invalid(format!(
                "context weights must be finite and >= 0, got {w}"
            )));
        }
        Ok(())
    }

    /// The eligibility test for universe item `u`: passes `filter`, is not
    /// excluded and is not a context item.
    pub fn eligibility(&self) -> impl Fn(u32) -> bool + '_ {
        let mut skip: Vec<u32> = self
            .exclude
            .iter()
            .copied()
            .chain(self.context.iter().map(|c| c.0))
            .collect();
        skip.sort_unstable();
        move |u| skip.binary_search(&u).is_err() && self.filter.is_none_or(|f| f(u))
    }
}

/// One proposed item.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Universe item index.
    pub item: u32,
    /// The source's score (comparable only within one source's list).
    pub score: f32,
    /// The source that proposed it.
    pub source: SourceKind,
    /// The context item it was found through (the "because you viewed …").
    pub because: Option<u32>,
}

/// A source's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    /// Best first, at most `n`, never a context or excluded item.
    pub items: Vec<Candidate>,
    /// The segment that answered a popularity query (e.g.
    /// `region:uk-north-west`), for explanations.
    pub level: Option<String>,
}

/// A candidate generator.
pub trait CandidateSource: Send + Sync {
    /// What kind of generator this is.
    fn kind(&self) -> SourceKind;

    /// Up to `query.n` candidates, best first. A source with nothing to say
    /// for this query (e.g. co-occurrence without context items, ALS for an
    /// unknown visitor without history) returns an empty list, not an
    /// error; invalid queries are errors.
    fn candidates(&self, query: &Query<'_>) -> Result<Candidates>;
}

const NONE: u32 = u32::MAX;

/// Index translation between a universe and one model's item ids. Models
/// whose id map grows (the trending store sees new items) are followed with
/// [`extend`](Self::extend).
#[derive(Debug, Clone, Default)]
pub struct Remap {
    to_universe: Vec<u32>,
    to_model: Vec<u32>,
}

impl Remap {
    /// The translation between `universe` and `model` ids.
    pub fn new(universe: &IdMap, model: &IdMap) -> Self {
        let mut r = Remap {
            to_universe: Vec::new(),
            to_model: vec![NONE; universe.len()],
        };
        r.extend(universe, model);
        r
    }

    /// Adds the model ids added since the last call (or [`new`](Self::new)).
    pub fn extend(&mut self, universe: &IdMap, model: &IdMap) {
        for m in self.to_universe.len()..model.len() {
            let u = model.id(m as u32).and_then(|id| universe.get(id));
            self.to_universe.push(u.unwrap_or(NONE));
            if let Some(u) = u {
                self.to_model[u as usize] = m as u32;
            }
        }
    }

    /// Number of model ids covered.
    pub fn model_len(&self) -> usize {
        self.to_universe.len()
    }

    /// The universe index of model item `m`, if the universe has it.
    #[inline]
    pub fn to_universe(&self, m: u32) -> Option<u32> {
        self.to_universe
            .get(m as usize)
            .copied()
            .filter(|&u| u != NONE)
    }

    /// The model index of universe item `u`, if the model has it.
    #[inline]
    pub fn to_model(&self, u: u32) -> Option<u32> {
        self.to_model
            .get(u as usize)
            .copied()
            .filter(|&m| m != NONE)
    }

    /// Context items the model knows, in model indices (others dropped).
    pub fn context_to_model(&self, context: &[(u32, f32)]) -> (Vec<u32>, Vec<f32>) {
        context
            .iter()
            .filter_map(|&(u, w)| self.to_model(u).map(|m| (m, w)))
            .unzip()
    }
}

/// "Customers like you": ALS scores for a known user, or for a fold-in of
/// the context items (anonymous visitors, recent browsing).
pub struct AlsSource {
    model: Arc<AlsModel>,
    universe: Arc<IdMap>,
    remap: Remap,
}

impl AlsSource {
    /// A source answering in `universe` indices.
    pub fn new(model: Arc<AlsModel>, universe: Arc<IdMap>) -> Self {
        let remap = Remap::new(&universe, model.items());
        AlsSource {
            model,
            universe,
            remap,
        }
    }

    /// The universe this source answers in.
    pub fn universe(&self) -> &IdMap {
        &self.universe
    }
}

impl CandidateSource for AlsSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Als
    }

    /// With context items, folds them in (on top of the user's training
    /// history when the user is known) and credits each result to the
    /// context item whose factors point most its way; otherwise uses the
    /// user's trained vector. Items the user was trained on are left out.
    fn candidates(&self, q: &Query<'_>) -> Result<Candidates> {
        q.validate()?;
        let model = &*self.model;
        let user = q.user.and_then(|u| model.users().get(u));
        let history: &[u32] = match (user, model.user_items()) {
            (Some(u), Some(m)) => m.row(u as usize).0,
            _ => &[],
        };
        let (ctx, ctx_w) = self.remap.context_to_model(q.context);
        let vector = if !ctx.is_empty() {
            let mut items = ctx.clone();
            let mut weights = ctx_w.clone();
            if let (Some(u), Some(m)) = (user, model.user_items()) {
                let (cols, vals) = m.row(u as usize);
                items.extend_from_slice(cols);
                weights.extend_from_slice(vals);
            }
            model.fold_in(&items, &weights)?
        } else if let Some(u) = user {
            model.user_vector(u)?.to_vec()
        } else {
            return Ok(Candidates::default());
        };
        let mut scores = vec![0f32; model.n_items()];
        model.score_items(&vector, &mut scores)?;
        for &m in history.iter().chain(&ctx) {
            scores[m as usize] = f32::NEG_INFINITY;
        }
        let eligible = q.eligibility();
        let keep = |m| self.remap.to_universe(m).is_some_and(&eligible);
        let top = top_k_scores_where(&scores, q.n, keep, &mut Vec::new());
        let factors = model.item_factors();
        let k = model.factors();
        let flat = factors.as_slice().unwrap_or(&[]);
        let row = |m: u32| &flat[m as usize * k..(m as usize + 1) * k];
        let norms: Vec<f32> = ctx.iter().map(|&c| dot(row(c), row(c)).sqrt()).collect();
        let items = top
            .into_iter()
            .filter_map(|(m, score)| {
                let because = ctx
                    .iter()
                    .zip(&norms)
                    .filter(|(_, &n)| n > 0.0)
                    .map(|(&c, &n)| (c, dot(row(c), row(m)) / n))
                    .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                    .and_then(|(c, _)| self.remap.to_universe(c));
                Some(Candidate {
                    item: self.remap.to_universe(m)?,
                    score,
                    source: SourceKind::Als,
                    because,
                })
            })
            .collect();
        Ok(Candidates { items, level: None })
    }
}

/// "Goes well with": co-occurrence neighbours of the context items.
pub struct CooccurSource {
    model: Arc<CooccurModel>,
    remap: Remap,
}

impl CooccurSource {
    /// A source answering in `universe` indices.
    pub fn new(model: Arc<CooccurModel>, universe: &IdMap) -> Self {
        let remap = Remap::new(universe, model.items());
        CooccurSource { model, remap }
    }
}

impl CandidateSource for CooccurSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Cooccur
    }

    fn candidates(&self, q: &Query<'_>) -> Result<Candidates> {
        q.validate()?;
        let (ctx, w) = self.remap.context_to_model(q.context);
        if ctx.is_empty() {
            return Ok(Candidates::default());
        }
        let eligible = q.eligibility();
        let keep = |m: u32| self.remap.to_universe(m).is_some_and(&eligible);
        let found = self
            .model
            .recommend_for_items_where(&ctx, &w, q.n, &[], &keep)?;
        let items = found
            .into_iter()
            .filter_map(|(m, score, c)| {
                Some(Candidate {
                    item: self.remap.to_universe(m)?,
                    score,
                    source: SourceKind::Cooccur,
                    because: self.remap.to_universe(c),
                })
            })
            .collect();
        Ok(Candidates { items, level: None })
    }
}

/// "Popular in your area" or "trending now" from a live trending store
/// (shared with the ingest path, hence the lock).
pub struct TrendingSource {
    store: Arc<RwLock<TrendingStore>>,
    universe: Arc<IdMap>,
    velocity: bool,
    remap: RwLock<Remap>,
}

impl TrendingSource {
    /// Decayed popularity (`velocity` false) or trending-now velocity
    /// (`velocity` true), answering in `universe` indices.
    pub fn new(store: Arc<RwLock<TrendingStore>>, universe: Arc<IdMap>, velocity: bool) -> Self {
        let remap = RwLock::new(Remap::new(&universe, &IdMap::new()));
        TrendingSource {
            store,
            universe,
            velocity,
            remap,
        }
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::invalid("a store lock was poisoned by a panic in another thread")
}

impl CandidateSource for TrendingSource {
    fn kind(&self) -> SourceKind {
        if self.velocity {
            SourceKind::TrendingNow
        } else {
            SourceKind::Popular
        }
    }

    fn candidates(&self, q: &Query<'_>) -> Result<Candidates> {
        q.validate()?;
        let store = self.store.read().map_err(poisoned)?;
        if self.remap.read().map_err(poisoned)?.model_len() < store.items().len() {
            self.remap
                .write()
                .map_err(poisoned)?
                .extend(&self.universe, store.items());
        }
        let remap = self.remap.read().map_err(poisoned)?;
        let eligible = q.eligibility();
        let query = TrendingQuery {
            region: q.region.map(str::to_owned),
            channel: q.channel,
            category: q.category.map(str::to_owned),
            n: q.n,
            now: q.now,
        };
        let keep = |m: u32| remap.to_universe(m).is_some_and(&eligible);
        let (found, level) = store.top_where(&query, self.velocity, &keep)?;
        let items = found
            .into_iter()
            .filter_map(|(m, score)| {
                Some(Candidate {
                    item: remap.to_universe(m)?,
                    score: score as f32,
                    source: self.kind(),
                    because: None,
                })
            })
            .collect();
        Ok(Candidates {
            items,
            level: Some(level.name()),
        })
    }
}

/// Merges the lists of several sources into one ranking of `n`.
///
/// Each list's scores are divided by its best score (negative scores count
/// as 0), so every source contributes on a 0–1 scale; an item's blended
/// score is `Σ weight · normalised score` over the lists it appears in, and
/// it keeps the source and `because` of its largest contribution. Ties go
/// to the lower universe index.
pub fn blend(lists: &[(f32, &Candidates)], n: usize) -> Vec<Candidate> {
    let mut acc: Vec<(Candidate, f32)> = Vec::new();
    for &(weight, list) in lists {
        let top = list.items.iter().map(|c| c.score).fold(0f32, f32::max);
        if top <= 0.0 || weight.is_nan() || weight <= 0.0 {
            continue;
        }
        for c in &list.items {
            let part = weight * c.score.max(0.0) / top;
            acc.push((Candidate { score: part, ..*c }, part));
        }
    }
    acc.sort_by_key(|e| e.0.item);
    let mut merged: Vec<(Candidate, f32)> = Vec::new();
    for (c, part) in acc {
        match merged.last_mut() {
            Some(last) if last.0.item == c.item => {
                last.0.score += part;
                if part > last.1 {
                    last.0.source = c.source;
                    last.0.because = c.because;
                    last.1 = part;
                }
            }
            _ => merged.push((c, part)),
        }
    }
    let mut out: Vec<Candidate> = merged.into_iter().map(|e| e.0).collect();
    top_k_by(&mut out, n, |a, b| {
        b.score.total_cmp(&a.score).then(a.item.cmp(&b.item))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::AlsConfig;
    use crate::cooccur::CooccurConfig;
    use crate::data::{Event, EventKind, Interactions, InteractionsBuilder};
    use crate::trending::TrendingConfig;

    /// Two clusters of items: customers browse within one.
    fn shop() -> Interactions {
        let mut b = InteractionsBuilder::new();
        for u in 0..60 {
            let base = if u % 2 == 0 { 0 } else { 10 };
            for k in 0..4 {
                let item = base + (u * 7 + k * 3) % 10;
                b.add(&format!("u{u}"), &format!("i{item}"), 1.0).unwrap();
            }
        }
        b.build().unwrap()
    }

    fn universe(data: &Interactions) -> Arc<IdMap> {
        // A universe in another order than the models, plus an unknown item.
        let mut ids: Vec<String> = data.items().ids().to_vec();
        ids.reverse();
        ids.push("new-item".into());
        Arc::new(IdMap::from_ids(ids).unwrap())
    }

    fn cluster(u: &IdMap, i: u32) -> usize {
        let n: usize = u.id(i).unwrap()[1..].parse().unwrap();
        n / 10
    }

    #[test]
    fn remap_translates_both_ways_and_follows_growth() {
        let uni = IdMap::from_ids(["a", "b", "c"]).unwrap();
        let mut model = IdMap::from_ids(["c", "x", "a"]).unwrap();
        let mut r = Remap::new(&uni, &model);
        assert_eq!(r.to_universe(0), Some(2));
        assert_eq!(r.to_universe(1), None);
        assert_eq!(r.to_model(0), Some(2));
        assert_eq!(r.to_model(1), None);
        assert_eq!(r.to_model(9), None);
        model.get_or_insert("b").unwrap();
        assert_eq!(r.to_universe(3), None);
        r.extend(&uni, &model);
        assert_eq!((r.to_universe(3), r.to_model(1)), (Some(1), Some(3)));
        let (m, w) = r.context_to_model(&[(0, 1.0), (1, 2.0)]);
        assert_eq!((m, w), (vec![2, 3], vec![1.0, 2.0]));
    }

    #[test]
    fn als_source_folds_in_context_and_honours_every_restriction() {
        let data = shop();
        let cfg = AlsConfig {
            factors: 8,
            iterations: 10,
            ..Default::default()
        };
        let model = Arc::new(AlsModel::fit(&cfg, &data).unwrap());
        let uni = universe(&data);
        let src = AlsSource::new(model, uni.clone());
        let (a0, a1) = (uni.get("i1").unwrap(), uni.get("i2").unwrap());
        let banned = uni.get("i3").unwrap();
        let filter = |u: u32| u != banned;
        let mut q = Query::new(5, 0);
        let ctx = [(a0, 1.0), (a1, 2.0)];
        let excl = [uni.get("i4").unwrap()];
        q.context = &ctx;
        q.exclude = &excl;
        q.filter = Some(&filter);
        let got = src.candidates(&q).unwrap();
        assert_eq!(got.items.len(), 5);
        for c in &got.items {
            assert_eq!(cluster(&uni, c.item), 0, "{:?}", uni.id(c.item));
            assert!(![a0, a1, banned, excl[0]].contains(&c.item));
            assert!(c.because == Some(a0) || c.because == Some(a1));
            assert_eq!(c.source, SourceKind::Als);
        }
        // A known user without context: personal, history left out.
        let mut q = Query::new(3, 0);
        q.user = Some("u1");
        let got = src.candidates(&q).unwrap();
        assert_eq!(got.items.len(), 3);
        let hist: Vec<u32> = data
            .matrix()
            .row(data.users().get("u1").unwrap() as usize)
            .0
            .to_vec();
        for c in &got.items {
            assert_eq!(cluster(&uni, c.item), 1);
            let m = data.items().get(uni.id(c.item).unwrap()).unwrap();
            assert!(!hist.contains(&m));
            assert_eq!(c.because, None);
        }
        // Unknown visitor, no context: nothing to say.
        q.user = Some("stranger");
        assert!(src.candidates(&q).unwrap().items.is_empty());
        q.n = 0;
        assert!(matches!(src.candidates(&q), Err(Error::InvalidInput(_))));
        let bad = [(a0, f32::NAN)];
        let mut q = Query::new(3, 0);
        q.context = &bad;
        assert!(matches!(src.candidates(&q), Err(Error::InvalidInput(_))));
    }

    #[test]
    fn cooccur_source_names_the_context_item_and_filters_in_search() {
        let data = shop();
        let model = Arc::new(CooccurModel::fit(&CooccurConfig::default(), &data).unwrap());
        let uni = universe(&data);
        let src = CooccurSource::new(model.clone(), &uni);
        let a = uni.get("i15").unwrap();
        let ctx = [(a, 1.0)];
        let mut q = Query::new(50, 0);
        q.context = &ctx;
        let all = src.candidates(&q).unwrap().items;
        assert!(!all.is_empty());
        assert!(all.iter().all(|c| c.because == Some(a) && c.item != a));
        let direct = model
            .similar_items(model.items().get("i15").unwrap(), 50)
            .unwrap();
        assert_eq!(all.len(), direct.len());
        // Filtering out the best keeps the rest, in order.
        let best = all[0].item;
        let filter = |u: u32| u != best;
        q.filter = Some(&filter);
        let rest = src.candidates(&q).unwrap().items;
        assert_eq!(rest, all[1..].to_vec());
        q.context = &[];
        assert!(src.candidates(&q).unwrap().items.is_empty());
    }

    #[test]
    fn trending_source_answers_in_universe_indices_as_the_store_grows() {
        let data = shop();
        let uni = universe(&data);
        let store = Arc::new(RwLock::new(
            TrendingStore::new(TrendingConfig::default(), None).unwrap(),
        ));
        let src = TrendingSource::new(store.clone(), uni.clone(), false);
        let ev = |item: &str, region: &str| Event {
            user: "v".into(),
            item: item.into(),
            kind: EventKind::Purchase,
            timestamp: 1_000,
            region: Some(region.into()),
            channel: None,
            session: None,
        };
        let mut q = Query::new(3, 1_000);
        q.region = Some("nl");
        assert!(src.candidates(&q).unwrap().items.is_empty());
        {
            let mut s = store.write().unwrap();
            for _ in 0..3 {
                s.ingest(&ev("i7", "nl")).unwrap();
            }
            s.ingest(&ev("i8", "nl")).unwrap();
            s.ingest(&ev("not-in-universe", "nl")).unwrap();
        }
        let got = src.candidates(&q).unwrap();
        let ids: Vec<&str> = got.items.iter().map(|c| uni.id(c.item).unwrap()).collect();
        assert_eq!(ids, ["i7", "i8"]);
        assert_eq!(got.items[0].source, SourceKind::Popular);
        assert!(got.level.is_some());
        let i7 = uni.get("i7").unwrap();
        let excl = [i7];
        q.exclude = &excl;
        let ids: Vec<u32> = src
            .candidates(&q)
            .unwrap()
            .items
            .iter()
            .map(|c| c.item)
            .collect();
        assert_eq!(ids, [uni.get("i8").unwrap()]);
    }

    #[test]
    fn blend_normalises_per_source_and_credits_the_largest_part() {
        let c = |item, score, source, because| Candidate {
            item,
            score,
            source,
            because,
        };
        let a = Candidates {
            items: vec![
                c(1, 10.0, SourceKind::Als, Some(7)),
                c(2, 5.0, SourceKind::Als, Some(8)),
            ],
            level: None,
        };
        let b = Candidates {
            items: vec![
                c(2, 0.4, SourceKind::Cooccur, Some(9)),
                c(3, 0.2, SourceKind::Cooccur, None),
                c(4, -1.0, SourceKind::Cooccur, None),
            ],
            level: None,
        };
        let out = blend(&[(1.0, &a), (2.0, &b)], 3);
        // item 2: 0.5 (als) + 2.0 (cooccur) = 2.5; item 1: 1.0; item 3: 1.0.
        assert_eq!(out.iter().map(|c| c.item).collect::<Vec<_>>(), [2, 1, 3]);
        assert!((out[0].score - 2.5).abs() < 1e-6);
        assert_eq!(
            (out[0].source, out[0].because),
            (SourceKind::Cooccur, Some(9))
        );
        assert_eq!(blend(&[(0.0, &a)], 3), vec![]);
        assert_eq!(blend(&[], 3), vec![]);
    }
}
