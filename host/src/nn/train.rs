//! Minibatch Adam on cross-entropy for an MLP, with candle's autodiff on the CPU,
//! and batched evaluation (mean cross-entropy loss and accuracy).
//!
//! Reproducible per seed: the initial weights (PyTorch's `nn.Linear` default,
//! `U(−1/√in, 1/√in)` for weights and biases) and the per-epoch shuffle come from mote's own
//! seeded [`Rng`], not from candle's generator, so the same seed gives the same model.

use crate::data::Dataset;
use crate::nn::{Dense, Mlp};
use crate::rng::Rng;
use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use indicatif::{ProgressBar, ProgressStyle};

/// Training settings. [`Default`] is the SPEC §2.6 setting (Adam lr 1e-3, batch 500) with three
/// hidden layers of 512.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainConfig {
    /// Hidden layer widths (input and output widths come from the data).
    pub hidden: Vec<usize>,
    /// Passes over the training set.
    pub epochs: usize,
    /// Minibatch size (the last, smaller batch of an epoch is used too).
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            hidden: vec![512, 512, 512],
            epochs: 10,
            batch_size: 500,
            lr: 1e-3,
            seed: 0,
            progress: false,
        }
    }
}

/// Loss and accuracy of a model on a data set.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Eval {
    /// Mean cross-entropy (natural log).
    pub loss: f64,
    /// Fraction of samples whose arg-max logit is the label.
    pub accuracy: f64,
}

/// PyTorch's default `nn.Linear` initialisation, from a seeded generator.
pub fn init_mlp(widths: &[usize], rng: &mut Rng) -> Mlp {
    Mlp {
        layers: widths
            .windows(2)
            .map(|w| {
                let bound = 1.0 / (w[0] as f64).sqrt();
                let mut draw = |k: usize| -> Vec<f32> {
                    (0..k)
                        .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
                        .collect()
                };
                Dense {
                    out_dim: w[1],
                    in_dim: w[0],
                    weight: draw(w[0] * w[1]),
                    bias: draw(w[1]),
                }
            })
            .collect(),
    }
}

/// Logits of a model held as candle tensors `[(W, b)]` for a batch `x`.
fn forward(params: &[(Tensor, Tensor)], x: &Tensor) -> candle_core::Result<Tensor> {
    let mut cur = x.clone();
    for (i, (w, b)) in params.iter().enumerate() {
        cur = cur.matmul(&w.t()?)?.broadcast_add(b)?;
        if i + 1 < params.len() {
            cur = cur.relu()?;
        }
    }
    Ok(cur)
}

fn to_tensors(model: &Mlp) -> candle_core::Result<Vec<(Tensor, Tensor)>> {
    model
        .layers
        .iter()
        .map(|l| {
            Ok((
                Tensor::from_slice(&l.weight, (l.out_dim, l.in_dim), &Device::Cpu)?,
                Tensor::from_slice(&l.bias, l.out_dim, &Device::Cpu)?,
            ))
        })
        .collect()
}

/// Copies samples `idx` into a feature tensor and a label tensor.
fn batch(data: &Dataset, idx: &[usize]) -> candle_core::Result<(Tensor, Tensor)> {
    let mut x = Vec::with_capacity(idx.len() * data.d);
    for &i in idx {
        x.extend_from_slice(data.row(i));
    }
    let y: Vec<u32> = idx.iter().map(|&i| u32::from(data.labels[i])).collect();
    Ok((
        Tensor::from_vec(x, (idx.len(), data.d), &Device::Cpu)?,
        Tensor::from_vec(y, idx.len(), &Device::Cpu)?,
    ))
}

