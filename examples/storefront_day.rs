//! A day of storefront traffic on the demo data, served by the engine with
//! an A/B experiment on the home page.
//!
//! Models are trained on everything before the last day; the last day's
//! real visits are replayed: each visit opens the home page (and returns to
//! it after browsing), every product view opens a product page, every
//! add-to-cart the cart, store visits the in-store tablet, and customers get
//! one email. Shown items are clicked with a position-biased probability:
//! high when the visitor really touches the item that day (the replay's
//! ground truth), medium when it shares category and shape or material with
//! what they touch, low otherwise; clicked items the visitor really buys
//! convert. Prints
//! per-placement and per-variant CTR and conversion rate with 95% Wilson
//! intervals, the two-proportion test between the variants, fallback counts
//! and latency percentiles.
//!
//! Run: `cargo run --release --example storefront_day`

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use rand_chacha::rand_core::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use sightline::als::{AlsConfig, AlsModel};
use sightline::content::{ContentConfig, ContentIndex};
use sightline::cooccur::{purchase_baskets, CooccurConfig, CooccurModel};
use sightline::data::{Channel, Event, EventKind, Interactions, InteractionsBuilder, KindWeights};
use sightline::demo::{engine_config, generate, DemoConfig};
use sightline::engine::{Engine, Models, Request};
use sightline::experiment::Metric;

