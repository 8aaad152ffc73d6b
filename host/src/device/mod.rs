//! The device side, without hardware: the firmware built for a QEMU board with a model embedded,
//! run under `qemu-system-arm`, its defmt log decoded and compared with the host bit for bit.
//!
//! - [`app`]: the sensor application for a user's model: build (board limits, footprint), a
//!   replayed stream under QEMU, every decision checked against the host.
//! - [`board`]: the QEMU boards ([`Board`]).
//! - [`firmware`]: the firmware sources and their builds ([`Firmware`]).
//! - [`qemu`]: one run under QEMU and its decoded log.
//! - [`insns`]: instruction counting with the TCG plugin.
//! - [`runner`]: the one device runner every model kind uses ([`runner::Workload`]).
//! - [`infer`]: stateless models (MLPs) on the `infer` firmware.
//! - [`samples`]: the samples blob embedded beside the model.
//! - [`stream`]: a stateful model far into one long stream (tokens 1 … 10 000).
//! - [`selftest`]: the L-Mul self-test, checked on the host.
//! - [`kernel_counts`]: instructions per 256×256 matvec of each kernel.
//! - [`kernel_check`]: the int8 kernels on the device against the scalar reference.

pub mod app;
pub mod board;
pub mod firmware;
pub mod infer;
pub mod insns;
pub mod kernel_check;
pub mod kernel_counts;
pub mod qemu;
pub mod runner;
pub mod samples;
pub mod selftest;
pub mod stream;

pub use board::Board;
pub use firmware::Firmware;
