//! "Popular in your area" and "trending now": time-decayed, kind-weighted
//! event counts per item and per *segment* (global, region, country,
//! channel, category and their region/country × category crossings), with
//! hierarchical back-off from a sparse segment to a denser one.
//!
//! # Scores
//!
//! An event of kind `k` at time `tᵢ` adds its kind weight `wᵢ`
//! ([`TrendingConfig::weights`]) to the item's score in every segment it
//! belongs to. The *popularity* of an item in a segment at time `now` is
//!
//! ```text
//! pop(now) = Σᵢ wᵢ · 2^(−(now − tᵢ) / hᵢ)
//! ```
//!
//! where `hᵢ` is the half-life of the event's kind
//! ([`TrendingConfig::half_life_by_kind`], else
//! [`TrendingConfig::half_life_hours`]). Every distinct half-life is one
//! *lane*; an entry keeps one decayed value per lane plus two more lanes
//! for "trending now" (below), all sharing one timestamp.
//!
//! # Lazy decay and out-of-order events
//!
//! Every (segment, item) entry stores `(values, ts)`: the lane values
//! decayed to the reference time `ts`. An event at `t` is folded in at the
//! reference time `max(t, ts)`: when `t ≥ ts` the values are decayed by
//! `2^(−(t − ts)/h)` (exact `exp2`) and `ts` becomes `t`; when the event is
//! late (`t < ts`) its weight is decayed by `2^(−(ts − t)/h)` and added,
//! leaving `ts` alone. Either way the entry equals the exact sum above at
//! time `ts`, so late events of any age are exact. Reads decay the same
//! way to `max(now, ts)`: a query whose `now` precedes an entry's last
//! update sees that entry as of its last update (the store keeps no
//! history, so it cannot remove "future" events); with `now` at or after
//! every ingested timestamp the results equal the brute-force sums.
//! Each event costs `O(segments × lanes)` = O(1) work (7 segments and 3
//! lanes with the defaults) plus amortised pruning (below).
//!
//! # Segments and back-off
//!
//! Every event updates [`Segment::Global`]; its region, the region's
//! country ([`TrendingConfig::region_parent`]; regions without a parent
//! have no country level) and, when the item's category is known (from the
//! [`Catalog`] given to [`TrendingStore::new`]; unknown items simply skip
//! the category segments, which is not an error), the category and the
//! region × category and country × category crossings; and its channel.
//!
//! A query walks a back-off chain and answers from the first level whose
//! total decayed weight (all events of the segment, pruned items included)
//! is at least [`TrendingConfig::min_segment_weight`]; the last level of a
//! chain is used whatever its weight. The result reports the level used:
//!
//! | query | chain |
//! |---|---|
//! | region + category | `region_category` → `country_category` → `category` |
//! | region | `region` → `country` → `global` |
//! | category (no region) | `category` |
//! | channel (no region, no category) | `channel` → `global` |
//! | nothing | `global` |
//!
//! The channel is a fallback dimension, used only when the query names
//! neither region nor category (there are no region × channel segments,
//! which would multiply memory for little gain).
//!
//! # Bounded memory
//!
//! A segment holds at most [`TrendingConfig::max_items_per_segment`]
//! items. When a new item arrives in a full segment, the segment is pruned
//! to its best `cap − max(1, cap/4)` items by popularity decayed to the
//! event's time (ties: lower item index kept), so pruning costs O(1)
//! amortised per event. Pruned items lose their history; a segment's total
//! weight stays exact. **Results are exact while a segment has seen fewer
//! distinct items than the cap** (then nothing was ever pruned from it).
//!
//! The number of segments is bounded too: region codes come from events, so
//! a stream of made-up regions would otherwise add segments without end.
//! Beyond [`TrendingConfig::max_segments`] the weakest quarter of the
//! region, country and category segments (least total popularity decayed to
//! the event's time; global and channel segments always stay) is dropped
//! with its history, as are region codes no segment refers to any more. A
//! dropped segment reads as empty, so its queries back off to a denser
//! level, as they would for a sparse one. Item ids seen only in events are
//! forgotten once no segment holds them (their history is gone with the
//! pruning anyway), so made-up item ids do not accumulate either. Ids and
//! region codes are at most [`MAX_ID_LEN`] bytes.
//!
//! Measured (tests/memory_bounds.rs, default lanes): about 140 bytes per
//! (segment, item) entry (its share of the item id included) and 450 bytes
//! per segment holding one entry; the store's memory stays under about
//! `max_segments × (450 + 140 × max_items_per_segment)` bytes plus the
//! catalog's ids.
//!
//! # Trending now
//!
//! Two more lanes hold exponentially-weighted sums with mean lifetimes
//! `τ_w` = [`TrendingConfig::window_hours`] and `τ_b` =
//! [`TrendingConfig::baseline_hours`] (half-lives `τ·ln 2`). For a steady
//! event rate `r` they approach `r·τ`, so
//!
//! ```text
//! recent   = S_w                  (≈ weight of the last window)
//! baseline = S_b · τ_w / τ_b      (≈ weight of one window at the baseline rate)
//! velocity = (recent − baseline) / (baseline + smoothing)
//! ```
//!
//! as in Amazon Personalize's "trending now". A steadily popular item
//! scores about 0, a burst scores high; only items with a positive velocity
//! are returned. [`TrendingConfig::smoothing`] (in weight per window) keeps
//! a single view of a never-seen item from topping the list. Kind
//! half-lives do not apply to the velocity lanes.
//!
//! # Determinism
//!
//! Single-threaded `f64` arithmetic in event order, ties broken by lower
//! item index: the same events and config give bit-identical stores and
//! results.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::data::{Catalog, Channel, Event, EventKind, KindWeights};
use crate::error::{Error, Result};
use crate::ids::IdMap;
use crate::store::{Component, ModelFile, TensorData};
use crate::tracking::check_id;
pub use crate::tracking::MAX_ID_LEN;

/// Largest accepted [`TrendingConfig::max_items_per_segment`].
pub const MAX_ITEMS_PER_SEGMENT_LIMIT: usize = 10_000_000;

/// Largest accepted [`TrendingConfig::max_segments`].
pub const MAX_SEGMENTS_LIMIT: usize = 10_000_000;

/// Smallest accepted [`TrendingConfig::max_segments`]: room for the global
/// and channel segments (never dropped) and every segment of one event.
pub const MIN_SEGMENTS: usize = 16;

/// Event-only item ids allowed beyond twice the live ones before they are
/// compacted (see the module docs on bounded memory).
const ITEM_SLACK: usize = 1024;

/// Largest number of distinct half-lives (default plus per-kind
/// overrides); each one is a lane of every entry, so this bounds memory.
pub const MAX_HALF_LIVES: usize = 8;

/// Largest accepted half-life, window or baseline, in hours (about 1000
/// years; keeps every exponent finite).
pub const MAX_HOURS: f64 = 1.0e7;

/// Settings of a [`TrendingStore`]. Durations are in hours; weights use
/// the same units as [`KindWeights`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrendingConfig {
    /// Half-life of an event's weight in the popularity score, in hours.
    pub half_life_hours: f64,
    /// Half-lives of particular event kinds (by [`EventKind::as_str`] name,
    /// e.g. `"purchase"` or a custom kind), overriding
    /// [`half_life_hours`](Self::half_life_hours).
    pub half_life_by_kind: BTreeMap<String, f64>,
    /// Weight of each event kind; a custom kind without a weight is an
    /// error at ingest.
    pub weights: KindWeights,
    /// Mean lifetime of the "recent" velocity lane (trending now), hours.
    pub window_hours: f64,
    /// Mean lifetime of the "baseline" velocity lane, hours; must exceed
    /// [`window_hours`](Self::window_hours).
    pub baseline_hours: f64,
    /// Added to the baseline in the velocity denominator, in weight per
    /// window (`> 0`).
    pub smoothing: f64,
    /// Items kept per segment (default 1000; see the module docs on
    /// bounded memory). Each (segment, item) entry takes about 140 bytes
    /// (measured with the default lanes).
    pub max_items_per_segment: usize,
    /// Most segments held (default 20 000, at least [`MIN_SEGMENTS`]);
    /// beyond it the weakest region, country and category segments are
    /// dropped (see the module docs). Each takes about 450 bytes with one
    /// entry (measured).
    pub max_segments: usize,
    /// A back-off level answers a query only when its total decayed weight
    /// reaches this (`>= 0`).
    pub min_segment_weight: f64,
    /// Region code → country (or market) code, for the country back-off
    /// level, e.g. `{"uk-london": "uk", "uk-wales": "uk"}`. Empty by
    /// default: region codes are the shop's own, so no hierarchy is guessed
    /// from them, and a sparse region backs off straight to global. A
    /// region without an entry has no country level.
    pub region_parent: BTreeMap<String, String>,
}

impl Default for TrendingConfig {
    fn default() -> Self {
        TrendingConfig {
            half_life_hours: 72.0,
            half_life_by_kind: BTreeMap::new(),
            weights: KindWeights::default(),
            window_hours: 24.0,
            baseline_hours: 168.0,
            smoothing: 5.0,
            max_items_per_segment: 1000,
            max_segments: 20_000,
            min_segment_weight: 20.0,
            region_parent: BTreeMap::new(),
        }
    }
}

fn check_hours(field: &str, h: f64) -> Result<()> {
    if !h.is_finite() || h <= 0.0 || h > MAX_HOURS {
        return Err(Error::config(
            field,
            format!("must be in (0, {MAX_HOURS}] hours, got {h}"),
        ));
    }
    Ok(())
}

