//! The candle forward pass of the attention family, in every token mixer the weights can run
//! with: the softmax attention the model is trained with, and the linearized mixers of SPEC §5.3
//! (GLA with the Liger gate, Liger Attention) that fine-tuning trains through. Whole sequences
//! at once (quadratic forms); the device runs the same mixers token by token (`mote-core`).

use anyhow::Result;
use candle_core::{D, Device, Tensor, Var};
use mote_core::recurrent::Dims;

use super::model::{AttentionModel, Block, PreNorm};

/// How a block mixes tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "mixer")]
pub enum Mixer {
    /// Causal softmax attention with RoPE over every earlier token (`None`) or the last
    /// `window` tokens (the current one included).
    Softmax {
        /// Keys visible to a query, the current token included.
        window: Option<usize>,
    },
    /// GLA with the Liger gate: `S_t = diag(α_t) S_{t−1} + φ(k_t)ᵀ v_t`, `o_t = φ(q_t) S_t`,
    /// `log α = logsigmoid(k)/16`, `φ` = softmax over the head, no RoPE, no denominator.
    Gla,
    /// Liger Attention: `0.5 · GLA + 0.5 · softmax attention over the last `window` tokens`.
    Liger {
        /// SWA window.
        window: usize,
    },
}

impl Mixer {
    /// Name in listings.
    pub fn name(self) -> String {
        match self {
            Mixer::Softmax { window: None } => "causal softmax attention".into(),
            Mixer::Softmax { window: Some(w) } => format!("softmax attention, window {w}"),
            Mixer::Gla => "GLA-Liger".into(),
            Mixer::Liger { window } => format!("Liger Attention, window {window}"),
        }
    }
}

/// A low-rank update `W + scale · B A` of one projection (`A` is `[r, in]`, `B` is `[out, r]`).
pub struct Lora {
    /// Down projection `[r, in]`.
    pub a: Var,
    /// Up projection `[out, r]`, zero at the start so the adapted model starts as the base.
    pub b: Var,
    /// `alpha / r`.
    pub scale: f64,
}

impl Lora {
    /// `scale · B A` as a row-major `[out, in]` matrix (what merging adds to the weights).
    pub fn delta(&self) -> Result<Vec<f32>> {
        let m = self.b.as_tensor().matmul(self.a.as_tensor())?;
        Ok(m.affine(self.scale, 0.0)?.flatten_all()?.to_vec1::<f32>()?)
    }
}

/// The LoRA adapters of one block, on `q_proj`, `k_proj`, `v_proj` (SPEC §5.3).
pub struct BlockLora {
    /// On `q_proj`.
    pub q: Lora,
    /// On `k_proj`.
    pub k: Lora,
    /// On `v_proj`.
    pub v: Lora,
}

struct BlockNet {
    wq: Tensor,
    wk: Tensor,
    wv: Tensor,
    wo: Tensor,
    pre_norm: Option<PreNormNet>,
    lora: Option<BlockLora>,
}

/// [`PreNorm`] as tensors.
struct PreNormNet {
    attn_norm: Tensor,
    mlp_norm: Tensor,
    w_up: Tensor,
    w_down: Tensor,
}

/// The model as candle tensors. Weights are either `Var`s (training from scratch) or constants
/// with LoRA `Var`s beside them (fine-tuning).
pub struct Net {
    dims: Dims,
    pool: super::model::Pool,
    rope_theta: f32,
    w_in: Tensor,
    b_in: Tensor,
    blocks: Vec<BlockNet>,
    w_head: Tensor,
    b_head: Tensor,
    final_norm: Option<Tensor>,
    rms_eps: f32,
}

fn matrix(v: &[f32], rows: usize, cols: usize) -> Result<Tensor> {
    Ok(Tensor::from_vec(v.to_vec(), (rows, cols), &Device::Cpu)?)
}

fn vector(v: &[f32]) -> Result<Tensor> {
    Ok(Tensor::from_vec(v.to_vec(), v.len(), &Device::Cpu)?)
}

