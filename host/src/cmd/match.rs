//! `mote match`: align model B to model A and save the permuted B.

use anyhow::Result;

use super::Config;

use crate::align::{Alignment, Method, align, l2_distance, permute};
use crate::output::outln;

/// `mote match` arguments.
#[derive(Debug, clap::Args)]
pub struct MatchArgs {
    /// Reference model (safetensors).
    pub a: std::path::PathBuf,
    /// Model to align to A.
    pub b: std::path::PathBuf,
    /// Output: B with its hidden units permuted (same function as B).
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Matching method.
    #[arg(long, value_enum, default_value_t = Method::Weight)]
    pub method: Method,
    /// Seed and straight-through estimator settings.
    #[command(flatten)]
    pub align: super::align_args::AlignArgs,
    /// Data set (a bundled name or a file) for activation matching and the straight-through
    /// estimator (train split).
    #[arg(long)]
    pub data: Option<String>,
    /// Machine-readable output (includes the objective of every weight-matching sweep, or the
    /// straight-through estimator's per-epoch log).
    #[arg(long)]
    pub json: bool,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
}

/// What `mote match --json` prints.
#[derive(Debug, serde::Serialize)]
struct MatchReport<'a> {
    a: String,
    b: String,
    output: String,
    seconds: f64,
    l2_distance_before: f64,
    l2_distance_after: f64,
    #[serde(flatten)]
    alignment: &'a Alignment,
}

/// Runs `mote match`.
pub fn run(args: &MatchArgs, config: &Config) -> Result<()> {
    crate::output::claim_stdout_for_output(&args.output, args.json)?;
    let models = crate::nn::load_same_arch(&[args.a.clone(), args.b.clone()])?;
    let (a, b) = (&models[0], &models[1]);
    let data = match &args.data {
        Some(name) => Some(
            config
                .catalog
                .with_files(args.file.options(true))
                .load(name)?
                .0,
        ),
        None => None,
    };
    let start = std::time::Instant::now();
    let al =
        align(a, b, args.method, data.as_ref(), &args.align.options(true))?.ok_or_else(|| {
            anyhow::anyhow!("--method none aligns nothing; choose weight or activation")
        })?;
    let seconds = start.elapsed().as_secs_f64();
    let aligned = permute(b, &al.perms);
    aligned.save(&args.output)?;
    let report = MatchReport {
        a: args.a.display().to_string(),
        b: args.b.display().to_string(),
        output: args.output.display().to_string(),
        seconds,
        l2_distance_before: l2_distance(a, b),
        l2_distance_after: l2_distance(a, &aligned),
        alignment: &al,
    };
    if args.json {
        // The permutations are long; they are in the output file already (as the model).
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("perms");
        }
        return crate::output::print_json(&v);
    }
    outln!(
        "{} matching: objective {:.6} -> {:.6}",
        al.method,
        al.objective_identity,
        al.objective
    )?;
    for e in &al.epochs {
        outln!(
            "  epoch {:>3}  mean batch loss {:.4}  best {:.4}  units moved {}  sweeps {}  {:.1} s",
            e.epoch,
            e.mean_batch_loss,
            e.best_batch_loss,
            e.units_moved,
            e.sweeps,
            e.seconds
        )?;
    }
    for s in &al.sweeps {
        outln!(
            "  sweep {:>3}  order {:?}  objective {:.6}  units moved {}",
            s.sweep,
            s.order,
            s.objective,
            s.changed_units
        )?;
    }
    outln!(
        "L2 distance {:.4} -> {:.4}; {:.3} s; wrote {}",
        report.l2_distance_before,
        report.l2_distance_after,
        seconds,
        args.output.display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::random_mlp;
    use crate::rng::Rng;

    #[test]
    fn match_command_rejects_bad_models_and_writes_nothing() {
        let dir = std::env::temp_dir().join(format!("mote-match-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut rng = Rng::new(8);
        let a = random_mlp(&[6, 8, 8, 3], &mut rng);
        let mut nan = a.clone();
        nan.layers[1].weight[5] = f32::NAN;
        let other = random_mlp(&[6, 8, 4, 3], &mut rng);
        let pa = dir.join("a.safetensors");
        a.save(&pa).expect("writes");
        // Mlp::save refuses nothing, so write the NaN model's bytes directly.
        std::fs::write(dir.join("nan.safetensors"), nan.to_safetensors()).expect("writes");
        other.save(&dir.join("other.safetensors")).expect("writes");
        let out = dir.join("out.safetensors");
        for (b, want) in [
            (
                "nan.safetensors",
                "tensor `2.weight` has non-finite value NaN at flat index 5",
            ),
            ("other.safetensors", "tensor `2.weight` is [8, 8] vs [4, 8]"),
        ] {
            let args = MatchArgs {
                a: pa.clone(),
                b: dir.join(b),
                output: out.clone(),
                method: Method::Weight,
                align: crate::cmd::align_args::AlignArgs {
                    seed: 0,
                    ste_epochs: 1,
                    ste_batch: 100,
                    ste_lr: 1e-2,
                },
                data: None,
                json: true,
                file: Default::default(),
            };
            let e = format!("{:#}", run(&args, &Config::default()).expect_err(b));
            assert!(e.contains(b) && e.contains(want), "{e}");
            assert!(!out.exists(), "nothing may be written on error");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn data_hungry_methods_without_data_are_refused() {
        let dir = std::env::temp_dir().join(format!("mote-match-ste-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let a = random_mlp(&[64, 8, 10], &mut Rng::new(2));
        let pa = dir.join("a.safetensors");
        a.save(&pa).expect("writes");
        let out = dir.join("out.safetensors");
        for method in [Method::Activation, Method::Ste] {
            let args = MatchArgs {
                a: pa.clone(),
                b: pa.clone(),
                output: out.clone(),
                method,
                align: crate::cmd::align_args::AlignArgs {
                    seed: 0,
                    ste_epochs: 1,
                    ste_batch: 100,
                    ste_lr: 1e-2,
                },
                data: None,
                json: true,
                file: Default::default(),
            };
            let e = format!("{:#}", run(&args, &Config::default()).expect_err("no data"));
            assert!(e.contains("needs data: pass --data"), "{e}");
            assert!(!out.exists());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
