//! Content-based "similar frames": item vectors from catalog attributes,
//! externally supplied embeddings (image or text models, any dimension) and
//! ALS item factors, alone or combined, searched exactly or through an HNSW
//! graph, with catalog filters applied during the search.
//!
//! # Vectors
//!
//! A [`ContentIndex`] row is the concatenation of up to three blocks:
//! attributes ([`features::Featurizer`]), embeddings and ALS factors. With
//! [`Metric::Cosine`] each block is scaled to unit length, multiplied by
//! `√weight` ([`ContentConfig::attribute_weight`], …), and the row is then
//! scaled to unit length, so similarity is a weighted mix of the blocks'
//! cosines. An item missing from the embeddings or from ALS (a new product)
//! has a zero block there and finds its neighbours through the blocks it
//! has: cold-start items get neighbours from attributes alone.
//! [`Metric::InnerProduct`] keeps the blocks' own scale (for embeddings
//! trained for maximum inner product search).
//!
//! # Search
//!
//! Up to [`ContentConfig::hnsw_threshold`] items are searched exactly
//! ([`exact::ExactIndex`], an int8 first pass with a proven error bound and
//! an exact re-score); above it, an HNSW graph ([`hnsw::Hnsw`]). Filters
//! (category, in stock, region — [`ContentFilter`] — or any predicate) are
//! applied while the graph is walked, so `n` results come back whenever `n`
//! eligible items exist; when a very selective filter leaves the graph
//! search short, the index falls back to an exact scan of the eligible
//! items.

pub mod exact;
pub mod features;
pub mod hnsw;

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::als::AlsModel;
use crate::data::{Catalog, Csr, Item};
use crate::error::{Error, IdKind, Result};
use crate::ids::IdMap;
use crate::linalg::{dot, top_k};
use crate::store::{Component, ModelFile, TensorData};

use exact::ExactIndex;
use features::{Featurizer, FeaturizerConfig};
use hnsw::{Hnsw, HnswConfig};

/// How similarity is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Cosine of the (block-weighted) vectors.
    #[default]
    Cosine,
    /// Raw inner product.
    InnerProduct,
}

/// Which search structure to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    /// Exact up to [`ContentConfig::hnsw_threshold`] items, HNSW above.
    #[default]
    Auto,
    /// Always exact.
    Exact,
    /// Always HNSW.
    Hnsw,
}

/// Everything that shapes a [`ContentIndex`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContentConfig {
    /// Attribute featurizer settings.
    pub features: FeaturizerConfig,
    /// Similarity measure.
    pub metric: Metric,
    /// Weight of the attribute block (see the module docs).
    pub attribute_weight: f32,
    /// Weight of the external-embedding block.
    pub embedding_weight: f32,
    /// Weight of the ALS item-factor block.
    pub als_weight: f32,
    /// Exact or HNSW search.
    pub index: IndexKind,
    /// Item count above which [`IndexKind::Auto`] builds HNSW.
    pub hnsw_threshold: usize,
    /// HNSW parameters (`ef_search` can be changed after the build).
    pub hnsw: HnswConfig,
    /// Build threads (0 = all cores, capped by `SIGHTLINE_NUM_THREADS`; at
    /// most [`MAX_THREADS`](crate::parallel::MAX_THREADS)).
    /// The HNSW graph is the same for every thread count.
    pub threads: usize,
}

impl Default for ContentConfig {
    fn default() -> Self {
        ContentConfig {
            features: FeaturizerConfig::default(),
            metric: Metric::Cosine,
            attribute_weight: 1.0,
            embedding_weight: 1.0,
            als_weight: 1.0,
            index: IndexKind::Auto,
            hnsw_threshold: 50_000,
            hnsw: HnswConfig::default(),
            threads: 0,
        }
    }
}

impl ContentConfig {
    /// Checks every field; errors name the offending one.
    pub fn validate(&self) -> Result<()> {
        self.features.validate()?;
        for (name, w) in [
            ("attribute_weight", self.attribute_weight),
            ("embedding_weight", self.embedding_weight),
            ("als_weight", self.als_weight),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(Error::config(
                    name,
                    format!("must be finite and >= 0, got {w}"),
                ));
            }
        }
        crate::parallel::check_threads("threads", self.threads)?;
        self.hnsw.validate()
    }
}

/// Restrictions on which items a search may return, evaluated against the
/// catalog snapshot the index was built with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContentFilter {
    /// Only these categories (empty = any).
    pub categories: Vec<String>,
    /// Only items in stock.
    pub in_stock: bool,
    /// Only items sold in this region.
    pub region: Option<String>,
}

impl ContentFilter {
    /// Whether the filter restricts anything.
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty() && !self.in_stock && self.region.is_none()
    }
}

/// Per-item catalog facts kept for filtering.
#[derive(Debug, Clone, PartialEq)]
struct Facts {
    categories: IdMap,
    category: Vec<u32>,
    in_stock: Vec<u8>,
    regions: IdMap,
    /// Row = item, columns = regions it is sold in (none = everywhere).
    item_regions: Csr,
}

