//! `mote bench`: instruction counts under QEMU (kernels, a model file, recurrent cells) and host
//! timings (the assignment solver, recurrent prefill).

use crate::model::scaling::inputs_for;
use std::path::PathBuf;

use anyhow::Result;

use super::Config;
use crate::device::Board;
use crate::device::infer::SampleWorkload;
use crate::device::kernel_counts::{self, KERNELS, KernelCount};
use crate::device::runner::run_on_device;
use crate::model::AlignedModel;
use crate::model::simulate::simulate;
use crate::output::out;
use crate::recurrent::cost::{self, PrefillRate, TokenCost};
use crate::recurrent::weights::WeightScheme;

/// `mote bench` arguments.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to benchmark.
    #[command(subcommand)]
    pub what: BenchCommand,
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Benchmarks.
// Parsed once per process from the command line: the variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Instructions per 256×256 matvec for each kernel on M4F and M3.
    Kernels,
    /// Instructions per inference of a model file on M4F and M3 (first samples of a data set);
    /// for a stateful (recurrent) model, instructions per token over the first series of a
    /// `.ts` file or `basicmotions`, streamed token by token.
    Model {
        /// The model file.
        model: PathBuf,
        /// Data set whose test split feeds the model (stateful models: `basicmotions` or a
        /// `.ts` file).
        #[arg(long, default_value = "digits")]
        data: String,
        /// Samples (stateful models: series) to run.
        #[arg(long, default_value_t = 20)]
        samples: usize,
        /// Stateful models: the series' channels to stream, in order (default: all).
        #[arg(long, value_delimiter = ',')]
        channels: Vec<usize>,
        /// How a `--data` file is read.
        #[command(flatten)]
        file: super::data_args::DataFileArgs,
    },
    /// Recurrent cells: instructions per token at tokens 1/100/1,000/10,000 and state RAM
    /// under QEMU (M4F), next to softmax attention with a growing KV cache.
    Recurrent,
    /// A trained softmax-attention model (safetensors, `mote attention-train`) against its
    /// conversions, same weights: instructions per token and RAM at tokens 1/100/1,000/10,000
    /// under QEMU, the softmax model with its growing KV cache, on a stream of the data's test
    /// series; every device output checked against the host.
    Linearized(Box<LinearizedBenchArgs>),
    /// Cold and warm exact-assignment solves of a square score matrix (raw little-endian f64,
    /// row-major, e.g. data/lap/cost0.f64), best and median of the repeats.
    Lap {
        /// The matrix file.
        matrix: PathBuf,
        /// Solves per measurement.
        #[arg(long, default_value_t = 9)]
        repeats: usize,
    },
    /// Host prefill throughput of LA2 and the gated delta rule: recurrent, parallel, chunked,
    /// chunk-parallel, on 1 and 2 threads.
    Prefill {
        /// Tokens.
        #[arg(long, default_value_t = 4096)]
        tokens: usize,
        /// Chunk size of the chunked forms.
        #[arg(long, default_value_t = 64)]
        chunk: usize,
        /// Runs per measurement (best is reported).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// PLeaS study (SPEC §3): two MLPs trained on skewed halves of a data set, merged by every
    /// method at a range of budgets, evaluated on the full test set; table, `--plot`, `--json`.
    Pleas(Box<PleasStudyArgs>),
}

/// What `mote bench linearized` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamModel {
    /// The softmax model itself: causal attention over a KV cache of every token so far.
    Softmax,
    /// GLA with the Liger gate.
    Gla,
    /// Liger Attention, `--window`.
    Liger,
    /// Mixture-of-Memories over GLA memories, `--memories`, `--top-k`.
    Mom,
    /// Softmax attention over the last `--window` tokens.
    Swa,
}

