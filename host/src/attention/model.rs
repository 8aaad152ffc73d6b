//! The float weights of a softmax-attention stream classifier and their shape rules.

use anyhow::{Result, bail, ensure};
use mote_core::recurrent::Dims;

/// One attention block: the four projections of multi-head attention, row-major `[out, in]`
/// as PyTorch's `nn.Linear` stores them, no biases (as in Llama).
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// `q_proj`, `[H·d_k, d]`.
    pub wq: Vec<f32>,
    /// `k_proj`, `[H·d_k, d]`.
    pub wk: Vec<f32>,
    /// `v_proj`, `[H·d_v, d]`.
    pub wv: Vec<f32>,
    /// `o_proj`, `[d, H·d_v]`.
    pub wo: Vec<f32>,
}

/// How the token vectors become one vector for the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Pool {
    /// The running mean over the tokens so far (the model file's `MeanPool`).
    Mean,
    /// The current token's vector (no pooling layer: the head reads every token), for tasks
    /// answered at given tokens, such as associative recall (every query at its own token).
    Last,
}

impl Pool {
    /// Name in listings and in the safetensors metadata.
    pub fn name(self) -> &'static str {
        match self {
            Pool::Mean => "mean",
            Pool::Last => "last",
        }
    }
}

/// `logits = head(pool_t blocks(input_proj(x_t)))` with causal softmax attention blocks
/// (docs/attention.md). The same weights are what [`super::linearize`] turns into recurrent
/// cells.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionModel {
    /// Input channels per token.
    pub channels: usize,
    /// Classes.
    pub classes: usize,
    /// Sizes of every block (`d_model`, heads, `d_k`, `d_v`).
    pub dims: Dims,
    /// Pooling before the head.
    pub pool: Pool,
    /// RoPE base `θ` of the softmax attention (`rope_theta` in Hugging Face configs).
    pub rope_theta: f32,
    /// `input_proj.weight`, `[d, C]`.
    pub w_in: Vec<f32>,
    /// `input_proj.bias`, `[d]`.
    pub b_in: Vec<f32>,
    /// The attention blocks, applied in order.
    pub blocks: Vec<Block>,
    /// `head.weight`, `[K, d]`.
    pub w_head: Vec<f32>,
    /// `head.bias`, `[K]`.
    pub b_head: Vec<f32>,
}

/// Most attention blocks a model may have (the family: 1 to 4).
pub const MAX_BLOCKS: usize = 4;

impl AttentionModel {
    /// Checks every size rule of the family: non-zero sizes, even `d_k` (RoPE rotates pairs),
    /// 1 to [`MAX_BLOCKS`] blocks, every tensor of its shape, every value finite.
    pub fn validate(&self) -> Result<()> {
        let d = self.dims;
        ensure!(
            self.channels > 0 && self.classes > 0,
            "the model needs at least one input channel and one class"
        );
        ensure!(
            d.d_model > 0 && d.heads > 0 && d.d_k > 0 && d.d_v > 0,
            "every size must be non-zero (d_model {}, heads {}, d_k {}, d_v {})",
            d.d_model,
            d.heads,
            d.d_k,
            d.d_v
        );
        ensure!(
            d.d_k.is_multiple_of(2),
            "head size d_k = {} is odd: RoPE rotates pairs of dimensions",
            d.d_k
        );
        ensure!(
            self.rope_theta.is_finite() && self.rope_theta > 1.0,
            "rope_theta = {} must be a finite number > 1",
            self.rope_theta
        );
        if self.blocks.is_empty() || self.blocks.len() > MAX_BLOCKS {
            bail!(
                "{} attention blocks; the family has 1 to {MAX_BLOCKS}",
                self.blocks.len()
            );
        }
        let (dm, qk, vd) = (d.d_model, d.qk(), d.vd());
        let check = |name: String, v: &[f32], n: usize| -> Result<()> {
            ensure!(v.len() == n, "{name}: {} values, expected {n}", v.len());
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                bail!("{name}: non-finite value {} at flat index {i}", v[i]);
            }
            Ok(())
        };
        check("input_proj.weight".into(), &self.w_in, dm * self.channels)?;
        check("input_proj.bias".into(), &self.b_in, dm)?;
        for (i, b) in self.blocks.iter().enumerate() {
            let p = |n: &str| format!("layers.{i}.self_attn.{n}.weight");
            check(p("q_proj"), &b.wq, qk * dm)?;
            check(p("k_proj"), &b.wk, qk * dm)?;
            check(p("v_proj"), &b.wv, vd * dm)?;
            check(p("o_proj"), &b.wo, dm * vd)?;
        }
        check("head.weight".into(), &self.w_head, self.classes * dm)?;
        check("head.bias".into(), &self.b_head, self.classes)?;
        Ok(())
    }
}
