//! The four candidate generators on the demo data, through the shared
//! `CandidateSource` interface: each finds the structure the generator
//! planted, and every source honours the same filter.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock, RwLock};

use sightline::als::{AlsConfig, AlsModel};
use sightline::candidate::{
    blend, AlsSource, CandidateSource, Candidates, CooccurSource, Query, SourceKind, TrendingSource,
};
use sightline::content::{ContentConfig, ContentFilter, ContentIndex, ContentSource, IndexKind};
use sightline::cooccur::{purchase_baskets, CooccurConfig, CooccurModel};
use sightline::data::{AttrValue, Event, EventKind, KindWeights};
use sightline::demo::{generate, region_parent, DemoConfig, DemoData};
use sightline::ids::IdMap;
use sightline::session::{SessionConfig, SessionRecommender, SessionStore};
use sightline::trending::{TrendingConfig, TrendingStore};

struct Shop {
    demo: DemoData,
    universe: Arc<IdMap>,
    als: Arc<AlsModel>,
    cooccur: Arc<CooccurModel>,
    content: Arc<ContentIndex>,
    trending: Arc<RwLock<TrendingStore>>,
    now: i64,
}

fn shop() -> &'static Shop {
    static SHOP: OnceLock<Shop> = OnceLock::new();
    SHOP.get_or_init(|| {
        let demo = generate(&DemoConfig {
            customers: 6_000,
            products: 1_200,
            events: 300_000,
            ..Default::default()
        })
        .unwrap();
        let universe = Arc::new(demo.catalog.ids().clone());
        let data = demo.interactions(&KindWeights::default()).unwrap();
        let als = AlsModel::fit(&AlsConfig::default(), &data).unwrap();
        let baskets = purchase_baskets(demo.catalog.ids(), &demo.events).unwrap();
        let cooccur = CooccurModel::fit(&CooccurConfig::default(), &baskets).unwrap();
        let mut config = ContentConfig::default();
        config.features.weights.insert("shape".into(), 3.0);
        config.features.weights.insert("material".into(), 3.0);
        let content = ContentIndex::builder(config)
            .catalog(&demo.catalog)
            .build()
            .unwrap();
        let trending_config = TrendingConfig {
            region_parent: region_parent(),
            ..Default::default()
        };
        let mut trending = TrendingStore::new(trending_config, Some(&demo.catalog)).unwrap();
        trending.ingest_batch(&demo.events).unwrap();
        let now = demo.events.iter().map(|e| e.timestamp).max().unwrap();
        Shop {
            demo,
            universe,
            als: Arc::new(als),
            cooccur: Arc::new(cooccur),
            content: Arc::new(content),
            trending: Arc::new(RwLock::new(trending)),
            now,
        }
    })
}

fn text(s: &Shop, u: u32, key: &str) -> Option<String> {
    let item = s.demo.catalog.item(u)?;
    match item.attributes.get(key)? {
        AttrValue::Text(t) => Some(t.clone()),
        _ => None,
    }
}

fn category(s: &Shop, u: u32) -> &str {
    &s.demo.catalog.item(u).unwrap().category
}

#[test]
fn similar_frames_share_shape_and_material_exact_and_hnsw() {
    let s = shop();
    let frames: Vec<u32> = (0..s.universe.len() as u32)
        .filter(|&u| category(s, u) == "frames")
        .take(60)
        .collect();
    let only_frames = ContentFilter {
        categories: vec!["frames".into()],
        ..Default::default()
    };
    let mut config = s.content.config();
    config.index = IndexKind::Hnsw;
    let graph = ContentIndex::builder(config)
        .catalog(&s.demo.catalog)
        .build()
        .unwrap();
    for index in [&*s.content, &graph] {
        let (mut shape, mut material, mut total) = (0, 0, 0);
        for &f in &frames {
            for (n, _) in index.similar_items(f, 5, &only_frames).unwrap() {
                assert_eq!(category(s, n), "frames");
                total += 1;
                shape += usize::from(text(s, n, "shape") == text(s, f, "shape"));
                material += usize::from(text(s, n, "material") == text(s, f, "material"));
            }
        }
        assert_eq!(total, 300);
        assert!(
            shape >= 270 && material >= 270,
            "shape {shape} material {material} of {total}"
        );
    }
}

#[test]
fn popular_in_australia_is_sunglasses_and_says_so() {
    let s = shop();
    let src = TrendingSource::new(s.trending.clone(), s.universe.clone(), false);
    let share = |region: &str| {
        let mut q = Query::new(20, s.now);
        q.region = Some(region);
        let got = src.candidates(&q).unwrap();
        assert_eq!(
            got.level.as_deref(),
            Some(format!("region:{region}").as_str())
        );
        assert_eq!(got.items.len(), 20);
        got.items
            .iter()
            .filter(|c| category(s, c.item) == "sunglasses")
            .count()
    };
    let (au, scotland) = (share("au"), share("uk-scotland"));
    assert!(au > scotland, "au {au} vs scotland {scotland}");
}

#[test]
fn frames_are_bought_with_lenses_coatings_and_cases() {
    let s = shop();
    let src = CooccurSource::new(s.cooccur.clone(), &s.universe);
    let (mut complements, mut total) = (0, 0);
    for f in (0..s.universe.len() as u32)
        .filter(|&u| category(s, u) == "frames")
        .take(40)
    {
        let ctx = [(f, 1.0)];
        let mut q = Query::new(5, s.now);
        q.context = &ctx;
        for c in src.candidates(&q).unwrap().items {
            assert_eq!(c.because, Some(f));
            total += 1;
            complements += usize::from(matches!(
                category(s, c.item),
                "lenses" | "coatings" | "accessories"
            ));
        }
    }
    assert!(total >= 100, "{total}");
    assert!(complements * 10 >= total * 7, "{complements} of {total}");
}

