//! The few dense kernels shared by ALS, scoring and search: dot products,
//! Gram matrices and blocked products through faer, and top-k selection.
//!
//! `dot` keeps eight independent lane sums and adds them in a fixed order,
//! with no fused multiply-add. That loop vectorises to one AVX2 (or two
//! SSE/wasm-simd) registers with identical rounding, so results are
//! bit-identical on every platform; [`simd`] runs a [`Kernel`] compiled for
//! the best instruction set this CPU has (detected at run time, so shipped
//! builds need no `-C target-cpu`).

use std::cmp::Ordering;

use faer::{linalg::matmul::matmul, Accum, MatMut, MatRef, Par};

/// A hot loop to run under [`simd`]. Implementations mark `run`
/// `#[inline(always)]` and call only `#[inline(always)]` helpers, so the
/// whole loop is compiled inside the SIMD-enabled function (a closure would
/// not reliably be inlined there).
pub trait Kernel {
    /// What the loop returns.
    type Output;
    /// The loop.
    fn run(self) -> Self::Output;
}

/// A stored vector element the kernels read as `f32`: `f32` itself, or
/// [`Bf16`] where halving the bytes gathered matters more than the last
/// mantissa bits.
pub trait Elem: Copy + Send + Sync + 'static {
    /// The value as `f32` (exact for both types).
    fn widen(self) -> f32;
}

impl Elem for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}

/// A bfloat16: the upper half of an `f32` (8 exponent bits, 7 mantissa
/// bits), so widening is a shift and the range is `f32`'s.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(transparent)]
pub struct Bf16(u16);

impl Bf16 {
    /// Bit patterns viewed as bfloat16s (no copy).
    pub fn from_bits_slice(bits: &[u16]) -> &[Bf16] {
        // SAFETY: `Bf16` is a `repr(transparent)` `u16`, so the layouts match.
        unsafe { std::slice::from_raw_parts(bits.as_ptr().cast(), bits.len()) }
    }
}

impl Elem for Bf16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        f32::from_bits(u32::from(self.0) << 16)
    }
}

struct Dispatch<K>(K);

impl<K: Kernel> pulp::WithSimd for Dispatch<K> {
    type Output = K::Output;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> K::Output {
        self.0.run()
    }
}

/// Runs `kernel` compiled for the widest SIMD instruction set detected on
/// this CPU (AVX2 on current x86-64; baseline elsewhere).
#[inline]
pub fn simd<K: Kernel>(kernel: K) -> K::Output {
    pulp::Arch::new().dispatch(Dispatch(kernel))
}

/// Dot products of `N` rows with one vector `v` (rows at least as long as
/// `v`), interleaved so that their add chains overlap instead of waiting on
/// each other. Each result equals [`dot`]`(rows[i], v)` bit for bit.
#[inline(always)]
pub fn dots<const N: usize>(rows: [&[impl Elem]; N], v: &[f32]) -> [f32; N] {
    let n = v.len();
    let mut acc = [[0f32; 8]; N];
    let rows = rows.map(|r| &r[..n]);
    for c in 0..n / 8 {
        let vb: &[f32; 8] = v[c * 8..c * 8 + 8].try_into().expect("8 lanes");
        for (r, a) in rows.iter().zip(acc.iter_mut()) {
            let rb = lanes(r, c);
            for j in 0..8 {
                a[j] += rb[j].widen() * vb[j];
            }
        }
    }
    let tail = n - n % 8;
    let mut out = [0f32; N];
    for i in 0..N {
        let rest: f32 = rows[i][tail..n]
            .iter()
            .zip(&v[tail..])
            .map(|(x, y)| x.widen() * y)
            .sum();
        let mut s = rest;
        for v in acc[i] {
            s += v;
        }
        out[i] = s;
    }
    out
}

/// The `c`-th run of eight elements of `r`.
#[inline(always)]
fn lanes<T: Elem>(r: &[T], c: usize) -> &[T; 8] {
    r[c * 8..c * 8 + 8].try_into().expect("8 lanes")
}

