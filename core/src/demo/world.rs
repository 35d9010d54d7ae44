//! Precomputed per-region item weights and lookup tables shared by customer
//! and event generation.

use super::catalog::Meta;
use super::rand::Rand;
use super::vocab::{ACCESSORIES, BRANDS, COATING, FRAMES, NA_BRAND, REGION_PARAMS, SUNGLASSES};

/// Precomputed per-region item weights and lookup tables.
pub(super) struct World<'a> {
    pub(super) metas: &'a [Meta],
    pub(super) by_cat: [Vec<u32>; 8],
    /// base[r][i]: popularity × planted regional bias, 0 where not sold.
    pub(super) base: Vec<Vec<f64>>,
    pub(super) brand_case: Vec<Option<u32>>,
}

impl<'a> World<'a> {
    pub(super) fn new(metas: &'a [Meta]) -> Self {
        let mut by_cat: [Vec<u32>; 8] = Default::default();
        for (i, m) in metas.iter().enumerate() {
            by_cat[m.cat as usize].push(i as u32);
        }
        let mut brand_case = vec![None; BRANDS.len()];
        for &i in &by_cat[ACCESSORIES as usize] {
            let m = &metas[i as usize];
            if m.brand != NA_BRAND {
                brand_case[m.brand as usize] = Some(i);
            }
        }
        let base = REGION_PARAMS
            .iter()
            .enumerate()
            .map(|(r, rp)| {
                metas
                    .iter()
                    .map(|m| {
                        if m.markets & (1 << r) == 0 {
                            return 0.0;
                        }
                        let mut w = m.pop;
                        if m.cat == FRAMES || m.cat == SUNGLASSES {
                            w *= rp.shapes[m.shape as usize]
                                * rp.materials[m.material as usize]
                                * rp.colours[m.colour as usize];
                            w *= rp.bands[m.band as usize];
                            if let Some(&(_, f)) =
                                rp.brands.iter().find(|(b, _)| *b == m.brand as usize)
                            {
                                w *= f;
                            }
                            if m.polarised {
                                w *= rp.polarised;
                            }
                        }
                        if m.cat == COATING && m.sub == 2 {
                            w *= rp.photochromic;
                        }
                        w
                    })
                    .collect()
            })
            .collect();
        World {
            metas,
            by_cat,
            base,
            brand_case,
        }
    }

    pub(super) fn sold_in(&self, item: u32, region: usize) -> bool {
        self.metas[item as usize].markets & (1 << region) != 0
    }

    /// Picks one item of `cat` sold in `region`, weighted by `score`.
    pub(super) fn pick(
        &self,
        rng: &mut Rand,
        cat: u8,
        region: usize,
        score: impl Fn(&Meta) -> f64,
    ) -> Option<u32> {
        let items = &self.by_cat[cat as usize];
        let w: Vec<f64> = items
            .iter()
            .map(|&i| {
                if self.sold_in(i, region) {
                    score(&self.metas[i as usize])
                } else {
                    0.0
                }
            })
            .collect();
        rng.weighted(&w).map(|k| items[k])
    }
}