impl Facts {
    fn from_catalog(catalog: &Catalog) -> Result<Self> {
        let mut categories = IdMap::new();
        let mut regions = IdMap::new();
        let mut category = Vec::with_capacity(catalog.len());
        let mut in_stock = Vec::with_capacity(catalog.len());
        let (mut rows, mut cols) = (Vec::new(), Vec::new());
        for (i, item) in catalog.items().iter().enumerate() {
            category.push(categories.get_or_insert(&item.category)?);
            in_stock.push(u8::from(item.in_stock));
            for r in &item.regions {
                rows.push(i as u32);
                cols.push(regions.get_or_insert(r)?);
            }
        }
        let ones = vec![1f32; rows.len()];
        let item_regions = Csr::from_triplets(catalog.len(), regions.len(), &rows, &cols, &ones)?;
        Ok(Facts {
            categories,
            category,
            in_stock,
            regions,
            item_regions,
        })
    }

    /// The filter as a predicate on item indices.
    fn predicate<'a>(&'a self, f: &ContentFilter) -> impl Fn(u32) -> bool + 'a {
        let cats: Vec<u32> = f
            .categories
            .iter()
            .filter_map(|c| self.categories.get(c))
            .collect();
        let any_cat = f.categories.is_empty();
        let in_stock = f.in_stock;
        // An unknown region matches only items sold everywhere.
        let region = f.region.as_ref().map(|r| self.regions.get(r));
        move |i: u32| {
            let i = i as usize;
            (any_cat || cats.contains(&self.category[i]))
                && (!in_stock || self.in_stock[i] == 1)
                && region.is_none_or(|r| {
                    let (sold, _) = self.item_regions.row(i);
                    sold.is_empty() || r.is_some_and(|r| sold.contains(&r))
                })
        }
    }
}

/// One block of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Catalog attributes.
    Attributes,
    /// External embeddings.
    Embeddings,
    /// ALS item factors.
    Als,
}

/// Where a block sits in a row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// What it holds.
    pub kind: BlockKind,
    /// First dimension.
    pub offset: usize,
    /// Number of dimensions.
    pub width: usize,
    /// Its weight.
    pub weight: f32,
}

enum Search {
    Exact(ExactIndex),
    Hnsw(Hnsw),
}

/// A searchable set of item vectors (see the [module docs](self)).
/// `Send + Sync`; queries take `&self`.
pub struct ContentIndex {
    config: ContentConfig,
    /// The current HNSW beam width (changeable through a shared reference,
    /// so an index shared between threads can be tuned live).
    ef_search: AtomicUsize,
    items: IdMap,
    dim: usize,
    blocks: Vec<Block>,
    featurizer: Option<Featurizer>,
    facts: Option<Facts>,
    search: Search,
}

impl std::fmt::Debug for ContentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentIndex")
            .field("items", &self.items.len())
            .field("dim", &self.dim)
            .field("blocks", &self.blocks)
            .field("hnsw", &self.is_hnsw())
            .finish()
    }
}

/// Collects the inputs of a [`ContentIndex`] (consuming builder).
pub struct ContentBuilder<'a> {
    config: ContentConfig,
    catalog: Option<&'a Catalog>,
    embeddings: Option<(&'a IdMap, &'a [f32], usize)>,
    als: Option<&'a AlsModel>,
}

