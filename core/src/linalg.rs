//! The few dense kernels shared by ALS, scoring and search: dot products,
//! Gram matrices and blocked products through faer, and top-k selection.

use std::cmp::Ordering;

use faer::{linalg::matmul::matmul, Accum, MatMut, MatRef, Par};

/// Dot product with several accumulators so the compiler vectorises it.
#[inline]
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
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
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

/// Ranking order: higher score first, then lower index (deterministic ties).
#[inline]
fn better(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.partial_cmp(&a.1)
        .unwrap_or(Ordering::Equal)
        .then(a.0.cmp(&b.0))
}

/// The `k` best `(index, score)` pairs of `candidates`, best first, using
/// linear-time selection instead of a full sort. `buf` is reusable scratch.
pub fn top_k(
    candidates: impl Iterator<Item = (u32, f32)>,
    k: usize,
    buf: &mut Vec<(u32, f32)>,
) -> Vec<(u32, f32)> {
    buf.clear();
    buf.extend(candidates);
    if k == 0 || buf.is_empty() {
        return Vec::new();
    }
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