/// Dot product with eight lane accumulators (see the module docs).
#[inline(always)]
pub fn dot<T: Elem>(a: &[T], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for j in 0..8 {
            acc[j] += x[j].widen() * y[j];
        }
    }
    let rest: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x.widen() * y)
        .sum();
    let mut s = rest;
    for v in acc {
        s += v;
    }
    s
}

/// Hints the CPU to start loading `row` into cache (a no-op where there is
/// no prefetch instruction). Gathered factor rows are the main memory cost
/// of ALS; asking for them a few entries early overlaps the misses.
#[inline(always)]
pub fn prefetch<T>(row: &[T]) {
    #[cfg(target_arch = "x86_64")]
    for line in row.chunks(64 / std::mem::size_of::<T>().max(1)) {
        // SAFETY: prefetching is a hint; it never faults, even on bad addresses,
        // and here the address is inside a live slice.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// `y += alpha * x`.
#[inline(always)]
pub fn axpy<T: Elem>(alpha: f32, x: &[T], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi.widen();
    }
}

/// `out += Σᵢ alphas[i]·xs[i]` in one sweep over `out` (one load and store
/// of `out` per element instead of one per term).
#[inline(always)]
pub fn axpys<const N: usize>(alphas: [f32; N], xs: [&[impl Elem]; N], out: &mut [f32]) {
    let n = out.len();
    let xs = xs.map(|x| &x[..n]);
    let mut blocks = out.chunks_exact_mut(8);
    for (c, o) in (&mut blocks).enumerate() {
        let o: &mut [f32; 8] = o.try_into().expect("8 lanes");
        let mut s = *o;
        for i in 0..N {
            let x = lanes(xs[i], c);
            for j in 0..8 {
                s[j] += alphas[i] * x[j].widen();
            }
        }
        *o = s;
    }
    let tail = n - n % 8;
    for (l, o) in blocks.into_remainder().iter_mut().enumerate() {
        for i in 0..N {
            *o += alphas[i] * xs[i][tail + l].widen();
        }
    }
}

/// `out = m·v` for a symmetric row-major `m` (`v.len()` square), summed
/// as rows of `m` scaled by `v`'s entries, four at a time: no horizontal
/// sums, unlike [`gemv`].
#[inline(always)]
pub fn symv(m: &[f32], v: &[f32], out: &mut [f32]) {
    let k = v.len();
    out.fill(0.0);
    let mut rows = m[..k * k].chunks_exact(4 * k.max(1));
    let mut vs = v.chunks_exact(4);
    for (r, c) in (&mut rows).zip(&mut vs) {
        let rs = [&r[..k], &r[k..2 * k], &r[2 * k..3 * k], &r[3 * k..]];
        axpys([c[0], c[1], c[2], c[3]], rs, out);
    }
    for (r, &c) in rows.remainder().chunks_exact(k.max(1)).zip(vs.remainder()) {
        axpy(c, r, out);
    }
}

/// `out[i] = m[i]·v` for the rows of a row-major matrix with `v.len()`
/// columns (one row at a time: measured faster here than [`dots`]).
#[inline(always)]
pub fn gemv(m: &[f32], v: &[f32], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(m.chunks_exact(v.len().max(1))) {
        *o = dot(row, v);
    }
}

/// Solves `A x = b` in place for a symmetric positive-definite row-major
/// `k×k` matrix `a` of which only the upper triangle is read; `a` is
/// overwritten by `U` with `A = UᵀU`, and `b` by `x`. Returns false (with
/// `b` unspecified) when `A` is not numerically positive definite.
#[inline(always)]
pub fn cholesky_solve(a: &mut [f32], b: &mut [f32]) -> bool {
    if !cholesky_factor(a, b.len()) {
        return false;
    }
    cholesky_solve_factored(a, b);
    true
}

/// Factors a symmetric positive-definite row-major `k×k` matrix in place
/// into its upper triangle `U` with `A = UᵀU` (only the upper triangle is
/// read; the lower one is left as scratch). Returns false when `A` is not numerically positive
/// definite. Separate from the solve so one factor can serve many
/// right-hand sides (ALS explanations).
///
/// Right-looking on rows of `U`, [`CHOLESKY_PANEL`] rows at a time: a
/// panel's rows are finished in turn, then each later row takes the whole
/// panel's updates in one [`axpys`] sweep (one load and store of it, not
/// one per row of the panel). Every element still receives its updates in
/// the order of the unblocked algorithm, so the bits are the same. A row's
/// update starts at the 8-lane block holding its diagonal, which makes it
/// whole blocks with no scalar tail when `k` is a multiple of 8; the
/// columns before the diagonal it also writes are below it, scratch here.
#[inline(always)]
pub fn cholesky_factor(a: &mut [f32], k: usize) -> bool {
    for start in (0..k).step_by(CHOLESKY_PANEL) {
        let end = (start + CHOLESKY_PANEL).min(k);
        let (done, later) = a[..k * k].split_at_mut(end * k);
        let panel = &mut done[start * k..];
        for j in start..end {
            let (head, tail) = panel.split_at_mut((j + 1 - start) * k);
            let row_j = &mut head[(j - start) * k..];
            let d = row_j[j];
            if d.is_nan() || d <= 0.0 {
                return false;
            }
            let u = d.sqrt();
            row_j[j] = u;
            let inv = 1.0 / u;
            row_j[j + 1..].iter_mut().for_each(|v| *v *= inv);
            for (i, row_i) in (j + 1..end).zip(tail.chunks_exact_mut(k)) {
                let from = i - i % 8;
                axpys([-row_j[i]], [&row_j[from..]], &mut row_i[from..]);
            }
        }
        if end - start == CHOLESKY_PANEL {
            let panel = &done[start * k..];
            let rows: [&[f32]; CHOLESKY_PANEL] =
                std::array::from_fn(|r| &panel[r * k..(r + 1) * k]);
            for (i, row_i) in (end..k).zip(later.chunks_exact_mut(k)) {
                let from = i - i % 8;
                axpys(
                    rows.map(|r| -r[i]),
                    rows.map(|r| &r[from..]),
                    &mut row_i[from..],
                );
            }
        }
    }
    true
}

/// Rows of the Cholesky factor finished together by [`cholesky_factor`].
const CHOLESKY_PANEL: usize = 4;

/// Solves `UᵀU x = b` in place for the factor `u` of [`cholesky_factor`]
/// (`k = b.len()`; only the upper triangle of `u` is read).
#[inline(always)]
pub fn cholesky_solve_factored(u: &[f32], b: &mut [f32]) {
    let k = b.len();
    // Uᵀ y = b, column by column as row axpys of U.
    for j in 0..k {
        let row = &u[j * k..(j + 1) * k];
        b[j] /= row[j];
        let yj = b[j];
        axpy(-yj, &row[j + 1..], &mut b[j + 1..]);
    }
    // U x = y
    for j in (0..k).rev() {
        let row = &u[j * k..(j + 1) * k];
        b[j] = (b[j] - dot(&row[j + 1..], &b[j + 1..])) / row[j];
    }
}

/// Items per panel of [`to_panels`].
pub const PANEL: usize = 64;

/// Re-lays a row-major `n×k` matrix as panels of [`PANEL`] rows stored
/// column by column (`panel[d][j]` = row `p·PANEL + j`, column `d`; the last
/// panel zero-padded), the layout [`PanelScores`] streams through.
pub fn to_panels(m: &[f32], k: usize) -> Vec<f32> {
    let n = m.len() / k.max(1);
    let mut out = vec![0f32; n.div_ceil(PANEL) * PANEL * k];
    for (i, row) in m.chunks_exact(k.max(1)).enumerate() {
        let panel = &mut out[(i / PANEL) * PANEL * k..];
        for (d, &x) in row.iter().enumerate() {
            panel[d * PANEL + i % PANEL] = x;
        }
    }
    out
}

/// Scores `v` against every row of a matrix in [`to_panels`] layout:
/// `out[i] = Σ_d v[d]·m[i][d]`, summed in order of `d` for each row. There
/// is no horizontal reduction: [`PANEL`] rows accumulate side by side in
/// registers, which makes this the fastest way to score one vector against
/// a catalog (and, the order being fixed, the same bits on every platform).
pub struct PanelScores<'a> {
    /// The matrix in panel layout.
    pub panels: &'a [f32],
    /// The vector (`k` values).
    pub v: &'a [f32],
    /// One score per row (the matrix's row count).
    pub out: &'a mut [f32],
}

