//! One `similar_items(item, 10)` call against the raw search doing the same
//! work on the same index, in Rust (issue 20; the Rust twin of
//! benches/compare/single_call.py and benches/node_single_call.js). Each
//! group holds the pair side by side: `similar_items` and `raw_search`.
//!
//! - `content_{exact,hnsw}_{n}`: a cosine `ContentIndex` (HNSW m 16,
//!   ef_construction 200) over n × 64 low-rank + noise vectors (seeded):
//!   `similar_items(i)` vs `search(vector(i))` on the same index.
//! - `als`: an ALS model (64 factors, 3 iterations) on the demo data:
//!   `similar_items(i)` vs `search(item factors row i)` on an exact
//!   `ContentIndex` of the same item factors (the same exact cosine top-10).
//! - `cooccur`: a co-occurrence model on the demo data: `similar_items(i)`
//!   vs `recommend_for_items([i])` (the same neighbour row).
//!
//! Target: similar_items within 1.5× of raw_search.
//! `cargo bench -p sightline --bench single_call`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use sightline::als::{AlsConfig, AlsModel};
use sightline::content::{ContentConfig, ContentFilter, ContentIndex, IndexKind};
use sightline::cooccur::{CooccurConfig, CooccurModel};
use sightline::data::KindWeights;
use sightline::demo::{generate, DemoConfig};
use sightline::ids::IdMap;

const N: usize = 10;
const DIM: usize = 64;

/// A seeded standard-normal stream (xorshift64* and Box–Muller): no rand
/// dependency for a bench.
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// `n` rows of `Z W + 0.3 E` (Z n×8, W 8×64), log-normal row lengths.
fn lowrank(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Normal(seed | 1);
    let w: Vec<f64> = (0..8 * DIM).map(|_| r.next()).collect();
    let mut out = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        let z: Vec<f64> = (0..8).map(|_| r.next()).collect();
        let row: Vec<f64> = (0..DIM)
            .map(|d| 0.3 * r.next() + (0..8).map(|j| z[j] * w[j * DIM + d]).sum::<f64>())
            .collect();
        let len = (0.5 * r.next()).exp() / row.iter().map(|v| v * v).sum::<f64>().sqrt();
        out.extend(row.iter().map(|v| (v * len) as f32));
    }
    out
}

/// Benches the pair over items spread through the index.
fn pair<F, G>(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, n: usize, f: F, s: G)
where
    F: Fn(u32) -> Vec<(u32, f32)>,
    G: Fn(u32) -> Vec<(u32, f32)>,
{
    let step = |i: &mut u32| {
        *i = (*i + 7919) % n as u32;
        *i
    };
    let mut i = 0;
    g.bench_function("similar_items", |b| b.iter(|| f(black_box(step(&mut i)))));
    let mut i = 0;
    g.bench_function("raw_search", |b| b.iter(|| s(black_box(step(&mut i)))));
}

fn benches(c: &mut Criterion) {
    let none = ContentFilter::default();
    for n in [20_000, 100_000] {
        let vectors = lowrank(n, 20_241_207 + n as u64);
        let ids = IdMap::range(n).expect("ids");
        for (name, index) in [("exact", IndexKind::Exact), ("hnsw", IndexKind::Hnsw)] {
            let mut config = ContentConfig {
                index,
                threads: 2,
                ..Default::default()
            };
            config.hnsw.m = 16;
            config.hnsw.ef_construction = 200;
            let content = ContentIndex::builder(config)
                .embeddings(&ids, &vectors, DIM)
                .build()
                .expect("content index");
            let mut g = c.benchmark_group(format!("single_call/content_{name}_{}k", n / 1000));
            pair(
                &mut g,
                n,
                |i| content.similar_items(i, N, &none).expect("similar"),
                |i| {
                    let v = content.vector(i).expect("vector");
                    content.search(v, N, &none).expect("search")
                },
            );
            g.finish();
        }
    }

    let demo = generate(&DemoConfig::default()).expect("demo data");
    let data = demo
        .interactions(&KindWeights::default())
        .expect("interactions");
    let als = AlsModel::fit(
        &AlsConfig {
            factors: DIM,
            iterations: 3,
            seed: 1,
            ..Default::default()
        },
        &data,
    )
    .expect("fit");
    let factors = als.item_factors().as_standard_layout().into_owned();
    let factors = factors.as_slice().expect("contiguous");
    let item_ids = IdMap::range(als.n_items()).expect("ids");
    let exact = ContentIndex::builder(ContentConfig {
        index: IndexKind::Exact,
        ..Default::default()
    })
    .embeddings(&item_ids, factors, DIM)
    .build()
    .expect("exact index of the factors");
    let mut g = c.benchmark_group("single_call/als");
    pair(
        &mut g,
        als.n_items(),
        |i| als.similar_items(i, N).expect("similar"),
        |i| {
            let row = &factors[i as usize * DIM..(i as usize + 1) * DIM];
            exact.search(row, N, &none).expect("search")
        },
    );
    g.finish();

    let co = CooccurModel::fit(&CooccurConfig::default(), &data).expect("co-occurrence");
    let mut g = c.benchmark_group("single_call/cooccur");
    pair(
        &mut g,
        co.n_items(),
        |i| co.similar_items(i, N).expect("similar"),
        |i| {
            co.recommend_for_items(&[i], &[1.0], N, &[])
                .expect("recommend")
        },
    );
    g.finish();
}

criterion_group!(single_call, benches);
criterion_main!(single_call);
