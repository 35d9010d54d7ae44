//! Content index ("similar frames") and catalog conversion.

use std::sync::Arc;

use numpy::{PyReadonlyArray2, PyUntypedArrayMethods, ToPyArray};
use sightline::content::{ContentConfig, ContentFilter, ContentIndex};
use sightline::data::Row;

use super::bridge::{catalog, from_py, settings, to_py};
use super::*;

/// Content settings from a dict in the core's `ContentConfig` schema.
fn config(py: Python<'_>, params: &Bound<'_, PyAny>) -> PyResult<ContentConfig> {
    let c: ContentConfig = settings(py, params)?;
    c.validate().map_err(|e| py_err(py, e))?;
    Ok(c)
}

fn filter(
    categories: Option<Vec<String>>,
    in_stock: bool,
    region: Option<String>,
) -> ContentFilter {
    ContentFilter {
        categories: categories.unwrap_or_default(),
        in_stock,
        region,
    }
}

/// Validates content settings (a `ContentConfig` dict; raises `ConfigError`).
#[pyfunction]
pub(crate) fn content_check_params(py: Python<'_>, params: &Bound<'_, PyAny>) -> PyResult<()> {
    config(py, params).map(|_| ())
}

/// Builds a content index with the GIL released. `embeddings` is a C-contiguous
/// float32 matrix whose rows belong to `embedding_ids`.
#[pyfunction]
#[pyo3(signature = (params, catalog=None, embedding_ids=None, embeddings=None, als=None))]
pub(crate) fn content_build(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
    catalog: Option<&Bound<'_, PyAny>>,
    embedding_ids: Option<Vec<String>>,
    embeddings: Option<PyReadonlyArray2<'_, f32>>,
    als: Option<PyRef<'_, Model>>,
) -> PyResult<ContentHandle> {
    let config = self::config(py, params)?;
    let catalog = catalog.map(|rows| self::catalog(py, rows)).transpose()?;
    let emb = match (embedding_ids, &embeddings) {
        (Some(ids), Some(m)) => {
            let dim = m.shape()[1];
            let ids = IdMap::from_ids(ids).map_err(|e| py_err(py, e))?;
            let values = m
                .as_slice()
                .map_err(|_| invalid(py, "embeddings must be C-contiguous".into()))?;
            Some((ids, values, dim))
        }
        (None, None) => None,
        _ => {
            return Err(invalid(
                py,
                "embeddings and their item ids must be given together".into(),
            ))
        }
    };
    let als = als.as_deref().map(|m| m.inner());
    let result = py.detach(|| {
        let mut b = ContentIndex::builder(config);
        if let Some(c) = &catalog {
            b = b.catalog(c);
        }
        if let Some((ids, values, dim)) = &emb {
            b = b.embeddings(ids, values, *dim);
        }
        if let Some(m) = &als {
            b = b.als(m);
        }
        b.build()
    });
    result.map(ContentHandle::wrap).map_err(|e| py_err(py, e))
}

/// A built content index (thread-safe; shared with session recommenders).
#[pyclass(frozen, module = "sightline._sightline", name = "_Content")]
pub(crate) struct ContentHandle {
    pub(crate) inner: Arc<ContentIndex>,
}

impl ContentHandle {
    fn wrap(index: ContentIndex) -> Self {
        ContentHandle {
            inner: Arc::new(index),
        }
    }

    fn get(&self) -> &ContentIndex {
        &self.inner
    }
}

