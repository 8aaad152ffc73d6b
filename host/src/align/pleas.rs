//! PLeaS (SPEC §3; Nasery, Hayase, Koh, Oh, CVPR 2025): merge two MLPs of one architecture into
//! one whose hidden widths lie between `d` and `2d`, by partial permutation matching (§3.1) and
//! layer-wise least squares (§3.3).
//!
//! Per hidden group `g` of width `d`, a permutation matches A's unit `i` with B's unit `P[i]`
//! (activation matching: negative Euclidean distance of the units' activation vectors over the
//! data, as the official code; or data-free weight matching). Of the `d` matched pairs, the `k`
//! most similar are merged and the other `d − k` units of A and of B are kept separately, so the
//! merged group has `2d − k` units, ordered `[merged | A-only | B-only]`.
//!
//! The initial weights follow the block rule of §3.1 step 4 (rows = outputs, columns = inputs):
//!
//! ```text
//!              merged in          A-only in     B-only in
//! merged out   ½(W^A + W^B_π)     ½ W^A         ½ W^B
//! A-only out   W^A                W^A           0
//! B-only out   W^B                0             W^B
//! ```
//!
//! The network input and the output classes are shared (one "merged" block). So with `k = d`
//! everywhere PLeaS is weight-matching averaging, and with `k = 0` the merged network computes
//! `½(A(x) + B(x))`: the two networks side by side, their logits averaged. (The released code
//! concatenates the feature blocks into A's classifier, summing the logit contributions and
//! keeping A's bias; the average has the same arg-max up to the biases and keeps the k = d case
//! equal to averaging.)
//!
//! Least squares (§3.3), layer by layer with teacher forcing on the original models: the layer's
//! input `X̃ = [½(X_A,m + X_B,m) | X_A,only | X_B,only]` (the inputs A and B saw) and target
//! `Ỹ = [½(Y_A,m + Y_B,m) | Y_A,only | Y_B,only]` (their pre-activations); each row block is fit
//! in closed form on the columns it may read (A-only rows never read B-only inputs and vice versa:
//! those blocks stay exactly zero), with a bias, by the normal equations
//! `(XᵀX + λ I) W = XᵀY`. The ridge `λ = ridge · tr(XᵀX) / p` is relative to the mean
//! eigenvalue: ReLU units that are dead on the data give all-zero input columns, which make plain
//! least squares singular; a relative 1e-6 fixes those directions at zero and moves a
//! well-conditioned fit by about one part in a million.

use anyhow::{Context, Result, bail};
use nalgebra::DMatrix;

use super::lap::solve_max;
use super::{Permutation, permute, weight_matching};
use crate::data::Dataset;
use crate::nn::{Dense, Mlp};

/// How units are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PleasMatch {
    /// Negative Euclidean distance of activation vectors on the data (SPEC §3.1 default).
    Activation,
    /// Weight matching (data-free matching; SPEC §3.4).
    Weight,
    /// No permutation: A's unit `i` with B's unit `i`. With least squares this is the
    /// RegMean-like baseline of SPEC §3.3 ("LS without permutation").
    None,
}

/// Settings of a PLeaS merge.
#[derive(Debug, Clone, PartialEq)]
pub struct PleasConfig {
    /// How wide the merged model is.
    pub size: PleasSize,
    /// How units are matched.
    pub matching: PleasMatch,
    /// Run the least-squares step (off: the block initialisation only).
    pub least_squares: bool,
    /// Relative ridge of the least squares.
    pub ridge: f64,
    /// Seed of weight matching.
    pub seed: u64,
}

/// How wide the merged model is.
#[derive(Debug, Clone, PartialEq)]
pub enum PleasSize {
    /// The merged width of each hidden group, from 1 to `2d`. From `d` to `2d` the paper's
    /// range: `k = 2d − w` matched pairs merged, the rest of A and of B kept. Below `d` (beyond
    /// the paper, for a microcontroller): every pair merged and only the `w` most important
    /// merged units kept, the layers around them refit by the least squares.
    Widths(Vec<usize>),
    /// A compute budget `B ∈ (0, 2]`: FLOPs(merged) / FLOPs(one model) (SPEC §3.2), spent by
    /// [`widths_for_budget`].
    Budget(f64),
}

/// How one hidden group is made up: `merged` units and `only` units of A plus as many of B
/// (width `merged + 2·only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Merged units.
    pub merged: usize,
    /// Units kept from A (and as many from B).
    pub only: usize,
}

impl Split {
    /// The split of a hidden group of `d` units merged to width `w` (`1 ≤ w ≤ 2d`).
    pub fn for_width(w: usize, d: usize) -> Self {
        if w >= d {
            Self {
                merged: 2 * d - w,
                only: w - d,
            }
        } else {
            Self { merged: w, only: 0 }
        }
    }

    fn width(self) -> usize {
        self.merged + 2 * self.only
    }
}

/// Multiply-adds of one forward pass of a merged model (the zero A-only ↔ B-only blocks not
/// counted, SPEC §3.2), plus one add per bias; `widths` are one model's, `splits` one per hidden
/// group.
pub fn merged_flops(widths: &[usize], splits: &[Split]) -> f64 {
    // Per axis: (merged, A-only, B-only); the input and output axes are shared.
    let axis = |i: usize| -> (f64, f64, f64) {
        if i == 0 || i + 1 == widths.len() {
            (widths[i] as f64, 0.0, 0.0)
        } else {
            let s = splits[i - 1];
            (s.merged as f64, s.only as f64, s.only as f64)
        }
    };
    (1..widths.len())
        .map(|i| {
            let (cm, ca, cb) = axis(i - 1);
            let (rm, ra, rb) = axis(i);
            let rows = rm + ra + rb;
            rows * (cm + ca + cb) - ra * cb - rb * ca + rows
        })
        .sum()
}

