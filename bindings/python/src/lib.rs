//! Python binding of sightline (`sightline._sightline`).
//!
//! Conversion only: numpy/scipy arrays and Python values in, core calls,
//! numpy arrays and Python values out. The public, implicit-compatible API
//! (`sightline.ALS`) lives in `python/sightline/__init__.py` and calls the
//! low-level functions here. Errors of the core are raised as the classes of
//! `sightline._errors`; heavy calls run with the GIL released.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, ToPyArray};
use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use sightline::als::{
    AlsConfig, AlsModel, LikedRows, Progress, RecommendOptions, SimilarOptions, Solver, UserWeights,
};
use sightline::cooccur::{CooccurConfig, CooccurModel, Weighting};
use sightline::data::{
    Catalog, Channel, Csr, CsrRef, Event, EventColumns, EventKind, Interactions, Item, KindWeights,
};
use sightline::eval::{
    implicit_metrics, leave_k_out, leave_last_k_out, metrics_from_lists, ranking_metrics_at_k,
    train_test_split, RankingMetrics,
};
use sightline::ids::IdMap;
use sightline::store::ModelFile;
use sightline::trending::{TrendingConfig, TrendingQuery, TrendingResult, TrendingStore};
use sightline::tune::{tune_als, Metric, ParamSpace, Search, Trial};
use sightline::Component;
use sightline::Error;
use sightline::IdKind;

mod bridge;
mod content;
mod demo;
mod engine;
mod interactions;
mod session;

type Recs = Vec<(u32, f32)>;
/// `(items, level, level_weight)` of a trending query.
type Ranked = (Vec<(String, f32)>, String, f64);
type Ids1<'py> = Bound<'py, PyArray1<i32>>;
type Scores1<'py> = Bound<'py, PyArray1<f32>>;
type Ids2<'py> = Bound<'py, PyArray2<i32>>;
type Scores2<'py> = Bound<'py, PyArray2<f32>>;
/// `(score, contributions, user_weights)` of `explain`.
type Explained<'py> = (f32, Vec<(u32, f32)>, Bound<'py, PyArray2<f32>>);

// ---------------------------------------------------------------- errors --

/// The class of `sightline._errors` for a core error: the one table from
/// core variants to Python exceptions.
fn error_class(err: &Error) -> &'static str {
    match err {
        Error::InvalidInput(_) => "InvalidInputError",
        Error::ShapeMismatch(_) => "ShapeMismatchError",
        Error::UnknownId { .. } => "UnknownIdError",
        Error::Config { .. } => "ConfigError",
        Error::ModelFormat(_) => "ModelFormatError",
        Error::Io(io) => match io.kind() {
            std::io::ErrorKind::NotFound => "SightlineFileNotFoundError",
            std::io::ErrorKind::PermissionDenied => "SightlinePermissionError",
            _ => "SightlineIOError",
        },
        Error::Interrupted => "FitInterrupted",
        // The core enum is `#[non_exhaustive]`, so this arm is forced;
        // test_errors.py checks that every code of `ERROR_CODES`
        // (`Error::CODES`) has its own class, so no variant lands here.
        _ => "SightlineError",
    }
}

/// Builds the Python exception for a core error (class from
/// [`error_class`]), with `code` and the variant's fields as attributes.
fn build_error(py: Python<'_>, err: &Error, filename: Option<&Path>) -> PyResult<PyErr> {
    let class = error_class(err);
    let exc = py
        .import("sightline._errors")?
        .getattr(class)?
        .call1((err.to_string(),))?;
    exc.setattr("code", err.code())?;
    match err {
        Error::UnknownId { kind, id } => {
            exc.setattr("kind", kind.to_string())?;
            exc.setattr("id", id.as_str())?;
        }
        Error::Config { field, .. } => exc.setattr("field", field.as_str())?,
        Error::Io(io) => {
            // The core adds the path to the message, which drops the raw OS
            // code; recover the errno from the error kind.
            let name = match io.kind() {
                std::io::ErrorKind::NotFound => Some("ENOENT"),
                std::io::ErrorKind::PermissionDenied => Some("EACCES"),
                std::io::ErrorKind::AlreadyExists => Some("EEXIST"),
                std::io::ErrorKind::IsADirectory => Some("EISDIR"),
                std::io::ErrorKind::NotADirectory => Some("ENOTDIR"),
                _ => None,
            };
            if let Some(errno) = io.raw_os_error() {
                exc.setattr("errno", errno)?;
            } else if let Some(name) = name {
                exc.setattr("errno", py.import("errno")?.getattr(name)?)?;
            }
            if let Some(path) = filename {
                exc.setattr("filename", path.as_os_str())?;
            }
        }
        _ => {}
    }
    Ok(PyErr::from_value(exc))
}

fn py_err(py: Python<'_>, err: Error) -> PyErr {
    build_error(py, &err, None).unwrap_or_else(|e| e)
}

/// One progress step of a long computation (fit, tuning), called from its
/// worker thread: Ctrl-C first, then the caller's callback. An exception
/// is kept in `pending` and stops the computation (returns `false`).
fn progress_step(
    pending: &mut Option<PyErr>,
    callback: impl FnOnce(Python<'_>) -> PyResult<()>,
) -> bool {
    Python::attach(|py| match py.check_signals().and_then(|()| callback(py)) {
        Ok(()) => true,
        Err(e) => {
            *pending = Some(e);
            false
        }
    })
}

/// The exception of a computation that failed with `err`: Ctrl-C becomes
/// `FitInterrupted` (also a `KeyboardInterrupt`, chained from it), an
/// exception of the caller's callback propagates unchanged.
fn stopped(py: Python<'_>, err: Error, pending: Option<PyErr>) -> PyErr {
    match pending {
        Some(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) => {
            let interrupted = py_err(py, Error::Interrupted);
            interrupted.set_cause(py, Some(e));
            interrupted
        }
        Some(e) => e,
        None => py_err(py, err),
    }
}

fn py_err_path(py: Python<'_>, err: Error, path: &Path) -> PyErr {
    build_error(py, &err, Some(path)).unwrap_or_else(|e| e)
}

fn invalid(py: Python<'_>, msg: String) -> PyErr {
    py_err(py, Error::InvalidInput(msg))
}

// ----------------------------------------------------- value conversions --

/// A non-negative Python int as `usize` (an `InvalidInputError` otherwise).
fn to_usize(py: Python<'_>, v: i64, what: &str) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| invalid(py, format!("{what} must be >= 0, got {v}")))
}

/// A Python int as a `u32` row/column index of the model.
fn to_index(py: Python<'_>, v: i64, what: &str) -> PyResult<u32> {
    u32::try_from(v).map_err(|_| invalid(py, format!("{what} {v} is out of range")))
}

fn to_indices(py: Python<'_>, arr: &PyReadonlyArray1<'_, i64>, what: &str) -> PyResult<Vec<u32>> {
    arr.as_array()
        .iter()
        .map(|&v| to_index(py, v, what))
        .collect()
}

fn opt_indices(
    py: Python<'_>,
    arr: &Option<PyReadonlyArray1<'_, i64>>,
    what: &str,
) -> PyResult<Option<Vec<u32>>> {
    arr.as_ref().map(|a| to_indices(py, a, what)).transpose()
}

/// A config field given as a Python int, as `usize`; negative values are a
/// `ConfigError` on that field.
fn config_usize(py: Python<'_>, v: i64, field: &str) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| {
        py_err(
            py,
            Error::Config {
                field: field.into(),
                message: format!("must be a non-negative integer, got {v}"),
            },
        )
    })
}

/// ALS hyper-parameters from a dict in the core's `AlsConfig` schema
/// (missing fields take the core's defaults; `sightline.ALS` maps
/// implicit's `use_cg`/`random_state` onto `solver`/`seed`).
fn als_config(py: Python<'_>, params: &Bound<'_, PyAny>) -> PyResult<AlsConfig> {
    bridge::settings(py, params)
}

/// The hyper-parameters `tune_als` can search, as a dict.
fn searched_params<'py>(py: Python<'py>, c: &AlsConfig) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("factors", c.factors)?;
    d.set_item("regularization", shortest_f64(c.regularization))?;
    d.set_item("alpha", shortest_f64(c.alpha))?;
    d.set_item("unobserved_weight", shortest_f64(c.unobserved_weight))?;
    d.set_item(
        "regularization_exponent",
        shortest_f64(c.regularization_exponent),
    )?;
    d.set_item("init_std", shortest_f64(c.init_std))?;
    d.set_item("iterations", c.iterations)?;
    Ok(d)
}

