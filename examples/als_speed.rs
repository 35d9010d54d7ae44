//! Times ALS fits on a synthetic 200k × 20k × ~10M implicit matrix of a
//! chosen shape, then one-user and batch recommends on the fitted model
//! (training items left out), as JSON on stdout with the fit's peak memory
//! above the data's (Linux): for profiling the row
//! solvers and the query paths without Python.
//!
//! `cargo run --release --example als_speed -- [uniform|skewed] [cg|cholesky] [iterations] [scale]`

use std::time::Instant;

use sightline::als::{AlsConfig, AlsModel, RecommendOptions, SimilarOptions, Solver};
use sightline::data::Csr;
use sightline::ids::IdMap;
use sightline::rng::{below, seeded, Rng};
use sightline::IdKind;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let shape = args.get(1).map_or("uniform", String::as_str);
    let solver = match args.get(2).map_or("cg", String::as_str) {
        "cholesky" => Solver::Cholesky,
        _ => Solver::Cg { steps: 3 },
    };
    let iterations: usize = args.get(3).map_or(5, |s| s.parse().unwrap());
    let scale: f64 = args.get(4).map_or(1.0, |s| s.parse().unwrap());
    let (n_users, n_items) = ((200_000.0 * scale) as usize, (20_000.0 * scale) as usize);
    let nnz = (10_000_000.0 * scale) as usize;
    let t = Instant::now();
    let m = matrix(shape, n_users, n_items, nnz);
    eprintln!("data {:.2}s nnz {}", t.elapsed().as_secs_f64(), m.nnz());
    let config = AlsConfig {
        factors: 64,
        regularization: 0.01,
        alpha: 1.0,
        regularization_exponent: 0.0,
        iterations,
        solver,
        num_threads: 2,
        ..AlsConfig::default()
    };
    let mut stamps = Vec::new();
    let before = fit_peak_reset();
    let t = Instant::now();
    let model = AlsModel::fit_csr(
        &config,
        m.view(),
        IdMap::range(n_users).unwrap(),
        IdMap::range(n_items).unwrap(),
        &mut |p| {
            stamps.push(p.seconds);
            true
        },
    )
    .unwrap();
    let whole = t.elapsed().as_secs_f64();
    let fit_peak_mib = before.and_then(|rss| Some((status_kib("VmHWM")? - rss) as f64 / 1024.0));
    let per: Vec<f64> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
    let (p50, p99, batch) = queries(&model, n_users);
    let (similar_p50, similar_batch) = similar(&model, n_items);
    println!(
        "{{\"shape\":\"{shape}\",\"solver\":\"{:?}\",\"whole_s\":{whole:.3},\"first_s\":{:.3},\"per_iteration_s\":{per:?},\"recommend_p50_us\":{p50:.1},\"recommend_p99_us\":{p99:.1},\"recommend_batch_users_per_s\":{batch:.0},\"similar_items_p50_us\":{similar_p50:.1},\"similar_items_batch_items_per_s\":{similar_batch:.0},\"fit_peak_above_data_mib\":{}}}",
        config.solver,
        stamps[0],
        fit_peak_mib.map_or("null".to_owned(), |m| format!("{m:.1}"))
    );
}

/// Resets the process's peak RSS (Linux `clear_refs`) so that `VmHWM`
/// afterwards covers the fit alone; the RSS now (KiB), or `None` where the
/// peak cannot be reset (the fit's peak is then not reported).
fn fit_peak_reset() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_kib("VmRSS")
}

/// A `/proc/self/status` field in KiB (Linux only).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One-user recommend p50 and p99 (µs, 1,000 users after 100 warm-up
/// calls) and batch recommend (users/s, 10,000 users, best of three).
fn queries(model: &AlsModel, n_users: usize) -> (f64, f64, f64) {
    let opts = RecommendOptions::default();
    let users: Vec<u32> = (0..10_000u32.min(n_users as u32))
        .map(|u| u * 17 % n_users as u32)
        .collect();
    for &u in &users[..100] {
        model.recommend(u, 10, &opts).unwrap();
    }
    let lat = latencies(&users[..1000], |&u| {
        model.recommend(u, 10, &opts).unwrap();
    });
    let batch = best_rate(3, users.len(), || {
        model.recommend_batch(&users, 10, &opts).unwrap();
    });
    (lat[lat.len() / 2], lat[lat.len() * 99 / 100], batch)
}

/// Microseconds of `call` on each of `inputs`, sorted.
fn latencies<T>(inputs: &[T], call: impl Fn(&T)) -> Vec<f64> {
    let mut lat: Vec<f64> = inputs
        .iter()
        .map(|x| {
            let t = Instant::now();
            call(x);
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    lat
}

/// The best of `runs` rates of `call`, which handles `count` queries.
fn best_rate(runs: usize, count: usize, call: impl Fn()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            call();
            count as f64 / t.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// implicit's `similar_items` (the item itself kept, as the Python
/// binding asks): one item at a time, p50 (µs, 1,000 items after a warm-up
/// call), and all of them at once (items/s, best of five).
fn similar(model: &AlsModel, n_items: usize) -> (f64, f64) {
    let items: Vec<u32> = (0..1000u32.min(n_items as u32))
        .map(|i| i * 7919 % n_items as u32)
        .collect();
    let opts = SimilarOptions {
        include_self: true,
        filtered_last: true,
        ..SimilarOptions::default()
    };
    let similar = |items: &[u32]| model.similar(IdKind::Item, items, 10, &opts).unwrap();
    similar(&items[..1]);
    let lat = latencies(&items, |&i| {
        similar(&[i]);
    });
    let batch = best_rate(5, items.len(), || {
        similar(&items);
    });
    (lat[lat.len() / 2], batch)
}

fn matrix(shape: &str, n_users: usize, n_items: usize, nnz: usize) -> Csr {
    let mut rng: Rng = seeded(7);
    let per_user = nnz / n_users;
    let (mut rows, mut cols) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
    for u in 0..n_users {
        // Log-normal-ish activity around the mean.
        let len = ((per_user as f64) * (-(unit(&mut rng).max(1e-9)).ln())).ceil() as usize;
        for _ in 0..len.min(n_items / 2) {
            let i = match shape {
                "uniform" => below(&mut rng, n_items as u64) as usize,
                // Zipf-like: rank ∝ u^3 concentrates on low indices.
                _ => ((unit(&mut rng).powi(3)) * n_items as f64) as usize,
            };
            rows.push(u as u32);
            cols.push(i.min(n_items - 1) as u32);
        }
    }
    let vals = vec![1.0f32; rows.len()];
    let mut m = Csr::from_triplets(n_users, n_items, &rows, &cols, &vals).unwrap();
    // All-ones weights: duplicates were summed, set them back to 1.
    m = Csr::from_parts(
        n_users,
        n_items,
        m.indptr().to_vec(),
        m.indices().to_vec(),
        vec![1.0; m.nnz()],
    )
    .unwrap();
    m
}

/// A uniform f64 in [0, 1).
fn unit(rng: &mut Rng) -> f64 {
    (below(rng, 1 << 53) as f64) / (1u64 << 53) as f64
}
