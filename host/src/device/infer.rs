//! Stateless models (MLPs in any scheme) on the `infer` firmware: each test sample once, its
//! output vector logged as `out <index> <prediction> <bits...>`.

use anyhow::{Context, Result, bail};

use super::qemu::log_numbers;
use super::runner::{LineCheck, Workload};
use super::samples::samples_blob;
use crate::data::Dataset;
use crate::model::simulate::RunReport;

/// The samples of `data` and the host simulator's outputs on them.
pub struct SampleWorkload<'a> {
    data: &'a Dataset,
    host: &'a RunReport,
}

impl<'a> SampleWorkload<'a> {
    /// `host` must be the simulator's report on `data` (same samples, same order).
    pub fn new(data: &'a Dataset, host: &'a RunReport) -> Result<Self> {
        if host.outputs.len() != data.n {
            bail!(
                "the host report has {} outputs for {} samples",
                host.outputs.len(),
                data.n
            );
        }
        Ok(Self { data, host })
    }
}

impl Workload for SampleWorkload<'_> {
    fn bin(&self) -> &'static str {
        "infer"
    }

    fn prefix(&self) -> &'static str {
        "out "
    }

    fn samples_blob(&self) -> Result<Vec<u8>> {
        samples_blob(self.data)
    }

    fn results(&self) -> usize {
        self.data.n
    }

    fn host_accuracy(&self) -> f64 {
        self.host.accuracy
    }

    fn check(&self, line: &str) -> Result<LineCheck> {
        let nums = log_numbers(line)?;
        let [i, pred, bits @ ..] = nums.as_slice() else {
            bail!("device line {line:?}: expected a sample index, a prediction and output bits");
        };
        let (i, pred) = (*i as usize, *pred as usize);
        let want = self
            .host
            .outputs
            .get(i)
            .with_context(|| format!("device reported sample {i}"))?;
        let host_bits: Vec<u32> = want.output.iter().map(|v| v.to_bits()).collect();
        let identical = bits == host_bits.as_slice() && pred == want.pred;
        Ok(LineCheck {
            identical,
            correct: pred == want.label as usize,
            difference: (!identical).then(|| {
                format!(
                    "sample {i}: device pred {pred} bits {bits:?}, host pred {} bits {host_bits:?}",
                    want.pred
                )
            }),
        })
    }
}