impl StreamModel {
    /// The `mote linearize` target of a conversion (`None` for the softmax model itself).
    fn conversion(self) -> Option<super::linearize::To> {
        use super::linearize::To;
        match self {
            StreamModel::Softmax => None,
            StreamModel::Gla => Some(To::Gla),
            StreamModel::Liger => Some(To::Liger),
            StreamModel::Mom => Some(To::Mom),
            StreamModel::Swa => Some(To::Swa),
        }
    }
}

/// `mote bench linearized` arguments.
#[derive(Debug, clap::Args)]
pub struct LinearizedBenchArgs {
    /// The softmax-attention model (safetensors with q_proj/k_proj/v_proj/o_proj keys).
    pub model: PathBuf,
    /// Models to measure, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "softmax,gla,liger"
    )]
    pub to: Vec<StreamModel>,
    /// Sizes of the conversions.
    #[command(flatten)]
    pub sizes: super::linearize::CellSizes,
    /// Numeric scheme of every projection.
    #[arg(long, value_enum, default_value_t = WeightScheme::F32)]
    pub scheme: WeightScheme,
    /// Tokens streamed (the measured marks are 1, 100, 1,000, 10,000 within them).
    #[arg(long, default_value_t = 10_000)]
    pub tokens: usize,
    /// QEMU board: mps2-an386 (M4F) or mps2-an385 (M3), both with 4 MiB of RAM for the KV
    /// cache.
    #[arg(long, value_enum, default_value = "mps2-an386")]
    pub board: Board,
    /// Series streamed one after the other (their test split): `basicmotions` (default), a
    /// directory with BasicMotions_TRAIN.ts / _TEST.ts, or a `.ts` file.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Keep these channels of the data, in this order. Default: every channel.
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<usize>,
}

/// `mote bench pleas` arguments.
#[derive(Debug, clap::Args)]
pub struct PleasStudyArgs {
    /// Data set (its images must be square: the data-free variant resamples the bundled digits
    /// to their side).
    #[arg(long, default_value = "fashion-mnist")]
    pub data: String,
    /// Hidden widths of the two models.
    #[arg(long, value_delimiter = ',', default_value = "512,512,512")]
    pub hidden: Vec<usize>,
    /// Training epochs of the two models and of the union-trained baselines.
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// Share of each class's training samples sent to the model that favours it (classes of
    /// the lower half of the labels favour A).
    #[arg(long, default_value_t = 0.9)]
    pub skew: f64,
    /// Unlabelled training inputs for the merges' matching and least squares, and for
    /// distillation.
    #[arg(long, default_value_t = 10_000)]
    pub samples: usize,
    /// PLeaS budgets, FLOPs(merged) / FLOPs(one model), each in (0, 2].
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.25,0.5,1.0,1.2,1.5,2.0"
    )]
    pub budgets: Vec<f64>,
    /// Distillation epochs over the unlabelled inputs (the baselines below 1x).
    #[arg(long, default_value_t = 20)]
    pub distill_epochs: usize,
    /// Seed of the split, sampling, training and matching.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Plot of accuracy against budget (.png or .svg).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
}

/// Weight multiply-accumulates of one inference (one token of a stateful model): `in · out` per
/// Dense layer, `n²` per dictionary stage, `rows · cols` per recurrent projection. A
/// Mixture-of-Memories layer counts every memory's projections, though a token runs only its
/// top-k (an upper bound there); attention scores and state updates are not weight MACs.
pub fn weight_macs(model: &mote_core::model::Model<'_>) -> Result<u64> {
    use mote_core::model::Layer;
    let mut n = 0u64;
    for i in 0..model.layer_count() {
        let info = model
            .layer(i)
            .map_err(|e| anyhow::anyhow!("layer {i}: {e}"))?;
        n += match info.layer {
            Layer::DenseF32 { .. }
            | Layer::DenseLmulE4m3 { .. }
            | Layer::DenseLmulE4m3Fixed { .. }
            | Layer::DenseInt8 { .. }
            | Layer::DenseInt8Dynamic { .. }
            | Layer::OrthoDict { .. } => (info.in_len * info.out_len) as u64,
            Layer::Recurrent(r) => {
                let mut m = 0u64;
                for j in 0..r.config().projections() {
                    let l = r.linear(j).map_err(|e| anyhow::anyhow!("layer {i}: {e}"))?;
                    m += (l.rows * l.cols) as u64;
                }
                m
            }
            Layer::Relu
            | Layer::Quantize { .. }
            | Layer::Dequantize { .. }
            | Layer::MeanPool
            | Layer::MinMaxScale { .. }
            | Layer::ResidualSave
            | Layer::ResidualAdd
            | Layer::RmsNorm { .. } => 0,
        };
    }
    Ok(n)
}