/// The keyword arguments of `sightline.ALS` for a config (with `seed` for
/// `random_state`).
fn config_params<'py>(py: Python<'py>, c: &AlsConfig) -> PyResult<Bound<'py, PyDict>> {
    let d = searched_params(py, c)?;
    d.set_item("use_cg", matches!(c.solver, Solver::Cg { .. }))?;
    d.set_item("seed", c.seed)?;
    d.set_item("num_threads", c.num_threads)?;
    d.set_item("calculate_training_loss", c.calculate_training_loss)?;
    Ok(d)
}

/// `RankingMetrics` as a dict (`precision`, `recall`, `ndcg`, `map`,
/// `hit_rate`, `coverage`, `users`, `k`).
fn metrics_dict<'py>(py: Python<'py>, m: &RankingMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("precision", m.precision)?;
    d.set_item("recall", m.recall)?;
    d.set_item("ndcg", m.ndcg)?;
    d.set_item("map", m.map)?;
    d.set_item("hit_rate", m.hit_rate)?;
    d.set_item("coverage", m.coverage)?;
    d.set_item("users", m.users)?;
    d.set_item("k", m.k)?;
    Ok(d)
}

/// The `f64` with the shortest decimal form of an `f32` (0.01f32 -> 0.01, not
/// 0.009999999776482582), so parameters read back from a model look as given.
fn shortest_f64(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

fn item_ids_i32(py: Python<'_>, recs: &[(u32, f32)]) -> PyResult<Vec<i32>> {
    recs.iter()
        .map(|&(i, _)| {
            i32::try_from(i).map_err(|_| invalid(py, format!("item index {i} does not fit int32")))
        })
        .collect()
}

fn recs_1d<'py>(py: Python<'py>, recs: Recs) -> PyResult<(Ids1<'py>, Scores1<'py>)> {
    let ids = item_ids_i32(py, &recs)?;
    let scores: Vec<f32> = recs.iter().map(|r| r.1).collect();
    Ok((ids.into_pyarray(py), scores.into_pyarray(py)))
}

/// Rows of results as rectangular arrays `width` wide, padded with id -1 and
/// score -inf.
fn recs_2d<'py>(
    py: Python<'py>,
    rows: Vec<Recs>,
    width: usize,
) -> PyResult<(Ids2<'py>, Scores2<'py>)> {
    let mut ids = Array2::from_elem((rows.len(), width), -1i32);
    let mut scores = Array2::from_elem((rows.len(), width), f32::NEG_INFINITY);
    for (r, recs) in rows.iter().enumerate() {
        for (c, (id, score)) in item_ids_i32(py, recs)?
            .into_iter()
            .zip(recs.iter().map(|x| x.1))
            .enumerate()
            .take(width)
        {
            ids[(r, c)] = id;
            scores[(r, c)] = score;
        }
    }
    Ok((ids.into_pyarray(py), scores.into_pyarray(py)))
}

/// Rows of a CSR matrix given as (indptr, indices, data) numpy arrays.
struct Rows {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f32>,
}

impl Rows {
    fn new(
        py: Python<'_>,
        indptr: &PyReadonlyArray1<'_, i64>,
        indices: &PyReadonlyArray1<'_, i64>,
        data: Option<&PyReadonlyArray1<'_, f32>>,
    ) -> PyResult<Rows> {
        let indptr = indptr
            .as_array()
            .iter()
            .map(|&v| to_usize(py, v, "indptr entry"))
            .collect::<PyResult<Vec<usize>>>()?;
        let indices = to_indices(py, indices, "column index")?;
        let data = data.map(|d| d.as_array().to_vec());
        let nnz = indices.len();
        if let Some(d) = data.as_ref().filter(|d| d.len() != nnz) {
            return Err(py_err(
                py,
                Error::ShapeMismatch(format!("{} values for {nnz} indices", d.len())),
            ));
        }
        if indptr.first() != Some(&0)
            || indptr.last() != Some(&nnz)
            || indptr.windows(2).any(|w| w[0] > w[1])
        {
            return Err(invalid(
                py,
                "indptr must start at 0, be non-decreasing and end at nnz".into(),
            ));
        }
        Ok(Rows {
            indptr,
            indices,
            data: data.unwrap_or_default(),
        })
    }

    fn len(&self) -> usize {
        self.indptr.len() - 1
    }

    fn indices(&self, r: usize) -> &[u32] {
        &self.indices[self.indptr[r]..self.indptr[r + 1]]
    }

    fn data(&self, r: usize) -> &[f32] {
        &self.data[self.indptr[r]..self.indptr[r + 1]]
    }
}

/// Column indices as numpy gives them: int32 is borrowed as-is, int64 is
/// converted.
#[derive(FromPyObject)]
enum IndexArray<'py> {
    I32(PyReadonlyArray1<'py, i32>),
    I64(PyReadonlyArray1<'py, i64>),
}

fn options<'a>(
    filter_liked: bool,
    liked: Option<&'a [u32]>,
    exclude: &'a [u32],
    allow_only: Option<&'a [u32]>,
    filtered_last: bool,
) -> RecommendOptions<'a> {
    RecommendOptions {
        filter_liked,
        liked,
        exclude,
        allow_only,
        filtered_last,
        ..RecommendOptions::default()
    }
}

/// A `rows × k` float32 array as a row-major buffer.
fn matrix_vec(a: &numpy::PyReadonlyArray2<'_, f32>) -> (usize, usize, Vec<f32>) {
    let view = a.as_array();
    let (rows, cols) = view.dim();
    (rows, cols, view.iter().copied().collect())
}

/// `"user"` or `"item"` as the core's side.
fn side_kind(py: Python<'_>, side: &str) -> PyResult<IdKind> {
    match side {
        "user" => Ok(IdKind::User),
        "item" => Ok(IdKind::Item),
        _ => Err(invalid(
            py,
            format!("side must be user or item, got {side:?}"),
        )),
    }
}

// ------------------------------------------------------------------- fit --

/// Fits an ALS model on a CSR user×item matrix given as numpy arrays.
///
/// `progress(iteration, iterations, loss, seconds)` is called between
/// iterations with the GIL held; pending signals (Ctrl-C) are checked there
/// too. Either raising stops the fit and the exception propagates.
#[pyfunction]
#[pyo3(signature = (params, n_rows, n_cols, indptr, indices, data, user_ids=None, item_ids=None, progress=None, user_factors=None, item_factors=None))]
#[allow(clippy::too_many_arguments)]
fn fit(
    py: Python<'_>,
    params: &Bound<'_, PyAny>,
    n_rows: i64,
    n_cols: i64,
    indptr: PyReadonlyArray1<'_, i64>,
    indices: IndexArray<'_>,
    data: PyReadonlyArray1<'_, f32>,
    user_ids: Option<Vec<String>>,
    item_ids: Option<Vec<String>>,
    progress: Option<Py<PyAny>>,
    user_factors: Option<numpy::PyReadonlyArray2<'_, f32>>,
    item_factors: Option<numpy::PyReadonlyArray2<'_, f32>>,
) -> PyResult<Model> {
    let config = als_config(py, params)?;
    // Given factors (both) are where training starts (`AlsModel::fit_warm`),
    // borrowed like the matrix (the Python wrapper passes C-contiguous ones).
    fn contiguous<'a>(a: &'a numpy::PyReadonlyArray2<'_, f32>) -> PyResult<&'a [f32]> {
        a.as_slice()
            .map_err(|e| PyTypeError::new_err(e.to_string()))
    }
    let init = match (&user_factors, &item_factors) {
        (Some(u), Some(i)) => Some((contiguous(u)?, contiguous(i)?)),
        _ => None,
    };
    let n_rows = to_usize(py, n_rows, "number of rows")?;
    let n_cols = to_usize(py, n_cols, "number of columns")?;
    let indptr = indptr
        .as_array()
        .iter()
        .map(|&v| to_usize(py, v, "indptr entry"))
        .collect::<PyResult<Vec<usize>>>()?;
    // The matrix is borrowed, not copied, while training (see CsrRef).
    let converted: Vec<u32>;
    let indices: &[u32] = match &indices {
        IndexArray::I32(a) => {
            let raw = a
                .as_slice()
                .map_err(|e| PyTypeError::new_err(e.to_string()))?;
            if let Some(&v) = raw.iter().find(|&&v| v < 0) {
                return Err(py_err(
                    py,
                    Error::InvalidInput(format!("column index must be >= 0, got {v}")),
                ));
            }
            bytemuck::cast_slice(raw)
        }
        IndexArray::I64(a) => {
            converted = to_indices(py, a, "column index")?;
            &converted
        }
    };
    let data = data
        .as_slice()
        .map_err(|e| PyTypeError::new_err(e.to_string()))?;

    let mut pending: Option<PyErr> = None;
    let result = py.detach(|| {
        let users = user_ids.map_or_else(|| IdMap::range(n_rows), IdMap::from_ids)?;
        let items = item_ids.map_or_else(|| IdMap::range(n_cols), IdMap::from_ids)?;
        let matrix = CsrRef::new(n_rows, n_cols, &indptr, indices, data)?;
        let mut on_progress = |p: &Progress| -> bool {
            progress_step(&mut pending, |py| match &progress {
                Some(f) => f
                    .call1(py, (p.iteration, p.iterations, p.loss, p.seconds))
                    .map(drop),
                None => Ok(()),
            })
        };
        match init {
            Some(factors) => {
                AlsModel::fit_warm(&config, matrix, users, items, factors, &mut on_progress)
            }
            None => AlsModel::fit_csr(&config, matrix, users, items, &mut on_progress),
        }
    });
    result
        .map(Model::new)
        .map_err(|err| stopped(py, err, pending))
}