const DAY: i64 = 86_400;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let t0 = Instant::now();
    // 5M events over the year: about 14k on the replayed day.
    let demo = generate(&DemoConfig {
        customers: 60_000,
        events: 5_000_000,
        ..Default::default()
    })?;
    let end = demo.events.last().map_or(0, |e| e.timestamp);
    let day_start = end - DAY;
    let (history, today): (Vec<&Event>, Vec<&Event>) =
        demo.events.iter().partition(|e| e.timestamp < day_start);
    println!(
        "demo data: {} products, {} events before the replayed day, {} on it ({:.1}s)",
        demo.catalog.len(),
        history.len(),
        today.len(),
        t0.elapsed().as_secs_f64()
    );

    // ---- train on the history ----
    let t1 = Instant::now();
    let weights = KindWeights::default();
    let mut b = InteractionsBuilder::new()
        .items(demo.catalog.ids().clone())
        .weights(weights)?;
    b.extend_events(history.iter().copied())?;
    let data: Interactions = b.build()?;
    let als = AlsModel::fit(&AlsConfig::default(), &data)?;
    let baskets = purchase_baskets(demo.catalog.ids(), history.iter().copied())?;
    let cooccur = CooccurModel::fit(&CooccurConfig::default(), &baskets)?;
    let mut content_config = ContentConfig::default();
    for field in ["shape", "material"] {
        content_config.features.weights.insert(field.into(), 3.0);
    }
    let content = ContentIndex::builder(content_config)
        .catalog(&demo.catalog)
        .als(&als)
        .build()?;
    println!(
        "trained ALS, co-occurrence and content in {:.1}s",
        t1.elapsed().as_secs_f64()
    );

    // ---- the engine, with an experiment on the home page ----
    let frames: Vec<&str> = demo
        .catalog
        .items()
        .iter()
        .filter(|i| i.category == "frames" && i.in_stock && i.regions.is_empty())
        .map(|i| i.id.as_str())
        .take(8)
        .collect();
    let config = engine_config(&json!({
        "experiments": [{
            "name": "home-recent-browsing",
            "placements": ["home"],
            "holdout": 0.05,
            "variants": [
                {"name": "control", "share": 0.5},
                {"name": "session-first", "share": 0.5, "overrides": {"placements": {"home": {
                    "sources": [{"source": "session", "weight": 2.0},
                                {"source": "als", "weight": 1.0},
                                {"source": "popular", "weight": 0.2}]}}}}
            ]
        }],
        "promotions": [{"id": "new-season-frames", "label": "New season frames", "items": frames,
                        "share": 0.1, "placements": ["home", "email"], "priority": 1}]
    }))?;
    let models = Models {
        catalog: Arc::new(demo.catalog.clone()),
        als: Some(Arc::new(als)),
        cooccur: Some(Arc::new(cooccur)),
        content: Some(Arc::new(content)),
    };
    let engine = Engine::new(config, models)?;
    // Live stores warm up on the last week before the day.
    for e in history
        .iter()
        .filter(|e| e.timestamp >= day_start - 7 * DAY)
    {
        engine.ingest(e, true)?;
    }
    engine.refresh_popular(day_start)?;

    // ---- replay the day ----
    let mut visits: BTreeMap<(i64, String), Vec<&Event>> = BTreeMap::new();
    let mut first_seen: HashMap<&str, i64> = HashMap::new();
    for e in &today {
        let key = e.session.as_deref().unwrap_or(&e.user);
        first_seen.entry(key).or_insert(e.timestamp);
    }
    for e in &today {
        let key = e.session.as_deref().unwrap_or(&e.user).to_owned();
        visits
            .entry((first_seen[key.as_str()], key))
            .or_default()
            .push(e);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut latency: HashMap<String, Vec<f64>> = HashMap::new();
    let mut fallbacks: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut emailed: HashSet<String> = HashSet::new();
    let t2 = Instant::now();
    let mut requests = 0usize;
    for ((_, _), events) in &visits {
        let first = events[0];
        // 90% of visitors consent to personalisation (stable per person).
        let consent = !fnv(&first.user).is_multiple_of(10);
        let later: HashSet<&str> = events.iter().map(|e| e.item.as_str()).collect();
        // What the visitor is after: (category, shape) and (category,
        // material) of the items they touch this visit.
        let taste: HashSet<(String, String)> = events
            .iter()
            .flat_map(|e| style(&demo.catalog, &e.item))
            .collect();
        let bought: HashSet<&str> = events
            .iter()
            .filter(|e| e.kind == EventKind::Purchase)
            .map(|e| e.item.as_str())
            .collect();
        let mut serve = |placement: &str,
                         context: Vec<String>,
                         cart: Vec<String>,
                         now: i64,
                         uniform: &mut dyn FnMut() -> f64|
         -> Result<(), sightline::Error> {
            let req = Request {
                placement: placement.into(),
                user: Some(first.user.clone()),
                session: first.session.clone(),
                region: first.region.clone(),
                channel: first.channel,
                context_items: context,
                cart,
                consent,
                now: Some(now),
                ..Default::default()
            };
            let start = Instant::now();
            let r = engine.recommend(&req)?;
            latency
                .entry(placement.into())
                .or_default()
                .push(start.elapsed().as_secs_f64() * 1e3);
            requests += 1;
            let f = fallbacks.entry(placement.into()).or_default();
            f.0 += 1;
            f.1 += usize::from(r.fallback_used);
            engine.track_impression(&r.recommendation_id, now)?;
            for (pos, item) in r.items.iter().enumerate() {
                let bias = 1.0 / (1.0 + pos as f64).sqrt();
                let p = if later.contains(item.item.as_str()) {
                    0.35
                } else if style(&demo.catalog, &item.item)
                    .iter()
                    .any(|s| taste.contains(s))
                {
                    0.06
                } else {
                    0.012
                };
                if uniform() < bias * p {
                    engine.track_click(&r.recommendation_id, &item.item, now + 5)?;
                    let buys = bought.contains(item.item.as_str()) || uniform() < 0.03;
                    if buys && !bought.contains(item.item.as_str()) {
                        let price = demo
                            .catalog
                            .get(&item.item)
                            .and_then(|i| i.price)
                            .unwrap_or(0.0);
                        engine.track_conversion(&first.user, &item.item, price, now + 60)?;
                    }
                }
            }
            Ok(())
        };
        let placement = if first.channel == Some(Channel::Store) {
            "in_store"
        } else {
            "home"
        };
        serve(placement, vec![], vec![], first.timestamp, &mut uniform)?;
        let mut cart: Vec<String> = Vec::new();
        for e in events {
            // The visitor's real event: sessions, trending and (for
            // purchases after a click) attribution learn from it.
            engine.ingest(e, consent)?;
            match e.kind {
                EventKind::View => serve(
                    "product_page",
                    vec![e.item.clone()],
                    vec![],
                    e.timestamp,
                    &mut uniform,
                )?,
                EventKind::AddToCart => {
                    cart.push(e.item.clone());
                    serve("cart", vec![], cart.clone(), e.timestamp, &mut uniform)?;
                }
                _ => {}
            }
        }
        // Back on the home page after browsing: recent browsing matters now.
        if events.len() >= 3 && placement == "home" {
            let last = events[events.len() - 1].timestamp;
            serve("home", vec![], vec![], last + 30, &mut uniform)?;
        }
        if consent && emailed.insert(first.user.clone()) && fnv(&first.user).is_multiple_of(4) {
            serve(
                "email",
                vec![],
                vec![],
                first.timestamp + 3600,
                &mut uniform,
            )?;
        }
    }
    let secs = t2.elapsed().as_secs_f64();
    println!(
        "replayed {} visits: {requests} requests in {secs:.1}s ({:.0} requests/s incl. ingest and tracking)\n",
        visits.len(),
        requests as f64 / secs
    );

    // ---- report ----
    println!(
        "{:<13} {:<14} {:>7} {:>7} {:>22} {:>6} {:>22} {:>10}",
        "placement",
        "variant",
        "shown",
        "clicks",
        "CTR [95% CI]",
        "conv",
        "CVR [95% CI]",
        "revenue"
    );
    let stats = engine.tracker().stats();
    for g in stats.iter().filter(|g| g.source.is_none()) {
        println!(
            "{:<13} {:<14} {:>7} {:>7} {:>22} {:>6} {:>22} {:>10.0}",
            g.placement,
            g.variant,
            g.impressions,
            g.clicks,
            rate(&g.ctr, 2),
            g.conversions,
            rate(&g.cvr, 1),
            g.revenue
        );
    }
    for metric in [Metric::Ctr, Metric::Cvr] {
        if let Some(c) = engine
            .tracker()
            .compare("home", "session-first", "control", metric)
        {
            println!(
                "\nhome, session-first vs control, {metric:?}: {}/{} vs {}/{}, difference {:+.3} points, z = {:.2}, p = {:.4}",
                c.a.0, c.a.1, c.b.0, c.b.1, 100.0 * c.diff, c.z, c.p_value
            );
        }
    }
    println!("\nby source (all placements):");
    let mut by_source: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for g in stats.iter().filter(|g| g.source.is_some()) {
        let e = by_source
            .entry(format!("{:?}", g.source.unwrap()))
            .or_default();
        e.0 += g.impressions;
        e.1 += g.clicks;
    }
    for (s, (imp, clicks)) in by_source {
        println!(
            "  {s:<12} {imp:>8} shown {clicks:>6} clicks  CTR {:.2}%",
            100.0 * clicks as f64 / imp.max(1) as f64
        );
    }
    println!(
        "\n{:<13} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "placement", "requests", "fallbacks", "p50 ms", "p99 ms", "max ms"
    );
    for (placement, (n, fb)) in &fallbacks {
        let mut l = latency.remove(placement).unwrap_or_default();
        l.sort_by(f64::total_cmp);
        let q = |p: f64| {
            l.get(((l.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        println!(
            "{placement:<13} {n:>9} {fb:>10} {:>9.3} {:>9.3} {:>9.3}",
            q(0.5),
            q(0.99),
            q(1.0)
        );
    }
    println!("\ntotal {:.1}s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// The (category, shape) and (category, material) of an item.
fn style(catalog: &sightline::data::Catalog, id: &str) -> Vec<(String, String)> {
    let Some(item) = catalog.get(id) else {
        return Vec::new();
    };
    ["shape", "material"]
        .iter()
        .filter_map(|k| match item.attributes.get(*k) {
            Some(sightline::data::AttrValue::Text(v)) => {
                Some((item.category.clone(), format!("{k}={v}")))
            }
            _ => None,
        })
        .collect()
}

/// `12.34% [11.00, 13.70]`, or `-` without trials.
fn rate(r: &Option<sightline::tracking::Rate>, digits: usize) -> String {
    match r {
        Some(r) => format!(
            "{:.d$}% [{:.d$}, {:.d$}]",
            100.0 * r.value,
            100.0 * r.low,
            100.0 * r.high,
            d = digits
        ),
        None => "-".into(),
    }
}

/// A stable hash (FNV-1a) for the simulation's per-person choices.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
