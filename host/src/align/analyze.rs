//! The measurements of SPEC §2.8 (Ito, Yamada, Kumagai) for a weight-matched
//! pair: parameter distance before and after the permutation, per-layer singular values (the
//! permutation must leave them unchanged) and how well the top-k singular vectors of A and B line
//! up before and after.
//!
//! ```text
//! distance ratio R = ‖θ_A − π(θ_B)‖ / ‖θ_A − θ_B‖
//! per layer, W = U Σ Vᵀ (σ descending):  |u_i^A · u_i^B|, |v_i^A · v_i^B|   for i = 1..k
//! ```
//! Singular vectors are defined up to sign, hence the absolute cosine.

use anyhow::Result;
use nalgebra::DMatrix;

use crate::nn::{Dense, Mlp};

/// Per-layer measurements.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerAnalysis {
    /// Tensor name (`0.weight`, ...).
    pub tensor: String,
    /// Top-k singular values of A's weight.
    pub sigma_a: Vec<f64>,
    /// Top-k singular values of B's weight.
    pub sigma_b: Vec<f64>,
    /// Largest |σ_i(π(W^B)) − σ_i(W^B)| / σ_1(W^B) over all i: permutation invariance, ~1e-7.
    pub sigma_change_under_permutation: f64,
    /// |cos(u_i^A, u_i^B)|, i = 1..k, unaligned B.
    pub left_cos_before: Vec<f64>,
    /// |cos(u_i^A, u_i^B')|, aligned B.
    pub left_cos_after: Vec<f64>,
    /// |cos(v_i^A, v_i^B)|, unaligned B.
    pub right_cos_before: Vec<f64>,
    /// |cos(v_i^A, v_i^B')|, aligned B.
    pub right_cos_after: Vec<f64>,
}

/// The full analysis.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Analysis {
    /// ‖θ_A − θ_B‖ over all parameters.
    pub distance_before: f64,
    /// ‖θ_A − π(θ_B)‖.
    pub distance_after: f64,
    /// `distance_after / distance_before`.
    pub distance_ratio: f64,
    /// ‖θ_A‖ and ‖θ_B‖, to put the distances on a scale.
    pub norms: [f64; 2],
    /// Number of singular vectors compared per layer.
    pub k: usize,
    /// One entry per linear layer.
    pub layers: Vec<LayerAnalysis>,
}

/// SVD with σ in descending order: (σ, U columns, V columns), vectors as `Vec<f64>`.
struct Svd {
    sigma: Vec<f64>,
    u: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
}

fn svd(d: &Dense) -> Result<Svd> {
    let m = DMatrix::from_row_iterator(d.out_dim, d.in_dim, d.weight.iter().map(|&x| f64::from(x)));
    let s = m.svd(true, true);
    let (Some(u), Some(vt)) = (s.u, s.v_t) else {
        anyhow::bail!("SVD did not return singular vectors");
    };
    let mut idx: Vec<usize> = (0..s.singular_values.len()).collect();
    idx.sort_by(|&i, &j| s.singular_values[j].total_cmp(&s.singular_values[i]));
    Ok(Svd {
        sigma: idx.iter().map(|&i| s.singular_values[i]).collect(),
        u: idx
            .iter()
            .map(|&i| u.column(i).iter().copied().collect())
            .collect(),
        v: idx
            .iter()
            .map(|&i| vt.row(i).iter().copied().collect())
            .collect(),
    })
}

fn abs_cos(x: &[f64], y: &[f64]) -> f64 {
    let dot: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
    let nx = x.iter().map(|a| a * a).sum::<f64>().sqrt();
    let ny = y.iter().map(|a| a * a).sum::<f64>().sqrt();
    (dot / (nx * ny).max(f64::MIN_POSITIVE)).abs()
}

fn norm(m: &Mlp) -> f64 {
    m.flat_params()
        .iter()
        .map(|&x| f64::from(x).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Analyses `a` against `b` and against its aligned version `b_aligned`, comparing the top `k`
/// singular directions of every layer.
pub fn analyze(a: &Mlp, b: &Mlp, b_aligned: &Mlp, k: usize) -> Result<Analysis> {
    let before = crate::align::l2_distance(a, b);
    let after = crate::align::l2_distance(a, b_aligned);
    let mut layers = Vec::new();
    for (i, ((la, lb), lp)) in a
        .layers
        .iter()
        .zip(&b.layers)
        .zip(&b_aligned.layers)
        .enumerate()
    {
        let (sa, sb, sp) = (svd(la)?, svd(lb)?, svd(lp)?);
        let kk = k.min(sa.sigma.len());
        let scale = sb
            .sigma
            .first()
            .copied()
            .unwrap_or(1.0)
            .max(f64::MIN_POSITIVE);
        let cos = |x: &[Vec<f64>], y: &[Vec<f64>]| -> Vec<f64> {
            (0..kk).map(|j| abs_cos(&x[j], &y[j])).collect()
        };
        layers.push(LayerAnalysis {
            tensor: format!("{}.weight", 2 * i),
            sigma_a: sa.sigma[..kk].to_vec(),
            sigma_b: sb.sigma[..kk].to_vec(),
            sigma_change_under_permutation: sb
                .sigma
                .iter()
                .zip(&sp.sigma)
                .map(|(x, y)| (x - y).abs() / scale)
                .fold(0.0, f64::max),
            left_cos_before: cos(&sa.u, &sb.u),
            left_cos_after: cos(&sa.u, &sp.u),
            right_cos_before: cos(&sa.v, &sb.v),
            right_cos_after: cos(&sa.v, &sp.v),
        });
    }
    Ok(Analysis {
        distance_before: before,
        distance_after: after,
        distance_ratio: after / before.max(f64::MIN_POSITIVE),
        norms: [norm(a), norm(b)],
        k,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::Permutation;
    use crate::align::permute;
    use crate::nn::testing::random_mlp;
    use crate::rng::Rng;

    #[test]
    fn permutation_keeps_singular_values_and_aligns_vectors() {
        let mut rng = Rng::new(1);
        let a = random_mlp(&[12, 10, 8, 3], &mut rng);
        let b = permute(
            &a,
            &[
                Permutation::random(10, &mut rng),
                Permutation::random(8, &mut rng),
            ],
        );
        let r = analyze(&a, &b, &a, 3).expect("analyzes");
        assert!(r.distance_before > 0.0 && r.distance_after == 0.0);
        for l in &r.layers {
            for (x, y) in l.sigma_a.iter().zip(&l.sigma_b) {
                assert!((x - y).abs() < 1e-9 * x.max(1.0), "{x} vs {y}");
            }
            assert!(l.sigma_change_under_permutation < 1e-9);
            assert!(l.left_cos_after.iter().all(|c| (c - 1.0).abs() < 1e-9));
            assert!(l.right_cos_after.iter().all(|c| (c - 1.0).abs() < 1e-9));
        }
    }

    #[test]
    fn svd_hand_worked() {
        // diag(3, 1) rotated: singular values 3 and 1 in descending order.
        let d = Dense {
            out_dim: 2,
            in_dim: 2,
            weight: vec![1.0, 3.0, 0.0, 0.0],
            bias: vec![0.0; 2],
        };
        let s = svd(&d).expect("svd");
        assert!((s.sigma[0] - 10f64.sqrt()).abs() < 1e-12 && s.sigma[1].abs() < 1e-12);
        assert!((abs_cos(&s.u[0], &[1.0, 0.0]) - 1.0).abs() < 1e-12);
    }
}
