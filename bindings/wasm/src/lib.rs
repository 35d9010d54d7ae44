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
use serde::{Deserialize, Serialize};
use sightline::als::{AlsModel, RecommendOptions};
use sightline::data::EventKind;
use sightline::rank::{DiversityConfig, Rules};
use sightline::rerank::{self, ReasonKind, RerankOptions, SessionEvent, VisitorSession};
use sightline::slice;
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

/// The bytes of a `Uint8Array` (a Node `Buffer` too) or `ArrayBuffer`,
/// copied into WebAssembly memory; anything else is `INVALID_INPUT`.
fn to_bytes(v: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(a) = v.dyn_ref::<js_sys::Uint8Array>() {
        Ok(a.to_vec())
    } else if let Some(b) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        Ok(js_sys::Uint8Array::new(b).to_vec())
    } else {
        Err(to_js_err(JsErrorParts::invalid_input(
            "bytes must be a Uint8Array or ArrayBuffer",
        )))
    }
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
    pub fn from_bytes(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer")] bytes: JsValue,
    ) -> Result<Model, JsValue> {
        AlsModel::from_bytes(&to_bytes(&bytes)?)
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

/// A JS value as a `T`, through its JSON text (`JSON.stringify`): serde_json
/// is in the module already, so this costs no code size. Anything that does
/// not fit (a wrong type, a missing field, NaN, which JSON turns into
/// `null`) is `INVALID_INPUT` naming `what`.
fn from_js<T: serde::de::DeserializeOwned>(value: &JsValue, what: &str) -> Result<T, JsValue> {
    let invalid = |msg: String| to_js_err(JsErrorParts::invalid_input(format!("{what}: {msg}")));
    let text = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| invalid("not JSON-serialisable".into()))?;
    serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))
}

/// `value` (serialisable by construction) as a plain JS value.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|e| to_js_err(JsErrorParts::invalid_input(e.to_string())))?;
    js_sys::JSON::parse(&text)
}

/// An optional field that, when present, must hold a value: `JSON.stringify`
/// turns NaN and ±∞ into `null`, which must not pass as "not given".
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A session event as pages write it: `{ itemId, kind?, timestamp? }`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsEvent {
    item_id: String,
    #[serde(default, deserialize_with = "present")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    timestamp: Option<i64>,
}

impl JsEvent {
    /// The core event; kind `view` and the current time by default.
    fn into_core(self) -> SessionEvent {
        SessionEvent {
            item: self.item_id,
            kind: EventKind::parse(self.kind.as_deref().unwrap_or("view")),
            timestamp: self
                .timestamp
                .unwrap_or_else(|| (js_sys::Date::now() / 1000.0) as i64),
        }
    }

    fn from_core(e: &SessionEvent) -> Self {
        JsEvent {
            item_id: e.item.clone(),
            kind: Some(e.kind.as_str().to_owned()),
            timestamp: Some(e.timestamp),
        }
    }
}

/// `rerank`'s options as pages write them (camelCase).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct JsRerankOptions {
    session_events: Vec<JsEvent>,
    #[serde(deserialize_with = "present")]
    n: Option<usize>,
    rules: Option<Rules>,
    diversity: Option<DiversityConfig>,
    #[serde(deserialize_with = "present")]
    region: Option<String>,
    cart: Vec<String>,
    #[serde(deserialize_with = "present")]
    now: Option<i64>,
}

/// One re-ranked item as pages read it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsReranked {
    item_id: String,
    score: f32,
    reason: ReasonKind,
    because: Option<String>,
}

#[wasm_bindgen(typescript_custom_section)]
const TS_RERANK: &str = r#"
/** One event of the visitor's session. */
export interface SessionEvent {
  /** The product id. */
  itemId: string;
  /** `view` (default), `click`, `add_to_cart`, `purchase`, or a custom kind the slice weighs. */
  kind?: string;
  /** Unix seconds; default now. */
  timestamp?: number;
}

