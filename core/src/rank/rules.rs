//! Business rules of one placement: which items may be shown at all
//! (eligibility), and how the final list is adjusted (boosts, a per-brand
//! cap, pinned items).
//!
//! [`Rules`] is the serde config; [`Rules::compile`] validates it against a
//! catalog and precomputes everything that does not depend on the request
//! into bitsets, so [`CompiledRules::eligible`] costs a bit lookup plus a
//! scan of the (short) cart and purchase history.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::expr::{join, BitSet, CompiledExpr, Expr};
use crate::candidate::{Candidate, SourceKind};
use crate::data::Catalog;
use crate::error::{Error, Result};

const DAY: f64 = 86_400.0;

// FNV-1a: region codes are a few bytes and come from our own config and
// catalog, so a fast non-keyed hash is safe and keeps `eligible` cheap.
type RegionMap = HashMap<String, BitSet, crate::rng::FnvBuild>;

/// The business rules of one placement (all fields optional in config).
///
/// Static filters (stock, categories, price, `filter`, `exclude_items`)
/// depend only on the catalog; region, purchase history and cart on the
/// request ([`RuleContext`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// Only items in stock (default `true`).
    pub in_stock: bool,
    /// Only items sold in the visitor's region (default `true`). Items with
    /// no `regions` are sold everywhere; a visitor with an unknown or no
    /// region sees only those, since nothing else is known to be sellable.
    pub available_in_region: bool,
    /// Allow-list of categories; empty allows all.
    pub categories: Vec<String>,
    /// Categories never shown.
    pub exclude_categories: Vec<String>,
    /// Lowest price shown (inclusive); items without a price are excluded
    /// when either bound is set, as they cannot be shown to fit.
    pub min_price: Option<f64>,
    /// Highest price shown (inclusive).
    pub max_price: Option<f64>,
    /// Only items matching this expression.
    pub filter: Option<Expr>,
    /// Item ids never shown.
    pub exclude_items: Vec<String>,
    /// Hide items the visitor bought less than this many days ago (a
    /// purchase exactly this old is shown again). `None` shows them.
    pub exclude_purchased_within_days: Option<f64>,
    /// Hide items already in the cart (default `true`).
    pub exclude_cart: bool,
    /// At most this many items of one brand (items without a brand are
    /// not capped).
    pub max_per_brand: Option<usize>,
    /// Score multipliers for matching items.
    pub boosts: Vec<Boost>,
    /// Items forced to positions.
    pub pins: Vec<Pin>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            in_stock: true,
            available_in_region: true,
            categories: Vec::new(),
            exclude_categories: Vec::new(),
            min_price: None,
            max_price: None,
            filter: None,
            exclude_items: Vec::new(),
            exclude_purchased_within_days: None,
            exclude_cart: true,
            max_per_brand: None,
            boosts: Vec::new(),
            pins: Vec::new(),
        }
    }
}

/// Multiplies the score of items matching `when` by `factor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boost {
    /// Which items.
    pub when: Expr,
    /// Finite and `> 0`; below 1 demotes. Several matching boosts multiply.
    pub factor: f32,
}

/// Puts one item at a fixed position of the final list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// Item id.
    pub item: String,
    /// 0-based position; past the end of a shorter list the item goes last.
    pub position: usize,
    /// Reserved for context conditions in a later release. Setting it is a
    /// config error today, so a conditional pin is never applied
    /// unconditionally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Expr>,
    /// Regions where the pin applies; empty = everywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
}

/// What the rules need to know about one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleContext<'a> {
    /// The visitor's region code.
    pub region: Option<&'a str>,
    /// Current time, Unix seconds.
    pub now: i64,
    /// The visitor's purchases: (catalog index, Unix seconds).
    pub purchased: &'a [(u32, i64)],
    /// Catalog indices of the items in the cart.
    pub cart: &'a [u32],
}

#[derive(Debug, Clone)]
struct CompiledPin {
    item: u32,
    position: usize,
    regions: Vec<String>,
}

