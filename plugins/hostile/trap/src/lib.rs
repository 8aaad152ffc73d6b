//! Hostile test plugin for the sandbox tests: panics (an abort trap) after logging why.
//! It declares itself like a real rule so the host cannot tell it apart before calling it.

use mote_plugin_common::{Guest, RuleInfo, TensorInput};

struct Hostile;

impl Guest for Hostile {
    fn info() -> RuleInfo {
        RuleInfo {
            name: "hostile-trap".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "panics (an abort trap) after logging why".into(),
            min_models: 1,
            max_models: 0,
            needs_base: false,
            params: Vec::new(),
        }
    }

    fn merge(input: TensorInput) -> Result<Vec<f32>, String> {
        mote_plugin_common::forward_panics();
        panic!("deliberate panic while merging `{}`", input.name)
    }
}

mote_plugin_common::export!(Hostile);
