//! Approximate nearest-neighbour search with an HNSW graph (Malkov &
//! Yashunin, "Efficient and robust approximate nearest neighbor search using
//! Hierarchical Navigable Small World graphs"), similarity = inner product.
//!
//! Layout, chosen for search speed: level 0 is one flat `f32` array with a
//! fixed stride per node, `[vector (dim) | count | 2M neighbour slots]`, the
//! neighbour ids stored as `f32` bit patterns ([`f32::from_bits`], an exact
//! bit copy). A node's links sit right after its vector, so the cache lines
//! fetched for its similarity also bring its links, and one
//! [`prefetch`](crate::linalg::prefetch) covers both (hnswlib's layout).
//! Upper levels hold few nodes and live in a separate sparse array.
//! The stride is padded to whole 64-byte cache lines and node 0 starts on a
//! line boundary, so a 64-float vector is exactly four lines and every line
//! the search reads is one the prefetch asked for (unaligned, a row straddles
//! a fifth line that was never prefetched).
//!
//! Construction is batch-synchronous so that the graph does not depend on
//! the thread count: the first items are inserted one by one, later ones in
//! batches whose neighbour searches run in parallel against the graph as of
//! the batch start, after which the links are applied in a fixed order.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::error::{Error, Result};
use crate::linalg::{dot, dots, prefetch, simd, Kernel};
use crate::store::{ModelFile, TensorData};

/// Construction and search parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HnswConfig {
    /// Links per node on the upper levels; level 0 keeps up to `2·m`.
    pub m: usize,
    /// Beam width while inserting (higher: better graph, slower build).
    pub ef_construction: usize,
    /// Default beam width for [`Hnsw::search`] when it is passed `ef = 0`.
    pub ef_search: usize,
    /// Seed of the level draws; the graph is a function of data, config and seed.
    pub seed: u64,
}

impl Default for HnswConfig {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 42,
        }
    }
}

impl HnswConfig {
    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if !(2..=256).contains(&self.m) {
            return Err(Error::config(
                "m",
                format!("must be in 2..=256, got {}", self.m),
            ));
        }
        if self.ef_construction == 0 {
            return Err(Error::config("ef_construction", "must be >= 1, got 0"));
        }
        if self.ef_search == 0 {
            return Err(Error::config("ef_search", "must be >= 1, got 0"));
        }
        Ok(())
    }
}

/// Highest level a node may have. Level draws above it have probability
/// `m^-31`; the cap only bounds what a model file may claim.
const MAX_LEVEL: usize = 30;
/// Items inserted one at a time before batching starts: early on, each new
/// node changes the small graph a lot.
const SEQUENTIAL_PREFIX: usize = 1000;
/// Smallest batch (keeps the parallel phase worth its fork/join).
const MIN_BATCH: usize = 256;
/// Batches grow to `inserted / BATCH_DIVISOR`: a batch's nodes cannot see
/// each other while searching, so batches stay a small share of the graph.
const BATCH_DIVISOR: usize = 64;

/// An HNSW index over the rows of a dense `n × dim` matrix; owns the vectors.
#[derive(Debug)]
pub struct Hnsw {
    config: HnswConfig,
    dim: usize,
    n: usize,
    /// Floats per node in `level0`: `dim + 1 + 2m`, rounded up to whole
    /// cache lines.
    stride: usize,
    /// Where node 0 starts in `level0`: the first 64-byte boundary.
    base: usize,
    /// From `base`, per node: vector, link count, `2m` link slots (ids as
    /// f32 bits), padding.
    level0: Vec<f32>,
    /// Per node: its top level.
    levels: Vec<u8>,
    /// Per node with level ≥ 1: offset in `upper` of its level-1 block;
    /// blocks of `m + 1` (`[count, links…]`) follow for each higher level.
    upper_at: Vec<usize>,
    upper: Vec<u32>,
    /// Entry point: the first node (lowest index) of the highest level.
    entry: u32,
    max_level: usize,
}

/// Floats per 64-byte cache line.
const LINE: usize = 16;

impl Clone for Hnsw {
    /// A copy with its own cache-line alignment (a derived clone would keep
    /// `base` while the new allocation may sit elsewhere within a line).
    fn clone(&self) -> Self {
        let len = self.n * self.stride;
        let (base, mut level0) = aligned_zeros(len);
        level0[base..base + len].copy_from_slice(&self.level0[self.base..self.base + len]);
        Self {
            base,
            level0,
            levels: self.levels.clone(),
            upper_at: self.upper_at.clone(),
            upper: self.upper.clone(),
            ..*self
        }
    }
}

/// `len` zeros starting on a 64-byte boundary: the buffer and the offset of
/// that boundary in it.
fn aligned_zeros(len: usize) -> (usize, Vec<f32>) {
    let buf = vec![0f32; len + LINE - 1];
    let misalign = (buf.as_ptr() as usize / std::mem::size_of::<f32>()) % LINE;
    ((LINE - misalign) % LINE, buf)
}

