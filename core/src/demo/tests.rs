//! Tests of the demo data set: determinism, the planted structure, and
//! config validation.

use super::rand::Rand;
use super::vocab::EYE_TEST_LIST;
use super::*;
use crate::data::{AttrValue, EventKind, Item};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

fn small() -> &'static DemoData {
    static DATA: OnceLock<DemoData> = OnceLock::new();
    DATA.get_or_init(|| generate(&DemoConfig::small()).unwrap())
}

#[test]
fn deterministic_and_seed_sensitive() {
    let cfg = DemoConfig {
        customers: 300,
        products: 120,
        events: 8_000,
        ..Default::default()
    };
    let a = generate(&cfg).unwrap();
    let b = generate(&cfg).unwrap();
    assert_eq!(a, b);
    let c = generate(&DemoConfig { seed: 43, ..cfg }).unwrap();
    assert_ne!(a.events, c.events);
    assert_ne!(a.catalog, c.catalog);
}

#[test]
fn sizes_and_references() {
    let cfg = DemoConfig::small();
    let d = small();
    assert_eq!(d.customers.len(), cfg.customers);
    assert_eq!(d.catalog.len(), cfg.products);
    let n = d.events.len() as f64;
    assert!(
        (n - cfg.events as f64).abs() <= 0.25 * cfg.events as f64,
        "{n} events"
    );
    let custs: HashMap<&str, &Customer> = d.customers.iter().map(|c| (c.id.as_str(), c)).collect();
    assert_eq!(d.customers[0].id, "C000001");
    let end = cfg.start + i64::from(cfg.days) * 86_400;
    for w in d.events.windows(2) {
        assert!(w[0].timestamp <= w[1].timestamp);
    }
    for e in &d.events {
        let c = custs[e.user.as_str()];
        let item = d.catalog.get(&e.item).expect("event item in catalog");
        assert!(e.timestamp >= cfg.start && e.timestamp < end);
        assert_eq!(e.region.as_deref(), Some(c.region.as_str()));
        assert!(
            item.available_in(&c.region),
            "{} not sold in {}",
            item.id,
            c.region
        );
        assert!(e
            .session
            .as_deref()
            .is_some_and(|s| s.starts_with('S') && s.len() == 8));
        assert!(e.channel.is_some());
        if e.kind == EventKind::Purchase {
            assert!(item.in_stock);
        }
    }
    assert_eq!(d.events[0].session.as_deref(), Some("S0000001"));
    let x = d.interactions(&KindWeights::default()).unwrap();
    assert_eq!(x.n_users(), cfg.customers);
    assert_eq!(x.n_items(), cfg.products);
    assert_eq!(x.users().ids()[0], "C000001");
}

#[test]
fn catalog_content() {
    let d = small();
    let cats: BTreeSet<&str> = d
        .catalog
        .items()
        .iter()
        .map(|i| i.category.as_str())
        .collect();
    assert_eq!(cats, CATEGORIES.iter().copied().collect());
    let used: BTreeSet<&str> = d
        .events
        .iter()
        .map(|e| d.catalog.get(&e.item).unwrap().category.as_str())
        .collect();
    assert_eq!(used, cats, "every category sees events");
    let out =
        d.catalog.items().iter().filter(|i| !i.in_stock).count() as f64 / d.catalog.len() as f64;
    assert!((0.01..0.10).contains(&out), "{out}");
    assert!(d.catalog.items().iter().any(|i| !i.regions.is_empty()));
    let f = d.catalog.get("FR-00001").unwrap();
    assert_eq!(f.category, "frames");
    for key in ["shape", "material", "colours", "gender", "price_band"] {
        assert!(f.attributes.contains_key(key), "{key}");
    }
    let sg = d
        .catalog
        .items()
        .iter()
        .find(|i| i.category == "sunglasses")
        .unwrap();
    assert!(sg.id.starts_with("SG-") && sg.attributes.contains_key("polarised"));
    let ln = d
        .catalog
        .items()
        .iter()
        .find(|i| i.category == "lenses")
        .unwrap();
    assert!(matches!(ln.attributes["index"], AttrValue::Number(_)));
    for i in d.catalog.items() {
        assert!(i.price.is_some_and(|p| p >= 0.0) && i.brand.is_some() && !i.title.is_empty());
    }
    let et: Vec<&str> = d
        .catalog
        .items()
        .iter()
        .filter(|i| i.category == "eye_tests")
        .map(|i| i.title.as_str())
        .collect();
    assert_eq!(et.len(), EYE_TEST_LIST.len());
}

