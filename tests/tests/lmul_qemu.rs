//! The firmware's L-Mul self-test under QEMU, checked bit for bit against mote-core on the host,
//! on the Cortex-M4F (hard float) and the Cortex-M3 (soft float) boards.

use mote_host::device::{Board, Firmware};

fn selftest(board: Board) {
    let report = mote_host::device::selftest::run_on(&Firmware::default(), board)
        .unwrap_or_else(|e| panic!("{e:#}"));
    // 18² + 256 + 256 fp32 cases, (12² + 256)·2 bf16/f16, 2 exhaustive fp8 tables, 8 dots, 1 matvec.
    assert_eq!(report.cases, 324 + 256 + 256 + 800 + 2 * 65_536 + 8 + 1);
    assert_eq!(report.lines_checked, 324 + 256 + 256 + 800 + 2 + 8 + 1);
}

#[test]
fn lmul_selftest_bit_identical_on_cortex_m4f() {
    selftest(Board::Mps2An386);
}

#[test]
fn lmul_selftest_bit_identical_on_cortex_m3_soft_float() {
    selftest(Board::Lm3s6965evb);
}
