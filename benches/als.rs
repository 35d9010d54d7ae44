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

/// Single-recommend latency on a 20k-item, 64-factor model (the size the
/// issue's target names), as p50/p99 over 5,000 calls, printed as one JSON
/// line: criterion reports means, not tails.
fn latency(_: &mut Criterion) {
    let (n_users, n_items) = (5_000u32, 20_000u32);
    // Deterministic pseudo-random interactions, ~40 per user.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |m: u32| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % m as u64) as u32
    };
    let (mut users, mut items) = (Vec::new(), Vec::new());
    for u in 0..n_users {
        for _ in 0..40 {
            users.push(u);
            items.push(next(n_items));
        }
    }
    let weights = vec![1.0; users.len()];
    let data = sightline::data::Interactions::from_coo(
        n_users as usize,
        n_items as usize,
        &users,
        &items,
        &weights,
    )
    .expect("interactions");
    let model = AlsModel::fit(
        &AlsConfig {
            factors: 64,
            iterations: 2,
            seed: 1,
            ..Default::default()
        },
        &data,
    )
    .expect("fit");
    let opts = RecommendOptions::default();
    let mut lat = Vec::with_capacity(5_000);
    for call in 0..5_500u32 {
        let t = std::time::Instant::now();
        black_box(
            model
                .recommend(call % n_users, 10, &opts)
                .expect("recommend"),
        );
        if call >= 500 {
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    println!(
        "{{\"bench\":\"recommend_single_latency\",\"items\":{n_items},\"factors\":64,\"calls\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\"target_p99_us\":50}}",
        lat.len(),
        pct(0.50),
        pct(0.99)
    );
}

criterion_group!(als, benches, latency);
criterion_main!(als);
