//! `mote recurrent-train`: train the BasicMotions recurrent classifier, report float and
//! simulated accuracies in every weight scheme, write the `.mote` model file, optionally check it
//! on QEMU.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::Config;
use crate::data::basicmotions::SeriesSet;
use crate::device::Board;
use crate::model::AlignedModel;
use crate::output::outln;
use crate::recurrent::classifier::{
    TrainConfig, TrainReport, file_accuracy, samples_blob, to_mote, train,
};
use crate::recurrent::streams::{DeviceRun, load_splits, run_file_on_device, run_on_device};
use crate::recurrent::weights::WeightScheme;
use mote_core::recurrent::Math;

/// The cell `mote recurrent-train` trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CellArg {
    /// Lightning Attention-2: fixed per-head decays (ALiBi slopes), no gate.
    La2,
    /// GLA with the Liger gate (`log α = logsigmoid(k)/16`, feature map softmax over the head).
    Gla,
    /// Liger Attention: ½ GLA + ½ softmax attention over the last `--swa-window` tokens (RoPE).
    Liger,
}

impl CellArg {
    fn describe(self) -> &'static str {
        match self {
            CellArg::La2 => "Lightning-Attention-2",
            CellArg::Gla => "GLA (Liger gate)",
            CellArg::Liger => "Liger Attention",
        }
    }
}

