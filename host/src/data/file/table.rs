//! A data file read into memory — samples (or the rows of one long recording) of equal width,
//! a class per row — and the steps that make the train and test [`Dataset`]s of it: class
//! names to indices, windows of a stream, the split, and the scaling.

use std::path::{Path, PathBuf};

use super::super::{DataError, Dataset, malformed};
use crate::rng::Rng;

/// Rows of equal width with a class each.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The file read.
    pub path: PathBuf,
    /// `rows × width` values, row-major, all finite.
    pub values: Vec<f32>,
    /// Rows (samples, or time steps of a stream).
    pub rows: usize,
    /// Values per row: `channels × length`, channel-major.
    pub width: usize,
    /// Channels of a row (each scaled on its own); `width` for a table of plain columns.
    pub channels: usize,
    /// Names of the channels (column names, or `channel 0`, ...).
    pub channel_names: Vec<String>,
    /// Per row, an index into `class_names`.
    pub labels: Vec<u32>,
    /// The classes, in index order.
    pub class_names: Vec<String>,
    /// Rows dropped for a missing or non-finite value (`--drop-nan`).
    pub dropped: usize,
}

impl Table {
    /// Steps per channel.
    pub fn length(&self) -> usize {
        self.width / self.channels.max(1)
    }

    /// How many rows each class has, in class order.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.class_names.len()];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    /// The rows `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Table {
        let mut values = Vec::with_capacity(idx.len() * self.width);
        for &i in idx {
            values.extend_from_slice(self.row(i));
        }
        Table {
            values,
            rows: idx.len(),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            ..self.clone_header()
        }
    }

    fn clone_header(&self) -> Table {
        Table {
            path: self.path.clone(),
            values: Vec::new(),
            rows: 0,
            width: self.width,
            channels: self.channels,
            channel_names: self.channel_names.clone(),
            labels: Vec::new(),
            class_names: self.class_names.clone(),
            dropped: self.dropped,
        }
    }
}

/// Class indices from label texts in first-seen order (`ids[row]` indexes `seen`): if every
/// label is a whole number from 0 to 255 the number is the class (so a file labelled 0..9 keeps
/// its classes, even one missing from the file); otherwise the names sorted, each class its
/// rank. Returns the per-row classes and the class names.
pub fn classes_from_names(
    path: &Path,
    seen: &[String],
    ids: &[u32],
) -> Result<(Vec<u32>, Vec<String>), DataError> {
    let numeric: Option<Vec<u32>> = seen
        .iter()
        .map(|s| s.parse::<u32>().ok().filter(|&v| v < 256))
        .collect();
    let remap: Vec<u32>;
    let names: Vec<String>;
    if let Some(values) = numeric {
        let classes = values.iter().max().map_or(0, |&m| m + 1);
        names = (0..classes).map(|c| c.to_string()).collect();
        remap = values;
    } else {
        let mut order: Vec<usize> = (0..seen.len()).collect();
        order.sort_by(|&a, &b| seen[a].cmp(&seen[b]));
        let mut rank = vec![0u32; seen.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r as u32;
        }
        names = order.iter().map(|&i| seen[i].clone()).collect();
        remap = rank;
    }
    if names.len() > 256 {
        return Err(malformed(
            path,
            format!(
                "{} classes; mote's classifiers take at most 256",
                names.len()
            ),
        ));
    }
    Ok((ids.iter().map(|&i| remap[i as usize]).collect(), names))
}

