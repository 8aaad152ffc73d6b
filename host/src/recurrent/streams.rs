//! The recurrent classifier on the `recurrent` firmware: every test window streamed token by
//! token, its per-token output digest and final logits logged as
//! `series <i> label <l> pred <p> digest <d> logits [<bits>...]` and compared with the host
//! simulator (the same `mote-core` executor on the same `.mote` file).

use anyhow::{Context, Result, anyhow, bail, ensure};
use mote_core::model::Model;

use mote_core::kernels::argmax;

use super::classifier::{OwnedModel, samples_blob, stream_series, to_mote};
use crate::data::basicmotions::SeriesSet;
use crate::device::runner::{self, DeviceReport, LineCheck, Workload};
use crate::device::{Board, Firmware};
use crate::model::AlignedModel;
use crate::recurrent::weights::WeightScheme;

/// The windows of a test set and the host's logged line for each.
pub struct StreamWorkload<'a> {
    test: &'a SeriesSet,
    /// What the firmware must log for each window (prefix removed).
    want: Vec<String>,
    correct: Vec<bool>,
}

impl<'a> StreamWorkload<'a> {
    /// Streams every window of `test` through the parsed model file on the host. The file's
    /// logits are in turn checked against the direct cell API (`StreamClassifier` of `model`,
    /// the model the file was written from) bit for bit.
    pub fn new(model: &OwnedModel, parsed: &Model<'_>, test: &'a SeriesSet) -> Result<Self> {
        for (i, s) in test.series.iter().enumerate() {
            let (logits, _) = stream_series(parsed, &s.values)?;
            let (direct, _) = model.run_series(&s.values)?;
            let bits = |v: &[f32]| v.iter().map(|l| l.to_bits()).collect::<Vec<_>>();
            ensure!(
                bits(&logits) == bits(&direct),
                "window {i}: the model file's executor and StreamClassifier differ"
            );
        }
        Self::from_file(parsed, test)
    }

    /// Streams every window of `test` through a model file on the host (any stateful model
    /// whose input is the series' channels), for the firmware to match.
    pub fn from_file(parsed: &Model<'_>, test: &'a SeriesSet) -> Result<Self> {
        ensure!(
            parsed.input_len() == test.channels,
            "the model takes {} inputs per token; the series have {} channels (choose them with --channels)",
            parsed.input_len(),
            test.channels
        );
        let mut want = Vec::with_capacity(test.series.len());
        let mut correct = Vec::with_capacity(test.series.len());
        for (i, s) in test.series.iter().enumerate() {
            let (logits, digest) = stream_series(parsed, &s.values)?;
            let bits = |v: &[f32]| v.iter().map(|l| l.to_bits()).collect::<Vec<_>>();
            let pred = argmax(&logits);
            want.push(format!(
                "{i} label {} pred {pred} digest {digest} logits [{}]",
                s.label,
                bits(&logits)
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            correct.push(pred == s.label);
        }
        Ok(Self {
            test,
            want,
            correct,
        })
    }
}

impl Workload for StreamWorkload<'_> {
    fn bin(&self) -> &'static str {
        "recurrent"
    }

    fn prefix(&self) -> &'static str {
        "series "
    }

    fn samples_blob(&self) -> Result<Vec<u8>> {
        samples_blob(self.test)
    }

    fn results(&self) -> usize {
        self.test.series.len()
    }

    fn host_accuracy(&self) -> f64 {
        let n = self.correct.iter().filter(|&&c| c).count();
        n as f64 / self.correct.len().max(1) as f64
    }

    fn check(&self, line: &str) -> Result<LineCheck> {
        let i: usize = line
            .split(' ')
            .next()
            .and_then(|t| t.parse().ok())
            .with_context(|| format!("device line {line:?}: no window index"))?;
        let want = self
            .want
            .get(i)
            .ok_or_else(|| anyhow!("device reported window {i} of {}", self.want.len()))?;
        let identical = line == want;
        // The device's prediction counts only where its line is the host's: a differing line
        // is a mismatch, and the prediction it carries is not trusted.
        Ok(LineCheck {
            identical,
            correct: identical && self.correct[i],
            difference: (!identical).then(|| {
                format!("window {i}\n  firmware: series {line}\n  host:     series {want}")
            }),
        })
    }
}

/// One firmware run of the classifier in one scheme.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeviceRun {
    /// Weight scheme.
    pub scheme: WeightScheme,
    /// Tokens streamed in total.
    pub tokens: usize,
    /// Recurrent state plus running sum and count, in `f32` values (the model file's
    /// `state_f32`; constant in the stream length).
    pub state_floats: usize,
    /// The comparison with the host simulator.
    #[serde(flatten)]
    pub report: DeviceReport,
}

