//! # mote-core
//!
//! The `no_std`, allocation-free half of mote: the same code runs in the host's simulator and on
//! the Cortex-M firmware, so both compute the same bits.
//!
//! ```
//! use mote_core::lmul::{lmul_f32, Fp8E4M3};
//! // L-Mul replaces the mantissa product by a constant: 1.5 · 1.5 ≈ 2.125 (exact: 2.25).
//! assert_eq!(lmul_f32(1.5, 1.5), 2.125);
//! let w = Fp8E4M3::from_f32(0.3);
//! assert_eq!(w.to_f32(), 0.3125);
//! ```
//!
//! Modules:
//! - [`lmul`]: L-Mul in fp32, bf16, fp16, fp8 e4m3 and e5m2; dot product and matvec.
//! - [`dict`]: online orthogonal dictionary learning (Frank–Wolfe) and sparse coding with it.
//! - [`check`]: deterministic input generators and digests shared by firmware self-tests and host.
//! - [`kernels`]: f32, L-Mul e4m3 and int8 kernels (Q31 requantization; the int8 matvec also per
//!   architecture: SMLAD on Cortex-M4/M7, four rows per pass on Cortex-M3).
//! - [`model`]: the `.mote` model file: zero-copy validating reader, writer, executor.
//! - [`recurrent`]: constant-memory recurrent cells (Lightning Attention-2, GLA-Liger, MoM, SWA, Liger).
//! - [`samples`]: the samples blob (`MSMP`): labelled inputs the host writes, the firmware reads.
//! - [`sensor`]: the sensor contract: recordings a replayed sensor plays, the LSM303AGR's
//!   register encoding, readings to model units.
//! - [`shape`]: [`shape::ShapeError`], the length mismatch every slice-taking kernel reports.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod check;
pub mod dict;
pub mod kernels;
pub mod lmul;
pub mod model;
pub mod recurrent;
pub mod samples;
pub mod sensor;
pub mod shape;
