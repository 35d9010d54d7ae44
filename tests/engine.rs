//! The engine end to end on the demo data: every placement answers, every
//! rule holds on every path (main sources, fallbacks, promotions, pins),
//! failing and slow sources are skipped, experiments are sticky, attribution
//! adds up and forgetting a customer leaves no trace.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::json;
use sightline::als::{AlsConfig, AlsModel};
use sightline::candidate::{Candidate, CandidateSource, Candidates, Query, SourceKind};
use sightline::content::{ContentConfig, ContentIndex};
use sightline::cooccur::{purchase_baskets, CooccurConfig, CooccurModel};
use sightline::data::{Catalog, Event, EventKind, KindWeights};
use sightline::demo::{engine_config, generate, DemoConfig, DemoData};
use sightline::engine::{Engine, EngineConfig, Models, Request};
use sightline::resilience::{BreakerState, Clock, ManualClock};
use sightline::Error;

struct Shop {
    demo: DemoData,
    models: Models,
    now: i64,
}

fn shop() -> &'static Shop {
    static SHOP: OnceLock<Shop> = OnceLock::new();
    SHOP.get_or_init(|| {
        let demo = generate(&DemoConfig {
            customers: 4_000,
            products: 800,
            events: 200_000,
            ..Default::default()
        })
        .unwrap();
        let data = demo.interactions(&KindWeights::default()).unwrap();
        let als = AlsModel::fit(
            &AlsConfig {
                factors: 32,
                iterations: 8,
                ..Default::default()
            },
            &data,
        )
        .unwrap();
        let baskets = purchase_baskets(demo.catalog.ids(), &demo.events).unwrap();
        let cooccur = CooccurModel::fit(&CooccurConfig::default(), &baskets).unwrap();
        let content = ContentIndex::builder(ContentConfig::default())
            .catalog(&demo.catalog)
            .build()
            .unwrap();
        let now = demo.events.last().unwrap().timestamp;
        let models = Models {
            catalog: Arc::new(demo.catalog.clone()),
            als: Some(Arc::new(als)),
            cooccur: Some(Arc::new(cooccur)),
            content: Some(Arc::new(content)),
        };
        Shop { demo, models, now }
    })
}

fn engine_with(config: serde_json::Value) -> (Engine, Arc<ManualClock>) {
    let s = shop();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let config = engine_config(&config).unwrap();
    let engine = Engine::with_clock(config, s.models.clone(), clock.clone()).unwrap();
    // Warm the live stores with the last week of events.
    for e in s
        .demo
        .events
        .iter()
        .filter(|e| e.timestamp > s.now - 7 * 86_400)
    {
        engine.ingest(e, true).unwrap();
    }
    engine.refresh_popular(s.now).unwrap();
    (engine, clock)
}

fn request(placement: &str, user: Option<&str>) -> Request {
    Request {
        placement: placement.into(),
        user: user.map(str::to_owned),
        region: Some("uk-north-west".into()),
        consent: true,
        now: Some(shop().now),
        ..Default::default()
    }
}

fn catalog() -> &'static Catalog {
    &shop().demo.catalog
}