/// One board's row of `mote bench model`.
#[derive(Debug, serde::Serialize)]
pub struct ModelBenchRow {
    /// The device run.
    #[serde(flatten)]
    pub report: crate::device::runner::DeviceReport,
    /// Weight MACs per inference or token ([`weight_macs`]).
    pub weight_macs: u64,
    /// Instructions per weight MAC (everything the inference runs, over its weight MACs).
    pub instructions_per_mac: f64,
}

fn with_macs(rows: Vec<crate::device::runner::DeviceReport>, macs: u64) -> Vec<ModelBenchRow> {
    rows.into_iter()
        .map(|report| {
            let per = report.instructions_per_inference.unwrap_or(0) as f64 / macs.max(1) as f64;
            ModelBenchRow {
                report,
                weight_macs: macs,
                instructions_per_mac: per,
            }
        })
        .collect()
}

/// Prints `rows` as JSON, or as the text `render` makes of them.
fn emit<T: serde::Serialize>(
    json: bool,
    rows: &T,
    render: impl FnOnce(&T) -> String,
) -> Result<()> {
    if json {
        crate::output::print_json(rows)
    } else {
        out!("{}", render(rows))?;
        Ok(())
    }
}

/// Runs `mote bench`.
pub fn run(args: &BenchArgs, config: &Config) -> Result<()> {
    let json = args.json;
    match &args.what {
        BenchCommand::Kernels => emit(json, &kernel_counts::kernels(&config.firmware)?, |r| {
            render_kernels(r)
        }),
        BenchCommand::Model {
            model,
            data,
            samples,
            channels,
            file: file_args,
        } => {
            let catalog = config.catalog.with_files(file_args.options(!json));
            let file = AlignedModel::read(model)?;
            let parsed = file
                .parse()
                .map_err(|e| anyhow::anyhow!("{}: {e}", model.display()))?;
            if parsed.is_stateful() {
                return bench_stream_model(config, json, &file, &parsed, data, *samples, channels);
            }
            let test = inputs_for(&parsed, &catalog, data)?.1.take(*samples);
            let host = simulate(&parsed, &test)?;
            let workload = SampleWorkload::new(&test, &host)?;
            let rows = with_macs(
                count_on_both_cores(config, &file, &workload)?,
                weight_macs(&parsed)?,
            );
            emit(json, &rows, |rows| {
                rows.iter()
                    .map(|m| {
                        let r = &m.report;
                        format!(
                            "{:<12} {:<10} {:>10} instructions/inference  {:>8.2}/MAC ({} weight \
                             MACs; outputs identical to host: {})\n",
                            r.board.machine(),
                            r.board.cpu(),
                            r.instructions_per_inference.unwrap_or(0),
                            m.instructions_per_mac,
                            m.weight_macs,
                            r.mismatches == 0
                        )
                    })
                    .collect()
            })
        }
        BenchCommand::Recurrent => {
            emit(json, &cost::tokens(&config.firmware)?, |r| render_tokens(r))
        }
        BenchCommand::Lap { matrix, repeats } => {
            let report = crate::align::lap::timing::bench_file(matrix, *repeats)?;
            emit(json, &report, |r| r.to_string())
        }
        BenchCommand::Prefill {
            tokens,
            chunk,
            repeats,
        } => emit(json, &cost::prefill(*tokens, *chunk, *repeats)?, |r| {
            render_prefill(r, *tokens)
        }),
        BenchCommand::Pleas(a) => run_pleas_study(a, json, config),
        BenchCommand::Linearized(a) => run_linearized(a, json, config),
    }
}

