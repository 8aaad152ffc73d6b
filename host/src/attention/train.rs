//! Training the softmax-attention classifier from scratch, and its float accuracy.

use anyhow::{Result, bail, ensure};
use candle_core::Tensor;
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use mote_core::check::XorShift32;
use mote_core::recurrent::Dims;
use serde::Serialize;

use super::model::{AttentionModel, Block, DEFAULT_RMS_EPS, MAX_BLOCKS, PreNorm};
use super::net::{Mixer, Net};
use crate::data::basicmotions::SeriesSet;
use crate::recurrent::classifier::{batch, channel_stats, uniform};

/// Architecture and training hyper-parameters of [`train`].
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AttentionConfig {
    /// Width `d` of the token vectors.
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Query/key and value size per head.
    pub d_head: usize,
    /// Attention blocks (1 to 4).
    pub blocks: usize,
    /// MLP width `F` of pre-norm residual blocks (Llama-style: RMS norms, residual adds, a
    /// ReLU MLP after the attention, a final norm); 0 = attention-only blocks.
    pub ffn: usize,
    /// RoPE base.
    pub rope_theta: f32,
    /// Pooling before the head.
    pub pool: super::model::Pool,
    /// Full-batch AdamW steps.
    pub epochs: usize,
    /// Learning rate.
    pub lr: f64,
    /// Seed of the weight initialisation.
    pub seed: u32,
    /// The token mixer trained through: softmax attention (the family's own), or a linearized
    /// mixer trained from scratch (the native recurrent baseline of the same architecture).
    pub mixer: Mixer,
}

impl Default for AttentionConfig {
    fn default() -> Self {
        AttentionConfig {
            d_model: 16,
            heads: 2,
            d_head: 8,
            blocks: 1,
            ffn: 0,
            rope_theta: 10_000.0,
            pool: super::model::Pool::Mean,
            epochs: 300,
            lr: 1e-2,
            seed: 1,
            mixer: Mixer::Softmax { window: None },
        }
    }
}

/// Outcome of a training or fine-tuning run.
#[derive(Clone, Debug, Serialize)]
pub struct FitReport {
    /// Final training cross-entropy.
    pub final_loss: f32,
    /// Training accuracy (candle forward).
    pub train_accuracy: f64,
    /// Test accuracy (candle forward).
    pub test_accuracy: f64,
}

/// The series of `ds` unstandardised (the model's input projection has the standardisation
/// folded in), and their labels.
pub fn raw_batch(ds: &SeriesSet) -> Result<(Tensor, Tensor)> {
    let c = ds.channels;
    batch(ds, &vec![0.0; c], &vec![1.0; c])
}

/// Accuracy of `net` with `mixer` on a batch.
pub fn accuracy(net: &Net, mixer: Mixer, x: &Tensor, y: &Tensor) -> Result<f64> {
    let pred = net.forward(x, mixer)?.argmax(1)?.to_vec1::<u32>()?;
    let y = y.to_vec1::<u32>()?;
    Ok(pred.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / y.len().max(1) as f64)
}

/// Accuracy of `model` with `mixer` on `ds`, a few series at a time so that the quadratic forms
/// stay within a few hundred MB for long streams (GLA's parallel form holds `T² · d_k` values per
/// head and series).
pub fn batched_accuracy(model: &AttentionModel, mixer: Mixer, ds: &SeriesSet) -> Result<f64> {
    let net = Net::frozen(model)?;
    let d = model.dims;
    let per_series = ds.length * ds.length * d.d_k * d.heads;
    let chunk = ((1usize << 23) / per_series.max(1)).max(1);
    let mut correct = 0.0;
    for part in ds.series.chunks(chunk) {
        let sub = SeriesSet {
            classes: ds.classes.clone(),
            channels: ds.channels,
            length: ds.length,
            series: part.to_vec(),
        };
        let (x, y) = raw_batch(&sub)?;
        correct += accuracy(&net, mixer, &x, &y)? * part.len() as f64;
    }
    Ok(correct / ds.series.len().max(1) as f64)
}

/// Checks that two splits describe the same task.
pub fn check_splits(train: &SeriesSet, test: &SeriesSet) -> Result<()> {
    if train.channels != test.channels || train.classes != test.classes {
        bail!("train and test sets disagree on channels or classes");
    }
    ensure!(
        !train.series.is_empty() && !test.series.is_empty(),
        "the train and test sets need at least one series each"
    );
    Ok(())
}