fn purchase_share(
    d: &DemoData,
    regions: &[&str],
    pred: impl Fn(&Item) -> bool,
    within: &str,
) -> f64 {
    let (mut hit, mut all) = (0usize, 0usize);
    for e in d.events.iter().filter(|e| e.kind == EventKind::Purchase) {
        if !regions.contains(&e.region.as_deref().unwrap_or("")) {
            continue;
        }
        let item = d.catalog.get(&e.item).unwrap();
        if within.is_empty() || item.category == within {
            all += 1;
            hit += usize::from(pred(item));
        }
    }
    hit as f64 / all.max(1) as f64
}

#[test]
fn planted_regional_preferences() {
    let d = small();
    let sun = |i: &Item| i.category == "sunglasses";
    let au = purchase_share(d, &["au", "nz"], sun, "");
    let scot = purchase_share(d, &["uk-scotland", "uk-wales", "uk-midlands"], sun, "");
    assert!(
        au > 1.5 * scot,
        "sunglasses share au/nz {au:.3} vs uk {scot:.3}"
    );
    let ti = |i: &Item| i.attributes.get("material") == Some(&AttrValue::Text("titanium".into()));
    let nordic = purchase_share(d, &["se", "no", "dk", "fi"], ti, "frames");
    let uk = purchase_share(
        d,
        &["uk-london", "uk-south-east", "uk-midlands"],
        ti,
        "frames",
    );
    assert!(
        nordic > 1.5 * uk,
        "titanium nordics {nordic:.3} vs uk {uk:.3}"
    );
}

#[test]
fn sunglasses_peak_in_local_summer() {
    let d = small();
    let start = DemoConfig::small().start;
    // share of sunglasses views in June-August vs December-February.
    let share = |regions: &[&str], summer: bool| {
        let (mut hit, mut all) = (0usize, 0usize);
        for e in d.events.iter().filter(|e| {
            e.kind == EventKind::View && regions.contains(&e.region.as_deref().unwrap())
        }) {
            let day = (e.timestamp - start) / 86_400;
            let jja = (151..243).contains(&day);
            let djf = !(59..334).contains(&day);
            if (summer && jja) || (!summer && djf) {
                all += 1;
                hit += usize::from(d.catalog.get(&e.item).unwrap().category == "sunglasses");
            }
        }
        hit as f64 / all.max(1) as f64
    };
    let uk = [
        "uk-london",
        "uk-south-east",
        "uk-north-west",
        "uk-midlands",
        "uk-scotland",
        "uk-wales",
    ];
    assert!(share(&uk, true) > 1.3 * share(&uk, false));
    assert!(share(&["au", "nz"], false) > 1.3 * share(&["au", "nz"], true));
}

#[test]
fn bad_configs_are_errors() {
    let ok = DemoConfig::small();
    for bad in [
        DemoConfig {
            customers: 0,
            ..ok.clone()
        },
        DemoConfig {
            products: MIN_PRODUCTS - 1,
            ..ok.clone()
        },
        DemoConfig {
            products: usize::MAX,
            ..ok.clone()
        },
        DemoConfig {
            events: 0,
            ..ok.clone()
        },
        DemoConfig {
            days: 0,
            ..ok.clone()
        },
        DemoConfig {
            start: i64::MAX,
            ..ok.clone()
        },
        DemoConfig {
            start: i64::MIN,
            ..ok.clone()
        },
    ] {
        assert!(
            matches!(generate(&bad), Err(Error::Config { .. })),
            "{bad:?}"
        );
    }
    // Tiny but valid configs work.
    let tiny = generate(&DemoConfig {
        customers: 1,
        products: MIN_PRODUCTS,
        events: 1,
        days: 1,
        ..ok.clone()
    })
    .unwrap();
    assert_eq!(tiny.catalog.len(), MIN_PRODUCTS);
    let few = generate(&DemoConfig {
        customers: 5,
        products: MIN_PRODUCTS,
        events: 200,
        start: -86_400 * 400,
        days: 3,
        ..ok
    })
    .unwrap();
    assert!(!few.events.is_empty());
}

