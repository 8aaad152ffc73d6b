//! The recurrent BasicMotions classifier: a Lightning Attention-2 layer between a per-sample
//! input projection and a mean-pooled linear head ([`StreamClassifier`]). Trained on the host
//! with candle through the quadratic (parallel) form, evaluated token by token with `mote-core`
//! in every weight scheme, and exported as a `.mote` model file that the executor streams token by
//! token, on the host and on the firmware.

use anyhow::{Context, Result, anyhow, bail};
use candle_core::{Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use mote_core::check::XorShift32;
use mote_core::kernels::argmax;
use mote_core::model::{
    CellType, Layer, LayerInfo, Model, RecurrentConfig, RecurrentLayer, Workspace,
};
use mote_core::recurrent::{Dims, La2Memory, MemoryCell, StreamClassifier, alibi_decays};
use serde::Serialize;

use super::weights::{OwnedLinear, WeightScheme};
use crate::data::basicmotions::SeriesSet;
use crate::device::samples::samples_blob_of;
use crate::model::quantize::encode;

/// Model and training hyper-parameters.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TrainConfig {
    /// Width of the recurrent layer.
    pub d_model: usize,
    /// Heads.
    pub heads: usize,
    /// Key/value size per head.
    pub d_head: usize,
    /// Full-batch AdamW steps.
    pub epochs: usize,
    /// Learning rate.
    pub lr: f64,
    /// Seed of the weight initialisation.
    pub seed: u32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            d_model: 16,
            heads: 2,
            d_head: 8,
            epochs: 300,
            lr: 3e-2,
            seed: 1,
        }
    }
}

/// Trained `f32` weights; input standardisation is folded into the input projection.
#[derive(Clone, Debug)]
pub struct FloatModel {
    /// Sizes of the recurrent layer.
    pub dims: Dims,
    /// Input channels.
    pub channels: usize,
    /// Classes.
    pub classes: usize,
    /// `[w_in (d×C), b_in (d)]`, `wq, wk, wv (H·d_k×d)`, `wo (d×H·d_v)`, `[w_head (K×d), b_head]`.
    pub w_in: Vec<f32>,
    /// Input bias.
    pub b_in: Vec<f32>,
    /// Query projection.
    pub wq: Vec<f32>,
    /// Key projection.
    pub wk: Vec<f32>,
    /// Value projection.
    pub wv: Vec<f32>,
    /// Output projection.
    pub wo: Vec<f32>,
    /// Head weights.
    pub w_head: Vec<f32>,
    /// Head bias.
    pub b_head: Vec<f32>,
    /// Per-head decay `λ_h`.
    pub decay: Vec<f32>,
}

/// A model in one weight scheme, ready to lend to `mote-core`.
#[derive(Clone, Debug)]
pub struct OwnedModel {
    /// WeightScheme of every projection.
    pub scheme: WeightScheme,
    /// Sizes of the recurrent layer.
    pub dims: Dims,
    /// Input projection (with bias).
    pub input: OwnedLinear,
    /// Query projection.
    pub wq: OwnedLinear,
    /// Key projection.
    pub wk: OwnedLinear,
    /// Value projection.
    pub wv: OwnedLinear,
    /// Output projection.
    pub wo: OwnedLinear,
    /// Head (with bias).
    pub head: OwnedLinear,
    /// Per-head decay.
    pub decay: Vec<f32>,
}

/// The classifier type the firmware and the simulator run.
pub type La2Classifier<'a> = StreamClassifier<'a, MemoryCell<'a, La2Memory<'a>>>;

impl FloatModel {
    /// Quantizes every projection to `scheme` (the input projection and head included).
    pub fn to_scheme(&self, scheme: WeightScheme) -> OwnedModel {
        let d = self.dims;
        let l = |r, c, w: &Vec<f32>, b: Option<&Vec<f32>>| {
            OwnedLinear::new(r, c, w.clone(), b.cloned(), scheme)
        };
        OwnedModel {
            scheme,
            dims: d,
            input: l(d.d_model, self.channels, &self.w_in, Some(&self.b_in)),
            wq: l(d.qk(), d.d_model, &self.wq, None),
            wk: l(d.qk(), d.d_model, &self.wk, None),
            wv: l(d.vd(), d.d_model, &self.wv, None),
            wo: l(d.d_model, d.vd(), &self.wo, None),
            head: l(self.classes, d.d_model, &self.w_head, Some(&self.b_head)),
            decay: self.decay.clone(),
        }
    }
}

