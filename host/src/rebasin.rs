//! Git Re-Basin alignment of two MLPs (SPEC §2): weight matching by coordinate descent
//! (§2.3, "Algorithm 1") and activation matching (§2.4).
//!
//! An MLP with `L` linear layers has `L − 1` hidden permutations; `perms[i]` acts on the output
//! units of layer `i` and the input units of layer `i + 1`. With the convention of SPEC §2.3,
//! `perms[i].map()[r] = c` puts unit `c` of model B at position `r` of the aligned model.
//!
//! ```text
//! aligned.W_ℓ[r, c] = B.W_ℓ[P_ℓ(r), P_{ℓ-1}(c)]      aligned.b_ℓ[r] = B.b_ℓ[P_ℓ(r)]
//! cost of P_i:  C = W_i^A (W_i^B P_{i-1})ᵀ + b_i^A (b_i^B)ᵀ + (W_{i+1}^A)ᵀ (P_{i+1} W_{i+1}^B)
//! ```

use std::ops::Range;

use anyhow::Result;
use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::data::Dataset;
use crate::lap::{LapSolver, Permutation, solve_max};
use crate::mlp::{Dense, Mlp};
use crate::rng::Rng;

/// Sweep limit of SPEC §2.3.
pub const MAX_SWEEPS: usize = 100;
/// A permutation update counts as progress only if it gains more than this (SPEC §2.3).
pub const MIN_GAIN: f64 = 1e-12;

/// One sweep of coordinate descent, for the JSON log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sweep {
    /// 1-based sweep number.
    pub sweep: usize,
    /// The order in which the hidden permutations were updated.
    pub order: Vec<usize>,
    /// Objective `Σ_ℓ ⟨W^A, π(W^B)⟩ + ⟨b^A, π(b^B)⟩` after the sweep.
    pub objective: f64,
    /// Units whose assignment changed during the sweep, summed over layers.
    pub changed_units: usize,
}

/// The result of an alignment: the permutations and how they were found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Alignment {
    /// `"weight"` or `"activation"`.
    pub method: &'static str,
    /// One permutation per hidden layer.
    pub perms: Vec<Permutation>,
    /// Objective of the identity (unaligned) pairing.
    pub objective_identity: f64,
    /// Objective of the returned permutations.
    pub objective: f64,
    /// Per-sweep log (weight matching only).
    pub sweeps: Vec<Sweep>,
    /// True if the last sweep made no progress (weight matching); false if 100 sweeps ran out.
    pub converged: bool,
}

