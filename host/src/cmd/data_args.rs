//! How a `--data PATH` file is read: the flags shared by every command that takes `--data`.

use std::path::PathBuf;

use crate::data::file::{FileOptions, Format};

/// Data-file flags (flattened into each command that takes `--data`). They apply when `--data`
/// is a path (CSV, TSV, `.npz`, `.ts`, IDX), not a bundled set's name.
#[derive(Debug, Clone, clap::Args)]
pub struct DataFileArgs {
    /// Format of a `--data` file [default: from the extension, else the first bytes].
    #[arg(long, value_enum, help_heading = "Data files")]
    pub format: Option<Format>,
    /// CSV: the label column, by header name or 0-based index [default: the last column].
    /// Labels may be class names (sorted to indices) or whole numbers 0-255. `.npy` (`np.save`):
    /// the labels' `.npy` file [default: beside it, `X_train.npy` → `y_train.npy`, `x.npy` →
    /// `y.npy`].
    #[arg(long, help_heading = "Data files")]
    pub label: Option<String>,
    /// CSV: feature columns, comma-separated names, indices and START:END ranges (0-based, END
    /// excluded) [default: every column but the label]. `.ts`: the dimensions to keep, the same
    /// way (e.g. `0:3`).
    #[arg(long, help_heading = "Data files")]
    pub features: Option<String>,
    /// CSV: the first line is a header (`true`) or data (`false`) [default: inferred].
    #[arg(long, help_heading = "Data files")]
    pub header: Option<bool>,
    /// `.npz`: key of the feature array.
    #[arg(long, default_value = "x", help_heading = "Data files")]
    pub npz_x: String,
    /// `.npz`: key of the label array.
    #[arg(long, default_value = "y", help_heading = "Data files")]
    pub npz_y: String,
    /// A separate test file, read like `--data` [default: the file's partner (`_TEST.ts`,
    /// `t10k-`), else a random split].
    #[arg(long, help_heading = "Data files")]
    pub test: Option<PathBuf>,
    /// Test share of a file without a test file (by time for `--window`).
    #[arg(long, default_value_t = 0.2, help_heading = "Data files")]
    pub test_split: f64,
    /// Seed of the random train/test split.
    #[arg(long, default_value_t = 0, help_heading = "Data files")]
    pub split_seed: u64,
    /// Cut a recording (one row per time step, a label per step) into windows of N steps; a
    /// window takes the label most of its steps have.
    #[arg(long, value_name = "N", help_heading = "Data files")]
    pub window: Option<usize>,
    /// Steps between window starts [default: the window length].
    #[arg(long, value_name = "H", help_heading = "Data files")]
    pub hop: Option<usize>,
    /// Drop rows with missing (empty, NA, NaN) or infinite values, and say how many, instead of
    /// refusing the file.
    #[arg(long, help_heading = "Data files")]
    pub drop_nan: bool,
    /// `.ts` series of unequal length: pad each to the longest by repeating its last value
    /// (without it they are refused).
    #[arg(long, help_heading = "Data files")]
    pub pad_series: bool,
}

impl Default for DataFileArgs {
    fn default() -> Self {
        let o = FileOptions::default();
        Self {
            format: o.format,
            label: o.label,
            features: o.features,
            header: o.header,
            npz_x: o.x_key,
            npz_y: o.y_key,
            test: o.test,
            test_split: o.test_split,
            split_seed: o.split_seed,
            window: o.window,
            hop: o.hop,
            drop_nan: o.drop_nan,
            pad_series: o.pad_series,
        }
    }
}

impl DataFileArgs {
    /// The reading options these flags give.
    pub fn options(&self, progress: bool) -> FileOptions {
        FileOptions {
            format: self.format,
            label: self.label.clone(),
            features: self.features.clone(),
            header: self.header,
            x_key: self.npz_x.clone(),
            y_key: self.npz_y.clone(),
            test: self.test.clone(),
            test_split: self.test_split,
            split_seed: self.split_seed,
            window: self.window,
            hop: self.hop,
            drop_nan: self.drop_nan,
            pad_series: self.pad_series,
            progress,
        }
    }
}
