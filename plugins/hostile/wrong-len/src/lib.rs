//! Hostile test plugin for the sandbox tests: returns one value fewer than the tensor has.
//! It declares itself like a real rule so the host cannot tell it apart before calling it.

use mote_plugin_common::{Guest, RuleInfo, TensorInput};

struct Hostile;

impl Guest for Hostile {
    fn info() -> RuleInfo {
        RuleInfo {
            name: "hostile-wrong-len".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "returns one value fewer than the tensor has".into(),
            min_models: 1,
            max_models: 0,
            needs_base: false,
            params: Vec::new(),
        }
    }

    fn merge(input: TensorInput) -> Result<Vec<f32>, String> {
        let mut out = input.models.first().cloned().unwrap_or_default();
        out.pop();
        Ok(out)
    }
}

mote_plugin_common::export!(Hostile);
