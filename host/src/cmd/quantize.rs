//! `mote quantize`: a trained MLP (safetensors) into a `.mote` model file.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Config;
use crate::model::quantize::{Scheme, quantize};
use crate::nn::Mlp;
use crate::output::outln;

/// `mote quantize` arguments.
#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    /// The trained model.
    pub input: PathBuf,
    /// Numeric scheme.
    #[arg(long, value_enum)]
    pub scheme: Scheme,
    /// Calibration data set (its training split), required for int8.
    #[arg(long)]
    pub calib: Option<String>,
    /// Output model file (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
}

/// Runs `mote quantize`.
pub fn run(args: &QuantizeArgs, config: &Config) -> Result<()> {
    crate::output::claim_stdout_for_output(&args.output, false)?;
    let mlp = Mlp::load(&args.input)?;
    let calib = match &args.calib {
        Some(name) => Some(
            config
                .catalog
                .with_files(args.file.options(true))
                .load(name)?
                .0,
        ),
        None => None,
    };
    let bytes = quantize(&mlp, args.scheme, calib.as_ref())
        .with_context(|| format!("quantizing {}", args.input.display()))?;
    crate::output::write_atomic(&args.output, &bytes)?;
    outln!(
        "wrote {} ({} bytes, scheme {})",
        args.output.display(),
        bytes.len(),
        args.scheme.name()
    )?;
    Ok(())
}