/// Softmax over the last dimension, built from differentiable ops: candle's fused
/// `softmax_last_dim` has no backward pass (its gradient is silently zero), which would freeze
/// q and k in training.
fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::ops::softmax(x, D::Minus1)?)
}

/// `x / sqrt(mean(x²) + eps) ⊙ gain` over the last dimension (differentiable ops).
fn rms_norm(x: &Tensor, gain: &Tensor, eps: f32) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    let inv = (ms + f64::from(eps))?.sqrt()?.recip()?;
    Ok(x.broadcast_mul(&inv)?.broadcast_mul(gain)?)
}

/// `x Wᵀ (+ scale · x Aᵀ Bᵀ)` over the last dimension.
fn project(x: &Tensor, w: &Tensor, lora: Option<&Lora>) -> Result<Tensor> {
    let y = x.broadcast_matmul(&w.t()?)?;
    match lora {
        None => Ok(y),
        Some(l) => {
            let low = x
                .broadcast_matmul(&l.a.as_tensor().t()?)?
                .broadcast_matmul(&l.b.as_tensor().t()?)?;
            Ok((y + low.affine(l.scale, 0.0)?)?)
        }
    }
}

/// `(B, T, H·size) → (B, H, T, size)`.
fn split_heads(x: &Tensor, heads: usize, size: usize) -> Result<Tensor> {
    let (b, t, _) = x.dims3()?;
    Ok(x.reshape((b, t, heads, size))?
        .transpose(1, 2)?
        .contiguous()?)
}

/// `cos(t θ_i)` and `sin(t θ_i)` for positions `t < n`, laid out for the rotate-half
/// convention (dimension `i` pairs with `i + d_k/2`, Llama's): `[n, d_k]` each, both halves
/// equal. Computed in f64 like the core's table.
fn rope_tables(n: usize, d_k: usize, theta: f32) -> Result<(Tensor, Tensor)> {
    let half = d_k / 2;
    let (mut c, mut s) = (vec![0f32; n * d_k], vec![0f32; n * d_k]);
    for t in 0..n {
        for i in 0..half {
            let a = t as f64 * (theta as f64).powf(-2.0 * i as f64 / d_k as f64);
            for j in [i, i + half] {
                c[t * d_k + j] = a.cos() as f32;
                s[t * d_k + j] = a.sin() as f32;
            }
        }
    }
    Ok((matrix(&c, n, d_k)?, matrix(&s, n, d_k)?))
}

/// RoPE at absolute positions: `x cos + rotate_half(x) sin`, `rotate_half(x) = [−x₂, x₁]`.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let dk = x.dim(D::Minus1)?;
    let half = dk / 2;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    Ok((x.broadcast_mul(cos)? + rot.broadcast_mul(sin)?)?)
}

/// Additive mask `[T, T]`: 0 where key `s` is visible to query `t` (`t − w < s ≤ t`), else a
/// large negative number (its softmax weight is exactly 0 in f32).
fn band_bias(t: usize, window: Option<usize>) -> Result<Tensor> {
    let w = window.unwrap_or(t).max(1);
    let mut m = vec![-1e9f32; t * t];
    for i in 0..t {
        for j in i.saturating_sub(w - 1)..=i {
            m[i * t + j] = 0.0;
        }
    }
    matrix(&m, t, t)
}

/// Causal softmax attention with RoPE on `q`, `k` (`B, H, T, d_k`), scale `1/√d_k`.
fn softmax_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    window: Option<usize>,
    theta: f32,
) -> Result<Tensor> {
    let (_, _, t, dk) = q.dims4()?;
    let (cos, sin) = rope_tables(t, dk, theta)?;
    let qr = rope(q, &cos, &sin)?;
    let kr = rope(k, &cos, &sin)?;
    let s = qr
        .matmul(&kr.t()?)?
        .affine(1.0 / (dk as f64).sqrt(), 0.0)?
        .broadcast_add(&band_bias(t, window)?)?;
    Ok(softmax_last_dim(&s)?.matmul(v)?)
}

