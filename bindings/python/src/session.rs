//! Live session store and "based on your recent browsing" recommendations.

use std::sync::Arc;

use sightline::candidate::{AlsSource, CandidateSource, CooccurSource, Query};
use sightline::content::ContentSource;
use sightline::session::{RecentEvent, SessionConfig, SessionRecommender, SessionStore};

use super::bridge::{settings, to_py};
use super::content::ContentHandle;
use super::*;

/// Session settings from a dict in the core's `SessionConfig` schema.
fn config(py: Python<'_>, params: &Bound<'_, PyAny>) -> PyResult<SessionConfig> {
    let c: SessionConfig = settings(py, params)?;
    c.validate().map_err(|e| py_err(py, e))?;
    Ok(c)
}

/// `(item_id, kind, timestamp)` triples.
type Recent = Vec<(String, String, i64)>;

/// A live, bounded store of recent events per visitor (thread-safe; every
/// call runs with the GIL released).
#[pyclass(frozen, module = "sightline._sightline", name = "_Session")]
pub(crate) struct SessionHandle {
    inner: Arc<SessionStore>,
}

impl SessionHandle {
    fn wrap(store: SessionStore) -> Self {
        SessionHandle {
            inner: Arc::new(store),
        }
    }

    fn named(&self, events: Vec<RecentEvent>) -> Recent {
        let u = self.inner.universe();
        events
            .into_iter()
            .map(|e| {
                (
                    u.id(e.item).unwrap_or_default().to_owned(),
                    e.kind.as_str().to_owned(),
                    e.timestamp,
                )
            })
            .collect()
    }
}

#[pymethods]
impl SessionHandle {
    /// A store over the item universe `item_ids` with settings as a dict;
    /// `weights`: kind weights as one flat dict (`KindWeights::from_flat`).
    #[new]
    #[pyo3(signature = (params, item_ids, weights=None))]
    fn new(
        py: Python<'_>,
        params: &Bound<'_, PyAny>,
        item_ids: Vec<String>,
        weights: Option<BTreeMap<String, f32>>,
    ) -> PyResult<SessionHandle> {
        let mut config = config(py, params)?;
        if let Some(w) = weights {
            config.kind_weights = KindWeights::from_flat(&w);
            config.validate().map_err(|e| py_err(py, e))?;
        }
        let universe = IdMap::from_ids(item_ids).map_err(|e| py_err(py, e))?;
        SessionStore::new(config, Arc::new(universe))
            .map(SessionHandle::wrap)
            .map_err(|e| py_err(py, e))
    }

    /// Validates settings (raises `ConfigError`).
    #[staticmethod]
    fn check_params(py: Python<'_>, params: &Bound<'_, PyAny>) -> PyResult<()> {
        config(py, params).map(|_| ())
    }

