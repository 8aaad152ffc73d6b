//! The trained classifier on the firmware under QEMU, checked bit for bit against the host
//! simulator (the same `mote-core` executor on the same `.mote` file on the host).

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Serialize;

use super::classifier::{OwnedModel, argmax, samples_blob, stream_series, to_mote};
use super::weights::WeightScheme;
use crate::data::basicmotions::Dataset;
use crate::qemu::{self, Board, RunOptions};
use crate::quantize::AlignedModel;

/// Outcome of [`run_on_device`].
#[derive(Clone, Debug, Serialize)]
pub struct DeviceReport {
    /// Board.
    pub board: Board,
    /// Weight scheme.
    pub scheme: WeightScheme,
    /// Windows streamed.
    pub series: usize,
    /// Tokens streamed in total.
    pub tokens: usize,
    /// Accuracy of the firmware's predictions.
    pub device_accuracy: f64,
    /// Recurrent state plus running sum and count, in `f32` values (the model file's
    /// `state_f32`; constant in the stream length).
    pub state_floats: usize,
}

/// Writes the model file and the test windows, builds the `recurrent` firmware with them,
/// streams every window of `test` token by token and compares each window's per-token output
/// digest and logit bits with the host simulator on the same file. The host simulator's logits
/// are in turn checked against the direct cell API (`StreamClassifier`) bit for bit.
pub fn run_on_device(board: Board, model: &OwnedModel, test: &Dataset) -> Result<DeviceReport> {
    let bytes = to_mote(model)?;
    let file = AlignedModel::new(&bytes);
    let parsed = file.parse().map_err(|e| anyhow!("{e}"))?;
    let dir = std::env::temp_dir().join(format!("mote-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tag = format!("{}-{}", model.scheme.name(), board.machine());
    let model_path = dir.join(format!("{tag}.mote"));
    let samples_path = dir.join(format!("{tag}.bin"));
    crate::output::write_atomic(&model_path, &bytes)?;
    crate::output::write_atomic(&samples_path, &samples_blob(test)?)?;
    let run = qemu::build_and_run(
        board,
        "recurrent",
        &[
            ("MOTE_MODEL", model_path.as_path()),
            ("MOTE_SAMPLES", samples_path.as_path()),
        ],
        &RunOptions::default(),
    );
    let _ = std::fs::remove_file(&model_path);
    let _ = std::fs::remove_file(&samples_path);
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
        let (logits, digest) = stream_series(&parsed, &s.values)?;
        let (direct, _) = model.run_series(&s.values)?;
        let bits = |v: &[f32]| v.iter().map(|l| l.to_bits()).collect::<Vec<_>>();
        ensure!(
            bits(&logits) == bits(&direct),
            "window {i}: the model file's executor and StreamClassifier differ"
        );
        let want = format!(
            "{i} label {} pred {} digest {digest} logits [{}]",
            s.label,
            argmax(&logits),
            bits(&logits)
                .iter()
                .map(u32::to_string)
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
        state_floats: parsed.ram().state_f32,
    })
}
