//! The user's own data files: CSV/TSV, NumPy `.npz`, UCR/UEA `.ts` and IDX, given to any
//! command as `--data PATH` in place of a bundled set's name.
//!
//! - [`table`]: a file read into rows with a class each; windows, splits, scaling.
//! - [`csv`]: CSV and TSV, streamed.
//! - [`npz`]: `.npz` archives of `.npy` arrays.
//!
//! The format comes from the extension (`.csv`, `.tsv`, `.npz`, `.ts`, IDX names), else from the
//! first bytes, and `--format` overrides it. The test split is `--test PATH` (read with the same
//! options), else the file's own partner (`X_TRAIN.ts` → `X_TEST.ts`, `train-images-idx3-ubyte`
//! → `t10k-images-idx3-ubyte`), else a seeded random share (`--test-split`, `--split-seed`) —
//! for a recording cut by `--window`, the last share of its time instead, so no test window
//! overlaps a training one. Each channel is then min–max scaled to `[0, 1]` with the training
//! split's range, as the bundled sets are.

pub mod csv;
pub mod npz;
pub mod table;

use std::path::{Path, PathBuf};

use super::basicmotions::{Series, SeriesSet};
use super::{DataError, Dataset, malformed};
pub use table::{Scaling, Table};

/// A data file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated values.
    Csv,
    /// Tab-separated values.
    Tsv,
    /// NumPy `.npz` archive.
    Npz,
    /// NumPy `.npy` array (`np.save`) of features, its labels in a second `.npy` (`--label`,
    /// or beside it: `X_train.npy` → `y_train.npy`, `x.npy` → `y.npy`).
    Npy,
    /// UCR/UEA (sktime, aeon) `.ts` time series.
    Ts,
    /// IDX (MNIST), gzip or not; labels from the sibling `*-labels-idx1-ubyte` file.
    Idx,
}

/// How data files are read (the `--label`, `--features`, ... flags).
#[derive(Debug, Clone, PartialEq)]
pub struct FileOptions {
    /// The format, if not inferred.
    pub format: Option<Format>,
    /// CSV: the label column, by name or index.
    pub label: Option<String>,
    /// CSV: the feature columns.
    pub features: Option<String>,
    /// CSV: whether the first line is a header.
    pub header: Option<bool>,
    /// `.npz`: the feature array's key.
    pub x_key: String,
    /// `.npz`: the label array's key.
    pub y_key: String,
    /// A separate test file.
    pub test: Option<PathBuf>,
    /// Test share of a file without one.
    pub test_split: f64,
    /// Seed of the random split.
    pub split_seed: u64,
    /// Cut a recording (one row per time step) into windows of this many steps.
    pub window: Option<usize>,
    /// Steps between window starts (default: the window, no overlap).
    pub hop: Option<usize>,
    /// Drop rows with missing or non-finite values (counted) instead of refusing the file.
    pub drop_nan: bool,
    /// `.ts`: pad series of unequal length to the longest (edge values) instead of refusing.
    pub pad_series: bool,
    /// Progress bars on stderr.
    pub progress: bool,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            format: None,
            label: None,
            features: None,
            header: None,
            x_key: "x".into(),
            y_key: "y".into(),
            test: None,
            test_split: 0.2,
            split_seed: 0,
            window: None,
            hop: None,
            drop_nan: false,
            pad_series: false,
            progress: false,
        }
    }
}

/// Whether `name` (a `--data` value) names a file rather than a bundled set.
pub fn looks_like_path(name: &str) -> bool {
    name.contains('/')
        || name.contains('\\')
        || Path::new(name).extension().is_some()
        || Path::new(name).exists()
}