    /// The settings as a `SessionConfig` dict.
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, self.inner.config())
    }

    /// The kind weights as one flat dict.
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        flat_weights(py, &self.inner.config().kind_weights)
    }

    #[getter]
    fn item_ids(&self) -> Vec<String> {
        self.inner.universe().ids().to_vec()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// One event; `False` when its item is not in the universe.
    #[pyo3(signature = (user, item, kind, timestamp, region=None, channel=None, session=None))]
    #[allow(clippy::too_many_arguments)]
    fn ingest(
        &self,
        py: Python<'_>,
        user: String,
        item: String,
        kind: &str,
        timestamp: i64,
        region: Option<String>,
        channel: Option<&str>,
        session: Option<String>,
    ) -> PyResult<bool> {
        let e = event(py, user, item, kind, timestamp, region, channel, session)?;
        py.detach(|| self.inner.ingest(&e))
            .map_err(|e| py_err(py, e))
    }

    /// Parallel columns, one entry per event; all or nothing. Returns the
    /// number of events stored (items outside the universe are skipped).
    fn ingest_batch(
        &self,
        py: Python<'_>,
        users: Vec<String>,
        items: Vec<String>,
        kinds: Vec<String>,
        timestamps: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<usize> {
        let events = events_from_columns(py, users, items, kinds, &timestamps, None, None, None)?;
        py.detach(|| self.inner.ingest_batch(&events))
            .map_err(|e| py_err(py, e))
    }

    /// The visitor's unexpired events at `now`, newest first.
    fn recent(&self, py: Python<'_>, key: &str, now: i64) -> Recent {
        let events = py.detach(|| self.inner.recent(key, now));
        self.named(events)
    }

    /// Everything held about the visitor, oldest first (ignores the TTL).
    fn export(&self, py: Python<'_>, key: &str) -> Recent {
        let events = py.detach(|| self.inner.export(key));
        self.named(events)
    }

    /// The recency- and kind-weighted `(item_id, weight)` context at `now`.
    fn context(&self, py: Python<'_>, key: &str, now: i64) -> Vec<(String, f32)> {
        let ctx = py.detach(|| self.inner.context(key, now));
        let u = self.inner.universe();
        ctx.into_iter()
            .map(|(i, w)| (u.id(i).unwrap_or_default().to_owned(), w))
            .collect()
    }

    /// Moves an anonymous visitor's events to a user (login).
    fn merge(&self, py: Python<'_>, anonymous: &str, user: &str, now: i64) -> PyResult<usize> {
        py.detach(|| self.inner.merge(anonymous, user, now))
            .map_err(|e| py_err(py, e))
    }

    /// Removes everything held about a visitor; whether anything was held.
    fn forget(&self, py: Python<'_>, key: &str) -> bool {
        py.detach(|| self.inner.forget(key))
    }

    /// Drops every visitor idle past the TTL at `now`; how many.
    fn expire(&self, py: Python<'_>, now: i64) -> usize {
        py.detach(|| self.inner.expire(now))
    }

    /// Counters: keys, events, evictions, expirations, unknown_items.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("keys", s.keys)?;
        d.set_item("events", s.events)?;
        d.set_item("evictions", s.evictions)?;
        d.set_item("expirations", s.expirations)?;
        d.set_item("unknown_items", s.unknown_items)?;
        Ok(d)
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        component_to_bytes(py, &*self.inner)
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<SessionHandle> {
        component_from_bytes(py, data).map(SessionHandle::wrap)
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        component_save(py, &*self.inner, &path)
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<SessionHandle> {
        component_load(py, &path).map(SessionHandle::wrap)
    }
}

/// Session recommendations blended from ALS fold-in, co-occurrence and
/// content neighbours of the visitor's recent items.
#[pyclass(frozen, module = "sightline._sightline", name = "_SessionRecommender")]
pub(crate) struct SessionRecommenderHandle {
    inner: SessionRecommender,
}

#[pymethods]
impl SessionRecommenderHandle {
    #[new]
    #[pyo3(signature = (store, als=None, als_weight=1.0, cooccur=None, cooccur_weight=1.0, content=None, content_weight=1.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store: PyRef<'_, SessionHandle>,
        als: Option<PyRef<'_, Model>>,
        als_weight: f32,
        cooccur: Option<PyRef<'_, CooccurHandle>>,
        cooccur_weight: f32,
        content: Option<PyRef<'_, ContentHandle>>,
        content_weight: f32,
    ) -> PyResult<SessionRecommenderHandle> {
        let universe = store.inner.universe().clone();
        let mut sources: Vec<(Arc<dyn CandidateSource>, f32)> = Vec::new();
        if let Some(m) = als {
            sources.push((
                Arc::new(AlsSource::new(m.inner(), universe.clone())),
                als_weight,
            ));
        }
        if let Some(c) = cooccur {
            sources.push((
                Arc::new(CooccurSource::new(c.inner.clone(), &universe)),
                cooccur_weight,
            ));
        }
        if let Some(c) = content {
            sources.push((
                Arc::new(ContentSource::new(c.inner.clone(), &universe)),
                content_weight,
            ));
        }
        SessionRecommender::new(store.inner.clone(), sources)
            .map(|inner| SessionRecommenderHandle { inner })
            .map_err(|e| py_err(py, e))
    }

    /// Up to `n` `(item_id, score, because_item_id)` for the visitor `key`
    /// at `now`, never one of `exclude` (unknown ids ignored).
    #[pyo3(signature = (key, n, now, exclude=None))]
    fn recommend(
        &self,
        py: Python<'_>,
        key: &str,
        n: i64,
        now: i64,
        exclude: Option<Vec<String>>,
    ) -> PyResult<Vec<(String, f32, Option<String>)>> {
        let n = to_usize(py, n, "N")?;
        let universe = self.inner.store().universe().clone();
        let excl: Vec<u32> = exclude
            .unwrap_or_default()
            .iter()
            .filter_map(|id| universe.get(id))
            .collect();
        let mut q = Query::new(n, now);
        q.user = Some(key);
        q.exclude = &excl;
        let found = py
            .detach(|| self.inner.candidates(&q))
            .map_err(|e| py_err(py, e))?;
        let name = |i: u32| universe.id(i).unwrap_or_default().to_owned();
        Ok(found
            .items
            .into_iter()
            .map(|c| (name(c.item), c.score, c.because.map(name)))
            .collect())
    }
}
