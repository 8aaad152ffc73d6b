//! Learning from a real stream in one pass (overlapping windows), and the top-k reconstruction
//! RMSE of held-out windows for the learned dictionary and the DCT-II basis.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use mote_core::dict::{OnlineOdl, OrthoDict, StepRule, dct_basis};
use serde::Serialize;

use super::{DataKind, with_n};
use crate::data::{Catalog, Dataset};

/// How a real stream is cut and learned from. The firmware (`firmware/src/bin/dict.rs`) logs the
/// same fields and the host recomputes its run with them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StreamConfig {
    /// Window length = dictionary size.
    pub n: usize,
    /// Windows per update.
    pub batch: usize,
    /// Samples between the starts of consecutive training windows.
    pub hop: usize,
    /// Coefficients kept for the RMSE.
    pub k: usize,
    /// Samples `[0, train_end)` train; non-overlapping windows of `[train_end, len)` test.
    pub train_end: usize,
    /// Evaluate the test RMSE every this many updates (and at the end).
    pub checkpoint_every: usize,
    /// Seed of the initial dictionary.
    pub seed: u32,
}

/// One evaluation during learning.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Checkpoint {
    /// Updates done.
    pub iteration: u32,
    /// Test RMSE with the top-k code of the current dictionary.
    pub rmse: f32,
}

/// The outcome of learning from a stream, as the firmware also computes it.
#[derive(Clone, Debug)]
pub struct StreamRun {
    /// Test RMSE checkpoints.
    pub checkpoints: Vec<Checkpoint>,
    /// The final dictionary (row-major).
    pub atoms: Vec<f32>,
    /// Wall time spent in `update` (s).
    pub update_secs: f64,
    /// Updates done.
    pub updates: usize,
}

/// Top-k test RMSE of `dict` on the non-overlapping windows of `test`:
/// `sqrt(mean over windows and samples of (x − x̂)²)`. Accumulates the per-window mean squares in
/// f32, in window order, exactly as the firmware does.
pub fn test_rmse(dict: &OrthoDict<'_>, test: &[f32], k: usize) -> Result<f32> {
    let n = dict.n();
    let mut scratch = vec![0.0f32; 2 * n];
    let mut sum = 0.0f32;
    let mut count = 0u32;
    for w in test.chunks_exact(n) {
        let r = dict.anomaly_score(w, k, &mut scratch)?;
        sum += r * r;
        count += 1;
    }
    if count == 0 {
        bail!("no test window of {n} samples");
    }
    Ok(libm::sqrtf(sum / count as f32))
}

fn learn_stream_n<const N: usize>(signal: &[f32], cfg: &StreamConfig) -> Result<StreamRun> {
    let mut learner = OnlineOdl::<N>::new(StepRule::NoncvxSfw, cfg.seed);
    let test = &signal[cfg.train_end..];
    let mut batch = vec![0.0f32; N * cfg.batch];
    let mut filled = 0;
    let mut checkpoints = Vec::new();
    let mut update_secs = 0.0;
    let mut start = 0;
    while start + N <= cfg.train_end {
        batch[filled * N..(filled + 1) * N].copy_from_slice(&signal[start..start + N]);
        filled += 1;
        start += cfg.hop;
        if filled == cfg.batch {
            filled = 0;
            let t0 = Instant::now();
            learner.update(&batch)?;
            update_secs += t0.elapsed().as_secs_f64();
            let t = learner.iterations();
            if (t as usize).is_multiple_of(cfg.checkpoint_every) {
                checkpoints.push(Checkpoint {
                    iteration: t,
                    rmse: test_rmse(&learner.dictionary(), test, cfg.k)?,
                });
            }
        }
    }
    let t = learner.iterations();
    if checkpoints.last().map(|c| c.iteration) != Some(t) {
        checkpoints.push(Checkpoint {
            iteration: t,
            rmse: test_rmse(&learner.dictionary(), test, cfg.k)?,
        });
    }
    Ok(StreamRun {
        checkpoints,
        atoms: learner.atoms().to_vec(),
        update_secs,
        updates: t as usize,
    })
}

