//! One module per subcommand: its arguments (clap), its run, its rendering. The algorithms they
//! call live in the concern folders (`align`, `nn`, `model`, `device`, `dict`, `recurrent`,
//! `attention`, `plugin`, `data`); nothing there imports from here.

pub mod align_args;
pub mod analyze;
pub mod attention_train;
pub mod barrier;
pub mod bench;
pub mod data;
pub mod data_args;
pub mod demo;
pub mod dict;
pub mod firmware;
pub mod inspect;
pub mod linearize;
pub mod lmul_error;
pub mod r#match;
pub mod merge;
pub mod plugin;
pub mod quantize;
pub mod recurrent_synth;
pub mod recurrent_train;
pub mod run;
pub mod selftest;
pub mod train;

use crate::data::Catalog;
use crate::device::Firmware;

/// What the global flags configure, handed to every command: where data sets are found, and
/// where the firmware sources are.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Data sets by name.
    pub catalog: Catalog,
    /// The firmware sources and measurement settings.
    pub firmware: Firmware,
}
