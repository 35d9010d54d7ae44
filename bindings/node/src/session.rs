//! Live session memory (recent events per visitor, decayed context,
//! merge on login, GDPR erasure): `SessionStore`, the twin of the Python
//! binding's `session.rs`. Conversion only.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, Unknown};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;
use sightline::data::Event;
use sightline::ids::IdMap;
use sightline::session::{RecentEvent, SessionConfig, SessionStore as CoreStore};
use sightline::{Component, Result};

use crate::convert::{input, json, out, records, settings, to_timestamp};
use crate::task::{load_async, save_async, CoreTask};
use crate::{named, or_throw, to_scored, JsNumber, JsString, ScoredItem};

/// One held event of a visitor.
#[napi(object)]
pub struct SessionEvent {
    /// The item id.
    pub item_id: String,
    /// `view`, `click`, `add_to_cart`, `purchase` or a custom kind.
    pub kind: String,
    /// Unix seconds.
    pub timestamp: f64,
}

/// Session settings (the core's `SessionConfig` in camelCase), checked by
/// the core.
fn session_config(params: Option<&Unknown<'_>>) -> Result<SessionConfig> {
    let config: SessionConfig = settings(params, "params")?;
    config.validate()?;
    Ok(config)
}

/// The recent events of every visitor (customer or anonymous visitor id)
/// over a fixed item universe, bounded and expiring: what session-based
/// recommendations start from. Thread-safe; every method is quick.
///
/// `new SessionStore(itemIds, params?)`: `params` is the core's
/// `SessionConfig` in camelCase; a bad one throws `CONFIG` naming it.
/// Events on items outside the universe are counted and ignored.
#[napi]
pub struct SessionStore {
    inner: Arc<CoreStore>,
}

impl SessionStore {
    fn wrap(store: CoreStore) -> SessionStore {
        SessionStore {
            inner: Arc::new(store),
        }
    }

    fn named(&self, events: Vec<RecentEvent>) -> Vec<SessionEvent> {
        let u = self.inner.universe();
        events
            .into_iter()
            .map(|e| SessionEvent {
                item_id: u.id(e.item).unwrap_or_default().to_owned(),
                kind: e.kind.as_str().to_owned(),
                timestamp: e.timestamp as f64,
            })
            .collect()
    }
}

