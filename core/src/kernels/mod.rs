//! Kernels: dense layers in `f32`, L-Mul with fp8 e4m3 weights, and int8 with fixed-point
//! requantization. The executor and the recurrent cells call only these; host and firmware turn
//! the scores into a prediction with [`argmax`].
//!
//! The floating-point kernels accumulate **sequentially in index order** (starting from zero, bias
//! added last), so the host simulator and the firmware produce the same bits. The int8 matvec
//! ([`int8`]) has a scalar reference and per-architecture kernels (SMLAD on ARMv7E-M, a four-row
//! path on ARMv7-M); its sums are taken modulo 2³², so every order gives the reference's bits.
//! Kernels know nothing of the model file; they take slices and return [`ShapeError`] when the
//! lengths disagree.

use crate::lmul::lmul_f32;
use crate::shape::{ShapeError, check_len};

mod argmax;
pub mod int8;
pub mod lmul_fixed;
mod quant;

pub use argmax::argmax;
pub use lmul_fixed::dense as dense_lmul_e4m3_fixed;
pub use quant::{QuantMultiplier, quantize, requantize};

fn check_dense(
    rows: usize,
    cols: usize,
    w: usize,
    b: usize,
    x: usize,
    y: usize,
) -> Result<(), ShapeError> {
    check_len(x, cols)?;
    check_len(y, rows)?;
    check_len(b, rows)?;
    check_len(
        w,
        rows.checked_mul(cols).ok_or(ShapeError {
            expected: usize::MAX,
            found: w,
        })?,
    )
}

/// `y = W x + b` in `f32`; `w` row-major `[y.len(), x.len()]`.
pub fn dense_f32(w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) -> Result<(), ShapeError> {
    let (rows, cols) = (y.len(), x.len());
    check_dense(rows, cols, w.len(), b.len(), cols, rows)?;
    for (o, out) in y.iter_mut().enumerate() {
        let row = &w[o * cols..(o + 1) * cols];
        let mut acc = 0.0f32;
        for (wi, xi) in row.iter().zip(x) {
            acc += wi * xi;
        }
        *out = acc + b[o];
    }
    Ok(())
}

/// Decoding table of fp8 e4m3 (OCP FN) to `f32` bit patterns, built at compile time with integer
/// operations only. NaN decodes to the canonical `f32` NaN.
pub const E4M3_TO_F32_BITS: [u32; 256] = e4m3_table();

const fn e4m3_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let sign = ((i as u32) & 0x80) << 24;
        let e = ((i as u32) >> 3) & 0xF;
        let m = (i as u32) & 0x7;
        t[i] = if e == 0xF && m == 0x7 {
            0x7FC0_0000
        } else if e == 0 && m == 0 {
            sign
        } else if e == 0 {
            // subnormal: m · 2^-9, normalised to 1.f · 2^(p-9) with p the leading bit of m
            let p = if m >= 4 {
                2
            } else if m >= 2 {
                1
            } else {
                0
            };
            sign | ((p + 127 - 9) << 23) | ((m - (1 << p)) << (23 - p))
        } else {
            sign | ((e + 127 - 7) << 23) | (m << 20)
        };
        i += 1;
    }
    t
}

/// The exact `f32` value of an e4m3 pattern (table lookup).
#[inline]
pub fn e4m3_to_f32(bits: u8) -> f32 {
    f32::from_bits(E4M3_TO_F32_BITS[bits as usize])
}

/// `y = scale ⊙ (Q ⊛ x) + b` where `Q` holds fp8 e4m3 weights (row-major `[y.len(), x.len()]`),
/// `⊛` is a matvec whose products are L-Mul in fp32 (each weight widened exactly to `f32`,
/// SPEC §0.1 rule 5) accumulated sequentially, and `scale` is the per-output-channel scale.
pub fn dense_lmul_e4m3(
    q: &[u8],
    scale: &[f32],
    b: &[f32],
    x: &[f32],
    y: &mut [f32],
) -> Result<(), ShapeError> {
    let (rows, cols) = (y.len(), x.len());
    check_dense(rows, cols, q.len(), b.len(), cols, rows)?;
    check_len(scale.len(), rows)?;
    for (o, out) in y.iter_mut().enumerate() {
        let row = &q[o * cols..(o + 1) * cols];
        let mut acc = 0.0f32;
        for (&wi, &xi) in row.iter().zip(x) {
            acc += lmul_f32(e4m3_to_f32(wi), xi);
        }
        *out = acc * scale[o] + b[o];
    }
    Ok(())
}

