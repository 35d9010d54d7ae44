//! Privacy: what may be used about a person, and their rights of erasure
//! and access over every store that holds something about them.
//!
//! # Consent
//!
//! [`Consent`] is the one rule for requests and events without consent:
//! such a request is answered without personal sources (ALS, session) and
//! without the customer's purchase history, and is tracked under an
//! opaque per-response key; such an event feeds only the anonymous
//! aggregates (trending counts, metrics), never a store keyed by person.
//!
//! # Stores
//!
//! | store | holds about a person | forget | export |
//! |---|---|---|---|
//! | session store | recent events under their user / visitor key | removed | events |
//! | purchase history (engine) | their last purchases | removed | purchases |
//! | attribution log ([`Tracker`]) | open recommendations and clicks | removed | both |
//! | ALS model | factors, training row, id | zeroed, row emptied, id tombstoned | factors, training items |
//! | trending store | nothing attributable: decayed counts per item × segment, no user key | — | — |
//! | metrics | nothing attributable: counters by placement, source, kind | — | — |
//!
//! [`forget`] and [`export`] ask each store in turn, so a store added
//! later is added here once and every binding gets it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::als::AlsModel;
use crate::error::{Error, Result};
use crate::ids::IdMap;
use crate::session::SessionStore;
use crate::tracking::{Tracker, UserAttribution};

/// Whether the person behind a request or event consented to
/// personalisation and tracking, and what follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// Personal data may be used and stored.
    Given,
    /// Only anonymous aggregates may learn from them.
    Withheld,
}

impl From<bool> for Consent {
    fn from(given: bool) -> Self {
        if given {
            Consent::Given
        } else {
            Consent::Withheld
        }
    }
}

impl Consent {
    /// Whether anything may be stored about the person (session events,
    /// purchase history, attribution by their id).
    pub fn may_store(self) -> bool {
        self == Consent::Given
    }

    /// Whether a source may run: personal sources (ALS, session) only
    /// with consent.
    pub fn allows_source(self, personal: bool) -> bool {
        !personal || self.may_store()
    }

    /// The known customer whose own data (factors, purchases) may be read.
    pub fn customer(self, user: Option<&str>) -> Option<&str> {
        user.filter(|_| self.may_store())
    }

    /// The key of the person's live data (session store, attribution):
    /// the customer, else the anonymous visitor, as events are keyed by
    /// their `user`.
    pub fn visitor<'a>(self, user: Option<&'a str>, session: Option<&'a str>) -> Option<&'a str> {
        self.customer(user).or(session.filter(|_| self.may_store()))
    }

    /// The user a response is tracked under: the [`visitor`](Self::visitor)
    /// key, or without consent an opaque key of the response's own, so
    /// aggregate CTR still counts and nothing links to the person.
    pub fn attribution_key(
        self,
        user: Option<&str>,
        session: Option<&str>,
        recommendation_id: &str,
    ) -> String {
        match self.visitor(user, session) {
            Some(key) => key.to_owned(),
            None => format!("anonymous:{recommendation_id}"),
        }
    }
}

/// Most purchases remembered per customer (for "exclude purchased").
pub const MAX_PURCHASES: usize = 200;

/// Default [`PurchaseHistory`] capacity (customers remembered).
pub const DEFAULT_PURCHASE_CUSTOMERS: usize = 100_000;

/// The engine's purchase history per customer (universe index, Unix
/// seconds), newest last, at most [`MAX_PURCHASES`] each, for at most
/// `capacity` customers: beyond it the customer whose last purchase is
/// oldest is forgotten, so a stream of new customer ids cannot grow it
/// without end. Measured (tests/memory_bounds.rs): under 460 bytes per
/// customer with one purchase, plus 16 per further purchase.
#[derive(Debug)]
pub struct PurchaseHistory {
    inner: Mutex<Purchases>,
}

/// A customer's purchases (item, time) and the stamp of the last one.
type Bought = (u64, Vec<(u32, i64)>);

#[derive(Debug, Default)]
struct Purchases {
    capacity: usize,
    /// Purchases and the stamp of the last one per customer.
    by_user: HashMap<Arc<str>, Bought>,
    /// Customers in last-purchase order; entries whose stamp no longer
    /// matches (bought again since, or forgotten) are skipped.
    order: VecDeque<(Arc<str>, u64)>,
    stamp: u64,
}

impl Default for PurchaseHistory {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_PURCHASE_CUSTOMERS)
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::invalid("the purchase history lock was poisoned by a panic in another thread")
}

