//! The `.mote` model file: a zero-copy reader written like a parser of hostile input.
//!
//! [`Model::parse`] checks everything once — magic, version, size, CRC-32, alignment, every table
//! offset and count, every tensor's bounds, dtype and shape against the layer that uses it, the
//! activation chain from input to output, and the RAM the file declares — and never panics or
//! reads out of bounds. Afterwards [`Model::layer`] hands out typed views that borrow the file's
//! bytes in place (from flash on the device), and [`Model::run`] executes with caller-provided
//! buffers whose sizes the parsed model states up front ([`Model::ram`]).
//!
//! Format: `docs/model-format.md`. Compatibility rule: a reader of major version M reads every
//! file of major M whose minor version is at most its own.

mod cast;
mod crc;
mod exec;
pub mod format;
mod recurrent;
mod write;

pub use crc::crc32;
pub use exec::{ExecError, Layers, Workspace, quantize};
pub use recurrent::{CellSizes, CellType, LinearScheme, RecurrentConfig, RecurrentLayer};
pub use write::{WriteError, encoded_len, write};

use crate::kernels::QuantMultiplier;
use format::{dict_mode, dtype, flags, kind, scheme};

/// Why a model file was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer bytes than a header, or fewer than the header's `file_bytes`.
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// More bytes than the header's `file_bytes`.
    TrailingBytes {
        /// Bytes the header declares.
        declared: usize,
        /// Bytes present.
        have: usize,
    },
    /// CRC-32 of the header's first 60 bytes does not match the header.
    HeaderCrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The first 8 bytes are not the mote magic.
    BadMagic,
    /// A major version this reader does not know, or a newer minor.
    UnsupportedVersion {
        /// Major version in the file.
        major: u16,
        /// Minor version in the file.
        minor: u16,
    },
    /// The header size field is not 64.
    BadHeaderSize(u32),
    /// CRC-32 of the body does not match the header.
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The file's first byte is not 16-byte aligned in memory (tensors are read in place).
    MisalignedBuffer,
    /// A reserved header field or record byte is not zero.
    ReservedNotZero(&'static str),
    /// A count exceeds the reader's limits.
    LimitExceeded(&'static str),
    /// A table or tensor lies (partly) outside the file, overlaps the header, or is misaligned.
    OutOfBounds(&'static str),
    /// A tensor record has an unknown dtype.
    UnknownDtype {
        /// Tensor index.
        tensor: u32,
        /// The dtype byte.
        dtype: u8,
    },
    /// A layer record has an unknown kind or scheme.
    UnknownLayer {
        /// Layer index.
        layer: u32,
        /// The kind field.
        kind: u16,
        /// The scheme field.
        scheme: u8,
    },
    /// A layer refers to a tensor that does not exist or has the wrong dtype or element count.
    BadTensor {
        /// Layer index.
        layer: u32,
        /// Which of the layer's tensors.
        role: &'static str,
    },
    /// A layer's input does not match the previous layer's output (length or f32/int8 domain).
    ChainMismatch {
        /// Layer index.
        layer: u32,
    },
    /// A layer parameter is out of range (zero point, scale, multiplier, flags).
    BadParameter {
        /// Layer index.
        layer: u32,
        /// Which parameter.
        what: &'static str,
    },
    /// An f32 or e4m3 weight is NaN or infinite.
    NonFinite {
        /// Tensor index.
        tensor: u32,
    },
    /// The model has no layers, or its output is not f32.
    BadGraph(&'static str),
    /// The RAM the header declares differs from what the layers need.
    RamMismatch(&'static str),
    /// A recurrent layer's configuration is invalid: unknown cell type, a size out of range or
    /// inconsistent with the layer's length, options that do not apply to the cell type, or a
    /// configuration tensor of the wrong length (format 1.2).
    BadRecurrentConfig {
        /// Layer index.
        layer: u32,
        /// Which field.
        field: &'static str,
    },
    /// A tensor named by a recurrent layer's configuration does not exist, has the wrong dtype
    /// or element count, a non-positive scale, or is missing (format 1.2).
    BadRecurrentTensor {
        /// Layer index.
        layer: u32,
        /// Position in the configuration tensor.
        slot: u32,
        /// Which projection or parameter.
        role: &'static str,
    },
    /// A recurrent decay parameter is out of range: an LA2 decay outside `(0, 1]`, or a gated
    /// delta `A_log` whose exponential overflows (format 1.2).
    BadDecay {
        /// Layer index.
        layer: u32,
        /// Position in the configuration tensor.
        slot: u32,
    },
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use ParseError::*;
        match *self {
            Truncated { need, have } => write!(f, "truncated: need {need} bytes, have {have}"),
            TrailingBytes { declared, have } => {
                write!(f, "{have} bytes but the header declares {declared}")
            }
            BadMagic => write!(f, "not a mote model file (bad magic)"),
            UnsupportedVersion { major, minor } => write!(
                f,
                "unsupported format version {major}.{minor} (this reader: {}.{})",
                format::VERSION_MAJOR,
                format::VERSION_MINOR
            ),
            BadHeaderSize(n) => write!(f, "header size {n}, expected {}", format::HEADER_BYTES),
            HeaderCrcMismatch { stored, computed } => {
                write!(
                    f,
                    "header CRC-32 mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            CrcMismatch { stored, computed } => {
                write!(
                    f,
                    "CRC-32 mismatch: header {stored:#010x}, body {computed:#010x}"
                )
            }
            MisalignedBuffer => write!(f, "model bytes must start at a 16-byte aligned address"),
            ReservedNotZero(w) => write!(f, "reserved field not zero: {w}"),
            LimitExceeded(w) => write!(f, "limit exceeded: {w}"),
            OutOfBounds(w) => write!(f, "out of bounds or misaligned: {w}"),
            UnknownDtype { tensor, dtype } => write!(f, "tensor {tensor}: unknown dtype {dtype}"),
            UnknownLayer {
                layer,
                kind,
                scheme,
            } => {
                write!(f, "layer {layer}: unknown kind {kind} / scheme {scheme}")
            }
            BadTensor { layer, role } => write!(f, "layer {layer}: bad {role} tensor"),
            ChainMismatch { layer } => {
                write!(
                    f,
                    "layer {layer}: input does not match the previous layer's output"
                )
            }
            BadParameter { layer, what } => write!(f, "layer {layer}: bad parameter {what}"),
            NonFinite { tensor } => write!(f, "tensor {tensor}: NaN or infinite value"),
            BadGraph(w) => write!(f, "bad graph: {w}"),
            RamMismatch(w) => write!(f, "declared RAM does not match the layers: {w}"),
            BadRecurrentConfig { layer, field } => {
                write!(f, "layer {layer}: bad recurrent configuration: {field}")
            }
            BadRecurrentTensor { layer, slot, role } => write!(
                f,
                "layer {layer}: recurrent {role} tensor (config slot {slot}) is missing or malformed"
            ),
            BadDecay { layer, slot } => write!(
                f,
                "layer {layer}: recurrent decay (config slot {slot}) out of range"
            ),
        }
    }
}

impl core::error::Error for ParseError {}

/// Little-endian field readers over a slice already known to be long enough; `None` otherwise.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// RAM a model needs, in elements of each buffer of a [`Workspace`].
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

/// The activation domain between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// f32 activations.
    F32,
    /// int8 activations.
    I8,
}

/// A validated layer, borrowing its tensors from the model bytes.
#[derive(Clone, Copy, Debug)]
pub enum Layer<'a> {
    /// f32 Dense.
    DenseF32 {
        /// Weights `[out, in]`.
        w: &'a [f32],
        /// Bias `[out]`.
        b: &'a [f32],
    },
    /// L-Mul Dense with fp8 e4m3 weights.
    DenseLmulE4m3 {
        /// e4m3 patterns `[out, in]`.
        w: &'a [u8],
        /// Per-output scale.
        scale: &'a [f32],
        /// Bias `[out]`.
        b: &'a [f32],
    },
    /// int8 Dense.
    DenseInt8 {
        /// Weights `[out, in]`.
        w: &'a [i8],
        /// Bias `[out]` in accumulator scale.
        b: &'a [i32],
        /// Requantization multipliers `[out]`.
        m: &'a [QuantMultiplier],
        /// Input zero point.
        input_zero_point: i32,
        /// Output zero point.
        output_zero_point: i32,
        /// Fused ReLU.
        relu: bool,
    },
    /// f32 ReLU.
    Relu,
    /// f32 → int8.
    Quantize {
        /// Scale.
        scale: f32,
        /// Zero point.
        zero_point: i32,
    },
    /// int8 → f32.
    Dequantize {
        /// Scale.
        scale: f32,
        /// Zero point.
        zero_point: i32,
    },
    /// Dense with int8 weights against f32 activations quantized per call (format 1.2): the
    /// projections of [`crate::kernels::Linear`] with [`crate::kernels::Weights::Int8`].
    DenseInt8Dynamic {
        /// int8 weights `[out, in]`.
        w: &'a [i8],
        /// Per-output weight scale.
        scale: &'a [f32],
        /// Bias `[out]`.
        b: &'a [f32],
    },
    /// A constant-memory recurrent cell, f32 `d_model` → `d_model` per token (format 1.2).
    Recurrent(RecurrentLayer<'a>),
    /// Running mean of the inputs since the stream started (format 1.2): `y = Σ_t x_t / n`.
    MeanPool,
    /// Orthogonal dictionary feature stage on an f32 window of `n = in_len ≤ 64` samples
    /// (format 1.1).
    OrthoDict {
        /// Atoms `[n, n]` row-major (rows are atoms; orthogonal to 1e-3 at parse time).
        atoms: &'a [f32],
        /// What the stage outputs.
        mode: DictMode,
        /// Coefficients kept (0 for [`DictMode::Encode`], else `1..=n`).
        k: usize,
    },
}

/// Output of an [`Layer::OrthoDict`] stage (`format::dict_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DictMode {
    /// The code `A x`.
    Encode,
    /// The top-k code.
    TopK,
    /// The top-k reconstruction.
    Denoise,
    /// The top-k reconstruction's RMS error (one value).
    Anomaly,
}

/// Largest orthogonality defect `max |A Aᵀ − I|` the parser accepts for dictionary atoms: f32
/// polar factors of learned dictionaries are orthogonal to ~1e-5; 1e-3 still keeps the code's
/// energy within 0.2 % of the window's.
pub const DICT_ORTHOGONALITY_TOL: f32 = 1e-3;

impl Layer<'_> {
    /// Domain of the layer's input and output.
    pub fn domains(&self) -> (Domain, Domain) {
        match self {
            Layer::DenseF32 { .. }
            | Layer::DenseLmulE4m3 { .. }
            | Layer::DenseInt8Dynamic { .. }
            | Layer::Recurrent(_)
            | Layer::MeanPool
            | Layer::Relu
            | Layer::OrthoDict { .. } => (Domain::F32, Domain::F32),
            Layer::DenseInt8 { .. } => (Domain::I8, Domain::I8),
            Layer::Quantize { .. } => (Domain::F32, Domain::I8),
            Layer::Dequantize { .. } => (Domain::I8, Domain::F32),
        }
    }
    /// A short name for listings.
    pub fn name(&self) -> &'static str {
        match self {
            Layer::DenseF32 { .. } => "dense f32",
            Layer::DenseLmulE4m3 { .. } => "dense lmul-e4m3",
            Layer::DenseInt8 { .. } => "dense int8",
            Layer::DenseInt8Dynamic { .. } => "dense int8-dynamic",
            Layer::Recurrent(r) => match r.config().scheme {
                LinearScheme::F32 => "recurrent f32",
                LinearScheme::Int8Dynamic => "recurrent int8-dyn",
                LinearScheme::LmulE4m3 => "recurrent lmul-e4m3",
            },
            Layer::MeanPool => "mean-pool",
            Layer::Relu => "relu",
            Layer::Quantize { .. } => "quantize",
            Layer::Dequantize { .. } => "dequantize",
            Layer::OrthoDict { .. } => "ortho-dict",
        }
    }
    /// Bytes of weight data the layer reads from flash.
    pub fn weight_bytes(&self) -> usize {
        match self {
            Layer::DenseF32 { w, b } => 4 * (w.len() + b.len()),
            Layer::DenseLmulE4m3 { w, scale, b } => w.len() + 4 * (scale.len() + b.len()),
            Layer::DenseInt8 { w, b, m, .. } => w.len() + 4 * b.len() + 8 * m.len(),
            Layer::DenseInt8Dynamic { w, scale, b } => w.len() + 4 * (scale.len() + b.len()),
            Layer::Recurrent(r) => r.weight_bytes(),
            Layer::OrthoDict { atoms, .. } => 4 * atoms.len(),
            Layer::Relu | Layer::Quantize { .. } | Layer::Dequantize { .. } | Layer::MeanPool => 0,
        }
    }
    /// Whether the layer keeps state between tokens.
    pub fn is_stateful(&self) -> bool {
        matches!(self, Layer::Recurrent(_) | Layer::MeanPool)
    }
}

