//! `mote analyze`: the measurements of SPEC §2.8 (Ito, Yamada, Kumagai) for a weight-matched
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

use crate::mlp::{Dense, Mlp};

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
    let before = crate::rebasin::l2_distance(a, b);
    let after = crate::rebasin::l2_distance(a, b_aligned);
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

/// Human-readable summary.
pub fn render(r: &Analysis) -> String {
    let mut s = format!(
        "L2 distance ‖θA − θB‖ = {:.4}, after alignment ‖θA − π(θB)‖ = {:.4} (ratio {:.4}); \
         ‖θA‖ = {:.4}, ‖θB‖ = {:.4}\n\n",
        r.distance_before, r.distance_after, r.distance_ratio, r.norms[0], r.norms[1]
    );
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    s += &format!(
        "layer      σ1(A)    σ1(B)   max Δσ under π   mean|cos u| top-{k} before→after   mean|cos v| before→after\n",
        k = r.k
    );
    for l in &r.layers {
        s += &format!(
            "{:<9} {:>7.3}  {:>7.3}   {:>14.2e}   {:>12.3} → {:<12.3}   {:>8.3} → {:<8.3}\n",
            l.tensor,
            l.sigma_a.first().copied().unwrap_or(0.0),
            l.sigma_b.first().copied().unwrap_or(0.0),
            l.sigma_change_under_permutation,
            mean(&l.left_cos_before),
            mean(&l.left_cos_after),
            mean(&l.right_cos_before),
            mean(&l.right_cos_after),
        );
    }
    s
}

/// `mote analyze` arguments.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Model A (reference).
    pub a: std::path::PathBuf,
    /// Model B (aligned to A by weight matching).
    pub b: std::path::PathBuf,
    /// Also evaluate A, B and the midpoints before/after alignment on this data set's test split.
    #[arg(long)]
    pub data: Option<String>,
    /// Number of top singular vectors compared per layer.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Seed of weight matching.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Test-split evaluation for `mote analyze --data`.
#[derive(Debug, serde::Serialize)]
struct Midpoints {
    a: crate::train::Eval,
    b: crate::train::Eval,
    naive_midpoint: crate::train::Eval,
    aligned_midpoint: crate::train::Eval,
}

/// Runs `mote analyze`.
pub fn run(args: &AnalyzeArgs) -> Result<()> {
    let models = crate::mlp::load_same_arch(&[args.a.clone(), args.b.clone()])?;
    let (a, b) = (&models[0], &models[1]);
    let al = crate::rebasin::weight_matching(a, b, args.seed)?;
    let aligned = crate::rebasin::permute(b, &al.perms);
    let analysis = analyze(a, b, &aligned, args.k)?;
    let mids = match &args.data {
        Some(name) => {
            let (_, test) = crate::data::load(name)?;
            let ev = |m: &Mlp| crate::train::evaluate(m, &test);
            Some(Midpoints {
                a: ev(a)?,
                b: ev(b)?,
                naive_midpoint: ev(&a.lerp(b, 0.5))?,
                aligned_midpoint: ev(&a.lerp(&aligned, 0.5))?,
            })
        }
        None => None,
    };
    if args.json {
        return crate::output::print_json(&serde_json::json!({
            "analysis": analysis,
            "weight_matching_sweeps": al.sweeps.len(),
            "test": mids,
        }));
    }
    print!("{}", render(&analysis));
    if let Some(m) = mids {
        println!("\ntest split: loss / accuracy");
        for (name, e) in [
            ("A", m.a),
            ("B", m.b),
            ("naive midpoint", m.naive_midpoint),
            ("aligned midpoint", m.aligned_midpoint),
        ] {
            println!("  {name:<17} {:.4} / {:.2}%", e.loss, e.accuracy * 100.0);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lap::Permutation;
    use crate::rebasin::{permute, tests::random_mlp};
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
