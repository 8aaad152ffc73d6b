//! Activation matching (SPEC §2.4): one assignment per hidden layer on the correlation of the
//! two models' post-ReLU activations.

use anyhow::Result;
use candle_core::{Device, Tensor};

use super::lap::solve_max;
use super::{Alignment, aligned_inner_product, inner_product};
use crate::data::Dataset;
use crate::nn::Mlp;

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
    // Per hidden layer: the n × n correlation (f32, twice while it is summed, then as f64) and
    // two batches of activations.
    let floats = a.layers[..h].iter().try_fold(0usize, |acc, l| {
        let n = l.out_dim;
        let corr = n.checked_mul(n)?.checked_mul(4)?;
        acc.checked_add(corr)?.checked_add(n.checked_mul(2000)?)
    });
    crate::budget::check(
        "activation matching (an n × n correlation per hidden layer)",
        crate::budget::bytes_of::<f32>(floats.unwrap_or(usize::MAX), "activation matching")?,
    )?;
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
        epochs: Vec::new(),
    })
}