/// `mote bench linearized`.
fn run_linearized(a: &LinearizedBenchArgs, json: bool, config: &Config) -> Result<()> {
    use crate::attention::cost::{cycled_stream, stream_costs};
    use crate::attention::linearize::Target;
    if a.board == Board::Lm3s6965evb {
        anyhow::bail!(
            "--board lm3s6965evb: its 64 KiB of RAM holds no long KV cache; use mps2-an385 (M3) \
             or mps2-an386 (M4F)"
        );
    }
    anyhow::ensure!(
        (1..=mote_core::model::format::MAX_WINDOW).contains(&a.tokens),
        "--tokens {}: the softmax model's KV cache is a window as long as the stream, at most \
         {} tokens in a model file",
        a.tokens,
        mote_core::model::format::MAX_WINDOW
    );
    anyhow::ensure!(!a.to.is_empty(), "--to: name at least one model");
    let model = crate::attention::safetensors::load(&a.model)?;
    let (_, test) = crate::recurrent::streams::load_splits(
        &config.catalog,
        a.data.as_deref(),
        &crate::data::file::FileOptions::default(),
        &a.channels,
    )?;
    anyhow::ensure!(
        test.channels == model.channels,
        "{}: the model takes {} channels per token, the data has {} (choose them with --channels)",
        a.model.display(),
        model.channels,
        test.channels
    );
    let targets: Vec<(String, Target)> = a
        .to
        .iter()
        .map(|m| match m.conversion().map(|to| a.sizes.target(to)) {
            None => (
                "softmax (KV cache)".to_string(),
                Target::Swa { window: a.tokens },
            ),
            Some(t @ Target::Gla) => ("gla".into(), t),
            Some(t @ (Target::Liger { window } | Target::Swa { window })) => {
                (format!("{} w{window}", t.cell().name()), t)
            }
            Some(t @ Target::Mom { memories, top_k }) => (format!("mom {memories} top-{top_k}"), t),
        })
        .collect();
    for (_, t) in &targets {
        t.validate(Some(a.tokens))?;
    }
    let stream = cycled_stream(&test, a.tokens)?;
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(targets.len() as u64)
    };
    let rows = stream_costs(
        &config.firmware,
        a.board,
        &model,
        &targets,
        a.scheme,
        &stream,
        |i, name| {
            bar.set_position(i as u64);
            bar.set_message(format!(
                "{name}: building, then {} tokens under QEMU",
                a.tokens
            ));
        },
    )?;
    bar.finish_and_clear();
    emit(json, &rows, |r| render_stream_costs(r, a.board))
}

/// Renders [`crate::attention::cost::stream_costs`] as Markdown.
pub fn render_stream_costs(rows: &[crate::attention::cost::StreamCost], board: Board) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let marks = &first.count.marks;
    let head = |what: &str| {
        marks
            .iter()
            .map(|m| format!(" {what} {m} |"))
            .collect::<String>()
    };
    let mut s = format!(
        "| {} | flash B |{}{} host = device |\n|---|---|{}---|\n",
        board.machine(),
        head("instr @"),
        head("RAM B @"),
        "---|".repeat(2 * marks.len())
    );
    for r in rows {
        s.push_str(&format!("| {} | {} |", r.model, r.flash_bytes));
        for i in &r.count.instructions {
            s.push_str(&format!(" {i} |"));
        }
        for (st, ram) in r.state_bytes.iter().zip(&r.ram_bytes) {
            s.push_str(&format!(" {ram} (state {st}) |"));
        }
        s.push_str(&format!(" {} |\n", r.count.identical_to_host));
    }
    s
}

