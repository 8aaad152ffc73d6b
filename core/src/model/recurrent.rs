//! Recurrent layers of the model file (format 1.2): a [`crate::recurrent`] cell whose sizes,
//! projections and parameter vectors are listed in an i32 configuration tensor.
//!
//! ```text
//! config = [H, d_k, d_v, M, top_k, shared, window, rope_base_bits,
//!           (weights, scale, bias) per projection,            // tensor indices, −1 = none
//!           one index per f32 parameter vector]
//! ```
//!
//! The projections of each cell type, in order (`d` = `d_model` = the layer's `in_len`):
//!
//! ```text
//! LA2, GLA, gated delta   wq [H·d_k × d], wo [d × H·d_v], then the memory's projections
//! MoM                     router [M × d], wq, wo, then each memory's projections
//!                         (M routed memories, then the shared one)
//! SWA, Liger              wq [H·d_k × d], wk [H·d_k × d], wv [H·d_v × d], wo [d × H·d_v]
//! memory projections      LA2: wk, wv; GLA: wk, wv; gated delta: wk, wv, wa [H × d], wb [H × d]
//! parameter vectors [H]   LA2: decay λ ∈ (0, 1]; gated delta: A_log (e^A_log finite), dt_bias
//! ```
//!
//! A [`RecurrentLayer`] either borrows the configuration and tensors of a parsed file, or the
//! projections and vectors a writer was given ([`RecurrentLayer::new`]); both build the same
//! cell ([`RecurrentLayer::with_cell`]), so the executor runs exactly the `mote_core::recurrent`
//! code.

use super::format::{self, cell as code, dtype, rec};
use super::{Model, ParseError, cast};
use crate::kernels::{Linear, Weights};
use crate::recurrent::{
    Cell, CellError, DeltaMemory, Dims, GlaMemory, La2Memory, Liger, Math, MemoryCell, MemoryRule,
    Mom, Rope, Routing, Swa,
};

/// Numeric scheme of the projections of a layer with f32 activations (the format's scheme codes
/// [`format::scheme::F32`], [`format::scheme::INT8_DYNAMIC`], [`format::scheme::LMUL_E4M3`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearScheme {
    /// f32 weights.
    F32,
    /// int8 weights with per-row scales, activations quantized per call
    /// ([`crate::kernels::quantize_dynamic`]).
    Int8Dynamic,
    /// fp8 e4m3 weights with per-row scales, L-Mul products.
    LmulE4m3,
    /// fp8 e4m3 weights with per-row scales, L-Mul products accumulated in fixed point
    /// ([`crate::kernels::lmul_fixed`], format 1.3).
    LmulE4m3Fixed,
}

impl LinearScheme {
    /// The scheme byte of the layer record.
    pub fn code(self) -> u8 {
        match self {
            LinearScheme::F32 => format::scheme::F32,
            LinearScheme::Int8Dynamic => format::scheme::INT8_DYNAMIC,
            LinearScheme::LmulE4m3 => format::scheme::LMUL_E4M3,
            LinearScheme::LmulE4m3Fixed => format::scheme::LMUL_E4M3_FIXED,
        }
    }
    /// The scheme of a scheme byte, if it is one of the four.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            format::scheme::F32 => Some(LinearScheme::F32),
            format::scheme::INT8_DYNAMIC => Some(LinearScheme::Int8Dynamic),
            format::scheme::LMUL_E4M3 => Some(LinearScheme::LmulE4m3),
            format::scheme::LMUL_E4M3_FIXED => Some(LinearScheme::LmulE4m3Fixed),
            _ => None,
        }
    }
    /// The scheme of borrowed weights.
    pub fn of(w: &Weights<'_>) -> Self {
        match w {
            Weights::F32(_) => LinearScheme::F32,
            Weights::Int8 { .. } => LinearScheme::Int8Dynamic,
            Weights::LmulE4m3 { .. } => LinearScheme::LmulE4m3,
            Weights::LmulE4m3Fixed { .. } => LinearScheme::LmulE4m3Fixed,
        }
    }
    /// Name in listings.
    pub fn name(self) -> &'static str {
        match self {
            LinearScheme::F32 => "f32",
            LinearScheme::Int8Dynamic => "int8-dynamic",
            LinearScheme::LmulE4m3 => "lmul-e4m3",
            LinearScheme::LmulE4m3Fixed => "lmul-e4m3-fixed",
        }
    }
}

