//! A streaming sequence classifier: per-token input projection, one recurrent cell, a running
//! sum of the cell outputs (mean pooling in constant memory) and a linear head.

use super::{Cell, CellError, check, check_at_least, check_linear, project};
use crate::kernels::Linear;

/// `logits = head(mean_t cell(input(x_t)))`, computed one token at a time.
///
/// ```text
/// reset:  cell state ← start value;  sum ← 0
/// step:   h = W_in x + b_in;  y = cell.step(h);  sum += y      (elementwise, in token order)
/// logits: head(sum / n)                                         n = tokens seen
/// ```
#[derive(Clone, Copy, Debug)]
pub struct StreamClassifier<'a, C> {
    input: Linear<'a>,
    cell: C,
    head: Linear<'a>,
}

impl<'a, C: Cell> StreamClassifier<'a, C> {
    /// Checks that `input` maps into the cell's width and `head` reads it.
    pub fn new(input: Linear<'a>, cell: C, head: Linear<'a>) -> Result<Self, CellError> {
        let d = cell.dims().d_model;
        check_linear("classifier.input", &input, d, input.cols)?;
        check_linear("classifier.head", &head, head.rows, d)?;
        if input.cols == 0 || head.rows == 0 {
            return Err(CellError::Config("classifier needs inputs and classes"));
        }
        Ok(StreamClassifier { input, cell, head })
    }
    /// The recurrent cell.
    pub fn cell(&self) -> &C {
        &self.cell
    }
    /// Input features per token.
    pub fn inputs(&self) -> usize {
        self.input.cols
    }
    /// Classes.
    pub fn classes(&self) -> usize {
        self.head.rows
    }
    /// State: the cell's plus the running sum.
    pub fn state_len(&self) -> usize {
        self.cell.state_len() + self.cell.dims().d_model
    }
    /// `f32` scratch per step.
    pub fn scratch_len(&self) -> usize {
        self.cell.scratch_len() + self.cell.dims().d_model
    }
    /// `i8` scratch per step.
    pub fn qscratch_len(&self) -> usize {
        self.cell.qscratch_len().max(self.input.cols)
    }
    /// Start of a stream.
    pub fn reset(&self, state: &mut [f32]) -> Result<(), CellError> {
        check("classifier state", state.len(), self.state_len())?;
        let (cs, sum) = state.split_at_mut(self.cell.state_len());
        sum.fill(0.0);
        self.cell.reset(cs)
    }
    /// Consumes one sample `x`; `y` (`d_model`) receives the cell output.
    pub fn step(
        &self,
        x: &[f32],
        state: &mut [f32],
        scratch: &mut [f32],
        qs: &mut [i8],
        y: &mut [f32],
    ) -> Result<(), CellError> {
        let d = self.cell.dims().d_model;
        check("classifier state", state.len(), self.state_len())?;
        check_at_least("classifier scratch", scratch.len(), self.scratch_len())?;
        check("classifier output", y.len(), d)?;
        let (h, rest) = scratch.split_at_mut(d);
        project("classifier.input", &self.input, x, h, qs)?;
        let (cs, sum) = state.split_at_mut(self.cell.state_len());
        self.cell.step(h, cs, rest, qs, y)?;
        for (s, &v) in sum.iter_mut().zip(y.iter()) {
            *s += v;
        }
        Ok(())
    }
    /// Class scores after `tokens` steps (`tokens ≥ 1`).
    pub fn logits(
        &self,
        state: &[f32],
        tokens: u32,
        scratch: &mut [f32],
        qs: &mut [i8],
        out: &mut [f32],
    ) -> Result<(), CellError> {
        let d = self.cell.dims().d_model;
        check("classifier state", state.len(), self.state_len())?;
        check_at_least("classifier scratch", scratch.len(), d)?;
        if tokens == 0 {
            return Err(CellError::Config("logits need at least one token"));
        }
        let n = tokens as f32;
        let mean = &mut scratch[..d];
        for (m, &s) in mean.iter_mut().zip(&state[self.cell.state_len()..]) {
            *m = s / n;
        }
        project("classifier.head", &self.head, mean, out, qs)
    }
}
