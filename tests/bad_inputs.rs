//! The bad-input matrix (issue 18) through the Rust API: every case of
//! `tests/bad_inputs/cases.json` that lists `rust` must return its typed
//! error (or, for a capped resource, succeed) within the hang bound,
//! without panicking, and leave every object's probed output unchanged.
//! The Python, Node and WASM runners read the same file; the format is in
//! `tests/bad_inputs/README.md`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sightline::als::{AlsConfig, AlsModel, RecommendOptions};
use sightline::data::{
    Catalog, Event, EventColumns, EventKind, Interactions, InteractionsBuilder, KindWeights, Row,
    RowValue,
};
use sightline::demo::{engine_config, generate, DemoConfig};
use sightline::engine::{Engine, EngineConfig, Models, Request};
use sightline::rerank::{rerank, RerankOptions, SessionEvent, VisitorSession};
use sightline::session::{SessionConfig, SessionStore};
use sightline::slice::ModelSlice;
use sightline::{Component, Error};

/// A case that takes longer than this is reported as a hang.
const HANG_BOUND: Duration = Duration::from_secs(10);
const CASES: &str = include_str!("bad_inputs/cases.json");
const RUNTIME: &str = "rust";

/// Valid objects of every kind the cases attack, made from the demo shop.
struct Fixture {
    data: Interactions,
    model: AlsModel,
    model_bytes: Vec<u8>,
    slice: ModelSlice,
    slice_bytes: Vec<u8>,
    engine: Engine,
    engine_bytes: Vec<u8>,
    catalog: Catalog,
    session: SessionStore,
    visitor: VisitorSession,
    user: String,
    item: String,
    slice_item: String,
    now: i64,
}

fn fixture() -> Fixture {
    let demo = generate(&DemoConfig {
        customers: 300,
        products: 60,
        events: 6_000,
        ..Default::default()
    })
    .unwrap();
    let data = demo.interactions(&KindWeights::default()).unwrap();
    let config = AlsConfig {
        factors: 8,
        iterations: 3,
        num_threads: 1,
        ..Default::default()
    };
    let model = AlsModel::fit(&config, &data).unwrap();
    let model_bytes = model.to_bytes().unwrap();
    let now = demo.events.last().unwrap().timestamp;
    let engine = Engine::new(
        engine_config(&json!({})).unwrap(),
        Models {
            catalog: Arc::new(demo.catalog.clone()),
            als: Some(Arc::new(model.clone())),
            cooccur: None,
            content: None,
        },
    )
    .unwrap();
    for e in demo.events.iter().rev().take(500) {
        engine.ingest(e, true).unwrap();
    }
    let engine_bytes = engine.to_bytes().unwrap();
    let items: Vec<&str> = demo
        .catalog
        .ids()
        .ids()
        .iter()
        .map(String::as_str)
        .collect();
    let slice = engine.export_slice("home", &items[..30]).unwrap();
    let slice_bytes = slice.to_bytes().unwrap();
    let slice_item = items[0].to_owned();
    let item = items[1].to_owned();
    let session = SessionStore::new(
        SessionConfig::default(),
        Arc::new(demo.catalog.ids().clone()),
    )
    .unwrap();
    for e in demo.events.iter().rev().take(200) {
        session.ingest(e).unwrap();
    }
    let mut visitor = VisitorSession::new(50).unwrap();
    visitor
        .add(SessionEvent {
            item: slice_item.clone(),
            kind: EventKind::View,
            timestamp: now,
        })
        .unwrap();
    let user = demo.events.last().unwrap().user.clone();
    Fixture {
        data,
        model,
        model_bytes,
        slice,
        slice_bytes,
        engine,
        engine_bytes,
        catalog: demo.catalog,
        session,
        visitor,
        user,
        item,
        slice_item,
        now,
    }
}

