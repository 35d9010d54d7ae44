//! The pipeline of one request, as small named steps:
//!
//! [`sources`](Asker::gather) (main, under budgets and breakers, blended
//! with quotas; then the placement's fallback sources while short) →
//! [`diversify_then_rules`] (MMR, then boosts, brand caps, pins: the
//! placement's compiled rules; shared with the browser's re-ranking) → [`last_resorts`] (popular in the region, everywhere,
//! the catalog; through the same rules) → [`promote`] →
//! [`explain`] → tracking.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;

use super::config::{SourceName, SourceSpec};
use super::request::{Request, Response, ResponseItem, SourceReport, SourceStatus};
use super::snapshot::{fresh_popular, PopularCache, Snapshot};
use super::{now_unix, Engine};
use crate::candidate::{blend, Candidate, Candidates, Query, SourceKind};
use crate::content::ContentIndex;
use crate::data::Catalog;
use crate::error::{Error, Result};
use crate::experiment::arms::Placement;
use crate::experiment::{Assignment, HOLDOUT};
use crate::ids::IdMap;
use crate::privacy::Consent;
use crate::rank::{ContentSlot, Promotion, Promotions, RuleContext};
use crate::rerank::{cosine, diversify_then_rules};
use crate::resilience::{guarded, Deadline, Guarded, Reason};
use crate::tracking::Served;

/// Answers `req` (see [`Engine::recommend`]).
pub(super) fn recommend(engine: &Engine, req: &Request) -> Result<Response> {
    let started = engine.clock.now_micros();
    let snap = engine.snapshot.load_full();
    let now = req.now.unwrap_or_else(now_unix);
    let _span = tracing::info_span!("recommend", placement = %req.placement).entered();
    // Sticky by user or session id.
    let assignment = engine.experiments.assign(
        &req.placement,
        req.user.as_deref(),
        req.session.as_deref(),
        now,
    );
    let arm = snap.arms.for_assignment(assignment.as_ref());
    let placement = arm
        .placements
        .get(&req.placement)
        .ok_or_else(|| Error::invalid(format!("unknown placement {:?}", req.placement)))?;
    let n = requested_n(req.n, placement.config.n)?;
    let (experiment, variant) = variant_of(assignment.as_ref());
    let consent = Consent::from(req.consent);
    let context = indices(&snap.universe, &req.context_items);
    let cart = indices(&snap.universe, &req.cart);
    let purchased = match consent.customer(req.user.as_deref()) {
        Some(user) => engine.purchases.of(user)?,
        None => Vec::new(),
    };
    let ctx = RuleContext {
        region: req.region.as_deref(),
        now,
        purchased: &purchased,
        cart: &cart,
    };
    let rules = &placement.rules;
    let eligible = rules.predicate(&ctx);
    let weighted: Vec<(u32, f32)> = context.iter().chain(&cart).map(|&i| (i, 1.0)).collect();
    let mut asker = Asker {
        engine,
        snap: &snap,
        placement: &req.placement,
        consent,
        query: source_query(req, consent, now, &weighted, &eligible),
        deadline: Deadline::new(started, (placement.config.deadline_ms * 1000.0) as u64),
        reports: Vec::new(),
        levels: HashMap::new(),
    };
    let (pool, from_main) = asker.gather(placement, n);
    let Asker {
        reports,
        mut levels,
        ..
    } = asker;
    let content = snap.models.content.as_deref();
    let by_attributes = placement
        .similarity
        .as_ref()
        .map(|sim| move |a: u32, b: u32| sim.sim(a, b));
    let by_content = content.map(|c| |a: u32, b: u32| embedding_sim(c, &snap.universe, a, b));
    let sim: Option<&dyn Fn(u32, u32) -> f32> = match (&by_attributes, &by_content) {
        (Some(f), _) => Some(f),
        (None, Some(f)) => Some(f),
        (None, None) => None,
    };
    let mut items =
        diversify_then_rules(pool, placement.config.diversity.lambda, sim, rules, &ctx, n);
    if items.len() < n {
        let popular = fresh_popular(engine, &snap, now);
        let (extra, level) = last_resorts(
            &items,
            &popular,
            req.region.as_deref(),
            snap.universe.len(),
            &eligible,
            n,
        );
        if !extra.is_empty() {
            levels.entry(SourceKind::Popular).or_insert(level);
            items.extend(extra);
            items = rules.finish(items, &ctx, n);
        }
    }
    let fallback_used = fallback_used(&items, &from_main);
    let promoted = if placement.config.promotions {
        promote(&arm.promotions, req, now, items, n, &eligible)
    } else {
        Promoted::none(items)
    };
    let out = explain_items(
        &promoted,
        &arm.promotions,
        &snap,
        &levels,
        &engine.config.region_names,
    );
    let recommendation_id = track_served(engine, req, &variant, &promoted.items, now)?;
    let elapsed = engine.clock.now_micros().saturating_sub(started);
    engine.observe_request(&req.placement, &variant, fallback_used, elapsed);
    Ok(Response {
        recommendation_id,
        placement: req.placement.clone(),
        experiment,
        variant,
        items: out,
        content: promoted.content,
        fallback_used,
        personalised: consent.may_store(),
        sources: reports,
    })
}