impl PurchaseHistory {
    /// An empty history for [`DEFAULT_PURCHASE_CUSTOMERS`] customers.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty history for at most `capacity` customers (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        PurchaseHistory {
            inner: Mutex::new(Purchases {
                capacity: capacity.max(1),
                ..Purchases::default()
            }),
        }
    }

    /// Remembers that `user` bought `item` at `timestamp`, dropping their
    /// oldest purchase beyond [`MAX_PURCHASES`], and the customer with the
    /// oldest last purchase beyond the capacity.
    pub fn record(&self, user: &str, item: u32, timestamp: i64) -> Result<()> {
        let mut guard = self.inner.lock().map_err(poisoned)?;
        let p = &mut *guard;
        p.stamp += 1;
        let stamp = p.stamp;
        let key: Arc<str> = match p.by_user.get_key_value(user) {
            Some((k, _)) => k.clone(),
            None => Arc::from(user),
        };
        let entry = p.by_user.entry(key.clone()).or_default();
        entry.0 = stamp;
        entry.1.push((item, timestamp));
        if entry.1.len() > MAX_PURCHASES {
            entry.1.remove(0);
        }
        p.order.push_back((key, stamp));
        while p.by_user.len() > p.capacity {
            let Some((old, s)) = p.order.pop_front() else {
                break;
            };
            if p.by_user.get(&old).is_some_and(|e| e.0 == s) {
                p.by_user.remove(&old);
            }
        }
        // Repeat buyers leave stale entries: compact now and then so the
        // queue stays O(capacity).
        if p.order.len() > 2 * p.capacity + 1024 {
            let by_user = &p.by_user;
            p.order
                .retain(|(k, s)| by_user.get(k).is_some_and(|e| e.0 == *s));
        }
        Ok(())
    }

    /// The purchases of `user`, oldest first (empty when unknown).
    pub fn of(&self, user: &str) -> Result<Vec<(u32, i64)>> {
        Ok(self
            .inner
            .lock()
            .map_err(poisoned)?
            .by_user
            .get(user)
            .map(|e| e.1.clone())
            .unwrap_or_default())
    }

    /// Removes `user`'s purchases; how many there were.
    pub fn forget(&self, user: &str) -> Result<usize> {
        let mut p = self.inner.lock().map_err(poisoned)?;
        let n = p.by_user.remove(user).map_or(0, |e| e.1.len());
        // Drop the queue entries too, so no id of theirs lingers in memory.
        if n > 0 {
            p.order.retain(|(k, _)| &**k != user);
        }
        Ok(n)
    }

    /// Number of customers remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |p| p.by_user.len())
    }

    /// Whether no customer is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What [`forget`] removed. The JSON shape is the one `forget_user`
/// returned before it was typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetReport {
    /// The user id forgotten.
    pub user: String,
    /// Whether the session store held them.
    pub session: bool,
    /// Purchases removed from the purchase history.
    pub purchases: usize,
    /// Open recommendations and clicks removed from the attribution log.
    pub attribution_records: usize,
    /// Whether the ALS model had factors for them (now erased).
    pub als_factors: bool,
}

/// One event of the session store, by item id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedEvent {
    /// Item id.
    pub item: String,
    /// What happened: the kind's name (`view`, …, or a custom kind's own),
    /// as events spell it.
    pub kind: String,
    /// Unix seconds.
    pub timestamp: i64,
}

/// One purchase of the purchase history, by item id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedPurchase {
    /// Item id.
    pub item: String,
    /// Unix seconds.
    pub timestamp: i64,
}

/// What the ALS model holds about a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsExport {
    /// Their latent factors.
    pub factors: Vec<f32>,
    /// Item ids of their training row (empty when the model keeps none).
    pub training_items: Vec<String>,
}

/// Everything held about a person (GDPR access), as [`export`] gathers
/// it. The JSON shape is the one `export_user` returned before it was
/// typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserExport {
    /// The user id asked about.
    pub user: String,
    /// Their session events, oldest first.
    pub session_events: Vec<ExportedEvent>,
    /// Their purchases, oldest first.
    pub purchases: Vec<ExportedPurchase>,
    /// Their attribution records.
    pub attribution: UserAttribution,
    /// Their ALS factors, when the model knows them.
    pub als: Option<AlsExport>,
}

/// Every store holding personal data, as one engine snapshot sees them.
pub struct PersonalData<'a> {
    /// Item ids of the indices the stores answer in (the catalog).
    pub universe: &'a IdMap,
    /// The live session store.
    pub session: &'a SessionStore,
    /// The purchase history.
    pub purchases: &'a PurchaseHistory,
    /// The attribution log.
    pub tracker: &'a Tracker,
    /// The ALS model being served.
    pub als: Option<&'a AlsModel>,
}

