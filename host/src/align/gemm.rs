//! The f32 GEMMs of the score matrices: products accumulated in place into row-major matrices,
//! split over two threads by rows.
//!
//! The products go straight to `matrixmultiply::sgemm` (the kernel nalgebra's own fast path
//! calls, so the bits are those of nalgebra's large products) through [`sgemm_acc`], the one
//! `unsafe` call of the host's numeric code, whose extents and strides are checked first.
//! nalgebra's `gemm` on strided views is not used: for products with a dimension of 5 or less
//! it falls back to a column loop (`axcpy_uninit` in `blas_uninit.rs`, nalgebra 0.34 and 0.35)
//! that walks a row-strided left operand over the length of its bounding box instead of its
//! row count, reading past the operand and writing past the output (dimforge/nalgebra #1616).
//! Weight matching of hidden widths 2 to 11 took that path and corrupted the heap.
#![allow(unsafe_code)]

use std::ops::Range;

/// A matrix operand in a slice: `rows × cols` at `data[r·row_step + c·col_step]`.
#[derive(Clone, Copy, Debug)]
struct Strided<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_step: usize,
    col_step: usize,
}

/// Entries a `rows × cols` matrix at these steps spans in its buffer (0 if it is empty).
fn span(rows: usize, cols: usize, row_step: usize, col_step: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1)
        .checked_mul(row_step)?
        .checked_add((cols - 1).checked_mul(col_step)?)?
        .checked_add(1)
}

impl Strided<'_> {
    fn fits(&self) -> bool {
        span(self.rows, self.cols, self.row_step, self.col_step)
            .is_some_and(|s| s <= self.data.len())
            && isize::try_from(self.row_step).is_ok()
            && isize::try_from(self.col_step).is_ok()
    }
}

/// `C += A · B` for `a: m × k`, `b: k × n` and `c: m × n` stored column-major in `c`
/// (`c[i + j·m]`).
///
/// # Panics
/// If an operand does not fit its slice or the inner dimensions disagree: a bug in the caller
/// (every call below derives the shapes from the slices it passes), never an out-of-bounds access.
fn sgemm_acc(a: Strided<'_>, b: Strided<'_>, c: &mut [f32]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions of the product");
    assert!(a.fits() && b.fits(), "an operand does not fit its slice");
    assert!(
        m.checked_mul(n).is_some_and(|len| len <= c.len()) && isize::try_from(m).is_ok(),
        "the output does not fit its slice"
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: every (i, l) with i < m, l < k addresses `a.data[i·row_step + l·col_step]`, at most
    // `span(..) - 1 < a.data.len()` (checked by `fits`); likewise for `b`. The output is
    // column-major with row step 1 and column step m ≥ 1, so (i, j) ↦ i + j·m is injective and
    // at most m·n - 1 < c.len(). `c` is a unique borrow, so it aliases neither input; the steps
    // fit in isize (checked). matrixmultiply reads only inside these extents and writes only
    // the m·n output entries.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            a.row_step as isize,
            a.col_step as isize,
            b.data.as_ptr(),
            b.row_step as isize,
            b.col_step as isize,
            1.0,
            c.as_mut_ptr(),
            1,
            m as isize,
        );
    }
}

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

