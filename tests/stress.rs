//! Concurrency stress: an engine serving from several threads while its
//! models are hot-swapped and events and tracking calls pour in, and the
//! three shared live stores (sessions, trending, attribution) hammered on
//! their own.
//!
//! Every store is lock-based (`Mutex`/`RwLock`, `ArcSwap` for the model
//! snapshot; the only atomics are counters and a refresh flag), so these
//! are seeded stress tests with exact end-state checks rather than `loom`
//! models: there is no hand-written lock-free protocol to model-check.
//!
//! Torn reads are checked with [`Engine::model_generation`]: a probe whose
//! answer depends only on the ALS model must equal model A's or model B's
//! answer, and exactly the one of the generation read before and after it
//! when the two reads agree. Two regressions swap between catalogs of the
//! same items in other orders: the popular cache raced by a refresh used
//! to be read in the wrong catalog's order, and events ingested during
//! the swap used to be lost from the copied session store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, OnceLock, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use sightline::als::{AlsConfig, AlsModel};
use sightline::data::{Catalog, Channel, Event, EventKind, KindWeights};
use sightline::demo::{engine_config, generate, DemoConfig, DemoData, REGIONS};
use sightline::engine::{Engine, Models, Request};
use sightline::ids::IdMap;
use sightline::session::{SessionConfig, SessionStore};
use sightline::store::ModelFile;
use sightline::tracking::{Served, Tracker, TrackingConfig};
use sightline::trending::TrendingStore;
use sightline::Component;

/// Threads answering requests in the engine test.
const SERVERS: usize = 4;
/// Model swaps in the engine test (half `swap_models`, half `reload_models`).
const SWAPS: usize = 100;
/// Pause between two swaps, so that servers see every version for a while.
const SWAP_PAUSE: Duration = Duration::from_millis(2);
/// Rounds of the ingest thread (each one event, or a batch of `BATCH`).
const INGEST_ROUNDS: usize = 600;
/// Events in one `ingest_batch` call.
const BATCH: usize = 16;
/// Rounds of the tracking thread (request, impression, click, conversion).
const TRACK_ROUNDS: usize = 400;
/// Probe users (known customers whose A and B answers differ).
const PROBES: usize = 8;
/// Threads and operations per thread of the session store test.
const SESSION_THREADS: usize = 4;
const SESSION_OPS: usize = 100_000;
/// Threads and events of the trending test.
const TRENDING_THREADS: usize = 4;
const TRENDING_EVENTS: usize = 20_000;
/// Threads, recommendations per thread and `max_open` of the tracker test.
const TRACKER_THREADS: usize = 4;
const TRACKER_RECS: usize = 20_000;
const MAX_OPEN: usize = 1_000;
/// Seed of every random choice.
const SEED: u64 = 0x5157_0018;
/// Nothing here should take long; a hang fails instead of blocking CI.
const HANG: Duration = Duration::from_secs(60);

/// SplitMix64: a tiny seeded generator, one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        Rng(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// The demo shop and two ALS models (A, B) that differ only in their seed.
struct Shop {
    demo: DemoData,
    a: Models,
    b: Models,
    now: i64,
}

fn shop() -> &'static Shop {
    static SHOP: OnceLock<Shop> = OnceLock::new();
    SHOP.get_or_init(|| {
        let demo = generate(&DemoConfig {
            customers: 1_500,
            products: 300,
            events: 40_000,
            ..Default::default()
        })
        .unwrap();
        let data = demo.interactions(&KindWeights::default()).unwrap();
        let fit = |seed| {
            let config = AlsConfig {
                factors: 16,
                iterations: 4,
                seed,
                ..Default::default()
            };
            Models {
                catalog: Arc::new(demo.catalog.clone()),
                als: Some(Arc::new(AlsModel::fit(&config, &data).unwrap())),
                cooccur: None,
                content: None,
            }
        };
        let (a, b) = (fit(1), fit(2));
        let now = demo.events.last().unwrap().timestamp;
        Shop { demo, a, b, now }
    })
}

/// The demo config plus a `probe` placement answered by ALS alone (no
/// fallback, diversity or promotions, budgets no load can overrun and a
/// breaker that never opens for slowness), so its answer is a function of
/// the served ALS model only.
fn config() -> sightline::engine::EngineConfig {
    engine_config(&json!({
        "breaker": {"slow_call_ms": 60000.0},
        "placements": {"probe": {
            "n": 10,
            "sources": [{"source": "als", "budget_ms": 60000.0}],
            "fallback": [],
            "promotions": false,
            "diversity": {"lambda": 0.0},
            "deadline_ms": 60000.0
        }}
    }))
    .unwrap()
}

fn probe(user: &str, now: i64) -> Request {
    Request {
        placement: "probe".into(),
        user: Some(user.into()),
        consent: true,
        now: Some(now),
        ..Default::default()
    }
}