/// Validates hyper-parameters without fitting (raises `ConfigError`).
#[pyfunction]
fn check_params(py: Python<'_>, params: &Bound<'_, PyAny>) -> PyResult<()> {
    als_config(py, params)?
        .validate()
        .map_err(|e| py_err(py, e))
}

// ------------------------------------------------------------ evaluation --

/// A users×items `Interactions` with default ids from CSR numpy arrays.
fn interactions(
    py: Python<'_>,
    shape: (i64, i64),
    indptr: &PyReadonlyArray1<'_, i64>,
    indices: &PyReadonlyArray1<'_, i64>,
    data: &PyReadonlyArray1<'_, f32>,
) -> PyResult<Interactions> {
    let n_rows = to_usize(py, shape.0, "number of rows")?;
    let n_cols = to_usize(py, shape.1, "number of columns")?;
    let rows = Rows::new(py, indptr, indices, Some(data))?;
    if rows.len() != n_rows {
        return Err(py_err(
            py,
            Error::ShapeMismatch(format!(
                "indptr has {} rows, shape says {n_rows}",
                rows.len()
            )),
        ));
    }
    Csr::from_parts(n_rows, n_cols, rows.indptr, rows.indices, rows.data)
        .and_then(|m| Interactions::from_csr(m, None, None))
        .map_err(|e| py_err(py, e))
}

/// `(indptr, indices, data)` of a CSR matrix, as numpy arrays.
type CsrArrays<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i32>>,
    Bound<'py, PyArray1<f32>>,
);

fn csr_arrays<'py>(py: Python<'py>, m: &Csr) -> CsrArrays<'py> {
    let indptr: Vec<i64> = m.indptr().iter().map(|&p| p as i64).collect();
    let indices: Vec<i32> = m.indices().iter().map(|&i| i as i32).collect();
    (
        indptr.into_pyarray(py),
        indices.into_pyarray(py),
        m.data().to_vec().into_pyarray(py),
    )
}

/// Splits a users×items CSR matrix into train and test (core
/// `train_test_split` with `test_fraction`, `leave_k_out` with `k`, or
/// `leave_last_k_out` with `k` and the entries' `last_seen` times), with
/// the GIL released.
#[pyfunction]
#[pyo3(signature = (shape, indptr, indices, data, seed, test_fraction=None, k=None, last_seen=None))]
#[allow(clippy::too_many_arguments)]
fn split<'py>(
    py: Python<'py>,
    shape: (i64, i64),
    indptr: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    data: PyReadonlyArray1<'py, f32>,
    seed: u64,
    test_fraction: Option<f64>,
    k: Option<i64>,
    last_seen: Option<PyReadonlyArray1<'py, i64>>,
) -> PyResult<(CsrArrays<'py>, CsrArrays<'py>)> {
    let all = interactions(py, shape, &indptr, &indices, &data)?;
    let k = k.map(|k| to_usize(py, k, "K")).transpose()?;
    let last_seen = last_seen.map(|t| t.as_array().to_vec());
    let (train, test) = py
        .detach(|| match (test_fraction, k, last_seen) {
            (Some(f), None, None) => train_test_split(&all, f, seed),
            (None, Some(k), None) => leave_k_out(&all, k, seed),
            (None, Some(k), Some(ts)) => leave_last_k_out(&all.with_last_seen(ts)?, k),
            _ => Err(Error::InvalidInput(
                "give exactly one of test_fraction and k (last_seen only with k)".into(),
            )),
        })
        .map_err(|e| py_err(py, e))?;
    Ok((
        csr_arrays(py, train.matrix()),
        csr_arrays(py, test.matrix()),
    ))
}

/// Ranking metrics at `k` of a fitted model: users with test items are
/// ranked, leaving out their train items (core `ranking_metrics_at_k`).
#[pyfunction]
#[pyo3(signature = (model, shape, train_indptr, train_indices, train_data, test_indptr, test_indices, test_data, k))]
#[allow(clippy::too_many_arguments)]
fn ranking_metrics<'py>(
    py: Python<'py>,
    model: &Model,
    shape: (i64, i64),
    train_indptr: PyReadonlyArray1<'py, i64>,
    train_indices: PyReadonlyArray1<'py, i64>,
    train_data: PyReadonlyArray1<'py, f32>,
    test_indptr: PyReadonlyArray1<'py, i64>,
    test_indices: PyReadonlyArray1<'py, i64>,
    test_data: PyReadonlyArray1<'py, f32>,
    k: i64,
) -> PyResult<Bound<'py, PyDict>> {
    let train = interactions(py, shape, &train_indptr, &train_indices, &train_data)?;
    let test = interactions(py, shape, &test_indptr, &test_indices, &test_data)?;
    let k = to_usize(py, k, "K")?;
    let inner = model.inner();
    if (inner.n_users(), inner.n_items()) != (train.n_users(), train.n_items()) {
        return Err(py_err(
            py,
            Error::ShapeMismatch(format!(
                "model has {}x{} users x items, train_user_items is {}x{}",
                inner.n_users(),
                inner.n_items(),
                train.n_users(),
                train.n_items()
            )),
        ));
    }
    let inner = &*inner;
    let m = py
        .detach(|| ranking_metrics_at_k(inner, &train, &test, k))
        .map_err(|e| py_err(py, e))?;
    metrics_dict(py, &m)
}

/// Ranking metrics at `k` from explicit lists: row `u` of `recs` (a 2-D
/// int64 array; negative entries are padding and dropped) against row `u` of
/// the truth CSR pattern (core `metrics_from_lists`).
#[pyfunction]
fn lists_metrics<'py>(
    py: Python<'py>,
    recs: numpy::PyReadonlyArray2<'py, i64>,
    truth_indptr: PyReadonlyArray1<'py, i64>,
    truth_indices: PyReadonlyArray1<'py, i64>,
    k: i64,
    n_items: i64,
) -> PyResult<Bound<'py, PyDict>> {
    let k = to_usize(py, k, "K")?;
    let n_items = to_usize(py, n_items, "number of items")?;
    let truth = Rows::new(py, &truth_indptr, &truth_indices, None)?;
    let lists: Vec<Vec<u32>> = recs
        .as_array()
        .rows()
        .into_iter()
        .map(|row| {
            row.iter()
                .filter(|&&v| v >= 0)
                .map(|&v| to_index(py, v, "recommended item"))
                .collect()
        })
        .collect::<PyResult<_>>()?;
    let sets: Vec<&[u32]> = (0..truth.len()).map(|r| truth.indices(r)).collect();
    let m = metrics_from_lists(&lists, &sets, k, n_items).map_err(|e| py_err(py, e))?;
    metrics_dict(py, &m)
}

/// implicit's `ranking_metrics_at_k` numbers (`precision`, `map`,
/// `ndcg`, `auc`, `users`) from its lists: row `u` of `recs` (2-D int64,
/// `k` wide) against row `u` of the truth CSR pattern (core
/// `implicit_metrics`).
#[pyfunction]
fn implicit_ranking_metrics<'py>(
    py: Python<'py>,
    recs: numpy::PyReadonlyArray2<'py, i64>,
    truth_indptr: PyReadonlyArray1<'py, i64>,
    truth_indices: PyReadonlyArray1<'py, i64>,
    k: i64,
    n_items: i64,
) -> PyResult<Bound<'py, PyDict>> {
    let k = to_usize(py, k, "K")?;
    let n_items = to_usize(py, n_items, "number of items")?;
    let truth = Rows::new(py, &truth_indptr, &truth_indices, None)?;
    let lists: Vec<Vec<i64>> = recs
        .as_array()
        .rows()
        .into_iter()
        .map(|row| row.to_vec())
        .collect();
    let sets: Vec<&[u32]> = (0..truth.len()).map(|r| truth.indices(r)).collect();
    let m = implicit_metrics(&lists, &sets, k, n_items).map_err(|e| py_err(py, e))?;
    let d = PyDict::new(py);
    d.set_item("precision", m.precision)?;
    d.set_item("map", m.map)?;
    d.set_item("ndcg", m.ndcg)?;
    d.set_item("auc", m.auc)?;
    d.set_item("users", m.users)?;
    Ok(d)
}