impl LayerInfo<'_> {
    /// State and scratch the layer needs (the same function sizes the header on write and
    /// checks it on parse).
    pub fn ram(&self) -> Result<LayerRam, ParseError> {
        Ok(match self.layer {
            Layer::DenseInt8Dynamic { .. } => LayerRam {
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
            _ => LayerRam::default(),
        })
    }
}

/// A layer with its sizes.
#[derive(Clone, Copy, Debug)]
pub struct LayerInfo<'a> {
    /// The layer.
    pub layer: Layer<'a>,
    /// Input length.
    pub in_len: usize,
    /// Output length.
    pub out_len: usize,
}

/// How much [`Model::read_layer`] re-checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Bounds, dtypes and counts only (the file was validated by `Model::parse`).
    Structure,
    /// Everything, values included.
    Values,
}

/// A parsed, validated model file borrowing its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    bytes: &'a [u8],
    layer_count: usize,
    tensor_count: usize,
    layer_table: usize,
    tensor_table: usize,
    input_len: usize,
    output_len: usize,
    ram: Ram,
    minor: u16,
    /// f32 elements of one ping-pong half (the largest f32 activation).
    half_f32: usize,
    /// int8 elements of one ping-pong half.
    half_i8: usize,
    stateful: bool,
}

/// Raw tensor record after bounds checks.
struct TensorRef<'a> {
    dtype: u8,
    bytes: &'a [u8],
}