/// `mote bench pleas`.
fn run_pleas_study(a: &PleasStudyArgs, json: bool, config: &Config) -> Result<()> {
    use crate::align::pleas_study::{StudyConfig, plot, resampled_images, run_study};
    if let Some(p) = &a.plot {
        crate::output::plot::PlotFormat::of(p)?;
    }
    let (train, test) = config
        .catalog
        .with_files(a.file.options(!json))
        .load(&a.data)?;
    let side = (train.d as f64).sqrt().round() as usize;
    if side * side != train.d {
        anyhow::bail!(
            "{}: the data-free variant resamples square images, but a sample has {} features",
            a.data,
            train.d
        );
    }
    let (digits_train, digits_test) = config.catalog.load("digits")?;
    let digits = crate::data::Dataset {
        features: [digits_train.features, digits_test.features].concat(),
        labels: [digits_train.labels, digits_test.labels].concat(),
        n: digits_train.n + digits_test.n,
        ..digits_train
    };
    let generic = resampled_images(&digits, 8, side)?;
    let cfg = StudyConfig {
        hidden: a.hidden.clone(),
        epochs: a.epochs,
        skew: a.skew,
        samples: a.samples,
        budgets: a.budgets.clone(),
        distill_epochs: a.distill_epochs,
        seed: a.seed,
        progress: !json,
    };
    let study = run_study(&train, &test, &generic, &cfg)?;
    if let Some(p) = &a.plot {
        plot(&study, p)?;
    }
    emit(json, &study, render_pleas_study)
}

/// Renders the PLeaS study as Markdown.
pub fn render_pleas_study(s: &crate::align::pleas_study::Study) -> String {
    let mut out = format!(
        "split: {} (A {} samples, B {}); merges see {} unlabelled training inputs\n\n\
         | model | FLOPs / one model | hidden widths | test accuracy | data | seconds |\n\
         |---|---|---|---|---|---|\n",
        s.split, s.half_sizes.0, s.half_sizes.1, s.config.samples
    );
    for r in &s.rows {
        let data = serde_json::to_value(r.data)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        out += &format!(
            "| {} | {:.3} | {:?} | {:.2}% | {data} | {:.1} |\n",
            r.method,
            r.flops_ratio,
            r.widths,
            100.0 * r.accuracy,
            r.seconds
        );
    }
    let t = s.timing_at_1x;
    out += &format!(
        "\nPLeaS nearest 1x: activations {:.1} s, matching {:.1} s, least squares {:.1} s\n",
        t.activations, t.matching, t.least_squares
    );
    out
}

/// Renders the table as Markdown.
pub fn render_kernels(rows: &[KernelCount]) -> String {
    let mut s = String::from(
        "| kernel (256×256 matvec) | Cortex-M4F (mps2-an386) | Cortex-M3 (mps2-an385) |\n|---|---|---|\n",
    );
    for k in KERNELS {
        let cell = |b: Board| {
            rows.iter()
                .find(|r| r.board == b && r.kernel == k)
                .map(|r| format!("{} ({:.2}/MAC)", r.instructions, r.per_mac))
                .unwrap_or_default()
        };
        s += &format!(
            "| {k} | {} | {} |\n",
            cell(Board::Mps2An386),
            cell(Board::Mps2An385)
        );
    }
    s
}

/// Renders [`tokens`] as Markdown.
pub fn render_tokens(rows: &[TokenCost]) -> String {
    let mut s = String::from(
        "| cell (d=32, 2 heads × 16) | instr @1 | @100 | @1,000 | @10,000 | state RAM @1 | @10,000 |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} B | {} B |\n",
            r.cell,
            r.instructions[0],
            r.instructions[1],
            r.instructions[2],
            r.instructions[3],
            r.state_bytes[0],
            r.state_bytes[3]
        );
    }
    s
}

