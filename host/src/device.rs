//! Runs a model file on the firmware under QEMU (`firmware/src/bin/infer.rs`) and compares every
//! output with the host simulator, bit for bit.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::data::Dataset;
use crate::qemu::{self, Board, RunOptions};
use crate::quantize::{AlignedModel, samples_blob, simulate};

/// Outcome of a device run.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceReport {
    /// Board.
    pub board: Board,
    /// Samples run on the device.
    pub samples: usize,
    /// Device accuracy.
    pub accuracy: f64,
    /// Host-simulator accuracy on the same samples.
    pub host_accuracy: f64,
    /// Outputs whose bits differ from the host (0 is the contract).
    pub mismatches: usize,
    /// Instructions per inference (mean over the samples), counted by the QEMU plugin.
    pub instructions_per_inference: Option<u64>,
}

/// Builds the `infer` firmware with `model` and `data` embedded, runs it on `board`, and compares
/// each output vector with the host simulator. With `count`, also counts instructions per
/// inference (TCG plugin).
pub fn run_on_device(
    model: &[u8],
    data: &Dataset,
    board: Board,
    count: bool,
) -> Result<DeviceReport> {
    let aligned = AlignedModel::new(model);
    let parsed = aligned.parse().map_err(|e| anyhow::anyhow!("model: {e}"))?;
    let host = simulate(&parsed, data)?;
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let model_path = dir.path().join("model.mote");
    let samples_path = dir.path().join("samples.bin");
    std::fs::write(&model_path, model)
        .with_context(|| format!("writing {}", model_path.display()))?;
    std::fs::write(&samples_path, samples_blob(data))
        .with_context(|| format!("writing {}", samples_path.display()))?;
    let env: [(&str, &Path); 2] = [("MOTE_MODEL", &model_path), ("MOTE_SAMPLES", &samples_path)];
    let elf = qemu::build_firmware(board, "infer", &env)?;
    let (run, regions) = if count {
        let (run, regions) = qemu::count_regions(&elf, board)?;
        (run, Some(regions))
    } else {
        (qemu::run(&elf, board, &RunOptions::default())?, None)
    };
    if run.exit_code != 0 {
        let tail: Vec<&str> = run
            .log
            .iter()
            .rev()
            .take(5)
            .map(|l| l.message.as_str())
            .collect();
        bail!(
            "firmware on {} exited with {}: {:?} {}",
            board.machine(),
            run.exit_code,
            tail,
            run.stderr.trim()
        );
    }
    let mut mismatches = 0;
    let mut seen = 0;
    let mut correct = 0;
    for line in run.messages("out ") {
        let nums = qemu::log_numbers(line)?;
        let (i, pred) = (nums[0] as usize, nums[1] as usize);
        let want = host
            .outputs
            .get(i)
            .with_context(|| format!("device reported sample {i}"))?;
        let bits = &nums[2..];
        let host_bits: Vec<u32> = want.output.iter().map(|v| v.to_bits()).collect();
        if bits != host_bits.as_slice() || pred != want.pred {
            mismatches += 1;
        }
        if pred == want.label as usize {
            correct += 1;
        }
        seen += 1;
    }
    if seen != data.n {
        bail!("the device reported {seen} of {} samples", data.n);
    }
    let instructions_per_inference = regions.map(|r| r.iter().sum::<u64>() / r.len().max(1) as u64);
    Ok(DeviceReport {
        board,
        samples: seen,
        accuracy: correct as f64 / seen.max(1) as f64,
        host_accuracy: host.accuracy,
        mismatches,
        instructions_per_inference,
    })
}