impl Kernel for PanelScores<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let k = self.v.len();
        if k == 0 {
            self.out.fill(0.0);
            return;
        }
        for (panel, out) in self
            .panels
            .chunks_exact(k * PANEL)
            .zip(self.out.chunks_mut(PANEL))
        {
            let mut acc = [0f32; PANEL];
            for (&q, col) in self.v.iter().zip(panel.chunks_exact(PANEL)) {
                for j in 0..PANEL {
                    acc[j] += q * col[j];
                }
            }
            out.copy_from_slice(&acc[..out.len()]);
        }
    }
}

/// `FᵀF` (k×k, row-major) of a row-major `rows×k` matrix. Sequential so the
/// result does not depend on the thread count.
pub fn gram(f: &[f32], rows: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0f32; k * k];
    if rows == 0 || k == 0 {
        return out;
    }
    let a = MatRef::from_row_major_slice(f, rows, k);
    let dst = MatMut::from_row_major_slice_mut(&mut out, k, k);
    matmul(dst, Accum::Replace, a.transpose(), a, 1.0f32, Par::Seq);
    out
}

/// `out = A·Bᵀ` for row-major `A` (`m×k`) and `B` (`n×k`); `out` is `m×n`
/// row-major. Used to score a block of users against every item at once.
pub fn gemm_abt(a: &[f32], m: usize, b: &[f32], n: usize, k: usize, out: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    let a = MatRef::from_row_major_slice(&a[..m * k], m, k);
    let b = MatRef::from_row_major_slice(&b[..n * k], n, k);
    let dst = MatMut::from_row_major_slice_mut(&mut out[..m * n], m, n);
    matmul(dst, Accum::Replace, a, b.transpose(), 1.0f32, Par::Seq);
}