/// The memory rule of a memory cell or of every memory of a MoM cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    La2,
    Gla,
    Delta,
}

/// Rows or columns of a projection, in terms of the layer's sizes.
#[derive(Clone, Copy)]
enum Size {
    Model,
    Qk,
    Vd,
    Heads,
    Memories,
}

/// What a parameter vector holds (each has `H` elements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vector {
    Decay,
    ALog,
    DtBias,
}

impl Rule {
    fn projections(self) -> &'static [(Size, Size, &'static str)] {
        match self {
            Rule::La2 | Rule::Gla => &[
                (Size::Qk, Size::Model, "memory wk"),
                (Size::Vd, Size::Model, "memory wv"),
            ],
            Rule::Delta => &[
                (Size::Qk, Size::Model, "memory wk"),
                (Size::Vd, Size::Model, "memory wv"),
                (Size::Heads, Size::Model, "memory wa"),
                (Size::Heads, Size::Model, "memory wb"),
            ],
        }
    }
    fn vectors(self) -> &'static [Vector] {
        match self {
            Rule::La2 => &[Vector::Decay],
            Rule::Gla => &[],
            Rule::Delta => &[Vector::ALog, Vector::DtBias],
        }
    }
}

/// Which recurrent cell a [`format::kind::RECURRENT`] layer runs (`p0`, [`format::cell`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellType {
    /// Lightning Attention-2 ([`La2Memory`] in a [`MemoryCell`]).
    La2,
    /// GLA with the Liger gate ([`GlaMemory`] in a [`MemoryCell`]).
    Gla,
    /// Gated DeltaNet ([`DeltaMemory`] in a [`MemoryCell`]).
    Delta,
    /// Mixture-of-Memories over LA2 memories.
    MomLa2,
    /// Mixture-of-Memories over GLA memories.
    MomGla,
    /// Mixture-of-Memories over gated-delta memories.
    MomDelta,
    /// Sliding-window softmax attention ([`Swa`]).
    Swa,
    /// Liger Attention ([`Liger`]).
    Liger,
}

impl CellType {
    /// Every cell type.
    pub const ALL: [CellType; 8] = [
        CellType::La2,
        CellType::Gla,
        CellType::Delta,
        CellType::MomLa2,
        CellType::MomGla,
        CellType::MomDelta,
        CellType::Swa,
        CellType::Liger,
    ];
    /// `p0` of the layer record.
    pub fn code(self) -> i32 {
        match self {
            CellType::La2 => code::LA2,
            CellType::Gla => code::GLA,
            CellType::Delta => code::DELTA,
            CellType::MomLa2 => code::MOM_LA2,
            CellType::MomGla => code::MOM_GLA,
            CellType::MomDelta => code::MOM_DELTA,
            CellType::Swa => code::SWA,
            CellType::Liger => code::LIGER,
        }
    }
    /// The cell type of a `p0` value.
    pub fn from_code(c: i32) -> Option<Self> {
        CellType::ALL.into_iter().find(|t| t.code() == c)
    }
    /// Name in listings.
    pub fn name(self) -> &'static str {
        match self {
            CellType::La2 => "la2",
            CellType::Gla => "gla-liger",
            CellType::Delta => "gated-delta",
            CellType::MomLa2 => "mom-la2",
            CellType::MomGla => "mom-gla",
            CellType::MomDelta => "mom-gated-delta",
            CellType::Swa => "swa",
            CellType::Liger => "liger",
        }
    }
    /// Whether the cell is a Mixture-of-Memories (has a [`Routing`]).
    pub fn is_mom(self) -> bool {
        matches!(
            self,
            CellType::MomLa2 | CellType::MomGla | CellType::MomDelta
        )
    }
    /// Whether the cell has an attention window (SWA, Liger).
    pub fn is_attention(self) -> bool {
        matches!(self, CellType::Swa | CellType::Liger)
    }
    fn rule(self) -> Option<Rule> {
        match self {
            CellType::La2 | CellType::MomLa2 => Some(Rule::La2),
            CellType::Gla | CellType::MomGla => Some(Rule::Gla),
            CellType::Delta | CellType::MomDelta => Some(Rule::Delta),
            CellType::Swa | CellType::Liger => None,
        }
    }
}

