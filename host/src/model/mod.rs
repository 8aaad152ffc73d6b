//! The `.mote` model file on the host: writing it from a trained MLP, describing it, and running
//! it in the host simulator (`mote-core`'s executor itself, so its outputs are the device's).
//!
//! - [`file`]: [`AlignedModel`], a model file's bytes where `mote-core` reads them in place.
//! - [`quantize`]: MLP → `.mote` in f32, L-Mul e4m3 or int8 (calibrated), and the layer encoder.
//! - [`inspect`]: layers, shapes, schemes, flash and RAM bytes.
//! - [`scaling`]: the input scaling of a model trained on a data file, as the file's first layer.
//! - [`simulate`]: a stateless model on a data set's samples.

pub mod file;
pub mod inspect;
pub mod quantize;
pub mod scaling;
pub mod simulate;

pub use file::AlignedModel;
