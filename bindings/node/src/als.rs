//! Implicit-feedback ALS: the `Als` estimator (hyper-parameters, `fit`) and
//! the fitted `Model` it returns (recommend, similar items and users,
//! factors, model files). Conversion only; the Python binding's `fit` and
//! `_Model` are the twins.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, Float32Array, Unknown};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;
use sightline::als::{AlsConfig, AlsModel, RecommendOptions};
use sightline::error::IdKind;
use sightline::ids::IdMap;
use sightline::{Component, Result};
use sightline_js_common::scored;

use crate::convert::{out, settings};
use crate::interactions::{data_of, DataArg, Interactions};
use crate::task::{load_async, save_async, CoreTask};
use crate::{named, or_throw, to_count, to_scored, JsNumber, JsString, ScoredItem};

/// One similar user.
#[napi(object)]
pub struct ScoredUser {
    /// The user id.
    pub user_id: String,
    /// Cosine similarity of the user factors.
    pub score: f64,
}

/// What `recommend` and `recommendBatch` leave out or keep.
#[napi(object, js_name = "RecommendOptions")]
#[derive(Default)]
pub struct RecommendOptionsJs {
    /// Leave out the user's training items (default `true`).
    pub filter_liked: Option<bool>,
    /// Rank only these items.
    pub items: Option<Vec<String>>,
    /// Never return these items.
    pub exclude: Option<Vec<String>>,
}

/// The indices of `ids` in `map`; an unknown one is `UNKNOWN_ID`.
fn indices(map: &IdMap, ids: &[String], kind: IdKind) -> Result<Vec<u32>> {
    ids.iter().map(|id| map.index_of(id, kind)).collect()
}

/// The ALS hyper-parameters from a JS object in the core's `AlsConfig`
/// schema with camelCase fields, checked by the core (`CONFIG` names the
/// field).
fn als_config(params: Option<&Unknown<'_>>) -> Result<AlsConfig> {
    let config: AlsConfig = settings(params, "params")?;
    config.validate()?;
    Ok(config)
}

/// Implicit-feedback alternating least squares (Hu, Koren & Volinsky 2008),
/// the estimator: `new Als({ factors: 32, iterations: 10 })`, then
/// `fit(data)` / `fitAsync(data)` give a fitted `Model`.
///
/// Parameters are the core's `AlsConfig` in camelCase: `factors` (64),
/// `regularization` (1), `alpha` (4), `unobservedWeight` (1),
/// `regularizationExponent` (0.5), `iterations` (15), `solver`
/// (`{ type: 'cg', steps: 3 }` or `{ type: 'cholesky' }`), `seed` (0),
/// `numThreads` (0 = all cores), `calculateTrainingLoss`,
/// `storeInteractions` (true), `initStd` (0.1). A bad one throws `CONFIG`
/// naming it. The same seed and data give the same factors.
#[napi]
pub struct Als {
    config: AlsConfig,
}

#[napi]
impl Als {
    /// An estimator with `params` (missing ones take the defaults).
    #[napi(constructor, catch_unwind, ts_args_type = "params?: AlsParams")]
    pub fn new(env: Env, params: Option<Unknown<'_>>) -> napi::Result<Als> {
        or_throw(
            &env,
            als_config(params.as_ref()).map(|config| Als { config }),
        )
    }

    /// Every hyper-parameter, defaults filled in.
    #[napi(getter, catch_unwind, ts_return_type = "AlsParams")]
    pub fn params(&self, env: Env) -> napi::Result<Value> {
        or_throw(&env, out(&self.config))
    }

    /// Fits a model on `data` (an `Interactions` or CSR arrays), blocking
    /// the event loop; see `fitAsync`. Throws `INVALID_INPUT` /
    /// `SHAPE_MISMATCH` for bad arrays.
    #[napi(catch_unwind, ts_args_type = "data: Interactions | CsrMatrix")]
    pub fn fit(&self, env: Env, data: DataArg<'_>) -> napi::Result<Model> {
        let fitted = data_of(&data).and_then(|data| AlsModel::fit(&self.config, &data));
        or_throw(&env, fitted.map(Model::wrap))
    }

    /// `fit` on the libuv thread pool: the promise resolves to the fitted
    /// `Model` and the event loop keeps running meanwhile.
    #[napi(
        ts_args_type = "data: Interactions | CsrMatrix",
        ts_return_type = "Promise<Model>"
    )]
    pub fn fit_async(&self, data: DataArg<'_>) -> AsyncTask<CoreTask<Model>> {
        let data = data_of(&data);
        let config = self.config.clone();
        CoreTask::spawn(
            move || AlsModel::fit(&config, &*data?),
            |m| Ok(Model::wrap(m)),
        )
    }
}

