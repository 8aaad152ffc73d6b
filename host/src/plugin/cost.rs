//! `mote plugin bench`: merge throughput of plugin rules against the built-in average.
//!
//! Throughput is input megabytes (10^6 bytes of f32 over all merged models, the base not
//! counted) per second of wall time for the whole model, tensor by tensor, including the copy
//! into the sandbox, a fresh instance per tensor, and validation. Plugin compile time is reported
//! separately.

use std::time::Instant;

use anyhow::Result;
use mote_core::check::XorShift32;

use super::merge::merge_models;
use super::models::{Model, Tensor};
use super::rule::{MergeRule, PluginRule, SandboxLimits};

/// The Fashion-MNIST MLP of the issue: 784-512-512-512-10.
pub const MLP_WIDTHS: [usize; 5] = [784, 512, 512, 512, 10];

/// One measured rule.
#[derive(Debug, serde::Serialize)]
pub struct BenchRow {
    /// Rule: `average (built-in)` or `plugin NAME vVERSION`.
    pub rule: String,
    /// Component compile + `info` time (plugins only), ms.
    pub load_ms: Option<f64>,
    /// Median time to merge the whole model, ms.
    pub median_ms: f64,
    /// Fastest repetition, ms.
    pub best_ms: f64,
    /// Input MB/s at the median time.
    pub mb_per_s: f64,
    /// Largest |difference| from the built-in average's output (0 for an averaging plugin).
    pub max_abs_diff_vs_average: f64,
}

/// The benchmark result.
#[derive(Debug, serde::Serialize)]
pub struct BenchReport {
    /// Where the models came from.
    pub models: String,
    /// Models merged.
    pub n_models: usize,
    /// Values per model.
    pub values_per_model: usize,
    /// Input MB per merge (all models, base excluded).
    pub input_mb: f64,
    /// Repetitions per rule.
    pub repeats: usize,
    /// The sandbox limits used.
    pub limits: SandboxLimits,
    /// One row per rule, the built-in average first.
    pub rows: Vec<BenchRow>,
}

/// Random MLP weights of shape [`MLP_WIDTHS`]: `fcK.weight` `[out, in]` uniform in ±1/√in and
/// `fcK.bias`; `base` plus `scale`·noise when `base` is given (a "fine-tuned" copy).
pub fn random_mlp(rng: &mut XorShift32, base: Option<&Model>, scale: f32) -> Model {
    let mut tensors = Vec::new();
    for (k, w) in MLP_WIDTHS.windows(2).enumerate() {
        let (fan_in, fan_out) = (w[0], w[1]);
        let bound = 1.0 / (fan_in as f32).sqrt();
        for (suffix, shape) in [("weight", vec![fan_out, fan_in]), ("bias", vec![fan_out])] {
            let name = format!("fc{}.{suffix}", k + 1);
            let n: usize = shape.iter().product();
            let from = base.and_then(|b| b.tensor(&name));
            let data = (0..n)
                .map(|i| {
                    let r = rng.next_f32() * bound;
                    from.map_or(r, |b| b.data[i] + scale * r)
                })
                .collect();
            tensors.push(Tensor { name, shape, data });
        }
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Model {
        path: "<random>".into(),
        tensors,
    }
}

fn time_rule(
    rule: &MergeRule,
    models: &[Model],
    base: Option<&Model>,
    repeats: usize,
) -> Result<(Vec<f64>, Vec<Tensor>)> {
    let mut times = Vec::with_capacity(repeats);
    let mut last = Vec::new();
    for _ in 0..repeats {
        let t0 = Instant::now();
        last = merge_models(rule, models, base, &[])?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok((times, last))
}

/// Runs the benchmark: the built-in average, then each `plugin:PATH` rule with default params.
/// Without `models`, merges two random fine-tuned copies of a random base MLP (the base is
/// passed to the rules that need one).
pub fn run(
    rule_specs: &[String],
    models: Option<Vec<Model>>,
    repeats: usize,
    seed: u32,
    limits: SandboxLimits,
) -> Result<BenchReport> {
    let (models, base, source) = match models {
        Some(m) => {
            let src = m
                .iter()
                .map(|m| m.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            (m, None, src)
        }
        None => {
            let mut rng = XorShift32(seed.max(1));
            let base = random_mlp(&mut rng, None, 0.0);
            let a = random_mlp(&mut rng, Some(&base), 0.1);
            let b = random_mlp(&mut rng, Some(&base), 0.1);
            (
                vec![a, b],
                Some(base),
                format!("random 784-512-512-512-10 base + 2 fine-tuned copies, seed {seed}"),
            )
        }
    };
    let values = models.first().map_or(0, Model::values);
    let input_mb = (values * models.len() * 4) as f64 / 1e6;
    let (avg_times, reference) = time_rule(&MergeRule::NativeAverage, &models, None, repeats)?;
    let mut rows = vec![row(
        MergeRule::NativeAverage.describe(),
        None,
        &avg_times,
        input_mb,
        0.0,
    )];
    for spec in rule_specs {
        let path = spec.strip_prefix("plugin:").unwrap_or(spec);
        let t0 = Instant::now();
        let plugin = PluginRule::load(std::path::Path::new(path), limits)?;
        let load_ms = t0.elapsed().as_secs_f64() * 1e3;
        let needs_base = plugin.info().needs_base;
        let short = format!("plugin {} v{}", plugin.info().name, plugin.info().version);
        let rule = MergeRule::Plugin(Box::new(plugin));
        let base = if needs_base { base.as_ref() } else { None };
        let (times, out) = time_rule(&rule, &models, base, repeats)?;
        let diff = out
            .iter()
            .zip(&reference)
            .flat_map(|(a, b)| a.data.iter().zip(&b.data))
            .map(|(&x, &y)| f64::from((x - y).abs()))
            .fold(0.0, f64::max);
        rows.push(row(short, Some(load_ms), &times, input_mb, diff));
    }
    Ok(BenchReport {
        models: source,
        n_models: models.len(),
        values_per_model: values,
        input_mb,
        repeats,
        limits,
        rows,
    })
}

fn row(
    rule: String,
    load_ms: Option<f64>,
    sorted_ms: &[f64],
    input_mb: f64,
    diff: f64,
) -> BenchRow {
    let median_ms = sorted_ms[sorted_ms.len() / 2];
    BenchRow {
        rule,
        load_ms,
        median_ms,
        best_ms: sorted_ms[0],
        mb_per_s: input_mb / (median_ms / 1e3),
        max_abs_diff_vs_average: diff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_mlp_has_the_fashion_mnist_shape() {
        let mut rng = XorShift32(7);
        let base = random_mlp(&mut rng, None, 0.0);
        assert_eq!(
            base.values(),
            784 * 512 + 512 * 512 * 2 + 512 * 10 + 512 * 3 + 10
        );
        let ft = random_mlp(&mut rng, Some(&base), 0.1);
        let (w0, w1) = (
            base.tensor("fc1.weight").expect("w"),
            ft.tensor("fc1.weight").expect("w"),
        );
        assert_eq!(w1.shape, vec![512, 784]);
        let bound = 1.0 / 784f32.sqrt();
        assert!(
            w0.data
                .iter()
                .zip(&w1.data)
                .all(|(a, b)| (a - b).abs() <= 0.1 * bound)
        );
    }
}
