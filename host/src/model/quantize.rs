//! From a trained MLP to a `.mote` model file: f32, L-Mul e4m3 or int8 (calibrated on data).

use anyhow::{Context, Result, bail};
use mote_core::kernels::QuantMultiplier;
use mote_core::lmul::Fp8E4M3;
use mote_core::model::{self, Layer, LayerInfo};
use serde::Serialize;

use crate::data::Dataset;
use crate::model::AlignedModel;
use crate::nn::Mlp;

/// Numeric scheme of the emitted model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// f32 weights and activations (reference).
    F32,
    /// int8 weights (per-channel symmetric) and activations (per-tensor, from calibration data),
    /// int32 accumulation, Q31 requantization (TFLite Micro / CMSIS-NN convention).
    Int8,
    /// fp8 e4m3 weights (per-channel scale) multiplied with L-Mul against f32 activations.
    LmulE4m3,
    /// fp8 e4m3 weights as `lmul-e4m3`, L-Mul against activations encoded once per layer call
    /// (shared exponent, 3-bit mantissas), products summed exactly in an integer accumulator
    /// (format 1.3; `docs/lmul-fixed.md`).
    LmulE4m3Fixed,
}

impl Scheme {
    /// All schemes.
    pub const ALL: [Scheme; 4] = [
        Scheme::F32,
        Scheme::Int8,
        Scheme::LmulE4m3,
        Scheme::LmulE4m3Fixed,
    ];
    /// CLI spelling.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::F32 => "f32",
            Scheme::Int8 => "int8",
            Scheme::LmulE4m3 => "lmul-e4m3",
            Scheme::LmulE4m3Fixed => "lmul-e4m3-fixed",
        }
    }
}

/// Asymmetric per-tensor int8 parameters covering `[min, max]` (extended to include 0, so zero is
/// exact, as TFLite requires).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActQuant {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
}

impl ActQuant {
    /// Parameters for the observed range.
    pub fn from_range(min: f32, max: f32) -> ActQuant {
        let (min, max) = (min.min(0.0), max.max(0.0));
        let span = max - min;
        if span <= 0.0 || !span.is_finite() {
            return ActQuant {
                scale: 1.0,
                zero_point: 0,
            };
        }
        let scale = span / 255.0;
        let zero_point = (-128.0 - min / scale).round().clamp(-128.0, 127.0) as i32;
        ActQuant { scale, zero_point }
    }
}

/// Runs the f32 MLP on calibration samples and records each layer's output range (after ReLU for
/// hidden layers, raw logits for the last) and the input range.
fn calibrate(mlp: &Mlp, calib: &Dataset) -> (ActQuant, Vec<ActQuant>) {
    let mut in_range = (f32::INFINITY, f32::NEG_INFINITY);
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); mlp.layers.len()];
    for i in 0..calib.n {
        let mut x = calib.row(i).to_vec();
        for v in &x {
            in_range = (in_range.0.min(*v), in_range.1.max(*v));
        }
        let last = mlp.layers.len() - 1;
        for (l, dense) in mlp.layers.iter().enumerate() {
            let mut y = vec![0.0f32; dense.out_dim];
            for (o, yo) in y.iter_mut().enumerate() {
                let acc: f32 = dense.row(o).iter().zip(&x).map(|(w, v)| w * v).sum();
                *yo = acc + dense.bias[o];
                if l < last {
                    *yo = yo.max(0.0);
                }
                ranges[l] = (ranges[l].0.min(*yo), ranges[l].1.max(*yo));
            }
            x = y;
        }
    }
    let q = ranges
        .iter()
        .map(|&(lo, hi)| ActQuant::from_range(lo, hi))
        .collect();
    (ActQuant::from_range(in_range.0, in_range.1), q)
}

/// Owned tensors of one quantized layer (the model-file writer borrows them).
enum QuantizedLayer {
    DenseF32 {
        w: Vec<f32>,
        b: Vec<f32>,
    },
    DenseE4m3 {
        w: Vec<u8>,
        scale: Vec<f32>,
        b: Vec<f32>,
        fixed: bool,
    },
    DenseInt8 {
        w: Vec<i8>,
        b: Vec<i32>,
        m: Vec<QuantMultiplier>,
        zp_in: i32,
        zp_out: i32,
        relu: bool,
    },
    Relu,
    Quantize(ActQuant),
    Dequantize(ActQuant),
}

impl QuantizedLayer {
    fn view(&self) -> Layer<'_> {
        match self {
            QuantizedLayer::DenseF32 { w, b } => Layer::DenseF32 { w, b },
            QuantizedLayer::DenseE4m3 {
                w,
                scale,
                b,
                fixed: false,
            } => Layer::DenseLmulE4m3 { w, scale, b },
            QuantizedLayer::DenseE4m3 {
                w,
                scale,
                b,
                fixed: true,
            } => Layer::DenseLmulE4m3Fixed { w, scale, b },
            QuantizedLayer::DenseInt8 {
                w,
                b,
                m,
                zp_in,
                zp_out,
                relu,
            } => Layer::DenseInt8 {
                w,
                b,
                m,
                input_zero_point: *zp_in,
                output_zero_point: *zp_out,
                relu: *relu,
            },
            QuantizedLayer::Relu => Layer::Relu,
            QuantizedLayer::Quantize(q) => Layer::Quantize {
                scale: q.scale,
                zero_point: q.zero_point,
            },
            QuantizedLayer::Dequantize(q) => Layer::Dequantize {
                scale: q.scale,
                zero_point: q.zero_point,
            },
        }
    }
}

