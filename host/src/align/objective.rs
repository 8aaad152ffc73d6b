//! The weight-matching objective kept row by row ([`AlignedRows`]), so a sweep that moved few
//! units is scored in `O(n·k)` per layer.

use rayon::prelude::*;

use crate::align::Permutation;
use crate::nn::Mlp;

/// The terms of [`aligned_inner_product`] row by row (layer `ℓ`, row `r`:
/// `⟨W_ℓ^A[r], π(W_ℓ^B)[r]⟩ + b_ℓ^A[r] · π(b_ℓ^B)[r]`, in f64), kept for the permutations
/// they were computed for. [`AlignedRows::update`] brings them to new permutations by
/// recomputing the rows whose unit moved and correcting the others for the moved columns
/// only, so a late sweep, which moves a few units, costs `O(n·k)` per layer instead of a pass
/// over both models.
pub(super) struct AlignedRows {
    basis: Vec<Permutation>,
    rows: Vec<Vec<f64>>,
}

impl AlignedRows {
    pub(super) fn new(a: &Mlp, b: &Mlp, perms: &[Permutation]) -> Self {
        let rows = (0..a.layers.len())
            .map(|l| {
                let mut values = vec![0.0; a.layers[l].out_dim];
                aligned_rows(a, b, perms, l, &mut values, |_| true);
                values
            })
            .collect();
        Self {
            basis: perms.to_vec(),
            rows,
        }
    }

    /// The sum of all rows, in a fixed order.
    pub(super) fn total(&self) -> f64 {
        self.rows.iter().map(|r| r.iter().sum::<f64>()).sum()
    }

    /// Brings the rows to `perms` and returns the new total.
    pub(super) fn update(&mut self, a: &Mlp, b: &Mlp, perms: &[Permutation]) -> f64 {
        let h = perms.len();
        let moved = |j: usize| -> Vec<usize> { perms[j].moved(&self.basis[j]).collect() };
        for (l, values) in self.rows.iter_mut().enumerate() {
            let row_moved = if l < h { moved(l) } else { Vec::new() };
            let col_moved = l.checked_sub(1).map_or_else(Vec::new, moved);
            if row_moved.is_empty() && col_moved.is_empty() {
                continue;
            }
            // Many moved columns: every row is recomputed (as cheap, and exact).
            if 4 * col_moved.len() > a.layers[l].in_dim {
                aligned_rows(a, b, perms, l, values, |_| true);
                continue;
            }
            let mut recompute = vec![false; values.len()];
            for &r in &row_moved {
                recompute[r] = true;
            }
            aligned_rows(a, b, perms, l, values, |r| recompute[r]);
            if let Some(j) = l.checked_sub(1).filter(|_| !col_moved.is_empty()) {
                let (la, lb) = (&a.layers[l], &b.layers[l]);
                let (new, old) = (perms[j].map(), self.basis[j].map());
                let rows = (l < h).then(|| perms[l].map());
                values.par_iter_mut().enumerate().for_each(|(r, v)| {
                    if recompute[r] {
                        return;
                    }
                    let (wa, wb) = (la.row(r), lb.row(rows.map_or(r, |p| p[r])));
                    *v += col_moved
                        .iter()
                        .map(|&c| {
                            f64::from(wa[c]) * (f64::from(wb[new[c]]) - f64::from(wb[old[c]]))
                        })
                        .sum::<f64>();
                });
            }
        }
        self.basis.clone_from_slice(perms);
        self.total()
    }
}

/// Computes the rows `r` of layer `l` selected by `pick(r)` into `values` (in parallel; each
/// row on its own, so the bits do not depend on the thread count). B's row is first gathered
/// through the column permutation, so that the dot product runs on contiguous slices.
fn aligned_rows(
    a: &Mlp,
    b: &Mlp,
    perms: &[Permutation],
    l: usize,
    values: &mut [f64],
    pick: impl Fn(usize) -> bool + Sync,
) {
    let h = perms.len();
    let (la, lb) = (&a.layers[l], &b.layers[l]);
    let rows = (l < h).then(|| perms[l].map());
    let cols = l.checked_sub(1).map(|i| perms[i].map());
    let arch = pulp::Arch::new();
    values
        .par_iter_mut()
        .enumerate()
        .for_each_init(Vec::new, |gathered: &mut Vec<f32>, (r, v)| {
            if !pick(r) {
                return;
            }
            let src = rows.map_or(r, |p| p[r]);
            let (wa, wb) = (la.row(r), lb.row(src));
            let w = arch.dispatch(RowDot {
                wa,
                wb,
                cols,
                gathered,
            });
            *v = w + f64::from(la.bias[r]) * f64::from(lb.bias[src]);
        });
}

/// `Σ_c wa[c] · wb[cols[c]]` (or `Σ_c wa[c] · wb[c]`) in f64, via [`dot_f64`] on the gathered
/// row; a plain loop, compiled for the vector unit found at run time (pulp inlines it into its
/// per-CPU functions).
struct RowDot<'a> {
    wa: &'a [f32],
    wb: &'a [f32],
    cols: Option<&'a [usize]>,
    gathered: &'a mut Vec<f32>,
}

impl pulp::WithSimd for RowDot<'_> {
    type Output = f64;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> f64 {
        let Self {
            wa,
            wb,
            cols,
            gathered,
        } = self;
        match cols {
            Some(p) => {
                gathered.resize(p.len(), 0.0);
                for (g, &c) in gathered.iter_mut().zip(p) {
                    *g = wb[c];
                }
                dot_f64(wa, gathered)
            }
            None => dot_f64(wa, wb),
        }
    }
}

/// `Σ_k x[k] · y[k]` in f64, over eight interleaved partial sums (a fixed order, so the same
/// bits everywhere; eight independent additions in flight instead of one chain).
#[inline(always)]
fn dot_f64(x: &[f32], y: &[f32]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let (xs, ys) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (x_tail, y_tail) = (xs.remainder(), ys.remainder());
    for (xc, yc) in xs.zip(ys) {
        for ((a, &xv), &yv) in acc.iter_mut().zip(xc).zip(yc) {
            *a += f64::from(xv) * f64::from(yv);
        }
    }
    for ((a, &xv), &yv) in acc.iter_mut().zip(x_tail).zip(y_tail) {
        *a += f64::from(xv) * f64::from(yv);
    }
    acc.iter().sum()
}