fn active_customer() -> String {
    let s = shop();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in &s.demo.events {
        *counts.entry(e.user.as_str()).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v[0].0.to_owned()
}

#[test]
fn every_placement_fills_n_with_reasons() {
    let (engine, _) = engine_with(json!({}));
    let user = active_customer();
    let frame = catalog()
        .items()
        .iter()
        .find(|i| i.category == "frames")
        .unwrap()
        .id
        .clone();
    for placement in ["home", "product_page", "cart", "email", "in_store"] {
        let mut req = request(placement, Some(&user));
        req.context_items = vec![frame.clone()];
        if placement == "cart" {
            req.cart = vec![frame.clone()];
        }
        let r = engine.recommend(&req).unwrap();
        assert_eq!(r.items.len(), 10, "{placement}: {:?}", r.sources);
        let ids: HashSet<&str> = r.items.iter().map(|i| i.item.as_str()).collect();
        assert_eq!(ids.len(), 10, "{placement}: duplicates");
        assert!(
            !ids.contains(frame.as_str()),
            "{placement} returned the context item"
        );
        for it in &r.items {
            assert!(!it.reason.is_empty());
            let item = catalog().get(&it.item).unwrap();
            assert!(item.in_stock, "{placement}: out of stock {}", it.item);
            assert!(item.available_in("uk-north-west"));
        }
        assert_eq!(r.variant, "default");
        assert!(!r.recommendation_id.is_empty());
        // The main sources fill these placements for an active customer.
        assert!(!r.fallback_used, "{placement}: {:?}", r.sources);
    }
    // Reasons name what they are about.
    let mut req = request("product_page", Some(&user));
    req.context_items = vec![frame.clone()];
    let r = engine.recommend(&req).unwrap();
    let title = &catalog().get(&frame).unwrap().title;
    assert!(
        r.items.iter().any(|i| i.reason.contains(title.as_str())),
        "{:?}",
        r.items
    );
}

/// A source that returns the given items, in order.
struct Fixed(Vec<u32>, SourceKind);

impl CandidateSource for Fixed {
    fn kind(&self) -> SourceKind {
        self.1
    }
    fn candidates(&self, q: &Query<'_>) -> sightline::Result<Candidates> {
        let keep = q.eligibility();
        Ok(Candidates {
            items: self
                .0
                .iter()
                .filter(|&&i| keep(i))
                .take(q.n)
                .enumerate()
                .map(|(k, &item)| Candidate {
                    item,
                    score: 1.0 / (1.0 + k as f32),
                    source: self.1,
                    because: None,
                })
                .collect(),
            level: None,
        })
    }
}

#[test]
fn rules_hold_on_main_fallback_promotion_and_pin_paths() {
    let cat = catalog();
    let sunglasses: Vec<&str> = cat
        .items()
        .iter()
        .filter(|i| i.category == "sunglasses")
        .map(|i| i.id.as_str())
        .collect();
    let expensive = cat
        .items()
        .iter()
        .find(|i| i.category == "frames" && i.price.unwrap_or(0.0) > 150.0)
        .unwrap()
        .id
        .clone();
    let rules = json!({
        "exclude_categories": ["eye_tests"],
        "max_price": 150.0,
        "max_per_brand": 2,
        "filter": {"not": {"field": "category", "op": "eq", "value": "sunglasses"}},
        "pins": [{"item": expensive, "position": 0}, {"item": sunglasses[0], "position": 1}]
    });
    // Main path: a user source returning everything, fallback: popular.
    let config = json!({
        "placements": {"test": {
            "sources": [{"source": "external:all"}],
            "fallback": [{"source": "popular"}],
            "rules": rules,
            "diversity": {"lambda": 1.0}
        }},
        "promotions": [{"id": "summer", "label": "Summer sunglasses", "items": sunglasses[..5],
                        "share": 0.3, "priority": 1}]
    });
    let (engine, _) = engine_with(config);
    let check = |items: &[sightline::engine::ResponseItem]| {
        let mut brands: HashMap<String, usize> = HashMap::new();
        for it in items {
            let item = cat.get(&it.item).unwrap();
            assert!(item.in_stock && item.category != "eye_tests" && item.category != "sunglasses");
            assert!(
                item.price.unwrap_or(0.0) <= 150.0,
                "{} costs {:?}",
                it.item,
                item.price
            );
            *brands
                .entry(item.brand.clone().unwrap_or_default())
                .or_default() += 1;
        }
        assert!(brands.values().all(|&c| c <= 2), "{brands:?}");
    };
    // 1. main source gives everything in catalog order (rules must filter).
    let all: Vec<u32> = (0..cat.len() as u32).collect();
    engine
        .register_source("all", Arc::new(Fixed(all, SourceKind::External)))
        .unwrap();
    let r = engine.recommend(&request("test", None)).unwrap();
    assert_eq!(r.items.len(), 10);
    check(&r.items);
    // Pins never bypass filters; promotions only promote eligible items
    // (every promoted item here is a sunglass: none may appear).
    assert!(r
        .items
        .iter()
        .all(|i| i.item != expensive && i.promotion.is_none()));
    // 2. main source gives nothing: the fallbacks fill, under the same rules.
    engine
        .register_source("all", Arc::new(Fixed(vec![], SourceKind::External)))
        .unwrap();
    let r = engine.recommend(&request("test", None)).unwrap();
    assert_eq!(r.items.len(), 10);
    assert!(r.fallback_used);
    check(&r.items);
}

#[test]
fn promotions_take_their_share_and_say_so() {
    let cat = catalog();
    let frames: Vec<&str> = cat
        .items()
        .iter()
        .filter(|i| i.category == "frames" && i.in_stock && i.regions.is_empty())
        .map(|i| i.id.as_str())
        .take(6)
        .collect();
    let now = shop().now;
    let (engine, _) = engine_with(json!({
        "promotions": [
            {"id": "autumn", "label": "Autumn frames", "items": frames, "share": 0.2, "priority": 5,
             "placements": ["home"], "start": now - 10, "end": now + 10},
            {"id": "banner", "label": "Free eye test", "content": "banner-eye-test", "share": 0.1,
             "placements": ["home"]},
            {"id": "expired", "label": "Old", "items": frames, "share": 0.5, "end": now - 100}
        ]
    }));
    let r = engine
        .recommend(&request("home", Some(&active_customer())))
        .unwrap();
    let promoted: Vec<_> = r.items.iter().filter(|i| i.promotion.is_some()).collect();
    assert_eq!(promoted.len(), 2, "{:?}", r.items);
    for p in &promoted {
        assert_eq!(p.promotion.as_deref(), Some("autumn"));
        assert_eq!(p.reason, "Promotion: Autumn frames");
        assert_eq!(p.source, SourceKind::Promotion);
    }
    assert_eq!(r.content.len(), 1);
    assert_eq!(r.content[0].fragment, "banner-eye-test");
    // Not on other placements.
    let r = engine
        .recommend(&request("email", Some(&active_customer())))
        .unwrap();
    assert!(r.items.iter().all(|i| i.promotion.is_none()));
}

/// A source that fails, or takes `slow_us` of (manual) time.
struct Flaky {
    clock: Arc<ManualClock>,
    slow_us: u64,
    fail: bool,
    calls: AtomicUsize,
}

impl CandidateSource for Flaky {
    fn kind(&self) -> SourceKind {
        SourceKind::External
    }
    fn candidates(&self, q: &Query<'_>) -> sightline::Result<Candidates> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.clock.advance(self.slow_us);
        if self.fail {
            return Err(Error::InvalidInput("inventory service down".into()));
        }
        Ok(Candidates {
            items: vec![Candidate {
                item: (0..q.n as u32).find(|&i| q.eligibility()(i)).unwrap_or(0),
                score: 1.0,
                source: SourceKind::External,
                because: None,
            }],
            level: None,
        })
    }
}

#[test]
fn failing_and_slow_sources_are_skipped_then_broken() {
    let config = json!({
        "placements": {"flaky": {
            "sources": [{"source": "external:down", "budget_ms": 20.0}, {"source": "external:slow", "budget_ms": 20.0}],
            "fallback": [{"source": "popular"}]
        }},
        "breaker": {"window": 10, "min_calls": 5, "failure_rate": 0.5, "slow_call_ms": 10.0,
                    "slow_rate": 0.5, "open_ms": 60000.0, "half_open_calls": 1}
    });
    let (engine, clock) = engine_with(config);
    let down = Arc::new(Flaky {
        clock: clock.clone(),
        slow_us: 100,
        fail: true,
        calls: AtomicUsize::new(0),
    });
    let slow = Arc::new(Flaky {
        clock: clock.clone(),
        slow_us: 50_000,
        fail: false,
        calls: AtomicUsize::new(0),
    });
    engine.register_source("down", down.clone()).unwrap();
    engine.register_source("slow", slow.clone()).unwrap();
    for k in 0..12 {
        let r = engine.recommend(&request("flaky", None)).unwrap();
        assert_eq!(r.items.len(), 10, "request {k}");
        assert!(r.fallback_used);
        let status: HashMap<&str, &str> = r
            .sources
            .iter()
            .map(|s| (s.source.as_str(), s.status.as_str()))
            .collect();
        if k < 5 {
            assert_eq!(status["external:down"], "failed");
            assert_eq!(status["external:slow"], "timeout");
        }
        if k >= 6 {
            assert_eq!(status["external:down"], "breaker_open", "request {k}");
            assert_eq!(status["external:slow"], "breaker_open", "request {k}");
        }
    }
    // Open breakers stop calling the sources.
    assert!(down.calls.load(Ordering::SeqCst) <= 6);
    assert!(slow.calls.load(Ordering::SeqCst) <= 6);
    // After the cool-down one trial call goes through (half-open).
    clock.advance(61_000_000);
    let r = engine.recommend(&request("flaky", None)).unwrap();
    assert_eq!(r.sources[0].status, "failed");
    let stats = engine.stats();
    assert_eq!(
        stats.breakers["external:down"].state,
        BreakerState::Open,
        "{stats:?}"
    );
    let text = engine.prometheus_text();
    assert!(
        text.contains("sightline_breaker_state{source=\"external:down\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("sightline_fallbacks_total{placement=\"flaky\",variant=\"default\"} 13"),
        "{text}"
    );
}

#[test]
fn experiments_are_sticky_and_split_as_configured() {
    let (engine, _) = engine_with(json!({
        "experiments": [{
            "name": "home-session-weight", "placements": ["home"], "holdout": 0.1,
            "variants": [
                {"name": "control", "share": 0.5},
                {"name": "more-session", "share": 0.5,
                 "overrides": {"placements": {"home": {"sources": [
                     {"source": "session", "weight": 2.0}, {"source": "als", "weight": 1.0}]}}}}
            ]
        }]
    }));
    let mut counts: HashMap<String, usize> = HashMap::new();
    for u in 0..2000 {
        let user = format!("visitor-{u}");
        let mut req = request("home", None);
        req.session = Some(user.clone());
        let a = engine.recommend(&req).unwrap();
        let b = engine.recommend(&req).unwrap();
        assert_eq!(a.variant, b.variant, "sticky");
        assert_eq!(a.experiment.as_deref(), Some("home-session-weight"));
        *counts.entry(a.variant).or_default() += 1;
    }
    let share = |v: &str| counts.get(v).copied().unwrap_or(0) as f64 / 2000.0;
    assert!((share("holdout") - 0.1).abs() < 0.03, "{counts:?}");
    assert!((share("control") - 0.45).abs() < 0.04, "{counts:?}");
    assert!((share("more-session") - 0.45).abs() < 0.04, "{counts:?}");
    // Other placements are not in it.
    let r = engine
        .recommend(&request("email", Some("visitor-1")))
        .unwrap();
    assert_eq!((r.experiment, r.variant.as_str()), (None, "default"));
}

#[test]
fn attribution_counts_clicks_and_conversions_once() {
    let (engine, _) = engine_with(json!({}));
    let user = active_customer();
    let now = shop().now;
    let r = engine.recommend(&request("home", Some(&user))).unwrap();
    let item = r.items[0].item.clone();
    assert!(engine
        .track_impression(&r.recommendation_id, now + 1)
        .unwrap());
    assert!(!engine
        .track_impression(&r.recommendation_id, now + 2)
        .unwrap());
    assert!(engine
        .track_click(&r.recommendation_id, &item, now + 5)
        .unwrap());
    assert!(!engine
        .track_click(&r.recommendation_id, &item, now + 6)
        .unwrap());
    assert!(!engine.track_click("no-such-id", &item, now + 6).unwrap());
    let price = catalog().get(&item).unwrap().price.unwrap_or(0.0);
    engine
        .ingest(
            &Event::new(user.clone(), item.clone(), EventKind::Purchase, now + 60),
            true,
        )
        .unwrap();
    let stats = engine.tracker().stats();
    let home: Vec<_> = stats
        .iter()
        .filter(|g| g.placement == "home" && g.source.is_none())
        .collect();
    assert_eq!(home.len(), 1);
    let g = home[0];
    assert_eq!((g.impressions, g.clicks, g.conversions), (1, 1, 1));
    assert!((g.revenue - price).abs() < 1e-9);
}

#[test]
fn no_consent_means_not_personal_and_nothing_stored() {
    let (engine, _) = engine_with(json!({}));
    let mut req = request("home", Some("C999999"));
    req.consent = false;
    let event = Event::new(
        "C999999",
        catalog().items()[0].id.clone(),
        EventKind::Purchase,
        shop().now,
    );
    engine.ingest(&event, false).unwrap();
    let r = engine.recommend(&req).unwrap();
    assert!(!r.personalised);
    assert_eq!(r.items.len(), 10);
    assert!(r
        .sources
        .iter()
        .filter(|s| s.source == "als" || s.source == "session")
        .all(|s| s.status == "not_personal"));
    let export = engine.export_user("C999999").unwrap();
    assert!(export.session_events.is_empty());
    assert!(export.purchases.is_empty());
}

#[test]
fn forget_user_leaves_no_trace_even_in_a_saved_file() {
    let (engine, _) = engine_with(json!({}));
    let user = active_customer();
    let now = shop().now;
    let browsed = Event::new(
        user.clone(),
        catalog().items()[3].id.clone(),
        EventKind::View,
        now,
    );
    engine.ingest(&browsed, true).unwrap();
    let r = engine.recommend(&request("home", Some(&user))).unwrap();
    engine.track_impression(&r.recommendation_id, now).unwrap();
    let clicked = r.items[0].item.clone();
    engine
        .track_click(&r.recommendation_id, &clicked, now + 1)
        .unwrap();
    let bought = Event::new(user.clone(), clicked, EventKind::Purchase, now + 2);
    engine.ingest(&bought, true).unwrap();
    // Every store holds something of theirs.
    let before = engine.export_user(&user).unwrap();
    assert!(!before.session_events.is_empty());
    assert_eq!(before.purchases.len(), 1);
    assert!(!before.attribution.recommendations.is_empty());
    assert_eq!(before.attribution.clicks.len(), 1);
    assert!(before.attribution.clicks[0].converted);
    assert!(!before.als.as_ref().unwrap().factors.is_empty());
    let removed = engine.forget_user(&user).unwrap();
    assert!(removed.session && removed.als_factors);
    assert_eq!(removed.purchases, 1);
    assert!(removed.attribution_records >= 2, "{removed:?}");
    // The report keeps the JSON the bindings read.
    let keys: Vec<String> = serde_json::to_value(&removed)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "als_factors",
            "attribution_records",
            "purchases",
            "session",
            "user"
        ]
    );
    // No store answers for them any more.
    let after = engine.export_user(&user).unwrap();
    assert!(after.session_events.is_empty());
    assert!(after.purchases.is_empty());
    assert!(after.attribution.recommendations.is_empty() && after.attribution.clicks.is_empty());
    assert_eq!(after.als, None);
    assert_eq!(engine.tracker().export_user(&user), after.attribution);
    let als = engine.models().als.unwrap();
    assert_eq!(als.users().get(&user), None);
    assert!(als.users().ids().iter().all(|id| id != &user));
    // The export names them only as the subject of the request.
    let mut json = serde_json::to_value(&after).unwrap();
    json["user"] = json!(null);
    json["attribution"]["user"] = json!(null);
    assert!(!json.to_string().contains(&user), "{json}");
    // Neither the bytes of the engine nor a file saved afterwards hold them.
    let needle = user.as_bytes();
    let holds = |bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        !holds(&engine.to_bytes().unwrap()),
        "{user} is still in the bytes"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.slm");
    engine.save(&path).unwrap();
    assert!(
        !holds(&std::fs::read(&path).unwrap()),
        "{user} is still in the file"
    );
    // Forgetting twice finds nothing.
    let again = engine.forget_user(&user).unwrap();
    assert!(!again.session && !again.als_factors);
    assert_eq!((again.purchases, again.attribution_records), (0, 0));
    // The saved engine loads and serves.
    let back = Engine::load(&path, engine_config(&json!({})).unwrap()).unwrap();
    assert_eq!(
        back.recommend(&request("home", Some(&user)))
            .unwrap()
            .items
            .len(),
        10
    );
}

