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

use crate::rng::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::data::{
    AttrValue, Catalog, Channel, Event, EventKind, Interactions, InteractionsBuilder, Item,
    KindWeights,
};
use crate::engine::{default_placements, EngineConfig};
use crate::error::{Error, Result};
use crate::experiment::merge_patch;
use crate::ids::IdMap;

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

// ───────────────────────────── random numbers ─────────────────────────────

/// ChaCha8 plus the few samplers we need, all platform-independent.
struct Rand(crate::rng::Rng);

impl Rand {
    /// An independent stream for (`seed`, `stream`, `index`); per-customer
    /// streams keep each customer's events independent of the others.
    fn new(seed: u64, stream: u64, index: u64) -> Self {
        Rand(crate::rng::stream(seed, stream, index))
    }

    fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (0 when n = 0); the bias of the multiply-shift
    /// method is below 2^-40 for our n.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform integer in lo..=hi.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// An index drawn proportionally to `w`; `None` when all weights are 0.
    fn weighted(&mut self, w: &[f64]) -> Option<usize> {
        let total: f64 = w.iter().sum();
        if total.is_nan() || total <= 0.0 {
            return None;
        }
        let mut x = self.f64() * total;
        let mut last = None;
        for (i, &wi) in w.iter().enumerate() {
            if wi > 0.0 {
                if x < wi {
                    return Some(i);
                }
                x -= wi;
                last = Some(i);
            }
        }
        last
    }

    /// Number of failures before a success of probability `p`, capped.
    fn geometric(&mut self, p: f64, cap: u32) -> u32 {
        let mut k = 0;
        while k < cap && !self.chance(p) {
            k += 1;
        }
        k
    }
}

/// cos(2πx) approximated by two parabolas: smooth enough for seasonality
/// and bit-reproducible (libm `cos` is not).
fn cos_turn(x: f64) -> f64 {
    let t = x - x.floor();
    let d = if t > 0.5 { 1.0 - t } else { t };
    if d <= 0.25 {
        1.0 - 8.0 * d * d
    } else {
        let e = 0.5 - d;
        8.0 * e * e - 1.0
    }
}

// ───────────────────────────── vocabularies ─────────────────────────────

const SHAPES: [&str; 8] = [
    "round",
    "square",
    "rectangle",
    "cat_eye",
    "aviator",
    "browline",
    "oval",
    "geometric",
];
const MATERIALS: [&str; 5] = ["acetate", "metal", "titanium", "tr90", "mixed"];
const MATERIAL_TITLE: [&str; 5] = ["acetate", "metal", "titanium", "TR90", "acetate & metal"];
const COLOURS: [&str; 12] = [
    "black",
    "tortoiseshell",
    "gold",
    "silver",
    "gunmetal",
    "navy",
    "crystal",
    "burgundy",
    "green",
    "rose_gold",
    "havana",
    "grey",
];
const GENDERS: [&str; 4] = ["women", "men", "unisex", "kids"];
const BANDS: [&str; 4] = ["budget", "mid", "premium", "luxury"];
const AGE_BANDS: [&str; 6] = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"];
const LENS_TYPES: [&str; 3] = ["single_vision", "varifocal", "reading"];
const LENS_INDEX: [f64; 4] = [1.5, 1.6, 1.67, 1.74];
const COATINGS: [&str; 4] = ["anti_glare", "blue_light", "photochromic", "scratch"];
const CL_TYPES: [&str; 4] = ["daily", "monthly", "toric", "multifocal"];
const ACC_TYPES: [&str; 5] = ["case", "cloth", "chain", "cleaning", "repair"];

// "Not applicable" slots: taste tables have one extra neutral entry.
const NA_SHAPE: u8 = SHAPES.len() as u8;
const NA_MAT: u8 = MATERIALS.len() as u8;
const NA_COLOUR: u8 = COLOURS.len() as u8;
const NA_BAND: u8 = BANDS.len() as u8;
const NA_GENDER: u8 = GENDERS.len() as u8;
const NA_BRAND: u8 = BRANDS.len() as u8;
const KIDS: u8 = 3;

const FRAMES: u8 = 0;
const SUNGLASSES: u8 = 1;
const LENSES: u8 = 2;
const COATING: u8 = 3;
const CONTACTS: u8 = 4;
const SOLUTIONS: u8 = 5;
const ACCESSORIES: u8 = 6;
const EYE_TESTS: u8 = 7;
const ID_PREFIX: [&str; 8] = ["FR", "SG", "LN", "CT", "CL", "CS", "AC", "ET"];

/// Model names by shape, so titles read like real products.
const MODEL_NAMES: [&[&str]; 8] = [
    &["Harlow", "Lennon", "Orbit", "Milo", "Pebble"],
    &["Carter", "Block", "Jude", "Hudson", "Baxter"],
    &["Linear", "Ellis", "Drift", "Sterling", "Rowan"],
    &["Audrey", "Marlowe", "Kitty", "Sienna", "Greta"],
    &["Pilot", "Skyline", "Maverick", "Aviator", "Cruise"],
    &["Clubmaster", "Dean", "Brow", "Miller", "Archer"],
    &["Ada", "Remy", "Oval", "Iris", "Luna"],
    &["Hexa", "Prism", "Facet", "Octo", "Vertex"],
];

/// Brand families of frames and sunglasses.
struct Brand {
    name: &'static str,
    /// Model-code prefix and suffix for optical frames / sunglasses.
    optical: (&'static str, &'static str),
    sun: (&'static str, &'static str),
    frames: bool,
    sunglasses: bool,
    bands: (u8, u8),
    /// Share of the catalog and of customers' brand choices.
    weight: f64,
    /// Relative use of acetate, metal, titanium, tr90, mixed.
    materials: [f64; 5],
    /// Whether a branded case is sold.
    case: bool,
    /// Markets (bitmask over REGIONS) where the brand is sold; 0 = all.
    markets: u32,
}

const UK: u32 = 0b0000_0000_0011_1111;
const IE: u32 = 0b0000_0000_1100_0000;
const NL: u32 = 1 << 8;
const NORDICS: u32 = 0b0001_1110_0000_0000;
const ANZ: u32 = 0b0110_0000_0000_0000;
const ALL_REGIONS: u32 = (1 << 15) - 1;
const MARKETS: [u32; 4] = [UK | IE, NL, NORDICS, ANZ];

#[rustfmt::skip]
const BRANDS: [Brand; 18] = [
    Brand { name: "Ray-Ban", optical: ("RX", ""), sun: ("RB", ""), frames: true, sunglasses: true, bands: (1, 2), weight: 10.0, materials: [5.0, 4.0, 0.5, 0.5, 1.0], case: true, markets: 0 },
    Brand { name: "Oakley", optical: ("OX", ""), sun: ("OO", ""), frames: true, sunglasses: true, bands: (1, 2), weight: 7.0, materials: [0.5, 2.0, 1.5, 5.0, 1.0], case: true, markets: 0 },
    Brand { name: "Tom Ford", optical: ("FT", ""), sun: ("FT", "S"), frames: true, sunglasses: true, bands: (3, 3), weight: 3.0, materials: [5.0, 2.0, 1.0, 0.0, 1.0], case: true, markets: 0 },
    Brand { name: "Prada", optical: ("PR ", "V"), sun: ("PR ", "S"), frames: true, sunglasses: true, bands: (3, 3), weight: 3.0, materials: [5.0, 2.0, 0.5, 0.0, 1.0], case: true, markets: 0 },
    Brand { name: "Gucci", optical: ("GG", "O"), sun: ("GG", "S"), frames: true, sunglasses: true, bands: (3, 3), weight: 3.0, materials: [5.0, 2.0, 0.5, 0.0, 1.0], case: true, markets: 0 },
    Brand { name: "Persol", optical: ("PO", "V"), sun: ("PO", "S"), frames: true, sunglasses: true, bands: (2, 2), weight: 3.0, materials: [6.0, 1.0, 0.3, 0.0, 0.5], case: true, markets: 0 },
    Brand { name: "Oliver Peoples", optical: ("OV", ""), sun: ("OV", "SU"), frames: true, sunglasses: true, bands: (3, 3), weight: 2.0, materials: [4.0, 2.0, 2.0, 0.0, 1.0], case: true, markets: 0 },
    Brand { name: "Lindberg", optical: ("", ""), sun: ("", ""), frames: true, sunglasses: false, bands: (3, 3), weight: 1.5, materials: [0.3, 0.5, 8.0, 0.0, 0.5], case: true, markets: 0 },
    Brand { name: "Silhouette", optical: ("", ""), sun: ("", "S"), frames: true, sunglasses: true, bands: (2, 3), weight: 2.0, materials: [0.2, 1.0, 6.0, 1.0, 0.5], case: true, markets: 0 },
    Brand { name: "Hugo Boss", optical: ("BOSS ", ""), sun: ("BOSS ", "/S"), frames: true, sunglasses: true, bands: (2, 2), weight: 3.0, materials: [3.0, 3.0, 1.0, 0.5, 1.0], case: true, markets: 0 },
    Brand { name: "Calvin Klein", optical: ("CK", ""), sun: ("CK", "S"), frames: true, sunglasses: true, bands: (1, 1), weight: 4.0, materials: [3.0, 3.0, 0.5, 1.0, 1.0], case: false, markets: 0 },
    Brand { name: "Vogue Eyewear", optical: ("VO", ""), sun: ("VO", "S"), frames: true, sunglasses: true, bands: (1, 1), weight: 4.0, materials: [5.0, 2.0, 0.0, 1.0, 1.0], case: false, markets: 0 },
    Brand { name: "Carrera", optical: ("CARRERA ", ""), sun: ("CARRERA ", "/S"), frames: true, sunglasses: true, bands: (1, 2), weight: 3.0, materials: [2.0, 4.0, 1.0, 1.0, 1.0], case: true, markets: 0 },
    Brand { name: "Superdry", optical: ("SDO ", ""), sun: ("SDS ", ""), frames: true, sunglasses: true, bands: (0, 1), weight: 3.0, materials: [4.0, 2.0, 0.0, 2.0, 1.0], case: false, markets: UK | IE },
    Brand { name: "Maui Jim", optical: ("MJ", ""), sun: ("MJ", ""), frames: false, sunglasses: true, bands: (2, 2), weight: 2.0, materials: [1.0, 2.0, 1.0, 3.0, 1.0], case: true, markets: 0 },
    Brand { name: "Quay", optical: ("QW-", ""), sun: ("QW-", ""), frames: false, sunglasses: true, bands: (0, 1), weight: 3.0, materials: [3.0, 2.0, 0.0, 2.0, 1.0], case: false, markets: ANZ },
    Brand { name: "Sightline Studio", optical: ("SL", ""), sun: ("SLS", ""), frames: true, sunglasses: true, bands: (0, 1), weight: 12.0, materials: [4.0, 3.0, 1.0, 3.0, 1.0], case: false, markets: 0 },
    Brand { name: "Sightline Kids", optical: ("SLK", ""), sun: ("SLK", "S"), frames: true, sunglasses: true, bands: (0, 0), weight: 0.0, materials: [2.0, 1.0, 0.0, 5.0, 0.5], case: false, markets: 0 },
];
const RAY_BAN: usize = 0;
const OAKLEY: usize = 1;
const SIGHTLINE_KIDS: usize = 17;
const MAUI_JIM: usize = 14;