// ---- Top-k selection: the one implementation every ranking site uses. ----
//
// The order is always "higher score first, then lower index", so results are
// deterministic and identical in every runtime (the cross-runtime fixture
// depends on it).

/// Ranking order of `(index, score)` pairs: higher score first, then lower
/// index (deterministic ties). `Less` means `a` ranks before `b`.
#[inline]
pub fn better<S: PartialOrd>(a: &(u32, S), b: &(u32, S)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(a.0.cmp(&b.0))
}

/// Moves the `k` elements of `v` that rank first under `order` (`Less` =
/// ranks before) to its front, in no particular order; the rest follow.
/// Linear time. With a total order the chosen set is unique.
pub fn partition_best<T>(v: &mut [T], k: usize, order: impl FnMut(&T, &T) -> Ordering) {
    if k > 0 && v.len() > k {
        v.select_nth_unstable_by(k - 1, order);
    }
}

/// Keeps the `k` elements of `v` that rank first under `order`, sorted
/// (selection, then a sort of only those `k`).
pub fn top_k_by<T>(v: &mut Vec<T>, k: usize, mut order: impl FnMut(&T, &T) -> Ordering) {
    partition_best(v, k, &mut order);
    v.truncate(k);
    v.sort_unstable_by(order);
}

/// Above this many results, selection beats keeping a sorted list.
const SMALL_K: usize = 64;

/// The `k` best `(index, score)` pairs of `candidates`, best first (ties by
/// lower index). Small `k` keeps a sorted list and rejects most candidates
/// with one comparison; large `k` uses linear-time selection. `buf` is
/// reusable scratch.
pub fn top_k(
    candidates: impl Iterator<Item = (u32, f32)>,
    k: usize,
    buf: &mut Vec<(u32, f32)>,
) -> Vec<(u32, f32)> {
    buf.clear();
    if k == 0 {
        return Vec::new();
    }
    if k <= SMALL_K {
        for c in candidates {
            if buf.len() == k {
                if better(&c, &buf[k - 1]) != Ordering::Less {
                    continue;
                }
                buf.pop();
            }
            let at = buf.partition_point(|e| better(e, &c) == Ordering::Less);
            buf.insert(at, c);
        }
        return buf.clone();
    }
    buf.extend(candidates);
    top_k_by(buf, k, better);
    buf.clone()
}

