//! `mote train`: train an MLP on a data set and save it as safetensors.

use anyhow::Result;

use super::Config;

use crate::nn::train::{TrainConfig, evaluate, train_mlp};
use crate::output::outln;

/// Model families `mote train` can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// Linear → ReLU → … → Linear.
    Mlp,
}

/// `mote train` arguments.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Model family.
    #[arg(long, value_enum, default_value_t = Arch::Mlp)]
    pub arch: Arch,
    /// Hidden widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,512,512")]
    pub hidden: Vec<usize>,
    /// Data set: a bundled name (digits, fashion-mnist, basicmotions) or a file (CSV, TSV, .npz,
    /// .ts, IDX; see the data-file flags).
    #[arg(long)]
    pub data: String,
    /// Seed of initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = positive_lr)]
    pub lr: f64,
    /// Output model (safetensors, PyTorch `nn.Sequential` names).
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
}

/// A learning rate must be a positive finite number: a negative one trains uphill.
fn positive_lr(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(lr) if lr.is_finite() && lr > 0.0 => Ok(lr),
        Ok(lr) => Err(format!("{lr} is not a positive learning rate")),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `mote train`.
pub fn run(args: &TrainArgs, config: &Config) -> Result<()> {
    crate::output::claim_stdout_for_output(&args.output, args.json)?;
    let (train, test) = config
        .catalog
        .with_files(args.file.options(true))
        .load(&args.data)?;
    let cfg = TrainConfig {
        hidden: args.hidden.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        seed: args.seed,
        progress: !args.json,
    };
    let start = std::time::Instant::now();
    let model = train_mlp(&cfg, &train)?;
    let seconds = start.elapsed().as_secs_f64();
    let (tr, te) = (evaluate(&model, &train)?, evaluate(&model, &test)?);
    model.save(&args.output)?;
    if args.json {
        return crate::output::print_json(&serde_json::json!({
            "config": cfg,
            "data": args.data,
            "widths": model.widths(),
            "seconds": seconds,
            "train": tr,
            "test": te,
            "output": args.output.display().to_string(),
        }));
    }
    outln!(
        "{:?} in {seconds:.1} s; train loss {:.4} acc {:.2}%; test loss {:.4} acc {:.2}%; wrote {}",
        model.widths(),
        tr.loss,
        tr.accuracy * 100.0,
        te.loss,
        te.accuracy * 100.0,
        args.output.display()
    )?;
    Ok(())
}
