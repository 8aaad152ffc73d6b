//! Loss and accuracy along the linear path between two models, and the LMC
//! barrier of SPEC §2.5.
//!
//! ```text
//! θ(λ) = (1 − λ)·θ_A + λ·θ_B'            (θ_B' = θ_B for "naive", π(θ_B) for "aligned")
//! barrier = max_λ [ L(θ(λ)) − ((1 − λ)·L(θ_A) + λ·L(θ_B')) ]     over λ = linspace(0, 1, points)
//! ```
//!
//! The accuracy barrier is the same with the sign turned: how far accuracy drops below the
//! straight line between the end points.

use std::path::Path;

use anyhow::{Result, bail};

use indicatif::{ProgressBar, ProgressStyle};

use crate::data::Dataset;
use crate::nn::Mlp;
use crate::nn::train::{Eval, evaluate};

/// Loss and accuracy at each λ on one split.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SplitCurve {
    /// Evaluation at each λ.
    pub points: Vec<Eval>,
    /// Loss barrier (SPEC §2.5), ≥ 0.
    pub loss_barrier: f64,
    /// Accuracy barrier: max drop of accuracy below the line between the end points, ≥ 0.
    pub accuracy_barrier: f64,
}

/// One interpolation path, on the train and test splits.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Curve {
    /// `"naive"` or `"aligned"` (or another label given by the caller).
    pub label: String,
    /// The λ values, `linspace(0, 1, points)`.
    pub lambdas: Vec<f64>,
    /// Train split.
    pub train: SplitCurve,
    /// Test split.
    pub test: SplitCurve,
}

/// What `mote barrier` measures: the naive curve, and the aligned one if an alignment was used.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BarrierReport {
    /// θ_A to θ_B.
    pub naive: Curve,
    /// θ_A to π(θ_B).
    pub aligned: Option<Curve>,
}

/// `linspace(0, 1, points)`.
pub fn linspace(points: usize) -> Vec<f64> {
    match points {
        0 => Vec::new(),
        1 => vec![0.0],
        _ => (0..points)
            .map(|i| i as f64 / (points - 1) as f64)
            .collect(),
    }
}

/// Barrier of a sampled curve: `max_i [y_i − ((1 − λ_i)·y_0 + λ_i·y_last)]` (sign +1 for loss,
/// −1 for accuracy).
pub fn barrier_of(lambdas: &[f64], ys: &[f64], sign: f64) -> f64 {
    let (Some(&y0), Some(&y1)) = (ys.first(), ys.last()) else {
        return 0.0;
    };
    lambdas
        .iter()
        .zip(ys)
        .map(|(&l, &y)| sign * (y - ((1.0 - l) * y0 + l * y1)))
        .fold(0.0, f64::max)
}

fn split_curve(
    a: &Mlp,
    b: &Mlp,
    lambdas: &[f64],
    data: &Dataset,
    bar: &ProgressBar,
) -> Result<SplitCurve> {
    let points = lambdas
        .iter()
        .map(|&l| {
            let e = evaluate(&a.lerp(b, l as f32), data);
            bar.inc(1);
            e
        })
        .collect::<Result<Vec<_>>>()?;
    let loss: Vec<f64> = points.iter().map(|e| e.loss).collect();
    let acc: Vec<f64> = points.iter().map(|e| e.accuracy).collect();
    Ok(SplitCurve {
        loss_barrier: barrier_of(lambdas, &loss, 1.0),
        accuracy_barrier: barrier_of(lambdas, &acc, -1.0),
        points,
    })
}

/// The curve on one split only, with `points` evenly spaced λ: the barrier between two models
/// that were never matched to each other (SPEC §2.8 item 6) is measured on the test split.
pub fn split_barrier(a: &Mlp, b: &Mlp, data: &Dataset, points: usize) -> Result<SplitCurve> {
    if points < 2 {
        bail!("a barrier needs at least 2 points (got {points})");
    }
    split_curve(a, b, &linspace(points), data, &ProgressBar::hidden())
}

/// Evaluates the path from `a` to `b` at `points` values of λ on both splits.
pub fn curve(
    label: &str,
    a: &Mlp,
    b: &Mlp,
    train: &Dataset,
    test: &Dataset,
    points: usize,
) -> Result<Curve> {
    curve_with(label, a, b, (train, test), points, &ProgressBar::hidden())
}

fn curve_with(
    label: &str,
    a: &Mlp,
    b: &Mlp,
    (train, test): (&Dataset, &Dataset),
    points: usize,
    bar: &ProgressBar,
) -> Result<Curve> {
    if points < 2 {
        bail!("--points must be at least 2 (got {points})");
    }
    let lambdas = linspace(points);
    bar.set_message(label.to_string());
    Ok(Curve {
        label: label.to_string(),
        train: split_curve(a, b, &lambdas, train, bar)?,
        test: split_curve(a, b, &lambdas, test, bar)?,
        lambdas,
    })
}