#[test]
fn session_recs_follow_the_browsing_of_an_anonymous_visitor() {
    let s = shop();
    let store = Arc::new(SessionStore::new(SessionConfig::default(), s.universe.clone()).unwrap());
    let sources: Vec<(Arc<dyn CandidateSource>, f32)> = vec![
        (
            Arc::new(AlsSource::new(s.als.clone(), s.universe.clone())),
            1.0,
        ),
        (
            Arc::new(CooccurSource::new(s.cooccur.clone(), &s.universe)),
            0.5,
        ),
        (
            Arc::new(ContentSource::new(s.content.clone(), &s.universe)),
            1.0,
        ),
    ];
    let rec = SessionRecommender::new(store.clone(), sources).unwrap();
    // An anonymous visitor looks at titanium frames of one shape.
    let browsed: Vec<u32> = (0..s.universe.len() as u32)
        .filter(|&u| {
            category(s, u) == "frames" && text(s, u, "material").as_deref() == Some("titanium")
        })
        .take(6)
        .collect();
    assert_eq!(browsed.len(), 6);
    for (k, &u) in browsed.iter().enumerate() {
        store
            .ingest(&Event {
                user: "anon-42".into(),
                item: s.universe.id(u).unwrap().into(),
                kind: if k == 5 {
                    EventKind::AddToCart
                } else {
                    EventKind::View
                },
                timestamp: s.now - 600 + 60 * k as i64,
                region: Some("se".into()),
                channel: None,
                session: None,
            })
            .unwrap();
    }
    let mut q = Query::new(10, s.now);
    q.user = Some("anon-42");
    let got = rec.candidates(&q).unwrap().items;
    assert_eq!(got.len(), 10);
    let titanium = got
        .iter()
        .filter(|c| text(s, c.item, "material").as_deref() == Some("titanium"))
        .count();
    let base = (0..s.universe.len() as u32)
        .filter(|&u| text(s, u, "material").as_deref() == Some("titanium"))
        .count() as f64
        / s.universe.len() as f64;
    assert!(
        titanium as f64 / 10.0 >= 3.0 * base,
        "{titanium}/10 titanium, base rate {base:.3}"
    );
    for c in &got {
        assert!(!browsed.contains(&c.item));
        assert_eq!(c.source, SourceKind::Session);
        assert!(browsed.contains(&c.because.unwrap()));
    }
    // Logging in carries the browsing over to the customer.
    let customer = s.demo.customers[0].id.clone();
    store.merge("anon-42", &customer, s.now).unwrap();
    q.user = Some(customer.as_str());
    assert!(!rec.candidates(&q).unwrap().items.is_empty());
}

#[test]
fn every_source_honours_the_same_filter_and_exclusions() {
    let s = shop();
    let in_stock: HashSet<u32> = (0..s.universe.len() as u32)
        .filter(|&u| s.demo.catalog.item(u).unwrap().in_stock && category(s, u) != "eye_tests")
        .collect();
    let filter = |u: u32| in_stock.contains(&u);
    let customer = &s.demo.customers[1].id;
    let frame = (0..s.universe.len() as u32)
        .find(|&u| category(s, u) == "frames")
        .unwrap();
    let ctx = [(frame, 1.0)];
    let excluded: Vec<u32> = (0..s.universe.len() as u32).step_by(7).collect();
    let sources: Vec<Box<dyn CandidateSource>> = vec![
        Box::new(AlsSource::new(s.als.clone(), s.universe.clone())),
        Box::new(CooccurSource::new(s.cooccur.clone(), &s.universe)),
        Box::new(ContentSource::new(s.content.clone(), &s.universe)),
        Box::new(TrendingSource::new(
            s.trending.clone(),
            s.universe.clone(),
            false,
        )),
        Box::new(TrendingSource::new(
            s.trending.clone(),
            s.universe.clone(),
            true,
        )),
    ];
    let mut lists: Vec<Candidates> = Vec::new();
    for src in &sources {
        let mut q = Query::new(30, s.now);
        q.user = Some(customer);
        q.context = &ctx;
        q.region = Some("uk-north-west");
        q.filter = Some(&filter);
        q.exclude = &excluded;
        let got = src.candidates(&q).unwrap();
        assert!(!got.items.is_empty(), "{:?} found nothing", src.kind());
        for c in &got.items {
            assert!(filter(c.item), "{:?} returned a filtered item", src.kind());
            assert!(!excluded.contains(&c.item) && c.item != frame);
            assert_eq!(c.source, src.kind());
        }
        let unique: HashSet<u32> = got.items.iter().map(|c| c.item).collect();
        assert_eq!(unique.len(), got.items.len());
        lists.push(got);
    }
    let weighted: Vec<(f32, &Candidates)> = lists.iter().map(|l| (1.0, l)).collect();
    let blended = blend(&weighted, 25);
    assert_eq!(blended.len(), 25);
    assert!(blended.iter().all(|c| filter(c.item)));
    let kinds: HashSet<SourceKind> = blended.iter().map(|c| c.source).collect();
    assert!(kinds.len() >= 2, "{kinds:?}");
}
