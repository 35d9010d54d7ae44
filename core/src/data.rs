//! Events, event kinds and their weights, the product catalog, and the
//! user×item interaction matrix (CSR) that models train on.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IdKind, Result};
use crate::ids::IdMap;
use crate::parallel;

/// What a customer did with a product.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Looked at a product page.
    View,
    /// Clicked a product (e.g. in a list or a recommendation).
    Click,
    /// Put the product in the basket.
    AddToCart,
    /// Bought the product.
    Purchase,
    /// Any other signal, weighted through [`KindWeights::custom`].
    Custom(String),
}

impl EventKind {
    /// Parses `view`, `click`, `add_to_cart`, `purchase`; anything else is
    /// a custom kind.
    pub fn parse(s: &str) -> Self {
        match s {
            "view" => EventKind::View,
            "click" => EventKind::Click,
            "add_to_cart" => EventKind::AddToCart,
            "purchase" => EventKind::Purchase,
            other => EventKind::Custom(other.to_owned()),
        }
    }

    /// The snake_case name (custom kinds give their own name).
    pub fn as_str(&self) -> &str {
        match self {
            EventKind::View => "view",
            EventKind::Click => "click",
            EventKind::AddToCart => "add_to_cart",
            EventKind::Purchase => "purchase",
            EventKind::Custom(s) => s,
        }
    }
}

/// The sales channel an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The web shop.
    Web,
    /// The mobile app.
    App,
    /// In-store tablets and tills.
    Store,
    /// E-mail campaigns.
    Email,
}

impl Channel {
    /// All channels in declaration order.
    pub const ALL: [Channel; 4] = [Channel::Web, Channel::App, Channel::Store, Channel::Email];

    /// The snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::App => "app",
            Channel::Store => "store",
            Channel::Email => "email",
        }
    }

    /// Parses a snake_case channel name.
    pub fn parse(s: &str) -> Result<Self> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown channel {s:?} (expected web, app, store or email)"
                ))
            })
    }
}

/// One interaction of a user (customer or anonymous visitor) with an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Customer id, or an anonymous visitor id.
    pub user: String,
    /// Product id.
    pub item: String,
    /// What happened.
    pub kind: EventKind,
    /// Unix time in seconds.
    pub timestamp: i64,
    /// Region code, e.g. `uk-north-west`, `nl`, `au`.
    #[serde(default)]
    pub region: Option<String>,
    /// Sales channel.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Browsing-session id.
    #[serde(default)]
    pub session: Option<String>,
}

impl Event {
    /// An event without region, channel or session (add them with the
    /// consuming setters below).
    pub fn new(
        user: impl Into<String>,
        item: impl Into<String>,
        kind: EventKind,
        timestamp: i64,
    ) -> Self {
        Event {
            user: user.into(),
            item: item.into(),
            kind,
            timestamp,
            region: None,
            channel: None,
            session: None,
        }
    }

    /// With a region code.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// With a sales channel.
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channel = Some(channel);
        self
    }

    /// With a browsing-session id.
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }
}

/// Weight of each event kind in the interaction matrix. A user's weight for
/// an item is the sum over their events.
///
/// Defaults: view 1, click 2, add_to_cart 4, purchase 8 — each step down the
/// funnel roughly doubles the evidence of interest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KindWeights {
    /// Weight of a product view.
    pub view: f32,
    /// Weight of a click.
    pub click: f32,
    /// Weight of an add-to-cart.
    pub add_to_cart: f32,
    /// Weight of a purchase.
    pub purchase: f32,
    /// Weights of custom kinds by name; an unlisted custom kind is an error.
    pub custom: BTreeMap<String, f32>,
}

impl Default for KindWeights {
    fn default() -> Self {
        KindWeights {
            view: 1.0,
            click: 2.0,
            add_to_cart: 4.0,
            purchase: 8.0,
            custom: BTreeMap::new(),
        }
    }
}

impl KindWeights {
    /// Sets the weight of a custom kind (consuming builder).
    pub fn with_custom(mut self, name: impl Into<String>, weight: f32) -> Self {
        self.custom.insert(name.into(), weight);
        self
    }

    /// Weights from one flat map of kind name → weight, the form bindings
    /// take (`{"view": 1, "wish": 3}`): the four built-in kinds by name,
    /// any other name a custom kind; unnamed built-ins keep their defaults.
    pub fn from_flat(map: &BTreeMap<String, f32>) -> Self {
        map.iter()
            .fold(KindWeights::default(), |mut w, (kind, &v)| {
                match kind.as_str() {
                    "view" => w.view = v,
                    "click" => w.click = v,
                    "add_to_cart" => w.add_to_cart = v,
                    "purchase" => w.purchase = v,
                    _ => w = w.with_custom(kind.clone(), v),
                }
                w
            })
    }

    /// The weights as one flat map ([`from_flat`](Self::from_flat)'s form).
    pub fn to_flat(&self) -> BTreeMap<String, f32> {
        let fixed = [
            ("view", self.view),
            ("click", self.click),
            ("add_to_cart", self.add_to_cart),
            ("purchase", self.purchase),
        ];
        fixed
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .chain(self.custom.iter().map(|(k, &v)| (k.clone(), v)))
            .collect()
    }

    /// Checks every weight is finite and non-negative.
    pub fn validate(&self) -> Result<()> {
        let fixed = [
            ("view", self.view),
            ("click", self.click),
            ("add_to_cart", self.add_to_cart),
            ("purchase", self.purchase),
        ];
        for (name, w) in fixed
            .into_iter()
            .chain(self.custom.iter().map(|(k, v)| (k.as_str(), *v)))
        {
            if !w.is_finite() || w < 0.0 {
                return Err(Error::config(
                    format!("weights.{name}"),
                    format!("must be finite and >= 0, got {w}"),
                ));
            }
        }
        Ok(())
    }

    /// The weight of `kind`.
    pub fn weight(&self, kind: &EventKind) -> Result<f32> {
        match kind {
            EventKind::View => Ok(self.view),
            EventKind::Click => Ok(self.click),
            EventKind::AddToCart => Ok(self.add_to_cart),
            EventKind::Purchase => Ok(self.purchase),
            EventKind::Custom(name) => self.custom.get(name).copied().ok_or_else(|| {
                Error::invalid(format!(
                    "no weight configured for custom event kind {name:?}"
                ))
            }),
        }
    }
}

/// A compressed-sparse-row matrix of non-negative `f32` weights with sorted,
/// unique column indices in every row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Csr {
    n_rows: usize,
    n_cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f32>,
}

fn check_weight(w: f32) -> Result<()> {
    if !w.is_finite() {
        return Err(Error::invalid(format!("weight must be finite, got {w}")));
    }
    if w < 0.0 {
        return Err(Error::invalid(format!("weight must be >= 0, got {w}")));
    }
    Ok(())
}

impl Csr {
    /// This matrix with row `r` emptied (e.g. a forgotten user's history).
    pub fn without_row(&self, r: usize) -> Csr {
        if r >= self.n_rows {
            return self.clone();
        }
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        let removed = b - a;
        let mut indices = self.indices[..a].to_vec();
        indices.extend_from_slice(&self.indices[b..]);
        let mut data = self.data[..a].to_vec();
        data.extend_from_slice(&self.data[b..]);
        let indptr = self
            .indptr
            .iter()
            .enumerate()
            .map(|(i, &p)| if i > r { p - removed } else { p })
            .collect();
        Csr {
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            indptr,
            indices,
            data,
        }
    }

