//! The seeded synthetic optical-retail shop of the core, for examples and
//! tests: a catalog, customers and their events, and its engine config.

// napi registers free functions only outside `cargo test`, so a test build
// sees them unused.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::Unknown;
use napi_derive::napi;
use serde_json::{json, Value};
use sightline::demo::{engine_settings, generate, DemoConfig};

use crate::engine::{input, out};
use crate::{to_js_err, CodedError};

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
pub fn demo_data(options: Option<Unknown<'_>>) -> Result<Value, CodedError> {
    let config: DemoConfig = match options {
        Some(options) => input(&options, "options").map_err(to_js_err)?,
        None => DemoConfig::default(),
    };
    let data = generate(&config).map_err(to_js_err)?;
    out(json!({
        "catalog": out(data.catalog.items())?,
        "customers": out(&data.customers)?,
        "events": out(&data.events)?,
    }))
}

/// The demo shop's engine config (region names, region → market map,
/// diversity by frame shape) in the config-file spelling, for
/// `new Engine(demoEngineConfig(), demoData(…).catalog)`.
#[napi(ts_return_type = "EngineConfig")]
pub fn demo_engine_config() -> Value {
    engine_settings()
}
