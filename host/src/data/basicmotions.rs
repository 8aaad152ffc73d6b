//! BasicMotions (UEA multivariate archive, sktime `.ts` format): 6-channel smartwatch
//! accelerometer and gyroscope windows at 10 Hz, 100 samples each, four activities.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// One labelled multivariate series, stored time-major: `values[t * channels + c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Samples, time-major.
    pub values: Vec<f32>,
    /// Index into [`Dataset::classes`].
    pub label: usize,
}

/// A parsed `.ts` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Class names in the order of the `@classLabel` header.
    pub classes: Vec<String>,
    /// Channels per sample.
    pub channels: usize,
    /// Samples per series.
    pub length: usize,
    /// The series.
    pub series: Vec<Series>,
}

/// Reads a `.ts` file (equal-length series, class labels, no missing values).
pub fn load(path: &Path) -> Result<Dataset> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("{} is not a valid .ts file", path.display()))
}

/// Parses the text of a `.ts` file.
pub fn parse(text: &str) -> Result<Dataset> {
    let mut classes: Option<Vec<String>> = None;
    let mut in_data = false;
    let mut series = Vec::new();
    let mut channels = 0usize;
    let mut length = 0usize;
    for (no, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let lineno = no + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("@classlabel") {
                let mut parts = line.split_whitespace().skip(1);
                if parts.next() != Some("true") {
                    bail!("line {lineno}: @classLabel must be `true` followed by the class names");
                }
                let names: Vec<String> = parts.map(str::to_string).collect();
                if names.is_empty() {
                    bail!("line {lineno}: @classLabel lists no classes");
                }
                classes = Some(names);
            } else if lower.starts_with("@data") {
                in_data = true;
            } else if lower.starts_with("@missing") && lower.ends_with("true") {
                bail!("line {lineno}: files with missing values are not supported");
            }
            continue;
        }
        let Some(names) = classes.as_ref() else {
            bail!("line {lineno}: @data before @classLabel");
        };
        let fields: Vec<&str> = line.split(':').collect();
        let (label, dims) = fields
            .split_last()
            .with_context(|| format!("line {lineno}: empty record"))?;
        let label = names
            .iter()
            .position(|c| c == label.trim())
            .with_context(|| format!("line {lineno}: unknown class label `{label}`"))?;
        let mut cols: Vec<Vec<f32>> = Vec::with_capacity(dims.len());
        for (c, dim) in dims.iter().enumerate() {
            let vals = dim
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .with_context(|| {
                            format!("line {lineno}, channel {c}: `{v}` is not a finite number")
                        })
                })
                .collect::<Result<Vec<f32>>>()?;
            cols.push(vals);
        }
        if series.is_empty() {
            channels = cols.len();
            length = cols.first().map_or(0, Vec::len);
            if channels == 0 || length == 0 {
                bail!("line {lineno}: a series needs at least one channel and one sample");
            }
        }
        if cols.len() != channels {
            bail!(
                "line {lineno}: {} channels, expected {channels}",
                cols.len()
            );
        }
        if let Some((c, v)) = cols.iter().enumerate().find(|(_, v)| v.len() != length) {
            bail!(
                "line {lineno}, channel {c}: {} samples, expected {length} (equal-length series)",
                v.len()
            );
        }
        let mut values = vec![0.0; channels * length];
        for (c, col) in cols.iter().enumerate() {
            for (t, &v) in col.iter().enumerate() {
                values[t * channels + c] = v;
            }
        }
        series.push(Series { values, label });
    }
    let Some(classes) = classes else {
        bail!("no @classLabel header");
    };
    if series.is_empty() {
        bail!("no series after @data");
    }
    Ok(Dataset {
        classes,
        channels,
        length,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "# comment\n@problemName X\n@classLabel true A B\n@data\n1,2,3:4,5,6:B\n0.5,-1,2E-1:0,0,0:A\n";

    #[test]
    fn parses_time_major() {
        let d = parse(SMALL).unwrap();
        assert_eq!(d.classes, ["A", "B"]);
        assert_eq!((d.channels, d.length), (2, 3));
        assert_eq!(d.series[0].values, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert_eq!(d.series[0].label, 1);
        assert_eq!(d.series[1].values[4], 0.2);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(&SMALL.replace("1,2,3:4,5,6:B", "1,2,3:4,5:B")).unwrap_err();
        assert!(e.to_string().contains("line 5, channel 1"), "{e}");
        let e = parse(&SMALL.replace(":B", ":C")).unwrap_err();
        assert!(e.to_string().contains("unknown class label `C`"), "{e}");
        let e = parse(&SMALL.replace("2E-1", "?")).unwrap_err();
        assert!(e.to_string().contains("`?` is not a finite number"), "{e}");
        assert!(parse("@data\n").is_err());
    }

    #[test]
    fn bundled_basicmotions_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/basicmotions");
        for (f, n) in [("BasicMotions_TRAIN.ts", 40), ("BasicMotions_TEST.ts", 40)] {
            let d = load(&root.join(f)).unwrap();
            assert_eq!((d.channels, d.length, d.series.len()), (6, 100, n));
            assert_eq!(d.classes.len(), 4);
            for c in 0..4 {
                assert_eq!(d.series.iter().filter(|s| s.label == c).count(), 10);
            }
        }
    }
}
