//! The executor: walks a parsed model's layers and calls the kernels, with ping-pong activation
//! buffers and recurrent state the caller provides (sizes from [`Model::ram`]). No allocation,
//! no panics.
//!
//! A stateless model maps one input vector to one output vector ([`Model::run`]). A model with
//! recurrent or mean-pool layers consumes a stream: [`Model::reset`] at its start, then
//! [`Model::step`] once per token, which writes the layer stack's output for that token (for a
//! stream classifier `input → cell → mean pool → head`, the class scores of the stream so far).

use super::parse::Check;
use super::{DictMode, Layer, LayerInfo, Model, ParseError, PreparedCell};
use crate::dict::{DictError, MAX_N, OrthoDict, top_k};
use crate::kernels::{self, Int8Dense, Linear, Weights};
use crate::recurrent::CellError;
use crate::shape::ShapeError;

/// Caller-provided buffers for [`Model::run`] and [`Model::step`].
#[derive(Debug)]
pub struct Workspace<'b> {
    /// f32 activations and scratch: at least [`super::Ram::arena_f32`] elements.
    pub arena_f32: &'b mut [f32],
    /// int8 activations and scratch: at least [`super::Ram::arena_i8`] elements.
    pub arena_i8: &'b mut [i8],
    /// Recurrent state: at least [`super::Ram::state_f32`] elements (empty for a stateless
    /// model). Kept between [`Model::step`] calls; [`Model::reset`] starts a stream.
    pub state: &'b mut [f32],
}

/// Why a run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecError {
    /// A workspace buffer is smaller than the model declares.
    WorkspaceTooSmall {
        /// Which buffer.
        buffer: &'static str,
        /// Elements needed.
        need: usize,
        /// Elements given.
        have: usize,
    },
    /// The input or output slice has the wrong length.
    BadIo {
        /// `"input"` or `"output"`.
        which: &'static str,
        /// Elements expected.
        expected: usize,
        /// Elements given.
        found: usize,
    },
    /// A kernel rejected its shapes (cannot happen for a parsed model).
    Shape(ShapeError),
    /// Re-reading a layer failed (cannot happen for a parsed model).
    Corrupt(ParseError),
    /// A dictionary stage refused its window (NaN or infinity in the input).
    Dict(DictError),
    /// A recurrent cell refused to run (e.g. an attention state that was not reset, or a MoM
    /// router whose probabilities are NaN).
    Cell(CellError),
    /// [`Model::run`] on a model that keeps state: use [`Model::reset`] and [`Model::step`].
    Stateful,
}

impl core::fmt::Display for ExecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ExecError::WorkspaceTooSmall { buffer, need, have } => {
                write!(f, "workspace {buffer}: need {need} elements, have {have}")
            }
            ExecError::BadIo {
                which,
                expected,
                found,
            } => {
                write!(f, "{which}: expected {expected} elements, found {found}")
            }
            ExecError::Shape(e) => write!(f, "kernel: {e}"),
            ExecError::Corrupt(e) => write!(f, "model: {e}"),
            ExecError::Dict(e) => write!(f, "dictionary stage: {e}"),
            ExecError::Cell(e) => write!(f, "recurrent cell: {e}"),
            ExecError::Stateful => write!(
                f,
                "the model keeps state between tokens: start a stream with reset, feed it with step"
            ),
        }
    }
}

impl core::error::Error for ExecError {}

impl From<DictError> for ExecError {
    fn from(e: DictError) -> Self {
        ExecError::Dict(e)
    }
}

impl From<ShapeError> for ExecError {
    fn from(e: ShapeError) -> Self {
        ExecError::Shape(e)
    }
}

/// Which half of an arena holds the current activation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Half {
    Lo,
    Hi,
}

impl Half {
    fn other(self) -> Half {
        match self {
            Half::Lo => Half::Hi,
            Half::Hi => Half::Lo,
        }
    }
}

