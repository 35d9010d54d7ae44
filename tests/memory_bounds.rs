//! Memory of the engine's live stores under an adversarial stream, measured
//! with a counting global allocator: the session store, the trending store
//! (segments and (segment, item) entries), the attribution log and the
//! purchase history each get 1×, 2× and 4× their cap's worth of unique
//! keys through the [`Engine`], as a storefront would send them. Live
//! bytes must plateau once the cap is reached and stay under the
//! documented bytes-per-entry × cap bound.
//!
//! One test function: the allocator counts the whole process, so phases
//! must not overlap. Run with `--nocapture` for the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use sightline::data::{Event, EventKind};
use sightline::demo::{engine_config, generate, DemoConfig};
use sightline::engine::{Engine, Models, Request};
use sightline::resilience::ManualClock;

/// [`System`], counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter is
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The caps of the engine under test (small, so 4× is quick).
const SESSIONS: usize = 4_000;
const EVENTS_PER_VISITOR: usize = 5;
const SEGMENTS: usize = 400;
const ITEMS_PER_SEGMENT: usize = 2_000;
const OPEN: usize = 4_000;
const CUSTOMERS: usize = 4_000;
/// Growth allowed from 1× to 4× the cap, as a fraction of the 1× growth
/// (hash tables grow in powers of two, so a table may double once after
/// the cap is first reached if it was just under a power of two).
const PLATEAU: f64 = 0.10;
const T0: i64 = 1_750_000_000;

fn engine() -> (Engine, Models) {
    let demo = generate(&DemoConfig {
        customers: 50,
        products: 200,
        events: 2_000,
        ..Default::default()
    })
    .unwrap();
    let models = Models {
        catalog: Arc::new(demo.catalog),
        als: None,
        cooccur: None,
        content: None,
    };
    let config = engine_config(&serde_json::json!({
        "session": { "capacity": SESSIONS, "max_events": EVENTS_PER_VISITOR, "shards": 4 },
        "trending": { "max_segments": SEGMENTS, "max_items_per_segment": ITEMS_PER_SEGMENT },
        "tracking": { "max_open": OPEN },
        "purchase_history_capacity": CUSTOMERS,
    }))
    .unwrap();
    let clock = Arc::new(ManualClock::new(T0 as u64 * 1_000_000));
    let engine = Engine::with_clock(config, models.clone(), clock).unwrap();
    (engine, models)
}

/// Feeds `feed(engine, k)` for k in 0..4×cap, measuring live bytes after
/// 1×, 2× and 4× the cap; asserts the plateau and the bound; returns the
/// bytes per entry at 1×.
fn measure(
    what: &str,
    cap: usize,
    bound_per_entry: f64,
    mut feed: impl FnMut(&Engine, &Models, usize),
) -> f64 {
    let started = Instant::now();
    let (engine, models) = engine();
    // Warm-up: lazily built caches and first allocations of every store.
    feed(&engine, &models, usize::MAX);
    let base = live();
    let mut at = Vec::new();
    let mut k = 0;
    for mult in [1, 2, 4] {
        while k < mult * cap {
            feed(&engine, &models, k);
            k += 1;
        }
        at.push(live() - base);
    }
    let per_entry = at[0] as f64 / cap as f64;
    let growth = (at[2] - at[0]) as f64 / at[0] as f64;
    println!(
        "memory: {what}: {per_entry:.0} bytes per entry at the cap of {cap} \
         (live {:.2} / {:.2} / {:.2} MB at 1×/2×/4×, +{:.1}% after the cap; {:?})",
        at[0] as f64 / 1e6,
        at[1] as f64 / 1e6,
        at[2] as f64 / 1e6,
        100.0 * growth,
        started.elapsed()
    );
    assert!(at[0] > 0, "{what}: nothing was stored");
    assert!(
        growth < PLATEAU,
        "{what}: grew {:.1}% past the cap",
        100.0 * growth
    );
    let bound = bound_per_entry * cap as f64;
    assert!(
        at.iter().all(|&b| (b as f64) < bound),
        "{what}: {at:?} bytes exceed the documented {bound_per_entry} × {cap}"
    );
    drop(engine);
    per_entry
}

fn event(user: &str, item: &str, kind: EventKind, region: Option<String>) -> Event {
    Event {
        region,
        ..Event::new(user, item, kind, T0)
    }
}

#[test]
fn live_stores_stay_within_their_caps() {
    let started = Instant::now();
    let items = |m: &Models| m.catalog.ids().ids().to_vec();

    // Sessions: unique visitors, each with a full list of events.
    measure(
        "session (visitor with 5 events)",
        SESSIONS,
        600.0,
        |e, m, k| {
            let ids = items(m);
            for j in 0..EVENTS_PER_VISITOR {
                let item = &ids[(k.wrapping_mul(7) + j) % ids.len()];
                e.ingest(
                    &event(&format!("visitor-{k:012}"), item, EventKind::View, None),
                    true,
                )
                .unwrap();
            }
        },
    );

    // Trending segments: a made-up region per event, on catalog items
    // (so a region and a region × category segment each).
    measure(
        "trending segment (one entry each)",
        SEGMENTS,
        1_000.0,
        |e, m, k| {
            let ids = items(m);
            let item = &ids[k % ids.len()];
            e.ingest(
                &event("u", item, EventKind::View, Some(format!("region-{k:012}"))),
                false,
            )
            .unwrap();
        },
    );

    // Trending entries: made-up items in one region (global and region
    // segments fill to their cap).
    let entries = 2 * ITEMS_PER_SEGMENT;
    measure(
        "trending (segment, item) entry",
        entries,
        300.0,
        |e, _, k| {
            e.ingest(
                &event(
                    "u",
                    &format!("item-{}", k / 2),
                    EventKind::View,
                    Some("uk".into()),
                ),
                false,
            )
            .unwrap();
        },
    );

    // Attribution: a recommendation per unique customer, one click each.
    measure(
        "open recommendation (8 items, one click)",
        OPEN,
        1_000.0,
        |e, _, k| {
            let r = e
                .recommend(&Request {
                    placement: "home".into(),
                    user: Some(format!("customer-{k:012}")),
                    n: Some(8),
                    consent: true,
                    now: Some(T0),
                    ..Default::default()
                })
                .unwrap();
            e.track_click(&r.recommendation_id, &r.items[0].item, T0)
                .unwrap();
        },
    );

    // Purchase history: unique customers, one purchase each.
    measure(
        "purchase history (customer with 1 purchase, with the session entry it also makes)",
        CUSTOMERS,
        1_000.0,
        |e, m, k| {
            let ids = items(m);
            e.ingest(
                &event(
                    &format!("buyer-{k:012}"),
                    &ids[k % ids.len()],
                    EventKind::Purchase,
                    None,
                ),
                true,
            )
            .unwrap();
        },
    );
    println!("memory: all phases in {:?}", started.elapsed());
}