/// [`Rules`] validated and precomputed for one catalog.
#[derive(Debug, Clone)]
pub struct CompiledRules {
    n_items: usize,
    /// Static filters AND sold everywhere (or all static, if the region
    /// rule is off): the answer for an unknown or missing region.
    default_ok: BitSet,
    /// Static filters AND sold in the region, for every region some item
    /// names.
    region_ok: RegionMap,
    region_rule: bool,
    exclude_cart: bool,
    /// Purchase exclusion window in seconds.
    window: Option<f64>,
    max_per_brand: Option<usize>,
    /// Brand id per item; `u32::MAX` = no brand (uncapped).
    brand: Vec<u32>,
    boosts: Vec<(CompiledExpr, f32)>,
    /// Sorted by position (stable, so config order breaks ties).
    pins: Vec<CompiledPin>,
}

impl Rules {
    /// Validates against `catalog` and precomputes the static filters.
    /// Categories and item ids must occur in the catalog (a typo would
    /// otherwise silently allow or hide nothing); prices and the purchase
    /// window must be finite and `>= 0`; boost factors finite and `> 0`.
    /// Errors are [`Error::Config`] naming the field below `path`, e.g.
    /// `{path}.pins[2].item`, `{path}.boosts[0].when.field`.
    pub fn compile(&self, catalog: &Catalog, path: &str) -> Result<CompiledRules> {
        let n = catalog.len();
        let items = catalog.items();
        let p = |seg: &str| join(path, seg);
        let known_cats: HashSet<&str> = items.iter().map(|i| i.category.as_str()).collect();
        for (name, list) in [
            ("categories", &self.categories),
            ("exclude_categories", &self.exclude_categories),
        ] {
            for (i, c) in list.iter().enumerate() {
                if !known_cats.contains(c.as_str()) {
                    return Err(Error::config(
                        p(&format!("{name}[{i}]")),
                        format!("no catalog item has category {c:?}"),
                    ));
                }
            }
        }
        for (name, v) in [("min_price", self.min_price), ("max_price", self.max_price)] {
            if let Some(x) = v {
                if !x.is_finite() || x < 0.0 {
                    return Err(Error::config(
                        p(name),
                        format!("must be finite and >= 0, got {x}"),
                    ));
                }
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_price, self.max_price) {
            if lo > hi {
                return Err(Error::config(
                    p("min_price"),
                    format!("must be <= max_price ({lo} > {hi})"),
                ));
            }
        }
        let filter = match &self.filter {
            Some(e) => Some(e.compile(catalog, &p("filter"))?),
            None => None,
        };
        let mut excluded = BitSet::new(n);
        for (i, id) in self.exclude_items.iter().enumerate() {
            let idx = item_index(catalog, id, &p(&format!("exclude_items[{i}]")))?;
            excluded.set(idx);
        }
        let window = match self.exclude_purchased_within_days {
            Some(d) if !d.is_finite() || d < 0.0 => {
                return Err(Error::config(
                    p("exclude_purchased_within_days"),
                    format!("must be finite and >= 0, got {d}"),
                ))
            }
            Some(d) => Some(d * DAY),
            None => None,
        };
        if self.max_per_brand == Some(0) {
            return Err(Error::config(
                p("max_per_brand"),
                "must be >= 1 (0 would hide every branded item)",
            ));
        }
        let mut boosts = Vec::with_capacity(self.boosts.len());
        for (i, b) in self.boosts.iter().enumerate() {
            let at = p(&format!("boosts[{i}]"));
            if !b.factor.is_finite() || b.factor <= 0.0 {
                return Err(Error::config(
                    join(&at, "factor"),
                    format!("must be finite and > 0, got {}", b.factor),
                ));
            }
            boosts.push((b.when.compile(catalog, &join(&at, "when"))?, b.factor));
        }
        let mut pins = Vec::with_capacity(self.pins.len());
        for (i, pin) in self.pins.iter().enumerate() {
            let at = p(&format!("pins[{i}]"));
            let item = item_index(catalog, &pin.item, &join(&at, "item"))?;
            if pin.when.is_some() {
                return Err(Error::config(
                    join(&at, "when"),
                    "conditional pins are reserved for a later release; remove `when`",
                ));
            }
            if let Some(j) = pin.regions.iter().position(|r| r.is_empty()) {
                return Err(Error::config(
                    join(&at, &format!("regions[{j}]")),
                    "region must be non-empty",
                ));
            }
            pins.push(CompiledPin {
                item,
                position: pin.position,
                regions: pin.regions.clone(),
            });
        }
        pins.sort_by_key(|p| p.position);

        let allow: HashSet<&str> = self.categories.iter().map(String::as_str).collect();
        let deny: HashSet<&str> = self.exclude_categories.iter().map(String::as_str).collect();
        let price_rule = self.min_price.is_some() || self.max_price.is_some();
        let stat = BitSet::from_fn(n, |i| {
            let Some(it) = catalog.item(i) else {
                return false;
            };
            (!self.in_stock || it.in_stock)
                && (allow.is_empty() || allow.contains(it.category.as_str()))
                && !deny.contains(it.category.as_str())
                && (!price_rule
                    || it.price.is_some_and(|x| {
                        self.min_price.is_none_or(|lo| x >= lo)
                            && self.max_price.is_none_or(|hi| x <= hi)
                    }))
                && filter.as_ref().is_none_or(|f| f.matches(i))
                && !excluded.get(i)
        });
        let mut default_ok = stat.clone();
        let mut region_ok = RegionMap::default();
        if self.available_in_region {
            default_ok.and_with(&BitSet::from_fn(n, |i| {
                catalog.item(i).is_some_and(|it| it.regions.is_empty())
            }));
            let names: HashSet<&str> = items
                .iter()
                .flat_map(|i| i.regions.iter().map(String::as_str))
                .collect();
            for r in names {
                let mut b = stat.clone();
                b.and_with(&BitSet::from_fn(n, |i| {
                    catalog.item(i).is_some_and(|it| it.available_in(r))
                }));
                region_ok.insert(r.to_owned(), b);
            }
        }
        let mut brand_ids: HashMap<&str, u32> = HashMap::new();
        let brand = items
            .iter()
            .map(|it| match it.brand.as_deref() {
                Some(b) => {
                    let next = brand_ids.len() as u32;
                    *brand_ids.entry(b).or_insert(next)
                }
                None => u32::MAX,
            })
            .collect();
        Ok(CompiledRules {
            n_items: n,
            default_ok,
            region_ok,
            region_rule: self.available_in_region,
            exclude_cart: self.exclude_cart,
            window,
            max_per_brand: self.max_per_brand,
            brand,
            boosts,
            pins,
        })
    }
}

fn item_index(catalog: &Catalog, id: &str, at: &str) -> Result<u32> {
    catalog
        .ids()
        .get(id)
        .ok_or_else(|| Error::config(at, format!("unknown item id {id:?}")))
}

impl CompiledRules {
    /// Number of catalog items the rules were compiled for.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Whether [`finish`](Self::finish) may re-order its input (boosts
    /// change scores); without boosts it keeps the input order and takes
    /// a prefix, so callers may rank only as deep as that prefix.
    pub fn reorders(&self) -> bool {
        !self.boosts.is_empty()
    }

