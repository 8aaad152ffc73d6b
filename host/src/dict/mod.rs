//! Online orthogonal dictionary learning (SPEC §4) with `mote_core::dict`.
//!
//! - `--data synthetic`: the paper's experiment (SPEC §4.5): error vs iteration of NoncvxSFW, the
//!   convex SFW baseline and batch ℓ3 GPM, medians over seeded trials.
//! - `--data ecg | daphnet | FILE`: learns from a real stream (a data file: its rows, each a
//!   sample or a `--window` of a recording) in one pass (overlapping windows, hop
//!   `--hop`), then reports the top-k reconstruction RMSE on held-out windows for the learned
//!   dictionary and the DCT-II basis. The same stream is what the firmware learns from
//!   ([`firmware`]).
//!
//! - [`features`]: a learned dictionary as a model file's feature stage (`mote dict -o`,
//!   `mote train --dict`, `mote quantize --dict`).
//! - [`synthetic`]: the synthetic experiment of SPEC §4.5.
//! - [`stream`]: learning from a real sensor stream, and the held-out reconstruction error.
//! - [`plot`]: the plots of both.
//! - [`firmware`]: the dictionary-learning firmware under QEMU, checked bit for bit on the host.

pub mod features;
pub mod firmware;
pub mod plot;
pub mod stream;
pub mod synthetic;

use serde::Serialize;

/// Data source of `mote dict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// Bernoulli(θ)–Gaussian codes through a random orthogonal dictionary (known ground truth).
    Synthetic,
    /// MIT-BIH record 208, lead MLII, in mV.
    Ecg,
    /// Daphnet accelerometer, ankle vertical axis, in g.
    Daphnet,
}

/// Dictionary sizes the learner is compiled for (its state has compile-time shape).
pub const SIZES: [usize; 14] = [2, 4, 8, 10, 12, 16, 20, 24, 25, 32, 40, 48, 50, 64];

/// Calls `$f::<N>($args)` for the runtime size `$n`, or fails for an unsupported size.
macro_rules! with_n {
    ($n:expr, $f:ident ( $($arg:expr),* )) => {
        match $n {
            2 => $f::<2>($($arg),*),
            4 => $f::<4>($($arg),*),
            8 => $f::<8>($($arg),*),
            10 => $f::<10>($($arg),*),
            12 => $f::<12>($($arg),*),
            16 => $f::<16>($($arg),*),
            20 => $f::<20>($($arg),*),
            24 => $f::<24>($($arg),*),
            25 => $f::<25>($($arg),*),
            32 => $f::<32>($($arg),*),
            40 => $f::<40>($($arg),*),
            48 => $f::<48>($($arg),*),
            50 => $f::<50>($($arg),*),
            64 => $f::<64>($($arg),*),
            other => bail!("--n {other} is not supported; choose one of {:?}", $crate::dict::SIZES),
        }
    };
}
pub(crate) use with_n;