#[pymethods]
impl ContentHandle {
    /// The settings as a `ContentConfig` dict.
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.get().config())
    }

    #[getter]
    fn item_ids(&self) -> Vec<String> {
        self.get().items().ids().to_vec()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.get().dim()
    }

    #[getter]
    fn is_hnsw(&self) -> bool {
        self.get().is_hnsw()
    }

    #[getter]
    fn ef_search(&self) -> usize {
        self.get().ef_search()
    }

    #[setter]
    fn set_ef_search(&self, py: Python<'_>, ef: i64) -> PyResult<()> {
        let ef = config_usize(py, ef, "hnsw.ef_search")?;
        self.get().set_ef_search(ef).map_err(|e| py_err(py, e))
    }

    /// The searched vectors (weighted, normalised for cosine) as a copy.
    fn vectors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let index = self.get();
        let (n, d) = (index.len(), index.dim());
        let mut m = Array2::<f32>::zeros((n, d));
        for (i, mut row) in m.rows_mut().into_iter().enumerate() {
            let v = index.vector(i as u32).map_err(|e| py_err(py, e))?;
            row.as_slice_mut().unwrap_or(&mut []).copy_from_slice(v);
        }
        Ok(m.to_pyarray(py))
    }

    /// Nearest items of each item index: 2-D arrays padded with -1 / -inf.
    #[pyo3(signature = (items, n, categories=None, in_stock=false, region=None))]
    fn similar_items<'py>(
        &self,
        py: Python<'py>,
        items: PyReadonlyArray1<'py, i64>,
        n: i64,
        categories: Option<Vec<String>>,
        in_stock: bool,
        region: Option<String>,
    ) -> PyResult<(Ids2<'py>, Scores2<'py>)> {
        let items = to_indices(py, &items, "itemid")?;
        let n = to_usize(py, n, "N")?;
        let f = filter(categories, in_stock, region);
        let index = self.get();
        let result = py.detach(|| index.similar_items_batch(&items, n, &f));
        let recs = result.map_err(|e| py_err(py, e))?;
        recs_2d(py, recs, n.min(index.len().saturating_sub(1)))
    }

    /// Nearest items of one item index: `(ids int32[k], scores float32[k])`.
    /// No GIL release: for one query the hand-off costs more than the search.
    #[pyo3(signature = (item, n, categories=None, in_stock=false, region=None))]
    fn similar_items_one<'py>(
        &self,
        py: Python<'py>,
        item: i64,
        n: i64,
        categories: Option<Vec<String>>,
        in_stock: bool,
        region: Option<String>,
    ) -> PyResult<(Ids1<'py>, Scores1<'py>)> {
        let item = to_index(py, item, "itemid")?;
        let n = to_usize(py, n, "N")?;
        let recs = self
            .get()
            .similar_items(item, n, &filter(categories, in_stock, region))
            .map_err(|e| py_err(py, e))?;
        recs_1d(py, recs)
    }

    /// Nearest items of each query row: 2-D arrays padded with -1 / -inf.
    #[pyo3(signature = (queries, n, categories=None, in_stock=false, region=None))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray2<'py, f32>,
        n: i64,
        categories: Option<Vec<String>>,
        in_stock: bool,
        region: Option<String>,
    ) -> PyResult<(Ids2<'py>, Scores2<'py>)> {
        let n = to_usize(py, n, "N")?;
        let index = self.get();
        if queries.shape()[1] != index.dim() {
            return Err(py_err(
                py,
                Error::ShapeMismatch(format!(
                    "queries have {} columns, the index has {} dimensions",
                    queries.shape()[1],
                    index.dim()
                )),
            ));
        }
        let values = queries
            .as_slice()
            .map_err(|_| invalid(py, "queries must be C-contiguous".into()))?;
        let f = filter(categories, in_stock, region);
        let result = if queries.shape()[0] == 1 {
            // One query: no thread hand-off, no GIL release (it costs more
            // than the search).
            index.search(values, n, &f).map(|r| vec![r])
        } else {
            py.detach(|| index.search_batch(values, n, &f))
        };
        let recs = result.map_err(|e| py_err(py, e))?;
        recs_2d(py, recs, n.min(index.len()))
    }

    /// One query vector: `(ids int32[k], scores float32[k])`.
    #[pyo3(signature = (query, n, categories=None, in_stock=false, region=None))]
    fn search_one<'py>(
        &self,
        py: Python<'py>,
        query: PyReadonlyArray1<'py, f32>,
        n: i64,
        categories: Option<Vec<String>>,
        in_stock: bool,
        region: Option<String>,
    ) -> PyResult<(Ids1<'py>, Scores1<'py>)> {
        let n = to_usize(py, n, "N")?;
        let values = query
            .as_slice()
            .map_err(|_| invalid(py, "query must be contiguous".into()))?;
        let recs = self
            .get()
            .search(values, n, &filter(categories, in_stock, region))
            .map_err(|e| py_err(py, e))?;
        recs_1d(py, recs)
    }

    /// `(item_id, score)` pairs most similar to an item id.
    #[pyo3(signature = (item_id, n, categories=None, in_stock=false, region=None))]
    fn similar_items_by_id(
        &self,
        py: Python<'_>,
        item_id: &str,
        n: i64,
        categories: Option<Vec<String>>,
        in_stock: bool,
        region: Option<String>,
    ) -> PyResult<Vec<(String, f32)>> {
        let n = to_usize(py, n, "N")?;
        self.get()
            .similar_items_by_id(item_id, n, &filter(categories, in_stock, region))
            .map_err(|e| py_err(py, e))
    }

    /// Neighbours of a product given as a catalog row dict (cold start).
    #[pyo3(signature = (item, n, categories=None, in_stock=false, region=None))]
    fn similar_to_item(
        &self,
        py: Python<'_>,
        item: &Bound<'_, PyAny>,
        n: i64,
        categories: Option<Vec<String>>,
        in_stock: bool,
        region: Option<String>,
    ) -> PyResult<Vec<(String, f32)>> {
        let n = to_usize(py, n, "N")?;
        let row: Row = from_py(py, item, "item")?;
        let item = Item::from_row(&row).map_err(|e| py_err(py, e))?;
        self.get()
            .similar_to_item(&item, n, &filter(categories, in_stock, region))
            .map_err(|e| py_err(py, e))
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        component_to_bytes(py, self.get())
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<ContentHandle> {
        component_from_bytes(py, data).map(ContentHandle::wrap)
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        component_save(py, self.get(), &path)
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<ContentHandle> {
        component_load(py, &path).map(ContentHandle::wrap)
    }
}
