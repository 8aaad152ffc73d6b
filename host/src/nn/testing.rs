//! Test fixtures shared by the host's unit tests.

use super::{Dense, Mlp};
use crate::rng::Rng;

/// A random MLP with the given widths (normal weights, He-like scale).
pub(crate) fn random_mlp(widths: &[usize], rng: &mut Rng) -> Mlp {
    Mlp {
        layers: widths
            .windows(2)
            .map(|w| {
                let s = (2.0 / w[0] as f64).sqrt();
                Dense {
                    out_dim: w[1],
                    in_dim: w[0],
                    weight: (0..w[0] * w[1])
                        .map(|_| (rng.normal() * s) as f32)
                        .collect(),
                    bias: (0..w[1]).map(|_| (rng.normal() * 0.1) as f32).collect(),
                }
            })
            .collect(),
    }
}
