//! Benches of the live-session path on the demo data (fixed seeds): event
//! ingest into the session and trending stores, and "based on your recent
//! browsing" candidate latency on the demo catalog (~3k items) and on a
//! synthetic 20k-item catalog. Prints one JSON line with the throughput and
//! latency tails (criterion reports means, not tails).
//! `cargo bench -p sightline --bench session`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use sightline::als::{AlsConfig, AlsModel};
use sightline::candidate::{AlsSource, CandidateSource, CooccurSource, Query};
use sightline::cooccur::{CooccurConfig, CooccurModel};
use sightline::data::{Event, EventKind, Interactions, KindWeights};
use sightline::demo::{generate, region_parent, DemoConfig};
use sightline::session::{SessionConfig, SessionRecommender, SessionStore};
use sightline::trending::{TrendingConfig, TrendingStore};

const RECENT: usize = 20;
const CALLS: usize = 3_000;
const WARMUP: usize = 500;

/// Events per second of `f` over `events`, best of three passes (each on
/// a fresh store from `make`).
fn rate<S>(events: &[Event], make: impl Fn() -> S, f: impl Fn(&mut S, &Event)) -> f64 {
    (0..3)
        .map(|_| {
            let mut s = make();
            let t = Instant::now();
            for e in events {
                f(&mut s, e);
            }
            let secs = t.elapsed().as_secs_f64();
            black_box(&s);
            events.len() as f64 / secs
        })
        .fold(0.0, f64::max)
}

/// A recommender blending ALS fold-in and co-occurrence over `data`.
fn recommender(data: &Interactions, iterations: usize) -> SessionRecommender {
    let als = AlsModel::fit(
        &AlsConfig {
            factors: 64,
            iterations,
            seed: 1,
            ..Default::default()
        },
        data,
    )
    .expect("fit");
    let co = CooccurModel::fit(&CooccurConfig::default(), data).expect("cooccur");
    let universe = Arc::new(als.items().clone());
    let store =
        Arc::new(SessionStore::new(SessionConfig::default(), universe.clone()).expect("store"));
    let sources: Vec<(Arc<dyn CandidateSource>, f32)> = vec![
        (
            Arc::new(AlsSource::new(Arc::new(als), universe.clone())),
            1.0,
        ),
        (Arc::new(CooccurSource::new(Arc::new(co), &universe)), 1.0),
    ];
    SessionRecommender::new(store, sources).expect("recommender")
}

/// p50/p90/p99 in µs of `candidates` for visitors `v0…` (cycled), n = 10.
fn latency(rec: &SessionRecommender, visitors: usize, now: i64) -> (f64, f64, f64) {
    let mut lat = Vec::with_capacity(CALLS);
    let keys: Vec<String> = (0..visitors).map(|v| format!("v{v}")).collect();
    for call in 0..CALLS + WARMUP {
        let mut q = Query::new(10, now);
        q.session = Some(&keys[call % visitors]);
        let t = Instant::now();
        let got = rec.candidates(&q).expect("candidates");
        let us = t.elapsed().as_secs_f64() * 1e6;
        assert!(!got.items.is_empty());
        black_box(got);
        if call >= WARMUP {
            lat.push(us);
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    (pct(0.50), pct(0.90), pct(0.99))
}

/// A clustered synthetic data set: `n_items` in clusters of 200, users
/// drawing 40 items mostly (90%) from their own cluster; item ids are the
/// decimal indices.
fn synthetic(n_users: u32, n_items: u32) -> Interactions {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |m: u32| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % u64::from(m)) as u32
    };
    let clusters = n_items / 200;
    let (mut users, mut items) = (Vec::new(), Vec::new());
    for u in 0..n_users {
        let c = next(clusters);
        for _ in 0..40 {
            let i = if next(10) < 9 {
                c * 200 + next(200)
            } else {
                next(n_items)
            };
            users.push(u);
            items.push(i);
        }
    }
    let weights = vec![1.0; users.len()];
    Interactions::from_coo(n_users as usize, n_items as usize, &users, &items, &weights)
        .expect("interactions")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "null".into())
}

/// The 20k-item recommender with `visitors` visitors of 20 views each.
fn big_setup(now: i64, visitors: usize) -> SessionRecommender {
    let big = synthetic(10_000, 20_000);
    let rec = recommender(&big, 2);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for v in 0..visitors {
        let cluster = (v % 100) as u64;
        for j in 0..RECENT {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let item = cluster * 200 + (state >> 33) % 200;
            let ts = now - 30 * (RECENT - j) as i64;
            let ev = Event::new(format!("v{v}"), item.to_string(), EventKind::View, ts);
            rec.store().ingest(&ev).expect("ingest");
        }
    }
    rec
}

