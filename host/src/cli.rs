//! Command-line interface: argument definitions and dispatch to one module per subcommand.

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::qemu::Board;

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
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Instructions per 256×256 matvec for each kernel on M4F and M3.
    Kernels,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo => crate::demo::run(),
        Command::Dict(args) => crate::dict::run(args),
        Command::Train(args) => crate::train::run(&args),
        Command::Match(args) => crate::rebasin::run_match(&args),
        Command::Merge(args) => crate::merge::run(&args),
        Command::Barrier(args) => crate::barrier::run(&args),
        Command::Analyze(args) => crate::analyze::run(&args),
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
    }
}
