//! `mote analyze`: the measurements of SPEC §2.8 for a weight-matched pair (see
//! [`crate::align::analyze`]), optionally with the midpoints' test accuracy.

use anyhow::Result;

use super::Config;

use crate::align::Method;
use crate::align::analyze::Analysis;
use crate::align::many::analyze_many;
use crate::output::{out, outln};

/// Human-readable summary.
pub fn render(r: &Analysis) -> String {
    let mut s = format!(
        "L2 distance ‖θA − θB‖ = {:.4}, after alignment ‖θA − π(θB)‖ = {:.4} (ratio {:.4}); \
         ‖θA‖ = {:.4}, ‖θB‖ = {:.4}\n\n",
        r.distance_before, r.distance_after, r.distance_ratio, r.norms[0], r.norms[1]
    );
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    s += &format!(
        "layer      σ1(A)    σ1(B)   max Δσ under π   mean|cos u| top-{k} before→after   mean|cos v| before→after\n",
        k = r.k
    );
    for l in &r.layers {
        s += &format!(
            "{:<9} {:>7.3}  {:>7.3}   {:>14.2e}   {:>12.3} → {:<12.3}   {:>8.3} → {:<8.3}\n",
            l.tensor,
            l.sigma_a.first().copied().unwrap_or(0.0),
            l.sigma_b.first().copied().unwrap_or(0.0),
            l.sigma_change_under_permutation,
            mean(&l.left_cos_before),
            mean(&l.left_cos_after),
            mean(&l.right_cos_before),
            mean(&l.right_cos_after),
        );
    }
    s
}

/// `mote analyze` arguments.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Models (two or more, same architecture): the first is the common reference, every other
    /// one is aligned to it (never to each other).
    #[arg(required = true, num_args = 2..)]
    pub models: Vec<std::path::PathBuf>,
    /// Alignment method (`activation` and `ste` need `--data`).
    #[arg(long, value_enum, default_value_t = Method::Weight)]
    pub method: Method,
    /// Data set: its train split for activation matching and STE, its test split to evaluate
    /// the models, their merges, the barriers and the truncation check.
    #[arg(long)]
    pub data: Option<String>,
    /// Number of top singular vectors compared per layer.
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub k: usize,
    /// Seed and straight-through estimator settings.
    #[command(flatten)]
    pub align: super::align_args::AlignArgs,
    /// Plot of the top-k singular-vector alignment against k (.png or .svg).
    #[arg(long)]
    pub plot: Option<std::path::PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
}

/// Runs `mote analyze`.
pub fn run(args: &AnalyzeArgs, config: &Config) -> Result<()> {
    let models = crate::nn::load_same_arch(&args.models)?;
    let data = match &args.data {
        Some(name) => Some(
            config
                .catalog
                .with_files(args.file.options(true))
                .load(name)?,
        ),
        None => None,
    };
    if let Some((train, _)) = &data
        && (train.d != models[0].in_dim() || train.classes != models[0].out_dim())
    {
        anyhow::bail!(
            "{}: the model maps {} inputs to {} classes, but `{}` has {} features and {} classes",
            args.models[0].display(),
            models[0].in_dim(),
            models[0].out_dim(),
            args.data.as_deref().unwrap_or_default(),
            train.d,
            train.classes
        );
    }
    let r = analyze_many(
        &models,
        args.method,
        data.as_ref().map(|d| &d.0),
        data.as_ref().map(|d| &d.1),
        &args.align.options(true),
        args.k,
    )?;
    if let Some(p) = &args.plot {
        crate::align::many::plot(&r, p)?;
    }
    if args.json {
        return crate::output::print_json(&r);
    }
    outln!(
        "{} models aligned to {} by {} matching in {:.2} s",
        r.models - 1,
        args.models[0].display(),
        serde_json::to_value(r.method)?.as_str().unwrap_or("?"),
        r.align_seconds
    )?;
    for e in &r.aligned {
        outln!(
            "\n{} against the reference:",
            args.models[e.model - 1].display()
        )?;
        out!("{}", render(&e.analysis))?;
    }
    outln!("\nmean top-k alignment |cos| (singular vectors, all layers), before → after")?;
    for t in r
        .topk
        .iter()
        .filter(|t| t.k == 1 || t.k % 5 == 0 || t.k == r.topk.len())
    {
        outln!("  k = {:>3}   {:.3} → {:.3}", t.k, t.before, t.after)?;
    }
    if let Some(t) = &r.test {
        outln!("\ntest split: loss / accuracy")?;
        for (path, e) in args.models.iter().zip(&t.models) {
            outln!(
                "  {:<30} {:.4} / {:.2}%",
                path.display(),
                e.loss,
                e.accuracy * 100.0
            )?;
        }
        for (name, e) in [
            ("naive merge", t.naive_merge),
            ("aligned merge", t.aligned_merge),
        ] {
            outln!("  {name:<30} {:.4} / {:.2}%", e.loss, e.accuracy * 100.0)?;
        }
        outln!("test loss barriers (11 points):")?;
        for p in t
            .barrier_to_reference
            .iter()
            .chain(&t.barrier_between_aligned)
        {
            outln!(
                "  models {} and {}: {:.4} (accuracy {:.2} points)",
                p.pair[0],
                p.pair[1],
                p.loss_barrier,
                p.accuracy_barrier * 100.0
            )?;
        }
        if let Some(m) = t.mean_barrier_between_aligned {
            outln!("  mean between aligned non-reference models: {m:.4}")?;
        }
        outln!("merges of the first n models (test loss / accuracy), alignment time:")?;
        for c in &t.by_count {
            outln!(
                "  n = {}   naive {:.4} / {:.2}%   aligned {:.4} / {:.2}%   barrier between aligned {}   {:.2} s",
                c.models,
                c.naive_merge.loss,
                c.naive_merge.accuracy * 100.0,
                c.aligned_merge.loss,
                c.aligned_merge.accuracy * 100.0,
                c.mean_barrier_between_aligned
                    .map_or("—".to_string(), |b| format!("{b:.4}")),
                c.align_seconds
            )?;
        }
        outln!("truncation check (top fraction of each layer's singular components kept):")?;
        for c in &t.truncation {
            outln!(
                "  {:>5.0}%   reference {:.2}%   aligned merge {:.2}%",
                c.fraction * 100.0,
                c.reference.accuracy * 100.0,
                c.aligned_merge.accuracy * 100.0
            )?;
        }
    }
    if let Some(p) = &args.plot {
        outln!("plot: {}", p.display())?;
    }
    Ok(())
}
