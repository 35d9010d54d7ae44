//! Ingest: live events feed trending always, and with consent the
//! visitor's session, purchase history and conversion attribution.

use super::snapshot::Snapshot;
use super::{poisoned, Engine};
use crate::data::{Event, EventKind};
use crate::error::Result;
use crate::privacy::Consent;
use crate::tracking::check_id;

pub(super) fn ingest(engine: &Engine, event: &Event, consent: Consent) -> Result<()> {
    let _gate = engine.ingest_gate();
    let snap = engine.snapshot.load();
    check(engine, &snap, event, consent)?;
    engine.trending.write().map_err(poisoned)?.ingest(event)?;
    if consent.may_store() {
        snap.session.ingest(event)?;
        record_purchase(engine, &snap, event)?;
    }
    engine.count_event(event);
    Ok(())
}

pub(super) fn ingest_batch(engine: &Engine, events: &[Event], consent: Consent) -> Result<usize> {
    let _gate = engine.ingest_gate();
    let snap = engine.snapshot.load();
    // Every event is checked by every store it will reach before any store
    // learns from one, so a failure anywhere changes nothing.
    for (i, e) in events.iter().enumerate() {
        check(engine, &snap, e, consent).map_err(|err| err.at_event(i))?;
    }
    engine
        .trending
        .write()
        .map_err(poisoned)?
        .ingest_batch(events)?;
    if consent.may_store() {
        snap.session.ingest_batch(events)?;
    }
    for e in events {
        if consent.may_store() {
            record_purchase(engine, &snap, e)?;
        }
        engine.count_event(e);
    }
    if let Some(newest) = events.iter().map(|e| e.timestamp).max() {
        super::snapshot::refresh_popular(engine, newest)?;
    }
    Ok(events.len())
}

impl Engine {
    /// The ingest side of `ingest_gate`. It guards no data, so a panic
    /// elsewhere while it was held leaves nothing to distrust: a poisoned
    /// gate is used as is rather than failing every later event.
    fn ingest_gate(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.ingest_gate
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Checks `event` as ingesting it would (trending; with consent the
/// session store and, for a purchase, attribution's user id), changing
/// nothing.
fn check(engine: &Engine, snap: &Snapshot, event: &Event, consent: Consent) -> Result<()> {
    engine.trending.read().map_err(poisoned)?.check(event)?;
    if consent.may_store() {
        snap.session.check(event)?;
        if event.kind == EventKind::Purchase {
            check_id("user", &event.user)?;
        }
    }
    Ok(())
}

/// A consenting visitor's purchase: their purchase history and its
/// conversion attribution (revenue = the catalog price).
fn record_purchase(engine: &Engine, snap: &Snapshot, event: &Event) -> Result<()> {
    if event.kind != EventKind::Purchase {
        return Ok(());
    }
    let Some(item) = snap.universe.get(&event.item) else {
        return Ok(());
    };
    engine
        .purchases
        .record(&event.user, item, event.timestamp)?;
    let revenue = snap
        .models
        .catalog
        .item(item)
        .and_then(|i| i.price)
        .unwrap_or(0.0);
    engine
        .tracker
        .conversion(&event.user, item, revenue, event.timestamp)?;
    Ok(())
}
