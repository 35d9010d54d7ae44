//! The per-row least-squares kernels of ALS: each user's (or item's)
//! normal equations `(α₀·YᵀY + λI + Σ αw·yyᵀ) x = Σ (α₀+αw)·y`, solved by a few
//! conjugate-gradient steps or exactly by Cholesky, the parallel sweep over
//! all rows of one side, and the training loss.

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, MatMut, MatRef, Par};

use super::{AlsConfig, Confidence, Solver};
use crate::data::CsrRef;
use crate::linalg::{
    axpy, axpys, cholesky_solve, dot, dots, gemv, gram, prefetch, simd, symv, Bf16, Elem, Kernel,
};
use crate::pages::HugeSlice;
use crate::parallel::for_each_chunk;

/// Per-worker scratch of the row solvers: nothing is allocated per row.
pub(super) struct RowScratch<T = f32> {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
    pub(super) a: Vec<f32>,
    /// The row's `√|c − α₀|·y` stacked (Cholesky); grows to the longest row.
    gathered: Vec<f32>,
    /// The row's factor rows, copied in entry order (CG).
    packed: Vec<T>,
}

impl<T> RowScratch<T> {
    pub(super) fn new(k: usize) -> Self {
        RowScratch {
            r: vec![0.0; k],
            p: vec![0.0; k],
            ap: vec![0.0; k],
            a: vec![0.0; k * k],
            gathered: Vec::new(),
            packed: Vec::new(),
        }
    }
}

/// How many entries ahead the row solvers prefetch factor rows: gathering
/// them is the main memory cost (16 measured best on 200k×20k, k = 64).
const PREFETCH_AHEAD: usize = 16;

/// The most factor elements a row's packed copy holds (2 MB of `f32`):
/// longer rows are gathered in segments of this size on every pass.
const PACK_ELEMS: usize = 1 << 19;

/// What an observed weight `w` adds to a row's system: `extra(w)` to the
/// unobserved confidence `α₀` in `A` and `target(w)` (its confidence times
/// the preference 1) to `b`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Weighting {
    alpha: f32,
    /// `α₀`, the confidence of unobserved pairs.
    alpha0: f32,
    scaled: bool,
}

impl Weighting {
    pub(super) fn new(config: &AlsConfig) -> Self {
        Weighting {
            alpha: config.alpha,
            alpha0: config.unobserved_weight,
            scaled: config.confidence == Confidence::Scaled,
        }
    }

    /// `c − α₀`: negative for a scaled confidence below `α₀`.
    #[inline(always)]
    pub(super) fn extra(&self, w: f32) -> f32 {
        if self.scaled {
            self.alpha * w - self.alpha0
        } else {
            self.alpha * w
        }
    }

    /// The confidence `c` of an observed pair.
    #[inline(always)]
    pub(super) fn target(&self, w: f32) -> f32 {
        if self.scaled {
            self.alpha * w
        } else {
            self.alpha0 + self.alpha * w
        }
    }
}

/// One row's least-squares problem: the other side's factors (`n×k`,
/// row-major), the row's columns and weights.
pub(super) struct Row<'a, T = f32> {
    other: &'a [T],
    k: usize,
    /// Elements from one factor row of `other` to the next (`k`, or `2k`
    /// for the upper halves of rows split in place: see [`Halves`]).
    stride: usize,
    cols: &'a [u32],
    weights: &'a [f32],
    conf: Weighting,
    /// This row's regularisation `λᵤ`.
    reg: f32,
}

