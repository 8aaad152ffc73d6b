//! TIES-merging (Yadav et al., NeurIPS 2023) on one tensor, against a base model:
//!
//! ```text
//! τ_i   = θ_i − θ_base                                   (task vectors, f32)
//! trim: keep the k = ⌊density·n⌋ entries of each τ_i with the largest |τ_i|
//!       (ties broken by lower index), zero the rest → τ̂_i
//! elect: γ_p = sgn(Σ_i τ̂_i,p)                             (sign of larger total mass)
//! mean:  A_p = { i : τ̂_i,p ≠ 0 and sgn τ̂_i,p = γ_p },  τ_p = (1/|A_p|) Σ_{i∈A_p} τ̂_i,p (0 if A_p = ∅)
//! out_p = θ_base,p + λ·τ_p
//! ```
//! Sums and the mean in f64; the output is rounded to f32 once. Trimming is per tensor (as in
//! mergekit), not over the whole model as in the paper.

use std::cmp::Ordering;

use mote_plugin_common::{Guest, ParamSpec, RuleInfo, TensorInput};

struct Ties;

/// Zeroes all but the `k` largest-magnitude entries of `delta` (ties: lower index wins).
fn trim(delta: &mut [f32], k: usize) {
    if k >= delta.len() {
        return;
    }
    let mut order: Vec<u32> = (0..delta.len() as u32).collect();
    // A total order, so the kept set does not depend on the selection algorithm.
    let by_magnitude = |&i: &u32, &j: &u32| -> Ordering {
        let (a, b) = (delta[i as usize].abs(), delta[j as usize].abs());
        b.total_cmp(&a).then(i.cmp(&j))
    };
    if k > 0 {
        order.select_nth_unstable_by(k - 1, by_magnitude);
    }
    for &i in &order[k..] {
        delta[i as usize] = 0.0;
    }
}

fn sign(x: f64) -> i8 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

impl Guest for Ties {
    fn info() -> RuleInfo {
        RuleInfo {
            name: "ties".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "TIES-merging: trim task vectors to the top density fraction, elect \
                          the sign per parameter, average the agreeing entries"
                .into(),
            min_models: 1,
            max_models: 0,
            needs_base: true,
            params: vec![
                ParamSpec {
                    name: "density".into(),
                    description: "fraction k of each task vector kept by magnitude, in [0, 1]"
                        .into(),
                    default: Some("0.2".into()),
                },
                ParamSpec {
                    name: "lambda".into(),
                    description: "scale of the merged task vector added to the base, in [0, 10]"
                        .into(),
                    default: Some("1".into()),
                },
            ],
        }
    }

    fn merge(input: TensorInput) -> Result<Vec<f32>, String> {
        mote_plugin_common::forward_panics();
        let density = mote_plugin_common::param_f64(&input.params, "density", 0.0, 1.0)?;
        let lambda = mote_plugin_common::param_f64(&input.params, "lambda", 0.0, 10.0)?;
        let base = mote_plugin_common::require_base(&input)?;
        let n = base.len();
        // mergekit: k = int(density * numel).
        let k = (density * n as f64).floor() as usize;
        let mut deltas = Vec::with_capacity(input.models.len());
        for (m, model) in input.models.iter().enumerate() {
            if model.len() != n {
                return Err(format!(
                    "model {m} has {} values, base has {n}",
                    model.len()
                ));
            }
            let mut d: Vec<f32> = model.iter().zip(base).map(|(&x, &b)| x - b).collect();
            trim(&mut d, k);
            deltas.push(d);
        }
        Ok((0..n)
            .map(|p| {
                let elected = sign(deltas.iter().map(|d| f64::from(d[p])).sum());
                let (sum, count) = deltas
                    .iter()
                    .map(|d| f64::from(d[p]))
                    .filter(|&x| elected != 0 && sign(x) == elected)
                    .fold((0.0, 0u32), |(s, c), x| (s + x, c + 1));
                let mean = if count == 0 {
                    0.0
                } else {
                    sum / f64::from(count)
                };
                (f64::from(base[p]) + lambda * mean) as f32
            })
            .collect())
    }
}

mote_plugin_common::export!(Ties);