    /// This matrix grown to `n_rows` rows (new rows empty) with row
    /// `targets[p]` replaced by row `p` of `rows` (e.g. users refit on new
    /// histories). `targets` must be distinct and below `n_rows`, and `rows`
    /// must have one row per target and this matrix's columns.
    pub fn with_rows(&self, n_rows: usize, targets: &[u32], rows: CsrRef<'_>) -> Result<Csr> {
        if n_rows < self.n_rows || rows.n_rows() != targets.len() || rows.n_cols() != self.n_cols {
            return Err(Error::shape(format!(
                "cannot put {} x {} rows at {} targets into a {} x {} matrix grown to {n_rows} rows",
                rows.n_rows(),
                rows.n_cols(),
                targets.len(),
                self.n_rows,
                self.n_cols
            )));
        }
        // source[r] = which replacement row goes to row r (u32::MAX: keep).
        let mut source = vec![u32::MAX; n_rows];
        for (p, &t) in targets.iter().enumerate() {
            match source.get_mut(t as usize) {
                Some(slot) if *slot == u32::MAX => *slot = p as u32,
                _ => {
                    return Err(Error::invalid(format!(
                        "target row {t} repeated or out of range for {n_rows} rows"
                    )))
                }
            }
        }
        let mut out = Csr {
            n_rows,
            n_cols: self.n_cols,
            indptr: Vec::with_capacity(n_rows + 1),
            indices: Vec::new(),
            data: Vec::new(),
        };
        out.indptr.push(0);
        for (r, &p) in source.iter().enumerate() {
            let (cols, vals) = if p == u32::MAX {
                self.row(r)
            } else {
                rows.row(p as usize)
            };
            out.indices.extend_from_slice(cols);
            out.data.extend_from_slice(vals);
            out.indptr.push(out.indices.len());
        }
        Ok(out)
    }

    /// Builds from raw CSR arrays (as scipy's `csr_matrix`), validating
    /// everything; unsorted columns are sorted and duplicates summed.
    pub fn from_parts(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f32>,
    ) -> Result<Self> {
        if check_parts(n_rows, n_cols, &indptr, &indices, &data)? {
            return Ok(Csr {
                n_rows,
                n_cols,
                indptr,
                indices,
                data,
            });
        }
        let mut rows = Vec::with_capacity(indices.len());
        for r in 0..n_rows {
            rows.extend(std::iter::repeat_n(r as u32, indptr[r + 1] - indptr[r]));
        }
        Csr::from_triplets(n_rows, n_cols, &rows, &indices, &data)
    }

    /// Builds from COO triplets, summing duplicates.
    pub fn from_triplets(
        n_rows: usize,
        n_cols: usize,
        rows: &[u32],
        cols: &[u32],
        vals: &[f32],
    ) -> Result<Self> {
        if rows.len() != cols.len() || rows.len() != vals.len() {
            return Err(Error::shape(format!(
                "rows ({}), cols ({}) and values ({}) must have equal length",
                rows.len(),
                cols.len(),
                vals.len()
            )));
        }
        for ((&r, &c), &v) in rows.iter().zip(cols).zip(vals) {
            if r as usize >= n_rows || c as usize >= n_cols {
                return Err(Error::invalid(format!(
                    "entry ({r}, {c}) out of range for a {n_rows}x{n_cols} matrix"
                )));
            }
            check_weight(v)?;
        }
        // Counting sort by row, then sort each row by column and merge duplicates.
        let mut indptr = vec![0usize; n_rows + 1];
        for &r in rows {
            indptr[r as usize + 1] += 1;
        }
        for i in 0..n_rows {
            indptr[i + 1] += indptr[i];
        }
        let mut next = indptr.clone();
        let mut entries = vec![(0u32, 0f32); rows.len()];
        for ((&r, &c), &v) in rows.iter().zip(cols).zip(vals) {
            let slot = &mut next[r as usize];
            entries[*slot] = (c, v);
            *slot += 1;
        }
        let mut out_ptr = Vec::with_capacity(n_rows + 1);
        let mut indices = Vec::with_capacity(entries.len());
        let mut data = Vec::with_capacity(entries.len());
        out_ptr.push(0);
        for r in 0..n_rows {
            let row = &mut entries[indptr[r]..indptr[r + 1]];
            row.sort_unstable_by_key(|e| e.0);
            for &(c, v) in row.iter() {
                if indices.len() > *out_ptr.last().unwrap() && *indices.last().unwrap() == c {
                    *data.last_mut().unwrap() += v;
                } else {
                    indices.push(c);
                    data.push(v);
                }
            }
            out_ptr.push(indices.len());
        }
        Ok(Csr {
            n_rows,
            n_cols,
            indptr: out_ptr,
            indices,
            data,
        })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Row offsets (`n_rows + 1` entries).
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column index of every entry.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Weight of every entry.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Column indices and weights of row `r` (empty when out of range).
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        self.view().row(r)
    }

    /// The transpose (item×user when `self` is user×item).
    pub fn transpose(&self) -> Csr {
        self.view().transpose()
    }

    /// The matrix without explicitly stored zeros (which mean "no
    /// preference", not "a weak one"); borrows when there are none.
    pub fn without_zeros(&self) -> std::borrow::Cow<'_, Csr> {
        match self.view().without_zeros() {
            Some(m) => std::borrow::Cow::Owned(m),
            None => std::borrow::Cow::Borrowed(self),
        }
    }

    /// A borrowed view of this matrix.
    pub fn view(&self) -> CsrRef<'_> {
        CsrRef {
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            indptr: &self.indptr,
            indices: &self.indices,
            data: &self.data,
        }
    }

    /// Same matrix with `n_rows`/`n_cols` grown to at least the given sizes
    /// (new rows are empty).
    pub fn resized(mut self, n_rows: usize, n_cols: usize) -> Result<Csr> {
        if n_rows < self.n_rows || n_cols < self.n_cols {
            return Err(Error::shape("a CSR matrix can only grow"));
        }
        let nnz = self.nnz();
        self.indptr.resize(n_rows + 1, nnz);
        self.n_rows = n_rows;
        self.n_cols = n_cols;
        Ok(self)
    }
}

/// Row blocks of [`CsrRef::transpose`]: enough to keep every worker busy
/// on a few cores, few enough that their column counts stay small.
const TRANSPOSE_BLOCKS: usize = 8;

/// Below this many entries a block is not worth a task of its own.
const MIN_BLOCK_ENTRIES: usize = 1 << 16;

/// The output buffers of a parallel transpose, written through raw
/// pointers because blocks write interleaved (but disjoint) slots.
#[derive(Clone, Copy)]
struct Scatter {
    indices: *mut u32,
    data: *mut f32,
}

// SAFETY: tasks only write disjoint slots (see `CsrRef::transpose`).
unsafe impl Send for Scatter {}
// SAFETY: as above.
unsafe impl Sync for Scatter {}

