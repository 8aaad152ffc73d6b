//! `mote quantize`: a trained MLP (safetensors) into a `.mote` model file.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Config;
use crate::dict::features::DictFeatures;
use crate::model::quantize::{Scheme, quantize_with};
use crate::model::scaling::{InputScaling, inputs_for};
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
    /// A feature model (`mote dict -o`) the model was trained on (`mote train --dict`): its layers
    /// go in front, so the file takes the windows the dictionary takes.
    #[arg(long)]
    pub dict: Option<PathBuf>,
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
    let bytes = crate::input::safetensors(&args.input)?;
    let mlp = Mlp::from_safetensors(&bytes, &args.input)?;
    let scaling = InputScaling::from_safetensors(&bytes, &args.input, mlp.in_dim())?;
    let dict = args.dict.as_deref().map(DictFeatures::read).transpose()?;
    if let (Some(_), Some(d)) = (&scaling, &args.dict) {
        anyhow::bail!(
            "{} was trained on scaled data-file inputs (metadata `{}`), not on the features of \
             {}: train it with `mote train --dict`",
            args.input.display(),
            InputScaling::KEY,
            d.display()
        );
    }
    let catalog = config.catalog.with_files(args.file.options(true));
    let calib = match (&args.calib, &dict) {
        (Some(name), Some(d)) => Some(d.apply(&inputs_for(&d.model()?, &catalog, name)?.0)?),
        (Some(name), None) => Some(catalog.load(name)?.0),
        (None, _) => None,
    };
    let prefix = match (&dict, &scaling) {
        (Some(d), _) => d.layers()?,
        (None, Some(s)) => vec![s.layer()],
        (None, None) => Vec::new(),
    };
    let bytes = quantize_with(&mlp, args.scheme, calib.as_ref(), &prefix)
        .with_context(|| format!("quantizing {}", args.input.display()))?;
    crate::output::write_atomic(&args.output, &bytes)?;
    outln!(
        "wrote {} ({} bytes, scheme {}{})",
        args.output.display(),
        bytes.len(),
        args.scheme.name(),
        match (&args.dict, &scaling) {
            (Some(d), _) => format!("; dictionary features of {} first", d.display()),
            (None, Some(s)) => format!(
                "; takes unscaled inputs: min-max scaling of {} channels from the training data",
                s.min.len()
            ),
            (None, None) => String::new(),
        }
    )?;
    Ok(())
}
