//! Hostile test plugin for the sandbox tests: allocates and touches 16 MiB blocks until the allocator fails.
//! It declares itself like a real rule so the host cannot tell it apart before calling it.

use mote_plugin_common::{Guest, RuleInfo, TensorInput};

struct Hostile;

impl Guest for Hostile {
    fn info() -> RuleInfo {
        RuleInfo {
            name: "hostile-membomb".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "allocates and touches 16 MiB blocks until the allocator fails".into(),
            min_models: 1,
            max_models: 0,
            needs_base: false,
            params: Vec::new(),
        }
    }

    fn merge(input: TensorInput) -> Result<Vec<f32>, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // Touch every page so the memory is really committed, not just reserved.
            hoard.push(vec![input.models.len() as u8; 16 << 20]);
            core::hint::black_box(&hoard);
        }
    }
}

mote_plugin_common::export!(Hostile);