// ------------------------------------------------------------------ tune --

/// The core's default search space as a dict of lists.
#[pyfunction]
fn default_param_space(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let s = ParamSpace::default();
    let d = PyDict::new(py);
    let floats = |v: &[f32]| v.iter().map(|&x| shortest_f64(x)).collect::<Vec<f64>>();
    d.set_item("factors", &s.factors)?;
    d.set_item("regularization", floats(&s.regularization))?;
    d.set_item("alpha", floats(&s.alpha))?;
    d.set_item("unobserved_weight", floats(&s.unobserved_weight))?;
    d.set_item(
        "regularization_exponent",
        floats(&s.regularization_exponent),
    )?;
    d.set_item("init_std", floats(&s.init_std))?;
    d.set_item("iterations", &s.iterations)?;
    Ok(d)
}

/// One trial as a dict: the searched parameters, the metrics, `seconds`.
fn trial_dict<'py>(py: Python<'py>, t: &Trial) -> PyResult<Bound<'py, PyDict>> {
    let d = searched_params(py, &t.config)?;
    for (key, value) in metrics_dict(py, &t.metrics)?.iter() {
        d.set_item(key, value)?;
    }
    d.set_item("seconds", t.seconds)?;
    Ok(d)
}

/// Grid or random search (core `tune_als`) with the GIL released.
///
/// Returns `(best_params, trials)`: the `sightline.ALS` keyword arguments
/// of the best config (with `seed`) and one dict per trial.
/// `progress(trial_dict)` is called after every trial with the GIL held;
/// pending signals (Ctrl-C) are checked there too.
#[pyfunction]
#[pyo3(signature = (params, shape, train_indptr, train_indices, train_data, valid_indptr, valid_indices, valid_data, space, search, n_trials, search_seed, metric, k, progress=None))]
#[allow(clippy::too_many_arguments)]
fn tune<'py>(
    py: Python<'py>,
    params: &Bound<'py, PyAny>,
    shape: (i64, i64),
    train_indptr: PyReadonlyArray1<'py, i64>,
    train_indices: PyReadonlyArray1<'py, i64>,
    train_data: PyReadonlyArray1<'py, f32>,
    valid_indptr: PyReadonlyArray1<'py, i64>,
    valid_indices: PyReadonlyArray1<'py, i64>,
    valid_data: PyReadonlyArray1<'py, f32>,
    space: Option<Bound<'py, PyAny>>,
    search: &str,
    n_trials: Option<i64>,
    search_seed: u64,
    metric: &str,
    k: i64,
    progress: Option<Py<PyAny>>,
) -> PyResult<(Bound<'py, PyDict>, Vec<Bound<'py, PyDict>>)> {
    let base = als_config(py, params)?;
    let metric: Metric = metric.parse().map_err(|e| py_err(py, e))?;
    let n_trials = n_trials
        .map(|t| config_usize(py, t, "n_trials"))
        .transpose()?;
    let search = Search::from_name(search, n_trials, search_seed).map_err(|e| py_err(py, e))?;
    let grid = space
        .map(|g| bridge::from_py::<serde_json::Value>(py, &g, "param_grid"))
        .transpose()?;
    let space = ParamSpace::from_grid(grid, &base).map_err(|e| py_err(py, e))?;
    let k = to_usize(py, k, "k")?;
    let train = interactions(py, shape, &train_indptr, &train_indices, &train_data)?;
    let valid = interactions(py, shape, &valid_indptr, &valid_indices, &valid_data)?;

    let mut pending: Option<PyErr> = None;
    let result = py.detach(|| {
        let mut on_trial = |t: &Trial| -> bool {
            progress_step(&mut pending, |py| match &progress {
                Some(f) => f.call1(py, (trial_dict(py, t)?,)).map(drop),
                None => Ok(()),
            })
        };
        tune_als(
            &train,
            &valid,
            &base,
            &space,
            &search,
            metric,
            k,
            &mut on_trial,
        )
    });
    let result = result.map_err(|err| stopped(py, err, pending))?;
    let trials = result
        .trials
        .iter()
        .map(|t| trial_dict(py, t))
        .collect::<PyResult<Vec<_>>>()?;
    Ok((config_params(py, &result.best)?, trials))
}

// ----------------------------------------------------------------- model --

/// A fitted ALS model (thread-safe). Calls work on a snapshot (`inner`);
/// `partial_fit` updates the model in place when nothing else (an engine,
/// a session recommender) shares the snapshot, and copies it otherwise.
#[pyclass(frozen, module = "sightline._sightline", name = "_Model")]
struct Model {
    cell: RwLock<Arc<AlsModel>>,
}

impl Model {
    fn new(model: AlsModel) -> Self {
        Model {
            cell: RwLock::new(Arc::new(model)),
        }
    }

    /// The current model (a poisoned lock still holds a whole model: the
    /// core changes nothing on error and never panics mid-update).
    fn inner(&self) -> Arc<AlsModel> {
        self.cell.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[pymethods]
impl Model {
    /// The hyper-parameters the model was fitted with, as the keyword
    /// arguments of `sightline.ALS` (with `seed` for `random_state`).
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        config_params(py, self.inner().config())
    }

    #[getter]
    fn n_users(&self) -> usize {
        self.inner().n_users()
    }

    #[getter]
    fn n_items(&self) -> usize {
        self.inner().n_items()
    }

    #[getter]
    fn factors(&self) -> usize {
        self.inner().factors()
    }

    #[getter]
    fn has_user_items(&self) -> bool {
        self.inner().user_items().is_some()
    }

    #[getter]
    fn user_factors<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f32>> {
        self.inner().user_factors().to_pyarray(py)
    }

    #[getter]
    fn item_factors<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f32>> {
        self.inner().item_factors().to_pyarray(py)
    }

    #[getter]
    fn user_ids(&self) -> Vec<String> {
        self.inner().users().ids().to_vec()
    }

    #[getter]
    fn item_ids(&self) -> Vec<String> {
        self.inner().items().ids().to_vec()
    }

    /// Top-`n` items of one user: `(ids int32[k], scores float32[k])`.
    #[pyo3(signature = (user, n, filter_liked, liked, exclude, allow_only, filtered_last=false))]
    #[allow(clippy::too_many_arguments)]
    fn recommend<'py>(
        &self,
        py: Python<'py>,
        user: i64,
        n: i64,
        filter_liked: bool,
        liked: Option<PyReadonlyArray1<'py, i64>>,
        exclude: PyReadonlyArray1<'py, i64>,
        allow_only: Option<PyReadonlyArray1<'py, i64>>,
        filtered_last: bool,
    ) -> PyResult<(Ids1<'py>, Scores1<'py>)> {
        let user = to_index(py, user, "userid")?;
        let n = to_usize(py, n, "N")?;
        let liked = opt_indices(py, &liked, "liked item")?;
        let exclude = to_indices(py, &exclude, "filter_items entry")?;
        let allow_only = opt_indices(py, &allow_only, "items entry")?;
        let opts = options(
            filter_liked,
            liked.as_deref(),
            &exclude,
            allow_only.as_deref(),
            filtered_last,
        );
        let recs = self
            .inner()
            .recommend(user, n, &opts)
            .map_err(|e| py_err(py, e))?;
        recs_1d(py, recs)
    }