/// Parameters of a fully integer int8 dense layer (TFLite Micro / CMSIS-NN convention):
/// symmetric per-output-channel int8 weights, asymmetric per-tensor int8 activations, int32 bias
/// in the accumulator's scale, and one fixed-point multiplier per output channel.
#[derive(Clone, Copy, Debug)]
pub struct Int8Dense<'a> {
    /// Weights, row-major `[rows, cols]`.
    pub weights: &'a [i8],
    /// Bias per output channel, scale `s_x · s_w[o]`.
    pub bias: &'a [i32],
    /// Requantization multiplier per output channel, `s_x · s_w[o] / s_y`.
    pub multipliers: &'a [QuantMultiplier],
    /// Zero point of the input activations.
    pub input_zero_point: i32,
    /// Zero point of the output activations.
    pub output_zero_point: i32,
    /// Clamp the output at the zero point (fused ReLU).
    pub relu: bool,
}

impl Int8Dense<'_> {
    /// `y = clamp(zp_y + requant(Σ w·(x − zp_x) + bias))`, accumulation in `i32`.
    pub fn run(&self, x: &[i8], y: &mut [i8]) -> Result<(), ShapeError> {
        let (rows, cols) = (y.len(), x.len());
        check_dense(rows, cols, self.weights.len(), self.bias.len(), cols, rows)?;
        check_len(self.multipliers.len(), rows)?;
        let lo = if self.relu {
            self.output_zero_point.max(-128)
        } else {
            -128
        };
        let (bias, mult, zp_y) = (self.bias, self.multipliers, self.output_zero_point);
        int8::matvec(self.weights, rows, x, self.input_zero_point, |o, acc| {
            let acc = acc.wrapping_add(bias[o]);
            let v = requantize(acc, mult[o]).saturating_add(zp_y);
            y[o] = v.max(lo).min(127) as i8;
        })
    }

    /// [`Int8Dense::run`] on the scalar reference matvec ([`int8::matvec_reference`]): the
    /// definition the per-architecture kernels are checked against.
    pub fn run_reference(&self, x: &[i8], y: &mut [i8]) -> Result<(), ShapeError> {
        let (rows, cols) = (y.len(), x.len());
        check_dense(rows, cols, self.weights.len(), self.bias.len(), cols, rows)?;
        check_len(self.multipliers.len(), rows)?;
        let lo = if self.relu {
            self.output_zero_point.max(-128)
        } else {
            -128
        };
        let (bias, mult, zp_y) = (self.bias, self.multipliers, self.output_zero_point);
        int8::matvec_reference(self.weights, rows, x, self.input_zero_point, |o, acc| {
            let acc = acc.wrapping_add(bias[o]);
            let v = requantize(acc, mult[o]).saturating_add(zp_y);
            y[o] = v.max(lo).min(127) as i8;
        })
    }
}

/// Symmetric per-tensor int8 quantization of an `f32` vector at run time ("dynamic" int8, as in
/// ONNX Runtime's dynamic quantization): `q = round(x / s)`, `s = max|x| / 127`. Returns `s`
/// (0 when `x` is all zeros, in which case `q` is all zeros).
pub fn quantize_dynamic(x: &[f32], q: &mut [i8]) -> Result<f32, ShapeError> {
    check_len(q.len(), x.len())?;
    let mut max = 0.0f32;
    for &v in x {
        let a = libm::fabsf(v);
        if a > max {
            max = a;
        }
    }
    if max == 0.0 || !max.is_finite() {
        q.fill(0);
        return Ok(0.0);
    }
    let s = max / 127.0;
    for (qi, &v) in q.iter_mut().zip(x) {
        *qi = libm::roundf(v / s).clamp(-127.0, 127.0) as i8;
    }
    Ok(s)
}

