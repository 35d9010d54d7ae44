//! Fixtures the fuzz targets share: a small demo catalog and engine config,
//! made once per process, so each input runs against the same state.

use std::sync::{Arc, OnceLock};

use sightline::data::Catalog;
use sightline::demo::{engine_config, generate, DemoConfig};
use sightline::engine::{Engine, EngineConfig, Models};

/// The demo shop's catalog (400 products) and engine config.
pub fn demo() -> &'static (Arc<Catalog>, EngineConfig) {
    static DEMO: OnceLock<(Arc<Catalog>, EngineConfig)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let demo = generate(&DemoConfig::small()).expect("demo data");
        let config = engine_config(&serde_json::json!({})).expect("demo config");
        (Arc::new(demo.catalog), config)
    })
}

/// A fresh engine over the demo catalog with no trained models: trending,
/// sessions and tracking start empty, so every input meets the same state.
pub fn fresh_engine() -> Engine {
    let (catalog, config) = demo();
    Engine::new(
        config.clone(),
        Models {
            catalog: catalog.clone(),
            als: None,
            cooccur: None,
            content: None,
        },
    )
    .expect("engine over the demo catalog")
}
