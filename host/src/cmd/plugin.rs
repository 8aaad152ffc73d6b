//! `mote plugin info|merge|bench`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::output::{out, outln};
use crate::plugin::cost::BenchReport;
use crate::plugin::merge::{MergeSummary, merge_models};
use crate::plugin::models::{Model, to_safetensors};
use crate::plugin::{MergeRule, PluginRule, SandboxLimits};

/// `mote plugin` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Print what a merge-rule plugin declares: name, version, model counts, parameters.
    Info {
        /// The plugin component (`.wasm`).
        path: PathBuf,
        /// Sandbox limits of each plugin call.
        #[command(flatten)]
        limits: SandboxLimits,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Merge f32 safetensors models (same tensor names and shapes) with a rule.
    Merge {
        /// The models to merge, in order.
        #[arg(required = true)]
        models: Vec<PathBuf>,
        /// `average` (built-in) or `plugin:PATH.wasm`.
        #[arg(long, default_value = "average")]
        rule: String,
        /// Rule parameter `key=value` (repeatable).
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Base model the others were fine-tuned from (task-vector rules need it).
        #[arg(long)]
        base: Option<PathBuf>,
        /// Output safetensors file (written atomically, only if every tensor merged).
        #[arg(short, long)]
        output: PathBuf,
        /// Sandbox limits of each plugin call.
        #[command(flatten)]
        limits: SandboxLimits,
        /// Machine-readable summary.
        #[arg(long)]
        json: bool,
    },
    /// Benchmark plugin rules against the built-in average on two MLPs of the Fashion-MNIST
    /// shape 784-512-512-512-10 (random weights, or `--models`).
    Bench {
        /// Plugin components to measure (default parameters).
        #[arg(long = "rule", value_name = "plugin:PATH.wasm")]
        rules: Vec<String>,
        /// Two or more f32 safetensors models to merge instead of random ones.
        #[arg(long, num_args = 2..)]
        models: Vec<PathBuf>,
        /// Timed repetitions per rule.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Seed of the random weights.
        #[arg(long, default_value_t = 1)]
        seed: u32,
        /// Sandbox limits of each plugin call.
        #[command(flatten)]
        limits: SandboxLimits,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Parses `key=value`.
pub fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got `{s}`")),
    }
}

/// Runs a `mote plugin` subcommand.
pub fn run(cmd: PluginCommand) -> Result<()> {
    match cmd {
        PluginCommand::Info { path, limits, json } => {
            let rule = PluginRule::load(&path, limits)?;
            if json {
                crate::output::print_json(&InfoJson::from(&rule))
            } else {
                out!("{}", render_info(&rule))?;
                Ok(())
            }
        }
        PluginCommand::Merge {
            models,
            rule,
            params,
            base,
            output,
            limits,
            json,
        } => {
            crate::output::claim_stdout_for_output(&output, json)?;
            let rule = MergeRule::from_spec(&rule, limits)?;
            let models = models
                .iter()
                .map(|p| Model::read(p))
                .collect::<Result<Vec<_>>>()?;
            let base = base.as_deref().map(Model::read).transpose()?;
            let merged = merge_models(&rule, &models, base.as_ref(), &params)?;
            let mut meta = HashMap::new();
            meta.insert("mote.merge.rule".to_string(), rule.describe());
            let bytes = to_safetensors(&merged, meta)?;
            crate::output::write_atomic(&output, &bytes)?;
            let summary = MergeSummary {
                rule: rule.describe(),
                tensors: merged.len(),
                values: merged.iter().map(|t| t.data.len()).sum(),
                output,
            };
            if json {
                crate::output::print_json(&summary)
            } else {
                outln!(
                    "merged {} models with {}: {} tensors, {} values -> {}",
                    models.len(),
                    summary.rule,
                    summary.tensors,
                    summary.values,
                    summary.output.display()
                )?;
                Ok(())
            }
        }
        PluginCommand::Bench {
            rules,
            models,
            repeats,
            seed,
            limits,
            json,
        } => {
            let models = if models.is_empty() {
                None
            } else {
                Some(
                    models
                        .iter()
                        .map(|p| Model::read(p))
                        .collect::<Result<Vec<_>>>()?,
                )
            };
            let report = crate::plugin::cost::run(&rules, models, repeats.max(1), seed, limits)?;
            if json {
                crate::output::print_json(&report)
            } else {
                out!("{}", render_bench(&report))?;
                Ok(())
            }
        }
    }
}

#[derive(serde::Serialize)]
struct InfoJson<'a> {
    path: &'a Path,
    name: &'a str,
    version: &'a str,
    description: &'a str,
    min_models: u32,
    max_models: Option<u32>,
    needs_base: bool,
    params: Vec<ParamJson<'a>>,
}

#[derive(serde::Serialize)]
struct ParamJson<'a> {
    name: &'a str,
    description: &'a str,
    default: Option<&'a str>,
}

impl<'a> From<&'a PluginRule> for InfoJson<'a> {
    fn from(rule: &'a PluginRule) -> Self {
        let i = rule.info();
        Self {
            path: rule.path(),
            name: &i.name,
            version: &i.version,
            description: &i.description,
            min_models: i.min_models,
            max_models: (i.max_models > 0).then_some(i.max_models),
            needs_base: i.needs_base,
            params: i
                .params
                .iter()
                .map(|p| ParamJson {
                    name: &p.name,
                    description: &p.description,
                    default: p.default.as_deref(),
                })
                .collect(),
        }
    }
}

/// The `mote plugin info` text.
pub fn render_info(rule: &PluginRule) -> String {
    let i = rule.info();
    let mut s = format!(
        "{} v{}  ({})\n  {}\n  models: {}{}\n",
        i.name,
        i.version,
        rule.path().display(),
        i.description,
        match i.max_models {
            0 => format!("{} or more", i.min_models),
            m if m == i.min_models => format!("exactly {m}"),
            m => format!("{} to {m}", i.min_models),
        },
        if i.needs_base { ", needs --base" } else { "" }
    );
    if i.params.is_empty() {
        s.push_str("  parameters: none\n");
    } else {
        s.push_str("  parameters:\n");
        for p in &i.params {
            let default = p
                .default
                .as_deref()
                .map_or("required".to_string(), |d| format!("default {d}"));
            s.push_str(&format!(
                "    {:<14} {} ({default})\n",
                p.name, p.description
            ));
        }
    }
    s
}

/// Text table of a report.
pub fn render_bench(r: &BenchReport) -> String {
    let mut s = format!(
        "models: {} ({} x {} values, {:.2} MB input per merge), {} repeats\n\
         {:<28} {:>9} {:>10} {:>10} {:>9} {:>12}\n",
        r.models,
        r.n_models,
        r.values_per_model,
        r.input_mb,
        r.repeats,
        "rule",
        "load ms",
        "median ms",
        "best ms",
        "MB/s",
        "max|Δ| avg"
    );
    for row in &r.rows {
        s.push_str(&format!(
            "{:<28} {:>9} {:>10.2} {:>10.2} {:>9.1} {:>12.3e}\n",
            row.rule,
            row.load_ms.map_or("-".into(), |l| format!("{l:.1}")),
            row.median_ms,
            row.best_ms,
            row.mb_per_s,
            row.max_abs_diff_vs_average
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse() {
        assert_eq!(parse_param("t=0.3"), Ok(("t".into(), "0.3".into())));
        assert_eq!(parse_param("k=a=b"), Ok(("k".into(), "a=b".into())));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=1").is_err());
    }
}