/// [`top_k`] over a whole score vector (index = position), leaving out
/// `-inf` entries (the "not eligible" mark). Most scores lose against the
/// current k-th best, so blocks whose maximum cannot enter are skipped with
/// one vectorised comparison.
pub fn top_k_scores(scores: &[f32], k: usize, buf: &mut Vec<(u32, f32)>) -> Vec<(u32, f32)> {
    simd(TopKScores { scores, k, buf })
}

/// The best `k` entries of `scores` (`-inf` = ineligible) whose index
/// `keep` accepts, best first. Asks [`top_k_scores`] for a few more than
/// `k` and widens only when filtered-out entries crowd the top, so an
/// unselective filter costs nearly nothing and a selective one stays exact.
pub fn top_k_scores_where(
    scores: &[f32],
    k: usize,
    keep: impl Fn(u32) -> bool,
    buf: &mut Vec<(u32, f32)>,
) -> Vec<(u32, f32)> {
    let mut m = k.saturating_mul(2).max(k.saturating_add(16));
    loop {
        let top = top_k_scores(scores, m, buf);
        let exhausted = top.len() < m;
        let kept: Vec<(u32, f32)> = top.into_iter().filter(|c| keep(c.0)).take(k).collect();
        if kept.len() == k || exhausted {
            return kept;
        }
        m = m.saturating_mul(4);
    }
}

struct TopKScores<'a> {
    scores: &'a [f32],
    k: usize,
    buf: &'a mut Vec<(u32, f32)>,
}

impl Kernel for TopKScores<'_> {
    type Output = Vec<(u32, f32)>;
    #[inline(always)]
    fn run(self) -> Vec<(u32, f32)> {
        top_k_scores_scan(self.scores, self.k, self.buf)
    }
}