impl<T: Elem> Row<'_, T> {
    /// A row of `matrix` for `config`; `gram` is `α₀·YᵀY` without `λ`.
    pub(super) fn new<'a>(
        config: &AlsConfig,
        other: &'a [T],
        n_other: usize,
        cols: &'a [u32],
        weights: &'a [f32],
    ) -> Row<'a, T> {
        let nu = config.regularization_exponent;
        let reg = if nu == 0.0 {
            config.regularization
        } else {
            config.regularization
                * (cols.len() as f32 + config.unobserved_weight * n_other as f32).powf(nu)
        };
        Row {
            other,
            k: config.factors,
            stride: config.factors,
            cols,
            weights,
            conf: Weighting::new(config),
            reg,
        }
    }

    /// The same problem reading factor row `j` at `other[j·stride..]`.
    fn strided(self, stride: usize) -> Self {
        Row { stride, ..self }
    }

    #[inline(always)]
    fn y(&self, j: u32) -> &[T] {
        let j = j as usize * self.stride;
        &self.other[j..j + self.k]
    }

    /// `out += f(y·v, w)·y` over the row's entries in order. `fresh` says
    /// `v` starts a new row: its factor rows are gathered into `s.packed`
    /// once (the pass of scattered reads) and the later passes stream that
    /// copy; rows too long for it are gathered segment by segment each pass.
    #[inline(always)]
    fn accumulate(
        &self,
        packed: &mut Vec<T>,
        fresh: bool,
        v: &[f32],
        out: &mut [f32],
        f: impl Fn(f32, f32) -> f32,
    ) {
        let n = self.cols.len();
        let segment = (PACK_ELEMS / self.k.max(1)).max(1);
        if n <= segment {
            if fresh {
                self.pack(0..n, packed);
            }
            packed_pass(packed, self.k, self.weights, v, out, &f);
            return;
        }
        for start in (0..n).step_by(segment) {
            let range = start..(start + segment).min(n);
            self.pack(range.clone(), packed);
            packed_pass(packed, self.k, &self.weights[range], v, out, &f);
        }
    }

    /// Copies the factor rows of entries `range`, in order, into `packed`,
    /// prefetching ahead: a copy loop has no dependency chain, so many
    /// misses are in flight at once.
    #[inline(always)]
    fn pack(&self, range: std::ops::Range<usize>, packed: &mut Vec<T>) {
        packed.clear();
        let cols = &self.cols[range];
        for (t, &j) in cols.iter().enumerate() {
            if let Some(&ahead) = cols.get(t + PREFETCH_AHEAD) {
                prefetch(self.y(ahead));
            }
            packed.extend_from_slice(self.y(j));
        }
    }

    /// Conjugate-gradient steps on `A x = b`, warm-started from `x`.
    /// Always inlined: it must be compiled inside the caller's [`simd`] context.
    #[inline(always)]
    fn solve_cg(&self, gram: &[f32], steps: usize, x: &mut [f32], s: &mut RowScratch<T>) {
        // One branch-free kernel per confidence convention (the hot loop).
        let Weighting {
            alpha,
            alpha0,
            scaled,
        } = self.conf;
        if scaled {
            self.cg(gram, steps, x, s, |w| alpha * w - alpha0, |w| alpha * w);
        } else {
            self.cg(gram, steps, x, s, |w| alpha * w, |w| alpha0 + alpha * w);
        }
    }

    /// [`solve_cg`](Self::solve_cg) with an observed weight's `extra` and
    /// `target` (see [`Weighting`]).
    #[inline(always)]
    fn cg(
        &self,
        gram: &[f32],
        steps: usize,
        x: &mut [f32],
        s: &mut RowScratch<T>,
        extra: impl Fn(f32) -> f32,
        target: impl Fn(f32) -> f32,
    ) {
        if self.cols.is_empty() {
            x.fill(0.0);
            return;
        }
        let (r, p, ap, packed) = (&mut s.r, &mut s.p, &mut s.ap, &mut s.packed);
        // r = b - A·x
        symv(gram, x, r);
        for (ri, xi) in r.iter_mut().zip(x.iter()) {
            *ri = -*ri - self.reg * xi;
        }
        self.accumulate(packed, true, x, r, |d, w| target(w) - extra(w) * d);
        p.copy_from_slice(r);
        let mut rs_old = dot(r, r);
        if rs_old < 1e-20 {
            return;
        }
        for _ in 0..steps {
            symv(gram, p, ap);
            axpy(self.reg, p, ap);
            self.accumulate(packed, false, p, ap, |d, w| extra(w) * d);
            let step = rs_old / dot(p, ap);
            axpy(step, p, x);
            axpy(-step, ap, r);
            let rs_new = dot(r, r);
            if rs_new < 1e-20 {
                break;
            }
            let beta = rs_new / rs_old;
            for (pi, ri) in p.iter_mut().zip(r.iter()) {
                *pi = ri + beta * *pi;
            }
            rs_old = rs_new;
        }
    }

    /// Exact solve by Cholesky; on a numerically singular system (possible
    /// only with λ = 0) the previous `x` is kept.
    #[inline(always)]
    pub(super) fn solve_exact(&self, gram: &[f32], x: &mut [f32], s: &mut RowScratch<T>) {
        self.system(gram, s);
        if cholesky_solve(&mut s.a, &mut s.r) {
            x.copy_from_slice(&s.r);
        }
    }

    /// The row's normal equations: `s.a` = `A` (its row-major upper
    /// triangle; the lower one is left stale) and `s.r` = `b`. Shared by
    /// the exact solve and explanations, which must use the same `A`.
    #[inline(always)]
    pub(super) fn system(&self, gram: &[f32], s: &mut RowScratch<T>) {
        let k = self.k;
        s.a.copy_from_slice(gram);
        for d in 0..k {
            s.a[d * k + d] += self.reg;
        }
        s.r.fill(0.0);
        // A += Σ extra(w)·yyᵀ as products GᵀG of the stacked rows
        // √|extra(w)|·y: positive terms from the front of the buffer,
        // negative ones (scaled confidences below α₀) from the back (one
        // triangle only: that is all Cholesky reads).
        let n = self.cols.len();
        s.gathered.resize(n * k, 0.0);
        let (mut pos, mut neg) = (0, n);
        for (t, (&j, &w)) in self.cols.iter().zip(self.weights).enumerate() {
            if let Some(&ahead) = self.cols.get(t + PREFETCH_AHEAD) {
                prefetch(self.y(ahead));
            }
            let c = self.conf.extra(w);
            let y = self.y(j);
            let slot = if c >= 0.0 {
                pos += 1;
                pos - 1
            } else {
                neg -= 1;
                neg
            };
            let root = c.abs().sqrt();
            for (gi, yi) in s.gathered[slot * k..(slot + 1) * k].iter_mut().zip(y) {
                *gi = root * yi.widen();
            }
            axpy(self.conf.target(w), y, &mut s.r);
        }
        for (rows, sign) in [(0..pos, 1.0f32), (neg..n, -1.0)] {
            if rows.is_empty() {
                continue;
            }
            let g = &s.gathered[rows.start * k..rows.end * k];
            // Column-major view: its lower triangle is the row-major upper
            // triangle, the one `cholesky_solve` reads.
            syrk_lower(
                MatMut::from_column_major_slice_mut(&mut s.a, k, k),
                MatRef::from_row_major_slice(g, rows.len(), k),
                sign,
            );
        }
    }
}