/// Fails unless training a `widths` MLP on batches of `batch` fits in memory: each parameter is
/// held about six times (the initial model, the variable, its gradient, Adam's two moments, the
/// saved model) and each batch keeps every layer's activations and their gradients.
fn check_memory(widths: &[usize], batch: usize) -> Result<()> {
    let mut floats: usize = 0;
    for w in widths.windows(2) {
        let params = crate::budget::product(&[w[0], w[1]], "a weight matrix")?
            .checked_add(w[1])
            .and_then(|p| p.checked_mul(6));
        let acts = w[1].checked_mul(batch).and_then(|a| a.checked_mul(4));
        floats = floats
            .saturating_add(params.unwrap_or(usize::MAX))
            .saturating_add(acts.unwrap_or(usize::MAX));
    }
    crate::budget::check(
        &format!("training an MLP with widths {widths:?} on batches of {batch}"),
        crate::budget::bytes_of::<f32>(floats, "training")?,
    )
}

/// Trains an MLP `[data.d, hidden..., data.classes]` on `data`.
pub fn train_mlp(cfg: &TrainConfig, data: &Dataset) -> Result<Mlp> {
    fit(cfg, data, None)
}

/// Trains an MLP `[inputs.d, hidden..., classes]` by distillation: on the features of `inputs`
/// only (their labels are never read), with the cross-entropy against the teachers' ensemble,
/// the mean of their softmax probabilities, as soft targets.
pub fn distill_mlp(cfg: &TrainConfig, inputs: &Dataset, teachers: &[&Mlp]) -> Result<Mlp> {
    let Some(first) = teachers.first() else {
        bail!("distillation needs at least one teacher");
    };
    for t in teachers {
        if t.in_dim() != inputs.d || t.out_dim() != first.out_dim() {
            bail!(
                "the teachers must map the data's {} features to one set of classes; one maps \
                 {} inputs to {} classes, another {} to {}",
                inputs.d,
                t.in_dim(),
                t.out_dim(),
                first.in_dim(),
                first.out_dim()
            );
        }
    }
    let classes = first.out_dim();
    crate::budget::check(
        &format!("the soft targets of {} samples", inputs.n),
        crate::budget::bytes_of::<f32>(inputs.n.saturating_mul(classes), "distillation targets")?,
    )?;
    let mut soft = vec![0f32; inputs.n * classes];
    for start in (0..inputs.n).step_by(10_000) {
        let n = (inputs.n - start).min(10_000);
        let x = &inputs.features[start * inputs.d..(start + n) * inputs.d];
        for t in teachers {
            let logits = t.forward(x, n);
            for (row, out) in logits
                .chunks(classes)
                .zip(soft[start * classes..(start + n) * classes].chunks_mut(classes))
            {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = row.iter().map(|&z| (z - max).exp()).sum();
                for (o, &z) in out.iter_mut().zip(row) {
                    *o += (z - max).exp() / sum / teachers.len() as f32;
                }
            }
        }
    }
    let student = Dataset {
        classes,
        ..inputs.clone()
    };
    fit(cfg, &student, Some(&soft))
}

