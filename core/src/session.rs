//! Live sessions: "based on your recent browsing".
//!
//! [`SessionStore`] keeps, per visitor key (a customer id or an anonymous
//! visitor id — the event's `user` field), the newest events as universe
//! item indices. It is bounded three ways so it can sit in a long-running
//! server: at most [`SessionConfig::max_events`] events per key, keys idle
//! for longer than [`SessionConfig::ttl_seconds`] expire, and beyond
//! [`SessionConfig::capacity`] keys the least-recently-used key is evicted.
//! Time is always the events' own timestamps or the `now` a caller passes,
//! never the wall clock, so replays and tests are deterministic.
//!
//! [`SessionRecommender`] turns a key's recent events into a recency- and
//! kind-weighted context and asks other candidate sources (ALS fold-in,
//! co-occurrence, content) with it.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::candidate::{blend, CandidateSource, Candidates, Query, SourceKind};
use crate::data::{Event, EventKind, KindWeights};
use crate::error::{Error, Result};
use crate::ids::IdMap;
use crate::store::{Component, ModelFile, TensorData};
use crate::tracking::check_id;

/// Latest accepted event timestamp: 9999-12-31T23:59:59Z. Anything later is
/// a unit mistake (milli- or microseconds), not a real time.
pub const MAX_TIMESTAMP: i64 = 253_402_300_799;
/// Largest accepted [`SessionConfig::capacity`] (bounds memory on bad config).
pub const MAX_CAPACITY: usize = 100_000_000;
/// Largest accepted [`SessionConfig::max_events`].
pub const MAX_EVENTS_PER_KEY: usize = 10_000;
/// Largest accepted [`SessionConfig::shards`].
pub const MAX_SHARDS: usize = 4_096;
/// Largest accepted TTL and half-life: ten years in seconds.
pub const MAX_SECONDS: i64 = 315_360_000;

/// Settings of a [`SessionStore`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    /// Most keys held at once (default 100 000); beyond it the
    /// least-recently-used key is evicted. A key with 5 events takes about
    /// 300 bytes (measured in tests/memory_bounds.rs), each further event
    /// 16 to 32 (its list grows in powers of two): about 30 MB for a full
    /// default store at 5 events per key.
    pub capacity: usize,
    /// Newest events kept per key (default 50); older ones fall off.
    pub max_events: usize,
    /// A key whose newest event is older than this many seconds is expired
    /// (default 1800, a 30-minute idle session).
    pub ttl_seconds: i64,
    /// Age at which an event counts half in [`SessionStore::context`]
    /// (default 600 seconds).
    pub recency_half_life_seconds: f64,
    /// Weight of each event kind in the context.
    pub kind_weights: KindWeights,
    /// Independently locked parts (default 16): writers to different
    /// shards never wait for each other. Must be `<= capacity`.
    pub shards: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            capacity: 100_000,
            max_events: 50,
            ttl_seconds: 1800,
            recency_half_life_seconds: 600.0,
            kind_weights: KindWeights::default(),
            shards: 16,
        }
    }
}

impl SessionConfig {
    /// Checks every field; [`Error::Config`] names the offending one.
    pub fn validate(&self) -> Result<()> {
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(Error::config(
                "capacity",
                format!("must be in 1..={MAX_CAPACITY}, got {}", self.capacity),
            ));
        }
        if self.max_events == 0 || self.max_events > MAX_EVENTS_PER_KEY {
            return Err(Error::config(
                "max_events",
                format!(
                    "must be in 1..={MAX_EVENTS_PER_KEY}, got {}",
                    self.max_events
                ),
            ));
        }
        if self.ttl_seconds <= 0 || self.ttl_seconds > MAX_SECONDS {
            return Err(Error::config(
                "ttl_seconds",
                format!("must be in 1..={MAX_SECONDS}, got {}", self.ttl_seconds),
            ));
        }
        let h = self.recency_half_life_seconds;
        if !h.is_finite() || h <= 0.0 || h > MAX_SECONDS as f64 {
            return Err(Error::config(
                "recency_half_life_seconds",
                format!("must be in (0, {MAX_SECONDS}], got {h}"),
            ));
        }
        self.kind_weights.validate().map_err(|e| match e {
            Error::Config { field, message } => Error::Config {
                field: format!("kind_weights.{}", field.trim_start_matches("weights.")),
                message,
            },
            other => other,
        })?;
        if self.kind_weights.custom.len() > 1 << 20 {
            return Err(Error::config(
                "kind_weights.custom",
                "at most 1048576 custom kinds",
            ));
        }
        if self.shards == 0 || self.shards > MAX_SHARDS || self.shards > self.capacity {
            return Err(Error::config(
                "shards",
                format!(
                    "must be in 1..={} (and <= capacity), got {}",
                    MAX_SHARDS.min(self.capacity),
                    self.shards
                ),
            ));
        }
        Ok(())
    }
}

/// One held event of a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentEvent {
    /// Universe item index.
    pub item: u32,
    /// What happened.
    pub kind: EventKind,
    /// Unix time in seconds.
    pub timestamp: i64,
}

/// Counters of a [`SessionStore`] (the cumulative ones restart at 0 when a
/// store is loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionStats {
    /// Keys held now.
    pub keys: usize,
    /// Events held now.
    pub events: usize,
    /// Keys evicted because the store was full.
    pub evictions: u64,
    /// Keys dropped because they were idle longer than the TTL.
    pub expirations: u64,
    /// Events skipped because the universe lacks their item.
    pub unknown_items: u64,
}

/// An event as held: 16 bytes, kind as a code into [`Kinds`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ev {
    ts: i64,
    item: u32,
    kind: u32,
}

/// Event kinds ↔ dense codes (0–3 the fixed kinds, then the configured
/// custom kinds in name order), with their weights. Codes keep events
/// small and copyable; the config fixes them, so snapshots stay valid.
#[derive(Debug)]
struct Kinds {
    kinds: Vec<EventKind>,
    weights: Vec<f32>,
    custom: HashMap<String, u32>,
}

impl Kinds {
    fn new(w: &KindWeights) -> Self {
        let mut kinds = vec![
            EventKind::View,
            EventKind::Click,
            EventKind::AddToCart,
            EventKind::Purchase,
        ];
        let mut weights = vec![w.view, w.click, w.add_to_cart, w.purchase];
        let mut custom = HashMap::new();
        for (name, &wt) in &w.custom {
            custom.insert(name.clone(), kinds.len() as u32);
            kinds.push(EventKind::Custom(name.clone()));
            weights.push(wt);
        }
        Kinds {
            kinds,
            weights,
            custom,
        }
    }

    fn code(&self, k: &EventKind) -> Result<u32> {
        match k {
            EventKind::View => Ok(0),
            EventKind::Click => Ok(1),
            EventKind::AddToCart => Ok(2),
            EventKind::Purchase => Ok(3),
            EventKind::Custom(name) => self.custom.get(name).copied().ok_or_else(|| {
                Error::invalid(format!(
                    "no weight configured for custom event kind {name:?}"
                ))
            }),
        }
    }
}

const NIL: u32 = u32::MAX;

