//! Item vectors from catalog attributes.
//!
//! Every field becomes one block of dimensions with unit length (or zero
//! when the item lacks the field), scaled by `√weight`, so the dot product
//! of two items is `Σ weight · similarity of that field`:
//!
//! * text and list fields (category, brand, shape, material, colours, …)
//!   are multi-hot: `k` values each get `1/√k`, so two items share a
//!   field's similarity in proportion to the values they share;
//! * numeric fields (price, lens index, bridge width, …) are a soft one-hot
//!   over `numeric_buckets` quantile centres of the catalog's values — a
//!   value between two centres is split linearly between them — so near
//!   prices overlap and far ones do not, which a single scaled number under
//!   a dot product could not express.
//!
//! A field is numeric when every value the catalog has for it is a number.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::data::{AttrValue, Catalog, Item};
use crate::error::{Error, Result};

/// How catalog fields are turned into dimensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeaturizerConfig {
    /// Weight per field name (`category`, `brand`, `price` or any
    /// attribute key); 0 leaves the field out.
    pub weights: BTreeMap<String, f32>,
    /// Weight of fields not named in `weights`.
    pub default_weight: f32,
    /// Values seen on fewer items than this are ignored (noise, typos).
    pub min_count: usize,
    /// Most values kept per text field (the most frequent ones).
    pub max_values: usize,
    /// Quantile centres per numeric field.
    pub numeric_buckets: usize,
}

impl Default for FeaturizerConfig {
    fn default() -> Self {
        FeaturizerConfig {
            weights: BTreeMap::new(),
            default_weight: 1.0,
            min_count: 1,
            max_values: 1000,
            numeric_buckets: 8,
        }
    }
}

impl FeaturizerConfig {
    /// Checks every field; errors name the offending one.
    pub fn validate(&self) -> Result<()> {
        let bad_weight = |w: f32| !w.is_finite() || w < 0.0;
        if let Some((k, w)) = self.weights.iter().find(|(_, w)| bad_weight(**w)) {
            return Err(Error::config(
                format!("features.weights.{k}"),
                format!("must be finite and >= 0, got {w}"),
            ));
        }
        if bad_weight(self.default_weight) {
            return Err(Error::config(
                "features.default_weight",
                format!("must be finite and >= 0, got {}", self.default_weight),
            ));
        }
        if self.max_values == 0 {
            return Err(Error::config("features.max_values", "must be >= 1"));
        }
        if !(2..=64).contains(&self.numeric_buckets) {
            return Err(Error::config(
                "features.numeric_buckets",
                format!("must be in 2..=64, got {}", self.numeric_buckets),
            ));
        }
        Ok(())
    }

    fn weight(&self, field: &str) -> f32 {
        self.weights
            .get(field)
            .copied()
            .unwrap_or(self.default_weight)
    }
}

/// How one field is encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encoding {
    /// Multi-hot over these values (one dimension each, in this order).
    Categorical {
        /// The kept values.
        values: Vec<String>,
    },
    /// Soft one-hot over these increasing quantile centres.
    Numeric {
        /// Bucket centres.
        centres: Vec<f64>,
    },
}

/// One field's block of dimensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Field name (`category`, `brand`, `price` or an attribute key).
    pub name: String,
    /// Its weight.
    pub weight: f32,
    /// First dimension of its block.
    pub offset: usize,
    /// The encoding.
    pub encoding: Encoding,
}

impl Field {
    fn width(&self) -> usize {
        match &self.encoding {
            Encoding::Categorical { values } => values.len(),
            Encoding::Numeric { centres } => centres.len(),
        }
    }
}

/// A fitted attribute featurizer: the vocabulary and numeric centres of a
/// catalog, so new items (cold start) are encoded the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Featurizer {
    fields: Vec<Field>,
    dim: usize,
}

/// A field's value on an item: the built-in fields first, then attributes.
fn value(item: &Item, field: &str) -> Option<AttrValue> {
    match field {
        "category" if !item.category.is_empty() => Some(AttrValue::Text(item.category.clone())),
        "brand" => item.brand.clone().map(AttrValue::Text),
        "price" => item.price.map(AttrValue::Number),
        _ => item.attributes.get(field).cloned(),
    }
}

fn texts(v: &AttrValue) -> Vec<String> {
    match v {
        AttrValue::Text(s) => vec![s.clone()],
        AttrValue::List(l) => l.clone(),
        AttrValue::Number(x) => vec![x.to_string()],
    }
}

