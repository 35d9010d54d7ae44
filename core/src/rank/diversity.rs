//! Diversity by maximal marginal relevance (MMR): a greedy re-ranking that
//! trades a candidate's relevance against its similarity to what is
//! already chosen, so ten near-identical black Ray-Ban frames don't fill a
//! carousel.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::expr::{field_exists, join};
use crate::candidate::Candidate;
use crate::data::{AttrValue, Catalog, Item};
use crate::error::{Error, Result};

/// Diversity settings of a placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiversityConfig {
    /// Relevance weight in `[0, 1]`: 1.0 = relevance only (diversity off,
    /// the default), 0 = diversity only.
    pub lambda: f32,
    /// What "similar" means.
    pub by: DiversityBy,
}

impl Default for DiversityConfig {
    fn default() -> Self {
        DiversityConfig {
            lambda: 1.0,
            by: DiversityBy::default(),
        }
    }
}

/// The similarity MMR uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiversityBy {
    /// Share of the listed fields (built-in or attribute) on which two items
    /// are equal; see [`AttributeSimilarity`].
    Attributes(Vec<String>),
    /// Cosine similarity of content embeddings, supplied by the engine
    /// (the content model), clamped to `[0, 1]`.
    Embedding,
}

/// Brand and category: built-in fields, so the default fits every catalog
/// (an item without a brand is simply never equal on it). A shop with richer
/// attributes names them, e.g. `{"attributes": ["brand", "shape", "category"]}`.
impl Default for DiversityBy {
    fn default() -> Self {
        DiversityBy::Attributes(vec!["brand".into(), "category".into()])
    }
}

impl DiversityBy {
    /// The field list, when similarity is by attributes.
    pub fn attributes(&self) -> Option<&[String]> {
        match self {
            DiversityBy::Attributes(f) => Some(f),
            DiversityBy::Embedding => None,
        }
    }
}

impl DiversityConfig {
    /// Checks `lambda` is in `[0, 1]` and every attribute field exists (a
    /// built-in field or an attribute of some item); errors name the field
    /// below `path`, e.g. `{path}.by.attributes[1]`.
    pub fn validate(&self, catalog: &Catalog, path: &str) -> Result<()> {
        if !(0.0..=1.0).contains(&self.lambda) {
            return Err(Error::config(
                join(path, "lambda"),
                format!("must be in [0, 1], got {}", self.lambda),
            ));
        }
        if let DiversityBy::Attributes(fields) = &self.by {
            AttributeSimilarity::new(catalog, fields, &join(path, "by.attributes"))?;
        }
        Ok(())
    }
}

/// Attribute similarity with every item's values precomputed as small
/// integer ids, so `sim` is a few integer compares.
#[derive(Debug, Clone)]
pub struct AttributeSimilarity {
    k: usize,
    /// `n_items × k` value ids; 0 = field missing (never equal).
    ids: Vec<u32>,
}

impl AttributeSimilarity {
    /// Precomputes `fields` for every item of `catalog`. A list attribute
    /// (colours) is equal only when the whole (sorted) list is. `path` names
    /// the field list in errors: an empty list, an empty or unknown field.
    pub fn new(catalog: &Catalog, fields: &[String], path: &str) -> Result<Self> {
        if fields.is_empty() {
            return Err(Error::config(path, "name at least one field"));
        }
        for (j, f) in fields.iter().enumerate() {
            if !field_exists(catalog, f) {
                return Err(Error::config(
                    format!("{path}[{j}]"),
                    format!("unknown field {f:?}: not a built-in field and no catalog item has this attribute"),
                ));
            }
        }
        let mut dict: HashMap<String, u32> = HashMap::new();
        let mut ids = Vec::with_capacity(catalog.len() * fields.len());
        for it in catalog.items() {
            for f in fields {
                ids.push(match value_key(it, f) {
                    Some(key) => {
                        let next = dict.len() as u32 + 1;
                        *dict.entry(key).or_insert(next)
                    }
                    None => 0,
                });
            }
        }
        Ok(AttributeSimilarity {
            k: fields.len(),
            ids,
        })
    }

