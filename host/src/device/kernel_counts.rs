//! `mote bench kernels`: instructions per 256×256 matvec under QEMU, per kernel and board,
//! counted by the TCG plugin `tools/insncount.c` (README, "Benchmarks"; CMSIS-NN is counted
//! the same way by `bench/cmsis-nn/run.sh`).

use anyhow::{Result, bail};
use serde::Serialize;

use crate::device::{Board, Firmware};

/// Kernels of `firmware/src/bin/bench.rs`, in the order they run.
pub const KERNELS: [&str; 5] = ["lmul-f32", "f32", "lmul-e4m3", "lmul-e4m3-fixed", "int8"];

/// Instruction count of one kernel on one board.
#[derive(Clone, Debug, Serialize)]
pub struct KernelCount {
    /// Board.
    pub board: Board,
    /// Kernel name.
    pub kernel: &'static str,
    /// Instructions for one 256×256 matvec.
    pub instructions: u64,
    /// Instructions per multiply-accumulate.
    pub per_mac: f64,
}

/// Builds and runs the kernel benchmark on the M4F (mps2-an386) and M3 (mps2-an385) boards.
pub fn kernels(fw: &Firmware) -> Result<Vec<KernelCount>> {
    let mut out = Vec::new();
    for board in [Board::Mps2An386, Board::Mps2An385] {
        let elf = fw.build(board, "bench", &[])?;
        let (_, regions) = fw.count_regions(&elf, board)?;
        if regions.len() != KERNELS.len() {
            bail!(
                "expected {} measured regions on {}, got {}",
                KERNELS.len(),
                board.machine(),
                regions.len()
            );
        }
        for (kernel, n) in KERNELS.into_iter().zip(regions) {
            out.push(KernelCount {
                board,
                kernel,
                instructions: n,
                per_mac: n as f64 / 65_536.0,
            });
        }
    }
    Ok(out)
}