    /// Top-`n` items of many users as 2-D arrays padded with -1 / -inf.
    /// Without `rows_*` the stored training rows are filtered. With them and
    /// `rows_by_user`, they are a users×items matrix whose row `u` is the
    /// liked set of user `u`; otherwise row `k` is the liked set of `users[k]`.
    #[pyo3(signature = (users, n, filter_liked, exclude, allow_only, rows_indptr=None, rows_indices=None, rows_n_cols=0, rows_by_user=false, filtered_last=false))]
    #[allow(clippy::too_many_arguments)]
    fn recommend_batch<'py>(
        &self,
        py: Python<'py>,
        users: PyReadonlyArray1<'py, i64>,
        n: i64,
        filter_liked: bool,
        exclude: PyReadonlyArray1<'py, i64>,
        allow_only: Option<PyReadonlyArray1<'py, i64>>,
        rows_indptr: Option<PyReadonlyArray1<'py, i64>>,
        rows_indices: Option<PyReadonlyArray1<'py, i64>>,
        rows_n_cols: i64,
        rows_by_user: bool,
        filtered_last: bool,
    ) -> PyResult<(Ids2<'py>, Scores2<'py>)> {
        let users = to_indices(py, &users, "userid")?;
        let n = to_usize(py, n, "N")?;
        let exclude = to_indices(py, &exclude, "filter_items entry")?;
        let allow_only = opt_indices(py, &allow_only, "items entry")?;
        let rows = match (&rows_indptr, &rows_indices) {
            (Some(p), Some(i)) => Some(Rows::new(py, p, i, None)?),
            _ => None,
        };
        let rows_n_cols = to_usize(py, rows_n_cols, "number of columns")?;
        let model = &self.inner();
        let result = py.detach(|| match rows {
            None => model.recommend_batch(
                &users,
                n,
                &options(
                    filter_liked,
                    None,
                    &exclude,
                    allow_only.as_deref(),
                    filtered_last,
                ),
            ),
            Some(rows) => {
                // Only the pattern matters for filtering; weights are 1.
                let data = vec![1.0; rows.indices.len()];
                let matrix =
                    Csr::from_parts(rows.len(), rows_n_cols, rows.indptr, rows.indices, data)?;
                let liked_rows = if rows_by_user {
                    LikedRows::ByUser(&matrix)
                } else {
                    LikedRows::ByPosition(&matrix)
                };
                let opts = RecommendOptions {
                    liked_rows: Some(liked_rows),
                    ..options(
                        filter_liked,
                        None,
                        &exclude,
                        allow_only.as_deref(),
                        filtered_last,
                    )
                };
                model.recommend_batch(&users, n, &opts)
            }
        });
        let recs = result.map_err(|e| py_err(py, e))?;
        recs_2d(py, recs, n.min(model.n_items()))
    }

    /// Recommendations for users recomputed from their interactions (one CSR
    /// row each; `fold_in` + `recommend_vector`, filtering the row's items).
    /// 2-D arrays padded with -1 / -inf.
    #[pyo3(signature = (indptr, indices, data, n, filter_liked, exclude, allow_only, filtered_last=false))]
    #[allow(clippy::too_many_arguments)]
    fn recommend_recalculated<'py>(
        &self,
        py: Python<'py>,
        indptr: PyReadonlyArray1<'py, i64>,
        indices: PyReadonlyArray1<'py, i64>,
        data: PyReadonlyArray1<'py, f32>,
        n: i64,
        filter_liked: bool,
        exclude: PyReadonlyArray1<'py, i64>,
        allow_only: Option<PyReadonlyArray1<'py, i64>>,
        filtered_last: bool,
    ) -> PyResult<(Ids2<'py>, Scores2<'py>)> {
        let rows = Rows::new(py, &indptr, &indices, Some(&data))?;
        let n = to_usize(py, n, "N")?;
        let exclude = to_indices(py, &exclude, "filter_items entry")?;
        let allow_only = opt_indices(py, &allow_only, "items entry")?;
        let model = &self.inner();
        let result: sightline::Result<Vec<Recs>> = py.detach(|| {
            (0..rows.len())
                .map(|k| {
                    let vector = model.fold_in(rows.indices(k), rows.data(k))?;
                    let opts = options(
                        filter_liked,
                        Some(rows.indices(k)),
                        &exclude,
                        allow_only.as_deref(),
                        filtered_last,
                    );
                    model.recommend_vector(&vector, n, &opts)
                })
                .collect()
        });
        let recs = result.map_err(|e| py_err(py, e))?;
        recs_2d(py, recs, n.min(model.n_items()))
    }

    /// Re-solves rows against the fixed other side (`side` "user" or
    /// "item"; implicit's `partial_fit_users` / `partial_fit_items`), by
    /// index when `targets` is given, else by id; returns the rows'
    /// indices. In place unless the snapshot is shared (then a copy is
    /// updated and swapped in, and the sharers keep the old model); an
    /// error changes nothing. Concurrent calls see the old or the new model.
    #[pyo3(signature = (side, indptr, indices, data, n_cols, targets=None, ids=None))]
    #[allow(clippy::too_many_arguments)]
    fn partial_fit<'py>(
        &self,
        py: Python<'py>,
        side: &str,
        indptr: PyReadonlyArray1<'py, i64>,
        indices: PyReadonlyArray1<'py, i64>,
        data: PyReadonlyArray1<'py, f32>,
        n_cols: i64,
        targets: Option<PyReadonlyArray1<'py, i64>>,
        ids: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let rows = Rows::new(py, &indptr, &indices, Some(&data))?;
        let n_cols = to_usize(py, n_cols, "number of columns")?;
        let targets = opt_indices(py, &targets, &format!("{side}id"))?;
        let cell = &self.cell;
        let done = py
            .detach(|| -> sightline::Result<Vec<u32>> {
                let matrix =
                    CsrRef::new(rows.len(), n_cols, &rows.indptr, &rows.indices, &rows.data)?;
                let mut guard = cell.write().unwrap_or_else(|e| e.into_inner());
                let model = Arc::make_mut(&mut guard);
                match (side, targets, ids) {
                    ("user", Some(t), _) => model.partial_fit_users(&t, matrix).map(|()| t),
                    ("item", Some(t), _) => model.partial_fit_items(&t, matrix).map(|()| t),
                    ("user", None, Some(ids)) => model.partial_fit_users_by_id(&ids, matrix),
                    ("item", None, Some(ids)) => model.partial_fit_items_by_id(&ids, matrix),
                    _ => Err(Error::InvalidInput(format!(
                        "partial_fit: side must be user or item with targets or ids, got {side:?}"
                    ))),
                }
            })
            .map_err(|e| py_err(py, e))?;
        let done: Vec<i64> = done.into_iter().map(i64::from).collect();
        Ok(done.into_pyarray(py))
    }

    /// Why `user`'s history (`items`/`weights`, or the stored training row
    /// of `user` when `items` is None) scores `item`: the score, the `n`
    /// largest per-liked-item contributions and the Cholesky factor `L` of
    /// the user's system (`k×k`, lower), which may be passed back.
    #[pyo3(signature = (user, items, weights, item, n, user_weights=None))]
    #[allow(clippy::too_many_arguments)]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        user: i64,
        items: Option<PyReadonlyArray1<'py, i64>>,
        weights: Option<PyReadonlyArray1<'py, f32>>,
        item: i64,
        n: i64,
        user_weights: Option<numpy::PyReadonlyArray2<'py, f32>>,
    ) -> PyResult<Explained<'py>> {
        let model = &self.inner();
        let item = to_index(py, item, "itemid")?;
        let n = to_usize(py, n, "N")?;
        let (items, weights) = match (items, weights) {
            (Some(i), Some(w)) => (to_indices(py, &i, "item index")?, w.as_array().to_vec()),
            _ => {
                let u = to_index(py, user, "userid")?;
                model.user_vector(u).map_err(|e| py_err(py, e))?;
                let stored = model.user_items().ok_or_else(|| {
                    invalid(
                        py,
                        "the model keeps no training interactions: pass user_items".into(),
                    )
                })?;
                let (cols, ws) = stored.row(u as usize);
                (cols.to_vec(), ws.to_vec())
            }
        };
        let user_weights = match user_weights {
            None => None,
            Some(a) => {
                let (rows, cols) = a.as_array().dim();
                if rows != cols {
                    return Err(py_err(
                        py,
                        Error::ShapeMismatch(format!(
                            "user_weights must be square, got {rows} x {cols}"
                        )),
                    ));
                }
                let factor = a.as_array().iter().copied().collect();
                Some(UserWeights::from_factor(rows, factor).map_err(|e| py_err(py, e))?)
            }
        };
        let e = py
            .detach(|| model.explain(&items, &weights, item, n, user_weights.as_ref()))
            .map_err(|e| py_err(py, e))?;
        let k = e.user_weights.k();
        let factor = Array2::from_shape_vec((k, k), e.user_weights.factor().to_vec())
            .map_err(|err| invalid(py, err.to_string()))?;
        Ok((e.score, e.contributions, factor.into_pyarray(py)))
    }

    /// The user factor vector for a set of (item, weight) interactions.
    fn fold_in<'py>(
        &self,
        py: Python<'py>,
        items: PyReadonlyArray1<'py, i64>,
        weights: PyReadonlyArray1<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let items = to_indices(py, &items, "item index")?;
        let weights = weights.as_array().to_vec();
        let v = self
            .inner()
            .fold_in(&items, &weights)
            .map_err(|e| py_err(py, e))?;
        Ok(v.into_pyarray(py))
    }

    /// A model serving given factors (`n_users × k`, `n_items × k`; k is
    /// the arrays' width) and no stored interactions, with the given ids
    /// (one per row; duplicates are an error) or `"0"`, `"1"`, ...
    #[staticmethod]
    #[pyo3(signature = (params, user_factors, item_factors, user_ids=None, item_ids=None))]
    fn from_factors(
        py: Python<'_>,
        params: &Bound<'_, PyAny>,
        user_factors: numpy::PyReadonlyArray2<'_, f32>,
        item_factors: numpy::PyReadonlyArray2<'_, f32>,
        user_ids: Option<Vec<String>>,
        item_ids: Option<Vec<String>>,
    ) -> PyResult<Model> {
        let (nu, ku, uf) = matrix_vec(&user_factors);
        let (ni, ki, itf) = matrix_vec(&item_factors);
        if ku != ki {
            return Err(py_err(
                py,
                Error::ShapeMismatch(format!(
                    "user factors have {ku} columns but item factors {ki}"
                )),
            ));
        }
        let config = AlsConfig {
            factors: ku,
            ..als_config(py, params)?
        };
        let ids = |given: Option<Vec<String>>, n| match given {
            Some(ids) => IdMap::from_ids(ids),
            None => IdMap::range(n),
        };
        let users = ids(user_ids, nu).map_err(|e| py_err(py, e))?;
        let items = ids(item_ids, ni).map_err(|e| py_err(py, e))?;
        AlsModel::from_factors(config, users, items, uf, itf)
            .map(Model::new)
            .map_err(|e| py_err(py, e))
    }

    /// The `n` most similar entries of `side` ("user" or "item") to each
    /// query (core `AlsModel::similar`): 2-D arrays `n` wide padded with
    /// -1 / -inf. `vectors` (one row per query) replace the queries'
    /// factors.
    #[pyo3(signature = (side, queries, n, include_self, exclude, allow_only, filtered_last, vectors=None))]
    #[allow(clippy::too_many_arguments)]
    fn similar<'py>(
        &self,
        py: Python<'py>,
        side: &str,
        queries: PyReadonlyArray1<'py, i64>,
        n: i64,
        include_self: bool,
        exclude: PyReadonlyArray1<'py, i64>,
        allow_only: Option<PyReadonlyArray1<'py, i64>>,
        filtered_last: bool,
        vectors: Option<numpy::PyReadonlyArray2<'py, f32>>,
    ) -> PyResult<(Ids2<'py>, Scores2<'py>)> {
        let side = side_kind(py, side)?;
        let queries = to_indices(py, &queries, "query index")?;
        let n = to_usize(py, n, "N")?;
        let exclude = to_indices(py, &exclude, "filter entry")?;
        let allow_only = opt_indices(py, &allow_only, "allowed entry")?;
        let vectors = vectors.as_ref().map(|v| matrix_vec(v).2);
        let model = &self.inner();
        let opts = SimilarOptions {
            include_self,
            exclude: &exclude,
            allow_only: allow_only.as_deref(),
            filtered_last,
            vectors: vectors.as_deref(),
        };
        let recs = py
            .detach(|| model.similar(side, &queries, n, &opts))
            .map_err(|e| py_err(py, e))?;
        recs_2d(py, recs, n)
    }

    /// Factors solved from histories without storing them (core
    /// `AlsModel::recalculate`): one row per CSR row, `(rows, k)` float32.
    fn recalculate<'py>(
        &self,
        py: Python<'py>,
        side: &str,
        indptr: PyReadonlyArray1<'py, i64>,
        indices: PyReadonlyArray1<'py, i64>,
        data: PyReadonlyArray1<'py, f32>,
        n_cols: i64,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let side = side_kind(py, side)?;
        let rows = Rows::new(py, &indptr, &indices, Some(&data))?;
        let n_cols = to_usize(py, n_cols, "number of columns")?;
        let model = &self.inner();
        let solved = py
            .detach(|| {
                let matrix =
                    CsrRef::new(rows.len(), n_cols, &rows.indptr, &rows.indices, &rows.data)?;
                model.recalculate(side, matrix)
            })
            .map_err(|e| py_err(py, e))?;
        Array2::from_shape_vec((rows.len(), model.factors()), solved)
            .map(|a| a.into_pyarray(py))
            .map_err(|err| invalid(py, err.to_string()))
    }

    /// Most similar items (cosine) to one item, excluding the item itself.
    fn similar_items<'py>(
        &self,
        py: Python<'py>,
        item: i64,
        n: i64,
    ) -> PyResult<(Ids1<'py>, Scores1<'py>)> {
        let item = to_index(py, item, "itemid")?;
        let n = to_usize(py, n, "N")?;
        let recs = self
            .inner()
            .similar_items(item, n)
            .map_err(|e| py_err(py, e))?;
        recs_1d(py, recs)
    }

    /// Most similar users (cosine) to one user, excluding the user itself.
    fn similar_users<'py>(
        &self,
        py: Python<'py>,
        user: i64,
        n: i64,
    ) -> PyResult<(Ids1<'py>, Scores1<'py>)> {
        let user = to_index(py, user, "userid")?;
        let n = to_usize(py, n, "N")?;
        let model = &self.inner();
        let recs = py
            .detach(|| model.similar_users(user, n))
            .map_err(|e| py_err(py, e))?;
        recs_1d(py, recs)
    }

    /// `similar_items` for many items: 2-D arrays padded with -1 / -inf.
    fn similar_items_batch<'py>(
        &self,
        py: Python<'py>,
        items: PyReadonlyArray1<'py, i64>,
        n: i64,
    ) -> PyResult<(Ids2<'py>, Scores2<'py>)> {
        let items = to_indices(py, &items, "itemid")?;
        let n = to_usize(py, n, "N")?;
        let model = &self.inner();
        let result = py.detach(|| model.similar_items_batch(&items, n));
        let recs = result.map_err(|e| py_err(py, e))?;
        recs_2d(py, recs, n.min(model.n_items().saturating_sub(1)))
    }

    /// Top-`n` `(item_id, score)` pairs for a user id.
    fn recommend_by_id(
        &self,
        py: Python<'_>,
        user_id: &str,
        n: i64,
        filter_liked: bool,
    ) -> PyResult<Vec<(String, f32)>> {
        let n = to_usize(py, n, "N")?;
        let opts = options(filter_liked, None, &[], None, false);
        self.inner()
            .recommend_by_id(user_id, n, &opts)
            .map_err(|e| py_err(py, e))
    }

    /// Top-`n` `(item_id, score)` pairs most similar to an item id.
    fn similar_items_by_id(
        &self,
        py: Python<'_>,
        item_id: &str,
        n: i64,
    ) -> PyResult<Vec<(String, f32)>> {
        let n = to_usize(py, n, "N")?;
        self.inner()
            .similar_items_by_id(item_id, n)
            .map_err(|e| py_err(py, e))
    }

    /// The portable model file as bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        component_to_bytes(py, &*self.inner())
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Model> {
        component_from_bytes(py, data).map(Model::new)
    }

    /// Writes the model file atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        component_save(py, &*self.inner(), &path)
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Model> {
        component_load(py, &path).map(Model::new)
    }
}