    /// Share of the fields on which items `a` and `b` are equal, in
    /// `[0, 1]`; 0 when either index is out of range.
    pub fn sim(&self, a: u32, b: u32) -> f32 {
        // Checked: on 32-bit targets a huge index must not overflow.
        let row = |i: u32| {
            let start = (i as usize).checked_mul(self.k)?;
            self.ids.get(start..start.checked_add(self.k)?)
        };
        match (row(a), row(b)) {
            (Some(x), Some(y)) => {
                let same = x.iter().zip(y).filter(|(p, q)| **p != 0 && p == q).count();
                same as f32 / self.k as f32
            }
            _ => 0.0,
        }
    }
}

/// A canonical string of an item's value for `field`; kind-prefixed so a
/// number never equals a text.
fn value_key(it: &Item, field: &str) -> Option<String> {
    match field {
        "id" => Some(format!("t:{}", it.id)),
        "title" => Some(format!("t:{}", it.title)),
        "category" => Some(format!("t:{}", it.category)),
        "brand" => it.brand.as_ref().map(|b| format!("t:{b}")),
        "price" => it.price.map(|p| format!("n:{}", p.to_bits())),
        "in_stock" => Some(format!("b:{}", it.in_stock)),
        _ => match it.attributes.get(field)? {
            AttrValue::Number(x) => Some(format!("n:{}", x.to_bits())),
            AttrValue::Text(s) => Some(format!("t:{s}")),
            AttrValue::List(l) => {
                let mut v = l.clone();
                v.sort();
                Some(format!("l:{}", v.join("\u{1f}")))
            }
        },
    }
}

/// Greedy MMR: picks `n` of `cands`, each time the candidate maximising
/// `λ·relevance − (1−λ)·max sim(candidate, chosen)`.
///
/// Relevance is the score min-max normalised to `[0, 1]` within `cands`
/// (all 1 when the scores are equal; NaN counts as the minimum). `sim`
/// values are clamped to `[0, 1]` (NaN = 0). Ties go to the earlier
/// candidate in `cands`, so the result is deterministic. A NaN `lambda`
/// counts as 1, others are clamped to `[0, 1]`.
///
/// With `lambda >= 1` the input is returned unchanged, truncated to `n`.
/// Otherwise the chosen candidates come back in MMR order with their
/// scores replaced by the top-`n` input scores in descending order: the
/// scores keep their scale but are non-increasing, so a later stable sort
/// by score (boosts in `CompiledRules::finish`) keeps the diversified order
/// unless a boost changes it. Cost: O(n · |cands|) `sim` calls.
pub fn mmr<F>(cands: &[Candidate], n: usize, lambda: f32, sim: &F) -> Vec<Candidate>
where
    F: Fn(u32, u32) -> f32 + ?Sized,
{
    let mut m = Mmr::new(cands, lambda, sim);
    m.extend_to(n);
    m.picked()
}

/// [`mmr`] one pick at a time: the first `d` picks never depend on how many
/// more are asked for, so a caller can go deeper only when it needs to
/// ([`crate::rerank::diversify_then_rules`]).
pub struct Mmr<'a, F: ?Sized> {
    cands: &'a [Candidate],
    /// The normalised `lambda`; `>= 1` = relevance order.
    lambda: f32,
    sim: &'a F,
    rel: Vec<f32>,
    taken: Vec<bool>,
    max_sim: Vec<f32>,
    /// Indices into `cands`, in pick order.
    picks: Vec<usize>,
}

