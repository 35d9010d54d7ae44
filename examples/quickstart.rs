//! The main job on built-in demo data: generate a year of optical-retail
//! events, train ALS, compare it with popularity on a held-out split, show
//! recommendations next to three customers' recent history, save the model.
//!
//! Run: `cargo run --release --example quickstart [-- <model path>]`

use std::io::Write;
use std::time::Instant;

use sightline::als::{AlsConfig, AlsModel, RecommendOptions};
use sightline::data::KindWeights;
use sightline::demo::{generate, DemoConfig};
use sightline::eval::{ranking_metrics_at_k, train_test_split, MostPopular, RankingMetrics};
use sightline::Component;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/sightline-demo.slm".into());
    let t0 = Instant::now();
    let demo = generate(&DemoConfig::default())?;
    let data = demo.interactions(&KindWeights::default())?;
    println!(
        "demo data: {} customers, {} products, {} events -> {} user-item pairs ({:.1}s)",
        demo.customers.len(),
        demo.catalog.len(),
        demo.events.len(),
        data.matrix().nnz(),
        t0.elapsed().as_secs_f64()
    );

    let (train, test) = train_test_split(&data, 0.2, 42)?;
    // The documented defaults (64 factors, λ 1 scaled by activity^0.5, alpha 4).
    let config = AlsConfig::default();
    println!(
        "training ALS (factors {}, regularization {}, alpha {}) on the 80% train split",
        config.factors, config.regularization, config.alpha
    );
    let model = AlsModel::fit_with_progress(&config, &train, &mut |p| {
        let done = p.iteration * 30 / p.iterations;
        eprint!(
            "\r  [{}{}] iteration {:>2}/{} {:5.1}s",
            "#".repeat(done),
            " ".repeat(30 - done),
            p.iteration,
            p.iterations,
            p.seconds
        );
        let _ = std::io::stderr().flush();
        true
    })?;
    eprintln!();

    let pop = ranking_metrics_at_k(&MostPopular::fit(&train)?, &train, &test, 10)?;
    let als = ranking_metrics_at_k(&model, &train, &test, 10)?;
    println!(
        "\nheld-out evaluation ({} customers, 20% of each customer's items hidden):",
        als.users
    );
    println!(
        "  {:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "model", "P@10", "R@10", "nDCG@10", "MAP@10", "HR@10", "cov@10"
    );
    let row = |name: &str, m: &RankingMetrics| {
        println!(
            "  {:<12} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>9.4}",
            name, m.precision, m.recall, m.ndcg, m.map, m.hit_rate, m.coverage
        )
    };
    row("popularity", &pop);
    row("ALS", &als);
    println!("  ALS / popularity nDCG@10: {:.2}x", als.ndcg / pop.ndcg);

    // The served model is trained on all data.
    let full = AlsModel::fit(&config, &data)?;
    let title = |id: &str| {
        demo.catalog
            .get(id)
            .map_or(id.to_string(), |i| format!("{id} {}", i.title))
    };
    for customer in demo
        .customers
        .iter()
        .filter(|c| {
            data.matrix()
                .row(data.users().get(&c.id).unwrap_or(0) as usize)
                .0
                .len()
                >= 6
        })
        .take(3)
    {
        println!(
            "\ncustomer {} ({}, prefers {}):",
            customer.id,
            customer.region,
            customer.channel.as_str()
        );
        let recent: Vec<_> = demo
            .events
            .iter()
            .rev()
            .filter(|e| e.user == customer.id)
            .take(5)
            .collect();
        for e in recent.iter().rev() {
            println!("  history  {:<12} {}", e.kind.as_str(), title(&e.item));
        }
        for (item, score) in full.recommend_by_id(&customer.id, 5, &RecommendOptions::default())? {
            println!("  -> {score:6.3}  {}", title(&item));
        }
    }

    full.save(&out)?;
    let size = std::fs::metadata(&out)?.len();
    let back = AlsModel::load(&out)?;
    assert_eq!(back.n_items(), full.n_items());
    println!(
        "\nsaved model to {out} ({:.1} MB); total {:.1}s",
        size as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