#[test]
fn invalid_config_is_rejected_naming_the_field() {
    let bad = |v: serde_json::Value| {
        let err = EngineConfig::from_value(v.clone())
            .and_then(|c| Engine::new(c, shop().models.clone()).map(|_| ()))
            .unwrap_err();
        match err {
            Error::Config { field, .. } => field,
            other => panic!("{v}: {other:?}"),
        }
    };
    assert!(bad(json!({"placements": {"home": {"n": 0}}})).contains("placements.home.n"));
    assert!(
        bad(json!({"placements": {"home": {"sources": [{"source": "magic"}]}}}))
            .contains("placements.home.sources")
    );
    assert!(
        bad(json!({"placements": {"home": {"rules": {"max_price": -1.0}}}}))
            .contains("placements.home.rules")
    );
    assert!(bad(json!({"placements": {"home": {"rules": {"boosts": [
        {"when": {"field": "no_such_attribute", "op": "eq", "value": "x"}, "factor": 2.0}]}}}}))
    .contains("placements.home.rules.boosts[0]"));
    assert!(bad(
        json!({"promotions": [{"id": "p", "label": "x", "items": ["NOPE"], "share": 0.2}]})
    )
    .contains("promotions[0]"));
    assert!(bad(
        json!({"experiments": [{"name": "e", "variants": [{"name": "a", "share": 0.7}]}]})
    )
    .contains("experiments"));
    // A misspelt section is an error, not silently ignored.
    bad(json!({"placments": {}}));
    let toml = EngineConfig::from_toml("[placements.home]\nn = 5\n").unwrap();
    assert_eq!(toml.placements["home"].n, 5);
    assert!(matches!(
        EngineConfig::from_toml("[placements.home]\nn = \"x\"\n"),
        Err(Error::Config { .. })
    ));
    let _ = ManualClock::new(0).now_micros();
}

