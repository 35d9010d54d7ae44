//! Persistence: the engine's models, catalog and live stores (trending,
//! sessions) as one model file, and back.

use super::{poisoned, Engine};
use crate::error::{Error, Result};
use crate::store::{Component, ModelFile, TensorData};

#[cfg(not(target_arch = "wasm32"))]
pub(super) use load::{from_model_file, reload_models};

/// The tensor holding the catalog as JSON bytes.
const CATALOG: &str = "engine.catalog";

/// The model file of what `engine` serves now.
pub(super) fn to_model_file(engine: &Engine) -> Result<ModelFile> {
    let snap = engine.snapshot.load();
    let mut f = ModelFile::new();
    let catalog = serde_json::to_vec(snap.models.catalog.items())
        .map_err(|e| Error::format(e.to_string()))?;
    f.put(CATALOG, vec![catalog.len()], TensorData::U8(catalog))?;
    if let Some(m) = &snap.models.als {
        m.write_to(&mut f)?;
    }
    if let Some(m) = &snap.models.cooccur {
        m.write_to(&mut f)?;
    }
    if let Some(m) = &snap.models.content {
        m.write_to(&mut f)?;
    }
    engine.trending.read().map_err(poisoned)?.write_to(&mut f)?;
    snap.session.write_to(&mut f)?;
    Ok(f)
}

/// Loading builds an engine, which needs the system clock: not on wasm.
#[cfg(not(target_arch = "wasm32"))]
mod load {
    use std::sync::Arc;

    use super::CATALOG;
    use crate::als::AlsModel;
    use crate::content::ContentIndex;
    use crate::cooccur::CooccurModel;
    use crate::data::{Catalog, Item};
    use crate::engine::snapshot::Snapshot;
    use crate::engine::{poisoned, Engine, EngineConfig, Models};
    use crate::error::{Error, Result};
    use crate::session::SessionStore;
    use crate::store::{Component, ModelFile, TensorData};
    use crate::trending::TrendingStore;

    /// The catalog stored in `f`.
    fn read_catalog(f: &ModelFile) -> Result<Catalog> {
        let bytes = match &f.tensor(CATALOG)?.data {
            TensorData::U8(b) => b,
            _ => return Err(Error::format(format!("{CATALOG} must be bytes"))),
        };
        let items: Vec<Item> =
            serde_json::from_slice(bytes).map_err(|e| Error::format(format!("{CATALOG}: {e}")))?;
        let mut catalog = Catalog::new();
        for item in items {
            catalog
                .add(item)
                .map_err(|e| Error::format(format!("{CATALOG}: {e}")))?;
        }
        Ok(catalog)
    }

    /// The component `name` of `f`, when stored.
    fn component<T: Component>(f: &ModelFile, name: &str) -> Result<Option<Arc<T>>> {
        f.meta(name)
            .map(|_| T::read_from(f))
            .transpose()
            .map(|m| m.map(Arc::new))
    }

    /// The models (catalog, ALS, co-occurrence, content) stored in `f`.
    fn read_models(f: &ModelFile) -> Result<Models> {
        Ok(Models {
            catalog: Arc::new(read_catalog(f)?),
            als: component::<AlsModel>(f, "als")?,
            cooccur: component::<CooccurModel>(f, "cooccur")?,
            content: component::<ContentIndex>(f, "content")?,
        })
    }

    /// An engine serving what `f` holds, with `config`; live trending and
    /// sessions continue where they were.
    pub(in crate::engine) fn from_model_file(
        f: &ModelFile,
        config: EngineConfig,
    ) -> Result<Engine> {
        let engine = Engine::new(config, read_models(f)?)?;
        if f.meta("trending").is_some() {
            *engine.trending.write().map_err(poisoned)? = TrendingStore::read_from(f)?;
        }
        if f.meta("session").is_some() {
            let stored = SessionStore::read_from(f)?;
            let snap = engine.snapshot.load_full();
            let session = Arc::new(stored.with_universe(snap.universe.clone())?);
            let next = Snapshot::build(
                &engine.config,
                snap.models.clone(),
                &engine.trending,
                session,
                // Still the engine's construction: its first generation.
                snap.generation,
            )?;
            engine.snapshot.store(Arc::new(next));
        }
        Ok(engine)
    }

    /// Serves the models of `f` in `engine`; its live stores stay (the
    /// file's trending and sessions are ignored).
    pub(in crate::engine) fn reload_models(engine: &Engine, f: &ModelFile) -> Result<()> {
        engine.swap_models(read_models(f)?)
    }
}
