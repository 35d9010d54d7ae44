//! Model-file loader: any bytes through the container parser and every
//! component reader (each validates its own tensors), and a whole engine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sightline::als::AlsModel;
use sightline::content::ContentIndex;
use sightline::cooccur::CooccurModel;
use sightline::engine::Engine;
use sightline::session::SessionStore;
use sightline::store::ModelFile;
use sightline::trending::TrendingStore;
use sightline::Component;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = ModelFile::from_bytes(data) else {
        return;
    };
    // A file that parses writes back to bytes that parse to the same file.
    let again = ModelFile::from_bytes(&file.to_bytes().expect("a parsed file writes"))
        .expect("a written file parses");
    assert_eq!(again.to_bytes().ok(), file.to_bytes().ok());
    let _ = AlsModel::read_from(&file);
    let _ = CooccurModel::read_from(&file);
    let _ = ContentIndex::read_from(&file);
    let _ = TrendingStore::read_from(&file);
    let _ = SessionStore::read_from(&file);
    let _ = Engine::from_bytes(data, sightline_fuzz::demo().1.clone());
});