/** What `ModelSlice.rerank` takes besides the candidates. */
export interface RerankOptions {
  /** The visitor's recent events (e.g. `session.events()`); items outside the slice are ignored. */
  sessionEvents?: SessionEvent[];
  /** Items wanted, 1..=1000; default all candidates. */
  n?: number;
  /** Rules replacing the placement's (the engine config's snake_case form). */
  rules?: Record<string, unknown>;
  /** Diversity replacing the placement's, e.g. `{ lambda: 0.7, by: { attributes: ["brand"] } }`. */
  diversity?: { lambda?: number; by?: { attributes: string[] } | "embedding" };
  /** The visitor's region code for the region rule. */
  region?: string;
  /** Item ids in the cart. */
  cart?: string[];
  /** Unix seconds for recency weighting; default the newest event's time. */
  now?: number;
}

/** One re-ranked item. */
export interface RerankedItem {
  /** The product id. */
  itemId: string;
  /** Session score (after boosts); only comparable within one call. */
  score: number;
  /** `session`: scored against the session; `candidate`: server order kept (no session); `pinned`: a rule pinned it. */
  reason: "session" | "candidate" | "pinned";
  /** The session item it is most like ("because you viewed …"), for `session` items. */
  because: string | null;
}

/** The stored form of a `SessionStore` (`JSON.stringify(store)` writes it). */
export interface SessionStoreJSON {
  maxEvents: number;
  events: SessionEvent[];
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `RerankedItem[]` in the generated TypeScript declarations.
    #[wasm_bindgen(typescript_type = "RerankedItem[]")]
    pub type RerankedArray;
    /// `SessionEvent[]` in the generated TypeScript declarations.
    #[wasm_bindgen(typescript_type = "SessionEvent[]")]
    pub type SessionEventArray;
    /// `SessionStoreJSON` in the generated TypeScript declarations.
    #[wasm_bindgen(typescript_type = "SessionStoreJSON")]
    pub type SessionStoreJson;
}

/// A model slice: one placement's candidates with their item factors,
/// catalog entries, rules and diversity settings, exported by the server
/// (`ModelSlice::export` in the core) in the model file format. Re-ranks
/// those candidates with the visitor's session on the device.
#[wasm_bindgen]
pub struct ModelSlice {
    inner: slice::ModelSlice,
}

#[wasm_bindgen]
impl ModelSlice {
    /// Parses a slice from the bytes of a slice file. Throws `MODEL_FORMAT`
    /// for truncated, corrupt or foreign data (a full model file included).
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer")] bytes: JsValue,
    ) -> Result<ModelSlice, JsValue> {
        slice::ModelSlice::from_bytes(&to_bytes(&bytes)?)
            .map(|inner| ModelSlice { inner })
            .map_err(to_js_err)
    }

    /// Re-ranks `candidates` (item ids of the slice, best first by the
    /// server) for the visitor: folds `options.sessionEvents` into a user
    /// vector, scores, applies the placement's rules and MMR diversity
    /// (the server engine's code), and returns the top `options.n` as
    /// `[{ itemId, score, reason, because }]`.
    ///
    /// Throws `UNKNOWN_ID` for a candidate not in the slice,
    /// `INVALID_INPUT` for malformed arguments, `CONFIG` for override rules
    /// or diversity that do not fit the slice.
    pub fn rerank(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] candidates: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RerankOptions")] options: Option<JsValue>,
    ) -> Result<RerankedArray, JsValue> {
        let candidates = to_ids(&candidates, "candidates")?;
        let o: JsRerankOptions = match options {
            Some(o) if !o.is_undefined() && !o.is_null() => from_js(&o, "options")?,
            _ => JsRerankOptions::default(),
        };
        if o.n == Some(0) {
            return Err(to_js_err(JsErrorParts::invalid_input(
                "n must be a positive integer, got 0",
            )));
        }
        let opts = RerankOptions {
            session: o
                .session_events
                .into_iter()
                .map(JsEvent::into_core)
                .collect(),
            n: o.n.unwrap_or(0),
            rules: o.rules,
            diversity: o.diversity,
            region: o.region,
            cart: o.cart,
            now: o.now,
        };
        let out: Vec<JsReranked> = rerank::rerank(&self.inner, &candidates, &opts)
            .map_err(to_js_err)?
            .into_iter()
            .map(|r| JsReranked {
                item_id: r.item,
                score: r.score,
                reason: r.reason,
                because: r.because,
            })
            .collect();
        Ok(to_js(&out)?.unchecked_into())
    }

    /// The placement the slice was exported for.
    #[wasm_bindgen(getter)]
    pub fn placement(&self) -> String {
        self.inner.placement().to_owned()
    }

    /// Number of items in the slice.
    #[wasm_bindgen(getter, js_name = nItems)]
    pub fn n_items(&self) -> f64 {
        self.inner.len() as f64
    }

    /// Number of latent factors per item vector.
    #[wasm_bindgen(getter)]
    pub fn factors(&self) -> f64 {
        self.inner.factors() as f64
    }

    /// The slice's item ids, in slice order.
    #[wasm_bindgen(js_name = itemIds)]
    pub fn item_ids(&self) -> Vec<String> {
        let items = self.inner.catalog().items();
        items.iter().map(|i| i.id.clone()).collect()
    }
}

