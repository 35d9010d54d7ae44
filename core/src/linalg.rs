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

/// [`gemv`] as a [`Kernel`].
pub struct Gemv<'a> {
    /// Row-major matrix with `v.len()` columns.
    pub m: &'a [f32],
    /// The vector.
    pub v: &'a [f32],
    /// One output per row.
    pub out: &'a mut [f32],
}

impl Kernel for Gemv<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        gemv(self.m, self.v, self.out)
    }
}

/// Dot product with eight lane accumulators (see the module docs).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for v in acc {
        s += v;
    }
    s
}

/// `y += alpha * x`.
#[inline(always)]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `out[i] = m[i]·v` for the rows of a row-major matrix with `v.len()` columns.
#[inline(always)]
pub fn gemv(m: &[f32], v: &[f32], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(m.chunks_exact(v.len().max(1))) {
        *o = dot(row, v);
    }
}

/// Solves `A x = b` in place for a symmetric positive-definite row-major
/// `k×k` matrix `a` of which only the lower triangle is read; `a` is
/// overwritten by its Cholesky factor and `b` by `x`. Returns false (with
/// `b` unspecified) when `A` is not numerically positive definite.
///
/// Row-oriented (Cholesky–Banachiewicz): every inner loop is a [`dot`] or
/// [`axpy`] over contiguous row prefixes, so it vectorises in [`simd`].
#[inline(always)]
pub fn cholesky_solve(a: &mut [f32], b: &mut [f32]) -> bool {
    let k = b.len();
    for i in 0..k {
        for j in 0..=i {
            let (head, row_i) = a.split_at_mut(i * k);
            let row_j: &[f32] = if j == i {
                &row_i[..j]
            } else {
                &head[j * k..j * k + j]
            };
            let s = row_i[j] - dot(&row_i[..j], row_j);
            if j == i {
                if s.is_nan() || s <= 0.0 {
                    return false;
                }
                row_i[i] = s.sqrt();
            } else {
                row_i[j] = s / head[j * k + j];
            }
        }
    }
    // L y = b
    for i in 0..k {
        let row = &a[i * k..i * k + i];
        b[i] = (b[i] - dot(row, &b[..i])) / a[i * k + i];
    }
    // Lᵀ x = y, sweeping rows of L from the bottom.
    for i in (0..k).rev() {
        b[i] /= a[i * k + i];
        let xi = b[i];
        axpy(-xi, &a[i * k..i * k + i], &mut b[..i]);
    }
    true
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

/// Ranking order: higher score first, then lower index (deterministic ties).
#[inline]
fn better(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(a.0.cmp(&b.0))
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
    if buf.len() > k {
        buf.select_nth_unstable_by(k - 1, better);
        buf.truncate(k);
    }
    buf.sort_unstable_by(better);
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
        // Garbage above the diagonal must be ignored.
        for r in 0..k {
            for c in r + 1..k {
                l[r * k + c] = f32::NAN;
            }
        }
        assert!(cholesky_solve(&mut l, &mut x));
        for r in 0..k {
            let ax: f64 = (0..k).map(|c| a[r * k + c] as f64 * x[c] as f64).sum();
            assert!((ax - b[r] as f64).abs() < 1e-3, "row {r}: {ax} vs {}", b[r]);
        }
        let mut singular = vec![1.0, 1.0, 1.0, 1.0];
        assert!(!cholesky_solve(&mut singular, &mut [1.0, 2.0]));
        let mut out = vec![0f32; 2];
        simd(Gemv {
            m: &[1., 2., 3., 4.],
            v: &[1., 1.],
            out: &mut out,
        });
        assert_eq!(out, vec![3., 7.]);
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
