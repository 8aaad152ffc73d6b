//! The attention classifier as safetensors, with PyTorch / Hugging Face key names so a model
//! trained in PyTorch loads as-is (docs/attention.md, "Files"):
//!
//! ```text
//! input_proj.weight               [d, C]      input_proj.bias  [d]
//! layers.N.self_attn.q_proj.weight [H·d_k, d]  (N = 0 .. blocks−1, no biases)
//! layers.N.self_attn.k_proj.weight [H·d_k, d]
//! layers.N.self_attn.v_proj.weight [H·d_v, d]
//! layers.N.self_attn.o_proj.weight [d, H·d_v]
//! head.weight                     [K, d]      head.bias        [K]
//! __metadata__: num_attention_heads = "H" (required), rope_theta = "θ" (default 10000),
//!               pooling = "mean" (default) | "last",
//!               num_key_value_heads = "H_kv" (grouped-query attention, default H)
//! ```
//!
//! Pre-norm residual blocks (Llama-style, `--ffn` of `mote attention-train`) add, per block,
//!
//! ```text
//! layers.N.input_layernorm.weight          [d]     RMS norm before the attention
//! layers.N.post_attention_layernorm.weight [d]     RMS norm before the MLP
//! layers.N.mlp.up_proj.weight              [F, d]
//! layers.N.mlp.down_proj.weight            [d, F]  h ← h + down(relu(up(norm(h))))
//! norm.weight                              [d]     after the last block
//! __metadata__: rms_norm_eps = "ε" (default 1e-5), hidden_act = "relu" (only value accepted)
//! ```
//!
//! With grouped-query attention `k_proj` and `v_proj` have `H_kv` heads (`[H_kv·d_k, d]`,
//! `[H_kv·d_v, d]`); query head `h` reads key/value head `h / (H / H_kv)`, as Hugging Face's
//! `repeat_kv`. The cells have one key head per query head, so loading repeats each key/value
//! head's rows for its group: the same attention, computed by `H` full heads.
//!
//! Tensors may be f32, f16 or bf16; mote writes f32 (plus `format: pt`). Loading is strict:
//! every tensor must be one of the above, every block complete, shapes consistent, values
//! finite; an error names the file and the tensor or metadata field.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail, ensure};
use mote_core::recurrent::Dims;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use super::model::{AttentionModel, Block, MAX_BLOCKS, PreNorm};
use crate::nn::mlp::{ModelError, to_f32};

/// Metadata key of the head count (Hugging Face's config name).
pub const HEADS_KEY: &str = "num_attention_heads";
/// Metadata key of the key/value head count of grouped-query attention (Hugging Face's config
/// name; default: as many as query heads).
pub const KV_HEADS_KEY: &str = "num_key_value_heads";
/// Metadata key of the RMS norms' `eps`.
pub const EPS_KEY: &str = "rms_norm_eps";
/// Metadata key of the MLP's activation (only `relu`).
pub const ACT_KEY: &str = "hidden_act";
/// Metadata key of the RoPE base.
pub const ROPE_KEY: &str = "rope_theta";
/// Metadata key of the pooling (`mean`, the default, or `last`).
pub const POOL_KEY: &str = "pooling";
/// RoPE base when the file does not say (Llama's).
pub const DEFAULT_ROPE_THETA: f32 = 10_000.0;

const PROJECTIONS: [&str; 4] = ["q_proj", "k_proj", "v_proj", "o_proj"];
/// The pre-norm block's tensors after `layers.N.`, without `.weight`.
const PRE_NORM: [&str; 4] = [
    "input_layernorm",
    "post_attention_layernorm",
    "mlp.up_proj",
    "mlp.down_proj",
];

fn pre_norm_key(block: usize, part: &str) -> String {
    format!("layers.{block}.{part}.weight")
}

fn key(block: usize, proj: &str) -> String {
    format!("layers.{block}.self_attn.{proj}.weight")
}

/// The rows of `kv_heads` heads (`head_len` values each, row-major) with every head repeated
/// `group` times in place: query head `h` gets key/value head `h / group`.
fn repeat_kv(w: &[f32], kv_heads: usize, group: usize, head_len: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(w.len() * group);
    for head in w.chunks_exact(head_len).take(kv_heads) {
        for _ in 0..group {
            out.extend_from_slice(head);
        }
    }
    out
}