/// The sizes and options of a recurrent layer (the configuration tensor's header).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecurrentConfig {
    /// Cell type.
    pub cell: CellType,
    /// Scheme of every projection.
    pub scheme: LinearScheme,
    /// Sizes (`d_model` is the layer's input and output length).
    pub dims: Dims,
    /// Memories and top-k of a MoM cell (`None` for the others).
    pub routing: Option<Routing>,
    /// Attention window of SWA and Liger (0 for the others).
    pub window: usize,
    /// RoPE of SWA and Liger.
    pub rope: Option<Rope>,
}

impl RecurrentConfig {
    /// Memories holding their own projections: routed plus shared (MoM), 1 (memory cells), 0.
    fn memory_count(&self) -> usize {
        match (self.routing, self.cell.rule()) {
            (Some(r), _) => r.stored(),
            (None, Some(_)) => 1,
            (None, None) => 0,
        }
    }
    /// Projections before the memories' own.
    fn lead(&self) -> &'static [(Size, Size, &'static str)] {
        if self.cell.is_attention() {
            &[
                (Size::Qk, Size::Model, "wq"),
                (Size::Qk, Size::Model, "wk"),
                (Size::Vd, Size::Model, "wv"),
                (Size::Model, Size::Vd, "wo"),
            ]
        } else if self.cell.is_mom() {
            &[
                (Size::Memories, Size::Model, "router"),
                (Size::Qk, Size::Model, "wq"),
                (Size::Model, Size::Vd, "wo"),
            ]
        } else {
            &[(Size::Qk, Size::Model, "wq"), (Size::Model, Size::Vd, "wo")]
        }
    }
    /// Number of projections.
    pub fn projections(&self) -> usize {
        let per = self.cell.rule().map_or(0, |r| r.projections().len());
        self.lead().len() + self.memory_count() * per
    }
    /// Number of `f32` parameter vectors (each `H` long).
    pub fn vectors(&self) -> usize {
        let per = self.cell.rule().map_or(0, |r| r.vectors().len());
        self.memory_count() * per
    }
    /// Elements of the configuration tensor.
    pub fn config_len(&self) -> usize {
        rec::HEADER + rec::PER_PROJECTION * self.projections() + self.vectors()
    }
    fn size(&self, s: Size) -> usize {
        match s {
            Size::Model => self.dims.d_model,
            Size::Qk => self.dims.qk(),
            Size::Vd => self.dims.vd(),
            Size::Heads => self.dims.heads,
            Size::Memories => self.routing.map_or(0, |r| r.memories),
        }
    }
    /// `(rows, cols, role)` of projection `j`.
    fn projection_shape(&self, j: usize) -> Option<(usize, usize, &'static str)> {
        let lead = self.lead();
        let (r, c, role) = match (j.checked_sub(lead.len()), self.cell.rule()) {
            (None, _) => *lead.get(j)?,
            (Some(m), Some(rule)) => {
                let p = rule.projections();
                *p.get(m % p.len())?
            }
            (Some(_), None) => return None,
        };
        Some((self.size(r), self.size(c), role))
    }
    fn vector_kind(&self, j: usize) -> Option<Vector> {
        let v = self.cell.rule()?.vectors();
        v.get(j % v.len().max(1)).copied()
    }
}

/// Where a recurrent layer's tensors come from.
#[derive(Clone, Copy, Debug)]
enum Params<'a> {
    /// A parsed file: the configuration tensor's indices after the header.
    File { model: Model<'a>, slots: &'a [i32] },
    /// Views handed to the writer.
    Parts {
        linears: &'a [Linear<'a>],
        vectors: &'a [&'a [f32]],
    },
}

