//! Property tests: arbitrary input never panics, and what is saved loads
//! back identically.

use proptest::prelude::*;
use sightline::als::{AlsConfig, AlsModel, RecommendOptions};
use sightline::data::{Csr, Interactions};
use sightline::store::ModelFile;
use sightline::Component;

fn small_model() -> AlsModel {
    let users: Vec<u32> = (0..30).map(|i| i % 10).collect();
    let items: Vec<u32> = (0..30).map(|i| (i * 7) % 13).collect();
    let data = Interactions::from_coo(10, 13, &users, &items, &[1.0; 30]).unwrap();
    AlsModel::fit(
        &AlsConfig {
            factors: 4,
            iterations: 3,
            ..Default::default()
        },
        &data,
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(ModelFile::from_bytes(&bytes).is_err());
        prop_assert!(AlsModel::from_bytes(&bytes).is_err());
    }

    #[test]
    fn damaged_model_files_are_rejected_not_panicking(pos in any::<prop::sample::Index>(), flip in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let bytes = small_model().to_bytes().unwrap();
        let mut damaged = bytes.clone();
        damaged[pos.index(bytes.len())] ^= flip;
        prop_assert!(AlsModel::from_bytes(&damaged).is_err());
        prop_assert!(AlsModel::from_bytes(&bytes[..cut.index(bytes.len())]).is_err());
    }

    #[test]
    fn csr_from_arbitrary_parts_never_panics(
        n_rows in 0usize..6, n_cols in 0usize..6,
        indptr in proptest::collection::vec(0usize..12, 0..8),
        indices in proptest::collection::vec(0u32..8, 0..12),
        data in proptest::collection::vec(prop_oneof![Just(f32::NAN), Just(-1.0f32), 0.0f32..5.0], 0..12),
    ) {
        if let Ok(m) = Csr::from_parts(n_rows, n_cols, indptr, indices, data) {
            for r in 0..m.n_rows() {
                let (c, v) = m.row(r);
                prop_assert!(c.windows(2).all(|w| w[0] < w[1]) && v.iter().all(|x| x.is_finite() && *x >= 0.0));
            }
        }
    }

    #[test]
    fn recommend_returns_min_n_eligible_and_round_trips(n in 1usize..20, user in 0u32..10, exclude in proptest::collection::vec(0u32..13, 0..6)) {
        let m = small_model();
        let o = RecommendOptions { exclude: &exclude, ..Default::default() };
        let recs = m.recommend(user, n, &o).unwrap();
        let mut blocked: Vec<u32> = m.user_items().unwrap().row(user as usize).0.to_vec();
        blocked.extend(&exclude);
        blocked.sort_unstable();
        blocked.dedup();
        prop_assert_eq!(recs.len(), n.min(13 - blocked.len()));
        prop_assert!(recs.iter().all(|r| !blocked.contains(&r.0)));
        let back = AlsModel::from_bytes(&m.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(back.recommend(user, n, &o).unwrap(), recs);
    }
}