/// A response's items with their scores: what must not tear.
type Answer = Vec<(String, f32)>;

fn answer(engine: &Engine, req: &Request) -> Answer {
    let r = engine.recommend(req).unwrap();
    r.items.into_iter().map(|i| (i.item, i.score)).collect()
}

/// Runs `f` on a thread and fails the test if it does not end within
/// [`HANG`] (a deadlock shows up as a failure, not a stuck CI job).
fn within_hang<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || tx.send(f()).ok());
    match rx.recv_timeout(HANG) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: no end within {HANG:?}, a deadlock?")
        }
        // It panicked (a failed assertion): fail with its message.
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(_) => unreachable!("{name}: ended without an answer"),
        },
    }
}

/// Every distinct segment's weight and every catalog item's score in two
/// trending stores agree within a relative 1e-9: the same events summed
/// in another order differ only by float rounding.
fn assert_same_trending(got: &TrendingStore, want: &TrendingStore, catalog: &Catalog, now: i64) {
    let names = |s: &TrendingStore| {
        let mut v: Vec<String> = s.segments().iter().map(|g| g.name()).collect();
        v.sort();
        v
    };
    assert_eq!(names(got), names(want), "same segments");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-12;
    let mut compared = 0;
    for seg in want.segments() {
        let (g, w) = (
            got.segment_weight(&seg, now),
            want.segment_weight(&seg, now),
        );
        assert!(close(g, w), "{}: weight {g} vs {w}", seg.name());
        assert_eq!(got.segment_len(&seg), want.segment_len(&seg));
        for id in catalog.ids().ids() {
            let (g, w) = (got.score(&seg, id, now), want.score(&seg, id, now));
            assert!(close(g, w), "{} {id}: score {g} vs {w}", seg.name());
            compared += usize::from(w > 0.0);
        }
    }
    assert!(compared > 1_000, "only {compared} scores compared");
}

/// The live trending store of `engine` (through its saved bytes).
fn trending_of(engine: &Engine) -> TrendingStore {
    TrendingStore::read_from(&ModelFile::from_bytes(&engine.to_bytes().unwrap()).unwrap()).unwrap()
}

fn random_event(rng: &mut Rng, users: &[String], items: &[String], now: i64) -> Event {
    let kind = match rng.below(10) {
        0..=5 => EventKind::View,
        6 => EventKind::Click,
        7 | 8 => EventKind::AddToCart,
        _ => EventKind::Purchase,
    };
    let mut e = Event::new(
        rng.pick(users).clone(),
        rng.pick(items).clone(),
        kind,
        now - rng.below(86_400) as i64,
    );
    if rng.below(4) > 0 {
        e = e.region(rng.pick(REGIONS).0);
    }
    if rng.below(2) == 0 {
        e = e.channel(*rng.pick(&Channel::ALL));
    }
    e
}

fn counter(engine: &Engine, name: &str, labels: &[(&str, &str)]) -> u64 {
    engine.metrics().counter(name, labels).unwrap().get()
}