/// `ln σ(x) = min(x, 0) − ln(1 + e^{−|x|})` (no overflow for any `x`).
fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    let neg_abs = x.abs()?.neg()?;
    let soft = (neg_abs.exp()? + 1.0)?.log()?;
    Ok((x.clamp(f32::MIN, 0f32)? - soft)?)
}

/// Streams of at most this many tokens go through [`gla`] in one piece (the plain parallel
/// form); longer ones in chunks of [`GLA_CHUNK`] tokens.
pub const GLA_WHOLE: usize = 128;

/// Tokens per chunk of [`gla`]'s chunked form for streams longer than [`GLA_WHOLE`]: the
/// quadratic intra-chunk part holds `chunk² · d_k` values per head and series, so memory and
/// time grow linearly in the stream length.
pub const GLA_CHUNK: usize = 32;

/// GLA with the Liger gate: `o_t = Σ_{s≤t} Σ_i φ(q_t)_i φ(k_s)_i e^{L_t,i − L_s,i} v_s`, `L` the
/// inclusive cumulative sum of `logsigmoid(k)/16` over time; whole or in chunks (see
/// [`GLA_WHOLE`]).
fn gla(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    let t = q.dim(2)?;
    gla_chunked(q, k, v, if t <= GLA_WHOLE { t } else { GLA_CHUNK })
}

/// The parallel form within chunks of `chunk` tokens and the recurrence between them: with
/// `a` the chunk's first token and `S` the state after token `a − 1`,
/// `o_t = intra_t + (φ(q_t) ⊙ e^{L_t − L_{a−1}}) S` and, at the chunk's end `b`,
/// `S ← diag(e^{L_b − L_{a−1}}) S + Σ_{a≤s≤b} (φ(k_s) ⊙ e^{L_b − L_s})ᵀ v_s`
/// (every exponent ≤ 0).
fn gla_chunked(q: &Tensor, k: &Tensor, v: &Tensor, chunk: usize) -> Result<Tensor> {
    let (_, _, t, _) = q.dims4()?;
    let qf = softmax_last_dim(q)?;
    let kf = softmax_last_dim(k)?;
    let v = v.contiguous()?;
    let l = (log_sigmoid(k)? / 16.0)?.cumsum(2)?;
    let chunk = chunk.max(1);
    let mut outs = Vec::new();
    let mut state: Option<Tensor> = None; // [B, H, d_k, d_v], after the previous chunk
    for a in (0..t).step_by(chunk) {
        let n = chunk.min(t - a);
        let (qc, kc, vc, lc) = (
            qf.narrow(2, a, n)?,
            kf.narrow(2, a, n)?,
            v.narrow(2, a, n)?,
            l.narrow(2, a, n)?,
        );
        let mut o = gla_parallel(&qc, &kc, &vc, &lc)?;
        let l_prev = match a {
            0 => None,
            _ => Some(l.narrow(2, a - 1, 1)?),
        };
        if let (Some(s), Some(lp)) = (&state, &l_prev) {
            let q_dec = qc.mul(&lc.broadcast_sub(lp)?.exp()?)?;
            o = (o + q_dec.contiguous()?.matmul(s)?)?;
        }
        if a + n < t {
            // φ(k_s) ⊙ e^{L_b − L_s}: each key decayed to the chunk's end
            let l_last = lc.narrow(2, n - 1, 1)?;
            let k_end = kc.broadcast_mul(&l_last.broadcast_sub(&lc)?.exp()?)?;
            let fresh = k_end
                .transpose(2, 3)?
                .contiguous()?
                .matmul(&vc.contiguous()?)?;
            state = Some(match (&state, &l_prev) {
                (Some(s), Some(lp)) => {
                    let carry = (&l_last - lp)?.exp()?.transpose(2, 3)?;
                    (s.broadcast_mul(&carry)? + fresh)?
                }
                _ => fresh,
            });
        }
        outs.push(o);
    }
    match outs.len() {
        1 => Ok(outs.remove(0)),
        _ => Ok(Tensor::cat(&outs, 2)?),
    }
}