/// What every source of a request is asked (each sets its own `n`):
/// personal keys only as `consent` allows, the context and cart items at
/// weight 1, and the placement's rules as the search filter.
fn source_query<'a>(
    req: &'a Request,
    consent: Consent,
    now: i64,
    context: &'a [(u32, f32)],
    eligible: &'a (dyn Fn(u32) -> bool + Sync),
) -> Query<'a> {
    let mut query = Query::new(1, now);
    query.user = consent.customer(req.user.as_deref());
    query.session = consent.visitor(req.user.as_deref(), req.session.as_deref());
    query.context = context;
    query.region = req.region.as_deref();
    query.channel = req.channel;
    query.category = req.category.as_deref();
    query.filter = Some(eligible);
    query
}

/// Gives the response an id and records it in the attribution log under
/// the key [`Consent::attribution_key`] allows; returns the id.
fn track_served(
    engine: &Engine,
    req: &Request,
    variant: &str,
    items: &[Candidate],
    now: i64,
) -> Result<String> {
    let recommendation_id = format!(
        "{}-{:x}",
        engine.id_prefix,
        engine.ids.fetch_add(1, Ordering::Relaxed)
    );
    let served: Vec<(u32, SourceKind)> = items.iter().map(|c| (c.item, c.source)).collect();
    let user = Consent::from(req.consent).attribution_key(
        req.user.as_deref(),
        req.session.as_deref(),
        &recommendation_id,
    );
    engine.tracker.served(&Served {
        recommendation_id: &recommendation_id,
        user: &user,
        placement: &req.placement,
        variant,
        items: &served,
        timestamp: now,
    })?;
    Ok(recommendation_id)
}

/// The universe indices of the known ids (unknown ones are ignored).
fn indices(universe: &IdMap, ids: &[String]) -> Vec<u32> {
    ids.iter().filter_map(|id| universe.get(id)).collect()
}

/// The number of items wanted: the request's, else the placement's.
fn requested_n(requested: Option<usize>, placement_n: usize) -> Result<usize> {
    let n = requested.unwrap_or(placement_n);
    if n == 0 || n > 1000 {
        return Err(Error::invalid(format!("n must be in 1..=1000, got {n}")));
    }
    Ok(n)
}

/// The experiment and variant a response reports.
fn variant_of(assignment: Option<&Assignment<'_>>) -> (Option<String>, String) {
    match assignment {
        Some(a) => (
            Some(a.experiment.to_owned()),
            if a.holdout { HOLDOUT } else { a.variant }.to_owned(),
        ),
        None => (None, "default".to_owned()),
    }
}