impl Scatter {
    /// # Safety
    /// `slot` is inside both buffers and no other thread touches it.
    unsafe fn write(&self, slot: usize, index: u32, value: f32) {
        self.indices.add(slot).write(index);
        self.data.add(slot).write(value);
    }
}

/// Validates raw CSR arrays; `Ok(true)` when every row's columns are
/// already sorted and unique (canonical), `Ok(false)` when they need sorting.
fn check_parts(
    n_rows: usize,
    n_cols: usize,
    indptr: &[usize],
    indices: &[u32],
    data: &[f32],
) -> Result<bool> {
    if indptr.len() != n_rows + 1 {
        return Err(Error::shape(format!(
            "indptr has length {}, expected n_rows + 1 = {}",
            indptr.len(),
            n_rows + 1
        )));
    }
    if indices.len() != data.len() {
        return Err(Error::shape(format!(
            "indices ({}) and data ({}) differ in length",
            indices.len(),
            data.len()
        )));
    }
    if indptr[0] != 0 || indptr[n_rows] != indices.len() || indptr.windows(2).any(|w| w[0] > w[1]) {
        return Err(Error::invalid(
            "indptr must start at 0, be non-decreasing and end at nnz",
        ));
    }
    if let Some(&c) = indices.iter().find(|&&c| c as usize >= n_cols) {
        return Err(Error::invalid(format!(
            "column index {c} out of range for {n_cols} columns"
        )));
    }
    data.iter().try_for_each(|&w| check_weight(w))?;
    Ok((0..n_rows).all(|r| {
        indices[indptr[r]..indptr[r + 1]]
            .windows(2)
            .all(|w| w[0] < w[1])
    }))
}

/// A borrowed CSR matrix with the invariants of [`Csr`] over someone else's
/// buffers (e.g. numpy arrays), so a model can train without copying them.
#[derive(Debug, Clone, Copy)]
pub struct CsrRef<'a> {
    n_rows: usize,
    n_cols: usize,
    indptr: &'a [usize],
    indices: &'a [u32],
    data: &'a [f32],
}

impl<'a> CsrRef<'a> {
    /// Validates like [`Csr::from_parts`]; rows must already have sorted,
    /// unique columns (scipy: `has_canonical_format`), since a view cannot
    /// re-sort.
    pub fn new(
        n_rows: usize,
        n_cols: usize,
        indptr: &'a [usize],
        indices: &'a [u32],
        data: &'a [f32],
    ) -> Result<Self> {
        if !check_parts(n_rows, n_cols, indptr, indices, data)? {
            return Err(Error::invalid(
                "rows must have sorted, unique column indices (scipy: sum_duplicates())",
            ));
        }
        Ok(CsrRef {
            n_rows,
            n_cols,
            indptr,
            indices,
            data,
        })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Weight of every entry.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// Column indices and weights of row `r` (empty when out of range).
    pub fn row(&self, r: usize) -> (&'a [u32], &'a [f32]) {
        if r >= self.n_rows {
            return (&[], &[]);
        }
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Csr {
        Csr {
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            indptr: self.indptr.to_vec(),
            indices: self.indices.to_vec(),
            data: self.data.to_vec(),
        }
    }

    /// The transpose (item×user when `self` is user×item), every row
    /// sorted. In parallel inside [`crate::parallel::install`]: blocks of
    /// rows count their columns, then scatter their entries, each block's
    /// after those of the blocks before it, so the result is the same at
    /// any thread count.
    pub fn transpose(&self) -> Csr {
        let blocks = self.row_blocks(TRANSPOSE_BLOCKS);
        let counts = parallel::map(&blocks, |rows| {
            let mut count = vec![0usize; self.n_cols];
            for &c in &self.indices[self.indptr[rows.start]..self.indptr[rows.end]] {
                count[c as usize] += 1;
            }
            count
        });
        let mut indptr = vec![0usize; self.n_cols + 1];
        // Each block's first slot in every output row, turned in place
        // from its counts.
        let mut starts = counts;
        let mut at = 0;
        for c in 0..self.n_cols {
            for block in starts.iter_mut() {
                let n = block[c];
                block[c] = at;
                at += n;
            }
            indptr[c + 1] = at;
        }
        let mut indices = vec![0u32; self.nnz()];
        let mut data = vec![0f32; self.nnz()];
        let out = Scatter {
            indices: indices.as_mut_ptr(),
            data: data.as_mut_ptr(),
        };
        parallel::for_each(
            blocks.into_iter().zip(starts).collect(),
            |(rows, mut next)| {
                for r in rows {
                    let (cols, vals) = self.row(r);
                    for (&c, &v) in cols.iter().zip(vals) {
                        let slot = &mut next[c as usize];
                        // SAFETY: the slots of block b for column c are
                        // `starts[b][c]..starts[b][c] + counts[b][c]`, inside the
                        // buffers and disjoint from every other block's; each is
                        // written once.
                        unsafe { out.write(*slot, r as u32, v) };
                        *slot += 1;
                    }
                }
            },
        );
        Csr {
            n_rows: self.n_cols,
            n_cols: self.n_rows,
            indptr,
            indices,
            data,
        }
    }

    /// Consecutive row ranges of about equal numbers of entries, at most
    /// `n` of them (fewer for small matrices), covering every row.
    fn row_blocks(&self, n: usize) -> Vec<std::ops::Range<usize>> {
        let per = self.nnz().div_ceil(n).max(MIN_BLOCK_ENTRIES);
        let mut blocks = Vec::new();
        let mut first = 0;
        while first < self.n_rows {
            let goal = self.indptr[first] + per;
            let end = first + self.indptr[first..=self.n_rows].partition_point(|&e| e < goal);
            let end = end.clamp(first + 1, self.n_rows);
            blocks.push(first..end);
            first = end;
        }
        blocks
    }

    /// A copy without explicitly stored zeros, or None when there are none.
    pub fn without_zeros(&self) -> Option<Csr> {
        if !self.data.contains(&0.0) {
            return None;
        }
        let mut out = Csr {
            n_rows: self.n_rows,
            n_cols: self.n_cols,
            indptr: vec![0],
            indices: Vec::new(),
            data: Vec::new(),
        };
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals).filter(|e| *e.1 != 0.0) {
                out.indices.push(c);
                out.data.push(v);
            }
            out.indptr.push(out.indices.len());
        }
        Some(out)
    }
}

/// Checks that id maps name every row and column of a matrix.
pub(crate) fn check_id_shape(
    users: &IdMap,
    items: &IdMap,
    n_rows: usize,
    n_cols: usize,
) -> Result<()> {
    if users.len() != n_rows || items.len() != n_cols {
        return Err(Error::shape(format!(
            "{} user ids and {} item ids for a {n_rows}x{n_cols} matrix",
            users.len(),
            items.len()
        )));
    }
    Ok(())
}

/// Training data: a user×item weight matrix with the string ids of its rows
/// and columns, and optionally the latest event time of every entry (for
/// temporal splits).
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    users: IdMap,
    items: IdMap,
    matrix: Csr,
    last_seen: Option<Vec<i64>>,
}