/// The parallel (quadratic) form over one chunk: `qf`, `kf` the feature maps, `l` the
/// cumulative log gate of these tokens.
fn gla_parallel(qf: &Tensor, kf: &Tensor, v: &Tensor, l: &Tensor) -> Result<Tensor> {
    let (_, _, t, _) = qf.dims4()?;
    // [B, H, T(t), T(s), d_k]: L_t − L_s ≤ 0 for s ≤ t; the rest is masked below, clamped
    // first so that it cannot overflow.
    let decay = l
        .unsqueeze(3)?
        .broadcast_sub(&l.unsqueeze(2)?)?
        .clamp(f32::MIN, 0f32)?
        .exp()?;
    let causal = Tensor::tril2(t, candle_core::DType::F32, &Device::Cpu)?;
    let a = qf
        .unsqueeze(3)?
        .broadcast_mul(&kf.unsqueeze(2)?)?
        .mul(&decay)?
        .sum(D::Minus1)?
        .broadcast_mul(&causal)?;
    Ok(a.matmul(&v.contiguous()?)?)
}

impl Net {
    /// Trainable copy of `model` for training from scratch: every weight a `Var` (returned).
    pub fn trainable(model: &AttentionModel) -> Result<(Net, Vec<Var>)> {
        let mut vars = Vec::new();
        let mut var = |t: Tensor| -> Result<Tensor> {
            let v = Var::from_tensor(&t)?;
            let t = v.as_tensor().clone();
            vars.push(v);
            Ok(t)
        };
        let net = Net::build(model, &mut var)?;
        Ok((net, vars))
    }

    /// Sizes of every block.
    pub fn dims(&self) -> Dims {
        self.dims
    }

    /// Frozen copy of `model` (constants), e.g. for evaluation or to put LoRA on.
    pub fn frozen(model: &AttentionModel) -> Result<Net> {
        Net::build(model, &mut |t| Ok(t))
    }

    fn build(
        model: &AttentionModel,
        wrap: &mut dyn FnMut(Tensor) -> Result<Tensor>,
    ) -> Result<Net> {
        model.validate()?;
        let d = model.dims;
        let (dm, qk, vd) = (d.d_model, d.qk(), d.vd());
        let mut blocks = Vec::new();
        let w_in = wrap(matrix(&model.w_in, dm, model.channels)?)?;
        let b_in = wrap(vector(&model.b_in)?)?;
        let ffn = model.ffn();
        for b in &model.blocks {
            let pre_norm = match &b.pre_norm {
                None => None,
                Some(r) => Some(PreNormNet {
                    attn_norm: wrap(vector(&r.attn_norm)?)?,
                    mlp_norm: wrap(vector(&r.mlp_norm)?)?,
                    w_up: wrap(matrix(&r.w_up, ffn, dm)?)?,
                    w_down: wrap(matrix(&r.w_down, dm, ffn)?)?,
                }),
            };
            blocks.push(BlockNet {
                wq: wrap(matrix(&b.wq, qk, dm)?)?,
                wk: wrap(matrix(&b.wk, qk, dm)?)?,
                wv: wrap(matrix(&b.wv, vd, dm)?)?,
                wo: wrap(matrix(&b.wo, dm, vd)?)?,
                pre_norm,
                lora: None,
            });
        }
        let final_norm = match &model.final_norm {
            Some(g) => Some(wrap(vector(g)?)?),
            None => None,
        };
        Ok(Net {
            dims: d,
            pool: model.pool,
            rope_theta: model.rope_theta,
            w_in,
            b_in,
            blocks,
            w_head: wrap(matrix(&model.w_head, model.classes, dm)?)?,
            b_head: wrap(vector(&model.b_head)?)?,
            final_norm,
            rms_eps: model.rms_eps,
        })
    }