/// Learns a dictionary from `signal[..train_end]` in one streaming pass (NoncvxSFW).
pub fn learn_stream(signal: &[f32], cfg: &StreamConfig) -> Result<StreamRun> {
    if cfg.batch == 0 || cfg.hop == 0 || cfg.checkpoint_every == 0 {
        bail!("batch, hop and checkpoint interval must be at least 1");
    }
    if cfg.k > cfg.n {
        bail!("--k {} exceeds the window size {}", cfg.k, cfg.n);
    }
    if cfg.train_end > signal.len() || cfg.train_end < cfg.n * cfg.batch {
        bail!(
            "the training part ({} samples) is shorter than one mini-batch of {}×{}",
            cfg.train_end,
            cfg.batch,
            cfg.n
        );
    }
    if signal.len() - cfg.train_end < cfg.n {
        bail!("the test part has no whole window of {} samples", cfg.n);
    }
    with_n!(cfg.n, learn_stream_n(signal, cfg))
}

/// Everything `mote dict --data ecg|daphnet|FILE` computes.
#[derive(Clone, Debug, Serialize)]
pub struct StreamReport {
    /// Data set (`ecg`, `daphnet`, or the file's path).
    pub data: String,
    /// Source file.
    pub path: PathBuf,
    /// Signal unit.
    pub unit: &'static str,
    /// Settings.
    pub config: StreamConfig,
    /// Updates (mini-batches) learned from.
    pub updates: usize,
    /// Test windows.
    pub test_windows: usize,
    /// Mean wall time of one update (µs).
    pub us_per_update: f64,
    /// RMS of the test signal (the error of keeping no coefficient).
    pub test_rms: f32,
    /// Test RMSE with the learned dictionary, top-k.
    pub rmse_learned: f32,
    /// Test RMSE with the DCT-II basis, top-k.
    pub rmse_dct: f32,
    /// RMSE against k = 1..=n for the learned dictionary.
    pub rmse_vs_k_learned: Vec<f32>,
    /// RMSE against k = 1..=n for the DCT.
    pub rmse_vs_k_dct: Vec<f32>,
    /// Learning curve.
    pub checkpoints: Vec<Checkpoint>,
    /// Largest |A Aᵀ − I| entry of the learned dictionary.
    pub orthogonality_defect: f32,
}

/// Loads a real data set's signal.
pub fn load_signal(catalog: &Catalog, data: DataKind) -> Result<(PathBuf, Vec<f32>, &'static str)> {
    match data {
        DataKind::Ecg => {
            let p = crate::data::ecg::path_in(&catalog.data_dir()?);
            let s = crate::data::ecg::load_mv(&p)?;
            Ok((p, s, "mV"))
        }
        DataKind::Daphnet => {
            let p = crate::data::daphnet::path_in(&catalog.data_dir()?);
            let s = crate::data::daphnet::load_channel(&p, "ankle_vert")?;
            Ok((p, s, "g"))
        }
        DataKind::Synthetic => bail!("the synthetic data set has no stored signal"),
    }
}

/// Default stream settings for a signal of `len` samples: the first 80 % trains.
pub fn default_stream_config(
    len: usize,
    n: usize,
    batch: usize,
    hop: Option<usize>,
    k: Option<usize>,
) -> StreamConfig {
    StreamConfig {
        n,
        batch,
        hop: hop.unwrap_or((n / 4).max(1)),
        k: k.unwrap_or((n / 8).max(1)),
        train_end: len / 5 * 4,
        checkpoint_every: 100,
        seed: 1,
    }
}

/// Runs the real-data experiment.
pub fn stream(catalog: &Catalog, data: DataKind, cfg: &StreamConfig) -> Result<StreamReport> {
    let (path, signal, unit) = load_signal(catalog, data)?;
    let name = format!("{data:?}").to_lowercase();
    stream_signal(name, path, &signal, unit, cfg).map(|(r, _)| r)
}