/// Naive curve A→B, and A→`b_aligned` if given.
pub fn measure(
    a: &Mlp,
    b: &Mlp,
    b_aligned: Option<&Mlp>,
    train: &Dataset,
    test: &Dataset,
    points: usize,
) -> Result<BarrierReport> {
    // Each point evaluates both splits: long paths (`--points 100000`) show their progress on
    // standard error (drawn only on a terminal).
    let curves = 1 + u64::from(b_aligned.is_some());
    let bar = ProgressBar::new(curves * 2 * points as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} points  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report = BarrierReport {
        naive: curve_with("naive", a, b, (train, test), points, &bar)?,
        aligned: b_aligned
            .map(|ba| curve_with("aligned", a, ba, (train, test), points, &bar))
            .transpose()?,
    };
    bar.finish_and_clear();
    Ok(report)
}

/// Draws loss (left) and accuracy (right) against λ: naive in red, aligned in blue, train solid,
/// test dashed. The format follows the extension (`.png` or `.svg`); the image is rendered in
/// memory and written atomically.
pub fn plot(report: &BarrierReport, path: &Path) -> Result<()> {
    let format = crate::output::plot::PlotFormat::of(path)?;
    let bytes = crate::output::plot::render(
        format,
        (1100, 450),
        |root| draw_panels(report, root),
        |root| draw_panels(report, root),
    )?;
    crate::output::write_atomic(path, &bytes)
}

fn draw_panels<DB: plotters::prelude::DrawingBackend>(
    report: &BarrierReport,
    root: plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("drawing the plot: {e}");
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(550);
    let curves: Vec<&Curve> = std::iter::once(&report.naive)
        .chain(report.aligned.as_ref())
        .collect();
    for (area, is_loss) in [(left, true), (right, false)] {
        let value = |e: &Eval| if is_loss { e.loss } else { e.accuracy * 100.0 };
        let all: Vec<f64> = curves
            .iter()
            .flat_map(|c| c.train.points.iter().chain(&c.test.points).map(value))
            .collect();
        let hi = all.iter().cloned().fold(f64::MIN, f64::max);
        let lo = all.iter().cloned().fold(f64::MAX, f64::min);
        let pad = ((hi - lo) * 0.05).max(1e-3);
        let title = if is_loss {
            "cross-entropy loss"
        } else {
            "accuracy (%)"
        };
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..1f64, (lo - pad)..(hi + pad))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("λ  (0 = model A, 1 = model B)")
            .draw()
            .map_err(|e| err(&e))?;
        for c in &curves {
            let color = if c.label == "naive" { RED } else { BLUE };
            for (split, dashed) in [(&c.train, false), (&c.test, true)] {
                let pts: Vec<(f64, f64)> = c
                    .lambdas
                    .iter()
                    .zip(&split.points)
                    .map(|(&l, e)| (l, value(e)))
                    .collect();
                let label = format!(
                    "{} {} (barrier {:.3})",
                    c.label,
                    if dashed { "test" } else { "train" },
                    if is_loss {
                        split.loss_barrier
                    } else {
                        split.accuracy_barrier * 100.0
                    }
                );
                let style = color.stroke_width(2);
                let series = if dashed {
                    chart.draw_series(DashedLineSeries::new(pts, 6, 4, style))
                } else {
                    chart.draw_series(LineSeries::new(pts, style))
                };
                series
                    .map_err(|e| err(&e))?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(if is_loss {
                SeriesLabelPosition::UpperRight
            } else {
                SeriesLabelPosition::LowerRight
            })
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barrier_formula_hand_worked() {
        let l = linspace(5);
        assert_eq!(l, [0.0, 0.25, 0.5, 0.75, 1.0]);
        // End points 1 and 3: the line is 1, 1.5, 2, 2.5, 3; the gaps are 0, 0.5, 2, 0, 0.
        assert_eq!(barrier_of(&l, &[1.0, 2.0, 4.0, 2.5, 3.0], 1.0), 2.0);
        // A path below the line has barrier 0 (SPEC §2.5: the barrier is never negative).
        assert_eq!(barrier_of(&l, &[1.0, 0.5, 0.2, 0.5, 3.0], 1.0), 0.0);
        // Accuracy 0.9 → 0.8 with a dip to 0.5 at the middle: line 0.85, drop 0.35.
        let acc = barrier_of(&l, &[0.9, 0.8, 0.5, 0.8, 0.8], -1.0);
        assert!((acc - 0.35).abs() < 1e-12);
    }

    #[test]
    fn identical_models_have_zero_barrier_and_plot() {
        let (train, test) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let m = crate::nn::train::init_mlp(&[64, 16, 10], &mut crate::rng::Rng::new(2));
        let r = measure(&m, &m, Some(&m), &train, &test, 5).expect("measures");
        assert!(r.naive.train.loss_barrier < 1e-6 && r.naive.test.loss_barrier < 1e-6);
        let dir = std::env::temp_dir().join(format!("mote-barrier-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for name in ["b.svg", "b.png"] {
            plot(&r, &dir.join(name)).expect("plots");
            assert!(std::fs::metadata(dir.join(name)).expect("written").len() > 1000);
        }
        assert!(plot(&r, &dir.join("b.gif")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
