//! One interface over every candidate generator, so a ranking pipeline can
//! ask ALS, content similarity, co-occurrence, trending and the live session
//! the same question and blend the answers.
//!
//! Each generator keeps its own item indices (its own [`IdMap`]); a source
//! answers in the indices of a shared *universe* (normally the catalog), so
//! lists from different generators can be merged without string lookups.
//! [`Remap`] translates between the two and is built once per source.

use serde::{Deserialize, Serialize};

use crate::data::Channel;
use crate::error::{Error, Result};
use crate::ids::IdMap;
use crate::linalg::top_k_by;

// The engine's adapters of the generators, kept at their old path here.
pub use crate::engine::sources::{AlsSource, CooccurSource, TrendingSource};

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
