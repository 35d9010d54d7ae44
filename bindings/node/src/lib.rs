//! Node.js bindings for sightline (napi-rs 3).
//!
//! Conversion only: every method forwards to the core crate and maps its
//! results and errors onto JavaScript values. A core [`sightline::Error`]
//! becomes a JS `Error` whose `code` property is [`sightline::Error::code`]
//! (`"UNKNOWN_ID"`, `"INVALID_INPUT"`, …) and whose `message` is the core
//! message.
#![deny(clippy::all)]

use napi::bindgen_prelude::{AsyncTask, JsError};
use napi::{Env, Status, Task};
use napi_derive::napi;
use sightline::als::{AlsModel, RecommendOptions};
use sightline::Component;

mod convert;
mod demo;
mod engine;

/// Error thrown to JS: napi passes the status string (here the core's code)
/// to `napi_create_error`, which sets it as the JS `error.code`.
type CodedError = napi::Error<&'static str>;

/// Maps a core error onto a napi error carrying the core's code.
fn to_js_err(err: sightline::Error) -> CodedError {
    napi::Error::new(err.code(), err.to_string())
}

/// Validates a JS number used as a result count and converts it to `usize`.
///
/// JS numbers are doubles: NaN, ±∞, negatives and fractions are rejected with
/// `INVALID_INPUT` here (they have no `usize` equivalent); `0` is passed on so
/// the core reports it. Values above `usize::MAX` saturate.
fn to_count(n: f64) -> Result<usize, CodedError> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 {
        // `as` saturates for values above usize::MAX; n is a non-negative integer here.
        Ok(n as usize)
    } else {
        Err(napi::Error::new(
            "INVALID_INPUT",
            format!("invalid input: n must be a positive integer, got {n}"),
        ))
    }
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
    pairs
        .into_iter()
        .map(|(item_id, score)| ScoredItem {
            item_id,
            score: f64::from(score),
        })
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
    pub fn load(path: String) -> Result<Model, CodedError> {
        AlsModel::load(&path)
            .map(|inner| Model { inner })
            .map_err(to_js_err)
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
    pub fn from_buffer(bytes: &[u8]) -> Result<Model, CodedError> {
        AlsModel::from_bytes(bytes)
            .map(|inner| Model { inner })
            .map_err(to_js_err)
    }

    /// The top-`n` items for a known user, best first, as
    /// `[{ itemId, score }]`. Items the user interacted with in the training
    /// data are left out.
    ///
    /// `n` must be a positive integer (`INVALID_INPUT` otherwise); an unknown
    /// user throws `UNKNOWN_ID`.
    #[napi(catch_unwind)]
    pub fn recommend(&self, user_id: String, n: f64) -> Result<Vec<ScoredItem>, CodedError> {
        let n = to_count(n)?;
        self.inner
            .recommend_by_id(&user_id, n, &RecommendOptions::default())
            .map(to_scored)
            .map_err(to_js_err)
    }

    /// The `n` items most similar to `itemId` (cosine similarity of the item
    /// factors), best first, as `[{ itemId, score }]`; the item itself is not
    /// included.
    ///
    /// `n` must be a positive integer (`INVALID_INPUT` otherwise); an unknown
    /// item throws `UNKNOWN_ID`.
    #[napi(catch_unwind)]
    pub fn similar_items(&self, item_id: String, n: f64) -> Result<Vec<ScoredItem>, CodedError> {
        let n = to_count(n)?;
        self.inner
            .similar_items_by_id(&item_id, n)
            .map(to_scored)
            .map_err(to_js_err)
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
            Err(err) => {
                // Build the JS error object here (with `code` = core code) and
                // reject with that exact object.
                let js_err = JsError::from(to_js_err(err)).into_unknown(env);
                Err(napi::Error::from(js_err))
            }
        }
    }
}
