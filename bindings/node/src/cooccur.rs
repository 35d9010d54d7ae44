//! Item-to-item co-occurrence ("bought together"): `CoOccurrence`, the
//! twin of the Python binding's `_Cooccur`. Conversion only.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, Unknown};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;
use sightline::cooccur::{CooccurConfig, CooccurModel};
use sightline::{Component, Result};

use crate::convert::{out, settings};
use crate::interactions::{data_of, DataArg};
use crate::task::{load_async, save_async, CoreTask};
use crate::{or_throw, to_count, to_scored, JsNumber, JsString, ScoredItem};

/// Co-occurrence settings (the core's `CooccurConfig` in camelCase),
/// checked by the core.
fn cooccur_config(params: Option<&Unknown<'_>>) -> Result<CooccurConfig> {
    let config: CooccurConfig = settings(params, "params")?;
    config.validate()?;
    Ok(config)
}

/// An item-to-item co-occurrence model: for every item its best
/// neighbours by how often they share a row of the training matrix (a
/// user's history, or a basket), BM25-weighted by default.
///
/// `CoOccurrence.fit(data, params?)` / `fitAsync` build one; parameters are
/// the core's `CooccurConfig` in camelCase: `weighting` (`{ kind: 'bm25',
/// k1: 1.2, b: 0.75 }` or another weighting of the core), `minSupport` (2),
/// `maxNeighbors` (100). A bad one throws `CONFIG` naming it.
#[napi]
pub struct CoOccurrence {
    pub(crate) inner: Arc<CooccurModel>,
}

impl CoOccurrence {
    fn wrap(model: CooccurModel) -> CoOccurrence {
        CoOccurrence {
            inner: Arc::new(model),
        }
    }
}

#[napi]
impl CoOccurrence {
    /// Fits on `data` (an `Interactions` or CSR arrays), blocking the event
    /// loop; see `fitAsync`.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "data: Interactions | CsrMatrix, params?: CooccurParams"
    )]
    pub fn fit(
        env: Env,
        data: DataArg<'_>,
        params: Option<Unknown<'_>>,
    ) -> napi::Result<CoOccurrence> {
        let fitted = cooccur_config(params.as_ref())
            .and_then(|config| CooccurModel::fit(&config, &*data_of(&data)?));
        or_throw(&env, fitted.map(CoOccurrence::wrap))
    }

    /// `fit` on the libuv thread pool.
    #[napi(
        ts_args_type = "data: Interactions | CsrMatrix, params?: CooccurParams",
        ts_return_type = "Promise<CoOccurrence>"
    )]
    pub fn fit_async(
        data: DataArg<'_>,
        params: Option<Unknown<'_>>,
    ) -> AsyncTask<CoreTask<CoOccurrence>> {
        let config = cooccur_config(params.as_ref());
        let data = data_of(&data);
        CoreTask::spawn(
            move || CooccurModel::fit(&config?, &*data?),
            |m| Ok(CoOccurrence::wrap(m)),
        )
    }

    /// The settings, defaults filled in.
    #[napi(getter, catch_unwind, ts_return_type = "CooccurParams")]
    pub fn params(&self, env: Env) -> napi::Result<Value> {
        or_throw(&env, out(self.inner.config()))
    }

    /// Number of items.
    #[napi(getter)]
    pub fn n_items(&self) -> u32 {
        self.inner.n_items() as u32
    }

    /// The item ids.
    #[napi(getter)]
    pub fn item_ids(&self) -> Vec<String> {
        self.inner.items().ids().to_vec()
    }

    /// Number of stored (item, neighbour) pairs.
    #[napi(getter)]
    pub fn nnz(&self) -> f64 {
        self.inner.neighbors().nnz() as f64
    }

    /// The `n` best neighbours of `itemId`, best first, never the item
    /// itself; an item without kept pairs gives `[]`. An unknown item
    /// throws `UNKNOWN_ID`.
    #[napi(catch_unwind)]
    pub fn similar_items(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] item_id: JsString,
        #[napi(ts_arg_type = "number")] n: JsNumber,
    ) -> napi::Result<Vec<ScoredItem>> {
        let item_id = item_id.0;
        let n = to_count(&env, n.0)?;
        or_throw(
            &env,
            self.inner.similar_items_by_id(&item_id, n).map(to_scored),
        )
    }

    /// Items that go with a set of context items (a cart, the product on
    /// the page): `score = Σ weight(c) · s(c, item)`, best first, leaving
    /// out the context items and `exclude`. `weights` default to 1 each.
    /// Only positive scores are returned, so the list may be shorter than
    /// `n`. An unknown context item throws `UNKNOWN_ID`; NaN or negative
    /// weights `INVALID_INPUT`.
    #[napi(catch_unwind)]
    pub fn recommend_for_items(
        &self,
        env: Env,
        item_ids: Vec<String>,
        #[napi(ts_arg_type = "number")] n: JsNumber,
        weights: Option<Vec<f64>>,
        exclude: Option<Vec<String>>,
    ) -> napi::Result<Vec<ScoredItem>> {
        let n = to_count(&env, n.0)?;
        let weights: Vec<f32> = match weights {
            Some(w) => w.into_iter().map(|w| w as f32).collect(),
            None => vec![1.0; item_ids.len()],
        };
        let exclude = exclude.unwrap_or_default();
        let recs = self
            .inner
            .recommend_for_items_by_id(&item_ids, &weights, n, &exclude);
        or_throw(&env, recs.map(to_scored))
    }

    /// Writes the model file (blocks the event loop; see `saveAsync`).
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
        save_async(Arc::clone(&self.inner), path)
    }

    /// The bytes `save` writes.
    #[napi(catch_unwind)]
    pub fn to_buffer(&self, env: Env) -> napi::Result<Buffer> {
        or_throw(&env, self.inner.to_bytes().map(Buffer::from))
    }

    /// Loads a model file; throws `IO` or `MODEL_FORMAT`.
    #[napi(factory, catch_unwind)]
    pub fn load(
        env: Env,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> napi::Result<CoOccurrence> {
        let path = path.0;
        or_throw(&env, CooccurModel::load(&path).map(CoOccurrence::wrap))
    }

    /// `load` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<CoOccurrence>")]
    pub fn load_async(
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> AsyncTask<CoreTask<CoOccurrence>> {
        let path = path.0;
        load_async(path, CoOccurrence::wrap)
    }

    /// A model from the bytes of `toBuffer`; throws `MODEL_FORMAT`.
    #[napi(factory, catch_unwind)]
    pub fn from_buffer(env: Env, bytes: &[u8]) -> napi::Result<CoOccurrence> {
        or_throw(
            &env,
            CooccurModel::from_bytes(bytes).map(CoOccurrence::wrap),
        )
    }
}