/// `dst += sign·GᵀG` on the lower triangle of `dst`. The product is cut
/// into halves of the columns, two triangles and one rectangle, because
/// faer's kernel fills whole 64-row tiles: one call at `k` = 64 computes
/// the full square, the cut three quarters of it.
fn syrk_lower(mut dst: MatMut<'_, f32>, g: MatRef<'_, f32>, sign: f32) {
    let k = g.ncols();
    let product =
        |dst: MatMut<'_, f32>, lower: bool, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>| {
            triangular::matmul(
                dst,
                if lower {
                    BlockStructure::TriangularLower
                } else {
                    BlockStructure::Rectangular
                },
                Accum::Add,
                lhs.transpose(),
                BlockStructure::Rectangular,
                rhs,
                BlockStructure::Rectangular,
                sign,
                Par::Seq,
            )
        };
    if k < 32 {
        return product(dst, true, g, g);
    }
    let h = k / 2;
    let (left, right) = (g.subcols(0, h), g.subcols(h, k - h));
    product(dst.as_mut().submatrix_mut(0, 0, h, h), true, left, left);
    product(
        dst.as_mut().submatrix_mut(h, 0, k - h, h),
        false,
        right,
        left,
    );
    product(dst.submatrix_mut(h, h, k - h, k - h), true, right, right);
}

