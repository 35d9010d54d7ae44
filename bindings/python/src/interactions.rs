//! Event tables into a users×items matrix (`sightline.Interactions`), by the
//! core's `InteractionsBuilder`: the same kind weights, summing and id order
//! as every other runtime.

use sightline::data::{EventColumns, InteractionsBuilder};

use super::*;

/// Builds the matrix from parallel event columns (GIL released). Returns a
/// dict with `shape`, `indptr`, `indices`, `data`, `user_ids`, `item_ids`
/// and `last_seen` (int64 per entry, or None without timestamps). Users and
/// (without `item_ids`) items are numbered in order of first appearance.
/// Errors name the event's position; nothing is built on error.
#[pyfunction]
#[pyo3(signature = (users, items, kinds, quantities, timestamps, kind_weights, item_ids))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn interactions_build<'py>(
    py: Python<'py>,
    users: Vec<String>,
    items: Vec<String>,
    kinds: Option<Vec<String>>,
    quantities: Option<PyReadonlyArray1<'py, f32>>,
    timestamps: Option<PyReadonlyArray1<'py, i64>>,
    kind_weights: BTreeMap<String, f32>,
    item_ids: Option<Vec<String>>,
) -> PyResult<Bound<'py, PyDict>> {
    let columns = EventColumns {
        users,
        items,
        kinds,
        timestamps: timestamps.map(|t| t.as_array().to_vec()),
        weights: quantities.map(|q| q.as_array().to_vec()),
        ..EventColumns::default()
    };
    let weights = KindWeights::from_flat(&kind_weights);
    let built = py.detach(|| {
        let mut builder = InteractionsBuilder::new().weights(weights)?;
        if let Some(ids) = item_ids {
            builder = builder.items(IdMap::from_ids(ids)?);
        }
        builder.add_columns(&columns)?;
        builder.build()
    });
    let (user_ids, item_ids, matrix, last_seen) = built.map_err(|e| py_err(py, e))?.into_parts();
    let (indptr, indices, data) = csr_arrays(py, &matrix);
    let d = PyDict::new(py);
    d.set_item("shape", (matrix.n_rows(), matrix.n_cols()))?;
    d.set_item("indptr", indptr)?;
    d.set_item("indices", indices)?;
    d.set_item("data", data)?;
    d.set_item("user_ids", user_ids.ids().to_vec())?;
    d.set_item("item_ids", item_ids.ids().to_vec())?;
    d.set_item("last_seen", last_seen.map(|t| t.into_pyarray(py)))?;
    Ok(d)
}

/// The effective kind weights (the core's defaults with `overrides` applied,
/// flat `{kind: weight}`), for callers that weigh events themselves, such as
/// the Spark aggregation. Invalid weights raise `ConfigError`.
#[pyfunction]
pub(crate) fn kind_weights(
    py: Python<'_>,
    overrides: BTreeMap<String, f32>,
) -> PyResult<BTreeMap<String, f32>> {
    let weights = KindWeights::from_flat(&overrides);
    weights.validate().map_err(|e| py_err(py, e))?;
    Ok(weights.to_flat())
}
