//! The main job on built-in demo data: generate a year of optical-retail
//! events, train ALS, compare it with popularity on a held-out split, show
//! recommendations next to three customers' recent history, then the other
//! generators (similar frames, goes well with, popular in your area, recent
//! browsing of an anonymous visitor), and save the model.
//!
//! Run: `cargo run --release --example quickstart [-- <model path>]`

use std::io::Write;
use std::time::Instant;

use std::sync::Arc;

use sightline::als::{AlsConfig, AlsModel, RecommendOptions};
use sightline::candidate::{AlsSource, CandidateSource, CooccurSource, Query};
use sightline::content::{ContentConfig, ContentFilter, ContentIndex, ContentSource};
use sightline::cooccur::{purchase_baskets, CooccurConfig, CooccurModel};
use sightline::data::{AttrValue, Event, EventKind, KindWeights};
use sightline::demo::{generate, region_parent, DemoConfig};
use sightline::eval::{ranking_metrics_at_k, train_test_split, MostPopular, RankingMetrics};
use sightline::session::{SessionConfig, SessionRecommender, SessionStore};
use sightline::trending::{TrendingConfig, TrendingQuery, TrendingStore};
use sightline::Component;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/sightline-demo.slm".into());
    let t0 = Instant::now();
    let demo = generate(&DemoConfig::default())?;
    let data = demo.interactions(&KindWeights::default())?;
    println!(
        "demo data: {} customers, {} products, {} events -> {} user-item pairs ({:.1}s)",
        demo.customers.len(),
        demo.catalog.len(),
        demo.events.len(),
        data.matrix().nnz(),
        t0.elapsed().as_secs_f64()
    );

    let (train, test) = train_test_split(&data, 0.2, 42)?;
    // The documented defaults (64 factors, λ 1 scaled by activity^0.5, alpha 4).
    let config = AlsConfig::default();
    println!(
        "training ALS (factors {}, regularization {}, alpha {}) on the 80% train split",
        config.factors, config.regularization, config.alpha
    );
    let model = AlsModel::fit_with_progress(&config, &train, &mut |p| {
        let done = p.iteration * 30 / p.iterations;
        eprint!(
            "\r  [{}{}] iteration {:>2}/{} {:5.1}s",
            "#".repeat(done),
            " ".repeat(30 - done),
            p.iteration,
            p.iterations,
            p.seconds
        );
        let _ = std::io::stderr().flush();
        true
    })?;
    eprintln!();

    let pop = ranking_metrics_at_k(&MostPopular::fit(&train)?, &train, &test, 10)?;
    let als = ranking_metrics_at_k(&model, &train, &test, 10)?;
    println!(
        "\nheld-out evaluation ({} customers, 20% of each customer's items hidden):",
        als.users
    );
    println!(
        "  {:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "model", "P@10", "R@10", "nDCG@10", "MAP@10", "HR@10", "cov@10"
    );
    let row = |name: &str, m: &RankingMetrics| {
        println!(
            "  {:<12} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>9.4}",
            name, m.precision, m.recall, m.ndcg, m.map, m.hit_rate, m.coverage
        )
    };
    row("popularity", &pop);
    row("ALS", &als);
    println!("  ALS / popularity nDCG@10: {:.2}x", als.ndcg / pop.ndcg);

    // The served model is trained on all data.
    let full = AlsModel::fit(&config, &data)?;
    let title = |id: &str| {
        demo.catalog
            .get(id)
            .map_or(id.to_string(), |i| format!("{id} {}", i.title))
    };
    for customer in demo
        .customers
        .iter()
        .filter(|c| {
            data.matrix()
                .row(data.users().get(&c.id).unwrap_or(0) as usize)
                .0
                .len()
                >= 6
        })
        .take(3)
    {
        println!(
            "\ncustomer {} ({}, prefers {}):",
            customer.id,
            customer.region,
            customer.channel.as_str()
        );
        let recent: Vec<_> = demo
            .events
            .iter()
            .rev()
            .filter(|e| e.user == customer.id)
            .take(5)
            .collect();
        for e in recent.iter().rev() {
            println!("  history  {:<12} {}", e.kind.as_str(), title(&e.item));
        }
        for (item, score) in full.recommend_by_id(&customer.id, 5, &RecommendOptions::default())? {
            println!("  -> {score:6.3}  {}", title(&item));
        }
    }

    // ---- the other generators, on the same catalog ----
    let t1 = Instant::now();
    let universe = Arc::new(demo.catalog.ids().clone());
    let mut content_config = ContentConfig::default();
    for field in ["shape", "material"] {
        content_config.features.weights.insert(field.into(), 3.0);
    }
    let content = Arc::new(
        ContentIndex::builder(content_config)
            .catalog(&demo.catalog)
            .als(&full)
            .build()?,
    );
    let cooccur = Arc::new(CooccurModel::fit(
        &CooccurConfig::default(),
        &purchase_baskets(demo.catalog.ids(), &demo.events)?,
    )?);
    let trending_config = TrendingConfig {
        region_parent: region_parent(),
        ..Default::default()
    };
    let mut trending = TrendingStore::new(trending_config, Some(&demo.catalog))?;
    trending.ingest_batch(&demo.events)?;
    let now = demo.events.last().map_or(0, |e| e.timestamp);
    println!(
        "
built content index ({} dims), co-occurrence ({} pairs) and trending ({} segments) in {:.1}s",
        content.dim(),
        cooccur.neighbors().nnz(),
        trending.segments().len(),
        t1.elapsed().as_secs_f64()
    );
    let attr = |id: &str, key: &str| match demo.catalog.get(id).and_then(|i| i.attributes.get(key))
    {
        Some(AttrValue::Text(t)) => t.clone(),
        _ => "-".into(),
    };
    let frame = demo
        .catalog
        .items()
        .iter()
        .find(|i| i.category == "frames" && i.in_stock)
        .map(|i| i.id.clone())
        .unwrap_or_default();
    println!(
        "
similar frames to {} ({}, {}):",
        title(&frame),
        attr(&frame, "shape"),
        attr(&frame, "material")
    );
    let frames_in_stock = ContentFilter {
        categories: vec!["frames".into()],
        in_stock: true,
        region: None,
    };
    for (id, s) in content.similar_items_by_id(&frame, 3, &frames_in_stock)? {
        println!(
            "  -> {s:6.3}  {} ({}, {})",
            title(&id),
            attr(&id, "shape"),
            attr(&id, "material")
        );
    }
    println!("goes well with it (bought in the same visit):");
    for (id, s) in cooccur.similar_items_by_id(&frame, 3)? {
        println!("  -> {s:6.3}  {}", title(&id));
    }
    for region in ["au", "uk-north-west"] {
        let q = TrendingQuery {
            region: Some(region.into()),
            n: 3,
            now,
            ..Default::default()
        };
        let popular = trending.popular(&q)?;
        println!("popular in {region} (answered by {}):", popular.level);
        for (id, s) in popular.items {
            println!("  -> {s:8.1}  {}", title(&id));
        }
    }

    // An anonymous visitor browses titanium frames; recommendations follow.
    let sessions = Arc::new(SessionStore::new(
        SessionConfig::default(),
        universe.clone(),
    )?);
    let sources: Vec<(Arc<dyn CandidateSource>, f32)> = vec![
        (
            Arc::new(AlsSource::new(Arc::new(full.clone()), universe.clone())),
            1.0,
        ),
        (
            Arc::new(ContentSource::new(content.clone(), &universe)),
            1.0,
        ),
        (
            Arc::new(CooccurSource::new(cooccur.clone(), &universe)),
            0.5,
        ),
    ];
    let session_recs = SessionRecommender::new(sessions.clone(), sources)?;
    let browsed: Vec<String> = demo
        .catalog
        .items()
        .iter()
        .filter(|i| i.category == "frames" && attr(&i.id, "material") == "titanium")
        .take(4)
        .map(|i| i.id.clone())
        .collect();
    println!(
        "
anonymous visitor views {} titanium frames:",
        browsed.len()
    );
    for (k, id) in browsed.iter().enumerate() {
        let ts = now - 300 + 60 * k as i64;
        sessions.ingest(&Event::new("visitor-1", id.clone(), EventKind::View, ts).region("se"))?;
        println!("  viewed   {}", title(id));
    }
    let mut q = Query::new(5, now);
    q.user = Some("visitor-1");
    let t2 = Instant::now();
    let recs = session_recs.candidates(&q)?;
    let took = t2.elapsed().as_secs_f64() * 1e3;
    for c in &recs.items {
        let id = universe.id(c.item).unwrap_or_default();
        let because = c.because.and_then(|b| universe.id(b)).unwrap_or("-");
        println!(
            "  -> {:6.3}  {} (because you viewed {because})",
            c.score,
            title(id)
        );
    }
    println!("  ({took:.2} ms)");

    full.save(&out)?;
    let size = std::fs::metadata(&out)?.len();
    let back = AlsModel::load(&out)?;
    assert_eq!(back.n_items(), full.n_items());
    println!(
        "\nsaved model to {out} ({:.1} MB); total {:.1}s",
        size as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