/// One key's events (ascending time, ties in arrival order) and its links
/// in the shard's LRU list.
#[derive(Debug)]
struct Entry {
    key: Arc<str>,
    events: VecDeque<Ev>,
    /// Newest event time: the key's last activity.
    last: i64,
    prev: u32,
    next: u32,
}

/// An exact LRU map from key to [`Entry`]: a hash map into a slab of
/// entries linked most- to least-recently used.
///
/// Written here rather than taken from the `lru` crate: the store needs
/// access to the LRU end for TTL sweeps and ordered iteration for
/// snapshots, both plain with an index-linked slab, and it keeps the core
/// crate (also built for wasm) free of `unsafe` pointer lists and of one
/// more dependency.
#[derive(Debug)]
struct Shard {
    // SipHash with a random key: visitor ids come from the outside, so a
    // fixed hash would let crafted ids degrade the map.
    map: HashMap<Arc<str>, u32, RandomState>,
    slots: Vec<Entry>,
    free: Vec<u32>,
    /// Most recently used.
    head: u32,
    /// Least recently used.
    tail: u32,
    cap: usize,
    events: usize,
    evictions: u64,
    expirations: u64,
}

impl Shard {
    fn new(cap: usize) -> Self {
        Shard {
            map: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            cap,
            events: 0,
            evictions: 0,
            expirations: 0,
        }
    }

    fn unlink(&mut self, i: u32) {
        let (p, n) = (self.slots[i as usize].prev, self.slots[i as usize].next);
        if p == NIL {
            self.head = n;
        } else {
            self.slots[p as usize].next = n;
        }
        if n == NIL {
            self.tail = p;
        } else {
            self.slots[n as usize].prev = p;
        }
    }

    fn push_front(&mut self, i: u32) {
        let e = &mut self.slots[i as usize];
        e.prev = NIL;
        e.next = self.head;
        if self.head != NIL {
            self.slots[self.head as usize].prev = i;
        } else {
            self.tail = i;
        }
        self.head = i;
    }

    fn touch(&mut self, i: u32) {
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
    }

    /// Removes slot `i`, returning its key and events.
    fn remove(&mut self, i: u32) -> (Arc<str>, VecDeque<Ev>) {
        self.unlink(i);
        let e = &mut self.slots[i as usize];
        let key = std::mem::replace(&mut e.key, Arc::from(""));
        let events = std::mem::take(&mut e.events);
        self.map.remove(&*key);
        self.events -= events.len();
        self.free.push(i);
        (key, events)
    }

    /// The slot of `key`, created (at the MRU end, evicting the LRU key
    /// when full) if absent.
    fn slot_for(&mut self, key: &str) -> u32 {
        if let Some(&i) = self.map.get(key) {
            return i;
        }
        if self.map.len() >= self.cap && self.tail != NIL {
            self.remove(self.tail);
            self.evictions += 1;
        }
        let key: Arc<str> = Arc::from(key);
        let entry = Entry {
            key: key.clone(),
            events: VecDeque::new(),
            last: i64::MIN,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = entry;
                i
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, i);
        self.push_front(i);
        i
    }

    /// Expires least-recently-used keys idle at `now`. Stops at the first
    /// live one: amortised O(1) per event, and exact when events arrive in
    /// time order (reads re-check each key anyway).
    fn expire_tail(&mut self, now: i64, ttl: i64) {
        while self.tail != NIL && idle(now, self.slots[self.tail as usize].last, ttl) {
            self.remove(self.tail);
            self.expirations += 1;
        }
    }

    /// The slot of `key` if it is held and not idle at `now` (an idle one is
    /// expired on the spot).
    fn live(&mut self, key: &str, now: i64, ttl: i64) -> Option<u32> {
        let i = *self.map.get(key)?;
        if idle(now, self.slots[i as usize].last, ttl) {
            self.remove(i);
            self.expirations += 1;
            return None;
        }
        Some(i)
    }

    /// Adds `ev` to slot `i` in time order, keeping the newest `max`.
    fn add(&mut self, i: u32, ev: Ev, max: usize) {
        let e = &mut self.slots[i as usize];
        let before = e.events.len();
        insert_sorted(&mut e.events, ev, max);
        e.last = e.last.max(ev.ts);
        self.events = self.events + e.events.len() - before;
    }

    /// Applies one validated event for `key`.
    fn ingest(&mut self, key: &str, ev: Ev, cfg: &SessionConfig) {
        self.expire_tail(ev.ts, cfg.ttl_seconds);
        let i = self.slot_for(key);
        let e = &mut self.slots[i as usize];
        // A new event after a longer idle gap than the TTL starts a new
        // session: what came before is as good as expired.
        if !e.events.is_empty() && idle(ev.ts, e.last, cfg.ttl_seconds) {
            let n = e.events.len();
            e.events.clear();
            self.events -= n;
            e.last = i64::MIN;
            self.expirations += 1;
        }
        self.add(i, ev, cfg.max_events);
        self.touch(i);
    }
}

/// Whether a key last active at `last` is idle at `now`.
#[inline]
fn idle(now: i64, last: i64, ttl: i64) -> bool {
    i128::from(now) - i128::from(last) > i128::from(ttl)
}

/// Inserts after every event not newer than `ev` (so ties keep arrival
/// order) and drops the oldest beyond `max`; an event older than a full
/// list's oldest is dropped at once, as the cap would.
fn insert_sorted(events: &mut VecDeque<Ev>, ev: Ev, max: usize) {
    let pos = if events.back().is_none_or(|b| b.ts <= ev.ts) {
        events.len()
    } else {
        events.partition_point(|e| e.ts <= ev.ts)
    };
    if pos == 0 && events.len() >= max {
        return;
    }
    events.insert(pos, ev);
    if events.len() > max {
        events.pop_front();
    }
}