impl<'a> ContentBuilder<'a> {
    /// Uses the catalog's attributes (and makes its items the index's
    /// items, with category / stock / region facts for filtering).
    pub fn catalog(mut self, catalog: &'a Catalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// Adds external embeddings: row `i` of the row-major `matrix`
    /// (`ids.len() × dim`) belongs to `ids` item `i`.
    pub fn embeddings(mut self, ids: &'a IdMap, matrix: &'a [f32], dim: usize) -> Self {
        self.embeddings = Some((ids, matrix, dim));
        self
    }

    /// Adds the item factors of a trained ALS model (hybrid similarity).
    pub fn als(mut self, model: &'a AlsModel) -> Self {
        self.als = Some(model);
        self
    }

    /// Builds the vectors and the search structure.
    ///
    /// The index's items are the catalog's when one is given, else the
    /// embeddings', else the ALS model's. Errors: invalid config
    /// ([`Error::Config`]); no input, an empty item set, embeddings whose
    /// size is not `ids × dim` ([`Error::ShapeMismatch`]) or hold NaN or
    /// infinity ([`Error::InvalidInput`]).
    pub fn build(self) -> Result<ContentIndex> {
        let config = self.config;
        config.validate()?;
        if let Some((ids, m, dim)) = self.embeddings {
            if dim == 0 || m.len() != ids.len() * dim {
                return Err(Error::shape(format!(
                    "embeddings: {} values for {} ids × dim {dim}",
                    m.len(),
                    ids.len()
                )));
            }
            if let Some(p) = m.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid(format!(
                    "embeddings: row {} holds NaN or infinity",
                    p / dim
                )));
            }
        }
        let items = match (self.catalog, self.embeddings, self.als) {
            (Some(c), _, _) => c.ids().clone(),
            (None, Some((ids, _, _)), _) => ids.clone(),
            (None, None, Some(m)) => m.items().clone(),
            (None, None, None) => {
                return Err(Error::invalid(
                    "a content index needs a catalog, embeddings or an ALS model",
                ))
            }
        };
        if items.is_empty() {
            return Err(Error::invalid("a content index needs at least one item"));
        }
        let featurizer = self
            .catalog
            .map(|c| Featurizer::fit(c, &config.features))
            .transpose()?;
        let mut blocks = Vec::new();
        let mut dim = 0;
        let mut add = |kind, width, weight: f32| {
            if weight > 0.0 {
                blocks.push(Block {
                    kind,
                    offset: dim,
                    width,
                    weight,
                });
                dim += width;
            }
        };
        if let Some(f) = &featurizer {
            add(BlockKind::Attributes, f.dim(), config.attribute_weight);
        }
        if let Some((_, _, d)) = self.embeddings {
            add(BlockKind::Embeddings, d, config.embedding_weight);
        }
        if let Some(m) = self.als {
            add(BlockKind::Als, m.factors(), config.als_weight);
        }
        if dim == 0 {
            return Err(Error::invalid(
                "every block has weight 0: nothing to compare items by",
            ));
        }
        let als_factors = self.als.map(|m| m.item_factors().to_owned());
        let mut vectors = vec![0f32; items.len() * dim];
        for (i, row) in vectors.chunks_exact_mut(dim).enumerate() {
            let id = items.id(i as u32).unwrap_or_default();
            for b in &blocks {
                let out = &mut row[b.offset..b.offset + b.width];
                match b.kind {
                    BlockKind::Attributes => {
                        if let (Some(f), Some(item)) =
                            (&featurizer, self.catalog.and_then(|c| c.get(id)))
                        {
                            f.transform_into(item, out);
                        }
                    }
                    BlockKind::Embeddings => {
                        if let Some((ids, m, d)) = self.embeddings {
                            if let Some(r) = ids.get(id) {
                                out.copy_from_slice(&m[r as usize * d..(r as usize + 1) * d]);
                            }
                        }
                    }
                    BlockKind::Als => {
                        if let (Some(m), Some(f)) = (self.als, &als_factors) {
                            if let Some(r) = m.items().get(id) {
                                out.copy_from_slice(f.row(r as usize).as_slice().unwrap_or(&[]));
                            }
                        }
                    }
                }
            }
            shape_row(row, &blocks, config.metric);
        }
        let facts = self.catalog.map(Facts::from_catalog).transpose()?;
        let hnsw = match config.index {
            IndexKind::Auto => items.len() > config.hnsw_threshold,
            IndexKind::Exact => false,
            IndexKind::Hnsw => true,
        };
        let threads = crate::parallel::resolve_threads(config.threads);
        let search = if hnsw {
            Search::Hnsw(Hnsw::build(vectors, dim, &config.hnsw, threads)?)
        } else {
            Search::Exact(ExactIndex::new(vectors, dim, threads)?)
        };
        Ok(ContentIndex {
            ef_search: AtomicUsize::new(config.hnsw.ef_search),
            config,
            items,
            dim,
            blocks,
            featurizer,
            facts,
            search,
        })
    }
}

