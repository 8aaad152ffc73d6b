//! Bundled data sets, one loader per module.
//!
//! - [`ecg`]: MIT-BIH record 208 lead MLII (360 Hz, raw u16 ADC) in millivolts.
//! - [`daphnet`]: Daphnet freezing-of-gait accelerometer CSV, one channel in g.

pub mod daphnet;
pub mod ecg;

use std::path::PathBuf;

/// The repository's `data/` directory (override with `MOTE_DATA_DIR`).
pub fn data_dir() -> PathBuf {
    match std::env::var_os("MOTE_DATA_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data"),
    }
}
