//! Re-ranking a placement's candidates with the visitor's own session, on
//! their device: the browser package's job, with the server engine's
//! ranking tail.
//!
//! [`rerank`] folds the session into a user vector against a
//! [`ModelSlice`] (the same solve as [`AlsModel::fold_in`](crate::als::AlsModel::fold_in),
//! weighted like the server's [`SessionStore::context`](crate::session::SessionStore::context)),
//! scores the candidates, keeps the eligible ones and finishes with
//! [`diversify_then_rules`]: MMR diversity then the placement's rules — the
//! function the engine's pipeline ends with too.
//!
//! [`VisitorSession`] is the page's in-memory list of recent events, with
//! the parts a page stores in `localStorage`.

use serde::{Deserialize, Serialize};

use crate::candidate::{Candidate, SourceKind};
use crate::data::EventKind;
use crate::error::{Error, IdKind, Result};
use crate::linalg::dot;
use crate::rank::{AttributeSimilarity, CompiledRules, DiversityBy, DiversityConfig, Mmr};
use crate::rank::{RuleContext, Rules};
use crate::session::{check_event, decayed_context};
use crate::slice::ModelSlice;

/// MMR over `pool` (best first) with relevance weight `lambda`, when a
/// similarity is given and `lambda < 1`, then the placement's `rules`
/// ([`CompiledRules::finish`]: boosts, brand cap, pins, top `n`). The tail
/// of the server engine's pipeline and of [`rerank`].
///
/// The answer is always that of MMR over the whole pool, but MMR's picks
/// come one by one ([`Mmr`]) and, without boosts, `finish` keeps their
/// order and takes a prefix: so MMR picks `2 n` first and more (doubling
/// the depth) only while the rules leave fewer than `n` items that are not
/// pins (a pin takes a slot whatever comes later, so with pins in play the
/// depth grows to the whole pool). MMR costs O(depth · |pool|) similarity
/// calls.
pub fn diversify_then_rules<F>(
    pool: Vec<Candidate>,
    lambda: f32,
    sim: Option<&F>,
    rules: &CompiledRules,
    ctx: &RuleContext,
    n: usize,
) -> Vec<Candidate>
where
    F: Fn(u32, u32) -> f32 + ?Sized,
{
    let sim = match sim {
        Some(sim) if lambda < 1.0 => sim,
        _ => return rules.finish(pool, ctx, n),
    };
    let mut picks = Mmr::new(&pool, lambda, sim);
    if rules.reorders() {
        picks.extend_to(pool.len());
        return rules.finish(picks.picked(), ctx, n);
    }
    let mut depth = n.saturating_mul(2);
    loop {
        picks.extend_to(depth);
        let out = rules.finish(picks.picked(), ctx, n);
        let unpinned = out
            .iter()
            .filter(|c| c.source != SourceKind::Pinned)
            .count();
        if unpinned >= n || depth >= pool.len() {
            return out;
        }
        depth = depth.saturating_mul(2);
    }
}

/// One event of a visitor's session, by item id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEvent {
    /// Product id.
    pub item: String,
    /// What happened (`view`, `click`, `add_to_cart`, `purchase` or a
    /// custom kind the slice weighs).
    #[serde(with = "kind_name")]
    pub kind: EventKind,
    /// Unix time in seconds.
    pub timestamp: i64,
}

/// Event kinds as their plain names (`"view"`, `"wish"`), the form pages
/// and `localStorage` hold.
mod kind_name {
    use super::EventKind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(kind: &EventKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<EventKind, D::Error> {
        Ok(EventKind::parse(&String::deserialize(d)?))
    }
}

impl SessionEvent {
    /// Checks the id is non-empty and the timestamp in range, as the
    /// server's session store does.
    pub fn validate(&self) -> Result<()> {
        check_event(&crate::data::Event::new(
            "visitor",
            self.item.clone(),
            self.kind.clone(),
            self.timestamp,
        ))
    }
}

/// A visitor's recent events in the page: at most `max_events`, oldest
/// first; the caller persists [`events`](Self::events) and restores them
/// with [`from_events`](Self::from_events).
#[derive(Debug, Clone, PartialEq)]
pub struct VisitorSession {
    max_events: usize,
    events: Vec<SessionEvent>,
}

impl Default for VisitorSession {
    fn default() -> Self {
        VisitorSession {
            max_events: Self::DEFAULT_MAX_EVENTS,
            events: Vec::new(),
        }
    }
}

impl VisitorSession {
    /// Events kept by default (the server's session default too).
    pub const DEFAULT_MAX_EVENTS: usize = 50;

