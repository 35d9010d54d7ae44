//! The engine: one object that answers "what do we show this person, here,
//! now?" for every placement, learns from live events, measures what works
//! and forgets people on request.
//!
//! A request runs its placement's pipeline (after the A/B variant's
//! overrides):
//!
//! 1. every source of the placement is asked, under its time budget and
//!    circuit breaker, with the placement's rules as the search filter;
//! 2. the answers are blended (scores scaled to 0–1 per source, weighted),
//!    with per-source quotas;
//! 3. diversity (MMR), then boosts, brand caps and pins;
//! 4. while the list is short of `n`: the fallback sources, then
//!    popular-in-region (precomputed), then the catalog — all through the
//!    same rules, so `n` items come back whenever the catalog has them;
//! 5. promotions take their share of slots (again through the rules);
//! 6. every item gets a reason, the response an id for attribution.
//!
//! Without consent a request is answered without personal sources (ALS,
//! session) and nothing about the visitor is stored.

pub mod config;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::als::AlsModel;
use crate::candidate::{
    blend, AlsSource, Candidate, CandidateSource, Candidates, CooccurSource, Query, SourceKind,
    TrendingSource,
};
use crate::content::{ContentIndex, ContentSource};
use crate::cooccur::CooccurModel;
use crate::data::{Catalog, Channel, Event, EventKind};
use crate::error::{Error, Result};
use crate::experiment::{merge_patch, Experiments};
use crate::ids::IdMap;
use crate::metrics::Metrics;
use crate::rank::{
    mmr, AttributeSimilarity, CompiledRules, ContentSlot, DiversityBy, Promotion, Promotions,
    RuleContext,
};
use crate::resilience::{guarded, CircuitBreaker, Clock, Deadline, Guarded, Reason};
use crate::session::{SessionRecommender, SessionStore};
use crate::store::{Component, ModelFile, TensorData};
use crate::tracking::{Served, Tracker};
use crate::trending::{TrendingQuery, TrendingStore};

pub use config::{default_placements, EngineConfig, PlacementConfig, SourceName, SourceSpec};

/// The trained models an engine serves. Swapped as a whole.
#[derive(Debug, Clone)]
pub struct Models {
    /// The product catalog: item universe, facts for rules, titles.
    pub catalog: Arc<Catalog>,
    /// Collaborative filtering.
    pub als: Option<Arc<AlsModel>>,
    /// Item-to-item co-occurrence.
    pub cooccur: Option<Arc<CooccurModel>>,
    /// Content similarity.
    pub content: Option<Arc<ContentIndex>>,
}

/// A recommendation request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    /// Placement name (`home`, `product_page`, `cart`, `email`, `in_store`
    /// or one from the config).
    pub placement: String,
    /// Known customer id.
    pub user: Option<String>,
    /// Anonymous visitor id (the `user` of their events) when there is no
    /// known customer; also the experiment unit for anonymous traffic.
    pub session: Option<String>,
    /// Region code of the visitor or store.
    pub region: Option<String>,
    /// Sales channel.
    pub channel: Option<Channel>,
    /// Items in context: the product on the page.
    pub context_items: Vec<String>,
    /// Items in the cart.
    pub cart: Vec<String>,
    /// Restrict popularity to a category (e.g. a category page).
    pub category: Option<String>,
    /// Items wanted (default: the placement's `n`).
    pub n: Option<usize>,
    /// Whether the visitor consented to personalisation and tracking.
    /// Without it: no personal sources, nothing stored about them.
    pub consent: bool,
    /// Request time, Unix seconds (default: now).
    pub now: Option<i64>,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseItem {
    /// Item id.
    pub item: String,
    /// Blended score (comparable within one response).
    pub score: f32,
    /// The source that put it here.
    pub source: SourceKind,
    /// Why, for people.
    pub reason: String,
    /// The promotion id when promoted.
    pub promotion: Option<String>,
}

/// What happened to one source of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// Config spelling of the source.
    pub source: String,
    /// `ok`, `failed`, `timeout`, `breaker_open`, `no_time`, `unavailable`
    /// (no model) or `not_personal` (left out without consent).
    pub status: String,
    /// Candidates it gave.
    pub candidates: usize,
    /// Time it took in microseconds.
    pub latency_us: u64,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Id to report impressions, clicks and conversions against.
    pub recommendation_id: String,
    /// The placement.
    pub placement: String,
    /// The experiment this request took part in.
    pub experiment: Option<String>,
    /// Its variant (`default` outside experiments, `holdout` in a holdout).
    pub variant: String,
    /// The items, best first.
    pub items: Vec<ResponseItem>,
    /// Content slots (banners) of active promotions.
    pub content: Vec<ContentSlot>,
    /// Whether anything beyond the main sources was needed.
    pub fallback_used: bool,
    /// Whether personal sources were used.
    pub personalised: bool,
    /// Per-source outcome, main sources then fallbacks.
    pub sources: Vec<SourceReport>,
}

/// A placement compiled against one catalog.
struct Placement {
    config: PlacementConfig,
    rules: CompiledRules,
    similarity: Option<AttributeSimilarity>,
}

/// One variant's placements and promotions.
struct Arm {
    placements: HashMap<String, Placement>,
    promotions: Promotions,
}

