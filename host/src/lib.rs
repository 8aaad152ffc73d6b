//! # mote-host
//!
//! The desktop half of mote (binary `mote`): train, align, merge, quantize, simulate, and drive
//! the firmware under QEMU. The folders are the concerns; `cmd` holds one module per subcommand
//! and calls into them; `cli` only parses and dispatches.
//!
//! - [`align`]: permutations, exact assignment, weight and activation matching, merging, the
//!   LMC barrier, singular-vector analysis (SPEC §2).
//! - [`nn`]: the MLP, its safetensors files, training and evaluation.
//! - [`model`]: the `.mote` model file: quantize, inspect, simulate.
//! - [`device`]: boards, firmware builds, QEMU runs, the device runner, instruction counting.
//! - [`dict`]: online orthogonal dictionary learning experiments (SPEC §4), and on the firmware.
//! - [`attention`]: the softmax-attention classifier and its Liger conversion (SPEC §5.3).
//! - [`recurrent`]: sequence forms of the recurrent cells, the BasicMotions classifier, costs.
//! - [`plugin`]: custom merge rules as sandboxed WebAssembly components.
//! - [`data`]: data sets by name and their file formats.
//! - [`lmul_table`]: the L-Mul error table of SPEC §1.6.
//! - [`cmd`]: one module per subcommand (arguments, run, rendering).
//! - [`cli`]: the global flags and dispatch.
//! - [`budget`]: memory checked before it is asked for.
//! - [`input`]: input files read with a byte limit, sizes checked before reading.
//! - [`install`]: where `mote` finds its data, firmware and plugin sources.
//! - [`output`]: atomic file writes, JSON output, the plot font.
//! - [`rng`]: the seeded generator behind every random choice.
//! - [`subcargo`]: `cargo build` of the cross-compiled firmware and plugin workspaces.

pub mod align;
pub mod attention;
pub mod budget;
pub mod cli;
pub mod cmd;
pub mod data;
pub mod device;
pub mod dict;
pub mod input;
pub mod install;
pub mod lmul_table;
pub mod model;
pub mod nn;
pub mod output;
pub mod plugin;
pub mod recurrent;
pub mod rng;
pub mod subcargo;