impl Featurizer {
    /// Learns the fields, vocabularies and numeric centres of `catalog`.
    ///
    /// Errors: an invalid config ([`Error::Config`]); a catalog that yields
    /// no dimension at all ([`Error::InvalidInput`]).
    pub fn fit(catalog: &Catalog, config: &FeaturizerConfig) -> Result<Self> {
        config.validate()?;
        let mut names: Vec<String> = vec!["category".into(), "brand".into(), "price".into()];
        let mut seen: std::collections::BTreeSet<String> = names.iter().cloned().collect();
        for item in catalog.items() {
            for k in item.attributes.keys() {
                if seen.insert(k.clone()) {
                    names.push(k.clone());
                }
            }
        }
        // Attribute keys in sorted order after the built-ins: deterministic.
        names[3..].sort();
        let mut fields = Vec::new();
        let mut dim = 0;
        for name in names {
            let weight = config.weight(&name);
            if weight == 0.0 {
                continue;
            }
            let values: Vec<AttrValue> = catalog
                .items()
                .iter()
                .filter_map(|i| value(i, &name))
                .collect();
            let numbers: Vec<f64> = values
                .iter()
                .filter_map(|v| match v {
                    AttrValue::Number(x) if x.is_finite() => Some(*x),
                    _ => None,
                })
                .collect();
            let encoding = if !values.is_empty() && numbers.len() == values.len() {
                Encoding::Numeric {
                    centres: centres(numbers, config.numeric_buckets),
                }
            } else {
                let mut counts: HashMap<String, usize> = HashMap::new();
                for v in &values {
                    let mut t = texts(v);
                    t.sort();
                    t.dedup();
                    for s in t {
                        *counts.entry(s).or_default() += 1;
                    }
                }
                let mut kept: Vec<(String, usize)> = counts
                    .into_iter()
                    .filter(|(_, c)| *c >= config.min_count)
                    .collect();
                kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                kept.truncate(config.max_values);
                let mut values: Vec<String> = kept.into_iter().map(|e| e.0).collect();
                values.sort();
                Encoding::Categorical { values }
            };
            let field = Field {
                name,
                weight,
                offset: dim,
                encoding,
            };
            if field.width() == 0 {
                continue;
            }
            dim += field.width();
            fields.push(field);
        }
        if dim == 0 {
            return Err(Error::invalid(
                "the catalog has no attribute to build item vectors from",
            ));
        }
        Ok(Featurizer { fields, dim })
    }

    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The encoded fields, in dimension order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Writes `item`'s vector into `out` (`dim` values; overwritten).
    pub fn transform_into(&self, item: &Item, out: &mut [f32]) {
        out.fill(0.0);
        for f in &self.fields {
            let Some(v) = value(item, &f.name) else {
                continue;
            };
            let block = &mut out[f.offset..f.offset + f.width()];
            match &f.encoding {
                Encoding::Categorical { values } => {
                    for s in texts(&v) {
                        if let Ok(p) = values.binary_search(&s) {
                            block[p] = 1.0;
                        }
                    }
                }
                Encoding::Numeric { centres } => {
                    if let AttrValue::Number(x) = v {
                        if x.is_finite() {
                            soft_one_hot(centres, x, block);
                        }
                    }
                }
            }
            let norm = block.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                let s = f.weight.sqrt() / norm;
                block.iter_mut().for_each(|x| *x *= s);
            }
        }
    }

    /// `item`'s vector.
    pub fn transform(&self, item: &Item) -> Vec<f32> {
        let mut out = vec![0f32; self.dim];
        self.transform_into(item, &mut out);
        out
    }
}

/// `buckets` quantile centres of `values` (at `(b + ½) / buckets`), with
/// duplicates removed (a field with few distinct numbers gets fewer).
fn centres(mut values: Vec<f64>, buckets: usize) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mut out: Vec<f64> = (0..buckets)
        .map(|b| values[((2 * b + 1) * n / (2 * buckets)).min(n - 1)])
        .collect();
    out.dedup();
    out
}