#[test]
fn serving_holds_while_models_swap_and_events_pour_in() {
    let s = shop();
    let started = Instant::now();
    let now = s.now;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(config(), s.a.clone()).unwrap();
    // Warm the live stores with the last two days.
    let warm: Vec<Event> = s
        .demo
        .events
        .iter()
        .filter(|e| e.timestamp > now - 2 * 86_400)
        .cloned()
        .collect();
    engine.ingest_batch(&warm, true).unwrap();

    // Model files of A and B, and the probe answers of each.
    let files = [dir.path().join("a.slm"), dir.path().join("b.slm")];
    engine.save(&files[0]).unwrap();
    engine.swap_models(s.b.clone()).unwrap();
    engine.save(&files[1]).unwrap();
    let customers: Vec<String> = s.demo.customers.iter().map(|c| c.id.clone()).collect();
    let (probe_users, rest) = customers.split_at(customers.len() / 3);
    let (tracked_users, ingest_users) = rest.split_at(rest.len() / 2);
    let mut probes: Vec<(String, [Answer; 2])> = Vec::new();
    for user in probe_users {
        engine.reload_models(&files[0]).unwrap();
        let a = answer(&engine, &probe(user, now));
        engine.swap_models(s.b.clone()).unwrap();
        let b = answer(&engine, &probe(user, now));
        if a.len() == 10 && b.len() == 10 && a != b {
            probes.push((user.clone(), [a, b]));
        }
        if probes.len() == PROBES {
            break;
        }
    }
    assert_eq!(probes.len(), PROBES, "A and B must differ for the probes");
    // Reloaded A answers as A did: file round trips lose nothing.
    engine.reload_models(&files[0]).unwrap();
    for (user, [a, _]) in &probes {
        assert_eq!(&answer(&engine, &probe(user, now)), a);
    }
    engine.swap_models(s.a.clone()).unwrap();
    let g0 = engine.model_generation();
    assert_eq!(engine.stats().model_generation, g0);
    let swaps0 = counter(&engine, "sightline_model_swaps_total", &[]);
    let kinds = ["view", "click", "add_to_cart", "purchase"];
    let events0: Vec<u64> = kinds
        .iter()
        .map(|k| counter(&engine, "sightline_events_total", &[("kind", k)]))
        .collect();
    let tracking0 = engine.stats().tracking;
    let served0 = |placement: &str| {
        tracking0
            .iter()
            .find(|g| g.placement == placement && g.source.is_none())
            .map_or(0, |g| g.served)
    };
    let home0 = served0("home");

    let engine = Arc::new(engine);
    let probes = Arc::new(probes);
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let served_home = Arc::new(AtomicU64::new(0));
    let seen = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let barrier = Arc::new(Barrier::new(SERVERS + 3));
    let items: Arc<Vec<String>> = Arc::new(s.demo.catalog.ids().ids().to_vec());
    let mut handles = Vec::new();

    for t in 0..SERVERS {
        let (engine, probes, stop, requests, served_home, seen, barrier, items) = (
            engine.clone(),
            probes.clone(),
            stop.clone(),
            requests.clone(),
            served_home.clone(),
            seen.clone(),
            barrier.clone(),
            items.clone(),
        );
        let users: Vec<String> = customers.to_vec();
        handles.push(thread::spawn(move || {
            let mut rng = Rng::new(SEED, t as u64);
            let mut last_generation = 0;
            let mut n = 0u64;
            barrier.wait();
            while !stop.load(Ordering::Acquire) || n < 200 {
                n += 1;
                if n.is_multiple_of(2) {
                    let (user, answers) = rng.pick(&probes[..]);
                    let before = engine.model_generation();
                    assert!(before >= last_generation, "generation went back");
                    let got = answer(&engine, &probe(user, now));
                    let after = engine.model_generation();
                    assert!(after >= before, "generation went back");
                    last_generation = after;
                    let version = answers
                        .iter()
                        .position(|a| *a == got)
                        .unwrap_or_else(|| panic!("torn answer for {user}: {got:?}"));
                    if before == after {
                        let want = ((before - g0) % 2) as usize;
                        assert_eq!(version, want, "generation {before} answered as the other");
                    }
                    seen[version].fetch_add(1, Ordering::Relaxed);
                } else {
                    // Any placement, known or anonymous, with or without
                    // consent and context: always answered, never empty.
                    let placement = *rng.pick(&["home", "product_page", "cart", "email"]);
                    let mut req = Request {
                        placement: placement.into(),
                        consent: rng.below(2) == 0,
                        now: Some(now),
                        region: Some(rng.pick(REGIONS).0.into()),
                        ..Default::default()
                    };
                    if rng.below(2) == 0 {
                        req.user = Some(rng.pick(&users).clone());
                    } else {
                        req.session = Some(format!("anon-{}", rng.below(200)));
                    }
                    if placement != "home" {
                        req.context_items = vec![rng.pick(&items).clone()];
                    }
                    let r = engine
                        .recommend(&req)
                        .unwrap_or_else(|e| panic!("{req:?} failed: {e}"));
                    assert!(!r.items.is_empty(), "{req:?} answered nothing");
                    if placement == "home" {
                        served_home.fetch_add(1, Ordering::Relaxed);
                    }
                }
                requests.fetch_add(1, Ordering::Relaxed);
            }
            n
        }));
    }

    // Swapper: A → B → A … alternating `swap_models` and `reload_models`.
    let swapper = {
        let (engine, barrier, files, b, a) = (
            engine.clone(),
            barrier.clone(),
            files.clone(),
            s.b.clone(),
            s.a.clone(),
        );
        thread::spawn(move || {
            barrier.wait();
            for i in 0..SWAPS {
                let target = (i + 1) % 2; // 1 = B first
                if i % 4 < 2 {
                    engine
                        .swap_models(if target == 1 { b.clone() } else { a.clone() })
                        .unwrap();
                } else {
                    engine.reload_models(&files[target]).unwrap();
                }
                thread::sleep(SWAP_PAUSE);
            }
        })
    };

    // Ingest: views, clicks, carts, purchases of anonymous and known
    // visitors (never a probe or tracked user), single and batched, with
    // and without consent.
    let ingester = {
        let (engine, barrier, items) = (engine.clone(), barrier.clone(), items.clone());
        let mut users: Vec<String> = ingest_users.to_vec();
        users.extend((0..200).map(|i| format!("anon-{i}")));
        thread::spawn(move || {
            let mut rng = Rng::new(SEED, 100);
            let mut sent: Vec<Event> = Vec::new();
            barrier.wait();
            for round in 0..INGEST_ROUNDS {
                let consent = rng.below(3) > 0;
                if round % 4 == 3 {
                    let batch: Vec<Event> = (0..BATCH)
                        .map(|_| random_event(&mut rng, &users, &items, now))
                        .collect();
                    assert_eq!(engine.ingest_batch(&batch, consent).unwrap(), BATCH);
                    sent.extend(batch);
                } else {
                    let e = random_event(&mut rng, &users, &items, now);
                    engine.ingest(&e, consent).unwrap();
                    sent.push(e);
                }
            }
            sent
        })
    };

    // Tracking: a tracked customer's home request, its impression (twice:
    // the second must not count), a click and a conversion.
    let tracker = {
        let (engine, barrier, served_home) = (engine.clone(), barrier.clone(), served_home.clone());
        let users: Vec<String> = tracked_users.to_vec();
        thread::spawn(move || {
            let mut rng = Rng::new(SEED, 200);
            let mut counts = [0u64; 3];
            barrier.wait();
            for _ in 0..TRACK_ROUNDS {
                let user = rng.pick(&users).clone();
                let req = Request {
                    placement: "home".into(),
                    user: Some(user.clone()),
                    consent: true,
                    now: Some(now),
                    ..Default::default()
                };
                let r = engine.recommend(&req).unwrap();
                served_home.fetch_add(1, Ordering::Relaxed);
                let id = &r.recommendation_id;
                let item = &r.items[rng.below(r.items.len())].item;
                assert!(engine.track_impression(id, now + 1).unwrap());
                assert!(!engine.track_impression(id, now + 1).unwrap());
                counts[0] += 1;
                if rng.below(2) == 0 {
                    assert!(engine.track_click(id, item, now + 2).unwrap());
                    assert!(!engine.track_click(id, item, now + 2).unwrap());
                    counts[1] += 1;
                    if engine.track_conversion(&user, item, 10.0, now + 3).unwrap() {
                        counts[2] += 1;
                    }
                }
            }
            counts
        })
    };

    let (sent, counts, per_server) = within_hang("engine stress", move || {
        swapper.join().unwrap();
        let sent = ingester.join().unwrap();
        let counts = tracker.join().unwrap();
        stop.store(true, Ordering::Release);
        let per_server: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (sent, counts, per_server)
    });

    // Every swap counted, every event counted by kind, tracking exact.
    assert_eq!(
        counter(&engine, "sightline_model_swaps_total", &[]) - swaps0,
        SWAPS as u64
    );
    assert_eq!(engine.model_generation(), g0 + SWAPS as u64);
    assert_eq!(
        sent.len(),
        INGEST_ROUNDS / 4 * BATCH + INGEST_ROUNDS * 3 / 4
    );
    for (k, kind) in kinds.iter().enumerate() {
        let want = sent.iter().filter(|e| e.kind.as_str() == *kind).count() as u64;
        let got = counter(&engine, "sightline_events_total", &[("kind", kind)]) - events0[k];
        assert_eq!(got, want, "{kind} events");
    }
    let stats = engine.stats();
    assert_eq!(stats.model_generation, g0 + SWAPS as u64);
    let home = stats
        .tracking
        .iter()
        .find(|g| g.placement == "home" && g.source.is_none())
        .unwrap();
    let home_before = tracking0
        .iter()
        .find(|g| g.placement == "home" && g.source.is_none());
    let before = |f: fn(&sightline::tracking::GroupStats) -> u64| home_before.map_or(0, f);
    assert_eq!(home.served - home0, served_home.load(Ordering::Relaxed));
    assert_eq!(home.impressions - before(|g| g.impressions), counts[0]);
    assert_eq!(home.clicks - before(|g| g.clicks), counts[1]);
    assert_eq!(home.conversions - before(|g| g.conversions), counts[2]);
    assert!(counts[2] > 0, "some conversion attributed");
    // Trending learnt exactly the warm-up and the ingested events.
    let mut want =
        TrendingStore::new(engine.config().trending.clone(), Some(&s.demo.catalog)).unwrap();
    want.ingest_batch(&warm).unwrap();
    want.ingest_batch(&sent).unwrap();
    assert_same_trending(&trending_of(&engine), &want, &s.demo.catalog, now);
    // Both versions were served while swapping.
    let seen = [
        seen[0].load(Ordering::Relaxed),
        seen[1].load(Ordering::Relaxed),
    ];
    assert!(seen[0] > 0 && seen[1] > 0, "both versions served: {seen:?}");
    eprintln!(
        "engine stress: {SERVERS} servers × {per_server:?} requests ({} in all, probes A/B {seen:?}), \
         {SWAPS} swaps, {} events, {TRACK_ROUNDS} tracking rounds {counts:?}, 0 failures, {:.2?}",
        requests.load(Ordering::Relaxed),
        sent.len(),
        started.elapsed()
    );
}