/// Planted regional preferences (parallel to [`REGIONS`]).
struct RegionParams {
    weight: f64,
    south: bool,
    sun_share: f64,
    channels: [f64; 4],
    brands: &'static [(usize, f64)],
    shapes: [f64; 8],
    materials: [f64; 5],
    colours: [f64; 12],
    bands: [f64; 4],
    polarised: f64,
    photochromic: f64,
}

const FLAT8: [f64; 8] = [1.0; 8];
const FLAT5: [f64; 5] = [1.0; 5];
const FLAT12: [f64; 12] = [1.0; 12];
const FLAT4: [f64; 4] = [1.0; 4];
const UK_CH: [f64; 4] = [0.38, 0.22, 0.32, 0.08];
const NORDIC_SHAPES: [f64; 8] = [1.4, 0.8, 1.4, 0.6, 0.8, 0.7, 1.1, 0.8];
const NORDIC_MATS: [f64; 5] = [0.7, 1.3, 3.0, 0.8, 0.6];
const NORDIC_COLOURS: [f64; 12] = [1.0, 0.6, 0.8, 1.8, 1.5, 0.8, 1.6, 0.6, 0.7, 0.8, 0.6, 1.8];
const NORDIC_BRANDS: &[(usize, f64)] = &[(7, 3.5), (8, 2.5)];

const fn region(
    weight: f64,
    sun_share: f64,
    channels: [f64; 4],
    brands: &'static [(usize, f64)],
) -> RegionParams {
    RegionParams {
        weight,
        south: false,
        sun_share,
        channels,
        brands,
        shapes: FLAT8,
        materials: FLAT5,
        colours: FLAT12,
        bands: FLAT4,
        polarised: 1.0,
        photochromic: 1.0,
    }
}

#[rustfmt::skip]
const REGION_PARAMS: [RegionParams; 15] = [
    RegionParams { bands: [0.8, 1.0, 1.2, 1.7], ..region(14.0, 0.16, [0.40, 0.30, 0.22, 0.08], &[(2, 1.8), (6, 1.8), (4, 1.5)]) },
    region(12.0, 0.16, UK_CH, &[(5, 1.4)]),
    region(9.0, 0.16, UK_CH, &[(OAKLEY, 3.5), (12, 3.0)]),
    RegionParams { bands: [1.3, 1.1, 0.9, 0.7], ..region(9.0, 0.15, UK_CH, &[(13, 1.6), (16, 1.3)]) },
    RegionParams { photochromic: 2.5, ..region(6.0, 0.09, UK_CH, &[(9, 1.5)]) },
    region(4.0, 0.14, UK_CH, &[(16, 1.4)]),
    region(5.0, 0.14, [0.40, 0.20, 0.32, 0.08], &[(RAY_BAN, 2.0)]),
    region(4.0, 0.13, [0.36, 0.18, 0.38, 0.08], &[(RAY_BAN, 1.6), (16, 1.3)]),
    RegionParams {
        shapes: [2.0, 0.8, 0.7, 1.0, 0.7, 0.8, 1.0, 1.8],
        materials: [1.4, 1.0, 0.8, 1.0, 1.0],
        colours: [1.0, 1.0, 0.8, 0.8, 0.8, 1.0, 1.8, 1.2, 1.8, 0.8, 1.0, 1.0],
        ..region(9.0, 0.18, [0.45, 0.25, 0.22, 0.08], &[(11, 1.5)])
    },
    RegionParams { shapes: NORDIC_SHAPES, materials: NORDIC_MATS, colours: NORDIC_COLOURS, ..region(5.0, 0.14, [0.42, 0.33, 0.17, 0.08], NORDIC_BRANDS) },
    RegionParams { shapes: NORDIC_SHAPES, materials: NORDIC_MATS, colours: NORDIC_COLOURS, ..region(3.0, 0.14, [0.42, 0.33, 0.17, 0.08], NORDIC_BRANDS) },
    RegionParams { shapes: NORDIC_SHAPES, materials: NORDIC_MATS, colours: NORDIC_COLOURS, ..region(3.0, 0.14, [0.42, 0.33, 0.17, 0.08], NORDIC_BRANDS) },
    RegionParams { shapes: NORDIC_SHAPES, materials: NORDIC_MATS, colours: NORDIC_COLOURS, ..region(3.0, 0.13, [0.42, 0.33, 0.17, 0.08], NORDIC_BRANDS) },
    RegionParams { south: true, polarised: 2.5, photochromic: 1.5, shapes: [0.9, 1.0, 1.0, 1.0, 1.6, 0.9, 1.0, 1.0], ..region(10.0, 0.42, [0.35, 0.25, 0.32, 0.08], &[(15, 2.2), (MAUI_JIM, 2.2), (OAKLEY, 1.5)]) },
    RegionParams { south: true, polarised: 2.2, photochromic: 1.4, ..region(4.0, 0.38, [0.35, 0.20, 0.37, 0.08], &[(15, 2.0), (MAUI_JIM, 2.0)]) },
];

// Lenses, coatings, contact lenses, solutions, accessories, eye tests.

/// (brand, product line, price band) of spectacle-lens makers.
const LENS_LINES: [(&str, [&str; 3], u8); 4] = [
    (
        "Sightline",
        [
            "Sightline Clarity",
            "Sightline Clarity Progressive",
            "Sightline Clarity Reader",
        ],
        0,
    ),
    (
        "Hoya",
        ["Hoya Hilux", "Hoya iD MyStyle", "Hoya Hilux Reader"],
        1,
    ),
    (
        "Essilor",
        ["Essilor Eyezen", "Essilor Varilux", "Essilor Eyezen Start"],
        2,
    ),
    (
        "Zeiss",
        [
            "Zeiss SmartLife",
            "Zeiss SmartLife Progressive",
            "Zeiss SmartLife Digital",
        ],
        3,
    ),
];
/// Coating titles by (line, coating type).
const COATING_LINES: [(&str, [&str; 4], u8); 4] = [
    (
        "Sightline",
        [
            "Sightline anti-glare",
            "Sightline blue light filter",
            "Sightline light-reactive",
            "Sightline scratch-resistant",
        ],
        0,
    ),
    (
        "Essilor",
        [
            "Crizal Sapphire anti-glare",
            "Crizal Prevencia blue light",
            "Transitions GEN S photochromic",
            "Crizal Easy Pro scratch-resistant",
        ],
        2,
    ),
    (
        "Zeiss",
        [
            "DuraVision Platinum anti-glare",
            "Zeiss BlueGuard",
            "Zeiss PhotoFusion X",
            "DuraVision scratch-resistant",
        ],
        3,
    ),
    (
        "Hoya",
        [
            "Hi-Vision Meiryo anti-glare",
            "Hoya Recharge blue light",
            "Hoya Sensity 2",
            "Hi-Vision LongLife",
        ],
        1,
    ),
];
/// (brand, line, type index, daily replacement, packs as (lenses, days of wear), base price).
#[allow(clippy::type_complexity)]
const CL_LINES: [(&str, &str, u8, bool, &[(u32, u32)], f64); 18] = [
    (
        "Acuvue",
        "Acuvue Oasys 1-Day",
        0,
        true,
        &[(30, 30), (90, 90)],
        32.0,
    ),
    (
        "Biofinity",
        "Biofinity",
        1,
        false,
        &[(3, 90), (6, 180)],
        30.0,
    ),
    (
        "Acuvue",
        "Acuvue Oasys for Astigmatism",
        2,
        false,
        &[(6, 90)],
        38.0,
    ),
    (
        "Dailies",
        "Dailies Total1 Multifocal",
        3,
        true,
        &[(30, 30), (90, 90)],
        45.0,
    ),
    (
        "Dailies",
        "Dailies AquaComfort Plus",
        0,
        true,
        &[(30, 30), (90, 90)],
        24.0,
    ),
    (
        "Air Optix",
        "Air Optix plus HydraGlyde",
        1,
        false,
        &[(3, 90), (6, 180)],
        28.0,
    ),
    (
        "Biofinity",
        "Biofinity Toric",
        2,
        false,
        &[(3, 90), (6, 180)],
        40.0,
    ),
    (
        "Biofinity",
        "Biofinity Multifocal",
        3,
        false,
        &[(3, 90), (6, 180)],
        48.0,
    ),
    (
        "Dailies",
        "Dailies Total1",
        0,
        true,
        &[(30, 30), (90, 90)],
        36.0,
    ),
    (
        "Sightline",
        "Sightline Monthly",
        1,
        false,
        &[(3, 90), (6, 180)],
        19.0,
    ),
    (
        "Dailies",
        "Dailies AquaComfort Plus Toric",
        2,
        true,
        &[(30, 30), (90, 90)],
        33.0,
    ),
    (
        "Acuvue",
        "Acuvue Moist Multifocal",
        3,
        true,
        &[(30, 30)],
        40.0,
    ),
    ("MyDay", "MyDay", 0, true, &[(30, 30), (90, 90)], 30.0),
    (
        "Proclear",
        "Proclear 1 Day",
        0,
        true,
        &[(30, 30), (90, 90)],
        22.0,
    ),
    (
        "Acuvue",
        "Acuvue Moist 1-Day",
        0,
        true,
        &[(30, 30), (90, 90)],
        26.0,
    ),
    (
        "Sightline",
        "Sightline Daily",
        0,
        true,
        &[(30, 30), (90, 90)],
        16.0,
    ),
    (
        "Air Optix",
        "Air Optix for Astigmatism",
        2,
        false,
        &[(3, 90)],
        36.0,
    ),
    (
        "Sightline",
        "Sightline Toric Daily",
        2,
        true,
        &[(30, 30)],
        24.0,
    ),
];
/// (brand, title, kind, size in ml, price).
const SOLUTIONS_LIST: [(&str, &str, &str, f64, f64); 12] = [
    (
        "Opti-Free",
        "Opti-Free PureMoist 300ml",
        "multi_purpose",
        300.0,
        11.0,
    ),
    (
        "Biotrue",
        "Biotrue multi-purpose solution 300ml",
        "multi_purpose",
        300.0,
        10.0,
    ),
    (
        "Sightline",
        "Sightline All-in-One 360ml",
        "multi_purpose",
        360.0,
        7.0,
    ),
    (
        "AOSept",
        "AOSept Plus with HydraGlyde 360ml",
        "peroxide",
        360.0,
        12.0,
    ),
    ("Renu", "Renu Advanced 360ml", "multi_purpose", 360.0, 9.0),
    (
        "Complete",
        "Complete RevitaLens 360ml",
        "multi_purpose",
        360.0,
        10.0,
    ),
    (
        "Sightline",
        "Sightline All-in-One 3 × 360ml",
        "multi_purpose",
        1080.0,
        18.0,
    ),
    (
        "Opti-Free",
        "Opti-Free PureMoist twin pack 2 × 300ml",
        "multi_purpose",
        600.0,
        19.0,
    ),
    (
        "Sightline",
        "Sightline travel pack 100ml",
        "multi_purpose",
        100.0,
        4.0,
    ),
    (
        "Biotrue",
        "Biotrue twin pack 2 × 300ml",
        "multi_purpose",
        600.0,
        17.0,
    ),
    (
        "Sightline",
        "Sightline saline spray 150ml",
        "saline",
        150.0,
        5.0,
    ),
    ("Blink", "Blink Contacts eye drops 10ml", "drops", 10.0, 8.0),
];
/// Own-label accessories: (type index, name, price).
const OWN_ACCESSORIES: [(u8, &str, f64); 11] = [
    (0, "hard case", 8.0),
    (1, "microfibre cloth", 4.0),
    (2, "glasses chain", 12.0),
    (0, "soft pouch", 5.0),
    (3, "lens cleaning spray 30ml", 6.0),
    (1, "lens wipes, 52 pack", 7.0),
    (2, "sports cord", 9.0),
    (0, "folding case", 10.0),
    (3, "anti-fog spray", 8.0),
    (4, "glasses repair kit", 6.0),
    (2, "beaded chain", 15.0),
];
/// Colours of own-label accessory variants (indices into COLOURS).
const ACC_COLOURS: [u8; 8] = [0, 5, 7, 8, 9, 1, 11, 3];
/// (title, price, markets); one item per test type.
const EYE_TEST_LIST: [(&str, f64, u32); 6] = [
    ("Standard eye test", 25.0, 0),
    ("Contact lens consultation", 35.0, 0),
    ("Children's eye test", 0.0, 0),
    ("Eye health check with OCT scan", 45.0, 0),
    ("Driving vision check", 15.0, 0),
    ("Home visit eye test", 0.0, UK | IE),
];
const ET_STANDARD: u8 = 0;
const ET_CONTACTS: u8 = 1;
const ET_CHILD: u8 = 2;
const ET_OCT: u8 = 3;
const ET_DRIVING: u8 = 4;
const ET_HOME: u8 = 5;