// ----------------------------------------------------------- model files --

/// `Component::to_bytes` with the GIL released.
fn component_to_bytes<'py, C: Component + Sync>(
    py: Python<'py>,
    c: &C,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = py.detach(|| c.to_bytes()).map_err(|e| py_err(py, e))?;
    Ok(PyBytes::new(py, &bytes))
}

/// `Component::from_bytes` with the GIL released.
fn component_from_bytes<C: Component + Send>(py: Python<'_>, data: &[u8]) -> PyResult<C> {
    py.detach(|| C::from_bytes(data)).map_err(|e| py_err(py, e))
}

/// `Component::save` with the GIL released; errors name the path.
fn component_save<C: Component + Sync>(py: Python<'_>, c: &C, path: &Path) -> PyResult<()> {
    py.detach(|| c.save(path))
        .map_err(|e| py_err_path(py, e, path))
}

/// `Component::load` with the GIL released; errors name the path.
fn component_load<C: Component + Send>(py: Python<'_>, path: &Path) -> PyResult<C> {
    py.detach(|| C::load(path))
        .map_err(|e| py_err_path(py, e, path))
}

// --------------------------------------------------------- co-occurrence --

fn config_err(py: Python<'_>, field: &str, message: String) -> PyErr {
    py_err(
        py,
        Error::Config {
            field: field.into(),
            message,
        },
    )
}

/// The hyper-parameters of `sightline.CoOccurrence`, taken from a dict.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct CooccurParams {
    weighting: String,
    min_support: i64,
    max_neighbors: i64,
    k1: f32,
    b: f32,
}

