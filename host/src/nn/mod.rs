//! Neural networks on the host: the [`Mlp`] type with its safetensors files, and its training.
//!
//! - [`mlp`]: `Linear → ReLU → … → Linear`, loaded from and saved to PyTorch `nn.Sequential`
//!   safetensors files.
//! - [`train`]: minibatch Adam on cross-entropy (candle), and evaluation.

pub mod mlp;
#[cfg(test)]
pub(crate) mod testing;
pub mod train;

pub use mlp::{Dense, Mlp, ModelError, load_same_arch};
