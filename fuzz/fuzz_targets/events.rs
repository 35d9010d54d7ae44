//! Event parser and ingestion: a JSON batch of events (what the storefront
//! POSTs and the bindings convert) into a fresh engine, all or nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::data::Event;

fuzz_target!(|data: &[u8]| {
    let Ok(events) = serde_json::from_slice::<Vec<Event>>(data) else {
        return;
    };
    let engine = sightline_fuzz::fresh_engine();
    let before = engine.stats();
    if engine.ingest_batch(&events, true).is_err() {
        // A rejected batch changes nothing.
        assert_eq!(engine.stats(), before);
    }
    for e in &events {
        let _ = engine.ingest(e, false);
    }
});
