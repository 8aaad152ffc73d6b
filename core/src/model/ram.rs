//! RAM accounting: what a model declares in its header ([`Ram`]) and what each layer adds
//! ([`LayerRam`]). The same per-layer function sizes the header on write and checks it on parse.

use super::{Layer, LayerInfo, ParseError};

/// RAM a model needs, in elements of each buffer of a [`Workspace`](super::Workspace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ram {
    /// f32 activation arena: two ping-pong halves, then the largest per-layer f32 scratch
    /// (recurrent layers).
    pub arena_f32: usize,
    /// int8 activation arena: two ping-pong halves, then the largest per-layer int8 scratch
    /// (int8-dynamic projections).
    pub arena_i8: usize,
    /// Recurrent state (f32), kept between tokens: every recurrent cell's state and every
    /// mean pool's running sum and count.
    pub state_f32: usize,
}

/// What one layer adds to the RAM of a model besides its activations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerRam {
    /// f32 state kept between tokens.
    pub state: usize,
    /// f32 scratch during the layer.
    pub scratch_f32: usize,
    /// int8 scratch during the layer.
    pub scratch_i8: usize,
}

impl Ram {
    /// Total bytes.
    pub fn bytes(&self) -> usize {
        self.arena_f32 * 4 + self.arena_i8 + self.state_f32 * 4
    }
}

impl LayerInfo<'_> {
    /// State and scratch the layer needs (the same function sizes the header on write and
    /// checks it on parse).
    pub fn ram(&self) -> Result<LayerRam, ParseError> {
        Ok(match self.layer {
            // int8-dynamic quantizes its input there, fixed L-Mul encodes it there.
            Layer::DenseInt8Dynamic { .. } | Layer::DenseLmulE4m3Fixed { .. } => LayerRam {
                scratch_i8: self.in_len,
                ..LayerRam::default()
            },
            Layer::Recurrent(r) => {
                let s = r.sizes()?;
                LayerRam {
                    state: s.state,
                    scratch_f32: s.scratch,
                    scratch_i8: s.qscratch,
                }
            }
            // running sum, then the token count (a u32 stored as the f32's bit pattern)
            Layer::MeanPool => LayerRam {
                state: self.in_len + 1,
                ..LayerRam::default()
            },
            // the branch input, written every token before the matching add reads it
            Layer::ResidualSave => LayerRam {
                state: self.in_len,
                ..LayerRam::default()
            },
            _ => LayerRam::default(),
        })
    }
}