/// A search candidate ordered by similarity, ties to the lower index (the
/// "greater" of two is the better one), so every heap pop is deterministic.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Near {
    sim: f32,
    id: u32,
}

impl Eq for Near {}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sim
            .total_cmp(&other.sim)
            .then_with(|| other.id.cmp(&self.id))
    }
}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Reversed [`Near`]: a max-heap of these pops the worst result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Far(Near);

impl Ord for Far {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.cmp(&self.0)
    }
}

impl PartialOrd for Far {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Per-thread search state, reused so that a search allocates nothing but
/// its result in the steady state.
#[derive(Default)]
struct Scratch {
    /// `visited[i] == epoch` marks node `i` as seen in the current search;
    /// bumping `epoch` clears the set in O(1).
    visited: Vec<u32>,
    epoch: u32,
    cand: BinaryHeap<Near>,
    res: BinaryHeap<Far>,
    ids: Vec<u32>,
    sorted: Vec<Near>,
}

impl Scratch {
    fn new_epoch(&mut self, n: usize) {
        if self.visited.len() < n {
            self.visited.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.visited.fill(0);
            self.epoch = 1;
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch, or a fresh one when it is already in
/// use (a filter callback that itself searches must not panic).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// SplitMix64 (increment, then mix): a tiny, well-mixed hash used to draw
/// each node's level from `(seed, index)` alone, independent of insertion
/// order and threads.
fn splitmix64(x: u64) -> u64 {
    crate::rng::splitmix64(x.wrapping_add(0x9E37_79B9_7F4A_7C15))
}

/// The level of node `i`: geometric with ratio `1/m` (the paper's
/// `mL = 1/ln m`), capped at [`MAX_LEVEL`].
fn draw_level(seed: u64, i: usize, m: usize) -> usize {
    let h = splitmix64(seed ^ splitmix64(i as u64));
    // Uniform in (0, 1]: never 0, so the log is finite.
    let u = ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let level = (-u.ln() / (m as f64).ln()).floor();
    (level as usize).min(MAX_LEVEL)
}

/// What one insertion decided, against the graph as of its batch start:
/// the chosen neighbours (with similarities) for each level `0..=top`.
struct Plan {
    links: Vec<Vec<Near>>,
}

impl Hnsw {
    /// Builds the index over the rows of `vectors` (row-major, `dim`
    /// columns). Similarity is the inner product (callers normalise rows for
    /// cosine). Rows must be finite. `threads` follows
    /// [`resolve_threads`](crate::parallel::resolve_threads) (0 = all
    /// cores); the graph is identical for every thread count.
    pub fn build(
        vectors: Vec<f32>,
        dim: usize,
        config: &HnswConfig,
        threads: usize,
    ) -> Result<Self> {
        config.validate()?;
        if dim == 0 {
            return Err(Error::invalid("hnsw: dim must be >= 1"));
        }
        if !vectors.len().is_multiple_of(dim) {
            return Err(Error::shape(format!(
                "hnsw: {} values are not a whole number of rows of {dim}",
                vectors.len()
            )));
        }
        let n = vectors.len() / dim;
        if n >= u32::MAX as usize {
            return Err(Error::invalid("hnsw: too many rows for u32 indices"));
        }
        if let Some(p) = vectors.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "hnsw: non-finite value in row {}",
                p / dim
            )));
        }
        let levels: Vec<u8> = (0..n)
            .map(|i| draw_level(config.seed, i, config.m) as u8)
            .collect();
        let mut index = Self::empty(config, dim, &vectors, levels);
        drop(vectors);
        let threads = crate::parallel::resolve_threads(threads);
        crate::parallel::install(threads, || index.insert_all());
        Ok(index)
    }

    /// The graph with vectors and levels laid out but no links.
    fn empty(config: &HnswConfig, dim: usize, vectors: &[f32], levels: Vec<u8>) -> Self {
        let m = config.m;
        let n = levels.len();
        let stride = (dim + 1 + 2 * m).div_ceil(LINE) * LINE;
        let (base, mut level0) = aligned_zeros(n * stride);
        for (row, v) in level0[base..]
            .chunks_exact_mut(stride)
            .zip(vectors.chunks_exact(dim))
        {
            row[..dim].copy_from_slice(v);
        }
        let mut upper_at = vec![0usize; n];
        let mut total = 0usize;
        for (at, &l) in upper_at.iter_mut().zip(&levels) {
            *at = total;
            total += l as usize * (m + 1);
        }
        // Before insertion the entry point is node 0; `apply` moves it.
        let max_level = levels.first().map_or(0, |&l| l as usize);
        Self {
            config: *config,
            dim,
            n,
            stride,
            base,
            level0,
            levels,
            upper_at,
            upper: vec![0u32; total],
            entry: 0,
            max_level,
        }
    }

