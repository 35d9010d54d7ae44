//! Promotions and content slots, edited by marketing as config.
//!
//! A promotion puts some of its items into a share of a recommendation
//! list (and/or offers a content fragment, e.g. a banner) in the
//! placements, regions and time window it is scoped to. Promoted items obey
//! the same eligibility rules as everything else: the engine passes
//! [`CompiledRules::predicate`](super::CompiledRules::predicate) to
//! [`Promotions::apply`].

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::expr::join;
use crate::candidate::{Candidate, SourceKind};
use crate::data::Catalog;
use crate::error::{Error, Result};

/// One promotion or campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Promotion {
    /// Unique, non-empty id.
    pub id: String,
    /// Human-readable label, e.g. "Summer sunglasses".
    pub label: String,
    /// Promoted item ids, in the order they should be used.
    pub items: Vec<String>,
    /// Content fragment id (a banner) to show with the recommendations.
    pub content: Option<String>,
    /// Placements where it runs; empty = all.
    pub placements: Vec<String>,
    /// Regions where it runs; empty = all (a visitor without a region only
    /// sees unscoped promotions).
    pub regions: Vec<String>,
    /// Start, Unix seconds (inclusive); `None` = already running.
    pub start: Option<i64>,
    /// End, Unix seconds (exclusive); `None` = open-ended.
    pub end: Option<i64>,
    /// Fraction of the `n` slots for its items, in `(0, 1]` (may be 0 for a
    /// content-only promotion).
    pub share: f64,
    /// Higher runs first (earlier positions, first pick of the slot cap).
    pub priority: i32,
}

/// An empty placeholder that [`Promotions::get`] returns for a bad index
/// instead of panicking.
static NO_PROMOTION: Promotion = Promotion {
    id: String::new(),
    label: String::new(),
    items: Vec::new(),
    content: None,
    placements: Vec::new(),
    regions: Vec::new(),
    start: None,
    end: None,
    share: 0.0,
    priority: 0,
};

impl Default for Promotion {
    fn default() -> Self {
        NO_PROMOTION.clone()
    }
}

/// A content fragment (banner) to render alongside the recommendations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentSlot {
    /// Index of the promotion (see [`Promotions::get`]).
    pub promotion: usize,
    /// Content fragment id.
    pub fragment: String,
    /// The promotion's label.
    pub label: String,
}

/// What [`Promotions::apply`] returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PromoResult {
    /// The final list; promoted positions carry their promotion's index.
    pub items: Vec<(Candidate, Option<usize>)>,
    /// Content fragments of the active promotions that have one, in the
    /// order of `active`.
    pub content: Vec<ContentSlot>,
}

/// Validated promotions with item ids resolved to catalog indices.
#[derive(Debug, Clone, Default)]
pub struct Promotions {
    promos: Vec<Promotion>,
    /// Catalog indices of each promotion's items (deduplicated, in order).
    items: Vec<Vec<u32>>,
}

impl Promotions {
    /// Validates `promos` against `catalog`. `path` is the config path of
    /// the list; errors name e.g. `{path}[1].share`, `{path}[0].items[3]`.
    pub fn compile(promos: &[Promotion], catalog: &Catalog, path: &str) -> Result<Self> {
        let mut ids = HashSet::new();
        let mut items = Vec::with_capacity(promos.len());
        for (k, p) in promos.iter().enumerate() {
            let at = |f: &str| join(path, &format!("[{k}].{f}"));
            if p.id.is_empty() {
                return Err(Error::config(at("id"), "must be non-empty"));
            }
            if !ids.insert(p.id.as_str()) {
                return Err(Error::config(
                    at("id"),
                    format!("duplicate promotion id {:?}", p.id),
                ));
            }
            if p.items.is_empty() && p.content.is_none() {
                return Err(Error::config(
                    at("items"),
                    "a promotion needs items, content or both",
                ));
            }
            if p.content.as_deref() == Some("") {
                return Err(Error::config(
                    at("content"),
                    "content fragment id must be non-empty",
                ));
            }
            let share_ok = p.share.is_finite()
                && p.share <= 1.0
                && (p.share > 0.0 || (p.items.is_empty() && p.share == 0.0));
            if !share_ok {
                return Err(Error::config(
                    at("share"),
                    format!("must be in (0, 1], got {}", p.share),
                ));
            }
            if let (Some(s), Some(e)) = (p.start, p.end) {
                if s >= e {
                    return Err(Error::config(
                        at("end"),
                        format!("must be after start ({e} <= {s})"),
                    ));
                }
            }
            for (name, list) in [("placements", &p.placements), ("regions", &p.regions)] {
                if let Some(j) = list.iter().position(|s| s.is_empty()) {
                    return Err(Error::config(
                        at(&format!("{name}[{j}]")),
                        "must be non-empty",
                    ));
                }
            }
            let mut idx = Vec::with_capacity(p.items.len());
            for (j, id) in p.items.iter().enumerate() {
                let i = catalog.ids().get(id).ok_or_else(|| {
                    Error::config(
                        at(&format!("items[{j}]")),
                        format!("unknown item id {id:?}"),
                    )
                })?;
                if !idx.contains(&i) {
                    idx.push(i);
                }
            }
            items.push(idx);
        }
        Ok(Promotions {
            promos: promos.to_vec(),
            items,
        })
    }