#[napi]
impl SessionStore {
    /// An empty store over the items `itemIds` (e.g. the catalog's ids).
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "itemIds: string[], params?: SessionParams"
    )]
    pub fn new(
        env: Env,
        item_ids: Vec<String>,
        params: Option<Unknown<'_>>,
    ) -> napi::Result<SessionStore> {
        let store = session_config(params.as_ref())
            .and_then(|config| CoreStore::new(config, Arc::new(IdMap::from_ids(item_ids)?)));
        or_throw(&env, store.map(SessionStore::wrap))
    }

    /// The settings, defaults filled in.
    #[napi(getter, catch_unwind, ts_return_type = "SessionParams")]
    pub fn params(&self, env: Env) -> napi::Result<Value> {
        or_throw(&env, out(self.inner.config()))
    }

    /// The item universe.
    #[napi(getter)]
    pub fn item_ids(&self) -> Vec<String> {
        self.inner.universe().ids().to_vec()
    }

    /// Number of visitors held.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }

    /// Records one event (as `Engine.ingest` takes it); `false` when its
    /// item is outside the universe.
    #[napi(catch_unwind, ts_args_type = "event: EngineEvent")]
    pub fn ingest(&self, env: Env, event: Unknown<'_>) -> napi::Result<bool> {
        let done = input::<Event>(&event, "event").and_then(|e| self.inner.ingest(&e));
        or_throw(&env, done)
    }

    /// Records many events, all or nothing (a bad event throws naming its
    /// position); returns how many were recorded.
    #[napi(catch_unwind, ts_args_type = "events: EngineEvent[]")]
    pub fn ingest_batch(&self, env: Env, events: Unknown<'_>) -> napi::Result<u32> {
        let done = json(&events, "events")
            .and_then(|v| records::<Event>(v, "event"))
            .and_then(|events| self.inner.ingest_batch(&events));
        or_throw(&env, done.map(|n| n as u32))
    }

    /// The visitor's events at `now` (Unix seconds), newest first; `[]`
    /// for an unknown visitor or one idle past the session lifetime.
    #[napi(catch_unwind)]
    pub fn recent(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] key: JsString,
        #[napi(ts_arg_type = "number")] now: JsNumber,
    ) -> napi::Result<Vec<SessionEvent>> {
        let key = key.0;
        let now = or_throw(&env, to_timestamp(now.0))?;
        Ok(self.named(self.inner.recent(&key, now)))
    }

    /// The visitor's decayed, kind-weighted context items at `now`, as
    /// `[{ itemId, score }]` (the weight as score), what session
    /// recommendations query with.
    #[napi(catch_unwind)]
    pub fn context(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] key: JsString,
        #[napi(ts_arg_type = "number")] now: JsNumber,
    ) -> napi::Result<Vec<ScoredItem>> {
        let key = key.0;
        let now = or_throw(&env, to_timestamp(now.0))?;
        let ctx = self.inner.context(&key, now);
        Ok(to_scored(named(self.inner.universe(), ctx)))
    }

    /// Moves an anonymous visitor's events into `user`'s history (on
    /// login) and removes the anonymous visitor; returns how many
    /// anonymous events the user now holds.
    #[napi(catch_unwind)]
    pub fn merge(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] anonymous: JsString,
        #[napi(ts_arg_type = "string")] user: JsString,
        #[napi(ts_arg_type = "number")] now: JsNumber,
    ) -> napi::Result<u32> {
        let anonymous = anonymous.0;
        let user = user.0;
        let now = now.0;
        let moved = to_timestamp(now).and_then(|now| self.inner.merge(&anonymous, &user, now));
        or_throw(&env, moved.map(|n| n as u32))
    }

    /// Erases a visitor (GDPR); `true` when there was something to erase.
    #[napi(catch_unwind)]
    pub fn forget(&self, #[napi(ts_arg_type = "string")] key: JsString) -> bool {
        let key = key.0;
        self.inner.forget(&key)
    }

    /// Every event held about a visitor, expired or not (GDPR access).
    #[napi(catch_unwind)]
    pub fn export(&self, #[napi(ts_arg_type = "string")] key: JsString) -> Vec<SessionEvent> {
        let key = key.0;
        self.named(self.inner.export(&key))
    }

    /// Expires every visitor idle at `now` (reads expire lazily; call this
    /// periodically to free memory); returns how many were expired.
    #[napi(catch_unwind)]
    pub fn expire(
        &self,
        env: Env,
        #[napi(ts_arg_type = "number")] now: JsNumber,
    ) -> napi::Result<u32> {
        let now = or_throw(&env, to_timestamp(now.0))?;
        Ok(self.inner.expire(now) as u32)
    }

    /// Counters: `{ keys, events, evictions, expirations, unknownItems }`.
    #[napi(catch_unwind, ts_return_type = "SessionStats")]
    pub fn stats(&self, env: Env) -> napi::Result<Value> {
        or_throw(&env, out(self.inner.stats()))
    }

    /// Writes the store's file (blocks the event loop; see `saveAsync`).
    #[napi(catch_unwind)]
    pub fn save(
        &self,
        env: Env,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> napi::Result<()> {
        let path = path.0;
        or_throw(&env, self.inner.save(&path))
    }

    /// `save` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save_async(
        &self,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> AsyncTask<CoreTask<()>> {
        let path = path.0;
        save_async(Arc::clone(&self.inner), path)
    }

    /// The bytes `save` writes.
    #[napi(catch_unwind)]
    pub fn to_buffer(&self, env: Env) -> napi::Result<Buffer> {
        or_throw(&env, self.inner.to_bytes().map(Buffer::from))
    }

    /// Loads a store's file; throws `IO` or `MODEL_FORMAT`.
    #[napi(factory, catch_unwind)]
    pub fn load(
        env: Env,
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> napi::Result<SessionStore> {
        let path = path.0;
        or_throw(&env, CoreStore::load(&path).map(SessionStore::wrap))
    }

    /// `load` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<SessionStore>")]
    pub fn load_async(
        #[napi(ts_arg_type = "string")] path: JsString,
    ) -> AsyncTask<CoreTask<SessionStore>> {
        let path = path.0;
        load_async(path, SessionStore::wrap)
    }

    /// A store from the bytes of `toBuffer`; throws `MODEL_FORMAT`.
    #[napi(factory, catch_unwind)]
    pub fn from_buffer(env: Env, bytes: &[u8]) -> napi::Result<SessionStore> {
        or_throw(&env, CoreStore::from_bytes(bytes).map(SessionStore::wrap))
    }
}