    /// Inserts nodes `1..n` (node 0 is the initial entry point).
    fn insert_all(&mut self) {
        let mut next = 1usize.min(self.n);
        while next < self.n {
            let batch = if next < SEQUENTIAL_PREFIX {
                1
            } else {
                MIN_BATCH.max(next / BATCH_DIVISOR)
            };
            let end = (next + batch).min(self.n);
            let plans = {
                let this = &*self;
                crate::parallel::map_range(next..end, |x| {
                    with_scratch(|s| simd(InsertKernel { index: this, x, s }))
                })
            };
            self.apply(next, plans);
            next = end;
        }
    }

    /// Writes the batch's forward links, then merges the reverse links into
    /// each target's list (pruning with the heuristic when it overflows).
    /// Targets are independent of each other, so their merges run in
    /// parallel; each is a pure function of the batch-start list and the
    /// requests, in item order.
    fn apply(&mut self, first: usize, plans: Vec<Plan>) {
        let mut requests: Vec<(u8, u32, u32)> = Vec::new();
        for (off, plan) in plans.iter().enumerate() {
            let x = (first + off) as u32;
            for (level, links) in plan.links.iter().enumerate() {
                let ids: Vec<u32> = links.iter().map(|c| c.id).collect();
                self.set_links(x, level, &ids);
                requests.extend(ids.iter().map(|&t| (level as u8, t, x)));
            }
        }
        requests.sort_unstable();
        let groups: Vec<&[(u8, u32, u32)]> =
            requests.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1).collect();
        let updates = {
            let this = &*self;
            crate::parallel::map_range(0..groups.len(), |g| {
                let group = groups[g];
                let (level, target) = (group[0].0 as usize, group[0].1);
                let new: Vec<u32> = group.iter().map(|r| r.2).collect();
                simd(MergeKernel {
                    index: this,
                    target,
                    level,
                    new: &new,
                })
            })
        };
        for (group, list) in groups.iter().zip(&updates) {
            self.set_links(group[0].1, group[0].0 as usize, list);
        }
        // The entry point moves to the first node that tops the graph.
        for off in 0..plans.len() {
            let x = first + off;
            let l = self.levels[x] as usize;
            if l > self.max_level {
                self.max_level = l;
                self.entry = x as u32;
            }
        }
    }

    /// Number of indexed rows.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the index has no rows.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Row length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The configuration the index was built (or loaded) with.
    pub fn config(&self) -> &HnswConfig {
        &self.config
    }

    /// Row `i` as given to [`build`](Self::build). Panics if `i >= len()`.
    pub fn vector(&self, i: u32) -> &[f32] {
        self.row(i)
    }

    /// The `k` best `(index, similarity)` pairs for `query`, best first,
    /// ties by lower index. `ef` is the beam width (`0` = the config's
    /// `ef_search`), raised to `k` when smaller. With a `filter`, only items
    /// for which it returns true are returned, but every item is traversed,
    /// so `k` results come back whenever `k` items pass and are reachable
    /// (a very selective filter makes the search visit most of the graph).
    /// A query whose length is not [`dim`](Self::dim) gets no results.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<(u32, f32)> {
        if k == 0 || self.n == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let ef = if ef == 0 { self.config.ef_search } else { ef }.max(k);
        with_scratch(|s| {
            simd(SearchKernel {
                index: self,
                query,
                k,
                ef,
                filter,
                s,
            })
        })
    }

    /// Stores the index as tensors `{prefix}.vectors` (F32 `[n, dim]`),
    /// `{prefix}.levels` (U8 `[n]`), `{prefix}.links0` (U32 `[n, 2m+1]`,
    /// count then slots) and `{prefix}.upper` (U32, `m+1` per node and level
    /// above 0, in node order). The config is the caller's to store.
    pub fn write_to(&self, file: &mut ModelFile, prefix: &str) -> Result<()> {
        let (dim, m0) = (self.dim, 2 * self.config.m);
        let mut vectors = Vec::with_capacity(self.n * dim);
        let mut links0 = Vec::with_capacity(self.n * (m0 + 1));
        for row in self.level0[self.base..].chunks_exact(self.stride) {
            vectors.extend_from_slice(&row[..dim]);
            links0.extend(row[dim..dim + m0 + 1].iter().map(|v| v.to_bits()));
        }
        file.put(
            &format!("{prefix}.vectors"),
            vec![self.n, dim],
            TensorData::F32(vectors),
        )?;
        file.put(
            &format!("{prefix}.levels"),
            vec![self.n],
            TensorData::U8(self.levels.clone()),
        )?;
        file.put(
            &format!("{prefix}.links0"),
            vec![self.n, m0 + 1],
            TensorData::U32(links0),
        )?;
        file.put(
            &format!("{prefix}.upper"),
            vec![self.upper.len()],
            TensorData::U32(self.upper.clone()),
        )
    }

    /// Reads an index written by [`write_to`](Self::write_to) with the
    /// config it was built with. Everything is validated (shapes, counts,
    /// link targets, levels, finiteness); any problem is
    /// [`Error::ModelFormat`], never a panic.
    pub fn read_from(file: &ModelFile, prefix: &str, config: HnswConfig) -> Result<Self> {
        config
            .validate()
            .map_err(|e| Error::format(format!("{prefix}: {e}")))?;
        let bad = |what: &str| Error::format(format!("{prefix}: {what}"));
        let vt = file.tensor(&format!("{prefix}.vectors"))?;
        let (n, dim, vectors) = match (&vt.data, vt.shape.as_slice()) {
            (TensorData::F32(v), &[r, c]) if r.checked_mul(c) == Some(v.len()) && c > 0 => {
                (r, c, v)
            }
            _ => return Err(bad("vectors: expected F32 [n, dim] with dim >= 1")),
        };
        if n >= u32::MAX as usize {
            return Err(bad("too many rows"));
        }
        if vectors.iter().any(|v| !v.is_finite()) {
            return Err(bad("vectors: non-finite value"));
        }
        let levels = match file.tensor(&format!("{prefix}.levels"))? {
            t if t.shape == [n] => match &t.data {
                TensorData::U8(v) if v.len() == n => v.clone(),
                _ => return Err(bad("levels: expected U8 [n]")),
            },
            _ => return Err(bad("levels: expected U8 [n]")),
        };
        if levels.iter().any(|&l| l as usize > MAX_LEVEL) {
            return Err(bad("levels: level above the maximum"));
        }
        let m = config.m;
        let m0 = 2 * m;
        let links0 = match file.tensor(&format!("{prefix}.links0"))? {
            t if t.shape == [n, m0 + 1] => match &t.data {
                TensorData::U32(v) if v.len() == n * (m0 + 1) => v,
                _ => return Err(bad("links0: expected U32 [n, 2m+1]")),
            },
            _ => return Err(bad("links0: expected U32 [n, 2m+1] (does m match?)")),
        };
        let upper = match file.tensor(&format!("{prefix}.upper"))? {
            t if t.shape.len() == 1 => match &t.data {
                TensorData::U32(v) if v.len() == t.shape[0] => v,
                _ => return Err(bad("upper: expected U32 [len]")),
            },
            _ => return Err(bad("upper: expected U32 [len]")),
        };
        let mut index = Self::empty(&config, dim, vectors, levels);
        if index.upper.len() != upper.len() {
            return Err(bad("upper: length does not match the levels"));
        }
        // Every link must point at an existing node that lives on its level,
        // so that search never indexes out of range.
        let check = |list: &[u32], level: usize, max: usize| -> Result<()> {
            let count = *list.first().ok_or_else(|| bad("empty link block"))? as usize;
            if count > max {
                return Err(bad("link count above the maximum"));
            }
            for &t in &list[1..1 + count] {
                if t as usize >= n || (index.levels[t as usize] as usize) < level {
                    return Err(bad("link to a missing node or level"));
                }
            }
            Ok(())
        };
        for block in links0.chunks_exact(m0 + 1) {
            check(block, 0, m0)?;
        }
        for i in 0..n {
            for level in 1..=index.levels[i] as usize {
                let at = index.upper_at[i] + (level - 1) * (m + 1);
                check(&upper[at..at + m + 1], level, m)?;
            }
        }
        for (i, block) in links0.chunks_exact(m0 + 1).enumerate() {
            let at = index.at(i as u32) + dim;
            let row = &mut index.level0[at..at + m0 + 1];
            for (d, &s) in row.iter_mut().zip(block) {
                *d = f32::from_bits(s);
            }
        }
        index.upper.copy_from_slice(upper);
        for (i, &l) in index.levels.iter().enumerate() {
            if i == 0 || l as usize > index.max_level {
                index.max_level = l as usize;
                index.entry = i as u32;
            }
        }
        Ok(index)
    }

    // ---- graph access (all `inline(always)`: they run inside kernels) ----

    /// The vector of node `i`.
    #[inline(always)]
    fn row(&self, i: u32) -> &[f32] {
        let at = self.at(i);
        &self.level0[at..at + self.dim]
    }

    /// Where node `i` starts in `level0`.
    #[inline(always)]
    fn at(&self, i: u32) -> usize {
        self.base + i as usize * self.stride
    }

    /// Neighbour ids of `i` on `level`, calling `f` for each.
    #[inline(always)]
    fn for_links(&self, i: u32, level: usize, mut f: impl FnMut(u32)) {
        if level == 0 {
            let at = self.at(i) + self.dim;
            let count = self.level0[at].to_bits() as usize;
            for v in &self.level0[at + 1..at + 1 + count] {
                f(v.to_bits());
            }
        } else {
            let at = self.upper_at[i as usize] + (level - 1) * (self.config.m + 1);
            let count = self.upper[at] as usize;
            for &t in &self.upper[at + 1..at + 1 + count] {
                f(t);
            }
        }
    }

    /// Replaces the neighbour list of `i` on `level`.
    fn set_links(&mut self, i: u32, level: usize, ids: &[u32]) {
        if level == 0 {
            let at = self.at(i) + self.dim;
            self.level0[at] = f32::from_bits(ids.len() as u32);
            for (d, &t) in self.level0[at + 1..].iter_mut().zip(ids) {
                *d = f32::from_bits(t);
            }
        } else {
            let at = self.upper_at[i as usize] + (level - 1) * (self.config.m + 1);
            self.upper[at] = ids.len() as u32;
            self.upper[at + 1..at + 1 + ids.len()].copy_from_slice(ids);
        }
    }

    /// Greedy descent (beam 1) from the entry point down to level `stop + 1`.
    /// `ids` is scratch space.
    #[inline(always)]
    fn descend(&self, q: &[f32], stop: usize, ids: &mut Vec<u32>) -> Near {
        let mut cur = Near {
            sim: dot(self.row(self.entry), q),
            id: self.entry,
        };
        let mut level = self.max_level;
        while level > stop {
            loop {
                ids.clear();
                self.for_links(cur.id, level, |t| {
                    prefetch(self.row(t));
                    ids.push(t);
                });
                let best = self.best_of(ids, q, cur);
                if best == cur {
                    break;
                }
                cur = best;
            }
            level -= 1;
        }
        cur
    }

    /// The most similar to `q` of `best` and the nodes `ids`, scoring four
    /// at a time so that their add chains overlap.
    #[inline(always)]
    fn best_of(&self, ids: &[u32], q: &[f32], mut best: Near) -> Near {
        let mut chunks = ids.chunks_exact(4);
        for ch in &mut chunks {
            let rows = [ch[0], ch[1], ch[2], ch[3]].map(|id| self.row(id));
            for (&id, sim) in ch.iter().zip(dots::<4>(rows, q)) {
                best = best.max(Near { sim, id });
            }
        }
        for &id in chunks.remainder() {
            best = best.max(Near {
                sim: dot(self.row(id), q),
                id,
            });
        }
        best
    }

    /// Beam search on one level from the entry points in `s.sorted`,
    /// leaving the up-to-`ef` best (filter-passing) nodes in `s.res`.
    #[inline(always)]
    fn search_level(
        &self,
        q: &[f32],
        ef: usize,
        level: usize,
        filter: Option<&dyn Fn(u32) -> bool>,
        s: &mut Scratch,
    ) {
        s.new_epoch(self.n);
        s.cand.clear();
        s.res.clear();
        let epoch = s.epoch;
        for &c in &s.sorted {
            s.visited[c.id as usize] = epoch;
            s.cand.push(c);
            if filter.is_none_or(|f| f(c.id)) {
                s.res.push(Far(c));
                if s.res.len() > ef {
                    s.res.pop();
                }
            }
        }
        while let Some(c) = s.cand.pop() {
            if s.res.len() >= ef && s.res.peek().is_some_and(|w| c < w.0) {
                break;
            }
            s.ids.clear();
            let visited = &mut s.visited;
            let ids = &mut s.ids;
            self.for_links(c.id, level, |t| {
                let v = &mut visited[t as usize];
                if *v != epoch {
                    *v = epoch;
                    prefetch(self.row(t));
                    ids.push(t);
                }
            });
            // Prefetch the links and vector of the likely next candidate.
            if let Some(next) = s.cand.peek() {
                let at = self.at(next.id) + self.dim;
                prefetch(&self.level0[at..at + 1 + 2 * self.config.m]);
            }
            let mut chunks = s.ids.chunks_exact(4);
            for ch in &mut chunks {
                let sims = dots::<4>(
                    [
                        self.row(ch[0]),
                        self.row(ch[1]),
                        self.row(ch[2]),
                        self.row(ch[3]),
                    ],
                    q,
                );
                for (&id, sim) in ch.iter().zip(sims) {
                    consider(&mut s.cand, &mut s.res, Near { sim, id }, ef, filter);
                }
            }
            for &id in chunks.remainder() {
                let sim = dot(self.row(id), q);
                consider(&mut s.cand, &mut s.res, Near { sim, id }, ef, filter);
            }
        }
    }

    /// HNSW neighbour-selection heuristic: walk `cands` (best first) and keep
    /// a candidate only if it is more similar to the base point than to every
    /// one kept so far, up to `max`. Favours links in diverse directions,
    /// which keeps clustered data navigable.
    #[inline(always)]
    fn select(&self, cands: &[Near], max: usize, out: &mut Vec<Near>) {
        out.clear();
        if cands.len() <= max {
            out.extend_from_slice(cands);
            return;
        }
        for &c in cands {
            if out.len() >= max {
                break;
            }
            let row = self.row(c.id);
            // Plain loops, not `Iterator::all` (that call was not inlined
            // into the SIMD kernel, so its `dot` ran without AVX), and four
            // kept rows at a time so that their add chains overlap.
            let mut chunks = out.chunks_exact(4);
            let mut diverse = true;
            for ch in &mut chunks {
                let rows = [ch[0].id, ch[1].id, ch[2].id, ch[3].id].map(|id| self.row(id));
                let sims = dots::<4>(rows, row);
                if sims[0].max(sims[1]).max(sims[2]).max(sims[3]) > c.sim {
                    diverse = false;
                    break;
                }
            }
            if diverse {
                for kept in chunks.remainder() {
                    if dot(self.row(kept.id), row) > c.sim {
                        diverse = false;
                        break;
                    }
                }
            }
            if diverse {
                out.push(c);
            }
        }
    }
}