// ───────────────────────────── catalog ─────────────────────────────

/// Generator-side facts about a product (parallel to the catalog).
#[derive(Clone)]
struct Meta {
    cat: u8,
    shape: u8,
    material: u8,
    colour: u8,
    brand: u8,
    band: u8,
    gender: u8,
    /// Lens type, coating type, CL type, accessory type or eye-test type.
    sub: u8,
    /// Lens index slot (lenses only).
    index: u8,
    polarised: bool,
    in_stock: bool,
    /// Bitmask over REGIONS where it is sold.
    markets: u32,
    /// Global popularity multiplier (long-tailed).
    pop: f64,
    /// Contact lenses: days a pack lasts, and whether it needs solution.
    pack_days: u32,
    needs_solution: bool,
}

impl Meta {
    fn new(cat: u8) -> Self {
        Meta {
            cat,
            shape: NA_SHAPE,
            material: NA_MAT,
            colour: NA_COLOUR,
            brand: NA_BRAND,
            band: NA_BAND,
            gender: NA_GENDER,
            sub: 0,
            index: 0,
            polarised: false,
            in_stock: true,
            markets: ALL_REGIONS,
            pop: 1.0,
            pack_days: 0,
            needs_solution: false,
        }
    }
}

fn band_of_price(p: f64, cuts: [f64; 3]) -> u8 {
    cuts.iter().filter(|&&c| p >= c).count() as u8
}

/// A retail price like 129.00 or 89.00 in `lo..hi`.
fn shelf_price(rng: &mut Rand, lo: f64, hi: f64) -> f64 {
    let p = lo + rng.f64() * (hi - lo);
    (p / 10.0).floor() * 10.0 + 9.0
}

fn text(s: &str) -> AttrValue {
    AttrValue::Text(s.to_owned())
}

fn market_regions(mask: u32) -> Vec<String> {
    if mask == ALL_REGIONS {
        return Vec::new();
    }
    REGIONS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, r)| r.0.to_owned())
        .collect()
}

struct CatalogBuilder {
    catalog: Catalog,
    metas: Vec<Meta>,
    counters: [usize; 8],
}

impl CatalogBuilder {
    fn push(
        &mut self,
        meta: Meta,
        title: String,
        brand: &str,
        price: f64,
        attributes: BTreeMap<String, AttrValue>,
    ) -> Result<()> {
        let c = meta.cat as usize;
        self.counters[c] += 1;
        let item = Item {
            id: format!("{}-{:05}", ID_PREFIX[c], self.counters[c]),
            title,
            category: CATEGORIES[c].to_owned(),
            brand: Some(brand.to_owned()),
            price: Some(price),
            in_stock: meta.in_stock,
            regions: market_regions(meta.markets),
            attributes,
        };
        self.catalog.add(item)?;
        self.metas.push(meta);
        Ok(())
    }
}

fn clamp_count(n: usize, per_mille: usize, lo: usize, hi: usize) -> usize {
    ((n * per_mille + 500) / 1000).clamp(lo, hi)
}

fn build_catalog(cfg: &DemoConfig) -> Result<(Catalog, Vec<Meta>)> {
    let mut rng = Rand::new(cfg.seed, 1, 0);
    let n = cfg.products;
    let cl_combos: Vec<(usize, usize)> = {
        // First pack of every line, then the second packs: small catalogs
        // still cover every line and type.
        let mut v = Vec::new();
        for p in 0..2 {
            for (l, line) in CL_LINES.iter().enumerate() {
                if p < line.4.len() {
                    v.push((l, p));
                }
            }
        }
        v
    };
    let acc_total =
        OWN_ACCESSORIES.len() + BRANDS.iter().filter(|b| b.case).count() + 4 * ACC_COLOURS.len();
    let n_et = EYE_TEST_LIST.len();
    let n_ln = clamp_count(n, 50, 3, 48);
    let n_ct = clamp_count(n, 15, 4, 16);
    let n_cl = clamp_count(n, 60, 4, cl_combos.len());
    let n_cs = clamp_count(n, 15, 2, SOLUTIONS_LIST.len());
    let n_ac = clamp_count(n, 60, 3, acc_total);
    let rest = n - (n_et + n_ln + n_ct + n_cl + n_cs + n_ac);
    let n_fr = (rest * 6 + 5) / 10;
    let n_sg = rest - n_fr;

    let mut b = CatalogBuilder {
        catalog: Catalog::new(),
        metas: Vec::with_capacity(n),
        counters: [0; 8],
    };
    for k in 0..n_fr + n_sg {
        let sun = k >= n_fr;
        spectacle(&mut b, &mut rng, sun)?;
    }
    for k in 0..n_ln {
        let (t, ix, line) = (k % 3, (k / 3) % 4, k / 12);
        let (brand, names, band) = LENS_LINES[line];
        let mut m = Meta::new(LENSES);
        m.sub = t as u8;
        m.index = ix as u8;
        m.band = band;
        let base: f64 = [59.0, 169.0, 49.0][t];
        let price = (base * [1.0, 1.3, 1.7, 2.3][ix] * [0.7, 1.0, 1.4, 1.8][line]).round();
        let title = format!(
            "{} {} lenses, {} index",
            names[t],
            LENS_TYPES[t].replace('_', " "),
            LENS_INDEX[ix]
        );
        let attrs = BTreeMap::from([
            ("lens_type".to_owned(), text(LENS_TYPES[t])),
            ("index".to_owned(), AttrValue::Number(LENS_INDEX[ix])),
            ("price_band".to_owned(), text(BANDS[band as usize])),
        ]);
        b.push(m, title, brand, price, attrs)?;
    }
    for k in 0..n_ct {
        let (t, line) = (k % 4, k / 4);
        let (brand, names, band) = COATING_LINES[line];
        let mut m = Meta::new(COATING);
        m.sub = t as u8;
        m.band = band;
        let price = ([25.0f64, 30.0, 60.0, 15.0][t] * [0.7, 1.3, 1.6, 1.0][line]).round();
        let brand = if t == 2 && line == 1 {
            "Transitions"
        } else {
            brand
        };
        let attrs = BTreeMap::from([
            ("coating".to_owned(), text(COATINGS[t])),
            ("price_band".to_owned(), text(BANDS[band as usize])),
        ]);
        b.push(m, format!("{} coating", names[t]), brand, price, attrs)?;
    }
    for &(l, p) in cl_combos.iter().take(n_cl) {
        let (brand, line, t, daily, packs, base) = CL_LINES[l];
        let (units, days) = packs[p];
        let mut m = Meta::new(CONTACTS);
        m.sub = t;
        m.pack_days = days;
        m.needs_solution = !daily;
        m.in_stock = !rng.chance(0.055);
        let price = (base * if p == 0 { 1.0 } else { 2.7 }).round() - 0.01;
        m.band = if brand == "Sightline" {
            0
        } else {
            band_of_price(base, [20.0, 30.0, 42.0])
        };
        let attrs = BTreeMap::from([
            ("lens_type".to_owned(), text(CL_TYPES[t as usize])),
            (
                "replacement".to_owned(),
                text(if daily { "daily" } else { "monthly" }),
            ),
            ("pack_size".to_owned(), AttrValue::Number(f64::from(units))),
            ("price_band".to_owned(), text(BANDS[m.band as usize])),
        ]);
        b.push(m, format!("{line} – {units} pack"), brand, price, attrs)?;
    }
    for &(brand, title, kind, ml, price) in SOLUTIONS_LIST.iter().take(n_cs) {
        let mut m = Meta::new(SOLUTIONS);
        m.in_stock = !rng.chance(0.055);
        m.brand = NA_BRAND;
        let attrs = BTreeMap::from([
            ("solution_type".to_owned(), text(kind)),
            ("size_ml".to_owned(), AttrValue::Number(ml)),
        ]);
        b.push(m, title.to_owned(), brand, price, attrs)?;
    }
    accessories(&mut b, &mut rng, n_ac)?;
    for (t, &(title, price, markets)) in EYE_TEST_LIST.iter().enumerate() {
        let mut m = Meta::new(EYE_TESTS);
        m.sub = t as u8;
        if markets != 0 {
            m.markets = markets;
        }
        let slug = [
            "standard",
            "contact_lens",
            "children",
            "eye_health_oct",
            "driving",
            "home_visit",
        ][t];
        let attrs = BTreeMap::from([("test_type".to_owned(), text(slug))]);
        b.push(m, title.to_owned(), "Sightline", price, attrs)?;
    }

    // Long-tailed popularity: 1/(c + u) spans ~25×; a few "hero" products
    // get another boost so the head is clearly visible.
    for m in &mut b.metas {
        m.pop = 1.0 / (0.15 + rng.f64());
        if rng.chance(0.02) {
            m.pop *= 4.0;
        }
    }
    Ok((b.catalog, b.metas))
}

