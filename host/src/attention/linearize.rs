//! Liger conversion (SPEC §5.3): the attention blocks' `q_proj`, `k_proj`, `v_proj`, `o_proj`
//! become the projections of a recurrent cell of the model file, unchanged, and the model is
//! written as a `.mote` stream classifier:
//!
//! ```text
//! Dense (input_proj)  →  Recurrent (one per block)  →  MeanPool  →  Dense (head)
//! ```
//!
//! | target | cell | projections | new tensors |
//! |---|---|---|---|
//! | `gla` | GLA-Liger | wq, wo, wk, wv | none |
//! | `liger` | Liger (½ GLA + ½ SWA with RoPE, window w) | wq, wk, wv, wo | none |
//! | `mom` | MoM over GLA memories, M memories, top-k, no shared memory | router, wq, wo, (wk, wv) × M | router `[M, d]` = 0 |
//! | `swa` | sliding-window softmax attention with RoPE, window w (no conversion) | wq, wk, wv, wo | none |
//!
//! `mom` needs a router the attention model does not have: it is zero, so every memory gets
//! the same probability, the top-k are always memories `0..k` (ties go to the lower index) with
//! weight `1/k` each, and every memory is a copy of `k_proj`/`v_proj`: the zero-step MoM is the
//! GLA conversion: bit for bit at top-1 and top-2 (`0 + r/2 + r/2 = r` exactly; tested), up to
//! the rounding of `Σ (1/k) r` otherwise. Memories only become different once the
//! router and the memories are trained, which this conversion does not do.
//!
//! `swa` with a window of the series length is the softmax model itself, token by token.

use anyhow::{Context, Result, bail, ensure};
use mote_core::model::{CellType, Layer, LayerInfo, RecurrentConfig, RecurrentLayer};
use mote_core::recurrent::{Rope, Routing};
use serde::Serialize;

use super::model::AttentionModel;
use super::net::Mixer;
use crate::model::quantize::encode;
use crate::recurrent::weights::{OwnedLinear, WeightScheme};

/// What the attention blocks become.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "cell")]
pub enum Target {
    /// GLA with the Liger gate (pure linear recurrence).
    Gla,
    /// Liger Attention with an SWA window.
    Liger {
        /// SWA window.
        window: usize,
    },
    /// Mixture-of-Memories over GLA memories (see the module documentation).
    Mom {
        /// Routed memories `M`.
        memories: usize,
        /// Memories per token.
        top_k: usize,
    },
    /// Sliding-window softmax attention (the unconverted mixer, bounded by the window).
    Swa {
        /// Window.
        window: usize,
    },
}

impl Target {
    /// The model file's cell type.
    pub fn cell(self) -> CellType {
        match self {
            Target::Gla => CellType::Gla,
            Target::Liger { .. } => CellType::Liger,
            Target::Mom { .. } => CellType::MomGla,
            Target::Swa { .. } => CellType::Swa,
        }
    }

    /// The candle mixer that computes the same function over a whole sequence, if there is
    /// one (MoM has none: it is only run token by token).
    pub fn mixer(self) -> Option<Mixer> {
        match self {
            Target::Gla => Some(Mixer::Gla),
            Target::Liger { window } => Some(Mixer::Liger { window }),
            Target::Swa { window } => Some(Mixer::Softmax {
                window: Some(window),
            }),
            Target::Mom { .. } => None,
        }
    }

    /// Checks the target's own sizes; `length` is the series length the model will be run on
    /// (a window longer than it is refused: the SWA branch would be full attention).
    pub fn validate(self, length: Option<usize>) -> Result<()> {
        match self {
            Target::Liger { window } | Target::Swa { window } => {
                ensure!(
                    window >= 1,
                    "--window 0: the window holds at least the current token"
                );
                ensure!(
                    window <= mote_core::model::format::MAX_WINDOW,
                    "--window {window}: the model file allows at most {}",
                    mote_core::model::format::MAX_WINDOW
                );
                if let Some(t) = length {
                    ensure!(
                        window <= t,
                        "--window {window} is longer than the {t}-sample series: the \
                         attention branch would see the whole series (choose --window ≤ {t})"
                    );
                }
            }
            Target::Mom { memories, top_k } => {
                let max = mote_core::model::format::MAX_MEMORIES;
                ensure!(
                    (1..=max).contains(&memories),
                    "--memories {memories}: the model file allows 1 to {max}"
                );
                ensure!(
                    (1..=memories).contains(&top_k),
                    "--top-k {top_k}: must lie in 1..={memories} (--memories)"
                );
            }
            Target::Gla => {}
        }
        Ok(())
    }
}