    /// An empty session keeping the newest `max_events` events.
    ///
    /// Errors: `max_events` outside `1..=`[`MAX_EVENTS_PER_KEY`](crate::session::MAX_EVENTS_PER_KEY).
    pub fn new(max_events: usize) -> Result<Self> {
        if !(1..=crate::session::MAX_EVENTS_PER_KEY).contains(&max_events) {
            return Err(Error::invalid(format!(
                "max_events must be in 1..={}, got {max_events}",
                crate::session::MAX_EVENTS_PER_KEY
            )));
        }
        Ok(VisitorSession {
            max_events,
            events: Vec::new(),
        })
    }

    /// Records an event in time order (a late one goes where it belongs);
    /// beyond `max_events` the oldest falls off. Errors (nothing changes):
    /// see [`SessionEvent::validate`].
    pub fn add(&mut self, event: SessionEvent) -> Result<()> {
        event.validate()?;
        let at = self
            .events
            .partition_point(|e| e.timestamp <= event.timestamp);
        self.events.insert(at, event);
        if self.events.len() > self.max_events {
            let extra = self.events.len() - self.max_events;
            self.events.drain(..extra);
        }
        Ok(())
    }

    /// The events, oldest first.
    pub fn events(&self) -> &[SessionEvent] {
        &self.events
    }

    /// Forgets every event.
    pub fn clear(&mut self) {
        self.events.clear();
    }

    /// The most events kept.
    pub fn max_events(&self) -> usize {
        self.max_events
    }

    /// A session keeping `max_events` with `events` added one by one (a
    /// stored session being restored); errors as [`new`](Self::new) and
    /// [`add`](Self::add).
    pub fn from_events(
        max_events: usize,
        events: impl IntoIterator<Item = SessionEvent>,
    ) -> Result<Self> {
        let mut out = VisitorSession::new(max_events)?;
        for e in events {
            out.add(e)?;
        }
        Ok(out)
    }
}

/// What [`rerank`] is asked besides the candidates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RerankOptions {
    /// The visitor's recent events; items outside the slice are ignored.
    pub session: Vec<SessionEvent>,
    /// Items wanted (`1..=1000`); 0 means all candidates, up to 1000.
    pub n: usize,
    /// Rules replacing the slice's placement rules (compiled against the
    /// slice's items).
    pub rules: Option<Rules>,
    /// Diversity replacing the slice's placement settings.
    pub diversity: Option<DiversityConfig>,
    /// The visitor's region for the region rule.
    pub region: Option<String>,
    /// Items in the cart (hidden when the rules say so).
    pub cart: Vec<String>,
    /// Unix seconds for recency weighting; default the newest event's time.
    pub now: Option<i64>,
}

/// Why an item is where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// Scored against the visitor's session.
    Session,
    /// Kept in the server's order (no usable session events).
    Candidate,
    /// Pinned by the placement's rules.
    Pinned,
}

/// One re-ranked item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reranked {
    /// Product id.
    pub item: String,
    /// Session score (after boosts); only comparable within one call.
    pub score: f32,
    /// Why it is here.
    pub reason: ReasonKind,
    /// The session item it is most like (cosine of item factors): the
    /// "because you viewed …".
    pub because: Option<String>,
}

