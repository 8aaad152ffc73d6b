//! The PLeaS study behind `mote bench pleas` (SPEC §3.5 in kind): two MLPs trained from different
//! seeds on skewed halves of one training set, merged by every method of mote at a range of
//! compute budgets, each result evaluated on the full test set.
//!
//! The split: every class of the first half of the label range sends `skew` of its training
//! samples to A and the rest to B; every class of the second half the other way round. PLeaS and
//! the other data-using merges see `samples` training inputs drawn from the whole training set,
//! without their labels. Below 1× the merged model is narrower than either input; it is compared
//! with a model of the same widths distilled from the two models' ensemble on those same
//! unlabelled inputs, and with one trained with labels on the union of the two training sets
//! (the upper line: it needs what merging does not, the data and its labels).

use std::path::Path;

use anyhow::{Result, bail};
use indicatif::ProgressBar;

use super::merge::average;
use super::pleas::{PleasConfig, PleasMatch, PleasSize, PleasTiming, pleas};
use super::{permute, weight_matching};
use crate::data::Dataset;
use crate::nn::Mlp;
use crate::nn::train::{TrainConfig, distill_mlp, evaluate, train_mlp};
use crate::rng::Rng;

/// Settings of the study.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StudyConfig {
    /// Hidden widths of A and B.
    pub hidden: Vec<usize>,
    /// Training epochs of A, B and the union-trained models.
    pub epochs: usize,
    /// Share of a class's training samples that go to the model it favours.
    pub skew: f64,
    /// Unlabelled training inputs given to the merges and to distillation.
    pub samples: usize,
    /// PLeaS budgets, FLOPs(merged) / FLOPs(one model).
    pub budgets: Vec<f64>,
    /// Epochs of distillation over the unlabelled inputs.
    pub distill_epochs: usize,
    /// Seed of the split, the sampling, training and weight matching.
    pub seed: u64,
    /// Progress bars on stderr.
    #[serde(skip)]
    pub progress: bool,
}

/// Which data a result used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataUse {
    /// Its own skewed half, with labels.
    OwnHalf,
    /// No data (the weights only).
    None,
    /// The unlabelled training inputs.
    Unlabelled,
    /// A different, generic data set (no training input at all).
    Generic,
    /// The whole training set with its labels.
    UnionLabels,
}

/// One result of the study.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StudyRow {
    /// What was made.
    pub method: String,
    /// FLOPs of one forward pass / FLOPs of A.
    pub flops_ratio: f64,
    /// Hidden widths.
    pub widths: Vec<usize>,
    /// Accuracy on the full test set.
    pub accuracy: f64,
    /// What data it used.
    pub data: DataUse,
    /// Seconds it took (training or merging).
    pub seconds: f64,
}

/// Everything the study measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Study {
    /// The settings.
    pub config: StudyConfig,
    /// How the training set was split.
    pub split: String,
    /// Training samples of A and of B.
    pub half_sizes: (usize, usize),
    /// Where the time of the PLeaS merge nearest 1× went.
    pub timing_at_1x: PleasTiming,
    /// The results, in the order they were made.
    pub rows: Vec<StudyRow>,
}

/// Splits `train` into two skewed halves: classes `< classes/2` send `skew` of their samples
/// (in a seeded random order) to the first half, the others send `skew` to the second.
pub fn skewed_halves(train: &Dataset, skew: f64, seed: u64) -> Result<(Dataset, Dataset)> {
    if !(0.0..=1.0).contains(&skew) {
        bail!("the skew is a share of each class, between 0 and 1 (got {skew})");
    }
    let mut rng = Rng::new(seed);
    let (mut ia, mut ib) = (Vec::new(), Vec::new());
    for c in 0..train.classes {
        let mut idx: Vec<usize> = (0..train.n)
            .filter(|&i| usize::from(train.labels[i]) == c)
            .collect();
        rng.shuffle(&mut idx);
        let cut = (skew * idx.len() as f64).round() as usize;
        let (major, minor) = idx.split_at(cut);
        if c < train.classes / 2 {
            ia.extend_from_slice(major);
            ib.extend_from_slice(minor);
        } else {
            ib.extend_from_slice(major);
            ia.extend_from_slice(minor);
        }
    }
    rng.shuffle(&mut ia);
    rng.shuffle(&mut ib);
    Ok((subset(train, &ia), subset(train, &ib)))
}

/// The samples `idx` of `data`.
fn subset(data: &Dataset, idx: &[usize]) -> Dataset {
    let mut features = Vec::with_capacity(idx.len() * data.d);
    for &i in idx {
        features.extend_from_slice(data.row(i));
    }
    Dataset {
        features,
        labels: idx.iter().map(|&i| data.labels[i]).collect(),
        n: idx.len(),
        d: data.d,
        classes: data.classes,
    }
}