/// A fitted implicit-feedback ALS model: what `Als.fit` returns and what a
/// sightline model file (`.slm`) holds, the same file Python's
/// `sightline.ALS.load` and every other runtime read.
///
/// Load one with `Model.load(path)`, `Model.loadAsync(path)` or
/// `Model.fromBuffer(bytes)`. Errors are thrown as `Error` objects whose
/// `code` is one of `INVALID_INPUT`, `SHAPE_MISMATCH`, `UNKNOWN_ID`, `CONFIG`,
/// `MODEL_FORMAT`, `IO`, `INTERRUPTED`.
#[napi]
pub struct Model {
    pub(crate) inner: Arc<AlsModel>,
}

impl Model {
    fn wrap(model: AlsModel) -> Model {
        Model {
            inner: Arc::new(model),
        }
    }

    fn options<'a>(
        &self,
        options: &'a RecommendOptionsJs,
        exclude: &'a mut Vec<u32>,
        allow: &'a mut Option<Vec<u32>>,
    ) -> Result<RecommendOptions<'a>> {
        let items = self.inner.items();
        *exclude = indices(
            items,
            options.exclude.as_deref().unwrap_or(&[]),
            IdKind::Item,
        )?;
        *allow = options
            .items
            .as_deref()
            .map(|ids| indices(items, ids, IdKind::Item))
            .transpose()?;
        Ok(RecommendOptions {
            filter_liked: options.filter_liked.unwrap_or(true),
            exclude,
            allow_only: allow.as_deref(),
            ..RecommendOptions::default()
        })
    }
}

#[napi]
impl Model {
    /// Loads a model file synchronously (blocks the event loop while reading
    /// and validating the file; use `loadAsync` for large models).
    ///
    /// Throws `IO` if the file cannot be read and `MODEL_FORMAT` if it is not a
    /// valid sightline model.
    #[napi(factory, catch_unwind)]
    pub fn load(env: Env, #[napi(ts_arg_type = "string")] path: JsString) -> napi::Result<Model> {
        let path = path.0;
        or_throw(&env, AlsModel::load(&path).map(Model::wrap))
    }

