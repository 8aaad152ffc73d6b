//! `mote linearize`: turn a softmax-attention classifier (safetensors, docs/attention.md) into a
//! constant-memory recurrent `.mote` model (SPEC §5.3), optionally LoRA fine-tuned, and report
//! the accuracies before and after.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail, ensure};
use serde::Serialize;

use super::Config;
use crate::attention::linearize::{Target, to_mote};
use crate::attention::lora::{LoraConfig, LoraReport, finetune, parse_spec};
use crate::attention::net::Mixer;
use crate::attention::safetensors::load;
use crate::attention::train::{Split, batched_accuracy, file_accuracy, load_task};
use crate::model::AlignedModel;
use crate::output::outln;
use crate::recurrent::weights::WeightScheme;

/// The recurrent cell the attention blocks become.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum To {
    /// GLA with the Liger gate (no attention window: state constant from the first token).
    Gla,
    /// Liger Attention: ½ GLA + ½ sliding-window softmax attention (`--window`).
    Liger,
    /// Mixture-of-Memories over GLA memories (`--memories`, `--top-k`; zero router).
    Mom,
    /// No conversion: the softmax attention itself over the last `--window` tokens.
    Swa,
}

/// Arguments of `mote linearize`.
#[derive(Debug, clap::Args)]
pub struct LinearizeArgs {
    /// The attention classifier (safetensors with q_proj/k_proj/v_proj/o_proj keys).
    pub model: PathBuf,
    /// Target cell.
    #[arg(long, value_enum)]
    pub to: To,
    /// Sizes of the target cell.
    #[command(flatten)]
    pub sizes: CellSizes,
    /// Fine-tune LoRA adapters of this rank on q_proj, k_proj, v_proj through the converted
    /// mixer before export (`lora:RANK`; gla, liger, swa).
    #[arg(long, value_name = "lora:RANK")]
    pub finetune: Option<String>,
    /// LoRA α (the update is scaled by α/RANK) [default: RANK].
    #[arg(long)]
    pub lora_alpha: Option<f64>,
    /// AdamW steps of the fine-tune (each on one mini-batch of `--batch` series).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Series per mini-batch of the fine-tune, in a deterministic shuffled order (`--seed`);
    /// 0: the whole training split at every step.
    #[arg(long, default_value_t = 0)]
    pub batch: usize,
    /// AdamW learning rate of the fine-tune.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed of the LoRA initialisation and of the mini-batch order.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// Series to evaluate and fine-tune on: `basicmotions` (default), `mqar:LENGTH[:PAIRS]`
    /// (synthetic multi-query associative recall, scored per query), a directory with BasicMotions_TRAIN.ts / _TEST.ts, or a
    /// `.ts` file (its `_TEST.ts` partner is the test split).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Keep these channels of the data, in this order. Default: every channel.
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<usize>,
    /// Numeric scheme of every projection of the written file.
    #[arg(long, value_enum, default_value_t = WeightScheme::F32)]
    pub scheme: WeightScheme,
    /// Write the converted (and fine-tuned) model here (`.mote`, format 1.2).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// One converted model file's measurements.
#[derive(Debug, Serialize)]
pub struct Converted {
    /// Test accuracy streaming the model file token by token (mote-core's executor).
    pub test_accuracy: f64,
    /// Test accuracy of the candle forward of the converted mixer (none for MoM).
    pub float_test_accuracy: Option<f64>,
    /// Bytes of the model file.
    pub model_bytes: usize,
    /// State kept between tokens, in `f32` values (constant in the stream length).
    pub state_floats: usize,
}

/// Everything `mote linearize` measured.
#[derive(Debug, Serialize)]
pub struct LinearizeOutput {
    /// The target cell and its sizes.
    pub target: Target,
    /// Weight scheme of the file.
    pub scheme: WeightScheme,
    /// Samples per test series.
    pub length: usize,
    /// What the accuracies count: `series` (one label per series, read after its last token)
    /// or `queries` (associative recall: each query answered at its own token).
    pub scored_on: &'static str,
    /// Series or queries in the test split.
    pub test_scored: usize,
    /// Test accuracy of the unconverted model (candle, causal softmax attention).
    pub softmax_test_accuracy: f64,
    /// The conversion with no training.
    pub zero_step: Converted,
    /// The LoRA fine-tune and the converted model after it.
    pub finetuned: Option<Finetuned>,
}

/// The fine-tune's report and its converted model.
#[derive(Debug, Serialize)]
pub struct Finetuned {
    /// LoRA run.
    pub lora: LoraReport,
    /// The merged model, converted.
    pub converted: Converted,
}

/// The sizes a target cell takes (`mote linearize`, `mote bench linearized`).
#[derive(Debug, clap::Args)]
pub struct CellSizes {
    /// Attention window of `liger` and `swa` (at most the series length).
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Memories of `mom`.
    #[arg(long, default_value_t = 4)]
    pub memories: usize,
    /// Memories each token updates, for `mom`.
    #[arg(long, default_value_t = 2)]
    pub top_k: usize,
}

impl CellSizes {
    /// `to` with these sizes.
    pub fn target(&self, to: To) -> Target {
        match to {
            To::Gla => Target::Gla,
            To::Liger => Target::Liger {
                window: self.window,
            },
            To::Mom => Target::Mom {
                memories: self.memories,
                top_k: self.top_k,
            },
            To::Swa => Target::Swa {
                window: self.window,
            },
        }
    }
}

impl LinearizeArgs {
    fn target(&self) -> Target {
        self.sizes.target(self.to)
    }
}

fn convert(
    model: &crate::attention::AttentionModel,
    target: Target,
    scheme: WeightScheme,
    test: &Split,
) -> Result<(Vec<u8>, Converted)> {
    let bytes = to_mote(model, target, scheme)?;
    let file = AlignedModel::new(&bytes);
    let parsed = file.parse().map_err(|e| anyhow!("{e}"))?;
    let float_test_accuracy = match target.mixer() {
        Some(m) => Some(batched_accuracy(model, m, test)?),
        None => None,
    };
    let c = Converted {
        test_accuracy: file_accuracy(&parsed, test)?,
        float_test_accuracy,
        model_bytes: bytes.len(),
        state_floats: parsed.ram().state_f32,
    };
    Ok((bytes, c))
}

/// Runs the command.
pub fn run(args: &LinearizeArgs, config: &Config) -> Result<()> {
    if let Some(p) = &args.out {
        crate::output::claim_stdout_for_output(p, args.json)?;
    }
    let target = args.target();
    let lora = match &args.finetune {
        None => None,
        Some(s) => {
            let rank = parse_spec(s)?;
            let Some(mixer) = target.mixer() else {
                bail!(
                    "--finetune with --to mom: the MoM conversion is zero-step only (its router \
                     and memories have no whole-sequence training form here); fine-tune with \
                     --to gla or --to liger"
                );
            };
            Some((
                mixer,
                LoraConfig {
                    rank,
                    alpha: args.lora_alpha.unwrap_or(rank as f64),
                    steps: args.steps,
                    batch: args.batch,
                    lr: args.lr,
                    seed: args.seed,
                },
            ))
        }
    };
    let model = load(&args.model)?;
    let (train_split, test_split) = load_task(
        &config.catalog,
        args.data.as_deref(),
        &crate::data::file::FileOptions::default(),
        &args.channels,
    )?;
    let (train_ds, test_ds) = (&train_split.ds, &test_split.ds);
    ensure!(
        model.channels == test_ds.channels && model.classes == test_ds.classes.len(),
        "{} takes {} channels and predicts {} classes; the data has {} channels and {} classes \
         (choose channels with --channels)",
        args.model.display(),
        model.channels,
        model.classes,
        test_ds.channels,
        test_ds.classes.len()
    );
    target.validate(Some(test_ds.length.min(train_ds.length)))?;
    let softmax_test_accuracy =
        batched_accuracy(&model, Mixer::Softmax { window: None }, &test_split)?;
    let (mut bytes, zero_step) = convert(&model, target, args.scheme, &test_split)?;
    let finetuned = match lora {
        None => None,
        Some((mixer, cfg)) => {
            let bar = if args.json {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::new(cfg.steps as u64)
            };
            let (merged, report) =
                finetune(&model, mixer, &train_split, &test_split, &cfg, |_, l| {
                    bar.set_message(format!("loss {l:.4}"));
                    bar.inc(1);
                })?;
            bar.finish_and_clear();
            let (b, converted) = convert(&merged, target, args.scheme, &test_split)?;
            bytes = b;
            Some(Finetuned {
                lora: report,
                converted,
            })
        }
    };
    if let Some(p) = &args.out {
        crate::output::write_atomic(p, &bytes)?;
    }
    let out = LinearizeOutput {
        target,
        scheme: args.scheme,
        length: test_ds.length,
        scored_on: test_split.scored_on(),
        test_scored: test_split.scored(),
        softmax_test_accuracy,
        zero_step,
        finetuned,
    };
    if args.json {
        return crate::output::print_json(&out);
    }
    let show = |c: &Converted| {
        let f = c
            .float_test_accuracy
            .map_or(String::new(), |a| format!(", float {a:.3}"));
        format!(
            "test acc {:.3} (model file, token by token){f}, {} bytes, state {} floats",
            c.test_accuracy, c.model_bytes, c.state_floats
        )
    };
    outln!(
        "{}: softmax attention test acc {:.3} (float, {}-sample series; accuracy = fraction of \
         {} {} answered correctly)",
        args.model.display(),
        out.softmax_test_accuracy,
        out.length,
        out.test_scored,
        out.scored_on
    )?;
    outln!(
        "{} ({}), zero-step: {}",
        target.cell().name(),
        args.scheme.name(),
        show(&out.zero_step)
    )?;
    if let Some(f) = &out.finetuned {
        outln!(
            "after LoRA rank {} (α {}, {} trainable parameters, {} steps, batch {}, lr {}): train loss {:.4}, {}",
            f.lora.config.rank,
            f.lora.config.alpha,
            f.lora.parameters,
            f.lora.config.steps,
            match f.lora.config.batch {
                0 => "full".to_string(),
                b => b.to_string(),
            },
            f.lora.config.lr,
            f.lora.fit.final_loss,
            show(&f.converted)
        )?;
    }
    if let Some(p) = &args.out {
        outln!("wrote {}", p.display())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::AttentionModel;
    use crate::attention::safetensors::save;
    use mote_core::check::XorShift32;
    use mote_core::recurrent::Dims;

    fn model() -> AttentionModel {
        let mut rng = XorShift32(5);
        let mut r =
            |n: usize| -> Vec<f32> { (0..n).map(|_| (rng.next_f32() - 0.5) * 0.5).collect() };
        let d = Dims {
            d_model: 8,
            heads: 2,
            d_k: 4,
            d_v: 4,
            math: mote_core::recurrent::Math::Libm,
        };
        AttentionModel {
            channels: 6,
            classes: 4,
            dims: d,
            pool: crate::attention::model::Pool::Mean,
            rope_theta: 10_000.0,
            w_in: r(8 * 6),
            b_in: r(8),
            blocks: vec![crate::attention::Block {
                wq: r(64),
                wk: r(64),
                wv: r(64),
                wo: r(64),
                pre_norm: None,
            }],
            w_head: r(4 * 8),
            b_head: r(4),
            final_norm: None,
            rms_eps: crate::attention::model::DEFAULT_RMS_EPS,
        }
    }

    fn args(model: PathBuf, out: PathBuf, to: To, window: usize) -> LinearizeArgs {
        LinearizeArgs {
            model,
            to,
            sizes: CellSizes {
                window,
                memories: 4,
                top_k: 2,
            },
            finetune: None,
            lora_alpha: None,
            steps: 1,
            batch: 0,
            lr: 1e-3,
            seed: 1,
            data: None,
            channels: vec![],
            scheme: WeightScheme::Int8Dynamic,
            out: Some(out),
            json: true,
        }
    }

    #[test]
    fn writes_the_converted_file_and_nothing_on_bad_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = dir.path().join("att.safetensors");
        save(&model(), &st).expect("saves");
        let config = Config::default();
        let out = dir.path().join("bad.mote");
        // BasicMotions series have 100 samples
        for (a, want) in [
            (
                args(st.clone(), out.clone(), To::Liger, 101),
                "--window 101 is longer",
            ),
            (
                LinearizeArgs {
                    finetune: Some("lora:2".into()),
                    ..args(st.clone(), out.clone(), To::Mom, 8)
                },
                "zero-step only",
            ),
            (
                LinearizeArgs {
                    channels: vec![0, 1],
                    ..args(st.clone(), out.clone(), To::Gla, 8)
                },
                "takes 6 channels",
            ),
            (
                args(
                    dir.path().join("missing.safetensors"),
                    out.clone(),
                    To::Gla,
                    8,
                ),
                "missing.safetensors",
            ),
        ] {
            let e = run(&a, &config).expect_err(want);
            assert!(format!("{e:#}").contains(want), "{e:#}");
            assert!(!out.exists(), "{want}: an output was written");
        }
        let good = dir.path().join("liger.mote");
        run(&args(st, good.clone(), To::Liger, 16), &config).expect("converts");
        let bytes = std::fs::read(&good).expect("written");
        let file = AlignedModel::new(&bytes);
        let m = file.parse().expect("parses");
        let info = crate::model::inspect::inspect(&m).expect("inspects");
        let rec = info.layers[1].recurrent.as_ref().expect("recurrent layer");
        assert_eq!((rec.cell, rec.scheme), ("liger", "int8-dynamic"));
    }
}
