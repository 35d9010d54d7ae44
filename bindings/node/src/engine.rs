//! The recommendation engine for Node: placements, rules, promotions,
//! sessions, trending, experiments, tracking, consent and GDPR, in-process.
//!
//! Conversion only: JS values become the core's serde types (records with
//! camelCase fields, see [`crate::convert`]), the core answers, its serde
//! types go back as plain objects. Configs keep the spelling of the config
//! files (snake_case), so one JSON document serves every runtime. Every
//! rule and every validation is the core's; its errors become `Error`s
//! with `code` and the variant's fields (`crate::to_js_err`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use napi::bindgen_prelude::{
    AsyncTask, Buffer, ClassInstance, Object, ToNapiValue, TypeName, Unknown,
};
use napi::{Env, Status, Task, ValueType};
use napi_derive::napi;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sightline::als::AlsModel;
use sightline::data::{Catalog, Event, Row};
use sightline::engine::{Engine as CoreEngine, EngineConfig, Models, Request};
use sightline::Error;

use crate::convert::{from_camel, integral_numbers, to_camel};
use crate::{to_js_err, Model};

type CoreResult<T> = sightline::Result<T>;

/// A core result as a napi result: its error thrown as the JS `Error` of
/// [`to_js_err`].
pub(crate) fn or_throw<T>(env: &Env, result: CoreResult<T>) -> napi::Result<T> {
    result.map_err(|e| to_js_err(env, e))
}

/// A JS value as JSON. `NaN`, `±Infinity`, functions and symbols have no
/// JSON form: `INVALID_INPUT` naming `what`.
fn json(value: &Unknown<'_>, what: &str) -> CoreResult<Value> {
    // SAFETY: `Value::from_napi_value` accepts a value of any JS type (it
    // dispatches on `typeof` and reports what it cannot convert).
    let mut value = unsafe { value.cast::<Value>() }
        .map_err(|e| Error::InvalidInput(format!("{what} has no JSON form: {}", e.reason)))?;
    integral_numbers(&mut value);
    Ok(value)
}

/// A core record from its JS object (camelCase fields).
fn record<T: DeserializeOwned>(value: Value, what: &str) -> CoreResult<T> {
    from_camel(value).map_err(|e| Error::InvalidInput(format!("{what}: {e}")))
}

/// A core record from a JS argument.
pub(crate) fn input<T: DeserializeOwned>(value: &Unknown<'_>, what: &str) -> CoreResult<T> {
    record(json(value, what)?, what)
}

/// The records of a JS array; an error names the position.
fn records<T: DeserializeOwned>(value: Value, what: &str) -> CoreResult<Vec<T>> {
    match value {
        Value::Array(values) => values
            .into_iter()
            .enumerate()
            .map(|(i, v)| record(v, &format!("{what} {i}")))
            .collect(),
        other => Err(Error::InvalidInput(format!(
            "{what}s must be an array, got {other}"
        ))),
    }
}

/// A core value as a plain JS object (camelCase fields).
pub(crate) fn out<T: Serialize>(value: T) -> CoreResult<Value> {
    to_camel(&value).map_err(|e| Error::InvalidInput(e.to_string()))
}

/// A JS number used as Unix seconds: an integer (NaN, ±∞ and fractions are
/// `INVALID_INPUT`).
fn to_timestamp(t: f64) -> CoreResult<i64> {
    if t.is_finite() && t.fract() == 0.0 {
        // `as` saturates beyond the i64 range; t is an integer here.
        Ok(t as i64)
    } else {
        Err(Error::InvalidInput(format!(
            "timestamp must be an integer (Unix seconds), got {t}"
        )))
    }
}

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
fn catalog_from(value: &Unknown<'_>) -> CoreResult<Catalog> {
    let rows = records::<Row>(json(value, "catalog")?, "catalog item")?;
    Catalog::from_rows(&rows)
}

/// The ALS model of an options object (`{ model?: Model }`), copied: the
/// engine may outlive the JS `Model`.
fn model_from(options: Option<&Object<'_>>) -> CoreResult<Option<Arc<AlsModel>>> {
    let Some(options) = options else {
        return Ok(None);
    };
    let model = options
        .get::<Option<ClassInstance<'_, Model>>>("model")
        .map_err(|_| Error::InvalidInput("options.model must be a Model".into()))?;
    Ok(model.flatten().map(|m| Arc::new(m.inner.clone())))
}

fn models_of(catalog: Catalog, als: Option<Arc<AlsModel>>) -> Models {
    Models {
        catalog: Arc::new(catalog),
        als,
        cooccur: None,
        content: None,
    }
}