/// Renders [`prefill`] as Markdown.
pub fn render_prefill(rows: &[PrefillRate], tokens: usize) -> String {
    let mut s = format!(
        "| prefill, {tokens} tokens (d=64, 4 heads × 16) | 1 thread | 2 threads |\n|---|---|---|\n"
    );
    for cell in ["la2", "gated-delta"] {
        for form in ["recurrent", "parallel", "chunked", "chunk-parallel"] {
            let find = |t: usize| {
                rows.iter()
                    .find(|r| r.cell == cell && r.form == form && r.threads == t)
            };
            let rate = |t: usize| find(t).map(|r| format!("{:.0} tok/s", r.tokens_per_s));
            let chunk = find(1).map_or(0, |r| r.chunk);
            let label = if chunk > 0 {
                format!("{cell} {form} (B={chunk})")
            } else {
                format!("{cell} {form}")
            };
            s += &format!(
                "| {label} | {} | {} |\n",
                rate(1).unwrap_or_default(),
                rate(2).unwrap_or_default()
            );
        }
    }
    s
}

/// `mote bench model` of a stateful model: the first `samples` series streamed on the
/// `recurrent` firmware, every token a counted region, every window compared with the host.
fn bench_stream_model(
    config: &Config,
    json: bool,
    file: &AlignedModel,
    parsed: &mote_core::model::Model<'_>,
    data: &str,
    samples: usize,
    channels: &[usize],
) -> Result<()> {
    use crate::recurrent::streams::{StreamWorkload, test_series};
    let (_, mut test) = test_series(&config.catalog, data, channels)?;
    test.series.truncate(samples.max(1));
    let workload = StreamWorkload::from_file(parsed, &test)?;
    let rows = with_macs(
        count_on_both_cores(config, file, &workload)?,
        weight_macs(parsed)?,
    );
    let tokens = test.length;
    emit(json, &rows, |rows| {
        rows.iter()
            .map(|m| {
                let r = &m.report;
                format!(
                    "{:<12} {:<10} {:>10} instructions/token  {:>8.2}/MAC ({} weight MACs; {} series × {tokens} tokens; windows identical to host: {})\n",
                    r.board.machine(),
                    r.board.cpu(),
                    r.instructions_per_inference.unwrap_or(0),
                    m.instructions_per_mac,
                    m.weight_macs,
                    r.samples,
                    r.mismatches == 0
                )
            })
            .collect()
    })
}

/// `workload` on the M4F and the M3 with every result's instructions counted.
fn count_on_both_cores(
    config: &Config,
    file: &AlignedModel,
    workload: &impl crate::device::runner::Workload,
) -> Result<Vec<crate::device::runner::DeviceReport>> {
    [Board::Mps2An386, Board::Lm3s6965evb]
        .into_iter()
        .map(|board| run_on_device(&config.firmware, file.bytes(), workload, board, true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlignedModel;
    use crate::recurrent::synth::synth_model;
    use crate::recurrent::weights::WeightScheme;
    use mote_core::model::CellType;

    #[test]
    fn weight_macs_by_hand() {
        // LA2 stream classifier of `synth_model` (d 8, 2 heads × (d_k 4, d_v 2)): input 8×3,
        // head 4×8, wq 8×8, wo 8×4, wk 8×8, wv 4×8.
        let bytes = synth_model(CellType::La2, WeightScheme::LmulE4m3Fixed, 3).unwrap();
        let file = AlignedModel::new(&bytes);
        let m = file.parse().unwrap();
        assert_eq!(weight_macs(&m).unwrap(), 24 + 32 + 64 + 32 + 64 + 32);
        // Gated delta adds wa, wb (2×8 each) to the memory's projections.
        let bytes = synth_model(CellType::Delta, WeightScheme::F32, 3).unwrap();
        let file = AlignedModel::new(&bytes);
        let m = file.parse().unwrap();
        assert_eq!(weight_macs(&m).unwrap(), 248 + 16 + 16);
    }
}
