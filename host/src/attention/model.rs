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
    /// The pre-norm residual parts of a Llama-style block, or `None` for an attention-only
    /// block (`h ← o_proj(attention(h))`).
    pub pre_norm: Option<PreNorm>,
}

/// A Llama-style pre-norm residual block around the attention (docs/attention.md):
///
/// ```text
/// h ← h + o_proj(attention(rms_norm(h) ⊙ attn_norm))
/// h ← h + down_proj(relu(up_proj(rms_norm(h) ⊙ mlp_norm)))
/// ```
///
/// `rms_norm(x) = x / sqrt(mean(x²) + eps)`; ReLU, not SwiGLU (the model file has no
/// elementwise product of two branches).
#[derive(Clone, Debug, PartialEq)]
pub struct PreNorm {
    /// `input_layernorm.weight`, `[d]`.
    pub attn_norm: Vec<f32>,
    /// `post_attention_layernorm.weight`, `[d]`.
    pub mlp_norm: Vec<f32>,
    /// `mlp.up_proj.weight`, `[F, d]`.
    pub w_up: Vec<f32>,
    /// `mlp.down_proj.weight`, `[d, F]`.
    pub w_down: Vec<f32>,
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
    /// `norm.weight` `[d]`, the RMS norm after the last block, present exactly when the blocks
    /// are pre-norm residual blocks ([`PreNorm`]).
    pub final_norm: Option<Vec<f32>>,
    /// `eps` of every RMS norm (`rms_norm_eps` in Hugging Face configs).
    pub rms_eps: f32,
}

/// `rms_norm_eps` when a file does not say (Llama's).
pub const DEFAULT_RMS_EPS: f32 = 1e-5;

/// Most attention blocks a model may have (the issue's family: 1 to 4).
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
        let residual = self.final_norm.is_some();
        ensure!(
            self.rms_eps.is_finite() && self.rms_eps > 0.0,
            "rms_norm_eps = {} must be a finite number > 0",
            self.rms_eps
        );
        let ffn = self.ffn();
        for (i, b) in self.blocks.iter().enumerate() {
            let p = |n: &str| format!("layers.{i}.{n}.weight");
            match &b.pre_norm {
                None => ensure!(
                    !residual,
                    "layers.{i} has no input_layernorm/mlp: with norm.weight every block is a \
                     pre-norm residual block"
                ),
                Some(r) => {
                    ensure!(
                        residual,
                        "layers.{i} is a pre-norm residual block: the model needs norm.weight"
                    );
                    ensure!(
                        ffn > 0 && r.w_up.len() == ffn * dm,
                        "{}: {} values, expected the MLP width of layers.0 ({ffn}) × {dm}",
                        p("mlp.up_proj"),
                        r.w_up.len()
                    );
                    check(p("input_layernorm"), &r.attn_norm, dm)?;
                    check(p("post_attention_layernorm"), &r.mlp_norm, dm)?;
                    check(p("mlp.up_proj"), &r.w_up, ffn * dm)?;
                    check(p("mlp.down_proj"), &r.w_down, dm * ffn)?;
                }
            }
        }
        if let Some(g) = &self.final_norm {
            check("norm.weight".into(), g, dm)?;
        }
        Ok(())
    }

    /// Width `F` of the blocks' MLPs (0 for attention-only blocks).
    pub fn ffn(&self) -> usize {
        self.blocks
            .first()
            .and_then(|b| b.pre_norm.as_ref())
            .map_or(0, |r| r.w_up.len() / self.dims.d_model.max(1))
    }
}
