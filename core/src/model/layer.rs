//! Typed views of a validated model's layers: [`Layer`] borrows its tensors from the file's
//! bytes in place, [`LayerInfo`] adds its sizes.

use super::{LinearScheme, RecurrentLayer};
use crate::kernels::QuantMultiplier;

/// The activation domain between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// f32 activations.
    F32,
    /// int8 activations.
    I8,
}

/// A validated layer, borrowing its tensors from the model bytes.
#[derive(Clone, Copy, Debug)]
pub enum Layer<'a> {
    /// f32 Dense.
    DenseF32 {
        /// Weights `[out, in]`.
        w: &'a [f32],
        /// Bias `[out]`.
        b: &'a [f32],
    },
    /// L-Mul Dense with fp8 e4m3 weights.
    DenseLmulE4m3 {
        /// e4m3 patterns `[out, in]`.
        w: &'a [u8],
        /// Per-output scale.
        scale: &'a [f32],
        /// Bias `[out]`.
        b: &'a [f32],
    },
    /// L-Mul Dense with fp8 e4m3 weights and fixed-point accumulation (format 1.3,
    /// [`crate::kernels::lmul_fixed`]); tensors as [`Layer::DenseLmulE4m3`].
    DenseLmulE4m3Fixed {
        /// e4m3 patterns `[out, in]`.
        w: &'a [u8],
        /// Per-output scale.
        scale: &'a [f32],
        /// Bias `[out]`.
        b: &'a [f32],
    },
    /// int8 Dense.
    DenseInt8 {
        /// Weights `[out, in]`.
        w: &'a [i8],
        /// Bias `[out]` in accumulator scale.
        b: &'a [i32],
        /// Requantization multipliers `[out]`.
        m: &'a [QuantMultiplier],
        /// Input zero point.
        input_zero_point: i32,
        /// Output zero point.
        output_zero_point: i32,
        /// Fused ReLU.
        relu: bool,
    },
    /// f32 ReLU.
    Relu,
    /// f32 → int8.
    Quantize {
        /// Scale.
        scale: f32,
        /// Zero point.
        zero_point: i32,
    },
    /// int8 → f32.
    Dequantize {
        /// Scale.
        scale: f32,
        /// Zero point.
        zero_point: i32,
    },
    /// Dense with int8 weights against f32 activations quantized per call (format 1.2): the
    /// projections of [`crate::kernels::Linear`] with [`crate::kernels::Weights::Int8`].
    DenseInt8Dynamic {
        /// int8 weights `[out, in]`.
        w: &'a [i8],
        /// Per-output weight scale.
        scale: &'a [f32],
        /// Bias `[out]`.
        b: &'a [f32],
    },
    /// A constant-memory recurrent cell, f32 `d_model` → `d_model` per token (format 1.2).
    Recurrent(RecurrentLayer<'a>),
    /// Running mean of the inputs since the stream started (format 1.2): `y = Σ_t x_t / n`.
    MeanPool,
    /// Per-channel min–max scaling (format 1.3): the input is `channels` runs of `channel_len`
    /// values (channel-major), and value `i` of channel `c` becomes
    /// `clamp((x − min[c]) / (max[c] − min[c]), 0, 1)`, or 0 where `max[c] = min[c]` (a channel
    /// that was constant in training). What `mote train` applied to a data file's inputs, so the
    /// device takes the sensor's own units.
    MinMaxScale {
        /// Per channel, the smallest training value.
        min: &'a [f32],
        /// Per channel, the largest training value (≥ `min`).
        max: &'a [f32],
        /// Values per channel (`in_len = channels · channel_len`).
        channel_len: usize,
    },
    /// Opens a residual branch (format 1.4): passes the activation on and keeps a copy in its
    /// state slot for the next [`Layer::ResidualAdd`] (branches do not nest).
    ResidualSave,
    /// Closes the open residual branch: adds the copy kept by its [`Layer::ResidualSave`].
    ResidualAdd,
    /// RMS normalisation (format 1.4): `y_i = x_i / sqrt(Σx²/n + eps) · gain_i`.
    RmsNorm {
        /// Per-value gain `[n]`.
        gain: &'a [f32],
        /// Added to the mean square (finite, > 0).
        eps: f32,
    },
    /// Orthogonal dictionary feature stage on an f32 window of `n = in_len ≤ 64` samples
    /// (format 1.1).
    OrthoDict {
        /// Atoms `[n, n]` row-major (rows are atoms; orthogonal to 1e-3 at parse time).
        atoms: &'a [f32],
        /// What the stage outputs.
        mode: DictMode,
        /// Coefficients kept (0 for [`DictMode::Encode`], else `1..=n`).
        k: usize,
    },
}