fn benches(c: &mut Criterion) {
    // `SIGHTLINE_PROFILE_SECS=n`: only loop 20k-item candidates for n
    // seconds, so a flat `perf record` profile shows just that path.
    if let Some(secs) = std::env::var("SIGHTLINE_PROFILE_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    {
        let now = 1_800_000_000i64;
        let rec = big_setup(now, 2_000);
        let keys: Vec<String> = (0..2_000).map(|v| format!("v{v}")).collect();
        let t = Instant::now();
        let mut calls = 0usize;
        while t.elapsed().as_secs_f64() < secs {
            let mut q = Query::new(10, now);
            q.session = Some(&keys[calls % keys.len()]);
            black_box(rec.candidates(&q).expect("candidates"));
            calls += 1;
        }
        println!("{calls} calls, {:.1} us mean", secs * 1e6 / calls as f64);
        return;
    }
    let demo = generate(&DemoConfig::default()).expect("demo data");
    let data = demo
        .interactions(&KindWeights::default())
        .expect("interactions");
    let universe = Arc::new(demo.catalog.ids().clone());
    let events = &demo.events;
    let load_before = loadavg();

    // (a) ingest throughput on one thread.
    let new_session =
        || SessionStore::new(SessionConfig::default(), universe.clone()).expect("store");
    let trending_config = TrendingConfig {
        region_parent: region_parent(),
        ..Default::default()
    };
    let new_trending =
        || TrendingStore::new(trending_config.clone(), Some(&demo.catalog)).expect("trending");
    let session_rate = rate(events, new_session, |s, e| {
        s.ingest(e).expect("ingest");
    });
    let trending_rate = rate(events, new_trending, |t, e| t.ingest(e).expect("ingest"));
    let both_rate = rate(
        events,
        || (new_session(), new_trending()),
        |(s, t), e| {
            s.ingest(e).expect("ingest");
            t.ingest(e).expect("ingest");
        },
    );

    // (b) candidate latency, demo catalog: visitors replay 20 events of a
    // demo customer, 30 s apart, ending at `now`.
    let rec = recommender(&data, 5);
    let now = 1_800_000_000i64;
    let mut by_user: std::collections::HashMap<&str, Vec<&Event>> = Default::default();
    for e in events {
        by_user.entry(&e.user).or_default().push(e);
    }
    let mut customers: Vec<&Vec<&Event>> = by_user.values().filter(|v| v.len() >= RECENT).collect();
    customers.sort_by_key(|v| &v[0].user);
    let visitors = customers.len().min(2_000);
    for (v, evs) in customers.iter().take(visitors).enumerate() {
        for (j, e) in evs.iter().take(RECENT).enumerate() {
            let ts = now - 30 * (RECENT - j) as i64;
            let ev = Event::new(format!("v{v}"), e.item.clone(), e.kind.clone(), ts);
            rec.store().ingest(&ev).expect("ingest");
        }
    }
    let (demo_p50, demo_p90, demo_p99) = latency(&rec, visitors, now);

    // 20k-item catalog: visitors browse one cluster.
    let big_visitors = 2_000;
    let big_rec = big_setup(now, big_visitors);
    let (big_p50, big_p90, big_p99) = latency(&big_rec, big_visitors, now);
    let load_after = loadavg();

    println!(
        "{{\"bench\":\"session\",\"events\":{},\"ingest_session_eps\":{:.0},\"ingest_trending_eps\":{:.0},\"ingest_both_eps\":{:.0},\"target_both_eps\":1000000,\
\"recent_events\":{RECENT},\"calls\":{CALLS},\"demo_items\":{},\"demo_p50_us\":{demo_p50:.1},\"demo_p90_us\":{demo_p90:.1},\"demo_p99_us\":{demo_p99:.1},\
\"big_items\":{},\"big_p50_us\":{big_p50:.1},\"big_p90_us\":{big_p90:.1},\"big_p99_us\":{big_p99:.1},\"target_p99_us\":300,\"loadavg_before\":{load_before},\"loadavg_after\":{load_after}}}",
        events.len(),
        session_rate,
        trending_rate,
        both_rate,
        universe.len(),
        big_rec.store().universe().len(),
    );

    // Criterion views of the same paths (means, for regression tracking).
    let mut g = c.benchmark_group("session");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let slice = &events[..100_000];
    g.bench_function("ingest_100k_events", |b| {
        b.iter(|| {
            let s = new_session();
            for e in slice {
                s.ingest(black_box(e)).expect("ingest");
            }
            s
        })
    });
    let mut v = 0usize;
    let keys: Vec<String> = (0..visitors).map(|v| format!("v{v}")).collect();
    g.bench_function("candidates_demo_n10", |b| {
        b.iter(|| {
            v = (v + 1) % visitors;
            let mut q = Query::new(10, now);
            q.session = Some(&keys[v]);
            rec.candidates(black_box(&q)).expect("candidates")
        })
    });
    g.bench_function("candidates_20k_n10", |b| {
        b.iter(|| {
            v = (v + 1) % big_visitors;
            let mut q = Query::new(10, now);
            q.session = Some(&keys[v % visitors]);
            big_rec.candidates(black_box(&q)).expect("candidates")
        })
    });
    g.finish();
}

criterion_group!(session, benches);
criterion_main!(session);