/// `out += f(y·v, w)·y` over consecutive `k`-rows `y` of `packed` and their
/// weights; the dot products go four at a time (see
/// [`crate::linalg::dots`]), which gives the same bits as one at a time.
#[inline(always)]
fn packed_pass<T: Elem>(
    packed: &[T],
    k: usize,
    weights: &[f32],
    v: &[f32],
    out: &mut [f32],
    f: &impl Fn(f32, f32) -> f32,
) {
    let mut rows = packed.chunks_exact(4 * k);
    let mut ws = weights.chunks_exact(4);
    for (r, w) in (&mut rows).zip(&mut ws) {
        let ys = [&r[..k], &r[k..2 * k], &r[2 * k..3 * k], &r[3 * k..]];
        let d = dots(ys, v);
        axpys([0, 1, 2, 3].map(|i| f(d[i], w[i])), ys, out);
    }
    for (y, &w) in rows.remainder().chunks_exact(k).zip(ws.remainder()) {
        axpy(f(dot(y, v), w), y, out);
    }
}

/// `α₀·FᵀF`: the part of every row's system shared by all rows.
pub(super) fn scaled_gram(f: &[f32], rows: usize, config: &AlsConfig) -> Vec<f32> {
    let mut g = gram(f, rows, config.factors);
    if config.unobserved_weight != 1.0 {
        g.iter_mut().for_each(|v| *v *= config.unobserved_weight);
    }
    g
}

/// Solves the consecutive rows `first..` of `matrix` into `block`.
struct SolveRows<'a, T> {
    config: &'a AlsConfig,
    other: &'a [T],
    /// See [`Row::stride`].
    stride: usize,
    matrix: CsrRef<'a>,
    gram: &'a [f32],
    first: usize,
    block: &'a mut [f32],
    scratch: &'a mut RowScratch<T>,
}

impl<T: Elem> Kernel for SolveRows<'_, T> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let k = self.config.factors;
        for (off, x) in self.block.chunks_exact_mut(k).enumerate() {
            let (cols, weights) = self.matrix.row(self.first + off);
            let row = Row::new(self.config, self.other, self.matrix.n_cols(), cols, weights)
                .strided(self.stride);
            match self.config.solver {
                Solver::Cg { steps } => row.solve_cg(self.gram, steps, x, self.scratch),
                Solver::Cholesky => row.solve_exact(self.gram, x, self.scratch),
            }
        }
    }
}

/// Recomputes every row of `target` (rows of `matrix`) against `other`,
/// which the caller allocated for gathering (training keeps both sides'
/// factors on huge pages, see `crate::pages`). For CG with bfloat16
/// gathers, `other`'s rows are split in place for the sweep ([`Halves`]),
/// so the gathered copy costs no memory; `other` is bit-for-bit the same
/// afterwards.
pub(super) fn solve_side(
    target: &mut [f32],
    other: &mut [f32],
    matrix: CsrRef<'_>,
    config: &AlsConfig,
) {
    let k = config.factors;
    let g = scaled_gram(other, matrix.n_cols(), config);
    if config.bf16_gathers && matches!(config.solver, Solver::Cg { .. }) {
        let halves = Halves::split(other, k);
        return sweep(target, halves.upper(), 2 * k, matrix, &g, config);
    }
    sweep(target, other, k, matrix, &g, config)
}

/// [`solve_side`] for a caller that only borrows `other` (partial fits,
/// which solve exactly and so gather `f32`), with the shared part
/// `g` = `α₀·(other)ᵀ(other)` given.
pub(super) fn solve_rows(
    target: &mut [f32],
    other: &[f32],
    matrix: CsrRef<'_>,
    g: &[f32],
    config: &AlsConfig,
) {
    let k = config.factors;
    // A sweep that gathers each of the other side's rows at least once on
    // average pays for a copy of them on huge pages; smaller ones read
    // `other`.
    if matrix.nnz() < matrix.n_cols() {
        return sweep(target, other, k, matrix, g, config);
    }
    sweep(target, &HugeSlice::map(other, |x| x), k, matrix, g, config)
}

/// Factor rows (`k` floats each) rearranged in place, row by row, into `k`
/// bfloat16 upper halves followed by `k` lower halves: the upper halves are
/// a bfloat16 copy to gather from (stride `2k`, the first half of each
/// row's bytes), and dropping the guard puts every row back exactly.
///
/// The upper half is rounded to nearest (ties away from zero), which the
/// lower half undoes: the original's upper bits are one less exactly when
/// its lower half is at least `0x8000`. (Ties to even could not be undone:
/// at a lower half of `0x8000` both cases leave an even upper half.)
pub(super) struct Halves<'a> {
    /// The rows' `f32` bits.
    rows: &'a mut [u32],
    k: usize,
}