/// Per-unit scores standardised within their group, `(s − mean_g) / std_g`, as
/// `(score, group, unit)` sorted ascending (ties by group, then unit).
fn standardised_ascending(scores: &[Vec<f64>]) -> Vec<(f64, usize, usize)> {
    let mut ranked: Vec<(f64, usize, usize)> = Vec::new();
    for (g, s) in scores.iter().enumerate() {
        let n = s.len().max(1) as f64;
        let mean = s.iter().sum::<f64>() / n;
        let sd = (s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        ranked.extend(
            s.iter()
                .enumerate()
                .map(|(i, &x)| ((x - mean) / sd.max(f64::MIN_POSITIVE), g, i)),
        );
    }
    ranked.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    ranked
}

/// Spends a FLOPs budget `B` (SPEC §3.2) and returns the merged width of each hidden group.
///
/// `B ≥ 1`: the paper maximises `Σ_g w_g r_g` under the budget with Gurobi and fixed per-layer
/// weights; mote instead orders every matched pair of every group by how badly it matched — its
/// similarity standardised within its group, a measured per-unit sensitivity — and un-merges the
/// worst pairs first, one at a time, while the FLOPs ratio stays within `B`: a greedy solution
/// of the same problem with per-unit weights (exact when every pair costs the same, as in a
/// uniform MLP).
///
/// `B < 1` (beyond the paper): every pair merged, then the merged units of least importance
/// (standardised within their group, so every layer shrinks by about the same share) dropped
/// one at a time until the ratio is within `B`; a group keeps at least one unit.
pub fn widths_for_budget(
    widths: &[usize],
    similarity: &[Vec<f64>],
    importance: &[Vec<f64>],
    budget: f64,
) -> Result<Vec<usize>> {
    if !(budget.is_finite() && budget > 0.0 && budget <= 2.0) {
        bail!(
            "a PLeaS budget is FLOPs(merged) / FLOPs(one model): above 0, 1 with every pair \
             merged, up to 2 with none merged; got {budget}"
        );
    }
    let mut splits: Vec<Split> = similarity
        .iter()
        .map(|s| Split {
            merged: s.len(),
            only: 0,
        })
        .collect();
    let single = merged_flops(widths, &splits);
    let ratio = |s: &[Split]| merged_flops(widths, s) / single;
    if budget >= 1.0 {
        for (_, g, _) in standardised_ascending(similarity) {
            splits[g].merged -= 1;
            splits[g].only += 1;
            if ratio(&splits) > budget + 1e-12 {
                splits[g].merged += 1;
                splits[g].only -= 1;
                // A pair of a narrower group may still fit; keep looking.
            }
        }
    } else {
        for (_, g, _) in standardised_ascending(importance) {
            if ratio(&splits) <= budget + 1e-12 {
                break;
            }
            if splits[g].merged > 1 {
                splits[g].merged -= 1;
            }
        }
        let r = ratio(&splits);
        if r > budget + 1e-12 {
            bail!(
                "a budget of {budget} is below what one unit per hidden layer costs \
                 ({r:.4} of one model)"
            );
        }
    }
    Ok(splits.into_iter().map(Split::width).collect())
}

/// How one hidden group was split.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupSplit {
    /// A's units of the merged pairs, in A's order.
    pub merged_a: Vec<usize>,
    /// Their partners in B.
    pub merged_b: Vec<usize>,
    /// A's units kept separately.
    pub a_only: Vec<usize>,
    /// B's units kept separately.
    pub b_only: Vec<usize>,
}

impl GroupSplit {
    /// Width of the merged group.
    pub fn width(&self) -> usize {
        self.merged_a.len() + self.a_only.len() + self.b_only.len()
    }

    /// Splits by the permutation `perm` (A's unit `i` ↔ B's `perm[i]`) into `width` units: from
    /// `d` up, the `2d − width` most similar pairs are merged and the others kept from A and B;
    /// below `d`, the `width` most important pairs are merged and the others dropped (ties by
    /// A's index).
    fn new(perm: &Permutation, similarity: &[f64], importance: &[f64], width: usize) -> Self {
        let d = perm.len();
        let split = Split::for_width(width, d);
        let by = if split.only == 0 && split.merged < d {
            importance
        } else {
            similarity
        };
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&i, &j| by[j].total_cmp(&by[i]).then(i.cmp(&j)));
        let mut merged = vec![false; d];
        for &i in &order[..split.merged.min(d)] {
            merged[i] = true;
        }
        let (m, o): (Vec<usize>, Vec<usize>) = (0..d).partition(|&i| merged[i]);
        let o = if split.only == 0 { Vec::new() } else { o };
        Self {
            merged_b: m.iter().map(|&i| perm.map()[i]).collect(),
            b_only: o.iter().map(|&i| perm.map()[i]).collect(),
            merged_a: m,
            a_only: o,
        }
    }

    /// The group of a shared axis (network input or output): every unit merged with itself.
    fn shared(d: usize) -> Self {
        Self {
            merged_a: (0..d).collect(),
            merged_b: (0..d).collect(),
            a_only: Vec::new(),
            b_only: Vec::new(),
        }
    }
}