/// Swaps between two catalogs of the same items in opposite orders while
/// the popular cache is refreshed: the last fallback (popular in the
/// region) must name the same items whichever catalog answers, i.e. the
/// cache's item indices are never read in the other catalog's order.
#[test]
fn popular_fallback_never_reads_another_catalogs_indices() {
    let s = shop();
    let started = Instant::now();
    let forward = Arc::new(s.demo.catalog.clone());
    let mut reversed = Catalog::new();
    for item in s.demo.catalog.items().iter().rev() {
        reversed.add(item.clone()).unwrap();
    }
    let models = |catalog: Arc<Catalog>| Models {
        catalog,
        als: None,
        cooccur: None,
        content: None,
    };
    let versions = [models(forward), models(Arc::new(reversed))];
    // Only the last fallback answers: ALS is absent, no fallback sources,
    // and the cache changes only when refreshed (at the fixed `now`).
    let config = engine_config(&json!({
        "popular_refresh_seconds": 0,
        "placements": {"last_resort": {
            "n": 10,
            "sources": [{"source": "als"}],
            "fallback": [],
            "promotions": false,
            "diversity": {"lambda": 0.0}
        }}
    }))
    .unwrap();
    let engine = Arc::new(Engine::new(config, versions[0].clone()).unwrap());
    // A swap computes the cache as of the wall clock: the demo's last week
    // moved to end now keeps that the time the refreshes use.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let warm: Vec<Event> = s
        .demo
        .events
        .iter()
        .filter(|e| e.timestamp > s.now - 7 * 86_400)
        .map(|e| Event {
            timestamp: e.timestamp - s.now + now,
            ..e.clone()
        })
        .collect();
    engine.ingest_batch(&warm, false).unwrap();
    let regions: Vec<&str> = REGIONS.iter().map(|r| r.0).take(6).collect();
    let ask = move |engine: &Engine, region: &str| -> Vec<String> {
        let r = engine
            .recommend(&Request {
                placement: "last_resort".into(),
                region: Some(region.into()),
                now: Some(now),
                ..Default::default()
            })
            .unwrap();
        r.items.into_iter().map(|i| i.item).collect()
    };
    let mut expected: HashMap<&str, Vec<String>> = HashMap::new();
    for v in [1, 0] {
        engine.swap_models(versions[v].clone()).unwrap();
        engine.refresh_popular(now).unwrap();
        for &region in &regions {
            let got = ask(&engine, region);
            assert_eq!(got.len(), 10);
            let want = expected.entry(region).or_insert_with(|| got.clone());
            assert_eq!(&got, want, "{region}: the catalogs' orders answer alike");
        }
    }
    let expected = Arc::new(expected);
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..2 {
        let (engine, expected, stop, regions) = (
            engine.clone(),
            expected.clone(),
            stop.clone(),
            regions.clone(),
        );
        threads.push(thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Acquire) || n < 100 {
                let region = regions[(n + t) % regions.len()];
                let got = ask(&engine, region);
                assert_eq!(
                    &got, &expected[region],
                    "{region}: popular items of another catalog"
                );
                n += 1;
            }
        }));
    }
    {
        let (engine, stop) = (engine.clone(), stop.clone());
        threads.push(thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                engine.refresh_popular(now).unwrap();
            }
        }));
    }
    within_hang("catalog swaps", move || {
        for i in 0..SWAPS {
            engine.swap_models(versions[(i + 1) % 2].clone()).unwrap();
            thread::sleep(SWAP_PAUSE);
        }
        stop.store(true, Ordering::Release);
        for t in threads {
            t.join().unwrap();
        }
    });
    eprintln!(
        "catalog swaps: {SWAPS} swaps between two catalog orders under refreshes, {:.2?}",
        started.elapsed()
    );
}

