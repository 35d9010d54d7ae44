//! The serde bridge: core serde types (configs, requests, responses, catalog
//! rows, reports) to and from Python objects with `pythonize`, with no JSON
//! text in between. Field names are the core's snake_case schema.

use pyo3::exceptions::PyTypeError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sightline::data::Row;
use sightline::Error;

use super::*;

/// A Python object (dict, list, scalars) as the core type `T`; a value that
/// does not fit is an `InvalidInputError` naming `what`.
pub(crate) fn from_py<T: DeserializeOwned>(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<T> {
    pythonize::depythonize(obj).map_err(|e| invalid(py, format!("{what}: {e}")))
}

/// A core value as Python objects (dicts, lists, scalars).
pub(crate) fn to_py<'py, T: Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, value).map_err(|e| invalid(py, e.to_string()))
}

/// A config tree from what a Python caller may pass: `None` (the defaults),
/// a dict, JSON or TOML text, or a path (`str` or `os.PathLike`) to a
/// `.json`/`.toml` file. The format rules are the core's (`sightline::config`).
pub(crate) fn config_value(
    py: Python<'_>,
    config: Option<&Bound<'_, PyAny>>,
) -> PyResult<serde_json::Value> {
    let Some(obj) = config.filter(|c| !c.is_none()) else {
        return Ok(serde_json::Value::Object(Default::default()));
    };
    if let Ok(text) = obj.extract::<String>() {
        return sightline::config::text_or_path(&text)
            .map_err(|e| py_err_path(py, e, Path::new(&text)));
    }
    if obj.is_instance_of::<PyDict>() {
        return pythonize::depythonize(obj)
            .map_err(|e| PyTypeError::new_err(format!("config: {e}")));
    }
    if obj.hasattr("__fspath__")? {
        let path: PathBuf = obj.extract()?;
        return sightline::config::read_file(&path).map_err(|e| py_err_path(py, e, &path));
    }
    Err(PyTypeError::new_err(format!(
        "config must be a dict, a JSON/TOML string or a path, got {}",
        obj.get_type().name()?
    )))
}

/// A catalog from a list of row dicts (`sightline.data::Catalog::from_rows`
/// types the values; the Python package only turns numpy scalars and
/// DataFrames into plain Python values first).
pub(crate) fn catalog(py: Python<'_>, rows: &Bound<'_, PyAny>) -> PyResult<Catalog> {
    let rows: Vec<Row> = from_py(py, rows, "catalog")?;
    Catalog::from_rows(&rows).map_err(|e| py_err(py, e))
}

/// A model's settings (a dict in the core's schema, e.g. `AlsConfig`) as
/// `T`, read in place (NaN stays NaN for the core's checks). A value of the
/// wrong Python type (`factors="64"`) is a `TypeError`, as Python code
/// expects; other bad values are `ConfigError`s naming the dotted field.
pub(crate) fn settings<T: DeserializeOwned>(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
) -> PyResult<T> {
    let mut input = pythonize::Depythonizer::from_object(params);
    serde_path_to_error::deserialize(&mut input).map_err(|e| {
        let field = e.path().to_string();
        let message = e.inner().to_string();
        let err = PyErr::from(e.into_inner());
        if err.is_instance_of::<PyTypeError>(py) || message.starts_with("invalid type") {
            PyTypeError::new_err(format!("{field}: {message}"))
        } else {
            py_err(py, Error::Config { field, message })
        }
    })
}
