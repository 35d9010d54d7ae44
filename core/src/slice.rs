//! Model slices: what a page needs to re-rank one placement's candidates
//! on the visitor's device ([`crate::rerank`]).
//!
//! A [`ModelSlice`] holds, for a placement and a candidate set, the
//! candidates' ALS item factors and catalog entries, the placement's rules
//! and diversity settings, the session weighting, and the whole model's
//! scaled Gram matrix and config, so a fold-in over the slice gives the same
//! user vector as over the full model. It is a [`Component`] of the model
//! file format (versioned and checksummed by [`crate::store`]):
//!
//! | name | dtype | shape |
//! |---|---|---|
//! | `slice.item_factors` | F32 | `[n_items, k]` (catalog order of the slice) |
//! | `slice.item_gram` | F32 | `[k, k]`: `α₀·YᵀY` of the whole model |
//!
//! plus metadata `slice.config`: placement name, ALS config, the model's
//! item count, rules, diversity, session weighting and the items.

use serde::{Deserialize, Serialize};

use crate::als::{AlsConfig, AlsModel, FoldInBasis};
use crate::data::{Catalog, EventKind, Item, KindWeights};
use crate::engine::config::EngineConfig;
use crate::error::{Error, IdKind, Result};
use crate::rank::{AttributeSimilarity, CompiledRules, DiversityBy, DiversityConfig, Rules};
use crate::store::{Component, ModelFile, TensorData};

/// How session events weigh in a fold-in: the server's
/// [`SessionConfig`](crate::session::SessionConfig) fields that matter in
/// the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionWeighting {
    /// Age at which an event counts half (seconds, finite and `> 0`).
    pub recency_half_life_seconds: f64,
    /// Weight of each event kind.
    pub kind_weights: KindWeights,
}

/// The stored settings of a slice (metadata `slice.config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SliceConfig {
    placement: String,
    als: AlsConfig,
    model_items: usize,
    rules: Rules,
    diversity: DiversityConfig,
    session: SessionWeighting,
    items: Vec<Item>,
}

/// One placement's candidates with everything [`crate::rerank::rerank`]
/// needs; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ModelSlice {
    config: SliceConfig,
    catalog: Catalog,
    factors: Vec<f32>,
    gram: Vec<f32>,
    rules: CompiledRules,
    similarity: Option<AttributeSimilarity>,
}

impl ModelSlice {
    /// The slice of `model` for `placement` of `engine` and `items` (each
    /// must be in both the model and `catalog`; duplicates are kept once).
    /// The placement's pins and excluded items outside the slice are left
    /// out: they cannot apply to its candidates.
    ///
    /// Errors: an unknown placement ([`Error::InvalidInput`]), an item
    /// missing from the model or catalog ([`Error::UnknownId`]), rules or
    /// diversity that do not fit the slice's items ([`Error::Config`]).
    pub fn export<S: AsRef<str>>(
        model: &AlsModel,
        catalog: &Catalog,
        engine: &EngineConfig,
        placement: &str,
        items: &[S],
    ) -> Result<ModelSlice> {
        let spec = engine
            .placements
            .get(placement)
            .ok_or_else(|| Error::invalid(format!("unknown placement {placement:?}")))?;
        let k = model.factors();
        let all = model.item_factors();
        let all = all
            .as_slice()
            .ok_or_else(|| Error::invalid("item factors are not contiguous"))?;
        let mut chosen: Vec<Item> = Vec::with_capacity(items.len());
        let mut factors = Vec::with_capacity(items.len() * k);
        let mut seen = std::collections::HashSet::new();
        for id in items {
            let id = id.as_ref();
            if !seen.insert(id) {
                continue;
            }
            let unknown = || Error::UnknownId {
                kind: IdKind::Item,
                id: id.to_owned(),
            };
            let row = model.items().get(id).ok_or_else(unknown)? as usize;
            chosen.push(catalog.get(id).ok_or_else(unknown)?.clone());
            factors.extend_from_slice(&all[row * k..(row + 1) * k]);
        }
        let mut rules = spec.rules.clone();
        rules.pins.retain(|p| seen.contains(p.item.as_str()));
        rules.exclude_items.retain(|i| seen.contains(i.as_str()));
        let config = SliceConfig {
            placement: placement.to_owned(),
            als: model.config().clone(),
            model_items: model.n_items(),
            rules,
            diversity: spec.diversity.clone(),
            session: SessionWeighting {
                recency_half_life_seconds: engine.session.recency_half_life_seconds,
                kind_weights: engine.session.kind_weights.clone(),
            },
            items: chosen,
        };
        ModelSlice::build(config, factors, model.scaled_item_gram().to_vec())
    }