/// One frame or pair of sunglasses.
fn spectacle(b: &mut CatalogBuilder, rng: &mut Rand, sun: bool) -> Result<()> {
    let mut m = Meta::new(if sun { SUNGLASSES } else { FRAMES });
    let kids = rng.chance(0.08);
    let brand = if kids {
        [SIGHTLINE_KIDS, RAY_BAN, OAKLEY][rng.weighted(&[0.55, 0.25, 0.20]).unwrap_or(0)]
    } else {
        let w: Vec<f64> = BRANDS
            .iter()
            .map(|br| {
                if (sun && br.sunglasses) || (!sun && br.frames) {
                    br.weight
                } else {
                    0.0
                }
            })
            .collect();
        rng.weighted(&w).unwrap_or(RAY_BAN)
    };
    let br = &BRANDS[brand];
    m.brand = brand as u8;
    m.gender = if kids {
        KIDS
    } else {
        rng.weighted(&[0.36, 0.32, 0.32]).unwrap_or(2) as u8
    };
    m.band = if kids {
        br.bands.0.min(1)
    } else {
        br.bands.0 + rng.below(u64::from(br.bands.1 - br.bands.0) + 1) as u8
    };
    let shape_prior: [f64; 8] = match m.gender {
        0 => [1.3, 0.7, 0.6, 1.8, 0.6, 0.5, 1.3, 1.0],
        1 => [0.9, 1.5, 1.6, 0.05, 1.3, 1.1, 0.6, 0.7],
        _ => [1.2, 1.2, 1.0, 0.5, 1.0, 0.8, 1.0, 0.9],
    };
    let mut shape_w = shape_prior;
    if sun {
        shape_w[4] *= 2.0; // aviators are a sunglasses staple
    }
    m.shape = rng.weighted(&shape_w).unwrap_or(0) as u8;
    m.material = rng.weighted(&br.materials).unwrap_or(0) as u8;
    let colour_prior: [f64; 12] = match m.material {
        0 => [5.0, 4.0, 0.0, 0.0, 0.0, 1.5, 1.5, 1.5, 1.2, 0.0, 2.0, 1.0],
        1 | 2 => [1.5, 0.0, 4.0, 4.0, 3.0, 0.5, 0.0, 0.2, 0.2, 2.0, 0.0, 1.5],
        3 => [5.0, 0.5, 0.0, 0.0, 1.0, 2.5, 1.0, 0.5, 1.5, 0.0, 0.0, 2.5],
        _ => [3.0, 3.0, 2.0, 1.0, 1.0, 1.0, 0.5, 1.0, 0.5, 1.0, 1.5, 1.0],
    };
    m.colour = rng.weighted(&colour_prior).unwrap_or(0) as u8;
    let mut colours = vec![COLOURS[m.colour as usize].to_owned()];
    if rng.chance(0.3) {
        let c2 = rng.weighted(&colour_prior).unwrap_or(0);
        if c2 != m.colour as usize {
            colours.push(COLOURS[c2].to_owned());
        }
    }
    m.polarised =
        sun && (brand == MAUI_JIM || rng.chance(if brand == OAKLEY { 0.55 } else { 0.35 }));
    m.in_stock = !rng.chance(0.055);
    m.markets = if br.markets != 0 {
        br.markets
    } else if rng.chance(0.05) {
        MARKETS[rng.index(MARKETS.len())]
    } else {
        ALL_REGIONS
    };
    let (lo, hi) = [(35.0, 80.0), (89.0, 150.0), (159.0, 250.0), (259.0, 480.0)][m.band as usize];
    let mut price = shelf_price(rng, lo, hi);
    if sun {
        price += 10.0;
        if m.polarised {
            price += 20.0;
        }
    }
    if kids {
        price = shelf_price(rng, 25.0, 70.0);
    }
    let (prefix, suffix) = match (brand, kids, sun) {
        (RAY_BAN, true, false) => ("RY", ""),
        (RAY_BAN, true, true) => ("RJ", "S"),
        (OAKLEY, true, false) => ("OY", ""),
        (OAKLEY, true, true) => ("OJ", ""),
        (_, _, true) => br.sun,
        _ => br.optical,
    };
    let code = format!("{prefix}{:04}{suffix}", rng.range(1, 9999));
    let names = MODEL_NAMES[m.shape as usize];
    let name = names[rng.index(names.len())];
    let brand_name = if kids && brand != SIGHTLINE_KIDS {
        format!("{} Junior", br.name)
    } else {
        br.name.to_owned()
    };
    let colour_title = COLOURS[m.colour as usize].replace('_', " ");
    let title = format!(
        "{brand_name} {code} {name} – {colour_title} {}",
        MATERIAL_TITLE[m.material as usize]
    );
    let mut attrs = BTreeMap::from([
        ("shape".to_owned(), text(SHAPES[m.shape as usize])),
        ("material".to_owned(), text(MATERIALS[m.material as usize])),
        ("colours".to_owned(), AttrValue::List(colours)),
        ("gender".to_owned(), text(GENDERS[m.gender as usize])),
        ("price_band".to_owned(), text(BANDS[m.band as usize])),
        (
            "lens_width".to_owned(),
            AttrValue::Number(
                rng.range(if kids { 40 } else { 48 }, if kids { 47 } else { 58 }) as f64,
            ),
        ),
        (
            "bridge".to_owned(),
            AttrValue::Number(rng.range(15, 22) as f64),
        ),
    ]);
    if sun {
        attrs.insert(
            "polarised".to_owned(),
            text(if m.polarised { "yes" } else { "no" }),
        );
        let tints = [
            "grey",
            "green",
            "brown",
            "blue_mirror",
            "gold_mirror",
            "rose",
        ];
        attrs.insert(
            "lens_colour".to_owned(),
            text(tints[rng.index(tints.len())]),
        );
        attrs.insert("uv_protection".to_owned(), text("UV400"));
    }
    b.push(m, title, &brand_name, price, attrs)
}

fn accessories(b: &mut CatalogBuilder, rng: &mut Rand, count: usize) -> Result<()> {
    let mut specs: Vec<(u8, String, f64, u8, u8)> = Vec::new(); // (type, name, price, brand, colour)
    for &(t, name, price) in &OWN_ACCESSORIES {
        specs.push((t, format!("Sightline {name}"), price, NA_BRAND, NA_COLOUR));
    }
    for (i, br) in BRANDS.iter().enumerate().filter(|(_, br)| br.case) {
        specs.push((0, format!("{} hard case", br.name), 25.0, i as u8, 0));
    }
    for &c in &ACC_COLOURS {
        for &(t, name, price) in OWN_ACCESSORIES.iter().filter(|a| {
            matches!(
                a.1,
                "hard case" | "soft pouch" | "microfibre cloth" | "glasses chain"
            )
        }) {
            let colour = COLOURS[c as usize].replace('_', " ");
            specs.push((
                t,
                format!("Sightline {name} – {colour}"),
                price + 2.0,
                NA_BRAND,
                c,
            ));
        }
    }
    for (t, title, price, brand, colour) in specs.into_iter().take(count) {
        let mut m = Meta::new(ACCESSORIES);
        m.sub = t;
        m.brand = brand;
        m.colour = colour;
        m.in_stock = !rng.chance(0.055);
        let brand_name = if brand == NA_BRAND {
            "Sightline"
        } else {
            BRANDS[brand as usize].name
        };
        let mut attrs = BTreeMap::from([("type".to_owned(), text(ACC_TYPES[t as usize]))]);
        if colour != NA_COLOUR {
            attrs.insert(
                "colours".to_owned(),
                AttrValue::List(vec![COLOURS[colour as usize].to_owned()]),
            );
        }
        b.push(m, title, brand_name, price - 0.01, attrs)?;
    }
    Ok(())
}

// ───────────────────────────── world ─────────────────────────────

/// Precomputed per-region item weights and lookup tables.
struct World<'a> {
    metas: &'a [Meta],
    by_cat: [Vec<u32>; 8],
    /// base[r][i]: popularity × planted regional bias, 0 where not sold.
    base: Vec<Vec<f64>>,
    brand_case: Vec<Option<u32>>,
}