/// Minibatch Adam on the cross-entropy against the labels, or against `soft` targets
/// (`n × classes` probabilities) when given.
fn fit(cfg: &TrainConfig, data: &Dataset, soft: Option<&[f32]>) -> Result<Mlp> {
    if data.n == 0 || cfg.batch_size == 0 || cfg.hidden.contains(&0) || cfg.epochs == 0 {
        bail!("training needs samples, a batch size > 0, non-zero hidden widths and an epoch");
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        bail!(
            "the learning rate must be positive and finite (got {})",
            cfg.lr
        );
    }
    let mut widths = vec![data.d];
    widths.extend(&cfg.hidden);
    widths.push(data.classes);
    check_memory(&widths, cfg.batch_size.min(data.n))?;
    let mut rng = Rng::new(cfg.seed);
    let init = init_mlp(&widths, &mut rng);
    let params: Vec<(Var, Var)> = to_tensors(&init)?
        .into_iter()
        .map(|(w, b)| Ok((Var::from_tensor(&w)?, Var::from_tensor(&b)?)))
        .collect::<candle_core::Result<_>>()?;
    let vars: Vec<Var> = params
        .iter()
        .flat_map(|(w, b)| [w.clone(), b.clone()])
        .collect();
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 0.0, // plain Adam, as in SPEC §2.6
            ..ParamsAdamW::default()
        },
    )?;
    let batches = data.n.div_ceil(cfg.batch_size);
    let bar = if cfg.progress {
        ProgressBar::new((cfg.epochs * batches) as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} batches  eta {eta}  {msg}",
        )
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    // The optimiser updates the variables' storage in place, so these handles stay current.
    let live: Vec<(Tensor, Tensor)> = params
        .iter()
        .map(|(w, b)| (w.as_tensor().clone(), b.as_tensor().clone()))
        .collect();
    let mut order: Vec<usize> = (0..data.n).collect();
    // The loss of the very first batch (before any step) and of the last epoch: a run whose last
    // epoch ends at more than twice where it started diverged, and is not returned. (A short run
    // of a tiny model may end a little above its first batch; that is slow learning, not
    // divergence.)
    let (mut first_loss, mut last_epoch_loss) = (None, f64::NAN);
    for epoch in 1..=cfg.epochs {
        rng.shuffle(&mut order);
        let mut sum = 0.0;
        for idx in order.chunks(cfg.batch_size) {
            let (x, y) = batch(data, idx)?;
            let logits = forward(&live, &x)?;
            let loss = match soft {
                None => candle_nn::loss::cross_entropy(&logits, &y)?,
                Some(p) => {
                    let mut t = Vec::with_capacity(idx.len() * data.classes);
                    for &i in idx {
                        t.extend_from_slice(&p[i * data.classes..(i + 1) * data.classes]);
                    }
                    let t = Tensor::from_vec(t, (idx.len(), data.classes), &Device::Cpu)?;
                    let logp = candle_nn::ops::log_softmax(&logits, 1)?;
                    (t * logp)?.sum(1)?.mean_all()?.neg()?
                }
            };
            opt.backward_step(&loss)?;
            let l = f64::from(loss.to_scalar::<f32>()?);
            if !l.is_finite() {
                bail!("training diverged at epoch {epoch} (loss {l}); lower the learning rate");
            }
            first_loss.get_or_insert(l);
            sum += l * idx.len() as f64;
            bar.inc(1);
        }
        last_epoch_loss = sum / data.n as f64;
        bar.set_message(format!(
            "epoch {epoch}/{}  train loss {:.4}",
            cfg.epochs,
            sum / data.n as f64
        ));
    }
    bar.finish();
    if let Some(first) = first_loss
        && (last_epoch_loss.is_nan() || last_epoch_loss > 2.0 * first)
    {
        bail!(
            "training diverged: the last epoch's mean loss {last_epoch_loss:.4e} is more than \
             twice the first batch's {first:.4e}; lower --lr (was {})",
            cfg.lr
        );
    }
    let layers = params
        .iter()
        .map(|(w, b)| {
            let (out_dim, in_dim) = w.dims2()?;
            Ok(Dense {
                out_dim,
                in_dim,
                weight: w.flatten_all()?.to_vec1::<f32>()?,
                bias: b.to_vec1::<f32>()?,
            })
        })
        .collect::<candle_core::Result<_>>()?;
    Ok(Mlp { layers })
}

