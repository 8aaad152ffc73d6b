//! `mote quantize`, `mote inspect`, `mote run`: from a trained MLP to a `.mote` model file, and the
//! host simulator — which is `mote-core`'s executor itself, so its outputs are the device's.

use std::path::Path;

use anyhow::{Context, Result, bail};
use mote_core::kernels::QuantMultiplier;
use mote_core::lmul::Fp8E4M3;
use mote_core::model::{self, Layer, LayerInfo, Model, RecurrentConfig, Workspace};
use serde::Serialize;

use crate::data::Dataset;
use crate::mlp::Mlp;

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
}

impl Scheme {
    /// All schemes.
    pub const ALL: [Scheme; 3] = [Scheme::F32, Scheme::Int8, Scheme::LmulE4m3];
    /// CLI spelling.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::F32 => "f32",
            Scheme::Int8 => "int8",
            Scheme::LmulE4m3 => "lmul-e4m3",
        }
    }
}

/// A model file's bytes at a 16-byte aligned address, as `mote-core` reads them in place.
/// (Safe code: a slightly larger buffer, with the model copied to its first aligned offset.)
pub struct AlignedModel {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedModel {
    /// Copies `bytes` to an aligned position.
    pub fn new(bytes: &[u8]) -> AlignedModel {
        let mut buf = vec![0u8; bytes.len() + 16];
        let start = (16 - buf.as_ptr() as usize % 16) % 16;
        buf[start..start + bytes.len()].copy_from_slice(bytes);
        AlignedModel {
            buf,
            start,
            len: bytes.len(),
        }
    }
    /// Reads a file.
    pub fn read(path: &Path) -> Result<AlignedModel> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(AlignedModel::new(&bytes))
    }
    /// The aligned bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
    /// Parses them.
    pub fn parse(&self) -> Result<Model<'_>, model::ParseError> {
        Model::parse(self.bytes())
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
enum Owned {
    DenseF32 {
        w: Vec<f32>,
        b: Vec<f32>,
    },
    DenseE4m3 {
        w: Vec<u8>,
        scale: Vec<f32>,
        b: Vec<f32>,
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

impl Owned {
    fn view(&self) -> Layer<'_> {
        match self {
            Owned::DenseF32 { w, b } => Layer::DenseF32 { w, b },
            Owned::DenseE4m3 { w, scale, b } => Layer::DenseLmulE4m3 { w, scale, b },
            Owned::DenseInt8 {
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
            Owned::Relu => Layer::Relu,
            Owned::Quantize(q) => Layer::Quantize {
                scale: q.scale,
                zero_point: q.zero_point,
            },
            Owned::Dequantize(q) => Layer::Dequantize {
                scale: q.scale,
                zero_point: q.zero_point,
            },
        }
    }
}

/// Quantizes an MLP into model-file bytes (validated by parsing them back).
pub fn quantize(mlp: &Mlp, scheme: Scheme, calib: Option<&Dataset>) -> Result<Vec<u8>> {
    if mlp.layers.is_empty() {
        bail!("the model has no layers");
    }
    let last = mlp.layers.len() - 1;
    let mut owned: Vec<(Owned, usize, usize)> = Vec::new();
    match scheme {
        Scheme::F32 | Scheme::LmulE4m3 => {
            for (l, d) in mlp.layers.iter().enumerate() {
                let layer = if scheme == Scheme::F32 {
                    Owned::DenseF32 {
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
                    Owned::DenseE4m3 {
                        w,
                        scale,
                        b: d.bias.clone(),
                    }
                };
                owned.push((layer, d.in_dim, d.out_dim));
                if l < last {
                    owned.push((Owned::Relu, d.out_dim, d.out_dim));
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
            owned.push((Owned::Quantize(input), mlp.in_dim(), mlp.in_dim()));
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
                    Owned::DenseInt8 {
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
            owned.push((Owned::Dequantize(q_in), mlp.out_dim(), mlp.out_dim()));
        }
    }
    let infos: Vec<LayerInfo<'_>> = owned
        .iter()
        .map(|(o, i, n)| LayerInfo {
            layer: o.view(),
            in_len: *i,
            out_len: *n,
        })
        .collect();
    encode(&infos, mlp.in_dim())
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

/// One row of `mote inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct LayerRow {
    /// Layer index.
    pub index: usize,
    /// Kind and scheme.
    pub layer: &'static str,
    /// Input length.
    pub in_len: usize,
    /// Output length.
    pub out_len: usize,
    /// Weight bytes in flash.
    pub weight_bytes: usize,
    /// State the layer keeps between tokens (recurrent cells, mean pools), in bytes.
    pub state_bytes: usize,
    /// The cell of a recurrent layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrent: Option<RecurrentRow>,
}

/// The configuration of a recurrent layer in `mote inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct RecurrentRow {
    /// Cell type.
    pub cell: &'static str,
    /// Projection scheme.
    pub scheme: &'static str,
    /// Width.
    pub d_model: usize,
    /// Heads.
    pub heads: usize,
    /// Key size per head.
    pub d_k: usize,
    /// Value size per head.
    pub d_v: usize,
    /// MoM: routed memories, memories per token, shared memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memories: Option<(usize, usize, bool)>,
    /// Attention window (SWA, Liger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// RoPE base (SWA, Liger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rope_base: Option<f32>,
}

impl RecurrentRow {
    fn of(c: &RecurrentConfig) -> RecurrentRow {
        RecurrentRow {
            cell: c.cell.name(),
            scheme: c.scheme.name(),
            d_model: c.dims.d_model,
            heads: c.dims.heads,
            d_k: c.dims.d_k,
            d_v: c.dims.d_v,
            memories: c.routing.map(|r| (r.memories, r.top_k, r.shared)),
            window: c.cell.is_attention().then_some(c.window),
            rope_base: c.rope.map(|r| r.base),
        }
    }
    fn render(&self) -> String {
        let mut s = format!(
            "{} ({}), d {}, {} heads × d_k {} / d_v {}",
            self.cell, self.scheme, self.d_model, self.heads, self.d_k, self.d_v
        );
        if let Some((m, k, shared)) = self.memories {
            s += &format!(
                ", {m} memories top-{k}{}",
                if shared { " + shared" } else { "" }
            );
        }
        if let Some(w) = self.window {
            s += &format!(", window {w}");
        }
        if let Some(b) = self.rope_base {
            s += &format!(", RoPE base {b}");
        }
        s
    }
}

/// `mote inspect` output.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    /// Format version.
    pub version: String,
    /// Layers.
    pub layers: Vec<LayerRow>,
    /// Input length.
    pub input_len: usize,
    /// Output length.
    pub output_len: usize,
    /// File size = flash bytes.
    pub flash_bytes: usize,
    /// f32 arena elements.
    pub arena_f32: usize,
    /// int8 arena elements.
    pub arena_i8: usize,
    /// Recurrent state elements.
    pub state_f32: usize,
    /// RAM bytes besides input and output.
    pub ram_bytes: usize,
}

/// Describes a parsed model.
pub fn inspect(m: &Model<'_>) -> Result<Inspection> {
    let mut layers = Vec::new();
    for i in 0..m.layer_count() {
        let info = m.layer(i).map_err(|e| anyhow::anyhow!("{e}"))?;
        let ram = info.ram().map_err(|e| anyhow::anyhow!("{e}"))?;
        layers.push(LayerRow {
            index: i,
            layer: info.layer.name(),
            in_len: info.in_len,
            out_len: info.out_len,
            weight_bytes: info.layer.weight_bytes(),
            state_bytes: 4 * ram.state,
            recurrent: match info.layer {
                Layer::Recurrent(r) => Some(RecurrentRow::of(r.config())),
                _ => None,
            },
        });
    }
    let (major, minor) = m.version();
    let ram = m.ram();
    Ok(Inspection {
        version: format!("{major}.{minor}"),
        layers,
        input_len: m.input_len(),
        output_len: m.output_len(),
        flash_bytes: m.flash_bytes(),
        arena_f32: ram.arena_f32,
        arena_i8: ram.arena_i8,
        state_f32: ram.state_f32,
        ram_bytes: ram.bytes(),
    })
}

/// Renders an inspection as text.
pub fn render_inspection(x: &Inspection) -> String {
    let mut s = format!("mote model file v{}\n", x.version);
    s += &format!(
        "{:>3}  {:<20} {:>7} {:>7} {:>12} {:>11}\n",
        "#", "layer", "in", "out", "weight bytes", "state bytes"
    );
    for l in &x.layers {
        s += &format!(
            "{:>3}  {:<20} {:>7} {:>7} {:>12} {:>11}\n",
            l.index, l.layer, l.in_len, l.out_len, l.weight_bytes, l.state_bytes
        );
        if let Some(r) = &l.recurrent {
            s += &format!("     {}\n", r.render());
        }
    }
    s += &format!(
        "flash: {} bytes   RAM: {} bytes (f32 arena {} × 4, int8 arena {}, state {} × 4)\n",
        x.flash_bytes, x.ram_bytes, x.arena_f32, x.arena_i8, x.state_f32
    );
    s
}

/// One sample's result in the simulator.
#[derive(Clone, Debug, Serialize)]
pub struct SampleOutput {
    /// Sample index.
    pub index: usize,
    /// True label.
    pub label: u8,
    /// Predicted class (first maximum).
    pub pred: usize,
    /// Output vector.
    pub output: Vec<f32>,
}

/// `mote run` result.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// Samples run.
    pub samples: usize,
    /// Fraction predicted correctly.
    pub accuracy: f64,
    /// Per-sample outputs.
    pub outputs: Vec<SampleOutput>,
}

/// Index of the first maximum (the firmware uses the same rule).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (k, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = k;
        }
    }
    best
}

/// Runs a parsed model on every sample of `data` with `mote-core`'s executor.
pub fn simulate(m: &Model<'_>, data: &Dataset) -> Result<RunReport> {
    if m.is_stateful() {
        bail!(
            "the model keeps state between tokens (recurrent or mean-pool layers): it consumes \
             streams token by token (Model::reset / Model::step), not independent samples"
        );
    }
    if data.d != m.input_len() {
        bail!(
            "the data has {} features per sample, the model expects {}",
            data.d,
            m.input_len()
        );
    }
    let ram = m.ram();
    let mut af = vec![0.0f32; ram.arena_f32];
    let mut aq = vec![0i8; ram.arena_i8];
    let mut outputs = Vec::with_capacity(data.n);
    let mut correct = 0;
    for i in 0..data.n {
        let mut y = vec![0.0f32; m.output_len()];
        let mut ws = Workspace {
            arena_f32: &mut af,
            arena_i8: &mut aq,
            state: &mut [],
        };
        m.run(data.row(i), &mut ws, &mut y)
            .map_err(|e| anyhow::anyhow!("sample {i}: {e}"))?;
        let pred = argmax(&y);
        if pred == data.labels[i] as usize {
            correct += 1;
        }
        outputs.push(SampleOutput {
            index: i,
            label: data.labels[i],
            pred,
            output: y,
        });
    }
    Ok(RunReport {
        samples: data.n,
        accuracy: correct as f64 / data.n.max(1) as f64,
        outputs,
    })
}

/// Writes samples in the firmware's blob format: `b"MSMP"`, u32 n, u32 d, n·d f32, n u8 labels.
pub fn samples_blob(data: &Dataset) -> Vec<u8> {
    samples_blob_of(data.d, &data.features, &data.labels)
}

/// [`samples_blob`] of `labels.len()` samples of `d` values each, row-major in `features`.
pub fn samples_blob_of(d: usize, features: &[f32], labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(12 + features.len() * 4 + labels.len());
    b.extend_from_slice(b"MSMP");
    b.extend_from_slice(&(labels.len() as u32).to_le_bytes());
    b.extend_from_slice(&(d as u32).to_le_bytes());
    for v in features {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(labels);
    b
}
