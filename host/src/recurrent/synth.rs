//! Random-weight stream classifiers as `.mote` files, one per recurrent
//! cell type and weight scheme (`input → cell → mean pool → head`). They exercise every layer
//! record of format 1.2 end to end: seeds for the fuzzer (`fuzz/README.md`), examples for
//! `mote inspect`, and the host tests of the streaming executor.

use anyhow::{Context, Result};
use mote_core::check::XorShift32;
use mote_core::model::{CellType, Layer, LayerInfo, RecurrentConfig, RecurrentLayer};
use mote_core::recurrent::{Dims, Rope, Routing, alibi_decays};

use super::weights::{OwnedLinear, WeightScheme};
use crate::model::quantize::encode;

/// Inputs per token of the synthetic classifiers.
pub const INPUTS: usize = 3;
/// Classes of the synthetic classifiers.
pub const CLASSES: usize = 4;

/// The configuration used for `cell`: d_model 8, 2 heads, d_k 4, d_v 2; MoM with 3 memories,
/// top-2 and a shared one; window 4 (Liger with RoPE).
pub fn synth_config(cell: CellType, scheme: WeightScheme) -> RecurrentConfig {
    RecurrentConfig {
        cell,
        scheme: scheme.linear_scheme(),
        dims: Dims {
            d_model: 8,
            heads: 2,
            d_k: 4,
            d_v: 2,
            math: mote_core::recurrent::Math::Libm,
        },
        routing: cell.is_mom().then_some(Routing {
            memories: 3,
            top_k: 2,
            shared: true,
        }),
        window: if cell.is_attention() { 4 } else { 0 },
        rope: (cell == CellType::Liger).then_some(Rope { base: 10_000.0 }),
    }
}

/// A stream classifier around one cell with random weights, as model-file bytes.
pub fn synth_model(cell: CellType, scheme: WeightScheme, seed: u32) -> Result<Vec<u8>> {
    let cfg = synth_config(cell, scheme);
    let d = cfg.dims;
    let mut rng = XorShift32(seed.max(1));
    let mut lin = |rows: usize, cols: usize, bias: bool| {
        let a = 1.0 / (cols as f32).sqrt();
        let mut r = || (rng.next_f32() * 2.0 - 1.0) * a;
        let w = (0..rows * cols).map(|_| r()).collect();
        let b = bias.then(|| (0..rows).map(|_| r()).collect());
        OwnedLinear::new(rows, cols, w, b, scheme)
    };
    let (dm, qk, vd, h) = (d.d_model, d.qk(), d.vd(), d.heads);
    let input = lin(dm, INPUTS, true);
    let head = lin(CLASSES, dm, true);
    let memory = |lin: &mut dyn FnMut(usize, usize, bool) -> OwnedLinear| match cfg.cell {
        CellType::Delta | CellType::MomDelta => vec![
            lin(qk, dm, false),
            lin(vd, dm, false),
            lin(h, dm, true),
            lin(h, dm, true),
        ],
        _ => vec![lin(qk, dm, false), lin(vd, dm, false)],
    };
    let mut projections = Vec::new();
    let mut memories = 0;
    if cell.is_attention() {
        projections.extend([
            lin(qk, dm, false),
            lin(qk, dm, false),
            lin(vd, dm, false),
            lin(dm, vd, false),
        ]);
    } else if let Some(r) = cfg.routing {
        projections.extend([
            lin(r.memories, dm, false),
            lin(qk, dm, true),
            lin(dm, vd, false),
        ]);
        memories = r.stored();
        for _ in 0..memories {
            projections.extend(memory(&mut lin));
        }
    } else {
        projections.extend([lin(qk, dm, true), lin(dm, vd, false)]);
        memories = 1;
        projections.extend(memory(&mut lin));
    }
    let mut vectors: Vec<Vec<f32>> = Vec::new();
    for m in 0..memories {
        match cfg.cell {
            CellType::La2 | CellType::MomLa2 => {
                let mut decay = vec![0.0; h];
                alibi_decays(&mut decay);
                vectors.push(decay);
            }
            CellType::Delta | CellType::MomDelta => {
                vectors.push((0..h).map(|i| 0.1 * (i + m) as f32 - 0.5).collect());
                vectors.push((0..h).map(|i| 0.2 * i as f32).collect());
            }
            _ => {}
        }
    }
    let lins: Vec<_> = projections.iter().map(OwnedLinear::view).collect();
    let vecs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
    let bias = "dense layers have a bias";
    let layers = [
        input.dense().context(bias)?,
        LayerInfo {
            layer: Layer::Recurrent(RecurrentLayer::new(cfg, &lins, &vecs)),
            in_len: dm,
            out_len: dm,
        },
        LayerInfo {
            layer: Layer::MeanPool,
            in_len: dm,
            out_len: dm,
        },
        head.dense().context(bias)?,
    ];
    encode(&layers, INPUTS).with_context(|| format!("{} {}", cell.name(), scheme.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::inspect::render as render_inspection;
    use crate::model::AlignedModel;
    use crate::model::inspect::inspect;
    use crate::recurrent::classifier::stream_series;

    #[test]
    fn every_synthetic_model_parses_inspects_and_streams() {
        for cell in CellType::ALL {
            for scheme in WeightScheme::ALL {
                let bytes = synth_model(cell, scheme, 3).unwrap();
                let file = AlignedModel::new(&bytes);
                let m = file.parse().unwrap();
                // The lowest minor holding the model: 1.3 for the fixed-point L-Mul scheme only.
                let minor = if scheme == WeightScheme::LmulE4m3Fixed {
                    mote_core::model::format::MINOR_LMUL_FIXED
                } else {
                    mote_core::model::format::MINOR_RECURRENT
                };
                assert_eq!(m.version(), (1, minor));
                let x = inspect(&m).unwrap();
                let rec = x.layers[1]
                    .recurrent
                    .as_ref()
                    .expect("layer 1 is recurrent");
                assert_eq!((rec.cell, rec.scheme), (cell.name(), scheme.name()));
                // every layer's state adds up to the header's, the mean pool's is d + 1 floats
                let state: usize = x.layers.iter().map(|l| l.state_bytes).sum();
                assert_eq!(state, 4 * m.ram().state_f32);
                assert_eq!(x.layers[2].state_bytes, 4 * 9);
                assert!(render_inspection(&x).contains(cell.name()));
                let xs: Vec<f32> = (0..30).map(|i| (i as f32 * 0.37).sin()).collect();
                let (logits, _) = stream_series(&m, &xs).unwrap();
                assert_eq!(logits.len(), CLASSES);
                assert!(logits.iter().all(|v| v.is_finite()), "{cell:?} {scheme:?}");
            }
        }
    }
}