/// Weight storage of an `f32`-activation linear map, by numeric scheme.
#[derive(Clone, Copy, Debug)]
pub enum Weights<'a> {
    /// Plain `f32`, row-major.
    F32(&'a [f32]),
    /// Symmetric int8 with per-row scales; activations are quantized per call
    /// ([`quantize_dynamic`]), products accumulate in `i32`.
    Int8 {
        /// Quantized weights, row-major.
        q: &'a [i8],
        /// Per-row scale.
        scale: &'a [f32],
    },
    /// fp8 e4m3 with per-row scales, multiplied by L-Mul ([`dense_lmul_e4m3`]).
    LmulE4m3 {
        /// e4m3 patterns, row-major.
        q: &'a [u8],
        /// Per-row scale.
        scale: &'a [f32],
    },
    /// fp8 e4m3 with per-row scales, L-Mul against activation codes with fixed-point
    /// accumulation ([`lmul_fixed`]); the codes live in the int8 scratch.
    LmulE4m3Fixed {
        /// e4m3 patterns, row-major.
        q: &'a [u8],
        /// Per-row scale.
        scale: &'a [f32],
    },
}

/// A linear map `y = W x + b` on `f32` activations whose weights are borrowed (e.g. from model
/// bytes in flash) in any numeric scheme. Used by recurrent cells and feature stages.
#[derive(Clone, Copy, Debug)]
pub struct Linear<'a> {
    /// Output size.
    pub rows: usize,
    /// Input size.
    pub cols: usize,
    /// Weights.
    pub weights: Weights<'a>,
    /// Bias (length `rows`), or none.
    pub bias: Option<&'a [f32]>,
}

impl Linear<'_> {
    /// `y = W x + b`. `scratch` must hold `cols` bytes for the int8 and fixed-point L-Mul
    /// schemes (unused otherwise).
    pub fn forward(&self, x: &[f32], y: &mut [f32], scratch: &mut [i8]) -> Result<(), ShapeError> {
        check_len(x.len(), self.cols)?;
        check_len(y.len(), self.rows)?;
        let cols = self.cols;
        let bias = |o: usize| self.bias.map_or(0.0, |b| b[o]);
        if let Some(b) = self.bias {
            check_len(b.len(), self.rows)?;
        }
        match self.weights {
            Weights::F32(w) => {
                check_len(w.len(), self.rows * cols)?;
                for (o, out) in y.iter_mut().enumerate() {
                    let mut acc = 0.0f32;
                    for (wi, xi) in w[o * cols..(o + 1) * cols].iter().zip(x) {
                        acc += wi * xi;
                    }
                    *out = acc + bias(o);
                }
            }
            Weights::Int8 { q, scale } => {
                check_len(q.len(), self.rows * cols)?;
                check_len(scale.len(), self.rows)?;
                if scratch.len() < cols {
                    return Err(ShapeError {
                        expected: cols,
                        found: scratch.len(),
                    });
                }
                let xq = &mut scratch[..cols];
                let sx = quantize_dynamic(x, xq)?;
                int8::matvec(q, self.rows, xq, 0, |o, acc| {
                    y[o] = acc as f32 * (sx * scale[o]) + bias(o);
                })?;
            }
            Weights::LmulE4m3 { q, scale } => {
                check_len(q.len(), self.rows * cols)?;
                check_len(scale.len(), self.rows)?;
                for (o, out) in y.iter_mut().enumerate() {
                    let mut acc = 0.0f32;
                    for (&wi, &xi) in q[o * cols..(o + 1) * cols].iter().zip(x) {
                        acc += lmul_f32(e4m3_to_f32(wi), xi);
                    }
                    *out = acc * scale[o] + bias(o);
                }
            }
            Weights::LmulE4m3Fixed { q, scale } => {
                lmul_fixed::dense(q, scale, self.bias, x, y, scratch)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