/// Everything observable about the fixture's objects: must not change when
/// a case fails. Counters of rejected input (metrics) are left out.
fn probe(f: &Fixture) -> String {
    let recs = f
        .model
        .recommend_by_id(&f.user, 5, &RecommendOptions::default())
        .unwrap();
    let req = Request {
        placement: "home".into(),
        user: Some(f.user.clone()),
        now: Some(f.now),
        ..Default::default()
    };
    let served: Vec<String> = f
        .engine
        .recommend(&req)
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.item)
        .collect();
    let stats = f.session.stats();
    let reranked = rerank(
        &f.slice,
        &[f.slice_item.clone(), f.item.clone()],
        &RerankOptions {
            session: f.visitor.events().to_vec(),
            ..Default::default()
        },
    )
    .unwrap();
    format!(
        "{recs:?}|{}|{served:?}|{}|{}|{}|{:?}|{reranked:?}|{:?}|{}",
        crc32fast::hash(&f.model.to_bytes().unwrap()),
        crc32fast::hash(
            &f.engine
                .export_user(&f.user)
                .map(|u| format!("{u:?}"))
                .unwrap()
                .into_bytes()
        ),
        stats.keys,
        stats.events,
        f.session.recent(&f.user, f.now),
        f.visitor.events(),
        f.catalog.len(),
    )
}

/// The generated value of a JSON input: `$float`, `$repeat`, and the
/// fixture placeholders `$user`, `$item`, `$now`.
fn decode(v: &Value, f: &Fixture, item: &str) -> Value {
    match v {
        Value::String(s) if s == "$user" => json!(f.user),
        Value::String(s) if s == "$item" => json!(item),
        Value::String(s) if s == "$now" => json!(f.now),
        Value::Object(m) if m.contains_key("$repeat") => {
            json!(m["$repeat"]
                .as_str()
                .unwrap()
                .repeat(m["times"].as_u64().unwrap() as usize))
        }
        // Read where a number is expected, by `float`.
        Value::Object(m) if m.contains_key("$float") => v.clone(),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), decode(v, f, item)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| decode(v, f, item)).collect()),
        other => other.clone(),
    }
}

/// A number that may be `{"$float": "nan" | "inf" | "-inf"}`.
fn float(v: &Value) -> f64 {
    match v.get("$float").and_then(Value::as_str) {
        Some("nan") => f64::NAN,
        Some("inf") => f64::INFINITY,
        Some("-inf") => f64::NEG_INFINITY,
        Some(other) => panic!("unknown $float {other}"),
        None => v.as_f64().unwrap(),
    }
}

/// Text from a string or a generator (`repeat`/`times`, `concat`).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.contains_key("repeat") => m["repeat"]
            .as_str()
            .unwrap()
            .repeat(m["times"].as_u64().unwrap() as usize),
        Value::Object(m) if m.contains_key("concat") => {
            m["concat"].as_array().unwrap().iter().map(text).collect()
        }
        other => panic!("not a text generator: {other}"),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The bytes a file generator describes (see the README).
fn bytes(g: &Value, f: &Fixture) -> Vec<u8> {
    if let Some(h) = g.get("hex") {
        return hex(h.as_str().unwrap());
    }
    if g.get("text").is_some() || g.get("repeat").is_some() {
        return text(g.get("text").unwrap_or(g)).into_bytes();
    }
    if let Some(st) = g.get("safetensors") {
        let header = match st.get("header_hex") {
            Some(h) => hex(h.as_str().unwrap()),
            None => text(&st["header"]).into_bytes(),
        };
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header);
        out.resize(out.len() + st["data_len"].as_u64().unwrap() as usize, 0);
        return out;
    }
    let mut b = match g["from"].as_str().unwrap() {
        "model" => f.model_bytes.clone(),
        "slice" => f.slice_bytes.clone(),
        "engine" => f.engine_bytes.clone(),
        other => panic!("unknown base file {other}"),
    };
    if let Some(at) = g.get("truncate_at") {
        b.truncate((b.len() as f64 * at.as_f64().unwrap()) as usize);
    }
    if let Some(to) = g.get("truncate_to") {
        let to = to.as_i64().unwrap();
        b.truncate(if to < 0 {
            b.len() - (-to) as usize
        } else {
            to as usize
        });
    }
    if let Some(at) = g.get("flip_at") {
        let i = (b.len() as f64 * at.as_f64().unwrap()) as usize;
        b[i] ^= 0xff;
    }
    if let Some(r) = g.get("replace") {
        let (from, to) = (
            r[0].as_str().unwrap().as_bytes(),
            r[1].as_str().unwrap().as_bytes(),
        );
        let at = b
            .windows(from.len())
            .position(|w| w == from)
            .unwrap_or_else(|| panic!("{:?} not in the base file", r[0]));
        b.splice(at..at + from.len(), to.iter().copied());
    }
    b
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().expect("a non-negative integer") as usize
}