impl TrendingConfig {
    /// Checks every field; [`TrendingStore::new`] calls this first.
    pub fn validate(&self) -> Result<()> {
        check_hours("half_life_hours", self.half_life_hours)?;
        for (kind, &h) in &self.half_life_by_kind {
            if kind.is_empty() {
                return Err(Error::config(
                    "half_life_by_kind",
                    "event kind names must be non-empty",
                ));
            }
            check_hours(&format!("half_life_by_kind.{kind}"), h)?;
        }
        if self.half_lives().len() > MAX_HALF_LIVES {
            return Err(Error::config(
                "half_life_by_kind",
                format!("at most {MAX_HALF_LIVES} distinct half-lives"),
            ));
        }
        self.weights.validate()?;
        check_hours("window_hours", self.window_hours)?;
        check_hours("baseline_hours", self.baseline_hours)?;
        if self.baseline_hours <= self.window_hours {
            return Err(Error::config(
                "baseline_hours",
                format!(
                    "must exceed window_hours ({}), got {}",
                    self.window_hours, self.baseline_hours
                ),
            ));
        }
        if !self.smoothing.is_finite() || self.smoothing <= 0.0 {
            return Err(Error::config(
                "smoothing",
                format!("must be finite and > 0, got {}", self.smoothing),
            ));
        }
        if self.max_items_per_segment == 0
            || self.max_items_per_segment > MAX_ITEMS_PER_SEGMENT_LIMIT
        {
            return Err(Error::config(
                "max_items_per_segment",
                format!(
                    "must be in 1..={MAX_ITEMS_PER_SEGMENT_LIMIT}, got {}",
                    self.max_items_per_segment
                ),
            ));
        }
        if !(MIN_SEGMENTS..=MAX_SEGMENTS_LIMIT).contains(&self.max_segments) {
            return Err(Error::config(
                "max_segments",
                format!(
                    "must be in {MIN_SEGMENTS}..={MAX_SEGMENTS_LIMIT}, got {}",
                    self.max_segments
                ),
            ));
        }
        if !self.min_segment_weight.is_finite() || self.min_segment_weight < 0.0 {
            return Err(Error::config(
                "min_segment_weight",
                format!("must be finite and >= 0, got {}", self.min_segment_weight),
            ));
        }
        for (region, parent) in &self.region_parent {
            if region.is_empty() || parent.is_empty() {
                return Err(Error::config(
                    "region_parent",
                    format!("region and parent codes must be non-empty ({region:?} → {parent:?})"),
                ));
            }
        }
        Ok(())
    }

    /// Distinct half-lives in hours, ascending (the popularity lanes).
    fn half_lives(&self) -> Vec<f64> {
        let mut h: Vec<f64> = std::iter::once(self.half_life_hours)
            .chain(self.half_life_by_kind.values().copied())
            .collect();
        h.sort_by(f64::total_cmp);
        h.dedup_by(|a, b| a.to_bits() == b.to_bits());
        h
    }
}

/// A slice of the events that keeps its own item scores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Every event.
    Global,
    /// Events of one region code.
    Region(String),
    /// Events of every region whose [`TrendingConfig::region_parent`] is
    /// this code.
    Country(String),
    /// Events of one sales channel.
    Channel(Channel),
    /// Events on items of one category.
    Category(String),
    /// Region × category.
    RegionCategory(String, String),
    /// Country × category.
    CountryCategory(String, String),
}

impl Segment {
    /// The level name reported in [`TrendingResult::level`], e.g.
    /// `global`, `region:uk-north-west`, `country:uk`, `channel:web`,
    /// `category:sunglasses`, `region_category:au/sunglasses`,
    /// `country_category:anz/sunglasses`.
    pub fn name(&self) -> String {
        match self {
            Segment::Global => "global".to_owned(),
            Segment::Region(r) => format!("region:{r}"),
            Segment::Country(c) => format!("country:{c}"),
            Segment::Channel(c) => format!("channel:{}", c.as_str()),
            Segment::Category(c) => format!("category:{c}"),
            Segment::RegionCategory(r, c) => format!("region_category:{r}/{c}"),
            Segment::CountryCategory(p, c) => format!("country_category:{p}/{c}"),
        }
    }
}

/// A "popular" or "trending now" query.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TrendingQuery {
    /// The visitor's region code.
    pub region: Option<String>,
    /// The sales channel (used only without region and category; see the
    /// module docs).
    pub channel: Option<Channel>,
    /// Restrict to one item category.
    pub category: Option<String>,
    /// Number of items wanted (`>= 1`).
    pub n: usize,
    /// The time the scores are decayed to, Unix seconds.
    pub now: i64,
}

/// The answer to a [`TrendingQuery`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrendingResult {
    /// Up to `n` (item id, score) pairs, best first (ties: earlier-seen
    /// item first). Only items with a positive score are listed.
    pub items: Vec<(String, f32)>,
    /// The back-off level that answered, as [`Segment::name`].
    pub level: String,
    /// Total decayed popularity weight of that level at `now`.
    pub level_weight: f64,
}

/// Best (item index, score) pairs, the level that answered and its weight.
type Answer = (Vec<(u32, f64)>, Segment, f64);

/// A fast, deterministic hasher for the `u32`/`u64` keys of the internal
/// maps (the default SipHash would dominate the per-event cost).
#[derive(Default, Clone, Copy)]
struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

/// No category / no country (in `u32` index arrays).
const NONE: u32 = u32::MAX;

/// Kind codes of [`Segment`] in the model file.
const K_GLOBAL: u32 = 0;
const K_REGION: u32 = 1;
const K_COUNTRY: u32 = 2;
const K_CHANNEL: u32 = 3;
const K_CATEGORY: u32 = 4;
const K_REGION_CATEGORY: u32 = 5;
const K_COUNTRY_CATEGORY: u32 = 6;

/// Segment as indices into the store's interned strings: (kind, a, b).
type SegKey = (u32, u32, u32);

/// One segment's entries (slot order) and its exact total.
#[derive(Debug, Clone, PartialEq, Default)]
struct Seg {
    index: IntMap<u32, u32>,
    items: Vec<u32>,
    ts: Vec<i64>,
    /// `items.len() × lanes` lane values at `ts`.
    vals: Vec<f64>,
    total_ts: i64,
    total: Vec<f64>,
}

/// `2^(−dt / half_life)` for `dt >= 0` seconds.
#[inline]
fn decay(dt: f64, half_life_secs: f64) -> f64 {
    (-(dt / half_life_secs)).exp2()
}

/// Folds `add` (per-lane weights at time `t`) into `(vals, ts)` at the
/// reference time `max(t, ts)`.
#[inline]
fn fold(vals: &mut [f64], ts: &mut i64, t: i64, add: &[f64], hl: &[f64]) {
    if t >= *ts {
        let dt = (i128::from(t) - i128::from(*ts)) as f64;
        if dt > 0.0 {
            for (v, &h) in vals.iter_mut().zip(hl) {
                *v *= decay(dt, h);
            }
        }
        *ts = t;
        for (v, &a) in vals.iter_mut().zip(add) {
            *v += a;
        }
    } else {
        let dt = (i128::from(*ts) - i128::from(t)) as f64;
        for ((v, &a), &h) in vals.iter_mut().zip(add).zip(hl) {
            if a != 0.0 {
                *v += a * decay(dt, h);
            }
        }
    }
}

/// Seconds from `ts` to `max(now, ts)`.
#[inline]
fn age(now: i64, ts: i64) -> f64 {
    (i128::from(now) - i128::from(ts)).max(0) as f64
}

/// Time-decayed popularity and velocity of items per segment; see the
/// [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct TrendingStore {
    config: TrendingConfig,
    /// Half-lives in seconds: the popularity lanes, then recent and baseline.
    lane_hl: Vec<f64>,
    /// Number of popularity lanes.
    n_pop: usize,
    /// Popularity lane of the fixed kinds (view, click, add_to_cart, purchase).
    fixed_lane: [usize; 4],
    /// Popularity lane of custom kinds with their own half-life.
    custom_lane: BTreeMap<String, usize>,
    /// Popularity lane of [`TrendingConfig::half_life_hours`].
    default_lane: usize,
    items: IdMap,
    /// Category index per item, [`NONE`] when unknown.
    item_category: Vec<u32>,
    categories: IdMap,
    regions: IdMap,
    countries: IdMap,
    /// Country index per region, [`NONE`] when it has no parent.
    region_country: Vec<u32>,
    segs: Vec<Seg>,
    keys: Vec<SegKey>,
    seg_of: HashMap<SegKey, u32, BuildHasherDefault<IntHasher>>,
    compaction: Compaction,
}

/// When to compact the item ids next, and how often they were: the
/// store's bookkeeping, not its contents, so it never makes two stores
/// unequal (a loaded store equals the saved one whatever their history).
#[derive(Debug, Clone, Copy)]
struct Compaction {
    /// Compact when a new item would make `items` this long.
    item_limit: usize,
    /// Number of item compactions (indices from before one are void).
    epoch: u64,
}

impl Compaction {
    fn after(n_items: usize) -> Self {
        Compaction {
            item_limit: 2 * n_items + ITEM_SLACK,
            epoch: 0,
        }
    }
}

impl PartialEq for Compaction {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Everything about one event that can fail, checked before any mutation.
struct Prepared<'a> {
    lane: usize,
    weight: f64,
    region: Option<&'a str>,
}

impl TrendingStore {
    /// An empty store. `catalog` supplies item categories (items missing
    /// from it, or without a category, skip the category segments).
    ///
    /// Errors: an invalid config ([`Error::Config`]).
    pub fn new(config: TrendingConfig, catalog: Option<&Catalog>) -> Result<Self> {
        config.validate()?;
        let mut store = Self::empty(config);
        if let Some(c) = catalog {
            // Catalog items are known up front (in catalog order) with
            // their categories, so they persist with the store.
            for item in c.items() {
                store.items.get_or_insert(&item.id)?;
                store.item_category.push(if item.category.is_empty() {
                    NONE
                } else {
                    store.categories.get_or_insert(&item.category)?
                });
            }
        }
        store.compaction = Compaction::after(store.items.len());
        Ok(store)
    }

