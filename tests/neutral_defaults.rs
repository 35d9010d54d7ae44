//! The default engine config on a shop that is not the demo's: a bookshop
//! whose catalog has only the built-in fields (id, title, category, brand,
//! price, stock). Every default placement must answer in full, with no
//! optical attribute or demo region assumed anywhere.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;
use sightline::als::{AlsConfig, AlsModel};
use sightline::candidate::SourceKind;
use sightline::content::{ContentConfig, ContentIndex};
use sightline::cooccur::{purchase_baskets, CooccurConfig, CooccurModel};
use sightline::data::{Catalog, Event, EventKind, InteractionsBuilder, Item, KindWeights};
use sightline::engine::{default_placements, Engine, EngineConfig, Models, Request};
use sightline::rng::{below, seeded};
use sightline::Error;

const BOOKS: usize = 120;
const CATEGORIES: [&str; 5] = ["novels", "poetry", "history", "science", "cookery"];
const PUBLISHERS: [&str; 6] = ["Penguin", "Faber", "Verso", "Picador", "Vintage", "Granta"];
const NOW: i64 = 1_750_000_000;

/// Books: every seventh is out of stock, every eleventh has no publisher.
fn books() -> Catalog {
    let mut c = Catalog::new();
    for i in 0..BOOKS {
        c.add(Item {
            id: format!("isbn-{i:03}"),
            title: format!("Book {i}"),
            category: CATEGORIES[i % CATEGORIES.len()].into(),
            brand: (i % 11 != 0).then(|| PUBLISHERS[i % PUBLISHERS.len()].into()),
            price: Some(8.0 + (i % 17) as f64),
            in_stock: i % 7 != 3,
            regions: Vec::new(),
            attributes: Default::default(),
        })
        .unwrap();
    }
    c
}

/// Readers who mostly stay in one category; one visit = one session, in
/// one of two regions whose codes the config knows nothing about.
fn events(catalog: &Catalog) -> Vec<Event> {
    let mut rng = seeded(7);
    let mut out = Vec::new();
    for reader in 0..300u64 {
        let favourite = reader as usize % CATEGORIES.len();
        let region = if reader % 3 == 0 {
            "uk-leeds"
        } else {
            "uk-london"
        };
        for visit in 0..4u64 {
            let session = format!("r{reader}-v{visit}");
            for step in 0..5u64 {
                let book = below(&mut rng, (BOOKS / CATEGORIES.len()) as u64) as usize;
                let idx = book * CATEGORIES.len() + favourite;
                let kind = if step % 2 == 0 {
                    EventKind::Purchase
                } else {
                    EventKind::View
                };
                let t = NOW - 86_400 * (4 - visit as i64) + 60 * step as i64;
                out.push(
                    Event::new(
                        format!("reader-{reader}"),
                        &catalog.items()[idx].id,
                        kind,
                        t,
                    )
                    .region(region)
                    .session(session.clone()),
                );
            }
        }
    }
    out.sort_by_key(|e| e.timestamp);
    out
}

fn bookshop(config: EngineConfig) -> Result<(Engine, Catalog), Error> {
    let catalog = books();
    let events = events(&catalog);
    let mut b = InteractionsBuilder::new()
        .weights(KindWeights::default())?
        .items(catalog.ids().clone());
    b.extend_events(&events)?;
    let data = b.build()?;
    let als = AlsModel::fit(
        &AlsConfig {
            factors: 8,
            iterations: 5,
            ..Default::default()
        },
        &data,
    )?;
    let baskets = purchase_baskets(catalog.ids(), &events)?;
    let cooccur = CooccurModel::fit(&CooccurConfig::default(), &baskets)?;
    let content = ContentIndex::builder(ContentConfig::default())
        .catalog(&catalog)
        .build()?;
    let models = Models {
        catalog: Arc::new(catalog.clone()),
        als: Some(Arc::new(als)),
        cooccur: Some(Arc::new(cooccur)),
        content: Some(Arc::new(content)),
    };
    let engine = Engine::new(config, models)?;
    engine.ingest_batch(&events, true)?;
    engine.refresh_popular(NOW)?;
    Ok((engine, catalog))
}