/// FNV-1a: a deterministic shard choice, so eviction order and snapshots
/// are reproducible run to run (the per-shard maps use a keyed hash).
#[inline]
fn shard_hash(key: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in key.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A context from `(item, kind weight, timestamp)` events at `now`: per
/// item `Σ kind_weight · 2^(−age / half_life)` (age clamped at 0), best
/// first (ties: lower index); items weighing 0 are left out. The one
/// weighting of the server's [`SessionStore::context`] and the browser's
/// re-ranking ([`crate::rerank`]).
pub fn decayed_context(
    events: impl IntoIterator<Item = (u32, f32, i64)>,
    now: i64,
    half_life: f64,
) -> Vec<(u32, f32)> {
    let mut parts: Vec<(u32, f64)> = events
        .into_iter()
        .map(|(item, weight, ts)| {
            let age = (i128::from(now) - i128::from(ts)).max(0) as f64;
            (item, f64::from(weight) * (-(age / half_life)).exp2())
        })
        .collect();
    parts.sort_unstable_by_key(|p| p.0);
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(parts.len());
    let mut acc: Option<(u32, f64)> = None;
    for (item, w) in parts {
        match &mut acc {
            Some((i, s)) if *i == item => *s += w,
            _ => {
                if let Some((i, s)) = acc {
                    out.push((i, s as f32));
                }
                acc = Some((item, w));
            }
        }
    }
    if let Some((i, s)) = acc {
        out.push((i, s as f32));
    }
    out.retain(|c| c.1 > 0.0);
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// Everything that can fail about one event, checked before any change.
pub(crate) fn check_event(e: &Event) -> Result<()> {
    // Keys are held until evicted: an unbounded id would make the
    // capacity bound meaningless.
    check_id("user id", &e.user)?;
    check_id("item id", &e.item)?;
    if let EventKind::Custom(k) = &e.kind {
        check_id("event kind name", k)?;
    }
    if !(0..=MAX_TIMESTAMP).contains(&e.timestamp) {
        return Err(Error::invalid(format!(
            "timestamp must be Unix seconds in 0..={MAX_TIMESTAMP}, got {}",
            e.timestamp
        )));
    }
    Ok(())
}

/// Bounded, sharded, thread-safe store of every visitor's recent events;
/// see the [module docs](self).
#[derive(Debug)]
pub struct SessionStore {
    config: SessionConfig,
    universe: Arc<IdMap>,
    kinds: Kinds,
    shards: Box<[Mutex<Shard>]>,
    unknown_items: AtomicU64,
}

impl SessionStore {
    /// An empty store whose items are indices of `universe` (normally the
    /// catalog). Errors: an invalid config ([`Error::Config`]).
    pub fn new(config: SessionConfig, universe: Arc<IdMap>) -> Result<Self> {
        config.validate()?;
        let n = config.shards;
        let shards = (0..n)
            .map(|s| {
                Mutex::new(Shard::new(
                    config.capacity / n + usize::from(s < config.capacity % n),
                ))
            })
            .collect();
        Ok(SessionStore {
            kinds: Kinds::new(&config.kind_weights),
            config,
            universe,
            shards,
            unknown_items: AtomicU64::new(0),
        })
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The item universe.
    pub fn universe(&self) -> &Arc<IdMap> {
        &self.universe
    }

    fn shard_of(&self, key: &str) -> usize {
        (shard_hash(key) % self.shards.len() as u64) as usize
    }

    // A panic can't leave a shard half-updated (no operation panics midway),
    // so a poisoned lock is still consistent: carry on rather than fail reads.
    fn lock(&self, s: usize) -> MutexGuard<'_, Shard> {
        self.shards[s]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks `e`; `Ok(None)` when the universe lacks its item.
    fn prepare(&self, e: &Event) -> Result<Option<Ev>> {
        check_event(e)?;
        let kind = self.kinds.code(&e.kind)?;
        Ok(self.universe.get(&e.item).map(|item| Ev {
            ts: e.timestamp,
            item,
            kind,
        }))
    }

    /// Records one event under its `user` key, in time order (late events
    /// are inserted where they belong). `Ok(false)`: the universe lacks the
    /// item, so it was counted and skipped. Also expires idle keys seen
    /// from the event's time.
    ///
    /// Errors (nothing changes): an empty or overlong (over
    /// [`MAX_ID_LEN`](crate::tracking::MAX_ID_LEN) bytes) user or item id, a timestamp outside
    /// `0..=`[`MAX_TIMESTAMP`], a custom kind without a weight
    /// ([`Error::InvalidInput`]).
    pub fn ingest(&self, event: &Event) -> Result<bool> {
        match self.prepare(event)? {
            Some(ev) => {
                let s = self.shard_of(&event.user);
                self.lock(s).ingest(&event.user, ev, &self.config);
                Ok(true)
            }
            None => {
                self.unknown_items.fetch_add(1, Ordering::Relaxed);
                Ok(false)
            }
        }
    }

    /// Checks `event` as [`ingest`](Self::ingest) would, without recording
    /// it.
    pub fn check(&self, event: &Event) -> Result<()> {
        self.prepare(event).map(drop)
    }

    /// Records many events, all or nothing: every event is checked first,
    /// and an invalid one anywhere is an error with nothing changed.
    /// Returns how many were recorded (the rest had unknown items).
    pub fn ingest_batch(&self, events: &[Event]) -> Result<usize> {
        let prepared = events
            .iter()
            .enumerate()
            .map(|(i, e)| self.prepare(e).map_err(|err| err.at_event(i)))
            .collect::<Result<Vec<_>>>()?;
        let mut recorded = 0;
        for (e, p) in events.iter().zip(prepared) {
            match p {
                Some(ev) => {
                    let s = self.shard_of(&e.user);
                    self.lock(s).ingest(&e.user, ev, &self.config);
                    recorded += 1;
                }
                None => {
                    self.unknown_items.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(recorded)
    }

    /// Runs `f` on the live events (ascending time) of `key` at `now`.
    fn with_live<R>(&self, key: &str, now: i64, f: impl FnOnce(&VecDeque<Ev>) -> R) -> Option<R> {
        let mut sh = self.lock(self.shard_of(key));
        let i = sh.live(key, now, self.config.ttl_seconds)?;
        Some(f(&sh.slots[i as usize].events))
    }

    fn public(&self, e: &Ev) -> RecentEvent {
        RecentEvent {
            item: e.item,
            kind: self.kinds.kinds[e.kind as usize].clone(),
            timestamp: e.ts,
        }
    }

    /// The events of `key`, newest first; empty when unknown or idle at
    /// `now` (an idle key is expired). Reading does not count as use for
    /// the LRU order: only events keep a session alive.
    pub fn recent(&self, key: &str, now: i64) -> Vec<RecentEvent> {
        self.with_live(key, now, |evs| {
            evs.iter().rev().map(|e| self.public(e)).collect()
        })
        .unwrap_or_default()
    }

    /// The context of `key` at `now` for candidate sources: per item
    /// `Σ kind_weight · 2^(−age / half_life)` over its events (age clamped
    /// at 0), best first (ties: lower index); items weighing 0 are left out.
    pub fn context(&self, key: &str, now: i64) -> Vec<(u32, f32)> {
        let weights = &self.kinds.weights;
        let events = self
            .with_live(key, now, |evs| {
                evs.iter()
                    .map(|e| (e.item, weights[e.kind as usize], e.ts))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        decayed_context(events, now, self.config.recency_half_life_seconds)
    }

    /// At login: moves the live events of the `anonymous` visitor into
    /// `user`'s history, in time order (ties: the user's events first),
    /// capped at `max_events` newest, and removes the anonymous key. Both
    /// shards are locked together, so readers never see the events in both
    /// or neither. Returns how many anonymous events the user now holds.
    ///
    /// Errors: an empty id, or the same id twice ([`Error::InvalidInput`]).
    pub fn merge(&self, anonymous: &str, user: &str, now: i64) -> Result<usize> {
        if anonymous.is_empty() || user.is_empty() {
            return Err(Error::invalid("anonymous and user ids must be non-empty"));
        }
        if anonymous == user {
            return Err(Error::invalid(format!("cannot merge {user:?} into itself")));
        }
        let ttl = self.config.ttl_seconds;
        let (sa, su) = (self.shard_of(anonymous), self.shard_of(user));
        // Lock in index order: two merges in opposite directions can't deadlock.
        let (mut ga, mut gu_other) = if sa == su {
            (self.lock(sa), None)
        } else if sa < su {
            let a = self.lock(sa);
            (a, Some(self.lock(su)))
        } else {
            let u = self.lock(su);
            (self.lock(sa), Some(u))
        };
        let Some(ia) = ga.live(anonymous, now, ttl) else {
            return Ok(0);
        };
        let (_, anon) = ga.remove(ia);
        let gu: &mut Shard = match gu_other.as_mut() {
            Some(g) => g,
            None => &mut ga,
        };
        let old: VecDeque<Ev> = match gu.live(user, now, ttl) {
            Some(iu) => {
                let e = &mut gu.slots[iu as usize];
                gu.events -= e.events.len();
                std::mem::take(&mut e.events)
            }
            None => VecDeque::new(),
        };
        // Merge by time, tagging the anonymous events to count survivors.
        let mut all: Vec<(Ev, bool)> = old
            .into_iter()
            .map(|e| (e, false))
            .chain(anon.into_iter().map(|e| (e, true)))
            .collect();
        all.sort_by_key(|p| p.0.ts); // stable: user's events first on ties
        let keep = all.len().saturating_sub(self.config.max_events);
        let all = &all[keep..];
        let moved = all.iter().filter(|p| p.1).count();
        let iu = gu.slot_for(user);
        let e = &mut gu.slots[iu as usize];
        e.events = all.iter().map(|p| p.0).collect();
        e.last = all.last().map_or(i64::MIN, |p| p.0.ts);
        gu.events += all.len();
        if all.is_empty() {
            gu.remove(iu);
        } else {
            gu.touch(iu);
        }
        Ok(moved)
    }

    /// Removes `key` and its events (e.g. on logout or an erasure request);
    /// whether it was held.
    pub fn forget(&self, key: &str) -> bool {
        let mut sh = self.lock(self.shard_of(key));
        match sh.map.get(key) {
            Some(&i) => {
                sh.remove(i);
                true
            }
            None => false,
        }
    }

    /// Everything held for `key`, oldest first, whether idle or not (for
    /// data-access requests); does not expire or touch it.
    pub fn export(&self, key: &str) -> Vec<RecentEvent> {
        let sh = self.lock(self.shard_of(key));
        match sh.map.get(key) {
            Some(&i) => sh.slots[i as usize]
                .events
                .iter()
                .map(|e| self.public(e))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Expires every key idle at `now` (reads and ingests expire lazily;
    /// call this periodically to free memory of keys never seen again).
    /// Returns how many were expired.
    pub fn expire(&self, now: i64) -> usize {
        let ttl = self.config.ttl_seconds;
        let mut n = 0;
        for s in 0..self.shards.len() {
            let mut sh = self.lock(s);
            let idle_slots: Vec<u32> = sh
                .map
                .values()
                .copied()
                .filter(|&i| idle(now, sh.slots[i as usize].last, ttl))
                .collect();
            for i in idle_slots {
                sh.remove(i);
                sh.expirations += 1;
                n += 1;
            }
        }
        n
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        (0..self.shards.len()).map(|s| self.lock(s).map.len()).sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Current counters (shard by shard, so only approximately a snapshot
    /// while writers run).
    pub fn stats(&self) -> SessionStats {
        let mut st = SessionStats {
            unknown_items: self.unknown_items.load(Ordering::Relaxed),
            ..Default::default()
        };
        for s in 0..self.shards.len() {
            let sh = self.lock(s);
            st.keys += sh.map.len();
            st.events += sh.events;
            st.evictions += sh.evictions;
            st.expirations += sh.expirations;
        }
        st
    }

    /// A copy of this store over another universe (e.g. after a catalog
    /// update, or after loading a snapshot): items are translated by id,
    /// events whose item the new universe lacks are dropped (and counted as
    /// unknown), keys left without events are dropped.
    pub fn with_universe(&self, universe: Arc<IdMap>) -> Result<SessionStore> {
        let out = SessionStore::new(self.config.clone(), universe)?;
        let map: Vec<Option<u32>> = self
            .universe
            .ids()
            .iter()
            .map(|id| out.universe.get(id))
            .collect();
        let mut dropped = 0u64;
        for (key, events) in self.dump() {
            let evs: VecDeque<Ev> = events
                .into_iter()
                .filter_map(|e| {
                    let item = map[e.item as usize];
                    dropped += u64::from(item.is_none());
                    item.map(|item| Ev { item, ..e })
                })
                .collect();
            out.restore(&key, evs);
        }
        out.unknown_items.store(dropped, Ordering::Relaxed);
        Ok(out)
    }

    /// Every key with its events, shard by shard, each shard from least to
    /// most recently used (re-inserting in this order rebuilds the LRU).
    fn dump(&self) -> Vec<(Arc<str>, Vec<Ev>)> {
        let mut out = Vec::new();
        for s in 0..self.shards.len() {
            let sh = self.lock(s);
            let mut i = sh.tail;
            while i != NIL {
                let e = &sh.slots[i as usize];
                out.push((e.key.clone(), e.events.iter().copied().collect()));
                i = e.prev;
            }
        }
        out
    }

    /// Puts `key` with already valid, time-ordered `events` at the MRU end.
    fn restore(&self, key: &str, mut events: VecDeque<Ev>) {
        if events.is_empty() {
            return;
        }
        while events.len() > self.config.max_events {
            events.pop_front();
        }
        let mut sh = self.lock(self.shard_of(key));
        let i = sh.slot_for(key);
        let e = &mut sh.slots[i as usize];
        let old = e.events.len();
        e.last = events.back().map_or(i64::MIN, |x| x.ts);
        let new = events.len();
        e.events = events;
        sh.events = sh.events + new - old;
        sh.touch(i);
    }
}

impl Component for SessionStore {
    /// Writes the live sessions under the `session.` prefix:
    ///
    /// * meta `"session": {"config": …}`;
    /// * id maps `session.universe` (item ids, so a restart may bring a
    ///   different catalog, see [`SessionStore::with_universe`]) and
    ///   `session.keys` (shard by shard, least recently used first);
    /// * `session.offsets` U64 `[n_keys + 1]`: key `k`'s events are
    ///   `offsets[k]..offsets[k + 1]`, oldest first;
    /// * `session.items` U32 `[n_events]` (universe indices),
    ///   `session.kinds` U32 `[n_events]` (0 view, 1 click, 2 add_to_cart,
    ///   3 purchase, 4 + i the i-th custom kind of the config in name order),
    ///   `session.timestamps` U64 `[n_events]` (Unix seconds).
    ///
    /// Shards are copied one at a time: writers may go on meanwhile.
    fn write_to(&self, file: &mut ModelFile) -> Result<()> {
        let dump = self.dump();
        file.set_meta("session", serde_json::json!({ "config": self.config }));
        file.put_ids("session.universe", &self.universe)?;
        let keys = IdMap::from_ids(dump.iter().map(|(k, _)| k.to_string()))?;
        file.put_ids("session.keys", &keys)?;
        let n_events: usize = dump.iter().map(|d| d.1.len()).sum();
        let mut offsets = Vec::with_capacity(dump.len() + 1);
        offsets.push(0u64);
        let (mut items, mut kinds, mut ts) = (
            Vec::with_capacity(n_events),
            Vec::with_capacity(n_events),
            Vec::with_capacity(n_events),
        );
        for (_, evs) in &dump {
            for e in evs {
                items.push(e.item);
                kinds.push(e.kind);
                ts.push(e.ts as u64);
            }
            offsets.push(items.len() as u64);
        }
        file.put(
            "session.offsets",
            vec![offsets.len()],
            TensorData::U64(offsets),
        )?;
        file.put("session.items", vec![n_events], TensorData::U32(items))?;
        file.put("session.kinds", vec![n_events], TensorData::U32(kinds))?;
        file.put("session.timestamps", vec![n_events], TensorData::U64(ts))
    }

    /// Reads what [`write_to`](Self::write_to) wrote, checking config,
    /// shapes, offsets, item and kind codes, timestamps and their order
    /// ([`Error::ModelFormat`] when anything is off). The universe is the
    /// saved one; counters restart at 0.
    fn read_from(file: &ModelFile) -> Result<Self> {
        let config: SessionConfig = file.component_config("session", SessionConfig::validate)?;
        let bad = |m: String| Error::format(format!("session: {m}"));
        let universe = Arc::new(file.ids("session.universe")?);
        let keys = file.ids("session.keys")?;
        let n_keys = keys.len();
        if n_keys > config.capacity {
            return Err(bad(format!(
                "{n_keys} keys exceed the capacity {}",
                config.capacity
            )));
        }
        let offsets = vec_u64(file, "session.offsets", n_keys + 1)?;
        let n_events = *offsets.last().unwrap_or(&0) as usize;
        let items = vec_u32(file, "session.items", n_events)?;
        let kinds = vec_u32(file, "session.kinds", n_events)?;
        let ts = vec_u64(file, "session.timestamps", n_events)?;
        if offsets.first() != Some(&0) || offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(bad("corrupt offsets".into()));
        }
        let store = SessionStore::new(config, universe)?;
        let n_items = store.universe.len();
        let n_kinds = store.kinds.kinds.len();
        for (k, key) in keys.ids().iter().enumerate() {
            let (lo, hi) = (offsets[k] as usize, offsets[k + 1] as usize);
            if key.is_empty() || hi == lo || hi - lo > store.config.max_events {
                return Err(bad(format!(
                    "key {k}: empty id or event count {} outside 1..={}",
                    hi - lo,
                    store.config.max_events
                )));
            }
            let mut evs = VecDeque::with_capacity(hi - lo);
            for j in lo..hi {
                let t = ts[j] as i64;
                if items[j] as usize >= n_items
                    || kinds[j] as usize >= n_kinds
                    || !(0..=MAX_TIMESTAMP).contains(&t)
                    || evs.back().is_some_and(|p: &Ev| p.ts > t)
                {
                    return Err(bad(format!(
                        "key {k}: event {j} has a bad item, kind or timestamp"
                    )));
                }
                evs.push_back(Ev {
                    ts: t,
                    item: items[j],
                    kind: kinds[j],
                });
            }
            store.restore(key, evs);
        }
        Ok(store)
    }
}

fn vec_u64<'a>(file: &'a ModelFile, name: &str, len: usize) -> Result<&'a [u64]> {
    let t = file.tensor(name)?;
    match &t.data {
        TensorData::U64(v) if t.shape == [len] && v.len() == len => Ok(v),
        _ => Err(Error::format(format!(
            "tensor {name}: expected U64 [{len}], found shape {:?}",
            t.shape
        ))),
    }
}

fn vec_u32<'a>(file: &'a ModelFile, name: &str, len: usize) -> Result<&'a [u32]> {
    let t = file.tensor(name)?;
    match &t.data {
        TensorData::U32(v) if t.shape == [len] && v.len() == len => Ok(v),
        _ => Err(Error::format(format!(
            "tensor {name}: expected U32 [{len}], found shape {:?}",
            t.shape
        ))),
    }
}

/// "Based on your recent browsing": asks inner sources (ALS fold-in,
/// co-occurrence, content, …) with the visitor's recency- and
/// kind-weighted recent items as context and blends their answers.
pub struct SessionRecommender {
    store: Arc<SessionStore>,
    sources: Vec<(Arc<dyn CandidateSource>, f32)>,
}

impl SessionRecommender {
    /// A recommender over `store` blending `sources` with their weights.
    ///
    /// Errors: a weight that is NaN, infinite or negative
    /// ([`Error::InvalidInput`]).
    pub fn new(
        store: Arc<SessionStore>,
        sources: Vec<(Arc<dyn CandidateSource>, f32)>,
    ) -> Result<Self> {
        if let Some((_, w)) = sources.iter().find(|(_, w)| !w.is_finite() || *w < 0.0) {
            return Err(Error::invalid(format!(
                "source weights must be finite and >= 0, got {w}"
            )));
        }
        Ok(SessionRecommender { store, sources })
    }

    /// The session store.
    pub fn store(&self) -> &Arc<SessionStore> {
        &self.store
    }
}

impl CandidateSource for SessionRecommender {
    fn kind(&self) -> SourceKind {
        SourceKind::Session
    }

    /// Looks up `query.session` (else `query.user`), merges its
    /// [`SessionStore::context`] at `query.now` with `query.context`, asks
    /// every inner source for `2n` with that context and the same filter
    /// and exclusions (blending needs depth: an item second in two lists
    /// may beat one first in one), blends them with [`blend`] and returns
    /// the best `n`, credited to the recent item most responsible. No
    /// recent events: an empty list. Inner errors propagate.
    fn candidates(&self, q: &Query<'_>) -> Result<Candidates> {
        q.validate()?;
        let Some(key) = q.session.or(q.user) else {
            return Ok(Candidates::default());
        };
        let mut context = self.store.context(key, q.now);
        if context.is_empty() {
            return Ok(Candidates::default());
        }
        if !q.context.is_empty() {
            context.extend_from_slice(q.context);
            context.sort_unstable_by_key(|c| c.0);
            context.dedup_by(|b, a| {
                let same = a.0 == b.0;
                if same {
                    a.1 += b.1;
                }
                same
            });
            context.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        let inner = Query {
            context: &context,
            n: q.n.saturating_mul(2),
            ..*q
        };
        let answers = self
            .sources
            .iter()
            .map(|(s, w)| Ok((*w, s.candidates(&inner)?)))
            .collect::<Result<Vec<_>>>()?;
        let lists: Vec<(f32, &Candidates)> = answers.iter().map(|(w, c)| (*w, c)).collect();
        let top = context[0].0;
        let items = blend(&lists, q.n)
            .into_iter()
            .map(|mut c| {
                c.source = SourceKind::Session;
                c.because = c.because.or(Some(top));
                c
            })
            .collect();
        Ok(Candidates { items, level: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::{AlsConfig, AlsModel};
    use crate::candidate::{AlsSource, CooccurSource};
    use crate::cooccur::{CooccurConfig, CooccurModel};
    use crate::data::InteractionsBuilder;

    fn ev(user: &str, item: &str, kind: EventKind, ts: i64) -> Event {
        Event::new(user, item, kind, ts)
    }

    fn view(user: &str, item: &str, ts: i64) -> Event {
        ev(user, item, EventKind::View, ts)
    }

    fn universe(n: usize) -> Arc<IdMap> {
        Arc::new(IdMap::from_ids((0..n).map(|i| format!("i{i}"))).unwrap())
    }

    fn store(cfg: SessionConfig) -> SessionStore {
        SessionStore::new(cfg, universe(100)).unwrap()
    }

    fn items(s: &SessionStore, key: &str, now: i64) -> Vec<u32> {
        s.recent(key, now).iter().map(|e| e.item).collect()
    }

    #[test]
    fn config_validation_names_fields() {
        let field = |c: SessionConfig| match c.validate() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let d = SessionConfig::default;
        assert!(d().validate().is_ok());
        assert_eq!(field(SessionConfig { capacity: 0, ..d() }), "capacity");
        assert_eq!(
            field(SessionConfig {
                max_events: 0,
                ..d()
            }),
            "max_events"
        );
        assert_eq!(
            field(SessionConfig {
                ttl_seconds: -1,
                ..d()
            }),
            "ttl_seconds"
        );
        assert_eq!(
            field(SessionConfig {
                recency_half_life_seconds: f64::NAN,
                ..d()
            }),
            "recency_half_life_seconds"
        );
        assert_eq!(
            field(SessionConfig {
                kind_weights: KindWeights {
                    click: -1.0,
                    ..Default::default()
                },
                ..d()
            }),
            "kind_weights.click"
        );
        assert_eq!(field(SessionConfig { shards: 0, ..d() }), "shards");
        assert_eq!(
            field(SessionConfig {
                capacity: 4,
                shards: 8,
                ..d()
            }),
            "shards"
        );
        let c: SessionConfig = serde_json::from_str(r#"{"capacity": 7, "shards": 1}"#).unwrap();
        assert_eq!((c.capacity, c.max_events, c.ttl_seconds), (7, 50, 1800));
    }

    #[test]
    fn lru_eviction_order_is_exact() {
        let s = store(SessionConfig {
            capacity: 3,
            shards: 1,
            ..Default::default()
        });
        for (k, t) in [("a", 1), ("b", 2), ("c", 3)] {
            s.ingest(&view(k, "i1", t)).unwrap();
        }
        // Touch a: b is now least recently used; reads don't count as use.
        s.ingest(&view("a", "i2", 4)).unwrap();
        assert_eq!(items(&s, "b", 4), [1]);
        s.ingest(&view("d", "i1", 5)).unwrap();
        assert!(s.recent("b", 5).is_empty());
        assert_eq!(s.len(), 3);
        s.ingest(&view("e", "i1", 6)).unwrap();
        assert!(s.export("c").is_empty());
        s.ingest(&view("f", "i1", 7)).unwrap();
        assert!(s.export("a").is_empty());
        let st = s.stats();
        assert_eq!((st.keys, st.evictions, st.expirations), (3, 3, 0));
        assert_eq!(st.events, 3);
        for k in ["d", "e", "f"] {
            assert_eq!(s.export(k).len(), 1);
        }
    }

    #[test]
    fn capacity_is_split_over_shards() {
        let s = store(SessionConfig {
            capacity: 64,
            shards: 8,
            ..Default::default()
        });
        for u in 0..1000 {
            s.ingest(&view(&format!("u{u}"), "i1", u)).unwrap();
        }
        assert_eq!(s.len(), 64);
        assert_eq!(s.stats().evictions, 1000 - 64);
    }

    #[test]
    fn ttl_expiry() {
        let s = store(SessionConfig {
            ttl_seconds: 100,
            shards: 1,
            ..Default::default()
        });
        s.ingest(&view("a", "i1", 1000)).unwrap();
        s.ingest(&view("b", "i2", 1050)).unwrap();
        assert_eq!(items(&s, "a", 1100), [1]); // idle exactly ttl: alive
        assert!(s.recent("a", 1101).is_empty());
        assert_eq!(s.stats().expirations, 1);
        // Ingest expires idle keys at the LRU end by event time.
        s.ingest(&view("c", "i3", 1151)).unwrap();
        assert!(s.export("b").is_empty());
        assert_eq!(s.len(), 1);
        // A key's own events after a long gap start a new session.
        s.ingest(&view("c", "i4", 1300)).unwrap();
        assert_eq!(items(&s, "c", 1300), [4]);
        assert_eq!(s.stats().expirations, 3);
        assert_eq!(s.expire(2000), 1);
        assert!(s.is_empty());
        assert_eq!(s.stats().events, 0);
    }

    #[test]
    fn max_events_keeps_newest() {
        let s = store(SessionConfig {
            max_events: 5,
            ..Default::default()
        });
        for t in 0..12 {
            s.ingest(&view("a", &format!("i{t}"), 100 + t)).unwrap();
        }
        assert_eq!(items(&s, "a", 200), [11, 10, 9, 8, 7]);
        assert_eq!(s.stats().events, 5);
        // Older than everything held in a full list: dropped like the cap would.
        assert!(s.ingest(&view("a", "i50", 50)).unwrap());
        assert_eq!(items(&s, "a", 200), [11, 10, 9, 8, 7]);
    }

    #[test]
    fn out_of_order_events_are_time_ordered() {
        let s = store(SessionConfig {
            max_events: 4,
            ..Default::default()
        });
        for (i, t) in [(1, 100), (2, 300), (3, 200), (4, 300), (5, 150)] {
            s.ingest(&view("a", &format!("i{i}"), t)).unwrap();
        }
        // Ascending: 1@100 5@150 3@200 2@300 4@300 → cap 4 drops 1.
        assert_eq!(items(&s, "a", 400), [4, 2, 3, 5]);
        let ts: Vec<i64> = s.export("a").iter().map(|e| e.timestamp).collect();
        assert_eq!(ts, [150, 200, 300, 300]);
    }

    #[test]
    fn invalid_and_unknown_events() {
        let s = store(SessionConfig::default());
        for e in [
            view("", "i1", 1),
            view("a", "", 1),
            view("a", "i1", -1),
            view("a", "i1", MAX_TIMESTAMP + 1),
            ev("a", "i1", EventKind::Custom("wish".into()), 1),
        ] {
            assert!(matches!(s.ingest(&e), Err(Error::InvalidInput(_))), "{e:?}");
        }
        assert!(!s.ingest(&view("a", "nope", 1)).unwrap());
        let st = s.stats();
        assert_eq!((st.keys, st.events, st.unknown_items), (0, 0, 1));
    }

    #[test]
    fn batch_with_one_bad_event_changes_nothing() {
        let s = store(SessionConfig::default());
        s.ingest(&view("a", "i1", 10)).unwrap();
        let before = s.stats();
        let batch = [
            view("a", "i2", 11),
            view("b", "nope", 11),
            view("c", "i3", 12),
            view("d", "i4", -5),
        ];
        let err = s.ingest_batch(&batch).unwrap_err();
        assert!(err.to_string().contains("event 3"), "{err}");
        assert_eq!(s.stats(), before);
        assert_eq!(items(&s, "a", 20), [1]);
        assert_eq!(s.ingest_batch(&batch[..3]).unwrap(), 2);
        let st = s.stats();
        assert_eq!((st.keys, st.events, st.unknown_items), (2, 3, 1));
    }

    #[test]
    fn context_weights_by_hand() {
        let s = store(SessionConfig {
            recency_half_life_seconds: 100.0,
            ..Default::default()
        });
        s.ingest(&view("a", "i1", 1000)).unwrap(); // 1 · 2^-1 = 0.5
        s.ingest(&ev("a", "i2", EventKind::Purchase, 1050)).unwrap(); // 8 · 2^-0.5
        s.ingest(&ev("a", "i1", EventKind::Click, 1100)).unwrap(); // 2 · 1
        s.ingest(&ev("a", "i3", EventKind::AddToCart, 900)).unwrap(); // 4 · 2^-2 = 1
        s.ingest(&view("a", "i4", 1200)).unwrap(); // future: age 0 → 1
        let c = s.context("a", 1100);
        let want = [(2u32, 8.0 * 0.5f32.sqrt()), (1, 2.5), (3, 1.0), (4, 1.0)];
        assert_eq!(c.len(), want.len());
        for ((i, w), (wi, ww)) in c.iter().zip(want) {
            assert_eq!(*i, wi);
            assert!((w - ww).abs() < 1e-5, "{i}: {w} vs {ww}");
        }
        assert!(s.context("zz", 1100).is_empty());
    }

    #[test]
    fn merge_semantics() {
        let s = store(SessionConfig {
            max_events: 4,
            ..Default::default()
        });
        s.ingest(&view("anon", "i1", 100)).unwrap();
        s.ingest(&view("anon", "i2", 300)).unwrap();
        s.ingest(&view("anon", "i3", 500)).unwrap();
        s.ingest(&view("user", "i4", 200)).unwrap();
        s.ingest(&view("user", "i5", 400)).unwrap();
        s.ingest(&view("user", "i6", 300)).unwrap();
        // Time order 1@100 4@200 6@300 2@300 5@400 3@500 → newest 4.
        assert_eq!(s.merge("anon", "user", 600).unwrap(), 2);
        assert_eq!(items(&s, "user", 600), [3, 5, 2, 6]);
        assert!(s.export("anon").is_empty());
        assert_eq!(s.len(), 1);
        assert_eq!(s.stats().events, 4);
        // Unknown anonymous key: nothing; a fresh user gets the events.
        assert_eq!(s.merge("ghost", "user", 600).unwrap(), 0);
        s.ingest(&view("anon2", "i7", 650)).unwrap();
        assert_eq!(s.merge("anon2", "new", 700).unwrap(), 1);
        assert_eq!(items(&s, "new", 700), [7]);
        assert!(s.merge("x", "x", 1).is_err());
        assert!(s.merge("", "x", 1).is_err());
        assert!(s.forget("new"));
        assert!(!s.forget("new"));
    }

    #[test]
    fn merge_across_shards_and_expired_anonymous() {
        let s = store(SessionConfig {
            shards: 16,
            ttl_seconds: 100,
            ..Default::default()
        });
        let (a, u) = (0..)
            .map(|i| (format!("a{i}"), format!("u{i}")))
            .find(|(a, u)| s.shard_of(a) != s.shard_of(u))
            .unwrap();
        s.ingest(&view(&a, "i1", 10)).unwrap();
        assert_eq!(s.merge(&a, &u, 50).unwrap(), 1);
        assert_eq!(items(&s, &u, 50), [1]);
        s.ingest(&view(&a, "i2", 10)).unwrap();
        assert_eq!(s.merge(&a, &u, 500).unwrap(), 0); // idle: expired, not moved
        assert!(s.export(&a).is_empty());
    }

    #[test]
    fn concurrent_readers_and_writers_lose_nothing() {
        let s = SessionStore::new(
            SessionConfig {
                max_events: 1000,
                ..Default::default()
            },
            universe(100),
        )
        .unwrap();
        std::thread::scope(|sc| {
            for t in 0..4 {
                let s = &s;
                sc.spawn(move || {
                    for j in 0..2000i64 {
                        let key = format!("t{t}-k{}", j % 50);
                        s.ingest(&view(&key, &format!("i{}", j % 100), 1000 + j / 10))
                            .unwrap();
                        let other = format!("t{}-k{}", (t + 1) % 4, j % 50);
                        let _ = s.context(&other, 1000 + j / 10);
                        let _ = s.recent(&key, 1000 + j / 10);
                    }
                });
            }
        });
        let st = s.stats();
        assert_eq!((st.keys, st.events, st.evictions), (200, 8000, 0));
        assert_eq!(s.export("t2-k7").len(), 40);
    }

    #[test]
    fn persistence_round_trip() {
        let cfg = SessionConfig {
            capacity: 10,
            shards: 2,
            kind_weights: KindWeights::default().with_custom("wish", 3.0),
            ..Default::default()
        };
        let s = SessionStore::new(cfg, universe(20)).unwrap();
        for k in 0..8 {
            for j in 0..(k + 1) {
                let kind = if j % 3 == 0 {
                    EventKind::Custom("wish".into())
                } else {
                    EventKind::Click
                };
                s.ingest(&ev(
                    &format!("k{k}"),
                    &format!("i{}", (k + j) % 20),
                    kind,
                    100 + j,
                ))
                .unwrap();
            }
        }
        let bytes = s.to_bytes().unwrap();
        let r = SessionStore::from_bytes(&bytes).unwrap();
        assert_eq!(r.config(), s.config());
        assert_eq!(r.dump(), s.dump());
        for k in 0..8 {
            let key = format!("k{k}");
            assert_eq!(r.export(&key), s.export(&key));
            assert_eq!(r.context(&key, 200), s.context(&key, 200));
        }
        assert_eq!(r.to_bytes().unwrap(), bytes);
        // Same LRU order: the next evictions hit the same keys.
        for x in 0..4 {
            s.ingest(&view(&format!("n{x}"), "i1", 300)).unwrap();
            r.ingest(&view(&format!("n{x}"), "i1", 300)).unwrap();
        }
        assert_eq!(r.dump(), s.dump());
        // A new universe translates items by id and drops unknown ones.
        let u2 = Arc::new(IdMap::from_ids(["i3", "i1"]).unwrap());
        let m = s.with_universe(u2).unwrap();
        assert_eq!(
            m.export("n0"),
            [RecentEvent {
                item: 1,
                kind: EventKind::View,
                timestamp: 300
            }]
        );
    }

    #[test]
    fn corrupted_snapshot_is_an_error() {
        let s = store(SessionConfig::default());
        s.ingest(&view("a", "i1", 10)).unwrap();
        s.ingest(&view("a", "i2", 20)).unwrap();
        let mut f = ModelFile::new();
        s.write_to(&mut f).unwrap();
        let tamper = |name: &str, data: TensorData, shape: Vec<usize>| {
            let mut g = f.clone();
            g.put(name, shape, data).unwrap();
            SessionStore::read_from(&g)
        };
        for r in [
            tamper("session.items", TensorData::U32(vec![1, 100]), vec![2]),
            tamper("session.kinds", TensorData::U32(vec![0, 9]), vec![2]),
            tamper("session.timestamps", TensorData::U64(vec![20, 10]), vec![2]),
            tamper(
                "session.timestamps",
                TensorData::U64(vec![u64::MAX, 10]),
                vec![2],
            ),
            tamper("session.offsets", TensorData::U64(vec![0, 3]), vec![2]),
            tamper("session.offsets", TensorData::U64(vec![0, 0, 2]), vec![3]),
            tamper("session.items", TensorData::U64(vec![1, 2]), vec![2]),
            tamper("session.items", TensorData::U32(vec![1]), vec![1]),
        ] {
            assert!(matches!(r, Err(Error::ModelFormat(_))), "{r:?}");
        }
        let mut g = f.clone();
        g.set_meta("session", serde_json::json!({"config": {"capacity": 0}}));
        assert!(matches!(
            SessionStore::read_from(&g),
            Err(Error::ModelFormat(_))
        ));
        assert!(matches!(
            SessionStore::read_from(&ModelFile::new()),
            Err(Error::ModelFormat(_))
        ));
        let mut bytes = s.to_bytes().unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0xff;
        assert!(SessionStore::from_bytes(&bytes).is_err());
        assert!(SessionStore::from_bytes(&bytes[..n / 2]).is_err());
        assert!(SessionStore::read_from(&f).is_ok());
    }

    /// Two clusters of 10 items; every training user sticks to one.
    fn clustered() -> (Arc<IdMap>, Arc<AlsModel>, Arc<CooccurModel>) {
        let mut b = InteractionsBuilder::new();
        let mut state = 7u64;
        for u in 0..200 {
            let c = if u % 2 == 0 { "a" } else { "b" };
            for _ in 0..5 {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let i = (state >> 33) % 10;
                b.add(&format!("u{u}"), &format!("{c}{i}"), 1.0).unwrap();
            }
        }
        let data = b.build().unwrap();
        let als = AlsModel::fit(
            &AlsConfig {
                factors: 8,
                iterations: 10,
                seed: 3,
                num_threads: 1,
                ..Default::default()
            },
            &data,
        )
        .unwrap();
        let co = CooccurModel::fit(&CooccurConfig::default(), &data).unwrap();
        (Arc::new(data.items().clone()), Arc::new(als), Arc::new(co))
    }

    #[test]
    fn recommender_follows_planted_cluster() {
        let (uni, als, co) = clustered();
        let st = Arc::new(SessionStore::new(SessionConfig::default(), uni.clone()).unwrap());
        let sources: Vec<(Arc<dyn CandidateSource>, f32)> = vec![
            (Arc::new(AlsSource::new(als, uni.clone())), 1.0),
            (Arc::new(CooccurSource::new(co, &uni)), 1.0),
        ];
        let rec = SessionRecommender::new(st.clone(), sources).unwrap();
        assert_eq!(rec.kind(), SourceKind::Session);
        let viewed = ["a1", "a2", "a3"];
        for (t, i) in viewed.iter().enumerate() {
            st.ingest(&view("visitor", i, 1000 + t as i64)).unwrap();
        }
        let viewed_idx: Vec<u32> = viewed.iter().map(|i| uni.get(i).unwrap()).collect();
        let mut q = Query::new(5, 1010);
        q.session = Some("visitor");
        let got = rec.candidates(&q).unwrap().items;
        assert_eq!(got.len(), 5);
        let name = |i: u32| uni.id(i).unwrap().to_owned();
        let in_a = got.iter().filter(|c| name(c.item).starts_with('a')).count();
        assert!(
            in_a >= 4,
            "{:?}",
            got.iter().map(|c| name(c.item)).collect::<Vec<_>>()
        );
        for c in &got {
            assert!(!viewed_idx.contains(&c.item));
            assert_eq!(c.source, SourceKind::Session);
            assert!(viewed_idx.contains(&c.because.unwrap()));
        }
        assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
        // Filter and exclude are honoured.
        let a5 = uni.get("a5").unwrap();
        let only_even = |i: u32| i.is_multiple_of(2);
        let mut q2 = q;
        q2.filter = Some(&only_even);
        let ex = [a5];
        q2.exclude = &ex;
        let got2 = rec.candidates(&q2).unwrap().items;
        assert!(!got2.is_empty());
        assert!(got2
            .iter()
            .all(|c| c.item.is_multiple_of(2) && c.item != a5));
        // `user` is the fallback key; unknown or idle keys give nothing.
        let mut q3 = Query::new(5, 1010);
        q3.user = Some("visitor");
        assert_eq!(rec.candidates(&q3).unwrap().items, got);
        q3.user = Some("nobody");
        assert!(rec.candidates(&q3).unwrap().items.is_empty());
        let mut q4 = q;
        q4.now = 1_000_000;
        assert!(rec.candidates(&q4).unwrap().items.is_empty());
        // Invalid queries are errors.
        let mut q5 = q;
        q5.n = 0;
        assert!(rec.candidates(&q5).is_err());
    }

    #[test]
    fn inner_errors_propagate() {
        struct Failing;
        impl CandidateSource for Failing {
            fn kind(&self) -> SourceKind {
                SourceKind::Content
            }
            fn candidates(&self, _: &Query<'_>) -> Result<Candidates> {
                Err(Error::invalid("boom"))
            }
        }
        let uni = universe(10);
        let st = Arc::new(SessionStore::new(SessionConfig::default(), uni).unwrap());
        st.ingest(&view("v", "i1", 10)).unwrap();
        let failing: Arc<dyn CandidateSource> = Arc::new(Failing);
        let rec = SessionRecommender::new(st, vec![(failing.clone(), 1.0)]).unwrap();
        let mut q = Query::new(3, 10);
        q.session = Some("v");
        assert!(rec.candidates(&q).is_err());
        assert!(SessionRecommender::new(rec.store().clone(), vec![(failing, -1.0)]).is_err());
    }

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<SessionStore>();
        check::<SessionRecommender>();
    }

    #[test]
    fn overlong_ids_are_refused_so_the_capacity_bounds_memory() {
        let universe = Arc::new(IdMap::from_ids(["a"]).unwrap());
        let s = SessionStore::new(SessionConfig::default(), universe).unwrap();
        let long = "v".repeat(crate::tracking::MAX_ID_LEN + 1);
        let err = s
            .ingest(&Event::new(&long, "a", EventKind::View, 1))
            .unwrap_err();
        assert!(
            err.to_string().contains("user id must be 1..=1024 bytes"),
            "{err}"
        );
        assert!(s
            .ingest(&Event::new("v", &long, EventKind::View, 1))
            .is_err());
        assert!(s.is_empty());
        let ok = "v".repeat(crate::tracking::MAX_ID_LEN);
        assert!(s.ingest(&Event::new(&ok, "a", EventKind::View, 1)).unwrap());
    }
}