/// A JS array of strings; anything else is `INVALID_INPUT`. Read as one
/// JSON text: one crossing into WebAssembly instead of one per id (500
/// candidates cost ~10x more id by id).
fn to_ids(v: &JsValue, what: &str) -> Result<Vec<String>, JsValue> {
    if !Array::is_array(v) {
        return Err(to_js_err(JsErrorParts::invalid_input(format!(
            "{what} must be an array of strings"
        ))));
    }
    from_js(v, what)
}

/// The visitor's recent events, in page memory: at most `maxEvents`
/// (default 50), oldest first. Persist it with `JSON.stringify(store)` and
/// restore it with `SessionStore.fromJSON(...)` (e.g. via `localStorage`);
/// it never leaves the device unless the page sends it.
#[wasm_bindgen]
pub struct SessionStore {
    inner: VisitorSession,
}

#[wasm_bindgen]
impl SessionStore {
    /// An empty store keeping the newest `maxEvents` events (default 50,
    /// at most 10 000; `INVALID_INPUT` otherwise).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = maxEvents, unchecked_optional_param_type = "number")]
        max_events: Option<JsValue>,
    ) -> Result<SessionStore, JsValue> {
        let inner = match max_events {
            Some(m) if !m.is_undefined() => {
                VisitorSession::new(to_count(&m)?).map_err(to_js_err)?
            }
            _ => VisitorSession::default(),
        };
        Ok(SessionStore { inner })
    }

    /// Records an event `{ itemId, kind?, timestamp? }` (kind `view` and
    /// now by default), in time order; the oldest falls off beyond the
    /// bound. `INVALID_INPUT` for a malformed event (nothing changes).
    pub fn add(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "SessionEvent")] event: JsValue,
    ) -> Result<(), JsValue> {
        let e: JsEvent = from_js(&event, "event")?;
        self.inner.add(e.into_core()).map_err(to_js_err)
    }

    /// The events, oldest first, as `[{ itemId, kind, timestamp }]`.
    pub fn events(&self) -> Result<SessionEventArray, JsValue> {
        let out: Vec<JsEvent> = self.inner.events().iter().map(JsEvent::from_core).collect();
        Ok(to_js(&out)?.unchecked_into())
    }

    /// Number of events held.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> f64 {
        self.inner.events().len() as f64
    }

    /// Forgets every event.
    pub fn clear(&mut self) {
        self.inner.clear();
    }

    /// The stored form `{ maxEvents, events }` (what `JSON.stringify` writes).
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> Result<SessionStoreJson, JsValue> {
        let out = JsStore {
            max_events: self.inner.max_events(),
            events: self.inner.events().iter().map(JsEvent::from_core).collect(),
        };
        Ok(to_js(&out)?.unchecked_into())
    }

    /// A store from `toJSON`'s form, or its JSON text. Every event is
    /// checked; `INVALID_INPUT` for anything malformed.
    #[wasm_bindgen(js_name = fromJSON)]
    pub fn from_json(
        #[wasm_bindgen(unchecked_param_type = "SessionStoreJSON | string")] value: JsValue,
    ) -> Result<SessionStore, JsValue> {
        let raw: JsStore = match value.as_string() {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                to_js_err(JsErrorParts::invalid_input(format!("session JSON: {e}")))
            })?,
            None => from_js(&value, "session")?,
        };
        let events = raw.events.into_iter().map(JsEvent::into_core);
        VisitorSession::from_events(raw.max_events, events)
            .map(|inner| SessionStore { inner })
            .map_err(to_js_err)
    }
}

/// [`SessionStore`]'s stored form.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsStore {
    max_events: usize,
    events: Vec<JsEvent>,
}
