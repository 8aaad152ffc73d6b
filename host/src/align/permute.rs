//! Applying hidden permutations to a model, and the inner products and distances between models
//! (read through permutations without building the permuted model).

use super::objective::AlignedRows;
use crate::align::Permutation;
use crate::nn::{Dense, Mlp};

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
pub(super) fn permute_matrix_into(
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
