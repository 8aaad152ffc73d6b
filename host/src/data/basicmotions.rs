//! BasicMotions (UEA multivariate archive, sktime `.ts` format) as sensor streams for the
//! recurrent classifier: 6-channel smartwatch accelerometer and gyroscope windows at 10 Hz,
//! 100 samples each, four activities, kept unscaled and time-major (one token per sample). The
//! MLP view of the same files (flattened, min–max scaled) is [`super::ts`]; both use its parser.

use std::path::Path;

use anyhow::Result;

use super::{DataError, ts};

/// One labelled multivariate series, stored time-major: `values[t * channels + c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Samples, time-major.
    pub values: Vec<f32>,
    /// Index into [`SeriesSet::classes`].
    pub label: usize,
}

/// A parsed `.ts` file.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSet {
    /// Class names in the order of the `@classLabel` header.
    pub classes: Vec<String>,
    /// Channels per sample.
    pub channels: usize,
    /// Samples per series.
    pub length: usize,
    /// The series.
    pub series: Vec<Series>,
}

/// Reads a `.ts` file (equal-length series, class labels, no missing values) as streams. The
/// read is bounded ([`ts::MAX_BYTES`], the memory available) and stops at the first block that
/// is not text.
pub fn load(path: &Path) -> Result<SeriesSet> {
    let text = ts::read(path)?;
    Ok(parse(&text, path)?)
}

/// Parses the text of a `.ts` file (with the one `.ts` parser, [`super::ts::parse`]) and turns
/// each case from channel-major into a time-major stream; `path` names the file in errors.
pub fn parse(text: &str, path: &Path) -> Result<SeriesSet, DataError> {
    let f = ts::parse(text, path)?;
    let (channels, length) = (f.dimensions, f.length);
    let series = f
        .cases
        .iter()
        .zip(&f.labels)
        .map(|(case, &label)| {
            let mut values = vec![0.0; channels * length];
            for (c, col) in case.chunks_exact(length).enumerate() {
                for (t, &v) in col.iter().enumerate() {
                    values[t * channels + c] = v;
                }
            }
            Series {
                values,
                label: usize::from(label),
            }
        })
        .collect();
    Ok(SeriesSet {
        classes: f.classes,
        channels,
        length,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "# comment\n@problemName X\n@dimensions 2\n@seriesLength 3\n@classLabel true A B\n@data\n1,2,3:4,5,6:B\n0.5,-1,2E-1:0,0,0:A\n";

    fn parse(text: &str) -> Result<SeriesSet, DataError> {
        super::parse(text, Path::new("small.ts"))
    }

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
    fn errors_name_the_file_and_line() {
        let e = parse(&SMALL.replace("1,2,3:4,5,6:B", "1,2,3:4,5:B")).unwrap_err();
        assert!(e.to_string().contains("small.ts: line 7, channel 1"), "{e}");
        let e = parse(&SMALL.replace(":B", ":C")).unwrap_err();
        assert!(e.to_string().contains("label `C` is not declared"), "{e}");
        let e = parse(&SMALL.replace("2E-1", "?")).unwrap_err();
        assert!(e.to_string().contains("`?` is not a finite number"), "{e}");
        assert!(parse("@data\n").is_err());
        let missing = load(Path::new("no/such/BasicMotions_TRAIN.ts")).unwrap_err();
        assert!(
            format!("{missing:#}").contains("no/such/BasicMotions_TRAIN.ts"),
            "{missing:#}"
        );
    }

    #[test]
    fn binary_input_fails_after_one_block() {
        let e = load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "/dev/zero: byte 0 is NUL: not a text file"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = load(dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("is a directory"), "{e:#}");
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

impl SeriesSet {
    /// The same series with only the channels `keep`, in that order (e.g. `[0, 1, 2]`: the
    /// accelerometer axes of BasicMotions, what a 3-axis sensor gives).
    pub fn select_channels(&self, keep: &[usize]) -> Result<SeriesSet> {
        if keep.is_empty() {
            anyhow::bail!("no channels selected");
        }
        if let Some(&bad) = keep.iter().find(|&&c| c >= self.channels) {
            anyhow::bail!(
                "channel {bad} does not exist: the series have {} channels (0..={})",
                self.channels,
                self.channels.saturating_sub(1)
            );
        }
        let series = self
            .series
            .iter()
            .map(|s| Series {
                values: s
                    .values
                    .chunks_exact(self.channels)
                    .flat_map(|t| keep.iter().map(move |&c| t[c]))
                    .collect(),
                label: s.label,
            })
            .collect();
        Ok(SeriesSet {
            classes: self.classes.clone(),
            channels: keep.len(),
            length: self.length,
            series,
        })
    }
}

#[cfg(test)]
mod select_tests {
    use super::*;

    #[test]
    fn selected_channels_keep_their_values_in_order() {
        let ds = SeriesSet {
            classes: vec!["a".into()],
            channels: 3,
            length: 2,
            series: vec![Series {
                values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                label: 0,
            }],
        };
        let s = ds.select_channels(&[2, 0]).unwrap();
        assert_eq!(
            (s.channels, &s.series[0].values[..]),
            (2, &[3.0, 1.0, 6.0, 4.0][..])
        );
        assert!(
            ds.select_channels(&[3])
                .unwrap_err()
                .to_string()
                .contains("channel 3")
        );
        assert!(ds.select_channels(&[]).is_err());
    }
}