/// `C += P` for a row-major f32 matrix `c: [m, n]` and a product `P` made by halves:
/// `product(c_rows, rows)` adds rows `rows` of `P` into `c_rows` (those rows of `C`). The two
/// halves run on two threads (a fixed split, so the bits do not depend on the thread count).
fn add_product(c: &mut [f32], n: usize, product: impl Fn(&mut [f32], Range<usize>) + Sync) {
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
fn add_abt_rows(
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
fn add_atb_rows(
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
const MIN_RANK: usize = 6;

/// Reorders rows by `rows` (if given) and columns by `cols` (if given) of a row-major matrix.
fn permute_matrix(
    w: &[f32],
    out_dim: usize,
    in_dim: usize,
    rows: Option<&Permutation>,
    cols: Option<&Permutation>,
) -> Vec<f32> {
    let mut o = Vec::with_capacity(w.len());
    permute_matrix_into(w, out_dim, in_dim, rows, cols, &mut o);
    o
}

/// [`permute_matrix`] into a kept buffer (cleared first).
fn permute_matrix_into(
    w: &[f32],
    out_dim: usize,
    in_dim: usize,
    rows: Option<&Permutation>,
    cols: Option<&Permutation>,
    o: &mut Vec<f32>,
) {
    o.clear();
    for r in 0..out_dim {
        let src_r = rows.map_or(r, |p| p.map()[r]);
        let row = &w[src_r * in_dim..(src_r + 1) * in_dim];
        match cols {
            Some(p) => o.extend(p.map().iter().map(|&c| row[c])),
            None => o.extend_from_slice(row),
        }
    }
}

/// Applies hidden permutations to a model (function unchanged).
pub fn permute(model: &Mlp, perms: &[Permutation]) -> Mlp {
    let h = model.layers.len().saturating_sub(1);
    assert_eq!(perms.len(), h, "one permutation per hidden layer");
    let layers = model
        .layers
        .iter()
        .enumerate()
        .map(|(l, d)| {
            let rows = (l < h).then(|| &perms[l]);
            let cols = l.checked_sub(1).map(|i| &perms[i]);
            Dense {
                out_dim: d.out_dim,
                in_dim: d.in_dim,
                weight: permute_matrix(&d.weight, d.out_dim, d.in_dim, rows, cols),
                bias: rows.map_or_else(|| d.bias.clone(), |p| p.take(&d.bias)),
            }
        })
        .collect();
    Mlp { layers }
}

/// `Σ_ℓ ⟨W_ℓ^A, W_ℓ^B⟩_F + ⟨b_ℓ^A, b_ℓ^B⟩` in f64.
pub fn inner_product(a: &Mlp, b: &Mlp) -> f64 {
    a.flat_params()
        .iter()
        .zip(b.flat_params())
        .map(|(x, y)| f64::from(*x) * f64::from(y))
        .sum()
}

/// L2 distance `‖θ_A − θ_B‖` over all parameters.
pub fn l2_distance(a: &Mlp, b: &Mlp) -> f64 {
    a.flat_params()
        .iter()
        .zip(b.flat_params())
        .map(|(x, y)| (f64::from(*x) - f64::from(y)).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// `Σ_ℓ ⟨W_ℓ^A, π(W_ℓ^B)⟩ + ⟨b_ℓ^A, π(b_ℓ^B)⟩` in f64, reading B through the permutations
/// (equal to `inner_product(a, &permute(b, perms))` without building the permuted model).
pub fn aligned_inner_product(a: &Mlp, b: &Mlp, perms: &[Permutation]) -> f64 {
    AlignedRows::new(a, b, perms).total()
}

/// The terms of [`aligned_inner_product`] row by row (layer `ℓ`, row `r`:
/// `⟨W_ℓ^A[r], π(W_ℓ^B)[r]⟩ + b_ℓ^A[r] · π(b_ℓ^B)[r]`, in f64), kept for the permutations
/// they were computed for. [`AlignedRows::update`] brings them to new permutations by
/// recomputing the rows whose unit moved and correcting the others for the moved columns
/// only, so a late sweep, which moves a few units, costs `O(n·k)` per layer instead of a pass
/// over both models.
struct AlignedRows {
    basis: Vec<Permutation>,
    rows: Vec<Vec<f64>>,
}

impl AlignedRows {
    fn new(a: &Mlp, b: &Mlp, perms: &[Permutation]) -> Self {
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
    fn total(&self) -> f64 {
        self.rows.iter().map(|r| r.iter().sum::<f64>()).sum()
    }

    /// Brings the rows to `perms` and returns the new total.
    fn update(&mut self, a: &Mlp, b: &Mlp, perms: &[Permutation]) -> f64 {
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

/// Which half of a permutation's score matrix (SPEC §2.3): the incoming weights and biases of
/// layer `i` (depend on `P_{i-1}`), or the outgoing weights of layer `i + 1` (depend on
/// `P_{i+1}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Incoming,
    Outgoing,
}

/// One half of the score matrix of hidden permutation `i`, added into that matrix (the
/// [`Slot`]'s, which the LAP reads in place) and kept up to date there.
///
/// Both halves are products through the neighbouring permutation `Q`: the incoming half
/// `C = W_i^A (W_i^B Q)ᵀ` contracts over the units below, the outgoing half
/// `C = (W_{i+1}^A)ᵀ (Q W_{i+1}^B)` over the units above. When `Q` changes in `k` units, `C`
/// changes by a rank-`k` product of the moved columns (rows) of A's weights with the
/// differences of B's: `2·n²·k` flops against `2·n²·K` for a fresh product (`K` = the
/// contracted width), so late sweeps, which move few units, skip most of the reference
/// algorithm's GEMM work. The matrix is f32, as in the float32 reference implementations;
/// products and corrections are f32 GEMMs accumulating into it in place.
#[derive(Debug)]
struct ScoreTerm {
    side: Side,
    /// Hidden permutation index.
    i: usize,
    /// False until the term has been added to the score matrix.
    added: bool,
    /// The neighbouring permutation the added term is for (`None`: the neighbour is the fixed
    /// input or output layer, so the term never changes).
    basis: Option<Permutation>,
}

/// Buffers the two terms of a slot reuse for their products and corrections (one term at a
/// time), so their pages are touched once per matching rather than once per update.
#[derive(Debug, Default)]
struct Scratch {
    /// A correction's left factor: the moved columns (incoming) or rows (outgoing) of A's
    /// weights.
    a: Vec<f32>,
    /// B's weights through the neighbour (a full product), or a correction's right factor:
    /// the differences of B's moved columns (rows).
    d: Vec<f32>,
}

impl Scratch {
    /// Touches the pages of both buffers up to `len` entries (the largest factor a term of
    /// the slot can need), so that the first large correction does not pay for fresh pages:
    /// done by a thread that would otherwise wait.
    fn prepare(&mut self, len: usize) {
        for v in [&mut self.a, &mut self.d] {
            if v.capacity() < len {
                v.clear();
                v.resize(len, 0.0);
                v.clear();
            }
        }
    }
}

impl ScoreTerm {
    /// A term computed on first use (a neighbour may move before then).
    fn new(side: Side, i: usize) -> Self {
        Self {
            side,
            i,
            added: false,
            basis: None,
        }
    }

    fn neighbour(side: Side, i: usize, perms: &[Permutation]) -> Option<&Permutation> {
        match side {
            Side::Incoming => i.checked_sub(1).map(|j| &perms[j]),
            Side::Outgoing => perms.get(i + 1),
        }
    }

    /// Adds the full product for the current basis to `scores` (`[n, n]`, or empty: then it
    /// is made, zero, first).
    fn add_full(&self, a: &Mlp, b: &Mlp, scores: &mut Vec<f32>, scratch: &mut Scratch) {
        let i = self.i;
        let n = a.layers[i].out_dim;
        if scores.is_empty() {
            scores.resize(n * n, 0.0);
        }
        let Scratch { d, .. } = scratch;
        match self.side {
            Side::Incoming => {
                let (la, lb) = (&a.layers[i], &b.layers[i]);
                let b_in: &[f32] = match self.basis.as_ref().filter(|q| !q.is_identity()) {
                    Some(q) => {
                        permute_matrix_into(&lb.weight, n, lb.in_dim, None, Some(q), d);
                        d
                    }
                    None => &lb.weight,
                };
                add_product(scores, n, |c_rows, rows| {
                    add_abt_rows(&la.weight, b_in, (n, la.in_dim), c_rows, rows);
                });
                for (row, &ba) in scores.chunks_exact_mut(n).zip(&la.bias) {
                    for (x, &bb) in row.iter_mut().zip(&lb.bias) {
                        *x += ba * bb;
                    }
                }
            }
            Side::Outgoing => {
                let (na, nb) = (&a.layers[i + 1], &b.layers[i + 1]);
                let b_out: &[f32] = match self.basis.as_ref().filter(|q| !q.is_identity()) {
                    Some(q) => {
                        permute_matrix_into(&nb.weight, nb.out_dim, n, Some(q), None, d);
                        d
                    }
                    None => &nb.weight,
                };
                add_product(scores, n, |c_rows, rows| {
                    add_atb_rows(&na.weight, b_out, (n, n), c_rows, rows);
                });
            }
        }
    }

    /// Brings the term's share of `scores` up to date with the current permutations.
    fn refresh(
        &mut self,
        scores: &mut Vec<f32>,
        scratch: &mut Scratch,
        a: &Mlp,
        b: &Mlp,
        perms: &[Permutation],
    ) {
        let neighbour = Self::neighbour(self.side, self.i, perms);
        if !self.added {
            self.basis = neighbour.cloned();
            self.add_full(a, b, scores, scratch);
            self.added = true;
            return;
        }
        // No neighbour: the term is next to a fixed layer and never changes.
        let Some(new) = neighbour else {
            return;
        };
        let Some(old) = self.basis.replace(new.clone()) else {
            return;
        };
        let moved: Vec<usize> = new.moved(&old).collect();
        if moved.is_empty() {
            return;
        }
        let (old, new) = (old.map(), new.map());
        let i = self.i;
        let n = a.layers[i].out_dim;
        // The rank, padded with exact zeros so that the product takes the fast path.
        let rank = moved.len().max(MIN_RANK);
        let Scratch { a: fa, d: fd } = scratch;
        fa.clear();
        fd.clear();
        match self.side {
            Side::Incoming => {
                // C[r, c] = Σ_u A[r, u] · B[c, Q(u)]: columns u of B changed from Q_old(u) to
                // Q_new(u). The factors are [n, rank], gathered row by row (each row of the
                // weights read once, in cache).
                let (la, lb) = (&a.layers[i], &b.layers[i]);
                for r in 0..n {
                    let (wa, wb) = (la.row(r), lb.row(r));
                    fa.extend(moved.iter().map(|&u| wa[u]));
                    fa.resize((r + 1) * rank, 0.0);
                    fd.extend(moved.iter().map(|&u| wb[new[u]] - wb[old[u]]));
                    fd.resize((r + 1) * rank, 0.0);
                }
                add_product(scores, n, |c_rows, rows| {
                    add_abt_rows(fa, fd, (n, rank), c_rows, rows);
                });
            }
            Side::Outgoing => {
                // C[r, c] = Σ_o A[o, r] · B[Q(o), c]: rows o of B changed from Q_old(o) to
                // Q_new(o). The factors are [rank, n].
                let (na, nb) = (&a.layers[i + 1], &b.layers[i + 1]);
                for &o in &moved {
                    fa.extend_from_slice(na.row(o));
                    let (bn, bo) = (nb.row(new[o]), nb.row(old[o]));
                    fd.extend(bn.iter().zip(bo).map(|(&x, &y)| x - y));
                }
                fa.resize(rank * n, 0.0);
                fd.resize(rank * n, 0.0);
                add_product(scores, n, |c_rows, rows| {
                    add_atb_rows(fa, fd, (n, n), c_rows, rows);
                });
            }
        }
    }
}

const BOTH_SIDES: [Side; 2] = [Side::Incoming, Side::Outgoing];

/// The largest factor (or permuted copy of B's weights) a term of hidden permutation `i` can
/// need: `n × K` for each term that can change (`K` its contracted width).
fn factor_len(model: &Mlp, i: usize) -> usize {
    let h = model.layers.len().saturating_sub(1);
    let n = model.layers[i].out_dim;
    let incoming = if i > 0 { model.layers[i].in_dim } else { 0 };
    let outgoing = if i + 1 < h {
        model.layers[i + 1].out_dim
    } else {
        0
    };
    n * incoming.max(outgoing)
}

/// A permutation's LAP answer and its gain over the permutation it replaces.
type Solved = (Permutation, f64);

/// The state kept per hidden permutation between sweeps.
#[derive(Debug)]
struct Slot {
    /// The score matrix `[n, n]`: incoming plus outgoing term (empty until first needed), in
    /// f32 like the reference implementations' (the LAP widens entries exactly).
    scores: Vec<f32>,
    incoming: ScoreTerm,
    outgoing: ScoreTerm,
    scratch: Scratch,
    solver: LapSolver,
}

impl Slot {
    fn new(i: usize, n: usize) -> Self {
        Self {
            scores: Vec::new(),
            incoming: ScoreTerm::new(Side::Incoming, i),
            outgoing: ScoreTerm::new(Side::Outgoing, i),
            scratch: Scratch::default(),
            solver: LapSolver::new(n),
        }
    }

    /// Brings one or both halves of the score matrix up to date (one after the other: they
    /// share the matrix; each update is split over the threads).
    fn refresh(&mut self, sides: &[Side], a: &Mlp, b: &Mlp, perms: &[Permutation]) {
        for side in sides {
            let term = match side {
                Side::Incoming => &mut self.incoming,
                Side::Outgoing => &mut self.outgoing,
            };
            term.refresh(&mut self.scores, &mut self.scratch, a, b, perms);
        }
    }

    /// The best permutation `i` given the others (score matrix refreshed), and its gain over
    /// the current one.
    fn solve(&mut self, perms: &[Permutation], i: usize) -> Result<Solved> {
        let new = self.solver.solve_max(&self.scores)?;
        let n = new.len();
        let gain = crate::lap::assignment_score(&self.scores, n, &new)
            - crate::lap::assignment_score(&self.scores, n, &perms[i]);
        Ok((new, gain))
    }
}

/// Splits a sweep order into its longest runs with no two neighbouring permutations: the
/// permutations of a run do not read each other's result, so they can be solved at once.
fn independent_runs(order: &[usize]) -> Vec<Vec<usize>> {
    let mut runs: Vec<Vec<usize>> = Vec::new();
    for &i in order {
        match runs.last_mut() {
            Some(run) if run.iter().all(|&j| i.abs_diff(j) != 1) => run.push(i),
            _ => runs.push(vec![i]),
        }
    }
    runs
}

/// A fresh random order of the `h` hidden permutations (SPEC §2.3).
fn sweep_order(h: usize, rng: &mut Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..h).collect();
    rng.shuffle(&mut order);
    order
}

/// Weight matching (SPEC §2.3): identity start, a fresh random order of the hidden
/// permutations every sweep (from `seed`), each updated by an exact LAP and always accepted;
/// stop after a sweep with no gain > 1e-12 or after 100 sweeps. The models must have the same
/// architecture (checked by the caller, e.g. with [`Mlp::check_same_arch`]).
///
/// Five things make it fast without changing what is computed:
/// - a permutation whose two neighbours have not changed since it was last solved has the
///   same score matrix, and is skipped (gain 0);
/// - each permutation's score matrix is kept and corrected in place by low-rank products when a
///   neighbour moves ([`ScoreTerm`]);
/// - each permutation's LAP reads that matrix in place and is warm-started from its previous
///   prices and answer;
/// - consecutive permutations of the sweep order that are not neighbours do not read each
///   other's result, so they are solved at the same time (on two threads or more);
/// - while the LAPs of a run of the order are solved (one thread each), a thread without a
///   LAP brings up to date the score terms of the next run that do not depend on this one,
///   touches the buffers the next run will need, and computes the previous sweep's objective
///   (kept row by row, [`AlignedRows`], so a sweep that moved few units costs little).
pub fn weight_matching(a: &Mlp, b: &Mlp, seed: u64) -> Result<Alignment> {
    let h = a.layers.len().saturating_sub(1);
    let mut perms: Vec<Permutation> = a.layers[..h]
        .iter()
        .map(|l| Permutation::identity(l.out_dim))
        .collect();
    // The objective row by row, brought up to date once per sweep.
    let mut objective_rows = AlignedRows::new(a, b, &perms);
    let objective_identity = objective_rows.total();
    let mut rng = Rng::new(seed);
    let mut slots: Vec<Slot> = perms
        .iter()
        .enumerate()
        .map(|(i, p)| Slot::new(i, p.len()))
        .collect();
    // stale[i]: a neighbour of permutation i changed since i was last solved.
    let mut stale = vec![true; h];
    let mut sweeps: Vec<Sweep> = Vec::new();
    // The last sweep's permutations, whose objective is computed alongside the next sweep.
    let mut unscored: Option<Vec<Permutation>> = None;
    let mut converged = false;
    let mut order = sweep_order(h, &mut rng);
    let mut runs = independent_runs(&order);
    for sweep in 1..=MAX_SWEEPS {
        // Drawn now so the last run of this sweep can work ahead on the first of the next;
        // the generator gives the same orders as drawing at the start of each sweep.
        let next_order = sweep_order(h, &mut rng);
        let next_runs = independent_runs(&next_order);
        let no_run = Vec::new();
        let next_first = next_runs.first().unwrap_or(&no_run);
        let mut progress = false;
        let mut changed_units = 0;
        for (r, run) in runs.iter().enumerate() {
            let upcoming = runs.get(r + 1).unwrap_or(next_first);
            let batch: Vec<usize> = run.iter().copied().filter(|&i| stale[i]).collect();
            let mut current: Vec<(usize, &mut Slot)> = Vec::new();
            let mut ahead: Vec<(usize, &mut Slot)> = Vec::new();
            for (i, slot) in slots.iter_mut().enumerate() {
                if batch.contains(&i) {
                    current.push((i, slot));
                } else if upcoming.contains(&i) && !run.contains(&i) {
                    ahead.push((i, slot));
                }
            }
            let perms_now = &perms;
            // A run with no LAP (its permutations are up to date) has no thread to spare:
            // the last sweep's objective waits for a run that has one (or the sweep's end).
            let score_unscored = if current.is_empty() {
                None
            } else {
                unscored.take()
            };
            // The run's own terms first, on all threads; then its LAPs, each on one thread,
            // while the other threads work ahead.
            current
                .par_iter_mut()
                .for_each(|(_, slot)| slot.refresh(&BOTH_SIDES, a, b, perms_now));
            // Fewer LAPs than threads: a thread is free to prepare the next run's buffers.
            let lone = !current.is_empty() && current.len() < rayon::current_num_threads();
            let mut solved: Vec<Option<(usize, Result<Solved>)>> =
                current.iter().map(|_| None).collect();
            let mut objective = None;
            let side = || {
                // Serial work first: whatever is split over the threads afterwards (the
                // products below, the objective) can then be shared with the LAP thread as
                // soon as its LAP is done, instead of leaving it idle at the end.
                if lone {
                    for (j, slot) in &mut ahead {
                        slot.scratch.prepare(factor_len(a, *j));
                    }
                }
                // Terms whose neighbour is not being solved now hold their value until the
                // next run needs them: refresh them here, off the critical path.
                for (j, slot) in &mut ahead {
                    let settled = [
                        (!j.checked_sub(1).is_some_and(|k| run.contains(&k)))
                            .then_some(Side::Incoming),
                        (!run.contains(&(*j + 1))).then_some(Side::Outgoing),
                    ];
                    let sides: Vec<Side> = settled.into_iter().flatten().collect();
                    slot.refresh(&sides, a, b, perms_now);
                }
                objective = score_unscored.map(|p| objective_rows.update(a, b, &p));
            };
            // FIFO: the LAPs are taken first, one per thread, and the side work only by a
            // thread that has no LAP (or has finished its own), so it never delays one.
            rayon::scope_fifo(|scope| {
                for ((i, slot), out) in current.iter_mut().zip(&mut solved) {
                    let i = *i;
                    scope.spawn_fifo(move |_| *out = Some((i, slot.solve(perms_now, i))));
                }
                scope.spawn_fifo(|_| side());
            });
            if let Some(objective) = objective {
                sweeps
                    .last_mut()
                    .expect("a sweep was scored late")
                    .objective = objective;
            }
            for (i, result) in solved.into_iter().flatten() {
                let (new, gain) = result?;
                if gain > MIN_GAIN {
                    progress = true;
                }
                let changed = new.hamming(&perms[i]);
                if changed > 0 {
                    changed_units += changed;
                    if let Some(j) = i.checked_sub(1) {
                        stale[j] = true;
                    }
                    if let Some(s) = stale.get_mut(i + 1) {
                        *s = true;
                    }
                }
                perms[i] = new;
                stale[i] = false;
            }
        }
        if let (Some(p), Some(last)) = (unscored.take(), sweeps.last_mut()) {
            last.objective = objective_rows.update(a, b, &p);
        }
        sweeps.push(Sweep {
            sweep,
            order,
            objective: f64::NAN,
            changed_units,
        });
        unscored = Some(perms.clone());
        (order, runs) = (next_order, next_runs);
        if !progress {
            converged = true;
            break;
        }
    }
    if let (Some(p), Some(last)) = (unscored, sweeps.last_mut()) {
        last.objective = objective_rows.update(a, b, &p);
    }
    let objective = sweeps.last().map_or(objective_identity, |s| s.objective);
    Ok(Alignment {
        method: "weight",
        perms,
        objective_identity,
        objective,
        sweeps,
        converged,
    })
}

/// Post-ReLU activations of every hidden layer for a batch `x: [n, d]`, each `[n, width]`.
fn hidden_activations(model: &Mlp, x: &Tensor) -> Result<Vec<Tensor>> {
    let mut cur = x.clone();
    let mut out = Vec::new();
    for l in &model.layers[..model.layers.len().saturating_sub(1)] {
        let w = Tensor::from_slice(&l.weight, (l.out_dim, l.in_dim), &Device::Cpu)?;
        let b = Tensor::from_slice(&l.bias, l.out_dim, &Device::Cpu)?;
        cur = cur.matmul(&w.t()?)?.broadcast_add(&b)?.relu()?;
        out.push(cur.clone());
    }
    Ok(out)
}

/// Activation matching (SPEC §2.4): per hidden layer, `max_P ⟨P, Z^A (Z^B)ᵀ⟩` with the
/// post-ReLU activations of both models on `data` (all samples, in batches of 1000). Layers are
/// matched independently. The reported objective is the weight-matching objective of the result,
/// so the two methods can be compared on one scale.
pub fn activation_matching(a: &Mlp, b: &Mlp, data: &Dataset) -> Result<Alignment> {
    let h = a.layers.len().saturating_sub(1);
    let mut corr: Vec<Tensor> = a.layers[..h]
        .iter()
        .map(|l| {
            Tensor::zeros(
                (l.out_dim, l.out_dim),
                candle_core::DType::F32,
                &Device::Cpu,
            )
        })
        .collect::<candle_core::Result<_>>()?;
    for start in (0..data.n).step_by(1000) {
        let end = (start + 1000).min(data.n);
        let x = Tensor::from_slice(
            &data.features[start * data.d..end * data.d],
            (end - start, data.d),
            &Device::Cpu,
        )?;
        let za = hidden_activations(a, &x)?;
        let zb = hidden_activations(b, &x)?;
        for (c, (za, zb)) in corr.iter_mut().zip(za.iter().zip(&zb)) {
            *c = (&*c + za.t()?.matmul(zb)?)?;
        }
    }
    let mut perms = Vec::with_capacity(h);
    for c in corr {
        let n = c.dim(0)?;
        let c: Vec<f64> = c
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect();
        perms.push(solve_max(&c, n)?);
    }
    Ok(Alignment {
        method: "activation",
        objective_identity: inner_product(a, b),
        objective: aligned_inner_product(a, b, &perms),
        perms,
        sweeps: Vec::new(),
        converged: true,
    })
}

/// How to align model B to model A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// No alignment (identity permutations).
    None,
    /// Weight matching, SPEC §2.3 (data-free).
    Weight,
    /// Activation matching, SPEC §2.4 (needs `--data`).
    Activation,
}

/// Aligns `b` to `a` with `method`; `None` for [`Method::None`]. Activation matching uses the
/// training split of `data`.
pub fn align(
    a: &Mlp,
    b: &Mlp,
    method: Method,
    data: Option<&Dataset>,
    seed: u64,
) -> Result<Option<Alignment>> {
    match method {
        Method::None => Ok(None),
        Method::Weight => weight_matching(a, b, seed).map(Some),
        Method::Activation => {
            let data = data.ok_or_else(|| {
                anyhow::anyhow!("activation matching needs data: pass --data NAME")
            })?;
            if data.d != a.in_dim() {
                anyhow::bail!(
                    "the models take {} inputs but the data has {} features",
                    a.in_dim(),
                    data.d
                );
            }
            activation_matching(a, b, data).map(Some)
        }
    }
}

/// `mote match` arguments.
#[derive(Debug, clap::Args)]
pub struct MatchArgs {
    /// Reference model (safetensors).
    pub a: std::path::PathBuf,
    /// Model to align to A.
    pub b: std::path::PathBuf,
    /// Output: B with its hidden units permuted (same function as B).
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Matching method.
    #[arg(long, value_enum, default_value_t = Method::Weight)]
    pub method: Method,
    /// Seed of the random update order of weight matching.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Data set for activation matching (train split).
    #[arg(long)]
    pub data: Option<String>,
    /// Machine-readable output (includes the objective of every sweep).
    #[arg(long)]
    pub json: bool,
}

/// What `mote match --json` prints.
#[derive(Debug, serde::Serialize)]
struct MatchReport<'a> {
    a: String,
    b: String,
    output: String,
    seconds: f64,
    l2_distance_before: f64,
    l2_distance_after: f64,
    #[serde(flatten)]
    alignment: &'a Alignment,
}

/// Runs `mote match`.
pub fn run_match(args: &MatchArgs) -> Result<()> {
    let models = crate::mlp::load_same_arch(&[args.a.clone(), args.b.clone()])?;
    let (a, b) = (&models[0], &models[1]);
    let data = match &args.data {
        Some(name) => Some(crate::data::load(name)?.0),
        None => None,
    };
    let start = std::time::Instant::now();
    let al = align(a, b, args.method, data.as_ref(), args.seed)?.ok_or_else(|| {
        anyhow::anyhow!("--method none aligns nothing; choose weight or activation")
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let aligned = permute(b, &al.perms);
    aligned.save(&args.output)?;
    let report = MatchReport {
        a: args.a.display().to_string(),
        b: args.b.display().to_string(),
        output: args.output.display().to_string(),
        seconds,
        l2_distance_before: l2_distance(a, b),
        l2_distance_after: l2_distance(a, &aligned),
        alignment: &al,
    };
    if args.json {
        // The permutations are long; they are in the output file already (as the model).
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("perms");
        }
        return crate::output::print_json(&v);
    }
    println!(
        "{} matching: objective {:.6} -> {:.6}",
        al.method, al.objective_identity, al.objective
    );
    for s in &al.sweeps {
        println!(
            "  sweep {:>3}  order {:?}  objective {:.6}  units moved {}",
            s.sweep, s.order, s.objective, s.changed_units
        );
    }
    println!(
        "L2 distance {:.4} -> {:.4}; {:.3} s; wrote {}",
        report.l2_distance_before,
        report.l2_distance_after,
        seconds,
        args.output.display()
    );
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A random MLP with the given widths (normal weights, He-like scale).
    pub(crate) fn random_mlp(widths: &[usize], rng: &mut Rng) -> Mlp {
        Mlp {
            layers: widths
                .windows(2)
                .map(|w| {
                    let s = (2.0 / w[0] as f64).sqrt();
                    Dense {
                        out_dim: w[1],
                        in_dim: w[0],
                        weight: (0..w[0] * w[1])
                            .map(|_| (rng.normal() * s) as f32)
                            .collect(),
                        bias: (0..w[1]).map(|_| (rng.normal() * 0.1) as f32).collect(),
                    }
                })
                .collect(),
        }
    }

    fn random_perms(m: &Mlp, rng: &mut Rng) -> Vec<Permutation> {
        m.layers[..m.layers.len() - 1]
            .iter()
            .map(|l| Permutation::random(l.out_dim, rng))
            .collect()
    }

    #[test]
    fn permutation_keeps_the_function() {
        let mut rng = Rng::new(1);
        let a = random_mlp(&[5, 7, 6, 3], &mut rng);
        let p = permute(&a, &random_perms(&a, &mut rng));
        let x: Vec<f32> = (0..10).map(|i| (i as f32 * 0.37).sin()).collect();
        let (ya, yp) = (a.forward(&x, 2), p.forward(&x, 2));
        assert!(ya.iter().zip(&yp).all(|(u, v)| (u - v).abs() < 1e-5));
    }

    #[test]
    fn aligned_inner_product_reads_b_through_the_permutations() {
        let mut rng = Rng::new(11);
        let a = random_mlp(&[9, 13, 8, 5], &mut rng);
        let b = random_mlp(&[9, 13, 8, 5], &mut rng);
        let perms = random_perms(&a, &mut rng);
        let direct = inner_product(&a, &permute(&b, &perms));
        let read = aligned_inner_product(&a, &b, &perms);
        assert!(
            (direct - read).abs() < 1e-12 * (1.0 + direct.abs()),
            "{direct} vs {read}"
        );
    }

    #[test]
    fn objective_rows_updated_by_moved_units_match_a_fresh_sum() {
        let mut rng = Rng::new(12);
        let widths = [20, 48, 40, 36, 6];
        let (a, b) = (random_mlp(&widths, &mut rng), random_mlp(&widths, &mut rng));
        let mut perms = random_perms(&a, &mut rng);
        let mut rows = AlignedRows::new(&a, &b, &perms);
        // Few moved units (row and column corrections) and many (whole layers recomputed).
        for (round, k) in [2, 3, 40, 1, 30, 12, 0, 5].into_iter().enumerate() {
            let i = round % perms.len();
            perms[i] = move_units(&perms[i], k, &mut rng);
            let kept = rows.update(&a, &b, &perms);
            let fresh = aligned_inner_product(&a, &b, &perms);
            assert!(
                (kept - fresh).abs() < 1e-9 * (1.0 + fresh.abs()),
                "round {round}: kept {kept} vs fresh {fresh}"
            );
        }
    }

    /// Moves `k` units of a permutation (a random k-cycle of positions).
    fn move_units(p: &Permutation, k: usize, rng: &mut Rng) -> Permutation {
        let mut map = p.map().to_vec();
        let mut pos: Vec<usize> = (0..map.len()).collect();
        rng.shuffle(&mut pos);
        let chosen = &pos[..k.min(map.len())];
        if let Some(&first) = chosen.first() {
            let keep = map[first];
            for w in chosen.windows(2) {
                map[w[0]] = map[w[1]];
            }
            map[*chosen.last().expect("non-empty")] = keep;
        }
        Permutation::new(map).expect("a cycle of positions is a permutation")
    }

    /// A score term evaluated straight from the formula of SPEC §2.3, in f64.
    fn term_by_formula(side: Side, i: usize, a: &Mlp, b: &Mlp, perms: &[Permutation]) -> Vec<f64> {
        let n = a.layers[i].out_dim;
        let mut c = vec![0.0; n * n];
        for r in 0..n {
            for col in 0..n {
                c[r * n + col] = match side {
                    Side::Incoming => {
                        let (la, lb) = (&a.layers[i], &b.layers[i]);
                        let below = |u: usize| i.checked_sub(1).map_or(u, |j| perms[j].map()[u]);
                        (0..la.in_dim)
                            .map(|u| f64::from(la.row(r)[u]) * f64::from(lb.row(col)[below(u)]))
                            .sum::<f64>()
                            + f64::from(la.bias[r]) * f64::from(lb.bias[col])
                    }
                    Side::Outgoing => {
                        let (na, nb) = (&a.layers[i + 1], &b.layers[i + 1]);
                        let above = |o: usize| perms.get(i + 1).map_or(o, |q| q.map()[o]);
                        (0..na.out_dim)
                            .map(|o| f64::from(na.row(o)[r]) * f64::from(nb.row(above(o))[col]))
                            .sum()
                    }
                };
            }
        }
        c
    }

    #[test]
    fn score_terms_kept_by_low_rank_corrections_match_the_formula() {
        let mut rng = Rng::new(5);
        let widths = [20, 48, 40, 36, 6];
        let (a, b) = (random_mlp(&widths, &mut rng), random_mlp(&widths, &mut rng));
        let mut perms = random_perms(&a, &mut rng);
        let mut terms: Vec<(ScoreTerm, Vec<f32>, Scratch)> = (0..3)
            .flat_map(|i| {
                BOTH_SIDES.map(|side| (ScoreTerm::new(side, i), Vec::new(), Scratch::default()))
            })
            .collect();
        // After corrections of every rank (k <= 5 padded with zeros, up to all units moved),
        // each term must equal the formula for the current permutations, to f32 rounding
        // (products and corrections are f32 GEMMs; weights are O(1/√fan-in), so terms are
        // O(1)).
        for (round, k) in [2, 3, 40, 8, 5, 1, 30, 12, 9, 0].into_iter().enumerate() {
            for (t, scores, scratch) in &mut terms {
                t.refresh(scores, scratch, &a, &b, &perms);
                let exact = term_by_formula(t.side, t.i, &a, &b, &perms);
                let worst = scores
                    .iter()
                    .zip(&exact)
                    .map(|(&x, y)| (f64::from(x) - y).abs())
                    .fold(0.0, f64::max);
                assert!(
                    worst < 1e-5,
                    "round {round}: {:?} term of permutation {}: off by {worst}",
                    t.side,
                    t.i
                );
                assert_eq!(t.basis.as_ref(), ScoreTerm::neighbour(t.side, t.i, &perms));
            }
            let i = round % 3;
            perms[i] = move_units(&perms[i], k, &mut rng);
        }
    }

    #[test]
    fn recovers_planted_permutation_exactly() {
        let mut rng = Rng::new(2);
        let a = random_mlp(&[20, 32, 32, 32, 4], &mut rng);
        let planted = random_perms(&a, &mut rng);
        let b = permute(&a, &planted);
        let al = weight_matching(&a, &b, 0).expect("matches");
        assert!(al.converged);
        assert_eq!(
            permute(&b, &al.perms),
            a,
            "aligned B must equal A bit for bit"
        );
        // b = π(a), so the alignment is π⁻¹ per layer.
        for (got, p) in al.perms.iter().zip(&planted) {
            assert_eq!(got, &p.inverse());
        }
        assert!(al.sweeps.len() <= 6, "{} sweeps", al.sweeps.len());
    }

    #[test]
    fn recovers_planted_permutation_under_noise() {
        let mut rng = Rng::new(3);
        let a = random_mlp(&[30, 64, 64, 64, 10], &mut rng);
        let planted = random_perms(&a, &mut rng);
        let mut b = permute(&a, &planted);
        for l in &mut b.layers {
            for w in l.weight.iter_mut().chain(l.bias.iter_mut()) {
                *w += (rng.normal() * 0.01) as f32;
            }
        }
        let al = weight_matching(&a, &b, 9).expect("matches");
        for (got, p) in al.perms.iter().zip(&planted) {
            assert_eq!(got, &p.inverse());
        }
    }

    #[test]
    fn objective_is_monotone_and_stops_without_gain() {
        let mut rng = Rng::new(4);
        let a = random_mlp(&[16, 24, 24, 24, 5], &mut rng);
        let b = random_mlp(&[16, 24, 24, 24, 5], &mut rng);
        let al = weight_matching(&a, &b, 5).expect("matches");
        let mut prev = al.objective_identity;
        for s in &al.sweeps {
            assert!(s.objective >= prev - 1e-6, "{} < {prev}", s.objective);
            prev = s.objective;
        }
        assert!(al.converged);
        assert!(al.objective > al.objective_identity);
        assert_eq!(al.sweeps.last().map(|s| s.changed_units), Some(0));
        // Same seed, same answer.
        assert_eq!(weight_matching(&a, &b, 5).expect("matches").perms, al.perms);
    }

    #[test]
    fn one_hidden_layer_converges_in_one_sweep_of_progress() {
        // SPEC §2.9: a single permutation is solved exactly in its first update; the second
        // sweep only confirms there is no gain.
        let mut rng = Rng::new(5);
        let a = random_mlp(&[8, 16, 3], &mut rng);
        let b = random_mlp(&[8, 16, 3], &mut rng);
        let al = weight_matching(&a, &b, 0).expect("matches");
        assert!(al.sweeps.len() <= 2 && al.converged);
    }

    #[test]
    fn match_command_rejects_bad_models_and_writes_nothing() {
        let dir = std::env::temp_dir().join(format!("mote-match-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut rng = Rng::new(8);
        let a = random_mlp(&[6, 8, 8, 3], &mut rng);
        let mut nan = a.clone();
        nan.layers[1].weight[5] = f32::NAN;
        let other = random_mlp(&[6, 8, 4, 3], &mut rng);
        let pa = dir.join("a.safetensors");
        a.save(&pa).expect("writes");
        // Mlp::save refuses nothing, so write the NaN model's bytes directly.
        std::fs::write(dir.join("nan.safetensors"), nan.to_safetensors()).expect("writes");
        other.save(&dir.join("other.safetensors")).expect("writes");
        let out = dir.join("out.safetensors");
        for (b, want) in [
            (
                "nan.safetensors",
                "tensor `2.weight` has non-finite value NaN at flat index 5",
            ),
            ("other.safetensors", "tensor `2.weight` is [8, 8] vs [4, 8]"),
        ] {
            let args = MatchArgs {
                a: pa.clone(),
                b: dir.join(b),
                output: out.clone(),
                method: Method::Weight,
                seed: 0,
                data: None,
                json: true,
            };
            let e = format!("{:#}", run_match(&args).expect_err(b));
            assert!(e.contains(b) && e.contains(want), "{e}");
            assert!(!out.exists(), "nothing may be written on error");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn activation_matching_recovers_planted_permutation() {
        let mut rng = Rng::new(6);
        let a = random_mlp(&[12, 16, 16, 3], &mut rng);
        let planted = random_perms(&a, &mut rng);
        let b = permute(&a, &planted);
        let n = 400;
        let data = Dataset {
            features: (0..n * 12).map(|_| rng.uniform() as f32).collect(),
            labels: vec![0; n],
            n,
            d: 12,
            classes: 3,
        };
        let al = activation_matching(&a, &b, &data).expect("matches");
        for (got, p) in al.perms.iter().zip(&planted) {
            assert_eq!(got, &p.inverse());
        }
    }
}
