//! The browser's model-slice loader, then a re-rank of every candidate with
//! a session made from the slice's own items.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::data::EventKind;
use sightline::rerank::{rerank, RerankOptions, SessionEvent};
use sightline::slice::ModelSlice;
use sightline::Component;

fuzz_target!(|data: &[u8]| {
    let Ok(slice) = ModelSlice::from_bytes(data) else {
        return;
    };
    let ids: Vec<String> = slice
        .catalog()
        .items()
        .iter()
        .map(|i| i.id.clone())
        .collect();
    let session = ids
        .iter()
        .take(5)
        .enumerate()
        .map(|(j, id)| SessionEvent {
            item: id.clone(),
            kind: EventKind::View,
            timestamp: 1_767_225_600 + j as i64,
        })
        .collect();
    let opts = RerankOptions {
        session,
        n: 10,
        ..RerankOptions::default()
    };
    let _ = rerank(&slice, &ids, &opts);
});