/// The format of `path`: its extension, else its first bytes.
pub fn infer_format(path: &Path) -> Result<Format, DataError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let stem = name.trim_end_matches(".gz");
    if stem.ends_with(".csv") {
        return Ok(Format::Csv);
    }
    if stem.ends_with(".tsv") || stem.ends_with(".tab") {
        return Ok(Format::Tsv);
    }
    if stem.ends_with(".npz") {
        return Ok(Format::Npz);
    }
    if stem.ends_with(".npy") {
        return Ok(Format::Npy);
    }
    if stem.ends_with(".ts") {
        return Ok(Format::Ts);
    }
    if stem.contains("-ubyte") || stem.ends_with(".idx") || stem.contains("idx3") {
        return Ok(Format::Idx);
    }
    let mut input = crate::input::open(path)?;
    let mut head = [0u8; 4];
    let got = input.read_full(&mut head)?;
    Ok(match &head[..got] {
        [b'P', b'K', 3, 4] => Format::Npz,
        [0x93, b'N', b'U', b'M'] => Format::Npy,
        [0, 0, 8, _] | [0x1f, 0x8b, ..] => Format::Idx,
        [b'#', ..] | [b'@', ..] => Format::Ts,
        _ => Format::Csv,
    })
}

/// A class and how many rows have it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClassCount {
    /// The class name (its index is its position).
    pub name: String,
    /// Rows of the class.
    pub count: usize,
}

/// What a file held, for `mote data inspect` and the model's metadata.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FileInfo {
    /// The file.
    pub path: PathBuf,
    /// How it was read.
    pub format: Format,
    /// Rows read (samples, or time steps of a recording), after dropped ones.
    pub rows: usize,
    /// Values per row.
    pub width: usize,
    /// Channels per row, and steps per channel.
    pub channels: usize,
    /// Steps per channel (1 for plain columns).
    pub length: usize,
    /// Channel (column) names.
    pub channel_names: Vec<String>,
    /// Classes in index order, with their rows.
    pub classes: Vec<ClassCount>,
    /// Rows dropped for missing or non-finite values (`--drop-nan`).
    pub dropped: usize,
}

impl FileInfo {
    /// The summary of a table.
    pub fn of(t: &Table, format: Format) -> Self {
        Self {
            path: t.path.clone(),
            format,
            rows: t.rows,
            width: t.width,
            channels: t.channels,
            length: t.length(),
            channel_names: t.channel_names.clone(),
            classes: t
                .class_names
                .iter()
                .cloned()
                .zip(t.class_counts())
                .map(|(name, count)| ClassCount { name, count })
                .collect(),
            dropped: t.dropped,
        }
    }
}

/// Reads one file into a table.
pub fn read_table(path: &Path, opts: &FileOptions) -> Result<(Table, Format), DataError> {
    let format = match opts.format {
        Some(f) => f,
        None => infer_format(path)?,
    };
    let csv_opts = csv::CsvOptions {
        label: opts.label.clone(),
        features: opts.features.clone(),
        header: opts.header,
        drop_nan: opts.drop_nan,
        progress: opts.progress,
    };
    let table = match format {
        Format::Csv => csv::read(path, csv::sniff_delimiter(path), &csv_opts)?,
        Format::Tsv => csv::read(path, b'\t', &csv_opts)?,
        Format::Npz => npz::read(path, &opts.x_key, &opts.y_key, opts.drop_nan)?,
        Format::Npy => {
            let labels = match &opts.label {
                Some(l) => PathBuf::from(l),
                None => npz::npy_labels_beside(path)?,
            };
            npz::read_npy_pair(path, &labels, opts.drop_nan)?
        }
        Format::Ts => {
            let f = super::ts::parse_with(&super::ts::read(path)?, path, opts.pad_series)?;
            let names: Vec<String> = (0..f.dimensions)
                .map(|c| format!("dimension {c}"))
                .collect();
            // `--features` picks dimensions (e.g. `0:3`, a device's three accelerometer axes).
            let dims = match &opts.features {
                Some(spec) => csv::feature_columns(path, &names, spec, usize::MAX)?,
                None => (0..f.dimensions).collect(),
            };
            let l = f.length;
            let mut values = Vec::with_capacity(f.cases.len() * dims.len() * l);
            for case in &f.cases {
                for &d in &dims {
                    values.extend_from_slice(&case[d * l..(d + 1) * l]);
                }
            }
            Table {
                path: path.to_path_buf(),
                rows: f.cases.len(),
                width: dims.len() * l,
                channels: dims.len(),
                channel_names: dims.iter().map(|&d| names[d].clone()).collect(),
                values,
                labels: f.labels.iter().map(|&l| u32::from(l)).collect(),
                class_names: f.classes,
                dropped: 0,
            }
        }
        Format::Idx => {
            let images = super::idx::read_file(path)?;
            let labels_path = idx_labels_path(path)?;
            let labels = super::idx::read_file(&labels_path)?;
            let classes = labels
                .data
                .iter()
                .map(|&l| usize::from(l) + 1)
                .max()
                .unwrap_or(0);
            let d = super::idx::dataset(&images, path, &labels, &labels_path, classes)?;
            Table {
                path: path.to_path_buf(),
                rows: d.n,
                width: d.d,
                channels: 1,
                channel_names: vec!["pixels".into()],
                // Bytes / 255, as the bundled loader has them.
                values: d.features,
                labels: d.labels.iter().map(|&l| u32::from(l)).collect(),
                class_names: (0..d.classes).map(|c| c.to_string()).collect(),
                dropped: 0,
            }
        }
    };
    Ok((table, format))
}

