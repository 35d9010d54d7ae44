//! Writes the data of the browser package's demo page, benchmark and parity
//! test: model slices of the demo shop (the core's `ModelSlice::export`),
//! the slices' catalog entries as JSON, and re-ranking cases with the
//! native core's answers, which the WASM build must reproduce.
//!
//! Run: `cargo run --release --example web_slice -- [<out dir>]`
//! (default `examples/web/data`). Writes `slice.slm` + `catalog.json` (the
//! demo page: frames and sunglasses, 32 factors, diversity λ 0.7, at most
//! three per brand), `bench-slice.slm` (500 candidates, 64 factors: the
//! benchmark's slice) and `rerank-cases.json` (inputs and native outputs for
//! the parity test, and the benchmark's request: 20 session events, rules
//! and MMR).

use std::path::PathBuf;

use serde_json::{json, Value};
use sightline::als::{AlsConfig, AlsModel};
use sightline::data::{Catalog, EventKind, KindWeights};
use sightline::demo::{engine_config, generate, DemoConfig};
use sightline::rank::{DiversityConfig, Rules};
use sightline::rerank::{rerank, RerankOptions, SessionEvent};
use sightline::slice::ModelSlice;
use sightline::Component;

/// The placement the slices are exported for.
const PLACEMENT: &str = "home";
/// A fixed "now" so the files are the same on every run.
const NOW: i64 = 1_767_225_600;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "examples/web/data".into()),
    );
    std::fs::create_dir_all(&out)?;
    let demo = generate(&DemoConfig {
        products: 700,
        ..DemoConfig::small()
    })?;
    let data = demo.interactions(&KindWeights::default())?;
    let engine = engine_config(&json!({"placements": {PLACEMENT: {
        "diversity": {"lambda": 0.7},
        "rules": {"max_per_brand": 3, "available_in_region": false},
    }}}))?;

    // The demo page: every frame and pair of sunglasses.
    let small = fit(&data, 32)?;
    let shown: Vec<&str> = demo
        .catalog
        .items()
        .iter()
        .filter(|i| i.category == "frames" || i.category == "sunglasses")
        .map(|i| i.id.as_str())
        .take(120)
        .collect();
    let slice = ModelSlice::export(&small, &demo.catalog, &engine, PLACEMENT, &shown)?;
    slice.save(out.join("slice.slm"))?;
    std::fs::write(
        out.join("catalog.json"),
        serde_json::to_string(&catalog_json(slice.catalog()))?,
    )?;

    // The benchmark: 500 candidates, 64 factors, 20 session events.
    let big = fit(&data, 64)?;
    let ids: Vec<&str> = demo.catalog.items()[..500]
        .iter()
        .map(|i| i.id.as_str())
        .collect();
    let bench = ModelSlice::export(&big, &demo.catalog, &engine, PLACEMENT, &ids)?;
    bench.save(out.join("bench-slice.slm"))?;
    let session: Vec<SessionEvent> = (0..20)
        .map(|j| {
            event(
                ids[(j * 37 + 11) % ids.len()],
                j,
                NOW - 60 * (20 - j as i64),
            )
        })
        .collect();
    // The placement's rules (in stock, at most three per brand) and
    // diversity (λ 0.7) travel in the slice.
    let bench_opts = RerankOptions {
        session: session.clone(),
        n: 20,
        now: Some(NOW),
        ..RerankOptions::default()
    };
    let bench_case = case(&bench, &ids, &bench_opts)?;

    // Parity cases on the demo slice.
    let cands: Vec<String> = shown.iter().map(|s| s.to_string()).collect();
    let few = |k: usize| -> Vec<SessionEvent> {
        (0..k)
            .map(|j| event(&cands[(j * 13 + 5) % cands.len()], j, NOW - 100 * j as i64))
            .collect()
    };
    let cases = [
        RerankOptions {
            n: 12,
            ..RerankOptions::default()
        },
        RerankOptions {
            session: few(1),
            n: 12,
            now: Some(NOW),
            ..RerankOptions::default()
        },
        RerankOptions {
            session: few(6),
            n: 20,
            now: Some(NOW),
            ..RerankOptions::default()
        },
        RerankOptions {
            session: few(4),
            n: 10,
            now: Some(NOW),
            diversity: Some(DiversityConfig {
                lambda: 0.3,
                ..DiversityConfig::default()
            }),
            rules: Some(Rules {
                max_per_brand: Some(1),
                available_in_region: false,
                ..Rules::default()
            }),
            ..RerankOptions::default()
        },
    ];
    let all: Vec<Value> = cases
        .iter()
        .map(|o| case(&slice, &cands, o))
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    std::fs::write(
        out.join("rerank-cases.json"),
        serde_json::to_string_pretty(
            &json!({ "slice": "slice.slm", "cases": all, "bench": bench_case }),
        )?,
    )?;
    println!(
        "wrote slice.slm ({} items, {} factors), bench-slice.slm ({} items, {} factors), \
         catalog.json and rerank-cases.json to {}",
        slice.len(),
        slice.factors(),
        bench.len(),
        bench.factors(),
        out.display()
    );
    Ok(())
}

fn fit(data: &sightline::data::Interactions, factors: usize) -> Result<AlsModel, sightline::Error> {
    let config = AlsConfig {
        factors,
        iterations: 8,
        seed: 7,
        ..AlsConfig::default()
    };
    AlsModel::fit(&config, data)
}

/// A view, a click or an add-to-cart by turns.
fn event(item: &str, j: usize, timestamp: i64) -> SessionEvent {
    let kind = [EventKind::View, EventKind::Click, EventKind::AddToCart][j % 3].clone();
    SessionEvent {
        item: item.to_owned(),
        kind,
        timestamp,
    }
}

/// One parity case: the candidates, the options in the JS form the WASM
/// package takes, and the native answer in its output form.
fn case<S: AsRef<str>>(
    slice: &ModelSlice,
    candidates: &[S],
    opts: &RerankOptions,
) -> Result<Value, Box<dyn std::error::Error>> {
    let candidates: Vec<String> = candidates.iter().map(|s| s.as_ref().to_owned()).collect();
    let expected: Vec<Value> = rerank(slice, &candidates, opts)?
        .into_iter()
        .map(|r| json!({"itemId": r.item, "score": r.score, "reason": r.reason, "because": r.because}))
        .collect();
    let events: Vec<Value> = opts
        .session
        .iter()
        .map(|e| json!({"itemId": e.item, "kind": e.kind.as_str(), "timestamp": e.timestamp}))
        .collect();
    let mut options = json!({ "sessionEvents": events });
    if opts.n > 0 {
        options["n"] = json!(opts.n);
    }
    if let Some(now) = opts.now {
        options["now"] = json!(now);
    }
    if let Some(r) = &opts.rules {
        options["rules"] = serde_json::to_value(r)?;
    }
    if let Some(d) = &opts.diversity {
        options["diversity"] = serde_json::to_value(d)?;
    }
    Ok(json!({ "candidates": candidates, "options": options, "expected": expected }))
}

/// What the page shows of each item.
fn catalog_json(catalog: &Catalog) -> Value {
    let items: Vec<Value> = catalog
        .items()
        .iter()
        .map(|i| {
            json!({
                "id": i.id, "title": i.title, "brand": i.brand, "price": i.price,
                "category": i.category, "attributes": i.attributes,
            })
        })
        .collect();
    json!({ "placement": PLACEMENT, "items": items })
}