/// Runs one case's operation; `Ok` carries nothing (a capped case only has
/// to succeed).
fn run(op: &str, input: &Value, f: &Fixture) -> Result<(), Error> {
    let model_item = f.model.items().id(0).unwrap().to_owned();
    match op {
        "als.fit" => {
            let mut c = AlsConfig {
                factors: 4,
                iterations: 2,
                num_threads: 1,
                ..Default::default()
            };
            for (k, v) in input
                .get("params")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                match k.as_str() {
                    "num_threads" => c.num_threads = usize_of(v),
                    "factors" => c.factors = usize_of(v),
                    "iterations" => c.iterations = usize_of(v),
                    "regularization" => c.regularization = float(v) as f32,
                    "alpha" => c.alpha = float(v) as f32,
                    other => panic!("unknown param {other}"),
                }
            }
            let data = match input.get("events") {
                Some(events) => build(events, f)?,
                None => f.data.clone(),
            };
            AlsModel::fit(&c, &data).map(drop)
        }
        "interactions.build" => build(&input["events"], f).map(drop),
        "interactions.columns" => {
            let column = |name: &str| input.get(name).map(|c| c.as_array().unwrap().clone());
            let strings = |name| {
                column(name).map(|c| c.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            };
            let columns = EventColumns {
                users: strings("users").unwrap(),
                items: strings("items").unwrap(),
                kinds: strings("kinds"),
                timestamps: column("timestamps")
                    .map(|c| c.iter().map(|v| v.as_i64().unwrap()).collect()),
                weights: column("weights").map(|c| c.iter().map(|v| float(v) as f32).collect()),
                ..Default::default()
            };
            let mut b = InteractionsBuilder::new();
            b.add_columns(&columns)?;
            b.build().map(drop)
        }
        "model.load_bytes" => AlsModel::from_bytes(&bytes(&input["bytes"], f)).map(drop),
        "slice.from_bytes" => ModelSlice::from_bytes(&bytes(&input["bytes"], f)).map(drop),
        "engine.load_bytes" => Engine::from_bytes(
            &bytes(&input["bytes"], f),
            engine_config(&json!({})).unwrap(),
        )
        .map(drop),
        "model.recommend" => {
            let i = decode(input, f, &model_item);
            f.model
                .recommend_by_id(
                    i["user"].as_str().unwrap(),
                    usize_of(&i["n"]),
                    &RecommendOptions::default(),
                )
                .map(drop)
        }
        "model.similar_items" => {
            let i = decode(input, f, &model_item);
            f.model
                .similar_items_by_id(i["item"].as_str().unwrap(), usize_of(&i["n"]))
                .map(drop)
        }
        "engine.from_config_json" => EngineConfig::from_json(&text(&input["text"])).map(drop),
        "engine.from_config_toml" => EngineConfig::from_toml(&text(&input["text"])).map(drop),
        "engine.recommend" => {
            let i = decode(&input["request"], f, &f.item);
            let req: Request = serde_json::from_value(i).unwrap();
            f.engine.recommend(&req).map(drop)
        }
        "engine.ingest" => f.engine.ingest(&event(&input["event"], f), true),
        "session.ingest" => f.session.ingest(&event(&input["event"], f)).map(drop),
        "catalog.load" => {
            let mut rows: Vec<Row> = Vec::new();
            for item in input["items"].as_array().unwrap() {
                let mut row = decode(item, f, &f.item);
                let price = row.as_object_mut().unwrap().remove("price");
                let mut r: Row = serde_json::from_value(row).unwrap();
                if let Some(p) = price {
                    r.insert("price".into(), RowValue::Float(float(&p)));
                }
                rows.push(r);
            }
            let catalog = Catalog::from_rows(&rows)?;
            Engine::new(
                EngineConfig::default(),
                Models {
                    catalog: Arc::new(catalog),
                    als: None,
                    cooccur: None,
                    content: None,
                },
            )
            .map(drop)
        }
        "slice.rerank" => {
            let i = decode(input, f, &f.slice_item);
            let candidates: Vec<String> = serde_json::from_value(i["candidates"].clone()).unwrap();
            let opts: RerankOptions = match i.get("options") {
                Some(o) => serde_json::from_value(o.clone()).unwrap(),
                None => RerankOptions::default(),
            };
            rerank(&f.slice, &candidates, &opts).map(drop)
        }
        "visitor.add" => {
            let e: SessionEvent =
                serde_json::from_value(decode(&input["event"], f, &f.slice_item)).unwrap();
            // The case must leave the fixture's visitor unchanged: add to a copy
            // and compare (the probe covers the original).
            let mut v = f.visitor.clone();
            let before = v.events().to_vec();
            let r = v.add(e);
            if r.is_err() {
                assert_eq!(
                    v.events(),
                    before,
                    "a rejected event changed the visitor session"
                );
            }
            r
        }
        "visitor.new" => VisitorSession::new(usize_of(&input["max_events"])).map(drop),
        other => panic!("rust runs {other} but the runner has no handler for it"),
    }
}

