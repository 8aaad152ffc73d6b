//! SLERP merge rule: spherical linear interpolation between two models' tensors, treated as
//! flat vectors (mergekit's `slerp`, see docs/plugins.md).
//!
//! ```text
//! â = a/‖a‖, b̂ = b/‖b‖, d = â·b̂
//! |d| > dot_threshold or ‖a‖ ≤ ε or ‖b‖ ≤ ε:  out = (1−t)·a + t·b          (lerp fallback)
//! otherwise: θ = acos d, out = sin((1−t)θ)/sin θ · a + sin(tθ)/sin θ · b
//! ```
//! All arithmetic in f64; the output is rounded to f32 once.

use mote_plugin_common::{Guest, ParamSpec, RuleInfo, TensorInput};

/// Norms at or below this are treated as a zero tensor (the angle is undefined): lerp.
const EPS: f64 = 1e-8;

struct Slerp;

impl Guest for Slerp {
    fn info() -> RuleInfo {
        RuleInfo {
            name: "slerp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "spherical linear interpolation of two models (mergekit semantics); \
                          falls back to lerp for near-parallel tensors"
                .into(),
            min_models: 2,
            max_models: 2,
            needs_base: false,
            params: vec![
                ParamSpec {
                    name: "t".into(),
                    description: "interpolation factor in [0, 1]: 0 = first model, 1 = second"
                        .into(),
                    default: Some("0.5".into()),
                },
                ParamSpec {
                    name: "dot-threshold".into(),
                    description: "lerp instead when |cos angle| exceeds this, in [0, 1]".into(),
                    default: Some("0.9995".into()),
                },
            ],
        }
    }

    fn merge(input: TensorInput) -> Result<Vec<f32>, String> {
        mote_plugin_common::forward_panics();
        let t = mote_plugin_common::param_f64(&input.params, "t", 0.0, 1.0)?;
        let threshold = mote_plugin_common::param_f64(&input.params, "dot-threshold", 0.0, 1.0)?;
        let [a, b] = input.models.as_slice() else {
            return Err(format!(
                "slerp merges exactly 2 models, got {}",
                input.models.len()
            ));
        };
        if a.len() != b.len() {
            return Err(format!(
                "model tensors differ in length: {} vs {}",
                a.len(),
                b.len()
            ));
        }
        let norm = |v: &[f32]| {
            v.iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                .sqrt()
        };
        let (na, nb) = (norm(a), norm(b));
        let (wa, wb) = if na <= EPS || nb <= EPS {
            (1.0 - t, t)
        } else {
            let dot = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum::<f64>()
                / (na * nb);
            if dot.abs() > threshold {
                (1.0 - t, t)
            } else {
                let theta = dot.clamp(-1.0, 1.0).acos();
                let s = theta.sin();
                (((1.0 - t) * theta).sin() / s, (t * theta).sin() / s)
            }
        };
        Ok(a.iter()
            .zip(b)
            .map(|(&x, &y)| (wa * f64::from(x) + wb * f64::from(y)) as f32)
            .collect())
    }
}

mote_plugin_common::export!(Slerp);
