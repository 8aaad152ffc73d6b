//! The score matrices of weight matching (SPEC §2.3), kept up to date by low-rank corrections
//! when a neighbouring permutation moves.

use super::gemm::{add_abt_rows, add_atb_rows, add_product};
use super::permute::permute_matrix_into;
use crate::align::Permutation;
use crate::nn::Mlp;

/// Which half of a permutation's score matrix (SPEC §2.3): the incoming weights and biases of
/// layer `i` (depend on `P_{i-1}`), or the outgoing weights of layer `i + 1` (depend on
/// `P_{i+1}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
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
pub(super) struct ScoreTerm {
    pub(super) side: Side,
    /// Hidden permutation index.
    pub(super) i: usize,
    /// False until the term has been added to the score matrix.
    pub(super) added: bool,
    /// The neighbouring permutation the added term is for (`None`: the neighbour is the fixed
    /// input or output layer, so the term never changes).
    pub(super) basis: Option<Permutation>,
}

/// Buffers the two terms of a slot reuse for their products and corrections (one term at a
/// time), so their pages are touched once per matching rather than once per update.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// A correction's left factor: the moved columns (incoming) or rows (outgoing) of A's
    /// weights.
    pub(super) a: Vec<f32>,
    /// B's weights through the neighbour (a full product), or a correction's right factor:
    /// the differences of B's moved columns (rows).
    pub(super) d: Vec<f32>,
}

impl Scratch {
    /// Touches the pages of both buffers up to `len` entries (the largest factor a term of
    /// the slot can need), so that the first large correction does not pay for fresh pages:
    /// done by a thread that would otherwise wait.
    pub(super) fn prepare(&mut self, len: usize) {
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
    pub(super) fn new(side: Side, i: usize) -> Self {
        Self {
            side,
            i,
            added: false,
            basis: None,
        }
    }

    pub(super) fn neighbour(side: Side, i: usize, perms: &[Permutation]) -> Option<&Permutation> {
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
    pub(super) fn refresh(
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
        let rank = moved.len();
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
                    fd.extend(moved.iter().map(|&u| wb[new[u]] - wb[old[u]]));
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
                add_product(scores, n, |c_rows, rows| {
                    add_atb_rows(fa, fd, (n, n), c_rows, rows);
                });
            }
        }
    }
}

pub(super) const BOTH_SIDES: [Side; 2] = [Side::Incoming, Side::Outgoing];

/// The largest factor (or permuted copy of B's weights) a term of hidden permutation `i` can
/// need: `n × K` for each term that can change (`K` its contracted width).
pub(super) fn factor_len(model: &Mlp, i: usize) -> usize {
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
