//! Guest-side bindings of `plugins/wit/merge-rule.wit` plus the helpers every rule needs:
//! parameter parsing, model-count checks, and a panic hook that forwards the panic message to the
//! host's `log` import (a panic on wasm32-unknown-unknown aborts with a bare `unreachable` trap,
//! so without the hook the user would never see why).
//!
//! A rule crate implements [`Guest`] and calls `mote_plugin_common::export!(MyRule);`.

/// Generated bindings (in a module: at the crate root the public export macro clashes with its
/// own re-export).
#[allow(clippy::too_many_arguments)] // generated lowering code for the nested-list record
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "merge-rule",
        pub_export_macro: true,
        default_bindings_module: "mote_plugin_common::bindings",
    });
}

pub use bindings::{Guest, Param, ParamSpec, RuleInfo, TensorInput, export, log};

/// Looks up parameter `key` (the host fills in declared defaults, so absence is a host bug or a
/// parameter without default the user did not give).
pub fn param<'a>(params: &'a [Param], key: &str) -> Result<&'a str, String> {
    params
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
        .ok_or_else(|| format!("parameter `{key}` is required"))
}

/// Parses parameter `key` as a finite `f64` within `[lo, hi]`.
pub fn param_f64(params: &[Param], key: &str, lo: f64, hi: f64) -> Result<f64, String> {
    let raw = param(params, key)?;
    let v: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("parameter `{key}`: expected a number, got `{raw}`"))?;
    if !v.is_finite() || v < lo || v > hi {
        return Err(format!(
            "parameter `{key}`: expected a value in [{lo}, {hi}], got {raw}"
        ));
    }
    Ok(v)
}

/// Returns the base tensor, or an error saying the rule needs one.
pub fn require_base(input: &TensorInput) -> Result<&[f32], String> {
    input
        .base
        .as_deref()
        .ok_or_else(|| "this rule needs a base model (task vectors are taken against it)".into())
}

/// Installs a panic hook that sends the panic message to the host's `log` before the abort trap.
pub fn forward_panics() {
    std::panic::set_hook(Box::new(|info| log(&format!("panic: {info}"))));
}