#[test]
fn models_swap_atomically_while_requests_run() {
    let (engine, _) = engine_with(json!({}));
    let engine = Arc::new(engine);
    let user = active_customer();
    let without_als = Models {
        als: None,
        ..shop().models.clone()
    };
    std::thread::scope(|scope| {
        for t in 0..3 {
            let engine = engine.clone();
            let user = user.clone();
            scope.spawn(move || {
                for k in 0..200 {
                    let mut req = request(
                        if (t + k) % 2 == 0 {
                            "home"
                        } else {
                            "product_page"
                        },
                        Some(&user),
                    );
                    req.context_items = vec![catalog().items()[k % 50].id.clone()];
                    let r = engine.recommend(&req).unwrap();
                    assert_eq!(r.items.len(), 10);
                }
            });
        }
        for k in 0..20 {
            let models = if k % 2 == 0 {
                without_als.clone()
            } else {
                shop().models.clone()
            };
            engine.swap_models(models).unwrap();
        }
    });
    engine.swap_models(without_als).unwrap();
    let r = engine.recommend(&request("email", Some(&user))).unwrap();
    assert_eq!(r.items.len(), 10, "email falls back without ALS");
    assert_eq!(r.sources[0].status, "unavailable");
    // A catalog the rules do not fit is refused; the old models stay.
    let (strict, _) =
        engine_with(json!({"placements": {"home": {"rules": {"categories": ["frames"]}}}}));
    let mut other = Catalog::new();
    let mut item = catalog()
        .items()
        .iter()
        .find(|i| i.category == "lenses")
        .unwrap()
        .clone();
    item.id = "ONLY-LENS".into();
    other.add(item).unwrap();
    let models = Models {
        catalog: Arc::new(other),
        als: None,
        cooccur: None,
        content: None,
    };
    assert!(matches!(
        strict.swap_models(models),
        Err(Error::Config { .. })
    ));
    assert_eq!(
        strict
            .recommend(&request("home", Some(&user)))
            .unwrap()
            .items
            .len(),
        10
    );
}

