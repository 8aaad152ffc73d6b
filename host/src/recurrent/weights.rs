//! Owned weights of one projection in a chosen numeric scheme, lent to `mote-core` as a
//! [`Linear`].

use mote_core::kernels::{Linear, Weights};
use mote_core::lmul::Fp8E4M3;
use mote_core::model::{Layer, LayerInfo, LinearScheme};
use serde::{Deserialize, Serialize};

/// Numeric scheme of a recurrent model's projections (every `Linear` with f32 activations).
///
/// Distinct from [`crate::model::quantize::Scheme`] on purpose: its `Int8` is the TFLite-Micro static
/// scheme (activations int8 between layers, per-tensor scale and zero point fixed from
/// calibration data, Q31 requantization), while [`WeightScheme::Int8Dynamic`] keeps f32
/// activations and quantizes each projection's input per call from its own range
/// (`kernels::quantize_dynamic`), which is what recurrent state and feature maps need: their
/// ranges drift with the stream, so no calibration-time range fits them. f32 and lmul-e4m3 mean
/// the same in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum WeightScheme {
    /// `f32` weights.
    F32,
    /// Symmetric int8 weights, per-row scale, dynamic int8 activations.
    Int8Dynamic,
    /// fp8 e4m3 weights, per-row scale, L-Mul products.
    LmulE4m3,
    /// fp8 e4m3 weights, per-row scale, L-Mul products accumulated in fixed point
    /// (`kernels::lmul_fixed`: no float operation inside a dot product).
    LmulE4m3Fixed,
}

impl WeightScheme {
    /// All schemes.
    pub const ALL: [WeightScheme; 4] = [
        WeightScheme::F32,
        WeightScheme::Int8Dynamic,
        WeightScheme::LmulE4m3,
        WeightScheme::LmulE4m3Fixed,
    ];
    /// The model file's projection scheme.
    pub fn linear_scheme(self) -> LinearScheme {
        match self {
            WeightScheme::F32 => LinearScheme::F32,
            WeightScheme::Int8Dynamic => LinearScheme::Int8Dynamic,
            WeightScheme::LmulE4m3 => LinearScheme::LmulE4m3,
            WeightScheme::LmulE4m3Fixed => LinearScheme::LmulE4m3Fixed,
        }
    }
    /// CLI spelling.
    pub fn name(self) -> &'static str {
        self.linear_scheme().name()
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
    /// WeightScheme of [`OwnedLinear::view`].
    pub scheme: WeightScheme,
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
        scheme: WeightScheme,
    ) -> Self {
        assert_eq!(w.len(), rows * cols, "weight matrix size");
        let mut codes = Vec::new();
        let mut i8codes = Vec::new();
        let mut scale = Vec::new();
        if scheme != WeightScheme::F32 {
            for row in w.chunks_exact(cols.max(1)).take(rows) {
                let m = row.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
                let top = if scheme == WeightScheme::Int8Dynamic {
                    127.0
                } else {
                    E4M3_MAX
                };
                let s = if m > 0.0 { m / top } else { 1.0 };
                scale.push(s);
                for &x in row {
                    if scheme == WeightScheme::Int8Dynamic {
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
            WeightScheme::F32 => Weights::F32(&self.w),
            WeightScheme::Int8Dynamic => Weights::Int8 {
                q: &self.i8codes,
                scale: &self.scale,
            },
            WeightScheme::LmulE4m3 => Weights::LmulE4m3 {
                q: &self.codes,
                scale: &self.scale,
            },
            WeightScheme::LmulE4m3Fixed => Weights::LmulE4m3Fixed {
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

impl OwnedLinear {
    /// The projection as a model-file Dense layer (which always has a bias), or `None` without
    /// one.
    pub fn dense(&self) -> Option<LayerInfo<'_>> {
        let b = self.bias.as_deref()?;
        let layer = match self.view().weights {
            Weights::F32(w) => Layer::DenseF32 { w, b },
            Weights::Int8 { q, scale } => Layer::DenseInt8Dynamic { w: q, scale, b },
            Weights::LmulE4m3 { q, scale } => Layer::DenseLmulE4m3 { w: q, scale, b },
            Weights::LmulE4m3Fixed { q, scale } => Layer::DenseLmulE4m3Fixed { w: q, scale, b },
        };
        Some(LayerInfo {
            layer,
            in_len: self.cols,
            out_len: self.rows,
        })
    }
}
