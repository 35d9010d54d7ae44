//! Arms: what one variant serves. The default arm compiles the engine's
//! placements and promotions as configured; each experiment variant's arm
//! compiles them after the variant's merge patch. All arms are compiled
//! when models are swapped in, so a variant's bad override is an error at
//! that point, never in a request.
//!
//! Arms are compiled engine placements, so this module reads the engine's
//! config types ([`EngineConfig`], [`PlacementConfig`]).

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::{merge_patch, Assignment};
use crate::data::Catalog;
use crate::engine::config::{EngineConfig, PlacementConfig};
use crate::error::{Error, Result};
use crate::rank::{AttributeSimilarity, CompiledRules, DiversityBy, Promotion, Promotions};

/// A placement compiled against one catalog.
pub(crate) struct Placement {
    /// Its config (after the variant's overrides).
    pub config: PlacementConfig,
    /// Its rules, compiled.
    pub rules: CompiledRules,
    /// Attribute similarity for diversity, when diversity is by attributes.
    pub similarity: Option<AttributeSimilarity>,
}

/// One variant's placements and promotions.
pub(crate) struct Arm {
    /// Compiled placements by name.
    pub placements: HashMap<String, Placement>,
    /// Compiled promotions.
    pub promotions: Promotions,
}

/// The default arm and one per `(experiment, variant)`.
pub(crate) struct Arms {
    default: Arm,
    variants: HashMap<(String, String), Arm>,
}

impl Arms {
    /// Compiles every arm of `config` against `catalog`.
    pub fn compile(config: &EngineConfig, catalog: &Catalog) -> Result<Self> {
        let mut variants = HashMap::new();
        for (i, e) in config.experiments.iter().enumerate() {
            for (j, v) in e.variants.iter().enumerate() {
                let path = format!("experiments[{i}].variants[{j}]");
                variants.insert(
                    (e.name.clone(), v.name.clone()),
                    compile_arm(config, catalog, Some(&v.overrides), &path)?,
                );
            }
        }
        Ok(Arms {
            default: compile_arm(config, catalog, None, "")?,
            variants,
        })
    }

    /// The arm a request with `assignment` is served from: its variant's,
    /// or the default one outside experiments and in holdouts.
    pub fn for_assignment(&self, assignment: Option<&Assignment<'_>>) -> &Arm {
        match assignment {
            Some(a) if !a.holdout => self
                .variants
                .get(&(a.experiment.to_owned(), a.variant.to_owned()))
                .unwrap_or(&self.default),
            _ => &self.default,
        }
    }
}

/// The placements and promotions after `overrides` (a merge patch over
/// both), with errors under `{path}.overrides`.
fn patched(
    config: &EngineConfig,
    overrides: Option<&Value>,
    path: &str,
) -> Result<(BTreeMap<String, PlacementConfig>, Vec<Promotion>)> {
    let patch = match overrides {
        None | Some(Value::Null) => {
            return Ok((config.placements.clone(), config.promotions.clone()))
        }
        Some(patch) => patch,
    };
    let mut doc = json!({
        "placements": config.placements,
        "promotions": config.promotions,
    });
    merge_patch(&mut doc, patch);
    let placements = serde_json::from_value(doc["placements"].take())
        .map_err(|e| Error::config(format!("{path}.overrides.placements"), e.to_string()))?;
    let promotions = serde_json::from_value(doc["promotions"].take())
        .map_err(|e| Error::config(format!("{path}.overrides.promotions"), e.to_string()))?;
    Ok((placements, promotions))
}

/// Compiles one placement config; errors name fields under `at`.
fn compile_placement(p: PlacementConfig, catalog: &Catalog, at: &str) -> Result<Placement> {
    p.validate(at)?;
    p.diversity.validate(catalog, &format!("{at}.diversity"))?;
    let rules = p.rules.compile(catalog, &format!("{at}.rules"))?;
    let similarity = match &p.diversity.by {
        DiversityBy::Attributes(fields) if p.diversity.lambda < 1.0 => Some(
            AttributeSimilarity::new(catalog, fields, &format!("{at}.diversity.by"))?,
        ),
        _ => None,
    };
    Ok(Placement {
        config: p,
        rules,
        similarity,
    })
}

/// Compiles the placements and promotions of the default arm
/// (`overrides` None, `path` empty) or of the variant at `path`.
fn compile_arm(
    config: &EngineConfig,
    catalog: &Catalog,
    overrides: Option<&Value>,
    path: &str,
) -> Result<Arm> {
    let (placements, promotions) = patched(config, overrides, path)?;
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}.overrides.")
    };
    let mut compiled = HashMap::new();
    for (name, p) in placements {
        let at = format!("{prefix}placements.{name}");
        compiled.insert(name, compile_placement(p, catalog, &at)?);
    }
    Ok(Arm {
        placements: compiled,
        promotions: Promotions::compile(&promotions, catalog, &format!("{prefix}promotions"))?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Four frames `i0`..`i3` priced 10..40, `i0` and `i1` round, the others
    /// square (shared by the engine tests).
    pub(crate) fn catalog() -> Catalog {
        let mut c = Catalog::new();
        for i in 0..4 {
            let item = json!({"id": format!("i{i}"), "category": "frames", "brand": "b",
                              "price": 10.0 * f64::from(i + 1),
                              "attributes": {"shape": if i < 2 { "round" } else { "square" },
                                             "material": "metal"}});
            c.add(serde_json::from_value(item).unwrap()).unwrap();
        }
        c
    }

    fn config(extra: Value) -> EngineConfig {
        let mut doc = json!({
            "placements": {"home": {"n": 3, "diversity": {"lambda": 1.0}}},
            "experiments": [{"name": "x", "placements": ["home"], "variants": [
                {"name": "a", "share": 0.5},
                {"name": "b", "share": 0.5, "overrides": {"placements": {"home": {"n": 5}}}}
            ]}]
        });
        merge_patch(&mut doc, &extra);
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn each_variant_serves_its_patched_placements() {
        let arms = Arms::compile(&config(json!({})), &catalog()).unwrap();
        let n_of = |a: Option<&Assignment<'_>>| arms.for_assignment(a).placements["home"].config.n;
        assert_eq!(n_of(None), 3);
        let b = Assignment {
            experiment: "x",
            variant: "b",
            holdout: false,
            overrides: &Value::Null,
        };
        assert_eq!(n_of(Some(&b)), 5);
        assert_eq!(n_of(Some(&Assignment { variant: "a", ..b })), 3);
        // Holdouts and unknown variants get the default arm.
        assert_eq!(n_of(Some(&Assignment { holdout: true, ..b })), 3);
        assert_eq!(n_of(Some(&Assignment { variant: "zz", ..b })), 3);
    }

    #[test]
    fn a_bad_override_names_its_variant() {
        let bad = json!({"experiments": [{"name": "x", "placements": ["home"], "variants": [
            {"name": "a", "share": 1.0,
             "overrides": {"placements": {"home": {"n": "many"}}}}
        ]}]});
        let err = Arms::compile(&config(bad), &catalog()).err().unwrap();
        assert!(
            err.to_string()
                .contains("experiments[0].variants[0].overrides.placements"),
            "{err}"
        );
    }
}