/// The settings that make [`learn_stream`] learn from a data file's rows: each row (a sample,
/// or a `--window` of a recording, channel-major) is one window, the training rows in order, then
/// the test rows as the held-out windows.
pub fn rows_config(train: &Dataset, batch: usize, k: Option<usize>, seed: u32) -> StreamConfig {
    let n = train.d;
    StreamConfig {
        n,
        batch,
        hop: n,
        k: k.unwrap_or((n / 8).max(1)),
        train_end: train.n * n,
        checkpoint_every: 100,
        seed,
    }
}

/// The experiment on `signal` (named `data`, read from `path`, in `unit`); also returns the
/// learned atoms.
pub fn stream_signal(
    data: String,
    path: PathBuf,
    signal: &[f32],
    unit: &'static str,
    cfg: &StreamConfig,
) -> Result<(StreamReport, Vec<f32>)> {
    let run = learn_stream(signal, cfg)?;
    let test = &signal[cfg.train_end..];
    let n = cfg.n;
    let learned = OrthoDict::new(n, &run.atoms)?;
    let mut dct = vec![0.0; n * n];
    dct_basis(n, &mut dct)?;
    let dct = OrthoDict::new(n, &dct)?;
    let windows = test.len() / n;
    let test_rms =
        libm::sqrtf(test[..windows * n].iter().map(|v| v * v).sum::<f32>() / (windows * n) as f32);
    let vs_k = |d: &OrthoDict<'_>| -> Result<Vec<f32>> {
        (1..=n).map(|k| test_rmse(d, test, k)).collect()
    };
    let report = StreamReport {
        data,
        path,
        unit,
        config: cfg.clone(),
        updates: run.updates,
        test_windows: windows,
        us_per_update: run.update_secs * 1e6 / run.updates.max(1) as f64,
        test_rms,
        rmse_learned: test_rmse(&learned, test, cfg.k)?,
        rmse_dct: test_rmse(&dct, test, cfg.k)?,
        rmse_vs_k_learned: vs_k(&learned)?,
        rmse_vs_k_dct: vs_k(&dct)?,
        checkpoints: run.checkpoints.clone(),
        orthogonality_defect: learned.orthogonality_defect(),
    };
    Ok((report, run.atoms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(n: usize) -> StreamConfig {
        StreamConfig {
            n,
            batch: 2,
            hop: n,
            k: 2,
            train_end: 8 * n,
            checkpoint_every: 2,
            seed: 1,
        }
    }

    #[test]
    fn learn_stream_rejects_bad_settings_with_clear_errors() {
        let signal: Vec<f32> = (0..200).map(|i| (i as f32 * 0.3).sin()).collect();
        let err = |c: &StreamConfig| format!("{:#}", learn_stream(&signal, c).unwrap_err());
        assert!(err(&StreamConfig { k: 9, ..cfg(8) }).contains("--k 9 exceeds"));
        assert!(err(&cfg(7)).contains("--n 7 is not supported"));
        assert!(
            err(&StreamConfig {
                train_end: 8,
                ..cfg(8)
            })
            .contains("shorter than one mini-batch")
        );
        assert!(
            err(&StreamConfig {
                train_end: 196,
                ..cfg(8)
            })
            .contains("no whole window")
        );
        assert!(err(&StreamConfig { hop: 0, ..cfg(8) }).contains("at least 1"));
    }

    #[test]
    fn learn_stream_checkpoints_and_keeps_an_orthogonal_dictionary() {
        let signal: Vec<f32> = (0..400)
            .map(|i| (i as f32 * 0.37).sin() * (i % 7) as f32)
            .collect();
        let c = StreamConfig {
            train_end: 320,
            ..cfg(8)
        };
        let run = learn_stream(&signal, &c).unwrap();
        // 40 windows of 8, batches of 2 → 20 updates; checkpoints every 2.
        assert_eq!(run.updates, 20);
        assert_eq!(run.checkpoints.len(), 10);
        let d = OrthoDict::new(8, &run.atoms).unwrap();
        assert!(d.orthogonality_defect() < 1e-5);
        // Keeping every coefficient reconstructs the test part exactly (up to rounding).
        assert!(test_rmse(&d, &signal[320..], 8).unwrap() < 1e-5);
    }
}
