//! The hot-swappable snapshot: everything derived from one set of models
//! (sources, compiled arms, the session store's universe), replaced as a
//! whole so readers never block; and the popular-per-region cache of the
//! last fallback.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use super::config::{EngineConfig, SourceName};
use super::sources::build_sources;
use super::{now_unix, poisoned, Engine, Models};
use crate::candidate::CandidateSource;
use crate::error::{Error, Result};
use crate::experiment::arms::Arms;
use crate::ids::IdMap;
use crate::session::SessionStore;
use crate::trending::{TrendingQuery, TrendingStore};

/// Everything derived from one set of models; replaced atomically.
pub(super) struct Snapshot {
    pub models: Models,
    pub universe: Arc<IdMap>,
    pub sources: HashMap<SourceName, Arc<dyn CandidateSource>>,
    pub arms: Arms,
    pub session: Arc<SessionStore>,
    /// 0 for the engine's first snapshot, one more for each that replaced
    /// it (see [`Engine::model_generation`]).
    pub generation: u64,
}

impl Snapshot {
    /// Compiles rules, promotions and arms of `config` for `models` and
    /// wires the sources (an error leaves nothing half-built).
    pub fn build(
        config: &EngineConfig,
        models: Models,
        trending: &Arc<RwLock<TrendingStore>>,
        session: Arc<SessionStore>,
        generation: u64,
    ) -> Result<Snapshot> {
        let catalog = &models.catalog;
        if catalog.is_empty() {
            return Err(Error::invalid("the engine needs a non-empty catalog"));
        }
        // The session store's universe is the catalog's (every caller
        // builds it so): sharing the Arc keeps it, and the popular cache
        // tagged with it, across swaps that keep the catalog's ids.
        debug_assert!(**session.universe() == *catalog.ids());
        let universe = session.universe().clone();
        Ok(Snapshot {
            arms: Arms::compile(config, catalog)?,
            sources: build_sources(&models, &universe, trending, &session)?,
            universe,
            session,
            models,
            generation,
        })
    }
}

/// Popular items per region code ("" = everywhere), best first, decayed
/// to `at`.
pub(super) struct PopularCache {
    pub at: i64,
    pub by_region: HashMap<String, Vec<u32>>,
    /// The universe its indices are in: the snapshot's it was computed
    /// for. A request whose snapshot has another one must not read it.
    pub universe: Arc<IdMap>,
}

impl PopularCache {
    /// Popular items per region of the config and the catalog of `snap`
    /// (and "" for everywhere) from the trending store, unfiltered, best
    /// first.
    pub fn compute(
        config: &EngineConfig,
        snap: &Snapshot,
        trending: &RwLock<TrendingStore>,
        now: i64,
    ) -> Result<PopularCache> {
        let store = trending.read().map_err(poisoned)?;
        let catalog = &snap.models.catalog;
        let universe = &snap.universe;
        let mut regions: HashSet<String> = config.region_names.keys().cloned().collect();
        for item in catalog.items() {
            regions.extend(item.regions.iter().cloned());
        }
        let mut by_region = HashMap::new();
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
            by_region.insert(region.unwrap_or_default(), items);
        }
        Ok(PopularCache {
            at: now,
            by_region,
            universe: snap.universe.clone(),
        })
    }
}

/// Serves `models`: the swap behind [`Engine::swap_models`].
pub(super) fn swap_models(engine: &Engine, models: Models) -> Result<()> {
    let _guard = engine.swap_lock.lock().map_err(poisoned)?;
    let old = engine.snapshot.load_full();
    let same_items = Arc::ptr_eq(&old.models.catalog, &models.catalog)
        || old.models.catalog.ids() == models.catalog.ids();
    // Other items: the session store is copied into them, so ingests wait
    // until the new snapshot (with the copy) is served.
    let _gate = (!same_items).then(|| {
        engine
            .ingest_gate
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    });
    let session = if same_items {
        old.session.clone()
    } else {
        Arc::new(
            old.session
                .with_universe(Arc::new(models.catalog.ids().clone()))?,
        )
    };
    let snapshot = Snapshot::build(
        &engine.config,
        models,
        &engine.trending,
        session,
        old.generation + 1,
    )?;
    let popular = PopularCache::compute(&engine.config, &snapshot, &engine.trending, now_unix())?;
    engine.snapshot.store(Arc::new(snapshot));
    engine.popular.store(Arc::new(popular));
    engine
        .metrics
        .counter("sightline_model_swaps_total", &[])?
        .inc();
    Ok(())
}

/// Recomputes the popular cache decayed to `now`. A swap to another
/// catalog may land meanwhile and this store the old catalog's cache
/// after it: [`fresh_popular`] never reads a cache of another universe.
pub(super) fn refresh_popular(engine: &Engine, now: i64) -> Result<()> {
    let snap = engine.snapshot.load_full();
    let popular = PopularCache::compute(&engine.config, &snap, &engine.trending, now)?;
    engine.popular.store(Arc::new(popular));
    Ok(())
}

/// The popular cache for a request on `snap` at `now`: one computed for
/// `snap`'s universe (the served one lags behind a catalog swap for a
/// moment, or for good when a refresh raced the swap), recomputed first
/// when it is `popular_refresh_seconds` old; while one thread recomputes,
/// the others use the old one.
pub(super) fn fresh_popular(engine: &Engine, snap: &Arc<Snapshot>, now: i64) -> Arc<PopularCache> {
    let mut cache = engine.popular.load_full();
    let every = engine.config.popular_refresh_seconds;
    if every > 0
        && now.abs_diff(cache.at) >= every
        && !engine.refreshing_popular.swap(true, Ordering::AcqRel)
    {
        if let Err(e) = refresh_popular(engine, now) {
            tracing::warn!(error = %e, "popular cache refresh failed; keeping the old one");
        }
        engine.refreshing_popular.store(false, Ordering::Release);
        cache = engine.popular.load_full();
    }
    if Arc::ptr_eq(&cache.universe, &snap.universe) {
        return cache;
    }
    popular_for(engine, snap, &cache)
}

/// A popular cache for `snap` as of `stale`'s time, which is another
/// universe's; served from now on if `snap` still is.
fn popular_for(
    engine: &Engine,
    snap: &Arc<Snapshot>,
    stale: &Arc<PopularCache>,
) -> Arc<PopularCache> {
    let cache = match PopularCache::compute(&engine.config, snap, &engine.trending, stale.at) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::warn!(error = %e, "popular cache for a new catalog failed; using the catalog order");
            return Arc::new(PopularCache {
                at: stale.at,
                by_region: HashMap::new(),
                universe: snap.universe.clone(),
            });
        }
    };
    if Arc::ptr_eq(&engine.snapshot.load(), snap) {
        // Only over the stale one: a fresher cache stored meanwhile stays.
        engine.popular.compare_and_swap(stale, cache.clone());
    }
    cache
}
