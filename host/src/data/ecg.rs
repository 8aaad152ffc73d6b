//! MIT-BIH Arrhythmia record 208, lead MLII, 360 Hz (`data/ecg/mitbih208_mlii_360hz.u16le`):
//! raw little-endian u16 ADC values, 11-bit around a 1024 baseline at 200 ADC units per mV.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Sampling rate (Hz).
pub const SAMPLE_RATE_HZ: u32 = 360;
/// ADC value of 0 mV.
pub const ADC_ZERO: f32 = 1024.0;
/// ADC units per millivolt.
pub const ADC_PER_MV: f32 = 200.0;

/// The bundled file inside the data directory `data_dir`.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("ecg/mitbih208_mlii_360hz.u16le")
}

/// ADC value → millivolts: `(v − 1024) / 200`. The firmware applies the same formula.
pub fn adc_to_mv(v: u16) -> f32 {
    (v as f32 - ADC_ZERO) / ADC_PER_MV
}

/// Decodes raw little-endian u16 bytes (`what` names the source in errors).
pub fn decode(bytes: &[u8], what: &str) -> Result<Vec<u16>> {
    if !bytes.len().is_multiple_of(2) {
        bail!(
            "{what}: {} bytes is not a whole number of u16 samples",
            bytes.len()
        );
    }
    if bytes.is_empty() {
        bail!("{what}: no samples");
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect())
}

/// Loads the raw ADC samples.
pub fn load_raw(path: &Path) -> Result<Vec<u16>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    decode(&bytes, &path.display().to_string())
}

/// Loads the record in millivolts.
pub fn load_mv(path: &Path) -> Result<Vec<f32>> {
    Ok(load_raw(path)?.into_iter().map(adc_to_mv).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_scales() {
        let v = decode(&[0x00, 0x04, 0xC8, 0x04], "t").unwrap();
        assert_eq!(v, [1024, 1224]);
        assert_eq!(adc_to_mv(1224), 1.0);
        assert!(decode(&[1, 2, 3], "t").is_err());
        assert!(decode(&[], "t").is_err());
    }

    #[test]
    fn bundled_record_has_five_minutes() {
        let v = load_raw(&path_in(
            &crate::data::Catalog::default().data_dir().unwrap(),
        ))
        .unwrap();
        assert_eq!(v.len(), 108_000);
    }
}