/// Offers a freshly scored node to the beam: it is explored if it could
/// improve the results, and kept as a result if it passes the filter.
#[inline(always)]
fn consider(
    cand: &mut BinaryHeap<Near>,
    res: &mut BinaryHeap<Far>,
    c: Near,
    ef: usize,
    filter: Option<&dyn Fn(u32) -> bool>,
) {
    if res.len() < ef || res.peek().is_some_and(|w| c > w.0) {
        cand.push(c);
        if filter.is_none_or(|f| f(c.id)) {
            if res.len() < ef {
                res.push(Far(c));
            } else if let Some(mut worst) = res.peek_mut() {
                // Replace the worst in place: one sift-down instead of a
                // push (sift-up) and a pop (sift-down).
                *worst = Far(c);
            }
        }
    }
}

/// One query, compiled for SIMD.
struct SearchKernel<'a> {
    index: &'a Hnsw,
    query: &'a [f32],
    k: usize,
    ef: usize,
    filter: Option<&'a dyn Fn(u32) -> bool>,
    s: &'a mut Scratch,
}

impl Kernel for SearchKernel<'_> {
    type Output = Vec<(u32, f32)>;
    #[inline(always)]
    fn run(self) -> Vec<(u32, f32)> {
        let Self {
            index,
            query,
            k,
            ef,
            filter,
            s,
        } = self;
        let start = index.descend(query, 0, &mut s.ids);
        s.sorted.clear();
        s.sorted.push(start);
        index.search_level(query, ef, 0, filter, s);
        while s.res.len() > k {
            s.res.pop();
        }
        let mut out: Vec<(u32, f32)> = Vec::with_capacity(s.res.len());
        while let Some(Far(c)) = s.res.pop() {
            out.push((c.id, c.sim));
        }
        out.reverse();
        out
    }
}

