//! The engine's two hot paths at the scale (fixed seeds): a full
//! home-page request — ALS for a known customer, recent browsing (20
//! events), popular in the region, business rules and diversity — on 20k
//! items and 200k customers, and live ingest with attribution (every event
//! through trending, the session store, purchase history and conversion
//! attribution, with impressions and clicks tracked alongside). Prints one
//! JSON line with p50/p99 and events/s (criterion reports means).
//! `cargo bench -p sightline --bench engine`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use sightline::als::{AlsConfig, AlsModel};
use sightline::data::{Event, EventKind, KindWeights};
use sightline::demo::{engine_config, generate, DemoConfig, DemoData};
use sightline::engine::{Engine, Models, Request};

const CALLS: usize = 3_000;
const WARMUP: usize = 300;
const RECENT: usize = 20;

fn setup() -> (DemoData, Engine, i64) {
    let demo = generate(&DemoConfig {
        customers: 200_000,
        products: 20_000,
        events: 4_000_000,
        seed: 11,
        ..Default::default()
    })
    .expect("demo data");
    let data = demo
        .interactions(&KindWeights::default())
        .expect("interactions");
    let als = AlsModel::fit(
        &AlsConfig {
            factors: 64,
            iterations: 4,
            ..Default::default()
        },
        &data,
    )
    .expect("als");
    let config = engine_config(&json!({
        "placements": {"home": {
            "sources": [{"source": "als"}, {"source": "session"}, {"source": "popular", "weight": 0.4}],
            "rules": {"max_per_brand": 3, "exclude_categories": ["eye_tests"]},
            "diversity": {"lambda": 0.7}
        }}
    }))
    .expect("config");
    let models = Models {
        catalog: Arc::new(demo.catalog.clone()),
        als: Some(Arc::new(als)),
        cooccur: None,
        content: None,
    };
    let engine = Engine::new(config, models).expect("engine");
    let now = demo.events.last().map_or(0, |e| e.timestamp);
    (demo, engine, now)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn bench(c: &mut Criterion) {
    let (demo, engine, now) = setup();
    // Live stores: the last two weeks of events.
    let recent: Vec<&Event> = demo
        .events
        .iter()
        .filter(|e| e.timestamp > now - 14 * 86_400)
        .collect();
    for e in &recent {
        engine.ingest(e, true).expect("ingest");
    }
    engine.refresh_popular(now).expect("popular");
    // Visitors: customers with 20 fresh views each.
    let customers: Vec<&str> = demo
        .customers
        .iter()
        .step_by(61)
        .map(|c| c.id.as_str())
        .take(CALLS)
        .collect();
    let n_items = demo.catalog.len();
    for (k, user) in customers.iter().enumerate() {
        for j in 0..RECENT {
            let item = &demo.catalog.items()[(k * 7919 + j * 104_729) % n_items].id;
            let e = Event::new(*user, item.clone(), EventKind::View, now - 600 + j as i64);
            engine.ingest(&e, true).expect("ingest");
        }
    }
    let request = |user: &str| Request {
        placement: "home".into(),
        user: Some(user.into()),
        region: Some("uk-north-west".into()),
        consent: true,
        now: Some(now),
        ..Default::default()
    };
    for user in customers.iter().take(WARMUP) {
        black_box(engine.recommend(&request(user)).expect("recommend"));
    }
    let mut ms = Vec::with_capacity(customers.len());
    for user in &customers {
        let t = Instant::now();
        let r = engine.recommend(&request(user)).expect("recommend");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r.items.len(), 10);
    }
    ms.sort_by(f64::total_cmp);
    c.bench_function("engine_home_request", |b| {
        let mut k = 0;
        b.iter(|| {
            k = (k + 1) % customers.len();
            black_box(engine.recommend(&request(customers[k])).expect("recommend"))
        })
    });

    // Ingest with attribution: every event of the year's last 2M through
    // the engine (consent given), with a served response, an impression and
    // a click every 20 events so purchases find clicks to attribute to.
    let events: Vec<&Event> = demo.events.iter().rev().take(2_000_000).collect();
    let fresh =
        Engine::new(engine_config(&json!({})).expect("config"), engine.models()).expect("engine");
    let start = Instant::now();
    let mut tracked = 0usize;
    for (k, e) in events.iter().rev().enumerate() {
        fresh.ingest(e, true).expect("ingest");
        if k % 20 == 0 {
            let id = format!("r{k}");
            fresh
                .tracker()
                .served(&sightline::tracking::Served {
                    recommendation_id: &id,
                    user: &e.user,
                    placement: "home",
                    variant: "default",
                    items: &[(
                        demo.catalog.ids().get(&e.item).unwrap_or(0),
                        sightline::candidate::SourceKind::Als,
                    )],
                    timestamp: e.timestamp,
                })
                .expect("served");
            fresh
                .track_impression(&id, e.timestamp)
                .expect("impression");
            fresh.track_click(&id, &e.item, e.timestamp).expect("click");
            tracked += 3;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let per_s = (events.len() + tracked) as f64 / secs;
    println!(
        "{}",
        json!({
            "bench": "engine",
            "items": n_items,
            "customers": demo.customers.len(),
            "home_request": {"calls": ms.len(), "p50_ms": percentile(&ms, 0.5), "p99_ms": percentile(&ms, 0.99),
                             "max_ms": percentile(&ms, 1.0), "target_p99_ms": 1.0},
            "ingest_with_attribution": {"events": events.len(), "tracking_calls": tracked,
                                        "events_per_s": per_s, "target_events_per_s": 500_000},
        })
    );
}

criterion_group! {
    name = engine;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(engine);
