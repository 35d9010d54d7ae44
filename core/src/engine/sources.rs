//! The engine's candidate sources in one place: the adapters that put
//! each generator (ALS, co-occurrence, content index, trending store) behind
//! [`CandidateSource`], and the wiring of one snapshot's sources. The
//! generic pieces (the trait, [`Query`], [`Remap`], `blend`) stay in
//! [`candidate`](crate::candidate); the session recommender, which blends
//! other sources by recency, stays with the session store.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::config::SourceName;
use super::Models;
use crate::als::AlsModel;
use crate::candidate::{Candidate, CandidateSource, Candidates, Query, Remap, SourceKind};
use crate::content::ContentIndex;
use crate::cooccur::CooccurModel;
use crate::error::{Error, Result};
use crate::ids::IdMap;
use crate::linalg::{dot, top_k, top_k_by, top_k_scores_where};
use crate::session::{SessionRecommender, SessionStore};
use crate::trending::{TrendingQuery, TrendingStore};

/// The sources of one snapshot: one per model present, the session
/// recommender over them (ALS and content at weight 1, co-occurrence at
/// 0.5), and popular / trending-now over the live trending store.
pub(super) fn build_sources(
    models: &Models,
    universe: &Arc<IdMap>,
    trending: &Arc<RwLock<TrendingStore>>,
    session: &Arc<SessionStore>,
) -> Result<HashMap<SourceName, Arc<dyn CandidateSource>>> {
    let mut sources: HashMap<SourceName, Arc<dyn CandidateSource>> = HashMap::new();
    let mut session_sources: Vec<(Arc<dyn CandidateSource>, f32)> = Vec::new();
    if let Some(m) = &models.als {
        let s: Arc<dyn CandidateSource> = Arc::new(AlsSource::new(m.clone(), universe.clone()));
        sources.insert(SourceName::Als, s.clone());
        session_sources.push((s, 1.0));
    }
    if let Some(m) = &models.cooccur {
        let s: Arc<dyn CandidateSource> = Arc::new(CooccurSource::new(m.clone(), universe));
        sources.insert(SourceName::Cooccur, s.clone());
        session_sources.push((s, 0.5));
    }
    if let Some(m) = &models.content {
        let s: Arc<dyn CandidateSource> = Arc::new(ContentSource::new(m.clone(), universe));
        sources.insert(SourceName::Content, s.clone());
        session_sources.push((s, 1.0));
    }
    if !session_sources.is_empty() {
        sources.insert(
            SourceName::Session,
            Arc::new(SessionRecommender::new(session.clone(), session_sources)?),
        );
    }
    for (name, velocity) in [
        (SourceName::Popular, false),
        (SourceName::TrendingNow, true),
    ] {
        sources.insert(
            name,
            Arc::new(TrendingSource::new(
                trending.clone(),
                universe.clone(),
                velocity,
            )),
        );
    }
    Ok(sources)
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
    /// The store's items epoch it was built for, and the remap.
    remap: RwLock<(u64, Remap)>,
}

impl TrendingSource {
    /// Decayed popularity (`velocity` false) or trending-now velocity
    /// (`velocity` true), answering in `universe` indices.
    pub fn new(store: Arc<RwLock<TrendingStore>>, universe: Arc<IdMap>, velocity: bool) -> Self {
        let remap = RwLock::new((0, Remap::new(&universe, &IdMap::new())));
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
        let epoch = store.items_epoch();
        let stale = |(e, r): &(u64, Remap)| *e != epoch || r.model_len() < store.items().len();
        if stale(&*self.remap.read().map_err(poisoned)?) {
            let mut guard = self.remap.write().map_err(poisoned)?;
            // Compacted items renumber: start over; new items only append.
            if guard.0 != epoch {
                *guard = (epoch, Remap::new(&self.universe, store.items()));
            } else if guard.1.model_len() < store.items().len() {
                guard.1.extend(&self.universe, store.items());
            }
        }
        let guard = self.remap.read().map_err(poisoned)?;
        let remap = &guard.1;
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

/// Most context items a [`ContentSource`] searches around per query.
pub const MAX_CONTEXT_SEARCHES: usize = 5;

/// "Similar to what is on the page / in the session": content neighbours of
/// the heaviest context items, summed by context weight.
pub struct ContentSource {
    index: Arc<ContentIndex>,
    remap: Remap,
}

impl ContentSource {
    /// A source answering in `universe` indices.
    pub fn new(index: Arc<ContentIndex>, universe: &IdMap) -> Self {
        let remap = Remap::new(universe, index.items());
        ContentSource { index, remap }
    }
}

impl CandidateSource for ContentSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Content
    }