    /// Puts LoRA adapters of rank `rank` on every block's q, k, v: `A` uniform in
    /// `±1/√in` from `rng`, `B = 0` (the adapted model starts equal to the base), scale
    /// `alpha / rank`. Returns the new `Var`s, the only trainable parameters.
    pub fn add_lora(
        &mut self,
        rank: usize,
        alpha: f64,
        rng: &mut mote_core::check::XorShift32,
    ) -> Result<Vec<Var>> {
        let d = self.dims;
        let mut vars = Vec::new();
        let mut lora = |out: usize| -> Result<Lora> {
            let bound = 1.0 / (d.d_model as f32).sqrt();
            let a: Vec<f32> = (0..rank * d.d_model)
                .map(|_| (rng.next_f32() * 2.0 - 1.0) * bound)
                .collect();
            let a = Var::from_tensor(&matrix(&a, rank, d.d_model)?)?;
            let b = Var::from_tensor(&Tensor::zeros(
                (out, rank),
                candle_core::DType::F32,
                &Device::Cpu,
            )?)?;
            vars.push(a.clone());
            vars.push(b.clone());
            Ok(Lora {
                a,
                b,
                scale: alpha / rank as f64,
            })
        };
        for b in &mut self.blocks {
            b.lora = Some(BlockLora {
                q: lora(d.qk())?,
                k: lora(d.qk())?,
                v: lora(d.vd())?,
            });
        }
        Ok(vars)
    }

    /// The last block's output `[B, T, d]` of a batch `x` (`B × T × C`).
    fn hidden(&self, x: &Tensor, mixer: Mixer) -> Result<Tensor> {
        let mut h = x
            .broadcast_matmul(&self.w_in.t()?)?
            .broadcast_add(&self.b_in)?;
        for b in &self.blocks {
            h = self.block(b, &h, mixer)?;
        }
        if let Some(g) = &self.final_norm {
            h = rms_norm(&h, g, self.rms_eps)?;
        }
        Ok(h)
    }

    /// Logits `[B, K]` of a batch `x` (`B × T × C`): the head on the pooled stream (the class
    /// scores the model file gives after the last token).
    pub fn forward(&self, x: &Tensor, mixer: Mixer) -> Result<Tensor> {
        let h = self.hidden(x, mixer)?;
        let pooled = match self.pool {
            super::model::Pool::Mean => h.mean(1)?,
            super::model::Pool::Last => {
                let t = h.dim(1)?;
                h.narrow(1, t - 1, 1)?.squeeze(1)?
            }
        };
        Ok(pooled
            .broadcast_matmul(&self.w_head.t()?)?
            .broadcast_add(&self.b_head)?)
    }

    /// Logits `[B, T, K]` at every token of a batch `x` (`B × T × C`): what the model file
    /// emits after each token, i.e. the head on the current token's vector (`Pool::Last`) or on
    /// the running mean of the tokens so far (`Pool::Mean`).
    pub fn forward_tokens(&self, x: &Tensor, mixer: Mixer) -> Result<Tensor> {
        let h = self.hidden(x, mixer)?;
        let pooled = match self.pool {
            super::model::Pool::Last => h,
            super::model::Pool::Mean => {
                let t = h.dim(1)?;
                let count: Vec<f32> = (1..=t).map(|n| 1.0 / n as f32).collect();
                let count = Tensor::from_vec(count, (1, t, 1), &Device::Cpu)?;
                h.cumsum(1)?.broadcast_mul(&count)?
            }
        };
        Ok(pooled
            .broadcast_matmul(&self.w_head.t()?)?
            .broadcast_add(&self.b_head)?)
    }