/// Erases `user` from every store. The stores that change in place do so
/// now; the ALS model is immutable while served, so its erased copy is
/// returned for the caller to swap in (`None` when it never knew them).
pub fn forget(data: &PersonalData<'_>, user: &str) -> Result<(ForgetReport, Option<AlsModel>)> {
    let session = data.session.forget(user);
    let purchases = data.purchases.forget(user)?;
    let attribution_records = data.tracker.forget_user(user);
    let als = data.als.filter(|m| m.users().get(user).is_some()).map(|m| {
        let mut erased = m.clone();
        erased.forget_user(user);
        erased
    });
    let report = ForgetReport {
        user: user.to_owned(),
        session,
        purchases,
        attribution_records,
        als_factors: als.is_some(),
    };
    Ok((report, als))
}

/// Everything every store holds about `user`.
pub fn export(data: &PersonalData<'_>, user: &str) -> Result<UserExport> {
    let name = |i: u32| data.universe.id(i).unwrap_or_default().to_owned();
    let session_events = data
        .session
        .export(user)
        .into_iter()
        .map(|e| ExportedEvent {
            item: name(e.item),
            kind: e.kind.as_str().to_owned(),
            timestamp: e.timestamp,
        })
        .collect();
    let purchases = data
        .purchases
        .of(user)?
        .into_iter()
        .map(|(i, timestamp)| ExportedPurchase {
            item: name(i),
            timestamp,
        })
        .collect();
    Ok(UserExport {
        user: user.to_owned(),
        session_events,
        purchases,
        attribution: data.tracker.export_user(user),
        als: data.als.and_then(|m| als_export(m, user)),
    })
}