/// `n` samples of `data` drawn without replacement (all of them if it has fewer).
fn sample(data: &Dataset, n: usize, rng: &mut Rng) -> Dataset {
    let mut idx: Vec<usize> = (0..data.n).collect();
    rng.shuffle(&mut idx);
    idx.truncate(n);
    subset(data, &idx)
}

/// Square images of side `from` resampled bilinearly (pixel centres aligned) to side `to`, each
/// with its mirror image: a generic image set for the data-free variant (SPEC §3.4).
pub fn resampled_images(data: &Dataset, from: usize, to: usize) -> Result<Dataset> {
    if from == 0 || to == 0 || data.d != from * from {
        bail!(
            "resampling {from}×{from} images, but the data has {} features per sample",
            data.d
        );
    }
    let mut features = Vec::with_capacity(2 * data.n * to * to);
    let coord = |o: usize| -> (usize, usize, f32) {
        let s = ((o as f32 + 0.5) * from as f32 / to as f32 - 0.5).clamp(0.0, (from - 1) as f32);
        let lo = s.floor() as usize;
        (lo, (lo + 1).min(from - 1), s - lo as f32)
    };
    for mirrored in [false, true] {
        for i in 0..data.n {
            let img = data.row(i);
            for y in 0..to {
                let (y0, y1, fy) = coord(y);
                for x in 0..to {
                    let (x0, x1, fx) = coord(if mirrored { to - 1 - x } else { x });
                    let p = |yy: usize, xx: usize| img[yy * from + xx];
                    let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
                    let bottom = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
                    features.push(top * (1.0 - fy) + bottom * fy);
                }
            }
        }
    }
    Ok(Dataset {
        features,
        labels: [data.labels.clone(), data.labels.clone()].concat(),
        n: 2 * data.n,
        d: to * to,
        classes: data.classes,
    })
}

/// Accuracy of the ensemble of `models` (mean of their softmax probabilities) on `test`.
pub fn ensemble_accuracy(models: &[&Mlp], test: &Dataset) -> f64 {
    let c = test.classes;
    let mut probs = vec![0f64; test.n * c];
    for m in models {
        for (row, out) in m
            .forward(&test.features, test.n)
            .chunks(c)
            .zip(probs.chunks_mut(c))
        {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|&z| f64::from(z - max).exp()).sum();
            for (o, &z) in out.iter_mut().zip(row) {
                *o += f64::from(z - max).exp() / sum;
            }
        }
    }
    let correct = probs
        .chunks(c)
        .zip(&test.labels)
        .filter(|(p, y)| {
            let best = p
                .iter()
                .enumerate()
                .fold(0, |b, (i, &v)| if v > p[b] { i } else { b });
            best == usize::from(**y)
        })
        .count();
    correct as f64 / test.n.max(1) as f64
}

fn hidden_of(m: &Mlp) -> Vec<usize> {
    let w = m.widths();
    w[1..w.len() - 1].to_vec()
}

/// FLOPs of `m`'s forward pass (multiply-adds plus bias adds) relative to `reference`'s.
fn flops_ratio(m: &Mlp, reference: &Mlp) -> f64 {
    let f = |m: &Mlp| -> f64 {
        m.layers
            .iter()
            .map(|l| (l.out_dim * l.in_dim + l.out_dim) as f64)
            .sum()
    };
    f(m) / f(reference)
}