/// Splits an arena (checked to hold `2 · half_len`) into (source, destination, scratch).
fn halves<T>(arena: &mut [T], half_len: usize, src: Half) -> (&mut [T], &mut [T], &mut [T]) {
    let (lo, hi) = arena.split_at_mut(half_len);
    let (hi, scratch) = hi.split_at_mut(half_len);
    match src {
        Half::Lo => (lo, hi, scratch),
        Half::Hi => (hi, lo, scratch),
    }
}

/// The next `n` elements of the state, advancing `at`.
fn take_state<'s>(
    state: &'s mut [f32],
    at: &mut usize,
    n: usize,
) -> Result<&'s mut [f32], ExecError> {
    let s = at
        .checked_add(n)
        .and_then(|end| state.get_mut(*at..end))
        .ok_or(ExecError::Corrupt(ParseError::RamMismatch(
            "recurrent state",
        )))?;
    *at += n;
    Ok(s)
}

/// One layer as [`Model::read_layers`] keeps it: the record read once and, for a recurrent layer,
/// its cell built once ([`PreparedCell`]; Mixture-of-Memories cells are still built per token).
#[derive(Clone, Copy, Debug)]
pub struct PreparedLayer<'a> {
    info: LayerInfo<'a>,
    cell: Option<PreparedCell<'a>>,
}

impl<'a> PreparedLayer<'a> {
    /// The layer and its sizes.
    pub fn info(&self) -> &LayerInfo<'a> {
        &self.info
    }
    /// The prepared cell of a recurrent layer.
    pub fn cell(&self) -> Option<&PreparedCell<'a>> {
        self.cell.as_ref()
    }
}

/// A model's layers read once into a caller buffer ([`Model::read_layers`]), so a stream does
/// not re-read the file's layer records, nor rebuild its recurrent cells from the file's
/// tensors, on every token as [`Model::step`] does; the outputs are the same bits.
#[derive(Clone, Copy, Debug)]
pub struct Layers<'a, 'b> {
    model: Model<'a>,
    layers: &'b [Option<PreparedLayer<'a>>],
}

impl<'a> Layers<'a, '_> {
    /// [`Model::step`] with the layers already read.
    pub fn step(
        &self,
        input: &[f32],
        ws: &mut Workspace<'_>,
        output: &mut [f32],
    ) -> Result<(), ExecError> {
        self.model.forward(input, ws, output, |i| {
            self.layers
                .get(i)
                .copied()
                .flatten()
                .map(|p| (p.info, p.cell))
                .ok_or(ExecError::Corrupt(ParseError::OutOfBounds("layer index")))
        })
    }
    /// [`Model::reset`].
    pub fn reset(&self, ws: &mut Workspace<'_>) -> Result<(), ExecError> {
        self.model.reset(ws)
    }
}