/// Re-ranks `candidates` (slice item ids, best first by the server) for a
/// visitor: fold the session into a user vector, score every candidate,
/// drop the ineligible ones and the session's own items, then
/// [`diversify_then_rules`]. Without usable
/// session events the server's order is kept (scores `len − position`) and
/// only diversity and rules apply.
///
/// Errors: a candidate not in the slice ([`Error::UnknownId`]), `n` above
/// 1000, an invalid session event or custom kind without a weight
/// ([`Error::InvalidInput`]), override rules or diversity that do not fit
/// the slice ([`Error::Config`]).
pub fn rerank(
    slice: &ModelSlice,
    candidates: &[String],
    opts: &RerankOptions,
) -> Result<Vec<Reranked>> {
    if opts.n > 1000 {
        return Err(Error::invalid(format!(
            "n must be in 0..=1000, got {}",
            opts.n
        )));
    }
    let ids = slice.catalog().ids();
    let index = |id: &String| {
        ids.get(id).ok_or_else(|| Error::UnknownId {
            kind: IdKind::Item,
            id: id.clone(),
        })
    };
    let cands = candidates.iter().map(index).collect::<Result<Vec<u32>>>()?;
    let mut events = Vec::with_capacity(opts.session.len());
    for e in &opts.session {
        e.validate()?;
        let w = slice.kind_weight(&e.kind)?;
        if let Some(i) = ids.get(&e.item) {
            events.push((i, w, e.timestamp));
        }
    }
    let cart: Vec<u32> = opts.cart.iter().filter_map(|id| ids.get(id)).collect();
    let now = opts
        .now
        .or_else(|| opts.session.iter().map(|e| e.timestamp).max())
        .unwrap_or(0);
    let context = decayed_context(events, now, slice.session().recency_half_life_seconds);
    let scores: Vec<f32> = if context.is_empty() {
        (0..cands.len()).map(|p| (cands.len() - p) as f32).collect()
    } else {
        let (items, weights): (Vec<u32>, Vec<f32>) = context.iter().copied().unzip();
        let x = slice.fold_in(&items, &weights)?;
        cands
            .iter()
            .map(|&c| dot(&x, slice.item_factors(c)))
            .collect()
    };
    let own_rules;
    let rules = match &opts.rules {
        Some(r) => {
            own_rules = r.compile(slice.catalog(), "rules")?;
            &own_rules
        }
        None => slice.compiled_rules(),
    };
    let diversity = opts.diversity.as_ref().unwrap_or(slice.diversity());
    let own_sim;
    let attributes = match (&opts.diversity, &diversity.by) {
        (None, _) => slice.similarity(),
        (Some(d), DiversityBy::Attributes(fields)) => {
            d.validate(slice.catalog(), "diversity")?;
            own_sim = AttributeSimilarity::new(slice.catalog(), fields, "diversity.by.attributes")?;
            Some(&own_sim)
        }
        (Some(d), DiversityBy::Embedding) => {
            d.validate(slice.catalog(), "diversity")?;
            None
        }
    };
    let ctx = RuleContext {
        region: opts.region.as_deref(),
        now,
        purchased: &[],
        cart: &cart,
    };
    let eligible = rules.predicate(&ctx);
    let source = if context.is_empty() {
        SourceKind::Catalog
    } else {
        SourceKind::Session
    };
    let mut pool: Vec<Candidate> = cands
        .iter()
        .zip(&scores)
        // Like the server's sources: never the items the session is about.
        .filter(|(&c, _)| eligible(c) && !context.iter().any(|p| p.0 == c))
        .map(|(&item, &score)| Candidate {
            item,
            score,
            source,
            because: None,
        })
        .collect();
    // Best first, stably: equal scores keep the server's order.
    pool.sort_by(|a, b| b.score.total_cmp(&a.score));
    let n = if opts.n == 0 {
        pool.len().min(1000)
    } else {
        opts.n
    };
    // Each similarity its own instance of the tail, so MMR's inner loop
    // inlines it.
    let lambda = diversity.lambda;
    let ranked = match attributes {
        Some(a) => {
            let by_attributes = |p: u32, q: u32| a.sim(p, q);
            diversify_then_rules(pool, lambda, Some(&by_attributes), rules, &ctx, n)
        }
        None => {
            let by_factors = |p: u32, q: u32| cosine(slice.item_factors(p), slice.item_factors(q));
            diversify_then_rules(pool, lambda, Some(&by_factors), rules, &ctx, n)
        }
    };
    let name = |i: u32| ids.id(i).unwrap_or_default().to_owned();
    Ok(ranked
        .into_iter()
        .map(|c| {
            let (reason, because) = match c.source {
                SourceKind::Pinned => (ReasonKind::Pinned, None),
                SourceKind::Session => (ReasonKind::Session, most_like(slice, c.item, &context)),
                _ => (ReasonKind::Candidate, None),
            };
            Reranked {
                item: name(c.item),
                score: c.score,
                reason,
                because: because.map(name),
            }
        })
        .collect())
}

/// The context item whose factors are most like `item`'s (first on ties).
fn most_like(slice: &ModelSlice, item: u32, context: &[(u32, f32)]) -> Option<u32> {
    let y = slice.item_factors(item);
    let mut best: Option<(u32, f32)> = None;
    for &(c, _) in context {
        let s = cosine(y, slice.item_factors(c));
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((c, s));
        }
    }
    best.map(|b| b.0)
}

