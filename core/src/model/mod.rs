//! The `.mote` model file: a zero-copy reader written like a parser of hostile input.
//!
//! [`Model::parse`] checks everything once — magic, version, size, CRC-32, alignment, every table
//! offset and count, every tensor's bounds, dtype and shape against the layer that uses it, the
//! activation chain from input to output, and the RAM the file declares — and never panics or
//! reads out of bounds. Afterwards [`Model::layer`] hands out typed views that borrow the file's
//! bytes in place (from flash on the device), and [`Model::run`] executes with caller-provided
//! buffers whose sizes the parsed model states up front ([`Model::ram`]).
//!
//! Format: `docs/model-format.md`. Compatibility rule: a reader of major version M reads every
//! file of major M whose minor version is at most its own.

mod cast;
mod crc;
mod error;
mod exec;
pub mod format;
mod layer;
mod parse;
mod ram;
mod recurrent;
mod write;

pub use crc::crc32;
pub use error::ParseError;
pub use exec::{ExecError, Layers, PreparedLayer, Workspace};
pub use layer::{DICT_ORTHOGONALITY_TOL, DictMode, Domain, Layer, LayerInfo};
pub use parse::Model;
pub use ram::{LayerRam, Ram};
pub use recurrent::{
    CellSizes, CellType, LinearScheme, PreparedCell, RecurrentConfig, RecurrentLayer,
};
pub use write::{WriteError, encoded_len, write};

#[cfg(test)]
mod tests;
