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

use napi::bindgen_prelude::{FromNapiValue, JsObjectValue, JsValue};
use napi::{sys, Env};
use napi_derive::napi;
use sightline_js_common::{scored, JsErrorParts};

pub use als::{Als, Model};
pub use content::ContentIndex;
pub use cooccur::CoOccurrence;

mod als;
mod content;
mod convert;
mod cooccur;
mod demo;
mod engine;
mod evaluation;
mod interactions;
mod session;
mod task;
mod trending;

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

/// A core result as a napi result: its error thrown as the JS `Error` of
/// [`to_js_err`].
pub(crate) fn or_throw<T>(env: &Env, result: sightline::Result<T>) -> napi::Result<T> {
    result.map_err(|e| to_js_err(env, e))
}

/// A string argument. napi's own `String` conversion throws an `Error`
/// with code `StringExpected`, outside `ErrorCode`; this one throws
/// `INVALID_INPUT`, as the wasm binding does.
pub struct JsString(pub String);

impl FromNapiValue for JsString {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: the arguments napi passes to an argument conversion.
        unsafe { String::from_napi_value(env, value) }
            .map(JsString)
            .map_err(|e| wrong_type(env, "a string", &e))
    }
}

/// A number argument: [`JsString`]'s rule for numbers (`NumberExpected`
/// becomes `INVALID_INPUT`).
pub struct JsNumber(pub f64);

impl FromNapiValue for JsNumber {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        // SAFETY: as for `JsString`.
        unsafe { f64::from_napi_value(env, value) }
            .map(JsNumber)
            .map_err(|e| wrong_type(env, "a number", &e))
    }
}

/// The `INVALID_INPUT` error of an argument that is not `expected`.
fn wrong_type(env: sys::napi_env, expected: &str, err: &napi::Error) -> napi::Error {
    to_js_err(
        &Env::from_raw(env),
        JsErrorParts::invalid_input(format!("expected {expected}: {}", err.reason)),
    )
}

/// The `code` of every error the addon can throw, one per core error
/// variant (the `ErrorCode` type of `index.d.ts` lists the same).
#[napi(ts_return_type = "ErrorCode[]")]
pub fn error_codes() -> Vec<&'static str> {
    sightline::Error::CODES.to_vec()
}

/// [`sightline_js_common::to_count`], throwing its error.
pub(crate) fn to_count(env: &Env, n: f64) -> napi::Result<usize> {
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

pub(crate) fn to_scored(pairs: Vec<(String, f32)>) -> Vec<ScoredItem> {
    scored(pairs)
        .map(|(item_id, score)| ScoredItem { item_id, score })
        .collect()
}

/// `(index, score)` pairs with their ids from `map`.
pub(crate) fn named(map: &sightline::ids::IdMap, pairs: Vec<(u32, f32)>) -> Vec<(String, f32)> {
    pairs
        .into_iter()
        .map(|(i, s)| (map.ids()[i as usize].clone(), s))
        .collect()
}
