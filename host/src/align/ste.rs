//! The straight-through estimator (SPEC §2.4, Git Re-Basin's "Algorithm 2").
//!
//! A free copy θ̃ of model A is trained so that the permutation weight matching finds for it
//! makes the *midpoint* of A and the permuted B a good model:
//!
//! ```text
//! θ̃ ← θ_A, π ← id, v ← 0
//! every minibatch:
//!     π      ← WeightMatching(θ̃, θ_B), warm-started from π
//!     θ_ste  = π(θ_B) + (θ̃ − stopgrad θ̃)         value of the projection, gradient to θ̃
//!     loss   = L(½(θ_A + θ_ste)) on the batch
//!     ∂loss/∂θ̃ = ½ ∇L(½(θ_A + π(θ_B)))
//!     v ← μ v + ∂loss/∂θ̃ ;  θ̃ ← θ̃ − lr v           SGD with momentum (PyTorch's form)
//! return the π of the lowest batch loss seen
//! ```
//!
//! The defaults are the authors' MNIST script: SGD momentum 0.9, lr 1e-2, batches of 1000.

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Alignment, Permutation, aligned_inner_product, inner_product, permute};
use crate::data::Dataset;
use crate::nn::Mlp;
use crate::nn::train::loss_and_gradient;
use crate::rng::Rng;

/// Settings of the straight-through estimator.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SteConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// SGD learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for SteConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch_size: 1000,
            lr: 1e-2,
            momentum: 0.9,
            progress: false,
        }
    }
}

/// One epoch of the estimator, for the `--json` log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SteEpoch {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean over the epoch's batches of the midpoint's batch loss.
    pub mean_batch_loss: f64,
    /// Lowest batch loss so far (its permutation is the one returned).
    pub best_batch_loss: f64,
    /// Hidden units whose assignment changed during the epoch (summed over batches).
    pub units_moved: usize,
    /// Weight-matching sweeps run during the epoch (summed over batches).
    pub sweeps: usize,
    /// Seconds since the start.
    pub seconds: f64,
}