impl<'a> World<'a> {
    fn new(metas: &'a [Meta]) -> Self {
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

    fn sold_in(&self, item: u32, region: usize) -> bool {
        self.metas[item as usize].markets & (1 << region) != 0
    }

    /// Picks one item of `cat` sold in `region`, weighted by `score`.
    fn pick(
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

// ───────────────────────────── customers ─────────────────────────────

/// A customer's latent tastes and needs (never exported).
struct Profile {
    region: usize,
    channel: u8,
    shape_w: [f64; 9],
    mat_w: [f64; 6],
    colour_w: [f64; 13],
    band_w: [f64; 5],
    gender_w: [f64; 5],
    brand_w: [f64; BRANDS.len() + 1],
    sun_affinity: f64,
    has_kids: bool,
    age: usize,
    contact_lens: Option<u32>,
    solution: Option<u32>,
    lens: Option<u32>,
    kids_lens: Option<u32>,
    coating: Option<u32>,
    case: Option<u32>,
    cloth: Option<u32>,
    eye_test: Option<u32>,
    kids_eye_test: Option<u32>,
    activity: f64,
}

/// Draws `k` distinct indices by weight and multiplies their slots in
/// `table` by `boosts`.
fn boost_top(rng: &mut Rand, prior: &[f64], table: &mut [f64], boosts: &[f64]) {
    let mut w = prior.to_vec();
    for &f in boosts {
        if let Some(k) = rng.weighted(&w) {
            table[k] *= f;
            w[k] = 0.0;
        }
    }
}

/// Style personas correlate a customer's tastes across attributes (a
/// minimal-titanium customer also likes silver and Lindberg), which is
/// what makes items co-occur in clusters.
struct Persona {
    shapes: &'static [usize],
    materials: &'static [usize],
    colours: &'static [usize],
    brands: &'static [usize],
}

#[rustfmt::skip]
const PERSONAS: [Persona; 6] = [
    // classic
    Persona { shapes: &[1, 2, 5], materials: &[0], colours: &[0, 1, 10], brands: &[0, 5, 9, 16] },
    // fashion / luxury
    Persona { shapes: &[3, 6, 7], materials: &[0, 4], colours: &[7, 9, 6, 1], brands: &[2, 3, 4, 6] },
    // minimal
    Persona { shapes: &[0, 6, 2], materials: &[2, 1], colours: &[3, 4, 11], brands: &[7, 8, 6] },
    // sporty
    Persona { shapes: &[4, 2, 7], materials: &[3, 1], colours: &[0, 5, 11, 4], brands: &[1, 12, 14, 15] },
    // trend / value
    Persona { shapes: &[0, 7, 3], materials: &[3, 0], colours: &[8, 6, 5, 7], brands: &[16, 11, 10, 13, 15] },
    // retro
    Persona { shapes: &[0, 5, 4], materials: &[1, 4], colours: &[2, 1, 10], brands: &[0, 5, 6, 12] },
];

/// Persona prior of a region (classic, fashion, minimal, sporty, trend, retro).
fn persona_prior(region: usize) -> [f64; 6] {
    match REGIONS[region].0 {
        "uk-london" => [1.0, 2.0, 1.0, 0.7, 1.2, 1.0],
        "uk-north-west" => [1.0, 0.7, 0.6, 2.2, 1.0, 1.0],
        "nl" => [0.8, 1.0, 1.0, 0.8, 1.8, 1.2],
        "se" | "no" | "dk" | "fi" => [0.8, 0.8, 2.5, 1.0, 1.0, 0.8],
        "au" | "nz" => [0.8, 0.8, 0.7, 2.0, 1.2, 1.0],
        _ => [1.2, 1.0, 0.8, 1.0, 1.0, 1.0],
    }
}

fn persona_boost(prior: &mut [f64], favourites: &[usize], f: f64) {
    for &k in favourites {
        if let Some(w) = prior.get_mut(k) {
            *w *= f;
        }
    }
}

fn build_customers(cfg: &DemoConfig, world: &World) -> (Vec<Customer>, Vec<Profile>) {
    let mut rng = Rand::new(cfg.seed, 2, 0);
    let region_w: Vec<f64> = REGION_PARAMS.iter().map(|r| r.weight).collect();
    let mut customers = Vec::with_capacity(cfg.customers);
    let mut profiles = Vec::with_capacity(cfg.customers);
    for c in 0..cfg.customers {
        let region = rng.weighted(&region_w).unwrap_or(0);
        let rp = &REGION_PARAMS[region];
        let gender = rng.weighted(&[0.52, 0.46, 0.02]).unwrap_or(2);
        let age = rng
            .weighted(&[10.0, 18.0, 19.0, 20.0, 18.0, 15.0])
            .unwrap_or(2);
        let channel = rng.weighted(&rp.channels[..3]).unwrap_or(0) as u8;
        let persona = &PERSONAS[rng.weighted(&persona_prior(region)).unwrap_or(0)];
        const PB: f64 = 15.0;

        let mut shape_w = [1.0; 9];
        let shape_prior: [f64; 8] = match gender {
            0 => [1.3, 0.7, 0.6, 1.8, 0.5, 0.4, 1.3, 1.0],
            1 => [1.0, 1.5, 1.6, 0.05, 1.2, 1.1, 0.6, 0.7],
            _ => FLAT8,
        };
        let mut prior: Vec<f64> = shape_prior
            .iter()
            .zip(rp.shapes)
            .map(|(a, b)| a * b)
            .collect();
        persona_boost(&mut prior, persona.shapes, PB);
        boost_top(&mut rng, &prior, &mut shape_w, &[16.0, 4.0]);

        let mut mat_w = [1.0; 6];
        let mut prior: Vec<f64> = [1.6, 1.3, if age >= 3 { 0.9 } else { 0.6 }, 0.8, 0.5]
            .iter()
            .zip(rp.materials)
            .map(|(a, b)| a * b)
            .collect();
        persona_boost(&mut prior, persona.materials, PB);
        let second = if rng.chance(0.5) { 2.0 } else { 1.0 };
        boost_top(&mut rng, &prior, &mut mat_w, &[5.0, second]);

        let band_prior = match age {
            0 | 1 => [0.35, 0.40, 0.18, 0.07],
            2..=4 => [0.18, 0.38, 0.29, 0.15],
            _ => [0.22, 0.40, 0.28, 0.10],
        };
        let prior: Vec<f64> = band_prior
            .iter()
            .zip(rp.bands)
            .map(|(a, b)| a * b)
            .collect();
        let band = rng.weighted(&prior).unwrap_or(1);
        let mut band_w = [1.0; 5];
        for (k, w) in band_w.iter_mut().take(4).enumerate() {
            *w = match k.abs_diff(band) {
                0 => 6.0,
                1 => 2.0,
                _ => 0.35,
            };
        }

        let mut brand_w = [1.0; BRANDS.len() + 1];
        let mut prior: Vec<f64> = BRANDS
            .iter()
            .enumerate()
            .map(|(i, br)| {
                if br.markets != 0 && br.markets & (1 << region) == 0 {
                    return 0.0;
                }
                let fit = if (br.bands.0 as usize..=br.bands.1 as usize).contains(&band) {
                    1.0
                } else if band + 1 >= br.bands.0 as usize && band <= br.bands.1 as usize + 1 {
                    0.3
                } else {
                    0.05
                };
                let bias = rp
                    .brands
                    .iter()
                    .find(|(b, _)| *b == i)
                    .map_or(1.0, |&(_, f)| f);
                br.weight.sqrt() * fit * bias * bias
            })
            .collect();
        persona_boost(&mut prior, persona.brands, PB);
        boost_top(&mut rng, &prior, &mut brand_w, &[30.0, 6.0, 2.0]);

        let mut colour_w = [1.0; 13];
        let colour_prior: [f64; 12] = match gender {
            0 => [1.0, 1.4, 1.2, 0.8, 0.6, 0.8, 1.0, 1.4, 0.9, 1.6, 1.2, 0.7],
            1 => [1.6, 1.2, 0.8, 1.0, 1.3, 1.2, 0.7, 0.4, 0.8, 0.2, 1.0, 1.2],
            _ => FLAT12,
        };
        let mut prior: Vec<f64> = colour_prior
            .iter()
            .zip(rp.colours)
            .map(|(a, b)| a * b)
            .collect();
        persona_boost(&mut prior, persona.colours, PB);
        boost_top(&mut rng, &prior, &mut colour_w, &[3.0, 2.0]);

        let gender_w = match gender {
            0 => [1.0, 0.05, 0.7, 0.0, 1.0],
            1 => [0.04, 1.0, 0.8, 0.0, 1.0],
            _ => [0.5, 0.5, 1.0, 0.0, 1.0],
        };
        let sun_affinity = 0.3 + 1.4 * rng.f64();
        let has_kids = (1..=3).contains(&age) && rng.chance(0.35);

        // Needs: contact lenses, prescription lenses, coating, case, eye test.
        let wears_contacts = rng.chance(if age <= 2 { 0.30 } else { 0.18 });
        let cl_type = if age >= 3 {
            rng.weighted(&[0.2, 0.15, 0.15, 0.5])
        } else {
            rng.weighted(&[0.55, 0.25, 0.2, 0.0])
        }
        .unwrap_or(0) as u8;
        let contact_lens = if wears_contacts {
            world.pick(&mut rng, CONTACTS, region, |m| {
                m.pop
                    * if m.sub == cl_type { 20.0 } else { 0.2 }
                    * if m.band == 0 && band == 0 { 3.0 } else { 1.0 }
            })
        } else {
            None
        };
        let solution = match contact_lens {
            Some(cl) if world.metas[cl as usize].needs_solution => {
                let own = band == 0;
                world.pick(&mut rng, SOLUTIONS, region, |m| {
                    m.pop * if own { 2.0 } else { 1.0 }
                })
            }
            _ => None,
        };
        let lens_type = match age {
            0..=1 => 0,
            2 => rng.weighted(&[0.9, 0.0, 0.1]).unwrap_or(0),
            3 => rng.weighted(&[0.2, 0.55, 0.25]).unwrap_or(0),
            4 => rng.weighted(&[0.1, 0.7, 0.2]).unwrap_or(1),
            _ => rng.weighted(&[0.1, 0.75, 0.15]).unwrap_or(1),
        } as u8;
        let index = (rng.weighted(&[0.5, 0.3, 0.15, 0.05]).unwrap_or(0)
            + usize::from(band >= 2 && rng.chance(0.4)))
        .min(3) as u8;
        let lens_score = |m: &Meta, t: u8, ix: u8| {
            (if m.sub == t { 30.0 } else { 0.1 })
                * (if m.index == ix { 8.0 } else { 0.3 })
                * (if usize::from(m.band) == band {
                    4.0
                } else {
                    1.0
                })
        };
        let lens = world.pick(&mut rng, LENSES, region, |m| {
            lens_score(m, lens_type, index)
        });
        let kids_lens = if has_kids {
            world.pick(&mut rng, LENSES, region, |m| lens_score(m, 0, 0))
        } else {
            None
        };
        let coating_type = rng
            .weighted(&[
                0.45,
                if age <= 1 { 0.4 } else { 0.2 },
                (if age >= 3 { 0.25 } else { 0.1 }) * rp.photochromic,
                0.12,
            ])
            .unwrap_or(0) as u8;
        let coating = world.pick(&mut rng, COATING, region, |m| {
            (if m.sub == coating_type { 30.0 } else { 0.2 })
                * if usize::from(m.band) == band {
                    3.0
                } else {
                    1.0
                }
        });
        let case = world.pick(&mut rng, ACCESSORIES, region, |m| {
            if m.sub == 0 && m.brand == NA_BRAND {
                m.pop * colour_w[m.colour as usize]
            } else {
                0.0
            }
        });
        let cloth = world.pick(&mut rng, ACCESSORIES, region, |m| {
            if m.sub == 1 {
                m.pop * colour_w[m.colour as usize]
            } else {
                0.0
            }
        });
        let mut test_w = [0.0; 6];
        test_w[ET_STANDARD as usize] = 1.0;
        test_w[ET_DRIVING as usize] = 0.06;
        if wears_contacts {
            test_w[ET_CONTACTS as usize] = 1.2;
        }
        if age >= 3 {
            test_w[ET_OCT as usize] = 0.5;
        }
        if age >= 5 {
            test_w[ET_HOME as usize] = 0.3;
        }
        let eye_test = world.pick(&mut rng, EYE_TESTS, region, |m| test_w[m.sub as usize]);
        let kids_eye_test = world.pick(&mut rng, EYE_TESTS, region, |m| {
            if m.sub == ET_CHILD {
                1.0
            } else {
                0.0
            }
        });

        // Heavy-tailed activity: Pareto with shape 4/3 (u^-3/4 via two
        // square roots), truncated so no single customer dominates.
        let u = 1.0 - rng.f64();
        let activity = (1.0 / (u.sqrt() * u.sqrt().sqrt())).min(60.0);

        let (code, country, _) = REGIONS[region];
        customers.push(Customer {
            id: format!("C{:06}", c + 1),
            region: code.to_owned(),
            country: country.to_owned(),
            channel: Channel::ALL[channel as usize],
            gender: ["female", "male", "unspecified"][gender].to_owned(),
            age_band: AGE_BANDS[age].to_owned(),
        });
        profiles.push(Profile {
            region,
            channel,
            shape_w,
            mat_w,
            colour_w,
            band_w,
            gender_w,
            brand_w,
            sun_affinity,
            has_kids,
            age,
            contact_lens,
            solution,
            lens,
            kids_lens,
            coating,
            case,
            cloth,
            eye_test,
            kids_eye_test,
            activity,
        });
    }
    (customers, profiles)
}

// ───────────────────────────── events ─────────────────────────────

/// A compact event before strings are attached.
#[derive(Clone, Copy)]
struct Raw {
    ts: i64,
    user: u32,
    item: u32,
    session: u32,
    kind: u8,
    channel: u8,
}

const VIEW: u8 = 0;
const CLICK: u8 = 1;
const CART: u8 = 2;
const BUY: u8 = 3;

/// Browsing pools a session can draw from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pool {
    Frames,
    Sunglasses,
    Kids,
    Accessories,
    Contacts,
    Lenses,
}
const N_POOLS: usize = 6;

#[derive(Clone, Copy)]
enum SessionKind {
    Browse(Pool),
    /// A frames (or kids' frames) visit after an eye test: buys more often.
    AfterTest(Pool),
    EyeTest {
        kids: bool,
    },
    Reorder,
}

struct Plan {
    day: u32,
    kind: SessionKind,
}

/// Mean events per session, measured; turns the event target into a
/// session budget.
const EVENTS_PER_SESSION: f64 = 6.75;

/// A customer's sampling distribution over one pool (cumulative weights).
#[derive(Default)]
struct Cdf {
    ready: bool,
    items: Vec<u32>,
    cum: Vec<f64>,
}

impl Cdf {
    fn sample(&self, rng: &mut Rand) -> Option<u32> {
        let total = *self.cum.last()?;
        let x = rng.f64() * total;
        let k = self
            .cum
            .partition_point(|&c| c <= x)
            .min(self.items.len() - 1);
        Some(self.items[k])
    }
}

struct Session<'a> {
    out: &'a mut Vec<Raw>,
    user: u32,
    session: u32,
    channel: u8,
    ts: i64,
    end: i64,
}

impl Session<'_> {
    fn emit(&mut self, item: u32, kind: u8) {
        self.out.push(Raw {
            ts: self.ts.min(self.end - 1),
            user: self.user,
            item,
            session: self.session,
            kind,
            channel: self.channel,
        });
    }

