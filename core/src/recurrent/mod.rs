//! Constant-memory recurrent cells: one token in, one vector out, state in caller-provided fixed
//! buffers whose sizes follow from the configuration. Memory does not grow with the stream, so a
//! sensor device can run these forever (SPEC §5).
//!
//! Every cell implements [`Cell`]:
//!
//! ```text
//! state   = [0; cell.state_len()]     // or cell.reset(&mut state) for cells with constant tables
//! scratch = [0; cell.scratch_len()]   // f32 work space, contents irrelevant between calls
//! qbuf    = [0i8; cell.qscratch_len()] // int8 activations, or fixed L-Mul codes
//! for x_t in stream: cell.step(x_t, &mut state, &mut scratch, &mut qbuf, &mut y_t)?
//! ```
//!
//! Weights are borrowed [`Linear`](crate::kernels::Linear) maps (f32, int8, L-Mul e4m3 or L-Mul
//! e4m3 with fixed-point accumulation; int8 and fixed-point L-Mul use `qbuf` as scratch), one
//! per projection, plus `&[f32]` parameters (decays, gate biases). The cells:
//!
//! - [`MemoryCell`] with a [`MemoryRule`]: [`La2Memory`] (Lightning Attention-2, SPEC §5.1),
//!   [`GlaMemory`] (GLA with the Liger gate and softmax feature maps, SPEC §5.3), [`DeltaMemory`]
//!   (gated delta rule, the default MoM memory, SPEC §5.2);
//! - [`Mom`]: Mixture-of-Memories over any rule (softmax router, renormalised top-k, shared memory);
//! - [`Swa`]: sliding-window softmax attention over a ring buffer (optional RoPE);
//! - [`Liger`]: the 0.5/0.5 Liger Attention hybrid of GLA and SWA sharing q, k, v;
//! - [`StreamClassifier`]: input projection, one cell, running-mean pooling, linear head.
//!
//! All arithmetic is sequential `f32` with `libm` functions, so the host simulator and the
//! firmware produce the same bits.

use crate::kernels::Linear;
use crate::shape::ShapeError;

mod classifier;
mod math;
mod memory;
mod mom;
mod swa;

pub use classifier::StreamClassifier;
pub use math::{Math, l2_normalize, log_sigmoid, sigmoid, silu, softmax, softplus};
pub use memory::{
    DeltaMemory, GlaMemory, La2Memory, MemoryCell, MemoryRule, RuleKind, alibi_decays, apply_delta,
    apply_diagonal, gla_key_features,
};
pub use mom::{INACTIVE, Mom, Routing};
pub use swa::{Liger, Rope, Swa, rope_table, swa_attend};

/// Why a cell refused to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CellError {
    /// A buffer or tensor has the wrong number of elements.
    Length {
        /// Which buffer or tensor.
        what: &'static str,
        /// Elements required.
        expected: usize,
        /// Elements found.
        found: usize,
    },
    /// The configuration is inconsistent (e.g. `top_k > memories`).
    Config(&'static str),
}

impl core::fmt::Display for CellError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CellError::Length {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected {expected} elements, found {found}"),
            CellError::Config(why) => write!(f, "invalid cell configuration: {why}"),
        }
    }
}

impl core::error::Error for CellError {}

/// Sizes shared by every cell: model width, heads and per-head key/value sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Input and output width `d`.
    pub d_model: usize,
    /// Heads `H`.
    pub heads: usize,
    /// Key (and query) size per head `d_k`.
    pub d_k: usize,
    /// Value size per head `d_v`.
    pub d_v: usize,
    /// The `exp`/`ln` of the cell's activations, gates and softmaxes.
    pub math: Math,
}

impl Dims {
    /// `H · d_k`.
    pub fn qk(&self) -> usize {
        self.heads * self.d_k
    }
    /// `H · d_v`.
    pub fn vd(&self) -> usize {
        self.heads * self.d_v
    }
    /// One recurrent state `H · d_k · d_v`.
    pub fn state(&self) -> usize {
        self.heads * self.d_k * self.d_v
    }
    fn validate(&self) -> Result<(), CellError> {
        if self.d_model == 0 || self.heads == 0 || self.d_k == 0 || self.d_v == 0 {
            return Err(CellError::Config("all dimensions must be non-zero"));
        }
        Ok(())
    }
}

/// A per-token recurrent layer.
pub trait Cell {
    /// The cell's sizes.
    fn dims(&self) -> Dims;
    /// `f32` elements of state (constant in the stream length).
    fn state_len(&self) -> usize;
    /// `f32` elements of scratch per step.
    fn scratch_len(&self) -> usize;
    /// `i8` elements of scratch per step (int8 weights quantize their input there).
    fn qscratch_len(&self) -> usize {
        self.dims().d_model.max(self.dims().vd())
    }
    /// Puts `state` into its start-of-stream value (zeros, plus constant tables for some cells).
    fn reset(&self, state: &mut [f32]) -> Result<(), CellError> {
        check("state", state.len(), self.state_len())?;
        state.fill(0.0);
        Ok(())
    }
    /// Consumes one token `x` (`d_model`), updates `state`, writes `out` (`d_model`).
    fn step(
        &self,
        x: &[f32],
        state: &mut [f32],
        scratch: &mut [f32],
        qscratch: &mut [i8],
        out: &mut [f32],
    ) -> Result<(), CellError>;
}

/// A borrowed cell is a cell, so `StreamClassifier<&dyn Cell>` wraps a cell built elsewhere (the
/// model file's executor hands out `&dyn Cell`).
impl<C: Cell + ?Sized> Cell for &C {
    fn dims(&self) -> Dims {
        (**self).dims()
    }
    fn state_len(&self) -> usize {
        (**self).state_len()
    }
    fn scratch_len(&self) -> usize {
        (**self).scratch_len()
    }
    fn qscratch_len(&self) -> usize {
        (**self).qscratch_len()
    }
    fn reset(&self, state: &mut [f32]) -> Result<(), CellError> {
        (**self).reset(state)
    }
    fn step(
        &self,
        x: &[f32],
        state: &mut [f32],
        scratch: &mut [f32],
        qscratch: &mut [i8],
        out: &mut [f32],
    ) -> Result<(), CellError> {
        (**self).step(x, state, scratch, qscratch, out)
    }
}

pub(crate) fn check(what: &'static str, found: usize, expected: usize) -> Result<(), CellError> {
    if found == expected {
        Ok(())
    } else {
        Err(CellError::Length {
            what,
            expected,
            found,
        })
    }
}

pub(crate) fn check_at_least(
    what: &'static str,
    found: usize,
    expected: usize,
) -> Result<(), CellError> {
    if found >= expected {
        Ok(())
    } else {
        Err(CellError::Length {
            what,
            expected,
            found,
        })
    }
}

/// Checks that `lin` maps `cols → rows`.
pub(crate) fn check_linear(
    what: &'static str,
    lin: &Linear<'_>,
    rows: usize,
    cols: usize,
) -> Result<(), CellError> {
    check(what, lin.rows, rows)?;
    check(what, lin.cols, cols)
}

/// Runs a projection, naming it in the error.
pub(crate) fn project(
    what: &'static str,
    lin: &Linear<'_>,
    x: &[f32],
    y: &mut [f32],
    q: &mut [i8],
) -> Result<(), CellError> {
    lin.forward(x, y, q)
        .map_err(|ShapeError { expected, found }| CellError::Length {
            what,
            expected,
            found,
        })
}

#[cfg(test)]
mod tests;
