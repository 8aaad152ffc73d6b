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
//!
//! - [`permutation`]: the [`Permutation`] type.
//! - [`lap`]: exact linear assignment, warm-started ([`lap::LapSolver`]).
//! - [`permute`]: permuting a model; inner products and distances through permutations.
//! - [`weight_matching`](mod@weight_matching): coordinate descent and its schedule, over the kept
//!   score matrices of `score` (GEMMs in `gemm`) and the kept objective of `objective`.
//! - [`activation`]: activation matching.
//! - [`ste`]: the straight-through estimator (SPEC §2.4, "Algorithm 2").
//! - [`merge`]: averaging after alignment, merge-many (SPEC §2.7), plugin merge rules.
//! - [`barrier`]: the linear path between two models and its LMC barrier (SPEC §2.5).
//! - [`analyze`]: distances, singular values and singular-vector alignment (SPEC §2.8).
//! - [`pleas`]: PLeaS, partial matching and layer-wise least squares into any width (SPEC §3).
//! - [`pleas_study`]: the skewed-halves PLeaS study of `mote bench pleas`.
//! - [`many`]: N models aligned to a common reference and measured (SPEC §2.8).

mod activation;
pub mod analyze;
pub mod barrier;
mod gemm;
pub mod lap;
pub mod many;
pub mod merge;
mod objective;
pub mod permutation;
pub mod permute;
pub mod pleas;
pub mod pleas_study;
mod score;
pub mod ste;
#[cfg(test)]
mod tests;
mod weight_matching;

use anyhow::Result;

use crate::data::Dataset;
use crate::nn::Mlp;

pub use activation::activation_matching;
pub use permutation::Permutation;
pub use permute::{aligned_inner_product, inner_product, l2_distance, permute};
pub use weight_matching::{MAX_SWEEPS, MIN_GAIN, Sweep, weight_matching, weight_matching_from};

/// The result of an alignment: the permutations and how they were found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Alignment {
    /// `"weight"`, `"activation"` or `"ste"`.
    pub method: &'static str,
    /// One permutation per hidden layer.
    pub perms: Vec<Permutation>,
    /// Objective of the identity (unaligned) pairing.
    pub objective_identity: f64,
    /// Objective of the returned permutations.
    pub objective: f64,
    /// Per-sweep log (weight matching only).
    pub sweeps: Vec<Sweep>,
    /// True if the last sweep made no progress (weight matching; for the straight-through
    /// estimator: every batch's weight matching); false if 100 sweeps ran out.
    pub converged: bool,
    /// Per-epoch log (straight-through estimator only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub epochs: Vec<ste::SteEpoch>,
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
    /// The straight-through estimator, SPEC §2.4 "Algorithm 2" (needs `--data`; trains).
    Ste,
}

/// Settings of an alignment: the seed of every random choice and, for the straight-through
/// estimator, its training settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlignOptions {
    /// Seed of the sweep orders (weight matching) and batch orders (STE).
    pub seed: u64,
    /// Straight-through estimator settings.
    pub ste: ste::SteConfig,
}

/// Aligns `b` to `a` with `method`; `None` for [`Method::None`]. Activation matching and the
/// straight-through estimator use the training split `data`.
pub fn align(
    a: &Mlp,
    b: &Mlp,
    method: Method,
    data: Option<&Dataset>,
    opts: &AlignOptions,
) -> Result<Option<Alignment>> {
    let needs_data = |what: &str| -> Result<&Dataset> {
        let data = data.ok_or_else(|| anyhow::anyhow!("{what} needs data: pass --data NAME"))?;
        if data.d != a.in_dim() || data.classes != a.out_dim() {
            anyhow::bail!(
                "the models map {} inputs to {} classes but the data has {} features and {} classes",
                a.in_dim(),
                a.out_dim(),
                data.d,
                data.classes
            );
        }
        Ok(data)
    };
    match method {
        Method::None => Ok(None),
        Method::Weight => weight_matching(a, b, opts.seed).map(Some),
        Method::Activation => {
            activation_matching(a, b, needs_data("activation matching")?).map(Some)
        }
        Method::Ste => ste::ste_matching(
            a,
            b,
            needs_data("the straight-through estimator")?,
            &opts.ste,
            opts.seed,
        )
        .map(Some),
    }
}
