//! The int8 kernels of each architecture on the device (SMLAD asm on the Cortex-M4F, the
//! four-row scalar path on the Cortex-M3), checked bit for bit against the scalar reference on
//! the host, over every case of `mote_core::check::Int8Case`.

use mote_core::check::INT8_CASES;
use mote_host::device::{Board, Firmware};

fn check(board: Board) {
    let report = mote_host::device::kernel_check::run_on(&Firmware::default(), board)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(report.cases, INT8_CASES);
}

#[test]
fn int8_kernels_bit_identical_on_cortex_m4f_dsp() {
    check(Board::Mps2An386);
}

#[test]
fn int8_kernels_bit_identical_on_cortex_m3() {
    check(Board::Mps2An385);
}