#[test]
fn an_anonymous_visitors_browsing_shapes_the_home_page() {
    let (engine, _) = engine_with(json!({}));
    let cat = catalog();
    let titanium: Vec<&str> = cat
        .items()
        .iter()
        .filter(|i| {
            i.category == "frames"
                && i.attributes.get("material")
                    == Some(&sightline::data::AttrValue::Text("titanium".into()))
        })
        .map(|i| i.id.as_str())
        .take(5)
        .collect();
    for (k, item) in titanium.iter().enumerate() {
        engine
            .ingest(
                &Event::new(
                    "anon-7",
                    *item,
                    EventKind::View,
                    shop().now - 100 + k as i64,
                ),
                true,
            )
            .unwrap();
    }
    let mut req = request("home", None);
    req.session = Some("anon-7".into());
    let r = engine.recommend(&req).unwrap();
    let session = r.sources.iter().find(|s| s.source == "session").unwrap();
    assert_eq!(session.status, "ok");
    assert!(session.candidates >= 10, "{:?}", r.sources);
    let from_session: Vec<_> = r
        .items
        .iter()
        .filter(|i| i.source == SourceKind::Session)
        .collect();
    assert!(!from_session.is_empty(), "{:?}", r.items);
    assert!(from_session
        .iter()
        .all(|i| i.reason.starts_with("Because you viewed")));
    assert!(r.items.iter().all(|i| !titanium.contains(&i.item.as_str())));
    // A logged-in customer's events are keyed by their id, whatever the
    // browsing-session id of the request.
    for (k, item) in titanium.iter().enumerate() {
        let mut e = Event::new(
            "C-known",
            *item,
            EventKind::View,
            shop().now - 100 + k as i64,
        )
        .session("S-42");
        engine.ingest(&e, true).unwrap();
        e.kind = EventKind::Click;
        engine.ingest(&e, true).unwrap();
    }
    let mut known = request("home", Some("C-known"));
    known.session = Some("S-42".into());
    let r = engine.recommend(&known).unwrap();
    let session = r.sources.iter().find(|s| s.source == "session").unwrap();
    assert!(session.candidates >= 10, "{:?}", r.sources);
    // Without consent the same visitor's browsing is not used.
    req.consent = false;
    let r = engine.recommend(&req).unwrap();
    assert!(r.items.iter().all(|i| i.source != SourceKind::Session));
}