impl Interactions {
    /// Wraps a user×item matrix; `users`/`items` default to decimal indices.
    pub fn from_csr(matrix: Csr, users: Option<IdMap>, items: Option<IdMap>) -> Result<Self> {
        let users = match users {
            Some(u) => u,
            None => IdMap::range(matrix.n_rows())?,
        };
        let items = match items {
            Some(i) => i,
            None => IdMap::range(matrix.n_cols())?,
        };
        check_id_shape(&users, &items, matrix.n_rows(), matrix.n_cols())?;
        Ok(Interactions {
            users,
            items,
            matrix,
            last_seen: None,
        })
    }

    /// Builds from COO triplets of dense indices; the shape is given.
    pub fn from_coo(
        n_users: usize,
        n_items: usize,
        users: &[u32],
        items: &[u32],
        weights: &[f32],
    ) -> Result<Self> {
        Self::from_csr(
            Csr::from_triplets(n_users, n_items, users, items, weights)?,
            None,
            None,
        )
    }

    /// Attaches per-entry latest-event times (parallel to `matrix().data()`).
    pub fn with_last_seen(mut self, last_seen: Vec<i64>) -> Result<Self> {
        if last_seen.len() != self.matrix.nnz() {
            return Err(Error::shape(format!(
                "{} timestamps for {} entries",
                last_seen.len(),
                self.matrix.nnz()
            )));
        }
        self.last_seen = Some(last_seen);
        Ok(self)
    }

    /// User ids (rows).
    pub fn users(&self) -> &IdMap {
        &self.users
    }

    /// Item ids (columns).
    pub fn items(&self) -> &IdMap {
        &self.items
    }

    /// The user×item matrix.
    pub fn matrix(&self) -> &Csr {
        &self.matrix
    }

    /// Latest event time per entry, when built from events.
    pub fn last_seen(&self) -> Option<&[i64]> {
        self.last_seen.as_deref()
    }

    /// Number of users.
    pub fn n_users(&self) -> usize {
        self.matrix.n_rows()
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.matrix.n_cols()
    }

    /// Splits into parts; used by [`crate::eval`] splits.
    pub fn into_parts(self) -> (IdMap, IdMap, Csr, Option<Vec<i64>>) {
        (self.users, self.items, self.matrix, self.last_seen)
    }
}

/// Events as parallel columns, the shape bindings receive them in (DataFrame
/// columns, typed arrays): `users[i]`, `items[i]`, … describe event `i`.
/// Optional columns are absent or have one entry per event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventColumns {
    /// User (or anonymous visitor) ids.
    pub users: Vec<String>,
    /// Item ids.
    pub items: Vec<String>,
    /// Event kind names (`view`, `click`, `add_to_cart`, `purchase`, custom);
    /// without them every event weighs 1.
    pub kinds: Option<Vec<String>>,
    /// Unix seconds.
    pub timestamps: Option<Vec<i64>>,
    /// Multipliers of the kind weight (e.g. quantities).
    pub weights: Option<Vec<f32>>,
    /// Region codes (an entry may be absent).
    pub regions: Option<Vec<Option<String>>>,
    /// Channel names (an entry may be absent).
    pub channels: Option<Vec<Option<String>>>,
    /// Session ids (an entry may be absent).
    pub sessions: Option<Vec<Option<String>>>,
}

/// One event as a record, the shape JavaScript callers hold events in
/// (`{ user, item, kind?, weight?, timestamp?, … }`); [`EventColumns::from_rows`]
/// turns a list of them into columns. `quantity` is another name for
/// `weight`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRow {
    /// User (or anonymous visitor) id.
    pub user: String,
    /// Item id.
    pub item: String,
    /// Event kind name; without it the event weighs 1.
    #[serde(default)]
    pub kind: Option<String>,
    /// Multiplier of the kind weight (e.g. a quantity).
    #[serde(default, alias = "quantity")]
    pub weight: Option<f32>,
    /// Unix seconds.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// Region code.
    #[serde(default)]
    pub region: Option<String>,
    /// Channel name.
    #[serde(default)]
    pub channel: Option<String>,
    /// Session id.
    #[serde(default)]
    pub session: Option<String>,
}

impl EventColumns {
    /// The number of events; a column of another length is a
    /// [`Error::ShapeMismatch`] naming it.
    pub fn len(&self) -> Result<usize> {
        let n = self.users.len();
        let lengths = [
            ("items", Some(self.items.len())),
            ("kinds", self.kinds.as_ref().map(Vec::len)),
            ("timestamps", self.timestamps.as_ref().map(Vec::len)),
            ("weights", self.weights.as_ref().map(Vec::len)),
            ("regions", self.regions.as_ref().map(Vec::len)),
            ("channels", self.channels.as_ref().map(Vec::len)),
            ("sessions", self.sessions.as_ref().map(Vec::len)),
        ];
        match lengths.iter().find(|(_, len)| len.is_some_and(|l| l != n)) {
            Some((name, Some(len))) => Err(Error::shape(format!(
                "{name} has {len} entries for {n} users"
            ))),
            _ => Ok(n),
        }
    }

    /// Columns from event records. `kind`, `weight` and `timestamp` must be
    /// given on every event or on none (a column has an entry per event;
    /// the error names the first event that breaks the pattern); `region`,
    /// `channel` and `session` may be absent on any event.
    pub fn from_rows(rows: Vec<EventRow>) -> Result<Self> {
        /// A column that every row fills, or none does.
        fn all_or_none<T>(
            rows: &[EventRow],
            name: &str,
            get: impl Fn(&EventRow) -> Option<T>,
        ) -> Result<Option<Vec<T>>> {
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let given = get(first).is_some();
            let column: Vec<Option<T>> = rows.iter().map(&get).collect();
            match column.iter().position(|v| v.is_some() != given) {
                Some(i) => Err(Error::invalid(format!(
                    "{name} must be given on every event or on none, event 0 {} one",
                    if given { "has" } else { "has no" }
                ))
                .at_event(i)),
                None if given => Ok(Some(column.into_iter().flatten().collect())),
                None => Ok(None),
            }
        }
        fn optional(
            rows: &[EventRow],
            get: impl Fn(&EventRow) -> Option<String>,
        ) -> Option<Vec<Option<String>>> {
            rows.iter()
                .any(|r| get(r).is_some())
                .then(|| rows.iter().map(get).collect())
        }
        Ok(EventColumns {
            kinds: all_or_none(&rows, "kind", |r| r.kind.clone())?,
            weights: all_or_none(&rows, "weight", |r| r.weight)?,
            timestamps: all_or_none(&rows, "timestamp", |r| r.timestamp)?,
            regions: optional(&rows, |r| r.region.clone()),
            channels: optional(&rows, |r| r.channel.clone()),
            sessions: optional(&rows, |r| r.session.clone()),
            users: rows.iter().map(|r| r.user.clone()).collect(),
            items: rows.into_iter().map(|r| r.item).collect(),
        })
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The events, for live ingestion; `kinds` and `timestamps` are required
    /// here, and an invalid channel names its event's position.
    pub fn into_events(self) -> Result<Vec<Event>> {
        let n = self.len()?;
        let (Some(kinds), Some(timestamps)) = (self.kinds, self.timestamps) else {
            return Err(Error::invalid("events need kinds and timestamps"));
        };
        let column = |c: Option<Vec<Option<String>>>| c.unwrap_or_else(|| vec![None; n]);
        let (regions, channels, sessions) = (
            column(self.regions),
            column(self.channels),
            column(self.sessions),
        );
        let rows = self
            .users
            .into_iter()
            .zip(self.items)
            .zip(kinds)
            .zip(timestamps);
        rows.zip(regions.into_iter().zip(channels).zip(sessions))
            .enumerate()
            .map(
                |(i, ((((user, item), kind), ts), ((region, channel), session)))| {
                    Ok(Event {
                        user,
                        item,
                        kind: EventKind::parse(&kind),
                        timestamp: ts,
                        region,
                        channel: channel
                            .as_deref()
                            .map(Channel::parse)
                            .transpose()
                            .map_err(|e| e.at_event(i))?,
                        session,
                    })
                },
            )
            .collect()
    }
}

/// Accumulates events or weighted pairs into [`Interactions`]. Invalid input
/// is rejected before anything is recorded.
#[derive(Debug, Clone, Default)]
pub struct InteractionsBuilder {
    weights: KindWeights,
    users: IdMap,
    items: IdMap,
    fixed_items: bool,
    acc: HashMap<(u32, u32), (f32, i64)>,
}

impl InteractionsBuilder {
    /// A builder with the default [`KindWeights`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `weights` for event kinds.
    pub fn weights(mut self, weights: KindWeights) -> Result<Self> {
        weights.validate()?;
        self.weights = weights;
        Ok(self)
    }

