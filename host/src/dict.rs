//! `mote dict`: online orthogonal dictionary learning (SPEC §4) with `mote_core::dict`.
//!
//! - `--data synthetic`: the paper's experiment (SPEC §4.5): error vs iteration of NoncvxSFW, the
//!   convex SFW baseline and batch ℓ3 GPM, medians over seeded trials.
//! - `--data ecg | daphnet`: learns from a real stream in one pass (overlapping windows, hop
//!   `--hop`), then reports the top-k reconstruction RMSE on held-out windows for the learned
//!   dictionary and the DCT-II basis. The same stream is what the firmware learns from
//!   ([`crate::dict_fw`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use mote_core::dict::synth::SparseSource;
use mote_core::dict::{OnlineOdl, OrthoDict, StepRule, dct_basis, ortho_error, polar_factor};
use serde::Serialize;

/// Data source of `mote dict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// Bernoulli(θ)–Gaussian codes through a random orthogonal dictionary (known ground truth).
    Synthetic,
    /// MIT-BIH record 208, lead MLII, in mV.
    Ecg,
    /// Daphnet accelerometer, ankle vertical axis, in g.
    Daphnet,
}

/// Dictionary sizes the learner is compiled for (its state has compile-time shape).
pub const SIZES: [usize; 14] = [2, 4, 8, 10, 12, 16, 20, 24, 25, 32, 40, 48, 50, 64];

/// Calls `$f::<N>($args)` for the runtime size `$n`, or fails for an unsupported size.
macro_rules! with_n {
    ($n:expr, $f:ident ( $($arg:expr),* )) => {
        match $n {
            2 => $f::<2>($($arg),*),
            4 => $f::<4>($($arg),*),
            8 => $f::<8>($($arg),*),
            10 => $f::<10>($($arg),*),
            12 => $f::<12>($($arg),*),
            16 => $f::<16>($($arg),*),
            20 => $f::<20>($($arg),*),
            24 => $f::<24>($($arg),*),
            25 => $f::<25>($($arg),*),
            32 => $f::<32>($($arg),*),
            40 => $f::<40>($($arg),*),
            48 => $f::<48>($($arg),*),
            50 => $f::<50>($($arg),*),
            64 => $f::<64>($($arg),*),
            other => bail!("--n {other} is not supported; choose one of {:?}", $crate::dict::SIZES),
        }
    };
}
pub(crate) use with_n;

// ------------------------------------------------------------------------------------------------
// Synthetic experiment

/// Settings of the synthetic experiment.
#[derive(Clone, Debug, Serialize)]
pub struct SyntheticConfig {
    /// Dimension.
    pub n: usize,
    /// Bernoulli activation probability.
    pub theta: f32,
    /// Mini-batch size.
    pub batch: usize,
    /// Online iterations per trial.
    pub iters: usize,
    /// Seeded trials (trial i uses seed `seed + i`).
    pub trials: usize,
    /// First seed.
    pub seed: u32,
    /// Samples of the batch GPM baseline (drawn from trial 0's stream); 0 skips it.
    pub gpm_samples: usize,
    /// Iterations of the batch GPM baseline.
    pub gpm_iters: usize,
}

/// Result of one online method over all trials.
#[derive(Clone, Debug, Serialize)]
pub struct MethodSummary {
    /// `noncvx-sfw` or `sfw`.
    pub method: String,
    /// Median (over trials) error after each iteration.
    pub median_err: Vec<f32>,
    /// Final error of each trial.
    pub final_err: Vec<f32>,
    /// Median of the final errors.
    pub median_final_err: f32,
    /// First iteration (1-based) at which the median curve is ≤ 1e-2, if any.
    pub median_iters_to_1e_2: Option<usize>,
    /// Trials whose error reached ≤ 1e-2 within the run.
    pub trials_reaching_1e_2: usize,
    /// Mean wall time of one `update` (µs), over all trials (evaluation excluded).
    pub us_per_update: f64,
    /// Jacobi effort, averaged over trials.
    pub sweeps: SweepStats,
}

/// The batch ℓ3 GPM baseline `A ← polar(∇f(A))`.
#[derive(Clone, Debug, Serialize)]
pub struct GpmSummary {
    /// Samples in the batch.
    pub samples: usize,
    /// Error after each iteration.
    pub err: Vec<f32>,
}

