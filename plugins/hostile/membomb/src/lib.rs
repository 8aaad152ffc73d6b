//! Hostile test plugin for the sandbox tests: grows its memory in 16 MiB blocks (dirtying every page) until the allocator fails.
//! It declares itself like a real rule so the host cannot tell it apart before calling it.

use mote_plugin_common::{Guest, RuleInfo, TensorInput};

struct Hostile;

impl Guest for Hostile {
    fn info() -> RuleInfo {
        RuleInfo {
            name: "hostile-membomb".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "grows its memory in 16 MiB blocks (dirtying every page) until the allocator fails"
                    .into(),
            min_models: 1,
            max_models: 0,
            needs_base: false,
            params: Vec::new(),
        }
    }

    fn merge(input: TensorInput) -> Result<Vec<f32>, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // Grow by 16 MiB and dirty one byte per 64 KiB wasm page: the memory is really
            // committed, and the bomb spends its time growing rather than burning fuel on memset.
            let mut block = Vec::with_capacity(16 << 20);
            block.resize(1, input.models.len() as u8);
            for page in block.spare_capacity_mut().iter_mut().step_by(1 << 16) {
                page.write(1);
            }
            hoard.push(core::hint::black_box(block));
        }
    }
}

mote_plugin_common::export!(Hostile);