    /// A store with the lane layout of `config` (already validated).
    fn empty(config: TrendingConfig) -> Self {
        let hls = config.half_lives();
        let lane_of = |kind: &str| {
            let h = config
                .half_life_by_kind
                .get(kind)
                .copied()
                .unwrap_or(config.half_life_hours);
            hls.iter()
                .position(|x| x.to_bits() == h.to_bits())
                .unwrap_or(0)
        };
        let fixed_lane = [
            lane_of("view"),
            lane_of("click"),
            lane_of("add_to_cart"),
            lane_of("purchase"),
        ];
        let custom_lane = config
            .half_life_by_kind
            .keys()
            .filter(|k| !["view", "click", "add_to_cart", "purchase"].contains(&k.as_str()))
            .map(|k| (k.clone(), lane_of(k)))
            .collect();
        let default_lane = lane_of("");
        let n_pop = hls.len();
        let ln2 = std::f64::consts::LN_2;
        let mut lane_hl: Vec<f64> = hls.iter().map(|h| h * 3600.0).collect();
        lane_hl.push(config.window_hours * 3600.0 * ln2);
        lane_hl.push(config.baseline_hours * 3600.0 * ln2);
        TrendingStore {
            config,
            lane_hl,
            n_pop,
            fixed_lane,
            custom_lane,
            items: IdMap::new(),
            item_category: Vec::new(),
            categories: IdMap::new(),
            regions: IdMap::new(),
            countries: IdMap::new(),
            region_country: Vec::new(),
            default_lane,
            segs: Vec::new(),
            keys: Vec::new(),
            seg_of: HashMap::default(),
            compaction: Compaction::after(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TrendingConfig {
        &self.config
    }

    /// Known items: the catalog's (in catalog order), then items first
    /// seen in events. Item indices (as in [`top_where`](Self::top_where))
    /// stay valid while [`items_epoch`](Self::items_epoch) is unchanged;
    /// new items only append.
    pub fn items(&self) -> &IdMap {
        &self.items
    }

    /// Changes when event-only items that no segment holds any more were
    /// forgotten (see the module docs on bounded memory): indices into
    /// [`items`](Self::items) from before are void then.
    pub fn items_epoch(&self) -> u64 {
        self.compaction.epoch
    }

    /// All segments that received at least one event, in creation order.
    pub fn segments(&self) -> Vec<Segment> {
        self.keys.iter().map(|&k| self.segment(k)).collect()
    }

    /// Number of items currently held by `segment` (0 when unknown); never
    /// above [`TrendingConfig::max_items_per_segment`].
    pub fn segment_len(&self, segment: &Segment) -> usize {
        self.find(segment)
            .map_or(0, |s| self.segs[s as usize].items.len())
    }

    /// Total decayed popularity weight of `segment` at `now` (0 when unknown).
    pub fn segment_weight(&self, segment: &Segment, now: i64) -> f64 {
        self.find(segment)
            .map_or(0.0, |s| self.total_pop(&self.segs[s as usize], now))
    }

    /// Decayed popularity of `item` in `segment` at `now` (0 when absent).
    pub fn score(&self, segment: &Segment, item: &str, now: i64) -> f64 {
        let (Some(s), Some(i)) = (self.find(segment), self.items.get(item)) else {
            return 0.0;
        };
        let seg = &self.segs[s as usize];
        seg.index
            .get(&i)
            .map_or(0.0, |&slot| self.pop(seg, slot as usize, now))
    }

    fn prepare<'a>(&self, e: &'a Event) -> Result<Prepared<'a>> {
        check_id("event item id", &e.item)?;
        if let Some(r) = &e.region {
            check_id("event region", r)?;
        }
        let weight = f64::from(self.config.weights.weight(&e.kind)?);
        if !weight.is_finite() || weight < 0.0 {
            return Err(Error::invalid(format!(
                "weight of event kind {:?} must be finite and >= 0, got {weight}",
                e.kind.as_str()
            )));
        }
        let lane = match &e.kind {
            EventKind::View => self.fixed_lane[0],
            EventKind::Click => self.fixed_lane[1],
            EventKind::AddToCart => self.fixed_lane[2],
            EventKind::Purchase => self.fixed_lane[3],
            EventKind::Custom(name) => self
                .custom_lane
                .get(name)
                .copied()
                .unwrap_or(self.default_lane),
        };
        Ok(Prepared {
            lane,
            weight,
            region: e.region.as_deref(),
        })
    }

    /// Adds one event. O(1) amortised.
    ///
    /// Errors (the store is left unchanged): an empty or overlong item id
    /// or region, or an event kind without a weight
    /// ([`Error::InvalidInput`]).
    pub fn ingest(&mut self, event: &Event) -> Result<()> {
        let p = self.prepare(event)?;
        self.apply(event, &p)
    }

    /// Checks `event` as [`ingest`](Self::ingest) would, without adding it.
    pub fn check(&self, event: &Event) -> Result<()> {
        self.prepare(event).map(drop)
    }

    /// Adds many events, all or nothing: every event is checked first, and
    /// on an error (naming the event's position) the store is left
    /// unchanged.
    pub fn ingest_batch(&mut self, events: &[Event]) -> Result<()> {
        let prepared = events
            .iter()
            .enumerate()
            .map(|(i, e)| self.prepare(e).map_err(|err| err.at_event(i)))
            .collect::<Result<Vec<_>>>()?;
        for (e, p) in events.iter().zip(&prepared) {
            self.apply(e, p)?;
        }
        Ok(())
    }

    fn apply(&mut self, e: &Event, p: &Prepared<'_>) -> Result<()> {
        self.make_room(e, p)?;
        let item = match self.items.get(&e.item) {
            Some(i) => i,
            None => {
                let i = self.items.get_or_insert(&e.item)?;
                self.item_category.push(NONE);
                i
            }
        };
        let cat = self.item_category[item as usize];
        let (region, country) = match p.region {
            Some(r) => {
                let ri = match self.regions.get(r) {
                    Some(ri) => ri,
                    None => {
                        let country = match self.config.region_parent.get(r) {
                            Some(c) => self.countries.get_or_insert(c)?,
                            None => NONE,
                        };
                        let ri = self.regions.get_or_insert(r)?;
                        self.region_country.push(country);
                        ri
                    }
                };
                (ri, self.region_country[ri as usize])
            }
            None => (NONE, NONE),
        };

        let lanes = self.lane_hl.len();
        let mut add = [0.0f64; MAX_HALF_LIVES + 2];
        add[p.lane] = p.weight;
        add[self.n_pop] = p.weight;
        add[self.n_pop + 1] = p.weight;
        let add = &add[..lanes];

        let mut keys = [(0u32, 0u32, 0u32); 7];
        let mut n = 0;
        let mut push = |k: SegKey| {
            keys[n] = k;
            n += 1;
        };
        push((K_GLOBAL, 0, 0));
        if let Some(ch) = e.channel {
            push((K_CHANNEL, channel_code(ch), 0));
        }
        if region != NONE {
            push((K_REGION, region, 0));
            if country != NONE {
                push((K_COUNTRY, country, 0));
            }
        }
        if cat != NONE {
            push((K_CATEGORY, cat, 0));
            if region != NONE {
                push((K_REGION_CATEGORY, region, cat));
                if country != NONE {
                    push((K_COUNTRY_CATEGORY, country, cat));
                }
            }
        }
        for &key in &keys[..n] {
            let s = self.seg_id(key);
            self.update(s, item, e.timestamp, add);
        }
        Ok(())
    }

    /// Before `e` takes any index: drops the weakest segments when it
    /// could push their number past `max_segments`, and forgets unused
    /// event-only items when a new one would pass the item limit.
    fn make_room(&mut self, e: &Event, p: &Prepared<'_>) -> Result<()> {
        // At most 7 segments per event: below that margin nothing to check.
        if self.segs.len() + 7 > self.config.max_segments {
            let new = self.new_segments(e, p);
            if self.segs.len() + new > self.config.max_segments {
                self.evict_segments(new, e.timestamp);
            }
        }
        if self.items.len() >= self.compaction.item_limit && self.items.get(&e.item).is_none() {
            self.compact_items()?;
        }
        Ok(())
    }

    /// How many segments `e` would create (regions, countries and items
    /// not interned yet count as new).
    fn new_segments(&self, e: &Event, p: &Prepared<'_>) -> usize {
        let absent =
            |k: Option<SegKey>| usize::from(k.is_none_or(|k| !self.seg_of.contains_key(&k)));
        let cat = self
            .items
            .get(&e.item)
            .map_or(NONE, |i| self.item_category[i as usize]);
        let mut n = absent(Some((K_GLOBAL, 0, 0)));
        if let Some(ch) = e.channel {
            n += absent(Some((K_CHANNEL, channel_code(ch), 0)));
        }
        if cat != NONE {
            n += absent(Some((K_CATEGORY, cat, 0)));
        }
        if let Some(r) = p.region {
            let region = self.regions.get(r);
            // Outer None: no country level; inner None: country not interned.
            let country = match region {
                Some(ri) => Some(self.region_country[ri as usize])
                    .filter(|&c| c != NONE)
                    .map(Some),
                None => self
                    .config
                    .region_parent
                    .get(r)
                    .map(|c| self.countries.get(c)),
            };
            n += absent(region.map(|ri| (K_REGION, ri, 0)));
            if let Some(c) = country {
                n += absent(c.map(|c| (K_COUNTRY, c, 0)));
            }
            if cat != NONE {
                n += absent(region.map(|ri| (K_REGION_CATEGORY, ri, cat)));
                if let Some(c) = country {
                    n += absent(c.map(|c| (K_COUNTRY_CATEGORY, c, cat)));
                }
            }
        }
        n
    }

    /// Drops the weakest region, country and category segments (total
    /// popularity at `t`; ties: older first) down to three quarters of
    /// `max_segments` less `need`, then the region codes left unused.
    fn evict_segments(&mut self, need: usize, t: i64) {
        let cap = self.config.max_segments;
        let target = (cap - (cap / 4).max(1)).saturating_sub(need);
        let mut weakest: Vec<(f64, usize)> = (0..self.segs.len())
            .filter(|&s| !matches!(self.keys[s].0, K_GLOBAL | K_CHANNEL))
            .map(|s| (self.total_pop(&self.segs[s], t), s))
            .collect();
        let n = self.segs.len().saturating_sub(target).min(weakest.len());
        if n == 0 {
            return;
        }
        weakest.select_nth_unstable_by(n - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut dropped = vec![false; self.segs.len()];
        for &(_, s) in &weakest[..n] {
            dropped[s] = true;
        }
        let mut flags = dropped.iter();
        self.segs.retain(|_| !flags.next().is_some_and(|&d| d));
        let mut flags = dropped.iter();
        self.keys.retain(|_| !flags.next().is_some_and(|&d| d));
        self.compact_regions();
        self.seg_of = self
            .keys
            .iter()
            .enumerate()
            .map(|(s, &k)| (k, s as u32))
            .collect();
    }

    /// Forgets region codes no segment refers to, keeping the order of the
    /// rest (`seg_of` is rebuilt by the caller).
    fn compact_regions(&mut self) {
        let mut used = vec![false; self.regions.len()];
        for &(kind, a, _) in &self.keys {
            if matches!(kind, K_REGION | K_REGION_CATEGORY) {
                used[a as usize] = true;
            }
        }
        if used.iter().all(|&u| u) {
            return;
        }
        let mut new_index = vec![NONE; used.len()];
        let mut regions = IdMap::new();
        let mut region_country = Vec::new();
        for (r, id) in self.regions.ids().iter().enumerate() {
            if used[r] {
                // Distinct ids of a valid map: the insert cannot fail.
                new_index[r] = regions.get_or_insert(id).unwrap_or(NONE);
                region_country.push(self.region_country[r]);
            }
        }
        for (kind, a, _) in &mut self.keys {
            if matches!(*kind, K_REGION | K_REGION_CATEGORY) {
                *a = new_index[*a as usize];
            }
        }
        self.regions = regions;
        self.region_country = region_country;
    }

    /// Forgets items without a category that no segment holds (their
    /// history was pruned; a category would be lost with a catalog item),
    /// keeping the order of the rest, and starts a new items epoch.
    fn compact_items(&mut self) -> Result<()> {
        let mut used: Vec<bool> = self.item_category.iter().map(|&c| c != NONE).collect();
        for seg in &self.segs {
            for &it in &seg.items {
                used[it as usize] = true;
            }
        }
        let epoch = self.compaction.epoch;
        if used.iter().all(|&u| u) {
            self.compaction = Compaction {
                epoch,
                ..Compaction::after(self.items.len())
            };
            return Ok(());
        }
        let mut new_index = vec![NONE; used.len()];
        let mut items = IdMap::new();
        let mut item_category = Vec::new();
        for (i, id) in self.items.ids().iter().enumerate() {
            if used[i] {
                new_index[i] = items.get_or_insert(id)?;
                item_category.push(self.item_category[i]);
            }
        }
        for seg in &mut self.segs {
            for it in &mut seg.items {
                *it = new_index[*it as usize];
            }
            seg.index = seg
                .items
                .iter()
                .enumerate()
                .map(|(slot, &it)| (it, slot as u32))
                .collect();
        }
        self.items = items;
        self.item_category = item_category;
        self.compaction = Compaction {
            epoch: epoch + 1,
            ..Compaction::after(self.items.len())
        };
        Ok(())
    }

    fn seg_id(&mut self, key: SegKey) -> usize {
        if let Some(&s) = self.seg_of.get(&key) {
            return s as usize;
        }
        let s = self.segs.len();
        self.segs.push(Seg {
            total: vec![0.0; self.lane_hl.len()],
            total_ts: i64::MIN,
            ..Seg::default()
        });
        self.keys.push(key);
        // Fewer segments than items, so this fits u32 whenever items do.
        self.seg_of.insert(key, s as u32);
        s
    }

    fn update(&mut self, s: usize, item: u32, t: i64, add: &[f64]) {
        let lanes = self.lane_hl.len();
        let cap = self.config.max_items_per_segment;
        let hl = &self.lane_hl;
        let seg = &mut self.segs[s];
        fold(&mut seg.total, &mut seg.total_ts, t, add, hl);
        let slot = match seg.index.get(&item) {
            Some(&slot) => slot as usize,
            None => {
                if seg.items.len() >= cap {
                    prune(seg, cap - (cap / 4).max(1), t, hl, self.n_pop);
                }
                let slot = seg.items.len();
                seg.index.insert(item, slot as u32);
                seg.items.push(item);
                seg.ts.push(t);
                seg.vals.extend(std::iter::repeat_n(0.0, lanes));
                slot
            }
        };
        let vals = &mut seg.vals[slot * lanes..(slot + 1) * lanes];
        fold(vals, &mut seg.ts[slot], t, add, hl);
    }

    fn pop(&self, seg: &Seg, slot: usize, now: i64) -> f64 {
        let lanes = self.lane_hl.len();
        let dt = age(now, seg.ts[slot]);
        pop_at(
            &seg.vals[slot * lanes..slot * lanes + self.n_pop],
            &self.lane_hl,
            dt,
        )
    }

    fn total_pop(&self, seg: &Seg, now: i64) -> f64 {
        pop_at(
            &seg.total[..self.n_pop],
            &self.lane_hl,
            age(now, seg.total_ts),
        )
    }

    fn velocity(&self, seg: &Seg, slot: usize, now: i64) -> f64 {
        let lanes = self.lane_hl.len();
        let dt = age(now, seg.ts[slot]);
        let v = &seg.vals[slot * lanes..(slot + 1) * lanes];
        let recent = v[self.n_pop] * decay(dt, self.lane_hl[self.n_pop]);
        let base = v[self.n_pop + 1]
            * decay(dt, self.lane_hl[self.n_pop + 1])
            * (self.config.window_hours / self.config.baseline_hours);
        (recent - base) / (base + self.config.smoothing)
    }

    fn segment(&self, (kind, a, b): SegKey) -> Segment {
        let s = |m: &IdMap, i: u32| m.id(i).unwrap_or_default().to_owned();
        match kind {
            K_REGION => Segment::Region(s(&self.regions, a)),
            K_COUNTRY => Segment::Country(s(&self.countries, a)),
            K_CHANNEL => Segment::Channel(Channel::ALL[(a as usize).min(3)]),
            K_CATEGORY => Segment::Category(s(&self.categories, a)),
            K_REGION_CATEGORY => {
                Segment::RegionCategory(s(&self.regions, a), s(&self.categories, b))
            }
            K_COUNTRY_CATEGORY => {
                Segment::CountryCategory(s(&self.countries, a), s(&self.categories, b))
            }
            _ => Segment::Global,
        }
    }

    fn find(&self, segment: &Segment) -> Option<u32> {
        let key = match segment {
            Segment::Global => (K_GLOBAL, 0, 0),
            Segment::Region(r) => (K_REGION, self.regions.get(r)?, 0),
            Segment::Country(c) => (K_COUNTRY, self.countries.get(c)?, 0),
            Segment::Channel(c) => (K_CHANNEL, channel_code(*c), 0),
            Segment::Category(c) => (K_CATEGORY, self.categories.get(c)?, 0),
            Segment::RegionCategory(r, c) => (
                K_REGION_CATEGORY,
                self.regions.get(r)?,
                self.categories.get(c)?,
            ),
            Segment::CountryCategory(p, c) => (
                K_COUNTRY_CATEGORY,
                self.countries.get(p)?,
                self.categories.get(c)?,
            ),
        };
        self.seg_of.get(&key).copied()
    }

    /// The back-off chain of a query (see the module docs).
    pub fn chain(&self, query: &TrendingQuery) -> Vec<Segment> {
        let parent = |r: &str| self.config.region_parent.get(r).cloned();
        match (&query.region, &query.category) {
            (Some(r), Some(c)) => {
                let mut v = vec![Segment::RegionCategory(r.clone(), c.clone())];
                if let Some(p) = parent(r) {
                    v.push(Segment::CountryCategory(p, c.clone()));
                }
                v.push(Segment::Category(c.clone()));
                v
            }
            (Some(r), None) => {
                let mut v = vec![Segment::Region(r.clone())];
                if let Some(p) = parent(r) {
                    v.push(Segment::Country(p));
                }
                v.push(Segment::Global);
                v
            }
            (None, Some(c)) => vec![Segment::Category(c.clone())],
            (None, None) => match query.channel {
                Some(ch) => vec![Segment::Channel(ch), Segment::Global],
                None => vec![Segment::Global],
            },
        }
    }

    /// Picks the level: first whose weight reaches the threshold, else the last.
    fn level(&self, query: &TrendingQuery) -> Result<(Segment, Option<u32>, f64)> {
        if query.n == 0 {
            return Err(Error::invalid("n must be >= 1"));
        }
        let chain = self.chain(query);
        let last = chain.len() - 1;
        for (i, seg) in chain.into_iter().enumerate() {
            let s = self.find(&seg);
            let w = s.map_or(0.0, |s| self.total_pop(&self.segs[s as usize], query.now));
            if i == last || w >= self.config.min_segment_weight {
                return Ok((seg, s, w));
            }
        }
        Err(Error::invalid("empty back-off chain"))
    }

    /// The best `query.n` (item index, score) pairs at the chosen level,
    /// best first, among items with a positive score that `keep` accepts.
    fn answer_where(
        &self,
        query: &TrendingQuery,
        score: impl Fn(&Seg, usize) -> f64,
        keep: &dyn Fn(u32) -> bool,
    ) -> Result<Answer> {
        let (seg, s, level_weight) = self.level(query)?;
        let mut scored: Vec<(u32, f64)> = Vec::new();
        if let Some(s) = s {
            let seg = &self.segs[s as usize];
            scored = (0..seg.items.len())
                .filter(|&slot| keep(seg.items[slot]))
                .map(|slot| (seg.items[slot], score(seg, slot)))
                .filter(|(_, v)| *v > 0.0)
                .collect();
        }
        // Scores are positive (no NaN), so `better` is a total order here.
        crate::linalg::top_k_by(&mut scored, query.n, crate::linalg::better);
        Ok((scored, seg, level_weight))
    }

    fn answer(
        &self,
        query: &TrendingQuery,
        score: impl Fn(&Seg, usize) -> f64,
    ) -> Result<TrendingResult> {
        let (scored, seg, level_weight) = self.answer_where(query, score, &|_| true)?;
        Ok(TrendingResult {
            items: scored
                .into_iter()
                .map(|(i, v)| (self.items.id(i).unwrap_or_default().to_owned(), v as f32))
                .collect(),
            level: seg.name(),
            level_weight,
        })
    }

    /// [`popular`](Self::popular) (or, with `velocity`,
    /// [`trending_now`](Self::trending_now)) as store item indices (see
    /// [`items`](Self::items)), restricted to items `keep` accepts, so `n`
    /// results come back whenever that many qualify. Also returns the
    /// back-off level that answered.
    pub fn top_where(
        &self,
        query: &TrendingQuery,
        velocity: bool,
        keep: &dyn Fn(u32) -> bool,
    ) -> Result<(Vec<(u32, f64)>, Segment)> {
        let (items, seg, _) = if velocity {
            self.answer_where(query, |seg, slot| self.velocity(seg, slot, query.now), keep)?
        } else {
            self.answer_where(query, |seg, slot| self.pop(seg, slot, query.now), keep)?
        };
        Ok((items, seg))
    }

    /// The `n` most popular items at `now` at the first back-off level
    /// with enough weight. Errors: `n = 0` ([`Error::InvalidInput`]).
    pub fn popular(&self, query: &TrendingQuery) -> Result<TrendingResult> {
        self.answer(query, |seg, slot| self.pop(seg, slot, query.now))
    }

    /// The `n` items with the highest positive velocity at `now` ("trending
    /// now", see the module docs), at the level [`popular`](Self::popular)
    /// would use. Errors: `n = 0` ([`Error::InvalidInput`]).
    pub fn trending_now(&self, query: &TrendingQuery) -> Result<TrendingResult> {
        self.answer(query, |seg, slot| self.velocity(seg, slot, query.now))
    }
}

impl Component for TrendingStore {
    /// Writes the component into `file` under the `trending.` prefix:
    ///
    /// * meta `"trending": {"config": …}`;
    /// * id maps `trending.items`, `trending.categories`, `trending.regions`,
    ///   `trending.countries`;
    /// * `trending.item_category` U32 `[n_items]` (`u32::MAX` = none);
    /// * segments as `trending.segments` U32 `[n_segments, 3]` rows of
    ///   (kind, a, b): kind 0 global, 1 region (a = region), 2 country
    ///   (a = country), 3 channel (a = index in [`Channel::ALL`]),
    ///   4 category (a = category), 5 region × category, 6 country ×
    ///   category (a, b);
    /// * per-segment entries CSR-like: `trending.indptr` U64
    ///   `[n_segments + 1]`, `trending.entry_items` U32 `[nnz]`,
    ///   `trending.entry_ts` U64 `[nnz]` and `trending.segment_ts` U64
    ///   `[n_segments]` (timestamps are `i64` stored as their two's-complement
    ///   bits), `trending.entry_values` U64 `[nnz, lanes]` and
    ///   `trending.segment_totals` U64 `[n_segments, lanes]` (`f64` bit
    ///   patterns, so a round trip is bit-exact; lanes = distinct
    ///   half-lives ascending, then recent, then baseline).
    fn write_to(&self, file: &mut ModelFile) -> Result<()> {
        let lanes = self.lane_hl.len();
        file.set_meta("trending", serde_json::json!({ "config": self.config }));
        file.put_ids("trending.items", &self.items)?;
        file.put_ids("trending.categories", &self.categories)?;
        file.put_ids("trending.regions", &self.regions)?;
        file.put_ids("trending.countries", &self.countries)?;
        file.put(
            "trending.item_category",
            vec![self.item_category.len()],
            TensorData::U32(self.item_category.clone()),
        )?;
        let n_seg = self.segs.len();
        let keys: Vec<u32> = self.keys.iter().flat_map(|&(k, a, b)| [k, a, b]).collect();
        file.put("trending.segments", vec![n_seg, 3], TensorData::U32(keys))?;
        let mut indptr = Vec::with_capacity(n_seg + 1);
        indptr.push(0u64);
        let (mut items, mut ts, mut vals) = (Vec::new(), Vec::new(), Vec::new());
        let (mut seg_ts, mut totals) = (Vec::new(), Vec::new());
        for seg in &self.segs {
            items.extend_from_slice(&seg.items);
            ts.extend(seg.ts.iter().map(|&t| t as u64));
            vals.extend(seg.vals.iter().map(|v| v.to_bits()));
            indptr.push(items.len() as u64);
            seg_ts.push(seg.total_ts as u64);
            totals.extend(seg.total.iter().map(|v| v.to_bits()));
        }
        let nnz = items.len();
        file.put("trending.indptr", vec![n_seg + 1], TensorData::U64(indptr))?;
        file.put("trending.entry_items", vec![nnz], TensorData::U32(items))?;
        file.put("trending.entry_ts", vec![nnz], TensorData::U64(ts))?;
        file.put(
            "trending.entry_values",
            vec![nnz, lanes],
            TensorData::U64(vals),
        )?;
        file.put("trending.segment_ts", vec![n_seg], TensorData::U64(seg_ts))?;
        file.put(
            "trending.segment_totals",
            vec![n_seg, lanes],
            TensorData::U64(totals),
        )
    }

    /// Reads the component written by [`write_to`](Self::write_to),
    /// validating config, shapes, indices and values
    /// ([`Error::ModelFormat`] when anything is off).
    fn read_from(file: &ModelFile) -> Result<Self> {
        let config: TrendingConfig = file.component_config("trending", TrendingConfig::validate)?;
        let mut st = Self::empty(config);
        let lanes = st.lane_hl.len();
        let bad = |m: String| Error::format(format!("trending: {m}"));
        st.items = file.ids("trending.items")?;
        st.categories = file.ids("trending.categories")?;
        st.regions = file.ids("trending.regions")?;
        st.countries = file.ids("trending.countries")?;
        st.item_category = u32s(file, "trending.item_category", &[st.items.len()])?.to_vec();
        if st
            .item_category
            .iter()
            .any(|&c| c != NONE && c as usize >= st.categories.len())
        {
            return Err(bad("item category out of range".into()));
        }
        st.region_country = st
            .regions
            .ids()
            .iter()
            .map(|r| {
                st.config
                    .region_parent
                    .get(r)
                    .and_then(|c| st.countries.get(c))
                    .unwrap_or(NONE)
            })
            .collect();
        let seg_t = file.tensor("trending.segments")?;
        let n_seg = seg_t.shape.first().copied().unwrap_or(0);
        let keys = u32s(file, "trending.segments", &[n_seg, 3])?;
        let indptr = u64s(file, "trending.indptr", &[n_seg + 1])?;
        let nnz = file
            .tensor("trending.entry_items")?
            .shape
            .first()
            .copied()
            .unwrap_or(0);
        let items = u32s(file, "trending.entry_items", &[nnz])?;
        let ts = u64s(file, "trending.entry_ts", &[nnz])?;
        let vals = u64s(file, "trending.entry_values", &[nnz, lanes])?;
        let seg_ts = u64s(file, "trending.segment_ts", &[n_seg])?;
        let totals = u64s(file, "trending.segment_totals", &[n_seg, lanes])?;
        if indptr.first() != Some(&0)
            || indptr.last() != Some(&(nnz as u64))
            || indptr.windows(2).any(|w| w[0] > w[1])
        {
            return Err(bad("corrupt indptr".into()));
        }
        let cap = st.config.max_items_per_segment;
        let n_items = st.items.len();
        let good = |v: &u64| {
            let x = f64::from_bits(*v);
            x.is_finite() && x >= 0.0
        };
        if !vals.iter().all(good) || !totals.iter().all(good) {
            return Err(bad("scores must be finite and >= 0".into()));
        }
        for s in 0..n_seg {
            let key = (keys[3 * s], keys[3 * s + 1], keys[3 * s + 2]);
            let in_range = |i: u32, m: &IdMap| (i as usize) < m.len();
            let ok = match key {
                (K_GLOBAL, 0, 0) => true,
                (K_REGION, a, 0) => in_range(a, &st.regions),
                (K_COUNTRY, a, 0) => in_range(a, &st.countries),
                (K_CHANNEL, a, 0) => (a as usize) < Channel::ALL.len(),
                (K_CATEGORY, a, 0) => in_range(a, &st.categories),
                (K_REGION_CATEGORY, a, b) => {
                    in_range(a, &st.regions) && in_range(b, &st.categories)
                }
                (K_COUNTRY_CATEGORY, a, b) => {
                    in_range(a, &st.countries) && in_range(b, &st.categories)
                }
                _ => false,
            };
            if !ok || st.seg_of.insert(key, s as u32).is_some() {
                return Err(bad(format!("invalid or duplicate segment {key:?}")));
            }
            st.keys.push(key);
            let (lo, hi) = (indptr[s] as usize, indptr[s + 1] as usize);
            if hi - lo > cap {
                return Err(bad(format!("segment {s} holds more than {cap} items")));
            }
            let mut seg = Seg {
                items: items[lo..hi].to_vec(),
                ts: ts[lo..hi].iter().map(|&t| t as i64).collect(),
                vals: vals[lo * lanes..hi * lanes]
                    .iter()
                    .map(|&v| f64::from_bits(v))
                    .collect(),
                total_ts: seg_ts[s] as i64,
                total: totals[s * lanes..(s + 1) * lanes]
                    .iter()
                    .map(|&v| f64::from_bits(v))
                    .collect(),
                index: IntMap::default(),
            };
            for (slot, &it) in seg.items.iter().enumerate() {
                if it as usize >= n_items || seg.index.insert(it, slot as u32).is_some() {
                    return Err(bad(format!("segment {s}: bad or duplicate item {it}")));
                }
            }
            st.segs.push(seg);
        }
        st.compaction = Compaction::after(st.items.len());
        Ok(st)
    }
}

fn channel_code(c: Channel) -> u32 {
    Channel::ALL.iter().position(|&x| x == c).unwrap_or(0) as u32
}

/// Sum of the popularity lanes decayed by `dt` seconds.
fn pop_at(vals: &[f64], hl: &[f64], dt: f64) -> f64 {
    vals.iter()
        .zip(hl)
        .map(|(&v, &h)| if dt > 0.0 { v * decay(dt, h) } else { v })
        .sum()
}

/// Keeps the `keep` best entries of `seg` by popularity at `max(t, ts)`
/// (ties: lower item index), preserving slot order.
fn prune(seg: &mut Seg, keep: usize, t: i64, hl: &[f64], n_pop: usize) {
    let lanes = hl.len();
    let mut ranked: Vec<(f64, u32, usize)> = (0..seg.items.len())
        .map(|slot| {
            let v = &seg.vals[slot * lanes..slot * lanes + n_pop];
            (pop_at(v, hl, age(t, seg.ts[slot])), seg.items[slot], slot)
        })
        .collect();
    if ranked.len() <= keep {
        return;
    }
    let by = |a: &(f64, u32, usize), b: &(f64, u32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    crate::linalg::partition_best(&mut ranked, keep, by);
    ranked.truncate(keep);
    let mut slots: Vec<usize> = ranked.into_iter().map(|r| r.2).collect();
    slots.sort_unstable();
    let mut items = Vec::with_capacity(keep);
    let mut ts = Vec::with_capacity(keep);
    let mut vals = Vec::with_capacity(keep * lanes);
    seg.index.clear();
    for (new, &slot) in slots.iter().enumerate() {
        seg.index.insert(seg.items[slot], new as u32);
        items.push(seg.items[slot]);
        ts.push(seg.ts[slot]);
        vals.extend_from_slice(&seg.vals[slot * lanes..(slot + 1) * lanes]);
    }
    seg.items = items;
    seg.ts = ts;
    seg.vals = vals;
}

fn u32s<'a>(file: &'a ModelFile, name: &str, shape: &[usize]) -> Result<&'a [u32]> {
    let t = file.tensor(name)?;
    match &t.data {
        TensorData::U32(v) if t.shape == shape => Ok(v),
        _ => Err(Error::format(format!(
            "tensor {name}: expected U32 {shape:?}, found shape {:?}",
            t.shape
        ))),
    }
}

fn u64s<'a>(file: &'a ModelFile, name: &str, shape: &[usize]) -> Result<&'a [u64]> {
    let t = file.tensor(name)?;
    match &t.data {
        TensorData::U64(v) if t.shape == shape => Ok(v),
        _ => Err(Error::format(format!(
            "tensor {name}: expected U64 {shape:?}, found shape {:?}",
            t.shape
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Item;

    const H: i64 = 3600;

    fn ev(item: &str, kind: EventKind, ts: i64, region: Option<&str>) -> Event {
        Event {
            region: region.map(str::to_owned),
            ..Event::new("u", item, kind, ts)
        }
    }

    fn catalog(items: &[(&str, &str)]) -> Catalog {
        let mut c = Catalog::new();
        for (id, cat) in items {
            c.add(Item {
                id: (*id).into(),
                title: String::new(),
                category: (*cat).into(),
                brand: None,
                price: None,
                in_stock: true,
                regions: vec![],
                attributes: BTreeMap::new(),
            })
            .unwrap();
        }
        c
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-12)
    }

    fn q(region: Option<&str>, category: Option<&str>, n: usize, now: i64) -> TrendingQuery {
        TrendingQuery {
            region: region.map(str::to_owned),
            category: category.map(str::to_owned),
            n,
            now,
            ..Default::default()
        }
    }

    /// `uk-london` and `uk-scotland` in the country `uk`; `nl` on its own.
    fn uk_parents() -> BTreeMap<String, String> {
        ["uk-london", "uk-scotland"]
            .map(|r| (r.to_owned(), "uk".to_owned()))
            .into()
    }

    /// A small deterministic event stream, partly out of order.
    fn random_events(n: usize, n_items: u64, seed: u64) -> Vec<Event> {
        let mut x = seed;
        let mut next = move |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        let regions = [
            Some("uk-london"),
            Some("uk-scotland"),
            Some("nl"),
            Some("au"),
            None,
        ];
        let kinds = [
            EventKind::View,
            EventKind::Click,
            EventKind::AddToCart,
            EventKind::Purchase,
            EventKind::Custom("wish".into()),
        ];
        (0..n)
            .map(|i| {
                // Mostly increasing, with late events up to 3 days old.
                let ts = 1_000_000 + i as i64 * 600 - next(3) as i64 * next(72 * H as u64) as i64;
                let mut e = ev(
                    &format!("i{}", next(n_items)),
                    kinds[next(5) as usize].clone(),
                    ts,
                    regions[next(5) as usize],
                );
                e.channel = [None, Some(Channel::Web), Some(Channel::App)][next(3) as usize];
                e
            })
            .collect()
    }

    fn test_config() -> TrendingConfig {
        TrendingConfig {
            weights: KindWeights::default().with_custom("wish", 3.0),
            half_life_by_kind: BTreeMap::from([("purchase".into(), 240.0), ("wish".into(), 12.0)]),
            // Country levels for the regions of `random_events` (nl stays alone).
            region_parent: uk_parents()
                .into_iter()
                .chain([("au".to_owned(), "anz".to_owned())])
                .collect(),
            ..Default::default()
        }
    }

    fn test_catalog() -> Catalog {
        // Items i0..i29 in two categories; i30+ are unknown to the catalog.
        let ids: Vec<(String, &str)> = (0..30)
            .map(|i| {
                (
                    format!("i{i}"),
                    if i % 3 == 0 { "sunglasses" } else { "frames" },
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = ids.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        catalog(&refs)
    }

    /// The segments an event belongs to, computed independently.
    fn memberships(e: &Event, cfg: &TrendingConfig, cat: &Catalog) -> Vec<Segment> {
        let mut v = vec![Segment::Global];
        if let Some(ch) = e.channel {
            v.push(Segment::Channel(ch));
        }
        let category = cat.get(&e.item).map(|i| i.category.clone());
        if let Some(r) = &e.region {
            v.push(Segment::Region(r.clone()));
            if let Some(p) = cfg.region_parent.get(r) {
                v.push(Segment::Country(p.clone()));
                if let Some(c) = &category {
                    v.push(Segment::CountryCategory(p.clone(), c.clone()));
                }
            }
            if let Some(c) = &category {
                v.push(Segment::RegionCategory(r.clone(), c.clone()));
            }
        }
        if let Some(c) = &category {
            v.push(Segment::Category(c.clone()));
        }
        v
    }

    type Reference = HashMap<Segment, BTreeMap<String, f64>>;

    fn brute_force(events: &[Event], cfg: &TrendingConfig, cat: &Catalog, now: i64) -> Reference {
        let mut r: Reference = HashMap::new();
        for e in events {
            let w = f64::from(cfg.weights.weight(&e.kind).unwrap());
            let h = cfg
                .half_life_by_kind
                .get(e.kind.as_str())
                .copied()
                .unwrap_or(cfg.half_life_hours);
            let s = w * (-((now - e.timestamp) as f64 / (h * 3600.0))).exp2();
            for seg in memberships(e, cfg, cat) {
                *r.entry(seg).or_default().entry(e.item.clone()).or_default() += s;
            }
        }
        r
    }

    #[test]
    fn matches_brute_force_with_late_events() {
        let cfg = test_config();
        let cat = test_catalog();
        let events = random_events(3000, 40, 7);
        let mut st = TrendingStore::new(cfg.clone(), Some(&cat)).unwrap();
        for e in &events {
            st.ingest(e).unwrap();
        }
        let now = events.iter().map(|e| e.timestamp).max().unwrap() + 5 * H;
        let reference = brute_force(&events, &cfg, &cat, now);
        assert_eq!(st.segments().len(), reference.len());
        for (seg, items) in &reference {
            assert!(st.segment_len(seg) <= 40);
            let total: f64 = items.values().sum();
            assert!(close(st.segment_weight(seg, now), total), "{seg:?}");
            for (item, &want) in items {
                let got = st.score(seg, item, now);
                assert!(close(got, want), "{seg:?} {item}: {got} vs {want}");
            }
        }
        // popular() at the global level ranks exactly as the reference.
        let got = st.popular(&q(None, None, 10, now)).unwrap();
        assert_eq!(got.level, "global");
        let mut want: Vec<(&String, &f64)> = reference[&Segment::Global].iter().collect();
        want.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        let got_ids: Vec<&str> = got.items.iter().map(|x| x.0.as_str()).collect();
        let want_ids: Vec<&str> = want[..10].iter().map(|x| x.0.as_str()).collect();
        assert_eq!(got_ids, want_ids);
        for ((_, s), (_, w)) in got.items.iter().zip(&want) {
            assert!(close(f64::from(*s), **w) || ((f64::from(*s) - **w) / **w).abs() < 1e-6);
        }
    }

    #[test]
    fn decay_halves_per_half_life_and_per_kind() {
        let cfg = TrendingConfig {
            half_life_by_kind: BTreeMap::from([("purchase".into(), 24.0)]),
            ..Default::default()
        };
        let mut st = TrendingStore::new(cfg, None).unwrap();
        st.ingest(&ev("a", EventKind::View, 0, None)).unwrap();
        st.ingest(&ev("b", EventKind::Purchase, 0, None)).unwrap();
        let g = Segment::Global;
        assert!(close(st.score(&g, "a", 0), 1.0));
        assert!(close(st.score(&g, "a", 72 * H), 0.5));
        assert!(close(st.score(&g, "a", 144 * H), 0.25));
        assert!(close(st.score(&g, "b", 24 * H), 4.0));
        assert!(close(st.score(&g, "b", 72 * H), 1.0));
        // Mixed kinds on one item decay at their own rates.
        st.ingest(&ev("a", EventKind::Purchase, 0, None)).unwrap();
        assert!(close(st.score(&g, "a", 72 * H), 0.5 + 1.0));
        // A query before the last update sees the entry as of that update.
        st.ingest(&ev("c", EventKind::View, 10 * H, None)).unwrap();
        assert!(close(st.score(&g, "c", 0), 1.0));
    }

    #[test]
    fn back_off_picks_first_dense_level_and_reports_it() {
        let cat = catalog(&[("sg1", "sunglasses"), ("fr1", "frames"), ("fr2", "frames")]);
        let config = TrendingConfig {
            region_parent: uk_parents(),
            ..Default::default()
        };
        let mut st = TrendingStore::new(config, Some(&cat)).unwrap();
        let mut add = |item: &str, region: &str, k: usize| {
            for _ in 0..k {
                st.ingest(&ev(item, EventKind::View, 0, Some(region)))
                    .unwrap();
            }
        };
        add("fr1", "uk-london", 30);
        add("sg1", "uk-london", 25);
        add("fr2", "uk-scotland", 3);
        add("sg1", "nl", 2);
        let level = |r: Option<&str>, c: Option<&str>| st.popular(&q(r, c, 5, 0)).unwrap().level;
        assert_eq!(level(Some("uk-london"), None), "region:uk-london");
        assert_eq!(level(Some("uk-scotland"), None), "country:uk");
        assert_eq!(level(Some("nl"), None), "global"); // nl has no parent
        assert_eq!(level(Some("mars"), None), "global");
        assert_eq!(
            level(Some("uk-london"), Some("sunglasses")),
            "region_category:uk-london/sunglasses"
        );
        assert_eq!(
            level(Some("uk-scotland"), Some("frames")),
            "country_category:uk/frames"
        );
        assert_eq!(level(Some("nl"), Some("sunglasses")), "category:sunglasses");
        assert_eq!(level(None, Some("frames")), "category:frames");
        assert_eq!(level(None, None), "global");
        let r = st.popular(&q(Some("uk-scotland"), None, 5, 0)).unwrap();
        assert_eq!(r.items[0], ("fr1".to_owned(), 30.0));
        assert!(close(r.level_weight, 58.0));
        let r = st
            .popular(&q(Some("uk-scotland"), Some("frames"), 5, 0))
            .unwrap();
        assert_eq!(r.items.len(), 2);
        let mut ch = q(None, None, 5, 0);
        ch.channel = Some(Channel::App);
        assert_eq!(st.popular(&ch).unwrap().level, "global");
        // A lower threshold stops at the sparse region.
        let mut st2 = st.clone();
        st2.config.min_segment_weight = 3.0;
        assert_eq!(
            st2.popular(&q(Some("uk-scotland"), None, 5, 0))
                .unwrap()
                .level,
            "region:uk-scotland"
        );
    }

    #[test]
    fn bounded_memory_keeps_the_strongest_items() {
        let cap = 8;
        let cfg = TrendingConfig {
            max_items_per_segment: cap,
            ..Default::default()
        };
        let mut st = TrendingStore::new(cfg, None).unwrap();
        // Five heavy items, then a stream of one-off items.
        for k in 0..5 {
            for _ in 0..20 {
                st.ingest(&ev(
                    &format!("heavy{k}"),
                    EventKind::Purchase,
                    0,
                    Some("au"),
                ))
                .unwrap();
            }
        }
        for k in 0..200 {
            st.ingest(&ev(&format!("x{k}"), EventKind::View, k, Some("au")))
                .unwrap();
            for seg in st.segments() {
                assert!(st.segment_len(&seg) <= cap);
            }
        }
        let top = st.popular(&q(Some("au"), None, 5, 300)).unwrap();
        let mut ids: Vec<_> = top.items.iter().map(|x| x.0.clone()).collect();
        ids.sort();
        assert_eq!(ids, ["heavy0", "heavy1", "heavy2", "heavy3", "heavy4"]);
        for (_, s) in &top.items {
            let want = 160.0 * (-300.0 / (72.0 * 3600.0f64)).exp2();
            assert!((f64::from(*s) - want).abs() < 1e-3);
        }
        // The total stays exact after pruning.
        let want = 800.0 * (-300.0 / (72.0 * 3600.0f64)).exp2()
            + (0..200)
                .map(|k| (-((300 - k) as f64) / (72.0 * 3600.0)).exp2())
                .sum::<f64>();
        let tot = st.segment_weight(&Segment::Region("au".into()), 300);
        assert!(close(tot, want), "{tot} vs {want}");
        // With fewer distinct items than the cap, results are exact.
        let cfg = TrendingConfig {
            max_items_per_segment: 40,
            ..test_config()
        };
        let cat = test_catalog();
        let events = random_events(1000, 39, 3);
        let mut st = TrendingStore::new(cfg.clone(), Some(&cat)).unwrap();
        st.ingest_batch(&events).unwrap();
        let now = 3_000_000;
        let reference = brute_force(&events, &cfg, &cat, now);
        for (seg, items) in &reference {
            for (item, &want) in items {
                assert!(close(st.score(seg, item, now), want));
            }
        }
    }

    #[test]
    fn made_up_regions_and_items_stay_within_the_caps() {
        let cfg = TrendingConfig {
            max_items_per_segment: 8,
            max_segments: 40,
            ..Default::default()
        };
        let cat = test_catalog();
        let mut st = TrendingStore::new(cfg.clone(), Some(&cat)).unwrap();
        // A real, busy region and item first.
        for t in 0..50 {
            st.ingest(&ev("i1", EventKind::Purchase, t, Some("uk")))
                .unwrap();
        }
        let before = st.items().len();
        let untouched = st.clone();
        for k in 0..5000i64 {
            let region = format!("fake-{k}");
            st.ingest(&ev(
                &format!("junk-{k}"),
                EventKind::View,
                100 + k,
                Some(&region),
            ))
            .unwrap();
            // A known catalog item in a made-up region: region × category.
            st.ingest(&ev("i2", EventKind::View, 100 + k, Some(&region)))
                .unwrap();
            assert!(
                st.segments().len() <= 40,
                "{} segments",
                st.segments().len()
            );
        }
        assert!(st.regions.len() <= 40);
        // Items: the catalog's stay, made-up ones only while held.
        assert!(st.items().len() <= 2 * (before + 40 * 8) + ITEM_SLACK);
        assert!(st.items_epoch() > 0);
        assert!(cat.items().iter().all(|i| st.items().get(&i.id).is_some()));
        // The heavy region and its history survived the flood.
        let uk = Segment::Region("uk".into());
        assert!(st.segments().contains(&uk));
        let want = untouched.score(&uk, "i1", 6000);
        assert!(want > 0.0 && st.score(&uk, "i1", 6000) == want);
        let top = st.popular(&q(Some("uk"), None, 1, 6000)).unwrap();
        assert_eq!(
            (top.items[0].0.as_str(), top.level.as_str()),
            ("i1", "region:uk")
        );
        // An evicted region backs off as an unknown one does.
        let gone = st.popular(&q(Some("fake-3"), None, 3, 6000)).unwrap();
        assert_eq!(gone.level, "global");
        // Every index is consistent: the store round-trips and equals a
        // fresh load of itself.
        let back = TrendingStore::from_bytes(&st.to_bytes().unwrap()).unwrap();
        assert_eq!(back, st);
        assert_eq!(
            back.popular(&q(Some("uk"), None, 3, 6000)).unwrap(),
            st.popular(&q(Some("uk"), None, 3, 6000)).unwrap()
        );
        // Overlong ids are refused, nothing changes.
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert!(st.ingest(&ev(&long, EventKind::View, 1, None)).is_err());
        assert!(st
            .ingest(&ev("i1", EventKind::View, 1, Some(&long)))
            .is_err());
        assert_eq!(back, st);
        // The cap is validated, and configs written before it load with
        // the default.
        for bad in [0, MIN_SEGMENTS - 1, MAX_SEGMENTS_LIMIT + 1] {
            let c = TrendingConfig {
                max_segments: bad,
                ..Default::default()
            };
            assert!(
                matches!(c.validate(), Err(Error::Config { field, .. }) if field == "max_segments")
            );
        }
        let mut old = serde_json::to_value(TrendingConfig::default()).unwrap();
        old.as_object_mut().unwrap().remove("max_segments");
        let old: TrendingConfig = serde_json::from_value(old).unwrap();
        assert_eq!(old.max_segments, 20_000);
    }

    #[test]
    fn trending_now_ranks_a_burst_above_steady_popularity() {
        let mut st = TrendingStore::new(TrendingConfig::default(), None).unwrap();
        let day = 24 * H;
        let mut events = Vec::new();
        // "steady": 30 views a day for 30 days.
        for d in 0..30 {
            for k in 0..30 {
                events.push(ev("steady", EventKind::View, d * day + k * 2880, None));
            }
        }
        // "burst": 50 views in the last 6 hours.
        for k in 0..50 {
            events.push(ev(
                "burst",
                EventKind::View,
                30 * day - 6 * H + k * 400,
                None,
            ));
        }
        events.sort_by_key(|e| e.timestamp);
        st.ingest_batch(&events).unwrap();
        let now = 30 * day;
        let pop = st.popular(&q(None, None, 2, now)).unwrap();
        assert_eq!(pop.items[0].0, "steady");
        let tr = st.trending_now(&q(None, None, 2, now)).unwrap();
        assert_eq!(tr.items[0].0, "burst", "{tr:?}");
        assert!(tr.items.len() == 1 || tr.items[1].1 < 0.5 * tr.items[0].1);
        // The steady item's velocity is about zero.
        let seg = &st.segs[0];
        let slot = seg.index[&st.items.get("steady").unwrap()] as usize;
        assert!(st.velocity(seg, slot, now).abs() < 0.2);
    }

    #[test]
    fn deterministic() {
        let events = random_events(2000, 60, 11);
        let build = || {
            let mut st = TrendingStore::new(
                TrendingConfig {
                    max_items_per_segment: 10,
                    ..test_config()
                },
                Some(&test_catalog()),
            )
            .unwrap();
            st.ingest_batch(&events).unwrap();
            st
        };
        let (a, b) = (build(), build());
        assert_eq!(a, b);
        assert_eq!(a.to_bytes().unwrap(), b.to_bytes().unwrap());
        let query = q(Some("uk-london"), Some("frames"), 7, 2_500_000);
        assert_eq!(a.popular(&query).unwrap(), b.popular(&query).unwrap());
        assert_eq!(
            a.trending_now(&query).unwrap(),
            b.trending_now(&query).unwrap()
        );
    }

    #[test]
    fn persistence_round_trip_with_als() {
        use crate::als::{AlsConfig, AlsModel};
        use crate::data::InteractionsBuilder;
        let events = random_events(1500, 50, 5);
        let mut st = TrendingStore::new(
            TrendingConfig {
                max_items_per_segment: 20,
                ..test_config()
            },
            Some(&test_catalog()),
        )
        .unwrap();
        st.ingest_batch(&events).unwrap();
        let back = TrendingStore::from_bytes(&st.to_bytes().unwrap()).unwrap();
        assert_eq!(back, st);

        let mut b = InteractionsBuilder::new()
            .weights(test_config().weights)
            .unwrap();
        b.extend_events(&events).unwrap();
        let als = AlsModel::fit(
            &AlsConfig {
                factors: 2,
                iterations: 2,
                ..Default::default()
            },
            &b.build().unwrap(),
        )
        .unwrap();
        let mut f = ModelFile::new();
        als.write_to(&mut f).unwrap();
        st.write_to(&mut f).unwrap();
        let f = ModelFile::from_bytes(&f.to_bytes().unwrap()).unwrap();
        let mut back = TrendingStore::read_from(&f).unwrap();
        assert_eq!(back, st);
        assert_eq!(
            AlsModel::read_from(&f)
                .unwrap()
                .similar_items(0, 3)
                .unwrap(),
            als.similar_items(0, 3).unwrap()
        );
        let query = q(Some("au"), None, 5, 2_000_000);
        assert_eq!(back.popular(&query).unwrap(), st.popular(&query).unwrap());
        // The loaded store keeps ingesting like the original.
        let mut orig = st.clone();
        let more = random_events(300, 70, 9);
        back.ingest_batch(&more).unwrap();
        orig.ingest_batch(&more).unwrap();
        assert_eq!(back, orig);

        let mut only_als = ModelFile::new();
        als.write_to(&mut only_als).unwrap();
        assert!(matches!(
            TrendingStore::read_from(&only_als),
            Err(Error::ModelFormat(_))
        ));
        let mut bad = f.clone();
        bad.set_meta(
            "trending",
            serde_json::json!({"config": {"smoothing": -1.0}}),
        );
        assert!(matches!(
            TrendingStore::read_from(&bad),
            Err(Error::ModelFormat(_))
        ));
        let mut bad = f.clone();
        bad.put("trending.entry_items", vec![0], TensorData::U32(vec![]))
            .unwrap();
        assert!(matches!(
            TrendingStore::read_from(&bad),
            Err(Error::ModelFormat(_))
        ));
        let mut bad = f.clone();
        let t = bad.tensor("trending.entry_values").unwrap().clone();
        if let TensorData::U64(mut v) = t.data {
            v[0] = f64::NAN.to_bits();
            bad.put("trending.entry_values", t.shape, TensorData::U64(v))
                .unwrap();
        }
        assert!(matches!(
            TrendingStore::read_from(&bad),
            Err(Error::ModelFormat(_))
        ));
    }

    #[test]
    fn bad_input_gives_typed_errors_and_changes_nothing() {
        let bad_cfgs: Vec<(TrendingConfig, &str)> = vec![
            (
                TrendingConfig {
                    half_life_hours: 0.0,
                    ..Default::default()
                },
                "half_life_hours",
            ),
            (
                TrendingConfig {
                    half_life_hours: f64::NAN,
                    ..Default::default()
                },
                "half_life_hours",
            ),
            (
                TrendingConfig {
                    half_life_by_kind: BTreeMap::from([("view".into(), -1.0)]),
                    ..Default::default()
                },
                "half_life_by_kind.view",
            ),
            (
                TrendingConfig {
                    weights: KindWeights {
                        click: f32::NAN,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                "weights.click",
            ),
            (
                TrendingConfig {
                    weights: KindWeights::default().with_custom("x", -2.0),
                    ..Default::default()
                },
                "weights.x",
            ),
            (
                TrendingConfig {
                    window_hours: -1.0,
                    ..Default::default()
                },
                "window_hours",
            ),
            (
                TrendingConfig {
                    baseline_hours: 24.0,
                    ..Default::default()
                },
                "baseline_hours",
            ),
            (
                TrendingConfig {
                    smoothing: 0.0,
                    ..Default::default()
                },
                "smoothing",
            ),
            (
                TrendingConfig {
                    max_items_per_segment: 0,
                    ..Default::default()
                },
                "max_items_per_segment",
            ),
            (
                TrendingConfig {
                    min_segment_weight: f64::INFINITY,
                    ..Default::default()
                },
                "min_segment_weight",
            ),
            (
                TrendingConfig {
                    region_parent: BTreeMap::from([("x".into(), String::new())]),
                    ..Default::default()
                },
                "region_parent",
            ),
            (
                TrendingConfig {
                    half_life_by_kind: (0..9)
                        .map(|i| (format!("k{i}"), 1.0 + f64::from(i)))
                        .collect(),
                    ..Default::default()
                },
                "half_life_by_kind",
            ),
        ];
        for (cfg, field) in bad_cfgs {
            match TrendingStore::new(cfg, None) {
                Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }

        let mut st = TrendingStore::new(TrendingConfig::default(), None).unwrap();
        st.ingest(&ev("a", EventKind::View, 5, Some("au"))).unwrap();
        let before = st.clone();
        let bad_events = [
            ev("b", EventKind::Custom("wish".into()), 6, Some("au")),
            ev("", EventKind::View, 6, None),
            ev("b", EventKind::View, 6, Some("")),
        ];
        for e in &bad_events {
            assert!(matches!(st.ingest(e), Err(Error::InvalidInput(_))), "{e:?}");
            assert_eq!(st, before);
        }
        let batch = [
            ev("c", EventKind::View, 7, Some("nz")),
            bad_events[0].clone(),
        ];
        assert!(matches!(
            st.ingest_batch(&batch),
            Err(Error::InvalidInput(_))
        ));
        assert_eq!(st, before);
        assert!(matches!(
            st.popular(&q(None, None, 0, 0)),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            st.trending_now(&q(None, None, 0, 0)),
            Err(Error::InvalidInput(_))
        ));
        // Extreme timestamps and empty stores neither panic nor produce NaN.
        st.ingest(&ev("a", EventKind::View, i64::MIN, None))
            .unwrap();
        st.ingest(&ev("a", EventKind::View, i64::MAX, None))
            .unwrap();
        for now in [i64::MIN, 0, i64::MAX] {
            let r = st.popular(&q(Some("au"), Some("x"), 3, now)).unwrap();
            assert!(r.items.iter().all(|x| x.1.is_finite()));
            st.trending_now(&q(None, None, 3, now)).unwrap();
        }
        let empty = TrendingStore::new(TrendingConfig::default(), None).unwrap();
        let r = empty.popular(&q(Some("au"), None, 3, 0)).unwrap();
        assert!(r.items.is_empty() && r.level == "global");
    }

    #[test]
    fn config_serde_and_neutral_parents() {
        let c = TrendingConfig::default();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["half_life_hours"], 72.0);
        // No region hierarchy is assumed: "uk-london" has no country level.
        assert_eq!(v["region_parent"], serde_json::json!({}));
        let st = TrendingStore::new(c.clone(), None).unwrap();
        assert_eq!(
            st.chain(&q(Some("uk-london"), None, 3, 0)),
            [Segment::Region("uk-london".into()), Segment::Global]
        );
        let back: TrendingConfig = serde_json::from_value(serde_json::json!(
            {"window_hours": 12.0, "region_parent": {"uk-london": "uk"}}
        ))
        .unwrap();
        assert_eq!(back.window_hours, 12.0);
        assert_eq!(back.max_items_per_segment, 1000);
        assert_eq!(back.region_parent["uk-london"], "uk");
        let st = TrendingStore::new(back, None).unwrap();
        assert_eq!(
            st.chain(&q(Some("uk-london"), None, 3, 0))[1],
            Segment::Country("uk".into())
        );
        assert_eq!(serde_json::from_value::<TrendingConfig>(v).unwrap(), c);
    }

    #[test]
    fn demo_data_shows_sunglasses_down_under() {
        use crate::demo::{generate, DemoConfig};
        let d = generate(&DemoConfig::small()).unwrap();
        let mut st = TrendingStore::new(TrendingConfig::default(), Some(&d.catalog)).unwrap();
        st.ingest_batch(&d.events).unwrap();
        let now = d.events.iter().map(|e| e.timestamp).max().unwrap();
        let share = |region: &str| {
            let r = st.popular(&q(Some(region), None, 20, now)).unwrap();
            assert_eq!(r.level, format!("region:{region}"));
            assert_eq!(r.items.len(), 20);
            let sun = r
                .items
                .iter()
                .filter(|(id, _)| d.catalog.get(id).unwrap().category == "sunglasses")
                .count();
            sun as f64 / 20.0
        };
        let (au, nz, scot) = (share("au"), share("nz"), share("uk-scotland"));
        assert!(au > scot && nz > scot, "au {au} nz {nz} scotland {scot}");
        // The category query answers from the region × category segment.
        let r = st
            .popular(&q(Some("au"), Some("sunglasses"), 5, now))
            .unwrap();
        assert_eq!(r.level, "region_category:au/sunglasses");
        assert!(r
            .items
            .iter()
            .all(|(id, _)| d.catalog.get(id).unwrap().category == "sunglasses"));
    }

    #[test]
    #[ignore = "throughput check; run with --release -- --ignored"]
    fn ingest_throughput() {
        use crate::demo::{generate, DemoConfig};
        let d = generate(&DemoConfig::default()).unwrap();
        let mut st = TrendingStore::new(TrendingConfig::default(), Some(&d.catalog)).unwrap();
        let start = std::time::Instant::now();
        for e in &d.events {
            st.ingest(e).unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let rate = d.events.len() as f64 / secs;
        println!(
            "trending ingest: {} events in {secs:.3}s = {:.2} M events/s",
            d.events.len(),
            rate / 1e6
        );
        assert!(rate >= 1.0e6, "{rate:.0} events/s");
    }
}