/// Element counts a recurrent layer needs in a [`super::Workspace`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellSizes {
    /// Recurrent state (`f32`), kept between tokens.
    pub state: usize,
    /// `f32` scratch per token.
    pub scratch: usize,
    /// `i8` scratch per token (int8-dynamic projections quantize their input there; 0 for the
    /// other schemes).
    pub qscratch: usize,
}

/// A validated recurrent layer: its configuration and borrowed tensors.
#[derive(Clone, Copy, Debug)]
pub struct RecurrentLayer<'a> {
    config: RecurrentConfig,
    layer: u32,
    params: Params<'a>,
}

/// Reads a non-negative `i32` as a size in `1..=max`.
fn size_field(v: i32, max: usize) -> Option<usize> {
    usize::try_from(v).ok().filter(|&n| n >= 1 && n <= max)
}

impl<'a> RecurrentLayer<'a> {
    /// A layer to write: `linears` and `vectors` in the order of the module documentation.
    /// Nothing is checked here; the writer and the parser check everything.
    pub fn new(
        config: RecurrentConfig,
        linears: &'a [Linear<'a>],
        vectors: &'a [&'a [f32]],
    ) -> Self {
        RecurrentLayer {
            config,
            layer: 0,
            params: Params::Parts { linears, vectors },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RecurrentConfig {
        &self.config
    }

    /// The layer with its cell's activations computed by `math` (the layer record's flag).
    pub(super) fn with_math(mut self, math: Math) -> Self {
        self.config.dims.math = math;
        self
    }

    /// Parses and validates the configuration tensor `cfg` of layer `layer`, and with `values`
    /// every tensor it names (the executor reads a validated file and skips that: the tensors
    /// are bounds- and type-checked again when the cell is built).
    pub(super) fn parse(
        model: Model<'a>,
        layer: u32,
        scheme: LinearScheme,
        p0: i32,
        d_model: usize,
        cfg: &'a [i32],
        values: bool,
    ) -> Result<Self, ParseError> {
        let bad = |field| ParseError::BadRecurrentConfig { layer, field };
        let cell = CellType::from_code(p0).ok_or(bad("cell type"))?;
        let header = cfg.get(..rec::HEADER).ok_or(bad("config length"))?;
        let max = format::MAX_ACTIVATION;
        let heads = size_field(header[rec::HEADS], max).ok_or(bad("heads"))?;
        let d_k = size_field(header[rec::D_K], max).ok_or(bad("d_k"))?;
        let d_v = size_field(header[rec::D_V], max).ok_or(bad("d_v"))?;
        let qk = heads.checked_mul(d_k).filter(|&n| n <= max);
        let vd = heads.checked_mul(d_v).filter(|&n| n <= max);
        let (Some(qk), Some(vd)) = (qk, vd) else {
            return Err(bad("heads × head size"));
        };
        let state = qk.checked_mul(d_v).filter(|&n| n <= format::MAX_CELL_STATE);
        if state.is_none() {
            return Err(ParseError::LimitExceeded("recurrent state per memory"));
        }
        let dims = Dims {
            d_model,
            heads,
            d_k,
            d_v,
            math: Math::Libm,
        };
        let (m, k, sh) = (
            header[rec::MEMORIES],
            header[rec::TOP_K],
            header[rec::SHARED],
        );
        let routing = if cell.is_mom() {
            let memories = size_field(m, format::MAX_MEMORIES).ok_or(bad("memories"))?;
            let top_k = size_field(k, memories).ok_or(bad("top_k"))?;
            let shared = match sh {
                0 => false,
                1 => true,
                _ => return Err(bad("shared")),
            };
            Some(Routing {
                memories,
                top_k,
                shared,
            })
        } else {
            if m != 0 {
                return Err(bad("memories"));
            }
            if k != 0 {
                return Err(bad("top_k"));
            }
            if sh != 0 {
                return Err(bad("shared"));
            }
            None
        };
        let (w, rb) = (header[rec::WINDOW], header[rec::ROPE_BASE]);
        let (window, rope) = if cell.is_attention() {
            let window = size_field(w, format::MAX_WINDOW).ok_or(bad("window"))?;
            // ring of keys and values plus the RoPE table
            let ring = window
                .checked_mul(qk + vd + d_k)
                .filter(|&n| n <= format::MAX_CELL_STATE);
            if ring.is_none() {
                return Err(ParseError::LimitExceeded("attention ring"));
            }
            let rope = if rb == 0 {
                None
            } else {
                let base = f32::from_bits(rb as u32);
                if !(base.is_finite() && base > 1.0) {
                    return Err(bad("rope base"));
                }
                if !d_k.is_multiple_of(2) {
                    return Err(bad("rope needs an even d_k"));
                }
                Some(Rope { base })
            };
            (window, rope)
        } else {
            if w != 0 {
                return Err(bad("window"));
            }
            if rb != 0 {
                return Err(bad("rope base"));
            }
            (0, None)
        };
        let config = RecurrentConfig {
            cell,
            scheme,
            dims,
            routing,
            window,
            rope,
        };
        if cfg.len() != config.config_len() {
            return Err(bad("config length"));
        }
        let l = RecurrentLayer {
            config,
            layer,
            params: Params::File {
                model,
                slots: &cfg[rec::HEADER..],
            },
        };
        if values {
            l.check_values()?;
        }
        // The cells check their own shapes too (`Model::parse` builds every cell once to size
        // the header's RAM); they agree with the checks above.
        Ok(l)
    }

    fn tensor_error(&self, slot: usize, role: &'static str) -> ParseError {
        ParseError::BadRecurrentTensor {
            layer: self.layer,
            slot: slot as u32,
            role,
        }
    }

    /// Tensor `slot` (an index into the configuration tensor) as `want` elements of `dt`.
    fn file_tensor<T: cast::Pod>(
        &self,
        model: &Model<'a>,
        slots: &[i32],
        slot: usize,
        dt: u8,
        want: usize,
        role: &'static str,
    ) -> Result<&'a [T], ParseError> {
        let bad = self.tensor_error(rec::HEADER + slot, role);
        let index = slots.get(slot).copied().ok_or(bad)?;
        let index = u32::try_from(index).map_err(|_| bad)?;
        let t = model.tensor(index).map_err(|_| bad)?;
        if t.dtype != dt {
            return Err(bad);
        }
        let s = cast::slice_of::<T>(t.bytes).ok_or(bad)?;
        if s.len() == want { Ok(s) } else { Err(bad) }
    }

    /// Projection `j` (order of the module documentation).
    pub fn linear(&self, j: usize) -> Result<Linear<'a>, ParseError> {
        let cfg = &self.config;
        let (rows, cols, role) = cfg
            .projection_shape(j)
            .ok_or(self.tensor_error(rec::HEADER + 3 * j, "projection"))?;
        let lin = match self.params {
            Params::Parts { linears, .. } => *linears
                .get(j)
                .ok_or(self.tensor_error(rec::HEADER + 3 * j, role))?,
            Params::File { model, slots } => {
                let n = rows
                    .checked_mul(cols)
                    .ok_or(self.tensor_error(rec::HEADER + 3 * j, role))?;
                let at = rec::PER_PROJECTION * j;
                let weights = match cfg.scheme {
                    LinearScheme::F32 => {
                        if slots.get(at + 1) != Some(&rec::NONE) {
                            return Err(self.tensor_error(rec::HEADER + at + 1, role));
                        }
                        Weights::F32(self.file_tensor(&model, slots, at, dtype::F32, n, role)?)
                    }
                    LinearScheme::Int8Dynamic => Weights::Int8 {
                        q: self.file_tensor(&model, slots, at, dtype::I8, n, role)?,
                        scale: self.file_tensor(&model, slots, at + 1, dtype::F32, rows, role)?,
                    },
                    LinearScheme::LmulE4m3 => Weights::LmulE4m3 {
                        q: self.file_tensor(&model, slots, at, dtype::E4M3, n, role)?,
                        scale: self.file_tensor(&model, slots, at + 1, dtype::F32, rows, role)?,
                    },
                    LinearScheme::LmulE4m3Fixed => Weights::LmulE4m3Fixed {
                        q: self.file_tensor(&model, slots, at, dtype::E4M3, n, role)?,
                        scale: self.file_tensor(&model, slots, at + 1, dtype::F32, rows, role)?,
                    },
                };
                let bias = match slots.get(at + 2) {
                    Some(&rec::NONE) => None,
                    _ => Some(self.file_tensor(&model, slots, at + 2, dtype::F32, rows, role)?),
                };
                Linear {
                    rows,
                    cols,
                    weights,
                    bias,
                }
            }
        };
        let at = rec::HEADER + rec::PER_PROJECTION * j;
        if lin.rows != rows || lin.cols != cols || LinearScheme::of(&lin.weights) != cfg.scheme {
            return Err(self.tensor_error(at, role));
        }
        Ok(lin)
    }

    /// Checks every tensor the configuration names, values included: scales finite and > 0,
    /// parameter vectors finite, decays in range.
    pub fn check_values(&self) -> Result<(), ParseError> {
        let cfg = &self.config;
        for j in 0..cfg.projections() {
            let lin = self.linear(j)?;
            if let Weights::Int8 { scale, .. }
            | Weights::LmulE4m3 { scale, .. }
            | Weights::LmulE4m3Fixed { scale, .. } = lin.weights
                && scale.iter().any(|s| !(*s > 0.0 && s.is_finite()))
            {
                let role = cfg.projection_shape(j).map_or("projection", |p| p.2);
                return Err(self.tensor_error(rec::HEADER + 3 * j + 1, role));
            }
        }
        for j in 0..cfg.vectors() {
            let v = self.vector(j)?;
            let slot = rec::HEADER + rec::PER_PROJECTION * cfg.projections() + j;
            if v.iter().any(|x| !x.is_finite()) {
                return Err(self.tensor_error(slot, "parameter vector"));
            }
            // λ ∈ (0, 1] keeps the state bounded; e^A_log must be finite or α is NaN.
            let in_range = |x: &f32| match cfg.vector_kind(j) {
                Some(Vector::Decay) => *x > 0.0 && *x <= 1.0,
                Some(Vector::ALog) => libm::expf(*x).is_finite(),
                Some(Vector::DtBias) | None => true,
            };
            if !v.iter().all(in_range) {
                return Err(ParseError::BadDecay {
                    layer: self.layer,
                    slot: slot as u32,
                });
            }
        }
        Ok(())
    }

    /// Parameter vector `j` (`H` elements).
    pub fn vector(&self, j: usize) -> Result<&'a [f32], ParseError> {
        let cfg = &self.config;
        let slot = rec::PER_PROJECTION * cfg.projections() + j;
        let kind = cfg
            .vector_kind(j)
            .filter(|_| j < cfg.vectors())
            .ok_or(self.tensor_error(rec::HEADER + slot, "parameter vector"))?;
        let role = match kind {
            Vector::Decay => "decay",
            Vector::ALog => "A_log",
            Vector::DtBias => "dt_bias",
        };
        let v = match self.params {
            Params::Parts { vectors, .. } => *vectors
                .get(j)
                .ok_or(self.tensor_error(rec::HEADER + slot, role))?,
            Params::File { model, slots } => {
                self.file_tensor(&model, slots, slot, dtype::F32, cfg.dims.heads, role)?
            }
        };
        if v.len() != cfg.dims.heads {
            return Err(self.tensor_error(rec::HEADER + slot, role));
        }
        Ok(v)
    }

    /// The memory rule instances of memory `m` (projections and vectors after the lead ones).
    fn la2(&self, m: usize) -> Result<La2Memory<'a>, ParseError> {
        let p = self.config.lead().len() + 2 * m;
        Ok(La2Memory {
            wk: self.linear(p)?,
            wv: self.linear(p + 1)?,
            decay: self.vector(m)?,
        })
    }
    fn gla(&self, m: usize) -> Result<GlaMemory<'a>, ParseError> {
        let p = self.config.lead().len() + 2 * m;
        Ok(GlaMemory {
            wk: self.linear(p)?,
            wv: self.linear(p + 1)?,
        })
    }
    fn delta(&self, m: usize) -> Result<DeltaMemory<'a>, ParseError> {
        let p = self.config.lead().len() + 4 * m;
        Ok(DeltaMemory {
            wk: self.linear(p)?,
            wv: self.linear(p + 1)?,
            wa: self.linear(p + 2)?,
            wb: self.linear(p + 3)?,
            a_log: self.vector(2 * m)?,
            dt_bias: self.vector(2 * m + 1)?,
        })
    }

    fn cell_error(&self, _: CellError) -> ParseError {
        ParseError::BadRecurrentConfig {
            layer: self.layer,
            field: "the cell rejects its projections",
        }
    }

    fn memory_cell<R: MemoryRule>(&self, memory: R) -> Result<MemoryCell<'a, R>, ParseError> {
        MemoryCell::new(self.config.dims, self.linear(0)?, memory, self.linear(1)?)
            .map_err(|e| self.cell_error(e))
    }

    fn mom<R: MemoryRule + Copy, T>(
        &self,
        build: impl Fn(usize) -> Result<R, ParseError>,
        f: impl FnOnce(&dyn Cell) -> T,
    ) -> Result<T, ParseError> {
        let bad = ParseError::BadRecurrentConfig {
            layer: self.layer,
            field: "memories",
        };
        let r = self.config.routing.ok_or(bad)?;
        // The memory views live on the stack: at most MAX_MEMORIES of them.
        let mut memories = [build(0)?; format::MAX_MEMORIES];
        for (m, slot) in memories.iter_mut().enumerate().take(r.memories).skip(1) {
            *slot = build(m)?;
        }
        let shared = if r.shared {
            Some(build(r.memories)?)
        } else {
            None
        };
        let routed = memories.get(..r.memories).ok_or(bad)?;
        let cell = Mom::new(
            self.config.dims,
            self.linear(0)?,
            self.linear(1)?,
            routed,
            shared,
            r.top_k,
            self.linear(2)?,
        )
        .map_err(|e| self.cell_error(e))?;
        Ok(f(&cell))
    }

    /// The four projections of an attention cell.
    fn attention(&self) -> Result<[Linear<'a>; 4], ParseError> {
        Ok([
            self.linear(0)?,
            self.linear(1)?,
            self.linear(2)?,
            self.linear(3)?,
        ])
    }

    /// Builds the cell (borrowing the tensors) and hands it to `f`. The cell is built on the
    /// stack as its own type (not through [`PreparedCell`]), so a per-token caller
    /// ([`super::Model::step`]) does not copy an enum of the largest cell.
    pub fn with_cell<T>(&self, f: impl FnOnce(&dyn Cell) -> T) -> Result<T, ParseError> {
        let c = &self.config;
        match c.cell {
            CellType::La2 => Ok(f(&self.memory_cell(self.la2(0)?)?)),
            CellType::Gla => Ok(f(&self.memory_cell(self.gla(0)?)?)),
            CellType::Delta => Ok(f(&self.memory_cell(self.delta(0)?)?)),
            CellType::MomLa2 => self.mom(|m| self.la2(m), f),
            CellType::MomGla => self.mom(|m| self.gla(m), f),
            CellType::MomDelta => self.mom(|m| self.delta(m), f),
            CellType::Swa => {
                let [wq, wk, wv, wo] = self.attention()?;
                let cell = Swa::new(c.dims, wq, wk, wv, wo, c.window, c.rope)
                    .map_err(|e| self.cell_error(e))?;
                Ok(f(&cell))
            }
            CellType::Liger => {
                let [wq, wk, wv, wo] = self.attention()?;
                let cell = Liger::new(c.dims, wq, wk, wv, wo, c.window, c.rope)
                    .map_err(|e| self.cell_error(e))?;
                Ok(f(&cell))
            }
        }
    }

    /// The cell built once, to keep for a stream ([`super::Model::read_layers`]): every cell
    /// type except Mixture-of-Memories, whose memories are borrowed from a slice the cell does
    /// not own (`None`: it is built per token by [`RecurrentLayer::with_cell`]).
    pub fn prepare(&self) -> Result<Option<PreparedCell<'a>>, ParseError> {
        let c = &self.config;
        Ok(Some(match c.cell {
            CellType::La2 => PreparedCell::La2(self.memory_cell(self.la2(0)?)?),
            CellType::Gla => PreparedCell::Gla(self.memory_cell(self.gla(0)?)?),
            CellType::Delta => PreparedCell::Delta(self.memory_cell(self.delta(0)?)?),
            CellType::MomLa2 | CellType::MomGla | CellType::MomDelta => return Ok(None),
            CellType::Swa => {
                let [wq, wk, wv, wo] = self.attention()?;
                PreparedCell::Swa(
                    Swa::new(c.dims, wq, wk, wv, wo, c.window, c.rope)
                        .map_err(|e| self.cell_error(e))?,
                )
            }
            CellType::Liger => {
                let [wq, wk, wv, wo] = self.attention()?;
                PreparedCell::Liger(
                    Liger::new(c.dims, wq, wk, wv, wo, c.window, c.rope)
                        .map_err(|e| self.cell_error(e))?,
                )
            }
        }))
    }

    /// State and scratch the cell needs.
    pub fn sizes(&self) -> Result<CellSizes, ParseError> {
        // int8-dynamic quantizes, fixed L-Mul encodes each projection's input in the i8 scratch.
        let int8 = matches!(
            self.config.scheme,
            LinearScheme::Int8Dynamic | LinearScheme::LmulE4m3Fixed
        );
        self.with_cell(|c| CellSizes {
            state: c.state_len(),
            scratch: c.scratch_len(),
            qscratch: if int8 { c.qscratch_len() } else { 0 },
        })
    }

    /// Bytes of the configuration and every tensor it names.
    pub fn weight_bytes(&self) -> usize {
        let mut n = 4 * self.config.config_len();
        for j in 0..self.config.projections() {
            n += self.linear(j).map_or(0, |l| linear_bytes(&l));
        }
        for j in 0..self.config.vectors() {
            n += self.vector(j).map_or(0, |v| 4 * v.len());
        }
        n
    }
}