/// The model as safetensors bytes (f32).
pub fn to_safetensors(model: &AttentionModel) -> Result<Vec<u8>> {
    model.validate()?;
    let d = model.dims;
    let (dm, qk, vd) = (d.d_model, d.qk(), d.vd());
    let mut owned: Vec<(String, Vec<usize>, &[f32])> = vec![
        (
            "input_proj.weight".into(),
            vec![dm, model.channels],
            &model.w_in,
        ),
        ("input_proj.bias".into(), vec![dm], &model.b_in),
        ("head.weight".into(), vec![model.classes, dm], &model.w_head),
        ("head.bias".into(), vec![model.classes], &model.b_head),
    ];
    let ffn = model.ffn();
    for (i, b) in model.blocks.iter().enumerate() {
        owned.push((key(i, "q_proj"), vec![qk, dm], &b.wq));
        owned.push((key(i, "k_proj"), vec![qk, dm], &b.wk));
        owned.push((key(i, "v_proj"), vec![vd, dm], &b.wv));
        owned.push((key(i, "o_proj"), vec![dm, vd], &b.wo));
        if let Some(r) = &b.pre_norm {
            let k = |j: usize| pre_norm_key(i, PRE_NORM[j]);
            owned.push((k(0), vec![dm], &r.attn_norm));
            owned.push((k(1), vec![dm], &r.mlp_norm));
            owned.push((k(2), vec![ffn, dm], &r.w_up));
            owned.push((k(3), vec![dm, ffn], &r.w_down));
        }
    }
    if let Some(g) = &model.final_norm {
        owned.push(("norm.weight".into(), vec![dm], g));
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = owned
        .into_iter()
        .map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let mut views = Vec::new();
    for (name, shape, data) in &bytes {
        let v = TensorView::new(Dtype::F32, shape.clone(), data)
            .map_err(|e| anyhow!("tensor {name}: {e}"))?;
        views.push((name.clone(), v));
    }
    let mut meta = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (HEADS_KEY.to_string(), d.heads.to_string()),
        (ROPE_KEY.to_string(), model.rope_theta.to_string()),
        (POOL_KEY.to_string(), model.pool.name().to_string()),
    ]);
    if model.final_norm.is_some() {
        meta.insert(EPS_KEY.to_string(), model.rms_eps.to_string());
        meta.insert(ACT_KEY.to_string(), "relu".to_string());
    }
    Ok(safetensors::serialize(views, Some(meta))?)
}

/// Writes the model atomically.
pub fn save(model: &AttentionModel, path: &Path) -> Result<()> {
    crate::output::write_atomic(path, &to_safetensors(model)?)
}

/// Reads and validates a safetensors file (sizes checked before reading).
pub fn load(path: &Path) -> Result<AttentionModel> {
    let bytes = crate::input::safetensors(path).map_err(ModelError::from)?;
    from_safetensors(&bytes, path)
}

/// A tensor read from the file: its shape and its values as f32.
type Loaded = (Vec<usize>, Vec<f32>);

/// What a tensor name refers to.
enum Role {
    InW,
    InB,
    HeadW,
    HeadB,
    Proj(usize, usize),
    /// `layers.N.<PRE_NORM[j]>.weight`.
    PreNorm(usize, usize),
    FinalNorm,
}

fn role(name: &str) -> Option<Role> {
    match name {
        "input_proj.weight" => return Some(Role::InW),
        "input_proj.bias" => return Some(Role::InB),
        "head.weight" => return Some(Role::HeadW),
        "head.bias" => return Some(Role::HeadB),
        "norm.weight" => return Some(Role::FinalNorm),
        _ => {}
    }
    let rest = name.strip_prefix("layers.")?;
    let (n, rest) = rest.split_once('.')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = rest.strip_suffix(".weight")?;
    if let Some(j) = PRE_NORM.iter().position(|&x| x == part) {
        return Some(Role::PreNorm(n.parse().ok()?, j));
    }
    let proj = rest.strip_prefix("self_attn.")?.strip_suffix(".weight")?;
    let p = PROJECTIONS.iter().position(|&x| x == proj)?;
    Some(Role::Proj(n.parse().ok()?, p))
}

