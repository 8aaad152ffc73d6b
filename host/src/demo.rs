//! `mote demo`: the tour on bundled data. Each step prints what it did and what it measured.

use anyhow::Result;

use crate::qemu::Board;

/// Runs the demo.
pub fn run() -> Result<()> {
    println!("== 1. L-Mul error (SPEC §1.6), 2,000,000 operand pairs");
    print!(
        "{}",
        crate::lmul_error::render(&crate::lmul_error::error_table(2_000_000, 1))
    );
    println!(
        "\n== 2. L-Mul self-test on the microcontroller (QEMU), checked bit for bit on the host"
    );
    for board in Board::ALL {
        let r = crate::selftest::run_on(board)?;
        println!(
            "{:<12} {:<10} {:>7} cases  bit-identical",
            board.machine(),
            board.cpu(),
            r.cases
        );
    }
    Ok(())
}
