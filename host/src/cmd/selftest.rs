//! `mote selftest`: build the L-Mul self-test firmware, run it under QEMU and check every result
//! on the host.

use anyhow::Result;

use super::Config;
use crate::device::Board;
use crate::device::selftest::run_on;
use crate::output::outln;

/// `mote selftest` arguments.
#[derive(Debug, clap::Args)]
pub struct SelftestArgs {
    /// Boards to run on (default: both).
    #[arg(long, value_enum)]
    pub board: Vec<Board>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `mote selftest`.
pub fn run(args: &SelftestArgs, config: &Config) -> Result<()> {
    let boards = if args.board.is_empty() {
        Board::ALL.to_vec()
    } else {
        args.board.clone()
    };
    let mut reports = Vec::new();
    for b in boards {
        let r = run_on(&config.firmware, b)?;
        if !args.json {
            outln!(
                "{} ({}): {} L-Mul cases, {} log lines, all bit-identical to the host",
                b.machine(),
                b.cpu(),
                r.cases,
                r.lines_checked
            )?;
        }
        reports.push(r);
    }
    if args.json {
        crate::output::print_json(&reports)
    } else {
        Ok(())
    }
}
