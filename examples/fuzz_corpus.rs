//! Seeds the fuzz targets' corpora (`fuzz/`) with real inputs made by this
//! build: model files of every component and of a whole engine, engine
//! configs in JSON and TOML, event batches, catalog rows and a browser model
//! slice. Small on purpose: libFuzzer mutates faster on small inputs, and
//! they still reach every reader. Made at run time, so seeds always match
//! the current file format.
//!
//! Run: `cargo run --release --example fuzz_corpus -- <corpus dir>`
//! (writes `<dir>/<target>/<name>` for each fuzz target).

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use sightline::als::{AlsConfig, AlsModel};
use sightline::content::{ContentConfig, ContentIndex};
use sightline::cooccur::{CooccurConfig, CooccurModel};
use sightline::data::{Catalog, Event, InteractionsBuilder};
use sightline::demo::{engine_config, engine_settings, generate, DemoConfig};
use sightline::engine::{Engine, Models};
use sightline::slice::ModelSlice;
use sightline::Component;

/// Catalog items in the seed models.
const ITEMS: usize = 24;
/// Events the seed models learn from.
const EVENTS: usize = 400;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: fuzz_corpus <corpus dir>")?;
    let out = Path::new(&out);
    let demo = generate(&DemoConfig::small())?;
    let mut catalog = Catalog::new();
    for item in &demo.catalog.items()[..ITEMS] {
        catalog.add(item.clone())?;
    }
    let events: Vec<Event> = demo
        .events
        .iter()
        .filter(|e| catalog.get(&e.item).is_some())
        .take(EVENTS)
        .cloned()
        .collect();

    let mut builder = InteractionsBuilder::new().items(catalog.ids().clone());
    builder.extend_events(&events)?;
    let data = builder.build()?;
    let als = AlsModel::fit(
        &AlsConfig {
            factors: 4,
            iterations: 2,
            ..AlsConfig::default()
        },
        &data,
    )?;
    let cooccur = CooccurModel::fit(&CooccurConfig::default(), &data)?;
    let content = Arc::new(
        ContentIndex::builder(ContentConfig::default())
            .catalog(&catalog)
            .build()?,
    );
    let config = engine_config(&json!({}))?;
    let ids: Vec<&str> = catalog.items().iter().map(|i| i.id.as_str()).collect();
    let slice = ModelSlice::export(&als, &catalog, &config, "home", &ids)?;
    let catalog_rows: Vec<_> = catalog.items().iter().map(|i| i.flat()).collect();
    let catalog_json = serde_json::to_vec(&catalog_rows)?;

    let engine = Engine::new(
        config,
        Models {
            catalog: Arc::new(catalog),
            als: Some(Arc::new(als.clone())),
            cooccur: Some(Arc::new(cooccur.clone())),
            content: Some(content.clone()),
        },
    )?;
    engine.ingest_batch(&events[..50], true)?;

    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)
    };
    write("model_file", "als.slm", &als.to_bytes()?)?;
    write("model_file", "cooccur.slm", &cooccur.to_bytes()?)?;
    write("model_file", "content.slm", &content.to_bytes()?)?;
    write("model_file", "engine.slm", &engine.to_bytes()?)?;
    write("slice", "home.slm", &slice.to_bytes()?)?;
    let settings = engine_settings();
    write(
        "engine_config",
        "demo.json",
        &serde_json::to_vec_pretty(&settings)?,
    )?;
    write(
        "engine_config",
        "demo.toml",
        toml::to_string(&settings)?.as_bytes(),
    )?;
    write(
        "engine_config",
        "placement.json",
        br#"{"placements": {"home": {"n": 6, "rules": {"max_per_brand": 2}, "diversity": {"lambda": 0.7}}}}"#,
    )?;
    write("events", "batch.json", &serde_json::to_vec(&events[..20])?)?;
    write("events", "one.json", &serde_json::to_vec(&events[..1])?)?;
    write("catalog", "rows.json", &catalog_json)?;
    println!("fuzz corpora seeded in {}", out.display());
    Ok(())
}
