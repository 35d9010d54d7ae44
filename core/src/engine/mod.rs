//! The engine: one object that answers "what do we show this person, here,
//! now?" for every placement, learns from live events, measures what works
//! and forgets people on request.
//!
//! A request runs its placement's pipeline (after the A/B variant's
//! overrides; the steps are in `pipeline`):
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
//! session) and nothing about the visitor is stored (the rule is
//! [`Consent`](crate::privacy::Consent)).
//!
//! This module is the facade; each job has its module: [`request`] (the
//! typed request and response), `pipeline`, `snapshot` (hot-swappable
//! models, the popular cache), `sources` (the candidate-source adapters),
//! `ingest`, `observe` (stats, Prometheus) and `persist` (model files).
//! Experiments live in [`experiment`](crate::experiment), consent, erasure
//! and access in [`privacy`].

pub mod config;
mod ingest;
mod observe;
mod persist;
mod pipeline;
pub mod request;
mod snapshot;
pub(crate) mod sources;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;

use crate::als::AlsModel;
use crate::candidate::CandidateSource;
use crate::content::ContentIndex;
use crate::cooccur::CooccurModel;
use crate::data::{Catalog, Event};
use crate::error::{Error, Result};
use crate::experiment::Experiments;
use crate::metrics::Metrics;
use crate::privacy::{self, ForgetReport, PersonalData, PurchaseHistory, UserExport};
use crate::resilience::{CircuitBreaker, Clock};
use crate::tracking::Tracker;
use crate::trending::TrendingStore;
use snapshot::{PopularCache, Snapshot};