/// The converted model as `.mote` bytes in `scheme` (every projection, the input projection and
/// the head included), validated by parsing it back. Nothing is trained: the recurrent cells
/// run the attention model's own projections.
pub fn to_mote(model: &AttentionModel, target: Target, scheme: WeightScheme) -> Result<Vec<u8>> {
    model.validate()?;
    target.validate(None)?;
    let d = model.dims;
    let (dm, qk, vd) = (d.d_model, d.qk(), d.vd());
    let lin = |rows, cols, w: &[f32], b: Option<&[f32]>| {
        OwnedLinear::new(rows, cols, w.to_vec(), b.map(<[f32]>::to_vec), scheme)
    };
    let input = lin(dm, model.channels, &model.w_in, Some(&model.b_in[..]));
    let head = lin(model.classes, dm, &model.w_head, Some(&model.b_head[..]));
    let rope = Some(Rope {
        base: model.rope_theta,
    });
    let mut cells = Vec::new();
    for b in &model.blocks {
        let (wq, wk, wv, wo) = (
            lin(qk, dm, &b.wq, None),
            lin(qk, dm, &b.wk, None),
            lin(vd, dm, &b.wv, None),
            lin(dm, vd, &b.wo, None),
        );
        let (cfg, projections) = match target {
            Target::Gla => (
                RecurrentConfig {
                    cell: CellType::Gla,
                    scheme: scheme.linear_scheme(),
                    dims: d,
                    routing: None,
                    window: 0,
                    rope: None,
                },
                vec![wq, wo, wk, wv],
            ),
            Target::Liger { window } | Target::Swa { window } => (
                RecurrentConfig {
                    cell: target.cell(),
                    scheme: scheme.linear_scheme(),
                    dims: d,
                    routing: None,
                    window,
                    rope,
                },
                vec![wq, wk, wv, wo],
            ),
            Target::Mom { memories, top_k } => {
                let mut p = vec![lin(memories, dm, &vec![0.0; memories * dm], None), wq, wo];
                for _ in 0..memories {
                    p.push(wk.clone());
                    p.push(wv.clone());
                }
                (
                    RecurrentConfig {
                        cell: CellType::MomGla,
                        scheme: scheme.linear_scheme(),
                        dims: d,
                        routing: Some(Routing {
                            memories,
                            top_k,
                            shared: false,
                        }),
                        window: 0,
                        rope: None,
                    },
                    p,
                )
            }
        };
        cells.push((cfg, projections));
    }
    let views: Vec<Vec<_>> = cells
        .iter()
        .map(|(_, p)| p.iter().map(OwnedLinear::view).collect())
        .collect();
    // the MLPs of pre-norm blocks, as Dense layers with a zero bias (the projections have none)
    let ffn = model.ffn();
    let mlps: Vec<Option<(OwnedLinear, OwnedLinear)>> = model
        .blocks
        .iter()
        .map(|b| {
            b.pre_norm.as_ref().map(|r| {
                (
                    lin(ffn, dm, &r.w_up, Some(&vec![0.0; ffn][..])),
                    lin(dm, ffn, &r.w_down, Some(&vec![0.0; dm][..])),
                )
            })
        })
        .collect();
    let bias = "input_proj, head and the MLP have a bias";
    let same = |layer| LayerInfo {
        layer,
        in_len: dm,
        out_len: dm,
    };
    let eps = model.rms_eps;
    let mut layers = vec![input.dense().context(bias)?];
    for (((cfg, _), lins), (b, mlp)) in cells.iter().zip(&views).zip(model.blocks.iter().zip(&mlps))
    {
        let cell = same(Layer::Recurrent(RecurrentLayer::new(*cfg, lins, &[])));
        match (&b.pre_norm, mlp) {
            (Some(r), Some((up, down))) => {
                // h ← h + cell(rms(h)); h ← h + down(relu(up(rms(h))))
                layers.extend([
                    same(Layer::ResidualSave),
                    same(Layer::RmsNorm {
                        gain: &r.attn_norm,
                        eps,
                    }),
                    cell,
                    same(Layer::ResidualAdd),
                    same(Layer::ResidualSave),
                    same(Layer::RmsNorm {
                        gain: &r.mlp_norm,
                        eps,
                    }),
                    up.dense().context(bias)?,
                    LayerInfo {
                        layer: Layer::Relu,
                        in_len: ffn,
                        out_len: ffn,
                    },
                    down.dense().context(bias)?,
                    same(Layer::ResidualAdd),
                ]);
            }
            _ => layers.push(cell),
        }
    }
    if let Some(g) = &model.final_norm {
        layers.push(same(Layer::RmsNorm { gain: g, eps }));
    }
    if model.pool == super::model::Pool::Mean {
        layers.push(LayerInfo {
            layer: Layer::MeanPool,
            in_len: dm,
            out_len: dm,
        });
    }
    layers.push(head.dense().context(bias)?);
    match encode(&layers, model.channels) {
        Ok(bytes) => Ok(bytes),
        Err(e) => bail!("writing the {} model file: {e:#}", target.cell().name()),
    }
}
