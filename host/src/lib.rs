//! # mote-host
//!
//! The desktop half of mote (binary `mote`). Each subcommand lives in its own module; `cli`
//! parses arguments and dispatches.
//!
//! - [`cli`]: argument parsing and dispatch.
//! - [`bench`]: instruction counts of the kernels under QEMU.
//! - [`lmul_error`]: the L-Mul error table of SPEC §1.6 computed with `mote-core`.
//! - [`dict`]: `mote dict`, online orthogonal dictionary learning experiments.
//! - [`dict_fw`]: the dictionary-learning firmware under QEMU, checked bit for bit on the host.
//! - [`data`]: loaders of the bundled data sets.
//! - [`qemu`]: build the firmware, run it under `qemu-system-arm`, decode its defmt log.
//! - [`selftest`]: the L-Mul self-test on the firmware, checked bit for bit against the host.
//! - [`demo`]: `mote demo`, the end-to-end tour on bundled data.
//! - [`output`]: atomic file writes and JSON output helpers.

pub mod bench;
pub mod cli;
pub mod data;
pub mod demo;
pub mod dict;
pub mod dict_fw;
pub mod lmul_error;
pub mod output;
pub mod qemu;
pub mod selftest;
