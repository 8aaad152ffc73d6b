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
    /// Data set for `--align activation` and `--align ste` (train split).
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
}

/// Runs `mote merge`.
pub fn run(args: &MergeArgs, config: &super::Config) -> Result<()> {
    crate::output::claim_stdout_for_output(&args.output, false)?;
    use crate::align::Method;
    let models = crate::nn::load_same_arch(&args.models)?;
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
        Some(name) => Some(config.catalog.load(name)?.0),
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