#[test]
fn the_popular_fallback_keeps_itself_fresh_and_labels_catalog_fill_honestly() {
    let s = shop();
    let config = json!({"placements": {"only_popular": {"sources": [{"source": "popular"}], "fallback": []}}});
    let engine = Engine::new(engine_config(&config).unwrap(), s.models.clone()).unwrap();
    let mut req = request("only_popular", None);
    req.consent = false;
    // No events yet: the list is still full, from the catalog, and says so.
    let empty = engine.recommend(&req).unwrap();
    assert_eq!(empty.items.len(), 10);
    assert!(empty
        .items
        .iter()
        .all(|i| i.source == SourceKind::Catalog && i.reason == "From our range"));
    // Single live events, then a request an hour later: the stale cache
    // (computed at start, at wall-clock time) is recomputed for the request.
    let week: Vec<&Event> = s
        .demo
        .events
        .iter()
        .filter(|e| e.timestamp > s.now - 7 * 86_400)
        .collect();
    for e in &week {
        engine.ingest(e, false).unwrap();
    }
    req.now = Some(s.now + 3_600);
    let live = engine.recommend(&req).unwrap();
    assert!(
        live.items.iter().all(|i| i.source == SourceKind::Popular),
        "{:?}",
        live.items
    );
    assert!(
        live.items[0]
            .reason
            .starts_with("Popular in North West England"),
        "{}",
        live.items[0].reason
    );
    // A batch refreshes it at once (here: another engine, requests at the batch's time).
    let batch = Engine::new(engine_config(&json!({})).unwrap(), s.models.clone()).unwrap();
    let events: Vec<Event> = week.iter().map(|e| (*e).clone()).collect();
    assert_eq!(batch.ingest_batch(&events, false).unwrap(), events.len());
    let mut home = request("home", None);
    home.consent = false;
    let r = batch.recommend(&home).unwrap();
    assert!(r.items.iter().any(|i| i.source == SourceKind::Popular));
    assert!(r.items.iter().all(|i| i.source != SourceKind::Catalog));
}

