//! Criterion benches of the ALS kernels on the demo data (fixed seeds):
//! one training iteration per solver, single and batch recommend, similar
//! items. `cargo bench -p sightline --bench als`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use sightline::als::{AlsConfig, AlsModel, RecommendOptions, Solver};
use sightline::data::KindWeights;
use sightline::demo::{generate, DemoConfig};

fn benches(c: &mut Criterion) {
    let demo = generate(&DemoConfig::default()).expect("demo data");
    let data = demo
        .interactions(&KindWeights::default())
        .expect("interactions");
    let base = AlsConfig {
        factors: 64,
        iterations: 1,
        seed: 1,
        ..Default::default()
    };
    let mut g = c.benchmark_group("als_fit_one_iteration");
    g.sample_size(10);
    for (name, solver) in [
        ("cg", Solver::Cg { steps: 3 }),
        ("cholesky", Solver::Cholesky),
    ] {
        let cfg = AlsConfig {
            solver,
            ..base.clone()
        };
        g.bench_function(name, |b| {
            b.iter(|| AlsModel::fit(black_box(&cfg), &data).expect("fit"))
        });
    }
    g.finish();

    let model = AlsModel::fit(
        &AlsConfig {
            iterations: 5,
            ..base
        },
        &data,
    )
    .expect("fit");
    let opts = RecommendOptions::default();
    let mut u = 0u32;
    c.bench_function("recommend_single_n10", |b| {
        b.iter(|| {
            u = (u + 7919) % model.n_users() as u32;
            model.recommend(black_box(u), 10, &opts).expect("recommend")
        })
    });
    let users: Vec<u32> = (0..1000).collect();
    c.bench_function("recommend_batch_1000_n10", |b| {
        b.iter(|| {
            model
                .recommend_batch(black_box(&users), 10, &opts)
                .expect("batch")
        })
    });
    let mut i = 0u32;
    c.bench_function("similar_items_n10", |b| {
        b.iter(|| {
            i = (i + 101) % model.n_items() as u32;
            model.similar_items(black_box(i), 10).expect("similar")
        })
    });
}

criterion_group!(als, benches);
criterion_main!(als);