impl OwnedModel {
    /// The `mote-core` classifier over these weights.
    pub fn classifier(&self) -> Result<La2Classifier<'_>> {
        let mem = La2Memory {
            wk: self.wk.view(),
            wv: self.wv.view(),
            decay: &self.decay,
        };
        let cell = MemoryCell::new(self.dims, self.wq.view(), mem, self.wo.view())?;
        Ok(StreamClassifier::new(
            self.input.view(),
            cell,
            self.head.view(),
        )?)
    }

    /// Runs one series token by token; returns the logits and the FNV-1a digest of every
    /// token's cell output bits (what the firmware logs).
    pub fn run_series(&self, values: &[f32]) -> Result<(Vec<f32>, u32)> {
        let c = self.classifier()?;
        let n = c.inputs();
        if values.is_empty() || !values.len().is_multiple_of(n) {
            bail!(
                "series of {} values is not a whole number of {n}-channel samples",
                values.len()
            );
        }
        let mut state = vec![0.0; c.state_len()];
        let mut scratch = vec![0.0; c.scratch_len()];
        let mut qs = vec![0i8; c.qscratch_len()];
        let mut y = vec![0.0; self.dims.d_model];
        c.reset(&mut state)?;
        let mut digest = mote_core::check::Fnv1a::default();
        for x in values.chunks_exact(n) {
            c.step(x, &mut state, &mut scratch, &mut qs, &mut y)?;
            y.iter().for_each(|v| digest.word(v.to_bits()));
        }
        let mut logits = vec![0.0; c.classes()];
        c.logits(
            &state,
            (values.len() / n) as u32,
            &mut scratch,
            &mut qs,
            &mut logits,
        )?;
        Ok((logits, digest.0))
    }

    /// Token-by-token accuracy on `ds`.
    pub fn accuracy(&self, ds: &SeriesSet) -> Result<f64> {
        let mut correct = 0;
        for s in &ds.series {
            let (l, _) = self.run_series(&s.values)?;
            correct += usize::from(argmax(&l) == s.label);
        }
        Ok(correct as f64 / ds.series.len() as f64)
    }
}

pub(crate) fn uniform(rng: &mut XorShift32, n: usize, fan_in: usize) -> Vec<f32> {
    let a = 1.0 / (fan_in as f32).sqrt();
    (0..n).map(|_| (rng.next_f32() * 2.0 - 1.0) * a).collect()
}

/// Per-channel mean and standard deviation over every sample of `ds`.
pub(crate) fn channel_stats(ds: &SeriesSet) -> (Vec<f32>, Vec<f32>) {
    let c = ds.channels;
    let (mut sum, mut sq, mut n) = (vec![0f64; c], vec![0f64; c], 0f64);
    for s in &ds.series {
        for x in s.values.chunks_exact(c) {
            for i in 0..c {
                sum[i] += x[i] as f64;
                sq[i] += (x[i] as f64).powi(2);
            }
            n += 1.0;
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| ((q / n - m * m).max(1e-12)).sqrt() as f32)
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}

struct Net {
    w_in: Var,
    b_in: Var,
    wq: Var,
    wk: Var,
    wv: Var,
    wo: Var,
    w_head: Var,
    b_head: Var,
    mask: Tensor,
    dims: Dims,
}

impl Net {
    /// Logits for a batch `x` (`B × T × C`, standardised) through LA2's parallel form
    /// `O = ((Q Kᵀ) ⊙ M) V`, `M[t,s] = λ_h^{t−s}` for `t ≥ s`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let d = self.dims;
        let h = x
            .broadcast_matmul(&self.w_in.t()?)?
            .broadcast_add(&self.b_in)?;
        let heads = |w: &Var, size: usize| -> Result<Tensor> {
            Ok(candle_nn::ops::silu(&h.broadcast_matmul(&w.t()?)?)?
                .reshape((b, t, d.heads, size))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let (q, k, v) = (
            heads(&self.wq, d.d_k)?,
            heads(&self.wk, d.d_k)?,
            heads(&self.wv, d.d_v)?,
        );
        let a = q.matmul(&k.t()?)?.broadcast_mul(&self.mask)?;
        let o = a
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, d.vd()))?;
        let y = o.broadcast_matmul(&self.wo.t()?)?;
        let pooled = y.mean(1)?;
        Ok(pooled
            .broadcast_matmul(&self.w_head.t()?)?
            .broadcast_add(&self.b_head)?)
    }
}

fn decay_mask(decay: &[f32], t: usize) -> Result<Tensor> {
    let h = decay.len();
    let mut m = vec![0f32; h * t * t];
    for (hh, &l) in decay.iter().enumerate() {
        for i in 0..t {
            for j in 0..=i {
                m[hh * t * t + i * t + j] = (l as f64).powi((i - j) as i32) as f32;
            }
        }
    }
    Ok(Tensor::from_vec(m, (h, t, t), &Device::Cpu)?)
}