#[test]
fn ingest_batch_is_all_or_nothing() {
    let s = shop();
    let engine = Engine::new(engine_config(&json!({})).unwrap(), s.models.clone()).unwrap();
    let mut events: Vec<Event> = s.demo.events.iter().rev().take(50).cloned().collect();
    events[30].region = Some(String::new()); // invalid for trending
    let err = engine.ingest_batch(&events, true).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.starts_with("event 30:")),
        "{err}"
    );
    let user = events[0].user.clone();
    assert!(engine.export_user(&user).unwrap().session_events.is_empty());
    let mut req = request("home", None);
    req.consent = false;
    assert!(engine
        .recommend(&req)
        .unwrap()
        .items
        .iter()
        .all(|i| i.source == SourceKind::Catalog));
    // a user id only sessions reject (empty) is caught too, with consent
    events[30].region = None;
    events[31].user = String::new();
    assert!(engine.ingest_batch(&events, true).is_err());
    assert!(engine.export_user(&user).unwrap().session_events.is_empty());
    assert_eq!(engine.ingest_batch(&events[..31], true).unwrap(), 31);
    assert!(!engine.export_user(&user).unwrap().session_events.is_empty());
}

#[test]
fn ingest_checks_every_store_before_any_learns() {
    let s = shop();
    let engine = Engine::new(engine_config(&json!({})).unwrap(), s.models.clone()).unwrap();
    let mut events: Vec<Event> = s.demo.events.iter().rev().take(20).cloned().collect();
    // Event 12 is rejected (its user id is too long for the session store
    // and attribution); events 0..12 must not be learnt either.
    events[12].user = "x".repeat(sightline::tracking::MAX_ID_LEN + 1);
    events[12].kind = EventKind::Purchase;
    let err = engine.ingest_batch(&events, true).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.starts_with("event 12:")),
        "{err}"
    );
    let nothing_learnt = |engine: &Engine| {
        let mut req = request("home", None);
        req.consent = false;
        engine
            .recommend(&req)
            .unwrap()
            .items
            .iter()
            .all(|i| i.source == SourceKind::Catalog)
    };
    assert!(
        nothing_learnt(&engine),
        "trending learnt from a failed batch"
    );
    assert!(engine
        .export_user(&events[0].user)
        .unwrap()
        .session_events
        .is_empty());
    // One event: a timestamp only sessions reject leaves trending unchanged.
    let mut late = events[0].clone();
    late.timestamp = -1;
    assert!(engine.ingest(&late, true).is_err());
    assert!(
        nothing_learnt(&engine),
        "trending learnt from a failed ingest"
    );
    assert_eq!(engine.ingest_batch(&events[..12], true).unwrap(), 12);
    assert!(!nothing_learnt(&engine));
}