    fn bits_for(&self, region: Option<&str>) -> &BitSet {
        match region {
            Some(r) if self.region_rule => self.region_ok.get(r).unwrap_or(&self.default_ok),
            _ => &self.default_ok,
        }
    }

    /// Whether a purchase at `t` still hides the item at `now`: younger
    /// than the window (future timestamps count as just bought).
    fn recent(&self, t: i64, now: i64) -> bool {
        self.window
            .is_some_and(|w| (now.saturating_sub(t).max(0) as f64) < w)
    }

    /// Static + contextual eligibility — THE one predicate used by every
    /// source and every fallback path, so no path can show an item the
    /// rules forbid. Out-of-range indices are never eligible.
    pub fn eligible(&self, item: u32, ctx: &RuleContext) -> bool {
        self.bits_for(ctx.region).get(item)
            && !(self.exclude_cart && ctx.cart.contains(&item))
            && !(self.window.is_some()
                && ctx
                    .purchased
                    .iter()
                    .any(|&(i, t)| i == item && self.recent(t, ctx.now)))
    }

    /// The same test as [`eligible`](Self::eligible) as a closure suitable
    /// for `candidate::Query::filter`; the region lookup and the cart and
    /// purchase exclusions are resolved once, so build it once per request.
    pub fn predicate<'a>(&'a self, ctx: &'a RuleContext<'a>) -> impl Fn(u32) -> bool + Sync + 'a {
        let bits = self.bits_for(ctx.region);
        let mut skip: Vec<u32> = Vec::new();
        if self.exclude_cart {
            skip.extend_from_slice(ctx.cart);
        }
        if self.window.is_some() {
            skip.extend(
                ctx.purchased
                    .iter()
                    .filter(|&&(_, t)| self.recent(t, ctx.now))
                    .map(|p| p.0),
            );
        }
        skip.sort_unstable();
        skip.dedup();
        move |i| bits.get(i) && skip.binary_search(&i).is_err()
    }

    /// The final pass over a blended (and diversified) list, in order:
    ///
    /// 1. drops duplicates and re-applies [`eligible`](Self::eligible)
    ///    (defence in depth);
    /// 2. multiplies scores by every matching boost and re-sorts by score,
    ///    stably (ties keep their input order, so a diversified order
    ///    survives); NaN scores sort last;
    /// 3. caps items per brand (pinned items count towards the cap but are
    ///    never dropped by it);
    /// 4. inserts the pins that apply in `ctx.region` at their positions
    ///    (past the end → last), in position order, config order on ties. A
    ///    pinned item must itself be eligible — pins never bypass filters —
    ///    and is removed from elsewhere in the list; it gets source
    ///    [`SourceKind::Pinned`] and the score of the item it displaces, so
    ///    scores stay non-increasing;
    /// 5. truncates to `n`.
    pub fn finish(&self, ranked: Vec<Candidate>, ctx: &RuleContext, n: usize) -> Vec<Candidate> {
        let ok = self.predicate(ctx);
        let mut seen = HashSet::with_capacity(ranked.len());
        let mut list: Vec<Candidate> = ranked
            .into_iter()
            .filter(|c| ok(c.item) && seen.insert(c.item))
            .collect();
        if !self.boosts.is_empty() {
            for c in &mut list {
                for (when, f) in &self.boosts {
                    if when.matches(c.item) {
                        c.score *= f;
                    }
                }
            }
        }
        let key = |c: &Candidate| {
            if c.score.is_nan() {
                f32::NEG_INFINITY
            } else {
                c.score
            }
        };
        list.sort_by(|a, b| key(b).total_cmp(&key(a)));

        // Pins that apply here, first occurrence of an item only.
        let mut pins: Vec<&CompiledPin> = Vec::new();
        for p in &self.pins {
            let here = p.regions.is_empty()
                || ctx.region.is_some_and(|r| p.regions.iter().any(|x| x == r));
            if here && ok(p.item) && !pins.iter().any(|q| q.item == p.item) {
                pins.push(p);
            }
        }
        list.retain(|c| !pins.iter().any(|p| p.item == c.item));

        if let Some(cap) = self.max_per_brand {
            let mut count: HashMap<u32, usize> = HashMap::new();
            for p in &pins {
                *count.entry(self.brand_of(p.item)).or_default() += 1;
            }
            list.retain(|c| {
                let b = self.brand_of(c.item);
                if b == u32::MAX {
                    return true;
                }
                let k = count.entry(b).or_default();
                *k += 1;
                *k <= cap
            });
        }
        list.truncate(n);
        let mut prev: Option<usize> = None;
        for p in pins {
            let at = prev
                .map_or(p.position, |q| p.position.max(q + 1))
                .min(list.len());
            let score = list.get(at).or(list.last()).map_or(0.0, |c| c.score);
            list.insert(
                at,
                Candidate {
                    item: p.item,
                    score,
                    source: SourceKind::Pinned,
                    because: None,
                },
            );
            prev = Some(at);
        }
        list.truncate(n);
        list
    }

    fn brand_of(&self, item: u32) -> u32 {
        self.brand.get(item as usize).copied().unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{AttrValue, Item};
    use crate::rank::expr::tests::demo;

    fn item(id: &str, cat: &str, brand: &str, price: f64) -> Item {
        Item {
            id: id.into(),
            title: format!("{brand} {id}"),
            category: cat.into(),
            brand: Some(brand.into()),
            price: Some(price),
            in_stock: true,
            regions: vec![],
            attributes: [("shape".to_owned(), AttrValue::Text("round".into()))].into(),
        }
    }

    /// i0..i9: frames of brands A (i0-i3), B (i4-i7), C (i8, i9); i9 out of
    /// stock; i5 sold only in nl; i6 only in uk; i7 a case; prices 10·(k+1).
    fn shop() -> Catalog {
        let mut c = Catalog::new();
        for k in 0..10 {
            let brand = ["A", "B", "C"][(k / 4).min(2)];
            let mut it = item(
                &format!("i{k}"),
                if k == 7 { "cases" } else { "frames" },
                brand,
                10.0 * (k + 1) as f64,
            );
            it.in_stock = k != 9;
            if k == 5 {
                it.regions = vec!["nl".into()];
            }
            if k == 6 {
                it.regions = vec!["uk".into(), "ie".into()];
            }
            if k == 3 {
                it.attributes
                    .insert("shape".into(), AttrValue::Text("square".into()));
            }
            c.add(it).unwrap();
        }
        c
    }

    fn cands(items: &[u32]) -> Vec<Candidate> {
        items
            .iter()
            .enumerate()
            .map(|(r, &i)| Candidate {
                item: i,
                score: 100.0 - r as f32,
                source: SourceKind::Als,
                because: None,
            })
            .collect()
    }

    fn ids(v: &[Candidate]) -> Vec<u32> {
        v.iter().map(|c| c.item).collect()
    }

    fn eligible_set(r: &CompiledRules, ctx: &RuleContext) -> Vec<u32> {
        let pred = r.predicate(ctx);
        let a: Vec<u32> = (0..12).filter(|&i| r.eligible(i, ctx)).collect();
        let b: Vec<u32> = (0..12).filter(|&i| pred(i)).collect();
        assert_eq!(a, b, "eligible and predicate agree");
        a
    }

    fn json_rules(j: &str) -> Rules {
        serde_json::from_str(j).unwrap()
    }

    #[test]
    fn stock_region_category_and_price_rules() {
        let c = shop();
        let uk = RuleContext {
            region: Some("uk"),
            ..Default::default()
        };
        let nl = RuleContext {
            region: Some("nl"),
            ..Default::default()
        };
        let mars = RuleContext {
            region: Some("mars"),
            ..Default::default()
        };
        let r = Rules::default().compile(&c, "r").unwrap();
        assert_eq!(eligible_set(&r, &uk), [0, 1, 2, 3, 4, 6, 7, 8]);
        assert_eq!(eligible_set(&r, &nl), [0, 1, 2, 3, 4, 5, 7, 8]);
        assert_eq!(eligible_set(&r, &mars), [0, 1, 2, 3, 4, 7, 8]);
        assert_eq!(
            eligible_set(&r, &RuleContext::default()),
            [0, 1, 2, 3, 4, 7, 8]
        );
        let r = json_rules(r#"{"in_stock": false, "available_in_region": false}"#)
            .compile(&c, "r")
            .unwrap();
        assert_eq!(eligible_set(&r, &mars), (0..10).collect::<Vec<_>>());
        let r = json_rules(r#"{"categories": ["cases"]}"#)
            .compile(&c, "r")
            .unwrap();
        assert_eq!(eligible_set(&r, &uk), [7]);
        let r = json_rules(r#"{"exclude_categories": ["cases"]}"#)
            .compile(&c, "r")
            .unwrap();
        assert_eq!(eligible_set(&r, &uk), [0, 1, 2, 3, 4, 6, 8]);
        // Inclusive bounds: 30..=50 → i2, i3, i4.
        let r = json_rules(r#"{"min_price": 30, "max_price": 50.0}"#)
            .compile(&c, "r")
            .unwrap();
        assert_eq!(eligible_set(&r, &uk), [2, 3, 4]);
        let r = json_rules(r#"{"max_price": 20}"#).compile(&c, "r").unwrap();
        assert_eq!(eligible_set(&r, &uk), [0, 1]);
        assert!(!r.eligible(10, &uk) && !r.eligible(u32::MAX, &uk));
    }

    #[test]
    fn filter_expression_and_excluded_items() {
        let c = shop();
        let ctx = RuleContext {
            region: Some("uk"),
            ..Default::default()
        };
        let r = json_rules(r#"{"filter": {"field": "shape", "op": "eq", "value": "square"}, "exclude_items": ["i0"]}"#)
            .compile(&c, "r")
            .unwrap();
        assert_eq!(eligible_set(&r, &ctx), [3]);
        let r = json_rules(r#"{"exclude_items": ["i0", "i8", "i0"]}"#)
            .compile(&c, "r")
            .unwrap();
        assert_eq!(eligible_set(&r, &ctx), [1, 2, 3, 4, 6, 7]);
    }

    #[test]
    fn purchase_window_edge_and_cart() {
        let c = shop();
        let now = 1_000_000;
        let day = 86_400;
        let purchased = [
            (1, now - 7 * day),
            (2, now - 7 * day + 1),
            (3, now + 50),
            (4, now - 30 * day),
        ];
        let cart = [0u32, 8];
        let ctx = RuleContext {
            region: Some("uk"),
            now,
            purchased: &purchased,
            cart: &cart,
        };
        let r = json_rules(r#"{"exclude_purchased_within_days": 7}"#)
            .compile(&c, "r")
            .unwrap();
        // Exactly 7 days old → shown again; 1 s younger → hidden; future → hidden.
        assert_eq!(eligible_set(&r, &ctx), [1, 4, 6, 7]);
        let r = json_rules(r#"{"exclude_cart": false}"#)
            .compile(&c, "r")
            .unwrap();
        assert_eq!(eligible_set(&r, &ctx), [0, 1, 2, 3, 4, 6, 7, 8]);
        let r = json_rules(r#"{"exclude_purchased_within_days": 0}"#)
            .compile(&c, "r")
            .unwrap();
        assert_eq!(eligible_set(&r, &ctx), [1, 2, 3, 4, 6, 7]);
        let mut extreme = ctx;
        let far = [(1, i64::MIN), (2, i64::MAX)];
        extreme.purchased = &far;
        extreme.now = i64::MIN;
        assert_eq!(eligible_set(&r, &extreme), [1, 2, 3, 4, 6, 7]);
    }

    #[test]
    fn finish_filters_boosts_caps_and_truncates() {
        let c = shop();
        let ctx = RuleContext {
            region: Some("uk"),
            ..Default::default()
        };
        // Ineligible (i5 nl-only, i9 out of stock), duplicates and unknown indices drop out.
        let r = Rules::default().compile(&c, "r").unwrap();
        let out = r.finish(cands(&[9, 0, 5, 0, 1, 77]), &ctx, 10);
        assert_eq!(ids(&out), [0, 1]);
        // Demotion reorders: brand A × 0.5 sinks below B and C.
        let r = json_rules(
            r#"{"boosts": [{"when": {"field": "brand", "op": "eq", "value": "A"}, "factor": 0.5},
                           {"when": {"field": "id", "op": "eq", "value": "i8"}, "factor": 3}]}"#,
        )
        .compile(&c, "r")
        .unwrap();
        let out = r.finish(cands(&[0, 1, 4, 8]), &ctx, 10);
        assert_eq!(ids(&out), [8, 4, 0, 1]);
        assert_eq!(out[0].score, 97.0 * 3.0);
        assert_eq!(out[2].score, 50.0);
        // Equal scores keep input order (stable); truncation to n.
        let mut tie = cands(&[4, 2, 1]);
        for t in &mut tie {
            t.score = 1.0;
        }
        tie[2].score = f32::NAN;
        assert_eq!(
            ids(&Rules::default()
                .compile(&c, "r")
                .unwrap()
                .finish(tie, &ctx, 2)),
            [4, 2]
        );
        // Brand cap.
        let r = json_rules(r#"{"max_per_brand": 2}"#)
            .compile(&c, "r")
            .unwrap();
        let out = r.finish(cands(&[0, 1, 2, 3, 4, 6, 7, 8]), &ctx, 10);
        assert_eq!(ids(&out), [0, 1, 4, 6, 8]);
        assert!(r.finish(vec![], &ctx, 5).is_empty());
        assert!(r.finish(cands(&[0]), &ctx, 0).is_empty());
    }

    #[test]
    fn pins_respect_filters_regions_and_positions() {
        let c = shop();
        let uk = RuleContext {
            region: Some("uk"),
            ..Default::default()
        };
        let r = json_rules(
            r#"{"pins": [
                {"item": "i9", "position": 0},
                {"item": "i8", "position": 1},
                {"item": "i6", "position": 0, "regions": ["uk"]},
                {"item": "i2", "position": 50},
                {"item": "i8", "position": 4}
            ]}"#,
        )
        .compile(&c, "r")
        .unwrap();
        // i9 is out of stock → dropped; i6 pinned first in uk; i8 moved up
        // from the organic list; i2 (position 50) lands last.
        let out = r.finish(cands(&[0, 1, 8, 3, 4]), &uk, 10);
        assert_eq!(ids(&out), [6, 8, 0, 1, 3, 4, 2]);
        assert!(out[..2].iter().all(|c| c.source == SourceKind::Pinned));
        assert_eq!(out[6].source, SourceKind::Pinned);
        assert!(out.windows(2).all(|w| w[0].score >= w[1].score), "{out:?}");
        // A full list: the far pin falls off, n holds.
        let out = r.finish(cands(&[0, 1, 3, 4]), &uk, 3);
        assert_eq!(ids(&out), [6, 8, 0]);
        // Outside uk the region-scoped pin does not apply (and i6 is not sellable).
        let nl = RuleContext {
            region: Some("nl"),
            ..Default::default()
        };
        assert_eq!(ids(&r.finish(cands(&[0, 5]), &nl, 10)), [0, 8, 5, 2]);
        // Brand cap counts pins but never drops them.
        let r = json_rules(r#"{"max_per_brand": 1, "pins": [{"item": "i1", "position": 2}]}"#)
            .compile(&c, "r")
            .unwrap();
        assert_eq!(ids(&r.finish(cands(&[0, 4, 2, 6, 8]), &uk, 10)), [4, 8, 1]);
    }

    #[test]
    fn config_errors_name_the_field() {
        let c = shop();
        let err = |j: &str| match json_rules(j).compile(&c, "placements.home.rules") {
            Err(Error::Config { field, .. }) => field,
            other => panic!("{j}: {other:?}"),
        };
        let p = "placements.home.rules";
        assert_eq!(
            err(r#"{"categories": ["frames", "framez"]}"#),
            format!("{p}.categories[1]")
        );
        assert_eq!(
            err(r#"{"exclude_categories": ["x"]}"#),
            format!("{p}.exclude_categories[0]")
        );
        assert_eq!(err(r#"{"min_price": -1}"#), format!("{p}.min_price"));
        assert_eq!(
            err(r#"{"min_price": 50, "max_price": 10}"#),
            format!("{p}.min_price")
        );
        assert_eq!(
            err(r#"{"exclude_items": ["i1", "zz"]}"#),
            format!("{p}.exclude_items[1]")
        );
        assert_eq!(
            err(r#"{"exclude_purchased_within_days": -2}"#),
            format!("{p}.exclude_purchased_within_days")
        );
        assert_eq!(err(r#"{"max_per_brand": 0}"#), format!("{p}.max_per_brand"));
        assert_eq!(
            err(r#"{"boosts": [{"when": {"field": "colr", "op": "exists"}, "factor": 2}]}"#),
            format!("{p}.boosts[0].when.field")
        );
        assert_eq!(
            err(
                r#"{"boosts": [{"when": {"all": []}, "factor": 2}, {"when": {"all": []}, "factor": 0}]}"#
            ),
            format!("{p}.boosts[1].factor")
        );
        assert_eq!(
            err(
                r#"{"pins": [{"item": "i1", "position": 0}, {"item": "i2", "position": 1}, {"item": "nope", "position": 2}]}"#
            ),
            format!("{p}.pins[2].item")
        );
        assert_eq!(
            err(r#"{"pins": [{"item": "i1", "position": 0, "when": {"all": []}}]}"#),
            format!("{p}.pins[0].when")
        );
        assert_eq!(
            err(r#"{"filter": {"field": "price", "op": "gt", "value": "x"}}"#),
            format!("{p}.filter.value")
        );
        let mut r = Rules {
            max_price: Some(f64::NAN),
            ..Default::default()
        };
        assert!(
            matches!(r.compile(&c, ""), Err(Error::Config { field, .. }) if field == "max_price")
        );
        r = Rules::default();
        r.boosts.push(Boost {
            when: Expr::All(vec![]),
            factor: f32::INFINITY,
        });
        assert!(
            matches!(r.compile(&c, ""), Err(Error::Config { field, .. }) if field == "boosts[0].factor")
        );
        // Unknown keys are rejected at parse time.
        assert!(serde_json::from_str::<Rules>(r#"{"max_per_brnd": 2}"#).is_err());
    }

    #[test]
    fn serde_round_trip_json_and_toml_like_value() {
        let j = r#"{
            "in_stock": true, "categories": ["frames"], "min_price": 50,
            "filter": {"any": [{"field": "material", "op": "eq", "value": "titanium"},
                               {"field": "colours", "op": "contains", "value": "gold"}]},
            "exclude_purchased_within_days": 30, "max_per_brand": 3,
            "boosts": [{"when": {"field": "brand", "op": "eq", "value": "Ray-Ban"}, "factor": 1.5}],
            "pins": [{"item": "FR-00001", "position": 0, "regions": ["nl"]}]
        }"#;
        let r: Rules = serde_json::from_str(j).unwrap();
        assert!(r.exclude_cart && r.available_in_region);
        let back: Rules = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        // TOML tables arrive as nested maps; the same shape via Value.
        let v = serde_json::json!({
            "max_price": 120,
            "boosts": [{"factor": 0.5, "when": {"not": {"field": "in_stock", "op": "eq", "value": true}}}]
        });
        let r: Rules = serde_json::from_value(v).unwrap();
        assert_eq!(r.max_price, Some(120.0));
        let compiled = r.compile(demo(), "r").unwrap();
        let ctx = RuleContext::default();
        assert!((0..demo().len() as u32).any(|i| compiled.eligible(i, &ctx)));
    }

    #[test]
    fn demo_catalog_rules_and_timing() {
        use std::time::Instant;
        let c = demo();
        let r: Rules = serde_json::from_value(serde_json::json!({
            "categories": ["frames", "sunglasses"],
            "max_price": 300,
            "filter": {"not": {"field": "gender", "op": "eq", "value": "kids"}},
            "exclude_purchased_within_days": 30,
            "max_per_brand": 3,
            "boosts": [{"when": {"field": "material", "op": "eq", "value": "titanium"}, "factor": 1.3},
                       {"when": {"field": "price_band", "op": "eq", "value": "budget"}, "factor": 0.8}],
            "pins": [{"item": "FR-00002", "position": 2}]
        }))
        .unwrap();
        let rules = r.compile(c, "r").unwrap();
        let purchased = [(3u32, 0i64), (10, 0)];
        let cart = [1u32];
        let ctx = RuleContext {
            region: Some("uk-london"),
            now: 100,
            purchased: &purchased,
            cart: &cart,
        };
        for i in 0..c.len() as u32 {
            let it = c.item(i).unwrap();
            if rules.eligible(i, &ctx) {
                assert!(it.in_stock && it.available_in("uk-london") && it.price.unwrap() <= 300.0);
                assert!(it.category == "frames" || it.category == "sunglasses");
            }
        }
        let n = c.len() as u32;
        let reps = 2_000u32;
        let t = Instant::now();
        let mut hits = 0usize;
        for _ in 0..reps {
            for i in 0..n {
                hits += rules.eligible(std::hint::black_box(i), &ctx) as usize;
            }
        }
        let ns = t.elapsed().as_nanos() as f64 / f64::from(reps * n);
        let pred = rules.predicate(&ctx);
        let t = Instant::now();
        for _ in 0..reps {
            for i in 0..n {
                hits += pred(std::hint::black_box(i)) as usize;
            }
        }
        let ns_pred = t.elapsed().as_nanos() as f64 / f64::from(reps * n);
        let input: Vec<Candidate> = (0..200u32)
            .map(|i| Candidate {
                item: i % n,
                score: 200.0 - i as f32,
                source: SourceKind::Als,
                because: None,
            })
            .collect();
        let t = Instant::now();
        let reps_f = 2_000;
        let mut len = 0;
        for _ in 0..reps_f {
            len += rules.finish(input.clone(), &ctx, 20).len();
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / reps_f as f64;
        println!("timing: eligible {ns:.1} ns/call, predicate {ns_pred:.1} ns/call, finish(200→20) {us:.1} µs [{hits} {len}]");
    }
}