    /// Checks the parts against each other and compiles rules and diversity.
    fn build(config: SliceConfig, factors: Vec<f32>, gram: Vec<f32>) -> Result<ModelSlice> {
        let mut catalog = Catalog::new();
        for item in &config.items {
            catalog.add(item.clone())?;
        }
        let rules = config.rules.compile(&catalog, "rules")?;
        config.diversity.validate(&catalog, "diversity")?;
        let similarity = match &config.diversity.by {
            DiversityBy::Attributes(fields) => Some(AttributeSimilarity::new(
                &catalog,
                fields,
                "diversity.by.attributes",
            )?),
            DiversityBy::Embedding => None,
        };
        Ok(ModelSlice {
            config,
            catalog,
            factors,
            gram,
            rules,
            similarity,
        })
    }

    /// The placement the slice was exported for.
    pub fn placement(&self) -> &str {
        &self.config.placement
    }

    /// The slice's items (catalog order = factor row order).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Number of items in the slice.
    pub fn len(&self) -> usize {
        self.catalog.len()
    }

    /// Whether the slice has no items.
    pub fn is_empty(&self) -> bool {
        self.catalog.is_empty()
    }

    /// Latent dimension `k`.
    pub fn factors(&self) -> usize {
        self.config.als.factors
    }

    /// The factor row of slice item `i` (`k` values).
    pub fn item_factors(&self, i: u32) -> &[f32] {
        let k = self.factors();
        &self.factors[i as usize * k..(i as usize + 1) * k]
    }

    /// The placement's rules (config form).
    pub fn rules(&self) -> &Rules {
        &self.config.rules
    }

    /// The placement's rules compiled for the slice's items.
    pub fn compiled_rules(&self) -> &CompiledRules {
        &self.rules
    }

    /// The placement's diversity settings.
    pub fn diversity(&self) -> &DiversityConfig {
        &self.config.diversity
    }

    /// The attribute similarity MMR uses (`None`: by the item factors).
    pub fn similarity(&self) -> Option<&AttributeSimilarity> {
        self.similarity.as_ref()
    }

    /// How session events weigh.
    pub fn session(&self) -> &SessionWeighting {
        &self.config.session
    }

    /// The weight of an event kind.
    pub fn kind_weight(&self, kind: &EventKind) -> Result<f32> {
        self.config.session.kind_weights.weight(kind)
    }

    /// The user vector of a history of slice items, as the full model's
    /// [`AlsModel::fold_in`] would solve it.
    pub fn fold_in(&self, items: &[u32], weights: &[f32]) -> Result<Vec<f32>> {
        FoldInBasis {
            config: &self.config.als,
            rows: &self.factors,
            model_items: self.config.model_items,
            gram: &self.gram,
        }
        .fold_in(items, weights)
    }
}

impl Component for ModelSlice {
    /// Writes the `slice` component into `file`.
    fn write_to(&self, file: &mut ModelFile) -> Result<()> {
        let k = self.factors();
        file.set_meta("slice", serde_json::json!({ "config": self.config }));
        file.put(
            "slice.item_factors",
            vec![self.len(), k],
            TensorData::F32(self.factors.clone()),
        )?;
        file.put(
            "slice.item_gram",
            vec![k, k],
            TensorData::F32(self.gram.clone()),
        )
    }

