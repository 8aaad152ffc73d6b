//! Data sets by name: classification sets for training and evaluating MLPs, and sensor streams.
//!
//! - [`digits`]: the bundled UCI 8×8 handwritten digits (1797 samples, CSV gz).
//! - [`idx`]: the IDX format of (Fashion-)MNIST, gzip-compressed or not.
//! - [`ts`]: the sktime `.ts` time-series format and the bundled BasicMotions sensor set.
//! - [`basicmotions`]: BasicMotions as per-time-step windows for the recurrent classifier.
//! - [`ecg`]: MIT-BIH record 208 lead MLII (360 Hz, raw u16 ADC) in millivolts.
//! - [`daphnet`]: Daphnet freezing-of-gait accelerometer CSV, one channel in g.
//! - [`file`]: the user's own files (CSV/TSV, `.npz`, `.ts`, IDX) wherever a name is accepted.
//!
//! Every loader returns features scaled to `[0, 1]` and a fixed train/test split, so two runs on
//! the same machine or on different machines see the same samples in the same order.

pub mod basicmotions;
pub mod daphnet;
pub mod digits;
pub mod ecg;
pub mod file;
pub mod idx;
pub mod ts;

use std::fmt;
use std::path::{Path, PathBuf};

/// A labelled data set: `n` samples of `d` features, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Row-major `[n, d]`, each value in `[0, 1]`.
    pub features: Vec<f32>,
    /// `n` class labels, each `< classes`.
    pub labels: Vec<u8>,
    /// Number of samples.
    pub n: usize,
    /// Features per sample.
    pub d: usize,
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Features of sample `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.features[i * self.d..(i + 1) * self.d]
    }

    /// The first `n` samples (or all of them, if there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.n);
        Dataset {
            features: self.features[..n * self.d].to_vec(),
            labels: self.labels[..n].to_vec(),
            n,
            d: self.d,
            classes: self.classes,
        }
    }
}

/// Why a data set could not be loaded. Every variant names the file or the name asked for.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// The name is not one of [`NAMES`].
    UnknownName(String),
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file's contents do not match its format.
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where and what (line, field, header word, ...).
        message: String,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownName(name) => {
                write!(
                    f,
                    "unknown data set `{name}`; known: {} (or the path of a CSV, TSV, .npz, .npy, .ts \
                     or IDX file)",
                    NAMES.join(", ")
                )
            }
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Malformed { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for DataError {}

pub(crate) fn malformed(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Malformed {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl From<crate::input::InputError> for DataError {
    fn from(e: crate::input::InputError) -> Self {
        use crate::input::InputErrorKind;
        match e.kind {
            InputErrorKind::Invalid(message) => DataError::Malformed {
                path: e.path,
                message,
            },
            _ => {
                let path = e.path.clone();
                DataError::Io {
                    path,
                    source: e.into_io(),
                }
            }
        }
    }
}

/// Data set names accepted by [`Catalog::load`] (and by `--data`).
pub const NAMES: &[&str] = &["digits", "fashion-mnist", "basicmotions"];

/// Where Debian's `dataset-fashion-mnist` installs the IDX files (`--fashion-mnist-dir`
/// overrides it).
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Where data sets are found. Digits and BasicMotions are compiled into the binary; the ECG and
/// Daphnet streams are read from the data directory (`--data-dir`, or found as
/// [`crate::install`] says); Fashion-MNIST from Debian's package directory (`--fashion-mnist-dir`).
/// [`Default`] finds everything without flags.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    data_dir: Option<PathBuf>,
    fashion_mnist_dir: Option<PathBuf>,
    files: file::FileOptions,
}

impl Catalog {
    /// The data directory and the Fashion-MNIST directory if given (found otherwise).
    pub fn new(data_dir: Option<PathBuf>, fashion_mnist_dir: Option<PathBuf>) -> Self {
        Self {
            data_dir,
            fashion_mnist_dir,
            files: file::FileOptions::default(),
        }
    }

    /// The same catalog, reading data files with `files`.
    pub fn with_files(&self, files: file::FileOptions) -> Self {
        Self {
            files,
            ..self.clone()
        }
    }

    /// How data files are read.
    pub fn files(&self) -> &file::FileOptions {
        &self.files
    }

    /// mote's `data/` directory.
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        crate::install::Shipped::Data.locate(self.data_dir.as_deref())
    }

    /// The directory of the Fashion-MNIST IDX files.
    pub fn fashion_mnist_dir(&self) -> PathBuf {
        self.fashion_mnist_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(FASHION_MNIST_DIR))
    }

    /// Loads a data set by name, or a data file by path ([`file`]), returning `(train, test)`.
    pub fn load(&self, name: &str) -> Result<(Dataset, Dataset), DataError> {
        match name {
            "digits" => digits::load_bundled(),
            "basicmotions" => ts::load_basicmotions(),
            "fashion-mnist" => idx::load_mnist_dir(&self.fashion_mnist_dir()),
            path if file::looks_like_path(path) => {
                let l = file::load(Path::new(path), &self.files)?;
                Ok((l.train, l.test))
            }
            other => Err(DataError::UnknownName(other.to_string())),
        }
    }

    /// The file a bundled set's training split is read from when mote keeps its scaling
    /// (BasicMotions: the shipped `.ts` file, which the bundled loader parses from the same
    /// bytes), or `name` itself if it is a path; `None` for sets whose features are fixed
    /// transforms of the raw data rather than a training-range scaling (digits, Fashion-MNIST).
    pub fn scaled_file(&self, name: &str) -> Result<Option<PathBuf>, DataError> {
        match name {
            "basicmotions" => {
                let dir = self.data_dir().map_err(|e| DataError::Io {
                    path: PathBuf::from("data"),
                    source: std::io::Error::other(format!("{e:#}")),
                })?;
                Ok(Some(dir.join("basicmotions/BasicMotions_TRAIN.ts")))
            }
            path if !NAMES.contains(&path) && file::looks_like_path(path) => {
                Ok(Some(PathBuf::from(path)))
            }
            _ => Ok(None),
        }
    }

    /// `(train, test)` of `name` unscaled, as the sensor or file gives them: the inputs of a
    /// model file whose first layer scales them (see [`Catalog::scaled_file`]).
    pub fn load_unscaled(&self, name: &str) -> Result<(Dataset, Dataset), DataError> {
        match self.scaled_file(name)? {
            Some(path) => file::load_unscaled(&path, &self.files),
            None => Err(malformed(
                Path::new(name),
                "the model scales its own inputs, but this bundled set is only available \
                 scaled: pass the raw data as a file",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_name_lists_known_ones() {
        let e = Catalog::default()
            .load("cifar")
            .expect_err("unknown")
            .to_string();
        assert_eq!(
            e,
            "unknown data set `cifar`; known: digits, fashion-mnist, basicmotions (or the path \
             of a CSV, TSV, .npz, .npy, .ts or IDX file)"
        );
    }
}