/// Where the time of a merge went, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct PleasTiming {
    /// Forward passes of A and B over the data (every layer's inputs and outputs kept).
    pub activations: f64,
    /// Cost matrices and assignment solves (or weight matching).
    pub matching: f64,
    /// Block initialisation and the layer-wise least squares.
    pub least_squares: f64,
}

/// The result of a PLeaS merge.
#[derive(Debug, Clone)]
pub struct Pleas {
    /// The merged model.
    pub model: Mlp,
    /// How each hidden group was split.
    pub groups: Vec<GroupSplit>,
    /// FLOPs(merged) / FLOPs(one model), SPEC §3.2.
    pub flops_ratio: f64,
    /// Where the time went.
    pub timing: PleasTiming,
}

/// Merges `a` and `b` (same architecture) with PLeaS. `data` (unlabelled use only: its features)
/// is needed for activation matching and for least squares.
pub fn pleas(a: &Mlp, b: &Mlp, data: Option<&Dataset>, cfg: &PleasConfig) -> Result<Pleas> {
    let h = a.layers.len().saturating_sub(1);
    if a.widths() != b.widths() {
        bail!(
            "PLeaS merges two models of one architecture; the widths are {:?} and {:?}",
            a.widths(),
            b.widths()
        );
    }
    match &cfg.size {
        PleasSize::Widths(widths) => {
            if widths.len() != h {
                bail!(
                    "PLeaS needs one width per hidden layer ({h}), got {}",
                    widths.len()
                );
            }
            for (g, (&w, l)) in widths.iter().zip(&a.layers).enumerate() {
                if !(1..=2 * l.out_dim).contains(&w) {
                    bail!(
                        "hidden layer {g} has {} units, so its merged width must lie between 1 \
                         and {} (got {w})",
                        l.out_dim,
                        2 * l.out_dim
                    );
                }
            }
        }
        PleasSize::Budget(b) if !(b.is_finite() && *b > 0.0 && *b <= 2.0) => {
            bail!(
                "a PLeaS budget is FLOPs(merged) / FLOPs(one model): above 0, 1 with every pair \
                 merged, up to 2 with none merged; got {b}"
            )
        }
        PleasSize::Budget(_) => {}
    }
    if !(cfg.ridge.is_finite() && cfg.ridge >= 0.0) {
        bail!(
            "the ridge must be finite and not negative (got {})",
            cfg.ridge
        );
    }
    let needs_data = cfg.matching == PleasMatch::Activation || cfg.least_squares;
    let data = match data {
        Some(d) if d.d == a.in_dim() => Some(d),
        Some(d) => bail!(
            "the models take {} inputs but the data has {} features",
            a.in_dim(),
            d.d
        ),
        None if needs_data => {
            bail!("activation matching and least squares need data: pass --data NAME")
        }
        None => None,
    };
    let mut timing = PleasTiming::default();
    let clock = std::time::Instant::now();
    let acts = match data {
        Some(d) => Some((Activations::of(a, d)?, Activations::of(b, d)?)),
        None => None,
    };
    timing.activations = clock.elapsed().as_secs_f64();
    let clock = std::time::Instant::now();
    let (perms, sims) = match cfg.matching {
        PleasMatch::Activation => {
            let (aa, ab) = acts.as_ref().context("activation matching needs data")?;
            activation_perms(aa, ab)?
        }
        PleasMatch::Weight => {
            let al = weight_matching(a, b, cfg.seed)?;
            let sims = weight_similarity(a, &permute(b, &al.perms), &al.perms);
            (al.perms, sims)
        }
        PleasMatch::None => {
            let perms: Vec<Permutation> = a.layers[..h]
                .iter()
                .map(|l| Permutation::identity(l.out_dim))
                .collect();
            let sims = match &acts {
                Some((aa, ab)) => pair_distances(aa, ab, &perms),
                None => weight_similarity(a, b, &perms),
            };
            (perms, sims)
        }
    };
    let importance = unit_importance(a, b, &perms, acts.as_ref());
    timing.matching = clock.elapsed().as_secs_f64();
    let clock = std::time::Instant::now();
    let widths = match &cfg.size {
        PleasSize::Widths(w) => w.clone(),
        PleasSize::Budget(budget) => widths_for_budget(&a.widths(), &sims, &importance, *budget)?,
    };
    let groups: Vec<GroupSplit> = (0..h)
        .map(|g| GroupSplit::new(&perms[g], &sims[g], &importance[g], widths[g]))
        .collect();
    let axis = |g: isize| -> GroupSplit {
        if g < 0 {
            GroupSplit::shared(a.in_dim())
        } else if g as usize == h {
            GroupSplit::shared(a.out_dim())
        } else {
            groups[g as usize].clone()
        }
    };
    let mut layers = Vec::with_capacity(a.layers.len());
    for (l, (la, lb)) in a.layers.iter().zip(&b.layers).enumerate() {
        let (rows, cols) = (axis(l as isize), axis(l as isize - 1));
        let mut d = init_layer(la, lb, &rows, &cols);
        if cfg.least_squares {
            let (aa, ab) = acts.as_ref().context("least squares needs data")?;
            fit_layer(&mut d, l, aa, ab, &rows, &cols, cfg.ridge)?;
        }
        layers.push(d);
    }
    timing.least_squares = clock.elapsed().as_secs_f64();
    let splits: Vec<Split> = groups
        .iter()
        .map(|g| Split {
            merged: g.merged_a.len(),
            only: g.a_only.len(),
        })
        .collect();
    let one: Vec<Split> = a.layers[..h]
        .iter()
        .map(|l| Split {
            merged: l.out_dim,
            only: 0,
        })
        .collect();
    let flops_ratio = merged_flops(&a.widths(), &splits) / merged_flops(&a.widths(), &one);
    Ok(Pleas {
        model: Mlp { layers },
        groups,
        flops_ratio,
        timing,
    })
}