impl<'a> Model<'a> {
    /// Parses and validates a model file. `bytes` must start at a 16-byte aligned address (on
    /// the device: `#[repr(align(16))]` around `include_bytes!`; on the host an aligned buffer).
    pub fn parse(bytes: &'a [u8]) -> Result<Model<'a>, ParseError> {
        use format::header as h;
        if bytes.len() < format::HEADER_BYTES {
            return Err(ParseError::Truncated {
                need: format::HEADER_BYTES,
                have: bytes.len(),
            });
        }
        if bytes[..8] != format::MAGIC {
            return Err(ParseError::BadMagic);
        }
        let rd = |at| {
            u32_at(bytes, at).ok_or(ParseError::Truncated {
                need: at + 4,
                have: bytes.len(),
            })
        };
        let major = u16_at(bytes, h::VERSION_MAJOR).unwrap_or(0);
        let minor = u16_at(bytes, h::VERSION_MINOR).unwrap_or(0);
        if major != format::VERSION_MAJOR || minor > format::VERSION_MINOR {
            return Err(ParseError::UnsupportedVersion { major, minor });
        }
        let stored = rd(h::HEADER_CRC32)?;
        let computed = crc32(&bytes[..h::HEADER_CRC32]);
        if stored != computed {
            return Err(ParseError::HeaderCrcMismatch { stored, computed });
        }
        let header_bytes = rd(h::HEADER_BYTES)?;
        if header_bytes as usize != format::HEADER_BYTES {
            return Err(ParseError::BadHeaderSize(header_bytes));
        }
        let file_bytes = rd(h::FILE_BYTES)? as usize;
        if file_bytes > bytes.len() {
            return Err(ParseError::Truncated {
                need: file_bytes,
                have: bytes.len(),
            });
        }
        if file_bytes < bytes.len() {
            return Err(ParseError::TrailingBytes {
                declared: file_bytes,
                have: bytes.len(),
            });
        }
        let stored = rd(h::CRC32)?;
        let computed = crc32(&bytes[format::HEADER_BYTES..]);
        if stored != computed {
            return Err(ParseError::CrcMismatch { stored, computed });
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(format::TENSOR_ALIGN) {
            return Err(ParseError::MisalignedBuffer);
        }
        let layer_count = rd(h::LAYER_COUNT)? as usize;
        let tensor_count = rd(h::TENSOR_COUNT)? as usize;
        if layer_count == 0 {
            return Err(ParseError::BadGraph("no layers"));
        }
        if layer_count > format::MAX_LAYERS {
            return Err(ParseError::LimitExceeded("layer count"));
        }
        if tensor_count > format::MAX_TENSORS {
            return Err(ParseError::LimitExceeded("tensor count"));
        }
        let layer_table = rd(h::LAYER_TABLE)? as usize;
        let tensor_table = rd(h::TENSOR_TABLE)? as usize;
        check_table(
            layer_table,
            layer_count * format::LAYER_RECORD_BYTES,
            file_bytes,
            "layer table",
        )?;
        check_table(
            tensor_table,
            tensor_count * format::TENSOR_RECORD_BYTES,
            file_bytes,
            "tensor table",
        )?;
        let ram = Ram {
            arena_f32: rd(h::ARENA_F32)? as usize,
            arena_i8: rd(h::ARENA_I8)? as usize,
            state_f32: rd(h::STATE_F32)? as usize,
        };
        let mut model = Model {
            bytes,
            layer_count,
            tensor_count,
            layer_table,
            tensor_table,
            input_len: rd(h::INPUT_LEN)? as usize,
            output_len: rd(h::OUTPUT_LEN)? as usize,
            ram,
            minor,
            half_f32: 0,
            half_i8: 0,
            stateful: false,
        };
        model.validate()?;
        Ok(model)
    }

    /// Checks every tensor and layer, the activation chain and the declared RAM.
    fn validate(&mut self) -> Result<(), ParseError> {
        for t in 0..self.tensor_count {
            let tr = self.tensor(t as u32)?;
            let finite = match tr.dtype {
                dtype::F32 => {
                    cast::slice_of::<f32>(tr.bytes).is_some_and(|s| s.iter().all(|v| v.is_finite()))
                }
                dtype::E4M3 => tr.bytes.iter().all(|&b| b & 0x7F != 0x7F),
                _ => true,
            };
            if !finite {
                return Err(ParseError::NonFinite { tensor: t as u32 });
            }
        }
        let mut domain = Domain::F32;
        let mut len = self.input_len;
        if len == 0 || len > format::MAX_ACTIVATION {
            return Err(ParseError::LimitExceeded("input length"));
        }
        let (mut max_f32, mut max_i8) = (len, 0usize);
        let mut need = LayerRam::default();
        for i in 0..self.layer_count {
            let info = self.layer(i)?;
            let (din, dout) = info.layer.domains();
            if din != domain || info.in_len != len {
                return Err(ParseError::ChainMismatch { layer: i as u32 });
            }
            // Checked once here (O(n³)), not on every `layer()` call of the executor.
            if let Layer::OrthoDict { atoms, .. } = info.layer {
                let d = crate::dict::OrthoDict::new(info.in_len, atoms).map_err(|_| {
                    ParseError::BadParameter {
                        layer: i as u32,
                        what: "dictionary atoms",
                    }
                })?;
                if d.orthogonality_defect() > DICT_ORTHOGONALITY_TOL {
                    return Err(ParseError::BadParameter {
                        layer: i as u32,
                        what: "dictionary atoms are not orthogonal",
                    });
                }
            }
            if info.out_len == 0 || info.out_len > format::MAX_ACTIVATION {
                return Err(ParseError::LimitExceeded("activation length"));
            }
            let r = info.ram()?;
            need.state = need
                .state
                .checked_add(r.state)
                .ok_or(ParseError::LimitExceeded("recurrent state"))?;
            need.scratch_f32 = need.scratch_f32.max(r.scratch_f32);
            need.scratch_i8 = need.scratch_i8.max(r.scratch_i8);
            self.stateful |= info.layer.is_stateful();
            domain = dout;
            len = info.out_len;
            match dout {
                Domain::F32 => max_f32 = max_f32.max(len),
                Domain::I8 => max_i8 = max_i8.max(len),
            }
        }
        if domain != Domain::F32 {
            return Err(ParseError::BadGraph("the last layer must produce f32"));
        }
        if len != self.output_len {
            return Err(ParseError::BadGraph(
                "output length differs from the last layer",
            ));
        }
        if Some(self.ram.arena_f32) != (2 * max_f32).checked_add(need.scratch_f32) {
            return Err(ParseError::RamMismatch("f32 arena"));
        }
        if Some(self.ram.arena_i8) != (2 * max_i8).checked_add(need.scratch_i8) {
            return Err(ParseError::RamMismatch("int8 arena"));
        }
        if self.ram.state_f32 != need.state {
            return Err(ParseError::RamMismatch("recurrent state"));
        }
        self.half_f32 = max_f32;
        self.half_i8 = max_i8;
        Ok(())
    }

    fn tensor(&self, index: u32) -> Result<TensorRef<'a>, ParseError> {
        use format::tensor as t;
        let i = index as usize;
        if i >= self.tensor_count {
            return Err(ParseError::OutOfBounds("tensor index"));
        }
        let rec = self.tensor_table + i * format::TENSOR_RECORD_BYTES;
        let rec = self
            .bytes
            .get(rec..rec + format::TENSOR_RECORD_BYTES)
            .ok_or(ParseError::OutOfBounds("tensor record"))?;
        let offset = u32_at(rec, t::OFFSET).unwrap_or(u32::MAX) as usize;
        let count = u32_at(rec, t::COUNT).unwrap_or(u32::MAX) as usize;
        let dt = rec[t::DTYPE];
        if rec[9..16].iter().any(|&b| b != 0) {
            return Err(ParseError::ReservedNotZero("tensor record"));
        }
        let size = dtype::size(dt).ok_or(ParseError::UnknownDtype {
            tensor: index,
            dtype: dt,
        })?;
        let len = count
            .checked_mul(size)
            .ok_or(ParseError::OutOfBounds("tensor size"))?;
        let end = offset
            .checked_add(len)
            .ok_or(ParseError::OutOfBounds("tensor data"))?;
        if offset < format::HEADER_BYTES
            || !offset.is_multiple_of(format::TENSOR_ALIGN)
            || end > self.bytes.len()
        {
            return Err(ParseError::OutOfBounds("tensor data"));
        }
        Ok(TensorRef {
            dtype: dt,
            bytes: &self.bytes[offset..end],
        })
    }

    fn typed<T: cast::Pod>(
        &self,
        layer: u32,
        index: u32,
        want_dtype: u8,
        want_len: usize,
        role: &'static str,
    ) -> Result<&'a [T], ParseError> {
        let bad = ParseError::BadTensor { layer, role };
        let t = self.tensor(index).map_err(|_| bad)?;
        if t.dtype != want_dtype {
            return Err(bad);
        }
        let s = cast::slice_of::<T>(t.bytes).ok_or(bad)?;
        if s.len() != want_len { Err(bad) } else { Ok(s) }
    }