    /// Loads a model file on the libuv thread pool; the promise resolves to a
    /// `Model` or rejects with an `Error` carrying `code` (`IO`,
    /// `MODEL_FORMAT`, …).
    #[napi(ts_return_type = "Promise<Model>")]
    pub fn load_async(
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> AsyncTask<CoreTask<Model>> {
        let path = path.0;
        load_async(path, Model::wrap)
    }

    /// Parses a model from the bytes of a model file (a `Buffer` or any
    /// `Uint8Array`). The bytes are not retained.
    ///
    /// Throws `MODEL_FORMAT` for truncated, corrupt or foreign data.
    #[napi(factory, catch_unwind)]
    pub fn from_buffer(env: Env, bytes: &[u8]) -> napi::Result<Model> {
        or_throw(&env, AlsModel::from_bytes(bytes).map(Model::wrap))
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

    /// The top-`n` items for a known user, best first, as
    /// `[{ itemId, score }]`. Items the user interacted with in the training
    /// data are left out unless `options.filterLiked` is `false`;
    /// `options.items` restricts the ranking to those items and
    /// `options.exclude` leaves items out.
    ///
    /// `n` must be a positive integer (`INVALID_INPUT` otherwise); an unknown
    /// user or item throws `UNKNOWN_ID`.
    #[napi(catch_unwind)]
    pub fn recommend(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] user_id: JsString,
        #[napi(ts_arg_type = "number")] n: JsNumber,
        options: Option<RecommendOptionsJs>,
    ) -> napi::Result<Vec<ScoredItem>> {
        let user_id = user_id.0;
        let n = to_count(&env, n.0)?;
        let options = options.unwrap_or_default();
        let (mut exclude, mut allow) = (Vec::new(), None);
        let recs = self
            .options(&options, &mut exclude, &mut allow)
            .and_then(|opts| {
                let user = self.inner.users().index_of(&user_id, IdKind::User)?;
                self.inner.recommend(user, n, &opts)
            });
        or_throw(&env, recs.map(|r| to_scored(named(self.inner.items(), r))))
    }

    /// `recommend` for many users at once (scored in blocks, in parallel):
    /// one list per user, in order. Any unknown user throws `UNKNOWN_ID`.
    #[napi(catch_unwind)]
    pub fn recommend_batch(
        &self,
        env: Env,
        user_ids: Vec<String>,
        #[napi(ts_arg_type = "number")] n: JsNumber,
        options: Option<RecommendOptionsJs>,
    ) -> napi::Result<Vec<Vec<ScoredItem>>> {
        let n = to_count(&env, n.0)?;
        let options = options.unwrap_or_default();
        let (mut exclude, mut allow) = (Vec::new(), None);
        let lists = self
            .options(&options, &mut exclude, &mut allow)
            .and_then(|opts| {
                let users = indices(self.inner.users(), &user_ids, IdKind::User)?;
                self.inner.recommend_batch(&users, n, &opts)
            });
        let items = self.inner.items();
        or_throw(
            &env,
            lists.map(|lists| {
                lists
                    .into_iter()
                    .map(|r| to_scored(named(items, r)))
                    .collect()
            }),
        )
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

    /// A copy of this model with every user of `data` re-solved exactly
    /// (Cholesky) on their rows against the fixed item factors, new users
    /// appended: walk-in customers or the day's changes without a full
    /// refit. `data`'s items are matched to the model's by id (an unknown
    /// item throws `UNKNOWN_ID`). This model, and any engine serving it, is
    /// unchanged: serve the copy with `swapModels`.
    #[napi(catch_unwind)]
    pub fn partial_fit_users(&self, env: Env, data: &Interactions) -> napi::Result<Model> {
        let mut model = (*self.inner).clone();
        let fitted = model
            .partial_fit_users_from(&data.inner)
            .map(|_| Model::wrap(model));
        or_throw(&env, fitted)
    }

    /// Why `userId` gets `itemId`: the score split into the contributions of
    /// the user's training items (Hu, Koren & Volinsky §5), the `n` largest
    /// first; they sum to `score`. Needs the training interactions the model
    /// keeps (`storeInteractions`, the default).
    #[napi(catch_unwind)]
    pub fn explain(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] user_id: JsString,
        #[napi(ts_arg_type = "string")] item_id: JsString,
        #[napi(ts_arg_type = "number")] n: JsNumber,
    ) -> napi::Result<Explanation> {
        let user_id = user_id.0;
        let item_id = item_id.0;
        let n = to_count(&env, n.0)?;
        let items = self.inner.items();
        let explained = self
            .inner
            .explain_by_id(&user_id, &item_id, n)
            .map(|e| Explanation {
                score: f64::from(e.score),
                contributions: to_scored(named(items, e.contributions)),
            });
        or_throw(&env, explained)
    }

    /// The `n` users most similar to `userId` (cosine similarity of the user
    /// factors), best first, as `[{ userId, score }]`; the user is left out.
    /// An unknown user throws `UNKNOWN_ID`.
    #[napi(catch_unwind)]
    pub fn similar_users(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] user_id: JsString,
        #[napi(ts_arg_type = "number")] n: JsNumber,
    ) -> napi::Result<Vec<ScoredUser>> {
        let user_id = user_id.0;
        let n = to_count(&env, n.0)?;
        let users = self.inner.users();
        let similar = users
            .index_of(&user_id, IdKind::User)
            .and_then(|u| self.inner.similar_users(u, n));
        or_throw(
            &env,
            similar.map(|pairs| {
                scored(named(users, pairs))
                    .map(|(user_id, score)| ScoredUser { user_id, score })
                    .collect()
            }),
        )
    }

    /// The hyper-parameters the model was fitted with (as `Als.params`).
    #[napi(getter, catch_unwind, ts_return_type = "AlsParams")]
    pub fn params(&self, env: Env) -> napi::Result<Value> {
        or_throw(&env, out(self.inner.config()))
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

    /// The user id of every row of `userFactors`.
    #[napi(getter)]
    pub fn user_ids(&self) -> Vec<String> {
        self.inner.users().ids().to_vec()
    }

    /// The item id of every row of `itemFactors`.
    #[napi(getter)]
    pub fn item_ids(&self) -> Vec<String> {
        self.inner.items().ids().to_vec()
    }

    /// The user factors, row-major: user `u`'s vector is
    /// `[u * factors, (u + 1) * factors)`. A copy.
    #[napi(getter)]
    pub fn user_factors(&self) -> Float32Array {
        self.inner
            .user_factors()
            .iter()
            .copied()
            .collect::<Vec<f32>>()
            .into()
    }

    /// The item factors, row-major (as `userFactors`). A copy.
    #[napi(getter)]
    pub fn item_factors(&self) -> Float32Array {
        self.inner
            .item_factors()
            .iter()
            .copied()
            .collect::<Vec<f32>>()
            .into()
    }
}

/// `Model.explain`'s answer.
#[napi(object)]
pub struct Explanation {
    /// The user's score for the item.
    pub score: f64,
    /// The user's items with their share of the score, largest first.
    pub contributions: Vec<ScoredItem>,
}