/// Runs the study on `train`/`test`; `generic` (same feature count, any labels) feeds the
/// data-free variant.
pub fn run_study(
    train: &Dataset,
    test: &Dataset,
    generic: &Dataset,
    cfg: &StudyConfig,
) -> Result<Study> {
    if cfg.budgets.is_empty() {
        bail!("the study needs at least one PLeaS budget");
    }
    if generic.d != train.d {
        bail!(
            "the generic data has {} features, the training set {}",
            generic.d,
            train.d
        );
    }
    let (half_a, half_b) = skewed_halves(train, cfg.skew, cfg.seed)?;
    let mut rng = Rng::new(cfg.seed ^ 0x9e37_79b9);
    let unlabelled = sample(train, cfg.samples, &mut rng);
    let narrow = cfg.budgets.iter().filter(|&&b| b < 1.0).count();
    let steps = 7 + 2 * cfg.budgets.len() + 2 * narrow;
    let bar = if cfg.progress {
        ProgressBar::new(steps as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len}  {msg}")
            .map_err(|e| anyhow::anyhow!("progress bar template: {e}"))?
            .progress_chars("=> "),
    );
    let tc = |hidden: Vec<usize>, epochs: usize, seed: u64| TrainConfig {
        hidden,
        epochs,
        batch_size: 500,
        lr: 1e-3,
        seed,
        progress: false,
    };
    let mut rows: Vec<StudyRow> = Vec::new();
    let push = |rows: &mut Vec<StudyRow>,
                method: String,
                m: &Mlp,
                reference: &Mlp,
                data: DataUse,
                seconds: f64|
     -> Result<()> {
        rows.push(StudyRow {
            method,
            flops_ratio: flops_ratio(m, reference),
            widths: hidden_of(m),
            accuracy: evaluate(m, test)?.accuracy,
            data,
            seconds,
        });
        bar.inc(1);
        Ok(())
    };
    let timed = |f: &mut dyn FnMut() -> Result<Mlp>| -> Result<(Mlp, f64)> {
        let t = std::time::Instant::now();
        let m = f()?;
        Ok((m, t.elapsed().as_secs_f64()))
    };

    bar.set_message("training A");
    let (a, sa) = timed(&mut || train_mlp(&tc(cfg.hidden.clone(), cfg.epochs, cfg.seed), &half_a))?;
    push(
        &mut rows,
        "A (its skewed half)".into(),
        &a,
        &a,
        DataUse::OwnHalf,
        sa,
    )?;
    bar.set_message("training B");
    let (b, sb) =
        timed(&mut || train_mlp(&tc(cfg.hidden.clone(), cfg.epochs, cfg.seed + 1), &half_b))?;
    push(
        &mut rows,
        "B (its skewed half)".into(),
        &b,
        &a,
        DataUse::OwnHalf,
        sb,
    )?;
    rows.push(StudyRow {
        method: "ensemble of A and B (mean probabilities)".into(),
        flops_ratio: 2.0,
        widths: cfg.hidden.iter().map(|w| 2 * w).collect(),
        accuracy: ensemble_accuracy(&[&a, &b], test),
        data: DataUse::OwnHalf,
        seconds: 0.0,
    });
    bar.inc(1);

    bar.set_message("weight matching");
    let (wm, s) = timed(&mut || {
        let al = weight_matching(&a, &b, cfg.seed)?;
        average(&[a.clone(), permute(&b, &al.perms)])
    })?;
    push(
        &mut rows,
        "weight-matching average".into(),
        &wm,
        &a,
        DataUse::None,
        s,
    )?;

    let full = |matching, least_squares| PleasConfig {
        size: PleasSize::Widths(cfg.hidden.clone()),
        matching,
        least_squares,
        ridge: 1e-6,
        seed: cfg.seed,
    };
    bar.set_message("least squares without permutation");
    let (m, s) =
        timed(&mut || Ok(pleas(&a, &b, Some(&unlabelled), &full(PleasMatch::None, true))?.model))?;
    push(
        &mut rows,
        "least squares, no permutation (RegMean-like)".into(),
        &m,
        &a,
        DataUse::Unlabelled,
        s,
    )?;
    bar.set_message("PLeaS-free");
    let (m, s) = timed(&mut || {
        Ok(pleas(&a, &b, Some(generic), &full(PleasMatch::Activation, true))?.model)
    })?;
    push(
        &mut rows,
        "PLeaS-free (generic data)".into(),
        &m,
        &a,
        DataUse::Generic,
        s,
    )?;

    let mut timing_at_1x = PleasTiming::default();
    let mut nearest = f64::INFINITY;
    for &budget in &cfg.budgets {
        for least_squares in [true, false] {
            bar.set_message(format!(
                "PLeaS at {budget}x{}",
                if least_squares {
                    ""
                } else {
                    " without least squares"
                }
            ));
            let c = PleasConfig {
                size: PleasSize::Budget(budget),
                ..full(PleasMatch::Activation, least_squares)
            };
            let t = std::time::Instant::now();
            let r = pleas(&a, &b, Some(&unlabelled), &c)?;
            let s = t.elapsed().as_secs_f64();
            if least_squares && (budget - 1.0).abs() < nearest {
                nearest = (budget - 1.0).abs();
                timing_at_1x = r.timing;
            }
            let name = if least_squares {
                format!("PLeaS {budget}x")
            } else {
                format!("PLeaS {budget}x, no least squares")
            };
            let row_model = r.model;
            // The merged model's FLOPs follow SPEC §3.2 (the zero cross blocks not counted).
            let ratio = r.flops_ratio;
            push(&mut rows, name, &row_model, &a, DataUse::Unlabelled, s)?;
            if let Some(last) = rows.last_mut() {
                last.flops_ratio = ratio;
            }
            if least_squares && budget < 1.0 {
                let hidden = hidden_of(&row_model);
                bar.set_message(format!("distilling {hidden:?}"));
                let (m, s) = timed(&mut || {
                    distill_mlp(
                        &tc(hidden.clone(), cfg.distill_epochs, cfg.seed + 2),
                        &unlabelled,
                        &[&a, &b],
                    )
                })?;
                push(
                    &mut rows,
                    format!("distilled from the ensemble, {hidden:?}"),
                    &m,
                    &a,
                    DataUse::Unlabelled,
                    s,
                )?;
                bar.set_message(format!("training {hidden:?} on the union"));
                let (m, s) =
                    timed(&mut || train_mlp(&tc(hidden.clone(), cfg.epochs, cfg.seed + 3), train))?;
                push(
                    &mut rows,
                    format!("trained on the union with labels, {hidden:?}"),
                    &m,
                    &a,
                    DataUse::UnionLabels,
                    s,
                )?;
            }
        }
    }
    bar.set_message("training on the union");
    let (m, s) =
        timed(&mut || train_mlp(&tc(cfg.hidden.clone(), cfg.epochs, cfg.seed + 3), train))?;
    push(
        &mut rows,
        format!("trained on the union with labels, {:?}", cfg.hidden),
        &m,
        &a,
        DataUse::UnionLabels,
        s,
    )?;
    bar.finish_and_clear();
    Ok(Study {
        config: cfg.clone(),
        split: format!(
            "classes 0..{} send {:.0}% of their training samples to A and the rest to B; \
             classes {}..{} the other way round",
            train.classes / 2 - 1,
            100.0 * cfg.skew,
            train.classes / 2,
            train.classes - 1
        ),
        half_sizes: (half_a.n, half_b.n),
        timing_at_1x,
        rows,
    })
}