/// The series of `ds` as one `B × T × C` tensor, each channel standardised with `mean`, `std`,
/// and their labels.
pub(crate) fn batch(ds: &SeriesSet, mean: &[f32], std: &[f32]) -> Result<(Tensor, Tensor)> {
    let c = ds.channels;
    let mut xs = Vec::with_capacity(ds.series.len() * ds.length * c);
    for s in &ds.series {
        for x in s.values.chunks_exact(c) {
            xs.extend(x.iter().enumerate().map(|(i, v)| (v - mean[i]) / std[i]));
        }
    }
    let labels: Vec<u32> = ds.series.iter().map(|s| s.label as u32).collect();
    Ok((
        Tensor::from_vec(xs, (ds.series.len(), ds.length, c), &Device::Cpu)?,
        Tensor::from_vec(labels, ds.series.len(), &Device::Cpu)?,
    ))
}

/// Outcome of [`train`].
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    /// Final training cross-entropy.
    pub final_loss: f32,
    /// Training accuracy of the float (parallel-form) model.
    pub train_accuracy: f64,
    /// Test accuracy of the float (parallel-form) model.
    pub test_accuracy: f64,
}

/// Trains the classifier full-batch with AdamW; deterministic for a given seed. `progress` is
/// called after every step with the loss.
pub fn train(
    train_ds: &SeriesSet,
    test_ds: &SeriesSet,
    cfg: &TrainConfig,
    mut progress: impl FnMut(usize, f32),
) -> Result<(FloatModel, TrainReport)> {
    if train_ds.channels != test_ds.channels || train_ds.classes != test_ds.classes {
        bail!("train and test sets disagree on channels or classes");
    }
    let dims = Dims {
        d_model: cfg.d_model,
        heads: cfg.heads,
        d_k: cfg.d_head,
        d_v: cfg.d_head,
        math: mote_core::recurrent::Math::Libm,
    };
    let (c, k) = (train_ds.channels, train_ds.classes.len());
    let (mean, std) = channel_stats(train_ds);
    let mut decay = vec![0.0; dims.heads];
    alibi_decays(&mut decay);
    let mut rng = XorShift32(cfg.seed.max(1));
    let dev = Device::Cpu;
    let var = |v: Vec<f32>, shape: (usize, usize)| -> Result<Var> {
        Ok(Var::from_tensor(&Tensor::from_vec(v, shape, &dev)?)?)
    };
    let vec1 = |v: Vec<f32>| -> Result<Var> {
        Ok(Var::from_tensor(&Tensor::from_vec(
            v.clone(),
            v.len(),
            &dev,
        )?)?)
    };
    let d = dims.d_model;
    let net = Net {
        w_in: var(uniform(&mut rng, d * c, c), (d, c))?,
        b_in: vec1(vec![0.0; d])?,
        wq: var(uniform(&mut rng, dims.qk() * d, d), (dims.qk(), d))?,
        wk: var(uniform(&mut rng, dims.qk() * d, d), (dims.qk(), d))?,
        wv: var(uniform(&mut rng, dims.vd() * d, d), (dims.vd(), d))?,
        wo: var(uniform(&mut rng, d * dims.vd(), dims.vd()), (d, dims.vd()))?,
        w_head: var(uniform(&mut rng, k * d, d), (k, d))?,
        b_head: vec1(vec![0.0; k])?,
        mask: decay_mask(&decay, train_ds.length)?,
        dims,
    };
    let vars = vec![
        net.w_in.clone(),
        net.b_in.clone(),
        net.wq.clone(),
        net.wk.clone(),
        net.wv.clone(),
        net.wo.clone(),
        net.w_head.clone(),
        net.b_head.clone(),
    ];
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let (x, y) = batch(train_ds, &mean, &std)?;
    let mut final_loss = f32::NAN;
    for step in 0..cfg.epochs {
        let loss = candle_nn::loss::cross_entropy(&net.forward(&x)?, &y)?;
        opt.backward_step(&loss)?;
        final_loss = loss.to_scalar::<f32>()?;
        progress(step, final_loss);
    }
    let acc = |ds: &SeriesSet| -> Result<f64> {
        let (x, y) = batch(ds, &mean, &std)?;
        let pred = net.forward(&x)?.argmax(1)?.to_vec1::<u32>()?;
        let y = y.to_vec1::<u32>()?;
        Ok(pred.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / y.len() as f64)
    };
    let report = TrainReport {
        final_loss,
        train_accuracy: acc(train_ds)?,
        test_accuracy: acc(test_ds)?,
    };
    let flat = |v: &Var| -> Result<Vec<f32>> { Ok(v.as_tensor().flatten_all()?.to_vec1::<f32>()?) };
    // fold (x − μ)/σ into the input projection: W' = W/σ (per column), b' = b − W' μ
    let w = flat(&net.w_in)?;
    let mut w_in = vec![0.0; d * c];
    let mut b_in = flat(&net.b_in)?;
    for o in 0..d {
        for i in 0..c {
            w_in[o * c + i] = w[o * c + i] / std[i];
            b_in[o] -= w_in[o * c + i] * mean[i];
        }
    }
    let model = FloatModel {
        dims,
        channels: c,
        classes: k,
        w_in,
        b_in,
        wq: flat(&net.wq)?,
        wk: flat(&net.wk)?,
        wv: flat(&net.wv)?,
        wo: flat(&net.wo)?,
        w_head: flat(&net.w_head)?,
        b_head: flat(&net.b_head)?,
        decay,
    };
    Ok((model, report))
}