/// Trains the classifier through `cfg.mixer` (causal softmax attention by default), full batch, AdamW (weight decay 1e-4);
/// deterministic for a given seed. Inputs are standardised per channel during training and the
/// standardisation is folded into `input_proj` afterwards, so the returned model reads raw
/// samples. `progress` is called after every step with the loss.
pub fn train(
    train_ds: &SeriesSet,
    test_ds: &SeriesSet,
    cfg: &AttentionConfig,
    mut progress: impl FnMut(usize, f32),
) -> Result<(AttentionModel, FitReport)> {
    check_splits(train_ds, test_ds)?;
    ensure!(
        (1..=MAX_BLOCKS).contains(&cfg.blocks),
        "--blocks {}: the family has 1 to {MAX_BLOCKS} attention blocks",
        cfg.blocks
    );
    let dims = Dims {
        d_model: cfg.d_model,
        heads: cfg.heads,
        d_k: cfg.d_head,
        d_v: cfg.d_head,
        math: mote_core::recurrent::Math::Libm,
    };
    let (c, k, d) = (train_ds.channels, train_ds.classes.len(), cfg.d_model);
    let mut rng = XorShift32(cfg.seed.max(1));
    let blocks = (0..cfg.blocks)
        .map(|_| {
            let (wq, wk, wv, wo) = (
                uniform(&mut rng, dims.qk() * d, d),
                uniform(&mut rng, dims.qk() * d, d),
                uniform(&mut rng, dims.vd() * d, d),
                uniform(&mut rng, d * dims.vd(), dims.vd()),
            );
            // drawn after the attention's weights, so attention-only models keep their draws
            let pre_norm = (cfg.ffn > 0).then(|| PreNorm {
                attn_norm: vec![1.0; d],
                mlp_norm: vec![1.0; d],
                w_up: uniform(&mut rng, cfg.ffn * d, d),
                w_down: uniform(&mut rng, d * cfg.ffn, cfg.ffn),
            });
            Block {
                wq,
                wk,
                wv,
                wo,
                pre_norm,
            }
        })
        .collect();
    let init = AttentionModel {
        channels: c,
        classes: k,
        dims,
        pool: cfg.pool,
        rope_theta: cfg.rope_theta,
        w_in: uniform(&mut rng, d * c, c),
        b_in: vec![0.0; d],
        blocks,
        w_head: uniform(&mut rng, k * d, d),
        b_head: vec![0.0; k],
        final_norm: (cfg.ffn > 0).then(|| vec![1.0; d]),
        rms_eps: DEFAULT_RMS_EPS,
    };
    let (net, vars) = Net::trainable(&init)?;
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let (mean, std) = channel_stats(train_ds);
    let (x, y) = batch(train_ds, &mean, &std)?;
    let mixer = cfg.mixer;
    let mut final_loss = f32::NAN;
    for step in 0..cfg.epochs {
        let loss = candle_nn::loss::cross_entropy(&net.forward(&x, mixer)?, &y)?;
        opt.backward_step(&loss)?;
        final_loss = loss.to_scalar::<f32>()?;
        progress(step, final_loss);
    }
    let mut model = net.to_model(c, k)?;
    // fold (x − μ)/σ into the input projection: W' = W/σ (per column), b' = b − W' μ
    let w = model.w_in.clone();
    for o in 0..d {
        for i in 0..c {
            model.w_in[o * c + i] = w[o * c + i] / std[i];
            model.b_in[o] -= model.w_in[o * c + i] * mean[i];
        }
    }
    model.validate()?;
    let report = evaluate(&model, mixer, train_ds, test_ds, final_loss)?;
    Ok((model, report))
}

/// Float accuracies of `model` with `mixer` on both splits.
pub fn evaluate(
    model: &AttentionModel,
    mixer: Mixer,
    train_ds: &SeriesSet,
    test_ds: &SeriesSet,
    final_loss: f32,
) -> Result<FitReport> {
    let net = Net::frozen(model)?;
    let (xa, ya) = raw_batch(train_ds)?;
    let (xb, yb) = raw_batch(test_ds)?;
    Ok(FitReport {
        final_loss,
        train_accuracy: accuracy(&net, mixer, &xa, &ya)?,
        test_accuracy: accuracy(&net, mixer, &xb, &yb)?,
    })
}