    /// Reads the component written by [`write_to`](Self::write_to),
    /// validating everything; any problem is [`Error::ModelFormat`].
    fn read_from(file: &ModelFile) -> Result<Self> {
        let config: SliceConfig = file.component_config("slice", |c: &SliceConfig| {
            c.als.validate()?;
            c.session.kind_weights.validate()?;
            let hl = c.session.recency_half_life_seconds;
            if !(hl.is_finite() && hl > 0.0) {
                return Err(Error::invalid(format!(
                    "recency half-life must be finite and > 0, got {hl}"
                )));
            }
            if c.model_items < c.items.len() {
                return Err(Error::invalid("more slice items than model items"));
            }
            Ok(())
        })?;
        let k = config.als.factors;
        let (n, factors) = file.f32_matrix("slice.item_factors", Some(k))?;
        let (g, gram) = file.f32_matrix("slice.item_gram", Some(k))?;
        if n != config.items.len() || g != k {
            return Err(Error::format(format!(
                "slice has {n} factor rows for {} items and a {g}x{k} Gram matrix",
                config.items.len()
            )));
        }
        if factors.iter().chain(gram).any(|v| !v.is_finite()) {
            return Err(Error::format("slice factors contain NaN or infinity"));
        }
        let (factors, gram) = (factors.to_vec(), gram.to_vec());
        ModelSlice::build(config, factors, gram)
            .map_err(|e| Error::format(format!("slice config: {e}")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::demo;

    /// A small demo model and the slice of its first 40 catalog items.
    pub(crate) fn demo_slice() -> (AlsModel, ModelSlice) {
        let data = demo::generate(&demo::DemoConfig::small()).unwrap();
        let engine = demo::engine_config(&serde_json::json!({})).unwrap();
        let inter = data.interactions(&KindWeights::default()).unwrap();
        let config = AlsConfig {
            factors: 16,
            iterations: 4,
            num_threads: 1,
            ..AlsConfig::default()
        };
        let model = AlsModel::fit(&config, &inter).unwrap();
        let ids: Vec<&str> = data.catalog.items()[..40]
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        let placement = engine.placements.keys().next().unwrap().clone();
        let slice = ModelSlice::export(&model, &data.catalog, &engine, &placement, &ids).unwrap();
        (model, slice)
    }

    #[test]
    fn fold_in_over_a_slice_equals_the_full_model() {
        let (model, slice) = demo_slice();
        let ids: Vec<&str> = slice.catalog().items()[3..7]
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        let full: Vec<u32> = ids
            .iter()
            .map(|id| model.items().get(id).unwrap())
            .collect();
        let local: Vec<u32> = ids
            .iter()
            .map(|id| slice.catalog().ids().get(id).unwrap())
            .collect();
        let w = [1.0, 2.0, 0.5, 4.0];
        let a = model.fold_in(&full, &w).unwrap();
        let b = slice.fold_in(&local, &w).unwrap();
        assert!(a.iter().any(|v| *v != 0.0));
        assert_eq!(a, b);
    }

    #[test]
    fn round_trips_through_the_model_file_format() {
        let (_, slice) = demo_slice();
        let bytes = slice.to_bytes().unwrap();
        let back = ModelSlice::from_bytes(&bytes).unwrap();
        assert_eq!(back.config, slice.config);
        assert_eq!(back.factors, slice.factors);
        assert_eq!(back.gram, slice.gram);
        assert_eq!(back.catalog().ids().len(), 40);
    }

    #[test]
    fn corrupt_truncated_and_foreign_bytes_are_format_errors() {
        let (model, slice) = demo_slice();
        let bytes = slice.to_bytes().unwrap();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x40;
        for bad in [&bytes[..bytes.len() / 2], &flipped[..], &[0u8; 4][..]] {
            let err = ModelSlice::from_bytes(bad).unwrap_err();
            assert_eq!(err.code(), "MODEL_FORMAT", "{err}");
        }
        // A model file without a slice component.
        let err = ModelSlice::from_bytes(&model.to_bytes().unwrap()).unwrap_err();
        assert_eq!(err.code(), "MODEL_FORMAT");
    }

    #[test]
    fn export_rejects_unknown_items_and_placements() {
        let (model, _) = demo_slice();
        let data = demo::generate(&demo::DemoConfig::small()).unwrap();
        let engine = demo::engine_config(&serde_json::json!({})).unwrap();
        let placement = engine.placements.keys().next().unwrap().clone();
        let err =
            ModelSlice::export(&model, &data.catalog, &engine, &placement, &["nope"]).unwrap_err();
        assert!(matches!(err, Error::UnknownId { ref id, .. } if id == "nope"));
        let err =
            ModelSlice::export(&model, &data.catalog, &engine, "no-such", &["x"]).unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT");
    }
}