/// Parses safetensors bytes; `path` names the file in errors.
pub fn from_safetensors(bytes: &[u8], path: &Path) -> Result<AttentionModel> {
    let file = path.display();
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| anyhow!("{file}: not a valid safetensors file: {e}"))?;
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| anyhow!("{file}: not a valid safetensors file: {e}"))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let heads: usize = match meta.get(HEADS_KEY) {
        None => bail!(
            "{file}: missing metadata `{HEADS_KEY}` (the head count cannot be read from the \
             shapes; save with metadata={{\"{HEADS_KEY}\": \"H\"}})"
        ),
        Some(h) => match h.parse() {
            Ok(h) if h > 0 => h,
            _ => bail!("{file}: metadata `{HEADS_KEY}` = {h:?}, expected a whole number ≥ 1"),
        },
    };
    let kv_heads: usize = match meta.get(KV_HEADS_KEY) {
        None => heads,
        Some(h) => match h.parse() {
            Ok(h) if h > 0 && heads.is_multiple_of(h) => h,
            _ => bail!(
                "{file}: metadata `{KV_HEADS_KEY}` = {h:?}, expected a whole number ≥ 1 that \
                 divides {HEADS_KEY} = {heads}"
            ),
        },
    };
    let group = heads / kv_heads;
    let rope_theta = match meta.get(ROPE_KEY) {
        None => DEFAULT_ROPE_THETA,
        Some(s) => match s.parse::<f32>() {
            Ok(t) if t.is_finite() && t > 1.0 => t,
            _ => bail!("{file}: metadata `{ROPE_KEY}` = {s:?}, expected a finite number > 1"),
        },
    };
    let pool = match meta.get(POOL_KEY).map(String::as_str) {
        None | Some("mean") => super::model::Pool::Mean,
        Some("last") => super::model::Pool::Last,
        Some(p) => bail!("{file}: metadata `{POOL_KEY}` = {p:?}, expected \"mean\" or \"last\""),
    };
    let rms_eps = match meta.get(EPS_KEY) {
        None => super::model::DEFAULT_RMS_EPS,
        Some(s) => match s.parse::<f32>() {
            Ok(e) if e.is_finite() && e > 0.0 => e,
            _ => bail!("{file}: metadata `{EPS_KEY}` = {s:?}, expected a finite number > 0"),
        },
    };
    if let Some(a) = meta.get(ACT_KEY).filter(|a| a.as_str() != "relu") {
        bail!(
            "{file}: metadata `{ACT_KEY}` = {a:?}: the blocks' MLP is down_proj(relu(up_proj x)) \
             (\"relu\"); gated MLPs (SwiGLU, gate_proj) have no layer in the model file"
        );
    }
    let (mut w_in, mut b_in, mut w_head, mut b_head) = (None, None, None, None);
    let mut final_norm: Option<Loaded> = None;
    let mut blocks: BTreeMap<usize, [Option<Loaded>; 4]> = BTreeMap::new();
    let mut pre_norms: BTreeMap<usize, [Option<Loaded>; 4]> = BTreeMap::new();
    for (name, view) in st.tensors() {
        if name.ends_with(".mlp.gate_proj.weight") {
            bail!(
                "{file}: tensor `{name}`: gated MLPs (SwiGLU) are not supported; the blocks' MLP \
                 is down_proj(relu(up_proj x))"
            );
        }
        let Some(r) = role(&name) else {
            bail!(
                "{file}: unexpected tensor `{name}` (an attention classifier holds \
                 input_proj.weight/bias, layers.N.self_attn.{{q,k,v,o}}_proj.weight without \
                 biases, head.weight/bias, and for pre-norm blocks layers.N.input_layernorm, \
                 post_attention_layernorm, mlp.up_proj, mlp.down_proj and norm.weight)"
            );
        };
        let value = (view.shape().to_vec(), to_f32(path, &name, &view)?);
        match r {
            Role::InW => w_in = Some(value),
            Role::InB => b_in = Some(value),
            Role::HeadW => w_head = Some(value),
            Role::HeadB => b_head = Some(value),
            Role::FinalNorm => final_norm = Some(value),
            Role::PreNorm(n, j) => {
                ensure!(
                    blocks.contains_key(&n) || n < MAX_BLOCKS,
                    "{file}: tensor `{name}`: block {n}, the family has at most {MAX_BLOCKS} blocks"
                );
                pre_norms.entry(n).or_default()[j] = Some(value);
            }
            Role::Proj(n, p) => {
                ensure!(
                    n < MAX_BLOCKS,
                    "{file}: tensor `{name}`: block {n}, the family has at most {MAX_BLOCKS} \
                     blocks (layers.0 .. layers.{})",
                    MAX_BLOCKS - 1
                );
                blocks.entry(n).or_default()[p] = Some(value);
            }
        }
    }
    let missing = |t: &str| anyhow!("{file}: missing tensor `{t}`");
    let shape_err = |t: &str, found: &[usize], expected: String| {
        anyhow!("{file}: tensor `{t}` has shape {found:?}, expected {expected}")
    };
    let (wi_shape, w_in) = w_in.ok_or_else(|| missing("input_proj.weight"))?;
    let [dm, channels] = wi_shape[..] else {
        bail!(shape_err(
            "input_proj.weight",
            &wi_shape,
            "[d_model, channels]".into()
        ));
    };
    ensure!(
        dm > 0 && channels > 0,
        shape_err("input_proj.weight", &wi_shape, "non-zero sizes".into())
    );
    let (bi_shape, b_in) = b_in.ok_or_else(|| missing("input_proj.bias"))?;
    ensure!(
        bi_shape == [dm],
        shape_err("input_proj.bias", &bi_shape, format!("[{dm}]"))
    );
    let (wh_shape, w_head) = w_head.ok_or_else(|| missing("head.weight"))?;
    let [classes, hd] = wh_shape[..] else {
        bail!(shape_err(
            "head.weight",
            &wh_shape,
            format!("[classes, {dm}]")
        ));
    };
    ensure!(
        hd == dm && classes > 0,
        shape_err("head.weight", &wh_shape, format!("[classes ≥ 1, {dm}]"))
    );
    let (bh_shape, b_head) = b_head.ok_or_else(|| missing("head.bias"))?;
    ensure!(
        bh_shape == [classes],
        shape_err("head.bias", &bh_shape, format!("[{classes}]"))
    );
    if blocks.is_empty() {
        return Err(missing(&key(0, "q_proj")));
    }
    // sizes from block 0's q_proj and v_proj, then every tensor checked against them
    let mut dims: Option<Dims> = None;
    let mut ffn: Option<usize> = None;
    let mut out = Vec::new();
    for (want, (n, parts)) in blocks.into_iter().enumerate() {
        if n != want {
            return Err(missing(&key(want, "q_proj")));
        }
        let mut got: Vec<Loaded> = Vec::new();
        for (p, part) in parts.into_iter().enumerate() {
            got.push(part.ok_or_else(|| missing(&key(n, PROJECTIONS[p])))?);
        }
        let d = match dims {
            Some(d) => d,
            None => {
                let (qn, vn) = (key(n, "q_proj"), key(n, "v_proj"));
                let (qs, vs) = (&got[0].0, &got[2].0);
                let (&[qk, qc], &[vd, vc]) = (&qs[..], &vs[..]) else {
                    let (t, s) = if qs.len() != 2 { (&qn, qs) } else { (&vn, vs) };
                    bail!(shape_err(t, s, format!("[rows, {dm}]")));
                };
                ensure!(qc == dm, shape_err(&qn, qs, format!("[H·d_k, {dm}]")));
                ensure!(vc == dm, shape_err(&vn, vs, format!("[H·d_v, {dm}]")));
                ensure!(
                    qk > 0 && qk.is_multiple_of(heads),
                    "{file}: tensor `{qn}` has {qk} rows, which do not split into \
                     {heads} heads ({HEADS_KEY})"
                );
                ensure!(
                    vd > 0 && vd.is_multiple_of(kv_heads),
                    "{file}: tensor `{vn}` has {vd} rows, which do not split into \
                     {kv_heads} key/value heads ({KV_HEADS_KEY}, default {HEADS_KEY})"
                );
                ensure!(
                    (qk / heads).is_multiple_of(2),
                    "{file}: tensor `{qn}`: head size d_k = {qk}/{heads} = {} is odd; RoPE \
                     rotates pairs of dimensions",
                    qk / heads
                );
                let d = Dims {
                    d_model: dm,
                    heads,
                    d_k: qk / heads,
                    d_v: vd / kv_heads,
                    math: mote_core::recurrent::Math::Libm,
                };
                dims = Some(d);
                d
            }
        };
        let (kv_k, kv_v) = (kv_heads * d.d_k, kv_heads * d.d_v);
        let want_shapes = [[d.qk(), dm], [kv_k, dm], [kv_v, dm], [dm, d.vd()]];
        for (p, ((shape, _), want)) in got.iter().zip(want_shapes).enumerate() {
            if shape[..] != want {
                let why = if p == 1 || p == 2 {
                    format!(
                        " ({kv_heads} key/value heads of {} values: {KV_HEADS_KEY} = \
                         {kv_heads}, or {HEADS_KEY} when unset)",
                        if p == 1 { d.d_k } else { d.d_v }
                    )
                } else {
                    String::new()
                };
                bail!(
                    "{}{why}",
                    shape_err(&key(n, PROJECTIONS[p]), shape, format!("{want:?}"))
                );
            }
        }
        let mut it = got.into_iter().map(|(_, v)| v);
        let mut next = || it.next().context("four projections per block");
        let (wq, wk, wv, wo) = (next()?, next()?, next()?, next()?);
        let pre_norm = match pre_norms.remove(&n) {
            None if final_norm.is_some() => bail!(
                "{file}: missing tensor `{}` (with norm.weight every block is a pre-norm \
                 residual block)",
                pre_norm_key(n, PRE_NORM[0])
            ),
            None => None,
            Some(parts) => {
                let k = |j: usize| pre_norm_key(n, PRE_NORM[j]);
                let mut got: Vec<Loaded> = Vec::new();
                for (j, part) in parts.into_iter().enumerate() {
                    got.push(part.ok_or_else(|| missing(&k(j)))?);
                }
                let up = &got[2].0;
                let f = match up[..] {
                    [f, c] if f > 0 && c == dm => f,
                    _ => bail!(shape_err(&k(2), up, format!("[F ≥ 1, {dm}]"))),
                };
                let f0 = *ffn.get_or_insert(f);
                let want = [vec![dm], vec![dm], vec![f0, dm], vec![dm, f0]];
                for (j, ((shape, _), want)) in got.iter().zip(want).enumerate() {
                    if shape[..] != want[..] {
                        let why = if j >= 2 && n > 0 {
                            " (every block's MLP as wide as layers.0's)"
                        } else {
                            ""
                        };
                        bail!("{}{why}", shape_err(&k(j), shape, format!("{want:?}")));
                    }
                }
                let mut it = got.into_iter().map(|(_, v)| v);
                let mut next = || it.next().context("four pre-norm tensors per block");
                Some(PreNorm {
                    attn_norm: next()?,
                    mlp_norm: next()?,
                    w_up: next()?,
                    w_down: next()?,
                })
            }
        };
        if pre_norm.is_some() && final_norm.is_none() {
            bail!(
                "{file}: missing tensor `norm.weight` (the RMS norm after the last of the \
                 pre-norm residual blocks)"
            );
        }
        out.push(Block {
            wq,
            wk: repeat_kv(&wk, kv_heads, group, d.d_k * dm),
            wv: repeat_kv(&wv, kv_heads, group, d.d_v * dm),
            wo,
            pre_norm,
        });
    }
    if let Some(&n) = pre_norms.keys().next() {
        return Err(missing(&key(n, "q_proj")));
    }
    let final_norm = match final_norm {
        None => None,
        Some((shape, g)) => {
            ensure!(
                shape == [dm],
                shape_err("norm.weight", &shape, format!("[{dm}]"))
            );
            Some(g)
        }
    };
    let dims = dims.context("at least one block")?;
    let model = AttentionModel {
        channels,
        classes,
        dims,
        pool,
        rope_theta,
        w_in,
        b_in,
        blocks: out,
        w_head,
        b_head,
        final_norm,
        rms_eps,
    };
    model.validate().with_context(|| format!("{file}"))?;
    Ok(model)
}