#[test]
fn reload_models_serves_the_files_models_and_keeps_live_state() {
    let s = shop();
    let config = || engine_config(&json!({})).unwrap();
    let engine = Engine::new(config(), s.models.clone()).unwrap();
    let frames: Vec<&str> = catalog()
        .items()
        .iter()
        .filter(|i| i.category == "frames")
        .map(|i| i.id.as_str())
        .collect();
    // Live state: a visitor browsing frames, and trending.
    let browsed = &frames[..3];
    for (k, item) in browsed.iter().enumerate() {
        let e = Event::new("anon-reload", *item, EventKind::View, s.now - 50 + k as i64);
        engine.ingest(&e, true).unwrap();
    }
    engine.refresh_popular(s.now).unwrap();

    // A model file whose catalog lacks most frames (the browsed ones stay).
    let mut smaller = Catalog::new();
    for item in catalog().items() {
        if item.category != "frames" || browsed.contains(&item.id.as_str()) {
            smaller.add(item.clone()).unwrap();
        }
    }
    let next = Engine::new(
        config(),
        Models {
            catalog: Arc::new(smaller),
            als: s.models.als.clone(),
            cooccur: None,
            content: None,
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("next.slm");
    next.save(&path).unwrap();

    engine.reload_models(&path).unwrap();
    let models = engine.models();
    assert_eq!(models.catalog.len(), next.models().catalog.len());
    assert!(models.cooccur.is_none() && models.als.is_some());
    let r = engine.recommend(&request("home", None)).unwrap();
    assert!(r
        .items
        .iter()
        .all(|i| !frames.contains(&i.item.as_str()) || browsed.contains(&i.item.as_str())));
    // The visitor's session and trending survived (the file had neither).
    let session = engine.export_user("anon-reload").unwrap().session_events;
    let seen: Vec<&str> = session.iter().map(|e| e.item.as_str()).collect();
    assert_eq!(seen, browsed);
    let mut anonymous = request("home", None);
    anonymous.consent = false;
    assert!(engine
        .recommend(&anonymous)
        .unwrap()
        .items
        .iter()
        .any(|i| i.source != SourceKind::Catalog));

    // A truncated file, a foreign one and a missing one change nothing.
    let bytes = std::fs::read(&path).unwrap();
    let truncated = dir.path().join("truncated.slm");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let foreign = dir.path().join("foreign.slm");
    std::fs::write(&foreign, b"not a model file").unwrap();
    let before = engine.recommend(&request("home", None)).unwrap().items;
    for bad in [&truncated, &foreign] {
        let err = engine.reload_models(bad).unwrap_err();
        assert_eq!(err.code(), "MODEL_FORMAT", "{err}");
    }
    let err = engine
        .reload_models(dir.path().join("missing.slm"))
        .unwrap_err();
    assert_eq!(err.code(), "IO", "{err}");
    assert_eq!(engine.models().catalog.len(), models.catalog.len());
    assert_eq!(
        engine.recommend(&request("home", None)).unwrap().items,
        before
    );
}

#[test]
fn export_slice_carries_the_served_models_for_a_placements_candidates() {
    let s = shop();
    let (engine, _) = engine_with(json!({}));
    let r = engine
        .recommend(&request("home", Some(&active_customer())))
        .unwrap();
    let candidates: Vec<&str> = r.items.iter().map(|i| i.item.as_str()).collect();
    let slice = engine.export_slice("home", &candidates).unwrap();
    assert_eq!(slice.placement(), "home");
    assert_eq!(slice.len(), candidates.len());
    let als = s.models.als.as_deref().unwrap();
    let row = als.items().get(candidates[0]).unwrap() as usize;
    let k = als.factors();
    let full = als.item_factors();
    let full = &full.as_slice().unwrap()[row * k..(row + 1) * k];
    assert_eq!(
        slice.item_factors(0),
        full,
        "the slice carries the served factors"
    );

    assert!(matches!(
        engine.export_slice("nowhere", &candidates),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        engine.export_slice("home", &["no-such-item"]),
        Err(Error::UnknownId { .. })
    ));
    let no_als = Models {
        als: None,
        ..s.models.clone()
    };
    let bare = Engine::new(engine_config(&json!({})).unwrap(), no_als).unwrap();
    assert!(matches!(
        bare.export_slice("home", &candidates),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn partial_fit_from_interactions_and_explain_by_id() {
    use sightline::data::InteractionsBuilder;
    let s = shop();
    let mut model = (**s.models.als.as_ref().unwrap()).clone();
    let frames: Vec<&str> = catalog()
        .items()
        .iter()
        .filter(|i| i.category == "frames")
        .map(|i| i.id.as_str())
        .take(4)
        .collect();
    let mut day = InteractionsBuilder::new();
    for item in &frames {
        day.add("walk-in", item, 2.0).unwrap();
    }
    let day = day.build().unwrap();
    let before = model.n_users();
    model.partial_fit_users_from(&day).unwrap();
    assert_eq!(
        model.n_users(),
        before + 1,
        "the walk-in customer is appended"
    );
    let recs = model
        .recommend_by_id("walk-in", 10, &Default::default())
        .unwrap();
    assert_eq!(recs.len(), 10);
    assert!(
        recs.iter().all(|(i, _)| !frames.contains(&i.as_str())),
        "liked items left out"
    );

    let mut unknown = InteractionsBuilder::new();
    unknown.add("walk-in-2", "no-such-item", 1.0).unwrap();
    let unknown = unknown.build().unwrap();
    assert!(matches!(
        model.partial_fit_users_from(&unknown),
        Err(Error::UnknownId { .. })
    ));
    assert_eq!(
        model.n_users(),
        before + 1,
        "a failed partial fit changes nothing"
    );

    // The walk-in's score for a recommended item splits over their 4 frames.
    let e = model.explain_by_id("walk-in", &recs[0].0, 10).unwrap();
    assert_eq!(e.contributions.len(), frames.len());
    let total: f32 = e.contributions.iter().map(|(_, c)| c).sum();
    assert!((total - e.score).abs() < 1e-3 * e.score.abs().max(1.0));
    assert!(matches!(
        model.explain_by_id("nobody", &recs[0].0, 10),
        Err(Error::UnknownId { .. })
    ));
}