    /// One block on `h` (`[B, T, d]`): the attention in `mixer` (and o_proj), and for a
    /// pre-norm block the norms, the residual adds and the MLP around it.
    fn block(&self, b: &BlockNet, h: &Tensor, mixer: Mixer) -> Result<Tensor> {
        let d = self.dims;
        let x = match &b.pre_norm {
            Some(r) => rms_norm(h, &r.attn_norm, self.rms_eps)?,
            None => h.clone(),
        };
        let l = b.lora.as_ref();
        let q = split_heads(&project(&x, &b.wq, l.map(|l| &l.q))?, d.heads, d.d_k)?;
        let k = split_heads(&project(&x, &b.wk, l.map(|l| &l.k))?, d.heads, d.d_k)?;
        let v = split_heads(&project(&x, &b.wv, l.map(|l| &l.v))?, d.heads, d.d_v)?;
        let o = match mixer {
            Mixer::Softmax { window } => softmax_attention(&q, &k, &v, window, self.rope_theta)?,
            Mixer::Gla => gla(&q, &k, &v)?,
            Mixer::Liger { window } => {
                let g = gla(&q, &k, &v)?;
                let s = softmax_attention(&q, &k, &v, Some(window), self.rope_theta)?;
                ((g + s)? * 0.5)?
            }
        };
        let (bs, _, t, _) = o.dims4()?;
        let o = o.transpose(1, 2)?.contiguous()?.reshape((bs, t, d.vd()))?;
        let o = project(&o, &b.wo, None)?;
        match &b.pre_norm {
            None => Ok(o),
            Some(r) => {
                let h = (h + o)?;
                let m = rms_norm(&h, &r.mlp_norm, self.rms_eps)?;
                let m = project(&project(&m, &r.w_up, None)?.relu()?, &r.w_down, None)?;
                Ok((h + m)?)
            }
        }
    }

    /// The weights as an [`AttentionModel`], every LoRA update merged into its projection
    /// (`W + scale · B A`), so the result has the base model's shapes and no adapter.
    pub fn to_model(&self, channels: usize, classes: usize) -> Result<AttentionModel> {
        let flat = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
        let merged = |w: &Tensor, l: Option<&Lora>| -> Result<Vec<f32>> {
            let mut w = flat(w)?;
            if let Some(l) = l {
                for (x, dx) in w.iter_mut().zip(l.delta()?) {
                    *x += dx;
                }
            }
            Ok(w)
        };
        let mut blocks = Vec::new();
        for b in &self.blocks {
            let l = b.lora.as_ref();
            blocks.push(Block {
                wq: merged(&b.wq, l.map(|l| &l.q))?,
                wk: merged(&b.wk, l.map(|l| &l.k))?,
                wv: merged(&b.wv, l.map(|l| &l.v))?,
                wo: flat(&b.wo)?,
                pre_norm: match &b.pre_norm {
                    None => None,
                    Some(r) => Some(PreNorm {
                        attn_norm: flat(&r.attn_norm)?,
                        mlp_norm: flat(&r.mlp_norm)?,
                        w_up: flat(&r.w_up)?,
                        w_down: flat(&r.w_down)?,
                    }),
                },
            });
        }
        let m = AttentionModel {
            channels,
            classes,
            dims: self.dims,
            pool: self.pool,
            rope_theta: self.rope_theta,
            w_in: flat(&self.w_in)?,
            b_in: flat(&self.b_in)?,
            blocks,
            w_head: flat(&self.w_head)?,
            b_head: flat(&self.b_head)?,
            final_norm: match &self.final_norm {
                Some(g) => Some(flat(g)?),
                None => None,
            },
            rms_eps: self.rms_eps,
        };
        m.validate()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_gla_is_the_parallel_form() {
        // 23 tokens in chunks of 5 (4 full and a partial one) against one chunk
        let mut rng = mote_core::check::XorShift32(9);
        let mut r = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.next_f32() * 4.0 - 2.0).collect() };
        let shape = (2, 2, 23, 4);
        let t = |v: Vec<f32>| Tensor::from_vec(v, shape, &Device::Cpu).expect("tensor");
        let (q, k, v) = (t(r(368)), t(r(368)), t(r(368)));
        let whole = gla_chunked(&q, &k, &v, 23).expect("one chunk");
        for chunk in [1, 5, 22] {
            let parts = gla_chunked(&q, &k, &v, chunk).expect("chunks");
            let diff = (parts - &whole)
                .and_then(|d| d.abs()?.max_all()?.to_scalar::<f32>())
                .expect("diff");
            assert!(diff < 1e-5, "chunk {chunk}: {diff}");
        }
    }
}
