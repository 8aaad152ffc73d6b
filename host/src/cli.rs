//! Command-line interface: argument definitions and dispatch to one module per subcommand.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::qemu::Board;
use crate::quantize::Scheme;

/// mote: prepare small neural models on the desktop, run them bit-exact on Cortex-M.
#[derive(Debug, Parser)]
#[command(name = "mote", version, about)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the end-to-end demo on the bundled data.
    Demo,
    /// Print L-Mul's error table (SPEC §1.6) against fp8 e4m3/e5m2 multiplication.
    LmulError {
        /// Operand pairs to sample.
        #[arg(long, default_value_t = 2_000_000)]
        samples: u64,
        /// Seed of the operand generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks (instruction counts under QEMU).
    Bench {
        /// What to benchmark.
        #[command(subcommand)]
        what: BenchCommand,
        /// Machine-readable output.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Quantize a trained MLP (safetensors, PyTorch nn.Sequential names) into a .mote model file.
    Quantize {
        /// The trained model.
        input: PathBuf,
        /// Numeric scheme.
        #[arg(long, value_enum)]
        scheme: Scheme,
        /// Calibration data set (its training split), required for int8.
        #[arg(long)]
        calib: Option<String>,
        /// Output model file (written atomically).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Describe a .mote model file: layers, shapes, schemes, flash and RAM bytes.
    Inspect {
        /// The model file.
        model: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run a .mote model file on a data set's test split in the host simulator (mote-core itself).
    Run {
        /// The model file.
        model: PathBuf,
        /// Data set name (e.g. digits, fashion-mnist).
        #[arg(long)]
        data: String,
        /// Also run on this board under QEMU and compare every output bit for bit.
        #[arg(long, value_enum)]
        device: Option<Board>,
        /// Machine-readable output (includes per-sample outputs).
        #[arg(long)]
        json: bool,
    },
    /// Online orthogonal dictionary learning (SPEC §4): synthetic experiment or a real stream.
    Dict(crate::dict::DictArgs),
    /// Build the L-Mul self-test firmware, run it under QEMU and check every result on the host.
    Selftest {
        /// Boards to run on (default: both).
        #[arg(long, value_enum)]
        board: Vec<Board>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Sandboxed WebAssembly merge rules: inspect, merge with, benchmark.
    Plugin {
        /// The plugin subcommand.
        #[command(subcommand)]
        command: crate::plugin::cmd::PluginCommand,
    },
    /// Train an MLP (minibatch Adam, cross-entropy) and save it as safetensors.
    Train(crate::train::TrainArgs),
    /// Align model B to model A (weight or activation matching) and save the permuted B.
    Match(crate::rebasin::MatchArgs),
    /// Average two or more models after aligning them (merge-many for three or more).
    Merge(crate::merge::MergeArgs),
    /// Loss and accuracy along the linear path A -> B, naive and aligned, and the LMC barrier.
    Barrier(crate::barrier::BarrierArgs),
    /// Distances, singular values and singular-vector alignment before/after weight matching.
    Analyze(crate::analyze::AnalyzeArgs),
    /// Train the recurrent BasicMotions classifier, report float and simulated accuracy per
    /// weight scheme, write it as a `.mote` file, optionally check it bit for bit under QEMU.
    RecurrentTrain(crate::recurrent::train_cmd::TrainArgs),
    /// Write a random-weight `.mote` stream classifier for every recurrent cell type and weight
    /// scheme (fuzzing seeds, examples).
    RecurrentSynth(crate::recurrent::synth::SynthArgs),
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
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

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo => crate::demo::run(),
        Command::Plugin { command } => crate::plugin::cmd::run(command),
        Command::Dict(args) => crate::dict::run(args),
        Command::Train(args) => crate::train::run(&args),
        Command::Match(args) => crate::rebasin::run_match(&args),
        Command::Merge(args) => crate::merge::run(&args),
        Command::Barrier(args) => crate::barrier::run(&args),
        Command::Analyze(args) => crate::analyze::run(&args),
        Command::RecurrentTrain(args) => crate::recurrent::train_cmd::run(&args),
        Command::RecurrentSynth(args) => crate::recurrent::synth::run(&args),
        Command::LmulError {
            samples,
            seed,
            json,
        } => {
            let rows = crate::lmul_error::error_table(samples, seed);
            if json {
                crate::output::print_json(&rows)
            } else {
                print!("{}", crate::lmul_error::render(&rows));
                Ok(())
            }
        }
        Command::Bench {
            what:
                BenchCommand::Model {
                    model,
                    data,
                    samples,
                },
            json,
        } => {
            let file = crate::quantize::AlignedModel::read(&model)?;
            let (_, test) = crate::data::load(&data)?;
            let test = test.take(samples);
            let mut rows = Vec::new();
            for board in [Board::Mps2An386, Board::Lm3s6965evb] {
                rows.push(crate::device::run_on_device(
                    file.bytes(),
                    &test,
                    board,
                    true,
                )?);
            }
            if json {
                return crate::output::print_json(&rows);
            }
            for r in rows {
                println!(
                    "{:<12} {:<10} {:>10} instructions/inference  (outputs identical to host: {})",
                    r.board.machine(),
                    r.board.cpu(),
                    r.instructions_per_inference.unwrap_or(0),
                    r.mismatches == 0
                );
            }
            Ok(())
        }
        Command::Bench {
            what: BenchCommand::Kernels,
            json,
        } => {
            let rows = crate::bench::kernels()?;
            if json {
                crate::output::print_json(&rows)
            } else {
                print!("{}", crate::bench::render(&rows));
                Ok(())
            }
        }
        Command::Quantize {
            input,
            scheme,
            calib,
            output,
        } => {
            let mlp = crate::mlp::Mlp::load(&input)?;
            let calib = match &calib {
                Some(name) => Some(crate::data::load(name)?.0),
                None => None,
            };
            let bytes = crate::quantize::quantize(&mlp, scheme, calib.as_ref())
                .with_context(|| format!("quantizing {}", input.display()))?;
            crate::output::write_atomic(&output, &bytes)?;
            println!(
                "wrote {} ({} bytes, scheme {})",
                output.display(),
                bytes.len(),
                scheme.name()
            );
            Ok(())
        }
        Command::Inspect { model, json } => {
            let file = crate::quantize::AlignedModel::read(&model)?;
            let parsed = file
                .parse()
                .map_err(|e| anyhow::anyhow!("{}: {e}", model.display()))?;
            let x = crate::quantize::inspect(&parsed)?;
            if json {
                crate::output::print_json(&x)
            } else {
                print!("{}", crate::quantize::render_inspection(&x));
                Ok(())
            }
        }
        Command::Run {
            model,
            data,
            device,
            json,
        } => {
            let file = crate::quantize::AlignedModel::read(&model)?;
            let parsed = file
                .parse()
                .map_err(|e| anyhow::anyhow!("{}: {e}", model.display()))?;
            let (_, test) = crate::data::load(&data)?;
            let report = crate::quantize::simulate(&parsed, &test)?;
            let dev = match device {
                Some(board) => Some(crate::device::run_on_device(
                    file.bytes(),
                    &test,
                    board,
                    false,
                )?),
                None => None,
            };
            if json {
                return crate::output::print_json(
                    &serde_json::json!({ "host": report, "device": dev }),
                );
            }
            println!(
                "{}: {} samples of {data} (test split), accuracy {:.2}% (host simulator)",
                model.display(),
                report.samples,
                100.0 * report.accuracy
            );
            if let Some(d) = dev {
                println!(
                    "{} ({}): accuracy {:.2}%, {} of {} outputs differ from the host",
                    d.board.machine(),
                    d.board.cpu(),
                    100.0 * d.accuracy,
                    d.mismatches,
                    d.samples
                );
                if d.mismatches > 0 {
                    anyhow::bail!("device outputs differ from the host simulator");
                }
            }
            Ok(())
        }
        Command::Bench {
            what: BenchCommand::Lap { matrix, repeats },
            json,
        } => {
            let report = crate::lap::bench_file(&matrix, repeats)?;
            if json {
                crate::output::print_json(&report)
            } else {
                print!("{report}");
                Ok(())
            }
        }
        Command::Bench {
            what: BenchCommand::Recurrent,
            json,
        } => {
            let rows = crate::recurrent::bench::tokens()?;
            if json {
                crate::output::print_json(&rows)
            } else {
                print!("{}", crate::recurrent::bench::render_tokens(&rows));
                Ok(())
            }
        }
        Command::Bench {
            what:
                BenchCommand::Prefill {
                    tokens,
                    chunk,
                    repeats,
                },
            json,
        } => {
            let rows = crate::recurrent::bench::prefill(tokens, chunk, repeats)?;
            if json {
                crate::output::print_json(&rows)
            } else {
                print!("{}", crate::recurrent::bench::render_prefill(&rows, tokens));
                Ok(())
            }
        }
        Command::Selftest { board, json } => {
            let boards = if board.is_empty() {
                Board::ALL.to_vec()
            } else {
                board
            };
            let mut reports = Vec::new();
            for b in boards {
                let r = crate::selftest::run_on(b)?;
                if !json {
                    println!(
                        "{} ({}): {} L-Mul cases, {} log lines, all bit-identical to the host",
                        b.machine(),
                        b.cpu(),
                        r.cases,
                        r.lines_checked
                    );
                }
                reports.push(r);
            }
            if json {
                crate::output::print_json(&reports)
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subcommands() {
        let cli = Cli::try_parse_from(["mote", "lmul-error", "--json", "--samples", "10"])
            .expect("parses");
        assert!(matches!(
            cli.command,
            Command::LmulError {
                json: true,
                samples: 10,
                ..
            }
        ));
        let cli =
            Cli::try_parse_from(["mote", "selftest", "--board", "lm3s6965evb"]).expect("parses");
        assert!(
            matches!(cli.command, Command::Selftest { ref board, .. } if board == &[Board::Lm3s6965evb])
        );
        assert!(Cli::try_parse_from(["mote", "selftest", "--board", "nope"]).is_err());
        let cli = Cli::try_parse_from([
            "mote",
            "recurrent-train",
            "--scheme",
            "lmul-e4m3",
            "--qemu",
            "mps2-an386",
        ])
        .expect("parses");
        assert!(matches!(
            cli.command,
            Command::RecurrentTrain(ref a) if a.scheme == crate::recurrent::weights::WeightScheme::LmulE4m3
                && a.qemu == [Board::Mps2An386] && a.epochs == 300
        ));
        let cli = Cli::try_parse_from([
            "mote",
            "recurrent-train",
            "--scheme",
            "int8-dynamic",
            "-o",
            "rec.mote",
            "--samples",
            "w.bin",
        ])
        .expect("parses");
        assert!(matches!(
            cli.command,
            Command::RecurrentTrain(ref a)
                if a.scheme == crate::recurrent::weights::WeightScheme::Int8Dynamic
                && a.out.as_deref() == Some(std::path::Path::new("rec.mote"))
                && a.samples.as_deref() == Some(std::path::Path::new("w.bin"))
        ));
        assert!(Cli::try_parse_from(["mote", "recurrent-train", "--scheme", "int8"]).is_err());
        let cli =
            Cli::try_parse_from(["mote", "recurrent-synth", "--out-dir", "seeds"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::RecurrentSynth(ref a) if a.out_dir == std::path::Path::new("seeds") && a.seed == 1
        ));
        let cli = Cli::try_parse_from(["mote", "bench", "prefill", "--tokens", "512", "--json"])
            .expect("parses");
        assert!(matches!(
            cli.command,
            Command::Bench {
                what: BenchCommand::Prefill { tokens: 512, .. },
                json: true
            }
        ));
    }
}
