//! Node.js bindings for sightline (napi-rs 3).
//!
//! Conversion only: every method forwards to the core crate and maps its
//! results and errors onto JavaScript values with the rules of
//! `sightline-js-common` (shared with the wasm binding). A core
//! [`sightline::Error`] becomes a JS `Error` whose `code` property is
//! [`sightline::Error::code`] (`"UNKNOWN_ID"`, `"INVALID_INPUT"`, …), whose
//! `message` is the core message, and which carries the variant's fields
//! (`kind` and `id` of an unknown id, `field` of a config error).
#![deny(clippy::all)]

use napi::bindgen_prelude::{AsyncTask, JsObjectValue, JsValue};
use napi::{Env, Status, Task};
use napi_derive::napi;
use sightline::als::{AlsModel, RecommendOptions};
use sightline::Component;
use sightline_js_common::{scored, JsErrorParts};

mod convert;
mod demo;
mod engine;

/// Builds the JS `Error` for `err` (its `code`, message and structured
/// fields as properties, see [`JsErrorParts`]); throwing the returned
/// error throws that object.
fn to_js_err(env: &Env, err: impl Into<JsErrorParts>) -> napi::Error {
    let parts = err.into();
    let build = || -> napi::Result<napi::Error> {
        let mut obj = env.create_error(napi::Error::from_reason(parts.message.as_str()))?;
        obj.set_named_property("code", parts.code)?;
        for (name, value) in &parts.fields {
            obj.set_named_property(name, value.as_str())?;
        }
        Ok(napi::Error::from(obj.to_unknown()))
    };
    // Creating a property on a fresh Error object fails only when the JS
    // engine is shutting down; then the plain error is the best left.
    build().unwrap_or_else(|e| e)
}

/// [`sightline_js_common::to_count`], throwing its error.
/// The `code` of every error the addon can throw, one per core error
/// variant (the `ErrorCode` type of `index.d.ts` lists the same).
#[napi(ts_return_type = "ErrorCode[]")]
pub fn error_codes() -> Vec<&'static str> {
    sightline::Error::CODES.to_vec()
}

fn to_count(env: &Env, n: f64) -> napi::Result<usize> {
    sightline_js_common::to_count(n).map_err(|e| to_js_err(env, e))
}

/// One recommended or similar item.
#[napi(object)]
pub struct ScoredItem {
    /// The item (product) id, as stored in the model file.
    pub item_id: String,
    /// The model score; higher is better. Only comparable within one call.
    pub score: f64,
}

fn to_scored(pairs: Vec<(String, f32)>) -> Vec<ScoredItem> {
    scored(pairs)
        .map(|(item_id, score)| ScoredItem { item_id, score })
        .collect()
}

/// A trained implicit-feedback ALS recommendation model loaded from a
/// sightline model file (`.slm`).
///
/// Create one with `Model.load(path)`, `Model.loadAsync(path)` or
/// `Model.fromBuffer(bytes)`. Errors are thrown as `Error` objects whose
/// `code` is one of `INVALID_INPUT`, `SHAPE_MISMATCH`, `UNKNOWN_ID`, `CONFIG`,
/// `MODEL_FORMAT`, `IO`, `INTERRUPTED`.
#[napi]
pub struct Model {
    inner: AlsModel,
}

#[napi]
impl Model {
    /// Loads a model file synchronously (blocks the event loop while reading
    /// and validating the file; use `loadAsync` for large models).
    ///
    /// Throws `IO` if the file cannot be read and `MODEL_FORMAT` if it is not a
    /// valid sightline model.
    #[napi(factory, catch_unwind)]
    pub fn load(env: Env, path: String) -> napi::Result<Model> {
        AlsModel::load(&path)
            .map(|inner| Model { inner })
            .map_err(|e| to_js_err(&env, e))
    }

    /// Loads a model file on the libuv thread pool; the promise resolves to a
    /// `Model` or rejects with an `Error` carrying `code` (`IO`,
    /// `MODEL_FORMAT`, …).
    #[napi(ts_return_type = "Promise<Model>")]
    pub fn load_async(path: String) -> AsyncTask<LoadTask> {
        AsyncTask::new(LoadTask { path })
    }

    /// Parses a model from the bytes of a model file (a `Buffer` or any
    /// `Uint8Array`). The bytes are not retained.
    ///
    /// Throws `MODEL_FORMAT` for truncated, corrupt or foreign data.
    #[napi(factory, catch_unwind)]
    pub fn from_buffer(env: Env, bytes: &[u8]) -> napi::Result<Model> {
        AlsModel::from_bytes(bytes)
            .map(|inner| Model { inner })
            .map_err(|e| to_js_err(&env, e))
    }

    /// The top-`n` items for a known user, best first, as
    /// `[{ itemId, score }]`. Items the user interacted with in the training
    /// data are left out.
    ///
    /// `n` must be a positive integer (`INVALID_INPUT` otherwise); an unknown
    /// user throws `UNKNOWN_ID`.
    #[napi(catch_unwind)]
    pub fn recommend(&self, env: Env, user_id: String, n: f64) -> napi::Result<Vec<ScoredItem>> {
        let n = to_count(&env, n)?;
        self.inner
            .recommend_by_id(&user_id, n, &RecommendOptions::default())
            .map(to_scored)
            .map_err(|e| to_js_err(&env, e))
    }

    /// The `n` items most similar to `itemId` (cosine similarity of the item
    /// factors), best first, as `[{ itemId, score }]`; the item itself is not
    /// included.
    ///
    /// `n` must be a positive integer (`INVALID_INPUT` otherwise); an unknown
    /// item throws `UNKNOWN_ID`.
    #[napi(catch_unwind)]
    pub fn similar_items(
        &self,
        env: Env,
        item_id: String,
        n: f64,
    ) -> napi::Result<Vec<ScoredItem>> {
        let n = to_count(&env, n)?;
        self.inner
            .similar_items_by_id(&item_id, n)
            .map(to_scored)
            .map_err(|e| to_js_err(&env, e))
    }

    /// Number of users the model knows.
    #[napi(getter)]
    pub fn n_users(&self) -> f64 {
        self.inner.n_users() as f64
    }

    /// Number of items the model knows.
    #[napi(getter)]
    pub fn n_items(&self) -> f64 {
        self.inner.n_items() as f64
    }

    /// Number of latent factors per user/item vector.
    #[napi(getter)]
    pub fn factors(&self) -> f64 {
        self.inner.factors() as f64
    }
}

/// Background job behind `Model.loadAsync`: reads and parses the file off the
/// JS thread.
pub struct LoadTask {
    path: String,
}

impl Task for LoadTask {
    type Output = Result<AlsModel, sightline::Error>;
    type JsValue = Model;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        // The core error is carried to `resolve`, which runs on the JS thread
        // and can build an `Error` with the right `code`.
        std::panic::catch_unwind(|| AlsModel::load(&self.path)).map_err(|_| {
            napi::Error::new(
                Status::GenericFailure,
                "sightline: panic while loading model",
            )
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        match output {
            Ok(inner) => Ok(Model { inner }),
            // Built here, on the JS thread: the promise rejects with it.
            Err(err) => Err(to_js_err(&env, err)),
        }
    }
}