    /// Layer `index` with its sizes (every field and value checked, as at parse time).
    pub fn layer(&self, index: usize) -> Result<LayerInfo<'a>, ParseError> {
        self.read_layer(index, Check::Values)
    }

    /// Layer `index`. With [`Check::Structure`] (the executor, on every token) the checks that
    /// keep slices in bounds and typed still run, but value scans that [`Model::parse`] already
    /// did once (scales > 0, multipliers, decay ranges) are skipped.
    fn read_layer(&self, index: usize, check: Check) -> Result<LayerInfo<'a>, ParseError> {
        let values = check == Check::Values;
        use format::layer as l;
        if index >= self.layer_count {
            return Err(ParseError::OutOfBounds("layer index"));
        }
        let li = index as u32;
        let at = self.layer_table + index * format::LAYER_RECORD_BYTES;
        let rec = self
            .bytes
            .get(at..at + format::LAYER_RECORD_BYTES)
            .ok_or(ParseError::OutOfBounds("layer record"))?;
        let oob = ParseError::OutOfBounds("layer record");
        let k = u16_at(rec, l::KIND).ok_or(oob)?;
        let sch = rec[l::SCHEME];
        let fl = rec[l::FLAGS];
        let in_len = u32_at(rec, l::IN_LEN).ok_or(oob)? as usize;
        let out_len = u32_at(rec, l::OUT_LEN).ok_or(oob)? as usize;
        let t = |j: usize| u32_at(rec, l::TENSORS + 4 * j).unwrap_or(format::NO_TENSOR);
        let p0 = u32_at(rec, l::P0).ok_or(oob)? as i32;
        let p1 = u32_at(rec, l::P1).ok_or(oob)? as i32;
        let unknown = ParseError::UnknownLayer {
            layer: li,
            kind: k,
            scheme: sch,
        };
        let bad_param = |what| ParseError::BadParameter { layer: li, what };
        let n = in_len
            .checked_mul(out_len)
            .ok_or(ParseError::LimitExceeded("weight count"))?;
        let zero_point = |v: i32| {
            if (-128..=127).contains(&v) {
                Ok(v)
            } else {
                Err(bad_param("zero point"))
            }
        };
        let scale = |bits: i32| {
            let s = f32::from_bits(bits as u32);
            if s.is_finite() && s > 0.0 {
                Ok(s)
            } else {
                Err(bad_param("scale"))
            }
        };
        let unused = |from: usize, p: &[i32]| {
            (from..3).all(|j| t(j) == format::NO_TENSOR) && p.iter().all(|&v| v == 0)
        };
        // The per-row scales of the weight schemes with f32 activations (L-Mul e4m3,
        // int8-dynamic): tensor 1, all positive; no parameters, no fourth tensor.
        let row_scales = || -> Result<&'a [f32], ParseError> {
            if fl != 0 || !unused(3, &[p0, p1]) {
                return Err(bad_param("unused fields"));
            }
            let scale: &[f32] = self.typed(li, t(1), dtype::F32, out_len, "scale")?;
            if values && scale.iter().any(|&s| s <= 0.0) {
                return Err(bad_param("scale"));
            }
            Ok(scale)
        };
        let layer = match (k, sch) {
            (kind::DENSE, scheme::F32) => {
                if fl != 0 || !unused(2, &[p0, p1]) {
                    return Err(bad_param("unused fields"));
                }
                Layer::DenseF32 {
                    w: self.typed(li, t(0), dtype::F32, n, "weight")?,
                    b: self.typed(li, t(1), dtype::F32, out_len, "bias")?,
                }
            }
            (kind::DENSE, scheme::LMUL_E4M3) => {
                let scale = row_scales()?;
                Layer::DenseLmulE4m3 {
                    w: self.typed(li, t(0), dtype::E4M3, n, "weight")?,
                    scale,
                    b: self.typed(li, t(2), dtype::F32, out_len, "bias")?,
                }
            }
            (kind::DENSE, scheme::INT8) => {
                if fl & !flags::FUSED_RELU != 0 {
                    return Err(bad_param("flags"));
                }
                let m: &[QuantMultiplier] =
                    self.typed(li, t(2), dtype::QMULT, out_len, "multiplier")?;
                let valid = |q: &QuantMultiplier| {
                    (q.multiplier == 0 || q.multiplier >= 1 << 30) && (-31..=30).contains(&q.shift)
                };
                if values && !m.iter().all(valid) {
                    return Err(bad_param("multiplier"));
                }
                Layer::DenseInt8 {
                    w: self.typed(li, t(0), dtype::I8, n, "weight")?,
                    b: self.typed(li, t(1), dtype::I32, out_len, "bias")?,
                    m,
                    input_zero_point: zero_point(p0)?,
                    output_zero_point: zero_point(p1)?,
                    relu: fl & flags::FUSED_RELU != 0,
                }
            }
            (kind::RELU, scheme::F32) => {
                if fl != 0 || !unused(0, &[p0, p1]) || in_len != out_len {
                    return Err(bad_param("relu fields"));
                }
                Layer::Relu
            }
            (kind::QUANTIZE, scheme::INT8) | (kind::DEQUANTIZE, scheme::INT8) => {
                if fl != 0 || !unused(0, &[]) || in_len != out_len {
                    return Err(bad_param("quantize fields"));
                }
                let (scale, zero_point) = (scale(p0)?, zero_point(p1)?);
                if k == kind::QUANTIZE {
                    Layer::Quantize { scale, zero_point }
                } else {
                    Layer::Dequantize { scale, zero_point }
                }
            }
            (kind::DENSE, scheme::INT8_DYNAMIC) if self.minor >= format::MINOR_RECURRENT => {
                let scale = row_scales()?;
                Layer::DenseInt8Dynamic {
                    w: self.typed(li, t(0), dtype::I8, n, "weight")?,
                    scale,
                    b: self.typed(li, t(2), dtype::F32, out_len, "bias")?,
                }
            }
            (kind::RECURRENT, _) if self.minor >= format::MINOR_RECURRENT => {
                let lin_scheme = LinearScheme::from_code(sch).ok_or(unknown)?;
                if fl != 0 || !unused(1, &[p1]) {
                    return Err(bad_param("unused fields"));
                }
                if in_len != out_len {
                    return Err(ParseError::BadRecurrentConfig {
                        layer: li,
                        field: "out_len differs from in_len (d_model)",
                    });
                }
                let bad = ParseError::BadTensor {
                    layer: li,
                    role: "recurrent config",
                };
                let cfg = self.tensor(t(0)).map_err(|_| bad)?;
                if cfg.dtype != dtype::I32 {
                    return Err(bad);
                }
                let cfg = cast::slice_of::<i32>(cfg.bytes).ok_or(bad)?;
                Layer::Recurrent(RecurrentLayer::parse(
                    *self, li, lin_scheme, p0, in_len, cfg, values,
                )?)
            }
            (kind::MEAN_POOL, scheme::F32) if self.minor >= format::MINOR_RECURRENT => {
                if fl != 0 || !unused(0, &[p0, p1]) || in_len != out_len {
                    return Err(bad_param("mean-pool fields"));
                }
                Layer::MeanPool
            }
            (kind::ORTHO_DICT, scheme::F32) if self.minor >= format::MINOR_ORTHO_DICT => {
                if fl != 0 || !unused(1, &[]) {
                    return Err(bad_param("unused fields"));
                }
                if in_len == 0 || in_len > crate::dict::MAX_N {
                    return Err(bad_param("dictionary size (1..=64)"));
                }
                let mode = match p0 {
                    dict_mode::ENCODE => DictMode::Encode,
                    dict_mode::TOP_K => DictMode::TopK,
                    dict_mode::DENOISE => DictMode::Denoise,
                    dict_mode::ANOMALY => DictMode::Anomaly,
                    _ => return Err(bad_param("dictionary mode")),
                };
                let k_ok = match mode {
                    DictMode::Encode => p1 == 0,
                    _ => p1 >= 1 && p1 as usize <= in_len,
                };
                if !k_ok {
                    return Err(bad_param("dictionary k"));
                }
                let want_out = if mode == DictMode::Anomaly { 1 } else { in_len };
                if out_len != want_out {
                    return Err(bad_param("dictionary output length"));
                }
                Layer::OrthoDict {
                    atoms: self.typed(li, t(0), dtype::F32, in_len * in_len, "atoms")?,
                    mode,
                    k: p1 as usize,
                }
            }
            _ => return Err(unknown),
        };
        Ok(LayerInfo {
            layer,
            in_len,
            out_len,
        })
    }

    /// Number of layers.
    pub fn layer_count(&self) -> usize {
        self.layer_count
    }
    /// Input length (f32 elements).
    pub fn input_len(&self) -> usize {
        self.input_len
    }
    /// Output length (f32 elements).
    pub fn output_len(&self) -> usize {
        self.output_len
    }
    /// RAM the model needs besides its input and output.
    pub fn ram(&self) -> Ram {
        self.ram
    }
    /// Size of the file (flash bytes).
    pub fn flash_bytes(&self) -> usize {
        self.bytes.len()
    }
    /// Format version of the file.
    pub fn version(&self) -> (u16, u16) {
        (format::VERSION_MAJOR, self.minor)
    }
    /// Whether any layer keeps state between tokens: then [`Model::reset`] starts a stream and
    /// [`Model::step`] feeds it, and [`Model::run`] is refused.
    pub fn is_stateful(&self) -> bool {
        self.stateful
    }
}

fn check_table(
    offset: usize,
    len: usize,
    file: usize,
    what: &'static str,
) -> Result<(), ParseError> {
    let end = offset
        .checked_add(len)
        .ok_or(ParseError::OutOfBounds(what))?;
    if offset < format::HEADER_BYTES || !offset.is_multiple_of(4) || end > file {
        return Err(ParseError::OutOfBounds(what));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