/// Aligns `b` to `a` with the straight-through estimator on the training set `data`.
pub fn ste_matching(
    a: &Mlp,
    b: &Mlp,
    data: &Dataset,
    cfg: &SteConfig,
    seed: u64,
) -> Result<Alignment> {
    if cfg.epochs == 0 || cfg.batch_size == 0 {
        bail!("the straight-through estimator needs at least one epoch and a batch size > 0");
    }
    let rate_ok = cfg.lr.is_finite() && cfg.lr > 0.0;
    if !(rate_ok && (0.0..1.0).contains(&cfg.momentum)) {
        bail!(
            "the straight-through estimator needs a positive learning rate and a momentum in \
             [0, 1) (got lr {}, momentum {})",
            cfg.lr,
            cfg.momentum
        );
    }
    if data.n == 0 {
        bail!("the straight-through estimator needs training samples");
    }
    let h = a.layers.len().saturating_sub(1);
    let mut perms: Vec<Permutation> = a.layers[..h]
        .iter()
        .map(|l| Permutation::identity(l.out_dim))
        .collect();
    let mut theta = a.clone();
    let mut velocity: Vec<Vec<f32>> = params(a).map(|p| vec![0.0; p.len()]).collect();
    let mut best: (f64, Vec<Permutation>) = (f64::INFINITY, perms.clone());
    let mut rng = Rng::new(seed);
    let mut order: Vec<usize> = (0..data.n).collect();
    let batches = data.n.div_ceil(cfg.batch_size);
    let bar = if cfg.progress {
        ProgressBar::new((cfg.epochs * batches) as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} STE batches  eta {eta}  {msg}",
        )?
        .progress_chars("=> "),
    );
    let start = std::time::Instant::now();
    let mut log = Vec::with_capacity(cfg.epochs);
    let mut all_converged = true;
    for epoch in 1..=cfg.epochs {
        rng.shuffle(&mut order);
        let (mut sum, mut units_moved, mut sweeps) = (0.0, 0, 0);
        for idx in order.chunks(cfg.batch_size) {
            let al = super::weight_matching_from(&theta, b, Some(&perms), rng.next_u64())?;
            units_moved += al
                .perms
                .iter()
                .zip(&perms)
                .map(|(n, o)| n.hamming(o))
                .sum::<usize>();
            sweeps += al.sweeps.len();
            all_converged &= al.converged;
            perms = al.perms;
            let midpoint = a.lerp(&permute(b, &perms), 0.5);
            let (loss, grad) = loss_and_gradient(&midpoint, data, idx)?;
            if !loss.is_finite() {
                bail!("the straight-through estimator diverged at epoch {epoch} (loss {loss})");
            }
            if loss < best.0 {
                best = (loss, perms.clone());
            }
            sum += loss;
            // The midpoint is ½θ_A + ½θ_ste, so the straight-through gradient to θ̃ is half the
            // midpoint's.
            for ((p, v), g) in params_mut(&mut theta).zip(&mut velocity).zip(params(&grad)) {
                for ((p, v), &g) in p.iter_mut().zip(v.iter_mut()).zip(g) {
                    *v = (cfg.momentum as f32) * *v + 0.5 * g;
                    *p -= (cfg.lr as f32) * *v;
                }
            }
            bar.inc(1);
            bar.set_message(format!(
                "epoch {epoch}/{}  batch loss {loss:.4}",
                cfg.epochs
            ));
        }
        log.push(SteEpoch {
            epoch,
            mean_batch_loss: sum / batches as f64,
            best_batch_loss: best.0,
            units_moved,
            sweeps,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    bar.finish_and_clear();
    let perms = best.1;
    Ok(Alignment {
        method: "ste",
        objective_identity: inner_product(a, b),
        objective: aligned_inner_product(a, b, &perms),
        perms,
        sweeps: Vec::new(),
        converged: all_converged,
        epochs: log,
    })
}

/// Weights and biases of every layer, in order.
fn params(m: &Mlp) -> impl Iterator<Item = &[f32]> {
    m.layers
        .iter()
        .flat_map(|l| [l.weight.as_slice(), l.bias.as_slice()])
}

fn params_mut(m: &mut Mlp) -> impl Iterator<Item = &mut Vec<f32>> {
    m.layers
        .iter_mut()
        .flat_map(|l| [&mut l.weight, &mut l.bias])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::train::{TrainConfig, train_mlp};

    #[test]
    fn ste_recovers_a_planted_permutation() {
        // B is A with its hidden units shuffled: the midpoint of A and the un-shuffled B is A
        // itself, the lowest loss the estimator can find, and weight matching of θ̃ = θ_A against
        // B finds the planted permutation at the first batch.
        let (train, _) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let a = train_mlp(
            &TrainConfig {
                hidden: vec![24, 16],
                epochs: 3,
                batch_size: 64,
                lr: 3e-3,
                seed: 4,
                progress: false,
            },
            &train,
        )
        .expect("trains");
        let mut rng = Rng::new(9);
        let planted = vec![
            Permutation::random(24, &mut rng),
            Permutation::random(16, &mut rng),
        ];
        let b = permute(&a, &planted);
        let cfg = SteConfig {
            epochs: 2,
            batch_size: 200,
            ..SteConfig::default()
        };
        let al = ste_matching(&a, &b, &train, &cfg, 3).expect("matches");
        assert_eq!(al.method, "ste");
        assert_eq!(al.epochs.len(), 2);
        let aligned = permute(&b, &al.perms);
        assert_eq!(aligned, a, "the planted permutation is undone exactly");
        assert!(al.epochs.iter().all(|e| e.best_batch_loss.is_finite()));
    }

    #[test]
    fn ste_lowers_the_midpoint_loss_of_two_trained_models() {
        // Two different models: the estimator's permutation gives a midpoint no worse on the
        // training loss than the identity, and it is deterministic for a seed.
        let (train, _) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let cfg = |seed| TrainConfig {
            hidden: vec![32],
            epochs: 4,
            batch_size: 64,
            lr: 3e-3,
            seed,
            progress: false,
        };
        let a = train_mlp(&cfg(1), &train).expect("trains");
        let b = train_mlp(&cfg(2), &train).expect("trains");
        let ste = SteConfig {
            epochs: 3,
            batch_size: 300,
            ..SteConfig::default()
        };
        let al = ste_matching(&a, &b, &train, &ste, 5).expect("matches");
        let again = ste_matching(&a, &b, &train, &ste, 5).expect("matches");
        assert_eq!(al.perms, again.perms, "seeded");
        let eval = |m: &Mlp| {
            crate::nn::train::evaluate(m, &train)
                .expect("evaluates")
                .loss
        };
        let naive = eval(&a.lerp(&b, 0.5));
        let aligned = eval(&a.lerp(&permute(&b, &al.perms), 0.5));
        assert!(
            aligned < naive,
            "aligned midpoint {aligned} vs naive {naive}"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let (train, _) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let a = crate::nn::train::init_mlp(&[64, 4, 10], &mut Rng::new(1));
        for cfg in [
            SteConfig {
                epochs: 0,
                ..SteConfig::default()
            },
            SteConfig {
                lr: -1.0,
                ..SteConfig::default()
            },
            SteConfig {
                momentum: 1.0,
                ..SteConfig::default()
            },
        ] {
            assert!(ste_matching(&a, &a, &train, &cfg, 0).is_err(), "{cfg:?}");
        }
    }
}
