//! Catalog loader: JSON rows (as the Node and Python bindings pass them)
//! into a catalog, then a content index built over it and queried.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::content::{ContentConfig, ContentFilter, ContentIndex};
use sightline::data::{Catalog, Row};

/// Index builds cost O(n log n); larger inputs only slow the fuzzer down.
const MAX_ROWS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(rows) = serde_json::from_slice::<Vec<Row>>(data) else {
        return;
    };
    let Ok(catalog) = Catalog::from_rows(rows.iter().take(MAX_ROWS)) else {
        return;
    };
    let Ok(index) = ContentIndex::builder(ContentConfig::default())
        .catalog(&catalog)
        .build()
    else {
        return;
    };
    if let Some(item) = catalog.items().first() {
        let _ = index.similar_items_by_id(&item.id, 5, &ContentFilter::default());
    }
});
