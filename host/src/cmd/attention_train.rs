//! `mote attention-train`: train the softmax-attention stream classifier (docs/attention.md)
//! and save it as PyTorch-named safetensors, the input of `mote linearize`.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::Config;
use crate::attention::Mixer;
use crate::attention::linearize::{Target, to_mote};
use crate::attention::model::Pool;
use crate::attention::safetensors::to_safetensors;
use crate::attention::train::{AttentionConfig, FitReport, file_accuracy, load_task, train};
use crate::model::AlignedModel;
use crate::output::outln;
use crate::recurrent::weights::WeightScheme;

/// The token mixer `mote attention-train` trains through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MixerArg {
    /// Causal softmax attention with RoPE (the model `mote linearize` converts).
    Softmax,
    /// GLA with the Liger gate, from scratch (a native recurrent model of the same shape).
    Gla,
    /// Liger Attention (½ GLA + ½ SWA over `--swa-window` tokens), from scratch.
    Liger,
}

/// Arguments of `mote attention-train`.
#[derive(Debug, clap::Args)]
pub struct AttentionTrainArgs {
    /// `basicmotions` (default: the bundled split), `mqar:LENGTH[:PAIRS]` (synthetic multi-query
    /// associative recall, scored per query; `--pool last` by default), a directory holding
    /// BasicMotions_TRAIN.ts and
    /// BasicMotions_TEST.ts, or a data file (a `.ts` archive, or a recording cut into series by
    /// `--window`/`--hop`, see the data-file flags).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
    /// Train on these channels only, in this order. Default: every channel.
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<usize>,
    /// Attention blocks (1 to 4).
    #[arg(long, default_value_t = AttentionConfig::default().blocks)]
    pub blocks: usize,
    /// Pre-norm residual blocks with a ReLU MLP of this width (Llama-style: RMS norm before the
    /// attention and before the MLP, residual adds, a final RMS norm); 0 = attention-only
    /// blocks.
    #[arg(long, default_value_t = AttentionConfig::default().ffn)]
    pub ffn: usize,
    /// Width of the token vectors.
    #[arg(long, default_value_t = AttentionConfig::default().d_model)]
    pub d_model: usize,
    /// Attention heads.
    #[arg(long, default_value_t = AttentionConfig::default().heads)]
    pub heads: usize,
    /// Query/key and value size per head (even: RoPE rotates pairs).
    #[arg(long, default_value_t = AttentionConfig::default().d_head)]
    pub head_dim: usize,
    /// Pooling before the head: the running mean, or the current token (associative recall)
    /// [default: last for mqar:…, mean otherwise].
    #[arg(long, value_enum)]
    pub pool: Option<Pool>,
    /// RoPE base θ.
    #[arg(long, default_value_t = AttentionConfig::default().rope_theta)]
    pub rope_theta: f32,
    /// Token mixer to train through.
    #[arg(long, value_enum, default_value_t = MixerArg::Softmax)]
    pub mixer: MixerArg,
    /// SWA window of `--mixer liger`.
    #[arg(long, default_value_t = 64)]
    pub swa_window: usize,
    /// AdamW steps (each on one mini-batch of `--batch` series).
    #[arg(long, default_value_t = AttentionConfig::default().epochs)]
    pub epochs: usize,
    /// Series per mini-batch, in a deterministic shuffled order (`--seed`); 0: the whole
    /// training split at every step.
    #[arg(long, default_value_t = AttentionConfig::default().batch)]
    pub batch: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = AttentionConfig::default().lr)]
    pub lr: f64,
    /// Seed of the weight initialisation and of the mini-batch order.
    #[arg(long, default_value_t = AttentionConfig::default().seed)]
    pub seed: u32,
    /// Write the model here (safetensors, f32, PyTorch key names).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Everything `mote attention-train` measured.
#[derive(Debug, Serialize)]
pub struct AttentionTrainOutput {
    /// Hyper-parameters.
    pub config: AttentionConfig,
    /// What the accuracies count: `series` (one label per series, read after its last token)
    /// or `queries` (associative recall: each query answered at its own token).
    pub scored_on: &'static str,
    /// Series or queries in the test split.
    pub test_scored: usize,
    /// Float (candle, the trained mixer) results.
    pub float: FitReport,
    /// Test accuracy of the model file streaming the same weights token by token (mote-core's
    /// executor, f32). Softmax: an SWA cell whose window is the series length, i.e. the softmax
    /// model with a KV cache of the whole series; GLA, Liger: those cells.
    pub simulator_test_accuracy: f64,
    /// The cell of that model file.
    pub simulator_cell: &'static str,
    /// Samples per series (the window of that file).
    pub length: usize,
}