impl CooccurParams {
    fn to_config(&self, py: Python<'_>) -> PyResult<CooccurConfig> {
        let weighting = match self.weighting.as_str() {
            "bm25" => Weighting::Bm25 {
                k1: self.k1,
                b: self.b,
            },
            "count" => Weighting::Count,
            "lift" => Weighting::Lift,
            "cosine" => Weighting::Cosine,
            other => {
                return Err(config_err(
                    py,
                    "weighting",
                    format!("expected \"bm25\", \"count\", \"lift\" or \"cosine\", got {other:?}"),
                ))
            }
        };
        let min_support = u32::try_from(self.min_support).map_err(|_| {
            config_err(
                py,
                "min_support",
                format!("must be in 1..=4294967295, got {}", self.min_support),
            )
        })?;
        Ok(CooccurConfig {
            weighting,
            min_support,
            max_neighbors: config_usize(py, self.max_neighbors, "max_neighbors")?,
        })
    }
}

/// The keyword arguments of `sightline.CoOccurrence` for a config (`k1`
/// and `b` are the defaults unless the weighting is BM25).
fn cooccur_params<'py>(py: Python<'py>, c: &CooccurConfig) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (name, k1, b) = match c.weighting {
        Weighting::Bm25 { k1, b } => ("bm25", k1, b),
        Weighting::Count => ("count", 1.2, 0.75),
        Weighting::Lift => ("lift", 1.2, 0.75),
        Weighting::Cosine => ("cosine", 1.2, 0.75),
    };
    d.set_item("weighting", name)?;
    d.set_item("min_support", c.min_support)?;
    d.set_item("max_neighbors", c.max_neighbors)?;
    d.set_item("k1", shortest_f64(k1))?;
    d.set_item("b", shortest_f64(b))?;
    Ok(d)
}

/// Validates co-occurrence hyper-parameters without fitting (raises
/// `ConfigError`).
#[pyfunction]
fn cooccur_check_params(py: Python<'_>, params: CooccurParams) -> PyResult<()> {
    params.to_config(py)?.validate().map_err(|e| py_err(py, e))
}

/// Fits a co-occurrence model on a CSR baskets×items matrix given as numpy
/// arrays (every row is one basket), with the GIL released.
#[pyfunction]
#[pyo3(signature = (params, n_rows, n_cols, indptr, indices, data, item_ids=None))]
#[allow(clippy::too_many_arguments)]
fn cooccur_fit(
    py: Python<'_>,
    params: CooccurParams,
    n_rows: i64,
    n_cols: i64,
    indptr: PyReadonlyArray1<'_, i64>,
    indices: PyReadonlyArray1<'_, i64>,
    data: PyReadonlyArray1<'_, f32>,
    item_ids: Option<Vec<String>>,
) -> PyResult<CooccurHandle> {
    let config = params.to_config(py)?;
    let n_rows = to_usize(py, n_rows, "number of rows")?;
    let n_cols = to_usize(py, n_cols, "number of columns")?;
    let rows = Rows::new(py, &indptr, &indices, Some(&data))?;
    if rows.len() != n_rows {
        return Err(py_err(
            py,
            Error::ShapeMismatch(format!(
                "indptr has {} rows, shape says {n_rows}",
                rows.len()
            )),
        ));
    }
    let result = py.detach(|| {
        let items = item_ids.map(IdMap::from_ids).transpose()?;
        let matrix = Csr::from_parts(n_rows, n_cols, rows.indptr, rows.indices, rows.data)?;
        let data = Interactions::from_csr(matrix, None, items)?;
        CooccurModel::fit(&config, &data)
    });
    result
        .map(|inner| CooccurHandle {
            inner: Arc::new(inner),
        })
        .map_err(|e| py_err(py, e))
}

/// A fitted co-occurrence model (immutable; thread-safe).
#[pyclass(frozen, module = "sightline._sightline", name = "_Cooccur")]
struct CooccurHandle {
    inner: Arc<CooccurModel>,
}

#[pymethods]
impl CooccurHandle {
    /// The hyper-parameters as the keyword arguments of
    /// `sightline.CoOccurrence`.
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        cooccur_params(py, self.inner.config())
    }

    #[getter]
    fn n_items(&self) -> usize {
        self.inner.n_items()
    }

    #[getter]
    fn item_ids(&self) -> Vec<String> {
        self.inner.items().ids().to_vec()
    }

    /// Number of stored (item, neighbour) pairs.
    #[getter]
    fn nnz(&self) -> usize {
        self.inner.neighbors().nnz()
    }

    /// Best `n` neighbours of one item: `(ids int32[k], scores float32[k])`.
    fn similar_items<'py>(
        &self,
        py: Python<'py>,
        item: i64,
        n: i64,
    ) -> PyResult<(Ids1<'py>, Scores1<'py>)> {
        let item = to_index(py, item, "itemid")?;
        let n = to_usize(py, n, "N")?;
        let recs = self
            .inner
            .similar_items(item, n)
            .map_err(|e| py_err(py, e))?;
        recs_1d(py, recs)
    }

    /// `similar_items` for many items (GIL released): 2-D arrays padded
    /// with -1 / -inf.
    fn similar_items_batch<'py>(
        &self,
        py: Python<'py>,
        items: PyReadonlyArray1<'py, i64>,
        n: i64,
    ) -> PyResult<(Ids2<'py>, Scores2<'py>)> {
        let items = to_indices(py, &items, "itemid")?;
        let n = to_usize(py, n, "N")?;
        let model = &self.inner;
        let result: Result<Vec<Recs>, Error> =
            py.detach(|| items.iter().map(|&i| model.similar_items(i, n)).collect());
        let recs = result.map_err(|e| py_err(py, e))?;
        recs_2d(py, recs, n.min(model.n_items().saturating_sub(1)))
    }

    /// Items that go with weighted context items, leaving out `exclude`.
    fn recommend_for_items<'py>(
        &self,
        py: Python<'py>,
        items: PyReadonlyArray1<'py, i64>,
        weights: PyReadonlyArray1<'py, f32>,
        n: i64,
        exclude: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<(Ids1<'py>, Scores1<'py>)> {
        let items = to_indices(py, &items, "itemids entry")?;
        let weights = weights.as_array().to_vec();
        let n = to_usize(py, n, "N")?;
        let exclude = to_indices(py, &exclude, "filter_items entry")?;
        let recs = self
            .inner
            .recommend_for_items(&items, &weights, n, &exclude)
            .map_err(|e| py_err(py, e))?;
        recs_1d(py, recs)
    }

    /// `similar_items` by string id: `(item_id, score)` pairs.
    fn similar_items_by_id(
        &self,
        py: Python<'_>,
        item_id: &str,
        n: i64,
    ) -> PyResult<Vec<(String, f32)>> {
        let n = to_usize(py, n, "N")?;
        self.inner
            .similar_items_by_id(item_id, n)
            .map_err(|e| py_err(py, e))
    }

    /// `recommend_for_items` by string ids (unknown ids in `exclude` are
    /// ignored).
    fn recommend_for_items_by_id(
        &self,
        py: Python<'_>,
        item_ids: Vec<String>,
        weights: PyReadonlyArray1<'_, f32>,
        n: i64,
        exclude: Vec<String>,
    ) -> PyResult<Vec<(String, f32)>> {
        let n = to_usize(py, n, "N")?;
        let weights = weights.as_array().to_vec();
        self.inner
            .recommend_for_items_by_id(&item_ids, &weights, n, &exclude)
            .map_err(|e| py_err(py, e))
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        component_to_bytes(py, &*self.inner)
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<CooccurHandle> {
        component_from_bytes(py, data).map(|inner| CooccurHandle {
            inner: Arc::new(inner),
        })
    }

    /// Writes the model file (only this component) atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        component_save(py, &*self.inner, &path)
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<CooccurHandle> {
        component_load(py, &path).map(|inner| CooccurHandle {
            inner: Arc::new(inner),
        })
    }
}

// -------------------------------------------------------------- trending --

/// The settings of `sightline.Trending`, taken from a dict. `weights` maps
/// event kinds to weights (view, click, add_to_cart, purchase; other names
/// are custom kinds; missing fixed kinds keep their defaults);
/// `region_parent` `None` is the core's default map.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct TrendingParams {
    half_life_hours: f64,
    half_life_by_kind: BTreeMap<String, f64>,
    weights: BTreeMap<String, f32>,
    window_hours: f64,
    baseline_hours: f64,
    smoothing: f64,
    max_items_per_segment: i64,
    max_segments: i64,
    min_segment_weight: f64,
    region_parent: Option<BTreeMap<String, String>>,
}