    /// Fixes the item universe (e.g. the catalog's ids, in catalog order):
    /// events for other items are rejected with [`Error::UnknownId`].
    pub fn items(mut self, items: IdMap) -> Self {
        self.items = items;
        self.fixed_items = true;
        self
    }

    /// Fixes the user order up front (more users may still be added).
    pub fn users(mut self, users: IdMap) -> Self {
        self.users = users;
        self
    }

    /// Adds one event, weighted by its kind.
    pub fn add_event(&mut self, event: &Event) -> Result<()> {
        let w = self.weights.weight(&event.kind)?;
        self.add_at(&event.user, &event.item, w, Some(event.timestamp))
    }

    /// Adds many events; stops at (and reports) the first invalid one, with
    /// the events before it recorded.
    pub fn extend_events<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) -> Result<()> {
        events
            .into_iter()
            .enumerate()
            .try_for_each(|(i, e)| self.add_event(e).map_err(|err| err.at_event(i)))
    }

    /// Adds `weight` for (`user`, `item`) without a timestamp.
    pub fn add(&mut self, user: &str, item: &str, weight: f32) -> Result<()> {
        self.add_at(user, item, weight, None)
    }

    /// Adds `weight` for (`user`, `item`) seen at `timestamp` (Unix
    /// seconds, `0..=`[`MAX_TIMESTAMP`](crate::session::MAX_TIMESTAMP)), for callers that weigh events themselves (e.g. kind weight
    /// × quantity); the entry keeps its latest timestamp.
    pub fn add_at(
        &mut self,
        user: &str,
        item: &str,
        weight: f32,
        timestamp: Option<i64>,
    ) -> Result<()> {
        let max = crate::session::MAX_TIMESTAMP;
        if let Some(t) = timestamp.filter(|t| !(0..=max).contains(t)) {
            return Err(Error::invalid(format!(
                "timestamp must be Unix seconds in 0..={max}, got {t}"
            )));
        }
        let ts = timestamp.unwrap_or(i64::MIN);
        check_weight(weight)?;
        if user.is_empty() || item.is_empty() {
            return Err(Error::invalid("user and item ids must be non-empty"));
        }
        let i = if self.fixed_items {
            self.items.index_of(item, IdKind::Item)?
        } else {
            self.items.get_or_insert(item)?
        };
        let u = self.users.get_or_insert(user)?;
        let e = self.acc.entry((u, i)).or_insert((0.0, i64::MIN));
        e.0 += weight;
        e.1 = e.1.max(ts);
        Ok(())
    }

    /// Adds every event of `columns`: weight = kind weight (1 without
    /// kinds) × `weights[i]`, at `timestamps[i]`. An invalid event names
    /// its position; the events before it stay recorded, so build a fresh
    /// builder for all-or-nothing.
    pub fn add_columns(&mut self, columns: &EventColumns) -> Result<()> {
        let n = columns.len()?;
        // Kinds repeat: look each distinct name up once.
        let mut by_kind: HashMap<&str, f32> = HashMap::new();
        for i in 0..n {
            let at = |e: Error| e.at_event(i);
            let mut w = match &columns.kinds {
                Some(kinds) => match by_kind.get(kinds[i].as_str()) {
                    Some(&w) => w,
                    None => {
                        let w = self
                            .weights
                            .weight(&EventKind::parse(&kinds[i]))
                            .map_err(at)?;
                        *by_kind.entry(kinds[i].as_str()).or_insert(w)
                    }
                },
                None => 1.0,
            };
            if let Some(q) = &columns.weights {
                w *= q[i];
            }
            let ts = columns.timestamps.as_ref().map(|t| t[i]);
            self.add_at(&columns.users[i], &columns.items[i], w, ts)
                .map_err(at)?;
        }
        Ok(())
    }

    /// Builds the matrix; empty input is an error.
    pub fn build(self) -> Result<Interactions> {
        if self.acc.is_empty() {
            return Err(Error::invalid(
                "no interactions: cannot build from empty data",
            ));
        }
        let mut entries: Vec<_> = self.acc.into_iter().collect();
        entries.sort_unstable_by_key(|&((u, i), _)| (u, i));
        let rows: Vec<u32> = entries.iter().map(|e| e.0 .0).collect();
        let cols: Vec<u32> = entries.iter().map(|e| e.0 .1).collect();
        let vals: Vec<f32> = entries.iter().map(|e| e.1 .0).collect();
        let last: Vec<i64> = entries.iter().map(|e| e.1 .1).collect();
        let matrix = Csr::from_triplets(self.users.len(), self.items.len(), &rows, &cols, &vals)?;
        let with_ts = last.iter().any(|&t| t != i64::MIN);
        let out = Interactions::from_csr(matrix, Some(self.users), Some(self.items))?;
        // Entries were sorted by (user, item), the same order as the CSR.
        if with_ts {
            out.with_last_seen(last)
        } else {
            Ok(out)
        }
    }
}

/// A free product attribute value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// A number (e.g. lens index 1.67, bridge width 18).
    Number(f64),
    /// A single category-like value (e.g. shape `round`).
    Text(String),
    /// Several values (e.g. colours `["black", "gold"]`).
    List(Vec<String>),
}

/// A product in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Product id (SKU).
    pub id: String,
    /// Display title.
    #[serde(default)]
    pub title: String,
    /// Category, e.g. `frames`, `sunglasses`, `contact_lenses`.
    pub category: String,
    /// Brand.
    #[serde(default)]
    pub brand: Option<String>,
    /// Price in the shop's currency.
    #[serde(default)]
    pub price: Option<f64>,
    /// Whether the product can be sold now.
    #[serde(default = "yes")]
    pub in_stock: bool,
    /// Regions where the product is sold; empty means everywhere.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Free attributes (shape, material, colour, gender, …).
    #[serde(default)]
    pub attributes: BTreeMap<String, AttrValue>,
}