/// Visitors' sessions survive swaps to another catalog order made while
/// their events are ingested: every event is in their session afterwards
/// (none written into the old store after it was copied for the new one).
#[test]
fn sessions_keep_every_event_across_catalog_swaps() {
    const WRITERS: usize = 2;
    const USERS: usize = 20;
    const EVENTS: usize = 40; // per user, below the session cap of 50
    let s = shop();
    let started = Instant::now();
    let mut reversed = Catalog::new();
    for item in s.demo.catalog.items().iter().rev() {
        reversed.add(item.clone()).unwrap();
    }
    let models = |catalog: Catalog| Models {
        catalog: Arc::new(catalog),
        als: None,
        cooccur: None,
        content: None,
    };
    let versions = [models(s.demo.catalog.clone()), models(reversed)];
    let engine = Arc::new(Engine::new(config(), versions[0].clone()).unwrap());
    let items: Arc<Vec<String>> = Arc::new(s.demo.catalog.ids().ids().to_vec());
    let done = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (engine, items, done) = (engine.clone(), items.clone(), done.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(SEED, 600 + w as u64);
                for k in 0..EVENTS {
                    for u in 0..USERS {
                        let e = Event::new(
                            format!("w{w}-u{u}"),
                            rng.pick(&items).clone(),
                            EventKind::View,
                            s.now + (k * USERS + u) as i64,
                        );
                        engine.ingest(&e, true).unwrap();
                        thread::sleep(Duration::from_micros(100));
                    }
                }
                done.fetch_add(1, Ordering::Release);
            })
        })
        .collect();
    let swaps = within_hang("session swaps", move || {
        let mut i = 0;
        while done.load(Ordering::Acquire) < WRITERS {
            engine.swap_models(versions[(i + 1) % 2].clone()).unwrap();
            i += 1;
        }
        for w in writers {
            w.join().unwrap();
        }
        for w in 0..WRITERS {
            for u in 0..USERS {
                let user = format!("w{w}-u{u}");
                let held = engine.export_user(&user).unwrap().session_events.len();
                assert_eq!(held, EVENTS, "{user}: events lost across catalog swaps");
            }
        }
        i
    });
    assert!(swaps > 10, "only {swaps} swaps overlapped the ingest");
    eprintln!(
        "session swaps: {swaps} catalog swaps during {} ingests, none lost, {:.2?}",
        WRITERS * USERS * EVENTS,
        started.elapsed()
    );
}