impl TrendingParams {
    fn to_config(&self, py: Python<'_>) -> PyResult<TrendingConfig> {
        Ok(TrendingConfig {
            half_life_hours: self.half_life_hours,
            half_life_by_kind: self.half_life_by_kind.clone(),
            weights: KindWeights::from_flat(&self.weights),
            window_hours: self.window_hours,
            baseline_hours: self.baseline_hours,
            smoothing: self.smoothing,
            max_items_per_segment: config_usize(
                py,
                self.max_items_per_segment,
                "max_items_per_segment",
            )?,
            max_segments: config_usize(py, self.max_segments, "max_segments")?,
            min_segment_weight: self.min_segment_weight,
            region_parent: self.region_parent.clone().unwrap_or_default(),
        })
    }
}

/// Kind weights as one flat dict (`KindWeights::to_flat`), floats as the
/// user wrote them.
fn flat_weights<'py>(py: Python<'py>, w: &KindWeights) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in w.to_flat() {
        d.set_item(k, shortest_f64(v))?;
    }
    Ok(d)
}

/// The keyword arguments of `sightline.Trending` for a config.
fn trending_params<'py>(py: Python<'py>, c: &TrendingConfig) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("half_life_hours", c.half_life_hours)?;
    d.set_item("window_hours", c.window_hours)?;
    d.set_item("baseline_hours", c.baseline_hours)?;
    d.set_item("max_items_per_segment", c.max_items_per_segment)?;
    d.set_item("max_segments", c.max_segments)?;
    d.set_item("min_segment_weight", c.min_segment_weight)?;
    d.set_item("smoothing", c.smoothing)?;
    d.set_item("half_life_by_kind", c.half_life_by_kind.clone())?;
    d.set_item("weights", flat_weights(py, &c.weights)?)?;
    d.set_item("region_parent", c.region_parent.clone())?;
    Ok(d)
}

fn channel(py: Python<'_>, c: Option<&str>) -> PyResult<Option<Channel>> {
    c.map(Channel::parse).transpose().map_err(|e| py_err(py, e))
}

#[allow(clippy::too_many_arguments)]
fn event(
    py: Python<'_>,
    user: String,
    item: String,
    kind: &str,
    timestamp: i64,
    region: Option<String>,
    channel_name: Option<&str>,
    session: Option<String>,
) -> PyResult<Event> {
    Ok(Event {
        user,
        item,
        kind: EventKind::parse(kind),
        timestamp,
        region,
        channel: channel(py, channel_name)?,
        session,
    })
}

/// The events of an `ingest_batch` call: parallel columns, one entry per
/// event (optional columns `None` or one entry each); `EventColumns` checks
/// them.
#[allow(clippy::too_many_arguments)]
fn events_from_columns(
    py: Python<'_>,
    users: Vec<String>,
    items: Vec<String>,
    kinds: Vec<String>,
    timestamps: &PyReadonlyArray1<'_, i64>,
    regions: Option<Vec<Option<String>>>,
    channels: Option<Vec<Option<String>>>,
    sessions: Option<Vec<Option<String>>>,
) -> PyResult<Vec<Event>> {
    EventColumns {
        users,
        items,
        kinds: Some(kinds),
        timestamps: Some(timestamps.as_array().to_vec()),
        weights: None,
        regions,
        channels,
        sessions,
    }
    .into_events()
    .map_err(|e| py_err(py, e))
}

fn trending_result(r: TrendingResult) -> Ranked {
    (r.items, r.level, r.level_weight)
}

/// A trending store: mutable (ingest), guarded by a mutex so it can be
/// shared between threads; every call runs with the GIL released.
#[pyclass(frozen, module = "sightline._sightline", name = "_Trending")]
struct TrendingHandle {
    inner: Mutex<TrendingStore>,
}

impl TrendingHandle {
    fn wrap(store: TrendingStore) -> TrendingHandle {
        TrendingHandle {
            inner: Mutex::new(store),
        }
    }

    /// The store, also after a panic elsewhere (every core mutation is
    /// all-or-nothing, so the store is consistent).
    fn lock(&self) -> MutexGuard<'_, TrendingStore> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut TrendingStore) -> R + Send) -> R {
        py.detach(|| f(&mut self.lock()))
    }
}

#[pymethods]
impl TrendingHandle {
    /// An empty store. `catalog`: item row dicts (ids and categories count).
    #[new]
    #[pyo3(signature = (params, catalog=None))]
    fn new(
        py: Python<'_>,
        params: TrendingParams,
        catalog: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<TrendingHandle> {
        let config = params.to_config(py)?;
        let cat = catalog.map(|rows| bridge::catalog(py, rows)).transpose()?;
        TrendingStore::new(config, cat.as_ref())
            .map(TrendingHandle::wrap)
            .map_err(|e| py_err(py, e))
    }

    /// Validates settings without building a store (raises `ConfigError`).
    #[staticmethod]
    fn check_params(py: Python<'_>, params: TrendingParams) -> PyResult<()> {
        params.to_config(py)?.validate().map_err(|e| py_err(py, e))
    }

    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let config = self.with(py, |s| s.config().clone());
        trending_params(py, &config)
    }

    #[getter]
    fn item_ids(&self, py: Python<'_>) -> Vec<String> {
        self.with(py, |s| s.items().ids().to_vec())
    }

    /// Level names of the segments that received events, in creation order.
    #[getter]
    fn segments(&self, py: Python<'_>) -> Vec<String> {
        self.with(py, |s| s.segments().iter().map(|g| g.name()).collect())
    }

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
    ) -> PyResult<()> {
        let e = event(py, user, item, kind, timestamp, region, channel, session)?;
        self.with(py, |s| s.ingest(&e)).map_err(|e| py_err(py, e))
    }

    /// Parallel columns, one entry per event; all or nothing.
    #[pyo3(signature = (users, items, kinds, timestamps, regions=None, channels=None, sessions=None))]
    #[allow(clippy::too_many_arguments)]
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
        let n = events.len();
        self.with(py, |s| s.ingest_batch(&events))
            .map_err(|e| py_err(py, e))?;
        Ok(n)
    }

    /// `(items, level, level_weight)` of the most popular items at `now`.
    #[pyo3(signature = (region, channel, category, n, now, trending))]
    #[allow(clippy::too_many_arguments)]
    fn query(
        &self,
        py: Python<'_>,
        region: Option<String>,
        channel: Option<&str>,
        category: Option<String>,
        n: i64,
        now: i64,
        trending: bool,
    ) -> PyResult<Ranked> {
        let q = TrendingQuery {
            region,
            channel: self::channel(py, channel)?,
            category,
            n: to_usize(py, n, "N")?,
            now,
        };
        self.with(py, |s| {
            if trending {
                s.trending_now(&q)
            } else {
                s.popular(&q)
            }
        })
        .map(trending_result)
        .map_err(|e| py_err(py, e))
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.with(py, |s| s.to_bytes()).map_err(|e| py_err(py, e))?;
        Ok(PyBytes::new(py, &bytes))
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<TrendingHandle> {
        component_from_bytes(py, data).map(TrendingHandle::wrap)
    }

    /// Writes the store file (only this component) atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let mut file = ModelFile::new();
        self.with(py, |s| s.write_to(&mut file))
            .map_err(|e| py_err(py, e))?;
        py.detach(|| file.save(&path))
            .map_err(|e| py_err_path(py, e, &path))
    }

    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<TrendingHandle> {
        component_load(py, &path).map(TrendingHandle::wrap)
    }
}

/// Native part of the sightline Python package.
#[pymodule]
fn _sightline(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ERROR_CODES", Error::CODES.to_vec())?;
    m.add_class::<Model>()?;
    m.add_class::<CooccurHandle>()?;
    m.add_class::<TrendingHandle>()?;
    m.add_class::<content::ContentHandle>()?;
    m.add_function(wrap_pyfunction!(content::content_build, m)?)?;
    m.add_function(wrap_pyfunction!(content::content_check_params, m)?)?;
    m.add_function(wrap_pyfunction!(demo::demo_data, m)?)?;
    m.add_function(wrap_pyfunction!(demo::demo_engine_config, m)?)?;
    m.add_function(wrap_pyfunction!(interactions::interactions_build, m)?)?;
    m.add_function(wrap_pyfunction!(interactions::kind_weights, m)?)?;
    m.add_class::<session::SessionHandle>()?;
    m.add_class::<session::SessionRecommenderHandle>()?;
    m.add_class::<engine::EngineHandle>()?;
    m.add_function(wrap_pyfunction!(cooccur_fit, m)?)?;
    m.add_function(wrap_pyfunction!(cooccur_check_params, m)?)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(check_params, m)?)?;
    m.add_function(wrap_pyfunction!(ranking_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(split, m)?)?;
    m.add_function(wrap_pyfunction!(lists_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(implicit_ranking_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(default_param_space, m)?)?;
    m.add_function(wrap_pyfunction!(tune, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
