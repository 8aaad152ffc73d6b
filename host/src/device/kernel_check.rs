//! The firmware's int8 kernel check (`firmware/src/bin/kernel_check.rs`), verified on the host:
//! for every [`Int8Case`] the device ran its architecture's kernel (SMLAD asm on the M4F, the
//! four-row scalar path on the M3); the host recomputes the accumulators and the requantized
//! outputs with the scalar reference and compares the digests bit for bit.

use anyhow::{Context, Result, bail};
use mote_core::check::{Fnv1a, INT8_CASES, Int8Case};
use mote_core::kernels::{Int8Dense, QuantMultiplier, int8};
use serde::Serialize;

use crate::device::qemu::{LogLine, RunOptions, log_numbers};
use crate::device::{Board, Firmware};

/// Outcome of one board's kernel check.
#[derive(Clone, Debug, Serialize)]
pub struct KernelCheckReport {
    /// Board that ran the firmware.
    pub board: Board,
    /// Cases checked bit for bit against the host's reference.
    pub cases: u32,
}

/// The reference digests of case `i`: accumulators and `Int8Dense` outputs, as the firmware
/// computes them.
pub fn reference_digests(i: u32) -> Result<(u32, u32)> {
    let c = Int8Case::nth(i);
    let (rows, cols) = (c.rows, c.cols);
    let mut w = vec![0i8; rows * cols];
    let mut x = vec![0i8; cols];
    let mut bias = vec![0i32; rows];
    let mut mult = vec![QuantMultiplier::default(); rows];
    c.fill(&mut w, &mut x, &mut bias, &mut mult);
    let mut h = Fnv1a::default();
    int8::matvec_reference(&w, rows, &x, c.zp, |_, a| h.word(a as u32))?;
    let layer = Int8Dense {
        weights: &w,
        bias: &bias,
        multipliers: &mult,
        input_zero_point: c.zp,
        output_zero_point: (c.seed % 11) as i32 - 5,
        relu: c.seed.is_multiple_of(3),
    };
    let mut y = vec![0i8; rows];
    layer.run_reference(&x, &mut y)?;
    let mut hy = Fnv1a::default();
    y.iter().for_each(|&v| hy.word(v as u32));
    Ok((h.0, hy.0))
}

/// Checks a kernel-check log; returns the number of cases verified.
pub fn check_log(log: &[LogLine]) -> Result<u32> {
    let mut next = 0u32;
    let mut done = false;
    for line in log {
        let (kind, rest) = line.message.split_once(' ').unwrap_or((&line.message, ""));
        match kind {
            "int8" => {
                let v = log_numbers(rest)?;
                let [i, acc, out, same] = v[..] else {
                    bail!("malformed line `{}`", line.message);
                };
                if i != next {
                    bail!("case {i} logged where case {next} was due");
                }
                let (want_acc, want_out) = reference_digests(i)?;
                if (acc, out, same) != (want_acc, want_out, 1) {
                    bail!(
                        "case {i} ({:?}): device accumulators {acc:#x} outputs {out:#x} \
                         (equal to its own reference: {}), host {want_acc:#x} {want_out:#x}",
                        Int8Case::nth(i),
                        same == 1
                    );
                }
                next += 1;
            }
            "kernel_check" => {
                let v = log_numbers(rest.trim_start_matches("done"))?;
                if v != [INT8_CASES, 0] {
                    bail!("`{}`: expected {INT8_CASES} cases, 0 failed", line.message);
                }
                done = true;
            }
            _ => bail!("unexpected kernel-check line `{}`", line.message),
        }
    }
    if !done || next != INT8_CASES {
        bail!("the kernel check stopped after {next} of {INT8_CASES} cases (truncated log?)");
    }
    Ok(next)
}

/// Builds and runs the kernel check on `board` (an MPS2 board: it needs 64 KiB of weights) and
/// verifies it against the host.
pub fn run_on(fw: &Firmware, board: Board) -> Result<KernelCheckReport> {
    let run = fw.build_and_run(board, "kernel_check", &[], &RunOptions::default())?;
    let cases =
        check_log(&run.log).with_context(|| format!("kernel check on {}", board.machine()))?;
    Ok(KernelCheckReport { board, cases })
}