fn yes() -> bool {
    true
}

impl Item {
    /// Whether the item may be sold in `region` (empty `regions` = anywhere).
    pub fn available_in(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|r| r == region)
    }

    fn validate(&self) -> Result<()> {
        crate::tracking::check_id("item id", &self.id)?;
        if let Some(p) = self.price {
            if !p.is_finite() || p < 0.0 {
                return Err(Error::invalid(format!(
                    "item {:?}: price must be finite and >= 0, got {p}",
                    self.id
                )));
            }
        }
        Ok(())
    }
}

/// The product catalog, in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    ids: IdMap,
    items: Vec<Item>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an item; a duplicate id or invalid price is an error.
    pub fn add(&mut self, item: Item) -> Result<u32> {
        item.validate()?;
        if self.ids.get(&item.id).is_some() {
            return Err(Error::invalid(format!("duplicate item id {:?}", item.id)));
        }
        let idx = self.ids.get_or_insert(&item.id)?;
        self.items.push(item);
        Ok(idx)
    }

    /// The item with `id`.
    pub fn get(&self, id: &str) -> Option<&Item> {
        self.ids.get(id).map(|i| &self.items[i as usize])
    }

    /// The item at catalog index `idx`.
    pub fn item(&self, idx: u32) -> Option<&Item> {
        self.items.get(idx as usize)
    }

    /// Item ids in catalog order.
    pub fn ids(&self) -> &IdMap {
        &self.ids
    }

    /// All items in catalog order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// One cell of a catalog row as a binding hands it over (a Python dict
/// value, a pandas cell, a JS property): what [`Catalog::from_rows`] types.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RowValue {
    /// Absent (`None`, `null`, `undefined`).
    Missing,
    /// A boolean.
    Bool(bool),
    /// An integer (kept apart from floats so an id `7` stays `"7"`).
    Int(i64),
    /// A float; NaN (pandas' missing value) counts as absent.
    Float(f64),
    /// A string.
    Text(String),
    /// A list or set of scalars.
    List(Vec<RowValue>),
}

/// A catalog row: column name → value.
pub type Row = BTreeMap<String, RowValue>;

impl RowValue {
    fn is_missing(&self) -> bool {
        match self {
            RowValue::Missing => true,
            RowValue::Float(f) => f.is_nan(),
            _ => false,
        }
    }

    /// The value as text (ids, titles, categories, list elements).
    fn text(&self) -> String {
        match self {
            RowValue::Missing => String::new(),
            RowValue::Bool(b) => b.to_string(),
            RowValue::Int(i) => i.to_string(),
            RowValue::Float(f) => f.to_string(),
            RowValue::Text(s) => s.clone(),
            RowValue::List(v) => v.iter().map(RowValue::text).collect::<Vec<_>>().join(","),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            RowValue::Int(i) => Some(*i as f64),
            RowValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Truthiness as the row's runtime sees it (0, "" and [] are false).
    fn truthy(&self) -> bool {
        match self {
            RowValue::Missing => false,
            RowValue::Bool(b) => *b,
            RowValue::Int(i) => *i != 0,
            RowValue::Float(f) => *f != 0.0,
            RowValue::Text(s) => !s.is_empty(),
            RowValue::List(v) => !v.is_empty(),
        }
    }

    fn texts(&self) -> Vec<String> {
        match self {
            RowValue::List(v) => v.iter().map(RowValue::text).collect(),
            other => vec![other.text()],
        }
    }

    fn attribute(&self) -> AttrValue {
        match self {
            RowValue::Int(_) | RowValue::Float(_) => {
                AttrValue::Number(self.number().unwrap_or(0.0))
            }
            RowValue::List(_) => AttrValue::List(self.texts()),
            other => AttrValue::Text(other.text()),
        }
    }
}

impl Item {
    /// An item from a generic row: `id` (required), `title`, `category`,
    /// `brand`, `price` (a number), `in_stock` and `regions` (a string or a
    /// list) are the item's fields; every other column is an attribute
    /// (numbers stay numbers, booleans become `"true"`/`"false"`, lists
    /// become lists of strings). Missing values (null, NaN) are skipped.
    pub fn from_row(row: &Row) -> Result<Item> {
        let id = match row.get("id") {
            Some(v) if !v.is_missing() => v.text(),
            _ => return Err(Error::invalid("catalog entry without 'id'")),
        };
        let mut item = Item {
            id,
            title: String::new(),
            category: String::new(),
            brand: None,
            price: None,
            in_stock: true,
            regions: Vec::new(),
            attributes: BTreeMap::new(),
        };
        for (key, value) in row.iter().filter(|(_, v)| !v.is_missing()) {
            match key.as_str() {
                "id" => {}
                "title" => item.title = value.text(),
                "category" => item.category = value.text(),
                "brand" => item.brand = Some(value.text()),
                "price" => {
                    item.price = Some(value.number().ok_or_else(|| {
                        Error::invalid(format!(
                            "item {:?}: price must be a number, got {value:?}",
                            item.id
                        ))
                    })?)
                }
                "in_stock" => item.in_stock = value.truthy(),
                "regions" => item.regions = value.texts(),
                _ => {
                    item.attributes.insert(key.clone(), value.attribute());
                }
            }
        }
        Ok(item)
    }
}

/// An item as one flat row, the inverse of [`Item::from_row`]: the item's
/// fields, then its attributes as columns of their own (a DataFrame row,
/// a JS object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlatItem<'a> {
    /// Product id.
    pub id: &'a str,
    /// Display title.
    pub title: &'a str,
    /// Category.
    pub category: &'a str,
    /// Brand.
    pub brand: Option<&'a str>,
    /// Price.
    pub price: Option<f64>,
    /// Whether it can be sold now.
    pub in_stock: bool,
    /// Regions where it is sold (empty = everywhere).
    pub regions: &'a [String],
    /// The free attributes, one column each.
    #[serde(flatten)]
    pub attributes: &'a BTreeMap<String, AttrValue>,
}

impl Item {
    /// The item as a flat row ([`FlatItem`]).
    pub fn flat(&self) -> FlatItem<'_> {
        FlatItem {
            id: &self.id,
            title: &self.title,
            category: &self.category,
            brand: self.brand.as_deref(),
            price: self.price,
            in_stock: self.in_stock,
            regions: &self.regions,
            attributes: &self.attributes,
        }
    }
}