/// Arguments of `mote recurrent-train`.
#[derive(Debug, clap::Args)]
pub struct RecurrentTrainArgs {
    /// A directory holding BasicMotions_TRAIN.ts and BasicMotions_TEST.ts (default: the bundled
    /// `basicmotions/` of the data directory), or a data file: a `.ts` archive, or a recording
    /// (CSV, TSV, `.npz`) cut into series by `--window`/`--hop`, with `--test` or
    /// `--test-split` (see the data-file flags). Values stay in the file's units.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
    /// Train on these channels only, in this order (e.g. `0,1,2`: BasicMotions' accelerometer
    /// axes, what the 3-axis sensor of `mote firmware run` gives). Default: every channel.
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<usize>,
    /// The recurrent cell (input projection → one cell → running mean → head). `gla` and
    /// `liger` are trained through their whole-sequence forms (docs/attention.md: the native
    /// models of the Liger comparison).
    #[arg(long, value_enum, default_value_t = CellArg::La2)]
    pub cell: CellArg,
    /// Attention window of `--cell liger` (at most the series length).
    #[arg(long, default_value_t = 64)]
    pub swa_window: usize,
    /// Width of the recurrent layer.
    #[arg(long, default_value_t = TrainConfig::default().d_model)]
    pub d_model: usize,
    /// Heads of the recurrent layer.
    #[arg(long, default_value_t = TrainConfig::default().heads)]
    pub heads: usize,
    /// Key/value size per head.
    #[arg(long, default_value_t = TrainConfig::default().d_head)]
    pub head_dim: usize,
    /// Full-batch AdamW steps.
    #[arg(long, default_value_t = 300)]
    pub epochs: usize,
    /// Seed of the weight initialisation.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// AdamW learning rate.
    #[arg(long, default_value_t = TrainConfig::default().lr)]
    pub lr: f64,
    /// The cell's exp/ln through `micromath`'s approximations instead of `libm` (a flag in the
    /// model file; the simulator and the device compute the same bits either way): fewer
    /// instructions per token, slightly different outputs. Training is unchanged.
    #[arg(long)]
    pub fast_math: bool,
    /// Scheme of the model file written to `--out`.
    #[arg(long, value_enum, default_value_t = WeightScheme::F32)]
    pub scheme: WeightScheme,
    /// Write the classifier as a `.mote` model file (format 1.2) in `--scheme` here.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Write the test windows in the firmware's samples format here (`MOTE_SAMPLES` of the
    /// `recurrent` firmware, next to `MOTE_MODEL` = the `--out` file).
    #[arg(long)]
    pub samples: Option<PathBuf>,
    /// Stream the test windows on these QEMU boards in every scheme and check bit identity.
    #[arg(long, value_enum)]
    pub qemu: Vec<Board>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Test accuracy of the token-by-token simulator (`mote-core`'s executor on the model file) in
/// one scheme.
#[derive(Debug, Serialize)]
pub struct SchemeAccuracy {
    /// Weight scheme.
    pub scheme: WeightScheme,
    /// Accuracy on the BasicMotions test split.
    pub test_accuracy: f64,
    /// Size of the model file (flash bytes).
    pub model_bytes: usize,
    /// Recurrent state in `f32` values.
    pub state_floats: usize,
}

/// Everything `mote recurrent-train` measured.
#[derive(Debug, Serialize)]
pub struct TrainOutput {
    /// Hyper-parameters.
    pub config: TrainConfig,
    /// Float (candle, parallel form) results.
    pub float: TrainReport,
    /// Simulator (mote-core, recurrent form) results per scheme.
    pub simulator: Vec<SchemeAccuracy>,
    /// Firmware runs.
    pub device: Vec<DeviceRun>,
    /// Whether the cell uses `micromath` (`--fast-math`).
    pub fast_math: bool,
    /// The cell trained.
    pub cell: CellArg,
}

/// Runs the command.
pub fn run(args: &RecurrentTrainArgs, config: &Config) -> Result<()> {
    let stdout_outputs = [&args.out, &args.samples]
        .into_iter()
        .flatten()
        .filter(|p| p.as_os_str() == "-")
        .count();
    anyhow::ensure!(
        stdout_outputs <= 1,
        "-o - and --samples - cannot both write to standard output"
    );
    for p in [&args.out, &args.samples].into_iter().flatten() {
        crate::output::claim_stdout_for_output(p, args.json)?;
    }
    let (train_ds, test_ds) = load_splits(
        &config.catalog,
        args.data.as_deref(),
        &args.file.options(!args.json),
        &args.channels,
    )?;
    anyhow::ensure!(
        args.d_model > 0 && args.heads > 0 && args.head_dim > 0,
        "--d-model {}, --heads {}, --head-dim {}: every size must be at least 1",
        args.d_model,
        args.heads,
        args.head_dim
    );
    let cfg = TrainConfig {
        d_model: args.d_model,
        heads: args.heads,
        d_head: args.head_dim,
        epochs: args.epochs,
        seed: args.seed,
        lr: args.lr,
    };
    if let Some(p) = &args.samples {
        crate::output::write_atomic(p, &samples_blob(&test_ds)?)?;
    }
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(cfg.epochs as u64)
    };
    let progress = |_, loss: f32| {
        bar.set_message(format!("loss {loss:.4}"));
        bar.inc(1);
    };
    let out = if args.cell == CellArg::La2 {
        train_la2(args, config, &cfg, &train_ds, &test_ds, progress)?
    } else {
        train_gated(args, config, &cfg, &train_ds, &test_ds, progress)?
    };
    bar.finish_and_clear();
    report(args, &out, &test_ds)
}

/// The test accuracy of the model file `bytes` streamed token by token; writes it to `--out`
/// when `scheme` is `--scheme`.
fn simulate_scheme(
    args: &RecurrentTrainArgs,
    scheme: WeightScheme,
    bytes: &[u8],
    test_ds: &SeriesSet,
) -> Result<SchemeAccuracy> {
    let file = AlignedModel::new(bytes);
    let parsed = file.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let accuracy = SchemeAccuracy {
        scheme,
        test_accuracy: file_accuracy(&parsed, test_ds)?,
        model_bytes: bytes.len(),
        state_floats: parsed.ram().state_f32,
    };
    if scheme == args.scheme
        && let Some(out) = &args.out
    {
        crate::output::write_atomic(out, bytes)?;
    }
    Ok(accuracy)
}

/// The LA2 classifier (`recurrent::classifier`).
fn train_la2(
    args: &RecurrentTrainArgs,
    config: &Config,
    cfg: &TrainConfig,
    train_ds: &SeriesSet,
    test_ds: &SeriesSet,
    progress: impl FnMut(usize, f32),
) -> Result<TrainOutput> {
    let (mut model, float) = train(train_ds, test_ds, cfg, progress)?;
    if args.fast_math {
        model.dims.math = Math::Fast;
    }
    let mut simulator = Vec::new();
    let mut device = Vec::new();
    for scheme in WeightScheme::ALL {
        let m = model.to_scheme(scheme);
        simulator.push(simulate_scheme(args, scheme, &to_mote(&m)?, test_ds)?);
        for &board in &args.qemu {
            device.push(run_on_device(&config.firmware, board, &m, test_ds)?);
        }
    }
    Ok(TrainOutput {
        config: *cfg,
        float,
        simulator,
        device,
        fast_math: args.fast_math,
        cell: args.cell,
    })
}

/// GLA or Liger: the attention family's one-block classifier trained through the cell's
/// whole-sequence form (`attention::train`), written by `attention::linearize::to_mote` (same
/// layer stack as LA2: input projection, the cell, running mean, head).
fn train_gated(
    args: &RecurrentTrainArgs,
    config: &Config,
    cfg: &TrainConfig,
    train_ds: &SeriesSet,
    test_ds: &SeriesSet,
    progress: impl FnMut(usize, f32),
) -> Result<TrainOutput> {
    use crate::attention::linearize::{Target, to_mote};
    use crate::attention::train::{AttentionConfig, Split, train as train_attention};
    use crate::attention::{Mixer, model::Pool};
    let (mixer, target) = match args.cell {
        CellArg::Liger => (
            Mixer::Liger {
                window: args.swa_window,
            },
            Target::Liger {
                window: args.swa_window,
            },
        ),
        _ => (Mixer::Gla, Target::Gla),
    };
    let length = train_ds.length.min(test_ds.length);
    if args.cell == CellArg::Liger {
        anyhow::ensure!(
            (1..=length).contains(&args.swa_window),
            "--swa-window {}: the attention window must hold 1 to {length} tokens (the series \
             length; a longer window would be full attention over every series)",
            args.swa_window
        );
    }
    target.validate(Some(length))?;
    // checked before training: the attention family's heads are even for both cells (its
    // softmax form, and Liger's attention branch, rotate pairs with RoPE)
    anyhow::ensure!(
        cfg.d_head.is_multiple_of(2),
        "--head-dim {}: the {} cell comes from the attention family, whose RoPE rotates pairs \
         (choose an even size)",
        cfg.d_head,
        args.cell.describe()
    );
    let acfg = AttentionConfig {
        d_model: cfg.d_model,
        heads: cfg.heads,
        d_head: cfg.d_head,
        blocks: 1,
        pool: Pool::Mean,
        epochs: cfg.epochs,
        lr: cfg.lr,
        seed: cfg.seed,
        mixer,
        ..AttentionConfig::default()
    };
    let (train_split, test_split) = (
        Split::series(train_ds.clone()),
        Split::series(test_ds.clone()),
    );
    let (mut model, fit) = train_attention(&train_split, &test_split, &acfg, progress)?;
    if args.fast_math {
        model.dims.math = Math::Fast;
    }
    let mut simulator = Vec::new();
    let mut device = Vec::new();
    for scheme in WeightScheme::ALL {
        let bytes = to_mote(&model, target, scheme)?;
        simulator.push(simulate_scheme(args, scheme, &bytes, test_ds)?);
        for &board in &args.qemu {
            device.push(run_file_on_device(
                &config.firmware,
                board,
                &bytes,
                scheme,
                test_ds,
            )?);
        }
    }
    Ok(TrainOutput {
        config: *cfg,
        float: TrainReport {
            final_loss: fit.final_loss,
            train_accuracy: fit.train_accuracy,
            test_accuracy: fit.test_accuracy,
        },
        simulator,
        device,
        fast_math: args.fast_math,
        cell: args.cell,
    })
}

/// Prints `out` (or its JSON) and what was written.
fn report(args: &RecurrentTrainArgs, out: &TrainOutput, test_ds: &SeriesSet) -> Result<()> {
    let cfg = &out.config;
    if args.json {
        return crate::output::print_json(out);
    }
    outln!(
        "1 {} layer (d={}, {} heads × {}), {} epochs, seed {}{}",
        args.cell.describe(),
        cfg.d_model,
        cfg.heads,
        cfg.d_head,
        cfg.epochs,
        cfg.seed,
        if args.fast_math {
            "; fast math (micromath exp)"
        } else {
            ""
        }
    )?;
    outln!(
        "float (candle, parallel form): train loss {:.4}, train acc {:.3}, test acc {:.3}",
        out.float.final_loss,
        out.float.train_accuracy,
        out.float.test_accuracy
    )?;
    for s in &out.simulator {
        outln!(
            "simulator {} (model file, token by token): test acc {:.3}, {} bytes, state {} floats",
            s.scheme.name(),
            s.test_accuracy,
            s.model_bytes,
            s.state_floats
        )?;
    }
    for d in &out.device {
        outln!(
            "{} {}: {} windows / {} tokens bit-identical to the simulator, device test acc {:.3}, state {} floats",
            d.report.board.machine(),
            d.scheme.name(),
            d.report.samples,
            d.tokens,
            d.report.accuracy,
            d.state_floats
        )?;
    }
    if let Some(p) = &args.out {
        outln!("wrote {} ({})", p.display(), args.scheme.name())?;
    }
    if let Some(p) = &args.samples {
        outln!(
            "wrote {} ({} test windows)",
            p.display(),
            test_ds.series.len()
        )?;
    }
    Ok(())
}