/// Draws accuracy against FLOPs ratio: the PLeaS line (with and without least squares), the
/// narrow baselines, and the single-model results as points; written atomically.
pub fn plot(study: &Study, path: &Path) -> Result<()> {
    let format = crate::output::plot::PlotFormat::of(path)?;
    let bytes = crate::output::plot::render(
        format,
        (900, 560),
        |root| draw(study, root),
        |root| draw(study, root),
    )?;
    crate::output::write_atomic(path, &bytes)
}

fn draw<DB: plotters::prelude::DrawingBackend>(
    study: &Study,
    root: plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing the plot: {e}");
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let lo = study.rows.iter().map(|r| r.accuracy).fold(1.0f64, f64::min);
    let y0 = ((lo - 0.05) * 20.0).floor() / 20.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "PLeaS on skewed halves ({:.0}/{:.0}), accuracy on the full test set",
                100.0 * study.config.skew,
                100.0 - 100.0 * study.config.skew
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..2.1f64, y0.max(0.0)..1.0f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("FLOPs / FLOPs of one model")
        .y_desc("test accuracy")
        .draw()
        .map_err(|e| err(&e))?;
    let series = |prefix: &str, exclude: Option<&str>| -> Vec<(f64, f64)> {
        let mut pts: Vec<(f64, f64)> = study
            .rows
            .iter()
            .filter(|r| {
                r.method.starts_with(prefix) && exclude.is_none_or(|x| !r.method.contains(x))
            })
            .map(|r| (r.flops_ratio, r.accuracy))
            .collect();
        pts.sort_by(|p, q| p.0.total_cmp(&q.0));
        pts
    };
    let lines = [
        ("PLeaS ", Some("no least"), BLUE, "PLeaS"),
        ("PLeaS ", None, RGBColor(150, 170, 230), ""),
        (
            "distilled",
            None,
            RGBColor(0, 150, 0),
            "distilled from the ensemble",
        ),
        (
            "trained on the union",
            None,
            RGBColor(200, 120, 0),
            "trained on the union (labels)",
        ),
    ];
    for (i, (prefix, exclude, color, label)) in lines.into_iter().enumerate() {
        let pts = if i == 1 {
            study
                .rows
                .iter()
                .filter(|r| r.method.ends_with("no least squares"))
                .map(|r| (r.flops_ratio, r.accuracy))
                .collect::<Vec<_>>()
        } else {
            series(prefix, exclude)
        };
        if pts.is_empty() {
            continue;
        }
        let label = if i == 1 {
            "PLeaS without least squares"
        } else {
            label
        };
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
            .map_err(|e| err(&e))?;
    }
    let points = [
        ("A (", RGBColor(120, 120, 120), "A, B"),
        ("B (", RGBColor(120, 120, 120), ""),
        ("ensemble", BLACK, "ensemble of A and B"),
        ("weight-matching", RED, "weight-matching average"),
        ("least squares, no perm", MAGENTA, "LS without permutation"),
        ("PLeaS-free", CYAN, "PLeaS-free (generic data)"),
    ];
    for (prefix, color, label) in points {
        let pts: Vec<(f64, f64)> = study
            .rows
            .iter()
            .filter(|r| r.method.starts_with(prefix))
            .map(|r| (r.flops_ratio, r.accuracy))
            .collect();
        let s = chart
            .draw_series(
                pts.into_iter()
                    .map(|p| TriangleMarker::new(p, 7, color.filled())),
            )
            .map_err(|e| err(&e))?;
        if !label.is_empty() {
            s.label(label)
                .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 6, color.filled()));
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(n: usize, classes: usize) -> Dataset {
        Dataset {
            features: (0..n * 4).map(|i| (i % 7) as f32 / 7.0).collect(),
            labels: (0..n).map(|i| (i % classes) as u8).collect(),
            n,
            d: 4,
            classes,
        }
    }

    #[test]
    fn skewed_halves_send_the_stated_shares() {
        let data = tiny(400, 4);
        let (a, b) = skewed_halves(&data, 0.9, 1).expect("splits");
        assert_eq!(a.n + b.n, 400);
        let count = |d: &Dataset, c: u8| d.labels.iter().filter(|&&l| l == c).count();
        // 100 per class: 90 of classes 0 and 1 to A, 90 of classes 2 and 3 to B.
        assert_eq!(
            [count(&a, 0), count(&a, 1), count(&a, 2), count(&a, 3)],
            [90, 90, 10, 10]
        );
        assert_eq!(
            [count(&b, 0), count(&b, 1), count(&b, 2), count(&b, 3)],
            [10, 10, 90, 90]
        );
        // Every sample lands in exactly one half.
        let mut all: Vec<Vec<u32>> = a
            .features
            .chunks(4)
            .chain(b.features.chunks(4))
            .map(|r| r.iter().map(|v| v.to_bits()).collect())
            .collect();
        let mut want: Vec<Vec<u32>> = data
            .features
            .chunks(4)
            .map(|r| r.iter().map(|v| v.to_bits()).collect())
            .collect();
        all.sort();
        want.sort();
        assert_eq!(all, want);
        assert!(skewed_halves(&data, 1.5, 1).is_err());
    }

    #[test]
    fn resampling_hand_worked() {
        // A 2×2 image [[0, 1], [1, 0]] to 4×4: pixel centres at -0.25, 0.25, 0.75, 1.25 of the
        // source, clamped: rows 0 and 3 copy the source rows' ends, rows 1 and 2 blend.
        let d = Dataset {
            features: vec![0.0, 1.0, 1.0, 0.0],
            labels: vec![3],
            n: 1,
            d: 4,
            classes: 4,
        };
        let r = resampled_images(&d, 2, 4).expect("resamples");
        assert_eq!((r.n, r.d), (2, 16));
        let first = r.row(0);
        assert_eq!(&first[0..4], &[0.0, 0.25, 0.75, 1.0]);
        assert_eq!(&first[12..16], &[1.0, 0.75, 0.25, 0.0]);
        assert!(
            (first[5] - (0.75 * 0.25 * 1.0 + 0.25 * 0.75 * 1.0 + 0.25 * 0.25 * 0.0)).abs() < 1e-6
        );
        // The mirrored copy reverses every row.
        let second = r.row(1);
        for y in 0..4 {
            let mut row = first[y * 4..y * 4 + 4].to_vec();
            row.reverse();
            assert_eq!(&second[y * 4..y * 4 + 4], row.as_slice());
        }
        assert_eq!(r.labels, vec![3, 3]);
        assert!(resampled_images(&d, 3, 4).is_err());
    }

    #[test]
    fn ensemble_of_one_model_is_the_model() {
        let (train, test) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let m = train_mlp(
            &TrainConfig {
                hidden: vec![16],
                epochs: 2,
                batch_size: 64,
                lr: 3e-3,
                seed: 1,
                progress: false,
            },
            &train,
        )
        .expect("trains");
        let want = evaluate(&m, &test).expect("evaluates").accuracy;
        assert!((ensemble_accuracy(&[&m], &test) - want).abs() < 1e-12);
        assert!((ensemble_accuracy(&[&m, &m], &test) - want).abs() < 1e-12);
    }
}