impl<'a> Model<'a> {
    /// Reads every layer once into `buf` (at least [`Model::layer_count`] entries), and builds
    /// every recurrent cell once, for [`Layers::step`].
    pub fn read_layers<'b>(
        &self,
        buf: &'b mut [Option<PreparedLayer<'a>>],
    ) -> Result<Layers<'a, 'b>, ExecError> {
        let n = self.layer_count();
        let have = buf.len();
        let slots = buf.get_mut(..n).ok_or(ExecError::WorkspaceTooSmall {
            buffer: "layers",
            need: n,
            have,
        })?;
        for (i, slot) in slots.iter_mut().enumerate() {
            let info = self.structure(i)?;
            let cell = match info.layer {
                Layer::Recurrent(r) => r.prepare().map_err(ExecError::Corrupt)?,
                _ => None,
            };
            *slot = Some(PreparedLayer { info, cell });
        }
        Ok(Layers {
            model: *self,
            layers: slots,
        })
    }

    /// Runs a stateless model on one input vector and writes the output vector
    /// ([`ExecError::Stateful`] for a model with recurrent or mean-pool layers).
    pub fn run(
        &self,
        input: &[f32],
        ws: &mut Workspace<'_>,
        output: &mut [f32],
    ) -> Result<(), ExecError> {
        if self.is_stateful() {
            return Err(ExecError::Stateful);
        }
        self.forward(input, ws, output, |i| Ok((self.structure(i)?, None)))
    }

    fn structure(&self, i: usize) -> Result<LayerInfo<'a>, ExecError> {
        self.read_layer(i, Check::Structure)
            .map_err(ExecError::Corrupt)
    }

    /// Feeds one token (`input_len` values) to the stream and writes the layer stack's output for
    /// it; the recurrent state in `ws.state` advances. For a stateless model this is
    /// [`Model::run`].
    pub fn step(
        &self,
        input: &[f32],
        ws: &mut Workspace<'_>,
        output: &mut [f32],
    ) -> Result<(), ExecError> {
        self.forward(input, ws, output, |i| Ok((self.structure(i)?, None)))
    }

    /// Starts a stream: puts every recurrent cell's state into its start value (zeros plus
    /// constant tables) and clears every mean pool.
    pub fn reset(&self, ws: &mut Workspace<'_>) -> Result<(), ExecError> {
        self.check_workspace(ws)?;
        let mut at = 0;
        for i in 0..self.layer_count() {
            let info = self.structure(i)?;
            let n = info.ram().map_err(ExecError::Corrupt)?.state;
            let s = take_state(ws.state, &mut at, n)?;
            match info.layer {
                Layer::Recurrent(r) => r
                    .with_cell(|c| c.reset(s))
                    .map_err(ExecError::Corrupt)?
                    .map_err(ExecError::Cell)?,
                _ => s.fill(0.0),
            }
        }
        Ok(())
    }

    fn check_workspace(&self, ws: &Workspace<'_>) -> Result<(), ExecError> {
        let ram = self.ram();
        for (buffer, need, have) in [
            ("arena_f32", ram.arena_f32, ws.arena_f32.len()),
            ("arena_i8", ram.arena_i8, ws.arena_i8.len()),
            ("state", ram.state_f32, ws.state.len()),
        ] {
            if have < need {
                return Err(ExecError::WorkspaceTooSmall { buffer, need, have });
            }
        }
        Ok(())
    }

    /// The layer loop; `layer(i)` hands out layer `i` of this model and, if it was built before,
    /// its recurrent cell (otherwise the cell is built from the file's tensors here).
    fn forward(
        &self,
        input: &[f32],
        ws: &mut Workspace<'_>,
        output: &mut [f32],
        layer: impl Fn(usize) -> Result<(LayerInfo<'a>, Option<PreparedCell<'a>>), ExecError>,
    ) -> Result<(), ExecError> {
        if input.len() != self.input_len() {
            return Err(ExecError::BadIo {
                which: "input",
                expected: self.input_len(),
                found: input.len(),
            });
        }
        if output.len() != self.output_len() {
            return Err(ExecError::BadIo {
                which: "output",
                expected: self.output_len(),
                found: output.len(),
            });
        }
        self.check_workspace(ws)?;
        let (hf, hq) = (self.half_f32, self.half_i8);
        ws.arena_f32[..input.len()].copy_from_slice(input);
        let (mut f_at, mut q_at) = (Half::Lo, Half::Lo);
        let mut state_at = 0;
        // where the open residual branch's input is kept in the state
        let mut branch_at: Option<usize> = None;
        for i in 0..self.layer_count() {
            let (info, prepared) = layer(i)?;
            let (n_in, n_out) = (info.in_len, info.out_len);
            match info.layer {
                Layer::DenseF32 { w, b } => {
                    let (src, dst, _) = halves(ws.arena_f32, hf, f_at);
                    kernels::dense_f32(w, b, &src[..n_in], &mut dst[..n_out])?;
                    f_at = f_at.other();
                }
                Layer::DenseLmulE4m3 { w, scale, b } => {
                    let (src, dst, _) = halves(ws.arena_f32, hf, f_at);
                    kernels::dense_lmul_e4m3(w, scale, b, &src[..n_in], &mut dst[..n_out])?;
                    f_at = f_at.other();
                }
                Layer::DenseLmulE4m3Fixed { w, scale, b } => {
                    let (src, dst, _) = halves(ws.arena_f32, hf, f_at);
                    let (_, _, codes) = halves(ws.arena_i8, hq, q_at);
                    kernels::dense_lmul_e4m3_fixed(
                        w,
                        scale,
                        Some(b),
                        &src[..n_in],
                        &mut dst[..n_out],
                        codes,
                    )?;
                    f_at = f_at.other();
                }
                Layer::DenseInt8 {
                    w,
                    b,
                    m,
                    input_zero_point,
                    output_zero_point,
                    relu,
                } => {
                    let layer = Int8Dense {
                        weights: w,
                        bias: b,
                        multipliers: m,
                        input_zero_point,
                        output_zero_point,
                        relu,
                    };
                    let (src, dst, _) = halves(ws.arena_i8, hq, q_at);
                    layer.run(&src[..n_in], &mut dst[..n_out])?;
                    q_at = q_at.other();
                }
                Layer::DenseInt8Dynamic { w, scale, b } => {
                    let lin = Linear {
                        rows: n_out,
                        cols: n_in,
                        weights: Weights::Int8 { q: w, scale },
                        bias: Some(b),
                    };
                    let (src, dst, _) = halves(ws.arena_f32, hf, f_at);
                    let (_, _, qs) = halves(ws.arena_i8, hq, q_at);
                    lin.forward(&src[..n_in], &mut dst[..n_out], qs)?;
                    f_at = f_at.other();
                }
                Layer::Recurrent(r) => {
                    let (src, dst, scratch) = halves(ws.arena_f32, hf, f_at);
                    let (_, _, qs) = halves(ws.arena_i8, hq, q_at);
                    let st = &mut *ws.state;
                    let run = |c: &dyn crate::recurrent::Cell| {
                        let state = take_state(st, &mut state_at, c.state_len())?;
                        c.step(&src[..n_in], state, scratch, qs, &mut dst[..n_out])
                            .map_err(ExecError::Cell)
                    };
                    match prepared {
                        Some(cell) => cell.with(run)?,
                        None => r.with_cell(run).map_err(ExecError::Corrupt)??,
                    }
                    f_at = f_at.other();
                }
                Layer::MeanPool => {
                    let state = take_state(ws.state, &mut state_at, n_in + 1)?;
                    let (sum, count) = state.split_at_mut(n_in);
                    // The token count is a u32 kept as the bit pattern of an f32 slot (loads and
                    // stores preserve bits), so the mean is exact for 2³² − 1 tokens and divides
                    // by the same `tokens as f32` as `StreamClassifier::logits`.
                    let tokens = count.first().map_or(0, |c| c.to_bits()).saturating_add(1);
                    if let Some(c) = count.first_mut() {
                        *c = f32::from_bits(tokens);
                    }
                    let n = tokens as f32;
                    let (cur, _, _) = halves(ws.arena_f32, hf, f_at);
                    for (x, s) in cur[..n_in].iter_mut().zip(sum.iter_mut()) {
                        *s += *x;
                        *x = *s / n;
                    }
                }
                Layer::ResidualSave => {
                    let saved = take_state(ws.state, &mut state_at, n_in)?;
                    let (cur, _, _) = halves(ws.arena_f32, hf, f_at);
                    saved.copy_from_slice(&cur[..n_in]);
                    branch_at = Some(state_at - n_in);
                }
                Layer::ResidualAdd => {
                    // the parser pairs every add with the save before it, of the same length
                    let from = branch_at
                        .take()
                        .ok_or(ExecError::Corrupt(ParseError::BadGraph("residual add")))?;
                    let saved = ws.state.get(from..from + n_in).ok_or(ExecError::Corrupt(
                        ParseError::RamMismatch("residual branch"),
                    ))?;
                    let (cur, _, _) = halves(ws.arena_f32, hf, f_at);
                    for (x, &s) in cur[..n_in].iter_mut().zip(saved) {
                        *x += s;
                    }
                }
                Layer::RmsNorm { gain, eps } => {
                    let (cur, _, _) = halves(ws.arena_f32, hf, f_at);
                    rms_norm(gain, eps, &mut cur[..n_in]);
                }
                Layer::Relu => {
                    let (cur, _, _) = halves(ws.arena_f32, hf, f_at);
                    for v in &mut cur[..n_in] {
                        // max(v, 0) keeps -0.0 → 0.0 and is the same on every target.
                        if v.is_nan() || *v <= 0.0 {
                            *v = 0.0;
                        }
                    }
                }
                Layer::MinMaxScale {
                    min,
                    max,
                    channel_len,
                } => {
                    let (cur, _, _) = halves(ws.arena_f32, hf, f_at);
                    min_max_scale(min, max, channel_len, &mut cur[..n_in]);
                }
                Layer::OrthoDict { atoms, mode, k } => {
                    let (src, dst, _) = halves(ws.arena_f32, hf, f_at);
                    ortho_dict_stage(atoms, mode, k, &src[..n_in], &mut dst[..n_out])?;
                    f_at = f_at.other();
                }
                // Crossing domains: no activation of the target domain is live, so either half
                // will do; the current one is used and the position stays.
                Layer::Quantize { scale, zero_point } => {
                    let (src, _, _) = halves(ws.arena_f32, hf, f_at);
                    let (dst, _, _) = halves(ws.arena_i8, hq, q_at);
                    for (q, &x) in dst[..n_out].iter_mut().zip(&src[..n_in]) {
                        *q = kernels::quantize(x, scale, zero_point);
                    }
                }
                Layer::Dequantize { scale, zero_point } => {
                    let (src, _, _) = halves(ws.arena_i8, hq, q_at);
                    let (dst, _, _) = halves(ws.arena_f32, hf, f_at);
                    for (x, &q) in dst[..n_out].iter_mut().zip(&src[..n_in]) {
                        *x = (q as i32 - zero_point) as f32 * scale;
                    }
                }
            }
        }
        let (cur, _, _) = halves(ws.arena_f32, hf, f_at);
        output.copy_from_slice(&cur[..output.len()]);
        Ok(())
    }
}

