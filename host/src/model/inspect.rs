//! What a model file holds: layers, shapes, schemes, flash and RAM bytes (`mote inspect`).

use anyhow::Result;
use mote_core::model::{Layer, Model, RecurrentConfig};
use serde::Serialize;

/// One row of `mote inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct LayerRow {
    /// Layer index.
    pub index: usize,
    /// Kind and scheme.
    pub layer: &'static str,
    /// Input length.
    pub in_len: usize,
    /// Output length.
    pub out_len: usize,
    /// Weight bytes in flash.
    pub weight_bytes: usize,
    /// State the layer keeps between tokens (recurrent cells, mean pools), in bytes.
    pub state_bytes: usize,
    /// The cell of a recurrent layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrent: Option<RecurrentRow>,
}

/// The configuration of a recurrent layer in `mote inspect`.
#[derive(Clone, Debug, Serialize)]
pub struct RecurrentRow {
    /// Cell type.
    pub cell: &'static str,
    /// Projection scheme.
    pub scheme: &'static str,
    /// Width.
    pub d_model: usize,
    /// Heads.
    pub heads: usize,
    /// Key size per head.
    pub d_k: usize,
    /// Value size per head.
    pub d_v: usize,
    /// MoM: routed memories, memories per token, shared memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memories: Option<(usize, usize, bool)>,
    /// Attention window (SWA, Liger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// RoPE base (SWA, Liger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rope_base: Option<f32>,
}

impl RecurrentRow {
    fn of(c: &RecurrentConfig) -> RecurrentRow {
        RecurrentRow {
            cell: c.cell.name(),
            scheme: c.scheme.name(),
            d_model: c.dims.d_model,
            heads: c.dims.heads,
            d_k: c.dims.d_k,
            d_v: c.dims.d_v,
            memories: c.routing.map(|r| (r.memories, r.top_k, r.shared)),
            window: c.cell.is_attention().then_some(c.window),
            rope_base: c.rope.map(|r| r.base),
        }
    }
    /// The configuration on one line, as `mote inspect` prints it.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{} ({}), d {}, {} heads × d_k {} / d_v {}",
            self.cell, self.scheme, self.d_model, self.heads, self.d_k, self.d_v
        );
        if let Some((m, k, shared)) = self.memories {
            s += &format!(
                ", {m} memories top-{k}{}",
                if shared { " + shared" } else { "" }
            );
        }
        if let Some(w) = self.window {
            s += &format!(", window {w}");
        }
        if let Some(b) = self.rope_base {
            s += &format!(", RoPE base {b}");
        }
        s
    }
}

/// `mote inspect` output.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    /// Format version.
    pub version: String,
    /// Layers.
    pub layers: Vec<LayerRow>,
    /// Input length.
    pub input_len: usize,
    /// Output length.
    pub output_len: usize,
    /// File size = flash bytes.
    pub flash_bytes: usize,
    /// f32 arena elements.
    pub arena_f32: usize,
    /// int8 arena elements.
    pub arena_i8: usize,
    /// Recurrent state elements.
    pub state_f32: usize,
    /// RAM bytes besides input and output.
    pub ram_bytes: usize,
}

/// Describes a parsed model.
pub fn inspect(m: &Model<'_>) -> Result<Inspection> {
    let mut layers = Vec::new();
    for i in 0..m.layer_count() {
        let info = m.layer(i).map_err(|e| anyhow::anyhow!("{e}"))?;
        let ram = info.ram().map_err(|e| anyhow::anyhow!("{e}"))?;
        layers.push(LayerRow {
            index: i,
            layer: info.layer.name(),
            in_len: info.in_len,
            out_len: info.out_len,
            weight_bytes: info.layer.weight_bytes(),
            state_bytes: 4 * ram.state,
            recurrent: match info.layer {
                Layer::Recurrent(r) => Some(RecurrentRow::of(r.config())),
                _ => None,
            },
        });
    }
    let (major, minor) = m.version();
    let ram = m.ram();
    Ok(Inspection {
        version: format!("{major}.{minor}"),
        layers,
        input_len: m.input_len(),
        output_len: m.output_len(),
        flash_bytes: m.flash_bytes(),
        arena_f32: ram.arena_f32,
        arena_i8: ram.arena_i8,
        state_f32: ram.state_f32,
        ram_bytes: ram.bytes(),
    })
}