/// Applies the block weights and the metric's normalisation to one row.
fn shape_row(row: &mut [f32], blocks: &[Block], metric: Metric) {
    for b in blocks {
        let block = &mut row[b.offset..b.offset + b.width];
        let scale = match metric {
            Metric::Cosine => {
                let norm = dot(block, block).sqrt();
                if norm > 0.0 {
                    b.weight.sqrt() / norm
                } else {
                    0.0
                }
            }
            Metric::InnerProduct => b.weight.sqrt(),
        };
        block.iter_mut().for_each(|x| *x *= scale);
    }
    if metric == Metric::Cosine {
        let norm = dot(row, row).sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
}

fn check_n(n: usize) -> Result<()> {
    if n == 0 {
        Err(Error::invalid("n must be >= 1"))
    } else {
        Ok(())
    }
}

impl ContentIndex {
    /// A builder with `config`.
    pub fn builder<'a>(config: ContentConfig) -> ContentBuilder<'a> {
        ContentBuilder {
            config,
            catalog: None,
            embeddings: None,
            als: None,
        }
    }

    /// The configuration, with the current `hnsw.ef_search`.
    pub fn config(&self) -> ContentConfig {
        let mut c = self.config.clone();
        c.hnsw.ef_search = self.ef_search();
        c
    }

    /// The current HNSW beam width.
    pub fn ef_search(&self) -> usize {
        self.ef_search.load(Ordering::Relaxed)
    }

    /// Item ids, in index order.
    pub fn items(&self) -> &IdMap {
        &self.items
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the index is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Dimensions of a row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The blocks of a row.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Whether searches go through the HNSW graph.
    pub fn is_hnsw(&self) -> bool {
        matches!(self.search, Search::Hnsw(_))
    }

    /// The attribute featurizer, when the index was built from a catalog.
    pub fn featurizer(&self) -> Option<&Featurizer> {
        self.featurizer.as_ref()
    }

    /// Sets the HNSW beam width for searches (higher: better recall,
    /// slower). No effect on exact indexes. Errors: `ef = 0`.
    pub fn set_ef_search(&self, ef: usize) -> Result<()> {
        if ef == 0 {
            return Err(Error::config("hnsw.ef_search", "must be >= 1"));
        }
        self.ef_search.store(ef, Ordering::Relaxed);
        Ok(())
    }

    /// Row `item` as searched (weighted, normalised for cosine).
    pub fn vector(&self, item: u32) -> Result<&[f32]> {
        self.check_item(item)?;
        Ok(match &self.search {
            Search::Exact(e) => e.vector(item),
            Search::Hnsw(h) => h.vector(item),
        })
    }

    fn check_item(&self, item: u32) -> Result<()> {
        if (item as usize) < self.len() {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "item index {item} out of range for {} items",
                self.len()
            )))
        }
    }

    /// The `n` items nearest to `query` (a row of [`dim`](Self::dim)
    /// values; normalised here for cosine) among those `keep` accepts, best
    /// first, ties to the lower index.
    pub fn search_where(
        &self,
        query: &[f32],
        n: usize,
        keep: Option<&dyn Fn(u32) -> bool>,
    ) -> Result<Vec<(u32, f32)>> {
        check_n(n)?;
        if query.len() != self.dim {
            return Err(Error::shape(format!(
                "query has {} values, the index has {} dimensions",
                query.len(),
                self.dim
            )));
        }
        if query.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid("query contains NaN or infinity"));
        }
        let mut q = query.to_vec();
        if self.config.metric == Metric::Cosine {
            let norm = dot(&q, &q).sqrt();
            if norm > 0.0 {
                q.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Ok(match &self.search {
            Search::Exact(e) => e.search(&q, n, keep),
            Search::Hnsw(h) => {
                let found = h.search(&q, n, self.ef_search().max(n), keep);
                if found.len() < n && found.len() < self.len() {
                    // A selective filter can starve the graph walk: scan.
                    let rows = (0..self.len() as u32)
                        .filter(|&i| keep.is_none_or(|f| f(i)))
                        .map(|i| (i, dot(h.vector(i), &q)));
                    top_k(rows, n, &mut Vec::new())
                } else {
                    found
                }
            }
        })
    }

    /// [`search_where`](Self::search_where) with a catalog filter.
    pub fn search(
        &self,
        query: &[f32],
        n: usize,
        filter: &ContentFilter,
    ) -> Result<Vec<(u32, f32)>> {
        let keep = self.predicate(filter)?;
        self.search_where(query, n, keep.as_deref())
    }

    /// The filter as a predicate; `None` when it restricts nothing.
    #[allow(clippy::type_complexity)]
    fn predicate<'a>(
        &'a self,
        filter: &ContentFilter,
    ) -> Result<Option<Box<dyn Fn(u32) -> bool + 'a>>> {
        if filter.is_empty() {
            return Ok(None);
        }
        match &self.facts {
            Some(f) => Ok(Some(Box::new(f.predicate(filter)))),
            None => Err(Error::invalid(
                "this index was built without a catalog: it cannot filter by category, stock or region",
            )),
        }
    }

    /// The `n` items most similar to `item` that pass `filter`, best first,
    /// never `item` itself.
    pub fn similar_items(
        &self,
        item: u32,
        n: usize,
        filter: &ContentFilter,
    ) -> Result<Vec<(u32, f32)>> {
        self.check_item(item)?;
        let keep = self.predicate(filter)?;
        let query = self.vector(item)?.to_vec();
        let not_item = |i: u32| i != item && keep.as_ref().is_none_or(|f| f(i));
        self.search_where(&query, n, Some(&not_item))
    }

    /// [`search`](Self::search) for many row-major queries at once, in
    /// parallel ([`ContentConfig::threads`]).
    pub fn search_batch(
        &self,
        queries: &[f32],
        n: usize,
        filter: &ContentFilter,
    ) -> Result<Vec<Vec<(u32, f32)>>> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(Error::shape(format!(
                "{} query values are not rows of {} dimensions",
                queries.len(),
                self.dim
            )));
        }
        let rows: Vec<&[f32]> = queries.chunks_exact(self.dim).collect();
        self.batch(&rows, |q| self.search(q, n, filter))
    }

    /// [`similar_items`](Self::similar_items) for many items at once, in
    /// parallel ([`ContentConfig::threads`]).
    pub fn similar_items_batch(
        &self,
        items: &[u32],
        n: usize,
        filter: &ContentFilter,
    ) -> Result<Vec<Vec<(u32, f32)>>> {
        self.batch(items, |&i| self.similar_items(i, n, filter))
    }

    fn batch<T: Sync>(
        &self,
        inputs: &[T],
        f: impl Fn(&T) -> Result<Vec<(u32, f32)>> + Sync + Send,
    ) -> Result<Vec<Vec<(u32, f32)>>> {
        let threads = crate::parallel::threads_for(self.config.threads, inputs.len());
        crate::parallel::install(threads, || crate::parallel::map(inputs, f))
            .into_iter()
            .collect()
    }

    /// [`similar_items`](Self::similar_items) by string id.
    pub fn similar_items_by_id(
        &self,
        item: &str,
        n: usize,
        filter: &ContentFilter,
    ) -> Result<Vec<(String, f32)>> {
        let i = self.items.index_of(item, IdKind::Item)?;
        Ok(self.named(self.similar_items(i, n, filter)?))
    }

    /// Neighbours of a product described by its attributes, e.g. one not
    /// in the index yet (cold start): only the attribute block is compared.
    /// An item with the same id in the index is left out. Errors: the index
    /// has no attribute block.
    pub fn similar_to_item(
        &self,
        item: &Item,
        n: usize,
        filter: &ContentFilter,
    ) -> Result<Vec<(String, f32)>> {
        let (Some(f), Some(b)) = (
            &self.featurizer,
            self.blocks.iter().find(|b| b.kind == BlockKind::Attributes),
        ) else {
            return Err(Error::invalid(
                "this index has no attribute block (built without a catalog or with attribute_weight 0)",
            ));
        };
        let mut q = vec![0f32; self.dim];
        f.transform_into(item, &mut q[b.offset..b.offset + b.width]);
        shape_row(&mut q, std::slice::from_ref(b), self.config.metric);
        let keep = self.predicate(filter)?;
        let own = self.items.get(&item.id);
        let not_own = |i: u32| Some(i) != own && keep.as_ref().is_none_or(|f| f(i));
        let found = self.search_where(&q, n, Some(&not_own))?;
        Ok(self.named(found))
    }

    fn named(&self, found: Vec<(u32, f32)>) -> Vec<(String, f32)> {
        found
            .into_iter()
            .map(|(i, s)| (self.items.id(i).unwrap_or_default().to_owned(), s))
            .collect()
    }
}