/// `…-images-idx3-ubyte[.gz]` → `…-labels-idx1-ubyte[.gz]` (the MNIST naming).
fn idx_labels_path(images: &Path) -> Result<PathBuf, DataError> {
    let name = images
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let labels = name
        .replace("images-idx3", "labels-idx1")
        .replace("images", "labels");
    if labels == name {
        return Err(malformed(
            images,
            "an IDX images file is paired with its labels by name (`…-images-idx3-ubyte` and \
             `…-labels-idx1-ubyte`); rename it so",
        ));
    }
    Ok(images.with_file_name(labels))
}

/// The test file a training file names by convention, if it exists.
fn partner(path: &Path, format: Format) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy().to_string();
    let other = match format {
        Format::Ts if name.contains("_TRAIN") => name.replace("_TRAIN", "_TEST"),
        Format::Idx if name.starts_with("train-") => name.replacen("train-", "t10k-", 1),
        Format::Npy if name.contains("train") => name.replacen("train", "test", 1),
        _ => return None,
    };
    let p = path.with_file_name(other);
    p.is_file().then_some(p)
}

/// Train and test data sets from a file, and what the training file held.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The training split, scaled.
    pub train: Dataset,
    /// The test split, scaled with the training split's ranges.
    pub test: Dataset,
    /// What the (training) file held, before any split or windows.
    pub info: FileInfo,
    /// Where the test split came from.
    pub test_source: String,
    /// The class names, in index order.
    pub class_names: Vec<String>,
    /// The scaling applied (per channel, from the training split).
    pub scaling: Scaling,
}

/// Loads `path` as train and test data sets (see the module doc).
pub fn load(path: &Path, opts: &FileOptions) -> Result<Loaded, DataError> {
    if opts.hop.is_some() && opts.window.is_none() {
        return Err(malformed(path, "--hop needs --window"));
    }
    let (table, format) = read_table(path, opts)?;
    split_and_scale(path, table, format, opts)
}

/// [`load`] without the scaling: the test split (and the training split) as the file holds them,
/// for a model file that scales its own inputs.
pub fn load_unscaled(path: &Path, opts: &FileOptions) -> Result<(Dataset, Dataset), DataError> {
    if opts.hop.is_some() && opts.window.is_none() {
        return Err(malformed(path, "--hop needs --window"));
    }
    let (table, format) = read_table(path, opts)?;
    let (train, test, _, _) = split(path, table, format, opts)?;
    Ok((table::unscaled(train), table::unscaled(test)))
}

/// The second half of [`load`], for a table already read from `path`.
pub fn split_and_scale(
    path: &Path,
    table: Table,
    format: Format,
    opts: &FileOptions,
) -> Result<Loaded, DataError> {
    let (train, test, info, test_source) = split(path, table, format, opts)?;
    let scaling = Scaling::of(&train);
    let class_names = train.class_names.clone();
    Ok(Loaded {
        train: scaling.into_dataset(train),
        test: scaling.into_dataset(test),
        info,
        test_source,
        class_names,
        scaling,
    })
}