fn als_export(m: &AlsModel, user: &str) -> Option<AlsExport> {
    let u = m.users().get(user)?;
    let training_items = m
        .user_items()
        .map(|x| {
            x.row(u as usize)
                .0
                .iter()
                .map(|&i| m.items().id(i).unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    Some(AlsExport {
        factors: m.user_vector(u).ok()?.to_vec(),
        training_items,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::als::AlsConfig;
    use crate::candidate::SourceKind;
    use crate::data::{Event, EventKind, InteractionsBuilder};
    use crate::session::SessionConfig;
    use crate::tracking::{Served, TrackingConfig};

    /// Every store with something of `ann` (and of `bob`).
    struct Stores {
        universe: Arc<IdMap>,
        session: SessionStore,
        purchases: PurchaseHistory,
        tracker: Tracker,
        als: AlsModel,
    }

    impl Stores {
        fn new() -> Self {
            let universe = Arc::new(IdMap::from_ids(["a", "b", "c"]).unwrap());
            let session = {
                let mut config = SessionConfig::default();
                config.kind_weights.custom.insert("wishlist".into(), 1.0);
                SessionStore::new(config, universe.clone()).unwrap()
            };
            for (user, kind) in [
                ("ann", EventKind::View),
                ("ann", EventKind::parse("wishlist")),
            ] {
                session.ingest(&Event::new(user, "b", kind, 100)).unwrap();
            }
            session
                .ingest(&Event::new("bob", "a", EventKind::View, 100))
                .unwrap();
            let purchases = PurchaseHistory::new();
            purchases.record("ann", 2, 110).unwrap();
            let tracker = Tracker::new(TrackingConfig::default()).unwrap();
            for (id, user) in [("r1", "ann"), ("r2", "bob")] {
                tracker
                    .served(&Served {
                        recommendation_id: id,
                        user,
                        placement: "home",
                        variant: "default",
                        items: &[(0, SourceKind::Als)],
                        timestamp: 100,
                    })
                    .unwrap();
            }
            tracker.click("r1", 0, 101).unwrap();
            let mut b = InteractionsBuilder::new();
            for (u, i) in [("ann", "a"), ("ann", "c"), ("bob", "b"), ("bob", "c")] {
                b.add(u, i, 1.0).unwrap();
            }
            let cfg = AlsConfig {
                factors: 2,
                iterations: 2,
                ..Default::default()
            };
            let als = AlsModel::fit(&cfg, &b.build().unwrap()).unwrap();
            Stores {
                universe,
                session,
                purchases,
                tracker,
                als,
            }
        }

        fn data(&self) -> PersonalData<'_> {
            PersonalData {
                universe: &self.universe,
                session: &self.session,
                purchases: &self.purchases,
                tracker: &self.tracker,
                als: Some(&self.als),
            }
        }
    }

    #[test]
    fn export_gathers_every_store_in_the_json_the_bindings_read() {
        let stores = Stores::new();
        let export = export(&stores.data(), "ann").unwrap();
        let json = serde_json::to_value(&export).unwrap();
        assert_eq!(json["session_events"][0]["item"], "b");
        assert_eq!(json["session_events"][0]["kind"], "view");
        assert_eq!(
            json["session_events"][1]["kind"], "wishlist",
            "custom kinds by name"
        );
        assert_eq!(
            json["purchases"],
            serde_json::json!([{"item": "c", "timestamp": 110}])
        );
        assert_eq!(
            json["attribution"]["recommendations"][0]["recommendation_id"],
            "r1"
        );
        assert_eq!(json["attribution"]["clicks"][0]["item"], 0);
        assert_eq!(json["als"]["factors"].as_array().unwrap().len(), 2);
        let mut training = export.als.unwrap().training_items;
        training.sort();
        assert_eq!(training, ["a", "c"]);
    }

    #[test]
    fn forget_erases_every_store_and_leaves_others_alone() {
        let stores = Stores::new();
        let (report, als) = forget(&stores.data(), "ann").unwrap();
        assert_eq!(
            report,
            ForgetReport {
                user: "ann".into(),
                session: true,
                purchases: 1,
                attribution_records: 2,
                als_factors: true,
            }
        );
        let als = als.unwrap();
        assert_eq!(als.users().get("ann"), None);
        let after = Stores { als, ..stores };
        let left = export(&after.data(), "ann").unwrap();
        assert!(left.session_events.is_empty() && left.purchases.is_empty());
        assert!(left.attribution.recommendations.is_empty() && left.attribution.clicks.is_empty());
        assert_eq!(left.als, None);
        let bob = export(&after.data(), "bob").unwrap();
        assert_eq!(bob.session_events.len(), 1);
        assert_eq!(bob.attribution.recommendations.len(), 1);
        assert!(bob.als.is_some());
        // Nothing to erase twice; no new ALS model to swap in.
        let (again, als) = forget(&after.data(), "ann").unwrap();
        assert!(als.is_none() && !again.session && !again.als_factors);
    }

    #[test]
    fn without_consent_nothing_personal_is_used_or_stored() {
        let no = Consent::from(false);
        assert!(!no.may_store());
        assert!(no.allows_source(false) && !no.allows_source(true));
        assert_eq!(no.customer(Some("u")), None);
        assert_eq!(no.visitor(Some("u"), Some("s")), None);
        assert_eq!(
            no.attribution_key(Some("u"), Some("s"), "r1"),
            "anonymous:r1"
        );
        let yes = Consent::from(true);
        assert!(yes.may_store() && yes.allows_source(true));
        assert_eq!(yes.customer(Some("u")), Some("u"));
        assert_eq!(yes.visitor(Some("u"), Some("s")), Some("u"));
        assert_eq!(yes.visitor(None, Some("s")), Some("s"));
        assert_eq!(yes.attribution_key(None, Some("s"), "r1"), "s");
        assert_eq!(yes.attribution_key(None, None, "r1"), "anonymous:r1");
    }

    #[test]
    fn purchase_history_is_bounded_and_forgets() {
        let h = PurchaseHistory::new();
        for t in 0..(MAX_PURCHASES as i64 + 5) {
            h.record("ann", t as u32, t).unwrap();
        }
        h.record("bob", 1, 1).unwrap();
        let ann = h.of("ann").unwrap();
        assert_eq!(ann.len(), MAX_PURCHASES);
        assert_eq!(ann[0], (5, 5), "the oldest went first");
        assert_eq!(h.forget("ann").unwrap(), MAX_PURCHASES);
        assert_eq!(h.forget("ann").unwrap(), 0);
        assert!(h.of("ann").unwrap().is_empty());
        assert_eq!(h.of("bob").unwrap(), vec![(1, 1)]);
    }

    #[test]
    fn purchase_history_forgets_the_customer_whose_last_purchase_is_oldest() {
        let h = PurchaseHistory::with_capacity(3);
        for (t, user) in ["a", "b", "c", "a"].iter().enumerate() {
            h.record(user, 1, t as i64).unwrap();
        }
        // "b" bought longest ago ("a" again at t=3): "b" goes for "d".
        h.record("d", 2, 4).unwrap();
        assert_eq!(h.len(), 3);
        assert!(h.of("b").unwrap().is_empty());
        assert_eq!(h.of("a").unwrap().len(), 2);
        // A long stream of one-off customers stays within the capacity,
        // and repeat buyers do not grow the queue without end.
        for k in 0..10_000 {
            h.record(&format!("u{k}"), 1, 10 + k).unwrap();
            h.record("loyal", 1, 10 + k).unwrap();
            assert!(h.len() <= 3);
        }
        assert!(h.inner.lock().unwrap().order.len() <= 2 * 3 + 1024 + 1);
        assert!(!h.of("loyal").unwrap().is_empty());
    }
}