    fn candidates(&self, q: &Query<'_>) -> Result<Candidates> {
        q.validate()?;
        let mut ctx: Vec<(u32, f32, u32)> = q
            .context
            .iter()
            .filter_map(|&(u, w)| self.remap.to_model(u).map(|m| (m, w, u)))
            .filter(|c| c.1 > 0.0)
            .collect();
        top_k_by(&mut ctx, MAX_CONTEXT_SEARCHES, |a, b| {
            b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
        });
        let eligible = q.eligibility();
        let keep = |m: u32| self.remap.to_universe(m).is_some_and(&eligible);
        // (item, score, because, best part)
        let mut acc: Vec<(u32, f32, u32, f32)> = Vec::new();
        for &(m, w, u) in &ctx {
            let query = self.index.vector(m)?.to_vec();
            for (j, s) in self.index.search_where(&query, q.n, Some(&keep))? {
                let part = w * s.max(0.0);
                match acc.iter_mut().find(|e| e.0 == j) {
                    Some(e) => {
                        e.1 += part;
                        if part > e.3 {
                            (e.2, e.3) = (u, part);
                        }
                    }
                    None => acc.push((j, part, u, part)),
                }
            }
        }
        let best = top_k(acc.iter().map(|e| (e.0, e.1)), q.n, &mut Vec::new());
        let items = best
            .into_iter()
            .filter_map(|(m, score)| {
                let because = acc.iter().find(|e| e.0 == m).map(|e| e.2);
                Some(Candidate {
                    item: self.remap.to_universe(m)?,
                    score,
                    source: SourceKind::Content,
                    because,
                })
            })
            .collect();
        Ok(Candidates { items, level: None })
    }
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
    fn trending_source_follows_the_store_when_its_items_are_compacted() {
        let uni = universe(&shop());
        let config = TrendingConfig {
            max_items_per_segment: 16,
            ..Default::default()
        };
        let store = Arc::new(RwLock::new(TrendingStore::new(config, None).unwrap()));
        let src = TrendingSource::new(store.clone(), uni.clone(), false);
        let ev = |item: &str, kind, t, region: &str| Event {
            region: Some(region.into()),
            ..Event::new("v", item, kind, t)
        };
        let mut q = Query::new(3, 100_000);
        q.region = Some("nl");
        {
            // An item first that the flood below will push out: every
            // later index moves down when it is forgotten.
            let mut s = store.write().unwrap();
            s.ingest(&ev("early", EventKind::View, 1_000, "de"))
                .unwrap();
            for _ in 0..3 {
                s.ingest(&ev("i7", EventKind::Purchase, 1_000, "nl"))
                    .unwrap();
            }
            s.ingest(&ev("i8", EventKind::Purchase, 1_000, "nl"))
                .unwrap();
        }
        let names = |src: &TrendingSource| -> Vec<String> {
            let got = src.candidates(&q).unwrap();
            got.items
                .iter()
                .map(|c| uni.id(c.item).unwrap().to_owned())
                .collect()
        };
        assert_eq!(names(&src), ["i7", "i8"]);
        {
            let mut s = store.write().unwrap();
            for k in 0..3_000 {
                s.ingest(&ev(&format!("junk{k}"), EventKind::View, 2_000 + k, "de"))
                    .unwrap();
            }
            assert!(s.items_epoch() > 0, "the flood compacted the items");
            assert_eq!(s.items().get("early"), None);
        }
        assert_eq!(names(&src), ["i7", "i8"]);
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
}
