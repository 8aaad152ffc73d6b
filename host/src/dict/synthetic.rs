//! The synthetic experiment of SPEC §4.5: error vs iteration of NoncvxSFW, the convex SFW
//! baseline and batch ℓ3 GPM, medians over seeded trials.

use std::time::Instant;

use anyhow::{Result, bail};
use mote_core::dict::synth::SparseSource;
use mote_core::dict::{OnlineOdl, StepRule, ortho_error, polar_factor};
use serde::Serialize;

use super::with_n;

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
    // One trial's buffers (the batch, the error curve) and the GPM baseline's samples, checked
    // before any is allocated.
    let n = cfg.n;
    let floats = [
        crate::budget::product(&[n, cfg.batch], "--n × --batch")?,
        crate::budget::product(&[n, cfg.gpm_samples], "--n × --gpm-samples")?,
        cfg.iters,
        crate::budget::product(&[n, n, 8], "--n")?,
    ]
    .iter()
    .try_fold(0usize, |acc, &x| acc.checked_add(x))
    .ok_or_else(|| anyhow::anyhow!("the synthetic experiment's buffers overflow"))?;
    crate::budget::check(
        &format!(
            "the synthetic experiment (--n {n}, --batch {}, --iters {}, --gpm-samples {})",
            cfg.batch, cfg.iters, cfg.gpm_samples
        ),
        crate::budget::bytes_of::<f32>(floats, "the synthetic experiment")?,
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_too_large_for_memory_are_refused_before_allocating() {
        let cfg = SyntheticConfig {
            n: 50,
            theta: 0.3,
            batch: 1_000_000_000,
            iters: 10,
            trials: 1,
            seed: 1,
            gpm_samples: 0,
            gpm_iters: 1,
        };
        let e = synthetic(&cfg).expect_err("a 200 GB batch").to_string();
        assert!(
            e.contains("--batch 1000000000") && e.contains("200.0 GB"),
            "{e}"
        );
    }
}