/// nDCG@10 of item-item cosine kNN and of most-popular on a per-user
/// random 20% holdout (users with ≥ 5 items).
fn knn_vs_popularity(d: &DemoData) -> (f64, f64) {
    let x = d.interactions(&KindWeights::default()).unwrap();
    let m = x.matrix();
    let n_items = m.n_cols();
    let mut rng = Rand::new(7, 99, 0);
    let mut train: Vec<Vec<(u32, f32)>> = Vec::new();
    let mut test: Vec<Vec<u32>> = Vec::new();
    for u in 0..m.n_rows() {
        let (cols, vals) = m.row(u);
        let mut row: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
        if row.len() < 5 {
            train.push(row);
            test.push(Vec::new());
            continue;
        }
        for k in (1..row.len()).rev() {
            row.swap(k, rng.index(k + 1));
        }
        let h = (row.len() + 2) / 5;
        test.push(row[..h].iter().map(|e| e.0).collect());
        train.push(row[h..].to_vec());
    }
    // Dense co-occurrence on log-damped weights.
    let mut co = vec![0f64; n_items * n_items];
    let mut pop = vec![0f64; n_items];
    for row in &train {
        for &(i, wi) in row {
            pop[i as usize] += 1.0;
            let wi = f64::from(wi).ln_1p();
            for &(j, wj) in row {
                co[i as usize * n_items + j as usize] += wi * f64::from(wj).ln_1p();
            }
        }
    }
    let norm: Vec<f64> = (0..n_items)
        .map(|i| co[i * n_items + i].sqrt().max(1e-12))
        .collect();
    let mut pop_order: Vec<usize> = (0..n_items).collect();
    pop_order.sort_by(|&a, &b| pop[b].total_cmp(&pop[a]).then(a.cmp(&b)));
    let ndcg = |ranked: &[usize], truth: &HashSet<u32>| {
        let dcg: f64 = ranked
            .iter()
            .enumerate()
            .filter(|(_, &i)| truth.contains(&(i as u32)))
            .map(|(r, _)| 1.0 / (r as f64 + 2.0).log2())
            .sum();
        let idcg: f64 = (0..truth.len().min(10))
            .map(|r| 1.0 / (r as f64 + 2.0).log2())
            .sum();
        dcg / idcg
    };
    let (mut knn_sum, mut pop_sum, mut n) = (0.0, 0.0, 0usize);
    let mut scores = vec![0f64; n_items];
    for (row, t) in train.iter().zip(&test) {
        if t.is_empty() {
            continue;
        }
        let truth: HashSet<u32> = t.iter().copied().collect();
        let seen: HashSet<u32> = row.iter().map(|e| e.0).collect();
        scores.iter_mut().for_each(|s| *s = 0.0);
        for &(j, _) in row {
            let j = j as usize;
            for (i, s) in scores.iter_mut().enumerate() {
                *s += co[j * n_items + i] / (norm[i] * norm[j]);
            }
        }
        let mut cand: Vec<usize> = (0..n_items)
            .filter(|&i| !seen.contains(&(i as u32)))
            .collect();
        cand.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        cand.truncate(10);
        knn_sum += ndcg(&cand, &truth);
        let top_pop: Vec<usize> = pop_order
            .iter()
            .copied()
            .filter(|&i| !seen.contains(&(i as u32)))
            .take(10)
            .collect();
        pop_sum += ndcg(&top_pop, &truth);
        n += 1;
    }
    (knn_sum / n as f64, pop_sum / n as f64)
}