/// Quantizes an MLP into model-file bytes (validated by parsing them back).
pub fn quantize(mlp: &Mlp, scheme: Scheme, calib: Option<&Dataset>) -> Result<Vec<u8>> {
    quantize_with(mlp, scheme, calib, &[])
}

/// [`quantize`] with `prefix` in front of the MLP's layers: the input scaling it was trained
/// with ([`InputScaling::layer`]), or a dictionary feature stage, so the file takes the inputs
/// the prefix takes. `calib` holds the MLP's own inputs (the prefix's outputs), as training saw
/// them.
pub fn quantize_with(
    mlp: &Mlp,
    scheme: Scheme,
    calib: Option<&Dataset>,
    prefix: &[LayerInfo<'_>],
) -> Result<Vec<u8>> {
    if let Some(last) = prefix.last()
        && last.out_len != mlp.in_dim()
    {
        bail!(
            "the model takes {} inputs, but the stage in front of it gives {}",
            mlp.in_dim(),
            last.out_len
        );
    }
    if mlp.layers.is_empty() {
        bail!("the model has no layers");
    }
    let last = mlp.layers.len() - 1;
    let mut owned: Vec<(QuantizedLayer, usize, usize)> = Vec::new();
    match scheme {
        Scheme::F32 | Scheme::LmulE4m3 | Scheme::LmulE4m3Fixed => {
            for (l, d) in mlp.layers.iter().enumerate() {
                let layer = if scheme == Scheme::F32 {
                    QuantizedLayer::DenseF32 {
                        w: d.weight.clone(),
                        b: d.bias.clone(),
                    }
                } else {
                    let mut w = Vec::with_capacity(d.weight.len());
                    let mut scale = Vec::with_capacity(d.out_dim);
                    for o in 0..d.out_dim {
                        let max = d.row(o).iter().fold(0.0f32, |m, v| m.max(v.abs()));
                        // Largest weight → 448 (largest e4m3), keeping small weights normal.
                        let s = if max > 0.0 { max / 448.0 } else { 1.0 };
                        w.extend(d.row(o).iter().map(|v| Fp8E4M3::from_f32(v / s).0));
                        scale.push(s);
                    }
                    QuantizedLayer::DenseE4m3 {
                        w,
                        scale,
                        b: d.bias.clone(),
                        fixed: scheme == Scheme::LmulE4m3Fixed,
                    }
                };
                owned.push((layer, d.in_dim, d.out_dim));
                if l < last {
                    owned.push((QuantizedLayer::Relu, d.out_dim, d.out_dim));
                }
            }
        }
        Scheme::Int8 => {
            let calib = calib.context("--scheme int8 needs calibration data (--calib NAME)")?;
            if calib.d != mlp.in_dim() {
                bail!(
                    "calibration data has {} features, the model expects {}",
                    calib.d,
                    mlp.in_dim()
                );
            }
            let (input, outs) = calibrate(mlp, calib);
            owned.push((QuantizedLayer::Quantize(input), mlp.in_dim(), mlp.in_dim()));
            let mut q_in = input;
            for (l, d) in mlp.layers.iter().enumerate() {
                let q_out = outs[l];
                let mut w = Vec::with_capacity(d.weight.len());
                let mut b = Vec::with_capacity(d.out_dim);
                let mut m = Vec::with_capacity(d.out_dim);
                for o in 0..d.out_dim {
                    let max = d.row(o).iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    let sw = if max > 0.0 { max as f64 / 127.0 } else { 1.0 };
                    w.extend(
                        d.row(o)
                            .iter()
                            .map(|&v| (v as f64 / sw).round().clamp(-127.0, 127.0) as i8),
                    );
                    let acc_scale = q_in.scale as f64 * sw;
                    let bias = (d.bias[o] as f64 / acc_scale).round();
                    b.push(bias.clamp(i32::MIN as f64, i32::MAX as f64) as i32);
                    m.push(QuantMultiplier::from_real(acc_scale / q_out.scale as f64));
                }
                owned.push((
                    QuantizedLayer::DenseInt8 {
                        w,
                        b,
                        m,
                        zp_in: q_in.zero_point,
                        zp_out: q_out.zero_point,
                        relu: l < last,
                    },
                    d.in_dim,
                    d.out_dim,
                ));
                q_in = q_out;
            }
            owned.push((
                QuantizedLayer::Dequantize(q_in),
                mlp.out_dim(),
                mlp.out_dim(),
            ));
        }
    }
    let infos: Vec<LayerInfo<'_>> = prefix
        .iter()
        .copied()
        .chain(owned.iter().map(|(o, i, n)| LayerInfo {
            layer: o.view(),
            in_len: *i,
            out_len: *n,
        }))
        .collect();
    let input_len = prefix.first().map_or(mlp.in_dim(), |l| l.in_len);
    encode(&infos, input_len)
}

/// Encodes layers into model-file bytes, validated by parsing them back.
pub fn encode(infos: &[LayerInfo<'_>], input_len: usize) -> Result<Vec<u8>> {
    let len = model::encoded_len(infos, input_len).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut bytes = vec![0u8; len];
    model::write(infos, input_len, &mut bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    AlignedModel::new(&bytes)
        .parse()
        .map_err(|e| anyhow::anyhow!("the written model does not parse: {e}"))?;
    Ok(bytes)
}
