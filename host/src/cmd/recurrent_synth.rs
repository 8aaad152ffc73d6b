//! `mote recurrent-synth`: write a random-weight `.mote` stream classifier for every recurrent
//! cell type and weight scheme (fuzzing seeds, examples for `mote inspect`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use mote_core::model::CellType;

use crate::output::outln;
use crate::recurrent::synth::synth_model;
use crate::recurrent::weights::WeightScheme;

/// Arguments of `mote recurrent-synth`.
#[derive(Debug, clap::Args)]
pub struct RecurrentSynthArgs {
    /// Directory to write `<cell>-<scheme>.mote` into (created if missing).
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
}

/// Runs `mote recurrent-synth`.
pub fn run(args: &RecurrentSynthArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;
    for cell in CellType::ALL {
        for scheme in WeightScheme::ALL {
            let bytes = synth_model(cell, scheme, args.seed)?;
            let path = args
                .out_dir
                .join(format!("{}-{}.mote", cell.name(), scheme.name()));
            crate::output::write_atomic(&path, &bytes)?;
            outln!("wrote {} ({} bytes)", path.display(), bytes.len())?;
        }
    }
    Ok(())
}