#[test]
fn knn_beats_popularity() {
    let (knn, pop) = knn_vs_popularity(small());
    let d = small();
    let x = d.interactions(&KindWeights::default()).unwrap();
    let active = (0..x.n_users())
        .filter(|&u| x.matrix().row(u).0.len() >= 5)
        .count();
    eprintln!(
        "{} events, {} nnz, {} users with >=5 items",
        d.events.len(),
        x.matrix().nnz(),
        active
    );
    eprintln!(
        "nDCG@10 kNN {knn:.4}  popularity {pop:.4}  ratio {:.2}",
        knn / pop
    );
    assert!(knn >= 1.8 * pop, "kNN {knn:.4} vs popularity {pop:.4}");
}

/// `cargo test --release -- --ignored --nocapture default_size_timing`
#[test]
#[ignore]
fn default_size_timing() {
    let t = std::time::Instant::now();
    let d = generate(&DemoConfig::default()).unwrap();
    let gen = t.elapsed();
    let x = d.interactions(&KindWeights::default()).unwrap();
    eprintln!(
        "default: {} events, {} customers, {} products, generate {:.2?}, interactions {:.2?} ({} nnz)",
        d.events.len(),
        d.customers.len(),
        d.catalog.len(),
        gen,
        t.elapsed() - gen,
        x.matrix().nnz()
    );
    let (knn, pop) = knn_vs_popularity(&d);
    eprintln!(
        "default nDCG@10 kNN {knn:.4}  popularity {pop:.4}  ratio {:.2}",
        knn / pop
    );
}

#[test]
fn engine_config_carries_the_demo_facts_over_neutral_defaults() {
    let c = engine_config(&serde_json::json!({})).unwrap();
    assert_eq!(c.region_names.len(), REGIONS.len());
    assert_eq!(c.region_names["uk-north-west"], "North West England");
    let parents = &c.trending.region_parent;
    assert_eq!(parents["uk-scotland"], "uk");
    assert_eq!(parents["fi"], "nordics");
    assert_eq!(parents["nz"], "anz");
    assert!(!parents.contains_key("nl"));
    let defaults = default_placements();
    for (name, p) in &c.placements {
        assert_eq!(
            p.diversity.by.attributes().unwrap(),
            DIVERSITY_ATTRIBUTES,
            "{name}"
        );
        // Everything else is the neutral default.
        assert_eq!(p.diversity.lambda, defaults[name].diversity.lambda);
        assert_eq!(p.sources, defaults[name].sources);
    }
    // The neutral defaults know none of this.
    let neutral = EngineConfig::default();
    assert!(neutral.region_names.is_empty() && neutral.trending.region_parent.is_empty());
    assert!(neutral.placements.values().all(|p| !p
        .diversity
        .by
        .attributes()
        .unwrap()
        .contains(&"shape".to_owned())));
    // Overrides are merged on top, field by field.
    let c = engine_config(&serde_json::json!({
        "placements": {"home": {"n": 6}},
        "region_names": {"au": "Straya"},
        "trending": {"min_segment_weight": 3.0},
    }))
    .unwrap();
    assert_eq!(c.placements["home"].n, 6);
    assert_eq!(
        c.placements["home"].diversity.by.attributes().unwrap(),
        DIVERSITY_ATTRIBUTES
    );
    assert_eq!(c.region_names["au"], "Straya");
    assert_eq!(c.region_names["nz"], "New Zealand");
    assert_eq!(c.trending.min_segment_weight, 3.0);
    assert_eq!(c.trending.region_parent, region_parent());
    let e = engine_config(&serde_json::json!({"placements": {"home": {"n": 0}}})).unwrap_err();
    assert!(
        matches!(e, Error::Config { ref field, .. } if field == "placements.home.n"),
        "{e}"
    );
}