/// Everything `mote dict --data synthetic` computes.
#[derive(Clone, Debug, Serialize)]
pub struct SyntheticReport {
    /// Settings.
    pub config: SyntheticConfig,
    /// Error of the random initial dictionary (trial 0).
    pub initial_err: f32,
    /// NoncvxSFW (the paper's method).
    pub noncvx_sfw: MethodSummary,
    /// Convex-case SFW baseline (evaluated after projection onto O(n)).
    pub sfw: MethodSummary,
    /// Batch GPM baseline (trial 0's data), if run.
    pub gpm: Option<GpmSummary>,
}

struct Trial {
    err: Vec<f32>,
    update_secs: f64,
    sweeps: SweepStats,
}

/// Jacobi effort of the polar factors over a run.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct SweepStats {
    /// Mean sweeps of the oracle's polar factor per update.
    pub lmo_mean: f64,
    /// Mean sweeps of the re-projection per update.
    pub projection_mean: f64,
    /// Polar factors that hit the sweep cap without meeting the tolerance.
    pub not_converged: usize,
}

/// Runs one online trial; the error is measured after every update (for SFW on `polar(A)`).
fn online_trial<const N: usize>(
    rule: StepRule,
    cfg: &SyntheticConfig,
    seed: u32,
) -> Result<(Trial, f32)> {
    let mut src = SparseSource::new(seed, cfg.theta);
    let mut d = vec![0.0; N * N];
    src.orthogonal(N, &mut d)?;
    let mut learner = OnlineOdl::<N>::new(rule, seed.wrapping_mul(0x9E37_79B9) | 1);
    let initial = ortho_error(N, learner.atoms(), &d)?;
    let mut x = vec![0.0; N];
    let mut y = vec![0.0; N * cfg.batch];
    let (mut proj, mut rot, mut work) = (vec![0.0; N * N], vec![0.0; N * N], vec![0.0; N * N]);
    let mut err = Vec::with_capacity(cfg.iters);
    let mut update_secs = 0.0;
    let mut sweeps = SweepStats::default();
    for t in 0..cfg.iters {
        for yb in y.chunks_exact_mut(N) {
            src.sample(&d, &mut x, yb)?;
        }
        let t0 = Instant::now();
        let st = learner.update(&y)?;
        update_secs += t0.elapsed().as_secs_f64();
        sweeps.lmo_mean += st.lmo.sweeps as f64 / cfg.iters as f64;
        sweeps.projection_mean += st.projection.sweeps as f64 / cfg.iters as f64;
        sweeps.not_converged += usize::from(!st.lmo.converged)
            + usize::from(rule == StepRule::NoncvxSfw && !st.projection.converged);
        let e = match rule {
            StepRule::NoncvxSfw => ortho_error(N, learner.atoms(), &d)?,
            StepRule::ConvexSfw => {
                polar_factor(N, learner.atoms(), &mut proj, &mut rot, &mut work, t > 0)?;
                ortho_error(N, &proj, &d)?
            }
        };
        err.push(e);
    }
    Ok((
        Trial {
            err,
            update_secs,
            sweeps,
        },
        initial,
    ))
}