/// Asks sources for one request under their budgets and breakers and
/// records what happened to each.
struct Asker<'a> {
    engine: &'a Engine,
    snap: &'a Snapshot,
    placement: &'a str,
    consent: Consent,
    /// What every source is asked (its `n` is set per source).
    query: Query<'a>,
    deadline: Deadline,
    reports: Vec<SourceReport>,
    /// The back-off level (e.g. `region:nl`) each answering source used.
    levels: HashMap<SourceKind, String>,
}

impl Asker<'_> {
    /// The main sources blended with quotas, then the fallback sources
    /// (scored below every main item) while fewer than `3 n` candidates;
    /// and which items came from the main sources.
    fn gather(&mut self, placement: &Placement, n: usize) -> (Vec<Candidate>, HashSet<u32>) {
        let mut lists = Vec::new();
        for spec in &placement.config.sources {
            if let Some(c) = self.ask(spec, n) {
                lists.push((spec, c));
            }
        }
        let mut pool = blend_with_quotas(&lists, 3 * n);
        let from_main: HashSet<u32> = pool.iter().map(|c| c.item).collect();
        for spec in &placement.config.fallback {
            if pool.len() >= 3 * n {
                break;
            }
            if let Some(c) = self.ask(spec, n) {
                append_below(&mut pool, &blend_with_quotas(&[(spec, c)], 3 * n));
            }
        }
        (pool, from_main)
    }

    /// One source's candidates, or `None` (reported) when it is left out,
    /// missing, open, out of time or failing.
    fn ask(&mut self, spec: &SourceSpec, want: usize) -> Option<Candidates> {
        let name = spec.source.as_string();
        if !self.consent.allows_source(spec.source.is_personal()) {
            self.report(&name, SourceStatus::NotPersonal, 0, 0);
            return None;
        }
        let source = match &spec.source {
            SourceName::External(x) => self.engine.externals.read().ok()?.get(x).cloned(),
            other => self.snap.sources.get(other).cloned(),
        };
        let (Some(source), Some(breaker)) = (source, self.engine.breaker(&spec.source)) else {
            self.report(&name, SourceStatus::Unavailable, 0, 0);
            return None;
        };
        let mut q = self.query;
        q.n = spec.candidates.unwrap_or(3 * want).max(want);
        let _stage = tracing::debug_span!("source", source = %name).entered();
        let budget_us = (spec.budget_ms * 1000.0) as u64;
        let outcome = guarded(
            &breaker,
            &*self.engine.clock,
            budget_us,
            &self.deadline,
            || source.candidates(&q),
        );
        let (status, result, latency) = match outcome {
            Guarded::Ok(c, us) => (SourceStatus::Ok, Some(c), us),
            Guarded::Failed(e) => {
                tracing::warn!(source = %name, error = %e, "source failed");
                (SourceStatus::Failed, None, 0)
            }
            Guarded::TimedOut(us) => (SourceStatus::Timeout, None, us),
            Guarded::Skipped(Reason::BreakerOpen) => (SourceStatus::BreakerOpen, None, 0),
            Guarded::Skipped(Reason::NoTimeLeft) => (SourceStatus::NoTime, None, 0),
        };
        self.engine
            .observe_source(self.placement, &name, status.as_str(), latency);
        let given = result.as_ref().map_or(0, |c| c.items.len());
        self.report(&name, status, given, latency);
        let c = result?;
        if let (Some(level), Some(first)) = (&c.level, c.items.first()) {
            self.levels.insert(first.source, level.clone());
        }
        Some(c)
    }

    fn report(&mut self, source: &str, status: SourceStatus, candidates: usize, latency_us: u64) {
        self.reports.push(SourceReport {
            source: source.to_owned(),
            status,
            candidates,
            latency_us,
        });
    }
}

