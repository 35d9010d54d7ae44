//! Popular and trending-now items per region, channel and category with
//! back-off: `Trending`, the twin of the Python binding's `_Trending`.
//! Conversion only.

use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::{AsyncTask, Buffer, Unknown};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;
use sightline::data::Event;
use sightline::trending::{TrendingConfig, TrendingQuery, TrendingResult, TrendingStore};
use sightline::{Component, Result};

use crate::convert::{input, json, out, records, settings};
use crate::engine::catalog_from;
use crate::task::CoreTask;
use crate::{or_throw, to_scored, JsString, ScoredItem};

/// The answer of `popular` / `trendingNow`.
#[napi(object)]
pub struct TrendingAnswer {
    /// Up to `n` items, best first; only positive scores.
    pub items: Vec<ScoredItem>,
    /// The back-off level that answered (e.g. `region:nl/category:frames`).
    pub level: String,
    /// Total decayed popularity weight of that level at `now`.
    pub level_weight: f64,
}

fn answer(r: TrendingResult) -> TrendingAnswer {
    TrendingAnswer {
        items: to_scored(r.items),
        level: r.level,
        level_weight: r.level_weight,
    }
}

/// Live popularity counters: every event adds its kind weight to its
/// item in its segments (region, channel, category and their parents),
/// decayed with a half-life. `popular` ranks by decayed weight,
/// `trendingNow` by the recent window against the baseline; a segment with
/// too little weight backs off to its parent.
///
/// `new Trending(params?, catalog?)`: `params` is the core's
/// `TrendingConfig` in camelCase (`halfLifeHours` 72, `windowHours` 24,
/// `baselineHours` 168, `smoothing`, `maxItemsPerSegment`,
/// `minSegmentWeight`, `weights`, `halfLifeByKind`, `regionParent`); a bad
/// one throws `CONFIG` naming it. The catalog gives items their category.
#[napi]
pub struct Trending {
    inner: Arc<Mutex<TrendingStore>>,
}

impl Trending {
    fn wrap(store: TrendingStore) -> Trending {
        Trending {
            inner: Arc::new(Mutex::new(store)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TrendingStore> {
        // A panic while locked is caught at the napi boundary; the store's
        // updates are all-or-nothing, so its state is still whole.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn query(
        &self,
        env: &Env,
        query: &Unknown<'_>,
        rank: fn(&TrendingStore, &TrendingQuery) -> Result<TrendingResult>,
    ) -> napi::Result<TrendingAnswer> {
        let result = input::<TrendingQuery>(query, "query").and_then(|q| rank(&self.lock(), &q));
        or_throw(env, result.map(answer))
    }
}

#[napi]
impl Trending {
    /// An empty store with `params`, knowing the categories of `catalog`.
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "params?: TrendingParams, catalog?: CatalogItem[]"
    )]
    pub fn new(
        env: Env,
        params: Option<Unknown<'_>>,
        catalog: Option<Unknown<'_>>,
    ) -> napi::Result<Trending> {
        let store = settings::<TrendingConfig>(params.as_ref(), "params").and_then(|config| {
            let catalog = catalog.as_ref().map(catalog_from).transpose()?;
            TrendingStore::new(config, catalog.as_ref())
        });
        or_throw(&env, store.map(Trending::wrap))
    }

    /// The settings, defaults filled in.
    #[napi(getter, catch_unwind, ts_return_type = "TrendingParams")]
    pub fn params(&self, env: Env) -> napi::Result<Value> {
        or_throw(&env, out(self.lock().config()))
    }

    /// Every item seen so far.
    #[napi(getter)]
    pub fn item_ids(&self) -> Vec<String> {
        self.lock().items().ids().to_vec()
    }

    /// The names of the segments with counters.
    #[napi(getter)]
    pub fn segments(&self) -> Vec<String> {
        self.lock().segments().iter().map(|s| s.name()).collect()
    }

    /// Counts one event (`{ user, item, kind, timestamp, region?, channel?,
    /// session? }`, as `Engine.ingest` takes it).
    #[napi(catch_unwind, ts_args_type = "event: EngineEvent")]
    pub fn ingest(&self, env: Env, event: Unknown<'_>) -> napi::Result<()> {
        let done = input::<Event>(&event, "event").and_then(|e| self.lock().ingest(&e));
        or_throw(&env, done)
    }

    /// Counts many events, all or nothing: a bad event throws naming its
    /// position and nothing is counted. Returns the count.
    #[napi(catch_unwind, ts_args_type = "events: EngineEvent[]")]
    pub fn ingest_batch(&self, env: Env, events: Unknown<'_>) -> napi::Result<u32> {
        let done = json(&events, "events")
            .and_then(|v| records::<Event>(v, "event"))
            .and_then(|events| {
                self.lock().ingest_batch(&events)?;
                Ok(events.len() as u32)
            });
        or_throw(&env, done)
    }

    /// The most popular items (decayed weight) for `{ region?, channel?,
    /// category?, n, now }`, backing off to broader segments.
    #[napi(catch_unwind, ts_args_type = "query: TrendingQuery")]
    pub fn popular(&self, env: Env, query: Unknown<'_>) -> napi::Result<TrendingAnswer> {
        self.query(&env, &query, TrendingStore::popular)
    }

    /// The items rising most in the recent window against the baseline,
    /// for the same queries as `popular`.
    #[napi(catch_unwind, ts_args_type = "query: TrendingQuery")]
    pub fn trending_now(&self, env: Env, query: Unknown<'_>) -> napi::Result<TrendingAnswer> {
        self.query(&env, &query, TrendingStore::trending_now)
    }

    /// Writes the store's file (blocks the event loop; see `saveAsync`).
    #[napi(catch_unwind)]
    pub fn save(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> napi::Result<()> {
        let path = path.0;
        or_throw(&env, self.lock().save(&path))
    }

    /// `save` on the libuv thread pool (ingestion waits meanwhile).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save_async(
        &self,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> AsyncTask<CoreTask<()>> {
        let path = path.0;
        let store = Arc::clone(&self.inner);
        CoreTask::spawn(
            move || store.lock().unwrap_or_else(|p| p.into_inner()).save(&path),
            Ok,
        )
    }

    /// The bytes `save` writes.
    #[napi(catch_unwind)]
    pub fn to_buffer(&self, env: Env) -> napi::Result<Buffer> {
        or_throw(&env, self.lock().to_bytes().map(Buffer::from))
    }

    /// Loads a store's file; throws `IO` or `MODEL_FORMAT`.
    #[napi(factory, catch_unwind)]
    pub fn load(
        env: Env,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> napi::Result<Trending> {
        let path = path.0;
        or_throw(&env, TrendingStore::load(&path).map(Trending::wrap))
    }

    /// `load` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<Trending>")]
    pub fn load_async(
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> AsyncTask<CoreTask<Trending>> {
        let path = path.0;
        crate::task::load_async(path, Trending::wrap)
    }

    /// A store from the bytes of `toBuffer`; throws `MODEL_FORMAT`.
    #[napi(factory, catch_unwind)]
    pub fn from_buffer(env: Env, bytes: &[u8]) -> napi::Result<Trending> {
        or_throw(&env, TrendingStore::from_bytes(bytes).map(Trending::wrap))
    }
}