/// Meta of the content component.
#[derive(Serialize, Deserialize)]
struct Meta {
    config: ContentConfig,
    dim: usize,
    blocks: Vec<Block>,
    featurizer: Option<Featurizer>,
    hnsw: bool,
}

impl Component for ContentIndex {
    /// Writes the index under the `content.` prefix: meta `"content"`
    /// (config, blocks, featurizer), `content.items`, the vectors
    /// (`content.vectors`, or inside `content.hnsw.*` with the graph) and
    /// the catalog facts used by filters.
    fn write_to(&self, file: &mut ModelFile) -> Result<()> {
        let meta = Meta {
            config: self.config(),
            dim: self.dim,
            blocks: self.blocks.clone(),
            featurizer: self.featurizer.clone(),
            hnsw: self.is_hnsw(),
        };
        let meta = serde_json::to_value(&meta).map_err(|e| Error::format(e.to_string()))?;
        file.set_meta("content", meta);
        file.put_ids("content.items", &self.items)?;
        match &self.search {
            Search::Hnsw(h) => h.write_to(file, "content.hnsw")?,
            Search::Exact(e) => file.put(
                "content.vectors",
                vec![self.len(), self.dim],
                TensorData::F32(e.vectors().to_vec()),
            )?,
        }
        if let Some(f) = &self.facts {
            file.put_ids("content.categories", &f.categories)?;
            file.put(
                "content.category",
                vec![f.category.len()],
                TensorData::U32(f.category.clone()),
            )?;
            file.put(
                "content.in_stock",
                vec![f.in_stock.len()],
                TensorData::U8(f.in_stock.clone()),
            )?;
            file.put_ids("content.regions", &f.regions)?;
            file.put_csr("content.item_regions", &f.item_regions)?;
        }
        Ok(())
    }