/// Everything derived from one set of models; replaced atomically.
struct Snapshot {
    models: Models,
    universe: Arc<IdMap>,
    sources: HashMap<SourceName, Arc<dyn CandidateSource>>,
    /// The default arm and one per (experiment, variant).
    default_arm: Arm,
    arms: HashMap<(String, String), Arm>,
    session: Arc<SessionStore>,
}

/// Most purchases remembered per customer (for "exclude purchased").
const MAX_PURCHASES: usize = 200;

/// The recommendation engine (see the [module docs](self)). `Send + Sync`;
/// serve it from any number of threads.
pub struct Engine {
    config: EngineConfig,
    snapshot: ArcSwap<Snapshot>,
    /// The last fallback, recomputed by [`Engine::refresh_popular`].
    popular: ArcSwap<PopularCache>,
    /// Set while one request recomputes a stale popular cache.
    refreshing_popular: AtomicBool,
    /// Serialises model swaps (readers never wait for it).
    swap_lock: Mutex<()>,
    trending: Arc<RwLock<TrendingStore>>,
    purchases: Mutex<HashMap<String, Vec<(u32, i64)>>>,
    tracker: Tracker,
    metrics: Metrics,
    breakers: RwLock<BTreeMap<String, Arc<CircuitBreaker>>>,
    externals: RwLock<HashMap<String, Arc<dyn CandidateSource>>>,
    experiments: Experiments,
    clock: Arc<dyn Clock>,
    ids: AtomicU64,
    id_prefix: String,
}

fn poisoned<T>(_: T) -> Error {
    Error::invalid("an engine lock was poisoned by a panic in another thread")
}

fn now_unix() -> i64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
    #[cfg(target_arch = "wasm32")]
    {
        0
    }
}

