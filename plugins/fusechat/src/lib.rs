//! FuseChat's variation-ratio merge (VaRM; Wan et al., "FuseChat: Knowledge Fusion of Chat
//! Models", 2024), applied per tensor: each model's weight is proportional to how far fine-tuning
//! moved that tensor away from the base (pivot) model.
//!
//! ```text
//! v_i = mean_p (θ_i,p − θ_base,p)²                         (variation of model i on this tensor)
//! w_i = v_i / Σ_j v_j            (w_i = 1/N if every v_j = 0: nothing moved, plain average)
//! out_p = Σ_i w_i θ_i,p
//! ```
//! Accumulation in f64; the output is rounded to f32 once.

use mote_plugin_common::{Guest, RuleInfo, TensorInput};

struct FuseChat;

impl Guest for FuseChat {
    fn info() -> RuleInfo {
        RuleInfo {
            name: "fusechat-varm".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "FuseChat VaRM: weighted average of the models, weights proportional to \
                          each model's mean squared change from the base on this tensor"
                .into(),
            min_models: 1,
            max_models: 0,
            needs_base: true,
            params: Vec::new(),
        }
    }

    fn merge(input: TensorInput) -> Result<Vec<f32>, String> {
        mote_plugin_common::forward_panics();
        let base = mote_plugin_common::require_base(&input)?;
        if input.models.is_empty() {
            return Err("no models to merge".into());
        }
        let n = base.len();
        let mut variation = Vec::with_capacity(input.models.len());
        for (m, model) in input.models.iter().enumerate() {
            if model.len() != n {
                return Err(format!(
                    "model {m} has {} values, base has {n}",
                    model.len()
                ));
            }
            let sq: f64 = model
                .iter()
                .zip(base)
                .map(|(&x, &b)| {
                    let d = f64::from(x) - f64::from(b);
                    d * d
                })
                .sum();
            variation.push(if n == 0 { 0.0 } else { sq / n as f64 });
        }
        let total: f64 = variation.iter().sum();
        let weights: Vec<f64> = if total > 0.0 {
            variation.iter().map(|v| v / total).collect()
        } else {
            vec![1.0 / input.models.len() as f64; input.models.len()]
        };
        mote_plugin_common::log(&format!("{}: weights {weights:?}", input.name));
        Ok((0..n)
            .map(|p| {
                input
                    .models
                    .iter()
                    .zip(&weights)
                    .map(|(m, &w)| w * f64::from(m[p]))
                    .sum::<f64>() as f32
            })
            .collect())
    }
}

mote_plugin_common::export!(FuseChat);
