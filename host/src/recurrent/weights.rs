//! Owned weights of one projection in a chosen numeric scheme, lent to `mote-core` as a
//! [`Linear`].

use mote_core::kernels::{Linear, Weights};
use mote_core::lmul::Fp8E4M3;
use serde::{Deserialize, Serialize};

/// Numeric scheme of a projection's weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Scheme {
    /// `f32` weights.
    F32,
    /// Symmetric int8 weights, per-row scale, dynamic int8 activations.
    Int8,
    /// fp8 e4m3 weights, per-row scale, L-Mul products.
    LmulE4m3,
}

impl Scheme {
    /// All schemes.
    pub const ALL: [Scheme; 3] = [Scheme::F32, Scheme::Int8, Scheme::LmulE4m3];
    /// Stable numeric tag (used in raw weight blobs).
    pub fn tag(self) -> u32 {
        match self {
            Scheme::F32 => 0,
            Scheme::Int8 => 1,
            Scheme::LmulE4m3 => 2,
        }
    }
}

/// Largest finite e4m3 magnitude.
const E4M3_MAX: f32 = 448.0;

/// A projection `rows × cols` quantized once from `f32` weights.
#[derive(Clone, Debug)]
pub struct OwnedLinear {
    /// Output size.
    pub rows: usize,
    /// Input size.
    pub cols: usize,
    /// Scheme of [`OwnedLinear::view`].
    pub scheme: Scheme,
    /// `f32` weights (row-major), kept for the `f32` scheme.
    pub w: Vec<f32>,
    /// int8 or e4m3 codes (as bytes), row-major.
    pub codes: Vec<u8>,
    /// Per-row scale of the quantized schemes.
    pub scale: Vec<f32>,
    /// Optional bias.
    pub bias: Option<Vec<f32>>,
    i8codes: Vec<i8>,
}

impl OwnedLinear {
    /// Quantizes `w` (row-major `rows × cols`) to `scheme`: int8 with `s = max|row|/127`,
    /// e4m3 with `s = max|row|/448`, both rounding to nearest.
    pub fn new(
        rows: usize,
        cols: usize,
        w: Vec<f32>,
        bias: Option<Vec<f32>>,
        scheme: Scheme,
    ) -> Self {
        assert_eq!(w.len(), rows * cols, "weight matrix size");
        let mut codes = Vec::new();
        let mut i8codes = Vec::new();
        let mut scale = Vec::new();
        if scheme != Scheme::F32 {
            for row in w.chunks_exact(cols.max(1)).take(rows) {
                let m = row.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
                let top = if scheme == Scheme::Int8 {
                    127.0
                } else {
                    E4M3_MAX
                };
                let s = if m > 0.0 { m / top } else { 1.0 };
                scale.push(s);
                for &x in row {
                    if scheme == Scheme::Int8 {
                        let q = (x / s).round().clamp(-127.0, 127.0) as i8;
                        i8codes.push(q);
                        codes.push(q as u8);
                    } else {
                        codes.push(Fp8E4M3::from_f32(x / s).0);
                    }
                }
            }
        }
        OwnedLinear {
            rows,
            cols,
            scheme,
            w,
            codes,
            scale,
            bias,
            i8codes,
        }
    }

    /// The borrowed view `mote-core` runs.
    pub fn view(&self) -> Linear<'_> {
        let weights = match self.scheme {
            Scheme::F32 => Weights::F32(&self.w),
            Scheme::Int8 => Weights::Int8 {
                q: &self.i8codes,
                scale: &self.scale,
            },
            Scheme::LmulE4m3 => Weights::LmulE4m3 {
                q: &self.codes,
                scale: &self.scale,
            },
        };
        Linear {
            rows: self.rows,
            cols: self.cols,
            weights,
            bias: self.bias.as_deref(),
        }
    }
}
