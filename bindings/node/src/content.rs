//! Content similarity ("similar frames"): `ContentIndex` over catalog
//! attributes, item vectors and/or ALS item factors, the twin of the
//! Python binding's `content.rs`. Conversion only.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, ClassInstance, Float32Array, Object, Unknown};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;
use sightline::als::AlsModel;
use sightline::content::{ContentConfig, ContentFilter, ContentIndex as CoreIndex};
use sightline::data::{Catalog, Item, Row};
use sightline::ids::IdMap;
use sightline::{Component, Error, Result};

use crate::convert::{input, out, settings};
use crate::engine::catalog_from;
use crate::task::{load_async, save_async, CoreTask};
use crate::{named, or_throw, to_count, to_scored, JsNumber, JsString, Model, ScoredItem};

/// Item vectors: `vectors` holds `itemIds.length` rows of `dim` values.
#[napi(object)]
pub struct ItemVectors {
    /// The item of every row.
    pub item_ids: Vec<String>,
    /// Row-major values.
    pub vectors: Float32Array,
    /// Values per row.
    pub dim: u32,
}

/// What a content index is built from, owned so the build can run on the
/// pool.
struct Sources {
    catalog: Option<Catalog>,
    vectors: Option<(IdMap, Vec<f32>, usize)>,
    als: Option<Arc<AlsModel>>,
}

impl Sources {
    /// The sources of a JS object `{ catalog?, vectors?, als? }`.
    fn of(sources: &Object<'_>) -> Result<Sources> {
        let field = |e: napi::Error| Error::InvalidInput(format!("sources: {}", e.reason));
        let catalog = sources
            .get::<Unknown>("catalog")
            .map_err(field)?
            .filter(|c| {
                !matches!(
                    c.get_type(),
                    Ok(napi::ValueType::Undefined | napi::ValueType::Null)
                )
            })
            .map(|c| catalog_from(&c))
            .transpose()?;
        let vectors = sources
            .get::<Option<ItemVectors>>("vectors")
            .map_err(field)?
            .flatten()
            .map(|v| {
                Ok::<_, Error>((
                    IdMap::from_ids(v.item_ids)?,
                    v.vectors.to_vec(),
                    v.dim as usize,
                ))
            })
            .transpose()?;
        let als = sources
            .get::<Option<ClassInstance<'_, Model>>>("als")
            .map_err(|_| Error::InvalidInput("sources.als must be a Model".into()))?
            .flatten()
            .map(|m| Arc::clone(&m.inner));
        Ok(Sources {
            catalog,
            vectors,
            als,
        })
    }

    fn build(&self, config: ContentConfig) -> Result<CoreIndex> {
        let mut b = CoreIndex::builder(config);
        if let Some(c) = &self.catalog {
            b = b.catalog(c);
        }
        if let Some((ids, values, dim)) = &self.vectors {
            b = b.embeddings(ids, values, *dim);
        }
        if let Some(m) = &self.als {
            b = b.als(m);
        }
        b.build()
    }
}

/// Content settings (the core's `ContentConfig` in camelCase), checked by
/// the core.
fn content_config(params: Option<&Unknown<'_>>) -> Result<ContentConfig> {
    let config: ContentConfig = settings(params, "params")?;
    config.validate()?;
    Ok(config)
}

/// A search filter from `{ categories?, inStock?, region? }`.
fn filter(value: Option<&Unknown<'_>>) -> Result<ContentFilter> {
    value.map_or_else(|| Ok(ContentFilter::default()), |v| input(v, "filter"))
}

/// Nearest items by content: catalog attributes (category, shape,
/// material, colours, price band …), item vectors (e.g. image or text
/// embeddings) and/or ALS item factors, each block weighted; exact search
/// or HNSW for large catalogs.
///
/// `ContentIndex.build({ catalog, vectors, als }, params?)` / `buildAsync`
/// make one; `params` is the core's `ContentConfig` in camelCase (a bad
/// value throws `CONFIG` naming it). Searches take an optional filter
/// `{ categories?, inStock?, region? }`.
#[napi]
pub struct ContentIndex {
    pub(crate) inner: Arc<CoreIndex>,
}

impl ContentIndex {
    fn wrap(index: CoreIndex) -> ContentIndex {
        ContentIndex {
            inner: Arc::new(index),
        }
    }
}

