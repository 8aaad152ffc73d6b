//! `mote merge`: align two or more models, then average them or hand them to a merge rule.

use anyhow::{Result, bail};

use crate::align::merge::{align_to_reference, average, merge_many, merge_with_rule};
use crate::align::{permute, weight_matching};
use crate::nn::Mlp;
use crate::output::outln;
use crate::plugin::MergeRule;

/// `mote merge` arguments.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Models to merge (two or more, same architecture); the first is the reference frame.
    #[arg(required = true, num_args = 2..)]
    pub models: Vec<std::path::PathBuf>,
    /// Alignment before averaging: `weight` (merge-many, SPEC §2.7, for 3+ models),
    /// `activation` or `ste` (every model aligned to the first, which needs `--data`), or `none`.
    #[arg(long, value_enum, default_value_t = crate::align::Method::Weight)]
    pub align: crate::align::Method,
    /// Seed and straight-through estimator settings.
    #[command(flatten)]
    pub align_args: super::align_args::AlignArgs,
    /// Data set (a bundled name or a file) for `--align activation`, `--align ste` and PLeaS
    /// (train split; PLeaS reads its inputs only).
    #[arg(long)]
    pub data: Option<String>,
    /// Output model.
    #[arg(short, long)]
    pub output: std::path::PathBuf,
    /// Rule applied to the aligned models: `average` (built-in) or `plugin:PATH.wasm`, a
    /// sandboxed WebAssembly merge rule (docs/plugins.md).
    #[arg(long, default_value = "average")]
    pub rule: String,
    /// Parameter `key=value` of a plugin rule (repeatable; `mote plugin info` lists them).
    #[arg(long = "param", value_parser = super::plugin::parse_param)]
    pub params: Vec<(String, String)>,
    /// Base model the inputs were fine-tuned from, for task-vector rules (ties, fusechat-varm).
    /// It must be in the first model's frame (the alignment reference).
    #[arg(long)]
    pub base: Option<std::path::PathBuf>,
    /// Sandbox limits of each plugin call.
    #[command(flatten)]
    pub limits: crate::plugin::SandboxLimits,
    /// `average`: align, then average (or a plugin rule). `pleas`: PLeaS (SPEC §3), two models
    /// into a chosen width by partial matching and layer-wise least squares; it needs only
    /// unlabelled inputs from `--data` (the labels are never read).
    #[arg(long, value_enum, default_value_t = MergeMethod::Average)]
    pub method: MergeMethod,
    /// PLeaS: compute budget FLOPs(merged) / FLOPs(one model): 1 merges every matched pair, 2
    /// none (the two models side by side); below 1 the merged model is narrower than either
    /// input (the least important merged units dropped, the layers refit by least squares).
    #[arg(long, conflicts_with = "widths")]
    pub budget: Option<f64>,
    /// PLeaS: merged hidden widths, one per hidden layer, each between 1 and 2d (d..2d as in the
    /// paper; below d narrower than either input).
    #[arg(long, value_delimiter = ',', conflicts_with = "budget")]
    pub widths: Option<Vec<usize>>,
    /// PLeaS: how units are matched (`activation` needs `--data`; `weight` is data-free; `none`
    /// matches unit i with unit i, with least squares the RegMean-like baseline).
    #[arg(long = "match", value_enum, default_value_t = crate::align::pleas::PleasMatch::Activation)]
    pub matching: crate::align::pleas::PleasMatch,
    /// PLeaS: ridge of the least squares, relative to the mean eigenvalue of XᵀX.
    #[arg(long, default_value_t = 1e-6)]
    pub ridge: f64,
    /// PLeaS: skip the least squares (the block initialisation only).
    #[arg(long)]
    pub no_least_squares: bool,
    /// Machine-readable report (PLeaS).
    #[arg(long)]
    pub json: bool,
    /// How a `--data` file is read.
    #[command(flatten)]
    pub file: super::data_args::DataFileArgs,
}

/// How `mote merge` combines the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MergeMethod {
    /// Align, then average or apply `--rule`.
    Average,
    /// PLeaS: partial matching and least squares (SPEC §3).
    Pleas,
}