impl<'a> Halves<'a> {
    pub(super) fn split(rows: &'a mut [f32], k: usize) -> Self {
        let rows = bytemuck::cast_slice_mut::<f32, u32>(rows);
        for_each_chunk(
            rows,
            k,
            256,
            || vec![0u16; 2 * k],
            |tmp, _, block| {
                for row in block.chunks_exact_mut(k) {
                    let (upper, lower) = tmp.split_at_mut(k);
                    for ((&bits, u), l) in row.iter().zip(upper).zip(lower) {
                        *u = (bits.wrapping_add(0x8000) >> 16) as u16;
                        *l = bits as u16;
                    }
                    bytemuck::cast_slice_mut(row).copy_from_slice(tmp);
                }
            },
        );
        Halves { rows, k }
    }

    /// The rounded upper halves: row `j` at `[2k·j, 2k·j + k)`.
    pub(super) fn upper(&self) -> &[Bf16] {
        Bf16::from_bits_slice(bytemuck::cast_slice(self.rows))
    }
}

impl Drop for Halves<'_> {
    fn drop(&mut self) {
        let k = self.k;
        for_each_chunk(
            self.rows,
            k,
            256,
            || vec![0u32; k],
            |tmp, _, block| {
                for row in block.chunks_exact_mut(k) {
                    let (upper, lower) = bytemuck::cast_slice::<u32, u16>(row).split_at(k);
                    for ((bits, &u), &l) in tmp.iter_mut().zip(upper).zip(lower) {
                        let high = u.wrapping_sub(u16::from(l >= 0x8000));
                        *bits = (u32::from(high) << 16) | u32::from(l);
                    }
                    row.copy_from_slice(tmp);
                }
            },
        );
    }
}

/// Recomputes `target`'s rows gathering factor rows from `other` (row `j`
/// at `other[j·stride..j·stride + k]`).
fn sweep<T: Elem>(
    target: &mut [f32],
    other: &[T],
    stride: usize,
    matrix: CsrRef<'_>,
    g: &[f32],
    config: &AlsConfig,
) {
    let k = config.factors;
    // Small chunks let rayon balance heavy and light users.
    for_each_chunk(
        target,
        k,
        32,
        || RowScratch::new(k),
        |scratch, first, block| {
            simd(SolveRows {
                config,
                other,
                stride,
                matrix,
                gram: g,
                first,
                block,
                scratch,
            })
        },
    );
}

