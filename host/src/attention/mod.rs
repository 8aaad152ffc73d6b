//! A small softmax-attention stream classifier and its conversion into constant-memory
//! recurrent models (Liger, SPEC §5.3), documented in docs/attention.md:
//!
//! ```text
//! x_t (C) → input_proj → [attention block] × 1..4 → mean over t → head → logits
//! attention block: q, k, v = q_proj h, k_proj h, v_proj h  (H heads, RoPE on q, k)
//!                  o = softmax(q kᵀ/√d_k, causal) v;  h ← o_proj o      (no residual, no norm)
//! ```
//!
//! The block is exactly what a `Recurrent` layer of the model file holds (its q/k/v/o
//! projections), so every conversion is a file the existing executor and firmware run.
//!
//! - [`model`]: the float weights and their shape rules.
//! - [`net`]: the candle forward pass in every mixer (softmax, GLA-Liger, Liger Attention), LoRA.
//! - [`train`]: training from scratch (mini-batches; per-series or per-query cross-entropy),
//!   float and model-file accuracies.
//! - [`safetensors`]: PyTorch-named files (`q_proj`, `k_proj`, `v_proj`, `o_proj`, ...).
//! - [`linearize`]: the zero-step conversion to GLA / Liger / MoM / SWA `.mote` files.
//! - [`lora`]: LoRA fine-tuning of the converted model, merged before export.
//! - [`mqar`]: the synthetic multi-query associative-recall streams (`--data mqar:LENGTH`),
//!   scored per query at the query's own token.
//! - [`cost`]: the softmax model's growing KV cache against its conversions on the device.

pub mod cost;
pub mod linearize;
pub mod lora;
pub mod model;
pub mod mqar;
pub mod net;
pub mod safetensors;
pub mod train;

pub use model::{AttentionModel, Block};
pub use net::Mixer;

#[cfg(test)]
mod tests;
