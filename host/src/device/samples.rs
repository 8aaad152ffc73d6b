//! The samples blob the firmware embeds (`MOTE_SAMPLES`, docs/samples-format.md), written with
//! `mote_core::samples` — the same module the firmware reads it with.

use anyhow::{Context, Result};

use crate::data::Dataset;

/// The samples of `data` as a blob.
pub fn samples_blob(data: &Dataset) -> Result<Vec<u8>> {
    samples_blob_of(data.d, &data.features, &data.labels)
}

/// The blob of `labels.len()` samples of `d` values each, row-major in `features`.
pub fn samples_blob_of(d: usize, features: &[f32], labels: &[u8]) -> Result<Vec<u8>> {
    let len = mote_core::samples::encoded_len(labels.len(), d).with_context(|| {
        format!(
            "{} samples of {d} values do not fit a samples blob (counts are u32)",
            labels.len()
        )
    })?;
    let mut blob = vec![0u8; len];
    mote_core::samples::write(d, features, labels, &mut blob)
        .map_err(|e| anyhow::anyhow!("writing the samples blob: {e}"))?;
    Ok(blob)
}
