//! The host simulator: a parsed model run on a data set by `mote-core`'s executor itself, so its
//! outputs are the device's.

use anyhow::{Result, bail};
use mote_core::kernels::argmax;
use mote_core::model::{Model, Workspace};
use serde::Serialize;

use crate::data::Dataset;

/// One sample's result in the simulator.
#[derive(Clone, Debug, Serialize)]
pub struct SampleOutput {
    /// Sample index.
    pub index: usize,
    /// True label.
    pub label: u8,
    /// Predicted class (first maximum).
    pub pred: usize,
    /// Output vector.
    pub output: Vec<f32>,
}

/// `mote run` result.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// Samples run.
    pub samples: usize,
    /// Fraction predicted correctly.
    pub accuracy: f64,
    /// Per-sample outputs.
    pub outputs: Vec<SampleOutput>,
}

/// Runs a parsed model on every sample of `data` with `mote-core`'s executor.
pub fn simulate(m: &Model<'_>, data: &Dataset) -> Result<RunReport> {
    if m.is_stateful() {
        bail!(
            "the model keeps state between tokens (recurrent or mean-pool layers): it consumes \
             streams token by token (Model::reset / Model::step), not independent samples"
        );
    }
    if data.d != m.input_len() {
        bail!(
            "the data has {} features per sample, the model expects {}",
            data.d,
            m.input_len()
        );
    }
    if m.output_len() != data.classes {
        bail!(
            "the model has {} outputs but the data has {} classes: accuracy would compare \
             unrelated indices",
            m.output_len(),
            data.classes
        );
    }
    let mut outputs = Vec::with_capacity(data.n);
    let mut correct = 0;
    for_each_output(m, data, |i, y| {
        let pred = argmax(y);
        if pred == data.labels[i] as usize {
            correct += 1;
        }
        outputs.push(SampleOutput {
            index: i,
            label: data.labels[i],
            pred,
            output: y.to_vec(),
        });
    })?;
    Ok(RunReport {
        samples: data.n,
        accuracy: correct as f64 / data.n.max(1) as f64,
        outputs,
    })
}

/// Runs a stateless model on every row of `data` with `mote-core`'s executor (one workspace
/// for all rows) and hands row `i`'s output to `each(i, output)`. A stateful model or rows of the
/// wrong width fail on the first row with the executor's error.
pub fn for_each_output(
    m: &Model<'_>,
    data: &Dataset,
    mut each: impl FnMut(usize, &[f32]),
) -> Result<()> {
    let ram = m.ram();
    let mut af = vec![0.0f32; ram.arena_f32];
    let mut aq = vec![0i8; ram.arena_i8];
    let mut ws = Workspace {
        arena_f32: &mut af,
        arena_i8: &mut aq,
        state: &mut [],
    };
    let mut y = vec![0.0f32; m.output_len()];
    for i in 0..data.n {
        m.run(data.row(i), &mut ws, &mut y)
            .map_err(|e| anyhow::anyhow!("sample {i}: {e}"))?;
        each(i, &y);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlignedModel;
    use crate::model::quantize::{Scheme, quantize};

    #[test]
    fn a_model_whose_outputs_are_not_the_classes_is_refused() {
        let (_, test) = crate::data::Catalog::default()
            .load("digits")
            .expect("bundled");
        let mlp = crate::nn::testing::random_mlp(&[64, 8, 64], &mut crate::rng::Rng::new(1));
        let bytes = quantize(&mlp, Scheme::F32, None).expect("quantizes");
        let file = AlignedModel::new(&bytes);
        let e = simulate(&file.parse().expect("parses"), &test)
            .expect_err("64 outputs, 10 classes")
            .to_string();
        assert!(e.contains("64 outputs") && e.contains("10 classes"), "{e}");
    }
}