/// A file's training and test splits as series for the recurrent models: each row (a window of
/// a recording, or a `.ts` case) becomes one series, time-major, values **unscaled** (the
/// recurrent classifier standardises its inputs itself and folds that into its weights, so the
/// device takes the sensor's own units).
pub fn load_series(
    path: &Path,
    opts: &FileOptions,
) -> Result<(SeriesSet, SeriesSet, String), DataError> {
    if opts.hop.is_some() && opts.window.is_none() {
        return Err(malformed(path, "--hop needs --window"));
    }
    let (table, format) = read_table(path, opts)?;
    let (train, test, _, source) = split(path, table, format, opts)?;
    Ok((series_of(&train), series_of(&test), source))
}

fn series_of(t: &Table) -> SeriesSet {
    let (c, l) = (t.channels.max(1), t.length());
    let series = t
        .values
        .chunks(t.width.max(1))
        .zip(&t.labels)
        .map(|(row, &label)| Series {
            values: (0..l)
                .flat_map(|step| (0..c).map(move |ch| row[ch * l + step]))
                .collect(),
            label: label as usize,
        })
        .collect();
    SeriesSet {
        classes: t.class_names.clone(),
        channels: c,
        length: l,
        series,
    }
}

/// Splits `table` (read from `path`) into training and test tables: the test file (given or the
/// `_TEST` partner), else the last share of a recording (`--window`) or a random share of rows;
/// refuses a training split of fewer than two classes.
fn split(
    path: &Path,
    table: Table,
    format: Format,
    opts: &FileOptions,
) -> Result<(Table, Table, FileInfo, String), DataError> {
    let info = FileInfo::of(&table, format);
    let test_file = opts.test.clone().or_else(|| partner(path, format));
    let (train, test, test_source) = match &test_file {
        Some(tp) => {
            let (mut test, _) = read_table(
                tp,
                &FileOptions {
                    format: Some(format),
                    // A `.npy` test file's labels are its own (found beside it), not the
                    // training file's `--label`.
                    label: if format == Format::Npy {
                        None
                    } else {
                        opts.label.clone()
                    },
                    ..opts.clone()
                },
            )?;
            if test.width != table.width {
                return Err(malformed(
                    tp,
                    format!(
                        "{} values per row; the training file {} has {}",
                        test.width,
                        path.display(),
                        table.width
                    ),
                ));
            }
            // The test file's classes by name, in the training file's order.
            let mut map = Vec::with_capacity(test.class_names.len());
            for name in &test.class_names {
                match table.class_names.iter().position(|n| n == name) {
                    Some(i) => map.push(i as u32),
                    None => {
                        return Err(malformed(
                            tp,
                            format!(
                                "class `{name}` is not in the training file {} (its classes: {})",
                                path.display(),
                                table.class_names.join(", ")
                            ),
                        ));
                    }
                }
            }
            test.labels.iter_mut().for_each(|l| *l = map[*l as usize]);
            test.class_names = table.class_names.clone();
            let (train, test) = match opts.window {
                Some(w) => {
                    let hop = opts.hop.unwrap_or(w);
                    (
                        table::windows(&table, w, hop)?,
                        table::windows(&test, w, hop)?,
                    )
                }
                None => (table, test),
            };
            (train, test, tp.display().to_string())
        }
        None => match opts.window {
            Some(w) => {
                let hop = opts.hop.unwrap_or(w);
                let (a, b) = table::time_split(&table, opts.test_split)?;
                drop(table);
                (
                    table::windows(&a, w, hop)?,
                    table::windows(&b, w, hop)?,
                    format!("the last {:.0}% of the recording", 100.0 * opts.test_split),
                )
            }
            None => {
                let (a, b) = table::random_split(&table, opts.test_split, opts.split_seed)?;
                // Peak memory: the file's values twice, never three times.
                drop(table);
                (
                    a,
                    b,
                    format!(
                        "a random {:.0}% of the rows (seed {})",
                        100.0 * opts.test_split,
                        opts.split_seed
                    ),
                )
            }
        },
    };
    let present = train.class_counts().iter().filter(|&&c| c > 0).count();
    if present < 2 {
        return Err(malformed(
            path,
            format!(
                "the training split has {present} class{} ({}); a classifier needs at least two \
                 (is --label the right column?)",
                if present == 1 { "" } else { "es" },
                train
                    .class_names
                    .iter()
                    .zip(train.class_counts())
                    .filter(|(_, c)| *c > 0)
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok((train, test, info, test_source))
}

#[cfg(test)]
mod tests;
