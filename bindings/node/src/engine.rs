//! The recommendation engine for Node: placements, rules, promotions,
//! sessions, trending, experiments, tracking, consent and GDPR, in-process.
//!
//! Conversion only: JS values become the core's serde types (records with
//! camelCase fields, see [`crate::convert`]), the core answers, its serde
//! types go back as plain objects. Configs keep the spelling of the config
//! files (snake_case), so one JSON document serves every runtime. Every
//! rule and every validation is the core's; its errors become `Error`s
//! with `code` and the variant's fields (`crate::to_js_err`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, ClassInstance, Object, Unknown};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;
use sightline::data::{Catalog, Event, Row};
use sightline::engine::{Engine as CoreEngine, EngineConfig, Models, Request};
use sightline::Component;
use sightline::Error;

use crate::convert::{input, json, out, records, to_timestamp};
use crate::task::{out_json, CoreTask, Json};
use crate::{or_throw, CoOccurrence, ContentIndex, JsNumber, JsString, Model};

type CoreResult<T> = sightline::Result<T>;

/// The engine config of a JS object (config-file spelling) or of a string:
/// JSON or TOML text, or the path of a config file (the core's
/// [`sightline::config::text_or_path`]).
fn config_from(value: &Unknown<'_>) -> CoreResult<EngineConfig> {
    let tree = match json(value, "config")? {
        Value::String(source) => sightline::config::text_or_path(&source)?,
        tree => tree,
    };
    EngineConfig::from_value(tree)
}

/// The catalog from an array of flat rows (`{ id, category, price, in_stock,
/// regions, …attributes }`), with the rules of [`Catalog::from_rows`]
/// (shared with Python's dicts and DataFrames).
pub(crate) fn catalog_from(value: &Unknown<'_>) -> CoreResult<Catalog> {
    let rows = records::<Row>(json(value, "catalog")?, "catalog item")?;
    Catalog::from_rows(&rows)
}

/// The model of class `T` under `name` in an options object (absent,
/// `null` and `undefined` are none); another value is `INVALID_INPUT`.
fn class_field<'a, T: 'static>(
    options: &Object<'a>,
    name: &str,
    class: &str,
) -> CoreResult<Option<ClassInstance<'a, T>>> {
    options
        .get::<Option<ClassInstance<'a, T>>>(name)
        .map(Option::flatten)
        .map_err(|_| Error::InvalidInput(format!("options.{name} must be a {class}")))
}

/// The models of an options object (`{ als?, model?, cooccur?, content? }`;
/// `model` is the older name of `als`), shared with the JS objects: models
/// are immutable once built, so the engine may outlive them.
fn models_of(catalog: Catalog, options: Option<&Object<'_>>) -> CoreResult<Models> {
    let mut models = Models {
        catalog: Arc::new(catalog),
        als: None,
        cooccur: None,
        content: None,
    };
    if let Some(options) = options {
        let als = match class_field::<Model>(options, "als", "Model")? {
            Some(als) => Some(als),
            None => class_field::<Model>(options, "model", "Model")?,
        };
        models.als = als.map(|m| Arc::clone(&m.inner));
        models.cooccur = class_field::<CoOccurrence>(options, "cooccur", "CoOccurrence")?
            .map(|m| Arc::clone(&m.inner));
        models.content = class_field::<ContentIndex>(options, "content", "ContentIndex")?
            .map(|m| Arc::clone(&m.inner));
    }
    Ok(models)
}

/// A recommendation engine over a catalog and (optionally) its models:
/// ALS, co-occurrence and a content index.
/// Thread-safe in the core; every call here is synchronous on the JS thread
/// except the `…Async` twins, which run on the libuv pool.
///
/// Errors are `Error` objects whose `code` is the core's: `INVALID_INPUT`,
/// `SHAPE_MISMATCH`, `UNKNOWN_ID`, `CONFIG`, `MODEL_FORMAT`, `IO`,
/// `INTERRUPTED`, with the variant's fields as properties (`field` of a
/// `CONFIG` error). A failed call changes nothing.
#[napi]
pub struct Engine {
    // `AssertUnwindSafe`: the core engine's locks and atomics keep it
    // consistent when a call unwinds, and `catch_unwind` needs the bound.
    inner: AssertUnwindSafe<Arc<CoreEngine>>,
}

impl Engine {
    fn wrap(engine: CoreEngine) -> Engine {
        Engine {
            inner: AssertUnwindSafe(Arc::new(engine)),
        }
    }

