//! The seeded synthetic optical-retail data set, for notebooks and tests.

use numpy::IntoPyArray;
use sightline::demo::{engine_settings, generate, DemoConfig};

use super::bridge::to_py;
use super::*;

/// Generates the demo data (GIL released): a dict with `catalog` (flat
/// item dicts, attributes as keys), `customers` (dicts) and the event columns `users`,
/// `items`, `kinds`, `timestamps` (int64 array), `regions`, `channels`,
/// `sessions`.
#[pyfunction]
pub(crate) fn demo_data(
    py: Python<'_>,
    customers: i64,
    products: i64,
    events: i64,
    seed: u64,
) -> PyResult<Bound<'_, PyDict>> {
    let config = DemoConfig {
        customers: to_usize(py, customers, "customers")?,
        products: to_usize(py, products, "products")?,
        events: to_usize(py, events, "events")?,
        seed,
        ..Default::default()
    };
    let data = py.detach(|| generate(&config)).map_err(|e| py_err(py, e))?;
    let d = PyDict::new(py);
    let flat: Vec<_> = data.catalog.items().iter().map(Item::flat).collect();
    d.set_item("catalog", to_py(py, &flat)?)?;
    d.set_item("customers", to_py(py, &data.customers)?)?;
    let ev = &data.events;
    d.set_item(
        "users",
        ev.iter().map(|e| e.user.as_str()).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "items",
        ev.iter().map(|e| e.item.as_str()).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "kinds",
        ev.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
    )?;
    let ts: Vec<i64> = ev.iter().map(|e| e.timestamp).collect();
    d.set_item("timestamps", ts.into_pyarray(py))?;
    d.set_item(
        "regions",
        ev.iter().map(|e| e.region.as_deref()).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "channels",
        ev.iter()
            .map(|e| e.channel.map(|c| c.as_str()))
            .collect::<Vec<_>>(),
    )?;
    d.set_item(
        "sessions",
        ev.iter().map(|e| e.session.as_deref()).collect::<Vec<_>>(),
    )?;
    Ok(d)
}

/// The demo shop's engine settings over the neutral defaults (region names,
/// region → market map, diversity by shape), as JSON.
#[pyfunction]
pub(crate) fn demo_engine_config() -> String {
    engine_settings().to_string()
}
