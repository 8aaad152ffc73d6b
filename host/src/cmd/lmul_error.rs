//! `mote lmul-error`: L-Mul's error table (SPEC §1.6) against fp8 e4m3/e5m2 multiplication.

use anyhow::Result;

use crate::lmul_table::{ErrorRow, error_table};
use crate::output::out;

/// `mote lmul-error` arguments.
#[derive(Debug, clap::Args)]
pub struct LmulErrorArgs {
    /// Operand pairs to sample.
    #[arg(long, default_value_t = 2_000_000)]
    pub samples: u64,
    /// Seed of the operand generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `mote lmul-error`.
pub fn run(args: &LmulErrorArgs) -> Result<()> {
    let rows = error_table(args.samples, args.seed);
    if args.json {
        crate::output::print_json(&rows)
    } else {
        out!("{}", render(&rows))?;
        Ok(())
    }
}

/// Renders the table as aligned text.
pub fn render(rows: &[ErrorRow]) -> String {
    let mut s = format!("{:<40} {:>10} {:>10}\n", "method", "mean rel", "max rel");
    for r in rows {
        s += &format!("{:<40} {:>10.5} {:>10.5}\n", r.method, r.mean, r.max);
    }
    s
}