    fn build(
        env: &Env,
        config: CoreResult<EngineConfig>,
        catalog: &Unknown<'_>,
        options: Option<&Object<'_>>,
    ) -> napi::Result<Engine> {
        let built = config.and_then(|config| {
            let models = models_of(catalog_from(catalog)?, options)?;
            CoreEngine::new(config, models)
        });
        or_throw(env, built.map(Engine::wrap))
    }
}

#[napi]
impl Engine {
    /// An engine from a config (an object in the spelling of the config
    /// files: `{ placements: { home: { n: 6 } } }`, `{}` for the defaults;
    /// or a string: JSON or TOML text, or a config file's path), the
    /// catalog as an array of rows and the models of the `als`, `cooccur`
    /// and `content` sources (`{ als, cooccur, content }`).
    ///
    /// Throws `CONFIG` (its `field` names the bad one), `INVALID_INPUT`
    /// for a bad item.
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "config: EngineConfig | string, catalog: CatalogItem[], options?: EngineOptions"
    )]
    pub fn new(
        env: Env,
        config: Unknown<'_>,
        catalog: Unknown<'_>,
        options: Option<Object<'_>>,
    ) -> napi::Result<Engine> {
        Engine::build(&env, config_from(&config), &catalog, options.as_ref())
    }

    /// An engine from a config written as JSON text (see the constructor).
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "json: string, catalog: CatalogItem[], options?: EngineOptions"
    )]
    pub fn from_json(
        env: Env,
        json: JsString,
        catalog: Unknown<'_>,
        options: Option<Object<'_>>,
    ) -> napi::Result<Engine> {
        let config = EngineConfig::from_json(&json.0);
        Engine::build(&env, config, &catalog, options.as_ref())
    }

    /// An engine from a config written as TOML text (see the constructor).
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "toml: string, catalog: CatalogItem[], options?: EngineOptions"
    )]
    pub fn from_toml(
        env: Env,
        toml: JsString,
        catalog: Unknown<'_>,
        options: Option<Object<'_>>,
    ) -> napi::Result<Engine> {
        let config = EngineConfig::from_toml(&toml.0);
        Engine::build(&env, config, &catalog, options.as_ref())
    }

    /// The config in force, every default filled in (config-file spelling).
    #[napi(catch_unwind, ts_return_type = "EngineConfig")]
    pub fn config(&self, env: Env) -> napi::Result<Value> {
        let config = serde_json::to_value(self.inner.config());
        or_throw(&env, config.map_err(|e| Error::InvalidInput(e.to_string())))
    }

    /// Answers a request: `n` items for the placement, each with its source
    /// and a reason, and a `recommendationId` to track against.
    ///
    /// Throws `INVALID_INPUT` for an unknown placement, a field of the wrong
    /// type or an `n` outside `1..=1000`.
    #[napi(
        catch_unwind,
        ts_args_type = "request: RecommendRequest",
        ts_return_type = "Recommendation"
    )]
    pub fn recommend(&self, env: Env, request: Unknown<'_>) -> napi::Result<Value> {
        let answer = input::<Request>(&request, "request")
            .and_then(|request| self.inner.recommend(&request))
            .and_then(out);
        or_throw(&env, answer)
    }

    /// `recommend` answered as the JSON text of the `Recommendation`: for a
    /// server whose response body is that JSON, it skips building the JS
    /// object and `JSON.stringify`-ing it again (the storefront's hot path).
    #[napi(catch_unwind, ts_args_type = "request: RecommendRequest")]
    pub fn recommend_json(&self, env: Env, request: Unknown<'_>) -> napi::Result<String> {
        let answer = input::<Request>(&request, "request")
            .and_then(|request| self.inner.recommend(&request))
            .and_then(out)
            .and_then(|value| {
                serde_json::to_string(&value).map_err(|e| Error::InvalidInput(e.to_string()))
            });
        or_throw(&env, answer)
    }

    /// `recommend` on the libuv thread pool; a bad request rejects.
    #[napi(
        ts_args_type = "request: RecommendRequest",
        ts_return_type = "Promise<Recommendation>"
    )]
    pub fn recommend_async(&self, request: Unknown<'_>) -> AsyncTask<CoreTask<Json>> {
        let request = input::<Request>(&request, "request");
        let engine = Arc::clone(&self.inner);
        CoreTask::spawn(move || engine.recommend(&request?), out_json)
    }

    /// Learns from one live event (trending always; with `consent` also the
    /// visitor's session, purchases and attribution).
    #[napi(catch_unwind, ts_args_type = "event: EngineEvent, consent: boolean")]
    pub fn ingest(&self, env: Env, event: Unknown<'_>, consent: bool) -> napi::Result<()> {
        let done = input::<Event>(&event, "event").and_then(|e| self.inner.ingest(&e, consent));
        or_throw(&env, done)
    }

    /// Learns from many events, all or nothing: a bad event anywhere throws
    /// naming its position, with nothing learnt. Returns the count.
    #[napi(catch_unwind, ts_args_type = "events: EngineEvent[], consent: boolean")]
    pub fn ingest_batch(&self, env: Env, events: Unknown<'_>, consent: bool) -> napi::Result<u32> {
        let n = json(&events, "events")
            .and_then(|v| records::<Event>(v, "event"))
            .and_then(|events| self.inner.ingest_batch(&events, consent));
        or_throw(&env, n).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Records that a recommendation was shown; `false` when its id is not
    /// (or no longer) known.
    #[napi(catch_unwind)]
    pub fn track_impression(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] recommendation_id: JsString,
        #[napi(ts_arg_type = "number")] timestamp: JsNumber,
    ) -> napi::Result<bool> {
        let recommendation_id = recommendation_id.0;
        let timestamp = timestamp.0;
        let tracked = to_timestamp(timestamp)
            .and_then(|ts| self.inner.track_impression(&recommendation_id, ts));
        or_throw(&env, tracked)
    }

    /// Records a click on an item of a recommendation; `false` when the
    /// recommendation or the item is not known.
    #[napi(catch_unwind)]
    pub fn track_click(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] recommendation_id: JsString,
        #[napi(ts_arg_type = "string")] item_id: JsString,
        #[napi(ts_arg_type = "number")] timestamp: JsNumber,
    ) -> napi::Result<bool> {
        let recommendation_id = recommendation_id.0;
        let item_id = item_id.0;
        let timestamp = timestamp.0;
        let tracked = to_timestamp(timestamp)
            .and_then(|ts| self.inner.track_click(&recommendation_id, &item_id, ts));
        or_throw(&env, tracked)
    }

    /// Records a purchase of an item by a user with its revenue, attributed
    /// to their last click on it within the conversion window; `false` when
    /// nothing is attributed.
    #[napi(catch_unwind)]
    pub fn track_conversion(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] user: JsString,
        #[napi(ts_arg_type = "string")] item_id: JsString,
        #[napi(ts_arg_type = "number")] revenue: JsNumber,
        #[napi(ts_arg_type = "number")] timestamp: JsNumber,
    ) -> napi::Result<bool> {
        let user = user.0;
        let item_id = item_id.0;
        let revenue = revenue.0;
        let timestamp = timestamp.0;
        let tracked = to_timestamp(timestamp)
            .and_then(|ts| self.inner.track_conversion(&user, &item_id, revenue, ts));
        or_throw(&env, tracked)
    }

    /// Recomputes the popular-per-region cache of the last fallback as of
    /// `now` (Unix seconds); the engine also does so by itself (after
    /// `ingestBatch`, and when the cache is old).
    #[napi(catch_unwind)]
    pub fn refresh_popular(
        &self,
        env: Env,
        #[napi(ts_arg_type = "number")] now: JsNumber,
    ) -> napi::Result<()> {
        let now = now.0;
        let done = to_timestamp(now).and_then(|now| self.inner.refresh_popular(now));
        or_throw(&env, done)
    }

    /// CTR / CVR with confidence intervals per placement, variant and
    /// source; every metric; each circuit breaker.
    #[napi(catch_unwind, ts_return_type = "EngineStats")]
    pub fn stats(&self, env: Env) -> napi::Result<Value> {
        or_throw(&env, out(self.inner.stats()))
    }

    /// The metrics in the Prometheus text format.
    #[napi(catch_unwind)]
    pub fn prometheus_text(&self) -> String {
        self.inner.prometheus_text()
    }

    /// Erases a person from every store now (GDPR erasure), including the
    /// ALS factors of the model being served.
    #[napi(catch_unwind, ts_return_type = "ForgetReport")]
    pub fn forget_user(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] user: JsString,
    ) -> napi::Result<Value> {
        let user = user.0;
        or_throw(&env, self.inner.forget_user(&user).and_then(out))
    }

    /// Everything held about a person (GDPR access).
    #[napi(catch_unwind, ts_return_type = "UserExport")]
    pub fn export_user(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] user: JsString,
    ) -> napi::Result<Value> {
        let user = user.0;
        or_throw(&env, self.inner.export_user(&user).and_then(out))
    }

    /// Serves a new catalog and models (`{ catalog, als?, cooccur?,
    /// content? }`) from now on, atomically; when they do
    /// not fit the config (e.g. a rule names an unknown item) this throws
    /// and the old ones stay.
    #[napi(catch_unwind, ts_args_type = "models: EngineModels")]
    pub fn swap_models(&self, env: Env, models: Object<'_>) -> napi::Result<()> {
        let catalog = models
            .get::<Unknown>("catalog")
            .map_err(|e| Error::InvalidInput(format!("models.catalog: {}", e.reason)))
            .and_then(|c| c.ok_or_else(|| Error::InvalidInput("models.catalog is required".into())))
            .and_then(|c| catalog_from(&c));
        let swapped = catalog
            .and_then(|catalog| models_of(catalog, Some(&models)))
            .and_then(|models| self.inner.swap_models(models));
        or_throw(&env, swapped)
    }

    /// Saves models, catalog and the live trending and session stores into
    /// one model file (the config is the caller's). Blocks the event loop;
    /// see `saveAsync`.
    #[napi(catch_unwind)]
    pub fn save(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> napi::Result<()> {
        let path = path.0;
        or_throw(&env, self.inner.save(&path))
    }

    /// `save` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save_async(
        &self,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> AsyncTask<CoreTask<()>> {
        let path = path.0;
        let engine = Arc::clone(&self.inner);
        CoreTask::spawn(move || engine.save(&path), Ok)
    }

    /// The bytes `save` writes.
    #[napi(catch_unwind)]
    pub fn to_buffer(&self, env: Env) -> napi::Result<Buffer> {
        or_throw(&env, self.inner.to_bytes().map(Buffer::from))
    }

    /// An engine from a file written by `save`, with `config`; live trending
    /// and sessions continue where they were. Throws `IO` or `MODEL_FORMAT`.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "path: string, config: EngineConfig | string"
    )]
    pub fn load(env: Env, path: String, config: Unknown<'_>) -> napi::Result<Engine> {
        let engine = config_from(&config).and_then(|config| CoreEngine::load(&path, config));
        or_throw(&env, engine.map(Engine::wrap))
    }

    /// `load` on the libuv thread pool.
    #[napi(
        ts_args_type = "path: string, config: EngineConfig | string",
        ts_return_type = "Promise<Engine>"
    )]
    pub fn load_async(path: String, config: Unknown<'_>) -> AsyncTask<CoreTask<Engine>> {
        let config = config_from(&config);
        CoreTask::spawn(
            move || CoreEngine::load(&path, config?),
            |e| Ok(Engine::wrap(e)),
        )
    }

    /// An engine from the bytes of `toBuffer` (any `Uint8Array`), with
    /// `config`. Throws `MODEL_FORMAT` for corrupt or foreign bytes.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "bytes: Uint8Array, config: EngineConfig | string"
    )]
    pub fn from_buffer(env: Env, bytes: &[u8], config: Unknown<'_>) -> napi::Result<Engine> {
        let engine = config_from(&config).and_then(|config| CoreEngine::from_bytes(bytes, config));
        or_throw(&env, engine.map(Engine::wrap))
    }

    /// Serves the models of a file written by `save` (catalog and models),
    /// keeping this engine's live trending, sessions and tracking: a model
    /// refresh while serving. Throws `IO` or `MODEL_FORMAT` for a missing,
    /// corrupt or truncated file, and the old models stay.
    #[napi(catch_unwind)]
    pub fn reload_models(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> napi::Result<()> {
        let path = path.0;
        or_throw(&env, self.inner.reload_models(&path))
    }

    /// `reloadModels` on the libuv thread pool (reading a large file does
    /// not block requests).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn reload_models_async(
        &self,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> AsyncTask<CoreTask<()>> {
        let path = path.0;
        let engine = Arc::clone(&self.inner);
        CoreTask::spawn(move || engine.reload_models(&path), Ok)
    }

    /// The model slice of the served ALS model, catalog and config for
    /// `placement` and its candidate `items` (e.g. a response's item ids):
    /// the bytes a page loads with sightline-wasm's `ModelSlice.fromBytes`
    /// to re-rank them privately. Throws `INVALID_INPUT` (unknown placement,
    /// no ALS model served) or `UNKNOWN_ID`.
    #[napi(catch_unwind)]
    pub fn export_slice(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] placement: JsString,
        items: Vec<String>,
    ) -> napi::Result<Buffer> {
        let placement = placement.0;
        let bytes = self
            .inner
            .export_slice(&placement, &items)
            .and_then(|slice| slice.to_bytes());
        or_throw(&env, bytes.map(Buffer::from))
    }
}