/// RMS normalisation in place: `x_i ← x_i · (1 / sqrt(Σ x² / n + eps)) · gain_i`, summed in
/// order and square-rooted by `libm`, so the host and every target compute the same bits.
fn rms_norm(gain: &[f32], eps: f32, x: &mut [f32]) {
    let mut ss = 0.0f32;
    for &v in x.iter() {
        ss += v * v;
    }
    let inv = 1.0 / libm::sqrtf(ss / x.len().max(1) as f32 + eps);
    for (v, &g) in x.iter_mut().zip(gain) {
        *v = *v * inv * g;
    }
}

/// Per-channel min–max scaling in place (`x`: channel-major runs of `channel_len` values).
fn min_max_scale(min: &[f32], max: &[f32], channel_len: usize, x: &mut [f32]) {
    for ((run, &a), &b) in x.chunks_mut(channel_len.max(1)).zip(min).zip(max) {
        for v in run {
            // The expression of the host's data loaders (`Scaling::into_dataset`), so the
            // device sees the values the model was trained on, bit for bit.
            *v = if b > a {
                ((*v - a) / (b - a)).clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
    }
}

/// One orthogonal-dictionary stage (`x`: n samples; `out`: n values, or 1 for the anomaly score).
/// The code and reconstruction scratch live on the stack (n ≤ 64).
fn ortho_dict_stage(
    atoms: &[f32],
    mode: DictMode,
    k: usize,
    x: &[f32],
    out: &mut [f32],
) -> Result<(), ExecError> {
    let n = x.len();
    let d = OrthoDict::new(n, atoms)?;
    if x.iter().any(|v| !v.is_finite()) {
        return Err(DictError::NotFinite.into());
    }
    match mode {
        DictMode::Encode => d.encode(x, out)?,
        DictMode::TopK => {
            d.encode(x, out)?;
            top_k(out, k);
        }
        DictMode::Denoise => {
            let mut code = [0.0f32; MAX_N];
            d.sparse_approx(x, k, &mut code[..n], out)?;
        }
        DictMode::Anomaly => {
            let mut scratch = [0.0f32; 2 * MAX_N];
            let score = d.anomaly_score(x, k, &mut scratch[..2 * n])?;
            if let Some(o) = out.first_mut() {
                *o = score;
            }
        }
    }
    Ok(())
}