/// The neighbour search for inserting node `x`, compiled for SIMD. Reads
/// only the graph as of the batch start.
struct InsertKernel<'a> {
    index: &'a Hnsw,
    x: usize,
    s: &'a mut Scratch,
}

impl Kernel for InsertKernel<'_> {
    type Output = Plan;
    #[inline(always)]
    fn run(self) -> Plan {
        let Self { index, x, s } = self;
        let q = index.row(x as u32);
        let top = (index.levels[x] as usize).min(index.max_level);
        let mut links = vec![Vec::new(); top + 1];
        let start = index.descend(q, top, &mut s.ids);
        s.sorted.clear();
        s.sorted.push(start);
        let ef = index.config.ef_construction;
        let mut kept = Vec::new();
        for level in (0..=top).rev() {
            index.search_level(q, ef, level, None, s);
            s.sorted.clear();
            s.sorted.extend(s.res.drain().map(|f| f.0));
            s.sorted.sort_unstable_by(|a, b| b.cmp(a));
            index.select(&s.sorted, index.config.m, &mut kept);
            links[level] = kept.clone();
        }
        Plan { links }
    }
}

/// Merges new reverse links into `target`'s list on `level`, pruning with
/// the heuristic when it would exceed the level's maximum.
struct MergeKernel<'a> {
    index: &'a Hnsw,
    target: u32,
    level: usize,
    new: &'a [u32],
}

