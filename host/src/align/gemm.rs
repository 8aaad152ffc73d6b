//! The f32 GEMMs of the score matrices: products accumulated in place into row-major matrices,
//! split over two threads by rows.

use std::ops::Range;

/// `C += P` for a row-major f32 matrix `c: [m, n]` and a product `P` made by halves:
/// `product(c_rows, rows)` adds rows `rows` of `P` into `c_rows` (those rows of `C`). The two
/// halves run on two threads (a fixed split, so the bits do not depend on the thread count).
pub(super) fn add_product(
    c: &mut [f32],
    n: usize,
    product: impl Fn(&mut [f32], Range<usize>) + Sync,
) {
    let m = c.len() / n.max(1);
    let half = m / 2;
    let (top, bottom) = c.split_at_mut(half * n);
    let run = |c: &mut [f32], rows: Range<usize>| {
        if !rows.is_empty() {
            product(c, rows);
        }
    };
    rayon::join(|| run(top, 0..half), || run(bottom, half..m));
}

/// Adds rows `rows` of `A · Bᵀ` into `c_rows`, for row-major `a: [m, k]`, `b: [n, k]` (an f32
/// GEMM on strided views, accumulating in place: no transposed copies, no temporary).
pub(super) fn add_abt_rows(
    a: &[f32],
    b: &[f32],
    (n, k): (usize, usize),
    c_rows: &mut [f32],
    rows: Range<usize>,
) {
    // Read column-major, `c_rows` is C[rows]ᵀ (n × m'), and C[rows]ᵀ += B · A[rows]ᵀ: B is the
    // row-major [n, k] buffer (steps k, 1), A[rows]ᵀ the column-major view of A's rows.
    let mut ct = nalgebra::DMatrixViewMut::from_slice(c_rows, n, rows.len());
    let bm = nalgebra::DMatrixView::from_slice_with_strides(b, n, k, k, 1);
    let at = nalgebra::DMatrixView::from_slice(&a[rows.start * k..rows.end * k], k, rows.len());
    ct.gemm(1.0, &bm, &at, 1.0);
}

/// Adds rows `rows` of `Aᵀ · B` into `c_rows`, for row-major `a: [k, m]`, `b: [k, n]`.
pub(super) fn add_atb_rows(
    a: &[f32],
    b: &[f32],
    (m, n): (usize, usize),
    c_rows: &mut [f32],
    rows: Range<usize>,
) {
    let k = a.len() / m.max(1);
    // C[rows]ᵀ (n × m') += Bᵀ · A[:, rows]: Bᵀ is the row-major [k, n] buffer read
    // column-major, A[:, rows] the k × m' block of the row-major [k, m] buffer (steps m, 1).
    let mut ct = nalgebra::DMatrixViewMut::from_slice(c_rows, n, rows.len());
    let bt = nalgebra::DMatrixView::from_slice(b, n, k);
    let a = nalgebra::DMatrixView::from_slice_with_strides(&a[rows.start..], k, rows.len(), m, 1);
    ct.gemm(1.0, &bt, &a, 1.0);
}

/// nalgebra hands a product to matrixmultiply only when every dimension exceeds 5; below, its
/// fallback is far slower. A correction's factors are padded to this rank with exact zeros.
pub(super) const MIN_RANK: usize = 6;
