//! Daphnet freezing-of-gait recording (`data/daphnet/S06R02E0.csv`): a header, then a timestamp,
//! nine accelerometer columns in mg and an `is_anomaly` flag per row, at 64 Hz.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The bundled file inside the data directory `data_dir`.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("daphnet/S06R02E0.csv")
}

/// Parses the CSV text and returns column `channel` (e.g. `ankle_vert`) in g (mg / 1000).
pub fn parse_channel(text: &str, channel: &str, what: &str) -> Result<Vec<f32>> {
    let mut lines = text.lines();
    let header = lines
        .next()
        .with_context(|| format!("{what}: empty file"))?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let idx = cols.iter().position(|c| *c == channel).with_context(|| {
        format!(
            "{what}: no column `{channel}` (columns: {})",
            cols.join(", ")
        )
    })?;
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let field = line
            .split(',')
            .nth(idx)
            .with_context(|| format!("{what}: line {}: fewer than {} fields", i + 2, idx + 1))?;
        let v: f32 = field.trim().parse().with_context(|| {
            format!(
                "{what}: line {}: `{channel}` = {field:?} is not a number",
                i + 2
            )
        })?;
        out.push(v / 1000.0);
    }
    if out.is_empty() {
        bail!("{what}: no data rows");
    }
    Ok(out)
}

/// Largest Daphnet CSV read: 256 MiB (the bundled recording is 453 KB, the largest of the set
/// about 10 MB).
pub const MAX_BYTES: u64 = 256 << 20;

/// Loads one channel of a Daphnet CSV, in g. The read is bounded ([`MAX_BYTES`], the memory
/// available) and stops at the first block that is not text.
pub fn load_channel(path: &Path, channel: &str) -> Result<Vec<f32>> {
    let limit = crate::input::Limit::memory_and_cap(MAX_BYTES, "a Daphnet CSV file");
    let text = crate::input::read_text(path, &limit)?;
    parse_channel(&text, channel, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_channel() {
        let t = "timestamp,a,b\n0,1000,-20\n1,500,30\n";
        assert_eq!(parse_channel(t, "b", "t").unwrap(), [-0.02, 0.03]);
        assert!(parse_channel(t, "c", "t").is_err());
        assert!(parse_channel("timestamp,a\n0,x\n", "a", "t").is_err());
    }

    #[test]
    fn binary_input_fails_after_one_block() {
        let e = load_channel(Path::new("/dev/zero"), "ankle_vert").expect_err("zeros");
        assert_eq!(e.to_string(), "/dev/zero: byte 0 is NUL: not a text file");
        let e = load_channel(Path::new("/dev/urandom"), "ankle_vert").expect_err("noise");
        assert!(e.to_string().starts_with("/dev/urandom: "), "{e}");
        assert!(e.to_string().ends_with(": not a text file"), "{e}");
    }

    #[test]
    fn bundled_file_loads() {
        let v = load_channel(
            &path_in(&crate::data::Catalog::default().data_dir().unwrap()),
            "ankle_vert",
        )
        .unwrap();
        assert_eq!(v.len(), 7040);
    }
}