pub use config::{default_placements, EngineConfig, PlacementConfig, SourceName, SourceSpec};
pub use observe::{BreakerReport, EngineStats};
pub use request::{Request, Response, ResponseItem, SourceReport, SourceStatus};

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
    /// Read-held while an event is learnt from, write-held while a swap to
    /// other items copies the session store into them: no event is written
    /// into a store that was already copied (and would be lost).
    ingest_gate: RwLock<()>,
    trending: Arc<RwLock<TrendingStore>>,
    purchases: PurchaseHistory,
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
        let session = Arc::new(crate::session::SessionStore::new(
            config.session.clone(),
            universe,
        )?);
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
        let snapshot = Snapshot::build(&config, models, &trending, session, 0)?;
        let popular = PopularCache::compute(&config, &snapshot, &trending, now_unix())?;
        let seed = clock.now_micros() ^ (std::process::id() as u64).rotate_left(32);
        Ok(Engine {
            snapshot: ArcSwap::from_pointee(snapshot),
            popular: ArcSwap::from_pointee(popular),
            refreshing_popular: AtomicBool::new(false),
            swap_lock: Mutex::new(()),
            ingest_gate: RwLock::new(()),
            trending,
            purchases: PurchaseHistory::with_capacity(config.purchase_history_capacity),
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

    /// Which set of served models a request made now would use: 0 at
    /// start, one more after each model swap or reload (and each erasure
    /// that swaps in an erased ALS model). It changes exactly when the
    /// served models do, so a caller can tell which version answered:
    /// equal values read before and after a request mean it used that
    /// generation.
    pub fn model_generation(&self) -> u64 {
        self.snapshot.load().generation
    }

    /// The [`ModelSlice`](crate::slice::ModelSlice) of the served ALS
    /// model, catalog and config for `placement` and its candidate `items`:
    /// what a storefront sends to the page for private re-ranking.
    ///
    /// Errors: no ALS model is served ([`Error::InvalidInput`]), and those
    /// of [`ModelSlice::export`](crate::slice::ModelSlice::export).
    pub fn export_slice<S: AsRef<str>>(
        &self,
        placement: &str,
        items: &[S],
    ) -> Result<crate::slice::ModelSlice> {
        let models = self.models();
        let als = models
            .als
            .as_deref()
            .ok_or_else(|| Error::invalid("the engine serves no ALS model to slice"))?;
        crate::slice::ModelSlice::export(als, &models.catalog, &self.config, placement, items)
    }

    /// Serves `models` from now on. Everything derived from them (rules,
    /// promotions, the popular cache) is rebuilt first, so invalid rules
    /// for the new catalog are an error and the old models stay; readers
    /// are never blocked and see either the old or the new set.
    pub fn swap_models(&self, models: Models) -> Result<()> {
        snapshot::swap_models(self, models)
    }

    /// Recomputes the popular-per-region cache of the last fallback from
    /// the live trending store, decayed to `now`. The engine also does so
    /// at start, after [`ingest_batch`](Self::ingest_batch), and when a
    /// request needs the cache and it is `popular_refresh_seconds` old.
    pub fn refresh_popular(&self, now: i64) -> Result<()> {
        snapshot::refresh_popular(self, now)
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
        pipeline::recommend(self, req)
    }

    /// Learns from one live event: trending always (it keeps no personal
    /// data); with `consent`, also the visitor's session, their purchase
    /// history and conversion attribution (a purchase's revenue is the
    /// catalog price).
    pub fn ingest(&self, event: &Event, consent: bool) -> Result<()> {
        ingest::ingest(self, event, consent.into())
    }

    /// Learns from many events as [`ingest`](Self::ingest) does, all or
    /// nothing: an invalid event anywhere is an error naming its position,
    /// with nothing learnt. Then recomputes the popular cache as of the
    /// newest event. Returns the number of events.
    pub fn ingest_batch(&self, events: &[Event], consent: bool) -> Result<usize> {
        ingest::ingest_batch(self, events, consent.into())
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

    /// Every store holding personal data, as `snap` sees them.
    fn personal_data<'a>(&'a self, snap: &'a Snapshot) -> PersonalData<'a> {
        PersonalData {
            universe: &snap.universe,
            session: &snap.session,
            purchases: &self.purchases,
            tracker: &self.tracker,
            als: snap.models.als.as_deref(),
        }
    }

    /// Removes a person immediately (GDPR erasure) from every store (see
    /// [`privacy`]); ALS factors go by swapping in an
    /// erased model, so the next saved file has no trace of them.
    pub fn forget_user(&self, user: &str) -> Result<ForgetReport> {
        let _guard = self.swap_lock.lock().map_err(poisoned)?;
        let snap = self.snapshot.load_full();
        let (report, als) = privacy::forget(&self.personal_data(&snap), user)?;
        if let Some(als) = als {
            let mut models = snap.models.clone();
            models.als = Some(Arc::new(als));
            let next = Snapshot::build(
                &self.config,
                models,
                &self.trending,
                snap.session.clone(),
                snap.generation + 1,
            )?;
            self.snapshot.store(Arc::new(next));
        }
        Ok(report)
    }

    /// Everything held about a person (GDPR access).
    pub fn export_user(&self, user: &str) -> Result<UserExport> {
        let snap = self.snapshot.load();
        privacy::export(&self.personal_data(&snap), user)
    }

    /// Per-placement and per-variant CTR/CVR with confidence intervals,
    /// request, fallback and breaker counters and latency percentiles.
    pub fn stats(&self) -> EngineStats {
        observe::stats(self)
    }

    /// The metrics in the Prometheus text format, with point-in-time gauges
    /// refreshed first: each breaker's state (0 closed, 1 half-open, 2
    /// open) and rejected calls, and CTR / conversion rate per placement
    /// and variant.
    pub fn prometheus_text(&self) -> String {
        observe::prometheus_text(self)
    }

    /// Saves models, catalog, live trending and session stores into one
    /// model file (the engine config is the caller's).
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        persist::to_model_file(self)?.save(path)
    }

    /// The bytes [`save`](Self::save) writes (for pickling, or storage
    /// other than files).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        persist::to_model_file(self)?.to_bytes()
    }

    /// An engine from a file written by [`save`](Self::save), with
    /// `config`; live trending and sessions continue where they were.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: impl AsRef<std::path::Path>, config: EngineConfig) -> Result<Self> {
        persist::from_model_file(&crate::store::ModelFile::load(path)?, config)
    }

    /// Serves the models of a file written by [`save`](Self::save)
    /// (catalog, ALS, co-occurrence, content) as [`swap_models`](Self::swap_models)
    /// does, keeping this engine's live trending, sessions and tracking (a
    /// model refresh while serving). A missing, corrupt or truncated file
    /// ([`Error::Io`], [`Error::ModelFormat`]) or models that do not fit
    /// the config change nothing.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn reload_models(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        persist::reload_models(self, &crate::store::ModelFile::load(path)?)
    }

    /// [`load`](Self::load) from the bytes of [`to_bytes`](Self::to_bytes).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_bytes(bytes: &[u8], config: EngineConfig) -> Result<Self> {
        persist::from_model_file(&crate::store::ModelFile::from_bytes(bytes)?, config)
    }
}
