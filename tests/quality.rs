//! End-to-end quality on the demo data: ALS must beat popularity clearly on
//! a held-out split, and evaluation must be reproducible. Run in release
//! (`cargo test --release`); the debug build is slow on a million events.

use sightline::als::{AlsConfig, AlsModel};
use sightline::data::KindWeights;
use sightline::demo::{generate, DemoConfig};
use sightline::eval::{ranking_metrics_at_k, train_test_split, MostPopular};

#[test]
fn als_beats_popularity_on_demo_data() {
    let demo = generate(&DemoConfig::default()).unwrap();
    let data = demo.interactions(&KindWeights::default()).unwrap();
    let (train, test) = train_test_split(&data, 0.2, 42).unwrap();
    // The documented defaults, untuned.
    let config = AlsConfig::default();
    let als = AlsModel::fit(&config, &train).unwrap();
    let als_m = ranking_metrics_at_k(&als, &train, &test, 10).unwrap();
    let pop_m =
        ranking_metrics_at_k(&MostPopular::fit(&train).unwrap(), &train, &test, 10).unwrap();
    eprintln!("ALS {als_m:?}\npopularity {pop_m:?}");
    assert!(
        als_m.ndcg >= 1.5 * pop_m.ndcg,
        "ALS nDCG@10 {} vs popularity {}",
        als_m.ndcg,
        pop_m.ndcg
    );
    assert!(als_m.recall > pop_m.recall && als_m.coverage > 10.0 * pop_m.coverage);
    // The Cholesky solver reaches the same quality.
    let chol = AlsModel::fit(
        &AlsConfig {
            solver: sightline::als::Solver::Cholesky,
            ..config
        },
        &train,
    )
    .unwrap();
    let chol_m = ranking_metrics_at_k(&chol, &train, &test, 10).unwrap();
    assert!(
        (chol_m.ndcg - als_m.ndcg).abs() < 0.1 * als_m.ndcg,
        "cholesky {} vs cg {}",
        chol_m.ndcg,
        als_m.ndcg
    );
}