#[test]
fn session_store_holds_under_concurrent_ingest_merge_forget_expire() {
    const MAX_EVENTS: usize = 20;
    const TTL: i64 = 10_000_000;
    const T0: i64 = 1_700_000_000;
    let started = Instant::now();
    let items: Vec<String> = (0..50).map(|i| format!("i{i}")).collect();
    let universe = Arc::new(IdMap::from_ids(items.iter().cloned()).unwrap());
    let store = Arc::new(
        SessionStore::new(
            SessionConfig {
                capacity: 10_000,
                max_events: MAX_EVENTS,
                ttl_seconds: TTL,
                shards: 4,
                ..Default::default()
            },
            universe,
        )
        .unwrap(),
    );
    // Keys every thread touches: `kept` only get events (their end state is
    // exact), `anon`/`user` are merged into each other, `gone` are forgotten
    // while written, `old` only get events older than the TTL.
    let keys = |p: &str, n: usize| (0..n).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
    let (kept, anon, user, gone, old) = (
        keys("kept", 8),
        keys("anon", 8),
        keys("user", 4),
        keys("gone", 4),
        keys("old", 4),
    );
    // Timestamps are unique across threads (tag of each event) and within
    // the TTL of `now` for everything but `old`.
    let clock = Arc::new(AtomicU64::new(0));
    let now = T0 + SESSION_OPS as i64 * SESSION_THREADS as i64 + 10;
    let ts = {
        let clock = clock.clone();
        move || T0 + clock.fetch_add(1, Ordering::Relaxed) as i64
    };
    let ingested: Arc<Vec<AtomicUsize>> =
        Arc::new((0..kept.len()).map(|_| AtomicUsize::new(0)).collect());
    let barrier = Arc::new(Barrier::new(SESSION_THREADS));
    let handles: Vec<_> = (0..SESSION_THREADS)
        .map(|t| {
            let (store, items, ingested, barrier, ts) = (
                store.clone(),
                items.clone(),
                ingested.clone(),
                barrier.clone(),
                ts.clone(),
            );
            let (kept, anon, user, gone, old) = (
                kept.clone(),
                anon.clone(),
                user.clone(),
                gone.clone(),
                old.clone(),
            );
            thread::spawn(move || {
                let mut rng = Rng::new(SEED, 300 + t as u64);
                let ev = |k: &str, item: &str, ts: i64| Event::new(k, item, EventKind::View, ts);
                barrier.wait();
                for _ in 0..SESSION_OPS {
                    let item = rng.pick(&items).clone();
                    match rng.below(16) {
                        0..=4 => {
                            let k = rng.below(kept.len());
                            assert!(store.ingest(&ev(&kept[k], &item, ts())).unwrap());
                            ingested[k].fetch_add(1, Ordering::Relaxed);
                        }
                        5..=7 => {
                            let k = if rng.below(2) == 0 {
                                rng.pick(&anon)
                            } else {
                                rng.pick(&user)
                            };
                            store.ingest(&ev(k, &item, ts())).unwrap();
                        }
                        8 => {
                            let (a, u) = (rng.pick(&anon), rng.pick(&user));
                            let moved = store.merge(a, u, now).unwrap();
                            assert!(moved <= MAX_EVENTS);
                        }
                        9 | 10 => {
                            store
                                .ingest(&ev(rng.pick(&gone).as_str(), &item, ts()))
                                .unwrap();
                        }
                        11 => {
                            store.forget(rng.pick(&gone).as_str());
                        }
                        12 => {
                            // Old events: idle at `now`, expired by anyone.
                            store
                                .ingest(&ev(rng.pick(&old).as_str(), &item, T0 - 2 * TTL))
                                .unwrap();
                        }
                        13 => {
                            store.expire(now);
                        }
                        _ => {
                            let all = [&kept, &anon, &user, &gone];
                            let group = rng.pick(&all);
                            let k = rng.pick(group);
                            let recent = store.recent(k, now);
                            assert!(recent.len() <= MAX_EVENTS, "{k}: cap broken");
                            assert!(
                                recent.windows(2).all(|w| w[0].timestamp >= w[1].timestamp),
                                "{k}: not newest first"
                            );
                            let _ = store.context(k, now);
                        }
                    }
                }
            })
        })
        .collect();
    within_hang("session stress", move || {
        for h in handles {
            h.join().unwrap();
        }
    });

    // Ingest-only keys hold exactly their newest MAX_EVENTS events; no
    // event (unique timestamp) is held twice, e.g. by a merge copying
    // instead of moving; held counts agree with the stats.
    let mut tags = HashSet::new();
    let mut held_keys = 0;
    let mut held_events = 0;
    for k in kept
        .iter()
        .chain(&anon)
        .chain(&user)
        .chain(&gone)
        .chain(&old)
    {
        let evs = store.export(k);
        assert!(evs.len() <= MAX_EVENTS, "{k}: {} events", evs.len());
        held_keys += usize::from(!evs.is_empty());
        held_events += evs.len();
        for e in &evs {
            if !k.starts_with("old") {
                assert!(
                    tags.insert(e.timestamp),
                    "{k}: event at {} held twice",
                    e.timestamp
                );
            }
        }
    }
    for (k, key) in kept.iter().enumerate() {
        let n = ingested[k].load(Ordering::Relaxed);
        assert_eq!(store.recent(key, now).len(), n.min(MAX_EVENTS), "{key}");
    }
    let stats = store.stats();
    assert_eq!((stats.keys, stats.events), (held_keys, held_events));
    assert_eq!(store.len(), held_keys);
    // `old` keys go at the latest with this expire; forgetting each `gone`
    // key from two threads at once removes it exactly once.
    store.expire(now);
    for k in &old {
        assert!(store.export(k).is_empty(), "{k} outlived its TTL");
    }
    let present: usize = gone.iter().filter(|k| !store.export(k).is_empty()).count();
    let forgotten = AtomicUsize::new(0);
    thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                for k in &gone {
                    forgotten.fetch_add(usize::from(store.forget(k)), Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(forgotten.into_inner(), present);
    assert!(gone
        .iter()
        .all(|k| store.export(k).is_empty() && store.recent(k, now).is_empty()));
    eprintln!(
        "session stress: {SESSION_THREADS} threads × {SESSION_OPS} ops, {held_keys} keys / \
         {held_events} events held, {:.2?}",
        started.elapsed()
    );
}

#[test]
fn trending_learns_the_same_from_concurrent_ingest() {
    let s = shop();
    let started = Instant::now();
    let now = s.now;
    let engine = Arc::new(Engine::new(config(), s.a.clone()).unwrap());
    let items: Vec<String> = s.demo.catalog.ids().ids().to_vec();
    let users: Vec<String> = (0..500).map(|i| format!("v{i}")).collect();
    let mut rng = Rng::new(SEED, 400);
    let events: Arc<Vec<Event>> = Arc::new(
        (0..TRENDING_EVENTS)
            .map(|_| random_event(&mut rng, &users, &items, now))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(TRENDING_THREADS + 1));
    // Writers take interleaved shares, one by one or in batches; a reader
    // asks for popular items meanwhile.
    let writers: Vec<_> = (0..TRENDING_THREADS)
        .map(|t| {
            let (engine, events, barrier) = (engine.clone(), events.clone(), barrier.clone());
            thread::spawn(move || {
                let mine: Vec<Event> = events
                    .iter()
                    .skip(t)
                    .step_by(TRENDING_THREADS)
                    .cloned()
                    .collect();
                barrier.wait();
                for (i, chunk) in mine.chunks(BATCH).enumerate() {
                    if i % 2 == 0 {
                        engine.ingest_batch(chunk, i % 4 == 0).unwrap();
                    } else {
                        for e in chunk {
                            engine.ingest(e, true).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    let reader = {
        let (engine, stop, barrier) = (engine.clone(), stop.clone(), barrier.clone());
        thread::spawn(move || {
            barrier.wait();
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                let r = engine
                    .recommend(&Request {
                        placement: "home".into(),
                        region: Some(REGIONS[n % REGIONS.len()].0.into()),
                        now: Some(now),
                        ..Default::default()
                    })
                    .unwrap();
                assert!(!r.items.is_empty());
                n += 1;
            }
            n
        })
    };
    let reads = within_hang("trending stress", move || {
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Release);
        reader.join().unwrap()
    });
    let mut want =
        TrendingStore::new(engine.config().trending.clone(), Some(&s.demo.catalog)).unwrap();
    want.ingest_batch(&events).unwrap();
    assert_same_trending(&trending_of(&engine), &want, &s.demo.catalog, now);
    eprintln!(
        "trending stress: {TRENDING_THREADS} writers × {} events, {reads} reads, {:.2?}",
        TRENDING_EVENTS / TRENDING_THREADS,
        started.elapsed()
    );
}

#[test]
fn attribution_log_counts_exactly_under_concurrent_tracking() {
    const T0: i64 = 1_700_000_000;
    let started = Instant::now();
    let tracker = Arc::new(
        Tracker::new(TrackingConfig {
            max_open: MAX_OPEN,
            ..Default::default()
        })
        .unwrap(),
    );
    // Each thread serves its own recommendations; every impression, click
    // and conversion is attempted by two threads (its own and the next),
    // so exactly-once counting is contended.
    let ids = |t: usize, i: usize| format!("r{t}-{i}");
    let users: Vec<String> = (0..40).map(|u| format!("u{u}")).collect();
    let trues = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let served = Arc::new(RwLock::new(BTreeMap::<String, u64>::new()));
    let barrier = Arc::new(Barrier::new(TRACKER_THREADS));
    let handles: Vec<_> = (0..TRACKER_THREADS)
        .map(|t| {
            let (tracker, trues, served, barrier, users) = (
                tracker.clone(),
                trues.clone(),
                served.clone(),
                barrier.clone(),
                users.clone(),
            );
            thread::spawn(move || {
                let mut rng = Rng::new(SEED, 500 + t as u64);
                let mut mine: HashMap<&str, u64> = HashMap::new();
                let placements = ["home", "cart"];
                barrier.wait();
                for i in 0..TRACKER_RECS {
                    let placement = placements[i % 2];
                    let user = &users[(t * 7 + i) % users.len()];
                    let items = [
                        (i as u32 % 50, sightline::candidate::SourceKind::Als),
                        (50, sightline::candidate::SourceKind::Popular),
                    ];
                    tracker
                        .served(&Served {
                            recommendation_id: &ids(t, i),
                            user,
                            placement,
                            variant: "default",
                            items: &items,
                            timestamp: T0,
                        })
                        .unwrap();
                    *mine.entry(placement).or_default() += 1;
                    let (open, clicks) = tracker.open();
                    assert!(
                        open <= MAX_OPEN && clicks <= MAX_OPEN,
                        "max_open broken: {open}, {clicks}"
                    );
                    // Its own and the previous thread's recommendation i.
                    for owner in [t, (t + TRACKER_THREADS - 1) % TRACKER_THREADS] {
                        let id = ids(owner, i);
                        let owner_user = &users[(owner * 7 + i) % users.len()];
                        let item = i as u32 % 50;
                        for (k, hit) in [
                            tracker.impression(&id, T0 + 1).unwrap(),
                            rng.below(2) == 0 && tracker.click(&id, item, T0 + 2).unwrap(),
                            tracker.conversion(owner_user, item, 5.0, T0 + 3).unwrap(),
                        ]
                        .into_iter()
                        .enumerate()
                        {
                            trues[k].fetch_add(u64::from(hit), Ordering::Relaxed);
                        }
                    }
                }
                let mut all = served.write().unwrap();
                for (p, n) in mine {
                    *all.entry(p.to_owned()).or_default() += n;
                }
            })
        })
        .collect();
    within_hang("tracker stress", move || {
        for h in handles {
            h.join().unwrap();
        }
    });
    let stats = tracker.stats();
    let total = |f: fn(&sightline::tracking::GroupStats) -> u64| -> u64 {
        stats.iter().filter(|g| g.source.is_none()).map(f).sum()
    };
    for g in stats.iter().filter(|g| g.source.is_none()) {
        assert_eq!(Some(&g.served), served.read().unwrap().get(&g.placement));
    }
    let trues: Vec<u64> = trues.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert_eq!(total(|g| g.served), (TRACKER_THREADS * TRACKER_RECS) as u64);
    assert_eq!(total(|g| g.impressions), trues[0]);
    assert_eq!(total(|g| g.clicks), trues[1]);
    assert_eq!(total(|g| g.conversions), trues[2]);
    // Each impression counts once although two threads report it (some
    // may have been dropped by max_open before either did).
    assert!(trues[0] <= (TRACKER_THREADS * TRACKER_RECS) as u64);
    assert!(trues[0] > (TRACKER_THREADS * TRACKER_RECS) as u64 / 2);
    assert!(trues[1] > 0 && trues[2] > 0);
    let (open, clicks) = tracker.open();
    assert_eq!(
        open, MAX_OPEN,
        "the log keeps exactly max_open recommendations"
    );
    assert!(clicks <= MAX_OPEN);
    eprintln!(
        "tracker stress: {TRACKER_THREADS} threads × {TRACKER_RECS} recommendations, \
         impressions/clicks/conversions {trues:?}, open {open}/{clicks}, {:.2?}",
        started.elapsed()
    );
}
