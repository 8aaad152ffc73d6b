//! Plots of the dictionary experiments: error vs iteration, RMSE vs k.

use std::path::Path;

use anyhow::{Result, bail};

use crate::output::plot::PlotFormat;

use super::stream::StreamReport;
use super::synthetic::SyntheticReport;

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
    let format = PlotFormat::of(path)?;
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
    let ranges = (x1, y0, y1);
    let labels = (title, xlabel, ylabel);
    // Rendered in memory and written like any output: a failed plot leaves no partial file.
    let bytes = crate::output::plot::render(
        format,
        (900, 560),
        |root| draw(root, labels, ranges, series),
        |root| draw(root, labels, ranges, series),
    )?;
    crate::output::write_atomic(path, &bytes)
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

#[cfg(test)]
mod tests {
    use super::*;

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
