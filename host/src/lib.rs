//! # mote-host
//!
//! The desktop half of mote (binary `mote`). Each subcommand lives in its own module; `cli`
//! parses arguments and dispatches.
//!
//! - [`cli`]: argument parsing and dispatch.
//! - [`plugin`]: custom merge rules as sandboxed WebAssembly components (`mote plugin`).
//! - [`dict`]: `mote dict`, online orthogonal dictionary learning experiments.
//! - [`dict_fw`]: the dictionary-learning firmware under QEMU, checked bit for bit on the host.
//! - [`data`]: data sets by name (digits, Fashion-MNIST).
//! - [`mlp`]: the `Mlp` type and its safetensors files (PyTorch `nn.Sequential` names).
//! - [`rng`]: the seeded generator behind every random choice.
//! - [`train`]: `mote train`, minibatch Adam training and evaluation of MLPs (candle).
//! - [`lap`]: exact linear assignment and the `Permutation` type.
//! - [`rebasin`]: weight and activation matching (Git Re-Basin, SPEC §2.3–2.4).
//! - [`merge`]: `mote merge`, averaging after alignment, merge-many (SPEC §2.7).
//! - [`barrier`]: `mote barrier`, the linear path and LMC barrier (SPEC §2.5), with a plot.
//! - [`analyze`]: `mote analyze`, distances and singular vectors (SPEC §2.8).
//! - [`quantize`]: `mote quantize` / `inspect` / `run`: MLP → `.mote`, and the host simulator.
//! - [`device`]: run a model file on the firmware in QEMU, compare with the host bit for bit.
//! - [`subcargo`]: `cargo build` of the cross-compiled firmware and plugin workspaces.
//! - [`qemu`]: build the firmware, run it under `qemu-system-arm`, decode its defmt log.
//! - [`selftest`]: the L-Mul self-test on the firmware, checked bit for bit against the host.
//! - [`lmul_error`]: the L-Mul error table of SPEC §1.6 computed with `mote-core`.
//! - [`bench`]: instruction counts of the kernels under QEMU.
//! - [`demo`]: `mote demo`, the end-to-end tour on bundled data.
//! - [`output`]: atomic file writes and JSON output helpers.
//! - [`recurrent`]: sequence forms of the recurrent cells, the BasicMotions classifier, benchmarks.

pub mod analyze;
pub mod barrier;
pub mod bench;
pub mod cli;
pub mod data;
pub mod demo;
pub mod device;
pub mod dict;
pub mod dict_fw;
pub mod lap;
pub mod lmul_error;
pub mod merge;
pub mod mlp;
pub mod output;
pub mod plugin;
pub mod qemu;
pub mod quantize;
pub mod rebasin;
pub mod recurrent;
pub mod rng;
pub mod selftest;
pub mod subcargo;
pub mod train;
