//! Writes the fixture of the cross-runtime test: a model trained on the
//! small demo data set plus the outputs every runtime must reproduce
//! (top-10 recommendations for 50 customers, top-10 similar items for 50
//! products, each with the customer's training items).
//!
//! Run: `cargo run --release --example cross_runtime_fixture -- <model.slm> <expected.json>`

use serde_json::json;
use sightline::als::{AlsConfig, AlsModel, RecommendOptions};
use sightline::data::KindWeights;
use sightline::demo::{generate, DemoConfig};
use sightline::Component;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model_path = args
        .next()
        .unwrap_or_else(|| "target/sightline-test-model.slm".into());
    let expected_path = args
        .next()
        .unwrap_or_else(|| "target/sightline-test-expected.json".into());
    let demo = generate(&DemoConfig::small())?;
    let data = demo.interactions(&KindWeights::default())?;
    let config = AlsConfig {
        factors: 32,
        regularization: 2.0,
        alpha: 2.0,
        regularization_exponent: 0.0,
        iterations: 10,
        seed: 3,
        ..Default::default()
    };
    let model = AlsModel::fit(&config, &data)?;
    model.save(&model_path)?;

    // Every 37th customer with history, every 7th product: spread over the id space.
    let ui = model.user_items().ok_or("model keeps its interactions")?;
    let users: Vec<u32> = (0..model.n_users() as u32)
        .filter(|&u| !ui.row(u as usize).0.is_empty())
        .step_by(37)
        .take(50)
        .collect();
    let items: Vec<u32> = (0..model.n_items() as u32).step_by(7).take(50).collect();
    let name = |i: u32| model.items().ids()[i as usize].clone();
    let pairs = |v: Vec<(u32, f32)>| {
        (
            v.iter().map(|p| name(p.0)).collect::<Vec<_>>(),
            v.iter().map(|p| p.1).collect::<Vec<_>>(),
        )
    };
    let mut user_rows = Vec::new();
    for u in users {
        let (ids, scores) = pairs(model.recommend(u, 10, &RecommendOptions::default())?);
        let liked: Vec<_> = ui.row(u as usize).0.iter().map(|&i| name(i)).collect();
        user_rows.push(json!({ "user": model.users().ids()[u as usize], "index": u, "ids": ids, "scores": scores, "liked": liked }));
    }
    let mut item_rows = Vec::new();
    for i in items {
        let (ids, scores) = pairs(model.similar_items(i, 10)?);
        item_rows.push(json!({ "item": name(i), "index": i, "ids": ids, "scores": scores }));
    }
    let expected = json!({ "model": model_path, "n_users": model.n_users(), "n_items": model.n_items(), "factors": model.factors(), "users": user_rows, "items": item_rows });
    std::fs::write(&expected_path, serde_json::to_string_pretty(&expected)?)?;
    println!("wrote {model_path} and {expected_path}");
    Ok(())
}
