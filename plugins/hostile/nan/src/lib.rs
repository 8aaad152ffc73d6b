//! Hostile test plugin for the sandbox tests: returns the first model with a NaN in the middle.
//! It declares itself like a real rule so the host cannot tell it apart before calling it.

use mote_plugin_common::{Guest, RuleInfo, TensorInput};

struct Hostile;

impl Guest for Hostile {
    fn info() -> RuleInfo {
        RuleInfo {
            name: "hostile-nan".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "returns the first model with a NaN in the middle".into(),
            min_models: 1,
            max_models: 0,
            needs_base: false,
            params: Vec::new(),
        }
    }

    fn merge(input: TensorInput) -> Result<Vec<f32>, String> {
        let mut out = input.models.first().cloned().unwrap_or_default();
        if let Some(x) = out.get_mut(input.models.first().map_or(0, |m| m.len() / 2)) {
            *x = f32::NAN;
        }
        Ok(out)
    }
}

mote_plugin_common::export!(Hostile);
