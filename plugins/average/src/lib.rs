//! The smallest useful merge rule: the element-wise mean of the models, accumulated in f32 in
//! model order exactly like mote's built-in `average`, so the two outputs are bit-identical and
//! the benchmark measures only the cost of the sandbox. Start a new rule by copying this crate.

use mote_plugin_common::{Guest, RuleInfo, TensorInput};

struct Average;

impl Guest for Average {
    fn info() -> RuleInfo {
        RuleInfo {
            name: "average".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "element-wise mean of the models (same arithmetic as the built-in)".into(),
            min_models: 1,
            max_models: 0,
            needs_base: false,
            params: Vec::new(),
        }
    }

    fn merge(input: TensorInput) -> Result<Vec<f32>, String> {
        let Some(first) = input.models.first() else {
            return Err("no models to merge".into());
        };
        let mut out = vec![0.0f32; first.len()];
        for (m, model) in input.models.iter().enumerate() {
            if model.len() != out.len() {
                return Err(format!(
                    "model {m} has {} values, model 0 has {}",
                    model.len(),
                    out.len()
                ));
            }
            for (o, &x) in out.iter_mut().zip(model) {
                *o += x;
            }
        }
        let scale = 1.0 / input.models.len() as f32;
        out.iter_mut().for_each(|o| *o *= scale);
        Ok(out)
    }
}

mote_plugin_common::export!(Average);