    fn wait(&mut self, rng: &mut Rand, lo: i64, hi: i64) {
        self.ts += rng.range(lo, hi);
    }

    /// A "goes well with" add-on: view, add to cart, buy (only a view when
    /// out of stock).
    fn add_on(&mut self, rng: &mut Rand, world: &World, item: Option<u32>, p: f64) {
        if let Some(i) = item {
            if rng.chance(p) {
                self.wait(rng, 10, 90);
                self.emit(i, VIEW);
                if !world.metas[i as usize].in_stock {
                    return;
                }
                self.wait(rng, 5, 60);
                self.emit(i, CART);
                self.wait(rng, 20, 120);
                self.emit(i, BUY);
            }
        }
    }
}

fn fill_cdf(cdf: &mut Cdf, pool: Pool, p: &Profile, world: &World) {
    cdf.ready = true;
    cdf.items.clear();
    cdf.cum.clear();
    let base = &world.base[p.region];
    let mut total = 0.0;
    let mut add = |cats: &[u8], f: &dyn Fn(&Meta) -> f64| {
        for &cat in cats {
            for &i in &world.by_cat[cat as usize] {
                let w = base[i as usize] * f(&world.metas[i as usize]);
                if w > 0.0 {
                    total += w;
                    cdf.items.push(i);
                    cdf.cum.push(total);
                }
            }
        }
    };
    let taste = |m: &Meta| {
        p.shape_w[m.shape as usize]
            * p.mat_w[m.material as usize]
            * p.colour_w[m.colour as usize]
            * p.band_w[m.band as usize]
            * p.brand_w[m.brand as usize]
    };
    match pool {
        Pool::Frames => add(&[FRAMES], &|m| taste(m) * p.gender_w[m.gender as usize]),
        Pool::Sunglasses => add(&[SUNGLASSES], &|m| taste(m) * p.gender_w[m.gender as usize]),
        Pool::Kids => add(&[FRAMES, SUNGLASSES], &|m| {
            if m.gender == KIDS {
                taste(m)
            } else {
                0.0
            }
        }),
        Pool::Accessories => add(&[ACCESSORIES], &|m| {
            p.colour_w[m.colour as usize] * p.brand_w[m.brand as usize]
        }),
        Pool::Contacts => {
            let own = p.contact_lens.map(|i| &world.metas[i as usize]);
            add(&[CONTACTS], &|m| match own {
                Some(o) if o.sub == m.sub => 4.0,
                Some(_) => 0.5,
                None => 1.0,
            })
        }
        Pool::Lenses => {
            let own = p.lens.map(|i| &world.metas[i as usize]);
            add(&[LENSES, COATING], &|m| match own {
                Some(o) if m.cat == LENSES && o.sub == m.sub => {
                    4.0 * if o.index == m.index { 3.0 } else { 1.0 }
                }
                _ => 0.5,
            })
        }
    }
}

fn pool_slot(p: Pool) -> usize {
    match p {
        Pool::Frames => 0,
        Pool::Sunglasses => 1,
        Pool::Kids => 2,
        Pool::Accessories => 3,
        Pool::Contacts => 4,
        Pool::Lenses => 5,
    }
}

/// Year fraction (0 = 1 January) of day `day` of the window.
fn year_phase(cfg: &DemoConfig, day: u32) -> f64 {
    let d = (cfg.start.div_euclid(86_400) + i64::from(day)) as f64;
    d.rem_euclid(365.2425) / 365.2425
}

/// Session plans of one customer: contact-lens re-orders, eye tests with a
/// frames visit after them, and browsing sessions whose category follows
/// the season and the customer's interests.
fn plan_sessions(
    cfg: &DemoConfig,
    world: &World,
    p: &Profile,
    n: u32,
    rng: &mut Rand,
    plans: &mut Vec<Plan>,
) {
    plans.clear();
    let days = cfg.days;
    let mut left = n;
    if let Some(cl) = p.contact_lens {
        let period = world.metas[cl as usize].pack_days.max(1);
        let reorders = (days / period).min(left.saturating_sub(u32::from(left >= 2)));
        let phase = rng.below(u64::from(period)) as i64;
        for k in 0..reorders {
            let day =
                (phase + i64::from(k * period) + rng.range(-4, 4)).clamp(0, i64::from(days) - 1);
            plans.push(Plan {
                day: day as u32,
                kind: SessionKind::Reorder,
            });
        }
        left -= reorders;
    }
    let tests = [
        (
            false,
            p.eye_test.is_some(),
            0.30 + if p.age >= 3 { 0.25 } else { 0.0 },
        ),
        (true, p.has_kids, 0.4),
    ];
    for (kids, possible, prob) in tests {
        if left >= 1 && possible && rng.chance(prob) {
            let day = rng.below(u64::from(days)) as u32;
            plans.push(Plan {
                day,
                kind: SessionKind::EyeTest { kids },
            });
            left -= 1;
            let after = day + 1 + rng.below(20) as u32;
            if left >= 1 && after < days && rng.chance(0.7) {
                let pool = if kids { Pool::Kids } else { Pool::Frames };
                plans.push(Plan {
                    day: after,
                    kind: SessionKind::AfterTest(pool),
                });
                left -= 1;
            }
        }
    }
    let rp = &REGION_PARAMS[p.region];
    let sun_peak = if rp.south { 0.04 } else { 0.54 };
    for _ in 0..left {
        let day = rng.below(u64::from(days)) as u32;
        let y = year_phase(cfg, day);
        let w = [
            0.45 * (1.0 + 0.15 * cos_turn(y - 0.03)),
            rp.sun_share * p.sun_affinity * (1.0 + 0.85 * cos_turn(y - sun_peak)),
            if p.has_kids {
                0.10 * (1.0 + 0.5 * cos_turn(y - 0.66))
            } else {
                0.0
            },
            0.035,
            if p.contact_lens.is_some() {
                0.05
            } else {
                0.012
            },
            0.035,
        ];
        let pool = [
            Pool::Frames,
            Pool::Sunglasses,
            Pool::Kids,
            Pool::Accessories,
            Pool::Contacts,
            Pool::Lenses,
        ][rng.weighted(&w).unwrap_or(0)];
        plans.push(Plan {
            day,
            kind: SessionKind::Browse(pool),
        });
    }
}