/// Mean cross-entropy of `model` on the samples `idx` of `data`, and its gradient with respect
/// to every weight and bias, in the model's own layout.
pub fn loss_and_gradient(model: &Mlp, data: &Dataset, idx: &[usize]) -> Result<(f64, Mlp)> {
    if model.in_dim() != data.d || model.out_dim() != data.classes {
        bail!(
            "model maps {} inputs to {} classes; the data has {} features and {} classes",
            model.in_dim(),
            model.out_dim(),
            data.d,
            data.classes
        );
    }
    if idx.is_empty() {
        bail!("a gradient needs at least one sample");
    }
    let vars: Vec<(Var, Var)> = to_tensors(model)?
        .into_iter()
        .map(|(w, b)| Ok((Var::from_tensor(&w)?, Var::from_tensor(&b)?)))
        .collect::<candle_core::Result<_>>()?;
    let live: Vec<(Tensor, Tensor)> = vars
        .iter()
        .map(|(w, b)| (w.as_tensor().clone(), b.as_tensor().clone()))
        .collect();
    let (x, y) = batch(data, idx)?;
    let loss = candle_nn::loss::cross_entropy(&forward(&live, &x)?, &y)?;
    let grads = loss.backward()?;
    let grad_of = |v: &Var| -> Result<Vec<f32>> {
        let g = grads
            .get(v.as_tensor())
            .context("the loss does not depend on a parameter")?;
        Ok(g.flatten_all()?.to_vec1::<f32>()?)
    };
    let layers = model
        .layers
        .iter()
        .zip(&vars)
        .map(|(l, (w, b))| {
            Ok(Dense {
                out_dim: l.out_dim,
                in_dim: l.in_dim,
                weight: grad_of(w)?,
                bias: grad_of(b)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((f64::from(loss.to_scalar::<f32>()?), Mlp { layers }))
}

/// Mean cross-entropy and accuracy of `model` on all of `data` (batches of 10 000 samples).
pub fn evaluate(model: &Mlp, data: &Dataset) -> Result<Eval> {
    if model.in_dim() != data.d || model.out_dim() != data.classes {
        bail!(
            "model maps {} inputs to {} classes; the data has {} features and {} classes",
            model.in_dim(),
            model.out_dim(),
            data.d,
            data.classes
        );
    }
    let params = to_tensors(model)?;
    let (mut loss, mut correct) = (0.0f64, 0usize);
    let idx: Vec<usize> = (0..data.n).collect();
    for chunk in idx.chunks(10_000) {
        let (x, y) = batch(data, chunk)?;
        let logits = forward(&params, &x)?;
        let logp = candle_nn::ops::log_softmax(&logits, 1)?;
        let picked = logp.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
        loss -= picked.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
        let pred = logits.argmax(1)?;
        correct += pred
            .eq(&y)?
            .to_dtype(DType::U32)?
            .sum_all()?
            .to_scalar::<u32>()? as usize;
    }
    Ok(Eval {
        loss: loss / data.n as f64,
        accuracy: correct as f64 / data.n as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distillation_learns_from_the_teachers_without_labels() {
        let (train, test) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let cfg = |hidden: Vec<usize>, epochs| TrainConfig {
            hidden,
            epochs,
            batch_size: 64,
            lr: 3e-3,
            seed: 4,
            progress: false,
        };
        let teacher = train_mlp(&cfg(vec![32], 20), &train).expect("trains");
        // The student's inputs carry a constant label: only the teacher's outputs can teach it.
        let blind = Dataset {
            labels: vec![0; train.n],
            ..train.clone()
        };
        let student = distill_mlp(&cfg(vec![16], 30), &blind, &[&teacher]).expect("distils");
        let (t, s) = (
            evaluate(&teacher, &test).expect("evaluates").accuracy,
            evaluate(&student, &test).expect("evaluates").accuracy,
        );
        assert!(s > t - 0.08 && s > 0.8, "student {s} vs teacher {t}");
        let other = train_mlp(
            &cfg(vec![8], 1),
            &crate::data::Catalog::default()
                .load("digits")
                .expect("bundled")
                .0,
        )
        .expect("trains");
        assert!(distill_mlp(&cfg(vec![8], 1), &blind, &[]).is_err());
        let wrong = Dataset {
            d: 32,
            features: train.features[..train.n * 32].to_vec(),
            ..train.clone()
        };
        let e = distill_mlp(&cfg(vec![8], 1), &wrong, &[&other])
            .expect_err("inputs")
            .to_string();
        assert!(e.contains("32 features"), "{e}");
    }

    #[test]
    fn bad_rates_and_diverged_runs_are_refused() {
        let (train, _) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let cfg = |lr| TrainConfig {
            hidden: vec![16],
            epochs: 2,
            batch_size: 64,
            lr,
            seed: 1,
            progress: false,
        };
        for lr in [-0.01, 0.0, f64::NAN] {
            let e = train_mlp(&cfg(lr), &train)
                .expect_err("bad rate")
                .to_string();
            assert!(e.contains("learning rate"), "{e}");
        }
        let e = train_mlp(&cfg(1e10), &train)
            .expect_err("diverges")
            .to_string();
        assert!(e.contains("diverged"), "{e}");
        assert!(train_mlp(&cfg(3e-3), &train).is_ok());
    }

    #[test]
    fn a_model_too_large_for_memory_is_refused_before_allocating() {
        let (train, _) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let cfg = TrainConfig {
            hidden: vec![10_000_000],
            epochs: 1,
            progress: false,
            ..TrainConfig::default()
        };
        let e = train_mlp(&cfg, &train).expect_err("too large").to_string();
        assert!(
            e.contains("training an MLP with widths [64, 10000000, 10]"),
            "{e}"
        );
    }

    #[test]
    fn evaluate_matches_plain_forward() {
        let (train, _) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let m = init_mlp(&[64, 20, 10], &mut Rng::new(1));
        let e = evaluate(&m, &train).expect("evaluates");
        let logits = m.forward(&train.features, train.n);
        let (mut loss, mut correct) = (0.0f64, 0);
        for (s, row) in logits.chunks(10).enumerate() {
            let max = row.iter().cloned().fold(f32::MIN, f32::max);
            let lse = row
                .iter()
                .map(|v| f64::from(v - max).exp())
                .sum::<f64>()
                .ln();
            loss += lse - f64::from(row[train.labels[s] as usize] - max);
            let arg = (0..10).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            correct += usize::from(arg == train.labels[s] as usize);
        }
        assert!((e.loss - loss / train.n as f64).abs() < 1e-4, "{e:?}");
        assert_eq!(e.accuracy, correct as f64 / train.n as f64);
    }

    #[test]
    fn training_learns_digits_and_is_deterministic() {
        let (train, test) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let cfg = TrainConfig {
            hidden: vec![32],
            epochs: 15,
            batch_size: 32,
            lr: 3e-3,
            seed: 3,
            ..TrainConfig::default()
        };
        let a = train_mlp(&cfg, &train).expect("trains");
        let b = train_mlp(&cfg, &train).expect("trains");
        assert_eq!(a, b, "same seed, same bits");
        let other = train_mlp(&TrainConfig { seed: 4, ..cfg }, &train).expect("trains");
        assert_ne!(a, other);
        let e = evaluate(&a, &test).expect("evaluates");
        assert!(e.accuracy > 0.85, "{e:?}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (train, _) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let m = init_mlp(&[64, 6, 10], &mut Rng::new(5));
        let idx: Vec<usize> = (0..40).collect();
        let (loss, g) = loss_and_gradient(&m, &train, &idx).expect("gradient");
        let sub = train.take(40);
        assert!((loss - evaluate(&m, &sub).expect("evaluates").loss).abs() < 1e-5);
        // Central differences in f64 through the plain forward pass, on a few coordinates.
        for (l, k) in [(0, 0), (0, 200), (1, 7), (1, 59)] {
            let h = 1e-2f32;
            let at = |d: f32| {
                let mut p = m.clone();
                p.layers[l].weight[k] += d;
                evaluate(&p, &sub).expect("evaluates").loss
            };
            let fd = (at(h) - at(-h)) / (2.0 * f64::from(h));
            let an = f64::from(g.layers[l].weight[k]);
            assert!(
                (fd - an).abs() < 1e-3 + 1e-2 * an.abs(),
                "layer {l} [{k}]: {fd} vs {an}"
            );
        }
        let fd_bias = {
            let mut p = m.clone();
            p.layers[1].bias[3] += 1e-2;
            let mut q = m.clone();
            q.layers[1].bias[3] -= 1e-2;
            (evaluate(&p, &sub).expect("e").loss - evaluate(&q, &sub).expect("e").loss) / 2e-2
        };
        assert!((fd_bias - f64::from(g.layers[1].bias[3])).abs() < 1e-3);
    }
}