impl AttentionTrainArgs {
    fn config(&self, recall: bool) -> AttentionConfig {
        AttentionConfig {
            d_model: self.d_model,
            heads: self.heads,
            d_head: self.head_dim,
            blocks: self.blocks,
            ffn: self.ffn,
            rope_theta: self.rope_theta,
            pool: self
                .pool
                .unwrap_or(if recall { Pool::Last } else { Pool::Mean }),
            epochs: self.epochs,
            batch: self.batch,
            standardize: !recall,
            lr: self.lr,
            seed: self.seed,
            mixer: match self.mixer {
                MixerArg::Softmax => Mixer::Softmax { window: None },
                MixerArg::Gla => Mixer::Gla,
                MixerArg::Liger => Mixer::Liger {
                    window: self.swa_window,
                },
            },
        }
    }
}

/// Runs the command.
pub fn run(args: &AttentionTrainArgs, config: &Config) -> Result<()> {
    if let Some(p) = &args.out {
        crate::output::claim_stdout_for_output(p, args.json)?;
    }
    let (train_split, test_split) = load_task(
        &config.catalog,
        args.data.as_deref(),
        &args.file.options(!args.json),
        &args.channels,
    )?;
    let cfg = args.config(test_split.queries.is_some());
    let (train_ds, test_ds) = (&train_split.ds, &test_split.ds);
    let target = match cfg.mixer {
        Mixer::Softmax { .. } => Target::Swa {
            window: test_ds.length,
        },
        Mixer::Gla => Target::Gla,
        Mixer::Liger { window } => Target::Liger { window },
    };
    // a bad --swa-window is refused before training (the softmax model's file takes the test
    // series' length as its window, which always fits)
    if let Mixer::Liger { .. } = cfg.mixer {
        target.validate(Some(test_ds.length.min(train_ds.length)))?;
    }
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(cfg.epochs as u64)
    };
    let (model, float) = train(&train_split, &test_split, &cfg, |_, loss| {
        bar.set_message(format!("loss {loss:.4}"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let bytes = to_mote(&model, target, WeightScheme::F32)?;
    let file = AlignedModel::new(&bytes);
    let parsed = file.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = AttentionTrainOutput {
        config: cfg,
        scored_on: test_split.scored_on(),
        test_scored: test_split.scored(),
        float,
        simulator_test_accuracy: file_accuracy(&parsed, &test_split)?,
        simulator_cell: target.cell().name(),
        length: test_ds.length,
    };
    if let Some(p) = &args.out {
        crate::output::write_atomic(p, &to_safetensors(&model)?)?;
    }
    if args.json {
        return crate::output::print_json(&out);
    }
    let batch = match cfg.batch {
        0 => "full batch".to_string(),
        b => format!("batch {b}"),
    };
    outln!(
        "{}, {} block(s) (d={}, {} heads × {}, RoPE θ {}, {} pooling), {} steps ({batch}), lr {}, seed {}",
        cfg.mixer.name(),
        cfg.blocks,
        cfg.d_model,
        cfg.heads,
        cfg.d_head,
        cfg.rope_theta,
        cfg.pool.name(),
        cfg.epochs,
        cfg.lr,
        cfg.seed
    )?;
    outln!(
        "accuracy = fraction of {} answered correctly ({} in the test split)",
        out.scored_on,
        out.test_scored
    )?;
    outln!(
        "float (candle): train loss {:.4}, train acc {:.3}, test acc {:.3}",
        out.float.final_loss,
        out.float.train_accuracy,
        out.float.test_accuracy
    )?;
    outln!(
        "simulator (model file, {} cell, token by token, f32; {}-sample series): test acc {:.3}",
        out.simulator_cell,
        out.length,
        out.simulator_test_accuracy
    )?;
    if let Some(p) = &args.out {
        outln!("wrote {}", p.display())?;
    }
    Ok(())
}