fn build_events(
    cfg: &DemoConfig,
    world: &World,
    catalog: &Catalog,
    customers: &[Customer],
    profiles: &[Profile],
) -> Vec<Event> {
    let end = cfg.end();
    // Session budget shared out by activity, with stochastic rounding so
    // light customers sometimes have none at all.
    let total_sessions = (cfg.events as f64 / EVENTS_PER_SESSION).max(1.0);
    let activity_sum: f64 = profiles.iter().map(|p| p.activity).sum();
    let mut alloc_rng = Rand::new(cfg.seed, 3, 0);
    let counts: Vec<u32> = profiles
        .iter()
        .map(|p| {
            let x = total_sessions * p.activity / activity_sum;
            let whole = x.floor();
            (whole as u32).saturating_add(u32::from(alloc_rng.chance(x - whole)))
        })
        .collect();

    let mut raw: Vec<Raw> = Vec::with_capacity(cfg.events + cfg.events / 4);
    let mut cdfs: Vec<Cdf> = (0..N_POOLS).map(|_| Cdf::default()).collect();
    let mut plans = Vec::new();
    let mut session_no: u32 = 0;
    for (c, p) in profiles.iter().enumerate() {
        let mut rng = Rand::new(cfg.seed, 4, c as u64);
        plan_sessions(cfg, world, p, counts[c], &mut rng, &mut plans);
        for cdf in &mut cdfs {
            cdf.ready = false;
        }
        let rp = &REGION_PARAMS[p.region];
        for plan in &plans {
            let channel = match plan.kind {
                SessionKind::Reorder if rng.chance(0.4) => 3,
                _ if rng.chance(0.65) => p.channel,
                _ => rng.weighted(&rp.channels).unwrap_or(0) as u8,
            };
            let hour = if channel == 2 {
                rng.range(9, 17)
            } else {
                rng.range(7, 22)
            };
            let ts = cfg.start + i64::from(plan.day) * 86_400 + hour * 3600 + rng.range(0, 3599);
            let mut s = Session {
                out: &mut raw,
                user: c as u32,
                session: session_no,
                channel,
                ts,
                end,
            };
            session_no = session_no.saturating_add(1);
            match plan.kind {
                SessionKind::Browse(pool) | SessionKind::AfterTest(pool) => {
                    let slot = pool_slot(pool);
                    if !cdfs[slot].ready {
                        fill_cdf(&mut cdfs[slot], pool, p, world);
                    }
                    let after = matches!(plan.kind, SessionKind::AfterTest(_));
                    browse(&mut s, &mut rng, &cdfs[slot], pool, p, world, after);
                }
                SessionKind::EyeTest { kids } => {
                    if let Some(t) = if kids { p.kids_eye_test } else { p.eye_test } {
                        s.emit(t, VIEW);
                        if rng.chance(0.5) {
                            s.wait(&mut rng, 5, 60);
                            s.emit(t, CLICK);
                        }
                        if rng.chance(0.85) {
                            s.wait(&mut rng, 30, 240);
                            s.emit(t, BUY);
                        }
                    }
                }
                SessionKind::Reorder => {
                    if let Some(cl) = p.contact_lens {
                        if rng.chance(0.6) {
                            s.emit(cl, VIEW);
                            s.wait(&mut rng, 5, 60);
                        }
                        s.emit(cl, CART);
                        if world.metas[cl as usize].in_stock && rng.chance(0.92) {
                            s.wait(&mut rng, 20, 180);
                            s.emit(cl, BUY);
                            s.add_on(&mut rng, world, p.solution, 0.7);
                        }
                    }
                }
            }
        }
    }

    // Stable sort keeps in-session order for equal timestamps.
    raw.sort_by_key(|r| r.ts);
    // Session ids numbered in order of first appearance.
    let mut session_ids = vec![u32::MAX; session_no as usize];
    let mut next = 0u32;
    for r in &raw {
        let s = &mut session_ids[r.session as usize];
        if *s == u32::MAX {
            *s = next;
            next += 1;
        }
    }
    let session_strs: Vec<String> = (0..next).map(|k| format!("S{:07}", k + 1)).collect();
    let item_ids = catalog.ids().ids();
    let kinds = [
        EventKind::View,
        EventKind::Click,
        EventKind::AddToCart,
        EventKind::Purchase,
    ];
    raw.iter()
        .map(|r| {
            let cust = &customers[r.user as usize];
            Event {
                user: cust.id.clone(),
                item: item_ids[r.item as usize].clone(),
                kind: kinds[r.kind as usize].clone(),
                timestamp: r.ts,
                region: Some(cust.region.clone()),
                channel: Some(Channel::ALL[r.channel as usize]),
                session: Some(session_strs[session_ids[r.session as usize] as usize].clone()),
            }
        })
        .collect()
}

