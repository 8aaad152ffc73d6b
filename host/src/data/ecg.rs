//! MIT-BIH Arrhythmia record 208, lead MLII, 360 Hz (`data/ecg/mitbih208_mlii_360hz.u16le`):
//! raw little-endian u16 ADC values, 11-bit around a 1024 baseline at 200 ADC units per mV.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::input::Limit;

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

/// Largest record read: 64 MiB, a day of samples at 360 Hz (the bundled five minutes are
/// 216 KB).
pub const MAX_BYTES: u64 = 64 << 20;

/// Loads the raw ADC samples (at most [`MAX_BYTES`] and the memory available: a device such as
/// `/dev/zero` is cut off one byte past the limit).
pub fn load_raw(path: &Path) -> Result<Vec<u16>> {
    load_raw_within(path, &Limit::memory_and_cap(MAX_BYTES, "an ECG record"))
}

fn load_raw_within(path: &Path, limit: &Limit) -> Result<Vec<u16>> {
    let bytes = crate::input::read_limited(path, limit)?;
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
    fn reads_are_bounded() {
        // /dev/zero is valid u16 data: only the limit stops it, one byte past it.
        let e = load_raw(Path::new("/dev/zero")).expect_err("endless");
        let e = format!("{e:#}");
        assert!(
            e.starts_with("/dev/zero: read more than the 67.1 MB allowed for an ECG record"),
            "{e}"
        );
        assert!(e.contains("non-regular file"), "{e}");
        // A regular file over the limit is refused by its size, before it is read.
        let dir = tempfile::tempdir().expect("tmp");
        let big = dir.path().join("big.u16le");
        std::fs::write(&big, [0u8; 4096]).expect("write");
        let e = load_raw_within(&big, &Limit::cap(1000, "a test record")).expect_err("big");
        assert!(
            format!("{e:#}").ends_with(
                "big.u16le: 4.1 KB (4096 bytes) is more than the 1.0 KB allowed for a test record"
            ),
            "{e:#}"
        );
        let e = load_raw(dir.path()).expect_err("dir");
        assert!(format!("{e:#}").contains("is a directory"), "{e:#}");
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
