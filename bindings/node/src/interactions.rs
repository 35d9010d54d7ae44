//! Event arrays into a users×items matrix (`Interactions`), by the core's
//! `InteractionsBuilder`: the same kind weights, summing and id order as
//! every other runtime (the Node twin of the Python binding's
//! `interactions.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::{
    ClassInstance, Either, Float32Array, Float64Array, Uint32Array, Unknown,
};
use napi::Env;
use napi_derive::napi;
use sightline::data::{
    Csr, EventColumns, EventRow, Interactions as CoreInteractions, InteractionsBuilder, KindWeights,
};
use sightline::ids::IdMap;
use sightline::{Error, Result};

use crate::convert::{input, json, records};
use crate::or_throw;

/// How events become matrix entries.
#[napi(object)]
#[derive(Default)]
pub struct InteractionsOptions {
    /// Weight per event kind, replacing the defaults (`view` 1, `click` 2,
    /// `add_to_cart` 4, `purchase` 8); other kinds need one here.
    pub kind_weights: Option<HashMap<String, f64>>,
    /// Fixes the items (columns) and their order, e.g. the catalog's ids;
    /// an event on another item throws `UNKNOWN_ID`.
    pub items: Option<Vec<String>>,
}

/// A users×items matrix in compressed sparse row form (scipy's
/// `csr_matrix` layout): row `u`'s entries are `indices[indptr[u] ..
/// indptr[u + 1]]` with values `data[…]`.
#[napi(object)]
pub struct CsrMatrix {
    /// `nUsers + 1` row offsets, starting at 0 and ending at `nnz`.
    pub indptr: Uint32Array,
    /// Column (item) index of every entry.
    pub indices: Uint32Array,
    /// Value of every entry.
    pub data: Float32Array,
    /// `[nUsers, nItems]`.
    pub shape: Vec<u32>,
    /// Row ids (default `"0"`, `"1"`, …).
    pub user_ids: Option<Vec<String>>,
    /// Column ids (default `"0"`, `"1"`, …).
    pub item_ids: Option<Vec<String>>,
}

/// A users×items matrix of summed event weights with the ids of its rows
/// and columns: what `Als.fit`, `CoOccurrence.fit`, the splits and
/// `rankingMetricsAtK` take.
///
/// Built with the core's rules, so every runtime builds the same matrix
/// from the same events: each event adds `kind weight × weight`, repeated
/// (user, item) pairs add up, users are numbered in order of first
/// appearance, items too unless `items` fixes them.
#[napi]
pub struct Interactions {
    pub(crate) inner: Arc<CoreInteractions>,
}

impl Interactions {
    pub(crate) fn wrap(inner: CoreInteractions) -> Interactions {
        Interactions {
            inner: Arc::new(inner),
        }
    }
}

/// Builds the matrix from event columns with `options`; nothing is built
/// when an event is invalid (its position is named).
fn build(columns: &EventColumns, options: InteractionsOptions) -> Result<CoreInteractions> {
    let weights: std::collections::BTreeMap<String, f32> = options
        .kind_weights
        .unwrap_or_default()
        .into_iter()
        // Narrowed as the core stores them; a NaN stays NaN for its check.
        .map(|(k, w)| (k, w as f32))
        .collect();
    let mut builder = InteractionsBuilder::new().weights(KindWeights::from_flat(&weights))?;
    if let Some(items) = options.items {
        builder = builder.items(IdMap::from_ids(items)?);
    }
    builder.add_columns(columns)?;
    builder.build()
}

/// A core matrix from [`CsrMatrix`] arrays, validated by the core.
pub(crate) fn from_csr(csr: &CsrMatrix) -> Result<CoreInteractions> {
    let &[n_rows, n_cols] = csr.shape.as_slice() else {
        return Err(Error::ShapeMismatch(format!(
            "shape must be [nUsers, nItems], got {} numbers",
            csr.shape.len()
        )));
    };
    let indptr = csr.indptr.iter().map(|&p| p as usize).collect();
    let matrix = Csr::from_parts(
        n_rows as usize,
        n_cols as usize,
        indptr,
        csr.indices.to_vec(),
        csr.data.to_vec(),
    )?;
    let users = csr.user_ids.clone().map(IdMap::from_ids).transpose()?;
    let items = csr.item_ids.clone().map(IdMap::from_ids).transpose()?;
    CoreInteractions::from_csr(matrix, users, items)
}

/// The training data a model method takes: an `Interactions` (shared, not
/// copied) or CSR arrays.
pub(crate) type DataArg<'a> = Either<ClassInstance<'a, Interactions>, CsrMatrix>;