    /// Number of promotions.
    pub fn len(&self) -> usize {
        self.promos.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.promos.is_empty()
    }

    /// Indices of the promotions running in `placement` and `region` at
    /// `now` (`start <= now < end`), priority descending, then id.
    pub fn active(&self, placement: &str, region: Option<&str>, now: i64) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .promos
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                (p.placements.is_empty() || p.placements.iter().any(|x| x == placement))
                    && (p.regions.is_empty()
                        || region.is_some_and(|r| p.regions.iter().any(|x| x == r)))
                    && p.start.is_none_or(|s| s <= now)
                    && p.end.is_none_or(|e| now < e)
            })
            .map(|(i, _)| i)
            .collect();
        out.sort_by(|&a, &b| {
            let (pa, pb) = (&self.promos[a], &self.promos[b]);
            pb.priority
                .cmp(&pa.priority)
                .then_with(|| pa.id.cmp(&pb.id))
        });
        out
    }

    /// The promotion at index `i`; an out-of-range index gives an empty
    /// placeholder (id `""`) rather than a panic.
    pub fn get(&self, i: usize) -> &Promotion {
        self.promos.get(i).unwrap_or(&NO_PROMOTION)
    }

    /// Places promoted items into `ranked` (the output of
    /// [`CompiledRules::finish`](super::CompiledRules::finish), at most `n`
    /// long; longer input is truncated).
    ///
    /// * Slots: each promotion in `active` (in that order; unknown and
    ///   repeated indices are skipped) with items gets
    ///   `max(1, round(share · n))` slots, but all promotions together get at
    ///   most `n / 2` (rounded down) so organic recommendations always keep
    ///   half the list; earlier promotions fill the cap first. Lists of
    ///   `n < 2` therefore carry no promoted items.
    /// * Items: a promotion's slots are filled with its items in config
    ///   order that pass `eligible`, are not promoted already and are not
    ///   pinned in `ranked`; an item already in the organic list is moved,
    ///   not duplicated. Unfillable slots stay organic.
    /// * Positions: with `m` promoted items in a final list of length `L`,
    ///   the `j`-th (0-based, in promotion order) goes to position
    ///   `floor((2j + 1) · L / (2m))` — the centres of `m` equal segments;
    ///   if a pinned item holds that position, the next free one after it
    ///   (else before it) is used. Pinned items keep their positions.
    /// * A promoted item gets source [`SourceKind::Promotion`], no
    ///   `because`, and the score of the next non-promoted item (else the
    ///   previous one), so scores stay non-increasing.
    /// * Every returned item passes `eligible`.
    ///
    /// Each active promotion with a content fragment (content-only or not)
    /// yields a [`ContentSlot`].
    pub fn apply(
        &self,
        active: &[usize],
        ranked: Vec<Candidate>,
        n: usize,
        eligible: &dyn Fn(u32) -> bool,
    ) -> PromoResult {
        let mut order: Vec<usize> = Vec::with_capacity(active.len());
        for &a in active {
            if a < self.promos.len() && !order.contains(&a) {
                order.push(a);
            }
        }
        let content = order
            .iter()
            .filter_map(|&a| {
                let p = &self.promos[a];
                p.content.as_ref().map(|f| ContentSlot {
                    promotion: a,
                    fragment: f.clone(),
                    label: p.label.clone(),
                })
            })
            .collect();

        let mut seen = HashSet::with_capacity(ranked.len());
        let list: Vec<Candidate> = ranked
            .into_iter()
            .filter(|c| eligible(c.item) && seen.insert(c.item))
            .take(n)
            .collect();
        let pinned: HashSet<u32> = list
            .iter()
            .filter(|c| c.source == SourceKind::Pinned)
            .map(|c| c.item)
            .collect();

        // Choose the promoted items.
        let cap = n / 2;
        let mut chosen: Vec<(u32, usize)> = Vec::new();
        for &a in &order {
            let p = &self.promos[a];
            let room = cap - chosen.len();
            if room == 0 {
                break;
            }
            if self.items[a].is_empty() || p.share <= 0.0 {
                continue;
            }
            let want = ((p.share * n as f64).round() as usize).max(1).min(room);
            let picks: Vec<u32> = self.items[a]
                .iter()
                .copied()
                .filter(|&i| {
                    eligible(i) && !pinned.contains(&i) && !chosen.iter().any(|c| c.0 == i)
                })
                .take(want)
                .collect();
            chosen.extend(picks.into_iter().map(|i| (i, a)));
        }
        if chosen.is_empty() {
            return PromoResult {
                items: list.into_iter().map(|c| (c, None)).collect(),
                content,
            };
        }

        // Pinned items keep their positions in the input; the organic
        // items (minus those being promoted) flow around them.
        let m = chosen.len();
        let kept = list
            .iter()
            .filter(|c| !chosen.iter().any(|p| p.0 == c.item))
            .count();
        let len = (kept + m).min(n);
        let mut slots: Vec<Option<(Candidate, Option<usize>)>> = vec![None; len];
        let mut organic = Vec::with_capacity(kept);
        for (pos, c) in list.into_iter().enumerate() {
            if chosen.iter().any(|p| p.0 == c.item) {
                continue;
            }
            let free = slots.get(pos).is_some_and(Option::is_none);
            if c.source == SourceKind::Pinned && free {
                slots[pos] = Some((c, None));
            } else {
                organic.push(c);
            }
        }
        for (j, &(item, a)) in chosen.iter().enumerate() {
            let target = ((2 * j + 1) * len) / (2 * m);
            let free = (target..len)
                .find(|&q| slots[q].is_none())
                .or_else(|| (0..target.min(len)).rev().find(|&q| slots[q].is_none()));
            let Some(q) = free else { break };
            slots[q] = Some((
                Candidate {
                    item,
                    score: 0.0,
                    source: SourceKind::Promotion,
                    because: None,
                },
                Some(a),
            ));
        }
        let mut organic = organic.into_iter();
        let mut items: Vec<(Candidate, Option<usize>)> = Vec::with_capacity(len);
        for s in slots {
            match s {
                Some(x) => items.push(x),
                None => {
                    if let Some(c) = organic.next() {
                        items.push((c, None));
                    }
                }
            }
        }
        // A promoted item takes the score of the item after it (else before
        // it), so scores stay non-increasing down the list.
        let mut next: Option<f32> = None;
        for k in (0..items.len()).rev() {
            if items[k].1.is_some() {
                let prev = items[..k]
                    .iter()
                    .rev()
                    .find(|x| x.1.is_none())
                    .map(|x| x.0.score);
                items[k].0.score = next.or(prev).unwrap_or(0.0);
            } else {
                next = Some(items[k].0.score);
            }
        }
        PromoResult { items, content }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Item;

    fn shop(n: usize) -> Catalog {
        let mut c = Catalog::new();
        for k in 0..n {
            c.add(Item {
                id: format!("i{k}"),
                title: String::new(),
                category: "frames".into(),
                brand: None,
                price: Some(10.0),
                in_stock: true,
                regions: vec![],
                attributes: Default::default(),
            })
            .unwrap();
        }
        c
    }

    fn promo(id: &str, items: &[&str], share: f64, priority: i32) -> Promotion {
        Promotion {
            id: id.into(),
            label: format!("label {id}"),
            items: items.iter().map(|s| s.to_string()).collect(),
            share,
            priority,
            ..Default::default()
        }
    }

    fn organic(items: impl IntoIterator<Item = u32>) -> Vec<Candidate> {
        items
            .into_iter()
            .enumerate()
            .map(|(r, i)| Candidate {
                item: i,
                score: 100.0 - r as f32,
                source: SourceKind::Als,
                because: None,
            })
            .collect()
    }

    fn promoted(r: &PromoResult) -> Vec<(usize, u32, usize)> {
        r.items
            .iter()
            .enumerate()
            .filter_map(|(pos, (c, p))| p.map(|p| (pos, c.item, p)))
            .collect()
    }

    #[test]
    fn time_window_region_placement_and_priority() {
        let c = shop(10);
        let mut a = promo("a", &["i1"], 0.1, 1);
        a.start = Some(100);
        a.end = Some(200);
        let mut b = promo("b", &["i2"], 0.1, 5);
        b.regions = vec!["nl".into()];
        let mut d = promo("d", &["i3"], 0.1, 1);
        d.placements = vec!["home".into()];
        let e = promo("c", &["i4"], 0.1, 1);
        let ps = Promotions::compile(&[a, b, d, e], &c, "promotions").unwrap();
        assert_eq!(ps.active("home", Some("nl"), 150), [1, 0, 3, 2]);
        assert_eq!(ps.active("home", Some("nl"), 99), [1, 3, 2]);
        assert_eq!(ps.active("home", Some("nl"), 200), [1, 3, 2]);
        assert_eq!(ps.active("home", Some("nl"), 100), [1, 0, 3, 2]);
        assert_eq!(ps.active("pdp", Some("uk"), 150), [0, 3]);
        assert_eq!(ps.active("pdp", None, 150), [0, 3]);
        assert_eq!(ps.get(1).id, "b");
        assert_eq!(ps.get(99).id, "");
        assert_eq!(ps.len(), 4);
    }

    #[test]
    fn share_slots_cap_positions_and_eligibility() {
        let c = shop(40);
        let ids: Vec<String> = (20..40).map(|k| format!("i{k}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let ps = Promotions::compile(
            &[
                promo("big", &refs[..10], 0.2, 2),
                promo("small", &refs[10..], 0.05, 1),
            ],
            &c,
            "promotions",
        )
        .unwrap();
        let all = |_: u32| true;
        // n = 10: big gets round(2.0) = 2, small max(1, round(0.5)) = 1.
        let r = ps.apply(&[0, 1], organic(0..10), 10, &all);
        assert_eq!(r.items.len(), 10);
        // m = 3, L = 10: positions floor((2j+1)·10/6) = 1, 5, 8.
        assert_eq!(promoted(&r), [(1, 20, 0), (5, 21, 0), (8, 30, 1)]);
        assert!(r
            .items
            .iter()
            .all(|(c, p)| (c.source == SourceKind::Promotion) == p.is_some()));
        assert!(r.items.windows(2).all(|w| w[0].0.score >= w[1].0.score));
        let org: Vec<u32> = r
            .items
            .iter()
            .filter(|x| x.1.is_none())
            .map(|x| x.0.item)
            .collect();
        assert_eq!(org, (0..7).collect::<Vec<_>>());
        // Cap n/2: big would take round(0.9·10) = 9 → 5.
        let ps2 = Promotions::compile(&[promo("huge", &refs, 0.9, 0)], &c, "p").unwrap();
        let r = ps2.apply(&[0], organic(0..10), 10, &all);
        assert_eq!(promoted(&r).len(), 5);
        assert_eq!(
            promoted(&r).iter().map(|x| x.0).collect::<Vec<_>>(),
            [1, 3, 5, 7, 9]
        );
        // n = 1 → no room; n = 0 → nothing.
        assert!(promoted(&ps2.apply(&[0], organic(0..1), 1, &all)).is_empty());
        assert!(ps2.apply(&[0], organic(0..5), 0, &all).items.is_empty());
        // Ineligible promoted items are skipped, never shown; the next one is used.
        let odd = |i: u32| i % 2 == 1;
        let r = ps.apply(&[0, 1], organic(0..10), 10, &odd);
        assert!(r.items.iter().all(|(c, _)| odd(c.item)));
        assert_eq!(
            promoted(&r).iter().map(|x| x.1).collect::<Vec<_>>(),
            [21, 23, 31]
        );
        // Priority: reversing `active` gives small the first position.
        let r = ps.apply(&[1, 0], organic(0..10), 10, &all);
        assert_eq!(promoted(&r)[0], (1, 30, 1));
        // Bad and repeated indices are ignored.
        let r = ps.apply(&[7, 1, 1], organic(0..10), 10, &all);
        assert_eq!(promoted(&r), [(5, 30, 1)]);
    }

    #[test]
    fn organic_copies_move_and_pins_stay() {
        let c = shop(12);
        let ps = Promotions::compile(&[promo("p", &["i8", "i9"], 0.2, 0)], &c, "p").unwrap();
        let mut list = organic(0..10);
        list[0].source = SourceKind::Pinned;
        list[1].source = SourceKind::Pinned;
        let r = ps.apply(&[0], list, 10, &|_| true);
        let items: Vec<u32> = r.items.iter().map(|x| x.0.item).collect();
        // i8, i9 leave their organic places; targets 2 and 7 (L = 10, m = 2);
        // the pins at 0 and 1 stay.
        assert_eq!(items, [0, 1, 8, 2, 3, 4, 5, 9, 6, 7]);
        assert_eq!(items.len(), items.iter().collect::<HashSet<_>>().len());
        // A short organic list shrinks L: 3 organic + 2 promoted.
        let r = ps.apply(&[0], organic(0..3), 10, &|_| true);
        assert_eq!(promoted(&r), [(1, 8, 0), (3, 9, 0)]);
        assert_eq!(r.items.len(), 5);
        // An empty organic list with n = 2: one promoted slot.
        let r = ps.apply(&[0], vec![], 2, &|_| true);
        assert_eq!(promoted(&r), [(0, 8, 0)]);
    }

    #[test]
    fn content_slots() {
        let c = shop(4);
        let mut banner = promo("banner", &[], 0.0, 3);
        banner.content = Some("summer-hero".into());
        banner.label = "Summer sunglasses".into();
        let mut both = promo("both", &["i1"], 0.25, 1);
        both.content = Some("frame-week".into());
        let ps = Promotions::compile(&[banner, both], &c, "promotions").unwrap();
        let act = ps.active("home", None, 0);
        assert_eq!(act, [0, 1]);
        let r = ps.apply(&act, organic([0, 2, 3]), 4, &|_| true);
        assert_eq!(
            r.content,
            [
                ContentSlot {
                    promotion: 0,
                    fragment: "summer-hero".into(),
                    label: "Summer sunglasses".into()
                },
                ContentSlot {
                    promotion: 1,
                    fragment: "frame-week".into(),
                    label: "label both".into()
                },
            ]
        );
        assert_eq!(promoted(&r), [(2, 1, 1)]);
    }

    #[test]
    fn config_errors_and_serde() {
        let c = shop(4);
        let err = |ps: &[Promotion]| match Promotions::compile(ps, &c, "promotions") {
            Err(Error::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let ok = promo("ok", &["i0"], 0.1, 0);
        assert_eq!(
            err(&[ok.clone(), promo("x", &["i0"], 1.5, 0)]),
            "promotions[1].share"
        );
        assert_eq!(err(&[promo("x", &["i0"], 0.0, 0)]), "promotions[0].share");
        assert_eq!(
            err(&[promo("x", &["i0"], f64::NAN, 0)]),
            "promotions[0].share"
        );
        assert_eq!(
            err(&[ok.clone(), promo("x", &["i0", "zz"], 0.1, 0)]),
            "promotions[1].items[1]"
        );
        assert_eq!(err(&[promo("", &["i0"], 0.1, 0)]), "promotions[0].id");
        assert_eq!(err(&[ok.clone(), ok.clone()]), "promotions[1].id");
        assert_eq!(err(&[promo("x", &[], 0.1, 0)]), "promotions[0].items");
        let mut w = ok.clone();
        w.start = Some(10);
        w.end = Some(10);
        assert_eq!(err(&[w]), "promotions[0].end");
        let mut r = ok.clone();
        r.regions = vec!["".into()];
        assert_eq!(err(&[r]), "promotions[0].regions[0]");

        let j = r#"[{"id": "summer", "label": "Summer sunglasses", "items": ["i1", "i2"],
                     "content": "hero-1", "placements": ["home"], "regions": ["uk-london"],
                     "start": 1750000000, "end": 1760000000, "share": 0.25, "priority": 10},
                    {"id": "tests", "content": "eye-test-banner"}]"#;
        let ps: Vec<Promotion> = serde_json::from_str(j).unwrap();
        assert_eq!(ps[1].share, 0.0);
        let back: Vec<Promotion> =
            serde_json::from_str(&serde_json::to_string(&ps).unwrap()).unwrap();
        assert_eq!(back, ps);
        let v = serde_json::json!([{"id": "t", "items": ["i3"], "share": 1}]);
        let ps2: Vec<Promotion> = serde_json::from_value(v).unwrap();
        assert!(Promotions::compile(&ps, &c, "promotions").is_ok());
        assert!(Promotions::compile(&ps2, &c, "promotions").is_ok());
        assert!(serde_json::from_str::<Promotion>(r#"{"id": "x", "shares": 1}"#).is_err());
    }
}
