//! The trained classifier on the firmware under QEMU, checked bit for bit against the host
//! simulator (the same `mote-core` code on the host).

use anyhow::{Context, Result, bail, ensure};
use serde::Serialize;

use super::classifier::{OwnedModel, argmax, write_blob};
use super::weights::Scheme;
use crate::data::basicmotions::Dataset;
use crate::qemu::{self, Board, RunOptions};

/// Outcome of [`run_on_device`].
#[derive(Clone, Debug, Serialize)]
pub struct DeviceReport {
    /// Board.
    pub board: Board,
    /// Weight scheme.
    pub scheme: Scheme,
    /// Windows streamed.
    pub series: usize,
    /// Tokens streamed in total.
    pub tokens: usize,
    /// Accuracy of the firmware's predictions.
    pub device_accuracy: f64,
    /// Recurrent state plus running sum, in `f32` values (constant in the stream length).
    pub state_floats: usize,
}

/// Writes the blob, builds the `recurrent` firmware with it, streams every window of `test` and
/// compares each window's per-token output digest and logit bits with the host simulator.
pub fn run_on_device(board: Board, model: &OwnedModel, test: &Dataset) -> Result<DeviceReport> {
    let dir = std::env::temp_dir().join(format!("mote-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let blob = dir.join(format!("{:?}-{}.bin", model.scheme, board.machine()));
    write_blob(&blob, model, test.channels, test)?;
    let run = qemu::build_and_run(
        board,
        "recurrent",
        &[("MOTE_REC_BLOB", blob.as_path())],
        &RunOptions::default(),
    );
    let _ = std::fs::remove_file(&blob);
    let _ = std::fs::remove_dir(&dir);
    let run = run?;
    let lines: Vec<&str> = run.messages("series ").collect();
    ensure!(
        lines.len() == test.series.len(),
        "firmware logged {} windows, expected {}",
        lines.len(),
        test.series.len()
    );
    let mut correct = 0;
    for (i, (line, s)) in lines.iter().zip(&test.series).enumerate() {
        let (logits, digest) = model.run_series(&s.values)?;
        let want = format!(
            "{i} label {} pred {} digest {digest} logits [{}]",
            s.label,
            argmax(&logits),
            logits
                .iter()
                .map(|l| l.to_bits().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if *line != want {
            bail!(
                "{} window {i}: firmware and host differ\n  firmware: series {line}\n  host:     series {want}",
                board.machine()
            );
        }
        correct += usize::from(argmax(&logits) == s.label);
    }
    Ok(DeviceReport {
        board,
        scheme: model.scheme,
        series: test.series.len(),
        tokens: test.series.len() * test.length,
        device_accuracy: correct as f64 / test.series.len() as f64,
        state_floats: model.classifier()?.state_len(),
    })
}
