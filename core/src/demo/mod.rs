//! A deterministic, seeded synthetic optical-retail data set: a product
//! catalog (frames, sunglasses, lenses, coatings, contact lenses, solutions,
//! accessories, eye tests), customers in UK & Ireland, the Netherlands, the
//! Nordics, Australia and New Zealand, and a year of sessions of views,
//! clicks, add-to-carts and purchases.
//!
//! The data has planted structure so that collaborative filtering has
//! something real to find: every customer has latent tastes (shapes,
//! materials, brands, colours, price band, gender), regions have their own
//! preferences (sunglasses and polarised lenses in Australia and New Zealand,
//! titanium and minimal brands in the Nordics, Oakley and Carrera in the
//! North West of England, …), sunglasses peak in the local summer, contact
//! lenses are re-ordered periodically, an eye test is followed by a frames
//! visit, and a frames purchase pulls lenses, a coating and a case with it.
//!
//! Reproducibility: everything derives from [`DemoConfig::seed`] through
//! ChaCha8 and uses only IEEE-exact arithmetic (`+ − × ÷ √`, no `exp`, `ln`
//! or `cos`, whose last bits differ between libms) and no hash-map order, so
//! the same config gives bit-identical data on every platform, wasm included.
//!
//! Behind the `demo` cargo feature: examples, tests, benchmarks and the
//! bindings' demo functions use it; a shop's production build does not. The
//! demo shop's engine settings (region names and markets, diversity by frame
//! shape) are [`engine_config`] here, not engine defaults.
//!
//! Layout: this file holds the public API and the engine settings; the
//! generator is split by job into `rand` (the seeded samplers), `vocab` (fixed
//! vocabularies, brands, regional tastes, product lines), `catalog` (products),
//! `world` (per-region item weights), `customers` and `events` (sessions).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::data::{Catalog, Channel, Event, Interactions, InteractionsBuilder, KindWeights};
use crate::engine::{default_placements, EngineConfig};
use crate::error::{Error, Result};
use crate::experiment::merge_patch;
use crate::ids::IdMap;

mod catalog;
mod customers;
mod events;
mod rand;
mod vocab;
mod world;

use catalog::build_catalog;
use customers::build_customers;
use events::build_events;
use world::World;

// ───────────────────────────── public API ─────────────────────────────

/// Size, seed and time window of the generated data set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DemoConfig {
    /// Number of customers (exact).
    pub customers: usize,
    /// Number of products in the catalog (exact; at least [`MIN_PRODUCTS`]).
    pub products: usize,
    /// Target total number of events; the result lands within a few percent.
    pub events: usize,
    /// Seed of the random generator; the same config gives the same data.
    pub seed: u64,
    /// Start of the time window, Unix seconds.
    pub start: i64,
    /// Length of the time window in days.
    pub days: u32,
}

impl Default for DemoConfig {
    /// 20 000 customers, 3 000 products, about a million events over 2025.
    fn default() -> Self {
        DemoConfig {
            customers: 20_000,
            products: 3_000,
            events: 1_000_000,
            seed: 42,
            start: 1_735_689_600,
            days: 365,
        }
    }
}

impl DemoConfig {
    /// A small data set for tests and doc examples: 2 000 customers,
    /// 400 products, about 80 000 events.
    pub fn small() -> Self {
        DemoConfig {
            customers: 2_000,
            products: 400,
            events: 80_000,
            ..Default::default()
        }
    }

    /// Checks every field; [`generate`] calls this first.
    pub fn validate(&self) -> Result<()> {
        if self.customers == 0 || self.customers > MAX_CUSTOMERS {
            return Err(Error::config(
                "demo.customers",
                format!("must be in 1..={MAX_CUSTOMERS}, got {}", self.customers),
            ));
        }
        if self.products < MIN_PRODUCTS || self.products > MAX_PRODUCTS {
            return Err(Error::config(
                "demo.products",
                format!("must be in {MIN_PRODUCTS}..={MAX_PRODUCTS} (every category needs items), got {}", self.products),
            ));
        }
        if self.events == 0 || self.events > MAX_EVENTS {
            return Err(Error::config(
                "demo.events",
                format!("must be in 1..={MAX_EVENTS}, got {}", self.events),
            ));
        }
        if self.days == 0 || self.days > MAX_DAYS {
            return Err(Error::config(
                "demo.days",
                format!("must be in 1..={MAX_DAYS}, got {}", self.days),
            ));
        }
        // Keeps every timestamp exactly representable as f64 and far from overflow.
        if self.start.unsigned_abs() > MAX_ABS_START {
            return Err(Error::config(
                "demo.start",
                format!(
                    "must be within ±{MAX_ABS_START} seconds of 1970, got {}",
                    self.start
                ),
            ));
        }
        Ok(())
    }

    fn end(&self) -> i64 {
        self.start + i64::from(self.days) * 86_400
    }
}

/// Smallest catalog [`generate`] accepts: enough for every category.
pub const MIN_PRODUCTS: usize = 50;
/// Largest accepted catalog (keeps memory bounded on bad input).
pub const MAX_PRODUCTS: usize = 1_000_000;
/// Largest accepted number of customers.
pub const MAX_CUSTOMERS: usize = 10_000_000;
/// Largest accepted event target (about 3 GB of events in memory).
pub const MAX_EVENTS: usize = 10_000_000;
/// Longest accepted time window in days (100 years).
pub const MAX_DAYS: u32 = 36_525;
const MAX_ABS_START: u64 = 1 << 40;