impl Kernel for MergeKernel<'_> {
    type Output = Vec<u32>;
    #[inline(always)]
    fn run(self) -> Vec<u32> {
        let Self {
            index,
            target,
            level,
            new,
        } = self;
        let max = if level == 0 {
            2 * index.config.m
        } else {
            index.config.m
        };
        let mut ids = Vec::with_capacity(max + new.len());
        index.for_links(target, level, |t| ids.push(t));
        ids.extend_from_slice(new);
        if ids.len() <= max {
            return ids;
        }
        let base = index.row(target);
        let mut cands: Vec<Near> = Vec::with_capacity(ids.len());
        let mut chunks = ids.chunks_exact(4);
        for ch in &mut chunks {
            let rows = [ch[0], ch[1], ch[2], ch[3]].map(|id| index.row(id));
            let sims = dots::<4>(rows, base);
            cands.extend(ch.iter().zip(sims).map(|(&id, sim)| Near { sim, id }));
        }
        cands.extend(chunks.remainder().iter().map(|&id| Near {
            sim: dot(index.row(id), base),
            id,
        }));
        cands.sort_unstable_by(|a, b| b.cmp(a));
        let mut kept = Vec::with_capacity(max);
        index.select(&cands, max, &mut kept);
        kept.iter().map(|c| c.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clustered unit vectors from a fixed seed.
    fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut rnd = move || {
            state = splitmix64(state);
            ((state >> 11) as f64 / (1u64 << 53) as f64) as f32 * 2.0 - 1.0
        };
        let centres: Vec<f32> = (0..clusters * dim).map(|_| rnd()).collect();
        let mut out = Vec::with_capacity(n * dim);
        for i in 0..n {
            let c = &centres[(i % clusters) * dim..][..dim];
            let row: Vec<f32> = c.iter().map(|&x| x + 0.35 * rnd()).collect();
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            out.extend(row.iter().map(|x| x / norm));
        }
        out
    }

    fn exact(data: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<u32> {
        let mut all: Vec<(u32, f32)> = data
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, r)| (i as u32, dot(r, q)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all.into_iter().map(|x| x.0).collect()
    }

    #[test]
    fn recall_at_10_beats_095() {
        let (n, dim) = (3000, 32);
        let data = clustered(n + 200, dim, 20, 7);
        let (base, queries) = data.split_at(n * dim);
        let index = Hnsw::build(base.to_vec(), dim, &HnswConfig::default(), 2).unwrap();
        let mut hits = 0;
        for q in queries.chunks_exact(dim) {
            let got = index.search(q, 10, 0, None);
            assert_eq!(got.len(), 10);
            assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
            let truth = exact(base, dim, q, 10);
            hits += got.iter().filter(|g| truth.contains(&g.0)).count();
        }
        let recall = hits as f64 / (200.0 * 10.0);
        assert!(recall >= 0.95, "recall {recall}");
    }

    #[test]
    fn filtered_search_returns_only_allowed_items() {
        let (n, dim) = (2000, 16);
        let data = clustered(n, dim, 10, 3);
        let index = Hnsw::build(data.clone(), dim, &HnswConfig::default(), 1).unwrap();
        let q = &data[5 * dim..6 * dim];
        let tenth = |i: u32| i % 10 == 3;
        let got = index.search(q, 10, 0, Some(&tenth));
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|g| g.0 % 10 == 3));
        // Same as exact search restricted to the allowed items, mostly.
        let allowed: Vec<f32> = data
            .chunks_exact(dim)
            .enumerate()
            .filter(|(i, _)| i % 10 == 3)
            .flat_map(|(_, r)| r.iter().copied())
            .collect();
        let truth: Vec<u32> = exact(&allowed, dim, q, 10)
            .into_iter()
            .map(|i| i * 10 + 3)
            .collect();
        let hits = got.iter().filter(|g| truth.contains(&g.0)).count();
        assert!(hits >= 8, "{hits}");
        // Three allowed items in the whole index: all three come back.
        let rare = |i: u32| i == 17 || i == 1234 || i == 1999;
        let got = index.search(q, 10, 0, Some(&rare));
        let mut ids: Vec<u32> = got.iter().map(|g| g.0).collect();
        ids.sort();
        assert_eq!(ids, vec![17, 1234, 1999]);
        let none = |_: u32| false;
        assert!(index.search(q, 5, 0, Some(&none)).is_empty());
    }

    #[test]
    fn edge_cases() {
        let dim = 8;
        let data = clustered(50, dim, 3, 1);
        let index = Hnsw::build(data.clone(), dim, &HnswConfig::default(), 1).unwrap();
        let q = &data[..dim];
        assert_eq!(index.search(q, 500, 0, None).len(), 50);
        assert!(index.search(q, 0, 0, None).is_empty());
        assert!(index.search(&q[..3], 5, 0, None).is_empty());
        assert_eq!(index.search(q, 1, 0, None)[0].0, 0);
        assert_eq!(index.vector(3), &data[3 * dim..4 * dim]);
        assert_eq!(
            (index.len(), index.dim(), index.is_empty()),
            (50, dim, false)
        );
        let empty = Hnsw::build(Vec::new(), dim, &HnswConfig::default(), 1).unwrap();
        assert!(empty.is_empty());
        assert!(empty.search(q, 5, 0, None).is_empty());
        let one = Hnsw::build(data[..dim].to_vec(), dim, &HnswConfig::default(), 1).unwrap();
        assert_eq!(one.search(q, 5, 0, None).len(), 1);
        // Bad input and config are errors.
        assert!(Hnsw::build(vec![0.0; 7], dim, &HnswConfig::default(), 1).is_err());
        assert!(Hnsw::build(vec![f32::NAN; 8], dim, &HnswConfig::default(), 1).is_err());
        assert!(Hnsw::build(vec![0.0; 8], 0, &HnswConfig::default(), 1).is_err());
        for bad in [
            HnswConfig {
                m: 1,
                ..Default::default()
            },
            HnswConfig {
                m: 257,
                ..Default::default()
            },
            HnswConfig {
                ef_construction: 0,
                ..Default::default()
            },
            HnswConfig {
                ef_search: 0,
                ..Default::default()
            },
        ] {
            assert!(matches!(bad.validate(), Err(Error::Config { .. })));
            assert!(Hnsw::build(data.clone(), dim, &bad, 1).is_err());
        }
    }

    #[test]
    fn graph_is_identical_for_any_thread_count() {
        let (n, dim) = (4000, 16);
        let data = clustered(n, dim, 25, 11);
        let config = HnswConfig {
            m: 8,
            ef_construction: 64,
            ..Default::default()
        };
        let a = Hnsw::build(data.clone(), dim, &config, 1).unwrap();
        let b = Hnsw::build(data.clone(), dim, &config, 2).unwrap();
        let len = n * a.stride;
        let (la, lb) = (&a.level0[a.base..][..len], &b.level0[b.base..][..len]);
        assert!(la.iter().zip(lb).all(|(x, y)| x.to_bits() == y.to_bits()));
        // Rows start on cache lines, in clones too.
        let c = a.clone();
        for x in [&a, &b, &c] {
            assert_eq!(x.level0[x.base..].as_ptr() as usize % 64, 0);
        }
        assert_eq!(
            c.search(&data[..dim], 10, 0, None),
            a.search(&data[..dim], 10, 0, None)
        );
        assert_eq!(a.upper, b.upper);
        assert_eq!((a.entry, a.max_level), (b.entry, b.max_level));
        for q in data.chunks_exact(dim).step_by(97) {
            assert_eq!(a.search(q, 10, 0, None), b.search(q, 10, 0, None));
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let (n, dim) = (1500, 8);
        let data = clustered(n, dim, 5, 5);
        let config = HnswConfig {
            m: 6,
            ..Default::default()
        };
        let index = Hnsw::build(data.clone(), dim, &config, 2).unwrap();
        let mut file = ModelFile::new();
        index.write_to(&mut file, "ann").unwrap();
        let back = ModelFile::from_bytes(&file.to_bytes().unwrap()).unwrap();
        let loaded = Hnsw::read_from(&back, "ann", config).unwrap();
        for q in data.chunks_exact(dim).step_by(31) {
            assert_eq!(index.search(q, 7, 0, None), loaded.search(q, 7, 0, None));
        }
        let format = |f: &ModelFile, c: HnswConfig| {
            matches!(Hnsw::read_from(f, "ann", c), Err(Error::ModelFormat(_)))
        };
        // Wrong m: the links0 shape does not fit.
        assert!(format(&file, HnswConfig { m: 7, ..config }));
        assert!(format(&file, HnswConfig { m: 0, ..config }));
        let m0 = 2 * config.m + 1;
        let links = |f: &ModelFile| match &f.tensor("ann.links0").unwrap().data {
            TensorData::U32(v) => v.clone(),
            _ => unreachable!(),
        };
        let with = |name: &str, shape: Vec<usize>, d: TensorData| {
            let mut f = file.clone();
            f.put(name, shape, d).unwrap();
            f
        };
        let mut l = links(&file);
        l[1] = n as u32; // out-of-range neighbour
        assert!(format(
            &with("ann.links0", vec![n, m0], TensorData::U32(l)),
            config
        ));
        let mut l = links(&file);
        l[m0] = 99; // count above the maximum
        assert!(format(
            &with("ann.links0", vec![n, m0], TensorData::U32(l)),
            config
        ));
        let l = links(&file);
        let short = l[..l.len() - m0].to_vec(); // truncated
        assert!(format(
            &with("ann.links0", vec![n - 1, m0], TensorData::U32(short)),
            config
        ));
        assert!(format(
            &with("ann.links0", vec![l.len()], TensorData::U32(l)),
            config
        ));
        let mut lv = vec![0u8; n];
        lv[0] = 31; // bad level
        assert!(format(
            &with("ann.levels", vec![n], TensorData::U8(lv)),
            config
        ));
        // Levels that no longer match the upper blocks.
        assert!(format(
            &with("ann.levels", vec![n], TensorData::U8(vec![0; n])),
            config
        ));
        let mut up = match &file.tensor("ann.upper").unwrap().data {
            TensorData::U32(v) => v.clone(),
            _ => unreachable!(),
        };
        assert!(!up.is_empty());
        // A level-1 link to a node that is not on level 1.
        let lvl0_node = index.levels.iter().position(|&l| l == 0).unwrap() as u32;
        up[0] = 1;
        up[1] = lvl0_node;
        assert!(format(
            &with("ann.upper", vec![up.len()], TensorData::U32(up.clone())),
            config
        ));
        up.pop();
        assert!(format(
            &with("ann.upper", vec![up.len()], TensorData::U32(up)),
            config
        ));
        let mut v = data.clone();
        v[3] = f32::INFINITY;
        assert!(format(
            &with("ann.vectors", vec![n, dim], TensorData::F32(v)),
            config
        ));
        assert!(format(
            &with("ann.vectors", vec![n * dim], TensorData::F32(data)),
            config
        ));
        assert!(Hnsw::read_from(&file, "nope", config).is_err());
    }
}