    /// Reads the index written by [`write_to`](Self::write_to), validating
    /// everything ([`Error::ModelFormat`]).
    fn read_from(file: &ModelFile) -> Result<Self> {
        let raw = file
            .meta("content")
            .ok_or_else(|| Error::format("no content component in this file"))?;
        let meta: Meta = serde_json::from_value(raw.clone())
            .map_err(|e| Error::format(format!("content meta: {e}")))?;
        meta.config
            .validate()
            .map_err(|e| Error::format(format!("content config: {e}")))?;
        let items = file.ids("content.items")?;
        let bad = |m: String| Error::format(format!("content: {m}"));
        let mut end = 0;
        for b in &meta.blocks {
            if b.offset != end || b.width == 0 || !(b.weight > 0.0 && b.weight.is_finite()) {
                return Err(bad(format!("bad block {b:?}")));
            }
            end += b.width;
        }
        if end != meta.dim || meta.dim == 0 || items.is_empty() {
            return Err(bad(format!(
                "blocks cover {end} of {} dimensions",
                meta.dim
            )));
        }
        let attr = meta.blocks.iter().find(|b| b.kind == BlockKind::Attributes);
        if attr.map(|b| b.width) != meta.featurizer.as_ref().map(|f| f.dim()) {
            return Err(bad("featurizer does not match the attribute block".into()));
        }
        let search = if meta.hnsw {
            let h = Hnsw::read_from(file, "content.hnsw", meta.config.hnsw)?;
            if h.len() != items.len() || h.dim() != meta.dim {
                return Err(bad("graph does not match the items".into()));
            }
            Search::Hnsw(h)
        } else {
            let (rows, v) = file.f32_matrix("content.vectors", Some(meta.dim))?;
            if rows != items.len() {
                return Err(bad(format!("{rows} vectors for {} items", items.len())));
            }
            Search::Exact(
                ExactIndex::new(v.to_vec(), meta.dim, meta.config.threads)
                    .map_err(|e| bad(e.to_string()))?,
            )
        };
        let facts = if file.has("content.category") {
            let categories = file.ids("content.categories")?;
            let regions = file.ids("content.regions")?;
            let category = file.u32_vector("content.category")?.to_vec();
            let in_stock = file.u8_vector("content.in_stock")?.to_vec();
            let item_regions = file.csr("content.item_regions", regions.len())?;
            let n = items.len();
            if category.len() != n
                || in_stock.len() != n
                || item_regions.n_rows() != n
                || category.iter().any(|&c| c as usize >= categories.len())
                || in_stock.iter().any(|&s| s > 1)
            {
                return Err(bad("catalog facts do not match the items".into()));
            }
            Some(Facts {
                categories,
                category,
                in_stock,
                regions,
                item_regions,
            })
        } else {
            None
        };
        Ok(ContentIndex {
            ef_search: AtomicUsize::new(meta.config.hnsw.ef_search),
            config: meta.config,
            items,
            dim: meta.dim,
            blocks: meta.blocks,
            featurizer: meta.featurizer,
            facts,
            search,
        })
    }
}