/// The classifier as a `.mote` model file (format 1.2), validated by parsing it back:
///
/// ```text
/// Dense (input projection, channel standardisation folded in)  C → d
/// Recurrent LA2 (wq, wo, wk, wv, decay)                        d → d
/// MeanPool                                                     d → d
/// Dense (head)                                                 d → classes
/// ```
///
/// Every projection is in the model's scheme; streaming it token by token
/// ([`stream_series`]) gives the class scores of the stream so far after each token.
pub fn to_mote(model: &OwnedModel) -> Result<Vec<u8>> {
    let d = model.dims;
    let lins = [
        model.wq.view(),
        model.wo.view(),
        model.wk.view(),
        model.wv.view(),
    ];
    let vecs = [&model.decay[..]];
    let cfg = RecurrentConfig {
        cell: CellType::La2,
        scheme: model.scheme.linear_scheme(),
        dims: d,
        routing: None,
        window: 0,
        rope: None,
    };
    let bias = "the input projection and the head have a bias";
    let layers = [
        model.input.dense().context(bias)?,
        LayerInfo {
            layer: Layer::Recurrent(RecurrentLayer::new(cfg, &lins, &vecs)),
            in_len: d.d_model,
            out_len: d.d_model,
        },
        LayerInfo {
            layer: Layer::MeanPool,
            in_len: d.d_model,
            out_len: d.d_model,
        },
        model.head.dense().context(bias)?,
    ];
    encode(&layers, model.input.cols)
}

/// Streams one series through a stateful model file with `mote-core`'s executor, token by token
/// from a reset state; returns the last token's output (the logits of the whole series) and the
/// FNV-1a digest of every token's output bits (what the firmware logs).
pub fn stream_series(m: &Model<'_>, values: &[f32]) -> Result<(Vec<f32>, u32)> {
    stream_tokens(m, values, |_, _| {})
}

/// [`stream_series`], also handing every token's output (its index and the logits after it)
/// to `each`.
pub fn stream_tokens(
    m: &Model<'_>,
    values: &[f32],
    mut each: impl FnMut(usize, &[f32]),
) -> Result<(Vec<f32>, u32)> {
    let n = m.input_len();
    if values.is_empty() || !values.len().is_multiple_of(n) {
        bail!(
            "series of {} values is not a whole number of {n}-channel samples",
            values.len()
        );
    }
    let ram = m.ram();
    let mut af = vec![0.0f32; ram.arena_f32];
    let mut aq = vec![0i8; ram.arena_i8];
    let mut state = vec![0.0f32; ram.state_f32];
    let mut ws = Workspace {
        arena_f32: &mut af,
        arena_i8: &mut aq,
        state: &mut state,
    };
    let mut y = vec![0.0f32; m.output_len()];
    let mut buf = vec![None; m.layer_count()];
    let layers = m.read_layers(&mut buf).map_err(|e| anyhow!("{e}"))?;
    layers.reset(&mut ws).map_err(|e| anyhow!("reset: {e}"))?;
    let mut digest = mote_core::check::Fnv1a::default();
    for (t, x) in values.chunks_exact(n).enumerate() {
        layers
            .step(x, &mut ws, &mut y)
            .map_err(|e| anyhow!("token {t}: {e}"))?;
        y.iter().for_each(|v| digest.word(v.to_bits()));
        each(t, &y);
    }
    Ok((y, digest.0))
}

/// Token-by-token accuracy of a model file on `ds`.
pub fn file_accuracy(m: &Model<'_>, ds: &SeriesSet) -> Result<f64> {
    let mut correct = 0;
    for s in &ds.series {
        let (l, _) = stream_series(m, &s.values)?;
        correct += usize::from(argmax(&l) == s.label);
    }
    Ok(correct as f64 / ds.series.len() as f64)
}

/// The windows of `ds` in the firmware's samples format (`quantize::samples_blob`): one sample
/// per window, `length × channels` values, time-major.
pub fn samples_blob(ds: &SeriesSet) -> Result<Vec<u8>> {
    let labels = ds
        .series
        .iter()
        .map(|s| u8::try_from(s.label).context("more than 256 classes"))
        .collect::<Result<Vec<u8>>>()?;
    let values: Vec<f32> = ds.series.iter().flat_map(|s| s.values.clone()).collect();
    samples_blob_of(ds.length * ds.channels, &values, &labels)
}