/// Writes `model` as a `.mote` file, streams every window of `test` on `board` and fails unless
/// every window's per-token digest and logits are the host simulator's, bit for bit.
pub fn run_on_device(
    fw: &Firmware,
    board: Board,
    model: &OwnedModel,
    test: &SeriesSet,
) -> Result<DeviceRun> {
    let bytes = to_mote(model)?;
    let file = AlignedModel::new(&bytes);
    let parsed = file.parse().map_err(|e| anyhow!("{e}"))?;
    let workload = StreamWorkload::new(model, &parsed, test)?;
    run_workload(fw, board, &file, model.scheme, &workload)
}

/// [`run_on_device`] for any stateful model file whose input is the series' channels (e.g. a
/// GLA or Liger classifier), checked against the host simulator of the file.
pub fn run_file_on_device(
    fw: &Firmware,
    board: Board,
    bytes: &[u8],
    scheme: WeightScheme,
    test: &SeriesSet,
) -> Result<DeviceRun> {
    let file = AlignedModel::new(bytes);
    let parsed = file.parse().map_err(|e| anyhow!("{e}"))?;
    let workload = StreamWorkload::from_file(&parsed, test)?;
    run_workload(fw, board, &file, scheme, &workload)
}

fn run_workload(
    fw: &Firmware,
    board: Board,
    file: &AlignedModel,
    scheme: WeightScheme,
    workload: &StreamWorkload<'_>,
) -> Result<DeviceRun> {
    let parsed = file.parse().map_err(|e| anyhow!("{e}"))?;
    let report = runner::run_on_device(fw, file.bytes(), workload, board, false)?;
    if let Some(d) = &report.first_mismatch {
        bail!(
            "{} ({}): firmware and host differ in {} of {} windows; first: {d}",
            board.machine(),
            scheme.name(),
            report.mismatches,
            report.samples
        );
    }
    Ok(DeviceRun {
        scheme,
        tokens: workload.test.series.len() * workload.test.length,
        state_floats: parsed.ram().state_f32,
        report,
    })
}

/// The test series a stateful model is run on by `mote run` and `mote bench model`: `data` is
/// `basicmotions` (the bundled test file) or a `.ts` file, with only `channels` kept (all when
/// empty). Returns the file read and its series.
pub fn test_series(
    catalog: &crate::data::Catalog,
    data: &str,
    channels: &[usize],
) -> Result<(std::path::PathBuf, SeriesSet)> {
    let path = if data == "basicmotions" {
        catalog
            .data_dir()?
            .join("basicmotions/BasicMotions_TEST.ts")
    } else if data.ends_with(".ts") {
        std::path::PathBuf::from(data)
    } else {
        bail!(
            "the model keeps state between tokens and runs on streams: --data basicmotions or a \
             .ts file of series (one token per sample)"
        );
    };
    let mut test = crate::data::basicmotions::load(&path)?;
    if !channels.is_empty() {
        test = test.select_channels(channels)?;
    }
    Ok((path, test))
}

/// The train and test series of a stream task: `data` is `None` or `basicmotions` (the bundled
/// BasicMotions split), a directory holding `BasicMotions_TRAIN.ts` and `BasicMotions_TEST.ts`,
/// `mqar:LENGTH[:PAIRS]` (synthetic associative recall, [`crate::attention::mqar`]; each series
/// labelled with its last token's answer, its other queries left out), or a data file (a
/// `.ts` archive, or a recording cut into series as `opts` says); then only `channels` are kept
/// (all when empty).
pub fn load_splits(
    catalog: &crate::data::Catalog,
    data: Option<&std::path::Path>,
    opts: &crate::data::file::FileOptions,
    channels: &[usize],
) -> Result<(SeriesSet, SeriesSet)> {
    if let Some(cfg) = data
        .and_then(|d| d.to_str())
        .and_then(crate::attention::mqar::parse_spec)
    {
        let (train, test) = crate::attention::mqar::splits(&cfg?)?;
        let (mut train, mut test) = (train.streams, test.streams);
        if !channels.is_empty() {
            train = train.select_channels(channels)?;
            test = test.select_channels(channels)?;
        }
        return Ok((train, test));
    }
    let dir = match data {
        Some(d) if d.as_os_str() != "basicmotions" => d.to_path_buf(),
        _ => catalog.data_dir()?.join("basicmotions"),
    };
    let (mut train, mut test) = if dir.is_file() {
        let (train, test, _) = crate::data::file::load_series(&dir, opts)?;
        (train, test)
    } else {
        (
            crate::data::basicmotions::load(&dir.join("BasicMotions_TRAIN.ts"))?,
            crate::data::basicmotions::load(&dir.join("BasicMotions_TEST.ts"))?,
        )
    };
    if !channels.is_empty() {
        train = train.select_channels(channels)?;
        test = test.select_channels(channels)?;
    }
    Ok((train, test))
}