/// Cuts a stream (one row per time step) into windows of `window` steps every `hop` steps;
/// a window is channel-major (`[ch0 t0..tN, ch1 t0..tN, ...]`, as a `.ts` case) and takes the
/// class most of its steps have (ties to the lower class index).
pub fn windows(t: &Table, window: usize, hop: usize) -> Result<Table, DataError> {
    if window == 0 || hop == 0 {
        return Err(malformed(&t.path, "--window and --hop must be at least 1"));
    }
    if t.rows < window {
        return Err(malformed(
            &t.path,
            format!(
                "a window of {window} steps is longer than the {} rows of the recording",
                t.rows
            ),
        ));
    }
    let count = (t.rows - window) / hop + 1;
    let width = window
        .checked_mul(t.width)
        .ok_or_else(|| malformed(&t.path, "window × columns overflows"))?;
    crate::budget::bytes_of::<f32>(count.saturating_mul(width), "windows")
        .and_then(|b| crate::budget::check("the windows of the recording", b))
        .map_err(|e| malformed(&t.path, e.to_string()))?;
    let mut values = Vec::with_capacity(count * width);
    let mut labels = Vec::with_capacity(count);
    let mut votes = vec![0usize; t.class_names.len()];
    for w in 0..count {
        let start = w * hop;
        for c in 0..t.width {
            values.extend((start..start + window).map(|r| t.values[r * t.width + c]));
        }
        votes.iter_mut().for_each(|v| *v = 0);
        for r in start..start + window {
            votes[t.labels[r] as usize] += 1;
        }
        let best = (0..votes.len()).fold(0, |b, i| if votes[i] > votes[b] { i } else { b });
        labels.push(best as u32);
    }
    Ok(Table {
        path: t.path.clone(),
        values,
        rows: count,
        width,
        channels: t.width,
        channel_names: t.channel_names.clone(),
        labels,
        class_names: t.class_names.clone(),
        dropped: t.dropped,
    })
}

/// A seeded random split: `share` of the rows (at least one, and at least one left) to the test
/// part, the rest to train, each part in file order.
pub fn random_split(t: &Table, share: f64, seed: u64) -> Result<(Table, Table), DataError> {
    if !(share > 0.0 && share < 1.0) {
        return Err(malformed(
            &t.path,
            format!("--test-split is the test share, between 0 and 1 exclusive (got {share})"),
        ));
    }
    if t.rows < 2 {
        return Err(malformed(
            &t.path,
            format!("{} sample(s): a train/test split needs at least 2", t.rows),
        ));
    }
    let n_test = ((share * t.rows as f64).round() as usize).clamp(1, t.rows - 1);
    let mut idx: Vec<usize> = (0..t.rows).collect();
    Rng::new(seed).shuffle(&mut idx);
    let (mut test, mut train) = (idx[..n_test].to_vec(), idx[n_test..].to_vec());
    test.sort_unstable();
    train.sort_unstable();
    Ok((t.select(&train), t.select(&test)))
}

/// A split in time: the first rows train, the last `share` test (for a stream, so that no window
/// of the test part overlaps a training window).
pub fn time_split(t: &Table, share: f64) -> Result<(Table, Table), DataError> {
    if !(share > 0.0 && share < 1.0) {
        return Err(malformed(
            &t.path,
            format!("--test-split is the test share, between 0 and 1 exclusive (got {share})"),
        ));
    }
    let cut = ((1.0 - share) * t.rows as f64).round() as usize;
    let train: Vec<usize> = (0..cut).collect();
    let test: Vec<usize> = (cut..t.rows).collect();
    Ok((t.select(&train), t.select(&test)))
}

/// Per-channel minimum and maximum over the training rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scaling {
    /// Per channel, the smallest training value.
    pub min: Vec<f32>,
    /// Per channel, the largest training value.
    pub max: Vec<f32>,
}

impl Scaling {
    /// The ranges of `train`'s channels.
    pub fn of(train: &Table) -> Scaling {
        let (c, l) = (train.channels, train.length());
        let mut min = vec![f32::INFINITY; c];
        let mut max = vec![f32::NEG_INFINITY; c];
        for row in train.values.chunks(train.width.max(1)) {
            for (i, &x) in row.iter().enumerate() {
                let ch = i / l.max(1);
                min[ch] = min[ch].min(x);
                max[ch] = max[ch].max(x);
            }
        }
        Scaling { min, max }
    }