/// The weighted squared error plus regularisation, normalised by the total
/// confidence mass `α₀·n_users·n_items + Σ (c − α₀)` (comparable across
/// sizes; for scaled confidences the number implicit's training loss gives).
pub(super) fn training_loss(
    x: &[f32],
    y: &[f32],
    matrix: CsrRef<'_>,
    ciu: CsrRef<'_>,
    config: &AlsConfig,
) -> f32 {
    let k = config.factors;
    let a0 = config.unobserved_weight as f64;
    let conf = Weighting::new(config);
    let g = scaled_gram(y, matrix.n_cols(), config);
    let mut per_user = vec![0f64; matrix.n_rows()];
    for_each_chunk(
        &mut per_user,
        1,
        256,
        || vec![0f32; k],
        |gx, first, block| {
            for (off, out) in block.iter_mut().enumerate() {
                let u = first + off;
                let xu = &x[u * k..(u + 1) * k];
                gemv(&g, xu, gx);
                let mut l = dot(xu, gx) as f64;
                let (cols, ws) = matrix.row(u);
                for (&j, &w) in cols.iter().zip(ws) {
                    let c = conf.extra(w) as f64;
                    let p = dot(xu, &y[j as usize * k..(j as usize + 1) * k]) as f64;
                    l += (a0 + c) * (1.0 - p).powi(2) - a0 * p * p;
                }
                let reg = Row::new(config, y, matrix.n_cols(), cols, ws).reg as f64;
                *out = l + reg * dot(xu, xu) as f64;
            }
        },
    );
    let item_reg: f64 = (0..ciu.n_rows())
        .map(|i| {
            let (cols, ws) = ciu.row(i);
            let yi = &y[i * k..(i + 1) * k];
            Row::new(config, x, ciu.n_cols(), cols, ws).reg as f64 * dot(yi, yi) as f64
        })
        .sum();
    let mass = a0 * matrix.n_rows() as f64 * matrix.n_cols() as f64
        + matrix
            .data()
            .iter()
            .map(|&w| conf.extra(w) as f64)
            .sum::<f64>();
    ((per_user.iter().sum::<f64>() + item_reg) / mass) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::RngCore;

    /// Splitting rows into halves and back restores every bit pattern
    /// (signs, zeros, subnormals, infinities, NaNs, the carries at `0x8000`
    /// and `0xFFFF_8000`), and each upper half is the value rounded to the
    /// nearest bfloat16 (within half a bfloat16 step).
    #[test]
    fn halves_restore_every_bit_and_round_the_upper_half() {
        let k = 8;
        let special = [
            0u32,
            0x8000_0000,
            1,
            0x0000_8000,
            0x0001_8000,
            0x3F80_7FFF,
            0x3F80_8000,
            0x3F81_8000,
            0x7F7F_FFFF,
            0x7F80_0000,
            0xFF80_0000,
            0x7FC0_0001,
            0xFFFF_8000,
            0xFFFF_FFFF,
            0x8000_8000,
            0x0000_FFFF,
        ];
        let mut rng = crate::rng::seeded(7);
        let bits: Vec<u32> = special
            .iter()
            .copied()
            .chain((0..4000).map(|_| rng.next_u64() as u32))
            .collect();
        let mut rows: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
        {
            let halves = Halves::split(&mut rows, k);
            let upper = halves.upper();
            for (i, &b) in bits.iter().enumerate() {
                let x = f32::from_bits(b);
                let (row, col) = (i / k, i % k);
                if !x.is_finite() || x.abs() > 3e38 {
                    continue;
                }
                let u = upper[row * 2 * k + col].widen();
                let step = f32::from_bits(x.abs().to_bits() & 0xFFFF_0000) * (1.0 / 128.0);
                assert!(
                    (u - x).abs() <= step / 2.0 + f32::MIN_POSITIVE,
                    "{b:#x}: {u} vs {x}"
                );
            }
        }
        let back: Vec<u32> = rows.iter().map(|x| x.to_bits()).collect();
        assert_eq!(back, bits);
    }

    /// A row's system is `gram + λI + Σ (c − α₀)·yyᵀ` in its upper
    /// triangle, whatever `k` (below and above the cut of [`syrk_lower`],
    /// odd too) and with confidences below `α₀` (scaled, small weights).
    #[test]
    fn system_sums_every_entry_at_every_width() {
        for k in [3, 31, 32, 37, 64] {
            let n_other = 50;
            let other: Vec<f32> = (0..n_other * k)
                .map(|i| ((i * 7919 % 29) as f32 - 14.0) / 16.0)
                .collect();
            let gram: Vec<f32> = (0..k * k).map(|i| (i % 5) as f32 * 0.01).collect();
            let cols: Vec<u32> = (0..40).map(|t| (t * 7 % n_other) as u32).collect();
            let weights: Vec<f32> = (0..40).map(|t| [0.25, 3.0, 0.5, 1.0][t % 4]).collect();
            let config = AlsConfig {
                factors: k,
                regularization: 0.1,
                regularization_exponent: 0.0,
                alpha: 2.0,
                confidence: Confidence::Scaled,
                ..AlsConfig::default()
            };
            let row = Row::new(&config, &other, n_other, &cols, &weights);
            let mut s = RowScratch::new(k);
            row.system(&gram, &mut s);
            for r in 0..k {
                for c in r..k {
                    let mut want = gram[r * k + c] as f64 + if r == c { 0.1 } else { 0.0 };
                    for (&j, &w) in cols.iter().zip(&weights) {
                        let y = &other[j as usize * k..];
                        want += (2.0 * w as f64 - 1.0) * y[r] as f64 * y[c] as f64;
                    }
                    let got = s.a[r * k + c] as f64;
                    assert!(
                        (got - want).abs() < 1e-3,
                        "k {k} ({r}, {c}): {got} vs {want}"
                    );
                }
            }
        }
    }
}