/// A recommendation engine over a catalog and (optionally) an ALS model.
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
            let models = models_of(catalog_from(catalog)?, model_from(options)?);
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
    /// catalog as an array of rows and, for the `als` source, a `Model`.
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
        json: String,
        catalog: Unknown<'_>,
        options: Option<Object<'_>>,
    ) -> napi::Result<Engine> {
        let config = EngineConfig::from_json(&json);
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
        toml: String,
        catalog: Unknown<'_>,
        options: Option<Object<'_>>,
    ) -> napi::Result<Engine> {
        let config = EngineConfig::from_toml(&toml);
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
        recommendation_id: String,
        timestamp: f64,
    ) -> napi::Result<bool> {
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
        recommendation_id: String,
        item_id: String,
        timestamp: f64,
    ) -> napi::Result<bool> {
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
        user: String,
        item_id: String,
        revenue: f64,
        timestamp: f64,
    ) -> napi::Result<bool> {
        let tracked = to_timestamp(timestamp)
            .and_then(|ts| self.inner.track_conversion(&user, &item_id, revenue, ts));
        or_throw(&env, tracked)
    }

    /// Recomputes the popular-per-region cache of the last fallback as of
    /// `now` (Unix seconds); the engine also does so by itself (after
    /// `ingestBatch`, and when the cache is old).
    #[napi(catch_unwind)]
    pub fn refresh_popular(&self, env: Env, now: f64) -> napi::Result<()> {
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
    pub fn forget_user(&self, env: Env, user: String) -> napi::Result<Value> {
        or_throw(&env, self.inner.forget_user(&user).and_then(out))
    }

    /// Everything held about a person (GDPR access).
    #[napi(catch_unwind, ts_return_type = "UserExport")]
    pub fn export_user(&self, env: Env, user: String) -> napi::Result<Value> {
        or_throw(&env, self.inner.export_user(&user).and_then(out))
    }

    /// Serves a new catalog and model from now on, atomically; when they do
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
            .and_then(|catalog| Ok(models_of(catalog, model_from(Some(&models))?)))
            .and_then(|models| self.inner.swap_models(models));
        or_throw(&env, swapped)
    }

    /// Saves models, catalog and the live trending and session stores into
    /// one model file (the config is the caller's). Blocks the event loop;
    /// see `saveAsync`.
    #[napi(catch_unwind)]
    pub fn save(&self, env: Env, path: String) -> napi::Result<()> {
        or_throw(&env, self.inner.save(&path))
    }

    /// `save` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save_async(&self, path: String) -> AsyncTask<CoreTask<()>> {
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
    pub fn reload_models(&self, env: Env, path: String) -> napi::Result<()> {
        or_throw(&env, self.inner.reload_models(&path))
    }

    /// `reloadModels` on the libuv thread pool (reading a large file does
    /// not block requests).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn reload_models_async(&self, path: String) -> AsyncTask<CoreTask<()>> {
        let engine = Arc::clone(&self.inner);
        CoreTask::spawn(move || engine.reload_models(&path), Ok)
    }
}

/// A plain object a task resolves to (napi gives `serde_json::Value` no
/// `TypeName`, which a task's value needs).
pub struct Json(Value);

impl TypeName for Json {
    fn type_name() -> &'static str {
        "Object"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Json {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        value: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        // SAFETY: forwarded as is; the caller upholds the contract.
        unsafe { Value::to_napi_value(env, value.0) }
    }
}

/// [`out`] for a task.
fn out_json<T: Serialize>(value: T) -> CoreResult<Json> {
    out(value).map(Json)
}

/// A core call on the libuv thread pool (the promise of an `…Async`
/// method): the call runs off the JS thread, its result is converted on it.
pub struct CoreTask<J> {
    job: Option<Box<dyn FnOnce() -> CoreResult<J> + Send>>,
}

impl<J: ToNapiValue + TypeName + Send + 'static> CoreTask<J> {
    /// The task of `call`, whose result `convert` turns into the JS value.
    fn spawn<T: 'static>(
        call: impl FnOnce() -> CoreResult<T> + Send + 'static,
        convert: fn(T) -> CoreResult<J>,
    ) -> AsyncTask<CoreTask<J>> {
        let job = move || call().and_then(convert);
        AsyncTask::new(CoreTask {
            job: Some(Box::new(job)),
        })
    }
}

impl<J: ToNapiValue + TypeName + Send + 'static> Task for CoreTask<J> {
    type Output = CoreResult<J>;
    type JsValue = J;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let job = self
            .job
            .take()
            .ok_or_else(|| napi::Error::new(Status::GenericFailure, "sightline: task ran twice"))?;
        // A panic must not cross into libuv; it rejects the promise instead.
        catch_unwind(AssertUnwindSafe(job)).map_err(|_| {
            napi::Error::new(
                Status::GenericFailure,
                "sightline: panic in a background task",
            )
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<J> {
        // The JS error (with `code` and fields) is built here, on the JS
        // thread, and the promise rejects with that exact object.
        or_throw(&env, output)
    }
}