/// How much each matched pair (A's unit `i`, B's `perm[i]`) carries, to choose which merged units
/// a model narrower than its inputs keeps: the norm of the merged unit's activation over the data
/// times the mean norm of the two units' outgoing weights (with no data, the mean norm of their
/// incoming weights and bias instead of the activation).
fn unit_importance(
    a: &Mlp,
    b: &Mlp,
    perms: &[Permutation],
    acts: Option<&(Activations, Activations)>,
) -> Vec<Vec<f64>> {
    let col_norm = |d: &Dense, c: usize| -> f64 {
        (0..d.out_dim)
            .map(|r| f64::from(d.weight[r * d.in_dim + c]).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let row_norm = |d: &Dense, r: usize| -> f64 {
        (d.row(r).iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() + f64::from(d.bias[r]).powi(2))
            .sqrt()
    };
    perms
        .iter()
        .enumerate()
        .map(|(g, p)| {
            (0..p.len())
                .map(|i| {
                    let j = p.map()[i];
                    let out = 0.5 * (col_norm(&a.layers[g + 1], i) + col_norm(&b.layers[g + 1], j));
                    let signal = match acts {
                        Some((aa, ab)) => {
                            let (za, zb) = (&aa.inputs[g + 1], &ab.inputs[g + 1]);
                            (0..za.nrows())
                                .map(|n| (0.5 * (za[(n, i)] + zb[(n, j)])).powi(2))
                                .sum::<f64>()
                                .sqrt()
                        }
                        None => 0.5 * (row_norm(&a.layers[g], i) + row_norm(&b.layers[g], j)),
                    };
                    signal * out
                })
                .collect()
        })
        .collect()
}

/// The block initialisation of one layer (SPEC §3.1 step 4).
fn init_layer(la: &Dense, lb: &Dense, rows: &GroupSplit, cols: &GroupSplit) -> Dense {
    let (out_dim, in_dim) = (rows.width(), cols.width());
    let mut w = vec![0f32; out_dim * in_dim];
    let km = rows.merged_a.len();
    let ka = rows.a_only.len();
    let cm = cols.merged_a.len();
    let ca = cols.a_only.len();
    let at = |d: &Dense, r: usize, c: usize| d.weight[r * d.in_dim + c];
    for (r, row) in w.chunks_mut(in_dim).enumerate() {
        // Which block the row is in, and its unit in A or B.
        let (block, unit) = if r < km {
            (0, r)
        } else if r < km + ka {
            (1, r - km)
        } else {
            (2, r - km - ka)
        };
        for (c, x) in row.iter_mut().enumerate() {
            let (cblock, cunit) = if c < cm {
                (0, c)
            } else if c < cm + ca {
                (1, c - cm)
            } else {
                (2, c - cm - ca)
            };
            *x = match (block, cblock) {
                (0, 0) => {
                    0.5 * (at(la, rows.merged_a[unit], cols.merged_a[cunit])
                        + at(lb, rows.merged_b[unit], cols.merged_b[cunit]))
                }
                (0, 1) => 0.5 * at(la, rows.merged_a[unit], cols.a_only[cunit]),
                (0, 2) => 0.5 * at(lb, rows.merged_b[unit], cols.b_only[cunit]),
                (1, 0) => at(la, rows.a_only[unit], cols.merged_a[cunit]),
                (1, 1) => at(la, rows.a_only[unit], cols.a_only[cunit]),
                (2, 0) => at(lb, rows.b_only[unit], cols.merged_b[cunit]),
                (2, 2) => at(lb, rows.b_only[unit], cols.b_only[cunit]),
                _ => 0.0, // A-only ↔ B-only
            };
        }
    }
    let mut bias: Vec<f32> = rows
        .merged_a
        .iter()
        .zip(&rows.merged_b)
        .map(|(&i, &j)| 0.5 * (la.bias[i] + lb.bias[j]))
        .collect();
    bias.extend(rows.a_only.iter().map(|&i| la.bias[i]));
    bias.extend(rows.b_only.iter().map(|&j| lb.bias[j]));
    Dense {
        out_dim,
        in_dim,
        weight: w,
        bias,
    }
}

/// Every layer's input and pre-activation output on the data, `n × width`, in f64.
struct Activations {
    inputs: Vec<DMatrix<f64>>,
    outputs: Vec<DMatrix<f64>>,
}

impl Activations {
    fn of(m: &Mlp, data: &Dataset) -> Result<Self> {
        let n = data.n;
        let floats = m.layers.iter().try_fold(0usize, |acc, l| {
            acc.checked_add(n.checked_mul(l.in_dim + l.out_dim)?)
        });
        crate::budget::check(
            &format!("the activations of {n} samples for PLeaS"),
            crate::budget::bytes_of::<f64>(floats.unwrap_or(usize::MAX), "PLeaS activations")?,
        )?;
        let mut cur =
            DMatrix::from_row_iterator(n, data.d, data.features.iter().map(|&x| f64::from(x)));
        let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
        for (l, d) in m.layers.iter().enumerate() {
            let w = DMatrix::from_row_iterator(
                d.out_dim,
                d.in_dim,
                d.weight.iter().map(|&x| f64::from(x)),
            );
            let mut y = &cur * w.transpose();
            for mut row in y.row_iter_mut() {
                for (v, &b) in row.iter_mut().zip(&d.bias) {
                    *v += f64::from(b);
                }
            }
            let next = if l + 1 < m.layers.len() {
                y.map(|v| v.max(0.0))
            } else {
                DMatrix::zeros(0, 0)
            };
            inputs.push(std::mem::replace(&mut cur, next));
            outputs.push(y);
        }
        Ok(Self { inputs, outputs })
    }
}

/// Per hidden group: the LSA on the negative Euclidean distance between A's and B's unit
/// activation vectors (post-ReLU), and each matched pair's similarity.
fn activation_perms(
    aa: &Activations,
    ab: &Activations,
) -> Result<(Vec<Permutation>, Vec<Vec<f64>>)> {
    let h = aa.inputs.len() - 1;
    let (mut perms, mut sims) = (Vec::with_capacity(h), Vec::with_capacity(h));
    for g in 0..h {
        // The input of layer g + 1 is the post-ReLU output of layer g.
        let (za, zb) = (&aa.inputs[g + 1], &ab.inputs[g + 1]);
        let d = za.ncols();
        let gram = za.transpose() * zb;
        let na: Vec<f64> = za.column_iter().map(|c| c.norm_squared()).collect();
        let nb: Vec<f64> = zb.column_iter().map(|c| c.norm_squared()).collect();
        let mut cost = vec![0f64; d * d];
        for i in 0..d {
            for j in 0..d {
                cost[i * d + j] = -(na[i] + nb[j] - 2.0 * gram[(i, j)]).max(0.0).sqrt();
            }
        }
        let p = solve_max(&cost, d)?;
        sims.push((0..d).map(|i| cost[i * d + p.map()[i]]).collect());
        perms.push(p);
    }
    Ok((perms, sims))
}

/// Per hidden group, each pair's negative Euclidean distance of activation vectors (post-ReLU)
/// under `perms`.
fn pair_distances(aa: &Activations, ab: &Activations, perms: &[Permutation]) -> Vec<Vec<f64>> {
    perms
        .iter()
        .enumerate()
        .map(|(g, p)| {
            let (za, zb) = (&aa.inputs[g + 1], &ab.inputs[g + 1]);
            (0..p.len())
                .map(|i| -(za.column(i) - zb.column(p.map()[i])).norm())
                .collect()
        })
        .collect()
}

/// Per hidden group, each matched pair's term of the weight-matching objective: incoming weights
/// and bias of unit `i` of A and of the aligned B, plus their outgoing weights.
fn weight_similarity(a: &Mlp, b_aligned: &Mlp, perms: &[Permutation]) -> Vec<Vec<f64>> {
    perms
        .iter()
        .enumerate()
        .map(|(g, p)| {
            let (ia, ib) = (&a.layers[g], &b_aligned.layers[g]);
            let (oa, ob) = (&a.layers[g + 1], &b_aligned.layers[g + 1]);
            (0..p.len())
                .map(|i| {
                    let incoming: f64 = ia
                        .row(i)
                        .iter()
                        .zip(ib.row(i))
                        .map(|(&x, &y)| f64::from(x) * f64::from(y))
                        .sum();
                    let outgoing: f64 = (0..oa.out_dim)
                        .map(|r| {
                            f64::from(oa.weight[r * oa.in_dim + i])
                                * f64::from(ob.weight[r * ob.in_dim + i])
                        })
                        .sum();
                    incoming + f64::from(ia.bias[i]) * f64::from(ib.bias[i]) + outgoing
                })
                .collect()
        })
        .collect()
}

/// Columns of `x` picked by `idx`.
fn pick(x: &DMatrix<f64>, idx: &[usize]) -> DMatrix<f64> {
    x.select_columns(idx)
}

/// `[½(X_A,m + X_B,m) | X_A,only | X_B,only]` for the groups' split.
fn stacked(xa: &DMatrix<f64>, xb: &DMatrix<f64>, s: &GroupSplit) -> DMatrix<f64> {
    let m = (pick(xa, &s.merged_a) + pick(xb, &s.merged_b)) * 0.5;
    let (ao, bo) = (pick(xa, &s.a_only), pick(xb, &s.b_only));
    let n = xa.nrows();
    let mut out = DMatrix::zeros(n, m.ncols() + ao.ncols() + bo.ncols());
    out.columns_mut(0, m.ncols()).copy_from(&m);
    out.columns_mut(m.ncols(), ao.ncols()).copy_from(&ao);
    out.columns_mut(m.ncols() + ao.ncols(), bo.ncols())
        .copy_from(&bo);
    out
}

/// Least squares for one layer (SPEC §3.3), in place over the initialised `d`.
fn fit_layer(
    d: &mut Dense,
    l: usize,
    aa: &Activations,
    ab: &Activations,
    rows: &GroupSplit,
    cols: &GroupSplit,
    ridge: f64,
) -> Result<()> {
    let x = stacked(&aa.inputs[l], &ab.inputs[l], cols);
    let y = stacked(&aa.outputs[l], &ab.outputs[l], rows);
    let (km, ka) = (rows.merged_a.len(), rows.a_only.len());
    let (cm, ca, cb) = (cols.merged_a.len(), cols.a_only.len(), cols.b_only.len());
    // Row blocks and the input columns each may read.
    let all: Vec<usize> = (0..cm + ca + cb).collect();
    let with_a: Vec<usize> = (0..cm + ca).collect();
    let with_b: Vec<usize> = (0..cm).chain(cm + ca..cm + ca + cb).collect();
    let blocks = [
        (0..km, all),
        (km..km + ka, with_a),
        (km + ka..d.out_dim, with_b),
    ];
    for (out_rows, in_cols) in blocks {
        if out_rows.is_empty() {
            continue;
        }
        let targets = y.columns(out_rows.start, out_rows.len()).into_owned();
        let (w, b) = solve_block(&pick(&x, &in_cols), &targets, ridge)
            .with_context(|| format!("least squares of layer {l} (tensor `{}.weight`)", 2 * l))?;
        for (r_local, r) in out_rows.enumerate() {
            let row = &mut d.weight[r * d.in_dim..(r + 1) * d.in_dim];
            for (k, &c) in in_cols.iter().enumerate() {
                row[c] = w[(k, r_local)] as f32;
            }
            d.bias[r] = b[r_local] as f32;
        }
    }
    Ok(())
}

/// `min ‖[X 1] [W; b] − Y‖² + λ‖W‖²` by the normal equations (the bias is not penalised). Returns
/// `W` as `p × m` and `b` as `m` values.
fn solve_block(x: &DMatrix<f64>, y: &DMatrix<f64>, ridge: f64) -> Result<(DMatrix<f64>, Vec<f64>)> {
    let (n, p) = (x.nrows(), x.ncols());
    if n < p + 1 {
        bail!(
            "{n} samples cannot determine {} unknowns per output (rank-deficient); give at \
             least {} samples",
            p + 1,
            p + 1
        );
    }
    // Centre, so the bias is the mean residual and the ridge does not touch it.
    let xm = x.row_mean();
    let ym = y.row_mean();
    let mut xc = x.clone();
    for mut r in xc.row_iter_mut() {
        r -= &xm;
    }
    let mut yc = y.clone();
    for mut r in yc.row_iter_mut() {
        r -= &ym;
    }
    let mut g = xc.transpose() * &xc;
    let lambda = ridge * g.trace() / p.max(1) as f64;
    let lambda = if lambda > 0.0 { lambda } else { ridge };
    for i in 0..p {
        g[(i, i)] += lambda;
    }
    let rhs = xc.transpose() * &yc;
    let w = g
        .cholesky()
        .context("the normal equations are singular (every input column is constant); raise the ridge or give more varied data")?
        .solve(&rhs);
    let b: Vec<f64> = (0..y.ncols())
        .map(|j| ym[j] - (0..p).map(|k| xm[k] * w[(k, j)]).sum::<f64>())
        .collect();
    Ok((w, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::merge::average;
    use crate::nn::train::{TrainConfig, train_mlp};
    use crate::rng::Rng;

    fn trained(seed: u64, hidden: &[usize], train: &Dataset) -> Mlp {
        train_mlp(
            &TrainConfig {
                hidden: hidden.to_vec(),
                epochs: 3,
                batch_size: 64,
                lr: 3e-3,
                seed,
                progress: false,
            },
            train,
        )
        .expect("trains")
    }

    fn digits() -> Dataset {
        crate::data::Catalog::default()
            .load("digits")
            .expect("bundled")
            .0
    }

    fn cfg(widths: Vec<usize>, matching: PleasMatch, least_squares: bool) -> PleasConfig {
        PleasConfig {
            size: PleasSize::Widths(widths),
            matching,
            least_squares,
            ridge: 1e-6,
            seed: 0,
        }
    }

    fn sp(merged: usize, only: usize) -> Split {
        Split { merged, only }
    }

    #[test]
    fn flops_model_and_budget_hand_worked() {
        // 4 -> 3 -> 2: one model 3·4 + 3 + 2·3 + 2 = 23.
        assert_eq!(merged_flops(&[4, 3, 2], &[sp(3, 0)]), 23.0);
        // Nothing merged: hidden 6 = [A 3 | B 3]; 6·4 + 6 + 2·6 + 2 = 44 (< 2×: the output and
        // input axes are shared).
        assert_eq!(merged_flops(&[4, 3, 2], &[sp(0, 3)]), 44.0);
        // 4 -> 3 -> 3 -> 2, nothing merged: the middle layer loses its two cross blocks.
        let none = merged_flops(&[4, 3, 3, 2], &[sp(0, 3), sp(0, 3)]);
        assert_eq!(none, (6 * 4 + 6 + (36 - 9 - 9) + 6 + 2 * 6 + 2) as f64);
        // Narrower than one model: 4 -> 1 -> 2 is 4 + 1 + 2 + 2 = 9.
        assert_eq!(merged_flops(&[4, 3, 2], &[sp(1, 0)]), 9.0);
        // Budget 1 merges everything; budget 2 merges nothing; in between, the worst-matched
        // pair (similarity −5) goes first.
        let sims = vec![vec![1.0, -5.0, 0.5], vec![0.2, 0.1, 0.3]];
        let imp = vec![vec![1.0, 2.0, 3.0], vec![5.0, 1.0, 4.0]];
        let w = |b| widths_for_budget(&[4, 3, 3, 2], &sims, &imp, b).expect("ok");
        assert_eq!(w(1.0), [3, 3]);
        assert_eq!(w(2.0), [6, 6]);
        let one = merged_flops(&[4, 3, 3, 2], &[sp(2, 1), sp(3, 0)])
            / merged_flops(&[4, 3, 3, 2], &[sp(3, 0), sp(3, 0)]);
        assert_eq!(w(one), [4, 3]);
        // Below 1: the least important unit (standardised: group 1's unit 1, then group 0's
        // unit 0) is dropped first. One model costs 3·4+3 + 9+3 + 6+2 = 35.
        let drop1 = merged_flops(&[4, 3, 3, 2], &[sp(3, 0), sp(2, 0)]) / 35.0;
        assert_eq!(w(drop1), [3, 2]);
        let drop2 = merged_flops(&[4, 3, 3, 2], &[sp(2, 0), sp(2, 0)]) / 35.0;
        assert_eq!(w(drop2), [2, 2]);
        // One unit per layer is the floor.
        let floor = merged_flops(&[4, 3, 3, 2], &[sp(1, 0), sp(1, 0)]) / 35.0;
        assert_eq!(w(floor), [1, 1]);
        let e = widths_for_budget(&[4, 3, 3, 2], &sims, &imp, floor * 0.9)
            .expect_err("below the floor")
            .to_string();
        assert!(e.contains("one unit per hidden layer"), "{e}");
        for bad in [2.5, 0.0, -1.0, f64::NAN] {
            assert!(widths_for_budget(&[4, 3, 2], &sims[..1], &imp[..1], bad).is_err());
        }
    }

    #[test]
    fn a_budget_is_met_and_least_squares_runs_at_it() {
        let train = digits();
        let (a, b) = (
            trained(11, &[16, 16], &train),
            trained(12, &[16, 16], &train),
        );
        for budget in [1.0, 1.3, 1.7, 2.0] {
            let c = PleasConfig {
                size: PleasSize::Budget(budget),
                ..cfg(vec![], PleasMatch::Activation, true)
            };
            let r = pleas(&a, &b, Some(&train), &c).expect("merges");
            assert!(
                r.flops_ratio <= budget + 1e-9,
                "{budget}: {}",
                r.flops_ratio
            );
            assert!(r.flops_ratio > budget - 0.1, "{budget}: {}", r.flops_ratio);
        }
    }

    #[test]
    fn full_merge_without_least_squares_is_weight_matching_averaging() {
        let train = digits();
        let (a, b) = (trained(1, &[12, 10], &train), trained(2, &[12, 10], &train));
        let r = pleas(&a, &b, None, &cfg(vec![12, 10], PleasMatch::Weight, false)).expect("merges");
        let al = weight_matching(&a, &b, 0).expect("matches");
        let want = average(&[a.clone(), permute(&b, &al.perms)]).expect("averages");
        assert_eq!(r.model.widths(), a.widths());
        for (x, y) in r.model.flat_params().iter().zip(want.flat_params()) {
            assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "{x} vs {y}");
        }
    }

    #[test]
    fn no_merge_runs_the_two_networks_side_by_side() {
        let train = digits();
        let (a, b) = (trained(3, &[9, 7], &train), trained(4, &[9, 7], &train));
        for matching in [PleasMatch::Weight, PleasMatch::Activation] {
            let r =
                pleas(&a, &b, Some(&train), &cfg(vec![18, 14], matching, false)).expect("merges");
            assert_eq!(r.model.widths(), vec![64, 18, 14, 10]);
            let n = 50;
            let x = &train.features[..n * 64];
            let (ya, yb, ym) = (a.forward(x, n), b.forward(x, n), r.model.forward(x, n));
            for ((p, q), m) in ya.iter().zip(&yb).zip(&ym) {
                assert!(
                    (0.5 * (p + q) - m).abs() < 1e-4,
                    "{matching:?}: {m} vs ½({p} + {q})"
                );
            }
        }
    }

    #[test]
    fn no_permutation_without_least_squares_is_the_plain_average() {
        let train = digits();
        let (a, b) = (trained(1, &[12, 10], &train), trained(2, &[12, 10], &train));
        let r = pleas(&a, &b, None, &cfg(vec![12, 10], PleasMatch::None, false)).expect("merges");
        let want = average(&[a.clone(), b.clone()]).expect("averages");
        assert_eq!(r.model.flat_params(), want.flat_params());
    }

    #[test]
    fn narrower_than_one_model_keeps_the_important_units_and_refits() {
        let (train, test) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let (a, b) = (
            trained(21, &[24, 24], &train),
            trained(22, &[24, 24], &train),
        );
        let merge = |least_squares| {
            pleas(
                &a,
                &b,
                Some(&train),
                &cfg(vec![8, 6], PleasMatch::Activation, least_squares),
            )
            .expect("merges")
        };
        let (plain, fitted) = (merge(false), merge(true));
        assert_eq!(fitted.model.widths(), vec![64, 8, 6, 10]);
        for g in &fitted.groups {
            assert!(g.a_only.is_empty() && g.b_only.is_empty());
        }
        // The kept pairs are the most important ones (importance computed independently here:
        // activation norm of the merged unit times the mean outgoing-weight norm).
        let (aa, ab) = (
            Activations::of(&a, &train).expect("acts"),
            Activations::of(&b, &train).expect("acts"),
        );
        let (perms, _) = activation_perms(&aa, &ab).expect("matches");
        let imp = unit_importance(&a, &b, &perms, Some(&(aa, ab)));
        let mut order: Vec<usize> = (0..24).collect();
        order.sort_by(|&i, &j| imp[0][j].total_cmp(&imp[0][i]));
        let mut top: Vec<usize> = order[..8].to_vec();
        top.sort_unstable();
        assert_eq!(fitted.groups[0].merged_a, top);
        // A ratio below 1: 64·8+8 + 8·6+6 + 6·10+10 over 64·24+24 + 24·24+24 + 24·10+10.
        let want = (64.0 * 8.0 + 8.0 + 48.0 + 6.0 + 70.0) / (1560.0 + 600.0 + 250.0);
        assert!(
            (fitted.flops_ratio - want).abs() < 1e-12,
            "{}",
            fitted.flops_ratio
        );
        // Least squares recovers much of what dropping two thirds of the units lost.
        let ev = |m: &Mlp| {
            crate::nn::train::evaluate(m, &test)
                .expect("evaluates")
                .accuracy
        };
        let (p, f) = (ev(&plain.model), ev(&fitted.model));
        assert!(
            f > p + 0.05 && f > 0.6,
            "least squares {f} vs dropped only {p}"
        );
    }

    #[test]
    fn cross_blocks_stay_zero_after_least_squares() {
        let train = digits();
        let (a, b) = (trained(5, &[10, 8], &train), trained(6, &[10, 8], &train));
        let r = pleas(
            &a,
            &b,
            Some(&train),
            &cfg(vec![14, 13], PleasMatch::Activation, true),
        )
        .expect("merges");
        assert_eq!(r.model.widths(), vec![64, 14, 13, 10]);
        // Layer 1: rows [merged 3 | A-only 5 | B-only 5], columns [merged 6 | A-only 4 | B-only 4].
        let l = &r.model.layers[1];
        for r_ in 0..l.out_dim {
            for c in 0..l.in_dim {
                let a_row = (3..8).contains(&r_);
                let b_row = (8..13).contains(&r_);
                let a_col = (6..10).contains(&c);
                let b_col = (10..14).contains(&c);
                if (a_row && b_col) || (b_row && a_col) {
                    assert_eq!(l.weight[r_ * l.in_dim + c], 0.0, "({r_}, {c})");
                }
            }
        }
        assert!(r.model.flat_params().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn least_squares_recovers_reachable_targets() {
        // X random, Y = X Wᵀ + b exactly: the fit reproduces Y to 1e-5.
        let mut rng = Rng::new(7);
        let (n, p, m) = (200, 6, 4);
        let x = DMatrix::from_fn(n, p, |_, _| rng.uniform() * 2.0 - 1.0);
        let w = DMatrix::from_fn(p, m, |_, _| rng.uniform() - 0.5);
        let b: Vec<f64> = (0..m).map(|_| rng.uniform()).collect();
        let mut y = &x * &w;
        for mut r in y.row_iter_mut() {
            for (v, bb) in r.iter_mut().zip(&b) {
                *v += bb;
            }
        }
        let (fw, fb) = solve_block(&x, &y, 1e-9).expect("solves");
        let mut fy = &x * &fw;
        for mut r in fy.row_iter_mut() {
            for (v, bb) in r.iter_mut().zip(&fb) {
                *v += bb;
            }
        }
        assert!((fy - y).abs().max() < 1e-5);
    }

    #[test]
    fn bad_input_is_refused_with_what_and_why() {
        let train = digits();
        let (a, b) = (trained(7, &[8], &train), trained(8, &[8], &train));
        let other = trained(9, &[6], &train);
        let e = pleas(
            &a,
            &other,
            Some(&train),
            &cfg(vec![12], PleasMatch::Weight, true),
        )
        .expect_err("architectures")
        .to_string();
        assert!(e.contains("[64, 8, 10] and [64, 6, 10]"), "{e}");
        let e = pleas(
            &a,
            &b,
            Some(&train),
            &cfg(vec![17], PleasMatch::Weight, true),
        )
        .expect_err("too wide")
        .to_string();
        assert!(e.contains("between 1 and 16 (got 17)"), "{e}");
        let e = pleas(&a, &b, None, &cfg(vec![12], PleasMatch::Weight, true))
            .expect_err("no data")
            .to_string();
        assert!(e.contains("need data"), "{e}");
        let few = train.take(20);
        let e = format!(
            "{:#}",
            pleas(&a, &b, Some(&few), &cfg(vec![12], PleasMatch::Weight, true))
                .expect_err("rank-deficient")
        );
        assert!(e.contains("layer 0") && e.contains("rank-deficient"), "{e}");
    }
}
#[cfg(test)]
mod accuracy {
    use super::*;

    #[test]
    fn least_squares_lifts_the_full_merge_on_digits() {
        // Measured once: A 90.56%, B 89.17%; at 1× (k = d) weight-matching averaging 86.94% and
        // PLeaS with least squares 90.00%; at k = 0 both 90.83% (the logit ensemble).
        let (train, test) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let t = |seed| {
            crate::nn::train::train_mlp(
                &crate::nn::train::TrainConfig {
                    hidden: vec![32, 32],
                    epochs: 20,
                    batch_size: 32,
                    lr: 3e-3,
                    seed,
                    progress: false,
                },
                &train,
            )
            .expect("trains")
        };
        let (a, b) = (t(1), t(2));
        let ev = |m: &Mlp| {
            crate::nn::train::evaluate(m, &test)
                .expect("evaluates")
                .accuracy
        };
        let merge = |least_squares| {
            let cfg = PleasConfig {
                size: PleasSize::Widths(vec![32, 32]),
                matching: PleasMatch::Weight,
                least_squares,
                ridge: 1e-6,
                seed: 0,
            };
            ev(&pleas(&a, &b, Some(&train), &cfg).expect("merges").model)
        };
        let (plain, fitted) = (merge(false), merge(true));
        assert!(
            fitted > plain + 0.01,
            "least squares {fitted} vs averaging {plain}"
        );
    }
}
