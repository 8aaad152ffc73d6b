//! The one device runner used by every model kind: embed a model file and its inputs in a
//! firmware binary, build it for a board, run it under QEMU, and compare every result the
//! firmware logs with the host simulator's, bit for bit.
//!
//! What differs between model kinds — which firmware binary runs them, what is embedded beside
//! the model, and what one logged result must equal — is a [`Workload`]. The workload carries
//! the host simulator's results, computed once by the caller on the model it already parsed.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::qemu::{self, RunOptions};
use super::{Board, Firmware};

/// One logged result compared with the host's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineCheck {
    /// The device's result equals the host simulator's, bit for bit.
    pub identical: bool,
    /// The device's prediction equals the label.
    pub correct: bool,
    /// For a result that differs: both sides, for the error message.
    pub difference: Option<String>,
}

/// A kind of model run on the device, with the host simulator's results to compare against.
pub trait Workload {
    /// The firmware binary that runs this kind of model (`firmware/src/bin/<bin>.rs`).
    fn bin(&self) -> &'static str;
    /// The prefix of the log lines that carry one result each.
    fn prefix(&self) -> &'static str;
    /// The samples blob embedded beside the model (`MOTE_SAMPLES`, docs/samples-format.md).
    fn samples_blob(&self) -> Result<Vec<u8>>;
    /// How many result lines the firmware must log.
    fn results(&self) -> usize;
    /// The host simulator's accuracy on the same inputs.
    fn host_accuracy(&self) -> f64;
    /// Compares one logged result (prefix removed) with the host's.
    fn check(&self, line: &str) -> Result<LineCheck>;
}

/// Outcome of a device run.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceReport {
    /// Board.
    pub board: Board,
    /// The firmware binary that ran.
    pub firmware: &'static str,
    /// Results (samples or streamed windows) the device reported.
    pub samples: usize,
    /// Device accuracy.
    pub accuracy: f64,
    /// Host-simulator accuracy on the same inputs.
    pub host_accuracy: f64,
    /// Results whose bits differ from the host (0 is the contract).
    pub mismatches: usize,
    /// The first differing result, both sides.
    pub first_mismatch: Option<String>,
    /// Instructions per result (mean over the results), counted by the QEMU plugin.
    pub instructions_per_inference: Option<u64>,
}

/// Prefix of the temporary directories of device runs: `mote-device-<pid>-<random>`.
const RUN_DIR_PREFIX: &str = "mote-device-";

/// Removes the device-run directories in `tmp` whose process no longer exists (left by a kill).
/// Best effort: a directory that cannot be read or removed is left alone.
fn sweep_dead_run_dirs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(RUN_DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if !alive && e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Builds `workload`'s firmware with `model` and the workload's samples embedded, runs it on
/// `board`, and compares each logged result with the host's. With `count`, also counts the
/// instructions of each result (TCG plugin).
pub fn run_on_device(
    fw: &Firmware,
    model: &[u8],
    workload: &impl Workload,
    board: Board,
    count: bool,
) -> Result<DeviceReport> {
    let bin = workload.bin();
    // Removed with its contents when dropped, whatever happens below; a SIGKILL skips the drop,
    // so the directory is named by our PID and the next run removes those of dead processes.
    sweep_dead_run_dirs(&std::env::temp_dir());
    let dir = tempfile::Builder::new()
        .prefix(&format!("{RUN_DIR_PREFIX}{}-", std::process::id()))
        .tempdir()
        .context("creating a temporary directory")?;
    let model_path = dir.path().join("model.mote");
    let samples_path = dir.path().join("samples.bin");
    std::fs::write(&model_path, model)
        .with_context(|| format!("writing {}", model_path.display()))?;
    std::fs::write(&samples_path, workload.samples_blob()?)
        .with_context(|| format!("writing {}", samples_path.display()))?;
    let env: [(&str, &Path); 2] = [("MOTE_MODEL", &model_path), ("MOTE_SAMPLES", &samples_path)];
    let elf = fw.build(board, bin, &env)?;
    let (run, regions) = if count {
        let (run, regions) = fw.count_regions(&elf, board)?;
        (run, Some(regions))
    } else {
        (qemu::run(&elf, board, &RunOptions::default())?, None)
    };
    run.ensure_success(bin, board)?;
    let (mut seen, mut correct, mut mismatches) = (0, 0, 0);
    let mut first_mismatch = None;
    for line in run.messages(workload.prefix()) {
        let c = workload.check(line)?;
        seen += 1;
        correct += usize::from(c.correct);
        if !c.identical {
            mismatches += 1;
            first_mismatch = first_mismatch.or(c.difference);
        }
    }
    if seen != workload.results() {
        bail!(
            "firmware `{bin}` on {} reported {seen} of {} results",
            board.machine(),
            workload.results()
        );
    }
    let instructions_per_inference = regions.map(|r| r.iter().sum::<u64>() / r.len().max(1) as u64);
    Ok(DeviceReport {
        board,
        firmware: bin,
        samples: seen,
        accuracy: correct as f64 / seen.max(1) as f64,
        host_accuracy: workload.host_accuracy(),
        mismatches,
        first_mismatch,
        instructions_per_inference,
    })
}

#[cfg(test)]
mod sweep_tests {
    use super::*;

    #[test]
    fn directories_of_dead_runs_are_swept_and_live_ones_kept() {
        let tmp = tempfile::tempdir().expect("tmp");
        // PID 0x7ffffffe is above Linux's pid_max limit: never alive.
        let dead = tmp.path().join(format!("{RUN_DIR_PREFIX}2147483646-abc"));
        let live = tmp
            .path()
            .join(format!("{RUN_DIR_PREFIX}{}-def", std::process::id()));
        let other = tmp.path().join("mote-device-notapid");
        for d in [&dead, &live, &other] {
            std::fs::create_dir_all(d.join("sub")).expect("dir");
            std::fs::write(d.join("sub/model.mote"), b"x").expect("file");
        }
        sweep_dead_run_dirs(tmp.path());
        assert!(!dead.exists() && live.exists() && other.exists());
    }
}