/// A recurrent layer's cell, built once from the file's tensors and kept for a stream, so a token
/// does not re-read the configuration, re-check every projection's tensor records and re-validate
/// the cell ([`RecurrentLayer::prepare`]). Runs the same `mote_core::recurrent` code, so the same
/// bits as a cell built per token.
#[derive(Clone, Copy, Debug)]
pub enum PreparedCell<'a> {
    /// Lightning Attention-2.
    La2(MemoryCell<'a, La2Memory<'a>>),
    /// GLA with the Liger gate.
    Gla(MemoryCell<'a, GlaMemory<'a>>),
    /// Gated DeltaNet.
    Delta(MemoryCell<'a, DeltaMemory<'a>>),
    /// Sliding-window attention.
    Swa(Swa<'a>),
    /// Liger Attention.
    Liger(Liger<'a>),
}

impl PreparedCell<'_> {
    /// Hands the cell to `f`.
    pub fn with<T>(&self, f: impl FnOnce(&dyn Cell) -> T) -> T {
        match self {
            PreparedCell::La2(c) => f(c),
            PreparedCell::Gla(c) => f(c),
            PreparedCell::Delta(c) => f(c),
            PreparedCell::Swa(c) => f(c),
            PreparedCell::Liger(c) => f(c),
        }
    }
}

/// Bytes of a projection's tensors.
fn linear_bytes(l: &Linear<'_>) -> usize {
    let w = match l.weights {
        Weights::F32(w) => 4 * w.len(),
        Weights::Int8 { q, scale } => q.len() + 4 * scale.len(),
        Weights::LmulE4m3 { q, scale } | Weights::LmulE4m3Fixed { q, scale } => {
            q.len() + 4 * scale.len()
        }
    };
    w + l.bias.map_or(0, |b| 4 * b.len())
}

#[cfg(test)]
mod tests;
