//! `mote analyze`: the measurements of SPEC §2.8 for a weight-matched pair (see
//! [`crate::align::analyze`]), optionally with the midpoints' test accuracy.

use anyhow::Result;

use super::Config;

use crate::align::analyze::{Analysis, analyze};
use crate::nn::Mlp;
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
    /// Model A (reference).
    pub a: std::path::PathBuf,
    /// Model B (aligned to A by weight matching).
    pub b: std::path::PathBuf,
    /// Also evaluate A, B and the midpoints before/after alignment on this data set's test split.
    #[arg(long)]
    pub data: Option<String>,
    /// Number of top singular vectors compared per layer.
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub k: usize,
    /// Seed of weight matching.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Test-split evaluation for `mote analyze --data`.
#[derive(Debug, serde::Serialize)]
struct Midpoints {
    a: crate::nn::train::Eval,
    b: crate::nn::train::Eval,
    naive_midpoint: crate::nn::train::Eval,
    aligned_midpoint: crate::nn::train::Eval,
}

/// Runs `mote analyze`.
pub fn run(args: &AnalyzeArgs, config: &Config) -> Result<()> {
    let models = crate::nn::load_same_arch(&[args.a.clone(), args.b.clone()])?;
    let (a, b) = (&models[0], &models[1]);
    let al = crate::align::weight_matching(a, b, args.seed)?;
    let aligned = crate::align::permute(b, &al.perms);
    let analysis = analyze(a, b, &aligned, args.k)?;
    let mids = match &args.data {
        Some(name) => {
            let (_, test) = config.catalog.load(name)?;
            let ev = |m: &Mlp| crate::nn::train::evaluate(m, &test);
            Some(Midpoints {
                a: ev(a)?,
                b: ev(b)?,
                naive_midpoint: ev(&a.lerp(b, 0.5))?,
                aligned_midpoint: ev(&a.lerp(&aligned, 0.5))?,
            })
        }
        None => None,
    };
    if args.json {
        return crate::output::print_json(&serde_json::json!({
            "analysis": analysis,
            "weight_matching_sweeps": al.sweeps.len(),
            "test": mids,
        }));
    }
    out!("{}", render(&analysis))?;
    if let Some(m) = mids {
        outln!("\ntest split: loss / accuracy")?;
        for (name, e) in [
            ("A", m.a),
            ("B", m.b),
            ("naive midpoint", m.naive_midpoint),
            ("aligned midpoint", m.aligned_midpoint),
        ] {
            outln!("  {name:<17} {:.4} / {:.2}%", e.loss, e.accuracy * 100.0)?;
        }
    }
    Ok(())
}