impl Catalog {
    /// A catalog from generic rows ([`Item::from_row`]); a duplicate id or
    /// an invalid row is an error.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Result<Catalog> {
        let mut c = Catalog::new();
        for row in rows {
            Item::from_row(row).and_then(|item| c.add(item))?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(user: &str, item: &str, kind: EventKind, ts: i64) -> Event {
        Event::new(user, item, kind, ts)
    }

    #[test]
    fn catalog_rows_are_typed_and_missing_values_skipped() {
        let rows: Vec<Row> = serde_json::from_str(
            r#"[{"id": 7, "title": "Round", "category": "frames", "price": 120,
                 "in_stock": 0, "regions": "uk", "shape": "round", "rim": null,
                 "polarised": true, "colours": ["black", 3], "width": 52.5},
                {"id": "b", "brand": "Acme"}]"#,
        )
        .unwrap();
        let c = Catalog::from_rows(&rows).unwrap();
        let a = c.get("7").unwrap();
        assert_eq!(
            (a.price, a.in_stock, a.regions.clone()),
            (Some(120.0), false, vec!["uk".to_owned()])
        );
        assert_eq!(a.attributes.get("rim"), None);
        assert_eq!(a.attributes["polarised"], AttrValue::Text("true".into()));
        assert_eq!(
            a.attributes["colours"],
            AttrValue::List(vec!["black".into(), "3".into()])
        );
        assert_eq!(a.attributes["width"], AttrValue::Number(52.5));
        let b = c.get("b").unwrap();
        assert_eq!(
            (b.category.as_str(), b.brand.as_deref(), b.in_stock),
            ("", Some("Acme"), true)
        );
        let flat = serde_json::to_value(a.flat()).unwrap();
        assert_eq!(
            (&flat["id"], &flat["width"], &flat["price"]),
            (
                &serde_json::json!("7"),
                &serde_json::json!(52.5),
                &serde_json::json!(120.0)
            )
        );
        let back: Row = serde_json::from_value(flat).unwrap();
        assert_eq!(&Item::from_row(&back).unwrap(), a);
        let nan: Row = [
            ("id".to_owned(), RowValue::Text("x".into())),
            ("price".to_owned(), RowValue::Float(f64::NAN)),
        ]
        .into();
        assert_eq!(Item::from_row(&nan).unwrap().price, None);
    }

    #[test]
    fn bad_catalog_rows_are_typed_errors() {
        let no_id: Row = [("id".to_owned(), RowValue::Missing)].into();
        assert!(
            matches!(Item::from_row(&no_id), Err(Error::InvalidInput(m)) if m.contains("without 'id'"))
        );
        let price: Row = [
            ("id".to_owned(), RowValue::Int(1)),
            ("price".to_owned(), RowValue::Text("cheap".into())),
        ]
        .into();
        assert!(
            matches!(Item::from_row(&price), Err(Error::InvalidInput(m)) if m.contains("price must be a number"))
        );
        let dup: Vec<Row> = vec![price.clone().into_iter().take(1).collect(); 2];
        assert!(
            matches!(Catalog::from_rows(&dup), Err(Error::InvalidInput(m)) if m.contains("duplicate"))
        );
    }

    #[test]
    fn event_columns_give_weighted_interactions_and_events() {
        let cols = EventColumns {
            users: vec!["u1".into(), "u1".into(), "u2".into()],
            items: vec!["a".into(), "a".into(), "b".into()],
            kinds: Some(vec!["view".into(), "purchase".into(), "click".into()]),
            timestamps: Some(vec![10, 20, 5]),
            weights: Some(vec![1.0, 2.0, 1.0]),
            channels: Some(vec![None, Some("web".into()), None]),
            ..EventColumns::default()
        };
        let mut b = InteractionsBuilder::new();
        b.add_columns(&cols).unwrap();
        let x = b.build().unwrap();
        assert_eq!(x.matrix().row(0), (&[0u32][..], &[17.0f32][..]));
        assert_eq!(x.last_seen(), Some(&[20i64, 5][..]));
        let events = cols.clone().into_events().unwrap();
        assert_eq!(
            events[1],
            Event::new("u1", "a", EventKind::Purchase, 20).channel(Channel::Web)
        );
        let short = EventColumns {
            sessions: Some(vec![None]),
            ..cols.clone()
        };
        assert!(
            matches!(short.len(), Err(Error::ShapeMismatch(m)) if m.contains("sessions has 1"))
        );
        let bad = EventColumns {
            channels: Some(vec![None, None, Some("fax".into())]),
            ..cols.clone()
        };
        assert!(
            matches!(bad.into_events(), Err(Error::InvalidInput(m)) if m.starts_with("event 2"))
        );
        let unweighed = EventColumns {
            kinds: Some(vec!["view".into(), "wish".into(), "view".into()]),
            ..cols
        };
        let e = InteractionsBuilder::new()
            .add_columns(&unweighed)
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput(m) if m.starts_with("event 1")));
    }

    #[test]
    fn kind_weights_round_trip_through_the_flat_form() {
        let flat: BTreeMap<String, f32> =
            [("click".to_owned(), 3.0), ("wish".to_owned(), 0.5)].into();
        let w = KindWeights::from_flat(&flat);
        assert_eq!((w.view, w.click, w.custom["wish"]), (1.0, 3.0, 0.5));
        let back = w.to_flat();
        assert_eq!((back.len(), back["purchase"], back["wish"]), (5, 8.0, 0.5));
        assert_eq!(KindWeights::from_flat(&back), w);
    }

    #[test]
    fn builder_sums_kind_weights() {
        let mut b = InteractionsBuilder::new();
        b.add_event(&ev("u1", "a", EventKind::View, 10)).unwrap();
        b.add_event(&ev("u1", "a", EventKind::Purchase, 20))
            .unwrap();
        b.add_event(&ev("u2", "b", EventKind::Click, 5)).unwrap();
        let x = b.build().unwrap();
        assert_eq!(x.users().ids(), ["u1", "u2"]);
        assert_eq!(x.items().ids(), ["a", "b"]);
        assert_eq!(x.matrix().row(0), (&[0u32][..], &[9.0f32][..]));
        assert_eq!(x.matrix().row(1), (&[1u32][..], &[2.0f32][..]));
        assert_eq!(x.last_seen(), Some(&[20i64, 5][..]));
    }

    #[test]
    fn bad_input_changes_nothing() {
        let mut b = InteractionsBuilder::new();
        b.add("u", "a", 1.0).unwrap();
        for w in [f32::NAN, f32::INFINITY, -1.0] {
            assert!(matches!(
                b.add("new", "new", w),
                Err(Error::InvalidInput(_))
            ));
        }
        assert!(b
            .add_event(&ev("new", "new", EventKind::Custom("wish".into()), 0))
            .is_err());
        let x = b.build().unwrap();
        assert_eq!((x.n_users(), x.n_items()), (1, 1));
        assert!(matches!(
            InteractionsBuilder::new().build(),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn fixed_items_reject_unknown() {
        let mut b = InteractionsBuilder::new().items(IdMap::from_ids(["a", "b"]).unwrap());
        assert!(matches!(
            b.add("u", "zz", 1.0),
            Err(Error::UnknownId {
                kind: IdKind::Item,
                ..
            })
        ));
        b.add("u", "b", 1.0).unwrap();
        assert_eq!(b.build().unwrap().n_items(), 2);
    }

    /// The parallel transpose (several row blocks, empty rows and
    /// columns, a skewed column) equals the entry-by-entry one at every
    /// thread count.
    #[test]
    fn transpose_in_blocks_equals_the_sequential_one() {
        let (n_rows, n_cols) = (5000usize, 700usize);
        let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..n_rows {
            if r % 97 == 0 {
                continue;
            }
            for t in 0..(r % 60) {
                rows.push(r as u32);
                cols.push(if t % 5 == 0 {
                    3
                } else {
                    ((r * 31 + t * 17) % (n_cols - 1)) as u32
                });
                vals.push((r * 7 + t) as f32);
            }
        }
        let m = Csr::from_triplets(n_rows, n_cols, &rows, &cols, &vals).unwrap();
        assert!(m.view().row_blocks(TRANSPOSE_BLOCKS).len() > 1);
        let mut want = vec![Vec::new(); n_cols];
        for r in 0..n_rows {
            let (c, v) = m.row(r);
            for (&c, &v) in c.iter().zip(v) {
                want[c as usize].push((r as u32, v));
            }
        }
        for threads in [1, 2, 3] {
            let t = crate::parallel::install(threads, || m.transpose());
            assert_eq!((t.n_rows(), t.n_cols()), (n_cols, n_rows));
            for (c, entries) in want.iter().enumerate() {
                let (r, v) = t.row(c);
                let got: Vec<(u32, f32)> = r.iter().copied().zip(v.iter().copied()).collect();
                assert_eq!(&got, entries, "column {c}, {threads} threads");
            }
        }
        let empty = Csr::from_parts(0, 4, vec![0], vec![], vec![]).unwrap();
        assert_eq!(empty.transpose().n_rows(), 4);
    }

    #[test]
    fn csr_canonicalises_and_transposes() {
        let m = Csr::from_parts(
            2,
            3,
            vec![0, 3, 4],
            vec![2, 0, 2, 1],
            vec![1.0, 2.0, 3.0, 4.0],
        )
        .unwrap();
        assert_eq!(m.row(0), (&[0u32, 2][..], &[2.0f32, 4.0][..]));
        let t = m.transpose();
        assert_eq!((t.n_rows(), t.n_cols()), (3, 2));
        assert_eq!(t.row(2), (&[0u32][..], &[4.0f32][..]));
        assert_eq!(t.row(1), (&[1u32][..], &[4.0f32][..]));
        assert_eq!(t.transpose(), m);
        let z = Csr::from_triplets(2, 2, &[0, 0, 1], &[0, 1, 1], &[0.0, 2.0, 0.0]).unwrap();
        let nz = z.without_zeros();
        assert!(CsrRef::new(2, 2, &[0, 2, 1], &[0, 1, 1], &[1.0, 1.0, 1.0]).is_err());
        assert!(
            CsrRef::new(1, 3, &[0, 2], &[2, 0], &[1.0, 1.0]).is_err(),
            "unsorted rows need a copy"
        );
        let v = CsrRef::new(2, 3, &[0, 2, 3], &[0, 2, 1], &[1.0, 2.0, 3.0]).unwrap();
        let owned =
            Csr::from_parts(2, 3, vec![0, 2, 3], vec![0, 2, 1], vec![1.0, 2.0, 3.0]).unwrap();
        assert_eq!(v.to_owned(), owned);
        assert_eq!((v.transpose(), v.row(1)), (owned.transpose(), owned.row(1)));
        assert_eq!(
            (nz.nnz(), nz.row(0), nz.row(1).0.len()),
            (1, (&[1u32][..], &[2.0f32][..]), 0)
        );
        assert!(Csr::from_parts(2, 3, vec![0, 1], vec![0], vec![1.0]).is_err());
        assert!(Csr::from_parts(1, 3, vec![0, 1], vec![5], vec![1.0]).is_err());
        assert!(Csr::from_parts(1, 3, vec![0, 1], vec![0], vec![f32::NAN]).is_err());
        assert!(Csr::from_triplets(1, 1, &[0], &[0, 0], &[1.0]).is_err());
    }

    #[test]
    fn with_rows_replaces_and_grows() {
        let m = Csr::from_triplets(2, 3, &[0, 1, 1], &[0, 1, 2], &[1.0, 2.0, 3.0]).unwrap();
        let new = Csr::from_triplets(2, 3, &[0, 1], &[2, 0], &[5.0, 6.0]).unwrap();
        let got = m.with_rows(4, &[3, 0], new.view()).unwrap();
        let want =
            Csr::from_triplets(4, 3, &[0, 1, 1, 3], &[0, 1, 2, 2], &[6.0, 2.0, 3.0, 5.0]).unwrap();
        assert_eq!(got, want);
        assert_eq!(
            m.with_rows(2, &[], Csr::default().resized(0, 3).unwrap().view())
                .unwrap(),
            m
        );
        assert!(m.with_rows(4, &[0, 0], new.view()).is_err());
        assert!(m.with_rows(4, &[4, 0], new.view()).is_err());
        assert!(m.with_rows(1, &[0, 1], new.view()).is_err());
        assert!(m.with_rows(4, &[0], new.view()).is_err());
    }

    #[test]
    fn kinds_channels_catalog() {
        assert_eq!(EventKind::parse("add_to_cart"), EventKind::AddToCart);
        assert_eq!(EventKind::parse("wishlist").as_str(), "wishlist");
        assert_eq!(Channel::parse("store").unwrap(), Channel::Store);
        assert!(Channel::parse("fax").is_err());
        let w = KindWeights::default().with_custom("wishlist", 3.0);
        assert_eq!(
            w.weight(&EventKind::Custom("wishlist".into())).unwrap(),
            3.0
        );
        assert!(KindWeights {
            view: -1.0,
            ..Default::default()
        }
        .validate()
        .is_err());
        let mut c = Catalog::new();
        let item: Item = serde_json::from_str(r#"{"id":"f1","category":"frames","regions":["nl"],"attributes":{"shape":"round","bridge":18,"colours":["black"]}}"#).unwrap();
        assert!(item.in_stock && item.available_in("nl") && !item.available_in("au"));
        c.add(item.clone()).unwrap();
        assert!(c.add(item).is_err());
        assert_eq!(
            c.get("f1").unwrap().attributes["bridge"],
            AttrValue::Number(18.0)
        );
    }

    #[test]
    fn event_rows_become_columns() {
        let rows: Vec<EventRow> = serde_json::from_str(
            r#"[{"user":"u1","item":"a","kind":"purchase","quantity":2,"timestamp":5},
                {"user":"u2","item":"b","kind":"view","weight":1,"timestamp":6,"region":"nl"}]"#,
        )
        .unwrap();
        let c = EventColumns::from_rows(rows.clone()).unwrap();
        assert_eq!(c.weights, Some(vec![2.0, 1.0]));
        assert_eq!(c.regions, Some(vec![None, Some("nl".into())]));
        assert_eq!(c.channels, None);
        let mut b = InteractionsBuilder::new();
        b.add_columns(&c).unwrap();
        let data = b.build().unwrap();
        assert_eq!(data.matrix().data(), [16.0, 1.0]);
        let mut ragged = rows;
        ragged[1].kind = None;
        let e = EventColumns::from_rows(ragged).unwrap_err();
        assert!(e.to_string().contains("event 1: kind"), "{e}");
        assert!(serde_json::from_str::<EventRow>(r#"{"user":"u","item":"i","wieght":1}"#).is_err());
        assert_eq!(
            EventColumns::from_rows(Vec::new()).unwrap().len().unwrap(),
            0
        );
    }
}