/// Adds rows `rows` of `A · Bᵀ` into `c_rows`, for row-major `a: [m, k]`, `b: [n, k]`
/// (accumulating in place: no transposed copies, no temporary).
pub(super) fn add_abt_rows(
    a: &[f32],
    b: &[f32],
    (n, k): (usize, usize),
    c_rows: &mut [f32],
    rows: Range<usize>,
) {
    // Read column-major, `c_rows` is C[rows]ᵀ (n × m'), and C[rows]ᵀ += B · A[rows]ᵀ: B is the
    // row-major [n, k] buffer (steps k, 1), A[rows]ᵀ the column-major k × m' block of A's rows.
    let b = Strided {
        data: b,
        rows: n,
        cols: k,
        row_step: k,
        col_step: 1,
    };
    let at = Strided {
        data: &a[rows.start * k..rows.end * k],
        rows: k,
        cols: rows.len(),
        row_step: 1,
        col_step: k,
    };
    sgemm_acc(b, at, c_rows);
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
    // column-major (steps 1, n), A[:, rows] the k × m' block of the row-major [k, m] buffer
    // (steps m, 1).
    let bt = Strided {
        data: b,
        rows: n,
        cols: k,
        row_step: 1,
        col_step: n,
    };
    let a_cols = Strided {
        data: &a[rows.start..],
        rows: k,
        cols: rows.len(),
        row_step: m,
        col_step: 1,
    };
    sgemm_acc(bt, a_cols, c_rows);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `Σ_l x[i, l] · y[j, l]` in f64 for row-major `x: [p, k]`, `y: [q, k]`.
    fn abt(x: &[f32], y: &[f32], (p, q, k): (usize, usize, usize)) -> Vec<f64> {
        let mut c = vec![0.0; p * q];
        for i in 0..p {
            for j in 0..q {
                c[i * q + j] = (0..k)
                    .map(|l| f64::from(x[i * k + l]) * f64::from(y[j * k + l]))
                    .sum();
            }
        }
        c
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..len).map(|_| rng.normal() as f32).collect()
    }

    proptest! {
        /// Every shape from 1 up, both products, both row halves, against an f64 reference:
        /// the shapes of weight matching on narrow models (the nalgebra fallback's territory).
        #[test]
        fn products_match_the_formula_on_small_shapes(
            m in 1usize..=16,
            n in 1usize..=16,
            k in 1usize..=16,
            seed in any::<u64>(),
        ) {
            let (a, b) = (values(m * k, seed), values(n * k, seed ^ 1));
            let base = values(m * n, seed ^ 2);
            let mut c = base.clone();
            add_product(&mut c, n, |c_rows, rows| add_abt_rows(&a, &b, (n, k), c_rows, rows));
            let want = abt(&a, &b, (m, n, k));
            for (i, (&got, w)) in c.iter().zip(&want).enumerate() {
                let w = w + f64::from(base[i]);
                prop_assert!((f64::from(got) - w).abs() < 1e-4 * (1.0 + w.abs()), "{got} vs {w}");
            }
            // Aᵀ·B for a: [k, m], b: [k, n] is A'·B'ᵀ for the transposes A' = aᵀ, B' = bᵀ.
            let (a2, b2) = (values(k * m, seed ^ 3), values(k * n, seed ^ 4));
            let mut c2 = base.clone();
            add_product(&mut c2, n, |c_rows, rows| add_atb_rows(&a2, &b2, (m, n), c_rows, rows));
            let t = |x: &[f32], rows: usize, cols: usize| -> Vec<f32> {
                (0..cols).flat_map(|c| (0..rows).map(move |r| x[r * cols + c])).collect()
            };
            let want = abt(&t(&a2, k, m), &t(&b2, k, n), (m, n, k));
            for (i, (&got, w)) in c2.iter().zip(&want).enumerate() {
                let w = w + f64::from(base[i]);
                prop_assert!((f64::from(got) - w).abs() < 1e-4 * (1.0 + w.abs()), "{got} vs {w}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn an_operand_larger_than_its_slice_is_refused_before_any_access() {
        // A 2 × 3 row-major operand needs 6 entries; its slice has 5.
        let (a, b) = ([1.0f32; 5], [1.0f32; 3]);
        let mut c = [0.0f32; 2];
        let short = Strided {
            data: &a,
            rows: 2,
            cols: 3,
            row_step: 3,
            col_step: 1,
        };
        let column = Strided {
            data: &b,
            rows: 3,
            cols: 1,
            row_step: 1,
            col_step: 3,
        };
        sgemm_acc(short, column, &mut c);
    }
}
