//! Custom merge rules as sandboxed WebAssembly components (`--rule plugin:PATH.wasm`).
//!
//! The contract is `plugins/wit/merge-rule.wit`: a rule declares its name, version and
//! parameters (`info`) and merges one tensor at a time (`merge`). Each `merge` call runs in a
//! fresh [`wasmtime::Store`] with
//! - no WASI at all: the linker provides only the `log` import, so a component importing anything
//!   else (files, sockets, clocks) is refused when it is loaded;
//! - a fuel budget proportional to the tensor size (stops runaway loops deterministically);
//! - an epoch deadline driven by a watchdog thread (a wall-clock limit, even for code the fuel
//!   budget would allow);
//! - a cap on linear-memory growth ([`wasmtime::StoreLimits`]).
//!
//! The result is validated (length = product of the shape, every value finite) before the host
//! uses it. Every failure is a [`PluginError`] naming the plugin and the tensor.
//!
//! - [`rule`]: [`MergeRule`] (built-in average or plugin), [`PluginRule`], [`SandboxLimits`].
//! - [`error`]: [`PluginError`] and its kinds.
//! - [`models`]: f32 safetensors models for `mote plugin merge`.
//! - [`merge`]: merging aligned models tensor by tensor with a rule.
//! - [`build`]: builds the guest workspace in `plugins/` (tests, benchmark).
//! - [`cost`]: the time of plugin rules against the native average (`mote plugin bench`).

pub mod build;
pub mod cost;
pub mod error;
pub mod merge;
pub mod models;
pub mod rule;

pub use error::{PluginError, PluginErrorKind};
pub use rule::{MergeRule, PluginRule, SandboxLimits};