/// Interactions from `[[user, item, weight], …]`.
fn build(events: &Value, f: &Fixture) -> Result<Interactions, Error> {
    let mut b = InteractionsBuilder::new();
    for e in events.as_array().unwrap() {
        let e = decode(e, f, &f.item);
        b.add(
            e[0].as_str().unwrap(),
            e[1].as_str().unwrap(),
            float(&e[2]) as f32,
        )?;
    }
    b.build()
}

fn event(v: &Value, f: &Fixture) -> Event {
    let e = decode(v, f, &f.item);
    Event::new(
        e["user"].as_str().unwrap(),
        e["item"].as_str().unwrap(),
        EventKind::parse(e["kind"].as_str().unwrap()),
        e["timestamp"].as_i64().unwrap(),
    )
}

#[test]
fn every_case_gives_its_typed_error_quickly_and_changes_nothing() {
    let doc: Value = serde_json::from_str(CASES).unwrap();
    let f = fixture();
    let before = probe(&f);
    assert_eq!(probe(&f), before, "the probe itself must not change state");

    // A watchdog: a case running past the hang bound fails the whole run
    // (a hang cannot be caught in-thread).
    let current = Arc::new(Mutex::new(String::new()));
    let started = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    {
        let (current, started) = (current.clone(), started.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let t = started.load(Ordering::SeqCst);
            if t > 0 && epoch.elapsed().as_millis() as u64 - t > HANG_BOUND.as_millis() as u64 {
                eprintln!("case {} hung (> {HANG_BOUND:?})", current.lock().unwrap());
                std::process::exit(101);
            }
        });
    }

    let ops = doc["operations"].as_object().unwrap();
    let (mut ran, mut skipped) = (0, 0);
    let mut failures = Vec::new();
    for case in doc["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let op = case["op"].as_str().unwrap();
        let runtimes = case.get("runtimes").unwrap_or(&ops[op]);
        if !runtimes.as_array().unwrap().iter().any(|r| r == RUNTIME) {
            skipped += 1;
            continue;
        }
        *current.lock().unwrap() = id.to_owned();
        started.store(epoch.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
        let t = Instant::now();
        let got = catch_unwind(AssertUnwindSafe(|| run(op, &case["input"], &f)));
        let took = t.elapsed();
        started.store(0, Ordering::SeqCst);
        ran += 1;
        let want = case["code"].as_str();
        let outcome = match got {
            Err(_) => Err("panicked".to_string()),
            Ok(Ok(())) if want.is_none() => Ok(()),
            Ok(Ok(())) => Err(format!("succeeded, want {}", want.unwrap())),
            Ok(Err(e)) if Some(e.code()) == want => Ok(()),
            Ok(Err(e)) => Err(format!("{} ({e}), want {want:?}", e.code())),
        };
        if let Err(why) = outcome {
            failures.push(format!("{id}: {why}"));
        }
        assert!(took < HANG_BOUND, "{id} took {took:?}");
        if probe(&f) != before {
            failures.push(format!("{id}: changed the fixture's state"));
        }
    }
    println!("bad-input matrix (rust): {ran} cases run, {skipped} skipped by declaration");
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(ran >= 40, "only {ran} cases ran");
}