#[test]
fn the_default_config_serves_every_default_placement_of_a_bookshop() {
    let (engine, catalog) = bookshop(EngineConfig::default()).unwrap();
    let placements = default_placements();
    assert_eq!(
        placements.keys().map(String::as_str).collect::<Vec<_>>(),
        ["cart", "email", "home", "in_store", "product_page"]
    );
    let page = "isbn-006"; // poetry, in stock
    for (name, placement) in &placements {
        for n in [placement.n, 4] {
            let r = engine
                .recommend(&Request {
                    placement: name.clone(),
                    user: Some("reader-1".into()),
                    region: Some("uk-london".into()),
                    context_items: vec![page.into()],
                    cart: if name == "cart" {
                        vec![page.into()]
                    } else {
                        Vec::new()
                    },
                    n: Some(n),
                    consent: true,
                    now: Some(NOW),
                    ..Default::default()
                })
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r.items.len(), n, "{name}: {:?}", r.sources);
            let distinct: HashSet<&str> = r.items.iter().map(|i| i.item.as_str()).collect();
            assert_eq!(distinct.len(), n, "{name}: duplicates");
            for it in &r.items {
                let book = catalog.get(&it.item).expect("a catalog item");
                assert!(book.in_stock, "{name}: {} is out of stock", it.item);
                assert_ne!(it.item, page, "{name}: the page's own book");
                assert!(!it.reason.is_empty(), "{name}: no reason");
            }
        }
    }
    // The page's neighbours come from the models, not only from fallbacks.
    let pdp = engine
        .recommend(&Request {
            placement: "product_page".into(),
            context_items: vec![page.into()],
            now: Some(NOW),
            ..Default::default()
        })
        .unwrap();
    assert!(pdp
        .items
        .iter()
        .any(|i| matches!(i.source, SourceKind::Content | SourceKind::Cooccur)));
}

#[test]
fn a_region_without_a_display_name_is_explained_by_its_code() {
    let home_in_london = |engine: &Engine| {
        engine
            .recommend(&Request {
                placement: "home".into(),
                region: Some("uk-london".into()),
                now: Some(NOW),
                ..Default::default()
            })
            .unwrap()
    };
    let (engine, _) = bookshop(EngineConfig::default()).unwrap();
    let r = home_in_london(&engine);
    let popular: Vec<&str> = r
        .items
        .iter()
        .filter(|i| i.source == SourceKind::Popular)
        .map(|i| i.reason.as_str())
        .collect();
    assert!(!popular.is_empty(), "{:?}", r.items);
    // No region hierarchy is guessed from "uk-london": no "in UK".
    assert!(
        popular
            .iter()
            .all(|&why| why == "Popular in uk-london this week"),
        "{popular:?}"
    );
    // Names and markets come from the config when the shop gives them.
    let config = EngineConfig::from_value(json!({
        "region_names": {"uk-london": "London"},
        "trending": {"region_parent": {"uk-london": "uk", "uk-leeds": "uk"}},
    }))
    .unwrap();
    let (named, _) = bookshop(config).unwrap();
    let r = home_in_london(&named);
    assert!(r
        .items
        .iter()
        .filter(|i| i.source == SourceKind::Popular)
        .all(|i| i.reason == "Popular in London this week"));
}

#[test]
fn a_field_the_catalog_lacks_is_a_config_error_naming_it() {
    let config = EngineConfig::from_value(json!({
        "placements": {"cart": {"diversity": {"by": {"attributes": ["brand", "shape"]}}}}
    }))
    .unwrap();
    match bookshop(config) {
        Err(Error::Config { field, message }) => {
            assert_eq!(field, "placements.cart.diversity.by.attributes[1]");
            assert!(message.contains("\"shape\""), "{message}");
        }
        Ok(_) => panic!("a diversity field the catalog lacks was accepted"),
        Err(other) => panic!("{other:?}"),
    }
}
