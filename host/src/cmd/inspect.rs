//! `mote inspect`: describe a `.mote` model file.

use std::path::PathBuf;

use anyhow::Result;

use crate::model::AlignedModel;
use crate::model::inspect::{Inspection, inspect};
use crate::output::out;

/// `mote inspect` arguments.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The model file.
    pub model: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `mote inspect`.
pub fn run(args: &InspectArgs) -> Result<()> {
    let file = AlignedModel::read(&args.model)?;
    let parsed = file
        .parse()
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.model.display()))?;
    let x = inspect(&parsed)?;
    if args.json {
        crate::output::print_json(&x)
    } else {
        out!("{}", render(&x))?;
        Ok(())
    }
}

/// Renders an inspection as text.
pub fn render(x: &Inspection) -> String {
    let mut s = format!("mote model file v{}\n", x.version);
    s += &format!(
        "{:>3}  {:<20} {:>7} {:>7} {:>12} {:>11}\n",
        "#", "layer", "in", "out", "weight bytes", "state bytes"
    );
    for l in &x.layers {
        s += &format!(
            "{:>3}  {:<20} {:>7} {:>7} {:>12} {:>11}\n",
            l.index, l.layer, l.in_len, l.out_len, l.weight_bytes, l.state_bytes
        );
        if let Some(r) = &l.recurrent {
            s += &format!("     {}\n", r.render());
        }
    }
    s += &format!(
        "flash: {} bytes   RAM: {} bytes (f32 arena {} × 4, int8 arena {}, state {} × 4)\n",
        x.flash_bytes, x.ram_bytes, x.arena_f32, x.arena_i8, x.state_f32
    );
    s
}
