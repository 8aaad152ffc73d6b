//! Command-line interface: the global flags, the subcommands, and dispatch to `cmd`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::cmd::analyze::AnalyzeArgs;
use crate::cmd::attention_train::AttentionTrainArgs;
use crate::cmd::barrier::BarrierArgs;
use crate::cmd::bench::BenchArgs;
use crate::cmd::dict::DictArgs;
use crate::cmd::inspect::InspectArgs;
use crate::cmd::linearize::LinearizeArgs;
use crate::cmd::lmul_error::LmulErrorArgs;
use crate::cmd::r#match::MatchArgs;
use crate::cmd::merge::MergeArgs;
use crate::cmd::plugin::PluginCommand;
use crate::cmd::quantize::QuantizeArgs;
use crate::cmd::recurrent_synth::RecurrentSynthArgs;
use crate::cmd::recurrent_train::RecurrentTrainArgs;
use crate::cmd::run::RunArgs;
use crate::cmd::selftest::SelftestArgs;
use crate::cmd::train::TrainArgs;
use crate::cmd::{self, Config};
use crate::data::Catalog;
use crate::device::Firmware;

/// mote: prepare small neural models on the desktop, run them bit-exact on Cortex-M.
#[derive(Debug, Parser)]
#[command(name = "mote", version, about)]
pub struct Cli {
    /// Where mote's files are.
    #[command(flatten)]
    pub paths: GlobalArgs,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes: where mote's shipped files are, and measurement settings.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// mote's data directory (bundled ECG and Daphnet streams) [default: `data/` found beside
    /// the executable, under `../share/mote/`, or in the source tree].
    #[arg(long, global = true, env = "MOTE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Directory of the Fashion-MNIST IDX files [default: /usr/share/datasets/fashion-mnist,
    /// Debian's `dataset-fashion-mnist`].
    #[arg(
        long,
        global = true,
        env = "MOTE_FASHION_MNIST_DIR",
        value_name = "DIR"
    )]
    pub fashion_mnist_dir: Option<PathBuf>,
    /// The firmware's cargo project, built for every model run on a board [default: `firmware/`
    /// found like the data directory].
    #[arg(long, global = true, env = "MOTE_FIRMWARE_DIR", value_name = "DIR")]
    pub firmware_dir: Option<PathBuf>,
    /// QEMU timeout of instruction-counting runs, in seconds.
    #[arg(
        long,
        global = true,
        env = "MOTE_QEMU_BENCH_TIMEOUT_S",
        value_name = "SECONDS",
        default_value_t = crate::device::firmware::BENCH_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub qemu_bench_timeout: u64,
    /// C compiler of the QEMU instruction-counting plugin [default: gcc].
    #[arg(long, global = true, env = "CC", value_name = "PATH")]
    pub cc: Option<PathBuf>,
}

