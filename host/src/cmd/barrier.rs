//! `mote barrier`: loss and accuracy along the linear path A -> B, naive and aligned, the LMC
//! barrier (see [`crate::align::barrier`]) and its plot.

use anyhow::{Result, bail};

use super::Config;

use crate::align::barrier::{BarrierReport, measure, plot};
use crate::output::{out, outln};

/// Human-readable table of a report.
pub fn render(report: &BarrierReport) -> String {
    let mut s = String::from(
        "path      split  loss(A)  loss(mid) loss(B)  loss barrier  acc(A)  acc(mid) acc(B)  acc barrier\n",
    );
    for c in std::iter::once(&report.naive).chain(report.aligned.as_ref()) {
        for (name, sc) in [("train", &c.train), ("test", &c.test)] {
            let (f, m, l) = (
                sc.points[0],
                sc.points[sc.points.len() / 2],
                sc.points[sc.points.len() - 1],
            );
            s += &format!(
                "{:<9} {:<6} {:>7.4}  {:>8.4}  {:>7.4}  {:>12.4}  {:>6.2}%  {:>6.2}%  {:>6.2}%  {:>9.2}%\n",
                c.label,
                name,
                f.loss,
                m.loss,
                l.loss,
                sc.loss_barrier,
                f.accuracy * 100.0,
                m.accuracy * 100.0,
                l.accuracy * 100.0,
                sc.accuracy_barrier * 100.0
            );
        }
    }
    s
}

/// `mote barrier` arguments.
#[derive(Debug, clap::Args)]
pub struct BarrierArgs {
    /// Model A (λ = 0).
    pub a: std::path::PathBuf,
    /// Model B (λ = 1).
    pub b: std::path::PathBuf,
    /// Alignment of B to A for the second curve (`none`: naive curve only).
    #[arg(long, value_enum, default_value_t = crate::align::Method::Weight)]
    pub align: crate::align::Method,
    /// Data set, a bundled name or a file (train and test splits are both evaluated).
    #[arg(long)]
    pub data: String,
    /// Number of evenly spaced λ values in [0, 1].
    #[arg(long, default_value_t = 25)]
    pub points: usize,
    /// Plot file (.png or .svg).
    #[arg(long)]
    pub plot: Option<std::path::PathBuf>,
    /// Seed and straight-through estimator settings.
    #[command(flatten)]
    pub align_args: super::align_args::AlignArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
}

/// Runs `mote barrier`.
pub fn run(args: &BarrierArgs, config: &Config) -> Result<()> {
    if args.points < 2 {
        bail!("--points must be at least 2 (got {})", args.points);
    }
    let models = crate::nn::load_same_arch(&[args.a.clone(), args.b.clone()])?;
    let (a, b) = (&models[0], &models[1]);
    let (train, test) = config
        .catalog
        .with_files(args.file.options(true))
        .load(&args.data)?;
    if a.in_dim() != train.d || a.out_dim() != train.classes {
        bail!(
            "{}: the model maps {} inputs to {} classes, but `{}` has {} features and {} classes",
            args.a.display(),
            a.in_dim(),
            a.out_dim(),
            args.data,
            train.d,
            train.classes
        );
    }
    let aligned = crate::align::align(
        a,
        b,
        args.align,
        Some(&train),
        &args.align_args.options(true),
    )?
    .map(|al| crate::align::permute(b, &al.perms));
    let report = measure(a, b, aligned.as_ref(), &train, &test, args.points)?;
    if let Some(p) = &args.plot {
        plot(&report, p)?;
    }
    if args.json {
        crate::output::print_json(&report)
    } else {
        out!("{}", render(&report))?;
        if let Some(p) = &args.plot {
            outln!("plot: {}", p.display())?;
        }
        Ok(())
    }
}
