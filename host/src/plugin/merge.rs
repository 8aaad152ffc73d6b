//! Merging aligned models tensor by tensor with a rule (`mote plugin merge`, the plugin bench).

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::models::{Model, Tensor};
use super::rule::MergeRule;

/// What `mote plugin merge` did.
#[derive(Debug, serde::Serialize)]
pub struct MergeSummary {
    /// The rule used.
    pub rule: String,
    /// Tensors merged.
    pub tensors: usize,
    /// Values in the merged model.
    pub values: usize,
    /// The output file.
    pub output: PathBuf,
}

/// Merges aligned `models` tensor by tensor with `rule`; nothing is written here, so a failure
/// on any tensor leaves no output behind.
pub fn merge_models(
    rule: &MergeRule,
    models: &[Model],
    base: Option<&Model>,
    params: &[(String, String)],
) -> Result<Vec<Tensor>> {
    let Some(first) = models.first() else {
        bail!("no models to merge");
    };
    for m in &models[1..] {
        first.check_aligned(m)?;
    }
    if let Some(b) = base {
        first.check_aligned(b)?;
    }
    first
        .tensors
        .iter()
        .map(|t| {
            let inputs: Vec<&[f32]> = models
                .iter()
                .map(|m| m.tensor(&t.name).map_or(&[][..], |x| x.data.as_slice()))
                .collect();
            let base_t = base
                .and_then(|b| b.tensor(&t.name))
                .map(|x| x.data.as_slice());
            let data = rule.merge_tensor(&t.name, &t.shape, &inputs, base_t, params)?;
            // Whatever the rule (and the inputs it got), a weight that is not a number is never
            // written: `mote merge` and `mote quantize` would refuse the file.
            if let Some(k) = data.iter().position(|v| !v.is_finite()) {
                bail!(
                    "merged tensor `{}` has non-finite value {} at flat index {k}; nothing written",
                    t.name,
                    data[k]
                );
            }
            Ok(Tensor {
                name: t.name.clone(),
                shape: t.shape.clone(),
                data,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-tensor model `w` read from `path`.
    fn m(path: &str, w: &[f32]) -> Model {
        Model {
            path: path.into(),
            tensors: vec![Tensor {
                name: "w".into(),
                shape: vec![w.len()],
                data: w.to_vec(),
            }],
        }
    }

    #[test]
    fn a_merged_value_that_is_not_a_number_is_refused() {
        let e = merge_models(
            &MergeRule::NativeAverage,
            &[m("a", &[1.0, f32::NAN]), m("b", &[3.0, 4.0])],
            None,
            &[],
        )
        .expect_err("NaN weight")
        .to_string();
        assert!(
            e.contains("`w`") && e.contains("non-finite") && e.contains("index 1"),
            "{e}"
        );
    }

    #[test]
    fn merge_models_is_all_or_nothing_and_names_files() {
        let out = merge_models(
            &MergeRule::NativeAverage,
            &[m("a", &[1.0, 2.0]), m("b", &[3.0, 4.0])],
            None,
            &[],
        )
        .expect("merges");
        assert_eq!(out[0].data, vec![2.0, 3.0]);
        let e = merge_models(
            &MergeRule::NativeAverage,
            &[m("a", &[1.0, 2.0]), m("b.safetensors", &[3.0])],
            None,
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("b.safetensors") && e.contains("`w`"), "{e}");
    }
}