/// Batch ℓ3 GPM on the first `samples` samples of trial 0's stream, from the same initial point.
fn gpm<const N: usize>(cfg: &SyntheticConfig) -> Result<GpmSummary> {
    let mut src = SparseSource::new(cfg.seed, cfg.theta);
    let mut d = vec![0.0; N * N];
    src.orthogonal(N, &mut d)?;
    let init = OnlineOdl::<N>::new(StepRule::NoncvxSfw, cfg.seed.wrapping_mul(0x9E37_79B9) | 1);
    let mut a = init.atoms().to_vec();
    let mut x = vec![0.0; N];
    let mut ys = vec![0.0f32; N * cfg.gpm_samples];
    for y in ys.chunks_exact_mut(N) {
        src.sample(&d, &mut x, y)?;
    }
    let (mut g32, mut rot, mut work) = (vec![0.0; N * N], vec![0.0; N * N], vec![0.0; N * N]);
    let mut err = Vec::with_capacity(cfg.gpm_iters);
    for it in 0..cfg.gpm_iters {
        // Full-batch gradient, accumulated in f64 (a host-only baseline: accuracy over speed).
        let mut g = vec![0.0f64; N * N];
        let mut z = [0.0f64; N];
        for y in ys.chunks_exact(N) {
            for (i, zi) in z.iter_mut().enumerate() {
                let s: f32 = a[i * N..(i + 1) * N]
                    .iter()
                    .zip(y)
                    .map(|(p, q)| p * q)
                    .sum();
                *zi = (s.abs() * s) as f64;
            }
            for (i, &zi) in z.iter().enumerate() {
                for (gv, &yv) in g[i * N..(i + 1) * N].iter_mut().zip(y) {
                    *gv += zi * yv as f64;
                }
            }
        }
        let scale = cfg.gpm_samples as f64;
        g32.iter_mut()
            .zip(&g)
            .for_each(|(o, &v)| *o = (v / scale) as f32);
        polar_factor(N, &g32, &mut a, &mut rot, &mut work, it > 0)?;
        err.push(ortho_error(N, &a, &d)?);
    }
    Ok(GpmSummary {
        samples: cfg.gpm_samples,
        err,
    })
}