/// What `mote merge --method pleas --json` prints.
#[derive(Debug, serde::Serialize)]
struct PleasReport {
    output: String,
    widths: Vec<usize>,
    merged_pairs: Vec<usize>,
    flops_ratio: f64,
    least_squares: bool,
    matching: crate::align::pleas::PleasMatch,
    seconds: f64,
    timing: crate::align::pleas::PleasTiming,
}

/// `mote merge --method pleas`.
fn run_pleas(args: &MergeArgs, models: &[Mlp], config: &super::Config) -> Result<()> {
    use crate::align::pleas::{PleasConfig, PleasSize, pleas};
    if models.len() != 2 {
        bail!("PLeaS merges exactly two models (got {})", models.len());
    }
    if args.rule != "average" || !args.params.is_empty() || args.base.is_some() {
        bail!("--rule, --param and --base are for --method average");
    }
    let size = match (&args.widths, args.budget) {
        (Some(w), None) => PleasSize::Widths(w.clone()),
        (None, Some(b)) => PleasSize::Budget(b),
        _ => bail!("PLeaS needs --budget B or --widths W1,W2,..."),
    };
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
    let cfg = PleasConfig {
        size,
        matching: args.matching,
        least_squares: !args.no_least_squares,
        ridge: args.ridge,
        seed: args.align_args.seed,
    };
    let start = std::time::Instant::now();
    let r = pleas(&models[0], &models[1], data.as_ref(), &cfg)?;
    let seconds = start.elapsed().as_secs_f64();
    r.model.save(&args.output)?;
    let report = PleasReport {
        output: args.output.display().to_string(),
        widths: r.model.widths(),
        merged_pairs: r.groups.iter().map(|g| g.merged_a.len()).collect(),
        flops_ratio: r.flops_ratio,
        least_squares: cfg.least_squares,
        matching: cfg.matching,
        seconds,
        timing: r.timing,
    };
    if args.json {
        return crate::output::print_json(&report);
    }
    outln!(
        "PLeaS: widths {:?} ({:?} pairs merged), FLOPs {:.3}x one model, {:.2} s \
         (activations {:.2} s, matching {:.2} s, least squares {:.2} s); wrote {}",
        report.widths,
        report.merged_pairs,
        report.flops_ratio,
        seconds,
        r.timing.activations,
        r.timing.matching,
        r.timing.least_squares,
        report.output
    )?;
    Ok(())
}