// The engine's adapter of the index, kept at its old path here.
pub use crate::engine::sources::{ContentSource, MAX_CONTEXT_SEARCHES};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidate::{CandidateSource, Query};
    use crate::data::AttrValue;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    const SHAPES: [&str; 4] = ["round", "square", "aviator", "cat-eye"];
    const MATERIALS: [&str; 3] = ["acetate", "titanium", "metal"];

    /// 120 frames and sunglasses over shapes × materials, some out of
    /// stock, some sold only in `au`.
    fn catalog() -> Catalog {
        let mut c = Catalog::new();
        for i in 0..120usize {
            let mut attributes = BTreeMap::new();
            attributes.insert("shape".into(), AttrValue::Text(SHAPES[i % 4].into()));
            attributes.insert("material".into(), AttrValue::Text(MATERIALS[i % 3].into()));
            c.add(Item {
                id: format!("F{i}"),
                title: String::new(),
                category: if i % 5 == 0 { "sunglasses" } else { "frames" }.into(),
                brand: Some(format!("brand{}", i % 7)),
                price: Some(50.0 + (i % 10) as f64 * 20.0),
                in_stock: i % 6 != 1,
                regions: if i % 8 == 3 {
                    vec!["au".into()]
                } else {
                    vec![]
                },
                attributes,
            })
            .unwrap();
        }
        c
    }

    fn attr<'a>(c: &'a Catalog, id: &str, key: &str) -> &'a AttrValue {
        &c.get(id).unwrap().attributes[key]
    }

    /// Shape and material matter most, as a merchandiser would set it.
    fn config() -> ContentConfig {
        let mut cfg = ContentConfig::default();
        cfg.features.weights.insert("shape".into(), 3.0);
        cfg.features.weights.insert("material".into(), 3.0);
        cfg
    }

    fn build(c: &Catalog, kind: IndexKind) -> ContentIndex {
        let cfg = ContentConfig {
            index: kind,
            ..config()
        };
        ContentIndex::builder(cfg).catalog(c).build().unwrap()
    }

    #[test]
    fn similar_frames_share_shape_and_material_on_both_search_paths() {
        let c = catalog();
        for kind in [IndexKind::Exact, IndexKind::Hnsw] {
            let idx = build(&c, kind);
            assert_eq!(idx.is_hnsw(), kind == IndexKind::Hnsw);
            let got = idx
                .similar_items_by_id("F4", 5, &ContentFilter::default())
                .unwrap();
            assert_eq!(got.len(), 5);
            for (id, s) in &got {
                assert_ne!(id, "F4");
                assert_eq!(attr(&c, id, "shape"), attr(&c, "F4", "shape"));
                assert_eq!(attr(&c, id, "material"), attr(&c, "F4", "material"));
                assert!(*s > 0.5 && *s <= 1.0 + 1e-5, "{s}");
            }
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
        }
    }

    #[test]
    fn filters_apply_during_search_and_still_fill_n() {
        let c = catalog();
        for kind in [IndexKind::Exact, IndexKind::Hnsw] {
            let idx = build(&c, kind);
            let f = ContentFilter {
                categories: vec!["sunglasses".into()],
                in_stock: true,
                region: Some("nl".into()),
            };
            let got = idx.similar_items_by_id("F4", 10, &f).unwrap();
            assert_eq!(got.len(), 10);
            for (id, _) in &got {
                let it = c.get(id).unwrap();
                assert_eq!(it.category, "sunglasses");
                assert!(it.in_stock && it.available_in("nl"));
            }
            // More than qualify: all qualifying, none else.
            let want = c
                .items()
                .iter()
                .filter(|i| i.category == "sunglasses" && i.in_stock && i.available_in("nl"))
                .count();
            assert_eq!(idx.similar_items_by_id("F4", 500, &f).unwrap().len(), want);
            let none = ContentFilter {
                categories: vec!["no-such".into()],
                ..Default::default()
            };
            assert!(idx.similar_items_by_id("F4", 5, &none).unwrap().is_empty());
            // au-only items appear for au.
            let au = ContentFilter {
                region: Some("au".into()),
                ..Default::default()
            };
            let got = idx.similar_items_by_id("F3", 119, &au).unwrap();
            assert!(got
                .iter()
                .any(|(id, _)| c.get(id).unwrap().regions == ["au"]));
        }
    }

    #[test]
    fn cold_start_items_get_attribute_neighbours() {
        let c = catalog();
        // Embeddings for half the catalog only: the rest are "new".
        let ids = IdMap::from_ids((0..60).map(|i| format!("F{i}"))).unwrap();
        let emb: Vec<f32> = (0..60 * 4).map(|v| ((v * 37) % 11) as f32 - 5.0).collect();
        let idx = ContentIndex::builder(config())
            .catalog(&c)
            .embeddings(&ids, &emb, 4)
            .build()
            .unwrap();
        assert_eq!(idx.blocks().len(), 2);
        let got = idx
            .similar_items_by_id("F100", 3, &ContentFilter::default())
            .unwrap();
        for (id, _) in &got {
            assert_eq!(attr(&c, id, "shape"), attr(&c, "F100", "shape"));
        }
        // A product not in the index at all, by its attributes.
        let mut new = c.get("F7").unwrap().clone();
        new.id = "NEW".into();
        let got = idx
            .similar_to_item(&new, 4, &ContentFilter::default())
            .unwrap();
        assert_eq!(got.len(), 4);
        for (id, _) in &got {
            assert_eq!(attr(&c, id, "shape"), attr(&c, "F7", "shape"));
            assert_eq!(attr(&c, id, "material"), attr(&c, "F7", "material"));
        }
        // Embeddings alone: no attributes to compare a new item by.
        let idx = ContentIndex::builder(ContentConfig::default())
            .embeddings(&ids, &emb, 4)
            .build()
            .unwrap();
        assert!(matches!(
            idx.similar_to_item(&new, 4, &ContentFilter::default()),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            idx.similar_items(
                0,
                4,
                &ContentFilter {
                    in_stock: true,
                    ..Default::default()
                }
            ),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn hybrid_with_als_follows_factors_when_weighted_up() {
        use crate::als::AlsConfig;
        use crate::data::InteractionsBuilder;
        let c = catalog();
        // Customers buy F0..F9 together regardless of attributes.
        let mut b = InteractionsBuilder::new();
        for u in 0..40 {
            for k in 0..3 {
                let i = if u % 2 == 0 {
                    (u + k) % 10
                } else {
                    10 + (u * 3 + k * 7) % 110
                };
                b.add(&format!("u{u}"), &format!("F{i}"), 1.0).unwrap();
            }
        }
        let model = AlsModel::fit(
            &AlsConfig {
                factors: 8,
                iterations: 10,
                ..Default::default()
            },
            &b.build().unwrap(),
        )
        .unwrap();
        let cfg = ContentConfig {
            attribute_weight: 0.05,
            als_weight: 1.0,
            ..Default::default()
        };
        let idx = ContentIndex::builder(cfg)
            .catalog(&c)
            .als(&model)
            .build()
            .unwrap();
        let got = idx
            .similar_items_by_id("F1", 5, &ContentFilter::default())
            .unwrap();
        let in_group = got
            .iter()
            .filter(|(id, _)| id[1..].parse::<usize>().unwrap() < 10)
            .count();
        assert!(in_group >= 4, "{got:?}");
    }

    #[test]
    fn round_trip_keeps_every_answer() {
        let c = catalog();
        for kind in [IndexKind::Exact, IndexKind::Hnsw] {
            let idx = build(&c, kind);
            let bytes = idx.to_bytes().unwrap();
            let back = ContentIndex::from_bytes(&bytes).unwrap();
            assert_eq!(back.to_bytes().unwrap(), bytes);
            let f = ContentFilter {
                in_stock: true,
                ..Default::default()
            };
            let batch = back.similar_items_batch(&[0, 7, 119], 8, &f).unwrap();
            for (k, i) in [0, 7, 119].into_iter().enumerate() {
                assert_eq!(idx.similar_items(i, 8, &f).unwrap(), batch[k]);
            }
            let queries: Vec<f32> = [3, 9]
                .iter()
                .flat_map(|&i| idx.vector(i).unwrap().to_vec())
                .collect();
            let found = idx.search_batch(&queries, 4, &f).unwrap();
            assert_eq!(found[1], idx.search(idx.vector(9).unwrap(), 4, &f).unwrap());
            assert!(idx.search_batch(&queries[1..], 4, &f).is_err());
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let c = catalog();
        let idx = build(&c, IndexKind::Exact);
        let none = ContentFilter::default();
        assert!(matches!(
            idx.similar_items(0, 0, &none),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            idx.similar_items(999, 3, &none),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            idx.similar_items_by_id("nope", 3, &none),
            Err(Error::UnknownId { .. })
        ));
        assert!(matches!(
            idx.search(&[1.0], 3, &none),
            Err(Error::ShapeMismatch(_))
        ));
        let nan = vec![f32::NAN; idx.dim()];
        assert!(matches!(
            idx.search(&nan, 3, &none),
            Err(Error::InvalidInput(_))
        ));
        let ids = IdMap::from_ids(["a", "b"]).unwrap();
        let short = ContentIndex::builder(ContentConfig::default())
            .embeddings(&ids, &[1.0, 2.0, 3.0], 2)
            .build();
        assert!(matches!(short, Err(Error::ShapeMismatch(_))));
        let inf = ContentIndex::builder(ContentConfig::default())
            .embeddings(&ids, &[1.0, 2.0, f32::INFINITY, 0.0], 2)
            .build();
        assert!(matches!(inf, Err(Error::InvalidInput(_))));
        assert!(matches!(
            ContentIndex::builder(ContentConfig::default()).build(),
            Err(Error::InvalidInput(_))
        ));
        let cfg = ContentConfig {
            als_weight: -1.0,
            ..Default::default()
        };
        let e = ContentIndex::builder(cfg).catalog(&c).build().unwrap_err();
        assert!(matches!(e, Error::Config { ref field, .. } if field == "als_weight"));
        assert!(idx.set_ef_search(0).is_err());
        // Damaged files are format errors.
        let mut bytes = idx.to_bytes().unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        assert!(matches!(
            ContentIndex::from_bytes(&bytes),
            Err(Error::ModelFormat(_))
        ));
        assert!(matches!(
            ContentIndex::from_bytes(
                &crate::cooccur::CooccurModel::fit(
                    &Default::default(),
                    &crate::data::InteractionsBuilder::new()
                        .build()
                        .unwrap_or_else(|_| {
                            let mut b = crate::data::InteractionsBuilder::new();
                            b.add("u", "a", 1.0).unwrap();
                            b.add("u", "b", 1.0).unwrap();
                            b.build().unwrap()
                        })
                )
                .unwrap()
                .to_bytes()
                .unwrap()
            ),
            Err(Error::ModelFormat(_))
        ));
    }

    #[test]
    fn content_source_searches_around_context_and_names_it() {
        let c = catalog();
        let idx = Arc::new(build(&c, IndexKind::Exact));
        let mut uni_ids: Vec<String> = c.ids().ids().to_vec();
        uni_ids.reverse();
        let uni = IdMap::from_ids(uni_ids).unwrap();
        let src = ContentSource::new(idx, &uni);
        let (a, b) = (uni.get("F4").unwrap(), uni.get("F9").unwrap());
        let ctx = [(a, 3.0), (b, 1.0)];
        let banned = |u: u32| c.get(uni.id(u).unwrap()).unwrap().in_stock;
        let mut q = Query::new(6, 0);
        q.context = &ctx;
        q.filter = Some(&banned);
        let got = src.candidates(&q).unwrap();
        assert_eq!(got.items.len(), 6);
        for cand in &got.items {
            assert!(cand.item != a && cand.item != b);
            assert!(banned(cand.item));
            assert!(cand.because == Some(a) || cand.because == Some(b));
        }
        // The heavier context item dominates the top.
        let top = uni.id(got.items[0].item).unwrap();
        assert_eq!(attr(&c, top, "shape"), attr(&c, "F4", "shape"));
        assert_eq!(got.items[0].because, Some(a));
        q.context = &[];
        assert!(src.candidates(&q).unwrap().items.is_empty());
    }
}