fn median(v: &mut [f32]) -> f32 {
    v.sort_by(f32::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

fn summarise(method: &str, trials: &[Trial], iters: usize) -> MethodSummary {
    let median_err: Vec<f32> = (0..iters)
        .map(|t| median(&mut trials.iter().map(|tr| tr.err[t]).collect::<Vec<_>>()))
        .collect();
    let final_err: Vec<f32> = trials.iter().map(|t| t.err[iters - 1]).collect();
    let median_final_err = median(&mut final_err.clone());
    let updates = (trials.len() * iters) as f64;
    MethodSummary {
        method: method.into(),
        median_iters_to_1e_2: median_err.iter().position(|&e| e <= 1e-2).map(|i| i + 1),
        trials_reaching_1e_2: trials
            .iter()
            .filter(|t| t.err.iter().any(|&e| e <= 1e-2))
            .count(),
        us_per_update: trials.iter().map(|t| t.update_secs).sum::<f64>() * 1e6 / updates,
        sweeps: SweepStats {
            lmo_mean: trials.iter().map(|t| t.sweeps.lmo_mean).sum::<f64>() / trials.len() as f64,
            projection_mean: trials.iter().map(|t| t.sweeps.projection_mean).sum::<f64>()
                / trials.len() as f64,
            not_converged: trials.iter().map(|t| t.sweeps.not_converged).sum(),
        },
        median_err,
        final_err,
        median_final_err,
    }
}

fn synthetic_n<const N: usize>(cfg: &SyntheticConfig) -> Result<SyntheticReport> {
    let bar = progress(
        (2 * cfg.trials + usize::from(cfg.gpm_samples > 0)) as u64,
        "trials",
    );
    let (mut noncvx, mut sfw) = (Vec::new(), Vec::new());
    let mut initial_err = f32::NAN;
    for i in 0..cfg.trials {
        let seed = cfg.seed.wrapping_add(i as u32);
        let (tr, init) = online_trial::<N>(StepRule::NoncvxSfw, cfg, seed)?;
        if i == 0 {
            initial_err = init;
        }
        noncvx.push(tr);
        bar.inc(1);
        sfw.push(online_trial::<N>(StepRule::ConvexSfw, cfg, seed)?.0);
        bar.inc(1);
    }
    let gpm = if cfg.gpm_samples > 0 {
        let g = gpm::<N>(cfg)?;
        bar.inc(1);
        Some(g)
    } else {
        None
    };
    bar.finish_and_clear();
    Ok(SyntheticReport {
        config: cfg.clone(),
        initial_err,
        noncvx_sfw: summarise("noncvx-sfw", &noncvx, cfg.iters),
        sfw: summarise("sfw", &sfw, cfg.iters),
        gpm,
    })
}

/// Runs the synthetic experiment.
pub fn synthetic(cfg: &SyntheticConfig) -> Result<SyntheticReport> {
    if cfg.batch == 0 || cfg.iters == 0 || cfg.trials == 0 {
        bail!("--batch, --iters and --trials must be at least 1");
    }
    with_n!(cfg.n, synthetic_n(cfg))
}

fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    bar
}

/// Human-readable summary of the synthetic experiment.
pub fn render_synthetic(r: &SyntheticReport) -> String {
    let c = &r.config;
    let mut s = format!(
        "synthetic: n = {}, θ = {}, batch {}, {} iterations, {} trials (seeds {}..{}); initial err {:.3}\n",
        c.n,
        c.theta,
        c.batch,
        c.iters,
        c.trials,
        c.seed,
        c.seed as usize + c.trials - 1,
        r.initial_err
    );
    s += "method        err@100    err@300    err@1000   err@final  iters→1e-2 (median)  trials≤1e-2  µs/update\n";
    for m in [&r.noncvx_sfw, &r.sfw] {
        let at = |t: usize| {
            m.median_err
                .get(t.min(c.iters) - 1)
                .map_or("-".into(), |e| format!("{e:.2e}"))
        };
        s += &format!(
            "{:<13} {:<10} {:<10} {:<10} {:<10} {:<20} {:>2}/{:<9} {:.1}\n",
            m.method,
            at(100),
            at(300),
            at(1000),
            format!("{:.2e}", m.median_final_err),
            m.median_iters_to_1e_2
                .map_or("not reached".into(), |i| i.to_string()),
            m.trials_reaching_1e_2,
            c.trials,
            m.us_per_update
        );
    }
    if let Some(g) = &r.gpm {
        let pick = |i: usize| g.err.get(i - 1).map_or("-".into(), |e| format!("{e:.2e}"));
        s += &format!(
            "batch GPM ({} samples, trial 0): err after 1/5/10/{} iterations: {} {} {} {}\n",
            g.samples,
            g.err.len(),
            pick(1),
            pick(5),
            pick(10),
            pick(g.err.len())
        );
    }
    s
}

// ------------------------------------------------------------------------------------------------
// Real streams

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

/// Everything `mote dict --data ecg|daphnet` computes.
#[derive(Clone, Debug, Serialize)]
pub struct StreamReport {
    /// Data set.
    pub data: DataKind,
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
pub fn load_signal(data: DataKind) -> Result<(PathBuf, Vec<f32>, &'static str)> {
    match data {
        DataKind::Ecg => {
            let p = crate::data::ecg::default_path();
            let s = crate::data::ecg::load_mv(&p)?;
            Ok((p, s, "mV"))
        }
        DataKind::Daphnet => {
            let p = crate::data::daphnet::default_path();
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
pub fn stream(data: DataKind, cfg: &StreamConfig) -> Result<StreamReport> {
    let (path, signal, unit) = load_signal(data)?;
    let run = learn_stream(&signal, cfg)?;
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
    Ok(StreamReport {
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
        checkpoints: run.checkpoints,
        orthogonality_defect: learned.orthogonality_defect(),
    })
}

/// Human-readable summary of a real-data run.
pub fn render_stream(r: &StreamReport) -> String {
    let c = &r.config;
    let mut s = format!(
        "{:?} ({}): n = {}, batch {}, hop {}, {} updates on samples [0, {}), {} test windows\n",
        r.data,
        r.path.display(),
        c.n,
        c.batch,
        c.hop,
        r.updates,
        c.train_end,
        r.test_windows
    );
    s += &format!(
        "test RMSE with top-{} of {} coefficients ({}): learned {:.4}, DCT {:.4}  (signal RMS {:.4}; {:.1} µs/update; |AAᵀ−I|max {:.1e})\n",
        c.k,
        c.n,
        r.unit,
        r.rmse_learned,
        r.rmse_dct,
        r.test_rms,
        r.us_per_update,
        r.orthogonality_defect
    );
    s += "k      learned    DCT\n";
    for k in [1, 2, 4, 8, 16, 32].into_iter().filter(|&k| k <= c.n) {
        s += &format!(
            "{k:<6} {:<10.4} {:.4}\n",
            r.rmse_vs_k_learned[k - 1],
            r.rmse_vs_k_dct[k - 1]
        );
    }
    s += "learning curve (iteration: test RMSE):";
    for cp in &r.checkpoints {
        s += &format!(" {}: {:.4}", cp.iteration, cp.rmse);
    }
    s.push('\n');
    s
}

// ------------------------------------------------------------------------------------------------
// Plots

/// A series for [`plot_lines`]: label, colour, points.
type Series<'a> = (&'a str, plotters::style::RGBColor, Vec<(f32, f32)>);

/// Draws log-y line series into `path` (`.png` or `.svg`), atomically.
fn plot_lines(
    path: &Path,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    series: &[Series<'_>],
) -> Result<()> {
    use plotters::prelude::*;
    crate::output::ensure_plot_font()?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let pts = series.iter().flat_map(|s| s.2.iter());
    let (mut x1, mut y0, mut y1) = (1.0f32, f32::INFINITY, 0.0f32);
    for &(x, y) in pts {
        x1 = x1.max(x);
        if y > 0.0 {
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if !y0.is_finite() {
        bail!("nothing positive to plot on a log axis");
    }
    let (w, h) = (900u32, 560u32);
    let ranges = (x1, y0, y1);
    let labels = (title, xlabel, ylabel);
    // Render next to the target, then rename: a failed plot never leaves a partial file.
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}.{ext}", std::process::id()));
    let result = match ext.as_str() {
        "svg" => draw(
            SVGBackend::new(&tmp, (w, h)).into_drawing_area(),
            labels,
            ranges,
            series,
        ),
        "png" => draw(
            BitMapBackend::new(&tmp, (w, h)).into_drawing_area(),
            labels,
            ranges,
            series,
        ),
        _ => Err(anyhow::anyhow!(
            "{}: plot format must be .png or .svg",
            path.display()
        )),
    }
    .and_then(|()| {
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Draws the chart of [`plot_lines`] on any plotters backend.
fn draw<DB: plotters::prelude::DrawingBackend>(
    root: plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    (title, xlabel, ylabel): (&str, &str, &str),
    (x1, y0, y1): (f32, f32, f32),
    series: &[Series<'_>],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f32..x1, (y0 * 0.8..y1 * 1.25).log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc(xlabel)
        .y_desc(ylabel)
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (label, colour, points) in series {
        let c = *colour;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied().filter(|p| p.1 > 0.0),
                c.stroke_width(2),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Error-vs-iteration plot of the synthetic experiment (median curves; GPM per batch iteration).
pub fn plot_synthetic(r: &SyntheticReport, path: &Path) -> Result<()> {
    use plotters::style::RGBColor;
    let curve = |e: &[f32]| -> Vec<(f32, f32)> {
        e.iter()
            .enumerate()
            .map(|(i, &v)| ((i + 1) as f32, v))
            .collect()
    };
    let mut series = vec![
        (
            "NoncvxSFW (median)",
            RGBColor(200, 30, 30),
            curve(&r.noncvx_sfw.median_err),
        ),
        (
            "SFW, convex steps (median)",
            RGBColor(30, 80, 200),
            curve(&r.sfw.median_err),
        ),
    ];
    if let Some(g) = &r.gpm {
        series.push((
            "batch ℓ3 GPM (full batch / iteration)",
            RGBColor(20, 140, 40),
            curve(&g.err),
        ));
    }
    let c = &r.config;
    plot_lines(
        path,
        &format!(
            "Online ODL, n = {}, θ = {}, batch {} ({} trials)",
            c.n, c.theta, c.batch, c.trials
        ),
        "iteration",
        "err(A) = |‖AD‖₄⁴/n − 1|",
        &series,
    )
}

/// RMSE-vs-k plot of a real-data run.
pub fn plot_stream(r: &StreamReport, path: &Path) -> Result<()> {
    use plotters::style::RGBColor;
    let curve = |e: &[f32]| -> Vec<(f32, f32)> {
        e.iter()
            .enumerate()
            .map(|(i, &v)| ((i + 1) as f32, v))
            .collect()
    };
    plot_lines(
        path,
        &format!("{:?}: top-k reconstruction, n = {}", r.data, r.config.n),
        "k (coefficients kept)",
        &format!("test RMSE ({})", r.unit),
        &[
            (
                "learned (online ODL)",
                RGBColor(200, 30, 30),
                curve(&r.rmse_vs_k_learned),
            ),
            ("DCT-II", RGBColor(30, 80, 200), curve(&r.rmse_vs_k_dct)),
        ],
    )
}

// ------------------------------------------------------------------------------------------------
// Command line

/// Arguments of `mote dict`.
#[derive(Clone, Debug, clap::Args)]
pub struct DictArgs {
    /// Dictionary size = window length (default 50 for synthetic, 32 for real data).
    #[arg(long)]
    pub n: Option<usize>,
    /// Data source.
    #[arg(long, value_enum)]
    pub data: DataKind,
    /// Mini-batch size (windows per update).
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// Synthetic: Bernoulli activation probability θ.
    #[arg(long, default_value_t = 0.3)]
    pub theta: f32,
    /// Synthetic: online iterations per trial.
    #[arg(long, default_value_t = 3000)]
    pub iters: usize,
    /// Synthetic: seeded trials.
    #[arg(long, default_value_t = 10)]
    pub trials: usize,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    /// Synthetic: samples of the batch GPM baseline (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    pub gpm_samples: usize,
    /// Synthetic: iterations of the batch GPM baseline.
    #[arg(long, default_value_t = 30)]
    pub gpm_iters: usize,
    /// Real data: samples between training windows (default n/4).
    #[arg(long)]
    pub hop: Option<usize>,
    /// Real data: coefficients kept for the RMSE (default n/8).
    #[arg(long)]
    pub k: Option<usize>,
    /// Write a plot (.png or .svg): error vs iteration, or RMSE vs k.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Instead: build `firmware/src/bin/dict.rs`, run it under QEMU with instruction counting and
    /// check its ECG and synthetic runs bit for bit against the host (`--data ecg` only).
    #[arg(long)]
    pub firmware: bool,
    /// Board for `--firmware`.
    #[arg(long, value_enum, default_value = "mps2-an386")]
    pub board: crate::qemu::Board,
}

/// Runs `mote dict`.
pub fn run(args: DictArgs) -> Result<()> {
    if args.firmware {
        if args.data != DataKind::Ecg {
            bail!("--firmware runs the ECG firmware: use it with --data ecg");
        }
        let r = crate::dict_fw::run_on(args.board)?;
        return if args.json {
            crate::output::print_json(&r)
        } else {
            print!("{}", crate::dict_fw::render(&r));
            Ok(())
        };
    }
    match args.data {
        DataKind::Synthetic => {
            let cfg = SyntheticConfig {
                n: args.n.unwrap_or(50),
                theta: args.theta,
                batch: args.batch,
                iters: args.iters,
                trials: args.trials,
                seed: args.seed,
                gpm_samples: args.gpm_samples,
                gpm_iters: args.gpm_iters,
            };
            if !(0.0..=1.0).contains(&cfg.theta) {
                bail!("--theta {} is not a probability", cfg.theta);
            }
            let r = synthetic(&cfg)?;
            if let Some(p) = &args.plot {
                plot_synthetic(&r, p)?;
            }
            if args.json {
                crate::output::print_json(&r)
            } else {
                print!("{}", render_synthetic(&r));
                Ok(())
            }
        }
        data => {
            let (_, signal, _) = load_signal(data)?;
            let mut cfg = default_stream_config(
                signal.len(),
                args.n.unwrap_or(32),
                args.batch,
                args.hop,
                args.k,
            );
            cfg.seed = args.seed;
            let r = stream(data, &cfg)?;
            if let Some(p) = &args.plot {
                plot_stream(&r, p)?;
            }
            if args.json {
                crate::output::print_json(&r)
            } else {
                print!("{}", render_stream(&r));
                Ok(())
            }
        }
    }
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

    #[test]
    fn plot_rejects_unknown_extensions_without_writing() {
        let dir = std::env::temp_dir().join(format!("mote-dict-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("err.jpg");
        let s: Vec<Series<'_>> = vec![("a", plotters::style::RGBColor(0, 0, 0), vec![(1.0, 0.5)])];
        let e = plot_lines(&p, "t", "x", "y", &s).unwrap_err();
        assert!(format!("{e:#}").contains(".png or .svg"));
        assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