impl GlobalArgs {
    /// The configuration the commands run with.
    pub fn config(&self) -> Config {
        Config {
            catalog: Catalog::new(self.data_dir.clone(), self.fashion_mnist_dir.clone()),
            firmware: Firmware::new(
                self.firmware_dir.clone(),
                Duration::from_secs(self.qemu_bench_timeout),
                self.cc.clone(),
            ),
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the end-to-end demo on the bundled data.
    Demo,
    /// Print L-Mul's error table (SPEC §1.6) against fp8 e4m3/e5m2 multiplication.
    LmulError(LmulErrorArgs),
    /// Benchmarks (instruction counts under QEMU, host timings).
    Bench(BenchArgs),
    /// Quantize a trained MLP (safetensors, PyTorch nn.Sequential names) into a .mote model file.
    Quantize(QuantizeArgs),
    /// Describe a .mote model file: layers, shapes, schemes, flash and RAM bytes.
    Inspect(InspectArgs),
    /// Run a .mote model file on a data set's test split in the host simulator (mote-core itself).
    Run(RunArgs),
    /// Online orthogonal dictionary learning (SPEC §4): synthetic experiment or a real stream.
    Dict(DictArgs),
    /// Build the L-Mul self-test firmware, run it under QEMU and check every result on the host.
    Selftest(SelftestArgs),
    /// Sandboxed WebAssembly merge rules: inspect, merge with, benchmark.
    Plugin {
        /// The plugin subcommand.
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Train an MLP (minibatch Adam, cross-entropy) and save it as safetensors.
    Train(TrainArgs),
    /// Data files: `inspect` prints what mote reads from a CSV, TSV, .npz, .npy, .ts or IDX file.
    Data {
        /// The data subcommand.
        #[command(subcommand)]
        command: crate::cmd::data::DataCommand,
    },
    /// The sensor application for a model: build it for a board, run it under QEMU on a replayed
    /// sensor (checked bit for bit against the host), flash it to a micro:bit v2.
    Firmware {
        /// The firmware subcommand.
        #[command(subcommand)]
        command: crate::cmd::firmware::FirmwareCommand,
    },
    /// Align model B to model A (weight matching, activation matching or STE) and save the permuted B.
    Match(MatchArgs),
    /// Merge models: average after alignment (merge-many for three or more), or PLeaS into any width.
    Merge(MergeArgs),
    /// Loss and accuracy along the linear path A -> B, naive and aligned, and the LMC barrier.
    Barrier(BarrierArgs),
    /// N models aligned to the first: distances, singular values, singular-vector alignment, merges, barriers.
    Analyze(AnalyzeArgs),
    /// Train the recurrent BasicMotions classifier, report float and simulated accuracy per
    /// weight scheme, write it as a `.mote` file, optionally check it bit for bit under QEMU.
    RecurrentTrain(RecurrentTrainArgs),
    /// Write a random-weight `.mote` stream classifier for every recurrent cell type and weight
    /// scheme (fuzzing seeds, examples).
    RecurrentSynth(RecurrentSynthArgs),
    /// Train the softmax-attention stream classifier (RoPE, 1-4 blocks, mean pool, head) and
    /// save it as safetensors with PyTorch key names (q_proj, k_proj, v_proj, o_proj, ...).
    AttentionTrain(AttentionTrainArgs),
    /// Convert a softmax-attention classifier into a constant-memory recurrent .mote model (GLA,
    /// Liger Attention, MoM; SPEC §5.3), optionally LoRA fine-tuned, with accuracies.
    Linearize(LinearizeArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let config = cli.paths.config();
    match cli.command {
        Command::Demo => cmd::demo::run(&config),
        Command::LmulError(args) => cmd::lmul_error::run(&args),
        Command::Bench(args) => cmd::bench::run(&args, &config),
        Command::Quantize(args) => cmd::quantize::run(&args, &config),
        Command::Inspect(args) => cmd::inspect::run(&args),
        Command::Run(args) => cmd::run::run(&args, &config),
        Command::Dict(args) => cmd::dict::run(args, &config),
        Command::Selftest(args) => cmd::selftest::run(&args, &config),
        Command::Plugin { command } => cmd::plugin::run(command),
        Command::Train(args) => cmd::train::run(&args, &config),
        Command::Data { command } => cmd::data::run(&command),
        Command::Firmware { command } => cmd::firmware::run(&command, &config),
        Command::Match(args) => cmd::r#match::run(&args, &config),
        Command::Merge(args) => cmd::merge::run(&args, &config),
        Command::Barrier(args) => cmd::barrier::run(&args, &config),
        Command::Analyze(args) => cmd::analyze::run(&args, &config),
        Command::RecurrentTrain(args) => cmd::recurrent_train::run(&args, &config),
        Command::RecurrentSynth(args) => cmd::recurrent_synth::run(&args),
        Command::AttentionTrain(args) => cmd::attention_train::run(&args, &config),
        Command::Linearize(args) => cmd::linearize::run(&args, &config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::bench::BenchCommand;
    use crate::device::Board;

    #[test]
    fn every_command_line_definition_is_consistent() {
        // clap's own checks of the whole tree (flag clashes between flattened argument groups).
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn parses_subcommands() {
        let cli = Cli::try_parse_from(["mote", "lmul-error", "--json", "--samples", "10"])
            .expect("parses");
        assert!(matches!(
            cli.command,
            Command::LmulError(LmulErrorArgs {
                json: true,
                samples: 10,
                ..
            })
        ));
        let cli =
            Cli::try_parse_from(["mote", "selftest", "--board", "lm3s6965evb"]).expect("parses");
        assert!(matches!(cli.command, Command::Selftest(ref a) if a.board == [Board::Lm3s6965evb]));
        assert!(Cli::try_parse_from(["mote", "selftest", "--board", "nope"]).is_err());
        // Global flags go anywhere; a bad timeout is refused by the parser, not ignored.
        let cli = Cli::try_parse_from(["mote", "inspect", "m.mote", "--qemu-bench-timeout", "5"])
            .expect("parses");
        assert_eq!(cli.paths.qemu_bench_timeout, 5);
        for bad in ["0", "soon", "-3"] {
            assert!(
                Cli::try_parse_from(["mote", "--qemu-bench-timeout", bad, "demo"]).is_err(),
                "{bad}"
            );
        }
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
        let cli = Cli::try_parse_from([
            "mote",
            "recurrent-train",
            "--d-model",
            "32",
            "--heads",
            "4",
            "--head-dim",
            "4",
        ])
        .expect("parses");
        assert!(matches!(
            cli.command,
            Command::RecurrentTrain(ref a) if (a.d_model, a.heads, a.head_dim) == (32, 4, 4)
        ));
        let cli =
            Cli::try_parse_from(["mote", "recurrent-synth", "--out-dir", "seeds"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::RecurrentSynth(ref a) if a.out_dir == std::path::Path::new("seeds") && a.seed == 1
        ));
        let cli = Cli::try_parse_from([
            "mote",
            "linearize",
            "att.safetensors",
            "--to",
            "liger",
            "--window",
            "32",
            "--finetune",
            "lora:8",
            "-o",
            "l.mote",
        ])
        .expect("parses");
        assert!(matches!(
            cli.command,
            Command::Linearize(ref a) if a.to == crate::cmd::linearize::To::Liger
                && a.sizes.window == 32 && a.finetune.as_deref() == Some("lora:8")
                && a.steps == 200 && a.model == std::path::Path::new("att.safetensors")
        ));
        assert!(Cli::try_parse_from(["mote", "linearize", "m", "--to", "lstm"]).is_err());
        let cli = Cli::try_parse_from([
            "mote",
            "attention-train",
            "--mixer",
            "gla",
            "--blocks",
            "2",
            "-o",
            "a.safetensors",
        ])
        .expect("parses");
        assert!(matches!(
            cli.command,
            Command::AttentionTrain(ref a) if a.mixer == crate::cmd::attention_train::MixerArg::Gla
                && a.blocks == 2 && a.epochs == 300
        ));
        let cli = Cli::try_parse_from(["mote", "bench", "prefill", "--tokens", "512", "--json"])
            .expect("parses");
        assert!(matches!(
            cli.command,
            Command::Bench(BenchArgs {
                what: BenchCommand::Prefill { tokens: 512, .. },
                json: true
            })
        ));
    }
}