impl Engine {
    /// An engine over `models` with `config`, measuring time with the
    /// system clock.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(config: EngineConfig, models: Models) -> Result<Self> {
        Self::with_clock(
            config,
            models,
            Arc::new(crate::resilience::SystemClock::new()),
        )
    }

    /// An engine with an explicit clock (tests use a manual one).
    pub fn with_clock(config: EngineConfig, models: Models, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        let experiments = Experiments::new(config.experiments.clone())
            .map_err(|e| config::prefix(e, "experiments"))?;
        let trending = TrendingStore::new(config.trending.clone(), Some(&models.catalog))?;
        let trending = Arc::new(RwLock::new(trending));
        let universe = Arc::new(models.catalog.ids().clone());
        let session = Arc::new(SessionStore::new(config.session.clone(), universe)?);
        let tracker = Tracker::new(config.tracking.clone())?;
        let mut breakers = BTreeMap::new();
        for name in [
            SourceName::Als,
            SourceName::Content,
            SourceName::Cooccur,
            SourceName::Session,
            SourceName::Popular,
            SourceName::TrendingNow,
        ] {
            breakers.insert(
                name.as_string(),
                Arc::new(CircuitBreaker::new(config.breaker.clone())?),
            );
        }
        let popular = popular_cache(&config, &models.catalog, &trending, now_unix())?;
        let snapshot = build_snapshot(&config, models, &trending, session)?;
        let seed = clock.now_micros() ^ (std::process::id() as u64).rotate_left(32);
        Ok(Engine {
            snapshot: ArcSwap::from_pointee(snapshot),
            popular: ArcSwap::from_pointee(popular),
            refreshing_popular: AtomicBool::new(false),
            swap_lock: Mutex::new(()),
            trending,
            purchases: Mutex::new(HashMap::new()),
            tracker,
            metrics: Metrics::new(),
            breakers: RwLock::new(breakers),
            externals: RwLock::new(HashMap::new()),
            experiments,
            clock,
            ids: AtomicU64::new(0),
            id_prefix: format!("{:012x}", seed & 0xffff_ffff_ffff),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The models being served.
    pub fn models(&self) -> Models {
        self.snapshot.load().models.clone()
    }

    /// Serves `models` from now on. Everything derived from them (rules,
    /// promotions, the popular cache) is rebuilt first, so invalid rules
    /// for the new catalog are an error and the old models stay; readers
    /// are never blocked and see either the old or the new set.
    pub fn swap_models(&self, models: Models) -> Result<()> {
        let _guard = self.swap_lock.lock().map_err(poisoned)?;
        let old = self.snapshot.load_full();
        let session = if Arc::ptr_eq(&old.models.catalog, &models.catalog)
            || old.models.catalog.ids() == models.catalog.ids()
        {
            old.session.clone()
        } else {
            Arc::new(
                old.session
                    .with_universe(Arc::new(models.catalog.ids().clone()))?,
            )
        };
        let popular = popular_cache(&self.config, &models.catalog, &self.trending, now_unix())?;
        let snapshot = build_snapshot(&self.config, models, &self.trending, session)?;
        self.snapshot.store(Arc::new(snapshot));
        self.popular.store(Arc::new(popular));
        self.metrics
            .counter("sightline_model_swaps_total", &[])?
            .inc();
        Ok(())
    }

    /// Recomputes the popular-per-region cache of the last fallback from
    /// the live trending store, decayed to `now`. The engine also does so
    /// at start, after [`ingest_batch`](Self::ingest_batch), and when a
    /// request needs the cache and it is `popular_refresh_seconds` old.
    pub fn refresh_popular(&self, now: i64) -> Result<()> {
        let catalog = self.snapshot.load().models.catalog.clone();
        let popular = popular_cache(&self.config, &catalog, &self.trending, now)?;
        self.popular.store(Arc::new(popular));
        Ok(())
    }

    /// The popular cache for a request at `now`, recomputed first when it
    /// is stale; while one thread recomputes, the others use the old one.
    fn fresh_popular(&self, now: i64) -> Arc<PopularCache> {
        let cache = self.popular.load_full();
        let every = self.config.popular_refresh_seconds;
        if every > 0
            && now.abs_diff(cache.at) >= every
            && !self.refreshing_popular.swap(true, Ordering::AcqRel)
        {
            if let Err(e) = self.refresh_popular(now) {
                tracing::warn!(error = %e, "popular cache refresh failed; keeping the old one");
            }
            self.refreshing_popular.store(false, Ordering::Release);
            return self.popular.load_full();
        }
        cache
    }

    /// Adds a user-supplied source, usable in placements as
    /// `external:<name>` (e.g. an inventory or CMS lookup). It answers in
    /// catalog indices; it runs under its own breaker and budget, and a
    /// panic inside it counts as a failure.
    pub fn register_source(&self, name: &str, source: Arc<dyn CandidateSource>) -> Result<()> {
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(Error::invalid(format!("bad source name {name:?}")));
        }
        let key = SourceName::External(name.to_owned()).as_string();
        self.breakers
            .write()
            .map_err(poisoned)?
            .entry(key)
            .or_insert(Arc::new(CircuitBreaker::new(self.config.breaker.clone())?));
        self.externals
            .write()
            .map_err(poisoned)?
            .insert(name.to_owned(), source);
        Ok(())
    }

    /// The metrics registry (Prometheus text or JSON export).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The attribution tracker.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    fn breaker(&self, name: &SourceName) -> Option<Arc<CircuitBreaker>> {
        self.breakers.read().ok()?.get(&name.as_string()).cloned()
    }

    /// Answers a request (see the [module docs](self)).
    ///
    /// Errors: an unknown placement ([`Error::UnknownId`]-like
    /// [`Error::InvalidInput`] naming it) or `n` out of `1..=1000`. Unknown
    /// context or cart item ids are ignored.
    pub fn recommend(&self, req: &Request) -> Result<Response> {
        let started = self.clock.now_micros();
        let snap = self.snapshot.load_full();
        let now = req.now.unwrap_or_else(now_unix);
        let _span = tracing::info_span!("recommend", placement = %req.placement).entered();
        // Experiment assignment: sticky by user or session id.
        let assignment = self.experiments.assign(
            &req.placement,
            req.user.as_deref(),
            req.session.as_deref(),
            now,
        );
        let arm = match &assignment {
            Some(a) if !a.holdout => snap
                .arms
                .get(&(a.experiment.to_owned(), a.variant.to_owned()))
                .unwrap_or(&snap.default_arm),
            _ => &snap.default_arm,
        };
        let placement = arm
            .placements
            .get(&req.placement)
            .ok_or_else(|| Error::invalid(format!("unknown placement {:?}", req.placement)))?;
        let n = req.n.unwrap_or(placement.config.n);
        if n == 0 || n > 1000 {
            return Err(Error::invalid(format!("n must be in 1..=1000, got {n}")));
        }
        let (experiment, variant) = match &assignment {
            Some(a) => (
                Some(a.experiment.to_owned()),
                if a.holdout {
                    "holdout".to_owned()
                } else {
                    a.variant.to_owned()
                },
            ),
            None => (None, "default".to_owned()),
        };
        let universe = &snap.universe;
        let index =
            |ids: &[String]| -> Vec<u32> { ids.iter().filter_map(|id| universe.get(id)).collect() };
        let context = index(&req.context_items);
        let cart = index(&req.cart);
        let purchased: Vec<(u32, i64)> = match (&req.user, req.consent) {
            (Some(u), true) => self
                .purchases
                .lock()
                .map_err(poisoned)?
                .get(u)
                .cloned()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let ctx = RuleContext {
            region: req.region.as_deref(),
            now,
            purchased: &purchased,
            cart: &cart,
        };
        let rules = &placement.rules;
        let eligible = rules.predicate(&ctx);
        let mut ctx_items: Vec<(u32, f32)> = context.iter().map(|&i| (i, 1.0)).collect();
        ctx_items.extend(cart.iter().map(|&i| (i, 1.0)));
        let deadline = Deadline::new(started, (placement.config.deadline_ms * 1000.0) as u64);
        let mut reports = Vec::new();
        let mut levels: HashMap<SourceKind, String> = HashMap::new();
        let ask = |spec: &SourceSpec,
                   want: usize,
                   reports: &mut Vec<SourceReport>,
                   levels: &mut HashMap<SourceKind, String>|
         -> Option<Candidates> {
            let name = spec.source.as_string();
            let report = |status: &str, candidates, latency_us| SourceReport {
                source: name.clone(),
                status: status.into(),
                candidates,
                latency_us,
            };
            if spec.source.is_personal() && !req.consent {
                reports.push(report("not_personal", 0, 0));
                return None;
            }
            let source = match &spec.source {
                SourceName::External(x) => self.externals.read().ok()?.get(x).cloned(),
                other => snap.sources.get(other).cloned(),
            };
            let (Some(source), Some(breaker)) = (source, self.breaker(&spec.source)) else {
                reports.push(report("unavailable", 0, 0));
                return None;
            };
            let mut q = Query::new(spec.candidates.unwrap_or(3 * want).max(want), now);
            q.user = if req.consent {
                req.user.as_deref()
            } else {
                None
            };
            // The session store is keyed like events are: by the event's
            // `user` (the customer, or the anonymous visitor's id).
            q.session = if req.consent {
                req.user.as_deref().or(req.session.as_deref())
            } else {
                None
            };
            q.context = &ctx_items;
            q.region = req.region.as_deref();
            q.channel = req.channel;
            q.category = req.category.as_deref();
            q.filter = Some(&eligible);
            let _stage = tracing::debug_span!("source", source = %name).entered();
            let budget_us = (spec.budget_ms * 1000.0) as u64;
            let outcome = guarded(&breaker, &*self.clock, budget_us, &deadline, || {
                source.candidates(&q)
            });
            let (status, result, latency) = match outcome {
                Guarded::Ok(c, us) => ("ok", Some(c), us),
                Guarded::Failed(e) => {
                    tracing::warn!(source = %name, error = %e, "source failed");
                    ("failed", None, 0)
                }
                Guarded::TimedOut(us) => ("timeout", None, us),
                Guarded::Skipped(Reason::BreakerOpen) => ("breaker_open", None, 0),
                Guarded::Skipped(Reason::NoTimeLeft) => ("no_time", None, 0),
            };
            self.observe_source(&req.placement, &name, status, latency);
            reports.push(report(
                status,
                result.as_ref().map_or(0, |c| c.items.len()),
                latency,
            ));
            let c = result?;
            if let (Some(level), Some(first)) = (&c.level, c.items.first()) {
                levels.insert(first.source, level.clone());
            }
            Some(c)
        };
        // 1-2. main sources, blended with quotas.
        let mut lists = Vec::new();
        for spec in &placement.config.sources {
            if let Some(c) = ask(spec, n, &mut reports, &mut levels) {
                lists.push((spec, c));
            }
        }
        let mut pool = blend_with_quotas(&lists, 3 * n);
        let from_main: HashSet<u32> = pool.iter().map(|c| c.item).collect();
        // 4a. fallback sources while short (scored below every main item).
        for spec in &placement.config.fallback {
            if pool.len() >= 3 * n {
                break;
            }
            if let Some(c) = ask(spec, n, &mut reports, &mut levels) {
                append_below(&mut pool, &blend_with_quotas(&[(spec, c)], 3 * n));
            }
        }
        // 3. diversity, then boosts / brand cap / pins.
        let diversified = match (
            &placement.similarity,
            placement.config.diversity.lambda < 1.0,
        ) {
            (_, false) => pool,
            (Some(sim), true) => mmr(
                &pool,
                pool.len(),
                placement.config.diversity.lambda,
                &|a, b| sim.sim(a, b),
            ),
            (None, true) => match &snap.models.content {
                Some(content) => mmr(
                    &pool,
                    pool.len(),
                    placement.config.diversity.lambda,
                    &|a, b| embedding_sim(content, universe, a, b),
                ),
                None => pool,
            },
        };
        let mut items = rules.finish(diversified, &ctx, n);
        // 4b. the last resorts: popular in the region, then everywhere,
        // then the catalog; through the same rules.
        if items.len() < n {
            let popular = self.fresh_popular(now);
            let region_list = req
                .region
                .as_ref()
                .and_then(|r| popular.by_region.get(r.as_str()));
            let global = popular.by_region.get("");
            let catalog_order = (0..universe.len() as u32).map(|i| (i, SourceKind::Catalog));
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
            if !extra.is_empty() {
                levels
                    .entry(SourceKind::Popular)
                    .or_insert_with(|| match region_list {
                        Some(_) => format!("region:{}", req.region.as_deref().unwrap_or("")),
                        None => "global".into(),
                    });
                items.extend(extra);
                items = rules.finish(items, &ctx, n);
            }
        }
        // Derived from the answer itself: a fallback counts only when one of
        // its items made the list (pins are rules, not fallbacks).
        let fallback_used = items
            .iter()
            .any(|c| c.source != SourceKind::Pinned && !from_main.contains(&c.item));
        // 5. promotions, through the same eligibility.
        let (items, content_slots, promo_of) = if placement.config.promotions {
            let active = arm
                .promotions
                .active(&req.placement, req.region.as_deref(), now);
            let r = arm.promotions.apply(&active, items, n, &eligible);
            let promo_of: Vec<Option<usize>> = r.items.iter().map(|e| e.1).collect();
            (
                r.items.into_iter().map(|e| e.0).collect(),
                r.content,
                promo_of,
            )
        } else {
            let len = items.len();
            (items, Vec::new(), vec![None; len])
        };
        // 6. reasons, id, tracking, metrics.
        let catalog = &snap.models.catalog;
        let out: Vec<ResponseItem> = items
            .iter()
            .zip(&promo_of)
            .map(|(c, promo)| ResponseItem {
                item: universe.id(c.item).unwrap_or_default().to_owned(),
                score: c.score,
                source: c.source,
                reason: explain(
                    c,
                    promo.map(|p| arm.promotions.get(p)),
                    catalog,
                    &levels,
                    &self.config.region_names,
                ),
                promotion: promo.map(|p| arm.promotions.get(p).id.clone()),
            })
            .collect();
        let recommendation_id = format!(
            "{}-{:x}",
            self.id_prefix,
            self.ids.fetch_add(1, Ordering::Relaxed)
        );
        let served: Vec<(u32, SourceKind)> = items.iter().map(|c| (c.item, c.source)).collect();
        // Without consent the response is tracked under an opaque key of
        // its own, so aggregate CTR still counts and nothing links to them.
        let anonymous = format!("anonymous:{recommendation_id}");
        let tracked_user = match (req.consent, &req.user, &req.session) {
            (true, Some(u), _) | (true, None, Some(u)) => u.as_str(),
            _ => anonymous.as_str(),
        };
        self.tracker.served(&Served {
            recommendation_id: &recommendation_id,
            user: tracked_user,
            placement: &req.placement,
            variant: &variant,
            items: &served,
            timestamp: now,
        })?;
        let elapsed = self.clock.now_micros().saturating_sub(started);
        self.observe_request(&req.placement, &variant, fallback_used, elapsed);
        Ok(Response {
            recommendation_id,
            placement: req.placement.clone(),
            experiment,
            variant,
            items: out,
            content: content_slots,
            fallback_used,
            personalised: req.consent,
            sources: reports,
        })
    }

    fn observe_source(&self, placement: &str, source: &str, status: &str, latency_us: u64) {
        let labels = [("placement", placement), ("source", source)];
        if let Ok(h) = self
            .metrics
            .histogram("sightline_source_latency_seconds", &labels)
        {
            h.observe(latency_us as f64 / 1e6);
        }
        let labels = [
            ("placement", placement),
            ("source", source),
            ("status", status),
        ];
        if let Ok(c) = self
            .metrics
            .counter("sightline_source_calls_total", &labels)
        {
            c.inc();
        }
    }

    fn observe_request(&self, placement: &str, variant: &str, fallback: bool, latency_us: u64) {
        let labels = [("placement", placement), ("variant", variant)];
        if let Ok(c) = self.metrics.counter("sightline_requests_total", &labels) {
            c.inc();
        }
        if fallback {
            if let Ok(c) = self.metrics.counter("sightline_fallbacks_total", &labels) {
                c.inc();
            }
        }
        if let Ok(h) = self.metrics.histogram(
            "sightline_request_latency_seconds",
            &[("placement", placement)],
        ) {
            h.observe(latency_us as f64 / 1e6);
        }
    }

    /// Learns from one live event: trending always (it keeps no personal
    /// data); with `consent`, also the visitor's session, their purchase
    /// history and conversion attribution (a purchase's revenue is the
    /// catalog price).
    pub fn ingest(&self, event: &Event, consent: bool) -> Result<()> {
        let snap = self.snapshot.load();
        self.trending.write().map_err(poisoned)?.ingest(event)?;
        if consent {
            snap.session.ingest(event)?;
            self.record_purchase(&snap, event)?;
        }
        self.count_event(event);
        Ok(())
    }

    /// Learns from many events as [`ingest`](Self::ingest) does, all or
    /// nothing: an invalid event anywhere is an error naming its position,
    /// with nothing learnt. Then recomputes the popular cache as of the
    /// newest event. Returns the number of events.
    pub fn ingest_batch(&self, events: &[Event], consent: bool) -> Result<usize> {
        let snap = self.snapshot.load();
        // Sessions are checked up front; the trending batch checks its own
        // events before adding any, so a failure anywhere changes nothing.
        if consent {
            for (i, e) in events.iter().enumerate() {
                snap.session.check(e).map_err(|err| err.at_event(i))?;
            }
        }
        self.trending
            .write()
            .map_err(poisoned)?
            .ingest_batch(events)?;
        if consent {
            snap.session.ingest_batch(events)?;
        }
        for e in events {
            if consent {
                self.record_purchase(&snap, e)?;
            }
            self.count_event(e);
        }
        if let Some(newest) = events.iter().map(|e| e.timestamp).max() {
            self.refresh_popular(newest)?;
        }
        Ok(events.len())
    }

    /// A consenting visitor's purchase: their purchase history and its
    /// conversion attribution (revenue = the catalog price).
    fn record_purchase(&self, snap: &Snapshot, event: &Event) -> Result<()> {
        if event.kind != EventKind::Purchase {
            return Ok(());
        }
        let Some(item) = snap.universe.get(&event.item) else {
            return Ok(());
        };
        let mut p = self.purchases.lock().map_err(poisoned)?;
        let list = p.entry(event.user.clone()).or_default();
        list.push((item, event.timestamp));
        if list.len() > MAX_PURCHASES {
            list.remove(0);
        }
        drop(p);
        let revenue = snap
            .models
            .catalog
            .item(item)
            .and_then(|i| i.price)
            .unwrap_or(0.0);
        self.tracker
            .conversion(&event.user, item, revenue, event.timestamp)?;
        Ok(())
    }

    fn count_event(&self, event: &Event) {
        if let Ok(c) = self
            .metrics
            .counter("sightline_events_total", &[("kind", event.kind.as_str())])
        {
            c.inc();
        }
    }

    /// Records that a response was shown.
    pub fn track_impression(&self, recommendation_id: &str, timestamp: i64) -> Result<bool> {
        self.tracker.impression(recommendation_id, timestamp)
    }

    /// Records a click on `item` of a response.
    pub fn track_click(&self, recommendation_id: &str, item: &str, timestamp: i64) -> Result<bool> {
        match self.snapshot.load().universe.get(item) {
            Some(i) => self.tracker.click(recommendation_id, i, timestamp),
            None => Ok(false),
        }
    }

    /// Records a purchase of `item` by `user` with `revenue` (attributed
    /// to their last click on it within the conversion window).
    pub fn track_conversion(
        &self,
        user: &str,
        item: &str,
        revenue: f64,
        timestamp: i64,
    ) -> Result<bool> {
        match self.snapshot.load().universe.get(item) {
            Some(i) => self.tracker.conversion(user, i, revenue, timestamp),
            None => Ok(false),
        }
    }

    /// Removes a person immediately (GDPR erasure): their session, purchase
    /// history, attribution log and ALS factors (a new model snapshot is
    /// swapped in; the next saved file has no trace of them). Returns what
    /// was removed.
    pub fn forget_user(&self, user: &str) -> Result<Value> {
        let _guard = self.swap_lock.lock().map_err(poisoned)?;
        let snap = self.snapshot.load_full();
        let session = snap.session.forget(user);
        let purchases = self
            .purchases
            .lock()
            .map_err(poisoned)?
            .remove(user)
            .map_or(0, |p| p.len());
        let tracked = self.tracker.forget_user(user);
        let mut als = false;
        if let Some(model) = &snap.models.als {
            if model.users().get(user).is_some() {
                let mut m = (**model).clone();
                als = m.forget_user(user);
                let mut models = snap.models.clone();
                models.als = Some(Arc::new(m));
                let next =
                    build_snapshot(&self.config, models, &self.trending, snap.session.clone())?;
                self.snapshot.store(Arc::new(next));
            }
        }
        Ok(json!({
            "user": user,
            "session": session,
            "purchases": purchases,
            "attribution_records": tracked,
            "als_factors": als,
        }))
    }

    /// Everything held about a person, as JSON (GDPR access).
    pub fn export_user(&self, user: &str) -> Result<Value> {
        let snap = self.snapshot.load();
        let name = |i: u32| snap.universe.id(i).unwrap_or_default().to_owned();
        let session: Vec<Value> = snap
            .session
            .export(user)
            .into_iter()
            .map(|e| json!({"item": name(e.item), "kind": e.kind.as_str(), "timestamp": e.timestamp}))
            .collect();
        let purchases: Vec<Value> = self
            .purchases
            .lock()
            .map_err(poisoned)?
            .get(user)
            .map(|p| {
                p.iter()
                    .map(|&(i, t)| json!({"item": name(i), "timestamp": t}))
                    .collect()
            })
            .unwrap_or_default();
        let als = snap.models.als.as_ref().and_then(|m| {
            let u = m.users().get(user)?;
            let history: Vec<String> = m
                .user_items()
                .map(|x| {
                    x.row(u as usize)
                        .0
                        .iter()
                        .map(|&i| m.items().id(i).unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            Some(json!({"factors": m.user_vector(u).ok()?, "training_items": history}))
        });
        Ok(json!({
            "user": user,
            "session_events": session,
            "purchases": purchases,
            "attribution": self.tracker.export_user(user),
            "als": als,
        }))
    }

    /// Per-placement and per-variant CTR/CVR with confidence intervals,
    /// request, fallback and breaker counters and latency percentiles, as
    /// JSON.
    pub fn stats(&self) -> Value {
        let breakers: BTreeMap<String, Value> = self
            .breakers
            .read()
            .map(|b| {
                b.iter()
                    .map(|(k, v)| {
                        let s = v.stats();
                        let state = v.state(self.clock.now_micros());
                        (
                            k.clone(),
                            json!({"state": state.as_str(), "calls": s.calls, "failures": s.failures,
                                   "slow": s.slow, "rejected": s.rejected, "opened": s.opened_count}),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "tracking": serde_json::to_value(self.tracker.stats()).unwrap_or(Value::Null),
            "metrics": self.metrics.to_json(),
            "breakers": breakers,
        })
    }

    /// The metrics in the Prometheus text format, with point-in-time gauges
    /// refreshed first: each breaker's state (0 closed, 1 half-open, 2
    /// open) and rejected calls, and CTR / conversion rate per placement
    /// and variant.
    pub fn prometheus_text(&self) -> String {
        let now = self.clock.now_micros();
        if let Ok(breakers) = self.breakers.read() {
            for (name, b) in breakers.iter() {
                let state = match b.state(now) {
                    crate::resilience::BreakerState::Closed => 0.0,
                    crate::resilience::BreakerState::HalfOpen => 1.0,
                    crate::resilience::BreakerState::Open => 2.0,
                };
                let labels = [("source", name.as_str())];
                if let Ok(g) = self.metrics.gauge("sightline_breaker_state", &labels) {
                    g.set(state);
                }
                if let Ok(g) = self.metrics.gauge("sightline_breaker_rejected", &labels) {
                    g.set(b.stats().rejected as f64);
                }
            }
        }
        for g in self.tracker.stats().iter().filter(|g| g.source.is_none()) {
            let labels = [
                ("placement", g.placement.as_str()),
                ("variant", g.variant.as_str()),
            ];
            for (name, rate) in [("sightline_ctr", &g.ctr), ("sightline_cvr", &g.cvr)] {
                if let (Some(r), Ok(gauge)) = (rate, self.metrics.gauge(name, &labels)) {
                    gauge.set(r.value);
                }
            }
        }
        self.metrics.prometheus_text()
    }

    /// Saves models, catalog, live trending and session stores into one
    /// model file (the engine config is the caller's).
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        self.to_model_file()?.save(path)
    }

    /// The bytes [`save`](Self::save) writes (for pickling, or storage
    /// other than files).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.to_model_file()?.to_bytes()
    }

    fn to_model_file(&self) -> Result<ModelFile> {
        let snap = self.snapshot.load();
        let mut f = ModelFile::new();
        let catalog = serde_json::to_vec(snap.models.catalog.items())
            .map_err(|e| Error::format(e.to_string()))?;
        f.put(
            "engine.catalog",
            vec![catalog.len()],
            TensorData::U8(catalog),
        )?;
        if let Some(m) = &snap.models.als {
            m.write_to(&mut f)?;
        }
        if let Some(m) = &snap.models.cooccur {
            m.write_to(&mut f)?;
        }
        if let Some(m) = &snap.models.content {
            m.write_to(&mut f)?;
        }
        self.trending.read().map_err(poisoned)?.write_to(&mut f)?;
        snap.session.write_to(&mut f)?;
        Ok(f)
    }

    /// An engine from a file written by [`save`](Self::save), with
    /// `config`; live trending and sessions continue where they were.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: impl AsRef<std::path::Path>, config: EngineConfig) -> Result<Self> {
        Self::from_model_file(&ModelFile::load(path)?, config)
    }

    /// [`load`](Self::load) from the bytes of [`to_bytes`](Self::to_bytes).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_bytes(bytes: &[u8], config: EngineConfig) -> Result<Self> {
        Self::from_model_file(&ModelFile::from_bytes(bytes)?, config)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn from_model_file(f: &ModelFile, config: EngineConfig) -> Result<Self> {
        let bytes = match &f.tensor("engine.catalog")?.data {
            TensorData::U8(b) => b.clone(),
            _ => return Err(Error::format("engine.catalog must be bytes")),
        };
        let items: Vec<crate::data::Item> = serde_json::from_slice(&bytes)
            .map_err(|e| Error::format(format!("engine.catalog: {e}")))?;
        let mut catalog = Catalog::new();
        for item in items {
            catalog
                .add(item)
                .map_err(|e| Error::format(format!("engine.catalog: {e}")))?;
        }
        let models = Models {
            catalog: Arc::new(catalog),
            als: f
                .meta("als")
                .map(|_| AlsModel::read_from(f))
                .transpose()?
                .map(Arc::new),
            cooccur: f
                .meta("cooccur")
                .map(|_| CooccurModel::read_from(f))
                .transpose()?
                .map(Arc::new),
            content: f
                .meta("content")
                .map(|_| ContentIndex::read_from(f))
                .transpose()?
                .map(Arc::new),
        };
        let engine = Engine::new(config, models)?;
        if f.meta("trending").is_some() {
            *engine.trending.write().map_err(poisoned)? = TrendingStore::read_from(f)?;
        }
        if f.meta("session").is_some() {
            let stored = SessionStore::read_from(f)?;
            let snap = engine.snapshot.load_full();
            let session = Arc::new(stored.with_universe(snap.universe.clone())?);
            let next = build_snapshot(
                &engine.config,
                snap.models.clone(),
                &engine.trending,
                session,
            )?;
            engine.snapshot.store(Arc::new(next));
        }
        Ok(engine)
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
        (Some(x), Some(y)) => {
            let (xx, yy) = (crate::linalg::dot(x, x), crate::linalg::dot(y, y));
            if xx > 0.0 && yy > 0.0 {
                crate::linalg::dot(x, y) / (xx * yy).sqrt()
            } else {
                0.0
            }
        }
        _ => 0.0,
    }
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

/// Compiles the placements and promotions of the default arm
/// (`overrides` None) or of a variant.
fn compile_arm(
    config: &EngineConfig,
    catalog: &Catalog,
    overrides: Option<&Value>,
    path: &str,
) -> Result<Arm> {
    let (placements, promotions): (BTreeMap<String, PlacementConfig>, Vec<Promotion>) =
        match overrides {
            None | Some(Value::Null) => (config.placements.clone(), config.promotions.clone()),
            Some(patch) => {
                let mut doc = json!({
                    "placements": config.placements,
                    "promotions": config.promotions,
                });
                merge_patch(&mut doc, patch);
                let placements = serde_json::from_value(doc["placements"].take()).map_err(|e| {
                    Error::config(format!("{path}.overrides.placements"), e.to_string())
                })?;
                let promotions = serde_json::from_value(doc["promotions"].take()).map_err(|e| {
                    Error::config(format!("{path}.overrides.promotions"), e.to_string())
                })?;
                (placements, promotions)
            }
        };
    let mut compiled = HashMap::new();
    for (name, p) in placements {
        let at = if path.is_empty() {
            format!("placements.{name}")
        } else {
            format!("{path}.overrides.placements.{name}")
        };
        p.validate(&at)?;
        p.diversity.validate(catalog, &format!("{at}.diversity"))?;
        let rules = p.rules.compile(catalog, &format!("{at}.rules"))?;
        let similarity = match &p.diversity.by {
            DiversityBy::Attributes(fields) if p.diversity.lambda < 1.0 => Some(
                AttributeSimilarity::new(catalog, fields, &format!("{at}.diversity.by"))?,
            ),
            _ => None,
        };
        compiled.insert(
            name,
            Placement {
                config: p,
                rules,
                similarity,
            },
        );
    }
    let promo_path = if path.is_empty() {
        "promotions".to_owned()
    } else {
        format!("{path}.overrides.promotions")
    };
    Ok(Arm {
        placements: compiled,
        promotions: Promotions::compile(&promotions, catalog, &promo_path)?,
    })
}

fn compile_arms(
    config: &EngineConfig,
    catalog: &Catalog,
) -> Result<HashMap<(String, String), Arm>> {
    let mut arms = HashMap::new();
    for (i, e) in config.experiments.iter().enumerate() {
        for (j, v) in e.variants.iter().enumerate() {
            let path = format!("experiments[{i}].variants[{j}]");
            arms.insert(
                (e.name.clone(), v.name.clone()),
                compile_arm(config, catalog, Some(&v.overrides), &path)?,
            );
        }
    }
    Ok(arms)
}

/// Popular items per region (and "" for everywhere) from the trending
/// store, unfiltered, best first.
/// Popular items per region code ("" = everywhere), best first, decayed
/// to `at`.
struct PopularCache {
    at: i64,
    by_region: HashMap<String, Vec<u32>>,
}

fn popular_cache(
    config: &EngineConfig,
    catalog: &Catalog,
    trending: &RwLock<TrendingStore>,
    now: i64,
) -> Result<PopularCache> {
    let store = trending.read().map_err(poisoned)?;
    let universe = catalog.ids();
    let mut regions: HashSet<String> = config.region_names.keys().cloned().collect();
    for item in catalog.items() {
        regions.extend(item.regions.iter().cloned());
    }
    let mut out = HashMap::new();
    for region in regions.into_iter().map(Some).chain([None]) {
        let q = TrendingQuery {
            region: region.clone(),
            n: config.popular_cache_size,
            now,
            ..Default::default()
        };
        let top = store.popular(&q)?;
        let items: Vec<u32> = top
            .items
            .iter()
            .filter_map(|(id, _)| universe.get(id))
            .collect();
        out.insert(region.unwrap_or_default(), items);
    }
    Ok(PopularCache {
        at: now,
        by_region: out,
    })
}

fn build_snapshot(
    config: &EngineConfig,
    models: Models,
    trending: &Arc<RwLock<TrendingStore>>,
    session: Arc<SessionStore>,
) -> Result<Snapshot> {
    let catalog = &models.catalog;
    if catalog.is_empty() {
        return Err(Error::invalid("the engine needs a non-empty catalog"));
    }
    let universe = Arc::new(catalog.ids().clone());
    let mut sources: HashMap<SourceName, Arc<dyn CandidateSource>> = HashMap::new();
    let mut session_sources: Vec<(Arc<dyn CandidateSource>, f32)> = Vec::new();
    if let Some(m) = &models.als {
        let s: Arc<dyn CandidateSource> = Arc::new(AlsSource::new(m.clone(), universe.clone()));
        sources.insert(SourceName::Als, s.clone());
        session_sources.push((s, 1.0));
    }
    if let Some(m) = &models.cooccur {
        let s: Arc<dyn CandidateSource> = Arc::new(CooccurSource::new(m.clone(), &universe));
        sources.insert(SourceName::Cooccur, s.clone());
        session_sources.push((s, 0.5));
    }
    if let Some(m) = &models.content {
        let s: Arc<dyn CandidateSource> = Arc::new(ContentSource::new(m.clone(), &universe));
        sources.insert(SourceName::Content, s.clone());
        session_sources.push((s, 1.0));
    }
    if !session_sources.is_empty() {
        sources.insert(
            SourceName::Session,
            Arc::new(SessionRecommender::new(session.clone(), session_sources)?),
        );
    }
    sources.insert(
        SourceName::Popular,
        Arc::new(TrendingSource::new(
            trending.clone(),
            universe.clone(),
            false,
        )),
    );
    sources.insert(
        SourceName::TrendingNow,
        Arc::new(TrendingSource::new(
            trending.clone(),
            universe.clone(),
            true,
        )),
    );
    Ok(Snapshot {
        default_arm: compile_arm(config, catalog, None, "")?,
        arms: compile_arms(config, catalog)?,
        sources,
        universe,
        session,
        models,
    })
}