/// Cosine similarity (0 when either vector is zero).
pub(crate) fn cosine(x: &[f32], y: &[f32]) -> f32 {
    let (xx, yy) = (dot(x, x), dot(y, y));
    if xx > 0.0 && yy > 0.0 {
        dot(x, y) / (xx * yy).sqrt()
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slice::tests::demo_slice;

    fn view(item: &str, timestamp: i64) -> SessionEvent {
        SessionEvent {
            item: item.to_owned(),
            kind: EventKind::View,
            timestamp,
        }
    }

    fn ids(slice: &ModelSlice) -> Vec<String> {
        slice
            .catalog()
            .items()
            .iter()
            .map(|i| i.id.clone())
            .collect()
    }

    /// Relevance only, no rules: the bare scores.
    fn plain() -> RerankOptions {
        RerankOptions {
            rules: Some(Rules {
                in_stock: false,
                available_in_region: false,
                ..Rules::default()
            }),
            diversity: Some(DiversityConfig::default()),
            ..RerankOptions::default()
        }
    }

    #[test]
    fn scores_are_the_full_models_fold_in_of_the_session() {
        let (model, slice) = demo_slice();
        let cands = ids(&slice);
        let opts = RerankOptions {
            session: vec![view(&cands[2], 1000), view(&cands[5], 1600)],
            ..plain()
        };
        let out = rerank(&slice, &cands, &opts).unwrap();
        assert_eq!(
            out.len(),
            cands.len() - 2,
            "the session's items are left out"
        );
        assert!(out.iter().all(|r| r.item != cands[2] && r.item != cands[5]));
        // The same weights the server's session store gives, 600 s half-life.
        let full = |id: &str| model.items().get(id).unwrap();
        let x = model
            .fold_in(&[full(&cands[5]), full(&cands[2])], &[1.0, 0.5])
            .unwrap();
        let y = model.item_factors();
        for r in &out {
            let row = full(&r.item) as usize;
            let want = dot(&x, y.row(row).as_slice().unwrap());
            assert!(
                (r.score - want).abs() < 1e-5,
                "{}: {} vs {want}",
                r.item,
                r.score
            );
            assert_eq!(r.reason, ReasonKind::Session);
            assert!(r.because.is_some());
        }
        assert!(out.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn without_a_session_the_server_order_is_kept() {
        let (_, slice) = demo_slice();
        let mut cands = ids(&slice);
        cands.reverse();
        let out = rerank(&slice, &cands, &RerankOptions { n: 5, ..plain() }).unwrap();
        let got: Vec<&str> = out.iter().map(|r| r.item.as_str()).collect();
        assert_eq!(
            got,
            cands[..5].iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(out.iter().all(|r| r.reason == ReasonKind::Candidate));
    }

    #[test]
    fn diversity_reorders_and_rules_apply() {
        let (_, slice) = demo_slice();
        let cands = ids(&slice);
        let session = vec![view(&cands[0], 10), view(&cands[1], 20)];
        let relevance = rerank(
            &slice,
            &cands,
            &RerankOptions {
                session: session.clone(),
                n: 10,
                ..plain()
            },
        )
        .unwrap();
        let diverse = rerank(
            &slice,
            &cands,
            &RerankOptions {
                session: session.clone(),
                n: 10,
                diversity: Some(DiversityConfig {
                    lambda: 0.3,
                    ..DiversityConfig::default()
                }),
                ..plain()
            },
        )
        .unwrap();
        assert_eq!(
            relevance[0].item, diverse[0].item,
            "the best item stays first"
        );
        assert_ne!(relevance, diverse);
        let excluded = relevance[0].item.clone();
        let ruled = rerank(
            &slice,
            &cands,
            &RerankOptions {
                session,
                n: 10,
                rules: Some(Rules {
                    in_stock: false,
                    available_in_region: false,
                    exclude_items: vec![excluded.clone()],
                    ..Rules::default()
                }),
                ..plain()
            },
        )
        .unwrap();
        assert!(ruled.iter().all(|r| r.item != excluded));
        assert_eq!(ruled[0].item, relevance[1].item);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let (_, slice) = demo_slice();
        let cands = ids(&slice);
        let mut with_unknown = cands.clone();
        with_unknown.push("nope".into());
        let err = rerank(&slice, &with_unknown, &plain()).unwrap_err();
        assert!(matches!(err, Error::UnknownId { ref id, .. } if id == "nope"));
        let n = RerankOptions { n: 5000, ..plain() };
        assert_eq!(
            rerank(&slice, &cands, &n).unwrap_err().code(),
            "INVALID_INPUT"
        );
        let custom = RerankOptions {
            session: vec![SessionEvent {
                kind: EventKind::Custom("wish".into()),
                ..view(&cands[0], 1)
            }],
            ..plain()
        };
        assert_eq!(
            rerank(&slice, &cands, &custom).unwrap_err().code(),
            "INVALID_INPUT"
        );
        let bad_rules = RerankOptions {
            rules: Some(Rules {
                categories: vec!["no-such-category".into()],
                ..Rules::default()
            }),
            ..plain()
        };
        assert_eq!(
            rerank(&slice, &cands, &bad_rules).unwrap_err().code(),
            "CONFIG"
        );
        // Session items outside the slice are ignored, not errors.
        let outside = RerankOptions {
            session: vec![view("elsewhere", 1)],
            n: 3,
            ..plain()
        };
        assert_eq!(rerank(&slice, &cands, &outside).unwrap().len(), 3);
    }

    #[test]
    fn shallow_mmr_gives_the_full_depth_answer() {
        let (_, slice) = demo_slice();
        let sim = slice.similarity().unwrap();
        let by_attr = |a: u32, b: u32| sim.sim(a, b);
        let pool: Vec<Candidate> = (0..slice.len() as u32)
            .map(|i| Candidate {
                item: i,
                score: ((i * 7919) % 101) as f32 / 101.0,
                source: SourceKind::Als,
                because: None,
            })
            .collect();
        let ids = ids(&slice);
        let mut checked = 0;
        for cap in [None, Some(1), Some(2)] {
            for pins in [vec![], vec![(ids[9].clone(), 1), (ids[3].clone(), 30)]] {
                for n in [1, 3, 10, 35] {
                    for lambda in [0.0, 0.5, 0.7] {
                        let rules = Rules {
                            in_stock: false,
                            available_in_region: false,
                            max_per_brand: cap,
                            pins: pins
                                .iter()
                                .map(|(item, position)| crate::rank::Pin {
                                    item: item.clone(),
                                    position: *position,
                                    when: None,
                                    regions: Vec::new(),
                                })
                                .collect(),
                            ..Rules::default()
                        }
                        .compile(slice.catalog(), "rules")
                        .unwrap();
                        let ctx = RuleContext::default();
                        let full = rules.finish(
                            crate::rank::mmr(&pool, pool.len(), lambda, &by_attr),
                            &ctx,
                            n,
                        );
                        let fast = diversify_then_rules(
                            pool.clone(),
                            lambda,
                            Some(&by_attr),
                            &rules,
                            &ctx,
                            n,
                        );
                        assert_eq!(
                            fast, full,
                            "cap {cap:?}, pins {pins:?}, n {n}, lambda {lambda}"
                        );
                        checked += usize::from(full.len() == n);
                    }
                }
            }
        }
        assert!(checked > 50, "most cases fill the list ({checked})");
    }

    #[test]
    fn visitor_session_is_bounded_ordered_and_round_trips() {
        let mut s = VisitorSession::new(3).unwrap();
        for (item, ts) in [("a", 5), ("b", 1), ("c", 9), ("d", 7)] {
            s.add(view(item, ts)).unwrap();
        }
        let got: Vec<&str> = s.events().iter().map(|e| e.item.as_str()).collect();
        assert_eq!(got, ["a", "d", "c"], "oldest dropped, time order");
        assert!(s.add(view("", 1)).is_err());
        assert!(s.add(view("x", -1)).is_err());
        assert_eq!(s.events().len(), 3, "bad events change nothing");
        let back = VisitorSession::from_events(3, s.events().to_vec()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.max_events(), 3);
        assert!(VisitorSession::from_events(3, [view("ok", 1), view("", 2)]).is_err());
        assert!(VisitorSession::from_events(0, []).is_err());
        let text = serde_json::to_string(&s.events()[0]).unwrap();
        assert_eq!(text, r#"{"item":"a","kind":"view","timestamp":5}"#);
        assert!(VisitorSession::new(0).is_err());
    }
}
