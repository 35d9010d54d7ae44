//! Behaviour generation: planned sessions of views, clicks, add-to-carts and
//! purchases, drawn from each customer's profile, the season and the region.

use super::catalog::Meta;
use super::customers::Profile;
use super::rand::{cos_turn, Rand};
use super::vocab::{
    ACCESSORIES, COATING, CONTACTS, FRAMES, KIDS, LENSES, REGION_PARAMS, SUNGLASSES,
};
use super::world::World;
use super::Customer;
use super::DemoConfig;
use crate::data::Catalog;
use crate::data::Channel;
use crate::data::Event;
use crate::data::EventKind;

/// A compact event before strings are attached.
#[derive(Clone, Copy)]
struct Raw {
    ts: i64,
    pub(super) user: u32,
    pub(super) item: u32,
    pub(super) session: u32,
    pub(super) kind: u8,
    pub(super) channel: u8,
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
    pub(super) kind: SessionKind,
}

/// Mean events per session, measured; turns the event target into a
/// session budget.
const EVENTS_PER_SESSION: f64 = 6.75;

/// A customer's sampling distribution over one pool (cumulative weights).
#[derive(Default)]
struct Cdf {
    ready: bool,
    pub(super) items: Vec<u32>,
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
    pub(super) out: &'a mut Vec<Raw>,
    pub(super) user: u32,
    pub(super) session: u32,
    pub(super) channel: u8,
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

pub(super) fn build_events(
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