/// Blends per-source lists with their weights, then enforces quotas (items
/// beyond a source's quota are dropped), keeping at most `limit`.
fn blend_with_quotas(lists: &[(&SourceSpec, Candidates)], limit: usize) -> Vec<Candidate> {
    let weighted: Vec<(f32, &Candidates)> = lists.iter().map(|(s, c)| (s.weight, c)).collect();
    let blended = blend(&weighted, usize::MAX);
    let quota: HashMap<SourceKind, usize> = lists
        .iter()
        .filter_map(|(s, c)| Some((c.items.first()?.source, s.quota?)))
        .collect();
    let mut used: HashMap<SourceKind, usize> = HashMap::new();
    let mut out = Vec::with_capacity(limit.min(blended.len()));
    for c in blended {
        if out.len() >= limit {
            break;
        }
        let count = used.entry(c.source).or_default();
        if quota.get(&c.source).is_some_and(|&q| *count >= q) {
            continue;
        }
        *count += 1;
        out.push(c);
    }
    out
}

/// Appends `extra` items not in `pool`, scored below everything in it.
fn append_below(pool: &mut Vec<Candidate>, extra: &[Candidate]) {
    let have: HashSet<u32> = pool.iter().map(|c| c.item).collect();
    let floor = pool.iter().map(|c| c.score).fold(f32::INFINITY, f32::min);
    let top = extra.iter().map(|c| c.score).fold(0f32, f32::max);
    let scale = if floor.is_finite() && top > 0.0 {
        0.5 * floor / top
    } else {
        1.0
    };
    pool.extend(
        extra
            .iter()
            .filter(|c| !have.contains(&c.item))
            .map(|c| Candidate {
                score: c.score * scale,
                ..*c
            }),
    );
}

/// Cosine of two items' content vectors (0 when either is missing).
fn embedding_sim(content: &ContentIndex, universe: &IdMap, a: u32, b: u32) -> f32 {
    let row = |u: u32| {
        let id = universe.id(u)?;
        content.vector(content.items().get(id)?).ok()
    };
    match (row(a), row(b)) {
        (Some(x), Some(y)) => cosine(x, y),
        _ => 0.0,
    }
}

/// The last resorts for a list short of `n`: popular in `region`, then
/// everywhere, then the catalog in its order; eligible items not listed
/// yet, up to `3 n`, scored below everything in `items` and decreasing.
/// Also the back-off level popular items report (`region:<code>` or
/// `global`).
fn last_resorts(
    items: &[Candidate],
    popular: &PopularCache,
    region: Option<&str>,
    catalog_len: usize,
    eligible: &dyn Fn(u32) -> bool,
    n: usize,
) -> (Vec<Candidate>, String) {
    let region_list = region.and_then(|r| popular.by_region.get(r));
    let global = popular.by_region.get("");
    let catalog_order = (0..catalog_len as u32).map(|i| (i, SourceKind::Catalog));
    let mut extra: Vec<Candidate> = Vec::new();
    let mut seen: HashSet<u32> = items.iter().map(|c| c.item).collect();
    let floor = items.iter().map(|c| c.score).fold(f32::INFINITY, f32::min);
    let mut score = if floor.is_finite() { floor * 0.5 } else { 1.0 };
    for (item, source) in region_list
        .into_iter()
        .flatten()
        .chain(global.into_iter().flatten())
        .map(|&i| (i, SourceKind::Popular))
        .chain(catalog_order)
    {
        if extra.len() >= 3 * n {
            break;
        }
        if seen.insert(item) && eligible(item) {
            score *= 0.999;
            extra.push(Candidate {
                item,
                score,
                source,
                because: None,
            });
        }
    }
    let level = match region_list {
        Some(_) => format!("region:{}", region.unwrap_or("")),
        None => "global".into(),
    };
    (extra, level)
}

/// Whether anything beyond the main sources made the list (pins are
/// rules, not fallbacks).
fn fallback_used(items: &[Candidate], from_main: &HashSet<u32>) -> bool {
    items
        .iter()
        .any(|c| c.source != SourceKind::Pinned && !from_main.contains(&c.item))
}

/// The final list with the promotion (index) of each item and the
/// content slots of active promotions.
struct Promoted {
    items: Vec<Candidate>,
    promotion_of: Vec<Option<usize>>,
    content: Vec<ContentSlot>,
}