#[inline(always)]
fn top_k_scores_scan(scores: &[f32], k: usize, buf: &mut Vec<(u32, f32)>) -> Vec<(u32, f32)> {
    if k == 0 || k > SMALL_K {
        let eligible = scores
            .iter()
            .enumerate()
            .filter(|c| *c.1 != f32::NEG_INFINITY);
        return top_k(eligible.map(|(i, &s)| (i as u32, s)), k, buf);
    }
    buf.clear();
    // Candidates arrive in index order, so a score equal to the k-th best
    // never wins (ties go to the lower index): `>` is the exact test.
    let mut bar = f32::NEG_INFINITY;
    const BLOCK: usize = 32;
    for (b, block) in scores.chunks(BLOCK).enumerate() {
        // Branch-free over the block so that it vectorises.
        if !block.iter().fold(false, |hit, &s| hit | (s > bar)) {
            continue;
        }
        for (o, &s) in block.iter().enumerate() {
            if s > bar {
                let c = ((b * BLOCK + o) as u32, s);
                let at = buf.partition_point(|e| better(e, &c) == Ordering::Less);
                buf.insert(at, c);
                if buf.len() > k {
                    buf.pop();
                }
                if buf.len() == k {
                    bar = buf[k - 1].1;
                }
            }
        }
    }
    buf.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_gram_match_naive() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..19).map(|i| (i * i) as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
        // The interleaved form is bit-identical to the single one.
        let c: Vec<f32> = (0..19).map(|i| (i as f32).sin()).collect();
        assert_eq!(
            dots([&a, &c, &b], &b),
            [dot(&a, &b), dot(&c, &b), dot(&b, &b)]
        );
        let m: Vec<f32> = (0..19 * 7).map(|i| (i % 13) as f32 - 6.0).collect();
        let mut out = vec![0f32; 7];
        gemv(&m, &b, &mut out);
        for (r, o) in out.iter().enumerate() {
            assert_eq!(*o, dot(&m[r * 19..(r + 1) * 19], &b));
        }
        // 3x2 matrix [[1,2],[3,4],[5,6]]: FᵀF = [[35,44],[44,56]]
        assert_eq!(
            gram(&[1., 2., 3., 4., 5., 6.], 3, 2),
            vec![35., 44., 44., 56.]
        );
        let mut out = vec![0f32; 6];
        gemm_abt(
            &[1., 2., 3., 4.],
            2,
            &[1., 0., 0., 1., 1., 1.],
            3,
            2,
            &mut out,
        );
        assert_eq!(out, vec![1., 2., 3., 3., 4., 7.]);
    }

    #[test]
    fn cholesky_solves_spd_systems() {
        // A = MᵀM + I for a fixed M; check A·x = b in f64.
        let k = 13;
        let m: Vec<f32> = (0..k * k)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let mut a = vec![0f32; k * k];
        for r in 0..k {
            for c in 0..k {
                a[r * k + c] = (0..k).map(|t| m[t * k + r] * m[t * k + c]).sum::<f32>()
                    + if r == c { 1.0 } else { 0.0 };
            }
        }
        let b: Vec<f32> = (0..k).map(|i| i as f32 - 4.0).collect();
        let (mut l, mut x) = (a.clone(), b.clone());
        // Garbage below the diagonal must be ignored.
        for r in 0..k {
            for c in 0..r {
                l[r * k + c] = f32::NAN;
            }
        }
        assert!(cholesky_solve(&mut l, &mut x));
        for r in 0..k {
            let ax: f64 = (0..k).map(|c| a[r * k + c] as f64 * x[c] as f64).sum();
            assert!((ax - b[r] as f64).abs() < 1e-3, "row {r}: {ax} vs {}", b[r]);
        }
        // Panel scores equal the in-order sum for every row, padding included.
        let rows = 2 * PANEL + 3;
        let m: Vec<f32> = (0..rows * 5)
            .map(|i| ((i * 31 % 17) as f32 - 8.0) * 0.25)
            .collect();
        let v = [0.5f32, -1.0, 2.0, 0.25, 3.0];
        let mut got = vec![0f32; rows];
        simd(PanelScores {
            panels: &to_panels(&m, 5),
            v: &v,
            out: &mut got,
        });
        for (r, g) in got.iter().enumerate() {
            let want = m[r * 5..(r + 1) * 5]
                .iter()
                .zip(&v)
                .fold(0f32, |s, (a, b)| s + b * a);
            assert_eq!(*g, want, "row {r}");
        }
        let mut singular = vec![1.0, 1.0, 1.0, 1.0];
        assert!(!cholesky_solve(&mut singular, &mut [1.0, 2.0]));
    }

    /// The blocked factor gives the textbook right-looking algorithm's bits
    /// in the upper triangle, whatever `k` (panels and 8-lane blocks cut
    /// anywhere) and whatever is below the diagonal.
    #[test]
    fn cholesky_factor_matches_the_unblocked_algorithm_bit_for_bit() {
        for k in [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 31, 64, 67] {
            let m: Vec<f32> = (0..2 * k * k)
                .map(|i| ((i * 7919 % 23) as f32 - 11.0) * 0.125)
                .collect();
            let mut a = gram(&m, 2 * k, k);
            for d in 0..k {
                a[d * k + d] += 0.5;
            }
            let mut want = a.clone();
            for j in 0..k {
                let u = want[j * k + j].sqrt();
                want[j * k + j] = u;
                for c in j + 1..k {
                    want[j * k + c] *= 1.0 / u;
                }
                for i in j + 1..k {
                    for c in i..k {
                        want[i * k + c] += -want[j * k + i] * want[j * k + c];
                    }
                }
            }
            for r in 0..k {
                for c in 0..r {
                    a[r * k + c] = if (r + c) % 2 == 0 { f32::NAN } else { 1e30 };
                }
            }
            assert!(simd(Factor(&mut a, k)), "k = {k}");
            for r in 0..k {
                for c in r..k {
                    let (got, exp) = (a[r * k + c], want[r * k + c]);
                    assert_eq!(got.to_bits(), exp.to_bits(), "k = {k}, ({r}, {c})");
                }
            }
        }
    }

    /// [`cholesky_factor`] compiled as the row solvers run it.
    struct Factor<'a>(&'a mut [f32], usize);

    impl Kernel for Factor<'_> {
        type Output = bool;
        #[inline(always)]
        fn run(self) -> bool {
            cholesky_factor(self.0, self.1)
        }
    }

    /// The reference: sort everything by [`better`] and cut.
    fn brute(c: &[(u32, f32)], k: usize) -> Vec<(u32, f32)> {
        let mut all = c.to_vec();
        all.sort_by(better);
        all.truncate(k);
        all
    }

    proptest::proptest! {
        /// Every variant equals the full sort, bit for bit, for small and
        /// large k, with many ties (scores from a few levels) and `-inf`.
        #[test]
        fn every_top_k_variant_matches_a_full_sort(
            levels in proptest::collection::vec(0u8..6, 0..400),
            k in 0usize..150,
            modulus in 1u32..5,
        ) {
            let scores: Vec<f32> = levels
                .iter()
                .map(|&l| if l == 0 { f32::NEG_INFINITY } else { f32::from(l) * 0.25 })
                .collect();
            let pairs: Vec<(u32, f32)> = scores.iter().enumerate().map(|(i, &s)| (i as u32, s)).collect();
            let eligible: Vec<(u32, f32)> =
                pairs.iter().copied().filter(|c| c.1 != f32::NEG_INFINITY).collect();
            let mut buf = vec![(7, 7.0)]; // stale scratch must not leak into results
            proptest::prop_assert_eq!(top_k(pairs.iter().copied(), k, &mut buf), brute(&pairs, k));
            proptest::prop_assert_eq!(top_k_scores(&scores, k, &mut buf), brute(&eligible, k));
            let kept: Vec<(u32, f32)> =
                eligible.iter().copied().filter(|c| c.0 % modulus == 0).collect();
            proptest::prop_assert_eq!(
                top_k_scores_where(&scores, k, |i| i % modulus == 0, &mut buf),
                brute(&kept, k)
            );
            let mut v = pairs.clone();
            top_k_by(&mut v, k, better);
            proptest::prop_assert_eq!(&v, &brute(&pairs, k));
            let mut v = pairs.clone();
            partition_best(&mut v, k, better);
            let mut head = v[..k.min(v.len())].to_vec();
            head.sort_by(better);
            proptest::prop_assert_eq!(head, brute(&pairs, k));
            v.sort_by(better);
            proptest::prop_assert_eq!(v, brute(&pairs, pairs.len()));
        }
    }

    #[test]
    fn top_k_scores_where_widens_until_enough_pass() {
        let scores: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let mut buf = Vec::new();
        // Only multiples of 97 pass: the search widens from 21 to 84, 336
        // and finally all 1000 scores before it has five.
        let got = top_k_scores_where(&scores, 5, |i| i % 97 == 0, &mut buf);
        let want: Vec<u32> = vec![970, 873, 776, 679, 582];
        assert_eq!(got.iter().map(|c| c.0).collect::<Vec<_>>(), want);
        assert_eq!(
            top_k_scores_where(&scores, 5, |i| i == 3, &mut buf),
            vec![(3, 3.0)]
        );
        assert!(top_k_scores_where(&scores, 5, |_| false, &mut buf).is_empty());
        let mut s = scores.clone();
        s[999] = f32::NEG_INFINITY;
        assert_eq!(
            top_k_scores_where(&s, 1, |_| true, &mut buf),
            vec![(998, 998.0)]
        );
    }

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        let mut buf = Vec::new();
        let s = [0.5f32, 0.9, 0.5, 0.1, 0.9];
        let got = top_k(
            s.iter().enumerate().map(|(i, &v)| (i as u32, v)),
            3,
            &mut buf,
        );
        assert_eq!(got, vec![(1, 0.9), (4, 0.9), (0, 0.5)]);
        assert_eq!(
            top_k(
                s.iter().enumerate().map(|(i, &v)| (i as u32, v)),
                10,
                &mut buf
            )
            .len(),
            5
        );
    }
}