#[napi]
impl ContentIndex {
    /// Builds an index from `sources` (`catalog`: catalog rows as `Engine`
    /// takes them; `vectors`: `{ itemIds, vectors, dim }`; `als`: a
    /// `Model`), blocking the event loop; see `buildAsync`.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "sources: ContentSources, params?: ContentParams"
    )]
    pub fn build(
        env: Env,
        sources: Object<'_>,
        params: Option<Unknown<'_>>,
    ) -> napi::Result<ContentIndex> {
        let built =
            content_config(params.as_ref()).and_then(|config| Sources::of(&sources)?.build(config));
        or_throw(&env, built.map(ContentIndex::wrap))
    }

    /// `build` on the libuv thread pool.
    #[napi(
        ts_args_type = "sources: ContentSources, params?: ContentParams",
        ts_return_type = "Promise<ContentIndex>"
    )]
    pub fn build_async(
        sources: Object<'_>,
        params: Option<Unknown<'_>>,
    ) -> AsyncTask<CoreTask<ContentIndex>> {
        let config = content_config(params.as_ref());
        let sources = Sources::of(&sources);
        CoreTask::spawn(
            move || sources?.build(config?),
            |i| Ok(ContentIndex::wrap(i)),
        )
    }

    /// The settings, defaults filled in.
    #[napi(getter, catch_unwind, ts_return_type = "ContentParams")]
    pub fn params(&self, env: Env) -> napi::Result<Value> {
        or_throw(&env, out(self.inner.config()))
    }

    /// The item ids, in index order.
    #[napi(getter)]
    pub fn item_ids(&self) -> Vec<String> {
        self.inner.items().ids().to_vec()
    }

    /// Dimensions of the searched vectors (what `search` takes).
    #[napi(getter)]
    pub fn dim(&self) -> u32 {
        self.inner.dim() as u32
    }

    /// Whether searches use the HNSW graph (else exact).
    #[napi(getter)]
    pub fn is_hnsw(&self) -> bool {
        self.inner.is_hnsw()
    }

    /// The `n` items nearest to `itemId`, best first, never the item
    /// itself. An unknown item throws `UNKNOWN_ID`.
    #[napi(
        catch_unwind,
        ts_args_type = "itemId: string, n: number, filter?: ContentFilter"
    )]
    pub fn similar_items(
        &self,
        env: Env,
        item_id: JsString,
        n: JsNumber,
        filter: Option<Unknown<'_>>,
    ) -> napi::Result<Vec<ScoredItem>> {
        let n = to_count(&env, n.0)?;
        let recs = self::filter(filter.as_ref())
            .and_then(|f| self.inner.similar_items_by_id(&item_id.0, n, &f));
        or_throw(&env, recs.map(to_scored))
    }

    /// The `n` items nearest to a query vector of `dim` values (e.g. an
    /// embedding of a text or an image). A query of another length throws
    /// `SHAPE_MISMATCH`; NaN values `INVALID_INPUT`.
    #[napi(
        catch_unwind,
        ts_args_type = "query: Float32Array, n: number, filter?: ContentFilter"
    )]
    pub fn search(
        &self,
        env: Env,
        query: Float32Array,
        n: JsNumber,
        filter: Option<Unknown<'_>>,
    ) -> napi::Result<Vec<ScoredItem>> {
        let n = to_count(&env, n.0)?;
        let recs = self::filter(filter.as_ref())
            .and_then(|f| self.inner.search(&query, n, &f))
            .map(|r| named(self.inner.items(), r));
        or_throw(&env, recs.map(to_scored))
    }

    /// The `n` items nearest to a product that is not in the index (a
    /// catalog row, e.g. a new arrival): cold start by its attributes.
    #[napi(
        catch_unwind,
        ts_args_type = "item: CatalogItem, n: number, filter?: ContentFilter"
    )]
    pub fn similar_to_item(
        &self,
        env: Env,
        item: Unknown<'_>,
        n: JsNumber,
        filter: Option<Unknown<'_>>,
    ) -> napi::Result<Vec<ScoredItem>> {
        let n = to_count(&env, n.0)?;
        let recs = input::<Row>(&item, "item")
            .and_then(|row| Item::from_row(&row))
            .and_then(|item| {
                let f = self::filter(filter.as_ref())?;
                self.inner.similar_to_item(&item, n, &f)
            });
        or_throw(&env, recs.map(to_scored))
    }

    /// Writes the index file (blocks the event loop; see `saveAsync`).
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

    /// Loads an index file; throws `IO` or `MODEL_FORMAT`.
    #[napi(factory, catch_unwind)]
    pub fn load(
        env: Env,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> napi::Result<ContentIndex> {
        let path = path.0;
        or_throw(&env, CoreIndex::load(&path).map(ContentIndex::wrap))
    }

    /// `load` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<ContentIndex>")]
    pub fn load_async(
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> AsyncTask<CoreTask<ContentIndex>> {
        let path = path.0;
        load_async(path, ContentIndex::wrap)
    }

    /// An index from the bytes of `toBuffer`; throws `MODEL_FORMAT`.
    #[napi(factory, catch_unwind)]
    pub fn from_buffer(env: Env, bytes: &[u8]) -> napi::Result<ContentIndex> {
        or_throw(&env, CoreIndex::from_bytes(bytes).map(ContentIndex::wrap))
    }
}
