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
use crate::data::Catalog;
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
}

impl Snapshot {
    /// Compiles rules, promotions and arms of `config` for `models` and
    /// wires the sources (an error leaves nothing half-built).
    pub fn build(
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
        Ok(Snapshot {
            arms: Arms::compile(config, catalog)?,
            sources: build_sources(&models, &universe, trending, &session)?,
            universe,
            session,
            models,
        })
    }
}

/// Popular items per region code ("" = everywhere), best first, decayed
/// to `at`.
pub(super) struct PopularCache {
    pub at: i64,
    pub by_region: HashMap<String, Vec<u32>>,
}

impl PopularCache {
    /// Popular items per region of the config and the catalog (and ""
    /// for everywhere) from the trending store, unfiltered, best first.
    pub fn compute(
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
        Ok(PopularCache { at: now, by_region })
    }
}

/// Serves `models`: the swap behind [`Engine::swap_models`].
pub(super) fn swap_models(engine: &Engine, models: Models) -> Result<()> {
    let _guard = engine.swap_lock.lock().map_err(poisoned)?;
    let old = engine.snapshot.load_full();
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
    let popular = PopularCache::compute(
        &engine.config,
        &models.catalog,
        &engine.trending,
        now_unix(),
    )?;
    let snapshot = Snapshot::build(&engine.config, models, &engine.trending, session)?;
    engine.snapshot.store(Arc::new(snapshot));
    engine.popular.store(Arc::new(popular));
    engine
        .metrics
        .counter("sightline_model_swaps_total", &[])?
        .inc();
    Ok(())
}

/// Recomputes the popular cache decayed to `now`.
pub(super) fn refresh_popular(engine: &Engine, now: i64) -> Result<()> {
    let catalog = engine.snapshot.load().models.catalog.clone();
    let popular = PopularCache::compute(&engine.config, &catalog, &engine.trending, now)?;
    engine.popular.store(Arc::new(popular));
    Ok(())
}

/// The popular cache for a request at `now`, recomputed first when it is
/// `popular_refresh_seconds` old; while one thread recomputes, the others
/// use the old one.
pub(super) fn fresh_popular(engine: &Engine, now: i64) -> Arc<PopularCache> {
    let cache = engine.popular.load_full();
    let every = engine.config.popular_refresh_seconds;
    if every > 0
        && now.abs_diff(cache.at) >= every
        && !engine.refreshing_popular.swap(true, Ordering::AcqRel)
    {
        if let Err(e) = refresh_popular(engine, now) {
            tracing::warn!(error = %e, "popular cache refresh failed; keeping the old one");
        }
        engine.refreshing_popular.store(false, Ordering::Release);
        return engine.popular.load_full();
    }
    cache
}