impl<'a, F> Mmr<'a, F>
where
    F: Fn(u32, u32) -> f32 + ?Sized,
{
    /// Nothing picked yet.
    pub fn new(cands: &'a [Candidate], lambda: f32, sim: &'a F) -> Self {
        let lambda = if lambda.is_nan() {
            1.0
        } else {
            lambda.clamp(0.0, 1.0)
        };
        let finite = cands.iter().map(|c| c.score).filter(|s| s.is_finite());
        let lo = finite.clone().fold(f32::INFINITY, f32::min) as f64;
        let hi = finite.fold(f32::NEG_INFINITY, f32::max) as f64;
        // In f64 so that the range of extreme f32 scores cannot overflow.
        let rel: Vec<f32> = cands
            .iter()
            .map(|c| match c.score {
                s if s.is_nan() || s == f32::NEG_INFINITY => 0.0,
                s if s == f32::INFINITY => 1.0,
                s if hi > lo => ((f64::from(s) - lo) / (hi - lo)) as f32,
                _ => 1.0,
            })
            .collect();
        Mmr {
            cands,
            lambda,
            sim,
            rel,
            taken: vec![false; cands.len()],
            max_sim: vec![0f32; cands.len()],
            picks: Vec::new(),
        }
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.cands.len()
    }

    /// Whether there are no candidates.
    pub fn is_empty(&self) -> bool {
        self.cands.is_empty()
    }

    /// Picks until `depth` are picked (or all are).
    pub fn extend_to(&mut self, depth: usize) {
        let depth = depth.min(self.cands.len());
        if self.lambda >= 1.0 {
            self.picks.extend(self.picks.len()..depth);
            return;
        }
        let lambda = self.lambda;
        while self.picks.len() < depth {
            let mut best: Option<(usize, f32)> = None;
            for j in 0..self.cands.len() {
                if self.taken[j] {
                    continue;
                }
                let v = lambda * self.rel[j] - (1.0 - lambda) * self.max_sim[j];
                if best.is_none_or(|(_, b)| v > b) {
                    best = Some((j, v));
                }
            }
            let Some((j, _)) = best else { break };
            self.taken[j] = true;
            self.picks.push(j);
            let pick = self.cands[j].item;
            for (q, c) in self.cands.iter().enumerate() {
                if !self.taken[q] {
                    let s = (self.sim)(pick, c.item);
                    let s = if s.is_nan() { 0.0 } else { s.clamp(0.0, 1.0) };
                    if s > self.max_sim[q] {
                        self.max_sim[q] = s;
                    }
                }
            }
        }
    }

    /// The picks so far, in pick order, scored as [`mmr`] documents.
    pub fn picked(&self) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = self.picks.iter().map(|&j| self.cands[j]).collect();
        if self.lambda >= 1.0 {
            return out;
        }
        let mut scores: Vec<f32> = self.cands.iter().map(|c| c.score).collect();
        scores.sort_by(|a, b| b.total_cmp(a));
        // NaN sorts first under total_cmp descending; keep it out of the top.
        scores.sort_by_key(|s| s.is_nan());
        for (c, s) in out.iter_mut().zip(scores) {
            c.score = s;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidate::SourceKind;
    use crate::rank::expr::tests::demo;

    fn frames(c: &Catalog, k: usize) -> Vec<Candidate> {
        // Worst case for adjacency: grouped by brand, scores falling slowly.
        let mut idx: Vec<u32> = (0..c.len() as u32)
            .filter(|&i| c.item(i).unwrap().category == "frames")
            .collect();
        idx.sort_by_key(|&i| (c.item(i).unwrap().brand.clone(), i));
        idx.truncate(k);
        idx.iter()
            .enumerate()
            .map(|(r, &i)| Candidate {
                item: i,
                score: 10.0 - r as f32 * 0.01,
                source: SourceKind::Als,
                because: None,
            })
            .collect()
    }

    /// The demo's diversity fields (brand, frame shape, category).
    fn demo_fields() -> Vec<String> {
        crate::demo::DIVERSITY_ATTRIBUTES.map(String::from).to_vec()
    }

    fn same_brand_adjacent(c: &Catalog, v: &[Candidate]) -> usize {
        v.windows(2)
            .filter(|w| c.item(w[0].item).unwrap().brand == c.item(w[1].item).unwrap().brand)
            .count()
    }

    #[test]
    fn lambda_one_is_the_input_truncated() {
        let c = demo();
        let input = frames(c, 50);
        let sim = AttributeSimilarity::new(c, &["brand".into()], "d").unwrap();
        assert_eq!(
            mmr(&input, 20, 1.0, &|a, b| sim.sim(a, b)),
            input[..20].to_vec()
        );
        assert_eq!(mmr(&input, 500, f32::NAN, &|a, b| sim.sim(a, b)), input);
        assert!(mmr(&input, 0, 0.3, &|a, b| sim.sim(a, b)).is_empty());
        assert!(mmr(&[], 5, 0.3, &|a, b| sim.sim(a, b)).is_empty());
    }

    #[test]
    fn mmr_spreads_brands_on_demo_frames_deterministically() {
        let c = demo();
        let input = frames(c, 200);
        let sim = AttributeSimilarity::new(c, &demo_fields(), "d").unwrap();
        let f = |a, b| sim.sim(a, b);
        let plain = mmr(&input, 20, 1.0, &f);
        let div = mmr(&input, 20, 0.3, &f);
        let (before, after) = (same_brand_adjacent(c, &plain), same_brand_adjacent(c, &div));
        assert!(after < before, "{before} -> {after}");
        // Input sorted by brand: 18 of 19 neighbours share a brand; MMR at
        // least halves that (the tail brands are too irrelevant to win).
        assert!(after * 2 <= before, "{before} -> {after}");
        println!("mmr same-brand adjacency in top 20: {before} -> {after}");
        assert_eq!(div, mmr(&input, 20, 0.3, &f));
        // Scores are relabelled non-increasing, items distinct.
        assert!(div.windows(2).all(|w| w[0].score >= w[1].score));
        let mut items: Vec<u32> = div.iter().map(|c| c.item).collect();
        items.sort_unstable();
        items.dedup();
        assert_eq!(items.len(), 20);
        assert_eq!(div[0], input[0]);
    }

    #[test]
    fn ties_and_odd_inputs() {
        let mk = |items: &[(u32, f32)]| -> Vec<Candidate> {
            items
                .iter()
                .map(|&(item, score)| Candidate {
                    item,
                    score,
                    source: SourceKind::Als,
                    because: None,
                })
                .collect()
        };
        // All-equal scores and zero similarity: input order kept.
        let v = mk(&[(5, 1.0), (3, 1.0), (9, 1.0)]);
        assert_eq!(
            mmr(&v, 3, 0.5, &|_, _| 0.0)
                .iter()
                .map(|c| c.item)
                .collect::<Vec<_>>(),
            [5, 3, 9]
        );
        // Item 1 is a near copy of 0: diversity puts 2 second.
        let v = mk(&[(0, 1.0), (1, 0.95), (2, 0.9)]);
        let s = |a: u32, b: u32| {
            if a.min(b) == 0 && a.max(b) == 1 {
                1.0
            } else {
                0.0
            }
        };
        assert_eq!(
            mmr(&v, 3, 0.5, &s)
                .iter()
                .map(|c| c.item)
                .collect::<Vec<_>>(),
            [0, 2, 1]
        );
        // Garbage scores and similarities do not panic.
        let v = mk(&[
            (0, f32::NAN),
            (1, f32::INFINITY),
            (2, f32::MAX),
            (3, -f32::MAX),
        ]);
        let out = mmr(&v, 4, 0.2, &|_, _| f32::NAN);
        assert_eq!(out.len(), 4);
        assert_eq!(out[0].item, 1);
        assert!(out[3].score.is_nan());
    }

    #[test]
    fn attribute_similarity_and_validation() {
        let c = demo();
        let fields: Vec<String> = ["brand", "shape", "colours", "lens_width"]
            .map(String::from)
            .to_vec();
        let s = AttributeSimilarity::new(c, &fields, "d").unwrap();
        let f1 = c.ids().get("FR-00001").unwrap();
        assert_eq!(s.sim(f1, f1), 1.0);
        assert_eq!(s.sim(f1, u32::MAX), 0.0);
        // A lens has none of shape/colours/lens_width: at most brand equal.
        let lens = (0..c.len() as u32)
            .find(|&i| c.item(i).unwrap().category == "lenses")
            .unwrap();
        assert!(s.sim(lens, lens) <= 0.25);
        let err = |d: DiversityConfig| match d.validate(c, "placements.pdp.diversity") {
            Err(Error::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err(DiversityConfig {
                lambda: 1.5,
                ..Default::default()
            }),
            "placements.pdp.diversity.lambda"
        );
        assert_eq!(
            err(DiversityConfig {
                lambda: f32::NAN,
                ..Default::default()
            }),
            "placements.pdp.diversity.lambda"
        );
        assert_eq!(
            err(DiversityConfig {
                lambda: 0.5,
                by: DiversityBy::Attributes(vec!["brand".into(), "shap".into()])
            }),
            "placements.pdp.diversity.by.attributes[1]"
        );
        assert_eq!(
            err(DiversityConfig {
                lambda: 0.5,
                by: DiversityBy::Attributes(vec![])
            }),
            "placements.pdp.diversity.by.attributes"
        );
        assert!(DiversityConfig::default().validate(c, "d").is_ok());
        assert!(DiversityConfig {
            lambda: 0.0,
            by: DiversityBy::Embedding
        }
        .validate(c, "d")
        .is_ok());
    }

    #[test]
    fn the_default_fits_a_catalog_with_only_built_in_fields() {
        let mut books = Catalog::new();
        for (id, category, brand) in [("b1", "novels", Some("Penguin")), ("b2", "poetry", None)] {
            books
                .add(Item {
                    id: id.into(),
                    title: String::new(),
                    category: category.into(),
                    brand: brand.map(String::from),
                    price: Some(9.99),
                    in_stock: true,
                    regions: Vec::new(),
                    attributes: Default::default(),
                })
                .unwrap();
        }
        let d = DiversityConfig {
            lambda: 0.5,
            ..Default::default()
        };
        assert!(d.validate(&books, "d").is_ok());
        let sim = AttributeSimilarity::new(&books, d.by.attributes().unwrap(), "d").unwrap();
        assert_eq!(sim.sim(0, 0), 1.0);
        // b2 has no brand: equal to itself on the category only.
        assert_eq!(sim.sim(1, 1), 0.5);
        assert_eq!(sim.sim(0, 1), 0.0);
        // A field the user names that the catalog lacks is still an error.
        let shape = DiversityConfig {
            lambda: 0.5,
            by: DiversityBy::Attributes(vec!["brand".into(), "shape".into()]),
        };
        match shape.validate(&books, "placements.cart.diversity") {
            Err(Error::Config { field, message }) => {
                assert_eq!(field, "placements.cart.diversity.by.attributes[1]");
                assert!(message.contains("\"shape\""), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn serde_shapes() {
        let d: DiversityConfig =
            serde_json::from_str(r#"{"lambda": 0.7, "by": {"attributes": ["brand", "material"]}}"#)
                .unwrap();
        assert_eq!(
            d.by,
            DiversityBy::Attributes(vec!["brand".into(), "material".into()])
        );
        let e: DiversityConfig =
            serde_json::from_value(serde_json::json!({"lambda": 0.5, "by": "embedding"})).unwrap();
        assert_eq!(e.by, DiversityBy::Embedding);
        let def: DiversityConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(def, DiversityConfig::default());
        for x in [d, e, def] {
            let back: DiversityConfig =
                serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
            assert_eq!(back, x);
        }
        assert!(serde_json::from_str::<DiversityConfig>(r#"{"lamda": 0.5}"#).is_err());
    }

    #[test]
    fn timing_mmr_200_to_20() {
        use std::time::Instant;
        let c = demo();
        let input = frames(c, 200);
        let sim = AttributeSimilarity::new(c, &demo_fields(), "d").unwrap();
        let reps = 500;
        let t = Instant::now();
        let mut k = 0;
        for _ in 0..reps {
            k += mmr(std::hint::black_box(&input), 20, 0.3, &|a, b| sim.sim(a, b)).len();
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
        println!("timing: mmr(200→20, attributes ×3) {us:.1} µs [{k}]");
    }
}