/// Output of an [`Layer::OrthoDict`] stage (`format::dict_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DictMode {
    /// The code `A x`.
    Encode,
    /// The top-k code.
    TopK,
    /// The top-k reconstruction.
    Denoise,
    /// The top-k reconstruction's RMS error (one value).
    Anomaly,
}

/// Largest orthogonality defect `max |A Aᵀ − I|` the parser accepts for dictionary atoms: f32
/// polar factors of learned dictionaries are orthogonal to ~1e-5; 1e-3 still keeps the code's
/// energy within 0.2 % of the window's.
pub const DICT_ORTHOGONALITY_TOL: f32 = 1e-3;

impl Layer<'_> {
    /// Domain of the layer's input and output.
    pub fn domains(&self) -> (Domain, Domain) {
        match self {
            Layer::DenseF32 { .. }
            | Layer::DenseLmulE4m3 { .. }
            | Layer::DenseLmulE4m3Fixed { .. }
            | Layer::DenseInt8Dynamic { .. }
            | Layer::Recurrent(_)
            | Layer::MeanPool
            | Layer::Relu
            | Layer::MinMaxScale { .. }
            | Layer::ResidualSave
            | Layer::ResidualAdd
            | Layer::RmsNorm { .. }
            | Layer::OrthoDict { .. } => (Domain::F32, Domain::F32),
            Layer::DenseInt8 { .. } => (Domain::I8, Domain::I8),
            Layer::Quantize { .. } => (Domain::F32, Domain::I8),
            Layer::Dequantize { .. } => (Domain::I8, Domain::F32),
        }
    }
    /// A short name for listings.
    pub fn name(&self) -> &'static str {
        match self {
            Layer::DenseF32 { .. } => "dense f32",
            Layer::DenseLmulE4m3 { .. } => "dense lmul-e4m3",
            Layer::DenseLmulE4m3Fixed { .. } => "dense lmul-e4m3-fixed",
            Layer::DenseInt8 { .. } => "dense int8",
            Layer::DenseInt8Dynamic { .. } => "dense int8-dynamic",
            Layer::Recurrent(r) => match r.config().scheme {
                LinearScheme::F32 => "recurrent f32",
                LinearScheme::Int8Dynamic => "recurrent int8-dyn",
                LinearScheme::LmulE4m3 => "recurrent lmul-e4m3",
                LinearScheme::LmulE4m3Fixed => "recurrent lmul-fixed",
            },
            Layer::MeanPool => "mean-pool",
            Layer::Relu => "relu",
            Layer::MinMaxScale { .. } => "min-max scale",
            Layer::ResidualSave => "residual save",
            Layer::ResidualAdd => "residual add",
            Layer::RmsNorm { .. } => "rms-norm",
            Layer::Quantize { .. } => "quantize",
            Layer::Dequantize { .. } => "dequantize",
            Layer::OrthoDict { .. } => "ortho-dict",
        }
    }
    /// Bytes of weight data the layer reads from flash.
    pub fn weight_bytes(&self) -> usize {
        match self {
            Layer::DenseF32 { w, b } => 4 * (w.len() + b.len()),
            Layer::DenseLmulE4m3 { w, scale, b } | Layer::DenseLmulE4m3Fixed { w, scale, b } => {
                w.len() + 4 * (scale.len() + b.len())
            }
            Layer::DenseInt8 { w, b, m, .. } => w.len() + 4 * b.len() + 8 * m.len(),
            Layer::DenseInt8Dynamic { w, scale, b } => w.len() + 4 * (scale.len() + b.len()),
            Layer::Recurrent(r) => r.weight_bytes(),
            Layer::OrthoDict { atoms, .. } => 4 * atoms.len(),
            Layer::MinMaxScale { min, max, .. } => 4 * (min.len() + max.len()),
            Layer::RmsNorm { gain, .. } => 4 * gain.len(),
            Layer::Relu
            | Layer::Quantize { .. }
            | Layer::Dequantize { .. }
            | Layer::MeanPool
            | Layer::ResidualSave
            | Layer::ResidualAdd => 0,
        }
    }
    /// Whether the layer keeps state between tokens.
    pub fn is_stateful(&self) -> bool {
        matches!(self, Layer::Recurrent(_) | Layer::MeanPool)
    }
}

/// A layer with its sizes.
#[derive(Clone, Copy, Debug)]
pub struct LayerInfo<'a> {
    /// The layer.
    pub layer: Layer<'a>,
    /// Input length.
    pub in_len: usize,
    /// Output length.
    pub out_len: usize,
}
