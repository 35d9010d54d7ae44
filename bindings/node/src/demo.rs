//! The seeded synthetic optical-retail shop of the core, for examples and
//! tests: a catalog, customers and their events, and its engine config.

// napi registers free functions only outside `cargo test`, so a test build
// sees them unused.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;
use serde_json::{json, Value};
use sightline::data::{FlatItem, Item};
use sightline::demo::{engine_settings, generate, DemoConfig};
use sightline::Error;

use crate::convert::{input, out};
use crate::or_throw;

/// Generates the demo shop: `{ catalog, customers, events }`, the catalog
/// and events in the shapes `Engine` takes. `options` sets `customers`,
/// `products`, `events`, `seed`, `start` (Unix seconds) and `days`; the
/// defaults are a million events, so pass sizes for tests. The same options
/// give the same data.
#[napi(
    catch_unwind,
    ts_args_type = "options?: DemoOptions",
    ts_return_type = "DemoData"
)]
pub fn demo_data(env: Env, options: Option<Unknown<'_>>) -> napi::Result<Value> {
    let config = match options {
        Some(options) => input(&options, "options"),
        None => Ok(DemoConfig::default()),
    };
    let data = config.and_then(|config| {
        let data = generate(&config)?;
        // Catalog rows keep the core's column names (`in_stock`, attribute
        // names): they are data, taken back by `Catalog::from_rows`.
        let rows: Vec<FlatItem<'_>> = data.catalog.items().iter().map(Item::flat).collect();
        Ok(json!({
            "catalog": serde_json::to_value(rows).map_err(|e| Error::InvalidInput(e.to_string()))?,
            "customers": out(&data.customers)?,
            "events": out(&data.events)?,
        }))
    });
    or_throw(&env, data)
}

/// The demo shop's engine config (region names, region → market map,
/// diversity by frame shape) in the config-file spelling, for
/// `new Engine(demoEngineConfig(), demoData(…).catalog)`.
#[napi(ts_return_type = "EngineConfig")]
pub fn demo_engine_config() -> Value {
    engine_settings()
}