/// Splits `x` linearly between the two centres around it.
fn soft_one_hot(centres: &[f64], x: f64, block: &mut [f32]) {
    let j = centres.partition_point(|&c| c <= x);
    if j == 0 {
        block[0] = 1.0;
    } else if j == centres.len() {
        block[j - 1] = 1.0;
    } else {
        let (lo, hi) = (centres[j - 1], centres[j]);
        let t = ((x - lo) / (hi - lo)) as f32;
        block[j - 1] = 1.0 - t;
        block[j] = t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, cat: &str, shape: &str, colours: &[&str], price: f64) -> Item {
        let mut attributes = BTreeMap::new();
        attributes.insert("shape".into(), AttrValue::Text(shape.into()));
        attributes.insert(
            "colours".into(),
            AttrValue::List(colours.iter().map(|s| s.to_string()).collect()),
        );
        Item {
            id: id.into(),
            title: String::new(),
            category: cat.into(),
            brand: None,
            price: Some(price),
            in_stock: true,
            regions: vec![],
            attributes,
        }
    }

    fn catalog() -> Catalog {
        let mut c = Catalog::new();
        c.add(item("a", "frames", "round", &["black"], 100.0))
            .unwrap();
        c.add(item("b", "frames", "round", &["black", "gold"], 110.0))
            .unwrap();
        c.add(item("c", "frames", "square", &["red"], 300.0))
            .unwrap();
        c.add(item("d", "sunglasses", "aviator", &["gold"], 200.0))
            .unwrap();
        c
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn blocks_are_unit_and_weighted() {
        let c = catalog();
        let mut cfg = FeaturizerConfig::default();
        cfg.weights.insert("shape".into(), 4.0);
        cfg.weights.insert("brand".into(), 0.0);
        let f = Featurizer::fit(&c, &cfg).unwrap();
        let names: Vec<&str> = f.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["category", "price", "colours", "shape"]);
        let a = f.transform(c.get("a").unwrap());
        // category 1 + price 1 + colours 1 + shape 4
        assert!((dot(&a, &a) - 7.0).abs() < 1e-5);
        let b = f.transform(c.get("b").unwrap());
        let cc = f.transform(c.get("c").unwrap());
        // a and b share category, shape, one of b's two colours, near prices.
        let ab = dot(&a, &b);
        assert!(ab > 5.5 && ab < 7.0, "{ab}");
        assert!(dot(&a, &cc) < 1.5);
        // Same shape weighs 4: colours are 1/√2 shared.
        let colours = &f.fields()[2];
        let blk = |v: &[f32]| v[colours.offset..colours.offset + 3].to_vec();
        assert!((dot(&blk(&a), &blk(&b)) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }

    #[test]
    fn numbers_split_between_centres_and_missing_fields_are_zero() {
        let centres = vec![100.0, 200.0, 300.0];
        let mut b = [0f32; 3];
        soft_one_hot(&centres, 150.0, &mut b);
        assert_eq!(b, [0.5, 0.5, 0.0]);
        let mut b = [0f32; 3];
        soft_one_hot(&centres, 999.0, &mut b);
        assert_eq!(b, [0.0, 0.0, 1.0]);
        let mut b = [0f32; 3];
        soft_one_hot(&centres, 1.0, &mut b);
        assert_eq!(b, [1.0, 0.0, 0.0]);
        let c = catalog();
        let f = Featurizer::fit(&c, &FeaturizerConfig::default()).unwrap();
        let mut bare = c.get("a").unwrap().clone();
        bare.attributes.clear();
        bare.price = None;
        let v = f.transform(&bare);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6, "only category left");
        // Unknown values (cold-start items) encode to nothing, not an error.
        let mut odd = item("z", "frames", "hexagonal", &["teal"], 120.0);
        odd.category = "unknown".into();
        let v = f.transform(&odd);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-5, "only price left");
    }

    #[test]
    fn config_errors_name_the_field() {
        let mut cfg = FeaturizerConfig::default();
        cfg.weights.insert("shape".into(), f32::NAN);
        let e = Featurizer::fit(&catalog(), &cfg).unwrap_err();
        assert!(e.to_string().contains("features.weights.shape"), "{e}");
        let cfg = FeaturizerConfig {
            numeric_buckets: 1,
            ..Default::default()
        };
        assert!(matches!(cfg.validate(), Err(Error::Config { .. })));
        let cfg = FeaturizerConfig {
            default_weight: 0.0,
            ..Default::default()
        };
        assert!(matches!(
            Featurizer::fit(&catalog(), &cfg),
            Err(Error::InvalidInput(_))
        ));
    }
}