impl Promoted {
    /// `items` without promotions.
    fn none(items: Vec<Candidate>) -> Self {
        Promoted {
            promotion_of: vec![None; items.len()],
            items,
            content: Vec::new(),
        }
    }
}

/// Lets the promotions active on the request's placement, region and
/// time take their share of slots, through the same eligibility.
fn promote(
    promotions: &Promotions,
    req: &Request,
    now: i64,
    items: Vec<Candidate>,
    n: usize,
    eligible: &dyn Fn(u32) -> bool,
) -> Promoted {
    let active = promotions.active(&req.placement, req.region.as_deref(), now);
    let r = promotions.apply(&active, items, n, eligible);
    let (items, promotion_of) = r.items.into_iter().unzip();
    Promoted {
        items,
        promotion_of,
        content: r.content,
    }
}

/// The response items: ids, scores, sources and a reason for each.
fn explain_items(
    promoted: &Promoted,
    promotions: &Promotions,
    snap: &Snapshot,
    levels: &HashMap<SourceKind, String>,
    region_names: &BTreeMap<String, String>,
) -> Vec<ResponseItem> {
    promoted
        .items
        .iter()
        .zip(&promoted.promotion_of)
        .map(|(c, promo)| {
            let promotion = promo.map(|p| promotions.get(p));
            ResponseItem {
                item: snap.universe.id(c.item).unwrap_or_default().to_owned(),
                score: c.score,
                source: c.source,
                reason: explain(c, promotion, &snap.models.catalog, levels, region_names),
                promotion: promotion.map(|p| p.id.clone()),
            }
        })
        .collect()
}

