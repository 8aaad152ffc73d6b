//! The firmware's L-Mul self-test (`firmware/src/bin/selftest.rs`), checked on the host: every
//! logged result is recomputed with `mote-core` and must match bit for bit.

use anyhow::{Context, Result, bail};
use mote_core::check::fp8_exhaustive_digest;
use mote_core::lmul::{
    dot_lmul_f32, lmul_bf16, lmul_e4m3, lmul_e5m2, lmul_f16, lmul_f32, lmul_f32_k, matvec_lmul_f32,
};
use serde::Serialize;

use crate::device::qemu::{LogLine, RunOptions, log_numbers};
use crate::device::{Board, Firmware};

/// Outcome of checking one board's self-test log.
#[derive(Clone, Debug, Serialize)]
pub struct SelftestReport {
    /// Board that ran the firmware.
    pub board: Board,
    /// Cases the firmware reported (fp8 exhaustive tables count 65,536 each).
    pub cases: u64,
    /// Log lines checked against the host.
    pub lines_checked: usize,
}

fn f(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// Checks every line of a self-test log; returns the number of cases the firmware claims.
pub fn check_log(log: &[LogLine]) -> Result<(u64, usize)> {
    let mut checked = 0;
    let mut done = None;
    for line in log {
        let (kind, rest) = line.message.split_once(' ').unwrap_or((&line.message, ""));
        let mismatch = |want: u32, got: u32| -> Result<()> {
            if want != got {
                bail!(
                    "mismatch: `{}`: firmware {got:#x}, host {want:#x}",
                    line.message
                );
            }
            Ok(())
        };
        match kind {
            "f32" => {
                let v = log_numbers(rest)?;
                mismatch(lmul_f32(f(v[0]), f(v[1])).to_bits(), v[2])?;
            }
            "f32k" => {
                let v = log_numbers(rest)?;
                mismatch(lmul_f32_k(f(v[1]), f(v[2]), v[0]).to_bits(), v[3])?;
            }
            "bf16" => {
                let v = log_numbers(rest)?;
                mismatch(lmul_bf16(v[0] as u16, v[1] as u16) as u32, v[2])?;
            }
            "f16" => {
                let v = log_numbers(rest)?;
                mismatch(lmul_f16(v[0] as u16, v[1] as u16) as u32, v[2])?;
            }
            "e4m3" | "e5m2" => {
                let v = log_numbers(rest.trim_start_matches("digest"))?;
                let lmul = if kind == "e4m3" { lmul_e4m3 } else { lmul_e5m2 };
                mismatch(fp8_exhaustive_digest(lmul), v[0])?;
            }
            "dot" => {
                let v = log_numbers(rest)?;
                let n = (v.len() - 1) / 2;
                let (x, w) = (
                    v[..n].iter().map(|&b| f(b)).collect::<Vec<_>>(),
                    v[n..2 * n].iter().map(|&b| f(b)).collect::<Vec<_>>(),
                );
                mismatch(dot_lmul_f32(&x, &w).to_bits(), v[2 * n])?;
            }
            "matvec" => {
                let v = log_numbers(rest)?;
                // 64 weights (4×16), 16 inputs, 4 outputs.
                let w: Vec<f32> = v[..64].iter().map(|&b| f(b)).collect();
                let x: Vec<f32> = v[64..80].iter().map(|&b| f(b)).collect();
                let mut y = vec![0.0f32; 4];
                matvec_lmul_f32(&w, &x, &mut y)?;
                for (i, yi) in y.iter().enumerate() {
                    mismatch(yi.to_bits(), v[80 + i])?;
                }
            }
            "selftest" => {
                done = Some(log_numbers(rest.trim_start_matches("done"))?[0] as u64);
                continue;
            }
            _ => bail!("unexpected self-test line `{}`", line.message),
        }
        checked += 1;
    }
    let cases = done.context("the self-test never reported `selftest done` (truncated log?)")?;
    Ok((cases, checked))
}

/// Builds and runs the self-test on `board` and checks it against the host.
pub fn run_on(fw: &Firmware, board: Board) -> Result<SelftestReport> {
    let run = fw.build_and_run(board, "selftest", &[], &RunOptions::default())?;
    let (cases, lines_checked) =
        check_log(&run.log).with_context(|| format!("self-test on {}", board.machine()))?;
    Ok(SelftestReport {
        board,
        cases,
        lines_checked,
    })
}