/// A synthetic customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Customer id, `C000001`, `C000002`, …
    pub id: String,
    /// Region code, one of the first fields of [`REGIONS`].
    pub region: String,
    /// ISO 3166-1 alpha-2 country code of the region (`GB`, `IE`, `NL`, …).
    pub country: String,
    /// Preferred channel; most of the customer's sessions use it.
    pub channel: Channel,
    /// `female`, `male` or `unspecified`.
    pub gender: String,
    /// Age band: `18-24`, `25-34`, `35-44`, `45-54`, `55-64` or `65+`.
    pub age_band: String,
}

/// The generated data set.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoData {
    /// All products; ids `FR-00001` (frames), `SG-` (sunglasses), `LN-`
    /// (lenses), `CT-` (coatings), `CL-` (contact lenses), `CS-` (contact
    /// solutions), `AC-` (accessories), `ET-` (eye tests).
    pub catalog: Catalog,
    /// All customers in id order.
    pub customers: Vec<Customer>,
    /// All events, sorted by timestamp (ties keep in-session order).
    pub events: Vec<Event>,
}

impl DemoData {
    /// The user×item interaction matrix: users in customer order (customers
    /// without events are empty rows), items in catalog order.
    pub fn interactions(&self, weights: &KindWeights) -> Result<Interactions> {
        let users = IdMap::from_ids(self.customers.iter().map(|c| c.id.clone()))?;
        let mut b = InteractionsBuilder::new()
            .weights(weights.clone())?
            .items(self.catalog.ids().clone())
            .users(users);
        b.extend_events(&self.events)?;
        b.build()
    }
}

/// Regions: (region code, ISO country code, display name).
pub const REGIONS: &[(&str, &str, &str)] = &[
    ("uk-london", "GB", "London"),
    ("uk-south-east", "GB", "South East England"),
    ("uk-north-west", "GB", "North West England"),
    ("uk-midlands", "GB", "Midlands"),
    ("uk-scotland", "GB", "Scotland"),
    ("uk-wales", "GB", "Wales"),
    ("ie-dublin", "IE", "Dublin"),
    ("ie-rest", "IE", "Rest of Ireland"),
    ("nl", "NL", "Netherlands"),
    ("se", "SE", "Sweden"),
    ("no", "NO", "Norway"),
    ("dk", "DK", "Denmark"),
    ("fi", "FI", "Finland"),
    ("au", "AU", "Australia"),
    ("nz", "NZ", "New Zealand"),
];

/// Product categories, in the order their ids are generated.
pub const CATEGORIES: &[&str] = &[
    "frames",
    "sunglasses",
    "lenses",
    "coatings",
    "contact_lenses",
    "contact_solutions",
    "accessories",
    "eye_tests",
];

// ───────────────────────────── engine config ─────────────────────────────

/// The fields the demo's placements diversify by: brand, frame shape and
/// category (shape is an optical attribute, so no production default uses it).
pub const DIVERSITY_ATTRIBUTES: [&str; 3] = ["brand", "shape", "category"];

/// Display names of the [`REGIONS`] for explanations
/// ([`EngineConfig::region_names`]).
pub fn region_names() -> BTreeMap<String, String> {
    REGIONS
        .iter()
        .map(|&(code, _, name)| (code.to_owned(), name.to_owned()))
        .collect()
}

/// The demo's market of each region for trending's country level
/// ([`TrendingConfig::region_parent`](crate::trending::TrendingConfig::region_parent)):
/// `uk-*` → `uk`, `ie-*` → `ie`, `se`/`no`/`dk`/`fi` → `nordics`,
/// `au`/`nz` → `anz`; `nl` has none (its market would equal the region).
pub fn region_parent() -> BTreeMap<String, String> {
    REGIONS
        .iter()
        .filter_map(|&(code, iso, _)| {
            let parent = match iso {
                "GB" => "uk",
                "IE" => "ie",
                "SE" | "NO" | "DK" | "FI" => "nordics",
                "AU" | "NZ" => "anz",
                _ => return None,
            };
            Some((code.to_owned(), parent.to_owned()))
        })
        .collect()
}

/// What the demo shop sets on top of the neutral engine defaults, as the
/// JSON an [`EngineConfig`] is read from: region names, the region → market
/// map, and diversity by [`DIVERSITY_ATTRIBUTES`] on the five default
/// placements. Bindings hand this to their runtime (Python's
/// `demo_engine_config()`).
pub fn engine_settings() -> serde_json::Value {
    let diversity = serde_json::json!({"diversity": {"by": {"attributes": DIVERSITY_ATTRIBUTES}}});
    let placements: serde_json::Map<String, serde_json::Value> = default_placements()
        .into_keys()
        .map(|name| (name, diversity.clone()))
        .collect();
    serde_json::json!({
        "region_names": region_names(),
        "trending": {"region_parent": region_parent()},
        "placements": placements,
    })
}

/// The demo shop's engine config: [`engine_settings`] with `overrides`
/// merged on top (a JSON merge patch, RFC 7386; `json!({})` for none), read
/// like [`EngineConfig::from_value`]. Errors name the offending field.
pub fn engine_config(overrides: &serde_json::Value) -> Result<EngineConfig> {
    let mut settings = engine_settings();
    merge_patch(&mut settings, overrides);
    EngineConfig::from_value(settings)
}

/// Generates the data set described by `config`.
///
/// Deterministic: the same config gives identical data on every platform.
/// Bad configs return [`Error::Config`]; nothing panics.
pub fn generate(config: &DemoConfig) -> Result<DemoData> {
    config.validate()?;
    let (catalog, metas) = build_catalog(config)?;
    let world = World::new(&metas);
    let (customers, profiles) = build_customers(config, &world);
    let events = build_events(config, &world, &catalog, &customers, &profiles);
    Ok(DemoData {
        catalog,
        customers,
        events,
    })
}

#[cfg(test)]
mod tests;