/// Runs `mote merge`.
pub fn run(args: &MergeArgs, config: &super::Config) -> Result<()> {
    crate::output::claim_stdout_for_output(&args.output, args.json)?;
    use crate::align::Method;
    let models = crate::nn::load_same_arch(&args.models)?;
    if args.method == MergeMethod::Pleas {
        return run_pleas(args, &models, config);
    }
    if args.json || args.budget.is_some() || args.widths.is_some() || args.no_least_squares {
        bail!("--json, --budget, --widths and --no-least-squares are for --method pleas");
    }
    let rule = MergeRule::from_spec(&args.rule, args.limits)?;
    let base = match &args.base {
        Some(path) => {
            let b = Mlp::load(path)?;
            models[0].check_same_arch(&b, &args.models[0], path)?;
            Some(b)
        }
        None => None,
    };
    if let MergeRule::NativeAverage = rule
        && (!args.params.is_empty() || base.is_some())
    {
        bail!("--param and --base are for plugin rules; the built-in average takes neither");
    }
    // Average the aligned models with the built-in rule, or hand them to the plugin.
    let combine = |aligned: &[Mlp]| -> Result<Mlp> {
        match &rule {
            MergeRule::NativeAverage => average(aligned),
            MergeRule::Plugin(_) => merge_with_rule(&rule, aligned, base.as_ref(), &args.params),
        }
    };
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
    if data.is_some() && matches!(args.align, Method::None | Method::Weight) {
        bail!("--data is for --align activation or ste; weight matching and none need no data");
    }
    let merged = match args.align {
        Method::None => combine(&models)?,
        Method::Weight if models.len() == 2 => {
            let al = weight_matching(&models[0], &models[1], args.align_args.seed)?;
            outln!(
                "weight matching: {} sweeps, objective {:.6} -> {:.6}",
                al.sweeps.len(),
                al.objective_identity,
                al.objective
            )?;
            combine(&[models[0].clone(), permute(&models[1], &al.perms)])?
        }
        Method::Weight => {
            let r = merge_many(&models, args.align_args.seed)?;
            outln!(
                "merge-many: {} rounds ({})",
                r.rounds,
                if r.converged {
                    "converged"
                } else {
                    "round limit reached"
                }
            )?;
            match &rule {
                MergeRule::NativeAverage => r.merged,
                MergeRule::Plugin(_) => {
                    let aligned: Vec<Mlp> = models
                        .iter()
                        .zip(&r.perms)
                        .map(|(m, p)| permute(m, p))
                        .collect();
                    combine(&aligned)?
                }
            }
        }
        Method::Activation | Method::Ste => {
            let opts = args.align_args.options(true);
            let aligned = align_to_reference(&models, args.align, data.as_ref(), &opts)?;
            for ((_, al), path) in aligned.iter().zip(&args.models).skip(1) {
                if let Some(al) = al {
                    outln!(
                        "{} matching of {} to {}: objective {:.6} -> {:.6}",
                        al.method,
                        path.display(),
                        args.models[0].display(),
                        al.objective_identity,
                        al.objective
                    )?;
                }
            }
            let aligned: Vec<Mlp> = aligned.into_iter().map(|(m, _)| m).collect();
            combine(&aligned)?
        }
    };
    merged.save(&args.output)?;
    outln!("wrote {}", args.output.display())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::random_mlp;
    use crate::rng::Rng;

    fn args(models: Vec<std::path::PathBuf>, output: std::path::PathBuf) -> MergeArgs {
        MergeArgs {
            models,
            align: crate::align::Method::Weight,
            align_args: crate::cmd::align_args::AlignArgs {
                seed: 0,
                ste_epochs: 1,
                ste_batch: 100,
                ste_lr: 1e-2,
            },
            data: None,
            output,
            rule: "average".into(),
            params: Vec::new(),
            base: None,
            limits: crate::plugin::SandboxLimits::default(),
            method: MergeMethod::Pleas,
            budget: None,
            widths: None,
            matching: crate::align::pleas::PleasMatch::Weight,
            ridge: 1e-6,
            no_least_squares: true,
            json: true,
            file: Default::default(),
        }
    }

    #[test]
    fn pleas_refuses_bad_sizes_and_writes_nothing_then_merges() {
        let dir = std::env::temp_dir().join(format!("mote-merge-pleas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut rng = Rng::new(3);
        let (pa, pb) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
        random_mlp(&[6, 8, 5, 3], &mut rng)
            .save(&pa)
            .expect("writes");
        random_mlp(&[6, 8, 5, 3], &mut rng)
            .save(&pb)
            .expect("writes");
        let out = dir.join("m.safetensors");
        let config = crate::cmd::Config::default();
        for (widths, budget, want) in [
            (Some(vec![17, 5]), None, "between 1 and 16 (got 17)"),
            (Some(vec![8]), None, "one width per hidden layer (2)"),
            (None, Some(2.5), "up to 2 with none merged; got 2.5"),
            (None, Some(0.0), "above 0"),
            (None, None, "needs --budget B or --widths"),
        ] {
            let mut a = args(vec![pa.clone(), pb.clone()], out.clone());
            a.widths = widths;
            a.budget = budget;
            let e = format!("{:#}", run(&a, &config).expect_err(want));
            assert!(e.contains(want), "{e}");
            assert!(!out.exists(), "nothing written on error");
        }
        let mut a = args(vec![pa.clone(), pb.clone()], out.clone());
        a.widths = Some(vec![12, 5]);
        // Data-free (weight matching, no least squares): the widths asked for.
        let mut ok = a;
        ok.json = false;
        run(&ok, &config).expect("merges");
        assert_eq!(Mlp::load(&out).expect("reads").widths(), vec![6, 12, 5, 3]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
