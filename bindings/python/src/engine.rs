//! The recommendation engine (placements, rules, experiments, tracking).

use std::sync::Arc;

use sightline::data::Catalog;
use sightline::engine::{Engine, EngineConfig, Models, Request};

use super::content::{catalog_from_json, ContentHandle};
use super::*;

fn config(py: Python<'_>, json: &str) -> PyResult<EngineConfig> {
    EngineConfig::from_json(json).map_err(|e| py_err(py, e))
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

fn to_json(py: Python<'_>, v: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| invalid(py, e.to_string()))
}

#[pymethods]
impl EngineHandle {
    /// `config_json`: the engine config as JSON; `catalog_json`: items.
    #[new]
    #[pyo3(signature = (config_json, catalog_json, als=None, cooccur=None, content=None))]
    fn new(
        py: Python<'_>,
        config_json: &str,
        catalog_json: &str,
        als: Option<PyRef<'_, Model>>,
        cooccur: Option<PyRef<'_, CooccurHandle>>,
        content: Option<PyRef<'_, ContentHandle>>,
    ) -> PyResult<EngineHandle> {
        let config = config(py, config_json)?;
        let catalog = catalog_from_json(py, catalog_json)?;
        let models = models(py, catalog, als, cooccur, content);
        py.detach(|| Engine::new(config, models))
            .map(|inner| EngineHandle { inner })
            .map_err(|e| py_err(py, e))
    }

    /// Validates a config given as JSON (raises `ConfigError`).
    #[staticmethod]
    fn check_config(py: Python<'_>, config_json: &str) -> PyResult<()> {
        config(py, config_json).map(|_| ())
    }

    /// Parses a TOML config into JSON (raises `ConfigError`).
    #[staticmethod]
    fn toml_to_json(py: Python<'_>, text: &str) -> PyResult<String> {
        let c = EngineConfig::from_toml(text).map_err(|e| py_err(py, e))?;
        to_json(py, &c)
    }

    fn config_json(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, self.inner.config())
    }

    /// A request as JSON in, the response as JSON out.
    fn recommend(&self, py: Python<'_>, request_json: &str) -> PyResult<String> {
        let req: Request =
            serde_json::from_str(request_json).map_err(|e| invalid(py, format!("request: {e}")))?;
        let resp = py
            .detach(|| self.inner.recommend(&req))
            .map_err(|e| py_err(py, e))?;
        to_json(py, &resp)
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

    /// Stats as JSON.
    fn stats(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, &self.inner.stats())
    }

    /// Metrics in the Prometheus text format.
    fn metrics_prometheus(&self) -> String {
        self.inner.prometheus_text()
    }

    fn forget_user(&self, py: Python<'_>, user: &str) -> PyResult<String> {
        let v = py
            .detach(|| self.inner.forget_user(user))
            .map_err(|e| py_err(py, e))?;
        to_json(py, &v)
    }

    fn export_user(&self, py: Python<'_>, user: &str) -> PyResult<String> {
        let v = self.inner.export_user(user).map_err(|e| py_err(py, e))?;
        to_json(py, &v)
    }

    /// Swaps in new models (and catalog) atomically.
    #[pyo3(signature = (catalog_json, als=None, cooccur=None, content=None))]
    fn swap_models(
        &self,
        py: Python<'_>,
        catalog_json: &str,
        als: Option<PyRef<'_, Model>>,
        cooccur: Option<PyRef<'_, CooccurHandle>>,
        content: Option<PyRef<'_, ContentHandle>>,
    ) -> PyResult<()> {
        let catalog = catalog_from_json(py, catalog_json)?;
        let models = models(py, catalog, als, cooccur, content);
        py.detach(|| self.inner.swap_models(models))
            .map_err(|e| py_err(py, e))
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
    fn from_bytes(py: Python<'_>, data: &[u8], config_json: &str) -> PyResult<EngineHandle> {
        let config = config(py, config_json)?;
        py.detach(|| Engine::from_bytes(data, config))
            .map(|inner| EngineHandle { inner })
            .map_err(|e| py_err(py, e))
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf, config_json: &str) -> PyResult<EngineHandle> {
        let config = config(py, config_json)?;
        py.detach(|| Engine::load(&path, config))
            .map(|inner| EngineHandle { inner })
            .map_err(|e| py_err_path(py, e, &path))
    }
}
