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

use anyhow::Result;
use candle_core::{Device, Tensor};

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

/// `A · Bᵀ` for row-major `a: [m, k]`, `b: [n, k]`, as f64 `[m, n]` (f32 GEMM, like the
/// float32 reference implementations).
fn matmul_abt(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Result<Vec<f64>> {
    let ta = Tensor::from_slice(a, (m, k), &Device::Cpu)?;
    let tb = Tensor::from_slice(b, (n, k), &Device::Cpu)?;
    let c = ta.matmul(&tb.t()?)?;
    Ok(c.flatten_all()?
        .to_vec1::<f32>()?
        .into_iter()
        .map(f64::from)
        .collect())
}

/// Row-major transpose of `[rows, cols]`.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = x[r * cols + c];
        }
    }
    t
}

/// Reorders rows by `rows` (if given) and columns by `cols` (if given) of a row-major matrix.
fn permute_matrix(
    w: &[f32],
    out_dim: usize,
    in_dim: usize,
    rows: Option<&Permutation>,
    cols: Option<&Permutation>,
) -> Vec<f32> {
    let mut o = Vec::with_capacity(w.len());
    for r in 0..out_dim {
        let src_r = rows.map_or(r, |p| p.map()[r]);
        let row = &w[src_r * in_dim..(src_r + 1) * in_dim];
        match cols {
            Some(p) => o.extend(p.map().iter().map(|&c| row[c])),
            None => o.extend_from_slice(row),
        }
    }
    o
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

/// The score matrix of hidden permutation `i` given the current others (SPEC §2.3).
fn cost_matrix(a: &Mlp, b: &Mlp, perms: &[Permutation], i: usize) -> Result<Vec<f64>> {
    let (la, lb) = (&a.layers[i], &b.layers[i]);
    let n = la.out_dim;
    // Incoming weights: rows are units of layer i, columns its inputs (permuted by P_{i-1}).
    let b_in = permute_matrix(
        &lb.weight,
        lb.out_dim,
        lb.in_dim,
        None,
        i.checked_sub(1).map(|j| &perms[j]),
    );
    let mut c = matmul_abt(&la.weight, &b_in, n, n, la.in_dim)?;
    for r in 0..n {
        for col in 0..n {
            c[r * n + col] += f64::from(la.bias[r]) * f64::from(lb.bias[col]);
        }
    }
    // Outgoing weights: columns of layer i+1, whose rows are permuted by P_{i+1}.
    let (na, nb) = (&a.layers[i + 1], &b.layers[i + 1]);
    let next_rows = perms.get(i + 1);
    let b_out = permute_matrix(&nb.weight, nb.out_dim, nb.in_dim, next_rows, None);
    let at = transpose(&na.weight, na.out_dim, n);
    let bt = transpose(&b_out, nb.out_dim, n);
    let c2 = matmul_abt(&at, &bt, n, n, na.out_dim)?;
    for (x, y) in c.iter_mut().zip(c2) {
        *x += y;
    }
    Ok(c)
}

fn score(c: &[f64], n: usize, p: &Permutation) -> f64 {
    crate::lap::assignment_score(c, n, p)
}

/// Weight matching (SPEC §2.3): identity start, a fresh random order of the hidden
/// permutations every sweep (from `seed`), each updated by an exact LAP and always accepted;
/// stop after a sweep with no gain > 1e-12 or after 100 sweeps. The models must have the same
/// architecture (checked by the caller, e.g. with [`Mlp::check_same_arch`]).
///
/// A permutation whose two neighbours have not changed since it was last solved has the same
/// score matrix, and the deterministic solver would return the same answer (gain 0); it is
/// skipped. This changes only the running time, never the result.
pub fn weight_matching(a: &Mlp, b: &Mlp, seed: u64) -> Result<Alignment> {
    let h = a.layers.len().saturating_sub(1);
    let mut perms: Vec<Permutation> = a.layers[..h]
        .iter()
        .map(|l| Permutation::identity(l.out_dim))
        .collect();
    let objective_identity = inner_product(a, b);
    let mut rng = Rng::new(seed);
    // version[i] increases whenever perms[i] changes; solved_with[i] = neighbours' versions
    // when perms[i] was last solved.
    let mut version = vec![0usize; h];
    let mut solved_with: Vec<Option<(usize, usize)>> = vec![None; h];
    // One warm-started solver per permutation: its score matrix changes little between sweeps.
    let mut solvers: Vec<LapSolver> = perms.iter().map(|p| LapSolver::new(p.len())).collect();
    let mut sweeps = Vec::new();
    let mut converged = false;
    for sweep in 1..=MAX_SWEEPS {
        let mut order: Vec<usize> = (0..h).collect();
        rng.shuffle(&mut order);
        let mut progress = false;
        let mut changed_units = 0;
        for &i in &order {
            let neighbours = (
                i.checked_sub(1).map_or(0, |j| version[j]),
                version.get(i + 1).copied().unwrap_or(0),
            );
            if solved_with[i] == Some(neighbours) {
                continue;
            }
            let n = perms[i].len();
            let c = cost_matrix(a, b, &perms, i)?;
            let new = solvers[i].solve_max(&c)?;
            let gain = score(&c, n, &new) - score(&c, n, &perms[i]);
            if gain > MIN_GAIN {
                progress = true;
            }
            let changed = new.hamming(&perms[i]);
            if changed > 0 {
                changed_units += changed;
                version[i] += 1;
            }
            perms[i] = new;
            solved_with[i] = Some(neighbours);
        }
        sweeps.push(Sweep {
            sweep,
            order,
            objective: inner_product(a, &permute(b, &perms)),
            changed_units,
        });
        if !progress {
            converged = true;
            break;
        }
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
        objective: inner_product(a, &permute(b, &perms)),
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
