//! The recommendation engine (placements, rules, experiments, tracking).

use std::sync::Arc;

use sightline::data::Catalog;
use sightline::engine::{Engine, EngineConfig, Models, Request};

use super::bridge::{catalog, config_value, from_py, to_py};
use super::content::ContentHandle;
use super::*;

/// An engine config from `None`, a dict, JSON/TOML text or a path.
fn config(py: Python<'_>, config: Option<&Bound<'_, PyAny>>) -> PyResult<EngineConfig> {
    EngineConfig::from_value(config_value(py, config)?).map_err(|e| py_err(py, e))
}

/// An engine over a catalog and fitted models. Every call releases the GIL;
/// the engine may be shared by Python threads.
#[pyclass(frozen, module = "sightline._sightline", name = "_Engine")]
pub(crate) struct EngineHandle {
    inner: Engine,
}

fn models(
    py: Python<'_>,
    catalog: Catalog,
    als: Option<PyRef<'_, Model>>,
    cooccur: Option<PyRef<'_, CooccurHandle>>,
    content: Option<PyRef<'_, ContentHandle>>,
) -> Models {
    let _ = py;
    Models {
        catalog: Arc::new(catalog),
        als: als.map(|m| m.inner()),
        cooccur: cooccur.map(|m| m.inner.clone()),
        content: content.map(|m| m.inner.clone()),
    }
}

#[pymethods]
impl EngineHandle {
    /// `config`: `None`, a dict, JSON/TOML text or a path; `catalog`: item dicts.
    #[new]
    #[pyo3(signature = (config, catalog, als=None, cooccur=None, content=None))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        catalog: &Bound<'_, PyAny>,
        als: Option<PyRef<'_, Model>>,
        cooccur: Option<PyRef<'_, CooccurHandle>>,
        content: Option<PyRef<'_, ContentHandle>>,
    ) -> PyResult<EngineHandle> {
        let config = self::config(py, config)?;
        let catalog = self::catalog(py, catalog)?;
        let models = models(py, catalog, als, cooccur, content);
        py.detach(|| Engine::new(config, models))
            .map(|inner| EngineHandle { inner })
            .map_err(|e| py_err(py, e))
    }

    /// Validates a config (raises `ConfigError`).
    #[staticmethod]
    #[pyo3(signature = (config=None))]
    fn check_config(py: Python<'_>, config: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self::config(py, config).map(|_| ())
    }

    /// The effective config as a dict.
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, self.inner.config())
    }

    /// A request dict in (the core's `Request`), the response dict out.
    fn recommend<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req: Request = from_py(py, request, "request")?;
        let resp = py
            .detach(|| self.inner.recommend(&req))
            .map_err(|e| py_err(py, e))?;
        to_py(py, &resp)
    }

    #[pyo3(signature = (user, item, kind, timestamp, region=None, channel=None, session=None, consent=true))]
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
        consent: bool,
    ) -> PyResult<()> {
        let e = event(py, user, item, kind, timestamp, region, channel, session)?;
        py.detach(|| self.inner.ingest(&e, consent))
            .map_err(|e| py_err(py, e))
    }

    /// Many events as parallel columns, all or nothing (`Engine::ingest_batch`).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (users, items, kinds, timestamps, regions=None, channels=None, sessions=None, consent=true))]
    fn ingest_batch(
        &self,
        py: Python<'_>,
        users: Vec<String>,
        items: Vec<String>,
        kinds: Vec<String>,
        timestamps: PyReadonlyArray1<'_, i64>,
        regions: Option<Vec<Option<String>>>,
        channels: Option<Vec<Option<String>>>,
        sessions: Option<Vec<Option<String>>>,
        consent: bool,
    ) -> PyResult<usize> {
        let events = events_from_columns(
            py,
            users,
            items,
            kinds,
            &timestamps,
            regions,
            channels,
            sessions,
        )?;
        py.detach(|| self.inner.ingest_batch(&events, consent))
            .map_err(|e| py_err(py, e))
    }

    fn track_impression(
        &self,
        py: Python<'_>,
        recommendation_id: &str,
        timestamp: i64,
    ) -> PyResult<bool> {
        self.inner
            .track_impression(recommendation_id, timestamp)
            .map_err(|e| py_err(py, e))
    }

    fn track_click(
        &self,
        py: Python<'_>,
        recommendation_id: &str,
        item: &str,
        timestamp: i64,
    ) -> PyResult<bool> {
        self.inner
            .track_click(recommendation_id, item, timestamp)
            .map_err(|e| py_err(py, e))
    }

    fn track_conversion(
        &self,
        py: Python<'_>,
        user: &str,
        item: &str,
        revenue: f64,
        timestamp: i64,
    ) -> PyResult<bool> {
        self.inner
            .track_conversion(user, item, revenue, timestamp)
            .map_err(|e| py_err(py, e))
    }

    fn refresh_popular(&self, py: Python<'_>, now: i64) -> PyResult<()> {
        py.detach(|| self.inner.refresh_popular(now))
            .map_err(|e| py_err(py, e))
    }

    /// Stats as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.stats())
    }

    /// Metrics in the Prometheus text format.
    fn metrics_prometheus(&self) -> String {
        self.inner.prometheus_text()
    }

    fn forget_user<'py>(&self, py: Python<'py>, user: &str) -> PyResult<Bound<'py, PyAny>> {
        let v = py
            .detach(|| self.inner.forget_user(user))
            .map_err(|e| py_err(py, e))?;
        to_py(py, &v)
    }

    fn export_user<'py>(&self, py: Python<'py>, user: &str) -> PyResult<Bound<'py, PyAny>> {
        let v = self.inner.export_user(user).map_err(|e| py_err(py, e))?;
        to_py(py, &v)
    }

    /// Swaps in new models (and catalog) atomically.
    #[pyo3(signature = (catalog, als=None, cooccur=None, content=None))]
    fn swap_models(
        &self,
        py: Python<'_>,
        catalog: &Bound<'_, PyAny>,
        als: Option<PyRef<'_, Model>>,
        cooccur: Option<PyRef<'_, CooccurHandle>>,
        content: Option<PyRef<'_, ContentHandle>>,
    ) -> PyResult<()> {
        let catalog = self::catalog(py, catalog)?;
        let models = models(py, catalog, als, cooccur, content);
        py.detach(|| self.inner.swap_models(models))
            .map_err(|e| py_err(py, e))
    }

    fn export_slice<'py>(
        &self,
        py: Python<'py>,
        placement: String,
        items: Vec<String>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py
            .detach(|| {
                self.inner
                    .export_slice(&placement, &items)
                    .and_then(|slice| slice.to_bytes())
            })
            .map_err(|e| py_err(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn reload_models(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.reload_models(&path))
            .map_err(|e| py_err_path(py, e, &path))
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.save(&path))
            .map_err(|e| py_err_path(py, e, &path))
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py
            .detach(|| self.inner.to_bytes())
            .map_err(|e| py_err(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    #[staticmethod]
    #[pyo3(signature = (data, config=None))]
    fn from_bytes(
        py: Python<'_>,
        data: &[u8],
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<EngineHandle> {
        let config = self::config(py, config)?;
        py.detach(|| Engine::from_bytes(data, config))
            .map(|inner| EngineHandle { inner })
            .map_err(|e| py_err(py, e))
    }

    #[staticmethod]
    #[pyo3(signature = (path, config=None))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<EngineHandle> {
        let config = self::config(py, config)?;
        py.detach(|| Engine::load(&path, config))
            .map(|inner| EngineHandle { inner })
            .map_err(|e| py_err_path(py, e, &path))
    }
}