    /// `t` as a data set, each channel mapped from its training range to `[0, 1]` (values out
    /// of range clamped; a constant channel becomes 0), as every bundled loader does. In place:
    /// the table's values become the features.
    pub fn into_dataset(&self, mut t: Table) -> Dataset {
        let (w, l) = (t.width.max(1), t.length().max(1));
        for (i, x) in t.values.iter_mut().enumerate() {
            let ch = (i % w) / l;
            let (a, b) = (self.min[ch], self.max[ch]);
            *x = if b > a {
                ((*x - a) / (b - a)).clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
        unscaled(t)
    }

    /// Values per channel of a row (`channel_length` of the model file's min–max layer).
    pub fn channel_length(&self, width: usize) -> usize {
        width / self.min.len().max(1)
    }
}

/// `t` as a data set with its values as the file holds them: the inputs of a model file that
/// scales its own inputs (a min–max layer first, as `mote quantize` writes for models trained on
/// a data file).
pub fn unscaled(t: Table) -> Dataset {
    Dataset {
        features: t.values,
        labels: t.labels.iter().map(|&l| l as u8).collect(),
        n: t.rows,
        d: t.width,
        classes: t.class_names.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Table {
        // 6 steps of 2 channels; classes 0 0 1 1 1 0.
        Table {
            path: "s.csv".into(),
            values: vec![0., 10., 1., 11., 2., 12., 3., 13., 4., 14., 5., 15.],
            rows: 6,
            width: 2,
            channels: 2,
            channel_names: vec!["a".into(), "b".into()],
            labels: vec![0, 0, 1, 1, 1, 0],
            class_names: vec!["rest".into(), "walk".into()],
            dropped: 0,
        }
    }

    #[test]
    fn windows_hand_worked() {
        let w = windows(&stream(), 3, 2).expect("cuts");
        // Starts 0 and 2: [a0 a1 a2 b0 b1 b2], classes by majority: 0 0 1 -> 0; 1 1 1 -> 1.
        assert_eq!((w.rows, w.width, w.channels, w.length()), (2, 6, 2, 3));
        assert_eq!(&w.values[..6], &[0., 1., 2., 10., 11., 12.]);
        assert_eq!(&w.values[6..], &[2., 3., 4., 12., 13., 14.]);
        assert_eq!(w.labels, vec![0, 1]);
        assert!(windows(&stream(), 7, 1).is_err());
        assert!(windows(&stream(), 2, 0).is_err());
    }

    #[test]
    fn names_and_numbers_become_classes() {
        let p = Path::new("x.csv");
        let (l, n) = classes_from_names(
            p,
            &["walk".into(), "idle".into(), "run".into()],
            &[0, 1, 2, 0],
        )
        .expect("maps");
        assert_eq!(n, vec!["idle", "run", "walk"]);
        assert_eq!(l, vec![2, 0, 1, 2]);
        let (l, n) = classes_from_names(p, &["3".into(), "0".into()], &[0, 1, 1]).expect("maps");
        assert_eq!(n, vec!["0", "1", "2", "3"]);
        assert_eq!(l, vec![3, 0, 0]);
    }

    #[test]
    fn scaling_uses_the_training_range_only() {
        let t = stream();
        let (train, test) = time_split(&t, 1.0 / 3.0).expect("splits");
        assert_eq!((train.rows, test.rows), (4, 2));
        let s = Scaling::of(&train);
        assert_eq!(
            (s.min.clone(), s.max.clone()),
            (vec![0., 10.], vec![3., 13.])
        );
        let d = s.into_dataset(test);
        // 4 and 5 are above the training maximum 3: clamped to 1.
        assert_eq!(d.features, vec![1., 1., 1., 1.]);
        let d = s.into_dataset(train);
        assert_eq!(&d.features[..4], &[0., 0., 1. / 3., 1. / 3.]);
    }

    #[test]
    fn random_split_is_seeded_and_disjoint() {
        let t = stream();
        let (a, b) = random_split(&t, 0.5, 3).expect("splits");
        let (c, d) = random_split(&t, 0.5, 3).expect("splits");
        assert_eq!((a.clone(), b.clone()), (c, d));
        assert_eq!(a.rows + b.rows, 6);
        let mut all: Vec<u32> = a
            .values
            .iter()
            .chain(&b.values)
            .map(|v| v.to_bits())
            .collect();
        let mut want: Vec<u32> = t.values.iter().map(|v| v.to_bits()).collect();
        all.sort_unstable();
        want.sort_unstable();
        assert_eq!(all, want);
        assert!(random_split(&t, 1.0, 3).is_err());
    }
}