/// The core matrix of a [`DataArg`].
pub(crate) fn data_of(data: &DataArg<'_>) -> Result<Arc<CoreInteractions>> {
    match data {
        Either::A(interactions) => Ok(Arc::clone(&interactions.inner)),
        Either::B(csr) => from_csr(csr).map(Arc::new),
    }
}

fn count(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::ShapeMismatch(format!("{n} does not fit a Uint32Array")))
}

#[napi]
impl Interactions {
    /// Builds the matrix from event objects `{ user, item, kind?, weight?
    /// (or quantity), timestamp?, region?, channel?, session? }` (the
    /// events of `demoData` as they are). `kind`, `weight` and `timestamp`
    /// are given on every event or on none; without kinds every event
    /// weighs 1. Throws `INVALID_INPUT` naming the event for a missing id,
    /// a negative or NaN weight, a kind without a weight or an unknown
    /// field; `UNKNOWN_ID` for an item outside `options.items`.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "events: EventRecord[], options?: InteractionsOptions"
    )]
    pub fn from_events(
        env: Env,
        events: Unknown<'_>,
        options: Option<InteractionsOptions>,
    ) -> napi::Result<Interactions> {
        let built = json(&events, "events")
            .and_then(|v| records::<EventRow>(v, "event"))
            .and_then(EventColumns::from_rows)
            .and_then(|columns| build(&columns, options.unwrap_or_default()));
        or_throw(&env, built.map(Interactions::wrap))
    }

    /// Builds the matrix from parallel event columns `{ users, items,
    /// kinds?, weights?, timestamps? }` (one entry per event in each), with
    /// the rules of `fromEvents`; a column of another length throws
    /// `SHAPE_MISMATCH`.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "columns: EventColumns, options?: InteractionsOptions"
    )]
    pub fn from_columns(
        env: Env,
        columns: Unknown<'_>,
        options: Option<InteractionsOptions>,
    ) -> napi::Result<Interactions> {
        let built = input::<EventColumns>(&columns, "columns")
            .and_then(|columns| build(&columns, options.unwrap_or_default()));
        or_throw(&env, built.map(Interactions::wrap))
    }

    /// Wraps CSR arrays (as `toCsr` returns them); unsorted columns are
    /// sorted and duplicates summed. Throws `SHAPE_MISMATCH` or
    /// `INVALID_INPUT` for arrays that do not describe a matrix.
    #[napi(factory, catch_unwind)]
    pub fn from_csr(env: Env, csr: CsrMatrix) -> napi::Result<Interactions> {
        or_throw(&env, from_csr(&csr).map(Interactions::wrap))
    }

    /// Number of users (rows).
    #[napi(getter)]
    pub fn n_users(&self) -> u32 {
        self.inner.n_users() as u32
    }

    /// Number of items (columns).
    #[napi(getter)]
    pub fn n_items(&self) -> u32 {
        self.inner.n_items() as u32
    }

    /// Number of stored (user, item) entries.
    #[napi(getter)]
    pub fn nnz(&self) -> f64 {
        self.inner.matrix().nnz() as f64
    }

    /// The user id of every row.
    #[napi(getter)]
    pub fn user_ids(&self) -> Vec<String> {
        self.inner.users().ids().to_vec()
    }

    /// The item id of every column.
    #[napi(getter)]
    pub fn item_ids(&self) -> Vec<String> {
        self.inner.items().ids().to_vec()
    }

    /// The latest event time (Unix seconds) of every stored entry, in CSR
    /// order, or `null` when the events had no timestamps (what
    /// `leaveLastKOutSplit` needs).
    #[napi(getter)]
    pub fn last_seen(&self) -> Option<Float64Array> {
        self.inner
            .last_seen()
            .map(|t| t.iter().map(|&t| t as f64).collect::<Vec<f64>>().into())
    }

    /// The matrix as CSR arrays with its ids (`fromCsr` and `Als.fit` take
    /// it back). Throws `SHAPE_MISMATCH` beyond 2³² entries.
    #[napi(catch_unwind)]
    pub fn to_csr(&self, env: Env) -> napi::Result<CsrMatrix> {
        let m = self.inner.matrix();
        let arrays = || -> Result<CsrMatrix> {
            let indptr = m
                .indptr()
                .iter()
                .map(|&p| count(p))
                .collect::<Result<Vec<u32>>>()?;
            Ok(CsrMatrix {
                indptr: indptr.into(),
                indices: m.indices().to_vec().into(),
                data: m.data().to_vec().into(),
                shape: vec![count(m.n_rows())?, count(m.n_cols())?],
                user_ids: Some(self.user_ids()),
                item_ids: Some(self.item_ids()),
            })
        };
        or_throw(&env, arrays())
    }
}
