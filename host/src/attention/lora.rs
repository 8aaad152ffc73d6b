//! LoRA fine-tuning of a linearized model (SPEC §5.3, "Training"): rank-`r` adapters on every
//! block's `q_proj`, `k_proj`, `v_proj`, trained through the linearized mixer (GLA or Liger
//! Attention) with cross-entropy on the training split; the adapters are the only `Var`s, so the
//! input projection, `o_proj` and the head stay the pretrained ones. The adapters are merged
//! into the weights (`W + (α/r) B A`) before export, so the converted file has the attention
//! model's shapes and no extra tensor.

use anyhow::{Result, bail, ensure};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use mote_core::check::XorShift32;
use serde::Serialize;

use super::model::AttentionModel;
use super::net::{Mixer, Net};
use super::train::{Batch, Batches, FitReport, Split, check_splits, evaluate, mean_loss};

/// LoRA hyper-parameters.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LoraConfig {
    /// Rank `r`.
    pub rank: usize,
    /// `α` (the update is scaled by `α / r`; SPEC: `α = r = 8`).
    pub alpha: f64,
    /// AdamW steps (each on one mini-batch, see `batch`).
    pub steps: usize,
    /// Series per mini-batch (deterministic shuffled order, see `seed`); 0: full batch.
    pub batch: usize,
    /// Learning rate (SPEC: 1e-3).
    pub lr: f64,
    /// Seed of the `A` initialisation and of the mini-batch order.
    pub seed: u32,
}

/// Outcome of [`finetune`].
#[derive(Clone, Debug, Serialize)]
pub struct LoraReport {
    /// Hyper-parameters.
    pub config: LoraConfig,
    /// Trainable parameters (every adapter's `A` and `B`).
    pub parameters: usize,
    /// Training cross-entropy of the adapted network after the last step (before merging),
    /// over the whole training split.
    pub adapted_loss: f32,
    /// Float accuracies of the merged model through the linearized mixer.
    #[serde(flatten)]
    pub fit: FitReport,
}

/// Parses `lora:RANK` (the `--finetune` value).
pub fn parse_spec(s: &str) -> Result<usize> {
    let Some(r) = s.strip_prefix("lora:") else {
        bail!("--finetune {s:?}: expected lora:RANK (e.g. lora:8)");
    };
    match r.parse::<usize>() {
        Ok(r) if r > 0 => Ok(r),
        _ => bail!("--finetune {s:?}: RANK must be a whole number ≥ 1"),
    }
}

/// Fine-tunes LoRA adapters on `model` through `mixer` (deterministic for a seed) and returns
/// the merged model. `progress` is called after every step with the loss.
pub fn finetune(
    model: &AttentionModel,
    mixer: Mixer,
    train_split: &Split,
    test_split: &Split,
    cfg: &LoraConfig,
    mut progress: impl FnMut(usize, f32),
) -> Result<(AttentionModel, LoraReport)> {
    check_splits(train_split, test_split)?;
    let train_ds = &train_split.ds;
    ensure!(
        train_ds.channels == model.channels && train_ds.classes.len() == model.classes,
        "the data has {} channels and {} classes; the model takes {} and predicts {}",
        train_ds.channels,
        train_ds.classes.len(),
        model.channels,
        model.classes
    );
    let d = model.dims;
    let max_rank = d.d_model.min(d.qk()).min(d.vd());
    ensure!(
        cfg.rank >= 1 && cfg.rank <= max_rank,
        "LoRA rank {} must lie in 1..={max_rank} (the smallest side of q_proj, k_proj, v_proj)",
        cfg.rank
    );
    let mut net = Net::frozen(model)?;
    let mut rng = XorShift32(cfg.seed.max(1));
    let vars = net.add_lora(cfg.rank, cfg.alpha, &mut rng)?;
    let parameters = vars.iter().map(|v| v.as_tensor().elem_count()).sum();
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let c = train_ds.channels;
    let (zeros, ones) = (vec![0.0; c], vec![1.0; c]);
    let mut batches = Batches::new(train_ds.series.len(), cfg.batch, cfg.seed);
    let full = match batches.full() {
        true => Some(Batch::new(train_split, &zeros, &ones)?),
        false => None,
    };
    let mut final_loss = f32::NAN;
    for step in 0..cfg.steps {
        let part;
        let b = match &full {
            Some(b) => b,
            None => {
                let idx = batches.next_batch().to_vec();
                part = Batch::new(&train_split.subset(&idx), &zeros, &ones)?;
                &part
            }
        };
        let loss = b.loss(&net, mixer)?;
        opt.backward_step(&loss)?;
        final_loss = loss.to_scalar::<f32>()?;
        progress(step, final_loss);
    }
    let adapted_loss = match &full {
        Some(b) => b.loss(&net, mixer)?.to_scalar::<f32>()?,
        None => mean_loss(&net, mixer, train_split)?,
    };
    let merged = net.to_model(model.channels, model.classes)?;
    let fit = evaluate(&merged, mixer, train_split, test_split, final_loss)?;
    Ok((
        merged,
        LoraReport {
            config: *cfg,
            parameters,
            adapted_loss,
            fit,
        },
    ))
}