/// A person-readable reason for one item.
fn explain(
    c: &Candidate,
    promotion: Option<&Promotion>,
    catalog: &Catalog,
    levels: &HashMap<SourceKind, String>,
    region_names: &BTreeMap<String, String>,
) -> String {
    let title = |i: u32| {
        catalog
            .item(i)
            .map(|it| {
                if it.title.is_empty() {
                    it.id.clone()
                } else {
                    it.title.clone()
                }
            })
            .unwrap_or_default()
    };
    let area = |kind: SourceKind| {
        let level = levels.get(&kind).map(String::as_str).unwrap_or("global");
        let (scope, code) = level.split_once(':').unwrap_or((level, ""));
        let code = code.split('/').next().unwrap_or(code);
        match scope {
            "region" | "region_category" => {
                format!(
                    " in {}",
                    region_names.get(code).map_or(code, String::as_str)
                )
            }
            "country" | "country_category" => format!(" in {}", code.to_uppercase()),
            _ => String::new(),
        }
    };
    match (c.source, c.because, promotion) {
        (_, _, Some(p)) => format!(
            "Promotion: {}",
            if p.label.is_empty() { &p.id } else { &p.label }
        ),
        (SourceKind::Session, Some(b), _) | (SourceKind::Als, Some(b), _) => {
            format!("Because you viewed {}", title(b))
        }
        (SourceKind::Als, None, _) => "Picked for you".into(),
        (SourceKind::Content, Some(b), _) => format!("Similar to {}", title(b)),
        (SourceKind::Cooccur, Some(b), _) => format!("Goes well with {}", title(b)),
        (SourceKind::Popular, _, _) => format!("Popular{} this week", area(SourceKind::Popular)),
        (SourceKind::TrendingNow, _, _) => format!("Trending now{}", area(SourceKind::TrendingNow)),
        (SourceKind::Pinned, _, _) => "Featured".into(),
        (SourceKind::Catalog, _, _) => "From our range".into(),
        _ => "Recommended for you".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::engine::{EngineConfig, Models};
    use crate::experiment::arms::tests::catalog;
    use crate::rank::{AttributeSimilarity, Rules};
    use crate::resilience::ManualClock;

    fn cand(item: u32, score: f32, source: SourceKind) -> Candidate {
        Candidate {
            item,
            score,
            source,
            because: None,
        }
    }

    fn items_of(list: &[Candidate]) -> Vec<u32> {
        list.iter().map(|c| c.item).collect()
    }

    fn spec(source: SourceName, weight: f32, quota: Option<usize>) -> SourceSpec {
        SourceSpec {
            quota,
            ..SourceSpec::new(source, weight)
        }
    }

    #[test]
    fn n_comes_from_the_request_else_the_placement_and_is_bounded() {
        assert_eq!(requested_n(None, 10).unwrap(), 10);
        assert_eq!(requested_n(Some(3), 10).unwrap(), 3);
        assert!(matches!(
            requested_n(Some(0), 10),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            requested_n(Some(1001), 10),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn the_variant_reported_is_default_holdout_or_the_assigned_one() {
        assert_eq!(variant_of(None), (None, "default".to_owned()));
        let a = Assignment {
            experiment: "x",
            variant: "b",
            holdout: false,
            overrides: &serde_json::Value::Null,
        };
        assert_eq!(variant_of(Some(&a)), (Some("x".into()), "b".into()));
        let held = Assignment { holdout: true, ..a };
        assert_eq!(
            variant_of(Some(&held)),
            (Some("x".into()), "holdout".into())
        );
    }

    #[test]
    fn sources_get_personal_keys_only_with_consent() {
        let req = Request {
            user: Some("ann".into()),
            session: Some("s1".into()),
            region: Some("nl".into()),
            ..Default::default()
        };
        let context = [(4, 1.0)];
        let odd = |i: u32| i % 2 == 1;
        let q = source_query(&req, Consent::Given, 7, &context, &odd);
        assert_eq!(
            (q.user, q.session, q.region),
            (Some("ann"), Some("ann"), Some("nl"))
        );
        assert_eq!((q.context, q.now), (&context[..], 7));
        assert!(q.filter.is_some_and(|f| f(3) && !f(4)));
        let q = source_query(&req, Consent::Withheld, 7, &context, &odd);
        assert_eq!((q.user, q.session, q.region), (None, None, Some("nl")));
    }

    #[test]
    fn blending_weights_sources_and_enforces_quotas() {
        let als = Candidates {
            items: (0..4)
                .map(|i| cand(i, 4.0 - i as f32, SourceKind::Als))
                .collect(),
            level: None,
        };
        let pop = Candidates {
            items: (10..13)
                .map(|i| cand(i, 13.0 - i as f32, SourceKind::Popular))
                .collect(),
            level: None,
        };
        let (a, p) = (
            spec(SourceName::Als, 1.0, Some(2)),
            spec(SourceName::Popular, 0.5, None),
        );
        let out = blend_with_quotas(&[(&a, als.clone()), (&p, pop.clone())], 10);
        // ALS capped at two; popular at half weight after them.
        assert_eq!(items_of(&out), [0, 1, 10, 11, 12]);
        assert!((out[2].score - 0.5).abs() < 1e-6);
        assert_eq!(blend_with_quotas(&[(&a, als), (&p, pop)], 3).len(), 3);
    }

    #[test]
    fn fallback_items_go_below_every_main_item() {
        let mut pool = vec![cand(1, 0.8, SourceKind::Als), cand(2, 0.4, SourceKind::Als)];
        let extra = [
            cand(2, 9.0, SourceKind::TrendingNow),
            cand(3, 9.0, SourceKind::TrendingNow),
            cand(4, 4.5, SourceKind::TrendingNow),
        ];
        append_below(&mut pool, &extra);
        assert_eq!(items_of(&pool), [1, 2, 3, 4]);
        assert_eq!(
            pool[1].source,
            SourceKind::Als,
            "a main item keeps its place"
        );
        assert!((pool[2].score - 0.2).abs() < 1e-6 && (pool[3].score - 0.1).abs() < 1e-6);
        let mut empty = Vec::new();
        append_below(&mut empty, &extra[1..]);
        assert_eq!(empty[0].score, 9.0, "nothing to go below: scores kept");
    }

    #[test]
    fn diversity_spreads_similar_items_only_when_asked() {
        let c = catalog();
        let sim = AttributeSimilarity::new(&c, &["shape".to_owned()], "by").unwrap();
        // i0 and i1 are round, i2 square.
        let pool: Vec<Candidate> = [(0, 1.0), (1, 0.9), (2, 0.8)]
            .map(|(i, s)| cand(i, s, SourceKind::Als))
            .to_vec();
        let rules = Rules {
            in_stock: false,
            available_in_region: false,
            ..Rules::default()
        }
        .compile(&c, "rules")
        .unwrap();
        let by_shape = |a: u32, b: u32| sim.sim(a, b);
        let order = |lambda, sim: Option<&dyn Fn(u32, u32) -> f32>| {
            let ctx = RuleContext::default();
            items_of(&diversify_then_rules(
                pool.clone(),
                lambda,
                sim,
                &rules,
                &ctx,
                3,
            ))
        };
        assert_eq!(order(1.0, Some(&by_shape)), [0, 1, 2]);
        assert_eq!(order(0.3, None), [0, 1, 2], "nothing to compare by");
        assert_eq!(order(0.3, Some(&by_shape)), [0, 2, 1]);
    }

    #[test]
    fn last_resorts_fill_from_region_then_everywhere_then_the_catalog() {
        let popular = PopularCache {
            at: 0,
            by_region: [("nl".to_owned(), vec![3, 1]), (String::new(), vec![1, 0])]
                .into_iter()
                .collect(),
            universe: Arc::new(IdMap::new()),
        };
        let listed = [cand(2, 0.4, SourceKind::Als)];
        let not_four = |i: u32| i != 4;
        let (extra, level) = last_resorts(&listed, &popular, Some("nl"), 6, &not_four, 2);
        assert_eq!(items_of(&extra), [3, 1, 0, 5]);
        assert_eq!(level, "region:nl");
        assert_eq!(extra[3].source, SourceKind::Catalog);
        assert!(extra[0].score < 0.2 && extra.windows(2).all(|w| w[0].score > w[1].score));
        let (extra, level) = last_resorts(&[], &popular, Some("be"), 3, &not_four, 1);
        assert_eq!(
            (items_of(&extra), level.as_str()),
            (vec![1, 0, 2], "global")
        );
    }

    #[test]
    fn a_fallback_counts_only_when_one_of_its_items_made_the_list() {
        let main: HashSet<u32> = [1, 2].into_iter().collect();
        let list = |extra: SourceKind| [cand(1, 1.0, SourceKind::Als), cand(7, 0.5, extra)];
        assert!(fallback_used(&list(SourceKind::Popular), &main));
        assert!(!fallback_used(&list(SourceKind::Pinned), &main));
        assert!(!fallback_used(&[cand(2, 1.0, SourceKind::Als)], &main));
    }

    #[test]
    fn promotions_take_their_slots_when_active() {
        let c = catalog();
        let promo = Promotion {
            id: "p".into(),
            label: "Spring".into(),
            items: vec!["i3".into()],
            share: 0.5,
            ..Default::default()
        };
        let promotions = Promotions::compile(&[promo], &c, "promotions").unwrap();
        let req = Request {
            placement: "home".into(),
            ..Default::default()
        };
        let ranked: Vec<Candidate> = (0..3).map(|i| cand(i, 1.0, SourceKind::Als)).collect();
        let got = promote(&promotions, &req, 0, ranked.clone(), 2, &|_| true);
        assert!(
            items_of(&got.items).contains(&3),
            "{:?}",
            items_of(&got.items)
        );
        let at = got.items.iter().position(|c| c.item == 3).unwrap();
        assert_eq!(got.promotion_of[at], Some(0));
        assert_eq!(got.items.len(), got.promotion_of.len());
        let none = Promoted::none(ranked);
        assert_eq!(none.promotion_of, vec![None; 3]);
        assert!(none.content.is_empty());
    }

    #[test]
    fn reasons_name_the_source_the_item_behind_it_and_the_area() {
        let c = catalog();
        let levels: HashMap<SourceKind, String> = [(SourceKind::Popular, "region:nl".to_owned())]
            .into_iter()
            .collect();
        let names: BTreeMap<String, String> = [("nl".to_owned(), "the Netherlands".to_owned())]
            .into_iter()
            .collect();
        let reason = |c0: Candidate| explain(&c0, None, &c, &levels, &names);
        let because = |source, b| Candidate {
            because: Some(b),
            ..cand(0, 1.0, source)
        };
        assert_eq!(
            reason(because(SourceKind::Session, 1)),
            "Because you viewed i1"
        );
        assert_eq!(reason(cand(0, 1.0, SourceKind::Als)), "Picked for you");
        assert_eq!(reason(because(SourceKind::Content, 2)), "Similar to i2");
        assert_eq!(reason(because(SourceKind::Cooccur, 2)), "Goes well with i2");
        assert_eq!(
            reason(cand(0, 1.0, SourceKind::Popular)),
            "Popular in the Netherlands this week"
        );
        assert_eq!(
            reason(cand(0, 1.0, SourceKind::TrendingNow)),
            "Trending now"
        );
        assert_eq!(reason(cand(0, 1.0, SourceKind::Catalog)), "From our range");
        let p = Promotion {
            id: "p".into(),
            ..Default::default()
        };
        assert_eq!(
            explain(
                &cand(0, 1.0, SourceKind::Als),
                Some(&p),
                &c,
                &levels,
                &names
            ),
            "Promotion: p"
        );
    }

    /// An engine over the test catalog without models: ALS and the
    /// session source are unavailable, popular answers from trending.
    fn bare_engine() -> Engine {
        let config: EngineConfig = serde_json::from_value(json!({
            "placements": {"home": {"n": 3, "sources": [{"source": "als"}, {"source": "popular"}],
                                    "fallback": [{"source": "session"}]}}
        }))
        .unwrap();
        let models = Models {
            catalog: Arc::new(catalog()),
            als: None,
            cooccur: None,
            content: None,
        };
        Engine::with_clock(config, models, Arc::new(ManualClock::new(0))).unwrap()
    }

    #[test]
    fn without_consent_personal_sources_are_not_asked() {
        let engine = bare_engine();
        let req = |consent| Request {
            placement: "home".into(),
            user: Some("ann".into()),
            consent,
            now: Some(0),
            ..Default::default()
        };
        let status = |r: &Response| -> Vec<(String, SourceStatus)> {
            r.sources
                .iter()
                .map(|s| (s.source.clone(), s.status))
                .collect()
        };
        let r = recommend(&engine, &req(false)).unwrap();
        assert_eq!(
            status(&r),
            [
                ("als".to_owned(), SourceStatus::NotPersonal),
                ("popular".to_owned(), SourceStatus::Ok),
                ("session".to_owned(), SourceStatus::NotPersonal),
            ]
        );
        assert!(!r.personalised);
        // Filled from the catalog, the last resort.
        assert_eq!(r.items.len(), 3);
        assert!(r.fallback_used && r.items.iter().all(|i| i.source == SourceKind::Catalog));
        // Tracked under an opaque key, not under ann.
        assert!(engine
            .tracker()
            .export_user("ann")
            .recommendations
            .is_empty());
        let r = recommend(&engine, &req(true)).unwrap();
        assert_eq!(
            r.sources[0].status,
            SourceStatus::Unavailable,
            "no ALS model"
        );
        assert_eq!(
            r.sources[2].status,
            SourceStatus::Unavailable,
            "no model behind sessions"
        );
        assert_eq!(engine.tracker().export_user("ann").recommendations.len(), 1);
        assert_ne!(
            r.recommendation_id,
            recommend(&engine, &req(true)).unwrap().recommendation_id
        );
    }
}
