//! WebAssembly bindings for sightline (wasm-bindgen).
//!
//! Conversion only: every method forwards to the core crate and maps its
//! results and errors onto JavaScript values with the rules of
//! `sightline-js-common` (shared with the Node binding). A core
//! [`sightline::Error`] is thrown as a JS `Error` whose `code` property is
//! [`sightline::Error::code`] (`"UNKNOWN_ID"`, `"INVALID_INPUT"`, …), whose
//! `message` is the core message, and which carries the variant's fields
//! (`kind` and `id` of an unknown id, `field` of a config error).
//!
//! The core is built without its `parallel` feature: no threads, no rayon.

use js_sys::{Array, Object, Reflect};
use sightline::als::{AlsModel, RecommendOptions};
use sightline::Component;
use sightline_js_common::{not_a_string, scored, JsErrorParts, ITEM_ID, SCORE};
use wasm_bindgen::prelude::*;

/// Builds the thrown JS `Error` for `err`: its `code`, message and
/// structured fields as properties (see [`JsErrorParts`]).
fn to_js_err(err: impl Into<JsErrorParts>) -> JsValue {
    let parts = err.into();
    let obj = js_sys::Error::new(&parts.message);
    let fields = std::iter::once(("code", parts.code)).chain(
        parts
            .fields
            .iter()
            .map(|(name, value)| (*name, value.as_str())),
    );
    for (name, value) in fields {
        // Setting a property on a fresh, ordinary Error object cannot fail.
        let _ = Reflect::set(&obj, &JsValue::from_str(name), &JsValue::from_str(value));
    }
    obj.into()
}

/// Takes a JS string id; anything else is `INVALID_INPUT` (wasm-bindgen
/// would otherwise read a non-string as garbage memory).
fn to_id(v: &JsValue, what: &str) -> Result<String, JsValue> {
    v.as_string().ok_or_else(|| to_js_err(not_a_string(what)))
}

/// [`sightline_js_common::to_count`] for any JS value (a non-number is NaN).
fn to_count(n: &JsValue) -> Result<usize, JsValue> {
    sightline_js_common::to_count(n.as_f64().unwrap_or(f64::NAN)).map_err(to_js_err)
}

/// Converts `(id, score)` pairs into an array of `{ itemId, score }` objects.
fn to_scored(pairs: Vec<(String, f32)>) -> Result<Array, JsValue> {
    let (item_id, score) = (JsValue::from_str(ITEM_ID), JsValue::from_str(SCORE));
    let out = Array::new();
    for (id, s) in scored(pairs) {
        let obj = Object::new();
        Reflect::set(&obj, &item_id, &JsValue::from_str(&id))?;
        Reflect::set(&obj, &score, &JsValue::from_f64(s))?;
        out.push(&obj);
    }
    Ok(out)
}

#[wasm_bindgen(typescript_custom_section)]
const TS_SCORED_ITEM: &str = r#"
/** One recommended or similar item. */
export interface ScoredItem {
  /** The item (product) id, as stored in the model file. */
  itemId: string;
  /** The model score; higher is better. Only comparable within one call. */
  score: number;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `ScoredItem[]` in the generated TypeScript declarations.
    #[wasm_bindgen(typescript_type = "ScoredItem[]")]
    pub type ScoredItemArray;
}

/// A trained implicit-feedback ALS recommendation model parsed from the bytes
/// of a sightline model file (`.slm`).
///
/// Create one with `Model.fromBytes(bytes)`. Errors are thrown as `Error`
/// objects whose `code` is one of `INVALID_INPUT`, `SHAPE_MISMATCH`,
/// `UNKNOWN_ID`, `CONFIG`, `MODEL_FORMAT`, `IO`, `INTERRUPTED`. Call `free()`
/// when done to release the model's WebAssembly memory.
#[wasm_bindgen]
pub struct Model {
    inner: AlsModel,
}

#[wasm_bindgen]
impl Model {
    /// Parses a model from the bytes of a model file. The bytes are copied
    /// into WebAssembly memory and not retained.
    ///
    /// Throws `MODEL_FORMAT` for truncated, corrupt or foreign data.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, JsValue> {
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
    #[wasm_bindgen(js_name = recommend)]
    pub fn recommend(
        &self,
        #[wasm_bindgen(js_name = userId, unchecked_param_type = "string")] user_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] n: JsValue,
    ) -> Result<ScoredItemArray, JsValue> {
        let user_id = to_id(&user_id, "userId")?;
        let n = to_count(&n)?;
        let pairs = self
            .inner
            .recommend_by_id(&user_id, n, &RecommendOptions::default())
            .map_err(to_js_err)?;
        Ok(to_scored(pairs)?.unchecked_into())
    }

    /// The `n` items most similar to `itemId` (cosine similarity of the item
    /// factors), best first, as `[{ itemId, score }]`; the item itself is not
    /// included.
    ///
    /// `n` must be a positive integer (`INVALID_INPUT` otherwise); an unknown
    /// item throws `UNKNOWN_ID`.
    #[wasm_bindgen(js_name = similarItems)]
    pub fn similar_items(
        &self,
        #[wasm_bindgen(js_name = itemId, unchecked_param_type = "string")] item_id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] n: JsValue,
    ) -> Result<ScoredItemArray, JsValue> {
        let item_id = to_id(&item_id, "itemId")?;
        let n = to_count(&n)?;
        let pairs = self
            .inner
            .similar_items_by_id(&item_id, n)
            .map_err(to_js_err)?;
        Ok(to_scored(pairs)?.unchecked_into())
    }

    /// Number of users the model knows.
    #[wasm_bindgen(getter, js_name = nUsers)]
    pub fn n_users(&self) -> f64 {
        self.inner.n_users() as f64
    }

    /// Number of items the model knows.
    #[wasm_bindgen(getter, js_name = nItems)]
    pub fn n_items(&self) -> f64 {
        self.inner.n_items() as f64
    }

    /// Number of latent factors per user/item vector.
    #[wasm_bindgen(getter)]
    pub fn factors(&self) -> f64 {
        self.inner.factors() as f64
    }
}