/// A browsing session: views drawn from the customer's taste distribution,
/// some clicks and add-to-carts, maybe a purchase with its add-ons.
fn browse(
    s: &mut Session,
    rng: &mut Rand,
    cdf: &Cdf,
    pool: Pool,
    p: &Profile,
    world: &World,
    after_test: bool,
) {
    let store = s.channel == 2;
    let n_views = 1 + rng.geometric(if store { 0.35 } else { 0.2 }, 40);
    let p_cart = if after_test {
        0.3
    } else if store {
        0.22
    } else {
        0.1
    };
    let mut cart: Vec<u32> = Vec::new();
    for v in 0..n_views {
        let Some(item) = cdf.sample(rng) else { return };
        if v > 0 {
            s.wait(rng, 10, 150);
        }
        s.emit(item, VIEW);
        if rng.chance(0.35) {
            s.wait(rng, 3, 40);
            s.emit(item, CLICK);
        }
        if world.metas[item as usize].in_stock && !cart.contains(&item) && rng.chance(p_cart) {
            s.wait(rng, 5, 60);
            s.emit(item, CART);
            cart.push(item);
        }
    }
    let p_buy = if after_test {
        0.8
    } else if store {
        0.7
    } else {
        0.45
    };
    if cart.is_empty() || !rng.chance(p_buy) {
        return;
    }
    for (k, &item) in cart.iter().enumerate() {
        if k > 0 && !rng.chance(0.15) {
            continue;
        }
        s.wait(rng, 30, 300);
        s.emit(item, BUY);
        let m = &world.metas[item as usize];
        match pool {
            Pool::Frames | Pool::Kids if m.cat == FRAMES => {
                let kids = m.gender == KIDS;
                s.add_on(rng, world, if kids { p.kids_lens } else { p.lens }, 0.9);
                let coating = if kids {
                    world.by_cat[COATING as usize]
                        .iter()
                        .copied()
                        .find(|&i| world.metas[i as usize].sub == 3)
                } else {
                    p.coating
                };
                s.add_on(rng, world, coating, 0.65);
                let case = world
                    .brand_case
                    .get(m.brand as usize)
                    .copied()
                    .flatten()
                    .filter(|&i| world.sold_in(i, p.region))
                    .or(p.case);
                s.add_on(rng, world, case, 0.45);
                s.add_on(rng, world, p.cloth, 0.2);
            }
            Pool::Sunglasses | Pool::Kids => {
                let case = world
                    .brand_case
                    .get(m.brand as usize)
                    .copied()
                    .flatten()
                    .filter(|&i| world.sold_in(i, p.region));
                s.add_on(rng, world, case, 0.35);
                s.add_on(rng, world, p.cloth, 0.12);
            }
            Pool::Contacts => s.add_on(rng, world, p.solution, 0.6),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap, HashSet};
    use std::sync::OnceLock;

    fn small() -> &'static DemoData {
        static DATA: OnceLock<DemoData> = OnceLock::new();
        DATA.get_or_init(|| generate(&DemoConfig::small()).unwrap())
    }

    #[test]
    fn deterministic_and_seed_sensitive() {
        let cfg = DemoConfig {
            customers: 300,
            products: 120,
            events: 8_000,
            ..Default::default()
        };
        let a = generate(&cfg).unwrap();
        let b = generate(&cfg).unwrap();
        assert_eq!(a, b);
        let c = generate(&DemoConfig { seed: 43, ..cfg }).unwrap();
        assert_ne!(a.events, c.events);
        assert_ne!(a.catalog, c.catalog);
    }

    #[test]
    fn sizes_and_references() {
        let cfg = DemoConfig::small();
        let d = small();
        assert_eq!(d.customers.len(), cfg.customers);
        assert_eq!(d.catalog.len(), cfg.products);
        let n = d.events.len() as f64;
        assert!(
            (n - cfg.events as f64).abs() <= 0.25 * cfg.events as f64,
            "{n} events"
        );
        let custs: HashMap<&str, &Customer> =
            d.customers.iter().map(|c| (c.id.as_str(), c)).collect();
        assert_eq!(d.customers[0].id, "C000001");
        let end = cfg.start + i64::from(cfg.days) * 86_400;
        for w in d.events.windows(2) {
            assert!(w[0].timestamp <= w[1].timestamp);
        }
        for e in &d.events {
            let c = custs[e.user.as_str()];
            let item = d.catalog.get(&e.item).expect("event item in catalog");
            assert!(e.timestamp >= cfg.start && e.timestamp < end);
            assert_eq!(e.region.as_deref(), Some(c.region.as_str()));
            assert!(
                item.available_in(&c.region),
                "{} not sold in {}",
                item.id,
                c.region
            );
            assert!(e
                .session
                .as_deref()
                .is_some_and(|s| s.starts_with('S') && s.len() == 8));
            assert!(e.channel.is_some());
            if e.kind == EventKind::Purchase {
                assert!(item.in_stock);
            }
        }
        assert_eq!(d.events[0].session.as_deref(), Some("S0000001"));
        let x = d.interactions(&KindWeights::default()).unwrap();
        assert_eq!(x.n_users(), cfg.customers);
        assert_eq!(x.n_items(), cfg.products);
        assert_eq!(x.users().ids()[0], "C000001");
    }

    #[test]
    fn catalog_content() {
        let d = small();
        let cats: BTreeSet<&str> = d
            .catalog
            .items()
            .iter()
            .map(|i| i.category.as_str())
            .collect();
        assert_eq!(cats, CATEGORIES.iter().copied().collect());
        let used: BTreeSet<&str> = d
            .events
            .iter()
            .map(|e| d.catalog.get(&e.item).unwrap().category.as_str())
            .collect();
        assert_eq!(used, cats, "every category sees events");
        let out = d.catalog.items().iter().filter(|i| !i.in_stock).count() as f64
            / d.catalog.len() as f64;
        assert!((0.01..0.10).contains(&out), "{out}");
        assert!(d.catalog.items().iter().any(|i| !i.regions.is_empty()));
        let f = d.catalog.get("FR-00001").unwrap();
        assert_eq!(f.category, "frames");
        for key in ["shape", "material", "colours", "gender", "price_band"] {
            assert!(f.attributes.contains_key(key), "{key}");
        }
        let sg = d
            .catalog
            .items()
            .iter()
            .find(|i| i.category == "sunglasses")
            .unwrap();
        assert!(sg.id.starts_with("SG-") && sg.attributes.contains_key("polarised"));
        let ln = d
            .catalog
            .items()
            .iter()
            .find(|i| i.category == "lenses")
            .unwrap();
        assert!(matches!(ln.attributes["index"], AttrValue::Number(_)));
        for i in d.catalog.items() {
            assert!(i.price.is_some_and(|p| p >= 0.0) && i.brand.is_some() && !i.title.is_empty());
        }
        let et: Vec<&str> = d
            .catalog
            .items()
            .iter()
            .filter(|i| i.category == "eye_tests")
            .map(|i| i.title.as_str())
            .collect();
        assert_eq!(et.len(), EYE_TEST_LIST.len());
    }

    fn purchase_share(
        d: &DemoData,
        regions: &[&str],
        pred: impl Fn(&Item) -> bool,
        within: &str,
    ) -> f64 {
        let (mut hit, mut all) = (0usize, 0usize);
        for e in d.events.iter().filter(|e| e.kind == EventKind::Purchase) {
            if !regions.contains(&e.region.as_deref().unwrap_or("")) {
                continue;
            }
            let item = d.catalog.get(&e.item).unwrap();
            if within.is_empty() || item.category == within {
                all += 1;
                hit += usize::from(pred(item));
            }
        }
        hit as f64 / all.max(1) as f64
    }

    #[test]
    fn planted_regional_preferences() {
        let d = small();
        let sun = |i: &Item| i.category == "sunglasses";
        let au = purchase_share(d, &["au", "nz"], sun, "");
        let scot = purchase_share(d, &["uk-scotland", "uk-wales", "uk-midlands"], sun, "");
        assert!(
            au > 1.5 * scot,
            "sunglasses share au/nz {au:.3} vs uk {scot:.3}"
        );
        let ti =
            |i: &Item| i.attributes.get("material") == Some(&AttrValue::Text("titanium".into()));
        let nordic = purchase_share(d, &["se", "no", "dk", "fi"], ti, "frames");
        let uk = purchase_share(
            d,
            &["uk-london", "uk-south-east", "uk-midlands"],
            ti,
            "frames",
        );
        assert!(
            nordic > 1.5 * uk,
            "titanium nordics {nordic:.3} vs uk {uk:.3}"
        );
    }

    #[test]
    fn sunglasses_peak_in_local_summer() {
        let d = small();
        let start = DemoConfig::small().start;
        // share of sunglasses views in June-August vs December-February.
        let share = |regions: &[&str], summer: bool| {
            let (mut hit, mut all) = (0usize, 0usize);
            for e in d.events.iter().filter(|e| {
                e.kind == EventKind::View && regions.contains(&e.region.as_deref().unwrap())
            }) {
                let day = (e.timestamp - start) / 86_400;
                let jja = (151..243).contains(&day);
                let djf = !(59..334).contains(&day);
                if (summer && jja) || (!summer && djf) {
                    all += 1;
                    hit += usize::from(d.catalog.get(&e.item).unwrap().category == "sunglasses");
                }
            }
            hit as f64 / all.max(1) as f64
        };
        let uk = [
            "uk-london",
            "uk-south-east",
            "uk-north-west",
            "uk-midlands",
            "uk-scotland",
            "uk-wales",
        ];
        assert!(share(&uk, true) > 1.3 * share(&uk, false));
        assert!(share(&["au", "nz"], false) > 1.3 * share(&["au", "nz"], true));
    }

    #[test]
    fn bad_configs_are_errors() {
        let ok = DemoConfig::small();
        for bad in [
            DemoConfig {
                customers: 0,
                ..ok.clone()
            },
            DemoConfig {
                products: MIN_PRODUCTS - 1,
                ..ok.clone()
            },
            DemoConfig {
                products: usize::MAX,
                ..ok.clone()
            },
            DemoConfig {
                events: 0,
                ..ok.clone()
            },
            DemoConfig {
                days: 0,
                ..ok.clone()
            },
            DemoConfig {
                start: i64::MAX,
                ..ok.clone()
            },
            DemoConfig {
                start: i64::MIN,
                ..ok.clone()
            },
        ] {
            assert!(
                matches!(generate(&bad), Err(Error::Config { .. })),
                "{bad:?}"
            );
        }
        // Tiny but valid configs work.
        let tiny = generate(&DemoConfig {
            customers: 1,
            products: MIN_PRODUCTS,
            events: 1,
            days: 1,
            ..ok.clone()
        })
        .unwrap();
        assert_eq!(tiny.catalog.len(), MIN_PRODUCTS);
        let few = generate(&DemoConfig {
            customers: 5,
            products: MIN_PRODUCTS,
            events: 200,
            start: -86_400 * 400,
            days: 3,
            ..ok
        })
        .unwrap();
        assert!(!few.events.is_empty());
    }

    /// nDCG@10 of item-item cosine kNN and of most-popular on a per-user
    /// random 20% holdout (users with ≥ 5 items).
    fn knn_vs_popularity(d: &DemoData) -> (f64, f64) {
        let x = d.interactions(&KindWeights::default()).unwrap();
        let m = x.matrix();
        let n_items = m.n_cols();
        let mut rng = Rand::new(7, 99, 0);
        let mut train: Vec<Vec<(u32, f32)>> = Vec::new();
        let mut test: Vec<Vec<u32>> = Vec::new();
        for u in 0..m.n_rows() {
            let (cols, vals) = m.row(u);
            let mut row: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
            if row.len() < 5 {
                train.push(row);
                test.push(Vec::new());
                continue;
            }
            for k in (1..row.len()).rev() {
                row.swap(k, rng.index(k + 1));
            }
            let h = (row.len() + 2) / 5;
            test.push(row[..h].iter().map(|e| e.0).collect());
            train.push(row[h..].to_vec());
        }
        // Dense co-occurrence on log-damped weights.
        let mut co = vec![0f64; n_items * n_items];
        let mut pop = vec![0f64; n_items];
        for row in &train {
            for &(i, wi) in row {
                pop[i as usize] += 1.0;
                let wi = f64::from(wi).ln_1p();
                for &(j, wj) in row {
                    co[i as usize * n_items + j as usize] += wi * f64::from(wj).ln_1p();
                }
            }
        }
        let norm: Vec<f64> = (0..n_items)
            .map(|i| co[i * n_items + i].sqrt().max(1e-12))
            .collect();
        let mut pop_order: Vec<usize> = (0..n_items).collect();
        pop_order.sort_by(|&a, &b| pop[b].total_cmp(&pop[a]).then(a.cmp(&b)));
        let ndcg = |ranked: &[usize], truth: &HashSet<u32>| {
            let dcg: f64 = ranked
                .iter()
                .enumerate()
                .filter(|(_, &i)| truth.contains(&(i as u32)))
                .map(|(r, _)| 1.0 / (r as f64 + 2.0).log2())
                .sum();
            let idcg: f64 = (0..truth.len().min(10))
                .map(|r| 1.0 / (r as f64 + 2.0).log2())
                .sum();
            dcg / idcg
        };
        let (mut knn_sum, mut pop_sum, mut n) = (0.0, 0.0, 0usize);
        let mut scores = vec![0f64; n_items];
        for (row, t) in train.iter().zip(&test) {
            if t.is_empty() {
                continue;
            }
            let truth: HashSet<u32> = t.iter().copied().collect();
            let seen: HashSet<u32> = row.iter().map(|e| e.0).collect();
            scores.iter_mut().for_each(|s| *s = 0.0);
            for &(j, _) in row {
                let j = j as usize;
                for (i, s) in scores.iter_mut().enumerate() {
                    *s += co[j * n_items + i] / (norm[i] * norm[j]);
                }
            }
            let mut cand: Vec<usize> = (0..n_items)
                .filter(|&i| !seen.contains(&(i as u32)))
                .collect();
            cand.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            cand.truncate(10);
            knn_sum += ndcg(&cand, &truth);
            let top_pop: Vec<usize> = pop_order
                .iter()
                .copied()
                .filter(|&i| !seen.contains(&(i as u32)))
                .take(10)
                .collect();
            pop_sum += ndcg(&top_pop, &truth);
            n += 1;
        }
        (knn_sum / n as f64, pop_sum / n as f64)
    }

    #[test]
    fn knn_beats_popularity() {
        let (knn, pop) = knn_vs_popularity(small());
        let d = small();
        let x = d.interactions(&KindWeights::default()).unwrap();
        let active = (0..x.n_users())
            .filter(|&u| x.matrix().row(u).0.len() >= 5)
            .count();
        eprintln!(
            "{} events, {} nnz, {} users with >=5 items",
            d.events.len(),
            x.matrix().nnz(),
            active
        );
        eprintln!(
            "nDCG@10 kNN {knn:.4}  popularity {pop:.4}  ratio {:.2}",
            knn / pop
        );
        assert!(knn >= 1.8 * pop, "kNN {knn:.4} vs popularity {pop:.4}");
    }

    /// `cargo test --release -- --ignored --nocapture default_size_timing`
    #[test]
    #[ignore]
    fn default_size_timing() {
        let t = std::time::Instant::now();
        let d = generate(&DemoConfig::default()).unwrap();
        let gen = t.elapsed();
        let x = d.interactions(&KindWeights::default()).unwrap();
        eprintln!(
            "default: {} events, {} customers, {} products, generate {:.2?}, interactions {:.2?} ({} nnz)",
            d.events.len(),
            d.customers.len(),
            d.catalog.len(),
            gen,
            t.elapsed() - gen,
            x.matrix().nnz()
        );
        let (knn, pop) = knn_vs_popularity(&d);
        eprintln!(
            "default nDCG@10 kNN {knn:.4}  popularity {pop:.4}  ratio {:.2}",
            knn / pop
        );
    }

    #[test]
    fn engine_config_carries_the_demo_facts_over_neutral_defaults() {
        let c = engine_config(&serde_json::json!({})).unwrap();
        assert_eq!(c.region_names.len(), REGIONS.len());
        assert_eq!(c.region_names["uk-north-west"], "North West England");
        let parents = &c.trending.region_parent;
        assert_eq!(parents["uk-scotland"], "uk");
        assert_eq!(parents["fi"], "nordics");
        assert_eq!(parents["nz"], "anz");
        assert!(!parents.contains_key("nl"));
        let defaults = default_placements();
        for (name, p) in &c.placements {
            assert_eq!(
                p.diversity.by.attributes().unwrap(),
                DIVERSITY_ATTRIBUTES,
                "{name}"
            );
            // Everything else is the neutral default.
            assert_eq!(p.diversity.lambda, defaults[name].diversity.lambda);
            assert_eq!(p.sources, defaults[name].sources);
        }
        // The neutral defaults know none of this.
        let neutral = EngineConfig::default();
        assert!(neutral.region_names.is_empty() && neutral.trending.region_parent.is_empty());
        assert!(neutral.placements.values().all(|p| !p
            .diversity
            .by
            .attributes()
            .unwrap()
            .contains(&"shape".to_owned())));
        // Overrides are merged on top, field by field.
        let c = engine_config(&serde_json::json!({
            "placements": {"home": {"n": 6}},
            "region_names": {"au": "Straya"},
            "trending": {"min_segment_weight": 3.0},
        }))
        .unwrap();
        assert_eq!(c.placements["home"].n, 6);
        assert_eq!(
            c.placements["home"].diversity.by.attributes().unwrap(),
            DIVERSITY_ATTRIBUTES
        );
        assert_eq!(c.region_names["au"], "Straya");
        assert_eq!(c.region_names["nz"], "New Zealand");
        assert_eq!(c.trending.min_segment_weight, 3.0);
        assert_eq!(c.trending.region_parent, region_parent());
        let e = engine_config(&serde_json::json!({"placements": {"home": {"n": 0}}})).unwrap_err();
        assert!(
            matches!(e, Error::Config { ref field, .. } if field == "placements.home.n"),
            "{e}"
        );
    }
}
