//! `mote bench`: instruction counts under QEMU (kernels, a model file, recurrent cells) and host
//! timings (the assignment solver, recurrent prefill).

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
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Instructions per 256×256 matvec for each kernel on M4F and M3.
    Kernels,
    /// Instructions per inference of a model file on M4F and M3 (first samples of a data set).
    Model {
        /// The model file.
        model: PathBuf,
        /// Data set whose test split feeds the model.
        #[arg(long, default_value = "digits")]
        data: String,
        /// Samples to run.
        #[arg(long, default_value_t = 20)]
        samples: usize,
    },
    /// Recurrent cells: instructions per token at tokens 1/100/1,000/10,000 and state RAM
    /// under QEMU (M4F), next to softmax attention with a growing KV cache.
    Recurrent,
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
        } => {
            let file = AlignedModel::read(model)?;
            let parsed = file
                .parse()
                .map_err(|e| anyhow::anyhow!("{}: {e}", model.display()))?;
            let (_, test) = config.catalog.load(data)?;
            let test = test.take(*samples);
            let host = simulate(&parsed, &test)?;
            let workload = SampleWorkload::new(&test, &host)?;
            let mut rows = Vec::new();
            for board in [Board::Mps2An386, Board::Lm3s6965evb] {
                rows.push(run_on_device(
                    &config.firmware,
                    file.bytes(),
                    &workload,
                    board,
                    true,
                )?);
            }
            emit(json, &rows, |rows| {
                rows.iter()
                    .map(|r| {
                        format!(
                            "{:<12} {:<10} {:>10} instructions/inference  (outputs identical to \
                             host: {})\n",
                            r.board.machine(),
                            r.board.cpu(),
                            r.instructions_per_inference.unwrap_or(0),
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
    }
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
                .map(|r| format!("{} ({:.1}/MAC)", r.instructions, r.per_mac))
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
