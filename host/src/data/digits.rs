//! The UCI optical-recognition handwritten digits (scikit-learn's `digits.csv.gz`, bundled in
//! `data/digits/`, CC BY 4.0): 1797 rows of 64 pixel values `0..=16` (8×8) and a label `0..=9`
//! in the last column, gzip-compressed CSV without header.
//!
//! Split (fixed, no shuffle): the first [`TRAIN_ROWS`] = 1437 rows train, the last 360 test
//! (80/20). The file's rows follow the original UCI writer order, so the test rows come from the
//! last writers. Pixels are divided by 16.

use std::io::Read;
use std::path::Path;

use super::{DataError, Dataset, malformed};

/// The bundled file's bytes (the binary works from any directory).
const BUNDLED: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../data/digits/digits.csv.gz"
));

/// Rows of the bundled file used for training; the rest are the test set.
pub const TRAIN_ROWS: usize = 1437;

/// Pixels per sample.
pub const FEATURES: usize = 64;

/// Loads the bundled digits as `(train, test)`.
pub fn load_bundled() -> Result<(Dataset, Dataset), DataError> {
    let all = parse_csv_gz(BUNDLED, Path::new("data/digits/digits.csv.gz"))?;
    Ok(split(&all, TRAIN_ROWS))
}

/// Splits into the first `train_rows` samples and the rest.
pub fn split(all: &Dataset, train_rows: usize) -> (Dataset, Dataset) {
    let train_rows = train_rows.min(all.n);
    let part = |from: usize, to: usize| Dataset {
        features: all.features[from * all.d..to * all.d].to_vec(),
        labels: all.labels[from..to].to_vec(),
        n: to - from,
        d: all.d,
        classes: all.classes,
    };
    (part(0, train_rows), part(train_rows, all.n))
}

/// Parses a gzip-compressed digits CSV; `path` is used in error messages.
pub fn parse_csv_gz(gz: &[u8], path: &Path) -> Result<Dataset, DataError> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .map_err(|e| malformed(path, format!("not a gzip-compressed text file: {e}")))?;
    parse_csv(&text, path)
}

/// Parses the CSV text: 65 integer fields per line, pixels `0..=16`, label `0..=9`.
pub fn parse_csv(text: &str, path: &Path) -> Result<Dataset, DataError> {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != FEATURES + 1 {
            return Err(malformed(
                path,
                format!(
                    "line {lineno}: {} fields, expected {} (64 pixels + label)",
                    fields.len(),
                    FEATURES + 1
                ),
            ));
        }
        for (j, f) in fields.iter().enumerate() {
            let (max, what) = if j < FEATURES {
                (16, "pixel")
            } else {
                (9, "label")
            };
            let v: u8 = f.trim().parse().ok().filter(|v| *v <= max).ok_or_else(|| {
                malformed(
                    path,
                    format!(
                        "line {lineno}, field {}: `{f}` is not a {what} in 0..={max}",
                        j + 1
                    ),
                )
            })?;
            if j < FEATURES {
                features.push(f32::from(v) / 16.0);
            } else {
                labels.push(v);
            }
        }
    }
    if labels.is_empty() {
        return Err(malformed(path, "no samples"));
    }
    Ok(Dataset {
        n: labels.len(),
        d: FEATURES,
        classes: 10,
        features,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_split_sizes_and_first_row() {
        let (train, test) = load_bundled().expect("bundled file parses");
        assert_eq!(
            (train.n, test.n, train.d, train.classes),
            (1437, 360, 64, 10)
        );
        // First line of the file: 0,0,5,13,9,1,0,0,... label 0.
        assert_eq!(&train.row(0)[..4], &[0.0, 0.0, 5.0 / 16.0, 13.0 / 16.0]);
        assert_eq!(train.labels[0], 0);
        let mut counts = [0usize; 10];
        for &l in train.labels.iter().chain(&test.labels) {
            counts[l as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (174..=183).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        let p = Path::new("d.csv");
        let row = |last: &str| format!("{}{last}", "1,".repeat(64));
        let e = parse_csv(&row("11"), p).expect_err("label 11").to_string();
        assert_eq!(e, "d.csv: line 1, field 65: `11` is not a label in 0..=9");
        let e = parse_csv("1,2,3", p).expect_err("short").to_string();
        assert_eq!(
            e,
            "d.csv: line 1: 3 fields, expected 65 (64 pixels + label)"
        );
        let e = parse_csv_gz(b"plain", p).expect_err("not gz").to_string();
        assert!(e.starts_with("d.csv: not a gzip"), "{e}");
        assert!(parse_csv("", p).is_err());
    }
}
